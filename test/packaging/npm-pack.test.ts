/**
 * The npm package as a user gets it: `npm pack` of the working tree (in a copy, so this tree's
 * dist/ is not emptied under other tests), `npm i -g` of the tarball into a temporary prefix
 * (dependencies from the local npm cache, else the npm registry; nothing else is fetched), then
 * the installed `mip4` run from a directory outside the repository: --version, demo, decode,
 * chart, and the daemons once the native helper is gone from the installed package.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/build.js';
import { missingTools } from '../support/tools.js';
import { writePrivateFile } from '../support/files.js';
import { loadVectors } from '../support/vectors.js';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
let work: string;
let tarball: string;
let contents: string[];
let installed: string;
let mip4Bin: string;
let home: string;

/** The environment of a user's shell: nothing of the npm run that may have started vitest. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'INIT_CWD' && k !== 'MIP4_NATIVE_ADDON'));
  return { ...env, ...extra };
}

const run = promisify(execFile);

async function installedMip4(argv: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(mip4Bin, argv, { cwd: home, env: userEnv(extraEnv), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mip4-pack-'));
  const source = join(work, 'src');
  // The files git would see (tracked and new, not ignored), as in a fresh clone with these edits.
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(ROOT, file))) continue; // deleted in the tree, not yet committed
    mkdirSync(dirname(join(source, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(source, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  // Asynchronously: a worker blocked for minutes in a synchronous call misses vitest's own messages.
  await run('npm', ['pack', '--pack-destination', work], { cwd: source, env: userEnv() });
  tarball = join(work, `mip4-${version}.tgz`);
  contents = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');

  const prefix = join(work, 'prefix');
  home = join(work, 'home');
  mkdirSync(home);
  // --omit=optional: better-sqlite3 (the binding store, optional) would fetch a prebuilt binary
  // from GitHub or build SQLite for minutes; the commands run here do not need it, and the
  // daemons say so when it is missing (runtime/cli/daemon-store.ts).
  await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', tarball], { cwd: home, env: userEnv() });
  installed = join(prefix, 'lib', 'node_modules', 'mip4');
  mip4Bin = join(prefix, 'bin', 'mip4');
  // npm pack compiles dist/ and the install compiles the native helper: 2-3 minutes on a quiet
  // 2-core machine, over 8 with the machine shared (load 12 measured here).
}, 600_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('npm pack', () => {
  it('the tarball carries dist/, bin/, the native sources, binding.gyp, the systemd units, LICENSE and README', () => {
    for (const file of [
      'package/dist/runtime/cli/main.js',
      'package/dist/runtime/index.js',
      'package/dist/runtime/index.d.ts',
      'package/dist/io/wire/index.js',
      // mip4/testing with the interop vectors beside it (tsc emits the JSON).
      'package/dist/testing/index.js',
      'package/dist/testing/index.d.ts',
      'package/dist/testing/interop-vectors.json',
      'package/bin/mip4.js',
      'package/native/mip4_io.c',
      // The tc-BPF programs ship compiled (no clang at install) beside their sources and the loader.
      'package/native/bpf/dist/ha_encap.bpf.o',
      'package/native/bpf/dist/decap.bpf.o',
      'package/native/bpf/ha_encap.bpf.c',
      'package/native/bpf-loader.c',
      'package/binding.gyp',
      'package/scripts/build-native.mjs',
      'package/packaging/systemd/mip4-ha.service',
      'package/LICENSE',
      'package/README.md',
      'package/package.json',
    ]) {
      expect(contents, file).toContain(file);
    }
  });

  it('the tarball carries no tests, no benchmark and no build output', () => {
    expect(contents.filter((f) => /^package\/(test|bench|dist\/bench|dist\/test|build|node_modules)\//.test(f) || /\.test\.js$/.test(f))).toEqual([]);
  });
});

describe('the package installed globally (npm i -g into a temporary prefix)', { timeout: 60_000 }, () => {
  it('mip4 --version prints the package version', async () => {
    expect(await installedMip4(['--version'])).toEqual({ code: 0, stdout: `mip4 ${version}\n`, stderr: '' });
  });

  it('the install built the native IO helper where the machine has a compiler and Node headers', (context) => {
    const missing = missingTools('g++', 'make', 'python3');
    if (missing !== undefined) context.skip(missing);
    expect(existsSync(join(installed, 'build', 'Release', 'mip4_io.node'))).toBe(true);
  });

  it('mip4 demo runs the roaming scenario', async () => {
    const run = await installedMip4(['demo']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('home agent bindings at the end: 0');
  });

  it('mip4 decode decodes an interop vector and verifies its authenticator', async () => {
    const vector = loadVectors().find((v) => v.id === 'rrq_basic_colocated')!;
    const keys = Object.values(vector.keys).flatMap((k) => ['--key', `${k.spi}:${k.key_hex}`]);
    const run = await installedMip4(['decode', ...keys, vector.hex]);
    expect(run.code).toBe(0);
    const decoded = JSON.parse(run.stdout) as { type_name: string; home_address: string; extensions: Array<{ authenticator_valid?: boolean }> };
    expect(decoded.home_address).toBe(vector.decoded.home_address);
    expect(decoded.extensions.some((e) => e.authenticator_valid === true)).toBe(true);
  });

  it('mip4/testing loads from the installed package: fast-check and xstate/graph come with it, the vectors are there', async () => {
    const entry = join(installed, 'dist', 'testing', 'index.js');
    const script = `const k = await import(${JSON.stringify(entry)}); console.log(JSON.stringify([typeof k.machineTestModel, typeof k.getShortestPaths, k.interopVectors().length, k.machineModels().binding.shortestPaths().length > 0]));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: home, env: userEnv(), timeout: 60_000 });
    const [model, paths, vectors, explored] = JSON.parse(stdout) as [string, string, number, boolean];
    expect([model, paths, explored]).toEqual(['function', 'function', true]);
    expect(vectors).toBeGreaterThanOrEqual(10);
  });

  it('mip4 chart prints a state chart', async () => {
    const run = await installedMip4(['chart', 'ha']);
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('stateDiagram-v2\n')).toBe(true);
  });

  // Last: it removes the helper from the installed package.
  it('without the native helper, demo and examples still run and mip4 ha with a dataPath names the missing file', async () => {
    rmSync(join(installed, 'build'), { recursive: true, force: true });
    const demo = await installedMip4(['demo']);
    expect(demo.code).toBe(0);
    const examples = await installedMip4(['examples', '--json']);
    expect(examples.code).toBe(0);
    expect(examples.stderr).toBe('');

    const example = await installedMip4(['ha', '--example-config']);
    const config = join(home, 'ha.yaml');
    writePrivateFile(config, example.stdout.replace('# dataPath:\n#   homeInterface: CHANGE-ME', 'dataPath:\n  homeInterface: lo'));
    const ha = await installedMip4(['ha', '--config', config, '--listen', '127.0.0.1:0']);
    expect(ha.code).toBe(1);
    expect(ha.stderr).toContain(
      `mip4 ha (dataPath): the native IO helper is not built (${join(installed, 'build', 'Release', 'mip4_io.node')} missing): install g++, make, python3 and Node headers, then \`npm rebuild mip4\``,
    );
  });
});
