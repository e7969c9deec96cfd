/**
 * The store in an SQLite file (better-sqlite3, an optional dependency): WAL mode, one
 * transaction per committed batch, and an exclusive lock held while the daemon runs, so a
 * second daemon on the same file refuses to start instead of interleaving bindings.
 *
 * `sync: 'full'` (the default) fsyncs the WAL at every commit: a binding whose Reply left
 * survives a power loss. `sync: 'normal'` leaves the fsync to checkpoints: it survives a crash
 * of the process (SIGKILL, an abort), not of the machine.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BindingStore, StoredBinding, StoredReplayState, StoredState, StoredVisitor, StoreWrite } from './binding-store.js';
import { parseStoredUdpTunnel, StoreError } from './binding-store.js';
import type { Encapsulation } from '../../io/wire/tunnel.js';
import type { Identification } from '../../io/wire/registration-types.js';

export type StoreSync = 'full' | 'normal';

/** The part of better-sqlite3's API used here (the package ships no types of its own). */
interface SqliteStatement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  iterate(...params: unknown[]): IterableIterator<unknown>;
  raw(raw?: boolean): SqliteStatement;
}
interface SqliteDatabase {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
  prepare(source: string): SqliteStatement;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}
type SqliteConstructor = new (path: string, options?: { timeout?: number; fileMustExist?: boolean }) => SqliteDatabase;

