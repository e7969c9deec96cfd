import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import { decodePcap, encodePcap, LinkType, pcapGlobalHeader, pcapRecord } from '../../io/wire/pcap.js';

/**
 * The classic libpcap file format (tcpdump's pcap-savefile(5), draft-ietf-opsawg-pcap):
 * a 24-byte global header (magic, version major/minor, thiszone, sigfigs, snaplen, link type)
 * then per packet a 16-byte record header (seconds, microseconds or nanoseconds, captured
 * length, original length) and the captured bytes. Every field is in the writer's byte order,
 * which the reader learns from the magic number.
 */

/** 2026-01-01T00:00:00Z, in seconds: 0x6955b900. */
const SECONDS = 1_767_225_600;

function hex(text: string): Uint8Array {
  return fromHex(text.replace(/\s+/g, ''));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe('pcap writer', () => {
  it('writes the global header as libpcap defines it: magic a1b2c3d4 little-endian, version 2.4, snaplen, link type', () => {
    expect(toHex(pcapGlobalHeader(LinkType.Ethernet))).toBe(
      [
        'd4c3b2a1', // magic 0xa1b2c3d4 written little-endian: microsecond timestamps
        '0200', // version major 2
        '0400', // version minor 4
        '00000000', // thiszone
        '00000000', // sigfigs
        '00000400', // snaplen 262144 (tcpdump's default)
        '01000000', // LINKTYPE_ETHERNET
      ].join(''),
    );
    expect(toHex(pcapGlobalHeader(LinkType.RawIp, 65535))).toBe('d4c3b2a1020004000000000000000000ffff000065000000');
  });

  it('uses the registered link-type numbers', () => {
    expect(LinkType.Ethernet).toBe(1);
    expect(LinkType.RawIp).toBe(101);
  });

  it('writes a record header: seconds, microseconds, captured and original length, then the data', () => {
    const data = hex('deadbeef01');
    expect(toHex(pcapRecord(SECONDS * 1e6 + 123_456, data))).toBe(
      [
        '00b95569', // ts_sec 1767225600
        '40e20100', // ts_usec 123456
        '05000000', // incl_len
        '05000000', // orig_len
        'deadbeef01',
      ].join(''),
    );
  });

  it('writes an empty record as a bare header', () => {
    expect(toHex(pcapRecord(0, new Uint8Array(0)))).toBe('00'.repeat(16));
  });

  it('concatenates the global header and the records', () => {
    const records = [
      { timestampUs: SECONDS * 1e6, data: hex('0102') },
      { timestampUs: SECONDS * 1e6 + 1, data: hex('030405') },
    ];
    const file = encodePcap(LinkType.Ethernet, records);
    expect(file.length).toBe(24 + 16 + 2 + 16 + 3);
    expect(toHex(file)).toBe(
      toHex(pcapGlobalHeader(LinkType.Ethernet)) +
        toHex(pcapRecord(records[0].timestampUs, records[0].data)) +
        toHex(pcapRecord(records[1].timestampUs, records[1].data)),
    );
  });
});

describe('pcap reader', () => {
  it('reads back several records written by encodePcap', () => {
    const records = [
      { timestampUs: SECONDS * 1e6, data: hex('00') },
      { timestampUs: SECONDS * 1e6 + 999_999, data: new Uint8Array(0) },
      { timestampUs: (SECONDS + 1) * 1e6 + 7, data: Uint8Array.from({ length: 1514 }, (_, i) => i & 0xff) },
      { timestampUs: 0, data: hex('0a0b0c') },
    ];
    const file = encodePcap(LinkType.Ethernet, records);
    const result = decodePcap(file);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.next).toBe(file.length);
    expect(result.value.linkType).toBe(LinkType.Ethernet);
    expect(result.value.snapLength).toBe(262144);
    expect(result.value.records.map((r) => r.timestampUs)).toEqual(records.map((r) => r.timestampUs));
    expect(result.value.records.map((r) => toHex(r.data))).toEqual(records.map((r) => toHex(r.data)));
    expect(result.value.records.map((r) => r.originalLength)).toEqual(records.map((r) => r.data.length));
    // The data are views into the file, not copies.
    expect(result.value.records.every((r) => r.data.buffer === file.buffer)).toBe(true);
  });

  it('reads a header-only capture as no records', () => {
    const result = decodePcap(pcapGlobalHeader(LinkType.RawIp, 1500));
    expect(result).toEqual({ ok: true, value: { linkType: LinkType.RawIp, snapLength: 1500, records: [] }, next: 24 });
  });

  it('reads a file that sits inside a larger buffer (non-zero byteOffset)', () => {
    const file = encodePcap(LinkType.RawIp, [{ timestampUs: SECONDS * 1e6 + 5, data: hex('4500') }]);
    const outer = new Uint8Array(file.length + 11);
    outer.set(file, 7);
    const result = decodePcap(outer.subarray(7, 7 + file.length));
    expect(result.ok && result.value.linkType).toBe(LinkType.RawIp);
    expect(result.ok && result.value.records.map((r) => [r.timestampUs, toHex(r.data)])).toEqual([[SECONDS * 1e6 + 5, '4500']]);
  });

  it('reads a big-endian file built by hand, with a record captured shorter than the packet', () => {
    const file = hex(`
      a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000065
      6955b900 000f4240 00000003 00000040 aabbcc
      6955b901 00000001 00000000 00000000
    `);
    // Microseconds 0x000f4240 = 1000000 is out of range for a well-formed file, but the
    // reader adds it as written rather than guessing.
    const result = decodePcap(file);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.linkType).toBe(101);
    expect(result.value.snapLength).toBe(0xffff);
    expect(result.value.records.map((r) => [r.timestampUs, toHex(r.data), r.originalLength])).toEqual([
      [SECONDS * 1e6 + 1_000_000, 'aabbcc', 64],
      [(SECONDS + 1) * 1e6 + 1, '', 0],
    ]);
    expect(result.next).toBe(file.length);
  });

  it('reads a nanosecond-resolution file (magic a1b23c4d), truncating to microseconds', () => {
    const littleEndian = hex(`
      4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000
      00b95569 b168de3a 02000000 02000000 0102
    `);
    const result = decodePcap(littleEndian);
    // 0x3ade68b1 = 987654321 ns = 987654 us (and 321 ns dropped).
    expect(result.ok && result.value.records.map((r) => [r.timestampUs, toHex(r.data)])).toEqual([[SECONDS * 1e6 + 987_654, '0102']]);
    expect(result.ok && result.value.linkType).toBe(1);

    const bigEndian = hex(`
      a1b23c4d 0002 0004 00000000 00000000 00040000 00000001
      6955b900 3ade68b1 00000001 00000001 ff
    `);
    const big = decodePcap(bigEndian);
    expect(big.ok && big.value.records.map((r) => [r.timestampUs, toHex(r.data)])).toEqual([[SECONDS * 1e6 + 987_654, 'ff']]);
  });

  it("refuses a pcapng file with 'bad-version' and says how to convert it (editcap)", () => {
    // A pcapng Section Header Block: type 0x0a0d0d0a, length 28, byte-order magic 0x1a2b3c4d.
    const pcapng = hex('0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000');
    const result = decodePcap(pcapng);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ layer: 'pcap', reason: 'bad-version', offset: 0 });
    expect(result.error.message).toMatch(/pcapng/);
    expect(result.error.message).toMatch(/editcap/);
  });

  it("refuses an unknown magic with 'bad-type'", () => {
    for (const magic of ['00000000', 'a1b2c3d5', 'd4c3b2a2', '4d3c2b1a', '7f454c46']) {
      const file = hex(magic + toHex(pcapGlobalHeader(1)).slice(8));
      const result = decodePcap(file);
      expect(result.ok ? null : result.error).toMatchObject({ layer: 'pcap', reason: 'bad-type', offset: 0 });
    }
  });

  it("reports a file shorter than the global header as 'truncated' at 0", () => {
    const header = pcapGlobalHeader(1);
    for (let length = 0; length < 24; length++) {
      const result = decodePcap(header.subarray(0, length));
      expect(result.ok ? null : result.error).toMatchObject({ layer: 'pcap', reason: 'truncated', offset: 0 });
    }
  });

  it("reports a truncated record header as 'truncated' at the record's offset", () => {
    const file = encodePcap(LinkType.Ethernet, [{ timestampUs: 1, data: hex('0102030405') }]);
    const partialHeader = pcapRecord(2, hex('06'));
    for (let cut = 1; cut < 16; cut++) {
      const result = decodePcap(concat(file, partialHeader.subarray(0, cut)));
      // The second record starts after the global header and the first record (16 + 5 bytes).
      expect(result.ok ? null : result.error).toMatchObject({ layer: 'pcap', reason: 'truncated', offset: 24 + 21 });
    }
    const onlyHeader = decodePcap(concat(pcapGlobalHeader(1), hex('00000000')));
    expect(onlyHeader.ok ? null : onlyHeader.error).toMatchObject({ reason: 'truncated', offset: 24 });
  });

  it("reports truncated record data as 'truncated' at the record's captured-length field", () => {
    const first = pcapRecord(1, hex('aa'));
    const second = pcapRecord(2, Uint8Array.from({ length: 100 }, (_, i) => i));
    const whole = concat(pcapGlobalHeader(1), first, second);
    const secondStart = 24 + first.length;
    for (const missing of [1, 50, 100]) {
      const result = decodePcap(whole.subarray(0, whole.length - missing));
      expect(result.ok ? null : result.error).toMatchObject({ layer: 'pcap', reason: 'truncated', offset: secondStart + 8 });
    }
    expect(decodePcap(whole).ok).toBe(true);
  });

  it('reads back any records encodePcap writes (property)', () => {
    const record = fc.record({
      timestampUs: fc
        .tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 999_999 }))
        .map(([seconds, micros]) => seconds * 1e6 + micros),
      data: fc.uint8Array({ maxLength: 80 }),
    });
    fc.assert(
      fc.property(fc.constantFrom(LinkType.Ethernet, LinkType.RawIp, 113), fc.array(record, { maxLength: 8 }), (linkType, records) => {
        const file = encodePcap(linkType, records);
        const result = decodePcap(file);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.next).toBe(file.length);
        expect(result.value.linkType).toBe(linkType);
        expect(result.value.records.map((r) => [r.timestampUs, toHex(r.data), r.originalLength])).toEqual(
          records.map((r) => [r.timestampUs, toHex(r.data), r.data.length]),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on random bytes: a value or a typed error inside the input (10^4 runs)', () => {
    const reasons = new Set(['truncated', 'bad-version', 'bad-type']);
    // Random bytes alone almost never carry a pcap magic, so half the inputs start with one
    // (either byte order, either resolution) to reach the record loop.
    const magics = ['d4c3b2a1', 'a1b2c3d4', '4d3cb2a1', 'a1b23c4d', '0a0d0d0a'].map(hex);
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 200 })).map(([magic, rest]) => concat(magic, rest)),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const result = decodePcap(bytes);
        if (result.ok) {
          expect(result.next).toBe(bytes.length);
          for (const r of result.value.records) expect(r.data.buffer).toBe(bytes.buffer);
        } else {
          expect(reasons.has(result.error.reason)).toBe(true);
          expect(result.error.layer).toBe('pcap');
          expect(result.error.offset).toBeGreaterThanOrEqual(0);
          expect(result.error.offset).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
