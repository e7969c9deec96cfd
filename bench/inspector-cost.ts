/**
 * What the live inspector costs the agent (issue 18): an ActorHost of N binding actors,
 * spawned, renewed (a step each) and deregistered (a state change each, into a final state),
 * with the inspector off and on in the same run, alternating. "On" is what an open page does:
 * the per-state counts sampled every 100 ms (10x the page's rate) and one actor watched.
 * The per-state tally itself is kept whether or not anyone inspects (it is what makes sampling
 * O(states)); its cost is in both columns.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/inspector-cost.js [N] [repetitions]
 */
import { bindingMachine, type BindingEvent, type BindingInput } from '../machines/binding.js';
import { ActorHost, type HostedActor } from '../runtime/actors/actor-host.js';
import { SimulatedClock } from '../io/clock.js';

const N = Number(process.argv[2] ?? 200_000);
const REPETITIONS = Number(process.argv[3] ?? 5);

function inputFor(i: number, pass: number): BindingInput {
  return {
    homeAddress: (0x0a000000 | (i + 2)) >>> 0,
    careOfAddress: 0xcb007101,
    lifetime: 3600,
    identification: { high: 1_000 + pass, low: i },
    encapsulation: 'ip-in-ip',
    broadcast: false,
    decapsulatedByMobileNode: false,
    reverseTunnel: false,
    at: 1_000 + pass,
  };
}

function once(inspected: boolean): { spawnsPerSecond: number; renewalsPerSecond: number; deregistrationsPerSecond: number } {
  const clock = new SimulatedClock(1_000);
  const host = new ActorHost(bindingMachine, { clock, engine: 'compiled', onCommands: () => {} });
  let samples = 0;
  const sample = (i: number) => {
    if (inspected && i % 10_000 === 0) samples += host.stateCounts().size;
  };
  const unwatch = inspected ? host.watch('binding:watched', () => {}) : undefined;
  const actors: Array<HostedActor<typeof bindingMachine>> = new Array(N);
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    actors[i] = host.spawn(`binding:${i}`, inputFor(i, 0));
    sample(i);
  }
  const spawnMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < N; i++) {
    host.send(actors[i]!, { type: 'register', ...inputFor(i, 1) } as BindingEvent);
    sample(i);
  }
  const renewMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < N; i++) {
    host.send(actors[i]!, { type: 'deregister', at: 3_000 } as BindingEvent);
    sample(i);
  }
  const deregisterMs = performance.now() - t;
  unwatch?.();
  if (inspected && samples === 0) throw new Error('never sampled');
  if (host.size !== 0) throw new Error(`${host.size} actors left`);
  return { spawnsPerSecond: (N / spawnMs) * 1000, renewalsPerSecond: (N / renewMs) * 1000, deregistrationsPerSecond: (N / deregisterMs) * 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const off: Array<ReturnType<typeof once>> = [];
const on: Array<ReturnType<typeof once>> = [];
once(false);
for (let r = 0; r < REPETITIONS; r++) {
  if (r % 2 === 0) {
    off.push(once(false));
    on.push(once(true));
  } else {
    on.push(once(true));
    off.push(once(false));
  }
}
for (const key of ['spawnsPerSecond', 'renewalsPerSecond', 'deregistrationsPerSecond'] as const) {
  const a = median(off.map((f) => f[key]));
  const b = median(on.map((f) => f[key]));
  console.log(`${key.padEnd(26)} off ${Math.round(a).toLocaleString('en')}  on ${Math.round(b).toLocaleString('en')}  on/off ${(b / a).toFixed(3)}`);
}
