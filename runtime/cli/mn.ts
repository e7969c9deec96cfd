/** `mip4 mn`: a mobile node on a real interface (AF_PACKET), UDP and raw IP sockets. */
import { parseArgs } from 'node:util';
import { LinkError } from '../../io/link.js';
import { RawIpError } from '../../io/raw-ip.js';
import { UdpError } from '../../io/udp.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { watchCarrier } from '../../io/linux/carrier.js';
import { LinuxLinkLive } from '../../io/linux/packet.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { linuxMnHostLayer } from '../../io/linux/mn-host.js';
import { DEFAULT_STATE_DIRECTORY } from '../../io/linux/host-journal.js';
import { LinuxTunLive } from '../../io/linux/tun.js';
import { MnHostError } from '../../io/mn-host.js';
import { TunError } from '../../io/tun.js';
import { NodeUdpLive } from '../../io/node/udp.js';
import { RealClock } from '../../io/clock.js';
import { EXAMPLE_MOBILE_NODE_CONFIG, loadMobileNodeConfig } from '../config/mn-config.js';
import { startMobileNode, type MobileNodeState } from '../mn/mobile-node.js';
import { DAEMON_OPTIONS, daemonConfigPath, daemonSignals, startOrReport, ExitCode, loadConfigOrReport, parseOrUsage, reportPlaceholders, type Io, type Subcommand } from './args.js';
import { engineKindFromEnvironment } from '../actors/machine-engine.js';
import { startDaemonMetrics } from '../metrics/daemon.js';
import { mobileNodeMetrics } from '../metrics/registry.js';

const usage = `usage: mip4 mn --config <mn.yaml> [--state-dir <dir>] [--log-transitions]
       mip4 mn --example-config

Runs a Mobile IPv4 mobile node (RFC 5944 2.4, 3.6) on one Linux interface: it listens for
Agent Advertisements, solicits when none is heard, and registers with its home agent through
a foreign agent or with a co-located care-of address. Unless configureHost is false it also
configures the host for each attachment (home address, default router, neighbour entries,
ARP settings; a TUN device for co-located mode) and restores it on exit. Before each change
it records the original and the undo in a state file; a run that was killed leaves that file
behind, and the next start restores the host from it first (logged as host-recovered).
Needs root (AF_PACKET, raw sockets, ip).
Logs one JSON object per event on stdout. SIGUSR2 prints the node's state on stderr (SIGUSR1
is Node's debugger signal); SIGTERM or SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
  --state-dir <dir>    where the host's state files are kept (default ${DEFAULT_STATE_DIRECTORY})
  --log-transitions    also log every state change {actor, from, to, reason}
  --example-config     print a commented example configuration and exit
  -h, --help           this text

exit status: 0 stopped by a signal, 1 could not start (e.g. no such interface), 2 usage or config error`;

/** The node's state as `key: value` lines. */
export function stateText(state: MobileNodeState, counters: object): string {
  const lines = Object.entries({ ...state }).map(([k, v]) => `${k}: ${String(v)}`);
  return ['Mobile node', ...lines.map((l) => `  ${l}`), `  counters: ${JSON.stringify(counters)}`].join('\n');
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, options: { ...DAEMON_OPTIONS, 'state-dir': { type: 'string' } } }));
  const configPath = daemonConfigPath('mn', values, usage, EXAMPLE_MOBILE_NODE_CONFIG, io);
  if (typeof configPath === 'number') return configPath;

  const config = loadConfigOrReport('mn', configPath, loadMobileNodeConfig, io);
  if (config === undefined) return ExitCode.Usage;
  const placeholders: Array<[string, string | undefined]> = [
    ['mobileNode.interface', config.interfaceName],
    ['mobileNode.tunnelDevice', config.host?.tunnelDevice],
  ];
  if (reportPlaceholders('mn', configPath, placeholders, io)) return ExitCode.Usage;
  const log = (event: object) => io.out(JSON.stringify(event));
  const running = await startOrReport(
    'mn',
    () =>
      startMobileNode(config, {
        link: LinuxLinkLive,
        udp: NodeUdpLive,
        // Raw sockets: Requests with the source the node chooses (3.6.1.1), and tunnels ending at
        // the node with a co-located care-of address (1.7 b, 4.1).
        rawIp: LinuxRawIpLive,
        // The host follows each attachment (io/linux/mn-host.ts) unless configureHost is false;
        // decapsulated datagrams enter the host stack through a TUN device.
        // The host's originals and undo steps go to a state file first (io/linux/host-journal.ts).
        ...(config.host !== undefined
          ? { host: linuxMnHostLayer({ ...(values['state-dir'] !== undefined ? { stateDirectory: values['state-dir'] } : {}), onEvent: log }) }
          : {}),
        ...(config.host?.tunnelDevice !== undefined ? { tun: LinuxTunLive } : {}),
        clock: new RealClock(),
        autoStart: false,
      }),
    [LinkError, UdpError, RawIpError, MnHostError, TunError],
    io,
  );
  if (running === undefined) return ExitCode.Failure;
  const { node } = running;
  const metrics = await startDaemonMetrics('mn', config.metrics, () => mobileNodeMetrics({ node }), io.err);
  if (metrics === 'failed') {
    await running.stop();
    return ExitCode.Failure;
  }
  node.events.subscribe(log);
  if (values['log-transitions']) node.transitions.subscribe((t) => log({ ...t, event: 'transition', trigger: t.event }));
  const signals = daemonSignals(() => io.err(stateText(node.state(), node.counters)));
  log({
    event: 'started',
    interface: config.interfaceName,
    homeAddress: ipv4ToString(config.homeAddress),
    homeAgent: ipv4ToString(config.homeAgent),
    ...(config.colocated !== undefined ? { colocatedAddress: ipv4ToString(config.colocated.address) } : {}),
    configureHost: config.host !== undefined,
    ...(config.host?.tunnelDevice !== undefined ? { tunnelDevice: config.host.tunnelDevice } : {}),
    // Which step engine the actor hosts run (runtime/actors/README.md; MIP4_ENGINE).
    engine: engineKindFromEnvironment(),
    ...(metrics !== undefined ? { metrics: metrics.url } : {}),
    pid: process.pid,
  });
  node.start();
  // A carrier that drops and comes back: the node may be on another link now (R2.4-10).
  const carrier = watchCarrier(config.interfaceName, (up) => {
    log({ event: 'carrier', interface: config.interfaceName, up });
    if (up) node.linkChanged();
  });

  const signal = await signals.stop;
  carrier.stop();
  signals.dispose();
  const state = node.state();
  await metrics?.close();
  await running.stop();
  log({ event: 'stopped', signal, state, counters: node.counters });
  return ExitCode.Ok;
}

export const mnCommand: Subcommand = { name: 'mn', usage, run };
