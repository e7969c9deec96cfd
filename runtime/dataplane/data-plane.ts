/**
 * The data plane (RFC 5944 4): RxJS operators over batches of IPv4 datagrams.
 *
 * - `homeAgentDataPlane`: intercepted datagrams for mobile nodes away from home are tunnelled
 *   to each registered care-of address (4.2.3), home-network broadcasts and multicasts to the
 *   bindings that asked for them (4.3, 4.4), everything else passes untouched.
 * - `foreignAgentDataPlane`: tunnelled datagrams arriving at the care-of address are
 *   decapsulated and delivered to the visitor by its link-layer address (4.2.2); visitors'
 *   own datagrams are routed (TTL decremented).
 * - `mobileNodeDecapsulation`: a mobile node with a co-located care-of address takes its
 *   tunnels apart itself (1.7 b, 4.1).
 *
 * The stream carries batches (`PacketBatch` in, `OutputBatch` out, one output batch per input
 * batch, outputs in input order): per-item RxJS overhead is ~7x lower with batches of 64
 * (shared/perf-limits.md). The home agent plane reads only the `ForwardingTable`, never an
 * actor. Nothing here reads a clock or a random source; the outer Identification comes from a
 * counter, so a run is a function of its input.
 *
 * Buffers. Every byte the planes write goes into a `PacketPool` slab, never a fresh
 * `Buffer.alloc` per packet (591 ns vs 5 ns, perf-limits.md). Ownership rules:
 *
 * 1. Input bytes belong to whoever produced the `PacketBatch`; the planes only read them (even
 *    minimal decapsulation, which rebuilds a header, writes into the pool, not the input).
 *    Outputs that pass a datagram on untouched (`forward` with `routed: false`, `local` with
 *    `decapsulated: false`) are views of the input and live as long as the input does.
 * 2. Every other output's `bytes` is a view into a slab leased by its `OutputBatch`. The
 *    consumer may read and even modify those bytes until it calls `batch.release()`; after
 *    that the pool hands the slab to a later batch and the bytes change under any view kept.
 *    Copy what must outlive the release.
 * 3. `release()` is idempotent. A batch never released keeps its slabs: the pool then carves
 *    new slabs (counted in `pool.stats.slabsCreated`), so forgetting to release costs memory,
 *    never correctness.
 * 4. A datagram bigger than a slab gets a buffer of its own (`stats.oversize`), returned to
 *    nobody (garbage collected with the batch).
 */
import { type OperatorFunction, map } from 'rxjs';
import {
  type Ipv4Address,
  readU16,
  readU32,
  writeU16,
  writeU32,
} from '../../io/wire/bytes.js';
import type { WireErrorReason } from '../../io/wire/codec.js';
import {
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER_LENGTH,
  IpProtocol,
  decrementIpv4Ttl,
  ipv4ChecksumValid,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  setIpv4Destination,
  updateIpv4Checksum,
} from '../../io/wire/ipv4.js';
import { IcmpType, TimeExceededCode, writeIcmpChecksum } from '../../io/wire/icmp.js';
import {
  type Encapsulation,
  GRE_HEADER_LENGTH,
  MINIMAL_HEADER_LENGTH,
  MINIMAL_HEADER_WITH_SOURCE_LENGTH,
  greDecapsulate,
  ipInIpDecapsulate,
  ipInIpEncapsulate,
  isTunnelProtocol,
  minimalDecapsulate,
  minimalEncapsulate,
  prepareOuterHeader,
  writeGreIpv4Header,
} from '../../io/wire/tunnel.js';
import type { ForwardingTable, TunnelTarget } from './forwarding-table.js';

// =============================================================================================
// Packets and batches

/** One received IPv4 datagram: a view (link-layer padding after Total Length is allowed). */
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

export type PacketBatch = readonly Packet[];

interface OutputBase {
  /** Index of the input packet in its batch this output came from. */
  readonly index: number;
  readonly bytes: Uint8Array;
}

/** A datagram the data plane built (a tunnel packet), to send by IP routing toward `destination`. */
export interface SendIpOutput extends OutputBase {
  readonly kind: 'send-ip';
  /** The outer destination: the care-of address. */
  readonly destination: Ipv4Address;
  readonly homeAddress: Ipv4Address;
  readonly encapsulation: Encapsulation;
  /** 'tunnel' (4.2.3), 'redirect' (an already tunnelled datagram, outer destination rewritten, 4.2.3), 'broadcast' (4.3/4.4). */
  readonly via: 'tunnel' | 'redirect' | 'broadcast';
}

/** An inner datagram for a visitor, to send on the link to `linkAddress` without ARP (4.2.2). */
export interface DeliverOutput extends OutputBase {
  readonly kind: 'deliver';
  readonly linkAddress: string;
  readonly homeAddress: Ipv4Address;
}

/**
 * A datagram to route normally. `routed: false`: untouched (a view of the input; e.g. no
 * binding, 4.2.3 "assume the mobile node is at home"). `routed: true`: the plane routed it
 * (TTL decremented, checksum updated, bytes in the pool: a visitor's datagram, 4.2.2).
 */
export interface ForwardOutput extends OutputBase {
  readonly kind: 'forward';
  readonly routed: boolean;
}

