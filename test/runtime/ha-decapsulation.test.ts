/**
 * The home agent plane's decapsulation stage (runtime/dataplane/ha-plane.ts decapsulateBatch):
 * tunnels addressed to the home agent itself (R4.2.3-7; RFC 3024 reverse tunnels; 5.5 location
 * privacy), checked against the binding of the inner source, then routed as a router would.
 */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import {
  encodeIpv4Packet,
  IpProtocol,
  Ipv4Flag,
  ipv4ChecksumValid,
  ipv4Destination,
  ipv4PacketLength,
  ipv4Protocol,
  ipv4Source,
} from '../../io/wire/ipv4.js';
import { decapsulate, greEncapsulate, ipInIpEncapsulate, minimalEncapsulate } from '../../io/wire/tunnel.js';
import { ForwardingTable, type TunnelTarget } from '../../runtime/dataplane/forwarding-table.js';
import { homeAgentDataPlane } from '../../runtime/dataplane/ha-plane.js';
import type { OutputPacket, Packet } from '../../runtime/dataplane/packets.js';

const HA = ipv4('198.51.100.1');
const HOME_NET = ipv4('198.51.100.0');
const HOME = ipv4('198.51.100.10');
const HOME2 = ipv4('198.51.100.11');
const CN = ipv4('192.0.2.5');
const COA = ipv4('203.0.113.1');
const COA2 = ipv4('203.0.113.66');
const STRANGER = ipv4('203.0.113.99');

