/**
 * Part 1: registration throughput and latency of the real `mip4 ha` daemon on 127.0.0.1,
 * driven by the C load generator (build/Release/reg_loadgen), against the bare node:dgram
 * baseline (bench/registration-baseline.ts) in the same run.
 *
 * Both servers start once with N mobile nodes and register every node once (so the loads are
 * renewals of existing bindings). Per repetition (the order of the two servers alternates):
 * closed loops with 1, 32 and 256 requests in flight, then an open loop at half of mip4's
 * peak of this repetition — the same rate for both servers.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { Report } from '../harness/report.js';
import { cpuSeconds, ROOT, runJson, Server } from '../harness/process.js';

export const LOADGEN = join(ROOT, 'build/Release/reg_loadgen');

const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const SPI = 4096;
const HOME_AGENT = '10.0.0.1';
const HOME_BASE = 0x0a000002; // 10.0.0.2: nodes are 10.0.0.2 … inside 10.0.0.0/8, never routed
const IN_FLIGHT = [1, 32, 256] as const;

export interface LoadResult {
  readonly mode: 'open' | 'closed';
  readonly inFlight: number;
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  readonly replies: number;
  readonly repliesPerSecond: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly bad: number;
  readonly lost: number;
  readonly late: number;
  readonly latencyUs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number };
  readonly lastReplySeconds: number;
  readonly generatorCpu: number;
  readonly codes: Record<string, number>;
  /** Added by the harness: the server's CPU use over the load (1 = one core busy). */
  serverCpu?: number;
}

export interface RegistrationOptions {
  readonly nodes: number;
  readonly seconds: number;
  readonly repetitions: number;
  readonly workDir: string;
}

export type ServerKind = 'mip4' | 'baseline';

/**
 * `store` is the file's store section; "none" by default, so that this part measures the
 * engine alone and the store's cost is measured apart, in the same run (bench/parts/store.ts).
 */
export function writeHomeAgentConfig(path: string, nodes: number, store: 'none' | { readonly path: string; readonly sync: 'full' | 'normal' } = 'none'): void {
  const mobileNodes = [];
  for (let i = 0; i < nodes; i++) mobileNodes.push({ homeAddress: ipv4ToString(HOME_BASE + i), spi: SPI, key: KEY, maxBindings: 1 });
  // JSON is YAML: the daemon reads it through its ordinary config loader.
  writeFileSync(
    path,
    JSON.stringify({
      homeAgent: { address: HOME_AGENT, homeNetwork: '10.0.0.0/8', listen: ['127.0.0.1:0'], broadcast: false, maxLifetime: 3600 },
      limits: { maxBindings: nodes + 10 },
      mobileNodes,
      // No control socket: benchmarks run several home agents at once (bench/udp-layers.ts),
      // which would otherwise meet at the default /run/mip4/ha.sock.
      control: { socket: 'none' },
      // MIP4_BENCH_METRICS=1: the same run with the /metrics endpoint on (docs/metrics.md), to
      // measure what the sampled processing-time histogram costs the registration path.
      ...(process.env.MIP4_BENCH_METRICS === '1' ? { metrics: { listen: '127.0.0.1:0' } } : {}),
      store,
    }),
    // Owner-only: mip4 refuses a config holding keys that others can read.
    { mode: 0o600 },
  );
}

