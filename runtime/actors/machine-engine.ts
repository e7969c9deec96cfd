/**
 * A compiled step engine for a subset of xstate v5, and the xstate reference it must equal.
 *
 * Why: the actor host (actor-host.ts) keeps one snapshot per actor and drives it through
 * xstate's actor-logic interface. Profiling puts ~60% of a registration in xstate's
 * interpreter (macrostep/microstep, snapshot cloning with `_nodes`, tags, history, Set and
 * array allocation) and ~570 B in each snapshot. The machines stay the behaviour (they are
 * still written with `setup().createMachine()` and still run under `createActor`); this
 * module reads a machine's own structure once (`machine.root`, the StateNodes' `transitions`,
 * `always`, `entry`, `exit`, `initial`, and `machine.implementations`) and produces an engine
 * that takes the same steps with precomputed exit/entry paths, one shared frozen state value
 * per leaf state, and a snapshot that is just `{ value, context, status }`.
 *
 * Equality with xstate is the contract: test/runtime/machine-engine.test.ts drives
 * `compileMachine(m)` and `xstateEngine(m)` with the same random event sequences and
 * requires the same value, context, status, error and action list (type, params, order)
 * after every step. Anything outside the subset makes `compileMachine` answer
 * `{ unsupported: reason }` so the host falls back to `xstateEngine`.
 *
 * The subset: atomic, compound and final states (no parallel, history, invoke, route,
 * state `output`); event transitions chosen leaf first then ancestors, exact event types
 * before wildcard descriptors (`*`, `a.*`), first transition whose guard passes; guards
 * named (from `implementations.guards`, with static or function params) or inline functions
 * (no `and`/`or`/`not`/`stateIn`); zero or one target; targetless, `reenter`, cross-level
 * transitions; `always` transitions after every microstep; `initial` with actions;
 * nested final states raising `xstate.done.state.<id>` (so `onDone` works); a top-level final
 * state → status 'done'; actions: custom (named or inline function: handed out as commands,
 * never executed, exactly as the host's collecting scope does), `assign`, `raise` (with or
 * without delay: `after` timers are raises), `cancel`. The functions given to `assign`,
 * `raise`, `cancel`, delays and the context factory must not use `spawn`, `self` or `system`
 * (the compiled engine has no actor); their source text is checked for those names.
 *
 * Allocation per step: the result object and its actions array (fresh, the caller owns
 * them), the new snapshot when xstate would make one (an assign ran, the leaf state or the
 * status changed; otherwise the same snapshot object comes back, as from xstate), the
 * contexts `assign` builds (`Object.assign({}, context, update)`, as xstate), small argument
 * objects for guards and action functions, and the emitted action objects whose params
 * depend on the step. Actions with static params are precomputed, frozen and shared.
 *
 * Step contract (both engines): `step` on a snapshot whose status is not 'active' returns it
 * unchanged with no actions (the host never steps a stopped actor). An exception while
 * stepping gives `{ ...previous value and context, status: 'error', error }` and the actions
 * collected before it, which is what the host does around `machine.transition` (xstate's
 * `transition` throws; `getInitialSnapshot` returns an error snapshot instead, and both
 * engines' `initial` match that).
 */
import {
  createActor,
  type AnyActorScope,
  type AnyStateMachine,
  type ContextFrom,
  type EventFromLogic,
  type InputFrom,
  type StateValue,
} from 'xstate';

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

export interface Unsupported {
  readonly unsupported: string;
}

export function isUnsupported(result: object): result is Unsupported {
  return 'unsupported' in result;
}

// ---------------------------------------------------------------------------------------
// The xstate reference
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------

type Callable = (...args: unknown[]) => unknown;
interface EventLike {
  readonly type: string;
  readonly [key: string]: unknown;
}

// What xstate names its built-in actions, and the feature each stands for.
const BUILTIN_FEATURES: Record<string, string> = {
  'xstate.sendTo': 'sendTo (sendParent, forwardTo)',
  'xstate.emit': 'emit',
  'xstate.enqueueActions': 'enqueueActions',
  'xstate.spawnChild': 'spawnChild',
  'xstate.stopChild': 'stopChild',
  'xstate.log': 'log',
};

