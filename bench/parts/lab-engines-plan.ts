/**
 * The pure half of part 8 (bench/parts/lab-engines.ts): which paths run in which order, the
 * plain routes that make "kernel forwarding of the same topology", the settings of a quick and
 * a full run, and the arithmetic on iperf3's reports. No IO: unit-tested in test/bench.
 */
import { ADDRESSES, HOST_INTERFACE, type MnPlace } from '../../runtime/cli/lab/plan.js';

/** A path measured: the lab's daemons on one data path engine, or no daemon and plain routes. */
export type LabPath = 'bpf' | 'userspace' | 'kernel';
export const LAB_PATHS: readonly LabPath[] = ['bpf', 'userspace', 'kernel'];

/** Where the node is while measured: behind FA1 (the FA decapsulates) or co-located (the node does). */
export type MeasuredPlace = Extract<MnPlace, 'fa1' | 'colocated'>;
export const MEASURED_PLACES: readonly MeasuredPlace[] = ['fa1', 'colocated'];

/** The bars (issue 17 item 4), on the median of the per-repetition ratios. */
export const BARS = {
  tcp: { ratio: 0.8, text: 'bpf ≥ 0.8 of kernel forwarding' },
  udp: { ratio: 0.7, text: 'bpf ≥ 0.7 of kernel forwarding' },
  storm: { ratio: 0.95, text: 'bpf ≥ 0.95 of userspace' },
} as const;

export interface LabRunSettings {
  /** iperf3 -t per test, s. */
  readonly seconds: number;
  readonly repetitions: number;
  /** Paths in the order every repetition runs them (kernel reuses the userspace lab: it comes last). */
  readonly paths: readonly LabPath[];
  readonly places: readonly MeasuredPlace[];
  /** Registration storm: distinct home addresses (each a new binding, a new map entry or route). */
  readonly stormNodes: number;
  readonly stormRepetitions: number;
  /** Why the quick run measures less, for the report. */
  readonly note?: string;
}

/**
 * The full run: three repetitions of bpf, userspace, kernel (in that order, every time, so each
 * path has the others on both sides), both places. `--quick` (CI's smoke run, ~20 s): one lab
 * with engine userspace, kernel forwarding in it afterwards, co-located only, 1 s tests, a small
 * storm on both engines: every piece of the harness runs, the figures mean little.
 */
export function labRunSettings(quick: boolean, bpfMeasurable: boolean): LabRunSettings {
  if (quick) {
    return {
      seconds: 1,
      repetitions: 1,
      paths: ['userspace', 'kernel'],
      places: ['colocated'],
      stormNodes: 150,
      stormRepetitions: 1,
      note: 'quick: one lab (engine userspace, then kernel forwarding in it), co-located only, 1 s tests, 150-node storm; the full run alternates bpf, userspace, kernel three times',
    };
  }
  return {
    seconds: 4,
    repetitions: 3,
    paths: bpfMeasurable ? LAB_PATHS : LAB_PATHS.filter((p) => p !== 'bpf'),
    places: MEASURED_PLACES,
    stormNodes: 5_000,
    stormRepetitions: 3,
  };
}

/** The care-of address the home agent tunnels to, per place. */
export function careOfAddress(place: MeasuredPlace): string {
  return place === 'fa1' ? ADDRESSES.foreignAgent1 : ADDRESSES.colocatedCareOf;
}

/** `ip -batch` commands per lab role (the keys are LabRole names). */
export type RolesCommands = Readonly<Record<'rt' | 'ha' | 'fa1' | 'mn', readonly string[]>>;

/** Policy-routing table and rule priority of the kernel path's legs at the router. */
export const KERNEL_TABLES = { towardNode: 100, towardHome: 101 } as const;

/**
 * Kernel forwarding of the same topology: the daemons stopped, the same namespaces, addresses
 * and hops as the tunnels, with plain routes. Downstream the router sends the home address to
 * the home agent (as the home link's proxy ARP would), the home agent sends it back to the
 * router (as its tunnel does), and the router, seeing it come from the home link, forwards it
 * to FA1 (which delivers it on its link) or to the co-located address. Upstream the node's
 * datagrams go the reverse tunnel's way: to the home agent first, then to the correspondent.
 */
export function kernelRoutes(place: MeasuredPlace): RolesCommands {
  const home = ADDRESSES.mobileNodeHome;
  const nodeLeg = place === 'fa1' ? `${home}/32 via ${ADDRESSES.foreignAgent1} dev foreign1` : `${home}/32 via ${ADDRESSES.colocatedCareOf} dev foreign2`;
  const nodeSide = place === 'fa1' ? 'foreign1' : 'foreign2';
  return {
    rt: [
      `route replace ${home}/32 via ${ADDRESSES.homeAgent} dev home0`,
      `rule add iif home0 to ${home}/32 lookup ${KERNEL_TABLES.towardNode} pref ${KERNEL_TABLES.towardNode}`,
      `route replace ${nodeLeg} table ${KERNEL_TABLES.towardNode}`,
      `rule add iif ${nodeSide} from ${home}/32 lookup ${KERNEL_TABLES.towardHome} pref ${KERNEL_TABLES.towardHome}`,
      `route replace default via ${ADDRESSES.homeAgent} dev home0 table ${KERNEL_TABLES.towardHome}`,
    ],
    ha: [`route replace ${home}/32 via ${ADDRESSES.routerHome} dev ${HOST_INTERFACE}`],
    fa1: place === 'fa1' ? [`route replace ${home}/32 dev ${HOST_INTERFACE}`] : [],
    mn:
      place === 'fa1'
        ? [`addr replace ${home}/24 dev ${HOST_INTERFACE}`, `route replace default via ${ADDRESSES.foreignAgent1} dev ${HOST_INTERFACE} onlink`]
        : [`addr replace ${home}/24 dev ${HOST_INTERFACE}`, `route replace default via ${ADDRESSES.routerForeign2} dev ${HOST_INTERFACE}`],
  };
}

