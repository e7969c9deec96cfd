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
import { startForeignAgent } from '../fa/foreign-agent.js';
import { kernelServesReverseTunnel, type VisitorFastPath } from '../fa/visitor-fast-path.js';
import { linuxVisitorCapture } from '../../io/linux/visitor-capture.js';
import { visitorsTable } from './tables.js';
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
import { OperatorLog } from './operator-log.js';
import { chooseLogLevel, OPS_OPTIONS_USAGE, runCheckConfig, traceIdPrefix } from './daemon-ops.js';
import { foreignAgentPlaceholders, foreignAgentReload } from './fa-ops.js';
import { closeDaemonControl, controlUnavailableEvent, openDaemonControl } from '../control/daemon-control.js';
import { registerForeignAgentCommands } from '../control/daemon-commands.js';
import { reportNativeHelperMissing } from './native-helper.js';
import { startDaemonMetrics } from '../metrics/daemon.js';
import { inspectListen, startDaemonInspector } from './inspect-option.js';
import { foreignAgentMetrics } from '../metrics/registry.js';
import { bpfAvailability } from '../../io/linux/bpf.js';
import { openForeignAgentFastPath, type LinuxForeignAgentFastPath } from '../../io/linux/fa-fast-path.js';
import { chooseDataPathEngine } from '../../policies/data-path-engine.js';
import type { DataPathEngineStatus } from '../control/daemon-commands.js';

