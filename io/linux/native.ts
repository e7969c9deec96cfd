/**
 * The native helper (native/*.c, built by `npm ci` through node-gyp) and typed wrappers.
 *
 * The addon only opens descriptors, polls them on Node's event loop and moves packets in
 * batches between the kernel and slabs owned here; everything else (which packets, what to do
 * with errors) is TypeScript. Loading is lazy so that the simulated world, the codecs and the
 * tests that do not need Linux never touch the addon.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SlabBatch } from '../tun.js';

/** Descriptor kinds understood by startReader/sendBatch (must match native/mip4_io.h). */
/** An event of watchLinkEvents; addresses in host order (read back with `>>> 0`). */
export type NativeLinkEvent =
  | { readonly kind: 'link'; readonly interfaceName: string; readonly ifindex: number; readonly up: boolean; readonly carrier: boolean }
  | { readonly kind: 'address'; readonly interfaceName: string; readonly ifindex: number; readonly added: boolean; readonly address: number; readonly prefixLength: number }
  | { readonly kind: 'default-route'; readonly interfaceName: string; readonly ifindex: number; readonly added: boolean; readonly gateway: number }
  | { readonly kind: 'sync'; readonly phase: 'begin' | 'end'; readonly overrun: boolean };

/** The opaque handle of a link-event watch (a type-tagged external). */
export type LinkWatchHandle = { readonly __linkWatch: unique symbol };

export const DescriptorKind = { Tun: 0, Packet: 1, RawIp: 2, Udp: 3 } as const;
export type DescriptorKind = (typeof DescriptorKind)[keyof typeof DescriptorKind];

/** Int32 words per packet in a reader's metadata array: offset, length, source, extra, destination. */
export const META_WORDS = 5;
/** Largest batch the addon accepts. */
export const MAX_BATCH = 1024;
/** sll_pkttype of a frame this host sent itself (linux/if_packet.h PACKET_OUTGOING). */
export const PACKET_OUTGOING = 4;
/** Bit set in an AF_PACKET packet's extra word when the frame did not fit its slot. */
export const PACKET_TRUNCATED = 0x100;
/**
 * Bit set in an AF_PACKET packet's extra word when the kernel reports TP_STATUS_CSUMNOTREADY:
 * the frame was sent by this same kernel (e.g. from another namespace over a veth) with its
 * transport checksum left to be filled in (CHECKSUM_PARTIAL), so the field is not yet valid.
 */
export const PACKET_CHECKSUM_NOT_READY = 0x200;

/** Bit set in a UDP datagram's extra word (above its source port) when it did not fit its slot. */
export const UDP_TRUNCATED = 0x10000;

/** An opaque reader handle. */
export type ReaderHandle = { readonly __mip4Reader: unique symbol };

/** The addon's exports, as native/mip4_io.c exports them. */
/**
 * A batched UDP send (sendUdpBatch, sendUdpSegmented): datagram i (first <= i < count) is
 * slab[offsets[i] .. + lengths[i]) to addresses[i]:ports[i] (host order).
 */
export type UdpBatchSend = (
  fd: number,
  slab: Uint8Array,
  offsets: Int32Array,
  lengths: Int32Array,
  addresses: Uint32Array,
  ports: Int32Array,
  first: number,
  count: number,
  sources?: Uint32Array,
) => number;

