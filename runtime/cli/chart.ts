/** `mip4 chart`: a machine's state chart, generated from the machine, as Mermaid or JSON. */
import { parseArgs } from 'node:util';
import type { AnyStateMachine } from 'xstate';
import { chartToMermaid, machineChart } from './machine-chart.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const machines: Record<string, { readonly describe: string; readonly load: () => Promise<AnyStateMachine> }> = {
  ha: { describe: "the home agent's mobility binding (RFC 5944 3.8)", load: async () => (await import('../../machines/binding.js')).bindingMachine },
  'fa-visitor': { describe: "a foreign agent's visitor entry (3.7)", load: async () => (await import('../../machines/visitor.js')).visitorMachine },
  'fa-pending': {
    describe: "a foreign agent's pending registration (3.7.1, code 78)",
    load: async () => (await import('../../machines/fa-pending.js')).faPendingMachine,
  },
  'fa-advertiser': {
    describe: "a foreign agent's agent advertisements (2.3)",
    load: async () => (await import('../../machines/advertiser.js')).advertiserMachine,
  },
  'mn-discovery': {
    describe: "a mobile node's agent discovery and move detection (2.4)",
    load: async () => (await import('../../machines/mn-discovery.js')).mnDiscoveryMachine,
  },
  'mn-registration': {
    describe: "a mobile node's pending registration (3.6)",
    load: async () => (await import('../../machines/mn-registration.js')).mnRegistrationMachine,
  },
};

const usage = `usage: mip4 chart <machine> [--format mermaid|json]

Prints a machine's state chart, generated from the xstate machine itself: states, and
transitions with their event, guard and named reason. Paste Mermaid output into any Mermaid
renderer (e.g. a Markdown file on a forge, or mermaid.live).

machines:
${Object.entries(machines)
  .map(([name, m]) => `  ${name.padEnd(16)} ${m.describe}`)
  .join('\n')}

options:
  --format <f>   mermaid (default) or json
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
  const entry = machines[name];
  if (!entry) throw new UsageError(`unknown machine '${name}'; known: ${Object.keys(machines).join(', ')}`);
  if (values.format !== 'mermaid' && values.format !== 'json') throw new UsageError(`--format must be mermaid or json, not ${values.format}`);
  const chart = machineChart(await entry.load());
  io.out(values.format === 'json' ? JSON.stringify(chart, null, 2) : chartToMermaid(chart));
  return ExitCode.Ok;
}

export const chartCommand: Subcommand = { name: 'chart', usage, run };
