/**
 * The home agent's UDP tunnels (RFC 3519) on the simulated network, through its real
 * registration socket (serveHomeAgent) and data path: a node's registration arrives from the
 * NAT's public address and port, the correspondent's datagrams for the home address leave as
 * tunnel data messages to that address and port from UDP 434, tunnel data coming back through
 * the same socket is decapsulated to the correspondent, and a new NAT port is followed.
 *
 *   cn 192.0.2.20 ── corr ── r ── home 198.51.100.0/24 ── ha 198.51.100.1
 *                             └── foreign 203.0.113.0/24 ── nat 203.0.113.50 (plays the NAT's outside:
 *                                                           the node's care-of address is 192.0.2.130)
 */
import { Effect, Exit, Layer, Scope } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import { simPacketTapLayer } from '../../io/sim/packet-tap.js';
import { Udp, type UdpDatagram, type UdpSocket } from '../../io/udp.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Packet, IpProtocol, ipv4Destination, ipv4PacketLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { attachHomeAgentDataPath, type HomeAgentDataPath } from '../../runtime/ha/home-agent-data-path.js';
import { serveHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { echoRequest, recordIcmp } from '../sim/network-support.js';
import { buildRequest, FA, FHAE, HA, Harness, HOME_NETWORK, makeConfig, MHAE, MIP_PORT, MN1, PREFIX_LENGTH, type ExtensionSpec } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_CORR = ipv4('192.0.2.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.20');
const NAT = ipv4('203.0.113.50');
const PRIVATE_COA = ipv4('192.0.2.130');

const udpTunnelRequest: ExtensionSpec = { unknown: 144, data: Uint8Array.of(0, 0, 0, 4, 0, 0) };

let scopes: Scope.CloseableScope[] = [];
let paths: HomeAgentDataPath[] = [];
afterEach(() => {
  for (const path of paths) path.detach();
  for (const scope of scopes) Effect.runSync(Scope.close(scope, Exit.void));
  paths = [];
  scopes = [];
});

function bindOn(layer: ReturnType<SimNetwork['udpLayer']>, address: number, port: number): UdpSocket {
  const scope = Effect.runSync(Scope.make());
  scopes.push(scope);
  return Effect.runSync(Effect.flatMap(Udp, (udp) => udp.bind({ address, port })).pipe(Scope.extend(scope), Effect.provide(layer)));
}

/** The simulated Udp layer with a batching `sendBatch` on its sockets (as the native layer has), recording each batch's size. */
function batchingLayer(inner: Layer.Layer<Udp>, batches: number[]): Layer.Layer<Udp> {
  return Layer.effect(
    Udp,
    Effect.map(Udp, (udp) => ({
      bind: (options: Parameters<typeof udp.bind>[0]) =>
        Effect.map(udp.bind(options), (socket): UdpSocket => ({
          localAddress: socket.localAddress,
          localPort: socket.localPort,
          send: (data, address, port, source) => socket.send(data, address, port, source),
          sendBatch(datagrams, addresses, ports, count, source) {
            batches.push(count);
            for (let i = 0; i < count; i++) socket.send(datagrams[i]!, addresses[i]!, ports[i]!, source);
          },
          onMessage: (handler) => socket.onMessage(handler),
          onError: (handler) => socket.onError(handler),
        })),
    })),
  ).pipe(Layer.provide(inner));
}

function world(options: { batches?: number[] } = {}) {
  const harness = new Harness(makeConfig({ settings: { addresses: [HA], reverseTunnel: 'allowed' } }));
  const net = new SimNetwork({ clock: harness.clock, seed: 5 });
  const home = net.addSegment('home');
  const corr = net.addSegment('corr');
  const foreign = net.addSegment('foreign');
  const ha = net.addHost('ha', { forwarding: true });
  ha.addInterface('home0', home, { address: HA, prefixLength: PREFIX_LENGTH });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('home', home, { address: R_HOME, prefixLength: 24 });
  r.addInterface('corr', corr, { address: R_CORR, prefixLength: 24 });
  r.addInterface('foreign', foreign, { address: R_FOREIGN, prefixLength: 24 });
  const cn = net.addHost('cn');
  cn.addInterface('eth0', corr, { address: CN, prefixLength: 24 });
  cn.addRoute(0, 0, { via: R_CORR, interface: 'eth0' });
  const nat = net.addHost('nat');
  nat.addInterface('eth0', foreign, { address: NAT, prefixLength: 24 });
  nat.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });

  const path = attachHomeAgentDataPath(harness.agent, simPacketTapLayer(ha), { clock: harness.clock, addresses: [HA], homeNetwork: HOME_NETWORK, prefixLength: PREFIX_LENGTH, homeInterface: 'home0' });
  paths.push(path);
  const scope = Effect.runSync(Scope.make());
  scopes.push(scope);
  const haUdp = options.batches === undefined ? net.udpLayer(ha) : batchingLayer(net.udpLayer(ha), options.batches);
  Effect.runSync(serveHomeAgent(harness.agent, [{ address: HA, port: MIP_PORT }]).pipe(Scope.extend(scope), Effect.provide(haUdp)));
  const natLayer = net.udpLayer(nat);
  const flow = (port: number) => {
    const socket = bindOn(natLayer, NAT, port);
    const received: UdpDatagram[] = [];
    socket.onMessage((d) => void received.push({ ...d, data: d.data.slice() }));
    return { socket, received };
  };
  return { harness, net, cn, path, flow, cnIcmp: recordIcmp(cn) };
}