/** An ICMP error this node originates (Time Exceeded), a whole IPv4 datagram toward `destination`. */
export interface IcmpOutput extends OutputBase {
  readonly kind: 'icmp';
  readonly destination: Ipv4Address;
}

/**
 * A datagram for this node's own stack: addressed to one of its addresses and not a tunnel it
 * handles (`decapsulated: false`, a view of the input), or the inner datagram of a tunnel it
 * terminates (`decapsulated: true`, in the pool).
 */
export interface LocalOutput extends OutputBase {
  readonly kind: 'local';
  readonly decapsulated: boolean;
}

export type OutputPacket = SendIpOutput | DeliverOutput | ForwardOutput | IcmpOutput | LocalOutput;

export interface OutputBatch {
  readonly packets: readonly OutputPacket[];
  /** Returns the batch's slabs to the pool (see the ownership rules at the top of this file). */
  release(): void;
}

// =============================================================================================
// The slab pool

export interface PacketPoolOptions {
  /** Bytes per slab. Default 256 KiB (a batch of 64 full-size tunnelled Ethernet frames needs ~100 KB). */
  readonly slabSize?: number;
  /** Slabs created up front. Default 2. */
  readonly initialSlabs?: number;
}

export interface PacketPoolStats {
  slabsCreated: number;
  /** Datagrams that did not fit in a slab and got a buffer of their own. */
  oversize: number;
  /** Slabs currently leased to unreleased batches. */
  leased: number;
}

/**
 * A bump allocator over fixed-size slabs. Allocations between `openBatch()` and the batch's
 * `release()` come from the slabs that batch leases; released slabs go back on a free list.
 * Single-threaded, one open batch at a time (the planes open one per input batch).
 */
export class PacketPool {
  readonly slabSize: number;
  readonly stats: PacketPoolStats = { slabsCreated: 0, oversize: 0, leased: 0 };
  private readonly free: Uint8Array[] = [];
  private current: Uint8Array | undefined;
  private cursor = 0;
  private leases: Uint8Array[] | undefined;

  constructor(options: PacketPoolOptions = {}) {
    this.slabSize = options.slabSize ?? 256 * 1024;
    if (!Number.isInteger(this.slabSize) || this.slabSize < 2048) throw new RangeError('slabSize must be an integer >= 2048');
    for (let i = 0; i < (options.initialSlabs ?? 2); i++) this.free.push(this.newSlab());
  }

  /** Starts a batch: later `allocate` calls lease slabs to it until the next `openBatch`. */
  openBatch(): Uint8Array[] {
    const leases: Uint8Array[] = [];
    this.leases = leases;
    this.current = undefined;
    this.cursor = 0;
    return leases;
  }

  /** `length` bytes (contents undefined) valid until the owning batch is released. */
  allocate(length: number): Uint8Array {
    if (length > this.slabSize) {
      this.stats.oversize++;
      return new Uint8Array(length);
    }
    let slab = this.current;
    if (slab === undefined || this.cursor + length > slab.length) {
      slab = this.free.pop() ?? this.newSlab();
      this.stats.leased++;
      (this.leases ??= []).push(slab);
      this.current = slab;
      this.cursor = 0;
    }
    const start = this.cursor;
    // Keep allocations 8-byte aligned so headers start on word boundaries.
    this.cursor = (start + length + 7) & ~7;
    // A view built directly: `subarray` goes through the species constructor and costs more.
    return new Uint8Array(slab.buffer, slab.byteOffset + start, length);
  }

  /** Gives the slabs of a batch back. */
  releaseLeases(leases: Uint8Array[]): void {
    for (const slab of leases) {
      if (slab === this.current) this.current = undefined;
      this.free.push(slab);
      this.stats.leased--;
    }
    leases.length = 0;
  }

  private newSlab(): Uint8Array {
    this.stats.slabsCreated++;
    return new Uint8Array(this.slabSize);
  }
}

function makeOutputBatch(pool: PacketPool, leases: Uint8Array[], packets: OutputPacket[]): OutputBatch {
  let released = false;
  return {
    packets,
    release(): void {
      if (released) return;
      released = true;
      pool.releaseLeases(leases);
    },
  };
}

// =============================================================================================
// Counters

