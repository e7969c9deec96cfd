/**
 * Proof by mutation that `mip4 conformance --role ha` catches what it claims to: each mutant is
 * mip4's home agent with one deliberate defect, made by a find/replace on one compiled file of
 * a copy of dist/ (in .mutants/<name>/, gitignored; node_modules and the native addon resolve
 * from the repository). Each must make the run fail (exit 1) with the requirement id it breaks
 * among the failed ones, and the unmutated copy must pass in the same test. A replacement that
 * no longer matches exactly once fails the test: the mutant rotted with the code.
 *
 * The measured table (mutant → failed ids) is printed, and written to
 * docs/conformance-mutants.json when MIP4_WRITE_MUTANT_TABLE=1 (README and docs/conformance.md
 * quote it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.js';
import type { ConformanceReport } from '../../runtime/cli/conformance/report.js';
import { ensureBuilt, ROOT } from '../support/build.js';
import type { DaemonProcess } from '../support/daemon-process.js';
import { DistMutants } from '../support/dist-mutant.js';
import { conformanceConfig, mutantTableMarkdown, Scratch, startHomeAgent, type MutantTable } from './support.js';

interface Mutant {
  readonly name: string;
  readonly defect: string;
  /** The compiled file (under dist/) and the text replaced in it, exactly once. */
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  /** The requirement the defect breaks: it must be among the failed ones. */
  readonly breaks: string;
}

const MUTANTS: readonly Mutant[] = [
  {
    name: 'no-replay-check',
    defect: 'the Identification is never checked (5.7): replays are accepted',
    file: 'policies/ha-request.js',
    find: 'if (!replyIdentification.valid) {',
    replace: 'if (false) {',
    breaks: 'R3.8.2.1-14',
  },
  {
    name: 'authenticator-over-wrong-bytes',
    defect: 'the Reply authenticator skips the first byte of the message (3.5.1)',
    file: 'policies/auth.js',
    find: 'digestInto(algorithm, key, message, 0, end, message, end);',
    replace: 'digestInto(algorithm, key, message, 1, end, message, end);',
    breaks: 'R3.5.1-1',
  },
  {
    name: 'lifetime-increased',
    defect: 'the granted Lifetime is the maximum even when less was asked (3.4)',
    file: 'policies/lifetime.js',
    find: 'return requested > maximum ? maximum : requested;',
    replace: 'return requested > maximum ? requested : maximum;',
    breaks: 'R3.4-3',
  },
  {
    name: 'unknown-non-skippable-accepted',
    defect: 'an unknown extension of type 0-127 is skipped instead of discarding the Request (1.8)',
    file: 'policies/ha-request.js',
    find: 'if (!extension.skippable) {',
    replace: 'if (false) {',
    breaks: 'R1.8-1',
  },
  {
    name: 'reply-from-wrong-address',
    defect: 'the Reply leaves from another address of the home agent than the Request reached (3.8.3.1)',
    file: 'runtime/ha/home-agent-server.js',
    find: 'socket?.send(data, destination, port, source);',
    // The other listening socket, and its address as the source (the native layer honours it).
    replace: 'const other = sockets.find((s) => s.localAddress !== source) ?? socket; other?.send(data, destination, port, other?.localAddress ?? source);',
    breaks: 'R3.8.3-3',
  },
  {
    name: 'identification-not-echoed',
    defect: 'the Reply carries the Request Identification plus one in its low 32 bits (5.7)',
    file: 'runtime/ha/home-agent.js',
    find: 'return { reply: { type: 3, code, lifetime, homeAddress, homeAgent, identification, extensions }, foreignContext };',
    replace: 'return { reply: { type: 3, code, lifetime, homeAddress, homeAgent, identification: { high: identification.high, low: (identification.low + 1) >>> 0 }, extensions }, foreignContext };',
    breaks: 'R5.7-4',
  },
  {
    name: 'deregistration-keeps-binding',
    defect: 'a deregistration of one care-of address is answered but the binding stays (3.8.2.2)',
    file: 'runtime/ha/home-agent.js',
    find: "this.host.send(binding, { type: 'deregister', at: now });",
    replace: 'void binding;',
    breaks: 'R3.8.2.2-1',
  },
  {
    name: 'home-agent-field-not-corrected',
    defect: "a 136 Reply copies the Request's Home Agent field instead of the agent's address (3.8.3.2)",
    file: 'policies/ha-request.js',
    find: 'return settings.addresses.includes(request.homeAgent) ? request.homeAgent : homeAgentUnicastAddress(settings);',
    replace: 'return request.homeAgent;',
    breaks: 'R3.8.3.2-9',
  },
  {
    name: 'broadcast-destination-accepted',
    defect: "a Request sent to the home network's broadcast address is accepted (3.8.2.1)",
    file: 'policies/ha-request.js',
    find: 'if (input.ipDestination >>> 0 === LIMITED_BROADCAST || input.ipDestination >>> 0 === subnetBroadcast(settings.homeNetwork, settings.prefixLength)) {',
    replace: 'if (false) {',
    breaks: 'R3.8.2.1-21',
  },
  {
    name: 'reserved-bits-ignored',
    defect: "a Request with the reserved 'r' or 'x' bit is accepted (3.8.2.3)",
    file: 'policies/ha-request.js',
    find: 'if ((request.flags & (RequestFlag.r | RequestFlag.x)) !== 0) {',
    replace: 'if (false) {',
    breaks: 'R3.8.2.3-2',
  },
];

