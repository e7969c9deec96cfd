/**
 * The PacketTap service: a home agent's hold on the datagrams of its mobile nodes away from
 * home (RFC 5944 4.2.3, 4.3), in both worlds.
 *
 * The tap intercepts the unicast datagrams for a set of destinations (the home addresses with
 * a binding, `claim` / `unclaim`), copies the home network's broadcasts a rule asks for (4.3,
 * B bit), and delivers both as batches on one observable; it sends what the data plane builds
 * (tunnel packets and ICMP errors, by the host's routing) and hands back to the host what the
 * plane passes on (`reinject`: as if it had never been taken). As with the other services,
 * Effect carries the lifecycle (a tap opened in a Scope releases every claim, device and socket
 * in its finalizer) and the typed error; datagrams go through an observable and synchronous
 * calls, because an Effect per batch costs more than the batch (docs/performance.md).
 *
 * Layers: io/linux/packet-tap.ts (a TUN device and one /32 route per claimed address, AF_PACKET
 * on the home interface, raw IPv4 sockets) and io/sim/packet-tap.ts (SimHost.intercept and a
 * frame observer). Which world batches how is the layer's business: the Linux one emits each
 * read of the device (the kernel's device queue sheds overload), the simulated one gathers what
 * arrives in one instant behind a bounded queue (counted `shed`).
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Observable } from 'rxjs';
import type { LinkInterface } from './link.js';
import type { Ipv4Address } from './wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, ethernetEtherType, ethernetIsMulticast } from './wire/ethernet.js';
import { ipv4DatagramProblem, ipv4TotalLength } from './wire/ipv4.js';

/** One captured IPv4 datagram: a view (link-layer padding after Total Length is allowed). */
export interface Packet {
  readonly bytes: Uint8Array;
  /** The interface it arrived on, e.g. 'home0'. */
  readonly ingress?: string;
  /** It arrived as a link-layer broadcast or multicast (no ICMP errors about it, RFC 1122 3.2.2). */
  readonly linkBroadcast?: boolean;
  /**
   * The host has already forwarded it (TTL checked and decremented, RFC 1812 5.3.1), as the
   * kernel does for a datagram it routes into a TUN device: the home agent plane does not
   * decrement it a second time when tunnelling (RFC 2003 3.1 asks for one decrement).
   */
  readonly forwarded?: boolean;
}

/**
 * Datagrams delivered together. The bytes are valid while the batch is being emitted (a layer
 * may reuse its read buffers for the next batch): a synchronous pipeline reads them in place,
 * anything that keeps one copies it.
 */
export type PacketBatch = readonly Packet[];

/** What the tap asks of its user about single datagrams (both are called on the IO path). */
export interface CaptureRule {
  /**
   * True for a datagram to a claimed destination that the host must still handle itself
   * (3.8.3.1: a Registration Reply to a node deregistering from home goes onto the home
   * network). The tap leaves it to the host.
   */
  exempts(datagram: Uint8Array): boolean;
  /** True when this broadcast received on the home interface should be copied to the batches (4.3). */
  copies(datagram: Uint8Array): boolean;
  /**
   * True for a datagram to one of the agent's own addresses that the data plane takes instead
   * of the host: a tunnel packet it decapsulates (R4.2.3-7, reverse tunnels of RFC 3024).
   * Absent: the host keeps every datagram to its own addresses.
   */
  decapsulates?(datagram: Uint8Array): boolean;
}

export interface PacketTapOptions {
  readonly rule: CaptureRule;
  /** The interface on the home network: broadcasts are copied from it, `openHomeLink` views it. */
  readonly homeInterface: string;
  /** Most datagrams per batch (default 64). */
  readonly maxBatch?: number;
  /** Most datagrams waiting where a layer queues (the simulated one; default 4096). */
  readonly queueLimit?: number;
}

export interface PacketTapCounters {
  /** Datagrams the tap took (claimed and copied), shed ones included. */
  captured: number;
  /** Dropped at the tap's own queue because it was full. */
  shed: number;
  /** Batches emitted. */
  batches: number;
}