/** Why a packet was dropped or handled specially; each has a counter. */
export type DataPlaneCounter =
  | 'packets'
  | 'outputs'
  /** Input that is not one whole IPv4 datagram (by the decoder's reason). */
  | `malformed-${WireErrorReason}`
  /** IPv4 header checksum fails: a router discards (RFC 1122 3.2.1.2). */
  | 'bad-checksum'
  | 'tunnelled'
  | 'redirected'
  | 'broadcast-tunnelled'
  /** Broadcast or multicast with no binding asking for it (B bit, 4.3). */
  | 'broadcast-unrequested'
  | 'passed'
  | 'local'
  /** TTL would reach 0 (RFC 2003 3.1, RFC 1812 5.3.1). */
  | 'ttl-exceeded'
  | 'icmp-sent'
  /** No ICMP error about this datagram (RFC 1122 3.2.2). */
  | 'icmp-suppressed'
  /** RFC 2003 3.2: the source is this agent itself. */
  | 'loop-source-is-self'
  /** RFC 2003 3.2: the source is the tunnel exit point (one tunnel skipped). */
  | 'loop-source-is-tunnel-exit'
  /** 4.2.3: already tunnelled from the mobile node's own care-of address. */
  | 'loop-from-care-of-address'
  /** The care-of address is itself a home address bound here: the tunnel packet would come back. */
  | 'loop-care-of-address-bound'
  /** RFC 2004 3: fragments cannot be minimally encapsulated; sent with IP in IP instead. */
  | 'minimal-fragment-fallback'
  /** Encapsulated datagram would exceed 65535 bytes. */
  | 'too-big'
  /** Tunnel packet to a decapsulating address that does not decapsulate (by reason). */
  | `decapsulation-${WireErrorReason}`
  /** Inner datagram with TTL 0 after decapsulation (RFC 2003 3.1). */
  | 'inner-ttl-zero'
  | 'inner-bad-checksum'
  /** 4.2.2: inner destination not in the visitor list. */
  | 'unknown-visitor'
  | 'delivered'
  | 'visitor-routed'
  /** Tunnel packet addressed to this mobile node whose inner datagram is not for it (RFC 2003 6.2). */
  | 'not-for-me';

export type DataPlaneCounters = Record<string, number>;

function bump(counters: DataPlaneCounters, name: DataPlaneCounter): void {
  counters[name] = (counters[name] ?? 0) + 1;
}

/** A synchronous batch processor that is also an RxJS operator. */
export interface DataPlane extends OperatorFunction<PacketBatch, OutputBatch> {
  /** Processes one batch now (what the operator maps over the stream). */
  process(batch: PacketBatch): OutputBatch;
  readonly counters: DataPlaneCounters;
  readonly pool: PacketPool;
}

/**
 * The operator every plane shares: one pool lease set and one output array per batch, each
 * packet handed to `processPacket` with its index, counters for packets in and outputs out.
 */
function batchOperator(
  processPacket: (packet: Packet, index: number, out: OutputPacket[]) => void,
  counters: DataPlaneCounters,
  pool: PacketPool,
): DataPlane {
  const process = (batch: PacketBatch): OutputBatch => {
    const leases = pool.openBatch();
    const out: OutputPacket[] = [];
    for (let i = 0; i < batch.length; i++) {
      bump(counters, 'packets');
      processPacket(batch[i]!, i, out);
    }
    counters['outputs'] = (counters['outputs'] ?? 0) + out.length;
    return makeOutputBatch(pool, leases, out);
  };
  const operator = ((source) => source.pipe(map(process))) as DataPlane;
  return Object.assign(operator, { process, counters, pool });
}

// =============================================================================================
// Shared per-packet helpers

const LIMITED_BROADCAST = 0xffffffff;
const ICMP_ERROR_TYPES = new Set<number>([3, 4, 5, 11, 12]);

/**
 * The most bytes the encapsulators below add to a datagram among the encapsulations offered:
 * IP in IP 20 (RFC 2003), minimal 12 at most (RFC 2004: 8, or 12 with the original source),
 * GRE 20 + 4, or 20 + 8 with the checksum (RFC 2784). A device feeding the tunnel must be this
 * much smaller than the path, since the encapsulated datagram is not fragmented here (RFC 2003
 * 5.1).
 */
export function largestTunnelOverhead(encapsulations: { readonly minimal: boolean; readonly gre: boolean }, greChecksum = false): number {
  let largest = IPV4_MIN_HEADER_LENGTH;
  if (encapsulations.minimal) largest = Math.max(largest, MINIMAL_HEADER_WITH_SOURCE_LENGTH);
  if (encapsulations.gre) largest = Math.max(largest, IPV4_MIN_HEADER_LENGTH + (greChecksum ? 8 : GRE_HEADER_LENGTH));
  return largest;
}

/** True (and counted) when the input is not a whole IPv4 datagram with a good header checksum. */
function inputProblem(bytes: Uint8Array, counters: DataPlaneCounters): boolean {
  const problem = ipv4DatagramProblem(bytes, 0, bytes.length);
  if (problem !== undefined) {
    bump(counters, `malformed-${problem.reason}`);
    return true;
  }
  if (!ipv4ChecksumValid(bytes, 0)) {
    bump(counters, 'bad-checksum');
    return true;
  }
  return false;
}

function isMulticast(address: Ipv4Address): boolean {
  return address >>> 28 === 0xe;
}

/**
 * Whether an ICMP error may be sent about this datagram (RFC 1122 3.2.2, RFC 1812 4.3.2.7):
 * not about an ICMP error, a broadcast/multicast (IP or link layer), a non-initial fragment,
 * or a source that does not name one host (0, loopback, broadcast, multicast, class E).
 */
function icmpErrorAllowed(packet: Packet, bytes: Uint8Array, isBroadcast: (a: Ipv4Address) => boolean): boolean {
  if (packet.linkBroadcast === true) return false;
  const destination = ipv4Destination(bytes, 0);
  if (isMulticast(destination) || isBroadcast(destination)) return false;
  if ((readU16(bytes, 6) & 0x1fff) !== 0) return false;
  const source = ipv4Source(bytes, 0);
  const top = source >>> 24;
  if (source === 0 || top === 127 || top >= 224 || isBroadcast(source)) return false;
  if (ipv4Protocol(bytes, 0) === IpProtocol.ICMP) {
    const headerLength = ipv4HeaderLength(bytes, 0);
    const total = ipv4TotalLength(bytes, 0);
    // An ICMP message too short to show its type is treated as an error message: no reply.
    if (total <= headerLength || ICMP_ERROR_TYPES.has(bytes[headerLength]!)) return false;
  }
  return true;
}

