/**
 * IGMP (RFC 1112 appendix I, RFC 2236 2, RFC 3376 4): what a home agent acting as multicast
 * router for its mobile nodes reads and writes (RFC 5944 4.4). Queries (v1, v2 and v3 by length
 * and Max Response Time, RFC 3376 7.1), v1/v2 Membership Reports, the v2 Leave Group, and v3
 * Membership Reports with their group records. Any other type is kept as `unknown` so it
 * round-trips. The checksum is reported (`checksumValid`), not enforced: receivers discard on it
 * (RFC 2236 2.3, RFC 3376 4.1.2). Decoders never throw.
 */
import { internetChecksum, readU16, readU32, writeU16, writeU32, type Ipv4Address } from './bytes.js';
import { decoded, ensureRoom, wireError, EncodeError, type Codec, type DecodeResult } from './codec.js';

const LAYER = 'igmp';

export const IgmpType = {
  MembershipQuery: 0x11,
  V1MembershipReport: 0x12,
  V2MembershipReport: 0x16,
  V2LeaveGroup: 0x17,
  V3MembershipReport: 0x22,
} as const;

/** v3 group record types (RFC 3376 4.2.12). */
export const IgmpRecordType = {
  ModeIsInclude: 1,
  ModeIsExclude: 2,
  ChangeToInclude: 3,
  ChangeToExclude: 4,
  AllowNewSources: 5,
  BlockOldSources: 6,
} as const;

export interface IgmpGroupRecord {
  readonly recordType: number;
  readonly group: Ipv4Address;
  readonly sources: readonly Ipv4Address[];
  /** Auxiliary data (a multiple of 4 bytes; RFC 3376 says none is defined, kept as is). */
  readonly auxData: Uint8Array;
}

interface Checked {
  /** Decoded messages only: whether the IGMP checksum verifies. Ignored when encoding. */
  readonly checksumValid?: boolean;
}

export type IgmpMessage =
  | (Checked & {
      readonly kind: 'query';
      /** 1: 8 bytes with Max Response Time 0; 2: 8 bytes; 3: 12 bytes or more (RFC 3376 7.1). */
      readonly version: 1 | 2;
      /** In tenths of a second (RFC 2236 2.2); 0 for version 1. */
      readonly maxResponseTime: number;
      /** 0 for a General Query. */
      readonly group: Ipv4Address;
    })
  | (Checked & {
      readonly kind: 'query';
      readonly version: 3;
      /** Max Resp Code (RFC 3376 4.1.1), encoded as sent. */
      readonly maxResponseCode: number;
      readonly group: Ipv4Address;
      /** The Resv nibble, kept so the message round-trips. */
      readonly reserved: number;
      readonly suppressRouterProcessing: boolean;
      /** QRV, 0-7. */
      readonly robustness: number;
      /** QQIC (RFC 3376 4.1.7), encoded as sent. */
      readonly queryIntervalCode: number;
      readonly sources: readonly Ipv4Address[];
    })
  | (Checked & { readonly kind: 'report'; readonly version: 1 | 2; readonly group: Ipv4Address })
  | (Checked & { readonly kind: 'leave'; readonly group: Ipv4Address })
  | (Checked & { readonly kind: 'v3-report'; readonly records: readonly IgmpGroupRecord[] })
  | (Checked & { readonly kind: 'unknown'; readonly type: number; readonly code: number; readonly data: Uint8Array });

/** Bytes `message` encodes to. */
export function igmpLength(message: IgmpMessage): number {
  switch (message.kind) {
    case 'query':
      return message.version === 3 ? 12 + 4 * message.sources.length : 8;
    case 'report':
    case 'leave':
      return 8;
    case 'v3-report': {
      let length = 8;
      for (const record of message.records) length += 8 + 4 * record.sources.length + record.auxData.length;
      return length;
    }
    case 'unknown':
      return 4 + message.data.length;
  }
}

/**
 * Decodes the IGMP message in bytes[offset, end) (the IP payload). Bytes after an 8-byte
 * v1/v2 message are ignored (RFC 2236 2.5); a query of 9 to 11 bytes is malformed (RFC 3376
 * 7.1: "silently ignored"), as is anything that does not fit.
 */
