/**
 * Scenarios (d) and (e) of the reverse-tunnelling scenarios (test/sim/reverse-tunnel-support.ts):
 * the home agent's check of a reverse tunnel's source against the binding, and the refusals
 * RFC 3024 3.4 names, each from the agent whose policy refuses, seen by the real mobile node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MobileNodeEvent } from '../../runtime/mn/mobile-node.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { datagramsOn, FA1, FA2, HA, MN, reverseTunnelScenario, sendTunnelToHomeAgent, type ReverseTunnelScenario, type ReverseTunnelScenarioOptions } from './reverse-tunnel-support.js';

const open: ReverseTunnelScenario[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function scenario(options: ReverseTunnelScenarioOptions = {}): Promise<ReverseTunnelScenario> {
  const s = await reverseTunnelScenario(options);
  open.push(s);
  return s;
}

const withoutT: ReverseTunnelScenarioOptions['mnConfig'] = (c) => ({ ...c, requestOptions: { ...c.requestOptions, reverseTunnel: false } });

/** Reply codes the node received (authentic ones), in order. */
function replies(events: readonly MobileNodeEvent[]): number[] {
  return events.flatMap((e) => (e.event === 'reply' && e.authentic ? [e.code] : []));
}

/** The node's answers to RFC 3024 refusals ('reverse-tunnel-warning' when it loses something): [code, retried]. */
function retries(events: readonly MobileNodeEvent[]): Array<[number, boolean]> {
  return events.flatMap((e) => (e.event === 'reverse-tunnel-retry' || e.event === 'reverse-tunnel-warning' ? [[e.code, e.retry] as [number, boolean]] : []));
}

/** Registers through FA1; returns the node's events from the move on and the traffic of 3 s afterwards. */
function registerAtFa1(s: ReverseTunnelScenario) {
  s.run(2000, false);
  const from = s.events.length;
  s.moveTo('FA1');
  s.run(4000, false);
  const traffic = s.run(3000);
  return { events: s.events.slice(from), traffic };
}

describe('scenario (e): reply codes of RFC 3024 3.4, as the node receives them', () => {
  it("FA1 requiring reverse tunnels answers 75 to the node without 'T' itself (nothing relayed); the node asks again with 'T' and is registered with it", async () => {
    const s = await scenario({ faConfig: (c, which) => (which === 'FA1' ? { ...c, settings: { ...c.settings, reverseTunnel: 'required' } } : c), mnConfig: withoutT });
    const denied: number[] = [];
    let relayed = 0;
    s.fa1.agent.events.subscribe((e) => {
      if (e.event === 'denial') denied.push(e.code);
      if (e.event === 'request-relayed') relayed++;
    });
    const { events } = registerAtFa1(s);
    expect(replies(events).slice(0, 2)).toEqual([75, 0]);
    expect(denied).toEqual([75]);
    // Only the second Request (with 'T') went on to the home agent.
    expect(relayed).toBe(1);
    expect(retries(events)).toEqual([[75, true]]);
    expect(s.ha.agent.bindings().map((b) => [b.careOfAddress, b.flags])).toEqual([['203.0.113.1', 'T']]);
  });

  it("a home agent refusing reverse tunnels answers 137 to the node asking 'T'; the node registers without it, and behind the ingress filter its upstream dies (counted)", async () => {
    const s = await scenario({ haConfig: (c) => ({ ...c, settings: { ...c.settings, reverseTunnel: 'refused' } }) });
    const { events, traffic } = registerAtFa1(s);
    expect(replies(events).slice(0, 2)).toEqual([137, 0]);
    expect(retries(events)).toEqual([[137, true]]);
    expect(s.ha.agent.bindings().map((b) => [b.careOfAddress, b.flags])).toEqual([['203.0.113.1', '']]);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual([]);
    expect(s.hosts.r.counters.ingressFiltered).toBeGreaterThanOrEqual(traffic.upstreamSent.length);
  });

  it("a home agent requiring reverse tunnels answers 138 to the node without 'T'; the node asks again with 'T' (FA1 advertises it) and is registered with it", async () => {
    const s = await scenario({ haConfig: (c) => ({ ...c, settings: { ...c.settings, reverseTunnel: 'required' } }), mnConfig: withoutT });
    const { events } = registerAtFa1(s);
    expect(replies(events).slice(0, 2)).toEqual([138, 0]);
    expect(retries(events)).toEqual([[138, true]]);
    expect(s.ha.agent.bindings().map((b) => [b.careOfAddress, b.flags])).toEqual([['203.0.113.1', 'T']]);
  });

  it("the home agent's policy per node wins over its default: allowed by default, refused for this node → 137", async () => {
    const s = await scenario({
      haConfig: (c) => ({ ...c, settings: { ...c.settings, reverseTunnel: 'allowed' }, mobileNodes: c.mobileNodes.map((n) => ({ ...n, reverseTunnel: 'refused' as const })) }),
    });
    const { events } = registerAtFa1(s);
    expect(replies(events)[0]).toBe(137);
    expect(s.ha.agent.bindings().map((b) => b.flags)).toEqual(['']);
  });
});

describe("scenario (d): a reverse tunnel from a source that is not the binding's care-of address", () => {
  it('[R4.2.3-7] is dropped and counted by the home agent, its inner datagram never reaches the correspondent; the binding\'s own care-of address gets through', async () => {
    const s = await scenario();
    registerAtFa1(s);
    expect(s.ha.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.1']);
    const wrongBefore = s.dataPath.planeCounters['decapsulation-wrong-care-of-address'] ?? 0;
    // FA2, a legitimate host of foreign-2 (the router's ingress filter lets it through), claims
    // to carry the node's datagrams; the binding says the node is behind FA1.
    const since = s.clock.now();
    for (let i = 0; i < 3; i++) sendTunnelToHomeAgent(s.hosts.fa2, FA2, 900_000 + i);
    s.run(500, false);
    expect(datagramsOn(s.capture, 'home', since).filter((d) => d.source === FA2 && d.destination === HA && d.protocol === IpProtocol.IPIP)).toHaveLength(3);
    expect(s.dataPath.planeCounters['decapsulation-wrong-care-of-address']).toBe(wrongBefore + 3);
    expect([...s.upstreamReceived].filter((n) => n >= 900_000)).toEqual([]);
    expect(datagramsOn(s.capture, 'correspondent', since).filter((d) => d.source === MN)).toEqual([]);
    // The control: the same tunnel from FA1, the binding's care-of address, is decapsulated and delivered.
    sendTunnelToHomeAgent(s.hosts.fa1, FA1, 900_010);
    s.run(500, false);
    expect(s.upstreamReceived.has(900_010)).toBe(true);
    expect(s.dataPath.planeCounters['decapsulation-wrong-care-of-address']).toBe(wrongBefore + 3);
  });
});
