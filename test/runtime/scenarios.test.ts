/**
 * Whole conversations on the simulated network (io/sim): a home agent with its data path, a
 * foreign agent FA1, a mobile node and a correspondent, wired as runtime/cli/roaming-demo.ts does, each
 * scenario driven on a SimulatedClock from the correspondent's pings to the home address.
 *
 *   cn 192.0.2.20 ── correspondent 192.0.2.0/24 ──┐
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ──────┤ r
 *   fa1 203.0.113.1 ── foreign-1 203.0.113.0/26 ──┘   (mn here, 198.51.100.10)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_MOBILITY_AGENTS_GROUP, type SimHost } from '../../io/sim/ip-host.js';
import { AdvertisementFlag } from '../../io/wire/agent-discovery.js';
import { SimNetwork, type SimCapture } from '../../io/sim/network.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { fromHex, ipv4, readU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { decodeArpPacket } from '../../io/wire/arp.js';
import { ethernetDestination, ethernetSource } from '../../io/wire/ethernet.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { SimulatedClock } from '../../io/clock.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../../runtime/fa/foreign-agent.js';
import { icmpFrame } from '../../io/wire/frames.js';
import type { HomeAgentConfig } from '../../runtime/ha/home-agent.js';
import { startSimulatedHomeAgent } from '../../runtime/cli/roaming-demo.js';
import type { RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent } from '../../runtime/mn/mobile-node.js';

const HOME_NETWORK = ipv4('198.51.100.0');
const HOME_BROADCAST = ipv4('198.51.100.255');
const HA = ipv4('198.51.100.1');
const MN = ipv4('198.51.100.10');
const HOME_PEER = ipv4('198.51.100.20');
const R_HOME = ipv4('198.51.100.254');
const FA1 = ipv4('203.0.113.1');
const R_F1 = ipv4('203.0.113.62');
const COLOCATED = ipv4('203.0.113.40');
const CN = ipv4('192.0.2.20');
const R_CN = ipv4('192.0.2.254');

const MAC = {
  ha: '02:00:00:00:00:01',
  homePeer: '02:00:00:00:00:14',
  rHome: '02:00:00:00:00:fe',
  rF1: '02:00:00:00:01:fe',
  rCn: '02:00:00:00:03:fe',
  fa1: '02:00:00:00:01:01',
  cn: '02:00:00:00:03:14',
  mn: '02:00:00:00:00:0a',
} as const;

const MN_KEY = { spi: 4096, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') };
const FA1_KEY = { spi: 0x301, key: fromHex('000102030405060708090a0b0c0d0e0f') };
const MN_FA_KEY = { spi: 0x401, key: fromHex('202122232425262728292a2b2c2d2e2f') };
const START = Date.UTC(2026, 0, 1);
const ECHO_IDENTIFIER = 0x5343;

interface ScenarioOptions {
  readonly encapsulations?: { minimal: boolean; gre: boolean };
  readonly haBroadcast?: boolean;
  readonly faRegistrationRequired?: boolean;
  /** FA1 shares an association with the node and denies Requests without a valid MFAE (3.7.2.1). */
  readonly faMobileForeignKey?: typeof MN_FA_KEY;
  readonly mnRequestOptions?: MobileNodeConfig['requestOptions'];
  /** The node holds a co-located care-of address on foreign-1 instead of using FA1's. */
  readonly colocated?: boolean;
  /** FA1's association with the home agent uses this key (same SPI) instead of the HA's. */
  readonly faHomeKey?: typeof FA1_KEY;
  /** The home agent's association with the node uses this key instead of the node's. */
  readonly haMobileKey?: typeof MN_KEY;
}

function echoRequest(sequence: number): Uint8Array {
  const bytes = new Uint8Array(16);
  encodeIcmpEcho({ icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier: ECHO_IDENTIFIER, sequence, data: new Uint8Array(8) }, bytes, 0);
  return bytes;
}

function echoSequence(datagram: Uint8Array, destination: Ipv4Address): number | undefined {
  if (datagram.length < 28 || ipv4Protocol(datagram, 0) !== IpProtocol.ICMP || ipv4Destination(datagram, 0) !== destination) return undefined;
  const at = ipv4HeaderLength(datagram, 0);
  if (datagram[at] !== IcmpType.Echo || ((datagram[at + 4]! << 8) | datagram[at + 5]!) !== ECHO_IDENTIFIER) return undefined;
  return (datagram[at + 6]! << 8) | datagram[at + 7]!;
}

