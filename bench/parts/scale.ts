/**
 * Part 2: scale. bench/ha-scale.ts in a fresh process per repetition (N bindings in one home
 * agent: heap and RSS per binding, creation and renewal rates through the whole registration
 * path, expiry lateness on the real clock), and the re-registration storm: the `mip4 ha`
 * daemon restarted with N configured nodes and no bindings, every node registering at once
 * (the C generator, 256 in flight), timed until the last node is bound. At a million each
 * repetition takes minutes here, so repetitions beyond the first stop at a time budget.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Report } from '../harness/report.js';
import { ROOT, runJson } from '../harness/process.js';
import { load, loadArgs, LOADGEN, startServer, writeHomeAgentConfig, type LoadResult } from './registration.js';

export interface ScaleOptions {
  /** Bindings in the in-process probe, and mobile nodes configured in the daemon for the storm. */
  readonly bindings: number;
  readonly repetitions: number;
  /**
   * Repetitions after the first of each measurement run only while the part has used less
   * than this (a million-node repetition takes minutes on a loaded 2-vCPU machine).
   */
  readonly budgetSeconds: number;
  readonly workDir: string;
}

interface HaScale {
  readonly n: number;
  readonly registration: {
    readonly configBytesPerNode: number;
    readonly bindingBytes: number;
    readonly configRssBytesPerNode: number;
    readonly bindingRssBytes: number;
    readonly createdPerSecond: number;
    readonly renewedPerSecond: number;
    readonly bindings: number;
  };
  readonly actorHost: { readonly bytesPerActor: number; readonly spawnedPerSecond: number; readonly eventsPerSecond: number; readonly expiredPerSecond: number };
  readonly expiryLatenessMs: { readonly count: number; readonly p50: number; readonly p99: number; readonly max: number };
}

/** Resident set size of a process (Linux /proc), bytes, or NaN. */
function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
  } catch {
    return NaN;
  }
}

interface Storm {
  readonly startSeconds: number;
  readonly rssAfterStart: number;
  readonly rssAfterStorm: number;
  readonly load: LoadResult;
}

