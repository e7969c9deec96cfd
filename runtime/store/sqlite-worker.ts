/**
 * The worker thread of sqlite-worker-store.ts: owns the SQLite connection (and its lock),
 * loads once at start, then commits each batch it is sent and answers when it is durable.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from './binding-store.js';
import { SqliteBindingStore, type StoreSync } from './sqlite-store.js';

interface Start {
  readonly path: string;
  readonly sync: StoreSync;
  readonly pathField: string;
}

const port = parentPort!;
const start = workerData as Start;
const failure = (error: unknown) => ({
  reason: error instanceof StoreError ? error.reason : 'io',
  message: error instanceof Error ? error.message : String(error),
});

let store: SqliteBindingStore | undefined;
try {
  store = SqliteBindingStore.open(start.path, { sync: start.sync, pathField: start.pathField });
  port.postMessage({ type: 'ready', state: store.load() });
} catch (error) {
  store?.close();
  store = undefined;
  port.postMessage({ type: 'error', ...failure(error) });
}

port.on('message', (message: { type: 'commit'; id: number; writes: [] } | { type: 'close' }) => {
  if (message.type === 'close') {
    store?.close();
    store = undefined;
    port.postMessage({ type: 'closed' });
    port.close();
    return;
  }
  try {
    if (store === undefined) throw new StoreError('io', `${start.pathField}: ${start.path} is closed`);
    store.commit(message.writes);
    port.postMessage({ type: 'committed', id: message.id });
  } catch (error) {
    port.postMessage({ type: 'failed', id: message.id, ...failure(error) });
  }
});
