/**
 * The Tun service: whole IPv4 datagrams through a layer-3 tunnel device (Linux TUN).
 *
 * The data plane intercepts datagrams the host routes into the device (to a mobile node's
 * home address, say) and injects decapsulated ones back into the host stack. Datagrams move in
 * batches: one JS call per batch of up to 64 packets, drained into a
 * reused slab, as fast as a batched C tunnel, while a call per packet was 4-5x slower (docs/performance.md). So the
 * receive side hands over a `SlabBatch` (views into a slab that is reused by the next batch)
 * and the send side takes either one datagram or a batch laid out in a caller's slab. As with
 * the other services, Effect carries only the lifecycle (a device opened in a Scope is closed
 * by its finalizer, which removes a non-persistent TUN device) and the typed error.
 * Layers: io/linux/tun.ts (the native helper).
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';

/**
 * One batch of received packets lying in the reader's slab (the data plane's PacketBatch,
 * io/packet-tap.ts, is an array of packet views instead). Valid during the handler call only: the slab and this object
 * are reused for the next batch, so copy what must be kept.
 */
export interface SlabBatch {
  /** Packets in this batch (1..maxPackets). */
  readonly count: number;
  /** The slab the packets lie in; packet i is data[offset(i) .. offset(i) + length(i)). */
  readonly data: Uint8Array;
  offset(index: number): number;
  length(index: number): number;
  /** The sender of packet i where the source kind has one (raw IP sockets), else 0. */
  source(index: number): Ipv4Address;
  /** Packet i as a view into the slab (allocates a view; the hot path uses offset/length). */
  packet(index: number): Uint8Array;
}

/** A batch to transmit: packet i is slab[offsets[i] .. offsets[i] + lengths[i]). */
export interface OutgoingBatch {
  readonly slab: Uint8Array;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly count: number;
}

export interface TunDevice {
  /** The device name the kernel gave (the requested one, or e.g. "tun0" for a "tun%d" pattern). */
  readonly name: string;
  /**
   * Writes one datagram into the host stack. Returns false when the device queue is full
   * (the datagram was dropped, to be counted by the caller); other failures go to `onError`.
   */
  send(datagram: Uint8Array): boolean;
  /** Writes a batch; returns how many were written (fewer when the queue filled up). */
  sendBatch(batch: OutgoingBatch): number;
  /** Sets the handler for received batches (one per device; a later call replaces it). */
  onPackets(handler: (batch: SlabBatch) => void): void;
  /** Sets the handler for asynchronous errors (failed writes, a vanished device). */
  onError(handler: (error: TunError) => void): void;
  /**
   * With `offload`: the offloads the kernel accepted (checksum, TCP and UDP segmentation) and
   * what undoing them took so far; undefined without.
   */
  offloads(): TunOffloadState | undefined;
  /**
   * The device's drop counters as the kernel keeps them (Linux; absent on the simulated
   * network): `transmitDropped`, datagrams the kernel routed into the device and dropped because
   * its queue towards this process was full; `receiveDropped`, datagrams written into it that the
   * kernel dropped.
   */
  deviceDrops?(): { readonly receiveDropped: number; readonly transmitDropped: number };
}

export interface TunOffloadState {
  /** TCP segmentation offload (IPv4) is on: forwarded TCP may arrive as 64 KiB super-packets. */
  readonly tcpSegmentation: boolean;
  /** UDP segmentation offload is on (Linux 6.2 and later). */
  readonly udpSegmentation: boolean;
  /** Super-packets read and cut into MTU-sized datagrams. */
  readonly superPackets: number;
  /** Datagrams cut from them. */
  readonly segments: number;
  /** Datagrams whose partial transport checksum was completed. */
  readonly checksumsCompleted: number;
  /** Reads dropped as unusable (malformed, a kind of offload never asked for, IPv6). */
  readonly dropped: number;
}

export interface TunOpenOptions {
  /** Packets drained per wakeup and delivered per batch (default 64). */
  readonly maxPackets?: number;
  /** Bytes reserved per packet in the receive slab (default 2048: above a 1500 MTU). */
  readonly slotSize?: number;
  /** The device's MTU, set at open (default: the kernel's, 1500). */
  readonly mtu?: number;
  /**
   * Let the kernel hand over TCP/UDP super-packets and partial checksums (virtio_net_hdr,
   * TUNSETOFFLOAD) instead of segmenting and checksumming each datagram before the device; the
   * device still delivers whole, checksummed datagrams of at most its MTU (the offloads are
   * undone in the reader). Fewer, larger reads per byte forwarded. Default off.
   */
  readonly offload?: boolean;
}

export type TunErrorReason =
  /** The system has no TUN driver (/dev/net/tun missing). */
  | 'unsupported'
  /** Creating a TUN device needs CAP_NET_ADMIN. */
  | 'permission'
  /** The name is taken by a device that is not a free TUN device, or is already open. */
  | 'in-use'
  /** The name is not a valid interface name (1 to 15 bytes). */
  | 'invalid-name'
  /** The requested MTU could not be set (out of the device's range, or no permission). */
  | 'mtu'
  /** The kernel refused the offloads asked for (`offload`: IFF_VNET_HDR or TUNSETOFFLOAD). */
  | 'offload'
  /** A datagram could not be written. */
  | 'send'
  /** Reading failed (the device went away). */
  | 'receive'
  /** Used after its scope closed. */
  | 'closed';

export class TunError extends Data.TaggedError('TunError')<{
  readonly reason: TunErrorReason;
  /** The device concerned, e.g. "mip4tun0". */
  readonly interfaceName: string;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export class Tun extends Context.Tag('mip4/Tun')<
  Tun,
  {
    /** Creates (or attaches to) the named TUN device; closing the scope releases it. */
    readonly open: (name: string, options?: TunOpenOptions) => Effect.Effect<TunDevice, TunError, Scope.Scope>;
  }
>() {}
