import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { EncodeError } from '../../io/wire/codec.js';
import { fromHex, internetChecksum, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  decodeIpv4Header,
  decodeIpv4Packet,
  decodeQuotedIpv4Header,
  decrementIpv4Ttl,
  encodeIpv4Header,
  encodeIpv4Packet,
  incrementalChecksumUpdate,
  IpProtocol,
  Ipv4Flag,
  ipv4Checksum,
  ipv4ChecksumValid,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4Flags,
  ipv4FragmentOffset,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4IsFragment,
  ipv4PacketLength,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  ipv4Tos,
  ipv4Ttl,
  ipv4Version,
  setIpv4Destination,
  setIpv4Source,
  updateIpv4Checksum,
  type Ipv4HeaderFields,
} from '../../io/wire/ipv4.js';

/**
 * The classic example header. Its checksum by hand (RFC 1071): the one's complement sum of the
 * nine other words is
 *   4500 + 0073 + 0000 + 4000 + 4011 + c0a8 + 0001 + c0a8 + 00c7 = 0x2479c,
 * folded 0x479c + 0x2 = 0x479e, complemented 0xb861.
 */
const CLASSIC_HEADER = '4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7';

/**
 * A TEST-NET header, 203.0.113.77 -> 198.51.100.1, UDP, id 0x1234, TTL 64, total length 74:
 *   4500 + 004a + 1234 + 0000 + 4011 + cb00 + 714d + c633 + 6401 = 0x2fe10,
 * folded 0xfe10 + 0x2 = 0xfe12, complemented 0x01ed.
 */
const TEST_NET_HEADER = '4500 004a 1234 0000 4011 01ed cb00 714d c633 6401';

function datagram(headerHex: string, payloadLength: number): Uint8Array {
  const header = fromHex(headerHex);
  const bytes = new Uint8Array(header.length + payloadLength);
  bytes.set(header);
  for (let i = header.length; i < bytes.length; i++) bytes[i] = i & 0xff;
  return bytes;
}

const testNetFields: Ipv4HeaderFields = {
  tos: 0,
  totalLength: 74,
  identification: 0x1234,
  flags: 0,
  fragmentOffset: 0,
  ttl: 64,
  protocol: IpProtocol.UDP,
  source: ipv4('203.0.113.77'),
  destination: ipv4('198.51.100.1'),
};

