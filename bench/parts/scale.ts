/**
 * Part 2: scale. bench/ha-scale.ts in a fresh process per repetition (N bindings in one home
 * agent: heap and RSS per binding, creation and renewal rates through the whole registration
 * path, expiry lateness on the real clock), then the re-registration storm: the `mip4 ha`
 * daemon restarted with no bindings and every configured node registering at once (the C
 * generator, 256 in flight), timed until the last node is bound.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Report } from '../harness/report.js';
import { ROOT, runJson } from '../harness/process.js';
import { load, loadArgs, LOADGEN, startServer, writeHomeAgentConfig, type LoadResult } from './registration.js';

export interface ScaleOptions {
  readonly bindings: number;
  readonly repetitions: number;
  /** Mobile nodes configured in the daemon for the storm (its YAML loader bounds this). */
  readonly stormNodes: number;
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

export async function scalePart(options: ScaleOptions): Promise<Report> {
  const report = new Report('2 scale');
  const runs: HaScale[] = [];
  const heapLimitMb = Math.max(4096, Math.ceil((options.bindings * 6000) / 2 ** 20));
  for (let r = 0; r < options.repetitions; r++) {
    runs.push(await runJson<HaScale>(process.execPath, ['--expose-gc', `--max-old-space-size=${heapLimitMb}`, join(ROOT, 'dist/bench/ha-scale.js'), String(options.bindings)], 30 * 60_000));
  }
  const reg = (f: (r: HaScale['registration']) => number) => runs.map((r) => f(r.registration));
  const n = options.bindings.toLocaleString('en');
  report.add({ name: `heap per binding (${n})`, unit: 'B', values: reg((r) => r.bindingBytes), bar: { text: '≤ 1,536 B', test: (m) => m <= 1536 } });
  report.add({ name: `RSS growth per binding (${n})`, unit: 'B', values: reg((r) => r.bindingRssBytes), note: 'includes the prepared requests and heap not yet returned to the system' });
  report.add({ name: 'heap per configured node', unit: 'B', values: reg((r) => r.configBytesPerNode) });
  report.add({ name: 'creations/s (in process, whole path)', unit: '/s', values: reg((r) => r.createdPerSecond), bar: { text: '≥ 100k/s', test: (m) => m >= 100_000 } });
  report.add({ name: 'renewals/s (in process, whole path)', unit: '/s', values: reg((r) => r.renewedPerSecond) });
  report.add({ name: 'actor host alone: spawns/s', unit: '/s', values: runs.map((r) => r.actorHost.spawnedPerSecond) });
  report.add({ name: 'actor host alone: events/s', unit: '/s', values: runs.map((r) => r.actorHost.eventsPerSecond) });
  report.add({ name: 'expiry lateness p50 (2,000, real clock)', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.p50) });
  report.add({ name: 'expiry lateness p99', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.p99), bar: { text: '≤ 10 ms', test: (m) => m <= 10 } });
  report.add({ name: 'expiry lateness max', unit: 'ms', values: runs.map((r) => r.expiryLatenessMs.max) });
  report.raw.haScale = runs;

  if (!existsSync(LOADGEN)) {
    report.missing('re-registration storm', 's', 'the load generator is not built (npm ci)');
    return report;
  }
  const configPath = join(options.workDir, 'ha-storm.json');
  writeHomeAgentConfig(configPath, options.stormNodes);
  const storms: LoadResult[] = [];
  const starts: number[] = [];
  for (let r = 0; r < options.repetitions; r++) {
    const { server, port, startSeconds } = await startServer('mip4', { nodes: options.stormNodes, workDir: options.workDir }, configPath);
    starts.push(startSeconds);
    try {
      storms.push(await load(server, loadArgs(port, options.stormNodes, { count: options.stormNodes }, 0)));
    } finally {
      await server.stop();
    }
  }
  const m = options.stormNodes.toLocaleString('en');
  report.add({ name: `daemon start with ${m} nodes configured`, unit: 's', values: starts, note: 'process start to listening: mostly reading and validating the config' });
  report.add({ name: `storm after restart: all ${m} bound`, unit: 's', values: storms.map((s) => s.lastReplySeconds) });
  report.add({ name: 'storm: registrations/s', unit: 'reg/s', values: storms.map((s) => s.accepted / s.lastReplySeconds) });
  report.add({ name: 'storm: lost (left unbound)', unit: 'nodes', values: storms.map((s) => s.lost) });
  report.add({
    name: `storm: 1,000,000 at that rate (estimate)`,
    unit: 's',
    values: storms.map((s) => 1_000_000 / (s.accepted / s.lastReplySeconds)),
    note: `the storm runs with ${m} configured nodes (the daemon's config loader is slow, see its start time) and 1,000,000 is extrapolated from its rate; in process, without sockets, the creation rate above applies`,
  });
  report.raw.storms = storms;
  return report;
}
