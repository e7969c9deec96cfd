import { describe, it, expect } from 'vitest';
import { EncodeError } from '../../io/wire/codec.js';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  decodeUdpDatagram,
  decodeUdpHeader,
  encodeUdpDatagram,
  encodeUdpHeader,
  udpChecksum,
  udpDatagramCodec,
  udpDestinationPort,
  udpLength,
  udpSourcePort,
  verifyUdpChecksum,
} from '../../io/wire/udp.js';

/**
 * The Registration Request `rrq_basic_colocated` of the interop vectors (46 bytes) sent from
 * 203.0.113.77:49152 to 198.51.100.1:434, as its vector's `transport` says.
 */
const REGISTRATION = '01200708c633640ac6336401cb00714de93c7f0000000001201400001000554bb0297fa973d649ce5ab3bf675b82';
const MN = ipv4('203.0.113.77');
const HA = ipv4('198.51.100.1');
/**
 * The UDP datagram. Checksum 0xedaf, computed independently (Python, RFC 768): the one's
 * complement sum of pseudo-header (cb00 714d c633 6401 0011 0036), header with checksum 0 and
 * data folds to 0x1250, whose complement is 0xedaf.
 */
const REGISTRATION_DATAGRAM = `c000 01b2 0036 edaf ${REGISTRATION}`;

describe('UDP header (RFC 768)', () => {
  it('decodes the registration datagram', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    const r = decodeUdpHeader(bytes);
    expect(r).toEqual({
      ok: true,
      value: { sourcePort: 49152, destinationPort: 434, length: 54, checksum: 0xedaf },
      next: 8,
    });
    const d = decodeUdpDatagram(bytes);
    expect(d.ok && toHex(d.value.payload)).toBe(REGISTRATION);
    expect(d.ok && d.value.payload.buffer === bytes.buffer && d.next).toBe(54);
  });

  it('reads the ports and length with the accessors', () => {
    const bytes = new Uint8Array(60);
    bytes.set(fromHex(REGISTRATION_DATAGRAM), 4);
    expect([udpSourcePort(bytes, 4), udpDestinationPort(bytes, 4), udpLength(bytes, 4)]).toEqual([49152, 434, 54]);
  });

  it('excludes bytes after Length (IP padding) from the data', () => {
    const bytes = new Uint8Array(70);
    bytes.set(fromHex(REGISTRATION_DATAGRAM));
    const d = decodeUdpDatagram(bytes);
    expect(d.ok && d.value.payload.length).toBe(46);
    expect(d.ok && d.next).toBe(54);
  });

  it("rejects Length < 8 with 'bad-length'", () => {
    for (const length of [0, 1, 7]) {
      const bytes = fromHex(REGISTRATION_DATAGRAM);
      bytes[4] = 0;
      bytes[5] = length;
      const r = decodeUdpHeader(bytes);
      expect(r.ok ? null : r.error).toMatchObject({ reason: 'bad-length', layer: 'udp', offset: 4 });
    }
  });

  it("reports every truncation as 'truncated'", () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    for (let end = 0; end < bytes.length; end++) {
      for (const r of [decodeUdpHeader(bytes, 0, end), decodeUdpDatagram(bytes, 0, end)]) {
        expect(r.ok ? null : r.error.reason).toBe('truncated');
      }
    }
  });

  it('encodes the header fields as given', () => {
    const bytes = new Uint8Array(10);
    expect(encodeUdpHeader({ sourcePort: 49152, destinationPort: 434, length: 54, checksum: 0xedaf }, bytes, 2)).toBe(10);
    expect(toHex(bytes)).toBe('0000c00001b20036edaf');
    expect(() => encodeUdpHeader({ sourcePort: 70000, destinationPort: 1, length: 8, checksum: 0 }, bytes)).toThrow(
      EncodeError,
    );
    expect(() => encodeUdpHeader({ sourcePort: 1, destinationPort: 1, length: 8, checksum: 0 }, bytes, 3)).toThrow(
      EncodeError,
    );
  });
});

