/**
 * Mobile IP traversal of NAT devices (RFC 3519): the UDP Tunnel Request extension (type 144,
 * RFC 3519 3.1), the UDP Tunnel Reply extension (type 44, 3.2) and the tunnel data message
 * (Mobile IP message type 4 on UDP port 434, 3.3) that carries a tunnelled datagram over the
 * registration's UDP flow through the NAT.
 *
 * The two extensions sit in the registration extension list (registration.ts decodes and
 * encodes them through the functions here). Both have the short layout Type, Length, Sub-Type
 * followed by three bytes of fields, Length 6. An extension of either type with another Length
 * is kept as an UnknownExtension (so the message still round-trips) and
 * `malformedUdpTunnelExtension` names it, for the agents to refuse as a poorly formed Request
 * (134 at the home agent, 70 at the foreign agent), as they do other malformed extensions.
 *
 * The tunnel data header helpers are for the data planes: they write or read four bytes in
 * place and allocate nothing.
 */
import { type DecodeResult, decoded, type WireError, wireError } from './codec.js';
import { readU16, writeU16 } from './bytes.js';

/** RFC 3519 3.1: skippable (128-255), so a home agent without RFC 3519 ignores it (1.8). */
export const UDP_TUNNEL_REQUEST_TYPE = 144;
/** RFC 3519 3.2: not skippable; only a home agent that knows RFC 3519 sends it. */
export const UDP_TUNNEL_REPLY_TYPE = 44;
/** RFC 3519 3.3: the Mobile IP message type of a tunnel data message on UDP port 434. */
export const TUNNEL_DATA_MESSAGE_TYPE = 4;
/** RFC 3519 3.3: Type, Next Header, Reserved (16 bits). */
export const TUNNEL_DATA_HEADER_LENGTH = 4;
/** RFC 3519 3.1, 3.2: the Length field of both extensions (Sub-Type plus five bytes of fields). */
export const UDP_TUNNEL_EXTENSION_LENGTH = 6;
/** Type, Length and the six bytes the Length counts. */
export const UDP_TUNNEL_EXTENSION_SIZE = 2 + UDP_TUNNEL_EXTENSION_LENGTH;
/** RFC 3519 3.2: the keepalive interval a home agent grants when nothing else is configured. */
export const DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS = 110;

/** RFC 3519 3.1 'F': the node asks for UDP tunnelling even if the home agent sees no NAT. */
const REQUEST_FORCE = 0x80;
/** RFC 3519 3.1 'R': the node registers through a foreign agent whose advertisement had 'R'. */
const REQUEST_REGISTRATION_THROUGH_FA = 0x40;
/** The six bits after F and R ("Reserved 2"). */
const REQUEST_RESERVED2_MASK = 0x3f;
/** RFC 3519 3.2 'F': the home agent tunnels over UDP because the node forced it. */
const REPLY_FORCED = 0x8000;
const REPLY_RESERVED_MASK = 0x7fff;

/** What a tunnel data message or the Request's Encapsulation field may carry (RFC 3519 3.1, 3.3). */
export const TunnelNextHeader = {
  IpInIp: 4,
  Gre: 47,
  Minimal: 55,
} as const;

/** Codes of the UDP Tunnel Reply extension (RFC 3519 3.2); 0-63 accept, 64-255 decline. */
export const UdpTunnelReplyCode = {
  WillTunnel: 0,
  Declined: 64,
} as const;

/** RFC 3519 3.1: the UDP Tunnel Request extension, as decoded or to encode. */
export interface UdpTunnelRequestExtension {
  readonly kind: 'udp-tunnel-request';
  readonly type: 144;
  /** Offset of the Type byte from the message start; set by the decoder, ignored by the encoder. */
  readonly offset?: number;
  /** 0 is the only Sub-Type RFC 3519 defines. */
  readonly subType: number;
  /** F: tunnel over UDP even if no NAT is detected. */
  readonly force: boolean;
  /** R: the foreign agent's advertisement had 'R' (registration through it required). */
  readonly registrationThroughFa: boolean;
  /** IP protocol number of what is tunnelled in UDP: 4, 47 or 55. */
  readonly encapsulation: number;
  /** Reserved fields, kept so that a received extension re-encodes byte for byte. */
  readonly reserved1: number;
  readonly reserved2: number;
  readonly reserved3: number;
}