function datagram(fields: { source?: number; destination?: number; ttl?: number; protocol?: number; payload?: Uint8Array }): Uint8Array {
  const packet = {
    header: {
      tos: 0,
      identification: 7,
      flags: Ipv4Flag.DontFragment,
      fragmentOffset: 0,
      ttl: fields.ttl ?? 64,
      protocol: fields.protocol ?? IpProtocol.UDP,
      source: fields.source ?? HOME,
      destination: fields.destination ?? CN,
    },
    payload: fields.payload ?? new Uint8Array(12).fill(0xab),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function ipInIp(inner: Uint8Array, source = COA, destination = HA): Uint8Array {
  const out = new Uint8Array(inner.length + 20);
  ipInIpEncapsulate(inner, { source, destination, identification: 1 }, out, 0);
  return out;
}

const target = (careOfAddress: number, extra: Partial<TunnelTarget> = {}): TunnelTarget => ({
  careOfAddress,
  encapsulation: 'ip-in-ip',
  broadcast: false,
  decapsulatedByMobileNode: false,
  reverseTunnel: false,
  ...extra,
});

function setup(bindings: Array<[number, TunnelTarget]> = [[HOME, target(COA, { reverseTunnel: true })]]) {
  const table = new ForwardingTable();
  for (const [home, t] of bindings) table.upsertTunnel(home, t);
  const plane = homeAgentDataPlane({ table, localAddresses: [HA], homeNetwork: HOME_NET, prefixLength: 24, homeInterface: 'home0' });
  const run = (...packets: Uint8Array[]): OutputPacket[] => {
    const batch = plane.process(packets.map((bytes): Packet => ({ bytes, ingress: 'wan0' })));
    // Copies: the outputs' bytes belong to the pool until release.
    const outputs = batch.packets.map((o) => ({ ...o, bytes: o.bytes.slice() }));
    batch.release();
    return outputs;
  };
  return { plane, run };
}

describe('home agent decapsulation (R4.2.3-7, RFC 3024 reverse tunnels)', () => {
  it('[R4.2.3-7] decapsulates an IP-in-IP packet from the care-of address of the inner source, and routes the datagram with its TTL decremented', () => {
    const { plane, run } = setup();
    const inner = datagram({ ttl: 64 });
    const [out, ...rest] = run(ipInIp(inner));
    expect(rest).toEqual([]);
    expect(out?.kind).toBe('forward');
    expect(out?.kind === 'forward' && out.routed).toBe(true);
    const bytes = out!.bytes;
    expect(ipv4Source(bytes, 0)).toBe(HOME);
    expect(ipv4Destination(bytes, 0)).toBe(CN);
    expect(bytes[8]).toBe(63);
    expect(ipv4ChecksumValid(bytes, 0)).toBe(true);
    expect(bytes.subarray(20)).toEqual(inner.subarray(20));
    expect(plane.counters['decapsulated']).toBe(1);
  });

  it('[R4.2.3-7] decapsulates for a binding granted without T as well (5.5 location privacy)', () => {
    const { plane, run } = setup([[HOME, target(COA, { reverseTunnel: false })]]);
    expect(run(ipInIp(datagram({}))).map((o) => o.kind)).toEqual(['forward']);
    expect(plane.counters['decapsulated']).toBe(1);
  });

  it('takes GRE and minimal encapsulation apart too', () => {
    const { plane, run } = setup();
    const inner = datagram({});
    const gre = new Uint8Array(inner.length + 24);
    greEncapsulate(inner, { source: COA, destination: HA, identification: 2 }, {}, gre, 0);
    const minimal = new Uint8Array(inner.length + 12);
    expect(minimalEncapsulate(inner, COA, HA, minimal, 0).ok).toBe(true);
    const outs = run(gre, minimal);
    expect(outs.map((o) => [o.kind, ipv4Source(o.bytes, 0), ipv4Destination(o.bytes, 0), o.bytes[8]])).toEqual([
      ['forward', HOME, CN, 63],
      ['forward', HOME, CN, 63],
    ]);
    expect(plane.counters['decapsulated']).toBe(2);
  });

  it('drops and counts a tunnel from an address that is not the binding\'s care-of address, and one whose inner source has no binding', () => {
    const { plane, run } = setup();
    expect(run(ipInIp(datagram({}), STRANGER), ipInIp(datagram({ source: HOME2 })))).toEqual([]);
    expect(plane.counters['decapsulation-wrong-care-of-address']).toBe(1);
    expect(plane.counters['decapsulation-unknown-home-address']).toBe(1);
    expect(plane.counters['decapsulated']).toBeUndefined();
  });

  it('accepts any of a node\'s simultaneous bindings as the outer source', () => {
    const { run } = setup([
      [HOME, target(COA)],
      [HOME, target(COA2)],
    ]);
    expect(run(ipInIp(datagram({}), COA), ipInIp(datagram({}), COA2)).map((o) => o.kind)).toEqual(['forward', 'forward']);
  });

  it('drops and counts a malformed inner datagram, a bad inner checksum and an inner TTL of 0 (RFC 2003 3.1)', () => {
    const { plane, run } = setup();
    const truncated = ipInIp(datagram({}));
    truncated[20 + 3] = 200; // inner Total Length beyond the outer datagram
    const badChecksum = ipInIp(datagram({}));
    badChecksum[20 + 10]! ^= 0xff;
    const zero = datagram({ ttl: 0 });
    expect(run(truncated, badChecksum, ipInIp(zero))).toEqual([]);
    expect(plane.counters['decapsulation-malformed']).toBe(1);
    expect(plane.counters['inner-bad-checksum']).toBe(1);
    expect(plane.counters['inner-ttl-zero']).toBe(1);
  });

  it('answers an inner TTL that runs out with a Time Exceeded tunnelled back to the care-of address; never about an ICMP error (RFC 1122 3.2.2)', () => {
    const { plane, run } = setup();
    const [out, ...rest] = run(ipInIp(datagram({ ttl: 1 })));
    expect(rest).toEqual([]);
    expect(out?.kind).toBe('send-ip');
    expect(out?.kind === 'send-ip' && out.destination).toBe(COA);
    const inner = decapsulate(out!.bytes);
    expect(inner.ok).toBe(true);
    if (!inner.ok) return;
    const icmp = inner.value.datagram;
    expect([ipv4Source(icmp, 0), ipv4Destination(icmp, 0), ipv4Protocol(icmp, 0), icmp[20]]).toEqual([HA, HOME, IpProtocol.ICMP, IcmpType.TimeExceeded]);
    // An ICMP Destination Unreachable with TTL 1: no error about an error.
    const unreachable = datagram({ ttl: 1, protocol: IpProtocol.ICMP, payload: new Uint8Array([3, 1, 0, 0, 0, 0, 0, 0]) });
    expect(run(ipInIp(unreachable))).toEqual([]);
    expect(plane.counters['icmp-suppressed']).toBe(1);
    expect(plane.counters['ttl-exceeded']).toBe(2);
  });

  it('[R4.2.3-7] tunnels a decapsulated datagram for another mobile node away from home straight to that node\'s care-of address (4.2.3)', () => {
    const { plane, run } = setup([
      [HOME, target(COA)],
      [HOME2, target(COA2, { encapsulation: 'gre' })],
    ]);
    const [out, ...rest] = run(ipInIp(datagram({ destination: HOME2, ttl: 10 })));
    expect(rest).toEqual([]);
    expect(out?.kind === 'send-ip' && [out.destination, out.homeAddress, out.encapsulation, out.via]).toEqual([COA2, HOME2, 'gre', 'tunnel']);
    const inner = decapsulate(out!.bytes);
    expect(inner.ok && [ipv4Source(inner.value.datagram, 0), ipv4Destination(inner.value.datagram, 0), inner.value.datagram[8]]).toEqual([HOME, HOME2, 9]);
    expect(plane.counters['tunnelled']).toBe(1);
  });

  it('leaves a datagram to the home agent that is not a tunnel to its host (local)', () => {
    const { run } = setup();
    expect(run(datagram({ source: CN, destination: HA })).map((o) => o.kind)).toEqual(['local']);
  });
});

describe('the decapsulation counters in /metrics', () => {
  it('counts the refusals as drops (mip4_dataplane_drops_total) and the routed datagrams as outcomes', async () => {
    const { isDropReason } = await import('../../runtime/metrics/registry.js');
    for (const drop of ['decapsulation-unknown-home-address', 'decapsulation-wrong-care-of-address', 'decapsulation-malformed', 'decapsulation-igmp-malformed', 'multicast-no-member']) {
      expect(isDropReason(drop), drop).toBe(true);
    }
    for (const outcome of ['decapsulated', 'decapsulated-multicast', 'igmp-received', 'igmp-query-tunnelled', 'multicast-tunnelled']) expect(isDropReason(outcome), outcome).toBe(false);
  });
});
