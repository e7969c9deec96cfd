/**
 * The xstate reference engine: xstate's own interpreter behind the step engine contract.
 *
 * It drives the machine through xstate's actor-logic interface (`getInitialSnapshot`,
 * `transition`) with one collecting scope, as an actor would but without an actor per
 * snapshot: executed actions are recorded as `{type, params}`, never executed. It is what the
 * compiled engine is tested against, and what every host runs on with MIP4_ENGINE=xstate.
 * The test/runtime/engine-equivalence.test.ts checks it against `createActor` itself.
 */
import { createActor, type AnyActorScope, type AnyStateMachine, type ContextFrom } from 'xstate';
import type { EngineAction, EngineFor, EngineSnapshot } from './step-engine.js';

/**
 * Drives the machine through xstate itself, with one collecting scope as the actor host
 * builds it: executed actions are recorded as `{type, params}`, never executed.
 */
export function xstateEngine<TMachine extends AnyStateMachine>(machine: TMachine): EngineFor<TMachine> {
  const collected: EngineAction[] = [];
  // One never-started actor lends the scope its `self` and `system`, as in actor-host.ts.
  const self = createActor(machine);
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => {},
    defer: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: (action: { type: string; params?: unknown }) => {
      collected.push({ type: action.type, params: action.params });
    },
  } as unknown as AnyActorScope;
  return {
    initial(input) {
      collected.length = 0;
      let snapshot: EngineSnapshot<ContextFrom<TMachine>>;
      try {
        snapshot = machine.getInitialSnapshot(scope, input) as EngineSnapshot<ContextFrom<TMachine>>;
      } catch (error) {
        // getInitialSnapshot catches by itself; this mirrors the host for completeness.
        snapshot = { status: 'error', error, value: 'error', context: undefined as ContextFrom<TMachine> };
      }
      return { snapshot, actions: collected.splice(0) };
    },
    step(snapshot, event) {
      if (snapshot.status !== 'active') return { snapshot, actions: [] };
      collected.length = 0;
      let next: EngineSnapshot<ContextFrom<TMachine>>;
      try {
        next = machine.transition(snapshot as never, event, scope) as EngineSnapshot<ContextFrom<TMachine>>;
      } catch (error) {
        next = { ...snapshot, status: 'error', error };
      }
      return { snapshot: next, actions: collected.splice(0) };
    },
  };
}
