/**
 * `mip4 conformance --role ha` against a real `mip4 ha` child process on 127.0.0.1 with a
 * timestamp node and a nonce node: no failure, exit 0, as JSON and (a second run against the
 * same agent, which the first must have left clean) as a table. And the usage and config
 * errors, exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.js';
import type { ConformanceReport } from '../../runtime/cli/conformance/report.js';
import { conformanceTargetFromDocument } from '../../runtime/cli/conformance/ha-target.js';
import { parseYamlConfig } from '../../runtime/config/config-schema.js';
import { ensureBuilt } from '../support/build.js';
import type { DaemonProcess } from '../support/daemon-process.js';
import { conformanceConfig, NODES, Scratch, startHomeAgent } from './support.js';

const scratch = new Scratch();
let daemon: DaemonProcess | undefined;
let port = 0;

async function mip4(args: string[]): Promise<{ exit: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const exit = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { exit, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  ensureBuilt();
  ({ daemon, port } = await startHomeAgent(scratch, 'ha'));
}, 180_000);
afterAll(async () => {
  await daemon?.stop();
  scratch.remove();
});

describe('mip4 conformance --role ha against mip4 ha on loopback', () => {
  const args = () => ['conformance', '--role', 'ha', '--target', `127.0.0.1:${port}`, '--config', scratch.file('target.yaml', conformanceConfig()), '--silence-ms', '250', '--timeout-ms', '3000', '--max-duration', '60'];

  it('passes every check, reports JSON with requirement ids and coverage, then passes again as a table', async () => {
    const json = await mip4([...args(), '--json']);
    expect(json.err).toBe('');
    const report = JSON.parse(json.out) as ConformanceReport;
    expect(report.checks.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(json.exit).toBe(0);
    expect(report).toMatchObject({ tool: 'mip4 conformance', role: 'ha', target: `127.0.0.1:${port}` });
    expect(report.checks.length).toBeGreaterThan(500);
    for (const c of report.checks) expect(c.requirements.every((id) => /^R\d+(\.\d+)*-\d+$/.test(id)), c.caseId).toBe(true);
    // Both replay styles ran the binding paths.
    for (const node of NODES) expect(report.checks.some((c) => c.caseId.startsWith('binding-path/') && c.caseId.endsWith(`@${node.homeAddress}`))).toBe(true);
    // Every transition but the infinite-lifetime one (the target's maximum is 600 s) was driven.
    expect(report.coverage.transitions.total).toBe(9);
    expect(report.coverage.transitions.covered).toHaveLength(8);
    expect(report.coverage.transitions.covered.join('\n')).not.toMatch(/isInfinite/);
    expect(report.coverage.requirements).toEqual(expect.arrayContaining(['R1.8-1', 'R3.4-3', 'R3.5.1-1', 'R3.8.2.1-14', 'R3.8.3-3', 'R3.8.3.2-9', 'R5.7-4', 'R5.7.1-8']));
    // Every case ran, the broadcast one too (the agent listens on 127.255.255.255).
    expect(report.checks.filter((c) => c.verdict === 'not-applicable')).toEqual([]);
    expect(report.checks.some((c) => c.requirements.includes('R3.8.3.1-1') && c.verdict === 'pass')).toBe(true);

    const table = await mip4(args());
    expect(table.exit).toBe(0);
    expect(table.out).toMatch(/^VERDICT +LEVEL +REQUIREMENTS +CASE/);
    expect(table.out).toMatch(/covered 8\/9 machine transitions/);
    expect(table.out).toMatch(/no requirement failed$/);
  }, 60_000);

  it('stops at --max-duration, reports the rest as not run, and still leaves the agent clean', async () => {
    const capped = await mip4([...args().slice(0, -2), '--max-duration', '1', '--json']);
    const report = JSON.parse(capped.out) as ConformanceReport;
    expect(capped.exit).toBe(0);
    expect(report.durationMs).toBeLessThan(1000 + 3 * 3000);
    const notRun = report.checks.filter((c) => c.verdict === 'not-applicable');
    expect(notRun.length).toBeGreaterThan(10);
    // Not run because of the cap: before a case began, or while a step waited for its turn (--rate).
    expect(notRun.filter((c) => !/reached its duration cap/.test(`${c.what} ${c.detail ?? ''}`)), 'not run for another reason').toEqual([]);
    for (const node of NODES) {
      expect(report.checks.find((c) => c.caseId === `teardown/deregister-all#1@${node.homeAddress}` && c.what === 'Reply code')?.verdict).toBe('pass');
    }
  }, 30_000);
});

describe('mip4 conformance: usage and configuration errors', () => {
  it('hands --role fa and mn to the agent mode, whose usage error names --agent (exit 2)', async () => {
    for (const role of ['fa', 'mn']) {
      const r = await mip4(['conformance', '--role', role]);
      expect(r.exit).toBe(2);
      expect(r.err).toMatch(/--agent '<command>' is required[\s\S]*usage: mip4 conformance --role fa\|mn/);
    }
    const example = await mip4(['conformance', '--role=fa', '--example-config']);
    expect(example.exit).toBe(0);
    expect(example.out).toContain('foreignAgent:');
  });

  it('refuses a non-loopback target without --allow-remote (exit 2)', async () => {
    const r = await mip4(['conformance', '--role', 'ha', '--target', '198.51.100.1:434', '--config', scratch.file('t.yaml', conformanceConfig())]);
    expect(r.exit).toBe(2);
    expect(r.err).toMatch(/not a loopback address.*--allow-remote/);
  });

  it('names the wrong field of the config (exit 2) and prints an example config that loads', async () => {
    const r = await mip4(['conformance', '--role', 'ha', '--target', '127.0.0.1:4434', '--config', scratch.file('bad.yaml', conformanceConfig().replace('maxLifetime: 600', 'maxLifetime: 0'))]);
    expect(r.exit).toBe(2);
    expect(r.err).toMatch(/homeAgent\.maxLifetime: a lifetime is 1-65535 seconds/);
    const example = await mip4(['conformance', '--example-config']);
    expect(example.exit).toBe(0);
    expect(conformanceTargetFromDocument(parseYamlConfig(example.out, 'example')).nodes).toHaveLength(2);
  });

  it('asks for what is missing (exit 2)', async () => {
    expect((await mip4(['conformance', '--role', 'ha', '--config', 'x'])).err).toMatch(/--target ADDR:PORT is required/);
    expect((await mip4(['conformance', '--role', 'ha', '--target', '127.0.0.1:x', '--config', 'x'])).exit).toBe(2);
  });
});
