/**
 * A chart's drawing, laid out by ELK (elkjs, layered algorithm) from the chart model that
 * machine-chart.ts reads off the machine: `mip4 chart --format svg` and the inspector page
 * draw this same layout, so the two never disagree. Nested states are ELK compound nodes;
 * every edge lives at the root (hierarchyHandling INCLUDE_CHILDREN), so cross-level
 * transitions route through their parents' borders.
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { Chart, ChartState, ChartTransition } from './machine-chart.js';


export interface PlacedState {
  readonly id: string;
  readonly label: string;
  readonly type: string;
  readonly compound: boolean;
  readonly initial: boolean;
  /** Absolute position (the layout's own are relative to the parent). */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Transitions that stay in (or re-enter) this state, listed inside its box instead of looping around it. */
  readonly selfTransitions: readonly PlacedTransition[];
}

export interface PlacedTransition {
  readonly index: number;
  readonly transition: ChartTransition;
  readonly label: string;
  /** The route, absolute: start, bends, end. */
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
  readonly labelAt?: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

export interface ChartLayout {
  readonly machine: string;
  readonly width: number;
  readonly height: number;
  readonly states: readonly PlacedState[];
  readonly transitions: readonly PlacedTransition[];
}

/** Width of text in the drawing's font (12 px sans): an estimate is enough for the boxes. */
const CHAR_WIDTH = 7;
const LINE_HEIGHT = 16;
const SELF_LINE_HEIGHT = 14;

/** The label of a transition: event, [guard]; the reason goes in the tooltip. */
export function transitionLabel(t: ChartTransition): string {
  return t.guard === undefined ? t.event : `${t.event} [${t.guard}]`;
}

function textWidth(text: string): number {
  return text.length * CHAR_WIDTH + 16;
}

export async function layoutChart(chart: Chart): Promise<ChartLayout> {
  const root = chart.states.find((s) => s.parent === undefined);
  if (root === undefined) throw new Error(`chart ${chart.machine} has no root state`);
  const childrenOf = new Map<string, ChartState[]>();
  for (const state of chart.states) {
    if (state.parent === undefined) continue;
    const list = childrenOf.get(state.parent) ?? [];
    list.push(state);
    childrenOf.set(state.parent, list);
  }
  const initials = new Set(chart.states.flatMap((s) => (s.initial === undefined ? [] : [s.initial])));
  const labelOf = (id: string) => id.split('.').pop()!;
  // A loop around a box (worst around a composite one) swamps the drawing: a state's own
  // transitions are written inside it, one line each, and only the others are routed.
  const selfOf = new Map<string, number[]>();
  chart.transitions.forEach((t, i) => {
    if ((t.target ?? t.source) !== t.source) return;
    const list = selfOf.get(t.source) ?? [];
    list.push(i);
    selfOf.set(t.source, list);
  });
  const selfLabel = (i: number) => `↻ ${transitionLabel(chart.transitions[i]!)}`;
  const nodeOf = (state: ChartState): ElkNode => {
    const kids = childrenOf.get(state.id) ?? [];
    const label = labelOf(state.id);
    const selfLines = (selfOf.get(state.id) ?? []).map(selfLabel);
    const widest = Math.max(textWidth(label), ...selfLines.map(textWidth));
    if (kids.length === 0) return { id: state.id, width: Math.max(widest, 90), height: 36 + selfLines.length * SELF_LINE_HEIGHT };
    return {
      id: state.id,
      layoutOptions: { 'elk.padding': `[top=30,left=14,bottom=${14 + selfLines.length * SELF_LINE_HEIGHT},right=14]`, 'elk.nodeSize.minimum': `(${widest + 28},40)`, 'elk.nodeSize.constraints': 'MINIMUM_SIZE' },
      children: kids.map(nodeOf),
    };
  };
  const routed = chart.transitions.flatMap((t, i) => ((t.target ?? t.source) === t.source ? [] : [i]));
  const edges: ElkExtendedEdge[] = routed.map((i) => {
    const t = chart.transitions[i]!;
    const label = transitionLabel(t);
    return {
      id: `t${i}`,
      sources: [t.source],
      targets: [t.target ?? t.source],
      labels: [{ text: label, width: textWidth(label), height: LINE_HEIGHT }],
    };
  });
  const graph: ElkNode = {
    id: '(canvas)',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'POLYLINE',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.nodeNode': '30',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.inline': 'false',
      'elk.padding': '[top=10,left=10,bottom=10,right=10]',
    },
    children: [nodeOf(root)],
    edges,
  };
  // Loaded on first use: ELK is a large module, and nothing but a drawing needs it (a daemon
  // without --inspect never loads it). A CommonJS module whose declaration says `export
  // default`: under NodeNext its default is the module object, whose `default` is ELK.
  const { default: elkModule } = await import('elkjs/lib/elk.bundled.js');
  const laid = await new elkModule.default().layout(graph);

  const states: PlacedState[] = [];
  const offsets = new Map<string, { x: number; y: number }>();
  offsets.set(laid.id, { x: 0, y: 0 });
  const visit = (node: ElkNode, ox: number, oy: number) => {
    const x = ox + (node.x ?? 0);
    const y = oy + (node.y ?? 0);
    offsets.set(node.id, { x, y });
    const state = chart.states.find((s) => s.id === node.id)!;
    states.push({
      id: node.id,
      label: labelOf(node.id),
      type: state.type,
      compound: (node.children?.length ?? 0) > 0,
      initial: initials.has(node.id),
      x,
      y,
      width: node.width ?? 0,
      height: node.height ?? 0,
      selfTransitions: (selfOf.get(node.id) ?? []).map((index) => ({ index, transition: chart.transitions[index]!, label: selfLabel(index), points: [] })),
    });
    for (const child of node.children ?? []) visit(child, x, y);
  };
  for (const child of laid.children ?? []) visit(child, 0, 0);

  // ELK gives an edge's coordinates relative to its container (the `container` it reports).
  const transitions: PlacedTransition[] = (laid.edges ?? []).map((edge, k) => {
    const index = routed[k]!;
    const container = offsets.get((edge as { container?: string }).container ?? laid.id) ?? { x: 0, y: 0 };
    const points: Array<{ x: number; y: number }> = [];
    for (const section of edge.sections ?? []) {
      points.push({ x: section.startPoint.x + container.x, y: section.startPoint.y + container.y });
      for (const bend of section.bendPoints ?? []) points.push({ x: bend.x + container.x, y: bend.y + container.y });
      points.push({ x: section.endPoint.x + container.x, y: section.endPoint.y + container.y });
    }
    const label = edge.labels?.[0];
    const transition = chart.transitions[index]!;
    return {
      index,
      transition,
      label: transitionLabel(transition),
      points,
      ...(label?.x !== undefined && label.y !== undefined
        ? { labelAt: { x: label.x + container.x, y: label.y + container.y, width: label.width ?? 0, height: label.height ?? 0 } }
        : {}),
    };
  });
  return { machine: chart.machine, width: laid.width ?? 0, height: laid.height ?? 0, states, transitions };
}
