/**
 * The planes that take tunnels apart (RFC 5944 4.1, 4.2.2): RxJS operators over packet batches
 * (runtime/dataplane/packets.ts).
 *
 * - `foreignAgentDataPlane`: tunnelled datagrams arriving at the care-of address are
 *   decapsulated and delivered to the visitor by its link-layer address (4.2.2); visitors'
 *   own datagrams are routed (TTL decremented), and those of visitors granted 'T' are
 *   tunnelled to their home agent instead (RFC 3024: direct delivery style, or encapsulating
 *   delivery, the node's tunnel to this agent taken apart and its datagram tunnelled on).
 * - `mobileNodeDecapsulation`: a mobile node with a co-located care-of address takes its
 *   tunnels apart itself (1.7 b, 4.1).
 *
 * Each is a pipeline of named stages, sans-IO functions of (plane, batch) that are also RxJS
 * operators (`stage`): the foreign agent's classify ─► decapsulate ─► routeVisitors ─►
 * reverseTunnel ─► outputs,
 * the mobile node's classify ─► decapsulate ─► outputs. Both share `decapsulateInto`, and the
 * pool, counters and ICMP rules of packets.ts.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import {
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER_LENGTH,
  IpProtocol,
  decrementIpv4Ttl,
  ipv4ChecksumValid,
  ipv4Destination,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
} from '../../io/wire/ipv4.js';
import {
  GRE_HEADER_LENGTH,
  MINIMAL_HEADER_WITH_SOURCE_LENGTH,
  greDecapsulate,
  ipInIpDecapsulate,
  isTunnelProtocol,
  minimalDecapsulate,
  minimalEncapsulate,
  prepareOuterHeader,
  writeGreIpv4Header,
  type Encapsulation,
  type PreparedOuterHeader,
} from '../../io/wire/tunnel.js';
import type { OperatorFunction } from 'rxjs';
import { directedBroadcast, isMulticast, LIMITED_BROADCAST } from '../../io/wire/ipv4-address.js';
import {
  PacketPool,
  bump,
  dataPlane,
  finishBatch,
  icmpErrorAllowed,
  inputProblem,
  openBatch,
  stage,
  writeFragmentationNeeded,
  writeTimeExceeded,
  type BatchInFlight,
  type DataPlane,
  type DataPlaneCounters,
  type OutputBatch,
  type OutputPacket,
  type Packet,
  type PacketBatch,
} from './packets.js';
import { bumpUdp, UDP_TUNNEL_OVERHEAD, writeUdpTunnelHeaders } from './fa-udp-tunnel.js';

// =============================================================================================
// Decapsulation shared by the foreign agent and the mobile node

export type Decapsulated = { readonly ok: true; readonly datagram: Uint8Array } | { readonly ok: false };

/**
 * Takes the tunnel packet `bytes` apart into a pool buffer (the input is never written): the
 * inner datagram, or a counted failure. Checks the inner header checksum and RFC 2003 3.1's
 * "inner TTL 0 after decapsulation: discard".
 */
