/**
 * The home agent's ARP executor (runtime/ha/home-link.ts) on a simulated home segment
 * (RFC 5944 4.6): a HomeAgent from the harness, its interface on the segment, a correspondent
 * host that has talked to the mobile node (so its ARP cache holds the node's MAC), and the
 * mobile node itself as a host that leaves the link and comes back.
 *
 * What the correspondent's cache says is the observable: it changes only as RFC 826 allows,
 * so it shows whether the agent's frames were right. The segment's tap shows the frames.
 */
import { describe, expect, it } from 'vitest';
import { SimArpHost, SimEthernetSegment } from '../../io/sim/ethernet.js';
import { ArpOperation, arpRequest, decodeArpPacket, encodeArpFrame, type ArpPacket } from '../../io/wire/arp.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { BROADCAST_MAC, decodeEthernetFrame, encodeEthernetHeader, EtherType } from '../../io/wire/ethernet.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { attachHomeLink, type HomeLinkEvent, type HomeLinkOptions } from '../../runtime/ha/home-link.js';
import { COA1, HA, Harness, MHAE, MN1, MN2, MN2_KEY, START, WRONG_KEY } from './home-agent-harness.js';

const HA_MAC = '02:00:5e:00:00:01';
const MN_MAC = '02:00:00:00:00:10';
const CN_MAC = '02:00:00:00:00:20';
const CN = ipv4('198.51.100.20');
const LATENCY = 1;

interface WireFrame {
  readonly time: number;
  readonly destination: string;
  readonly source: string;
  readonly arp: ArpPacket | undefined;
}

function setup(options: Partial<HomeLinkOptions> = {}) {
  const h = new Harness();
  const wire: WireFrame[] = [];
  const segment = new SimEthernetSegment({
    clock: h.clock,
    name: 'home',
    latencyMs: LATENCY,
    tap: (time, frame) => {
      const ethernet = decodeEthernetFrame(frame);
      if (!ethernet.ok) throw new Error(ethernet.error.message);
      const arp = ethernet.value.etherType === EtherType.ARP ? decodeArpPacket(ethernet.value.payload) : undefined;
      wire.push({ time, destination: ethernet.value.destination, source: ethernet.value.source, arp: arp?.ok ? arp.value : undefined });
    },
  });
  const haPort = segment.attach({ name: 'eth0', mac: HA_MAC });
  const cn = SimArpHost.attach(segment, { name: 'cn0', mac: CN_MAC, addresses: [CN] });
  const mn = SimArpHost.attach(segment, { name: 'mn0', mac: MN_MAC, addresses: [MN1] });
  const link = attachHomeLink(h.agent, haPort, { clock: h.clock, addresses: [HA], retransmitMs: 1000, ...options });
  const events: HomeLinkEvent[] = [];
  link.events.subscribe((e) => events.push(e));

  // The node at home has talked with the correspondent: each has the other in its cache.
  cn.resolve(MN1);
  h.clock.advance(10);
  expect(cn.cacheEntry(MN1)).toBe(MN_MAC);
  wire.length = 0;

  /** Frames the home agent put on the wire. */
  const fromAgent = () => wire.filter((f) => f.source === HA_MAC);
  /** The node leaves home: it no longer hears or answers anything on the home link (4.6). */
  const leave = () => mn.link.setLinkUp(false);
  /** A correspondent asks afresh for an address: who answers? */
  const resolveFresh = (ip: Ipv4Address) => {
    cn.forget(ip);
    const before = wire.length;
    cn.resolve(ip);
    h.clock.advance(2 * LATENCY);
    return { entry: cn.cacheEntry(ip), replies: wire.slice(before).filter((f) => f.arp?.operation === ArpOperation.Reply) };
  };
  /** The node deregisters from home (3.6.1.2: care-of address = home address, lifetime 0). */
  const deregisterFromHome = (key = MHAE()) =>
    h.ask({ identification: h.fresh(), careOfAddress: MN1, lifetime: 0, extensions: [key] }, { source: MN1 });
  return { h, segment, haPort, cn, mn, link, events, wire, fromAgent, leave, resolveFresh, deregisterFromHome };
}

