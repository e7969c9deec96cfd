import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { Codec, DecodeResult, WireErrorReason } from '../../io/wire/codec.js';
import { toHex } from '../../io/wire/bytes.js';
import {
  decodeIpv4Header,
  decodeIpv4Packet,
  decodeQuotedIpv4Header,
  encodeIpv4Packet,
  ipv4HeaderCodec,
  ipv4PacketCodec,
  type Ipv4Header,
  type Ipv4Packet,
} from '../../io/wire/ipv4.js';
import { decodeUdpDatagram, decodeUdpHeader, udpDatagramCodec, udpHeaderCodec, type UdpHeader } from '../../io/wire/udp.js';
import { decodeEthernetFrame, ethernetFrameCodec, type EthernetFrame, type MacAddress } from '../../io/wire/ethernet.js';
import { arpPacketCodec, decodeArpPacket, type ArpPacket } from '../../io/wire/arp.js';
import {
  decapsulate,
  decodeGreHeader,
  decodeMinimalForwardingHeader,
  encapsulate,
  greDecapsulate,
  greHeaderCodec,
  ipInIpDecapsulate,
  minimalDecapsulate,
  minimalForwardingHeaderCodec,
  type GreHeader,
  type MinimalForwardingHeader,
} from '../../io/wire/tunnel.js';

const REASONS: readonly WireErrorReason[] = ['truncated', 'bad-length', 'bad-checksum', 'bad-type', 'bad-version', 'bad-value'];

/**
 * Throws unless the result is a value or a well-formed typed error. Plain checks rather than
 * `expect`, which is too slow for millions of calls.
 */
function expectTyped(r: DecodeResult<unknown>, length: number): void {
  if (r.ok) {
    if (!Number.isInteger(r.next) || r.next < 0 || r.next > length) throw new Error(`next ${r.next} outside [0, ${length}]`);
    return;
  }
  const { reason, layer, message, offset } = r.error;
  if (!REASONS.includes(reason) || typeof layer !== 'string' || typeof message !== 'string' || !Number.isInteger(offset)) {
    throw new Error(`malformed error ${JSON.stringify(r.error)}`);
  }
}

const DECODERS: ReadonlyArray<readonly [string, (b: Uint8Array, offset?: number, end?: number) => DecodeResult<unknown>]> = [
  ['ipv4-header', decodeIpv4Header],
  ['ipv4-quoted', decodeQuotedIpv4Header],
  ['ipv4-packet', decodeIpv4Packet],
  ['udp-header', decodeUdpHeader],
  ['udp-datagram', decodeUdpDatagram],
  ['ethernet', decodeEthernetFrame],
  ['arp', decodeArpPacket],
  ['gre-header', decodeGreHeader],
  ['minimal-header', decodeMinimalForwardingHeader],
  ['ip-in-ip', ipInIpDecapsulate],
  ['gre', greDecapsulate],
  // These two rewrite in place: give them their own copy.
  ['minimal', (b, o, e) => minimalDecapsulate(b.slice(), o, e)],
  ['decapsulate', (b, o, e) => decapsulate(b.slice(), o, e)],
];

// ---------------------------------------------------------------------------------------------
// Generators

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const macArb: fc.Arbitrary<MacAddress> = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));

/** Header fields plus how many data bytes follow it. */
const ipv4HeaderArb = fc
  .record({
    optionWords: fc.integer({ min: 0, max: 10 }),
    dataLength: fc.integer({ min: 0, max: 64 }),
    tos: u8,
    identification: u16,
    flags: fc.integer({ min: 0, max: 7 }),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
    ttl: u8,
    protocol: u8,
    source: u32,
    destination: u32,
  })
  .chain((f) =>
    fc.uint8Array({ minLength: f.optionWords * 4, maxLength: f.optionWords * 4 }).map((options) => ({
      ...f,
      options,
      totalLength: 20 + options.length + f.dataLength,
    })),
  );

/** A whole datagram that minimal encapsulation accepts: valid checksum, not a fragment. */
const unfragmentedDatagramArb = fc
  .record({ header: ipv4HeaderArb, payload: fc.uint8Array({ maxLength: 80 }), dontFragment: fc.boolean() })
  .map(({ header, payload, dontFragment }) => {
    const fields = { ...header, flags: dontFragment ? 2 : 0, fragmentOffset: 0 };
    const bytes = new Uint8Array(20 + header.options.length + payload.length);
    encodeIpv4Packet({ header: fields, payload }, bytes);
    return bytes;
  });

