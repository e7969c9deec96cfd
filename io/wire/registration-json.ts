/**
 * A plain-JSON view of registration messages, field for field the `decoded` objects of the
 * interop vectors (testing/interop-vectors.json): for logs, the CLI, the inspector and
 * for comparing with other implementations. `registrationFromJson` is its inverse.
 *
 * Checking authenticators needs a MAC, which lives in policies/auth.ts; io/wire must not
 * import upward (nor node:crypto), so the caller passes the verifier in with the keys.
 */
import { EncodeError } from './codec.js';
import { ipv4, ipv4ToString, fromHex, toHex } from './bytes.js';
import { identificationFromHex, identificationToHex } from './identification.js';
import {
  AUTH_HEADER_LENGTH,
  ENCAPSULATING_DELIVERY_STYLE_TYPE,
  extensionLengthField,
  extensionTypeOf,
  requestFlagBits,
  toBytesRegistrationMessage,
  type RequestFlagBits,
} from './registration.js';
import {
  type AuthExtensionType,
  type ExtensionFormat,
  type ListedUdpTunnelReplyExtension,
  type ListedUdpTunnelRequestExtension,
  ExtensionType,
  REGISTRATION_REPLY,
  REGISTRATION_REQUEST,
  type RegistrationExtension,
  type RegistrationMessage,
} from './registration-types.js';
import { replyCodeText } from './reply-codes.js';
import {
  UDP_TUNNEL_EXTENSION_LENGTH,
  UDP_TUNNEL_REPLY_TYPE,
  UDP_TUNNEL_REQUEST_TYPE,
} from './udp-tunnel.js';

export interface PadExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
}

export interface AuthExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly spi: number;
  readonly authenticator: string;
  /** How many leading bytes of the message the authenticator covers (3.5.1). */
  readonly authenticated_bytes: number;
  /** Present only when a key for the SPI was supplied. */
  readonly authenticator_valid?: boolean;
}

export interface NaiExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly nai: string;
}

export interface UnknownExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  /** Absent for the 'rest' format, which has no Length field. */
  readonly length?: number;
  readonly skippable: boolean;
  readonly format: ExtensionFormat;
  readonly sub_type?: number;
  readonly data: string;
}

/** RFC 3024 3.3: no data. */
export interface EncapsulatingDeliveryStyleExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  readonly length: 0;
  readonly delivery_style: 'encapsulating';
}

/** RFC 3519 3.1 (field names follow Wireshark's mip.ext.utrq.*). */
export interface UdpTunnelRequestExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly sub_type: number;
  readonly reserved1: number;
  readonly force: boolean;
  readonly registration_through_fa: boolean;
  readonly reserved2: number;
  readonly encapsulation: number;
  readonly reserved3: number;
}

/** RFC 3519 3.2 (field names follow Wireshark's mip.ext.utrp.*). */
export interface UdpTunnelReplyExtensionJson {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly sub_type: number;
  readonly udp_tunnel_code: number;
  readonly forced: boolean;
  readonly reserved: number;
  readonly keepalive_interval: number;
}

export type ExtensionJson =
  | PadExtensionJson
  | AuthExtensionJson
  | NaiExtensionJson
  | EncapsulatingDeliveryStyleExtensionJson
  | UdpTunnelRequestExtensionJson
  | UdpTunnelReplyExtensionJson
  | UnknownExtensionJson;

export interface RegistrationRequestJson {
  readonly type: 1;
  readonly type_name: string;
  readonly flags: number;
  readonly flag_bits: RequestFlagBits;
  readonly lifetime: number;
  readonly home_address: string;
  readonly home_agent: string;
  readonly care_of_address: string;
  readonly identification: string;
  readonly identification_high: number;
  readonly identification_low: number;
  readonly extensions: readonly ExtensionJson[];
}

export interface RegistrationReplyJson {
  readonly type: 3;
  readonly type_name: string;
  readonly code: number;
  readonly code_text: string;
  readonly lifetime: number;
  readonly home_address: string;
  readonly home_agent: string;
  readonly identification: string;
  readonly identification_high: number;
  readonly identification_low: number;
  readonly extensions: readonly ExtensionJson[];
}

export type RegistrationJson = RegistrationRequestJson | RegistrationReplyJson;

/** A shared key and the algorithm its security context selects (3.5.1, 5.1). */
export interface SpiKey<Algorithm> {
  readonly algorithm: Algorithm;
  readonly key: Uint8Array;
}

/** Finds the key of an SPI, as a map or a function. */
export type SpiKeyLookup<Algorithm> =
  | ReadonlyMap<number, SpiKey<Algorithm>>
  | ((spi: number) => SpiKey<Algorithm> | undefined);

