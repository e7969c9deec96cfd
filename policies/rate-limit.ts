/**
 * A token bucket: at most `burst` events at once and `ratePerSecond` on average. Pure: the
 * caller passes the time. The home agent uses it to bound the replies it sends to requests
 * that fail authentication (131), so forged requests with spoofed sources cannot turn it
 * into a reflector, and per mobile node the replies a replayed capture can draw (duplicates,
 * 133); past the bound such requests are discarded and counted.
 */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number = ratePerSecond,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError(`a token bucket needs a positive rate and a burst >= 1, got ${ratePerSecond}, ${burst}`);
    this.tokens = burst;
  }

  /** Takes one token at time `nowMs` if there is one. */
  take(nowMs: number): boolean {
    if (this.last !== undefined && nowMs > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) / 1000) * this.ratePerSecond);
    }
    this.last = this.last === undefined ? nowMs : Math.max(this.last, nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
