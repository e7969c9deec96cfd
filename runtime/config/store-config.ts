/**
 * The `store` section of the home and foreign agents' files: where bindings (visitors) are
 * kept across restarts (runtime/store/). `store: none` turns it off; `store: { path, sync }`
 * chooses the file and its sync level; without the section the daemon keeps them in
 * `$STATE_DIRECTORY/<role>-<12 hex of sha256 of the config file's real path>.db`
 * (STATE_DIRECTORY is what systemd's StateDirectory= sets; default /var/lib/mip4), so a
 * restart of the same daemon finds its bindings and daemons of two config files never
 * share a file. docs/operations.md gives the reasons.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ConfigIssue } from './config-schema.js';

export type StoreSync = 'full' | 'normal';

/** Where the daemon keeps its store, or undefined for none. */
export interface StoreSettings {
  readonly path: string;
  readonly sync: StoreSync;
  /** True when the file came from the default rule, not from store.path. */
  readonly defaulted: boolean;
}

export const DEFAULT_STATE_DIRECTORY = '/var/lib/mip4';

/** The directory of default store files: systemd's STATE_DIRECTORY (its first entry) or /var/lib/mip4. */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.STATE_DIRECTORY?.split(':')[0];
  return first !== undefined && first !== '' ? first : DEFAULT_STATE_DIRECTORY;
}

/** The default store file of a daemon of `role` started with the config file at `configPath`. */
export function defaultStorePath(role: 'ha' | 'fa', configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  let real: string;
  try {
    real = realpathSync(configPath);
  } catch {
    real = resolve(configPath);
  }
  const digest = createHash('sha256').update(real).digest('hex').slice(0, 12);
  return join(stateDirectory(env), `${role}-${digest}.db`);
}

/**
 * The `store` value as written (undefined when absent) → settings. `configPath` undefined
 * (a document not read from a file) means no default file: without store.path, no store.
 * Problems are pushed to `issues` with the field's path.
 */
export function storeSettings(
  value: unknown,
  role: 'ha' | 'fa',
  configPath: string | undefined,
  baseDir: string,
  issues: ConfigIssue[],
): StoreSettings | undefined {
  const usage = 'expected "none" or { path: FILE, sync: full|normal } (both optional), e.g. store: { path: /var/lib/mip4/ha.db }';
  if (value === 'none') return undefined;
  if (value === undefined || value === null) {
    return configPath === undefined ? undefined : { path: defaultStorePath(role, configPath), sync: 'full', defaulted: true };
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path: 'store', message: `${usage}; got ${JSON.stringify(value)}` });
    return undefined;
  }
  const section = value as Record<string, unknown>;
  let problem = false;
  for (const key of Object.keys(section)) {
    if (key !== 'path' && key !== 'sync') {
      issues.push({ path: `store.${key}`, message: `unknown field; the store section has path and sync` });
      problem = true;
    }
  }
  const path = section.path;
  if (path !== undefined && (typeof path !== 'string' || path.trim() === '')) {
    issues.push({ path: 'store.path', message: `expected a file path, e.g. /var/lib/mip4/${role}.db; got ${JSON.stringify(path)}` });
    problem = true;
  }
  const sync = (section.sync ?? 'full') as StoreSync;
  if (sync !== 'full' && sync !== 'normal') {
    issues.push({
      path: 'store.sync',
      message: `expected full (a binding survives a power loss: fsync at every commit) or normal (it survives a crash of the daemon, not of the machine); got ${JSON.stringify(sync)}`,
    });
    problem = true;
  }
  if (problem) return undefined;
  if (typeof path === 'string') return { path: resolve(baseDir, path), sync, defaulted: false };
  return configPath === undefined ? undefined : { path: defaultStorePath(role, configPath), sync, defaulted: true };
}
