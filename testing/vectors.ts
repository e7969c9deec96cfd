/**
 * The interop vectors: Registration Requests and Replies, Agent Advertisements and
 * Solicitations built by an independent implementation and confirmed with Wireshark and Scapy
 * (testing/interop-vectors.json, shipped in the package beside this module). Each carries its
 * bytes (hex), the keys that authenticate it, the fields decoded, and what a receiver should
 * conclude.
 */
import { readFileSync } from 'node:fs';

/** Where the vectors' JSON lies: beside this module, in the source tree and in dist/. */
export const INTEROP_VECTORS_URL = new URL('./interop-vectors.json', import.meta.url);

export interface InteropKey {
  readonly spi: number;
  readonly key_hex: string;
  readonly key_len: number;
  readonly algorithm: string;
}

export type InteropVectorKind = 'registration_request' | 'registration_reply' | 'agent_advertisement' | 'agent_solicitation';

export interface InteropVector {
  readonly id: string;
  readonly description: string;
  readonly rfc_sections: readonly string[];
  readonly kind: InteropVectorKind;
  readonly transport: Record<string, string | number>;
  readonly length: number;
  readonly hex: string;
  readonly keys: Record<string, InteropKey>;
  readonly decoded: Record<string, unknown>;
  readonly expect: Record<string, unknown>;
}

/** Every vector (a fresh copy each call). */
export function interopVectors(): InteropVector[] {
  return (JSON.parse(readFileSync(INTEROP_VECTORS_URL, 'utf8')) as { vectors: InteropVector[] }).vectors;
}

/** A vector's bytes. */
export function vectorBytes(vector: InteropVector): Uint8Array {
  return Uint8Array.from(Buffer.from(vector.hex, 'hex'));
}
