/**
 * The mobile node's side of RFC 3519 on the simulated network, against a scripted home agent (a
 * UDP 434 socket that answers Requests with signed Replies carrying the UDP Tunnel Reply
 * extension as told, sends tunnel data messages and records what arrives): the Request's
 * extension, the grant, tunnel data both ways over the registration's UDP flow, keepalives at the
 * granted interval only when the flow is idle, the answer to 142, and the end of the tunnel.
 *
 *   ha (198.51.100.1) ── home 198.51.100.0/24 ── (.254) r (203.0.113.2) ── foreign 203.0.113.0/24 ── mn (203.0.113.77 co-located)
 */
import { describe, expect, it } from 'vitest';
import { Effect, Scope } from 'effect';
import { Udp, type UdpDatagram, type UdpSocket } from '../../io/udp.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeRegistrationRequest, extensionOffsets } from '../../io/wire/registration.js';
import { ExtensionType, REGISTRATION_REPLY, RequestFlag, type RegistrationExtension, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { SimNetwork } from '../../io/sim/network.js';
import { AdvertisementFlag, agentAdvertisementLength, encodeAgentAdvertisement, makeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import { icmpFrame } from '../../io/wire/frames.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { SimulatedClock } from '../../io/clock.js';
import { encodeSigned } from '../../policies/sign.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent, type RunningMobileNode } from '../../runtime/mn/mobile-node.js';
import { tunnelOwnDatagrams } from '../../runtime/mn/own-datagrams.js';
import { levelOf } from '../../runtime/cli/operator-log.js';
import type { UdpTunnelMode } from '../../policies/mn-udp-tunnel.js';
import { buildRegistries, mobileNodeMetrics } from '../../runtime/metrics/registry.js';
import { HA, HOME_NETWORK, MIP_PORT, MN1, MN1_KEY, PREFIX_LENGTH, START } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.2');
const COA = ipv4('203.0.113.77');
const CN = ipv4('192.0.2.5');
const MN_KEY = { spi: MN1_KEY.spi, key: MN1_KEY.key, algorithm: 'hmac-md5' as const };

/** How the scripted home agent answers: the Reply code, and the UDP Tunnel Reply extension (or none). */
interface Answer {
  readonly code: number;
  readonly udp?: { readonly code: number; readonly forced?: boolean; readonly keepalive: number };
}

interface World {
  readonly clock: SimulatedClock;
  readonly r: SimHost;
  readonly mn: RunningMobileNode;
  readonly mnHost: SimHost;
  readonly events: MobileNodeEvent[];
  readonly received: Uint8Array[];
  /** Requests and tunnel data the home agent got, with their source address and port. */
  readonly requests: Array<{ at: number; request: RegistrationRequest; bytes: Uint8Array; address: number; port: number }>;
  readonly tunnelData: Array<{ at: number; data: Uint8Array; address: number; port: number }>;
  readonly ha: UdpSocket;
  /** A socket of the home agent's host on another port than 434. */
  readonly haOtherPort: UdpSocket;
  close(): Promise<void>;
}

async function world(options: { mode: UdpTunnelMode | undefined; answer: (n: number) => Answer; config?: Partial<MobileNodeConfig> }): Promise<World> {
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
  mnHost.addInterface('eth0', foreign, { mac: '02:00:00:00:0a:0a', address: COA, prefixLength: 24 });
  mnHost.addAddress('eth0', MN1, 32);
  mnHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });

  const scope = Effect.runSync(Scope.make());
  const ha = Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: HA, port: MIP_PORT })), scope).pipe(Effect.provide(net.udpLayer(haHost))));
  const haOtherPort = Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: HA, port: 4000 })), scope).pipe(Effect.provide(net.udpLayer(haHost))));
  const requests: World['requests'] = [];
  const tunnelData: World['tunnelData'] = [];
  ha.onMessage((d: UdpDatagram) => {
    const data = d.data.slice();
    if (data[0] === 4) {
      tunnelData.push({ at: clock.now(), data, address: d.address, port: d.port });
      return;
    }
    const decoded = decodeRegistrationRequest(data);
    if (!decoded.ok) return;
    requests.push({ at: clock.now(), request: decoded.value, bytes: data, address: d.address, port: d.port });
    const answer = options.answer(requests.length);
    const extensions: RegistrationExtension[] = [];
    if (answer.udp !== undefined) {
      const k = answer.udp.keepalive;
      extensions.push({ kind: 'unknown', type: 44, offset: 0, skippable: false, format: 'tlv', data: new Uint8Array([0, answer.udp.code, answer.udp.forced ? 0x80 : 0, 0, k >> 8, k & 0xff]) });
    }
    extensions.push({ kind: 'auth', type: ExtensionType.MobileHomeAuth, spi: MN_KEY.spi, offset: 0, authenticator: new Uint8Array(16) });
    const reply = encodeSigned(
      { type: REGISTRATION_REPLY, code: answer.code, lifetime: answer.code <= 1 ? decoded.value.lifetime : 0, homeAddress: MN1, homeAgent: HA, identification: decoded.value.identification, extensions },
      () => MN_KEY,
    );
    // RFC 3519 4.6: the Reply goes back to the Request's source address and port (a NAT's, when there is one).
    ha.send(reply, d.address, d.port);
  });

  const random = seededRandom(3);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const config: MobileNodeConfig = {
    interfaceName: 'eth0',
    homeAddress: MN1,
    homeAgent: HA,
    homeNetwork: HOME_NETWORK,
    homePrefixLength: PREFIX_LENGTH,
    mobileHome: { ...MN_KEY, replay: 'timestamp' },
    lifetime: 600,
    requestOptions: { reverseTunnel: true },
    colocated: { address: COA, prefixLength: 24 },
    ...(options.mode !== undefined ? { udpTunnel: options.mode } : {}),
    ...options.config,
  };
  const mn = await startMobileNode(config, { link: net.linkLayer(mnHost), udp: net.udpLayer(mnHost), rawIp: simRawIpLayer(mnHost), clock, random32, autoStart: false });
  const events: MobileNodeEvent[] = [];
  const received: Uint8Array[] = [];
  mn.node.events.subscribe((e) => events.push(e));
  mn.node.received.subscribe((d) => received.push(d));
  tunnelOwnDatagrams(mnHost, mn.node);
  mn.node.start();
  return {
    clock,
    r,
    mn,
    mnHost,
    events,
    received,
    requests,
    tunnelData,
    ha,
    haOtherPort,
    async close() {
      await mn.stop();
      Effect.runSync(Scope.close(scope, { _tag: 'Success', value: undefined } as never));
    },
  };
}

