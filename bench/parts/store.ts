/**
 * Part 6: what the store costs (issue 14, item 3). In the same run, the same `mip4 ha` with
 * `store: none`, with the SQLite store at `sync: normal` and at `sync: full` (the default),
 * each loaded by the C load generator in closed loops (256 in flight, renewals: each Reply
 * waits for its binding's commit); the order alternates per repetition. Then the restart: a
 * store file holding N bindings (1,000,000 in the full run) and the daemon's start on it, its
 * `store-restored` time (load the rows and rebuild the agents: actors, forwarding table,
 * ARP) and its time to `listening` against the same start with `store: none`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Report } from '../harness/report.js';
import { load, loadArgs, LOADGEN, startServer, writeHomeAgentConfig } from './registration.js';
import { SqliteBindingStore } from '../../runtime/store/sqlite-store.js';
import type { StoreWrite } from '../../runtime/store/binding-store.js';

export interface StoreOptions {
  readonly nodes: number;
  readonly seconds: number;
  readonly repetitions: number;
  /** Bindings in the store file of the restart measurement. */
  readonly restartBindings: number;
  readonly workDir: string;
}

type Variant = 'none' | 'normal' | 'full';
const VARIANTS: readonly Variant[] = ['none', 'normal', 'full'];
const HOME_BASE = 0x0a000002;

export async function storePart(options: StoreOptions): Promise<Report> {
  const report = new Report('6 store');
  if (!existsSync(LOADGEN)) {
    report.missing('replies/s with the store', 'reg/s', `the load generator ${LOADGEN} is not built (npm ci builds it with node-gyp)`);
    return report;
  }
  try {
    SqliteBindingStore.open(join(options.workDir, 'probe.db')).close();
  } catch (error) {
    report.missing('replies/s with the store', 'reg/s', (error as Error).message);
    return report;
  }
  const servers = new Map<Variant, { server: Awaited<ReturnType<typeof startServer>>['server']; port: number }>();
  const rates = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  try {
    for (const variant of VARIANTS) {
      const configPath = join(options.workDir, `ha-store-${variant}.json`);
      writeHomeAgentConfig(configPath, options.nodes, variant === 'none' ? 'none' : { path: join(options.workDir, `bench-${variant}.db`), sync: variant });
      const { server, port } = await startServer('mip4', { nodes: options.nodes, workDir: ownDirectory(options.workDir, variant) }, configPath);
      servers.set(variant, { server, port });
      // Every node registered once: the loads renew existing bindings (a row rewritten each).
      await load(server, loadArgs(port, options.nodes, { count: options.nodes }, 0));
    }
    for (let r = 0; r < options.repetitions; r++) {
      const order = r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const { server, port } = servers.get(variant)!;
        const result = await load(server, loadArgs(port, options.nodes, { inFlight: 256 }, options.seconds));
        rates.get(variant)!.push(result.repliesPerSecond);
      }
    }
  } finally {
    for (const { server } of servers.values()) await server.stop();
  }
  const without = rates.get('none')!;
  report.add({ name: 'replies/s, store: none', unit: 'reg/s', values: without });
  report.add({
    name: 'replies/s, sync: full (default), vs none',
    unit: 'reg/s',
    values: rates.get('full')!,
    baseline: { name: 'store: none', values: without },
    bar: { text: '≥ 0.8 of store: none', test: (ratio) => ratio >= 0.8, onRatio: true },
  });
  report.add({
    name: 'replies/s, sync: normal, vs none',
    unit: 'reg/s',
    values: rates.get('normal')!,
    baseline: { name: 'store: none', values: without },
    bar: { text: '≥ 0.8 of store: none', test: (ratio) => ratio >= 0.8, onRatio: true },
  });

  // The restart: a store holding N bindings (and N replay states), as a daemon would leave it.
  const n = options.restartBindings;
  const storePath = join(options.workDir, 'restart.db');
  const store = SqliteBindingStore.open(storePath);
  const writes: StoreWrite[] = [];
  const expiresAt = Date.now() + 3_000_000;
  for (let i = 0; i < n; i++) {
    const homeAddress = (HOME_BASE + i) >>> 0;
    writes.push({
      op: 'put-binding',
      binding: {
        homeAddress,
        careOfAddress: 0xcb007100 + (i % 200),
        lifetime: 3600,
        expiresAt,
        identification: { high: 0xe9000000, low: i },
        encapsulation: 'ip-in-ip',
        broadcast: false,
        decapsulatedByMobileNode: false,
        reverseTunnel: false,
      },
    });
    writes.push({ op: 'put-replay', replay: { homeAddress, lastAcceptedTimestamp: { high: 0xe9000000, low: i } } });
  }
  store.commit(writes);
  store.close();
  writes.length = 0;
  const restoreMs: number[] = [];
  const startWith: number[] = [];
  const startWithout: number[] = [];
  const configWith = join(options.workDir, 'ha-restart.json');
  const configWithout = join(options.workDir, 'ha-restart-none.json');
  writeHomeAgentConfig(configWith, n, { path: storePath, sync: 'full' });
  writeHomeAgentConfig(configWithout, n, 'none');
  for (let r = 0; r < 3; r++) {
    for (const withStore of r % 2 === 0 ? [true, false] : [false, true]) {
      // A directory (and so a log file) per start: a line of an earlier start must not be read as this one's.
      const { server, startSeconds } = await startServer('mip4', { nodes: n, workDir: ownDirectory(options.workDir, `restart-${r}-${withStore ? 'store' : 'none'}`) }, withStore ? configWith : configWithout);
      try {
        if (withStore) {
          const restored = await server.waitForEvent('store-restored', 10_000);
          if (restored.bindings !== n) throw new Error(`restored ${String(restored.bindings)} bindings of ${n}`);
          restoreMs.push(Number(restored.openMs) + Number(restored.ms));
          startWith.push(startSeconds);
        } else startWithout.push(startSeconds);
      } finally {
        await server.stop();
      }
    }
  }
  report.add({ name: `restore ${n.toLocaleString('en')} bindings (read the file + rebuild the agent)`, unit: 's', values: restoreMs.map((ms) => ms / 1000) });
  report.add({
    name: `start to listening with ${n.toLocaleString('en')} stored bindings`,
    unit: 's',
    values: startWith,
    baseline: { name: 'same config, store: none', values: startWithout },
  });
  report.raw.store = { rates: Object.fromEntries(rates), restoreMs, startWith, startWithout, nodes: options.nodes, restartBindings: n };
  return report;
}

function ownDirectory(workDir: string, name: string): string {
  const directory = join(workDir, name);
  mkdirSync(directory, { recursive: true });
  return directory;
}
