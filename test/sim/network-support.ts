/**
 * Shared topology for the simulated-network tests: two Ethernet segments joined by a router.
 *
 *   a (192.0.2.10) ── lan-a 192.0.2.0/24 ── (192.0.2.1) r (198.51.100.1) ── lan-b 198.51.100.0/24 ── b (198.51.100.20)
 */
import { Effect, Scope } from 'effect';
import { SimNetwork, type SimSegmentOptions } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { Udp, type UdpBindOptions, type UdpSocket } from '../../io/udp.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { decodeIcmpError, encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { SimulatedClock } from '../../io/clock.js';

export const A = ipv4('192.0.2.10');
export const R_A = ipv4('192.0.2.1');
export const R_B = ipv4('198.51.100.1');
export const B = ipv4('198.51.100.20');
export const MAC_A = '02:00:00:00:0a:01';
export const MAC_R_A = '02:00:00:00:01:01';
export const MAC_R_B = '02:00:00:00:01:02';
export const MAC_B = '02:00:00:00:0b:01';

export interface TwoLans {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly a: SimHost;
  readonly r: SimHost;
  readonly b: SimHost;
  readonly scope: Scope.CloseableScope;
}

export function twoLans(options: { seed?: number; lanA?: SimSegmentOptions; lanB?: SimSegmentOptions } = {}): TwoLans {
  const clock = new SimulatedClock();
  const net = new SimNetwork({ clock, seed: options.seed ?? 7 });
  const lanA = net.addSegment('lan-a', options.lanA);
  const lanB = net.addSegment('lan-b', options.lanB);
  const a = net.addHost('a');
  a.addInterface('eth0', lanA, { mac: MAC_A, address: A, prefixLength: 24 });
  a.addRoute(0, 0, { via: R_A, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', lanA, { mac: MAC_R_A, address: R_A, prefixLength: 24 });
  r.addInterface('eth1', lanB, { mac: MAC_R_B, address: R_B, prefixLength: 24 });
  const b = net.addHost('b');
  b.addInterface('eth0', lanB, { mac: MAC_B, address: B, prefixLength: 24 });
  b.addRoute(0, 0, { via: R_B, interface: 'eth0' });
  return { clock, net, a, r, b, scope: Effect.runSync(Scope.make()) };
}

/** Binds a UDP socket on `host` through the network's Effect Udp layer, kept open until `scope` closes. */
export function bindUdp(net: SimNetwork, host: SimHost, scope: Scope.Scope, options: UdpBindOptions): UdpSocket {
  return Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind(options)), scope).pipe(Effect.provide(net.udpLayer(host))));
}

export function echoRequest(identifier: number, sequence: number, data = new Uint8Array([1, 2, 3, 4])): Uint8Array {
  const bytes = new Uint8Array(8 + data.length);
  encodeIcmpEcho({ icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier, sequence, data }, bytes, 0);
  return bytes;
}

export interface SeenIcmp {
  readonly at: number;
  readonly type: number;
  readonly code: number;
  readonly source: Ipv4Address;
  readonly ttl: number;
  /** For errors: the quoted datagram's destination. */
  readonly quotedDestination?: Ipv4Address;
}

/** Records every ICMP message delivered to `host`. */
export function recordIcmp(host: SimHost): SeenIcmp[] {
  const seen: SeenIcmp[] = [];
  host.onIp(IpProtocol.ICMP, (datagram, arrival) => {
    const packet = decodeIpv4Packet(datagram);
    if (!packet.ok) throw new Error('undecodable datagram delivered');
    const { header, payload } = packet.value;
    const type = payload[0]!;
    let quotedDestination: Ipv4Address | undefined;
    if (type === IcmpType.TimeExceeded || type === IcmpType.DestinationUnreachable) {
      const error = decodeIcmpError(payload);
      if (error.ok) {
        const quoted = error.value.original;
        quotedDestination = ((quoted[16]! << 24) | (quoted[17]! << 16) | (quoted[18]! << 8) | quoted[19]!) >>> 0;
      }
    }
    seen.push({ at: arrival.at, type, code: payload[1]!, source: header.source, ttl: header.ttl, ...(quotedDestination !== undefined ? { quotedDestination } : {}) });
  });
  return seen;
}
