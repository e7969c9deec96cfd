import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { firstValueFrom, from, toArray } from 'rxjs';
import { ipv4, readU16 } from '../../io/wire/bytes.js';
import {
  decodeIpv4Packet,
  encodeIpv4Packet,
  ipv4ChecksumValid,
  IpProtocol,
  Ipv4Flag,
  ipv4PacketLength,
  type Ipv4PacketFields,
} from '../../io/wire/ipv4.js';
import { decodeIcmpError, IcmpType, TimeExceededCode } from '../../io/wire/icmp.js';
import { decapsulate, ipInIpDecapsulate, ipInIpEncapsulate, type Encapsulation } from '../../io/wire/tunnel.js';
import { ForwardingTable, type TunnelTarget } from '../../runtime/dataplane/forwarding-table.js';
import { foreignAgentDataPlane, mobileNodeDecapsulation } from '../../runtime/dataplane/fa-plane.js';
import { homeAgentDataPlane } from '../../runtime/dataplane/ha-plane.js';
import { PacketPool, type OutputPacket, type Packet, type SendIpOutput } from '../../runtime/dataplane/packets.js';

const HA = ipv4('198.51.100.1');
const HA_OTHER = ipv4('192.0.2.254');
const HOME_NET = ipv4('198.51.100.0');
const HOME = ipv4('198.51.100.10');
const HOME2 = ipv4('198.51.100.11');
const CN = ipv4('192.0.2.5');
const FA = ipv4('203.0.113.1');
const FA2 = ipv4('203.0.113.2');
const CCOA = ipv4('203.0.113.77');
const MN_MAC = '02:00:00:00:00:0a';

