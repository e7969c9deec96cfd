/**
 * The compiled engine: executes a machine in the compiled form that machine-compiler.ts makes
 * from its xstate definition, taking the same steps as xstate's interpreter.
 *
 * Why: the actor host (actor-host.ts) keeps one snapshot per actor. Profiling put ~60% of a
 * registration in xstate's interpreter (macrostep/microstep, snapshot cloning with `_nodes`,
 * tags, history, Set and array allocation) and ~570 B in each snapshot. Here each transition's
 * exit/entry path is precomputed, each leaf state has one shared frozen state value, and a
 * snapshot is just `{ value, context, status }`. Equality with xstate is the contract
 * (runtime/actors/README.md); this file imports nothing from xstate.
 *
 * Allocation per step: the result object and its actions array (fresh, the caller owns
 * them), the new snapshot when xstate would make one (an assign ran, the leaf state or the
 * status changed; otherwise the same snapshot object comes back, as from xstate), the
 * contexts `assign` builds (`Object.assign({}, context, update)`, as xstate), small argument
 * objects for guards and action functions, and the emitted action objects whose params
 * depend on the step. Actions with static params are precomputed, frozen and shared.
 */
import type { StateValue } from 'xstate';
import type { EngineAction, EngineSnapshot, EngineStatus, StepEngine, StepResult } from './step-engine.js';

export type Callable = (...args: unknown[]) => unknown;
export interface EventLike {
  readonly type: string;
  readonly [key: string]: unknown;
}

// ---------------------------------------------------------------------------------------
// The compiled form (machine-compiler.ts fills it in)
// ---------------------------------------------------------------------------------------

export const ACTION_EMIT = 0; // precomputed {type, params}
export const ACTION_EMIT_PARAMS = 1; // {type, params: params({context, event})}
export const ACTION_ASSIGN = 2;
export const ACTION_RAISE = 3;
export const ACTION_CANCEL = 4;

export const PARAMS_NONE = 0;
export const PARAMS_STATIC = 1;
export const PARAMS_FUNCTION = 2;

export class CompiledAction {
  kind = ACTION_EMIT;
  type = '';
  /** The emitted action when nothing in it depends on the step. */
  emit: EngineAction | null = null;
  paramsKind = PARAMS_NONE;
  params: unknown = undefined;
  // assign: function form, or the object form's keys and values (values may be functions)
  assignFunction: Callable | null = null;
  assignKeys: string[] | null = null;
  assignValues: unknown[] | null = null;
  // raise
  event: unknown = undefined;
  eventFunction: Callable | null = null;
  id: unknown = undefined;
  delay: unknown = undefined;
  delayFunction: Callable | null = null;
  // cancel
  sendId: unknown = undefined;
  sendIdFunction: Callable | null = null;
}

export class CompiledGuard {
  /** null: named but not implemented (xstate throws when it is evaluated). */
  fn: Callable | null = null;
  name = '';
  /** What xstate's error message names: the string or object guard's type; none for inline. */
  label: string | undefined = undefined;
  paramsKind = PARAMS_NONE;
  params: unknown = undefined;
}

export class CompiledTransition {
  source!: CompiledNode;
  guard: CompiledGuard | null = null;
  actions: CompiledAction[] = [];
  targeted = false;
  /** xstate's transition domain; null stands for xstate's `undefined` (everything is exited). */
  domain: CompiledNode | null = null;
  /** Exit the domain itself too (xstate: `reenter && source === domain`). */
  exitDomain = false;
  /** States entered, outermost first, and whether each gets its `initial` actions. */
  enter: CompiledNode[] = [];
  enterDefault: boolean[] = [];
  /** The atomic (or final) state the transition ends in. */
  leaf!: CompiledNode;
}

