import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import { decodePcapng } from '../../io/wire/pcapng.js';
import { decodeCapture, looksLikeCapture } from '../../io/wire/capture.js';
import { encodePcap, LinkType } from '../../io/wire/pcap.js';

/**
 * pcapng (draft-ietf-opsawg-pcapng), laid out here block by block from the draft: every block
 * is Block Type (4), Block Total Length (4), Body padded to 32 bits, Block Total Length (4),
 * in the byte order the section's Byte-Order Magic (0x1A2B3C4D) shows. Section Header Block
 * 0x0A0D0D0A (magic, major 1, minor 0, section length -1), Interface Description Block 1
 * (LinkType 16, Reserved 16, SnapLen 32, options), Enhanced Packet Block 6 (Interface ID,
 * Timestamp high and low, Captured and Original Packet Length, data), Simple Packet Block 3
 * (Original Packet Length, data). Options: code 16, length 16, value padded; 0 ends them.
 * Files written by an independent tool (editcap, dumpcap) are read in test/cli/decode-capture.test.ts.
 */

function u16(value: number, little: boolean): number[] {
  return little ? [value & 0xff, value >>> 8] : [value >>> 8, value & 0xff];
}
function u32(value: number, little: boolean): number[] {
  const b = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  return little ? b.reverse() : b;
}
const pad = (bytes: number[]) => [...bytes, ...new Array((4 - (bytes.length % 4)) % 4).fill(0)];

function block(type: number, body: number[], little: boolean): number[] {
  const padded = pad(body);
  const length = padded.length + 12;
  return [...u32(type, little), ...u32(length, little), ...padded, ...u32(length, little)];
}
function option(code: number, value: number[], little: boolean): number[] {
  return pad([...u16(code, little), ...u16(value.length, little), ...value]);
}
const endOfOptions = (little: boolean) => [...u16(0, little), ...u16(0, little)];

function shb(little: boolean): number[] {
  return block(0x0a0d0d0a, [...u32(0x1a2b3c4d, little), ...u16(1, little), ...u16(0, little), ...new Array(8).fill(0xff)], little);
}
function idb(linkType: number, little: boolean, options: number[][] = [], snapLength = 0): number[] {
  const opts = options.length > 0 ? [...options.flat(), ...endOfOptions(little)] : [];
  return block(1, [...u16(linkType, little), ...u16(0, little), ...u32(snapLength, little), ...opts], little);
}
function epb(interfaceId: number, units: bigint, data: number[], little: boolean, originalLength = data.length): number[] {
  const high = Number(units >> 32n);
  const low = Number(units & 0xffffffffn);
  return block(6, [...u32(interfaceId, little), ...u32(high, little), ...u32(low, little), ...u32(data.length, little), ...u32(originalLength, little), ...data], little);
}
function spb(data: number[], little: boolean, originalLength = data.length): number[] {
  return block(3, [...u32(originalLength, little), ...data], little);
}
const file = (...blocks: number[][]) => Uint8Array.from(blocks.flat());

/** 2026-01-01T00:00:00Z. */
const SECONDS = 1_767_225_600n;

function packetsOf(bytes: Uint8Array) {
  const result = decodePcapng(bytes);
  expect(result.ok, result.ok ? '' : result.error.message).toBe(true);
  if (!result.ok) throw new Error('unreachable');
  return result.value;
}

