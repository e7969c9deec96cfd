/**
 * The IGMP codec (io/wire/igmp.ts): hex fixtures per message (RFC 2236 2, RFC 3376 4),
 * round trip at non-zero offsets, truncations and random bytes never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internetChecksum, ipv4 } from '../../io/wire/bytes.js';
import { decodeIgmp, encodeIgmp, igmpLength, igmpMembershipChanges, IgmpRecordType, type IgmpMessage } from '../../io/wire/igmp.js';

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const GROUP = ipv4('224.1.2.3');

/** Writes the checksum into a fixture given with 0000 (computed independently of the codec). */
function withChecksum(bytes: Uint8Array): Uint8Array {
  const sum = internetChecksum(bytes, 0, bytes.length);
  bytes[2] = sum >> 8;
  bytes[3] = sum & 0xff;
  return bytes;
}

describe('IGMP fixtures', () => {
  it('reads a v2 General Query, a v1 query (Max Response Time 0), a v2 report and a leave (RFC 2236 2)', () => {
    const general = decodeIgmp(withChecksum(hex('1164000000000000')));
    expect(general).toMatchObject({ ok: true, value: { kind: 'query', version: 2, maxResponseTime: 100, group: 0, checksumValid: true }, next: 8 });
    expect(decodeIgmp(withChecksum(hex('1100000000000000')))).toMatchObject({ ok: true, value: { kind: 'query', version: 1 } });
    expect(decodeIgmp(withChecksum(hex('16000000e0010203')))).toMatchObject({ ok: true, value: { kind: 'report', version: 2, group: GROUP } });
    expect(decodeIgmp(withChecksum(hex('12000000e0010203')))).toMatchObject({ ok: true, value: { kind: 'report', version: 1, group: GROUP } });
    expect(decodeIgmp(withChecksum(hex('17000000e0010203')))).toMatchObject({ ok: true, value: { kind: 'leave', group: GROUP } });
  });

  it('reports a bad checksum instead of failing', () => {
    const bytes = withChecksum(hex('16000000e0010203'));
    bytes[7]! ^= 1;
    expect(decodeIgmp(bytes)).toMatchObject({ ok: true, value: { checksumValid: false } });
  });

  it('reads a v3 query (12 bytes or more) and a v3 report with group records (RFC 3376 4.1, 4.2)', () => {
    const query = decodeIgmp(withChecksum(hex('116400000000000002 7d 0001 c0000201'.replace(/ /g, ''))));
    expect(query).toMatchObject({ ok: true, value: { kind: 'query', version: 3, maxResponseCode: 100, robustness: 2, queryIntervalCode: 125, sources: [ipv4('192.0.2.1')] } });
    const report = decodeIgmp(withChecksum(hex('2200000000000002' + '04000000e0010203' + '01000001e0010204c0000201'.replace(/ /g, ''))));
    expect(report.ok && report.value).toMatchObject({
      kind: 'v3-report',
      records: [
        { recordType: IgmpRecordType.ChangeToExclude, group: GROUP, sources: [] },
        { recordType: IgmpRecordType.ModeIsInclude, group: ipv4('224.1.2.4'), sources: [ipv4('192.0.2.1')] },
      ],
      checksumValid: true,
    });
  });

  it('refuses what does not fit: fewer than 8 bytes, a 9-11 byte query, a v3 record past the end', () => {
    expect(decodeIgmp(hex('16000000e00102'))).toMatchObject({ ok: false, error: { reason: 'truncated' } });
    expect(decodeIgmp(hex('11640000000000000000'))).toMatchObject({ ok: false, error: { reason: 'bad-length' } });
    expect(decodeIgmp(hex('2200000000000001' + '01000002e0010203c0000201'))).toMatchObject({ ok: false, error: { reason: 'truncated' } });
  });

  it('writes a v2 report byte for byte with its checksum', () => {
    const out = new Uint8Array(8);
    encodeIgmp({ kind: 'report', version: 2, group: GROUP }, out, 0);
    expect(toHex(out)).toBe(toHex(withChecksum(hex('16000000e0010203'))));
  });
});