export function decapsulateInto(pool: PacketPool, bytes: Uint8Array, counters: DataPlaneCounters): Decapsulated {
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

/** A visitor granted 'T' (RFC 3024): where its datagrams are tunnelled. */
export interface ReverseTunnel {
  /** The outer destination. */
  readonly homeAgent: Ipv4Address;
  /** The outer source: the care-of address the node registered (an address of this agent). */
  readonly careOfAddress: Ipv4Address;
  /** As granted from the Request's M/G bits. */
  readonly encapsulation: Encapsulation;
  /** 'direct': plain datagrams from the node; 'encapsulating': the node tunnels them to this agent (RFC 3024 delivery styles). */
  readonly delivery: 'direct' | 'encapsulating';
  /**
   * The home agent granted UDP tunnelling (RFC 3519): datagrams go as tunnel data messages
   * (IP in IP) from the care-of address's port 434 to the home agent's, the flow the NAT in
   * front of this agent maps (fa-udp-tunnel.ts).
   */
  readonly udp?: boolean;
}

export interface ForeignAgentDataPlaneOptions {
  /** The visitor list's view for delivery: home address → link-layer address, or undefined. */
  readonly visitors: (homeAddress: Ipv4Address) => string | undefined;
  /** The visitors granted 'T' (RFC 3024): home address → reverse tunnel, or undefined. */
  readonly reverseTunnels?: (homeAddress: Ipv4Address) => ReverseTunnel | undefined;
  /** The foreign agent's addresses; tunnels to any of them are decapsulated (its care-of addresses). */
  readonly localAddresses: readonly Ipv4Address[];
  /** Source of ICMP errors it originates. Default `localAddresses[0]`. */
  readonly icmpSource?: Ipv4Address;
  /** TTL of ICMP errors it originates, and of reverse tunnels' outer headers. Default 64. */
  readonly ttl?: number;
  /**
   * The MTU of the path to home agents, bytes (default 1500): a reverse-tunnelled datagram
   * with DF that would exceed it gets ICMP Fragmentation Needed (RFC 2003 5.1).
   */
  readonly tunnelMtu?: number;
  readonly pool?: PacketPool;
}

/** The foreign agent plane's state. */
export interface FaPlane {
  readonly pool: PacketPool;
  readonly counters: DataPlaneCounters;
  readonly visitors: (homeAddress: Ipv4Address) => string | undefined;
  /** The agent's addresses as int32 keys. */
  readonly local: ReadonlySet<number>;
  readonly icmpSource: Ipv4Address;
  readonly ttl: number;
  readonly reverseTunnels: (homeAddress: Ipv4Address) => ReverseTunnel | undefined;
  readonly tunnelMtu: number;
  /** Outer headers per care-of address (int32 key), prepared once: IP in IP and GRE. */
  readonly ipInIpHeaders: Map<number, PreparedOuterHeader>;
  readonly greHeaders: Map<number, PreparedOuterHeader>;
  /** The same for UDP tunnels (RFC 3519), protocol 17. */
  readonly udpHeaders: Map<number, PreparedOuterHeader>;
  /** The next outer Identification (RFC 791: unique per source, destination, protocol while fragments live). */
  identification: number;
}

/** Where a packet stands between the foreign agent's stages. */
export const FaStanding = {
  Done: 0,
  /** A tunnel packet to one of the agent's addresses. */
  Decapsulate: 1,
  /** A datagram from a visitor, to route (4.2.2). */
  RouteVisitor: 2,
  /** A datagram from a visitor granted 'T', to tunnel to its home agent (RFC 3024). */
  ReverseTunnel: 3,
} as const;

const NO_REVERSE_TUNNELS = (): undefined => undefined;

export function faPlane(options: ForeignAgentDataPlaneOptions): FaPlane {
  const icmpSource = options.icmpSource ?? options.localAddresses[0];
  if (icmpSource === undefined) throw new RangeError('foreignAgentDataPlane needs a local address');
  return {
    pool: options.pool ?? new PacketPool(),
    counters: {},
    visitors: options.visitors,
    local: new Set<number>(options.localAddresses.map((a) => a | 0)),
    icmpSource,
    ttl: options.ttl ?? 64,
    reverseTunnels: options.reverseTunnels ?? NO_REVERSE_TUNNELS,
    tunnelMtu: options.tunnelMtu ?? 1500,
    ipInIpHeaders: new Map(),
    greHeaders: new Map(),
    udpHeaders: new Map(),
    identification: 0,
  };
}

/**
 * FA stage 1. Malformed or bad checksum → dropped, counted; a tunnel packet (IP in IP,
 * minimal, GRE) to one of its addresses → to decapsulate; any other datagram to its addresses
 * → `local`; a datagram from a visitor (source = a visitor's home address) → to route; anything
 * else → `forward` untouched.
 */
export function classifyForeignAgentBatch(plane: FaPlane, inputs: PacketBatch): BatchInFlight {
  const batch = openBatch(plane.pool, plane.counters, inputs);
  const { standing, outputs } = batch;
  for (let i = 0; i < inputs.length; i++) {
    const bytes = inputs[i]!.bytes;
    if (inputProblem(bytes, plane.counters)) continue;
    if (plane.local.has(ipv4Destination(bytes, 0) | 0)) {
      if (isTunnelProtocol(ipv4Protocol(bytes, 0))) {
        standing[i] = FaStanding.Decapsulate;
      } else {
        bump(plane.counters, 'local');
        outputs.push({ kind: 'local', index: i, bytes, decapsulated: false });
      }
    } else if (plane.visitors(ipv4Source(bytes, 0)) !== undefined) {
      const destination = ipv4Destination(bytes, 0);
      if (plane.reverseTunnels(ipv4Source(bytes, 0)) === undefined) {
        standing[i] = FaStanding.RouteVisitor;
      } else if (staysOnLink(destination)) {
        // Broadcasts and link-local multicast are for the visited link, never the home network's.
        bumpFa(plane.counters, 'reverse-tunnel-link-local');
        outputs.push({ kind: 'forward', index: i, bytes, routed: false });
      } else {
        standing[i] = FaStanding.ReverseTunnel;
      }
    } else {
      bump(plane.counters, 'passed');
      outputs.push({ kind: 'forward', index: i, bytes, routed: false });
    }
  }
  return batch;
}

/**
 * FA stage 2. Decapsulated; the inner destination is looked up in the visitor list (4.2.2): a
 * visitor gets the inner datagram on the link at its link-layer address (`deliver`, no ARP:
 * 4.2.2, 4.6); an unknown destination is silently discarded, no ICMP (4.2.2). Only one layer
 * comes off: a nested broadcast (4.3) reaches the mobile node still in its IP-in-IP datagram
 * (3.6.1.2).
 */
export function decapsulateForeignAgentBatch(plane: FaPlane, batch: BatchInFlight): BatchInFlight {
  const { inputs, standing, outputs } = batch;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== FaStanding.Decapsulate) continue;
    standing[i] = FaStanding.Done;
    const r = decapsulateInto(plane.pool, inputs[i]!.bytes, plane.counters);
    if (!r.ok) continue;
    const homeAddress = ipv4Destination(r.datagram, 0);
    const linkAddress = plane.visitors(homeAddress);
    if (linkAddress === undefined) {
      if (encapsulatedByVisitor(plane, inputs[i]!.bytes, r.datagram)) {
        // RFC 3024, encapsulating delivery style: the node's own tunnel to this agent; its
        // datagram goes on through the reverse tunnel.
        bumpFa(plane.counters, 'reverse-tunnel-decapsulated');
        const out = reverseTunnelOne(plane, i, inputs[i]!, r.datagram);
        if (out !== undefined) outputs.push(out);
        continue;
      }
      bump(plane.counters, 'unknown-visitor');
      continue;
    }
    bump(plane.counters, 'delivered');
    outputs.push({ kind: 'deliver', index: i, bytes: r.datagram, linkAddress, homeAddress });
  }
  return batch;
}

