/**
 * The foreign agent's UDP tunnel (RFC 3519; runtime/dataplane/fa-udp-tunnel.ts and the UDP
 * form of fa-plane.ts's reverse tunnel): tunnel data messages from a visitor's home agent taken
 * apart and delivered on the link, everything else counted and dropped; a 'T' visitor's
 * datagrams sent as tunnel data messages from the care-of address's 434 to the home agent's;
 * the keepalive's bytes.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, readU16, toHex } from '../../io/wire/bytes.js';
import { decodeIcmpEcho } from '../../io/wire/icmp.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4ChecksumValid, ipv4Destination, ipv4PacketLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { decodeUdpDatagram } from '../../io/wire/udp.js';
import { foreignAgentDataPlane, type ReverseTunnel } from '../../runtime/dataplane/fa-plane.js';
import {
  decapsulateUdpTunnelBatch,
  KEEPALIVE_ECHO_IDENTIFIER,
  udpKeepalivePayload,
  type UdpTunnelPacket,
} from '../../runtime/dataplane/fa-udp-tunnel.js';
import { TUNNEL_DATA_HEADER_LENGTH, tunnelDataNextHeader, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import { PacketPool } from '../../runtime/dataplane/packets.js';
import { isDropReason } from '../../runtime/metrics/registry.js';

const FA = ipv4('203.0.113.1');
const HA = ipv4('198.51.100.1');
const OTHER_HA = ipv4('198.51.100.2');
const HOME = ipv4('198.51.100.10');
const HOME_IPIP = ipv4('198.51.100.11');
const CN = ipv4('192.0.2.5');
const MN_MAC = '02:00:00:00:00:0a';

function datagram(source: number, destination: number, options: { ttl?: number; size?: number; dontFragment?: boolean } = {}): Uint8Array {
  const packet = {
    header: { tos: 0x10, identification: 3, flags: options.dontFragment === false ? 0 : Ipv4Flag.DontFragment, fragmentOffset: 0, ttl: options.ttl ?? 64, protocol: IpProtocol.UDP, source, destination },
    payload: new Uint8Array(options.size ?? 12).fill(7),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function tunnelData(inner: Uint8Array, nextHeader = 4): Uint8Array {
  const out = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + inner.length);
  writeTunnelDataHeader(out, 0, nextHeader);
  out.set(inner, TUNNEL_DATA_HEADER_LENGTH);
  return out;
}

function state() {
  return {
    pool: new PacketPool(),
    counters: {} as Record<string, number>,
    visitors: (home: number) => (home === HOME || home === HOME_IPIP ? MN_MAC : undefined),
    // HOME's registration uses UDP tunnelling with HA; HOME_IPIP's does not.
    udpHomeAgentOf: (home: number) => (home === HOME ? HA : undefined),
  };
}

const from = (bytes: Uint8Array, source = HA, sourcePort = 434): UdpTunnelPacket => ({ bytes, source, sourcePort });

describe('tunnel data messages from the home agent (RFC 3519 3.3, 4.3)', () => {
  it("a visitor's datagram is delivered on the link to its link-layer address, unchanged (no TTL decrement, 4.2.2)", () => {
    const s = state();
    const inner = datagram(CN, HOME);
    const out = decapsulateUdpTunnelBatch(s, [from(tunnelData(inner))]);
    expect(out.packets).toHaveLength(1);
    expect(out.packets[0]).toMatchObject({ kind: 'deliver', linkAddress: MN_MAC, homeAddress: HOME });
    expect(toHex(out.packets[0]!.bytes)).toBe(toHex(inner));
    expect(s.counters['udp-tunnel-delivered']).toBe(1);
    out.release();
  });

  it('a batch: each message judged on its own, outputs in input order', () => {
    const s = state();
    const a = datagram(CN, HOME, { size: 20 });
    const b = datagram(CN, HOME, { size: 30 });
    const out = decapsulateUdpTunnelBatch(s, [from(tunnelData(a)), from(Uint8Array.of(3, 0, 0, 0)), from(tunnelData(b))]);
    expect(out.packets.map((p) => p.index)).toEqual([0, 2]);
    expect(out.packets.map((p) => p.bytes.length)).toEqual([a.length, b.length]);
  });

  const drops: [string, () => UdpTunnelPacket, string][] = [
    ['not a tunnel data message', () => from(Uint8Array.of(3, 0, 0, 0, 1, 2)), 'udp-tunnel-not-data'],
    ['Next Header 55 (the agent asked for IP in IP)', () => from(tunnelData(datagram(CN, HOME), 55)), 'udp-tunnel-next-header-unsupported'],
    ['for a node that is no visitor', () => from(tunnelData(datagram(CN, ipv4('198.51.100.99')))), 'udp-tunnel-unknown-visitor'],
    ['for a visitor whose registration does not use UDP tunnelling', () => from(tunnelData(datagram(CN, HOME_IPIP))), 'udp-tunnel-unknown-visitor'],
    ["from another home agent than the visitor's", () => from(tunnelData(datagram(CN, HOME)), OTHER_HA), 'udp-tunnel-wrong-sender'],
    ['from another port than 434', () => from(tunnelData(datagram(CN, HOME)), HA, 40000), 'udp-tunnel-wrong-sender'],
    [
      'an inner header with a bad checksum',
      () => {
        const inner = datagram(CN, HOME);
        inner[10] ^= 0xff;
        return from(tunnelData(inner));
      },
      'bad-checksum',
    ],
  ];
  for (const [what, make, counter] of drops) {
    it(`dropped and counted: ${what}`, () => {
      const s = state();
      const out = decapsulateUdpTunnelBatch(s, [make()]);
      expect(out.packets).toEqual([]);
      expect(s.counters[counter], JSON.stringify(s.counters)).toBe(1);
      expect(isDropReason(counter)).toBe(true);
    });
  }

  it('a truncated inner datagram is dropped as malformed', () => {
    const s = state();
    const inner = datagram(CN, HOME);
    const out = decapsulateUdpTunnelBatch(s, [from(tunnelData(inner).subarray(0, 4 + inner.length - 5))]);
    expect(out.packets).toEqual([]);
    expect(Object.keys(s.counters).some((k) => k.startsWith('malformed-'))).toBe(true);
  });

  it('RFC 2003 3.1: an inner TTL of 0 is discarded', () => {
    const s = state();
    const inner = datagram(CN, HOME, { ttl: 0 });
    expect(decapsulateUdpTunnelBatch(s, [from(tunnelData(inner))]).packets).toEqual([]);
    expect(s.counters['udp-tunnel-inner-ttl-zero']).toBe(1);
  });
});

describe("the reverse tunnel over UDP (RFC 3519 4.2; RFC 3024 'T')", () => {
  function plane(tunnelMtu?: number) {
    const reverse: ReverseTunnel = { homeAgent: HA, careOfAddress: FA, encapsulation: 'gre', delivery: 'direct', udp: true };
    return foreignAgentDataPlane({
      visitors: (home) => (home === HOME ? MN_MAC : undefined),
      reverseTunnels: (home) => (home === HOME ? reverse : undefined),
      localAddresses: [FA],
      ...(tunnelMtu === undefined ? {} : { tunnelMtu }),
    });
  }

  it('IPv4 care-of address → home agent, UDP 434 → 434 (checksum 0), tunnel data header Next Header 4, then the datagram with its TTL one less', () => {
    const p = plane();
    const inner = datagram(HOME, CN, { ttl: 64 });
    const batch = p.process([{ bytes: inner, ingress: 'visitors' }]);
    expect(batch.packets).toHaveLength(1);
    const out = batch.packets[0]!;
    expect(out).toMatchObject({ kind: 'send-ip', destination: HA, homeAddress: HOME });
    expect(ipv4Source(out.bytes, 0)).toBe(FA);
    expect(ipv4Destination(out.bytes, 0)).toBe(HA);
    expect(ipv4Protocol(out.bytes, 0)).toBe(IpProtocol.UDP);
    expect(ipv4ChecksumValid(out.bytes, 0)).toBe(true);
    expect(out.bytes[1]).toBe(0x10); // TOS copied
    expect(out.bytes[6]! & 0x40).toBe(0x40); // DF copied
    const ip = decodeIpv4Packet(out.bytes);
    if (!ip.ok) throw new Error(ip.error.message);
    const udp = decodeUdpDatagram(ip.value.payload);
    if (!udp.ok) throw new Error(udp.error.message);
    expect(udp.value.header).toMatchObject({ sourcePort: 434, destinationPort: 434, length: 8 + 4 + inner.length, checksum: 0 });
    // GRE was granted for IP-in-IP tunnels; the UDP tunnel carries IP in IP (what the agent asked for, RFC 3519 3.1.4).
    expect(tunnelDataNextHeader(udp.value.payload, 0, udp.value.payload.length)).toBe(4);
    const carried = udp.value.payload.subarray(4);
    expect(carried[8]).toBe(63);
    expect(ipv4ChecksumValid(carried, 0)).toBe(true);
    expect(toHex(carried.subarray(12))).toBe(toHex(inner.subarray(12)));
    expect(p.counters['udp-tunnel-reverse-tunnelled']).toBe(1);
    expect(p.counters['reverse-tunnelled']).toBe(1);
    batch.release();
  });

  it('DF and too big for the tunnel MTU with the 32 bytes of IP, UDP and tunnel data headers: Fragmentation Needed, MTU 1468 (RFC 2003 5.1)', () => {
    const p = plane(1500);
    const fits = p.process([{ bytes: datagram(HOME, CN, { size: 1468 - 20 }), ingress: 'visitors' }]);
    expect(fits.packets[0]!.kind).toBe('send-ip');
    const big = p.process([{ bytes: datagram(HOME, CN, { size: 1469 - 20 }), ingress: 'visitors' }]);
    const icmp = big.packets[0]!;
    expect(icmp.kind).toBe('icmp');
    expect(readU16(icmp.bytes, 20 + 6)).toBe(1468);
    expect(p.counters['reverse-tunnel-fragmentation-needed']).toBe(1);
  });
});

describe('the keepalive (RFC 3519 4.9)', () => {
  it('an ICMP Echo Request from the care-of address to the home agent in a tunnel data message (Next Header 4)', () => {
    const payload = udpKeepalivePayload(FA, HA, 7);
    expect(tunnelDataNextHeader(payload, 0, payload.length)).toBe(4);
    const ip = decodeIpv4Packet(payload.subarray(4));
    if (!ip.ok) throw new Error(ip.error.message);
    expect(ip.value.header).toMatchObject({ source: FA, destination: HA, protocol: IpProtocol.ICMP, checksumValid: true });
    const echo = decodeIcmpEcho(ip.value.payload);
    if (!echo.ok) throw new Error(echo.error.message);
    expect(echo.value).toMatchObject({ icmpType: 8, identifier: KEEPALIVE_ECHO_IDENTIFIER, sequence: 7, checksumValid: true });
  });
});
