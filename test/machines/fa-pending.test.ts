/**
 * One pending registration at a foreign agent (RFC 5944 3.7.1, 3.7.2.2, 3.7.3): paths from
 * the machine (xstate/graph, the timeout as its `xstate.after.*` event), replayed on an actor
 * against a model, and the timeout on xstate's SimulatedClock.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyTransitionDefinition, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getStateNodes, serializeSnapshot, type StatePath } from 'xstate/graph';
import { ipv4 } from '../../io/wire/bytes.js';
import { DEFAULT_PENDING_TIMEOUT_MS, faPendingMachine, pendingTimeoutMs, type FaPendingEvent, type FaPendingInput } from '../../machines/fa-pending.js';
import type { PendingRegistration } from '../../policies/fa-request.js';
import { compileMachine, isUnsupported } from '../../runtime/actors/machine-engine.js';
import { FA_PENDING_EVENTS, FA_PENDING_INPUT, FA_PENDING_TIMERS } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof faPendingMachine>;
const TIMEOUT = FA_PENDING_TIMERS.timeout;
type GraphEvent = FaPendingEvent | { readonly type: typeof TIMEOUT };
const T0 = Date.UTC(2026, 0, 1);

// The kit's pending registration and event set (testing/models.ts).
const PENDING: PendingRegistration = FA_PENDING_INPUT.pending;

const EVENTS = FA_PENDING_EVENTS as readonly GraphEvent[];

/** The model: final state, and the denial code sent (3.7.1, 3.7.3, 3.7.3.1). */
function model(input: FaPendingInput, event: GraphEvent): { state: string; denial?: number } {
  switch (event.type) {
    case 'answered':
      return { state: 'answered' };
    case 'reply-rejected':
      return { state: 'rejected', denial: event.code };
    case 'icmp-error':
      return { state: 'unreachable', denial: event.icmpType === 3 && event.icmpCode === 1 ? 81 : 88 };
    case 'superseded':
      return { state: 'superseded' };
    case TIMEOUT: {
      const lifetimeMs = input.pending.requestedLifetime * 1000;
      const bounded = input.pending.requestedLifetime !== 0 && input.pending.requestedLifetime !== 0xffff && lifetimeMs < (input.timeoutMs ?? 7001);
      return bounded ? { state: 'lifetimeExpired' } : { state: 'timedOut', denial: 78 };
    }
  }
}

function replay(input: FaPendingInput, events: readonly GraphEvent[]) {
  const transitions = new Set<AnyTransitionDefinition>();
  const denials: number[] = [];
  const reasons: string[] = [];
  const actor = createActor(faPendingMachine, {
    input,
    inspect: (ev) => {
      if (ev.type === '@xstate.microstep') for (const t of ev._transitions) transitions.add(t);
      if (ev.type === '@xstate.action' && ev.action.type === 'sendDenial') denials.push((ev.action.params as { code: number }).code);
      if (ev.type === '@xstate.action' && ev.action.type === 'reason') reasons.push((ev.action.params as { reason: string }).reason);
    },
  });
  actor.start();
  for (const e of events) actor.send(e as FaPendingEvent);
  return { snapshot: actor.getSnapshot(), transitions, denials, reasons };
}

