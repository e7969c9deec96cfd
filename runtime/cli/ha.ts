/** `mip4 ha`: a home agent on real UDP sockets, configured from a YAML file. */
import { parseArgs } from 'node:util';
import { ipv4ToString, parseIpv4 } from '../../io/wire/bytes.js';
import { UdpError } from '../../io/udp.js';
import { LinkError } from '../../io/link.js';
import { EXAMPLE_HOME_AGENT_CONFIG, loadHomeAgentConfig, type LoadedHomeAgentConfig } from '../config/ha-config.js';
import { HomeAgentAdvertiser, startHomeAgentAdvertiser } from '../ha/home-agent-advertiser.js';
import { DataPathStartError, type LinuxHomeAgentDataPath } from '../ha/home-agent-linux.js';
import { RealClock } from '../../io/clock.js';
import { bindingsTable } from './tables.js';
import { secureRandom32 } from '../../io/random.js';
import { startHomeAgent, type ListenAddress } from '../ha/home-agent-server.js';
import { resolveUdp, udpLayer } from '../udp-layer.js';
import { OperatorLog } from './operator-log.js';
import { chooseLogLevel, OPS_OPTIONS_USAGE, runCheckConfig, traceIdPrefix } from './daemon-ops.js';
import { homeAgentPlaceholders, homeAgentReload } from './ha-ops.js';
import { reportNativeHelperMissing } from './native-helper.js';
import {
  DAEMON_OPTIONS,
  daemonConfigPath,
  daemonSignals,
  startOrReport,
  ExitCode,
  loadConfigOrReport,
  parseOrUsage,
  reportPlaceholders,
  UDP_OPTION,
  UDP_OPTION_USAGE,
  udpChoice,
  udpChoiceProblem,
  UsageError,
  type Io,
  type Subcommand,
} from './args.js';
import { engineKindFromEnvironment } from '../actors/machine-engine.js';
import { closeDaemonControl, controlUnavailableEvent, openDaemonControl } from '../control/daemon-control.js';
import { registerHomeAgentCommands } from '../control/daemon-commands.js';
import { startDaemonMetrics } from '../metrics/daemon.js';
import { inspectListen, startDaemonInspector } from './inspect-option.js';
import { homeAgentMetrics, RegistrationTimer } from '../metrics/registry.js';
import { StoreError } from '../store/binding-store.js';
import { openStoreOrReport, storeErrorEvent, storeRestoredEvent } from './daemon-store.js';

