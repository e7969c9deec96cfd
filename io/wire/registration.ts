/**
 * Codecs of the Registration Request (RFC 5944 3.3) and Registration Reply (3.4), with
 * their extension list (1.8-1.11, 3.5) and the Mobile Node NAI extension (RFC 2794).
 *
 * A registration message is a UDP payload: it ends where the datagram ends (1.8), so the
 * decoders read extensions up to `end` and report `next = end`. Extension offsets in the
 * decoded value are relative to the message's first byte (the `offset` argument), because
 * that is the origin of the authenticated range (3.5.1, policies/auth.ts). Error offsets,
 * like every WireError, are positions in the buffer passed to the decoder.
 *
 * The codec interprets types 0, 32, 33, 34, 44 and 144 (RFC 3519 3.1, 3.2, see udp-tunnel.ts), 130
 * (RFC 3024 3.3) and 131 and keeps every other extension as an
 * UnknownExtension so that it round-trips byte-exactly; deciding what an unknown extension
 * means for the message (1.8) is the agents' job, helped by
 * `unrecognizedNonSkippableExtension`.
 */
import {
  type Codec,
  type DecodeResult,
  EncodeError,
  type WireError,
  decoded,
  encodeToBytes,
  ensureRoom,
  wireError,
} from './codec.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { readIdentification, writeIdentification } from './identification.js';
import {
  readUdpTunnelExtension,
  UDP_TUNNEL_EXTENSION_SIZE,
  UDP_TUNNEL_REPLY_TYPE,
  UDP_TUNNEL_REQUEST_TYPE,
  udpTunnelExtensionProblems,
  writeUdpTunnelExtension,
} from './udp-tunnel.js';
import {
  type AuthExtension,
  type EncapsulatingDeliveryStyleExtension,
  type ExtensionFormat,
  ExtensionType,
  type NaiExtension,
  REGISTRATION_REPLY,
  REGISTRATION_REQUEST,
  REPLY_FIXED_LENGTH,
  REQUEST_FIXED_LENGTH,
  type RegistrationExtension,
  type RegistrationMessage,
  type RegistrationReply,
  type RegistrationRequest,
  RequestFlag,
  type RequestFlagName,
  type UnknownExtension,
} from './registration-types.js';

/** RFC 3024 3.3: the Encapsulating Delivery Style Extension's Type (skippable, Length 0). */
export const ENCAPSULATING_DELIVERY_STYLE_TYPE = 130;

/** An extension's Type: the value's, or 130 for an Encapsulating Delivery Style extension built without one. */
export function extensionTypeOf(extension: RegistrationExtension): number {
  return extension.type ?? ENCAPSULATING_DELIVERY_STYLE_TYPE;
}

const REQUEST_LAYER = 'registration-request';
const REPLY_LAYER = 'registration-reply';
const MESSAGE_LAYER = 'registration';

/**
 * Type (1) + Length (1) + SPI (4) of an authentication extension (3.5.2): the part of it
 * inside its own authenticated range (3.5.1).
 */
export const AUTH_HEADER_LENGTH = 6;
/** The Length of an authentication extension counts the 4-byte SPI before the authenticator (3.5.2). */
const SPI_LENGTH = 4;
/** Type, Sub-Type, 16-bit Length (1.10). */
const LONG_HEADER_LENGTH = 4;
/** Type, Length, Sub-Type (1.11). */
const SHORT_HEADER_LENGTH = 3;
const TLV_HEADER_LENGTH = 2;

/** A layout a caller can declare for an extension type the codec does not interpret. */
export type DeclaredExtensionFormat = Exclude<ExtensionFormat, 'rest'>;

export interface RegistrationDecodeOptions {
  /**
   * The layout of extension types this codec does not interpret (anything but 0, 32, 33, 34
   * and 131, whose layouts are fixed). Without a declaration, types 128-255 are read as TLV
   * (1.8: their Length is used to skip them) and types 0-127 as 'rest'. A 'long'
   * declaration for a type 128-255 is ignored: skippable extensions never use the long
   * format, and receivers read the byte after their Type as the Length (1.10).
   */
  readonly extensionFormats?: ReadonlyMap<number, DeclaredExtensionFormat>;
}

