/**
 * The foreign agent's UDP tunnelling (RFC 3519) on the simulated network, with a scripted home
 * agent (it answers the relayed Request with or without a UDP Tunnel Reply extension and sends
 * tunnel data messages) and a scripted mobile node:
 *
 *   ha (198.51.100.1, scripted) ── home ── r ── foreign 203.0.113.0/24 ── fa (203.0.113.1)
 *                                                                      └─ mn (frames)
 *
 * Checked on the wire: what the agent relays and strips, tunnel data delivered to the node,
 * the node's datagrams reverse-tunnelled over UDP 434 → 434, keepalives on an idle flow only,
 * and the flow's end with the registration.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Layer } from 'effect';
import type { Udp } from '../../io/udp.js';
import { LinuxUdpLive } from '../../io/linux/udp.js';
import { META_WORDS, type NativeIo } from '../../io/linux/native.js';
import { SimNetwork } from '../../io/sim/network.js';
import { ALL_MOBILITY_AGENTS_GROUP, type SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { ipv4, toHex, type Ipv4Address } from '../../io/wire/bytes.js';
import { ethernetEtherType, ethernetSource, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { decodeIcmpEcho } from '../../io/wire/icmp.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, RequestFlag, type RegistrationExtension, type RegistrationReply, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { decodeUdpDatagram, encodeUdpDatagram } from '../../io/wire/udp.js';
import { SimulatedClock } from '../../io/clock.js';
import { AdvertisementFlag, decodeAgentAdvertisement, mobilityAgentExtension } from '../../io/wire/agent-discovery.js';
import { udpFrame } from '../../io/wire/frames.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';
import { startForeignAgent, type FaConfig, type RunningForeignAgent } from '../../runtime/fa/foreign-agent.js';
import { simVisitorCapture } from '../../runtime/fa/visitor-capture.js';
import { visitorsTable } from '../../runtime/cli/tables.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import type { BindingStore } from '../../runtime/store/binding-store.js';
import { KEEPALIVE_ECHO_IDENTIFIER } from '../../runtime/dataplane/fa-udp-tunnel.js';
import { TUNNEL_DATA_HEADER_LENGTH, tunnelDataNextHeader, TunnelNextHeader, udpTunnelReply, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import { buildRequest, context, FA_KEY, HA, MHAE, MN1, MN1_KEY, MN2, MN2_KEY, START } from './home-agent-harness.js';

/**
 * A stand-in for the native helper (only `world(..., linuxUdp)` loads it): io/linux/udp.ts's
 * sockets run on it unchanged. Each sendUdpBatch call (one sendmmsg) is recorded with the
 * datagrams it carried; `receive` hands a batch to a socket's reader as one recvmmsg wakeup.
 */
const fakeNative = vi.hoisted(() => {
  interface Sent { readonly data: Uint8Array; readonly address: number; readonly port: number }
  const state = {
    sendCalls: [] as Sent[][],
    readers: new Map<number, { data: Uint8Array; meta: Int32Array; callback: (count: number) => void }>(),
    nextFd: 100,
  };
  const native = {
    openUdp: (address: number, port: number) => ({ fd: state.nextFd++, address, port }),
    watchWritable: () => ({}),
    armWritable: () => {},
    stopWritable: () => {},
    startReader: (fd: number, _kind: number, data: Uint8Array, _max: number, meta: Int32Array, callback: (count: number) => void) => {
      state.readers.set(fd, { data, meta, callback });
      return { fd };
    },
    stopReader: () => {},
    close: () => {},
    sendUdpBatch: (_fd: number, slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, addresses: Uint32Array, ports: Int32Array, head: number, tail: number) => {
      const call: Sent[] = [];
      for (let i = head; i < tail; i++) call.push({ data: slab.slice(offsets[i]!, offsets[i]! + lengths[i]!), address: addresses[i]! >>> 0, port: ports[i]! });
      state.sendCalls.push(call);
      return tail - head;
    },
  };
  return { state, native };
});
vi.mock('../../io/linux/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../io/linux/native.js')>()),
  loadNative: () => fakeNative.native as unknown as NativeIo,
}));

