/**
 * What every data plane shares (RFC 5944 4): the packets and batches that flow through the
 * RxJS pipelines, the outputs they produce, the slab pool those outputs are written into, the
 * counters, and the per-packet checks common to the planes (input validity, ICMP errors).
 * The planes themselves: runtime/dataplane/ha-plane.ts (home agent) and
 * runtime/dataplane/fa-plane.ts (foreign agent, mobile node).
 *
 * The stream carries batches (`PacketBatch` in, `OutputBatch` out, one output batch per input
 * batch, outputs in input order): per-item RxJS overhead is ~7x lower with batches of 64
 * (docs/performance.md). Nothing here reads a clock or a random source.
 *
 * Buffers. Every byte the planes write goes into a `PacketPool` slab, never a fresh
 * `Buffer.alloc` per packet (591 ns vs 5 ns, docs/performance.md). Ownership rules:
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
import type { Packet, PacketBatch } from '../../io/packet-tap.js';
import { type Ipv4Address, readU16, writeU16, writeU32 } from '../../io/wire/bytes.js';
import type { WireErrorReason } from '../../io/wire/codec.js';
import { isMulticast } from '../../io/wire/ipv4-address.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IpProtocol,
  ipv4ChecksumValid,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  updateIpv4Checksum,
} from '../../io/wire/ipv4.js';
import { IcmpType, TimeExceededCode, UnreachableCode, writeIcmpChecksum } from '../../io/wire/icmp.js';
import type { Encapsulation } from '../../io/wire/tunnel.js';

export type { Packet, PacketBatch };

// =============================================================================================
// Outputs

export interface OutputBase {
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
  /** The input batch these outputs came from (`index` points into it). */
  readonly inputs: PacketBatch;
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

