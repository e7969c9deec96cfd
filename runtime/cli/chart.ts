/** `mip4 chart`: a machine's state chart, generated from the machine, as Mermaid, JSON or SVG. */
import { parseArgs } from 'node:util';
import { layoutChart } from '../inspector/chart-layout.js';
import { layoutToSvg } from '../inspector/chart-svg.js';
import { CHARTED_MACHINES } from '../inspector/charts.js';
import { chartToMermaid, machineChart } from '../inspector/machine-chart.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const FORMATS = ['mermaid', 'json', 'svg'];

const usage = `usage: mip4 chart <machine> [--format mermaid|json|svg]

Prints a machine's state chart, generated from the xstate machine itself: states, and
transitions with their event, guard and named reason. Paste Mermaid output into any Mermaid
renderer (e.g. a Markdown file on a forge, or mermaid.live); SVG is laid out by ELK, the same
drawing the live inspector (--inspect) shows.

machines:
${Object.entries(CHARTED_MACHINES)
  .map(([name, m]) => `  ${name.padEnd(16)} ${m.describe}`)
  .join('\n')}

options:
  --format <f>   mermaid (default), json or svg
  -h, --help     this text`;

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOrUsage(() =>
    parseArgs({ args: argv, allowPositionals: true, options: { format: { type: 'string', default: 'mermaid' }, help: { type: 'boolean', short: 'h' } } }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new UsageError('name exactly one machine');
  const entry = CHARTED_MACHINES[name];
  if (!entry) throw new UsageError(`unknown machine '${name}'; known: ${Object.keys(CHARTED_MACHINES).join(', ')}`);
  if (!FORMATS.includes(values.format)) throw new UsageError(`--format must be mermaid, json or svg, not ${values.format}`);
  const chart = machineChart(await entry.load());
  if (values.format === 'json') io.out(JSON.stringify(chart, null, 2));
  else if (values.format === 'svg') io.out(layoutToSvg(await layoutChart(chart)));
  else io.out(chartToMermaid(chart));
  return ExitCode.Ok;
}

export const chartCommand: Subcommand = { name: 'chart', usage, run };
