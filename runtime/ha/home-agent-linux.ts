/**
 * The home agent's packet path on a Linux host (RFC 5944 4.2.3, 4.3, 4.6):
 * runtime/ha/home-agent-data-path.ts over the Linux PacketTap (io/linux/packet-tap.ts), so that
 * `mip4 ha` attracts, intercepts and tunnels the datagrams for its mobile nodes away from home.
 * This file adds what a daemon needs around it: the start-up checks with their fixes, the TUN
 * device's MTU, errors as log events, counters for SIGUSR2, and a clean stop.
 *
 *   forwarding table ─► tap.claim ─► /32 route into the TUN device (proto 77)
 *   correspondent ─► kernel forwarding ─► TUN ─► batch read ─► homeAgentDataPlane
 *        ─► tunnel packet ─► raw IPv4 socket (header included) ─► kernel routing ─► care-of
 *
 * The kernel's own forwarding brings the datagrams into the device, so IPv4 forwarding must be
 * on (checked at start, never changed: it is host-wide policy).
 */
import { readFileSync } from 'node:fs';
import { Effect, Layer } from 'effect';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../../io/clock.js';
import type { KernelDropReason, KernelDrops } from '../../io/kernel-drops.js';
import type { LinkInterface } from '../../io/link.js';
import { openLinuxPacketTap, type LinuxPacketTap, type LinuxPacketTapCounters } from '../../io/linux/packet-tap.js';
import { readInterfaceInfo } from '../../io/linux/packet.js';
import { bpfAvailability, cleanupBpfInstance } from '../../io/linux/bpf.js';
import type { HostRoutes, HostRoutesCounters } from '../../io/linux/routes.js';
import { PacketTap, PacketTapError } from '../../io/packet-tap.js';
import { openInScope } from '../../io/scoped-start.js';
import type { TunOffloadState } from '../../io/tun.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { largestTunnelOverhead } from '../dataplane/ha-plane.js';
import { openHomeAgentDataPath, type HomeAgentDataPath } from './home-agent-data-path.js';
import type { HomeAgent } from './home-agent.js';
import type { HomeAgentSettings } from '../../policies/ha-request.js';
import { bpfBlocker, chooseDataPathEngine, DEFAULT_DATA_PATH_ENGINE, type BpfAvailability, type DataPathEngine, type DataPathEngineSetting } from '../../policies/data-path-engine.js';
import { defaultBpfInterfaces, homeAgentBpfInstance, startHomeAgentBpf, type HomeAgentBpf, type HomeAgentBpfCounters, type HomeAgentBpfEvent } from './home-agent-bpf.js';

export const DEFAULT_TUNNEL_DEVICE = 'mip4ha0';
/** Whether the TUN device takes offloads unless dataPath.tunOffload says (see docs/performance.md). */
export const DEFAULT_TUN_OFFLOAD = true;

/** The `dataPath` section of the home agent's configuration. */
export interface LinuxDataPathConfig {
  /** The interface on the home network (proxy ARP, gratuitous ARP, broadcasts). */
  readonly homeInterface: string;
  /** Name of the TUN device created for interception (default mip4ha0). */
  readonly tunnelDevice?: string;
  /** Most datagrams read from the TUN per wakeup and handed to the plane as one batch (default 64). */
  readonly maxBatch?: number;
  /** Most datagrams waiting at the data path's input edge (default 4096). */
  readonly queueLimit?: number;
  /** Routing table of the home-address routes (default 254, main). */
  readonly routeTable?: number;
  /**
   * MTU of the TUN device (default: the home interface's MTU less the largest tunnel header
   * among the encapsulations offered, `tunnelMtuFor`).
   */
  readonly tunnelMtu?: number;
  /**
   * Open the TUN device with offloads (IFF_VNET_HDR, TUNSETOFFLOAD: checksum, TCP and UDP
   * segmentation): the kernel forwards a TCP stream into it as 64 KiB super-packets, which the
   * native reader cuts back into MTU-sized datagrams, so the data plane sees the same datagrams
   * in fewer wakeups. Default DEFAULT_TUN_OFFLOAD.
   */
  readonly tunOffload?: boolean;
  /** Who tunnels (policies/data-path-engine.ts): default DEFAULT_DATA_PATH_ENGINE (auto). */
  readonly engine?: DataPathEngineSetting;
  /**
   * With the bpf engine: the interfaces whose tc ingress gets ha_encap and decap (where datagrams
   * for home addresses and reverse tunnels arrive). Default: every interface up at start except
   * lo and the TUN device.
   */
  readonly bpfInterfaces?: readonly string[];
}

