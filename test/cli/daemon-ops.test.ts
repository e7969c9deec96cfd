/**
 * The role-independent part of reload and --check-config (runtime/cli/daemon-ops.ts), with a
 * stand-in role whose "configuration" is a JSON file: refused files change nothing, fields
 * that need a restart are logged, the level follows log.level unless --log-level was given,
 * and a bug in applying is reported, not thrown.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../runtime/config/config-schema.js';
import { checkConfigFile, chooseLogLevel, daemonReload, differingFields, runCheckConfig, traceIdPrefix, type ReloadTarget } from '../../runtime/cli/daemon-ops.js';
import { OperatorLog, type LogLevel } from '../../runtime/cli/operator-log.js';

interface Role {
  readonly nodes: string[];
  readonly port: number;
  readonly interfaceName?: string;
  readonly level?: LogLevel;
}

const dir = mkdtempSync(join(tmpdir(), 'mip4-daemon-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(path: string): Role {
  const role = JSON.parse(readFileSync(path, 'utf8')) as Role;
  if (!Array.isArray(role.nodes)) throw new ConfigError([{ path: 'nodes', message: 'expected a list of names' }]);
  return role;
}

function setup(initial: Role, options: { levelFromFlag?: boolean; failApply?: boolean } = {}) {
  const path = join(dir, `role-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(initial));
  const lines: Array<Record<string, unknown>> = [];
  const log = new OperatorLog({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>), level: initial.level ?? 'info' });
  let running = initial;
  const target: ReloadTarget<Role> = {
    load,
    placeholders: (role) => [['interface', role.interfaceName]],
    restartOnly: (current, next) => differingFields(current as unknown as Record<string, unknown>, next as unknown as Record<string, unknown>, ['port']),
    apply: (next) => {
      if (options.failApply) throw new Error('apply failed');
      const added = next.nodes.filter((n) => !running.nodes.includes(n));
      const removed = running.nodes.filter((n) => !next.nodes.includes(n));
      running = next;
      return { added, removed, changed: [], unchanged: next.nodes.length - added.length };
    },
    logLevel: (role) => role.level,
  };
  const reload = daemonReload(path, initial, target, log, options.levelFromFlag ?? false);
  return { path, lines, log, reload, running: () => running, write: (role: Role | string) => writeFileSync(path, typeof role === 'string' ? role : JSON.stringify(role)) };
}

describe('daemonReload', () => {
  it('applies a valid file, logs what changed and the fields that need a restart', async () => {
    const s = setup({ nodes: ['a', 'b'], port: 434 });
    s.write({ nodes: ['a', 'c'], port: 4434 });
    expect(await s.reload.reload()).toEqual({ ok: true, added: ['c'], removed: ['b'], changed: [], unchanged: 1 });
    expect(s.running().nodes).toEqual(['a', 'c']);
    expect(s.lines.map((l) => [l.level, l.event])).toEqual([
      ['warn', 'reload-restart-needed'],
      ['info', 'reloaded'],
    ]);
    expect(s.lines[0]).toMatchObject({ config: s.path, fields: ['port'] });
  });

  it('refuses an invalid file with the start\'s field messages and changes nothing; the next valid file is compared with the running one', async () => {
    const s = setup({ nodes: ['a'], port: 434 });
    s.write('{"nodes": 3, "port": 434}');
    expect(await s.reload.reload()).toEqual({ ok: false, errors: ['nodes: expected a list of names'] });
    s.write({ nodes: ['a'], port: 434, interfaceName: 'CHANGE-ME' });
    const placeholder = await s.reload.reload();
    expect(placeholder.ok).toBe(false);
    expect(s.running().nodes).toEqual(['a']);
    expect(s.lines.map((l) => [l.level, l.event])).toEqual([
      ['error', 'reload-refused'],
      ['error', 'reload-refused'],
    ]);
    s.write({ nodes: ['a', 'b'], port: 434 });
    expect(await s.reload.reload()).toMatchObject({ ok: true, added: ['b'], removed: [] });
  });

  it('takes log.level from the file unless --log-level was given', async () => {
    const fromFile = setup({ nodes: [], port: 434 });
    fromFile.write({ nodes: [], port: 434, level: 'warn' });
    await fromFile.reload.reload();
    expect(fromFile.log.level).toBe('warn');
    fromFile.write({ nodes: [], port: 434 });
    await fromFile.reload.reload();
    expect(fromFile.log.level).toBe('info');

    const fromFlag = setup({ nodes: [], port: 434, level: 'debug' }, { levelFromFlag: true });
    fromFlag.write({ nodes: [], port: 434, level: 'error' });
    await fromFlag.reload.reload();
    expect(fromFlag.log.level).toBe('debug');
  });

  it('reports a failure while applying as a refused reload instead of throwing', async () => {
    const s = setup({ nodes: [], port: 434 }, { failApply: true });
    const outcome = await s.reload.reload();
    expect(outcome.ok).toBe(false);
    expect(s.lines.at(-1)).toMatchObject({ level: 'error', event: 'reload-refused' });
  });
});

describe('--check-config and --log-level helpers', () => {
  it('checkConfigFile and runCheckConfig: ok: FILE (0), or the messages (2)', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ nodes: [], port: 1 }));
    expect(checkConfigFile(good, load, () => [])).toEqual({ ok: true, value: { nodes: [], port: 1 } });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(runCheckConfig('x', good, load, () => [], io)).toBe(0);
    expect(out).toEqual([`ok: ${good}`]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ nodes: 1 }));
    expect(runCheckConfig('x', bad, load, () => [], io)).toBe(2);
    expect(err).toEqual([`mip4 x: invalid configuration ${bad}:`, '  nodes: expected a list of names']);
  });

  it('chooseLogLevel: the flag wins, then the file, then info; a bad flag is a usage error', () => {
    expect(chooseLogLevel('debug', 'warn')).toBe('debug');
    expect(chooseLogLevel(undefined, 'warn')).toBe('warn');
    expect(chooseLogLevel(undefined, undefined)).toBe('info');
    expect(() => chooseLogLevel('loud', undefined)).toThrow(/--log-level "loud"/);
  });

  it('traceIdPrefix: the start time, base 36, so two starts a millisecond apart differ', () => {
    expect(traceIdPrefix(1_765_000_000_000)).toBe(`${(1_765_000_000_000).toString(36)}.`);
    expect(traceIdPrefix(1_765_000_000_001)).not.toBe(traceIdPrefix(1_765_000_000_000));
  });
});
