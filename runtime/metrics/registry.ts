/**
 * The metrics of the three daemons, one builder per role (docs/metrics.md lists every family
 * with the RFC 2006 MIB object it stands for). Two registries are built from the same agent:
 * prom-client fixes the exposition format per registry, and its OpenMetrics output renames
 * the counters it prints, so one registry cannot serve both formats.
 */
import type { UdpTunnelCounters } from '../ha/udp-tunnels.js';
import { collectDefaultMetrics, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { replyCodeText } from '../../io/wire/reply-codes.js';
import type { LinuxPacketTapCounters } from '../../io/linux/packet-tap.js';
import type { DataPlaneCounters } from '../dataplane/packets.js';
import type { KernelDrops } from '../../io/kernel-drops.js';
import type { HomeAgentCounters } from '../ha/home-agent.js';
import type { HomeAgentAdvertiserCounters } from '../ha/home-agent-advertiser.js';
import type { HomeAgentDataPathCounters } from '../ha/home-agent-data-path.js';
import type { RequestTiming } from '../ha/home-agent-server.js';
import type { HomeLinkCounters } from '../ha/home-link.js';
import type { ForeignAgentCounters, ForeignAgentTableSizes } from '../fa/foreign-agent.js';
import type { UdpFlowCounters } from '../fa/udp-flows.js';
import type { MobileNodeCounters, MobileNodeEvent, MobileNodeState } from '../mn/mobile-node.js';
import type { MnUdpTunnelCounters } from '../mn/udp-tunnel.js';
import type { MnUdpTunnelPlaneCounters } from '../dataplane/mn-plane.js';
import { byKey, type AnyRegistry, counterOf, gaugeOf, labelledCounterOf, labelledGaugeOf, type Labels } from './families.js';

export type MetricsRole = 'ha' | 'fa' | 'mn';

export interface BuildInfo {
  readonly role: MetricsRole;
  readonly version: string;
  /** The actor hosts' step engine (MIP4_ENGINE). */
  readonly engine: string;
}

/** The same families in both exposition formats. */
export interface MetricsRegistries {
  readonly prometheus: AnyRegistry;
  readonly openMetrics: AnyRegistry;
}

export interface RegistryOptions {
  /** prom-client's process and Node metrics, prefixed `mip4_` (default true). */
  readonly processMetrics?: boolean;
}

/** Adds one role's families to a registry (called once per format). */
export type MetricsBuilder = (registry: AnyRegistry) => void;

export function buildRegistries(info: BuildInfo, build: MetricsBuilder, options: RegistryOptions = {}): MetricsRegistries {
  const make = (contentType: RegistryContentType) => {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(contentType);
    new Gauge({ name: 'mip4_build_info', help: 'Always 1; the labels say which mip4 runs here', labelNames: ['version', 'engine', 'role'], registers: [registry] }).set(
      { version: info.version, engine: info.engine, role: info.role },
      1,
    );
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: registry, prefix: 'mip4_' });
      // Gauges whose names end in _total, which reads as a counter (promtool's lint says so);
      // the same numbers are in mip4_nodejs_active_{handles,requests,resources} by type.
      for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`mip4_nodejs_active_${name}_total`);
    }
    build(registry);
    return registry;
  };
  return { prometheus: make(Registry.PROMETHEUS_CONTENT_TYPE), openMetrics: make(Registry.OPENMETRICS_CONTENT_TYPE) };
}

// ---------------------------------------------------------------------------------------------
// Registration processing time

/** Seconds; a registration is a few tens of microseconds when nothing waits (docs/performance.md). */
const PROCESSING_BUCKETS = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/**
 * The home agent's registration processing time, sampled. Timing every datagram would add two
 * clock reads and a histogram update (one per format) to a path measured at tens of
 * thousands a second; one in `sampleEvery` keeps the distribution and costs the others a
 * decrement (runtime/ha/home-agent-server.ts). The first datagram is always timed.
 */
export class RegistrationTimer implements RequestTiming {
  private readonly histograms: Histogram[] = [];
  constructor(readonly sampleEvery = 16) {
    if (!Number.isInteger(sampleEvery) || sampleEvery < 1) throw new RangeError(`sampleEvery: expected an integer >= 1, got ${sampleEvery}`);
  }

  record(seconds: number): void {
    for (const histogram of this.histograms) histogram.observe(seconds);
  }

