/**
 * The foreign agent's reverse tunnel (runtime/dataplane/fa-plane.ts, RFC 3024 delivery styles): a visitor
 * granted 'T' has its datagrams tunnelled to its home agent (direct delivery) or its own
 * tunnel to the agent taken apart and re-tunnelled (encapsulating delivery), with RFC 2003's
 * TTL, DF and ICMP rules. Outputs are decoded with the project's decapsulators.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, readU16 } from '../../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4ChecksumValid, ipv4Destination, ipv4PacketLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { greDecapsulate, ipInIpDecapsulate, ipInIpEncapsulate, minimalDecapsulate } from '../../io/wire/tunnel.js';
import { foreignAgentDataPlane, type ReverseTunnel } from '../../runtime/dataplane/fa-plane.js';
import type { Packet } from '../../runtime/dataplane/packets.js';
import { isDropReason } from '../../runtime/metrics/registry.js';

const FA = ipv4('203.0.113.1');
const HA = ipv4('198.51.100.1');
const HOME = ipv4('198.51.100.10');
const HOME_PLAIN = ipv4('198.51.100.11');
const CN = ipv4('192.0.2.5');
const MN_MAC = '02:00:00:00:00:0a';

function datagram(source: number, destination: number, options: { ttl?: number; dontFragment?: boolean; size?: number; protocol?: number } = {}): Uint8Array {
  const packet = {
    header: {
      tos: 0x10,
      identification: 3,
      flags: options.dontFragment === false ? 0 : Ipv4Flag.DontFragment,
      fragmentOffset: 0,
      ttl: options.ttl ?? 64,
      protocol: options.protocol ?? IpProtocol.UDP,
      source,
      destination,
    },
    payload: new Uint8Array(options.size ?? 12).fill(7),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function plane(tunnel: Partial<ReverseTunnel> = {}, tunnelMtu?: number) {
  const reverse: ReverseTunnel = { homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'direct', ...tunnel };
  return foreignAgentDataPlane({
    visitors: (home) => (home === HOME || home === HOME_PLAIN ? MN_MAC : undefined),
    reverseTunnels: (home) => (home === HOME ? reverse : undefined),
    localAddresses: [FA],
    ...(tunnelMtu === undefined ? {} : { tunnelMtu }),
  });
}

const pkt = (bytes: Uint8Array): Packet => ({ bytes, ingress: 'visitors0' });

describe("the foreign agent's reverse tunnel (RFC 3024 delivery styles)", () => {
  it('direct delivery: IP in IP from the care-of address to the home agent, inner TTL one less, TOS and DF copied (RFC 2003 3.1)', () => {
    const p = plane();
    const inner = datagram(HOME, CN, { ttl: 64 });
    const batch = p.process([pkt(inner)]);
    expect(batch.packets).toHaveLength(1);
    const out = batch.packets[0]!;
    expect(out).toMatchObject({ kind: 'send-ip', destination: HA, homeAddress: HOME, encapsulation: 'ip-in-ip' });
    expect(ipv4Source(out.bytes, 0)).toBe(FA);
    expect(ipv4Destination(out.bytes, 0)).toBe(HA);
    expect(ipv4Protocol(out.bytes, 0)).toBe(IpProtocol.IPIP);
    expect(ipv4ChecksumValid(out.bytes, 0)).toBe(true);
    expect(out.bytes[1]).toBe(0x10);
    expect(out.bytes[6]! & 0x40).toBe(0x40);
    expect(out.bytes[8]).toBe(64);
    const d = ipInIpDecapsulate(out.bytes);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.inner[8]).toBe(63);
    expect(ipv4ChecksumValid(d.value.inner, 0)).toBe(true);
    expect(ipv4Source(d.value.inner, 0)).toBe(HOME);
    expect(ipv4Destination(d.value.inner, 0)).toBe(CN);
    expect(p.counters['reverse-tunnelled']).toBe(1);
    batch.release();
  });

  it('GRE and minimal encapsulation as granted', () => {
    const gre = plane({ encapsulation: 'gre' }).process([pkt(datagram(HOME, CN))]).packets[0]!;
    expect(gre).toMatchObject({ kind: 'send-ip', encapsulation: 'gre', destination: HA });
    const g = greDecapsulate(gre.bytes);
    expect(g.ok && ipv4Source(g.value.inner, 0)).toBe(HOME);
    const minimal = plane({ encapsulation: 'minimal' }).process([pkt(datagram(HOME, CN))]).packets[0]!;
    expect(minimal).toMatchObject({ kind: 'send-ip', encapsulation: 'minimal', destination: HA });
    expect(ipv4Source(minimal.bytes, 0)).toBe(FA);
    const out = new Uint8Array(minimal.bytes.length);
    const m = minimalDecapsulate(minimal.bytes, 0, minimal.bytes.length, out, 0);
    expect(m.ok && ipv4Source(m.value.datagram, 0)).toBe(HOME);
    expect(m.ok && ipv4Destination(m.value.datagram, 0)).toBe(CN);
  });

  it('a visitor without T is routed as before; datagrams to the agent stay local; broadcasts and 224.0.0.0/24 stay on the link', () => {
    const p = plane();
    const batch = p.process([pkt(datagram(HOME_PLAIN, CN)), pkt(datagram(HOME, FA)), pkt(datagram(HOME, ipv4('255.255.255.255'))), pkt(datagram(HOME, ipv4('224.0.0.251')))]);
    expect(batch.packets.map((o) => o.kind)).toEqual(['forward', 'local', 'forward', 'forward']);
    expect(batch.packets[0]).toMatchObject({ routed: true });
    expect(batch.packets[2]).toMatchObject({ routed: false });
    expect(p.counters['reverse-tunnel-link-local']).toBe(2);
    expect(p.counters['reverse-tunnelled']).toBeUndefined();
  });

  it('TTL 1: no tunnel, ICMP Time Exceeded back to the node (RFC 1122 3.2.2)', () => {
    const p = plane();
    const out = p.process([pkt(datagram(HOME, CN, { ttl: 1 }))]).packets;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'icmp', destination: HOME });
    expect(out[0]!.bytes[20]).toBe(11);
    expect(p.counters['reverse-tunnel-ttl-exceeded']).toBe(1);
  });

  it('DF set and too big for the tunnel MTU: ICMP Fragmentation Needed with the MTU left inside the tunnel (RFC 2003 5.1); without DF it goes out', () => {
    const p = plane({}, 1500);
    const big = datagram(HOME, CN, { size: 1480 - 8 }); // 1500 bytes in all
    const refused = p.process([pkt(big)]).packets;
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ kind: 'icmp', destination: HOME });
    const icmp = refused[0]!.bytes;
    expect([icmp[20], icmp[21]]).toEqual([3, 4]);
    expect(readU16(icmp, 26)).toBe(1480);
    expect(p.counters['reverse-tunnel-fragmentation-needed']).toBe(1);
    // Exported as drops (mip4_dataplane_drops_total), not outcomes.
    for (const name of ['reverse-tunnel-fragmentation-needed', 'reverse-tunnel-ttl-exceeded', 'reverse-tunnel-too-big']) expect(isDropReason(name), name).toBe(true);
    expect(isDropReason('reverse-tunnelled')).toBe(false);
    const allowed = p.process([pkt(datagram(HOME, CN, { size: 1472, dontFragment: false }))]).packets;
    expect(allowed[0]).toMatchObject({ kind: 'send-ip', destination: HA });
    expect(allowed[0]!.bytes[6]! & 0x40).toBe(0);
  });

  it("encapsulating delivery: the node's tunnel to the agent is taken apart and its datagram re-tunnelled from the care-of address", () => {
    const p = plane({ delivery: 'encapsulating' });
    const inner = datagram(HOME, CN, { ttl: 64 });
    const fromNode = new Uint8Array(inner.length + 20);
    ipInIpEncapsulate(inner, { source: HOME, destination: FA, identification: 1, ttl: 255 }, fromNode, 0);
    const out = p.process([pkt(fromNode)]).packets;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'send-ip', destination: HA, homeAddress: HOME });
    expect(ipv4Source(out[0]!.bytes, 0)).toBe(FA);
    const d = ipInIpDecapsulate(out[0]!.bytes);
    expect(d.ok && ipv4Destination(d.value.inner, 0)).toBe(CN);
    expect(d.ok && d.value.inner[8]).toBe(63);
    expect(p.counters['reverse-tunnel-decapsulated']).toBe(1);
    // A direct-delivery visitor's tunnel to the agent is not re-tunnelled.
    const direct = plane({ delivery: 'direct' });
    expect(direct.process([pkt(fromNode)]).packets).toHaveLength(0);
    expect(direct.counters['unknown-visitor']).toBe(1);
  });
});