/**
 * The TUN device's default MTU: the home interface's less the largest header the agent may put
 * in front of a datagram. The tunnel's raw socket sends what it is given and does not fragment,
 * so a datagram routed into the device must fit the link with its tunnel header (RFC 2003 5.1,
 * RFC 5944 4.1); a larger one gets the kernel's "fragmentation needed" (path MTU discovery)
 * back from the device instead of being lost.
 */
export function tunnelMtuFor(homeInterfaceMtu: number, encapsulations: { readonly minimal: boolean; readonly gre: boolean }): number {
  return homeInterfaceMtu - largestTunnelOverhead(encapsulations);
}

/** Why the data path could not start; the message names the cause and the fix. */
export class DataPathStartError extends Error {
  override readonly name = 'DataPathStartError';
  constructor(
    readonly reason: 'permission' | 'no-such-interface' | 'forwarding-disabled' | 'device' | 'socket',
    message: string,
  ) {
    super(message);
  }
}

/** The Linux tap's counters (io/linux/packet-tap.ts), `ioErrors` including the home link's. */
export type LinuxDataPathCounters = LinuxPacketTapCounters;

type DataPathErrorSource = 'route' | 'tun' | 'raw-ip' | 'home-link';

export type LinuxDataPathEvent =
  | {
      readonly event: 'data-path-error';
      readonly source: DataPathErrorSource;
      readonly message: string;
    }
  | HomeAgentBpfEvent;

export interface LinuxHomeAgentDataPath {
  readonly tunnelDevice: string;
  /** The MTU given to the TUN device (dataPath.tunnelMtu or `tunnelMtuFor`). */
  readonly tunnelMtu: number;
  /** Whether the TUN device was opened with offloads (dataPath.tunOffload). */
  readonly tunOffload: boolean;
  readonly homeInterface: string;
  /** Who tunnels (dataPath.engine as chosen at start) and why. */
  readonly engine: DataPathEngine;
  readonly engineReason: string;
  /** The kernel fast path, with the bpf engine. */
  readonly bpf: HomeAgentBpf | undefined;
  readonly path: HomeAgentDataPath;
  readonly routes: HostRoutes;
  readonly counters: LinuxDataPathCounters;
  /** What the kernel dropped before the path read it (TUN queue, tunnel receivers), read when asked. */
  readonly kernelDrops: KernelDrops;
  readonly events: Observable<LinuxDataPathEvent>;
  /**
   * Another view of the home interface over the data path's own packet socket (one AF_PACKET
   * socket per interface and process), e.g. for the home agent's advertiser (2.3) on the same
   * link. Its frame handler sees every frame the link receives; it is dropped at `stop()`.
   */
  shareHomeLink(): LinkInterface;
  /** Every counter of the path, for a log line. */
  snapshot(): {
    linux: LinuxDataPathCounters;
    path: HomeAgentDataPath['counters'];
    plane: HomeAgentDataPath['planeCounters'];
    routes: HostRoutesCounters;
    homeLink: HomeAgentDataPath['homeLink']['counters'] | undefined;
    /** The TUN offloads and what undoing them took (absent when dataPath.tunOffload is false). */
    tunOffload: TunOffloadState | undefined;
    /** The bpf engine's map writes and programs' counters (absent on userspace). */
    bpf: (HomeAgentBpfCounters & { interfaces: readonly string[]; programs: ReturnType<HomeAgentBpf['programCounters']> }) | undefined;
    /** The kernel's drops before the path read (docs/performance.md, where the userspace path lost packets). */
    kernelDrops: Partial<Record<KernelDropReason, number>>;
  };
  /** Detaches, removes the routes, closes the sockets and removes the TUN device. Idempotent. */
  stop(): Promise<void>;
}

