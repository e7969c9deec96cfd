/**
 * Scenario (b) of the reverse-tunnelling scenarios (test/sim/reverse-tunnel-support.ts): with
 * 'T' granted, direct delivery style (RFC 3024 5.1), the node roams home → FA1 → FA2 →
 * co-located → home behind a router that filters ingress, and at every place traffic flows both
 * ways. The captures show where the reverse tunnel runs: on the foreign segment the outer header
 * goes from the care-of address to the home agent, on the home segment the home agent receives
 * it and forwards the inner datagram, decapsulated (R4.2.3-7), and the correspondent sees the
 * node's own datagram. Once per encapsulation the node may ask for: IP in IP, GRE, minimal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import {
  CN,
  COLOCATED,
  datagramsOn,
  FA1,
  FA2,
  HA,
  isUpstream,
  MAC,
  MN,
  reverseTunnelScenario,
  tunnelOf,
  type Place,
  type ReverseTunnelScenario,
  type ReverseTunnelScenarioOptions,
} from './reverse-tunnel-support.js';

const open: ReverseTunnelScenario[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

const OUTER_PROTOCOL = { 'ip-in-ip': IpProtocol.IPIP, gre: IpProtocol.GRE, minimal: IpProtocol.MINIMAL_ENCAPSULATION } as const;
type Kind = keyof typeof OUTER_PROTOCOL;

function optionsFor(kind: Kind): ReverseTunnelScenarioOptions {
  if (kind === 'ip-in-ip') return {};
  return {
    encapsulations: { minimal: kind === 'minimal', gre: kind === 'gre' },
    mnConfig: (c) => ({
      ...c,
      requestOptions: { ...c.requestOptions, reverseTunnel: true, greEncapsulation: kind === 'gre', minimalEncapsulation: kind === 'minimal' },
    }),
  };
}

/** Where the upstream's reverse tunnel starts at each place away from home, and the segment it crosses first. */
const TUNNEL_FROM: Record<Exclude<Place, 'home'>, { careOf: Ipv4Address; segment: string; routerMac: string }> = {
  FA1: { careOf: FA1, segment: 'foreign-1', routerMac: MAC.rF1 },
  FA2: { careOf: FA2, segment: 'foreign-2', routerMac: MAC.rF2 },
  'co-located': { careOf: COLOCATED, segment: 'foreign-2', routerMac: MAC.rF2 },
};

/** Moves, lets the registration settle, then runs 3 s of traffic both ways and checks it all arrived. */
function visit(s: ReverseTunnelScenario, place: Place): { since: number } {
  s.moveTo(place);
  s.run(2000, false);
  const since = s.clock.now();
  const filtered = s.hosts.r.counters.ingressFiltered;
  const traffic = s.run(3000);
  expect(traffic.downstreamDelivered, `downstream at ${place}`).toEqual(traffic.downstreamSent);
  expect(traffic.upstreamDelivered, `upstream at ${place}`).toEqual(traffic.upstreamSent);
  // Settled, nothing of the node's is left for the ingress filter to drop.
  expect(s.hosts.r.counters.ingressFiltered - filtered, `ingress drops at ${place}`).toBe(0);
  return { since };
}

/** Checks the captures of one visit away from home: the reverse tunnel on the foreign and home segments, the plain datagram at the correspondent. */
function expectReverseTunnel(s: ReverseTunnelScenario, place: Exclude<Place, 'home'>, kind: Kind, since: number): void {
  const { careOf, segment, routerMac } = TUNNEL_FROM[place];
  const upstreamInTunnel = (d: ReturnType<typeof datagramsOn>[number]) => {
    const tunnel = tunnelOf(d);
    return tunnel !== undefined && isUpstream(tunnel.inner);
  };
  // On the foreign segment: toward the router, only tunnelled (outer care-of → HA), never bare.
  const towardRouter = datagramsOn(s.capture, segment, since).filter((d) => d.linkDestination === routerMac);
  const tunnelled = towardRouter.filter(upstreamInTunnel);
  expect(tunnelled.length, `${place}: upstream tunnelled on ${segment}`).toBeGreaterThanOrEqual(30);
  for (const d of tunnelled) {
    expect([d.source, d.destination, d.protocol]).toEqual([careOf, HA, OUTER_PROTOCOL[kind]]);
    expect(tunnelOf(d)!.kind).toBe(kind);
  }
  expect(towardRouter.filter((d) => isUpstream(d.ip)), `${place}: no bare upstream toward the router`).toEqual([]);
  // On the home segment: the router delivers the tunnel to the HA, the HA forwards the inner datagram.
  const home = datagramsOn(s.capture, 'home', since);
  expect(home.filter((d) => d.linkSource === MAC.rHome && d.linkDestination === MAC.ha && upstreamInTunnel(d)).length).toBe(tunnelled.length);
  const decapsulated = home.filter((d) => d.linkSource === MAC.ha && d.linkDestination === MAC.rHome && isUpstream(d.ip));
  expect(decapsulated.length, `${place}: the HA forwards what it decapsulated`).toBe(tunnelled.length);
  // At the correspondent: the node's own datagram, source = home address.
  const atCorrespondent = datagramsOn(s.capture, 'correspondent', since).filter((d) => isUpstream(d.ip));
  expect(atCorrespondent.length).toBe(tunnelled.length);
  expect(atCorrespondent.every((d) => d.source === MN && d.destination === CN)).toBe(true);
}

