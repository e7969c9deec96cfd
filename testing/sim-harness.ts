/**
 * The simulated-network harness: a topology on io/sim (segments with prefixes, routers, plain
 * hosts), mip4's home agent, foreign agents and mobile nodes attached to it, a scenario run
 * from a seed on the simulated clock, and what a test asserts on: bindings, visitors, the
 * mobile nodes' states, the agents' counters, and one pcap per segment. Everything random is
 * drawn from the seed, so the same seed and the same steps give the same pcaps byte for byte.
 *
 * It does what the roaming demo (runtime/cli/roaming-demo.ts) does, for any topology: the home
 * agent as the demo starts it (runtime/ha/simulated-home-agent.ts), foreign agents advertising
 * on their segment, and the node's host moved the way an embedder moves it (2.4, 4.6).
 */
import { SimulatedClock } from '../io/clock.js';
import { ALL_MOBILITY_AGENTS_GROUP, type SimHost } from '../io/sim/ip-host.js';
import type { SimEthernetSegment } from '../io/sim/ethernet.js';
import { SimNetwork, type SimCapture } from '../io/sim/network.js';
import { simRawIpLayer } from '../io/sim/raw-ip.js';
import { seededRandom } from '../io/sim/udp.js';
import { ipv4, type Ipv4Address } from '../io/wire/bytes.js';
import { createSecurityContext } from '../policies/security-association.js';
import { startForeignAgent, type RunningForeignAgent, type VisitorView } from '../runtime/fa/foreign-agent.js';
import { simulatedForeignAgentConfig } from '../runtime/fa/simulated-foreign-agent.js';
import { simVisitorCapture } from '../runtime/fa/visitor-capture.js';
import type { BindingView } from '../runtime/ha/home-agent.js';
import type { RunningHomeAgent } from '../runtime/ha/home-agent-server.js';
import { startSimulatedHomeAgent } from '../runtime/ha/simulated-home-agent.js';
import { startMobileNode, type MobileNodeState, type RunningMobileNode } from '../runtime/mn/mobile-node.js';

/** A security association's key, as both ends hold it (HMAC-MD5, timestamps, 3.5). */
export interface SimKey {
  readonly spi: number;
  /** The key, hex. */
  readonly key: string;
}

/** A prefix in dotted-quad/length form, e.g. '198.51.100.0/24'. */
type Prefix = string;

export interface SimObservables {
  /** ms since the scenario started. */
  readonly timeMs: number;
  readonly bindings: Readonly<Record<string, readonly BindingView[]>>;
  readonly visitors: Readonly<Record<string, readonly VisitorView[]>>;
  readonly mobileNodes: Readonly<Record<string, MobileNodeState>>;
  /** Each agent's counters, by name (a copy). */
  readonly counters: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** A configuration mistake in a scenario: names the thing and what to do. */
export class SimScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimScenarioError';
  }
}

interface Segment {
  readonly segment: SimEthernetSegment;
  readonly network: Ipv4Address;
  readonly prefixLength: number;
  /** The router's address on it, once a router joins it. */
  gateway?: Ipv4Address;
}

interface MobileNodeEntry {
  readonly running: RunningMobileNode;
  readonly host: SimHost;
  readonly homeAddress: Ipv4Address;
  readonly home: string;
  at: string;
  via?: Ipv4Address;
}

function parsePrefix(prefix: Prefix): { network: Ipv4Address; prefixLength: number } {
  const [address, length] = prefix.split('/');
  const prefixLength = Number(length);
  if (address === undefined || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new SimScenarioError(`prefix '${prefix}': write it as a.b.c.d/n, e.g. '198.51.100.0/24'`);
  }
  return { network: ipv4(address), prefixLength };
}

const keyBytes = (key: SimKey) => Uint8Array.from(Buffer.from(key.key, 'hex'));
const context = (key: SimKey) => createSecurityContext({ spi: key.spi, key: keyBytes(key), replay: 'timestamp' });

