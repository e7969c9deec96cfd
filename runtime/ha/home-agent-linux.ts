/**
 * The home agent's packet path on a Linux host (RFC 5944 4.2.3, 4.3, 4.6): the ports of
 * runtime/ha/home-agent-data-path.ts over real devices, so that `mip4 ha` attracts, intercepts and
 * tunnels the datagrams for its mobile nodes away from home.
 *
 *   correspondent ──► kernel forwarding ──► /32 route per bound home address ──► TUN device
 *        ──► batch read (native helper) ──► rule.claims ──► homeAgentDataPlane
 *        ──► tunnel packet ──► raw IPv4 socket (header included) ──► kernel routing ──► care-of
 *
 * - Interception (4.2.3): a TUN device (IFF_TUN|IFF_NO_PI) and, for each home address with a
 *   binding, a /32 route into it, added and removed as `agent.forwardingTable` changes
 *   (io/linux/routes.ts: one rtnetlink request per change, only when an address gains its
 *   first or loses its last binding; renewals cost nothing). The kernel's own forwarding brings
 *   the datagrams there, so IPv4 forwarding must be on (checked at start).
 *   A datagram read from the device that the rule does not claim (3.8.3.1: a Registration Reply
 *   to a node deregistering from home; or a binding gone before its route) is sent out of the
 *   home interface by a raw socket bound to it, as the host would have without the route.
 * - Sending: one IPPROTO_RAW socket (header included, never receives) for tunnel packets, ICMP
 *   errors and re-injections, routed by the kernel; the tunnel packets of a batch leave in one
 *   sendmmsg (rawIpSender's sendBatch).
 * - Home link (4.6): the home interface over AF_PACKET as a LinkInterface, on which
 *   runtime/ha/home-link.ts answers ARP for away nodes (proxy ARP) and sends the gratuitous ARPs.
 *   The same socket's IPv4 broadcast frames are offered to `rule.copies` (4.3, B bit).
 *
 * The TUN adapter hands the data path views into the reader's slab and calls `flush()` at the
 * end of each batch, before the slab is reused: no copy per datagram. The reader drains at
 * most `maxBatch` datagrams per wakeup, so the kernel's TUN queue (txqueuelen) is where
 * overload is shed; the kernel counts those drops on the device.
 */
import { readFileSync } from 'node:fs';
import { Cause, Effect, Exit, Layer, Scope } from 'effect';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { Link, type FrameInfo, type LinkInterface } from '../../io/link.js';
import { LinuxLinkLive, readInterfaceInfo } from '../../io/linux/packet.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { openHostRoutes, type HostRoutes, type HostRoutesCounters } from '../../io/linux/routes.js';
import { LinuxTunLive } from '../../io/linux/tun.js';
import { RawIp } from '../../io/raw-ip.js';
import { Tun, type TunOffloadState } from '../../io/tun.js';
import { ETHERNET_HEADER_LENGTH, EtherType, ethernetEtherType, ethernetIsMulticast } from '../../io/wire/ethernet.js';
import {
  IpProtocol,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
} from '../../io/wire/ipv4.js';
import { UDP_HEADER_LENGTH, udpChecksum, udpLength } from '../../io/wire/udp.js';
import type { Clock } from '../../io/clock.js';
import { largestTunnelOverhead, type Packet } from '../dataplane/data-plane.js';
import type { ForwardingChange } from '../dataplane/forwarding-table.js';
import {
  attachHomeAgentDataPath,
  rawIpSender,
  type CaptureRule,
  type HomeAgentDataPath,
  type HomeAgentHostPorts,
  type PacketTap,
} from './home-agent-data-path.js';
import type { HomeAgent } from './home-agent.js';
import type { HomeAgentSettings } from '../../policies/ha-request.js';

export const DEFAULT_TUNNEL_DEVICE = 'mip4ha0';
/** Whether the TUN device takes offloads unless dataPath.tunOffload says (see docs/architecture.md). */
export const DEFAULT_TUN_OFFLOAD = true;

/** Writes the UDP checksum of an unfragmented IPv4/UDP datagram whose checksum was left to offload. */
function completeUdpChecksum(datagram: Uint8Array): void {
  if (ipv4Protocol(datagram, 0) !== IpProtocol.UDP || ipv4IsFragment(datagram, 0)) return;
  const udpOffset = ipv4HeaderLength(datagram, 0);
  if (udpOffset + UDP_HEADER_LENGTH > datagram.length) return;
  const length = udpLength(datagram, udpOffset);
  if (length < UDP_HEADER_LENGTH || udpOffset + length > datagram.length) return;
  const checksum = udpChecksum(ipv4Source(datagram, 0), ipv4Destination(datagram, 0), datagram, udpOffset, length);
  datagram[udpOffset + 6] = checksum >>> 8;
  datagram[udpOffset + 7] = checksum & 0xff;
}

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

