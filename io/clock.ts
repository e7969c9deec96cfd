/**
 * The one source of time for the runtime: all time comes from this service, so a simulated run
 * replays identically.
 * Machines never read time; the runtime passes it in. Two implementations:
 * - RealClock: monotonic milliseconds aligned to the Unix epoch at start, Node timers.
 * - SimulatedClock: time moves only when the test or the simulated network advances it, and
 *   alarms fire in (time, scheduling order), so a scenario replays identically.
 */
import { MinHeap, type HeapEntry } from './min-heap.js';

export interface Alarm {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch (wall-clock aligned; monotonic for RealClock). */
  now(): number;
  /** Calls `callback` once, at or after time `at` (ms since the epoch). */
  setAlarm(at: number, callback: () => void): Alarm;
}

export class RealClock implements Clock {
  private readonly origin = Date.now() - performance.now();

  now(): number {
    return this.origin + performance.now();
  }

  setAlarm(at: number, callback: () => void): Alarm {
    // Node clamps delays above 2^31-1 ms to 1 ms; re-arm in steps for far alarms.
    const MAX_DELAY = 0x7fffffff;
    let handle: NodeJS.Timeout;
    const arm = () => {
      const delay = at - this.now();
      if (delay > MAX_DELAY) handle = setTimeout(arm, MAX_DELAY);
      else handle = setTimeout(callback, Math.max(0, Math.ceil(delay)));
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  }
}

interface SimulatedAlarm extends HeapEntry {
  callback: () => void;
}

export class SimulatedClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly alarms = new MinHeap<SimulatedAlarm>();

  /** @param start ms since the epoch; defaults to 2026-01-01T00:00:00Z so NTP values look real. */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setAlarm(at: number, callback: () => void): Alarm {
    const alarm: SimulatedAlarm = { due: Math.max(at, this.current), seq: this.seq++, index: -1, callback };
    this.alarms.push(alarm);
    return { cancel: () => void this.alarms.remove(alarm) };
  }

  /** Number of alarms still pending. */
  get pending(): number {
    return this.alarms.size;
  }

  /** Time of the next alarm, if any. */
  nextAlarm(): number | undefined {
    return this.alarms.peek()?.due;
  }

  /** Moves time forward by `ms`, firing every alarm due on the way, in order. */
  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  advanceTo(time: number): void {
    for (;;) {
      const next = this.alarms.peek();
      if (next === undefined || next.due > time) break;
      this.alarms.pop();
      this.current = Math.max(this.current, next.due);
      next.callback();
    }
    this.current = Math.max(this.current, time);
  }

  /** Fires alarms until none is left or `limit` ms of simulated time have passed. */
  runAll(limit = 24 * 3600_000): void {
    this.advanceTo(this.current + limit);
  }
}
