/**
 * The step engine contract: what the actor host needs from a machine's behaviour.
 *
 * An engine turns (snapshot, event) into (snapshot, actions) and never executes an action:
 * delayed raises and cancels are timer bookkeeping for the host, every other action is a
 * command for the actor's owner. Two engines implement it: the compiled engine
 * (machine-compiler.ts + compiled-engine.ts) and xstate itself (xstate-engine.ts), which is
 * the reference the compiled one must equal (runtime/actors/README.md).
 *
 * Step contract (both engines): `step` on a snapshot whose status is not 'active' returns it
 * unchanged with no actions (the host never steps a stopped actor). An exception while
 * stepping gives `{ ...previous value and context, status: 'error', error }` and the actions
 * collected before it, which is what the host does around `machine.transition` (xstate's
 * `transition` throws; `getInitialSnapshot` returns an error snapshot instead, and both
 * engines' `initial` match that).
 */
import type { AnyStateMachine, ContextFrom, EventFromLogic, InputFrom, StateValue } from 'xstate';

export type EngineStatus = 'active' | 'done' | 'error' | 'stopped';

export interface EngineSnapshot<TContext> {
  readonly value: StateValue;
  readonly context: TContext;
  /** 'stopped' only after an `xstate.stop` event, as in xstate. */
  readonly status: EngineStatus;
  readonly error?: unknown;
}

/** An executed action: a command, `xstate.raise` (`{event, id, delay}`) or `xstate.cancel` (`{sendId}`). */
export interface EngineAction {
  readonly type: string;
  readonly params: unknown;
}

/** Params of `xstate.raise` as both engines give them: the event, and for a delayed raise its delay and send id. */
export interface RaiseParams<TEvent> {
  readonly event: TEvent;
  readonly delay?: number;
  readonly id?: string;
}

/** Params of `xstate.cancel`: the send id of the delayed raise to drop. */
export interface CancelParams {
  readonly sendId: string;
}

export interface StepResult<TContext> {
  snapshot: EngineSnapshot<TContext>;
  /**
   * The actions of the step in xstate's order. A fresh array the caller owns; the action
   * objects themselves may be shared between steps (static ones are precomputed) and are
   * frozen when shared.
   */
  actions: EngineAction[];
}

export interface StepEngine<TContext, TEvent, TInput> {
  initial(input: TInput): StepResult<TContext>;
  step(snapshot: EngineSnapshot<TContext>, event: TEvent): StepResult<TContext>;
}

export type EngineFor<TMachine extends AnyStateMachine> = StepEngine<
  ContextFrom<TMachine>,
  EventFromLogic<TMachine>,
  InputFrom<TMachine>
>;

/** Which engine steps a machine: compiled from its definition, or xstate's interpreter. */
export type EngineKind = 'compiled' | 'xstate';