// ---------------------------------------------------------------------------------------
// Flags (3.3)

export type RequestFlagBits = { readonly [K in RequestFlagName]: boolean };

const FLAG_NAMES = Object.keys(RequestFlag) as RequestFlagName[];

/** The eight bits of a Request's flags byte by name, S first, reserved r and x included. */
export function requestFlagBits(flags: number): RequestFlagBits {
  const bits = {} as Record<RequestFlagName, boolean>;
  for (const name of FLAG_NAMES) bits[name] = (flags & RequestFlag[name]) !== 0;
  return bits;
}

/** The flags byte with the named bits set; bits not mentioned are zero. */
export function flagsFromBits(bits: Partial<RequestFlagBits>): number {
  let flags = 0;
  for (const name of FLAG_NAMES) if (bits[name] === true) flags |= RequestFlag[name];
  return flags;
}

// ---------------------------------------------------------------------------------------
// Decoding

type Failure = { readonly ok: false; readonly error: WireError };

/** The range must lie inside the buffer and hold the message's Type byte. */
function checkRange(layer: string, bytes: Uint8Array, offset: number, end: number): Failure | undefined {
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end > bytes.length) {
    const at = Number.isInteger(offset) && offset >= 0 ? Math.min(offset, bytes.length) : 0;
    return wireError(layer, 'truncated', at, `range [${offset}, ${end}) is not inside the ${bytes.length}-byte buffer`);
  }
  if (offset >= end) return wireError(layer, 'truncated', offset, 'empty message: no Type byte');
  return undefined;
}

function checkFixedPart(layer: string, offset: number, end: number, fixed: number, what: string): Failure | undefined {
  if (end - offset >= fixed) return undefined;
  return wireError(layer, 'truncated', offset, `${what} needs ${fixed} bytes before its extensions, found ${end - offset}`);
}

export function decodeRegistrationRequest(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
  options?: RegistrationDecodeOptions,
): DecodeResult<RegistrationRequest> {
  const range = checkRange(REQUEST_LAYER, bytes, offset, end);
  if (range) return range;
  if (bytes[offset] !== REGISTRATION_REQUEST) {
    return wireError(REQUEST_LAYER, 'bad-type', offset, `Type ${bytes[offset]} is not 1 (Registration Request)`);
  }
  const short = checkFixedPart(REQUEST_LAYER, offset, end, REQUEST_FIXED_LENGTH, 'a Registration Request');
  if (short) return short;
  const extensions = decodeExtensions(REQUEST_LAYER, bytes, offset, offset + REQUEST_FIXED_LENGTH, end, options);
  if (!extensions.ok) return extensions;
  return decoded(
    {
      type: REGISTRATION_REQUEST,
      flags: bytes[offset + 1]!,
      lifetime: readU16(bytes, offset + 2),
      homeAddress: readU32(bytes, offset + 4),
      homeAgent: readU32(bytes, offset + 8),
      careOfAddress: readU32(bytes, offset + 12),
      identification: readIdentification(bytes, offset + 16),
      extensions: extensions.value,
    },
    end,
  );
}

export function decodeRegistrationReply(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
  options?: RegistrationDecodeOptions,
): DecodeResult<RegistrationReply> {
  const range = checkRange(REPLY_LAYER, bytes, offset, end);
  if (range) return range;
  if (bytes[offset] !== REGISTRATION_REPLY) {
    return wireError(REPLY_LAYER, 'bad-type', offset, `Type ${bytes[offset]} is not 3 (Registration Reply)`);
  }
  const short = checkFixedPart(REPLY_LAYER, offset, end, REPLY_FIXED_LENGTH, 'a Registration Reply');
  if (short) return short;
  const extensions = decodeExtensions(REPLY_LAYER, bytes, offset, offset + REPLY_FIXED_LENGTH, end, options);
  if (!extensions.ok) return extensions;
  return decoded(
    {
      type: REGISTRATION_REPLY,
      code: bytes[offset + 1]!,
      lifetime: readU16(bytes, offset + 2),
      homeAddress: readU32(bytes, offset + 4),
      homeAgent: readU32(bytes, offset + 8),
      identification: readIdentification(bytes, offset + 12),
      extensions: extensions.value,
    },
    end,
  );
}