const usage = `usage: mip4 fa --config <fa.yaml> [--udp auto|native|dgram] [--log-level LEVEL] [--log-transitions]
       mip4 fa --check-config <fa.yaml>
       mip4 fa --example-config

Runs a Mobile IPv4 foreign agent (RFC 5944 3.7) on a network interface: sends Agent
Advertisements there, relays Registration Requests and Replies, and delivers tunnelled
datagrams to its visitors. Needs root (packet and raw sockets, UDP port 434). Logs one JSON
object per event on stdout (relays, denials with their code, discards with their reason,
advertisements, each with a trace id). SIGUSR2 prints the visitor list as a table on stderr
(SIGUSR1 is Node's debugger signal); SIGHUP re-reads the security associations from the
configuration (docs/operations.md); SIGTERM or SIGINT stops cleanly.

options:
  --config <path>      the configuration file (YAML); see --example-config
${UDP_OPTION_USAGE}
${OPS_OPTIONS_USAGE}
  --log-transitions    also log every state change {actor, from, to, reason} (at info; else debug)
  --example-config     print a commented example configuration and exit
  -h, --help           this text

exit status: 0 stopped by a signal, 1 could not start (e.g. a socket or the interface),
             2 usage or config error`;

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, options: { ...DAEMON_OPTIONS, ...UDP_OPTION } }));
  const toCheck = values['check-config'];
  if (toCheck !== undefined) return runCheckConfig('fa', toCheck, loadForeignAgentConfig, foreignAgentPlaceholders, io);
  const inspectAt = inspectListen(values);
  const configPath = daemonConfigPath('fa', values, usage, EXAMPLE_FOREIGN_AGENT_CONFIG, io);
  if (typeof configPath === 'number') return configPath;
  const udp = udpChoice(values.udp);

  const loaded = loadConfigOrReport('fa', configPath, loadForeignAgentConfig, io);
  if (loaded === undefined) return ExitCode.Usage;
  if (reportPlaceholders('fa', configPath, foreignAgentPlaceholders(loaded), io)) return ExitCode.Usage;
  if (reportNativeHelperMissing('fa', io)) return ExitCode.Failure;
  // Issue 17: bpf, userspace or auto, decided once from what this host and process allow.
  const engineChoice = chooseDataPathEngine(loaded.dataPathEngine, bpfAvailability());
  if (!engineChoice.ok) {
    io.err(`mip4 fa: ${engineChoice.reason}`);
    return ExitCode.Failure;
  }
  const operatorLog = new OperatorLog({ write: io.out, level: chooseLogLevel(values['log-level'], loaded.logLevel) });
  const udpProblem = udpChoiceProblem(udp);
  if (udpProblem !== undefined) {
    io.err(`mip4 fa: ${udpProblem}`);
    return ExitCode.Failure;
  }
  const log = (event: object) => operatorLog.log(event);
  const control = await openDaemonControl('fa', loaded.control);
  if (control.kind === 'failed') {
    io.err(`mip4 fa: ${control.message}`);
    return ExitCode.Failure;
  }
  const layer = await udpLayer(udp);
  const store = await openStoreOrReport('fa', loaded.store, io, log);
  if (store === 'failed') {
    await closeDaemonControl(control);
    return ExitCode.Failure;
  }
  let fastPath: LinuxForeignAgentFastPath | undefined;
  if (engineChoice.engine === 'bpf') {
    try {
      fastPath = openForeignAgentFastPath({
        visitorInterface: loaded.interfaceName,
        careOfAddresses: loaded.config.settings.careOfAddresses,
        onError: (message) => log({ event: 'bpf-map-error', level: 'warn', message }),
      });
    } catch (error) {
      io.err(`mip4 fa: dataPath.engine ${engineChoice.setting}: the tc-BPF fast path cannot start: ${(error as Error).message}; set dataPath.engine: userspace to run without it`);
      await store?.close();
      await closeDaemonControl(control);
      return ExitCode.Failure;
    }
  }
  const dataPathEngine: DataPathEngineStatus = {
    engine: engineChoice.engine,
    setting: engineChoice.setting,
    reason: engineChoice.reason,
    bpfCounters: (): Record<string, Record<string, number>> => (fastPath === undefined ? {} : { decap: fastPath.counters(), reverse_encap: fastPath.reverseCounters() }),
    ...(fastPath !== undefined ? { bpfMapEntries: () => ({ visitors: fastPath!.visitorsInKernel(), reverse_tunnels: fastPath!.reverseTunnelsInKernel() }) } : {}),
  };
  const running = await startOrReport(
    'fa',
    () =>
      startForeignAgent(loaded.config, {
        interfaceName: loaded.interfaceName,
        udp: layer,
        link: LinuxLinkLive,
        rawIp: LinuxRawIpLive,
        tracePrefix: traceIdPrefix(),
        // RFC 3519: tunnel data messages of one recvmmsg wakeup go through the plane as one batch.
        batchUdpTunnel: true,
        ...(fastPath !== undefined ? { fastPath: visitorFastPathOf(fastPath, (message) => log({ event: 'bpf-reverse-filter', level: 'warn', message })) } : {}),
        // RFC 3024: the kernel must not also route what the reverse tunnels carry (io/linux/visitor-capture.ts).
        ...(loaded.config.settings.reverseTunneling ? { visitorCapture: linuxVisitorCapture(loaded.interfaceName, { onError: (message: string) => io.err(`mip4 fa: visitor capture: ${message}`) }) } : {}),
        ...(store !== undefined ? { store, onStoreError: (error: unknown) => log(storeErrorEvent(error, 0)) } : {}),
      }),
    [UdpError, LinkError, RawIpError, StoreError],
    io,
  );
  if (running === undefined) {
    await closeDaemonControl(control);
    return ExitCode.Failure;
  }
  const { agent } = running;
  if (running.restored !== undefined && loaded.store !== undefined && store !== undefined) log(storeRestoredEvent(store, loaded.store, running.restored, 'visitors'));
  const metrics = await startDaemonMetrics('fa', loaded.metrics, () => foreignAgentMetrics({ agent, dataPathEngine }), io.err);
  const inspector = metrics === 'failed' ? undefined : await startDaemonInspector('fa', inspectAt, values['inspect-public'] === true, [{ name: 'fa', hosts: agent.inspected() }], io);
  if (metrics === 'failed' || inspector === 'failed') {
    await closeDaemonControl(control);
    if (metrics !== 'failed') await metrics?.close();
    await running.stop();
    return ExitCode.Failure;
  }
  agent.events.subscribe(log);
  const transitionLevel = values['log-transitions'] ? 'info' : 'debug';
  agent.transitions.subscribe((t) => {
    if (operatorLog.mayWrite(transitionLevel)) operatorLog.logAt(transitionLevel, { ...t, event: 'transition', trigger: t.event });
  });
  const reload = foreignAgentReload(configPath, loaded, agent, operatorLog, values['log-level'] !== undefined);
  if (control.kind === 'serving') {
    const identity = { role: 'fa', engine: engineKindFromEnvironment(), controlSocket: control.socket, startedAt: Date.now(), logControl: operatorLog, reload, dataPathEngine } as const;
    registerForeignAgentCommands(control.server, identity, agent);
  }
  const unavailable = controlUnavailableEvent(control);
  if (unavailable !== undefined) log(unavailable);
  const signals = daemonSignals(() => io.err(visitorsTable(agent.visitors())), () => void reload.reload());
  const { settings } = loaded.config;
  log({
    event: 'data-path-engine',
    engine: engineChoice.engine,
    setting: engineChoice.setting,
    reason: engineChoice.reason,
    ...(fastPath !== undefined ? { bpfInstance: fastPath.instanceName, attached: fastPath.attachedInterfaces, staleRemoved: fastPath.staleRemoved } : {}),
  });
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
    ...(metrics !== undefined ? { metrics: metrics.url } : {}),
    ...(inspector !== undefined ? { inspector: inspector.url } : {}),
    pid: process.pid,
    logLevel: operatorLog.level,
    control: control.socket,
  });

  const signal = await signals.stop;
  signals.dispose();
  await closeDaemonControl(control);
  const visitors = agent.visitors().length;
  await metrics?.close();
  await inspector?.close();
  await running.stop();
  log({ event: 'stopped', signal, visitors, counters: agent.counters });
  return ExitCode.Ok;
}

