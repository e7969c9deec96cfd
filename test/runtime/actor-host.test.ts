import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import type { Identification } from '../../io/wire/registration-types.js';
import { bindingMachine, INFINITE_LIFETIME, type BindingInput, type BindingMachine, type Registration } from '../../machines/binding.js';
import { ActorHost, stateValueToString, type Command, type HostedActor, type TransitionRecord } from '../../runtime/actors/actor-host.js';
import { SimulatedClock, type Alarm, type Clock } from '../../io/clock.js';

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const COA_A = ipv4('203.0.113.1');
const COA_B = ipv4('203.0.113.2');
const id = (low: number): Identification => ({ high: 0x5eed, low });

function registration(careOfAddress: Ipv4Address, identification: Identification, lifetime: number, at: number): Registration {
  return {
    careOfAddress,
    lifetime,
    identification,
    encapsulation: 'ip-in-ip',
    broadcast: false,
    decapsulatedByMobileNode: false,
    reverseTunnel: false,
    at,
  };
}

/** Counts the alarms the host's timer queue keeps on the clock. */
class CountingClock implements Clock {
  alarmsSet = 0;
  constructor(readonly sim: SimulatedClock) {}
  now(): number {
    return this.sim.now();
  }
  setAlarm(at: number, callback: () => void): Alarm {
    this.alarmsSet++;
    return this.sim.setAlarm(at, callback);
  }
}

type Binding = HostedActor<BindingMachine>;

function bindingHost(onCommands?: (actor: Binding, commands: readonly Command[], host: ActorHost<BindingMachine>) => void) {
  const sim = new SimulatedClock(T0);
  const clock = new CountingClock(sim);
  const records: TransitionRecord[] = [];
  const commands: Array<{ actor: string; command: Command; at: number }> = [];
  const stopped: string[] = [];
  const errors: Array<{ actor: string; error: unknown }> = [];
  const host: ActorHost<BindingMachine> = new ActorHost(bindingMachine, {
    clock,
    onTransition: (r) => records.push(r),
    onCommands: (actor, cs) => {
      for (const command of cs) commands.push({ actor: actor.id, command, at: sim.now() });
      onCommands?.(actor, cs, host);
    },
    onStopped: (actor) => stopped.push(actor.id),
    onError: (actor, error) => errors.push({ actor: actor.id, error }),
  });
  const spawn = (name: string, lifetime = 600, careOfAddress = COA_A) => {
    const input: BindingInput = { homeAddress: HOME, ...registration(careOfAddress, id(1), lifetime, sim.now()) };
    return host.spawn(name, input);
  };
  const register = (actor: Binding, careOfAddress: Ipv4Address, identification: Identification, lifetime: number) =>
    host.send(actor, { type: 'register', ...registration(careOfAddress, identification, lifetime, sim.now()) });
  return { sim, clock, host, records, commands, stopped, errors, spawn, register };
}

const state = (actor: Binding) => stateValueToString(actor.snapshot.value);

describe('stateValueToString', () => {
  it('names nested states with dots and parallel regions with commas', () => {
    expect(stateValueToString('expired')).toBe('expired');
    expect(stateValueToString({ registered: 'timed' })).toBe('registered.timed');
    expect(stateValueToString({ a: { b: 'c' }, d: 'e' })).toBe('a.b.c,d.e');
    expect(stateValueToString({ a: {} })).toBe('a');
  });
});