// CAP_NET_ADMIN (TUN, routes) and CAP_NET_RAW (raw and packet sockets), linux/capability.h.
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

function effectiveCapabilities(): bigint | undefined {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    return line === undefined ? undefined : BigInt(`0x${line.slice(7).trim()}`);
  } catch {
    return undefined;
  }
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The start-up checks, each failing with the fix: privileges, the home interface, and IPv4
 * forwarding (the kernel must forward from the network into the TUN device; mip4 does not
 * change the sysctl itself, as it is host-wide policy).
 */
export function checkLinuxDataPathHost(config: LinuxDataPathConfig): void {
  if (process.platform !== 'linux') {
    throw new DataPathStartError('device', 'the home agent data path (dataPath) runs on Linux only; remove the dataPath section to run the control plane alone');
  }
  const capabilities = effectiveCapabilities();
  if (capabilities !== undefined) {
    const missing = [CAP_NET_ADMIN, CAP_NET_RAW].filter((bit) => (capabilities & (1n << BigInt(bit))) === 0n);
    if (missing.length > 0) {
      throw new DataPathStartError(
        'permission',
        'the home agent data path (dataPath) needs CAP_NET_ADMIN (TUN device, routes) and CAP_NET_RAW (raw and packet sockets): run as root or grant them',
      );
    }
  }
  if (readInterfaceInfo(config.homeInterface) === undefined) {
    throw new DataPathStartError(
      'no-such-interface',
      `dataPath.homeInterface: no interface named ${config.homeInterface} on this host (or in this network namespace); \`ip link\` lists them`,
    );
  }
  if (readSysctl('/proc/sys/net/ipv4/ip_forward') !== '1') {
    throw new DataPathStartError(
      'forwarding-disabled',
      'IPv4 forwarding is off: the kernel must forward datagrams for away mobile nodes into the tunnel device; run `sysctl -w net.ipv4.ip_forward=1`',
    );
  }
  const perInterface = readSysctl(`/proc/sys/net/ipv4/conf/${config.homeInterface}/forwarding`);
  if (perInterface === '0') {
    throw new DataPathStartError(
      'forwarding-disabled',
      `IPv4 forwarding is off on ${config.homeInterface}: run \`sysctl -w net.ipv4.conf.${config.homeInterface}.forwarding=1\``,
    );
  }
}

/** IP protocols of the reverse tunnels this agent decapsulates: IP in IP always (4.1), GRE and minimal when offered. */
export function tunnelProtocolsOffered(encapsulations: { readonly minimal: boolean; readonly gre: boolean } | undefined): number[] {
  const protocols: number[] = [IpProtocol.IPIP];
  if (encapsulations?.gre !== false) protocols.push(IpProtocol.GRE);
  if (encapsulations?.minimal !== false) protocols.push(IpProtocol.MINIMAL_ENCAPSULATION);
  return protocols;
}

export interface StartLinuxDataPathOptions {
  readonly clock: Clock;
  /** `encapsulations` sizes the TUN device's MTU; absent: all of them (the largest header). */
  readonly settings: Pick<HomeAgentSettings, 'addresses' | 'homeNetwork' | 'prefixLength'> & Partial<Pick<HomeAgentSettings, 'encapsulations'>>;
  /** UDP port registrations are answered from (the 3.8.3.1 exemption). Default 434. */
  readonly registrationPort?: number;
  /** What the host offers the bpf engine; default: measured (io/linux/bpf.ts bpfAvailability). */
  readonly bpfAvailability?: () => BpfAvailability;
}

