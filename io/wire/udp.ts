/**
 * UDP (RFC 768): the 8-byte header, the checksum over the IPv4 pseudo-header, and an encoder
 * that writes the header in front of a payload already placed in the caller's buffer (how the
 * registration messages of RFC 5944 3 go out on port 434).
 *
 * Checksum conventions (RFC 768 "Fields"): a computed checksum of zero is transmitted as
 * 0xffff (all ones), and a received checksum of zero means the sender computed none.
 */
import { type Codec, type DecodeResult, decoded, EncodeError, ensureRoom, wireError } from './codec.js';
import {
  checkUnsigned,
  decodeRangeError,
  finishChecksum,
  type Ipv4Address,
  onesComplementSum,
  placeBytes,
  readU16,
  writeU16,
} from './bytes.js';

const LAYER = 'udp';

export const UDP_HEADER_LENGTH = 8;
/** The IP protocol number of UDP, summed into the pseudo-header. */
const PROTOCOL_UDP = 17;
/** The Length field counts header and data in 16 bits. */
export const UDP_MAX_LENGTH = 0xffff;

export interface UdpHeader {
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** Header plus data, in bytes (at least 8). */
  readonly length: number;
  /** As received; 0 means no checksum was computed. */
  readonly checksum: number;
}

export interface UdpDatagram {
  readonly header: UdpHeader;
  /** bytes[offset + 8, offset + Length): a view. */
  readonly payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// No-allocation accessors (validate first with decodeUdpHeader or a length check).

export function udpSourcePort(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset);
}

export function udpDestinationPort(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 2);
}

export function udpLength(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 4);
}

// ---------------------------------------------------------------------------------------------
// Checksum

/**
 * The checksum to transmit for the UDP datagram bytes[udpOffset, udpOffset + udpLength) sent
 * from `source` to `destination`: one's complement sum over the pseudo-header (source,
 * destination, zero, protocol 17, UDP length), the header and the data padded to an even
 * length (RFC 768). The Checksum field itself is skipped, so this works on a datagram whose
 * field is already filled in. Never 0: a zero result is returned as 0xffff.
 */
export function udpChecksum(
  source: Ipv4Address,
  destination: Ipv4Address,
  bytes: Uint8Array,
  udpOffset: number,
  udpLength: number,
): number {
  const pseudoHeader =
    (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) + PROTOCOL_UDP + udpLength;
  let sum = onesComplementSum(bytes, udpOffset, udpOffset + 6, pseudoHeader);
  sum = onesComplementSum(bytes, udpOffset + UDP_HEADER_LENGTH, udpOffset + udpLength, sum);
  const checksum = finishChecksum(sum);
  return checksum === 0 ? 0xffff : checksum;
}

/**
 * Whether the datagram at `udpOffset` carries an acceptable checksum: true when the field is 0
 * (the sender computed none, RFC 768) or equals the computed one; false when it differs or the
 * datagram does not fit in `bytes`. `udpLength` defaults to the header's Length field.
 */
