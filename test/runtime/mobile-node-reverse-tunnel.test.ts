/**
 * The mobile node's side of reverse tunnelling (RFC 3024) on the simulated network, with a real
 * home agent (runtime/ha/home-agent-server.ts): the 'T' bit and the answers to refusals, the
 * co-located node's own tunnel to the home agent, and encapsulating delivery to a foreign agent.
 * Frames are captured on the segments and read back with the codecs.
 *
 *   ha (198.51.100.1) ── home 198.51.100.0/24 ── (.254) r (203.0.113.2) ── foreign 203.0.113.0/24 ── mn (203.0.113.77 co-located)
 */
import { describe, expect, it } from 'vitest';
import { Effect, Exit, Scope } from 'effect';
import { Udp } from '../../io/udp.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { ethernetEtherType, ethernetSource, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { AdvertisementFlag, agentAdvertisementLength, encodeAgentAdvertisement, makeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { decapsulate, ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { encodeIpv4Packet, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { internetChecksum, writeU16 } from '../../io/wire/bytes.js';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { SimulatedClock } from '../../io/clock.js';
import { icmpFrame } from '../../io/wire/frames.js';
import { startHomeAgent, type RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent, type RunningMobileNode } from '../../runtime/mn/mobile-node.js';
import { tunnelOwnDatagrams } from '../../runtime/mn/own-datagrams.js';
import { levelOf } from '../../runtime/cli/operator-log.js';
import { HA, HOME_NETWORK, makeConfig, MIP_PORT, MN1, MN1_KEY, PREFIX_LENGTH, START } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.2');
const COA = ipv4('203.0.113.77');
const CN = ipv4('192.0.2.5');
const MAC_MN = '02:00:00:00:0a:0a';

interface World {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly r: SimHost;
  readonly mnHost: SimHost;
  readonly ha: RunningHomeAgent;
  readonly mn: RunningMobileNode;
  readonly events: MobileNodeEvent[];
  readonly capture: ReturnType<SimNetwork['capture']>;
  readonly haHost: SimHost;
}

async function world(options: { haReverseTunneling: boolean; throughForeignAgent?: boolean; config?: Partial<MobileNodeConfig> }): Promise<World> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 5 });
  const home = net.addSegment('home', { latencyMs: 2 });
  const foreign = net.addSegment('foreign', { latencyMs: 2 });
  const haHost = net.addHost('ha');
  haHost.addInterface('eth0', home, { mac: '02:00:00:00:00:01', address: HA, prefixLength: PREFIX_LENGTH });
  haHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', home, { mac: '02:00:00:00:01:01', address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreign, { mac: '02:00:00:00:01:02', address: R_FOREIGN, prefixLength: 24 });
  const mnHost = net.addHost('mn');
  if (options.throughForeignAgent === true) {
    mnHost.addInterface('eth0', foreign, { mac: MAC_MN, address: MN1, prefixLength: 32 });
    mnHost.addRoute(R_FOREIGN, 32, { interface: 'eth0' });
    mnHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  } else {
    mnHost.addInterface('eth0', foreign, { mac: MAC_MN, address: COA, prefixLength: 24 });
    mnHost.addAddress('eth0', MN1, 32);
    mnHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  }
  const random = seededRandom(3);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const ha = await startHomeAgent(makeConfig({ settings: { reverseTunneling: options.haReverseTunneling } }), {
    listen: [{ address: HA, port: MIP_PORT }],
    udp: net.udpLayer(haHost),
    clock,
    random32,
  });
  const config: MobileNodeConfig = {
    interfaceName: 'eth0',
    homeAddress: MN1,
    homeAgent: HA,
    homeNetwork: HOME_NETWORK,
    homePrefixLength: PREFIX_LENGTH,
    mobileHome: { spi: MN1_KEY.spi, key: MN1_KEY.key, algorithm: 'hmac-md5', replay: 'timestamp' },
    lifetime: 60,
    requestOptions: { reverseTunnel: true },
    ...(options.throughForeignAgent === true ? {} : { colocated: { address: COA, prefixLength: 24 } }),
    ...options.config,
  };
  const mn = await startMobileNode(config, { link: net.linkLayer(mnHost), udp: net.udpLayer(mnHost), rawIp: simRawIpLayer(mnHost), clock, random32, autoStart: false });
  const events: MobileNodeEvent[] = [];
  mn.node.events.subscribe((e) => events.push(e));
  tunnelOwnDatagrams(mnHost, mn.node);
  const capture = net.capture();
  mn.node.start();
  return { clock, net, r, mnHost, ha, mn, events, capture, haHost };
}

