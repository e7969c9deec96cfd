/**
 * The simulated NAT (io/sim/nat.ts): endpoint-independent mappings for UDP, TCP and ICMP echo,
 * filtering of unsolicited inbound traffic, timeouts on simulated time refreshed by outbound
 * traffic only, restart() with new external ports, checksums kept valid.
 *
 *   in 203.0.113.100 ── inside 203.0.113.64/26 ── (.126) nat (192.0.2.1) ── outside 192.0.2.0/24 ── out 192.0.2.20, peer 192.0.2.30
 */
import { Effect, Scope } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../io/clock.js';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import type { UdpDatagram } from '../../io/udp.js';
import { ipv4, readU16 } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, encodeIpv4Header, IpProtocol } from '../../io/wire/ipv4.js';
import { bindUdp, echoRequest, recordIcmp } from './network-support.js';

const INSIDE = ipv4('203.0.113.100');
const NAT_INSIDE = ipv4('203.0.113.126');
const NAT_OUTSIDE = ipv4('192.0.2.1');
const OUT = ipv4('192.0.2.20');
const PEER = ipv4('192.0.2.30');

const scopes: Scope.CloseableScope[] = [];
afterEach(() => {
  for (const scope of scopes.splice(0)) Effect.runSync(Scope.close(scope, { _tag: 'Success', value: undefined } as never));
});

function build(udpTimeoutMs = 30_000, portRange?: [number, number]) {
  const clock = new SimulatedClock();
  const net = new SimNetwork({ clock, seed: 11 });
  const inside = net.addSegment('inside');
  const outside = net.addSegment('outside');
  const host = net.addHost('in');
  host.addInterface('eth0', inside, { address: INSIDE, prefixLength: 26 });
  host.addRoute(0, 0, { via: NAT_INSIDE, interface: 'eth0' });
  const nat = net.addHost('nat', { forwarding: true, nat: { inside: ['lan'], outside: 'wan', udpTimeoutMs, ...(portRange ? { portRange } : {}) } });
  nat.addInterface('lan', inside, { address: NAT_INSIDE, prefixLength: 26 });
  nat.addInterface('wan', outside, { address: NAT_OUTSIDE, prefixLength: 24 });
  const out = net.addHost('out');
  out.addInterface('eth0', outside, { address: OUT, prefixLength: 24 });
  // The outside even routes the inside prefix to the NAT: unsolicited traffic must still die there.
  out.addRoute(ipv4('203.0.113.64'), 26, { via: NAT_OUTSIDE, interface: 'eth0' });
  const peer = net.addHost('peer');
  peer.addInterface('eth0', outside, { address: PEER, prefixLength: 24 });
  const scope = Effect.runSync(Scope.make());
  scopes.push(scope);
  return { clock, net, host, nat, out, peer, scope };
}

function udpPair(t: ReturnType<typeof build>, insidePort = 5000) {
  const client = bindUdp(t.net, t.host, t.scope, { address: 0, port: insidePort });
  const server = bindUdp(t.net, t.out, t.scope, { address: 0, port: 434 });
  const atServer: UdpDatagram[] = [];
  const atClient: UdpDatagram[] = [];
  server.onMessage((d) => atServer.push(d));
  client.onMessage((d) => atClient.push(d));
  return { client, server, atServer, atClient };
}

const bytes = (text: string) => new TextEncoder().encode(text);

function natOf(host: SimHost) {
  if (host.nat === undefined) throw new Error('no NAT');
  return host.nat;
}