/** Reads whichever registration message the Type byte names (1.8, 6.1). */
export function decodeRegistrationMessage(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
  options?: RegistrationDecodeOptions,
): DecodeResult<RegistrationMessage> {
  const range = checkRange(MESSAGE_LAYER, bytes, offset, end);
  if (range) return range;
  const type = bytes[offset];
  if (type === REGISTRATION_REQUEST) return decodeRegistrationRequest(bytes, offset, end, options);
  if (type === REGISTRATION_REPLY) return decodeRegistrationReply(bytes, offset, end, options);
  return wireError(MESSAGE_LAYER, 'bad-type', offset, `Type ${type} is neither 1 (Request) nor 3 (Reply)`);
}

function decodeExtensions(
  layer: string,
  bytes: Uint8Array,
  messageStart: number,
  start: number,
  end: number,
  options: RegistrationDecodeOptions | undefined,
): DecodeResult<RegistrationExtension[]> {
  const extensions: RegistrationExtension[] = [];
  const formats = options?.extensionFormats;
  let position = start;
  // The list ends where the datagram ends (1.8).
  while (position < end) {
    const extension = decodeExtension(layer, bytes, messageStart, position, end, formats);
    if (!extension.ok) return extension;
    extensions.push(extension.value);
    position = extension.next;
  }
  return decoded(extensions, position);
}

