/**
 * The kit's machine arbitraries (testing/machine-arbitraries.ts): for each of the six machines,
 * generated inputs start the compiled engine, and generated events (made from the context and
 * the clock) are of the machine's own event types and step it without an error. The deeper use,
 * compiled engine ≡ xstate over generated sequences, is test/runtime/engine-equivalence.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { getStateNodes } from 'xstate/graph';
import { compileMachine, isUnsupported, type EngineSnapshot } from '../../runtime/actors/machine-engine.js';
import { eventMakers, MACHINE_ARBITRARIES } from '../../testing/index.js';

const T0 = Date.UTC(2026, 0, 1);

describe('mip4/testing machine arbitraries', () => {
  for (const [name, entry] of Object.entries(MACHINE_ARBITRARIES)) {
    it(`${name}: inputs start the engine, events are the machine's types and step it without error`, () => {
      const machine = entry.machine as AnyStateMachine;
      const declared = new Set([machine.root, ...getStateNodes(machine.root)].flatMap((node) => [...node.transitions.keys()]));
      const engine = compileMachine(machine);
      if (isUnsupported(engine)) throw new Error(engine.unsupported);
      const sent = new Set<string>();
      fc.assert(
        fc.property(entry.input, fc.array(fc.tuple(eventMakers(entry), fc.nat(5_000)), { maxLength: 12 }), (input, steps) => {
          let { snapshot } = engine.initial(input as never) as { snapshot: EngineSnapshot<unknown> };
          expect(snapshot.status).toBe('active');
          let now = T0;
          for (const [make, advance] of steps) {
            if (snapshot.status !== 'active') break;
            now += advance;
            const event = make(snapshot.context as never, now);
            sent.add(event.type);
            snapshot = engine.step(snapshot as never, event as never).snapshot as EngineSnapshot<unknown>;
            expect(snapshot.status, event.type).not.toBe('error');
          }
        }),
        { numRuns: 100, seed: 1919 },
      );
      for (const type of sent) expect(declared, `${name} handles ${type}`).toContain(type);
      expect(sent.size).toBe(Object.keys(entry.events).length);
    });
  }
});