/**
 * FA stage 3. A visitor's datagram is routed (4.2.2): TTL decremented and checksum updated in a
 * pool copy, `forward` with `routed: true`; a TTL that runs out gives an ICMP Time Exceeded
 * where one may be sent (RFC 1122 3.2.2).
 */
export function routeVisitorsBatch(plane: FaPlane, batch: BatchInFlight): BatchInFlight {
  const { inputs, standing, outputs } = batch;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== FaStanding.RouteVisitor) continue;
    standing[i] = FaStanding.Done;
    const packet = inputs[i]!;
    const bytes = packet.bytes;
    if (bytes[8]! <= 1) {
      bump(plane.counters, 'ttl-exceeded');
      if (icmpErrorAllowed(packet, bytes, isLimitedBroadcast)) {
        bump(plane.counters, 'icmp-sent');
        outputs.push({ kind: 'icmp', index: i, bytes: writeTimeExceeded(plane.pool, bytes, plane.icmpSource, plane.ttl), destination: ipv4Source(bytes, 0) });
      } else {
        bump(plane.counters, 'icmp-suppressed');
      }
      continue;
    }
    const length = ipv4TotalLength(bytes, 0);
    const copy = plane.pool.allocate(length);
    copy.set(bytes.subarray(0, length));
    decrementIpv4Ttl(copy, 0);
    bump(plane.counters, 'visitor-routed');
    outputs.push({ kind: 'forward', index: i, bytes: copy, routed: true });
  }
  return batch;
}