/**
 * Writes an ICMP Time Exceeded (code 0, "time to live exceeded in transit", RFC 792) from
 * `source` to the datagram's source: IP header, ICMP header, the datagram's IP header and first
 * 64 bits of its data as received (RFC 792, RFC 1812 4.3.2.3).
 */
function writeTimeExceeded(pool: PacketPool, original: Uint8Array, source: Ipv4Address, ttl: number): Uint8Array {
  const quoted = Math.min(ipv4TotalLength(original, 0), ipv4HeaderLength(original, 0) + 8);
  const icmpLength = 8 + quoted;
  const total = IPV4_MIN_HEADER_LENGTH + icmpLength;
  const out = pool.allocate(total);
  out[0] = 0x45;
  out[1] = 0;
  writeU16(out, 2, total);
  writeU16(out, 4, 0);
  writeU16(out, 6, 0);
  out[8] = ttl;
  out[9] = IpProtocol.ICMP;
  writeU32(out, 12, source);
  writeU32(out, 16, ipv4Source(original, 0));
  updateIpv4Checksum(out, 0);
  const icmp = IPV4_MIN_HEADER_LENGTH;
  out[icmp] = IcmpType.TimeExceeded;
  out[icmp + 1] = TimeExceededCode.TtlExceededInTransit;
  writeU32(out, icmp + 4, 0);
  out.set(original.subarray(0, quoted), icmp + 8);
  writeIcmpChecksum(out, icmp, total);
  return out;
}

// =============================================================================================
// Home agent

export interface HomeAgentDataPlaneOptions {
  readonly table: ForwardingTable;
  /** Every address of this home agent (RFC 2003 3.2 compares sources with all of them). */
  readonly localAddresses: readonly Ipv4Address[];
  /**
   * Outer source of every tunnel: the address given to mobile nodes in the Home Agent field
   * (4.2.3, multihomed home agents). Default: `localAddresses[0]`.
   */
  readonly homeAgentAddress?: Ipv4Address;
  /** The home network's prefix and length, for its directed broadcast address (4.3). */
  readonly homeNetwork: Ipv4Address;
  readonly prefixLength: number;
  /** When given, only broadcasts and multicasts that arrived on this interface are tunnelled (4.3: "on the home network"). */
  readonly homeInterface?: string;
  /** Outer TTL and the TTL of ICMP errors this agent originates. Default 64. */
  readonly ttl?: number;
  /** First outer Identification; each outer header takes the next (mod 2^16). Default 0. */
  readonly firstIdentification?: number;
  /** Send the GRE checksum (RFC 2784 2.5). Default false. */
  readonly greChecksum?: boolean;
  readonly pool?: PacketPool;
}

/**
 * The home agent's forwarding: per packet, in order,
 *
 * 1. not a whole IPv4 datagram, or a bad header checksum → dropped, counted by reason;
 * 2. addressed to one of the agent's own addresses → `local` untouched (its own stack handles
 *    registrations and reverse tunnels, 4.2.3 "decapsulate packets addressed to themselves");
 * 3. a limited, home-network directed, or multicast destination → a copy to every binding with
 *    the B bit (4.3, 4.4): with D, tunnelled to the care-of address; without D, first put in
 *    an IP-in-IP datagram to the home address, then tunnelled (nested, 4.3). Not TTL
 *    decremented: the tunnel extends the home link to the mobile node (see `broadcastCopies`);
 * 4. a destination with a binding → for each care-of address (simultaneous bindings, 4.2.3),
 *    after the loop checks below, the TTL is decremented (RFC 2003 3.1: tunnelling as part of
 *    forwarding) and the datagram tunnelled with the binding's encapsulation; a TTL that would
 *    reach 0 gives one ICMP Time Exceeded instead (RFC 2003 3.1 "SHOULD be returned");
 * 5. anything else → `forward` untouched (4.2.3: no binding, the node is at home).
 *
 * Loop checks (a tunnel packet that comes back must not be tunnelled again):
 * - RFC 2003 3.2: a datagram whose source is one of this agent's addresses MUST NOT be
 *   tunnelled (it is most likely our own tunnel packet routed back) — dropped;
 * - RFC 2003 3.2: nor when its source is the tunnel exit point — that copy skipped;
 * - 4.2.3: an already tunnelled datagram whose inner destination equals its outer destination
 *   (the home address) and whose outer source is one of the node's care-of addresses is
 *   silently discarded; from another source, its outer destination is rewritten to each
 *   care-of address (the MAY of 4.2.3) rather than nesting; an inner destination that differs
 *   is nested like any datagram;
 * - a care-of address that is itself a home address bound in this table is not tunnelled to:
 *   the tunnel packet's destination would be intercepted here again (counted
 *   `loop-care-of-address-bound`).
 */
