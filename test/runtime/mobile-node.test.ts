/**
 * The mobile node runtime (runtime/mn/mobile-node.ts) on the simulated IP network, registering
 * with a real home agent (runtime/ha/home-agent-server.ts on the home host's Udp layer).
 *
 *   ha (198.51.100.1) ── home 198.51.100.0/24 ── (.254) r (203.0.113.1) ── foreign 203.0.113.0/24 ── mn (203.0.113.77, co-located)
 *
 * The home agent has no advertiser yet, so the tests script Agent Advertisements as frames:
 * the router's (a foreign agent that does not require registration through it, so a node with
 * a co-located address registers directly, 3.6) and the home agent's ('H', 2.4.3).
 */
import { describe, expect, it } from 'vitest';
import { Effect, Exit, Layer, Scope } from 'effect';
import { MnHost, type HostAttachment } from '../../io/mn-host.js';
import { Udp } from '../../io/udp.js';
import { ARP_FRAME_LENGTH, ArpOperation, arpRequest, decodeArpPacket, encodeArpFrame } from '../../io/wire/arp.js';
import { internetChecksum } from '../../io/wire/bytes.js';
import { compareIdentification, identificationToUnixMs } from '../../io/wire/identification.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { BROADCAST_MAC, ethernetDestination, ethernetEtherType, ethernetSource, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { AdvertisementFlag, encodeAgentAdvertisement, agentAdvertisementLength, makeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { identificationToHex } from '../../io/wire/identification.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import type { Clock } from '../../io/clock.js';
import { SimulatedClock } from '../../io/clock.js';
import { icmpFrame } from '../../io/wire/frames.js';
import { startHomeAgent, type RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { startMobileNode, type MobileNodeConfig, type MobileNodeEvent, type RunningMobileNode } from '../../runtime/mn/mobile-node.js';
import type { TransitionRecord } from '../../runtime/actors/actor-host.js';
import { HA, HOME_NETWORK, makeConfig, MIP_PORT, MN1, MN1_KEY, PREFIX_LENGTH, START } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
/** The router, which is also the foreign agent (an address the home agent has no association with). */
const R_FOREIGN = ipv4('203.0.113.2');
const COA = ipv4('203.0.113.77');
const MAC_HA = '02:00:00:00:00:01';
const MAC_R_HOME = '02:00:00:00:01:01';
const MAC_R_FOREIGN = '02:00:00:00:01:02';
const MAC_MN = '02:00:00:00:0a:0a';
const LIFETIME = 60;

interface World {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  readonly haHost: SimHost;
  readonly r: SimHost;
  readonly mnHost: SimHost;
  readonly ha: RunningHomeAgent;
  readonly mn: RunningMobileNode;
  readonly events: MobileNodeEvent[];
  readonly transitions: TransitionRecord[];
  readonly received: Uint8Array[];
  /** Every frame from before the node started. */
  readonly capture: ReturnType<SimNetwork['capture']>;
  /** Attachments the simulated host adapter finished applying (with `hostApplyMs`), with the time. */
  readonly hostApplied: Array<{ kind: string; at: number }>;
}

function skewed(clock: SimulatedClock, offsetMs: number): Clock {
  return { now: () => clock.now() + offsetMs, setAlarm: (at, callback) => clock.setAlarm(at - offsetMs, callback) };
}

/**
 * A host adapter for the simulated node (io/mn-host.ts), doing what io/linux/mn-host.ts does
 * with `ip`: addresses, routes, the first hop's neighbour entry, ARP behaviour. Applying takes
 * `applyMs` of simulated time, as the Linux adapter takes tens of milliseconds (docs/operations.md).
 */
function simHostLayer(clock: SimulatedClock, host: SimHost, applyMs: number, applied: Array<{ kind: string; at: number }>): Layer.Layer<MnHost> {
  let previousRouter: Ipv4Address | undefined;
  const configure = (attachment: HostAttachment) => {
    for (const a of [...host.interface('eth0').addresses]) host.removeAddress('eth0', a.address);
    for (const r of [...host.routes]) if (r.kind === 'static') host.removeRoute(r.prefix, r.prefixLength);
    if (previousRouter !== undefined) host.deleteArpEntry('eth0', previousRouter);
    previousRouter = undefined;
    switch (attachment.kind) {
      case 'at-home':
        host.addAddress('eth0', MN1, PREFIX_LENGTH);
        host.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
        host.setArpBehaviour('eth0', { answer: 'all', request: true });
        break;
      case 'foreign-agent':
        host.addAddress('eth0', MN1, 32);
        host.addRoute(attachment.router, 32, { interface: 'eth0' });
        host.addRoute(0, 0, { via: attachment.router, interface: 'eth0' });
        host.setArpEntry('eth0', attachment.router, attachment.routerLinkAddress);
        host.setArpBehaviour('eth0', { answer: 'none', request: false });
        previousRouter = attachment.router;
        break;
      case 'co-located':
        host.addAddress('eth0', attachment.careOfAddress, attachment.prefixLength ?? 24);
        host.addAddress('eth0', MN1, 32);
        host.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
        break;
    }
  };
  const apply = (attachment: HostAttachment) =>
    Effect.async<void>((resume) => {
      const alarm = clock.setAlarm(clock.now() + applyMs, () => {
        configure(attachment);
        applied.push({ kind: attachment.kind, at: clock.now() });
        resume(Effect.void);
      });
      return Effect.sync(() => alarm.cancel());
    });
  return Layer.succeed(MnHost, { open: () => Effect.succeed({ apply }) });
}

/** Lets the host adapter's promise chain (runtime/mn/mobile-node.ts startMobileNode) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Advances the simulated clock in `stepMs` steps, letting promises settle between them (bounded: ms / stepMs steps). */
async function runFor(clock: SimulatedClock, ms: number, stepMs = 5): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    await settle();
    clock.advance(Math.min(stepMs, ms - t));
  }
  await settle();
}