const scratch = new Scratch();
const daemons: DaemonProcess[] = [];
const copies = new DistMutants();

/** A copy of the build in .mutants/ with the mutation applied; undefined = the baseline. */
const makeCopy = (name: string, mutant?: Mutant): string =>
  mutant === undefined ? copies.baseline(name) : copies.make(name, mutant.file, mutant.find, mutant.replace);

async function conformanceAgainst(name: string, mutant?: Mutant): Promise<{ exit: number; report: ConformanceReport }> {
  const bin = makeCopy(name, mutant);
  const { daemon, port } = await startHomeAgent(scratch, name, bin);
  daemons.push(daemon);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const exit = await main(
      ['conformance', '--role', 'ha', '--target', `127.0.0.1:${port}`, '--config', scratch.file(`${name}-target.yaml`, conformanceConfig()), '--json', '--silence-ms', '300', '--timeout-ms', '3000', '--rate', '400', '--max-duration', '60'],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    if (exit === 2) throw new Error(`mip4 conformance could not run against ${name}: ${err.join('\n')}`);
    return { exit, report: JSON.parse(out.join('\n')) as ConformanceReport };
  } finally {
    await daemon.stop();
  }
}

/** Runs `jobs` with at most `limit` at a time (two cores shared by the whole CI). */
async function pool<T>(jobs: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

beforeAll(() => ensureBuilt(), 180_000);
afterAll(() => {
  for (const daemon of daemons) daemon.kill();
  scratch.remove();
  copies.removeAll();
});

describe('mip4 conformance --role ha against deliberately broken home agents', () => {
  it('passes the unmutated copy and catches every mutant by the requirement id it breaks', async () => {
    const started = Date.now();
    const runs = await pool(
      [() => conformanceAgainst('baseline'), ...MUTANTS.map((m) => () => conformanceAgainst(m.name, m))],
      4,
    );
    const [baseline, ...mutants] = runs;
    const table = MUTANTS.map((m, i) => ({
      mutant: m.name,
      defect: m.defect,
      breaks: m.breaks,
      exit: mutants[i]!.exit,
      caught: mutants[i]!.exit === 1 && mutants[i]!.report.summary.failedRequirements.includes(m.breaks),
      failedRequirements: mutants[i]!.report.summary.failedRequirements,
      runMs: mutants[i]!.report.durationMs,
    }));
    const measured = {
      measuredAt: new Date().toISOString(),
      baseline: { exit: baseline!.exit, cases: baseline!.report.cases, checks: baseline!.report.checks.length, fail: baseline!.report.summary.fail, runMs: baseline!.report.durationMs, transitions: `${baseline!.report.coverage.transitions.covered.length}/${baseline!.report.coverage.transitions.total}`, requirements: baseline!.report.coverage.requirements.length },
      mutants: table,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    console.log(
      ['mutant → caught by', ...table.map((t) => `${t.caught ? 'CAUGHT' : 'MISSED'} ${t.mutant} (breaks ${t.breaks}): exit ${t.exit}, failed ${t.failedRequirements.join(' ')}`)].join('\n'),
    );
    const committedPath = join(ROOT, 'docs', 'conformance-mutants.json');
    if (process.env.MIP4_WRITE_MUTANT_TABLE === '1') {
      writeFileSync(committedPath, `${JSON.stringify(measured, null, 2)}\n`);
      console.log(`${committedPath} written; paste into README.md and docs/conformance.md:\n\n${mutantTableMarkdown(measured)}`);
    }

    expect(baseline!.report.checks.filter((c) => c.verdict === 'fail'), 'the unmutated home agent must pass').toEqual([]);
    expect(baseline!.exit).toBe(0);
    for (const row of table) {
      expect(row.exit, `${row.mutant} must fail the run`).toBe(1);
      expect(row.failedRequirements, `${row.mutant} must be reported by ${row.breaks}`).toContain(row.breaks);
    }
    // The committed table (quoted by the README) is this measurement's: same mutants, same verdicts.
    const committed = JSON.parse(readFileSync(committedPath, 'utf8')) as MutantTable;
    const verdicts = (rows: MutantTable['mutants']) => rows.map((r) => `${r.mutant} ${r.breaks} ${r.caught ? 'caught' : 'missed'}`);
    expect(verdicts(committed.mutants), 'docs/conformance-mutants.json is stale: regenerate it (MIP4_WRITE_MUTANT_TABLE=1)').toEqual(verdicts(table));
  }, 120_000);
});