/** An Agent Advertisement from the router's foreign side (a foreign agent there). */
function advertise(host: SimHost, source: number, flags: number): void {
  const advertisement = makeAgentAdvertisement({
    lifetime: 9000,
    routers: [{ address: source, preference: 0 }],
    extensions: [{ kind: 'mobility-agent-advertisement', type: 16, sequence: 0, registrationLifetime: 1800, flags, careOfAddresses: [source] }],
  });
  const bytes = new Uint8Array(agentAdvertisementLength(advertisement));
  encodeAgentAdvertisement(advertisement, bytes, 0);
  host.sendFrame('eth1', icmpFrame({ sourceMac: host.interface('eth1').mac, destinationMac: '01:00:5e:00:00:01', source, destination: ipv4('224.0.0.1'), ttl: 1 }, bytes));
}

const GRANT = (keepalive: number): Answer => ({ code: 0, udp: { code: 0, keepalive } });

function innerTo(destination: number, source = CN): Uint8Array {
  const packet = { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 60, protocol: IpProtocol.UDP, source, destination }, payload: new Uint8Array([0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, 1, 2, 3, 4]) };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function tunnelMessage(inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + inner.length);
  out.set([4, 4, 0, 0]);
  out.set(inner, 4);
  return out;
}

/** When the node sent each Request (its own log: the frame may wait for ARP on the way). */
function requestTimes(w: World): number[] {
  return w.events.flatMap((e) => (e.event === 'request' ? [e.at] : []));
}

function keepalives(w: World) {
  return w.tunnelData.filter((t) => {
    const ip = decodeIpv4Packet(t.data, 4);
    return ip.ok && ip.value.header.protocol === IpProtocol.ICMP && ip.value.payload[0] === 8;
  });
}

