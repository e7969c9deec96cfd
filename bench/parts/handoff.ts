/**
 * Part 4: handoff on the simulated network, from the roaming demo (runtime/demo.ts) run with
 * a ping every millisecond (every 5 ms with --quick), one run per seed (deterministic: the same seed gives the same
 * figures). Per move: link change → first packet delivered at the new place, advertisement →
 * registration accepted, and packets lost. The trigger is the advertisement the node heard
 * before registering, or the link change itself when it registered without one (co-located). The bar (issue 7): the first packet after the
 * advertisement that triggers the move within 2 × the MN–HA round trip + 10 ms.
 *
 * The MN–HA round trip of a move follows from the demo's segment latencies and the path a
 * Request takes: through a foreign agent MN → FA on the foreign segment, FA → router on the
 * same segment, router → HA on the home segment; co-located MN → router → HA; at home MN → HA.
 */
import { DEMO_SEGMENT_LATENCY_MS, runDemo, type DemoPhase } from '../../runtime/demo.js';
import { Report } from '../harness/report.js';

function roundTripMs(phase: DemoPhase): number {
  const l = DEMO_SEGMENT_LATENCY_MS;
  switch (phase.via) {
    case 'FA1':
      return 2 * (2 * l['foreign-1'] + l.home);
    case 'FA2':
      return 2 * (2 * l['foreign-2'] + l.home);
    case 'co-located':
      return 2 * (l['foreign-2'] + l.home);
    default:
      return 2 * l.home;
  }
}

export async function handoffPart(options: { readonly seeds: number; readonly pingIntervalMs: number }): Promise<Report> {
  const PING_INTERVAL_MS = options.pingIntervalMs;
  const report = new Report('4 handoff (sim)');
  const runs: DemoPhase[][] = [];
  for (let seed = 1; seed <= options.seeds; seed++) runs.push((await runDemo({ seed, pingIntervalMs: PING_INTERVAL_MS })).phases);
  const moves = runs[0]!.slice(1).map((p) => p.name);
  for (const move of moves) {
    const phases = runs.map((phases) => phases.find((p) => p.name === move)!);
    const label = `${move} (via ${phases[0]!.via})`;
    const rtt = roundTripMs(phases[0]!);
    report.add({ name: `${label}: link change → first packet`, unit: `ms (±${PING_INTERVAL_MS})`, values: phases.map((p) => p.handoffMs ?? NaN) });
    report.add({
      name: `${label}: trigger → first packet`,
      unit: `ms (±${PING_INTERVAL_MS})`,
      values: phases.map((p) => (p.handoffMs ?? NaN) - (p.advertisementMs ?? 0)),
      bar: { text: `≤ 2 × ${rtt} ms RTT + 10 = ${2 * rtt + 10} ms`, test: (m) => m <= 2 * rtt + 10 },
    });
    report.add({ name: `${label}: trigger → registered`, unit: 'ms', values: phases.map((p) => (p.registeredMs ?? NaN) - (p.advertisementMs ?? 0)) });
    report.add({ name: `${label}: packets lost`, unit: `pings (1/${PING_INTERVAL_MS} ms)`, values: phases.map((p) => p.lost) });
  }
  report.note(`${options.seeds} seeds (1…${options.seeds}), ping every ${PING_INTERVAL_MS} ms, simulated time; lab (real namespaces) handoff: not measured here; test/e2e/lab.test.ts prints the pings lost per move of mip4 lab`);
  report.raw.phases = runs;
  return report;
}
