/**
 * The home agent's mobility binding machine (RFC 5944 3.8.1, 3.8.2.2).
 *
 * Model-based: the paths are generated FROM THE MACHINE with xstate/graph over a fixed set of
 * events (registrations with the same or another care-of address, a duplicate of the accepted
 * registration, an infinite lifetime, the three ways out, and the lifetime timer's own
 * `xstate.after.*` event). Every path's end state is checked against an independent model
 * written from 3.8.2.2, and every path is replayed on a real xstate actor driven by xstate's
 * SimulatedClock, where the timer is not sent by hand but reached by moving the clock.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyTransitionDefinition, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, getSimplePaths, getStateNodes, serializeSnapshot, type StatePath } from 'xstate/graph';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import type { Identification } from '../../io/wire/registration-types.js';
import {
  bindingMachine,
  INFINITE_LIFETIME,
  remainingLifetime,
  type BindingEvent,
  type BindingInput,
  type Registration,
} from '../../machines/binding.js';
import { BINDING_EVENTS, BINDING_INPUT, BINDING_TIMERS } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof bindingMachine>;
type LifetimeExpiry = { readonly type: typeof LIFETIME_EXPIRY };
type GraphEvent = BindingEvent | LifetimeExpiry;
/** xstate/graph types paths with the machine's own events; the timer's event rides along. */
type Path = StatePath<Snapshot, BindingEvent>;

/** The event xstate raises when `registered.timed`'s `after: { lifetime }` delay runs out (the kit names it). */
const LIFETIME_EXPIRY = BINDING_TIMERS.lifetime;

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const COA_A = ipv4('203.0.113.1');
const COA_B = ipv4('203.0.113.2');
const FOREIGN_AGENT = ipv4('203.0.113.254');
const id = (low: number): Identification => ({ high: 0xeb3c7f00, low });

function registration(careOfAddress: Ipv4Address, identification: Identification, lifetime: number, at: number): Registration {
  return {
    careOfAddress,
    lifetime,
    identification,
    encapsulation: 'ip-in-ip',
    broadcast: false,
    decapsulatedByMobileNode: false,
    reverseTunnel: false,
    relayedBy: FOREIGN_AGENT,
    at,
  };
}

// The input and the abstract events the graph is explored with (fixed `at`, so the state space
// is finite) are the kit's (testing/models.ts): the same registrations as `registration()` here.
const INPUT: BindingInput = BINDING_INPUT;
const EVENTS = BINDING_EVENTS;
const ALL_EVENTS: readonly GraphEvent[] = Object.values(EVENTS);

/** Offers each event where the machine handles it (the timer only where it is armed). */
function eventsFor(snapshot: Snapshot): readonly GraphEvent[] {
  if (snapshot.status !== 'active') return [];
  return ALL_EVENTS.filter((event) => snapshot.can(event as BindingEvent));
}

const traversal = {
  input: INPUT,
  // The lifetime expiry is not among the machine's declared event types, only its internal ones.
  events: eventsFor as (snapshot: Snapshot) => readonly BindingEvent[],
};

// ---------------------------------------------------------------------------------------------
// The model, written from RFC 5944 3.8.2.2 (not from the machine).

type Outcome = 'registered' | 'expired' | 'deregistered';

interface ModelBinding {
  readonly outcome: Outcome;
  readonly careOfAddress: Ipv4Address;
  readonly identification: Identification;
  readonly lifetime: number;
  readonly registeredAt: number;
  /** ms; Infinity for 0xffff. */
  readonly expiresAt: number;
}

interface ModelStep {
  readonly next: ModelBinding;
  /** The reason the step should carry. */
  readonly reason: string;
  /** Care-of address whose forwarding entry goes in this step, if any. */
  readonly withdraws?: Ipv4Address;
  /** Whether the forwarding entry is (re)published. */
  readonly publishes: boolean;
}

function modelStart(input: BindingInput): ModelBinding {
  return {
    outcome: 'registered',
    careOfAddress: input.careOfAddress,
    identification: input.identification,
    lifetime: input.lifetime,
    registeredAt: input.at,
    expiresAt: input.lifetime === 0xffff ? Infinity : input.at + input.lifetime * 1000,
  };
}

