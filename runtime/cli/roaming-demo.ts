/**
 * The roaming demo (`mip4 demo`, `npm start`): a home agent, two foreign agents, a mobile node
 * and a correspondent on one simulated network (io/sim/network.ts), on a SimulatedClock,
 * everything seeded from one number, so the same seed gives the same timeline and captures
 * byte for byte.
 *
 *   cn 192.0.2.20 ── correspondent 192.0.2.0/24 ──┐
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ──────┤ r (.254 / .62 / .126 / .254)
 *   fa1 203.0.113.1 ── foreign-1 203.0.113.0/26 ──┤
 *   fa2 203.0.113.65 ── foreign-2 203.0.113.64/26 ┘
 *
 * The mobile node (home address 198.51.100.10) starts at home, moves to foreign-1 (registers
 * through FA1), to foreign-2 (through FA2), takes a co-located address there (registers
 * directly, D bit), and goes home (gratuitous ARP, deregistration). The correspondent sends an
 * ICMP Echo Request to the home address every 100 ms the whole time; each phase counts how many
 * reached the node and how long the handoff took (link change → first delivery at the new place).
 *
 * The upstream: the node sends a UDP datagram from its home address to the correspondent every
 * 100 ms as well. The router filters ingress (BCP 38, io/sim/ip-host.ts `ingressFilter`), so
 * away from home those datagrams reach the correspondent only through a reverse tunnel to the
 * home agent (RFC 3024 1.3): the node asks for one ('T') and both agents grant it (direct
 * delivery style). `reverseTunnel: false` shows the upstream dying at the router instead.
 *
 * The home agent advertises on the home segment (runtime/ha/home-agent-advertiser.ts, 'H' bit,
 * about once a second with jitter) and answers the node's solicitations. Moving the node's
 * interface, its addresses, routes and the static ARP entry for the foreign agent are the
 * embedder's job (runtime/mn/mobile-node.ts), done here at each move.
 */
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { ipv4ToString, readU16, readU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { encodeUdpDatagram, UDP_HEADER_LENGTH } from '../../io/wire/udp.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../fa/foreign-agent.js';
import { simulatedForeignAgentConfig } from '../fa/simulated-foreign-agent.js';
import { simVisitorCapture } from '../fa/visitor-capture.js';
import type { HomeAgentConfig } from '../ha/home-agent.js';
import { startSimulatedHomeAgent } from '../ha/simulated-home-agent.js';
import { startMobileNode, type MobileNodeConfig } from '../mn/mobile-node.js';
import { tunnelOwnDatagrams } from '../mn/own-datagrams.js';
import type { DemoView, InspectorSource } from '../inspector/inspector-server.js';
import { buildDemoTopology, CN, COLOCATED, DEMO_SEGMENTS, FA1, FA1_KEY, FA2, FA2_KEY, HA, HOME_NETWORK, MAC, MN, MN_KEY, R_F2, R_HOME, START } from './demo-topology.js';

// --- the topology: demo-topology.ts --------------------------------------------------------------

export { DEMO_SEGMENTS, DEMO_SEGMENT_LATENCY_MS } from './demo-topology.js';
// Moved to runtime/ha/simulated-home-agent.ts (the testing kit starts home agents with it too).
export { startSimulatedHomeAgent } from '../ha/simulated-home-agent.js';

const PHASE_MS = 10_000;
const PING_INTERVAL_MS = 100;
const ECHO_IDENTIFIER = 0x4d49;
const LIFETIME = 600;

export interface DemoOptions {
  readonly seed?: number;
  /** The node asks for reverse tunnels ('T', RFC 3024) and the agents grant them (default true). */
  readonly reverseTunnel?: boolean;
  /** The router drops datagrams whose source is not of the segment they came from (BCP 38; default true). */
  readonly ingressFilter?: boolean;
  /** How often the correspondent pings, ms (default 100; must divide 1000). The benchmark pings
   * every millisecond so the first packet at a new place is timed to the millisecond. */
  readonly pingIntervalMs?: number;
  /**
   * With the live inspector (`mip4 demo --inspect`): awaited before each step of the simulated
   * clock, so the demo runs at a chosen speed (runtime/inspector/demo-pace.ts). Without it the
   * demo runs as fast as it can; either way the same seed gives the same timeline.
   */
  readonly pace?: (simulatedMs: number) => Promise<void>;
  /** Called once the agents run, with their actor hosts and the topology for the inspector. */
  readonly onRunning?: (running: DemoRunning) => Promise<void>;
  /** Awaited after the timeline, before the agents stop (the inspector keeps showing the end). */
  readonly beforeStop?: () => Promise<void>;
}

/** What the inspector shows of a running demo. */
export interface DemoRunning {
  readonly sources: readonly InspectorSource[];
  readonly view: () => DemoView;
}


export interface DemoPhase {
  readonly name: string;
  /** How the node is reached: 'home', 'FA1', 'FA2', 'co-located'. */
  readonly via: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Echo Requests the correspondent sent during the phase. */
  readonly sent: number;
  /** Of those, how many reached the node (at any time). */
  readonly delivered: number;
  readonly lost: number;
  /** Link change → first Echo Request delivered at the new place, ms; undefined for the first phase or when none arrived. */
  readonly handoffMs?: number;
  /** Registration Reply codes the node received during the phase. */
  readonly replyCodes: readonly number[];
  /** Link change → the node hears the advertisement that starts its (de)registration, ms;
   * undefined when it registered without one (a co-located address: the link change did). */
  readonly advertisementMs?: number;
  /** Link change → the node's registration (or deregistration at home) is accepted, ms. */
  readonly registeredMs?: number;
  /** Datagrams the node sent to the correspondent during the phase (the upstream). */
  readonly upstreamSent: number;
  /** Of those, how many reached the correspondent. */
  readonly upstreamDelivered: number;
  readonly upstreamLost: number;
  /** Link change → first upstream datagram delivered to the correspondent, ms (undefined for the first phase or when none arrived). */
  readonly upstreamHandoffMs?: number;
  /** Datagrams the router's ingress filter dropped during the phase (the node's, sourced from its home address on a foreign segment). */
  readonly ingressFiltered: number;
}

export interface DemoResult {
  readonly seed: number;
  readonly lines: string[];
  /** One pcap file (Ethernet) per segment, by segment name. */
  readonly captures: Map<string, Uint8Array>;
  readonly phases: DemoPhase[];
  /** Bindings the home agent still holds at the end (0 after the deregistration). */
  readonly finalBindings: number;
  /** Whether the node asked for reverse tunnels, and whether the router filtered ingress. */
  readonly reverseTunnel: boolean;
  readonly ingressFilter: boolean;
  /** Datagrams the router dropped by its ingress filter over the whole run. */
  readonly ingressFiltered: number;
}

function echoRequest(sequence: number): Uint8Array {
  const data = new Uint8Array(8);
  const bytes = new Uint8Array(8 + data.length);
  encodeIcmpEcho({ icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier: ECHO_IDENTIFIER, sequence, data }, bytes, 0);
  return bytes;
}

/** The sequence number of an Echo Request from the demo's correspondent to the home address, if it is one. */
function echoSequence(datagram: Uint8Array): number | undefined {
  if (datagram.length < 28 || ipv4Protocol(datagram, 0) !== IpProtocol.ICMP || ipv4Destination(datagram, 0) !== MN) return undefined;
  const at = ipv4HeaderLength(datagram, 0);
  if (datagram[at] !== IcmpType.Echo || ((datagram[at + 4]! << 8) | datagram[at + 5]!) !== ECHO_IDENTIFIER) return undefined;
  return (datagram[at + 6]! << 8) | datagram[at + 7]!;
}

/** The UDP port of the node's upstream datagrams (both ends; the correspondent reads them raw). */
const UPSTREAM_PORT = 7001;

/** A UDP datagram from the home address to the correspondent carrying `sequence`. */
function upstreamDatagram(sequence: number): Uint8Array {
  const data = new Uint8Array(4);
  data[0] = (sequence >>> 24) & 0xff;
  data[1] = (sequence >>> 16) & 0xff;
  data[2] = (sequence >>> 8) & 0xff;
  data[3] = sequence & 0xff;
  const bytes = new Uint8Array(UDP_HEADER_LENGTH + data.length);
  encodeUdpDatagram({ sourcePort: UPSTREAM_PORT, destinationPort: UPSTREAM_PORT, source: MN, destination: CN, payload: data }, bytes, 0);
  return bytes;
}

/** The sequence of an upstream datagram from the node that reached the correspondent, if it is one. */
function upstreamSequence(datagram: Uint8Array): number | undefined {
  const at = ipv4HeaderLength(datagram, 0);
  if (ipv4Protocol(datagram, 0) !== IpProtocol.UDP || ipv4Source(datagram, 0) !== MN || datagram.length < at + UDP_HEADER_LENGTH + 4) return undefined;
  if (readU16(datagram, at + 2) !== UPSTREAM_PORT) return undefined;
  return readU32(datagram, at + UDP_HEADER_LENGTH);
}

function faConfig(address: Ipv4Address, key: typeof FA1_KEY, registrationRequired: boolean, seed: number, reverseTunnel: boolean): FaConfig {
  const homeAgent = { address: HA, contexts: [createSecurityContext({ spi: key.spi, key: key.key, replay: 'timestamp' })] };
  return simulatedForeignAgentConfig({ address, homeAgents: [homeAgent], seed, registrationRequired, reverseTunnel });
}

/** A binding's flags as the timeline shows them: ' (D, T)', or nothing. */
function bindingFlags(flags: string): string {
  return flags === '' ? '' : ` (${[...flags].join(', ')})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(8)} s`;
}

/** Runs the whole scenario on simulated time; nothing real is touched. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const seed = (options.seed ?? 1) >>> 0;
  const reverseTunnel = options.reverseTunnel ?? true;
  const ingressFilter = options.ingressFilter ?? true;
  const pingIntervalMs = options.pingIntervalMs ?? PING_INTERVAL_MS;
  if (!Number.isInteger(pingIntervalMs) || pingIntervalMs <= 0 || 1000 % pingIntervalMs !== 0) {
    throw new RangeError(`pingIntervalMs ${pingIntervalMs}: must be a whole number of ms that divides 1000`);
  }
  // The router filters ingress (BCP 38): the node's upstream away from home needs the reverse tunnel.
  const { clock, net, capture, segments, router: r, haHost, fa1Host, fa2Host, cn, mnHost } = buildDemoTopology({ seed, ingressFilter });
  const { home, f1, f2 } = segments;

  const random = seededRandom(seed ^ 0x5eed);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;

  const haConfig: HomeAgentConfig = {
    settings: {
      addresses: [HA],
      homeNetwork: HOME_NETWORK,
      prefixLength: 24,
      // True only so that accepted registrations say 0: the node does not set S, so each new
      // binding replaces the last (policies/ha-request.ts answers 1 whenever this is false).
      simultaneousBindings: true,
      broadcast: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunnel: 'allowed',
    },
    mobileNodes: [{ homeAddress: MN, contexts: [createSecurityContext({ spi: MN_KEY.spi, key: MN_KEY.key, replay: 'timestamp' })], maxLifetime: 1800, maxBindings: 1 }],
    foreignAgents: [
      { address: FA1, contexts: [createSecurityContext({ spi: FA1_KEY.spi, key: FA1_KEY.key, replay: 'timestamp' })] },
      { address: FA2, contexts: [createSecurityContext({ spi: FA2_KEY.spi, key: FA2_KEY.key, replay: 'timestamp' })] },
    ],
    maxBindings: 100,
  };
  const { ha, advertiser: haAdvertiser, close: closeDataPath } = await startSimulatedHomeAgent(net, haHost, haConfig, {
    address: HA,
    homeInterface: 'home0',
    prefixLength: 24,
    clock,
    random32,
    // Agent Advertisements with 'H' on the home segment (2.3): how the node knows it is home (2.4.3).
    advertisement: { registrationLifetime: 1800, lifetimeSeconds: 3, maxIntervalMs: 1000, seed: (seed ^ 0x4a) || 1 },
  });

  const fas: RunningForeignAgent[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const fa1 = await startForeignAgent(faConfig(FA1, FA1_KEY, true, seed ^ 0x0f1, reverseTunnel), {
      interfaceName: 'eth0',
      udp: net.udpLayer(fa1Host),
      link: net.linkLayer(fa1Host),
      rawIp: simRawIpLayer(fa1Host),
      clock,
      random32,
      // The host drops what the agent reverse-tunnels instead of forwarding it too (RFC 3024 5.2).
      visitorCapture: simVisitorCapture(fa1Host, 'eth0', [FA1]),
    });
    fas.push(fa1);
    // FA2 does not require registration through it (no R bit), so a node with a co-located
    // address on foreign-2 may register directly (3.6).
    const fa2 = await startForeignAgent(faConfig(FA2, FA2_KEY, false, seed ^ 0x0f2, reverseTunnel), {
      interfaceName: 'eth0',
      udp: net.udpLayer(fa2Host),
      link: net.linkLayer(fa2Host),
      rawIp: simRawIpLayer(fa2Host),
      clock,
      random32,
      visitorCapture: simVisitorCapture(fa2Host, 'eth0', [FA2]),
    });
    fas.push(fa2);

    const mnConfig: MobileNodeConfig = {
      interfaceName: 'eth0',
      homeAddress: MN,
      homeAgent: HA,
      homeNetwork: HOME_NETWORK,
      homePrefixLength: 24,
      mobileHome: { spi: MN_KEY.spi, key: MN_KEY.key, algorithm: 'hmac-md5', replay: 'timestamp' },
      lifetime: LIFETIME,
      // 'T' whenever the agent advertises it, and always co-located (RFC 3024 3.2).
      requestOptions: { reverseTunnel },
    };
    const mn = await startMobileNode(mnConfig, {
      link: net.linkLayer(mnHost),
      udp: net.udpLayer(mnHost),
      rawIp: simRawIpLayer(mnHost),
      clock,
      random32,
      autoStart: false,
    });
    stops.push(() => mn.stop());
    // The node's host hands what it sends from the home address to the node's own reverse
    // tunnel while it has one (co-located, RFC 3024 5.2); through a foreign agent it goes as is.
    const untunnel = tunnelOwnDatagrams(mnHost, mn.node);
    stops.push(async () => untunnel());

    // Where the node is, for the inspector's topology (the moves below keep it current).
    let attachment = { segment: 'home', via: 'home' };

    // --- the timeline ------------------------------------------------------------------------
    const lines: string[] = [];
    const now = () => clock.now() - START;
    const log = (text: string) => lines.push(`${seconds(now())}  ${text}`);
    const agentName = (address: string) =>
      address === '203.0.113.1' ? 'FA1' : address === '203.0.113.65' ? 'FA2' : address === '198.51.100.1' ? 'HA' : address;

    interface PhaseState {
      name: string;
      via: string;
      startMs: number;
      endMs: number;
      sequences: number[];
      firstDeliveryMs?: number;
      advertisementMs?: number;
      registeredMs?: number;
      replyCodes: number[];
      announcedAgent: boolean;
      upstream: number[];
      firstUpstreamMs?: number;
      filteredAtStart: number;
      filteredAtEnd: number;
    }
    const phases: PhaseState[] = [];
    let phase: PhaseState | undefined;
    const sentIn = new Map<number, PhaseState>();
    const delivered = new Set<number>();

    const deliver = (datagram: Uint8Array, how: string) => {
      const sequence = echoSequence(datagram);
      if (sequence === undefined || delivered.has(sequence)) return;
      delivered.add(sequence);
      if (phase !== undefined && phase.firstDeliveryMs === undefined) {
        phase.firstDeliveryMs = now();
        log(`first echo request delivered ${how} (seq ${sequence})` + (phases.length > 1 ? `, ${((now() - phase.startMs) / 1000).toFixed(3)} s after the link change` : ''));
      }
    };
    mnHost.onIp(IpProtocol.ICMP, (datagram) => {
      const agent = mn.node.state().agent;
      deliver(datagram, phase?.via === 'home' ? 'on the home link' : `by ${agent === undefined ? 'the link' : agentName(agent)}`);
    });
    mn.node.received.subscribe((inner) => deliver(inner, 'decapsulated by the MN (co-located care-of address)'));
    const upstreamDelivered = new Set<number>();
    cn.onIp(IpProtocol.UDP, (datagram) => {
      const sequence = upstreamSequence(datagram);
      if (sequence === undefined || upstreamDelivered.has(sequence)) return;
      upstreamDelivered.add(sequence);
      if (phase !== undefined && phase.firstUpstreamMs === undefined && phase.upstream.includes(sequence)) {
        phase.firstUpstreamMs = now();
        log(`first datagram from the MN reached CN (seq ${sequence})` + (phases.length > 1 ? `, ${((now() - phase.startMs) / 1000).toFixed(3)} s after the link change` : ''));
      }
    });

    mn.node.events.subscribe((e) => {
      switch (e.event) {
        case 'advertisement':
          if (phase !== undefined && !phase.announcedAgent) {
            phase.announcedAgent = true;
            // Only an advertisement heard before the registration can have triggered it.
            if (phase.registeredMs === undefined) phase.advertisementMs = now() - phase.startMs;
            log(`MN heard ${agentName(e.agent)}'s advertisement (seq ${e.sequence})`);
          }
          break;
        case 'gratuitous-arp':
          log(`MN gratuitous ARP for ${e.address}`);
          break;
        case 'request':
          log(`MN registration request #${e.attempt} to ${agentName(e.destination)}: care-of ${e.careOfAddress}, lifetime ${e.lifetime}`);
          break;
        case 'reply':
          phase?.replyCodes.push(e.code);
          log(`MN got reply ${e.code}${e.code === 0 ? ' (accepted)' : ''}, lifetime ${e.lifetime}${e.authentic ? '' : ', NOT authentic'}`);
          break;
        case 'registered':
          if (phase !== undefined) phase.registeredMs ??= now() - phase.startMs;
          log(`MN registered, lifetime ${e.lifetime} s; HA binding ${ha.agent.bindings().map((b) => `${b.homeAddress} -> ${b.careOfAddress}${bindingFlags(b.flags)}`).join(', ')}`);
          break;
        case 'deregistered':
          if (phase !== undefined) phase.registeredMs ??= now() - phase.startMs;
          log(`MN deregistered (code ${e.code}); HA bindings: ${ha.agent.bindingCount}`);
          break;
        case 'denied':
          log(`MN denied, code ${e.code}${e.byForeignAgent ? ' by the foreign agent' : ''}`);
          break;
        case 'given-up':
          log(`MN gave up after ${e.attempts} attempts`);
          break;
        case 'error':
          log(`MN error in ${e.actor}: ${e.detail}`);
          break;
        default:
          break;
      }
    });
    for (const [name, fa] of [['FA1', fa1], ['FA2', fa2]] as const) {
      fa.agent.events.subscribe((e) => {
        if (e.event === 'request-relayed') log(`${name} relayed request for ${e.homeAddress} to ${agentName(e.homeAgent)}, care-of ${e.careOfAddress}, lifetime ${e.lifetime}`);
        else if (e.event === 'reply-relayed') log(`${name} relayed HA reply ${e.code} (${e.text}), lifetime ${e.lifetime}`);
        else if (e.event === 'denial') log(`${name} denied: code ${e.code} (${e.text})`);
        else if (e.event === 'actor-error') log(`${name} error in ${e.actor}: ${e.detail}`);
      });
    }

    const beginPhase = (name: string, via: string, text: string) => {
      if (phase !== undefined) {
        phase.endMs = now();
        phase.filteredAtEnd = r.counters.ingressFiltered;
      }
      const filtered = r.counters.ingressFiltered;
      phase = { name, via, startMs: now(), endMs: now(), sequences: [], replyCodes: [], announcedAgent: false, upstream: [], filteredAtStart: filtered, filteredAtEnd: filtered };
      phases.push(phase);
      lines.push('');
      log(text);
    };

    // --- the scenario --------------------------------------------------------------------------
    lines.push(`mip4 roaming demo, seed ${seed}: MN ${'198.51.100.10'} (home 198.51.100.0/24, HA 198.51.100.1), CN 192.0.2.20 pings it every ${pingIntervalMs} ms`);
    lines.push(
      `the MN sends CN a datagram every ${pingIntervalMs} ms; ` +
        (ingressFilter ? 'the router filters ingress (BCP 38: a source not of the segment it came from is dropped)' : 'the router does not filter ingress') +
        (reverseTunnel ? "; the MN asks for reverse tunnels ('T', RFC 3024)" : '; the MN asks for no reverse tunnel'),
    );
    let pingSequence = 0;
    let upstreamSequenceNumber = 0;
    const moves: Array<() => void> = [
      () => {
        beginPhase('home', 'home', 'MN starts at home');
        mn.node.start();
      },
      () => {
        beginPhase('foreign-1', 'FA1', 'MN moved to foreign-1');
        attachment = { segment: 'foreign-1', via: 'FA1' };
        mnHost.moveInterface('eth0', f1);
        mnHost.removeAddress('eth0', MN);
        mnHost.addAddress('eth0', MN, 32);
        mnHost.removeRoute(0, 0);
        mnHost.addRoute(FA1, 32, { interface: 'eth0' });
        mnHost.addRoute(0, 0, { via: FA1, interface: 'eth0' });
        mnHost.setArpEntry('eth0', FA1, MAC.fa1);
        mn.node.linkChanged();
      },
      () => {
        beginPhase('foreign-2', 'FA2', 'MN moved to foreign-2');
        attachment = { segment: 'foreign-2', via: 'FA2' };
        mnHost.moveInterface('eth0', f2);
        mnHost.removeRoute(0, 0);
        mnHost.removeRoute(FA1, 32);
        mnHost.deleteArpEntry('eth0', FA1);
        mnHost.addRoute(FA2, 32, { interface: 'eth0' });
        mnHost.addRoute(0, 0, { via: FA2, interface: 'eth0' });
        mnHost.setArpEntry('eth0', FA2, MAC.fa2);
        mn.node.linkChanged();
      },
      () => {
        beginPhase('co-located', 'co-located', 'MN got co-located address 203.0.113.100/26 on foreign-2');
        attachment = { segment: 'foreign-2', via: 'co-located' };
        // The co-located address joins the home address on the interface (as a DHCP client
        // would add it); the node sources its Request from the care-of address itself
        // (3.6.1.1), and what is sent to the home address reaches it only through the tunnel,
        // decapsulated by the node (4.1). The new address alone makes the node register (3.6).
        mnHost.addAddress('eth0', COLOCATED, 26);
        mnHost.removeRoute(0, 0);
        mnHost.removeRoute(FA2, 32);
        mnHost.addRoute(0, 0, { via: R_F2, interface: 'eth0' });
        mn.node.setColocatedAddress({ address: COLOCATED, prefixLength: 26 });
      },
      () => {
        beginPhase('home-again', 'home', 'MN moved home');
        attachment = { segment: 'home', via: 'home' };
        mnHost.moveInterface('eth0', home);
        mnHost.removeAddress('eth0', COLOCATED);
        mnHost.removeAddress('eth0', MN);
        mnHost.removeRoute(0, 0);
        mnHost.deleteArpEntry('eth0', FA2);
        mnHost.addAddress('eth0', MN, 24);
        mnHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
        // A new link voids the co-located address (R1.7-6).
        mn.node.linkChanged();
      },
    ];
    if (options.onRunning !== undefined) {
      const addresses = (...list: Ipv4Address[]) => list.map((a) => ipv4ToString(a));
      await options.onRunning({
        sources: [
          { name: 'ha', hosts: [ha.agent.inspected(), ...(haAdvertiser === undefined ? [] : [haAdvertiser.inspected()])] },
          { name: 'fa1', hosts: fa1.agent.inspected() },
          { name: 'fa2', hosts: fa2.agent.inspected() },
          { name: 'mn', hosts: mn.node.inspected() },
        ],
        view: () => ({
          simulatedMs: now(),
          phase: phase?.name ?? 'starting',
          segments: [
            { name: 'home', prefix: '198.51.100.0/24' },
            { name: 'foreign-1', prefix: '203.0.113.0/26' },
            { name: 'foreign-2', prefix: '203.0.113.64/26' },
            { name: 'correspondent', prefix: '192.0.2.0/24' },
          ],
          hosts: [
            { name: 'ha', segments: ['home'], addresses: addresses(HA) },
            { name: 'fa1', segments: ['foreign-1'], addresses: addresses(FA1) },
            { name: 'fa2', segments: ['foreign-2'], addresses: addresses(FA2) },
            { name: 'cn', segments: ['correspondent'], addresses: addresses(CN) },
            { name: 'r', segments: ['home', 'foreign-1', 'foreign-2', 'correspondent'], addresses: ['router'] },
            { name: 'mn', segments: [attachment.segment], addresses: attachment.via === 'co-located' ? addresses(MN, COLOCATED) : addresses(MN) },
          ],
          attachment,
        }),
      });
    }
    const totalMs = moves.length * PHASE_MS;
    for (let t = 0; t < totalMs; t += pingIntervalMs) {
      if (t % PHASE_MS === 0) moves[t / PHASE_MS]!();
      if (t >= 200) {
        const sequence = pingSequence++ & 0xffff;
        sentIn.set(sequence, phase!);
        phase!.sequences.push(sequence);
        cn.sendPacket({ protocol: IpProtocol.ICMP, source: CN, destination: MN, payload: echoRequest(sequence) });
        const up = upstreamSequenceNumber++;
        phase!.upstream.push(up);
        mnHost.sendPacket({ protocol: IpProtocol.UDP, source: MN, destination: CN, payload: upstreamDatagram(up) });
      }
      if (options.pace !== undefined) await options.pace(pingIntervalMs);
      clock.advance(pingIntervalMs);
    }
    // Let the last Echo Requests land.
    clock.advance(500);
    attachment = { segment: 'home', via: 'home' };
    phase!.endMs = now();
    phase!.filteredAtEnd = r.counters.ingressFiltered;

    const result: DemoPhase[] = phases.map((p, i) => {
      const got = p.sequences.filter((s) => delivered.has(s)).length;
      const upGot = p.upstream.filter((s) => upstreamDelivered.has(s)).length;
      return {
        name: p.name,
        via: p.via,
        startMs: p.startMs,
        endMs: p.endMs,
        sent: p.sequences.length,
        delivered: got,
        lost: p.sequences.length - got,
        ...(i > 0 && p.firstDeliveryMs !== undefined ? { handoffMs: p.firstDeliveryMs - p.startMs } : {}),
        replyCodes: p.replyCodes,
        ...(p.advertisementMs !== undefined ? { advertisementMs: p.advertisementMs } : {}),
        ...(p.registeredMs !== undefined ? { registeredMs: p.registeredMs } : {}),
        upstreamSent: p.upstream.length,
        upstreamDelivered: upGot,
        upstreamLost: p.upstream.length - upGot,
        ...(i > 0 && p.firstUpstreamMs !== undefined ? { upstreamHandoffMs: p.firstUpstreamMs - p.startMs } : {}),
        ingressFiltered: p.filteredAtEnd - p.filteredAtStart,
      };
    });
    const finalBindings = ha.agent.bindingCount;
    lines.push('');
    const ingressFiltered = r.counters.ingressFiltered;
    lines.push('summary (down: CN → MN home address; up: MN home address → CN):');
    for (const p of result) {
      const label = p.via === 'home' ? `phase ${p.name} at home` : p.via === 'co-located' ? `phase ${p.name} on foreign-2 (direct)` : `phase ${p.name} via ${p.via}`;
      const handoff = p.handoffMs !== undefined ? `, handoff ${(p.handoffMs / 1000).toFixed(3)} s` : '';
      const upHandoff = p.upstreamHandoffMs !== undefined ? `, handoff ${(p.upstreamHandoffMs / 1000).toFixed(3)} s` : '';
      const filtered = p.ingressFiltered > 0 ? ` (ingress filter dropped ${p.ingressFiltered})` : '';
      lines.push(`  ${label}: down ${p.delivered} delivered, ${p.lost} lost${handoff}; up ${p.upstreamDelivered} delivered, ${p.upstreamLost} lost${upHandoff}${filtered}`);
    }
    lines.push(`  datagrams the router dropped by ingress filtering: ${ingressFiltered}`);
    lines.push(`  home agent bindings at the end: ${finalBindings}`);

    capture.stop();
    const captures = new Map<string, Uint8Array>();
    for (const segment of DEMO_SEGMENTS) captures.set(segment, capture.pcap(segment));
    if (options.beforeStop !== undefined) await options.beforeStop();
    return { seed, lines, captures, phases: result, finalBindings, reverseTunnel, ingressFilter, ingressFiltered };
  } finally {
    for (const stop of stops) await stop();
    for (const fa of fas) await fa.stop();
    closeDataPath();
    await ha.stop();
  }
}