export function homeAgentDataPlane(options: HomeAgentDataPlaneOptions): DataPlane {
  const table = options.table;
  const pool = options.pool ?? new PacketPool();
  const counters: DataPlaneCounters = {};
  const ttl = options.ttl ?? 64;
  const haAddress = options.homeAgentAddress ?? options.localAddresses[0];
  if (haAddress === undefined) throw new RangeError('homeAgentDataPlane needs homeAgentAddress or a local address');
  if (!Number.isInteger(options.prefixLength) || options.prefixLength < 0 || options.prefixLength > 32) {
    throw new RangeError('prefixLength must be 0..32');
  }
  const local = new Set<number>([...options.localAddresses, haAddress].map((a) => a | 0));
  const hostMask = options.prefixLength === 32 ? 0 : 0xffffffff >>> options.prefixLength;
  const directedBroadcast = ((options.homeNetwork | hostMask) >>> 0) | 0;
  const isBroadcast = (address: Ipv4Address): boolean => address === LIMITED_BROADCAST || (address | 0) === directedBroadcast;
  const greOptions = { checksum: options.greChecksum === true };
  let identification = (options.firstIdentification ?? 0) & 0xffff;
  const nextIdentification = (): number => {
    const id = identification;
    identification = (identification + 1) & 0xffff;
    return id;
  };
  // The outer header's constant fields (source, TTL, protocol) are checked here, once; each
  // care-of address was checked when its binding entered the forwarding table. Per packet
  // only the header is written (see PreparedOuterHeader).
  const ipInIpHeader = prepareOuterHeader({ source: haAddress, ttl }, IpProtocol.IPIP);
  const greHeader = prepareOuterHeader({ source: haAddress, ttl }, IpProtocol.GRE);

  /**
   * Copies the first `length` bytes of `source` (a whole IPv4 datagram) into the pool behind
   * room for the outer header, decrements its TTL there when `decrement` (one copy, no
   * intermediate buffer), and tunnels it to `target`. Returns the tunnel packet, or undefined
   * when it would be too big. Minimal encapsulation of a fragment falls back to IP in IP
   * (RFC 2004 3: the one set of fragmentation fields belongs to the original datagram).
   */
  function tunnel(
    source: Uint8Array,
    length: number,
    decrement: boolean,
    target: TunnelTarget,
  ): { bytes: Uint8Array; kind: Encapsulation } | undefined {
    let kind = target.encapsulation;
    if (kind === 'minimal' && ipv4IsFragment(source, 0)) {
      bump(counters, 'minimal-fragment-fallback');
      kind = 'ip-in-ip';
    }
    const overhead =
      kind === 'minimal'
        ? ipv4Source(source, 0) === haAddress
          ? MINIMAL_HEADER_LENGTH
          : MINIMAL_HEADER_WITH_SOURCE_LENGTH
        : kind === 'gre'
          ? IPV4_MIN_HEADER_LENGTH + (greOptions.checksum ? 8 : GRE_HEADER_LENGTH)
          : IPV4_MIN_HEADER_LENGTH;
    if (length + overhead > IPV4_MAX_TOTAL_LENGTH) return tooBig();
    const out = pool.allocate(length + overhead);
    out.set(source.length === length ? source : source.subarray(0, length), overhead);
    if (decrement) decrementIpv4Ttl(out, overhead);
    // The inner datagram already sits where the encapsulators put it: only headers are written
    // (for minimal encapsulation the original header moves in front of the forwarding header).
    if (kind === 'minimal') {
      const inner = new Uint8Array(out.buffer, out.byteOffset + overhead, length);
      const result = minimalEncapsulate(inner, haAddress!, target.careOfAddress, out, 0);
      if (!result.ok) return undefined;
    } else {
      // RFC 2003 3.1 (and RFC 2784 through it): the outer TOS is the inner one, and an inner
      // DF is set outside too. `source` was checked as a whole datagram by the caller.
      const tos = out[overhead + 1]!;
      const dontFragment = (out[overhead + 6]! & 0x40) !== 0;
      const total = length + overhead;
      if (kind === 'gre') {
        writeGreIpv4Header(out, IPV4_MIN_HEADER_LENGTH, greOptions.checksum, total);
        greHeader.write(out, 0, target.careOfAddress, total, nextIdentification(), tos, dontFragment);
      } else {
        ipInIpHeader.write(out, 0, target.careOfAddress, total, nextIdentification(), tos, dontFragment);
      }
    }
    return { bytes: out, kind };
  }

  function tooBig(): undefined {
    bump(counters, 'too-big');
    return undefined;
  }

  /**
   * 4.2.3 on an already tunnelled datagram for a bound home address: undefined when it is an
   * ordinary datagram (tunnel it, nested if it is a tunnel packet), 'discard', or 'redirect'.
   */
  function alreadyTunnelled(bytes: Uint8Array, tunnels: readonly TunnelTarget[]): 'discard' | 'redirect' | undefined {
    const protocol = ipv4Protocol(bytes, 0);
    if (!isTunnelProtocol(protocol)) return undefined;
    const headerLength = ipv4HeaderLength(bytes, 0);
    const total = ipv4TotalLength(bytes, 0);
    let innerDestinationAt: number;
    if (protocol === IpProtocol.MINIMAL_ENCAPSULATION) innerDestinationAt = headerLength + 4;
    else if (protocol === IpProtocol.IPIP) innerDestinationAt = headerLength + 16;
    else {
      // GRE: the inner IPv4 header follows a 4- or 8-byte GRE header carrying 0x0800.
      if (total < headerLength + 4 || readU16(bytes, headerLength + 2) !== 0x0800) return undefined;
      const greLength = (bytes[headerLength]! & 0x80) !== 0 ? 8 : 4;
      innerDestinationAt = headerLength + greLength + 16;
    }
    if (innerDestinationAt + 4 > total) return undefined;
    if (readU32(bytes, innerDestinationAt) !== ipv4Destination(bytes, 0)) return undefined;
    const outerSource = ipv4Source(bytes, 0);
    for (const t of tunnels) if (t.careOfAddress === outerSource) return 'discard';
    return 'redirect';
  }

  function broadcastCopies(packet: Packet, bytes: Uint8Array, index: number, out: OutputPacket[]): void {
    if (options.homeInterface !== undefined && packet.ingress !== options.homeInterface) {
      bump(counters, 'broadcast-unrequested');
      return;
    }
    if (local.has(ipv4Source(bytes, 0) | 0)) {
      bump(counters, 'loop-source-is-self');
      return;
    }
    const length = ipv4TotalLength(bytes, 0);
    const original = bytes.length === length ? bytes : bytes.subarray(0, length);
    let copies = 0;
    for (const entry of table) {
      for (const target of entry.tunnels) {
        if (!target.broadcast) continue;
        if (ipv4Source(bytes, 0) === target.careOfAddress) {
          bump(counters, 'loop-source-is-tunnel-exit');
          continue;
        }
        let inner = original;
        if (!target.decapsulatedByMobileNode) {
          // 4.3: without D, a unicast IP-in-IP datagram to the home address first, so the
          // foreign agent knows whom it is for; IP in IP since every decapsulating mobile
          // node reads it (4.1) and B without that ability is forbidden (3.6.1.2).
          if (length + IPV4_MIN_HEADER_LENGTH > IPV4_MAX_TOTAL_LENGTH) {
            tooBig();
            continue;
          }
          const wrapped = pool.allocate(length + IPV4_MIN_HEADER_LENGTH);
          wrapped.set(original, IPV4_MIN_HEADER_LENGTH);
          ipInIpEncapsulate(
            wrapped.subarray(IPV4_MIN_HEADER_LENGTH),
            { source: haAddress!, destination: entry.homeAddress, identification: nextIdentification(), ttl },
            wrapped,
            0,
          );
          inner = wrapped;
        }
        const sent = tunnel(inner, inner.length, false, target);
        if (sent === undefined) continue;
        copies++;
        bump(counters, 'broadcast-tunnelled');
        out.push({
          kind: 'send-ip',
          index,
          bytes: sent.bytes,
          destination: target.careOfAddress,
          homeAddress: entry.homeAddress,
          encapsulation: sent.kind,
          via: 'broadcast',
        });
      }
    }
    if (copies === 0) bump(counters, 'broadcast-unrequested');
  }

  function processPacket(packet: Packet, index: number, out: OutputPacket[]): void {
    const bytes = packet.bytes;
    if (inputProblem(bytes, counters)) return;
    const destination = ipv4Destination(bytes, 0);
    if (local.has(destination | 0)) {
      bump(counters, 'local');
      out.push({ kind: 'local', index, bytes, decapsulated: false });
      return;
    }
    if (isBroadcast(destination) || isMulticast(destination)) {
      broadcastCopies(packet, bytes, index, out);
      return;
    }
    const entry = table.lookup(destination);
    if (entry === undefined) {
      bump(counters, 'passed');
      out.push({ kind: 'forward', index, bytes, routed: false });
      return;
    }
    const source = ipv4Source(bytes, 0);
    if (local.has(source | 0)) {
      bump(counters, 'loop-source-is-self');
      return;
    }
    const tunnelled = alreadyTunnelled(bytes, entry.tunnels);
    if (tunnelled === 'discard') {
      bump(counters, 'loop-from-care-of-address');
      return;
    }
    const length = ipv4TotalLength(bytes, 0);
    // TTL first, as a router forwarding the datagram (RFC 2003 3.1; for a redirected tunnel
    // packet the datagram forwarded is the outer one), unless the host already did.
    const decrement = packet.forwarded !== true;
    if (decrement && bytes[8]! <= 1) {
      bump(counters, 'ttl-exceeded');
      if (icmpErrorAllowed(packet, bytes, isBroadcast)) {
        bump(counters, 'icmp-sent');
        out.push({ kind: 'icmp', index, bytes: writeTimeExceeded(pool, bytes, haAddress!, ttl), destination: source });
      } else {
        bump(counters, 'icmp-suppressed');
      }
      return;
    }
    const tunnels = entry.tunnels;
    for (let t = 0; t < tunnels.length; t++) {
      const target = tunnels[t]!;
      if (source === target.careOfAddress) {
        bump(counters, 'loop-source-is-tunnel-exit');
        continue;
      }
      if (table.lookup(target.careOfAddress) !== undefined) {
        bump(counters, 'loop-care-of-address-bound');
        continue;
      }
      if (tunnelled === 'redirect') {
        const copy = pool.allocate(length);
        copy.set(bytes.length === length ? bytes : bytes.subarray(0, length));
        if (decrement) decrementIpv4Ttl(copy, 0);
        setIpv4Destination(copy, 0, target.careOfAddress);
        bump(counters, 'redirected');
        out.push({
          kind: 'send-ip',
          index,
          bytes: copy,
          destination: target.careOfAddress,
          homeAddress: entry.homeAddress,
          encapsulation: encapsulationOf(ipv4Protocol(copy, 0)),
          via: 'redirect',
        });
        continue;
      }
      const sent = tunnel(bytes, length, decrement, target);
      if (sent === undefined) continue;
      bump(counters, 'tunnelled');
      out.push({
        kind: 'send-ip',
        index,
        bytes: sent.bytes,
        destination: target.careOfAddress,
        homeAddress: entry.homeAddress,
        encapsulation: sent.kind,
        via: 'tunnel',
      });
    }
  }

  return batchOperator(processPacket, counters, pool);
}

