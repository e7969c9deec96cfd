/**
 * The foreign agent's UDP tunnel (RFC 3519), beside fa-plane.ts: tunnel data messages from a
 * home agent, received on the agent's UDP 434 socket, taken apart and delivered to visitors
 * (RFC 3519 4.3, then RFC 5944 4.2.2); the reverse tunnel's UDP form (RFC 3519 4.2), written
 * by fa-plane.ts's reverse tunnel stage with `writeUdpTunnelHeaders` and sent by the agent
 * through its 434 socket, one sendmmsg per turn (io/linux/udp.ts); and the keepalive
 * (RFC 3519 4.9) the agent sends on an idle flow.
 *
 * The tunnel data header is read and written with io/wire/udp-tunnel.ts's helpers (in place, no
 * allocation).
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { writeU16 } from '../../io/wire/bytes.js';
import { IPV4_MIN_HEADER_LENGTH, IpProtocol, ipv4Destination, ipv4TotalLength } from '../../io/wire/ipv4.js';
import { encodeIcmpEcho, icmpEchoLength, IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Packet, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { UDP_HEADER_LENGTH } from '../../io/wire/udp.js';
import { MOBILE_IP_PORT } from '../../io/wire/registration-types.js';
import { TUNNEL_DATA_HEADER_LENGTH, TunnelNextHeader, tunnelDataNextHeader, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import { bump, finishBatch, inputProblem, openBatch, type DataPlaneCounters, type OutputBatch, type Packet, type PacketPool } from './packets.js';

/** IPv4 header, UDP header and tunnel data header before a datagram carried in the UDP tunnel. */
export const UDP_TUNNEL_OVERHEAD = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH + TUNNEL_DATA_HEADER_LENGTH;

/**
 * Writes the UDP header (434 → 434, RFC 3519 4.2: the registration's flow, so that the NAT's
 * mapping carries it) and the tunnel data header (Next Header 4: the datagram follows as it is)
 * at `offset`, in front of a datagram of `datagramLength` bytes, so that the plane's output is
 * the whole datagram as it leaves (source, destination, TTL and DF readable there). The agent
 * sends only its UDP payload, through the care-of address's 434 socket
 * (ForeignAgent.deliver); the kernel writes the UDP header and checksum of what leaves. The
 * checksum here is 0, "no checksum" (RFC 768).
 */
export function writeUdpTunnelHeaders(out: Uint8Array, offset: number, datagramLength: number): void {
  writeU16(out, offset, MOBILE_IP_PORT);
  writeU16(out, offset + 2, MOBILE_IP_PORT);
  writeU16(out, offset + 4, UDP_HEADER_LENGTH + TUNNEL_DATA_HEADER_LENGTH + datagramLength);
  writeU16(out, offset + 6, 0);
  writeTunnelDataHeader(out, offset + UDP_HEADER_LENGTH, TunnelNextHeader.IpInIp);
}

// ---------------------------------------------------------------------------------------------
// Decapsulation

/** A UDP payload received on the agent's 434 socket: a tunnel data message, and who sent it. */
export interface UdpTunnelPacket extends Packet {
  /** The UDP payload (tunnel data header first). */
  readonly bytes: Uint8Array;
  /** The IP source and UDP source port it came from. */
  readonly source: Ipv4Address;
  readonly sourcePort: number;
}

/** Counters of the UDP tunnel, beside packets.ts's (in the same counters record). */
export type FaUdpTunnelCounter =
  | 'udp-tunnel-delivered'
  /** Not a tunnel data message, or too short. */
  | 'udp-tunnel-not-data'
  /** Next Header other than 4: the agent asks for IP in IP only (RFC 3519 3.1.4). */
  | 'udp-tunnel-next-header-unsupported'
  /** The inner destination is no visitor whose registration uses UDP tunnelling with the sender. */
  | 'udp-tunnel-unknown-visitor'
  /** From an address or port that is not the visitor's home agent's 434. */
  | 'udp-tunnel-wrong-sender'
  | 'udp-tunnel-inner-ttl-zero'
  | 'udp-tunnel-reverse-tunnelled'
  | 'udp-tunnel-keepalives';

export function bumpUdp(counters: DataPlaneCounters, name: FaUdpTunnelCounter): void {
  counters[name] = (counters[name] ?? 0) + 1;
}