function truncatedExtension(layer: string, position: number, type: number, needed: number, end: number): Failure {
  return wireError(
    layer,
    'truncated',
    position,
    `extension type ${type} at ${position} needs ${needed} bytes, the message has ${end - position} left`,
  );
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeExtension(
  layer: string,
  bytes: Uint8Array,
  messageStart: number,
  position: number,
  end: number,
  formats: ReadonlyMap<number, DeclaredExtensionFormat> | undefined,
): DecodeResult<RegistrationExtension> {
  const type = bytes[position]!;
  const offset = position - messageStart;
  switch (type) {
    case ExtensionType.Pad:
      // The only extension without a Length (1.8).
      return decoded({ kind: 'pad', type: ExtensionType.Pad, offset }, position + 1);
    case ExtensionType.MobileHomeAuth:
    case ExtensionType.MobileForeignAuth:
    case ExtensionType.ForeignHomeAuth:
      return decodeAuthExtension(layer, bytes, type, offset, position, end);
    case ExtensionType.MobileNodeNai:
      return decodeNaiExtension(layer, bytes, offset, position, end);
    case ExtensionType.EncapsulatingDeliveryStyle: {
      // RFC 3024 3.3: Length 0. Another Length is kept as an unknown skippable extension so
      // that the message round-trips; the foreign agent refuses it as poorly formed.
      if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
      if (bytes[position + 1] === 0) {
        const style: EncapsulatingDeliveryStyleExtension = { kind: 'encapsulating-delivery-style', type: ExtensionType.EncapsulatingDeliveryStyle, offset };
        return decoded(style, position + TLV_HEADER_LENGTH);
      }
      break;
    }
    case UDP_TUNNEL_REQUEST_TYPE:
    case UDP_TUNNEL_REPLY_TYPE: {
      // RFC 3519 3.1, 3.2: Length 6. Another Length is kept as a TLV unknown extension (its
      // layout is known even for the non-skippable 44) so the message round-trips;
      // malformedUdpTunnelExtension names it for the agents to refuse as poorly formed.
      if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
      const tunnel = readUdpTunnelExtension(bytes, position, end, offset) as RegistrationExtension | undefined;
      if (tunnel !== undefined) return decoded(tunnel, position + UDP_TUNNEL_EXTENSION_SIZE);
      return decodeUnknownExtension(layer, bytes, type, offset, position, end, 'tlv');
    }
  }
  return decodeUnknownExtension(layer, bytes, type, offset, position, end, formatOf(type, formats));
}

function formatOf(type: number, formats: ReadonlyMap<number, DeclaredExtensionFormat> | undefined): ExtensionFormat {
  const skippable = type >= 128;
  const declared = formats?.get(type);
  if (declared !== undefined && !(skippable && declared === 'long')) return declared;
  // Without a declaration only a skippable type is known to carry an 8-bit Length (1.8, 1.10).
  return skippable ? 'tlv' : 'rest';
}

function decodeAuthExtension(
  layer: string,
  bytes: Uint8Array,
  type: 32 | 33 | 34,
  offset: number,
  position: number,
  end: number,
): DecodeResult<AuthExtension> {
  if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
  const length = bytes[position + 1]!;
  if (length < SPI_LENGTH) {
    return wireError(layer, 'bad-length', position + 1,
      `authentication extension type ${type} has Length ${length}, less than its 4-byte SPI (3.5.2)`);
  }
  const next = position + TLV_HEADER_LENGTH + length;
  if (next > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH + length, end);
  return decoded(
    {
      kind: 'auth',
      type,
      offset,
      spi: readU32(bytes, position + TLV_HEADER_LENGTH),
      authenticator: bytes.subarray(position + AUTH_HEADER_LENGTH, next),
    },
    next,
  );
}

function decodeNaiExtension(
  layer: string,
  bytes: Uint8Array,
  offset: number,
  position: number,
  end: number,
): DecodeResult<NaiExtension | UnknownExtension> {
  const type = ExtensionType.MobileNodeNai;
  if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
  const next = position + TLV_HEADER_LENGTH + bytes[position + 1]!;
  if (next > end) return truncatedExtension(layer, position, type, next - position, end);
  const data = bytes.subarray(position + TLV_HEADER_LENGTH, next);
  try {
    return decoded({ kind: 'nai', type, offset, nai: utf8Decoder.decode(data) }, next);
  } catch {
    // Not UTF-8 (RFC 2794 requires it): keep the bytes so that the message still round-trips.
    return decoded({ kind: 'unknown', type, offset, skippable: true, format: 'tlv', data }, next);
  }
}

function decodeUnknownExtension(
  layer: string,
  bytes: Uint8Array,
  type: number,
  offset: number,
  position: number,
  end: number,
  format: ExtensionFormat,
): DecodeResult<UnknownExtension> {
  const skippable = type >= 128;
  switch (format) {
    case 'rest':
      // An unrecognised non-skippable type: its layout is unknown, so nothing after it can
      // be parsed; the message will be discarded (1.8), the bytes are kept for round-trips.
      return decoded(
        { kind: 'unknown', type, offset, skippable, format, data: bytes.subarray(position + 1, end) },
        end,
      );
    case 'tlv': {
      if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
      const next = position + TLV_HEADER_LENGTH + bytes[position + 1]!;
      if (next > end) return truncatedExtension(layer, position, type, next - position, end);
      return decoded(
        { kind: 'unknown', type, offset, skippable, format, data: bytes.subarray(position + TLV_HEADER_LENGTH, next) },
        next,
      );
    }
    case 'short': {
      if (position + TLV_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, TLV_HEADER_LENGTH, end);
      const length = bytes[position + 1]!;
      // Length = 1 (the Sub-Type) + data length (1.11).
      if (length < 1) {
        return wireError(layer, 'bad-length', position + 1,
          `short-format extension type ${type} has Length 0, which leaves no room for its Sub-Type (1.11)`);
      }
      const next = position + TLV_HEADER_LENGTH + length;
      if (next > end) return truncatedExtension(layer, position, type, next - position, end);
      return decoded(
        {
          kind: 'unknown',
          type,
          offset,
          skippable,
          format,
          subType: bytes[position + 2]!,
          data: bytes.subarray(position + SHORT_HEADER_LENGTH, next),
        },
        next,
      );
    }
    case 'long': {
      if (position + LONG_HEADER_LENGTH > end) return truncatedExtension(layer, position, type, LONG_HEADER_LENGTH, end);
      // The 16-bit Length excludes Type, Sub-Type and itself (1.10).
      const next = position + LONG_HEADER_LENGTH + readU16(bytes, position + 2);
      if (next > end) return truncatedExtension(layer, position, type, next - position, end);
      return decoded(
        {
          kind: 'unknown',
          type,
          offset,
          skippable,
          format,
          subType: bytes[position + 1]!,
          data: bytes.subarray(position + LONG_HEADER_LENGTH, next),
        },
        next,
      );
    }
  }
}

/**
 * The first extension the codec could not interpret whose type is 0-127. When there is one,
 * the message MUST be silently discarded (1.8). Knowing a type's layout (a declared format)
 * is not recognising it, so declared formats do not change the answer.
 */
export function unrecognizedNonSkippableExtension(
  extensions: readonly RegistrationExtension[],
): UnknownExtension | undefined {
  for (const extension of extensions) {
    if (extension.kind === 'unknown' && !extension.skippable) return extension;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Encoding

function checkUint(layer: string, field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new EncodeError(layer, `${field} ${value} is not an integer in 0..${max}`);
  }
}

/** UTF-8 length of a string without allocating (lone surrogates count as U+FFFD, as TextEncoder writes them). */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const following = text.charCodeAt(i + 1);
      if (following >= 0xdc00 && following <= 0xdfff) {
        length += 4;
        i++;
      } else length += 3;
    } else length += 3;
  }
  return length;
}