function datagram(fields: {
  source?: number;
  destination?: number;
  ttl?: number;
  protocol?: number;
  payload?: Uint8Array;
  flags?: number;
  fragmentOffset?: number;
  identification?: number;
}): Uint8Array {
  const packet: Ipv4PacketFields = {
    header: {
      tos: 0x10,
      identification: fields.identification ?? 0xbeef,
      flags: fields.flags ?? Ipv4Flag.DontFragment,
      fragmentOffset: fields.fragmentOffset ?? 0,
      ttl: fields.ttl ?? 63,
      protocol: fields.protocol ?? IpProtocol.UDP,
      source: fields.source ?? CN,
      destination: fields.destination ?? HOME,
    },
    payload: fields.payload ?? new TextEncoder().encode('....hello mip4 data plane'),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

/** The datagram as a router forwarding it would leave it: TTL one less, checksum recomputed. */
function decremented(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[8] = copy[8]! - 1;
  const header = decodeIpv4Packet(copy);
  if (!header.ok) throw new Error('bad fixture');
  copy[10] = 0;
  copy[11] = 0;
  const reencoded = new Uint8Array(copy.length);
  encodeIpv4Packet({ header: header.value.header, payload: header.value.payload }, reencoded, 0);
  return reencoded;
}

function target(careOfAddress: number, encapsulation: Encapsulation = 'ip-in-ip', extra: Partial<TunnelTarget> = {}): TunnelTarget {
  return { careOfAddress, encapsulation, broadcast: false, decapsulatedByMobileNode: false, reverseTunnel: false, ...extra };
}

function haPlane(table: ForwardingTable, extra: Partial<Parameters<typeof homeAgentDataPlane>[0]> = {}) {
  return homeAgentDataPlane({ table, localAddresses: [HA], homeNetwork: HOME_NET, prefixLength: 24, ...extra });
}

function faPlane(visitors: Record<number, string> = { [HOME]: MN_MAC, [HOME2]: '02:00:00:00:00:0b' }, localAddresses = [FA]) {
  return foreignAgentDataPlane({ visitors: (home) => visitors[home], localAddresses });
}

const pkt = (bytes: Uint8Array, extra: Partial<Packet> = {}): Packet => ({ bytes, ingress: 'home0', ...extra });

function sends(outputs: readonly OutputPacket[]): SendIpOutput[] {
  return outputs.filter((o): o is SendIpOutput => o.kind === 'send-ip');
}

describe('home agent → foreign agent, each encapsulation', () => {
  for (const kind of ['ip-in-ip', 'minimal', 'gre'] as const) {
    const id = kind === 'ip-in-ip' ? '[R4.1-1]' : '[R4.1-3]';
    it(`${id} [R4.2.2-1] ${kind}: the FA delivers the original datagram, TTL decremented once, checksum fixed`, () => {
      const table = new ForwardingTable();
      table.upsertTunnel(HOME, target(FA, kind));
      const ha = haPlane(table);
      const fa = faPlane();
      const original = datagram({});
      const out = ha.process([pkt(original)]);
      const [sent] = sends(out.packets);
      expect(out.packets).toHaveLength(1);
      expect(sent!.destination).toBe(FA);
      expect(sent!.encapsulation).toBe(kind);
      const outerProtocol = { 'ip-in-ip': 4, minimal: 55, gre: 47 }[kind];
      expect(sent!.bytes[9]).toBe(outerProtocol);
      expect(ipv4ChecksumValid(sent!.bytes, 0)).toBe(true);

      const delivered = fa.process([{ bytes: sent!.bytes, ingress: 'wan0' }]);
      expect(delivered.packets).toHaveLength(1);
      const d = delivered.packets[0]!;
      expect(d.kind).toBe('deliver');
      if (d.kind !== 'deliver') return;
      expect(d.linkAddress).toBe(MN_MAC);
      expect(d.homeAddress).toBe(HOME);
      expect([...d.bytes]).toEqual([...decremented(original)]);
      expect(original[8]).toBe(63); // the input is not written
      out.release();
      delivered.release();
    });
  }

  it('[R4.2.3-5] the outer source is the Home Agent address even when the agent has other addresses', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = homeAgentDataPlane({
      table,
      localAddresses: [HA_OTHER, HA],
      homeAgentAddress: HA,
      homeNetwork: HOME_NET,
      prefixLength: 24,
    });
    const [sent] = sends(ha.process([pkt(datagram({}))]).packets);
    const outer = decodeIpv4Packet(sent!.bytes);
    expect(outer.ok && outer.value.header.source).toBe(HA);
    expect(outer.ok && outer.value.header.destination).toBe(FA);
  });

  it('[R4.2.3-4] a destination without a binding passes untouched (the node is assumed at home)', () => {
    const ha = haPlane(new ForwardingTable());
    const original = datagram({ destination: HOME2 });
    const out = ha.process([pkt(original)]);
    expect(out.packets).toEqual([{ kind: 'forward', index: 0, bytes: original, routed: false }]);
    expect(ha.counters['passed']).toBe(1);
  });

  it('with simultaneous bindings a copy goes to each care-of address (4.2.3)', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'ip-in-ip'));
    table.upsertTunnel(HOME, target(FA2, 'gre'));
    const ha = haPlane(table);
    const original = datagram({});
    const out = sends(ha.process([pkt(original)]).packets);
    expect(out.map((o) => [o.destination, o.encapsulation])).toEqual([
      [FA, 'ip-in-ip'],
      [FA2, 'gre'],
    ]);
    const fa1 = faPlane({ [HOME]: MN_MAC }, [FA]);
    const fa2 = faPlane({ [HOME]: MN_MAC }, [FA2]);
    const d1 = fa1.process([pkt(out[0]!.bytes)]).packets[0]!;
    const d2 = fa2.process([pkt(out[1]!.bytes)]).packets[0]!;
    expect([...d1.bytes]).toEqual([...decremented(original)]);
    expect([...d2.bytes]).toEqual([...decremented(original)]);
  });

  it('outer Identification comes from a counter: two runs are identical', () => {
    const run = () => {
      const table = new ForwardingTable();
      table.upsertTunnel(HOME, target(FA));
      const ha = haPlane(table, { firstIdentification: 0xfffe });
      const out = ha.process([pkt(datagram({})), pkt(datagram({})), pkt(datagram({}))]);
      return sends(out.packets).map((o) => readU16(o.bytes, 4));
    };
    expect(run()).toEqual([0xfffe, 0xffff, 0]);
    expect(run()).toEqual(run());
  });
});

