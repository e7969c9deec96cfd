/**
 * The IPv4 header (RFC 791 3.1) and the in-place operations a forwarding data plane needs.
 *
 * Two ways in:
 * - `decodeIpv4Header` / `decodeIpv4Packet` return values (one small object per call), for
 *   control traffic and tests;
 * - the accessors (`ipv4Protocol(bytes, offset)`, `ipv4Destination`, ...) read one field with
 *   no allocation, for the per-packet path. They do not validate: call `ipv4DatagramProblem`
 *   once first (it allocates only when it finds a problem).
 *
 * A bad header checksum is not a decode error here: the decoder reports `checksumValid` and the
 * caller (a router must discard, RFC 1122 3.2.1.2) decides. Encoders always compute it.
 */
import { type Codec, type DecodeResult, decoded, EncodeError, ensureRoom, type WireError, wireError } from './codec.js';
import {
  checkUnsigned,
  decodeRangeError,
  type Ipv4Address,
  internetChecksum,
  placeBytes,
  readU16,
  readU32,
  writeU16,
  writeU32,
} from './bytes.js';

const LAYER = 'ipv4';

/** IP protocol numbers mip4 meets (IANA "Assigned Internet Protocol Numbers"). */
export const IpProtocol = {
  ICMP: 1,
  IGMP: 2,
  /** IP in IP encapsulation (RFC 2003). */
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  /** Generic Routing Encapsulation (RFC 2784). */
  GRE: 47,
  /** Minimal encapsulation within IP (RFC 2004). */
  MINIMAL_ENCAPSULATION: 55,
} as const;

/** The three Flags bits (RFC 791 3.1), as the 3-bit `flags` value holds them. */
export const Ipv4Flag = {
  /** Bit 0: reserved, must be zero; kept as received. */
  Reserved: 0b100,
  /** Bit 1: Don't Fragment. */
  DontFragment: 0b010,
  /** Bit 2: More Fragments. */
  MoreFragments: 0b001,
} as const;

/** A header without options (IHL 5). */
export const IPV4_MIN_HEADER_LENGTH = 20;
/** IHL is 4 bits of 32-bit words: at most 15 words. */
export const IPV4_MAX_HEADER_LENGTH = 60;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;
export const IPV4_VERSION = 4;

export interface Ipv4Header {
  /** Always 4 in a decoded header. */
  readonly version: number;
  /** Internet Header Length in 32-bit words (5..15). */
  readonly ihl: number;
  /** Type of Service byte (DSCP + ECN today), kept whole. */
  readonly tos: number;
  /** Header plus data, in bytes. */
  readonly totalLength: number;
  readonly identification: number;
  /** 3 bits: reserved, DF, MF (see Ipv4Flag). */
  readonly flags: number;
  /** In units of 8 bytes. */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  /** Whether the header checksum verifies (always true for a header just encoded). */
  readonly checksumValid: boolean;
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  /** The option bytes between the fixed header and the data (a view; empty when IHL is 5). */
  readonly options: Uint8Array;
}

/**
 * What `encodeIpv4Header` needs. An `Ipv4Header` is one; when building a header by hand,
 * version, IHL, options and checksum may be left out (IHL follows from the options).
 */
export interface Ipv4HeaderFields {
  /** 4 when given. */
  readonly version?: number;
  /** When given it must agree with the options' length. */
  readonly ihl?: number;
  readonly tos: number;
  readonly totalLength: number;
  readonly identification: number;
  readonly flags: number;
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  /** Ignored: the encoder computes the checksum. */
  readonly checksum?: number;
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  /** Already padded to a multiple of 4 bytes (RFC 791 3.1 "Padding"), at most 40. */
  readonly options?: Uint8Array;
}

export interface Ipv4Packet {
  readonly header: Ipv4Header;
  /** bytes[offset + IHL*4, offset + Total Length): a view; link-layer padding excluded. */
  readonly payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// No-allocation accessors. They read whatever is at the offset: validate first.

export function ipv4Version(bytes: Uint8Array, offset = 0): number {
  return bytes[offset]! >>> 4;
}

/**
 * Header length in bytes: of the header encoded at `bytes[offset]` (IHL * 4, no validation), or
 * of a header value (20 + its options), which is what `encodeIpv4Header` writes.
 */
export function ipv4HeaderLength(bytes: Uint8Array, offset?: number): number;
export function ipv4HeaderLength(header: Ipv4HeaderFields): number;
export function ipv4HeaderLength(source: Uint8Array | Ipv4HeaderFields, offset = 0): number {
  if (source instanceof Uint8Array) return (source[offset]! & 0x0f) * 4;
  return IPV4_MIN_HEADER_LENGTH + (source.options?.length ?? 0);
}

export function ipv4Tos(bytes: Uint8Array, offset = 0): number {
  return bytes[offset + 1]!;
}

export function ipv4TotalLength(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 2);
}

