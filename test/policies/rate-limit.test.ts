import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../policies/rate-limit.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate, refilling with time', () => {
    const bucket = new TokenBucket(10, 3);
    const t0 = 1_000_000;
    expect([bucket.take(t0), bucket.take(t0), bucket.take(t0), bucket.take(t0)]).toEqual([true, true, true, false]);
    expect(bucket.take(t0 + 99)).toBe(false); // 0.99 of a token
    expect(bucket.take(t0 + 100)).toBe(true); // one token per 100 ms at 10/s
    expect(bucket.take(t0 + 100)).toBe(false);
    // A long pause refills only up to the burst.
    const later = t0 + 60_000;
    expect([bucket.take(later), bucket.take(later), bucket.take(later), bucket.take(later)]).toEqual([true, true, true, false]);
  });

  it('over a long run lets through about rate x time + burst, and never more', () => {
    const bucket = new TokenBucket(100, 10);
    let allowed = 0;
    for (let ms = 0; ms < 10_000; ms++) for (let k = 0; k < 5; k++) if (bucket.take(ms)) allowed++;
    expect(allowed).toBeLessThanOrEqual(100 * 10 + 10);
    expect(allowed).toBeGreaterThanOrEqual(100 * 10);
  });

  it('does not refill when time goes backwards', () => {
    const bucket = new TokenBucket(1, 1);
    expect(bucket.take(5000)).toBe(true);
    expect(bucket.take(1000)).toBe(false);
    expect(bucket.take(5999)).toBe(false);
    expect(bucket.take(6000)).toBe(true);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(() => new TokenBucket(5, 0)).toThrow(RangeError);
  });
});
