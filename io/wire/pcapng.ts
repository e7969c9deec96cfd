/**
 * pcapng capture files (the default of Wireshark and dumpcap; draft-ietf-opsawg-pcapng): a
 * sequence of blocks, each `Type, Total Length, Body, Total Length`, grouped in sections that
 * each start with a Section Header Block giving the byte order. Only what a reader of packets
 * needs is interpreted:
 *
 * - Section Header Block (0x0A0D0D0A): byte order; starts a new list of interfaces;
 * - Interface Description Block (1): link type, snap length, and the options if_tsresol
 *   (timestamp units) and if_tsoffset (seconds added to every timestamp);
 * - Enhanced Packet Block (6), Simple Packet Block (3, no timestamp, interface 0) and the
 *   obsolete Packet Block (2): the packets.
 *
 * Every other block (name resolution, statistics, custom, ...) is skipped by its length.
 * Pure and total: bytes in, frames or a WireError naming the offset out; never throws.
 */
import { decoded, wireError, type DecodeResult, type WireError } from './codec.js';

export const PCAPNG_SECTION_HEADER = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_INTERFACE_DESCRIPTION = 1;
const BLOCK_PACKET_OBSOLETE = 2;
const BLOCK_SIMPLE_PACKET = 3;
const BLOCK_ENHANCED_PACKET = 6;
const OPTION_END = 0;
const OPTION_IF_TSRESOL = 9;
const OPTION_IF_TSOFFSET = 14;
/** Type, Total Length before the body; Total Length again after it. */
const BLOCK_OVERHEAD = 12;
const LAYER = 'pcapng';

export interface PcapngInterface {
  readonly linkType: number;
  readonly snapLength: number;
  /** Nanoseconds per timestamp unit as a fraction: units × numerator / denominator = ns. */
  readonly unitNumerator: bigint;
  readonly unitDenominator: bigint;
  /** if_tsoffset, seconds. */
  readonly offsetSeconds: bigint;
}

export interface PcapngPacket {
  readonly linkType: number;
  /** Microseconds since the Unix epoch (rounded down); undefined for a Simple Packet Block, which has none. */
  readonly timestampUs: number | undefined;
  readonly data: Uint8Array;
  readonly originalLength: number;
  /** Offset of the packet's block in the file. */
  readonly fileOffset: number;
}

export interface PcapngFile {
  readonly packets: readonly PcapngPacket[];
  /** Set when reading stopped at a damaged block: the packets before it are kept. */
  readonly damage?: WireError;
}

const MICROSECONDS: Pick<PcapngInterface, 'unitNumerator' | 'unitDenominator'> = { unitNumerator: 1000n, unitDenominator: 1n };

/**
 * if_tsresol: the high bit clear means units of 10^-v s, set means 2^-(v & 0x7f) s. The default
 * (no option) is microseconds.
 */
function resolution(value: number): Pick<PcapngInterface, 'unitNumerator' | 'unitDenominator'> {
  const exponent = BigInt(value & 0x7f);
  if ((value & 0x80) !== 0) return { unitNumerator: 1_000_000_000n, unitDenominator: 1n << exponent };
  return exponent <= 9n
    ? { unitNumerator: 10n ** (9n - exponent), unitDenominator: 1n }
    : { unitNumerator: 1n, unitDenominator: 10n ** (exponent - 9n) };
}

function timestampUs(iface: PcapngInterface, high: number, low: number): number {
  const units = (BigInt(high) << 32n) | BigInt(low);
  const ns = (units * iface.unitNumerator) / iface.unitDenominator + iface.offsetSeconds * 1_000_000_000n;
  return Number(ns / 1000n);
}

function fail(reason: WireError['reason'], offset: number, message: string): WireError {
  return wireError(LAYER, reason, offset, message).error;
}

/**
 * Walks the options of a block from `start` to `end` (both within the block body) and
 * returns the value of each code wanted, or an error at the option that overruns.
 */
function readOptions(
  view: DataView,
  start: number,
  end: number,
  littleEndian: boolean,
  onOption: (code: number, valueOffset: number, length: number) => void,
): WireError | undefined {
  let offset = start;
  while (offset + 4 <= end) {
    const code = view.getUint16(offset, littleEndian);
    const length = view.getUint16(offset + 2, littleEndian);
    if (code === OPTION_END) return undefined;
    const padded = (length + 3) & ~3;
    if (offset + 4 + padded > end) {
      return fail('bad-length', offset + 2, `option ${code} at ${offset} has length ${length}, beyond the end of its block at ${end}`);
    }
    onOption(code, offset + 4, length);
    offset += 4 + padded;
  }
  return undefined;
}

