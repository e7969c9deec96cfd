/**
 * State charts generated from the machines themselves (not drawn by hand), as JSON and as
 * Mermaid `stateDiagram-v2` text a person can render (chart-layout.ts lays them out for SVG). Transitions show their event, guard,
 * named reason and commands; `xstate.after.<delay>.*` events are shown as `after <delay>`.
 */
import type { AnyStateMachine } from 'xstate';

export interface ChartState {
  readonly id: string;
  readonly type: string;
  readonly parent?: string;
  readonly initial?: string;
  readonly entry: readonly string[];
  readonly exit: readonly string[];
}

export interface ChartTransition {
  readonly source: string;
  /** Absent for a transition that stays in its state without re-entering it. */
  readonly target?: string;
  readonly event: string;
  readonly guard?: string;
  readonly reason?: string;
  readonly actions: readonly string[];
  readonly reenter: boolean;
}

export interface Chart {
  readonly machine: string;
  readonly states: readonly ChartState[];
  readonly transitions: readonly ChartTransition[];
}

type Node = {
  id: string;
  type: string;
  parent?: Node;
  states: Record<string, Node>;
  initial?: { target: Node[] };
  entry: unknown[];
  exit: unknown[];
  transitions: Map<string, Array<{ target?: Node[]; guard?: unknown; actions: unknown[]; reenter: boolean }>>;
  always?: Array<{ target?: Node[]; guard?: unknown; actions: unknown[]; reenter: boolean }>;
};

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') return (action as { type?: string }).type ?? action.name ?? 'inline';
  const a = action as { type?: string; params?: unknown };
  return a.type ?? 'inline';
}

/** The reason is shown on its own; xstate's timer bookkeeping (after → raise/cancel) is implied by `after`. */
function isCommand(name: string): boolean {
  return name !== 'reason' && !name.startsWith('xstate.');
}

function reasonOf(actions: readonly unknown[]): string | undefined {
  for (const action of actions) {
    const a = action as { type?: string; params?: { reason?: string } };
    if (a && typeof a === 'object' && a.type === 'reason' && typeof a.params?.reason === 'string') return a.params.reason;
  }
  return undefined;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  return (guard as { type?: string }).type ?? (guard as { name?: string }).name ?? 'guard';
}

/** Makes `xstate.after.lifetime.binding.registered.timed` read as `after lifetime`. */
function eventLabel(event: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(event);
  return after ? `after ${after[1]}` : event;
}

export function machineChart(machine: AnyStateMachine): Chart {
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];
  const visit = (node: Node) => {
    states.push({
      id: node.id,
      type: node.type,
      ...(node.parent ? { parent: node.parent.id } : {}),
      ...(node.initial?.target[0] ? { initial: node.initial.target[0].id } : {}),
      entry: node.entry.map(actionName).filter(isCommand),
      exit: node.exit.map(actionName).filter(isCommand),
    });
    const add = (event: string, list: NonNullable<Node['always']>) => {
      for (const t of list) {
        const reason = reasonOf(t.actions);
        const guard = guardName(t.guard);
        transitions.push({
          source: node.id,
          ...(t.target?.[0] ? { target: t.target[0].id } : {}),
          event: eventLabel(event),
          ...(guard ? { guard } : {}),
          ...(reason ? { reason } : {}),
          actions: t.actions.map(actionName).filter(isCommand),
          reenter: t.reenter,
        });
      }
    };
    for (const [event, list] of node.transitions) add(event, list);
    if (node.always) add('(always)', node.always);
    for (const child of Object.values(node.states)) visit(child);
  };
  const root = machine.root as unknown as Node;
  visit(root);
  return { machine: machine.id, states, transitions };
}

/** Mermaid `stateDiagram-v2` text of a chart (nested states as composite states). */
export function chartToMermaid(chart: Chart): string {
  const name = (id: string) => id.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['stateDiagram-v2'];
  const children = (parent: string | undefined) => chart.states.filter((s) => s.parent === parent);
  const emit = (state: ChartState, depth: number) => {
    const pad = '  '.repeat(depth);
    const label = state.id.split('.').pop()!;
    const kids = children(state.id);
    if (kids.length > 0) {
      lines.push(`${pad}state "${label}" as ${name(state.id)} {`);
      if (state.initial) lines.push(`${pad}  [*] --> ${name(state.initial)}`);
      for (const kid of kids) emit(kid, depth + 1);
      lines.push(`${pad}}`);
    } else {
      lines.push(`${pad}state "${label}" as ${name(state.id)}`);
      if (state.type === 'final') lines.push(`${pad}${name(state.id)} --> [*]`);
    }
    if (state.entry.length > 0) lines.push(`${pad}note right of ${name(state.id)}: entry / ${state.entry.join(', ')}`);
  };
  // The machine itself is drawn as the outermost composite state: transitions declared on the
  // root (handled in every state) then start from a drawn box, not a stray undeclared node.
  const root = chart.states.find((s) => s.parent === undefined)!;
  lines.push(`  [*] --> ${name(root.id)}`);
  emit(root, 1);
  for (const t of chart.transitions) {
    const label = [t.event, t.guard ? `[${t.guard}]` : '', t.reason ? `(${t.reason})` : ''].filter(Boolean).join(' ');
    lines.push(`  ${name(t.source)} --> ${name(t.target ?? t.source)} : ${label}`);
  }
  return lines.join('\n');
}
