/**
 * The verdict of `mip4 conformance`, whatever the role under test: one check per thing a case
 * verifies, each naming the RFC requirement ids (../../../docs/conformance.md; the ids are those
 * of the requirements table, `R3.8.2.1-13`) and the requirement's level. The report is printed as
 * JSON (`--json`) or as a table, and its exit code is non-zero when any MUST (or MUST NOT,
 * SHALL...) check failed. Pure: no IO.
 */

/** The level of an RFC 2119 requirement, as the requirements table names it. */
export type RequirementLevel = 'MUST' | 'MUST NOT' | 'SHALL' | 'SHALL NOT' | 'REQUIRED' | 'SHOULD' | 'SHOULD NOT' | 'RECOMMENDED' | 'MAY' | 'OPTIONAL';

/** Levels whose failure fails the run. */
const MANDATORY: ReadonlySet<RequirementLevel> = new Set(['MUST', 'MUST NOT', 'SHALL', 'SHALL NOT', 'REQUIRED']);

export const isMandatory = (level: RequirementLevel): boolean => MANDATORY.has(level);

export type CheckVerdict = 'pass' | 'fail' | 'not-applicable';

/** One verified property of one case: what the model predicts against what the target did. */
export interface ConformanceCheck {
  /** The case it belongs to, e.g. `renewal/same-care-of` or `replay/timestamp-stale`. */
  readonly caseId: string;
  /** What is checked, in words: "Reply code", "Reply from the address the Request was sent to". */
  readonly what: string;
  /** The requirement ids this check verifies (at least one). */
  readonly requirements: readonly string[];
  /** The strongest level among them. */
  readonly level: RequirementLevel;
  readonly verdict: CheckVerdict;
  /** The model's prediction and what was seen, as short texts ("code 133", "silence", "lifetime ≤ 600"). */
  readonly expected: string;
  readonly observed: string;
  /** Why not applicable, or more about a failure. */
  readonly detail?: string;
}

/** What the generated cases covered. */
export interface ConformanceCoverage {
  /** Machine transitions (`machine: from → to on event`) the cases drove, against all of that machine's. */
  readonly transitions: { readonly covered: readonly string[]; readonly total: number };
  /** Requirement ids checked at least once (pass or fail). */
  readonly requirements: readonly string[];
}

export interface ConformanceReport {
  readonly tool: 'mip4 conformance';
  readonly version: string;
  readonly role: 'ha' | 'fa' | 'mn';
  /** `ADDR:PORT` for the home agent mode; the agent command for the others. */
  readonly target: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly cases: number;
  readonly checks: readonly ConformanceCheck[];
  readonly coverage: ConformanceCoverage;
  readonly summary: {
    readonly pass: number;
    readonly fail: number;
    readonly notApplicable: number;
    /** Failed checks of a mandatory level: any makes the exit code 1. */
    readonly mandatoryFailures: number;
    /** Requirement ids with at least one failed check, sorted. */
    readonly failedRequirements: readonly string[];
  };
}

export function summarize(checks: readonly ConformanceCheck[]): ConformanceReport['summary'] {
  const failed = checks.filter((c) => c.verdict === 'fail');
  return {
    pass: checks.filter((c) => c.verdict === 'pass').length,
    fail: failed.length,
    notApplicable: checks.filter((c) => c.verdict === 'not-applicable').length,
    mandatoryFailures: failed.filter((c) => isMandatory(c.level)).length,
    failedRequirements: [...new Set(failed.flatMap((c) => c.requirements))].sort(compareRequirementIds),
  };
}

/** 0 when no mandatory check failed, 1 otherwise (2 stays the CLI's usage or setup error). */
export const reportExitCode = (report: ConformanceReport): 0 | 1 => (report.summary.mandatoryFailures > 0 ? 1 : 0);

/** R3.8.2.1-13 before R3.8.2.1-2 is wrong: compare the section numbers and the index as numbers. */
export function compareRequirementIds(a: string, b: string): number {
  const parts = (id: string) => id.replace(/^R/, '').split(/[.-]/).map((p) => Number(p));
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** The report as a table an operator reads: failures first, then the rest by case; a summary line. */
export function reportTable(report: ConformanceReport): string {
  const order: Record<CheckVerdict, number> = { fail: 0, pass: 1, 'not-applicable': 2 };
  const rows = [...report.checks].sort((a, b) => order[a.verdict] - order[b.verdict] || a.caseId.localeCompare(b.caseId));
  const header = ['VERDICT', 'LEVEL', 'REQUIREMENTS', 'CASE', 'CHECK', 'EXPECTED', 'OBSERVED'];
  const cells = rows.map((c) => [c.verdict.toUpperCase(), c.level, c.requirements.join(' '), c.caseId, c.what, c.expected, c.observed]);
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...cells.map((row) => row[i]!.length))));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (cell.length > widths[i]! ? `${cell.slice(0, widths[i]! - 1)}…` : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const s = report.summary;
  const coverage = report.coverage;
  return [
    line(header),
    ...cells.map(line),
    '',
    `${report.role} ${report.target}: ${report.cases} cases, ${report.checks.length} checks: ${s.pass} pass, ${s.fail} fail (${s.mandatoryFailures} mandatory), ${s.notApplicable} not applicable`,
    `covered ${coverage.transitions.covered.length}/${coverage.transitions.total} machine transitions, ${coverage.requirements.length} requirement ids`,
    s.failedRequirements.length > 0 ? `failed requirements: ${s.failedRequirements.join(' ')}` : 'no requirement failed',
  ].join('\n');
}
