/**
 * Generic ICMP (RFC 792) pieces: the checksum, the 4-byte header every ICMP message starts
 * with, and the messages later layers need besides agent discovery (agent-discovery.ts):
 *
 * - Echo Request / Echo Reply (types 8 / 0), so ping can run over the mobile data plane.
 * - Destination Unreachable / Time Exceeded (types 3 / 11), which the data plane sends and
 *   relays (RFC 5944 4.2) and which a foreign agent may receive instead of a Registration
 *   Reply (RFC 5944 3.7.3, codes 80-88).
 *
 * Every function here works on the ICMP message alone (what follows the IP header); the
 * message ends at `end`, as the IP Total Length says (RFC 5944 1.8). Decoders report a bad
 * checksum as `checksumValid: false` instead of failing, so the caller decides whether to
 * count and discard. Encoders always compute the checksum.
 */
import { type Codec, type DecodeResult, decoded, EncodeError, ensureRoom, wireError } from './codec.js';
import { checkUnsigned, decodeRangeError, internetChecksum, readU16, readU32, writeU16, writeU32 } from './bytes.js';

/** ICMP types used by mip4 (RFC 792, RFC 1256). */
export const IcmpType = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  Echo: 8,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
} as const;

/** Destination Unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1). */
export const UnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  /** Fragmentation needed and DF set; the next-hop MTU travels in the header (RFC 1191). */
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  NetUnknown: 6,
  HostUnknown: 7,
  SourceHostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetUnreachableForTos: 11,
  HostUnreachableForTos: 12,
  AdministrativelyProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
} as const;

/** Time Exceeded codes (RFC 792). */
export const TimeExceededCode = {
  TtlExceededInTransit: 0,
  FragmentReassemblyTimeExceeded: 1,
} as const;

/** Type, Code, Checksum. */
export const ICMP_HEADER_LENGTH = 4;
/** Header plus the second 32-bit word (identifier/sequence, unused, ...). */
export const ICMP_FIXED_LENGTH = 8;

/**
 * The Internet checksum of the ICMP message in bytes[start, end) (RFC 792: over the whole
 * ICMP message, no pseudo-header). Over a received message it is 0 when the Checksum field
 * verifies; to compute the field, zero it first (see writeIcmpChecksum).
 */
export function icmpChecksum(bytes: Uint8Array, start: number, end: number): number {
  return internetChecksum(bytes, start, end);
}

/** Zeroes the Checksum field of the ICMP message in bytes[start, end), computes and writes it. */
export function writeIcmpChecksum(bytes: Uint8Array, start: number, end: number): number {
  writeU16(bytes, start + 2, 0);
  const checksum = icmpChecksum(bytes, start, end);
  writeU16(bytes, start + 2, checksum);
  return checksum;
}

export interface IcmpHeader {
  readonly type: number;
  readonly code: number;
  /** The Checksum field as received. */
  readonly checksum: number;
  /** Whether the checksum over [offset, end) verifies. */
  readonly checksumValid: boolean;
}

