/**
 * The Dockerfile, read as Docker reads it (instructions, line continuations, stages). Docker is
 * not on the test machines, so the image is not built here; what the build stage runs (npm pack,
 * then a global install of the tarball) is what test/packaging/npm-pack.test.ts runs for real.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/build.js';

interface Instruction {
  readonly keyword: string;
  readonly argument: string;
}

/** The Dockerfile's instructions: comments dropped, `\` continuations joined. */
function instructions(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    current += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (!line.endsWith('\\')) {
      if (current.trim() !== '') logical.push(current.trim());
      current = '';
    }
  }
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), argument: rest.join(' ') };
  });
}

/** Instructions grouped by stage (each FROM starts one). */
function stages(all: Instruction[]): Array<{ image: string; name?: string; body: Instruction[] }> {
  const result: Array<{ image: string; name?: string; body: Instruction[] }> = [];
  for (const instruction of all) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.argument.split(/\s+/);
      result.push({ image: image!, ...(as?.toUpperCase() === 'AS' ? { name: name! } : {}), body: [] });
    } else {
      expect(result.length, `${instruction.keyword} before any FROM`).toBeGreaterThan(0);
      result.at(-1)!.body.push(instruction);
    }
  }
  return result;
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const parsed = stages(instructions(dockerfile));
const runs = (body: Instruction[]) => body.filter((i) => i.keyword === 'RUN').map((i) => i.argument.replace(/\s+/g, ' '));

describe('Dockerfile', () => {
  it('builds on a Node 20 image with a compiler and runs on node:20-slim', () => {
    expect(parsed.map((s) => s.image)).toEqual(['node:20-bookworm', 'node:20-slim']);
    expect(parsed[0]!.name).toBe('build');
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(engines.node).toBe('>=20');
  });

  it('the build stage packs the package (dist/ rebuilt) and installs the tarball globally, the native helper required', () => {
    const build = runs(parsed[0]!.body).join(' && ');
    expect(build).toMatch(/npm ci --ignore-scripts/);
    expect(build).toMatch(/npm pack --pack-destination \/tmp/);
    expect(build).toMatch(/MIP4_NATIVE_REQUIRED=1 npm install --global --prefix \/opt\/mip4 [^&]*\/tmp\/mip4-\*\.tgz/);
    expect(build).toMatch(/\/opt\/mip4\/bin\/mip4 --version/);
  });

  it('the run stage copies only the installed package from the build stage and runs mip4', () => {
    const run = parsed[1]!.body;
    const copies = run.filter((i) => i.keyword === 'COPY');
    expect(copies.map((c) => c.argument)).toEqual(['--from=build /opt/mip4 /opt/mip4']);
    expect(run.find((i) => i.keyword === 'ENV')?.argument).toBe('PATH=/opt/mip4/bin:$PATH');
    expect(run.find((i) => i.keyword === 'ENTRYPOINT')?.argument).toBe('["mip4"]');
    // iproute2: the mobile node's host changes go through ip(8).
    expect(runs(run).join(' ')).toMatch(/apt-get install -y --no-install-recommends iproute2/);
  });

  it('documents the capabilities and the TUN device a daemon container needs', () => {
    for (const option of ['--cap-drop ALL', '--cap-add NET_ADMIN', '--cap-add NET_RAW', '--cap-add NET_BIND_SERVICE', '--device /dev/net/tun']) {
      expect(dockerfile).toContain(option);
    }
  });

  it('.dockerignore keeps the host build out of the context: the image compiles its own', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', 'build', '.git']) expect(ignored).toContain(entry);
  });
});