const gratuitous = (mac: string, ip: Ipv4Address, operation: 1 | 2 = ArpOperation.Request): ArpPacket => ({
  operation,
  senderMac: mac,
  senderIp: ip,
  targetMac: operation === ArpOperation.Request ? '00:00:00:00:00:00' : mac,
  targetIp: ip,
});

describe('home link: leaving home (4.6)', () => {
  it('[R4.6-7] [R4.6-8] [R4.6-2] an accepted first registration broadcasts a gratuitous ARP with the agent\'s MAC at once', () => {
    const s = setup();
    s.leave();
    const t0 = s.h.clock.now();
    s.h.register();
    // The first copy is on the wire before the clock moves: in parallel with the Reply.
    expect(s.fromAgent()).toEqual([{ time: t0, destination: BROADCAST_MAC, source: HA_MAC, arp: gratuitous(HA_MAC, MN1) }]);
    expect(s.cn.cacheEntry(MN1)).toBe(MN_MAC);
    s.h.clock.advance(LATENCY);
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
  });

  it('[R4.6-9] the gratuitous ARP goes out `copies` times, retransmitMs apart, then stops', () => {
    const s = setup({ retransmitMs: 250 });
    s.leave();
    const t0 = s.h.clock.now();
    s.h.register();
    s.h.clock.advance(10_000);
    const sent = s.fromAgent();
    expect(sent.map((f) => f.time - t0)).toEqual([0, 250, 500]);
    expect(new Set(sent.map((f) => JSON.stringify(f.arp))).size).toBe(1);
    expect(sent.every((f) => f.destination === BROADCAST_MAC)).toBe(true);
    expect(s.link.counters.gratuitousSent).toBe(3);
    expect(s.events.filter((e) => e.event === 'gratuitous-arp').map((e) => e.event === 'gratuitous-arp' && `${e.copy}/${e.copies}`)).toEqual([
      '1/3',
      '2/3',
      '3/3',
    ]);
  });

  it('copies are spaced 1000 ms apart by default', () => {
    const h = new Harness();
    const segment = new SimEthernetSegment({ clock: h.clock });
    const times: number[] = [];
    segment.setTap((t) => times.push(t - START));
    attachHomeLink(h.agent, segment.attach({ name: 'eth0', mac: HA_MAC }), { clock: h.clock, addresses: [HA] });
    h.register();
    h.clock.advance(5000);
    expect(times).toEqual([0, 1000, 2000]);
  });

  it('[R4.6-1] the gratuitous ARP may be an ARP Reply; caches move all the same', () => {
    const s = setup({ gratuitousOperation: 'reply' });
    s.leave();
    s.h.register();
    s.h.clock.advance(LATENCY);
    expect(s.fromAgent()[0]!.arp).toEqual(gratuitous(HA_MAC, MN1, ArpOperation.Reply));
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
  });

  it('[R4.6-4] [R4.6-5] [R4.6-6] while the binding lasts, a Request for the home address gets a proxy Reply with the agent\'s MAC, unicast', () => {
    const s = setup();
    s.leave();
    s.h.register();
    s.h.clock.advance(5000);
    const { entry, replies } = s.resolveFresh(MN1);
    expect(entry).toBe(HA_MAC);
    expect(replies).toEqual([
      {
        time: expect.any(Number),
        destination: CN_MAC,
        source: HA_MAC,
        arp: { operation: ArpOperation.Reply, senderMac: HA_MAC, senderIp: MN1, targetMac: CN_MAC, targetIp: CN },
      },
    ]);
    expect(s.link.counters.proxyReplies).toBe(1);
    expect(s.link.proxiedAddresses()).toEqual([MN1]);
    expect(s.events.some((e) => e.event === 'proxy-arp-reply' && e.requesterLinkAddress === CN_MAC)).toBe(true);
  });

  it('[R4.6-4] a Request for a home address without a binding is not answered', () => {
    const s = setup();
    s.leave();
    s.h.register();
    const { entry, replies } = s.resolveFresh(MN2);
    expect(entry).toBeUndefined();
    expect(replies).toEqual([]);
  });

  it('the agent answers Requests for its own address (unless told the OS does)', () => {
    const s = setup();
    expect(s.resolveFresh(HA)).toMatchObject({ entry: HA_MAC, replies: [{ destination: CN_MAC, source: HA_MAC }] });
    expect(s.link.counters.ownReplies).toBe(1);

    const quiet = setup({ answerOwnAddresses: false });
    expect(quiet.resolveFresh(HA)).toEqual({ entry: undefined, replies: [] });
  });

  it('[R4.6-20] a denied registration changes nothing: no frame, no proxy ARP', () => {
    const s = setup();
    s.leave();
    const sent = s.h.ask({ identification: s.h.fresh(), flags: RequestFlag.T }, { source: COA1 });
    expect(sent.reply.code).toBeGreaterThan(1);
    s.h.clock.advance(5000);
    expect(s.fromAgent()).toEqual([]);
    expect(s.cn.cacheEntry(MN1)).toBe(MN_MAC);
    expect(s.resolveFresh(MN1)).toEqual({ entry: undefined, replies: [] });
  });
});

