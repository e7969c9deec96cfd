/**
 * Reverse tunnels at the home agent on the simulated network (RFC 3024, R4.2.3-7): the real
 * agent, its data path over the simulated tap, a correspondent behind a router.
 *
 *   cn 192.0.2.20 ── corr ── r ── home 198.51.100.0/24 ── ha 198.51.100.1
 *                             └── foreign 203.0.113.0/24 ── care-of host 203.0.113.77, stranger 203.0.113.99
 *
 * The care-of host plays the foreign agent (or co-located node) tunnelling the mobile node's
 * datagrams to the home agent; the stranger sends the same tunnel from another address.
 */
import { Effect, Scope } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simPacketTapLayer } from '../../io/sim/packet-tap.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Packet, IpProtocol, ipv4Destination, ipv4PacketLength, ipv4Protocol } from '../../io/wire/ipv4.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { encodeIgmp, igmpLength, type IgmpMessage } from '../../io/wire/igmp.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { attachHomeAgentDataPath, type HomeAgentDataPath } from '../../runtime/ha/home-agent-data-path.js';
import { echoRequest, recordIcmp, type SeenIcmp } from '../sim/network-support.js';
import { COA1, HA, Harness, HOME_NETWORK, makeConfig, MN1, PREFIX_LENGTH } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_CORR = ipv4('192.0.2.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.20');
const STRANGER = ipv4('203.0.113.99');
const GROUP = ipv4('224.1.2.3');

interface World {
  readonly harness: Harness;
  readonly net: SimNetwork;
  readonly cn: SimHost;
  readonly r: SimHost;
  readonly coa: SimHost;
  readonly stranger: SimHost;
  readonly path: HomeAgentDataPath;
  readonly cnIcmp: SeenIcmp[];
  readonly tunnelsToCoa: Uint8Array[];
}

let open: World[] = [];
afterEach(() => {
  for (const world of open) world.path.detach();
  open = [];
});

function world(): World {
  const harness = new Harness(makeConfig({ settings: { addresses: [HA], reverseTunnel: 'allowed' } }));
  const net = new SimNetwork({ clock: harness.clock, seed: 5 });
  const home = net.addSegment('home');
  const corr = net.addSegment('corr');
  const foreign = net.addSegment('foreign');
  const ha = net.addHost('ha', { forwarding: true });
  ha.addInterface('home0', home, { address: HA, prefixLength: PREFIX_LENGTH });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('home', home, { address: R_HOME, prefixLength: 24 });
  r.addInterface('corr', corr, { address: R_CORR, prefixLength: 24 });
  r.addInterface('foreign', foreign, { address: R_FOREIGN, prefixLength: 24 });
  const cn = net.addHost('cn');
  cn.addInterface('eth0', corr, { address: CN, prefixLength: 24 });
  cn.addRoute(0, 0, { via: R_CORR, interface: 'eth0' });
  const coa = net.addHost('coa');
  coa.addInterface('eth0', foreign, { address: COA1, prefixLength: 24 });
  coa.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const stranger = net.addHost('stranger');
  stranger.addInterface('eth0', foreign, { address: STRANGER, prefixLength: 24 });
  stranger.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const tunnelsToCoa: Uint8Array[] = [];
  coa.onIp(IpProtocol.IPIP, (datagram) => void tunnelsToCoa.push(datagram.slice()));
  const path = attachHomeAgentDataPath(harness.agent, simPacketTapLayer(ha), {
    clock: harness.clock,
    addresses: [HA],
    homeNetwork: HOME_NETWORK,
    prefixLength: PREFIX_LENGTH,
    homeInterface: 'home0',
  });
  const w: World = { harness, net, cn, r, coa, stranger, path, cnIcmp: recordIcmp(cn), tunnelsToCoa };
  open.push(w);
  return w;
}

/** A datagram from the home address in an IP-in-IP packet from `outerSource` to the home agent. */
function tunnelledFromHome(outerSource: number, destination: number, protocol: number, payload: Uint8Array, ttl: number): Uint8Array {
  const inner = new Uint8Array(20 + payload.length);
  encodeIpv4Packet({ header: { tos: 0, identification: 9, flags: 0, fragmentOffset: 0, ttl, protocol, source: MN1, destination }, payload }, inner, 0);
  const outer = new Uint8Array(inner.length + 20);
  ipInIpEncapsulate(inner, { source: outerSource, destination: HA, identification: 9 }, outer, 0);
  return outer;
}

