/**
 * Authenticators of the Mobile-Home, Mobile-Foreign and Foreign-Home Authentication
 * Extensions (RFC 5944 3.5.1-3.5.4, 5.1).
 *
 * The covered range is the registration message from its first byte up to and including
 * the Type, Length and SPI of the authentication extension itself (3.5.1), i.e.
 * `message[0, extensionOffset + 6)`. The authenticator follows at `extensionOffset + 6`.
 *
 * Pure: node:crypto is a computation library here, not IO.
 */
import { HmacMd5Key, hmacMd5Into, md5Concat } from './md5.js';

/**
 * - 'hmac-md5': HMAC-MD5 (RFC 2104), the default every implementation supports (3.5.1, 5.1).
 * - 'keyed-md5': MD5(key || data || key), the "prefix+suffix" mode kept for backward
 *   compatibility (5.1, RFC 1828).
 */
export type AuthAlgorithm = 'hmac-md5' | 'keyed-md5';

export const AUTH_ALGORITHMS: readonly AuthAlgorithm[] = ['hmac-md5', 'keyed-md5'];

/** Both algorithms produce a 128-bit authenticator. */
export const AUTHENTICATOR_LENGTH = 16;

/** Type (1) + Length (1) + SPI (4): the part of the extension inside the covered range. */
const AUTH_EXTENSION_HEADER = 6;

/** How many leading bytes of the message the authenticator of the extension at `extensionOffset` covers. */
export function authenticatedLength(extensionOffset: number): number {
  return extensionOffset + AUTH_EXTENSION_HEADER;
}

/**
 * Keys prepared for HMAC-MD5, by the key array the security context holds (RFC 2104 4: the
 * key's two padded blocks are hashed once, not per message). A context's key array lives as
 * long as the context; the entry goes with it. `matches` guards against a caller that reuses
 * one array for different key bytes.
 */
const preparedKeys = new WeakMap<Uint8Array, HmacMd5Key>();

function preparedKey(key: Uint8Array): HmacMd5Key {
  let prepared = preparedKeys.get(key);
  if (prepared === undefined || !prepared.matches(key)) {
    prepared = new HmacMd5Key(key);
    preparedKeys.set(key, prepared);
  }
  return prepared;
}

/** Writes the MAC of `data[start, end)` to `out[outOffset…+16)`. */
function digestInto(
  algorithm: AuthAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  outOffset: number,
): void {
  if (algorithm === 'hmac-md5') {
    preparedKey(key).digestInto(data, start, end, out, outOffset);
    return;
  }
  out.set(md5Concat([key, data.subarray(start, end), key]), outOffset);
}

/** The MAC of `data` under `algorithm` and `key`. */
export function messageDigest(algorithm: AuthAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUTHENTICATOR_LENGTH);
  if (algorithm === 'hmac-md5') hmacMd5Into(key, data, 0, data.length, out, 0);
  else digestInto(algorithm, key, data, 0, data.length, out, 0);
  return out;
}

function checkRange(message: Uint8Array, extensionOffset: number): number {
  const end = authenticatedLength(extensionOffset);
  if (end > message.length) {
    throw new RangeError(`authentication extension at ${extensionOffset} lies beyond a ${message.length}-byte message`);
  }
  return end;
}

/** The authenticator for the authentication extension whose Type byte is at `extensionOffset`. */
export function computeAuthenticator(
  algorithm: AuthAlgorithm,
  key: Uint8Array,
  message: Uint8Array,
  extensionOffset: number,
): Uint8Array {
  const end = checkRange(message, extensionOffset);
  const out = new Uint8Array(AUTHENTICATOR_LENGTH);
  digestInto(algorithm, key, message, 0, end, out, 0);
  return out;
}

const expected = new Uint8Array(AUTHENTICATOR_LENGTH);

/**
 * Constant-time check of a received authenticator. A length other than the algorithm's
 * 16 bytes never verifies (and does not leak timing about the key).
 */
export function verifyAuthenticator(
  algorithm: AuthAlgorithm,
  key: Uint8Array,
  message: Uint8Array,
  extension: { readonly offset: number; readonly authenticator: Uint8Array },
): boolean {
  const end = authenticatedLength(extension.offset);
  if (end > message.length) return false;
  digestInto(algorithm, key, message, 0, end, expected, 0);
  const received = extension.authenticator;
  if (received.length !== AUTHENTICATOR_LENGTH) return false;
  // Every byte is compared whatever the first difference: no early exit to time.
  let difference = 0;
  for (let i = 0; i < AUTHENTICATOR_LENGTH; i++) difference |= expected[i]! ^ received[i]!;
  return difference === 0;
}

/**
 * Computes the authenticator of the extension at `extensionOffset` and writes it in place,
 * after the SPI. The caller encodes the message with a placeholder authenticator of
 * AUTHENTICATOR_LENGTH bytes first, then seals each authentication extension in order.
 */
export function sealAuthenticator(
  algorithm: AuthAlgorithm,
  key: Uint8Array,
  message: Uint8Array,
  extensionOffset: number,
): void {
  const end = checkRange(message, extensionOffset);
  if (end + AUTHENTICATOR_LENGTH > message.length) {
    throw new RangeError(`the authenticator of the extension at ${extensionOffset} does not fit a ${message.length}-byte message`);
  }
  digestInto(algorithm, key, message, 0, end, message, end);
}
