import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { RealClock, SimulatedClock, type Alarm, type Clock } from '../../io/clock.js';
import { TimerQueue } from '../../runtime/actors/timer-queue.js';

const START = Date.UTC(2026, 0, 1);

/** Wraps a clock to count the alarms a TimerQueue asks for and how many are outstanding. */
class CountingClock implements Clock {
  armed = 0;
  live = 0;
  constructor(readonly inner: SimulatedClock) {}
  now(): number {
    return this.inner.now();
  }
  setAlarm(at: number, callback: () => void): Alarm {
    this.armed++;
    this.live++;
    let done = false;
    const finish = () => {
      if (!done) this.live--;
      done = true;
    };
    const alarm = this.inner.setAlarm(at, () => {
      finish();
      callback();
    });
    return {
      cancel: () => {
        finish();
        alarm.cancel();
      },
    };
  }
}

describe('SimulatedClock', () => {
  it('starts at 2026-01-01T00:00:00Z by default, or at the given time, and stands still', () => {
    expect(new SimulatedClock().now()).toBe(START);
    const clock = new SimulatedClock(1000);
    expect(clock.now()).toBe(1000);
    expect(clock.now()).toBe(1000);
    expect(clock.pending).toBe(0);
    expect(clock.nextAlarm()).toBeUndefined();
  });

  it('fires alarms in (time, scheduling order), each at its own time', () => {
    const clock = new SimulatedClock(0);
    const fired: Array<[string, number]> = [];
    const at = (name: string, time: number) => clock.setAlarm(time, () => fired.push([name, clock.now()]));
    at('c', 300);
    at('a1', 100);
    at('b', 200);
    at('a2', 100);
    at('a3', 100);
    expect(clock.pending).toBe(5);
    expect(clock.nextAlarm()).toBe(100);
    clock.advance(1000);
    expect(fired).toEqual([
      ['a1', 100],
      ['a2', 100],
      ['a3', 100],
      ['b', 200],
      ['c', 300],
    ]);
    expect(clock.now()).toBe(1000);
    expect(clock.pending).toBe(0);
  });

  it('advance fires what is due up to and including the target time, and no more', () => {
    const clock = new SimulatedClock(0);
    const fired: number[] = [];
    for (const t of [10, 20, 30]) clock.setAlarm(t, () => fired.push(t));
    clock.advance(19);
    expect(fired).toEqual([10]);
    expect(clock.now()).toBe(19);
    clock.advance(1);
    expect(fired).toEqual([10, 20]);
    expect(clock.now()).toBe(20);
    clock.advanceTo(29);
    expect(fired).toEqual([10, 20]);
    clock.advanceTo(30);
    expect(fired).toEqual([10, 20, 30]);
  });

  it('advanceTo a past time does not move time back', () => {
    const clock = new SimulatedClock(500);
    clock.advanceTo(100);
    expect(clock.now()).toBe(500);
  });

  it('an alarm set in the past fires at the current time on the next advance, even advance(0)', () => {
    const clock = new SimulatedClock(1000);
    const fired: number[] = [];
    clock.setAlarm(10, () => fired.push(clock.now()));
    expect(clock.nextAlarm()).toBe(1000);
    clock.advance(0);
    expect(fired).toEqual([1000]);
  });

  it('cancel removes an alarm; cancelling twice or after firing is harmless', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    const a = clock.setAlarm(10, () => fired.push('a'));
    const b = clock.setAlarm(20, () => fired.push('b'));
    clock.setAlarm(30, () => fired.push('c'));
    b.cancel();
    b.cancel();
    expect(clock.pending).toBe(2);
    clock.advance(15);
    a.cancel();
    clock.runAll();
    expect(fired).toEqual(['a', 'c']);
    expect(clock.pending).toBe(0);
  });

  it('an alarm cancelled by an earlier callback at the same time does not fire', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    let second: Alarm | undefined;
    clock.setAlarm(10, () => {
      fired.push('first');
      second?.cancel();
    });
    second = clock.setAlarm(10, () => fired.push('second'));
    clock.advance(10);
    expect(fired).toEqual(['first']);
  });

  it('alarms scheduled from inside a callback fire in the same advance, in order, at their time', () => {
    const clock = new SimulatedClock(0);
    const fired: Array<[string, number]> = [];
    clock.setAlarm(10, () => {
      fired.push(['outer', clock.now()]);
      // Due now: after everything already due now (scheduled earlier), before later times.
      clock.setAlarm(10, () => fired.push(['now', clock.now()]));
      clock.setAlarm(15, () => {
        fired.push(['later', clock.now()]);
        clock.setAlarm(clock.now() + 100, () => fired.push(['beyond', clock.now()]));
      });
    });
    clock.setAlarm(10, () => fired.push(['sibling', clock.now()]));
    clock.setAlarm(20, () => fired.push(['t20', clock.now()]));
    clock.advance(50);
    expect(fired).toEqual([
      ['outer', 10],
      ['sibling', 10],
      ['now', 10],
      ['later', 15],
      ['t20', 20],
    ]);
    expect(clock.now()).toBe(50);
    expect(clock.nextAlarm()).toBe(115);
    clock.runAll();
    expect(fired.at(-1)).toEqual(['beyond', 115]);
  });

  it('runAll fires everything within the limit and leaves later alarms pending', () => {
    const clock = new SimulatedClock(0);
    const fired: number[] = [];
    clock.setAlarm(3_600_000, () => fired.push(1));
    clock.setAlarm(2 * 24 * 3_600_000, () => fired.push(2));
    clock.runAll();
    expect(fired).toEqual([1]);
    expect(clock.now()).toBe(24 * 3_600_000);
    expect(clock.pending).toBe(1);
    clock.runAll(24 * 3_600_000);
    expect(fired).toEqual([1, 2]);
  });

  it('random alarms fire sorted by (time, scheduling order), at their time (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 60 }), fc.integer({ min: 1, max: 60 }), (times, step) => {
        const clock = new SimulatedClock(0);
        const fired: Array<[number, number]> = [];
        times.forEach((t, i) => clock.setAlarm(t, () => fired.push([i, clock.now()])));
        // Advance in arbitrary steps; the order must not depend on them.
        while (clock.pending > 0) clock.advance(step);
        const expected = times.map((t, i) => [i, t] as [number, number]).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
        expect(fired).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('TimerQueue', () => {
  function setup() {
    const sim = new SimulatedClock(0);
    const clock = new CountingClock(sim);
    const fired: Array<[string, number]> = [];
    const queue = new TimerQueue<string>(clock, (payload) => fired.push([payload, clock.now()]));
    return { sim, clock, fired, queue };
  }

  it('holds many timers on one clock alarm, armed for the earliest', () => {
    const { sim, clock, fired, queue } = setup();
    for (let i = 0; i < 1000; i++) queue.schedule(1000 + ((i * 7919) % 1000), `t${i}`);
    expect(queue.size).toBe(1000);
    expect(sim.pending).toBe(1);
    expect(clock.live).toBe(1);
    expect(sim.nextAlarm()).toBe(1000);
    sim.runAll();
    expect(fired).toHaveLength(1000);
    // Every timer fired at exactly its deadline, in order.
    for (const [payload, at] of fired) expect(at).toBe(1000 + ((Number(payload.slice(1)) * 7919) % 1000));
    expect(fired.map(([, at]) => at)).toEqual([...fired.map(([, at]) => at)].sort((a, b) => a - b));
    expect(queue.size).toBe(0);
    expect(sim.pending).toBe(0);
    // One alarm per distinct deadline at most, never one per timer scheduled up front.
    expect(clock.armed).toBeLessThanOrEqual(1000);
  });

  it('fires timers with the same deadline in scheduling order', () => {
    const { sim, fired, queue } = setup();
    queue.schedule(50, 'b1');
    queue.schedule(10, 'a');
    queue.schedule(50, 'b2');
    queue.schedule(50, 'b3');
    sim.runAll();
    expect(fired).toEqual([
      ['a', 10],
      ['b1', 50],
      ['b2', 50],
      ['b3', 50],
    ]);
  });

  it('does not fire a timer before its deadline', () => {
    const { sim, fired, queue } = setup();
    queue.schedule(5000, 'x');
    sim.advance(4999);
    expect(fired).toEqual([]);
    sim.advance(1);
    expect(fired).toEqual([['x', 5000]]);
  });

  it('re-arms the clock when an earlier timer is scheduled, keeping a single alarm', () => {
    const { sim, clock, fired, queue } = setup();
    queue.schedule(100, 'late');
    expect(sim.nextAlarm()).toBe(100);
    queue.schedule(40, 'early');
    expect(sim.nextAlarm()).toBe(40);
    expect(sim.pending).toBe(1);
    expect(clock.live).toBe(1);
    // A later timer does not touch the alarm.
    const armed = clock.armed;
    queue.schedule(70, 'middle');
    expect(clock.armed).toBe(armed);
    sim.runAll();
    expect(fired).toEqual([
      ['early', 40],
      ['middle', 70],
      ['late', 100],
    ]);
  });

  it('a cancelled timer never fires; the others still fire at their exact time', () => {
    const { sim, fired, queue } = setup();
    const first = queue.schedule(10, 'first');
    queue.schedule(20, 'second');
    const third = queue.schedule(30, 'third');
    queue.cancel(first);
    queue.cancel(third);
    queue.cancel(third); // twice is harmless
    expect(queue.size).toBe(1);
    sim.runAll();
    expect(fired).toEqual([['second', 20]]);
    expect(sim.pending).toBe(0);
  });

  it('cancelling every timer leaves at most a stale alarm that fires nothing and is not re-armed', () => {
    const { sim, clock, fired, queue } = setup();
    const timers = [10, 20, 30].map((t) => queue.schedule(t, `t${t}`));
    for (const t of timers) queue.cancel(t);
    expect(queue.size).toBe(0);
    sim.runAll();
    expect(fired).toEqual([]);
    expect(clock.live).toBe(0);
    expect(sim.pending).toBe(0);
  });

  it('renewal (cancel + schedule later) fires once, at the new time', () => {
    const { sim, fired, queue } = setup();
    let timer = queue.schedule(1000, 'binding');
    sim.advance(500);
    queue.cancel(timer);
    timer = queue.schedule(sim.now() + 1000, 'binding');
    sim.advance(999); // t = 1499: past the old deadline
    expect(fired).toEqual([]);
    sim.advance(1);
    expect(fired).toEqual([['binding', 1500]]);
  });

  it('timers scheduled while firing: due now fire in the same pass, later ones at their time', () => {
    const sim = new SimulatedClock(0);
    const fired: Array<[string, number]> = [];
    const queue: TimerQueue<string> = new TimerQueue<string>(sim, (payload) => {
      fired.push([payload, sim.now()]);
      if (payload === 'a') {
        queue.schedule(sim.now(), 'a-now');
        queue.schedule(sim.now() + 5, 'a+5');
        queue.schedule(sim.now() - 3, 'a-past');
      }
    });
    queue.schedule(10, 'a');
    queue.schedule(10, 'b');
    queue.schedule(12, 'c');
    sim.advance(100);
    expect(fired).toEqual([
      ['a', 10],
      // 'a-past' (due 7) precedes 'b' (due 10), then 'a-now' (due 10, scheduled after 'b').
      ['a-past', 10],
      ['b', 10],
      ['a-now', 10],
      ['c', 12],
      ['a+5', 15],
    ]);
    expect(sim.pending).toBe(0);
  });

  it('a timer scheduled from inside onFire for later arms the clock again', () => {
    const sim = new SimulatedClock(0);
    const fired: number[] = [];
    const queue: TimerQueue<number> = new TimerQueue<number>(sim, (n) => {
      fired.push(sim.now());
      if (n < 4) queue.schedule(sim.now() + 1000, n + 1);
    });
    queue.schedule(1000, 0);
    sim.runAll();
    expect(fired).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(sim.pending).toBe(0);
  });

  it('clear() cancels everything, including the clock alarm', () => {
    const { sim, clock, fired, queue } = setup();
    for (let i = 1; i <= 10; i++) queue.schedule(i * 10, `t${i}`);
    queue.clear();
    expect(queue.size).toBe(0);
    expect(sim.pending).toBe(0);
    expect(clock.live).toBe(0);
    sim.runAll();
    expect(fired).toEqual([]);
    // The queue is usable again after clear().
    const due = sim.now() + 1;
    queue.schedule(due, 'after-clear');
    sim.runAll();
    expect(fired).toEqual([['after-clear', due]]);
  });

  it('clear() from inside onFire stops the rest of the pass', () => {
    const sim = new SimulatedClock(0);
    const fired: string[] = [];
    const queue: TimerQueue<string> = new TimerQueue<string>(sim, (p) => {
      fired.push(p);
      if (p === 'stop') queue.clear();
    });
    queue.schedule(10, 'stop');
    queue.schedule(10, 'same-time');
    queue.schedule(20, 'later');
    sim.runAll();
    expect(fired).toEqual(['stop']);
    expect(queue.size).toBe(0);
    expect(sim.pending).toBe(0);
  });

  it('matches a sorted-list model under random schedule/reschedule/cancel/advance (property)', () => {
    type Op =
      | { kind: 'schedule'; offset: number }
      | { kind: 'reschedule'; pick: number; offset: number }
      | { kind: 'cancel'; pick: number }
      | { kind: 'advance'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('schedule' as const), offset: fc.integer({ min: -5, max: 100 }) }),
      fc.record({ kind: fc.constant('reschedule' as const), pick: fc.nat(), offset: fc.integer({ min: -5, max: 100 }) }),
      fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const sim = new SimulatedClock(0);
        const clock = new CountingClock(sim);
        const fired: Array<[number, number]> = [];
        const queue = new TimerQueue<number>(clock, (id) => fired.push([id, sim.now()]));
        // `order`: when the timer was last (re)scheduled; equal deadlines fire in that order.
        type Pending = { id: number; due: number; order: number; timer: ReturnType<typeof queue.schedule> };
        let pending: Pending[] = [];
        const expected: Array<[number, number]> = [];
        let id = 0;
        let order = 0;
        // Within one advance timers fire in (deadline, scheduling order); one already overdue
        // when the advance starts (scheduled in the past) fires at that start time.
        const advanceModel = (from: number, to: number) => {
          const due = pending.filter((p) => p.due <= to).sort((a, b) => a.due - b.due || a.order - b.order);
          for (const p of due) expected.push([p.id, Math.max(p.due, from)]);
          pending = pending.filter((p) => p.due > to);
        };
        for (const o of ops) {
          if (o.kind === 'schedule') {
            const due = sim.now() + o.offset;
            pending.push({ id, due, order: order++, timer: queue.schedule(due, id) });
            id++;
          } else if (o.kind === 'reschedule') {
            // A pending timer moved earlier or later (a renewal postpones it).
            if (pending.length > 0) {
              const moved = pending[o.pick % pending.length]!;
              moved.due = sim.now() + o.offset;
              moved.order = order++;
              queue.reschedule(moved.timer, moved.due, moved.id);
            }
          } else if (o.kind === 'cancel') {
            if (pending.length > 0) {
              const victim = pending[o.pick % pending.length]!;
              queue.cancel(victim.timer);
              pending = pending.filter((p) => p !== victim);
            }
          } else {
            advanceModel(sim.now(), sim.now() + o.ms);
            sim.advance(o.ms);
          }
          expect(queue.size).toBe(pending.length);
          expect(clock.live).toBeLessThanOrEqual(1);
          if (pending.length > 0) expect(clock.live).toBe(1);
        }
        expect(fired).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('a postponed timer fires once, at its new time, and a fired one can be scheduled again', () => {
    const { sim, fired, queue } = setup();
    const timer = queue.schedule(1000, 'binding');
    sim.advance(500);
    queue.reschedule(timer, sim.now() + 1000, 'renewed');
    sim.advance(999); // t = 1499: past the old deadline, where the entry went back into the heap
    expect(fired).toEqual([]);
    expect(queue.size).toBe(1);
    sim.advance(1);
    expect(fired).toEqual([['renewed', 1500]]);
    queue.reschedule(timer, sim.now() + 10, 'again');
    sim.advance(10);
    expect(fired).toEqual([['renewed', 1500], ['again', 1510]]);
    expect(queue.size).toBe(0);
  });
});

describe('RealClock', () => {
  it('re-arms in steps for an alarm beyond Node’s 2^31-1 ms timer limit, and cancel still works (fake timers)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      const clock = new RealClock();
      const far = 30 * 24 * 3_600_000; // 30 days > 2^31-1 ms (24.8 days)
      const fired: number[] = [];
      const start = clock.now();
      clock.setAlarm(start + far, () => fired.push(clock.now() - start));
      const cancelled = clock.setAlarm(start + far, () => fired.push(-1));
      vi.advanceTimersByTime(0x7fffffff);
      expect(fired).toEqual([]);
      cancelled.cancel(); // cancels the re-armed Node timer, not the first one
      vi.advanceTimersByTime(far - 0x7fffffff - 1);
      expect(fired).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(fired).toEqual([far]);
      vi.advanceTimersByTime(far);
      expect(fired).toEqual([far]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('is aligned to the wall clock and moves forward', () => {
    const clock = new RealClock();
    const a = clock.now();
    expect(Math.abs(a - Date.now())).toBeLessThan(1000);
    let b = clock.now();
    while (b === a) b = clock.now();
    expect(b).toBeGreaterThan(a);
  });

  it('fires an alarm and honours cancel (real timers, a few ms)', async () => {
    const clock = new RealClock();
    const fired: string[] = [];
    const cancelled = clock.setAlarm(clock.now() + 1, () => fired.push('cancelled'));
    cancelled.cancel();
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('alarm did not fire within 1 s')), 1000);
      clock.setAlarm(clock.now() + 5, () => {
        fired.push('fired');
        clearTimeout(guard);
        resolve();
      });
    });
    expect(fired).toEqual(['fired']);
  });
});