/** The output batch of `inputs`: its outputs and the slabs they lie in. */
export function makeOutputBatch(pool: PacketPool, leases: Uint8Array[], inputs: PacketBatch, packets: OutputPacket[]): OutputBatch {
  let released = false;
  return {
    inputs,
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
  /** Bytes of the input datagrams (whole IP datagrams, as the tap gave them). */
  | 'bytes'
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
  | 'not-for-me'
  /** Home agent: a tunnel to it taken apart, its datagram routed (R4.2.3-7, RFC 3024). */
  | 'decapsulated'
  /** Home agent: a tunnel to it whose inner source is no home address with a binding. */
  | 'decapsulation-unknown-home-address'
  /** Home agent: a tunnel to it from an address that is not the inner source's care-of address. */
  | 'decapsulation-wrong-care-of-address'
  /** Home agent: a tunnel to it whose inner datagram or tunnel header is malformed. */
  | 'decapsulation-malformed'
  /** Home agent: an IGMP message through a tunnel that does not decode or whose checksum fails. */
  | 'decapsulation-igmp-malformed'
  /** Home agent: IGMP reports and leaves taken from mobile nodes' tunnels (4.4). */
  | 'igmp-received'
  /** Home agent: a node's multicast datagram sent onto the home link (R4.4-10). */
  | 'decapsulated-multicast'
  /** Home agent: copies of home-link multicast tunnelled to member nodes (4.4). */
  | 'multicast-tunnelled'
  /** Home agent: IGMP General Queries tunnelled to member nodes (4.4). */
  | 'igmp-query-tunnelled'
  /** Home agent: home-link multicast for a group no node away from home joined. */
  | 'multicast-no-member'
  /** Home agent (RFC 3519): tunnel packets sent as tunnel data messages in UDP (also in 'tunnelled'). */
  | 'udp-tunnelled'
  /** Home agent (RFC 3519): tunnel data messages taken apart, their datagrams routed. */
  | 'udp-decapsulated'
  /** Home agent (RFC 3519): keepalives (ICMP Echo Requests to the agent in tunnel data), to the agent's stack. */
  | 'udp-keepalive'
  /** Home agent (RFC 3519): tunnel data whose inner source is no home address with a UDP-tunnelled binding. */
  | 'udp-decapsulation-unknown-home-address'
  /** Home agent (RFC 3519): tunnel data from another address than the binding's translated one (a Request moves it). */
  | 'udp-decapsulation-wrong-source'
  /** Home agent (RFC 3519): a tunnel data message too short, of an unknown Next Header, or with a malformed inner datagram. */
  | 'udp-decapsulation-malformed'
  /** Home agent (RFC 3519): a DF datagram too big for the UDP tunnel's MTU; Fragmentation Needed sent back. */
  | 'udp-frag-needed';

export type DataPlaneCounters = Record<string, number>;

export function bump(counters: DataPlaneCounters, name: DataPlaneCounter): void {
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
 * A batch in flight through a plane's stages: each input packet's standing (a number the
 * plane defines, 0 = done), the outputs so far and the pool slabs they lie in. Carried from
 * stage to stage, so nothing about a batch rides beside the stream.
 */
export interface BatchInFlight {
  readonly inputs: PacketBatch;
  /** Per input packet: where it stands between the stages (0: handled). */
  readonly standing: Uint8Array;
  readonly outputs: OutputPacket[];
  /** The pool slabs this batch's outputs lie in. */
  readonly leases: Uint8Array[];
}

/** Opens a batch on the pool (the first stage of every plane), counting its packets. */
export function openBatch(pool: PacketPool, counters: DataPlaneCounters, inputs: PacketBatch): BatchInFlight {
  if (inputs.length > 0) {
    counters['packets'] = (counters['packets'] ?? 0) + inputs.length;
    // Bytes in, for the metrics (one add per packet, per batch a single counter write).
    let bytes = 0;
    for (let i = 0; i < inputs.length; i++) bytes += inputs[i]!.bytes.length;
    counters['bytes'] = (counters['bytes'] ?? 0) + bytes;
  }
  return { inputs, standing: new Uint8Array(inputs.length), outputs: [], leases: pool.openBatch() };
}

/** The last stage of every plane: the outputs in input order (stages emit by kind), as an OutputBatch owning its slabs. */
export function finishBatch(pool: PacketPool, counters: DataPlaneCounters, batch: BatchInFlight): OutputBatch {
  const outputs = batch.outputs;
  // Insertion sort, stable: already in order in the common batch (one kind), so O(n).
  for (let i = 1; i < outputs.length; i++) {
    const output = outputs[i]!;
    if (outputs[i - 1]!.index <= output.index) continue;
    let j = i - 1;
    while (j >= 0 && outputs[j]!.index > output.index) {
      outputs[j + 1] = outputs[j]!;
      j--;
    }
    outputs[j + 1] = output;
  }
  counters['outputs'] = (counters['outputs'] ?? 0) + outputs.length;
  return makeOutputBatch(pool, batch.leases, batch.inputs, outputs);
}

/** A stage as an RxJS operator: a `map` of the stage function over the batches, with the plane's state. */
export function stage<State, In, Out>(state: State, run: (state: State, batch: In) => Out): OperatorFunction<In, Out> {
  return map((batch: In) => run(state, batch));
}

/** A plane as one operator (its stages piped) that can also process a batch directly. */
export function dataPlane(
  operator: OperatorFunction<PacketBatch, OutputBatch>,
  process: (batch: PacketBatch) => OutputBatch,
  counters: DataPlaneCounters,
  pool: PacketPool,
): DataPlane {
  const plane = ((source) => operator(source)) as DataPlane;
  return Object.assign(plane, { process, counters, pool });
}

// =============================================================================================
// Shared per-packet helpers

const ICMP_ERROR_TYPES = new Set<number>([3, 4, 5, 11, 12]);

/** True (and counted) when the input is not a whole IPv4 datagram with a good header checksum. */
export function inputProblem(bytes: Uint8Array, counters: DataPlaneCounters): boolean {
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

/**
 * Whether an ICMP error may be sent about this datagram (RFC 1122 3.2.2, RFC 1812 4.3.2.7):
 * not about an ICMP error, a broadcast/multicast (IP or link layer), a non-initial fragment,
 * or a source that does not name one host (0, loopback, broadcast, multicast, class E).
 */
export function icmpErrorAllowed(packet: Packet, bytes: Uint8Array, isBroadcast: (a: Ipv4Address) => boolean): boolean {
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
 * Writes an ICMP error about `original` from `source` to the datagram's source: IP header,
 * ICMP header with `restOfHeader` as its second word, the datagram's IP header and first 64
 * bits of its data as received (RFC 792, RFC 1812 4.3.2.3).
 */
function writeIcmpError(pool: PacketPool, original: Uint8Array, source: Ipv4Address, ttl: number, type: number, code: number, restOfHeader: number): Uint8Array {
  const quoted = Math.min(ipv4TotalLength(original, 0), ipv4HeaderLength(original, 0) + 8);
  const total = IPV4_MIN_HEADER_LENGTH + 8 + quoted;
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
  out[icmp] = type;
  out[icmp + 1] = code;
  writeU32(out, icmp + 4, restOfHeader);
  out.set(original.subarray(0, quoted), icmp + 8);
  writeIcmpChecksum(out, icmp, total);
  return out;
}

/** An ICMP Time Exceeded, code 0 "time to live exceeded in transit" (RFC 792). */
export function writeTimeExceeded(pool: PacketPool, original: Uint8Array, source: Ipv4Address, ttl: number): Uint8Array {
  return writeIcmpError(pool, original, source, ttl, IcmpType.TimeExceeded, TimeExceededCode.TtlExceededInTransit, 0);
}

/**
 * An ICMP Destination Unreachable, Fragmentation Needed (RFC 792), with the next-hop MTU in
 * the second half of the unused word (RFC 1191 4).
 */
export function writeFragmentationNeeded(pool: PacketPool, original: Uint8Array, source: Ipv4Address, ttl: number, nextHopMtu: number): Uint8Array {
  return writeIcmpError(pool, original, source, ttl, IcmpType.DestinationUnreachable, UnreachableCode.FragmentationNeeded, Math.max(0, nextHopMtu) & 0xffff);
}

/** The encapsulation an outer IP protocol number names. */
export function encapsulationOf(protocol: number): Encapsulation {
  return protocol === IpProtocol.GRE ? 'gre' : protocol === IpProtocol.MINIMAL_ENCAPSULATION ? 'minimal' : 'ip-in-ip';
}
