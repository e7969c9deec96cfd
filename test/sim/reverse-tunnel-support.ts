/**
 * The reverse-tunnelling scenarios' network (test/sim/reverse-tunnel*.test.ts): the real home
 * agent with its data path, two real foreign agents, the real mobile node and a correspondent,
 * wired as runtime/cli/roaming-demo.ts wires them, with the router filtering ingress (BCP 38,
 * io/sim/ip-host.ts `ingressFilter`), so that a datagram sourced from the home address on a
 * foreign segment dies at the router unless it is reverse-tunnelled (RFC 3024 1.3).
 *
 *   cn 192.0.2.20 ── correspondent 192.0.2.0/24 ──┐
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ──────┤ r (ingress filter)
 *   fa1 203.0.113.1 ── foreign-1 203.0.113.0/26 ──┤
 *   fa2 203.0.113.65 ── foreign-2 203.0.113.64/26 ┘
 *
 * Traffic: every 100 ms the correspondent sends an ICMP Echo Request to the home address
 * (downstream, counted where the node receives it: on its link, or decapsulated by itself) and
 * the node's host sends a UDP datagram from its home address to the correspondent (upstream,
 * counted at the correspondent). Everything is seeded; the same seed replays byte for byte.
 */
import type { SimHost } from '../../io/sim/ip-host.js';
import type { SimCapture, SimNetwork } from '../../io/sim/network.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import type { SimulatedClock } from '../../io/clock.js';
import { ipv4, readU16, readU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Header, IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol, ipv4Source, ipv4Ttl } from '../../io/wire/ipv4.js';
import { encodeUdpDatagram } from '../../io/wire/udp.js';
import { decapsulate, isTunnelProtocol } from '../../io/wire/tunnel.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../../runtime/fa/foreign-agent.js';
import { simVisitorCapture } from '../../runtime/fa/visitor-capture.js';
import type { HomeAgentConfig } from '../../runtime/ha/home-agent.js';
import type { RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import type { HomeAgentDataPath } from '../../runtime/ha/home-agent-data-path.js';
import { startSimulatedHomeAgent } from '../../runtime/cli/roaming-demo.js';
import { buildDemoTopology, CN, COLOCATED, FA1, FA1_KEY, FA2, FA2_KEY, HA, HOME_NETWORK, MAC as DEMO_MAC, MN, MN_KEY, R_F2, R_HOME } from '../../runtime/cli/demo-topology.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent } from '../../runtime/mn/mobile-node.js';
import { tunnelOwnDatagrams } from '../../runtime/mn/own-datagrams.js';

export { CN, COLOCATED, FA1, FA2, HA, HOME_NETWORK, MN, R_CN, R_F1, R_F2, R_HOME, START } from '../../runtime/cli/demo-topology.js';
/** A host on the home segment (sends the home network's multicast). */
export const HOME_PEER = ipv4('198.51.100.20');
/** The UDP port the correspondent's upstream sink listens on (raw handler: no socket needed). */
export const UPSTREAM_PORT = 7001;
/** The demo's link-layer addresses and the home peer's. */
export const MAC = { ...DEMO_MAC, homePeer: '02:00:00:00:00:14' } as const;
const ECHO_IDENTIFIER = 0x5254;

export type Place = 'home' | 'FA1' | 'FA2' | 'co-located';

export interface ReverseTunnelScenarioOptions {
  readonly seed?: number;
  /** The router filters ingress (default true). */
  readonly ingressFilter?: boolean;
  /** Tunnel encapsulations both agents offer besides IP in IP (default none). */
  readonly encapsulations?: { readonly minimal: boolean; readonly gre: boolean };
  /** Patches applied to the generated configurations (the policy knobs of each part). */
  readonly haConfig?: (config: HomeAgentConfig) => HomeAgentConfig;
  readonly faConfig?: (config: FaConfig, which: 'FA1' | 'FA2') => FaConfig;
  readonly mnConfig?: (config: MobileNodeConfig) => MobileNodeConfig;
  /** Foreign-2 behind a NAT (RFC 3519 scenarios, runtime/cli/demo-topology.ts natOnForeign2). */
  readonly natOnForeign2?: { readonly udpTimeoutMs: number };
}

export interface Traffic {
  /** Echo sequence numbers the correspondent sent to the home address. */
  readonly downstreamSent: number[];
  /** Those that reached the node. */
  readonly downstreamDelivered: number[];
  /** Upstream sequence numbers the node sent to the correspondent. */
  readonly upstreamSent: number[];
  /** Those that reached the correspondent. */
  readonly upstreamDelivered: number[];
}

export interface ReverseTunnelScenario {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly capture: SimCapture;
  readonly hosts: { readonly r: SimHost; readonly ha: SimHost; readonly fa1: SimHost; readonly fa2: SimHost; readonly mn: SimHost; readonly cn: SimHost; readonly homePeer: SimHost; readonly nat?: SimHost };
  readonly ha: RunningHomeAgent;
  readonly dataPath: HomeAgentDataPath;
  readonly fa1: RunningForeignAgent;
  readonly fa2: RunningForeignAgent;
  readonly mn: Awaited<ReturnType<typeof startMobileNode>>;
  readonly events: MobileNodeEvent[];
  readonly place: Place;
  /** Moves the node (its interface, addresses, routes, the static ARP entry for its agent: the embedder's job) and tells it. */
  moveTo(place: Place): void;
  /** Advances `ms` of simulated time with traffic both ways every 100 ms (unless `traffic` is false). */
  run(ms: number, traffic?: boolean): Traffic;
  /** Sends one upstream datagram from the node's host now (source = home address unless given). */
  sendUpstream(sequence: number, source?: Ipv4Address): void;
  /** Upstream sequences that reached the correspondent so far (from any sender). */
  readonly upstreamReceived: ReadonlySet<number>;
  close(): Promise<void>;
}

export function defaultHaConfig(encapsulations = { minimal: false, gre: false }): HomeAgentConfig {
  return {
    settings: {
      addresses: [HA],
      homeNetwork: HOME_NETWORK,
      prefixLength: 24,
      simultaneousBindings: true,
      broadcast: false,
      encapsulations,
      reverseTunnel: 'allowed',
    },
    mobileNodes: [{ homeAddress: MN, contexts: [createSecurityContext({ spi: MN_KEY.spi, key: MN_KEY.key, replay: 'timestamp' })], maxLifetime: 1800, maxBindings: 1 }],
    foreignAgents: [
      { address: FA1, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: FA1_KEY.key, replay: 'timestamp' })] },
      { address: FA2, contexts: [createSecurityContext({ spi: FA2_KEY.spi, key: FA2_KEY.key, replay: 'timestamp' })] },
    ],
    maxBindings: 100,
  };
}