const isLimitedBroadcast = (a: Ipv4Address): boolean => a === LIMITED_BROADCAST;

// ---------------------------------------------------------------------------------------------
// Reverse tunnels (RFC 3024)

/** Counters of the reverse tunnel, beside packets.ts's. */
export type FaReverseTunnelCounter =
  | 'reverse-tunnelled'
  /** A broadcast or link-local multicast (224.0.0.0/24) from a 'T' visitor: left on the link. */
  | 'reverse-tunnel-link-local'
  /** Encapsulating delivery: the visitor's tunnel to this agent taken apart (RFC 3024 delivery styles). */
  | 'reverse-tunnel-decapsulated'
  /** DF set and the tunnel packet would exceed the tunnel MTU: ICMP Fragmentation Needed (RFC 2003 5.1). */
  | 'reverse-tunnel-fragmentation-needed'
  | 'reverse-tunnel-too-big'
  | 'reverse-tunnel-ttl-exceeded'
  /** RFC 2004 3: a fragment cannot be minimally encapsulated; IP in IP instead. */
  | 'reverse-tunnel-minimal-fragment-fallback';

function bumpFa(counters: DataPlaneCounters, name: FaReverseTunnelCounter): void {
  counters[name] = (counters[name] ?? 0) + 1;
}

/** Limited broadcast, and multicast of 224.0.0.0/24 (link-local, RFC 5771), stay on the visited link. */
function staysOnLink(destination: Ipv4Address): boolean {
  return destination === LIMITED_BROADCAST || destination >>> 8 === 0xe00000;
}

/**
 * A tunnel packet whose inner datagram a visitor granted 'T' with the encapsulating delivery
 * style sent through its own tunnel: outer and inner source its home address (RFC 3024 delivery styles).
 */
function encapsulatedByVisitor(plane: FaPlane, outer: Uint8Array, inner: Uint8Array): boolean {
  const source = ipv4Source(inner, 0);
  if (ipv4Source(outer, 0) !== source) return false;
  const tunnel = plane.reverseTunnels(source);
  return tunnel !== undefined && tunnel.delivery === 'encapsulating' && plane.visitors(source) !== undefined && !staysOnLink(ipv4Destination(inner, 0));
}

/**
 * FA stage 4. A 'T' visitor's datagram goes to its home agent in the granted encapsulation
 * (RFC 3024, direct delivery style): see `reverseTunnelOne`.
 */
export function reverseTunnelBatch(plane: FaPlane, batch: BatchInFlight): BatchInFlight {
  const { inputs, standing, outputs } = batch;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== FaStanding.ReverseTunnel) continue;
    standing[i] = FaStanding.Done;
    const packet = inputs[i]!;
    const out = reverseTunnelOne(plane, i, packet, packet.bytes);
    if (out !== undefined) outputs.push(out);
  }
  return batch;
}

/**
 * One datagram through a visitor's reverse tunnel. The agent routes it first (RFC 3024 delivery styles:
 * the node's first hop): TTL decremented, Time Exceeded where one may be sent (RFC 1122
 * 3.2.2). Then RFC 2003 3.1: outer source the care-of address, destination the home agent,
 * TTL the agent's default, TOS copied, DF copied from the inner header; an inner DF datagram
 * the tunnel MTU cannot carry gets Fragmentation Needed with the MTU left inside the tunnel
 * (RFC 2003 5.1), one without DF goes out and the outer datagram may be fragmented. The inner
 * datagram is copied once into the pool behind room for the outer header.
 */
