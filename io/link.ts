/**
 * The Link service: whole Ethernet frames on one named interface, in both worlds.
 *
 * Agents need the link layer for what IP sockets cannot do: ARP, proxy ARP and gratuitous
 * ARP on the home link (RFC 5944 4.6), agent advertisements and solicitations, and delivery
 * to a mobile node by its link-layer address (4.3). As with Udp, Effect carries only the
 * lifecycle (an interface is opened in a Scope and released by its finalizer) and the typed
 * error; frames go through plain callbacks and a synchronous `send`, because an Effect per
 * frame costs more than the frame (docs/performance.md). Layers: io/sim/ethernet.ts (simulated
 * segments); the Linux layer (AF_PACKET through the native helper) comes later.
 *
 * Frames are Ethernet II as they appear on the wire without the FCS: destination, source,
 * EtherType, payload (io/wire/ethernet.ts). Padding to the 60-byte minimum is the
 * interface's job, so a received frame may be longer than what its sender encoded.
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { MacAddress } from './wire/ethernet.js';

/** What the receiving side knows about one frame beyond its bytes (given only when known). */
export interface FrameInfo {
  /**
   * The frame's UDP/TCP checksum is not yet computed: a sender on this same host (another
   * network namespace over a veth) left it to checksum offload, and the field holds only the
   * pseudo-header sum. Such a frame never crossed a wire; its checksum cannot be verified and
   * is not wrong. Linux AF_PACKET reports it (TP_STATUS_CSUMNOTREADY); a frame from another
   * host never has it.
   */
  readonly checksumNotReady: boolean;
}

/**
 * What a link's reader did to undo the kernel's offloads (Linux AF_PACKET with PACKET_VNET_HDR,
 * native/tun.c): GSO super-frames cut into wire-sized frames, partial checksums completed.
 */
export interface LinkOffloadCounters {
  /** GSO super-frames read and segmented. */
  readonly superPackets: number;
  /** Frames made from them. */
  readonly segments: number;
  /** Other frames whose partial checksum was completed. */
  readonly checksumsCompleted: number;
  /** Frames that could not be used (a GSO kind it cannot cut, malformed, too large), counted and dropped. */
  readonly dropped: number;
}

export interface LinkInterface {
  /** The interface name, e.g. "eth0". */
  readonly name: string;
  /** The interface's own link-layer address (canonical lowercase). */
  readonly mac: MacAddress;
  /** Largest payload after the 14-byte Ethernet header (1500 on Ethernet). */
  readonly mtu: number;
  /**
   * Transmits one frame. The bytes are consumed before `send` returns, so the caller may
   * reuse its buffer at once. Failures go to the `onError` handler, never thrown.
   */
  send(frame: Uint8Array): void;
  /**
   * Sets the handler for received frames (one per interface; a later call replaces it).
   * The frame is a read-only view, valid during the call only: copy what must be kept.
   * `info` comes from layers that know more about a frame than its bytes (io/linux/packet.ts);
   * the simulated links leave it out.
   */
  onFrame(handler: (frame: Uint8Array, info?: FrameInfo) => void): void;
  /** Sets the handler for asynchronous errors (failed sends, a vanished interface). */
  onError(handler: (error: LinkError) => void): void;
  /**
   * The operating system's descriptor of the link's socket (Linux: the AF_PACKET socket), where
   * there is one: the kernel fast path attaches its socket filter to it (io/linux/fa-fast-path.ts).
   */
  readonly descriptor?: number;
  /** What undoing offloads took on this link; absent or undefined where the link has none (simulated links). */
  offloads?(): LinkOffloadCounters | undefined;
  /**
   * Frames the kernel dropped before this link's socket read them (its receive queue was full),
   * read from the kernel; absent on simulated links.
   */
  receiveQueueDrops?(): number;
}

export type LinkErrorReason =
  /** No interface of that name on this host. */
  | 'no-such-interface'
  /** Raw link access needs privileges (CAP_NET_RAW on Linux). */
  | 'permission'
  /** The interface is already opened by this process (one owner per interface). */
  | 'in-use'
  /** A frame could not be sent (too short, longer than the MTU, link refused it). */
  | 'send'
  /** The interface was used after its scope closed, or went away. */
  | 'closed';

export class LinkError extends Data.TaggedError('LinkError')<{
  readonly reason: LinkErrorReason;
  /** The interface concerned, e.g. "eth0". */
  readonly interfaceName: string;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export class Link extends Context.Tag('mip4/Link')<
  Link,
  {
    /** Opens the named interface for frame I/O; closing the scope releases it. */
    readonly open: (name: string) => Effect.Effect<LinkInterface, LinkError, Scope.Scope>;
  }
>() {}