export interface OpenedPacketTap {
  /**
   * Captured datagrams, in batches, emitted synchronously by the layer (the bytes are valid
   * during the emission only; see PacketBatch). Hot: nothing is buffered for late subscribers.
   */
  readonly batches: Observable<PacketBatch>;
  readonly counters: PacketTapCounters;
  /** Starts intercepting the unicast datagrams to `address` (idempotent). */
  claim(address: Ipv4Address): void;
  /** Stops intercepting them (idempotent). */
  unclaim(address: Ipv4Address): void;
  /** Sends a whole IPv4 datagram (header included) by the host's routing; false when it could not. */
  send(datagram: Uint8Array, destination: Ipv4Address): boolean;
  /**
   * Sends datagrams[0..count) to destinations[i] in as few system calls as the layer can; one
   * that fails does not stop the others. Returns how many were sent.
   */
  sendBatch(datagrams: readonly Uint8Array[], destinations: readonly Ipv4Address[], count: number): number;
  /**
   * Gives a captured datagram back to the host, which handles it as if it had not been
   * captured (e.g. a binding gone meanwhile: 4.2.3, the node is assumed at home). False when it
   * could not be sent.
   */
  reinject(datagram: Uint8Array): boolean;
  /**
   * Hands a datagram the plane produced (a decapsulated one, R4.2.3-7) to the host to route as
   * if it had arrived: on Linux written into the TUN device, on the simulated host sent by its
   * routing. Absent on layers that cannot; the caller then uses `reinject`.
   */
  route?(datagram: Uint8Array): boolean;
  /**
   * Another view of the home interface over the tap's own link access (one packet socket per
   * interface and process on Linux), each with its own frame handler; closed with the tap.
   */
  openHomeLink(): LinkInterface;
  /** Sets the handler for asynchronous errors (a failed route, read or send). */
  onError(handler: (error: PacketTapError) => void): void;
  /** Datagrams waiting in the layer's queue. */
  queued(): number;
  /** Emits what is queued now instead of at the layer's next step. */
  flush(): void;
}

export type PacketTapErrorReason =
  /** Intercepting needs privileges (CAP_NET_ADMIN and CAP_NET_RAW on Linux). */
  | 'permission'
  /** No home interface of that name. */
  | 'no-such-interface'
  /** The capture device could not be made (TUN, its MTU or its offloads, a route). */
  | 'device'
  /** A socket could not be opened. */
  | 'socket'
  /** A claim (route) the host refused. */
  | 'claim'
  /** Reading or sending failed. */
  | 'io'
  /** Used after its scope closed. */
  | 'closed';

export class PacketTapError extends Data.TaggedError('PacketTapError')<{
  readonly reason: PacketTapErrorReason;
  /** What failed underneath: 'tun', 'route', 'raw-ip', 'link' (Linux), or the layer's name. */
  readonly source: string;
  /** What happened and what to do about it. */
  readonly message: string;
  /** The underlying service's reason, when it had one (e.g. a TunError's 'offload' or 'mtu'). */
  readonly detail?: string;
}> {}

export class PacketTap extends Context.Tag('mip4/PacketTap')<
  PacketTap,
  {
    /** Starts capturing on the host; closing the scope releases every claim and the devices. */
    readonly open: (options: PacketTapOptions) => Effect.Effect<OpenedPacketTap, PacketTapError, Scope.Scope>;
  }
>() {}

/**
 * The whole IPv4 datagram of a link-layer broadcast or multicast frame (a view, without the
 * link padding), or undefined for any other frame: what a tap offers to `rule.copies`.
 */
export function linkBroadcastDatagram(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < ETHERNET_HEADER_LENGTH + 20 || !ethernetIsMulticast(frame, 0) || ethernetEtherType(frame, 0) !== EtherType.IPv4) return undefined;
  if (ipv4DatagramProblem(frame, ETHERNET_HEADER_LENGTH, frame.length) !== undefined) return undefined;
  return frame.subarray(ETHERNET_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + ipv4TotalLength(frame, ETHERNET_HEADER_LENGTH));
}

export const DEFAULT_TAP_MAX_BATCH = 64;
export const DEFAULT_TAP_QUEUE_LIMIT = 4096;
