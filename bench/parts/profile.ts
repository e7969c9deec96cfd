/**
 * Part 5: cost of the frameworks. The `mip4 ha` daemon runs under `node --cpu-prof` while the
 * C generator registers every node and then renews with 32 in flight; the profile is summarised
 * by layer (bench/harness/cpu-profile.ts) and turned into µs per registration. The same for the
 * data plane per packet, profiling bench/data-plane.ts (64-byte datagrams in batches of 64
 * through homeAgentDataPlane; its plain header loops count as "benchmark driver" and are left
 * out of the per-packet figures).
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { summariseProfile, type LayerShares } from '../harness/cpu-profile.js';
import { ROOT, runJson } from '../harness/process.js';
import { Report } from '../harness/report.js';
import { load, loadArgs, LOADGEN, startServer, writeHomeAgentConfig, type LoadResult } from './registration.js';

const CONFIG_FUNCTIONS = ['loadHomeAgentConfig', 'homeAgentConfigFromDocument', 'loadConfigOrReport'];
const DATA_PLANE_SETUP = ['makeBatches'];

function profileIn(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return join(dir, file);
}

function addLayers(report: Report, prefix: string, unit: string, runs: Array<{ shares: LayerShares; units: number }>, skip: readonly string[] = []): void {
  const layers = new Set(runs.flatMap((r) => Object.keys(r.shares.shares)).filter((l) => !skip.includes(l)));
  const perUnit = (r: { shares: LayerShares; units: number }, layer: string) => {
    const kept = Object.entries(r.shares.shares).filter(([l]) => !skip.includes(l)).reduce((s, [, v]) => s + v, 0);
    const busyUs = r.shares.busySamples * r.shares.intervalUs * kept;
    return (((r.shares.shares[layer] ?? 0) / Math.max(kept, 1e-9)) * busyUs) / r.units;
  };
  const rows = [...layers].map((layer) => ({ layer, values: runs.map((r) => perUnit(r, layer)) }));
  rows.sort((a, b) => b.values.reduce((s, v) => s + v, 0) - a.values.reduce((s, v) => s + v, 0));
  const totals = runs.map((r) => [...layers].reduce((s, layer) => s + perUnit(r, layer), 0));
  report.add({ name: `${prefix}: total CPU`, unit, values: totals });
  for (const { layer, values } of rows) {
    const share = values.map((v, i) => v / totals[i]!);
    report.add({ name: `${prefix}: ${layer}`, unit, values, note: undefined });
    report.raw[`${prefix}: ${layer} share`] = share;
  }
}

export async function profilePart(options: { readonly nodes: number; readonly seconds: number; readonly repetitions: number; readonly planeBatches: number; readonly workDir: string }): Promise<Report> {
  const report = new Report('5 profile');
  if (!existsSync(LOADGEN)) {
    report.missing('per registration', 'µs', 'the load generator is not built (npm ci)');
  } else {
    const configPath = join(options.workDir, 'ha-profile.json');
    writeHomeAgentConfig(configPath, options.nodes);
    const runs: Array<{ shares: LayerShares; units: number }> = [];
    for (let r = 0; r < options.repetitions; r++) {
      const dir = join(options.workDir, `ha-profile-${r}`);
      mkdirSync(dir, { recursive: true });
      const { server, port } = await startServer('mip4', { nodes: options.nodes, workDir: options.workDir }, configPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const loads: LoadResult[] = [];
      try {
        loads.push(await load(server, loadArgs(port, options.nodes, { count: options.nodes }, 0)));
        loads.push(await load(server, loadArgs(port, options.nodes, { inFlight: 32 }, options.seconds)));
      } finally {
        await server.stop();
      }
      runs.push({ shares: summariseProfile(profileIn(dir), CONFIG_FUNCTIONS), units: loads.reduce((s, l) => s + l.replies, 0) });
    }
    addLayers(report, 'HA per registration', 'µs', runs);
    report.raw.ha = runs;
  }

  const batches = options.planeBatches;
  const repetitions = 1;
  const planeRuns: Array<{ shares: LayerShares; units: number }> = [];
  for (let r = 0; r < options.repetitions; r++) {
    const dir = join(options.workDir, `plane-profile-${r}`);
    mkdirSync(dir, { recursive: true });
    await runJson(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, join(ROOT, 'dist/bench/data-plane.js'), String(batches), String(repetitions), '64', '--json'], 300_000);
    // Warm-up plus the repetitions, for each of the three encapsulations.
    const packets = (1 + repetitions) * 3 * batches * 64;
    planeRuns.push({ shares: summariseProfile(profileIn(dir), DATA_PLANE_SETUP), units: packets });
  }
  addLayers(report, 'data plane per packet', 'µs', planeRuns, ['benchmark driver']);
  report.raw.dataPlane = planeRuns;
  report.note(`HA: ${options.nodes} nodes registered, then ${options.seconds} s of renewals with 32 in flight, under --cpu-prof; layers by script URL (bench/harness/cpu-profile.ts); start-up (config loading) excluded`);
  return report;
}