/** The layout's version: a file of another layout is refused rather than misread. */
const LAYOUT = 'mip4-store-1';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS binding (
  home INTEGER NOT NULL, coa INTEGER NOT NULL, expires_at REAL, lifetime INTEGER NOT NULL,
  id_high INTEGER NOT NULL, id_low INTEGER NOT NULL, encapsulation TEXT NOT NULL, flags INTEGER NOT NULL,
  relayed_by INTEGER, udp_tunnel TEXT, PRIMARY KEY (home, coa)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replay (
  home INTEGER PRIMARY KEY, ts_high INTEGER, ts_low INTEGER, expected_nonce INTEGER, resync_nonce INTEGER);
CREATE TABLE IF NOT EXISTS visitor (key TEXT PRIMARY KEY, expires_at REAL, entry TEXT NOT NULL) WITHOUT ROWID;
`;

const BROADCAST = 1;
const DECAPSULATED_BY_MOBILE_NODE = 2;
const REVERSE_TUNNEL = 4;

let cachedDriver: SqliteConstructor | undefined;

/** better-sqlite3, or a StoreError saying how to get it (or how to run without a store). */
export function loadSqliteDriver(pathField: string, path: string): SqliteConstructor {
  if (cachedDriver !== undefined) return cachedDriver;
  try {
    cachedDriver = createRequire(import.meta.url)('better-sqlite3') as SqliteConstructor;
    return cachedDriver;
  } catch (error) {
    throw new StoreError(
      'unavailable',
      `${pathField}: cannot open ${path}: the SQLite driver better-sqlite3 (an optional dependency) is not installed or did not build (${(error as Error).message.split('\n')[0]}); ` +
        `install it (npm_config_build_from_source=true npm install better-sqlite3; it needs g++, make, python3) or set "store: none" to run without bindings that survive a restart`,
    );
  }
}

export interface SqliteStoreOptions {
  readonly sync?: StoreSync;
  /** The config field named in errors. Default 'store.path'. */
  readonly pathField?: string;
}

export class SqliteBindingStore implements BindingStore {
  private readonly upsertBinding: SqliteStatement;
  private readonly deleteBinding: SqliteStatement;
  private readonly upsertReplay: SqliteStatement;
  private readonly upsertVisitor: SqliteStatement;
  private readonly deleteVisitor: SqliteStatement;
  private readonly commitBatch: (writes: readonly StoreWrite[]) => void;
  private closed = false;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly path: string,
    private readonly pathField: string,
  ) {
    this.upsertBinding = db.prepare(
      // An upsert, not INSERT OR REPLACE: a renewal updates its row in place instead of deleting and reinserting it.
      'INSERT INTO binding (home, coa, expires_at, lifetime, id_high, id_low, encapsulation, flags, relayed_by, udp_tunnel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (home, coa) DO UPDATE SET expires_at = excluded.expires_at, lifetime = excluded.lifetime, id_high = excluded.id_high, ' +
        'id_low = excluded.id_low, encapsulation = excluded.encapsulation, flags = excluded.flags, relayed_by = excluded.relayed_by, udp_tunnel = excluded.udp_tunnel',
    );
    this.deleteBinding = db.prepare('DELETE FROM binding WHERE home = ? AND coa = ?');
    this.upsertReplay = db.prepare(
      'INSERT INTO replay (home, ts_high, ts_low, expected_nonce, resync_nonce) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (home) DO UPDATE SET ts_high = excluded.ts_high, ts_low = excluded.ts_low, expected_nonce = excluded.expected_nonce, resync_nonce = excluded.resync_nonce',
    );
    this.upsertVisitor = db.prepare('INSERT OR REPLACE INTO visitor (key, expires_at, entry) VALUES (?, ?, ?)');
    this.deleteVisitor = db.prepare('DELETE FROM visitor WHERE key = ?');
    this.commitBatch = db.transaction((writes: readonly StoreWrite[]) => {
      for (const write of writes) this.apply(write);
    });
  }

  /**
   * Opens (or creates) the file and takes its lock. Throws a StoreError naming the config
   * field when the driver is missing, another process holds the file, or it is not a store.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteBindingStore {
    const pathField = options.pathField ?? 'store.path';
    const Database = loadSqliteDriver(pathField, path);
    let db: SqliteDatabase | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // timeout 0: a lock held by another daemon is an answer now, not after a wait.
      db = new Database(path, { timeout: 0 });
      // Exclusive before WAL: no shared-memory index, and the lock stays with this process.
      db.pragma('locking_mode = EXCLUSIVE');
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
      db.pragma(`synchronous = ${(options.sync ?? 'full').toUpperCase()}`);
      db.exec(SCHEMA);
      // A file of this layout written before RFC 3519 tunnels were stored lacks the column (additive: its rows load as IP in IP).
      const columns = db.prepare('PRAGMA table_info(binding)').all() as Array<{ name: string }>;
      if (!columns.some((c) => c.name === 'udp_tunnel')) db.exec('ALTER TABLE binding ADD COLUMN udp_tunnel TEXT');
      const layout = db.prepare("SELECT value FROM meta WHERE key = 'layout'").get() as { value: string } | undefined;
      if (layout === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('layout', ?)").run(LAYOUT);
      else if (layout.value !== LAYOUT) {
        throw new StoreError('corrupt', `${pathField}: ${path} holds a store of layout ${JSON.stringify(layout.value)}, not ${LAYOUT}; move it aside or set another ${pathField}`);
      }
      return new SqliteBindingStore(db, path, pathField);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // Closing a half-opened handle adds nothing to the first error.
      }
      throw storeError(error, pathField, path);
    }
  }

  load(): StoredState {
    try {
      const bindings: StoredBinding[] = [];
      for (const row of this.db.prepare('SELECT home, coa, expires_at, lifetime, id_high, id_low, encapsulation, flags, relayed_by, udp_tunnel FROM binding').raw().iterate()) {
        const [home, coa, expiresAt, lifetime, high, low, encapsulation, flags, relayedBy, udpText] = row as [number, number, number | null, number, number, number, Encapsulation, number, number | null, string | null];
        const udpTunnel = udpText === null ? undefined : parseStoredUdpTunnel(udpText);
        bindings.push({
          homeAddress: home >>> 0,
          careOfAddress: coa >>> 0,
          lifetime,
          expiresAt: expiresAt ?? Infinity,
          identification: { high: high >>> 0, low: low >>> 0 },
          encapsulation,
          broadcast: (flags & BROADCAST) !== 0,
          decapsulatedByMobileNode: (flags & DECAPSULATED_BY_MOBILE_NODE) !== 0,
          reverseTunnel: (flags & REVERSE_TUNNEL) !== 0,
          ...(relayedBy !== null ? { relayedBy: relayedBy >>> 0 } : {}),
          ...(udpTunnel !== undefined ? { udpTunnel } : {}),
        });
      }
      const replay: StoredReplayState[] = [];
      for (const row of this.db.prepare('SELECT home, ts_high, ts_low, expected_nonce, resync_nonce FROM replay').raw().iterate()) {
        const [home, tsHigh, tsLow, expected, resync] = row as Array<number | null>;
        replay.push({
          homeAddress: home! >>> 0,
          ...(tsHigh !== null ? { lastAcceptedTimestamp: { high: tsHigh! >>> 0, low: tsLow! >>> 0 } } : {}),
          ...(expected !== null ? { expectedNonce: expected! >>> 0 } : {}),
          ...(resync !== null ? { resyncNonce: resync! >>> 0 } : {}),
        });
      }
      const visitors: StoredVisitor[] = [];
      for (const row of this.db.prepare('SELECT key, expires_at, entry FROM visitor').raw().iterate()) {
        const [key, expiresAt, entry] = row as [string, number | null, string];
        visitors.push({ key, expiresAt: expiresAt ?? Infinity, entry: JSON.parse(entry) });
      }
      return { bindings, replay, visitors };
    } catch (error) {
      throw storeError(error, this.pathField, this.path);
    }
  }

  commit(writes: readonly StoreWrite[]): void {
    if (writes.length === 0) return;
    if (this.closed) throw new StoreError('io', `${this.pathField}: ${this.path} is closed`);
    try {
      this.commitBatch(writes);
    } catch (error) {
      throw storeError(error, this.pathField, this.path);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private apply(write: StoreWrite): void {
    switch (write.op) {
      case 'put-binding': {
        const b = write.binding;
        const flags = (b.broadcast ? BROADCAST : 0) | (b.decapsulatedByMobileNode ? DECAPSULATED_BY_MOBILE_NODE : 0) | (b.reverseTunnel ? REVERSE_TUNNEL : 0);
        this.upsertBinding.run(
          b.homeAddress >>> 0,
          b.careOfAddress >>> 0,
          Number.isFinite(b.expiresAt) ? b.expiresAt : null,
          b.lifetime,
          b.identification.high >>> 0,
          b.identification.low >>> 0,
          b.encapsulation,
          flags,
          b.relayedBy !== undefined ? b.relayedBy >>> 0 : null,
          b.udpTunnel !== undefined ? JSON.stringify(b.udpTunnel) : null,
        );
        return;
      }
      case 'delete-binding':
        this.deleteBinding.run(write.homeAddress >>> 0, write.careOfAddress >>> 0);
        return;
      case 'put-replay': {
        const r = write.replay;
        this.upsertReplay.run(
          r.homeAddress >>> 0,
          high(r.lastAcceptedTimestamp),
          low(r.lastAcceptedTimestamp),
          r.expectedNonce ?? null,
          r.resyncNonce ?? null,
        );
        return;
      }
      case 'put-visitor':
        this.upsertVisitor.run(write.visitor.key, Number.isFinite(write.visitor.expiresAt) ? write.visitor.expiresAt : null, JSON.stringify(write.visitor.entry));
        return;
      case 'delete-visitor':
        this.deleteVisitor.run(write.key);
        return;
    }
  }
}

function high(id: Identification | undefined): number | null {
  return id === undefined ? null : id.high >>> 0;
}
function low(id: Identification | undefined): number | null {
  return id === undefined ? null : id.low >>> 0;
}

/** SQLite's error as a StoreError that names the config field, the file and what to do. */
function storeError(error: unknown, pathField: string, path: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string }).code ?? '';
  const text = (error as Error).message ?? String(error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError('locked', `${pathField}: ${path} is locked by another process (another mip4 daemon using the same store?); stop it, or give this daemon its own ${pathField}`);
  }
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
    return new StoreError('corrupt', `${pathField}: ${path} is not a usable store (${text}); move the file aside (its bindings are lost; nodes re-register) or set another ${pathField}`);
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'EACCES' || code === 'EPERM') {
    return new StoreError('io', `${pathField}: cannot open ${path} for writing (${text}); make its directory writable by this user, or set another ${pathField}`);
  }
  return new StoreError('io', `${pathField}: cannot use ${path}: ${text}${code ? ` (${code})` : ''}`);
}
