/**
 * The home agent's packet path on the simulated network (runtime/ha/home-agent-data-path.ts
 * over io/sim/packet-tap.ts).
 *
 *   cn 192.0.2.20 ── corr ── r ── home 198.51.100.0/24 ── ha 198.51.100.1 (forwarding)
 *                             └── foreign 203.0.113.0/24 ── care-of host 203.0.113.77
 *
 * The agent's binding for MN1 (198.51.100.10) names the care-of host, which takes the tunnels
 * apart with mobileNodeDecapsulation, as a mobile node with a co-located care-of address does.
 */
import { Effect, Layer, Scope } from 'effect';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { rawIpBatchSender } from '../../io/linux/packet-tap.js';
import { PacketTap, type CaptureRule, type OpenedPacketTap, type Packet } from '../../io/packet-tap.js';
import type { RawIpSocket } from '../../io/raw-ip.js';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simPacketTapLayer } from '../../io/sim/packet-tap.js';
import type { UdpDatagram } from '../../io/udp.js';
import { ipv4, readU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol, ipv4Source, ipv4TotalLength } from '../../io/wire/ipv4.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { mobileNodeDecapsulation } from '../../runtime/dataplane/fa-plane.js';
import { attachHomeAgentDataPath, type HomeAgentDataPath } from '../../runtime/ha/home-agent-data-path.js';
import { bindUdp, echoRequest, recordIcmp, type SeenIcmp } from '../sim/network-support.js';
import { buildRequest, COA1, HA, Harness, HOME_NETWORK, makeConfig, MN1, MN_PORT, PREFIX_LENGTH } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_CORR = ipv4('192.0.2.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.20');

/** What the care-of host received in a tunnel, and what it found inside. */
interface TunnelArrival {
  readonly outer: Uint8Array;
  readonly inner: Uint8Array | undefined;
}

interface World {
  readonly harness: Harness;
  readonly net: SimNetwork;
  readonly ha: SimHost;
  readonly r: SimHost;
  readonly cn: SimHost;
  readonly coa: SimHost;
  readonly scope: Scope.CloseableScope;
  readonly path: HomeAgentDataPath;
  readonly tunnels: TunnelArrival[];
  readonly cnIcmp: SeenIcmp[];
}

let open: World[] = [];

afterEach(() => {
  for (const world of open) {
    world.path.detach();
    Effect.runSync(Scope.close(world.scope, Effect.void as never));
  }
  open = [];
});

function world(): World {
  const harness = new Harness(
    makeConfig({ settings: { addresses: [HA], encapsulations: { minimal: true, gre: true } } }),
  );
  const clock = harness.clock;
  const net = new SimNetwork({ clock, seed: 11 });
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
  const coa = net.addHost('coa');
  coa.addInterface('eth0', foreign, { address: COA1, prefixLength: 24 });
  coa.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });

  // The care-of host decapsulates itself and answers echo requests as the home address.
  const decapsulation = mobileNodeDecapsulation({ homeAddress: MN1, careOfAddresses: [COA1], homePrefixLength: PREFIX_LENGTH });
  const tunnels: TunnelArrival[] = [];
  for (const protocol of [IpProtocol.IPIP, IpProtocol.GRE, IpProtocol.MINIMAL_ENCAPSULATION]) {
    coa.onIp(protocol, (datagram) => {
      const out = decapsulation.process([{ bytes: datagram }]);
      const local = out.packets.find((p) => p.kind === 'local' && p.decapsulated);
      const inner = local?.bytes.slice();
      out.release();
      tunnels.push({ outer: datagram.slice(), inner });
      if (inner !== undefined && ipv4Protocol(inner, 0) === IpProtocol.ICMP && inner[ipv4HeaderLength(inner, 0)] === IcmpType.Echo) {
        answerEcho(coa, inner);
      }
    });
  }

  const scope = Effect.runSync(Scope.make());
  const path = attachHomeAgentDataPath(harness.agent, simPacketTapLayer(ha), {
    clock,
    addresses: [HA],
    homeNetwork: HOME_NETWORK,
    prefixLength: PREFIX_LENGTH,
    homeInterface: 'home0',
  });
  const w: World = { harness, net, ha, r, cn, coa, scope, path, tunnels, cnIcmp: recordIcmp(cn) };
  open.push(w);
  return w;
}