function reverseTunnelOne(plane: FaPlane, index: number, packet: Packet, bytes: Uint8Array): OutputPacket | undefined {
  const source = ipv4Source(bytes, 0);
  const tunnel = plane.reverseTunnels(source);
  if (tunnel === undefined) return undefined;
  if (bytes[8]! <= 1) {
    bumpFa(plane.counters, 'reverse-tunnel-ttl-exceeded');
    if (icmpErrorAllowed(packet, bytes, isLimitedBroadcast)) {
      bump(plane.counters, 'icmp-sent');
      return { kind: 'icmp', index, bytes: writeTimeExceeded(plane.pool, bytes, plane.icmpSource, plane.ttl), destination: source };
    }
    bump(plane.counters, 'icmp-suppressed');
    return undefined;
  }
  const length = ipv4TotalLength(bytes, 0);
  if (tunnel.udp === true) return udpReverseTunnelOne(plane, index, packet, bytes, tunnel, source);
  let kind = tunnel.encapsulation;
  if (kind === 'minimal' && ipv4IsFragment(bytes, 0)) {
    bumpFa(plane.counters, 'reverse-tunnel-minimal-fragment-fallback');
    kind = 'ip-in-ip';
  }
  // The inner source is the home address, never the care-of address: minimal encapsulation
  // always carries the Original Source.
  const overhead = kind === 'minimal' ? MINIMAL_HEADER_WITH_SOURCE_LENGTH : kind === 'gre' ? IPV4_MIN_HEADER_LENGTH + GRE_HEADER_LENGTH : IPV4_MIN_HEADER_LENGTH;
  const dontFragment = (bytes[6]! & 0x40) !== 0;
  const refused = tunnelRefusal(plane, index, packet, bytes, length, overhead, dontFragment, source);
  if (refused !== FITS) return refused;
  const out = plane.pool.allocate(length + overhead);
  out.set(bytes.length === length ? bytes : bytes.subarray(0, length), overhead);
  decrementIpv4Ttl(out, overhead);
  const total = length + overhead;
  if (kind === 'minimal') {
    const inner = new Uint8Array(out.buffer, out.byteOffset + overhead, length);
    if (!minimalEncapsulate(inner, tunnel.careOfAddress, tunnel.homeAgent, out, 0).ok) return undefined;
    // RFC 2004 3 puts the agent's TTL nowhere: the modified header keeps the inner TTL, already decremented.
  } else {
    const tos = out[overhead + 1]!;
    const header = outerHeaderOf(plane, kind === 'gre' ? plane.greHeaders : plane.ipInIpHeaders, tunnel.careOfAddress, kind === 'gre' ? IpProtocol.GRE : IpProtocol.IPIP);
    if (kind === 'gre') writeGreIpv4Header(out, IPV4_MIN_HEADER_LENGTH, false, total);
    plane.identification = (plane.identification + 1) & 0xffff;
    header.write(out, 0, tunnel.homeAgent, total, plane.identification, tos, dontFragment);
  }
  bumpFa(plane.counters, 'reverse-tunnelled');
  return { kind: 'send-ip', index, bytes: out, destination: tunnel.homeAgent, homeAddress: source, encapsulation: kind, via: 'tunnel' };
}

/**
 * The UDP form of the reverse tunnel (RFC 3519 4.2): IPv4 (care-of address → home agent,
 * protocol 17) + UDP 434 → 434 + tunnel data header (Next Header 4) + the datagram, routed
 * first like the other forms (TTL decremented; Time Exceeded, Fragmentation Needed as there).
 */
function udpReverseTunnelOne(plane: FaPlane, index: number, packet: Packet, bytes: Uint8Array, tunnel: ReverseTunnel, source: Ipv4Address): OutputPacket | undefined {
  const length = ipv4TotalLength(bytes, 0);
  const overhead = UDP_TUNNEL_OVERHEAD;
  const dontFragment = (bytes[6]! & 0x40) !== 0;
  const refused = tunnelRefusal(plane, index, packet, bytes, length, overhead, dontFragment, source);
  if (refused !== FITS) return refused;
  const total = length + overhead;
  const out = plane.pool.allocate(total);
  out.set(bytes.length === length ? bytes : bytes.subarray(0, length), overhead);
  decrementIpv4Ttl(out, overhead);
  writeUdpTunnelHeaders(out, IPV4_MIN_HEADER_LENGTH, length);
  const header = outerHeaderOf(plane, plane.udpHeaders, tunnel.careOfAddress, IpProtocol.UDP);
  plane.identification = (plane.identification + 1) & 0xffff;
  header.write(out, 0, tunnel.homeAgent, total, plane.identification, out[overhead + 1]!, dontFragment);
  bumpFa(plane.counters, 'reverse-tunnelled');
  bumpUdp(plane.counters, 'udp-tunnel-reverse-tunnelled');
  return { kind: 'send-ip', index, bytes: out, destination: tunnel.homeAgent, homeAddress: source, encapsulation: 'ip-in-ip', via: 'tunnel' };
}