function advertise(host: SimHost, source: Ipv4Address, flags: number): void {
  const advertisement = makeAgentAdvertisement({
    lifetime: 9000,
    routers: [{ address: source, preference: 0 }],
    extensions: [{ kind: 'mobility-agent-advertisement', type: 16, sequence: 0, registrationLifetime: 1800, flags, careOfAddresses: [source] }],
  });
  const bytes = new Uint8Array(agentAdvertisementLength(advertisement));
  encodeAgentAdvertisement(advertisement, bytes, 0);
  const iface = host.interface('eth1');
  host.sendFrame('eth1', icmpFrame({ sourceMac: iface.mac, destinationMac: '01:00:5e:00:00:01', source, destination: ipv4('224.0.0.1'), ttl: 1 }, bytes));
}

/** IPv4 datagrams the node put on the foreign segment. */
function fromNode(w: World) {
  return w.capture.frames('foreign').flatMap((f) => {
    if (ethernetSource(f.frame) !== MAC_MN || ethernetEtherType(f.frame) !== EtherType.IPv4) return [];
    const p = decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH);
    return p.ok ? [{ time: f.time, header: p.value.header, payload: p.value.payload, bytes: f.frame.subarray(ETHERNET_HEADER_LENGTH) }] : [];
  });
}

function requestsFromNode(w: World) {
  return fromNode(w).flatMap((d) => {
    if (d.header.protocol !== IpProtocol.UDP) return [];
    const r = decodeRegistrationRequest(d.payload, 8);
    return r.ok ? [{ time: d.time, ttl: d.header.ttl, request: r.value }] : [];
  });
}

/** When the node sent each Request (its own log: the frame may wait for ARP on the way). */
function requestTimes(w: World): number[] {
  return w.events.flatMap((e) => (e.event === 'request' ? [e.at] : []));
}

function sendFromHome(w: World, destination: Ipv4Address): void {
  w.mnHost.sendPacket({ protocol: IpProtocol.UDP, source: MN1, destination, payload: new Uint8Array([0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, 1, 2, 3, 4]) });
}

async function stop(w: World): Promise<void> {
  await w.mn.stop();
  await w.ha.stop();
}

describe('a co-located node reverse-tunnels itself (RFC 3024 5.1, 5.2)', () => {
  it("asks for 'T' with 'D'; once granted, its datagram to a correspondent leaves as IP in IP from the care-of address to the home agent, the inner datagram from the home address", async () => {
    const w = await world({ haReverseTunneling: true });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(200);
    expect(w.mn.node.state().registration).toBe('registered');
    const [first] = requestsFromNode(w);
    expect(first!.request.flags & (RequestFlag.T | RequestFlag.D)).toBe(RequestFlag.T | RequestFlag.D);
    expect(w.mn.node.reverseTunnel()).toMatchObject({ outerSource: COA, outerDestination: HA, encapsulation: 'ip-in-ip' });
    sendFromHome(w, CN);
    w.clock.advance(50);
    const tunnelled = fromNode(w).filter((d) => d.header.protocol === IpProtocol.IPIP);
    expect(tunnelled).toHaveLength(1);
    expect([tunnelled[0]!.header.source, tunnelled[0]!.header.destination]).toEqual([COA, HA]);
    const inner = decapsulate(tunnelled[0]!.bytes);
    expect(inner.ok).toBe(true);
    if (!inner.ok) return;
    const innerPacket = decodeIpv4Packet(inner.value.datagram, 0);
    expect(innerPacket.ok && [innerPacket.value.header.source, innerPacket.value.header.destination]).toEqual([MN1, CN]);
    // Nothing from the home address went onto the visited link directly.
    expect(fromNode(w).filter((d) => d.header.source === MN1)).toHaveLength(0);
    expect(w.mn.node.reverseTunnelCounters.tunnelled).toBe(1);
    await stop(w);
  });

  it('without reverse tunnelling asked for, the datagram leaves directly (the behaviour before RFC 3024)', async () => {
    const w = await world({ haReverseTunneling: true, config: { requestOptions: { reverseTunnel: false } } });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(200);
    expect(requestsFromNode(w)[0]!.request.flags & RequestFlag.T).toBe(0);
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    sendFromHome(w, CN);
    w.clock.advance(50);
    expect(fromNode(w).filter((d) => d.header.protocol === IpProtocol.IPIP)).toHaveLength(0);
    expect(fromNode(w).filter((d) => d.header.source === MN1 && d.header.destination === CN)).toHaveLength(1);
    await stop(w);
  });

  it("137 from the home agent: a warning, one retry without 'T' no sooner than 1 s later (R3.6.3-4 spacing), accepted; no tunnel", async () => {
    const w = await world({ haReverseTunneling: false });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(3000);
    const sent = requestsFromNode(w);
    expect(sent.map((s) => (s.request.flags & RequestFlag.T) !== 0)).toEqual([true, false]);
    const times = requestTimes(w);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    const retry = w.events.find((e) => e.event === 'reverse-tunnel-warning');
    expect(retry).toMatchObject({ code: 137, retry: true });
    expect(levelOf(retry!)).toBe('warn');
    expect(w.mn.node.state().registration).toBe('registered');
    expect(w.mn.node.reverseTunnelCounters.retries).toBe(1);
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    await stop(w);
  });

  it('the tunnel ends with the registration that granted it: a move home stops it', async () => {
    const w = await world({ haReverseTunneling: true });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(200);
    expect(w.mn.node.reverseTunnel()).toBeDefined();
    w.mn.node.setColocatedAddress(undefined);
    w.mn.node.linkChanged();
    w.clock.advance(50);
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    expect(w.events.filter((e) => e.event === 'reverse-tunnel').map((e) => e.event === 'reverse-tunnel' && e.active)).toEqual([true, false]);
    await stop(w);
  });
});