export class CompiledNode {
  id = '';
  key = '';
  type: 'atomic' | 'compound' | 'final' = 'atomic';
  parent: CompiledNode | null = null;
  children = new Map<string, CompiledNode>();
  initialChild: CompiledNode | null = null;
  entry: CompiledAction[] = [];
  exit: CompiledAction[] = [];
  initialActions: CompiledAction[] = [];
  /** Own transitions by exact event descriptor, then the wildcard ones in declaration order. */
  exact = new Map<string, CompiledTransition[]>();
  wildcards: Array<[string, CompiledTransition[]]> = [];
  always: CompiledTransition[] | null = null;
  /** Final state inside a compound (not the root): the `xstate.done.state.<parent>` event. */
  doneEvent: EventLike | null = null;
  // Leaf data (atomic and final states, and an atomic root)
  value: StateValue = '';
  /** Candidate transitions along leaf → root, by event type (complete unless wildcards exist). */
  candidates = new Map<string, CompiledTransition[]>();
  chainHasWildcards = false;
  /** `always` transitions along leaf → root, deepest first. */
  eventless: CompiledTransition[] | null = null;
}

export const EMPTY: CompiledTransition[] = [];
const CANDIDATE_CACHE_LIMIT = 4096;

/** What compileMachine hands the engine. */
export interface CompiledMachine {
  readonly root: CompiledNode;
  readonly leaves: readonly CompiledNode[];
  /** The root and its initial descendants down to the initial leaf. */
  readonly initialPath: readonly CompiledNode[];
  /** The machine's `context`: an object, a factory of `{input}`, or undefined. */
  readonly contextConfig: unknown;
  readonly maxIterations: number;
}

/** xstate's matchesEventDescriptor: exact, `*`, or a `prefix.*` partial descriptor. */
function matchesDescriptor(eventType: string, descriptor: string): boolean {
  if (descriptor === eventType || descriptor === '*') return true;
  if (!descriptor.endsWith('.*')) return false;
  const partial = descriptor.split('.');
  const tokens = eventType.split('.');
  for (let i = 0; i < partial.length; i++) {
    if (partial[i] === '*') return i === partial.length - 1;
    if (partial[i] !== tokens[i]) return false;
  }
  return true;
}

/** xstate's getCandidates for one node: the exact match first, then wildcards, longest first. */
function nodeCandidates(node: CompiledNode, eventType: string): CompiledTransition[] {
  const exact = node.exact.get(eventType);
  if (node.wildcards.length === 0) return exact ?? EMPTY;
  const matching = node.wildcards.filter(([d]) => d !== eventType && matchesDescriptor(eventType, d));
  matching.sort((a, b) => b[0].length - a[0].length);
  const wild = matching.flatMap(([, ts]) => ts);
  return exact ? [...exact, ...wild] : wild;
}

