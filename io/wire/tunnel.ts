/**
 * The three tunnel encapsulations of RFC 5944 4.1: IP in IP (RFC 2003, which every home and
 * foreign agent must support), minimal encapsulation (RFC 2004) and GRE (RFC 2784), both
 * optional.
 *
 * Encapsulators write into the caller's buffer and skip the copy of the inner datagram when it
 * already sits where it belongs (see `placeBytes`): the data plane reserves
 * `tunnelOverhead(kind)` bytes in front of a received datagram and encapsulates in place.
 * Decapsulators return views; minimal decapsulation has to rebuild the original header and by
 * default does so in place.
 *
 * Every decapsulator rejects, as typed errors: an outer header whose checksum fails (a router
 * discards those, RFC 1122 3.2.1.2), the wrong outer protocol ('bad-type'), an outer fragment
 * (its data is not the whole inner datagram; reassemble first: 'bad-value'), and an inner
 * datagram that is not a whole IPv4 datagram.
 *
 * Policy is left to the agents: RFC 2003 3.1's rules on which datagrams must not be tunnelled
 * (source is the encapsulator itself or the tunnel exit), TTL decrement of a forwarded inner
 * datagram (`decrementIpv4Ttl`), and RFC 5944 4.2.3's nested-encapsulation checks.
 */
import { type DecodeResult, decoded, EncodeError, ensureRoom, type Codec, type WireError, wireError } from './codec.js';
import {
  checkUnsigned,
  decodeRangeError,
  internetChecksum,
  type Ipv4Address,
  placeBytes,
  readU16,
  readU32,
  writeU16,
  writeU32,
} from './bytes.js';
import {
  decodeIpv4Packet,
  type Ipv4Header,
  Ipv4Flag,
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER_LENGTH,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  IpProtocol,
  updateIpv4Checksum,
} from './ipv4.js';
import { EtherType } from './ethernet.js';

export type Encapsulation = 'ip-in-ip' | 'minimal' | 'gre';

/** TTL of an outer header when the caller gives none: the IANA-recommended default of 64. */
export const DEFAULT_TUNNEL_TTL = 64;

/** The outer IPv4 header of an IP-in-IP or GRE tunnel. */
export interface TunnelOuterParams {
  /** Tunnel entry point: the encapsulator. */
  readonly source: Ipv4Address;
  /** Tunnel exit point: e.g. the care-of address. */
  readonly destination: Ipv4Address;
  /** Required so a datagram that may be fragmented on the way never reuses an id by accident. */
  readonly identification: number;
  /** "Appropriate for delivery to the tunnel exit point" (RFC 2003 3.1); default 64. */
  readonly ttl?: number;
  /** Default: the inner TOS, copied (RFC 2003 3.1). */
  readonly tos?: number;
  /**
   * Set DF in the outer header. The inner DF is always copied (RFC 2003 3.1: if set inside it
   * MUST be set outside), so this can add DF but never clear it.
   */
  readonly dontFragment?: boolean;
}

export interface TunnelOverheadOptions {
  /** Minimal encapsulation: whether the Original Source field is present. Default true (the larger, 12). */
  readonly sourcePresent?: boolean;
  /** GRE: whether the Checksum and Reserved1 fields are present. Default false. */
  readonly checksum?: boolean;
}

/**
 * Bytes an encapsulation adds in front of the inner datagram, for MTU decisions: IP in IP 20,
 * minimal 8 or 12, GRE 24 or 28. Minimal encapsulation defaults to the worst case, since
 * whether the Original Source goes along depends on each datagram's source.
 */
export function tunnelOverhead(kind: Encapsulation, options: TunnelOverheadOptions = {}): number {
  switch (kind) {
    case 'ip-in-ip':
      return IPV4_MIN_HEADER_LENGTH;
    case 'minimal':
      return options.sourcePresent === false ? MINIMAL_HEADER_LENGTH : MINIMAL_HEADER_WITH_SOURCE_LENGTH;
    case 'gre':
      return IPV4_MIN_HEADER_LENGTH + (options.checksum === true ? GRE_HEADER_WITH_CHECKSUM_LENGTH : GRE_HEADER_LENGTH);
  }
}

/** Result of an encapsulation that can be refused for what is in the datagram. */
export type EncapsulationResult =
  | { readonly ok: true; readonly next: number }
  | { readonly ok: false; readonly error: WireError };

// =============================================================================================
// Shared pieces

/**
 * Length of the whole IPv4 datagram at the start of `inner` (its Total Length; link-layer
 * padding after it is dropped). An encapsulator is handed datagrams it has already parsed, so
 * anything else is a programmer error.
 */
function innerDatagramLength(layer: string, inner: Uint8Array): number {
  const problem = ipv4DatagramProblem(inner, 0, inner.length);
  if (problem !== undefined) throw new EncodeError(layer, `inner datagram is not a whole IPv4 datagram: ${problem.message}`);
  return ipv4TotalLength(inner, 0);
}