export function ipv4Identification(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 4);
}

/** The 3 flag bits (see Ipv4Flag). */
export function ipv4Flags(bytes: Uint8Array, offset = 0): number {
  return bytes[offset + 6]! >>> 5;
}

export function ipv4FragmentOffset(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 6) & 0x1fff;
}

/** True for any fragment: More Fragments set or a non-zero Fragment Offset (RFC 791 3.2). */
export function ipv4IsFragment(bytes: Uint8Array, offset = 0): boolean {
  return (readU16(bytes, offset + 6) & 0x3fff) !== 0;
}

export function ipv4Ttl(bytes: Uint8Array, offset = 0): number {
  return bytes[offset + 8]!;
}

export function ipv4Protocol(bytes: Uint8Array, offset = 0): number {
  return bytes[offset + 9]!;
}

export function ipv4Checksum(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 10);
}

export function ipv4Source(bytes: Uint8Array, offset = 0): Ipv4Address {
  return readU32(bytes, offset + 12);
}

export function ipv4Destination(bytes: Uint8Array, offset = 0): Ipv4Address {
  return readU32(bytes, offset + 16);
}

/** Whether the checksum over the IHL*4 header bytes verifies. */
export function ipv4ChecksumValid(bytes: Uint8Array, offset = 0): boolean {
  return internetChecksum(bytes, offset, offset + ipv4HeaderLength(bytes, offset)) === 0;
}

/**
 * Why bytes[offset, end) is not one whole IPv4 datagram, or undefined when it is (the datagram
 * may be followed by link-layer padding). Checks the range, version, IHL and Total Length, not
 * the checksum; allocates only when it reports a problem.
 */
export function ipv4DatagramProblem(bytes: Uint8Array, offset = 0, end = bytes.length): WireError | undefined {
  const bad = checkIpv4(bytes, offset, end, true);
  return bad === undefined ? undefined : bad.error;
}

// ---------------------------------------------------------------------------------------------
// In-place rewriting for forwarding.

/** Zeroes the Header Checksum, recomputes it over the IHL*4 header bytes and writes it. */
export function updateIpv4Checksum(bytes: Uint8Array, offset = 0): number {
  writeU16(bytes, offset + 10, 0);
  const checksum = internetChecksum(bytes, offset, offset + ipv4HeaderLength(bytes, offset));
  writeU16(bytes, offset + 10, checksum);
  return checksum;
}

/**
 * A checksum after one 16-bit word it covers changed from `oldWord` to `newWord`:
 * HC' = ~(~HC + ~m + m') (RFC 1624 3, eqn. 3). A checksum that was wrong stays wrong, so a
 * corrupted header is not laundered on its way through a router (RFC 1624 5).
 */
