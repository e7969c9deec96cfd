/**
 * The native IO helper is optional: without it (an install on a machine with no compiler), the
 * daemons that need it stop at once with one line naming the missing file and how to build it
 * (exit 1), and a home agent without a data path still runs on node:dgram. The helper is made
 * unavailable with MIP4_NATIVE_ADDON pointing at a file that does not exist (io/linux/native.ts
 * then tries only that file).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

const MIP4 = join(ROOT, 'bin', 'mip4.js');
let dir: string;
let missingAddon: string;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-native-helper-'));
  missingAddon = join(dir, 'build', 'Release', 'mip4_io.node');
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function mip4(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MIP4, ...argv], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const withoutHelper = () => ({ MIP4_NATIVE_ADDON: missingAddon });

/** The example config of `role` with `edit` applied, written 0600. */
async function exampleConfig(role: 'ha' | 'fa' | 'mn', name: string, edit: (text: string) => string): Promise<string> {
  const { stdout } = await mip4({}, role, '--example-config');
  const path = join(dir, name);
  writePrivateFile(path, edit(stdout));
  return path;
}

const expectedLine = (command: string) =>
  `mip4 ${command}: the native IO helper is not built (${missingAddon} missing): install g++, make, python3 and Node headers, then \`npm rebuild mip4\``;

describe('daemons without the native IO helper', () => {
  it('mip4 ha with a dataPath section says the helper is missing and exits 1', async () => {
    const config = await exampleConfig('ha', 'ha-data-path.yaml', (text) =>
      text.replace('# dataPath:\n#   homeInterface: CHANGE-ME', 'dataPath:\n  homeInterface: lo'),
    );
    const run = await mip4(withoutHelper(), 'ha', '--config', config, '--listen', '127.0.0.1:0');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(expectedLine('ha (dataPath)'));
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('mip4 ha with an advertisement section says the helper is missing and exits 1', async () => {
    const config = await exampleConfig('ha', 'ha-advertisement.yaml', (text) =>
      text.replace('# advertisement:\n#   interface: CHANGE-ME', 'advertisement:\n  interface: lo'),
    );
    const run = await mip4(withoutHelper(), 'ha', '--config', config, '--listen', '127.0.0.1:0');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(expectedLine('ha (advertisement)'));
  });

  it.each(['fa', 'mn'] as const)('mip4 %s says the helper is missing and exits 1', async (role) => {
    const config = await exampleConfig(role, `${role}.yaml`, (text) => text.replace(/interface: CHANGE-ME/, 'interface: lo'));
    const run = await mip4(withoutHelper(), role, '--config', config);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(expectedLine(role));
  });

  it('mip4 lab up says the helper is missing before building anything', async () => {
    const name = `nh${process.pid % 100000}`;
    try {
      const run = await mip4(withoutHelper(), 'lab', 'up', '--name', name, '--state-dir', join(dir, 'lab'));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(expectedLine('lab up'));
    } finally {
      await mip4({}, 'lab', 'down', '--name', name, '--state-dir', join(dir, 'lab'));
    }
  });

  it('a helper that exists but cannot be loaded is reported with the reason', async () => {
    const corrupt = join(dir, 'corrupt.node');
    writeFileSync(corrupt, 'not an ELF file');
    const config = await exampleConfig('fa', 'fa-corrupt.yaml', (text) => text.replace(/interface: CHANGE-ME/, 'interface: lo'));
    const run = await mip4({ MIP4_NATIVE_ADDON: corrupt }, 'fa', '--config', config);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^mip4 fa: the native IO helper ${corrupt} cannot be loaded \\(.+\\): install g\\+\\+`));
  });

  it('mip4 ha without a data path runs on node:dgram', async () => {
    const config = await exampleConfig('ha', 'ha.yaml', (text) => text);
    const child = spawn(process.execPath, [MIP4, 'ha', '--config', config, '--listen', '127.0.0.1:0'], {
      env: { ...process.env, ...withoutHelper() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buffered = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          for (const line of buffered.split('\n')) {
            if (line.includes('"event":"listening"')) resolve(JSON.parse(line) as Record<string, unknown>);
          }
        });
        child.on('exit', (code) => reject(new Error(`mip4 ha exited with ${code}`)));
        setTimeout(() => reject(new Error('no listening line within 20 s')), 20_000);
      });
      expect(listening.udp).toBe('dgram');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
