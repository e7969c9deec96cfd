/**
 * The store contract, run against both implementations: what is committed is loaded back
 * exactly, a batch applies in order, deletes remove, and (SQLite) the file survives a reopen,
 * refuses a second opener, and a torn or foreign file is a StoreError naming store.path.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStoredUdpTunnel, StoreError, type StoredBinding, type StoredState, type StoreWrite } from '../../runtime/store/binding-store.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import { SqliteBindingStore } from '../../runtime/store/sqlite-store.js';
import { parseIpv4 } from '../../io/wire/bytes.js';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from '../support/build.js';

const dir = mkdtempSync(join(tmpdir(), 'mip4-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `store-${files++}.db`);

function binding(home: string, coa: string, extra: Partial<StoredBinding> = {}): StoredBinding {
  return {
    homeAddress: parseIpv4(home)!,
    careOfAddress: parseIpv4(coa)!,
    lifetime: 600,
    expiresAt: 1_800_000_000_123,
    identification: { high: 0xfedcba98, low: 0x80000001 },
    encapsulation: 'gre',
    broadcast: true,
    decapsulatedByMobileNode: false,
    reverseTunnel: true,
    ...extra,
  };
}

/** The two stores that answer at once (the worker-thread store has its own test below). */
type ImmediateStore = { load(): StoredState; commit(writes: readonly StoreWrite[]): void; close(): void };

interface Implementation {
  readonly name: string;
  open(): ImmediateStore;
  /** The same store after a restart (the file reopened, or the memory object reused). */
  reopen(store: ImmediateStore): ImmediateStore;
}

const implementations: Implementation[] = [
  { name: 'memory', open: () => new MemoryBindingStore(), reopen: (store) => (store as MemoryBindingStore).reopen() },
  {
    name: 'sqlite',
    open: () => SqliteBindingStore.open(freshPath()),
    reopen: (store) => SqliteBindingStore.open((store as SqliteBindingStore).path),
  },
];

