/**
 * The planes that take tunnels apart (RFC 5944 4.1, 4.2.2): RxJS operators over packet batches
 * (runtime/dataplane/packets.ts).
 *
 * - `foreignAgentDataPlane`: tunnelled datagrams arriving at the care-of address are
 *   decapsulated and delivered to the visitor by its link-layer address (4.2.2); visitors'
 *   own datagrams are routed (TTL decremented).
 * - `mobileNodeDecapsulation`: a mobile node with a co-located care-of address takes its
 *   tunnels apart itself (1.7 b, 4.1).
 *
 * Both share `decapsulateInto`, and the pool, counters and ICMP rules of packets.ts.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { IpProtocol, decrementIpv4Ttl, ipv4ChecksumValid, ipv4Destination, ipv4Protocol, ipv4Source, ipv4TotalLength } from '../../io/wire/ipv4.js';
import { greDecapsulate, ipInIpDecapsulate, isTunnelProtocol, minimalDecapsulate } from '../../io/wire/tunnel.js';
import {
  LIMITED_BROADCAST,
  PacketPool,
  batchOperator,
  bump,
  icmpErrorAllowed,
  inputProblem,
  isMulticast,
  writeTimeExceeded,
  type DataPlane,
  type DataPlaneCounters,
  type OutputPacket,
  type Packet,
} from './packets.js';

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
export const MAX_TUNNEL_DEPTH = 2;

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
