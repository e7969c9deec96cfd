/**
 * Whole conversations on the simulated network (io/sim): a home agent with its data path, a
 * foreign agent FA1, a mobile node and a correspondent, wired as runtime/demo.ts does, each
 * scenario driven on a SimulatedClock from the correspondent's pings to the home address.
 *
 *   cn 192.0.2.20 ── correspondent 192.0.2.0/24 ──┐
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ──────┤ r
 *   fa1 203.0.113.1 ── foreign-1 203.0.113.0/26 ──┘   (mn here, 198.51.100.10)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_MOBILITY_AGENTS_GROUP, type SimHost } from '../../io/sim/ip-host.js';
import { SimNetwork, type SimCapture } from '../../io/sim/network.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { fromHex, ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol } from '../../io/wire/ipv4.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { SimulatedClock } from '../../runtime/clock.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../../runtime/foreign-agent.js';
import { icmpFrame } from '../../runtime/frames.js';
import type { HomeAgentConfig } from '../../runtime/home-agent.js';
import { startSimulatedHomeAgent } from '../../runtime/demo.js';
import type { RunningHomeAgent } from '../../runtime/home-agent-server.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent } from '../../runtime/mobile-node.js';

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
    homeAgents: [{ address: HA, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: FA1_KEY.key, replay: 'timestamp' })] }],
    advertisement: { lifetimeSeconds: 3, maxIntervalMs: 1000, seed: 7, registrationRequired: options.faRegistrationRequired ?? true },
  };
}

interface Scenario {
  readonly clock: SimulatedClock;
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
  const fa1Host = net.addHost('fa1', { multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
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
    mobileNodes: [{ homeAddress: MN, contexts: [createSecurityContext({ spi: MN_KEY.spi, key: MN_KEY.key, replay: 'timestamp' })], maxLifetime: 1800, maxBindings: 1 }],
    foreignAgents: [{ address: FA1, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: FA1_KEY.key, replay: 'timestamp' })] }],
    maxBindings: 100,
  };
  const { ha, close: closeDataPath } = await startSimulatedHomeAgent(net, haHost, haConfig, { address: HA, homeInterface: 'home0', prefixLength: 24, clock, random32 });
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
  it('[R3.7.2.1-6] [R3.7.2.1-7] FA1 requiring mobile–foreign authentication denies with 67, nothing is relayed, no binding at the HA', async () => {
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