async function world(
  options: { mnClockOffsetMs?: number; config?: Partial<MobileNodeConfig>; throughForeignAgent?: boolean; hostApplyMs?: number } = {},
): Promise<World> {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 5 });
  const home = net.addSegment('home', { latencyMs: 2 });
  const foreign = net.addSegment('foreign', { latencyMs: 2 });
  const haHost = net.addHost('ha');
  haHost.addInterface('eth0', home, { mac: MAC_HA, address: HA, prefixLength: PREFIX_LENGTH });
  haHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', home, { mac: MAC_R_HOME, address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreign, { mac: MAC_R_FOREIGN, address: R_FOREIGN, prefixLength: 24 });
  const mnHost = net.addHost('mn');
  if (options.throughForeignAgent === true) {
    // Away without a co-located address: the interface keeps only the home address (no
    // connected route to the home network), and the foreign agent is reached on the link.
    mnHost.addInterface('eth0', foreign, { mac: MAC_MN, address: MN1, prefixLength: 32 });
    mnHost.addRoute(R_FOREIGN, 32, { interface: 'eth0' });
  } else {
    // Co-located: the care-of address on the interface, the home address kept as a local
    // address too (as the Linux host adapter does): the node must pick the source itself.
    mnHost.addInterface('eth0', foreign, { mac: MAC_MN, address: COA, prefixLength: 24 });
    mnHost.addAddress('eth0', MN1, 32);
    mnHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  }

  const random = seededRandom(3);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const ha = await startHomeAgent(makeConfig(), { listen: [{ address: HA, port: MIP_PORT }], udp: net.udpLayer(haHost), clock, random32 });
  const mnClock = options.mnClockOffsetMs === undefined ? clock : skewed(clock, options.mnClockOffsetMs);
  const hostApplied: Array<{ kind: string; at: number }> = [];
  const config: MobileNodeConfig = {
    interfaceName: 'eth0',
    homeAddress: MN1,
    homeAgent: HA,
    homeNetwork: HOME_NETWORK,
    homePrefixLength: PREFIX_LENGTH,
    mobileHome: { spi: MN1_KEY.spi, key: MN1_KEY.key, algorithm: 'hmac-md5', replay: 'timestamp' },
    lifetime: LIFETIME,
    ...(options.throughForeignAgent === true ? {} : { colocated: { address: COA, prefixLength: 24 } }),
    ...options.config,
  };
  const mn = await startMobileNode(config, {
    link: net.linkLayer(mnHost),
    udp: net.udpLayer(mnHost),
    rawIp: simRawIpLayer(mnHost),
    clock: mnClock,
    random32,
    autoStart: false,
    ...(options.hostApplyMs !== undefined ? { host: simHostLayer(clock, mnHost, options.hostApplyMs, hostApplied) } : {}),
  });
  const events: MobileNodeEvent[] = [];
  const transitions: TransitionRecord[] = [];
  const received: Uint8Array[] = [];
  mn.node.events.subscribe((e) => events.push(e));
  mn.node.transitions.subscribe((t) => transitions.push(t));
  mn.node.received.subscribe((d) => received.push(d));
  const capture = net.capture();
  mn.node.start();
  return { clock, net, haHost, r, mnHost, ha, mn, events, transitions, received, capture, hostApplied };
}

/** An Agent Advertisement frame (2.1) broadcast by `host` on `interfaceName`, TTL 1. */
function advertise(
  host: SimHost,
  interfaceName: string,
  source: Ipv4Address,
  flags: number,
  careOfAddresses: readonly Ipv4Address[],
  sequence = 0,
  options: { lifetime?: number; prefixLength?: number } = {},
): void {
  const advertisement = makeAgentAdvertisement({
    lifetime: options.lifetime ?? 9000,
    routers: [{ address: source, preference: 0 }],
    extensions: [
      { kind: 'mobility-agent-advertisement', type: 16, sequence, registrationLifetime: 1800, flags, careOfAddresses },
      ...(options.prefixLength !== undefined ? [{ kind: 'prefix-lengths' as const, type: 19 as const, prefixLengths: [options.prefixLength] }] : []),
    ],
  });
  const bytes = new Uint8Array(agentAdvertisementLength(advertisement));
  encodeAgentAdvertisement(advertisement, bytes, 0);
  const iface = host.interface(interfaceName);
  host.sendFrame(interfaceName, icmpFrame({ sourceMac: iface.mac, destinationMac: '01:00:5e:00:00:01', source, destination: ipv4('224.0.0.1'), ttl: 1 }, bytes));
}

function requests(w: World) {
  return w.events.filter((e): e is Extract<MobileNodeEvent, { event: 'request' }> => e.event === 'request');
}

/** Registration Requests the node put on `segment`, as captured: time, Ethernet destination, IP destination, Identification, Lifetime. */
function requestsOnWire(capture: ReturnType<SimNetwork['capture']>, segment: string) {
  return capture.frames(segment).flatMap((f) => {
    if (ethernetSource(f.frame) !== MAC_MN || ethernetEtherType(f.frame) !== EtherType.IPv4) return [];
    const p = decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH);
    if (!p.ok || p.value.header.protocol !== IpProtocol.UDP) return [];
    const r = decodeRegistrationRequest(p.value.payload, 8);
    if (!r.ok) return [];
    return [{ time: f.time, mac: ethernetDestination(f.frame), destination: p.value.header.destination, identification: r.value.identification, lifetime: r.value.lifetime }];
  });
}