/** One recvmmsg wakeup on the fake socket `fd`: these datagrams from `source`:`port`, to `destination`. */
function fakeReceive(fd: number, datagrams: readonly Uint8Array[], source: Ipv4Address, port: number, destination: Ipv4Address): void {
  const reader = fakeNative.state.readers.get(fd)!;
  let at = 0;
  datagrams.forEach((d, i) => {
    reader.data.set(d, at);
    reader.meta.set([at, d.length, source | 0, port, destination | 0], i * META_WORDS);
    at += d.length;
  });
  reader.callback(datagrams.length);
}

const FA = ipv4('203.0.113.1');
const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.5');
const MAC_FA = '02:00:00:00:01:01';
const MAC_MN = '02:00:00:00:01:0a';
const MN_HA = createSecurityContext({ spi: MN1_KEY.spi, key: MN1_KEY.key });
const FA_HA = createSecurityContext({ spi: FA_KEY.spi, key: FA_KEY.key });

function faConfig(udpTunnel: 'auto' | 'force' | 'off' = 'auto'): FaConfig {
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
      udpTunnel,
    },
    mobileNodes: [],
    homeAgents: [{ address: HA, contexts: [context(FA_KEY)] }],
    advertisement: { lifetimeSeconds: 30, seed: 5 },
  };
}

/** A UDP datagram that reached the scripted home agent. */
interface AtHa {
  readonly source: Ipv4Address;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Uint8Array;
}

interface World {
  clock: SimulatedClock;
  mn: SimHost;
  ha: SimHost;
  fa: RunningForeignAgent;
  toNode: Uint8Array[];
  /** UDP datagrams that reached the home agent's host. */
  udpAtHa: AtHa[];
  /** IP-in-IP datagrams that reached it. */
  ipInIpAtHa: Uint8Array[];
  close(): Promise<void>;
}

async function world(config = faConfig(), batchUdpTunnel = false, store?: BindingStore, udpLayer?: Layer.Layer<Udp>): Promise<World> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 3 });
  const homeLan = net.addSegment('home');
  const foreignLan = net.addSegment('foreign');
  const ha = net.addHost('ha');
  ha.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:01', address: HA, prefixLength: 24 });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:fe', address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreignLan, { mac: '02:00:00:00:01:fe', address: R_FOREIGN, prefixLength: 24 });
  const faHost = net.addHost('fa', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  faHost.addInterface('eth0', foreignLan, { mac: MAC_FA, address: FA, prefixLength: 24 });
  faHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const mn = net.addHost('mn');
  mn.addInterface('eth0', foreignLan, { mac: MAC_MN });
  const toNode: Uint8Array[] = [];
  mn.onFrame('eth0', (frame) => {
    if (ethernetSource(frame) !== MAC_MN) toNode.push(frame.slice());
  });
  const udpAtHa: AtHa[] = [];
  // The scripted home agent takes every UDP datagram (no port unreachable goes back).
  ha.setUdpInput((datagram, headerLength) => {
    const ip = decodeIpv4Packet(datagram);
    const udp = decodeUdpDatagram(datagram.subarray(headerLength));
    if (ip.ok && udp.ok) {
      udpAtHa.push({ source: ip.value.header.source >>> 0, sourcePort: udp.value.header.sourcePort, destinationPort: udp.value.header.destinationPort, payload: udp.value.payload.slice() });
    }
    return true;
  });
  const ipInIpAtHa: Uint8Array[] = [];
  ha.onIp(IpProtocol.IPIP, (datagram) => ipInIpAtHa.push(datagram.slice()));
  const random = seededRandom(11);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const fa = await startForeignAgent(config, {
    interfaceName: 'eth0',
    udp: udpLayer ?? net.udpLayer(faHost),
    link: net.linkLayer(faHost),
    rawIp: simRawIpLayer(faHost),
    clock,
    random32,
    visitorCapture: simVisitorCapture(faHost, 'eth0', [FA]),
    batchUdpTunnel,
    ...(store === undefined ? {} : { store }),
  });
  return { clock, mn, ha, fa, toNode, udpAtHa, ipInIpAtHa, close: () => fa.stop() };
}

function run(w: World, ms: number): void {
  for (let i = 0; i < ms; i += 10) w.clock.advance(10);
}

function register(w: World, lifetime = 600, node: { readonly homeAddress: Ipv4Address; readonly key: typeof MN1_KEY; readonly mac: string } = { homeAddress: MN1, key: MN1_KEY, mac: MAC_MN }): void {
  const request = buildRequest({ identification: identificationFromUnixMs(w.clock.now(), 1), homeAddress: node.homeAddress, careOfAddress: FA, lifetime, flags: RequestFlag.T, extensions: [MHAE(node.key)] });
  w.mn.sendFrame('eth0', udpFrame({ sourceMac: node.mac, destinationMac: MAC_FA, source: node.homeAddress, destination: FA, ttl: 255 }, 49152, 434, request));
}