/** Encodes at `prefix` inside random surroundings, decodes back, re-encodes: same bytes. */
function roundTrip<T>(codec: Codec<T>, value: T, prefix: number, trailing: number, decodeEnd?: (start: number, len: number) => number): void {
  const length = codec.encodingLength(value);
  const first = new Uint8Array(prefix + length + trailing).fill(0xa5);
  const next = codec.encode(value, first, prefix);
  expect(next).toBe(prefix + length);
  const end = decodeEnd ? decodeEnd(prefix, length) : first.length;
  const d = codec.decode(first, prefix, end);
  if (!d.ok) throw new Error(`${codec.name}: ${d.error.message}`);
  const second = new Uint8Array(first.length).fill(0xa5);
  expect(codec.encode(d.value, second, prefix)).toBe(prefix + codec.encodingLength(d.value));
  expect(toHex(second)).toBe(toHex(first));
}

const prefixArb = fc.integer({ min: 1, max: 17 });

describe('round trip at a non-zero offset (encode -> decode -> encode)', () => {
  it('IPv4 header', () => {
    fc.assert(
      fc.property(ipv4HeaderArb, prefixArb, (h, prefix) => {
        // The header decoder wants Total Length bytes present: leave them after the header.
        roundTrip(ipv4HeaderCodec, h as unknown as Ipv4Header, prefix, h.dataLength);
      }),
    );
  });

  it('IPv4 packet', () => {
    fc.assert(
      fc.property(ipv4HeaderArb, fc.uint8Array({ maxLength: 100 }), prefixArb, fc.nat({ max: 20 }), (h, payload, prefix, padding) => {
        roundTrip(ipv4PacketCodec, { header: h, payload } as unknown as Ipv4Packet, prefix, padding);
      }),
    );
  });

  it('UDP header and datagram', () => {
    fc.assert(
      fc.property(
        fc.record({ sourcePort: u16, destinationPort: u16, checksum: u16 }),
        fc.uint8Array({ maxLength: 100 }),
        prefixArb,
        (ports, payload, prefix) => {
          const header: UdpHeader = { ...ports, length: 8 + payload.length };
          roundTrip(udpHeaderCodec, header, prefix, payload.length);
          roundTrip(udpDatagramCodec, { header, payload }, prefix, 5);
        },
      ),
    );
  });

  it('Ethernet frame', () => {
    fc.assert(
      fc.property(
        fc.record({ destination: macArb, source: macArb, etherType: fc.integer({ min: 0x0600, max: 0xffff }), payload: fc.uint8Array({ maxLength: 100 }) }),
        prefixArb,
        (frame: EthernetFrame, prefix) => {
          roundTrip(ethernetFrameCodec, frame, prefix, 7, (start, length) => start + length);
        },
      ),
    );
  });

  it('ARP packet', () => {
    fc.assert(
      fc.property(
        fc.record({ operation: u16, senderMac: macArb, senderIp: u32, targetMac: macArb, targetIp: u32 }),
        prefixArb,
        (packet: ArpPacket, prefix) => roundTrip(arpPacketCodec, packet, prefix, 18),
      ),
    );
  });

  it('GRE header', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 0, max: 0x7f }),
        u16,
        u16,
        u16,
        prefixArb,
        (checksumPresent, reserved0, protocolType, checksum, reserved1, prefix) => {
          const header: GreHeader = {
            checksumPresent,
            reserved0,
            version: 0,
            protocolType,
            checksum: checksumPresent ? checksum : 0,
            reserved1: checksumPresent ? reserved1 : 0,
            checksumValid: true,
          };
          roundTrip(greHeaderCodec, header, prefix, 9);
        },
      ),
    );
  });

  it('minimal forwarding header', () => {
    fc.assert(
      fc.property(u8, fc.boolean(), fc.integer({ min: 0, max: 0x7f }), u32, u32, prefixArb, (protocol, sourcePresent, reserved, dst, src, prefix) => {
        const header: MinimalForwardingHeader = {
          protocol,
          sourcePresent,
          reserved,
          checksum: 0,
          checksumValid: true,
          originalDestination: dst,
          ...(sourcePresent ? { originalSource: src } : {}),
        };
        roundTrip(minimalForwardingHeaderCodec, header, prefix, 3);
      }),
    );
  });

  it('each tunnel: encapsulate at an offset, decapsulate, the inner datagram comes back byte-exactly', () => {
    fc.assert(
      fc.property(
        unfragmentedDatagramArb,
        fc.constantFrom('ip-in-ip' as const, 'minimal' as const, 'gre' as const),
        fc.boolean(),
        fc.boolean(),
        u32,
        u32,
        prefixArb,
        (inner, kind, encapsulatorIsSource, checksum, tunnelSource, tunnelExit, prefix) => {
          const original = toHex(inner);
          const source = encapsulatorIsSource ? ((inner[12]! << 24) | (inner[13]! << 16) | (inner[14]! << 8) | inner[15]!) >>> 0 : tunnelSource;
          const out = new Uint8Array(prefix + inner.length + 40).fill(0x5a);
          const r = encapsulate(kind, inner, { source, destination: tunnelExit, identification: 9 }, out, prefix, { checksum });
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          expect(toHex(inner)).toBe(original);
          const d = decapsulate(out, prefix, r.next);
          expect(d.ok).toBe(true);
          if (!d.ok) return;
          expect(d.value.kind).toBe(kind);
          expect(toHex(d.value.datagram)).toBe(original);
          expect([d.value.tunnelSource, d.value.tunnelDestination]).toEqual([source, tunnelExit]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Never throws

/** Valid messages of every kind, to truncate and mutate. */
const validMessages = fc
  .tuple(unfragmentedDatagramArb, fc.constantFrom('ip-in-ip' as const, 'minimal' as const, 'gre' as const), fc.boolean())
  .map(([inner, kind, checksum]) => {
    const out = new Uint8Array(inner.length + 28);
    const r = encapsulate(kind, inner, { source: 0xc6336401, destination: 0xcb007101, identification: 1 }, out, 0, { checksum });
    return r.ok ? [inner, out.subarray(0, r.next)] : [inner];
  });

describe('decoders never throw', () => {
  it('on every truncation of valid datagrams and tunnelled datagrams', () => {
    fc.assert(
      fc.property(validMessages, (messages) => {
        for (const message of messages) {
          for (let end = 0; end <= message.length; end++) {
            for (const [, decode] of DECODERS) expectTyped(decode(message, 0, end), message.length);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('on 100000 random byte strings at random offsets', () => {
    // Random bytes, plus a plausible IPv4 first byte half of the time so the deeper checks run.
    const input = fc
      .tuple(fc.uint8Array({ maxLength: 96 }), fc.boolean(), fc.nat(), fc.nat())
      .map(([bytes, plausible, a, b]) => {
        if (plausible && bytes.length > 0) bytes[0] = 0x45;
        const offset = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = offset + (b % (bytes.length - offset + 1));
        return { bytes, offset, end };
      });
    fc.assert(
      fc.property(input, ({ bytes, offset, end }) => {
        for (const [, decode] of DECODERS) {
          expectTyped(decode(bytes, offset, end), bytes.length);
          expectTyped(decode(bytes), bytes.length);
        }
      }),
      { numRuns: 100_000 },
    );
  });

  it('on random single-byte corruptions of tunnelled datagrams', () => {
    fc.assert(
      fc.property(validMessages, fc.nat(), u8, (messages, position, value) => {
        for (const message of messages) {
          const corrupt = message.slice();
          corrupt[position % corrupt.length] = value;
          for (const [, decode] of DECODERS) expectTyped(decode(corrupt), corrupt.length);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('on impossible ranges', () => {
    const bytes = new Uint8Array(64).fill(0x45);
    for (const [offset, end] of [
      [-1, 10],
      [10, 5],
      [0, 65],
      [65, 70],
      [1.5, 10],
      [Number.NaN, 10],
      [0, Number.POSITIVE_INFINITY],
    ]) {
      for (const [, decode] of DECODERS) expectTyped(decode(bytes, offset, end), bytes.length);
    }
  });
});