describe('TTL (RFC 2003 3.1)', () => {
  it('a datagram whose TTL would reach 0 is not tunnelled; an ICMP Time Exceeded goes to its source', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const original = datagram({ ttl: 1 });
    const out = ha.process([pkt(original)]).packets;
    expect(out).toHaveLength(1);
    const icmp = out[0]!;
    expect(icmp.kind).toBe('icmp');
    if (icmp.kind !== 'icmp') return;
    expect(icmp.destination).toBe(CN);
    const ip = decodeIpv4Packet(icmp.bytes);
    expect(ip.ok).toBe(true);
    if (!ip.ok) return;
    expect(ip.value.header.checksumValid).toBe(true);
    expect(ip.value.header.protocol).toBe(IpProtocol.ICMP);
    expect(ip.value.header.source).toBe(HA);
    expect(ip.value.header.destination).toBe(CN);
    const message = decodeIcmpError(ip.value.payload);
    expect(message.ok).toBe(true);
    if (!message.ok) return;
    expect(message.value.icmpType).toBe(IcmpType.TimeExceeded);
    expect(message.value.code).toBe(TimeExceededCode.TtlExceededInTransit);
    expect(message.value.checksumValid).toBe(true);
    // The original header and the first 64 bits of its data, as received (RFC 792).
    expect([...message.value.original]).toEqual([...original.subarray(0, 28)]);
    expect(ha.counters['ttl-exceeded']).toBe(1);
    expect(ha.counters['tunnelled']).toBeUndefined();
  });

  it('TTL 2 is tunnelled with inner TTL 1; TTL 0 is never encapsulated', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const out = ha.process([pkt(datagram({ ttl: 2 })), pkt(datagram({ ttl: 0 }))]).packets;
    expect(out.map((o) => o.kind)).toEqual(['send-ip', 'icmp']);
    const inner = ipInIpDecapsulate(out[0]!.bytes);
    expect(inner.ok && inner.value.inner[8]).toBe(1);
  });

  it('no ICMP error about an ICMP error, a link-layer broadcast or a non-initial fragment (RFC 1122 3.2.2)', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const icmpError = datagram({ ttl: 1, protocol: IpProtocol.ICMP, payload: new Uint8Array([11, 0, 0, 0, 0, 0, 0, 0]) });
    const fragment = datagram({ ttl: 1, flags: 0, fragmentOffset: 10 });
    const out = ha.process([pkt(icmpError), pkt(datagram({ ttl: 1 }), { linkBroadcast: true }), pkt(fragment)]).packets;
    expect(out).toEqual([]);
    expect(ha.counters['icmp-suppressed']).toBe(3);
  });

  it('the FA discards an inner datagram with TTL 0 after decapsulation', () => {
    const inner = datagram({ ttl: 0 });
    const tunnelPacket = new Uint8Array(inner.length + 20);
    ipInIpEncapsulate(inner, { source: HA, destination: FA, identification: 1 }, tunnelPacket);
    const fa = faPlane();
    expect(fa.process([pkt(tunnelPacket)]).packets).toEqual([]);
    expect(fa.counters['inner-ttl-zero']).toBe(1);
  });
});