/** IPv4 datagrams (Ethernet type 0x0800) a segment carried, as [protocol, destination, bytes after the Ethernet header]. */
function ipFrames(capture: SimCapture, segment: string): Array<{ protocol: number; destination: number; ip: Uint8Array }> {
  return capture
    .frames(segment)
    .filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00)
    .map((f) => {
      const ip = f.frame.subarray(14);
      return { protocol: ipv4Protocol(ip, 0), destination: ipv4Destination(ip, 0) >>> 0, ip };
    });
}

function faConfig(options: ScenarioOptions): FaConfig {
  const encapsulations = options.encapsulations ?? { minimal: false, gre: false };
  return {
    settings: {
      careOfAddresses: [FA1],
      interfaceAddresses: [FA1],
      linkAddress: FA1,
      registrationLifetime: 1800,
      busy: false,
      encapsulations,
      reverseTunneling: false,
      requireMobileForeignAuthentication: options.faMobileForeignKey !== undefined,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes:
      options.faMobileForeignKey === undefined
        ? []
        : [{ address: MN, contexts: [createSecurityContext({ spi: options.faMobileForeignKey.spi, key: options.faMobileForeignKey.key, replay: 'timestamp' })] }],
    homeAgents: [{ address: HA, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: (options.faHomeKey ?? FA1_KEY).key, replay: 'timestamp' })] }],
    advertisement: { lifetimeSeconds: 3, maxIntervalMs: 1000, seed: 7, registrationRequired: options.faRegistrationRequired ?? true },
  };
}

interface Scenario {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly hosts: { readonly ha: SimHost; readonly fa1: SimHost; readonly mn: SimHost; readonly cn: SimHost };
  readonly capture: SimCapture;
  readonly ha: RunningHomeAgent;
  fa1: RunningForeignAgent;
  readonly mn: Awaited<ReturnType<typeof startMobileNode>>;
  readonly events: MobileNodeEvent[];
  /** Echo sequence numbers that reached the node (on its link or decapsulated by itself), with the time. */
  readonly delivered: Map<number, number>;
  readonly homePeer: SimHost;
  /** Restarts FA1 on the same host, as after a reboot. */
  rebootFa1(): Promise<void>;
  /** Advances `ms` of simulated time, the correspondent pinging the home address every 100 ms; returns the sequences sent. */
  run(ms: number, ping?: boolean): number[];
  close(): Promise<void>;
}

