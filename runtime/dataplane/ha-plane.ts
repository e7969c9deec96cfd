/**
 * The home agent's data plane (RFC 5944 4.2.3, 4.3, 4.4): a pipeline of named stages over a
 * batch of intercepted datagrams, each a sans-IO function of (plane, batch) and, as an RxJS
 * operator, a `map` over it:
 *
 *   batches ─► classify ─► decapsulate ─► lookup ─► timeExceeded ─► encapsulate ─► broadcastCopies ─► outputs
 *
 * - `classifyBatch`: drops what is not a whole IPv4 datagram with a good header checksum
 *   (counted by reason), passes datagrams for the agent itself on (`local`), sets broadcasts
 *   and multicasts apart, sets tunnel packets to the agent's own addresses apart, and marks
 *   the rest unicast;
 * - `decapsulateBatch`: a tunnel packet to the agent (R4.2.3-7, 5.5, RFC 3024 reverse tunnels)
 *   whose inner source is a home address with a binding to the outer source is taken apart and
 *   its datagram routed (TTL, ICMP Time Exceeded back through the tunnel, tunnelled again when
 *   the destination is another node away from home); anything else dropped and counted;
 * - `lookupBatch`: one forwarding-table lookup per unicast datagram: no binding → `forward`
 *   untouched (4.2.3, the node is at home); a binding → the RFC 2003 3.2 and 4.2.3 loop checks,
 *   then marked for tunnelling (or redirection of an already tunnelled datagram);
 * - `timeExceededBatch`: a TTL that would reach 0 → one ICMP Time Exceeded instead (RFC 2003
 *   3.1), or nothing about datagrams no ICMP error may concern (RFC 1122 3.2.2);
 * - `encapsulateBatch`: a tunnel packet per care-of address of the entry found (simultaneous
 *   bindings), with the binding's encapsulation;
 * - `broadcastBatch`: copies of a home-network broadcast for each binding with the B bit (4.3);
 * - `outputBatch`: the outputs in input order, with the slabs they lie in.
 *
 * The batch in flight (`HaBatch`) carries each packet's standing and its forwarding entry from
 * stage to stage, so nothing rides beside the stream. The plane reads only the forwarding
 * table, never an actor, and reads no clock: the outer Identification comes from a counter, so
 * a run is a function of its input.
 */
import { TUNNEL_DATA_HEADER_LENGTH, TunnelNextHeader, tunnelDataNextHeader, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import type { OperatorFunction } from 'rxjs';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { readU16, readU32, writeU16, writeU32 } from '../../io/wire/bytes.js';
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
import {
  type Encapsulation,
  type PreparedOuterHeader,
  GRE_HEADER_LENGTH,
  MINIMAL_HEADER_LENGTH,
  MINIMAL_HEADER_WITH_SOURCE_LENGTH,
  greDecapsulate,
  minimalDecapsulate,
  ipInIpEncapsulate,
  isTunnelProtocol,
  minimalEncapsulate,
  prepareOuterHeader,
  writeGreIpv4Header,
  decodeGreHeader,
} from '../../io/wire/tunnel.js';
import type { ForwardingEntry, ForwardingTable, TunnelTarget } from './forwarding-table.js';
import { decodeIgmp, encodeIgmp, igmpMembershipChanges } from '../../io/wire/igmp.js';
import type { GroupMembership } from '../../policies/group-membership.js';
import { isMulticast, LIMITED_BROADCAST, subnetBroadcast } from '../../io/wire/ipv4-address.js';
import {
  PacketPool,
  bump,
  encapsulationOf,
  icmpErrorAllowed,
  inputProblem,
  dataPlane,
  finishBatch,
  openBatch,
  stage,
  writeTimeExceeded,
  writeFragmentationNeeded,
  type BatchInFlight,
  type DataPlane,
  type DataPlaneCounters,
  type OutputBatch,
  type OutputPacket,
  type Packet,
  type PacketBatch,
} from './packets.js';

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
  /**
   * Multicast for mobile nodes away from home (4.4): the groups they joined by IGMP through
   * their tunnels, and the time those reports are stamped with. With it, home-link multicast
   * goes to members only (B does not matter); without it, multicast follows the B bit as
   * broadcasts do (4.3).
   */
  readonly membership?: { readonly table: GroupMembership; readonly now: () => number };
  /** RFC 3519: the UDP port tunnel data leaves from, the agent's registration port (one flow through the NAT). Default 434. */
  readonly registrationPort?: number;
  /**
   * RFC 3519: the largest UDP tunnel packet (outer IPv4 header included). A datagram with DF
   * that would make a bigger one gets ICMP Fragmentation Needed naming what fits (RFC 2003
   * 5.1 through RFC 3519). Default: no limit below 65535.
   */
  readonly udpTunnelMtu?: number;
  /**
   * RFC 3519 rebinding: asked when tunnel data for `homeAddress` arrives from another
   * address:port than its binding's; true when the agent followed it (HomeAgent.followUdpTunnel).
   * Absent: such tunnel data is dropped.
   */
  readonly followUdpTunnel?: (homeAddress: Ipv4Address, address: Ipv4Address, port: number) => boolean;
  /**
   * RFC 3519, a foreign agent behind a NAT: asked for a keepalive whose inner source is no home
   * address tunnelled in UDP; true when it is the care-of address of bindings tunnelled in UDP
   * to the message's source address, after following a new port (HomeAgent.followUdpFlow).
   * Absent: such keepalives are dropped as from an unknown home address.
   */
  readonly followUdpFlow?: (careOfAddress: Ipv4Address, address: Ipv4Address, port: number) => boolean;
}

