/**
 * One reader for both capture formats: classic pcap (pcap.ts) and pcapng (pcapng.ts), told
 * apart by the first four bytes. Every frame carries its own link type (pcapng files may mix
 * interfaces) and, where the file has one, its timestamp. A damaged tail keeps the frames
 * before it and says where reading stopped.
 */
import { decoded, wireError, type DecodeResult, type WireError } from './codec.js';
import { readPcap } from './pcap.js';
import { decodePcapng, PCAPNG_SECTION_HEADER } from './pcapng.js';

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureFrame {
  readonly linkType: number;
  /** Microseconds since the Unix epoch; undefined when the format records none (pcapng Simple Packet Block). */
  readonly timestampUs: number | undefined;
  readonly data: Uint8Array;
  readonly originalLength: number;
  /** Where the frame's record or block starts in the file. */
  readonly fileOffset: number;
}

export interface Capture {
  readonly format: CaptureFormat;
  readonly frames: readonly CaptureFrame[];
  /** Set when reading stopped early: why, at which byte offset. */
  readonly damage?: WireError;
}

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xa1b23c4d]);

/** Whether `bytes` start like a capture file of either format (for input that may be a raw message). */
export function looksLikeCapture(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 4);
  return view.getUint32(0, false) === PCAPNG_SECTION_HEADER || PCAP_MAGICS.has(view.getUint32(0, false)) || PCAP_MAGICS.has(view.getUint32(0, true));
}

export function decodeCapture(bytes: Uint8Array): DecodeResult<Capture> {
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) === PCAPNG_SECTION_HEADER) {
    const read = decodePcapng(bytes);
    if (!read.ok) return read;
    const { packets, damage } = read.value;
    return decoded({ format: 'pcapng', frames: packets, ...(damage ? { damage } : {}) }, read.next);
  }
  const read = readPcap(bytes);
  if (!read.ok) {
    if (read.error.reason === 'bad-type') {
      return wireError('capture', 'bad-type', 0, `${read.error.message}; expected pcap (0xa1b2c3d4) or pcapng (0x0a0d0d0a)`);
    }
    return read;
  }
  const { file, damage } = read.value;
  const frames = file.records.map((record) => ({
    linkType: file.linkType,
    timestampUs: record.timestampUs,
    data: record.data,
    originalLength: record.originalLength,
    fileOffset: record.fileOffset ?? 0,
  }));
  return decoded({ format: 'pcap', frames, ...(damage ? { damage } : {}) }, read.next);
}