const open: Scenario[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function scenario(options: ScenarioOptions = {}): Promise<Scenario> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 5 });
  const capture = net.capture();
  const home = net.addSegment('home', { latencyMs: 1 });
  const f1 = net.addSegment('foreign-1', { latencyMs: 1 });
  const corr = net.addSegment('correspondent', { latencyMs: 5 });

  const r = net.addHost('r', { forwarding: true });
  r.addInterface('home', home, { mac: MAC.rHome, address: R_HOME, prefixLength: 24 });
  r.addInterface('f1', f1, { mac: MAC.rF1, address: R_F1, prefixLength: 26 });
  r.addInterface('corr', corr, { mac: MAC.rCn, address: R_CN, prefixLength: 24 });
  const haHost = net.addHost('ha', { forwarding: true });
  haHost.addInterface('home0', home, { mac: MAC.ha, address: HA, prefixLength: 24 });
  haHost.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
  const homePeer = net.addHost('home-peer');
  homePeer.addInterface('eth0', home, { mac: MAC.homePeer, address: HOME_PEER, prefixLength: 24 });
  // The foreign agent's host routes its visitors' datagrams (2.1, 2.3.1: a foreign agent MUST).
  const fa1Host = net.addHost('fa1', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  fa1Host.addInterface('eth0', f1, { mac: MAC.fa1, address: FA1, prefixLength: 26 });
  fa1Host.addRoute(0, 0, { via: R_F1, interface: 'eth0' });
  const cn = net.addHost('cn');
  cn.addInterface('eth0', corr, { mac: MAC.cn, address: CN, prefixLength: 24 });
  cn.addRoute(0, 0, { via: R_CN, interface: 'eth0' });
  // The node is already on foreign-1: its home address alone (/32) and FA1 as its router
  // (4.2.1), or, co-located, the care-of address in place of the home address.
  const mnHost = net.addHost('mn');
  if (options.colocated === true) {
    mnHost.addInterface('eth0', f1, { mac: MAC.mn, address: COLOCATED, prefixLength: 26 });
    mnHost.addRoute(0, 0, { via: R_F1, interface: 'eth0' });
  } else {
    mnHost.addInterface('eth0', f1, { mac: MAC.mn, address: MN, prefixLength: 32 });
    mnHost.addRoute(FA1, 32, { interface: 'eth0' });
    mnHost.addRoute(0, 0, { via: FA1, interface: 'eth0' });
    mnHost.setArpEntry('eth0', FA1, MAC.fa1);
  }

  const random = seededRandom(0x5eed);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const encapsulations = options.encapsulations ?? { minimal: false, gre: false };
  const haConfig: HomeAgentConfig = {
    settings: {
      addresses: [HA],
      homeNetwork: HOME_NETWORK,
      prefixLength: 24,
      simultaneousBindings: true,
      broadcast: options.haBroadcast ?? false,
      encapsulations,
      reverseTunneling: false,
    },
    mobileNodes: [{ homeAddress: MN, contexts: [createSecurityContext({ spi: MN_KEY.spi, key: (options.haMobileKey ?? MN_KEY).key, replay: 'timestamp' })], maxLifetime: 1800, maxBindings: 1 }],
    foreignAgents: [{ address: FA1, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: FA1_KEY.key, replay: 'timestamp' })] }],
    maxBindings: 100,
  };
  const { ha, close: closeDataPath } = await startSimulatedHomeAgent(net, haHost, haConfig, {
    address: HA,
    homeInterface: 'home0',
    prefixLength: 24,
    clock,
    random32,
    advertisement: { registrationLifetime: 1800, lifetimeSeconds: 3, maxIntervalMs: 1000, seed: 0x4a },
  });
  const startFa1 = () =>
    startForeignAgent(faConfig(options), {
      interfaceName: 'eth0',
      udp: net.udpLayer(fa1Host),
      link: net.linkLayer(fa1Host),
      rawIp: simRawIpLayer(fa1Host),
      clock,
      random32,
    });
  const fa1 = await startFa1();
  const mn = await startMobileNode(
    {
      interfaceName: 'eth0',
      homeAddress: MN,
      homeAgent: HA,
      homeNetwork: HOME_NETWORK,
      homePrefixLength: 24,
      mobileHome: { spi: MN_KEY.spi, key: MN_KEY.key, algorithm: 'hmac-md5', replay: 'timestamp' },
      lifetime: 600,
      ...(options.colocated === true ? { colocated: { address: COLOCATED, prefixLength: 26 } } : {}),
      ...(options.mnRequestOptions !== undefined ? { requestOptions: options.mnRequestOptions } : {}),
    },
    { link: net.linkLayer(mnHost), udp: net.udpLayer(mnHost), rawIp: simRawIpLayer(mnHost), clock, random32, autoStart: false },
  );
  const events: MobileNodeEvent[] = [];
  mn.node.events.subscribe((e) => events.push(e));
  const delivered = new Map<number, number>();
  const deliver = (datagram: Uint8Array) => {
    const sequence = echoSequence(datagram, MN) ?? echoSequence(datagram, HOME_BROADCAST);
    if (sequence !== undefined && !delivered.has(sequence)) delivered.set(sequence, clock.now() - START);
  };
  mnHost.onIp(IpProtocol.ICMP, deliver);
  mn.node.received.subscribe(deliver);
  mn.node.start();

  let pingSequence = 0;
  let closed = false;
  const s: Scenario = {
    clock,
    net,
    hosts: { ha: haHost, fa1: fa1Host, mn: mnHost, cn },
    capture,
    ha,
    fa1,
    mn,
    events,
    delivered,
    homePeer,
    async rebootFa1() {
      await s.fa1.stop();
      s.fa1 = await startFa1();
    },
    run(ms, ping = true) {
      const sent: number[] = [];
      for (let t = 0; t < ms; t += 100) {
        if (ping) {
          const sequence = pingSequence++;
          sent.push(sequence);
          cn.sendPacket({ protocol: IpProtocol.ICMP, source: CN, destination: MN, payload: echoRequest(sequence) });
        }
        clock.advance(100);
      }
      return sent;
    },
    async close() {
      if (closed) return;
      closed = true;
      await mn.stop();
      await s.fa1.stop();
      closeDataPath();
      await ha.stop();
      capture.stop();
    },
  };
  open.push(s);
  return s;
}