describe('ActorHost with the binding machine', () => {
  it('spawn: records {(none) → registered.timed, registered}, publishes the binding, arms one timer', () => {
    const { host, records, commands, spawn, sim } = bindingHost();
    const actor = spawn('ha/198.51.100.10');
    expect(records).toEqual([
      { actor: 'ha/198.51.100.10', from: '(none)', to: 'registered.timed', reason: 'registered', event: 'xstate.init', at: T0 },
    ]);
    expect(commands).toEqual([{ actor: 'ha/198.51.100.10', command: { type: 'publishBinding', params: { grantedLifetime: 600 } }, at: T0 }]);
    expect(host.size).toBe(1);
    expect(host.pendingTimers).toBe(1);
    expect(actor.timers).toHaveLength(1);
    expect(actor.timers![0]!.deadline).toBe(T0 + 600_000);
    expect(actor.busy).toBe(false);
    expect(actor.stopped).toBe(false);
    expect(sim.pending).toBe(1);
    expect(actor.snapshot.context.careOfAddress).toBe(COA_A);
  });

  it('renewal: the first reason of the step wins ("renewed", not the re-entered state’s "registered"), timer restarts', () => {
    const { host, records, commands, spawn, register, sim } = bindingHost();
    const actor = spawn('b');
    sim.advance(100_000);
    records.length = 0;
    commands.length = 0;
    register(actor, COA_A, id(2), 300);
    expect(records).toEqual([{ actor: 'b', from: 'registered.timed', to: 'registered.timed', reason: 'renewed', event: 'register', at: T0 + 100_000 }]);
    expect(commands.map((c) => c.command)).toEqual([{ type: 'publishBinding', params: { grantedLifetime: 300 } }]);
    expect(host.pendingTimers).toBe(1);
    expect(actor.timers).toHaveLength(1);
    expect(actor.timers![0]!.deadline).toBe(T0 + 400_000);
  });

  it('care-of address change: reason care-of-address-changed, the old entry withdrawn before the new one is published', () => {
    const { host, records, commands, spawn, register, sim } = bindingHost();
    const actor = spawn('b');
    const lifetimeTimer = actor.timers![0];
    sim.advance(1000);
    records.length = 0;
    commands.length = 0;
    register(actor, COA_B, id(2), 600);
    expect(records.map((r) => [r.from, r.to, r.reason])).toEqual([['registered.timed', 'registered.timed', 'care-of-address-changed']]);
    expect(commands.map((c) => c.command)).toEqual([
      { type: 'withdrawBinding', params: { careOfAddress: COA_A } },
      { type: 'publishBinding', params: { grantedLifetime: 600 } },
    ]);
    expect(actor.snapshot.context.careOfAddress).toBe(COA_B);
    expect(host.pendingTimers).toBe(1);
    expect(actor.timers![0]!.deadline).toBe(T0 + 1000 + 600_000);
    // Cancelled and raised again in one step: the same timer, postponed (no heap churn).
    expect(actor.timers![0]).toBe(lifetimeTimer);
    sim.advance(599_999);
    expect(actor.stopped).toBe(false);
    sim.advance(1);
    expect(records.at(-1)).toMatchObject({ reason: 'lifetime-expired', at: T0 + 601_000 });
    expect(actor.stopped).toBe(true);
  });

  it('[R3.8.2.2-9] duplicate: reason duplicate, keepBinding with the seconds left, and NO new timer (the original one stays)', () => {
    const { host, clock, records, commands, spawn, register, sim } = bindingHost();
    const actor = spawn('b');
    const timer = actor.timers![0]!;
    const alarmsBefore = clock.alarmsSet;
    sim.advance(50_000);
    records.length = 0;
    commands.length = 0;
    register(actor, COA_A, id(1), 1200);
    expect(records.map((r) => [r.from, r.to, r.reason])).toEqual([['registered.timed', 'registered.timed', 'duplicate']]);
    expect(commands.map((c) => c.command)).toEqual([{ type: 'keepBinding', params: { grantedLifetime: 550 } }]);
    expect(actor.timers).toEqual([timer]);
    expect(actor.timers![0]).toBe(timer);
    expect(timer.index).toBeGreaterThanOrEqual(0); // still queued
    expect(host.pendingTimers).toBe(1);
    expect(clock.alarmsSet).toBe(alarmsBefore);
    // It still expires at the original time.
    sim.advanceTo(T0 + 600_000);
    expect(state(actor)).toBe('expired');
  });

  it('[R3.8.2.2-8] expiry after exactly the lifetime: alive 1 ms before; then expired, withdrawn, stopped, counted out, no timers', () => {
    const { host, records, commands, stopped, spawn, sim } = bindingHost();
    const actor = spawn('b', 600);
    spawn('other', 900);
    records.length = 0;
    commands.length = 0;
    sim.advance(600 * 1000 - 1);
    expect(state(actor)).toBe('registered.timed');
    expect(actor.stopped).toBe(false);
    expect(records).toEqual([]);
    expect(host.size).toBe(2);
    sim.advance(1);
    expect(state(actor)).toBe('expired');
    expect(records).toEqual([{ actor: 'b', from: 'registered.timed', to: 'expired', reason: 'lifetime-expired', event: 'xstate.after.lifetime.binding.registered.timed', at: T0 + 600_000 }]);
    expect(commands).toEqual([{ actor: 'b', command: { type: 'withdrawBinding', params: { careOfAddress: COA_A } }, at: T0 + 600_000 }]);
    expect(stopped).toEqual(['b']);
    expect(actor.stopped).toBe(true);
    expect(actor.timers).toBeUndefined();
    expect(host.size).toBe(1);
    expect(host.pendingTimers).toBe(1); // only the other actor's
    sim.advance(300_000);
    expect(stopped).toEqual(['b', 'other']);
    expect(host.size).toBe(0);
    expect(host.pendingTimers).toBe(0);
    expect(sim.pending).toBe(0);
  });

  it('an infinite lifetime schedules no timer and never expires; a finite renewal arms one, 0xffff again drops it', () => {
    const { host, records, spawn, register, sim } = bindingHost();
    const actor = spawn('b', INFINITE_LIFETIME);
    expect(records.map((r) => [r.from, r.to, r.reason])).toEqual([['(none)', 'registered.unbounded', 'registered']]);
    expect(host.pendingTimers).toBe(0);
    expect(actor.timers).toBeUndefined();
    expect(sim.pending).toBe(0);
    sim.advance(10 * 365 * 24 * 3_600_000);
    expect(state(actor)).toBe('registered.unbounded');
    register(actor, COA_A, id(2), 60);
    expect(state(actor)).toBe('registered.timed');
    expect(host.pendingTimers).toBe(1);
    register(actor, COA_A, id(3), INFINITE_LIFETIME);
    expect(state(actor)).toBe('registered.unbounded');
    expect(host.pendingTimers).toBe(0);
    expect(actor.timers).toBeUndefined();
    sim.advance(120_000);
    expect(state(actor)).toBe('registered.unbounded');
    expect(host.size).toBe(1);
  });

  for (const [type, reason] of [
    ['deregister', 'deregistered'],
    ['deregister-all', 'deregistered-all'],
    ['replaced', 'replaced'],
  ] as const) {
    it(`${type}: reason ${reason}, withdrawBinding, stopped, timer cancelled; later events are ignored`, () => {
      const { host, records, commands, stopped, spawn, register, sim } = bindingHost();
      const actor = spawn('b', 600, COA_B);
      sim.advance(5000);
      records.length = 0;
      commands.length = 0;
      host.send(actor, { type, at: sim.now() });
      expect(records.map((r) => [r.from, r.to, r.reason])).toEqual([['registered.timed', 'deregistered', reason]]);
      expect(commands.map((c) => c.command)).toEqual([{ type: 'withdrawBinding', params: { careOfAddress: COA_B } }]);
      expect(stopped).toEqual(['b']);
      expect(host.size).toBe(0);
      expect(host.pendingTimers).toBe(0);
      register(actor, COA_A, id(9), 600);
      sim.advance(3_600_000);
      expect(records).toHaveLength(1);
      expect(commands).toHaveLength(1);
      expect(stopped).toEqual(['b']);
    });
  }

  it('stop(): leaves without a transition, its timer cancelled, onStopped once', () => {
    const { host, records, stopped, spawn, sim } = bindingHost();
    const actor = spawn('b');
    records.length = 0;
    host.stop(actor);
    host.stop(actor);
    expect(records).toEqual([]);
    expect(stopped).toEqual(['b']);
    expect(host.size).toBe(0);
    expect(host.pendingTimers).toBe(0);
    sim.advance(600_000);
    expect(records).toEqual([]);
  });

  it('close(): no timer fires afterwards, actors stay readable', () => {
    const { host, records, spawn, sim } = bindingHost();
    const actor = spawn('b');
    records.length = 0;
    host.close();
    expect(host.pendingTimers).toBe(0);
    expect(sim.pending).toBe(0);
    sim.advance(3_600_000);
    expect(records).toEqual([]);
    expect(state(actor)).toBe('registered.timed');
  });

  it('mailbox: an event sent to an actor from its own onCommands runs after the current step, in order', () => {
    const seen: string[] = [];
    let once = false;
    const { host, records, spawn, sim } = bindingHost((actor, commands, h) => {
      seen.push(`commands ${commands.map((c) => c.type).join(',')} in ${state(actor)} (${actor.snapshot.context.identification.low})`);
      if (!once && commands.some((c) => c.type === 'publishBinding') && actor.snapshot.context.identification.low === 2) {
        once = true;
        // Two more events for this actor, sent mid-step: neither may run now.
        h.send(actor, { type: 'register', ...registration(COA_B, id(3), 600, sim.now()) });
        h.send(actor, { type: 'deregister', at: sim.now() });
        seen.push(`after sends: ${state(actor)} ${actor.snapshot.context.careOfAddress === COA_A ? 'A' : 'B'} mailbox=${actor.mailbox?.length}`);
      }
    });
    const actor = spawn('b');
    records.length = 0;
    seen.length = 0;
    host.send(actor, { type: 'register', ...registration(COA_A, id(2), 600, sim.now()) });
    expect(seen).toEqual([
      'commands publishBinding in registered.timed (2)',
      'after sends: registered.timed A mailbox=2',
      'commands withdrawBinding,publishBinding in registered.timed (3)',
      'commands withdrawBinding in deregistered (3)',
    ]);
    expect(records.map((r) => r.reason)).toEqual(['renewed', 'care-of-address-changed', 'deregistered']);
    expect(actor.stopped).toBe(true);
    expect(actor.mailbox).toBeUndefined();
    expect(host.size).toBe(0);
  });

  it('mailbox: an event for another actor sent from a command handler runs at once', () => {
    let other: Binding | undefined;
    const { host, records, spawn, sim } = bindingHost((actor, commands, h) => {
      if (actor.id === 'a' && commands.some((c) => c.type === 'withdrawBinding') && other) {
        h.send(other, { type: 'replaced', at: sim.now() });
        expect(other.stopped).toBe(true);
      }
    });
    spawn('a');
    other = spawn('b');
    records.length = 0;
    sim.advance(600_000);
    expect(records.map((r) => [r.actor, r.reason])).toEqual([
      ['a', 'lifetime-expired'],
      ['b', 'replaced'],
    ]);
    expect(host.size).toBe(0);
    expect(host.pendingTimers).toBe(0);
  });

  it('a command handler that throws is reported through onError and does not wedge the actor', () => {
    let failures = 1;
    const h = bindingHost((_actor, commands) => {
      if (failures > 0 && commands.some((c) => c.type === 'publishBinding')) {
        failures--;
        throw new Error('handler failed');
      }
    });
    const actor = h.spawn('a');
    expect(h.errors.map((e) => (e.error as Error).message)).toEqual(['handler failed']);
    expect(actor.busy).toBe(false);
    h.register(actor, COA_B, id(2), 600);
    expect(actor.snapshot.context.careOfAddress).toBe(COA_B);
    expect(h.records.at(-1)?.reason).toBe('care-of-address-changed');
  });

  it('mailbox: 100,000 events queued from one handler are processed in order without deep recursion', () => {
    let queued = false;
    const seen: number[] = [];
    const h = bindingHost((actor, commands, host) => {
      if (commands.some((c) => c.type === 'publishBinding')) seen.push(actor.snapshot.context.identification.low);
      if (queued) return;
      queued = true;
      for (let i = 2; i <= 100_001; i++) {
        host.send(actor, { type: 'register', ...registration(COA_A, id(i), 600, h.sim.now()) });
      }
    });
    const actor = h.spawn('a');
    expect(seen.length).toBe(100_001);
    expect(seen.at(-1)).toBe(100_001);
    expect(seen.every((low, i) => low === i + 1)).toBe(true);
    expect(actor.mailbox).toBeUndefined();
    expect(actor.busy).toBe(false);
    expect(h.host.pendingTimers).toBe(1);
  });

  it('an actor stopped by its owner from its final step’s command handler leaves the host once', () => {
    const { host, stopped, spawn, sim } = bindingHost((actor, commands, h) => {
      if (commands.some((c) => c.type === 'withdrawBinding')) h.stop(actor);
    });
    spawn('a', 10);
    spawn('b', 20);
    sim.advance(10_000);
    expect(stopped).toEqual(['a']);
    expect(host.size).toBe(1);
    sim.advance(10_000);
    expect(stopped).toEqual(['a', 'b']);
    expect(host.size).toBe(0);
  });

  it('10,000 actors with staggered spawn times and lifetimes each expire at exactly their own time', () => {
    const { host, records, stopped, spawn, register, sim } = bindingHost();
    const N = 10_000;
    const expected = new Map<string, number>();
    const actors: Binding[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 7 === 0) sim.advance(13);
      const name = `b${i}`;
      if (i % 1000 === 999) {
        actors.push(spawn(name, INFINITE_LIFETIME));
        continue;
      }
      // At least 60 s, so nothing expires while the 10,000 are being spawned (~19 s).
      const lifetime = 60 + ((i * 7919) % 3600);
      actors.push(spawn(name, lifetime));
      expected.set(name, sim.now() + lifetime * 1000);
    }
    // Renew every tenth finite binding 500 ms later with another lifetime, and send a
    // duplicate to every eleventh: cancellations and untouched timers at scale.
    sim.advance(500);
    for (let i = 0; i < N; i += 10) {
      const name = `b${i}`;
      if (!expected.has(name)) continue;
      const lifetime = 30 + ((i * 104729) % 1800);
      register(actors[i]!, COA_A, id(2), lifetime);
      expected.set(name, sim.now() + lifetime * 1000);
    }
    for (let i = 5; i < N; i += 11) {
      if (i % 10 === 0 || !expected.has(`b${i}`)) continue;
      register(actors[i]!, COA_A, id(1), 0xfffe);
    }
    expect(host.size).toBe(N);
    expect(host.pendingTimers).toBe(expected.size);
    records.length = 0;
    sim.runAll();
    const expiries = records.filter((r) => r.reason === 'lifetime-expired');
    expect(expiries).toHaveLength(expected.size);
    for (const r of expiries) expect(r.at, r.actor).toBe(expected.get(r.actor));
    expect(new Set(expiries.map((r) => r.actor)).size).toBe(expected.size);
    expect(stopped).toHaveLength(expected.size);
    expect(host.size).toBe(N - expected.size);
    expect(host.pendingTimers).toBe(0);
    for (const a of actors) expect(state(a)).toBe(expected.has(a.id) ? 'expired' : 'registered.unbounded');
  });
});