/** A scenario on its own simulated network and clock; `close()` it at the end (also on failure). */
export class SimScenario {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly startAt: number;
  private readonly capture: SimCapture;
  private readonly random32: () => number;
  private readonly segments = new Map<string, Segment>();
  private readonly homeAgents = new Map<string, { running: RunningHomeAgent; close(): void }>();
  private readonly foreignAgents = new Map<string, { running: RunningForeignAgent; address: Ipv4Address; mac: string; segment: string }>();
  private readonly mobileNodes = new Map<string, MobileNodeEntry>();

  constructor(readonly seed: number, options: { readonly startAt?: number } = {}) {
    this.startAt = options.startAt ?? Date.UTC(2026, 0, 1);
    this.clock = new SimulatedClock(this.startAt);
    this.net = new SimNetwork({ clock: this.clock, seed });
    // Started before any host joins: every frame on every segment.
    this.capture = this.net.capture();
    const random = seededRandom(seed ^ 0x5eed);
    this.random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  }

  /** An Ethernet segment carrying `prefix`. */
  segment(name: string, prefix: Prefix, options: { readonly latencyMs?: number } = {}): this {
    if (this.segments.has(name)) throw new SimScenarioError(`segment '${name}' exists already: give each segment its own name`);
    this.segments.set(name, { segment: this.net.addSegment(name, { latencyMs: options.latencyMs ?? 1 }), ...parsePrefix(prefix) });
    return this;
  }

  /** A router with an address on each named segment; it becomes the segments' default gateway. */
  router(name: string, addresses: Readonly<Record<string, string>>, options: { readonly ingressFilter?: boolean } = {}): SimHost {
    const router = this.net.addHost(name, { forwarding: true, ingressFilter: options.ingressFilter ?? false });
    for (const [segmentName, address] of Object.entries(addresses)) {
      const segment = this.segmentNamed(segmentName);
      router.addInterface(segmentName, segment.segment, { address: ipv4(address), prefixLength: segment.prefixLength });
      segment.gateway = ipv4(address);
    }
    return router;
  }

  /** A plain host (a correspondent) on a segment, routed through the segment's gateway. */
  host(name: string, segmentName: string, address: string): SimHost {
    return this.attach(name, segmentName, ipv4(address), {});
  }

  /** A home agent on its home segment: the mobile nodes it serves and the foreign agents it trusts. */
  async homeAgent(
    name: string,
    options: {
      readonly segment: string;
      readonly address: string;
      readonly mobileNodes: ReadonlyArray<{ readonly homeAddress: string; readonly key: SimKey }>;
      readonly foreignAgents?: ReadonlyArray<{ readonly address: string; readonly key: SimKey }>;
      readonly reverseTunnel?: boolean;
    },
  ): Promise<RunningHomeAgent> {
    const segment = this.segmentNamed(options.segment);
    const address = ipv4(options.address);
    const host = this.attach(name, options.segment, address, { forwarding: true });
    const started = await startSimulatedHomeAgent(
      this.net,
      host,
      {
        settings: {
          addresses: [address],
          homeNetwork: segment.network,
          prefixLength: segment.prefixLength,
          simultaneousBindings: true,
          broadcast: false,
          encapsulations: { minimal: false, gre: false },
          reverseTunnel: options.reverseTunnel ? 'allowed' : 'refused',
        },
        mobileNodes: options.mobileNodes.map((mn) => ({ homeAddress: ipv4(mn.homeAddress), contexts: [context(mn.key)], maxLifetime: 1800, maxBindings: 1 })),
        foreignAgents: (options.foreignAgents ?? []).map((fa) => ({ address: ipv4(fa.address), contexts: [context(fa.key)] })),
        maxBindings: 1000,
      },
      {
        address,
        homeInterface: 'eth0',
        prefixLength: segment.prefixLength,
        clock: this.clock,
        random32: this.random32,
        // 'H' advertisements on the home segment: how a node knows it is home (2.4.3).
        advertisement: { registrationLifetime: 1800, lifetimeSeconds: 3, maxIntervalMs: 1000, seed: (this.seed ^ 0x4a) || 1 },
      },
    );
    this.homeAgents.set(name, { running: started.ha, close: () => started.close() });
    return started.ha;
  }