describe("scenario (b): with 'T', direct delivery, the node roams behind an ingress filter and traffic flows both ways", () => {
  for (const kind of ['ip-in-ip', 'gre', 'minimal'] as const) {
    it(`[R4.2.3-7] ${kind}: home → FA1 → FA2 → co-located → home, the reverse tunnel (care-of → HA, ${kind}) on each foreign segment, decapsulated by the HA`, async () => {
      const s = await reverseTunnelScenario({ seed: 11, ...optionsFor(kind) });
      open.push(s);
      s.run(3000);
      for (const place of ['FA1', 'FA2', 'co-located'] as const) {
        const { since } = visit(s, place);
        expect(s.ha.agent.bindings().map((b) => [b.careOfAddress, b.flags.includes('T')]), place).toEqual([[ipv4ToString(TUNNEL_FROM[place].careOf), true]]);
        expectReverseTunnel(s, place, kind, since);
      }
      const { since } = visit(s, 'home');
      expect(s.ha.agent.bindingCount).toBe(0);
      // At home, no tunnel at all: the node's datagram goes to the router as it is.
      expect(datagramsOn(s.capture, 'home', since).filter((d) => tunnelOf(d) !== undefined)).toEqual([]);
    });
  }

  it('replays from its seed: the same seed gives the same captures on every segment, byte for byte', async () => {
    const runOnce = async () => {
      const s = await reverseTunnelScenario({ seed: 23 });
      open.push(s);
      s.run(1000);
      for (const place of ['FA1', 'FA2', 'co-located', 'home'] as const) {
        s.moveTo(place);
        s.run(2000);
      }
      return ['home', 'foreign-1', 'foreign-2', 'correspondent'].map((segment) => Buffer.from(s.capture.pcap(segment)));
    };
    const first = await runOnce();
    const second = await runOnce();
    for (let i = 0; i < first.length; i++) expect(second[i]!.equals(first[i]!)).toBe(true);
    expect(first.every((pcap) => pcap.length > 24)).toBe(true);
  });
});

describe('scenario (c): encapsulating delivery style (RFC 3024 3.3, 5.2)', () => {
  it('through FA1 then FA2: the node tunnels its datagrams to the agent (home address → agent), the agent re-tunnels them to the home agent, traffic flows both ways', async () => {
    const s = await reverseTunnelScenario({
      seed: 13,
      mnConfig: (c) => ({ ...c, requestOptions: { ...c.requestOptions, reverseTunnel: true, deliveryStyle: 'encapsulating' } }),
    });
    open.push(s);
    s.run(3000);
    for (const place of ['FA1', 'FA2'] as const) {
      const { since } = visit(s, place);
      const agent = place === 'FA1' ? FA1 : FA2;
      const agentMac = place === 'FA1' ? MAC.fa1 : MAC.fa2;
      const { segment } = TUNNEL_FROM[place];
      // Node → agent: IP in IP from the home address to the agent, the node's datagram inside.
      const fromNode = datagramsOn(s.capture, segment, since).filter((d) => d.linkSource === MAC.mn && d.linkDestination === agentMac);
      const encapsulated = fromNode.filter((d) => tunnelOf(d) !== undefined && isUpstream(tunnelOf(d)!.inner));
      expect(encapsulated.length, place).toBeGreaterThanOrEqual(30);
      for (const d of encapsulated) expect([d.source, d.destination, d.protocol]).toEqual([MN, agent, IpProtocol.IPIP]);
      expect(fromNode.filter((d) => isUpstream(d.ip)), `${place}: nothing bare from the node`).toEqual([]);
      // Agent → home agent: the ordinary reverse tunnel.
      expectReverseTunnel(s, place, 'ip-in-ip', since);
    }
  });
});
