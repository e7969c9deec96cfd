/**
 * The PacketTap service (io/packet-tap.ts) on Linux:
 *
 *   claim(address) ──► /32 route into a TUN device (io/linux/routes.ts, proto 77)
 *   correspondent ──► kernel forwarding ──► TUN ──► batch read ──► `batches` (forwarded: true)
 *   home interface (AF_PACKET) ──► IPv4 broadcast frames ──► rule.copies ──► `batches` (4.3)
 *   send / sendBatch ──► IPPROTO_RAW socket (header included, sendmmsg) ──► kernel routing
 *   reinject, and what the rule exempts ──► raw socket bound to the home interface
 *
 * Interception (4.2.3) is routing, not filtering: the kernel brings a claimed address's
 * datagrams into the device, already forwarded (TTL decremented). A datagram read from the
 * device that the rule exempts (3.8.3.1) or that the plane passes back leaves through a raw
 * socket bound to the home interface (SO_BINDTODEVICE), as the host would have sent it without
 * the route; IPv6 the kernel sends on a new device is dropped and counted. Each read is one
 * batch of views into the reader's slab, emitted before the slab is reused: no copy per
 * datagram; overload is shed where the kernel queues for the device (txqueuelen).
 *
 * The home interface is one AF_PACKET socket (one per interface and process): its frames go
 * to every view `openHomeLink` made (ARP executor, advertiser) and its IPv4 broadcasts to
 * `rule.copies`. The TUN device's MTU and offloads are the layer's configuration
 * (docs/operations.md, "The home agent's data path on Linux").
 */
import { Effect, Layer, type Scope } from 'effect';
import { Subject } from 'rxjs';
import { Link, type FrameInfo, type LinkInterface } from '../link.js';
import {
  DEFAULT_TAP_MAX_BATCH,
  PacketTap,
  PacketTapError,
  linkBroadcastDatagram,
  type OpenedPacketTap,
  type Packet,
  type PacketTapCounters,
  type PacketTapOptions,
} from '../packet-tap.js';
import { RawIp, type RawIpSocket } from '../raw-ip.js';
import { KernelDrops } from '../kernel-drops.js';
import { Tun, type SlabBatch, type TunDevice, type TunOffloadState } from '../tun.js';
import type { Ipv4Address } from '../wire/bytes.js';
import { IpProtocol, ipv4Destination } from '../wire/ipv4.js';
import { completeTransportChecksum } from '../wire/transport-checksum.js';
import { LinuxLinkLive } from './packet.js';
import { LinuxRawIpLive } from './raw-ip.js';
import { openHostRoutes, type HostRoutes } from './routes.js';
import { LinuxTunLive } from './tun.js';

export interface LinuxPacketTapConfig {
  /** Name of the TUN device created for interception. */
  readonly tunnelDevice: string;
  /** MTU given to the device. */
  readonly tunnelMtu: number;
  /**
   * Open the device with offloads (io/tun.ts `offload`). `undefined`: try them and fall back to
   * a plain device when the kernel refuses; `true`: a refusal fails the open.
   */
  readonly tunOffload?: boolean;
  /** Routing table of the claims' routes (default 254, main). */
  readonly routeTable?: number;
  /**
   * IP protocols of the tunnels to this host the rule may decapsulate (R4.2.3-7): one raw
   * socket each (4 IP in IP; 47 GRE and 55 minimal when offered). Default [4]; used only when
   * the rule has `decapsulates`.
   */
  readonly tunnelProtocols?: readonly number[];
}

export interface LinuxPacketTapCounters {
  /** Batches read from the TUN device. */
  tunBatches: number;
  /** Datagrams read from the TUN device. */
  tunDatagrams: number;
  /** Non-IPv4 packets read from the TUN (IPv6 neighbour discovery of the device), dropped. */
  notIpv4: number;
  /** Datagrams read from the TUN the rule exempted, sent out of the home interface. */
  unclaimedToHomeLink: number;
  /** Of those, the ones the home-interface socket refused. */
  unclaimedSendFailed: number;
  /** Home-network broadcasts copied to the batches (4.3). */
  broadcastCopies: number;
  /** Errors reported by the devices and sockets (each also given to onError). */
  ioErrors: number;
  /** Tunnel packets to this host read from the raw sockets and handed to the plane (R4.2.3-7). */
  tunnelsReceived: number;
  /** Decapsulated datagrams written into the TUN device for the kernel to route. */
  routedIntoTun: number;
}