export interface NativeIo {
  /**
   * `offload`: IFF_VNET_HDR + TUNSETOFFLOAD; the reader then segments GSO packets and completes
   * partial checksums, and writes carry a zeroed virtio_net_hdr. `offloads`: the TUN_F_* flags
   * the kernel accepted (0 without offload).
   */
  openTun(name: string, options?: { offload?: boolean }): { fd: number; name: string; offloads: number };
  openPacket(ifname: string, ethertype?: number): { fd: number; ifindex: number };
  /** `device`: bound to that interface (SO_BINDTODEVICE), its sends leave there whatever the routes say. */
  openRawIp(protocol: number, options?: { hdrincl?: boolean; device?: string }): number;
  startReader(
    fd: number,
    kind: DescriptorKind,
    slab: Uint8Array,
    maxPackets: number,
    meta: Int32Array,
    /**
     * Once per batch; a negative count is -errno. When the slab's or meta's ArrayBuffer was
     * detached (transferred) or shrunk, the reader stops without reading and the count is
     * -EFAULT with `error` saying so.
     */
    callback: (count: number, error?: NativeError) => void,
  ): ReaderHandle;
  stopReader(handle: ReaderHandle): void;
  refReader(handle: ReaderHandle, ref: boolean): void;
  sendBatch(
    fd: number,
    kind: DescriptorKind,
    slab: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    destinations?: Uint32Array,
  ): number;
  close(fd: number): void;
  /** A NETLINK_ROUTE socket for the calls below (close with `close`). */
  openNetlink(): number;
  /**
   * Adds (operation 0; EEXIST when present), adds or replaces (1) or deletes (2; ESRCH when
   * absent) the scope-link route destination/prefixLength dev ifindex in `table`, marked with
   * rtm_protocol `protocol`. Destination in host order. Errors name the route and the device.
   */
  routeChange(fd: number, operation: RouteOperation, destination: number, prefixLength: number, ifindex: number, table: number, protocol: number): void;
  /** The IPv4 routes of `table` marked with rtm_protocol `protocol`. */
  routeList(fd: number, table: number, protocol: number): Array<{ destination: number; prefixLength: number; ifindex: number }>;
  /** Sets or clears IFF_UP on an interface. */
  setLinkUp(fd: number, ifindex: number, up: boolean): void;
  /** Sets an interface's MTU (SIOCSIFMTU); errors name the errno, the MTU and the device. */
  setMtu(name: string, mtu: number): void;
  /** The interface's index, 0 when there is no such interface. */
  interfaceIndex(name: string): number;
  /**
   * Subscribes to the kernel's link, IPv4 address and default-route events (rtnetlink groups,
   * native/link-events.c): `callback` runs once per batch with plain objects; a dump of the
   * state comes first, between 'sync' begin and end, and again after an overrun (ENOBUFS).
   * A read failure calls back with [] and the error, and the watch stops.
   */
  watchLinkEvents(callback: (events: NativeLinkEvent[], error?: NativeError) => void, options?: { receiveBuffer?: number }): LinkWatchHandle;
  stopLinkEvents(handle: LinkWatchHandle): void;
  refLinkEvents(handle: LinkWatchHandle, ref: boolean): void;
  /**
   * A non-blocking UDP socket bound to address:port (host order; 0 = any), with IP_PKTINFO (each
   * datagram reports its destination). Returns the address and port actually bound. Throws a
   * NativeError (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...).
   */
  openUdp(
    address: number,
    port: number,
    options?: { broadcast?: boolean; receiveBufferBytes?: number; sendBufferBytes?: number },
  ): { fd: number; address: number; port: number };
  /**
   * Sends datagrams first..count-1 with sendmmsg. Returns how many went (fewer when the socket
   * buffer is full or the next one fails; 0 when the first could not go for lack of room), or
   * -errno when the datagram at `first` failed. `sources[i]`, when given and not 0, is the IP
   * source address datagram i carries (IP_PKTINFO; for a socket bound to 0.0.0.0).
   */
  sendUdpBatch: UdpBatchSend;
  /**
   * sendUdpBatch's contract, with UDP GSO: each run of consecutive datagrams to one destination
   * (and source) whose lengths are equal, the last possibly shorter, at most 64 and 65,000
   * bytes, leaves as one message with UDP_SEGMENT (native/udp-gso.c); the receiver sees the same
   * datagrams. Use only where udpSegmentSupported(fd).
   */
  sendUdpSegmented: UdpBatchSend;
  /** Whether this kernel offers UDP_SEGMENT on the socket (Linux 4.18). */
  udpSegmentSupported(fd: number): boolean;
  /** A disarmed one-shot writability watch on the socket (polls a dup of `fd`). */
  watchWritable(fd: number, callback: (status: number) => void): WatchHandle;
  /** Calls the watch's callback once, when the socket can send again. */
  armWritable(handle: WatchHandle): void;
  /** Stops the watch and closes its dup; safe twice. */
  stopWritable(handle: WatchHandle): void;
  /**
   * Sets a socket's receive and send buffers (0 leaves one as it is): SO_RCVBUFFORCE and
   * SO_SNDBUFFORCE where the process has CAP_NET_ADMIN, else the plain options, which the kernel
   * caps at net.core.rmem_max / wmem_max. Returns the sizes now in force (the kernel reports
   * twice what it was given) and whether they were forced (native/socket-buffers.c).
   */
  setSocketBuffers(fd: number, receiveBytes: number, sendBytes: number): { receive: number; send: number; forced: boolean };
  /**
   * The datagrams the kernel dropped on their way into the socket's receive queue since it was
   * opened (sk_drops by SO_MEMINFO: /proc/net/raw's drops column; for AF_PACKET also tp_drops).
   */
  socketDrops(fd: number): number;
  /** What the reader of an offload TUN or of an openPacket socket (PACKET_VNET_HDR) did (undefined for a descriptor without offload). */
  tunOffloadCounters(fd: number): TunOffloadCounters | undefined;
  /**
   * For tests: what the reader makes of one read from an offload TUN (`input` = virtio_net_hdr +
   * packet), or with `linkLength` 14 from an AF_PACKET socket of an Ethernet interface
   * (virtio_net_hdr + frame; openPacket asks for PACKET_VNET_HDR): the packets it yields, in slots of `slotSize` bytes of `slab`, offset and length
   * first of each packet's META_WORDS in `meta`. 0 when the reader would drop it; RangeError when the slab has too few slots.
   */
  segmentOffloaded(input: Uint8Array, slab: Uint8Array, slotSize: number, meta: Int32Array, linkLength?: 0 | 14): number;
}

