/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) over byte ranges, written for the home agent's hot
 * path: a registration message is one or two 64-byte blocks, where node:crypto's per-call
 * overhead (a Hash or Hmac object, a KeyObject, a Buffer per digest: ~2 µs) is many times
 * the cost of the compression itself. Same algorithms, same results (the tests compare with
 * node:crypto on random keys and messages); no allocation per call beyond what the caller asks
 * for. MD5 has no secret-dependent branches or table lookups, so computing it here leaks no
 * more timing than OpenSSL's does.
 *
 * Pure computation, no IO.
 */

/** 3.4 of RFC 1321: T[i] = floor(2^32 × |sin(i + 1)|), i = 0…63 (radians). */
const T = new Int32Array(64);
for (let i = 0; i < 64; i++) T[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;

/** Per-step left rotations of the four rounds (RFC 1321 3.4). */
const SHIFT = new Uint8Array([
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
]);

/** Which message word step i reads: i, 5i+1, 3i+5, 7i (mod 16) in rounds 1-4. */
const WORD = new Uint8Array(64);
for (let i = 0; i < 64; i++) WORD[i] = i < 16 ? i : i < 32 ? (5 * i + 1) & 15 : i < 48 ? (3 * i + 5) & 15 : (7 * i) & 15;

const BLOCK = 64;
/** The 16 little-endian words of the block being compressed. */
const X = new Int32Array(16);
/** Scratch for the last, padded block(s). */
const TAIL = new Uint8Array(2 * BLOCK);

/** One compression of the 64 bytes at `bytes[offset…]` into `state` (A, B, C, D). */
function compress(state: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let w = 0, o = offset; w < 16; w++, o += 4) {
    X[w] = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  // The four rounds (RFC 1321 3.4), one loop each so every loop body has one function.
  let i = 0;
  for (; i < 16; i++) {
    const sum = (a + ((b & c) | (~b & d)) + X[i]! + T[i]!) | 0;
    const s = SHIFT[i]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  for (; i < 32; i++) {
    const sum = (a + ((b & d) | (c & ~d)) + X[WORD[i]!]! + T[i]!) | 0;
    const s = SHIFT[i]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  for (; i < 48; i++) {
    const sum = (a + (b ^ c ^ d) + X[WORD[i]!]! + T[i]!) | 0;
    const s = SHIFT[i]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  for (; i < 64; i++) {
    const sum = (a + (c ^ (b | ~d)) + X[WORD[i]!]! + T[i]!) | 0;
    const s = SHIFT[i]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

function initialise(state: Int32Array): void {
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
}

/**
 * Feeds `data[start, end)` into `state`, which has already consumed `before` bytes (a
 * multiple of 64), and finishes with the padding and bit length of 3.1-3.2.
 */
function finish(state: Int32Array, before: number, data: Uint8Array, start: number, end: number): void {
  let offset = start;
  for (; end - offset >= BLOCK; offset += BLOCK) compress(state, data, offset);
  const rest = end - offset;
  const blocks = rest + 9 <= BLOCK ? 1 : 2;
  for (let i = 0; i < rest; i++) TAIL[i] = data[offset + i]!;
  TAIL[rest] = 0x80;
  for (let i = rest + 1; i < blocks * BLOCK - 8; i++) TAIL[i] = 0;
  const bits = (before + (end - start)) * 8;
  const at = blocks * BLOCK - 8;
  const low = bits % 0x100000000;
  const high = Math.floor(bits / 0x100000000);
  for (let i = 0; i < 4; i++) {
    TAIL[at + i] = (low >>> (8 * i)) & 0xff;
    TAIL[at + 4 + i] = (high >>> (8 * i)) & 0xff;
  }
  compress(state, TAIL, 0);
  if (blocks === 2) compress(state, TAIL, BLOCK);
}

function writeDigest(state: Int32Array, out: Uint8Array, outOffset: number): void {
  for (let w = 0; w < 4; w++) {
    const v = state[w]!;
    out[outOffset + 4 * w] = v & 0xff;
    out[outOffset + 4 * w + 1] = (v >>> 8) & 0xff;
    out[outOffset + 4 * w + 2] = (v >>> 16) & 0xff;
    out[outOffset + 4 * w + 3] = (v >>> 24) & 0xff;
  }
}

const STATE = new Int32Array(4);
const PAD = new Uint8Array(BLOCK);
const INNER = new Uint8Array(16);
const HASHED_KEY = new Uint8Array(16);

/** MD5 of `data`. */
export function md5(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  initialise(STATE);
  finish(STATE, 0, data, 0, data.length);
  writeDigest(STATE, out, 0);
  return out;
}

/** MD5 of the concatenation of the given byte arrays. */
export function md5Concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return md5(joined);
}

/** The key block K XOR pad (RFC 2104 step 1-2, 5), hashed into `state` as the first block. */
function keyBlock(state: Int32Array, key: Uint8Array, pad: number): void {
  // RFC 2104 2: keys longer than the block are first hashed.
  const k = key.length > BLOCK ? HASHED_KEY : key;
  if (key.length > BLOCK) {
    initialise(STATE);
    finish(STATE, 0, key, 0, key.length);
    writeDigest(STATE, HASHED_KEY, 0);
  }
  PAD.fill(pad);
  for (let i = 0; i < k.length; i++) PAD[i] = k[i]! ^ pad;
  initialise(state);
  compress(state, PAD, 0);
}

/**
 * A key prepared for HMAC-MD5: the states after hashing the first block of each pass,
 * (K ⊕ ipad) and (K ⊕ opad), which RFC 2104 4 notes "may be precomputed" since they depend
 * on the key only. Halves the work per message (two compressions for a registration message
 * of up to 55 bytes instead of four). Holds a copy of the key bytes, so a caller that later
 * changes its array does not change this key, and `matches` can tell.
 */
export class HmacMd5Key {
  /**
   * One typed array (one object on the heap, not three): the inner state (words 0-3), the
   * outer state (4-7), the key's length (8), then the key's bytes packed four to a word.
   */
  private readonly words: Int32Array;

  constructor(key: Uint8Array) {
    const words = new Int32Array(9 + ((key.length + 3) >>> 2));
    const state = new Int32Array(4);
    keyBlock(state, key, 0x36);
    words.set(state, 0);
    keyBlock(state, key, 0x5c);
    words.set(state, 4);
    words[8] = key.length;
    for (let i = 0; i < key.length; i++) words[9 + (i >>> 2)]! |= key[i]! << (8 * (i & 3));
    this.words = words;
  }

  /** Whether this was prepared from exactly these key bytes. */
  matches(key: Uint8Array): boolean {
    const words = this.words;
    if (words[8] !== key.length) return false;
    for (let i = 0; i < key.length; i++) {
      if (((words[9 + (i >>> 2)]! >>> (8 * (i & 3))) & 0xff) !== key[i]) return false;
    }
    return true;
  }

  /**
   * HMAC-MD5 (RFC 2104) of `data[start, end)`, written to `out[outOffset…+16)`:
   * MD5((K ⊕ opad) ‖ MD5((K ⊕ ipad) ‖ data)).
   */
  digestInto(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number): void {
    const state = STATE;
    const words = this.words;
    state[0] = words[0]!;
    state[1] = words[1]!;
    state[2] = words[2]!;
    state[3] = words[3]!;
    finish(state, BLOCK, data, start, end);
    writeDigest(state, INNER, 0);
    state[0] = words[4]!;
    state[1] = words[5]!;
    state[2] = words[6]!;
    state[3] = words[7]!;
    finish(state, BLOCK, INNER, 0, 16);
    writeDigest(state, out, outOffset);
  }
}

/** HMAC-MD5 of `data[start, end)` under a key used once, written to `out[outOffset…+16)`. */
export function hmacMd5Into(key: Uint8Array, data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number): void {
  const state = STATE;
  keyBlock(state, key, 0x36);
  finish(state, BLOCK, data, start, end);
  writeDigest(state, INNER, 0);
  keyBlock(state, key, 0x5c);
  finish(state, BLOCK, INNER, 0, 16);
  writeDigest(state, out, outOffset);
}

/** HMAC-MD5 of `data` under `key`. */
export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  hmacMd5Into(key, data, 0, data.length, out, 0);
  return out;
}