export interface LinuxDataPathCounters {
  /** Batches read from the TUN device. */
  tunBatches: number;
  /** Datagrams read from the TUN device. */
  tunDatagrams: number;
  /** Non-IPv4 packets read from the TUN (IPv6 neighbour discovery of the device), dropped. */
  notIpv4: number;
  /** Datagrams read from the TUN the rule did not claim, sent out of the home interface. */
  unclaimedToHomeLink: number;
  /** Of those, the ones the home-interface socket refused. */
  unclaimedSendFailed: number;
  /** Home-network broadcasts copied to the data path (4.3). */
  broadcastCopies: number;
  /** Errors reported by the devices and sockets (each logged as an event). */
  ioErrors: number;
}

export interface LinuxDataPathEvent {
  readonly event: 'data-path-error';
  readonly source: 'route' | 'tun' | 'raw-ip' | 'home-link';
  readonly message: string;
}

export interface LinuxHomeAgentDataPath {
  readonly tunnelDevice: string;
  /** The MTU given to the TUN device (dataPath.tunnelMtu or `tunnelMtuFor`). */
  readonly tunnelMtu: number;
  /** Whether the TUN device was opened with offloads (dataPath.tunOffload). */
  readonly tunOffload: boolean;
  readonly homeInterface: string;
  readonly path: HomeAgentDataPath;
  readonly routes: HostRoutes;
  readonly counters: LinuxDataPathCounters;
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
    homeLink: NonNullable<HomeAgentDataPath['homeLink']>['counters'] | undefined;
    /** The TUN offloads and what undoing them took (absent when dataPath.tunOffload is false). */
    tunOffload: TunOffloadState | undefined;
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

export interface StartLinuxDataPathOptions {
  readonly clock: Clock;
  /** `encapsulations` sizes the TUN device's MTU; absent: all of them (the largest header). */
  readonly settings: Pick<HomeAgentSettings, 'addresses' | 'homeNetwork' | 'prefixLength'> & Partial<Pick<HomeAgentSettings, 'encapsulations'>>;
  /** UDP port registrations are answered from (the 3.8.3.1 exemption). Default 434. */
  readonly registrationPort?: number;
}

/**
 * Starts the home agent's data path on this host: checks it, opens the devices and sockets,
 * attaches `attachHomeAgentDataPath`, and keeps one /32 route into the TUN device per home
 * address with a binding. Rejects with a DataPathStartError; nothing stays open then.
 */
export async function startLinuxHomeAgentDataPath(
  agent: Pick<HomeAgent, 'forwardingTable' | 'arpCommands'>,
  config: LinuxDataPathConfig,
  options: StartLinuxDataPathOptions,
): Promise<LinuxHomeAgentDataPath> {
  checkLinuxDataPathHost(config);
  const tunnelDevice = config.tunnelDevice ?? DEFAULT_TUNNEL_DEVICE;
  const maxBatch = config.maxBatch ?? 64;
  const tunOffloadWanted = config.tunOffload ?? DEFAULT_TUN_OFFLOAD;
  // checkLinuxDataPathHost has found the home interface.
  const homeInterfaceMtu = readInterfaceInfo(config.homeInterface)?.mtu ?? 1500;
  const tunnelMtu = config.tunnelMtu ?? tunnelMtuFor(homeInterfaceMtu, options.settings.encapsulations ?? { minimal: true, gre: true });
  const scope = Effect.runSync(Scope.make());
  const open = Effect.gen(function* () {
    const tunService = yield* Tun;
    const tunOptions = { maxPackets: maxBatch, mtu: tunnelMtu, slotSize: Math.max(2048, tunnelMtu + 64) };
    // Offloads only by default: a kernel that refuses them gets the plain device; asked for
    // explicitly, the refusal fails the start (below, naming dataPath.tunOffload).
    const tun = yield* tunService
      .open(tunnelDevice, { ...tunOptions, offload: tunOffloadWanted })
      .pipe(Effect.catchIf((error) => error.reason === 'offload' && config.tunOffload === undefined, () => tunService.open(tunnelDevice, { ...tunOptions, offload: false })));
    const routes = yield* openHostRoutes(tun.name, config.routeTable !== undefined ? { table: config.routeTable } : {});
    const rawIp = yield* RawIp;
    // IPPROTO_RAW (255): header included, sends any protocol, receives nothing (raw(7)).
    const sender = yield* rawIp.open(255, { headerIncluded: true });
    const homeSender = yield* rawIp.open(255, { headerIncluded: true, device: config.homeInterface });
    const link = yield* (yield* Link).open(config.homeInterface);
    return { tun, routes, sender, homeSender, link };
  });
  const exit = await Effect.runPromiseExit(
    open.pipe(Scope.extend(scope), Effect.provide(Layer.mergeAll(LinuxTunLive, LinuxRawIpLive, LinuxLinkLive))),
  );
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, Exit.void));
    const failure = Cause.failureOption(exit.cause);
    const error = failure._tag === 'Some' ? failure.value : Cause.squash(exit.cause);
    const tag = (error as { _tag?: string })._tag;
    const reason = (error as { reason?: string }).reason;
    const message =
      reason === 'offload'
        ? `dataPath.tunOffload: ${(error as Error).message}; set tunOffload: false to run without them`
        : reason === 'mtu'
        ? `dataPath.tunnelMtu: ${(error as Error).message}; ${config.tunnelMtu === undefined ? `the default is ${config.homeInterface}'s MTU (${homeInterfaceMtu}) less the tunnel header,` : 'give'} a value from 68 to the device's largest, e.g. ${tunnelMtuFor(1500, { minimal: true, gre: true })}`
        : (error as Error).message;
    throw new DataPathStartError(
      reason === 'permission' ? 'permission' : reason === 'no-such-interface' ? 'no-such-interface' : tag === 'TunError' || tag === 'RouteError' ? 'device' : 'socket',
      message,
    );
  }
  const { tun, routes, sender, homeSender, link } = exit.value;
  const tunOffload = tun.offloads() !== undefined;
  const eventSubject = new Subject<LinuxDataPathEvent>();
  const counters: LinuxDataPathCounters = {
    tunBatches: 0,
    tunDatagrams: 0,
    notIpv4: 0,
    unclaimedToHomeLink: 0,
    unclaimedSendFailed: 0,
    broadcastCopies: 0,
    ioErrors: 0,
  };
  const ioError = (source: 'route' | 'tun' | 'raw-ip' | 'home-link', message: string) => {
    counters.ioErrors++;
    if (eventSubject.observed) eventSubject.next({ event: 'data-path-error', source, message });
  };
  tun.onError((error) => ioError('tun', error.message));
  sender.onError((error) => ioError('raw-ip', error.message));
  homeSender.onError((error) => ioError('raw-ip', error.message));

  // flush() of the data path, called at the end of each batch (set once attached).
  let flush: () => void = () => {};
  let broadcastHandler: ((frame: Uint8Array, info?: FrameInfo) => void) | undefined;
  let arpHandler: (frame: Uint8Array) => void = () => {};

  // The home interface shared by the ARP executor and the broadcast copier: one AF_PACKET
  // socket per interface and process (io/linux/packet.ts).
  const sharedHandlers = new Set<(frame: Uint8Array) => void>();
  link.onFrame((frame, info) => {
    arpHandler(frame);
    for (const shared of sharedHandlers) shared(frame);
    if (broadcastHandler !== undefined && ethernetIsMulticast(frame, 0) && frame.length >= ETHERNET_HEADER_LENGTH + 20 && ethernetEtherType(frame, 0) === EtherType.IPv4) {
      broadcastHandler(frame, info);
    }
  });
  const homeLinkView: LinkInterface = {
    name: link.name,
    mac: link.mac,
    mtu: link.mtu,
    send: (frame) => link.send(frame),
    onFrame: (handler) => {
      arpHandler = handler;
    },
    onError: (handler) => link.onError(handler),
  };

  const openTap = (rule: CaptureRule): PacketTap => {
    let handler: ((batch: readonly Packet[]) => void) | undefined;
    const claimed: Packet[] = [];
    tun.onPackets((batch) => {
      counters.tunBatches++;
      counters.tunDatagrams += batch.count;
      for (let i = 0; i < batch.count; i++) {
        const datagram = batch.packet(i);
        if (datagram.length < 20 || datagram[0]! >> 4 !== 4) {
          // IPv6 the kernel sends on any new device (router solicitations, MLD): not ours.
          counters.notIpv4++;
          continue;
        }
        if (handler !== undefined && rule.claims(datagram)) {
          // The kernel forwarded it into the device: TTL already decremented.
          claimed.push({ bytes: datagram, forwarded: true });
          continue;
        }
        // Not the agent's (see the file header): on to the home link, as if unrouted.
        counters.unclaimedToHomeLink++;
        if (!homeSender.send(datagram, ipv4Destination(datagram, 0))) counters.unclaimedSendFailed++;
      }
      if (claimed.length > 0 && handler !== undefined) {
        handler(claimed.splice(0));
        flush();
      }
    });
    broadcastHandler = (frame, info) => {
      if (handler === undefined || ipv4DatagramProblem(frame, ETHERNET_HEADER_LENGTH, frame.length) !== undefined) return;
      const datagram = frame.subarray(ETHERNET_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + ipv4TotalLength(frame, ETHERNET_HEADER_LENGTH));
      if (!rule.copies(datagram)) return;
      counters.broadcastCopies++;
      const copy = datagram.slice();
      // A broadcast from a socket of this same host (another namespace over a veth) arrives
      // with its UDP checksum left to offload; the tunnel carries it on to another host, which
      // would find it wrong, so it is completed here (io/link.ts FrameInfo).
      if (info?.checksumNotReady === true) completeUdpChecksum(copy);
      handler([{ bytes: copy, ingress: config.homeInterface, linkBroadcast: true }]);
      flush();
    };
    return {
      onPackets(next) {
        handler = next;
      },
      release() {
        handler = undefined;
        broadcastHandler = undefined;
      },
    };
  };

  const ports: HomeAgentHostPorts = { openTap, sender: rawIpSender(sender), homeLink: homeLinkView };
  const path = attachHomeAgentDataPath(agent, ports, {
    clock: options.clock,
    addresses: options.settings.addresses,
    homeNetwork: options.settings.homeNetwork,
    prefixLength: options.settings.prefixLength,
    homeInterface: config.homeInterface,
    ...(options.registrationPort !== undefined ? { registrationPort: options.registrationPort } : {}),
    ...(config.queueLimit !== undefined ? { queueLimit: config.queueLimit } : {}),
    maxBatch,
  });
  flush = () => path.flush();
  const homeLinkErrors = path.homeLink?.events.subscribe((event) => {
    if (event.event === 'link-error') ioError('home-link', event.detail);
  });

  // One route per home address with at least one binding (4.2.3).
  const route = (address: number) => {
    const error = routes.add(address);
    if (error !== undefined) ioError('route', error.message);
  };
  for (const entry of agent.forwardingTable) route(entry.homeAddress);
  // A renewal is a 'set' for an address already routed: one Set lookup. A failed add is
  // retried at the next change of that address.
  const routeChanges: Subscription = agent.forwardingTable.changes.subscribe((change: ForwardingChange) => {
    if (change.kind === 'delete') {
      const error = routes.remove(change.homeAddress);
      if (error !== undefined) ioError('route', error.message);
    } else if (!routes.has(change.entry.homeAddress)) {
      route(change.entry.homeAddress);
    }
  });

  let stopped = false;
  return {
    tunnelDevice: tun.name,
    tunnelMtu,
    tunOffload,
    homeInterface: config.homeInterface,
    path,
    routes,
    counters,
    events: eventSubject.asObservable(),
    shareHomeLink(): LinkInterface {
      let current: ((frame: Uint8Array) => void) | undefined;
      return {
        name: link.name,
        mac: link.mac,
        mtu: link.mtu,
        send: (frame) => link.send(frame),
        onFrame: (handler) => {
          if (current !== undefined) sharedHandlers.delete(current);
          current = handler;
          if (!stopped) sharedHandlers.add(handler);
        },
        onError: (handler) => link.onError(handler),
      };
    },
    snapshot: () => ({
      linux: { ...counters },
      path: { ...path.counters },
      plane: { ...path.planeCounters },
      routes: { ...routes.counters },
      homeLink: path.homeLink === undefined ? undefined : { ...path.homeLink.counters },
      tunOffload: tun.offloads(),
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      routeChanges.unsubscribe();
      homeLinkErrors?.unsubscribe();
      sharedHandlers.clear();
      path.detach();
      await Effect.runPromise(Scope.close(scope, Exit.void));
      eventSubject.complete();
    },
  };
}
