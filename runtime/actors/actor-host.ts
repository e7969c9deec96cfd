/**
 * The actor host: runs many actors of one xstate machine without a `createActor` each.
 *
 * Why: a standalone xstate actor costs ~4.6 KB and a spawned child ~2.9 KB (docs/performance.md),
 * too much for a million bindings. Here an actor is its snapshot plus its pending timers, and
 * the machine is the behaviour, stepped by a StepEngine (runtime/actors/machine-engine.ts): the
 * machine compiled from its own xstate definition (proven equal to xstate by differential
 * tests), or xstate itself through its actor-logic interface with one collecting scope when
 * asked for (option `engine`, or MIP4_ENGINE=xstate). Either way a step yields actions, not effects:
 * - delayed `raise` (xstate's `after` timers) go to the host's TimerQueue;
 * - `cancel` removes the matching timer;
 * - the `reason` action names the step in the transition record;
 * - every other named action is handed to the owner as a command, after the step.
 * Events to one actor are processed one at a time: an event sent while that actor is in the
 * middle of a step (from a command handler) waits in its mailbox and is processed, in order,
 * when the step ends (iteratively: a deep mailbox cannot overflow the stack).
 * See docs/performance.md for the figures behind this choice.
 */
import type { AnyStateMachine, ContextFrom, EventFromLogic, InputFrom } from 'xstate';
import type { Clock } from '../../io/clock.js';
import { engineFor, engineKindFromEnvironment, type EngineAction, type EngineFor, type EngineKind, type EngineSnapshot } from './machine-engine.js';
import type { CancelParams, RaiseParams } from './step-engine.js';
import { TimerQueue, type Timer } from './timer-queue.js';

export interface HostedActor<TMachine extends AnyStateMachine, TOwner = unknown> {
  readonly id: string;
  /** Whatever the runtime attached at spawn (e.g. the mobile node the binding belongs to). */
  readonly owner: TOwner;
  snapshot: EngineSnapshot<ContextFrom<TMachine>>;
  /** Pending delayed events, by xstate send id. Usually one (the lifetime). */
  timers: Array<Timer<DelayedEvent<TMachine, TOwner>>> | undefined;
  /** Events waiting while this actor is in a step. */
  mailbox: Array<EventFromLogic<TMachine>> | undefined;
  busy: boolean;
  stopped: boolean;
}

interface DelayedEvent<TMachine extends AnyStateMachine, TOwner> {
  readonly actor: HostedActor<TMachine, TOwner>;
  readonly sendId: string;
  readonly event: EventFromLogic<TMachine>;
}

/**
 * An action the machine asked for, other than timer bookkeeping. Each machine exports the
 * union of its own (`BindingCommand`, `VisitorCommand`, ...; see machines/command.ts) and a
 * host is typed by it, so an owner's handler narrows on `type` and reads typed params.
 */
export interface Command {
  readonly type: string;
  readonly params: unknown;
}

/** Params of the `reason` action (REASON_ACTION). */
interface ReasonParams {
  readonly reason: string;
}

/** One state change, with the reason named by the transition (the machine's `reason` action). */
export interface TransitionRecord {
  readonly actor: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly event: string;
  readonly at: number;
}

export interface ActorHostOptions<TMachine extends AnyStateMachine, TOwner = unknown, TCommand extends Command = Command> {
  readonly clock: Clock;
  /**
   * The engine that steps the machine; default: MIP4_ENGINE, else 'compiled'. A machine the
   * compiler cannot take makes the constructor throw (MachineNotCompiledError), naming it.
   */
  readonly engine?: EngineKind;
  /** Commands of one step, in order, after the step's snapshot is stored. */
  readonly onCommands?: (actor: HostedActor<TMachine, TOwner>, commands: readonly TCommand[]) => void;
  /** Called for every step; `reason` comes from the step's `reason` action (see REASON_ACTION). */
  readonly onTransition?: (record: TransitionRecord) => void;
  /** Called once when an actor reaches a final state (or errors) and leaves the host. */
  readonly onStopped?: (actor: HostedActor<TMachine, TOwner>) => void;
  /** Called when the machine throws or errors; the actor is stopped. */
  readonly onError?: (actor: HostedActor<TMachine, TOwner>, error: unknown) => void;
}

/**
 * Name of the action a transition uses to name its reason: `{ type: 'reason', params: { reason } }`.
 * The host turns it into the transition record instead of a command.
 */
export const REASON_ACTION = 'reason';

/** Names of state value objects already seen: the compiled engine shares one per state. */
const stateValueNames = new WeakMap<object, string>();

export function stateValueToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  let name = stateValueNames.get(value);
  if (name === undefined) {
    name = stateValueObjectToString(value);
    stateValueNames.set(value, name);
  }
  return name;
}