function igmp(message: IgmpMessage): Uint8Array {
  const bytes = new Uint8Array(igmpLength(message));
  encodeIgmp(message, bytes, 0);
  return bytes;
}

/** The mobile node's echo request to the correspondent (source: its home address), tunnelled to the home agent from `outerSource`. */
function reverseTunnelledPing(outerSource: number, sequence: number): Uint8Array {
  const payload = echoRequest(0x51, sequence);
  const inner = new Uint8Array(ipv4PacketLength({ header: {} as never, payload }));
  encodeIpv4Packet(
    { header: { tos: 0, identification: sequence, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.ICMP, source: MN1, destination: CN }, payload },
    inner,
    0,
  );
  const outer = new Uint8Array(inner.length + 20);
  ipInIpEncapsulate(inner, { source: outerSource, destination: HA, identification: sequence }, outer, 0);
  return outer;
}

const echoRequestsFromHome = (seen: readonly SeenIcmp[]) => seen.filter((s) => s.type === IcmpType.Echo && s.source === MN1);

describe('reverse tunnels at the home agent on the simulated network (RFC 3024)', () => {
  it('[R4.2.3-7] a datagram reverse-tunnelled from the care-of address reaches the correspondent with the home address as source, and its reply goes back through the tunnel', () => {
    const w = world();
    w.harness.register({ flags: RequestFlag.T, careOfAddress: COA1 });
    expect(w.harness.agent.forwardingTable.lookup(MN1)?.tunnels[0]?.reverseTunnel).toBe(true);
    // The binding table (mip4 bindings) shows the T flag.
    expect([...w.harness.agent.eachBinding()].map((b) => b.flags)).toEqual(['T']);
    w.coa.sendIp(reverseTunnelledPing(COA1, 1));
    w.harness.clock.advance(3000);

    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(1);
    expect(w.path.planeCounters['decapsulated']).toBe(1);
    expect(w.path.counters.reinjected).toBe(1);
    // The correspondent answers the home address: intercepted and tunnelled to the care-of address.
    expect(w.tunnelsToCoa).toHaveLength(1);
    expect(ipv4Destination(w.tunnelsToCoa[0]!, 20)).toBe(MN1);
    expect(ipv4Protocol(w.tunnelsToCoa[0]!, 20)).toBe(IpProtocol.ICMP);
  });

  it('[R4.2.3-7] the same tunnel from another source is dropped and counted; nothing reaches the correspondent', () => {
    const w = world();
    w.harness.register({ flags: RequestFlag.T, careOfAddress: COA1 });
    w.stranger.sendIp(reverseTunnelledPing(STRANGER, 1));
    w.harness.clock.advance(3000);

    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(0);
    expect(w.path.planeCounters['decapsulation-wrong-care-of-address']).toBe(1);
    expect(w.path.planeCounters['decapsulated']).toBeUndefined();
  });

  it('a tunnel for a home address with no binding is dropped and counted (not left to the host)', () => {
    const w = world();
    w.coa.sendIp(reverseTunnelledPing(COA1, 1));
    w.harness.clock.advance(3000);
    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(0);
    expect(w.path.planeCounters['decapsulation-unknown-home-address']).toBe(1);
  });
});

