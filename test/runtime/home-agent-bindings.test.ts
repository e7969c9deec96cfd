/**
 * Mobility bindings of the home agent as a whole (RFC 5944 3.8.1, 3.8.2.2): binding list,
 * forwarding table, lifetimes on the simulated clock, the transition log, and the ARP
 * commands of 4.6.
 */
import { describe, expect, it } from 'vitest';
import { identificationToHex } from '../../io/wire/identification.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import {
  buildRequest,
  COA1,
  COA2,
  COA3,
  FA,
  FHAE,
  Harness,
  makeConfig,
  MHAE,
  MIP_PORT,
  MN1,
  MN2,
  MN2_KEY,
  START,
} from './home-agent-harness.js';

const MN1_TEXT = '198.51.100.10';
const ACTOR = `binding:${MN1_TEXT}`;

describe('HomeAgent bindings (3.8.1, 3.8.2.2)', () => {
  it('[R3.8.1-3] [R3.8.2.2-1] an accepted registration creates the binding entry and its forwarding-table entry', () => {
    const h = new Harness();
    const identification = h.fresh();
    h.ask({ identification, careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    expect(h.agent.bindings()).toEqual([
      {
        homeAddress: MN1_TEXT,
        careOfAddress: '203.0.113.77',
        lifetime: 1200,
        remaining: 1200,
        encapsulation: 'ip-in-ip',
        flags: '',
        identification: identificationToHex(identification),
      },
    ]);
    expect(h.agent.forwardingTable.lookup(MN1)).toEqual({
      homeAddress: MN1,
      tunnels: [{ careOfAddress: COA1, encapsulation: 'ip-in-ip', broadcast: false, decapsulatedByMobileNode: false, reverseTunnel: false }],
    });
    expect(h.fibChanges).toEqual([{ kind: 'set', entry: h.agent.forwardingTable.lookup(MN1) }]);
    expect(h.transitions).toEqual([
      { actor: ACTOR, from: '(none)', to: 'registered.timed', reason: 'registered', event: 'xstate.init', at: START },
    ]);
    // The remaining lifetime counts down on the clock.
    h.clock.advance(200_500);
    expect(h.agent.bindings()[0]!.remaining).toBe(999);
  });

  it('[R3.8.2-3] B, D and G are recorded in the binding and the FIB; B is ignored, not refused, without broadcast support', () => {
    const h = new Harness();
    h.register({ flags: RequestFlag.B | RequestFlag.D | RequestFlag.G });
    expect(h.agent.bindings()[0]).toMatchObject({ flags: 'BD', encapsulation: 'gre' });
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels).toEqual([
      { careOfAddress: COA1, encapsulation: 'gre', broadcast: true, decapsulatedByMobileNode: true, reverseTunnel: false },
    ]);

    const noBroadcast = new Harness(makeConfig({ settings: { broadcast: false } }));
    const sent = noBroadcast.register({ flags: RequestFlag.B });
    expect(sent.reply.code).toBe(0);
    expect(noBroadcast.agent.bindings()[0]!.flags).toBe('');
    expect(noBroadcast.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.broadcast).toBe(false);
  });

  it('a renewal (same care-of address, newer timestamp) restarts the lifetime', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, lifetime: 600 });
    h.clock.advance(500_000);
    const renewal = h.register({ careOfAddress: COA1, lifetime: 600 });
    expect(renewal.reply.lifetime).toBe(600);
    expect(h.agent.bindings()[0]).toMatchObject({ remaining: 600 });
    expect(h.transitions.at(-1)).toMatchObject({ actor: ACTOR, from: 'registered.timed', to: 'registered.timed', reason: 'renewed' });
    // Past the first grant the binding lives on, until 600 s after the renewal.
    h.clock.advance(599_999);
    expect(h.tunnels()).toEqual([COA1]);
    h.clock.advance(1);
    expect(h.tunnels()).toEqual([]);
  });

  it('[R3.8.2.2-9] a duplicate of the accepted current Request is accepted without extending the lifetime originally granted', () => {
    const h = new Harness();
    const original = buildRequest({ identification: h.fresh(), careOfAddress: COA1, lifetime: 600 });
    expect(h.deliver(original, { source: COA1 })[0]!.reply.lifetime).toBe(600);
    h.clock.advance(100_000);
    // A retransmission whose Reply was lost (3.6.3): the very same bytes, now 100 s old.
    const duplicate = h.deliver(original, { source: COA1 });
    expect(duplicate).toHaveLength(1);
    expect(duplicate[0]!.reply.code).toBe(0);
    expect(duplicate[0]!.reply.lifetime).toBe(500);
    expect(h.agent.bindings()[0]).toMatchObject({ lifetime: 600, remaining: 500 });
    expect(h.transitions.at(-1)).toMatchObject({ actor: ACTOR, reason: 'duplicate' });
    // The binding ends when the original grant does.
    h.clock.advance(499_999);
    expect(h.tunnels()).toEqual([COA1]);
    h.clock.advance(1);
    expect(h.tunnels()).toEqual([]);
    expect(h.sent).toHaveLength(2);
  });

  it('a duplicate of an earlier Request does not undo what later ones did (5.7.1: no out-of-order application)', () => {
    const h = new Harness();
    // COA1 without S, then COA2 added with S: both bindings are current.
    const first = buildRequest({ identification: h.fresh(), careOfAddress: COA1 });
    expect(h.deliver(first, { source: COA1 })[0]!.reply.code).toBe(0);
    h.clock.advance(1_000);
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    expect(h.tunnels()).toEqual([COA1, COA2]);
    // The first Request arrives again (a retransmission, or a replay by anyone on the path).
    // It duplicates the current COA1 registration, but applying it again as a registration
    // without S would delete the COA2 binding that a later Request created.
    const again = h.deliver(first, { source: COA1 });
    expect(again).toHaveLength(1);
    expect(again[0]!.reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA1, COA2]);
    expect(h.agent.bindingCount).toBe(2);
  });

  it('a new care-of address without S replaces the binding: the FIB holds only the new one', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1 });
    h.register({ careOfAddress: COA2 });
    expect(h.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.78']);
    expect(h.tunnels()).toEqual([COA2]);
    expect(h.transitions.at(-1)).toMatchObject({ actor: ACTOR, reason: 'care-of-address-changed', to: 'registered.timed' });
    expect(h.fibChanges.at(-1)).toEqual({ kind: 'set', entry: h.agent.forwardingTable.lookup(MN1) });
  });

  it('with S each care-of address gets its own binding actor and FIB tunnel; a later Request without S replaces them all', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    expect(h.agent.bindings().map((b) => b.careOfAddress).sort()).toEqual(['203.0.113.77', '203.0.113.78']);
    expect(h.tunnels()).toEqual([COA1, COA2]);
    const actors = new Set(h.transitions.map((t) => t.actor));
    expect(actors).toEqual(new Set([ACTOR, `${ACTOR}@203.0.113.78`]));

    h.register({ careOfAddress: COA3 });
    expect(h.tunnels()).toEqual([COA3]);
    expect(h.agent.bindingCount).toBe(1);
    expect(h.transitions.slice(-2)).toEqual([
      { actor: `${ACTOR}@203.0.113.78`, from: 'registered.timed', to: 'deregistered', reason: 'replaced', event: 'replaced', at: START },
      { actor: ACTOR, from: 'registered.timed', to: 'registered.timed', reason: 'care-of-address-changed', event: 'register', at: START },
    ]);
  });

  it('simultaneous bindings expire independently, each after its own granted lifetime', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S, lifetime: 100 });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S, lifetime: 200 });
    h.clock.advance(100_000);
    expect(h.tunnels()).toEqual([COA2]);
    expect(h.arp.filter((c) => c.kind === 'proxy-arp' && !c.enable)).toEqual([]);
    h.clock.advance(100_000);
    expect(h.tunnels()).toEqual([]);
    expect(h.transitions.filter((t) => t.reason === 'lifetime-expired').map((t) => [t.actor, t.at])).toEqual([
      [ACTOR, START + 100_000],
      [`${ACTOR}@203.0.113.78`, START + 200_000],
    ]);
    expect(h.agent.counters.expired).toBe(2);
  });

  it('deregistering one care-of address leaves the others', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    const sent = h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 0 }, { source: COA1 });
    expect(sent.reply).toMatchObject({ code: 0, lifetime: 0 });
    expect(h.tunnels()).toEqual([COA2]);
    expect(h.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.78']);
    expect(h.transitions.at(-1)).toMatchObject({ reason: 'deregistered', to: 'deregistered' });
    // Deregistering a care-of address with no binding is accepted and changes nothing.
    expect(h.ask({ identification: h.fresh(), careOfAddress: COA3, lifetime: 0 }, { source: COA3 }).reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA2]);
  });

  it('deregistering with care-of address = home address and Lifetime 0 removes every binding of the node, and only of that node', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    h.register({ homeAddress: MN2, careOfAddress: COA3, extensions: [MHAE(MN2_KEY)] });
    const sent = h.ask({ identification: h.fresh(), careOfAddress: MN1, lifetime: 0 }, { source: MN1 });
    expect(sent.reply).toMatchObject({ code: 0, lifetime: 0, homeAddress: MN1 });
    expect(sent.destination).toBe(MN1);
    expect(h.agent.forwardingTable.lookup(MN1)).toBeUndefined();
    expect(h.bindingsOf(MN1_TEXT)).toEqual([]);
    expect(h.transitions.filter((t) => t.reason === 'deregistered-all').map((t) => t.actor).sort()).toEqual([ACTOR, `${ACTOR}@203.0.113.78`]);
    expect(h.fibChanges.at(-1)).toEqual({ kind: 'delete', homeAddress: MN1 });
    expect(h.tunnels(MN2)).toEqual([COA3]);
  });

  it('[R3.8.2.2-8] [R3.8-2] after exactly the granted lifetime the binding and FIB entry go, and no Reply is sent', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, lifetime: 300 });
    const sent = h.sent.length;
    const events = h.events.length;
    h.clock.advance(299_999);
    expect(h.tunnels()).toEqual([COA1]);
    // 1 ms left shows as 1 s: never 0 while the binding lives (Lifetime 0 means deregistered, 3.4).
    expect(h.agent.bindings()[0]!.remaining).toBe(1);
    h.clock.advance(1);
    expect(h.agent.forwardingTable.lookup(MN1)).toBeUndefined();
    expect(h.agent.bindings()).toEqual([]);
    expect(h.agent.bindingCount).toBe(0);
    expect(h.fibChanges.at(-1)).toEqual({ kind: 'delete', homeAddress: MN1 });
    expect(h.transitions.at(-1)).toEqual({
      actor: ACTOR,
      from: 'registered.timed',
      to: 'expired',
      reason: 'lifetime-expired',
      event: expect.stringMatching(/^xstate\.after/),
      at: START + 300_000,
    });
    expect(h.agent.counters.expired).toBe(1);
    // Nothing on the wire, and no reply event either.
    expect(h.sent.length).toBe(sent);
    expect(h.events.slice(events).filter((e) => e.event === 'reply')).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });

  it('the lifetime is capped by the node\'s maximum before it is timed: the binding expires at the granted, not the requested, lifetime', () => {
    const h = new Harness(makeConfig({ maxLifetime: 60 }));
    expect(h.register({ lifetime: 0xfffe }).reply.lifetime).toBe(60);
    h.clock.advance(60_000);
    expect(h.agent.bindingCount).toBe(0);
  });

  it('an infinite lifetime (0xffff, allowed by maxLifetime 0xffff) never expires; a finite request stays finite', () => {
    const h = new Harness(makeConfig({ maxLifetime: 0xffff }));
    const sent = h.register({ lifetime: 0xffff });
    expect(sent.reply.lifetime).toBe(0xffff);
    h.clock.advance(10 * 365 * 24 * 3600_000);
    expect(h.tunnels()).toEqual([COA1]);
    expect(h.agent.bindings()[0]).toMatchObject({ lifetime: 0xffff, remaining: 0xffff });
    expect(h.clock.pending).toBe(0);

    const finite = new Harness(makeConfig({ maxLifetime: 0xffff }));
    expect(finite.register({ lifetime: 1000 }).reply.lifetime).toBe(1000);
    finite.clock.advance(1_000_000);
    expect(finite.agent.bindingCount).toBe(0);
  });

  it('a binding relayed by a foreign agent records it', () => {
    const h = new Harness();
    h.register({ extensions: [MHAE(), FHAE()] }, { source: FA, sourcePort: MIP_PORT });
    expect(h.agent.bindings()[0]).toMatchObject({ careOfAddress: '203.0.113.77', relayedBy: '203.0.113.1' });
  });
});