/** An Echo Reply from the home address to the request's source, sent from the care-of host (no reverse tunnel). */
function answerEcho(host: SimHost, request: Uint8Array): void {
  const at = ipv4HeaderLength(request, 0);
  const end = ipv4TotalLength(request, 0);
  const identifier = (request[at + 4]! << 8) | request[at + 5]!;
  const sequence = (request[at + 6]! << 8) | request[at + 7]!;
  const data = request.slice(at + 8, end);
  const payload = new Uint8Array(8 + data.length);
  encodeIcmpEcho({ icmpType: IcmpType.EchoReply, code: 0, checksum: 0, checksumValid: true, identifier, sequence, data }, payload, 0);
  host.sendPacket({ protocol: IpProtocol.ICMP, source: MN1, destination: ipv4Source(request, 0), payload });
}

function ping(w: World, sequence: number, ttl?: number): void {
  w.cn.sendPacket({ protocol: IpProtocol.ICMP, destination: MN1, payload: echoRequest(0x77, sequence), ...(ttl !== undefined ? { ttl } : {}) });
  w.harness.clock.advance(3000);
}

/** IP protocols of the IPv4 frames addressed to `destination` on a captured segment. */
function protocolsTo(frames: readonly { frame: Uint8Array }[], destination: Ipv4Address): number[] {
  return frames
    .filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00 && ipv4Destination(f.frame, 14) === destination)
    .map((f) => ipv4Protocol(f.frame, 14));
}

function echoRepliesFromHome(seen: readonly SeenIcmp[]): SeenIcmp[] {
  return seen.filter((s) => s.type === IcmpType.EchoReply && s.source === MN1);
}

