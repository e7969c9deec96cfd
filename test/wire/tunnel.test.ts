import { describe, it, expect } from 'vitest';
import { EncodeError } from '../../io/wire/codec.js';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import { decodeIpv4Header, ipv4ChecksumValid, IpProtocol, updateIpv4Checksum } from '../../io/wire/ipv4.js';
import {
  decapsulate,
  decodeGreHeader,
  decodeMinimalForwardingHeader,
  encapsulate,
  encodeGreHeader,
  encodeMinimalForwardingHeader,
  greDecapsulate,
  greEncapsulate,
  ipInIpDecapsulate,
  ipInIpEncapsulate,
  minimalDecapsulate,
  minimalEncapsulate,
  tunnelOverhead,
  type TunnelOuterParams,
} from '../../io/wire/tunnel.js';

/*
 * Fixtures, built independently in Python from the RFC layouts:
 *
 * INNER: a correspondent 192.0.2.5 sends UDP 5000 -> 6000 "hello mip4" to the mobile node's
 * home address 198.51.100.10: TOS 0x10, id 0xbeef, DF, TTL 63 (38 bytes).
 * The home agent 198.51.100.1 tunnels it to the care-of address 203.0.113.1.
 */
const INNER_HEADER = '4510 0026 beef 4000 3f11 9084 c0000205 c633640a';
const INNER_DATA = '1388 1770 0012 c6fe 68656c6c6f206d697034';
const INNER = INNER_HEADER + INNER_DATA;
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const CN = ipv4('192.0.2.5');
const HOME = ipv4('198.51.100.10');

/** RFC 2003 3.1: version 4, IHL 5, TOS copied (10), total 58, id 1, DF copied, TTL 64, protocol 4. */
const IPIP_OUTER = '4510 003a 0001 4000 4004 d478 c6336401 cb007101';

/**
 * RFC 2004 3, HA encapsulating another host's datagram (S = 1): the inner header with
 * total 38 + 12 = 50, protocol 55, source HA, destination CoA, checksum recomputed; then the
 * forwarding header: protocol 17, S bit (80), checksum, original destination, original source.
 * Forwarding header checksum by hand: 1180 + c633 + 640a + c000 + 0205 = 0x1fdc2, folded
 * 0xfdc3, complemented 0x023c.
 */
const MINIMAL_S_HEADER = '4510 0032 beef 4000 3f37 165f c6336401 cb007101';
const MINIMAL_S_FORWARDING = '11 80 023c c633640a c0000205';

/**
 * INNER2: a datagram the home agent itself sends to the home address (source = encapsulator),
 * UDP 434 -> 434 "hello mip4", id 0x0102, no DF, TTL 64. Minimal encapsulation without S:
 * total 38 + 8 = 46; forwarding checksum 1100 + c633 + 640a = 0x13b3d, folded 0x3b3e,
 * complemented 0xc4c1.
 */
const INNER2_HEADER = '4500 0026 0102 0000 4011 2553 c6336401 c633640a';
const INNER2_DATA = '01b2 01b2 0012 8663 68656c6c6f206d697034';
const INNER2 = INNER2_HEADER + INNER2_DATA;
const MINIMAL_NO_S_HEADER = '4500 002e 0102 0000 4037 1361 c6336401 cb007101';
const MINIMAL_NO_S_FORWARDING = '11 00 c4c1 c633640a';

/** RFC 2784: outer protocol 47; GRE C=0, version 0, protocol type 0800. */
const GRE_OUTER = '4510 003e 0002 4000 402f d448 c6336401 cb007101';
const GRE_HEADER = '0000 0800';
/** With C = 1: checksum over GRE header and payload 0x6466, Reserved1 0. */
const GRE_C_OUTER = '4510 0042 0003 4000 402f d443 c6336401 cb007101';
const GRE_C_HEADER = '8000 0800 6466 0000';

const hex = (text: string) => toHex(fromHex(text));

function outer(identification: number, extra: Partial<TunnelOuterParams> = {}): TunnelOuterParams {
  return { source: HA, destination: COA, identification, ...extra };
}

/** Flips one bit and fixes the IPv4 header checksum, so only the intended field is wrong. */
function withIpField(bytes: Uint8Array, index: number, value: number, headerOffset = 0): Uint8Array {
  const copy = bytes.slice();
  copy[index] = value;
  updateIpv4Checksum(copy, headerOffset);
  return copy;
}

