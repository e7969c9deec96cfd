/**
 * What every part of `npm run bench` reports: figures with their repetitions summarised as
 * min / median / max, the baseline measured in the same run, the ratio per repetition, and
 * the bar with whether it is met. Printed as a table and written as JSON.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';

export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]!, n: sorted.length };
}

export interface Bar {
  /** The bar in words, e.g. "≥ 30,000 reg/s". */
  readonly text: string;
  /** Judged on the median; undefined when the figure was not measured. */
  readonly met: boolean | undefined;
}

export interface Figure {
  readonly part: string;
  readonly name: string;
  readonly unit: string;
  readonly values: readonly number[];
  readonly spread: Spread;
  /** The same measurement of the baseline, in the same run. */
  readonly baseline?: { readonly name: string; readonly values: readonly number[]; readonly spread: Spread };
  /** figure / baseline per repetition. */
  readonly ratio?: Spread;
  readonly bar?: Bar;
  /** Why a figure is missing, or what to know when reading it. */
  readonly note?: string;
}

export interface FigureInput {
  readonly name: string;
  readonly unit: string;
  readonly values: readonly number[];
  readonly baseline?: { readonly name: string; readonly values: readonly number[] };
  /** A bar on the median of the figure (or of the ratio when `onRatio`). */
  readonly bar?: { readonly text: string; readonly test: (median: number) => boolean; readonly onRatio?: boolean };
  readonly note?: string;
}

export class Report {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  readonly raw: Record<string, unknown> = {};

  constructor(readonly part: string) {}

  add(input: FigureInput): Figure {
    const s = spread(input.values.filter(Number.isFinite));
    const baseline = input.baseline && { name: input.baseline.name, values: input.baseline.values, spread: spread(input.baseline.values.filter(Number.isFinite)) };
    const ratios = baseline ? input.values.map((v, i) => v / (input.baseline!.values[i] ?? NaN)).filter(Number.isFinite) : undefined;
    const ratio = ratios && ratios.length > 0 ? spread(ratios) : undefined;
    let bar: Bar | undefined;
    if (input.bar) {
      const judged = input.bar.onRatio ? ratio?.median : s.n > 0 ? s.median : undefined;
      bar = { text: input.bar.text, met: judged === undefined || !Number.isFinite(judged) ? undefined : input.bar.test(judged) };
    }
    const figure: Figure = {
      part: this.part,
      name: input.name,
      unit: input.unit,
      values: input.values,
      spread: s,
      ...(baseline ? { baseline } : {}),
      ...(ratio ? { ratio } : {}),
      ...(bar ? { bar } : {}),
      ...(input.note ? { note: input.note } : {}),
    };
    this.figures.push(figure);
    return figure;
  }

  /** A figure that could not be measured, with the reason. */
  missing(name: string, unit: string, note: string, barText?: string): void {
    this.figures.push({ part: this.part, name, unit, values: [], spread: spread([]), note, ...(barText ? { bar: { text: barText, met: undefined } } : {}) });
  }

  note(text: string): void {
    this.notes.push(text);
  }
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  if (a === 0) return '0';
  return n.toPrecision(2);
}

const triple = (s: Spread): string => (s.n === 0 ? 'not measured' : `${formatNumber(s.min)} / ${formatNumber(s.median)} / ${formatNumber(s.max)}`);

/** The terminal table: one row per figure, then the notes. */
export function formatTable(reports: readonly Report[]): string {
  const header = ['part', 'figure', 'min / median / max', 'unit', 'baseline (median)', '÷ baseline min / med / max', 'bar'];
  const rows: string[][] = [];
  for (const report of reports) {
    for (const f of report.figures) {
      rows.push([
        f.part,
        f.name,
        triple(f.spread),
        f.unit,
        f.baseline ? `${formatNumber(f.baseline.spread.median)} ${f.baseline.name}` : '',
        f.ratio ? `${f.ratio.min.toFixed(2)} / ${f.ratio.median.toFixed(2)} / ${f.ratio.max.toFixed(2)}` : '',
        f.bar ? `${f.bar.met === undefined ? '?' : f.bar.met ? 'met' : 'NOT met'} (${f.bar.text})` : '',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const notes = reports.flatMap((r) => [...r.figures.filter((f) => f.note).map((f) => `${f.part} ${f.name}: ${f.note}`), ...r.notes.map((n) => `${r.part}: ${n}`)]);
  if (notes.length > 0) out.push('', 'notes:', ...notes.map((n) => `  - ${n}`));
  return out.join('\n');
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly loadAverageAtStart: number[];
  readonly commit?: string;
}

export function describeMachine(root: string): Machine {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    commit = undefined;
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    ...(commit ? { commit } : {}),
  };
}