const usage = `usage: mip4 ha --config <ha.yaml> [--listen ADDR:PORT ...] [--udp auto|native|dgram] [--log-level LEVEL] [--log-transitions]
       mip4 ha --check-config <ha.yaml>
       mip4 ha --example-config

Runs a Mobile IPv4 home agent (RFC 5944 3.8) on UDP, and with an advertisement section
sends Agent Advertisements on the home link (2.3). Logs one JSON object per event on
stdout (replies with their code, discards with their reason, each with a trace id).
With a dataPath section (Linux, root) it also tunnels the datagrams for its mobile nodes
away from home and answers ARP for them on the home interface (4.2.3, 4.6); with an
advertisement section it sends Agent Advertisements there, so nodes notice they are home.
SIGUSR2 prints the mobility bindings as a table on stderr, then the agent's counters (replies
by code, discards by reason) and the data path's (SIGUSR1 is Node's debugger signal); SIGHUP
re-reads the configuration (nodes, keys, foreign agents; docs/operations.md); SIGTERM or
SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
  --listen ADDR:PORT   listen here instead of the file's homeAgent.listen (repeatable);
                       port 434 needs root, any port works for tests (127.0.0.1:4434)
${UDP_OPTION_USAGE}
${OPS_OPTIONS_USAGE}
  --log-transitions    also log every binding state change {actor, from, to, reason} (at info;
                       else they are debug lines)
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

/** The `advertisement` section: Agent Advertisements on the home link (2.3) over a packet socket. */
/**
 * Starts the home agent's advertiser (2.3) when the config has an `advertisement` section. On
 * the data path's home interface it shares the data path's packet socket (one per interface
 * and process); on another interface it opens its own.
 */
async function startAdvertising(
  section: LoadedHomeAgentConfig['advertisement'],
  dataPath: LinuxHomeAgentDataPath | undefined,
  log: (event: object) => void,
  io: Io,
): Promise<{ readonly advertiser: HomeAgentAdvertiser; stop(): Promise<void> } | undefined | 'failed'> {
  if (section === undefined) return undefined;
  const subscribe = (advertiser: HomeAgentAdvertiser) =>
    advertiser.events.subscribe((event) => log({ ...event, source: 'advertiser', interface: section.interfaceName }));
  if (dataPath !== undefined && dataPath.homeInterface === section.interfaceName) {
    const advertiser = new HomeAgentAdvertiser(dataPath.shareHomeLink(), section.config, { clock: new RealClock(), random32: secureRandom32 });
    subscribe(advertiser);
    return { advertiser, stop: async () => advertiser.close() };
  }
  const { LinuxLinkLive } = await import('../../io/linux/packet.js');
  try {
    const running = await startHomeAgentAdvertiser(section.config, { interfaceName: section.interfaceName, link: LinuxLinkLive });
    subscribe(running.advertiser);
    return running;
  } catch (error) {
    if (error instanceof LinkError) {
      io.err(`mip4 ha: advertisement.interface: ${error.message}`);
      return 'failed';
    }
    throw error;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({ args: argv, options: { ...DAEMON_OPTIONS, ...UDP_OPTION, listen: { type: 'string', multiple: true } } }),
  );
  const toCheck = values['check-config'];
  if (toCheck !== undefined) return runCheckConfig('ha', toCheck, loadHomeAgentConfig, homeAgentPlaceholders, io);
  const configPath = daemonConfigPath('ha', values, usage, EXAMPLE_HOME_AGENT_CONFIG, io);
  if (typeof configPath === 'number') return configPath;
  const listenOverride = values.listen?.map(parseListen);
  const inspectAt = inspectListen(values);
  const udp = udpChoice(values.udp);

  const loaded = loadConfigOrReport('ha', configPath, loadHomeAgentConfig, io);
  if (loaded === undefined) return ExitCode.Usage;
  if (reportPlaceholders('ha', configPath, homeAgentPlaceholders(loaded), io)) return ExitCode.Usage;
  const needsNative = loaded.dataPath !== undefined ? 'dataPath' : loaded.advertisement !== undefined ? 'advertisement' : undefined;
  if (needsNative !== undefined && reportNativeHelperMissing(`ha (${needsNative})`, io)) return ExitCode.Failure;
  const logLevel = chooseLogLevel(values['log-level'], loaded.logLevel);
  const udpProblem = udpChoiceProblem(udp);
  if (udpProblem !== undefined) {
    io.err(`mip4 ha: ${udpProblem}`);
    return ExitCode.Failure;
  }
  const lines = batchedLines(io.out);
  const operatorLog = new OperatorLog({ write: lines.add, level: logLevel });
  const log = (event: object) => operatorLog.log(event);
  // Before any socket: a live daemon on the control socket means this one is a second copy.
  const control = await openDaemonControl('ha', loaded.control);
  if (control.kind === 'failed') {
    io.err(`mip4 ha: ${control.message}`);
    return ExitCode.Failure;
  }
  const layer = await udpLayer(udp);
  const timer = loaded.metrics !== undefined ? new RegistrationTimer() : undefined;
  const store = await openStoreOrReport('ha', loaded.store, io, log);
  if (store === 'failed') {
    await closeDaemonControl(control);
    return ExitCode.Failure;
  }
  const running = await startOrReport(
    'ha',
    () =>
      startHomeAgent(loaded.config, {
        listen: listenOverride ?? loaded.listen,
        udp: layer,
        tracePrefix: traceIdPrefix(),
        onSocketError: (error) => log({ event: 'socket-error', reason: error.reason, endpoint: error.endpoint, message: error.message }),
        ...(loaded.dataPath !== undefined ? { dataPath: loaded.dataPath } : {}),
        ...(timer !== undefined ? { requestTiming: timer } : {}),
        ...(store !== undefined ? { store, onStoreError: (error, dropped) => log(storeErrorEvent(error, dropped)) } : {}),
      }),
    [UdpError, DataPathStartError, StoreError],
    io,
  );
  if (running === undefined) {
    await closeDaemonControl(control);
    return ExitCode.Failure;
  }
  const { agent, dataPath } = running;
  if (running.restored !== undefined && loaded.store !== undefined && store !== undefined) log(storeRestoredEvent(store, loaded.store, running.restored, 'bindings'));
  const advertising = await startAdvertising(loaded.advertisement, dataPath, log, io);
  const metrics =
    advertising === 'failed' ? undefined : await startDaemonMetrics('ha', loaded.metrics, () => homeAgentMetrics({ agent, dataPath, advertiser: advertising?.advertiser, timer }), io.err);
  const inspector =
    advertising === 'failed' || metrics === 'failed'
      ? undefined
      : await startDaemonInspector('ha', inspectAt, values['inspect-public'] === true, [{ name: 'ha', hosts: [agent.inspected(), ...(advertising === undefined ? [] : [advertising.advertiser.inspected()])] }], io);
  if (advertising === 'failed' || metrics === 'failed' || inspector === 'failed') {
    await closeDaemonControl(control);
    if (metrics !== 'failed') await metrics?.close();
    if (advertising !== 'failed') await advertising?.stop();
    await running.stop();
    lines.flush();
    return ExitCode.Failure;
  }
  agent.events.subscribe(log);
  if (dataPath === undefined) {
    // Debug lines: one per registration that changes proxy ARP, made only when someone reads them.
    agent.arpCommands.subscribe((command) => {
      if (operatorLog.mayWrite('debug')) log({ event: 'arp', ...command, homeAddress: ipv4ToString(command.homeAddress), executed: false, note: 'no dataPath section: no home link attached to this process' });
    });
  } else {
    dataPath.path.homeLink?.events.subscribe(log);
    dataPath.events.subscribe(log);
  }
  const transitionLevel = values['log-transitions'] ? 'info' : 'debug';
  agent.transitions.subscribe((t) => {
    if (operatorLog.mayWrite(transitionLevel)) operatorLog.logAt(transitionLevel, { ...t, event: 'transition', trigger: t.event });
  });
  const reload = homeAgentReload(configPath, loaded, agent, operatorLog, values['log-level'] !== undefined);
  if (control.kind === 'serving') {
    const identity = { role: 'ha', engine: engineKindFromEnvironment(), controlSocket: control.socket, startedAt: Date.now(), logControl: operatorLog, reload } as const;
    registerHomeAgentCommands(control.server, identity, agent, dataPath);
  }
  const unavailable = controlUnavailableEvent(control);
  if (unavailable !== undefined) log(unavailable);
  const signals = daemonSignals(
    () => {
      io.err(bindingsTable(agent.bindings()));
      io.err(`Counters: ${JSON.stringify(agent.counters)}`);
      if (dataPath !== undefined) io.err(`Data path: ${JSON.stringify(dataPath.snapshot())}`);
    },
    () => void reload.reload(),
  );
  if (dataPath !== undefined) {
    log({
      event: 'data-path-up',
      tunnelDevice: dataPath.tunnelDevice,
      tunnelMtu: dataPath.tunnelMtu,
      tunOffload: dataPath.tunOffload,
      homeInterface: dataPath.homeInterface,
      // dataPath.engine as chosen at start, and why (policies/data-path-engine.ts).
      engine: dataPath.engine,
      engineReason: dataPath.engineReason,
      ...(dataPath.bpf !== undefined
        ? { bpfInterfaces: dataPath.bpf.interfaces, bpfStaleRemoved: dataPath.bpf.counters.staleRemoved, bpfBindingsInKernel: dataPath.bpf.counters.bindingsSet }
        : {}),
      routeTable: loaded.dataPath?.routeTable ?? 254,
      // Routes with mip4's marker found on the device at start: left by a run that crashed.
      staleRoutesRemoved: dataPath.routes.counters.staleRemoved,
    });
  }
  log({
    event: 'listening',
    endpoints: running.sockets.map((s) => `${ipv4ToString(s.localAddress)}:${s.localPort}`),
    udp: resolveUdp(udp),
    mobileNodes: loaded.config.mobileNodes.length,
    foreignAgents: loaded.config.foreignAgents.length,
    // Which step engine the actor hosts run (runtime/actors/README.md; MIP4_ENGINE).
    engine: engineKindFromEnvironment(),
    ...(metrics !== undefined ? { metrics: metrics.url } : {}),
    ...(inspector !== undefined ? { inspector: inspector.url } : {}),
    pid: process.pid,
    logLevel: operatorLog.level,
    control: control.socket,
  });

  const signal = await signals.stop;
  signals.dispose();
  await closeDaemonControl(control);
  const bindings = agent.bindingCount;
  await metrics?.close();
  await inspector?.close();
  await advertising?.stop();
  await running.stop();
  log({ event: 'stopped', signal, bindings, counters: agent.counters, ...(dataPath !== undefined ? { dataPath: dataPath.snapshot() } : {}) });
  lines.flush();
  return ExitCode.Ok;
}

/**
 * One JSON line per reply and discard is the log (1.7, 3.8.2.1), but one write(2) per line
 * costs more than the registration it reports. Lines are queued and written together once
 * per turn of the event loop (or when 64 KiB are waiting): the same lines, in order, with
 * one system call per burst instead of one per datagram.
 */
function batchedLines(out: (text: string) => void): { add(line: string): void; flush(): void } {
  const FLUSH_BYTES = 64 * 1024;
  let pending: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('\n');
    pending = [];
    bytes = 0;
    out(text);
  };
  return {
    add(line) {
      pending.push(line);
      bytes += line.length + 1;
      if (bytes >= FLUSH_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

export const haCommand: Subcommand = { name: 'ha', usage, run };
