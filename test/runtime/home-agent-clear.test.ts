/**
 * `mip4 clear binding` at the runtime: HomeAgent.clearBinding ends every binding of a node
 * through its actor, as an expiry does (tunnel withdrawn, proxy ARP stopped, nothing sent),
 * and leaves the node able to register again.
 */
import { describe, expect, it } from 'vitest';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { COA1, COA2, Harness, MHAE, MN1, MN2, MN2_KEY, STRANGER } from './home-agent-harness.js';

describe('home agent: administrative clear of a binding', () => {
  it('removes every binding of the node with its tunnel and proxy ARP, sends nothing, logs binding-cleared by operator; other nodes keep theirs', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S, lifetime: 600 });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S, lifetime: 600 });
    h.register({ homeAddress: MN2, extensions: [MHAE(MN2_KEY)], careOfAddress: COA1, lifetime: 600 });
    expect(h.tunnels()).toEqual([COA1, COA2]);
    const sent = h.sent.length;
    const arpBefore = h.arp.length;

    expect(h.agent.clearBinding(MN1)).toEqual(['203.0.113.77', '203.0.113.78']);

    expect(h.tunnels()).toEqual([]);
    expect(h.bindingsOf('198.51.100.10')).toEqual([]);
    expect(h.bindingsOf('198.51.100.11')).toHaveLength(1);
    expect(h.tunnels(MN2)).toEqual([COA1]);
    expect(h.agent.bindingCount).toBe(1);
    expect(h.sent.length).toBe(sent);
    // Proxy ARP for the home address stops with the last binding (4.6), as at expiry.
    expect(h.arp.slice(arpBefore)).toEqual([{ kind: 'proxy-arp', enable: false, homeAddress: MN1 }]);
    expect(h.lastEvent()).toEqual({ event: 'binding-cleared', at: h.clock.now(), by: 'operator', homeAddress: '198.51.100.10', careOfAddresses: ['203.0.113.77', '203.0.113.78'] });
    // Nothing is left to expire later.
    h.clock.advance(600_000);
    expect(h.agent.counters.expired).toBe(1);
  });

  it('the node\'s next Request is accepted and bound again; clearing an address with no binding, or no node, clears nothing', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, lifetime: 600 });
    h.agent.clearBinding(MN1);
    h.clock.advance(1_000);
    expect(h.register({ careOfAddress: COA2, lifetime: 600 }).reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA2]);
    const events = h.events.length;
    expect(h.agent.clearBinding(MN2)).toEqual([]);
    expect(h.agent.clearBinding(STRANGER)).toEqual([]);
    expect(h.events.length).toBe(events);
  });
});
