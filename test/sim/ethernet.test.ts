/**
 * The simulated Ethernet segment (io/sim/ethernet.ts): who receives a frame (unicast to its
 * MAC, broadcast, group addresses, promiscuous listeners, never the sender), when (latency on
 * the simulated clock), link up/down, seeded loss, the tap, the Link layer for a simulated
 * host, and the ARP cache rules of a simulated host (RFC 826 packet reception, as RFC 5944
 * 4.6 restates it).
 */
import { Effect, Exit, Scope } from 'effect';
import { describe, expect, it } from 'vitest';
import { Link, LinkError, type LinkInterface } from '../../io/link.js';
import { ETHERNET_MINIMUM_FRAME, SimArpHost, SimEthernetSegment, simLinkLayer, type SimEthernetPort } from '../../io/sim/ethernet.js';
import { ArpOperation, arpReply, decodeArpPacket, encodeArpFrame, gratuitousArp, type ArpPacket } from '../../io/wire/arp.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { BROADCAST_MAC, decodeEthernetFrame, encodeEthernetHeader, EtherType, ZERO_MAC } from '../../io/wire/ethernet.js';
import { SimulatedClock } from '../../io/clock.js';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const MAC_C = '02:00:00:00:00:0c';
const MAC_NOBODY = '02:00:00:00:00:99';
/** An IPv4 multicast MAC (RFC 1112 6.4): the I/G bit is set. */
const MULTICAST = '01:00:5e:00:00:01';
/** Another group address, not IP: only the I/G bit makes it one. */
const GROUP = '03:00:00:00:00:07';

const IP_A = ipv4('198.51.100.1');
const IP_B = ipv4('198.51.100.2');
const IP_C = ipv4('198.51.100.3');
const IP_D = ipv4('198.51.100.4');

/** A frame to `destination` from `source` carrying one tag byte (EtherType 0x88b5, local experimental). */
function frame(destination: string, source: string, tag: number, length = 15): Uint8Array {
  const bytes = new Uint8Array(length);
  encodeEthernetHeader(destination, source, 0x88b5, bytes, 0);
  bytes[14] = tag;
  return bytes;
}

interface Received {
  readonly at: number;
  readonly port: string;
  readonly tag: number;
  readonly length: number;
}

function setup(options: { latencyMs?: number; loss?: number; seed?: number } = {}) {
  const clock = new SimulatedClock();
  const tapped: Array<{ time: number; frame: Uint8Array }> = [];
  const segment = new SimEthernetSegment({ clock, name: 'lan', ...options, tap: (time, f) => tapped.push({ time, frame: f }) });
  const received: Received[] = [];
  const listen = (port: SimEthernetPort) => {
    port.onFrame((f) => received.push({ at: clock.now(), port: port.name, tag: f[14]!, length: f.length }));
    return port;
  };
  const a = listen(segment.attach({ name: 'a', mac: MAC_A }));
  const b = listen(segment.attach({ name: 'b', mac: MAC_B }));
  const c = listen(segment.attach({ name: 'c', mac: MAC_C }));
  return { clock, segment, a, b, c, received, tapped, listen };
}

const ports = (received: readonly Received[]) => received.map((r) => r.port);