describe('simulated NAT: UDP', () => {
  it('outbound UDP leaves from the outside address and an external port; the reply comes back to the inside socket, checksums valid', () => {
    const t = build();
    const { client, server, atServer, atClient } = udpPair(t);
    client.send(bytes('hello'), OUT, 434);
    t.clock.advance(20);
    expect(atServer).toHaveLength(1);
    expect(atServer[0]).toMatchObject({ address: NAT_OUTSIDE, port: 20000 });
    server.send(bytes('back'), atServer[0]!.address, atServer[0]!.port);
    t.clock.advance(20);
    expect(atClient).toHaveLength(1);
    expect(atClient[0]).toMatchObject({ address: OUT, port: 434, localAddress: INSIDE, localPort: 5000 });
    expect(t.out.counters.udpBadChecksum + t.host.counters.udpBadChecksum).toBe(0);
    const nat = natOf(t.nat);
    expect(nat.counters).toMatchObject({ mappingsCreated: 1, translatedOut: 1, translatedIn: 1, droppedInboundUnmatched: 0 });
    const [mapping, ...more] = nat.mappings();
    expect(more).toEqual([]);
    expect(mapping).toMatchObject({ protocol: 17, insideAddress: INSIDE, insidePort: 5000, externalAddress: NAT_OUTSIDE, externalPort: 20000 });
    expect(mapping!.expiresAt - mapping!.createdAt).toBe(30_000);
  });

  it('the mapping is endpoint-independent: the same inside socket keeps its external port toward another destination', () => {
    const t = build();
    const { client, atServer } = udpPair(t);
    const other = bindUdp(t.net, t.peer, t.scope, { address: 0, port: 9 });
    const atPeer: UdpDatagram[] = [];
    other.onMessage((d) => atPeer.push(d));
    client.send(bytes('a'), OUT, 434);
    client.send(bytes('b'), PEER, 9);
    t.clock.advance(20);
    expect(atServer[0]!.port).toBe(20000);
    expect(atPeer[0]!.port).toBe(20000);
    expect(natOf(t.nat).counters.mappingsCreated).toBe(1);
  });

  it('inbound to the mapped port from an endpoint the mapping never sent to is dropped and counted (address- and port-dependent filtering)', () => {
    const t = build();
    const { client, atClient } = udpPair(t);
    client.send(bytes('a'), OUT, 434);
    t.clock.advance(20);
    const stranger = bindUdp(t.net, t.peer, t.scope, { address: 0, port: 434 });
    stranger.send(bytes('unsolicited'), NAT_OUTSIDE, 20000);
    t.clock.advance(20);
    expect(atClient).toHaveLength(0);
    expect(natOf(t.nat).counters.droppedInboundUnmatched).toBe(1);
    // Silently: no ICMP port unreachable goes back from a NAT.
    expect(t.nat.counters.icmpErrorsSent).toBe(0);
  });

  it('a mapping expires udpTimeoutMs after the last outbound datagram; inbound traffic does not refresh it', () => {
    const t = build(10_000);
    const { client, server, atServer, atClient } = udpPair(t);
    client.send(bytes('open'), OUT, 434);
    t.clock.advance(20);
    const { address, port } = atServer[0]!;
    // Downstream every 2 s: delivered while the mapping lives, dropped once it has expired.
    for (let i = 0; i < 10; i++) {
      server.send(bytes(`down ${i}`), address, port);
      t.clock.advance(2000);
    }
    const nat = natOf(t.nat);
    expect(atClient.length).toBe(5);
    expect(nat.counters.mappingsExpired).toBe(1);
    expect(nat.counters.droppedInboundUnmatched).toBe(5);
    expect(nat.mappings()).toEqual([]);
  });

  it('outbound traffic within the timeout keeps the mapping and its port', () => {
    const t = build(10_000);
    const { client, server, atServer, atClient } = udpPair(t);
    for (let i = 0; i < 10; i++) {
      client.send(bytes(`keepalive ${i}`), OUT, 434);
      t.clock.advance(5);
      server.send(bytes(`down ${i}`), atServer[atServer.length - 1]!.address, atServer[atServer.length - 1]!.port);
      t.clock.advance(8000);
    }
    expect(new Set(atServer.map((d) => d.port))).toEqual(new Set([20000]));
    expect(atClient).toHaveLength(10);
    expect(natOf(t.nat).counters.mappingsExpired).toBe(0);
  });

  it('restart() forgets the mappings: old external ports are dead, the next outbound datagram gets a new port', () => {
    const t = build();
    const { client, server, atServer, atClient } = udpPair(t);
    client.send(bytes('first'), OUT, 434);
    t.clock.advance(20);
    natOf(t.nat).restart();
    server.send(bytes('to the old port'), NAT_OUTSIDE, 20000);
    t.clock.advance(20);
    expect(atClient).toHaveLength(0);
    client.send(bytes('again'), OUT, 434);
    t.clock.advance(20);
    expect(atServer.map((d) => d.port)).toEqual([20000, 20001]);
    server.send(bytes('to the new port'), NAT_OUTSIDE, 20001);
    t.clock.advance(20);
    expect(atClient).toHaveLength(1);
    expect(natOf(t.nat).counters).toMatchObject({ restarts: 1, mappingsForgotten: 1, mappingsCreated: 2, droppedInboundUnmatched: 1 });
  });

  it('ports come from portRange and run out cleanly: a datagram with no port left is dropped and counted', () => {
    const t = build(30_000, [40000, 40001]);
    const sockets = [5001, 5002, 5003].map((port) => bindUdp(t.net, t.host, t.scope, { address: 0, port }));
    const server = bindUdp(t.net, t.out, t.scope, { address: 0, port: 434 });
    const seen: number[] = [];
    server.onMessage((d) => seen.push(d.port));
    for (const socket of sockets) socket.send(bytes('x'), OUT, 434);
    t.clock.advance(20);
    expect(seen).toEqual([40000, 40001]);
    expect(natOf(t.nat).counters.droppedPortsExhausted).toBe(1);
  });
});

