/**
 * The foreign agent runtime (runtime/fa/foreign-agent.ts) on the simulated IP network:
 *
 *   ha (198.51.100.1) ── home 198.51.100.0/24 ── (.254) r (203.0.113.254) ── foreign 203.0.113.0/24 ── fa (203.0.113.1)
 *                                                                                                   └─ mn (MAC only, scripted)
 *
 * The home agent is the real one (startHomeAgent on the ha host's Udp layer), sharing an
 * association with the foreign agent (FHAE both ways). The mobile node is scripted: it sends
 * whole frames on the foreign link and records the frames it receives, so every check is made
 * on what crosses the wire.
 */
import { Effect, Exit, Scope } from 'effect';
import type { BindingStore, StoreWrite } from '../../runtime/store/binding-store.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import { describe, expect, it } from 'vitest';
import { Udp } from '../../io/udp.js';
import { SimNetwork } from '../../io/sim/network.js';
import { ALL_MOBILITY_AGENTS_GROUP, multicastMac, type SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import {
  decodeAgentAdvertisement,
  encodeAgentSolicitation,
  makeAgentSolicitation,
  mobilityAgentExtension,
  SOLICITATION_LENGTH,
} from '../../io/wire/agent-discovery.js';
import { ipv4, ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIcmpError, UnreachableCode } from '../../io/wire/icmp.js';
import { decodeArpPacket } from '../../io/wire/arp.js';
import { ethernetDestination, ethernetEtherType, ethernetSource, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import type { RegistrationReply } from '../../io/wire/registration-types.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { decodeUdpDatagram } from '../../io/wire/udp.js';
import { SimulatedClock } from '../../io/clock.js';
import { startForeignAgent, type FaConfig, type ForeignAgentEvent, type RunningForeignAgent } from '../../runtime/fa/foreign-agent.js';
import { icmpFrame, udpFrame } from '../../io/wire/frames.js';
import { startHomeAgent, type RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import type { TransitionRecord } from '../../runtime/actors/actor-host.js';
import { encodeSigned } from '../../policies/sign.js';
import { buildRequest, context, expectValidMhae, FA_KEY, HA, makeConfig, MFAE, MHAE, MN1, MN1_KEY, MN2, MN2_KEY, START, WRONG_KEY } from './home-agent-harness.js';

const FA = ipv4('203.0.113.1');
const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.5');
const MN_PORT = 49152;
const MAC_HA = '02:00:00:00:00:01';
const MAC_R_HOME = '02:00:00:00:00:fe';
const MAC_R_FOREIGN = '02:00:00:00:01:fe';
const MAC_FA = '02:00:00:00:01:01';
const MAC_MN = '02:00:00:00:01:0a';

function faConfig(overrides: Partial<FaConfig> = {}): FaConfig {
  return {
    settings: {
      careOfAddresses: [FA],
      interfaceAddresses: [FA],
      linkAddress: FA,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunneling: false,
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes: [],
    homeAgents: [{ address: HA, contexts: [context(FA_KEY)] }],
    advertisement: { lifetimeSeconds: 30, seed: 5 },
    ...overrides,
  };
}

/** What the scripted mobile node saw on the foreign link, decoded. */
type Seen =
  | { kind: 'advertisement'; at: number; from: string; to: string; ttl: number; source: Ipv4Address; destination: Ipv4Address; sequence: number; careOfAddresses: readonly Ipv4Address[] }
  | { kind: 'reply'; at: number; from: string; to: string; source: Ipv4Address; destination: Ipv4Address; port: number; data: Uint8Array; reply: RegistrationReply }
  | { kind: 'ip'; at: number; from: string; to: string; datagram: Uint8Array };

interface World {
  clock: SimulatedClock;
  net: SimNetwork;
  ha: SimHost;
  r: SimHost;
  faHost: SimHost;
  mn: SimHost;
  home: RunningHomeAgent;
  fa: RunningForeignAgent;
  seen: Seen[];
  events: ForeignAgentEvent[];
  transitions: TransitionRecord[];
  close(): Promise<void>;
}

async function world(config = faConfig(), haConfig = makeConfig(), store?: BindingStore): Promise<World> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 3 });
  const homeLan = net.addSegment('home');
  const foreignLan = net.addSegment('foreign');
  const ha = net.addHost('ha');
  ha.addInterface('eth0', homeLan, { mac: MAC_HA, address: HA, prefixLength: 24 });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', homeLan, { mac: MAC_R_HOME, address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreignLan, { mac: MAC_R_FOREIGN, address: R_FOREIGN, prefixLength: 24 });
  const faHost = net.addHost('fa', { multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  faHost.addInterface('eth0', foreignLan, { mac: MAC_FA, address: FA, prefixLength: 24 });
  faHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const mn = net.addHost('mn');
  mn.addInterface('eth0', foreignLan, { mac: MAC_MN });

  const seen: Seen[] = [];
  mn.onFrame('eth0', (frame) => {
    if (ethernetEtherType(frame) !== EtherType.IPv4) return;
    const from = ethernetSource(frame);
    const to = ethernetDestination(frame);
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH);
    if (!packet.ok) throw new Error(`undecodable frame on the foreign link: ${packet.error.message}`);
    const { header, payload } = packet.value;
    const at = clock.now();
    if (header.protocol === IpProtocol.ICMP && payload[0] === 9) {
      const adv = decodeAgentAdvertisement(payload);
      if (!adv.ok) throw new Error(adv.error.message);
      const ext = mobilityAgentExtension(adv.value)!;
      seen.push({ kind: 'advertisement', at, from, to, ttl: header.ttl, source: header.source, destination: header.destination, sequence: ext.sequence, careOfAddresses: ext.careOfAddresses });
      return;
    }
    if (header.protocol === IpProtocol.UDP) {
      const udp = decodeUdpDatagram(payload);
      if (udp.ok && udp.value.header.sourcePort === 434 && udp.value.payload[0] === 3) {
        const data = udp.value.payload.slice();
        const reply = decodeRegistrationReply(data);
        if (!reply.ok) throw new Error(reply.error.message);
        seen.push({ kind: 'reply', at, from, to, source: header.source, destination: header.destination, port: udp.value.header.destinationPort, data, reply: reply.value });
        return;
      }
    }
    if (from !== MAC_MN) seen.push({ kind: 'ip', at, from, to, datagram: frame.slice(ETHERNET_HEADER_LENGTH) });
  });

  const random = seededRandom(11);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const home = await startHomeAgent(haConfig, { listen: [{ address: HA, port: 434 }], udp: net.udpLayer(ha), clock, random32 });
  const fa = await startForeignAgent(config, {
    interfaceName: 'eth0',
    udp: net.udpLayer(faHost),
    link: net.linkLayer(faHost),
    rawIp: simRawIpLayer(faHost),
    clock,
    random32,
    ...(store !== undefined ? { store } : {}),
  });
  const events: ForeignAgentEvent[] = [];
  const transitions: TransitionRecord[] = [];
  fa.agent.events.subscribe((e) => events.push(e));
  fa.agent.transitions.subscribe((t) => transitions.push(t));
  return {
    clock,
    net,
    ha,
    r,
    faHost,
    mn,
    home,
    fa,
    seen,
    events,
    transitions,
    async close() {
      await fa.stop();
      await home.stop();
    },
  };
}

/** Runs the simulated network for `ms` in 1 ms steps. */
function run(w: World, ms: number): void {
  for (let i = 0; i < ms; i++) w.clock.advance(1);
}

function solicit(w: World): void {
  const icmp = new Uint8Array(SOLICITATION_LENGTH);
  encodeAgentSolicitation(makeAgentSolicitation(), icmp, 0);
  // 2.2: TTL 1, to 224.0.0.11; the node away from home uses its home address as source (2.1).
  w.mn.sendFrame('eth0', icmpFrame({ sourceMac: MAC_MN, destinationMac: multicastMac(ALL_MOBILITY_AGENTS_GROUP), source: MN1, destination: ALL_MOBILITY_AGENTS_GROUP, ttl: 1 }, icmp));
}

function register(w: World, request: Uint8Array, destination: Ipv4Address = FA): void {
  const destinationMac = destination === ALL_MOBILITY_AGENTS_GROUP ? multicastMac(destination) : MAC_FA;
  w.mn.sendFrame('eth0', udpFrame({ sourceMac: MAC_MN, destinationMac, source: MN1, destination }, MN_PORT, 434, request));
}

function replies(w: World): Array<Seen & { kind: 'reply' }> {
  return w.seen.filter((s): s is Seen & { kind: 'reply' } => s.kind === 'reply');
}

function requestAt(w: World, fields: { key?: typeof MN1_KEY; homeAgent?: Ipv4Address; lifetime?: number } = {}): Uint8Array {
  return buildRequest({
    identification: identificationFromUnixMs(w.clock.now(), 1),
    careOfAddress: FA,
    ...(fields.homeAgent === undefined ? {} : { homeAgent: fields.homeAgent }),
    lifetime: fields.lifetime ?? 600,
    extensions: [MHAE(fields.key ?? MN1_KEY)],
  });
}

describe('ForeignAgent on the simulated network', () => {
  it('[R2.1-2] [R2.3-5] advertises at start to 224.0.0.1 and answers a solicitation by unicast to the node, TTL 1, with its care-of address', async () => {
    const w = await world();
    run(w, 5);
    solicit(w);
    run(w, 5);
    const ads = w.seen.filter((s) => s.kind === 'advertisement');
    expect(ads).toEqual([
      expect.objectContaining({ from: MAC_FA, to: '01:00:5e:00:00:01', ttl: 1, source: FA, destination: ipv4('224.0.0.1'), sequence: 0, careOfAddresses: [FA] }),
      expect.objectContaining({ from: MAC_FA, to: MAC_MN, ttl: 1, source: FA, destination: MN1, sequence: 1, careOfAddresses: [FA] }),
    ]);
    expect(w.fa.agent.counters).toMatchObject({ solicitations: 1, advertisements: 2 });
    await w.close();
  });

  it('with a store, the relayed Reply reaches the node only after the visitor entry is committed (issue 14: durable before the Reply)', async () => {
    const memory = new MemoryBindingStore();
    const gates: Array<() => void> = [];
    const committed: StoreWrite[][] = [];
    // A store whose commits end only when the test lets them (a slow disk).
    const gated: BindingStore = {
      load: () => memory.load(),
      commit: (writes) =>
        writes.length === 0
          ? memory.commit(writes)
          : new Promise<void>((resolve) =>
          gates.push(() => {
            memory.commit(writes);
            committed.push([...writes]);
            resolve();
          }),
        ),
      close: () => memory.close(),
    };
    const w = await world(faConfig(), makeConfig(), gated);
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    await turn();
    expect(w.events.some((e) => e.event === 'reply-relayed')).toBe(true);
    expect(replies(w)).toEqual([]);
    expect(gates).toHaveLength(1);
    gates.shift()!();
    await turn();
    run(w, 5);
    expect(committed.flat().map((write) => write.op)).toContain('put-visitor');
    expect(replies(w).map((r) => r.reply.code)).toEqual([0]);
    await w.close();
  });

  it('[R3.7.2.2-1] relays a Request to the home agent and the Reply back to the node\'s MAC: binding at the care-of address, visitor registered', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    // The home agent bound the node to the foreign agent's care-of address.
    expect(w.home.agent.bindings()).toMatchObject([{ homeAddress: '198.51.100.10', careOfAddress: '203.0.113.1' }]);
    const got = replies(w);
    expect(got).toHaveLength(1);
    const r = got[0]!;
    expect(r).toMatchObject({ from: MAC_FA, to: MAC_MN, source: FA, destination: MN1, port: MN_PORT });
    expect(r.reply).toMatchObject({ code: 0, homeAddress: MN1, homeAgent: HA, lifetime: 600 });
    // The home agent's MHAE reaches the node intact; its FHAE was checked and removed (3.7.3.2).
    expectValidMhae({ data: r.data, reply: r.reply, destination: MN1, port: MN_PORT, source: FA }, MN1_KEY);
    expect(r.reply.extensions.map((e) => e.type)).toEqual([32]);
    expect(w.fa.agent.visitors()).toMatchObject([
      { homeAddress: '198.51.100.10', state: 'registered.timed', linkLayerAddress: MAC_MN, careOfAddress: '203.0.113.1', homeAgent: '198.51.100.1', lifetime: 600 },
    ]);
    expect(w.fa.agent.visitors()[0]!.remaining).toBeGreaterThanOrEqual(599);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);
    expect(w.fa.agent.pendingCount).toBe(0);
    // The Request and its Reply share a trace id; the events are plain JSON.
    const relayed = w.events.find((e) => e.event === 'request-relayed')!;
    const answered = w.events.find((e) => e.event === 'reply-relayed')!;
    expect(relayed.trace).toBe(answered.trace);
    expect(JSON.parse(JSON.stringify(w.events))).toEqual(w.events);
    expect(w.transitions.map((t) => `${t.actor}: ${t.to} (${t.reason})`)).toEqual(
      [
        expect.stringMatching(/^pending:198\.51\.100\.10#[0-9a-f]+: relayed \(relayed\)$/),
        'visitor:198.51.100.10: pending.timed (request-relayed)',
        expect.stringMatching(/^pending:198\.51\.100\.10#[0-9a-f]+: answered \(answered\)$/),
        'visitor:198.51.100.10: registered.timed (accepted)',
      ],
    );
    // The visitor entry ends with its lifetime, with no message sent (R3.7-4).
    const framesBefore = w.net.counters().hosts['fa']!.framesOut;
    const advertisements = w.fa.agent.counters.advertisements;
    w.clock.advance(600_000);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBeUndefined();
    expect(w.net.counters().hosts['fa']!.framesOut - framesBefore).toBe(w.fa.agent.counters.advertisements - advertisements);
    await w.close();
  });

  it('[R3.7.2.1-1] a Request with a wrong non-zero UDP checksum is discarded, unless the link reports the checksum not yet computed (offload on this host)', async () => {
    const w = await world();
    run(w, 5);
    const frame = udpFrame({ sourceMac: MAC_MN, destinationMac: MAC_FA, source: MN1, destination: FA }, MN_PORT, 434, requestAt(w));
    // What a veth hands an AF_PACKET reader for a datagram sent with checksum offload: the
    // field holds something other than the checksum (here: the right one, one bit flipped).
    const checksumAt = ETHERNET_HEADER_LENGTH + 20 + 6;
    frame[checksumAt + 1]! ^= 0x01;
    w.fa.agent.handleFrame(frame);
    run(w, 20);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'discard', reason: 'udp-checksum' }));
    expect(w.events.filter((e) => e.event === 'request-relayed')).toEqual([]);
    expect(replies(w)).toEqual([]);

    w.fa.agent.handleFrame(frame, { checksumNotReady: true });
    run(w, 20);
    expect(w.events.filter((e) => e.event === 'request-relayed')).toHaveLength(1);
    expect(replies(w)).toMatchObject([{ to: MAC_MN, destination: MN1, reply: { code: 0 } }]);
    await w.close();
  });

  it('[R2.3-3] a Request sent to 224.0.0.11 is relayed too, and answered from the agent\'s link address', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w), ALL_MOBILITY_AGENTS_GROUP);
    run(w, 20);
    expect(replies(w)).toMatchObject([{ to: MAC_MN, source: FA, destination: MN1, reply: { code: 0 } }]);
    await w.close();
  });

  it('a first Request with the wrong MN-HA key: the home agent\'s 131 reaches the node, no visitor, no binding', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w, { key: WRONG_KEY }));
    run(w, 20);
    expect(replies(w)).toMatchObject([{ to: MAC_MN, destination: MN1, reply: { code: 131, homeAddress: MN1 } }]);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.pendingCount).toBe(0);
    expect(w.home.agent.bindings()).toEqual([]);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'reply-relayed', code: 131 }));
    await w.close();
  });

  it('[R3.7.3.2-4] a renewal the home agent denies (131) ends only the pending part: the visitor stays registered with its route', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    w.clock.advance(10_000);
    register(w, requestAt(w, { key: WRONG_KEY }));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([0, 131]);
    expect(w.fa.agent.visitors()).toMatchObject([{ homeAddress: '198.51.100.10', state: 'registered.timed', lifetime: 600, renewalPending: false }]);
    expect(w.fa.agent.visitors()[0]!.remaining).toBeLessThanOrEqual(590);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);
    expect(w.fa.agent.pendingCount).toBe(0);
    await w.close();
  });

  it('[R3.7-5] [R3.7.3.2-3] a deregistration is relayed; its accepted Reply (Lifetime 0) removes the visitor entry and its route', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(w.fa.agent.visitors()).toHaveLength(1);
    w.clock.advance(1_000);
    register(w, requestAt(w, { lifetime: 0 }));
    run(w, 20);
    expect(replies(w).map((r) => [r.reply.code, r.reply.lifetime])).toEqual([
      [0, 600],
      [0, 0],
    ]);
    expect(w.home.agent.bindings()).toEqual([]);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBeUndefined();
    expect(w.transitions.map((t) => `${t.actor}: ${t.to} (${t.reason})`)).toContain('visitor:198.51.100.10: deregistered (deregistered)');
    await w.close();
  });

  it('clearVisitor (mip4 clear visitor) removes the entry and its delivery route as at expiry, sends nothing, logs visitor-cleared; the node registers again', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);
    const framesBefore = w.net.counters().hosts['fa']!.framesOut;
    const advertisements = w.fa.agent.counters.advertisements;
    expect(w.fa.agent.clearVisitor(MN1)).toBe(1);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBeUndefined();
    expect(w.fa.agent.tableSizes()).toMatchObject({ visitors: 0, pending: 0, routes: 0 });
    expect(w.events.at(-1)).toEqual({ event: 'visitor-cleared', at: w.clock.now(), by: 'operator', homeAddress: '198.51.100.10', entries: 1 });
    run(w, 20);
    expect(w.net.counters().hosts['fa']!.framesOut - framesBefore).toBe(w.fa.agent.counters.advertisements - advertisements);
    expect(w.fa.agent.clearVisitor(MN1)).toBe(0);
    w.clock.advance(1_000);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([0, 0]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);
    await w.close();
  });

  it('[R3.7.1-9] the relayed Request carries a Foreign-Home extension the home agent verifies: without the association it refuses 132', async () => {
    // With the association (the other tests) the home agent accepts; here the foreign agent has none.
    const w = await world(faConfig({ homeAgents: [] }));
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w)).toMatchObject([{ to: MAC_MN, reply: { code: 132 } }]);
    expect(w.fa.agent.visitors()).toEqual([]);
    await w.close();
  });

  it('[R3.7.1-10] a Reply whose Foreign-Home extension does not verify is not relayed: 68 to the node instead, no visitor', async () => {
    // The two agents disagree on the key of their association (same SPI): the home agent
    // answers 132 with an FHAE under its key, which the foreign agent cannot verify.
    const mismatched = { spi: FA_KEY.spi, key: WRONG_KEY.key };
    const w = await world(faConfig({ homeAgents: [{ address: HA, contexts: [context(mismatched)] }] }));
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w)).toMatchObject([{ to: MAC_MN, source: FA, destination: MN1, reply: { code: 68, homeAddress: MN1, homeAgent: HA } }]);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBeUndefined();
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'denial', code: 68, cause: 'reply-rejected', securityException: true }));
    expect(w.events.some((e) => e.event === 'reply-relayed')).toBe(false);
    await w.close();
  });

  for (const [variant, icmp, code] of [
    ['home agent stopped (port unreachable from its host)', 'type 3 code 3', 82],
    ['home agent host down (host unreachable from the router, after ARP fails)', 'type 3 code 1', 81],
    ['no route to the home agent (net unreachable from the router)', 'type 3 code 0', 80],
  ] as const) {
    it(`[R3.7.3-1] ${variant}: the ICMP error (${icmp}) ends the pending registration with ${code} to the node, no visitor`, async () => {
      const w = await world();
      let homeAgent = HA;
      if (code === 82) await w.home.stop();
      if (code === 81) w.ha.setLinkUp('eth0', false);
      if (code === 80) homeAgent = ipv4('192.0.2.99');
      run(w, 5);
      const sentAt = w.clock.now();
      register(w, requestAt(w, { homeAgent }));
      w.clock.advance(6_000);
      expect(w.fa.agent.counters.relayed).toBe(1);
      const got = replies(w);
      expect(got).toMatchObject([{ to: MAC_MN, source: FA, destination: MN1, port: MN_PORT, reply: { code, homeAddress: MN1, homeAgent } }]);
      // Long before the 7 s of the pending timeout (3.7.1); the host-unreachable case waits for ARP to give up.
      expect(got[0]!.at - sentAt).toBeLessThan(code === 81 ? 6_000 : 100);
      expect(w.fa.agent.pendingCount).toBe(0);
      expect(w.fa.agent.visitors()).toEqual([]);
      expect(w.fa.agent.counters).toMatchObject({ icmpErrorsMatched: 1, timeouts: 0 });
      const icmpEvent = w.events.find((e) => e.event === 'icmp-error');
      const denial = w.events.find((e) => e.event === 'denial');
      expect(icmpEvent).toMatchObject({ homeAddress: '198.51.100.10', homeAgent: ipv4ToString(homeAgent), icmpType: 3 });
      expect(denial).toMatchObject({ code, cause: 'pending-ended', trace: icmpEvent!.trace });
      expect(w.transitions.map((t) => t.reason)).toContain('home-agent-unreachable');
      // Nothing more for this Request: no 78 later.
      w.clock.advance(10_000);
      expect(replies(w)).toHaveLength(1);
      await w.close();
    });
  }

  it('[R3.7.1-7] a home agent that stays silent: 78 to the node after the request was pending for more than 7 s, and no visitor', async () => {
    const w = await world();
    await w.home.stop();
    // Something holds UDP 434 on the home agent's host and never answers: no ICMP error comes back.
    const scope = Effect.runSync(Scope.make());
    const silent = Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: HA, port: 434 })), scope).pipe(Effect.provide(w.net.udpLayer(w.ha))));
    let heard = 0;
    silent.onMessage(() => heard++);
    run(w, 5);
    const sentAt = w.clock.now();
    register(w, requestAt(w));
    w.clock.advance(1);
    expect(w.fa.agent.pendingCount).toBe(1);
    w.clock.advance(6_999);
    expect(heard).toBe(1);
    expect(replies(w)).toEqual([]);
    w.clock.advance(10);
    const got = replies(w);
    expect(got).toMatchObject([{ to: MAC_MN, source: FA, destination: MN1, reply: { code: 78, homeAddress: MN1, homeAgent: HA } }]);
    expect(got[0]!.at - sentAt).toBeGreaterThan(7_000);
    expect(got[0]!.at - sentAt).toBeLessThanOrEqual(7_010);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.counters).toMatchObject({ timeouts: 1, icmpErrorsMatched: 0 });
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'denial', code: 78, cause: 'pending-ended' }));
    Effect.runSync(Scope.close(scope, Exit.void));
    await w.close();
  });

  it('an ICMP error quoting a Request that is not pending is counted and logged as a discard; one quoting only the UDP header ends every Request pending at that home agent', async () => {
    const w = await world();
    await w.home.stop();
    const scope = Effect.runSync(Scope.make());
    Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: HA, port: 434 })), scope).pipe(Effect.provide(w.net.udpLayer(w.ha))));
    run(w, 5);
    const request = requestAt(w);
    register(w, request);
    run(w, 5);
    expect(w.fa.agent.pendingCount).toBe(1);
    // The relayed Request as the agent sent it, rebuilt: FA:434 → HA:434.
    const relayed = (payload: Uint8Array) => {
      const udp = new Uint8Array(8 + payload.length);
      udp.set([0x01, 0xb2, 0x01, 0xb2, (udp.length >> 8) & 0xff, udp.length & 0xff, 0, 0]);
      udp.set(payload, 8);
      const ip = new Uint8Array(20 + udp.length);
      encodeIpv4Packet({ header: { tos: 0, identification: 9, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source: FA, destination: HA }, payload: udp }, ip);
      return ip;
    };
    const icmpError = (original: Uint8Array) => {
      const bytes = new Uint8Array(8 + original.length);
      encodeIcmpError({ icmpType: 3, code: UnreachableCode.Port, checksum: 0, checksumValid: true, unused: 0, original }, bytes, 0);
      expect(w.ha.sendPacket({ protocol: IpProtocol.ICMP, source: HA, destination: FA, payload: bytes })).not.toBe('no-route');
    };
    // Another Identification: no pending Request matches.
    const other = request.slice();
    other[23] = (other[23]! + 1) & 0xff;
    icmpError(relayed(other));
    run(w, 10);
    expect(w.fa.agent.pendingCount).toBe(1);
    expect(w.fa.agent.counters.discardedByReason['icmp-error-unmatched']).toBe(1);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'discard', reason: 'icmp-error-unmatched', from: '198.51.100.1' }));
    expect(replies(w)).toEqual([]);
    // RFC 792's minimum quote: the IP header and the UDP header only.
    icmpError(relayed(request).subarray(0, 28));
    run(w, 10);
    expect(w.fa.agent.pendingCount).toBe(0);
    expect(replies(w)).toMatchObject([{ reply: { code: 82, homeAddress: MN1 } }]);
    expect(w.fa.agent.counters).toMatchObject({ icmpErrors: 2, icmpErrorsMatched: 1 });
    Effect.runSync(Scope.close(scope, Exit.void));
    await w.close();
  });

  it('[R4.2.2-7] an IP-in-IP packet to the care-of address is delivered to the visitor\'s MAC, with no ARP for its home address', async () => {
    const w = await world();
    const capture = w.net.capture();
    run(w, 5);
    const tunnel = (id: number) => {
      const inner = new Uint8Array(28);
      encodeIpv4Packet(
        { header: { tos: 0, identification: id, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source: CN, destination: MN1 }, payload: new Uint8Array([0, 7, 0, 9, 0, 8, 0, 0]) },
        inner,
      );
      const outer = new Uint8Array(48);
      ipInIpEncapsulate(inner, { source: HA, destination: FA, identification: id }, outer);
      expect(w.ha.sendIp(outer)).not.toBe('no-route');
    };
    // Not a visitor yet: decapsulated and silently discarded (4.2.2).
    tunnel(1);
    run(w, 10);
    expect(w.seen.filter((s) => s.kind === 'ip')).toEqual([]);
    expect(w.fa.agent.dataPlane.counters['unknown-visitor']).toBe(1);

    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w)).toMatchObject([{ reply: { code: 0 } }]);
    tunnel(2);
    run(w, 10);
    const delivered = w.seen.filter((s): s is Seen & { kind: 'ip' } => s.kind === 'ip');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ from: MAC_FA, to: MAC_MN });
    const inner = decodeIpv4Packet(delivered[0]!.datagram);
    expect(inner.ok && inner.value.header).toMatchObject({ source: CN, destination: MN1, protocol: IpProtocol.UDP, identification: 2, checksumValid: true });
    expect(w.fa.agent.counters.tunnelDelivered).toBe(1);
    // Nobody asked the foreign link for the home address.
    const arpTargets = capture
      .frames('foreign')
      .filter((f) => ethernetEtherType(f.frame) === EtherType.ARP)
      .map((f) => decodeArpPacket(f.frame, ETHERNET_HEADER_LENGTH))
      .map((a) => (a.ok ? a.value.targetIp : -1));
    expect(arpTargets.length).toBeGreaterThan(0); // the router and the agent resolved each other
    expect(arpTargets).not.toContain(MN1);
    capture.stop();
    await w.close();
  });

  it('[R3.7-2] [R3.7-3] [R3.4-2] over registration, renewal, deregistration and expiry, every Request the agent sends is a node\'s Request relayed with its Lifetime unchanged, and every Reply answers one', async () => {
    const w = await world();
    const capture = w.net.capture();
    run(w, 5);
    const sentByNode: Uint8Array[] = [];
    const send = (request: Uint8Array) => {
      sentByNode.push(request);
      register(w, request);
      run(w, 20);
    };
    send(requestAt(w, { lifetime: 20 }));
    w.clock.advance(5_000);
    send(requestAt(w, { lifetime: 20 }));
    w.clock.advance(5_000);
    send(requestAt(w, { lifetime: 0 }));
    send(requestAt(w, { lifetime: 20 }));
    // The last registration and the visitor entry run out; nothing is sent for that (3.7).
    w.clock.advance(60_000);
    expect(w.fa.agent.visitors()).toEqual([]);
    const fromAgent = capture
      .frames('foreign')
      .filter((f) => ethernetSource(f.frame) === MAC_FA && ethernetEtherType(f.frame) === EtherType.IPv4)
      .map((f) => decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH))
      .flatMap((p) => (p.ok && p.value.header.protocol === IpProtocol.UDP ? [p.value] : []))
      .map((p) => ({ destination: p.header.destination, udp: decodeUdpDatagram(p.payload) }))
      .flatMap((p) => (p.udp.ok ? [{ destination: p.destination, payload: p.udp.value.payload }] : []));
    const requests = fromAgent.filter((m) => m.payload[0] === 1);
    const agentReplies = fromAgent.filter((m) => m.payload[0] === 3);
    expect(requests).toHaveLength(4);
    requests.forEach((relayed, i) => {
      expect(relayed.destination).toBe(HA);
      const original = sentByNode[i]!;
      // Unchanged through the node's MHAE (the whole Request here), Lifetime included.
      expect(relayed.payload.subarray(0, original.length)).toEqual(original);
      expect((relayed.payload[2]! << 8) | relayed.payload[3]!).toBe((original[2]! << 8) | original[3]!);
    });
    // One Reply to the node per Request it sent, nothing else.
    expect(agentReplies).toHaveLength(4);
    expect(agentReplies.every((m) => m.destination === MN1)).toBe(true);
    capture.stop();
    await w.close();
  });

  it('[R3.7.3.2-8] the visitor\'s lifetime is timed from when the agent forwards the accepted Reply', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w, { lifetime: 30 }));
    run(w, 20);
    const relayed = w.events.find((e): e is Extract<ForeignAgentEvent, { event: 'reply-relayed' }> => e.event === 'reply-relayed')!;
    expect(relayed).toMatchObject({ code: 0, lifetime: 30 });
    const expiresAt = relayed.at + 30_000;
    w.clock.advance(expiresAt - 1 - w.clock.now());
    expect(w.fa.agent.visitors()).toMatchObject([{ state: 'registered.timed' }]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);
    w.clock.advance(1);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBeUndefined();
    await w.close();
  });

  it('[R4.2.2-8] [R4.2.2-5] delivery to a visitor works up to the last moment of its entry without any ARP, and the agent announces its visitors to nobody', async () => {
    const w = await world();
    const capture = w.net.capture();
    run(w, 5);
    register(w, requestAt(w, { lifetime: 60 }));
    run(w, 20);
    const relayedAt = w.events.find((e) => e.event === 'reply-relayed')!.at;
    const tunnel = (id: number) => {
      const inner = new Uint8Array(28);
      encodeIpv4Packet(
        { header: { tos: 0, identification: id, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source: CN, destination: MN1 }, payload: new Uint8Array([0, 7, 0, 9, 0, 8, 0, 0]) },
        inner,
      );
      const outer = new Uint8Array(48);
      ipInIpEncapsulate(inner, { source: HA, destination: FA, identification: id }, outer);
      w.ha.sendIp(outer);
    };
    // One second before the entry ends (the routers and the agent know each other by now).
    w.clock.advance(relayedAt + 59_000 - w.clock.now());
    tunnel(1);
    run(w, 10);
    // Just after it ended: no longer delivered.
    w.clock.advance(relayedAt + 60_001 - w.clock.now());
    tunnel(2);
    run(w, 10);
    const delivered = w.seen.filter((x): x is Seen & { kind: 'ip' } => x.kind === 'ip');
    expect(delivered.map((d) => [d.to, decodeIpv4Packet(d.datagram).ok])).toEqual([[MAC_MN, true]]);
    expect(w.fa.agent.dataPlane.counters['unknown-visitor']).toBe(1);
    const frames = capture.frames('foreign').filter((f) => ethernetSource(f.frame) === MAC_FA);
    const homeAddressBytes = [0xc6, 0x33, 0x64, 0x0a];
    const mentions = (frame: Uint8Array) => {
      for (let i = 0; i + 4 <= frame.length; i++) if (homeAddressBytes.every((b, j) => frame[i + j] === b)) return true;
      return false;
    };
    // 4.2.2: never an ARP for the visitor; its address appears only in what goes to the visitor itself or the relay to its home agent.
    const arpForVisitor = frames.filter((f) => ethernetEtherType(f.frame) === EtherType.ARP).map((f) => decodeArpPacket(f.frame, ETHERNET_HEADER_LENGTH));
    expect(arpForVisitor.some((a) => a.ok && a.value.targetIp === MN1)).toBe(false);
    const elsewhere = frames.filter((f) => mentions(f.frame) && ethernetDestination(f.frame) !== MAC_MN);
    for (const f of elsewhere) {
      const p = decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH);
      expect(p.ok && p.value.header.destination === HA && p.value.header.protocol === IpProtocol.UDP).toBe(true);
    }
    expect(frames.filter((f) => mentions(f.frame)).length).toBeGreaterThan(elsewhere.length);
    capture.stop();
    await w.close();
  });

  it('stop() releases the link, the sockets and the raw sockets: a second agent starts on the same host', async () => {
    const w = await world();
    await w.fa.stop();
    await w.fa.stop();
    const again = await startForeignAgent(faConfig(), {
      interfaceName: 'eth0',
      udp: w.net.udpLayer(w.faHost),
      link: w.net.linkLayer(w.faHost),
      rawIp: simRawIpLayer(w.faHost),
      clock: w.clock,
      random32: () => 1,
    });
    expect(again.sockets.map((s) => s.localPort)).toEqual([434]);
    await again.stop();
    await expect(
      startForeignAgent(faConfig(), { interfaceName: 'eth9', udp: w.net.udpLayer(w.faHost), link: w.net.linkLayer(w.faHost), rawIp: simRawIpLayer(w.faHost), clock: w.clock }),
    ).rejects.toMatchObject({ _tag: 'LinkError', reason: 'no-such-interface' });
    await w.home.stop();
  });
});

