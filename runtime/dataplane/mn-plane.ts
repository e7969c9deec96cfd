/**
 * The mobile node's own reverse tunnel (RFC 3024 5.2; docs/protocol.md, "The mobile node and
 * reverse tunnelling"): datagrams the node's stack sends from its home address are encapsulated
 * by the node itself, as an RxJS pipeline of pure batch stages (packets.ts):
 * classify ─► encapsulate ─► outputs.
 *
 * - co-located care-of address, granted 'T': outer source the co-located care-of address,
 *   outer destination the home agent, the encapsulation the registration granted (RFC 3024 5.1,
 *   5.2: the node is its own tunnel entry point, the home agent the exit);
 * - through a foreign agent with the encapsulating delivery style: outer source the home
 *   address, outer destination the foreign agent's care-of address, IP in IP (RFC 3024 5.2.2);
 *   the agent decapsulates and tunnels the inner datagram on to the home agent.
 *
 * Datagrams from any other source (e.g. the co-located care-of address itself: multicast sent
 * directly on the visited network, R4.4-9) pass untouched. The node originates these datagrams,
 * it does not forward them, so the inner TTL is left as is (RFC 2003 3.1 decrements it only
 * when forwarding); the outer TOS is the inner one and an inner DF is set outside too (RFC 2003
 * 3.1). No ICMP error is originated: the datagrams come from the node's own stack.
 *
 * Allocation-free per packet: outputs lie in the pool, the outer header writer is prepared once
 * per tunnel (at a change of mode, not per packet).
 */