describe('RFC 3519 at a co-located mobile node (simulated network, scripted home agent)', () => {
  it('udpTunnel auto: the co-located Request carries the UDP Tunnel Request (144, F clear) before the Mobile-Home authenticator, with D and T', async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(30) });
    w.clock.advance(200);
    const first = w.requests[0]!;
    expect(first.request.flags & (RequestFlag.D | RequestFlag.T)).toBe(RequestFlag.D | RequestFlag.T);
    const types = first.request.extensions.map((e) => e.type);
    expect(types).toEqual([144, ExtensionType.MobileHomeAuth]);
    const at = extensionOffsets(first.request)[0]!;
    expect([...first.bytes.subarray(at, at + 8)]).toEqual([144, 6, 0, 0, 0, 4, 0, 0]);
    expect(w.mn.node.udpTunnelling.counters.requested).toBe(1);
    await w.close();
  });

  it('a node built without the udpTunnel option asks too (the library default is auto, as the configuration file\'s)', async () => {
    const w = await world({ mode: undefined, answer: () => GRANT(30) });
    w.clock.advance(200);
    expect(w.requests[0]!.request.extensions.map((e) => e.type)).toEqual([144, ExtensionType.MobileHomeAuth]);
    expect(w.mn.node.udpTunnelling.counters.requested).toBe(1);
    expect(w.mn.node.udpTunnelling.counters.granted).toBe(1);
    await w.close();
  });

  it('udpTunnel force sets F; off sends no extension and keeps IP in IP', async () => {
    const forced = await world({ mode: 'force', answer: () => ({ code: 0, udp: { code: 0, forced: true, keepalive: 30 } }) });
    forced.clock.advance(200);
    const at = extensionOffsets(forced.requests[0]!.request)[0]!;
    expect(forced.requests[0]!.bytes[at + 4]).toBe(0x80);
    expect(forced.mn.node.state().udpTunnel).toMatchObject({ forced: true, keepaliveInterval: 30 });
    await forced.close();
    const off = await world({ mode: 'off', answer: () => ({ code: 0 }) });
    off.clock.advance(200);
    expect(off.requests[0]!.request.extensions.map((e) => e.type)).toEqual([ExtensionType.MobileHomeAuth]);
    expect(off.mn.node.state().registration).toBe('registered');
    expect(off.mn.node.state().udpTunnel).toBeUndefined();
    await off.close();
  });

  it('granted (code 0): tunnel data from the home agent:434 is decapsulated and delivered; from anywhere else it is dropped and counted', async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(30) });
    w.clock.advance(200);
    expect(w.mn.node.state()).toMatchObject({ registration: 'registered', udpTunnel: { homeAgent: '198.51.100.1', careOfAddress: '203.0.113.77', keepaliveInterval: 30 } });
    const port = w.requests[0]!.port;
    const inner = innerTo(MN1);
    w.ha.send(tunnelMessage(inner), COA, port);
    w.clock.advance(50);
    expect(w.received.map((d) => [...d])).toEqual([[...inner]]);
    expect(w.mn.node.counters.decapsulated).toBe(1);
    expect(w.mn.node.udpTunnelling.plane.counters.decapsulated).toBe(1);
    w.haOtherPort.send(tunnelMessage(inner), COA, port);
    w.clock.advance(50);
    expect(w.received).toHaveLength(1);
    expect(w.mn.node.udpTunnelling.plane.counters.notFromHomeAgent).toBe(1);
    await w.close();
  });

  it("the node's own datagrams go to the home agent as tunnel data messages on the registration's 5-tuple (care-of address, the Requests' port → 434), not as IP in IP; a refused send is counted", async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(30) });
    w.clock.advance(200);
    const inner = innerTo(CN, MN1);
    w.mnHost.sendPacket({ protocol: IpProtocol.UDP, source: MN1, destination: CN, payload: inner.subarray(20) });
    w.clock.advance(50);
    expect(w.tunnelData).toHaveLength(1);
    const got = w.tunnelData[0]!;
    expect([got.address, got.port]).toEqual([COA, w.requests[0]!.port]);
    expect([...got.data.subarray(0, 4)]).toEqual([4, 4, 0, 0]);
    const ip = decodeIpv4Packet(got.data, 4);
    expect(ip.ok && [ip.value.header.source, ip.value.header.destination]).toEqual([MN1, CN]);
    expect(w.mn.node.reverseTunnelCounters.tunnelled).toBe(1);
    expect(w.mn.node.udpTunnelling.plane.counters.tunnelledOut).toBe(1);
    // A send the socket refuses (no route to the home agent for a moment) is counted.
    w.mnHost.removeRoute(0, 0);
    expect(w.mn.node.sendOwnDatagram(inner)).toBe(true);
    expect(w.mn.node.udpTunnelling.counters.sendErrors).toBe(1);
    await w.close();
  });

  it('keepalives (RFC 3519 4.9): an ICMP Echo Request from the home address to the home agent in a tunnel data message, one per granted interval of idleness, none while data flows', async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(20) });
    w.clock.advance(200);
    const registeredAt = requestTimes(w)[0]!;
    w.clock.advance(19_000);
    expect(keepalives(w)).toHaveLength(0);
    w.clock.advance(2_000);
    expect(keepalives(w)).toHaveLength(1);
    const first = keepalives(w)[0]!;
    const sentAt = w.events.find((e) => e.event === 'udp-keepalive')!.at;
    expect(sentAt - registeredAt).toBe(20_000);
    const ip = decodeIpv4Packet(first.data, 4);
    expect(ip.ok && [ip.value.header.source, ip.value.header.destination]).toEqual([MN1, HA]);
    expect(first.port).toBe(w.requests[0]!.port);
    // Data every 5 s: the flow is never idle for 20 s, so no keepalive.
    for (let i = 0; i < 8; i++) {
      w.mnHost.sendPacket({ protocol: IpProtocol.UDP, source: MN1, destination: CN, payload: new Uint8Array([0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]) });
      w.clock.advance(5_000);
    }
    expect(keepalives(w)).toHaveLength(1);
    w.clock.advance(21_000);
    expect(keepalives(w)).toHaveLength(2);
    expect(w.mn.node.udpTunnelling.counters.keepalivesSent).toBe(2);
    // The metrics say the same (mip4 mn's /metrics).
    const text = await buildRegistries({ role: 'mn', version: '0', engine: 'compiled' }, mobileNodeMetrics({ node: w.mn.node }), { processMetrics: false }).prometheus.metrics();
    expect(text).toMatch(/^mip4_mn_udp_keepalives_sent_total 2$/m);
    expect(text).toMatch(/^mip4_mn_udp_tunnel_registrations_total\{outcome="granted"\} 1$/m);
    expect(text).toMatch(/^mip4_mn_udp_tunnel_packets_total\{direction="out",result="sent"\} 8$/m);
    const logged = w.events.filter((e) => e.event === 'udp-keepalive');
    expect(logged).toHaveLength(2);
    expect(levelOf(logged[0]!)).toBe('debug');
    await w.close();
  });

  it("the home agent's Echo Reply to a keepalive is kept from the host's stack (counted)", async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(10) });
    w.clock.advance(10_500);
    const keepalive = keepalives(w)[0]!;
    const request = keepalive.data.subarray(4);
    const reply = request.slice();
    reply.set(request.subarray(16, 20), 12);
    reply.set(request.subarray(12, 16), 16);
    reply[20] = 0; // Echo Reply (checksums are not this check's business)
    w.ha.send(tunnelMessage(reply), keepalive.address, keepalive.port);
    w.clock.advance(50);
    expect(w.mn.node.udpTunnelling.counters.keepaliveReplies).toBe(1);
    expect(w.received).toHaveLength(0);
    await w.close();
  });

  it('declined (UDP Tunnel Reply code 64) or no extension: registered with IP in IP, no keepalives, the decline logged', async () => {
    for (const answer of [{ code: 0, udp: { code: 64, keepalive: 0 } }, { code: 0 }] as Answer[]) {
      const w = await world({ mode: 'auto', answer: () => answer });
      w.clock.advance(200);
      expect(w.mn.node.state().registration).toBe('registered');
      expect(w.mn.node.state().udpTunnel).toBeUndefined();
      expect(w.mn.node.reverseTunnel()).toMatchObject({ outerSource: COA, outerDestination: HA, encapsulation: 'ip-in-ip' });
      expect(w.events.some((e) => e.event === 'udp-tunnel-declined')).toBe(true);
      w.clock.advance(300_000);
      expect(keepalives(w)).toHaveLength(0);
      await w.close();
    }
  });

  it('142 with auto: a retry without the extension at least 1 s later, accepted with IP in IP; with force: denied, a warning naming the fix', async () => {
    const auto = await world({ mode: 'auto', answer: (n) => (n === 1 ? { code: 142 } : { code: 0 }) });
    auto.clock.advance(3000);
    expect(auto.requests.map((r) => r.request.extensions.some((e) => e.type === 144))).toEqual([true, false]);
    const times = requestTimes(auto);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
    expect(auto.mn.node.state().registration).toBe('registered');
    expect(auto.events.find((e) => e.event === 'udp-tunnel-retry')).toMatchObject({ code: 142 });
    expect(auto.mn.node.udpTunnelling.counters.retries).toBe(1);
    await auto.close();
    const force = await world({ mode: 'force', answer: () => ({ code: 142 }) });
    force.clock.advance(3000);
    expect(force.mn.node.state().registration).toBe('denied');
    const warning = force.events.find((e) => e.event === 'udp-tunnel-warning');
    expect(warning).toMatchObject({ code: 142 });
    expect(levelOf(warning!)).toBe('warn');
    expect(force.requests).toHaveLength(1);
    await force.close();
  });

  it("a move to a foreign agent ('R': registration through it required) ends the tunnel and its keepalives; that Request carries no UDP Tunnel Request (the agent's business, RFC 3519 4.5)", async () => {
    const w = await world({ mode: 'auto', answer: () => GRANT(20) });
    w.clock.advance(200);
    expect(w.mn.node.state().udpTunnel).toBeDefined();
    w.clock.advance(2_000); // past the node's hold-off between registrations
    // The Requests the agent gets, as frames on its link.
    const atAgent: RegistrationRequest[] = [];
    w.r.onFrame('eth1', (frame) => {
      if (frame.length < 14 + 28 || frame[14 + 9] !== IpProtocol.UDP) return;
      const ipHeader = (frame[14]! & 0x0f) * 4;
      const udp = 14 + ipHeader;
      if (((frame[udp + 2]! << 8) | frame[udp + 3]!) !== MIP_PORT) return;
      const decoded = decodeRegistrationRequest(frame.subarray(udp + 8));
      if (decoded.ok) atAgent.push(decoded.value);
    });
    advertise(w.r, R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F);
    w.clock.advance(100);
    // The node registers the agent's care-of address, not its co-located one (D clear), so its
    // Request has no UDP Tunnel Request at all and no 'R' flag (RFC 3519 3.1) to set or get wrong.
    expect(atAgent.length).toBeGreaterThanOrEqual(1);
    for (const request of atAgent) {
      expect(request.careOfAddress).toBe(R_FOREIGN);
      expect(request.flags & RequestFlag.D).toBe(0);
      expect(request.extensions.map((e) => e.type)).not.toContain(144);
    }
    expect(w.mn.node.state().udpTunnel).toBeUndefined();
    expect(w.events.find((e) => e.event === 'udp-tunnel' && e.active === false)).toMatchObject({ reason: 'new registration elsewhere' });
    const viaAgent = w.events.filter((e) => e.event === 'request' && e.careOfAddress === '203.0.113.2');
    expect(viaAgent.length).toBeGreaterThanOrEqual(1);
    expect(w.mn.node.udpTunnelling.counters.requested).toBe(1);
    const before = keepalives(w).length;
    w.clock.advance(60_000);
    expect(keepalives(w)).toHaveLength(before);
    expect(w.mn.node.udpTunnelling.counters.keepalivesSent).toBe(0);
    await w.close();
  });

  it('a renewal keeps the tunnel; losing the co-located address ends it and its keepalives', async () => {
    const w = await world({ mode: 'auto', answer: () => ({ code: 0, udp: { code: 0, keepalive: 20 } }), config: { lifetime: 30 } });
    w.clock.advance(200);
    expect(w.mn.node.state().udpTunnel).toBeDefined();
    w.clock.advance(40_000);
    expect(w.requests.length).toBeGreaterThanOrEqual(2);
    expect(w.mn.node.state().udpTunnel).toBeDefined();
    w.mn.node.colocatedAddressChanged(undefined);
    expect(w.mn.node.state().udpTunnel).toBeUndefined();
    expect(w.events.some((e) => e.event === 'udp-tunnel' && e.active === false)).toBe(true);
    const before = keepalives(w).length;
    w.clock.advance(120_000);
    expect(keepalives(w)).toHaveLength(before);
    await w.close();
  });
});