/**
 * The value of an extension's Length field as encoded: TLV data length, 4 + authenticator
 * length for authentication extensions (3.5.2), 1 + data length for the short format
 * (1.11), the 16-bit data length of the long format (1.10); undefined for the pad and for
 * a 'rest' extension, which have no Length field.
 */
export function extensionLengthField(extension: RegistrationExtension): number | undefined {
  switch (extension.kind) {
    case 'pad':
      return undefined;
    case 'auth':
      return SPI_LENGTH + extension.authenticator.length;
    case 'nai':
      return utf8Length(extension.nai);
    case 'encapsulating-delivery-style':
      return 0;
    case 'udp-tunnel-request':
    case 'udp-tunnel-reply':
      return UDP_TUNNEL_EXTENSION_SIZE - TLV_HEADER_LENGTH;
    case 'unknown':
      switch (extension.format) {
        case 'tlv':
        case 'long':
          return extension.data.length;
        case 'short':
          return 1 + extension.data.length;
        case 'rest':
          return undefined;
      }
  }
}

/** Bytes the extension occupies on the wire; throws EncodeError if it cannot be encoded. */
function extensionLength(layer: string, extension: RegistrationExtension): number {
  checkUint(layer, 'extension type', extensionTypeOf(extension), 0xff);
  const lengthField = extensionLengthField(extension);
  switch (extension.kind) {
    case 'pad':
      return 1;
    case 'encapsulating-delivery-style':
      return TLV_HEADER_LENGTH;
    case 'udp-tunnel-request':
    case 'udp-tunnel-reply': {
      const problems = udpTunnelExtensionProblems(extension);
      if (problems.length > 0) throw new EncodeError(layer, `extension type ${extension.type}: ${problems.join('; ')}`);
      return UDP_TUNNEL_EXTENSION_SIZE;
    }
    case 'auth':
      checkUint(layer, 'SPI', extension.spi, 0xffff_ffff);
      checkUint(layer, `Length of extension type ${extension.type}`, lengthField!, 0xff);
      return TLV_HEADER_LENGTH + lengthField!;
    case 'nai':
      checkUint(layer, `Length of extension type ${extension.type}`, lengthField!, 0xff);
      return TLV_HEADER_LENGTH + lengthField!;
    case 'unknown':
      switch (extension.format) {
        case 'rest':
          return 1 + extension.data.length;
        case 'tlv':
          checkUint(layer, `Length of extension type ${extension.type}`, lengthField!, 0xff);
          return TLV_HEADER_LENGTH + lengthField!;
        case 'short':
          checkUint(layer, `Length of short-format extension type ${extension.type}`, lengthField!, 0xff);
          return TLV_HEADER_LENGTH + lengthField!;
        case 'long':
          checkUint(layer, `Length of long-format extension type ${extension.type}`, lengthField!, 0xffff);
          return LONG_HEADER_LENGTH + lengthField!;
      }
  }
}