describe('ActorHost with a machine that throws', () => {
  interface FragileContext {
    readonly explodeAtStart: boolean;
    readonly pokes: number;
  }
  type FragileEvent = { type: 'poke' } | { type: 'poison' };
  /** A throwaway machine whose guards throw on demand, with a timer like a binding's. */
  const fragileMachine = setup({
    types: {
      context: {} as FragileContext,
      events: {} as FragileEvent,
      input: {} as { explodeAtStart: boolean },
    },
    guards: {
      explodesAtStart: ({ context }) => {
        if (context.explodeAtStart) throw new Error('guard exploded at start');
        return false;
      },
      explodes: () => {
        throw new Error('guard exploded');
      },
    },
    actions: {
      poked: () => {},
      reason: (_, _params: { reason: string }) => {},
    },
  }).createMachine({
    context: ({ input }) => ({ explodeAtStart: input.explodeAtStart, pokes: 0 }),
    initial: 'starting',
    states: {
      starting: { always: [{ guard: 'explodesAtStart', target: 'idle' }, { target: 'idle' }] },
      idle: {
        after: { 1000: { target: 'done', actions: { type: 'reason', params: { reason: 'timeout' } } } },
        on: {
          poke: { actions: 'poked' },
          poison: { guard: 'explodes', target: 'done' },
        },
      },
      done: { type: 'final' },
    },
  });

  function fragileHost() {
    const sim = new SimulatedClock(T0);
    const records: TransitionRecord[] = [];
    const commands: string[] = [];
    const stopped: string[] = [];
    const errors: Array<{ actor: string; message: string }> = [];
    const host = new ActorHost(fragileMachine, {
      clock: sim,
      onTransition: (r) => records.push(r),
      onCommands: (actor, cs) => commands.push(...cs.map((c) => `${actor.id}:${c.type}`)),
      onStopped: (actor) => stopped.push(actor.id),
      onError: (actor, error) => errors.push({ actor: actor.id, message: (error as Error).message }),
    });
    return { sim, host, records, commands, stopped, errors };
  }

  it('a guard throwing on an event: onError, the actor is removed with its timer, the others go on', () => {
    const { sim, host, records, commands, stopped, errors } = fragileHost();
    const a = host.spawn('a', { explodeAtStart: false });
    const b = host.spawn('b', { explodeAtStart: false });
    const c = host.spawn('c', { explodeAtStart: false });
    expect(host.size).toBe(3);
    expect(host.pendingTimers).toBe(3);
    sim.advance(500);
    records.length = 0;
    host.send(b, { type: 'poison' });
    expect(errors).toEqual([{ actor: 'b', message: expect.stringContaining('guard exploded') }]);
    expect(records).toEqual([{ actor: 'b', from: 'idle', to: 'error', reason: 'poison', event: 'poison', at: T0 + 500 }]);
    expect(stopped).toEqual(['b']);
    expect(b.stopped).toBe(true);
    expect(b.snapshot.status).toBe('error');
    expect(host.size).toBe(2);
    expect(host.pendingTimers).toBe(2);
    // Nothing reaches the failed actor any more.
    host.send(b, { type: 'poke' });
    expect(commands).toEqual([]);
    // The others still take events and their timers still fire on time.
    host.send(a, { type: 'poke' });
    expect(commands).toEqual(['a:poked']);
    sim.advance(499);
    expect(host.size).toBe(2);
    sim.advance(1);
    expect(records.filter((r) => r.reason === 'timeout').map((r) => [r.actor, r.at])).toEqual([
      ['a', T0 + 1000],
      ['c', T0 + 1000],
    ]);
    expect(stopped).toEqual(['b', 'a', 'c']);
    expect(errors).toHaveLength(1);
    expect(a.snapshot.status).toBe('done');
    expect(c.snapshot.status).toBe('done');
    expect(host.size).toBe(0);
    expect(host.pendingTimers).toBe(0);
  });

  it('a guard throwing while the actor starts: onError, removed at once, nothing scheduled', () => {
    const { host, records, stopped, errors } = fragileHost();
    const ok = host.spawn('ok', { explodeAtStart: false });
    const bad = host.spawn('bad', { explodeAtStart: true });
    expect(errors).toEqual([{ actor: 'bad', message: expect.stringContaining('guard exploded at start') }]);
    expect(records.filter((r) => r.actor === 'bad').map((r) => [r.from, r.to])).toEqual([['(none)', 'error']]);
    expect(stopped).toEqual(['bad']);
    expect(bad.stopped).toBe(true);
    expect(ok.stopped).toBe(false);
    expect(host.size).toBe(1);
    expect(host.pendingTimers).toBe(1);
  });
});
