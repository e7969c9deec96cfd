/**
 * A reload's effect on the home agent: the pure diff of two configurations' mobile nodes, and
 * HomeAgent.reconfigure applying it (added nodes register at once, removed nodes lose their
 * bindings with the tunnels and ARP undone, changed keys check the next Request, unchanged
 * nodes keep their binding untouched), plus the expiry event the operator log shows.
 */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { ReplyCode } from '../../io/wire/reply-codes.js';
import { diffMobileNodes, foreignAgentsDiffer, homeAddressesOf } from '../../runtime/ha/config-diff.js';
import type { HomeAgentConfig, MobileNodeConfig } from '../../runtime/ha/home-agent.js';
import { buildRequest, COA1, COA2, context, FA, FA_KEY, Harness, makeConfig, MHAE, MN1, MN1_KEY, MN1_NEW_KEY, MN2, MN2_KEY } from './home-agent-harness.js';

const MN3 = ipv4('198.51.100.13');
const MN3_KEY = { spi: 4300, key: Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i) };

function node(homeAddress: number, key = MN1_KEY, extra: Partial<MobileNodeConfig> = {}): MobileNodeConfig {
  return { homeAddress, contexts: [context(key)], maxLifetime: 1800, maxBindings: 3, ...extra };
}

describe('diffMobileNodes', () => {
  it('sorts nodes by home address into added, removed, changed and unchanged', () => {
    const before = [node(MN1), node(MN2, MN2_KEY), node(MN3, MN3_KEY)];
    const after = [node(MN1, MN1_NEW_KEY), node(MN3, MN3_KEY), node(ipv4('198.51.100.14'))];
    const diff = diffMobileNodes(before, after);
    expect(homeAddressesOf(diff.added)).toEqual(['198.51.100.14']);
    expect(homeAddressesOf(diff.removed)).toEqual(['198.51.100.11']);
    expect(homeAddressesOf(diff.changed)).toEqual(['198.51.100.10']);
    expect(diff.changed[0]!.contexts[0]!.spi).toBe(MN1_NEW_KEY.spi);
    expect(diff.unchanged).toBe(1);
  });

  it('sees a change in any field: same SPI with another key, the NAI, the lifetime, the bindings, the replay method', () => {
    const base = node(MN1);
    const sameSpiOtherKey = node(MN1, { spi: MN1_KEY.spi, key: MN1_NEW_KEY.key });
    const variants: MobileNodeConfig[] = [
      sameSpiOtherKey,
      node(MN1, MN1_KEY, { nai: 'mn1@example.org' }),
      node(MN1, MN1_KEY, { maxLifetime: 600 }),
      node(MN1, MN1_KEY, { maxBindings: 1 }),
      node(MN1, MN1_KEY, { contexts: [context(MN1_KEY, 'nonce')] }),
      node(MN1, MN1_KEY, { contexts: [context(MN1_KEY), context(MN1_NEW_KEY)] }),
    ];
    for (const variant of variants) expect(diffMobileNodes([base], [variant]).changed).toHaveLength(1);
    // Equal content in new objects (a re-read file) is unchanged.
    expect(diffMobileNodes([base], [node(MN1, { spi: MN1_KEY.spi, key: MN1_KEY.key.slice() })])).toEqual({ added: [], removed: [], changed: [], unchanged: 1 });
  });

  it('tells whether the foreign agents differ', () => {
    const fa = [{ address: FA, contexts: [context(FA_KEY)] }];
    expect(foreignAgentsDiffer(fa, [{ address: FA, contexts: [context(FA_KEY)] }])).toBe(false);
    expect(foreignAgentsDiffer(fa, [])).toBe(true);
    expect(foreignAgentsDiffer(fa, [{ address: FA, contexts: [context(MN1_KEY)] }])).toBe(true);
  });
});

function withNodes(config: HomeAgentConfig, mobileNodes: MobileNodeConfig[]): HomeAgentConfig {
  return { ...config, mobileNodes };
}

