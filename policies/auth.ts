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
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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

/** The MAC of `data` under `algorithm` and `key`. */
export function messageDigest(algorithm: AuthAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  if (algorithm === 'hmac-md5') return createHmac('md5', key).update(data).digest();
  return createHash('md5').update(key).update(data).update(key).digest();
}

/** The authenticator for the authentication extension whose Type byte is at `extensionOffset`. */
export function computeAuthenticator(
  algorithm: AuthAlgorithm,
  key: Uint8Array,
  message: Uint8Array,
  extensionOffset: number,
): Uint8Array {
  const end = authenticatedLength(extensionOffset);
  if (end > message.length) {
    throw new RangeError(`authentication extension at ${extensionOffset} lies beyond a ${message.length}-byte message`);
  }
  return messageDigest(algorithm, key, message.subarray(0, end));
}

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
  if (authenticatedLength(extension.offset) > message.length) return false;
  const expected = computeAuthenticator(algorithm, key, message, extension.offset);
  if (extension.authenticator.length !== expected.length) return false;
  return timingSafeEqual(expected, extension.authenticator);
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
  const authenticator = computeAuthenticator(algorithm, key, message, extensionOffset);
  message.set(authenticator, authenticatedLength(extensionOffset));
}