/** Gratuitous ARPs for the home address from the node on `segment` (sender = target = home address, its own MAC). */
function gratuitousArpsOnWire(capture: ReturnType<SimNetwork['capture']>, segment: string) {
  return capture.frames(segment).filter((f) => {
    if (ethernetEtherType(f.frame) !== EtherType.ARP || ethernetDestination(f.frame) !== BROADCAST_MAC) return false;
    const arp = decodeArpPacket(f.frame, ETHERNET_HEADER_LENGTH);
    return arp.ok && arp.value.senderIp === MN1 && arp.value.targetIp === MN1 && arp.value.senderMac === MAC_MN;
  });
}

/** Co-located attach: the router's advertisement (F, no R) makes the node register directly. */
function attachColocated(w: World): void {
  advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.F, [R_FOREIGN]);
  w.clock.advance(100);
}

async function stop(w: World): Promise<void> {
  await w.mn.stop();
  await w.ha.stop();
}

describe('mobile node runtime with a co-located care-of address', () => {
  it('[R3.6.1.2-2] [R3.6.1.1-1] registers directly with the home agent at once (D set, source = care-of address although the home address is on the interface too) and is accepted with code 0', async () => {
    const w = await world();
    // 2.4: a care-of address known by other means needs no agent: no Solicitation, no wait.
    expect(w.events.filter((e) => e.event === 'solicitation')).toEqual([]);
    expect(w.events[0]).toMatchObject({ event: 'home-arp', enabled: false });
    w.clock.advance(100);
    // The Request as it crossed the foreign link.
    const onLink = w.capture
      .frames('foreign')
      .map((f) => decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH))
      .flatMap((p) => (p.ok && p.value.header.protocol === IpProtocol.UDP && p.value.header.destination === HA ? [p.value] : []));
    expect(onLink).toHaveLength(1);
    expect(onLink[0]!.header.source).toBe(COA);
    const onWire = decodeRegistrationRequest(onLink[0]!.payload, 8);
    expect(onWire.ok && onWire.value).toMatchObject({ homeAddress: MN1, homeAgent: HA, careOfAddress: COA, lifetime: LIFETIME });
    expect(onWire.ok && onWire.value.flags & RequestFlag.D).toBe(RequestFlag.D);
    w.capture.stop();
    const sent = requests(w);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ destination: '198.51.100.1', homeAgent: '198.51.100.1', careOfAddress: '203.0.113.77', lifetime: LIFETIME, attempt: 1, source: '203.0.113.77', via: 'ip' });
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'reply', code: 0, authentic: true }));
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'registered', code: 0, lifetime: LIFETIME }));
    const bindings = w.ha.agent.bindings();
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ homeAddress: '198.51.100.10', careOfAddress: '203.0.113.77' });
    expect(bindings[0]!.flags).toContain('D');
    expect(w.mn.node.state()).toMatchObject({ attachment: 'co-located', careOfAddress: '203.0.113.77', registration: 'registered', grantedLifetime: LIFETIME });
    expect(w.mn.node.currentAttachment()).toEqual({ kind: 'co-located', careOfAddress: COA, prefixLength: 24 });
    // An agent heard afterwards (F, no R) changes nothing (R3.6-8).
    attachColocated(w);
    expect(requests(w)).toHaveLength(1);
    await stop(w);
  });

  it('[R3.6.2.2-3] renews before the Lifetime ends: the home agent binding never lapses over three Lifetimes', async () => {
    const w = await world();
    attachColocated(w);
    expect(w.ha.agent.bindingCount).toBe(1);
    for (let t = 0; t < 3 * LIFETIME; t++) {
      w.clock.advance(1000);
      expect(w.ha.agent.bindingCount).toBe(1);
    }
    const sent = requests(w);
    // First registration at ~0 s, renewals at 3/4 of each granted Lifetime: 45, 90, 135, 180 s.
    expect(sent.length).toBe(5);
    for (let i = 1; i < sent.length; i++) {
      const gap = sent[i]!.at - sent[i - 1]!.at;
      expect(gap).toBeGreaterThan(40_000);
      expect(gap).toBeLessThan(LIFETIME * 1000);
    }
    expect(w.transitions.filter((t) => t.reason === 're-registration-due')).toHaveLength(4);
    expect(w.mn.node.state().registration).toBe('registered');
    await stop(w);
  });

  it('[R3.6.3-4] [R3.6.3-5] a lost Reply is retransmitted after 1 s, then 2 s, and the registration succeeds', async () => {
    const w = await world();
    let dropped = 0;
    // The router loses the first two Replies on their way to the node.
    w.r.intercept(
      (datagram) => {
        const p = decodeIpv4Packet(datagram);
        return dropped < 2 && p.ok && p.value.header.protocol === IpProtocol.UDP && p.value.header.destination === COA && p.value.header.source === HA;
      },
      () => void dropped++,
    );
    attachColocated(w);
    w.clock.advance(5000);
    expect(dropped).toBe(2);
    const sent = requests(w);
    expect(sent.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(sent[1]!.at - sent[0]!.at).toBe(1000);
    expect(sent[2]!.at - sent[1]!.at).toBe(2000);
    // Under timestamps each retransmission is a new registration with a greater Identification (3.6.3, R5.7.1-5).
    expect(new Set(sent.map((r) => r.identification)).size).toBe(3);
    expect(w.transitions.filter((t) => t.reason === 'reply-timeout')).toHaveLength(2);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'registered', code: 0 }));
    expect(w.ha.agent.bindings()).toMatchObject([{ careOfAddress: '203.0.113.77' }]);
    await stop(w);
  });

  it('[R3.6.2.3-3] [R3.6.3-4] with its clock an hour ahead, the node gets 133, resynchronises from the Reply and is accepted; the repaired Request goes 1 s after the first', async () => {
    const w = await world({ mnClockOffsetMs: 3_600_000 });
    attachColocated(w);
    w.clock.advance(2000);
    const replies = w.events.filter((e) => e.event === 'reply');
    expect(replies.map((e) => (e as { code: number }).code)).toEqual([133, 0]);
    expect(w.transitions.map((t) => t.reason)).toContain('identification-resynchronised');
    const sent = requests(w);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.identification).not.toBe(sent[0]!.identification);
    // The 133 came back within milliseconds; the repaired Request still waited 1 s (R3.6.3-4, R3.6-9).
    expect(sent[1]!.at - sent[0]!.at).toBe(1000);
    expect(w.ha.agent.bindingCount).toBe(1);
    expect(w.mn.node.state().registration).toBe('registered');
    // Counted for mip4 mobile-node: two Requests, one authentic Reply denying (133), one accepting.
    expect(w.mn.node.counters).toMatchObject({ requests: 2, replies: 2, repliesDiscarded: 0, repliesDenied: 1, repliesAccepted: 1 });
    await stop(w);
  });

  it('[R3.6.2.1-2] a late Reply to an earlier attempt is compared with the most recent Request and discarded', async () => {
    const w = await world();
    const held: Uint8Array[] = [];
    // The router holds back the first Reply and drops the second.
    w.r.intercept(
      (datagram) => {
        const p = decodeIpv4Packet(datagram);
        return held.length < 2 && p.ok && p.value.header.protocol === IpProtocol.UDP && p.value.header.destination === COA && p.value.header.source === HA;
      },
      (datagram) => void held.push(datagram.slice()),
    );
    w.clock.advance(1500);
    expect(held).toHaveLength(2);
    expect(requests(w).map((r) => r.attempt)).toEqual([1, 2]);
    // The Reply to attempt 1 arrives while attempt 2 is the most recent Request.
    w.r.sendIp(held[0]!);
    w.clock.advance(50);
    const late = w.events.filter((e) => e.event === 'reply');
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ code: 0, authentic: false, identification: requests(w)[0]!.identification });
    expect((late[0] as { discard?: string }).discard).toMatch(/^identification-mismatch/);
    expect(w.mn.node.state().registration).toBe('pending');
    // The third attempt's Reply gets through and is accepted.
    w.clock.advance(2500);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'registered', code: 0 }));
    await stop(w);
  });

  it('[R5.7-1] registers with timestamp replay protection: each Identification carries the node clock as NTP time', async () => {
    const w = await world();
    w.clock.advance(100);
    const sent = requests(w)[0]!;
    const [high, low] = [parseInt(sent.identification.slice(0, 8), 16), parseInt(sent.identification.slice(8), 16)];
    expect(Math.abs(identificationToUnixMs({ high, low }) - sent.at)).toBeLessThan(1000);
    expect(w.mn.node.state().registration).toBe('registered');
    await stop(w);
  });

  it('decapsulates IP-in-IP tunnelled to its co-located address and hands the inner datagram up (4.1)', async () => {
    const w = await world();
    attachColocated(w);
    const fields = {
      header: { tos: 0, identification: 7, flags: 0, fragmentOffset: 0, ttl: 60, protocol: IpProtocol.UDP, source: ipv4('192.0.2.5'), destination: MN1 },
      payload: new Uint8Array([0, 9, 0, 9, 0, 8, 0, 0]),
    };
    const inner = new Uint8Array(ipv4PacketLength(fields));
    encodeIpv4Packet(fields, inner, 0);
    const outer = new Uint8Array(20 + inner.length);
    ipInIpEncapsulate(inner, { source: HA, destination: COA, identification: 1 }, outer, 0);
    w.haHost.sendIp(outer);
    w.clock.advance(100);
    expect(w.received).toHaveLength(1);
    expect([...w.received[0]!]).toEqual([...inner]);
    expect(w.mn.node.counters.decapsulated).toBe(1);
    await stop(w);
  });
});