/** RFC 3519 3.2: the UDP Tunnel Reply extension, as decoded or to encode. */
export interface UdpTunnelReplyExtension {
  readonly kind: 'udp-tunnel-reply';
  readonly type: 44;
  /** Offset of the Type byte from the message start; set by the decoder, ignored by the encoder. */
  readonly offset?: number;
  /** 0 is the only Sub-Type RFC 3519 defines. */
  readonly subType: number;
  /** 0 will do tunnelling, 64 tunnelling declined (UdpTunnelReplyCode). */
  readonly code: number;
  /** F: tunnelling is used because the node forced it. */
  readonly forced: boolean;
  /** Seconds between keepalives the node should keep to (0: the node's default). */
  readonly keepaliveInterval: number;
  /** The 15 reserved bits after F. */
  readonly reserved: number;
}

// ---------------------------------------------------------------------------------------
// Tunnel data header (RFC 3519 3.3), for the data planes: no allocation, no exceptions.

/** Writes the 4-byte tunnel data header at `offset` (no allocation); nextHeader 4 IP-in-IP, 55 minimal, 47 GRE. */
export function writeTunnelDataHeader(bytes: Uint8Array, offset: number, nextHeader: number): void {
  bytes[offset] = TUNNEL_DATA_MESSAGE_TYPE;
  bytes[offset + 1] = nextHeader;
  // Reserved: sent as zero (3.3).
  bytes[offset + 2] = 0;
  bytes[offset + 3] = 0;
}

/** Next Header of a tunnel data message at `offset`, or -1 when it is not one (type ≠ 4, too short). */
export function tunnelDataNextHeader(bytes: Uint8Array, offset: number, end: number): number {
  if (offset < 0 || end > bytes.length || end - offset < TUNNEL_DATA_HEADER_LENGTH) return -1;
  if (bytes[offset] !== TUNNEL_DATA_MESSAGE_TYPE) return -1;
  return bytes[offset + 1]!;
}

/** A decoded tunnel data message: its header and a view of what it carries. */
export interface TunnelDataMessage {
  readonly type: 4;
  readonly nextHeader: number;
  readonly reserved: number;
  /** The tunnelled datagram (or minimal/GRE header and datagram), a view into the input. */
  readonly payload: Uint8Array;
}

const DATA_LAYER = 'tunnel-data';

/** Reads a whole tunnel data message (for `mip4 decode` and tests; the data planes use the helpers above). */
export function decodeTunnelDataMessage(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<TunnelDataMessage> {
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end > bytes.length || offset > end) {
    return wireError(DATA_LAYER, 'truncated', Math.max(0, Math.min(bytes.length, Number.isInteger(offset) ? offset : 0)),
      `range [${offset}, ${end}) is not inside the ${bytes.length}-byte buffer`);
  }
  if (end - offset < TUNNEL_DATA_HEADER_LENGTH) {
    return wireError(DATA_LAYER, 'truncated', offset,
      `a tunnel data message needs ${TUNNEL_DATA_HEADER_LENGTH} header bytes, ${end - offset} given (RFC 3519 3.3)`);
  }
  if (bytes[offset] !== TUNNEL_DATA_MESSAGE_TYPE) {
    return wireError(DATA_LAYER, 'bad-type', offset, `Type ${bytes[offset]} is not 4 (tunnel data, RFC 3519 3.3)`);
  }
  return decoded(
    {
      type: TUNNEL_DATA_MESSAGE_TYPE,
      nextHeader: bytes[offset + 1]!,
      reserved: readU16(bytes, offset + 2),
      payload: bytes.subarray(offset + TUNNEL_DATA_HEADER_LENGTH, end),
    },
    end,
  );
}

