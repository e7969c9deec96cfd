/**
 * Independent checks of a metrics exposition: Prometheus text through `promtool check metrics`
 * (Debian package prometheus), OpenMetrics through the Python client's strict OpenMetrics
 * parser (Debian package python3-prometheus-client). A test that needs one and lacks it skips,
 * naming the package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { missingTools } from './tools.js';

/** Why promtool cannot run here, or undefined. */
export function promtoolMissing(): string | undefined {
  return missingTools('promtool') === undefined ? undefined : 'promtool is not installed (apt-get install prometheus; CI installs it)';
}

/** `promtool check metrics` on the text: its exit status and what it said (lint findings, parse errors). */
export function promtoolCheck(text: string): { readonly status: number | null; readonly output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const PARSE_OPENMETRICS = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({"name": family.name, "type": family.type, "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))} for s in family.samples]})
print(json.dumps(families))
`;

/** The first Python that has the OpenMetrics parser (Debian's /usr/bin/python3 before a PATH one). */
function pythonWithParser(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const probe = spawnSync(python, ['-c', 'import prometheus_client.openmetrics.parser'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.status === 0) return python;
  }
  return undefined;
}

const python = pythonWithParser();

/** Why the OpenMetrics parser cannot run here, or undefined. */
export function openMetricsParserMissing(): string | undefined {
  return python === undefined ? 'the OpenMetrics parser is not installed (apt-get install python3-prometheus-client; CI installs it)' : undefined;
}

export interface ParsedFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: ReadonlyArray<{ readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }>;
}

/** Parses OpenMetrics text strictly; throws with the parser's complaint when it is not valid. */
export function parseOpenMetrics(text: string): ParsedFamily[] {
  if (python === undefined) throw new Error(openMetricsParserMissing());
  const run = spawnSync(python, ['-c', PARSE_OPENMETRICS], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`not valid OpenMetrics: ${run.stderr.trim().split('\n').at(-1)}`);
  // Values travel as Python's repr (nan and inf are not JSON).
  const families = JSON.parse(run.stdout) as Array<Omit<ParsedFamily, 'samples'> & { samples: Array<{ name: string; labels: Record<string, string>; value: string }> }>;
  const number = (text: string) => (text === 'inf' ? Infinity : text === '-inf' ? -Infinity : text === 'nan' ? NaN : Number(text));
  return families.map((f) => ({ ...f, samples: f.samples.map((s) => ({ ...s, value: number(s.value) })) }));
}

/** One sample line of the Prometheus text format, parsed simply (names, labels without escapes, value). */
export interface TextSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (what these tests need to read values back). */
export function textSamples(text: string): TextSample[] {
  const samples: TextSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(samples: readonly TextSample[], name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
