/** `mip4 fa`: a foreign agent on a real link, UDP and raw IP sockets, configured from a YAML file. */
import { StoreError } from '../store/binding-store.js';
import { openStoreOrReport, storeErrorEvent, storeRestoredEvent } from './daemon-store.js';
import { parseArgs } from 'node:util';
import { LinkError } from '../../io/link.js';
import { LinuxLinkLive } from '../../io/linux/packet.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { RawIpError } from '../../io/raw-ip.js';
import { UdpError } from '../../io/udp.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { EXAMPLE_FOREIGN_AGENT_CONFIG, loadForeignAgentConfig } from '../config/fa-config.js';
import { startForeignAgent, type VisitorView } from '../fa/foreign-agent.js';
import { resolveUdp, udpLayer } from '../udp-layer.js';
import {
  DAEMON_OPTIONS,
  daemonConfigPath,
  daemonSignals,
  startOrReport,
  ExitCode,
  loadConfigOrReport,
  parseOrUsage,
  UDP_OPTION,
  UDP_OPTION_USAGE,
  udpChoice,
  reportPlaceholders,
  udpChoiceProblem,
  type Io,
  type Subcommand,
} from './args.js';
import { engineKindFromEnvironment } from '../actors/machine-engine.js';

const usage = `usage: mip4 fa --config <fa.yaml> [--udp auto|native|dgram] [--log-transitions]
       mip4 fa --example-config

Runs a Mobile IPv4 foreign agent (RFC 5944 3.7) on a network interface: sends Agent
Advertisements there, relays Registration Requests and Replies, and delivers tunnelled
datagrams to its visitors. Needs root (packet and raw sockets, UDP port 434). Logs one JSON
object per event on stdout (relays, denials with their code, discards with their reason,
advertisements, each with a trace id). SIGUSR2 prints the visitor list as a table on stderr
(SIGUSR1 is Node's debugger signal); SIGTERM or SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
${UDP_OPTION_USAGE}
  --log-transitions    also log every state change {actor, from, to, reason}
  --example-config     print a commented example configuration and exit
  -h, --help           this text

exit status: 0 stopped by a signal, 1 could not start (e.g. a socket or the interface),
             2 usage or config error`;

/** The visitor list (3.7.1) as `show mobile-ip visitors` would print it. */
export function visitorsTable(visitors: readonly VisitorView[]): string {
  const header = ['Home address', 'State', 'Link-layer address', 'Care-of address', 'Home agent', 'Lifetime', 'Remaining', 'Identification'];
  const seconds = (n: number | undefined) => (n === undefined ? '-' : n === 0xffff ? 'infinite' : String(n));
  const rows = visitors.map((v) => [
    v.nai === undefined ? v.homeAddress : `${v.homeAddress} (${v.nai})`,
    v.renewalPending ? `${v.state} (renewal pending)` : v.state,
    v.linkLayerAddress ?? '-',
    v.careOfAddress ?? '-',
    v.homeAgent ?? '-',
    seconds(v.lifetime),
    seconds(v.remaining),
    v.identification ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`Visitors: ${visitors.length}`, line(header), ...rows.map(line)].join('\n');
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, options: { ...DAEMON_OPTIONS, ...UDP_OPTION } }));
  const configPath = daemonConfigPath('fa', values, usage, EXAMPLE_FOREIGN_AGENT_CONFIG, io);
  if (typeof configPath === 'number') return configPath;
  const udp = udpChoice(values.udp);

  const loaded = loadConfigOrReport('fa', configPath, loadForeignAgentConfig, io);
  if (loaded === undefined) return ExitCode.Usage;
  if (reportPlaceholders('fa', configPath, [['foreignAgent.interface', loaded.interfaceName]], io)) return ExitCode.Usage;
  const udpProblem = udpChoiceProblem(udp);
  if (udpProblem !== undefined) {
    io.err(`mip4 fa: ${udpProblem}`);
    return ExitCode.Failure;
  }
  const log = (event: object) => io.out(JSON.stringify(event));
  const layer = await udpLayer(udp);
  const store = await openStoreOrReport('fa', loaded.store, io, log);
  if (store === 'failed') return ExitCode.Failure;
  const running = await startOrReport(
    'fa',
    () =>
      startForeignAgent(loaded.config, {
        interfaceName: loaded.interfaceName,
        udp: layer,
        link: LinuxLinkLive,
        rawIp: LinuxRawIpLive,
        ...(store !== undefined ? { store, onStoreError: (error: unknown) => log(storeErrorEvent(error, 0)) } : {}),
      }),
    [UdpError, LinkError, RawIpError, StoreError],
    io,
  );
  if (running === undefined) return ExitCode.Failure;
  const { agent } = running;
  if (running.restored !== undefined && loaded.store !== undefined && store !== undefined) log(storeRestoredEvent(store, loaded.store, running.restored, 'visitors'));
  agent.events.subscribe(log);
  if (values['log-transitions']) agent.transitions.subscribe((t) => log({ ...t, event: 'transition', trigger: t.event }));
  const signals = daemonSignals(() => io.err(visitorsTable(agent.visitors())));
  const { settings } = loaded.config;
  log({
    event: 'listening',
    interface: loaded.interfaceName,
    address: ipv4ToString(settings.linkAddress),
    careOfAddresses: settings.careOfAddresses.map(ipv4ToString),
    endpoints: running.sockets.map((s) => `${ipv4ToString(s.localAddress)}:${s.localPort}`),
    udp: resolveUdp(udp),
    mobileNodes: loaded.config.mobileNodes.length,
    homeAgents: loaded.config.homeAgents.length,
    // Which step engine the actor hosts run (runtime/actors/README.md; MIP4_ENGINE).
    engine: engineKindFromEnvironment(),
    pid: process.pid,
  });

  const signal = await signals.stop;
  signals.dispose();
  const visitors = agent.visitors().length;
  await running.stop();
  log({ event: 'stopped', signal, visitors, counters: agent.counters });
  return ExitCode.Ok;
}

export const faCommand: Subcommand = { name: 'fa', usage, run };