import type { OperatorFunction } from 'rxjs';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { IPV4_MAX_TOTAL_LENGTH, IPV4_MIN_HEADER_LENGTH, IpProtocol, ipv4Destination, ipv4IsFragment, ipv4Protocol, ipv4Source, ipv4TotalLength, updateIpv4Checksum } from '../../io/wire/ipv4.js';
import { isMulticast } from '../../io/wire/ipv4-address.js';
import { writeIcmpChecksum } from '../../io/wire/icmp.js';
import { TUNNEL_DATA_HEADER_LENGTH, TunnelNextHeader, tunnelDataNextHeader, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import {
  GRE_HEADER_LENGTH,
  MINIMAL_HEADER_LENGTH,
  MINIMAL_HEADER_WITH_SOURCE_LENGTH,
  minimalEncapsulate,
  prepareOuterHeader,
  writeGreIpv4Header,
  type Encapsulation,
  type PreparedOuterHeader,
} from '../../io/wire/tunnel.js';
import {
  PacketPool,
  bump,
  dataPlane,
  finishBatch,
  inputProblem,
  openBatch,
  stage,
  type BatchInFlight,
  type DataPlane,
  type DataPlaneCounters,
  type OutputBatch,
  type PacketBatch,
} from './packets.js';

/** The node's reverse tunnel while it must encapsulate its own datagrams. */
export interface MobileNodeReverseTunnel {
  /** Datagrams from this source are tunnelled. */
  readonly homeAddress: Ipv4Address;
  /** Tunnel entry: the co-located care-of address, or the home address (encapsulating delivery). */
  readonly outerSource: Ipv4Address;
  /** Tunnel exit: the home agent, or the foreign agent's care-of address (encapsulating delivery). */
  readonly outerDestination: Ipv4Address;
  readonly encapsulation: Encapsulation;
  /** 'home-agent': co-located, RFC 3024 5.2; 'foreign-agent': encapsulating delivery, RFC 3024 5.2.2. */
  readonly to: 'home-agent' | 'foreign-agent';
}

export interface MobileNodeSendPlaneOptions {
  /** The tunnel in force now, or undefined (nothing to tunnel: every datagram passes). */
  readonly tunnel: () => MobileNodeReverseTunnel | undefined;
  /** Outer TTL (RFC 2003 3.1: suitable to reach the tunnel exit). Default 64. */
  readonly ttl?: number;
  /** GRE with the checksum field (RFC 2784 2.5). Default false. */
  readonly greChecksum?: boolean;
  /** First outer Identification. Default 0. */
  readonly firstIdentification?: number;
  readonly pool?: PacketPool;
}

/** The plane's state. */
export interface MnSendPlane {
  readonly pool: PacketPool;
  readonly counters: DataPlaneCounters;
  readonly tunnel: () => MobileNodeReverseTunnel | undefined;
  readonly ttl: number;
  readonly greChecksum: boolean;
  identification: number;
  /** Outer header writers, rebuilt when the outer source changes (a new mode, not a packet). */
  preparedFor: number;
  ipInIpHeader: PreparedOuterHeader | undefined;
  greHeader: PreparedOuterHeader | undefined;
}

const Standing = { Done: 0, Tunnel: 1 } as const;

export function mnSendPlane(options: MobileNodeSendPlaneOptions): MnSendPlane {
  return {
    pool: options.pool ?? new PacketPool(),
    counters: {},
    tunnel: options.tunnel,
    ttl: options.ttl ?? 64,
    greChecksum: options.greChecksum === true,
    identification: (options.firstIdentification ?? 0) & 0xffff,
    preparedFor: 0,
    ipInIpHeader: undefined,
    greHeader: undefined,
  };
}

/**
 * Stage 1. Malformed or bad checksum → dropped, counted; no tunnel in force, or a source other
 * than the home address → `forward` untouched (the host routes it); the rest → to encapsulate.
 */
export function classifyOwnBatch(plane: MnSendPlane, inputs: PacketBatch): BatchInFlight {
  const batch = openBatch(plane.pool, plane.counters, inputs);
  const tunnel = plane.tunnel();
  const home = tunnel === undefined ? 0 : tunnel.homeAddress | 0;
  for (let i = 0; i < inputs.length; i++) {
    const bytes = inputs[i]!.bytes;
    if (inputProblem(bytes, plane.counters)) continue;
    if (tunnel === undefined || (ipv4Source(bytes, 0) | 0) !== home) {
      bump(plane.counters, 'passed');
      batch.outputs.push({ kind: 'forward', index: i, bytes, routed: false });
      continue;
    }
    batch.standing[i] = Standing.Tunnel;
  }
  return batch;
}

/** Stage 2. Each datagram to tunnel, encapsulated into the pool: `send-ip` toward the tunnel exit. */
export function encapsulateOwnBatch(plane: MnSendPlane, batch: BatchInFlight): BatchInFlight {
  const { inputs, standing, outputs } = batch;
  const tunnel = plane.tunnel();
  for (let i = 0; i < inputs.length; i++) {
    if (standing[i] !== Standing.Tunnel) continue;
    standing[i] = Standing.Done;
    // The tunnel ended between the stages: the datagram goes as it is.
    if (tunnel === undefined) {
      bump(plane.counters, 'passed');
      outputs.push({ kind: 'forward', index: i, bytes: inputs[i]!.bytes, routed: false });
      continue;
    }
    const sent = encapsulateOwn(plane, inputs[i]!.bytes, tunnel);
    if (sent === undefined) continue;
    bump(plane.counters, 'tunnelled');
    outputs.push({
      kind: 'send-ip',
      index: i,
      bytes: sent.bytes,
      destination: tunnel.outerDestination,
      homeAddress: tunnel.homeAddress,
      encapsulation: sent.kind,
      via: 'tunnel',
    });
  }
  return batch;
}

function prepareFor(plane: MnSendPlane, source: Ipv4Address): void {
  if (plane.ipInIpHeader !== undefined && plane.preparedFor === (source | 0)) return;
  plane.preparedFor = source | 0;
  plane.ipInIpHeader = prepareOuterHeader({ source, ttl: plane.ttl }, IpProtocol.IPIP);
  plane.greHeader = prepareOuterHeader({ source, ttl: plane.ttl }, IpProtocol.GRE);
}

function encapsulateOwn(plane: MnSendPlane, bytes: Uint8Array, tunnel: MobileNodeReverseTunnel): { bytes: Uint8Array; kind: Encapsulation } | undefined {
  const length = ipv4TotalLength(bytes, 0);
  let kind = tunnel.encapsulation;
  // RFC 2004 3: a fragment cannot be minimally encapsulated.
  if (kind === 'minimal' && ipv4IsFragment(bytes, 0)) {
    bump(plane.counters, 'minimal-fragment-fallback');
    kind = 'ip-in-ip';
  }
  const overhead =
    kind === 'minimal'
      ? ipv4Source(bytes, 0) === tunnel.outerSource
        ? MINIMAL_HEADER_LENGTH
        : MINIMAL_HEADER_WITH_SOURCE_LENGTH
      : kind === 'gre'
        ? IPV4_MIN_HEADER_LENGTH + (plane.greChecksum ? 8 : GRE_HEADER_LENGTH)
        : IPV4_MIN_HEADER_LENGTH;
  if (length + overhead > IPV4_MAX_TOTAL_LENGTH) {
    bump(plane.counters, 'too-big');
    return undefined;
  }
  const out = plane.pool.allocate(length + overhead);
  out.set(bytes.length === length ? bytes : bytes.subarray(0, length), overhead);
  if (kind === 'minimal') {
    const inner = new Uint8Array(out.buffer, out.byteOffset + overhead, length);
    const result = minimalEncapsulate(inner, tunnel.outerSource, tunnel.outerDestination, out, 0);
    if (!result.ok) {
      bump(plane.counters, `malformed-${result.error.reason}`);
      return undefined;
    }
    return { bytes: out, kind };
  }
  prepareFor(plane, tunnel.outerSource);
  // RFC 2003 3.1: outer TOS = inner TOS; inner DF → outer DF.
  const tos = out[overhead + 1]!;
  const dontFragment = (out[overhead + 6]! & 0x40) !== 0;
  const total = length + overhead;
  const id = plane.identification;
  plane.identification = (id + 1) & 0xffff;
  if (kind === 'gre') {
    writeGreIpv4Header(out, IPV4_MIN_HEADER_LENGTH, plane.greChecksum, total);
    plane.greHeader!.write(out, 0, tunnel.outerDestination, total, id, tos, dontFragment);
  } else {
    plane.ipInIpHeader!.write(out, 0, tunnel.outerDestination, total, id, tos, dontFragment);
  }
  return { bytes: out, kind };
}

function ownOutputBatch(plane: MnSendPlane, batch: BatchInFlight): OutputBatch {
  return finishBatch(plane.pool, plane.counters, batch);
}

/** The node's own reverse tunnel (classify ─► encapsulate ─► outputs), one operator that can also process a batch directly. */
export function mobileNodeReverseTunnelPlane(options: MobileNodeSendPlaneOptions): DataPlane {
  const plane = mnSendPlane(options);
  const process = (inputs: PacketBatch): OutputBatch => ownOutputBatch(plane, encapsulateOwnBatch(plane, classifyOwnBatch(plane, inputs)));
  const operator: OperatorFunction<PacketBatch, OutputBatch> = (source) =>
    source.pipe(stage(plane, classifyOwnBatch), stage(plane, encapsulateOwnBatch), stage(plane, ownOutputBatch));
  return dataPlane(operator, process, plane.counters, plane.pool);
}

// =============================================================================================
// The node's UDP tunnel (RFC 3519; docs/protocol.md, "The mobile node behind a NAT")

/** The UDP tunnel of a co-located registration granted UDP tunnelling (RFC 3519 4.4). */
export interface MobileNodeUdpTunnel {
  /** Datagrams from this source are tunnelled; tunnel data for it is delivered. */
  readonly homeAddress: Ipv4Address;
  /** The far end: tunnel data comes from homeAgent:434 and goes there. */
  readonly homeAgent: Ipv4Address;
  /** The near end (the registration's source address; a NAT may translate it on the way). */
  readonly careOfAddress: Ipv4Address;
}

/** What the UDP tunnel counted (names as in the metrics and `mip4 mobile-node`). */
export interface MnUdpTunnelPlaneCounters {
  /** The node's own datagrams sent as tunnel data messages. */
  tunnelledOut: number;
  /** Inner datagrams of tunnel data messages delivered to the node's stack. */
  decapsulated: number;
  /** The node's own datagrams that were not one whole IPv4 datagram with a good checksum. */
  malformedOut: number;
  /** Tunnel data not from the home agent's address and port 434 (RFC 3519 4.3: only the tunnel's far end). */
  notFromHomeAgent: number;
  /** A Next Header other than 4 (IP): this node asks for IP in IP only (3.1.4). */
  unsupportedNextHeader: number;
  /** A message too short for the header, or whose inner datagram is malformed. */
  malformedIn: number;
  /** Inner destination neither the home address nor broadcast/multicast: not this node's. */
  notForHome: number;
}

/**
 * Tunnel data messages out of the node's own datagrams, and the inner datagrams out of those the
 * home agent sends. The UDP socket adds the outer IP and UDP headers (source the care-of address
 * and the registration's port, so the NAT maps it with the Requests, RFC 3519 4.1), so what is
 * built here is the UDP payload: the 4-byte header and the original datagram (Next Header 4).
 * Allocation-free per packet: one scratch buffer, reused (the UDP layer copies on send); the
 * results are views.
 */
export class MnUdpTunnelPlane {
  readonly counters: MnUdpTunnelPlaneCounters = {
    tunnelledOut: 0,
    decapsulated: 0,
    malformedOut: 0,
    notFromHomeAgent: 0,
    unsupportedNextHeader: 0,
    malformedIn: 0,
    notForHome: 0,
  };
  private readonly scratch = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + IPV4_MAX_TOTAL_LENGTH);
  /** A view of the scratch buffer per message length, made once: sizes repeat (full frames, ACKs), views need not be made per packet. */
  private readonly views: Array<Uint8Array | undefined> = [];
  private readonly dataPlaneCounters: DataPlaneCounters = {};

  /**
   * The tunnel data message for `datagram` (a view of the scratch buffer, valid until the next
   * call), `'pass'` when the datagram is not the tunnel's (no tunnel, another source: the host
   * sends it as it is), or `'dropped'` (malformed, counted).
   */
  encapsulate(datagram: Uint8Array, tunnel: MobileNodeUdpTunnel | undefined): Uint8Array | 'pass' | 'dropped' {
    if (tunnel === undefined) return 'pass';
    if (inputProblem(datagram, this.dataPlaneCounters)) {
      this.counters.malformedOut++;
      return 'dropped';
    }
    if (ipv4Source(datagram, 0) >>> 0 !== tunnel.homeAddress >>> 0) return 'pass';
    const length = ipv4TotalLength(datagram, 0);
    const out = this.scratch;
    writeTunnelDataHeader(out, 0, TunnelNextHeader.IpInIp);
    out.set(datagram.length === length ? datagram : datagram.subarray(0, length), TUNNEL_DATA_HEADER_LENGTH);
    this.counters.tunnelledOut++;
    const total = TUNNEL_DATA_HEADER_LENGTH + length;
    return (this.views[total] ??= out.subarray(0, total));
  }

  /**
   * The inner datagram of a tunnel data message (RFC 3519 4.3), a view into `message`, or
   * undefined when it is not one to deliver (counted): only from the home agent's port 434, Next
   * Header 4, a whole IPv4 datagram for the home address (or a broadcast/multicast the home agent
   * forwards, RFC 5944 4.3, 4.4).
   */
  decapsulate(message: Uint8Array, from: Ipv4Address, fromPort: number, tunnel: MobileNodeUdpTunnel): Uint8Array | undefined {
    if (from >>> 0 !== tunnel.homeAgent >>> 0 || fromPort !== MOBILE_IP_UDP_PORT) {
      this.counters.notFromHomeAgent++;
      return undefined;
    }
    const nextHeader = tunnelDataNextHeader(message, 0, message.length);
    if (nextHeader < 0) {
      this.counters.malformedIn++;
      return undefined;
    }
    if (nextHeader !== TunnelNextHeader.IpInIp) {
      this.counters.unsupportedNextHeader++;
      return undefined;
    }
    const inner = message.subarray(TUNNEL_DATA_HEADER_LENGTH);
    if (inputProblem(inner, this.dataPlaneCounters)) {
      this.counters.malformedIn++;
      return undefined;
    }
    const destination = ipv4Destination(inner, 0) >>> 0;
    if (destination !== tunnel.homeAddress >>> 0 && destination !== 0xffffffff && !isMulticast(destination)) {
      this.counters.notForHome++;
      return undefined;
    }
    this.counters.decapsulated++;
    return inner.subarray(0, ipv4TotalLength(inner, 0));
  }
}

