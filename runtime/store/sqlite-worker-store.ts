/**
 * The SQLite store in a worker thread: the same file, layout, lock and sync levels as
 * sqlite-store.ts, but a commit's fsync (~5 ms on the bench machine) happens off the event
 * loop. The daemons use this one: with group commit (group-commit.ts) the agent keeps
 * handling Requests while the previous group is made durable.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BindingStore, StoredState, StoreWrite } from './binding-store.js';
import { StoreError } from './binding-store.js';
import type { StoreSync } from './sqlite-store.js';

type WorkerMessage =
  | { readonly type: 'ready'; readonly state: StoredState }
  | { readonly type: 'error'; readonly reason: StoreError['reason']; readonly message: string }
  | { readonly type: 'committed'; readonly id: number }
  | { readonly type: 'failed'; readonly id: number; readonly reason: StoreError['reason']; readonly message: string }
  | { readonly type: 'closed' };

const WORKER_MODULE = new URL('./sqlite-worker.js', import.meta.url);

export class SqliteWorkerStore implements BindingStore {
  private readonly waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private nextId = 0;
  private closing: Promise<void> | undefined;
  private loaded: StoredState | undefined;

  private constructor(
    private readonly worker: Worker,
    loaded: StoredState,
    readonly path: string,
  ) {
    this.loaded = loaded;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type !== 'committed' && message.type !== 'failed') return;
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.type === 'committed') waiter?.resolve();
      else waiter?.reject(new StoreError(message.reason, message.message));
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => this.failAll(new StoreError('io', `store.path: ${path}: the store's worker thread stopped`)));
  }

  /**
   * Whether the worker's module is there to start: the compiled package has it beside this
   * one; run from the TypeScript sources (a test runner, tsx) it is not, and the caller uses
   * the same store on the main thread instead.
   */
  static available(): boolean {
    return existsSync(fileURLToPath(WORKER_MODULE));
  }

  /** Opens the file in a new worker thread and loads it; rejects with the StoreError of sqlite-store.ts. */
  static async open(path: string, options: { readonly sync?: StoreSync; readonly pathField?: string } = {}): Promise<SqliteWorkerStore> {
    const worker = new Worker(WORKER_MODULE, {
      workerData: { path, sync: options.sync ?? 'full', pathField: options.pathField ?? 'store.path' },
    });
    const first = await new Promise<WorkerMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', (error) => reject(new StoreError('io', `store.path: ${path}: the store's worker thread failed to start: ${error.message}`)));
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      throw first.type === 'error' ? new StoreError(first.reason, first.message) : new StoreError('io', `store.path: ${path}: unexpected answer from the store's worker`);
    }
    return new SqliteWorkerStore(worker, first.state, path);
  }

  /** What the file held at open (handed over once: the agent restores it, then it is garbage). */
  load(): StoredState {
    const state = this.loaded ?? { bindings: [], replay: [], visitors: [] };
    this.loaded = undefined;
    return state;
  }

  commit(writes: readonly StoreWrite[]): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new StoreError('io', `store.path: ${this.path} is closed`));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'commit', id, writes });
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const done = () => {
        void this.worker.terminate().then(() => resolve());
      };
      this.worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'closed') done();
      });
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ type: 'close' });
    });
    return this.closing;
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
