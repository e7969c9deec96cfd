/**
 * The mobile node's UDP tunnel (RFC 3519) in runtime/dataplane/mn-plane.ts, sans IO: tunnel data
 * messages out of the node's own datagrams, inner datagrams out of the home agent's, and the
 * keepalive message. Read back with io/wire codecs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, ipv4ChecksumValid, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeIcmpEcho } from '../../io/wire/icmp.js';
import {
  isKeepaliveReply,
  MnUdpTunnelPlane,
  UDP_KEEPALIVE_MESSAGE_LENGTH,
  writeUdpKeepalive,
  type MobileNodeUdpTunnel,
} from '../../runtime/dataplane/mn-plane.js';

const HA = ipv4('198.51.100.1');
const HOME = ipv4('198.51.100.10');
const CCOA = ipv4('192.0.2.130');
const CN = ipv4('192.0.2.5');
const TUNNEL: MobileNodeUdpTunnel = { homeAddress: HOME, homeAgent: HA, careOfAddress: CCOA };

function datagram(source: number, destination: number, payloadLength = 16, protocol: number = IpProtocol.UDP): Uint8Array {
  const packet = {
    header: { tos: 0, identification: 3, flags: 0, fragmentOffset: 0, ttl: 64, protocol, source, destination },
    payload: new Uint8Array(payloadLength).fill(7),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function message(nextHeader: number, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + inner.length);
  out.set([4, nextHeader, 0, 0]);
  out.set(inner, 4);
  return out;
}

describe("RFC 3519 3.3 / 4.2: the co-located node's own datagrams as tunnel data messages", () => {
  it('a datagram from the home address becomes Type 4, Next Header 4, Reserved 0, then the datagram byte for byte', () => {
    const plane = new MnUdpTunnelPlane();
    const inner = datagram(HOME, CN);
    const out = plane.encapsulate(inner, TUNNEL);
    if (typeof out === 'string') throw new Error(out);
    expect([...out.subarray(0, 4)]).toEqual([4, 4, 0, 0]);
    expect([...out.subarray(4)]).toEqual([...inner]);
    expect(plane.counters.tunnelledOut).toBe(1);
  });

  it('link-layer padding after the datagram is not carried (Total Length counts)', () => {
    const plane = new MnUdpTunnelPlane();
    const inner = datagram(HOME, CN);
    const padded = new Uint8Array(inner.length + 6);
    padded.set(inner);
    const out = plane.encapsulate(padded, TUNNEL);
    if (typeof out === 'string') throw new Error(out);
    expect(out.length).toBe(4 + inner.length);
  });

  it('another source, or no tunnel, passes (the host sends it as it is); a malformed datagram is dropped and counted', () => {
    const plane = new MnUdpTunnelPlane();
    expect(plane.encapsulate(datagram(CCOA, CN), TUNNEL)).toBe('pass');
    expect(plane.encapsulate(datagram(HOME, CN), undefined)).toBe('pass');
    const broken = datagram(HOME, CN);
    broken[10] ^= 0xff; // header checksum
    expect(plane.encapsulate(broken, TUNNEL)).toBe('dropped');
    expect(plane.encapsulate(new Uint8Array(7), TUNNEL)).toBe('dropped');
    expect(plane.counters.malformedOut).toBe(2);
    expect(plane.counters.tunnelledOut).toBe(0);
  });

  it('encapsulation then decapsulation gives the datagram back, for any payload (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1400 }), (length) => {
        const plane = new MnUdpTunnelPlane();
        const inner = datagram(HOME, HOME, length);
        const out = plane.encapsulate(inner, TUNNEL);
        if (typeof out === 'string') return false;
        const back = plane.decapsulate(out.slice(), HA, 434, TUNNEL);
        return back !== undefined && back.length === inner.length && back.every((b, i) => b === inner[i]);
      }),
    );
  });
});

describe('RFC 3519 4.3: tunnel data from the home agent', () => {
  it('the inner datagram for the home address is delivered, a view after the 4-byte header', () => {
    const plane = new MnUdpTunnelPlane();
    const inner = datagram(CN, HOME);
    const got = plane.decapsulate(message(4, inner), HA, 434, TUNNEL);
    expect(got && [...got]).toEqual([...inner]);
    expect(plane.counters.decapsulated).toBe(1);
  });

  it('multicast and the limited broadcast the home agent forwards are delivered too (RFC 5944 4.3, 4.4)', () => {
    const plane = new MnUdpTunnelPlane();
    expect(plane.decapsulate(message(4, datagram(CN, ipv4('239.1.2.3'))), HA, 434, TUNNEL)).toBeDefined();
    expect(plane.decapsulate(message(4, datagram(CN, 0xffffffff)), HA, 434, TUNNEL)).toBeDefined();
  });

  it('only from the home agent address and port 434; Next Header other than 4, a short or malformed message, or another destination are dropped and counted', () => {
    const plane = new MnUdpTunnelPlane();
    const inner = datagram(CN, HOME);
    expect(plane.decapsulate(message(4, inner), ipv4('203.0.113.9'), 434, TUNNEL)).toBeUndefined();
    expect(plane.decapsulate(message(4, inner), HA, 40000, TUNNEL)).toBeUndefined();
    expect(plane.counters.notFromHomeAgent).toBe(2);
    expect(plane.decapsulate(message(55, inner), HA, 434, TUNNEL)).toBeUndefined();
    expect(plane.counters.unsupportedNextHeader).toBe(1);
    expect(plane.decapsulate(new Uint8Array([4, 4]), HA, 434, TUNNEL)).toBeUndefined();
    expect(plane.decapsulate(message(4, inner.subarray(0, 10)), HA, 434, TUNNEL)).toBeUndefined();
    expect(plane.counters.malformedIn).toBe(2);
    expect(plane.decapsulate(message(4, datagram(CN, ipv4('198.51.100.11'))), HA, 434, TUNNEL)).toBeUndefined();
    expect(plane.counters.notForHome).toBe(1);
    expect(plane.counters.decapsulated).toBe(0);
  });

});

describe('RFC 3519 4.9: the keepalive message', () => {
  it('is a tunnel data message carrying an ICMP Echo Request from the home address to the home agent, checksums valid', () => {
    const out = writeUdpKeepalive(new Uint8Array(UDP_KEEPALIVE_MESSAGE_LENGTH), TUNNEL, 0x1234, 7, 99);
    expect([...out.subarray(0, 4)]).toEqual([4, 4, 0, 0]);
    const ip = decodeIpv4Packet(out, 4);
    if (!ip.ok) throw new Error(ip.error.message);
    expect(ip.value.header.source).toBe(HOME);
    expect(ip.value.header.destination).toBe(HA);
    expect(ip.value.header.protocol).toBe(IpProtocol.ICMP);
    expect(ipv4ChecksumValid(out, 4)).toBe(true);
    const echo = decodeIcmpEcho(ip.value.payload);
    if (!echo.ok) throw new Error(echo.error.message);
    expect(echo.value).toMatchObject({ icmpType: 8, identifier: 0x1234, sequence: 7, checksumValid: true });
  });

  it('the Echo Reply to it is recognised by identifier and source; other ICMP is not', () => {
    const reply = datagram(HA, HOME, 8, IpProtocol.ICMP);
    reply.set([0, 0, 0, 0, 0x12, 0x34, 0, 7], 20);
    expect(isKeepaliveReply(reply, TUNNEL, 0x1234)).toBe(true);
    expect(isKeepaliveReply(reply, TUNNEL, 0x1235)).toBe(false);
    const fromCn = datagram(CN, HOME, 8, IpProtocol.ICMP);
    fromCn.set([0, 0, 0, 0, 0x12, 0x34, 0, 7], 20);
    expect(isKeepaliveReply(fromCn, TUNNEL, 0x1234)).toBe(false);
  });
});
