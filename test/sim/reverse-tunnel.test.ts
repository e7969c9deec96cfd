/**
 * Reverse tunnelling end to end on the simulated network (RFC 3024 with RFC 5944): the real home
 * agent, two foreign agents, the mobile node and a correspondent, the router filtering ingress
 * (test/sim/reverse-tunnel-support.ts). Every scenario is seeded and replays from its seed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { CN, datagramsOn, FA1, isUpstream, MAC, MN, reverseTunnelScenario, type ReverseTunnelScenario, type ReverseTunnelScenarioOptions } from './reverse-tunnel-support.js';

const isGroupMac = (mac: string) => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

const open: ReverseTunnelScenario[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function scenario(options: ReverseTunnelScenarioOptions = {}): Promise<ReverseTunnelScenario> {
  const s = await reverseTunnelScenario(options);
  open.push(s);
  return s;
}

/** Without 'T': the node asks for no reverse tunnel, whatever the agents offer. */
const withoutT: ReverseTunnelScenarioOptions['mnConfig'] = (c) => ({ ...c, requestOptions: { ...c.requestOptions, reverseTunnel: false } });

describe("scenario (a): without 'T' the ingress filter kills the upstream", () => {
  it('at FA1: the correspondent reaches the node, the node\'s datagrams die at the router (counted), none reaches the correspondent segment', async () => {
    const s = await scenario({ mnConfig: withoutT });
    s.run(3000);
    const moved = s.clock.now();
    s.moveTo('FA1');
    s.run(2000, false);
    expect(s.ha.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.1']);
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual([]);
    // FA1 forwarded each of the node's datagrams to the router as they were (source = home address)…
    const forwardedByFa1 = datagramsOn(s.capture, 'foreign-1').filter((d) => d.linkSource === MAC.fa1 && d.linkDestination === MAC.rF1 && d.source === MN);
    expect(forwardedByFa1.filter((d) => isUpstream(d.ip))).toHaveLength(traffic.upstreamSent.length);
    // …and the router dropped every datagram from the home address it heard on foreign-1 (those,
    // the node's echo replies, its solicitations to a group address), nothing else.
    const heardByRouter = datagramsOn(s.capture, 'foreign-1').filter((d) => d.source === MN && (d.linkDestination === MAC.rF1 || isGroupMac(d.linkDestination)));
    expect(heardByRouter.length).toBeGreaterThan(forwardedByFa1.length);
    expect(s.hosts.r.counters.ingressFiltered).toBe(heardByRouter.length);
    expect(s.net.counters().hosts['r']!.ingressFiltered).toBe(heardByRouter.length);
    expect(datagramsOn(s.capture, 'correspondent', moved).filter((d) => d.source === MN)).toEqual([]);
  });

  it('the control: the same run with the filter off delivers the upstream, so the filter is what killed it', async () => {
    const s = await scenario({ mnConfig: withoutT, ingressFilter: false });
    s.run(3000);
    s.moveTo('FA1');
    s.run(2000, false);
    const traffic = s.run(3000);
    expect(traffic.upstreamDelivered).toEqual(traffic.upstreamSent);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(s.hosts.r.counters.ingressFiltered).toBe(0);
    // Plain forwarding: no tunnel on foreign-1 toward the home agent.
    expect(datagramsOn(s.capture, 'foreign-1').filter((d) => d.source === FA1 && d.protocol === IpProtocol.IPIP)).toEqual([]);
  });

  it('co-located on foreign-2 without a reverse tunnel: datagrams from the home address die at the router too', async () => {
    const s = await scenario({ mnConfig: withoutT });
    s.run(3000);
    s.moveTo('FA2');
    s.run(2000, false);
    s.moveTo('co-located');
    s.run(2000, false);
    expect(s.ha.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.100']);
    const filteredBefore = s.hosts.r.counters.ingressFiltered;
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual([]);
    expect(s.hosts.r.counters.ingressFiltered - filteredBefore).toBeGreaterThanOrEqual(traffic.upstreamSent.length);
  });
});