const ofKind = <K extends MobileNodeEvent['event']>(events: readonly MobileNodeEvent[], kind: K) =>
  events.filter((e): e is Extract<MobileNodeEvent, { event: K }> => e.event === kind);

describe('scenario: foreign agent reboot (2.3.2, 2.4.4)', () => {
  it('[R2.4.4-1] the node registered through FA1 sees the restarted sequence (< 256), registers again, and pings resume', async () => {
    const s = await scenario();
    s.run(4000);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.1']);
    const before = Math.max(...ofKind(s.events, 'advertisement').map((e) => e.sequence));
    expect(before).toBeGreaterThan(0);

    await s.rebootFa1();
    const rebootAt = s.clock.now() - START;
    const sentAfter = s.run(5000);
    const rebooted = ofKind(s.events, 'agent-rebooted');
    expect(rebooted).toHaveLength(1);
    expect(rebooted[0]).toMatchObject({ agent: '203.0.113.1', previousSequence: before });
    expect(rebooted[0]!.sequence).toBeLessThan(256);
    expect(rebooted[0]!.sequence).toBeLessThan(before);
    // A new Request through the rebooted agent, accepted: the new FA1 has the node as a visitor again.
    const registered = ofKind(s.events, 'registered');
    expect(registered).toHaveLength(2);
    expect(registered[1]!.at - START).toBeGreaterThan(rebootAt);
    expect(ofKind(s.events, 'request').filter((e) => e.at - START > rebootAt && e.destination === '203.0.113.1').length).toBeGreaterThan(0);
    // Pings sent after the re-registration reach the node again.
    const resumedAt = registered[1]!.at - START;
    const late = sentAfter.slice(-20);
    expect(late.every((seq) => s.delivered.has(seq))).toBe(true);
    expect(Math.min(...late.map((seq) => s.delivered.get(seq)!))).toBeGreaterThan(resumedAt);
  });
});

describe('scenario: a mobile–foreign key the node does not have (3.7.2.1, 3.6.2)', () => {
  it('[R3.7.2.1-4] [R3.7.2.1-6] [R3.7.2.1-7] FA1 requiring mobile–foreign authentication denies with 67, nothing is relayed, no binding at the HA', async () => {
    const s = await scenario({ faMobileForeignKey: MN_FA_KEY });
    const relayed: string[] = [];
    s.fa1.agent.events.subscribe((e) => e.event === 'request-relayed' && relayed.push(e.homeAddress));
    s.run(5000);
    const denied = ofKind(s.events, 'denied');
    expect(denied.length).toBeGreaterThan(0);
    expect(denied[0]).toMatchObject({ code: 67, byForeignAgent: true });
    expect(ofKind(s.events, 'registered')).toHaveLength(0);
    expect(relayed).toEqual([]);
    expect(s.ha.agent.bindingCount).toBe(0);
    expect(s.ha.agent.bindings()).toEqual([]);
  });
});

describe('scenario: each encapsulation end to end through FA1 (3.6.1.2, 4.1)', () => {
  for (const [name, bit, protocol] of [
    ['gre', 'greEncapsulation', IpProtocol.GRE],
    ['minimal', 'minimalEncapsulation', IpProtocol.MINIMAL_ENCAPSULATION],
  ] as const) {
    it(`${name}: FA1 advertises it, the node asks for it, the binding has it, pings cross foreign-1 as protocol ${protocol}`, async () => {
      const s = await scenario({ encapsulations: { minimal: true, gre: true }, mnRequestOptions: { [bit]: true } });
      s.run(2000, false);
      expect(ofKind(s.events, 'registered')).toHaveLength(1);
      expect(s.ha.agent.bindings()).toMatchObject([{ homeAddress: '198.51.100.10', careOfAddress: '203.0.113.1', encapsulation: name }]);
      const sent = s.run(2000);
      expect(sent.every((seq) => s.delivered.has(seq))).toBe(true);
      const tunnelled = ipFrames(s.capture, 'foreign-1').filter((f) => f.destination === FA1 >>> 0 && (f.protocol === protocol || f.protocol === IpProtocol.IPIP));
      expect(tunnelled.length).toBeGreaterThanOrEqual(sent.length);
      expect(tunnelled.every((f) => f.protocol === protocol)).toBe(true);
    });
  }
});

