#!/usr/bin/env node
// Compiles the tc-BPF programs (native/bpf/*.bpf.c) with clang's BPF target into
// native/bpf/dist/*.bpf.o, the objects the package ships (committed, so that installing mip4
// never needs clang). `--check` builds into a temporary folder instead and compares with the
// committed objects: byte for byte first; where that differs (another clang writes other debug
// sections), the loaded parts must still agree: each program's instructions with their
// relocations, and the .maps, license and .BTF sections. Exit 1 names what differs; exit 2
// when clang is missing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'native', 'bpf');
const shipped = join(sources, 'dist');
const check = process.argv.includes('--check');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error !== undefined) {
    const missing = result.error.code === 'ENOENT';
    console.error(`mip4: cannot run ${command}: ${result.error.message}${missing ? ' (apt-get install clang llvm)' : ''}`);
    process.exit(missing ? 2 : 1);
  }
  if (result.status !== 0) {
    console.error(`mip4: ${command} ${args.join(' ')} failed:\n${result.stderr}`);
    process.exit(1);
  }
  return result.stdout;
}

// Where <asm/types.h> lives for this machine's multiarch triple (Debian: /usr/include/x86_64-linux-gnu).
const machine = spawnSync('gcc', ['-dumpmachine'], { encoding: 'utf8' });
const triple = machine.status === 0 ? machine.stdout.trim() : `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;

/** Compiles every program into `out`; the debug paths name native/bpf wherever the build ran. */
function build(out) {
  mkdirSync(out, { recursive: true });
  const programs = readdirSync(sources).filter((name) => name.endsWith('.bpf.c')).sort();
  for (const source of programs) {
    const object = join(out, source.replace(/\.c$/, '.o'));
    run('clang', ['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror', `-I/usr/include/${triple}`, `-fdebug-prefix-map=${sources}=native/bpf`,
      '-c', source, '-o', object], { cwd: sources });
  }
  return programs.map((source) => source.replace(/\.c$/, '.o'));
}

/** The parts of an object the kernel loads, as text: instructions with relocations, maps, license, BTF. */
function loadedParts(object) {
  const code = run('llvm-objdump', ['-d', '-r', object]).split('\n').filter((line) => !line.includes(object)).join('\n');
  const data = run('llvm-objdump', ['-s', '-j', '.maps', '-j', 'license', '-j', '.BTF', object]).split('\n').filter((line) => !line.includes(object)).join('\n');
  return `${code}\n${data}`;
}

if (!check) {
  for (const object of build(shipped)) console.log(`native/bpf/dist/${object}`);
  process.exit(0);
}

const fresh = mkdtempSync(join(tmpdir(), 'mip4-bpf-'));
// process.exit skips finally blocks: the temporary build goes on exit, whichever exit.
process.on('exit', () => rmSync(fresh, { recursive: true, force: true }));
let differs = 0;
{
  for (const object of build(fresh)) {
    const committedPath = join(shipped, object);
    let committed;
    try {
      committed = readFileSync(committedPath);
    } catch {
      console.error(`native/bpf/dist/${object} is missing: run node scripts/build-bpf.mjs and commit it`);
      differs++;
      continue;
    }
    if (committed.equals(readFileSync(join(fresh, object)))) {
      console.log(`native/bpf/dist/${object}: identical to a fresh build`);
    } else if (loadedParts(committedPath) === loadedParts(join(fresh, object))) {
      console.log(`native/bpf/dist/${object}: same instructions, maps, license and BTF as a fresh build (debug sections differ)`);
    } else {
      console.error(`native/bpf/dist/${object} does not match its source: run node scripts/build-bpf.mjs and commit it`);
      differs++;
    }
  }
}
process.exit(differs === 0 ? 0 : 1);
