/**
 * fast-check arbitraries for every message mip4 puts on the wire, three ways each:
 *
 * - `valid`: a value and its encoding; decoding the bytes gives the value, and encoding the
 *   value gives the bytes again (byte for byte: unknown codes and reserved bits round-trip).
 * - `mutated`: a valid encoding with bytes changed inside fields whose size does not depend on
 *   them (addresses, lifetimes, flags, Identification, SPI, authenticator, sequence numbers):
 *   still a message of the same shape, so it decodes, but with the wrong content. What a
 *   receiver's checks (authentication, replay, Identification matching) must catch.
 * - `malformed`: bytes no decoder may accept: truncated inside a field, an extension whose
 *   Length runs past the end, or a type that is not the message's. The decoders must return
 *   `{ ok: false }` for each, never throw (io/wire's rule).
 *
 * Each sample says which mutation or defect made it, so a failing property names its cause.
 */
import fc from 'fast-check';
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { DecodeResult } from '../io/wire/codec.js';
import {
  AdvertisementFlag,
  decodeAgentAdvertisement,
  decodeAgentSolicitation,
  encodeAgentAdvertisement,
  encodeAgentSolicitation,
  agentAdvertisementLength,
  agentSolicitationLength,
  makeAgentAdvertisement,
  makeAgentSolicitation,
  type AdvertisementExtensionFields,
  type AgentAdvertisement,
  type AgentSolicitation,
} from '../io/wire/agent-discovery.js';
import { encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../io/wire/ipv4.js';
import { decodeRegistrationReply, decodeRegistrationRequest, toBytesRegistrationReply, toBytesRegistrationRequest } from '../io/wire/registration.js';
import type { RegistrationExtension, RegistrationReply, RegistrationRequest } from '../io/wire/registration-types.js';
import { decapsulate, encapsulate, type Decapsulation, type Encapsulation } from '../io/wire/tunnel.js';
import { udpTunnelReply, udpTunnelRequest } from '../io/wire/udp-tunnel.js';

export interface ValidSample<T> {
  readonly value: T;
  readonly bytes: Uint8Array;
}

export interface MutatedSample<T> {
  /** The valid value the bytes were made from (the mutated bytes decode to something else). */
  readonly original: T;
  readonly bytes: Uint8Array;
  /** What was changed, e.g. 'byte 12 (care-of address) 0xcb → 0x4a'. */
  readonly mutation: string;
}

export interface MalformedSample {
  readonly bytes: Uint8Array;
  /** Why no decoder may accept it, e.g. 'truncated to 17 of 40 bytes'. */
  readonly defect: string;
}

export interface MessageArbitraries<T> {
  /** The io/wire decoder the samples are for. */
  readonly decode: (bytes: Uint8Array) => DecodeResult<T>;
  readonly valid: fc.Arbitrary<ValidSample<T>>;
  readonly mutated: fc.Arbitrary<MutatedSample<T>>;
  readonly malformed: fc.Arbitrary<MalformedSample>;
}

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const address: fc.Arbitrary<Ipv4Address> = fc.oneof(
  fc.constantFrom(0xc6336401, 0xc633640a, 0xcb007101, 0xc0000201),
  u32,
);
const identification = fc.record({ high: u32, low: u32 });

/** A byte range of a valid encoding that may be changed without changing the message's shape. */
interface Field {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** Changes 1–3 bytes inside the fields, so that the bytes differ from the original. */
function mutateFields<T>(valid: fc.Arbitrary<ValidSample<T>>, fieldsOf: (sample: ValidSample<T>) => readonly Field[]): fc.Arbitrary<MutatedSample<T>> {
  return valid
    .filter((sample) => fieldsOf(sample).length > 0)
    .chain((sample) => {
      const fields = fieldsOf(sample);
      const change = fc.record({ field: fc.nat(fields.length - 1), at: fc.nat(), xor: fc.integer({ min: 1, max: 0xff }) });
      return fc.array(change, { minLength: 1, maxLength: 3 }).map((changes) => {
        const bytes = sample.bytes.slice();
        const said: string[] = [];
        for (const { field, at, xor } of changes) {
          const f = fields[field]!;
          const index = f.start + (at % (f.end - f.start));
          const before = bytes[index]!;
          bytes[index] = before ^ xor;
          said.push(`byte ${index} (${f.name}) 0x${before.toString(16)} → 0x${bytes[index]!.toString(16)}`);
        }
        return { original: sample.value, bytes, mutation: said.join(', ') };
      });
    })
    .filter((sample) => !sampleBytesEqual(sample.bytes, sample.original));
}

// The xor of several changes to one byte can cancel out; such a sample is no mutation.
const encodings = new WeakMap<object, Uint8Array>();
function sampleBytesEqual(bytes: Uint8Array, original: unknown): boolean {
  const encoded = encodings.get(original as object);
  return encoded !== undefined && encoded.length === bytes.length && encoded.every((b, i) => b === bytes[i]);
}

/** Decodes its own encoding, and only samples whose decoding re-encodes to the same bytes. */
function roundTripped<T>(build: fc.Arbitrary<Uint8Array>, decode: (bytes: Uint8Array) => DecodeResult<T>, encode: (value: T) => Uint8Array): fc.Arbitrary<ValidSample<T>> {
  return build
    .map((bytes) => {
      const result = decode(bytes);
      if (!result.ok || result.next !== bytes.length) return undefined;
      const again = encode(result.value);
      if (again.length !== bytes.length || !again.every((b, i) => b === bytes[i])) return undefined;
      encodings.set(result.value as object, bytes);
      return { value: result.value, bytes };
    })
    .filter((sample): sample is ValidSample<T> => sample !== undefined);
}

/** A cut strictly inside the fixed part or inside an extension (at a boundary the rest may still be a message). */
function truncations(bytes: Uint8Array, boundaries: readonly number[]): fc.Arbitrary<MalformedSample> {
  const cuts: number[] = [];
  for (let cut = 1; cut < bytes.length; cut++) if (!boundaries.includes(cut)) cuts.push(cut);
  return fc.constantFrom(...cuts).map((cut) => ({ bytes: bytes.slice(0, cut), defect: `truncated to ${cut} of ${bytes.length} bytes` }));
}

/** The last TLV extension's Length made to run 1..n bytes past the end of the message. */
function lyingLength(bytes: Uint8Array, lastTlvOffset: number | undefined): fc.Arbitrary<MalformedSample> | undefined {
  if (lastTlvOffset === undefined) return undefined;
  const actual = bytes[lastTlvOffset + 1]!;
  if (actual >= 0xff) return undefined;
  return fc.integer({ min: actual + 1, max: 0xff }).map((length) => {
    const lying = bytes.slice();
    lying[lastTlvOffset + 1] = length;
    return { bytes: lying, defect: `extension at ${lastTlvOffset}: Length ${length}, ${actual} bytes follow` };
  });
}

function wrongType(bytes: Uint8Array, at: number, allowed: readonly number[], what: string): fc.Arbitrary<MalformedSample> {
  return u8
    .filter((type) => !allowed.includes(type))
    .map((type) => {
      const wrong = bytes.slice();
      wrong[at] = type;
      return { bytes: wrong, defect: `${what} ${type}` };
    });
}

// --- Registration Request and Reply (3.3, 3.4; NAI RFC 2794; UDP tunnel RFC 3519; T RFC 3024) ---

const authExtension = fc
  .record({ type: fc.constantFrom(32 as const, 33 as const, 34 as const), spi: u32, authenticator: fc.uint8Array({ minLength: 16, maxLength: 16 }) })
  .map((a): RegistrationExtension => ({ kind: 'auth', offset: 0, ...a }));
const naiExtension = fc
  .stringMatching(/^[a-z0-9.]{1,16}@[a-z0-9.]{1,16}$/)
  .map((nai): RegistrationExtension => ({ kind: 'nai', type: 131, offset: 0, nai }));
const unknownSkippable = fc
  .record({ type: fc.integer({ min: 200, max: 255 }), data: fc.uint8Array({ maxLength: 24 }) })
  .map((u): RegistrationExtension => ({ kind: 'unknown', offset: 0, type: u.type, skippable: true, format: 'tlv', data: u.data }));
const deliveryStyle = fc.constant<RegistrationExtension>({ kind: 'encapsulating-delivery-style', type: 130, offset: 0 });
const tunnelRequestExtension = fc
  .record({ force: fc.boolean(), registrationThroughFa: fc.boolean(), encapsulation: fc.constantFrom(4, 47, 55) })
  .map((f): RegistrationExtension => udpTunnelRequest(f));
const tunnelReplyExtension = fc
  .record({ code: fc.constantFrom(0, 64), forced: fc.boolean(), keepaliveInterval: u16 })
  .map((f): RegistrationExtension => udpTunnelReply(f));

/** Extensions as mip4 orders them: the ones covered by authentication, then the authenticators. */
function extensionList(middle: fc.Arbitrary<RegistrationExtension>) {
  return fc
    .tuple(fc.array(middle, { maxLength: 3 }), fc.array(authExtension, { maxLength: 2 }))
    .map(([covered, auth]) => [...covered, ...auth]);
}

const requestValue = fc.record({
  type: fc.constant(1 as const),
  // All eight bits: S B D M G r T x (T: reverse tunnelling, RFC 3024).
  flags: u8,
  lifetime: u16,
  homeAddress: address,
  homeAgent: address,
  careOfAddress: address,
  identification,
  extensions: extensionList(fc.oneof(naiExtension, tunnelRequestExtension, deliveryStyle, unknownSkippable)),
}) as fc.Arbitrary<RegistrationRequest>;

const replyValue = fc.record({
  type: fc.constant(3 as const),
  code: fc.oneof(fc.constantFrom(0, 1, 64, 69, 128, 131, 133, 136), u8),
  lifetime: u16,
  homeAddress: address,
  homeAgent: address,
  identification,
  extensions: extensionList(fc.oneof(naiExtension, tunnelReplyExtension, unknownSkippable)),
}) as fc.Arbitrary<RegistrationReply>;

function registrationFields(fixed: readonly Field[], value: RegistrationRequest | RegistrationReply, length: number): Field[] {
  const fields = [...fixed];
  for (const [i, extension] of value.extensions.entries()) {
    const end = value.extensions[i + 1]?.offset ?? length;
    if (extension.kind === 'auth') {
      fields.push({ name: `SPI at ${extension.offset}`, start: extension.offset + 2, end: extension.offset + 6 });
      if (extension.offset + 6 < end) fields.push({ name: `authenticator at ${extension.offset}`, start: extension.offset + 6, end });
    }
  }
  return fields;
}

function registrationMalformed<T extends RegistrationRequest | RegistrationReply>(valid: fc.Arbitrary<ValidSample<T>>, messageType: number): fc.Arbitrary<MalformedSample> {
  return valid.chain(({ value, bytes }) => {
    const offsets = value.extensions.map((extension) => extension.offset);
    const lastTlv = value.extensions.at(-1)?.offset;
    const lying = lyingLength(bytes, lastTlv);
    return fc.oneof(
      truncations(bytes, offsets),
      wrongType(bytes, 0, [messageType], 'message type'),
      ...(lying === undefined ? [] : [lying]),
    );
  });
}

function registrationRequestArbitraries(): MessageArbitraries<RegistrationRequest> {
  const decode = (bytes: Uint8Array) => decodeRegistrationRequest(bytes, 0, bytes.length);
  const valid = roundTripped(requestValue.map(toBytesRegistrationRequest), decode, toBytesRegistrationRequest);
  const fixed: Field[] = [
    { name: 'flags', start: 1, end: 2 },
    { name: 'lifetime', start: 2, end: 4 },
    { name: 'home address', start: 4, end: 8 },
    { name: 'home agent', start: 8, end: 12 },
    { name: 'care-of address', start: 12, end: 16 },
    { name: 'Identification', start: 16, end: 24 },
  ];
  return {
    decode,
    valid,
    mutated: mutateFields(valid, ({ value, bytes }) => registrationFields(fixed, value, bytes.length)),
    malformed: registrationMalformed(valid, 1),
  };
}

function registrationReplyArbitraries(): MessageArbitraries<RegistrationReply> {
  const decode = (bytes: Uint8Array) => decodeRegistrationReply(bytes, 0, bytes.length);
  const valid = roundTripped(replyValue.map(toBytesRegistrationReply), decode, toBytesRegistrationReply);
  const fixed: Field[] = [
    { name: 'code', start: 1, end: 2 },
    { name: 'lifetime', start: 2, end: 4 },
    { name: 'home address', start: 4, end: 8 },
    { name: 'home agent', start: 8, end: 12 },
    { name: 'Identification', start: 12, end: 20 },
  ];
  return {
    decode,
    valid,
    mutated: mutateFields(valid, ({ value, bytes }) => registrationFields(fixed, value, bytes.length)),
    malformed: registrationMalformed(valid, 3),
  };
}

// --- Agent Advertisement and Solicitation (2.1, 2.2) -----------------------------------------------

const toBytes = <T>(length: (value: T) => number, encode: (value: T, bytes: Uint8Array, offset: number) => number) => (value: T) => {
  const bytes = new Uint8Array(length(value));
  encode(value, bytes, 0);
  return bytes;
};
const advertisementBytes = toBytes(agentAdvertisementLength, encodeAgentAdvertisement);
const solicitationBytes = toBytes(agentSolicitationLength, encodeAgentSolicitation);

const advertisementValue: fc.Arbitrary<AgentAdvertisement> = fc
  .record({
    code: fc.constantFrom(0, 16),
    lifetime: u16,
    routers: fc.array(fc.record({ address, preference: fc.integer({ min: -0x80000000, max: 0x7fffffff }) }), { maxLength: 3 }),
    sequence: u16,
    registrationLifetime: u16,
    // Any flags, reserved bits included (they round-trip); F or H most of the time.
    flags: fc.oneof(fc.constantFrom(AdvertisementFlag.F, AdvertisementFlag.H, AdvertisementFlag.F | AdvertisementFlag.R | AdvertisementFlag.T), u16),
    careOfAddresses: fc.array(address, { maxLength: 3 }),
    prefixLengths: fc.boolean(),
    unknown: fc.option(fc.record({ type: fc.integer({ min: 200, max: 255 }), data: fc.uint8Array({ maxLength: 12 }) }), { nil: undefined }),
  })
  .map((f) => {
    const extensions: AdvertisementExtensionFields[] = [
      { kind: 'mobility-agent-advertisement', type: 16, sequence: f.sequence, registrationLifetime: f.registrationLifetime, flags: f.flags, careOfAddresses: f.careOfAddresses },
    ];
    // One prefix length per router (2.1.2).
    if (f.prefixLengths && f.routers.length > 0) extensions.push({ kind: 'prefix-lengths', type: 19, prefixLengths: f.routers.map((_, i) => 24 + i) });
    if (f.unknown !== undefined) extensions.push({ kind: 'unknown', type: f.unknown.type, skippable: true, format: 'tlv', data: f.unknown.data });
    return makeAgentAdvertisement({ code: f.code, lifetime: f.lifetime, routers: f.routers, extensions });
  });

function agentAdvertisementArbitraries(): MessageArbitraries<AgentAdvertisement> {
  const decode = (bytes: Uint8Array) => decodeAgentAdvertisement(bytes, 0, bytes.length);
  const valid = roundTripped(advertisementValue.map(advertisementBytes), decode, advertisementBytes);
  const fieldsOf = ({ value }: ValidSample<AgentAdvertisement>): Field[] => {
    const fields: Field[] = [{ name: 'lifetime', start: 6, end: 8 }];
    if (value.routers.length > 0) fields.push({ name: 'router addresses', start: 8, end: 8 + value.routers.length * value.addrEntrySize * 4 });
    const agent = value.extensions.find((e) => e.kind === 'mobility-agent-advertisement');
    // Sequence, Registration Lifetime, flags and care-of addresses: not the Type or Length.
    if (agent !== undefined) fields.push({ name: 'mobility agent extension', start: agent.offset + 2, end: agent.offset + 2 + 6 + 4 * (agent.kind === 'mobility-agent-advertisement' ? agent.careOfAddresses.length : 0) });
    return fields;
  };
  return {
    decode,
    valid,
    mutated: mutateFields(valid, fieldsOf),
    malformed: valid.chain(({ value, bytes }) => {
      const offsets = value.extensions.map((e) => e.offset);
      const lying = lyingLength(bytes, value.extensions.at(-1)?.offset);
      return fc.oneof(truncations(bytes, offsets), wrongType(bytes, 0, [9], 'ICMP type'), ...(lying === undefined ? [] : [lying]));
    }),
  };
}

function agentSolicitationArbitraries(): MessageArbitraries<AgentSolicitation> {
  const decode = (bytes: Uint8Array) => decodeAgentSolicitation(bytes, 0, bytes.length);
  const valid = roundTripped(fc.constant(makeAgentSolicitation()).map(solicitationBytes), decode, solicitationBytes);
  return {
    decode,
    valid,
    // The code and the Reserved field: kept as received, so the solicitation still decodes.
    mutated: mutateFields(valid, () => [
      { name: 'code', start: 1, end: 2 },
      { name: 'reserved', start: 4, end: 8 },
    ]),
    malformed: valid.chain(({ bytes }) => fc.oneof(truncations(bytes, []), wrongType(bytes, 0, [10], 'ICMP type'))),
  };
}

// --- Tunnels: IP in IP (RFC 2003), minimal (RFC 2004), GRE (RFC 2784) ------------------------------

export interface TunnelledDatagram {
  readonly kind: Encapsulation;
  readonly inner: Uint8Array;
  readonly outer: { readonly source: Ipv4Address; readonly destination: Ipv4Address };
}

const innerDatagram = fc
  .record({ source: address, destination: address, protocol: fc.constantFrom(IpProtocol.UDP, IpProtocol.ICMP, 6), ttl: fc.integer({ min: 1, max: 255 }), payload: fc.uint8Array({ minLength: 8, maxLength: 64 }) })
  .map(({ payload, ...header }) => {
    const packet = { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ...header }, payload };
    const bytes = new Uint8Array(ipv4PacketLength(packet));
    encodeIpv4Packet(packet, bytes, 0);
    return bytes;
  });

function tunnelArbitraries(kind: Encapsulation): MessageArbitraries<Decapsulation> {
  // Minimal decapsulation restores the original header in place (RFC 2004 3): decode a copy,
  // so that a sample's bytes stay as generated.
  const decode = (bytes: Uint8Array) => decapsulate(bytes.slice(), 0, bytes.length);
  const built = fc.record({ inner: innerDatagram, source: address, destination: address, identification: u16 }).map(({ inner, ...outer }) => {
    const out = new Uint8Array(inner.length + 64);
    const result = encapsulate(kind, inner, outer, out, 0);
    return result.ok ? (out.slice(0, result.next) as Uint8Array) : undefined;
  });
  const valid = built
    .filter((bytes): bytes is Uint8Array => bytes !== undefined)
    .map((bytes): ValidSample<Decapsulation> | undefined => {
      const result = decode(bytes);
      return result.ok ? { value: result.value, bytes } : undefined;
    })
    .filter((sample): sample is ValidSample<Decapsulation> => sample !== undefined && sample.value.kind === kind);
  return {
    decode,
    valid,
    // The inner datagram's last 8 payload bytes: no outer checksum covers them (GRE is sent
    // without one), so the tunnel still decapsulates, to another datagram.
    mutated: mutateFields(valid, ({ bytes }) => [{ name: 'inner payload', start: bytes.length - 8, end: bytes.length }]),
    malformed: valid.chain(({ bytes }) =>
      fc.oneof(
        // Any cut leaves the outer Total Length saying more than there is.
        truncations(bytes, []),
        // Total Length saying more than there is.
        fc.integer({ min: bytes.length + 1, max: 0xffff }).map((total) => {
          const lying = bytes.slice();
          lying[2] = total >>> 8;
          lying[3] = total & 0xff;
          return { bytes: lying, defect: `outer Total Length ${total}, ${bytes.length} bytes` };
        }),
      ),
    ),
  };
}

/** The arbitraries of every wire message, by message. */
export function wireArbitraries() {
  return {
    registrationRequest: registrationRequestArbitraries(),
    registrationReply: registrationReplyArbitraries(),
    agentAdvertisement: agentAdvertisementArbitraries(),
    agentSolicitation: agentSolicitationArbitraries(),
    ipInIp: tunnelArbitraries('ip-in-ip'),
    minimal: tunnelArbitraries('minimal'),
    gre: tunnelArbitraries('gre'),
  };
}

export type WireArbitraries = ReturnType<typeof wireArbitraries>;