/** The home agent plane's state: its configuration, pool, counters and Identification counter. */
export interface HaPlane {
  readonly table: ForwardingTable;
  readonly pool: PacketPool;
  readonly counters: DataPlaneCounters;
  readonly homeAgentAddress: Ipv4Address;
  /** The agent's addresses as int32 keys. */
  readonly local: ReadonlySet<number>;
  readonly isBroadcast: (address: Ipv4Address) => boolean;
  readonly homeInterface: string | undefined;
  readonly ttl: number;
  readonly greChecksum: boolean;
  /** Next outer Identification (mod 2^16). */
  identification: number;
  readonly ipInIpHeader: PreparedOuterHeader;
  readonly greHeader: PreparedOuterHeader;
  readonly membership: { readonly table: GroupMembership; readonly now: () => number } | undefined;
  readonly udpHeader: PreparedOuterHeader;
  readonly registrationPort: number;
  readonly udpTunnelMtu: number | undefined;
  readonly followUdpTunnel: ((homeAddress: Ipv4Address, address: Ipv4Address, port: number) => boolean) | undefined;
  readonly followUdpFlow: ((careOfAddress: Ipv4Address, address: Ipv4Address, port: number) => boolean) | undefined;
}

/** Where a packet stands between the stages. */
export const Standing = {
  /** Handled: dropped, or its outputs are written. */
  Done: 0,
  /** A unicast datagram not yet looked up. */
  Unicast: 1,
  /** A limited, home-network directed or multicast destination (4.3, 4.4). */
  Broadcast: 2,
  /** Bound: to be tunnelled to each care-of address. */
  Tunnel: 3,
  /** Bound and already tunnelled from elsewhere: its outer destination is rewritten (4.2.3). */
  Redirect: 4,
  /** A tunnel packet (IP in IP, minimal, GRE) addressed to the agent itself (R4.2.3-7). */
  Decapsulate: 5,
} as const;
export type Standing = (typeof Standing)[keyof typeof Standing];

/** A batch in flight through the home agent's stages: standings are `Standing`s. */
export interface HaBatch extends BatchInFlight {
  /** Per input packet: the forwarding entry `lookupBatch` found (bound packets only). */
  readonly entries: (ForwardingEntry | undefined)[];
}

export function haPlane(options: HomeAgentDataPlaneOptions): HaPlane {
  const ttl = options.ttl ?? 64;
  const homeAgentAddress = options.homeAgentAddress ?? options.localAddresses[0];
  if (homeAgentAddress === undefined) throw new RangeError('homeAgentDataPlane needs homeAgentAddress or a local address');
  if (!Number.isInteger(options.prefixLength) || options.prefixLength < 0 || options.prefixLength > 32) {
    throw new RangeError('prefixLength must be 0..32');
  }
  const directedBroadcast = subnetBroadcast(options.homeNetwork, options.prefixLength) | 0;
  return {
    table: options.table,
    pool: options.pool ?? new PacketPool(),
    counters: {},
    homeAgentAddress,
    local: new Set<number>([...options.localAddresses, homeAgentAddress].map((a) => a | 0)),
    isBroadcast: (address) => address === LIMITED_BROADCAST || (address | 0) === directedBroadcast,
    homeInterface: options.homeInterface,
    ttl,
    greChecksum: options.greChecksum === true,
    identification: (options.firstIdentification ?? 0) & 0xffff,
    // The outer header's constant fields (source, TTL, protocol) are checked here, once; each
    // care-of address was checked when its binding entered the forwarding table.
    ipInIpHeader: prepareOuterHeader({ source: homeAgentAddress, ttl }, IpProtocol.IPIP),
    greHeader: prepareOuterHeader({ source: homeAgentAddress, ttl }, IpProtocol.GRE),
    membership: options.membership,
    udpHeader: prepareOuterHeader({ source: homeAgentAddress, ttl }, IpProtocol.UDP),
    registrationPort: options.registrationPort ?? 434,
    udpTunnelMtu: options.udpTunnelMtu,
    followUdpTunnel: options.followUdpTunnel,
    followUdpFlow: options.followUdpFlow,
  };
}

function nextIdentification(plane: HaPlane): number {
  const id = plane.identification;
  plane.identification = (id + 1) & 0xffff;
  return id;
}

// =============================================================================================
// The stages

/**
 * Stage 1. Opens the batch's pool lease; drops malformed datagrams and bad header checksums
 * (counted by reason); a datagram to one of the agent's addresses goes on `local` (its own
 * stack handles registrations and reverse tunnels, 4.2.3); broadcasts and multicasts are set
 * apart for `broadcastBatch`; the rest is unicast, for `lookupBatch`.
 */
export function classifyBatch(plane: HaPlane, inputs: PacketBatch): HaBatch {
  const count = inputs.length;
  const batch: HaBatch = { ...openBatch(plane.pool, plane.counters, inputs), entries: new Array<ForwardingEntry | undefined>(count) };
  const counters = plane.counters;
  for (let i = 0; i < count; i++) {
    const bytes = inputs[i]!.bytes;
    if (inputProblem(bytes, counters)) continue;
    const destination = ipv4Destination(bytes, 0);
    if (plane.local.has(destination | 0) && isTunnelProtocol(ipv4Protocol(bytes, 0))) {
      batch.standing[i] = Standing.Decapsulate;
    } else if (plane.local.has(destination | 0)) {
      bump(counters, 'local');
      batch.outputs.push({ kind: 'local', index: i, bytes, decapsulated: false });
    } else if (plane.isBroadcast(destination) || isMulticast(destination)) {
      batch.standing[i] = Standing.Broadcast;
    } else {
      batch.standing[i] = Standing.Unicast;
    }
  }
  return batch;
}

/**
 * Stage 1b. A tunnel packet addressed to the agent (R4.2.3-7: "Home agents MUST decapsulate
 * packets addressed to themselves, sent by a mobile node"; RFC 3024 reverse tunnels; 5.5
 * location privacy). The inner source must be a home address with a current binding whose
 * care-of address is the outer source: any binding, 'T' or not, since a node hiding its
 * location (5.5) tunnels to the agent without asking for 'T'. RFC 3024 5.2 asks the home agent
 * to check the outer source against the binding; a tunnel from any other address would let
 * anyone inject datagrams with a home address as source from behind the agent, so it is
 * dropped and counted (`decapsulation-unknown-home-address`, `-wrong-care-of-address`,
 * `-malformed`). The inner datagram is then forwarded as a router would (RFC 2003 3.1, RFC
 * 1812 5.3.1): TTL decremented in a pool copy, a Time Exceeded (where RFC 1122 3.2.2 allows
 * one) sent back through the tunnel the datagram came by, since its source is away from home;
 * for a destination that is itself a mobile node away from home, tunnelled to it (4.2.3);
 * otherwise `forward` with `routed: true`, for the host to route.
 */