describe('home link: returning home (4.6)', () => {
  /** Away with a binding, the announcement done, the correspondent's cache at the agent. */
  function away(options: Partial<HomeLinkOptions> = {}) {
    const s = setup(options);
    s.leave();
    s.h.register();
    s.h.clock.advance(5000);
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
    s.wire.length = 0;
    return s;
  }

  /**
   * The node is back and announces itself before deregistering (4.6) — out of the
   * correspondent's range (the reason 4.6 has the agent announce it too), but heard by the agent.
   */
  function announceOutOfRange(s: ReturnType<typeof away>) {
    s.mn.link.setLinkUp(true);
    s.cn.link.setLinkUp(false);
    s.mn.sendGratuitous(MN1);
    s.h.clock.advance(LATENCY);
    s.cn.link.setLinkUp(true);
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
  }

  it('[R4.6-19] [R4.6-12] [R4.6-13] the agent stops proxying, then broadcasts the node\'s own MAC for the home address', () => {
    const s = away({ retransmitMs: 300 });
    announceOutOfRange(s);
    // The agent learned the node's MAC from the node's announcement, and did not answer it.
    expect(s.link.mobileNodeLinkAddress(MN1)).toBe(MN_MAC);
    expect(s.link.counters.announcementsSeen).toBe(1);
    expect(s.fromAgent()).toEqual([]);

    const t0 = s.h.clock.now();
    const eventsBefore = s.events.length;
    expect(s.deregisterFromHome().reply.code).toBe(0);
    expect(s.link.proxiedAddresses()).toEqual([]);
    // In this order: proxy ARP off, then the announcement.
    expect(s.events.slice(eventsBefore, eventsBefore + 2).map((e) => e.event)).toEqual(['proxy-arp', 'gratuitous-arp']);
    s.h.clock.advance(5000);
    const announced = s.fromAgent();
    expect(announced.map((f) => f.time - t0)).toEqual([0, 300, 600]);
    for (const f of announced) {
      // Sender Hardware Address = the node's; the frame's source stays the agent's interface.
      expect(f).toEqual({ time: f.time, destination: BROADCAST_MAC, source: HA_MAC, arp: gratuitous(MN_MAC, MN1) });
    }
    expect(s.cn.cacheEntry(MN1)).toBe(MN_MAC);
    // Now only the node answers for its address.
    const { entry, replies } = s.resolveFresh(MN1);
    expect(entry).toBe(MN_MAC);
    expect(replies.map((r) => r.source)).toEqual([MN_MAC]);
  });

  it('[R4.6-20] a denied deregistration from home changes nothing: proxy ARP continues', () => {
    const s = away();
    announceOutOfRange(s);
    s.mn.link.setLinkUp(false); // so that any answer can only come from the agent
    expect(s.deregisterFromHome(MHAE(WRONG_KEY)).reply.code).toBeGreaterThan(1);
    s.h.clock.advance(5000);
    expect(s.fromAgent()).toEqual([]);
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
    expect(s.resolveFresh(MN1).entry).toBe(HA_MAC);
  });

  it('a configured MAC is announced even when the node was not heard', () => {
    const s = away({ knownLinkAddresses: new Map([[MN1, '02:00:00:00:00:10']]) });
    s.mn.link.setLinkUp(true);
    s.deregisterFromHome();
    s.h.clock.advance(LATENCY);
    expect(s.fromAgent()[0]!.arp).toEqual(gratuitous(MN_MAC, MN1));
    expect(s.cn.cacheEntry(MN1)).toBe(MN_MAC);
  });

  it('an unknown node MAC: no frame, an event saying so, a counter', () => {
    const s = away();
    s.mn.link.setLinkUp(true); // back, but silent
    expect(s.deregisterFromHome().reply.code).toBe(0);
    s.h.clock.advance(5000);
    expect(s.fromAgent()).toEqual([]);
    expect(s.link.counters.unknownMobileNodeAddress).toBe(1);
    const skipped = s.events.filter((e) => e.event === 'gratuitous-arp-skipped');
    expect(skipped).toEqual([
      { event: 'gratuitous-arp-skipped', at: expect.any(Number), homeAddress: '198.51.100.10', linkAddressOf: 'mobile-node', detail: expect.stringMatching(/unknown.*knownLinkAddresses/) },
    ]);
    // Proxy ARP stopped all the same.
    expect(s.link.proxiedAddresses()).toEqual([]);
  });

  it('a quick return supersedes the pending copies with the agent\'s MAC, and a quick departure those with the node\'s', () => {
    const s = setup({ retransmitMs: 1000, knownLinkAddresses: new Map([[MN1, MN_MAC]]) });
    s.leave();
    const t0 = s.h.clock.now();
    s.h.register();
    s.h.clock.advance(500);
    s.deregisterFromHome();
    s.h.clock.advance(500);
    s.h.register();
    s.h.clock.advance(10_000);
    const who = s.fromAgent().map((f) => `${f.time - t0}:${f.arp?.senderMac === HA_MAC ? 'agent' : 'node'}`);
    expect(who).toEqual(['0:agent', '500:node', '1000:agent', '2000:agent', '3000:agent']);
    expect(s.link.counters.gratuitousSuperseded).toBe(2 + 2);
    expect(s.events.filter((e) => e.event === 'gratuitous-arp-superseded').map((e) => e.event === 'gratuitous-arp-superseded' && [e.linkAddressOf, e.unsent])).toEqual([
      ['home-agent', 2],
      ['mobile-node', 2],
    ]);
    expect(s.cn.cacheEntry(MN1)).toBe(HA_MAC);
  });
});