describe('faPendingMachine: model-based paths (xstate/graph)', () => {
  const inputs: FaPendingInput[] = [
    { pending: PENDING, relayedAt: T0 },
    { pending: { ...PENDING, requestedLifetime: 3 }, relayedAt: T0 },
  ];

  it('compiles with the runtime engine (no unsupported features)', () => {
    const compiled = compileMachine(faPendingMachine);
    expect(isUnsupported(compiled) ? compiled.unsupported : 'ok').toBe('ok');
  });

  it('[R3.7.1-7] [R3.7.3-1] [R3.7.3.1-9] every path reaches the state and sends the denial the model says; all states and transitions are covered', () => {
    const taken = new Set<AnyTransitionDefinition>();
    const finals = new Set<string>();
    for (const input of inputs) {
      const paths: StatePath<Snapshot, FaPendingEvent>[] = getShortestPaths(faPendingMachine, {
        input,
        events: ((s: Snapshot) => (s.status === 'active' ? EVENTS.filter((e) => s.can(e as FaPendingEvent)) : [])) as (s: Snapshot) => FaPendingEvent[],
        serializeState: (state, event, previous) =>
          previous === undefined || event === undefined ? serializeSnapshot(state) : `${serializeSnapshot(previous)}-${JSON.stringify(event)}-${serializeSnapshot(state)}`,
      });
      for (const path of paths) {
        const events = path.steps.slice(1).map((s) => s.event as GraphEvent);
        const r = replay(input, events);
        for (const t of r.transitions) taken.add(t);
        expect(r.snapshot.value).toEqual(path.state.value);
        if (events.length === 0) {
          expect(r.snapshot.value).toBe('relayed');
          continue;
        }
        expect(events).toHaveLength(1);
        const expected = model(input, events[0]!);
        expect(r.snapshot.value).toBe(expected.state);
        expect(r.snapshot.status).toBe('done');
        expect(r.denials).toEqual(expected.denial === undefined ? [] : [expected.denial]);
        expect(r.reasons.length).toBe(2);
        finals.add(String(r.snapshot.value));
      }
    }
    const defined = getStateNodes(faPendingMachine).flatMap((node) => [...node.transitions.values()].flat());
    for (const t of defined) expect(taken.has(t)).toBe(true);
    expect(new Set([...finals, 'relayed'])).toEqual(new Set(getStateNodes(faPendingMachine).map((n) => n.key)));
  });
});

describe('faPendingMachine: the timeout on xstate’s SimulatedClock', () => {
  function start(input: FaPendingInput) {
    const clock = new SimulatedClock();
    clock.set(T0);
    const denials: Array<{ code: number; at: number }> = [];
    const actor = createActor(faPendingMachine, {
      input,
      clock,
      inspect: (ev) => {
        if (ev.type === '@xstate.action' && ev.action.type === 'sendDenial') denials.push({ ...(ev.action.params as { code: number }), at: clock.now() });
      },
    });
    actor.start();
    return { clock, actor, denials };
  }

  it('[R3.7.1-7] a Request pending for more than 7 seconds is deleted and rejected with 78', () => {
    expect(DEFAULT_PENDING_TIMEOUT_MS).toBe(7001);
    const { clock, actor, denials } = start({ pending: PENDING, relayedAt: T0 });
    clock.increment(7000);
    expect(actor.getSnapshot().value).toBe('relayed');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('timedOut');
    expect(denials).toEqual([{ code: 78, at: T0 + 7001 }]);
  });

  it('the timeout is configurable, and a deregistration (Lifetime 0) or 0xffff is bounded only by it', () => {
    for (const requestedLifetime of [0, 0xffff]) {
      const { clock, actor, denials } = start({ pending: { ...PENDING, requestedLifetime }, relayedAt: T0, timeoutMs: 2000 });
      clock.increment(1999);
      expect(actor.getSnapshot().value).toBe('relayed');
      clock.increment(1);
      expect(denials).toEqual([{ code: 78, at: T0 + 2000 }]);
    }
  });

  it('[R3.7.2.2-6] a Request asking for less than the timeout is dropped when its Lifetime ends, without a Reply', () => {
    expect(pendingTimeoutMs({ pending: { ...PENDING, requestedLifetime: 3 }, timeoutMs: 7001 })).toBe(3000);
    const { clock, actor, denials } = start({ pending: { ...PENDING, requestedLifetime: 3 }, relayedAt: T0 });
    clock.increment(2999);
    expect(actor.getSnapshot().value).toBe('relayed');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('lifetimeExpired');
    expect(denials).toEqual([]);
  });

  it('an answer stops the timer', () => {
    const { clock, actor, denials } = start({ pending: PENDING, relayedAt: T0 });
    clock.increment(500);
    actor.send({ type: 'answered', code: 0, at: clock.now() });
    clock.increment(60_000);
    expect(actor.getSnapshot().value).toBe('answered');
    expect(denials).toEqual([]);
  });
});