export function decapsulateBatch(plane: HaPlane, batch: HaBatch): HaBatch {
  const { inputs, standing, outputs } = batch;
  const counters = plane.counters;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== Standing.Decapsulate) continue;
    standing[i] = Standing.Done;
    const packet = inputs[i]!;
    const inner = innerDatagramCopy(plane, packet.bytes);
    if (inner === undefined) continue;
    const outerSource = ipv4Source(packet.bytes, 0);
    const entry = plane.table.lookup(ipv4Source(inner, 0));
    if (entry === undefined) {
      bump(counters, 'decapsulation-unknown-home-address');
      continue;
    }
    const tunnels = entry.tunnels;
    let from: TunnelTarget | undefined;
    for (let t = 0; t < tunnels.length; t++) if (tunnels[t]!.careOfAddress === outerSource) from = tunnels[t];
    const innerDestination = ipv4Destination(inner, 0);
    // R4.4-10: a node tunnelling a multicast datagram itself uses its home address as the outer
    // source too. RFC 3024's check of the outer source against the care-of address cannot hold
    // then; the home address as outer source is accepted for multicast only, answered (IGMP
    // queries) through the node's first tunnel.
    if (from === undefined && outerSource === entry.homeAddress && isMulticast(innerDestination)) from = tunnels[0];
    if (from === undefined) {
      bump(counters, 'decapsulation-wrong-care-of-address');
      continue;
    }
    routeDecapsulated(plane, batch, i, packet, inner, from, entry);
  }
  return batch;
}

/** A tunnel data message (RFC 3519) as the agent's registration socket received it. */
export interface UdpTunnelMessage {
  /** The UDP payload, tunnel data header first. */
  readonly bytes: Uint8Array;
  /** Where it came from: the NAT's address and port, for a node behind one. */
  readonly source: Ipv4Address;
  readonly sourcePort: number;
}

/**
 * RFC 3519 decapsulation: tunnel data messages that arrived on the registration port, one
 * batch per socket wakeup. As for IP in IP (decapsulateBatch), the inner source must be a home
 * address with a binding, here one tunnelled in UDP whose translated address and port are the
 * message's source; a new port of that address is a NAT rebinding, followed when the agent
 * agrees (`followUdpTunnel`); anything else is dropped and counted by reason. A keepalive (an
 * ICMP Echo Request to the agent itself) refreshes the NAT's mapping on the way here, may move
 * the binding to a new port, and is absorbed (counted `udp-keepalive`). The rest is routed as decapsulateBatch routes.
 */
export function udpTunnelDataBatch(plane: HaPlane, messages: readonly UdpTunnelMessage[]): OutputBatch {
  const batch = openBatch(plane.pool, plane.counters, messages);
  const counters = plane.counters;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    const inner = udpInnerDatagramCopy(plane, message.bytes);
    if (inner === undefined) continue;
    const innerSource = ipv4Source(inner, 0);
    let entry = plane.table.lookup(innerSource);
    let from = entry === undefined ? undefined : udpTunnelFrom(entry, message.source, message.sourcePort);
    if (entry !== undefined && from === undefined && udpTunnelled(entry) && plane.followUdpTunnel?.(entry.homeAddress, message.source, message.sourcePort) === true) {
      entry = plane.table.lookup(entry.homeAddress);
      from = entry === undefined ? undefined : udpTunnelFrom(entry, message.source, message.sourcePort);
    }
    const keepalive = isKeepalive(plane, inner);
    if (entry === undefined || !udpTunnelled(entry)) {
      // RFC 3519: a foreign agent behind a NAT keeps its one flow alive with its care-of address
      // as inner source; its visitors' bindings (all of them) follow a new port of the flow.
      if (keepalive && plane.followUdpFlow?.(innerSource, message.source, message.sourcePort) === true) bump(counters, 'udp-keepalive');
      else bump(counters, 'udp-decapsulation-unknown-home-address');
      continue;
    }
    if (from === undefined) {
      bump(counters, 'udp-decapsulation-wrong-source');
      continue;
    }
    if (keepalive) {
      // Absorbed: its arrival already refreshed the NAT's mapping and (a new port) moved the
      // binding. An Echo Reply would leave from the agent's own address, which the plane must
      // not tunnel (RFC 2003 3.2, loop-source-is-self), and answering is no part of the mapping.
      bump(counters, 'udp-keepalive');
      continue;
    }
    bump(counters, 'udp-decapsulated');
    routeDecapsulated(plane, batch, i, message, inner, from, entry);
  }
  return finishBatch(plane.pool, counters, batch);
}

const ICMP_ECHO_REQUEST = 8;

/** RFC 3519's keepalive: an ICMP Echo Request to the agent itself (the inner datagram was checked whole). */
function isKeepalive(plane: HaPlane, inner: Uint8Array): boolean {
  return ipv4Protocol(inner, 0) === IpProtocol.ICMP && inner[ipv4HeaderLength(inner, 0)] === ICMP_ECHO_REQUEST && plane.local.has(ipv4Destination(inner, 0) | 0);
}

function udpTunnelled(entry: ForwardingEntry): boolean {
  for (const target of entry.tunnels) if (target.udp !== undefined) return true;
  return false;
}

/** The binding of `entry` tunnelled in UDP to exactly `address:port`. */
function udpTunnelFrom(entry: ForwardingEntry, address: Ipv4Address, port: number): TunnelTarget | undefined {
  const tunnels = entry.tunnels;
  for (let t = 0; t < tunnels.length; t++) {
    const udp = tunnels[t]!.udp;
    if (udp !== undefined && udp.address === address && udp.port === port) return tunnels[t];
  }
  return undefined;
}

/**
 * The datagram of a tunnel data message, copied into the pool, or undefined (counted
 * `udp-decapsulation-malformed`, `inner-bad-checksum`, `inner-ttl-zero`): Type 4, Next Header
 * 4 (the datagram follows) or 47 (a GRE header, then the datagram, RFC 2784); nothing else is
 * carried here (RFC 3519: Next Header is an IP protocol number).
 */