// --- hardening: forged Requests and Replies ---------------------------------------------------------

/** A forged Request frame on the foreign link, as anyone on it can send: any MAC, any fields, an MHAE under a key the agent cannot check. */
function forgedRequest(fields: { mac: string; homeAddress: Ipv4Address; homeAgent: Ipv4Address; lifetime: number; id: number }): Uint8Array {
  const request = buildRequest({
    identification: { high: 0xeb3c7f00, low: fields.id >>> 0 },
    homeAddress: fields.homeAddress,
    homeAgent: fields.homeAgent,
    careOfAddress: FA,
    lifetime: fields.lifetime,
    extensions: [MHAE(WRONG_KEY)],
  });
  return udpFrame({ sourceMac: fields.mac, destinationMac: MAC_FA, source: fields.homeAddress, destination: FA }, MN_PORT, 434, request);
}

/** Byte offsets in a Request frame (Ethernet, IPv4 without options, UDP; 3.3). */
const FRAME_UDP_CHECKSUM = ETHERNET_HEADER_LENGTH + 20 + 6;
const FRAME_HOME_ADDRESS = ETHERNET_HEADER_LENGTH + 28 + 4;
const FRAME_HOME_AGENT = ETHERNET_HEADER_LENGTH + 28 + 8;
const FRAME_ID_LOW = ETHERNET_HEADER_LENGTH + 28 + 20;