export function defaultFaConfig(which: 'FA1' | 'FA2', seed: number, encapsulations = { minimal: false, gre: false }): FaConfig {
  const address = which === 'FA1' ? FA1 : FA2;
  const key = which === 'FA1' ? FA1_KEY : FA2_KEY;
  return {
    settings: {
      careOfAddresses: [address],
      interfaceAddresses: [address],
      linkAddress: address,
      registrationLifetime: 1800,
      busy: false,
      encapsulations,
      reverseTunneling: true,
      reverseTunnel: 'offered',
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes: [],
    homeAgents: [{ address: HA, contexts: [createSecurityContext({ spi: key.spi, key: key.key, replay: 'timestamp' })] }],
    // FA2 sets no R bit, so a node with a co-located address on foreign-2 may register directly (3.6).
    advertisement: { lifetimeSeconds: 3, maxIntervalMs: 1000, seed: (seed ^ (which === 'FA1' ? 0x0f1 : 0x0f2)) || 1, registrationRequired: which === 'FA1' },
  };
}

export function defaultMnConfig(): MobileNodeConfig {
  return {
    interfaceName: 'eth0',
    homeAddress: MN,
    homeAgent: HA,
    homeNetwork: HOME_NETWORK,
    homePrefixLength: 24,
    mobileHome: { spi: MN_KEY.spi, key: MN_KEY.key, algorithm: 'hmac-md5', replay: 'timestamp' },
    lifetime: 600,
    requestOptions: { reverseTunnel: true },
  };
}

function echoRequest(sequence: number): Uint8Array {
  const bytes = new Uint8Array(16);
  encodeIcmpEcho({ icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier: ECHO_IDENTIFIER, sequence, data: new Uint8Array(8) }, bytes, 0);
  return bytes;
}

function echoSequence(datagram: Uint8Array): number | undefined {
  if (datagram.length < 28 || ipv4Protocol(datagram, 0) !== IpProtocol.ICMP || ipv4Destination(datagram, 0) !== MN) return undefined;
  const at = ipv4HeaderLength(datagram, 0);
  if (datagram[at] !== IcmpType.Echo || readU16(datagram, at + 4) !== ECHO_IDENTIFIER) return undefined;
  return readU16(datagram, at + 6);
}

/** Builds the network and starts every agent; the node starts at home. Close it in afterEach. */
export async function reverseTunnelScenario(options: ReverseTunnelScenarioOptions = {}): Promise<ReverseTunnelScenario> {
  const seed = options.seed ?? 1;
  const encapsulations = options.encapsulations ?? { minimal: false, gre: false };
  // The demo's network with 1 ms on every segment but the correspondent's.
  const { clock, net, capture, segments, router: r, haHost, fa1Host, fa2Host, cn, mnHost, natHost } = buildDemoTopology({
    seed,
    ingressFilter: options.ingressFilter ?? true,
    latencyMs: { home: 1, 'foreign-1': 1, 'foreign-2': 1, correspondent: 5 },
    ...(options.natOnForeign2 ? { natOnForeign2: options.natOnForeign2 } : {}),
  });
  const { home, f1, f2 } = segments;
  const homePeer = net.addHost('home-peer');
  homePeer.addInterface('eth0', home, { mac: MAC.homePeer, address: HOME_PEER, prefixLength: 24 });
  homePeer.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });

  const random = seededRandom(seed ^ 0x5eed);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const haConfig = (options.haConfig ?? ((c) => c))(defaultHaConfig(encapsulations));
  const started = await startSimulatedHomeAgent(net, haHost, haConfig, {
    address: HA,
    homeInterface: 'home0',
    prefixLength: 24,
    clock,
    random32,
    advertisement: { registrationLifetime: 1800, lifetimeSeconds: 3, maxIntervalMs: 1000, seed: (seed ^ 0x4a) || 1 },
  });
  const closers: Array<() => Promise<void> | void> = [() => started.close(), () => started.ha.stop()];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
    capture.stop();
  };
  try {
    const startFa = (which: 'FA1' | 'FA2', host: SimHost) =>
      startForeignAgent((options.faConfig ?? ((c) => c))(defaultFaConfig(which, seed, encapsulations), which), {
        interfaceName: 'eth0',
        udp: net.udpLayer(host),
        link: net.linkLayer(host),
        rawIp: simRawIpLayer(host),
        clock,
        random32,
        // The host drops what the agent reverse-tunnels instead of forwarding it too (RFC 3024 5.2).
        visitorCapture: simVisitorCapture(host, 'eth0', [which === 'FA1' ? FA1 : FA2]),
      });
    const fa1 = await startFa('FA1', fa1Host);
    closers.push(() => fa1.stop());
    const fa2 = await startFa('FA2', fa2Host);
    closers.push(() => fa2.stop());
    const mn = await startMobileNode((options.mnConfig ?? ((c) => c))(defaultMnConfig()), {
      link: net.linkLayer(mnHost),
      udp: net.udpLayer(mnHost),
      rawIp: simRawIpLayer(mnHost),
      clock,
      random32,
      autoStart: false,
    });
    closers.push(() => mn.stop());
    // What the node's host sends from the home address goes through the node's own reverse tunnel when it has one (RFC 3024 5.2).
    closers.push(tunnelOwnDatagrams(mnHost, mn.node));
    const events: MobileNodeEvent[] = [];
    mn.node.events.subscribe((e) => events.push(e));

    const downstreamDelivered = new Set<number>();
    const deliver = (datagram: Uint8Array) => {
      const sequence = echoSequence(datagram);
      if (sequence !== undefined) downstreamDelivered.add(sequence);
    };
    mnHost.onIp(IpProtocol.ICMP, deliver);
    mn.node.received.subscribe(deliver);
    const upstreamDelivered = new Set<number>();
    cn.onIp(IpProtocol.UDP, (datagram) => {
      const at = ipv4HeaderLength(datagram, 0);
      if (ipv4Source(datagram, 0) === MN && readU16(datagram, at + 2) === UPSTREAM_PORT && datagram.length >= at + 12) upstreamDelivered.add(readU32(datagram, at + 8));
    });
    mn.node.start();

    let place: Place = 'home';
    let sequence = 0;
    const sendUpstream = (n: number, source: Ipv4Address = MN) => {
      const data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, n);
      const payload = new Uint8Array(8 + data.length);
      encodeUdpDatagram({ sourcePort: UPSTREAM_PORT, destinationPort: UPSTREAM_PORT, source, destination: CN, payload: data }, payload, 0);
      mnHost.sendPacket({ protocol: IpProtocol.UDP, source, destination: CN, payload });
    };

    const scenario: ReverseTunnelScenario = {
      clock,
      net,
      capture,
      hosts: { r, ha: haHost, fa1: fa1Host, fa2: fa2Host, mn: mnHost, cn, homePeer, ...(natHost ? { nat: natHost } : {}) },
      ha: started.ha,
      dataPath: started.dataPath,
      fa1,
      fa2,
      mn,
      events,
      get place() {
        return place;
      },
      moveTo(to) {
        const from = place;
        place = to;
        if (to === 'FA1' || to === 'FA2') {
          const agent = to === 'FA1' ? FA1 : FA2;
          mnHost.moveInterface('eth0', to === 'FA1' ? f1 : f2);
          for (const a of [MN, COLOCATED]) mnHost.removeAddress('eth0', a);
          mnHost.addAddress('eth0', MN, 32);
          for (const route of [...mnHost.routes]) if (route.kind === 'static') mnHost.removeRoute(route.prefix, route.prefixLength);
          for (const old of [FA1, FA2]) mnHost.deleteArpEntry('eth0', old);
          mnHost.addRoute(agent, 32, { interface: 'eth0' });
          mnHost.addRoute(0, 0, { via: agent, interface: 'eth0' });
          mnHost.setArpEntry('eth0', agent, to === 'FA1' ? MAC.fa1 : MAC.fa2);
          mn.node.linkChanged();
        } else if (to === 'co-located') {
          // On foreign-2 with an address of its own there (as a DHCP client would add it).
          if (from !== 'FA2') {
            mnHost.moveInterface('eth0', f2);
            mnHost.removeAddress('eth0', MN);
            mnHost.addAddress('eth0', MN, 32);
          }
          mnHost.addAddress('eth0', COLOCATED, 26);
          for (const route of [...mnHost.routes]) if (route.kind === 'static') mnHost.removeRoute(route.prefix, route.prefixLength);
          mnHost.addRoute(0, 0, { via: R_F2, interface: 'eth0' });
          mn.node.setColocatedAddress({ address: COLOCATED, prefixLength: 26 });
        } else {
          mnHost.moveInterface('eth0', home);
          for (const a of [MN, COLOCATED]) mnHost.removeAddress('eth0', a);
          for (const route of [...mnHost.routes]) if (route.kind === 'static') mnHost.removeRoute(route.prefix, route.prefixLength);
          for (const old of [FA1, FA2]) mnHost.deleteArpEntry('eth0', old);
          mnHost.addAddress('eth0', MN, 24);
          mnHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
          mn.node.linkChanged();
        }
      },
      run(ms, traffic = true) {
        const result: Traffic = { downstreamSent: [], downstreamDelivered: [], upstreamSent: [], upstreamDelivered: [] };
        for (let t = 0; t < ms; t += 100) {
          if (traffic) {
            const n = sequence++;
            result.downstreamSent.push(n & 0xffff);
            cn.sendPacket({ protocol: IpProtocol.ICMP, source: CN, destination: MN, payload: echoRequest(n & 0xffff) });
            result.upstreamSent.push(n);
            sendUpstream(n);
          }
          clock.advance(100);
        }
        clock.advance(traffic ? 200 : 0);
        (result.downstreamDelivered as number[]).push(...result.downstreamSent.filter((n) => downstreamDelivered.has(n)));
        (result.upstreamDelivered as number[]).push(...result.upstreamSent.filter((n) => upstreamDelivered.has(n)));
        return result;
      },
      sendUpstream,
      upstreamReceived: upstreamDelivered,
      close,
    };
    return scenario;
  } catch (error) {
    await close();
    throw error;
  }
}

