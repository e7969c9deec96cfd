/**
 * The foreign agent's reverse tunnelling (RFC 3024) end to end on the simulated network:
 *
 *   ha (198.51.100.1) ── home ── r ── foreign 203.0.113.0/24 ── fa (203.0.113.1)
 *                                                            └─ mn (MAC only, scripted)
 *
 * The home agent is the real one with reverse tunnelling on (it grants 'T'); the mobile node
 * is scripted frames. Checked on the wire: the advertisement's 'T', the denials, the tunnel
 * packets arriving at the home agent, and that the foreign host does not also forward the
 * node's datagrams.
 */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import { ALL_MOBILITY_AGENTS_GROUP, multicastMac, type SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { AdvertisementFlag, decodeAgentAdvertisement, mobilityAgentExtension } from '../../io/wire/agent-discovery.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { ethernetEtherType, ethernetSource, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4PacketLength, ipv4Destination, ipv4Source } from '../../io/wire/ipv4.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { ipInIpDecapsulate } from '../../io/wire/tunnel.js';
import { decodeUdpDatagram, verifyUdpChecksum } from '../../io/wire/udp.js';
import { internetChecksum } from '../../io/wire/bytes.js';
import { SimulatedClock } from '../../io/clock.js';
import { udpFrame } from '../../io/wire/frames.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../../runtime/fa/foreign-agent.js';
import { simVisitorCapture } from '../../runtime/fa/visitor-capture.js';
import { visitorsTable } from '../../runtime/cli/tables.js';
import { startHomeAgent, type RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import type { BindingStore } from '../../runtime/store/binding-store.js';
import { buildRequest, context, FA_KEY, HA, makeConfig, MHAE, MN1, MN1_KEY, START } from './home-agent-harness.js';

const FA = ipv4('203.0.113.1');
const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.5');
const MAC_FA = '02:00:00:00:01:01';
const MAC_MN = '02:00:00:00:01:0a';
const MAC_OTHER = '02:00:00:00:01:0b';
const MAC_R_FOREIGN = '02:00:00:00:01:fe';

function faConfig(settings: Partial<FaConfig['settings']> = {}): FaConfig {
  return {
    settings: {
      careOfAddresses: [FA],
      interfaceAddresses: [FA],
      linkAddress: FA,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunneling: true,
      reverseTunnel: 'offered',
      encapsulatingDelivery: true,
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
      ...settings,
    },
    mobileNodes: [],
    homeAgents: [{ address: HA, contexts: [context(FA_KEY)] }],
    advertisement: { lifetimeSeconds: 30, seed: 5 },
  };
}

interface World {
  clock: SimulatedClock;
  mn: SimHost;
  faHost: SimHost;
  fa: RunningForeignAgent;
  home: RunningHomeAgent;
  /** Frames the mobile node received. */
  toNode: Uint8Array[];
  /** IP datagrams that arrived at the home agent's host. */
  atHomeAgent: Uint8Array[];
  /** Datagrams the foreign agent's host sent to the router on the foreign link. */
  toRouter: Uint8Array[];
  close(): Promise<void>;
}

async function world(config = faConfig(), store?: BindingStore): Promise<World> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 3 });
  const homeLan = net.addSegment('home');
  const foreignLan = net.addSegment('foreign');
  const ha = net.addHost('ha');
  ha.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:01', address: HA, prefixLength: 24 });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:fe', address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreignLan, { mac: MAC_R_FOREIGN, address: R_FOREIGN, prefixLength: 24 });
  // A forwarding foreign host, as a router would be: without the capture it would route the node's datagrams itself.
  const faHost = net.addHost('fa', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  faHost.addInterface('eth0', foreignLan, { mac: MAC_FA, address: FA, prefixLength: 24 });
  faHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const mn = net.addHost('mn');
  mn.addInterface('eth0', foreignLan, { mac: MAC_MN });
  const toNode: Uint8Array[] = [];
  mn.onFrame('eth0', (frame) => {
    if (ethernetSource(frame) !== MAC_MN) toNode.push(frame.slice());
  });
  const atHomeAgent: Uint8Array[] = [];
  ha.onFrame('eth0', (frame) => {
    if (ethernetEtherType(frame) === EtherType.IPv4) atHomeAgent.push(frame.slice(ETHERNET_HEADER_LENGTH));
  });
  const toRouter: Uint8Array[] = [];
  r.onFrame('eth1', (frame) => {
    if (ethernetEtherType(frame) === EtherType.IPv4 && ethernetSource(frame) === MAC_FA) toRouter.push(frame.slice(ETHERNET_HEADER_LENGTH));
  });
  const random = seededRandom(11);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const home = await startHomeAgent(makeConfig({ settings: { reverseTunneling: true } }), { listen: [{ address: HA, port: 434 }], udp: net.udpLayer(ha), clock, random32 });
  const fa = await startForeignAgent(config, {
    interfaceName: 'eth0',
    udp: net.udpLayer(faHost),
    link: net.linkLayer(faHost),
    rawIp: simRawIpLayer(faHost),
    clock,
    random32,
    visitorCapture: simVisitorCapture(faHost, 'eth0', [FA]),
    ...(store === undefined ? {} : { store }),
  });
  return {
    clock,
    mn,
    faHost,
    fa,
    home,
    toNode,
    atHomeAgent,
    toRouter,
    async close() {
      await fa.stop();
      await home.stop();
    },
  };
}