function udpInnerDatagramCopy(plane: HaPlane, payload: Uint8Array): Uint8Array | undefined {
  const counters = plane.counters;
  const nextHeader = tunnelDataNextHeader(payload, 0, payload.length);
  if (nextHeader < 0 || payload.length < TUNNEL_DATA_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH) {
    bump(counters, 'udp-decapsulation-malformed');
    return undefined;
  }
  let start = TUNNEL_DATA_HEADER_LENGTH;
  if (nextHeader === IpProtocol.GRE) {
    const gre = decodeGreHeader(payload, start, payload.length);
    if (!gre.ok || !gre.value.checksumValid || gre.value.protocolType !== 0x0800) {
      bump(counters, 'udp-decapsulation-malformed');
      return undefined;
    }
    start = gre.next;
  } else if (nextHeader !== IpProtocol.IPIP) {
    bump(counters, 'udp-decapsulation-malformed');
    return undefined;
  }
  if (ipv4DatagramProblem(payload, start, payload.length) !== undefined) {
    bump(counters, 'udp-decapsulation-malformed');
    return undefined;
  }
  const length = ipv4TotalLength(payload, start);
  const inner = plane.pool.allocate(length);
  inner.set(payload.subarray(start, start + length));
  return checkedInner(counters, inner);
}

/**
 * The inner datagram of a tunnel that came from binding `from` of `entry`, routed (see
 * decapsulateBatch): IGMP to the membership table, TTL, multicast onto the home link, on to
 * another node away from home, or `forward` for the host.
 */
function routeDecapsulated(plane: HaPlane, batch: HaBatch | BatchInFlight, i: number, packet: Packet, inner: Uint8Array, from: TunnelTarget, entry: ForwardingEntry): void {
  const outputs = batch.outputs;
  const counters = plane.counters;
  const innerDestination = ipv4Destination(inner, 0);
  if (ipv4Protocol(inner, 0) === IpProtocol.IGMP && plane.membership !== undefined) {
    // 4.4: the home agent is the node's multicast router over the tunnel; the report (TTL 1,
    // link-local to the tunnel) ends here.
    recordIgmp(plane, plane.membership, entry.homeAddress, inner);
    return;
  }
  if (inner[8]! <= 1) {
    bump(counters, 'ttl-exceeded');
    if (!icmpErrorAllowed(packet, inner, plane.isBroadcast)) {
      bump(counters, 'icmp-suppressed');
      return;
    }
    const error = writeTimeExceeded(plane.pool, inner, plane.homeAgentAddress, plane.ttl);
    const sent = tunnel(plane, error, error.length, false, from);
    if (sent === undefined) return;
    bump(counters, 'icmp-sent');
    outputs.push({ kind: 'send-ip', index: i, bytes: sent.bytes, destination: outerDestination(from), homeAddress: entry.homeAddress, encapsulation: sent.kind, via: 'tunnel' });
    return;
  }
  decrementIpv4Ttl(inner, 0);
  const destination = innerDestination;
  if (isMulticast(destination)) {
    // R4.4-10: onto the home link (the data path sends it there as a multicast frame).
    bump(counters, 'decapsulated-multicast');
    outputs.push({ kind: 'forward', index: i, bytes: inner, routed: true });
    return;
  }
  const away = plane.local.has(destination | 0) ? undefined : plane.table.lookup(destination);
  if (away === undefined) {
    bump(counters, 'decapsulated');
    outputs.push({ kind: 'forward', index: i, bytes: inner, routed: true });
    return;
  }
  // 4.2.3: the destination is a mobile node away from home; tunnel it there without handing it
  // to the host, whose route for the home address leads back into this plane.
  bump(counters, 'decapsulated');
  const targets = away.tunnels;
  for (let t = 0; t < targets.length; t++) {
    const target = targets[t]!;
    if (plane.table.lookup(target.careOfAddress) !== undefined) {
      bump(counters, 'loop-care-of-address-bound');
      continue;
    }
    const sent = tunnel(plane, inner, inner.length, false, target);
    if (sent === undefined) continue;
    bump(counters, 'tunnelled');
    outputs.push({ kind: 'send-ip', index: i, bytes: sent.bytes, destination: outerDestination(target), homeAddress: away.homeAddress, encapsulation: sent.kind, via: 'tunnel' });
  }
}

/**
 * Stage 2. The forwarding lookup, once per unicast datagram. No binding → `forward` untouched
 * (4.2.3: the node is assumed at home). With one, the loop checks come first: a source that is
 * one of this agent's addresses MUST NOT be tunnelled (RFC 2003 3.2: most likely our own tunnel
 * packet routed back); an already tunnelled datagram for the home address from one of the
 * node's care-of addresses is silently discarded, from elsewhere redirected (4.2.3).
 */
export function lookupBatch(plane: HaPlane, batch: HaBatch): HaBatch {
  const { inputs, standing, entries, outputs } = batch;
  const counters = plane.counters;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== Standing.Unicast) continue;
    const bytes = inputs[i]!.bytes;
    const entry = plane.table.lookup(ipv4Destination(bytes, 0));
    if (entry === undefined) {
      bump(counters, 'passed');
      outputs.push({ kind: 'forward', index: i, bytes, routed: false });
      standing[i] = Standing.Done;
      continue;
    }
    if (plane.local.has(ipv4Source(bytes, 0) | 0)) {
      bump(counters, 'loop-source-is-self');
      standing[i] = Standing.Done;
      continue;
    }
    const tunnelled = alreadyTunnelled(bytes, entry.tunnels);
    if (tunnelled === 'discard') {
      bump(counters, 'loop-from-care-of-address');
      standing[i] = Standing.Done;
      continue;
    }
    entries[i] = entry;
    standing[i] = tunnelled === 'redirect' ? Standing.Redirect : Standing.Tunnel;
  }
  return batch;
}