describe('mobile node returning home', () => {
  it('[R4.6-10] [R3.6.1.2-21] [R3.6.2.2-2] re-enables ARP, broadcasts a gratuitous ARP for its home address, then deregisters (Lifetime 0, care-of = home address); the binding is gone', async () => {
    const w = await world();
    attachColocated(w);
    expect(w.ha.agent.bindingCount).toBe(1);
    w.clock.advance(10_000);
    const capture = w.net.capture();
    // The node moves to its home link and takes its home address (what DHCP or its configuration would do).
    w.mnHost.moveInterface('eth0', w.net.segment('home'));
    w.mnHost.removeAddress('eth0', COA);
    w.mnHost.removeAddress('eth0', MN1);
    w.mnHost.removeRoute(0, 0);
    w.mnHost.addAddress('eth0', MN1, PREFIX_LENGTH);
    w.mnHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
    w.mn.node.linkChanged();
    advertise(w.haHost, 'eth0', HA, AdvertisementFlag.H, []);
    w.clock.advance(1000);

    const deregistration = requests(w).at(-1)!;
    expect(deregistration).toMatchObject({ destination: '198.51.100.1', homeAgent: '198.51.100.1', careOfAddress: '198.51.100.10', lifetime: 0 });
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'deregistered', code: 0 }));
    expect(w.ha.agent.bindingCount).toBe(0);
    expect(w.mn.node.state()).toMatchObject({ attachment: 'at-home', registration: 'deregistered' });

    // On the home link: the node's gratuitous ARP (sender = target = home address, its own MAC)
    // goes out before the deregistration Request (4.6).
    const frames = capture.frames('home').map((f) => f.frame);
    const garp = frames.findIndex((f) => {
      if (ethernetEtherType(f) !== EtherType.ARP) return false;
      const arp = decodeArpPacket(f, ETHERNET_HEADER_LENGTH);
      return arp.ok && arp.value.senderIp === MN1 && arp.value.targetIp === MN1 && arp.value.senderMac === MAC_MN;
    });
    const request = frames.findIndex((f) => {
      if (ethernetEtherType(f) !== EtherType.IPv4) return false;
      const p = decodeIpv4Packet(f, ETHERNET_HEADER_LENGTH);
      if (!p.ok || p.value.header.protocol !== IpProtocol.UDP || p.value.header.source !== MN1) return false;
      const r = decodeRegistrationRequest(p.value.payload, 8);
      return r.ok && r.value.lifetime === 0 && r.value.careOfAddress === MN1 && p.value.header.destination === HA;
    });
    expect(garp).toBeGreaterThanOrEqual(0);
    expect(request).toBeGreaterThan(garp);
    // 4.6 in order: ARP for the home address back on, the gratuitous ARP, then the Request.
    const returned = w.events.findIndex((e) => e.event === 'home-arp' && e.enabled);
    const announced = w.events.findIndex((e) => e.event === 'gratuitous-arp');
    const deregistering = w.events.findIndex((e) => e.event === 'request' && e.lifetime === 0);
    expect(returned).toBeGreaterThanOrEqual(0);
    expect(announced).toBeGreaterThan(returned);
    expect(deregistering).toBeGreaterThan(announced);
    expect(w.mn.node.currentAttachment()).toEqual({ kind: 'at-home' });
    capture.stop();
    await stop(w);
  });
});

