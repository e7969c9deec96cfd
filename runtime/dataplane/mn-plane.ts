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
import { IPV4_MAX_TOTAL_LENGTH, IPV4_MIN_HEADER_LENGTH, IpProtocol, ipv4IsFragment, ipv4Source, ipv4TotalLength } from '../../io/wire/ipv4.js';
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