describe('tunnelOverhead', () => {
  it('gives the bytes each encapsulation adds', () => {
    expect(tunnelOverhead('ip-in-ip')).toBe(20);
    expect(tunnelOverhead('minimal', { sourcePresent: false })).toBe(8);
    expect(tunnelOverhead('minimal', { sourcePresent: true })).toBe(12);
    expect(tunnelOverhead('minimal')).toBe(12);
    expect(tunnelOverhead('gre')).toBe(24);
    expect(tunnelOverhead('gre', { checksum: true })).toBe(28);
  });
});

describe('IP in IP (RFC 2003)', () => {
  it('[R4.1-1] encapsulates: protocol 4, TOS and DF copied from the inner header, the inner datagram unchanged', () => {
    const inner = fromHex(INNER);
    const out = new Uint8Array(58);
    expect(ipInIpEncapsulate(inner, outer(1), out)).toBe(58);
    expect(toHex(out)).toBe(hex(IPIP_OUTER + INNER));
  });

  it('[R4.1-2] decapsulates to the inner datagram byte-exactly, as a view', () => {
    const bytes = fromHex(IPIP_OUTER + INNER);
    const r = ipInIpDecapsulate(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(toHex(r.value.inner)).toBe(hex(INNER));
    expect(r.value.inner.buffer).toBe(bytes.buffer);
    expect(r.value.outer).toMatchObject({ source: HA, destination: COA, protocol: IpProtocol.IPIP, ttl: 64 });
    expect(r.next).toBe(58);
  });

  it('encapsulates in place: the inner datagram already at offset + 20 is not moved', () => {
    const buffer = new Uint8Array(100).fill(0xee);
    const inner = buffer.subarray(30, 68);
    inner.set(fromHex(INNER));
    expect(ipInIpEncapsulate(inner, outer(1), buffer, 10)).toBe(68);
    expect(toHex(buffer.subarray(10, 68))).toBe(hex(IPIP_OUTER + INNER));
    expect(buffer[9]).toBe(0xee);
    expect(buffer[68]).toBe(0xee);
  });

  it('takes only Total Length bytes of the inner view (link padding dropped)', () => {
    const padded = new Uint8Array(60);
    padded.set(fromHex(INNER));
    const out = new Uint8Array(80);
    expect(ipInIpEncapsulate(padded, outer(1), out)).toBe(58);
    expect(toHex(out.subarray(0, 58))).toBe(hex(IPIP_OUTER + INNER));
  });

  it('sets DF outside when the inner has it, whatever the caller asks; may add it otherwise; TOS and TTL may be given', () => {
    const out = new Uint8Array(58);
    ipInIpEncapsulate(fromHex(INNER), outer(1, { dontFragment: false }), out);
    expect(decodeIpv4Header(out).ok && (out[6]! & 0x40) !== 0).toBe(true);

    const inner2 = fromHex(INNER2); // no DF
    ipInIpEncapsulate(inner2, outer(1), out);
    expect(out[6]! & 0x40).toBe(0);
    ipInIpEncapsulate(inner2, outer(1, { dontFragment: true, tos: 0xb8, ttl: 9 }), out);
    const h = decodeIpv4Header(out);
    expect(h.ok && [h.value.flags, h.value.tos, h.value.ttl, h.value.checksumValid]).toEqual([2, 0xb8, 9, true]);
  });

  it('nests: a tunnelled datagram tunnelled again comes back out in two steps (RFC 5944 4.2.3)', () => {
    const once = new Uint8Array(58);
    ipInIpEncapsulate(fromHex(INNER), outer(1), once);
    const twice = new Uint8Array(78);
    ipInIpEncapsulate(once, { source: ipv4('198.51.100.2'), destination: ipv4('203.0.113.9'), identification: 7 }, twice);
    const first = ipInIpDecapsulate(twice);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    const second = ipInIpDecapsulate(first.value.inner);
    expect(second.ok && toHex(second.value.inner)).toBe(hex(INNER));
  });

  it("rejects another outer protocol ('bad-type'), a bad outer checksum, an outer fragment", () => {
    const bytes = fromHex(IPIP_OUTER + INNER);
    const notIpip = withIpField(bytes, 9, IpProtocol.UDP);
    expect(ipInIpDecapsulate(notIpip)).toMatchObject({ ok: false, error: { reason: 'bad-type', offset: 9 } });

    const corrupt = bytes.slice();
    corrupt[8] = 1; // TTL changed without fixing the checksum
    expect(ipInIpDecapsulate(corrupt)).toMatchObject({ ok: false, error: { reason: 'bad-checksum' } });

    const moreFragments = withIpField(bytes, 6, 0x60);
    expect(ipInIpDecapsulate(moreFragments)).toMatchObject({ ok: false, error: { reason: 'bad-value', offset: 6 } });
    const laterFragment = withIpField(bytes, 7, 0x01);
    expect(ipInIpDecapsulate(laterFragment)).toMatchObject({ ok: false, error: { reason: 'bad-value' } });
  });

  it('rejects an inner datagram that is not whole IPv4', () => {
    const bytes = fromHex(IPIP_OUTER + INNER);
    const innerVersion6 = bytes.slice();
    innerVersion6[20] = 0x65;
    expect(ipInIpDecapsulate(innerVersion6)).toMatchObject({ ok: false, error: { reason: 'bad-version', offset: 20 } });
    const innerTooLong = bytes.slice();
    innerTooLong[23] = 0x27; // inner Total Length 39 > the 38 bytes the outer carries
    expect(ipInIpDecapsulate(innerTooLong)).toMatchObject({ ok: false, error: { reason: 'truncated' } });
  });

  it('returns typed errors for every truncation', () => {
    const bytes = fromHex(IPIP_OUTER + INNER);
    for (let end = 0; end < bytes.length; end++) {
      const r = ipInIpDecapsulate(bytes, 0, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
  });

  it('throws EncodeError for an inner that is not IPv4, a too small buffer, a datagram over 65535 bytes', () => {
    expect(() => ipInIpEncapsulate(fromHex('6000000000'), outer(1), new Uint8Array(100))).toThrow(EncodeError);
    expect(() => ipInIpEncapsulate(fromHex(INNER), outer(1), new Uint8Array(57))).toThrow(EncodeError);
    const huge = new Uint8Array(65530);
    huge.set(fromHex(INNER_HEADER));
    huge[2] = 0xff;
    huge[3] = 0xfa;
    expect(() => ipInIpEncapsulate(huge, outer(1), new Uint8Array(70000))).toThrow(EncodeError);
    expect(() => ipInIpEncapsulate(fromHex(INNER), outer(70000), new Uint8Array(58))).toThrow(EncodeError);
  });
});

describe('Minimal encapsulation (RFC 2004)', () => {
  const innerData = INNER_DATA;

  it('[R4.1-3] encapsulates another host\'s datagram with S set and the original source kept', () => {
    const out = new Uint8Array(50);
    expect(minimalEncapsulate(fromHex(INNER), HA, COA, out)).toEqual({ ok: true, next: 50 });
    expect(toHex(out)).toBe(hex(MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData));
  });

  it('encapsulates its own datagram without S (8-byte header, source unchanged)', () => {
    const out = new Uint8Array(46);
    expect(minimalEncapsulate(fromHex(INNER2), HA, COA, out)).toEqual({ ok: true, next: 46 });
    expect(toHex(out)).toBe(hex(MINIMAL_NO_S_HEADER + MINIMAL_NO_S_FORWARDING + INNER2_DATA));
  });

  it('[R4.1-3] decapsulation restores the original datagram byte-exactly, with and without S', () => {
    for (const [wire, original] of [
      [MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData, INNER],
      [MINIMAL_NO_S_HEADER + MINIMAL_NO_S_FORWARDING + INNER2_DATA, INNER2],
    ] as const) {
      // into a separate buffer: the input stays as it was
      const bytes = fromHex(wire);
      const out = new Uint8Array(60);
      const copied = minimalDecapsulate(bytes, 0, bytes.length, out, 5);
      expect(copied.ok && toHex(copied.value.datagram)).toBe(hex(original));
      expect(toHex(bytes)).toBe(hex(wire));
      // in place (the default)
      const r = minimalDecapsulate(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(toHex(r.value.datagram)).toBe(hex(original));
      expect(r.value.datagram.buffer).toBe(bytes.buffer);
      expect(r.value.datagram.byteOffset).toBe(bytes.length - fromHex(original).length);
      expect([r.value.tunnelSource, r.value.tunnelDestination]).toEqual([HA, COA]);
      expect(r.next).toBe(bytes.length);
    }
  });

  it('reports the forwarding header it removed', () => {
    const r = minimalDecapsulate(fromHex(MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData));
    expect(r.ok && r.value.forwardingHeader).toEqual({
      protocol: 17,
      sourcePresent: true,
      reserved: 0,
      checksum: 0x023c,
      checksumValid: true,
      originalDestination: HOME,
      originalSource: CN,
    });
  });

  it('encapsulates in place: the datagram placed 12 bytes in, only its header moves', () => {
    const buffer = new Uint8Array(70).fill(0xee);
    const inner = buffer.subarray(12 + 4, 12 + 4 + 38);
    inner.set(fromHex(INNER));
    expect(minimalEncapsulate(inner, HA, COA, buffer, 4)).toEqual({ ok: true, next: 54 });
    expect(toHex(buffer.subarray(4, 54))).toBe(hex(MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData));
    expect(buffer[3]).toBe(0xee);
    // and back, in place
    const r = minimalDecapsulate(buffer, 4, 54);
    expect(r.ok && toHex(r.value.datagram)).toBe(hex(INNER));
  });

  it('encapsulates into the same buffer at the datagram\'s own offset (data moves forward)', () => {
    const buffer = new Uint8Array(60);
    buffer.set(fromHex(INNER));
    expect(minimalEncapsulate(buffer.subarray(0, 38), HA, COA, buffer, 0)).toEqual({ ok: true, next: 50 });
    expect(toHex(buffer.subarray(0, 50))).toBe(hex(MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData));
  });

  it('refuses to encapsulate a fragment (RFC 2004 3)', () => {
    const inner = fromHex(INNER);
    const moreFragments = withIpField(inner, 6, 0x60); // DF + MF
    const later = withIpField(inner, 7, 0x10); // fragment offset 16
    for (const fragment of [moreFragments, later]) {
      const out = new Uint8Array(50);
      const r = minimalEncapsulate(fragment, HA, COA, out);
      expect(r).toMatchObject({ ok: false, error: { reason: 'bad-value', layer: 'minimal-encapsulation' } });
      expect(out.every((b) => b === 0)).toBe(true);
    }
  });

  it('refuses an inner that is not a whole IPv4 datagram, or would exceed 65535 bytes', () => {
    const out = new Uint8Array(100);
    expect(minimalEncapsulate(fromHex(INNER).subarray(0, 30), HA, COA, out)).toMatchObject({
      ok: false,
      error: { reason: 'truncated' },
    });
    const huge = new Uint8Array(65530);
    huge.set(fromHex(INNER_HEADER));
    huge[2] = 0xff;
    huge[3] = 0xfa;
    updateIpv4Checksum(huge);
    expect(minimalEncapsulate(huge, HA, COA, new Uint8Array(70000))).toMatchObject({
      ok: false,
      error: { reason: 'bad-length' },
    });
    expect(() => minimalEncapsulate(fromHex(INNER), HA, COA, new Uint8Array(49))).toThrow(EncodeError);
  });

  it("rejects a forwarding header whose checksum fails ('bad-checksum') and leaves the bytes alone", () => {
    const wire = MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData;
    for (const index of [20, 21, 22, 24, 31]) {
      const bytes = fromHex(wire);
      bytes[index] ^= 0x04;
      const r = minimalDecapsulate(bytes);
      expect(r).toMatchObject({ ok: false, error: { reason: 'bad-checksum', offset: 22 } });
      const expected = fromHex(wire);
      expected[index] ^= 0x04;
      expect(toHex(bytes)).toBe(toHex(expected));
    }
  });

  it('rejects the wrong protocol, a bad outer checksum, an outer fragment and truncations', () => {
    const bytes = fromHex(MINIMAL_S_HEADER + MINIMAL_S_FORWARDING + innerData);
    expect(minimalDecapsulate(withIpField(bytes, 9, 4))).toMatchObject({ ok: false, error: { reason: 'bad-type' } });
    const corrupt = bytes.slice();
    corrupt[1] ^= 0xff;
    expect(minimalDecapsulate(corrupt)).toMatchObject({ ok: false, error: { reason: 'bad-checksum', offset: 10 } });
    expect(minimalDecapsulate(withIpField(bytes, 6, 0x20))).toMatchObject({ ok: false, error: { reason: 'bad-value' } });
    for (let end = 0; end < bytes.length; end++) {
      const r = minimalDecapsulate(bytes.slice(), 0, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
    // Total Length leaves room for 8 bytes of forwarding header but S says 12.
    const short = fromHex(`${MINIMAL_S_HEADER} 1180 023c c633640a`);
    short[3] = 28;
    updateIpv4Checksum(short);
    expect(minimalDecapsulate(short)).toMatchObject({ ok: false, error: { reason: 'truncated', offset: 20 } });
  });

  it('forwarding header codec: decode, encode with computed checksum, reserved bits kept', () => {
    const bytes = fromHex(MINIMAL_NO_S_FORWARDING);
    const r = decodeMinimalForwardingHeader(bytes);
    expect(r).toEqual({
      ok: true,
      value: { protocol: 17, sourcePresent: false, reserved: 0, checksum: 0xc4c1, checksumValid: true, originalDestination: HOME },
      next: 8,
    });
    const out = new Uint8Array(8);
    encodeMinimalForwardingHeader({ protocol: 17, sourcePresent: false, originalDestination: HOME, checksum: 1 }, out);
    expect(toHex(out)).toBe(hex(MINIMAL_NO_S_FORWARDING));

    encodeMinimalForwardingHeader({ protocol: 6, sourcePresent: false, reserved: 0x55, originalDestination: HOME }, out);
    const reserved = decodeMinimalForwardingHeader(out);
    expect(reserved.ok && [reserved.value.reserved, reserved.value.checksumValid]).toEqual([0x55, true]);

    expect(() =>
      encodeMinimalForwardingHeader({ protocol: 17, sourcePresent: true, originalDestination: HOME }, new Uint8Array(12)),
    ).toThrow(EncodeError);
    for (let end = 0; end < 12; end++) {
      const t = decodeMinimalForwardingHeader(fromHex(MINIMAL_S_FORWARDING), 0, end);
      expect(t.ok ? null : t.error.reason).toBe('truncated');
    }
  });
});

describe('GRE (RFC 2784)', () => {
  it('[R4.1-3] encapsulates: outer protocol 47, GRE protocol type 0x0800, then the datagram', () => {
    const out = new Uint8Array(62);
    expect(greEncapsulate(fromHex(INNER), outer(2), {}, out)).toBe(62);
    expect(toHex(out)).toBe(hex(GRE_OUTER + GRE_HEADER + INNER));
  });

  it('encapsulates with the optional checksum over GRE header and payload', () => {
    const out = new Uint8Array(66);
    expect(greEncapsulate(fromHex(INNER), outer(3), { checksum: true }, out)).toBe(66);
    expect(toHex(out)).toBe(hex(GRE_C_OUTER + GRE_C_HEADER + INNER));
  });

  it('encapsulates in place at offset + 24', () => {
    const buffer = new Uint8Array(70);
    const inner = buffer.subarray(26, 64);
    inner.set(fromHex(INNER));
    expect(greEncapsulate(inner, outer(2), {}, buffer, 2)).toBe(64);
    expect(toHex(buffer.subarray(2, 64))).toBe(hex(GRE_OUTER + GRE_HEADER + INNER));
  });

  it('[R4.1-3] decapsulates both forms to the inner datagram byte-exactly', () => {
    for (const wire of [GRE_OUTER + GRE_HEADER + INNER, GRE_C_OUTER + GRE_C_HEADER + INNER]) {
      const bytes = fromHex(wire);
      const r = greDecapsulate(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(toHex(r.value.inner)).toBe(hex(INNER));
      expect(r.value.gre.protocolType).toBe(0x0800);
      expect(r.value.outer.protocol).toBe(IpProtocol.GRE);
    }
  });

  it("discards a packet with any of Reserved0 bits 1-5 set ('bad-value', RFC 2784 2.3)", () => {
    for (let bit = 1; bit <= 5; bit++) {
      const bytes = fromHex(GRE_HEADER + INNER);
      bytes[0] |= 0x80 >> bit;
      expect(decodeGreHeader(bytes)).toMatchObject({ ok: false, error: { reason: 'bad-value', offset: 0 } });
    }
  });

  it('ignores Reserved0 bits 6-12 on receipt but keeps them for re-encoding', () => {
    const bytes = fromHex(GRE_HEADER + INNER);
    bytes[0] = 0x03; // bits 6, 7
    bytes[1] = 0xf8; // bits 8-12
    const r = decodeGreHeader(bytes);
    expect(r.ok && r.value.reserved0).toBe(0x07f);
    if (!r.ok) return;
    const out = new Uint8Array(4);
    encodeGreHeader(r.value, out);
    expect(toHex(out)).toBe('03f80800');
  });

  it("rejects a version other than 0 ('bad-version', RFC 2784 2.4)", () => {
    for (let version = 1; version < 8; version++) {
      const bytes = fromHex(GRE_HEADER + INNER);
      bytes[1] = version;
      expect(decodeGreHeader(bytes)).toMatchObject({ ok: false, error: { reason: 'bad-version' } });
    }
  });

  it('keeps Reserved1 and reports the checksum as valid or not', () => {
    const bytes = fromHex(GRE_C_HEADER + INNER);
    const r = decodeGreHeader(bytes);
    expect(r).toMatchObject({
      ok: true,
      value: { checksumPresent: true, checksum: 0x6466, reserved1: 0, checksumValid: true, version: 0 },
      next: 8,
    });
    bytes[20] ^= 1;
    const bad = decodeGreHeader(bytes);
    expect(bad.ok && bad.value.checksumValid).toBe(false);
  });

  it("rejects a failing GRE checksum ('bad-checksum') and a payload other than IPv4 ('bad-type')", () => {
    const corrupt = fromHex(GRE_C_OUTER + GRE_C_HEADER + INNER);
    corrupt[60] ^= 0x01;
    expect(greDecapsulate(corrupt)).toMatchObject({ ok: false, error: { reason: 'bad-checksum', offset: 24 } });
    const ipv6 = fromHex(GRE_OUTER + GRE_HEADER + INNER);
    ipv6[22] = 0x86;
    ipv6[23] = 0xdd;
    expect(greDecapsulate(ipv6)).toMatchObject({ ok: false, error: { reason: 'bad-type', offset: 22 } });
    expect(greDecapsulate(withIpField(fromHex(GRE_OUTER + GRE_HEADER + INNER), 9, 4))).toMatchObject({
      ok: false,
      error: { reason: 'bad-type', offset: 9 },
    });
  });

  it('returns typed errors for every truncation', () => {
    for (const wire of [GRE_OUTER + GRE_HEADER + INNER, GRE_C_OUTER + GRE_C_HEADER + INNER]) {
      const bytes = fromHex(wire);
      for (let end = 0; end < bytes.length; end++) {
        const r = greDecapsulate(bytes, 0, end);
        expect(r.ok ? null : r.error.reason).toBe('truncated');
      }
    }
    const header = fromHex(GRE_C_HEADER);
    for (let end = 0; end < 8; end++) {
      const r = decodeGreHeader(header, 0, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
  });

  it('refuses to encode what no RFC 2784 receiver accepts', () => {
    const base = { checksumPresent: false, reserved0: 0, version: 0, protocolType: 0x0800, checksum: 0, reserved1: 0 };
    const out = new Uint8Array(8);
    expect(() => encodeGreHeader({ ...base, reserved0: 0x080 }, out)).toThrow(EncodeError);
    expect(() => encodeGreHeader({ ...base, version: 1 }, out)).toThrow(EncodeError);
    expect(encodeGreHeader({ ...base, checksumPresent: true, checksum: 0x1234, reserved1: 0 }, out)).toBe(8);
    expect(toHex(out)).toBe('8000080012340000');
  });
});

describe('encapsulate / decapsulate by kind', () => {
  it('round-trips each kind and identifies it on the way out', () => {
    for (const kind of ['ip-in-ip', 'minimal', 'gre'] as const) {
      const inner = fromHex(INNER);
      const out = new Uint8Array(100);
      const r = encapsulate(kind, inner, outer(5), out, 0, { checksum: true });
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(ipv4ChecksumValid(out)).toBe(true);
      const d = decapsulate(out, 0, r.next);
      expect(d.ok).toBe(true);
      if (!d.ok) continue;
      expect(d.value.kind).toBe(kind);
      expect([d.value.tunnelSource, d.value.tunnelDestination]).toEqual([HA, COA]);
      expect(toHex(d.value.datagram)).toBe(hex(INNER));
    }
  });

  it("says 'bad-type' for a datagram that is not tunnelled", () => {
    expect(decapsulate(fromHex(INNER))).toMatchObject({ ok: false, error: { reason: 'bad-type', layer: 'tunnel' } });
    expect(decapsulate(fromHex(INNER), 0, 10)).toMatchObject({ ok: false, error: { reason: 'truncated' } });
  });
});