describe('scenario: home-network broadcasts (4.3)', () => {
  const broadcastEcho = (s: Scenario, sequence: number) =>
    s.homePeer.sendFrame(
      'eth0',
      icmpFrame({ sourceMac: MAC.homePeer, destinationMac: 'ff:ff:ff:ff:ff:ff', source: HOME_PEER, destination: HOME_BROADCAST, ttl: 64 }, echoRequest(sequence)),
    );

  it('[R4.3-3] with the B bit, a broadcast on the home segment is tunnelled to the co-located address and reaches the node', async () => {
    const s = await scenario({ haBroadcast: true, faRegistrationRequired: false, colocated: true, mnRequestOptions: { broadcast: true } });
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.40' }]);
    expect(s.ha.agent.bindings()[0]!.flags).toContain('B');
    expect(s.ha.agent.bindings()[0]!.flags).toContain('D');
    broadcastEcho(s, 4000);
    s.run(500, false);
    expect(s.delivered.has(4000)).toBe(true);
    const tunnelled = ipFrames(s.capture, 'foreign-1').filter((f) => f.destination === COLOCATED >>> 0 && f.protocol === IpProtocol.IPIP);
    expect(tunnelled).toHaveLength(1);
    expect(ipv4Destination(tunnelled[0]!.ip, ipv4HeaderLength(tunnelled[0]!.ip, 0)) >>> 0).toBe(HOME_BROADCAST >>> 0);
  });

  it('[R4.3-3] [R3.6.1.2-8] through FA1 (decapsulating node, B bit): the broadcast arrives nested, FA1 takes off the outer layer, the node the inner one', async () => {
    const s = await scenario({ haBroadcast: true, mnRequestOptions: { broadcast: true, decapsulates: true } });
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.1', encapsulation: 'ip-in-ip' }]);
    expect(s.ha.agent.bindings()[0]!.flags).toContain('B');
    broadcastEcho(s, 4002);
    s.run(500, false);
    expect(s.delivered.has(4002)).toBe(true);
    expect(s.mn.node.counters.decapsulated).toBe(1);
    // On foreign-1: the HA's datagram to FA1 (IP in IP around IP in IP to the home address
    // around the broadcast), then FA1's delivery of the inner tunnel to the node.
    const frames = ipFrames(s.capture, 'foreign-1').filter((f) => f.protocol === IpProtocol.IPIP);
    expect(frames.map((f) => f.destination)).toEqual([FA1 >>> 0, MN >>> 0]);
    const layers = (ip: Uint8Array): number[] => {
      const out = [ipv4Destination(ip, 0) >>> 0];
      if (ipv4Protocol(ip, 0) === IpProtocol.IPIP) out.push(...layers(ip.subarray(ipv4HeaderLength(ip, 0))));
      return out;
    };
    expect(layers(frames[0]!.ip)).toEqual([FA1 >>> 0, MN >>> 0, HOME_BROADCAST >>> 0]);
    expect(layers(frames[1]!.ip)).toEqual([MN >>> 0, HOME_BROADCAST >>> 0]);
  });

  it('[R4.3-1] without the B bit the same broadcast is not forwarded', async () => {
    const s = await scenario({ haBroadcast: true, faRegistrationRequired: false, colocated: true });
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()[0]!.flags).not.toContain('B');
    broadcastEcho(s, 4001);
    s.run(500, false);
    expect(s.delivered.has(4001)).toBe(false);
    expect(ipFrames(s.capture, 'foreign-1').filter((f) => f.destination === COLOCATED >>> 0 && f.protocol === IpProtocol.IPIP)).toHaveLength(0);
  });
});