describe('home agent data path on the simulated network', () => {
  it.each([
    ['IP in IP', 0, IpProtocol.IPIP],
    ['GRE', RequestFlag.G, IpProtocol.GRE],
    ['minimal encapsulation', RequestFlag.M, IpProtocol.MINIMAL_ENCAPSULATION],
  ])(
    '[R4.2.3-1] a correspondent\'s ping to the home address is intercepted and tunnelled to the care-of address (%s), and the reply from the home address comes back',
    (_name, flags, protocol) => {
      const w = world();
      const capture = w.net.capture();
      w.harness.register({ flags, careOfAddress: COA1 });
      ping(w, 1);

      expect(w.tunnels).toHaveLength(1);
      const { outer, inner } = w.tunnels[0]!;
      expect(ipv4Protocol(outer, 0)).toBe(protocol);
      expect(ipv4Source(outer, 0)).toBe(HA);
      expect(ipv4Destination(outer, 0)).toBe(COA1);
      expect(inner).toBeDefined();
      expect(ipv4Source(inner!, 0)).toBe(CN);
      expect(ipv4Destination(inner!, 0)).toBe(MN1);
      expect(inner![ipv4HeaderLength(inner!, 0)]).toBe(IcmpType.Echo);

      expect(echoRepliesFromHome(w.cnIcmp)).toHaveLength(1);
      expect(protocolsTo(capture.frames('foreign'), COA1)).toEqual([protocol]);
      // Nothing for the home address itself was put on the home link: the agent took it.
      expect(protocolsTo(capture.frames('home'), MN1)).toEqual([IpProtocol.ICMP]);
      expect(w.path.counters.tunnelSent).toBe(1);
      expect(w.path.planeCounters['tunnelled']).toBe(1);
      // The router learnt the home address from the agent's proxy / gratuitous ARP (4.6).
      expect(w.r.arpEntry('home', MN1)?.mac).toBe(w.ha.interface('home0').mac);
    },
  );

  it('looks the forwarding table up once per intercepted datagram (the tap claims by its own set of home addresses)', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    const table = w.harness.agent.forwardingTable;
    const lookups: number[] = [];
    const original = table.lookup.bind(table);
    table.lookup = (address) => {
      lookups.push(address);
      return original(address);
    };
    w.cn.sendPacket({ protocol: IpProtocol.ICMP, destination: MN1, payload: echoRequest(0x77, 1) });
    w.harness.clock.advance(3000);
    table.lookup = original;
    expect(w.tunnels).toHaveLength(1);
    // One for the datagram's destination; the other is the care-of address's loop check.
    expect(lookups.filter((address) => address === MN1)).toHaveLength(1);
    expect(lookups.filter((address) => address !== MN1)).toEqual([COA1]);
  });

  it('[R4.2.3-3] [R4.2.3-4] after deregistration the home address is no longer intercepted', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    ping(w, 1);
    expect(w.tunnels).toHaveLength(1);
    const intercepted = w.ha.counters.intercepted;

    w.harness.register({ careOfAddress: COA1, lifetime: 0 });
    expect(w.harness.agent.forwardingTable.lookup(MN1)).toBeUndefined();
    const capture = w.net.capture();
    ping(w, 2);

    expect(w.tunnels).toHaveLength(1);
    expect(w.ha.counters.intercepted).toBe(intercepted);
    expect(w.path.counters.captured).toBe(1);
    // Forwarded onto the home network as if the node were at home: the agent asks for its address.
    const forwarded = w.ha.counters.forwarded;
    // ARP Target Protocol Address: Ethernet header (14) + ARP offset 24.
    const arpForMn = capture.frames('home').filter((f) => f.frame[12] === 0x08 && f.frame[13] === 0x06 && readU32(f.frame, 38) === MN1);
    expect(arpForMn.length).toBeGreaterThan(0);
    expect(forwarded).toBeGreaterThan(0);
    expect(w.path.homeLink?.proxiedAddresses()).toEqual([]);
  });

  it('a datagram whose TTL runs out at the home agent gets an ICMP Time Exceeded back to its source, not a tunnel', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    ping(w, 1, 2); // the router makes it 1
    expect(w.tunnels).toHaveLength(0);
    const exceeded = w.cnIcmp.filter((s) => s.type === IcmpType.TimeExceeded);
    expect(exceeded).toHaveLength(1);
    expect(exceeded[0]!.source).toBe(HA);
    expect(exceeded[0]!.code).toBe(0);
    expect(exceeded[0]!.quotedDestination).toBe(MN1);
    expect(w.path.counters.icmpSent).toBe(1);
    expect(w.path.planeCounters['ttl-exceeded']).toBe(1);
  });

  it('[R4.3-1] a broadcast on the home network reaches the care-of host nested, only while a binding asks for broadcasts', () => {
    const w = world();
    const broadcast = (port: number): void => {
      const payload = new Uint8Array([0x30, 0x39, port >> 8, port & 0xff, 0, 12, 0, 0, 1, 2, 3, 4]);
      w.r.sendPacket({ protocol: IpProtocol.UDP, destination: 0xffffffff, payload }, { interface: 'home' });
      w.harness.clock.advance(100);
    };
    w.harness.register({ careOfAddress: COA1 });
    broadcast(1000);
    expect(w.tunnels).toHaveLength(0);
    expect(w.path.counters.captured).toBe(0);

    w.harness.register({ careOfAddress: COA1, flags: RequestFlag.B });
    const delivered = w.ha.counters.delivered;
    broadcast(1001);
    expect(w.tunnels).toHaveLength(1);
    const { outer, inner } = w.tunnels[0]!;
    // 4.3 without D: an IP-in-IP datagram to the home address, tunnelled to the care-of address.
    expect(ipv4Protocol(outer, 0)).toBe(IpProtocol.IPIP);
    expect(ipv4Destination(outer, 0)).toBe(COA1);
    expect(ipv4Protocol(outer, 20)).toBe(IpProtocol.IPIP);
    expect(ipv4Destination(outer, 20)).toBe(MN1);
    expect(ipv4Destination(outer, 40)).toBe(0xffffffff);
    expect(inner).toBeDefined();
    expect(ipv4Destination(inner!, 0)).toBe(0xffffffff);
    expect(ipv4Source(inner!, 0)).toBe(R_HOME);
    expect(inner![ipv4HeaderLength(inner!, 0) + 3]).toBe(1001 & 0xff);
    // The agent's host still received the broadcast itself (a copy was taken, not the datagram).
    expect(w.ha.counters.delivered).toBeGreaterThan(delivered);
  });

  it('[R3.8.3.1-2] [R3.8.3.1-3] a Reply to a refused deregistration from home goes onto the home network, bypassing the binding', () => {
    const w = world();
    w.harness.register({ careOfAddress: COA1 });
    // The mobile node is back on its home link.
    const mn = w.net.addHost('mn');
    mn.addInterface('eth0', w.net.segment('home'), { address: MN1, prefixLength: PREFIX_LENGTH });
    const mnSocket = bindUdp(w.net, mn, w.scope, { address: MN1, port: MN_PORT });
    const received: UdpDatagram[] = [];
    mnSocket.onMessage((d) => received.push(d));
    const haSocket = bindUdp(w.net, w.ha, w.scope, { address: HA, port: 434 });

    // Deregistration from home with a stale Identification: refused (133), so the binding stays.
    const request = buildRequest({
      lifetime: 0,
      careOfAddress: MN1,
      identification: identificationFromUnixMs(w.harness.clock.now() - 60_000),
    });
    let code: number | undefined;
    w.harness.agent.handleRequest(
      { data: request, source: MN1, sourcePort: MN_PORT, destination: HA, destinationPort: 434 },
      (data, destination, port) => {
        code = data[1];
        haSocket.send(data, destination, port);
      },
    );
    w.harness.clock.advance(3000);
    expect(code).toBe(133);
    expect(w.harness.agent.forwardingTable.lookup(MN1)).toBeDefined();
    expect(received).toHaveLength(1);
    expect(received[0]!.data[0]).toBe(3);
    expect(w.tunnels).toHaveLength(0);
    expect(w.path.counters.registrationReplyExempt).toBe(1);

    // Any other datagram from the agent's host to the home address is still claimed by the binding.
    const other = bindUdp(w.net, w.ha, w.scope, { address: HA, port: 5000 });
    other.send(new Uint8Array([3, 0, 0, 0]), MN1, MN_PORT);
    w.harness.clock.advance(3000);
    expect(received).toHaveLength(1);
    expect(w.path.counters.captured).toBe(1);
  });
});