/** The shape of policies/auth.ts `verifyAuthenticator`, which callers normally pass. */
export type AuthenticatorVerifier<Algorithm> = (
  algorithm: Algorithm,
  key: Uint8Array,
  message: Uint8Array,
  extension: { readonly offset: number; readonly authenticator: Uint8Array },
) => boolean;

export interface RegistrationJsonOptions<Algorithm> {
  readonly keys: SpiKeyLookup<Algorithm>;
  readonly verify: AuthenticatorVerifier<Algorithm>;
}

const MESSAGE_NAMES = { [REGISTRATION_REQUEST]: 'Registration Request', [REGISTRATION_REPLY]: 'Registration Reply' };

/** Names of the extension types this codec interprets (1.8, 6.3; RFC 2794). */
const EXTENSION_NAMES: ReadonlyMap<number, string> = new Map([
  [ExtensionType.Pad, 'One-byte Padding'],
  [ExtensionType.MobileHomeAuth, 'Mobile-Home Authentication'],
  [ExtensionType.MobileForeignAuth, 'Mobile-Foreign Authentication'],
  [ExtensionType.ForeignHomeAuth, 'Foreign-Home Authentication'],
  [ExtensionType.EncapsulatingDeliveryStyle, 'Encapsulating Delivery Style (RFC 3024)'],
  [ExtensionType.MobileNodeNai, 'Mobile Node NAI (RFC 2794)'],
  [UDP_TUNNEL_REQUEST_TYPE, 'UDP Tunnel Request (RFC 3519)'],
  [UDP_TUNNEL_REPLY_TYPE, 'UDP Tunnel Reply (RFC 3519)'],
]);

/**
 * An NAI extension that is not UTF-8 is kept as an UnknownExtension of type 131 but still
 * carries its type's name.
 */
export function extensionName(type: number): string {
  return EXTENSION_NAMES.get(type) ?? (type >= 128 ? 'Unknown (skippable)' : 'Unknown (non-skippable)');
}

function keyOf<Algorithm>(keys: SpiKeyLookup<Algorithm>, spi: number): SpiKey<Algorithm> | undefined {
  return typeof keys === 'function' ? keys(spi) : keys.get(spi);
}

/**
 * The JSON view of `message`. With `options`, every authentication extension whose SPI has a
 * key gets `authenticator_valid`, checked over `bytes`: the message as received, starting at
 * its Type byte (extension offsets count from there). Without `bytes` the message is
 * re-encoded, which gives the same bytes for a decoded message.
 */
export function registrationToJson<Algorithm>(
  message: RegistrationMessage,
  bytes?: Uint8Array,
  options?: RegistrationJsonOptions<Algorithm>,
): RegistrationJson {
  let received = bytes;
  const messageBytes = (): Uint8Array => (received ??= toBytesRegistrationMessage(message));
  const extensions = message.extensions.map((extension) => extensionToJson(extension, messageBytes, options));
  const identification = {
    identification: identificationToHex(message.identification),
    identification_high: message.identification.high,
    identification_low: message.identification.low,
  };
  const addresses = { home_address: ipv4ToString(message.homeAddress), home_agent: ipv4ToString(message.homeAgent) };
  if (message.type === REGISTRATION_REQUEST) {
    return {
      type: message.type,
      type_name: MESSAGE_NAMES[message.type],
      flags: message.flags,
      flag_bits: requestFlagBits(message.flags),
      lifetime: message.lifetime,
      ...addresses,
      care_of_address: ipv4ToString(message.careOfAddress),
      ...identification,
      extensions,
    };
  }
  return {
    type: message.type,
    type_name: MESSAGE_NAMES[message.type],
    code: message.code,
    code_text: replyCodeText(message.code),
    lifetime: message.lifetime,
    ...addresses,
    ...identification,
    extensions,
  };
}

function extensionToJson<Algorithm>(
  extension: RegistrationExtension,
  messageBytes: () => Uint8Array,
  options: RegistrationJsonOptions<Algorithm> | undefined,
): ExtensionJson {
  const type = extensionTypeOf(extension);
  const head = { type, name: extensionName(type), offset: extension.offset };
  const length = extensionLengthField(extension);
  switch (extension.kind) {
    case 'pad':
      return head;
    case 'auth': {
      const json = {
        ...head,
        length: length!,
        spi: extension.spi,
        authenticator: toHex(extension.authenticator),
        // Type, Length and SPI of this extension close the covered range (3.5.1).
        authenticated_bytes: extension.offset + AUTH_HEADER_LENGTH,
      };
      const key = options === undefined ? undefined : keyOf(options.keys, extension.spi);
      if (options === undefined || key === undefined) return json;
      return { ...json, authenticator_valid: options.verify(key.algorithm, key.key, messageBytes(), extension) };
    }
    case 'nai':
      return { ...head, length: length!, nai: extension.nai };
    case 'encapsulating-delivery-style':
      return { ...head, length: 0, delivery_style: 'encapsulating' };
    case 'udp-tunnel-request':
      return {
        ...head,
        length: UDP_TUNNEL_EXTENSION_LENGTH,
        sub_type: extension.subType,
        reserved1: extension.reserved1,
        force: extension.force,
        registration_through_fa: extension.registrationThroughFa,
        reserved2: extension.reserved2,
        encapsulation: extension.encapsulation,
        reserved3: extension.reserved3,
      };
    case 'udp-tunnel-reply':
      return {
        ...head,
        length: UDP_TUNNEL_EXTENSION_LENGTH,
        sub_type: extension.subType,
        udp_tunnel_code: extension.code,
        forced: extension.forced,
        reserved: extension.reserved,
        keepalive_interval: extension.keepaliveInterval,
      };
    case 'unknown':
      return {
        ...head,
        ...(length === undefined ? {} : { length }),
        skippable: extension.skippable,
        format: extension.format,
        ...(extension.subType === undefined ? {} : { sub_type: extension.subType }),
        data: toHex(extension.data),
      };
  }
}

