/**
 * `mip4 --version`, `-V` and `mip4 version` print the version of the package they run from,
 * read from its package.json at run time (the sources here; dist/ and a global install in
 * test/packaging/npm-pack.test.ts).
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../runtime/cli/main.js';
import { packageRoot } from '../../runtime/cli/version.js';
import { ROOT } from '../support/build.js';

const expected = `mip4 ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`;

async function mip4(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe('mip4 --version', () => {
  it.each([['--version'], ['-V'], ['version']])('%s prints "mip4 X.Y.Z" from package.json and exits 0', async (flag) => {
    const run = await mip4(flag);
    expect(run).toEqual({ code: 0, out: [expected], err: [] });
    expect(expected).toMatch(/^mip4 \d+\.\d+\.\d+/);
  });

  it('mip4 version with an argument is a usage error (exit 2)', async () => {
    const run = await mip4('version', 'extra');
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain('takes no arguments');
  });

  it('the overview lists the version command', async () => {
    const run = await mip4('--help');
    expect(run.out.join('\n')).toMatch(/^ {2}version +print the version of mip4 \(also --version, -V\)$/m);
  });
});

describe('packageRoot', () => {
  it('finds the package from the sources and from the compiled layout (dist/runtime/cli)', () => {
    expect(join(packageRoot(), '/')).toBe(ROOT);
    expect(join(packageRoot(join(ROOT, 'dist', 'runtime', 'cli', 'version.js')), '/')).toBe(ROOT);
  });

  it('skips an enclosing package.json that is not mip4', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mip4-version-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'mip4', version: '9.8.7' }));
      mkdirSync(join(dir, 'node_modules', 'other', 'lib'), { recursive: true });
      writeFileSync(join(dir, 'node_modules', 'other', 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
      expect(packageRoot(join(dir, 'node_modules', 'other', 'lib', 'x.js'))).toBe(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
