/**
 * `mip4 lab traffic`: load on a running lab through a sequence of moves (default home → FA1 →
 * FA2 → co-located → home), and per move what each direction lost.
 *
 * - Probes: a small sequenced, timestamped UDP datagram every 10 ms each way, correspondent →
 *   home address (downstream) and mobile node → correspondent (upstream). One-way on purpose: an
 *   ICMP echo needs both directions for its answer, so a lost echo cannot say which direction
 *   died — and with ingress filtering only the upstream one does (RFC 5944 5.6, RFC 3024 1).
 *   Sender and receiver print each datagram with `process.hrtime` (CLOCK_MONOTONIC, one clock
 *   for every namespace of the host), so sends, arrivals and the move's instants compare.
 * - ICMP: `ping` every 10 ms each way as well, its totals (an echo answered needs both ways).
 * - TCP: iperf3 both ways (correspondent → home address and back), paced, for the whole
 *   sequence; its JSON says whether the connection held (no error, data to the end).
 * - The router's ingress filter counters (when `--ingress-filter` loaded it) before and after
 *   each move, for the verdict line when a direction dies.
 *
 * Bounded everywhere: a fixed schedule (warm-up, then one move per `dwellMs`), every process
 * killed at the end or after its deadline. The analysis is pure (`analyseTraffic`, unit-tested).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { labMove, LabError, labSettings, type LabOptions } from './lab.js';
import { ADDRESSES, INGRESS_PREFIXES, namespaceOf, PLACE_SEGMENT, type MnPlace } from './plan.js';
import { readIngressDrops, type IngressDrops } from './ingress-filter.js';

/** The demo's moves, in its order (runtime/cli/roaming-demo.ts). */
export const TRAFFIC_MOVES: readonly MnPlace[] = ['fa1', 'fa2', 'colocated', 'home'];

export const PLACE_LABEL: Record<MnPlace, string> = { home: 'home', fa1: 'FA1', fa2: 'FA2', colocated: 'co-located' };

export interface TrafficOptions extends LabOptions {
  readonly moves?: readonly MnPlace[];
  /** Time at each place, from the end of its move (the link back, and a restarted daemon ready) to the next move (default 6000). */
  readonly dwellMs?: number;
  /** Before the first move (default 2000). */
  readonly warmupMs?: number;
  /** One probe every this many ms each way (default 10). */
  readonly probeIntervalMs?: number;
  /** iperf3 TCP both ways (default true); its pace per direction, Mbit/s (default 10). */
  readonly tcp?: boolean;
  readonly tcpMbitPerSecond?: number;
  /** Progress lines while it runs. */
  readonly progress?: (line: string) => void;
}

const PROBE_PORT = 5_006;
const IPERF_PORT = { downstream: 5_201, upstream: 5_202 } as const;
/** A datagram sent this late before the end still has time to arrive. */
const ARRIVAL_GRACE_MS = 500;

/**
 * The probe program, run with `node -e` inside a namespace (no file of this package needed, so
 * it runs the same from dist/ and under the test runner).
 *   send HOST PORT INTERVAL_MS → "s SEQ NS" per datagram handed to the kernel, "e SEQ NS" per refusal
 *   receive PORT              → "listening", then "r SEQ ARRIVED_NS SENT_NS" per datagram
 */
const PROBE_PROGRAM = `
const dgram = require('node:dgram');
const [mode, a, b, c] = process.argv.slice(1);
const out = [];
const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0; } };
setInterval(flush, 50);
if (mode === 'send') {
  const socket = dgram.createSocket('udp4');
  let sequence = 0;
  const timer = setInterval(() => {
    const datagram = Buffer.alloc(16);
    const seq = sequence++;
    const now = process.hrtime.bigint();
    datagram.writeUInt32BE(seq >>> 0, 0);
    datagram.writeBigUInt64BE(now, 8);
    socket.send(datagram, Number(b), a, (error) => out.push((error ? 'e ' : 's ') + seq + ' ' + now + '\\n'));
  }, Number(c));
  process.once('SIGTERM', () => { clearInterval(timer); setTimeout(() => { flush(); process.exit(0); }, 60); });
} else {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (m) => {
    if (m.length !== 16) return;
    out.push('r ' + m.readUInt32BE(0) + ' ' + process.hrtime.bigint() + ' ' + m.readBigUInt64BE(8) + '\\n');
  });
  socket.bind(Number(a), '0.0.0.0', () => process.stdout.write('listening\\n'));
  process.once('SIGTERM', () => { flush(); process.exit(0); });
}
setTimeout(() => { flush(); process.exit(4); }, Number(process.env.PROBE_LIFETIME_MS || 600000)).unref();
`;

