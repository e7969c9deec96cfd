/**
 * `npm run bench`: mip4 measured against this machine's own limits, in the same run (issue 7).
 *
 *   npm run bench                 the full run (1,000,000 bindings, longer loads, 5 repetitions)
 *   npm run bench -- --quick      under two minutes: smaller sizes, 3 repetitions
 *   npm run bench -- --only 1,4   only some parts (1 registration, 2 scale, 3 tunnel,
 *                                 4 handoff, 5 profile, 6 store, 7 UDP tunnel,
 *                                 8 data path engines end to end: bpf, userspace, kernel)
 *
 * Prints a table (min / median / max of the repetitions, the baseline's median, the ratio per
 * repetition, the issue's bar) and writes bench/results/latest.json. A part that cannot run
 * here (no root for the namespace lab, a tool missing) says why and the others still run.
 * Exit status 0 unless the harness itself broke: a figure below its bar never fails the run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, formatTable, Report } from './harness/report.js';
import { ROOT } from './harness/process.js';
import { handoffPart } from './parts/handoff.js';
import { labEnginesPart } from './parts/lab-engines.js';
import { profilePart } from './parts/profile.js';
import { registrationPart } from './parts/registration.js';
import { scalePart } from './parts/scale.js';
import { storePart } from './parts/store.js';
import { tunnelPart } from './parts/tunnel.js';
import { udpTunnelPart } from './parts/udp-tunnel.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results/latest.json') },
  },
});
const quick = values.quick!;
const only = new Set((values.only ?? '1,2,3,4,5,6,7,8').split(',').map((s) => s.trim()));
const repetitions = quick ? 3 : 5;

const workDir = mkdtempSync(join(tmpdir(), 'mip4-bench-'));
// Also when a part exits on SIGINT or SIGTERM (after removing its namespaces).
const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
process.once('exit', removeWorkDir);
const machine = describeMachine(ROOT);
console.log(
  `mip4 bench (${quick ? 'quick' : 'full'}): ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, Linux ${machine.kernel}, load ${machine.loadAverageAtStart.join(' ')}`,
);

const parts: Array<{ id: string; title: string; run: () => Promise<Report> }> = [
  { id: '1', title: 'registration throughput and latency', run: () => registrationPart({ nodes: quick ? 2_000 : 100_000, seconds: quick ? 0.5 : 3, repetitions, workDir }) },
  { id: '2', title: 'scale', run: () => scalePart({ bindings: quick ? 10_000 : 1_000_000, repetitions: 3, budgetSeconds: quick ? 90 : 600, workDir }) },
  { id: '3', title: 'tunnel throughput', run: () => tunnelPart({ seconds: quick ? 1 : 5, repetitions, workDir }) },
  {
    id: '4',
    title: 'handoff',
    run: () =>
      handoffPart({
        seeds: quick ? 3 : 5,
        pingIntervalMs: quick ? 5 : 1,
        lab: quick
          ? { repetitions: 1, intervalMs: 2, workDir, note: 'quick: one round in the lab (the full run makes 3)' }
          : { repetitions: 3, intervalMs: 1, workDir },
      }),
  },
  { id: '5', title: 'cost of the frameworks', run: () => profilePart({ nodes: quick ? 2_000 : 20_000, seconds: quick ? 1 : 5, repetitions: 3, planeBatches: quick ? 500 : 5_000, workDir }) },
  {
    id: '6',
    title: 'store: registration rate with and without, restart with stored bindings',
    run: () => storePart({ nodes: quick ? 2_000 : 100_000, seconds: quick ? 0.5 : 3, repetitions, restartBindings: quick ? 20_000 : 1_000_000, workDir }),
  },
  { id: '7', title: 'UDP tunnel (RFC 3519) vs IP-in-IP and kernel forwarding', run: () => udpTunnelPart({ seconds: quick ? 1 : 5, repetitions, workDir }) },
  { id: '8', title: 'data path engines end to end (lab): bpf, userspace, kernel forwarding; registration storm', run: () => labEnginesPart({ quick, workDir }) },
];

const reports: Report[] = [];
const started = performance.now();
let broken = false;

/** Written after every part, so a long full run that is stopped keeps what it measured. */
function writeResults(): void {
  const result = {
    command: `npm run bench${quick ? ' -- --quick' : ''}${values.only ? ` -- --only ${values.only}` : ''}`,
    date: new Date().toISOString(),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    quick,
    repetitions,
    machine,
    parts: reports.map((r) => ({ part: r.part, figures: r.figures, notes: r.notes, raw: r.raw })),
  };
  mkdirSync(join(values.out!, '..'), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(result, null, 2)}\n`);
}
try {
  for (const part of parts) {
    if (!only.has(part.id)) continue;
    const t = performance.now();
    process.stdout.write(`part ${part.id}: ${part.title} … `);
    try {
      const report = await part.run();
      reports.push(report);
      console.log(`${((performance.now() - t) / 1000).toFixed(1)} s`);
    } catch (error) {
      // The harness broke in this part: say so, keep the other parts, fail the run at the end.
      broken = true;
      const report = new Report(`${part.id} ${part.title}`);
      report.note(`harness error: ${error instanceof Error ? error.message : String(error)}`);
      reports.push(report);
      console.log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
    writeResults();
  }
} finally {
  removeWorkDir();
}

console.log('');
console.log(formatTable(reports));
writeResults();
console.log(`\n${Math.round((performance.now() - started) / 100) / 10} s; results in ${values.out}`);
process.exitCode = broken ? 1 : 0;
