/** The system's random source for nonces and identifications on real networks (RFC 5944 5.4); tests inject seeded ones. */
import { randomBytes } from 'node:crypto';

/** Random bytes drawn from the system generator in blocks: one call per 1,024 values, not per request. */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolOffset = 0;

/** A cryptographically strong 32-bit source for nonces on real networks (5.4). */
export function secureRandom32(): number {
  if (randomPoolOffset + 4 > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolOffset = 0;
  }
  const value = randomPool.readUInt32BE(randomPoolOffset);
  // Each value is handed out once and then erased from the pool.
  randomPool.fill(0, randomPoolOffset, randomPoolOffset + 4);
  randomPoolOffset += 4;
  return value;
}