export async function startServer(
  kind: ServerKind,
  options: { readonly nodes: number; readonly workDir: string },
  configPath: string,
  nodeArgs: readonly string[] = [],
): Promise<{ server: Server; port: number; startSeconds: number }> {
  const started = performance.now();
  const log = join(options.workDir, `${kind}.log`);
  const server =
    kind === 'mip4'
      ? new Server('mip4 ha', process.execPath, [...nodeArgs, join(ROOT, 'bin/mip4.js'), 'ha', '--config', configPath], log)
      : new Server('baseline', process.execPath, [
          ...nodeArgs,
          join(ROOT, 'dist/bench/registration-baseline.js'),
          '--nodes',
          String(options.nodes),
          '--home-base',
          ipv4ToString(HOME_BASE),
          '--home-agent',
          HOME_AGENT,
          '--spi',
          String(SPI),
          '--key',
          KEY,
        ], log);
  try {
    // Reading the configuration takes seconds per million nodes (more on a loaded machine).
    const listening = await server.waitForEvent('listening', Math.max(120_000, options.nodes * 0.3));
    const endpoint = kind === 'mip4' ? String((listening.endpoints as string[])[0]) : `127.0.0.1:${String(listening.port)}`;
    return { server, port: Number(endpoint.split(':').pop()), startSeconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** How long the generator waits for a reply before counting the request lost (its default). */
const REPLY_TIMEOUT_MS = 500;

/**
 * The reply timeout of one load. With one request in flight a lost one stalls the loop for the
 * whole timeout, so there it is at most a fifth of the load (100 ms in a 0.5 s quick load): a
 * loss costs part of a repetition instead of emptying it. With more in flight the others keep
 * the server busy meanwhile, and their latencies under load (tens of ms) need the longer wait.
 */
export function replyTimeoutMs(inFlight: number, seconds: number): number {
  return inFlight === 1 ? Math.min(REPLY_TIMEOUT_MS, (seconds * 1000) / 5) : REPLY_TIMEOUT_MS;
}

export function loadArgs(port: number, nodes: number, load: { inFlight: number } | { rate: number } | { count: number }, seconds: number): string[] {
  const args = ['--target', `127.0.0.1:${port}`, '--home-agent', HOME_AGENT, '--home-base', ipv4ToString(HOME_BASE), '--nodes', String(nodes), '--spi', String(SPI), '--key', KEY];
  if ('rate' in load) args.push('--mode', 'open', '--rate', String(Math.round(load.rate)), '--duration', String(seconds));
  else if ('count' in load) args.push('--mode', 'closed', '--in-flight', '256', '--count', String(load.count));
  else args.push('--mode', 'closed', '--in-flight', String(load.inFlight), '--duration', String(seconds));
  args.push('--timeout-ms', String('inFlight' in load ? replyTimeoutMs(load.inFlight, seconds) : REPLY_TIMEOUT_MS));
  return args;
}

export async function load(server: Server, args: string[], timeoutMs = 120_000): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(server.pid);
  const started = performance.now();
  const result = await runJson<LoadResult>(LOADGEN, args, timeoutMs);
  result.serverCpu = (cpuSeconds(server.pid) - cpuBefore) / ((performance.now() - started) / 1000);
  server.truncateLog();
  return result;
}

export async function registrationPart(options: RegistrationOptions): Promise<Report> {
  const report = new Report('1 registration');
  if (!existsSync(LOADGEN)) {
    report.missing('replies/s', 'reg/s', `the load generator ${LOADGEN} is not built (npm ci builds it with node-gyp)`);
    return report;
  }
  const configPath = join(options.workDir, 'ha-bench.json');
  writeHomeAgentConfig(configPath, options.nodes);

  // Both servers start once (an idle one costs nothing) and register every node once, so the
  // loads below renew existing bindings; the repetitions alternate which server goes first.
  const servers: Partial<Record<ServerKind, { server: Server; port: number; warm: LoadResult }>> = {};
  const runs: Array<Record<ServerKind, { warm: LoadResult; closed: Map<number, LoadResult>; open: LoadResult }>> = [];
  try {
    for (const kind of ['mip4', 'baseline'] as const) {
      const { server, port } = await startServer(kind, options, configPath);
      servers[kind] = { server, port, warm: undefined as unknown as LoadResult };
      servers[kind]!.warm = await load(server, loadArgs(port, options.nodes, { count: options.nodes }, 0));
    }
    for (let r = 0; r < options.repetitions; r++) {
      const order: ServerKind[] = r % 2 === 0 ? ['mip4', 'baseline'] : ['baseline', 'mip4'];
      const closed: Partial<Record<ServerKind, Map<number, LoadResult>>> = {};
      for (const kind of order) {
        const { server, port } = servers[kind]!;
        closed[kind] = new Map();
        for (const inFlight of IN_FLIGHT) closed[kind]!.set(inFlight, await load(server, loadArgs(port, options.nodes, { inFlight }, options.seconds)));
      }
      // Half of mip4's peak in this repetition, offered to both servers.
      const rate = Math.max(100, Math.max(...[...closed.mip4!.values()].map((l) => l.repliesPerSecond)) / 2);
      const open: Partial<Record<ServerKind, LoadResult>> = {};
      for (const kind of order) open[kind] = await load(servers[kind]!.server, loadArgs(servers[kind]!.port, options.nodes, { rate }, options.seconds));
      runs.push({
        mip4: { warm: servers.mip4!.warm, closed: closed.mip4!, open: open.mip4! },
        baseline: { warm: servers.baseline!.warm, closed: closed.baseline!, open: open.baseline! },
      });
    }
  } finally {
    for (const entry of Object.values(servers)) await entry?.server.stop();
  }

  const pick = (kind: ServerKind, f: (run: (typeof runs)[number][ServerKind]) => number) => runs.map((run) => f(run[kind]));
  const peakOf = (run: (typeof runs)[number][ServerKind]) => Math.max(...[...run.closed.values()].map((l) => l.repliesPerSecond));
  report.add({
    name: 'peak replies/s (best closed loop)',
    unit: 'reg/s',
    values: pick('mip4', peakOf),
    baseline: { name: 'node:dgram', values: pick('baseline', peakOf) },
    bar: { text: '≥ 30,000 reg/s', test: (m) => m >= 30_000 },
  });
  report.add({
    name: 'peak, fraction of baseline',
    unit: 'ratio',
    values: runs.map((run) => peakOf(run.mip4) / peakOf(run.baseline)),
    bar: { text: '≥ 0.50 of baseline', test: (m) => m >= 0.5 },
  });
  for (const inFlight of IN_FLIGHT) {
    const at = (run: (typeof runs)[number][ServerKind]) => run.closed.get(inFlight)!;
    report.add({ name: `closed ${inFlight} in flight: replies/s`, unit: 'reg/s', values: pick('mip4', (x) => at(x).repliesPerSecond), baseline: { name: 'node:dgram', values: pick('baseline', (x) => at(x).repliesPerSecond) } });
    report.add({ name: `closed ${inFlight} in flight: p50`, unit: 'ms', values: pick('mip4', (x) => at(x).latencyUs.p50 / 1000), baseline: { name: 'node:dgram', values: pick('baseline', (x) => at(x).latencyUs.p50 / 1000) } });
    report.add({ name: `closed ${inFlight} in flight: p99`, unit: 'ms', values: pick('mip4', (x) => at(x).latencyUs.p99 / 1000), baseline: { name: 'node:dgram', values: pick('baseline', (x) => at(x).latencyUs.p99 / 1000) } });
    report.add({ name: `closed ${inFlight} in flight: p99.9`, unit: 'ms', values: pick('mip4', (x) => at(x).latencyUs.p999 / 1000), baseline: { name: 'node:dgram', values: pick('baseline', (x) => at(x).latencyUs.p999 / 1000) } });
    report.add({ name: `closed ${inFlight} in flight: lost`, unit: 'requests', values: pick('mip4', (x) => at(x).lost), baseline: { name: 'node:dgram', values: pick('baseline', (x) => at(x).lost) } });
  }
  report.add({ name: 'open loop at ½ peak: offered', unit: 'req/s', values: pick('mip4', (x) => x.open.rate) });
  report.add({ name: 'open loop at ½ peak: replies/s', unit: 'reg/s', values: pick('mip4', (x) => x.open.repliesPerSecond), baseline: { name: 'node:dgram', values: pick('baseline', (x) => x.open.repliesPerSecond) } });
  report.add({ name: 'open loop at ½ peak: p50', unit: 'ms', values: pick('mip4', (x) => x.open.latencyUs.p50 / 1000), baseline: { name: 'node:dgram', values: pick('baseline', (x) => x.open.latencyUs.p50 / 1000) } });
  report.add({
    name: 'open loop at ½ peak: p99',
    unit: 'ms',
    values: pick('mip4', (x) => x.open.latencyUs.p99 / 1000),
    baseline: { name: 'node:dgram', values: pick('baseline', (x) => x.open.latencyUs.p99 / 1000) },
    bar: { text: '≤ 5 ms', test: (m) => m <= 5 },
  });
  report.add({ name: 'open loop at ½ peak: p99.9', unit: 'ms', values: pick('mip4', (x) => x.open.latencyUs.p999 / 1000), baseline: { name: 'node:dgram', values: pick('baseline', (x) => x.open.latencyUs.p999 / 1000) } });
  report.add({ name: 'open loop at ½ peak: lost', unit: 'requests', values: pick('mip4', (x) => x.open.lost), baseline: { name: 'node:dgram', values: pick('baseline', (x) => x.open.lost) } });
  const all = (kind: ServerKind) => [runs[0]![kind].warm, ...runs.flatMap((run) => [...run[kind].closed.values(), run[kind].open])];
  report.add({ name: 'bad or rejected replies per repetition', unit: 'replies', values: runs.map((run) => [...run.mip4.closed.values(), run.mip4.open].reduce((s, l) => s + l.bad + l.rejected, 0)), baseline: { name: 'node:dgram', values: runs.map((run) => [...run.baseline.closed.values(), run.baseline.open].reduce((s, l) => s + l.bad + l.rejected, 0)) } });
  report.add({ name: 'generator CPU (max over loads)', unit: 'cores', values: runs.map((run) => Math.max(...[...run.mip4.closed.values(), run.mip4.open].map((l) => l.generatorCpu))) });
  report.add({ name: 'server CPU at peak', unit: 'cores', values: pick('mip4', (x) => [...x.closed.values()].reduce((a, b) => (b.repliesPerSecond > a.repliesPerSecond ? b : a)).serverCpu ?? NaN), baseline: { name: 'node:dgram', values: pick('baseline', (x) => [...x.closed.values()].reduce((a, b) => (b.repliesPerSecond > a.repliesPerSecond ? b : a)).serverCpu ?? NaN) } });
  const codes = (kind: ServerKind) => {
    const total: Record<string, number> = {};
    for (const l of all(kind)) for (const [code, count] of Object.entries(l.codes)) total[code] = (total[code] ?? 0) + count;
    return total;
  };
  report.note(`${options.nodes} mobile nodes, ${options.seconds} s per load; a request unanswered after ${replyTimeoutMs(1, options.seconds)} ms (closed 1 in flight) or ${REPLY_TIMEOUT_MS} ms (other loads) counts as lost; reply codes mip4 ${JSON.stringify(codes('mip4'))}, baseline ${JSON.stringify(codes('baseline'))}`);
  report.raw.runs = runs.map((run) => ({
    mip4: { ...run.mip4, closed: Object.fromEntries(run.mip4.closed) },
    baseline: { ...run.baseline, closed: Object.fromEntries(run.baseline.closed) },
  }));
  return report;
}