/** The first `length` bytes of `inner`, without a new view when that is all of it. */
function exactly(inner: Uint8Array, length: number): Uint8Array {
  return inner.length === length ? inner : inner.subarray(0, length);
}

/**
 * Writes a 20-byte outer header (no options: RFC 2003 3.1 does not copy inner options) at
 * `offset`. TOS and DF come from the inner header at `innerTos` / `innerDontFragment` unless
 * overridden.
 */
function writeOuterHeader(
  layer: string,
  outer: TunnelOuterParams,
  protocol: number,
  totalLength: number,
  innerTos: number,
  innerDontFragment: boolean,
  out: Uint8Array,
  offset: number,
): void {
  const tos = outer.tos ?? innerTos;
  const ttl = outer.ttl ?? DEFAULT_TUNNEL_TTL;
  checkUnsigned(layer, 'tos', tos, 8);
  checkUnsigned(layer, 'ttl', ttl, 8);
  checkUnsigned(layer, 'identification', outer.identification, 16);
  checkUnsigned(layer, 'source', outer.source, 32);
  checkUnsigned(layer, 'destination', outer.destination, 32);
  const dontFragment = innerDontFragment || outer.dontFragment === true;
  out[offset] = 0x45;
  out[offset + 1] = tos;
  writeU16(out, offset + 2, totalLength);
  writeU16(out, offset + 4, outer.identification);
  writeU16(out, offset + 6, dontFragment ? Ipv4Flag.DontFragment << 13 : 0);
  out[offset + 8] = ttl;
  out[offset + 9] = protocol;
  writeU32(out, offset + 12, outer.source);
  writeU32(out, offset + 16, outer.destination);
  updateIpv4Checksum(out, offset);
}

/** Proof that a PreparedOuterHeader was built by `prepareOuterHeader`, which checks its fields. */
const PREPARED = Symbol('prepared outer header');

/**
 * The fields of an outer IPv4 header that stay the same for every packet of a tunnel entry
 * point: source, TTL and protocol, checked once, and their share of the header checksum
 * (RFC 1071: the sum is order-free, so the constant words are added up once). The data plane
 * prepares one per encapsulation and writes each packet's header with `write`, which does no
 * range checks: the only way to get one is `prepareOuterHeader`, which does them, and the
 * per-packet values are masked to their field or, for the destination (a care-of address the
 * forwarding table already checked when the binding was published), taken as the 32-bit
 * address it is. Untrusted callers keep `ipInIpEncapsulate` / `greEncapsulate`, which check
 * every field of every call.
 */
export class PreparedOuterHeader {
  /** One's-complement sum of the constant words: version/IHL, TTL/protocol, source. */
  readonly #constantSum: number;
  readonly #source: Ipv4Address;
  readonly #ttlAndProtocol: number;

  constructor(token: typeof PREPARED, source: Ipv4Address, ttl: number, protocol: number) {
    if (token !== PREPARED) throw new TypeError('use prepareOuterHeader');
    this.#source = source;
    this.#ttlAndProtocol = (ttl << 8) | protocol;
    this.#constantSum = 0x4500 + this.#ttlAndProtocol + (source >>> 16) + (source & 0xffff);
  }

