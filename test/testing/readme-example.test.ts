/**
 * README's "Model-based testing with mip4/testing" example, run as a user runs it: the ```ts
 * block after `<!-- test: readme-testing-example -->` is extracted, compiled from TypeScript
 * and run with `node --test` from inside the package, so `import … from 'mip4/testing'`
 * resolves by package name through package.json "exports" to dist/testing/; and type-checked
 * strictly against the built declarations. It fails when the
 * block is gone, when its test fails, or when it runs no test at all.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';

const MARKER = '<!-- test: readme-testing-example -->';

function markedBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER}`);
  const match = /^\s*```ts\n([\s\S]*?)```/.exec(readme.slice(at + MARKER.length));
  if (!match) throw new Error(`no \`\`\`ts block right after ${MARKER}`);
  return match[1]!;
}

/** Runs TypeScript source as a `node --test` file inside the package; returns status and TAP output. */
function runAsUser(source: string): { status: number | null; out: string } {
  const code = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const dir = mkdtempSync(join(ROOT, 'test/.readme-'));
  try {
    const file = join(dir, 'example.test.mjs');
    writeFileSync(file, code);
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    return { status: run.status, out: `${run.stdout}\n${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('README: the model-based testing example', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/testing/index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT });
  });

  it('is about 30 lines, imports mip4/testing by name, and passes under node --test', () => {
    const block = markedBlock();
    expect(block).toContain("from 'mip4/testing'");
    expect(block.trimEnd().split('\n').length).toBeLessThanOrEqual(40);
    const { status, out } = runAsUser(block);
    expect(out).toMatch(/^# pass [1-9]/m);
    expect(out).toMatch(/^# fail 0$/m);
    expect(status, out).toBe(0);
  });

  it('type-checks as a strict TypeScript user compiles it against the built declarations', () => {
    const dir = mkdtempSync(join(ROOT, 'test/.readme-'));
    try {
      const file = join(dir, 'example.ts');
      writeFileSync(file, markedBlock());
      const program = ts.createProgram([file], {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('really checks: a keep-alive that gives up one interval early fails it', () => {
    // The same example with the guard changed to give up after two silent intervals.
    const broken = markedBlock().replace('context.missed >= 2', 'context.missed >= 1');
    expect(broken).not.toBe(markedBlock());
    const { status, out } = runAsUser(broken);
    expect(out).toMatch(/^# fail [1-9]/m);
    expect(status).not.toBe(0);
  });
});