function extensionsLength(layer: string, extensions: readonly RegistrationExtension[]): number {
  let total = 0;
  for (let i = 0; i < extensions.length; i++) {
    const extension = extensions[i]!;
    // A 'rest' extension runs to the end of the message (1.8); anything after it would be
    // read back as part of its data.
    if (extension.kind === 'unknown' && extension.format === 'rest' && i !== extensions.length - 1) {
      throw new EncodeError(layer, `extension type ${extension.type} in 'rest' format must be the last extension`);
    }
    total += extensionLength(layer, extension);
  }
  return total;
}

const utf8Encoder = new TextEncoder();

/** Writes one extension (its size already checked by extensionLength) and returns the next offset. */
function writeExtension(layer: string, extension: RegistrationExtension, bytes: Uint8Array, position: number): number {
  bytes[position] = extensionTypeOf(extension);
  switch (extension.kind) {
    case 'pad':
      return position + 1;
    case 'encapsulating-delivery-style':
      bytes[position + 1] = 0;
      return position + TLV_HEADER_LENGTH;
    case 'udp-tunnel-request':
    case 'udp-tunnel-reply':
      return writeUdpTunnelExtension(extension, bytes, position);
    case 'auth':
      bytes[position + 1] = SPI_LENGTH + extension.authenticator.length;
      writeU32(bytes, position + TLV_HEADER_LENGTH, extension.spi);
      bytes.set(extension.authenticator, position + AUTH_HEADER_LENGTH);
      return position + AUTH_HEADER_LENGTH + extension.authenticator.length;
    case 'nai': {
      const written = utf8Encoder.encodeInto(extension.nai, bytes.subarray(position + TLV_HEADER_LENGTH)).written;
      bytes[position + 1] = written;
      return position + TLV_HEADER_LENGTH + written;
    }
    case 'unknown': {
      const data = extension.data;
      switch (extension.format) {
        case 'rest':
          bytes.set(data, position + 1);
          return position + 1 + data.length;
        case 'tlv':
          bytes[position + 1] = data.length;
          bytes.set(data, position + TLV_HEADER_LENGTH);
          return position + TLV_HEADER_LENGTH + data.length;
        case 'short':
          bytes[position + 1] = 1 + data.length;
          bytes[position + 2] = subTypeOf(layer, extension);
          bytes.set(data, position + SHORT_HEADER_LENGTH);
          return position + SHORT_HEADER_LENGTH + data.length;
        case 'long':
          bytes[position + 1] = subTypeOf(layer, extension);
          writeU16(bytes, position + 2, data.length);
          bytes.set(data, position + LONG_HEADER_LENGTH);
          return position + LONG_HEADER_LENGTH + data.length;
      }
    }
  }
}

function subTypeOf(layer: string, extension: UnknownExtension): number {
  const subType = extension.subType;
  if (subType === undefined) {
    throw new EncodeError(layer, `${extension.format}-format extension type ${extension.type} has no subType`);
  }
  checkUint(layer, `Sub-Type of extension type ${extension.type}`, subType, 0xff);
  return subType;
}

function writeExtensions(
  layer: string,
  extensions: readonly RegistrationExtension[],
  bytes: Uint8Array,
  position: number,
): number {
  for (const extension of extensions) position = writeExtension(layer, extension, bytes, position);
  return position;
}

function checkCommonFields(layer: string, value: RegistrationMessage): void {
  checkUint(layer, 'Lifetime', value.lifetime, 0xffff);
  checkUint(layer, 'Home Address', value.homeAddress, 0xffff_ffff);
  checkUint(layer, 'Home Agent', value.homeAgent, 0xffff_ffff);
  checkUint(layer, 'Identification high word', value.identification.high, 0xffff_ffff);
  checkUint(layer, 'Identification low word', value.identification.low, 0xffff_ffff);
}

export function registrationRequestLength(value: RegistrationRequest): number {
  return REQUEST_FIXED_LENGTH + extensionsLength(REQUEST_LAYER, value.extensions);
}

