/**
 * Classic libpcap capture files (the format tcpdump, Wireshark and tshark read and write):
 * a 24-byte global header, then per packet a 16-byte record header and the captured bytes.
 * Pure: it turns packets into bytes and bytes into packets; writing the file is the caller's.
 *
 * pcapng is read by pcapng.ts; `decodeCapture` (capture.ts) takes either.
 */
import { decoded, wireError, type DecodeResult, type WireError } from './codec.js';

/** Link types of the global header (the LINKTYPE_* registry). */
export const LinkType = {
  Ethernet: 1,
  /** Raw IPv4/IPv6 packets with no link-layer header. */
  RawIp: 101,
} as const;

const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const MAGIC_NANOSECONDS = 0xa1b23c4d;
const PCAPNG_MAGIC = 0x0a0d0d0a;
const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const DEFAULT_SNAPLEN = 262144;

export interface PcapRecord {
  /** Capture time in microseconds since the Unix epoch. */
  readonly timestampUs: number;
  /** The captured bytes (a view into the file for decoded records). */
  readonly data: Uint8Array;
  /** Length of the packet on the wire (>= data.length when the capture was truncated). */
  readonly originalLength: number;
  /** Where the record starts in the file (decoded records only). */
  readonly fileOffset?: number;
}

export interface PcapFile {
  readonly linkType: number;
  readonly snapLength: number;
  readonly records: readonly PcapRecord[];
}

/** The 24-byte global header, little-endian, microsecond timestamps. */
export function pcapGlobalHeader(linkType: number, snapLength = DEFAULT_SNAPLEN): Uint8Array {
  const bytes = new Uint8Array(GLOBAL_HEADER_LENGTH);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC_MICROSECONDS, true);
  view.setUint16(4, 2, true); // version 2.4
  view.setUint16(6, 4, true);
  view.setInt32(8, 0, true); // thiszone: timestamps are UTC
  view.setUint32(12, 0, true); // sigfigs
  view.setUint32(16, snapLength, true);
  view.setUint32(20, linkType, true);
  return bytes;
}

/** One record: its 16-byte header followed by the packet bytes. */
export function pcapRecord(timestampUs: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(RECORD_HEADER_LENGTH + data.length);
  const view = new DataView(bytes.buffer);
  const seconds = Math.floor(timestampUs / 1e6);
  view.setUint32(0, seconds, true);
  view.setUint32(4, Math.round(timestampUs - seconds * 1e6), true);
  view.setUint32(8, data.length, true);
  view.setUint32(12, data.length, true);
  bytes.set(data, RECORD_HEADER_LENGTH);
  return bytes;
}

/** A whole capture file in one buffer. */
export function encodePcap(linkType: number, records: ReadonlyArray<{ timestampUs: number; data: Uint8Array }>): Uint8Array {
  const parts = [pcapGlobalHeader(linkType), ...records.map((r) => pcapRecord(r.timestampUs, r.data))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads a classic pcap file of either byte order and either timestamp resolution. */
export function decodePcap(bytes: Uint8Array): DecodeResult<PcapFile> {
  const read = readPcap(bytes);
  if (!read.ok) return read;
  const { file, damage, next } = read.value;
  return damage ? { ok: false, error: damage } : decoded(file, next);
}

/**
 * Like `decodePcap`, but a damaged record (a truncated last packet, as a capture cut short
 * leaves) keeps the records before it: `damage` says where reading stopped and why.
 */
export function readPcap(bytes: Uint8Array): DecodeResult<{ file: PcapFile; damage?: WireError; next: number }> {
  const layer = 'pcap';
  if (bytes.length < GLOBAL_HEADER_LENGTH) {
    return wireError(layer, 'truncated', 0, `a pcap file starts with a ${GLOBAL_HEADER_LENGTH}-byte header; got ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBig = view.getUint32(0, false);
  const magicLittle = view.getUint32(0, true);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLittle === MAGIC_MICROSECONDS || magicLittle === MAGIC_NANOSECONDS) {
    littleEndian = true;
    nanoseconds = magicLittle === MAGIC_NANOSECONDS;
  } else if (magicBig === MAGIC_MICROSECONDS || magicBig === MAGIC_NANOSECONDS) {
    littleEndian = false;
    nanoseconds = magicBig === MAGIC_NANOSECONDS;
  } else if (magicBig === PCAPNG_MAGIC) {
    return wireError(layer, 'bad-version', 0, 'this is a pcapng file, which decodePcap does not read: decodeCapture (capture.ts) reads it, or convert it with `editcap -F pcap in.pcapng out.pcap`');
  } else {
    return wireError(layer, 'bad-type', 0, `not a pcap file (magic 0x${magicBig.toString(16).padStart(8, '0')})`);
  }
  const snapLength = view.getUint32(16, littleEndian);
  const linkType = view.getUint32(20, littleEndian) & 0x0fffffff; // upper bits carry FCS info
  const records: PcapRecord[] = [];
  const file = { linkType, snapLength, records };
  let offset = GLOBAL_HEADER_LENGTH;
  while (offset < bytes.length) {
    if (offset + RECORD_HEADER_LENGTH > bytes.length) {
      const damage = wireError(layer, 'truncated', offset, `record header at ${offset} needs ${RECORD_HEADER_LENGTH} bytes, ${bytes.length - offset} left`).error;
      return decoded({ file, damage, next: offset }, offset);
    }
    const seconds = view.getUint32(offset, littleEndian);
    const fraction = view.getUint32(offset + 4, littleEndian);
    const capturedLength = view.getUint32(offset + 8, littleEndian);
    const originalLength = view.getUint32(offset + 12, littleEndian);
    const dataStart = offset + RECORD_HEADER_LENGTH;
    if (dataStart + capturedLength > bytes.length) {
      const damage = wireError(layer, 'truncated', offset + 8, `record at ${offset} says ${capturedLength} captured bytes, ${bytes.length - dataStart} left`).error;
      return decoded({ file, damage, next: offset }, offset);
    }
    records.push({
      timestampUs: seconds * 1e6 + (nanoseconds ? Math.floor(fraction / 1000) : fraction),
      data: bytes.subarray(dataStart, dataStart + capturedLength),
      originalLength,
      fileOffset: offset,
    });
    offset = dataStart + capturedLength;
  }
  return decoded({ file, next: offset }, offset);
}
