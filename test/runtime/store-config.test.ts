/**
 * The `store` section (runtime/config/store-config.ts) and how a daemon opens it
 * (runtime/cli/daemon-store.ts): defaults, errors naming the field, and the default file's
 * fallback when it cannot be made.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultStorePath, stateDirectory, storeSettings } from '../../runtime/config/store-config.js';
import type { ConfigIssue } from '../../runtime/config/config-schema.js';
import { homeAgentConfigFromDocument, loadHomeAgentConfig } from '../../runtime/config/ha-config.js';
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

const dir = mkdtempSync(join(tmpdir(), 'mip4-store-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings = (value: unknown, configPath: string | undefined = '/etc/mip4/ha.yaml') => {
  const issues: ConfigIssue[] = [];
  const result = storeSettings(value, 'ha', configPath, '/etc/mip4', issues);
  return { result, issues };
};

describe('store section', () => {
  it('defaults to <STATE_DIRECTORY or /var/lib/mip4>/<role>-<12 hex of sha256 of the real config path>.db, sync full', () => {
    const digest = createHash('sha256').update('/nonexistent/ha.yaml').digest('hex').slice(0, 12);
    expect(defaultStorePath('ha', '/nonexistent/ha.yaml', {})).toBe(`/var/lib/mip4/ha-${digest}.db`);
    expect(defaultStorePath('fa', '/nonexistent/ha.yaml', { STATE_DIRECTORY: '/run/state:/other' })).toBe(`/run/state/fa-${digest}.db`);
    expect(stateDirectory({ STATE_DIRECTORY: '' })).toBe('/var/lib/mip4');
    expect(settings(undefined).result).toMatchObject({ sync: 'full', defaulted: true });
  });

  it('the same file reached through a symbolic link names the same store', () => {
    const config = join(dir, 'ha.yaml');
    writePrivateFile(config, 'x');
    symlinkSync(config, join(dir, 'link.yaml'));
    expect(defaultStorePath('ha', join(dir, 'link.yaml'))).toBe(defaultStorePath('ha', config));
  });

  it('none turns it off; a path is resolved against the config file; sync normal is kept', () => {
    expect(settings('none').result).toBeUndefined();
    expect(settings({ path: 'state/ha.db', sync: 'normal' }).result).toEqual({ path: '/etc/mip4/state/ha.db', sync: 'normal', defaulted: false });
    // A document not read from a file has no default file.
    expect(storeSettings(undefined, 'ha', undefined, '.', [])).toBeUndefined();
  });

  it('a wrong value names the field and the choices', () => {
    expect(settings('off').issues).toEqual([{ path: 'store', message: expect.stringMatching(/^expected "none" or \{ path: FILE, sync: full\|normal \}/) }]);
    expect(settings({ sync: 'fast' }).issues).toEqual([{ path: 'store.sync', message: expect.stringMatching(/^expected full \(a binding survives a power loss.*normal.*; got "fast"$/) }]);
    expect(settings({ path: '' }).issues[0]!.path).toBe('store.path');
    expect(settings({ file: 'x' }).issues[0]!.path).toBe('store.file');
  });

  it('the home agent config carries it, and refuses a bad one with the field named', () => {
    const document = { homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24' }, mobileNodes: [] };
    expect(homeAgentConfigFromDocument({ ...document, store: { path: '/tmp/x.db' } }).store).toEqual({ path: '/tmp/x.db', sync: 'full', defaulted: false });
    expect(() => homeAgentConfigFromDocument({ ...document, store: { sync: 'sometimes' } })).toThrow(/store\.sync: expected full/);
    const path = join(dir, 'ha-doc.yaml');
    writePrivateFile(path, JSON.stringify(document));
    expect(loadHomeAgentConfig(path).store).toEqual({ path: defaultStorePath('ha', path), sync: 'full', defaulted: true });
  });
});

describe('opening the store in a daemon', () => {
  // From dist/: the store's worker thread runs compiled JavaScript.
  let openStoreOrReport: typeof import('../../runtime/cli/daemon-store.js').openStoreOrReport;
  beforeAll(async () => {
    ensureBuilt();
    ({ openStoreOrReport } = (await import(pathToFileURL(join(ROOT, 'dist', 'runtime', 'cli', 'daemon-store.js')).href)) as typeof import('../../runtime/cli/daemon-store.js'));
  }, 180_000);
  const io = () => {
    const err: string[] = [];
    return { io: { out: () => {}, err: (line: string) => err.push(line) }, err };
  };

  it('a default file that cannot be made: runs without a store and logs store-unavailable with the fix', async () => {
    const { io: daemonIo, err } = io();
    const logged: object[] = [];
    const store = await openStoreOrReport('ha', { path: '/dev/null/ha.db', sync: 'full', defaulted: true }, daemonIo, (e) => logged.push(e));
    expect(store).toBeUndefined();
    expect(err).toEqual([]);
    expect(logged).toEqual([expect.objectContaining({ event: 'store-unavailable', level: 'warn', path: '/dev/null/ha.db', fix: expect.stringContaining('store: none') })]);
  });

  it('a store.path the operator wrote that cannot be made stops the start, naming store.path', async () => {
    const { io: daemonIo, err } = io();
    expect(await openStoreOrReport('ha', { path: '/dev/null/ha.db', sync: 'full', defaulted: false }, daemonIo, () => {})).toBe('failed');
    expect(err).toEqual([expect.stringMatching(/^mip4 ha: store\.path: cannot use \/dev\/null\/ha\.db: /)]);
  });

  it('opens a writable file', async () => {
    const { io: daemonIo } = io();
    const store = await openStoreOrReport('fa', { path: join(dir, 'fa.db'), sync: 'normal', defaulted: false }, daemonIo, () => {});
    expect(store).toBeTypeOf('object');
    await (store as { close(): Promise<void> }).close();
  });
});