/** A second node on the visitors' link (another link-layer address). */
const NODE2 = { homeAddress: MN2, key: MN2_KEY, mac: '02:00:00:00:01:0b' };

/** The Requests the agent relayed to the home agent, decoded. */
function relayedRequests(w: World): { request: RegistrationRequest; bytes: Uint8Array }[] {
  const out: { request: RegistrationRequest; bytes: Uint8Array }[] = [];
  for (const d of w.udpAtHa) {
    if (d.payload[0] !== 1) continue;
    const decoded = decodeRegistrationRequest(d.payload);
    if (decoded.ok) out.push({ request: decoded.value, bytes: d.payload });
  }
  return out;
}

function udpReplyExtension(code: number, keepalive: number): RegistrationExtension {
  return udpTunnelReply({ code, keepaliveInterval: keepalive });
}

/** The scripted home agent answers the last relayed Request: accepted, with `udp` (the UDP Tunnel Reply) after the MHAE when given. */
function answer(w: World, udp?: RegistrationExtension, code = 0): void {
  sendUdpFromHa(w, replyMessage(w, udp, code));
}

/** The signed Reply `answer` sends. */
function replyMessage(w: World, udp?: RegistrationExtension, code = 0): Uint8Array {
  const relayed = relayedRequests(w).at(-1)!.request;
  const reply: RegistrationReply = {
    type: 3,
    code,
    lifetime: relayed.lifetime,
    homeAddress: relayed.homeAddress,
    homeAgent: HA,
    identification: relayed.identification,
    extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, MN_HA.spi), ...(udp === undefined ? [] : [udp]), authPlaceholder(ExtensionType.ForeignHomeAuth, FA_HA.spi)],
  };
  return encodeSigned(reply, (type) => (type === ExtensionType.MobileHomeAuth ? MN_HA : type === ExtensionType.ForeignHomeAuth ? FA_HA : undefined));
}

function sendUdpFromHa(w: World, payload: Uint8Array, destination: Ipv4Address = FA): void {
  const udp = new Uint8Array(8 + payload.length);
  encodeUdpDatagram({ sourcePort: 434, destinationPort: 434, source: HA, destination, payload }, udp, 0);
  w.ha.sendPacket({ protocol: IpProtocol.UDP, source: HA, destination, payload: udp });
}

function datagram(source: Ipv4Address, destination: Ipv4Address, size = 12, ttl = 64): Uint8Array {
  const packet = {
    header: { tos: 0, identification: 77, flags: Ipv4Flag.DontFragment, fragmentOffset: 0, ttl, protocol: IpProtocol.UDP, source, destination },
    payload: new Uint8Array(size).fill(9),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

/** A tunnel data message (RFC 3519 3.3, Next Header 4) carrying `inner`. */
function tunnelData(inner: Uint8Array): Uint8Array {
  const message = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + inner.length);
  writeTunnelDataHeader(message, 0, TunnelNextHeader.IpInIp);
  message.set(inner, TUNNEL_DATA_HEADER_LENGTH);
  return message;
}

function sendFromNode(w: World, bytes: Uint8Array): void {
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + bytes.length);
  frame.set([0x02, 0, 0, 0, 0x01, 0x01], 0);
  frame.set([0x02, 0, 0, 0, 0x01, 0x0a], 6);
  frame[12] = 0x08;
  frame.set(bytes, ETHERNET_HEADER_LENGTH);
  w.mn.sendFrame('eth0', frame);
}

function repliesToNode(w: World): { reply: RegistrationReply; bytes: Uint8Array }[] {
  const out: { reply: RegistrationReply; bytes: Uint8Array }[] = [];
  for (const frame of w.toNode) {
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH);
    if (!packet.ok || packet.value.header.protocol !== IpProtocol.UDP) continue;
    const udp = decodeUdpDatagram(packet.value.payload);
    if (!udp.ok || udp.value.header.sourcePort !== 434) continue;
    const reply = decodeRegistrationReply(udp.value.payload);
    if (reply.ok) out.push({ reply: reply.value, bytes: udp.value.payload });
  }
  return out;
}