/** The Linux tap: the neutral one plus its device, routes and counters, for logs. */
export interface LinuxPacketTap extends OpenedPacketTap {
  readonly device: { readonly name: string; readonly mtu: number; readonly offload: boolean };
  readonly routes: HostRoutes;
  readonly linuxCounters: LinuxPacketTapCounters;
  /**
   * What the kernel dropped before the tap read it: the TUN device's queue towards the home agent
   * full (its tx_dropped), what the tap wrote into it and the kernel refused (rx_dropped), the
   * tunnel receivers' queues full. Read from the kernel when asked.
   */
  readonly kernelDrops: KernelDrops;
  /** The TUN offloads and what undoing them took (undefined without offloads). */
  tunOffload(): TunOffloadState | undefined;
}

/** Largest sendBatch the native helper takes. */
const MAX_SEND_BATCH = 1024;

/**
 * Batched sending over a RawIp socket opened with `headerIncluded: true`. The plane's outputs
 * are views into a few pool slabs: a run of datagrams in one ArrayBuffer goes out as one
 * sendmmsg with offsets into it, without copying; a datagram the kernel refuses is tried alone
 * and the rest go on.
 */
export function rawIpBatchSender(socket: RawIpSocket): (datagrams: readonly Uint8Array[], to: readonly Ipv4Address[], count: number) => number {
  if (!socket.headerIncluded) throw new Error('rawIpBatchSender needs a RawIp socket opened with headerIncluded: true');
  const offsets = new Int32Array(MAX_SEND_BATCH);
  const lengths = new Int32Array(MAX_SEND_BATCH);
  const destinations = new Uint32Array(MAX_SEND_BATCH);
  let lastBuffer: ArrayBufferLike | undefined;
  let lastView: Uint8Array = new Uint8Array(0);
  return (datagrams, to, count) => {
    let sent = 0;
    let next = 0;
    while (next < count) {
      const buffer = datagrams[next]!.buffer;
      if (buffer !== lastBuffer) {
        lastBuffer = buffer;
        lastView = new Uint8Array(buffer);
      }
      let n = 0;
      while (next + n < count && n < MAX_SEND_BATCH && datagrams[next + n]!.buffer === buffer) {
        const datagram = datagrams[next + n]!;
        offsets[n] = datagram.byteOffset;
        lengths[n] = datagram.length;
        destinations[n] = to[next + n]!;
        n++;
      }
      const done = socket.sendBatch({ slab: lastView, offsets, lengths, count: n }, destinations);
      sent += done;
      next += done;
      if (done < n) {
        // The kernel stopped at this one (queue full, or an error for it alone, e.g. no route
        // to its care-of address): try it by itself, then go on with the others.
        if (socket.send(datagrams[next]!, to[next]!)) sent++;
        next++;
      }
    }
    return sent;
  };
}

/** The underlying service's error as the tap's: the reason its caller can act on, the words kept. */
function tapError(error: { readonly _tag: string; readonly reason: string; readonly message: string }): PacketTapError {
  const source = { TunError: 'tun', RouteError: 'route', RawIpError: 'raw-ip', LinkError: 'link' }[error._tag] ?? 'linux';
  const reason =
    error.reason === 'permission' || error.reason === 'no-such-interface'
      ? error.reason
      : source === 'tun' || source === 'route'
        ? 'device'
        : 'socket';
  return new PacketTapError({ reason, source, message: error.message, detail: error.reason });
}

/** Opens the devices and sockets of a Linux tap in the current scope. */
export function openLinuxPacketTap(config: LinuxPacketTapConfig, options: PacketTapOptions): Effect.Effect<LinuxPacketTap, PacketTapError, Scope.Scope> {
  const maxBatch = options.maxBatch ?? DEFAULT_TAP_MAX_BATCH;
  const open = Effect.gen(function* () {
    const tunService = yield* Tun;
    const tunOptions = { maxPackets: maxBatch, mtu: config.tunnelMtu, slotSize: Math.max(2048, config.tunnelMtu + 64) };
    // Offloads by default: a kernel that refuses them gets the plain device; asked for
    // explicitly, the refusal fails the open.
    const tun = yield* tunService
      .open(config.tunnelDevice, { ...tunOptions, offload: config.tunOffload ?? true })
      .pipe(Effect.catchIf((error) => error.reason === 'offload' && config.tunOffload === undefined, () => tunService.open(config.tunnelDevice, { ...tunOptions, offload: false })));
    const routes = yield* openHostRoutes(tun.name, config.routeTable !== undefined ? { table: config.routeTable } : {});
    const rawIp = yield* RawIp;
    // IPPROTO_RAW (255): header included, sends any protocol, receives nothing (raw(7)).
    const sender = yield* rawIp.open(255, { headerIncluded: true });
    const homeSender = yield* rawIp.open(255, { headerIncluded: true, device: options.homeInterface });
    const link = yield* (yield* Link).open(options.homeInterface);
    // Raw sockets receive a copy of every datagram of their protocol addressed to this host,
    // IPv4 header first (raw(7)); and with one open the kernel sends no Protocol Unreachable.
    const tunnelReceivers: RawIpSocket[] = [];
    if (options.rule.decapsulates !== undefined) {
      for (const protocol of config.tunnelProtocols ?? [IpProtocol.IPIP]) tunnelReceivers.push(yield* rawIp.open(protocol, { maxPackets: maxBatch }));
    }
    return { tun, routes, sender, homeSender, link, tunnelReceivers };
  });
  return open.pipe(
    Effect.provide(Layer.mergeAll(LinuxTunLive, LinuxRawIpLive, LinuxLinkLive)),
    Effect.mapError(tapError),
    Effect.flatMap((opened) => Effect.acquireRelease(Effect.sync(() => assemble(config, options, opened)), ({ close }) => Effect.sync(close))),
    Effect.map(({ tap }) => tap),
  );
}