// ---------------------------------------------------------------------------------------------
// The records and their analysis (pure)

/** One direction's probes: what the sender handed to the kernel, what the receiver got (ns, one clock). */
export interface ProbeRecord {
  readonly sentSequences: number[];
  readonly sentNs: number[];
  sendErrors: number;
  /** Arrival per sequence number (the first copy). */
  readonly arrivedNs: Map<number, number>;
}

export function emptyProbeRecord(): ProbeRecord {
  return { sentSequences: [], sentNs: [], sendErrors: 0, arrivedNs: new Map() };
}

/** Feeds the probe program's lines into a record (sender's or receiver's lines). */
export function feedProbeLines(record: ProbeRecord, lines: readonly string[], originNs: bigint): void {
  for (const line of lines) {
    const [kind, sequence, first] = line.split(' ');
    if (sequence === undefined || first === undefined) continue;
    if (kind === 's') {
      record.sentSequences.push(Number(sequence));
      record.sentNs.push(Number(BigInt(first) - originNs));
    } else if (kind === 'e') {
      record.sendErrors++;
    } else if (kind === 'r' && !record.arrivedNs.has(Number(sequence))) {
      record.arrivedNs.set(Number(sequence), Number(BigInt(first) - originNs));
    }
  }
}

/** One move's instants (ns on the records' clock). */
export interface MoveInstants {
  readonly from: MnPlace;
  readonly place: MnPlace;
  readonly linkDownNs: number;
  readonly linkUpNs: number;
  /** Router drop counters read just before the move and at the end of its dwell (when filtered). */
  readonly dropsBefore?: readonly IngressDrops[];
  readonly dropsAfter?: readonly IngressDrops[];
}

export interface DirectionAtMove {
  /** Probes sent from the link change to the next move (or the end). */
  readonly sent: number;
  readonly received: number;
  readonly lost: number;
  /** Carrier back → the first probe sent after the link change arriving; undefined: none arrived. */
  readonly firstAfterCarrierMs?: number;
  /** The link change → that same arrival. */
  readonly firstAfterLinkChangeMs?: number;
}

export interface MoveReport {
  readonly from: MnPlace;
  readonly place: MnPlace;
  readonly downstream: DirectionAtMove;
  readonly upstream: DirectionAtMove;
  /** Datagrams the router's ingress filter dropped during this move, per interface (nonzero ones); undefined: no filter. */
  readonly ingressDrops?: Record<string, number>;
}

export interface TcpReport {
  /** No error (the connection was never given up) and data still flowed in its last second. */
  readonly held: boolean;
  readonly bytesSent: number;
  readonly retransmits?: number;
  /** The longest run of intervals (0.5 s each) in which the sender wrote nothing (its buffer full). */
  readonly longestStallSeconds: number;
  readonly error?: string;
}

/** `ping`'s own count: echoes sent and answered. */
export interface EchoCount {
  readonly transmitted: number;
  readonly received: number;
}

/** Reads `ping -q`'s summary line (pure); undefined when it printed none. */
export function echoCountFromPing(output: string): EchoCount | undefined {
  const match = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  return match === null ? undefined : { transmitted: Number(match[1]), received: Number(match[2]) };
}

