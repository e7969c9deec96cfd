/**
 * Deliberately broken copies of the compiled project for the conformance tests: `.mutants/<name>/`
 * holds dist/, bin/ and package.json copied, build/ (the native addon) linked, and one compiled
 * file with one exact text replaced, which must occur exactly once (so a mutant that silently
 * stopped applying after a refactor fails loudly instead of testing the unbroken code).
 * Imports resolve node_modules by walking up to the repository.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './build.js';

const MUTANTS = join(ROOT, '.mutants');

export class DistMutants {
  private readonly made: string[] = [];

  /** Makes the mutant and returns the path of its bin/mip4.js. */
  make(name: string, file: string, from: string, to: string): string {
    return this.copy(name, { file, from, to });
  }

  /** An unchanged copy made the same way: the baseline a mutation run compares with. */
  baseline(name: string): string {
    return this.copy(name);
  }

  private copy(name: string, mutation?: { readonly file: string; readonly from: string; readonly to: string }): string {
    const root = join(MUTANTS, `${name}-${process.pid}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    this.made.push(root);
    cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
    symlinkSync(join(ROOT, 'build'), join(root, 'build'));
    if (mutation !== undefined) {
      const { file, from, to } = mutation;
      const path = join(root, 'dist', file);
      const text = readFileSync(path, 'utf8');
      const count = text.split(from).length - 1;
      if (count !== 1) throw new Error(`mutant ${name} rotted: '${from}' occurs ${count} times in dist/${file}, not once; update the mutant to the code`);
      writeFileSync(path, text.replace(from, to));
    }
    return join(root, 'bin', 'mip4.js');
  }

  removeAll(): void {
    for (const root of this.made.splice(0)) rmSync(root, { recursive: true, force: true });
    // .mutants itself when no other test file still has a mutant in it.
    if (existsSync(MUTANTS) && readdirSync(MUTANTS).length === 0) rmSync(MUTANTS, { recursive: true, force: true });
  }
}