function stateValueObjectToString(value: object): string {
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => {
      const inner = stateValueToString(v);
      return inner === '{}' || inner === '' ? k : `${k}.${inner}`;
    })
    .join(',');
}

/**
 * TCommand is the machine's command union: the engines hand over the machine's own custom
 * actions unchanged, and each machine declares its command stubs' params from that union
 * (machines/command.ts), so the one conversion below (`action as TCommand`) is by construction.
 */
export class ActorHost<TMachine extends AnyStateMachine, TOwner = unknown, TCommand extends Command = Command> {
  /** Which engine steps this host's actors (for counters, logs and tests). */
  readonly engineKind: EngineKind;
  private readonly engine: EngineFor<TMachine>;
  private readonly timers: TimerQueue<DelayedEvent<TMachine, TOwner>>;
  private running = 0;
  /** Live actors per state name, kept as they step: the inspector samples it (O(states), never O(actors)). */
  private readonly perState = new Map<string, number>();
  /** Listeners of single actors, by actor id; undefined while nobody watches, so a step pays one check. */
  private watchers: Map<string, Set<(record: TransitionRecord) => void>> | undefined;

  constructor(
    machine: TMachine,
    private readonly options: ActorHostOptions<TMachine, TOwner, TCommand>,
  ) {
    this.engineKind = options.engine ?? engineKindFromEnvironment();
    this.engine = engineFor(machine, this.engineKind);
    this.timers = new TimerQueue(options.clock, (delayed, timer) => this.fireTimer(delayed, timer));
  }

  /** Number of actors alive in this host. */
  get size(): number {
    return this.running;
  }