/**
 * Stage 3. The TTL, as a router forwarding the datagram (RFC 2003 3.1; for a redirected tunnel
 * packet the datagram forwarded is the outer one), unless the host already did (`forwarded`):
 * one that would reach 0 gets an ICMP Time Exceeded back instead of a tunnel, when an ICMP
 * error may concern it at all (RFC 1122 3.2.2).
 */
export function timeExceededBatch(plane: HaPlane, batch: HaBatch): HaBatch {
  const { inputs, standing, outputs } = batch;
  const counters = plane.counters;
  for (let i = 0; i < inputs.length; i++) {
    const state = standing[i];
    if (state !== Standing.Tunnel && state !== Standing.Redirect) continue;
    const packet = inputs[i]!;
    const bytes = packet.bytes;
    if (packet.forwarded === true || bytes[8]! > 1) continue;
    bump(counters, 'ttl-exceeded');
    standing[i] = Standing.Done;
    if (icmpErrorAllowed(packet, bytes, plane.isBroadcast)) {
      bump(counters, 'icmp-sent');
      outputs.push({ kind: 'icmp', index: i, bytes: writeTimeExceeded(plane.pool, bytes, plane.homeAgentAddress, plane.ttl), destination: ipv4Source(bytes, 0) });
    } else {
      bump(counters, 'icmp-suppressed');
    }
  }
  return batch;
}

/**
 * Stage 4. For each care-of address of a bound datagram (simultaneous bindings, 4.2.3): a
 * tunnel packet with the binding's encapsulation, TTL decremented inside unless the host did
 * (RFC 2003 3.1), or for a redirect a copy with the outer destination rewritten. Skipped: the
 * tunnel exit point as source (RFC 2003 3.2), and a care-of address that is itself a bound
 * home address (the tunnel packet would be intercepted here again).
 */
export function encapsulateBatch(plane: HaPlane, batch: HaBatch): HaBatch {
  const { inputs, standing, entries, outputs } = batch;
  const counters = plane.counters;
  for (let i = 0; i < inputs.length; i++) {
    const state = standing[i];
    if (state !== Standing.Tunnel && state !== Standing.Redirect) continue;
    standing[i] = Standing.Done;
    const packet = inputs[i]!;
    const bytes = packet.bytes;
    const entry = entries[i]!;
    const source = ipv4Source(bytes, 0);
    const length = ipv4TotalLength(bytes, 0);
    const decrement = packet.forwarded !== true;
    const tunnels = entry.tunnels;
    for (let t = 0; t < tunnels.length; t++) {
      const target = tunnels[t]!;
      if (source === target.careOfAddress) {
        bump(counters, 'loop-source-is-tunnel-exit');
        continue;
      }
      if (plane.table.lookup(target.careOfAddress) !== undefined) {
        bump(counters, 'loop-care-of-address-bound');
        continue;
      }
      // A UDP tunnel has no outer destination to rewrite: a tunnel packet is nested in it.
      if (state === Standing.Redirect && target.udp === undefined) {
        outputs.push(redirect(plane, bytes, length, decrement, i, entry.homeAddress, target));
        continue;
      }
      if (target.udp !== undefined && udpTunnelTooBig(plane, batch, i, packet, bytes, length, target)) continue;
      const sent = tunnel(plane, bytes, length, decrement, target);
      if (sent === undefined) continue;
      bump(counters, 'tunnelled');
      outputs.push({
        kind: 'send-ip',
        index: i,
        bytes: sent.bytes,
        destination: outerDestination(target),
        homeAddress: entry.homeAddress,
        encapsulation: sent.kind,
        via: 'tunnel',
      });
    }
  }
  return batch;
}

/**
 * Stage 5. A copy of a home-network broadcast or multicast to every binding with the B bit
 * (4.3, 4.4): with D, tunnelled to the care-of address; without D, first put in an IP-in-IP
 * datagram to the home address, then tunnelled (nested, 4.3). Not TTL decremented: the tunnel
 * extends the home link to the mobile node. Only broadcasts received on the home interface
 * (when one is named), and never the agent's own.
 */
export function broadcastBatch(plane: HaPlane, batch: HaBatch): HaBatch {
  const { inputs, standing } = batch;
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== Standing.Broadcast) continue;
    standing[i] = Standing.Done;
    broadcastCopies(plane, batch, i);
  }
  return batch;
}

/** Stage 6. The outputs in input order, as an OutputBatch owning its slabs. */
export function outputBatch(plane: HaPlane, batch: HaBatch): OutputBatch {
  return finishBatch(plane.pool, plane.counters, batch);
}

// =============================================================================================
// The stages as RxJS operators

export const classify = (plane: HaPlane): OperatorFunction<PacketBatch, HaBatch> => stage(plane, classifyBatch);
export const decapsulate = (plane: HaPlane): OperatorFunction<HaBatch, HaBatch> => stage(plane, decapsulateBatch);
export const lookup = (plane: HaPlane): OperatorFunction<HaBatch, HaBatch> => stage(plane, lookupBatch);
export const timeExceeded = (plane: HaPlane): OperatorFunction<HaBatch, HaBatch> => stage(plane, timeExceededBatch);
export const encapsulate = (plane: HaPlane): OperatorFunction<HaBatch, HaBatch> => stage(plane, encapsulateBatch);
export const broadcast = (plane: HaPlane): OperatorFunction<HaBatch, HaBatch> => stage(plane, broadcastBatch);
export const outputs = (plane: HaPlane): OperatorFunction<HaBatch, OutputBatch> => stage(plane, outputBatch);

/**
 * The home agent's forwarding as one operator (the stages above, piped) that can also process
 * a batch directly (`process`, the same functions composed without RxJS). Per packet, in
 * order: not a whole IPv4 datagram → dropped; a tunnel to the agent → decapsulated when it
 * comes from the binding of its inner source (R4.2.3-7), else dropped; to the agent → `local`; broadcast/multicast →
 * copies to B-bit bindings (4.3, 4.4); bound → TTL, loop checks, tunnelled per care-of address
 * (4.2.3); anything else → `forward` untouched.
 */