  /**
   * Writes the 20-byte outer header at `offset` of `out`. Total Length must be the datagram's
   * (at most 65535, which the caller has checked against the inner length); the Identification
   * is taken mod 2^16; TOS and DF are the inner datagram's (RFC 2003 3.1).
   */
  write(out: Uint8Array, offset: number, destination: Ipv4Address, totalLength: number, identification: number, tos: number, dontFragment: boolean): void {
    if (totalLength > IPV4_MAX_TOTAL_LENGTH || offset + IPV4_MIN_HEADER_LENGTH > out.length) {
      throw new EncodeError('ipv4', `outer header of a ${totalLength}-byte datagram does not fit at offset ${offset}`);
    }
    const id = identification & 0xffff;
    const flags = dontFragment ? Ipv4Flag.DontFragment << 13 : 0;
    const tosByte = tos & 0xff;
    out[offset] = 0x45;
    out[offset + 1] = tosByte;
    writeU16(out, offset + 2, totalLength);
    writeU16(out, offset + 4, id);
    writeU16(out, offset + 6, flags);
    writeU16(out, offset + 8, this.#ttlAndProtocol);
    writeU32(out, offset + 12, this.#source);
    writeU32(out, offset + 16, destination);
    let sum = this.#constantSum + tosByte + totalLength + id + flags + (destination >>> 16) + (destination & 0xffff);
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    writeU16(out, offset + 10, ~sum & 0xffff);
  }
}

/**
 * Checks a tunnel entry point's constant outer fields once and returns the writer for its
 * packets' outer headers. Throws EncodeError for a field out of range, as the encapsulators do.
 */
export function prepareOuterHeader(outer: { readonly source: Ipv4Address; readonly ttl?: number }, protocol: number): PreparedOuterHeader {
  const layer = protocol === IpProtocol.GRE ? GRE_LAYER : IPIP_LAYER;
  const ttl = outer.ttl ?? DEFAULT_TUNNEL_TTL;
  checkUnsigned(layer, 'ttl', ttl, 8);
  checkUnsigned(layer, 'source', outer.source, 32);
  checkUnsigned(layer, 'protocol', protocol, 8);
  return new PreparedOuterHeader(PREPARED, outer.source, ttl, protocol);
}

/** Writes the 4- or 8-byte GRE header for an IPv4 payload at `greStart` (RFC 2784 2); the checksum covers it and the payload up to `end`. */
export function writeGreIpv4Header(out: Uint8Array, greStart: number, checksum: boolean, end: number): void {
  writeU16(out, greStart, checksum ? GRE_CHECKSUM_PRESENT : 0);
  writeU16(out, greStart + 2, EtherType.IPv4);
  if (checksum) {
    writeU32(out, greStart + 4, 0);
    writeU16(out, greStart + 4, internetChecksum(out, greStart, end));
  }
}

function innerDontFragment(inner: Uint8Array): boolean {
  return ((inner[6]! >>> 5) & Ipv4Flag.DontFragment) !== 0;
}

/**
 * Checks an outer datagram carrying `protocol` and returns its decoded form: whole, checksum
 * valid, not a fragment.
 */
function checkOuter(
  layer: string,
  protocol: number,
  bytes: Uint8Array,
  offset: number,
  end: number,
): DecodeResult<{ readonly header: Ipv4Header; readonly payload: Uint8Array }> {
  const packet = decodeIpv4Packet(bytes, offset, end);
  if (!packet.ok) return packet;
  const header = packet.value.header;
  if (!header.checksumValid) {
    return wireError(layer, 'bad-checksum', offset + 10, 'outer IPv4 header checksum does not verify');
  }
  if (header.protocol !== protocol) {
    return wireError(layer, 'bad-type', offset + 9, `outer protocol is ${header.protocol}, expected ${protocol}`);
  }
  if (header.fragmentOffset !== 0 || (header.flags & Ipv4Flag.MoreFragments) !== 0) {
    return wireError(layer, 'bad-value', offset + 6, 'outer datagram is a fragment; reassemble before decapsulating');
  }
  return packet;
}

/** The inner datagram at bytes[start, stop), trimmed to its Total Length, or why it is not one. */
function innerDatagram(bytes: Uint8Array, start: number, stop: number): DecodeResult<Uint8Array> {
  const problem = ipv4DatagramProblem(bytes, start, stop);
  if (problem !== undefined) return { ok: false, error: problem };
  const end = start + ipv4TotalLength(bytes, start);
  return decoded(bytes.subarray(start, end), end);
}

/**
 * Moves a header and the data after it into place where a gap opens or closes between them.
 * When both live in one buffer the order matters: moving toward higher addresses, the data
 * goes first so it is not overwritten by the header; otherwise the header goes first.
 */
function moveHeaderAndData(
  header: Uint8Array,
  data: Uint8Array,
  out: Uint8Array,
  headerTo: number,
  dataTo: number,
): void {
  const forward = header.buffer === out.buffer && out.byteOffset + headerTo > header.byteOffset;
  if (forward) {
    placeBytes(data, out, dataTo);
    placeBytes(header, out, headerTo);
  } else {
    placeBytes(header, out, headerTo);
    placeBytes(data, out, dataTo);
  }
}

// =============================================================================================
// IP in IP (RFC 2003)

const IPIP_LAYER = 'ip-in-ip';

export interface IpInIpDecapsulation {
  readonly outer: Ipv4Header;
  /** The inner datagram (a view). */
  readonly inner: Uint8Array;
}

/**
 * Writes outer header + inner datagram at `offset` (RFC 2003 3: protocol 4, TOS and DF from the
 * inner header, no options) and returns the offset after it. The inner datagram is not copied
 * when it already sits at `offset + 20` of `out`. Throws EncodeError when `inner` is not a
 * whole IPv4 datagram or the result would exceed 65535 bytes: check the MTU first.
 */
export function ipInIpEncapsulate(
  inner: Uint8Array,
  outer: TunnelOuterParams,
  out: Uint8Array,
  offset = 0,
): number {
  const innerLength = innerDatagramLength(IPIP_LAYER, inner);
  const totalLength = IPV4_MIN_HEADER_LENGTH + innerLength;
  if (totalLength > IPV4_MAX_TOTAL_LENGTH) {
    throw new EncodeError(IPIP_LAYER, `encapsulated datagram of ${totalLength} bytes exceeds 65535`);
  }
  ensureRoom(IPIP_LAYER, out, offset, totalLength);
  const tos = inner[1]!;
  const dontFragment = innerDontFragment(inner);
  placeBytes(exactly(inner, innerLength), out, offset + IPV4_MIN_HEADER_LENGTH);
  writeOuterHeader(IPIP_LAYER, outer, IpProtocol.IPIP, totalLength, tos, dontFragment, out, offset);
  return offset + totalLength;
}

/** Removes the outer header (protocol 4); `next` is the end of the outer datagram. */
export function ipInIpDecapsulate(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
): DecodeResult<IpInIpDecapsulation> {
  const outer = checkOuter(IPIP_LAYER, IpProtocol.IPIP, bytes, offset, end);
  if (!outer.ok) return outer;
  const header = outer.value.header;
  const inner = innerDatagram(bytes, offset + header.ihl * 4, outer.next);
  if (!inner.ok) return inner;
  return decoded({ outer: header, inner: inner.value }, outer.next);
}

// =============================================================================================
// Minimal encapsulation (RFC 2004)

const MINIMAL_LAYER = 'minimal-encapsulation';
/** Protocol, S + reserved, checksum, original destination. */
export const MINIMAL_HEADER_LENGTH = 8;
/** ... plus the original source. */
export const MINIMAL_HEADER_WITH_SOURCE_LENGTH = 12;
const MINIMAL_SOURCE_PRESENT = 0x80;

/**
 * The minimal forwarding header (RFC 2004 3):
 *
 *     | Protocol | S | reserved (7) | Header Checksum |
 *     |        Original Destination Address          |
 *     |   (if S) Original Source Address             |
 */
export interface MinimalForwardingHeader {
  /** The original datagram's Protocol. */
  readonly protocol: number;
  /** S: the Original Source Address field is present. */
  readonly sourcePresent: boolean;
  /** The 7 bits after S: sent as zero, ignored on receipt, kept as received. */
  readonly reserved: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  /** Whether the checksum over this header alone (8 or 12 bytes) verifies. */
  readonly checksumValid: boolean;
  readonly originalDestination: Ipv4Address;
  /** Present exactly when `sourcePresent`. */
  readonly originalSource?: Ipv4Address;
}

export interface MinimalForwardingHeaderFields {
  readonly protocol: number;
  readonly sourcePresent: boolean;
  /** Default 0. */
  readonly reserved?: number;
  readonly originalDestination: Ipv4Address;
  readonly originalSource?: Ipv4Address;
  /** Ignored (computed). */
  readonly checksum?: number;
  readonly checksumValid?: boolean;
}

export function minimalForwardingHeaderLength(header: { readonly sourcePresent: boolean }): number {
  return header.sourcePresent ? MINIMAL_HEADER_WITH_SOURCE_LENGTH : MINIMAL_HEADER_LENGTH;
}

/**
 * The forwarding header at `offset`. A checksum that fails is reported in `checksumValid`
 * (decapsulation turns it into 'bad-checksum').
 */
export function decodeMinimalForwardingHeader(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
): DecodeResult<MinimalForwardingHeader> {
  const range = decodeRangeError(MINIMAL_LAYER, bytes, offset, end, MINIMAL_HEADER_LENGTH);
  if (range) return range;
  const sourcePresent = (bytes[offset + 1]! & MINIMAL_SOURCE_PRESENT) !== 0;
  const length = sourcePresent ? MINIMAL_HEADER_WITH_SOURCE_LENGTH : MINIMAL_HEADER_LENGTH;
  if (end - offset < length) {
    return wireError(MINIMAL_LAYER, 'truncated', offset, `S is set: the header needs ${length} bytes, found ${end - offset}`);
  }
  const header: MinimalForwardingHeader = {
    protocol: bytes[offset]!,
    sourcePresent,
    reserved: bytes[offset + 1]! & 0x7f,
    checksum: readU16(bytes, offset + 2),
    checksumValid: internetChecksum(bytes, offset, offset + length) === 0,
    originalDestination: readU32(bytes, offset + 4),
    ...(sourcePresent ? { originalSource: readU32(bytes, offset + 8) } : {}),
  };
  return decoded(header, offset + length);
}

/** Writes the forwarding header with its checksum (over these 8 or 12 bytes only, RFC 2004 3). */
export function encodeMinimalForwardingHeader(
  header: MinimalForwardingHeaderFields,
  bytes: Uint8Array,
  offset = 0,
): number {
  const length = minimalForwardingHeaderLength(header);
  const reserved = header.reserved ?? 0;
  checkUnsigned(MINIMAL_LAYER, 'protocol', header.protocol, 8);
  checkUnsigned(MINIMAL_LAYER, 'reserved', reserved, 7);
  checkUnsigned(MINIMAL_LAYER, 'originalDestination', header.originalDestination, 32);
  if (header.sourcePresent) {
    if (header.originalSource === undefined) {
      throw new EncodeError(MINIMAL_LAYER, 'sourcePresent is set but originalSource is missing');
    }
    checkUnsigned(MINIMAL_LAYER, 'originalSource', header.originalSource, 32);
  }
  ensureRoom(MINIMAL_LAYER, bytes, offset, length);
  return writeMinimalForwardingHeader(bytes, offset, header.protocol, reserved, header.originalDestination, header.sourcePresent ? header.originalSource : undefined);
}

/** Writes a forwarding header whose fields are in range (checked, or read from a header). */
function writeMinimalForwardingHeader(
  bytes: Uint8Array,
  offset: number,
  protocol: number,
  reserved: number,
  originalDestination: Ipv4Address,
  originalSource: Ipv4Address | undefined,
): number {
  const length = originalSource === undefined ? MINIMAL_HEADER_LENGTH : MINIMAL_HEADER_WITH_SOURCE_LENGTH;
  bytes[offset] = protocol;
  bytes[offset + 1] = (originalSource === undefined ? 0 : MINIMAL_SOURCE_PRESENT) | reserved;
  writeU16(bytes, offset + 2, 0);
  writeU32(bytes, offset + 4, originalDestination);
  if (originalSource !== undefined) writeU32(bytes, offset + 8, originalSource);
  writeU16(bytes, offset + 2, internetChecksum(bytes, offset, offset + length));
  return offset + length;
}

export const minimalForwardingHeaderCodec: Codec<MinimalForwardingHeader> = {
  name: 'minimal-forwarding-header',
  decode: decodeMinimalForwardingHeader,
  encode: encodeMinimalForwardingHeader,
  encodingLength: minimalForwardingHeaderLength,
};

/**
 * Minimal encapsulation of `inner` toward `tunnelDestination` (RFC 2004 3), written at
 * `offset` of `out`: the original IP header, modified (Protocol 55, Destination the tunnel
 * exit, Source the encapsulator if it is not already, Total Length + 8 or 12, checksum
 * recomputed), then the forwarding header keeping what was replaced, then the original data.
 * The S bit and Original Source go along only when the encapsulator is not the original source.
 *
 * In place: put the inner datagram at `offset + 12` (or `offset + 8` when the encapsulator is
 * its source) and only the header moves. Refused with a typed error (out of reach of network
 * input) when `inner` is not a whole IPv4 datagram, is a fragment (RFC 2004 3: the single set
 * of fragmentation fields belongs to the original datagram) or would exceed 65535 bytes.
 * Throws only when `out` is too small.
 */
export function minimalEncapsulate(
  inner: Uint8Array,
  encapsulatorAddress: Ipv4Address,
  tunnelDestination: Ipv4Address,
  out: Uint8Array,
  offset = 0,
): EncapsulationResult {
  const problem = ipv4DatagramProblem(inner, 0, inner.length);
  if (problem !== undefined) return { ok: false, error: problem };
  if (ipv4IsFragment(inner, 0)) {
    return wireError(MINIMAL_LAYER, 'bad-value', 6, 'a fragment cannot be carried by minimal encapsulation (RFC 2004 3)');
  }
  checkUnsigned(MINIMAL_LAYER, 'encapsulatorAddress', encapsulatorAddress, 32);
  checkUnsigned(MINIMAL_LAYER, 'tunnelDestination', tunnelDestination, 32);
  const headerLength = ipv4HeaderLength(inner, 0);
  const totalLength = ipv4TotalLength(inner, 0);
  const originalSource = ipv4Source(inner, 0);
  const originalDestination = ipv4Destination(inner, 0);
  const protocol = ipv4Protocol(inner, 0);
  const sourcePresent = originalSource !== encapsulatorAddress;
  const forwardingLength = sourcePresent ? MINIMAL_HEADER_WITH_SOURCE_LENGTH : MINIMAL_HEADER_LENGTH;
  const newTotal = totalLength + forwardingLength;
  if (newTotal > IPV4_MAX_TOTAL_LENGTH) {
    return wireError(MINIMAL_LAYER, 'bad-length', 2, `encapsulated datagram of ${newTotal} bytes exceeds 65535`);
  }
  ensureRoom(MINIMAL_LAYER, out, offset, newTotal);

  moveHeaderAndData(
    inner.subarray(0, headerLength),
    inner.subarray(headerLength, totalLength),
    out,
    offset,
    offset + headerLength + forwardingLength,
  );
  out[offset + 9] = IpProtocol.MINIMAL_ENCAPSULATION;
  writeU16(out, offset + 2, newTotal);
  if (sourcePresent) writeU32(out, offset + 12, encapsulatorAddress);
  writeU32(out, offset + 16, tunnelDestination);
  updateIpv4Checksum(out, offset);
  // The forwarding header's fields were read from the inner header: in range by construction.
  writeMinimalForwardingHeader(out, offset + headerLength, protocol, 0, originalDestination, sourcePresent ? originalSource : undefined);
  return { ok: true, next: offset + newTotal };
}

export interface MinimalDecapsulation {
  /** The tunnel's endpoints as the received (modified) header named them. */
  readonly tunnelSource: Ipv4Address;
  readonly tunnelDestination: Ipv4Address;
  readonly forwardingHeader: MinimalForwardingHeader;
  /** The restored original datagram (a view into the output buffer). */
  readonly datagram: Uint8Array;
}

/**
 * Restores the original datagram from a minimally encapsulated one (RFC 2004 3): Protocol and
 * Destination from the forwarding header, Source too when S is set, Total Length less the
 * forwarding header, checksum recomputed; the forwarding header is removed. With a valid
 * original checksum the result is byte-for-byte the datagram before encapsulation.
 *
 * Writes to `out` at `outOffset`; by default in place (`out` = `bytes`, the restored datagram
 * starting 8 or 12 bytes after `offset`, only the header moving; with another `out` the
 * default offset is 0). Nothing is written when an
 * error is returned. `next` is the end of the received datagram in `bytes`. Throws only when a
 * given `out` is too small.
 */
export function minimalDecapsulate(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
  out: Uint8Array = bytes,
  outOffset?: number,
): DecodeResult<MinimalDecapsulation> {
  const outer = checkOuter(MINIMAL_LAYER, IpProtocol.MINIMAL_ENCAPSULATION, bytes, offset, end);
  if (!outer.ok) return outer;
  const header = outer.value.header;
  const headerLength = header.ihl * 4;
  const forwarding = decodeMinimalForwardingHeader(bytes, offset + headerLength, outer.next);
  if (!forwarding.ok) return forwarding;
  const forwardingHeader = forwarding.value;
  if (!forwardingHeader.checksumValid) {
    return wireError(MINIMAL_LAYER, 'bad-checksum', offset + headerLength + 2, 'minimal forwarding header checksum does not verify');
  }
  const forwardingLength = forwarding.next - (offset + headerLength);
  const restoredLength = header.totalLength - forwardingLength;
  const to = outOffset ?? (out === bytes ? offset + forwardingLength : 0);
  ensureRoom(MINIMAL_LAYER, out, to, restoredLength);

  moveHeaderAndData(
    bytes.subarray(offset, offset + headerLength),
    bytes.subarray(forwarding.next, outer.next),
    out,
    to,
    to + headerLength,
  );
  writeU16(out, to + 2, restoredLength);
  out[to + 9] = forwardingHeader.protocol;
  if (forwardingHeader.originalSource !== undefined) writeU32(out, to + 12, forwardingHeader.originalSource);
  writeU32(out, to + 16, forwardingHeader.originalDestination);
  updateIpv4Checksum(out, to);
  return decoded(
    {
      tunnelSource: header.source,
      tunnelDestination: header.destination,
      forwardingHeader,
      datagram: out.subarray(to, to + restoredLength),
    },
    outer.next,
  );
}

// =============================================================================================
// GRE (RFC 2784)

const GRE_LAYER = 'gre';
export const GRE_HEADER_LENGTH = 4;
export const GRE_HEADER_WITH_CHECKSUM_LENGTH = 8;
const GRE_CHECKSUM_PRESENT = 0x8000;
/**
 * Bits 1-5 of Reserved0 (RFC 1701's Routing, Key, Sequence, Strict source route and
 * Recursion control): a receiver that does not implement RFC 1701 MUST discard the packet when
 * any is set (RFC 2784 2.3).
 */
const GRE_RFC1701_BITS = 0x7c00;
/** Bits 6-12 of Reserved0: sent as zero, ignored on receipt (RFC 2784 2.3). */
const GRE_RESERVED_BITS = 0x03f8;

/**
 *     |C|       Reserved0       | Ver |         Protocol Type         |
 *     |      Checksum (optional)      |       Reserved1 (optional)    |
 */
export interface GreHeader {
  /** C: Checksum and Reserved1 are present. */
  readonly checksumPresent: boolean;
  /**
   * Reserved0, bits 1-12 as a 12-bit number. A decoded header has bits 1-5 clear (the 0xf80
   * part); bits 6-12 (0x07f) are kept as received.
   */
  readonly reserved0: number;
  /** Always 0 in a decoded header (RFC 2784 2.4). */
  readonly version: number;
  /** EtherType of the payload: 0x0800 for IPv4 (RFC 2784 3). */
  readonly protocolType: number;
  /** As received, 0 when absent. */
  readonly checksum: number;
  /** As received, 0 when absent; sent as zero (RFC 2784 2.7). */
  readonly reserved1: number;
  /** Whether the checksum over the GRE header and payload [offset, end) verifies; true when absent. */
  readonly checksumValid: boolean;
}

export type GreHeaderFields = Omit<GreHeader, 'checksumValid'> & { readonly checksumValid?: boolean };

export function greHeaderLength(header: { readonly checksumPresent: boolean }): number {
  return header.checksumPresent ? GRE_HEADER_WITH_CHECKSUM_LENGTH : GRE_HEADER_LENGTH;
}

/**
 * The GRE header at `offset` of a GRE packet ending at `end` (the payload follows the header).
 * 'bad-value' when any of Reserved0 bits 1-5 is set (RFC 2784 2.3: discard), 'bad-version'
 * for a version other than 0 (2.4). The checksum, over [offset, end), is reported in
 * `checksumValid`.
 */
export function decodeGreHeader(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<GreHeader> {
  const range = decodeRangeError(GRE_LAYER, bytes, offset, end, GRE_HEADER_LENGTH);
  if (range) return range;
  const word = readU16(bytes, offset);
  if ((word & GRE_RFC1701_BITS) !== 0) {
    return wireError(GRE_LAYER, 'bad-value', offset, `Reserved0 bits 1-5 are set (RFC 1701 fields), must be discarded (RFC 2784 2.3)`);
  }
  const version = word & 0x7;
  if (version !== 0) {
    return wireError(GRE_LAYER, 'bad-version', offset + 1, `GRE version ${version}, only 0 is read (RFC 2784 2.4)`);
  }
  const checksumPresent = (word & GRE_CHECKSUM_PRESENT) !== 0;
  const length = checksumPresent ? GRE_HEADER_WITH_CHECKSUM_LENGTH : GRE_HEADER_LENGTH;
  if (end - offset < length) {
    return wireError(GRE_LAYER, 'truncated', offset, `C is set: the header needs ${length} bytes, found ${end - offset}`);
  }
  return decoded(
    {
      checksumPresent,
      reserved0: (word >>> 3) & 0xfff,
      version,
      protocolType: readU16(bytes, offset + 2),
      checksum: checksumPresent ? readU16(bytes, offset + 4) : 0,
      reserved1: checksumPresent ? readU16(bytes, offset + 6) : 0,
      checksumValid: !checksumPresent || internetChecksum(bytes, offset, end) === 0,
    },
    offset + length,
  );
}

/**
 * Writes the header with the Checksum field as given: the checksum covers the payload, which
 * this encoder does not see (greEncapsulate computes it). Reserved0 bits 1-5 and a non-zero
 * version are refused, since no receiver following RFC 2784 would accept them.
 */
export function encodeGreHeader(header: GreHeaderFields, bytes: Uint8Array, offset = 0): number {
  checkUnsigned(GRE_LAYER, 'reserved0', header.reserved0, 12);
  if (((header.reserved0 << 3) & GRE_RFC1701_BITS) !== 0) {
    throw new EncodeError(GRE_LAYER, 'Reserved0 bits 1-5 must be zero (RFC 2784 2.3)');
  }
  if (header.version !== 0) throw new EncodeError(GRE_LAYER, `version must be 0 (RFC 2784 2.4), got ${header.version}`);
  checkUnsigned(GRE_LAYER, 'protocolType', header.protocolType, 16);
  const length = greHeaderLength(header);
  if (header.checksumPresent) {
    checkUnsigned(GRE_LAYER, 'checksum', header.checksum, 16);
    checkUnsigned(GRE_LAYER, 'reserved1', header.reserved1, 16);
  }
  ensureRoom(GRE_LAYER, bytes, offset, length);
  writeU16(
    bytes,
    offset,
    (header.checksumPresent ? GRE_CHECKSUM_PRESENT : 0) | ((header.reserved0 << 3) & GRE_RESERVED_BITS),
  );
  writeU16(bytes, offset + 2, header.protocolType);
  if (header.checksumPresent) {
    writeU16(bytes, offset + 4, header.checksum);
    writeU16(bytes, offset + 6, header.reserved1);
  }
  return offset + length;
}

export const greHeaderCodec: Codec<GreHeader> = {
  name: 'gre-header',
  decode: decodeGreHeader,
  encode: encodeGreHeader,
  encodingLength: greHeaderLength,
};

export interface GreEncapsulateOptions {
  /** Send the optional checksum over GRE header and payload (RFC 2784 2.5). Default false. */
  readonly checksum?: boolean;
}

/**
 * Writes outer IPv4 header (protocol 47) + GRE header (protocol type 0x0800) + inner datagram
 * at `offset`; returns the offset after it. Outer TOS and DF follow the inner header as for IP
 * in IP (RFC 2784 leaves them to the delivery protocol). The inner datagram is not copied when
 * it already sits at `offset + 24` (`+ 28` with the checksum). Throws EncodeError when `inner`
 * is not a whole IPv4 datagram or the result would exceed 65535 bytes.
 */
export function greEncapsulate(
  inner: Uint8Array,
  outer: TunnelOuterParams,
  options: GreEncapsulateOptions,
  out: Uint8Array,
  offset = 0,
): number {
  const innerLength = innerDatagramLength(GRE_LAYER, inner);
  const greLength = options.checksum === true ? GRE_HEADER_WITH_CHECKSUM_LENGTH : GRE_HEADER_LENGTH;
  const greStart = offset + IPV4_MIN_HEADER_LENGTH;
  const totalLength = IPV4_MIN_HEADER_LENGTH + greLength + innerLength;
  if (totalLength > IPV4_MAX_TOTAL_LENGTH) {
    throw new EncodeError(GRE_LAYER, `encapsulated datagram of ${totalLength} bytes exceeds 65535`);
  }
  ensureRoom(GRE_LAYER, out, offset, totalLength);
  const tos = inner[1]!;
  const dontFragment = innerDontFragment(inner);
  placeBytes(exactly(inner, innerLength), out, greStart + greLength);
  writeGreIpv4Header(out, greStart, greLength === GRE_HEADER_WITH_CHECKSUM_LENGTH, offset + totalLength);
  writeOuterHeader(GRE_LAYER, outer, IpProtocol.GRE, totalLength, tos, dontFragment, out, offset);
  return offset + totalLength;
}

export interface GreDecapsulation {
  readonly outer: Ipv4Header;
  readonly gre: GreHeader;
  /** The inner IPv4 datagram (a view). */
  readonly inner: Uint8Array;
}

/**
 * Removes outer IPv4 (protocol 47) and GRE headers. Besides the outer checks: GRE header
 * errors as decodeGreHeader, 'bad-checksum' when a present GRE checksum fails, 'bad-type' for
 * a payload other than IPv4 (protocol type 0x0800), which is all a Mobile IP tunnel carries.
 */
export function greDecapsulate(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<GreDecapsulation> {
  const outer = checkOuter(GRE_LAYER, IpProtocol.GRE, bytes, offset, end);
  if (!outer.ok) return outer;
  const header = outer.value.header;
  const greStart = offset + header.ihl * 4;
  const gre = decodeGreHeader(bytes, greStart, outer.next);
  if (!gre.ok) return gre;
  if (!gre.value.checksumValid) {
    return wireError(GRE_LAYER, 'bad-checksum', greStart + 4, 'GRE checksum does not verify');
  }
  if (gre.value.protocolType !== EtherType.IPv4) {
    return wireError(
      GRE_LAYER,
      'bad-type',
      greStart + 2,
      `GRE protocol type 0x${gre.value.protocolType.toString(16)}, expected IPv4 (0x0800)`,
    );
  }
  const inner = innerDatagram(bytes, gre.next, outer.next);
  if (!inner.ok) return inner;
  return decoded({ outer: header, gre: gre.value, inner: inner.value }, outer.next);
}

// =============================================================================================
// Any of the three

/**
 * Encapsulates with the method a binding asked for (RFC 5944 3.3 M and G bits). For minimal
 * encapsulation the outer source and destination become the encapsulator and tunnel exit and
 * the other outer fields are unused (the original header keeps its own). Errors as
 * minimalEncapsulate; IP in IP and GRE throw as their functions do.
 */
export function encapsulate(
  kind: Encapsulation,
  inner: Uint8Array,
  outer: TunnelOuterParams,
  out: Uint8Array,
  offset = 0,
  options: GreEncapsulateOptions = {},
): EncapsulationResult {
  switch (kind) {
    case 'ip-in-ip':
      return { ok: true, next: ipInIpEncapsulate(inner, outer, out, offset) };
    case 'gre':
      return { ok: true, next: greEncapsulate(inner, outer, options, out, offset) };
    case 'minimal':
      return minimalEncapsulate(inner, outer.source, outer.destination, out, offset);
  }
}

export interface Decapsulation {
  readonly kind: Encapsulation;
  readonly tunnelSource: Ipv4Address;
  readonly tunnelDestination: Ipv4Address;
  /** The inner (for minimal: restored) datagram, a view into `bytes`. */
  readonly datagram: Uint8Array;
}

/** Outer protocol numbers that `decapsulate` takes apart. */
export function isTunnelProtocol(protocol: number): boolean {
  return protocol === IpProtocol.IPIP || protocol === IpProtocol.MINIMAL_ENCAPSULATION || protocol === IpProtocol.GRE;
}

/**
 * Decapsulates whichever of the three the outer Protocol names (4, 55 or 47), as a foreign
 * agent or co-located mobile node receiving on its care-of address does. Minimal encapsulation
 * is undone in place. 'bad-type' for any other protocol.
 */
export function decapsulate(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<Decapsulation> {
  const problem = ipv4DatagramProblem(bytes, offset, end);
  if (problem !== undefined) return { ok: false, error: problem };
  const protocol = ipv4Protocol(bytes, offset);
  if (protocol === IpProtocol.IPIP) {
    const r = ipInIpDecapsulate(bytes, offset, end);
    if (!r.ok) return r;
    return decoded(
      { kind: 'ip-in-ip', tunnelSource: r.value.outer.source, tunnelDestination: r.value.outer.destination, datagram: r.value.inner },
      r.next,
    );
  }
  if (protocol === IpProtocol.GRE) {
    const r = greDecapsulate(bytes, offset, end);
    if (!r.ok) return r;
    return decoded(
      { kind: 'gre', tunnelSource: r.value.outer.source, tunnelDestination: r.value.outer.destination, datagram: r.value.inner },
      r.next,
    );
  }
  if (protocol === IpProtocol.MINIMAL_ENCAPSULATION) {
    const r = minimalDecapsulate(bytes, offset, end);
    if (!r.ok) return r;
    return decoded(
      { kind: 'minimal', tunnelSource: r.value.tunnelSource, tunnelDestination: r.value.tunnelDestination, datagram: r.value.datagram },
      r.next,
    );
  }
  return wireError('tunnel', 'bad-type', offset + 9, `protocol ${protocol} is not a tunnel (4, 55 or 47)`);
}