/** RFC 5944 3.1: the UDP port of registrations, and (RFC 3519 4.1) of the UDP tunnel at the home agent. */
const MOBILE_IP_UDP_PORT = 434;

/** RFC 3519 4.9: the keepalive is an ICMP Echo Request from the home address to the home agent, in a tunnel data message. */
export const UDP_KEEPALIVE_MESSAGE_LENGTH = TUNNEL_DATA_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + 8;

/**
 * Writes a keepalive (RFC 3519 4.9) into `out` (UDP_KEEPALIVE_MESSAGE_LENGTH bytes): the tunnel
 * data header, then an ICMP Echo Request from the home address to the home agent with
 * `identifier` and `sequence`. The home agent learns the NAT's current address and port from it
 * (4.10), and may answer it like any Echo Request.
 */
export function writeUdpKeepalive(out: Uint8Array, tunnel: MobileNodeUdpTunnel, identifier: number, sequence: number, ipIdentification: number): Uint8Array {
  writeTunnelDataHeader(out, 0, TunnelNextHeader.IpInIp);
  const ip = TUNNEL_DATA_HEADER_LENGTH;
  const icmp = ip + IPV4_MIN_HEADER_LENGTH;
  out[ip] = 0x45;
  out[ip + 1] = 0;
  writeU16At(out, ip + 2, IPV4_MIN_HEADER_LENGTH + 8);
  writeU16At(out, ip + 4, ipIdentification & 0xffff);
  writeU16At(out, ip + 6, 0);
  out[ip + 8] = 64;
  out[ip + 9] = IpProtocol.ICMP;
  writeU32At(out, ip + 12, tunnel.homeAddress);
  writeU32At(out, ip + 16, tunnel.homeAgent);
  const view = out.subarray(ip, icmp + 8);
  updateIpv4Checksum(view, 0);
  out[icmp] = 8; // Echo Request
  out[icmp + 1] = 0;
  writeU16At(out, icmp + 2, 0);
  writeU16At(out, icmp + 4, identifier & 0xffff);
  writeU16At(out, icmp + 6, sequence & 0xffff);
  writeIcmpChecksum(out, icmp, icmp + 8);
  return out.subarray(0, UDP_KEEPALIVE_MESSAGE_LENGTH);
}

/** Whether `inner` is the Echo Reply to one of this node's keepalives (`identifier`), which the node keeps to itself. */
export function isKeepaliveReply(inner: Uint8Array, tunnel: MobileNodeUdpTunnel, identifier: number): boolean {
  const headerLength = (inner[0]! & 0x0f) * 4;
  if (inner.length < headerLength + 8 || ipv4Protocol(inner, 0) !== IpProtocol.ICMP) return false;
  if (ipv4Source(inner, 0) >>> 0 !== tunnel.homeAgent >>> 0) return false;
  return inner[headerLength] === 0 && ((inner[headerLength + 4]! << 8) | inner[headerLength + 5]!) === (identifier & 0xffff);
}

function writeU16At(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

function writeU32At(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}