describe('UDP checksum over the pseudo-header (RFC 768)', () => {
  it('computes 0xedaf for the registration datagram (its own field is skipped)', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    expect(udpChecksum(MN, HA, bytes, 0, 54)).toBe(0xedaf);
    expect(verifyUdpChecksum(MN, HA, bytes, 0)).toBe(true);
  });

  it('notices a changed data byte, address or port', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    expect(verifyUdpChecksum(MN, ipv4('198.51.100.2'), bytes, 0)).toBe(false);
    expect(verifyUdpChecksum(ipv4('203.0.113.78'), HA, bytes, 0)).toBe(false);
    for (let i = 0; i < bytes.length; i++) {
      if (i === 4 || i === 5) continue; // Length changes the range, checked below
      const corrupt = fromHex(REGISTRATION_DATAGRAM);
      corrupt[i] ^= 0x01;
      expect(verifyUdpChecksum(MN, HA, corrupt, 0)).toBe(false);
    }
  });

  it('transmits a computed checksum of zero as 0xffff and accepts it', () => {
    // 192.0.2.1:1000 -> 192.0.2.2:2000 with the 2 data bytes 70 1e: the one's complement sum
    // of pseudo-header c000 0201 c000 0202 0011 000a, header 03e8 07d0 000a and data 701e is
    // 0xffff, whose complement is 0 (found by exhaustive search in Python).
    const source = ipv4('192.0.2.1');
    const destination = ipv4('192.0.2.2');
    const bytes = new Uint8Array(10);
    const next = encodeUdpDatagram(
      { sourcePort: 1000, destinationPort: 2000, source, destination, payload: fromHex('701e') },
      bytes,
    );
    expect(next).toBe(10);
    expect(toHex(bytes)).toBe('03e807d0000affff701e');
    expect(verifyUdpChecksum(source, destination, bytes, 0)).toBe(true);
  });

  it('pads an odd length with a zero byte', () => {
    // 192.0.2.1:1000 -> 192.0.2.2:2000, data 01 02 03: checksum 0x6c1a (Python).
    const bytes = new Uint8Array(11);
    encodeUdpDatagram(
      {
        sourcePort: 1000,
        destinationPort: 2000,
        source: ipv4('192.0.2.1'),
        destination: ipv4('192.0.2.2'),
        payload: fromHex('010203'),
      },
      bytes,
    );
    expect(toHex(bytes)).toBe('03e807d0000b6c1a010203');
  });

  it('treats a received checksum of zero as "none computed"', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    bytes[6] = 0;
    bytes[7] = 0;
    expect(verifyUdpChecksum(MN, HA, bytes, 0)).toBe(true);
  });

  it('returns false rather than throwing for a datagram that does not fit', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    expect(verifyUdpChecksum(MN, HA, bytes, 0, 100)).toBe(false);
    expect(verifyUdpChecksum(MN, HA, bytes, 50)).toBe(false);
    expect(verifyUdpChecksum(MN, HA, bytes, -1)).toBe(false);
    expect(verifyUdpChecksum(MN, HA, bytes, 0, 4)).toBe(false);
  });
});

describe('encodeUdpDatagram', () => {
  it('writes header and checksum in front of a payload already in place (no copy)', () => {
    const bytes = new Uint8Array(80).fill(0xaa);
    const payload = bytes.subarray(28, 74);
    payload.set(fromHex(REGISTRATION));
    const next = encodeUdpDatagram({ sourcePort: 49152, destinationPort: 434, source: MN, destination: HA, payload }, bytes, 20);
    expect(next).toBe(74);
    expect(toHex(bytes.subarray(20, 74))).toBe(toHex(fromHex(REGISTRATION_DATAGRAM)));
    expect(bytes[19]).toBe(0xaa);
    expect(bytes[74]).toBe(0xaa);
  });

  it('copies a payload from another buffer', () => {
    const bytes = new Uint8Array(54);
    encodeUdpDatagram({ sourcePort: 49152, destinationPort: 434, source: MN, destination: HA, payload: fromHex(REGISTRATION) }, bytes);
    expect(toHex(bytes)).toBe(toHex(fromHex(REGISTRATION_DATAGRAM)));
  });

  it('can send without a checksum (0)', () => {
    const bytes = new Uint8Array(54);
    encodeUdpDatagram(
      { sourcePort: 49152, destinationPort: 434, source: MN, destination: HA, payload: fromHex(REGISTRATION), checksum: false },
      bytes,
    );
    expect(toHex(bytes.subarray(0, 8))).toBe('c00001b200360000');
  });

  it('throws EncodeError when the buffer is too small or the datagram too long', () => {
    const fields = { sourcePort: 1, destinationPort: 2, source: MN, destination: HA, payload: new Uint8Array(10) };
    expect(() => encodeUdpDatagram(fields, new Uint8Array(17))).toThrow(EncodeError);
    expect(() => encodeUdpDatagram({ ...fields, payload: new Uint8Array(65528) }, new Uint8Array(70000))).toThrow(
      EncodeError,
    );
  });

  it('udpDatagramCodec re-encodes a received datagram byte-exactly (checksum kept)', () => {
    const bytes = fromHex(REGISTRATION_DATAGRAM);
    const d = udpDatagramCodec.decode(bytes);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const out = new Uint8Array(udpDatagramCodec.encodingLength(d.value));
    udpDatagramCodec.encode(d.value, out);
    expect(toHex(out)).toBe(toHex(bytes));
  });
});
