/**
 * Ethernet II framing (DIX: destination, source, EtherType, payload) and MAC addresses.
 *
 * A MAC address is a lowercase colon-separated string, "aa:bb:cc:dd:ee:ff": readable in logs
 * and usable as a Map key (ARP caches, visitor lists keyed by link-layer address). Strings are
 * made only when a caller asks for one; the hot path tests bytes (`ethernetIsBroadcast`,
 * `ethernetEtherType`).
 *
 * IEEE 802.3 frames (a length, < 0x0600, where the EtherType goes) are not read: Mobile IP
 * over Ethernet uses Ethernet II encapsulation of IP and ARP (RFC 894, RFC 826).
 * The encoder does not pad to the 60-byte minimum; the interface driver does.
 */
import { type Codec, type DecodeResult, decoded, EncodeError, ensureRoom, wireError } from './codec.js';
import { checkUnsigned, decodeRangeError, type Ipv4Address, placeBytes, readU16, writeU16 } from './bytes.js';

const LAYER = 'ethernet';

/** Lowercase "aa:bb:cc:dd:ee:ff". */
export type MacAddress = string;

export const MAC_LENGTH = 6;
export const BROADCAST_MAC: MacAddress = 'ff:ff:ff:ff:ff:ff';
/** The all-zero address, e.g. the unknown Target Hardware Address of an ARP Request. */
export const ZERO_MAC: MacAddress = '00:00:00:00:00:00';

export const ETHERNET_HEADER_LENGTH = 14;
/** Values below this in the type position are 802.3 lengths, not EtherTypes. */
export const ETHERTYPE_MINIMUM = 0x0600;

export const EtherType = {
  IPv4: 0x0800,
  ARP: 0x0806,
} as const;

const MAC_PATTERN = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const HEX = '0123456789abcdef';

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-', any case) to the canonical form; undefined otherwise. */
export function parseMac(text: string): MacAddress | undefined {
  if (!MAC_PATTERN.test(text)) return undefined;
  return text.toLowerCase().replace(/-/g, ':');
}

/** Like parseMac but throws; for literals in code and tests. */
export function mac(text: string): MacAddress {
  const parsed = parseMac(text);
  if (parsed === undefined) throw new EncodeError('mac', `not a MAC address: ${JSON.stringify(text)}`);
  return parsed;
}