describe('broadcast and multicast (4.3, 4.4)', () => {
  const broadcastTable = () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'ip-in-ip', { broadcast: true }));
    table.upsertTunnel(HOME2, target(FA2, 'ip-in-ip', { broadcast: false }));
    table.upsertTunnel(ipv4('198.51.100.12'), target(CCOA, 'gre', { broadcast: true, decapsulatedByMobileNode: true }));
    return table;
  };

  it('[R4.3-1] [R3.6.1.2-6] [R3.6.1.2-7] without D: nested in IP-in-IP to the home address; the FA delivers it still encapsulated', () => {
    const ha = haPlane(broadcastTable(), { homeInterface: 'home0' });
    const broadcast = datagram({ destination: ipv4('198.51.100.255'), source: ipv4('198.51.100.50'), ttl: 1 });
    const out = sends(ha.process([pkt(broadcast)]).packets);
    // Only the two bindings with B; none to FA2.
    expect(out.map((o) => o.destination)).toEqual([FA, CCOA]);
    const toFa = out[0]!;
    expect(toFa.via).toBe('broadcast');
    // Outer: HA → FA; inside it a unicast IP-in-IP datagram HA → home address; inside that the broadcast.
    const first = ipInIpDecapsulate(toFa.bytes);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.value.outer.destination).toBe(FA);
    const middle = ipInIpDecapsulate(first.value.inner);
    expect(middle.ok).toBe(true);
    if (!middle.ok) return;
    expect(middle.value.outer.source).toBe(HA);
    expect(middle.value.outer.destination).toBe(HOME);
    expect([...middle.value.inner]).toEqual([...broadcast]); // not TTL-decremented: the home link extended

    const fa = faPlane();
    const delivered = fa.process([pkt(toFa.bytes)]).packets[0]!;
    expect(delivered.kind).toBe('deliver');
    if (delivered.kind !== 'deliver') return;
    expect(delivered.linkAddress).toBe(MN_MAC);
    expect(delivered.bytes[9]).toBe(IpProtocol.IPIP); // the FA took only the outer layer off
    const mn = mobileNodeDecapsulation({ homeAddress: HOME, careOfAddresses: [], homePrefixLength: 24 });
    const up = mn.process([pkt(delivered.bytes)]).packets[0]!;
    expect(up.kind).toBe('local');
    expect([...up.bytes]).toEqual([...broadcast]);
  });

  it('[R3.6.1.2-5] with D: tunnelled straight to the co-located care-of address, which recovers the broadcast', () => {
    const ha = haPlane(broadcastTable());
    const broadcast = datagram({ destination: 0xffffffff, source: ipv4('198.51.100.50') });
    const toCcoa = sends(ha.process([pkt(broadcast)]).packets).find((o) => o.destination === CCOA)!;
    expect(toCcoa.encapsulation).toBe('gre');
    const once = decapsulate(toCcoa.bytes.slice());
    expect(once.ok && [...once.value.datagram]).toEqual([...broadcast]);
    const mn = mobileNodeDecapsulation({ homeAddress: ipv4('198.51.100.12'), careOfAddresses: [CCOA] });
    const up = mn.process([pkt(toCcoa.bytes)]).packets[0]!;
    expect(up.kind === 'local' && up.decapsulated).toBe(true);
    expect([...up.bytes]).toEqual([...broadcast]);
  });

  it('[R4.4-7] [R4.4-8] multicast follows the broadcast rules: nested without D, direct with D', () => {
    const ha = haPlane(broadcastTable());
    const multicast = datagram({ destination: ipv4('224.0.1.1'), source: ipv4('198.51.100.50') });
    const out = sends(ha.process([pkt(multicast)]).packets);
    expect(out.map((o) => o.destination)).toEqual([FA, CCOA]);
    const first = ipInIpDecapsulate(out[0]!.bytes);
    expect(first.ok && first.value.inner[9]).toBe(IpProtocol.IPIP);
    const mn = mobileNodeDecapsulation({ homeAddress: HOME, careOfAddresses: [] });
    const fa = faPlane();
    const viaFa = fa.process([pkt(out[0]!.bytes)]).packets[0]!;
    expect([...mn.process([pkt(viaFa.bytes)]).packets[0]!.bytes]).toEqual([...multicast]);
  });

  it('[R4.3-1] no binding asked: nothing is forwarded; broadcasts from another interface are ignored with homeInterface', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    expect(ha.process([pkt(datagram({ destination: 0xffffffff }))]).packets).toEqual([]);
    expect(ha.counters['broadcast-unrequested']).toBe(1);
    const ha2 = haPlane(broadcastTable(), { homeInterface: 'home0' });
    expect(ha2.process([pkt(datagram({ destination: 0xffffffff }), { ingress: 'wan0' })]).packets).toEqual([]);
  });
});

