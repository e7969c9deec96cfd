/**
 * Compiled step engine vs xstate's interpreter on the binding machine, in the same run.
 *
 * Per repetition and engine (the order alternates between repetitions):
 * - creations/s: `initial(input)` for N bindings, snapshots kept in an array as a host would;
 * - bytes per snapshot: retained heap of the N snapshots, and of their contexts alone (the
 *   difference is what the engine's snapshot costs beyond the context);
 * - renewals/s: one `register` step per binding with a new Identification (exit, assign,
 *   re-entry, new lifetime timer: the common path of a registration);
 * - duplicates/s: the same request again (a targetless transition; the snapshot is kept).
 * Ratios are compiled / xstate within one repetition; the summary gives min/median/max.
 *
 * Usage: npx tsc -p tsconfig.json && node --expose-gc dist/bench/machine-engine.js [N] [repetitions]
 */
import { bindingMachine, type BindingEvent, type BindingInput } from '../machines/binding.js';
import { compileMachine, isUnsupported, xstateEngine, type EngineSnapshot, type StepEngine } from '../runtime/actors/machine-engine.js';

const N = Number(process.argv[2] ?? 100_000);
const REPETITIONS = Number(process.argv[3] ?? 5);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(1);
}
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

type Engine = StepEngine<unknown, BindingEvent, BindingInput>;

const compiledOrNot = compileMachine(bindingMachine);
if (isUnsupported(compiledOrNot)) throw new Error(`binding machine does not compile: ${compiledOrNot.unsupported}`);
const engines: Record<'compiled' | 'xstate', Engine> = {
  compiled: compiledOrNot as unknown as Engine,
  xstate: xstateEngine(bindingMachine) as unknown as Engine,
};

const HOME = 0x0a000000;
const COA = 0xcb007101;

function inputFor(i: number): BindingInput {
  return {
    homeAddress: (HOME | (i + 2)) >>> 0,
    careOfAddress: COA,
    lifetime: 3600,
    identification: { high: 1_000, low: i },
    encapsulation: 'ip-in-ip',
    broadcast: false,
    decapsulatedByMobileNode: false,
    reverseTunnel: false,
    at: 1_000,
  };
}

function registerFor(i: number, pass: number): BindingEvent {
  return { type: 'register', ...inputFor(i), identification: { high: 1_000 + pass, low: i }, at: 1_000 + pass * 1_000 };
}

interface Figures {
  creationsPerSecond: number;
  bytesPerSnapshot: number;
  bytesPerContext: number;
  renewalsPerSecond: number;
  duplicatesPerSecond: number;
}

/**
 * What the heap measurements keep alive. A module-level slot rather than locals: optimized
 * code may keep a dead local (an old array) alive until the function returns.
 */
let held: unknown = undefined;

function createAll(engine: Engine, inputs: BindingInput[]): { snapshots: Array<EngineSnapshot<unknown>>; ms: number } {
  const snapshots: Array<EngineSnapshot<unknown>> = new Array(N);
  const start = performance.now();
  for (let i = 0; i < N; i++) snapshots[i] = engine.initial(inputs[i]!).snapshot;
  return { snapshots, ms: performance.now() - start };
}

function contextsOf(snapshots: Array<EngineSnapshot<unknown>>): unknown[] {
  const contexts: unknown[] = new Array(N);
  for (let i = 0; i < N; i++) contexts[i] = snapshots[i]!.context;
  return contexts;
}

function contextsOnly(engine: Engine, inputs: BindingInput[]): unknown[] {
  return contextsOf(createAll(engine, inputs).snapshots);
}

function stepAll(engine: Engine, snapshots: Array<EngineSnapshot<unknown>>, events: BindingEvent[]): number {
  const start = performance.now();
  for (let i = 0; i < N; i++) snapshots[i] = engine.step(snapshots[i]!, events[i]!).snapshot;
  return performance.now() - start;
}