describe.each(implementations)('binding store contract: $name', (impl) => {
  it('an empty store loads nothing', () => {
    const store = impl.open();
    expect(store.load()).toEqual({ bindings: [], replay: [], visitors: [] });
    store.close();
  });

  it('loads back exactly what was committed, after a close and reopen', () => {
    const store = impl.open();
    const relayed = binding('198.51.100.10', '203.0.113.1', { relayedBy: parseIpv4('203.0.113.2')!, broadcast: false, decapsulatedByMobileNode: true, reverseTunnel: false, encapsulation: 'minimal' });
    const infinite = binding('198.51.100.11', '203.0.113.5', { lifetime: 0xffff, expiresAt: Infinity, encapsulation: 'ip-in-ip' });
    store.commit([
      { op: 'put-binding', binding: relayed },
      { op: 'put-binding', binding: infinite },
      { op: 'put-replay', replay: { homeAddress: parseIpv4('198.51.100.10')!, lastAcceptedTimestamp: { high: 0xe9ffffff, low: 7 } } },
      { op: 'put-replay', replay: { homeAddress: parseIpv4('198.51.100.11')!, expectedNonce: 0xffffffff, resyncNonce: 42 } },
      { op: 'put-visitor', visitor: { key: '198.51.100.10|mn@example.org', expiresAt: 1_800_000_000_000, entry: { careOf: 'x', n: [1, 2] } } },
    ]);
    store.close();
    const again = impl.reopen(store);
    const loaded = again.load();
    const byHome = (a: StoredBinding, b: StoredBinding) => a.homeAddress - b.homeAddress;
    expect([...loaded.bindings].sort(byHome)).toEqual([relayed, infinite].sort(byHome));
    expect(loaded.replay).toHaveLength(2);
    expect(loaded.replay).toContainEqual({ homeAddress: parseIpv4('198.51.100.10')!, lastAcceptedTimestamp: { high: 0xe9ffffff, low: 7 } });
    expect(loaded.replay).toContainEqual({ homeAddress: parseIpv4('198.51.100.11')!, expectedNonce: 0xffffffff, resyncNonce: 42 });
    expect(loaded.visitors).toEqual([{ key: '198.51.100.10|mn@example.org', expiresAt: 1_800_000_000_000, entry: { careOf: 'x', n: [1, 2] } }]);
    again.close();
  });

  it('applies a batch in order: a put replaces, a delete removes, a later put of the same key wins', () => {
    const store = impl.open();
    const home = parseIpv4('198.51.100.20')!;
    const first = binding('198.51.100.20', '203.0.113.1', { lifetime: 100 });
    const renewed = binding('198.51.100.20', '203.0.113.1', { lifetime: 200 });
    const moved = binding('198.51.100.20', '203.0.113.9');
    const writes: StoreWrite[] = [
      { op: 'put-binding', binding: first },
      { op: 'put-binding', binding: renewed },
      { op: 'put-binding', binding: moved },
      { op: 'delete-binding', homeAddress: home, careOfAddress: moved.careOfAddress },
      { op: 'put-visitor', visitor: { key: 'v', expiresAt: 1, entry: 1 } },
      { op: 'delete-visitor', key: 'v' },
    ];
    store.commit(writes);
    expect(store.load().bindings).toEqual([renewed]);
    expect(store.load().visitors).toEqual([]);
    store.commit([{ op: 'delete-binding', homeAddress: home, careOfAddress: first.careOfAddress }]);
    expect(store.load().bindings).toEqual([]);
    store.close();
  });

  it('replaces a node\'s replay state as a whole (a field the new state lacks is gone)', () => {
    const store = impl.open();
    const homeAddress = parseIpv4('198.51.100.30')!;
    store.commit([{ op: 'put-replay', replay: { homeAddress, expectedNonce: 5, resyncNonce: 6 } }]);
    store.commit([{ op: 'put-replay', replay: { homeAddress, lastAcceptedTimestamp: { high: 1, low: 2 } } }]);
    expect(store.load().replay).toEqual([{ homeAddress, lastAcceptedTimestamp: { high: 1, low: 2 } }]);
    store.close();
  });
});

describe.each(implementations)('binding store, RFC 3519 UDP tunnel of a binding: $name', (impl) => {
  it('keeps a binding\'s UDP tunnel (translated address and port, encapsulation, keepalive, F) across a reopen, and a row without one stays without', () => {
    const store = impl.open();
    const udpTunnel = { address: parseIpv4('203.0.113.7')!, port: 40001, encapsulation: 'gre' as const, keepaliveInterval: 30, forced: true, natDetected: false };
    const withUdp = binding('192.0.2.10', '10.0.0.5', { udpTunnel });
    const without = binding('192.0.2.11', '192.0.2.200');
    store.commit([{ op: 'put-binding', binding: withUdp }, { op: 'put-binding', binding: without }]);
    store.close();
    const again = impl.reopen(store);
    const loaded = [...again.load().bindings].sort((a, b) => a.homeAddress - b.homeAddress);
    expect(loaded).toEqual([withUdp, without]);
    expect('udpTunnel' in loaded[1]!).toBe(false);
    // A renewal without a UDP tunnel clears it.
    again.commit([{ op: 'put-binding', binding: binding('192.0.2.10', '10.0.0.5') }]);
    expect(again.load().bindings.find((b) => b.careOfAddress === withUdp.careOfAddress)!.udpTunnel).toBeUndefined();
    again.close();
  });
});