describe('no tunnel loops', () => {
  it('a datagram to a care-of address is routed, not tunnelled again', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const toCoa = datagram({ destination: FA });
    expect(ha.process([pkt(toCoa)]).packets).toEqual([{ kind: 'forward', index: 0, bytes: toCoa, routed: false }]);
  });

  it('a care-of address that is itself a bound home address is not tunnelled to', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(HOME2));
    table.upsertTunnel(HOME2, target(HOME));
    const ha = haPlane(table);
    expect(ha.process([pkt(datagram({ destination: HOME })), pkt(datagram({ destination: HOME2 }))]).packets).toEqual([]);
    expect(ha.counters['loop-care-of-address-bound']).toBe(2);
  });

  it("the agent's own tunnel packet coming back is not encapsulated again (RFC 2003 3.2: source is this router)", () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const [sent] = sends(ha.process([pkt(datagram({}))]).packets);
    // The tunnel packet, misrouted back with its destination rewritten to the home address.
    const echoed = sent!.bytes.slice();
    echoed.set([198, 51, 100, 10], 16);
    echoed[10] = 0;
    echoed[11] = 0;
    const fixed = new Uint8Array(echoed.length);
    const parsed = decodeIpv4Packet(echoed);
    if (!parsed.ok) throw new Error('fixture');
    encodeIpv4Packet({ header: parsed.value.header, payload: parsed.value.payload }, fixed);
    expect(ha.process([pkt(fixed)]).packets).toEqual([]);
    expect(ha.counters['loop-source-is-self']).toBe(1);
  });

  it('a datagram from the tunnel exit itself is not tunnelled back to it (RFC 2003 3.2)', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(CCOA));
    const ha = haPlane(table);
    expect(ha.process([pkt(datagram({ source: CCOA }))]).packets).toEqual([]);
    expect(ha.counters['loop-source-is-tunnel-exit']).toBe(1);
  });

  function tunnelled(outerSource: number, outerDestination: number, innerDestination: number): Uint8Array {
    const inner = datagram({ destination: innerDestination });
    const bytes = new Uint8Array(inner.length + 20);
    ipInIpEncapsulate(inner, { source: outerSource, destination: outerDestination, identification: 7, ttl: 30 }, bytes);
    return bytes;
  }

  it('[R4.2.3-10] [R4.2.3-11] [R4.2.3-12] already tunnelled to the home address from its own care-of address: silently discarded', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    expect(ha.process([pkt(tunnelled(FA, HOME, HOME))]).packets).toEqual([]);
    expect(ha.counters['loop-from-care-of-address']).toBe(1);
  });

  it('[R4.2.3-13] [R4.2.3-14] from another tunnel source: forwarded by rewriting the outer destination', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'gre'));
    const ha = haPlane(table);
    const packet = tunnelled(CN, HOME, HOME);
    const [sent] = sends(ha.process([pkt(packet)]).packets);
    expect(sent!.via).toBe('redirect');
    expect(sent!.bytes.length).toBe(packet.length);
    const outer = decodeIpv4Packet(sent!.bytes);
    expect(outer.ok && outer.value.header).toMatchObject({ destination: FA, source: CN, ttl: 29, checksumValid: true });
    const delivered = faPlane().process([pkt(sent!.bytes)]).packets[0]!;
    expect(delivered.kind).toBe('deliver');
    expect([...delivered.bytes]).toEqual([...datagram({ destination: HOME })]);
  });

  it('[R4.2.3-15] inner destination differs from the outer: nested encapsulation to the care-of address', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table);
    const packet = tunnelled(CN, HOME, ipv4('192.0.2.99'));
    const [sent] = sends(ha.process([pkt(packet)]).packets);
    expect(sent!.via).toBe('tunnel');
    const delivered = faPlane().process([pkt(sent!.bytes)]).packets[0]!;
    expect(delivered.kind).toBe('deliver');
    expect([...delivered.bytes]).toEqual([...decremented(packet)]);
  });
});

describe('minimal encapsulation and fragments (RFC 2004 3)', () => {
  it('a fragment bound for a minimal-encapsulation binding goes by IP in IP, counted', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'minimal'));
    const ha = haPlane(table);
    const fragment = datagram({ flags: Ipv4Flag.MoreFragments });
    const whole = datagram({});
    const out = sends(ha.process([pkt(fragment), pkt(whole)]).packets);
    expect(out.map((o) => [o.encapsulation, o.bytes[9]])).toEqual([
      ['ip-in-ip', IpProtocol.IPIP],
      ['minimal', IpProtocol.MINIMAL_ENCAPSULATION],
    ]);
    expect(ha.counters['minimal-fragment-fallback']).toBe(1);
    const delivered = faPlane().process([pkt(out[0]!.bytes)]).packets[0]!;
    expect([...delivered.bytes]).toEqual([...decremented(fragment)]);
  });
});