/** `tunnelRefusal`'s answer for a datagram the tunnel can carry. */
const FITS = 'fits';

/**
 * Whether a reverse tunnel with `overhead` bytes of headers can carry the datagram (FITS), or
 * what becomes of it: an inner DF datagram over the tunnel MTU gets Fragmentation Needed with
 * the MTU left inside the tunnel where an ICMP error may be sent (RFC 2003 5.1, RFC 1122
 * 3.2.2), and one that no IPv4 datagram could hold with the headers is dropped (undefined);
 * both counted.
 */
function tunnelRefusal(
  plane: FaPlane,
  index: number,
  packet: Packet,
  bytes: Uint8Array,
  length: number,
  overhead: number,
  dontFragment: boolean,
  source: Ipv4Address,
): OutputPacket | undefined | typeof FITS {
  if (length + overhead > plane.tunnelMtu && dontFragment) {
    bumpFa(plane.counters, 'reverse-tunnel-fragmentation-needed');
    if (icmpErrorAllowed(packet, bytes, isLimitedBroadcast)) {
      bump(plane.counters, 'icmp-sent');
      return { kind: 'icmp', index, bytes: writeFragmentationNeeded(plane.pool, bytes, plane.icmpSource, plane.ttl, plane.tunnelMtu - overhead), destination: source };
    }
    bump(plane.counters, 'icmp-suppressed');
    return undefined;
  }
  if (length + overhead > IPV4_MAX_TOTAL_LENGTH) {
    bumpFa(plane.counters, 'reverse-tunnel-too-big');
    return undefined;
  }
  return FITS;
}

/** The prepared outer header of a care-of address: built at its first packet, then reused. */
function outerHeaderOf(plane: FaPlane, headers: Map<number, PreparedOuterHeader>, careOfAddress: Ipv4Address, protocol: number): PreparedOuterHeader {
  let header = headers.get(careOfAddress | 0);
  if (header === undefined) {
    header = prepareOuterHeader({ source: careOfAddress, ttl: plane.ttl }, protocol);
    headers.set(careOfAddress | 0, header);
  }
  return header;
}

/** The last stage of both planes here: outputs in input order. */
export function decapsulationOutputBatch(plane: { readonly pool: PacketPool; readonly counters: DataPlaneCounters }, batch: BatchInFlight): OutputBatch {
  return finishBatch(plane.pool, plane.counters, batch);
}

/**
 * The foreign agent's forwarding (classify ─► decapsulate ─► routeVisitors ─► outputs), as
 * one operator that can also process a batch directly.
 */