describe('IPv4 header decoding (RFC 791 3.1)', () => {
  it('decodes the classic example header and verifies its checksum b861', () => {
    const bytes = datagram(CLASSIC_HEADER, 0x73 - 20);
    const r = decodeIpv4Header(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.next).toBe(20);
    expect(r.value).toMatchObject({
      version: 4,
      ihl: 5,
      tos: 0,
      totalLength: 0x73,
      identification: 0,
      flags: Ipv4Flag.DontFragment,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IpProtocol.UDP,
      checksum: 0xb861,
      checksumValid: true,
      source: ipv4('192.168.0.1'),
      destination: ipv4('192.168.0.199'),
    });
    expect(r.value.options.length).toBe(0);
  });

  it('decodes the TEST-NET header at a non-zero offset', () => {
    const inner = datagram(TEST_NET_HEADER, 54);
    const bytes = new Uint8Array(inner.length + 7);
    bytes.set(inner, 5);
    const r = decodeIpv4Header(bytes, 5, 5 + inner.length);
    expect(r.ok && r.value.checksumValid && r.value.checksum === 0x01ed && r.next === 25).toBe(true);
  });

  it('reports a wrong checksum as checksumValid: false, not as an error', () => {
    const bytes = datagram(CLASSIC_HEADER, 0x73 - 20);
    bytes[11] ^= 0x01;
    const r = decodeIpv4Header(bytes);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.checksumValid).toBe(false);
    // Any single corrupted header byte is noticed.
    for (let i = 0; i < 20; i++) {
      const b = datagram(TEST_NET_HEADER, 54);
      b[i] ^= 0x40;
      const d = decodeIpv4Header(b);
      if (d.ok) expect(d.value.checksumValid).toBe(false);
    }
  });

  it("rejects a version other than 4 with 'bad-version'", () => {
    const bytes = datagram(TEST_NET_HEADER, 54);
    bytes[0] = 0x65;
    const r = decodeIpv4Header(bytes);
    expect(r.ok ? null : r.error).toMatchObject({ reason: 'bad-version', layer: 'ipv4', offset: 0 });
  });

  it("rejects IHL < 5 with 'bad-value'", () => {
    for (const ihl of [0, 1, 4]) {
      const bytes = datagram(TEST_NET_HEADER, 54);
      bytes[0] = 0x40 | ihl;
      const r = decodeIpv4Header(bytes);
      expect(r.ok ? null : r.error.reason).toBe('bad-value');
    }
  });

  it("rejects Total Length below the header length with 'bad-length'", () => {
    const bytes = datagram(TEST_NET_HEADER, 54);
    bytes[2] = 0;
    bytes[3] = 19;
    const r = decodeIpv4Header(bytes);
    expect(r.ok ? null : r.error).toMatchObject({ reason: 'bad-length', offset: 2 });
  });

  it("rejects Total Length beyond the bytes available with 'truncated'", () => {
    const bytes = datagram(TEST_NET_HEADER, 53);
    const r = decodeIpv4Header(bytes);
    expect(r.ok ? null : r.error).toMatchObject({ reason: 'truncated', offset: 2 });
  });

  it("reports every truncation of a valid datagram as 'truncated'", () => {
    const bytes = datagram(TEST_NET_HEADER, 54);
    for (let end = 0; end < bytes.length; end++) {
      for (const r of [decodeIpv4Header(bytes, 0, end), decodeIpv4Packet(bytes, 0, end)]) {
        expect(r.ok ? null : r.error.reason).toBe('truncated');
      }
    }
  });

  it('reports a header longer than the bytes (IHL 15 in 20 bytes) as truncated', () => {
    const bytes = datagram(TEST_NET_HEADER, 0);
    bytes[0] = 0x4f;
    expect(decodeQuotedIpv4Header(bytes).ok ? null : 'truncated').toBe('truncated');
  });

  it('returns a typed error for impossible ranges instead of throwing', () => {
    const bytes = datagram(TEST_NET_HEADER, 54);
    for (const [offset, end] of [
      [-1, 10],
      [10, 5],
      [0, 1000],
      [0.5, 20],
      [Number.NaN, 20],
    ] as const) {
      const r = decodeIpv4Header(bytes, offset, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
  });

  it('decodes options as a view and the payload up to Total Length, not the link padding', () => {
    // IHL 6: the Router Alert option (RFC 2113: 94 04 0000), then 8 data bytes, then padding.
    const header = new Uint8Array(24);
    encodeIpv4Header(
      { ...testNetFields, totalLength: 32, options: fromHex('94040000') },
      header,
    );
    const bytes = new Uint8Array(46);
    bytes.set(header);
    bytes.set(fromHex('0102030405060708'), 24);
    const r = decodeIpv4Packet(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.header.ihl).toBe(6);
    expect(toHex(r.value.header.options)).toBe('94040000');
    expect(r.value.header.options.buffer).toBe(bytes.buffer);
    expect(toHex(r.value.payload)).toBe('0102030405060708');
    expect(r.value.payload.byteOffset).toBe(24);
    expect(r.next).toBe(32);
  });

  it('decodes flags and fragment offset', () => {
    const bytes = new Uint8Array(20);
    encodeIpv4Header({ ...testNetFields, totalLength: 20, flags: 0b101, fragmentOffset: 0x1abc }, bytes);
    const r = decodeIpv4Header(bytes);
    expect(r.ok && [r.value.flags, r.value.fragmentOffset]).toEqual([0b101, 0x1abc]);
    expect(ipv4IsFragment(bytes)).toBe(true);
  });

  it('reads a quoted header whose Total Length exceeds the quotation (ICMP errors)', () => {
    const quoted = datagram(TEST_NET_HEADER, 8); // header + 64 bits, as RFC 792 quotes it
    expect(decodeIpv4Header(quoted).ok).toBe(false);
    const r = decodeQuotedIpv4Header(quoted);
    expect(r.ok && r.value.totalLength === 74 && r.value.checksumValid).toBe(true);
  });
});

describe('IPv4 header encoding', () => {
  it('encodes the classic example header with checksum b861', () => {
    const bytes = new Uint8Array(20);
    const next = encodeIpv4Header(
      {
        tos: 0,
        totalLength: 0x73,
        identification: 0,
        flags: Ipv4Flag.DontFragment,
        fragmentOffset: 0,
        ttl: 64,
        protocol: IpProtocol.UDP,
        source: ipv4('192.168.0.1'),
        destination: ipv4('192.168.0.199'),
        checksum: 0xdead, // ignored: computed
      },
      bytes,
    );
    expect(next).toBe(20);
    expect(toHex(bytes)).toBe(toHex(fromHex(CLASSIC_HEADER)));
  });

  it('encodes the TEST-NET header at an offset', () => {
    const bytes = new Uint8Array(30).fill(0xee);
    expect(encodeIpv4Header(testNetFields, bytes, 3)).toBe(23);
    expect(toHex(bytes.subarray(3, 23))).toBe(toHex(fromHex(TEST_NET_HEADER)));
    expect(bytes[2]).toBe(0xee);
    expect(bytes[23]).toBe(0xee);
  });

  it('throws EncodeError on programmer error', () => {
    const bytes = new Uint8Array(64);
    expect(() => encodeIpv4Header({ ...testNetFields, options: fromHex('010101') }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, options: new Uint8Array(44) }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, ihl: 6 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, version: 6 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, ttl: 256 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, flags: 8 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, fragmentOffset: 0x2000 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header({ ...testNetFields, totalLength: 19 }, bytes)).toThrow(EncodeError);
    expect(() => encodeIpv4Header(testNetFields, new Uint8Array(19))).toThrow(EncodeError);
    expect(() => encodeIpv4Header(testNetFields, bytes, 45)).toThrow(EncodeError);
  });

  it('writes the header in front of a payload already in place, without moving it', () => {
    const bytes = new Uint8Array(100);
    const payload = bytes.subarray(20, 74);
    payload.set(fromHex('c00001b20036edaf'));
    const next = encodeIpv4Packet({ header: testNetFields, payload }, bytes);
    expect(next).toBe(74);
    expect(toHex(bytes.subarray(0, 20))).toBe(toHex(fromHex(TEST_NET_HEADER)));
    expect(toHex(bytes.subarray(20, 28))).toBe('c00001b20036edaf');
  });

  it('copies a payload from elsewhere and computes Total Length from it', () => {
    const payload = fromHex('0a0b0c');
    const packet = { header: testNetFields, payload };
    const bytes = new Uint8Array(ipv4PacketLength(packet));
    expect(encodeIpv4Packet(packet, bytes)).toBe(23);
    expect(ipv4TotalLength(bytes)).toBe(23);
    expect(ipv4ChecksumValid(bytes)).toBe(true);
    expect(toHex(bytes.subarray(20))).toBe('0a0b0c');
  });
});

describe('IPv4 accessors (no allocation)', () => {
  it('read every field at an offset', () => {
    const bytes = new Uint8Array(80);
    bytes.set(datagram(CLASSIC_HEADER, 0), 6);
    expect(ipv4Version(bytes, 6)).toBe(4);
    expect(ipv4HeaderLength(bytes, 6)).toBe(20);
    expect(ipv4Tos(bytes, 6)).toBe(0);
    expect(ipv4TotalLength(bytes, 6)).toBe(0x73);
    expect(ipv4Identification(bytes, 6)).toBe(0);
    expect(ipv4Flags(bytes, 6)).toBe(Ipv4Flag.DontFragment);
    expect(ipv4FragmentOffset(bytes, 6)).toBe(0);
    expect(ipv4IsFragment(bytes, 6)).toBe(false);
    expect(ipv4Ttl(bytes, 6)).toBe(64);
    expect(ipv4Protocol(bytes, 6)).toBe(17);
    expect(ipv4Checksum(bytes, 6)).toBe(0xb861);
    expect(ipv4Source(bytes, 6)).toBe(ipv4('192.168.0.1'));
    expect(ipv4Destination(bytes, 6)).toBe(ipv4('192.168.0.199'));
    expect(ipv4ChecksumValid(bytes, 6)).toBe(true);
  });

  it('ipv4HeaderLength of a value counts its options', () => {
    expect(ipv4HeaderLength(testNetFields)).toBe(20);
    expect(ipv4HeaderLength({ ...testNetFields, options: new Uint8Array(8) })).toBe(28);
  });

  it('ipv4DatagramProblem validates once for the accessors', () => {
    const bytes = datagram(TEST_NET_HEADER, 54);
    expect(ipv4DatagramProblem(bytes)).toBeUndefined();
    expect(ipv4DatagramProblem(bytes, 0, 73)?.reason).toBe('truncated');
    bytes[0] = 0x44;
    expect(ipv4DatagramProblem(bytes)?.reason).toBe('bad-value');
  });
});

describe('IPv4 in-place rewriting for forwarding', () => {
  it('updateIpv4Checksum rewrites the checksum over the header', () => {
    const bytes = datagram(CLASSIC_HEADER, 0);
    bytes[10] = 0;
    bytes[11] = 0;
    expect(updateIpv4Checksum(bytes)).toBe(0xb861);
    expect(toHex(bytes)).toBe(toHex(fromHex(CLASSIC_HEADER)));
  });

  it('decrements the TTL and patches the checksum incrementally (RFC 1624)', () => {
    const bytes = datagram(CLASSIC_HEADER, 0);
    expect(decrementIpv4Ttl(bytes)).toBe(true);
    expect(ipv4Ttl(bytes)).toBe(63);
    // 0x4011 -> 0x3f11 lowers the sum by 0x100, so the checksum rises by 0x100: b861 -> b961.
    expect(ipv4Checksum(bytes)).toBe(0xb961);
    expect(ipv4ChecksumValid(bytes)).toBe(true);
  });

  it('refuses to decrement a TTL of 1 or 0 and leaves the header unchanged', () => {
    for (const ttl of [0, 1]) {
      const bytes = new Uint8Array(20);
      encodeIpv4Header({ ...testNetFields, totalLength: 20, ttl }, bytes);
      const before = toHex(bytes);
      expect(decrementIpv4Ttl(bytes)).toBe(false);
      expect(toHex(bytes)).toBe(before);
    }
  });

  it('incremental TTL update equals recomputation for any valid header', () => {
    fc.assert(
      fc.property(
        fc.record({
          tos: fc.integer({ min: 0, max: 255 }),
          identification: fc.integer({ min: 0, max: 0xffff }),
          flags: fc.integer({ min: 0, max: 7 }),
          fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
          ttl: fc.integer({ min: 2, max: 255 }),
          protocol: fc.integer({ min: 0, max: 255 }),
          source: fc.nat({ max: 0xffffffff }),
          destination: fc.nat({ max: 0xffffffff }),
        }),
        (fields) => {
          const bytes = new Uint8Array(20);
          encodeIpv4Header({ ...fields, totalLength: 20 }, bytes);
          decrementIpv4Ttl(bytes);
          const incremental = ipv4Checksum(bytes);
          expect(incremental).toBe(updateIpv4Checksum(bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('incremental update keeps a wrong checksum wrong (RFC 1624 5)', () => {
    const bytes = datagram(CLASSIC_HEADER, 0);
    bytes[11] ^= 0x10;
    decrementIpv4Ttl(bytes);
    expect(ipv4ChecksumValid(bytes)).toBe(false);
  });

  it('rewrites addresses with a valid checksum', () => {
    const bytes = datagram(TEST_NET_HEADER, 0);
    setIpv4Destination(bytes, 0, ipv4('192.0.2.200'));
    setIpv4Source(bytes, 0, ipv4('198.51.100.99'));
    expect(ipv4Destination(bytes)).toBe(ipv4('192.0.2.200'));
    expect(ipv4Source(bytes)).toBe(ipv4('198.51.100.99'));
    expect(ipv4ChecksumValid(bytes)).toBe(true);
    expect(internetChecksum(bytes, 0, 20)).toBe(0);
  });

  it('incrementalChecksumUpdate matches RFC 1624 section 4 example', () => {
    // RFC 1624 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
    expect(incrementalChecksumUpdate(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });
});