/** Tunnel data messages at the home agent: [inner datagram] of each. */
function tunnelDataAtHa(w: World): Uint8Array[] {
  return w.udpAtHa.filter((d) => d.payload[0] === 4).map((d) => d.payload.subarray(TUNNEL_DATA_HEADER_LENGTH));
}

function keepalivesAtHa(w: World): number {
  return tunnelDataAtHa(w).filter((inner) => {
    const ip = decodeIpv4Packet(inner);
    if (!ip.ok || ip.value.header.protocol !== IpProtocol.ICMP) return false;
    const echo = decodeIcmpEcho(ip.value.payload);
    return echo.ok && echo.value.icmpType === 8 && echo.value.identifier === KEEPALIVE_ECHO_IDENTIFIER && ip.value.header.source === FA && ip.value.header.destination === HA;
  }).length;
}

async function registeredWithUdp(keepalive = 25, batchUdpTunnel = false): Promise<World> {
  const w = await world(faConfig(), batchUdpTunnel);
  register(w);
  run(w, 50);
  answer(w, udpReplyExtension(0, keepalive));
  run(w, 50);
  return w;
}

describe('the foreign agent behind a NAT (RFC 3519 4.5), simulated, scripted home agent', () => {
  it("advertises 'U' when udpTunnel is auto or force, never when off (RFC 3519 3.4)", async () => {
    for (const [mode, expected] of [['auto', AdvertisementFlag.U], ['force', AdvertisementFlag.U], ['off', 0]] as const) {
      const w = await world(faConfig(mode));
      try {
        run(w, 50);
        const flags = w.toNode
          .map((frame) => decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH))
          .flatMap((p) => (p.ok && p.value.header.protocol === IpProtocol.ICMP ? [decodeAgentAdvertisement(p.value.payload)] : []))
          .flatMap((a) => (a.ok ? [mobilityAgentExtension(a.value)!.flags] : []));
        expect(flags.length, mode).toBeGreaterThan(0);
        expect(flags[0]! & AdvertisementFlag.U, mode).toBe(expected);
      } finally {
        await w.close();
      }
    }
  });

  it("relays the node's Request with its own UDP Tunnel Request after the MHAE, under the FHAE; udpTunnel off adds none", async () => {
    const w = await world();
    try {
      register(w);
      run(w, 50);
      const [relayed] = relayedRequests(w);
      expect(relayed).toBeDefined();
      const types = relayed!.request.extensions.map((e) => (e as { type: number }).type);
      expect(types).toEqual([ExtensionType.MobileHomeAuth, 144, ExtensionType.ForeignHomeAuth]);
      // From the care-of address's 434: the flow the NAT maps and the tunnel data use.
      expect(w.udpAtHa[0]).toMatchObject({ source: FA, sourcePort: 434, destinationPort: 434 });
    } finally {
      await w.close();
    }
    const off = await world(faConfig('off'));
    try {
      register(off);
      run(off, 50);
      expect(relayedRequests(off)[0]!.request.extensions.map((e) => (e as { type: number }).type)).toEqual([ExtensionType.MobileHomeAuth, ExtensionType.ForeignHomeAuth]);
    } finally {
      await off.close();
    }
  });

  it('a Reply granting UDP tunnelling reaches the node without the UDP Tunnel Reply extension; the visitor shows it', async () => {
    const w = await registeredWithUdp(25);
    try {
      const [relayed] = repliesToNode(w);
      expect(relayed?.reply.code).toBe(0);
      expect(relayed!.reply.extensions.map((e) => (e as { type: number }).type)).toEqual([ExtensionType.MobileHomeAuth]);
      expect(w.fa.agent.visitors()[0]).toMatchObject({ homeAddress: '198.51.100.10', udpTunnel: { keepaliveInterval: 25 }, reverseTunnel: { encapsulation: 'ip-in-ip' } });
      expect(w.fa.agent.udpFlows.flowList()).toEqual([{ homeAgent: '198.51.100.1', careOfAddress: '203.0.113.1', visitors: 1, keepaliveInterval: 25, keepalives: 0 }]);
      expect(w.fa.agent.udpFlows.counters.granted).toBe(1);
      // `mip4 visitors`: the Flags column says so.
      expect(visitorsTable(w.fa.agent.visitors())).toMatch(/T direct UDP 25s/);
    } finally {
      await w.close();
    }
  });

  it("tunnel data messages from the home agent's 434 are delivered to the visitor at its link-layer address (RFC 3519 4.3, RFC 5944 4.2.2)", async () => {
    const w = await registeredWithUdp();
    try {
      w.toNode.length = 0;
      const inner = datagram(CN, MN1, 40);
      const message = tunnelData(inner);
      sendUdpFromHa(w, message);
      run(w, 50);
      const delivered = w.toNode.filter((f) => ethernetEtherType(f) === EtherType.IPv4 && toHex(f.subarray(ETHERNET_HEADER_LENGTH)) === toHex(inner));
      expect(delivered).toHaveLength(1);
      expect(toHex(delivered[0]!.subarray(0, 6))).toBe('02000000010a');
      expect(w.fa.agent.dataPlane.counters['udp-tunnel-delivered']).toBe(1);
    } finally {
      await w.close();
    }
  });

  it("the visitor's datagrams ('T') go to the home agent as tunnel data messages from 434 to 434, none as IP in IP (RFC 3519 4.2)", async () => {
    const w = await registeredWithUdp();
    try {
      const out = datagram(MN1, CN, 30);
      sendFromNode(w, out);
      run(w, 50);
      const carried = tunnelDataAtHa(w).filter((inner) => inner[9] === IpProtocol.UDP);
      expect(carried).toHaveLength(1);
      expect(toHex(carried[0]!.subarray(12))).toBe(toHex(out.subarray(12)));
      expect(carried[0]![8]).toBe(63);
      const fromFa = w.udpAtHa.filter((d) => d.payload[0] === 4);
      expect(fromFa.every((d) => d.source === FA && d.sourcePort === 434 && d.destinationPort === 434)).toBe(true);
      expect(w.ipInIpAtHa).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it('batchUdpTunnel (the Linux daemon): the messages one wakeup hands over go through the plane as one batch', async () => {
    const w = await registeredWithUdp(25, true);
    try {
      const batches: number[] = [];
      const original = w.fa.agent.handleUdpTunnelBatch.bind(w.fa.agent);
      w.fa.agent.handleUdpTunnelBatch = (batch) => {
        batches.push(batch.length);
        original(batch);
      };
      w.toNode.length = 0;
      for (let i = 0; i < 3; i++) {
        const inner = datagram(CN, MN1, 20 + i);
        const message = tunnelData(inner);
        sendUdpFromHa(w, message);
      }
      run(w, 50);
      await Promise.resolve();
      expect(batches).toEqual([3]);
      expect(w.fa.agent.dataPlane.counters['udp-tunnel-delivered']).toBe(3);
    } finally {
      await w.close();
    }
  });

  it('keepalives (RFC 3519 4.9): one per granted interval on an idle flow, none while the flow carries traffic', async () => {
    const w = await registeredWithUdp(25);
    try {
      run(w, 24_000);
      expect(keepalivesAtHa(w)).toBe(0);
      run(w, 1_100);
      expect(keepalivesAtHa(w)).toBe(1);
      run(w, 25_000);
      expect(keepalivesAtHa(w)).toBe(2);
      // The node talks every 10 s: the flow is never idle for 25 s, no keepalive goes.
      for (let i = 0; i < 6; i++) {
        sendFromNode(w, datagram(MN1, CN));
        run(w, 10_000);
      }
      expect(keepalivesAtHa(w)).toBe(2);
      run(w, 26_000);
      expect(keepalivesAtHa(w)).toBe(3);
      const [keepalive] = w.udpAtHa.filter((d) => d.payload[0] === 4 && d.payload[4 + 9] === IpProtocol.ICMP);
      expect(keepalive).toMatchObject({ source: FA, sourcePort: 434, destinationPort: 434 });
      expect(tunnelDataNextHeader(keepalive!.payload, 0, keepalive!.payload.length)).toBe(4);
      expect(w.fa.agent.udpFlows.counters.keepalives).toBe(3);
    } finally {
      await w.close();
    }
  });

  it('keepalives as the home agent expects (RFC 3519 4.9): an Echo Request care-of address → home agent in a tunnel data message on 434 → 434, one per flow for two visitors, every 110 s when the Reply grants 0, none after the last visitor leaves', async () => {
    const w = await world();
    try {
      register(w);
      run(w, 50);
      answer(w, udpReplyExtension(0, 0));
      run(w, 50);
      register(w, 600, NODE2);
      run(w, 50);
      answer(w, udpReplyExtension(0, 0));
      run(w, 50);
      expect(w.fa.agent.visitors().map((v) => v.udpTunnel)).toEqual([{ keepaliveInterval: 110 }, { keepaliveInterval: 110 }]);
      expect(w.fa.agent.udpFlows.flowList()).toMatchObject([{ visitors: 2, keepaliveInterval: 110 }]);
      const keepalives = () => w.udpAtHa.filter((d) => d.payload[0] === 4 && d.payload[TUNNEL_DATA_HEADER_LENGTH + 9] === IpProtocol.ICMP);
      run(w, 109_000);
      expect(keepalives()).toHaveLength(0);
      run(w, 1_000);
      expect(keepalives()).toHaveLength(1);
      run(w, 110_000);
      expect(keepalives()).toHaveLength(2);
      for (const k of keepalives()) {
        expect(k).toMatchObject({ source: FA, sourcePort: 434, destinationPort: 434 });
        expect(tunnelDataNextHeader(k.payload, 0, k.payload.length)).toBe(4);
        const ip = decodeIpv4Packet(k.payload, TUNNEL_DATA_HEADER_LENGTH);
        expect(ip.ok && ip.value.header).toMatchObject({ source: FA, destination: HA, protocol: IpProtocol.ICMP, checksumValid: true });
        const echo = ip.ok ? decodeIcmpEcho(ip.value.payload) : undefined;
        expect(echo?.ok && echo.value).toMatchObject({ icmpType: 8, code: 0, identifier: KEEPALIVE_ECHO_IDENTIFIER, checksumValid: true });
      }
      // One visitor leaves: the flow and its keepalives stay for the other.
      register(w, 0, NODE2);
      run(w, 50);
      answer(w, undefined);
      run(w, 50);
      expect(w.fa.agent.udpFlows.flowList()).toMatchObject([{ visitors: 1 }]);
      run(w, 110_000);
      expect(keepalives()).toHaveLength(3);
      // The last one leaves: no flow, no keepalive.
      register(w, 0);
      run(w, 50);
      answer(w, undefined);
      run(w, 50);
      expect(w.fa.agent.udpFlows.flowList()).toEqual([]);
      run(w, 400_000);
      expect(keepalives()).toHaveLength(3);
    } finally {
      await w.close();
    }
  });

  it('without a grant (no extension, or declined) the visitor keeps IP in IP and no flow is kept', async () => {
    for (const udp of [undefined, udpReplyExtension(64, 25)]) {
      const w = await world();
      try {
        register(w);
        run(w, 50);
        answer(w, udp);
        run(w, 50);
        expect(repliesToNode(w)[0]?.reply.code).toBe(0);
        expect(w.fa.agent.visitors()[0]?.udpTunnel).toBeUndefined();
        expect(w.fa.agent.udpFlows.flowList()).toEqual([]);
        sendFromNode(w, datagram(MN1, CN));
        run(w, 50);
        expect(w.ipInIpAtHa).toHaveLength(1);
        expect(tunnelDataAtHa(w)).toEqual([]);
        run(w, 200_000);
        expect(keepalivesAtHa(w)).toBe(0);
      } finally {
        await w.close();
      }
    }
  });

  it('the grant survives a restart through the store: tunnel data is still delivered and the keepalives resume', async () => {
    const memory = new MemoryBindingStore();
    const store: BindingStore = { load: () => memory.load(), commit: (writes) => memory.commit(writes), close: async () => {} };
    const w = await world(faConfig(), false, store);
    register(w);
    run(w, 50);
    answer(w, udpReplyExtension(0, 25));
    run(w, 50);
    for (let turn = 0; turn < 3; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      run(w, 5);
    }
    expect(w.fa.agent.visitors()[0]?.udpTunnel).toEqual({ keepaliveInterval: 25 });
    await w.close();
    const again = await world(faConfig(), false, store);
    try {
      expect(again.fa.restored?.bindings).toBe(1);
      expect(again.fa.agent.visitors()[0]?.udpTunnel).toEqual({ keepaliveInterval: 25 });
      expect(again.fa.agent.reverseTunnelOf(MN1)?.udp).toBe(true);
      const inner = datagram(CN, MN1, 33);
      const message = tunnelData(inner);
      sendUdpFromHa(again, message);
      run(again, 26_000);
      expect(again.toNode.filter((f) => toHex(f.subarray(ETHERNET_HEADER_LENGTH)) === toHex(inner))).toHaveLength(1);
      expect(keepalivesAtHa(again)).toBe(1);
    } finally {
      await again.close();
    }
  });

  it('tunnel data for the visitor from another sender, or after the registration ended, is dropped and counted', async () => {
    const w = await registeredWithUdp();
    try {
      const inner = datagram(CN, MN1);
      const message = tunnelData(inner);
      // Deregistered: the flow and its keepalives end with the visitor entry (3.7.3.2).
      register(w, 0);
      run(w, 50);
      answer(w, undefined);
      run(w, 50);
      expect(w.fa.agent.visitors()).toEqual([]);
      expect(w.fa.agent.udpFlows.flowList()).toEqual([]);
      w.toNode.length = 0;
      sendUdpFromHa(w, message);
      run(w, 50);
      expect(w.toNode.filter((f) => toHex(f.subarray(ETHERNET_HEADER_LENGTH)) === toHex(inner))).toEqual([]);
      expect(w.fa.agent.dataPlane.counters['udp-tunnel-unknown-visitor']).toBe(1);
      const before = keepalivesAtHa(w);
      run(w, 100_000);
      expect(keepalivesAtHa(w)).toBe(before);
    } finally {
      await w.close();
    }
  });
});

describe('the reverse tunnel over UDP leaves through the 434 socket in batches (io/linux/udp.ts on a fake native helper)', () => {
  it("a turn's tunnel data messages leave with one sendUdpBatch (sendmmsg) on the care-of address's socket, counted; a wakeup's tunnel data is one plane batch", async () => {
    fakeNative.state.sendCalls.length = 0;
    const w = await world(faConfig(), true, undefined, LinuxUdpLive);
    try {
      const fd = [...fakeNative.state.readers.keys()].at(-1)!;
      /** What the fake socket sent, as if it had reached the home agent. */
      const collect = () => {
        for (const call of fakeNative.state.sendCalls.splice(0)) {
          for (const d of call) w.udpAtHa.push({ source: FA, sourcePort: 434, destinationPort: d.port, payload: d.data });
        }
      };
      register(w);
      run(w, 50);
      await Promise.resolve();
      collect();
      expect(relayedRequests(w)).toHaveLength(1);
      fakeReceive(fd, [replyMessage(w, udpReplyExtension(0, 25))], HA, 434, FA);
      run(w, 50);
      await Promise.resolve();
      expect(w.fa.agent.visitors()[0]?.udpTunnel).toEqual({ keepaliveInterval: 25 });
      fakeNative.state.sendCalls.length = 0;
      const sent = [0, 1, 2, 3, 4].map((i) => datagram(MN1, CN, 20 + i));
      for (const d of sent) sendFromNode(w, d);
      run(w, 50);
      expect(fakeNative.state.sendCalls).toEqual([]); // queued until the turn ends
      await Promise.resolve();
      const calls = fakeNative.state.sendCalls.splice(0);
      expect(calls.map((c) => c.length)).toEqual([5]);
      for (const [i, d] of calls[0]!.entries()) {
        expect(d).toMatchObject({ address: HA, port: 434 });
        expect(tunnelDataNextHeader(d.data, 0, d.data.length)).toBe(4);
        // The datagram, routed (TTL one less), after the 4-byte tunnel data header.
        expect(toHex(d.data.subarray(TUNNEL_DATA_HEADER_LENGTH + 12))).toBe(toHex(sent[i]!.subarray(12)));
        expect(d.data[TUNNEL_DATA_HEADER_LENGTH + 8]).toBe(63);
      }
      expect(w.fa.agent.udpFlows.counters).toMatchObject({ dataSendTurns: 1, dataSent: 5 });
      const counters = w.fa.agent.dataPlane.counters;
      expect(w.ipInIpAtHa).toEqual([]);

      // The receive side: one recvmmsg wakeup of 3 tunnel data messages, one plane batch.
      const batches: number[] = [];
      const original = w.fa.agent.handleUdpTunnelBatch.bind(w.fa.agent);
      w.fa.agent.handleUdpTunnelBatch = (batch) => {
        batches.push(batch.length);
        original(batch);
      };
      const messages = [0, 1, 2].map((i) => {
        const inner = datagram(CN, MN1, 30 + i);
        return tunnelData(inner);
      });
      fakeReceive(fd, messages, HA, 434, FA);
      await Promise.resolve();
      expect(batches).toEqual([3]);
      expect(counters['udp-tunnel-delivered']).toBe(3);
    } finally {
      await w.close();
    }
  });
});