function datagram(source: number, destination: number, protocol: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(ipv4PacketLength({ header: {} as never, payload }));
  encodeIpv4Packet({ header: { tos: 0, identification: 3, flags: 0, fragmentOffset: 0, ttl: 64, protocol, source, destination }, payload }, bytes, 0);
  return bytes;
}

function tunnelData(inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + inner.length);
  out.set([4, 4, 0, 0]);
  out.set(inner, 4);
  return out;
}

describe('home agent UDP tunnels (RFC 3519) on the simulated network', () => {
  it('registers from behind the NAT, tunnels the correspondent’s ping in UDP from 434 to the NAT’s port, and routes the reply coming back through the registration socket', () => {
    const w = world();
    const node = w.flow(40001);
    node.socket.send(buildRequest({ identification: w.harness.fresh(), careOfAddress: PRIVATE_COA, extensions: [udpTunnelRequest, MHAE()] }), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(node.received).toHaveLength(1);
    expect(node.received[0]!.data[0]).toBe(3);
    expect(node.received[0]!.data[1]).toBe(0);
    expect(w.harness.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT, port: 40001 });

    w.cn.sendIp(datagram(CN, MN1, IpProtocol.ICMP, echoRequest(7, 1)));
    w.harness.clock.advance(1000);
    expect(node.received).toHaveLength(2);
    const message = node.received[1]!;
    expect(message.port).toBe(MIP_PORT);
    expect(message.address).toBe(HA);
    expect([...message.data.subarray(0, 4)]).toEqual([4, 4, 0, 0]);
    expect(ipv4Destination(message.data, 4)).toBe(MN1);
    expect(ipv4Protocol(message.data, 4)).toBe(IpProtocol.ICMP);
    expect(w.path.planeCounters['udp-tunnelled']).toBe(1);

    const reply = new Uint8Array(echoRequest(7, 1));
    reply[0] = IcmpType.EchoReply;
    reply[2] = 0;
    reply[3] = 0;
    const sum = reply.reduce((acc, _b, i) => (i % 2 === 0 ? acc + ((reply[i]! << 8) | (reply[i + 1] ?? 0)) : acc), 0);
    let folded = sum;
    while (folded > 0xffff) folded = (folded & 0xffff) + (folded >>> 16);
    reply[2] = (~folded >>> 8) & 0xff;
    reply[3] = ~folded & 0xff;
    node.socket.send(tunnelData(datagram(MN1, CN, IpProtocol.ICMP, reply)), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(w.cnIcmp.filter((s) => s.type === IcmpType.EchoReply && s.source === MN1)).toHaveLength(1);
    expect(w.path.counters.udpTunnelReceived).toBe(1);
    expect(w.path.counters.udpTunnelBatches).toBe(1);
    expect(w.path.planeCounters['udp-decapsulated']).toBe(1);
    // The tunnel data never reached the registration code.
    expect(w.harness.agent.counters.discarded).toBe(0);
  });

  it('follows the NAT to a new port (rebinding) on tunnel data from it: the next datagram for the node goes there', () => {
    const w = world();
    const node = w.flow(40001);
    node.socket.send(buildRequest({ identification: w.harness.fresh(), careOfAddress: PRIVATE_COA, extensions: [udpTunnelRequest, MHAE()] }), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    const rebound = w.flow(40002);
    rebound.socket.send(tunnelData(datagram(MN1, CN, IpProtocol.UDP, new Uint8Array(12))), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(w.harness.agent.udpTunnels.counters.rebindings).toBe(1);
    w.cn.sendIp(datagram(CN, MN1, IpProtocol.ICMP, echoRequest(7, 2)));
    w.harness.clock.advance(1000);
    // Both the correspondent's Port Unreachable for the node's UDP datagram and its ping go to the new port.
    const echoes = rebound.received.filter((d) => ipv4Source(d.data, 4) === CN && d.data[4 + 20] === IcmpType.Echo);
    expect(echoes).toHaveLength(1);
    expect(node.received).toHaveLength(1); // only the Reply
  });

  it('with a batching registration socket, tunnel data leaves through it (its UDP payload, one sendBatch per plane batch), not the raw socket', () => {
    const batches: number[] = [];
    const w = world({ batches });
    const node = w.flow(40001);
    node.socket.send(buildRequest({ identification: w.harness.fresh(), careOfAddress: PRIVATE_COA, extensions: [udpTunnelRequest, MHAE()] }), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(w.harness.agent.udpTunnelSink).toBeDefined();
    const replies = batches.length;
    for (let i = 0; i < 3; i++) w.cn.sendIp(datagram(CN, MN1, IpProtocol.ICMP, echoRequest(7, 10 + i)));
    w.harness.clock.advance(1000);
    const tunnelled = node.received.filter((d) => d.data[0] === 4);
    expect(tunnelled).toHaveLength(3);
    for (const message of tunnelled) {
      expect(message.port).toBe(MIP_PORT);
      expect([...message.data.subarray(0, 4)]).toEqual([4, 4, 0, 0]);
      expect(ipv4Destination(message.data, 4)).toBe(MN1);
    }
    expect(batches.length).toBe(replies + w.path.counters.udpTunnelSendBatches);
    expect(batches.slice(replies).reduce((a, b) => a + b, 0)).toBe(3);
    expect(w.path.counters.udpTunnelSent).toBe(3);
    // Nothing went through the raw socket's sendBatch.
    expect(w.path.counters.tunnelSent).toBe(0);
  });

  it('a foreign agent behind the NAT: registers under its association, and its keepalive (inner source its care-of address) from a new port moves the flow', () => {
    const w = world();
    const fa = w.flow(40001);
    // The FA's address is the Care-of Address; it added the UDP Tunnel Request after the MHAE and sealed its FHAE.
    fa.socket.send(buildRequest({ identification: w.harness.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest, FHAE()] }), HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(fa.received).toHaveLength(1);
    expect(fa.received[0]!.data[1]).toBe(0);
    expect(w.harness.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT, port: 40001 });
    const keepalive = tunnelData(datagram(FA, HA, IpProtocol.ICMP, echoRequest(9, 1)));
    fa.socket.send(keepalive, HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(w.path.planeCounters['udp-keepalive']).toBe(1);
    expect(w.harness.agent.udpTunnels.counters.rebindings).toBe(0);
    const rebound = w.flow(40002);
    rebound.socket.send(keepalive, HA, MIP_PORT);
    w.harness.clock.advance(1000);
    expect(w.path.planeCounters['udp-keepalive']).toBe(2);
    expect(w.path.planeCounters['udp-decapsulation-unknown-home-address']).toBeUndefined();
    expect(w.harness.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT, port: 40002 });
    expect(w.harness.agent.udpTunnels.counters.rebindings).toBe(1);
  });
});
