/** `mip4 ha`: a home agent on real UDP sockets, configured from a YAML file. */
import { parseArgs } from 'node:util';
import { ipv4ToString, parseIpv4 } from '../../io/wire/bytes.js';
import { UdpError } from '../../io/udp.js';
import { EXAMPLE_HOME_AGENT_CONFIG, loadHomeAgentConfig } from '../config.js';
import type { BindingView } from '../home-agent.js';
import { startHomeAgent, type ListenAddress } from '../home-agent-server.js';
import { daemonSignals, ExitCode, loadConfigOrReport, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const usage = `usage: mip4 ha --config <ha.yaml> [--listen ADDR:PORT ...] [--log-transitions]
       mip4 ha --example-config

Runs a Mobile IPv4 home agent (RFC 5944 3.8) on UDP. Logs one JSON object per event on
stdout (replies with their code, discards with their reason, each with a trace id).
With a dataPath section (Linux, root) it also tunnels the datagrams for its mobile nodes
away from home and answers ARP for them on the home interface (4.2.3, 4.6).
SIGUSR2 prints the mobility bindings as a table on stderr, and the data path's counters
(SIGUSR1 is Node's debugger signal); SIGTERM or SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
  --listen ADDR:PORT   listen here instead of the file's homeAgent.listen (repeatable);
                       port 434 needs root, any port works for tests (127.0.0.1:4434)
  --log-transitions    also log every binding state change {actor, from, to, reason}
  --example-config     print a commented example configuration and exit
  -h, --help           this text

exit status: 0 stopped by a signal, 1 could not start (a socket, the data path), 2 usage or config error`;

function parseListen(text: string): ListenAddress {
  const [address, port, ...rest] = text.split(':');
  const a = address === undefined ? undefined : parseIpv4(address);
  const p = Number(port);
  if (a === undefined || !Number.isInteger(p) || p < 0 || p > 65535 || rest.length > 0) {
    throw new UsageError(`--listen ${JSON.stringify(text)}: expected ADDRESS:PORT, e.g. 127.0.0.1:4434`);
  }
  return { address: a, port: p };
}

/** The bindings as `show mobile-ip bindings` would print them. */
export function bindingsTable(bindings: readonly BindingView[]): string {
  const header = ['Home address', 'Care-of address', 'Lifetime', 'Remaining', 'Encap', 'Flags', 'Identification', 'Relayed by'];
  const rows = bindings.map((b) => [
    b.homeAddress,
    b.careOfAddress,
    b.lifetime === 0xffff ? 'infinite' : String(b.lifetime),
    b.remaining === 0xffff ? 'infinite' : String(b.remaining),
    b.encapsulation,
    b.flags || '-',
    b.identification,
    b.relayedBy ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`Mobility bindings: ${bindings.length}`, line(header), ...rows.map(line)].join('\n');
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        listen: { type: 'string', multiple: true },
        'log-transitions': { type: 'boolean' },
        'example-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  if (values['example-config']) {
    io.out(EXAMPLE_HOME_AGENT_CONFIG);
    return ExitCode.Ok;
  }
  if (values.config === undefined) throw new UsageError('--config is required (mip4 ha --example-config prints one)');
  const listenOverride = values.listen?.map(parseListen);

  const loaded = loadConfigOrReport('ha', values.config, loadHomeAgentConfig, io);
  if (loaded === undefined) return ExitCode.Usage;
  const log = (event: object) => io.out(JSON.stringify(event));
  let running;
  try {
    running = await startHomeAgent(loaded.config, {
      listen: listenOverride ?? loaded.listen,
      ...(loaded.dataPath !== undefined ? { dataPath: loaded.dataPath } : {}),
    });
  } catch (error) {
    if (error instanceof UdpError || (error instanceof Error && error.name === 'DataPathStartError')) {
      io.err(`mip4 ha: ${error.message}`);
      return ExitCode.Failure;
    }
    throw error;
  }
  const { agent, dataPath } = running;
  agent.events.subscribe(log);
  if (dataPath === undefined) {
    agent.arpCommands.subscribe((command) =>
      log({ event: 'arp', ...command, homeAddress: ipv4ToString(command.homeAddress), executed: false, note: 'no dataPath section: no home link attached to this process' }),
    );
  } else {
    dataPath.path.homeLink?.events.subscribe(log);
    dataPath.events.subscribe(log);
  }
  if (values['log-transitions']) agent.transitions.subscribe((t) => log({ ...t, event: 'transition', trigger: t.event }));
  const signals = daemonSignals(() => {
    io.err(bindingsTable(agent.bindings()));
    if (dataPath !== undefined) io.err(`Data path: ${JSON.stringify(dataPath.snapshot())}`);
  });
  if (dataPath !== undefined) {
    log({
      event: 'data-path-up',
      tunnelDevice: dataPath.tunnelDevice,
      homeInterface: dataPath.homeInterface,
      routeTable: loaded.dataPath?.routeTable ?? 254,
    });
  }
  log({
    event: 'listening',
    endpoints: running.sockets.map((s) => `${ipv4ToString(s.localAddress)}:${s.localPort}`),
    mobileNodes: loaded.config.mobileNodes.length,
    foreignAgents: loaded.config.foreignAgents.length,
    pid: process.pid,
  });

  const signal = await signals.stop;
  signals.dispose();
  const bindings = agent.bindingCount;
  await running.stop();
  log({ event: 'stopped', signal, bindings, counters: agent.counters, ...(dataPath !== undefined ? { dataPath: dataPath.snapshot() } : {}) });
  return ExitCode.Ok;
}

export const haCommand: Subcommand = { name: 'ha', usage, run };