interface Opened {
  readonly tun: TunDevice;
  readonly routes: HostRoutes;
  readonly sender: RawIpSocket;
  readonly homeSender: RawIpSocket;
  readonly link: LinkInterface;
  readonly tunnelReceivers: readonly RawIpSocket[];
}

/** What the read paths of one tap share. */
interface TapState {
  readonly rule: PacketTapOptions['rule'];
  readonly homeInterface: string;
  readonly batches: Subject<Packet[]>;
  readonly counters: PacketTapCounters;
  readonly linuxCounters: LinuxPacketTapCounters;
  readonly toHomeLink: (datagram: Uint8Array) => boolean;
}

/**
 * One read of the TUN device → one batch of views into the reader's slab, marked `forwarded`
 * (the kernel routed them in: TTL already decremented). What the rule exempts, or everything
 * while nobody listens, goes on to the home link as if unrouted; IPv6 the kernel sends on any
 * new device (router solicitations, MLD) is dropped.
 */
function readTun(state: TapState, read: SlabBatch): void {
  const { linuxCounters, counters } = state;
  linuxCounters.tunBatches++;
  linuxCounters.tunDatagrams += read.count;
  const packets: Packet[] = [];
  for (let i = 0; i < read.count; i++) {
    const datagram = read.packet(i);
    if (datagram.length < 20 || datagram[0]! >> 4 !== 4) {
      linuxCounters.notIpv4++;
    } else if (!state.batches.observed || state.rule.exempts(datagram)) {
      linuxCounters.unclaimedToHomeLink++;
      if (!state.toHomeLink(datagram)) linuxCounters.unclaimedSendFailed++;
    } else {
      packets.push({ bytes: datagram, forwarded: true });
    }
  }
  if (packets.length === 0) return;
  counters.captured += packets.length;
  counters.batches++;
  state.batches.next(packets);
}

/**
 * One read of a tunnel protocol's raw socket → the tunnel packets to this host the rule
 * decapsulates (R4.2.3-7), as one batch of views into the socket's slab (not `forwarded`: the
 * plane routes the inner datagram itself).
 */
function readTunnels(state: TapState, read: SlabBatch): void {
  if (!state.batches.observed || state.rule.decapsulates === undefined) return;
  const packets: Packet[] = [];
  for (let i = 0; i < read.count; i++) {
    const datagram = read.packet(i);
    if (datagram.length >= 20 && state.rule.decapsulates(datagram)) packets.push({ bytes: datagram });
  }
  if (packets.length === 0) return;
  state.linuxCounters.tunnelsReceived += packets.length;
  state.counters.captured += packets.length;
  state.counters.batches++;
  state.batches.next(packets);
}

/**
 * A frame of the home interface → a copy of its IPv4 broadcast when the rule wants it (4.3),
 * as a batch of one. A broadcast from a socket of this same host (another namespace over a
 * veth) arrives with its UDP checksum left to offload; the tunnel carries it on to another
 * host, which would find it wrong, so it is completed here (io/link.ts FrameInfo).
 */
function copyBroadcast(state: TapState, frame: Uint8Array, info: FrameInfo | undefined): void {
  if (!state.batches.observed) return;
  const datagram = linkBroadcastDatagram(frame);
  if (datagram === undefined || !state.rule.copies(datagram)) return;
  state.linuxCounters.broadcastCopies++;
  const copy = datagram.slice();
  if (info?.checksumNotReady === true) completeTransportChecksum(copy);
  state.counters.captured++;
  state.counters.batches++;
  state.batches.next([{ bytes: copy, ingress: state.homeInterface, linkBroadcast: true }]);
}

