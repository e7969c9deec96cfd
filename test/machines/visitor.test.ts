/**
 * The foreign agent's visitor list entry (RFC 5944 3.7.1, 3.7.2, 3.7.2.2, 3.7.3.2).
 *
 * Model-based: paths are generated from the machine with xstate/graph over a fixed event set
 * (timers as their `xstate.after.*` events), replayed on a real actor, and checked against a
 * model written from 3.7 (what the entry holds, whether the visitor route is installed). Then
 * the timers on xstate's SimulatedClock, to the millisecond.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyTransitionDefinition, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, getStateNodes, serializeSnapshot, type StatePath } from 'xstate/graph';
import { ipv4 } from '../../io/wire/bytes.js';
import { INFINITE_LIFETIME, visitorMachine, visitorRemainingLifetime, type VisitorEvent, type VisitorInput, type VisitorRequest } from '../../machines/visitor.js';
import { compileMachine, isUnsupported } from '../../runtime/actors/machine-engine.js';
import { VISITOR_EVENTS, VISITOR_INPUT, VISITOR_TIMERS } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof visitorMachine>;
const PENDING_EXPIRY = VISITOR_TIMERS.pending;
const LIFETIME_EXPIRY = VISITOR_TIMERS.lifetime;
type TimerEvent = { readonly type: typeof PENDING_EXPIRY | typeof LIFETIME_EXPIRY };
type GraphEvent = VisitorEvent | TimerEvent;

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const COA_2 = ipv4('203.0.113.2');
const MAC = '02:00:00:00:00:0a';
const MAC_2 = '02:00:00:00:00:0b';

function req(requestedLifetime: number, at: number, careOfAddress = COA, linkLayerSource = MAC): VisitorRequest {
  return { linkLayerSource, ipSource: HOME, udpSourcePort: 49152, homeAgent: HA, careOfAddress, identification: { high: 1, low: requestedLifetime }, requestedLifetime, at };
}

// The kit's input and event set (testing/models.ts), the same requests as `req()` here.
const INPUT: VisitorInput = VISITOR_INPUT;
const EVENTS = VISITOR_EVENTS;
const ALL_EVENTS: readonly GraphEvent[] = Object.values(EVENTS);

function eventsFor(snapshot: Snapshot): readonly GraphEvent[] {
  if (snapshot.status !== 'active') return [];
  return ALL_EVENTS.filter((event) => snapshot.can(event as VisitorEvent));
}
const traversal = { input: INPUT, events: eventsFor as (s: Snapshot) => readonly VisitorEvent[] };
const edgeKey = (from: Snapshot, event: { readonly type: string }) => `${serializeSnapshot(from)} --${JSON.stringify(event)}-->`;

function coveringPaths(): StatePath<Snapshot, VisitorEvent>[] {
  return getShortestPaths(visitorMachine, {
    ...traversal,
    serializeState: (state, event, previous) =>
      previous === undefined || event === undefined ? serializeSnapshot(state) : `${edgeKey(previous, event)} ${serializeSnapshot(state)}`,
  });
}

// --- the model, from 3.7 -----------------------------------------------------------------------

type Phase = 'pending' | 'registered' | 'gone' | 'expired' | 'deregistered';
interface Model {
  phase: Phase;
  current?: { careOfAddress: number; linkLayerSource: string; lifetime: number };
  pending?: VisitorRequest;
  routeInstalled: boolean;
}

function modelApply(m: Model, e: GraphEvent): Model {
  switch (e.type) {
    case 'request': {
      const { type: _t, ...request } = e;
      // R3.7.2-4/-5: the entry in force is not modified; the Request is recorded beside it.
      return { ...m, pending: request };
    }
    case 'accepted':
      if (m.pending === undefined) return m;
      if (e.lifetime === 0) {
        // R3.7.3.2-3: Lifetime 0 deletes the entry.
        return { phase: m.phase === 'registered' ? 'deregistered' : 'gone', routeInstalled: false };
      }
      return { phase: 'registered', current: { careOfAddress: m.pending.careOfAddress, linkLayerSource: m.pending.linkLayerSource, lifetime: e.lifetime }, routeInstalled: true };
    case 'denied':
    case 'pending-failed':
      // R3.7.2-7 / R3.7.3.2-4: the pending part goes; a visitor entry is not modified.
      if (m.phase === 'pending') return { phase: 'gone', routeInstalled: false };
      return { ...m, pending: undefined };
    case PENDING_EXPIRY:
      // R3.7.2.2-6
      return { phase: 'gone', routeInstalled: false };
    case LIFETIME_EXPIRY:
      return { phase: 'expired', routeInstalled: false };
  }
}

interface Replay {
  snapshot: Snapshot;
  transitions: Set<AnyTransitionDefinition>;
  stateNodes: Set<string>;
}

function replay(events: readonly GraphEvent[]): Replay {
  const transitions = new Set<AnyTransitionDefinition>();
  const stateNodes = new Set<string>();
  let reasons: string[] = [];
  let installs: Array<{ homeAddress: number; linkLayerAddress: string }> = [];
  let removes = 0;
  const inspect = (ev: InspectionEvent) => {
    if (ev.type === '@xstate.microstep') {
      for (const t of ev._transitions) {
        transitions.add(t);
        stateNodes.add(t.source.id);
        if (t.target) for (const target of t.target) stateNodes.add(target.id);
      }
    } else if (ev.type === '@xstate.action') {
      if (ev.action.type === 'reason') reasons.push((ev.action.params as { reason: string }).reason);
      if (ev.action.type === 'installVisitorRoute') installs.push(ev.action.params as { homeAddress: number; linkLayerAddress: string });
      if (ev.action.type === 'removeVisitorRoute') removes++;
    }
  };
  const actor = createActor(visitorMachine, { input: INPUT, inspect });
  actor.start();
  let model: Model = { phase: 'pending', pending: { ...INPUT }, routeInstalled: false };
  let installed = false;
  for (const event of events) {
    reasons = [];
    installs = [];
    removes = 0;
    actor.send(event as VisitorEvent);
    const next = modelApply(model, event);
    const snapshot = actor.getSnapshot();
    // Every step names its reason.
    expect(reasons.length).toBeGreaterThan(0);
    // The route follows the model: installed on (re)registration with the node's link-layer address, removed when the entry goes.
    if (next.routeInstalled && (!model.routeInstalled || event.type === 'accepted')) {
      expect(installs).toEqual([{ homeAddress: HOME, linkLayerAddress: next.current!.linkLayerSource }]);
    } else expect(installs).toEqual([]);
    expect(removes).toBe(model.routeInstalled && !next.routeInstalled ? 1 : 0);
    installed = (installed || installs.length > 0) && removes === 0;
    expect(installed).toBe(next.routeInstalled);
    const phase = typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0];
    expect(phase).toBe(next.phase);
    if (next.phase === 'registered') {
      expect(snapshot.context.current).toMatchObject(next.current!);
      expect(snapshot.context.pending).toEqual(next.pending);
    }
    model = next;
  }
  const snapshot = actor.getSnapshot();
  actor.stop();
  return { snapshot, transitions, stateNodes };
}

const pathEvents = (p: StatePath<Snapshot, VisitorEvent>) => p.steps.slice(1).map((s) => s.event as GraphEvent);

describe('visitorMachine: model-based paths (xstate/graph)', () => {
  const covering = coveringPaths();

  it('compiles with the runtime engine (no unsupported features)', () => {
    const compiled = compileMachine(visitorMachine);
    expect(isUnsupported(compiled) ? compiled.unsupported : 'ok').toBe('ok');
  });

  it('covers every (state, event) edge the graph reports', () => {
    const reported = new Set(adjacencyMapToArray(getAdjacencyMap(visitorMachine, traversal)).map(({ state, event }) => edgeKey(state, event)));
    const covered = new Set<string>();
    for (const path of covering) for (let i = 1; i < path.steps.length; i++) covered.add(edgeKey(path.steps[i - 1]!.state, path.steps[i]!.event));
    expect(covered).toEqual(reported);
    expect([...reported].some((e) => e.includes(PENDING_EXPIRY))).toBe(true);
    expect([...reported].some((e) => e.includes(LIFETIME_EXPIRY))).toBe(true);
  });

  it('[R3.7.2-4] [R3.7.2-5] [R3.7.2-7] [R3.7.3.2-3] [R3.7.3.2-4] [R3.7.2.2-6] every covering path replays on an actor as the model says', () => {
    for (const path of covering) {
      const r = replay(pathEvents(path));
      expect(r.snapshot.value).toEqual(path.state.value);
    }
  });

  it('the replays take every transition the machine defines and enter every state node', () => {
    const taken = new Set<AnyTransitionDefinition>();
    const entered = new Set<string>();
    for (const path of covering) {
      const r = replay(pathEvents(path));
      for (const t of r.transitions) taken.add(t);
      for (const n of r.stateNodes) entered.add(n);
    }
    const defined = getStateNodes(visitorMachine).flatMap((node) => [...[...node.transitions.values()].flat(), ...(node.always ?? [])]);
    for (const t of defined) expect(taken.has(t), `${t.source.id} ${t.eventType}`).toBe(true);
    expect(entered).toEqual(new Set(getStateNodes(visitorMachine).map((n) => n.id)));
  });
});

describe('visitorMachine: timers on xstate’s SimulatedClock', () => {
  function start(requestedLifetime = 600) {
    const clock = new SimulatedClock();
    clock.set(T0);
    const actions: Array<{ type: string; params: unknown; at: number }> = [];
    const actor = createActor(visitorMachine, {
      input: { homeAddress: HOME, nai: 'mn@example.org', ...req(requestedLifetime, T0) },
      clock,
      inspect: (ev) => {
        if (ev.type === '@xstate.action') actions.push({ type: ev.action.type, params: ev.action.params, at: clock.now() });
      },
    });
    actor.start();
    const reasons = () => actions.filter((a) => a.type === 'reason').map((a) => (a.params as { reason: string }).reason);
    return { clock, actor, actions, reasons };
  }

  it('[R3.7.2.2-5] [R3.7.2.2-6] a pending registration goes when its requested Lifetime runs out without a Reply, not 1 ms before', () => {
    const { clock, actor, actions } = start(30);
    clock.increment(29_999);
    expect(actor.getSnapshot().value).toEqual({ pending: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('gone');
    // Nothing was installed, so nothing is removed, and no message is generated (R3.7-4).
    expect(actions.filter((a) => a.type !== 'reason' && !a.type.startsWith('xstate.'))).toEqual([]);
  });

  it('[R3.7.1-2] [R3.7-4] the lifetime counts from the relayed Reply; expiry removes the route and sends nothing', () => {
    const { clock, actor, actions, reasons } = start(600);
    clock.increment(1500);
    actor.send({ type: 'accepted', lifetime: 400, at: clock.now() });
    expect(actor.getSnapshot().context.nai).toBe('mn@example.org');
    expect(actions.filter((a) => a.type === 'installVisitorRoute').map((a) => a.params)).toEqual([{ homeAddress: HOME, linkLayerAddress: MAC }]);
    expect(visitorRemainingLifetime(actor.getSnapshot().context, clock.now())).toBe(400);
    clock.increment(399_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    expect(visitorRemainingLifetime(actor.getSnapshot().context, clock.now())).toBe(0);
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
    expect(actions.at(-1)).toEqual({ type: 'removeVisitorRoute', params: { homeAddress: HOME }, at: T0 + 401_500 });
    expect(reasons()).toEqual(['request-relayed', 'accepted', 'registered', 'lifetime-expired']);
    expect(actions.map((a) => a.type).filter((t) => !t.startsWith('xstate.') && !['reason', 'installVisitorRoute', 'removeVisitorRoute'].includes(t))).toEqual([]);
  });

  it('[R3.7.2-4] a pending renewal does not touch the entry or its timer; its acceptance restarts the lifetime', () => {
    const { clock, actor } = start(600);
    actor.send({ type: 'accepted', lifetime: 100, at: T0 });
    clock.increment(60_000);
    const before = actor.getSnapshot().context.current;
    actor.send({ type: 'request', ...req(300, clock.now(), COA_2) });
    expect(actor.getSnapshot().context.current).toBe(before);
    clock.increment(39_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    actor.send({ type: 'accepted', lifetime: 300, at: clock.now() });
    expect(actor.getSnapshot().context.current?.careOfAddress).toBe(COA_2);
    clock.increment(299_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
  });

  it('[R3.7.2-6] a deregistration request keeps the entry until the successful Reply', () => {
    const { actor } = start(600);
    actor.send({ type: 'accepted', lifetime: 600, at: T0 });
    actor.send({ type: 'request', ...req(0, T0 + 1) });
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    actor.send({ type: 'denied', code: 129, at: T0 + 2 });
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    expect(actor.getSnapshot().context.pending).toBeUndefined();
    actor.send({ type: 'request', ...req(0, T0 + 3) });
    actor.send({ type: 'accepted', lifetime: 0, at: T0 + 4 });
    expect(actor.getSnapshot().value).toBe('deregistered');
  });

  it('an infinite lifetime arms no timer', () => {
    const { clock, actor } = start(INFINITE_LIFETIME);
    expect(actor.getSnapshot().value).toEqual({ pending: 'unbounded' });
    actor.send({ type: 'accepted', lifetime: INFINITE_LIFETIME, at: T0 });
    clock.increment(10 * 365 * 86_400_000);
    expect(actor.getSnapshot().value).toEqual({ registered: 'unbounded' });
    expect(visitorRemainingLifetime(actor.getSnapshot().context, clock.now())).toBe(INFINITE_LIFETIME);
  });
});
