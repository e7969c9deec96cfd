/**
 * Conventions shared by every codec in io/wire.
 *
 * - `decodeX(bytes, offset = 0, end = bytes.length)` reads one value from `bytes[offset, end)`
 *   without copying payloads (byte fields are `subarray` views of the input) and never throws:
 *   it returns `{ ok: true, value, next }` or `{ ok: false, error }`.
 * - `encodeX(value, bytes, offset = 0)` writes into the caller's buffer and returns the
 *   offset after the last byte written; it throws only on programmer error (a buffer too
 *   small, a field out of range), never on anything received from the network.
 * - `xLength(value)` is the exact number of bytes `encodeX` writes.
 * - `toBytesX(value)` allocates a buffer of the right size and encodes into it.
 *
 * This module imports nothing from effect, xstate or rxjs (see docs/architecture.md).
 */

/** Why a decode failed. Agents map these to reply codes (70, 71, 134, ...) or silent discards. */
export type WireErrorReason =
  /** Fewer bytes than the fixed part or a length field requires. */
  | 'truncated'
  /** A length field disagrees with the data (too small for its type, or inconsistent). */
  | 'bad-length'
  /** A checksum (IPv4, ICMP, UDP, minimal encapsulation) does not verify. */
  | 'bad-checksum'
  /** The message or header type is not the one the decoder reads. */
  | 'bad-type'
  /** An IP version, GRE version or hardware/protocol type this codec does not read. */
  | 'bad-version'
  /** A field holds a value the specification forbids (e.g. IHL < 5). */
  | 'bad-value';

export interface WireError {
  readonly reason: WireErrorReason;
  /** Byte offset (in the buffer passed to the decoder) of the field found wrong. */
  readonly offset: number;
  /** Which codec produced the error, e.g. 'registration-request', 'ipv4'. */
  readonly layer: string;
  /** A sentence a person can read: what was expected and what was found. */
  readonly message: string;
}

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T; readonly next: number }
  | { readonly ok: false; readonly error: WireError };

export function decoded<T>(value: T, next: number): DecodeResult<T> {
  return { ok: true, value, next };
}

export function wireError(
  layer: string,
  reason: WireErrorReason,
  offset: number,
  message: string,
): { readonly ok: false; readonly error: WireError } {
  return { ok: false, error: { layer, reason, offset, message } };
}

/** A codec as a value, for generic helpers and round-trip property tests. */
export interface Codec<T> {
  readonly name: string;
  decode(bytes: Uint8Array, offset?: number, end?: number): DecodeResult<T>;
  encode(value: T, bytes: Uint8Array, offset?: number): number;
  encodingLength(value: T): number;
}

/** Encodes into a fresh buffer of exactly the right size. */
export function encodeToBytes<T>(codec: Codec<T>, value: T): Uint8Array {
  const bytes = new Uint8Array(codec.encodingLength(value));
  const end = codec.encode(value, bytes, 0);
  if (end !== bytes.length) {
    throw new Error(`${codec.name}: encoded ${end} bytes but encodingLength said ${bytes.length}`);
  }
  return bytes;
}

/** Thrown by encoders on programmer error only (buffer too small, field out of range). */
export class EncodeError extends Error {
  constructor(layer: string, message: string) {
    super(`${layer}: ${message}`);
    this.name = 'EncodeError';
  }
}

export function ensureRoom(layer: string, bytes: Uint8Array, offset: number, needed: number): void {
  if (offset < 0 || offset + needed > bytes.length) {
    throw new EncodeError(layer, `needs ${needed} bytes at offset ${offset}, buffer has ${bytes.length}`);
  }
}
