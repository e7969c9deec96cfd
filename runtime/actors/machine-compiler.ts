/**
 * The compiler: reads a machine's own xstate definition once and produces the compiled form
 * that compiled-engine.ts executes. This is the only file that reads xstate's internals
 * (`machine.root`, the StateNodes' `transitions`, `always`, `entry`, `exit`, `initial`,
 * `invoke`, `output`, `config`, the built-in actions' `type`/`assignment`/`event`/`delay`/
 * `sendId`, and `machine.implementations`); runtime/actors/README.md says what to do when an
 * xstate upgrade moves them.
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
 * without delay: `after` timers are raises), `cancel`. Anything else is refused with the
 * feature named: `compileMachine` answers `{ unsupported }`, never a wrong engine.
 */
import type { AnyStateMachine, StateValue } from 'xstate';
import {
  ACTION_ASSIGN,
  ACTION_CANCEL,
  ACTION_EMIT,
  ACTION_EMIT_PARAMS,
  ACTION_RAISE,
  CompiledAction,
  CompiledEngine,
  CompiledGuard,
  type CompiledMachine,
  CompiledNode,
  CompiledTransition,
  leafCandidates,
  PARAMS_FUNCTION,
  PARAMS_STATIC,
  type Callable,
} from './compiled-engine.js';
import type { EngineFor } from './step-engine.js';

/** Why a machine cannot be compiled: the feature, and where in the machine. */
export interface Unsupported {
  readonly unsupported: string;
}

export function isUnsupported(result: object): result is Unsupported {
  return 'unsupported' in result;
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

function freezeValue(value: StateValue): StateValue {
  if (typeof value === 'object') {
    for (const key of Object.keys(value)) freezeValue(value[key] as StateValue);
    Object.freeze(value);
  }
  return value;
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

  compile(): CompiledMachine {
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
    const options = this.machine.options as { maxIterations?: number } | undefined;
    const initialPath: CompiledNode[] = [];
    for (let n: CompiledNode | null = root; n !== null; n = n.initialChild) initialPath.push(n);
    return { root, leaves, initialPath, contextConfig: config.context, maxIterations: options?.maxIterations ?? Infinity };
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
          a.assignFunction = assignment as Callable;
        } else if (typeof assignment === 'object' && assignment !== null) {
          a.assignKeys = Object.keys(assignment);
          a.assignValues = a.assignKeys.map((k) => (assignment as Record<string, unknown>)[k]);
        } else {
          throw new CompileError(`${where}: assign without an assignment`);
        }
        return a;
      }
      case 'xstate.raise': {
        a.kind = ACTION_RAISE;
        const event = builtin.event;
        if (typeof event === 'function') {
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

/**
 * Compiles a machine into a step engine equal to `xstateEngine(machine)`, or says why it
 * cannot: the feature and where it is (engineFor turns that into a start-up error).
 */
export function compileMachine<TMachine extends AnyStateMachine>(machine: TMachine): EngineFor<TMachine> | Unsupported {
  try {
    return new CompiledEngine(new Compiler(machine).compile()) as unknown as EngineFor<TMachine>;
  } catch (error) {
    if (error instanceof CompileError) return { unsupported: error.message };
    return { unsupported: `cannot read the machine: ${(error as Error)?.message ?? String(error)}` };
  }
}