function encapsulationOf(protocol: number): Encapsulation {
  return protocol === IpProtocol.GRE ? 'gre' : protocol === IpProtocol.MINIMAL_ENCAPSULATION ? 'minimal' : 'ip-in-ip';
}

// =============================================================================================
// Decapsulation shared by the foreign agent and the mobile node

type Decapsulated = { readonly ok: true; readonly datagram: Uint8Array } | { readonly ok: false };

/**
 * Takes the tunnel packet `bytes` apart into a pool buffer (the input is never written): the
 * inner datagram, or a counted failure. Checks the inner header checksum and RFC 2003 3.1's
 * "inner TTL 0 after decapsulation: discard".
 */
function decapsulateInto(pool: PacketPool, bytes: Uint8Array, counters: DataPlaneCounters): Decapsulated {
  const protocol = ipv4Protocol(bytes, 0);
  let inner: Uint8Array;
  if (protocol === IpProtocol.MINIMAL_ENCAPSULATION) {
    const total = ipv4TotalLength(bytes, 0);
    const out = pool.allocate(total);
    const r = minimalDecapsulate(bytes, 0, bytes.length, out, 0);
    if (!r.ok) {
      bump(counters, `decapsulation-${r.error.reason}`);
      return { ok: false };
    }
    inner = r.value.datagram;
  } else {
    const r = protocol === IpProtocol.GRE ? greDecapsulate(bytes, 0, bytes.length) : ipInIpDecapsulate(bytes, 0, bytes.length);
    if (!r.ok) {
      bump(counters, `decapsulation-${r.error.reason}`);
      return { ok: false };
    }
    inner = pool.allocate(r.value.inner.length);
    inner.set(r.value.inner);
  }
  if (!ipv4ChecksumValid(inner, 0)) {
    bump(counters, 'inner-bad-checksum');
    return { ok: false };
  }
  if (inner[8] === 0) {
    bump(counters, 'inner-ttl-zero');
    return { ok: false };
  }
  return { ok: true, datagram: inner };
}

