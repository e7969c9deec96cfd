/**
 * Ingress filtering on a simulated router (io/sim/ip-host.ts, SimHostOptions.ingressFilter):
 * BCP 38 (RFC 2827) as strict reverse path forwarding (RFC 3704 2.2). A datagram is taken only
 * when the router's route back to its source leaves by the interface it arrived on; anything
 * else is dropped silently and counted in `ingressFiltered`.
 */
import { Effect, Exit, Scope } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import { SimulatedClock } from '../../io/clock.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { A, B, bindUdp, echoRequest, R_A, recordIcmp, twoLans, type TwoLans } from './network-support.js';

/** An address of neither lan (TEST-NET-3). */
const ELSEWHERE = ipv4('203.0.113.5');

let current: TwoLans | undefined;
function setup(): TwoLans {
  current = twoLans();
  return current;
}
afterEach(() => {
  if (current) Effect.runSync(Scope.close(current.scope, Exit.void));
  current = undefined;
});

describe('ingress filter (BCP 38, strict reverse path)', () => {
  it('is off by default: a datagram with a source from no network of the arrival interface is forwarded', () => {
    const { clock, r, b } = setup();
    const atB = recordIcmp(b);
    expect(r.ingressFilter).toBe(false);
    current!.a.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: B, payload: echoRequest(1, 1) });
    clock.advance(10);
    expect(atB.filter((m) => m.type === IcmpType.Echo).map((m) => ipv4ToString(m.source))).toEqual(['203.0.113.5']);
    expect(r.counters.ingressFiltered).toBe(0);
  });

  it('on: a forged source is dropped before forwarding, counted at the router, and answered with nothing', () => {
    const { clock, net, a, r, b } = setup();
    r.setIngressFilter(true);
    const atA = recordIcmp(a);
    const atB = recordIcmp(b);
    const capture = net.capture();
    // A source from no network of lan-a, then one from lan-b's own network arriving on lan-a.
    a.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: B, payload: echoRequest(1, 1) });
    a.sendPacket({ protocol: IpProtocol.ICMP, source: ipv4('198.51.100.77'), destination: B, payload: echoRequest(1, 2) });
    clock.advance(10);
    expect(atB).toEqual([]);
    expect(atA).toEqual([]);
    expect(r.counters.ingressFiltered).toBe(2);
    expect(r.counters.forwarded).toBe(0);
    expect(r.counters.icmpErrorsSent).toBe(0);
    expect(net.counters().hosts['r']!.ingressFiltered).toBe(2);
    // Nothing of it crossed to lan-b (ARP included: the router never looked for b).
    expect(capture.frames('lan-b')).toEqual([]);
  });

  it('on: legitimate traffic crosses both ways (each source belongs to the lan it arrives from)', () => {
    const { clock, a, r, b } = setup();
    r.setIngressFilter(true);
    const atA = recordIcmp(a);
    const atB = recordIcmp(b);
    a.sendPacket({ protocol: IpProtocol.ICMP, destination: B, payload: echoRequest(2, 1) });
    clock.advance(10);
    expect(atB.map((m) => m.type)).toEqual([IcmpType.Echo]);
    expect(atA.map((m) => m.type)).toEqual([IcmpType.EchoReply]);
    expect(r.counters.ingressFiltered).toBe(0);
    expect(r.counters.forwarded).toBe(2);
  });

  it('follows the routing table, not only connected networks: a network routed behind lan-a passes on lan-a and fails on lan-b', () => {
    const { clock, a, r, b } = setup();
    r.setIngressFilter(true);
    // 203.0.113.0/24 sits behind host a (a router for it); b forges a source in it.
    r.addRoute(ipv4('203.0.113.0'), 24, { via: A, interface: 'eth0' });
    const atA = recordIcmp(a);
    const atB = recordIcmp(b);
    a.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: B, payload: echoRequest(3, 1) });
    clock.advance(10);
    expect(atB.filter((m) => m.type === IcmpType.Echo).map((m) => ipv4ToString(m.source))).toEqual(['203.0.113.5']);
    b.sendPacket({ protocol: IpProtocol.ICMP, source: ipv4('203.0.113.6'), destination: A, payload: echoRequest(3, 2) });
    clock.advance(10);
    expect(atA).toEqual([]);
    expect(r.counters.ingressFiltered).toBe(1);
  });

  it('also guards the router itself: a forged ping to its own address gets no reply; a host configuring itself (source 0.0.0.0) may still broadcast', () => {
    const { clock, net, a, r, scope } = setup();
    r.setIngressFilter(true);
    a.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: R_A, payload: echoRequest(4, 1) });
    clock.advance(10);
    expect(r.counters.echoRepliesSent).toBe(0);
    expect(r.counters.ingressFiltered).toBe(1);
    const heard: string[] = [];
    bindUdp(net, r, scope, { address: 0, port: 67, broadcast: true }).onMessage((d) => heard.push(ipv4ToString(d.address)));
    // The bootstrap form (a DHCP client before it has an address), built by hand.
    const udp = new Uint8Array(8 + 4);
    udp.set([0, 68, 0, 67, 0, 12, 0, 0, 1, 2, 3, 4]);
    a.sendPacket({ protocol: IpProtocol.UDP, source: 0, destination: 0xffffffff, payload: udp }, { interface: 'eth0' });
    // A forged source toward the broadcast address is still filtered.
    a.sendPacket({ protocol: IpProtocol.UDP, source: ELSEWHERE, destination: 0xffffffff, payload: udp }, { interface: 'eth0' });
    clock.advance(10);
    expect(heard).toEqual(['0.0.0.0']);
    expect(r.counters.ingressFiltered).toBe(2);
  });

  it('as a construction option, per host: only the router given ingressFilter filters', () => {
    const clock = new SimulatedClock();
    const net = new SimNetwork({ clock });
    const lanA = net.addSegment('lan-a');
    const lanB = net.addSegment('lan-b');
    const filtering = net.addHost('r', { forwarding: true, ingressFilter: true });
    filtering.addInterface('eth0', lanA, { address: R_A, prefixLength: 24 });
    filtering.addInterface('eth1', lanB, { address: ipv4('198.51.100.1'), prefixLength: 24 });
    const plain = net.addHost('plain', { forwarding: true });
    plain.addInterface('eth0', lanA, { address: ipv4('192.0.2.2'), prefixLength: 24 });
    const sender = net.addHost('a');
    sender.addInterface('eth0', lanA, { address: A, prefixLength: 24 });
    const receiver = net.addHost('b');
    receiver.addInterface('eth0', lanB, { address: B, prefixLength: 24 });
    expect(filtering.ingressFilter).toBe(true);
    expect(plain.ingressFilter).toBe(false);
    sender.addRoute(0, 0, { via: R_A, interface: 'eth0' });
    sender.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: B, payload: echoRequest(5, 1) });
    clock.advance(10);
    expect(net.counters().hosts['r']!.ingressFiltered).toBe(1);
    expect(receiver.counters.delivered).toBe(0);
    // Turned off at run time, the same datagram passes.
    filtering.setIngressFilter(false);
    sender.sendPacket({ protocol: IpProtocol.ICMP, source: ELSEWHERE, destination: B, payload: echoRequest(5, 2) });
    clock.advance(10);
    expect(receiver.counters.delivered).toBe(1);
    expect(filtering.counters.ingressFiltered).toBe(1);
  });
});
