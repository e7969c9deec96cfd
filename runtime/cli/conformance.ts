/**
 * `mip4 conformance`: wire-level conformance tests of a Mobile IPv4 agent, generated from
 * mip4's own machines and policies (runtime/cli/conformance/, docs/conformance.md). The home
 * agent mode sends the cases over UDP to ADDR:PORT and checks every Reply against what the
 * model predicts; the report names the RFC 5944 requirement of every check.
 */
import { parseArgs } from 'node:util';
import { ipv4ToString, parseIpv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { isLoopback } from '../../io/wire/ipv4-address.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';
import { agentConformanceCommand } from './conformance/agent-mode.js';
import { runHaConformance } from './conformance/ha-run.js';
import { ConfigError, EXAMPLE_CONFORMANCE_CONFIG, loadConformanceTarget } from './conformance/ha-target.js';
import { reportExitCode, reportTable } from './conformance/report.js';
import { packageVersion } from './version.js';

const usage = `usage: mip4 conformance --role ha --target ADDR:PORT --config FILE [options]
       mip4 conformance --example-config
       mip4 conformance --role fa|mn --agent '<command>' [options]   (mip4 conformance --role fa --help)

Tests a home agent against RFC 5944 on the wire: registrations, renewals, deregistrations,
simultaneous bindings, replays (timestamps and nonces), authentication failures, lifetime
limits, unknown extensions, flags, the Home Agent field and broadcast destinations. The cases
and the expected Replies come from mip4's own home agent model; every check names the
requirement id it verifies (docs/conformance.md).

options:
  --role ha            the agent under test (fa, mn: an agent the tool starts in namespaces)
  --target ADDR:PORT   where the home agent listens (port 434 by default)
  --config FILE        the target's addresses, mobile nodes and keys, limits and features
                       (YAML; --example-config prints one)
  --json               the report as JSON on stdout (default: a table)
  --allow-remote       allow a target that is not a loopback address (a lab network: the
                       cases register and deregister the configured nodes there)
  --from ADDR          local address to send from (default 127.0.0.1 for loopback targets)
  --timeout-ms N       how long a Reply may take (default 1000)
  --silence-ms N       how long to wait where the RFC says discard silently (default 500)
  --rate N             Requests per second, all nodes together (default 50, at most 1000)
  --max-duration S     stop after S seconds, reporting the rest as not run (default 120)
  --example-config     print a commented configuration for mip4 ha's example setup
  -h, --help           this text

exit status: 0 every mandatory (MUST) check passed, 1 a mandatory check failed,
             2 usage, configuration or setup error`;

function parseTarget(text: string): { address: Ipv4Address; port: number } {
  const [addressText, portText, ...rest] = text.split(':');
  const address = parseIpv4(addressText ?? '');
  const port = portText === undefined ? 434 : Number(portText);
  if (address === undefined || rest.length > 0 || portText === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--target ${JSON.stringify(text)}: expected an IPv4 address, optionally :PORT, e.g. 127.0.0.1:4434`);
  }
  return { address, port };
}

function bounded(option: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${option} ${JSON.stringify(text)}: expected a number from ${min} to ${max}`);
  return n;
}

/** The --role given, read before the options are parsed: fa and mn take other options. */
function roleArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--role') return argv[i + 1];
    if (argv[i]!.startsWith('--role=')) return argv[i]!.slice('--role='.length);
  }
  return undefined;
}

async function run(argv: string[], io: Io): Promise<number> {
  const role = roleArgument(argv);
  if (role === 'fa' || role === 'mn') return agentConformanceCommand(argv, io);
  const { values } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      options: {
        role: { type: 'string' },
        target: { type: 'string' },
        config: { type: 'string' },
        json: { type: 'boolean' },
        'allow-remote': { type: 'boolean' },
        from: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'silence-ms': { type: 'string' },
        rate: { type: 'string' },
        'max-duration': { type: 'string' },
        'example-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  if (values['example-config']) {
    io.out(EXAMPLE_CONFORMANCE_CONFIG);
    return ExitCode.Ok;
  }
  if (values.role !== 'ha') throw new UsageError(values.role === undefined ? '--role is required: ha, fa or mn' : `--role ${JSON.stringify(values.role)}: expected ha, fa or mn`);
  if (values.target === undefined) throw new UsageError('--target ADDR:PORT is required: where the home agent listens');
  if (values.config === undefined) throw new UsageError('--config FILE is required (mip4 conformance --example-config prints one)');
  const target = parseTarget(values.target);
  // Safety: the cases register, replay and deregister; by default only on this host.
  if (!isLoopback(target.address) && values['allow-remote'] !== true) {
    io.err(
      `mip4 conformance: --target ${ipv4ToString(target.address)} is not a loopback address; the cases register and deregister the configured nodes at the target. ` +
        'Run it against a lab home agent only, and say so with --allow-remote.',
    );
    return ExitCode.Usage;
  }
  const from = values.from !== undefined ? parseIpv4(values.from) : isLoopback(target.address) ? parseIpv4('127.0.0.1') : undefined;
  if (values.from !== undefined && from === undefined) throw new UsageError(`--from ${JSON.stringify(values.from)}: expected an IPv4 address`);
  const options = {
    target,
    ...(from !== undefined ? { from } : {}),
    timeoutMs: bounded('--timeout-ms', values['timeout-ms'], 1000, 10, 60_000),
    silenceMs: bounded('--silence-ms', values['silence-ms'], 500, 10, 60_000),
    rate: bounded('--rate', values.rate, 50, 0.1, 1000),
    maxDurationMs: bounded('--max-duration', values['max-duration'], 120, 1, 3600) * 1000,
    version: packageVersion(),
  };
  let config;
  try {
    config = loadConformanceTarget(values.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`mip4 conformance: ${values.config}:\n${error.message}`);
      return ExitCode.Usage;
    }
    throw error;
  }
  let report;
  try {
    report = await runHaConformance(config, options);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    io.err(`mip4 conformance: cannot run against ${values.target}: ${e.code !== undefined ? `${e.code} ` : ''}${e.message}`);
    return ExitCode.Usage;
  }
  io.out(values.json ? JSON.stringify(report, null, 2) : reportTable(report));
  return reportExitCode(report);
}

export const conformanceCommand: Subcommand = { name: 'conformance', usage, run };