function modelApply(b: ModelBinding, event: GraphEvent): ModelStep {
  if (b.outcome !== 'registered') throw new Error(`no event may reach a ${b.outcome} binding`);
  switch (event.type) {
    case 'register': {
      // "A Registration Request is a duplicate if the home address, care-of address, and
      // Identification fields all equal those of an accepted current registration" and then
      // "the new Lifetime MUST NOT extend beyond the Lifetime originally granted".
      const duplicate =
        event.careOfAddress === b.careOfAddress &&
        event.identification.high === b.identification.high &&
        event.identification.low === b.identification.low;
      if (duplicate) return { next: b, reason: 'duplicate', publishes: false };
      const next: ModelBinding = {
        outcome: 'registered',
        careOfAddress: event.careOfAddress,
        identification: event.identification,
        lifetime: event.lifetime,
        registeredAt: event.at,
        // 3.3: 0xffff is infinity; any other Lifetime counts from acceptance.
        expiresAt: event.lifetime === 0xffff ? Infinity : event.at + event.lifetime * 1000,
      };
      return event.careOfAddress === b.careOfAddress
        ? { next, reason: 'renewed', publishes: true }
        : { next, reason: 'care-of-address-changed', withdraws: b.careOfAddress, publishes: true };
    }
    case 'deregister':
      return { next: { ...b, outcome: 'deregistered' }, reason: 'deregistered', withdraws: b.careOfAddress, publishes: false };
    case 'deregister-all':
      return { next: { ...b, outcome: 'deregistered' }, reason: 'deregistered-all', withdraws: b.careOfAddress, publishes: false };
    case 'replaced':
      return { next: { ...b, outcome: 'deregistered' }, reason: 'replaced', withdraws: b.careOfAddress, publishes: false };
    case LIFETIME_EXPIRY:
      // "After the expiration of this registration Lifetime, the home agent MUST delete its entry".
      if (b.expiresAt === Infinity) throw new Error('an infinite binding has no lifetime to expire');
      return { next: { ...b, outcome: 'expired' }, reason: 'lifetime-expired', withdraws: b.careOfAddress, publishes: false };
  }
}

/** The steps of a path, without xstate/graph's leading `xstate.init` step. */
function pathEvents(path: Path): GraphEvent[] {
  expect(path.steps[0]!.event.type).toBe('xstate.init');
  return path.steps.slice(1).map((s) => s.event as GraphEvent);
}

function modelRun(events: readonly GraphEvent[]): ModelBinding {
  return events.reduce((b, e) => modelApply(b, e).next, modelStart(INPUT));
}

function expectSnapshotMatchesModel(snapshot: Snapshot, model: ModelBinding): void {
  const expectedValue =
    model.outcome === 'registered' ? { registered: model.expiresAt === Infinity ? 'unbounded' : 'timed' } : model.outcome;
  expect(snapshot.value).toEqual(expectedValue);
  expect(snapshot.status).toBe(model.outcome === 'registered' ? 'active' : 'done');
  const c = snapshot.context;
  expect(c.homeAddress).toBe(HOME);
  expect(c.careOfAddress).toBe(model.careOfAddress);
  expect(c.identification).toEqual(model.identification);
  expect(c.lifetime).toBe(model.lifetime);
  expect(c.registeredAt).toBe(model.registeredAt);
  expect(c.expiresAt).toBe(model.expiresAt);
}

function describePath(path: Path): string {
  return pathEvents(path)
    .map((e) => (e.type === 'register' ? `register(${e.careOfAddress === COA_A ? 'A' : 'B'},${e.identification.low},${e.lifetime})` : e.type))
    .join(' → ');
}

// ---------------------------------------------------------------------------------------------
// Path generation.

const edgeKey = (from: Snapshot, event: { readonly type: string }) => `${serializeSnapshot(from)} --${JSON.stringify(event)}-->`;