  /** The histogram family in one registry. */
  addTo(registry: AnyRegistry): void {
    this.histograms.push(
      new Histogram({
        name: 'mip4_ha_registration_processing_seconds',
        help: `Time to handle one datagram on the registration port, decode to Reply sent; one datagram in ${this.sampleEvery} is timed`,
        buckets: PROCESSING_BUCKETS,
        registers: [registry],
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Data plane

/** Plane counters that count a datagram dropped; the others are what became of one. */
const DROP_PREFIXES = ['malformed-', 'decapsulation-', 'loop-', 'udp-decapsulation-'];
const DROPS = new Set(['bad-checksum', 'broadcast-unrequested', 'multicast-no-member', 'ttl-exceeded', 'too-big', 'inner-ttl-zero', 'inner-bad-checksum', 'unknown-visitor', 'not-for-me',
  // The foreign agent's reverse tunnel (runtime/dataplane/fa-plane.ts).
  'reverse-tunnel-ttl-exceeded', 'reverse-tunnel-fragmentation-needed', 'reverse-tunnel-too-big',
  // The home agent's UDP tunnels (RFC 3519).
  'udp-frag-needed',
  // The foreign agent's UDP tunnel (RFC 3519, runtime/dataplane/fa-udp-tunnel.ts).
  'udp-tunnel-not-data', 'udp-tunnel-next-header-unsupported', 'udp-tunnel-unknown-visitor', 'udp-tunnel-wrong-sender', 'udp-tunnel-inner-ttl-zero']);
/** Plane counters that are totals or side notes, exported under their own names. */
const TOTALS = new Set(['packets', 'outputs', 'bytes']);

export function isDropReason(counter: string): boolean {
  return DROPS.has(counter) || DROP_PREFIXES.some((prefix) => counter.startsWith(prefix));
}

export interface DataPathSource {
  /** The plane's counters (runtime/dataplane). */
  readonly plane: DataPlaneCounters;
  /** Drops outside the plane (the tap's queue, refused sends), by reason. */
  readonly edgeDrops?: () => Iterable<readonly [string, number]>;
}

function addDataPlane(registry: AnyRegistry, source: DataPathSource): void {
  const plane = source.plane;
  labelledCounterOf(registry, 'mip4_dataplane_packets_total', 'Datagrams into the data plane (in) and packets it produced (out)', ['direction'], () => [
    [{ direction: 'in' }, plane['packets'] ?? 0],
    [{ direction: 'out' }, plane['outputs'] ?? 0],
  ]);
  labelledCounterOf(registry, 'mip4_dataplane_bytes_total', 'Bytes of the datagrams into the data plane', ['direction'], () => [[{ direction: 'in' }, plane['bytes'] ?? 0]]);
  labelledCounterOf(registry, 'mip4_dataplane_drops_total', 'Datagrams the data path dropped, by reason', ['reason'], function* () {
    for (const [name, value] of Object.entries(plane)) if (isDropReason(name)) yield [{ reason: name }, value];
    if (source.edgeDrops !== undefined) for (const [reason, value] of source.edgeDrops()) yield [{ reason }, value];
  });
  labelledCounterOf(registry, 'mip4_dataplane_outcomes_total', 'What became of the datagrams not dropped (tunnelled, delivered, passed, ...)', ['outcome'], function* () {
    for (const [name, value] of Object.entries(plane)) if (!isDropReason(name) && !TOTALS.has(name)) yield [{ outcome: name }, value];
  });
}

/** A KernelDrops snapshot as edge drops: each reason the kernel was asked about, 0 included. */
export function* kernelDropEntries(drops: KernelDrops): Iterable<readonly [string, number]> {
  for (const [reason, value] of Object.entries(drops.snapshot())) yield [reason, value ?? 0];
}

function* replyCodes(table: Readonly<Record<number, number | undefined>>): Iterable<readonly [Labels, number]> {
  for (const [code, value] of Object.entries(table)) if (value !== undefined) yield [{ code, reason: replyCodeText(Number(code)) }, value];
}

function addAdvertiser(registry: AnyRegistry, counters: { readonly advertisements: number; readonly solicitations: number }): void {
  counterOf(registry, 'mip4_agent_advertisements_sent_total', 'Agent Advertisements sent, periodic and solicited (maAdvertisementsSent)', () => counters.advertisements);
  counterOf(registry, 'mip4_agent_solicitations_received_total', 'Agent Solicitations received (maSolicitationsReceived)', () => counters.solicitations);
}

// ---------------------------------------------------------------------------------------------
// Home agent

export interface HomeAgentMetricsSource {
  readonly agent: { readonly counters: HomeAgentCounters; readonly bindingCount: number; readonly udpTunnels?: { readonly counters: UdpTunnelCounters } };
  /** The packet path, when the daemon runs one (runtime/ha/home-agent-linux.ts or a simulated one). */
  readonly dataPath?: {
    readonly path: {
      readonly counters: HomeAgentDataPathCounters;
      readonly planeCounters: DataPlaneCounters;
      readonly homeLink?: { readonly counters: HomeLinkCounters } | undefined;
    };
    /** The Linux tap's own counters, on Linux. */
    readonly counters?: LinuxPacketTapCounters;
    /** dataPath.engine as chosen at start (runtime/ha/home-agent-linux.ts). */
    readonly engine?: string;
    /** The kernel fast path with the bpf engine: its programs' counters and its map writes. */
    readonly bpf?: BpfMetricsSource | undefined;
    /** The kernel's queues that overflowed before the path read them, on Linux. */
    readonly kernelDrops?: KernelDrops;
  };
  readonly advertiser?: { readonly counters: HomeAgentAdvertiserCounters };
  readonly timer?: RegistrationTimer;
}

/** What the bpf engine exports (runtime/ha/home-agent-bpf.ts HomeAgentBpf). */
export interface BpfMetricsSource {
  programCounters(): { readonly haEncap: Readonly<Record<string, number>>; readonly decap: Readonly<Record<string, number>> };
  readonly counters: { readonly mapErrors: Readonly<Record<string, number>> };
}

/**
 * The kernel fast path's families: its programs' per-reason packet counters (the reasons are
 * the programs' fixed counter names, native/bpf/mip4_bpf.h) and failed map writes.
 */
export function addBpfEngine(registry: AnyRegistry, engine: string, bpf: BpfMetricsSource | undefined): void {
  labelledGaugeOf(registry, 'mip4_data_path_engine_info', 'Who tunnels (dataPath.engine as chosen at start): 1 for the running engine, bpf or userspace', ['engine'], () => [[{ engine }, 1]]);
  if (bpf === undefined) return;
  labelledCounterOf(registry, 'mip4_bpf_packets_total', 'Packets the tc-BPF programs handled, by program and reason (encapsulated, delivered-*, or why passed to the userspace plane)', ['program', 'reason'], function* () {
    const programs = bpf.programCounters();
    for (const [reason, value] of Object.entries(programs.haEncap)) yield [{ program: 'ha_encap', reason }, value];
    for (const [reason, value] of Object.entries(programs.decap)) yield [{ program: 'decap', reason }, value];
  });
  labelledCounterOf(registry, 'mip4_bpf_map_errors_total', 'Failed writes to the programs\' maps, by kind (map-full, update-failed); such homes stay on the userspace plane', ['kind'], () =>
    byKey(bpf.counters.mapErrors, 'kind'),
  );
}

const NO_UDP_TUNNELS: UdpTunnelCounters = { granted: 0, declined: 0, denied: 0, natDetected: 0, rebindings: 0, rebindingRefused: 0 };

export function homeAgentMetrics(source: HomeAgentMetricsSource): MetricsBuilder {
  return (registry) => {
    const c = source.agent.counters;
    counterOf(registry, 'mip4_ha_requests_received_total', 'Datagrams received on the registration port (haRegRequestsReceived + haDeRegRequestsReceived, discards included)', () => c.requests);
    labelledCounterOf(registry, 'mip4_ha_replies_total', 'Registration Replies sent, by code (haRegistrationAccepted, haMultiBindingUnsupported, haReasonUnspecified ... haUnknownHA)', ['code', 'reason'], function* () {
      yield* replyCodes(c.acceptedByCode);
      yield* replyCodes(c.deniedByCode);
    });
    counterOf(registry, 'mip4_ha_service_requests_accepted_total', 'Registrations accepted, codes 0 and 1 (haServiceRequestsAccepted)', () => c.accepted);
    counterOf(registry, 'mip4_ha_service_requests_denied_total', 'Registrations denied, codes 128 and above (haServiceRequestsDenied)', () => c.denied);
    counterOf(registry, 'mip4_ha_deregistrations_total', 'Deregistrations accepted, lifetime 0 (haDeRegRepliesSent with code 0)', () => c.deregistrations);
    counterOf(registry, 'mip4_ha_binding_expiries_total', 'Bindings removed because their lifetime ran out', () => c.expired);
    labelledCounterOf(registry, 'mip4_ha_discarded_total', 'Datagrams discarded without a Reply, by reason', ['reason'], () => byKey(c.discardedByReason, 'reason'));
    gaugeOf(registry, 'mip4_ha_bindings', 'Mobility bindings held (rows of haMobilityBindingTable)', () => source.agent.bindingCount);
    const udp = source.agent.udpTunnels?.counters ?? NO_UDP_TUNNELS;
    labelledCounterOf(registry, 'mip4_ha_udp_tunnel_registrations_total', 'Registrations by what became of UDP tunnelling (RFC 3519): granted, declined (64), denied (142 or 129)', ['outcome'], () => [
      [{ outcome: 'granted' }, udp.granted],
      [{ outcome: 'declined' }, udp.declined],
      [{ outcome: 'denied' }, udp.denied],
    ]);
    counterOf(registry, 'mip4_ha_nat_detected_total', 'Accepted registrations whose IP source differed from the care-of address (RFC 3519 NAT detection)', () => udp.natDetected);
    labelledCounterOf(registry, 'mip4_ha_udp_rebindings_total', 'Tunnel data from a new NAT port: followed (the binding moved) or refused (another address)', ['result'], () => [
      [{ result: 'followed' }, udp.rebindings],
      [{ result: 'refused' }, udp.rebindingRefused],
    ]);
    source.timer?.addTo(registry);
    if (source.advertiser !== undefined) addAdvertiser(registry, source.advertiser.counters);
    const dataPath = source.dataPath;
    if (dataPath === undefined) return;
    const path = dataPath.path;
    if (dataPath.engine !== undefined) addBpfEngine(registry, dataPath.engine, dataPath.bpf);
    const homeLink = path.homeLink;
    if (homeLink !== undefined) {
      counterOf(registry, 'mip4_ha_proxy_arp_replies_total', 'Proxy ARP Replies sent for mobile nodes away from home (haProxyARPsSent)', () => homeLink.counters.proxyReplies);
      counterOf(registry, 'mip4_ha_gratuitous_arps_sent_total', 'Gratuitous ARP copies sent (haGratuitousARPsSent)', () => homeLink.counters.gratuitousSent);
    }
    counterOf(registry, 'mip4_ha_tunnel_packets_sent_total', 'Tunnel packets sent to care-of addresses', () => path.counters.tunnelSent);
    // RFC 3519: tunnel data through the registration socket; messages / batches = datagrams per batched send.
    counterOf(registry, 'mip4_ha_udp_tunnel_messages_sent_total', 'Tunnel data messages (RFC 3519) sent through the registration socket', () => path.counters.udpTunnelSent);
    counterOf(registry, 'mip4_ha_udp_tunnel_send_batches_total', 'Batched sends (one sendmmsg each, one per plane batch) of tunnel data messages', () => path.counters.udpTunnelSendBatches);
    addDataPlane(registry, {
      plane: path.planeCounters,
      *edgeDrops() {
        yield ['queue-full', path.counters.shed];
        yield ['send-failed', path.counters.sendFailed];
        yield ['reinject-ttl-expired', path.counters.reinjectTtlExpired];
        if (dataPath.counters !== undefined) {
          yield ['not-ipv4', dataPath.counters.notIpv4];
          yield ['home-link-send-failed', dataPath.counters.unclaimedSendFailed];
        }
        if (dataPath.kernelDrops !== undefined) yield* kernelDropEntries(dataPath.kernelDrops);
      },
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Foreign agent

export interface ForeignAgentMetricsSource {
  readonly agent: {
    readonly counters: ForeignAgentCounters;
    tableSizes(): ForeignAgentTableSizes;
    readonly dataPlane: { readonly counters: DataPlaneCounters };
    /** The kernel's queues that overflowed before the agent read them (Linux). */
    readonly kernelDrops?: KernelDrops;
    /** RFC 3519 flows with home agents (runtime/fa/udp-flows.ts), when the agent has them. */
    readonly udpFlows?: { readonly counters: UdpFlowCounters };
  };
}

/**
 * The data path engine (issue 17): `mip4_data_path_engine_info{engine}` is 1 for the engine
 * that runs, and `mip4_bpf_packets_total{program,reason}` counts what the tc-BPF programs did
 * (docs/kernel-fast-path.md's reasons). The same names for the three roles.
 */
export interface DataPathEngineMetricsSource {
  readonly engine: 'bpf' | 'userspace';
  /** Per program, per reason; empty with userspace. */
  bpfCounters(): Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export function addDataPathEngine(registry: AnyRegistry, source: DataPathEngineMetricsSource): void {
  labelledGaugeOf(registry, 'mip4_data_path_engine_info', 'Always 1; the engine label says which data path engine carries the tunnels (dataPath.engine)', ['engine'], () => [[{ engine: source.engine }, 1]]);
  labelledCounterOf(registry, 'mip4_bpf_packets_total', 'Packets the tc-BPF programs handled, by program and reason (delivered, encapsulated, or passed to userspace and why)', ['program', 'reason'], function* () {
    for (const [program, reasons] of Object.entries(source.bpfCounters())) {
      for (const [reason, count] of Object.entries(reasons)) yield [{ program, reason }, count] as const;
    }
  });
}

export function foreignAgentMetrics(source: ForeignAgentMetricsSource & { readonly dataPathEngine?: DataPathEngineMetricsSource }): MetricsBuilder {
  return (registry) => {
    if (source.dataPathEngine !== undefined) addDataPathEngine(registry, source.dataPathEngine);
    const agent = source.agent;
    const c = agent.counters;
    counterOf(registry, 'mip4_fa_requests_received_total', 'Registration Requests received from mobile nodes (faRegRequestsReceived)', () => c.requests);
    counterOf(registry, 'mip4_fa_requests_relayed_total', 'Registration Requests relayed to home agents (faRegRequestsRelayed)', () => c.relayed);
    counterOf(registry, 'mip4_fa_replies_received_total', 'Registration Replies received from home agents (faRegRepliesRecieved)', () => c.replies);
    counterOf(registry, 'mip4_fa_replies_relayed_total', 'Registration Replies relayed to mobile nodes (faRegRepliesRelayed)', () => c.repliesRelayed);
    labelledCounterOf(registry, 'mip4_fa_denied_total', 'Requests denied by this agent, by code 64 and above (faReasonUnspecified ... faHAUnreachable)', ['code', 'reason'], () => replyCodes(c.deniedByCode));
    labelledCounterOf(registry, 'mip4_fa_discarded_total', 'Messages discarded without a Reply, by reason', ['reason'], () => byKey(c.discardedByReason, 'reason'));
    counterOf(registry, 'mip4_fa_pending_timeouts_total', 'Pending registrations that ended without a Reply', () => c.timeouts);
    labelledCounterOf(registry, 'mip4_fa_pending_refusals_total', 'Requests refused (66) by a pending-registration budget, by budget', ['budget'], () => byKey(c.pendingRefusals, 'budget'));
    counterOf(registry, 'mip4_fa_icmp_errors_received_total', 'ICMP errors received', () => c.icmpErrors);
    counterOf(registry, 'mip4_fa_icmp_errors_matched_total', 'ICMP errors that ended a pending registration (3.7.3)', () => c.icmpErrorsMatched);
    addAdvertiser(registry, c);
    gaugeOf(registry, 'mip4_fa_visitors', 'Visitor list entries (rows of faVisitorTable)', () => agent.tableSizes().visitors);
    gaugeOf(registry, 'mip4_fa_pending_registrations', 'Registrations relayed and waiting for a Reply', () => agent.tableSizes().pending);
    const kernelDrops = agent.kernelDrops;
    addDataPlane(registry, {
      plane: agent.dataPlane.counters,
      ...(kernelDrops === undefined ? {} : { edgeDrops: () => kernelDropEntries(kernelDrops) }),
    });
    const udp = agent.udpFlows?.counters;
    if (udp !== undefined) {
      counterOf(registry, 'mip4_fa_udp_keepalives_sent_total', 'RFC 3519 keepalives sent on idle UDP flows with home agents', () => udp.keepalives);
      counterOf(registry, 'mip4_fa_udp_tunnel_datagrams_sent_total', 'Reverse-tunnelled datagrams sent as RFC 3519 tunnel data messages', () => udp.dataSent);
      counterOf(registry, 'mip4_fa_udp_tunnel_sends_total', 'Sends (one sendmmsg each) that carried them: datagrams per send is the ratio', () => udp.dataSendTurns);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Mobile node

export interface MobileNodeMetricsSource {
  readonly node: {
    readonly counters: MobileNodeCounters;
    state(): MobileNodeState;
    readonly events: { subscribe(observer: (event: MobileNodeEvent) => void): unknown };
    /** RFC 3519 counters (runtime/mn/udp-tunnel.ts), when the node has them. */
    readonly udpTunnelling?: { readonly counters: MnUdpTunnelCounters; readonly plane: { readonly counters: MnUdpTunnelPlaneCounters } };
    /** The kernel's queues that overflowed before the node read them (co-located tunnels, TUN; Linux). */
    readonly kernelDrops?: KernelDrops;
  };
}

type AttachmentKind = Extract<MobileNodeEvent, { event: 'attachment' }>['attachment']['kind'];

/** What the node's events tell and its counters do not: outcomes by code, movements. */
class MobileNodeTally {
  accepted = 0;
  givenUp = 0;
  agentReboots = 0;
  readonly denied = new Map<string, { readonly labels: Labels; count: number }>();
  readonly movements = new Map<string, { readonly labels: Labels; count: number }>();
  private attachment: AttachmentKind | undefined;

  hear(event: MobileNodeEvent): void {
    switch (event.event) {
      case 'registered':
      case 'deregistered':
        this.accepted++;
        return;
      case 'denied': {
        const by = event.byForeignAgent ? 'foreign-agent' : 'home-agent';
        bump(this.denied, `${event.code}|${by}`, { code: String(event.code), reason: replyCodeText(event.code), by });
        return;
      }
      case 'given-up':
        this.givenUp++;
        return;
      case 'agent-rebooted':
        this.agentReboots++;
        return;
      case 'attachment': {
        const to = event.attachment.kind;
        if (this.attachment !== undefined) bump(this.movements, `${this.attachment}|${to}`, { from: this.attachment, to });
        this.attachment = to;
        return;
      }
      default:
        return;
    }
  }
}

function bump(table: Map<string, { readonly labels: Labels; count: number }>, key: string, labels: Labels): void {
  const entry = table.get(key);
  if (entry === undefined) table.set(key, { labels, count: 1 });
  else entry.count++;
}

function* entriesOf(table: Map<string, { readonly labels: Labels; count: number }>): Iterable<readonly [Labels, number]> {
  for (const entry of table.values()) yield [entry.labels, entry.count];
}

/** Subscribes to the node's events now (once for both formats), so call it before the node starts. */
export function mobileNodeMetrics(source: MobileNodeMetricsSource & { readonly dataPathEngine?: DataPathEngineMetricsSource }): MetricsBuilder {
  const tally = new MobileNodeTally();
  source.node.events.subscribe((event) => tally.hear(event));
  return (registry) => {
    if (source.dataPathEngine !== undefined) addDataPathEngine(registry, source.dataPathEngine);
    const node = source.node;
    const c = node.counters;
    counterOf(registry, 'mip4_mn_requests_sent_total', 'Registration Requests sent, retransmissions included (mnRegRequestsSent + mnDeRegRequestsSent)', () => c.requests);
    counterOf(registry, 'mip4_mn_replies_received_total', 'Registration Replies received (mnRegRepliesRecieved + mnDeRegRepliesRecieved)', () => c.replies);
    counterOf(registry, 'mip4_mn_replies_discarded_total', 'Replies discarded: not authentic, not matching, malformed (mnRepliesInvalidID, mnRepliesHAAuthenticationFailure, ...)', () => c.repliesDiscarded);
    counterOf(registry, 'mip4_mn_registrations_accepted_total', 'Registrations and deregistrations accepted (mnRegRequestsAccepted)', () => tally.accepted);
    labelledCounterOf(registry, 'mip4_mn_registrations_denied_total', 'Registrations denied, by code and by whom (mnRegRequestsDeniedByHA, mnRegRequestsDeniedByFA, ...DueToID)', ['code', 'reason', 'by'], () =>
      entriesOf(tally.denied),
    );
    counterOf(registry, 'mip4_mn_registration_give_ups_total', 'Registrations abandoned after the last retransmission', () => tally.givenUp);
    labelledCounterOf(registry, 'mip4_mn_movements_total', 'Changes of attachment (mnMoveFromHAToFA, mnMoveFromFAToFA, mnMoveFromFAToHA)', ['from', 'to'], () => entriesOf(tally.movements));
    counterOf(registry, 'mip4_mn_agent_reboots_detected_total', 'Agent reboots detected from advertisement sequence numbers (mnAgentRebootsDectected)', () => tally.agentReboots);
    counterOf(registry, 'mip4_mn_advertisements_received_total', 'Agent Advertisements received (mnAdvertisementsReceived)', () => c.advertisements);
    counterOf(registry, 'mip4_mn_advertisements_discarded_total', 'Agent Advertisements discarded (mnAdvsDroppedInvalidExtension and others)', () => c.advertisementsDiscarded);
    counterOf(registry, 'mip4_mn_solicitations_sent_total', 'Agent Solicitations sent (mnSolicitationsSent)', () => c.solicitations);
    gaugeOf(registry, 'mip4_mn_registered', '1 while a registration is in force (mnState)', () => (node.state().registration === 'registered' ? 1 : 0));
    gaugeOf(registry, 'mip4_mn_pending_registrations', 'Registrations sent and waiting for a Reply (0 or 1)', () => (node.state().registration === 'pending' ? 1 : 0));
    labelledGaugeOf(registry, 'mip4_mn_attachment', '1 for where the node is attached now (mnState)', ['attachment'], () => [[{ attachment: node.state().attachment }, 1]]);
    counterOf(registry, 'mip4_mn_decapsulated_total', 'Tunnel packets the node decapsulated itself (co-located care-of address)', () => c.decapsulated);
    labelledCounterOf(registry, 'mip4_mn_injected_total', 'Decapsulated datagrams handed to the host through the TUN device, by result', ['result'], () => [
      [{ result: 'written' }, c.injected],
      [{ result: 'refused' }, c.injectDropped],
    ]);
    // The node has no data plane family of its own: the kernel's drops on its tunnel path go
    // under the same name and reasons as the agents'.
    const kernelDrops = node.kernelDrops;
    if (kernelDrops !== undefined && !kernelDrops.empty) {
      labelledCounterOf(registry, 'mip4_dataplane_drops_total', 'Datagrams the data path dropped, by reason', ['reason'], function* () {
        for (const [reason, value] of kernelDropEntries(kernelDrops)) yield [{ reason }, value];
      });
    }
    // RFC 3519 (runtime/mn/udp-tunnel.ts): registrations, keepalives and tunnel data over UDP.
    const udp = node.udpTunnelling;
    if (udp !== undefined) {
      const u = udp.counters;
      const p = udp.plane.counters;
      labelledCounterOf(registry, 'mip4_mn_udp_tunnel_registrations_total', 'Co-located Requests asking for UDP tunnelling (RFC 3519), and what the home agent answered', ['outcome'], () => [
        [{ outcome: 'requested' }, u.requested],
        [{ outcome: 'granted' }, u.granted],
        [{ outcome: 'declined' }, u.declined],
        [{ outcome: 'retried-without' }, u.retries],
        [{ outcome: 'refused' }, u.refusals],
      ]);
      counterOf(registry, 'mip4_mn_udp_keepalives_sent_total', 'RFC 3519 keepalives sent on an idle UDP tunnel', () => u.keepalivesSent);
      labelledCounterOf(registry, 'mip4_mn_udp_tunnel_packets_total', 'Tunnel data messages of the UDP tunnel, by direction and result', ['direction', 'result'], () => [
        [{ direction: 'out', result: 'sent' }, p.tunnelledOut],
        [{ direction: 'out', result: 'malformed' }, p.malformedOut],
        [{ direction: 'out', result: 'send-error' }, u.sendErrors],
        [{ direction: 'in', result: 'delivered' }, p.decapsulated],
        [{ direction: 'in', result: 'not-from-home-agent' }, p.notFromHomeAgent],
        [{ direction: 'in', result: 'unsupported-next-header' }, p.unsupportedNextHeader],
        [{ direction: 'in', result: 'malformed' }, p.malformedIn],
        [{ direction: 'in', result: 'not-for-home-address' }, p.notForHome],
        [{ direction: 'in', result: 'without-tunnel' }, u.withoutTunnel],
        [{ direction: 'in', result: 'keepalive-reply' }, u.keepaliveReplies],
      ]);
    }
  };
}