describe('HomeAgent.reconfigure', () => {
  it('adds, removes and changes nodes; the unchanged node keeps the same binding, lifetime and replay state', () => {
    const config = makeConfig();
    const h = new Harness(config);
    h.register({ careOfAddress: COA1, lifetime: 600 });
    h.register({ homeAddress: MN2, careOfAddress: COA2, extensions: [MHAE(MN2_KEY)] });
    h.clock.advance(100_000);
    const mn2Before = h.bindingsOf('198.51.100.11');
    const arpBefore = h.arp.length;

    // MN1's key changes, MN2 is kept as it is, the others go, MN3 comes.
    const [mn1, mn2] = config.mobileNodes;
    const next = withNodes(config, [{ ...mn1!, contexts: [context(MN1_NEW_KEY)] }, mn2!, node(MN3, MN3_KEY)]);
    const diff = h.agent.reconfigure(next);
    expect(homeAddressesOf(diff.added)).toEqual(['198.51.100.13']);
    expect(homeAddressesOf(diff.changed)).toEqual(['198.51.100.10']);
    expect(diff.unchanged).toBe(1);

    // Unchanged MN2: the same binding, its remaining lifetime running on.
    expect(h.bindingsOf('198.51.100.11')).toEqual(mn2Before);
    // Changed MN1: its binding stays until the node registers again...
    expect(h.bindingsOf('198.51.100.10').map((b) => b.remaining)).toEqual([500]);
    // ...and its next Request is checked with the new key only.
    expect(h.ask({ identification: h.fresh(), careOfAddress: COA1, extensions: [MHAE(MN1_KEY)] }, { source: COA1 }).reply.code).toBe(ReplyCode.HaMobileNodeFailedAuthentication);
    expect(h.ask({ identification: h.fresh(), careOfAddress: COA1, extensions: [MHAE(MN1_NEW_KEY)] }, { source: COA1 }).reply.code).toBe(0);
    // Added MN3 registers at once.
    expect(h.ask({ identification: h.fresh(), homeAddress: MN3, careOfAddress: COA2, extensions: [MHAE(MN3_KEY)] }, { source: COA2 }).reply.code).toBe(0);
    expect(h.arp.length).toBeGreaterThan(arpBefore);
  });

  it('deregisters a removed node: binding, tunnel and proxy ARP go, one binding-removed event each, and its Requests are refused', () => {
    const config = makeConfig();
    const h = new Harness(config);
    h.register({ homeAddress: MN2, careOfAddress: COA2, extensions: [MHAE(MN2_KEY)] });
    expect(h.tunnels(MN2)).toEqual([COA2]);
    const arpBefore = h.arp.length;
    h.agent.reconfigure(withNodes(config, config.mobileNodes.filter((n) => n.homeAddress !== MN2)));
    expect(h.bindingsOf('198.51.100.11')).toEqual([]);
    expect(h.tunnels(MN2)).toEqual([]);
    expect(h.agent.bindingCount).toBe(0);
    expect(h.arp.slice(arpBefore)).toContainEqual(expect.objectContaining({ kind: 'proxy-arp', enable: false }));
    expect(h.events.filter((e) => e.event === 'binding-removed')).toEqual([
      { event: 'binding-removed', at: h.clock.now(), homeAddress: '198.51.100.11', careOfAddress: '203.0.113.78', reason: 'node-removed' },
    ]);
    // An unknown node now: no binding and no Reply, a counted discard.
    const replies = h.deliver(buildRequest({ identification: h.fresh(), homeAddress: MN2, careOfAddress: COA2, extensions: [MHAE(MN2_KEY)] }), { source: COA2 });
    expect(replies).toEqual([]);
    expect(h.lastEvent()?.event).toBe('discard');
    expect(h.agent.bindingCount).toBe(0);
  });

  it('keeps the replay state of a node whose entry did not change: a replayed Request is still refused after the reload', () => {
    const config = makeConfig();
    const h = new Harness(config);
    const identification = h.fresh();
    h.ask({ identification, careOfAddress: COA1 }, { source: COA1 });
    h.agent.reconfigure(withNodes(config, [...config.mobileNodes]));
    const replayed = h.ask({ identification, careOfAddress: COA2 }, { source: COA2 });
    expect(replayed.reply.code).toBe(ReplyCode.IdentificationMismatch);
  });

  it('swaps the foreign agents\' associations', () => {
    const config = makeConfig();
    const h = new Harness(config);
    h.agent.reconfigure({ ...config, foreignAgents: [] });
    // Relayed through FA with its FHAE: with no association left the Reply carries no FHAE.
    const sent = h.ask({ identification: h.fresh(), extensions: [MHAE()] }, { source: FA });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.extensions.filter((e) => e.kind === 'auth' && e.type === 34)).toEqual([]);
  });
});

describe('home agent: binding-expired event', () => {
  it('logs an expired binding with its addresses and lifetime, and nothing of the kind for a deregistration', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, lifetime: 100 });
    h.clock.advance(100_000);
    expect(h.events.filter((e) => e.event === 'binding-expired')).toEqual([
      { event: 'binding-expired', at: h.clock.now(), homeAddress: '198.51.100.10', careOfAddress: '203.0.113.77', lifetime: 100 },
    ]);
    h.register({ careOfAddress: COA1, lifetime: 100 });
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 0 }, { source: COA1 });
    h.clock.advance(200_000);
    expect(h.events.filter((e) => e.event === 'binding-expired')).toHaveLength(1);
  });
});
