/**
 * Replies to requests that fail authentication (131) are bounded: a flood of forged requests
 * with spoofed sources gets at most the configured rate of replies; the rest are discarded,
 * counted and logged, and genuine requests are still answered.
 */
import { describe, expect, it } from 'vitest';
import { buildRequest, COA1, Harness, makeConfig, MHAE, MN1_KEY } from './home-agent-harness.js';

describe('HomeAgent: 131 replies are rate-limited', () => {
  it('answers at most the burst at once, then the configured rate; a genuine request still succeeds', () => {
    const h = new Harness({ ...makeConfig(), authFailureRepliesPerSecond: 5 });
    let replies = 0;
    for (let i = 0; i < 50; i++) replies += h.deliver(buildForged(h), { source: COA1 }).length;
    expect(replies).toBe(5);
    expect(h.agent.counters.discardedByReason['rate-limited']).toBe(45);
    expect(h.events.at(-1)).toMatchObject({ event: 'discard', reason: 'rate-limited', securityException: true });
    // One second later five more tokens: five more 131s, then silence again.
    h.clock.advance(1000);
    replies = 0;
    for (let i = 0; i < 20; i++) replies += h.deliver(buildForged(h), { source: COA1 }).length;
    expect(replies).toBe(5);
    // The limit concerns failed authentications only.
    expect(h.register().reply.code).toBe(0);
  });

  it('defaults to 100 per second', () => {
    const h = new Harness();
    let replies = 0;
    for (let i = 0; i < 150; i++) replies += h.deliver(buildForged(h), { source: COA1 }).length;
    expect(replies).toBe(100);
  });
});

/** A request whose Mobile-Home authenticator is wrong, as a forger without the key sends. */
function buildForged(h: Harness): Uint8Array {
  return buildRequest({ identification: h.fresh(), extensions: [MHAE(MN1_KEY, true)] });
}
