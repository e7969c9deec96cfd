/**
 * Value types of the Mobile IP registration messages (RFC 5944 3.3, 3.4, 3.5) and their
 * extensions (1.9-1.11). Shared by the codec (registration.ts), the authentication policy and
 * the agents. Addresses are unsigned 32-bit numbers (see bytes.ts).
 */
import type { Ipv4Address } from './bytes.js';
import type { UdpTunnelReplyExtension, UdpTunnelRequestExtension } from './udp-tunnel.js';

export type { UdpTunnelReplyExtension, UdpTunnelRequestExtension } from './udp-tunnel.js';

export const REGISTRATION_REQUEST = 1;
export const REGISTRATION_REPLY = 3;
/** UDP port of Mobile IP control messages (1.8). */
export const MOBILE_IP_PORT = 434;

/** Flag bits of the Registration Request's second byte (3.3), most significant first. */
export const RequestFlag = {
  /** Simultaneous bindings. */
  S: 0x80,
  /** Broadcast datagrams. */
  B: 0x40,
  /** Decapsulation by mobile node (co-located care-of address). */
  D: 0x20,
  /** Minimal encapsulation. */
  M: 0x10,
  /** GRE encapsulation. */
  G: 0x08,
  /** Sent as zero; ignored on reception (3.3). */
  r: 0x04,
  /** Reverse tunnelling requested (RFC 3024). */
  T: 0x02,
  /** Sent as zero; ignored on reception (3.3). */
  x: 0x01,
} as const;
export type RequestFlagName = keyof typeof RequestFlag;

/** 64-bit Identification as two unsigned 32-bit halves (3.3, 5.7). */
export interface Identification {
  readonly high: number;
  readonly low: number;
}

/** Extension types of Mobile IP control messages (1.8, 3.5; NAI from RFC 2794). */
export const ExtensionType = {
  Pad: 0,
  MobileHomeAuth: 32,
  MobileForeignAuth: 33,
  ForeignHomeAuth: 34,
  /** RFC 3024 3.3: sent by a mobile node asking for the encapsulating delivery style. */
  EncapsulatingDeliveryStyle: 130,
  MobileNodeNai: 131,
  /** RFC 3519 3.2: the home agent's answer to a UDP Tunnel Request (not skippable). */
  UdpTunnelReply: 44,
  /** RFC 3519 3.1: a node behind a NAT asks for UDP tunnelling (skippable). */
  UdpTunnelRequest: 144,
} as const;

export type AuthExtensionType = 32 | 33 | 34;

interface ExtensionBase {
  /**
   * Offset of the extension's Type byte from the start of the registration message.
   * Set by the decoder; the encoder ignores it (extensions are written in list order).
   */
  readonly offset: number;
}

/** One-byte Padding: a lone Type byte, no Length (1.8). */
export interface PadExtension extends ExtensionBase {
  readonly kind: 'pad';
  readonly type: 0;
}

/**
 * Mobile-Home (32), Mobile-Foreign (33) or Foreign-Home (34) Authentication Extension
 * (3.5.2-3.5.4): Type, Length = 4 + authenticator length, SPI, Authenticator.
 */
export interface AuthExtension extends ExtensionBase {
  readonly kind: 'auth';
  readonly type: AuthExtensionType;
  readonly spi: number;
  /** A view into the decoded message (no copy), or the bytes to encode. */
  readonly authenticator: Uint8Array;
}

/** Mobile Node NAI extension (RFC 2794): Type 131, Length, NAI in UTF-8. */
export interface NaiExtension extends ExtensionBase {
  readonly kind: 'nai';
  readonly type: 131;
  readonly nai: string;
}

/**
 * Encapsulating Delivery Style Extension (RFC 3024 3.3): Type 130, Length 0, no data. Skippable
 * (128-255). `type` may be left out when building one; the encoder writes 130.
 */
export interface EncapsulatingDeliveryStyleExtension extends ExtensionBase {
  readonly kind: 'encapsulating-delivery-style';
  readonly type?: 130;
}

/**
 * How an extension not known to this codec is laid out:
 * - 'tlv':   Type, Length (8 bit), Data (1.9)
 * - 'short': Type, Length (8 bit, = 1 + data length), Sub-Type, Data (1.11)
 * - 'long':  Type, Sub-Type, Length (16 bit), Data (1.10)
 * - 'rest':  an unrecognised non-skippable type (0-127) whose layout cannot be known;
 *            everything after its Type byte up to the end of the message is kept as data.
 */
export type ExtensionFormat = 'tlv' | 'short' | 'long' | 'rest';

/** Any extension this codec does not interpret, kept verbatim so it round-trips. */
export interface UnknownExtension extends ExtensionBase {
  readonly kind: 'unknown';
  readonly type: number;
  /** Types 128-255 are skippable; 0-127 not: an unrecognised one discards the message (1.8). */
  readonly skippable: boolean;
  readonly format: ExtensionFormat;
  /** Present for the 'short' and 'long' formats. */
  readonly subType?: number;
  /** The Data field (a view into the decoded message). */
  readonly data: Uint8Array;
}

export type RegistrationExtension =
  | PadExtension
  | AuthExtension
  | NaiExtension
  | EncapsulatingDeliveryStyleExtension
  | ListedUdpTunnelRequestExtension
  | ListedUdpTunnelReplyExtension
  | UnknownExtension;

/**
 * RFC 3519's extensions as members of an extension list: with an offset, like every other
 * member (build them with `offset: 0`; the encoder ignores it).
 */
export type ListedUdpTunnelRequestExtension = UdpTunnelRequestExtension & ExtensionBase;
export type ListedUdpTunnelReplyExtension = UdpTunnelReplyExtension & ExtensionBase;

export interface RegistrationRequest {
  readonly type: 1;
  /** The whole flags byte exactly as received (see RequestFlag), reserved bits included. */
  readonly flags: number;
  /** Seconds; 0 = deregistration, 0xffff = infinity. */
  readonly lifetime: number;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly identification: Identification;
  readonly extensions: readonly RegistrationExtension[];
}

export interface RegistrationReply {
  readonly type: 3;
  readonly code: number;
  readonly lifetime: number;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly identification: Identification;
  readonly extensions: readonly RegistrationExtension[];
}

export type RegistrationMessage = RegistrationRequest | RegistrationReply;

/** Length of the fixed part before the extensions. */
export const REQUEST_FIXED_LENGTH = 24;
export const REPLY_FIXED_LENGTH = 20;

/** An infinite lifetime (3.3, 3.4). */
export const INFINITE_LIFETIME = 0xffff;