/** Reads every packet of a pcapng file, of either byte order, over any number of sections. */
export function decodePcapng(bytes: Uint8Array): DecodeResult<PcapngFile> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint32(0, false) !== PCAPNG_SECTION_HEADER) {
    return wireError(LAYER, 'bad-type', 0, 'a pcapng file starts with a Section Header Block (0x0a0d0d0a)');
  }
  const packets: PcapngPacket[] = [];
  let littleEndian = true;
  let interfaces: PcapngInterface[] = [];
  let offset = 0;
  const stop = (damage: WireError): DecodeResult<PcapngFile> =>
    packets.length === 0 && offset === 0 ? { ok: false, error: damage } : decoded({ packets, damage }, offset);

  while (offset < bytes.length) {
    if (offset + BLOCK_OVERHEAD > bytes.length) {
      return stop(fail('truncated', offset, `block at ${offset} needs at least ${BLOCK_OVERHEAD} bytes, ${bytes.length - offset} left`));
    }
    const sectionHeader = view.getUint32(offset, false) === PCAPNG_SECTION_HEADER;
    if (sectionHeader) {
      // A new section: its byte-order magic decides how everything up to the next one is read.
      if (view.getUint32(offset + 8, true) === BYTE_ORDER_MAGIC) littleEndian = true;
      else if (view.getUint32(offset + 8, false) === BYTE_ORDER_MAGIC) littleEndian = false;
      else {
        const magic = view.getUint32(offset + 8, false).toString(16).padStart(8, '0');
        return stop(fail('bad-value', offset + 8, `Section Header Block at ${offset}: byte-order magic 0x${magic} is not 0x1a2b3c4d in either byte order`));
      }
      interfaces = [];
    }
    const type = view.getUint32(offset, littleEndian);
    const length = view.getUint32(offset + 4, littleEndian);
    if (length < BLOCK_OVERHEAD || length % 4 !== 0) {
      return stop(fail('bad-length', offset + 4, `block at ${offset} has Total Length ${length}; it must be a multiple of 4 and at least ${BLOCK_OVERHEAD}`));
    }
    if (offset + length > bytes.length) {
      return stop(fail('truncated', offset + 4, `block at ${offset} says ${length} bytes, ${bytes.length - offset} left`));
    }
    const trailer = view.getUint32(offset + length - 4, littleEndian);
    if (trailer !== length) {
      return stop(fail('bad-length', offset + length - 4, `block at ${offset}: trailing Total Length ${trailer} differs from the leading ${length}`));
    }
    if (sectionHeader) {
      if (length < 28) return stop(fail('bad-length', offset + 4, `Section Header Block at ${offset} has Total Length ${length}, less than its 28-byte minimum`));
      const major = view.getUint16(offset + 12, littleEndian);
      if (major !== 1) return stop(fail('bad-version', offset + 12, `Section Header Block at ${offset}: version ${major}.x; this reader knows 1.x`));
    }
    const problem = readBlock(type);
    if (problem) return stop(problem);
    offset += length;
  }
  return decoded({ packets }, offset);

  function readBlock(type: number): WireError | undefined {
    const body = offset + 8;
    const bodyEnd = offset + view.getUint32(offset + 4, littleEndian) - 4;
    const need = (bytesNeeded: number, what: string): WireError | undefined =>
      body + bytesNeeded > bodyEnd ? fail('bad-length', offset + 4, `${what} at ${offset} is shorter than its fixed ${bytesNeeded}-byte body`) : undefined;
    const interfaceOf = (id: number, at: number): PcapngInterface | WireError =>
      interfaces[id] ?? fail('bad-value', at, `packet block at ${offset} names interface ${id}, but only ${interfaces.length} were described before it`);

    if (type === BLOCK_INTERFACE_DESCRIPTION) {
      const short = need(8, 'Interface Description Block');
      if (short) return short;
      let units = MICROSECONDS;
      let offsetSeconds = 0n;
      const optionError = readOptions(view, body + 8, bodyEnd, littleEndian, (code, at, optionLength) => {
        if (code === OPTION_IF_TSRESOL && optionLength >= 1) units = resolution(bytes[at]!);
        if (code === OPTION_IF_TSOFFSET && optionLength >= 8) offsetSeconds = view.getBigInt64(at, littleEndian);
      });
      if (optionError) return optionError;
      interfaces.push({
        linkType: view.getUint16(body, littleEndian),
        snapLength: view.getUint32(body + 4, littleEndian),
        ...units,
        offsetSeconds,
      });
      return undefined;
    }
    if (type === BLOCK_ENHANCED_PACKET || type === BLOCK_PACKET_OBSOLETE) {
      const short = need(20, type === BLOCK_ENHANCED_PACKET ? 'Enhanced Packet Block' : 'Packet Block');
      if (short) return short;
      // The obsolete block has a 16-bit interface id followed by a 16-bit drop count.
      const id = type === BLOCK_ENHANCED_PACKET ? view.getUint32(body, littleEndian) : view.getUint16(body, littleEndian);
      const iface = interfaceOf(id, body);
      if (!('linkType' in iface)) return iface;
      const captured = view.getUint32(body + 12, littleEndian);
      const dataStart = body + 20;
      if (dataStart + captured > bodyEnd) {
        return fail('bad-length', body + 12, `packet block at ${offset} says ${captured} captured bytes, its block holds ${bodyEnd - dataStart}`);
      }
      packets.push({
        linkType: iface.linkType,
        timestampUs: timestampUs(iface, view.getUint32(body + 4, littleEndian), view.getUint32(body + 8, littleEndian)),
        data: bytes.subarray(dataStart, dataStart + captured),
        originalLength: view.getUint32(body + 16, littleEndian),
        fileOffset: offset,
      });
      return undefined;
    }
    if (type === BLOCK_SIMPLE_PACKET) {
      const short = need(4, 'Simple Packet Block');
      if (short) return short;
      const iface = interfaceOf(0, body);
      if (!('linkType' in iface)) return iface;
      const originalLength = view.getUint32(body, littleEndian);
      // Its captured length is implied: the packet, cut to the snap length and to the block.
      let captured = Math.min(originalLength, bodyEnd - (body + 4));
      if (iface.snapLength > 0) captured = Math.min(captured, iface.snapLength);
      packets.push({
        linkType: iface.linkType,
        timestampUs: undefined,
        data: bytes.subarray(body + 4, body + 4 + captured),
        originalLength,
        fileOffset: offset,
      });
    }
    return undefined;
  }
}
