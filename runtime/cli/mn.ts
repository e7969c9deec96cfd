/** `mip4 mn`: a mobile node on a real interface (AF_PACKET), UDP and raw IP sockets. */
import { parseArgs } from 'node:util';
import { LinkError } from '../../io/link.js';
import { RawIpError } from '../../io/raw-ip.js';
import { UdpError } from '../../io/udp.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { followKernelEvents } from '../mn/kernel-events.js';
import { LinuxLinkEventsLive } from '../../io/linux/link-events.js';
import { LinuxLinkLive } from '../../io/linux/packet.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { linuxMnHostLayer } from '../../io/linux/mn-host.js';
import { DEFAULT_STATE_DIRECTORY } from '../../io/linux/host-journal.js';
import { LinuxTunLive } from '../../io/linux/tun.js';
import { MnHostError } from '../../io/mn-host.js';
import { TunError } from '../../io/tun.js';
import { LinuxUdpLive } from '../../io/linux/udp.js';
import { RealClock } from '../../io/clock.js';
import { EXAMPLE_MOBILE_NODE_CONFIG, loadMobileNodeConfig } from '../config/mn-config.js';
import { startMobileNode, type MobileNodeState } from '../mn/mobile-node.js';
import { DAEMON_OPTIONS, daemonConfigPath, daemonSignals, startOrReport, ExitCode, loadConfigOrReport, parseOrUsage, reportPlaceholders, type Io, type Subcommand } from './args.js';
import { engineKindFromEnvironment } from '../actors/machine-engine.js';
import { OperatorLog } from './operator-log.js';
import { chooseLogLevel, OPS_OPTIONS_USAGE, runCheckConfig } from './daemon-ops.js';
import { mobileNodePlaceholders, mobileNodeReload } from './mn-ops.js';
import { closeDaemonControl, controlUnavailableEvent, openDaemonControl } from '../control/daemon-control.js';
import { registerMobileNodeCommands } from '../control/daemon-commands.js';
import { reportNativeHelperMissing } from './native-helper.js';
import { startDaemonMetrics } from '../metrics/daemon.js';
import { inspectListen, startDaemonInspector } from './inspect-option.js';
import { mobileNodeMetrics } from '../metrics/registry.js';

import { bpfAvailability } from '../../io/linux/bpf.js';
import { openMobileNodeFastPath, type LinuxMobileNodeFastPath } from '../../io/linux/mn-fast-path.js';
import { chooseDataPathEngine } from '../../policies/data-path-engine.js';
import type { DataPathEngineStatus } from '../control/daemon-commands.js';
import { ColocatedFastPathDriver } from '../mn/colocated-fast-path.js';

const usage = `usage: mip4 mn --config <mn.yaml> [--state-dir <dir>] [--log-level LEVEL] [--log-transitions]
       mip4 mn --check-config <mn.yaml>
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
is Node's debugger signal); SIGHUP only checks the file and logs it (a new configuration
applies at a restart); SIGTERM or SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
  --state-dir <dir>    where the host's state files are kept (default ${DEFAULT_STATE_DIRECTORY})
${OPS_OPTIONS_USAGE}
  --log-transitions    also log every state change {actor, from, to, reason} (at info; else debug)
  --example-config     print a commented example configuration and exit
  -h, --help           this text

exit status: 0 stopped by a signal, 1 could not start (e.g. no such interface), 2 usage or config error`;

