/**
 * The shipped tc-BPF objects (native/bpf/dist) match their sources: scripts/build-bpf.mjs
 * --check builds them afresh in a temporary folder and compares (bytes, else the loaded parts).
 * Needs clang and llvm-objdump, so it skips visibly without them; the load and attach tests use
 * the committed objects and need neither.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTools } from '../support/tools.js';
import { ROOT } from '../support/build.js';
import { existsSync } from 'node:fs';

const skip = missingTools('clang', 'llvm-objdump');

describe('shipped tc-BPF objects', () => {
  it.skipIf(skip !== undefined)(`native/bpf/dist/*.bpf.o match a fresh clang build of native/bpf/*.bpf.c${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const result = spawnSync(process.execPath, ['scripts/build-bpf.mjs', '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ha_encap\.bpf\.o: (identical|same instructions)/);
    expect(result.stdout).toMatch(/decap\.bpf\.o: (identical|same instructions)/);
    expect(result.stdout).toMatch(/reverse_encap\.bpf\.o: (identical|same instructions)/);
  }, 130_000);

  it.skipIf(skip !== undefined)(`the check fails, naming the object, when a shipped object is not its source's build${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const copy = mkdtempSync(join(tmpdir(), 'mip4-bpf-check-'));
    try {
      mkdirSync(join(copy, 'scripts'));
      copyFileSync(join(ROOT, 'scripts/build-bpf.mjs'), join(copy, 'scripts/build-bpf.mjs'));
      cpSync(join(ROOT, 'native/bpf'), join(copy, 'native/bpf'), { recursive: true });
      // A stale object: decap's place holds ha_encap's build.
      copyFileSync(join(ROOT, 'native/bpf/dist/ha_encap.bpf.o'), join(copy, 'native/bpf/dist/decap.bpf.o'));
      const result = spawnSync(process.execPath, ['scripts/build-bpf.mjs', '--check'], { cwd: copy, encoding: 'utf8', timeout: 120_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('native/bpf/dist/decap.bpf.o does not match its source');
      expect(result.stdout).toMatch(/ha_encap\.bpf\.o: (identical|same instructions)/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 130_000);

  const addons = ['mip4_io', 'mip4_bpf'].map((name) => `${ROOT}build/Release/${name}.node`);
  const lddSkip = missingTools('ldd') ?? (addons.every((path) => existsSync(path)) ? undefined : 'the addons are not built (npm ci with libbpf-dev)');
  it.skipIf(lddSkip !== undefined)(`mip4_io.node never links libbpf (it loads where libbpf is absent); the separate mip4_bpf.node does${lddSkip ? ` (skipped: ${lddSkip})` : ''}`, () => {
    const [io, bpf] = addons.map((path) => spawnSync('ldd', [path], { encoding: 'utf8' }).stdout);
    expect(io).not.toContain('libbpf');
    expect(bpf).toMatch(/libbpf\.so\.1 => \//);
  });
});