/** Reads Type, Code and Checksum and verifies the checksum over the whole message [offset, end). */
export function decodeIcmpHeader(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<IcmpHeader> {
  const bad = decodeRangeError('icmp', bytes, offset, end, ICMP_HEADER_LENGTH);
  if (bad) return bad;
  return decoded(
    {
      type: bytes[offset]!,
      code: bytes[offset + 1]!,
      checksum: readU16(bytes, offset + 2),
      checksumValid: icmpChecksum(bytes, offset, end) === 0,
    },
    offset + ICMP_HEADER_LENGTH,
  );
}

// ---------------------------------------------------------------------------------------------
// Echo Request / Echo Reply (RFC 792)

export interface IcmpEcho {
  /** 8 = Echo Request, 0 = Echo Reply. */
  readonly icmpType: 0 | 8;
  /** 0 in RFC 792; any other value is kept. */
  readonly code: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  readonly checksumValid: boolean;
  readonly identifier: number;
  readonly sequence: number;
  /** Everything after the sequence number (a view into the decoded message). */
  readonly data: Uint8Array;
}

export function decodeIcmpEcho(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<IcmpEcho> {
  const layer = 'icmp-echo';
  const bad = decodeRangeError(layer, bytes, offset, end, ICMP_FIXED_LENGTH);
  if (bad) return bad;
  const type = bytes[offset]!;
  if (type !== IcmpType.Echo && type !== IcmpType.EchoReply) {
    return wireError(layer, 'bad-type', offset, `expected ICMP type 8 (Echo) or 0 (Echo Reply), found ${type}`);
  }
  return decoded(
    {
      icmpType: type,
      code: bytes[offset + 1]!,
      checksum: readU16(bytes, offset + 2),
      checksumValid: icmpChecksum(bytes, offset, end) === 0,
      identifier: readU16(bytes, offset + 4),
      sequence: readU16(bytes, offset + 6),
      data: bytes.subarray(offset + ICMP_FIXED_LENGTH, end),
    },
    end,
  );
}

export function icmpEchoLength(value: IcmpEcho): number {
  return ICMP_FIXED_LENGTH + value.data.length;
}

export function encodeIcmpEcho(value: IcmpEcho, bytes: Uint8Array, offset = 0): number {
  const layer = 'icmp-echo';
  if (value.icmpType !== IcmpType.Echo && value.icmpType !== IcmpType.EchoReply) {
    throw new EncodeError(layer, `icmpType must be 0 or 8, got ${String(value.icmpType)}`);
  }
  checkUnsigned(layer, 'code', value.code, 8);
  checkUnsigned(layer, 'identifier', value.identifier, 16);
  checkUnsigned(layer, 'sequence', value.sequence, 16);
  const length = icmpEchoLength(value);
  ensureRoom(layer, bytes, offset, length);
  bytes[offset] = value.icmpType;
  bytes[offset + 1] = value.code;
  writeU16(bytes, offset + 4, value.identifier);
  writeU16(bytes, offset + 6, value.sequence);
  bytes.set(value.data, offset + ICMP_FIXED_LENGTH);
  writeIcmpChecksum(bytes, offset, offset + length);
  return offset + length;
}

export const icmpEchoCodec: Codec<IcmpEcho> = {
  name: 'icmp-echo',
  decode: decodeIcmpEcho,
  encode: encodeIcmpEcho,
  encodingLength: icmpEchoLength,
};

// ---------------------------------------------------------------------------------------------
// Destination Unreachable / Time Exceeded (RFC 792)

export interface IcmpErrorMessage {
  /** 3 = Destination Unreachable, 11 = Time Exceeded. */
  readonly icmpType: 3 | 11;
  /** See UnreachableCode / TimeExceededCode; unknown codes are kept. */
  readonly code: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  readonly checksumValid: boolean;
  /**
   * The second 32-bit word, kept verbatim. "Unused" (zero) in RFC 792, except that for
   * Fragmentation Needed (type 3, code 4) its low 16 bits carry the next-hop MTU (RFC 1191);
   * see icmpNextHopMtu.
   */
  readonly unused: number;
  /**
   * The quoted original datagram: its IP header and at least the first 64 bits of its data
   * (RFC 792; RFC 1812 4.3.2.3 allows more). A view into the decoded message.
   */
  readonly original: Uint8Array;
}

export function decodeIcmpError(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<IcmpErrorMessage> {
  const layer = 'icmp-error';
  const bad = decodeRangeError(layer, bytes, offset, end, ICMP_FIXED_LENGTH);
  if (bad) return bad;
  const type = bytes[offset]!;
  if (type !== IcmpType.DestinationUnreachable && type !== IcmpType.TimeExceeded) {
    return wireError(
      layer,
      'bad-type',
      offset,
      `expected ICMP type 3 (Destination Unreachable) or 11 (Time Exceeded), found ${type}`,
    );
  }
  return decoded(
    {
      icmpType: type,
      code: bytes[offset + 1]!,
      checksum: readU16(bytes, offset + 2),
      checksumValid: icmpChecksum(bytes, offset, end) === 0,
      unused: readU32(bytes, offset + 4),
      original: bytes.subarray(offset + ICMP_FIXED_LENGTH, end),
    },
    end,
  );
}

export function icmpErrorLength(value: IcmpErrorMessage): number {
  return ICMP_FIXED_LENGTH + value.original.length;
}

export function encodeIcmpError(value: IcmpErrorMessage, bytes: Uint8Array, offset = 0): number {
  const layer = 'icmp-error';
  if (value.icmpType !== IcmpType.DestinationUnreachable && value.icmpType !== IcmpType.TimeExceeded) {
    throw new EncodeError(layer, `icmpType must be 3 or 11, got ${String(value.icmpType)}`);
  }
  checkUnsigned(layer, 'code', value.code, 8);
  checkUnsigned(layer, 'unused', value.unused, 32);
  const length = icmpErrorLength(value);
  ensureRoom(layer, bytes, offset, length);
  bytes[offset] = value.icmpType;
  bytes[offset + 1] = value.code;
  writeU32(bytes, offset + 4, value.unused);
  bytes.set(value.original, offset + ICMP_FIXED_LENGTH);
  writeIcmpChecksum(bytes, offset, offset + length);
  return offset + length;
}

export const icmpErrorCodec: Codec<IcmpErrorMessage> = {
  name: 'icmp-error',
  decode: decodeIcmpError,
  encode: encodeIcmpError,
  encodingLength: icmpErrorLength,
};

/** The next-hop MTU of a Fragmentation Needed message (RFC 1191); undefined for any other. */
export function icmpNextHopMtu(message: IcmpErrorMessage): number | undefined {
  if (message.icmpType !== IcmpType.DestinationUnreachable || message.code !== UnreachableCode.FragmentationNeeded) {
    return undefined;
  }
  return message.unused & 0xffff;
}

// ---------------------------------------------------------------------------------------------


