/**
 * The cost of the operator log's reply line (runtime/cli/operator-log.ts) against what it
 * replaced and what it avoids, in the same run, alternating order between repetitions:
 * - jsonLine: the assembled reply line without time and level (before the operator log);
 * - OperatorLog.line: the same with the cached ISO time and the level in front;
 * - JSON.stringify({ time, level, ...event }) with a fresh toISOString: the obvious way.
 * Each case makes N lines of a reply event as the home agent emits it (a new object each).
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/log-line.js [N] [repetitions]
 */
import { jsonLine } from '../runtime/cli/log-line.js';
import { OperatorLog } from '../runtime/cli/operator-log.js';

const N = Number(process.argv[2] ?? 1_000_000);
const REPETITIONS = Number(process.argv[3] ?? 5);

const replyEvent = (i: number) => ({
  event: 'reply',
  trace: `mivzk3a1.${i.toString(36)}`,
  at: 1_765_000_000_000 + i,
  code: 0,
  text: 'registration accepted',
  homeAddress: `198.51.${(i >> 8) & 0xff}.${i & 0xff}`,
  careOfAddress: '203.0.113.77',
  lifetime: 1800,
  to: '203.0.113.77:434',
  operation: 'register',
});

let sink = 0;
const log = new OperatorLog({ write: () => {} });
const cases: Record<string, (i: number) => string> = {
  jsonLine: (i) => jsonLine(replyEvent(i)),
  'OperatorLog.line': (i) => log.line('info', replyEvent(i)),
  'JSON.stringify + toISOString': (i) => JSON.stringify({ time: new Date().toISOString(), level: 'info', ...replyEvent(i) }),
};

const results: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let r = 0; r < REPETITIONS; r++) {
  const names = Object.keys(cases);
  if (r % 2 === 1) names.reverse();
  for (const name of names) {
    const make = cases[name]!;
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += make(i).length;
    results[name]!.push(Number(process.hrtime.bigint() - start) / N);
  }
}
for (const [name, values] of Object.entries(results)) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`${name.padEnd(30)} ns/line min ${sorted[0]!.toFixed(0)}  median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)}  max ${sorted.at(-1)!.toFixed(0)}`);
}
if (sink === 0) console.log('');
