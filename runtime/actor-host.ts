/**
 * The actor host: runs many actors of one xstate machine without a `createActor` each.
 *
 * Why: a standalone xstate actor costs ~4.6 KB and a spawned child ~2.9 KB (perf-limits.md),
 * too much for a million bindings. Here an actor is its snapshot plus its pending timers; the
 * machine is the behaviour, driven through xstate's actor-logic interface
 * (`machine.getInitialSnapshot(scope, input)` / `machine.transition(snapshot, event, scope)`)
 * with ONE scope owned by the host. The scope collects the actions a step produces instead
 * of executing them:
 * - delayed `raise` (xstate's `after` timers) go to the host's TimerQueue;
 * - `cancel` removes the matching timer;
 * - every other named action is handed to the owner as a command, with the new snapshot.
 * Events to one actor are processed one at a time: an event sent while that actor is in the
 * middle of a step (from a command handler) waits in its mailbox.
 * See docs/architecture.md for the figures behind this choice.
 */
import {
  createActor,
  type AnyActorScope,
  type AnyStateMachine,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';
import type { Clock } from './clock.js';
import { TimerQueue, type Timer } from './timer-queue.js';

export interface HostedActor<TMachine extends AnyStateMachine, TOwner = unknown> {
  readonly id: string;
  /** Whatever the runtime attached at spawn (e.g. the mobile node the binding belongs to). */
  readonly owner: TOwner;
  snapshot: SnapshotFrom<TMachine>;
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

/** An action the machine asked for, other than timer bookkeeping. */
export interface Command {
  readonly type: string;
  readonly params: unknown;
}

/** One state change, with the reason named by the transition (DESIGN.md, control plane). */
export interface TransitionRecord {
  readonly actor: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly event: string;
  readonly at: number;
}

export interface ActorHostOptions<TMachine extends AnyStateMachine, TOwner = unknown> {
  readonly clock: Clock;
  /** Commands of one step, in order, after the step's snapshot is stored. */
  readonly onCommands?: (actor: HostedActor<TMachine, TOwner>, commands: readonly Command[]) => void;
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

type CollectedAction = { type: string; params?: unknown };

export function stateValueToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => {
      const inner = stateValueToString(v);
      return inner === '{}' || inner === '' ? k : `${k}.${inner}`;
    })
    .join(',');
}

export class ActorHost<TMachine extends AnyStateMachine, TOwner = unknown> {
  private readonly scope: AnyActorScope;
  private readonly collected: CollectedAction[] = [];
  private readonly timers: TimerQueue<DelayedEvent<TMachine, TOwner>>;
  private running = 0;

  constructor(
    private readonly machine: TMachine,
    private readonly options: ActorHostOptions<TMachine, TOwner>,
  ) {
    // One never-started actor lends the scope its `self` and `system`; nothing is scheduled
    // through it because `actionExecutor` below only collects.
    const self = createActor(machine);
    this.scope = {
      self,
      id: '',
      sessionId: '',
      system: self.system,
      logger: () => {},
      defer: () => {},
      stopChild: () => {},
      emit: () => {},
      actionExecutor: (action: CollectedAction) => {
        this.collected.push(action);
      },
    } as unknown as AnyActorScope;
    this.timers = new TimerQueue(options.clock, (delayed, timer) => this.fireTimer(delayed, timer));
  }

  /** Number of actors alive in this host. */
  get size(): number {
    return this.running;
  }

  /** Pending timers across all actors. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Creates an actor in its initial state; its entry actions run now. */
  spawn(id: string, input: InputFrom<TMachine>, owner?: TOwner): HostedActor<TMachine, TOwner> {
    this.collected.length = 0;
    const actor: HostedActor<TMachine, TOwner> = {
      id,
      owner: owner as TOwner,
      snapshot: undefined as unknown as SnapshotFrom<TMachine>,
      timers: undefined,
      mailbox: undefined,
      busy: true,
      stopped: false,
    };
    this.running++;
    let snapshot: SnapshotFrom<TMachine>;
    try {
      snapshot = this.machine.getInitialSnapshot(this.scope, input) as SnapshotFrom<TMachine>;
    } catch (error) {
      snapshot = { status: 'error', error, value: 'error' } as unknown as SnapshotFrom<TMachine>;
    }
    actor.snapshot = snapshot;
    this.afterStep(actor, '(none)', 'xstate.init');
    return actor;
  }

  /** Delivers an event; it waits in the mailbox if the actor is mid-step. */
  send(actor: HostedActor<TMachine, TOwner>, event: EventFromLogic<TMachine>): void {
    if (actor.stopped) return;
    if (actor.busy) {
      (actor.mailbox ??= []).push(event);
      return;
    }
    this.step(actor, event);
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

  private step(actor: HostedActor<TMachine, TOwner>, event: EventFromLogic<TMachine>): void {
    actor.busy = true;
    this.collected.length = 0;
    const from = stateValueToString((actor.snapshot as { value: unknown }).value);
    try {
      actor.snapshot = this.machine.transition(actor.snapshot, event, this.scope) as SnapshotFrom<TMachine>;
    } catch (error) {
      actor.snapshot = { ...(actor.snapshot as object), status: 'error', error } as SnapshotFrom<TMachine>;
    }
    this.afterStep(actor, from, (event as { type: string }).type);
  }

  private afterStep(actor: HostedActor<TMachine, TOwner>, from: string, eventType: string): void {
    const actions = this.collected.splice(0);
    const commands: Command[] = [];
    let reason: string | undefined;
    for (const action of actions) {
      switch (action.type) {
        case 'xstate.raise': {
          const params = action.params as { event: EventFromLogic<TMachine>; delay?: number; id?: string };
          if (typeof params.delay === 'number') this.scheduleTimer(actor, params.id ?? params.event.type, params.event, params.delay);
          break;
        }
        case 'xstate.cancel':
          this.cancelTimer(actor, (action.params as { sendId: string }).sendId);
          break;
        case REASON_ACTION:
          // The first reason of a step names it: a transition's own reason comes before the
          // entry actions of the state it (re-)enters.
          reason ??= (action.params as { reason: string }).reason;
          break;
        default:
          commands.push({ type: action.type, params: action.params });
      }
    }
    const snapshot = actor.snapshot as { value: unknown; status: string; error?: unknown };
    const to = snapshot.status === 'error' ? 'error' : stateValueToString(snapshot.value);
    if (reason !== undefined || from !== to) {
      this.options.onTransition?.({ actor: actor.id, from, to, reason: reason ?? eventType, event: eventType, at: this.options.clock.now() });
    }
    if (commands.length > 0) this.options.onCommands?.(actor, commands);
    // The owner may already have stopped the actor from one of the handlers above; it must
    // leave the host (and be counted out, and reported to onStopped) only once.
    if (snapshot.status === 'error') {
      this.options.onError?.(actor, snapshot.error);
      if (!actor.stopped) this.release(actor);
      return;
    }
    if (snapshot.status !== 'active') {
      if (!actor.stopped) this.release(actor);
      return;
    }
    actor.busy = false;
    const next = actor.mailbox?.shift();
    if (actor.mailbox?.length === 0) actor.mailbox = undefined;
    if (next !== undefined) this.step(actor, next);
  }

  private release(actor: HostedActor<TMachine, TOwner>): void {
    actor.stopped = true;
    actor.busy = false;
    actor.mailbox = undefined;
    if (actor.timers) for (const t of actor.timers) this.timers.cancel(t);
    actor.timers = undefined;
    this.running--;
    this.options.onStopped?.(actor);
  }

  private scheduleTimer(actor: HostedActor<TMachine, TOwner>, sendId: string, event: EventFromLogic<TMachine>, delay: number): void {
    this.cancelTimer(actor, sendId);
    const timer = this.timers.schedule(this.options.clock.now() + delay, { actor, sendId, event });
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