describe('stored UDP tunnel text', () => {
  it('reads back what it wrote and refuses a damaged one (the binding then tunnels IP in IP)', () => {
    const value = { address: 0xcb007107, port: 40001, encapsulation: 'ip-in-ip', keepaliveInterval: 110, forced: false, natDetected: true };
    expect(parseStoredUdpTunnel(JSON.stringify(value))).toEqual(value);
    expect(parseStoredUdpTunnel('{')).toBeUndefined();
    expect(parseStoredUdpTunnel(JSON.stringify({ ...value, port: 70000 }))).toBeUndefined();
    expect(parseStoredUdpTunnel(JSON.stringify({ ...value, encapsulation: 'udp' }))).toBeUndefined();
    expect(parseStoredUdpTunnel(JSON.stringify({ ...value, forced: 1 }))).toBeUndefined();
  });
});

describe('SQLite store file', () => {
  it('is in WAL mode with synchronous FULL by default and NORMAL when asked', () => {
    const pragmas = (sync: 'full' | 'normal' | undefined) => {
      const path = freshPath();
      const store = SqliteBindingStore.open(path, sync === undefined ? {} : { sync });
      const db = (store as unknown as { db: { pragma(s: string, o: { simple: boolean }): unknown } }).db;
      const result = { journal: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) };
      store.close();
      return result;
    };
    // SQLite's synchronous levels: 1 NORMAL, 2 FULL.
    expect(pragmas(undefined)).toEqual({ journal: 'wal', synchronous: 2 });
    expect(pragmas('full')).toEqual({ journal: 'wal', synchronous: 2 });
    expect(pragmas('normal')).toEqual({ journal: 'wal', synchronous: 1 });
  });

  it('a second process opening the same file is refused with a message naming store.path', () => {
    const path = freshPath();
    const store = SqliteBindingStore.open(path);
    ensureBuilt();
    const moduleUrl = pathToFileURL(join(ROOT, 'dist', 'runtime', 'store', 'sqlite-store.js')).href;
    // Another process: SQLite's locks are per process (POSIX advisory locks).
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import(${JSON.stringify(moduleUrl)}).then((m) => { try { m.SqliteBindingStore.open(${JSON.stringify(path)}); console.log('opened'); } catch (e) { console.log(e.name + ': ' + e.reason + ': ' + e.message); } });`,
      ],
      { encoding: 'utf8', timeout: 15_000 },
    );
    store.close();
    expect(child.stderr).toBe('');
    expect(child.stdout).toContain('StoreError: locked: store.path: ');
    expect(child.stdout).toContain(`${path} is locked by another process`);
  });

  it('a file that is not an SQLite database is a StoreError (corrupt) naming store.path and the fix, not a crash', () => {
    const path = freshPath();
    writeFileSync(path, 'homeAgent:\n  address: 198.51.100.1\n'.repeat(100));
    expect(() => SqliteBindingStore.open(path)).toThrow(StoreError);
    try {
      SqliteBindingStore.open(path);
    } catch (error) {
      expect((error as StoreError).reason).toBe('corrupt');
      expect((error as Error).message).toMatch(/^store\.path: .* is not a usable store .*move the file aside/);
    }
  });

  it('a torn file (cut short, pages lost) is a StoreError, not a crash', () => {
    const path = freshPath();
    const store = SqliteBindingStore.open(path);
    const writes: StoreWrite[] = [];
    for (let i = 0; i < 5000; i++) writes.push({ op: 'put-binding', binding: binding('198.51.100.1', '203.0.113.1', { homeAddress: 0xc6336400 + i }) });
    store.commit(writes);
    store.close(); // checkpoints the WAL into the file
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(16384);
    truncateSync(path, Math.floor(size / 2));
    let thrown: unknown;
    try {
      const torn = SqliteBindingStore.open(path);
      try {
        torn.load();
      } finally {
        torn.close();
      }
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect((thrown as StoreError).reason).toBe('corrupt');
    expect((thrown as Error).message).toContain('store.path: ');
  });

  it('a file of another layout is refused rather than misread', () => {
    const path = freshPath();
    SqliteBindingStore.open(path).close();
    const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => { prepare(sql: string): { run(): unknown }; close(): void };
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = 'mip4-store-0' WHERE key = 'layout'").run();
    db.close();
    expect(() => SqliteBindingStore.open(path)).toThrow(/store\.path: .* holds a store of layout "mip4-store-0"/);
  });

  it('a file written before UDP tunnels were stored (no udp_tunnel column) loads, gains the column, and keeps new UDP tunnels', () => {
    const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => { exec(sql: string): void; close(): void };
    const path = freshPath();
    const old = new Database(path);
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO meta VALUES ('layout', 'mip4-store-1');
      CREATE TABLE binding (home INTEGER NOT NULL, coa INTEGER NOT NULL, expires_at REAL, lifetime INTEGER NOT NULL,
        id_high INTEGER NOT NULL, id_low INTEGER NOT NULL, encapsulation TEXT NOT NULL, flags INTEGER NOT NULL,
        relayed_by INTEGER, PRIMARY KEY (home, coa)) WITHOUT ROWID;
      INSERT INTO binding VALUES (3221225994, 167772165, NULL, 600, 1, 2, 'ip-in-ip', 0, NULL);`);
    old.close();
    const store = SqliteBindingStore.open(path);
    const [row] = store.load().bindings;
    expect(row).toMatchObject({ homeAddress: parseIpv4('192.0.2.10'), careOfAddress: parseIpv4('10.0.0.5'), encapsulation: 'ip-in-ip' });
    expect(row!.udpTunnel).toBeUndefined();
    const udpTunnel = { address: parseIpv4('203.0.113.7')!, port: 40001, encapsulation: 'ip-in-ip' as const, keepaliveInterval: 110, forced: false, natDetected: true };
    store.commit([{ op: 'put-binding', binding: { ...row!, udpTunnel } }]);
    store.close();
    const reopened = SqliteBindingStore.open(path);
    expect(reopened.load().bindings[0]!.udpTunnel).toEqual(udpTunnel);
    reopened.close();
  });

  it('creates the directory of store.path', () => {
    const path = join(dir, 'nested', 'deeper', 'ha.db');
    SqliteBindingStore.open(path).close();
    expect(readFileSync(path).subarray(0, 15).toString()).toBe('SQLite format 3');
  });
});