export async function scalePart(options: ScaleOptions): Promise<Report> {
  const report = new Report('2 scale');
  const began = performance.now();
  const n = options.bindings;
  const heapLimitMb = Math.max(4096, Math.ceil((n * 6000) / 2 ** 20));
  const configPath = join(options.workDir, 'ha-storm.json');
  const canStorm = existsSync(LOADGEN);
  if (canStorm) writeHomeAgentConfig(configPath, n);
  // The daemon's own RSS with one node, subtracted from the per-node figures below.
  let idleRss = NaN;
  if (canStorm) {
    const idlePath = join(options.workDir, 'ha-idle.json');
    writeHomeAgentConfig(idlePath, 1);
    const { server } = await startServer('mip4', { nodes: 1, workDir: options.workDir }, idlePath);
    idleRss = rssBytes(server.pid);
    server.truncateLog(); // the next daemon logs to the same file and must not find this one's "listening"
    await server.stop();
  }

  const probe = () => runJson<HaScale>(process.execPath, ['--expose-gc', `--max-old-space-size=${heapLimitMb}`, join(ROOT, 'dist/bench/ha-scale.js'), String(n)], 30 * 60_000);
  // The restart storm: the daemon started with no bindings, every configured node registering
  // at once (256 in flight), until the last reply. A request unanswered after 1 s counts as
  // lost: a mobile node would send a new one then (3.6.3: no sooner than 1 second), which the
  // generator does not model. The whole storm may take minutes for a million nodes.
  const storm = async (): Promise<Storm> => {
    const { server, port, startSeconds } = await startServer('mip4', { nodes: n, workDir: options.workDir }, configPath, [`--max-old-space-size=${heapLimitMb}`]);
    try {
      const rssAfterStart = rssBytes(server.pid);
      const result = await load(server, [...loadArgs(port, n, { count: n }, 0), '--timeout-ms', '1000'], Math.max(120_000, n * 2));
      return { startSeconds, rssAfterStart, rssAfterStorm: rssBytes(server.pid), load: result };
    } finally {
      await server.stop();
    }
  };

  // One of each first, then more while the budget lasts: a repetition starts only if one as
  // long as the longest so far still fits.
  const runs: HaScale[] = [];
  const storms: Storm[] = [];
  const longest = { probe: 0, storm: 0 };
  const timed = async <T>(what: keyof typeof longest, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await f();
    longest[what] = Math.max(longest[what], (performance.now() - t) / 1000);
    return result;
  };
  const fits = (what: keyof typeof longest) => (performance.now() - began) / 1000 + longest[what] <= options.budgetSeconds;
  for (let r = 0; r < options.repetitions; r++) {
    if (r === 0 || fits('probe')) runs.push(await timed('probe', probe));
    if (canStorm && (r === 0 || fits('storm'))) storms.push(await timed('storm', storm));
  }
  const cut = (what: string, done: number) => {
    if (done < options.repetitions) report.note(`${what}: ${done} of ${options.repetitions} repetitions, as more would pass the part's ${options.budgetSeconds} s budget at this size`);
  };
  const m = n.toLocaleString('en');
  cut(`in-process probe (${m} bindings)`, runs.length);
  if (canStorm) cut('restart storm', storms.length);

  const reg = (f: (r: HaScale['registration']) => number) => runs.map((r) => f(r.registration));
  report.add({ name: `heap per binding (${m})`, unit: 'B', values: reg((r) => r.bindingBytes), bar: { text: '≤ 1,536 B', test: (v) => v <= 1536 } });
  report.add({ name: `RSS growth per binding (${m})`, unit: 'B', values: reg((r) => r.bindingRssBytes), note: 'includes the prepared requests and heap not yet returned to the system' });
  report.add({ name: 'heap per configured node', unit: 'B', values: reg((r) => r.configBytesPerNode) });
  report.add({ name: 'creations/s (in process, whole path)', unit: '/s', values: reg((r) => r.createdPerSecond), bar: { text: '≥ 100k/s', test: (v) => v >= 100_000 } });
  report.add({ name: 'renewals/s (in process, whole path)', unit: '/s', values: reg((r) => r.renewedPerSecond) });
  report.add({ name: 'actor host alone: spawns/s', unit: '/s', values: runs.map((r) => r.actorHost.spawnedPerSecond) });
  report.add({ name: 'actor host alone: events/s', unit: '/s', values: runs.map((r) => r.actorHost.eventsPerSecond) });
  report.add({ name: 'expiry lateness p50 (2,000, real clock)', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.p50) });
  report.add({ name: 'expiry lateness p99', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.p99), bar: { text: '≤ 10 ms', test: (v) => v <= 10 } });
  report.add({ name: 'expiry lateness max', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.max) });
  report.raw.haScale = runs;

  if (!canStorm) {
    report.missing('re-registration storm', 's', 'the load generator is not built (npm ci)');
    return report;
  }
  report.add({ name: `daemon start with ${m} nodes configured`, unit: 's', values: storms.map((s) => s.startSeconds), note: 'process start to listening: mostly reading and validating the JSON config' });
  report.add({ name: 'daemon RSS per configured node (after start)', unit: 'B', values: storms.map((s) => (s.rssAfterStart - idleRss) / n), note: 'above a daemon with one node; includes heap not yet returned after reading the file' });
  report.add({ name: 'daemon RSS per node once all are bound', unit: 'B', values: storms.map((s) => (s.rssAfterStorm - idleRss) / n), note: 'configuration, binding, prepared key, and heap not yet returned' });
  report.add({ name: `storm after restart: all ${m} bound`, unit: 's', values: storms.map((s) => s.load.lastReplySeconds) });
  report.add({ name: 'storm: registrations/s', unit: 'reg/s', values: storms.map((s) => s.load.accepted / s.load.lastReplySeconds) });
  report.add({ name: 'storm: unanswered within 1 s', unit: 'nodes', values: storms.map((s) => s.load.lost), note: 'a node would send a new request (3.6.3); the generator moves on' });
  report.add({ name: 'storm: never answered', unit: 'nodes', values: storms.map((s) => s.load.lost - s.load.late), note: 'late replies are counted as answered' });
  report.add({ name: 'storm: daemon CPU', unit: 'cores', values: storms.map((s) => s.load.serverCpu ?? NaN) });
  report.raw.storms = storms;
  report.raw.idleDaemonRss = idleRss;
  return report;
}