function run(w: World, ms: number): void {
  for (let i = 0; i < ms; i++) w.clock.advance(1);
}

function register(w: World, flags: number, ttl = 255, extensions = [MHAE(MN1_KEY)], destination: Ipv4Address = FA): void {
  const request = buildRequest({ identification: identificationFromUnixMs(w.clock.now(), 1), careOfAddress: FA, lifetime: 600, flags, extensions });
  const destinationMac = destination === ALL_MOBILITY_AGENTS_GROUP ? multicastMac(destination) : MAC_FA;
  w.mn.sendFrame('eth0', udpFrame({ sourceMac: MAC_MN, destinationMac, source: MN1, destination, ttl }, 49152, 434, request));
}

function replyCodes(w: World): number[] {
  const codes: number[] = [];
  for (const frame of w.toNode) {
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH);
    if (!packet.ok || packet.value.header.protocol !== IpProtocol.UDP) continue;
    const udp = decodeUdpDatagram(packet.value.payload);
    if (!udp.ok || udp.value.header.sourcePort !== 434) continue;
    const reply = decodeRegistrationReply(udp.value.payload);
    if (reply.ok) codes.push(reply.value.code);
  }
  return codes;
}

function datagramFromNode(w: World, ttl = 64, sourceMac = MAC_MN): Uint8Array {
  const packet = {
    header: { tos: 0, identification: 77, flags: Ipv4Flag.DontFragment, fragmentOffset: 0, ttl, protocol: IpProtocol.UDP, source: MN1, destination: CN },
    payload: new Uint8Array([0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, 1, 2, 3, 4]),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + bytes.length);
  frame.set([0x02, 0, 0, 0, 0x01, 0x01], 0);
  frame.set(sourceMac.split(':').map((h) => parseInt(h, 16)), 6);
  frame[12] = 0x08;
  frame[13] = 0x00;
  frame.set(bytes, ETHERNET_HEADER_LENGTH);
  w.mn.sendFrame('eth0', frame);
  return bytes;
}

/**
 * A frame from the node whose TCP or UDP checksum field holds only the pseudo-header sum, as a
 * sender on the same host leaves it to offload (CHECKSUM_PARTIAL).
 */
function partialChecksumFrame(protocol: number): Uint8Array {
  const transport = new Uint8Array(protocol === IpProtocol.TCP ? 20 + 101 : 8 + 101);
  for (let i = transport.length - 101; i < transport.length; i++) transport[i] = (i * 13) & 0xff;
  transport.set([0x9c, 0x40, 0x23, 0x29]); // ports 40000 → 9001
  if (protocol === IpProtocol.TCP) {
    transport[12] = 5 << 4;
    transport[13] = 0x18; // PSH ACK
  } else {
    transport[4] = transport.length >> 8;
    transport[5] = transport.length & 0xff;
  }
  const pseudo = (MN1 >>> 16) + (MN1 & 0xffff) + (CN >>> 16) + (CN & 0xffff) + protocol + transport.length;
  const partial = 0xffff - internetChecksum(new Uint8Array(0), 0, 0, pseudo);
  const at = protocol === IpProtocol.TCP ? 16 : 6;
  transport[at] = partial >> 8;
  transport[at + 1] = partial & 0xff;
  const packet = {
    header: { tos: 0, identification: 78, flags: Ipv4Flag.DontFragment, fragmentOffset: 0, ttl: 64, protocol, source: MN1, destination: CN },
    payload: transport,
  };
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + ipv4PacketLength(packet));
  frame.set([0x02, 0, 0, 0, 0x01, 0x01], 0);
  frame.set(MAC_MN.split(':').map((h) => parseInt(h, 16)), 6);
  frame[12] = 0x08;
  encodeIpv4Packet(packet, frame, ETHERNET_HEADER_LENGTH);
  return frame;
}