/** The start failure for a tap that could not open, naming the configuration field to change. */
function startError(error: PacketTapError, config: LinuxDataPathConfig, homeInterfaceMtu: number): DataPathStartError {
  const message =
    error.detail === 'offload'
      ? `dataPath.tunOffload: ${error.message}; set tunOffload: false to run without them`
      : error.detail === 'mtu'
        ? `dataPath.tunnelMtu: ${error.message}; ${config.tunnelMtu === undefined ? `the default is ${config.homeInterface}'s MTU (${homeInterfaceMtu}) less the tunnel header,` : 'give'} a value from 68 to the device's largest, e.g. ${tunnelMtuFor(1500, { minimal: true, gre: true })}`
        : error.message;
  const reason = error.reason === 'permission' || error.reason === 'no-such-interface' || error.reason === 'device' ? error.reason : 'socket';
  return new DataPathStartError(reason, message);
}

const EVENT_SOURCE: Record<string, DataPathErrorSource> = { tun: 'tun', route: 'route', 'raw-ip': 'raw-ip', link: 'home-link' };

/**
 * Starts the home agent's data path on this host: checks it, opens the Linux PacketTap (TUN
 * device, routes, sockets) and runs `openHomeAgentDataPath` on it, one /32 route into the
 * device per home address with a binding. Rejects with a DataPathStartError; nothing stays
 * open then.
 */
export async function startLinuxHomeAgentDataPath(
  agent: Pick<HomeAgent, 'forwardingTable' | 'arpCommands'>,
  config: LinuxDataPathConfig,
  options: StartLinuxDataPathOptions,
): Promise<LinuxHomeAgentDataPath> {
  checkLinuxDataPathHost(config);
  const setting = config.engine ?? DEFAULT_DATA_PATH_ENGINE;
  // Measured only when bpf may be chosen: userspace never loads the BPF loader addon.
  const availability = setting === 'userspace' ? { missingCapabilities: [] } : (options.bpfAvailability ?? bpfAvailability)();
  const choice = chooseDataPathEngine(setting, availability);
  if (!choice.ok) throw new DataPathStartError('permission', choice.reason);
  const tunnelDevice = config.tunnelDevice ?? DEFAULT_TUNNEL_DEVICE;
  if (choice.engine === 'userspace' && bpfBlocker(availability) === undefined) {
    // A bpf run of this agent that crashed left filters holding its old bindings: gone before
    // the userspace plane takes over (best effort: nothing to clean is the usual case).
    try {
      cleanupBpfInstance(homeAgentBpfInstance(tunnelDevice));
    } catch {
      // Its pins unreadable: the next bpf start replaces the filters on the same hooks.
    }
  }
  const maxBatch = config.maxBatch ?? 64;
  // checkLinuxDataPathHost has found the home interface.
  const homeInterfaceMtu = readInterfaceInfo(config.homeInterface)?.mtu ?? 1500;
  const tunnelMtu = config.tunnelMtu ?? tunnelMtuFor(homeInterfaceMtu, options.settings.encapsulations ?? { minimal: true, gre: true });
  const tapConfig = {
    tunnelDevice,
    tunnelMtu,
    // Offloads by default, falling back to a plain device; asked for explicitly, a refusal fails.
    ...(config.tunOffload !== undefined ? { tunOffload: config.tunOffload } : DEFAULT_TUN_OFFLOAD ? {} : { tunOffload: false }),
    ...(config.routeTable !== undefined ? { routeTable: config.routeTable } : {}),
    // R4.2.3-7: raw sockets for the tunnels to this agent, one per encapsulation offered.
    tunnelProtocols: tunnelProtocolsOffered(options.settings.encapsulations),
  };
  // The Linux tap as the PacketTap service, keeping its richer type for the daemon's logs.
  let tap: LinuxPacketTap | undefined;
  const tapLayer = Layer.succeed(PacketTap, {
    open: (tapOptions) => Effect.tap(openLinuxPacketTap(tapConfig, tapOptions), (opened) => Effect.sync(() => (tap = opened))),
  });
  const opened = await openInScope(
    openHomeAgentDataPath(agent, {
      clock: options.clock,
      addresses: options.settings.addresses,
      homeNetwork: options.settings.homeNetwork,
      prefixLength: options.settings.prefixLength,
      homeInterface: config.homeInterface,
      ...(options.registrationPort !== undefined ? { registrationPort: options.registrationPort } : {}),
      ...(config.queueLimit !== undefined ? { queueLimit: config.queueLimit } : {}),
      maxBatch,
      // RFC 3519 tunnels add 32 bytes (36 with GRE), more than the TUN MTU leaves room for:
      // a DF datagram that would not fit the link gets Fragmentation Needed, not a silent loss.
      udpTunnelMtu: homeInterfaceMtu,
    }).pipe(Effect.provide(tapLayer)),
  ).catch((error: unknown) => {
    throw error instanceof PacketTapError ? startError(error, config, homeInterfaceMtu) : new DataPathStartError('device', String(error));
  });
  if (tap === undefined) {
    await opened.close();
    throw new DataPathStartError('device', 'the packet tap did not open');
  }
  const path = opened.value;
  const linuxTap: LinuxPacketTap = tap;
  const eventSubject = new Subject<LinuxDataPathEvent>();
  const ioError = (source: DataPathErrorSource, message: string): void => {
    if (eventSubject.observed) eventSubject.next({ event: 'data-path-error', source, message });
  };
  linuxTap.onError((error) => ioError(EVENT_SOURCE[error.source] ?? 'tun', error.message));
  const homeLinkErrors = path.homeLink.events.subscribe((event) => {
    if (event.event !== 'link-error') return;
    linuxTap.linuxCounters.ioErrors++;
    ioError('home-link', event.detail);
  });

  let engine: DataPathEngine = choice.engine;
  let engineReason = choice.reason;
  let bpf: HomeAgentBpf | undefined;
  if (engine === 'bpf') {
    const interfaces = config.bpfInterfaces ?? defaultBpfInterfaces(linuxTap.device.name);
    try {
      bpf = startHomeAgentBpf(agent.forwardingTable, {
        instance: homeAgentBpfInstance(linuxTap.device.name),
        interfaces,
        tunnelSource: options.settings.addresses[0]!,
        agentAddresses: options.settings.addresses,
        tunnelDevice: linuxTap.device.name,
        tunnelMtu,
        greOffered: options.settings.encapsulations?.gre !== false,
        onEvent: (event) => {
          if (eventSubject.observed) eventSubject.next(event);
        },
      });
    } catch (error) {
      const message = `the tc-BPF programs could not be loaded or attached on ${interfaces.join(', ') || 'no interface'}: ${(error as Error).message}`;
      if (setting === 'bpf') {
        homeLinkErrors.unsubscribe();
        await opened.close();
        throw new DataPathStartError('device', `${message}; fix it, or set dataPath.engine: auto (or userspace) to run the userspace data path`);
      }
      engine = 'userspace';
      engineReason = `dataPath.engine is auto and ${message}`;
    }
  }

  let stopped = false;
  return {
    engine,
    engineReason,
    bpf,
    tunnelDevice: linuxTap.device.name,
    tunnelMtu,
    tunOffload: linuxTap.device.offload,
    homeInterface: config.homeInterface,
    path,
    routes: linuxTap.routes,
    counters: linuxTap.linuxCounters,
    kernelDrops: linuxTap.kernelDrops,
    events: eventSubject.asObservable(),
    shareHomeLink: () => linuxTap.openHomeLink(),
    snapshot: () => ({
      linux: { ...linuxTap.linuxCounters },
      path: { ...path.counters },
      plane: { ...path.planeCounters },
      routes: { ...linuxTap.routes.counters },
      homeLink: { ...path.homeLink.counters },
      tunOffload: linuxTap.tunOffload(),
      bpf: bpf === undefined ? undefined : { ...bpf.counters, mapErrors: { ...bpf.counters.mapErrors }, interfaces: bpf.interfaces, programs: bpf.programCounters() },
      kernelDrops: linuxTap.kernelDrops.snapshot(),
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      // Filters first: from here on the TUN routes alone carry the datagrams, until they go too.
      bpf?.stop();
      homeLinkErrors.unsubscribe();
      await opened.close();
      eventSubject.complete();
    },
  };
}