  /** Live actors in each state now (state names as in transition records). A copy. */
  stateCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [state, count] of this.perState) if (count > 0) counts.set(state, count);
    return counts;
  }

  /**
   * Hears the transitions of one actor (the inspector's selected actor) until the returned
   * function is called. The compiled engine has no xstate inspection API: this is its hook,
   * and costs a step nothing but one check while nobody watches.
   */
  watch(actorId: string, listener: (record: TransitionRecord) => void): () => void {
    const watchers = (this.watchers ??= new Map());
    let set = watchers.get(actorId);
    if (set === undefined) watchers.set(actorId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && watchers.get(actorId) === set) watchers.delete(actorId);
      if (watchers.size === 0 && this.watchers === watchers) this.watchers = undefined;
    };
  }

  /** Pending timers across all actors. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Creates an actor in its initial state; its entry actions run now. */
  spawn(id: string, input: InputFrom<TMachine>, owner?: TOwner): HostedActor<TMachine, TOwner> {
    const result = this.engine.initial(input);
    const actor: HostedActor<TMachine, TOwner> = {
      id,
      owner: owner as TOwner,
      snapshot: result.snapshot,
      timers: undefined,
      mailbox: undefined,
      busy: true,
      stopped: false,
    };
    this.running++;
    this.afterStep(actor, '(none)', 'xstate.init', result.actions);
    this.drain(actor);
    return actor;
  }

  /** Delivers an event; it waits in the mailbox if the actor is mid-step. */
  send(actor: HostedActor<TMachine, TOwner>, event: EventFromLogic<TMachine>): void {
    if (actor.stopped) return;
    if (actor.busy) {
      (actor.mailbox ??= []).push(event);
      return;
    }
    actor.busy = true;
    this.step(actor, event);
    this.drain(actor);
  }

  /** Removes an actor without a transition (shutdown); its timers are cancelled. */
  stop(actor: HostedActor<TMachine, TOwner>): void {
    if (actor.stopped) return;
    this.release(actor);
  }

  /** Stops every timer (shutdown). Actors stay readable. */
  close(): void {
    this.timers.clear();
  }

  /** Processes what arrived during the step(s) just taken, in order, then frees the actor. */
  private drain(actor: HostedActor<TMachine, TOwner>): void {
    // Take the whole mailbox at a time (events sent meanwhile start a new one), so draining
    // n events costs O(n), not the O(n^2) of shifting one array.
    for (let batch = actor.mailbox; batch !== undefined && !actor.stopped; batch = actor.mailbox) {
      actor.mailbox = undefined;
      for (let i = 0; i < batch.length && !actor.stopped; i++) this.step(actor, batch[i]!);
      if (actor.stopped) break;
    }
    actor.busy = false;
  }

  private step(actor: HostedActor<TMachine, TOwner>, event: EventFromLogic<TMachine>): void {
    const from = stateValueToString(actor.snapshot.value);
    const result = this.engine.step(actor.snapshot, event);
    actor.snapshot = result.snapshot;
    this.afterStep(actor, from, (event as { type: string }).type, result.actions);
  }

  private afterStep(actor: HostedActor<TMachine, TOwner>, from: string, eventType: string, actions: readonly EngineAction[]): void {
    let commands: TCommand[] | undefined;
    let reason: string | undefined;
    // Cancellations wait until the step's actions are read: a timer cancelled and raised again
    // in the same step (a state re-entered: a binding renewed) is postponed in place instead.
    let cancelled: string[] | undefined;
    for (const action of actions) {
      switch (action.type) {
        case 'xstate.raise': {
          const params = action.params as RaiseParams<EventFromLogic<TMachine>>;
          // A non-finite delay (an infinite lifetime) never fires: no timer at all.
          if (typeof params.delay === 'number' && Number.isFinite(params.delay)) {
            const sendId = params.id ?? params.event.type;
            const i = cancelled === undefined ? -1 : cancelled.indexOf(sendId);
            if (i >= 0) cancelled!.splice(i, 1);
            this.scheduleTimer(actor, sendId, params.event, params.delay);
          }
          break;
        }
        case 'xstate.cancel':
          (cancelled ??= []).push((action.params as CancelParams).sendId);
          break;
        case REASON_ACTION:
          // The first reason of a step names it: a transition's own reason comes before the
          // entry actions of the state it (re-)enters.
          reason ??= (action.params as ReasonParams).reason;
          break;
        default:
          (commands ??= []).push(action as TCommand);
      }
    }
    if (cancelled !== undefined) for (const sendId of cancelled) this.cancelTimer(actor, sendId);
    const snapshot = actor.snapshot;
    const to = snapshot.status === 'error' ? 'error' : stateValueToString(snapshot.value);
    if (from !== to) {
      if (from !== '(none)') this.perState.set(from, (this.perState.get(from) ?? 0) - 1);
      this.perState.set(to, (this.perState.get(to) ?? 0) + 1);
    }
    // An owner's handler that throws must not wedge the actor (busy forever) nor skip the
    // bookkeeping below: it is reported through onError and the step completes.
    try {
      if (reason !== undefined || from !== to) {
        this.options.onTransition?.({ actor: actor.id, from, to, reason: reason ?? eventType, event: eventType, at: this.options.clock.now() });
        const watching = this.watchers?.get(actor.id);
        if (watching !== undefined) {
          const record = { actor: actor.id, from, to, reason: reason ?? eventType, event: eventType, at: this.options.clock.now() };
          for (const listener of watching) listener(record);
        }
      }
      if (commands !== undefined) this.options.onCommands?.(actor, commands);
    } catch (error) {
      this.options.onError?.(actor, error);
    }
    if (snapshot.status === 'error') this.options.onError?.(actor, snapshot.error);
    // The owner may already have stopped the actor from one of the handlers above; it must
    // leave the host (and be counted out, and reported to onStopped) only once.
    if (snapshot.status !== 'active' && !actor.stopped) this.release(actor);
  }

  private release(actor: HostedActor<TMachine, TOwner>): void {
    actor.stopped = true;
    actor.busy = false;
    actor.mailbox = undefined;
    if (actor.timers) for (const t of actor.timers) this.timers.cancel(t);
    actor.timers = undefined;
    this.running--;
    const state = actor.snapshot.status === 'error' ? 'error' : stateValueToString(actor.snapshot.value);
    this.perState.set(state, (this.perState.get(state) ?? 0) - 1);
    this.options.onStopped?.(actor);
  }

  /** A raise with the id of a pending timer replaces it (xstate: one delayed event per id). */
  private scheduleTimer(actor: HostedActor<TMachine, TOwner>, sendId: string, event: EventFromLogic<TMachine>, delay: number): void {
    const due = this.options.clock.now() + delay;
    const pending = actor.timers?.find((t) => t.payload.sendId === sendId);
    if (pending !== undefined) {
      this.timers.reschedule(pending, due, { actor, sendId, event });
      return;
    }
    const timer = this.timers.schedule(due, { actor, sendId, event });
    (actor.timers ??= []).push(timer);
  }

  private cancelTimer(actor: HostedActor<TMachine, TOwner>, sendId: string): void {
    const timers = actor.timers;
    if (!timers) return;
    const i = timers.findIndex((t) => t.payload.sendId === sendId);
    if (i < 0) return;
    this.timers.cancel(timers[i]!);
    timers.splice(i, 1);
    if (timers.length === 0) actor.timers = undefined;
  }

  private fireTimer(delayed: DelayedEvent<TMachine, TOwner>, timer: Timer<DelayedEvent<TMachine, TOwner>>): void {
    const { actor } = delayed;
    const timers = actor.timers;
    if (timers) {
      const i = timers.indexOf(timer);
      if (i >= 0) timers.splice(i, 1);
      if (timers.length === 0) actor.timers = undefined;
    }
    this.send(actor, delayed.event);
  }
}