describe('mobile node through a foreign agent', () => {
  /**
   * A stand-in foreign agent on the router: relays Requests from the link to the home agent and
   * Replies back to the visitor on the link (4.2.2: by its link-layer address, here a host route
   * and a static ARP entry), changing nothing in them.
   */
  function stubForeignAgent(w: World) {
    const scope = Effect.runSync(Scope.make());
    const socket = Effect.runSync(Scope.extend(Effect.flatMap(Udp, (udp) => udp.bind({ address: R_FOREIGN, port: MIP_PORT })), scope).pipe(Effect.provide(w.net.udpLayer(w.r))));
    w.r.addRoute(MN1, 32, { interface: 'eth1' });
    w.r.setArpEntry('eth1', MN1, MAC_MN);
    const relayed: string[] = [];
    let visitorPort = 0;
    socket.onMessage((d) => {
      if (d.address === HA) {
        relayed.push('reply');
        socket.send(d.data, MN1, visitorPort);
      } else {
        relayed.push('request');
        visitorPort = d.port;
        socket.send(d.data, HA, MIP_PORT);
      }
    });
    return { relayed, close: () => Effect.runSync(Scope.close(scope, Exit.void)) };
  }

  /** Registered through the stub agent on the router's foreign interface. */
  async function registeredThroughAgent() {
    const w = await world({ throughForeignAgent: true });
    const fa = stubForeignAgent(w);
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    w.clock.advance(200);
    expect(w.mn.node.state().registration).toBe('registered');
    return { w, fa };
  }

  function arpRequestFrame(senderIp: Ipv4Address, destinationMac: string): Uint8Array {
    const frame = new Uint8Array(ARP_FRAME_LENGTH);
    encodeArpFrame(arpRequest(MAC_R_FOREIGN, senderIp, MN1), destinationMac, MAC_R_FOREIGN, frame, 0);
    return frame;
  }

  it('[R4.6-15] [R4.6-16] away, only the foreign agent\'s unicast ARP Request for the home address is answered, with a unicast Reply', async () => {
    const { w, fa } = await registeredThroughAgent();
    // The host itself stays silent for the home address on the foreign link (the Linux host
    // adapter's arp_ignore); what answers is the node.
    w.mnHost.setArpBehaviour('eth0', { answer: 'none', request: false });
    const capture = w.net.capture();
    const repliesFromNode = () =>
      capture.frames('foreign').filter((f) => ethernetEtherType(f.frame) === EtherType.ARP && ethernetSource(f.frame) === MAC_MN).map((f) => f.frame);
    w.r.sendFrame('eth1', arpRequestFrame(R_FOREIGN, BROADCAST_MAC));
    w.clock.advance(50);
    expect(repliesFromNode()).toEqual([]);
    w.r.sendFrame('eth1', arpRequestFrame(ipv4('203.0.113.99'), MAC_MN));
    w.clock.advance(50);
    expect(repliesFromNode()).toEqual([]);
    w.r.sendFrame('eth1', arpRequestFrame(R_FOREIGN, MAC_MN));
    w.clock.advance(50);
    const replies = repliesFromNode();
    expect(replies).toHaveLength(1);
    expect(ethernetDestination(replies[0]!)).toBe(MAC_R_FOREIGN);
    const arp = decodeArpPacket(replies[0]!, ETHERNET_HEADER_LENGTH);
    expect(arp.ok && arp.value).toMatchObject({ operation: ArpOperation.Reply, senderIp: MN1, senderMac: MAC_MN, targetIp: R_FOREIGN, targetMac: MAC_R_FOREIGN });
    expect(w.mn.node.counters).toMatchObject({ agentArpReplies: 1, homeArpIgnored: 2 });
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R1.7-4] [R4.6-14] the Request reaches the agent by its link-layer address with no route to it and no ARP', async () => {
    const w = await world({ throughForeignAgent: true });
    const fa = stubForeignAgent(w);
    w.mnHost.removeRoute(R_FOREIGN, 32);
    w.mnHost.setArpBehaviour('eth0', { request: false });
    const capture = w.net.capture();
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    w.clock.advance(200);
    expect(fa.relayed).toEqual(['request', 'reply']);
    expect(requests(w)).toMatchObject([{ destination: '203.0.113.2', source: '198.51.100.10', via: 'link' }]);
    const fromNode = capture.frames('foreign').filter((f) => ethernetSource(f.frame) === MAC_MN).map((f) => f.frame);
    expect(fromNode.filter((f) => ethernetEtherType(f) === EtherType.ARP)).toEqual([]);
    expect(fromNode.filter((f) => ethernetEtherType(f) === EtherType.IPv4).map((f) => ethernetDestination(f))).toContain(MAC_R_FOREIGN);
    expect(w.mn.node.currentAttachment()).toEqual({ kind: 'foreign-agent', agent: R_FOREIGN, careOfAddress: R_FOREIGN, router: R_FOREIGN, routerLinkAddress: MAC_R_FOREIGN });
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R3.6-11] an ICMP Redirect from the serving foreign agent is no reason to register anew', async () => {
    const { w, fa } = await registeredThroughAgent();
    const before = requests(w).length;
    // ICMP Redirect (type 5, code 1: host) to another router, quoting a datagram of the node's.
    const icmp = new Uint8Array(8 + 28);
    icmp[0] = 5;
    icmp[1] = 1;
    icmp.set([203, 0, 113, 3], 4);
    icmp.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 10, 192, 0, 2, 20], 8);
    const checksum = internetChecksum(icmp, 0, icmp.length);
    icmp[2] = checksum >> 8;
    icmp[3] = checksum & 0xff;
    w.r.sendFrame('eth1', icmpFrame({ sourceMac: MAC_R_FOREIGN, destinationMac: MAC_MN, source: R_FOREIGN, destination: MN1 }, icmp));
    w.clock.advance(5000);
    expect(requests(w)).toHaveLength(before);
    expect(w.mn.node.currentAttachment()).toMatchObject({ kind: 'foreign-agent', agent: R_FOREIGN, router: R_FOREIGN });
    fa.close();
    await stop(w);
  });

  it('[R3.6.3-4] [R5.7.1-5] with a host adapter, the first Request leaves only once the host is configured; no Request is ever sent twice, each has a greater Identification, 1 s apart', async () => {
    const w = await world({ throughForeignAgent: true, hostApplyMs: 40 });
    const fa = stubForeignAgent(w);
    // Replies are lost for a while, so the node retransmits.
    let lost = 0;
    w.r.intercept(
      (datagram) => {
        const p = decodeIpv4Packet(datagram);
        return lost < 2 && p.ok && p.value.header.protocol === IpProtocol.UDP && p.value.header.source === HA;
      },
      () => void lost++,
    );
    const capture = w.net.capture();
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    await runFor(w.clock, 5000);
    expect(w.hostApplied).toMatchObject([{ kind: 'foreign-agent' }]);
    const configuredAt = w.hostApplied[0]!.at;
    const onWire = requestsOnWire(capture, 'foreign');
    expect(onWire.length).toBe(3);
    // None before the host was ready: the attachment is announced, then configured, then registered.
    expect(onWire[0]!.time).toBeGreaterThanOrEqual(configuredAt);
    const order = w.events.map((e) => e.event).filter((e) => e === 'attachment' || e === 'host-configured' || e === 'request');
    expect(order.slice(0, 3)).toEqual(['attachment', 'host-configured', 'request']);
    for (let i = 1; i < onWire.length; i++) {
      expect(onWire[i]!.time - onWire[i - 1]!.time).toBeGreaterThanOrEqual(1000);
      expect(compareIdentification(onWire[i]!.identification, onWire[i - 1]!.identification)).toBe(1);
    }
    // Every Request on the wire is one the registration machine sent and logged.
    expect(requests(w).map((r) => r.identification)).toEqual(onWire.map((r) => identificationToHex(r.identification)));
    expect(w.mn.node.counters.requests).toBe(onWire.length);
    expect(w.mn.node.state().registration).toBe('registered');
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R2.4.3-2] [R4.6-19] [R4.6-10] [R4.6-11] returning home with a host adapter: host reconfigured first, then the gratuitous ARP (repeated 1 s apart) and the deregistration to the home agent\'s MAC, not the old agent\'s', async () => {
    const w = await world({ throughForeignAgent: true, hostApplyMs: 40 });
    const fa = stubForeignAgent(w);
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    await runFor(w.clock, 500);
    expect(w.mn.node.state().registration).toBe('registered');
    await runFor(w.clock, 5000, 100);
    const capture = w.net.capture();
    // The node is carried home; nothing reconfigures its host but the adapter.
    w.mnHost.moveInterface('eth0', w.net.segment('home'));
    w.mn.node.linkChanged();
    advertise(w.haHost, 'eth0', HA, AdvertisementFlag.H, []);
    await runFor(w.clock, 4000);

    const atHome = w.hostApplied.find((a) => a.kind === 'at-home')!;
    expect(atHome).toBeDefined();
    const deregistration = requestsOnWire(capture, 'home').filter((r) => r.lifetime === 0);
    expect(deregistration).toHaveLength(1);
    // To the home agent on the home link, by its own link-layer address (R2.4.3-2: routes for home first).
    expect(deregistration[0]).toMatchObject({ destination: HA, mac: MAC_HA });
    expect(deregistration[0]!.time).toBeGreaterThanOrEqual(atHome.at);
    expect(capture.frames('home').some((f) => ethernetSource(f.frame) === MAC_MN && ethernetDestination(f.frame) === MAC_R_FOREIGN)).toBe(false);
    // 4.6: the gratuitous ARP after ARP is back on (the adapter), before the Request, then twice more, 1 s apart.
    const garps = gratuitousArpsOnWire(capture, 'home');
    expect(garps.map((f) => f.time - garps[0]!.time)).toEqual([0, 1000, 2000]);
    expect(garps[0]!.time).toBeGreaterThanOrEqual(atHome.at);
    expect(garps[0]!.time).toBeLessThanOrEqual(deregistration[0]!.time);
    const frames = capture.frames('home');
    expect(frames.indexOf(garps[0]!)).toBeLessThan(frames.findIndex((f) => f.time === deregistration[0]!.time && ethernetSource(f.frame) === MAC_MN && ethernetEtherType(f.frame) === EtherType.IPv4));
    expect(w.events.filter((e) => e.event === 'gratuitous-arp').map((e) => (e as { copy: number }).copy)).toEqual([1, 2, 3]);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'deregistered', code: 0 }));
    expect(w.ha.agent.bindingCount).toBe(0);
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R4.6-14] leaving home again (a link change) stops the remaining gratuitous ARP copies', async () => {
    const w = await world({ throughForeignAgent: true });
    const fa = stubForeignAgent(w);
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    w.clock.advance(5000);
    w.mnHost.moveInterface('eth0', w.net.segment('home'));
    w.mnHost.removeRoute(0, 0);
    w.mnHost.addAddress('eth0', MN1, PREFIX_LENGTH);
    w.mn.node.linkChanged();
    advertise(w.haHost, 'eth0', HA, AdvertisementFlag.H, []);
    w.clock.advance(1500);
    expect(w.events.filter((e) => e.event === 'gratuitous-arp')).toHaveLength(2);
    // Back on the foreign link within the copies' 2 s.
    const capture = w.net.capture();
    w.mnHost.moveInterface('eth0', w.net.segment('foreign'));
    w.mn.node.linkChanged();
    // The third copy was due 0.5 s later; the agent is heard only after that.
    w.clock.advance(1000);
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN], 1);
    w.clock.advance(5000);
    expect(w.events.filter((e) => e.event === 'gratuitous-arp')).toHaveLength(2);
    expect(capture.frames('foreign').filter((f) => ethernetSource(f.frame) === MAC_MN && ethernetEtherType(f.frame) === EtherType.ARP)).toEqual([]);
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R3.6-8] [R3.6-9] moveDetection prefix: two agents of different prefixes advertising on one link for 20 s: one registration, no hopping', async () => {
    const w = await world({ throughForeignAgent: true, config: { moveDetection: 'prefix' } });
    const fa = stubForeignAgent(w);
    const OTHER = ipv4('192.0.2.1');
    const other = w.net.addHost('other-agent');
    other.addInterface('eth0', w.net.segment('foreign'), { mac: '02:00:00:00:02:02', address: OTHER, prefixLength: 24 });
    const capture = w.net.capture();
    // Each advertises every second with a 3 s Lifetime (2.3), interleaved.
    for (let i = 0; i < 20; i++) {
      advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN], 256 + i, { lifetime: 3, prefixLength: 24 });
      w.clock.advance(500);
      advertise(other, 'eth0', OTHER, AdvertisementFlag.R | AdvertisementFlag.F, [OTHER], 256 + i, { lifetime: 3, prefixLength: 24 });
      w.clock.advance(500);
    }
    expect(requests(w)).toHaveLength(1);
    expect(requestsOnWire(capture, 'foreign').map((r) => r.destination)).toEqual([R_FOREIGN]);
    expect(w.transitions.filter((t) => t.reason === 'moved-prefix-changed')).toEqual([]);
    expect(w.mn.node.state()).toMatchObject({ attachment: 'foreign-agent', agent: '203.0.113.2', registration: 'registered' });
    capture.stop();
    fa.close();
    await stop(w);
  });

  it('[R3.6.1.2-3] registers through the foreign agent it heard (R set): to the agent, with its care-of address, no D bit', async () => {
    const w = await world({ throughForeignAgent: true });
    const fa = stubForeignAgent(w);
    const capture = w.net.capture();
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    w.clock.advance(200);
    expect(fa.relayed).toEqual(['request', 'reply']);
    expect(requests(w)).toMatchObject([{ destination: '203.0.113.2', careOfAddress: '203.0.113.2', lifetime: LIFETIME }]);
    const onLink = capture
      .frames('foreign')
      .map((f) => decodeIpv4Packet(f.frame, ETHERNET_HEADER_LENGTH))
      .flatMap((p) => (p.ok && p.value.header.protocol === IpProtocol.UDP && p.value.header.destination === R_FOREIGN ? [p.value] : []));
    expect(onLink).toHaveLength(1);
    // R3.6.1.1: through a foreign agent the source is the home address.
    expect(onLink[0]!.header.source).toBe(MN1);
    const onWire = decodeRegistrationRequest(onLink[0]!.payload, 8);
    expect(onWire.ok && onWire.value.flags & RequestFlag.D).toBe(0);
    expect(w.events).toContainEqual(expect.objectContaining({ event: 'registered', code: 0 }));
    expect(w.ha.agent.bindings()).toMatchObject([{ homeAddress: '198.51.100.10', careOfAddress: '203.0.113.2' }]);
    expect(w.mn.node.state()).toMatchObject({ attachment: 'foreign-agent', agent: '203.0.113.2', careOfAddress: '203.0.113.2', registration: 'registered' });
    capture.stop();
    fa.close();
    await stop(w);
  });
});