// --- reading captures ----------------------------------------------------------------------------

export interface SeenDatagram {
  /** Simulated time it was put on the wire, ms since the epoch. */
  readonly at: number;
  readonly linkSource: string;
  readonly linkDestination: string;
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  readonly protocol: number;
  readonly ttl: number;
  /** The IP datagram (Ethernet header removed). */
  readonly ip: Uint8Array;
}

const macText = (frame: Uint8Array, at: number) => [...frame.subarray(at, at + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

/** The IPv4 datagrams a segment carried, in order (from simulated time `since` on, when given). */
export function datagramsOn(capture: SimCapture, segment: string, since = 0): SeenDatagram[] {
  return capture
    .frames(segment)
    .filter((f) => f.time >= since && f.frame[12] === 0x08 && f.frame[13] === 0x00)
    .map((f) => {
      const ip = f.frame.subarray(14);
      return {
        at: f.time,
        linkDestination: macText(f.frame, 0),
        linkSource: macText(f.frame, 6),
        source: ipv4Source(ip, 0),
        destination: ipv4Destination(ip, 0),
        protocol: ipv4Protocol(ip, 0),
        ttl: ipv4Ttl(ip, 0),
        ip,
      };
    });
}

/** The upstream datagrams (UDP from `source` to the correspondent's sink) inside `ip`, at any depth of IP in IP / GRE / minimal nesting. */
export function isUpstream(ip: Uint8Array, source: Ipv4Address = MN): boolean {
  if (ipv4Protocol(ip, 0) !== IpProtocol.UDP || ipv4Source(ip, 0) !== source || ipv4Destination(ip, 0) !== CN) return false;
  return readU16(ip, ipv4HeaderLength(ip, 0) + 2) === UPSTREAM_PORT;
}

export interface SeenTunnel {
  readonly kind: 'ip-in-ip' | 'minimal' | 'gre';
  readonly tunnelSource: Ipv4Address;
  readonly tunnelDestination: Ipv4Address;
  /** The inner datagram (a copy: minimal decapsulation restores it in place). */
  readonly inner: Uint8Array;
}

/** The tunnel a captured datagram is (IP in IP, GRE or minimal), taken apart on a copy; undefined when it is none. */
export function tunnelOf(d: SeenDatagram): SeenTunnel | undefined {
  if (!isTunnelProtocol(d.protocol)) return undefined;
  const copy = d.ip.slice();
  const result = decapsulate(copy, 0, copy.length);
  if (!result.ok) return undefined;
  return { kind: result.value.kind, tunnelSource: result.value.tunnelSource, tunnelDestination: result.value.tunnelDestination, inner: result.value.datagram.slice() };
}

/** The node's upstream datagram (home address → correspondent, UDP, carrying `sequence`) as a whole IPv4 datagram, for forging tunnels. */
export function upstreamDatagram(sequence: number, source: Ipv4Address = MN): Uint8Array {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, sequence);
  const datagram = new Uint8Array(20 + 8 + data.length);
  encodeUdpDatagram({ sourcePort: UPSTREAM_PORT, destinationPort: UPSTREAM_PORT, source, destination: CN, payload: data }, datagram, 20);
  encodeIpv4Header(
    { tos: 0, totalLength: datagram.length, identification: sequence & 0xffff, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source, destination: CN },
    datagram,
    0,
  );
  return datagram;
}

/** Sends from `host` an IP-in-IP datagram to the home agent (outer source `outerSource`) carrying the node's upstream datagram `sequence`. */
export function sendTunnelToHomeAgent(host: SimHost, outerSource: Ipv4Address, sequence: number): void {
  host.sendPacket({ protocol: IpProtocol.IPIP, source: outerSource, destination: HA, payload: upstreamDatagram(sequence) });
}
