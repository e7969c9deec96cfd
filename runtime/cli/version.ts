/**
 * `mip4 --version`: the version of the installed package, read from its package.json at run
 * time, so a global install, a clone running dist/ and the sources under vitest all report the
 * package they actually run from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, type Io, type Subcommand } from './args.js';

const PACKAGE_NAME = 'mip4';

/**
 * The directory of the mip4 package holding this file: the first directory upwards with a
 * package.json named mip4 (runtime/cli in the sources, dist/runtime/cli once compiled).
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let directory = dirname(from);
  for (;;) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest) && readManifest(manifest).name === PACKAGE_NAME) return directory;
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no package.json named ${PACKAGE_NAME} above ${from}`);
    directory = parent;
  }
}

function readManifest(path: string): { name?: unknown; version?: unknown } {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    // A broken package.json of some enclosing project is not ours: keep looking upwards.
    return {};
  }
}

/** The version field of mip4's package.json (e.g. "0.1.0"). */
export function packageVersion(): string {
  const { version } = readManifest(join(packageRoot(), 'package.json'));
  if (typeof version !== 'string') throw new Error(`the package.json of ${PACKAGE_NAME} has no version`);
  return version;
}

const usage = `usage: mip4 version   (also mip4 --version, mip4 -V)

Prints "mip4 X.Y.Z", the version of the installed package.`;

async function run(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(usage);
    return ExitCode.Ok;
  }
  if (argv.length > 0) {
    io.err(`mip4 version: takes no arguments\n\n${usage}`);
    return ExitCode.Usage;
  }
  io.out(`${PACKAGE_NAME} ${packageVersion()}`);
  return ExitCode.Ok;
}

export const versionCommand: Subcommand = { name: 'version', usage, run };
