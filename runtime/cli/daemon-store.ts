/**
 * The daemons' side of the store (runtime/store/): open the configured file before anything
 * binds (a second daemon on the same file, a missing driver or a corrupt file stops the start
 * with a message naming store.path), and the log lines of what it restored and of failed commits.
 */
import type { StoreSettings } from '../config/store-config.js';
import { StoreError, type BindingStore } from '../store/binding-store.js';
import { SqliteWorkerStore } from '../store/sqlite-worker-store.js';
import { SqliteBindingStore } from '../store/sqlite-store.js';
import type { Io } from './args.js';

/**
 * The store to run with, undefined for none, or 'failed' after printing why. A store.path
 * the operator wrote must open. The default file is best effort where it cannot be made (no
 * driver, a directory this user may not write: e.g. an ordinary user trying the example):
 * the daemon runs without it and logs `store-unavailable` with the fix. A default file that
 * is locked or corrupt still stops the start: bindings are there, or another daemon holds them.
 */
export async function openStoreOrReport(
  command: 'ha' | 'fa',
  settings: StoreSettings | undefined,
  io: Io,
  log: (event: object) => void,
): Promise<BindingStore | undefined | 'failed'> {
  if (settings === undefined) return undefined;
  const started = performance.now();
  try {
    // In a worker thread: a commit's fsync must not stop the agent (runtime/store/group-commit.ts).
    // From the TypeScript sources (no compiled worker module) the same store runs on this thread.
    const store = SqliteWorkerStore.available()
      ? await SqliteWorkerStore.open(settings.path, { sync: settings.sync })
      : SqliteBindingStore.open(settings.path, { sync: settings.sync });
    openMilliseconds.set(store, Math.round(performance.now() - started));
    return store;
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    if (settings.defaulted && (error.reason === 'unavailable' || error.reason === 'io')) {
      log({
        event: 'store-unavailable',
        level: 'warn',
        path: settings.path,
        message: error.message,
        fix: 'bindings will not survive a restart: set store.path to a file this user can write, give it /var/lib/mip4 (or STATE_DIRECTORY), or set "store: none" to silence this',
      });
      return undefined;
    }
    const hint = settings.defaulted ? ' (store.path is not set: this is the default file, docs/operations.md)' : '';
    io.err(`mip4 ${command}: ${error.message}${hint}`);
    return 'failed';
  }
}

/** How long opening took (the worker reads every row then): reported in `store-restored`. */
const openMilliseconds = new WeakMap<BindingStore, number>();

/** The `store-restored` log line: `openMs` reading the file, `ms` rebuilding the agent from it. */
export function storeRestoredEvent(
  store: BindingStore,
  settings: StoreSettings,
  restored: { readonly bindings: number; readonly expiredDropped: number; readonly unknownNodeDropped: number; readonly unknownHomeAddresses: readonly string[]; readonly ms: number },
  what: 'bindings' | 'visitors',
): object {
  return {
    event: 'store-restored',
    path: settings.path,
    sync: settings.sync,
    [what]: restored.bindings,
    expiredDropped: restored.expiredDropped,
    // Rows of nodes the config no longer has: dropped, named (at most 20) so the operator sees whom.
    unknownDropped: restored.unknownNodeDropped,
    ...(restored.unknownNodeDropped > 0 ? { unknownHomeAddresses: restored.unknownHomeAddresses.slice(0, 20) } : {}),
    openMs: openMilliseconds.get(store),
    ms: restored.ms,
  };
}

/** The `store-error` log line: a commit failed, its Replies were not sent (the nodes retransmit). */
export function storeErrorEvent(error: unknown, droppedReplies: number): object {
  return { event: 'store-error', message: (error as Error).message ?? String(error), droppedReplies };
}
