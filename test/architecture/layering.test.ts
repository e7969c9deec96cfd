/**
 * The house's layering, checked from the code's own imports: imports point down only
 * (io/wire → policies → machines → runtime, io services below runtime), and inside runtime/
 * each room imports only the rooms below it. docs/architecture.md draws the same picture.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';

/** The room a source file lives in; the order of ROOMS is the order of the floors. */
const ROOMS = [
  'io/wire',
  'policies',
  'machines',
  'io',
  'runtime/actors',
  'runtime/dataplane',
  'runtime/store',
  'runtime/agents',
  'runtime/control',
  'runtime/config',
  'runtime/metrics',
  'runtime/inspector',
  'runtime/cli',
  'runtime/index',
  'testing',
] as const;
type Room = (typeof ROOMS)[number];

export function roomOf(file: string): Room | undefined {
  if (file.startsWith('io/wire/')) return 'io/wire';
  if (file.startsWith('io/')) return 'io';
  if (file.startsWith('policies/')) return 'policies';
  if (file.startsWith('machines/')) return 'machines';
  if (file.startsWith('runtime/actors/')) return 'runtime/actors';
  if (file.startsWith('runtime/dataplane/')) return 'runtime/dataplane';
  if (file.startsWith('runtime/store/')) return 'runtime/store';
  if (/^runtime\/(ha|fa|mn)\//.test(file) || file === 'runtime/udp-layer.ts') return 'runtime/agents';
  if (file.startsWith('runtime/control/')) return 'runtime/control';
  if (file.startsWith('runtime/config/')) return 'runtime/config';
  if (file.startsWith('runtime/metrics/')) return 'runtime/metrics';
  if (file.startsWith('runtime/inspector/')) return 'runtime/inspector';
  if (file.startsWith('runtime/cli/')) return 'runtime/cli';
  if (file === 'runtime/index.ts') return 'runtime/index';
  if (file.startsWith('testing/')) return 'testing';
  return undefined;
}

/** Which rooms each room may import from (its own room included). */
const ALLOWED: Record<Room, readonly Room[]> = {
  'io/wire': ['io/wire'],
  policies: ['io/wire', 'policies'],
  machines: ['io/wire', 'policies', 'machines'],
  io: ['io/wire', 'io'],
  'runtime/actors': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors'],
  'runtime/dataplane': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane'],
  'runtime/store': ['io/wire', 'io', 'runtime/store'],
  'runtime/agents': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents'],
  'runtime/control': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents', 'runtime/control'],
  'runtime/config': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents', 'runtime/control', 'runtime/config'],
  // Reads the agents' counters at scrape time; knows no config file and no command.
  'runtime/metrics': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents', 'runtime/metrics'],
  // The live inspector and the charts: reads the agents' actor hosts through runtime/actors/inspection.ts; knows no config file and no command.
  'runtime/inspector': ['io/wire', 'io', 'policies', 'machines', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents', 'runtime/inspector'],
  'runtime/cli': ROOMS.filter((room) => room !== 'runtime/index' && room !== 'testing'),
  'runtime/index': ROOMS.filter((room) => room !== 'testing'),
  // mip4/testing, the test kit: on top of the machines, policies, io and the agents; it knows no
  // config file, command or CLI, and nothing of mip4 imports it (only tests do).
  testing: ['io/wire', 'policies', 'machines', 'io', 'runtime/actors', 'runtime/dataplane', 'runtime/store', 'runtime/agents', 'testing'],
};

/** Packages a room may import; node built-ins count as `node:`. Rooms not listed may import any. */
const PACKAGES: Partial<Record<Room, readonly string[]>> = {
  'io/wire': [],
  policies: [],
  machines: ['xstate'],
};

/** The three agents' folders must not import one another: what they share lives below them. */
function agentFolder(file: string): string | undefined {
  return /^runtime\/(ha|fa|mn)\//.exec(file)?.[1];
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

export function importsOf(source: string): string[] {
  return [...source.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(IMPORT)].map((match) => match[1]!);
}

export interface Violation {
  readonly file: string;
  readonly imports: string;
  readonly why: string;
}

/** Every import of `file` (repo-relative) that breaks the layering. */
export function violations(file: string, source: string): Violation[] {
  const room = roomOf(file);
  if (room === undefined) return [{ file, imports: '', why: 'lies in no room of the house: add it to a room' }];
  const found: Violation[] = [];
  for (const specifier of importsOf(source)) {
    if (specifier.startsWith('.')) {
      const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
      const targetRoom = roomOf(target);
      if (targetRoom === undefined) {
        found.push({ file, imports: target, why: `imports ${target}, which lies in no room` });
      } else if (!ALLOWED[room].includes(targetRoom)) {
        found.push({ file, imports: target, why: `${room} may not import ${targetRoom}` });
      } else if (agentFolder(file) !== undefined && agentFolder(target) !== undefined && agentFolder(file) !== agentFolder(target)) {
        found.push({ file, imports: target, why: `runtime/${agentFolder(file)} may not import another agent's folder` });
      }
    } else {
      const allowed = PACKAGES[room];
      const name = specifier.startsWith('node:') ? 'node:' : specifier.split('/')[0]!;
      if (allowed !== undefined && !allowed.includes(name)) {
        found.push({ file, imports: specifier, why: `${room} may not import the package ${specifier}` });
      }
    }
  }
  return found;
}

function sourceFiles(directory: string): string[] {
  return readdirSync(`${ROOT}${directory}`, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(`${directory}/${entry.name}`)
      : entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')
        ? [`${directory}/${entry.name}`]
        : [],
  );
}

describe('layering: imports point down only', () => {
  const files = ['io', 'policies', 'machines', 'runtime', 'testing'].flatMap(sourceFiles);

  it('finds the source files of every layer', () => {
    for (const room of ROOMS) expect(files.some((file) => roomOf(file) === room), room).toBe(true);
  });

  it('no source file imports a layer above its own, a room beside it, or a package its layer must not use', () => {
    const found = files.flatMap((file) => violations(file, readFileSync(`${ROOT}${file}`, 'utf8')));
    expect(found.map((violation) => `${violation.file}: ${violation.why}`)).toEqual([]);
  });

  it('docs/architecture.md names every room and stays a short read (≤ 250 lines)', () => {
    const doc = readFileSync(`${ROOT}docs/architecture.md`, 'utf8');
    expect(doc.split('\n').length).toBeLessThanOrEqual(250);
    for (const room of ['io/wire', 'policies/', 'machines/', 'io/', 'actors/', 'dataplane/', 'store/', 'ha/', 'fa/', 'mn/', 'control/', 'config/', 'metrics/', 'cli/', 'testing/']) {
      expect(doc, room).toContain(room);
    }
  });

  it('the check itself sees upward imports, type imports, agent-to-agent imports and forbidden packages', () => {
    expect(violations('io/sim/network.ts', "import { RealClock } from '../../runtime/actors/timer-queue.js';")).toHaveLength(1);
    expect(violations('io/wire/bytes.ts', "import type { Verdict } from '../../policies/auth.js';")).toHaveLength(1);
    expect(violations('policies/replay.ts', "import { Effect } from 'effect';")).toHaveLength(1);
    expect(violations('machines/binding.ts', "import { x } from '../runtime/index.js';")).toHaveLength(1);
    expect(violations('runtime/fa/foreign-agent.ts', "import { y } from '../ha/home-agent.js';")).toHaveLength(1);
    expect(violations('runtime/actors/actor-host.ts', "import { z } from '../dataplane/ha-plane.js';")).toHaveLength(1);
    expect(violations('runtime/ha/home-agent.ts', "import { c } from '../config/ha-config.js';")).toHaveLength(1);
    expect(violations('runtime/ha/home-agent.ts', "import { a } from '../actors/actor-host.js';\nimport { b } from '../../io/wire/bytes.js';")).toEqual([]);
    expect(violations('runtime/cli/main.ts', "import { startHomeAgent } from '../ha/home-agent-server.js';")).toEqual([]);
    expect(violations('runtime/control/daemon-commands.ts', "import { c } from '../config/ha-config.js';")).toHaveLength(1);
    expect(violations('runtime/ha/home-agent.ts', "import { s } from '../control/control-server.js';")).toHaveLength(1);
    expect(violations('runtime/cli/main.ts', "import { k } from '../../testing/index.js';")).toHaveLength(1);
    expect(violations('runtime/index.ts', "import { k } from '../testing/index.js';")).toHaveLength(1);
    expect(violations('testing/sim-harness.ts', "import { c } from '../runtime/cli/roaming-demo.js';")).toHaveLength(1);
    expect(violations('testing/model.ts', "import { e } from '../runtime/actors/machine-engine.js';\nimport fc from 'fast-check';")).toEqual([]);
  });
});