describe('foreign agent plane', () => {
  it('[R4.2.2-2] [R4.2.2-3] [R4.2.2-4] an inner destination not in the visitor list is silently discarded, no ICMP', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const [sent] = sends(haPlane(table).process([pkt(datagram({}))]).packets);
    const fa = faPlane({});
    expect(fa.process([pkt(sent!.bytes)]).packets).toEqual([]);
    expect(fa.counters['unknown-visitor']).toBe(1);
  });

  it('[R4.2.2-6] a visitor’s datagram is routed: TTL decremented, checksum recomputed', () => {
    const fa = faPlane();
    const fromVisitor = datagram({ source: HOME, destination: CN, ttl: 10 });
    const other = datagram({ source: CN, destination: ipv4('192.0.2.9') });
    const out = fa.process([pkt(fromVisitor), pkt(other)]).packets;
    expect(out[0]).toMatchObject({ kind: 'forward', routed: true, index: 0 });
    expect([...out[0]!.bytes]).toEqual([...decremented(fromVisitor)]);
    expect(out[1]).toEqual({ kind: 'forward', routed: false, index: 1, bytes: other });
    const expired = fa.process([pkt(datagram({ source: HOME, destination: CN, ttl: 1 }))]).packets;
    expect(expired.map((o) => o.kind)).toEqual(['icmp']);
  });

  it('tunnel packets that do not decapsulate are dropped and counted by reason', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'gre'));
    const [sent] = sends(haPlane(table).process([pkt(datagram({}))]).packets);
    const broken = sent!.bytes.slice();
    broken[23] = 0x06; // GRE protocol type 0x0800 (IPv4) → 0x0806 (ARP)
    const fa = faPlane();
    expect(fa.process([pkt(broken)]).packets).toEqual([]);
    expect(fa.counters['decapsulation-bad-type']).toBe(1);
  });
});

describe('mobile node with a co-located care-of address', () => {
  it('[R4.1-2] decapsulates IP in IP sent to its care-of address and hands the inner datagram up', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(CCOA, 'ip-in-ip', { decapsulatedByMobileNode: true }));
    const [sent] = sends(haPlane(table).process([pkt(datagram({}))]).packets);
    const mn = mobileNodeDecapsulation({ homeAddress: HOME, careOfAddresses: [CCOA] });
    const out = mn.process([pkt(sent!.bytes), pkt(datagram({ destination: CCOA })), pkt(datagram({ destination: CN }))]).packets;
    expect(out.map((o) => [o.kind, o.index])).toEqual([
      ['local', 0],
      ['local', 1],
      ['forward', 2],
    ]);
    expect([...out[0]!.bytes]).toEqual([...decremented(datagram({}))]);
  });

  it('drops a tunnelled datagram that is not for it (RFC 2003 6.2)', () => {
    const inner = datagram({ destination: ipv4('192.0.2.99') });
    const bytes = new Uint8Array(inner.length + 20);
    ipInIpEncapsulate(inner, { source: CN, destination: CCOA, identification: 1 }, bytes);
    const mn = mobileNodeDecapsulation({ homeAddress: HOME, careOfAddresses: [CCOA] });
    expect(mn.process([pkt(bytes)]).packets).toEqual([]);
    expect(mn.counters['not-for-me']).toBe(1);
  });
});