  /** A foreign agent advertising on its segment, relaying to the home agents it shares a key with. */
  async foreignAgent(
    name: string,
    options: {
      readonly segment: string;
      readonly address: string;
      readonly homeAgents: ReadonlyArray<{ readonly address: string; readonly key: SimKey }>;
      readonly registrationRequired?: boolean;
      readonly reverseTunnel?: boolean;
    },
  ): Promise<RunningForeignAgent> {
    const address = ipv4(options.address);
    const host = this.attach(name, options.segment, address, { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
    const running = await startForeignAgent(
      simulatedForeignAgentConfig({
        address,
        homeAgents: options.homeAgents.map((ha) => ({ address: ipv4(ha.address), contexts: [context(ha.key)] })),
        seed: this.seed ^ (0x0f0 + this.foreignAgents.size + 1),
        registrationRequired: options.registrationRequired ?? true,
        reverseTunnel: options.reverseTunnel ?? false,
      }),
      {
        interfaceName: 'eth0',
        udp: this.net.udpLayer(host),
        link: this.net.linkLayer(host),
        rawIp: simRawIpLayer(host),
        clock: this.clock,
        random32: this.random32,
        visitorCapture: simVisitorCapture(host, 'eth0', [address]),
      },
    );
    this.foreignAgents.set(name, { running, address, mac: host.interface('eth0').mac, segment: options.segment });
    return running;
  }

  /** A mobile node on its home segment (started: it solicits, hears its home agent, settles at home). */
  async mobileNode(name: string, options: { readonly segment: string; readonly homeAddress: string; readonly homeAgent: string; readonly key: SimKey; readonly lifetime?: number }): Promise<RunningMobileNode> {
    const segment = this.segmentNamed(options.segment);
    const homeAddress = ipv4(options.homeAddress);
    const host = this.attach(name, options.segment, homeAddress, {});
    const running = await startMobileNode(
      {
        interfaceName: 'eth0',
        homeAddress,
        homeAgent: ipv4(options.homeAgent),
        homeNetwork: segment.network,
        homePrefixLength: segment.prefixLength,
        mobileHome: { spi: options.key.spi, key: keyBytes(options.key), algorithm: 'hmac-md5', replay: 'timestamp' },
        lifetime: options.lifetime ?? 600,
      },
      { link: this.net.linkLayer(host), udp: this.net.udpLayer(host), rawIp: simRawIpLayer(host), clock: this.clock, random32: this.random32 },
    );
    this.mobileNodes.set(name, { running, host, homeAddress, home: options.segment, at: options.segment });
    return running;
  }

  /**
   * Moves a mobile node's interface to another segment, as its embedder would (2.4, 4.6): away,
   * through the foreign agent `via` (host route to it, default route and static ARP entry);
   * home, its home prefix and the home gateway back. Then tells the node its link changed.
   */
  move(name: string, segmentName: string, options: { readonly via?: string } = {}): void {
    const node = this.mobileNodes.get(name);
    if (node === undefined) throw new SimScenarioError(`no mobile node '${name}': add it with mobileNode() first`);
    const target = this.segmentNamed(segmentName);
    const { host, homeAddress } = node;
    host.moveInterface('eth0', target.segment);
    host.removeRoute(0, 0);
    if (node.via !== undefined) {
      host.removeRoute(node.via, 32);
      host.deleteArpEntry('eth0', node.via);
    }
    host.removeAddress('eth0', homeAddress);
    if (segmentName === node.home) {
      const home = this.segmentNamed(node.home);
      host.addAddress('eth0', homeAddress, home.prefixLength);
      if (home.gateway !== undefined) host.addRoute(0, 0, { via: home.gateway, interface: 'eth0' });
      delete node.via;
    } else {
      const faName = options.via;
      const fa = faName === undefined ? undefined : this.foreignAgents.get(faName);
      if (fa === undefined || fa.segment !== segmentName) {
        throw new SimScenarioError(`moving '${name}' to '${segmentName}': name the foreign agent on that segment with { via: '<name>' }`);
      }
      host.addAddress('eth0', homeAddress, 32);
      host.addRoute(fa.address, 32, { interface: 'eth0' });
      host.addRoute(0, 0, { via: fa.address, interface: 'eth0' });
      host.setArpEntry('eth0', fa.address, fa.mac);
      node.via = fa.address;
    }
    node.at = segmentName;
    node.running.node.linkChanged();
  }

  /** Runs the simulated clock for `ms`, in steps of `stepMs` (bounded: at most 1,000,000 steps). */
  run(ms: number, stepMs = 100): this {
    const steps = Math.min(1_000_000, Math.ceil(ms / stepMs));
    for (let i = 0; i < steps; i++) this.clock.advance(Math.min(stepMs, ms - i * stepMs));
    return this;
  }

  observe(): SimObservables {
    const record = <T, U>(map: Map<string, T>, f: (value: T) => U) => Object.fromEntries([...map].map(([name, value]) => [name, f(value)]));
    return {
      timeMs: this.clock.now() - this.startAt,
      bindings: record(this.homeAgents, (ha) => ha.running.agent.bindings()),
      visitors: record(this.foreignAgents, (fa) => fa.running.agent.visitors()),
      mobileNodes: record(this.mobileNodes, (mn) => mn.running.node.state()),
      counters: {
        ...record(this.homeAgents, (ha) => ({ ...ha.running.agent.counters })),
        ...record(this.foreignAgents, (fa) => ({ ...fa.running.agent.counters })),
        ...record(this.mobileNodes, (mn) => ({ ...mn.running.node.counters })),
      },
    };
  }

  /** The segments' names, in creation order. */
  segmentNames(): string[] {
    return [...this.segments.keys()];
  }

  /** One classic pcap (Ethernet, microseconds) of everything the segment carried so far. */
  pcap(segmentName: string): Uint8Array {
    this.segmentNamed(segmentName);
    return this.capture.pcap(segmentName);
  }

  /** Stops every agent and node (also after a failed assertion: call it from `finally`/`afterEach`). */
  async close(): Promise<void> {
    this.capture.stop();
    for (const node of this.mobileNodes.values()) await node.running.stop();
    for (const fa of this.foreignAgents.values()) await fa.running.stop();
    for (const ha of this.homeAgents.values()) {
      ha.close();
      await ha.running.stop();
    }
    this.mobileNodes.clear();
    this.foreignAgents.clear();
    this.homeAgents.clear();
  }

  private segmentNamed(name: string): Segment {
    const segment = this.segments.get(name);
    if (segment === undefined) throw new SimScenarioError(`no segment '${name}': add it with segment('${name}', '<prefix>') first (have: ${[...this.segments.keys()].join(', ') || 'none'})`);
    return segment;
  }

  private attach(name: string, segmentName: string, address: Ipv4Address, hostOptions: { forwarding?: boolean; multicastGroups?: Ipv4Address[] }): SimHost {
    const segment = this.segmentNamed(segmentName);
    const host = this.net.addHost(name, hostOptions);
    host.addInterface('eth0', segment.segment, { address, prefixLength: segment.prefixLength });
    if (segment.gateway !== undefined) host.addRoute(0, 0, { via: segment.gateway, interface: 'eth0' });
    return host;
  }
}

/** A scenario from a seed (see SimScenario). */
export function simScenario(seed: number, options: { readonly startAt?: number } = {}): SimScenario {
  return new SimScenario(seed, options);
}


