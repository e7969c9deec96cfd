/**
 * The store in memory: for tests and the simulated network, where "a restart" is a new agent
 * given the same store object. Rows are copied in and out, so nothing the agent keeps
 * aliases what is stored.
 */
import type { BindingStore, StoredBinding, StoredReplayState, StoredState, StoredVisitor, StoreWrite } from './binding-store.js';

export class MemoryBindingStore implements BindingStore {
  private readonly bindings = new Map<string, StoredBinding>();
  private readonly replay = new Map<number, StoredReplayState>();
  private readonly visitors = new Map<string, StoredVisitor>();
  /** Batches committed: tests check that a batch's writes went together. */
  commits = 0;
  private closed = false;

  load(): StoredState {
    return {
      bindings: [...this.bindings.values()].map(copy),
      replay: [...this.replay.values()].map(copy),
      visitors: [...this.visitors.values()].map(copy),
    };
  }

  commit(writes: readonly StoreWrite[]): void {
    if (this.closed) throw new Error('commit on a closed store');
    for (const write of writes) {
      switch (write.op) {
        case 'put-binding':
          this.bindings.set(bindingKey(write.binding.homeAddress, write.binding.careOfAddress), copy(write.binding));
          break;
        case 'delete-binding':
          this.bindings.delete(bindingKey(write.homeAddress, write.careOfAddress));
          break;
        case 'put-replay':
          this.replay.set(write.replay.homeAddress >>> 0, copy(write.replay));
          break;
        case 'put-visitor':
          this.visitors.set(write.visitor.key, copy(write.visitor));
          break;
        case 'delete-visitor':
          this.visitors.delete(write.key);
          break;
      }
    }
    this.commits++;
  }

  /** Closing keeps the rows: the next agent given this object restores them, like a file. */
  close(): void {
    this.closed = true;
  }

  /** Opens it again for the next agent (a file is reopened; this object is reused). */
  reopen(): this {
    this.closed = false;
    return this;
  }
}

function bindingKey(homeAddress: number, careOfAddress: number): string {
  return `${homeAddress >>> 0}/${careOfAddress >>> 0}`;
}

function copy<T>(value: T): T {
  return structuredClone(value);
}