describe('through a foreign agent (RFC 3024 5.2.1, 5.2.2)', () => {
  /**
   * A stand-in foreign agent on the router: answers a Request itself with `refuse` when set, else
   * relays it to the home agent without the Encapsulating Delivery Style extension (an agent
   * consumes it, RFC 3024 3.3), and relays Replies back to the visitor.
   */
  function stubForeignAgent(w: World, refuse?: (request: Uint8Array) => number | undefined) {
    const scope = Effect.runSync(Scope.make());
    const socket = Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: R_FOREIGN, port: MIP_PORT })), scope).pipe(Effect.provide(w.net.udpLayer(w.r))));
    w.r.addRoute(MN1, 32, { interface: 'eth1' });
    w.r.setArpEntry('eth1', MN1, MAC_MN);
    let visitorPort = 0;
    socket.onMessage((d) => {
      if (d.address === HA) return socket.send(d.data, MN1, visitorPort);
      visitorPort = d.port;
      const code = refuse?.(d.data);
      if (code !== undefined) {
        // A Reply with the FA's code (3.4): type 3, code, Lifetime 0, home address, home agent, Identification.
        const reply = new Uint8Array(20);
        reply[0] = 3;
        reply[1] = code;
        reply.set(d.data.subarray(4, 12), 4);
        reply.set(d.data.subarray(16, 24), 12);
        return socket.send(reply, MN1, visitorPort);
      }
      const decoded = decodeRegistrationRequest(d.data);
      const style = decoded.ok ? decoded.value.extensions.find((e) => e.type === 130) : undefined;
      const relayed = style === undefined ? d.data : new Uint8Array([...d.data.subarray(0, style.offset), ...d.data.subarray(style.offset + 2)]);
      socket.send(relayed, HA, MIP_PORT);
    });
    return () => Effect.runSync(Scope.close(scope, Exit.void));
  }

  it("'T' with TTL 255 to an agent advertising 'T'; encapsulating delivery adds the extension and, once registered, the node's datagram goes to the agent as IP in IP from the home address", async () => {
    const w = await world({ haReverseTunneling: true, throughForeignAgent: true, config: { requestOptions: { reverseTunnel: true, deliveryStyle: 'encapsulating' } } });
    const close = stubForeignAgent(w);
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F | AdvertisementFlag.T);
    w.clock.advance(200);
    expect(w.mn.node.state().registration).toBe('registered');
    const [first] = requestsFromNode(w);
    expect(first!.request.flags & RequestFlag.T).toBe(RequestFlag.T);
    expect(first!.ttl).toBe(255);
    expect(first!.request.extensions.map((e) => e.type)).toContain(130);
    sendFromHome(w, CN);
    w.clock.advance(50);
    const tunnelled = fromNode(w).filter((d) => d.header.protocol === IpProtocol.IPIP);
    expect(tunnelled.map((d) => [d.header.source, d.header.destination])).toEqual([[MN1, R_FOREIGN]]);
    close();
    await stop(w);
  });

  it("no 'T' toward an agent that does not advertise it, and then nothing is tunnelled by the node", async () => {
    const w = await world({ haReverseTunneling: true, throughForeignAgent: true, config: { requestOptions: { reverseTunnel: true, deliveryStyle: 'encapsulating' } } });
    const close = stubForeignAgent(w);
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F);
    w.clock.advance(200);
    const [first] = requestsFromNode(w);
    expect(first!.request.flags & RequestFlag.T).toBe(0);
    expect(first!.request.extensions.map((e) => e.type)).not.toContain(130);
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    close();
    await stop(w);
  });

  it('79 from the agent: a retry with direct delivery (no extension, still T) 1 s later, accepted; the node tunnels nothing itself', async () => {
    const w = await world({ haReverseTunneling: true, throughForeignAgent: true, config: { requestOptions: { reverseTunnel: true, deliveryStyle: 'encapsulating' } } });
    const close = stubForeignAgent(w, (request) => {
      const decoded = decodeRegistrationRequest(request);
      return decoded.ok && decoded.value.extensions.some((e) => e.type === 130) ? 79 : undefined;
    });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F | AdvertisementFlag.T);
    w.clock.advance(3000);
    const sent = requestsFromNode(w);
    expect(sent.map((s) => s.request.extensions.some((e) => e.type === 130))).toEqual([true, false]);
    expect(sent.every((s) => (s.request.flags & RequestFlag.T) !== 0)).toBe(true);
    const times = requestTimes(w);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    expect(w.mn.node.state().registration).toBe('registered');
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    close();
    await stop(w);
  });

  it("75 from the agent to a node that did not ask for 'T': retried with 'T'", async () => {
    const w = await world({ haReverseTunneling: true, throughForeignAgent: true, config: { requestOptions: { reverseTunnel: false } } });
    const close = stubForeignAgent(w, (request) => ((request[1]! & RequestFlag.T) === 0 ? 75 : undefined));
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F | AdvertisementFlag.T);
    w.clock.advance(3000);
    expect(requestsFromNode(w).map((s) => (s.request.flags & RequestFlag.T) !== 0)).toEqual([false, true]);
    expect(w.mn.node.state().registration).toBe('registered');
    const retry = w.events.find((e) => e.event === 'reverse-tunnel-retry');
    expect(retry).toMatchObject({ code: 75, retry: true });
    expect(levelOf(retry!)).toBe('info');
    close();
    await stop(w);
  });

  it('bounded: an agent refusing every Request (74 then 75 alternating) gets at most maxRepairs + 1 Requests, 1 s apart, then the node is denied', async () => {
    const w = await world({ haReverseTunneling: true, throughForeignAgent: true });
    const close = stubForeignAgent(w, (request) => ((request[1]! & RequestFlag.T) !== 0 ? 74 : 75));
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F | AdvertisementFlag.T);
    w.clock.advance(20_000);
    const sent = requestsFromNode(w);
    expect(sent).toHaveLength(4);
    const times = requestTimes(w);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(w.mn.node.state().registration).toBe('denied');
    close();
    await stop(w);
  });
});