const tunnelsAtHomeAgent = (w: World) => w.atHomeAgent.filter((d) => d[9] === IpProtocol.IPIP && ipv4Destination(d, 0) === HA);

describe("the foreign agent's reverse tunnel on the simulated network (RFC 3024)", () => {
  it("advertises 'T' when reverse tunnelling is offered or required, not when it is none", async () => {
    for (const [policy, expected] of [['offered', true], ['required', true], ['none', false]] as const) {
      const w = await world(faConfig({ reverseTunnel: policy, reverseTunneling: policy !== 'none' }));
      run(w, 5);
      const advertisement = w.toNode
        .map((frame) => decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH))
        .flatMap((p) => (p.ok && p.value.header.protocol === IpProtocol.ICMP && p.value.payload[0] === 9 ? [decodeAgentAdvertisement(p.value.payload)] : []))[0];
      expect(advertisement?.ok).toBe(true);
      if (advertisement?.ok) expect((mobilityAgentExtension(advertisement.value)!.flags & AdvertisementFlag.T) !== 0).toBe(expected);
      await w.close();
    }
  });

  it("denies on the link as other denials: 74 when none, 75 when required and 'T' is absent, 76 for a 'T' Request not sent with TTL 255", async () => {
    const none = await world(faConfig({ reverseTunnel: 'none', reverseTunneling: false }));
    register(none, RequestFlag.T);
    run(none, 50);
    expect(replyCodes(none)).toEqual([74]);
    await none.close();
    const required = await world(faConfig({ reverseTunnel: 'required' }));
    register(required, 0);
    run(required, 50);
    expect(replyCodes(required)).toEqual([75]);
    await required.close();
    const far = await world();
    register(far, RequestFlag.T, 64);
    run(far, 50);
    expect(replyCodes(far)).toEqual([76]);
    expect(far.fa.agent.counters.deniedByCode[76]).toBe(1);
    await far.close();
  });

  it("a visitor granted 'T' has its datagrams tunnelled from the care-of address to the home agent, inner TTL one less, and the host does not also forward them", async () => {
    const w = await world();
    register(w, RequestFlag.T);
    run(w, 100);
    expect(replyCodes(w)).toEqual([0]);
    expect(w.fa.agent.reverseTunnelOf(MN1)).toEqual({ homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'direct' });
    expect(w.fa.agent.visitors()[0]!.reverseTunnel).toEqual({ encapsulation: 'ip-in-ip', delivery: 'direct' });
    // `mip4 visitors`: a Flags column with 'T' and the delivery style.
    const table = visitorsTable(w.fa.agent.visitors()).split('\n');
    expect(table[1]).toMatch(/\sFlags\s/);
    expect(table[2]).toMatch(/\sT direct\s/);
    const sent = datagramFromNode(w, 64);
    run(w, 50);
    const tunnels = tunnelsAtHomeAgent(w);
    expect(tunnels).toHaveLength(1);
    expect(ipv4Source(tunnels[0]!, 0)).toBe(FA);
    const inner = ipInIpDecapsulate(tunnels[0]!);
    expect(inner.ok).toBe(true);
    if (!inner.ok) return;
    expect(inner.value.inner[8]).toBe(63);
    expect([...inner.value.inner.subarray(9, 10)]).toEqual([...sent.subarray(9, 10)]);
    expect([...inner.value.inner.subarray(12)]).toEqual([...sent.subarray(12)]);
    // Not routed by the host as well: nothing with the home address as source left toward the router.
    expect(w.toRouter.filter((d) => ipv4Source(d, 0) === MN1)).toHaveLength(0);
    expect(w.fa.agent.reverseTunnelCounters.tunnelled).toBe(1);
    await w.close();
  });

  it("a 'T' visitor's renewal sent to 224.0.0.11 with TTL 1 is still a Request to this agent, not a datagram for the tunnel", async () => {
    const w = await world();
    register(w, RequestFlag.T);
    run(w, 1500);
    register(w, RequestFlag.T, 1, [MHAE(MN1_KEY)], ALL_MOBILITY_AGENTS_GROUP);
    run(w, 100);
    expect(replyCodes(w)).toEqual([0, 0]);
    expect(tunnelsAtHomeAgent(w)).toHaveLength(0);
    await w.close();
  });

  it('the same home address from another link-layer address is neither tunnelled nor forwarded, only counted (RFC 3024 delivery styles)', async () => {
    const w = await world();
    register(w, RequestFlag.T);
    run(w, 100);
    datagramFromNode(w, 64, MAC_OTHER);
    run(w, 50);
    expect(tunnelsAtHomeAgent(w)).toHaveLength(0);
    expect(w.toRouter.filter((d) => ipv4Source(d, 0) === MN1)).toHaveLength(0);
    expect(w.fa.agent.reverseTunnelCounters.wrongLinkSource).toBe(1);
    await w.close();
  });

  it("a visitor without 'T' is still routed by the host, not tunnelled", async () => {
    const w = await world();
    register(w, 0);
    run(w, 100);
    expect(replyCodes(w)).toEqual([0]);
    expect(w.fa.agent.reverseTunnelOf(MN1)).toBeUndefined();
    datagramFromNode(w);
    run(w, 50);
    expect(tunnelsAtHomeAgent(w)).toHaveLength(0);
    expect(w.toRouter.filter((d) => ipv4Source(d, 0) === MN1)).toHaveLength(1);
    await w.close();
  });

  it('the encapsulating delivery style is kept with the visitor and survives a restart through the store', async () => {
    const memory = new MemoryBindingStore();
    // The same memory across the restart: stop() closes the agent's store, not this one.
    const store: BindingStore = { load: () => memory.load(), commit: (writes) => memory.commit(writes), close: async () => {} };
    const w = await world(faConfig(), store);
    register(w, RequestFlag.T, 255, [MHAE(MN1_KEY), { unknown: 130, data: new Uint8Array(0) }]);
    run(w, 100);
    // The Reply waits for the store's commit (issue 14).
    for (let turn = 0; turn < 3; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      run(w, 5);
    }
    expect(replyCodes(w)).toEqual([0]);
    expect(w.fa.agent.reverseTunnelOf(MN1)?.delivery).toBe('encapsulating');
    await w.close();
    const again = await world(faConfig(), store);
    expect(again.fa.restored?.bindings).toBe(1);
    expect(again.fa.agent.reverseTunnelOf(MN1)).toEqual({ homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'encapsulating' });
    await again.close();
  });

  it("a 'T' visitor's datagram the link reports checksum-not-ready is tunnelled with its TCP or UDP checksum completed, on a copy; one not so reported is tunnelled as it is", async () => {
    const w = await world();
    register(w, RequestFlag.T);
    run(w, 100);
    expect(replyCodes(w)).toEqual([0]);
    for (const protocol of [IpProtocol.UDP, IpProtocol.TCP]) {
      const frame = partialChecksumFrame(protocol);
      const original = frame.slice();
      w.fa.agent.handleFrame(frame, { checksumNotReady: true });
      w.fa.agent.handleFrame(frame, { checksumNotReady: false });
      run(w, 50);
      expect([...frame]).toEqual([...original]); // the link's frame is never written
    }
    const inners = tunnelsAtHomeAgent(w).map((t) => {
      const inner = ipInIpDecapsulate(t);
      if (!inner.ok) throw new Error('not IP in IP');
      return inner.value.inner;
    });
    expect(inners.map((d) => d[9])).toEqual([IpProtocol.UDP, IpProtocol.UDP, IpProtocol.TCP, IpProtocol.TCP]);
    const transportValid = (d: Uint8Array) =>
      d[9] === IpProtocol.UDP
        ? verifyUdpChecksum(MN1, CN, d, 20)
        : internetChecksum(d, 20, d.length, (MN1 >>> 16) + (MN1 & 0xffff) + (CN >>> 16) + (CN & 0xffff) + IpProtocol.TCP + d.length - 20) === 0;
    expect(inners.map(transportValid)).toEqual([true, false, true, false]);
    expect(w.fa.agent.reverseTunnelCounters.checksumsCompleted).toBe(2);
    expect(w.fa.agent.reverseTunnelCounters.tunnelled).toBe(4);
    await w.close();
  });
});