/** An opaque writability watch handle. */
export type WatchHandle = { readonly __mip4Watch: unique symbol };

/** Counters of an offload TUN's reader (native/tun.c "TUN offloads"). */
export interface TunOffloadCounters {
  /** GSO packets read and segmented. */
  readonly superPackets: number;
  /** Segments made from them. */
  readonly segments: number;
  /** Other packets whose partial checksum was completed. */
  readonly checksumsCompleted: number;
  /**
   * Reads that could not be used (malformed, a GSO kind never asked for, IPv6 GSO, too large), and
   * super-packets whose reader stopped before handing over all their segments, dropped.
   */
  readonly dropped: number;
}

/** TUNSETOFFLOAD flags (linux/if_tun.h), as reported by openTun. */
export const TunOffloadFlag = { Checksum: 0x01, Tso4: 0x02, Tso6: 0x04, TsoEcn: 0x08, Uso4: 0x20, Uso6: 0x40 } as const;

/** routeChange operations (must match native/links.c). */
export const RouteOperation = { Add: 0, Replace: 1, Delete: 2 } as const;
export type RouteOperation = (typeof RouteOperation)[keyof typeof RouteOperation];

/** A system-call failure thrown by the addon: `code` is the errno name (EPERM, ENODEV, EBUSY, ...). */
export interface NativeError extends Error {
  readonly code: string;
  readonly errno: number;
}

/** True for system-call failures (argument errors are TypeError/RangeError without errno). */
export function isNativeError(error: unknown): error is NativeError {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { errno?: unknown }).errno === 'number'
  );
}

// The one interface-name rule (io/interface-name.ts); the addon's C check applies it too.
export { interfaceNameProblem } from '../interface-name.js';

/** What to do about a missing or unloadable helper (the package builds it at install when it can). */
export const NATIVE_BUILD_HINT =
  'install g++, make, python3 and Node headers, then `npm rebuild mip4` (`npm rebuild -g mip4` for a global install, `npm ci` in a clone)';

export const NATIVE_MISSING_MESSAGE = `the native IO helper is not built: ${NATIVE_BUILD_HINT}`;

export class NativeHelperMissingError extends Error {
  override readonly name = 'NativeHelperMissingError';
  constructor(readonly searched: readonly string[]) {
    super(`the native IO helper is not built (${expectedAddonPath(searched)} missing): ${NATIVE_BUILD_HINT}`);
  }
}

/** The addon exists but cannot be loaded (built for another Node ABI, truncated, another architecture). */
export class NativeHelperLoadError extends Error {
  override readonly name = 'NativeHelperLoadError';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`the native IO helper ${path} cannot be loaded (${(cause as Error).message ?? String(cause)}): ${NATIVE_BUILD_HINT}`);
  }
}

// The addon sits in build/Release at the package root, which is two levels above this file in
// the sources (io/linux) and three in the compiled output (dist/io/linux).
const CANDIDATES = ['../../build/Release/mip4_io.node', '../../../build/Release/mip4_io.node'];

/**
 * Names an addon to load instead of build/Release (scripts/native-asan.sh points it at the
 * sanitized build). When set, only that file is tried: a test run meant for it must never fall
 * back silently to the ordinary build.
 */
export const NATIVE_ADDON_ENV = 'MIP4_NATIVE_ADDON';

/** The files loadNative tries, in order. */
export function nativeAddonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const chosen = env[NATIVE_ADDON_ENV];
  if (chosen !== undefined && chosen !== '') return [resolve(chosen)];
  return CANDIDATES.map((candidate) => new URL(candidate, import.meta.url).pathname);
}

/**
 * Of the candidates, the one an operator should look for: the one in the package's own build/
 * (beside its package.json), else the only one.
 */
function expectedAddonPath(searched: readonly string[]): string {
  return searched.find((path) => existsSync(resolve(path, '../../../package.json'))) ?? searched[0] ?? 'build/Release/mip4_io.node';
}

/** The addon file loadNative loads, or undefined when none is built. */
export function nativeAddonPath(): string | undefined {
  return nativeAddonCandidates().find((path) => existsSync(path));
}

let loaded: NativeIo | undefined;

/**
 * Loads the addon once; throws NativeHelperMissingError when it has not been built and
 * NativeHelperLoadError when the file is there but Node cannot load it.
 */
