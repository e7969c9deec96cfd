/**
 * The README's roaming demo summary, compared with a run of the demo at the default seed; and
 * the README's embedding example, run as written: the code block under "Embed it" is
 * extracted, compiled from TypeScript, and executed as a module inside the package (so
 * `import … from 'mip4'` resolves through package.json "exports" to dist/).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../runtime/cli/roaming-demo.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function codeBlockAfter(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no ts code block after ${heading}`);
  return match[1]!;
}

describe('README', () => {
  beforeAll(() => {
    if (!existsSync(join(root, 'dist/runtime/index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root });
  });

  it('the embedding example starts a home agent on loopback, observes it and stops it', () => {
    const code = ts.transpileModule(codeBlockAfter('## Embed it'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dir = mkdtempSync(join(root, 'test/.readme-'));
    try {
      const file = join(dir, 'example.mjs');
      writeFileSync(file, code);
      const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 15_000 });
      expect(out).toMatch(/^home agent on UDP port \d+, 0 bindings$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the roaming demo's summary block is what `mip4 demo` prints with the default seed", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('With the default seed the summary reads:'));
    const block = /```\n([\s\S]*?)```/.exec(section)![1]!.trimEnd().split('\n');
    const { lines } = await runDemo({ seed: 1 });
    expect(block).toEqual(lines.slice(lines.findIndex((l) => l.startsWith('summary'))));
  });
});
