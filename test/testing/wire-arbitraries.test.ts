/**
 * The kit's wire arbitraries (testing/wire-arbitraries.ts) hold what they promise, for every
 * message: valid samples decode to their value and re-encode to the same bytes; mutated ones
 * still decode, to something else; malformed ones are refused by the decoders with
 * `{ ok: false }`, never an exception.
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeRegistrationReply, encodeRegistrationRequest, registrationReplyLength, registrationRequestLength } from '../../io/wire/registration.js';
import { agentAdvertisementLength, agentSolicitationLength, encodeAgentAdvertisement, encodeAgentSolicitation } from '../../io/wire/agent-discovery.js';
import { wireArbitraries } from '../../testing/index.js';

const wire = wireArbitraries();
/** Seeded: the properties hold for every sample, and CI sees the same ones each run. */
const RUNS = { numRuns: 150, seed: 1919 };

/** Each message's own encoder, to re-encode a decoded value (at a non-zero offset, as io/wire's round-trip tests do). */
const REENCODE: Partial<Record<keyof typeof wire, (value: never) => Uint8Array>> = {
  registrationRequest: (value) => encodedAt(registrationRequestLength(value), (bytes, at) => encodeRegistrationRequest(value, bytes, at)),
  registrationReply: (value) => encodedAt(registrationReplyLength(value), (bytes, at) => encodeRegistrationReply(value, bytes, at)),
  agentAdvertisement: (value) => encodedAt(agentAdvertisementLength(value), (bytes, at) => encodeAgentAdvertisement(value, bytes, at)),
  agentSolicitation: (value) => encodedAt(agentSolicitationLength(value), (bytes, at) => encodeAgentSolicitation(value, bytes, at)),
};

function encodedAt(length: number, encode: (bytes: Uint8Array, at: number) => number): Uint8Array {
  const bytes = new Uint8Array(length + 3);
  expect(encode(bytes, 3)).toBe(length + 3);
  return bytes.subarray(3);
}

describe('mip4/testing wire arbitraries', () => {
  for (const [name, message] of Object.entries(wire)) {
    it(`${name}: valid samples decode to their value and encode back to the same bytes`, () => {
      fc.assert(
        fc.property(message.valid, ({ value, bytes }) => {
          const result = message.decode(bytes);
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          expect(result.next).toBe(bytes.length);
          expect(isDeepStrictEqual(result.value, value)).toBe(true);
          const reencode = REENCODE[name as keyof typeof wire];
          if (reencode !== undefined) expect(reencode(value as never)).toEqual(bytes);
        }),
        RUNS,
      );
    });

    it(`${name}: mutated samples still decode, to a value other than the original`, () => {
      fc.assert(
        fc.property(message.mutated, ({ original, bytes, mutation }) => {
          const result = message.decode(bytes);
          expect(result.ok, mutation).toBe(true);
          if (result.ok) expect(isDeepStrictEqual(result.value, original), mutation).toBe(false);
        }),
        RUNS,
      );
    });

    it(`${name}: malformed samples are refused with { ok: false }, never an exception`, () => {
      const reasons = new Set<string>();
      fc.assert(
        fc.property(message.malformed, ({ bytes, defect }) => {
          const result = message.decode(bytes);
          expect(result.ok, defect).toBe(false);
          if (!result.ok) reasons.add(result.error.reason);
        }),
        RUNS,
      );
      expect(reasons.size).toBeGreaterThan(0);
    });
  }
});