/** Registration messages (UDP port 434 on either side) a segment carried, decoded enough to check who sent what to whom. */
function registrationFrames(capture: SimCapture, segment: string) {
  return ipFrames(capture, segment)
    .filter((f) => f.protocol === IpProtocol.UDP)
    .map((f) => {
      const at = ipv4HeaderLength(f.ip, 0);
      const sourcePort = (f.ip[at]! << 8) | f.ip[at + 1]!;
      const destinationPort = (f.ip[at + 2]! << 8) | f.ip[at + 3]!;
      const payload = f.ip.subarray(at + 8);
      return { source: ipv4Source(f.ip, 0) >>> 0, destination: f.destination, sourcePort, destinationPort, type: payload[0], payload };
    })
    .filter((m) => (m.sourcePort === 434 || m.destinationPort === 434) && (m.type === 1 || m.type === 3));
}

describe('scenario: return home (2.4.3, 4.6), with the home agent\'s own advertisements', () => {
  it('[R3.1-4] [R3.1-1] registered through FA1, the node moves home, hears the HA (H bit), sends a gratuitous ARP, then deregisters directly with the HA; pings follow it home', async () => {
    const s = await scenario();
    s.run(3000);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.1' }]);
    // R3.1-1: the registration with FA1's care-of address went through FA1: node → FA1 on
    // foreign-1, FA1 → HA (IP source FA1), never node → HA.
    const foreign = registrationFrames(s.capture, 'foreign-1').filter((m) => m.type === 1);
    expect(foreign.length).toBeGreaterThan(0);
    expect(foreign.filter((m) => m.source === MN >>> 0).every((m) => m.destination === FA1 >>> 0)).toBe(true);
    expect(registrationFrames(s.capture, 'home').filter((m) => m.type === 1).every((m) => m.source === FA1 >>> 0)).toBe(true);

    // Home: the home prefix back on the interface, the router as default route.
    const home = s.net.segment('home');
    const movedAt = s.clock.now() - START;
    s.hosts.mn.moveInterface('eth0', home);
    s.hosts.mn.removeAddress('eth0', MN);
    s.hosts.mn.removeRoute(0, 0);
    s.hosts.mn.removeRoute(FA1, 32);
    s.hosts.mn.deleteArpEntry('eth0', FA1);
    s.hosts.mn.addAddress('eth0', MN, 24);
    s.hosts.mn.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
    s.mn.node.linkChanged();
    const sentHome = s.run(3000);

    const heardHa = ofKind(s.events, 'advertisement').filter((e) => e.agent === '198.51.100.1');
    expect(heardHa.length).toBeGreaterThan(0);
    expect(heardHa[0]!.flags & AdvertisementFlag.H).not.toBe(0);
    expect(ofKind(s.events, 'deregistered')).toMatchObject([{ code: 0 }]);
    expect(s.ha.agent.bindingCount).toBe(0);
    // The gratuitous ARP (an ARP whose sender and target are the home address, the node's MAC) precedes the Request (4.6).
    const homeFrames = s.capture.frames('home').filter((f) => f.time - START >= movedAt);
    const garpIndex = homeFrames.findIndex((f) => {
      if (f.frame[12] !== 0x08 || f.frame[13] !== 0x06) return false;
      const arp = decodeArpPacket(f.frame, 14);
      return arp.ok && arp.value.senderIp === MN && arp.value.targetIp === MN && arp.value.senderMac === MAC.mn;
    });
    const deregistrations = registrationFrames(s.capture, 'home').filter((m) => m.type === 1 && m.source === MN >>> 0);
    expect(garpIndex).toBeGreaterThanOrEqual(0);
    // R3.1-4: directly to the home agent, from the home address, with Lifetime 0 and the home address as care-of address.
    expect(deregistrations.length).toBeGreaterThan(0);
    for (const d of deregistrations) {
      expect(d.destination).toBe(HA >>> 0);
      expect((d.payload[2]! << 8) | d.payload[3]!).toBe(0);
      expect(readU32(d.payload, 12)).toBe(MN >>> 0);
    }
    const requestIndex = homeFrames.findIndex((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00 && ipv4Source(f.frame.subarray(14), 0) === MN && f.frame[14 + 9] === IpProtocol.UDP);
    expect(garpIndex).toBeLessThan(requestIndex);
    // Pings sent once it is home reach it on the home link, not through a tunnel.
    expect(sentHome.slice(-20).every((seq) => s.delivered.has(seq))).toBe(true);
    // And no tunnel to FA1 leaves the home agent once the binding is gone.
    const deregisteredAt = ofKind(s.events, 'deregistered')[0]!.at;
    const lateTunnels = s.capture.frames('foreign-1').filter((f) => f.time > deregisteredAt + 10 && f.frame[12] === 0x08 && f.frame[14 + 9] === IpProtocol.IPIP);
    expect(lateTunnels).toEqual([]);
  });
});

describe('scenario: a co-located care-of address (3.1)', () => {
  it('[R3.1-3] with a co-located address and no R bit, the node registers directly with its home agent, not through FA1', async () => {
    const s = await scenario({ faRegistrationRequired: false, colocated: true });
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.40' }]);
    const fromNode = registrationFrames(s.capture, 'foreign-1').filter((m) => m.type === 1 && m.source === COLOCATED >>> 0);
    expect(fromNode.length).toBeGreaterThan(0);
    expect(fromNode.every((m) => m.destination === HA >>> 0)).toBe(true);
    expect(s.fa1.agent.counters.relayed).toBe(0);
    expect(s.fa1.agent.counters.requests).toBe(0);
  });
});

describe('scenario: home agent unreachable (3.7.3), now answered from the ICMP error', () => {
  it('[R3.7.3-1] with the home agent\'s daemon stopped, FA1 relays the node\'s Request, gets ICMP port unreachable and denies with 82; nothing is registered', async () => {
    const s = await scenario();
    await s.ha.stop();
    s.run(3000, false);
    const denied = ofKind(s.events, 'denied');
    expect(denied.length).toBeGreaterThan(0);
    expect(denied[0]).toMatchObject({ code: 82, byForeignAgent: true });
    // Answered within milliseconds of the relay, not after the 7 s of the pending timeout.
    const firstRequest = ofKind(s.events, 'request')[0]!;
    expect(denied[0]!.at - firstRequest.at).toBeLessThan(100);
    expect(s.fa1.agent.counters.icmpErrorsMatched).toBeGreaterThan(0);
    expect(s.fa1.agent.counters.timeouts).toBe(0);
    expect(ofKind(s.events, 'registered')).toHaveLength(0);
    expect(s.fa1.agent.visitors()).toEqual([]);
  });
});

describe('scenario: a lost Reply and the retransmission (3.6.3)', () => {
  it('the first Reply from the home agent is lost between HA and FA1: the node retransmits after about a second, the new Request is relayed and accepted', async () => {
    let dropped = 0;
    const s = await scenario();
    // Drop the first Registration Reply FA1's host receives (a loss on the path from the HA).
    const stop = s.hosts.fa1.intercept(
      (datagram) => {
        if (dropped > 0 || ipv4Protocol(datagram, 0) !== IpProtocol.UDP || ipv4Source(datagram, 0) !== HA) return false;
        const at = ipv4HeaderLength(datagram, 0);
        return datagram[at + 8] === 3;
      },
      () => void dropped++,
    );
    s.run(4000, false);
    stop();
    expect(dropped).toBe(1);
    const requests = ofKind(s.events, 'request');
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(requests[1]!.identification).not.toBe(requests[0]!.identification);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    expect(s.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.1' }]);
    // FA1 relayed both; the first one's pending entry was superseded by the second.
    expect(s.fa1.agent.counters.relayed).toBe(2);
    const sent = s.run(1000);
    expect(sent.every((seq) => s.delivered.has(seq))).toBe(true);
  });
});

describe('scenario: a wrong key at each hop (3.5, 3.7.2.1, 3.7.3.1, 3.8.2.1)', () => {
  it('[R3.7.3.1-6] FA1 and the HA disagree on their key: the HA\'s Reply fails FA1\'s check, the node gets 68 from FA1, no visitor', async () => {
    const s = await scenario({ faHomeKey: { spi: FA1_KEY.spi, key: fromHex('ffeeddccbbaa99887766554433221100') } });
    s.run(3000, false);
    const denied = ofKind(s.events, 'denied');
    // The HA cannot verify FA1's Foreign-Home extension either: it answers 132 with its own key, which FA1 rejects.
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.every((d) => d.code === 68 && d.byForeignAgent)).toBe(true);
    expect(ofKind(s.events, 'registered')).toHaveLength(0);
    expect(s.fa1.agent.visitors()).toEqual([]);
    expect(s.ha.agent.bindingCount).toBe(0);
  });

  it('[R5.1-1] the node and its HA disagree on their key: the HA authenticates the Request and refuses it (131, relayed by FA1), no binding', async () => {
    const s = await scenario({ haMobileKey: { spi: MN_KEY.spi, key: fromHex('ffeeddccbbaa99887766554433221100') } });
    s.run(3000, false);
    const replies = ofKind(s.events, 'reply');
    expect(replies.length).toBeGreaterThan(0);
    expect(replies[0]!.code).toBe(131);
    expect(ofKind(s.events, 'registered')).toHaveLength(0);
    expect(s.ha.agent.bindingCount).toBe(0);
    expect(s.ha.agent.counters.deniedByCode[131]).toBeGreaterThan(0);
  });
});

describe('scenario: the home agent attracts and intercepts (1.7, 4.2.3, 4.6); FA1 routes the visitor\'s own datagrams (2.1, 2.3.1)', () => {
  it('[R1.7-2] a host on the home link pinging the node away from home: proxy ARP by the HA, tunnel to FA1, delivery to the node', async () => {
    const s = await scenario();
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    // The home peer has never talked to the node: it ARPs, the HA answers with its own MAC.
    s.homePeer.sendPacket({ protocol: IpProtocol.ICMP, source: HOME_PEER, destination: MN, payload: echoRequest(7000) });
    s.run(500, false);
    expect(s.delivered.has(7000)).toBe(true);
    const replies = s.capture
      .frames('home')
      .filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x06)
      .map((f) => decodeArpPacket(f.frame, 14))
      .filter((a) => a.ok && a.value.operation === 2 && a.value.senderIp === MN)
      .map((a) => (a.ok ? a.value.senderMac : ''));
    expect(replies).toContain(MAC.ha);
    const tunnelled = ipFrames(s.capture, 'foreign-1').filter((f) => f.protocol === IpProtocol.IPIP && f.destination === FA1 >>> 0);
    expect(tunnelled.some((f) => ipv4Source(f.ip.subarray(ipv4HeaderLength(f.ip, 0)), 0) === HOME_PEER)).toBe(true);
  });

  it('[R2.1-5] [R2.3.1-3] the registered node\'s datagram to the correspondent goes to FA1 as its router and FA1 forwards it toward the default router', async () => {
    const s = await scenario();
    s.run(2000, false);
    expect(ofKind(s.events, 'registered')).toHaveLength(1);
    const got: number[] = [];
    s.hosts.cn.onIp(IpProtocol.ICMP, (datagram) => {
      const at = ipv4HeaderLength(datagram, 0);
      if (ipv4Source(datagram, 0) === MN && datagram[at] === IcmpType.Echo) got.push((datagram[at + 6]! << 8) | datagram[at + 7]!);
    });
    s.hosts.mn.sendPacket({ protocol: IpProtocol.ICMP, source: MN, destination: CN, payload: echoRequest(7100) });
    s.run(500, false);
    expect(got).toEqual([7100]);
    // It left the node to FA1's MAC and FA1 sent it on to the router.
    const onForeign = s.capture.frames('foreign-1').filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00 && ipv4Destination(f.frame.subarray(14), 0) === CN);
    expect(onForeign.map((f) => [ethernetSource(f.frame), ethernetDestination(f.frame)])).toEqual([
      [MAC.mn, MAC.fa1],
      [MAC.fa1, MAC.rF1],
    ]);
  });
});

describe('scenario: agent discovery messages on every segment (2, 2.1, 2.2)', () => {
  it('[R2-1] [R2.2-1] [R2.1-2] every Agent Solicitation and Agent Advertisement the scenario sends (FA1, HA, the node) has IP TTL 1', async () => {
    const s = await scenario();
    s.mn.node.linkChanged(); // the node solicits again
    s.run(4000, false);
    let solicitations = 0;
    let advertisements = 0;
    for (const segment of ['home', 'foreign-1', 'correspondent']) {
      for (const f of ipFrames(s.capture, segment)) {
        if (f.protocol !== IpProtocol.ICMP) continue;
        const type = f.ip[ipv4HeaderLength(f.ip, 0)];
        if (type !== 9 && type !== 10) continue;
        if (type === 9) advertisements++;
        else solicitations++;
        expect(f.ip[8], `${segment} ICMP type ${type}`).toBe(1);
      }
    }
    expect(solicitations).toBeGreaterThan(0);
    expect(advertisements).toBeGreaterThan(4);
  });
});
