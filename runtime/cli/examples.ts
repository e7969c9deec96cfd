/** `mip4 examples`: the Appendix G messages, built, authenticated, decoded back and printed. */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { toHex } from '../../io/wire/bytes.js';
import { encodePcap, LinkType } from '../../io/wire/pcap.js';
import { appendixGExamples, exampleKeys } from './example-messages.js';
import { inspectMessage, type KeyTable } from './inspect.js';
import { ExitCode, parseOrUsage, type Io, type Subcommand } from './args.js';

const usage = `usage: mip4 examples [--json] [--pcap <out.pcap>]

Builds the example messages of RFC 5944 Appendix G (an Agent Solicitation, a foreign agent's
Agent Advertisement, a Registration Request with NAI, MHAE and MFAE, and the home agent's
Reply), authenticates them with demonstration keys, decodes them back and prints them.

options:
  --json               one JSON object per message, nothing else
  --pcap <path>        also write the messages as Ethernet frames to a pcap capture
  -h, --help           this text`;

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({ args: argv, options: { json: { type: 'boolean' }, pcap: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  const keys: KeyTable = new Map(Object.values(exampleKeys).map((k) => [k.spi, { algorithm: k.algorithm, key: k.key }]));
  const examples = appendixGExamples();
  let failed = false;
  for (const example of examples) {
    const inspected = inspectMessage(example.message, 'auto', keys);
    failed ||= !inspected.ok;
    if (values.json) {
      io.out(JSON.stringify(inspected.json));
      continue;
    }
    io.out(`== ${example.section} ${example.title} (${example.message.length} bytes) ==`);
    io.out(toHex(example.message));
    io.out(JSON.stringify(inspected.json, null, 2));
    io.out('');
  }
  if (values.pcap !== undefined) {
    const start = Date.UTC(2026, 0, 1) * 1000;
    await writeFile(values.pcap, encodePcap(LinkType.Ethernet, examples.map((e, i) => ({ timestampUs: start + i * 1000, data: e.frame }))));
    io.err(`wrote ${examples.length} frames to ${values.pcap}`);
  }
  return failed ? ExitCode.Failure : ExitCode.Ok;
}

export const examplesCommand: Subcommand = {
  name: 'examples',
  usage,
  run,
};