describe('multicast through the home agent on the simulated network (4.4)', () => {
  /** A UDP datagram to GROUP put on the home link by the router. */
  function groupDatagramOnHomeLink(w: World, port: number): void {
    const payload = new Uint8Array([0x30, 0x39, port >> 8, port & 0xff, 0, 12, 0, 0, 1, 2, 3, 4]);
    w.r.sendPacket({ protocol: IpProtocol.UDP, destination: GROUP, payload, ttl: 8 }, { interface: 'home' });
    w.harness.clock.advance(100);
  }

  it('[R4.4-5] [R4.4-7] an IGMP join through the tunnel makes the group\'s datagrams on the home link arrive nested at the care-of address; none before the join or after the leave', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    groupDatagramOnHomeLink(w, 1000);
    expect(w.tunnelsToCoa).toHaveLength(0);

    w.coa.sendIp(tunnelledFromHome(COA1, GROUP, IpProtocol.IGMP, igmp({ kind: 'report', version: 2, group: GROUP }), 1));
    w.harness.clock.advance(100);
    expect(w.path.planeCounters['igmp-received']).toBe(1);
    groupDatagramOnHomeLink(w, 1001);
    expect(w.tunnelsToCoa).toHaveLength(1);
    const outer = w.tunnelsToCoa[0]!;
    // Without D: IP in IP to the home address inside the tunnel to the care-of address (R4.4-7).
    expect(ipv4Destination(outer, 0)).toBe(COA1);
    expect(ipv4Protocol(outer, 20)).toBe(IpProtocol.IPIP);
    expect(ipv4Destination(outer, 20)).toBe(MN1);
    expect(ipv4Destination(outer, 40)).toBe(GROUP);
    expect(outer[40 + 20 + 3]).toBe(1001 & 0xff);

    w.coa.sendIp(tunnelledFromHome(COA1, ipv4('224.0.0.2'), IpProtocol.IGMP, igmp({ kind: 'leave', group: GROUP }), 1));
    w.harness.clock.advance(100);
    groupDatagramOnHomeLink(w, 1002);
    expect(w.tunnelsToCoa).toHaveLength(1);
  });

  it('queries members through their tunnels every 125 s (IGMPv2 General Query to 224.0.0.1, TTL 1, nested without D); a member that stops reporting is dropped after 260 s', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    w.harness.clock.advance(125_000);
    expect(w.tunnelsToCoa).toHaveLength(0); // no member yet: no query
    w.coa.sendIp(tunnelledFromHome(COA1, GROUP, IpProtocol.IGMP, igmp({ kind: 'report', version: 2, group: GROUP }), 1));
    w.harness.clock.advance(125_000);
    expect(w.tunnelsToCoa).toHaveLength(1);
    const outer = w.tunnelsToCoa[0]!;
    expect(ipv4Destination(outer, 20)).toBe(MN1);
    const query = outer.subarray(40);
    expect([ipv4Destination(query, 0), ipv4Protocol(query, 0), query[8]]).toEqual([ipv4('224.0.0.1'), IpProtocol.IGMP, 1]);
    expect([query[24], query[25]]).toEqual([0x11, 100]); // Membership Query, Max Response Time 10 s
    // No report since: the membership ends 260 s after the last one.
    w.harness.clock.advance(140_000);
    groupDatagramOnHomeLink(w, 1004);
    expect(w.tunnelsToCoa.filter((t) => ipv4Protocol(t, 40) === IpProtocol.UDP)).toHaveLength(0);
  });

  it('[R4.4-7] a member with a co-located care-of address (D) gets the group datagram tunnelled directly, not nested', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1, flags: RequestFlag.D });
    w.coa.sendIp(tunnelledFromHome(COA1, GROUP, IpProtocol.IGMP, igmp({ kind: 'report', version: 2, group: GROUP }), 1));
    w.harness.clock.advance(100);
    groupDatagramOnHomeLink(w, 1003);
    expect(w.tunnelsToCoa).toHaveLength(1);
    expect(ipv4Protocol(w.tunnelsToCoa[0]!, 20)).toBe(IpProtocol.UDP);
    expect(ipv4Destination(w.tunnelsToCoa[0]!, 20)).toBe(GROUP);
  });

  it('[R4.4-10] a multicast datagram a node tunnels with its home address as inner and outer source goes out on the home link', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1, flags: RequestFlag.D });
    const capture = w.net.capture();
    const payload = new Uint8Array([0x30, 0x39, 0x13, 0x88, 0, 12, 0, 0, 9, 9, 9, 9]);
    w.coa.sendIp(tunnelledFromHome(MN1, GROUP, IpProtocol.UDP, payload, 4));
    w.harness.clock.advance(100);
    const onHome = capture.frames('home').filter((f) => f.frame[0] === 0x01 && f.frame[12] === 0x08 && ipv4Destination(f.frame, 14) === GROUP);
    expect(onHome).toHaveLength(1);
    const frame = onHome[0]!.frame;
    expect([...frame.subarray(0, 6)]).toEqual([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
    expect(frame[14 + 8]).toBe(3); // TTL decremented by the home agent as a router
    expect(w.path.counters.multicastToHomeLink).toBe(1);
    // The home address as outer source is taken for multicast only: a unicast datagram that way is dropped.
    w.coa.sendIp(tunnelledFromHome(MN1, CN, IpProtocol.UDP, payload, 4));
    w.harness.clock.advance(100);
    expect(w.path.planeCounters['decapsulation-wrong-care-of-address']).toBe(1);
  });
});