/** Rewrites a template frame in place: source MAC, Home Address, Home Agent, Identification (UDP checksum 0: none). */
function rewrite(frame: Uint8Array, fields: { macLow: number; homeAddress: Ipv4Address; homeAgent: Ipv4Address; id: number }): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint32(8, fields.macLow >>> 0);
  view.setUint16(FRAME_UDP_CHECKSUM, 0);
  view.setUint32(FRAME_HOME_ADDRESS, fields.homeAddress >>> 0);
  view.setUint32(FRAME_HOME_AGENT, fields.homeAgent >>> 0);
  view.setUint32(FRAME_ID_LOW, fields.id >>> 0);
  return frame;
}

describe('ForeignAgent under forged Requests and Replies', () => {
  // Home addresses no home agent serves: the real home agent discards those Requests silently
  // (3.8.2.1, no association), so they stay pending for the full 7 s (3.7.1).
  const stranger = (i: number) => ipv4(`198.51.100.${100 + i}`);

  it('[R3.7.1-6] five forged Requests pending do not deny a registered visitor\'s renewal; a sixth new node gets 66, counted', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([0]);
    w.clock.advance(1_000);
    for (let i = 0; i < 5; i++) w.mn.sendFrame('eth0', forgedRequest({ mac: `02:00:00:00:02:0${i}`, homeAddress: stranger(i), homeAgent: HA, lifetime: 600, id: i }));
    run(w, 20);
    expect(w.fa.agent.pendingCount).toBe(5);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([0, 0]);
    expect(w.fa.agent.visitors().filter((v) => v.homeAddress === '198.51.100.10')).toMatchObject([{ state: 'registered.timed', renewalPending: false }]);
    // The global limit still holds for nodes that are not visitors.
    w.mn.sendFrame('eth0', forgedRequest({ mac: '02:00:00:00:02:09', homeAddress: stranger(9), homeAgent: HA, lifetime: 600, id: 9 }));
    run(w, 20);
    expect(w.fa.agent.counters.pendingRefusals).toEqual({ 'too-many-pending': 1 });
    expect(w.fa.agent.counters.deniedByCode[66]).toBe(1);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'denial', code: 66, cause: 'request', homeAddress: '198.51.100.109', to: '02:00:00:00:02:09' }));
    await w.close();
  });

  it('[R3.7.1-6] one link-layer source cannot take every pending slot: a new node still registers', async () => {
    const w = await world();
    run(w, 5);
    for (let i = 0; i < 10; i++) w.mn.sendFrame('eth0', forgedRequest({ mac: '02:00:00:00:02:01', homeAddress: stranger(i), homeAgent: HA, lifetime: 600, id: i }));
    run(w, 20);
    expect(w.fa.agent.pendingCount).toBe(2);
    expect(w.fa.agent.counters.pendingRefusals).toEqual({ 'link-source-budget': 8 });
    // MN2, a new node from its own MAC.
    w.mn.sendFrame(
      'eth0',
      udpFrame(
        { sourceMac: MAC_MN, destinationMac: MAC_FA, source: MN2, destination: FA },
        MN_PORT,
        434,
        buildRequest({ identification: identificationFromUnixMs(w.clock.now(), 1), homeAddress: MN2, careOfAddress: FA, lifetime: 600, extensions: [MHAE(MN2_KEY)] }),
      ),
    );
    run(w, 20);
    expect(replies(w).filter((r) => r.to === MAC_MN).map((r) => [r.reply.code, ipv4ToString(r.reply.homeAddress)])).toEqual([[0, '198.51.100.11']]);
    await w.close();
  });

  it('[R3.7-5] a flood of 100,000 forged deregistrations: a few relays to the addresses it names, bounded tables, and a visitor\'s own deregistration still relayed', async () => {
    const w = await world();
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(w.fa.agent.visitors()).toHaveLength(1);
    const relayedBefore = w.fa.agent.counters.relayed;
    const template = forgedRequest({ mac: '02:00:00:00:00:00', homeAddress: stranger(0), homeAgent: HA, lifetime: 0, id: 0 });
    const testNets = [ipv4('192.0.2.0'), ipv4('198.51.100.0'), ipv4('203.0.113.0')];
    const floodStart = w.clock.now();
    let largestPending = 0;
    // 10 frames a millisecond for 10 s: every frame from another MAC, for another home
    // address, naming another home agent among the TEST-NET host addresses (not the agent's own .1).
    for (let i = 0; i < 100_000; i++) {
      const net = testNets[i % 3]!;
      const frame = rewrite(template, { macLow: 0x0300_0000 + i, homeAddress: net + 1 + ((i * 7) % 254), homeAgent: net + 2 + ((i * 13) % 253), id: i });
      w.fa.agent.handleFrame(frame);
      if (i % 10 === 9) w.clock.advance(1);
      largestPending = Math.max(largestPending, w.fa.agent.pendingCount);
      // Halfway, the registered visitor deregisters: never refused for the flood's budget.
      if (i === 50_000) register(w, requestAt(w, { lifetime: 0 }));
    }
    run(w, 20);
    const elapsed = w.clock.now() - floodStart;
    const relayedRequests = w.events.filter((e): e is Extract<ForeignAgentEvent, { event: 'request-relayed' }> => e.event === 'request-relayed').slice(1);
    const forged = relayedRequests.filter((e) => e.homeAddress !== '198.51.100.10');
    // At most 2 deregistrations of unknown nodes per 7.001 s window.
    expect(forged.length).toBeGreaterThan(0);
    expect(forged.length).toBeLessThanOrEqual(2 * Math.ceil(elapsed / 7001));
    expect(new Set(forged.map((e) => e.homeAgent)).size).toBeLessThanOrEqual(forged.length);
    expect(w.fa.agent.counters.relayed - relayedBefore).toBe(forged.length + 1);
    // Every other forged frame was refused with 66 (sent, or suppressed by 3.7.2's one per second), and counted.
    const refusals = w.fa.agent.counters.pendingRefusals;
    expect(Object.values(refusals).reduce((a, b) => a + b, 0)).toBe(100_000 - forged.length);
    expect(refusals['deregistration-budget']).toBeGreaterThan(99_000);
    // Memory: at most the 2 forged deregistrations and the visitor's own pending at once; the
    // denial memory holds at most the 762 distinct home addresses (the flood's last second).
    expect(largestPending).toBeLessThanOrEqual(2 + 1);
    const sizes = w.fa.agent.tableSizes();
    expect(sizes.pendingTallyKeys).toBeLessThanOrEqual(4);
    expect(sizes.recentDenials).toBeLessThanOrEqual(762);
    // The visitor's deregistration was relayed and accepted; its entry is gone.
    expect(relayedRequests.filter((e) => e.homeAddress === '198.51.100.10').map((e) => e.lifetime)).toEqual([0]);
    expect(replies(w).filter((r) => r.to === MAC_MN).map((r) => [r.reply.code, r.reply.lifetime])).toEqual([
      [0, 600],
      [0, 0],
    ]);
    expect(w.fa.agent.visitors()).toEqual([]);
    await w.close();
  }, 120_000);

  it('[R3.7.2-2] the memory of denials stays bounded under 200,000 distinct nodes, and empties once they stop', async () => {
    const w = await world();
    run(w, 5);
    // Lifetime 65534 > the advertised 1800: denied with 69 (3.7.2.3), one denial per node.
    const template = forgedRequest({ mac: '02:00:00:00:00:00', homeAddress: stranger(0), homeAgent: HA, lifetime: 65534, id: 0 });
    let largest = 0;
    // Home Address fields only (never routed): 200,000 distinct values, 100 a millisecond.
    for (let i = 0; i < 200_000; i++) {
      w.fa.agent.handleFrame(rewrite(template, { macLow: 0x0400_0000 + i, homeAddress: ipv4('198.18.0.0') + i, homeAgent: HA, id: i }));
      if (i % 100 === 99) w.clock.advance(1);
      if (i % 1000 === 0) largest = Math.max(largest, w.fa.agent.tableSizes().recentDenials);
    }
    expect(w.fa.agent.counters.deniedByCode[69]).toBe(200_000);
    expect(largest).toBeLessThanOrEqual(65_536);
    expect(w.fa.agent.tableSizes().recentDenials).toBeLessThanOrEqual(65_536);
    w.clock.advance(2_000);
    w.fa.agent.handleFrame(rewrite(template, { macLow: 0x0500_0000, homeAddress: ipv4('198.18.0.0'), homeAgent: HA, id: 1 }));
    expect(w.fa.agent.tableSizes().recentDenials).toBe(1);
    await w.close();
  }, 120_000);

  describe('a Reply is taken only from the home agent the Request was relayed to, port 434', () => {
    it('a copy from another host or from another port is a counted, logged discard; the genuine one is relayed', async () => {
      const w = await world();
      await w.home.stop();
      // The home agent's UDP 434, answered by hand; an attacker on the home link at .66.
      const scope = Effect.runSync(Scope.make());
      const bind = (host: SimHost, address: Ipv4Address, port: number) =>
        Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address, port })), scope).pipe(Effect.provide(w.net.udpLayer(host))));
      const heard: Uint8Array[] = [];
      const homeAgent = bind(w.ha, HA, 434);
      homeAgent.onMessage((d) => heard.push(d.data.slice()));
      const elsewhere = bind(w.ha, HA, 5000);
      const attacker = w.net.addHost('x');
      attacker.addInterface('eth0', w.net.segment('home'), { mac: '02:00:00:00:00:66', address: ipv4('198.51.100.66'), prefixLength: 24 });
      attacker.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
      const spoofer = bind(attacker, ipv4('198.51.100.66'), 434);
      run(w, 5);
      register(w, requestAt(w));
      run(w, 20);
      expect(heard).toHaveLength(1);
      const relayed = decodeRegistrationRequest(heard[0]!);
      if (!relayed.ok) throw new Error(relayed.error.message);
      // A Reply the home agent would send, complete with a valid FHAE (as a compromised peer could make).
      const reply = encodeSigned(
        {
          type: 3,
          code: 0,
          lifetime: 600,
          homeAddress: MN1,
          homeAgent: HA,
          identification: relayed.value.identification,
          extensions: [
            { kind: 'auth', type: 32, spi: MN1_KEY.spi, authenticator: new Uint8Array(16), offset: 0 },
            { kind: 'auth', type: 34, spi: FA_KEY.spi, authenticator: new Uint8Array(16), offset: 0 },
          ],
        },
        (type) => (type === 32 ? context(MN1_KEY) : type === 34 ? context(FA_KEY) : undefined),
      );
      spoofer.send(reply, FA, 434);
      elsewhere.send(reply, FA, 434);
      run(w, 20);
      expect(replies(w)).toEqual([]);
      expect(w.fa.agent.pendingCount).toBe(1);
      expect(w.fa.agent.visitors()).toMatchObject([{ state: 'pending.timed' }]);
      expect(w.fa.agent.counters.discardedByReason['unexpected-reply-source']).toBe(2);
      const discards = w.events.filter((e): e is Extract<ForeignAgentEvent, { event: 'discard' }> => e.event === 'discard' && e.reason === 'unexpected-reply-source');
      expect(discards.map((e) => [e.from, e.securityException]).sort()).toEqual([
        ['198.51.100.1:5000', true],
        ['198.51.100.66:434', true],
      ]);
      for (const d of discards) expect(d.detail).toMatch(/relayed to 198\.51\.100\.1:434/);
      homeAgent.send(reply, FA, 434);
      run(w, 20);
      expect(replies(w)).toMatchObject([{ to: MAC_MN, destination: MN1, reply: { code: 0, homeAddress: MN1, lifetime: 600 } }]);
      expect(w.fa.agent.visitors()).toMatchObject([{ state: 'registered.timed' }]);
      Effect.runSync(Scope.close(scope, Exit.void));
      await w.close();
    });
  });
});

