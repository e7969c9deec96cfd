/**
 * Group commit: a binding is durable before its Reply leaves (issue 14), but one fsync per
 * Reply would cap the agent at the disk's sync rate. Writes and Replies of everything handled
 * in one turn of the event loop (a recvmmsg batch, or every datagram node:dgram delivered in
 * that poll phase) wait together; at the turn's end one transaction commits the writes, then
 * the Replies go. A Reply with nothing waiting to commit before it (a denial, a discard's
 * absence of one) goes at once.
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
  private readonly flushTask = () => this.flush();

  constructor(
    private readonly store: BindingStore,
    /** A commit failed: its Replies are not sent (they would promise what a restart forgets). */
    private readonly onError: (error: unknown, droppedReplies: number) => void,
    private readonly schedule: (task: () => void) => void = (task) => setImmediate(task),
  ) {}

  /** Queues a write for the turn's commit. */
  write(write: StoreWrite): void {
    this.writes.push(write);
    this.arm();
  }

  /** Runs `send` after the writes queued so far are committed; at once when none wait. */
  whenDurable(send: () => void): void {
    if (this.writes.length === 0 && this.held.length === 0) {
      send();
      return;
    }
    this.held.push(send);
    this.arm();
  }

  /** Commits what waits, then releases the held Replies in order. Also called at stop. */
  flush(): void {
    this.scheduled = false;
    const writes = this.writes;
    const held = this.held;
    if (writes.length === 0 && held.length === 0) return;
    this.writes = [];
    this.held = [];
    if (writes.length > 0) {
      try {
        this.store.commit(writes);
        this.counters.commits++;
        this.counters.writes += writes.length;
      } catch (error) {
        this.counters.failures++;
        this.counters.repliesDropped += held.length;
        this.onError(error, held.length);
        return;
      }
    }
    for (const send of held) send();
  }

  private arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.flushTask);
  }
}