export function leafCandidates(leaf: CompiledNode, eventType: string): CompiledTransition[] {
  const out: CompiledTransition[] = [];
  for (let n: CompiledNode | null = leaf; n !== null; n = n.parent) {
    for (const t of nodeCandidates(n, eventType)) out.push(t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// What the machine's functions get for the actor
// ---------------------------------------------------------------------------------------

/**
 * The compiled engine runs no actor, so there is no `self`, `system` or `spawn` to give.
 * Machines are pure (they only name actions; the host does the IO); in their place the arguments carry
 * stand-ins that throw, naming themselves, when a machine function uses one (reads a
 * property, calls it, converts it), so the step ends in an error instead of going on with
 * `undefined`. Stored away unused, a stand-in differs from xstate's actor and the
 * differential test shows it. Constants, so the argument objects cost what they did.
 */
function noActor(name: string): unknown {
  const fail = (): never => {
    throw new Error(`the compiled engine has no actor: a machine function used '${name}' (run this machine on xstate: MIP4_ENGINE=xstate)`);
  };
  return new Proxy(function noActor() {}, { get: fail, set: fail, has: fail, apply: fail, construct: fail, ownKeys: fail, getPrototypeOf: fail, defineProperty: fail, deleteProperty: fail, getOwnPropertyDescriptor: fail });
}
const NO_SELF = noActor('self');
const NO_SYSTEM = noActor('system');
const NO_SPAWN = noActor('spawn');

// ---------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------

/** Mutable state of one step. One is reused; a re-entrant step (a guard stepping the same engine) gets its own. */
class Run {
  context: unknown = undefined;
  leaf!: CompiledNode;
  status: EngineStatus = 'active';
  error: unknown = undefined;
  actions: EngineAction[] = [];
  queue: EventLike[] = [];
  /** The snapshot object xstate would hold changed in this step (so a new one is returned). */
  changed = false;
  /** An assign ran in the current microstep. */
  assigned = false;
  busy = false;
}

function isErrorActorEvent(event: EventLike): boolean {
  return event.type.startsWith('xstate.error.actor');
}

export class CompiledEngine implements StepEngine<unknown, EventLike, unknown> {
  private readonly leafByValue = new Map<unknown, CompiledNode>();
  private readonly run = new Run();
  private readonly root: CompiledNode;
  private readonly initialPath: readonly CompiledNode[];
  private readonly contextConfig: unknown;
  private readonly maxIterations: number;

  constructor(machine: CompiledMachine) {
    this.root = machine.root;
    this.initialPath = machine.initialPath;
    this.contextConfig = machine.contextConfig;
    this.maxIterations = machine.maxIterations;
    for (const leaf of machine.leaves) this.leafByValue.set(leaf.value, leaf);
  }

  private acquire(): Run {
    const run = this.run.busy ? new Run() : this.run;
    run.busy = true;
    run.actions = [];
    if (run.queue.length !== 0) run.queue.length = 0;
    run.status = 'active';
    run.error = undefined;
    run.changed = false;
    run.assigned = false;
    return run;
  }

  initial(input: unknown): StepResult<unknown> {
    const run = this.acquire();
    const initEvent: EventLike = { type: 'xstate.init', input };
    const factory = this.contextConfig;
    // xstate's pre-initial state: a static context is shared as is; a factory's result is
    // copied by the assign xstate wraps it in.
    let preInitialContext: unknown = typeof factory !== 'function' && factory ? factory : {};
    const initialLeaf = this.initialPath[this.initialPath.length - 1]!;
    try {
      if (typeof factory === 'function') {
        preInitialContext = Object.assign({}, preInitialContext, factory({ spawn: NO_SPAWN, input, self: NO_SELF }));
      }
      run.context = preInitialContext;
      run.leaf = this.root;
      // xstate's initial microstep: the root and its initial descendants, each with its
      // entry and initial actions, outermost first.
      const path = this.initialPath;
      for (let i = 0; i < path.length; i++) {
        const node = path[i]!;
        this.execute(run, node.entry, initEvent);
        if (node.initialChild !== null) this.execute(run, node.initialActions, initEvent);
        if (node.type === 'final') this.enterFinal(run, node);
      }
      run.leaf = initialLeaf;
      if (run.status === 'done') this.exitAll(run, initEvent);
      this.macrostep(run, initEvent);
      const snapshot: EngineSnapshot<unknown> = { value: run.leaf.value, context: run.context, status: run.status };
      return { snapshot, actions: run.actions };
    } catch (error) {
      const snapshot: EngineSnapshot<unknown> = { value: initialLeaf.value, context: preInitialContext, status: 'error', error };
      return { snapshot, actions: run.actions };
    } finally {
      run.busy = false;
    }
  }

  step(snapshot: EngineSnapshot<unknown>, event: EventLike): StepResult<unknown> {
    if (snapshot.status !== 'active') return { snapshot, actions: [] };
    const run = this.acquire();
    try {
      run.context = snapshot.context;
      run.leaf = this.leafOf(snapshot.value);
      if (event.type === 'xstate.stop') {
        return { snapshot: { value: snapshot.value, context: snapshot.context, status: 'stopped' }, actions: run.actions };
      }
      this.macrostep(run, event);
      if (!run.changed) return { snapshot, actions: run.actions };
      const next: EngineSnapshot<unknown> =
        run.status === 'error'
          ? { value: run.leaf.value, context: run.context, status: 'error', error: run.error }
          : { value: run.leaf.value, context: run.context, status: run.status };
      return { snapshot: next, actions: run.actions };
    } catch (error) {
      return { snapshot: { value: snapshot.value, context: snapshot.context, status: 'error', error }, actions: run.actions };
    } finally {
      run.busy = false;
    }
  }

  private leafOf(value: StateValue): CompiledNode {
    const known = this.leafByValue.get(value);
    if (known !== undefined) return known;
    // A value that is not one of ours (e.g. restored from storage): walk it.
    let node = this.root;
    let v: StateValue | undefined = value;
    for (;;) {
      if (typeof v === 'string') {
        const child = node.children.get(v);
        if (child === undefined) throw new Error(`State '${v}' does not exist on '${node.id}'`);
        node = child;
        break;
      }
      if (v === undefined || v === null || typeof v !== 'object') throw new Error(`Invalid state value ${String(v)}`);
      const keys: string[] = Object.keys(v);
      if (keys.length === 0) break;
      const key: string = keys[0]!;
      const child = node.children.get(key);
      if (child === undefined) throw new Error(`Child state '${key}' does not exist on '${node.id}'`);
      node = child;
      v = v[key];
    }
    if (node.type === 'compound') throw new Error(`State value ${JSON.stringify(value)} does not name a leaf state`);
    return node;
  }

  /** xstate's macrostep (without parallel regions, so at most one transition per microstep). */
  private macrostep(run: Run, event: EventLike): void {
    let nextEvent = event;
    if (event.type !== 'xstate.init') {
      const t = this.select(run, event);
      if (t === null && isErrorActorEvent(event)) {
        run.status = 'error';
        run.error = event.error;
        run.changed = true;
        return;
      }
      if (t !== null) this.microstep(run, t, event);
    }
    let selectEventless = true;
    let iterations = 0;
    while (run.status === 'active') {
      iterations++;
      if (iterations > this.maxIterations) {
        throw new Error(
          `Infinite loop detected: the machine has processed more than ${this.maxIterations} microsteps without reaching a stable state. This usually happens when there's a cycle of transitions (e.g., eventless transitions or raised events causing state A -> B -> C -> A).`,
        );
      }
      let t: CompiledTransition | null = selectEventless ? this.selectEventless(run, nextEvent) : null;
      const eventless: boolean = t !== null;
      if (t === null) {
        if (run.queue.length === 0) break;
        nextEvent = run.queue.shift()!;
        t = this.select(run, nextEvent);
      }
      // An eventless microstep that leaves xstate's snapshot object as it was ends the
      // search for eventless transitions until the next event (xstate compares objects).
      const changed: boolean = t !== null ? this.microstep(run, t, nextEvent) : false;
      selectEventless = eventless ? changed : true;
    }
  }

  /** xstate's transition selection: leaf first, then ancestors; first passing guard. */
  private select(run: Run, event: EventLike): CompiledTransition | null {
    const leaf = run.leaf;
    let candidates = leaf.candidates.get(event.type);
    if (candidates === undefined) {
      if (!leaf.chainHasWildcards) return null;
      candidates = leafCandidates(leaf, event.type);
      if (leaf.candidates.size < CANDIDATE_CACHE_LIMIT) leaf.candidates.set(event.type, candidates);
    }
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[i]!;
      const guard = t.guard;
      if (guard === null) return t;
      let passed: unknown;
      try {
        passed = evaluateGuard(guard, run.context, event);
      } catch (err) {
        // The message xstate's StateNode.next builds around a guard's error.
        const label = guard.label !== undefined ? `'${guard.label}' ` : '';
        throw new Error(
          `Unable to evaluate guard ${label}in transition for event '${event.type}' in state node '${t.source.id}':\n${(err as { message: unknown }).message}`,
        );
      }
      if (passed) return t;
    }
    return null;
  }

  /** xstate's selectEventlessTransitions: guard errors are not wrapped there. */
  private selectEventless(run: Run, event: EventLike): CompiledTransition | null {
    const list = run.leaf.eventless;
    if (list === null) return null;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (t.guard === null || evaluateGuard(t.guard, run.context, event)) return t;
    }
    return null;
  }

  /** xstate's microstep for one transition; returns whether xstate's snapshot object changed. */
  private microstep(run: Run, t: CompiledTransition, event: EventLike): boolean {
    const fromLeaf = run.leaf;
    const statusBefore = run.status;
    run.assigned = false;
    if (t.targeted) {
      // Exit set, deepest first: the active states below the domain (all of them when the
      // domain is undefined), then the domain itself for a reentering self transition.
      const domain = t.domain;
      for (let n: CompiledNode | null = fromLeaf; n !== null && n !== domain; n = n.parent) {
        this.execute(run, n.exit, event);
      }
      if (t.exitDomain && domain !== null) this.execute(run, domain.exit, event);
    }
    this.execute(run, t.actions, event);
    if (t.targeted) {
      const enter = t.enter;
      for (let i = 0; i < enter.length; i++) {
        const node = enter[i]!;
        this.execute(run, node.entry, event);
        if (t.enterDefault[i] && node.initialChild !== null) this.execute(run, node.initialActions, event);
        if (node.type === 'final') this.enterFinal(run, node);
      }
      run.leaf = t.leaf;
      if (run.status === 'done') this.exitAll(run, event);
    }
    const changed = run.assigned || run.leaf !== fromLeaf || run.status !== statusBefore;
    if (changed) run.changed = true;
    return changed;
  }

  private enterFinal(run: Run, node: CompiledNode): void {
    if (node.doneEvent !== null) run.queue.push(node.doneEvent);
    // A final child of the root (or a final root) completes the machine.
    else run.status = 'done';
  }

  /** On completion xstate runs the exit actions of every active state, deepest first. */
  private exitAll(run: Run, event: EventLike): void {
    for (let n: CompiledNode | null = run.leaf; n !== null; n = n.parent) this.execute(run, n.exit, event);
  }

  /** xstate's resolveAndExecuteActionsWithContext for the supported actions. */
  private execute(run: Run, list: CompiledAction[], event: EventLike): void {
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      switch (a.kind) {
        case ACTION_EMIT:
          run.actions.push(a.emit!);
          break;
        case ACTION_EMIT_PARAMS:
          run.actions.push({ type: a.type, params: (a.params as Callable)({ context: run.context, event }) });
          break;
        case ACTION_ASSIGN: {
          const params = actionParams(a, run.context, event);
          const args = { context: run.context, event, spawn: NO_SPAWN, self: NO_SELF, system: NO_SYSTEM };
          let partial: unknown;
          if (a.assignFunction !== null) {
            partial = a.assignFunction(args, params);
          } else {
            const keys = a.assignKeys!;
            const values = a.assignValues!;
            const update: Record<string, unknown> = {};
            for (let k = 0; k < keys.length; k++) {
              const v = values[k];
              update[keys[k]!] = typeof v === 'function' ? (v as Callable)(args, params) : v;
            }
            partial = update;
          }
          run.context = Object.assign({}, run.context, partial);
          run.assigned = true;
          break;
        }
        case ACTION_RAISE: {
          if (a.emit !== null) {
            if (typeof a.delay !== 'number') run.queue.push(a.event as EventLike);
            run.actions.push(a.emit);
            break;
          }
          const params = actionParams(a, run.context, event);
          const args = { context: run.context, event, self: NO_SELF, system: NO_SYSTEM };
          const raised = a.eventFunction !== null ? a.eventFunction(args, params) : a.event;
          const delay = a.delayFunction !== null ? a.delayFunction(args, params) : a.delay;
          if (typeof delay !== 'number') run.queue.push(raised as EventLike);
          run.actions.push({ type: 'xstate.raise', params: { event: raised, id: a.id, delay } });
          break;
        }
        case ACTION_CANCEL: {
          if (a.emit !== null) {
            run.actions.push(a.emit);
            break;
          }
          const params = actionParams(a, run.context, event);
          const sendId =
            a.sendIdFunction !== null ? a.sendIdFunction({ context: run.context, event, self: NO_SELF, system: NO_SYSTEM }, params) : a.sendId;
          run.actions.push({ type: 'xstate.cancel', params: { sendId } });
          break;
        }
      }
    }
  }
}

function actionParams(a: CompiledAction, context: unknown, event: EventLike): unknown {
  if (a.paramsKind === PARAMS_NONE) return undefined;
  if (a.paramsKind === PARAMS_STATIC) return a.params;
  return (a.params as Callable)({ context, event });
}

/** xstate's evaluateGuard for a compiled guard (the not-implemented check comes first there too). */
function evaluateGuard(guard: CompiledGuard, context: unknown, event: EventLike): unknown {
  if (guard.fn === null) throw new Error(`Guard '${guard.name}' is not implemented.'.`);
  const params =
    guard.paramsKind === PARAMS_NONE ? undefined : guard.paramsKind === PARAMS_STATIC ? guard.params : (guard.params as Callable)({ context, event });
  return guard.fn({ context, event }, params);
}

