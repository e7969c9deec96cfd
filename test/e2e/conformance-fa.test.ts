/**
 * `mip4 conformance --role fa` against mip4's own foreign agent (no mandatory failure, exit 0)
 * and against two deliberately broken copies of it (.mutants/<name>/: dist/ with one compiled
 * line replaced), each caught by the check of the requirement it breaks. Namespaces are made
 * and removed by runAgentConformance itself; this file checks none is left behind.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt, linuxSkipReason, ROOT, titled } from '../linux/netns.js';
import { DistMutants } from '../support/dist-mutant.js';
import { runAgentConformance } from '../../runtime/cli/conformance/agent-mode.js';
import { reportExitCode, reportTable, type ConformanceReport } from '../../runtime/cli/conformance/report.js';

const skipReason = linuxSkipReason();
const mutants = new DistMutants();

const faCommand = (bin: string) => `${process.execPath} ${bin} fa --config {dir}/fa.yaml`;

function leftoverNamespaces(): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return listed.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(`mip4c-${process.pid.toString(36)}-`));
}

const failedIds = (report: ConformanceReport) => report.summary.failedRequirements;

afterAll(() => mutants.removeAll());

describe.sequential('mip4 conformance --role fa', () => {
  it.skipIf(skipReason !== undefined)(
    titled("[R2.1-2] [R3.7.2-1] [R3.7.2.2-2] [R3.7.3.1-5] mip4's own foreign agent passes every check; the namespaces are gone afterwards", skipReason),
    async () => {
      ensureBuilt();
      const report = await runAgentConformance({ role: 'fa', agent: faCommand(join(ROOT, 'bin', 'mip4.js')) });
      expect(report.summary.fail, reportTable(report)).toBe(0);
      expect(reportExitCode(report)).toBe(0);
      expect(report.summary.notApplicable).toBe(0);
      expect(report.cases).toBeGreaterThanOrEqual(14);
      // The relaying cases ran (not just the advertisements): their ids were checked and passed.
      for (const id of ['R2.1-2', 'R2.3.2-2', 'R3.7.2-1', 'R3.7.2.2-2', 'R3.7.3.2-5', 'R3.7.3.1-5', 'R3.7.2.1-1', 'R3.7.2.1-2']) expect(report.coverage.requirements).toContain(id);
      expect(report.coverage.transitions.covered).toContain('visitor: visitor.pending → visitor.registered on accepted');
      expect(leftoverNamespaces()).toEqual([]);
    },
    30_000,
  );

  it.skipIf(skipReason !== undefined)(
    titled('[R2.1-2] a foreign agent that advertises with TTL 2 fails R2.1-2 with exit code 1', skipReason),
    async () => {
      ensureBuilt();
      const bin = mutants.make('fa-advert-ttl', 'io/wire/frames.js', 'destination: addressing.destination, ttl: 1 }, icmp)', 'destination: addressing.destination, ttl: 2 }, icmp)');
      const report = await runAgentConformance({ role: 'fa', agent: faCommand(bin) });
      expect(failedIds(report), reportTable(report)).toEqual(['R2.1-2']);
      expect(reportExitCode(report)).toBe(1);
      expect(leftoverNamespaces()).toEqual([]);
    },
    30_000,
  );

  it.skipIf(skipReason !== undefined)(
    titled('[R3.7.2-2] a foreign agent that relays a Request whose lifetime is too long (no 69) is caught', skipReason),
    async () => {
      ensureBuilt();
      const bin = mutants.make('fa-no-69', 'policies/fa-request.js', 'request.lifetime > settings.registrationLifetime) {', 'request.lifetime > settings.registrationLifetime + 65536) {');
      const report = await runAgentConformance({ role: 'fa', agent: faCommand(bin) });
      const failed = report.checks.filter((c) => c.verdict === 'fail');
      expect(failed.map((c) => c.caseId), reportTable(report)).toEqual(['denial/lifetime-too-long', 'denial/lifetime-too-long']);
      expect(failedIds(report)).toEqual(['R3.7.2-2']);
      expect(reportExitCode(report)).toBe(1);
    },
    30_000,
  );
});
