/**
 * Group commit: a binding is durable before its Reply leaves (issue 14), but one fsync per
 * Reply would cap the agent at the disk's sync rate (~5 ms here: 200 Replies/s). Writes and
 * Replies wait together; at the end of the turn of the event loop one transaction commits the
 * writes, then their Replies go. A store that commits in the background (a worker thread)
 * lets the agent go on meanwhile: what arrives during a commit forms the next group, committed
 * as soon as the one before is durable, so a group grows with the load instead of the fsyncs
 * limiting it. A Reply with nothing waiting to commit before it (a denial) goes at once.
 */
import type { BindingStore, StoreWrite } from './binding-store.js';

export interface GroupCommitCounters {
  commits: number;
  writes: number;
  failures: number;
  /** Replies dropped because their writes could not be committed (the node retransmits, 3.6.3). */
  repliesDropped: number;
}

export class GroupCommit {
  readonly counters: GroupCommitCounters = { commits: 0, writes: 0, failures: 0, repliesDropped: 0 };
  private writes: StoreWrite[] = [];
  private held: Array<() => void> = [];
  private scheduled = false;
  /** A commit in the background not yet durable: the next group waits for it (order). */
  private committing: Promise<void> | undefined;
  private readonly flushTask = () => this.flush();

  constructor(
    private readonly store: BindingStore,
    /** A commit failed: its Replies are not sent (they would promise what a restart forgets). */
    private readonly onError: (error: unknown, droppedReplies: number) => void,
    private readonly schedule: (task: () => void) => void = (task) => setImmediate(task),
  ) {}

  /** Queues a write for the next commit. */
  write(write: StoreWrite): void {
    this.writes.push(write);
    this.arm();
  }

  /** Runs `send` after the writes queued so far are committed; at once when none wait. */
  whenDurable(send: () => void): void {
    if (this.writes.length === 0 && this.held.length === 0 && this.committing === undefined) {
      send();
      return;
    }
    this.held.push(send);
    this.arm();
  }

  /** Commits what waits (after the commit in flight, if any), then releases its Replies in order. */
  flush(): void {
    this.scheduled = false;
    if (this.committing !== undefined) return; // the commit in flight re-arms when it ends
    const writes = this.writes;
    const held = this.held;
    if (writes.length === 0 && held.length === 0) return;
    this.writes = [];
    this.held = [];
    if (writes.length === 0) {
      for (const send of held) send();
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.store.commit(writes);
    } catch (error) {
      this.failed(error, held.length);
      return;
    }
    if (result === undefined) {
      this.committed(writes.length, held);
      return;
    }
    this.committing = result.then(
      () => {
        this.committing = undefined;
        this.committed(writes.length, held);
        this.rearm();
      },
      (error: unknown) => {
        this.committing = undefined;
        this.failed(error, held.length);
        this.rearm();
      },
    );
  }

  /** Flushes and waits until everything queued is committed and its Replies sent (a stop). */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.committing === undefined) {
        if (this.writes.length === 0 && this.held.length === 0) return;
        continue;
      }
      await this.committing;
    }
  }

  private committed(count: number, held: ReadonlyArray<() => void>): void {
    this.counters.commits++;
    this.counters.writes += count;
    for (const send of held) send();
  }

  private failed(error: unknown, dropped: number): void {
    this.counters.failures++;
    this.counters.repliesDropped += dropped;
    this.onError(error, dropped);
  }

  private rearm(): void {
    if (this.writes.length > 0 || this.held.length > 0) this.arm();
  }

  private arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.flushTask);
  }
}
