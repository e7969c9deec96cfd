/**
 * The interop vectors (test/fixtures/interop-vectors.json, from an independent implementation,
 * confirmed with Wireshark and Scapy).
 */
import { readFileSync } from 'node:fs';

export const VECTORS_PATH = new URL('../fixtures/interop-vectors.json', import.meta.url);

export interface InteropKey {
  readonly spi: number;
  readonly key_hex: string;
  readonly key_len: number;
  readonly algorithm: string;
}

export interface InteropVector {
  readonly id: string;
  readonly description: string;
  readonly rfc_sections: readonly string[];
  readonly kind: 'registration_request' | 'registration_reply' | 'agent_advertisement' | 'agent_solicitation';
  readonly transport: Record<string, string | number>;
  readonly length: number;
  readonly hex: string;
  readonly keys: Record<string, InteropKey>;
  readonly decoded: Record<string, unknown>;
  readonly expect: Record<string, unknown>;
}

export function loadVectors(): InteropVector[] {
  return (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: InteropVector[] }).vectors;
}
