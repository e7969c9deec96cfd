/**
 * The kit's interop vectors (testing/vectors.ts): typed, loaded from the JSON shipped beside the
 * module, and each one decodes with io/wire's decoder for its kind to the length it states.
 */
import { describe, expect, it } from 'vitest';
import { decodeAgentAdvertisement, decodeAgentSolicitation } from '../../io/wire/agent-discovery.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import { interopVectors, vectorBytes, type InteropVectorKind } from '../../testing/index.js';

const DECODERS: Record<InteropVectorKind, (bytes: Uint8Array) => { ok: boolean }> = {
  registration_request: (bytes) => decodeRegistrationRequest(bytes),
  registration_reply: (bytes) => decodeRegistrationReply(bytes),
  agent_advertisement: (bytes) => decodeAgentAdvertisement(bytes),
  agent_solicitation: (bytes) => decodeAgentSolicitation(bytes),
};

describe('mip4/testing interop vectors', () => {
  const vectors = interopVectors();

  it('loads every vector, of all four kinds, with unique ids', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(10);
    expect(new Set(vectors.map((v) => v.id)).size).toBe(vectors.length);
    expect(new Set(vectors.map((v) => v.kind))).toEqual(new Set(Object.keys(DECODERS)));
  });

  it('each vector’s bytes have the length it states and decode with the decoder of its kind', () => {
    for (const vector of vectors) {
      const bytes = vectorBytes(vector);
      expect(bytes.length, vector.id).toBe(vector.length);
      expect(DECODERS[vector.kind](bytes).ok, vector.id).toBe(true);
    }
  });
});
