/**
 * Many timers on one clock alarm: a heap of deadlines, with the clock armed for the earliest
 * only. A million binding lifetimes cost a heap entry each (a small object, no closure and
 * no Node timer), and cancelling is O(log n).
 *
 * Postponing a timer (a binding renewed: the same timer, later) is O(1): the entry keeps its
 * place in the heap and remembers the new deadline; when its old deadline comes it goes back
 * into the heap at the new one instead of firing. Renewals vastly outnumber expiries, so most
 * postponements never touch the heap.
 */
import type { Alarm, Clock } from '../../io/clock.js';
import { MinHeap, type HeapEntry } from '../../io/min-heap.js';

export interface Timer<T> extends HeapEntry {
  payload: T;
  /** Where the timer belongs, (deadline, deadlineSeq); later than its heap key (due, seq) after a postponement. */
  deadline: number;
  deadlineSeq: number;
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
    const seq = this.seq++;
    const timer: Timer<T> = { due, seq, index: -1, payload, deadline: due, deadlineSeq: seq };
    this.heap.push(timer);
    if (!this.firing && due < this.alarmAt) this.arm();
    return timer;
  }

  /**
   * Moves a pending timer to `due` with a new payload. Later than its place in the heap: O(1),
   * the heap is fixed up when that place comes; earlier: O(log n). A timer that has fired or
   * was cancelled is scheduled again.
   */
  reschedule(timer: Timer<T>, due: number, payload: T): void {
    timer.payload = payload;
    timer.deadline = due;
    timer.deadlineSeq = this.seq++;
    if (timer.index >= 0 && due >= timer.due) return;
    this.heap.remove(timer);
    timer.due = due;
    timer.seq = timer.deadlineSeq;
    this.heap.push(timer);
    if (!this.firing && due < this.alarmAt) this.arm();
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
        if (next.deadlineSeq !== next.seq) {
          // Postponed: back into the heap where it belongs (a renewed lifetime, 3.8.2.2).
          next.due = next.deadline;
          next.seq = next.deadlineSeq;
          this.heap.push(next);
          continue;
        }
        this.onFire(next.payload, next);
      }
    } finally {
      this.firing = false;
      this.arm();
    }
  }
}