export const faCommand: Subcommand = { name: 'fa', usage, run };

/**
 * The agent's view of the Linux fast path: reverse tunnels the kernel can carry
 * (kernelServesReverseTunnel) go into reverse_tunnels with their visitor; the visitor link's
 * packet socket gets reverse_filter when it opens. Where that filter cannot be attached, no
 * reverse entry is ever set (the kernel would tunnel what userspace tunnels too): reverse
 * tunnels stay userspace's and `onFilterError` says why.
 */
function visitorFastPathOf(fastPath: LinuxForeignAgentFastPath, onFilterError: (message: string) => void): VisitorFastPath {
  return {
    visitorCurrent(visitor) {
      const reverse = visitor.reverseTunnel;
      const kernelReverse = reverse !== undefined && kernelServesReverseTunnel(reverse).kernel;
      fastPath.visitorCurrent({
        homeAddress: visitor.homeAddress,
        linkLayerAddress: visitor.linkLayerAddress,
        ownLinkAddress: visitor.ownLinkAddress,
        ...(kernelReverse
          ? { reverseTunnel: { careOfAddress: reverse.careOfAddress, homeAgent: reverse.homeAgent, encapsulation: reverse.encapsulation === 'gre' ? 'gre' : 'ip-in-ip' } }
          : {}),
      });
    },
    visitorGone: (homeAddress) => fastPath.visitorGone(homeAddress),
    visitorLinkOpened(link) {
      if (link.descriptor === undefined) {
        onFilterError('the visitor link has no socket descriptor: reverse tunnels stay on the userspace path');
        return;
      }
      try {
        fastPath.filterPacketSocket(link.descriptor);
      } catch (error) {
        onFilterError(`reverse_filter cannot be attached to the visitor link's packet socket (${(error as Error).message}): reverse tunnels stay on the userspace path`);
      }
    },
    close: () => fastPath.close(),
  };
}