// =============================================================================================
// Foreign agent

export interface ForeignAgentDataPlaneOptions {
  /** The visitor list's view for delivery: home address → link-layer address, or undefined. */
  readonly visitors: (homeAddress: Ipv4Address) => string | undefined;
  /** The foreign agent's addresses; tunnels to any of them are decapsulated (its care-of addresses). */
  readonly localAddresses: readonly Ipv4Address[];
  /** Source of ICMP errors it originates. Default `localAddresses[0]`. */
  readonly icmpSource?: Ipv4Address;
  /** TTL of ICMP errors it originates. Default 64. */
  readonly ttl?: number;
  readonly pool?: PacketPool;
}

/**
 * The foreign agent's forwarding, per packet:
 *
 * 1. malformed or bad checksum → dropped, counted;
 * 2. a tunnel packet (IP in IP, minimal, GRE) to one of its addresses → decapsulated; the
 *    inner destination is looked up in the visitor list (4.2.2): a visitor gets the inner
 *    datagram on the link at its link-layer address (`deliver`, no ARP: 4.2.2, 4.6); an unknown
 *    destination is silently discarded, no ICMP (4.2.2). Only one layer comes off: a nested
 *    broadcast (4.3) reaches the mobile node still in its IP-in-IP datagram (3.6.1.2);
 * 3. any other datagram to its addresses → `local`;
 * 4. a datagram from a visitor (source = a visitor's home address) → routed: checksum
 *    verified, TTL decremented, checksum updated (4.2.2), `forward` with `routed: true`; TTL
 *    expiry gives an ICMP Time Exceeded;
 * 5. anything else → `forward` untouched.
 */
