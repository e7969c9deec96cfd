/**
 * `mip4 conformance --role mn` against mip4's own mobile node (no mandatory failure, exit 0)
 * and against a broken copy of it that retransmits after 300 ms instead of at least 1 s
 * (.mutants/, test/support/dist-mutant.ts), caught by R3.6.3-4. runAgentConformance makes and
 * removes the namespaces; this file checks none is left behind.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt, linuxSkipReason, ROOT, titled } from '../linux/netns.js';
import { DistMutants } from '../support/dist-mutant.js';
import { runAgentConformance } from '../../runtime/cli/conformance/agent-mode.js';
import { reportExitCode, reportTable } from '../../runtime/cli/conformance/report.js';

const skipReason = linuxSkipReason();
const mutants = new DistMutants();
const mnCommand = (bin: string) => `${process.execPath} ${bin} mn --config {dir}/mn.yaml`;

function leftoverNamespaces(): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return listed.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(`mip4c-${process.pid.toString(36)}-`));
}

afterAll(() => {
  mutants.removeAll();
  // The stale namespaces of the first test, should it fail before the run removed them.
  for (const name of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    if (name.endsWith('-beef-agent') || name.endsWith('-beef-tool')) spawnSync('ip', ['netns', 'del', name]);
  }
});

describe.sequential('mip4 conformance --role mn', () => {
  it.skipIf(skipReason !== undefined)(
    titled("[R2.2-1] [R3.6.1.3-2] [R3.6.2.1-3] [R3.6.2.3-3] [R3.6.3-4] mip4's own mobile node passes every check; the namespaces are gone afterwards, and those of a killed run too", skipReason),
    async () => {
      ensureBuilt();
      // What a run killed with SIGKILL leaves: its namespaces, named after a pid that is gone,
      // with a process inside. The next run removes them.
      const gone = spawnSync('true').pid!;
      const stale = [`mip4c-${gone.toString(36)}-beef-agent`, `mip4c-${gone.toString(36)}-beef-tool`];
      for (const name of stale) spawnSync('ip', ['netns', 'add', name]);
      const sleeper = spawn('ip', ['netns', 'exec', stale[0]!, 'sleep', '60'], { stdio: 'ignore' });
      const sleeperExit = new Promise((resolve) => sleeper.once('exit', resolve));
      for (let i = 0; i < 40 && spawnSync('ip', ['netns', 'pids', stale[0]!], { encoding: 'utf8' }).stdout.trim() === ''; i++) await new Promise((r) => setTimeout(r, 50));
      expect(spawnSync('ip', ['netns', 'pids', stale[0]!], { encoding: 'utf8' }).stdout.trim()).not.toBe('');
      const report = await runAgentConformance({ role: 'mn', agent: mnCommand(join(ROOT, 'bin', 'mip4.js')) });
      const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      for (const name of stale) expect(listed).not.toContain(name);
      await Promise.race([sleeperExit, new Promise((r) => setTimeout(r, 3_000))]);
      expect(sleeper.signalCode ?? sleeper.exitCode).not.toBeNull();
      expect(report.summary.fail, reportTable(report)).toBe(0);
      expect(reportExitCode(report)).toBe(0);
      expect(report.summary.notApplicable, reportTable(report)).toBe(0);
      for (const id of ['R2.2-1', 'R3.6.1.1-8', 'R3.6.1.3-2', 'R3.6.2.1-3', 'R3.6.2.3-2', 'R3.6.2.3-3', 'R3.6.3-4', 'R3.6.3-5', 'R5.7.1-3']) expect(report.coverage.requirements).toContain(id);
      expect(report.coverage.transitions.covered).toContain('mnRegistration: mnRegistration.awaitingReply → mnRegistration.sending on reply [canResynchronise]');
      expect(leftoverNamespaces()).toEqual([]);
    },
    30_000,
  );

  it.skipIf(skipReason !== undefined)(
    titled('[R3.6.3-4] a mobile node that retransmits after 300 ms is caught by R3.6.3-4 with exit code 1', skipReason),
    async () => {
      ensureBuilt();
      const bin = mutants.make('mn-fast-retransmit', 'machines/mn-registration.js', 'export const MIN_RETRANSMISSION_MS = 1000;', 'export const MIN_RETRANSMISSION_MS = 300;');
      const report = await runAgentConformance({ role: 'mn', agent: mnCommand(bin) });
      expect(report.summary.failedRequirements, reportTable(report)).toContain('R3.6.3-4');
      expect(report.checks.filter((c) => c.verdict === 'fail' && c.requirements.includes('R3.6.3-4')).map((c) => c.caseId)).toContain('registration/retransmission');
      expect(reportExitCode(report)).toBe(1);
      expect(leftoverNamespaces()).toEqual([]);
    },
    30_000,
  );
});