/** The home agent's plane, which also builds the IGMP Queries to its nodes' tunnels (4.4). */
export interface HomeAgentDataPlane extends DataPlane {
  /** See `membershipQueries`. */
  queries(): OutputBatch;
  /** Tunnel data messages from the registration socket (RFC 3519), see `udpTunnelDataBatch`. */
  udpTunnelData(messages: readonly UdpTunnelMessage[]): OutputBatch;
}

/** Seconds between General Queries and the Max Response Time they carry (RFC 2236 8.2, 8.3 defaults). */
export const IGMP_QUERY_INTERVAL_MS = 125_000;
const IGMP_QUERY_RESPONSE_TENTHS = 100;

/**
 * 4.4, the agent as its nodes' multicast router: an IGMPv2 General Query (RFC 2236 2, 3: to
 * 224.0.0.1, TTL 1, Router Alert) tunnelled to every node holding a membership, as a broadcast
 * is (nested in IP in IP to the home address without 'D', R4.4-7), so that members answer with
 * reports before the Group Membership Interval runs out. v2, which v3 hosts answer too (RFC
 * 3376 7.2.1) and v1 hosts read as a v1 query.
 */
export function membershipQueries(plane: HaPlane): OutputBatch {
  const batch = openBatch(plane.pool, plane.counters, []);
  const membership = plane.membership;
  if (membership !== undefined && !membership.table.empty) {
    const now = membership.now();
    const query = plane.pool.allocate(32);
    query.set([0x46, 0xc0, 0, 32, 0, 0, 0, 0, 1, IpProtocol.IGMP, 0, 0]);
    writeU32(query, 12, plane.homeAgentAddress);
    writeU32(query, 16, ALL_SYSTEMS);
    query.set([0x94, 0x04, 0, 0], 20); // Router Alert (RFC 2113)
    encodeIgmp({ kind: 'query', version: 2, maxResponseTime: IGMP_QUERY_RESPONSE_TENTHS, group: 0 }, query, 24);
    updateIpv4Checksum(query, 0);
    for (const entry of plane.table) {
      if (membership.table.groupsOf(entry.homeAddress, now).length === 0) continue;
      for (const target of entry.tunnels) {
        const inner = target.decapsulatedByMobileNode ? query : wrapForHomeAddress(plane, query, query.length, entry.homeAddress);
        if (inner === undefined) continue;
        const sent = tunnel(plane, inner, inner.length, false, target);
        if (sent === undefined) continue;
        bump(plane.counters, 'igmp-query-tunnelled');
        batch.outputs.push({ kind: 'send-ip', index: 0, bytes: sent.bytes, destination: outerDestination(target), homeAddress: entry.homeAddress, encapsulation: sent.kind, via: 'broadcast' });
      }
    }
  }
  return finishBatch(plane.pool, plane.counters, batch);
}

const ALL_SYSTEMS = 0xe0000001;

export function homeAgentDataPlane(options: HomeAgentDataPlaneOptions): HomeAgentDataPlane {
  const plane = haPlane(options);
  const process = (inputs: PacketBatch): OutputBatch =>
    outputBatch(plane, broadcastBatch(plane, encapsulateBatch(plane, timeExceededBatch(plane, lookupBatch(plane, decapsulateBatch(plane, classifyBatch(plane, inputs)))))));
  const operator: OperatorFunction<PacketBatch, OutputBatch> = (source) =>
    source.pipe(classify(plane), decapsulate(plane), lookup(plane), timeExceeded(plane), encapsulate(plane), broadcast(plane), outputs(plane));
  return Object.assign(dataPlane(operator, process, plane.counters, plane.pool), {
    queries: () => membershipQueries(plane),
    udpTunnelData: (messages: readonly UdpTunnelMessage[]) => udpTunnelDataBatch(plane, messages),
  });
}

// =============================================================================================
// Per-packet work of the stages

/** An IGMP message a node sent through its tunnel: its joins and leaves (4.4), or a counted drop. */
function recordIgmp(plane: HaPlane, membership: NonNullable<HaPlane['membership']>, homeAddress: Ipv4Address, inner: Uint8Array): void {
  const start = ipv4HeaderLength(inner, 0);
  const message = decodeIgmp(inner, start, ipv4TotalLength(inner, 0));
  if (!message.ok || message.value.checksumValid !== true) {
    bump(plane.counters, 'decapsulation-igmp-malformed');
    return;
  }
  const { joins, leaves } = igmpMembershipChanges(message.value);
  membership.table.report(homeAddress, joins, leaves, membership.now());
  bump(plane.counters, 'igmp-received');
}

/**
 * The inner datagram of a tunnel packet to the agent, copied into the pool (the input is only
 * read), or undefined (counted `decapsulation-malformed`, or `inner-bad-checksum` /
 * `inner-ttl-zero`, RFC 2003 3.1). IP in IP, the common case, is read by offsets; GRE and
 * minimal go through their codecs (GRE's checksum and flags, RFC 2784 2.5; minimal's header
 * rebuilt, RFC 2004 3).
 */
function innerDatagramCopy(plane: HaPlane, bytes: Uint8Array): Uint8Array | undefined {
  const counters = plane.counters;
  const total = ipv4TotalLength(bytes, 0);
  let inner: Uint8Array;
  if (ipv4Protocol(bytes, 0) === IpProtocol.IPIP) {
    const start = ipv4HeaderLength(bytes, 0);
    if (ipv4DatagramProblem(bytes, start, total) !== undefined) {
      bump(counters, 'decapsulation-malformed');
      return undefined;
    }
    const length = ipv4TotalLength(bytes, start);
    inner = plane.pool.allocate(length);
    inner.set(bytes.subarray(start, start + length));
  } else if (ipv4Protocol(bytes, 0) === IpProtocol.GRE) {
    const r = greDecapsulate(bytes, 0, total);
    if (!r.ok) {
      bump(counters, 'decapsulation-malformed');
      return undefined;
    }
    inner = plane.pool.allocate(r.value.inner.length);
    inner.set(r.value.inner);
  } else {
    // Rebuilt into the pool, never in the input (whose outer source is still to be read).
    const out = plane.pool.allocate(total);
    const r = minimalDecapsulate(bytes, 0, total, out, 0);
    if (!r.ok) {
      bump(counters, 'decapsulation-malformed');
      return undefined;
    }
    inner = r.value.datagram;
  }
  return checkedInner(counters, inner);
}