export function loadNative(): NativeIo {
  if (loaded) return loaded;
  const path = nativeAddonPath();
  if (path === undefined) throw new NativeHelperMissingError(nativeAddonCandidates());
  try {
    loaded = createRequire(import.meta.url)(path) as NativeIo;
  } catch (error) {
    throw new NativeHelperLoadError(path, error);
  }
  return loaded;
}

/** Whether the addon is built (for tests and diagnostics; does not throw). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

export interface ReaderOptions {
  readonly maxPackets?: number;
  readonly slotSize?: number;
}

export const DEFAULT_MAX_PACKETS = 64;
export const DEFAULT_SLOT_SIZE = 2048;

/**
 * A running batched reader: owns the slab and the metadata array, and is itself the
 * `SlabBatch` handed to the handler (no allocation per batch).
 */
export class BatchReader implements SlabBatch {
  readonly data: Uint8Array;
  private readonly meta: Int32Array;
  private handle: ReaderHandle | undefined;
  count = 0;

  constructor(
    private readonly native: NativeIo,
    fd: number,
    kind: DescriptorKind,
    options: ReaderOptions,
    onBatch: (batch: BatchReader) => void,
    onFailure: (error: NativeError) => void,
  ) {
    const maxPackets = Math.min(Math.max(1, options.maxPackets ?? DEFAULT_MAX_PACKETS), MAX_BATCH);
    const slotSize = Math.max(64, options.slotSize ?? DEFAULT_SLOT_SIZE);
    this.data = new Uint8Array(maxPackets * slotSize);
    this.meta = new Int32Array(maxPackets * META_WORDS);
    this.handle = native.startReader(fd, kind, this.data, maxPackets, this.meta, (count, error) => {
      if (count < 0) {
        // The addon has already stopped a reader whose descriptor failed for good, and keeps it
        // for transient errors (ENETDOWN, ENOBUFS); stop() is safe either way.
        onFailure(error ?? errnoError(-count, 'read'));
        return;
      }
      this.count = count;
      onBatch(this);
    });
  }

  offset(index: number): number {
    return this.meta[index * META_WORDS]!;
  }
  length(index: number): number {
    return this.meta[index * META_WORDS + 1]!;
  }
  /** Raw IP: the IPv4 source; AF_PACKET: the interface index. */
  source(index: number): number {
    return this.meta[index * META_WORDS + 2]! >>> 0;
  }
  /**
   * Raw IP: 1 when truncated; AF_PACKET: sll_pkttype | PACKET_TRUNCATED | PACKET_CHECKSUM_NOT_READY;
   * UDP: the source port | UDP_TRUNCATED.
   */
  extra(index: number): number {
    return this.meta[index * META_WORDS + 3]!;
  }
  /** UDP: the address the datagram was sent to (IP_PKTINFO); 0 for the other kinds. */
  destination(index: number): number {
    return this.meta[index * META_WORDS + 4]! >>> 0;
  }
  packet(index: number): Uint8Array {
    const start = this.offset(index);
    return this.data.subarray(start, start + this.length(index));
  }

  stop(): void {
    if (this.handle === undefined) return;
    const handle = this.handle;
    this.handle = undefined;
    this.native.stopReader(handle);
  }
}

/**
 * A one-packet send through sendBatch with preallocated arrays, so sending a single packet
 * allocates nothing.
 */
export class SingleSender {
  private readonly offsets = new Int32Array(1);
  private readonly lengths = new Int32Array(1);
  private readonly destinations = new Uint32Array(1);

  constructor(
    private readonly native: NativeIo,
    private readonly fd: number,
    private readonly kind: DescriptorKind,
  ) {}

  /** Returns 1 when sent, 0 when the queue was full; throws a NativeError otherwise. */
  send(packet: Uint8Array, destination = 0): number {
    this.offsets[0] = 0;
    this.lengths[0] = packet.length;
    this.destinations[0] = destination;
    // The addon takes offsets into the view it is given, so a subarray works as is.
    return this.native.sendBatch(this.fd, this.kind, packet, this.offsets, this.lengths, 1, this.destinations);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  9: 'EBADF',
  11: 'EAGAIN',
  13: 'EACCES',
  14: 'EFAULT',
  19: 'ENODEV',
  22: 'EINVAL',
  77: 'EBADFD',
  90: 'EMSGSIZE',
  99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN',
  101: 'ENETUNREACH',
  105: 'ENOBUFS',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
};

/** The errno name of a (positive) Linux errno number, as the addon's errors spell it. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

function errnoError(errno: number, operation: string): NativeError {
  const code = errnoName(errno);
  return Object.assign(new Error(`${operation}: ${code}`), { code, errno });
}
