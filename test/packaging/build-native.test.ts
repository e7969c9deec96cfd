/**
 * scripts/build-native.mjs, the package's install script: it builds the native IO helper when
 * the machine can, and otherwise lets an installed package install (one line, exit 0) while a
 * clone's `npm ci` or MIP4_NATIVE_REQUIRED=1 fails. Run on a copy of the package's native
 * sources in a scratch directory, with what is missing simulated through the environment.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../support/build.js';
import { missingTools } from '../support/tools.js';

let pkg: string;
let elsewhere: string;

/** npm's own node-gyp, as npm hands it to install scripts (npm_config_node_gyp). */
const nodeGyp = join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
/** Node's headers beside this Node, where the script looks by default. */
const nodedir = dirname(dirname(process.execPath));

beforeEach(() => {
  pkg = mkdtempSync(join(tmpdir(), 'mip4-build-native-'));
  elsewhere = mkdtempSync(join(tmpdir(), 'mip4-build-native-cwd-'));
  for (const path of ['package.json', 'binding.gyp', 'native', 'scripts/build-native.mjs']) cpSync(join(ROOT, path), join(pkg, path), { recursive: true });
});
afterEach(() => {
  rmSync(pkg, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

/** Runs the script as npm would, asynchronously (a build blocks for seconds). */
function install(env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'INIT_CWD' && k !== 'MIP4_NATIVE_REQUIRED'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], {
      cwd: pkg,
      env: { ...base, INIT_CWD: elsewhere, npm_config_node_gyp: nodeGyp, ...env },
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const addon = () => join(pkg, 'build', 'Release', 'mip4_io.node');

describe('scripts/build-native.mjs (npm install)', { timeout: 120_000 }, () => {
  it('without Node headers an installed package still installs: one line, exit 0, nothing downloaded', async () => {
    const run = await install({ npm_config_nodedir: join(elsewhere, 'no-node') });
    expect(run.status).toBe(0);
    expect(run.stderr.trim().split('\n')).toEqual([
      `mip4: the native IO helper was not built (no Node headers in ${join(elsewhere, 'no-node', 'include', 'node')}); demo, decode, chart and the library work without it, the ha/fa/mn daemons need it: install g++, make, python3 and Node headers, then \`npm rebuild mip4\` (-g for a global install)`,
    ]);
    expect(existsSync(join(pkg, 'build'))).toBe(false);
  });

  it('with MIP4_NATIVE_REQUIRED=1 the same install fails', async () => {
    const run = await install({ npm_config_nodedir: join(elsewhere, 'no-node'), MIP4_NATIVE_REQUIRED: '1' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('mip4: cannot build the native IO helper: no Node headers in');
  });

  it("in a clone (npm ci at the package's own root) the same install fails", async () => {
    const run = await install({ npm_config_nodedir: join(elsewhere, 'no-node'), INIT_CWD: pkg });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('mip4: cannot build the native IO helper');
  });

  it('when the compiler fails an installed package still installs, the compiler output kept in build/native-build.log', async (context) => {
    const missing = missingTools('make', 'python3');
    if (missing !== undefined) context.skip(missing);
    if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) context.skip(`no Node headers in ${nodedir}/include/node (nodejs-dev / libnode-dev)`);
    const run = await install({ npm_config_nodedir: nodedir, CC: join(elsewhere, 'no-cc'), CXX: join(elsewhere, 'no-cxx') });
    expect(run.status).toBe(0);
    const log = join(pkg, 'build', 'native-build.log');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(`(node-gyp failed, see ${log})`);
    expect(readFileSync(log, 'utf8')).toContain('no-cc');
    expect(existsSync(addon())).toBe(false);
  });

  it('where the machine can, it builds build/Release/mip4_io.node quietly (and no benchmark programs: no bench/)', async (context) => {
    const missing = missingTools('g++', 'make', 'python3');
    if (missing !== undefined) context.skip(missing);
    if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) context.skip(`no Node headers in ${nodedir}/include/node (nodejs-dev / libnode-dev)`);
    mkdirSync(join(elsewhere, 'home'));
    const run = await install({ npm_config_nodedir: nodedir, HOME: join(elsewhere, 'home') });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(existsSync(addon())).toBe(true);
    expect(existsSync(join(pkg, 'build', 'Release', 'reg_loadgen'))).toBe(false);
  });
});