describe('pcapng reader', () => {
  for (const little of [true, false]) {
    const order = little ? 'little-endian' : 'big-endian';
    it(`reads an Enhanced Packet Block of a ${order} section with the default microsecond timestamps`, () => {
      const us = SECONDS * 1_000_000n + 123_456n;
      const bytes = file(shb(little), idb(LinkType.RawIp, little), epb(0, us, [0x45, 0, 0, 20, 1, 2], little, 60));
      const { packets, damage } = packetsOf(bytes);
      expect(damage).toBeUndefined();
      expect(packets).toHaveLength(1);
      expect(packets[0]).toMatchObject({ linkType: LinkType.RawIp, timestampUs: Number(us), originalLength: 60, fileOffset: 28 + 20 });
      expect(toHex(packets[0]!.data)).toBe('450000140102');
    });
  }

  it('applies if_tsresol: 10^-9 s units, and 2^-20 s units (the high bit set)', () => {
    const little = true;
    const nanos = SECONDS * 1_000_000_000n + 987_654_321n;
    const binary = SECONDS * (1n << 20n) + (1n << 19n); // half a second
    const bytes = file(
      shb(little),
      idb(LinkType.Ethernet, little, [option(9, [9], little)]),
      idb(LinkType.RawIp, little, [option(9, [0x80 | 20], little)]),
      epb(0, nanos, [1], little),
      epb(1, binary, [2], little),
    );
    const { packets } = packetsOf(bytes);
    expect(packets.map((p) => [p.linkType, p.timestampUs])).toEqual([
      [LinkType.Ethernet, Number(SECONDS * 1_000_000n + 987_654n)],
      [LinkType.RawIp, Number(SECONDS * 1_000_000n + 500_000n)],
    ]);
  });

  it('adds if_tsoffset seconds to every timestamp of the interface', () => {
    const little = false;
    const offset = [0, 0, 0, 0, 0, 0, 0, 100]; // 100 s, big-endian 64-bit
    const bytes = file(shb(little), idb(LinkType.RawIp, little, [option(14, offset, little)]), epb(0, 5_000_000n, [1], little));
    expect(packetsOf(bytes).packets[0]!.timestampUs).toBe(105_000_000);
  });

  it('reads a Simple Packet Block as interface 0 without a timestamp, cut to the snap length', () => {
    const little = true;
    const bytes = file(shb(little), idb(LinkType.RawIp, little, [], 4), spb([1, 2, 3, 4], little, 1500));
    const [packet] = packetsOf(bytes).packets;
    expect(packet).toMatchObject({ timestampUs: undefined, originalLength: 1500, linkType: LinkType.RawIp });
    expect(toHex(packet!.data)).toBe('01020304');
  });

  it('skips blocks it does not read (name resolution, statistics, custom) by their length', () => {
    const little = true;
    const bytes = file(shb(little), idb(LinkType.RawIp, little), block(4, [0, 0, 0, 0], little), block(5, new Array(20).fill(7), little), block(0x40000bad, [1, 2, 3], little), epb(0, 1n, [9], little));
    expect(packetsOf(bytes).packets.map((p) => toHex(p.data))).toEqual(['09']);
  });

  it('reads several sections, each in its own byte order, each with its own interfaces', () => {
    const bytes = file(shb(true), idb(LinkType.Ethernet, true), epb(0, 1n, [1], true), shb(false), idb(LinkType.RawIp, false), epb(0, 2n, [2], false));
    expect(packetsOf(bytes).packets.map((p) => [p.linkType, p.timestampUs, toHex(p.data)])).toEqual([
      [LinkType.Ethernet, 1, '01'],
      [LinkType.RawIp, 2, '02'],
    ]);
    // The second section's interface list starts empty: interface 1 is not the first section's.
    const orphan = file(shb(true), idb(1, true), idb(1, true), shb(false), idb(101, false), epb(1, 2n, [2], false));
    const sectionTwo = 28 + 20 + 20;
    expect(packetsOf(orphan).damage).toMatchObject({ reason: 'bad-value', offset: sectionTwo + 28 + 20 + 8 });
  });

  describe('malformed files: a WireError naming the byte offset, the packets before it kept', () => {
    const little = true;
    const good = file(shb(little), idb(LinkType.RawIp, little), epb(0, 1n, [1, 2, 3], little));
    const damaged = (tail: number[]) => packetsOf(Uint8Array.from([...good, ...tail]));

    it('a block cut short', () => {
      const next = epb(0, 2n, [4, 5, 6, 7, 8], little);
      const result = damaged(next.slice(0, next.length - 3));
      expect(result.packets).toHaveLength(1);
      expect(result.damage).toMatchObject({ layer: 'pcapng', reason: 'truncated', offset: good.length + 4 });
      expect(damaged(next.slice(0, 5)).damage).toMatchObject({ reason: 'truncated', offset: good.length });
    });

    it('a trailing Total Length that differs from the leading one', () => {
      const next = epb(0, 2n, [4], little);
      next[next.length - 4] = 0xfc;
      expect(damaged(next).damage).toMatchObject({ reason: 'bad-length', offset: good.length + next.length - 4 });
    });

    it('a Total Length that is not a multiple of 4, or below 12', () => {
      for (const length of [13, 8]) {
        const next = epb(0, 2n, [4], little);
        next.splice(4, 4, ...u32(length, little));
        expect(damaged(next).damage).toMatchObject({ reason: 'bad-length', offset: good.length + 4 });
      }
    });

    it('a captured length beyond its block', () => {
      const next = epb(0, 2n, [4, 5, 6, 7], little);
      next.splice(20, 4, ...u32(200, little));
      expect(damaged(next).damage).toMatchObject({ reason: 'bad-length', offset: good.length + 20 });
    });

    it('an option running past the end of its block', () => {
      const next = idb(LinkType.RawIp, little, [option(9, [6], little)]);
      next.splice(18, 2, ...u16(64, little)); // option length 64 in a 28-byte block
      expect(damaged(next).damage).toMatchObject({ reason: 'bad-length', offset: good.length + 18 });
    });

    it('a packet naming an interface never described', () => {
      expect(damaged(epb(3, 2n, [4], little)).damage).toMatchObject({ reason: 'bad-value', offset: good.length + 8 });
    });

    it('a section with a byte-order magic in neither order, or a major version other than 1', () => {
      const bad = shb(little);
      bad.splice(8, 4, 1, 2, 3, 4);
      expect(damaged(bad).damage).toMatchObject({ reason: 'bad-value', offset: good.length + 8 });
      const v2 = shb(little);
      v2.splice(12, 2, ...u16(2, little));
      expect(damaged(v2).damage).toMatchObject({ reason: 'bad-version', offset: good.length + 12 });
    });

    it('damage in the first block is an error, not an empty capture', () => {
      const result = decodePcapng(Uint8Array.from(shb(little).slice(0, 20)));
      expect(result.ok ? null : result.error).toMatchObject({ layer: 'pcapng', reason: 'truncated', offset: 4 });
    });
  });

  it('never throws on random bytes after a Section Header Block: packets, or damage inside the input (10^4 runs)', () => {
    const head = Uint8Array.from([...shb(true), ...idb(1, true)]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (rest, keepHead) => {
        const bytes = keepHead ? Uint8Array.from([...head, ...rest]) : Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...rest]);
        const result = decodePcapng(bytes);
        const error = result.ok ? result.value.damage : result.error;
        if (error) {
          expect(error.offset).toBeGreaterThanOrEqual(0);
          expect(error.offset).toBeLessThanOrEqual(bytes.length);
        } else if (result.ok) {
          expect(result.next).toBe(bytes.length);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('decodeCapture: either format by its magic', () => {
  it('reads pcap and pcapng into the same frames', () => {
    const data = fromHex('4500001c');
    const pcap = decodeCapture(encodePcap(LinkType.RawIp, [{ timestampUs: 42, data }]));
    const pcapng = decodeCapture(file(shb(true), idb(LinkType.RawIp, true), epb(0, 42n, [...data], true)));
    for (const [result, format] of [[pcap, 'pcap'], [pcapng, 'pcapng']] as const) {
      expect(result.ok && result.value.format).toBe(format);
      expect(result.ok && result.value.frames.map((f) => [f.linkType, f.timestampUs, toHex(f.data)])).toEqual([[LinkType.RawIp, 42, '4500001c']]);
    }
  });

  it('keeps the pcap records before a truncated one and names where it stopped', () => {
    const whole = encodePcap(LinkType.RawIp, [{ timestampUs: 1, data: fromHex('01') }, { timestampUs: 2, data: fromHex('0203') }]);
    const result = decodeCapture(whole.subarray(0, whole.length - 1));
    expect(result.ok && result.value.frames).toHaveLength(1);
    expect(result.ok && result.value.damage).toMatchObject({ layer: 'pcap', reason: 'truncated', offset: 24 + 17 + 8 });
  });

  it('names both formats when the magic is neither', () => {
    const result = decodeCapture(fromHex('7f454c46020101000000000000000000000000000000000000000000'));
    expect(result.ok ? null : result.error).toMatchObject({ reason: 'bad-type', offset: 0 });
    expect(result.ok ? '' : result.error.message).toMatch(/pcapng/);
    expect(looksLikeCapture(fromHex('7f454c46'))).toBe(false);
    expect(looksLikeCapture(fromHex('0a0d0d0a'))).toBe(true);
    expect(looksLikeCapture(fromHex('d4c3b2a1'))).toBe(true);
  });
});
