/**
 * The RawIp service on the simulated network (io/sim/raw-ip.ts): a userspace IP-in-IP tunnel
 * across a router, the way a home agent reaches a foreign agent (RFC 5944 4.1, RFC 2003).
 */
import { Effect, Exit, Scope } from 'effect';
import { describe, expect, it } from 'vitest';
import { RawIp, type RawIpSocket } from '../../io/raw-ip.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { ipInIpDecapsulate, ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { A, B, echoRequest, twoLans } from './network-support.js';

function open(host: SimHost, scope: Scope.Scope, protocol: number, headerIncluded: boolean): RawIpSocket {
  return Effect.runSync(Scope.extend(Effect.flatMap(RawIp, (raw) => raw.open(protocol, { headerIncluded })), scope).pipe(Effect.provide(simRawIpLayer(host))));
}

describe('RawIp on a SimHost', () => {
  it('an IP-in-IP datagram written with its header reaches the raw socket of the exit point, header first', () => {
    const { clock, a, b, scope } = twoLans();
    const entry = open(a, scope, IpProtocol.IPIP, true);
    const exit = open(b, scope, IpProtocol.IPIP, false);
    const got: Array<{ source: string; inner: string; outerTtl: number }> = [];
    exit.onPacket((datagram, source) => {
      const d = ipInIpDecapsulate(datagram);
      if (!d.ok) throw new Error(d.error.message);
      const inner = decodeIpv4Packet(d.value.inner);
      got.push({ source: ipv4ToString(source), inner: inner.ok ? ipv4ToString(inner.value.header.destination) : 'bad', outerTtl: d.value.outer.ttl });
    });
    const inner = new Uint8Array(36);
    encodeIpv4Packet(
      { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: 1, source: ipv4('203.0.113.7'), destination: ipv4('198.51.100.99') }, payload: echoRequest(1, 1, new Uint8Array(8)) },
      inner,
    );
    const outer = new Uint8Array(56);
    ipInIpEncapsulate(inner, { source: A, destination: B, identification: 9 }, outer);
    expect(entry.send(outer, B)).toBe(true);
    clock.advance(10);
    expect(got).toEqual([{ source: '192.0.2.10', inner: '198.51.100.99', outerTtl: 63 }]);
    Effect.runSync(Scope.close(scope, Exit.void));
  });

  it('without headerIncluded the host writes the header; batches arrive one datagram each; closed sockets receive nothing', () => {
    const { clock, a, b, scope } = twoLans();
    const sender = open(a, scope, 47, false);
    const receiverScope = Effect.runSync(Scope.make());
    const receiver = open(b, receiverScope, 47, false);
    const sizes: number[] = [];
    receiver.onPackets((batch) => {
      for (let i = 0; i < batch.count; i++) sizes.push(batch.length(i));
      expect(batch.source(0)).toBe(A);
    });
    sender.send(new Uint8Array(4), B);
    sender.sendBatch({ slab: new Uint8Array(16), offsets: Int32Array.from([0, 4]), lengths: Int32Array.from([4, 12]), count: 2 }, Uint32Array.from([B, B]));
    clock.advance(10);
    expect(sizes).toEqual([24, 24, 32]);
    Effect.runSync(Scope.close(receiverScope, Exit.void));
    sender.send(new Uint8Array(4), B);
    clock.advance(10);
    expect(sizes).toHaveLength(3);
    expect(b.counters.protocolUnreachable).toBe(1);
    const errors: string[] = [];
    sender.onError((e) => errors.push(e.reason));
    sender.send(new Uint8Array(4), ipv4('203.0.113.1'));
    expect(errors).toEqual([]); // a has a default route; the router answers with ICMP instead
    a.removeRoute(0, 0);
    sender.send(new Uint8Array(4), ipv4('203.0.113.1'));
    expect(errors).toEqual(['send']);
    Effect.runSync(Scope.close(scope, Exit.void));
  });

  it('protocol 255 (IPPROTO_RAW, raw(7)) sends a datagram of any protocol with its own header and receives nothing, even with headerIncluded unset', () => {
    const { clock, a, b, scope } = twoLans();
    const sendOnly = open(b, scope, 255, false);
    const rawIpIp = open(b, scope, IpProtocol.IPIP, false);
    const exit = open(a, scope, IpProtocol.IPIP, false);
    expect(sendOnly.headerIncluded).toBe(true);
    let sendOnlyGot = 0;
    let rawIpIpGot = 0;
    const exitGot: string[] = [];
    sendOnly.onPacket(() => void sendOnlyGot++);
    rawIpIp.onPacket(() => void rawIpIpGot++);
    exit.onPacket((_datagram, source) => exitGot.push(ipv4ToString(source)));
    const inner = new Uint8Array(20);
    encodeIpv4Packet({ header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: 17, source: B, destination: A }, payload: new Uint8Array(0) }, inner);
    const outer = new Uint8Array(40);
    ipInIpEncapsulate(inner, { source: B, destination: A, identification: 2 }, outer);
    expect(sendOnly.send(outer, A)).toBe(true);
    // And the other way: b receives IP in IP; its protocol-4 socket sees it, the send-only one does not.
    ipInIpEncapsulate(inner, { source: A, destination: B, identification: 3 }, outer);
    exit.send(outer.slice(20), B);
    clock.advance(10);
    expect(exitGot).toEqual([ipv4ToString(B)]);
    expect(rawIpIpGot).toBe(1);
    expect(sendOnlyGot).toBe(0);
    Effect.runSync(Scope.close(scope, Exit.void));
  });
});