const ACTION_EMIT = 0; // precomputed {type, params}
const ACTION_EMIT_PARAMS = 1; // {type, params: params({context, event})}
const ACTION_ASSIGN = 2;
const ACTION_RAISE = 3;
const ACTION_CANCEL = 4;

const PARAMS_NONE = 0;
const PARAMS_STATIC = 1;
const PARAMS_FUNCTION = 2;

class CompiledAction {
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

class CompiledGuard {
  /** null: named but not implemented (xstate throws when it is evaluated). */
  fn: Callable | null = null;
  name = '';
  /** What xstate's error message names: the string or object guard's type; none for inline. */
  label: string | undefined = undefined;
  paramsKind = PARAMS_NONE;
  params: unknown = undefined;
}

class CompiledTransition {
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

class CompiledNode {
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

const EMPTY: CompiledTransition[] = [];
const CANDIDATE_CACHE_LIMIT = 4096;

class CompileError extends Error {}

interface XStateNode {
  id: string;
  key: string;
  type: string;
  parent?: XStateNode;
  states: Record<string, XStateNode>;
  entry: unknown[];
  exit: unknown[];
  transitions: Map<string, XTransition[]>;
  always?: XTransition[];
  initial: { target: XStateNode[]; actions: unknown[] };
  invoke: unknown[];
  output: unknown;
  config: { route?: unknown; type?: string };
}
interface XTransition {
  target?: XStateNode[];
  guard?: unknown;
  actions: unknown[];
  reenter: boolean;
  source: XStateNode;
}

const USES_ACTOR = /\b(spawn|self|system)\b/;

function checkPure(fn: unknown, where: string): void {
  if (typeof fn === 'function' && USES_ACTOR.test(Function.prototype.toString.call(fn))) {
    throw new CompileError(`${where}: a function that mentions spawn/self/system (the compiled engine has no actor)`);
  }
}

function freezeValue(value: StateValue): StateValue {
  if (typeof value === 'object') {
    for (const key of Object.keys(value)) freezeValue(value[key] as StateValue);
    Object.freeze(value);
  }
  return value;
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

function leafCandidates(leaf: CompiledNode, eventType: string): CompiledTransition[] {
  const out: CompiledTransition[] = [];
  for (let n: CompiledNode | null = leaf; n !== null; n = n.parent) {
    for (const t of nodeCandidates(n, eventType)) out.push(t);
  }
  return out;
}

class Compiler {
  private readonly nodes = new Map<XStateNode, CompiledNode>();
  private readonly actions: Record<string, unknown>;
  private readonly guards: Record<string, unknown>;
  private readonly delays: Record<string, unknown>;

  constructor(private readonly machine: AnyStateMachine) {
    const impl = machine.implementations as {
      actions: Record<string, unknown>;
      guards: Record<string, unknown>;
      delays: Record<string, unknown>;
    };
    this.actions = impl.actions ?? {};
    this.guards = impl.guards ?? {};
    this.delays = impl.delays ?? {};
  }

  compile(): CompiledEngine {
    const xroot = this.machine.root as unknown as XStateNode;
    const root = this.createNodes(xroot, null);
    // Initial children first: transitions compiled below follow them to their leaf.
    for (const [xnode, node] of this.nodes) {
      if (node.type !== 'compound') continue;
      const target = xnode.initial.target;
      if (target.length !== 1 || !target[0]) throw new CompileError(`initial of #${xnode.id}`);
      node.initialChild = this.node(target[0]);
    }
    for (const [xnode, node] of this.nodes) this.fillNode(xnode, node);
    if (xroot.output !== undefined) throw new CompileError('machine output');
    const leaves: CompiledNode[] = [];
    for (const node of this.nodes.values()) {
      if (node.type === 'compound') continue;
      node.value = freezeValue(valueOf(node));
      this.fillLeaf(node);
      leaves.push(node);
    }
    const config = this.machine.config as { context?: unknown };
    checkPure(config.context, 'context factory');
    const options = this.machine.options as { maxIterations?: number } | undefined;
    const initialPath: CompiledNode[] = [];
    for (let n: CompiledNode | null = root; n !== null; n = n.initialChild) initialPath.push(n);
    return new CompiledEngine(root, leaves, initialPath, config.context, options?.maxIterations ?? Infinity);
  }

  private createNodes(xnode: XStateNode, parent: CompiledNode | null): CompiledNode {
    const where = `state #${xnode.id}`;
    if (xnode.type === 'parallel') throw new CompileError(`parallel state #${xnode.id}`);
    if (xnode.type === 'history') throw new CompileError(`history state #${xnode.id}`);
    if (xnode.type !== 'atomic' && xnode.type !== 'compound' && xnode.type !== 'final') {
      throw new CompileError(`${where}: state type ${String(xnode.type)}`);
    }
    if (xnode.invoke.length > 0) throw new CompileError(`invoke in ${where}`);
    if (xnode.config.route !== undefined) throw new CompileError(`route transition in ${where}`);
    if (xnode.type === 'final' && xnode.output !== undefined) throw new CompileError(`output of final ${where}`);
    if (xnode.type === 'final' && Object.keys(xnode.states).length > 0) throw new CompileError(`final ${where} with child states`);
    const node = new CompiledNode();
    node.id = xnode.id;
    node.key = xnode.key;
    node.type = xnode.type;
    node.parent = parent;
    this.nodes.set(xnode, node);
    for (const key of Object.keys(xnode.states)) {
      node.children.set(key, this.createNodes(xnode.states[key]!, node));
    }
    return node;
  }

  private fillNode(xnode: XStateNode, node: CompiledNode): void {
    const where = `#${xnode.id}`;
    node.entry = xnode.entry.map((a) => this.action(a, `entry of ${where}`));
    node.exit = xnode.exit.map((a) => this.action(a, `exit of ${where}`));
    if (node.type === 'compound') {
      node.initialActions = xnode.initial.actions.map((a) => this.action(a, `initial of ${where}`));
    }
    for (const [descriptor, xts] of xnode.transitions) {
      const ts = xts.map((t) => this.transition(t, `transition '${descriptor}' of ${where}`));
      if (descriptor === '*' || descriptor.endsWith('.*')) node.wildcards.push([descriptor, ts]);
      else node.exact.set(descriptor, ts);
    }
    if (xnode.always) node.always = xnode.always.map((t) => this.transition(t, `always of ${where}`));
    if (node.type === 'final' && node.parent !== null && node.parent.parent !== null) {
      node.doneEvent = Object.freeze({ type: `xstate.done.state.${node.parent.id}`, output: undefined });
    }
  }

  private fillLeaf(leaf: CompiledNode): void {
    const eventless: CompiledTransition[] = [];
    const types = new Set<string>();
    for (let n: CompiledNode | null = leaf; n !== null; n = n.parent) {
      if (n.always) eventless.push(...n.always);
      if (n.wildcards.length > 0) leaf.chainHasWildcards = true;
      for (const type of n.exact.keys()) types.add(type);
    }
    leaf.eventless = eventless.length > 0 ? eventless : null;
    for (const type of types) leaf.candidates.set(type, leafCandidates(leaf, type));
  }

  private node(xnode: XStateNode): CompiledNode {
    const node = this.nodes.get(xnode);
    if (!node) throw new CompileError(`target #${xnode.id} outside the machine`);
    return node;
  }

  private transition(xt: XTransition, where: string): CompiledTransition {
    const t = new CompiledTransition();
    const source = this.node(xt.source);
    t.source = source;
    t.guard = xt.guard === undefined ? null : this.guard(xt.guard, where);
    t.actions = xt.actions.map((a) => this.action(a, where));
    const targets = xt.target ?? [];
    if (targets.length > 1) throw new CompileError(`${where}: more than one target`);
    const xtarget = targets[0];
    if (xtarget === undefined) return t;
    const target = this.node(xtarget);
    t.targeted = true;
    const reenter = xt.reenter;
    // xstate's getTransitionDomain for one target.
    let domain: CompiledNode | null;
    if (!reenter && (target === source || isDescendant(target, source))) {
      domain = source;
    } else {
      const lca = leastCommonAncestor(target, source);
      domain = lca ?? (reenter ? null : rootOf(source));
    }
    t.domain = domain;
    t.exitDomain = reenter && domain === source;
    // xstate's computeEntrySet: the target's proper ancestors below the domain, the target
    // itself unless it is a non-reentering self target, then its initial descendants.
    const ancestors: CompiledNode[] = [];
    if (target !== domain) {
      for (let a = target.parent; a !== null && a !== domain; a = a.parent) ancestors.unshift(a);
    }
    for (const a of ancestors) {
      t.enter.push(a);
      t.enterDefault.push(false);
    }
    if (source !== target || source !== domain || reenter) {
      t.enter.push(target);
      t.enterDefault.push(true);
    }
    let leaf = target;
    while (leaf.initialChild !== null) {
      leaf = leaf.initialChild;
      t.enter.push(leaf);
      t.enterDefault.push(true);
    }
    t.leaf = leaf;
    return t;
  }

  private guard(guard: unknown, where: string): CompiledGuard {
    const g = new CompiledGuard();
    if (typeof guard === 'function') {
      if ('check' in guard) throw new CompileError(`${where}: built-in guard (and/or/not/stateIn)`);
      g.fn = guard as Callable;
      return g;
    }
    const name = typeof guard === 'string' ? guard : (guard as { type?: unknown }).type;
    if (typeof name !== 'string') throw new CompileError(`${where}: guard without a type`);
    g.name = name;
    g.label = name;
    const impl = this.guards[name];
    if (impl !== undefined) {
      if (typeof impl !== 'function') throw new CompileError(`${where}: guard '${name}' is implemented by another guard reference`);
      if ('check' in impl) throw new CompileError(`${where}: guard '${name}' is a built-in guard (and/or/not/stateIn)`);
      g.fn = impl as Callable;
    }
    if (typeof guard === 'object' && guard !== null && 'params' in guard) {
      const params = (guard as { params: unknown }).params;
      g.paramsKind = typeof params === 'function' ? PARAMS_FUNCTION : PARAMS_STATIC;
      g.params = params;
    }
    return g;
  }

  private action(action: unknown, where: string): CompiledAction {
    const a = new CompiledAction();
    let impl: unknown;
    if (typeof action === 'function') {
      impl = action;
      a.type = (action as { name?: string }).name || '(anonymous)';
    } else if (typeof action === 'string') {
      a.type = action;
      impl = this.actions[action];
    } else if (typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string') {
      a.type = (action as { type: string }).type;
      impl = this.actions[a.type];
      if ('params' in action) {
        const params = (action as { params: unknown }).params;
        a.paramsKind = typeof params === 'function' ? PARAMS_FUNCTION : PARAMS_STATIC;
        a.params = params;
      }
    } else {
      throw new CompileError(`${where}: action ${String(action)}`);
    }
    if (impl !== undefined && typeof impl !== 'function') {
      throw new CompileError(`${where}: action '${a.type}' is implemented by a non-function`);
    }
    if (impl === undefined || !('resolve' in impl)) {
      // A custom action: the host's scope only collects it, so it is a command.
      if (a.paramsKind === PARAMS_FUNCTION) {
        a.kind = ACTION_EMIT_PARAMS;
      } else {
        a.kind = ACTION_EMIT;
        a.emit = Object.freeze({ type: a.type, params: a.params });
      }
      return a;
    }
    const builtin = impl as unknown as Record<string, unknown> & { type: string };
    switch (builtin.type) {
      case 'xstate.assign': {
        a.kind = ACTION_ASSIGN;
        const assignment = builtin.assignment;
        if (typeof assignment === 'function') {
          checkPure(assignment, `${where}: assign`);
          a.assignFunction = assignment as Callable;
        } else if (typeof assignment === 'object' && assignment !== null) {
          a.assignKeys = Object.keys(assignment);
          a.assignValues = a.assignKeys.map((k) => (assignment as Record<string, unknown>)[k]);
          for (const v of a.assignValues) checkPure(v, `${where}: assign`);
        } else {
          throw new CompileError(`${where}: assign without an assignment`);
        }
        return a;
      }
      case 'xstate.raise': {
        a.kind = ACTION_RAISE;
        const event = builtin.event;
        if (typeof event === 'function') {
          checkPure(event, `${where}: raise`);
          a.eventFunction = event as Callable;
        } else if (typeof event === 'object' && event !== null) {
          a.event = event;
        } else {
          throw new CompileError(`${where}: raise of a non-object event`);
        }
        a.id = builtin.id;
        let delay = builtin.delay;
        if (typeof delay === 'string') delay = this.delays[delay];
        if (typeof delay === 'function') {
          checkPure(delay, `${where}: delay`);
          a.delayFunction = delay as Callable;
        } else {
          a.delay = delay;
        }
        if (a.paramsKind !== PARAMS_FUNCTION && a.eventFunction === null && a.delayFunction === null) {
          a.emit = Object.freeze({ type: 'xstate.raise', params: Object.freeze({ event: a.event, id: a.id, delay: a.delay }) });
        }
        return a;
      }
      case 'xstate.cancel': {
        a.kind = ACTION_CANCEL;
        const sendId = builtin.sendId;
        if (typeof sendId === 'function') {
          checkPure(sendId, `${where}: cancel`);
          a.sendIdFunction = sendId as Callable;
        } else {
          a.sendId = sendId;
          if (a.paramsKind !== PARAMS_FUNCTION) {
            a.emit = Object.freeze({ type: 'xstate.cancel', params: Object.freeze({ sendId }) });
          }
        }
        return a;
      }
      default: {
        const feature = BUILTIN_FEATURES[builtin.type] ?? builtin.type;
        throw new CompileError(`${where}: action ${feature} (${builtin.type})`);
      }
    }
  }
}

function isDescendant(node: CompiledNode, ancestor: CompiledNode): boolean {
  for (let n = node.parent; n !== null; n = n.parent) if (n === ancestor) return true;
  return false;
}

function rootOf(node: CompiledNode): CompiledNode {
  let n = node;
  while (n.parent !== null) n = n.parent;
  return n;
}

/** xstate's findLeastCommonAncestor([target, source]): a proper ancestor of the target containing the source. */
function leastCommonAncestor(target: CompiledNode, source: CompiledNode): CompiledNode | null {
  for (let a = target.parent; a !== null; a = a.parent) {
    if (isDescendant(source, a)) return a;
  }
  return null;
}

/** xstate's getStateValue for the configuration ending in `leaf`. */
function valueOf(leaf: CompiledNode): StateValue {
  if (leaf.parent === null) return {};
  let value: StateValue = leaf.key;
  for (let n = leaf.parent; n.parent !== null; n = n.parent) value = { [n.key]: value };
  return value;
}

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

class CompiledEngine implements StepEngine<unknown, EventLike, unknown> {
  private readonly leafByValue = new Map<unknown, CompiledNode>();
  private readonly run = new Run();

  constructor(
    private readonly root: CompiledNode,
    leaves: CompiledNode[],
    private readonly initialPath: CompiledNode[],
    private readonly contextConfig: unknown,
    private readonly maxIterations: number,
  ) {
    for (const leaf of leaves) this.leafByValue.set(leaf.value, leaf);
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
        preInitialContext = Object.assign({}, preInitialContext, factory({ spawn: undefined, input, self: undefined }));
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
          const args = { context: run.context, event, spawn: undefined, self: undefined, system: undefined };
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
          const args = { context: run.context, event, self: undefined, system: undefined };
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
            a.sendIdFunction !== null ? a.sendIdFunction({ context: run.context, event, self: undefined, system: undefined }, params) : a.sendId;
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

/**
 * Compiles a machine into a step engine equal to `xstateEngine(machine)`, or says why it
 * cannot (the host then uses `xstateEngine`).
 */
export function compileMachine<TMachine extends AnyStateMachine>(machine: TMachine): EngineFor<TMachine> | Unsupported {
  try {
    return new Compiler(machine).compile() as unknown as EngineFor<TMachine>;
  } catch (error) {
    if (error instanceof CompileError) return { unsupported: error.message };
    return { unsupported: `cannot read the machine: ${(error as Error)?.message ?? String(error)}` };
  }
}

/** The compiled engine when the machine allows it, xstate's otherwise. */
export function engineFor<TMachine extends AnyStateMachine>(machine: TMachine): EngineFor<TMachine> {
  const compiled = compileMachine(machine);
  return isUnsupported(compiled) ? xstateEngine(machine) : compiled;
}
