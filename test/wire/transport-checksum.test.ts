/**
 * completeTransportChecksum (io/wire/transport-checksum.ts): the TCP/UDP checksum of a datagram
 * whose sender left it to offload, written over whatever the field held. The oracle here is a
 * plain RFC 1071 sum over a pseudo-header built byte by byte (RFC 793 3.1, RFC 768).
 */
import { describe, expect, it } from 'vitest';
import { completeTransportChecksum } from '../../io/wire/transport-checksum.js';

const SOURCE = [192, 0, 2, 7];
const DESTINATION = [198, 51, 100, 10];

/** RFC 1071 over `bytes` (odd length padded with zero), folded and complemented. */
function referenceChecksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Whether the transport segment of the datagram at `offset` sums to zero with its pseudo-header. */
function transportValid(datagram: Uint8Array, offset = 0): boolean {
  const total = (datagram[offset + 2]! << 8) | datagram[offset + 3]!;
  const segment = [...datagram.subarray(offset + 20, offset + total)];
  const pseudo = [...SOURCE, ...DESTINATION, 0, datagram[offset + 9]!, segment.length >> 8, segment.length & 0xff];
  return referenceChecksum([...pseudo, ...segment]) === 0;
}

/** An IPv4 datagram (20-byte header) around `transport`, its checksum field holding `field`. */
function datagram(protocol: number, transport: number[], options: { fragment?: number; field?: number } = {}): Uint8Array {
  const total = 20 + transport.length;
  const bytes = new Uint8Array(total);
  bytes.set([0x45, 0, total >> 8, total & 0xff, 0, 1, (options.fragment ?? 0x4000) >> 8, (options.fragment ?? 0x4000) & 0xff, 64, protocol, 0, 0, ...SOURCE, ...DESTINATION]);
  const header = referenceChecksum([...bytes.subarray(0, 20)]);
  bytes[10] = header >> 8;
  bytes[11] = header & 0xff;
  bytes.set(transport, 20);
  const at = 20 + (protocol === 6 ? 16 : 6);
  bytes[at] = (options.field ?? 0x1234) >> 8;
  bytes[at + 1] = (options.field ?? 0x1234) & 0xff;
  return bytes;
}

const payload = (n: number) => Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
const udp = (data: number[]) => [0x9c, 0x40, 0x23, 0x29, (8 + data.length) >> 8, (8 + data.length) & 0xff, 0, 0, ...data];
const tcp = (data: number[]) => [0x9c, 0x40, 0x23, 0x2a, 0, 0, 0x10, 0, 0, 0, 0, 1, 5 << 4, 0x18, 0xff, 0xff, 0, 0, 0, 0, ...data];

describe('completeTransportChecksum', () => {
  it('completes a UDP checksum (odd length: padded with zero) over whatever the field held', () => {
    const d = datagram(17, udp(payload(333)));
    expect(transportValid(d)).toBe(false);
    expect(completeTransportChecksum(d)).toBe(true);
    expect(transportValid(d)).toBe(true);
  });

  it('completes a TCP checksum', () => {
    const d = datagram(6, tcp(payload(1000)));
    expect(completeTransportChecksum(d)).toBe(true);
    expect(transportValid(d)).toBe(true);
  });

  it('works at a non-zero offset and ignores bytes past the total length (Ethernet padding)', () => {
    const inner = datagram(6, tcp(payload(5)));
    const frame = new Uint8Array(14 + inner.length + 9).fill(0xee);
    frame.set(inner, 14);
    const before = frame.slice();
    expect(completeTransportChecksum(frame, 14)).toBe(true);
    expect(transportValid(frame, 14)).toBe(true);
    expect([...frame.subarray(0, 14 + 36)]).toEqual([...before.subarray(0, 14 + 36)]); // only the checksum field changed
    expect([...frame.subarray(14 + inner.length)]).toEqual([...before.subarray(14 + inner.length)]);
  });

  it('sends a computed UDP zero as 0xffff (RFC 768)', () => {
    // Two payload bytes chosen so that the checksum computes to zero (bounded search).
    let found: Uint8Array | undefined;
    for (let v = 0; v <= 0xffff && found === undefined; v++) {
      const d = datagram(17, udp([v >> 8, v & 0xff]), { field: 0 });
      const segment = [...d.subarray(20)];
      if (referenceChecksum([...SOURCE, ...DESTINATION, 0, 17, 0, segment.length, ...segment]) === 0) found = d;
    }
    expect(found).toBeDefined();
    expect(completeTransportChecksum(found!)).toBe(true);
    expect([found![26], found![27]]).toEqual([0xff, 0xff]);
  });

  it('leaves a fragment, a truncated datagram, a UDP length beyond the datagram and other protocols untouched', () => {
    const untouched = (bytes: Uint8Array, offset = 0, end = bytes.length) => {
      const before = bytes.slice();
      expect(completeTransportChecksum(bytes, offset, end)).toBe(false);
      expect([...bytes]).toEqual([...before]);
    };
    untouched(datagram(17, udp(payload(40)), { fragment: 0x2000 })); // more fragments
    untouched(datagram(6, tcp(payload(40)), { fragment: 0x0010 })); // a later fragment
    const whole = datagram(6, tcp(payload(40)));
    untouched(whole, 0, whole.length - 1); // total length beyond the end
    untouched(whole.slice(0, 30)); // the TCP header cut
    untouched(whole, 0, 19);
    const longUdp = datagram(17, udp(payload(40)));
    longUdp[25] += 1; // UDP length one more than the datagram holds
    untouched(longUdp);
    untouched(datagram(1, [8, 0, 0, 0, 0, 1, 0, 1])); // ICMP
    const ipv6 = datagram(17, udp(payload(4)));
    ipv6[0] = 0x60;
    untouched(ipv6);
    untouched(whole, -1);
  });
});
