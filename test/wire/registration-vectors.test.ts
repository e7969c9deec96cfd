import { VECTORS_PATH } from '../support/vectors.js';
/**
 * The registration vectors of testing/interop-vectors.json, built by an independent
 * implementation and confirmed with Scapy, Wireshark and openssl: decoding, the JSON view,
 * encoding, and the authenticators (3.5.1).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeToBytes } from '../../io/wire/codec.js';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import { decodeRegistrationMessage, registrationMessageCodec } from '../../io/wire/registration.js';
import {
  registrationFromJson,
  registrationToJson,
  type RegistrationJson,
  type SpiKey,
} from '../../io/wire/registration-json.js';
import type { AuthExtension, RegistrationMessage } from '../../io/wire/registration-types.js';
import { type AuthAlgorithm, sealAuthenticator, verifyAuthenticator } from '../../policies/auth.js';

interface VectorKey {
  readonly spi: number;
  readonly key_hex: string;
  readonly algorithm: string;
}

interface Vector {
  readonly id: string;
  readonly kind: string;
  readonly hex: string;
  readonly length: number;
  readonly keys: Readonly<Record<string, VectorKey>>;
  readonly decoded: RegistrationJson;
  readonly expect: Readonly<Record<string, unknown>>;
}

const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: Vector[] }).vectors.filter(
  (vector) => vector.kind === 'registration_request' || vector.kind === 'registration_reply',
);

const ALGORITHMS: Readonly<Record<string, AuthAlgorithm>> = { 'HMAC-MD5': 'hmac-md5' };

/** The vector's keys (mn_ha, mn_fa, fa_ha) by SPI. */
function keysOf(vector: Vector): Map<number, SpiKey<AuthAlgorithm>> {
  const keys = new Map<number, SpiKey<AuthAlgorithm>>();
  for (const entry of Object.values(vector.keys)) {
    const algorithm = ALGORITHMS[entry.algorithm];
    if (algorithm === undefined) throw new Error(`${vector.id}: algorithm ${entry.algorithm} not mapped`);
    keys.set(entry.spi, { algorithm, key: fromHex(entry.key_hex) });
  }
  return keys;
}

function decodeVector(vector: Vector): { bytes: Uint8Array; message: RegistrationMessage } {
  const bytes = fromHex(vector.hex);
  const result = decodeRegistrationMessage(bytes, 0, bytes.length);
  if (!result.ok) throw new Error(`${vector.id}: ${result.error.message}`);
  return { bytes, message: result.value };
}

function authExtensions(message: RegistrationMessage): AuthExtension[] {
  return message.extensions.filter((extension): extension is AuthExtension => extension.kind === 'auth');
}

function keyFor(vector: Vector, spi: number): SpiKey<AuthAlgorithm> {
  const key = keysOf(vector).get(spi);
  if (key === undefined) throw new Error(`${vector.id}: no key for SPI ${spi}`);
  return key;
}