/** A tap whose batches the test pushes, recording what the path sends and claims. */
function fakeTap(): { layer: Layer.Layer<PacketTap>; push(packets: Packet[]): void; rule(): CaptureRule; sent: number[]; claimed: Set<number> } {
  const batches = new Subject<readonly Packet[]>();
  const sent: number[] = [];
  const claimed = new Set<number>();
  let rule: CaptureRule | undefined;
  const tap: OpenedPacketTap = {
    batches,
    counters: { captured: 0, shed: 0, batches: 0 },
    claim: (address) => void claimed.add(address),
    unclaim: (address) => void claimed.delete(address),
    send: (_datagram, destination) => (sent.push(destination), true),
    sendBatch: (_datagrams, destinations, count) => (sent.push(...destinations.slice(0, count)), count),
    reinject: (datagram) => (sent.push(ipv4Destination(datagram, 0)), true),
    openHomeLink: () => ({ name: 'home0', mac: '02:00:00:00:00:01', mtu: 1500, send() {}, onFrame() {}, onError() {} }),
    onError() {},
    queued: () => 0,
    flush() {},
  };
  const layer = Layer.succeed(PacketTap, {
    open: (options) =>
      Effect.sync(() => {
        rule = options.rule;
        return tap;
      }),
  });
  return { layer, push: (packets) => batches.next(packets), rule: () => rule!, sent, claimed };
}

/** A 28-byte UDP datagram from the correspondent to `destination` with a good header checksum. */
function udpTo(destination: number): Uint8Array {
  const datagram = new Uint8Array(28);
  datagram.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, IpProtocol.UDP]);
  new DataView(datagram.buffer).setUint32(12, CN);
  new DataView(datagram.buffer).setUint32(16, destination);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (datagram[i]! << 8) | datagram[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  new DataView(datagram.buffer).setUint16(10, ~sum & 0xffff);
  return datagram;
}