describe('membership changes a report makes (RFC 3376 6.4 for v3)', () => {
  it('joins on v1/v2 reports, EXCLUDE and ALLOW records; leaves on a v2 leave and an empty INCLUDE', () => {
    expect(igmpMembershipChanges({ kind: 'report', version: 2, group: GROUP })).toEqual({ joins: [GROUP], leaves: [] });
    expect(igmpMembershipChanges({ kind: 'leave', group: GROUP })).toEqual({ joins: [], leaves: [GROUP] });
    const record = (recordType: number, sources: number[] = []) => ({ recordType, group: GROUP, sources, auxData: new Uint8Array(0) });
    expect(igmpMembershipChanges({ kind: 'v3-report', records: [record(IgmpRecordType.ChangeToExclude)] }).joins).toEqual([GROUP]);
    expect(igmpMembershipChanges({ kind: 'v3-report', records: [record(IgmpRecordType.ChangeToInclude)] }).leaves).toEqual([GROUP]);
    expect(igmpMembershipChanges({ kind: 'v3-report', records: [record(IgmpRecordType.AllowNewSources, [1])] }).joins).toEqual([GROUP]);
    expect(igmpMembershipChanges({ kind: 'query', version: 2, maxResponseTime: 100, group: 0 })).toEqual({ joins: [], leaves: [] });
  });
});

const address = fc.integer({ min: 0, max: 0xffffffff });
const messageArb: fc.Arbitrary<IgmpMessage> = fc.oneof(
  fc.record({ kind: fc.constant('query' as const), version: fc.constant(2 as const), maxResponseTime: fc.integer({ min: 1, max: 255 }), group: address }),
  fc.record({ kind: fc.constant('query' as const), version: fc.constant(1 as const), maxResponseTime: fc.constant(0), group: address }),
  fc.record({
    kind: fc.constant('query' as const),
    version: fc.constant(3 as const),
    maxResponseCode: fc.integer({ min: 0, max: 255 }),
    group: address,
    reserved: fc.integer({ min: 0, max: 15 }),
    suppressRouterProcessing: fc.boolean(),
    robustness: fc.integer({ min: 0, max: 7 }),
    queryIntervalCode: fc.integer({ min: 0, max: 255 }),
    sources: fc.array(address, { maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('report' as const), version: fc.constantFrom(1 as const, 2 as const), group: address }),
  fc.record({ kind: fc.constant('leave' as const), group: address }),
  fc.record({
    kind: fc.constant('v3-report' as const),
    records: fc.array(
      fc.record({
        recordType: fc.integer({ min: 0, max: 255 }),
        group: address,
        sources: fc.array(address, { maxLength: 3 }),
        auxData: fc.integer({ min: 0, max: 2 }).chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
      }),
      { maxLength: 3 },
    ),
  }),
  fc.record({ kind: fc.constant('unknown' as const), type: fc.constantFrom(0x13, 0x1e, 0x30), code: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 12 }) }),
);

describe('IGMP properties', () => {
  it('round-trips at a non-zero offset: encode, decode, encode gives the same bytes, and the checksum verifies', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 1, max: 17 }), (message, prefix) => {
        const length = igmpLength(message);
        const first = new Uint8Array(prefix + length).fill(0xa5);
        expect(encodeIgmp(message, first, prefix)).toBe(prefix + length);
        const d = decodeIgmp(first, prefix, prefix + length);
        if (!d.ok) throw new Error(d.error.message);
        expect(d.next).toBe(prefix + length);
        expect(d.value.checksumValid).toBe(true);
        const second = new Uint8Array(first.length).fill(0xa5);
        encodeIgmp(d.value, second, prefix);
        expect(toHex(second)).toBe(toHex(first));
      }),
    );
  });

  it('never throws on truncations of valid messages or on random bytes', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (message, cut) => {
        const bytes = new Uint8Array(igmpLength(message));
        encodeIgmp(message, bytes, 0);
        const end = cut % (bytes.length + 1);
        const d = decodeIgmp(bytes, 0, end);
        if (d.ok) expect(d.next).toBeLessThanOrEqual(end);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const d = decodeIgmp(bytes);
        if (d.ok) expect(d.next).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
