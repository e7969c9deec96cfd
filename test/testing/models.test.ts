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

describe('mip4/testing: machineTestModel on a machine of one’s own', () => {
  // Two timers: a short `hint` in `waiting`, and a long `deadline` on the parent; `arm` leaves
  // for `idle`, where the `never` delay is infinite (armed by nobody a clock could fire).
  const machine = createMachine({
    id: 'm',
    initial: 'waiting',
    states: {
      waiting: { after: { 1000: 'hinted' }, on: { arm: 'idle' } },
      hinted: { after: { 5000: 'late' } },
      late: { type: 'final' },
      idle: { after: { never: 'late' } },
    },
  }).provide({ delays: { never: Infinity } });
  const HINT = 'xstate.after.1000.m.waiting';
  const LATE = 'xstate.after.5000.m.hinted';
  const NEVER = 'xstate.after.never.m.idle';
  const model = machineTestModel(machine, { events: [{ type: 'arm' }, { type: HINT }, { type: LATE }, { type: NEVER }] as never, startAt: 100 });

  it('reaches each timer by moving the clock to its due time, on all three targets alike', () => {
    for (const target of ['compiled', 'xstate', 'actor'] as const) {
      const replay = model.replay([{ type: HINT }, { type: LATE }] as never, target);
      expect(replay.steps.map((s) => [s.event.type, s.at, s.snapshot.value]), target).toEqual([
        [HINT, 1100, 'hinted'],
        [LATE, 6100, 'late'],
      ]);
      expect(replay.faithful).toBe(true);
    }
  });

  it('a timer nobody armed stops the replay instead of being sent', () => {
    for (const target of ['compiled', 'actor'] as const) {
      const replay = model.replay([{ type: 'arm' }, { type: NEVER }] as never, target);
      expect(replay.stopped).toEqual({ stepIndex: 1, event: NEVER, reason: 'timer-not-armed' });
      expect(replay.faithful).toBe(false);
      expect(replay.snapshot.value).toBe('idle');
    }
  });

  it('the graph offers the infinite timer; only the replay tells it apart', () => {
    const paths = model.shortestPaths();
    const viaNever = paths.find((p) => model.eventsOf(p).some((e) => (e as { type: string }).type === NEVER))!;
    expect(viaNever).toBeDefined();
    expect(model.replay(viaNever).faithful).toBe(false);
    const realizable = paths.filter((p) => model.replay(p).faithful);
    for (const path of realizable) expect(model.endsAsGraph(model.replay(path), path)).toBe(true);
    expect(model.timerTypes).toEqual([NEVER, HINT, LATE].sort());
  });

  it('transition coverage names what the paths missed', () => {
    const onlyHint = model.transitionCoverage([[{ type: HINT }] as never]);
    expect(onlyHint.missingTransitions).toContain('m.hinted --' + LATE + '--> m.late');
    expect(onlyHint.missingStates).toEqual(expect.arrayContaining(['m.late', 'm.idle']));
    const all = model.transitionCoverage(model.transitionPaths());
    // The infinite timer's transition cannot be taken by any clock.
    expect(all.missingTransitions).toEqual([`m.idle --${NEVER}--> m.late`]);
    expect(all.missingStates).toEqual([]);
  });

  it('covers every edge of the graph with transitionPaths()', () => {
    expect(model.coveredEdges(model.transitionPaths())).toEqual(model.edges());
  });
});