/**
 * The message a JSON view describes, for encoding (e.g. a vector's `decoded`). Offsets are
 * taken as given (the encoder ignores them); `flags` wins over `flag_bits`. Throws
 * EncodeError on a malformed view.
 */
export function registrationFromJson(json: RegistrationJson): RegistrationMessage {
  const common = {
    lifetime: json.lifetime,
    homeAddress: ipv4(json.home_address),
    homeAgent: ipv4(json.home_agent),
    identification: identificationFromHex(json.identification),
    extensions: json.extensions.map(extensionFromJson),
  };
  if (json.type === REGISTRATION_REQUEST) {
    return {
      type: json.type,
      flags: json.flags,
      lifetime: common.lifetime,
      homeAddress: common.homeAddress,
      homeAgent: common.homeAgent,
      careOfAddress: ipv4(json.care_of_address),
      identification: common.identification,
      extensions: common.extensions,
    };
  }
  if (json.type === REGISTRATION_REPLY) {
    return {
      type: json.type,
      code: json.code,
      lifetime: common.lifetime,
      homeAddress: common.homeAddress,
      homeAgent: common.homeAgent,
      identification: common.identification,
      extensions: common.extensions,
    };
  }
  throw new EncodeError('registration-json', `type ${(json as { type: unknown }).type} is neither 1 nor 3`);
}

function extensionFromJson(json: ExtensionJson): RegistrationExtension {
  const offset = json.offset;
  if ('spi' in json) {
    const type = json.type;
    if (type !== 32 && type !== 33 && type !== 34) {
      throw new EncodeError('registration-json', `extension type ${type} has an SPI but is not 32, 33 or 34`);
    }
    return { kind: 'auth', type: type as AuthExtensionType, offset, spi: json.spi, authenticator: fromHex(json.authenticator) };
  }
  if ('nai' in json) {
    if (json.type !== ExtensionType.MobileNodeNai) {
      throw new EncodeError('registration-json', `extension type ${json.type} has an NAI but is not 131`);
    }
    return { kind: 'nai', type: ExtensionType.MobileNodeNai, offset, nai: json.nai };
  }
  if ('registration_through_fa' in json) {
    const request: ListedUdpTunnelRequestExtension = {
      kind: 'udp-tunnel-request',
      type: UDP_TUNNEL_REQUEST_TYPE,
      offset,
      subType: json.sub_type,
      reserved1: json.reserved1,
      force: json.force,
      registrationThroughFa: json.registration_through_fa,
      reserved2: json.reserved2,
      encapsulation: json.encapsulation,
      reserved3: json.reserved3,
    };
    return request;
  }
  if ('keepalive_interval' in json) {
    const reply: ListedUdpTunnelReplyExtension = {
      kind: 'udp-tunnel-reply',
      type: UDP_TUNNEL_REPLY_TYPE,
      offset,
      subType: json.sub_type,
      code: json.udp_tunnel_code,
      forced: json.forced,
      reserved: json.reserved,
      keepaliveInterval: json.keepalive_interval,
    };
    return reply;
  }
  if ('delivery_style' in json) {
    return { kind: 'encapsulating-delivery-style', type: ENCAPSULATING_DELIVERY_STYLE_TYPE, offset };
  }
  if ('format' in json) {
    return {
      kind: 'unknown',
      type: json.type,
      offset,
      skippable: json.skippable,
      format: json.format,
      ...(json.sub_type === undefined ? {} : { subType: json.sub_type }),
      data: fromHex(json.data),
    };
  }
  if (json.type === ExtensionType.Pad) return { kind: 'pad', type: ExtensionType.Pad, offset };
  throw new EncodeError('registration-json', `extension type ${json.type} at ${offset} has no fields to encode it from`);
}
