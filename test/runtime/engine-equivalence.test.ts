/**
 * The six production machines step the same under the compiled engine and under xstate.
 *
 * For each machine of the table: generated event sequences (test/support/engine-differential.ts:
 * one clock, events carrying it as `at`, the machine's own `xstate.after.*` timers firing in
 * due order as in the actor host) go to `compileMachine(m)` and to `xstateEngine(m)`; after
 * every step the state value, context, status, error and the actions (type, params, order)
 * must be equal, and the compiled engine returns the same snapshot object exactly when xstate
 * does. A second run checks the reference itself: `xstateEngine(m)` against `createActor(m)`.
 *
 * Generic over the machine: the event types come from the machine's own transitions, and a
 * type the table has no arbitrary for is still sent (`{ type, at }`), so a machine that gains
 * an event stays covered; the table's arbitraries are typed by each machine's declared events
 * and build the fields guards look at from the current context (matching Identifications,
 * the agent in use, deadlines; the tables live in testing/machine-arbitraries.ts, the kit's). Each run must reach every resting state of its machine and
 * send every event type, so a table that stops exercising a machine fails instead of passing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { compileMachine, isUnsupported, xstateEngine } from '../../runtime/actors/machine-engine.js';
import { actorEngine, differential, machineShape, type AnyEngine, type EventMaker } from '../support/engine-differential.js';
import { MACHINE_ARBITRARIES, type MachineArbitraries } from '../../testing/machine-arbitraries.js';

const T0 = Date.UTC(2026, 0, 1);
type MachineCase<M extends AnyStateMachine> = MachineArbitraries<M>;
const { binding, visitor, faPending, advertiser, mnDiscovery, mnRegistration } = MACHINE_ARBITRARIES;

/** An event with only a type and the clock: what an event the table does not know gets. */
const bare = (type: string): fc.Arbitrary<EventMaker> => fc.constant((_context: never, now: number) => ({ type, at: now }));

/** The machine's event arbitrary: the table's makers, and a bare one for any type it lacks. */
function eventsOf(c: MachineCase<AnyStateMachine>): { arbitrary: fc.Arbitrary<EventMaker>; untabled: string[] } {
  const table = c.events as Record<string, fc.Arbitrary<EventMaker> | undefined>;
  const { eventTypes } = machineShape(c.machine);
  const untabled = eventTypes.filter((type) => table[type] === undefined);
  const weights = (c.weights ?? {}) as Record<string, number | undefined>;
  const weighted = (type: string, arbitrary: fc.Arbitrary<EventMaker>) => ({ weight: weights[type] ?? 1, arbitrary });
  const arbitraries = eventTypes.map((type) => weighted(type, table[type] ?? bare(type)));
  // Types the table knows but no transition names (they reach no transition: still sent).
  for (const [type, arbitrary] of Object.entries(table)) if (!eventTypes.includes(type) && arbitrary) arbitraries.push(weighted(type, arbitrary));
  return { arbitrary: fc.oneof(...arbitraries), untabled };
}

const CASES: ReadonlyArray<[string, MachineCase<AnyStateMachine>]> = [
  ['binding (machines/binding.ts)', binding],
  ['visitor (machines/visitor.ts)', visitor],
  ['fa-pending (machines/fa-pending.ts)', faPending],
  ['advertiser (machines/advertiser.ts)', advertiser],
  ['mn-discovery (machines/mn-discovery.ts)', mnDiscovery],
  ['mn-registration (machines/mn-registration.ts)', mnRegistration],
];

function compiled(machine: AnyStateMachine): AnyEngine {
  const engine = compileMachine(machine);
  if (isUnsupported(engine)) throw new Error(`expected '${machine.id}' to compile: ${engine.unsupported}`);
  return engine as unknown as AnyEngine;
}

describe('the six production machines: compiled engine ≡ xstate (differential, generated sequences)', () => {
  for (const [name, c] of CASES) {
    it(`${name}: same values, contexts, statuses and actions at every step; every resting state and event type reached`, () => {
      const { arbitrary } = eventsOf(c);
      const seen = differential(
        () => compiled(c.machine),
        () => xstateEngine(c.machine) as unknown as AnyEngine,
        T0,
        c.input,
        arbitrary,
        { identity: true, ...(c.numRuns ? { numRuns: c.numRuns } : {}), ...(c.maxSteps ? { maxSteps: c.maxSteps } : {}), ...(c.maxAdvanceMs ? { maxAdvanceMs: c.maxAdvanceMs } : {}) },
      );
      const shape = machineShape(c.machine);
      expect(shape.restingValues.filter((v) => !seen.values.has(v)), 'resting states never reached').toEqual([]);
      expect([...shape.eventTypes, ...shape.timerTypes].filter((t) => !seen.events.has(t)), 'event types never sent').toEqual([]);
    });
  }
});

describe('the reference itself: xstateEngine ≡ createActor (the six machines)', () => {
  for (const [name, c] of CASES) {
    it(`${name}`, () => {
      const { arbitrary } = eventsOf(c);
      differential(
        () => xstateEngine(c.machine) as unknown as AnyEngine,
        () => actorEngine(c.machine),
        T0,
        c.input,
        arbitrary,
        { numRuns: Math.ceil((c.numRuns ?? 300) / 6), ...(c.maxSteps ? { maxSteps: c.maxSteps } : {}), ...(c.maxAdvanceMs ? { maxAdvanceMs: c.maxAdvanceMs } : {}) },
      );
    });
  }
});