describe('multicast groups joined through the home agent (4.4)', () => {
  const GROUP = ipv4('239.1.2.3');

  /** IGMP messages (inner datagrams of the node's tunnels to the home agent) on the foreign segment. */
  function tunnelledIgmp(w: World) {
    return fromNode(w).flatMap((d) => {
      if (d.header.protocol !== IpProtocol.IPIP || d.header.destination !== HA) return [];
      const inner = decapsulate(d.bytes);
      if (!inner.ok) return [];
      const p = decodeIpv4Packet(inner.value.datagram, 0);
      if (!p.ok || p.value.header.protocol !== 2) return [];
      const igmp = p.value.payload;
      return [{ time: d.time, outerSource: d.header.source, source: p.value.header.source, destination: p.value.header.destination, ttl: p.value.header.ttl, type: igmp[0], group: ((igmp[4]! << 24) | (igmp[5]! << 16) | (igmp[6]! << 8) | igmp[7]!) >>> 0, checksumOk: internetChecksum(igmp, 0, igmp.length) === 0 }];
    });
  }

  it('[R4.4-5] [R4.4-6] once the reverse tunnel is granted, a Membership Report per group goes through it to the home agent, from the home address, TTL 1; repeated once after 10 s', async () => {
    const w = await world({ haReverseTunneling: true, config: { requestOptions: { reverseTunnel: true }, multicastGroups: [GROUP] } });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(200);
    expect(w.mn.node.reverseTunnel()).toBeDefined();
    const first = tunnelledIgmp(w);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ outerSource: COA, source: MN1, destination: GROUP, ttl: 1, type: 0x16, group: GROUP, checksumOk: true });
    w.clock.advance(10_000);
    expect(tunnelledIgmp(w)).toHaveLength(2);
    // The renewal (at 45 s of the 60 s Lifetime) keeps the same tunnel: no new reports.
    w.clock.advance(50_000);
    expect(w.events.filter((e) => e.event === 'registered').length).toBeGreaterThanOrEqual(2);
    expect(tunnelledIgmp(w)).toHaveLength(2);
    await stop(w);
  });

  it("no reverse tunnel, no report: the groups are not joined from the visited network with the home address", async () => {
    const w = await world({ haReverseTunneling: false, config: { requestOptions: { reverseTunnel: true }, multicastGroups: [GROUP] } });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(15_000);
    expect(tunnelledIgmp(w)).toHaveLength(0);
    expect(fromNode(w).filter((d) => d.header.protocol === 2)).toHaveLength(0);
    await stop(w);
  });

  it("the home agent's general Query, tunnelled to the care-of address, is answered with a Report through the tunnel within its Max Response Time", async () => {
    const w = await world({ haReverseTunneling: true, config: { requestOptions: { reverseTunnel: true }, multicastGroups: [GROUP] } });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(11_000); // past the unsolicited repeat
    const before = tunnelledIgmp(w).length;
    const igmp = new Uint8Array([0x11, 20, 0, 0, 0, 0, 0, 0]); // general query, Max Resp Time 2 s
    writeU16(igmp, 2, internetChecksum(igmp, 0, 8));
    const fields = { header: { tos: 0xc0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 1, protocol: 2, source: HA, destination: ipv4('224.0.0.1') }, payload: igmp };
    const query = new Uint8Array(ipv4PacketLength(fields));
    encodeIpv4Packet(fields, query, 0);
    const outer = new Uint8Array(query.length + 20);
    ipInIpEncapsulate(query, { source: HA, destination: COA, identification: 9 }, outer, 0);
    w.haHost.sendIp(outer);
    w.clock.advance(2_100);
    const after = tunnelledIgmp(w);
    expect(after.length).toBe(before + 1);
    expect(after[after.length - 1]).toMatchObject({ type: 0x16, group: GROUP, source: MN1 });
    await stop(w);
  });
});