export function foreignAgentDataPlane(options: ForeignAgentDataPlaneOptions): DataPlane {
  const pool = options.pool ?? new PacketPool();
  const counters: DataPlaneCounters = {};
  const local = new Set<number>(options.localAddresses.map((a) => a | 0));
  const icmpSource = options.icmpSource ?? options.localAddresses[0];
  if (icmpSource === undefined) throw new RangeError('foreignAgentDataPlane needs a local address');
  const ttl = options.ttl ?? 64;
  const isBroadcast = (a: Ipv4Address): boolean => a === LIMITED_BROADCAST;

  function processPacket(packet: Packet, index: number, out: OutputPacket[]): void {
    const bytes = packet.bytes;
    if (inputProblem(bytes, counters)) return;
    const destination = ipv4Destination(bytes, 0);
    if (local.has(destination | 0)) {
      if (!isTunnelProtocol(ipv4Protocol(bytes, 0))) {
        bump(counters, 'local');
        out.push({ kind: 'local', index, bytes, decapsulated: false });
        return;
      }
      const r = decapsulateInto(pool, bytes, counters);
      if (!r.ok) return;
      const homeAddress = ipv4Destination(r.datagram, 0);
      const linkAddress = options.visitors(homeAddress);
      if (linkAddress === undefined) {
        bump(counters, 'unknown-visitor');
        return;
      }
      bump(counters, 'delivered');
      out.push({ kind: 'deliver', index, bytes: r.datagram, linkAddress, homeAddress });
      return;
    }
    const source = ipv4Source(bytes, 0);
    if (options.visitors(source) === undefined) {
      bump(counters, 'passed');
      out.push({ kind: 'forward', index, bytes, routed: false });
      return;
    }
    if (bytes[8]! <= 1) {
      bump(counters, 'ttl-exceeded');
      if (icmpErrorAllowed(packet, bytes, isBroadcast)) {
        bump(counters, 'icmp-sent');
        out.push({ kind: 'icmp', index, bytes: writeTimeExceeded(pool, bytes, icmpSource!, ttl), destination: source });
      } else {
        bump(counters, 'icmp-suppressed');
      }
      return;
    }
    const length = ipv4TotalLength(bytes, 0);
    const copy = pool.allocate(length);
    copy.set(bytes.subarray(0, length));
    decrementIpv4Ttl(copy, 0);
    bump(counters, 'visitor-routed');
    out.push({ kind: 'forward', index, bytes: copy, routed: true });
  }

  return batchOperator(processPacket, counters, pool);
}

// =============================================================================================
// Mobile node with a co-located care-of address

export interface MobileNodeDecapsulationOptions {
  readonly homeAddress: Ipv4Address;
  /** The co-located care-of address(es) tunnels arrive at. */
  readonly careOfAddresses: readonly Ipv4Address[];
  /** The home network's prefix length, so its directed broadcast counts as "for me" (4.3). */
  readonly homePrefixLength?: number;
  readonly pool?: PacketPool;
}

/** Tunnel layers taken off one packet at most: a nested broadcast has two (4.3). */
const MAX_TUNNEL_DEPTH = 2;

/**
 * Decapsulation by a mobile node that is its own tunnel endpoint (1.7 b; IP in IP required,
 * 4.1; minimal and GRE too). A tunnel packet to a care-of address or to the home address
 * (4.4: the node "MUST be capable of decapsulating packets sent to its home address") is
 * taken apart, up to two layers (the nested broadcast of 4.3); the result must be for this
 * node — its home address, a care-of address, the limited or home-network broadcast, or a
 * multicast (RFC 2003 6.2) — and
 * is handed up as `local` with `decapsulated: true`. Non-tunnel datagrams to its addresses are
 * `local` untouched; anything else `forward` untouched.
 */
export function mobileNodeDecapsulation(options: MobileNodeDecapsulationOptions): DataPlane {
  const pool = options.pool ?? new PacketPool();
  const counters: DataPlaneCounters = {};
  const own = new Set<number>([options.homeAddress, ...options.careOfAddresses].map((a) => a | 0));
  const prefixLength = options.homePrefixLength;
  const homeBroadcast =
    prefixLength === undefined || prefixLength >= 31 ? undefined : (options.homeAddress | (0xffffffff >>> prefixLength)) | 0;
  const forMe = (a: Ipv4Address): boolean =>
    own.has(a | 0) || a === LIMITED_BROADCAST || (a | 0) === homeBroadcast || isMulticast(a);

  function processPacket(packet: Packet, index: number, out: OutputPacket[]): void {
    const bytes = packet.bytes;
    if (inputProblem(bytes, counters)) return;
    if (!own.has(ipv4Destination(bytes, 0) | 0)) {
      bump(counters, 'passed');
      out.push({ kind: 'forward', index, bytes, routed: false });
      return;
    }
    if (!isTunnelProtocol(ipv4Protocol(bytes, 0))) {
      bump(counters, 'local');
      out.push({ kind: 'local', index, bytes, decapsulated: false });
      return;
    }
    let current = bytes;
    for (let depth = 0; depth < MAX_TUNNEL_DEPTH; depth++) {
      const r = decapsulateInto(pool, current, counters);
      if (!r.ok) return;
      current = r.datagram;
      const destination = ipv4Destination(current, 0);
      if (!own.has(destination | 0) || !isTunnelProtocol(ipv4Protocol(current, 0))) break;
    }
    if (!forMe(ipv4Destination(current, 0))) {
      bump(counters, 'not-for-me');
      return;
    }
    bump(counters, 'delivered');
    out.push({ kind: 'local', index, bytes: current, decapsulated: true });
  }

  return batchOperator(processPacket, counters, pool);
}