describe('home link: lifetime and detach', () => {
  it('a binding that ends while announcement copies are pending cancels them (no announcing an address no longer proxied)', () => {
    const s = setup({ retransmitMs: 3000 });
    s.leave();
    const t0 = s.h.clock.now();
    s.h.register({ lifetime: 5 });
    s.h.clock.advance(20_000);
    expect(s.fromAgent().map((f) => f.time - t0)).toEqual([0, 3000]);
    expect(s.link.counters.gratuitousSuperseded).toBe(1);
  });

  it('proxy ARP stops when the binding expires', () => {
    const s = setup();
    s.leave();
    s.h.register({ lifetime: 10 });
    s.h.clock.advance(9_000);
    expect(s.resolveFresh(MN1).entry).toBe(HA_MAC);
    s.h.clock.advance(1_000);
    expect(s.link.proxiedAddresses()).toEqual([]);
    expect(s.resolveFresh(MN1)).toEqual({ entry: undefined, replies: [] });
  });

  it('detach() stops everything: pending copies, answers, new commands', () => {
    const s = setup();
    s.leave();
    s.h.register();
    expect(s.fromAgent()).toHaveLength(1);
    s.link.detach();
    s.h.clock.advance(10_000);
    expect(s.fromAgent()).toHaveLength(1);
    expect(s.resolveFresh(MN1)).toEqual({ entry: undefined, replies: [] });
    expect(s.resolveFresh(HA)).toEqual({ entry: undefined, replies: [] });
    s.h.register({ homeAddress: MN2, extensions: [MHAE(MN2_KEY)] });
    s.h.clock.advance(10_000);
    expect(s.fromAgent()).toHaveLength(1);
    expect(s.link.proxiedAddresses()).toEqual([]);
    s.link.detach(); // idempotent
  });

  it('closing the agent detaches the link', () => {
    const s = setup();
    let completed = false;
    s.link.events.subscribe({ complete: () => (completed = true) });
    s.h.agent.close();
    expect(completed).toBe(true);
    expect(s.resolveFresh(HA)).toEqual({ entry: undefined, replies: [] });
  });

  it('frames that are not ARP go to onOtherFrame; ARP unicast to another station is ignored', () => {
    const other: number[] = [];
    const s = setup({ onOtherFrame: (f) => other.push(f[14]!) });
    const station = s.segment.attach({ name: 'x', mac: '02:00:00:00:00:77' });
    const ip = new Uint8Array(60);
    encodeEthernetHeader(HA_MAC, station.mac, EtherType.IPv4, ip, 0);
    ip[14] = 0x45;
    station.send(ip);
    s.h.clock.advance(LATENCY);
    expect(other).toEqual([0x45]);
    expect(s.link.counters.otherFrames).toBe(1);

    // Promiscuous, the interface also sees a Request unicast to another station: not for it.
    s.haPort.promiscuous = true;
    const request = new Uint8Array(42);
    encodeArpFrame(arpRequest(station.mac, ipv4('198.51.100.77'), HA), CN_MAC, station.mac, request, 0);
    station.send(request);
    s.h.clock.advance(2 * LATENCY);
    expect(s.fromAgent()).toEqual([]);
    expect(s.link.counters.notForThisInterface).toBe(1);
  });

  it('ignores its own frames looped back, and never answers or learns a group sender address', () => {
    const s = setup();
    s.leave();
    s.h.register();
    s.h.clock.advance(5000);
    const station = s.segment.attach({ name: 'x', mac: '02:00:00:00:00:77' });
    const send = (packet: ArpPacket, source: string) => {
      const bytes = new Uint8Array(42);
      encodeArpFrame(packet, BROADCAST_MAC, source, bytes, 0);
      station.send(bytes);
      s.h.clock.advance(2 * LATENCY);
    };
    s.wire.length = 0;
    const arpIn = s.link.counters.arpIn;
    // What a raw socket hands back of the agent's own transmissions: Ethernet source = its MAC.
    send(arpRequest('02:00:00:00:00:55', MN1, MN2), HA_MAC);
    expect(s.link.mobileNodeLinkAddress(MN1)).toBeUndefined();
    expect(s.link.counters.arpIn).toBe(arpIn);
    // A forged Request whose reply would go to every station.
    send(arpRequest(BROADCAST_MAC, MN1, MN2), station.mac);
    send(arpRequest(BROADCAST_MAC, CN, MN1), station.mac);
    expect(s.link.mobileNodeLinkAddress(MN1)).toBeUndefined();
    expect(s.wire.filter((f) => f.arp?.operation === ArpOperation.Reply)).toEqual([]);
    expect(s.link.counters.malformed).toBe(2);
  });

  it('link errors are counted and reported', () => {
    const s = setup();
    s.haPort.send(new Uint8Array(3));
    expect(s.link.counters.linkErrors).toBe(1);
    expect(s.events.at(-1)).toMatchObject({ event: 'link-error', reason: 'send' });
  });
});
