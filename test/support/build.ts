/**
 * Builds dist/ when it is missing or older than the sources: end-to-end tests run the compiled
 * `bin/mip4.js` as a child process (`npm test` builds it first; a single test file may not).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root directory (with a trailing slash). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const COMPILED_MAIN = join(ROOT, 'dist', 'runtime', 'cli', 'main.js');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const sources = Math.max(...['io', 'policies', 'machines', 'runtime'].map((d) => newestSourceMtime(join(ROOT, d))));
  if (existsSync(COMPILED_MAIN) && statSync(COMPILED_MAIN).mtimeMs >= sources) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    // The inspector page's script (runtime/inspector/page, DOM types: its own project).
    execFileSync('npx', ['tsc', '-p', 'tsconfig.page.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // tsc still emits when some other file has a type error: judge by the output file.
  }
  if (!existsSync(COMPILED_MAIN)) throw new Error(`could not build ${COMPILED_MAIN}`);
}