/** What the UDP decapsulation reads: fa-plane.ts's FaPlane provides the first three. */
export interface UdpDecapsulationState {
  readonly pool: PacketPool;
  readonly counters: DataPlaneCounters;
  /** Registered visitors: home address → link-layer address (4.2.2). */
  readonly visitors: (homeAddress: Ipv4Address) => string | undefined;
  /** A visitor whose registration uses UDP tunnelling: home address → its home agent; else undefined. */
  readonly udpHomeAgentOf: (homeAddress: Ipv4Address) => Ipv4Address | undefined;
}

/**
 * Tunnel data messages in, deliveries out (one output batch per input batch). A message is
 * taken apart only when it comes from port 434 of the home agent of the visitor its datagram
 * is for (the flow the registration set up, RFC 3519 4.3), its Next Header is 4 and the inner
 * datagram is whole (packets.ts inputProblem: a whole IPv4 datagram with a valid header checksum; RFC 2003 3.1: TTL not 0). The datagram is copied into
 * the pool and delivered on the link to the visitor's link-layer address (RFC 5944 4.2.2).
 */
export function decapsulateUdpTunnelBatch(state: UdpDecapsulationState, inputs: readonly UdpTunnelPacket[]): OutputBatch {
  const batch = openBatch(state.pool, state.counters, inputs);
  const { counters } = state;
  for (let i = 0; i < inputs.length; i++) {
    const packet = inputs[i]!;
    const bytes = packet.bytes;
    const nextHeader = tunnelDataNextHeader(bytes, 0, bytes.length);
    if (nextHeader < 0) {
      bumpUdp(counters, 'udp-tunnel-not-data');
      continue;
    }
    if (nextHeader !== TunnelNextHeader.IpInIp) {
      bumpUdp(counters, 'udp-tunnel-next-header-unsupported');
      continue;
    }
    const inner = bytes.subarray(TUNNEL_DATA_HEADER_LENGTH);
    if (inputProblem(inner, counters)) continue;
    const homeAddress = ipv4Destination(inner, 0);
    const linkAddress = state.visitors(homeAddress);
    const homeAgent = state.udpHomeAgentOf(homeAddress);
    if (linkAddress === undefined || homeAgent === undefined) {
      bumpUdp(counters, 'udp-tunnel-unknown-visitor');
      continue;
    }
    if (homeAgent >>> 0 !== packet.source >>> 0 || packet.sourcePort !== MOBILE_IP_PORT) {
      bumpUdp(counters, 'udp-tunnel-wrong-sender');
      continue;
    }
    if (inner[8] === 0) {
      bumpUdp(counters, 'udp-tunnel-inner-ttl-zero');
      continue;
    }
    const length = ipv4TotalLength(inner, 0);
    const copy = state.pool.allocate(length);
    copy.set(inner.subarray(0, length));
    bump(counters, 'delivered');
    bumpUdp(counters, 'udp-tunnel-delivered');
    batch.outputs.push({ kind: 'deliver', index: i, bytes: copy, linkAddress, homeAddress });
  }
  return finishBatch(state.pool, counters, batch);
}

// ---------------------------------------------------------------------------------------------
// Keepalives

/** The Identifier of the agent's keepalive Echo Requests: tells them apart in a capture. */
export const KEEPALIVE_ECHO_IDENTIFIER = 0x3519;

/**
 * The keepalive the agent sends on an idle flow (RFC 3519 4.9): an ICMP Echo Request from its
 * care-of address to the home agent, carried as a tunnel data message (Next Header 4) from the
 * agent's 434 to the home agent's 434, so that it refreshes the NAT's mapping of that flow.
 * Returns the UDP payload. Off the data path (one per interval per flow): it may allocate.
 */
export function udpKeepalivePayload(careOfAddress: Ipv4Address, homeAgent: Ipv4Address, sequence: number, ttl = 64): Uint8Array {
  const value = { icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier: KEEPALIVE_ECHO_IDENTIFIER, sequence: sequence & 0xffff, data: new Uint8Array(0) };
  const echo = new Uint8Array(icmpEchoLength(value));
  encodeIcmpEcho(value, echo, 0);
  const packet = {
    header: { tos: 0, identification: sequence & 0xffff, flags: 0, fragmentOffset: 0, ttl, protocol: IpProtocol.ICMP, source: careOfAddress, destination: homeAgent },
    payload: echo,
  };
  const out = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + ipv4PacketLength(packet));
  writeTunnelDataHeader(out, 0, TunnelNextHeader.IpInIp);
  encodeIpv4Packet(packet, out, TUNNEL_DATA_HEADER_LENGTH);
  return out;
}