/** Every (state, event) edge of the graph xstate/graph builds from the machine. */
function reportedEdges(): Set<string> {
  const adjacency = getAdjacencyMap(bindingMachine, traversal);
  return new Set(adjacencyMapToArray(adjacency).map(({ state, event }) => edgeKey(state, event)));
}

function coveredEdges(paths: readonly Path[]): Set<string> {
  const edges = new Set<string>();
  for (const path of paths) {
    for (let i = 1; i < path.steps.length; i++) edges.add(edgeKey(path.steps[i - 1]!.state, path.steps[i]!.event));
  }
  return edges;
}

/**
 * Transition coverage: shortest paths over the graph whose vertices are the transitions
 * themselves (a state is identified by the edge that entered it), so every edge ends one path.
 */
function transitionCoveringPaths(): Path[] {
  return getShortestPaths(bindingMachine, {
    ...traversal,
    serializeState: (state, event, previous) =>
      previous === undefined || event === undefined ? serializeSnapshot(state) : `${edgeKey(previous, event)} ${serializeSnapshot(state)}`,
  });
}

// ---------------------------------------------------------------------------------------------
// Replay on a real actor with xstate's SimulatedClock.

interface Replay {
  readonly snapshot: Snapshot;
  readonly transitions: Set<AnyTransitionDefinition>;
  readonly stateNodes: Set<string>;
}

interface StepRecord {
  reasons: string[];
  withdrawn: Ipv4Address[];
  published: number;
}

function stateNodeIds(value: unknown, prefix = 'binding'): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [
    `${prefix}.${key}`,
    ...stateNodeIds(inner, `${prefix}.${key}`),
  ]);
}

/**
 * Replays `events` with each registration stamped at the clock's time one second after the
 * previous step, and the lifetime expiry reached by moving the clock, never by sending it.
 * Checks each step's reason and forwarding-table commands against the model, and that the
 * expiry comes at exactly the model's `expiresAt` and not 1 ms before.
 */
function replay(events: readonly GraphEvent[]): Replay {
  const clock = new SimulatedClock();
  clock.set(T0);
  const transitions = new Set<AnyTransitionDefinition>();
  const stateNodes = new Set<string>();
  let current: StepRecord = { reasons: [], withdrawn: [], published: 0 };
  const inspect = (ev: InspectionEvent) => {
    if (ev.type === '@xstate.microstep') {
      for (const t of ev._transitions) {
        transitions.add(t);
        stateNodes.add(t.source.id);
      }
      for (const n of stateNodeIds((ev.snapshot as Snapshot).value)) stateNodes.add(n);
    } else if (ev.type === '@xstate.action') {
      if (ev.action.type === 'reason') current.reasons.push((ev.action.params as { reason: string }).reason);
      if (ev.action.type === 'withdrawBinding') current.withdrawn.push((ev.action.params as { careOfAddress: number }).careOfAddress);
      if (ev.action.type === 'publishBinding') current.published++;
    }
  };
  const actor = createActor(bindingMachine, { input: INPUT, clock, inspect });
  actor.start();
  expect(current).toEqual({ reasons: ['registered'], withdrawn: [], published: 1 });

  let model = modelStart(INPUT);
  for (const event of events) {
    current = { reasons: [], withdrawn: [], published: 0 };
    let step: ModelStep;
    if (event.type === LIFETIME_EXPIRY) {
      step = modelApply(model, event);
      const before = actor.getSnapshot().value;
      clock.set(model.expiresAt - 1);
      expect(actor.getSnapshot().value, 'must not expire 1 ms early').toEqual(before);
      expect(current.reasons).toEqual([]);
      clock.increment(1);
    } else {
      clock.increment(1000);
      const concrete: BindingEvent = { ...event, at: clock.now() };
      step = modelApply(model, concrete);
      actor.send(concrete);
    }
    model = step.next;
    // The first reason names the step (a transition's own reason precedes the entry reason
    // of a state it re-enters).
    expect(current.reasons[0]).toBe(step.reason);
    expect(current.withdrawn).toEqual(step.withdraws === undefined ? [] : [step.withdraws]);
    expect(current.published).toBe(step.publishes ? 1 : 0);
  }
  const snapshot = actor.getSnapshot();
  expectSnapshotMatchesModel(snapshot, model);
  actor.stop();
  return { snapshot, transitions, stateNodes };
}