/** What undoes kernelRoutes(place) at the router and FA1 (run with -force: a missing one is fine). */
export function kernelRoutesUndo(place: MeasuredPlace): Pick<RolesCommands, 'rt' | 'fa1'> {
  return {
    rt: [`rule del pref ${KERNEL_TABLES.towardNode}`, `rule del pref ${KERNEL_TABLES.towardHome}`, `route flush table ${KERNEL_TABLES.towardNode}`, `route flush table ${KERNEL_TABLES.towardHome}`],
    fa1: place === 'fa1' ? [`route del ${ADDRESSES.mobileNodeHome}/32 dev ${HOST_INTERFACE}`] : [],
  };
}

/** One TCP test as iperf3 -J reports it (client side). */
export interface TcpResult {
  readonly gbits: number;
  readonly retransmits: number;
  readonly bytes: number;
}

/** Retransmissions per gigabyte (10^9 bytes) received; NaN when nothing was received. */
export function retransmitsPerGigabyte(result: Pick<TcpResult, 'retransmits' | 'bytes'>): number {
  return result.bytes > 0 ? result.retransmits / (result.bytes / 1e9) : NaN;
}

/** iperf3's TCP client report → throughput received, retransmissions and bytes; throws on an error report. */
export function tcpResultFromIperf(json: string): TcpResult {
  const report = JSON.parse(json) as { error?: string; end?: { sum_received?: { bits_per_second: number; bytes: number }; sum_sent?: { retransmits?: number } } };
  const received = report.end?.sum_received;
  if (received === undefined) throw new Error(`iperf3 TCP: ${report.error ?? 'no sum_received in its report'}`);
  return { gbits: received.bits_per_second / 1e9, retransmits: report.end?.sum_sent?.retransmits ?? 0, bytes: received.bytes };
}

/** One UDP test: datagrams delivered to the receiver per second, and the fraction lost. */
export interface UdpResult {
  readonly deliveredPerSecond: number;
  readonly lost: number;
}

/**
 * iperf3's UDP client report (3.x: `end.sum` carries the receiver's lost count) → delivered
 * datagrams per second: sent minus lost, over the test's time. What the node received, not
 * what the correspondent sent.
 */
export function udpResultFromIperf(json: string): UdpResult {
  const report = JSON.parse(json) as { error?: string; end?: { sum?: { packets: number; lost_packets: number; seconds: number } } };
  const sum = report.end?.sum;
  if (sum === undefined || !(sum.seconds > 0)) throw new Error(`iperf3 UDP: ${report.error ?? 'no end.sum in its report'}`);
  const delivered = Math.max(0, sum.packets - sum.lost_packets);
  return { deliveredPerSecond: delivered / sum.seconds, lost: sum.packets > 0 ? sum.lost_packets / sum.packets : NaN };
}

/** The measurements of one path at one place, one entry per repetition. */
export interface PathSamples {
  readonly tcpGbits: number[];
  readonly retransmits: number[];
  readonly retransmitsPerGB: number[];
  readonly udpDelivered: number[];
  readonly udpLost: number[];
}

export function emptySamples(): PathSamples {
  return { tcpGbits: [], retransmits: [], retransmitsPerGB: [], udpDelivered: [], udpLost: [] };
}

/** Adds one repetition's results (NaN for a test that failed, so repetitions stay aligned for the ratios). */
export function addSample(samples: PathSamples, tcp: TcpResult | undefined, udp: UdpResult | undefined): void {
  samples.tcpGbits.push(tcp?.gbits ?? NaN);
  samples.retransmits.push(tcp?.retransmits ?? NaN);
  samples.retransmitsPerGB.push(tcp === undefined ? NaN : retransmitsPerGigabyte(tcp));
  samples.udpDelivered.push(udp?.deliveredPerSecond ?? NaN);
  samples.udpLost.push(udp?.lost ?? NaN);
}

/** Registration storm: accepted registrations per second of one load (new bindings only). */
export function stormRate(result: { readonly accepted: number; readonly seconds: number; readonly lastReplySeconds?: number }): number {
  const seconds = result.lastReplySeconds !== undefined && result.lastReplySeconds > 0 ? result.lastReplySeconds : result.seconds;
  return seconds > 0 ? result.accepted / seconds : NaN;
}