/** Views of one link, each with its own frame handler, all fed from the link's one handler. */
function linkViews(link: LinkInterface): { open(): LinkInterface; dispatch(frame: Uint8Array, info?: FrameInfo): void; close(): void } {
  const handlers = new Set<(frame: Uint8Array, info?: FrameInfo) => void>();
  let closed = false;
  return {
    open(): LinkInterface {
      let current: ((frame: Uint8Array, info?: FrameInfo) => void) | undefined;
      return {
        name: link.name,
        mac: link.mac,
        mtu: link.mtu,
        send: (frame) => link.send(frame),
        onFrame: (handler) => {
          if (current !== undefined) handlers.delete(current);
          current = handler;
          if (!closed) handlers.add(handler);
        },
        onError: (handler) => link.onError(handler),
      };
    },
    dispatch(frame, info) {
      for (const handler of handlers) handler(frame, info);
    },
    close() {
      closed = true;
      handlers.clear();
    },
  };
}

/** The tap over opened devices: reads, views, claims and sends. */
function assemble(config: LinuxPacketTapConfig, options: PacketTapOptions, { tun, routes, sender, homeSender, link, tunnelReceivers }: Opened): { tap: LinuxPacketTap; close: () => void } {
  const state: TapState = {
    rule: options.rule,
    homeInterface: options.homeInterface,
    batches: new Subject<Packet[]>(),
    counters: { captured: 0, shed: 0, batches: 0 },
    linuxCounters: { tunBatches: 0, tunDatagrams: 0, notIpv4: 0, unclaimedToHomeLink: 0, unclaimedSendFailed: 0, broadcastCopies: 0, ioErrors: 0, tunnelsReceived: 0, routedIntoTun: 0 },
    toHomeLink: (datagram) => homeSender.send(datagram, ipv4Destination(datagram, 0)),
  };
  let closed = false;
  let errorHandler: ((error: PacketTapError) => void) | undefined;
  const ioError = (source: string, message: string, reason: 'io' | 'claim' = 'io'): void => {
    state.linuxCounters.ioErrors++;
    errorHandler?.(new PacketTapError({ reason, source, message }));
  };
  tun.onError((error) => ioError('tun', error.message));
  sender.onError((error) => ioError('raw-ip', error.message));
  homeSender.onError((error) => ioError('raw-ip', error.message));
  tun.onPackets((read) => readTun(state, read));
  for (const receiver of tunnelReceivers) {
    receiver.onError((error) => ioError('raw-ip', error.message));
    receiver.onPackets((read) => readTunnels(state, read));
  }
  const views = linkViews(link);
  link.onFrame((frame, info) => {
    views.dispatch(frame, info);
    copyBroadcast(state, frame, info);
  });

  const kernelDrops = new KernelDrops();
  const tunDrops = tun.deviceDrops;
  if (tunDrops !== undefined) {
    kernelDrops.add('kernel-tun-read-queue', () => tunDrops().transmitDropped);
    kernelDrops.add('kernel-tun-write', () => tunDrops().receiveDropped);
  }
  for (const receiver of tunnelReceivers) {
    const drops = receiver.receiveQueueDrops?.bind(receiver);
    if (drops !== undefined) kernelDrops.add('kernel-tunnel-receive-queue', drops);
  }
  const tap: LinuxPacketTap = {
    batches: state.batches.asObservable(),
    kernelDrops,
    counters: state.counters,
    device: { name: tun.name, mtu: config.tunnelMtu, offload: tun.offloads() !== undefined },
    routes,
    linuxCounters: state.linuxCounters,
    tunOffload: () => tun.offloads(),
    claim(address) {
      if (closed || routes.has(address)) return;
      const error = routes.add(address);
      // A failed add is tried again at the next claim of that address.
      if (error !== undefined) ioError('route', error.message, 'claim');
    },
    unclaim(address) {
      if (closed) return;
      const error = routes.remove(address);
      if (error !== undefined) ioError('route', error.message, 'claim');
    },
    send: (datagram, destination) => sender.send(datagram, destination),
    sendBatch: rawIpBatchSender(sender),
    reinject: state.toHomeLink,
    // Into the TUN device: the kernel takes it as arriving there and routes it (ip_forward). Its
    // source is a home address whose /32 route leads into this device, so strict rp_filter
    // passes it while the binding lasts (docs/operations.md).
    route(datagram) {
      if (!tun.send(datagram)) return false;
      state.linuxCounters.routedIntoTun++;
      return true;
    },
    openHomeLink: () => views.open(),
    onError(handler) {
      errorHandler = handler;
    },
    queued: () => 0,
    flush: () => {},
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    views.close();
    state.batches.complete();
  };
  return { tap, close };
}

/** The PacketTap service on this Linux host, with one TUN device per open tap. */
export function linuxPacketTapLayer(config: LinuxPacketTapConfig): Layer.Layer<PacketTap> {
  return Layer.succeed(PacketTap, { open: (options) => openLinuxPacketTap(config, options) });
}
