/**
 * The kit's six ready models (testing/models.ts) and the generic model (testing/model.ts):
 * paths from xstate/graph, replayed on the compiled engine, on xstate's step function and on a
 * started actor, with timers reached by moving the clock. The three replays must be the same
 * step for step, and end where the graph says the path ends.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { machineModels, machineTestModel, observableSteps, type MachineTestModel } from '../../testing/index.js';
import type { AnyStateMachine } from 'xstate';

const models = machineModels();

describe('mip4/testing: the six machines’ models', () => {
  for (const [name, model] of Object.entries(models) as Array<[string, MachineTestModel<AnyStateMachine>]>) {
    it(`${name}: every timer the machine defines is in the event set, and each shortest path replays alike on the compiled engine, xstate and an actor`, () => {
      const offered = new Set<string>();
      const paths = model.shortestPaths();
      expect(paths.length).toBeGreaterThan(2);
      let faithful = 0;
      for (const path of paths) {
        const compiled = model.replay(path, 'compiled');
        const xstate = model.replay(path, 'xstate');
        const actor = model.replay(path, 'actor');
        expect(observableSteps(compiled)).toStrictEqual(observableSteps(xstate));
        expect(JSON.parse(JSON.stringify(observableSteps(actor)))).toEqual(JSON.parse(JSON.stringify(observableSteps(compiled))));
        if (compiled.faithful) {
          faithful++;
          expect(model.endsAsGraph(compiled, path), JSON.stringify(model.eventsOf(path))).toBe(true);
        }
      }
      expect(faithful).toBeGreaterThan(0);
      for (const path of model.transitionPaths()) for (const event of model.eventsOf(path)) offered.add((event as { type: string }).type);
      for (const timer of model.timerTypes) expect(offered, timer).toContain(timer);
    });
  }
});