describe('mobile node following the kernel (carrier and addresses, runtime/mn/kernel-follower.ts feeds these)', () => {
  const after = (w: World, index: number) => w.events.slice(index);

  it('[R2.4-10] a lost carrier stops every transmission and says so; the carrier back sends a solicitation at once and registers with the first Advertisement at once', async () => {
    const w = await world({ throughForeignAgent: true });
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    await runFor(w.clock, 50);
    expect(requests(w)).toHaveLength(1);
    const mark = w.events.length;
    w.mn.node.linkLost();
    expect(w.mn.node.state()).toMatchObject({ link: 'down' });
    expect(w.mn.node.hasLink).toBe(false);
    const capture = w.net.capture();
    // No Reply comes (no agent relays): retransmissions and solicitations would be due now.
    await runFor(w.clock, 3000, 50);
    expect(after(w, mark).filter((e) => e.event === 'request' || e.event === 'solicitation')).toEqual([]);
    expect(capture.frames('foreign').filter((f) => ethernetSource(f.frame) === MAC_MN)).toEqual([]);
    capture.stop();

    const upAt = w.clock.now();
    const restored = w.events.length;
    w.mn.node.linkRestored();
    expect(w.mn.node.state().link).toBeUndefined();
    const solicitations = after(w, restored).filter((e) => e.event === 'solicitation');
    expect(solicitations).toHaveLength(1);
    expect(solicitations[0]!.at).toBe(upAt);
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN], 1);
    await runFor(w.clock, 20, 1);
    const again = after(w, restored).filter((e) => e.event === 'request');
    expect(again).toHaveLength(1);
    expect(again[0]!.at - upAt).toBeLessThan(10);
    await stop(w);
  });

  it('[R3.6.3-4] a carrier back within 1 s of the last Request: the next Request still waits for the second to pass', async () => {
    const w = await world({ throughForeignAgent: true });
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    await runFor(w.clock, 50);
    const first = requests(w)[0]!;
    w.mn.node.linkLost();
    await runFor(w.clock, 100, 10);
    w.mn.node.linkRestored();
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN], 1);
    await runFor(w.clock, 1500, 10);
    const sent = requests(w);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent[1]!.at - first.at).toBeGreaterThanOrEqual(1000);
    expect(sent[1]!.at - first.at).toBeLessThan(1020);
    await stop(w);
  });

  it('an address added to the interface (DHCP) is registered as the co-located care-of address at once, with its gateway; its removal falls back to soliciting an agent', async () => {
    const w = await world({ throughForeignAgent: true, hostApplyMs: 5 });
    await runFor(w.clock, 50);
    expect(w.events.some((e) => e.event === 'solicitation')).toBe(true);
    // What a DHCP client does: the address and a default route on the interface.
    w.mnHost.addAddress('eth0', COA, 24);
    w.mnHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
    const at = w.clock.now();
    const mark = w.events.length;
    w.mn.node.colocatedAddressChanged({ address: COA, prefixLength: 24, gateway: R_FOREIGN });
    await runFor(w.clock, 100, 1);
    const sent = after(w, mark).filter((e): e is Extract<MobileNodeEvent, { event: 'request' }> => e.event === 'request');
    expect(sent[0]).toMatchObject({ careOfAddress: '203.0.113.77', source: '203.0.113.77', via: 'ip' });
    expect(sent[0]!.at - at).toBeLessThanOrEqual(10); // the host adapter's 5 ms, then the Request
    expect(w.mn.node.state()).toMatchObject({ attachment: 'co-located', careOfAddress: '203.0.113.77', registration: 'registered' });
    expect(w.mn.node.currentAttachment()).toEqual({ kind: 'co-located', careOfAddress: COA, prefixLength: 24, gateway: R_FOREIGN });
    expect(w.ha.agent.bindings()[0]).toMatchObject({ careOfAddress: '203.0.113.77' });
    // The same address reported again (a dump after an overrun) changes nothing.
    const quiet = w.events.length;
    w.mn.node.colocatedAddressChanged({ address: COA, prefixLength: 24, gateway: R_FOREIGN });
    expect(w.events.length).toBe(quiet);

    const removed = w.events.length;
    w.mn.node.colocatedAddressChanged(undefined);
    await runFor(w.clock, 10, 1);
    expect(w.mn.node.state().attachment).toBe('searching');
    expect(after(w, removed).filter((e) => e.event === 'solicitation')).toHaveLength(1);
    // An agent heard now is registered through.
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN], 1);
    await runFor(w.clock, 1500, 10);
    expect(after(w, removed).filter((e): e is Extract<MobileNodeEvent, { event: 'request' }> => e.event === 'request')[0]).toMatchObject({ careOfAddress: '203.0.113.2' });
    expect(w.mn.node.state()).toMatchObject({ attachment: 'foreign-agent' });
    await stop(w);
  });

  it('[R4.6-18] a move between foreign agents sends its Request without waiting for the host routes (ARP already off); from home it waits for the host', async () => {
    const w = await world({ throughForeignAgent: true, hostApplyMs: 300 });
    // From home-less start (searching) to the first agent: the host is configured first.
    advertise(w.r, 'eth1', R_FOREIGN, AdvertisementFlag.R | AdvertisementFlag.F, [R_FOREIGN]);
    await runFor(w.clock, 400, 5);
    const first = requests(w)[0]!;
    expect(first.at).toBeGreaterThanOrEqual(w.hostApplied[0]!.at);
    // A second agent on another link (the node's carrier dropped and came back).
    const OTHER = ipv4('203.0.113.9');
    const other = w.net.addHost('fa2');
    other.addInterface('eth0', w.net.segment('foreign'), { mac: '02:00:00:00:02:09', address: OTHER, prefixLength: 24 });
    // No agent answers the first Requests: wait for a gap in their retransmissions (1, 2, 4 s
    // apart), so R3.6.3-4's 1 s spacing does not hold the next one.
    await runFor(w.clock, 4000, 50);
    expect(w.clock.now() - requests(w).at(-1)!.at).toBeGreaterThan(1000);
    w.mn.node.linkLost();
    w.mn.node.linkRestored();
    const upAt = w.clock.now();
    advertise(other, 'eth0', OTHER, AdvertisementFlag.R | AdvertisementFlag.F, [OTHER]);
    await runFor(w.clock, 400, 1);
    const second = requests(w).find((r) => r.careOfAddress === '203.0.113.9')!;
    expect(second).toBeDefined();
    expect(second.at - upAt).toBeLessThan(10);
    const applied = w.hostApplied.filter((a) => a.kind === 'foreign-agent');
    expect(applied).toHaveLength(2);
    expect(applied[1]!.at).toBeGreaterThan(second.at + 250);
    await stop(w);
  });
});