describe('the data path over any PacketTap', () => {
  it('[R4.2.3-1] claims the home addresses with a binding as the table changes, and sends what the plane builds through the tap', () => {
    const harness = new Harness();
    const tap = fakeTap();
    harness.register({ careOfAddress: COA1 });
    const path = attachHomeAgentDataPath(harness.agent, tap.layer, {
      clock: harness.clock,
      addresses: [HA],
      homeNetwork: HOME_NETWORK,
      prefixLength: PREFIX_LENGTH,
      homeInterface: 'home0',
    });
    expect([...tap.claimed]).toEqual([MN1]);
    tap.push([{ bytes: udpTo(MN1), forwarded: true }, { bytes: udpTo(MN1), forwarded: true }]);
    expect(tap.sent).toEqual([COA1, COA1]);
    expect(path.counters.tunnelSent).toBe(2);
    // A datagram whose binding went meanwhile goes back to the host (4.2.3: assumed at home).
    tap.push([{ bytes: udpTo(ipv4('198.51.100.99')), forwarded: true }]);
    expect(tap.sent.at(-1)).toBe(ipv4('198.51.100.99'));
    expect(path.counters.reinjected).toBe(1);

    harness.register({ careOfAddress: COA1, lifetime: 0 });
    expect([...tap.claimed]).toEqual([]);
    harness.register({ careOfAddress: COA1 });
    expect([...tap.claimed]).toEqual([MN1]);
    path.detach();
    expect([...tap.claimed]).toEqual([]);
  });
});

describe('the simulated tap\'s input edge', () => {
  it('sheds (and counts) what exceeds the queue limit, and hands the rest to the plane in bounded batches at the next clock step', () => {
    const harness = new Harness();
    const net = new SimNetwork({ clock: harness.clock, seed: 3 });
    const home = net.addSegment('home');
    const ha = net.addHost('ha', { forwarding: true });
    ha.addInterface('home0', home, { address: HA, prefixLength: PREFIX_LENGTH });
    ha.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
    const path = attachHomeAgentDataPath(harness.agent, simPacketTapLayer(ha), {
      clock: harness.clock,
      addresses: [HA],
      homeNetwork: HOME_NETWORK,
      prefixLength: PREFIX_LENGTH,
      homeInterface: 'home0',
      queueLimit: 3,
      maxBatch: 2,
    });
    harness.register({ careOfAddress: COA1 });
    // Five datagrams from the host itself to the bound home address in one instant.
    for (let i = 0; i < 5; i++) expect(ha.sendIp(udpTo(MN1))).toBe('intercepted');
    expect(path.queued()).toBe(3);
    expect(path.counters.captured).toBe(5);
    expect(path.counters.shed).toBe(2);
    expect(path.planeCounters['tunnelled']).toBeUndefined();
    harness.clock.advance(0);
    expect(path.queued()).toBe(0);
    expect(path.counters.batches).toBe(2);
    expect(path.planeCounters['tunnelled']).toBe(3);
    expect(path.counters.tunnelSent).toBe(3);

    path.detach();
    expect(ha.sendIp(udpTo(MN1))).not.toBe('intercepted');
  });
});

describe('rawIpBatchSender', () => {
  it('sends runs of datagrams sharing a buffer in one sendBatch, and a datagram the kernel refused does not stop the rest', () => {
    const calls: Array<{ kind: 'batch' | 'single'; destinations: number[] }> = [];
    const refused = new Set([3]); // the kernel refuses the packet going to destination 3
    const socket: RawIpSocket = {
      protocol: 255,
      headerIncluded: true,
      send(_datagram, destination) {
        calls.push({ kind: 'single', destinations: [destination] });
        return !refused.has(destination);
      },
      sendBatch(batch, destinations) {
        // sendmmsg: stops at the first packet it cannot send.
        const list = [...destinations.subarray(0, batch.count)];
        calls.push({ kind: 'batch', destinations: list });
        const stop = list.findIndex((d) => refused.has(d));
        return stop < 0 ? batch.count : stop;
      },
      onPacket() {},
      onPackets() {},
      onError() {},
    };
    const slabA = new Uint8Array(256);
    const slabB = new Uint8Array(256);
    const datagrams = [slabA.subarray(0, 40), slabA.subarray(64, 104), slabA.subarray(128, 168), slabA.subarray(192, 232), slabB.subarray(0, 40)];
    const sent = rawIpBatchSender(socket)(datagrams, [1, 2, 3, 4, 5], datagrams.length);
    expect(sent).toBe(4);
    expect(calls).toStrictEqual([
      { kind: 'batch', destinations: [1, 2, 3, 4] }, // one buffer: one call; stops at 3
      { kind: 'single', destinations: [3] }, // tried alone, refused: counted, skipped
      { kind: 'batch', destinations: [4] },
      { kind: 'batch', destinations: [5] }, // another buffer: another call
    ]);
  });
});