// ---------------------------------------------------------------------------------------------

describe('bindingMachine: model-based paths (xstate/graph)', () => {
  const shortest = getShortestPaths(bindingMachine, traversal);
  const covering = transitionCoveringPaths();
  const simple = getSimplePaths(bindingMachine, traversal);

  it('uses the event xstate raises for the lifetime delay', () => {
    // If the machine renamed its state or delay, the timer would vanish from the graph.
    const timed = getStateNodes(bindingMachine).find((n) => n.id === 'binding.registered.timed')!;
    expect([...timed.transitions.keys()]).toEqual([LIFETIME_EXPIRY]);
    expect(coveredEdges(covering).size).toBeGreaterThan(0);
    expect([...coveredEdges(covering)].some((e) => e.includes(LIFETIME_EXPIRY))).toBe(true);
  });

  it('reaches every state the graph reports, with shortest paths, and each ends as the model says', () => {
    const adjacency = getAdjacencyMap(bindingMachine, traversal);
    const reached = new Set(shortest.map((p) => serializeSnapshot(p.state)));
    expect(reached).toEqual(new Set(Object.keys(adjacency)));
    // 6 registered contexts (initial, duplicate-data renewal, renewal, two moves, infinite),
    // each of them deregistered, and all but the infinite one expired.
    expect(reached.size).toBe(6 + 6 + 5);
    const values = new Set(shortest.map((p) => JSON.stringify(p.state.value)));
    expect(values).toEqual(
      new Set(['{"registered":"timed"}', '{"registered":"unbounded"}', '"expired"', '"deregistered"']),
    );
    for (const path of shortest) expectSnapshotMatchesModel(path.state, modelRun(pathEvents(path)));
  });

  it('covers every (state, event) edge of the graph, and each covering path ends as the model says', () => {
    const reported = reportedEdges();
    expect(coveredEdges(covering)).toEqual(reported);
    // Each registered state offers the 5 registrations and the 3 ways out, and the timer in
    // the 5 finite ones.
    expect(reported.size).toBe(6 * 8 + 5);
    for (const path of covering) expectSnapshotMatchesModel(path.state, modelRun(pathEvents(path)));
  });

  it('every simple path ends as the model says', () => {
    expect(simple.length).toBeGreaterThan(shortest.length);
    for (const path of simple) expectSnapshotMatchesModel(path.state, modelRun(pathEvents(path)));
  });

  it('[R3.8.2.2-8] [R3.8.2.2-9] replayed on a real actor with a simulated clock, every covering path matches the model step by step', () => {
    for (const path of covering) {
      try {
        const { snapshot } = replay(pathEvents(path));
        expect(snapshot.value).toEqual(path.state.value);
      } catch (error) {
        throw new Error(`path ${describePath(path)}: ${(error as Error).message}`);
      }
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
    const defined = getStateNodes(bindingMachine).flatMap((node) => [...[...node.transitions.values()].flat(), ...(node.always ?? [])]);
    // register ×3 (duplicate, renewal, new care-of address), deregister, deregister-all,
    // replaced, the lifetime timer, and choosing's two eventless branches.
    expect(defined).toHaveLength(9);
    expect(new Set(defined)).toEqual(taken);
    expect(entered).toEqual(new Set(getStateNodes(bindingMachine).map((n) => n.id)));
  });
});

describe('bindingMachine: the lifetime timer on xstate’s SimulatedClock', () => {
  function start(lifetime = 600, careOfAddress = COA_A) {
    const clock = new SimulatedClock();
    clock.set(T0);
    const actions: Array<{ type: string; params: unknown; at: number }> = [];
    const actor = createActor(bindingMachine, {
      input: { homeAddress: HOME, ...registration(careOfAddress, id(1), lifetime, T0) },
      clock,
      inspect: (ev) => {
        if (ev.type === '@xstate.action') actions.push({ type: ev.action.type, params: ev.action.params, at: clock.now() });
      },
    });
    actor.start();
    const withdrawals = () => actions.filter((a) => a.type === 'withdrawBinding');
    return { clock, actor, actions, withdrawals };
  }

  for (const lifetime of [1, 600, 0xfffe]) {
    it(`[R3.8.2.2-8] a ${lifetime} s binding is deleted exactly lifetime×1000 ms after acceptance, not 1 ms before`, () => {
      const { clock, actor, withdrawals } = start(lifetime);
      expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
      clock.increment(lifetime * 1000 - 1);
      expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
      expect(withdrawals()).toEqual([]);
      clock.increment(1);
      expect(actor.getSnapshot().value).toBe('expired');
      expect(actor.getSnapshot().status).toBe('done');
      // The entry goes: the forwarding entry of its care-of address is withdrawn, once.
      expect(withdrawals()).toEqual([{ type: 'withdrawBinding', params: { careOfAddress: COA_A }, at: T0 + lifetime * 1000 }]);
    });
  }

  it('a renewal restarts the lifetime from its own acceptance time', () => {
    const { clock, actor, withdrawals } = start(600);
    clock.increment(100_000);
    actor.send({ type: 'register', ...registration(COA_A, id(2), 300, clock.now()) });
    expect(actor.getSnapshot().context.expiresAt).toBe(T0 + 400_000);
    clock.set(T0 + 399_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
    expect(withdrawals().map((w) => w.at)).toEqual([T0 + 400_000]);
  });

  it('a renewal with a longer lifetime outlives the first deadline', () => {
    const { clock, actor } = start(600);
    clock.increment(500_000);
    actor.send({ type: 'register', ...registration(COA_A, id(2), 600, clock.now()) });
    clock.set(T0 + 600_000);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.set(T0 + 1_099_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
  });

  it('[R3.8.2.2-9] a duplicate asking for a longer lifetime does not extend the lifetime originally granted', () => {
    const { clock, actor, actions } = start(600);
    const before = actor.getSnapshot().context;
    clock.increment(200_000);
    actions.length = 0;
    actor.send({ type: 'register', ...registration(COA_A, id(1), 0xfffe, clock.now()) });
    // The Reply grants what is left of the original 600 s (the home agent answers with it).
    expect(actions.map((a) => [a.type, a.params])).toEqual([
      ['reason', { reason: 'duplicate' }],
      ['keepBinding', { grantedLifetime: 400 }],
    ]);
    expect(actor.getSnapshot().context).toBe(before);
    clock.set(T0 + 599_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
  });

  it('a duplicate needs all of care-of address and both Identification halves to match', () => {
    const { clock, actor, actions } = start(600);
    const reasonOf = (event: BindingEvent) => {
      actions.length = 0;
      actor.send(event);
      return actions.find((a) => a.type === 'reason')?.params;
    };
    clock.increment(1000);
    expect(reasonOf({ type: 'register', ...registration(COA_A, { high: id(1).high + 1, low: 1 }, 600, clock.now()) })).toEqual({
      reason: 'renewed',
    });
    expect(reasonOf({ type: 'register', ...registration(COA_A, { high: id(1).high + 1, low: 1 }, 600, clock.now()) })).toEqual({
      reason: 'duplicate',
    });
    expect(reasonOf({ type: 'register', ...registration(COA_B, { high: id(1).high + 1, low: 1 }, 600, clock.now()) })).toEqual({
      reason: 'care-of-address-changed',
    });
  });

  it('an infinite lifetime (0xffff) never expires, and a later finite renewal arms the timer again', () => {
    const { clock, actor, withdrawals } = start(INFINITE_LIFETIME);
    expect(actor.getSnapshot().value).toEqual({ registered: 'unbounded' });
    expect(actor.getSnapshot().context.expiresAt).toBe(Infinity);
    clock.increment(10 * 365 * 24 * 3_600_000);
    expect(actor.getSnapshot().value).toEqual({ registered: 'unbounded' });
    expect(withdrawals()).toEqual([]);
    const renewedAt = clock.now();
    actor.send({ type: 'register', ...registration(COA_A, id(2), 60, renewedAt) });
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(59_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
  });

  it('a finite binding renewed to 0xffff drops its timer', () => {
    const { clock, actor } = start(60);
    clock.increment(1000);
    actor.send({ type: 'register', ...registration(COA_A, id(2), INFINITE_LIFETIME, clock.now()) });
    expect(actor.getSnapshot().value).toEqual({ registered: 'unbounded' });
    clock.increment(24 * 3_600_000);
    expect(actor.getSnapshot().value).toEqual({ registered: 'unbounded' });
  });

  it('a new care-of address withdraws the old forwarding entry, publishes the new one and restarts the lifetime', () => {
    const { clock, actor, actions } = start(600);
    clock.increment(100_000);
    actions.length = 0;
    actor.send({ type: 'register', ...registration(COA_B, id(2), 300, clock.now()) });
    const commands = actions.filter((a) => a.type === 'withdrawBinding' || a.type === 'publishBinding');
    expect(commands.map((a) => [a.type, a.params])).toEqual([
      ['withdrawBinding', { careOfAddress: COA_A }],
      ['publishBinding', { grantedLifetime: 300 }],
    ]);
    expect(actions.find((a) => a.type === 'reason')?.params).toEqual({ reason: 'care-of-address-changed' });
    expect(actor.getSnapshot().context.careOfAddress).toBe(COA_B);
    clock.set(T0 + 399_999);
    expect(actor.getSnapshot().value).toEqual({ registered: 'timed' });
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('expired');
    expect(actions.filter((a) => a.type === 'withdrawBinding').at(-1)?.params).toEqual({ careOfAddress: COA_B });
  });

  it('deregister and deregister-all both end the binding at once, withdrawing its care-of address, with distinct reasons', () => {
    // Which bindings a deregistration reaches (one care-of address, or all of the node's) is
    // decided by the runtime; the machine only shows that each binding it is told about goes.
    for (const [type, reason] of [
      ['deregister', 'deregistered'],
      ['deregister-all', 'deregistered-all'],
      ['replaced', 'replaced'],
    ] as const) {
      const { clock, actor, actions, withdrawals } = start(600, COA_B);
      clock.increment(5000);
      actions.length = 0;
      actor.send({ type, at: clock.now() });
      expect(actor.getSnapshot().value).toBe('deregistered');
      expect(actor.getSnapshot().status).toBe('done');
      expect(actions.find((a) => a.type === 'reason')?.params).toEqual({ reason });
      expect(withdrawals()).toEqual([{ type: 'withdrawBinding', params: { careOfAddress: COA_B }, at: T0 + 5000 }]);
      // Nothing fires later: the timer went with the state.
      clock.increment(3_600_000);
      expect(withdrawals()).toHaveLength(1);
    }
  });

  it('[R3.8.1-3] the entry holds home address, care-of address, Identification and the remaining lifetime, created and then modified', () => {
    const { clock, actor } = start(600);
    let c = actor.getSnapshot().context;
    expect([c.homeAddress, c.careOfAddress, c.identification]).toEqual([HOME, COA_A, id(1)]);
    expect(remainingLifetime(c, clock.now())).toBe(600);
    clock.increment(250_500);
    expect(remainingLifetime(actor.getSnapshot().context, clock.now())).toBe(349);
    actor.send({ type: 'register', ...registration(COA_B, id(7), 300, clock.now()) });
    c = actor.getSnapshot().context;
    expect([c.homeAddress, c.careOfAddress, c.identification]).toEqual([HOME, COA_B, id(7)]);
    expect(remainingLifetime(c, clock.now())).toBe(300);
    clock.increment(299_999);
    // 1 ms left: still 1 s, never 0 while the binding lives (a Reply Lifetime of 0 means deregistered, 3.4).
    expect(remainingLifetime(actor.getSnapshot().context, clock.now())).toBe(1);
    actor.send({ type: 'register', ...registration(COA_B, id(8), INFINITE_LIFETIME, clock.now()) });
    expect(remainingLifetime(actor.getSnapshot().context, clock.now())).toBe(INFINITE_LIFETIME);
  });
});
