import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Identification } from '../../io/wire/registration-types.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import {
  acceptedReplyIdentification,
  checkNonceIdentification,
  checkTimestampIdentification,
  isLaterTimestamp,
  ntpSeconds,
  timestampDifferenceSeconds,
} from '../../policies/replay.js';
import { DEFAULT_REPLAY_WINDOW_SECONDS } from '../../policies/security-association.js';

/** 2024-01-01T00:00:00Z, the time base of the interop vectors (NTP 3913056000). */
const T0_UNIX_MS = 1_704_067_200_000;
const T0_NTP = 3_913_056_000;

/** The NTP timestamp `seconds` after T0 (fractions allowed), low half made exact. */
function at(seconds: number): Identification {
  return identificationFromUnixMs(T0_UNIX_MS + seconds * 1000);
}

describe('NTP time', () => {
  it('2024-01-01 is NTP second 3913056000 (the vectors\' time base)', () => {
    expect(ntpSeconds(T0_UNIX_MS)).toBe(T0_NTP);
    expect(ntpSeconds(T0_UNIX_MS + 999)).toBe(T0_NTP);
    expect(at(0)).toEqual({ high: T0_NTP, low: 0 });
  });

  it('orders timestamps across the 2036 NTP era rollover', () => {
    const beforeWrap = { high: 0xffffffff, low: 0x80000000 };
    const afterWrap = { high: 0, low: 5 };
    expect(isLaterTimestamp(afterWrap, beforeWrap)).toBe(true);
    expect(isLaterTimestamp(beforeWrap, afterWrap)).toBe(false);
    expect(timestampDifferenceSeconds(afterWrap, beforeWrap)).toBeCloseTo(0.5, 6);
  });
});

describe('timestamp replay protection (5.7.1)', () => {
  const window = DEFAULT_REPLAY_WINDOW_SECONDS;

  it('[R5.7.1-7] accepts a timestamp up to the window away from the clock, either way, inclusive', () => {
    for (const offset of [0, 6.999, 7, -7, -3.5]) {
      const check = checkTimestampIdentification({ received: at(offset), nowUnixMs: T0_UNIX_MS, windowSeconds: window });
      expect(check.valid, `offset ${offset}`).toBe(true);
    }
  });

  it('[R5.7.1-7] refuses a timestamp just outside the window (7 s default)', () => {
    for (const offset of [7.01, -7.01, 3600, -3600]) {
      const check = checkTimestampIdentification({ received: at(offset), nowUnixMs: T0_UNIX_MS, windowSeconds: window });
      expect(check, `offset ${offset}`).toMatchObject({ valid: false, why: 'outside-window' });
    }
  });

  it('[R5.7.1-7] refuses a timestamp equal to or below the last accepted one, accepts one a fraction greater', () => {
    const last = { high: T0_NTP, low: 1000 };
    const equal = checkTimestampIdentification({ received: last, lastAccepted: last, nowUnixMs: T0_UNIX_MS, windowSeconds: window });
    expect(equal).toMatchObject({ valid: false, why: 'not-greater' });
    const lower = checkTimestampIdentification({ received: { high: T0_NTP, low: 999 }, lastAccepted: last, nowUnixMs: T0_UNIX_MS, windowSeconds: window });
    expect(lower).toMatchObject({ valid: false, why: 'not-greater' });
    const earlierSecond = checkTimestampIdentification({ received: { high: T0_NTP - 1, low: 0xffffffff }, lastAccepted: last, nowUnixMs: T0_UNIX_MS, windowSeconds: window });
    expect(earlierSecond).toMatchObject({ valid: false, why: 'not-greater' });
    const greater = checkTimestampIdentification({ received: { high: T0_NTP, low: 1001 }, lastAccepted: last, nowUnixMs: T0_UNIX_MS, windowSeconds: window });
    expect(greater).toEqual({ valid: true, replyIdentification: { high: T0_NTP, low: 1001 } });
  });

  it('[R5.7-4] a valid timestamp is copied whole; an invalid one gets HA seconds high and the Request\'s low half', () => {
    const received = { high: T0_NTP - 3600, low: 0x77777777 };
    // The interop vector rrp_133_identification_mismatch: the HA at T0+3 answers e93c7f0377777777.
    const check = checkTimestampIdentification({ received, nowUnixMs: T0_UNIX_MS + 3_400, windowSeconds: window });
    expect(check).toEqual({ valid: false, why: 'outside-window', replyIdentification: { high: 0xe93c7f03, low: 0x77777777 } });
    const fresh = { high: T0_NTP, low: 0x12345678 };
    expect(checkTimestampIdentification({ received: fresh, nowUnixMs: T0_UNIX_MS, windowSeconds: window })).toEqual({
      valid: true,
      replyIdentification: fresh,
    });
  });

  it('uses the context\'s window, not a fixed one', () => {
    const received = at(20);
    expect(checkTimestampIdentification({ received, nowUnixMs: T0_UNIX_MS, windowSeconds: 7 }).valid).toBe(false);
    expect(checkTimestampIdentification({ received, nowUnixMs: T0_UNIX_MS, windowSeconds: 30 }).valid).toBe(true);
  });

  it('[R5.7-4] whatever the outcome, the reply\'s low half is the request\'s (property)', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.integer({ min: -100_000, max: 100_000 }), (high, low, skewMs) => {
        const check = checkTimestampIdentification({ received: { high, low }, nowUnixMs: T0_UNIX_MS + skewMs, windowSeconds: 7 });
        expect(check.replyIdentification.low).toBe(low);
      }),
    );
  });
});

describe('nonce replay protection (5.7.2)', () => {
  it('[R5.7-4] a first Request, before any nonce was issued, is invalid and the Reply carries a nonce', () => {
    const check = checkNonceIdentification({ received: { high: 0, low: 0xabcdef01 }, nextNonce: 0x11111111 });
    expect(check).toEqual({ valid: false, why: 'no-nonce-issued', replyIdentification: { high: 0x11111111, low: 0xabcdef01 } });
  });

  it('[R5.7-4] a Request echoing the issued nonce is valid, and the Reply carries the next nonce', () => {
    const check = checkNonceIdentification({ received: { high: 0x11111111, low: 42 }, expectedNonce: 0x11111111, nextNonce: 0x22222222 });
    expect(check).toEqual({ valid: true, replyIdentification: { high: 0x22222222, low: 42 } });
  });

  it('a Request with another nonce is invalid and still gets a new nonce (self-synchronising)', () => {
    const check = checkNonceIdentification({ received: { high: 0x11111112, low: 7 }, expectedNonce: 0x11111111, nextNonce: 0x33333333 });
    expect(check).toEqual({ valid: false, why: 'nonce-mismatch', replyIdentification: { high: 0x33333333, low: 7 } });
  });

  it('acceptedReplyIdentification copies under timestamps and issues a nonce under nonces', () => {
    const received = { high: 5, low: 6 };
    expect(acceptedReplyIdentification('timestamp', received, 99)).toBe(received);
    expect(acceptedReplyIdentification('nonce', received, 99)).toEqual({ high: 99, low: 6 });
  });
});
