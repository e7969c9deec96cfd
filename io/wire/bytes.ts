/**
 * Byte-level helpers shared by the codecs: big-endian reads and writes on plain
 * Uint8Array (so Buffer and Uint8Array inputs behave the same), IPv4 addresses as
 * unsigned 32-bit numbers, hex, and the Internet checksum (RFC 1071).
 */
import { EncodeError, type WireError, wireError } from './codec.js';

/** An IPv4 address as an unsigned 32-bit integer (198.51.100.1 = 0xc6336401). */
export type Ipv4Address = number;

export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function ipv4ToString(a: Ipv4Address): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/**
 * Parses dotted-quad notation: four decimal parts 0-255 without leading zeros; returns
 * undefined for anything else. A character loop, not split + regex: configuration files
 * hold a million of these (test/wire/bytes.test.ts holds it to the regex definition).
 */
export function parseIpv4(text: string): Ipv4Address | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      continue;
    }
    // A digit; a leading zero only as the whole part ("0", not "01"); at most 255.
    if (c < 0x30 || c > 0x39 || (digits > 0 && part === 0)) return undefined;
    part = part * 10 + (c - 0x30);
    digits++;
    if (part > 255) return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value * 256 + part) >>> 0;
}

/** Like parseIpv4 but throws; for literals in code and tests. */
export function ipv4(text: string): Ipv4Address {
  const a = parseIpv4(text);
  if (a === undefined) throw new EncodeError('ipv4', `not a dotted-quad IPv4 address: ${JSON.stringify(text)}`);
  return a;
}

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

/** The value of one hex digit's character code, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** The first `limit` bytes in hex, with "..." when there were more: a discarded datagram in a log line (1.7). */
export function hexPrefix(bytes: Uint8Array, limit = 128): string {
  const shown = toHex(bytes.subarray(0, limit));
  return bytes.length > limit ? `${shown}...` : shown;
}

/** Parses hex (whitespace and a 0x prefix allowed); returns undefined if it is not hex. */
export function parseHex(text: string): Uint8Array | undefined {
  const clean = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0) return undefined;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = hexDigit(clean.charCodeAt(2 * i));
    const low = hexDigit(clean.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) return undefined;
    out[i] = (high << 4) | low;
  }
  return out;
}

export function fromHex(text: string): Uint8Array {
  const b = parseHex(text);
  if (b === undefined) throw new EncodeError('hex', `not a hex string: ${JSON.stringify(text.slice(0, 40))}`);
  return b;
}

/**
 * One's-complement sum of 16-bit big-endian words over b[start, end), added to `initial`
 * (for pseudo-headers), not yet folded or complemented.
 */
export function onesComplementSum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8; // odd length: pad with a zero byte (RFC 1071)
  return sum;
}

/** Folds a one's-complement sum to 16 bits and complements it: the Internet checksum. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The Internet checksum (RFC 1071) of b[start, end). Zero when a range including a correct checksum is summed. */
export function internetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return finishChecksum(onesComplementSum(b, start, end, initial));
}

/**
 * Copies `source` into `target` at `targetOffset` for encoders that write headers in front of
 * a payload. Does nothing when the payload already sits there (the zero-copy path of the data
 * plane), and moves overlapping bytes of the same buffer with copyWithin, which neither
 * allocates nor corrupts the overlap.
 */
export function placeBytes(source: Uint8Array, target: Uint8Array, targetOffset: number): void {
  if (source.buffer === target.buffer) {
    const from = source.byteOffset - target.byteOffset;
    if (from === targetOffset) return;
    if (from >= 0 && from + source.length <= target.length) {
      target.copyWithin(targetOffset, from, from + source.length);
      return;
    }
  }
  target.set(source, targetOffset);
}

/**
 * The error a decoder returns when [offset, end) is not a range inside `bytes` or holds fewer
 * than `needed` bytes; undefined when the range is usable. Lets decoders accept any offset and
 * end without throwing.
 */
export function decodeRangeError(
  layer: string,
  bytes: Uint8Array,
  offset: number,
  end: number,
  needed: number,
): { readonly ok: false; readonly error: WireError } | undefined {
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end < offset || end > bytes.length) {
    const at = Number.isInteger(offset) && offset >= 0 ? offset : 0;
    return wireError(layer, 'truncated', at, `invalid range [${offset}, ${end}) in a buffer of ${bytes.length} bytes`);
  }
  if (end - offset < needed) {
    return wireError(layer, 'truncated', offset, `needs at least ${needed} bytes, found ${end - offset}`);
  }
  return undefined;
}

/** Throws EncodeError unless `value` is an integer in [0, 2^bits): an encoder's guard against programmer error. */
export function checkUnsigned(layer: string, field: string, value: number, bits: number): void {
  // `value >>> 0 === value` holds exactly for the integers 0 … 2^32 - 1 (it fails for NaN,
  // fractions, negatives and anything larger); narrower fields also need the high bits clear.
  // Two integer operations instead of Number.isInteger and a power: encoders call this per field.
  if (value >>> 0 !== value || (bits < 32 && value >>> bits !== 0) || bits > 32) {
    throw new EncodeError(layer, `${field} must be an unsigned ${bits}-bit integer, got ${value}`);
  }
}