export interface TrafficReport {
  readonly ingressFilter: boolean;
  readonly reverseTunnel: boolean;
  readonly probeIntervalMs: number;
  /** Before the first move, at the place the node was. */
  readonly start: { readonly place: MnPlace; readonly downstream: DirectionAtMove; readonly upstream: DirectionAtMove };
  readonly moves: MoveReport[];
  readonly tcp?: { readonly downstream: TcpReport; readonly upstream: TcpReport; readonly mbitPerSecond: number };
  /** ICMP echo every probe interval, from the correspondent to the home address and back: totals over the whole run. */
  readonly echo?: { readonly fromCorrespondent?: EchoCount; readonly fromMobileNode?: EchoCount };
  /** One line per direction that died at a move, saying which, where and why. */
  readonly verdicts: string[];
  /** Both directions delivered probes at every place and, when measured, both TCP connections held. */
  readonly bothWaysThroughEveryMove: boolean;
}

/** One direction in [fromNs, untilNs) of send time; arrivals counted until `arrivalLimitNs`. */
export function directionBetween(record: ProbeRecord, fromNs: number, untilNs: number, arrivalLimitNs: number, linkUpNs?: number): DirectionAtMove {
  let sent = 0;
  let received = 0;
  let firstArrival = Infinity;
  for (let i = 0; i < record.sentNs.length; i++) {
    const at = record.sentNs[i]!;
    if (at < fromNs || at >= untilNs) continue;
    sent++;
    const arrived = record.arrivedNs.get(record.sentSequences[i]!);
    if (arrived === undefined || arrived > arrivalLimitNs) continue;
    received++;
    if (arrived < firstArrival) firstArrival = arrived;
  }
  const found = Number.isFinite(firstArrival);
  return {
    sent,
    received,
    lost: sent - received,
    ...(found && linkUpNs !== undefined ? { firstAfterCarrierMs: round((firstArrival - linkUpNs) / 1e6), firstAfterLinkChangeMs: round((firstArrival - fromNs) / 1e6) } : {}),
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

export const DIRECTION_TEXT = { downstream: 'downstream (correspondent → mobile node)', upstream: 'upstream (mobile node → correspondent)' } as const;

/** The router interface facing each place's segment. */
const PLACE_DEVICE: Record<MnPlace, string> = Object.fromEntries(
  (['home', 'fa1', 'fa2', 'colocated'] as const).map((place) => [place, INGRESS_PREFIXES.find((p) => p.segment === PLACE_SEGMENT[place])!.device]),
) as Record<MnPlace, string>;

function dropsDelta(before: readonly IngressDrops[] | undefined, after: readonly IngressDrops[] | undefined): Record<string, number> | undefined {
  if (before === undefined || after === undefined) return undefined;
  const delta: Record<string, number> = {};
  for (const a of after) {
    const b = before.find((x) => x.device === a.device);
    const n = a.packets - (b?.packets ?? 0);
    if (n > 0) delta[a.device] = n;
  }
  return delta;
}

/** Why a direction died at a move, for the verdict line. */
export function verdictLine(direction: keyof typeof DIRECTION_TEXT, move: MoveReport, settings: { ingressFilter: boolean; reverseTunnel: boolean }): string {
  const where = `lost after the move to ${PLACE_LABEL[move.place]}`;
  const tunnel = settings.reverseTunnel ? 'reverse tunnelling was asked for' : 'reverse tunnelling is off';
  const device = PLACE_DEVICE[move.place];
  let cause: string;
  if (!settings.ingressFilter) cause = 'no ingress filter in this lab';
  else if (direction === 'upstream') cause = `ingress filter dropped ${move.ingressDrops?.[device] ?? 0} datagrams`;
  else cause = `ingress filter dropped ${Object.values(move.ingressDrops ?? {}).reduce((a, b) => a + b, 0)} datagrams`;
  return `${DIRECTION_TEXT[direction]} ${where}: ${cause}; ${tunnel} (${move[direction].sent} probes sent, none arrived)`;
}

/** The report from the records (pure). `endNs`: when the senders stopped. */
export function analyseTraffic(input: {
  readonly downstream: ProbeRecord;
  readonly upstream: ProbeRecord;
  readonly startPlace: MnPlace;
  readonly moves: readonly MoveInstants[];
  readonly endNs: number;
  readonly settings: { readonly ingressFilter: boolean; readonly reverseTunnel: boolean; readonly probeIntervalMs: number };
  readonly tcp?: { readonly downstream: TcpReport; readonly upstream: TcpReport; readonly mbitPerSecond: number };
  readonly echo?: TrafficReport['echo'];
}): TrafficReport {
  const { downstream, upstream, moves, endNs, settings } = input;
  const arrivalLimit = endNs + ARRIVAL_GRACE_MS * 1e6;
  const firstMove = moves[0]?.linkDownNs ?? endNs;
  const start = { place: input.startPlace, downstream: directionBetween(downstream, 0, firstMove, arrivalLimit), upstream: directionBetween(upstream, 0, firstMove, arrivalLimit) };
  const reports: MoveReport[] = moves.map((move, i) => {
    // Sends in the last grace period before the end may still be on the way: not counted.
    const until = i + 1 < moves.length ? moves[i + 1]!.linkDownNs : endNs - ARRIVAL_GRACE_MS * 1e6;
    const drops = dropsDelta(move.dropsBefore, move.dropsAfter);
    return {
      from: move.from,
      place: move.place,
      downstream: directionBetween(downstream, move.linkDownNs, until, arrivalLimit, move.linkUpNs),
      upstream: directionBetween(upstream, move.linkDownNs, until, arrivalLimit, move.linkUpNs),
      ...(drops !== undefined ? { ingressDrops: drops } : {}),
    };
  });
  const verdicts: string[] = [];
  for (const direction of ['downstream', 'upstream'] as const) {
    if (start[direction].sent > 0 && start[direction].received === 0) verdicts.push(`${DIRECTION_TEXT[direction]} never worked, before any move (at ${PLACE_LABEL[input.startPlace]})`);
    for (const move of reports) if (move[direction].sent > 0 && move[direction].received === 0) verdicts.push(verdictLine(direction, move, settings));
  }
  if (input.tcp !== undefined) {
    for (const direction of ['downstream', 'upstream'] as const) {
      const tcp = input.tcp[direction];
      if (!tcp.held) verdicts.push(`TCP ${DIRECTION_TEXT[direction]} did not hold${tcp.error !== undefined ? `: ${tcp.error}` : ''}`);
    }
  }
  const everyPlace = [start, ...reports].every((m) => m.downstream.received > 0 && m.upstream.received > 0);
  const tcpHeld = input.tcp === undefined || (input.tcp.downstream.held && input.tcp.upstream.held);
  return {
    ingressFilter: settings.ingressFilter,
    reverseTunnel: settings.reverseTunnel,
    probeIntervalMs: settings.probeIntervalMs,
    start,
    moves: reports,
    ...(input.tcp !== undefined ? { tcp: input.tcp } : {}),
    ...(input.echo !== undefined ? { echo: input.echo } : {}),
    verdicts,
    bothWaysThroughEveryMove: everyPlace && tcpHeld,
  };
}

/** What iperf3 prints when the harness ends its test with SIGINT: the normal end here. */
const IPERF_INTERRUPTED = 'interrupt - the client has terminated';

/**
 * iperf3's client JSON (`-J`) read into a TcpReport (pure). The harness stops the client with
 * SIGINT at the end of the sequence, so the figures are the sender's: bytes written per
 * interval (paced; a dead path fills the socket's buffer and the writes stop), retransmits, and
 * an error when the kernel gave up on the connection (`--snd-timeout`) or the route vanished.
 */
export function tcpReportFromIperf(json: string, exitCode: number | null): TcpReport {
  let parsed: {
    error?: string;
    intervals?: Array<{ sum?: { bytes?: number } }>;
    end?: { sum_sent?: { bytes?: number; retransmits?: number } };
  };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch {
    return { held: false, bytesSent: 0, longestStallSeconds: NaN, error: exitCode === null ? 'iperf3 did not finish (killed)' : `iperf3 exited ${exitCode} without a JSON report` };
  }
  const intervals = parsed.intervals ?? [];
  let stall = 0;
  let longest = 0;
  for (const interval of intervals) {
    stall = (interval.sum?.bytes ?? 0) === 0 ? stall + 1 : 0;
    longest = Math.max(longest, stall);
  }
  // The last full second: the interrupted last interval may be short.
  const lastFlowed = intervals.length >= 2 && intervals.slice(-3, -1).every((i) => (i.sum?.bytes ?? 0) > 0);
  const error = parsed.error === IPERF_INTERRUPTED ? undefined : parsed.error;
  const retransmits = parsed.end?.sum_sent?.retransmits;
  return {
    held: error === undefined && lastFlowed,
    bytesSent: parsed.end?.sum_sent?.bytes ?? 0,
    ...(retransmits !== undefined ? { retransmits } : {}),
    longestStallSeconds: longest * 0.5,
    ...(error !== undefined ? { error } : !lastFlowed ? { error: 'nothing was sent in its last second (the path is dead)' } : {}),
  };
}

function directionCell(d: DirectionAtMove): string {
  const first = d.firstAfterCarrierMs !== undefined ? `${d.firstAfterCarrierMs} ms` : d.sent > 0 && d.received === 0 ? 'never' : '-';
  return `${`${d.lost}/${d.sent}`.padStart(9)} lost, first ${first.padEnd(9)}`;
}

/** The report as a table and the verdict lines. */
export function trafficText(report: TrafficReport): string {
  const tcpText = report.tcp !== undefined ? `, iperf3 TCP ${report.tcp.mbitPerSecond} Mbit/s each way` : '';
  const lines = [
    `probes every ${report.probeIntervalMs} ms each way${tcpText}; ingress filter ${report.ingressFilter ? 'on' : 'off'}; reverse tunnelling ${report.reverseTunnel ? 'asked for' : 'off'}`,
    `  ${'move'.padEnd(20)} ${'downstream (CH → MN)'.padEnd(37)} ${'upstream (MN → CH)'.padEnd(37)} ingress drops`,
    `  ${`at ${PLACE_LABEL[report.start.place]} (start)`.padEnd(20)} ${directionCell(report.start.downstream)} ${directionCell(report.start.upstream)}`,
  ];
  for (const move of report.moves) {
    const drops = move.ingressDrops === undefined ? 'no filter' : Object.entries(move.ingressDrops).map(([d, n]) => `${d} ${n}`).join(', ') || '0';
    lines.push(`  ${`${PLACE_LABEL[move.from]} → ${PLACE_LABEL[move.place]}`.padEnd(20)} ${directionCell(move.downstream)} ${directionCell(move.upstream)} ${drops}`);
  }
  lines.push('  ("first": carrier back → the first probe sent after the link change arriving)');
  if (report.tcp !== undefined) {
    for (const direction of ['downstream', 'upstream'] as const) {
      const t = report.tcp[direction];
      const detail = `${(t.bytesSent / 1e6).toFixed(1)} MB sent, longest stall ${t.longestStallSeconds} s${t.retransmits !== undefined ? `, ${t.retransmits} retransmits` : ''}`;
      lines.push(`  TCP ${DIRECTION_TEXT[direction]}: ${t.held ? 'held' : 'did NOT hold'} (${detail}${t.error !== undefined ? `; ${t.error}` : ''})`);
    }
  }
  if (report.echo !== undefined) {
    const count = (c: EchoCount | undefined) => (c === undefined ? 'no count' : `${c.received} of ${c.transmitted} answered`);
    lines.push(`  ping every ${report.probeIntervalMs} ms (round trip): correspondent → home address ${count(report.echo.fromCorrespondent)}; mobile node → correspondent ${count(report.echo.fromMobileNode)}`);
  }
  for (const verdict of report.verdicts) lines.push(`verdict: ${verdict}`);
  lines.push(report.bothWaysThroughEveryMove ? 'verdict: both directions through every move' : 'verdict: NOT both directions through every move');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running it

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A process in a namespace with its stdout split into lines. */
class NamespacedProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private partial = '';
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(namespace: string, command: string, args: readonly string[], private readonly keepText = false, env?: NodeJS.ProcessEnv) {
    this.child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env !== undefined ? { env: { ...process.env, ...env } } : {}) });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.keepText) this.stdout += chunk;
      const split = (this.partial + chunk).split('\n');
      this.partial = split.pop() ?? '';
      this.lines.push(...split);
    });
    this.child.stderr!.resume();
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', waitMs = 3_000): Promise<void> {
    if (!this.running()) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), waitMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Why `mip4 lab traffic` cannot run here, or undefined. */