describe('SimEthernetSegment delivery', () => {
  it('a unicast frame reaches only the interface with that MAC', () => {
    const { clock, segment, a, received } = setup();
    a.send(frame(MAC_B, MAC_A, 1));
    clock.advance(0);
    expect(ports(received)).toEqual(['b']);
    expect(segment.counters).toMatchObject({ sent: 1, deliveries: 1, unclaimed: 0 });
  });

  it('a unicast frame for a MAC nobody has reaches nobody and is counted', () => {
    const { clock, segment, a, received } = setup();
    a.send(frame(MAC_NOBODY, MAC_A, 1));
    clock.advance(0);
    expect(received).toEqual([]);
    expect(segment.counters).toMatchObject({ sent: 1, deliveries: 0, unclaimed: 1 });
  });

  it('broadcast reaches every other interface, never the sender', () => {
    const { clock, b, received } = setup();
    b.send(frame(BROADCAST_MAC, MAC_B, 1));
    clock.advance(0);
    expect(ports(received)).toEqual(['a', 'c']);
  });

  it('a group address (I/G bit set) reaches every other interface', () => {
    const { clock, a, received } = setup();
    a.send(frame(MULTICAST, MAC_A, 1));
    a.send(frame(GROUP, MAC_A, 2));
    clock.advance(0);
    expect(received.map((r) => `${r.port}${r.tag}`)).toEqual(['b1', 'c1', 'b2', 'c2']);
  });

  it('a promiscuous interface also receives unicast frames for others', () => {
    const { clock, segment, a, received, listen } = setup();
    listen(segment.attach({ name: 'sniffer', mac: '02:00:00:00:00:50', promiscuous: true }));
    a.send(frame(MAC_B, MAC_A, 1));
    a.send(frame(MAC_NOBODY, MAC_A, 2));
    clock.advance(0);
    expect(received.map((r) => `${r.port}${r.tag}`)).toEqual(['b1', 'sniffer1', 'sniffer2']);
    expect(segment.counters.unclaimed).toBe(0);
  });

  it('delivery waits for the latency on the simulated clock and never happens inside send', () => {
    const { clock, a, received } = setup({ latencyMs: 5 });
    const t0 = clock.now();
    a.send(frame(MAC_B, MAC_A, 1));
    expect(received).toEqual([]);
    clock.advance(4);
    expect(received).toEqual([]);
    clock.advance(1);
    expect(received).toEqual([{ at: t0 + 5, port: 'b', tag: 1, length: ETHERNET_MINIMUM_FRAME }]);

    const zero = setup({ latencyMs: 0 });
    zero.a.send(frame(MAC_B, MAC_A, 1));
    expect(zero.received).toEqual([]);
    zero.clock.advance(0);
    expect(ports(zero.received)).toEqual(['b']);
  });

  it('frames arrive in the order sent, receivers are served in attachment order', () => {
    const { clock, a, b, received } = setup({ latencyMs: 1 });
    a.send(frame(BROADCAST_MAC, MAC_A, 1));
    b.send(frame(MAC_A, MAC_B, 2));
    a.send(frame(MAC_C, MAC_A, 3));
    clock.advance(1);
    expect(received.map((r) => `${r.port}${r.tag}`)).toEqual(['b1', 'c1', 'a2', 'c3']);
  });

  it('a frame sent from a receive handler goes out after the latency like any other', () => {
    const { clock, a, b, received } = setup({ latencyMs: 2 });
    b.onFrame((f) => {
      received.push({ at: clock.now(), port: 'b', tag: f[14]!, length: f.length });
      b.send(frame(MAC_A, MAC_B, f[14]! + 100));
    });
    const t0 = clock.now();
    a.send(frame(MAC_B, MAC_A, 1));
    clock.advance(10);
    expect(received).toEqual([
      { at: t0 + 2, port: 'b', tag: 1, length: 60 },
      { at: t0 + 4, port: 'a', tag: 101, length: 60 },
    ]);
  });

  it('short frames are padded with zeros to 60 bytes; the sender may reuse its buffer at once', () => {
    const { clock, a, b } = setup();
    const got: Uint8Array[] = [];
    b.onFrame((f) => got.push(f));
    const buffer = frame(MAC_B, MAC_A, 7, 20);
    buffer.fill(0xee, 15);
    a.send(buffer);
    buffer.fill(0);
    clock.advance(0);
    expect(got).toHaveLength(1);
    expect(got[0]!.length).toBe(60);
    expect(got[0]![14]).toBe(7);
    expect([...got[0]!.subarray(15, 20)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
    expect(got[0]!.subarray(20).every((x) => x === 0)).toBe(true);
    // A long frame is not padded or cut.
    a.send(frame(MAC_B, MAC_A, 8, 1514));
    clock.advance(0);
    expect(got[1]!.length).toBe(1514);
  });

  it('a runt frame or one beyond the MTU is refused with a LinkError naming the interface', () => {
    const { clock, segment, received } = setup();
    const small = segment.attach({ name: 'small0', mac: '02:00:00:00:00:60', mtu: 100 });
    const errors: LinkError[] = [];
    small.onError((e) => errors.push(e));
    small.send(new Uint8Array(13));
    small.send(frame(MAC_B, small.mac, 1, 115));
    small.send(frame(MAC_B, small.mac, 2, 114));
    clock.advance(0);
    expect(errors.map((e) => [e._tag, e.reason, e.interfaceName])).toEqual([
      ['LinkError', 'send', 'small0'],
      ['LinkError', 'send', 'small0'],
    ]);
    expect(errors[0]!.message).toMatch(/13-byte frame.*14-byte Ethernet header/);
    expect(errors[1]!.message).toMatch(/MTU of 100/);
    expect(small.counters.txErrors).toBe(2);
    expect(received.map((r) => r.tag)).toEqual([2]);
  });
});

describe('SimEthernetSegment link state', () => {
  it('a down interface sends nothing (not even to the tap) and receives nothing; both are counted', () => {
    const { clock, segment, a, b, c, received, tapped } = setup();
    a.setLinkUp(false);
    a.send(frame(BROADCAST_MAC, MAC_A, 1));
    clock.advance(0);
    expect(received).toEqual([]);
    expect(tapped).toEqual([]);
    expect(a.counters.txDroppedLinkDown).toBe(1);

    b.send(frame(BROADCAST_MAC, MAC_B, 2));
    clock.advance(0);
    expect(ports(received)).toEqual(['c']);
    expect(a.counters.rxDroppedLinkDown).toBe(1);
    expect(segment.counters.droppedLinkDown).toBe(2);

    a.setLinkUp(true);
    c.send(frame(MAC_A, MAC_C, 3));
    clock.advance(0);
    expect(received.map((r) => `${r.port}${r.tag}`)).toEqual(['c2', 'a3']);
  });

  it('an interface that goes down while a frame is in flight does not receive it', () => {
    const { clock, a, b, received } = setup({ latencyMs: 10 });
    a.send(frame(MAC_B, MAC_A, 1));
    clock.advance(5);
    b.setLinkUp(false);
    clock.advance(5);
    expect(received).toEqual([]);
    expect(b.counters.rxDroppedLinkDown).toBe(1);
  });

  it('a detached interface receives nothing in flight and its sends report "closed"', () => {
    const { clock, segment, a, b, received } = setup({ latencyMs: 1 });
    a.send(frame(BROADCAST_MAC, MAC_A, 1));
    b.detach();
    clock.advance(1);
    expect(ports(received)).toEqual(['c']);
    expect(segment.interfaces.map((p) => p.name)).toEqual(['a', 'c']);
    const errors: LinkError[] = [];
    b.onError((e) => errors.push(e));
    b.send(frame(MAC_A, MAC_B, 2));
    clock.advance(1);
    expect(errors.map((e) => e.reason)).toEqual(['closed']);
    expect(ports(received)).toEqual(['c']);
  });
});

describe('SimEthernetSegment loss and tap', () => {
  const run = (seed: number, loss: number) => {
    const { clock, a, received, segment } = setup({ loss, seed });
    for (let i = 0; i < 200; i++) a.send(frame(MAC_B, MAC_A, i & 0xff));
    clock.advance(0);
    return { tags: received.map((r) => r.tag), counters: { ...segment.counters } };
  };

  it('loss is drawn from the seed: the same seed loses the same frames, another seed others', () => {
    const first = run(42, 0.3);
    const again = run(42, 0.3);
    const other = run(43, 0.3);
    expect(again.tags).toEqual(first.tags);
    expect(other.tags).not.toEqual(first.tags);
    expect(first.counters.lost + first.counters.deliveries).toBe(200);
    expect(first.counters.lost).toBeGreaterThan(30);
    expect(first.counters.lost).toBeLessThan(90);
    expect(run(1, 0).counters.lost).toBe(0);
    expect(run(1, 1).tags).toEqual([]);
  });

  it('the tap sees every frame sent, in send order, at its send time, as padded on the wire — lost ones too', () => {
    const { clock, a, b, tapped } = setup({ latencyMs: 3, loss: 0.5, seed: 9 });
    const t0 = clock.now();
    a.send(frame(MAC_B, MAC_A, 1));
    clock.advance(2);
    b.send(frame(BROADCAST_MAC, MAC_B, 2));
    a.send(frame(MAC_C, MAC_A, 3));
    clock.advance(10);
    expect(tapped.map((t) => [t.time - t0, t.frame[14], t.frame.length])).toEqual([
      [0, 1, 60],
      [2, 2, 60],
      [2, 3, 60],
    ]);
  });

  it('setTap replaces or removes the tap', () => {
    const { a, segment, tapped } = setup();
    const other: number[] = [];
    segment.setTap((_t, f) => other.push(f[14]!));
    a.send(frame(MAC_B, MAC_A, 1));
    segment.setTap(undefined);
    a.send(frame(MAC_B, MAC_A, 2));
    expect(other).toEqual([1]);
    expect(tapped).toEqual([]);
  });
});

describe('simLinkLayer (the Link service on simulated segments)', () => {
  const openIn = (layer: ReturnType<typeof simLinkLayer>, scope: Scope.CloseableScope, name: string) =>
    Effect.runSync(
      Effect.either(
        Effect.gen(function* () {
          const link = yield* Link;
          return yield* link.open(name);
        }).pipe(Scope.extend(scope), Effect.provide(layer)),
      ),
    );

  it('opens a named interface of the host; frames flow both ways', () => {
    const clock = new SimulatedClock();
    const segment = new SimEthernetSegment({ clock });
    const peer = segment.attach({ name: 'peer', mac: MAC_B });
    const layer = simLinkLayer({ eth0: { segment, mac: MAC_A, mtu: 1400 } });
    const scope = Effect.runSync(Scope.make());
    const opened = openIn(layer, scope, 'eth0');
    if (opened._tag !== 'Right') throw new Error(String(opened.left));
    const eth0: LinkInterface = opened.right;
    expect([eth0.name, eth0.mac, eth0.mtu]).toEqual(['eth0', MAC_A, 1400]);
    const atHost: number[] = [];
    const atPeer: number[] = [];
    eth0.onFrame((f) => atHost.push(f[14]!));
    peer.onFrame((f) => atPeer.push(f[14]!));
    eth0.send(frame(MAC_B, MAC_A, 1));
    peer.send(frame(MAC_A, MAC_B, 2));
    clock.advance(0);
    expect([atHost, atPeer]).toEqual([[2], [1]]);
    Effect.runSync(Scope.close(scope, Exit.void));
    // Closing the scope detached the interface it attached.
    expect(segment.interfaces.map((p) => p.name)).toEqual(['peer']);
  });

  it('an unknown name fails with no-such-interface, listing the interfaces the host has', () => {
    const clock = new SimulatedClock();
    const segment = new SimEthernetSegment({ clock });
    const scope = Effect.runSync(Scope.make());
    const result = openIn(simLinkLayer({ eth0: { segment, mac: MAC_A } }), scope, 'eth9');
    expect(result._tag).toBe('Left');
    if (result._tag === 'Left') {
      expect(result.left).toBeInstanceOf(LinkError);
      expect(result.left.reason).toBe('no-such-interface');
      expect(result.left.interfaceName).toBe('eth9');
      expect(result.left.message).toContain('"eth9"');
      expect(result.left.message).toContain('"eth0"');
    }
  });

  it('an open interface cannot be opened again until its scope closes; then the old handle is inert', () => {
    const clock = new SimulatedClock();
    const segment = new SimEthernetSegment({ clock });
    const port = segment.attach({ name: 'eth0', mac: MAC_A });
    const peer = segment.attach({ name: 'peer', mac: MAC_B });
    const peerGot: number[] = [];
    peer.onFrame((f) => peerGot.push(f[14]!));
    const layer = simLinkLayer({ eth0: port });
    const first = Effect.runSync(Scope.make());
    const opened = openIn(layer, first, 'eth0');
    if (opened._tag !== 'Right') throw new Error('open failed');
    const second = openIn(layer, Effect.runSync(Scope.make()), 'eth0');
    expect(second._tag === 'Left' && second.left.reason).toBe('in-use');

    const old = opened.right;
    const errors: string[] = [];
    old.onError((e) => errors.push(e.reason));
    const oldGot: number[] = [];
    old.onFrame((f) => oldGot.push(f[14]!));
    Effect.runSync(Scope.close(first, Exit.void));
    // A port passed as such stays attached (its owner keeps its link state and counters).
    expect(segment.interfaces).toContain(port);
    old.send(frame(MAC_B, MAC_A, 1));
    peer.send(frame(MAC_A, MAC_B, 2));
    clock.advance(0);
    expect(errors).toEqual(['closed']);
    expect(peerGot).toEqual([]);
    expect(oldGot).toEqual([]);
    expect(openIn(layer, Effect.runSync(Scope.make()), 'eth0')._tag).toBe('Right');
  });
});

// ---------------------------------------------------------------------------------------------

function arpFrames(tapped: ReadonlyArray<{ frame: Uint8Array }>): Array<{ destination: string; source: string; packet: ArpPacket }> {
  return tapped.map(({ frame: f }) => {
    const ethernet = decodeEthernetFrame(f);
    if (!ethernet.ok || ethernet.value.etherType !== EtherType.ARP) throw new Error('not an ARP frame');
    const arp = decodeArpPacket(ethernet.value.payload);
    if (!arp.ok) throw new Error(arp.error.message);
    return { destination: ethernet.value.destination, source: ethernet.value.source, packet: arp.value };
  });
}

function arpSetup() {
  const clock = new SimulatedClock();
  const tapped: Array<{ time: number; frame: Uint8Array }> = [];
  const segment = new SimEthernetSegment({ clock, latencyMs: 1, tap: (time, f) => tapped.push({ time, frame: f }) });
  const a = SimArpHost.attach(segment, { name: 'a0', mac: MAC_A, addresses: [IP_A] });
  const b = SimArpHost.attach(segment, { name: 'b0', mac: MAC_B, addresses: [IP_B] });
  const c = SimArpHost.attach(segment, { name: 'c0', mac: MAC_C, addresses: [IP_C] });
  /** Sends an ARP packet in a broadcast frame from some station. */
  const inject = (packet: ArpPacket, source = MAC_NOBODY, destination = BROADCAST_MAC) => {
    const port = segment.interfaces.find((p) => p.name === 'injector') ?? segment.attach({ name: 'injector', mac: MAC_NOBODY });
    const bytes = new Uint8Array(42);
    encodeArpFrame(packet, destination, source, bytes, 0);
    port.send(bytes);
    clock.advance(1);
  };
  return { clock, segment, a, b, c, tapped, inject };
}

describe('SimArpHost (RFC 826 as RFC 5944 4.6 restates it)', () => {
  it('resolve broadcasts a Request; the owner answers unicast; both sides then know each other', () => {
    const { clock, a, b, c, tapped } = arpSetup();
    a.resolve(IP_B);
    clock.advance(1);
    expect(a.cacheEntry(IP_B)).toBeUndefined(); // the reply is still on the wire
    clock.advance(1);
    expect(a.cacheEntry(IP_B)).toBe(MAC_B);
    // The target added the requester (RFC 826: "Am I the target protocol address? ... add").
    expect(b.cacheEntry(IP_A)).toBe(MAC_A);
    // A bystander learns nothing it did not already have.
    expect(c.cacheEntry(IP_A)).toBeUndefined();
    expect(arpFrames(tapped)).toEqual([
      {
        destination: BROADCAST_MAC,
        source: MAC_A,
        packet: { operation: ArpOperation.Request, senderMac: MAC_A, senderIp: IP_A, targetMac: ZERO_MAC, targetIp: IP_B },
      },
      {
        destination: MAC_A,
        source: MAC_B,
        packet: { operation: ArpOperation.Reply, senderMac: MAC_B, senderIp: IP_B, targetMac: MAC_A, targetIp: IP_A },
      },
    ]);
    expect(b.counters.answered).toBe(1);
    expect([b.counters.added, b.counters.updated]).toEqual([1, 0]);

    // Next time the target already has the requester: updated, not added again.
    a.resolve(IP_B);
    clock.advance(2);
    expect([b.counters.added, b.counters.updated]).toEqual([1, 1]);
  });

  it('an address nobody holds stays unresolved', () => {
    const { clock, a, tapped } = arpSetup();
    a.resolve(IP_D);
    clock.advance(10);
    expect(a.cacheEntry(IP_D)).toBeUndefined();
    expect(tapped).toHaveLength(1);
  });

  it('[R4.6-3] any ARP packet updates an existing entry for its sender: a Request not for this host', () => {
    const { c, inject } = arpSetup();
    c.setCacheEntry(IP_D, MAC_A);
    inject({ operation: ArpOperation.Request, senderMac: MAC_NOBODY, senderIp: IP_D, targetMac: ZERO_MAC, targetIp: IP_B });
    expect(c.cacheEntry(IP_D)).toBe(MAC_NOBODY);
    expect(c.counters.updated).toBe(1);
    expect(c.counters.answered).toBe(0);
  });

  it('[R4.6-3] ... and a Reply that matches no Request this host sent', () => {
    const { c, inject } = arpSetup();
    c.setCacheEntry(IP_D, MAC_A);
    inject(arpReply(MAC_NOBODY, IP_D, MAC_B, IP_B), MAC_NOBODY, BROADCAST_MAC);
    expect(c.cacheEntry(IP_D)).toBe(MAC_NOBODY);
  });

  it('[R4.6-3] a gratuitous ARP (Request or Reply) moves an existing entry and creates none', () => {
    const { a, b, c, clock } = arpSetup();
    a.setCacheEntry(IP_D, MAC_B);
    b.sendGratuitous(IP_D, { linkAddress: MAC_C });
    clock.advance(1);
    expect(a.cacheEntry(IP_D)).toBe(MAC_C);
    expect(c.cacheEntry(IP_D)).toBeUndefined();
    b.sendGratuitous(IP_D, { linkAddress: MAC_B, operation: 'reply' });
    clock.advance(1);
    expect(a.cacheEntry(IP_D)).toBe(MAC_B);
    expect(c.cacheEntry(IP_D)).toBeUndefined();
  });

  it('a host\'s own gratuitous ARP goes out as a broadcast with sender = target = its address', () => {
    const { a, tapped } = arpSetup();
    a.sendGratuitous();
    expect(arpFrames(tapped)).toEqual([{ destination: BROADCAST_MAC, source: MAC_A, packet: gratuitousArp(MAC_A, IP_A) }]);
  });

  it('a packet claiming one of the host\'s own addresses is a conflict: not cached, not answered', () => {
    const { a, inject, tapped } = arpSetup();
    inject({ operation: ArpOperation.Request, senderMac: MAC_NOBODY, senderIp: IP_A, targetMac: ZERO_MAC, targetIp: IP_A });
    expect(a.counters.conflicts).toBe(1);
    expect(a.cacheEntry(IP_A)).toBeUndefined();
    expect(tapped).toHaveLength(1);
  });

  it('a probe from 0.0.0.0 for the host\'s address is answered and caches nothing', () => {
    const { a, inject, tapped } = arpSetup();
    inject({ operation: ArpOperation.Request, senderMac: MAC_NOBODY, senderIp: 0, targetMac: ZERO_MAC, targetIp: IP_A });
    expect(a.cacheEntries.size).toBe(0);
    const frames = arpFrames(tapped);
    expect(frames).toHaveLength(2);
    expect(frames[1]).toEqual({ destination: MAC_NOBODY, source: MAC_A, packet: arpReply(MAC_A, IP_A, MAC_NOBODY, 0) });
  });

  it('ignores ARP unicast to someone else (seen in promiscuous mode) and frames that are not ARP', () => {
    const clock = new SimulatedClock();
    const segment = new SimEthernetSegment({ clock });
    const sniffer = SimArpHost.attach(segment, { name: 's0', mac: MAC_C, addresses: [IP_C], promiscuous: true });
    sniffer.setCacheEntry(IP_A, MAC_A);
    const sender = segment.attach({ name: 'x', mac: MAC_NOBODY });
    const bytes = new Uint8Array(42);
    encodeArpFrame(arpReply(MAC_NOBODY, IP_A, MAC_B, IP_B), MAC_B, MAC_NOBODY, bytes, 0);
    sender.send(bytes);
    sender.send(frame(BROADCAST_MAC, MAC_NOBODY, 1));
    clock.advance(0);
    expect(sniffer.cacheEntry(IP_A)).toBe(MAC_A);
    expect(sniffer.counters).toMatchObject({ received: 0, ignored: 2 });
  });

  it('reports every ARP packet it takes in, with the frame addresses', () => {
    const { a, b, clock } = arpSetup();
    const seen: unknown[] = [];
    b.onArp((s) => seen.push(s));
    a.resolve(IP_B);
    clock.advance(1);
    expect(seen).toEqual([
      {
        frameSource: MAC_A,
        frameDestination: BROADCAST_MAC,
        packet: { operation: ArpOperation.Request, senderMac: MAC_A, senderIp: IP_A, targetMac: ZERO_MAC, targetIp: IP_B },
      },
    ]);
  });
});