describe('batches, buffers and robustness', () => {
  it('outputs keep the input order through the RxJS operator, one output batch per input batch', async () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    table.upsertTunnel(HOME, target(FA2));
    const ha = haPlane(table);
    const batch = [
      pkt(datagram({ destination: HOME2 })),
      pkt(datagram({})),
      pkt(new Uint8Array([1, 2, 3])),
      pkt(datagram({ ttl: 1 })),
      pkt(datagram({ destination: HA })),
    ];
    const batches = await firstValueFrom(from([batch, batch.slice(1, 2)]).pipe(ha, toArray()));
    expect(batches).toHaveLength(2);
    expect(batches[0]!.packets.map((o) => [o.index, o.kind])).toEqual([
      [0, 'forward'],
      [1, 'send-ip'],
      [1, 'send-ip'],
      [3, 'icmp'],
      [4, 'local'],
    ]);
    expect(batches[1]!.packets.map((o) => o.index)).toEqual([0, 0]);
    expect(ha.counters['malformed-bad-version']).toBe(1);
  });

  it('the pool reuses released slabs and never hands out bytes an unreleased batch holds', () => {
    const pool = new PacketPool({ slabSize: 4096, initialSlabs: 1 });
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const ha = haPlane(table, { pool });
    const batch = Array.from({ length: 64 }, () => pkt(datagram({})));
    const first = ha.process(batch);
    const snapshot = first.packets.map((o) => o.bytes.slice());
    const second = ha.process(batch); // first not released: new slabs
    expect(first.packets.map((o) => [...o.bytes])).toEqual(snapshot.map((b) => [...b]));
    const created = pool.stats.slabsCreated;
    first.release();
    first.release();
    second.release();
    expect(pool.stats.leased).toBe(0);
    for (let i = 0; i < 10; i++) ha.process(batch).release();
    expect(pool.stats.slabsCreated).toBe(created);
  });

  it('random byte batches never throw on any plane; every packet is an output or a counted drop', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, 'minimal', { broadcast: true }));
    table.upsertTunnel(HOME, target(FA2, 'gre'));
    const planes = [
      haPlane(table),
      faPlane(),
      mobileNodeDecapsulation({ homeAddress: HOME, careOfAddresses: [CCOA] }),
    ];
    const interesting = fc.constantFrom(HOME, FA, CCOA, 0xffffffff, CN);
    // Random bytes, and near-valid datagrams with random bodies (so the deeper paths run too).
    const nearValid = fc
      .record({
        destination: interesting,
        protocol: fc.constantFrom(4, 47, 55, 17, 1),
        ttl: fc.integer({ min: 0, max: 3 }),
        payload: fc.uint8Array({ maxLength: 80 }),
      })
      .map((f) => datagram(f));
    const packetBytes = fc.oneof(fc.uint8Array({ maxLength: 120 }), nearValid);
    fc.assert(
      fc.property(fc.array(packetBytes, { maxLength: 16 }), (batch) => {
        for (const plane of planes) {
          const out = plane.process(batch.map((bytes) => ({ bytes })));
          for (const o of out.packets) expect(o.index).toBeLessThan(batch.length);
          out.release();
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: for random bindings and inner datagrams, the FA recovers every datagram the HA tunnelled', () => {
    const homes = [HOME, HOME2, ipv4('198.51.100.12'), ipv4('198.51.100.13')];
    const fas = [FA, FA2, ipv4('203.0.113.3')];
    const binding = fc.record({
      home: fc.constantFrom(...homes),
      coa: fc.constantFrom(...fas),
      encapsulation: fc.constantFrom<Encapsulation>('ip-in-ip', 'minimal', 'gre'),
    });
    const inner = fc.record({
      destination: fc.constantFrom(...homes),
      source: fc.constantFrom(CN, ipv4('192.0.2.77'), HA_OTHER),
      ttl: fc.integer({ min: 2, max: 255 }),
      protocol: fc.constantFrom(1, 6, 17),
      payload: fc.uint8Array({ maxLength: 200 }),
      flags: fc.constantFrom(0, Ipv4Flag.DontFragment, Ipv4Flag.MoreFragments),
      identification: fc.integer({ min: 0, max: 0xffff }),
    });
    fc.assert(
      fc.property(fc.array(binding, { minLength: 1, maxLength: 6 }), fc.array(inner, { maxLength: 20 }), (bindings, inners) => {
        const table = new ForwardingTable();
        for (const b of bindings) table.upsertTunnel(b.home, target(b.coa, b.encapsulation));
        const ha = haPlane(table);
        const visitors = Object.fromEntries(homes.map((h, i) => [h, `02:00:00:00:00:0${i}`]));
        const faByAddress = new Map(fas.map((a) => [a, faPlane(visitors, [a])]));
        const datagrams = inners.map((f) => datagram(f));
        const out = ha.process(datagrams.map((bytes) => pkt(bytes)));
        const expected: string[] = [];
        datagrams.forEach((d, i) => {
          const entry = table.lookup(d.subarray(16, 20).reduce((a, b) => a * 256 + b, 0));
          for (const t of entry?.tunnels ?? []) expected.push(`${i}@${t.careOfAddress}:${Buffer.from(decremented(d)).toString('hex')}`);
        });
        const recovered: string[] = [];
        for (const o of sends(out.packets)) {
          const fa = faByAddress.get(o.destination)!;
          const delivered = fa.process([pkt(o.bytes)]);
          for (const d of delivered.packets) {
            expect(d.kind).toBe('deliver');
            recovered.push(`${o.index}@${o.destination}:${Buffer.from(d.bytes).toString('hex')}`);
          }
          delivered.release();
        }
        expect(recovered).toEqual(expected);
        out.release();
      }),
      { numRuns: 300 },
    );
  });
});