/**
 * Copies the first `length` bytes of `source` (a whole IPv4 datagram) into the pool behind
 * room for the outer header, decrements its TTL there when `decrement` (one copy, no
 * intermediate buffer), and tunnels it to `target`. Returns the tunnel packet, or undefined
 * when it would be too big. Minimal encapsulation of a fragment falls back to IP in IP
 * (RFC 2004 3: the one set of fragmentation fields belongs to the original datagram).
 */
function tunnel(
  plane: HaPlane,
  source: Uint8Array,
  length: number,
  decrement: boolean,
  target: TunnelTarget,
): { bytes: Uint8Array; kind: Encapsulation } | undefined {
  if (target.udp !== undefined) return udpTunnel(plane, source, length, decrement, target.encapsulation, target.udp);
  let kind = target.encapsulation;
  if (kind === 'minimal' && ipv4IsFragment(source, 0)) {
    bump(plane.counters, 'minimal-fragment-fallback');
    kind = 'ip-in-ip';
  }
  const overhead =
    kind === 'minimal'
      ? ipv4Source(source, 0) === plane.homeAgentAddress
        ? MINIMAL_HEADER_LENGTH
        : MINIMAL_HEADER_WITH_SOURCE_LENGTH
      : kind === 'gre'
        ? IPV4_MIN_HEADER_LENGTH + (plane.greChecksum ? 8 : GRE_HEADER_LENGTH)
        : IPV4_MIN_HEADER_LENGTH;
  if (length + overhead > IPV4_MAX_TOTAL_LENGTH) return tooBig(plane);
  const out = plane.pool.allocate(length + overhead);
  out.set(source.length === length ? source : source.subarray(0, length), overhead);
  if (decrement) decrementIpv4Ttl(out, overhead);
  // The inner datagram already sits where the encapsulators put it: only headers are written
  // (for minimal encapsulation the original header moves in front of the forwarding header).
  if (kind === 'minimal') {
    const inner = new Uint8Array(out.buffer, out.byteOffset + overhead, length);
    const result = minimalEncapsulate(inner, plane.homeAgentAddress, target.careOfAddress, out, 0);
    if (!result.ok) return undefined;
  } else {
    // RFC 2003 3.1 (and RFC 2784 through it): the outer TOS is the inner one, and an inner
    // DF is set outside too. `source` was checked as a whole datagram by classifyBatch.
    const tos = out[overhead + 1]!;
    const dontFragment = (out[overhead + 6]! & 0x40) !== 0;
    const total = length + overhead;
    if (kind === 'gre') {
      writeGreIpv4Header(out, IPV4_MIN_HEADER_LENGTH, plane.greChecksum, total);
      plane.greHeader.write(out, 0, target.careOfAddress, total, nextIdentification(plane), tos, dontFragment);
    } else {
      plane.ipInIpHeader.write(out, 0, target.careOfAddress, total, nextIdentification(plane), tos, dontFragment);
    }
  }
  return { bytes: out, kind };
}

/** Where a tunnel packet to `target` goes: its NAT's address for a UDP tunnel (RFC 3519), else the care-of address. */
function outerDestination(target: TunnelTarget): Ipv4Address {
  return target.udp === undefined ? target.careOfAddress : target.udp.address;
}

const UDP_HEADER_LENGTH = 8;
/** Outer IPv4 header, UDP header and tunnel data header in front of every UDP-tunnelled datagram. */
const UDP_TUNNEL_HEADERS = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH + TUNNEL_DATA_HEADER_LENGTH;

/** What a UDP tunnel adds to a datagram: its headers, and GRE's when GRE is carried in it. */
function udpTunnelOverhead(plane: HaPlane, encapsulation: Encapsulation): number {
  return UDP_TUNNEL_HEADERS + (encapsulation === 'gre' ? (plane.greChecksum ? 8 : GRE_HEADER_LENGTH) : 0);
}

/**
 * RFC 3519's IP-in-UDP: outer IPv4 header (from the agent, TOS and DF the inner datagram's as
 * RFC 2003 3.1 says), UDP from the registration port to the NAT's port, the tunnel data header
 * (Next Header 4, or 47 with a GRE header after it), then the datagram. The UDP checksum is 0
 * (RFC 768 allows it over IPv4): the datagram inside carries its own checks, and a checksum
 * would cost a pass over every byte. One pool allocation, headers written in place.
 */
function udpTunnel(
  plane: HaPlane,
  source: Uint8Array,
  length: number,
  decrement: boolean,
  encapsulation: Encapsulation,
  udp: { readonly address: Ipv4Address; readonly port: number },
): { bytes: Uint8Array; kind: Encapsulation } | undefined {
  const kind: Encapsulation = encapsulation === 'gre' ? 'gre' : 'ip-in-ip';
  const overhead = udpTunnelOverhead(plane, kind);
  if (length + overhead > IPV4_MAX_TOTAL_LENGTH) return tooBig(plane);
  const total = length + overhead;
  const out = plane.pool.allocate(total);
  out.set(source.length === length ? source : source.subarray(0, length), overhead);
  if (decrement) decrementIpv4Ttl(out, overhead);
  const tos = out[overhead + 1]!;
  const dontFragment = (out[overhead + 6]! & 0x40) !== 0;
  plane.udpHeader.write(out, 0, udp.address, total, nextIdentification(plane), tos, dontFragment);
  const u = IPV4_MIN_HEADER_LENGTH;
  writeU16(out, u, plane.registrationPort);
  writeU16(out, u + 2, udp.port);
  writeU16(out, u + 4, total - IPV4_MIN_HEADER_LENGTH);
  writeU16(out, u + 6, 0);
  const t = u + UDP_HEADER_LENGTH;
  writeTunnelDataHeader(out, t, kind === 'gre' ? TunnelNextHeader.Gre : TunnelNextHeader.IpInIp);
  if (kind === 'gre') writeGreIpv4Header(out, t + TUNNEL_DATA_HEADER_LENGTH, plane.greChecksum, total);
  bump(plane.counters, 'udp-tunnelled');
  return { bytes: out, kind };
}