// ---------------------------------------------------------------------------------------
// Extensions (RFC 3519 3.1, 3.2), used by the registration codec.

/**
 * The extension at `position` (whose Type byte is 144 or 44 and whose Length byte lies before
 * `end`), or undefined when its Length is not 6: the caller keeps such an extension as an
 * UnknownExtension. `offset` is the position relative to the message start.
 */
export function readUdpTunnelExtension(
  bytes: Uint8Array,
  position: number,
  end: number,
  offset: number,
): UdpTunnelRequestExtension | UdpTunnelReplyExtension | undefined {
  if (bytes[position + 1] !== UDP_TUNNEL_EXTENSION_LENGTH || position + UDP_TUNNEL_EXTENSION_SIZE > end) return undefined;
  const subType = bytes[position + 2]!;
  if (bytes[position] === UDP_TUNNEL_REQUEST_TYPE) {
    const flags = bytes[position + 4]!;
    return {
      kind: 'udp-tunnel-request',
      type: UDP_TUNNEL_REQUEST_TYPE,
      offset,
      subType,
      reserved1: bytes[position + 3]!,
      force: (flags & REQUEST_FORCE) !== 0,
      registrationThroughFa: (flags & REQUEST_REGISTRATION_THROUGH_FA) !== 0,
      reserved2: flags & REQUEST_RESERVED2_MASK,
      encapsulation: bytes[position + 5]!,
      reserved3: readU16(bytes, position + 6),
    };
  }
  const flags = readU16(bytes, position + 4);
  return {
    kind: 'udp-tunnel-reply',
    type: UDP_TUNNEL_REPLY_TYPE,
    offset,
    subType,
    code: bytes[position + 3]!,
    forced: (flags & REPLY_FORCED) !== 0,
    reserved: flags & REPLY_RESERVED_MASK,
    keepaliveInterval: readU16(bytes, position + 6),
  };
}

/** The fields out of range for their bits, as "name value" texts (empty when it can be encoded). */
export function udpTunnelExtensionProblems(extension: UdpTunnelRequestExtension | UdpTunnelReplyExtension): string[] {
  const problems: string[] = [];
  const check = (name: string, value: number, max: number) => {
    if (!Number.isInteger(value) || value < 0 || value > max) problems.push(`${name} ${value} is not an integer in 0..${max}`);
  };
  check('Sub-Type', extension.subType, 0xff);
  if (extension.kind === 'udp-tunnel-request') {
    check('Reserved 1', extension.reserved1, 0xff);
    check('Reserved 2', extension.reserved2, REQUEST_RESERVED2_MASK);
    check('Encapsulation', extension.encapsulation, 0xff);
    check('Reserved 3', extension.reserved3, 0xffff);
  } else {
    check('Reply Code', extension.code, 0xff);
    check('Reserved', extension.reserved, REPLY_RESERVED_MASK);
    check('Keepalive Interval', extension.keepaliveInterval, 0xffff);
  }
  return problems;
}

/** Writes the extension (8 bytes, room already checked) at `position`; returns the next position. */
export function writeUdpTunnelExtension(
  extension: UdpTunnelRequestExtension | UdpTunnelReplyExtension,
  bytes: Uint8Array,
  position: number,
): number {
  bytes[position + 1] = UDP_TUNNEL_EXTENSION_LENGTH;
  bytes[position + 2] = extension.subType;
  if (extension.kind === 'udp-tunnel-request') {
    bytes[position] = UDP_TUNNEL_REQUEST_TYPE;
    bytes[position + 3] = extension.reserved1;
    bytes[position + 4] =
      (extension.force ? REQUEST_FORCE : 0) |
      (extension.registrationThroughFa ? REQUEST_REGISTRATION_THROUGH_FA : 0) |
      extension.reserved2;
    bytes[position + 5] = extension.encapsulation;
    writeU16(bytes, position + 6, extension.reserved3);
  } else {
    bytes[position] = UDP_TUNNEL_REPLY_TYPE;
    bytes[position + 3] = extension.code;
    writeU16(bytes, position + 4, (extension.forced ? REPLY_FORCED : 0) | extension.reserved);
    writeU16(bytes, position + 6, extension.keepaliveInterval);
  }
  return position + UDP_TUNNEL_EXTENSION_SIZE;
}

