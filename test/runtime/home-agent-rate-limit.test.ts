/**
 * Replies to requests that fail authentication (131) are bounded: a flood of forged requests
 * with spoofed sources gets at most the configured rate of replies; the rest are discarded,
 * counted and logged, and genuine requests are still answered. So are, per mobile node, the
 * replies anyone resending captured Requests can draw (duplicates, 133s), and those are never
 * larger than the Request.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import {
  buildRequest,
  COA1,
  COA2,
  FA,
  FHAE,
  Harness,
  makeConfig,
  MHAE,
  MN1_KEY,
  MN2,
  MN2_KEY,
  SUBNET_BROADCAST,
  type Arrival,
} from './home-agent-harness.js';

/** An address the node never used: where a replay with a spoofed source sends its Reply. */
const VICTIM = ipv4('192.0.2.99');

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

describe('HomeAgent: replies to resendable Requests (duplicates, 133) are bounded per node', () => {
  /** MN1 registered at COA1; returns the captured Request. */
  function registered(h: Harness): Uint8Array {
    const bytes = buildRequest({ identification: h.fresh(), careOfAddress: COA1 });
    expect(h.deliver(bytes, { source: COA1 })[0]!.reply.code).toBe(0);
    return bytes;
  }

  it('a flood of replayed duplicates from a spoofed source gets the burst (default 2), the rest counted', () => {
    const h = new Harness();
    const captured = registered(h);
    let replies = 0;
    for (let i = 0; i < 50; i++) replies += h.deliver(captured, { source: VICTIM }).length;
    expect(replies).toBe(2);
    expect(h.agent.counters.discardedByReason['replayable-rate-limited']).toBe(48);
    expect(h.events.at(-1)).toMatchObject({ event: 'discard', reason: 'replayable-rate-limited', securityException: true });
    h.clock.advance(1_000);
    for (let i = 0; i < 10; i++) replies += h.deliver(captured, { source: VICTIM }).length;
    expect(replies).toBe(4);
  });

  it('the node\'s own retransmission is still answered while replays from elsewhere are dropped, and fresh Requests never count', () => {
    const h = new Harness();
    const captured = registered(h);
    for (let i = 0; i < 20; i++) h.deliver(captured, { source: VICTIM });
    // The same bytes from where the node is: its Reply was lost and it sends again (3.6.3).
    expect(h.deliver(captured, { source: COA1 }).map((s) => s.reply.code)).toEqual([0]);
    // Fresh Requests, accepted or denied, come from the node only: never limited.
    for (let i = 0; i < 10; i++) {
      expect(h.ask({ identification: h.fresh(), careOfAddress: COA1 }, { source: COA1, destination: SUBNET_BROADCAST }).reply.code).toBe(136);
    }
    h.register({ careOfAddress: COA2 });
  });

  it('stale replays (133) are bounded per node too, and another node is not affected', () => {
    const h = new Harness();
    const stale = registered(h);
    h.clock.advance(1_000);
    registered(h); // the first Request is no longer current: a replay of it gets 133
    let replies = 0;
    for (let i = 0; i < 20; i++) replies += h.deliver(stale, { source: VICTIM }).length;
    expect(replies).toBe(2);
    expect(h.register({ homeAddress: MN2, extensions: [MHAE(MN2_KEY)] }).reply.code).toBe(0);
  });

  it('a HomeAgent refuses a replayableRepliesPerNodePerSecond below 1, naming the field', () => {
    for (const replayableRepliesPerNodePerSecond of [0, 0.5, -1, Number.NaN]) {
      expect(() => new Harness({ ...makeConfig(), replayableRepliesPerNodePerSecond })).toThrow(/^replayableRepliesPerNodePerSecond: expected a number >= 1/);
    }
  });

  it('honours replayableRepliesPerNodePerSecond', () => {
    const h = new Harness({ ...makeConfig(), replayableRepliesPerNodePerSecond: 5 });
    const captured = registered(h);
    let replies = 0;
    for (let i = 0; i < 20; i++) replies += h.deliver(captured, { source: VICTIM }).length;
    expect(replies).toBe(5);
  });

  it('a 133 toward a foreign agent address whose FHAE the Request lacked is not sent: it would be larger (no amplification)', () => {
    const h = new Harness();
    const stale = registered(h);
    h.clock.advance(1_000);
    registered(h);
    expect(h.deliver(stale, { source: FA })).toEqual([]);
    expect(h.agent.counters.discardedByReason['reply-larger-than-request']).toBe(1);
    expect(h.events.at(-1)).toMatchObject({ event: 'discard', reason: 'reply-larger-than-request', securityException: true });
  });

  it('[R3.8.2.1-14] a node behind its foreign agent still gets its 133 (the Request carries the FHAE too)', () => {
    const h = new Harness();
    const old = { identification: { high: 1, low: 1 }, careOfAddress: FA, extensions: [MHAE(), FHAE()] };
    expect(h.ask(old, { source: FA }).reply.code).toBe(133);
  });

  it('no replayed Request draws a Reply larger than itself, whatever its source (property)', () => {
    const sources = [COA1, COA2, FA, VICTIM];
    const arrivals: Arrival[] = [{}, { destination: SUBNET_BROADCAST }];
    fc.assert(
      fc.property(
        fc.array(fc.record({ which: fc.nat(), source: fc.constantFrom(...sources), arrival: fc.constantFrom(...arrivals), s: fc.boolean(), waitMs: fc.nat(1_500) }), { maxLength: 25 }),
        (steps) => {
          const h = new Harness({ ...makeConfig(), replayableRepliesPerNodePerSecond: 1000 });
          const captured: Uint8Array[] = [];
          for (const step of steps) {
            h.clock.advance(step.waitMs);
            const fresh = buildRequest({ identification: h.fresh(), careOfAddress: step.source === FA ? COA2 : COA1, flags: step.s ? RequestFlag.S : 0 });
            h.deliver(fresh, { source: COA1 });
            captured.push(fresh);
            const replayed = captured[step.which % captured.length]!;
            for (const sent of h.deliver(replayed, { source: step.source, ...step.arrival })) {
              expect(sent.data.length).toBeLessThanOrEqual(replayed.length);
            }
          }
        },
      ),
      { seed: 2026, numRuns: 100 },
    );
  });
});
