/**
 * Many timers on one clock alarm: a heap of deadlines, with the clock armed for the earliest
 * only. A million binding lifetimes cost a heap entry each (a small object, no closure and
 * no Node timer), and cancelling is O(log n).
 */
import type { Alarm, Clock } from './clock.js';
import { MinHeap, type HeapEntry } from './min-heap.js';

export interface Timer<T> extends HeapEntry {
  readonly payload: T;
}

export class TimerQueue<T> {
  private readonly heap = new MinHeap<Timer<T>>();
  private seq = 0;
  private alarm: Alarm | undefined;
  private alarmAt = Infinity;
  private firing = false;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: (payload: T, timer: Timer<T>) => void,
  ) {}

  get size(): number {
    return this.heap.size;
  }

  /** Schedules `payload` to fire at time `due` (ms since the epoch). */
  schedule(due: number, payload: T): Timer<T> {
    const timer: Timer<T> = { due, seq: this.seq++, index: -1, payload };
    this.heap.push(timer);
    if (!this.firing && due < this.alarmAt) this.arm();
    return timer;
  }

  cancel(timer: Timer<T>): void {
    this.heap.remove(timer);
    // The alarm may now be early; it re-arms itself when it fires. Not re-arming here keeps
    // renewals (cancel + schedule) at O(log n) without touching the clock.
  }

  /** Cancels everything (used on shutdown). */
  clear(): void {
    while (this.heap.pop() !== undefined);
    this.alarm?.cancel();
    this.alarm = undefined;
    this.alarmAt = Infinity;
  }

  private arm(): void {
    this.alarm?.cancel();
    const next = this.heap.peek();
    if (next === undefined) {
      this.alarm = undefined;
      this.alarmAt = Infinity;
      return;
    }
    this.alarmAt = next.due;
    this.alarm = this.clock.setAlarm(next.due, () => this.fire());
  }

  private fire(): void {
    this.alarm = undefined;
    this.alarmAt = Infinity;
    this.firing = true;
    try {
      const now = this.clock.now();
      for (;;) {
        const next = this.heap.peek();
        if (next === undefined || next.due > now) break;
        this.heap.pop();
        this.onFire(next.payload, next);
      }
    } finally {
      this.firing = false;
      this.arm();
    }
  }
}