/** A UDP Tunnel Request extension with the reserved fields zero (as RFC 3519 3.1 says to send them), offset 0 for a list. */
export function udpTunnelRequest(fields: {
  readonly force?: boolean;
  readonly registrationThroughFa?: boolean;
  readonly encapsulation?: number;
}): UdpTunnelRequestExtension & { readonly offset: number } {
  return {
    kind: 'udp-tunnel-request',
    type: UDP_TUNNEL_REQUEST_TYPE,
    offset: 0,
    subType: 0,
    force: fields.force ?? false,
    registrationThroughFa: fields.registrationThroughFa ?? false,
    encapsulation: fields.encapsulation ?? TunnelNextHeader.IpInIp,
    reserved1: 0,
    reserved2: 0,
    reserved3: 0,
  };
}

/** A UDP Tunnel Reply extension with the reserved bits zero (RFC 3519 3.2), offset 0 for a list. */
export function udpTunnelReply(fields: {
  readonly code: number;
  readonly forced?: boolean;
  readonly keepaliveInterval: number;
}): UdpTunnelReplyExtension & { readonly offset: number } {
  return {
    kind: 'udp-tunnel-reply',
    type: UDP_TUNNEL_REPLY_TYPE,
    offset: 0,
    subType: 0,
    code: fields.code,
    forced: fields.forced ?? false,
    keepaliveInterval: fields.keepaliveInterval,
    reserved: 0,
  };
}

/** The shape of an extension list entry this module needs to look at (kept structural to avoid an import cycle). */
interface ListedExtension {
  readonly kind: string;
  readonly type?: number;
  readonly offset?: number;
  readonly data?: Uint8Array;
}

/** The message's (first) UDP Tunnel Request extension, if any. */
export function udpTunnelRequestOf(extensions: readonly ListedExtension[]): UdpTunnelRequestExtension | undefined {
  for (const extension of extensions) if (extension.kind === 'udp-tunnel-request') return extension as UdpTunnelRequestExtension;
  return undefined;
}

/** The message's (first) UDP Tunnel Reply extension, if any. */
export function udpTunnelReplyOf(extensions: readonly ListedExtension[]): UdpTunnelReplyExtension | undefined {
  for (const extension of extensions) if (extension.kind === 'udp-tunnel-reply') return extension as UdpTunnelReplyExtension;
  return undefined;
}

/**
 * The first UDP Tunnel Request or Reply extension whose Length is not 6, as a wire error
 * naming it (offset relative to the message start), or undefined. The decoder keeps such an
 * extension as an UnknownExtension; the home agent refuses the Request with 134 and the
 * foreign agent with 70, as for any poorly formed extension (RFC 5944 3.8.2.1, 3.7.2.1).
 */
export function malformedUdpTunnelExtension(extensions: readonly ListedExtension[]): WireError | undefined {
  for (const extension of extensions) {
    if (extension.kind !== 'unknown') continue;
    if (extension.type !== UDP_TUNNEL_REQUEST_TYPE && extension.type !== UDP_TUNNEL_REPLY_TYPE) continue;
    const name = extension.type === UDP_TUNNEL_REQUEST_TYPE ? 'UDP Tunnel Request' : 'UDP Tunnel Reply';
    const section = extension.type === UDP_TUNNEL_REQUEST_TYPE ? '3.1' : '3.2';
    const length = extension.data?.length ?? 0;
    return {
      layer: 'udp-tunnel',
      reason: 'bad-length',
      offset: (extension.offset ?? 0) + 1,
      message: `${name} extension (type ${extension.type}) at offset ${extension.offset ?? 0} has Length ${length}, not ${UDP_TUNNEL_EXTENSION_LENGTH} (RFC 3519 ${section})`,
    };
  }
  return undefined;
}