describe('simulated NAT: other protocols', () => {
  it('ICMP echo is translated by identifier; the reply comes back to the inside host', () => {
    const t = build();
    const seen = recordIcmp(t.host);
    t.host.sendPacket({ protocol: IpProtocol.ICMP, destination: OUT, payload: echoRequest(0x1234, 1) });
    t.clock.advance(20);
    expect(seen.map((s) => ({ type: s.type, source: s.source }))).toEqual([{ type: 0, source: OUT }]);
    expect(natOf(t.nat).mappings()[0]).toMatchObject({ protocol: 1, insidePort: 0x1234, externalPort: 20000 });
    expect(t.host.counters.icmpBadChecksum + t.out.counters.icmpBadChecksum).toBe(0);
  });

  it('an echo request to the NAT’s own outside address is answered by the NAT host, not translated', () => {
    const t = build();
    const seen = recordIcmp(t.out);
    t.out.sendPacket({ protocol: IpProtocol.ICMP, destination: NAT_OUTSIDE, payload: echoRequest(7, 1) });
    t.clock.advance(20);
    expect(seen.map((s) => s.type)).toEqual([0]);
    expect(natOf(t.nat).counters.droppedInboundUnmatched).toBe(0);
  });

  it('TCP is translated with a valid checksum, by source port', () => {
    const t = build();
    const segments: Uint8Array[] = [];
    t.out.onIp(IpProtocol.TCP, (datagram) => segments.push(datagram.slice()));
    // A bare SYN from port 40123 to port 80 with a correct checksum.
    const tcp = new Uint8Array(20);
    tcp.set([0x9c, 0xbb, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff]);
    const pseudo = new Uint8Array(12 + tcp.length);
    pseudo.set([203, 0, 113, 100, 192, 0, 2, 20, 0, 6, 0, 20]);
    pseudo.set(tcp, 12);
    tcp.set([0, 0], 16);
    let sum = 0;
    for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i]! << 8) | pseudo[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const checksum = ~sum & 0xffff;
    tcp[16] = checksum >> 8;
    tcp[17] = checksum & 0xff;
    t.host.sendPacket({ protocol: IpProtocol.TCP, destination: OUT, payload: tcp });
    t.clock.advance(20);
    expect(segments).toHaveLength(1);
    const packet = decodeIpv4Packet(segments[0]!);
    if (!packet.ok) throw new Error(packet.error.message);
    expect(packet.value.header.source).toBe(NAT_OUTSIDE);
    const payload = packet.value.payload;
    expect(readU16(payload, 0)).toBe(20000);
    // The checksum over the new pseudo-header and segment verifies (sums to 0xffff).
    const check = new Uint8Array(12 + payload.length);
    check.set([192, 0, 2, 1, 192, 0, 2, 20, 0, 6, 0, payload.length]);
    check.set(payload, 12);
    let total = 0;
    for (let i = 0; i < check.length; i += 2) total += (check[i]! << 8) | check[i + 1]!;
    while (total > 0xffff) total = (total & 0xffff) + (total >>> 16);
    expect(total).toBe(0xffff);
  });

  it('IP in IP neither leaves nor enters: dropped and counted both ways (a NAT forwards UDP, not protocol 4)', () => {
    const t = build();
    const arrived: Uint8Array[] = [];
    t.out.onIp(IpProtocol.IPIP, (d) => arrived.push(d));
    t.host.onIp(IpProtocol.IPIP, (d) => arrived.push(d));
    const inner = new Uint8Array(20);
    encodeIpv4Header({ tos: 0, totalLength: 20, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: 59, source: INSIDE, destination: OUT }, inner, 0);
    t.host.sendPacket({ protocol: IpProtocol.IPIP, destination: OUT, payload: inner });
    // The outside tunnels to the inside address (routed to the NAT): unsolicited, dropped.
    t.out.sendPacket({ protocol: IpProtocol.IPIP, destination: INSIDE, payload: inner });
    t.clock.advance(20);
    expect(arrived).toHaveLength(0);
    expect(natOf(t.nat).counters).toMatchObject({ droppedOutboundUntranslatable: 1, droppedInboundUnmatched: 1 });
  });

  it('refuses a NAT on a host that does not forward, and a port range upside down', () => {
    const clock = new SimulatedClock();
    const net = new SimNetwork({ clock, seed: 1 });
    expect(() => net.addHost('x', { nat: { inside: ['a'], outside: 'b', udpTimeoutMs: 1000 } })).toThrow(/forwarding/);
    expect(() => net.addHost('y', { forwarding: true, nat: { inside: ['a'], outside: 'b', udpTimeoutMs: 1000, portRange: [2, 1] } })).toThrow(/portRange/);
  });

  it('replays identically: the same seed and sends give the same ports and counters', () => {
    const run = () => {
      const t = build(5000);
      const { client, atServer } = udpPair(t);
      for (let i = 0; i < 4; i++) {
        client.send(bytes('x'), OUT, 434);
        t.clock.advance(6000);
      }
      return { ports: atServer.map((d) => d.port), counters: { ...natOf(t.nat).counters } };
    };
    const first = run();
    expect(first.ports).toEqual([20000, 20001, 20002, 20003]);
    expect(run()).toEqual(first);
  });
});