export function verifyUdpChecksum(
  source: Ipv4Address,
  destination: Ipv4Address,
  bytes: Uint8Array,
  udpOffset: number,
  udpLength?: number,
): boolean {
  if (!Number.isInteger(udpOffset) || udpOffset < 0 || udpOffset + UDP_HEADER_LENGTH > bytes.length) return false;
  const length = udpLength ?? readU16(bytes, udpOffset + 4);
  if (length < UDP_HEADER_LENGTH || udpOffset + length > bytes.length) return false;
  const transmitted = readU16(bytes, udpOffset + 6);
  if (transmitted === 0) return true;
  return udpChecksum(source, destination, bytes, udpOffset, length) === transmitted;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * The header at `offset`. Length must be at least 8 and fit in [offset, end); `next` is the
 * first data byte.
 */
export function decodeUdpHeader(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<UdpHeader> {
  const bad = checkUdp(bytes, offset, end);
  if (bad) return bad;
  return decoded(readHeader(bytes, offset), offset + UDP_HEADER_LENGTH);
}

/** Header and data; `next` is offset + Length. Bytes after Length (IP padding) are not data. */
export function decodeUdpDatagram(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<UdpDatagram> {
  const bad = checkUdp(bytes, offset, end);
  if (bad) return bad;
  const header = readHeader(bytes, offset);
  const stop = offset + header.length;
  return decoded({ header, payload: bytes.subarray(offset + UDP_HEADER_LENGTH, stop) }, stop);
}

function checkUdp(bytes: Uint8Array, offset: number, end: number) {
  const range = decodeRangeError(LAYER, bytes, offset, end, UDP_HEADER_LENGTH);
  if (range) return range;
  const length = readU16(bytes, offset + 4);
  if (length < UDP_HEADER_LENGTH) {
    return wireError(LAYER, 'bad-length', offset + 4, `Length ${length} is less than the 8-byte header`);
  }
  if (length > end - offset) {
    return wireError(LAYER, 'truncated', offset + 4, `Length ${length} exceeds the ${end - offset} bytes available`);
  }
  return undefined;
}

function readHeader(bytes: Uint8Array, offset: number): UdpHeader {
  return {
    sourcePort: readU16(bytes, offset),
    destinationPort: readU16(bytes, offset + 2),
    length: readU16(bytes, offset + 4),
    checksum: readU16(bytes, offset + 6),
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function udpHeaderLength(_header?: UdpHeader): number {
  return UDP_HEADER_LENGTH;
}

/** Writes the four header fields exactly as given (no checksum computation). */
export function encodeUdpHeader(header: UdpHeader, bytes: Uint8Array, offset = 0): number {
  checkUnsigned(LAYER, 'sourcePort', header.sourcePort, 16);
  checkUnsigned(LAYER, 'destinationPort', header.destinationPort, 16);
  checkUnsigned(LAYER, 'length', header.length, 16);
  checkUnsigned(LAYER, 'checksum', header.checksum, 16);
  ensureRoom(LAYER, bytes, offset, UDP_HEADER_LENGTH);
  writeU16(bytes, offset, header.sourcePort);
  writeU16(bytes, offset + 2, header.destinationPort);
  writeU16(bytes, offset + 4, header.length);
  writeU16(bytes, offset + 6, header.checksum);
  return offset + UDP_HEADER_LENGTH;
}

/** What `encodeUdpDatagram` needs: ports, the IP addresses of the pseudo-header, the data. */
export interface UdpDatagramFields {
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** IP source and destination, for the pseudo-header. */
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  /** The data; not copied when it already sits at `offset + 8` of the output buffer. */
  readonly payload: Uint8Array;
  /** Compute the checksum (default). When false the field is sent as 0 (RFC 768: none). */
  readonly checksum?: boolean;
}

export function udpDatagramLength(datagram: { readonly payload: Uint8Array }): number {
  return UDP_HEADER_LENGTH + datagram.payload.length;
}

/**
 * Writes header and data at `offset` with Length = 8 + data length and the checksum computed
 * over the pseudo-header; returns the offset after the data.
 */
export function encodeUdpDatagram(datagram: UdpDatagramFields, bytes: Uint8Array, offset = 0): number {
  const length = UDP_HEADER_LENGTH + datagram.payload.length;
  if (length > UDP_MAX_LENGTH) {
    throw new EncodeError(LAYER, `datagram of ${length} bytes exceeds the 65535 the Length field holds`);
  }
  checkUnsigned(LAYER, 'source', datagram.source, 32);
  checkUnsigned(LAYER, 'destination', datagram.destination, 32);
  ensureRoom(LAYER, bytes, offset, length);
  placeBytes(datagram.payload, bytes, offset + UDP_HEADER_LENGTH);
  encodeUdpHeader(
    { sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort, length, checksum: 0 },
    bytes,
    offset,
  );
  if (datagram.checksum !== false) {
    writeU16(bytes, offset + 6, udpChecksum(datagram.source, datagram.destination, bytes, offset, length));
  }
  return offset + length;
}

/** Header fields as given (Length recomputed from the payload), then the data. */
function encodeUdpDatagramValue(datagram: UdpDatagram, bytes: Uint8Array, offset = 0): number {
  const length = udpDatagramLength(datagram);
  checkUnsigned(LAYER, 'length', length, 16);
  ensureRoom(LAYER, bytes, offset, length);
  placeBytes(datagram.payload, bytes, offset + UDP_HEADER_LENGTH);
  encodeUdpHeader({ ...datagram.header, length }, bytes, offset);
  return offset + length;
}

export const udpHeaderCodec: Codec<UdpHeader> = {
  name: 'udp-header',
  decode: decodeUdpHeader,
  encode: encodeUdpHeader,
  encodingLength: udpHeaderLength,
};

/** Round-trips a datagram as received (the checksum is kept, not recomputed). */
export const udpDatagramCodec: Codec<UdpDatagram> = {
  name: 'udp-datagram',
  decode: decodeUdpDatagram,
  encode: encodeUdpDatagramValue,
  encodingLength: udpDatagramLength,
};
