/**
 * What the home agent does when a binding's lifetime runs out (RFC 5944 3.8.2.2, 4.2.3): the
 * binding goes, nothing is sent, other simultaneous bindings stay.
 */
import { describe, expect, it } from 'vitest';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { COA1, COA2, Harness } from './home-agent-harness.js';

describe('home agent: binding expiry', () => {
  it('[R4.2.3-8] [R4.2.3-9] an expired binding is deleted with no Registration Reply sent; the other simultaneous binding stays until its own lifetime', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S, lifetime: 100 });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S, lifetime: 300 });
    const repliesBefore = h.sent.length;
    const eventsBefore = h.events.length;
    h.clock.advance(100_000);
    expect(h.tunnels()).toEqual([COA2]);
    expect(h.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.78']);
    expect(h.agent.counters.expired).toBe(1);
    // Nothing was sent for the expiry: no Reply, no event that is a reply.
    expect(h.sent.length).toBe(repliesBefore);
    expect(h.events.slice(eventsBefore).filter((e) => e.event === 'reply')).toEqual([]);
    h.clock.advance(199_999);
    expect(h.tunnels()).toEqual([COA2]);
    h.clock.advance(1);
    expect(h.tunnels()).toEqual([]);
    expect(h.agent.bindingCount).toBe(0);
    expect(h.sent.length).toBe(repliesBefore);
  });
});