describe('interop vectors: registration messages', () => {
  it('has registration vectors to check, including the one with a bad authenticator', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(8);
    expect(vectors.some((vector) => vector.expect['mhae_valid'] === false)).toBe(true);
  });

  describe.each(vectors.map((vector) => [vector.id, vector] as const))('%s', (_id, vector) => {
    it('decodes to exactly the vector\'s `decoded` (fields, names, order), authenticators checked with its keys', () => {
      const { bytes, message } = decodeVector(vector);
      expect(bytes.length).toBe(vector.length);
      const json = registrationToJson(message, bytes, { keys: keysOf(vector), verify: verifyAuthenticator });
      expect(json).toEqual(vector.decoded);
      // toEqual ignores key order; the JSON text does not.
      expect(JSON.stringify(json)).toBe(JSON.stringify(vector.decoded));
    });

    it('encodes the decoded value, and the value built from `decoded`, to the vector\'s bytes', () => {
      const { message } = decodeVector(vector);
      expect(toHex(encodeToBytes(registrationMessageCodec, message))).toBe(vector.hex);
      const fromJson = registrationFromJson(vector.decoded);
      expect(toHex(encodeToBytes(registrationMessageCodec, fromJson))).toBe(vector.hex);
    });

    it('verifies each authenticator with the key of its SPI exactly when the vector says it is valid', () => {
      const { bytes, message } = decodeVector(vector);
      const extensions = authExtensions(message);
      expect(extensions.length).toBeGreaterThan(0);
      for (const extension of extensions) {
        const key = keyFor(vector, extension.spi);
        const expected = vector.expect[extension.type === 33 ? 'mfae_valid' : 'mhae_valid'];
        expect(typeof expected).toBe('boolean');
        expect(verifyAuthenticator(key.algorithm, key.key, bytes, extension)).toBe(expected);
      }
    });

    it('re-sealing the authenticators in order reproduces the valid ones', () => {
      const { bytes, message } = decodeVector(vector);
      const sealed = encodeToBytes(registrationMessageCodec, message);
      for (const extension of authExtensions(message)) {
        // A placeholder first, as a sender encodes before sealing.
        sealed.fill(0, extension.offset + 6, extension.offset + 6 + extension.authenticator.length);
        const key = keyFor(vector, extension.spi);
        sealAuthenticator(key.algorithm, key.key, sealed, extension.offset);
      }
      if (vector.expect['mhae_valid'] === false) {
        expect(toHex(sealed)).not.toBe(vector.hex);
        const repaired = decodeRegistrationMessage(sealed);
        if (!repaired.ok) throw new Error(repaired.error.message);
        const mhae = authExtensions(repaired.value)[0]!;
        const key = keyFor(vector, mhae.spi);
        expect(verifyAuthenticator(key.algorithm, key.key, sealed, mhae)).toBe(true);
        // The vector's authenticator is the right one with a single bit of its first byte flipped.
        const differingBits = mhae.authenticator.map((byte, index) => byte ^ bytes[mhae.offset + 6 + index]!);
        expect([...differingBits.subarray(1)].every((bits) => bits === 0)).toBe(true);
        expect([1, 2, 4, 8, 16, 32, 64, 128]).toContain(differingBits[0]);
      } else {
        expect(toHex(sealed)).toBe(vector.hex);
      }
    });
  });

  it('[R3.5.1-1] each authenticator covers the message, all prior extensions and its own Type, Length and SPI', () => {
    const vector = vectors.find((candidate) => candidate.id === 'rrq_via_fa_mhae_mfae');
    if (vector === undefined) throw new Error('vector rrq_via_fa_mhae_mfae missing');
    const { bytes, message } = decodeVector(vector);
    const [mhae, mfae] = authExtensions(message);
    if (mhae === undefined || mfae === undefined) throw new Error('expected an MHAE and an MFAE');
    // Checked where the extension was received, so that a flipped Type or Length byte does
    // not move it.
    const valid = (extension: AuthExtension, received: Uint8Array): boolean => {
      const key = keyFor(vector, extension.spi);
      const start = extension.offset + 6;
      const authenticator = received.subarray(start, start + extension.authenticator.length);
      return verifyAuthenticator(key.algorithm, key.key, received, { offset: extension.offset, authenticator });
    };
    expect(valid(mhae, bytes) && valid(mfae, bytes)).toBe(true);
    for (let position = 0; position < bytes.length; position++) {
      const flipped = bytes.slice();
      flipped[position]! ^= 0x01;
      // The MHAE's range is the fixed part and its own Type, Length, SPI; its authenticator
      // is checked against, not covered; nothing after it counts.
      const mhaeCovered = position < mhae.offset + 6;
      const mhaeAuthenticator = position >= mhae.offset + 6 && position < mhae.offset + 22;
      expect(valid(mhae, flipped), `MHAE with byte ${position} flipped`).toBe(!mhaeCovered && !mhaeAuthenticator);
      // The MFAE's range includes the whole MHAE.
      const mfaeCovered = position < mfae.offset + 6;
      const mfaeAuthenticator = position >= mfae.offset + 6;
      expect(valid(mfae, flipped), `MFAE with byte ${position} flipped`).toBe(!mfaeCovered && !mfaeAuthenticator);
    }
  });
});