export function decodeIgmp(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<IgmpMessage> {
  if (offset < 0 || end > bytes.length || end - offset < 4) return wireError(LAYER, 'truncated', offset, 'an IGMP message has at least 4 bytes');
  const length = end - offset;
  const type = bytes[offset]!;
  const code = bytes[offset + 1]!;
  const eight = (): boolean => length >= 8;
  const checksumOver = (to: number): boolean => internetChecksum(bytes, offset, to) === 0;
  switch (type) {
    case IgmpType.MembershipQuery: {
      if (length < 8) return wireError(LAYER, 'truncated', offset, `an IGMP query has at least 8 bytes, got ${length}`);
      const group = readU32(bytes, offset + 4);
      if (length === 8) {
        const version = code === 0 ? 1 : 2;
        return decoded({ kind: 'query', version, maxResponseTime: code, group, checksumValid: checksumOver(offset + 8) }, offset + 8);
      }
      if (length < 12) return wireError(LAYER, 'bad-length', offset, `an IGMP query of ${length} bytes is neither v1/v2 (8) nor v3 (12 or more)`);
      const count = readU16(bytes, offset + 10);
      const next = offset + 12 + 4 * count;
      if (next > end) return wireError(LAYER, 'truncated', offset + 10, `the v3 query lists ${count} sources but has room for ${Math.floor((length - 12) / 4)}`);
      const sources: Ipv4Address[] = [];
      for (let at = offset + 12; at < next; at += 4) sources.push(readU32(bytes, at));
      const flags = bytes[offset + 8]!;
      return decoded(
        {
          kind: 'query',
          version: 3,
          maxResponseCode: code,
          group,
          reserved: flags >> 4,
          suppressRouterProcessing: (flags & 0x08) !== 0,
          robustness: flags & 0x07,
          queryIntervalCode: bytes[offset + 9]!,
          sources,
          checksumValid: checksumOver(end),
        },
        next,
      );
    }
    case IgmpType.V1MembershipReport:
    case IgmpType.V2MembershipReport:
    case IgmpType.V2LeaveGroup: {
      if (!eight()) return wireError(LAYER, 'truncated', offset, `an IGMP report or leave has 8 bytes, got ${length}`);
      const group = readU32(bytes, offset + 4);
      const checksumValid = checksumOver(offset + 8);
      if (type === IgmpType.V2LeaveGroup) return decoded({ kind: 'leave', group, checksumValid }, offset + 8);
      return decoded({ kind: 'report', version: type === IgmpType.V1MembershipReport ? 1 : 2, group, checksumValid }, offset + 8);
    }
    case IgmpType.V3MembershipReport: {
      if (!eight()) return wireError(LAYER, 'truncated', offset, `an IGMPv3 report has at least 8 bytes, got ${length}`);
      const count = readU16(bytes, offset + 6);
      const records: IgmpGroupRecord[] = [];
      let at = offset + 8;
      for (let r = 0; r < count; r++) {
        if (at + 8 > end) return wireError(LAYER, 'truncated', at, `group record ${r + 1} of ${count} does not fit`);
        const auxLength = bytes[at + 1]! * 4;
        const sourceCount = readU16(bytes, at + 2);
        const recordEnd = at + 8 + 4 * sourceCount + auxLength;
        if (recordEnd > end) return wireError(LAYER, 'truncated', at, `group record ${r + 1} of ${count} needs ${recordEnd - at} bytes`);
        const sources: Ipv4Address[] = [];
        for (let s = at + 8; s < at + 8 + 4 * sourceCount; s += 4) sources.push(readU32(bytes, s));
        records.push({ recordType: bytes[at]!, group: readU32(bytes, at + 4), sources, auxData: bytes.slice(at + 8 + 4 * sourceCount, recordEnd) });
        at = recordEnd;
      }
      return decoded({ kind: 'v3-report', records, checksumValid: checksumOver(end) }, at);
    }
    default:
      return decoded({ kind: 'unknown', type, code, data: bytes.slice(offset + 4, end), checksumValid: checksumOver(end) }, end);
  }
}

/** Writes `message` at `offset` with its checksum; returns the offset after it. */
export function encodeIgmp(message: IgmpMessage, bytes: Uint8Array, offset = 0): number {
  const length = igmpLength(message);
  ensureRoom(LAYER, bytes, offset, length);
  const byte = (value: number, field: string): number => {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new EncodeError(LAYER, `${field} must be 0-255, got ${value}`);
    return value;
  };
  switch (message.kind) {
    case 'query':
      bytes[offset] = IgmpType.MembershipQuery;
      writeU32(bytes, offset + 4, message.group);
      if (message.version === 3) {
        bytes[offset + 1] = byte(message.maxResponseCode, 'maxResponseCode');
        if (message.robustness < 0 || message.robustness > 7 || message.reserved < 0 || message.reserved > 15) throw new EncodeError(LAYER, 'robustness must be 0-7 and reserved 0-15');
        bytes[offset + 8] = (message.reserved << 4) | (message.suppressRouterProcessing ? 0x08 : 0) | message.robustness;
        bytes[offset + 9] = byte(message.queryIntervalCode, 'queryIntervalCode');
        writeU16(bytes, offset + 10, message.sources.length);
        message.sources.forEach((source, i) => writeU32(bytes, offset + 12 + 4 * i, source));
      } else {
        bytes[offset + 1] = message.version === 1 ? 0 : byte(message.maxResponseTime, 'maxResponseTime');
      }
      break;
    case 'report':
    case 'leave':
      bytes[offset] = message.kind === 'leave' ? IgmpType.V2LeaveGroup : message.version === 1 ? IgmpType.V1MembershipReport : IgmpType.V2MembershipReport;
      bytes[offset + 1] = 0;
      writeU32(bytes, offset + 4, message.group);
      break;
    case 'v3-report': {
      bytes[offset] = IgmpType.V3MembershipReport;
      bytes[offset + 1] = 0;
      writeU16(bytes, offset + 4, 0);
      writeU16(bytes, offset + 6, message.records.length);
      let at = offset + 8;
      for (const record of message.records) {
        if (record.auxData.length % 4 !== 0 || record.auxData.length > 255 * 4) throw new EncodeError(LAYER, 'auxData must be a multiple of 4 bytes, at most 1020');
        bytes[at] = byte(record.recordType, 'recordType');
        bytes[at + 1] = record.auxData.length / 4;
        writeU16(bytes, at + 2, record.sources.length);
        writeU32(bytes, at + 4, record.group);
        record.sources.forEach((source, i) => writeU32(bytes, at + 8 + 4 * i, source));
        bytes.set(record.auxData, at + 8 + 4 * record.sources.length);
        at += 8 + 4 * record.sources.length + record.auxData.length;
      }
      break;
    }
    case 'unknown':
      bytes[offset] = byte(message.type, 'type');
      bytes[offset + 1] = byte(message.code, 'code');
      bytes.set(message.data, offset + 4);
      break;
  }
  writeU16(bytes, offset + 2, 0);
  writeU16(bytes, offset + 2, internetChecksum(bytes, offset, offset + length));
  return offset + length;
}

export const igmpCodec: Codec<IgmpMessage> = {
  name: LAYER,
  decode: decodeIgmp,
  encode: encodeIgmp,
  encodingLength: igmpLength,
};

/**
 * The groups a report joins and the groups it leaves, as a home agent keeping per-node
 * membership (RFC 5944 4.4) reads it: v1/v2 reports join, a v2 leave leaves; in a v3 report an
 * EXCLUDE record (any source list: this router forwards whole groups) joins and an INCLUDE
 * record with no sources leaves (RFC 3376 6.4); ALLOW with sources joins. Anything else: none.
 */
export function igmpMembershipChanges(message: IgmpMessage): { readonly joins: Ipv4Address[]; readonly leaves: Ipv4Address[] } {
  const joins: Ipv4Address[] = [];
  const leaves: Ipv4Address[] = [];
  if (message.kind === 'report') joins.push(message.group);
  else if (message.kind === 'leave') leaves.push(message.group);
  else if (message.kind === 'v3-report') {
    for (const record of message.records) {
      const t = record.recordType;
      if (t === IgmpRecordType.ModeIsExclude || t === IgmpRecordType.ChangeToExclude) joins.push(record.group);
      else if (t === IgmpRecordType.AllowNewSources && record.sources.length > 0) joins.push(record.group);
      else if ((t === IgmpRecordType.ModeIsInclude || t === IgmpRecordType.ChangeToInclude) && record.sources.length === 0) leaves.push(record.group);
      else if ((t === IgmpRecordType.ModeIsInclude || t === IgmpRecordType.ChangeToInclude) && record.sources.length > 0) joins.push(record.group);
    }
  }
  return { joins, leaves };
}