describe('SQLite store in a worker thread (what the daemons use)', () => {
  const load = async () => {
    ensureBuilt();
    return (await import(pathToFileURL(join(ROOT, 'dist', 'runtime', 'store', 'sqlite-worker-store.js')).href)) as typeof import('../../runtime/store/sqlite-worker-store.js');
  };

  it('commits off the event loop, loads back after a reopen, and refuses a second opener of the file', async () => {
    const { SqliteWorkerStore } = await load();
    const path = freshPath();
    const store = await SqliteWorkerStore.open(path, { sync: 'full' });
    expect(store.load()).toEqual({ bindings: [], replay: [], visitors: [] });
    const b = binding('198.51.100.40', '203.0.113.4', { relayedBy: parseIpv4('203.0.113.9')! });
    await Promise.all([store.commit([{ op: 'put-binding', binding: b }]), store.commit([{ op: 'put-replay', replay: { homeAddress: b.homeAddress, expectedNonce: 9 } }])]);
    await expect(SqliteWorkerStore.open(path)).rejects.toThrow(/^store\.path: .* is locked by another process/);
    await store.close();
    const again = await SqliteWorkerStore.open(path);
    expect(again.load()).toEqual({ bindings: [b], replay: [{ homeAddress: b.homeAddress, expectedNonce: 9 }], visitors: [] });
    await again.close();
    await expect(again.commit([])).rejects.toThrow(/is closed/);
  });

  it('a file that is not a store is refused with the StoreError of the file store', async () => {
    const { SqliteWorkerStore } = await load();
    const path = freshPath();
    writeFileSync(path, 'x'.repeat(8192));
    await expect(SqliteWorkerStore.open(path)).rejects.toMatchObject({ name: 'StoreError', reason: 'corrupt' });
  });
});