function measure(engine: Engine): Figures {
  const inputs: BindingInput[] = [];
  const renewals: BindingEvent[] = [];
  for (let i = 0; i < N; i++) {
    inputs.push(inputFor(i));
    renewals.push(registerFor(i, 1));
  }
  // Heap: N snapshots in an array; separately, an array of N contexts made the same way
  // (the snapshots around them are garbage by the time the heap is read).
  held = undefined;
  let before = heap();
  const created = createAll(engine, inputs);
  held = created.snapshots;
  const bytesPerSnapshot = (heap() - before) / N;
  held = undefined;
  before = heap();
  held = contextsOnly(engine, inputs);
  const bytesPerContext = (heap() - before) / N;
  held = undefined;
  // Stepping: a renewal for every binding, then the same request again (a duplicate).
  const { snapshots } = createAll(engine, inputs);
  const renewalMs = stepAll(engine, snapshots, renewals);
  const duplicateMs = stepAll(engine, snapshots, renewals);
  for (const s of snapshots) if (s.status !== 'active') throw new Error('a binding left the active state');
  return {
    creationsPerSecond: (N / created.ms) * 1000,
    bytesPerSnapshot,
    bytesPerContext,
    renewalsPerSecond: (N / renewalMs) * 1000,
    duplicatesPerSecond: (N / duplicateMs) * 1000,
  };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
};
const k = (x: number) => `${(x / 1000).toFixed(0)}k`;
const b = (x: number) => x.toFixed(0);
const r = (x: number) => x.toFixed(2);

// Warm-up: let both engines' code reach the optimizing compiler before measuring.
for (const engine of Object.values(engines)) {
  const s = engine.initial(inputFor(0)).snapshot;
  for (let i = 0; i < 20_000; i++) engine.step(engine.initial(inputFor(i)).snapshot, registerFor(i, 1));
  engine.step(s, registerFor(0, 2));
}

console.log(`binding machine, N = ${N}, ${REPETITIONS} repetitions, node ${process.version}`);
const rows: Array<{ compiled: Figures; xstate: Figures }> = [];
for (let rep = 0; rep < REPETITIONS; rep++) {
  const order = rep % 2 === 0 ? (['compiled', 'xstate'] as const) : (['xstate', 'compiled'] as const);
  const row = {} as { compiled: Figures; xstate: Figures };
  for (const name of order) row[name] = measure(engines[name]);
  rows.push(row);
  const c = row.compiled;
  const x = row.xstate;
  console.log(
    `#${rep + 1} compiled: create ${k(c.creationsPerSecond)}/s, renew ${k(c.renewalsPerSecond)}/s, duplicate ${k(c.duplicatesPerSecond)}/s, ` +
      `${b(c.bytesPerSnapshot)} B/snapshot (context ${b(c.bytesPerContext)} B) | ` +
      `xstate: create ${k(x.creationsPerSecond)}/s, renew ${k(x.renewalsPerSecond)}/s, duplicate ${k(x.duplicatesPerSecond)}/s, ` +
      `${b(x.bytesPerSnapshot)} B/snapshot (context ${b(x.bytesPerContext)} B)`,
  );
}

const summary: Array<[string, (f: Figures) => number, (x: number) => string]> = [
  ['creations/s', (f) => f.creationsPerSecond, k],
  ['renewal steps/s', (f) => f.renewalsPerSecond, k],
  ['duplicate steps/s', (f) => f.duplicatesPerSecond, k],
  ['bytes/snapshot (with context)', (f) => f.bytesPerSnapshot, b],
  ['bytes/snapshot beyond context', (f) => f.bytesPerSnapshot - f.bytesPerContext, b],
];
console.log('\nfigure                          compiled min/median/max        xstate min/median/max          ratio compiled/xstate (same rep) min/median/max');
for (const [name, get, fmt] of summary) {
  const c = stats(rows.map((row) => get(row.compiled)));
  const x = stats(rows.map((row) => get(row.xstate)));
  const ratio = stats(rows.map((row) => get(row.compiled) / get(row.xstate)));
  console.log(
    `${name.padEnd(32)}${`${fmt(c.min)}/${fmt(c.median)}/${fmt(c.max)}`.padEnd(31)}${`${fmt(x.min)}/${fmt(x.median)}/${fmt(x.max)}`.padEnd(31)}` +
      `${r(ratio.min)}/${r(ratio.median)}/${r(ratio.max)}`,
  );
}