describe('HomeAgent ARP commands (4.6)', () => {
  const grat = (linkAddressOf: 'home-agent' | 'mobile-node', homeAddress = MN1) => ({
    kind: 'gratuitous-arp',
    homeAddress,
    linkAddressOf,
    copies: expect.any(Number),
  });
  const proxy = (enable: boolean, homeAddress = MN1) => ({ kind: 'proxy-arp', enable, homeAddress });

  it('[R4.6-7] [R4.6-18] [R3.8.2.2-10] a node\'s first binding: gratuitous ARP with the home agent\'s link address, then proxy ARP on', () => {
    const h = new Harness();
    h.register();
    expect(h.arp).toEqual([grat('home-agent'), proxy(true)]);
  });

  it('[R4.6-9] the gratuitous ARP is sent a small number of times', () => {
    const h = new Harness();
    h.register();
    const first = h.arp[0]!;
    expect(first.kind).toBe('gratuitous-arp');
    if (first.kind === 'gratuitous-arp') {
      expect(first.copies).toBeGreaterThan(1);
      expect(first.copies).toBeLessThanOrEqual(5);
    }
  });

  it('[R3.8.2.2-11] renewals, care-of address changes and further S bindings keep proxy ARP as it is', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1 });
    const initial = h.arp.length;
    h.register({ careOfAddress: COA1 });
    h.register({ careOfAddress: COA2 });
    h.register({ careOfAddress: COA3, flags: RequestFlag.S });
    h.register({ careOfAddress: COA1 });
    expect(h.arp.length).toBe(initial);
  });

  it('[R4.6-20] a refused registration causes no ARP command', () => {
    const h = new Harness();
    h.ask({ identification: h.fresh(), flags: RequestFlag.T });
    h.ask({ identification: h.fresh(), extensions: [MHAE({ spi: 4096, key: new Uint8Array(16) })] });
    expect(h.agent.counters.denied).toBe(2);
    expect(h.arp).toEqual([]);
  });

  it('the last binding going (deregistration of its care-of address, or expiry) turns proxy ARP off', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    h.arp.length = 0;
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 0 }, { source: COA1 });
    expect(h.arp).toEqual([]);
    h.ask({ identification: h.fresh(), careOfAddress: COA2, lifetime: 0 }, { source: COA2 });
    expect(h.arp).toEqual([proxy(false)]);

    const expiring = new Harness();
    expiring.register({ lifetime: 10 });
    expiring.arp.length = 0;
    expiring.clock.advance(10_000);
    expect(expiring.arp).toEqual([proxy(false)]);
  });

  it('[R4.6-19] [R4.6-12] deregistration from home: proxy ARP off, then a gratuitous ARP with the mobile node\'s link address', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    h.arp.length = 0;
    const sent = h.ask({ identification: h.fresh(), careOfAddress: MN1, lifetime: 0 }, { source: MN1 });
    expect(sent.reply.code).toBe(0);
    expect(h.arp).toEqual([proxy(false), grat('mobile-node')]);
  });

  it('ARP commands name the node concerned', () => {
    const h = new Harness();
    h.register();
    h.register({ homeAddress: MN2, careOfAddress: COA2, extensions: [MHAE(MN2_KEY)] });
    expect(h.arp).toEqual([grat('home-agent'), proxy(true), grat('home-agent', MN2), proxy(true, MN2)]);
  });
});