export function foreignAgentDataPlane(options: ForeignAgentDataPlaneOptions): DataPlane {
  const plane = faPlane(options);
  const process = (inputs: PacketBatch): OutputBatch =>
    decapsulationOutputBatch(
      plane,
      reverseTunnelBatch(plane, routeVisitorsBatch(plane, decapsulateForeignAgentBatch(plane, classifyForeignAgentBatch(plane, inputs)))),
    );
  const operator: OperatorFunction<PacketBatch, OutputBatch> = (source) =>
    source.pipe(
      stage(plane, classifyForeignAgentBatch),
      stage(plane, decapsulateForeignAgentBatch),
      stage(plane, routeVisitorsBatch),
      stage(plane, reverseTunnelBatch),
      stage(plane, decapsulationOutputBatch),
    );
  return dataPlane(operator, process, plane.counters, plane.pool);
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
export const MAX_TUNNEL_DEPTH = 2;

/** The mobile node plane's state. */
export interface MnPlane {
  readonly pool: PacketPool;
  readonly counters: DataPlaneCounters;
  /** Its home and care-of addresses as int32 keys. */
  readonly own: ReadonlySet<number>;
  /** Whether a decapsulated destination is this node's (RFC 2003 6.2). */
  readonly forMe: (address: Ipv4Address) => boolean;
}

export function mnPlane(options: MobileNodeDecapsulationOptions): MnPlane {
  const own = new Set<number>([options.homeAddress, ...options.careOfAddresses].map((a) => a | 0));
  const prefixLength = options.homePrefixLength;
  const broadcast = prefixLength === undefined ? undefined : directedBroadcast(options.homeAddress, prefixLength);
  const homeBroadcast = broadcast === undefined ? undefined : broadcast | 0;
  return {
    pool: options.pool ?? new PacketPool(),
    counters: {},
    own,
    forMe: (a) => own.has(a | 0) || a === LIMITED_BROADCAST || (a | 0) === homeBroadcast || isMulticast(a),
  };
}

const MN_DECAPSULATE = 1;

/**
 * MN stage 1. Malformed → dropped; not to one of its addresses → `forward` untouched; to one of
 * them and not a tunnel → `local` untouched; a tunnel packet → to decapsulate.
 */
export function classifyMobileNodeBatch(plane: MnPlane, inputs: PacketBatch): BatchInFlight {
  const batch = openBatch(plane.pool, plane.counters, inputs);
  for (let i = 0; i < inputs.length; i++) {
    const bytes = inputs[i]!.bytes;
    if (inputProblem(bytes, plane.counters)) continue;
    if (!plane.own.has(ipv4Destination(bytes, 0) | 0)) {
      bump(plane.counters, 'passed');
      batch.outputs.push({ kind: 'forward', index: i, bytes, routed: false });
    } else if (!isTunnelProtocol(ipv4Protocol(bytes, 0))) {
      bump(plane.counters, 'local');
      batch.outputs.push({ kind: 'local', index: i, bytes, decapsulated: false });
    } else {
      batch.standing[i] = MN_DECAPSULATE;
    }
  }
  return batch;
}

/**
 * MN stage 2. Up to two layers come off (the nested broadcast of 4.3); the result must be for
 * this node — its home address, a care-of address, the limited or home-network broadcast, or
 * a multicast (RFC 2003 6.2) — and goes up as `local` with `decapsulated: true`.
 */
export function decapsulateMobileNodeBatch(plane: MnPlane, batch: BatchInFlight): BatchInFlight {
  const { inputs, standing } = batch;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== MN_DECAPSULATE) continue;
    standing[i] = 0;
    let current: Uint8Array | undefined = inputs[i]!.bytes;
    for (let depth = 0; depth < MAX_TUNNEL_DEPTH && current !== undefined; depth++) {
      const r = decapsulateInto(plane.pool, current, plane.counters);
      current = r.ok ? r.datagram : undefined;
      if (current === undefined || !plane.own.has(ipv4Destination(current, 0) | 0) || !isTunnelProtocol(ipv4Protocol(current, 0))) break;
    }
    if (current === undefined) continue;
    if (!plane.forMe(ipv4Destination(current, 0))) {
      bump(plane.counters, 'not-for-me');
      continue;
    }
    bump(plane.counters, 'delivered');
    batch.outputs.push({ kind: 'local', index: i, bytes: current, decapsulated: true });
  }
  return batch;
}

/**
 * Decapsulation by a mobile node that is its own tunnel endpoint (1.7 b; IP in IP required,
 * 4.1; minimal and GRE too), including tunnels to its home address (4.4: the node "MUST be
 * capable of decapsulating packets sent to its home address"): classify ─► decapsulate ─►
 * outputs, as one operator that can also process a batch directly.
 */
export function mobileNodeDecapsulation(options: MobileNodeDecapsulationOptions): DataPlane {
  const plane = mnPlane(options);
  const process = (inputs: PacketBatch): OutputBatch =>
    decapsulationOutputBatch(plane, decapsulateMobileNodeBatch(plane, classifyMobileNodeBatch(plane, inputs)));
  const operator: OperatorFunction<PacketBatch, OutputBatch> = (source) =>
    source.pipe(stage(plane, classifyMobileNodeBatch), stage(plane, decapsulateMobileNodeBatch), stage(plane, decapsulationOutputBatch));
  return dataPlane(operator, process, plane.counters, plane.pool);
}