export function trafficToolProblem(tcp: boolean): string | undefined {
  const ping = spawnSync('ping', ['-V'], { encoding: 'utf8', timeout: 5_000 });
  if (ping.error !== undefined) return 'mip4 lab traffic needs ping: install it (apt-get install iputils-ping)';
  if (!tcp) return undefined;
  const probe = spawnSync('iperf3', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (probe.error !== undefined) return 'mip4 lab traffic needs iperf3 for its TCP streams: install it (apt-get install iperf3), or run it with --no-tcp';
  return undefined;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new LabError(`${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Runs the traffic through the moves on a lab that is up; the report. */
export async function labTraffic(options: TrafficOptions): Promise<TrafficReport> {
  const settings = labSettings(options);
  if (settings === undefined) throw new LabError(`no lab named '${options.name}' is up; 'mip4 lab up --name ${options.name}' makes one`);
  const moves = options.moves ?? TRAFFIC_MOVES;
  const dwellMs = options.dwellMs ?? 6_000;
  const warmupMs = options.warmupMs ?? 2_000;
  const interval = options.probeIntervalMs ?? 10;
  const tcp = options.tcp ?? true;
  const rate = options.tcpMbitPerSecond ?? 10;
  const toolProblem = trafficToolProblem(tcp);
  if (toolProblem !== undefined) throw new LabError(toolProblem);
  const say = options.progress ?? (() => undefined);
  const ns = (role: 'ch' | 'mn' | 'rt') => namespaceOf(options.name, role);
  const totalMs = warmupMs + moves.length * dwellMs;
  const processes: NamespacedProcess[] = [];
  const started = (p: NamespacedProcess) => (processes.push(p), p);
  const probeEnv = { PROBE_LIFETIME_MS: String(totalMs + 60_000) };
  try {
    const origin = process.hrtime.bigint();
    const nowNs = () => Number(process.hrtime.bigint() - origin);
    const downReceiver = started(new NamespacedProcess(ns('mn'), process.execPath, ['-e', PROBE_PROGRAM, 'receive', String(PROBE_PORT)], false, probeEnv));
    const upReceiver = started(new NamespacedProcess(ns('ch'), process.execPath, ['-e', PROBE_PROGRAM, 'receive', String(PROBE_PORT)], false, probeEnv));
    let iperfServers: NamespacedProcess[] = [];
    if (tcp) {
      iperfServers = [
        started(new NamespacedProcess(ns('mn'), 'iperf3', ['-s', '-1', '-p', String(IPERF_PORT.downstream), '--forceflush'], true)),
        started(new NamespacedProcess(ns('ch'), 'iperf3', ['-s', '-1', '-p', String(IPERF_PORT.upstream), '--forceflush'], true)),
      ];
    }
    await waitFor(() => downReceiver.lines.includes('listening') && upReceiver.lines.includes('listening'), 20_000, 'the probe receivers did not start');
    if (tcp) await waitFor(() => iperfServers.every((s) => s.stdout.includes('listening')), 10_000, 'the iperf3 servers did not start');

    const downSender = started(new NamespacedProcess(ns('ch'), process.execPath, ['-e', PROBE_PROGRAM, 'send', ADDRESSES.mobileNodeHome, String(PROBE_PORT), String(interval)], false, probeEnv));
    const upSender = started(new NamespacedProcess(ns('mn'), process.execPath, ['-e', PROBE_PROGRAM, 'send', ADDRESSES.correspondent, String(PROBE_PORT), String(interval)], false, probeEnv));
    // Longer than the sequence can take; stopped with SIGINT when the sequence ends (iperf3
    // then reports what it sent per interval; its peer's figures are not exchanged).
    const iperfSeconds = Math.ceil((totalMs + moves.length * 30_000) / 1000);
    const iperfArgs = (to: string, port: number) => ['-c', to, '-p', String(port), '-t', String(iperfSeconds), '-i', '0.5', '-b', `${rate}M`, '-J', '--connect-timeout', '5000', '--snd-timeout', '15000'];
    const pingArgs = (to: string) => ['-n', '-q', '-i', String(interval / 1000), '-W', '1', to];
    const pings = {
      fromCorrespondent: started(new NamespacedProcess(ns('ch'), 'ping', pingArgs(ADDRESSES.mobileNodeHome), true)),
      fromMobileNode: started(new NamespacedProcess(ns('mn'), 'ping', pingArgs(ADDRESSES.correspondent), true)),
    };
    const iperfClients = tcp
      ? {
          downstream: started(new NamespacedProcess(ns('ch'), 'iperf3', iperfArgs(ADDRESSES.mobileNodeHome, IPERF_PORT.downstream), true)),
          upstream: started(new NamespacedProcess(ns('mn'), 'iperf3', iperfArgs(ADDRESSES.correspondent, IPERF_PORT.upstream), true)),
        }
      : undefined;
    say(`traffic: probes every ${interval} ms each way${tcp ? `, iperf3 TCP ${rate} Mbit/s each way` : ''}; moves ${moves.map((m) => PLACE_LABEL[m]).join(' → ')}, ${dwellMs} ms at each place`);
    await sleep(warmupMs);

    const instants: MoveInstants[] = [];
    let place = settings.place;
    const startPlace = place;
    for (let i = 0; i < moves.length; i++) {
      const to = moves[i]!;
      const dropsBefore = settings.ingressFilter ? readIngressDrops(ns('rt')) : undefined;
      const move = await labMove({ name: options.name, stateDir: options.stateDir, place: to });
      say(`traffic: ${move.summary}`);
      await sleep(dwellMs);
      const dropsAfter = settings.ingressFilter ? readIngressDrops(ns('rt')) : undefined;
      instants.push({
        from: place,
        place: to,
        linkDownNs: Number(move.linkDownNs - origin),
        linkUpNs: Number(move.linkUpNs - origin),
        ...(dropsBefore !== undefined ? { dropsBefore } : {}),
        ...(dropsAfter !== undefined ? { dropsAfter } : {}),
      });
      place = to;
    }
    const endNs = nowNs();
    await Promise.all([downSender.stop(), upSender.stop(), pings.fromCorrespondent.stop('SIGINT'), pings.fromMobileNode.stop('SIGINT')]);
    const fromCorrespondent = echoCountFromPing(pings.fromCorrespondent.stdout);
    const fromMobileNode = echoCountFromPing(pings.fromMobileNode.stdout);
    await sleep(ARRIVAL_GRACE_MS);
    await Promise.all([downReceiver.stop(), upReceiver.stop()]);

    let tcpReports: TrafficReport['tcp'];
    if (iperfClients !== undefined) {
      // SIGINT: iperf3 ends the test and prints its JSON (one that no longer answers is killed).
      const codes = await Promise.all(
        (['downstream', 'upstream'] as const).map(async (d) => {
          const client = iperfClients[d];
          if (client.running()) await client.stop('SIGINT', 10_000);
          return client.child.signalCode === 'SIGKILL' ? null : client.child.exitCode;
        }),
      );
      tcpReports = {
        downstream: tcpReportFromIperf(iperfClients.downstream.stdout, codes[0]!),
        upstream: tcpReportFromIperf(iperfClients.upstream.stdout, codes[1]!),
        mbitPerSecond: rate,
      };
    }
    const downstream = emptyProbeRecord();
    const upstream = emptyProbeRecord();
    feedProbeLines(downstream, downSender.lines, origin);
    feedProbeLines(downstream, downReceiver.lines, origin);
    feedProbeLines(upstream, upSender.lines, origin);
    feedProbeLines(upstream, upReceiver.lines, origin);
    return analyseTraffic({
      downstream,
      upstream,
      startPlace,
      moves: instants,
      endNs,
      settings: { ingressFilter: settings.ingressFilter ?? false, reverseTunnel: settings.reverseTunnel ?? false, probeIntervalMs: interval },
      ...(tcpReports !== undefined ? { tcp: tcpReports } : {}),
      echo: { ...(fromCorrespondent !== undefined ? { fromCorrespondent } : {}), ...(fromMobileNode !== undefined ? { fromMobileNode } : {}) },
    });
  } finally {
    await Promise.all(processes.map((p) => p.stop('SIGKILL', 1_000)));
  }
}
