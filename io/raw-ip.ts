/**
 * The RawIp service: IPv4 datagrams of one IP protocol, sent and received whole.
 *
 * Tunnels are userspace in mip4 (the target kernels have no ipip/gre devices): a home agent
 * sends IP-in-IP (protocol 4), minimal encapsulation (55) or GRE (47) datagrams to a care-of
 * address, and the foreign agent or a co-located mobile node receives them, on a raw IPv4
 * socket per protocol (RFC 5944 4.1). Agents also send ICMP (protocol 1). Received datagrams
 * always start with their IPv4 header; sent ones do too when the socket was opened with
 * `headerIncluded` (the encapsulators in io/wire/tunnel.ts build the outer header), otherwise
 * the kernel adds it. Batches as in io/tun.ts; Effect carries only lifecycle and typed errors.
 * Layers: io/linux/raw-ip.ts (the native helper).
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';
import type { OutgoingBatch, SlabBatch } from './tun.js';

export interface RawIpOpenOptions {
  /** The caller writes the IPv4 header of what it sends (IP_HDRINCL). Default false. */
  readonly headerIncluded?: boolean;
  /**
   * Bind to this interface: what the socket sends leaves there, whatever the host's routes say
   * (SO_BINDTODEVICE; the Linux layer only, the simulated one routes as usual).
   */
  readonly device?: string;
  /** Packets drained per wakeup and delivered per batch (default 64). */
  readonly maxPackets?: number;
  /** Bytes reserved per packet in the receive slab (default 2048). */
  readonly slotSize?: number;
  /**
   * The kernel's receive queue for this socket, in bytes (the Linux layer only). Default
   * DEFAULT_RAW_RECEIVE_BUFFER_BYTES in io/linux/raw-ip.ts: a tunnel's burst must fit while
   * the event loop is busy elsewhere (docs/performance.md, where the userspace path lost packets).
   */
  readonly receiveBufferBytes?: number;
}

export interface RawIpSocket {
  readonly protocol: number;
  readonly headerIncluded: boolean;
  /**
   * Sends one datagram to `destination`. Returns false when the socket queue is full (dropped,
   * to be counted by the caller); other failures go to `onError`, never thrown.
   */
  send(datagram: Uint8Array, destination: Ipv4Address): boolean;
  /**
   * Sends a batch; destinations[i] is where packet i goes. Returns n: packets 0..n-1 were sent,
   * packet n (if n < count) could not be (queue full or an error for it), and none after it
   * was tried (sendmmsg's contract).
   */
  sendBatch(batch: OutgoingBatch, destinations: Uint32Array): number;
  /**
   * Sets the per-datagram handler; the datagram (IPv4 header first) is a view valid during the
   * call only. Replaced by a later onPacket or onPackets call.
   */
  onPacket(handler: (datagram: Uint8Array, source: Ipv4Address) => void): void;
  /** Sets the batch handler (the data plane's path); replaces onPacket. */
  onPackets(handler: (batch: SlabBatch) => void): void;
  onError(handler: (error: RawIpError) => void): void;
  /**
   * Datagrams the kernel dropped before this socket read them (its receive queue was full),
   * read from the kernel; absent where there is no such queue (the simulated network).
   */
  receiveQueueDrops?(): number;
}

export type RawIpErrorReason =
  /** Raw sockets need root or CAP_NET_RAW. */
  | 'permission'
  /** The protocol number is out of range or not supported. */
  | 'protocol'
  | 'send'
  | 'receive'
  | 'closed';

export class RawIpError extends Data.TaggedError('RawIpError')<{
  readonly reason: RawIpErrorReason;
  readonly protocol: number;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export class RawIp extends Context.Tag('mip4/RawIp')<
  RawIp,
  {
    /** Opens a raw IPv4 socket for one protocol; closing the scope closes it. */
    readonly open: (protocol: number, options?: RawIpOpenOptions) => Effect.Effect<RawIpSocket, RawIpError, Scope.Scope>;
  }
>() {}
