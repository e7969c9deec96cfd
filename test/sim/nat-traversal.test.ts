/**
 * Mobile IP through a NAT (RFC 3519) end to end on the simulated network: the real home agent,
 * foreign agents and mobile node of the reverse-tunnelling scenarios, with foreign-2 behind a
 * masquerading NAT (runtime/cli/demo-topology.ts natOnForeign2: 203.0.113.64/26 inside, the NAT
 * at 203.0.113.129 outside) and the router filtering ingress. Seeded: each run replays.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { NAT_OUTSIDE } from '../../runtime/cli/demo-topology.js';
import { COLOCATED, datagramsOn, HA, reverseTunnelScenario, type ReverseTunnelScenario, type ReverseTunnelScenarioOptions } from './reverse-tunnel-support.js';

const open: ReverseTunnelScenario[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** The node as its YAML default configures it: udpTunnel auto (ask whenever co-located). */
const udpAuto: NonNullable<ReverseTunnelScenarioOptions['mnConfig']> = (c) => ({ ...c, udpTunnel: 'auto' });

async function scenario(options: ReverseTunnelScenarioOptions = {}): Promise<ReverseTunnelScenario> {
  const s = await reverseTunnelScenario({ natOnForeign2: { udpTimeoutMs: 30_000 }, mnConfig: udpAuto, ...options });
  open.push(s);
  return s;
}

function nat(s: ReverseTunnelScenario) {
  const host = s.hosts.nat;
  if (host?.nat === undefined) throw new Error('no NAT in this scenario');
  return host.nat;
}

/** Home, then straight to the co-located address behind the NAT. */
async function behindNat(s: ReverseTunnelScenario): Promise<void> {
  s.run(2000);
  s.moveTo('co-located');
  // The node waits for an advertisement before it registers (move detection, 2.4.2).
  s.run(5000, false);
}

describe('scenario (a): a co-located node behind the NAT registers with UDP tunnelling', () => {
  it('its binding records the NAT’s address and port; the correspondent reaches the home address, the node sends from it with the ingress filter on', async () => {
    const s = await scenario({ seed: 16 });
    await behindNat(s);
    const bindings = s.ha.agent.bindings();
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ careOfAddress: ipv4ToString(COLOCATED) });
    const mapping = nat(s).mappings().find((m) => m.protocol === IpProtocol.UDP);
    expect(mapping).toBeDefined();
    expect((bindings[0] as { udpTunnel?: string }).udpTunnel).toBe(`${ipv4ToString(NAT_OUTSIDE)}:${mapping!.externalPort}`);
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual(traffic.upstreamSent);
    expect(s.hosts.r.ingressFilter).toBe(true);
    // On the uplink only UDP 434 ↔ 434-from-the-NAT carries the node's traffic: no IP in IP.
    const uplink = datagramsOn(s.capture, 'nat-uplink');
    expect(uplink.filter((d) => d.protocol === IpProtocol.IPIP)).toEqual([]);
    expect(uplink.filter((d) => d.source === HA && d.protocol === IpProtocol.UDP).length).toBeGreaterThanOrEqual(traffic.downstreamSent.length);
  });
});