/** The node's state as `key: value` lines. */
export function stateText(state: MobileNodeState, counters: object): string {
  const lines = Object.entries({ ...state }).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return ['Mobile node', ...lines.map((l) => `  ${l}`), `  counters: ${JSON.stringify(counters)}`].join('\n');
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, options: { ...DAEMON_OPTIONS, 'state-dir': { type: 'string' } } }));
  const toCheck = values['check-config'];
  if (toCheck !== undefined) return runCheckConfig('mn', toCheck, loadMobileNodeConfig, mobileNodePlaceholders, io);
  const inspectAt = inspectListen(values);
  const configPath = daemonConfigPath('mn', values, usage, EXAMPLE_MOBILE_NODE_CONFIG, io);
  if (typeof configPath === 'number') return configPath;

  const config = loadConfigOrReport('mn', configPath, loadMobileNodeConfig, io);
  if (config === undefined) return ExitCode.Usage;
  if (reportPlaceholders('mn', configPath, mobileNodePlaceholders(config), io)) return ExitCode.Usage;
  if (reportNativeHelperMissing('mn', io)) return ExitCode.Failure;
  // Issue 17: bpf, userspace or auto, decided once from what this host and process allow.
  const engineChoice = chooseDataPathEngine(config.dataPathEngine, bpfAvailability());
  if (!engineChoice.ok) {
    io.err(`mip4 mn: ${engineChoice.reason}`);
    return ExitCode.Failure;
  }
  const operatorLog = new OperatorLog({ write: io.out, level: chooseLogLevel(values['log-level'], config.logLevel) });
  const log = (event: object) => operatorLog.log(event);
  const control = await openDaemonControl('mn', config.control);
  if (control.kind === 'failed') {
    io.err(`mip4 mn: ${control.message}`);
    return ExitCode.Failure;
  }
  let fastPath: LinuxMobileNodeFastPath | undefined;
  if (engineChoice.engine === 'bpf') {
    try {
      fastPath = openMobileNodeFastPath({ interfaceName: config.interfaceName, onError: (message) => log({ event: 'bpf-map-error', level: 'warn', message }) });
    } catch (error) {
      io.err(`mip4 mn: dataPath.engine ${engineChoice.setting}: the tc-BPF fast path cannot start: ${(error as Error).message}; set dataPath.engine: userspace to run without it`);
      await closeDaemonControl(control);
      return ExitCode.Failure;
    }
  }
  const dataPathEngine: DataPathEngineStatus = {
    engine: engineChoice.engine,
    setting: engineChoice.setting,
    reason: engineChoice.reason,
    bpfCounters: (): Record<string, Record<string, number>> =>
      fastPath === undefined ? {} : { decap: fastPath.counters(), ...(fastPath.reverseAttachedTo !== undefined ? { reverse_encap: fastPath.reverseCounters() } : {}) },
    ...(fastPath !== undefined
      ? { bpfMapEntries: () => ({ care_of_addresses: fastPath!.careOfAddressesInKernel(), reverse_tunnels: fastPath!.reverseTunnelsInKernel() }) }
      : {}),
  };
  const running = await startOrReport(
    'mn',
    () =>
      startMobileNode(config, {
        link: LinuxLinkLive,
        // The native batched socket: registrations and (RFC 3519) the UDP tunnel's data, one
        // recvmmsg/sendmmsg per batch.
        udp: LinuxUdpLive,
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
  if (running === undefined) {
    fastPath?.close();
    await closeDaemonControl(control);
    return ExitCode.Failure;
  }
  const { node } = running;
  // The node's own datagrams leave through its TUN device (io/linux/mn-host.ts routes): once it
  // exists, reverse_encap_l3 at its egress takes over the granted reverse tunnel (RFC 3024 5.2).
  if (fastPath !== undefined && config.host?.tunnelDevice !== undefined) {
    try {
      fastPath.attachReverseTunnel(config.host.tunnelDevice);
    } catch (error) {
      log({ event: 'bpf-reverse-encap', level: 'warn', message: `reverse_encap_l3 cannot attach at egress of ${config.host.tunnelDevice}: ${(error as Error).message}; reverse tunnels stay on userspace` });
    }
  }
  // The co-located care-of address (and the granted reverse tunnel) in the kernel's maps while that registration is current.
  const colocated = fastPath === undefined ? undefined : new ColocatedFastPathDriver(fastPath);
  if (colocated !== undefined) node.events.subscribe(() => colocated.follow(node.state(), node.reverseTunnel()));
  const metrics = await startDaemonMetrics('mn', config.metrics, () => mobileNodeMetrics({ node, dataPathEngine }), io.err);
  const inspector = metrics === 'failed' ? undefined : await startDaemonInspector('mn', inspectAt, values['inspect-public'] === true, [{ name: 'mn', hosts: node.inspected() }], io);
  if (metrics === 'failed' || inspector === 'failed') {
    await closeDaemonControl(control);
    if (metrics !== 'failed') await metrics?.close();
    await running.stop();
    fastPath?.close();
    return ExitCode.Failure;
  }
  node.events.subscribe(log);
  const transitionLevel = values['log-transitions'] ? 'info' : 'debug';
  node.transitions.subscribe((t) => {
    if (operatorLog.mayWrite(transitionLevel)) operatorLog.logAt(transitionLevel, { ...t, event: 'transition', trigger: t.event });
  });
  const reload = mobileNodeReload(configPath, operatorLog);
  if (control.kind === 'serving') {
    const identity = { role: 'mn', engine: engineKindFromEnvironment(), controlSocket: control.socket, startedAt: Date.now(), logControl: operatorLog, reload, dataPathEngine } as const;
    registerMobileNodeCommands(control.server, identity, node, config);
  }
  const unavailable = controlUnavailableEvent(control);
  if (unavailable !== undefined) log(unavailable);
  const signals = daemonSignals(() => io.err(stateText(node.state(), node.kernelDrops.empty ? node.counters : { ...node.counters, kernelDrops: node.kernelDrops.snapshot() })), () => void reload.reload());
  log({
    event: 'data-path-engine',
    engine: engineChoice.engine,
    setting: engineChoice.setting,
    reason: engineChoice.reason,
    ...(fastPath !== undefined
      ? {
          bpfInstance: fastPath.instanceName,
          attached: [config.interfaceName, ...(fastPath.reverseAttachedTo !== undefined ? [`${fastPath.reverseAttachedTo} (egress)`] : [])],
          staleRemoved: fastPath.staleRemoved,
        }
      : {}),
  });
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
    ...(inspector !== undefined ? { inspector: inspector.url } : {}),
    pid: process.pid,
    logLevel: operatorLog.level,
    control: control.socket,
  });
  node.start();
  // The kernel's link and address events (rtnetlink): a carrier that drops and comes back (the
  // node may be on another link now, R2.4-10), a co-located address added or removed (1.7 b).
  const kernel = await followKernelEvents(node, config, LinuxLinkEventsLive, log);

  const signal = await signals.stop;
  await kernel.close();
  signals.dispose();
  await closeDaemonControl(control);
  const state = node.state();
  await metrics?.close();
  await inspector?.close();
  await running.stop();
  fastPath?.close();
  log({ event: 'stopped', signal, state, counters: node.counters });
  return ExitCode.Ok;
}

export const mnCommand: Subcommand = { name: 'mn', usage, run };