describe('multicast sent directly on the visited network (4.4)', () => {
  function udpDatagram(source: Ipv4Address, destination: Ipv4Address): Uint8Array {
    const fields = { header: { tos: 0, identification: 5, flags: 0, fragmentOffset: 0, ttl: 8, protocol: IpProtocol.UDP, source, destination }, payload: new Uint8Array([0, 9, 0, 9, 0, 8, 0, 0]) };
    const bytes = new Uint8Array(ipv4PacketLength(fields));
    encodeIpv4Packet(fields, bytes, 0);
    return bytes;
  }

  it("[R4.4-9] co-located without a reverse tunnel (137), a multicast datagram from the home address is dropped and counted; from the care-of address, and unicast from the home address, are the host's to send", async () => {
    const w = await world({ haReverseTunneling: false });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.F);
    w.clock.advance(3000);
    expect(w.mn.node.state().attachment).toBe('co-located');
    expect(w.mn.node.reverseTunnel()).toBeUndefined();
    expect(w.mn.node.sendOwnDatagram(udpDatagram(MN1, ipv4('239.1.2.3')))).toBe(true);
    expect(w.mn.node.reverseTunnelCounters.multicastFromHomeDropped).toBe(1);
    expect(w.mn.node.sendOwnDatagram(udpDatagram(COA, ipv4('239.1.2.3')))).toBe(false);
    expect(w.mn.node.sendOwnDatagram(udpDatagram(MN1, CN))).toBe(false);
    expect(w.mn.node.reverseTunnelCounters.multicastFromHomeDropped).toBe(1);
    await stop(w);
  });
});
