/**
 * limits.maxMessageBytes: a datagram longer than the limit is discarded before it is decoded
 * or any authenticator computed (walking and authenticating a 64 KiB Request of two-byte
 * extensions costs the event loop milliseconds), counted and logged; up to the limit a
 * Request is served as usual.
 */
import { describe, expect, it } from 'vitest';
import { REGISTRATION_REQUEST } from '../../io/wire/registration-types.js';
import { HomeAgent } from '../../runtime/ha/home-agent.js';
import { SimulatedClock } from '../../io/clock.js';
import { buildRequest, COA1, Harness, makeConfig, MHAE, START } from './home-agent-harness.js';

/** A Request padded with a skippable extension (type 200, 1.8) to exactly `total` bytes, authenticated. */
function paddedRequest(h: Harness, total: number): Uint8Array {
  // 24 fixed + (2 + n) padding + 22 MHAE.
  const data = new Uint8Array(total - 24 - 22 - 2);
  const bytes = buildRequest({ identification: h.fresh(), careOfAddress: COA1, extensions: [{ unknown: 200, data }, MHAE()] });
  expect(bytes.length).toBe(total);
  return bytes;
}

/** 64 KiB of two-byte extensions after the fixed part: the costly shape of the review. */
function twoByteExtensions(h: Harness, total: number): Uint8Array {
  const fixed = buildRequest({ identification: h.fresh(), careOfAddress: COA1, extensions: [] });
  const bytes = new Uint8Array(total);
  bytes.set(fixed);
  for (let i = fixed.length; i + 1 < total; i += 2) bytes[i] = 200; // type 200, length 0
  return bytes;
}

describe('HomeAgent: limits.maxMessageBytes', () => {
  it('discards a 64 KiB Request of two-byte extensions unread (default 1500), counts and logs it; the binding stays', () => {
    const h = new Harness();
    h.register();
    const huge = twoByteExtensions(h, 65_507);
    expect(huge[0]).toBe(REGISTRATION_REQUEST);
    expect(h.deliver(huge, { source: COA1 })).toEqual([]);
    expect(h.agent.counters.discardedByReason['message-too-large']).toBe(1);
    expect(h.agent.counters.discarded).toBe(1);
    const event = h.events.at(-1)!;
    expect(event).toMatchObject({ event: 'discard', reason: 'message-too-large', detail: '65507 bytes exceed maxMessageBytes 1500' });
    // The log keeps the capped prefix, as for every discard.
    expect((event as { datagram: string }).datagram).toMatch(/\.\.\.$/);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('checks the size first: an oversized datagram that is not even a Request is counted as too large', () => {
    const h = new Harness();
    const junk = new Uint8Array(2_000).fill(0xff);
    h.deliver(junk);
    expect(h.agent.counters.discardedByReason).toEqual({ 'message-too-large': 1 });
  });

  it('serves a Request of exactly the limit and discards one byte more', () => {
    const h = new Harness({ ...makeConfig(), maxMessageBytes: 200 });
    expect(h.ask({ identification: h.fresh() }).reply.code).toBe(0);
    expect(h.deliver(paddedRequest(h, 200), { source: COA1 }).map((s) => s.reply.code)).toEqual([0]);
    expect(h.deliver(paddedRequest(h, 201), { source: COA1 })).toEqual([]);
    expect(h.agent.counters.discardedByReason['message-too-large']).toBe(1);
  });

  it('a HomeAgent refuses a limit below the smallest authenticated Request (46), a fraction or beyond 65535, naming the field', () => {
    for (const maxMessageBytes of [45, 0, 1500.5, 65_536, Number.NaN]) {
      expect(() => new HomeAgent({ ...makeConfig(), maxMessageBytes }, { clock: new SimulatedClock(START), random32: () => 1 }), String(maxMessageBytes)).toThrow(
        /^maxMessageBytes: expected an integer from 46 .* to 65535/,
      );
    }
    expect(() => new HomeAgent({ ...makeConfig(), maxMessageBytes: 46 }, { clock: new SimulatedClock(START), random32: () => 1 })).not.toThrow();
  });
});