export function incrementalChecksumUpdate(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Decrements the TTL of the header at `offset` and patches the checksum incrementally
 * (RFC 1624), as a router forwarding the datagram must (RFC 791 3.2, RFC 1812 5.3.1; RFC 5944
 * 4.2.2 asks it of a foreign agent routing for its mobile nodes). Returns false, changing
 * nothing, when the TTL is 0 or 1: the datagram must then be discarded, not forwarded.
 */
export function decrementIpv4Ttl(bytes: Uint8Array, offset = 0): boolean {
  const ttl = bytes[offset + 8]!;
  if (ttl <= 1) return false;
  const oldWord = readU16(bytes, offset + 8);
  bytes[offset + 8] = ttl - 1;
  const newWord = readU16(bytes, offset + 8);
  writeU16(bytes, offset + 10, incrementalChecksumUpdate(readU16(bytes, offset + 10), oldWord, newWord));
  return true;
}

/**
 * Rewrites the Destination Address in place with an incremental checksum update, e.g. for a
 * home agent redirecting an already tunnelled datagram to the care-of address (RFC 5944 4.2.3).
 */
export function setIpv4Destination(bytes: Uint8Array, offset: number, address: Ipv4Address): void {
  rewriteAddress(bytes, offset, offset + 16, address);
}

/** Rewrites the Source Address in place with an incremental checksum update. */
export function setIpv4Source(bytes: Uint8Array, offset: number, address: Ipv4Address): void {
  rewriteAddress(bytes, offset, offset + 12, address);
}

function rewriteAddress(bytes: Uint8Array, headerOffset: number, fieldOffset: number, address: Ipv4Address): void {
  let checksum = readU16(bytes, headerOffset + 10);
  const oldHigh = readU16(bytes, fieldOffset);
  const oldLow = readU16(bytes, fieldOffset + 2);
  writeU32(bytes, fieldOffset, address);
  checksum = incrementalChecksumUpdate(checksum, oldHigh, readU16(bytes, fieldOffset));
  checksum = incrementalChecksumUpdate(checksum, oldLow, readU16(bytes, fieldOffset + 2));
  writeU16(bytes, headerOffset + 10, checksum);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * The header at `offset`, checked against the datagram's own lengths: version 4, IHL >= 5,
 * IHL*4 <= Total Length <= the bytes available. `next` is the first byte after the header
 * (options included). The checksum is reported in `checksumValid`, not as an error.
 */
export function decodeIpv4Header(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<Ipv4Header> {
  const bad = checkIpv4(bytes, offset, end, true);
  if (bad) return bad;
  return decoded(readHeader(bytes, offset), offset + ipv4HeaderLength(bytes, offset));
}

/**
 * Like decodeIpv4Header but without requiring the Total Length bytes to be present: for the
 * header of an original datagram quoted in an ICMP error (RFC 792: header + 64 bits of data),
 * which a tunnel entry point reads to relay errors (RFC 2003 4, RFC 5944 4.2.3).
 */
export function decodeQuotedIpv4Header(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<Ipv4Header> {
  const bad = checkIpv4(bytes, offset, end, false);
  if (bad) return bad;
  return decoded(readHeader(bytes, offset), offset + ipv4HeaderLength(bytes, offset));
}

/** The header and its data; `next` is offset + Total Length (link-layer padding is skipped). */
export function decodeIpv4Packet(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<Ipv4Packet> {
  const bad = checkIpv4(bytes, offset, end, true);
  if (bad) return bad;
  const header = readHeader(bytes, offset);
  const stop = offset + header.totalLength;
  return decoded({ header, payload: bytes.subarray(offset + header.ihl * 4, stop) }, stop);
}

function checkIpv4(
  bytes: Uint8Array,
  offset: number,
  end: number,
  wholeDatagram: boolean,
): { readonly ok: false; readonly error: WireError } | undefined {
  const range = decodeRangeError(LAYER, bytes, offset, end, 1);
  if (range) return range;
  const version = bytes[offset]! >>> 4;
  if (version !== IPV4_VERSION) {
    return wireError(LAYER, 'bad-version', offset, `expected IP version 4, found ${version}`);
  }
  const headerLength = ipv4HeaderLength(bytes, offset);
  if (headerLength < IPV4_MIN_HEADER_LENGTH) {
    return wireError(LAYER, 'bad-value', offset, `IHL must be at least 5 words, found ${headerLength / 4}`);
  }
  if (end - offset < headerLength) {
    return wireError(LAYER, 'truncated', offset, `header needs ${headerLength} bytes, found ${end - offset}`);
  }
  const totalLength = readU16(bytes, offset + 2);
  if (totalLength < headerLength) {
    return wireError(LAYER, 'bad-length', offset + 2, `Total Length ${totalLength} is less than the header length ${headerLength}`);
  }
  if (wholeDatagram && totalLength > end - offset) {
    return wireError(LAYER, 'truncated', offset + 2, `Total Length ${totalLength} exceeds the ${end - offset} bytes available`);
  }
  return undefined;
}

function readHeader(bytes: Uint8Array, offset: number): Ipv4Header {
  const headerLength = ipv4HeaderLength(bytes, offset);
  return {
    version: IPV4_VERSION,
    ihl: headerLength / 4,
    tos: bytes[offset + 1]!,
    totalLength: readU16(bytes, offset + 2),
    identification: readU16(bytes, offset + 4),
    flags: bytes[offset + 6]! >>> 5,
    fragmentOffset: readU16(bytes, offset + 6) & 0x1fff,
    ttl: bytes[offset + 8]!,
    protocol: bytes[offset + 9]!,
    checksum: readU16(bytes, offset + 10),
    checksumValid: internetChecksum(bytes, offset, offset + headerLength) === 0,
    source: readU32(bytes, offset + 12),
    destination: readU32(bytes, offset + 16),
    options: bytes.subarray(offset + IPV4_MIN_HEADER_LENGTH, offset + headerLength),
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Writes the header (options included) at `offset`, computing the checksum; returns the offset after it. */
export function encodeIpv4Header(header: Ipv4HeaderFields, bytes: Uint8Array, offset = 0): number {
  const headerLength = ipv4HeaderLength(header);
  if (header.version !== undefined && header.version !== IPV4_VERSION) {
    throw new EncodeError(LAYER, `version must be 4, got ${header.version}`);
  }
  if (headerLength % 4 !== 0 || headerLength > IPV4_MAX_HEADER_LENGTH) {
    throw new EncodeError(LAYER, `options must be padded to a multiple of 4 bytes, at most 40; got ${headerLength - 20}`);
  }
  if (header.ihl !== undefined && header.ihl * 4 !== headerLength) {
    throw new EncodeError(LAYER, `IHL ${header.ihl} disagrees with ${headerLength - 20} option bytes`);
  }
  checkUnsigned(LAYER, 'tos', header.tos, 8);
  checkUnsigned(LAYER, 'totalLength', header.totalLength, 16);
  if (header.totalLength < headerLength) {
    throw new EncodeError(LAYER, `totalLength ${header.totalLength} is less than the header length ${headerLength}`);
  }
  checkUnsigned(LAYER, 'identification', header.identification, 16);
  checkUnsigned(LAYER, 'flags', header.flags, 3);
  checkUnsigned(LAYER, 'fragmentOffset', header.fragmentOffset, 13);
  checkUnsigned(LAYER, 'ttl', header.ttl, 8);
  checkUnsigned(LAYER, 'protocol', header.protocol, 8);
  checkUnsigned(LAYER, 'source', header.source, 32);
  checkUnsigned(LAYER, 'destination', header.destination, 32);
  ensureRoom(LAYER, bytes, offset, headerLength);

  bytes[offset] = (IPV4_VERSION << 4) | (headerLength / 4);
  bytes[offset + 1] = header.tos;
  writeU16(bytes, offset + 2, header.totalLength);
  writeU16(bytes, offset + 4, header.identification);
  writeU16(bytes, offset + 6, (header.flags << 13) | header.fragmentOffset);
  bytes[offset + 8] = header.ttl;
  bytes[offset + 9] = header.protocol;
  writeU32(bytes, offset + 12, header.source);
  writeU32(bytes, offset + 16, header.destination);
  if (header.options !== undefined && header.options.length > 0) {
    placeBytes(header.options, bytes, offset + IPV4_MIN_HEADER_LENGTH);
  }
  updateIpv4Checksum(bytes, offset);
  return offset + headerLength;
}

/** A header whose Total Length is computed from the payload. */
export type Ipv4PacketHeaderFields = Omit<Ipv4HeaderFields, 'totalLength'> & { readonly totalLength?: number };

export interface Ipv4PacketFields {
  /** Its totalLength, if any, is ignored: the encoder writes header length + payload length. */
  readonly header: Ipv4PacketHeaderFields;
  readonly payload: Uint8Array;
}

export function ipv4PacketLength(packet: Ipv4PacketFields): number {
  return IPV4_MIN_HEADER_LENGTH + (packet.header.options?.length ?? 0) + packet.payload.length;
}

/**
 * Writes header and payload at `offset`. When the payload view already sits right after where
 * the header goes (same buffer), it is not copied: build the payload first, then the header in
 * front of it.
 */
export function encodeIpv4Packet(packet: Ipv4PacketFields, bytes: Uint8Array, offset = 0): number {
  const headerLength = IPV4_MIN_HEADER_LENGTH + (packet.header.options?.length ?? 0);
  const totalLength = headerLength + packet.payload.length;
  if (totalLength > IPV4_MAX_TOTAL_LENGTH) {
    throw new EncodeError(LAYER, `datagram of ${totalLength} bytes exceeds the 65535 the Total Length field holds`);
  }
  ensureRoom(LAYER, bytes, offset, totalLength);
  placeBytes(packet.payload, bytes, offset + headerLength);
  encodeIpv4Header({ ...packet.header, totalLength }, bytes, offset);
  return offset + totalLength;
}

export const ipv4HeaderCodec: Codec<Ipv4Header> = {
  name: 'ipv4-header',
  decode: decodeIpv4Header,
  encode: encodeIpv4Header,
  encodingLength: (header) => ipv4HeaderLength(header),
};

export const ipv4PacketCodec: Codec<Ipv4Packet> = {
  name: 'ipv4-packet',
  decode: decodeIpv4Packet,
  encode: encodeIpv4Packet,
  encodingLength: ipv4PacketLength,
};