/** The MAC address in bytes[offset, offset + 6). */
export function macToString(bytes: Uint8Array, offset = 0): MacAddress {
  let s = '';
  for (let i = 0; i < MAC_LENGTH; i++) {
    const b = bytes[offset + i]!;
    if (i > 0) s += ':';
    s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

/** Writes a canonical MAC address at `offset` without allocating; returns offset + 6. */
export function writeMac(bytes: Uint8Array, offset: number, address: MacAddress): number {
  if (address.length !== 17) throw new EncodeError('mac', `not a canonical MAC address: ${JSON.stringify(address)}`);
  ensureRoom('mac', bytes, offset, MAC_LENGTH);
  for (let i = 0; i < MAC_LENGTH; i++) {
    const high = HEX.indexOf(address[i * 3]!);
    const low = HEX.indexOf(address[i * 3 + 1]!);
    if (high < 0 || low < 0 || (i < MAC_LENGTH - 1 && address[i * 3 + 2] !== ':')) {
      throw new EncodeError('mac', `not a canonical MAC address: ${JSON.stringify(address)}`);
    }
    bytes[offset + i] = (high << 4) | low;
  }
  return offset + MAC_LENGTH;
}

export interface EthernetFrame {
  readonly destination: MacAddress;
  readonly source: MacAddress;
  /** At least 0x0600; unknown types are kept. */
  readonly etherType: number;
  /** Everything after the header up to `end` (a view; may include padding to 60 bytes). */
  readonly payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// No-allocation accessors (check the frame holds 14 bytes first).

export function ethernetEtherType(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 12);
}

/** Whether the destination is ff:ff:ff:ff:ff:ff (RFC 5944 4.6 sends gratuitous ARP this way). */
export function ethernetIsBroadcast(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < MAC_LENGTH; i++) if (bytes[offset + i] !== 0xff) return false;
  return true;
}

/** Whether the destination is a group address (I/G bit, the least significant bit of the first byte). */
export function ethernetIsMulticast(bytes: Uint8Array, offset = 0): boolean {
  return (bytes[offset]! & 1) === 1;
}

export function ethernetDestination(bytes: Uint8Array, offset = 0): MacAddress {
  return macToString(bytes, offset);
}

export function ethernetSource(bytes: Uint8Array, offset = 0): MacAddress {
  return macToString(bytes, offset + MAC_LENGTH);
}

// ---------------------------------------------------------------------------------------------
// Codec

/** The frame in [offset, end); `next` is `end` (a frame fills what the link delivered). */
export function decodeEthernetFrame(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<EthernetFrame> {
  const range = decodeRangeError(LAYER, bytes, offset, end, ETHERNET_HEADER_LENGTH);
  if (range) return range;
  const etherType = readU16(bytes, offset + 12);
  if (etherType < ETHERTYPE_MINIMUM) {
    return wireError(
      LAYER,
      'bad-type',
      offset + 12,
      `type field 0x${etherType.toString(16).padStart(4, '0')} is an IEEE 802.3 length; only Ethernet II frames are read`,
    );
  }
  return decoded(
    {
      destination: macToString(bytes, offset),
      source: macToString(bytes, offset + MAC_LENGTH),
      etherType,
      payload: bytes.subarray(offset + ETHERNET_HEADER_LENGTH, end),
    },
    end,
  );
}

export function ethernetFrameLength(frame: { readonly payload: Uint8Array }): number {
  return ETHERNET_HEADER_LENGTH + frame.payload.length;
}

/** Writes the 14-byte header at `offset` (in front of a payload placed at offset + 14). */
export function encodeEthernetHeader(
  destination: MacAddress,
  source: MacAddress,
  etherType: number,
  bytes: Uint8Array,
  offset = 0,
): number {
  checkUnsigned(LAYER, 'etherType', etherType, 16);
  if (etherType < ETHERTYPE_MINIMUM) {
    throw new EncodeError(LAYER, `EtherType 0x${etherType.toString(16)} is below 0x0600 (an 802.3 length)`);
  }
  ensureRoom(LAYER, bytes, offset, ETHERNET_HEADER_LENGTH);
  writeMac(bytes, offset, destination);
  writeMac(bytes, offset + MAC_LENGTH, source);
  writeU16(bytes, offset + 12, etherType);
  return offset + ETHERNET_HEADER_LENGTH;
}

/** Header then payload; the payload is not copied when it already sits at offset + 14. */
export function encodeEthernetFrame(frame: EthernetFrame, bytes: Uint8Array, offset = 0): number {
  const length = ethernetFrameLength(frame);
  ensureRoom(LAYER, bytes, offset, length);
  placeBytes(frame.payload, bytes, offset + ETHERNET_HEADER_LENGTH);
  encodeEthernetHeader(frame.destination, frame.source, frame.etherType, bytes, offset);
  return offset + length;
}

export const ethernetFrameCodec: Codec<EthernetFrame> = {
  name: 'ethernet-frame',
  decode: decodeEthernetFrame,
  encode: encodeEthernetFrame,
  encodingLength: ethernetFrameLength,
};

/** RFC 1112 6.4: the Ethernet group address of an IPv4 multicast group (01:00:5e + its low 23 bits). */
export function multicastMac(group: Ipv4Address): MacAddress {
  const low = group & 0x7fffff;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `01:00:5e:${hex(low >>> 16)}:${hex((low >>> 8) & 0xff)}:${hex(low & 0xff)}`;
}
