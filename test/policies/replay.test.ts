import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Identification } from '../../io/wire/registration-types.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import {
  acceptedReplyIdentification,
  advanceReplayState,
  type ReplayState,
  type ReplayStateUpdate,
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

describe('advanceReplayState: the one place a node\'s replay state changes (5.7)', () => {
  const t1 = { high: T0_NTP, low: 100 };
  const t2 = { high: T0_NTP, low: 200 };
  const t3 = { high: T0_NTP + 1, low: 0 };
  const table: Array<{ name: string; state: ReplayState; update: ReplayStateUpdate; expected: ReplayState | 'unchanged' }> = [
    { name: 'first timestamp', state: {}, update: { kind: 'timestamp', lastAccepted: t1 }, expected: { lastAcceptedTimestamp: t1 } },
    { name: 'a later timestamp moves forward', state: { lastAcceptedTimestamp: t1 }, update: { kind: 'timestamp', lastAccepted: t3 }, expected: { lastAcceptedTimestamp: t3 } },
    { name: 'an earlier timestamp never moves it back', state: { lastAcceptedTimestamp: t2 }, update: { kind: 'timestamp', lastAccepted: t1 }, expected: 'unchanged' },
    { name: 'the same timestamp changes nothing', state: { lastAcceptedTimestamp: t2 }, update: { kind: 'timestamp', lastAccepted: t2 }, expected: 'unchanged' },
    { name: 'an echoed nonce: the next is expected, the resync one retired', state: { expectedNonce: 1, resyncNonce: 2 }, update: { kind: 'nonce', expectedNonce: 3 }, expected: { expectedNonce: 3 } },
    { name: 'a 133 adds a resync nonce and keeps the expected one', state: { expectedNonce: 1 }, update: { kind: 'nonce-resync', resyncNonce: 4 }, expected: { expectedNonce: 1, resyncNonce: 4 } },
    { name: 'a later 133 replaces the resync nonce only', state: { expectedNonce: 1, resyncNonce: 4 }, update: { kind: 'nonce-resync', resyncNonce: 5 }, expected: { expectedNonce: 1, resyncNonce: 5 } },
  ];
  for (const row of table) {
    it(`${row.update.kind === 'timestamp' ? '[R5.7.1-7] ' : ''}${row.name}`, () => {
      const next = advanceReplayState(row.state, row.update);
      if (row.expected === 'unchanged') expect(next).toBe(row.state);
      else expect(JSON.parse(JSON.stringify(next))).toEqual(row.expected);
    });
  }

  it('[R5.7.1-7] no sequence of updates makes the accepted timestamp decrease; a resync never touches the expected nonce (property)', () => {
    const identification = fc.record({ high: fc.integer({ min: T0_NTP - 5, max: T0_NTP + 5 }), low: fc.nat(0xffffffff) });
    const update: fc.Arbitrary<ReplayStateUpdate> = fc.oneof(
      fc.record({ kind: fc.constant('timestamp' as const), lastAccepted: identification }),
      fc.record({ kind: fc.constant('nonce' as const), expectedNonce: fc.nat(0xffffffff) }),
      fc.record({ kind: fc.constant('nonce-resync' as const), resyncNonce: fc.nat(0xffffffff) }),
    );
    fc.assert(
      fc.property(fc.array(update, { maxLength: 50 }), (updates) => {
        let state: ReplayState = {};
        for (const u of updates) {
          const next = advanceReplayState(state, u);
          if (state.lastAcceptedTimestamp !== undefined) {
            expect(isLaterTimestamp(state.lastAcceptedTimestamp, next.lastAcceptedTimestamp!)).toBe(false);
          }
          if (u.kind === 'nonce-resync') expect(next.expectedNonce).toBe(state.expectedNonce);
          if (u.kind !== 'timestamp') expect(next.lastAcceptedTimestamp).toBe(state.lastAcceptedTimestamp);
          state = next;
        }
      }),
      { seed: 57, numRuns: 500 },
    );
  });
});

describe('nonce replay protection with a resynchronising nonce (5.7.2)', () => {
  it('[R5.7-4] either the expected nonce or the one of the last 133 is valid; anything else is not', () => {
    const base = { expectedNonce: 0x1111, resyncNonce: 0x2222, nextNonce: 0x3333 };
    expect(checkNonceIdentification({ ...base, received: { high: 0x1111, low: 1 } }).valid).toBe(true);
    expect(checkNonceIdentification({ ...base, received: { high: 0x2222, low: 2 } }).valid).toBe(true);
    expect(checkNonceIdentification({ ...base, received: { high: 0x4444, low: 3 } })).toMatchObject({ valid: false, why: 'nonce-mismatch' });
    expect(checkNonceIdentification({ resyncNonce: 0x2222, nextNonce: 1, received: { high: 0x2222, low: 4 } }).valid).toBe(true);
  });
});
