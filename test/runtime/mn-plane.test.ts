/**
 * The mobile node's own reverse tunnel (runtime/dataplane/mn-plane.ts), sans IO: its stages and
 * the plane as an operator. Outer headers are read back with the codecs of io/wire/tunnel.ts and
 * io/wire/ipv4.ts.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, from, toArray } from 'rxjs';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeIpv4Header, encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4ChecksumValid, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decapsulate } from '../../io/wire/tunnel.js';
import {
  classifyOwnBatch,
  mnSendPlane,
  mobileNodeReverseTunnelPlane,
  type MobileNodeReverseTunnel,
} from '../../runtime/dataplane/mn-plane.js';
import type { Packet } from '../../runtime/dataplane/packets.js';

const HA = ipv4('198.51.100.1');
const HOME = ipv4('198.51.100.10');
const CCOA = ipv4('203.0.113.77');
const FA_COA = ipv4('203.0.113.1');
const CN = ipv4('192.0.2.5');

function datagram(source: number, destination: number, options: { ttl?: number; tos?: number; df?: boolean; fragmentOffset?: number; more?: boolean } = {}): Uint8Array {
  const flags = (options.df === true ? Ipv4Flag.DontFragment : 0) | (options.more === true ? Ipv4Flag.MoreFragments : 0);
  const packet = {
    header: { tos: options.tos ?? 0, identification: 3, flags, fragmentOffset: options.fragmentOffset ?? 0, ttl: options.ttl ?? 64, protocol: IpProtocol.UDP, source, destination },
    payload: new Uint8Array(16).fill(7),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

const pkt = (bytes: Uint8Array): Packet => ({ bytes });
const COLOCATED: MobileNodeReverseTunnel = { homeAddress: HOME, outerSource: CCOA, outerDestination: HA, encapsulation: 'ip-in-ip', to: 'home-agent' };
const TO_FA: MobileNodeReverseTunnel = { homeAddress: HOME, outerSource: HOME, outerDestination: FA_COA, encapsulation: 'ip-in-ip', to: 'foreign-agent' };

function header(bytes: Uint8Array) {
  const h = decodeIpv4Header(bytes, 0);
  if (!h.ok) throw new Error(h.error.message);
  return h.value;
}

describe("the co-located node's reverse tunnel to its home agent (RFC 3024 5.2)", () => {
  it('a datagram from the home address leaves as IP in IP from the care-of address to the home agent; the inner datagram is byte for byte the one sent (TTL kept: the node originates it)', () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const inner = datagram(HOME, CN, { ttl: 64 });
    const out = plane.process([pkt(inner)]);
    expect(out.packets).toHaveLength(1);
    const sent = out.packets[0]!;
    expect(sent.kind).toBe('send-ip');
    if (sent.kind !== 'send-ip') return;
    expect(sent.destination).toBe(HA);
    expect(sent.encapsulation).toBe('ip-in-ip');
    const outer = header(sent.bytes);
    expect(outer.protocol).toBe(IpProtocol.IPIP);
    expect(outer.source).toBe(CCOA);
    expect(outer.destination).toBe(HA);
    expect(ipv4ChecksumValid(sent.bytes, 0)).toBe(true);
    const d = decapsulate(sent.bytes);
    expect(d.ok && [...d.value.datagram]).toEqual([...inner]);
    expect(plane.counters['tunnelled']).toBe(1);
    out.release();
  });

  it('RFC 2003 3.1: the outer TOS is the inner one and an inner DF is set outside; without DF inside, none outside', () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const out = plane.process([pkt(datagram(HOME, CN, { tos: 0xb8, df: true })), pkt(datagram(HOME, CN))]);
    const [a, b] = out.packets.map((p) => header(p.bytes));
    expect(a!.tos).toBe(0xb8);
    expect(a!.flags & Ipv4Flag.DontFragment).toBe(Ipv4Flag.DontFragment);
    expect(b!.flags & Ipv4Flag.DontFragment).toBe(0);
    out.release();
  });

  it('GRE and minimal encapsulation as granted; a fragment is never minimally encapsulated (RFC 2004 3)', () => {
    const gre = mobileNodeReverseTunnelPlane({ tunnel: () => ({ ...COLOCATED, encapsulation: 'gre' }) });
    const g = gre.process([pkt(datagram(HOME, CN))]);
    expect(header(g.packets[0]!.bytes).protocol).toBe(IpProtocol.GRE);
    const minimal = mobileNodeReverseTunnelPlane({ tunnel: () => ({ ...COLOCATED, encapsulation: 'minimal' }) });
    const m = minimal.process([pkt(datagram(HOME, CN)), pkt(datagram(HOME, CN, { more: true }))]);
    expect(header(m.packets[0]!.bytes).protocol).toBe(IpProtocol.MINIMAL_ENCAPSULATION);
    expect(header(m.packets[0]!.bytes).source).toBe(CCOA);
    expect(header(m.packets[1]!.bytes).protocol).toBe(IpProtocol.IPIP);
    expect(minimal.counters['minimal-fragment-fallback']).toBe(1);
  });

  it('datagrams from another source (the care-of address itself, e.g. multicast sent directly, R4.4-9) pass untouched; without a tunnel everything passes', () => {
    let tunnel: MobileNodeReverseTunnel | undefined = COLOCATED;
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => tunnel });
    const direct = datagram(CCOA, ipv4('239.1.2.3'));
    const out = plane.process([pkt(direct)]);
    expect(out.packets[0]!.kind).toBe('forward');
    expect(out.packets[0]!.bytes).toBe(direct);
    tunnel = undefined;
    const own = datagram(HOME, CN);
    const passed = plane.process([pkt(own)]);
    expect(passed.packets[0]!.kind).toBe('forward');
    expect(plane.counters['passed']).toBe(2);
  });

  it('a multicast datagram from the home address goes through the tunnel to the home agent, its inner source still the home address', () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const out = plane.process([pkt(datagram(HOME, ipv4('239.1.2.3')))]);
    const sent = out.packets[0]!;
    expect(sent.kind).toBe('send-ip');
    const d = decapsulate(sent.bytes);
    expect(d.ok && header(d.value.datagram).source).toBe(HOME);
    expect(header(sent.bytes).source).toBe(CCOA);
  });

  it('malformed input and bad checksums are dropped and counted, never tunnelled', () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const bad = datagram(HOME, CN);
    bad[10] ^= 0xff;
    const out = plane.process([pkt(bad), pkt(new Uint8Array([0x45, 0]))]);
    expect(out.packets).toHaveLength(0);
    expect(plane.counters['bad-checksum']).toBe(1);
  });

  it('classify sets apart what is to tunnel (stage alone)', () => {
    const plane = mnSendPlane({ tunnel: () => COLOCATED });
    const batch = classifyOwnBatch(plane, [pkt(datagram(HOME, CN)), pkt(datagram(CCOA, CN))]);
    expect([...batch.standing]).toEqual([1, 0]);
    expect(batch.outputs.map((o) => o.index)).toEqual([1]);
  });

  it('as an RxJS operator: one output batch per input batch, outputs in input order', async () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const batches = await firstValueFrom(from([[pkt(datagram(CCOA, CN)), pkt(datagram(HOME, CN))], [pkt(datagram(HOME, CN))]]).pipe(plane, toArray()));
    expect(batches.map((b) => b.packets.map((p) => `${p.index}:${p.kind}`))).toEqual([['0:forward', '1:send-ip'], ['0:send-ip']]);
  });

  it('outer Identifications differ from packet to packet', () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => COLOCATED });
    const out = plane.process([pkt(datagram(HOME, CN)), pkt(datagram(HOME, CN))]);
    expect(header(out.packets[0]!.bytes).identification).not.toBe(header(out.packets[1]!.bytes).identification);
  });
});

describe('encapsulating delivery to the foreign agent (RFC 3024 5.2.2)', () => {
  it("outer source the home address, outer destination the agent's care-of address, IP in IP", () => {
    const plane = mobileNodeReverseTunnelPlane({ tunnel: () => TO_FA });
    const out = plane.process([pkt(datagram(HOME, CN))]);
    const sent = out.packets[0]!;
    expect(sent.kind === 'send-ip' && sent.destination).toBe(FA_COA);
    const outer = header(sent.bytes);
    expect([outer.protocol, outer.source, outer.destination]).toEqual([IpProtocol.IPIP, HOME, FA_COA]);
  });
});
