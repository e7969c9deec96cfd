/**
 * The package's subpath exports, resolved as an embedder's code resolves them: a module inside
 * the package imports `mip4`, `mip4/wire`, `mip4/sim`, `mip4/linux` and `mip4/testing` by name, so Node goes
 * through package.json "exports" to dist/ (built by `npm test` before vitest runs).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';

/** A few names each entry point must offer, one per kind of thing it is for. */
const ENTRY_POINTS: Record<string, readonly string[]> = {
  mip4: ['startHomeAgent', 'startForeignAgent', 'startMobileNode', 'HomeAgent', 'homeAgentConfigFromDocument', 'bindingMachine', 'inspect'],
  'mip4/wire': ['decodeRegistrationRequest', 'encodeRegistrationReply', 'decodeAgentAdvertisement', 'decodeIpv4Header'],
  'mip4/sim': ['SimNetwork', 'SimHost', 'SimEthernetSegment', 'SimUdpNetwork', 'SimulatedClock', 'seededRandom'],
  'mip4/linux': ['LinuxUdpLive', 'LinuxLinkLive', 'LinuxRawIpLive', 'LinuxTunLive', 'LinuxMnHostLive', 'nativeAvailable'],
  'mip4/testing': ['machineTestModel', 'machineModels', 'getShortestPaths', 'getSimplePaths', 'wireArbitraries', 'MACHINE_ARBITRARIES', 'simScenario', 'interopVectors'],
};

describe('subpath exports', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/runtime/index.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT });
  });

  it('package.json exports exactly the documented entry points, each with its types', () => {
    const exports = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports as Record<string, { types: string; default: string } | string>;
    expect(Object.keys(exports).sort()).toEqual(['.', './linux', './package.json', './sim', './testing', './wire']);
    for (const [subpath, target] of Object.entries(exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(join(ROOT, target.default)), `${subpath} → ${target.default}`).toBe(true);
      expect(existsSync(join(ROOT, target.types)), `${subpath} → ${target.types}`).toBe(true);
    }
  });

  it.each(Object.entries(ENTRY_POINTS))('%s resolves by name and offers what it is for', (specifier, names) => {
    const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`;
    // Run inside the package, so that Node's self-reference resolves the name through "exports".
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
    const exported = JSON.parse(out) as string[];
    for (const name of names) expect(exported, `${specifier} exports ${name}`).toContain(name);
  });

  it('mip4/testing finds its interop vectors beside it in dist/ (tsc emits the JSON)', () => {
    const script = "const { interopVectors } = await import('mip4/testing'); console.log(interopVectors().length);";
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
    expect(Number(out)).toBeGreaterThanOrEqual(10);
  });
});