/**
 * A datagram with DF that would make a UDP tunnel packet bigger than `udpTunnelMtu`: ICMP
 * Fragmentation Needed back to its sender with the size that fits (RFC 2003 5.1: the tunnel
 * is a link whose MTU is the path's less the headers; RFC 1191). True when it was handled so.
 */
function udpTunnelTooBig(plane: HaPlane, batch: HaBatch, index: number, packet: Packet, bytes: Uint8Array, length: number, target: TunnelTarget): boolean {
  const mtu = plane.udpTunnelMtu;
  if (mtu === undefined) return false;
  const overhead = udpTunnelOverhead(plane, target.encapsulation);
  if (length + overhead <= mtu || (bytes[6]! & 0x40) === 0) return false;
  bump(plane.counters, 'udp-frag-needed');
  if (icmpErrorAllowed(packet, bytes, plane.isBroadcast)) {
    bump(plane.counters, 'icmp-sent');
    batch.outputs.push({ kind: 'icmp', index, bytes: writeFragmentationNeeded(plane.pool, bytes, plane.homeAgentAddress, plane.ttl, mtu - overhead), destination: ipv4Source(bytes, 0) });
  } else {
    bump(plane.counters, 'icmp-suppressed');
  }
  return true;
}

function tooBig(plane: HaPlane): undefined {
  bump(plane.counters, 'too-big');
  return undefined;
}

/** 4.2.3's MAY: an already tunnelled datagram goes on with its outer destination rewritten, not nested. */
function redirect(
  plane: HaPlane,
  bytes: Uint8Array,
  length: number,
  decrement: boolean,
  index: number,
  homeAddress: Ipv4Address,
  target: TunnelTarget,
): OutputPacket {
  const copy = plane.pool.allocate(length);
  copy.set(bytes.length === length ? bytes : bytes.subarray(0, length));
  if (decrement) decrementIpv4Ttl(copy, 0);
  setIpv4Destination(copy, 0, target.careOfAddress);
  bump(plane.counters, 'redirected');
  return {
    kind: 'send-ip',
    index,
    bytes: copy,
    destination: target.careOfAddress,
    homeAddress,
    encapsulation: encapsulationOf(ipv4Protocol(copy, 0)),
    via: 'redirect',
  };
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

/** The copies of one broadcast (see `broadcastBatch`). */
function broadcastCopies(plane: HaPlane, batch: HaBatch, index: number): void {
  const counters = plane.counters;
  const packet = batch.inputs[index]!;
  const bytes = packet.bytes;
  if (plane.homeInterface !== undefined && packet.ingress !== plane.homeInterface) {
    bump(counters, 'broadcast-unrequested');
    return;
  }
  const source = ipv4Source(bytes, 0);
  if (plane.local.has(source | 0)) {
    bump(counters, 'loop-source-is-self');
    return;
  }
  const length = ipv4TotalLength(bytes, 0);
  const original = bytes.length === length ? bytes : bytes.subarray(0, length);
  let copies = 0;
  const destination = ipv4Destination(bytes, 0);
  const membership = isMulticast(destination) ? plane.membership : undefined;
  if (membership !== undefined && !membership.table.anyMember(destination)) {
    bump(counters, 'multicast-no-member');
    return;
  }
  const now = membership?.now() ?? 0;
  for (const entry of plane.table) {
    // 4.4: a group's datagrams go to the nodes that joined it, never to others; without a
    // membership table, multicast follows the broadcast rule (B bit, 4.3).
    if (membership !== undefined && !membership.table.isMember(entry.homeAddress, destination, now)) continue;
    for (const target of entry.tunnels) {
      if (membership === undefined && !target.broadcast) continue;
      if (source === target.careOfAddress) {
        bump(counters, 'loop-source-is-tunnel-exit');
        continue;
      }
      const inner = target.decapsulatedByMobileNode ? original : wrapForHomeAddress(plane, original, length, entry.homeAddress);
      if (inner === undefined) continue;
      const sent = tunnel(plane, inner, inner.length, false, target);
      if (sent === undefined) continue;
      copies++;
      bump(counters, membership !== undefined ? 'multicast-tunnelled' : 'broadcast-tunnelled');
      batch.outputs.push({
        kind: 'send-ip',
        index,
        bytes: sent.bytes,
        destination: outerDestination(target),
        homeAddress: entry.homeAddress,
        encapsulation: sent.kind,
        via: 'broadcast',
      });
    }
  }
  if (copies === 0) bump(counters, 'broadcast-unrequested');
}

/**
 * 4.3 without D: a unicast IP-in-IP datagram to the home address first, so the foreign agent
 * knows whom it is for; IP in IP since every decapsulating mobile node reads it (4.1) and B
 * without that ability is forbidden (3.6.1.2).
 */
function wrapForHomeAddress(plane: HaPlane, original: Uint8Array, length: number, homeAddress: Ipv4Address): Uint8Array | undefined {
  if (length + IPV4_MIN_HEADER_LENGTH > IPV4_MAX_TOTAL_LENGTH) return tooBig(plane);
  const wrapped = plane.pool.allocate(length + IPV4_MIN_HEADER_LENGTH);
  wrapped.set(original, IPV4_MIN_HEADER_LENGTH);
  ipInIpEncapsulate(
    wrapped.subarray(IPV4_MIN_HEADER_LENGTH),
    { source: plane.homeAgentAddress, destination: homeAddress, identification: nextIdentification(plane), ttl: plane.ttl },
    wrapped,
    0,
  );
  return wrapped;
}

/** A decapsulated datagram whose header checksum holds and whose TTL is not 0, or undefined (counted). */
function checkedInner(counters: DataPlaneCounters, inner: Uint8Array): Uint8Array | undefined {
  if (!ipv4ChecksumValid(inner, 0)) {
    bump(counters, 'inner-bad-checksum');
    return undefined;
  }
  if (inner[8] === 0) {
    bump(counters, 'inner-ttl-zero');
    return undefined;
  }
  return inner;
}
