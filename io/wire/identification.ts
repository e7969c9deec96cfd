/**
 * The 64-bit Identification of registration messages (RFC 5944 3.3, 3.4, 5.7): reading and
 * writing it, ordering it, and the NTP timestamp form that timestamp-based replay
 * protection uses (5.7.1): high 32 bits = seconds since 1900-01-01T00:00:00Z, low 32 bits =
 * fraction of a second in units of 2^-32 s.
 */
import { EncodeError } from './codec.js';
import { readU32, writeU32 } from './bytes.js';
import type { Identification } from './registration-types.js';

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_SECONDS = 2208988800;

const TWO_POW_32 = 0x1_0000_0000;

/**
 * A millisecond clock fills only the top ~10 bits of the 32-bit fraction; the 22 bits
 * below one millisecond (2^32 / 1000 > 2^22) are "not available from a time source" and
 * SHOULD come from randomness (5.7.1). Adding fewer than 2^22 units to the start of a
 * millisecond never reaches the next millisecond, so the timestamp stays ordered.
 */
const SUB_MILLISECOND_MASK = 0x3f_ffff;

const LAYER = 'identification';

export function readIdentification(bytes: Uint8Array, offset: number): Identification {
  return { high: readU32(bytes, offset), low: readU32(bytes, offset + 4) };
}

export function writeIdentification(bytes: Uint8Array, offset: number, identification: Identification): void {
  writeU32(bytes, offset, identification.high);
  writeU32(bytes, offset + 4, identification.low);
}

/**
 * The NTP timestamp of `unixMs` as an Identification (5.7.1). `lowBits`, when given, fills
 * the sub-millisecond part of the fraction (only its low 22 bits are used): pass a random
 * 32-bit value to follow 5.7.1's SHOULD. Without it those bits are zero.
 * Seconds wrap modulo 2^32 (NTP era 1 starts in 2036).
 */
export function identificationFromUnixMs(unixMs: number, lowBits = 0): Identification {
  if (!Number.isFinite(unixMs)) throw new EncodeError(LAYER, `not a time: ${unixMs}`);
  const wholeMs = Math.floor(unixMs);
  const seconds = Math.floor(wholeMs / 1000);
  const millis = wholeMs - seconds * 1000;
  // Rounded up so that identificationToUnixMs (which rounds down) gives the millisecond back.
  const fraction = Math.ceil((millis * TWO_POW_32) / 1000) + ((lowBits >>> 0) & SUB_MILLISECOND_MASK);
  const ntpSeconds = seconds + NTP_UNIX_OFFSET_SECONDS;
  return { high: ((ntpSeconds % TWO_POW_32) + TWO_POW_32) % TWO_POW_32, low: fraction >>> 0 };
}

/**
 * The Unix time in milliseconds (rounded down) of an NTP-timestamp Identification. The era
 * is inferred as NTP clients do (RFC 4330 3): a high word with its top bit set is in
 * 1968-2036 (era 0), otherwise in 2036-2104 (era 1).
 */
export function identificationToUnixMs(identification: Identification): number {
  const high = identification.high >>> 0;
  const ntpSeconds = high >= 0x8000_0000 ? high : high + TWO_POW_32;
  const millis = Math.floor(((identification.low >>> 0) * 1000) / TWO_POW_32);
  return (ntpSeconds - NTP_UNIX_OFFSET_SECONDS) * 1000 + millis;
}

/** Orders two Identifications as unsigned 64-bit numbers: -1, 0 or 1. */
export function compareIdentification(a: Identification, b: Identification): -1 | 0 | 1 {
  const ah = a.high >>> 0;
  const bh = b.high >>> 0;
  if (ah !== bh) return ah < bh ? -1 : 1;
  const al = a.low >>> 0;
  const bl = b.low >>> 0;
  if (al !== bl) return al < bl ? -1 : 1;
  return 0;
}

/** 16 lowercase hex digits, high word first (the notation of the interop vectors). */
export function identificationToHex(identification: Identification): string {
  return (
    (identification.high >>> 0).toString(16).padStart(8, '0') + (identification.low >>> 0).toString(16).padStart(8, '0')
  );
}

/** Parses exactly 16 hex digits (an optional 0x prefix allowed); undefined for anything else. */
export function parseIdentificationHex(text: string): Identification | undefined {
  const digits = text.replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{16}$/.test(digits)) return undefined;
  return { high: parseInt(digits.slice(0, 8), 16), low: parseInt(digits.slice(8), 16) };
}

/** Like parseIdentificationHex but throws; for literals in code and tests. */
export function identificationFromHex(text: string): Identification {
  const identification = parseIdentificationHex(text);
  if (identification === undefined) {
    throw new EncodeError(LAYER, `not 16 hex digits: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return identification;
}