/** Writes the flags byte exactly as given, reserved bits r and x included (3.3: agents decide). */
export function encodeRegistrationRequest(value: RegistrationRequest, bytes: Uint8Array, offset = 0): number {
  checkUint(REQUEST_LAYER, 'flags', value.flags, 0xff);
  checkUint(REQUEST_LAYER, 'Care-of Address', value.careOfAddress, 0xffff_ffff);
  checkCommonFields(REQUEST_LAYER, value);
  ensureRoom(REQUEST_LAYER, bytes, offset, registrationRequestLength(value));
  bytes[offset] = REGISTRATION_REQUEST;
  bytes[offset + 1] = value.flags;
  writeU16(bytes, offset + 2, value.lifetime);
  writeU32(bytes, offset + 4, value.homeAddress);
  writeU32(bytes, offset + 8, value.homeAgent);
  writeU32(bytes, offset + 12, value.careOfAddress);
  writeIdentification(bytes, offset + 16, value.identification);
  return writeExtensions(REQUEST_LAYER, value.extensions, bytes, offset + REQUEST_FIXED_LENGTH);
}

export function registrationReplyLength(value: RegistrationReply): number {
  return REPLY_FIXED_LENGTH + extensionsLength(REPLY_LAYER, value.extensions);
}

export function encodeRegistrationReply(value: RegistrationReply, bytes: Uint8Array, offset = 0): number {
  checkUint(REPLY_LAYER, 'Code', value.code, 0xff);
  checkCommonFields(REPLY_LAYER, value);
  ensureRoom(REPLY_LAYER, bytes, offset, registrationReplyLength(value));
  bytes[offset] = REGISTRATION_REPLY;
  bytes[offset + 1] = value.code;
  writeU16(bytes, offset + 2, value.lifetime);
  writeU32(bytes, offset + 4, value.homeAddress);
  writeU32(bytes, offset + 8, value.homeAgent);
  writeIdentification(bytes, offset + 12, value.identification);
  return writeExtensions(REPLY_LAYER, value.extensions, bytes, offset + REPLY_FIXED_LENGTH);
}

export function registrationMessageLength(value: RegistrationMessage): number {
  return value.type === REGISTRATION_REQUEST ? registrationRequestLength(value) : registrationReplyLength(value);
}

export function encodeRegistrationMessage(value: RegistrationMessage, bytes: Uint8Array, offset = 0): number {
  return value.type === REGISTRATION_REQUEST
    ? encodeRegistrationRequest(value, bytes, offset)
    : encodeRegistrationReply(value, bytes, offset);
}

export const registrationRequestCodec: Codec<RegistrationRequest> = {
  name: REQUEST_LAYER,
  decode: decodeRegistrationRequest,
  encode: encodeRegistrationRequest,
  encodingLength: registrationRequestLength,
};

export const registrationReplyCodec: Codec<RegistrationReply> = {
  name: REPLY_LAYER,
  decode: decodeRegistrationReply,
  encode: encodeRegistrationReply,
  encodingLength: registrationReplyLength,
};

export const registrationMessageCodec: Codec<RegistrationMessage> = {
  name: MESSAGE_LAYER,
  decode: decodeRegistrationMessage,
  encode: encodeRegistrationMessage,
  encodingLength: registrationMessageLength,
};

export function toBytesRegistrationRequest(value: RegistrationRequest): Uint8Array {
  return encodeToBytes(registrationRequestCodec, value);
}

export function toBytesRegistrationReply(value: RegistrationReply): Uint8Array {
  return encodeToBytes(registrationReplyCodec, value);
}

export function toBytesRegistrationMessage(value: RegistrationMessage): Uint8Array {
  return encodeToBytes(registrationMessageCodec, value);
}

/**
 * Offset from the message start of each extension as `encodeRegistrationMessage` places them:
 * what an agent needs to compute authenticators over a message it is building (3.5.1).
 */
export function extensionOffsets(value: RegistrationMessage): number[] {
  const layer = value.type === REGISTRATION_REQUEST ? REQUEST_LAYER : REPLY_LAYER;
  let position = value.type === REGISTRATION_REQUEST ? REQUEST_FIXED_LENGTH : REPLY_FIXED_LENGTH;
  return value.extensions.map((extension) => {
    const at = position;
    position += extensionLength(layer, extension);
    return at;
  });
}
