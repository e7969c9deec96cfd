#!/usr/bin/env node
// The package's install script: builds the native IO helper (binding.gyp) with node-gyp against
// this Node's own headers. The helper is optional (demo, decode, chart, examples and the
// simulated network run without it), so where it cannot be built an installed package still
// installs: one line says what is missing, and the daemons that need it say so when started.
// In a clone (npm ci at the package root) or with MIP4_NATIVE_REQUIRED=1 a failure fails the
// install, so CI and developers notice. Nothing is downloaded: without local Node headers
// node-gyp would fetch them from nodejs.org, so that case is a skip, not a build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.env.MIP4_NATIVE_REQUIRED === '1' || (process.env.INIT_CWD !== undefined && resolve(process.env.INIT_CWD) === root);
const hint = 'install g++, make, python3 and Node headers, then `npm rebuild mip4` (-g for a global install)';

function skip(why, exitCode = 1) {
  if (strict) {
    console.error(`mip4: cannot build the native IO helper: ${why}`);
    process.exit(exitCode);
  }
  console.error(`mip4: the native IO helper was not built (${why}); demo, decode, chart and the library work without it, the ha/fa/mn daemons need it: ${hint}`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`it is Linux-only, this is ${process.platform}`);

// Node's headers: where npm was told (npm_config_nodedir), else beside this Node (a distribution's
// nodejs-dev or libnode-dev package, or the official tarball's include/node).
const configured = process.env.npm_config_nodedir;
const nodedir = configured !== undefined && configured !== '' ? configured : dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node headers in ${join(nodedir, 'include', 'node')}`);

// npm runs install scripts with its own node-gyp at hand: npm_config_node_gyp names it.
const nodeGyp = process.env.npm_config_node_gyp;
const command = nodeGyp !== undefined && nodeGyp !== '' ? [process.execPath, [nodeGyp]] : ['node-gyp', []];
// -j max: the helper's C files compile in parallel (an install on a loaded 2-core machine took minutes).
const args = [...command[1], 'rebuild', '-j', 'max', `--nodedir=${nodedir}`];
const build = spawnSync(command[0], args, { cwd: root, stdio: strict ? 'inherit' : 'pipe', encoding: 'utf8' });

if (build.error !== undefined) skip(`cannot run node-gyp: ${build.error.message}`);
if (build.status !== 0) {
  if (strict) skip(`node-gyp exited with ${build.status}`, build.status ?? 1);
  // The compiler's output is long: kept in a file for whoever wants it, one line here.
  const log = join(root, 'build', 'native-build.log');
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(log, `${build.stdout ?? ''}${build.stderr ?? ''}`);
  skip(`node-gyp failed, see ${log}`);
}