describe('ForeignAgent.reconfigure (reload) and visitor expiry', () => {
  it('takes new home agent associations at once, keeps visitors when an association goes, and logs a visitor\'s expiry', async () => {
    const w = await world(faConfig({ homeAgents: [] }));
    run(w, 5);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([132]);

    const added = w.fa.agent.reconfigure(faConfig());
    expect(added.homeAgents.added.map((p) => ipv4ToString(p.address))).toEqual(['198.51.100.1']);
    expect(added.mobileNodes).toEqual({ added: [], removed: [], changed: [], unchanged: 0 });
    w.clock.advance(1_000);
    register(w, requestAt(w));
    run(w, 20);
    expect(replies(w).map((r) => r.reply.code)).toEqual([132, 0]);
    expect(w.fa.agent.visitors()).toMatchObject([{ homeAddress: '198.51.100.10', state: 'registered.timed' }]);

    // The association goes: the registered visitor stays, with its route.
    const removed = w.fa.agent.reconfigure(faConfig({ homeAgents: [] }));
    expect(removed.homeAgents.removed.map((p) => ipv4ToString(p.address))).toEqual(['198.51.100.1']);
    expect(w.fa.agent.visitors()).toHaveLength(1);
    expect(w.fa.agent.visitorLinkAddress(MN1)).toBe(MAC_MN);

    w.clock.advance(600_000);
    expect(w.fa.agent.visitors()).toEqual([]);
    expect(w.events.filter((e) => e.event === 'visitor-expired')).toEqual([
      { event: 'visitor-expired', at: expect.any(Number), homeAddress: '198.51.100.10', careOfAddress: '203.0.113.1', homeAgent: '198.51.100.1', lifetime: 600 },
    ]);
    await w.close();
  });

  it('checks the next Request with a mobile node\'s new MN-FA key', async () => {
    const settings = { ...faConfig().settings, requireMobileForeignAuthentication: true };
    const w = await world(faConfig({ settings, mobileNodes: [{ address: MN1, contexts: [context(MN2_KEY)] }] }));
    run(w, 5);
    const withMfae = () =>
      buildRequest({ identification: identificationFromUnixMs(w.clock.now(), 1), careOfAddress: FA, lifetime: 600, extensions: [MHAE(MN1_KEY), MFAE(MN1_KEY)] });
    register(w, withMfae());
    run(w, 20);
    const diff = w.fa.agent.reconfigure(faConfig({ settings, mobileNodes: [{ address: MN1, contexts: [context(MN1_KEY)] }] }));
    expect(diff.mobileNodes.changed.map((p) => ipv4ToString(p.address))).toEqual(['198.51.100.10']);
    expect(diff.homeAgents.unchanged).toBe(1);
    w.clock.advance(1_000);
    register(w, withMfae());
    run(w, 20);
    // 67: mobile node failed authentication at the foreign agent (3.7.2), then accepted.
    expect(replies(w).map((r) => r.reply.code)).toEqual([67, 0]);
    await w.close();
  });
});
