import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import { encodeToBytes } from '../../io/wire/codec.js';
import {
  decodeIcmpEcho,
  decodeIcmpError,
  decodeIcmpHeader,
  encodeIcmpEcho,
  encodeIcmpError,
  icmpChecksum,
  icmpEchoCodec,
  icmpEchoLength,
  icmpErrorCodec,
  icmpErrorLength,
  icmpNextHopMtu,
  IcmpType,
  TimeExceededCode,
  UnreachableCode,
  writeIcmpChecksum,
  type IcmpEcho,
  type IcmpErrorMessage,
} from '../../io/wire/icmp.js';

// Fixtures written from the RFC 792 layouts; checksums computed independently (RFC 1071 sum).
const ECHO_REQUEST = '08005435' + '1234' + '0001' + '6162636465666768';
const ECHO_REPLY = '00005c35' + '1234' + '0001' + '6162636465666768';
/** Odd-length data: the checksum pads with a zero byte (RFC 1071). */
const ECHO_ODD = '0800339a' + '0001' + '0002' + '616263';
/** IPv4 header (198.51.100.100 -> 203.0.113.1, UDP) + first 8 bytes of its UDP header. */
const ORIGINAL = '45000024abcd000040116862c6336464cb007101' + '04d201b200100000';
const PORT_UNREACHABLE = '0303f668' + '00000000' + ORIGINAL;
const FRAGMENTATION_NEEDED = '0304f08b' + '000005dc' + ORIGINAL;
const TTL_EXCEEDED = '0b00ee6b' + '00000000' + ORIGINAL;

describe('icmpChecksum', () => {
  it('is zero over a message whose checksum verifies, non-zero after corruption', () => {
    const bytes = fromHex(ECHO_REQUEST);
    expect(icmpChecksum(bytes, 0, bytes.length)).toBe(0);
    bytes[9] = bytes[9]! ^ 0x01;
    expect(icmpChecksum(bytes, 0, bytes.length)).not.toBe(0);
  });

  it('writeIcmpChecksum computes the field over [start, end) inside a larger buffer', () => {
    const message = fromHex(ECHO_ODD);
    const buffer = new Uint8Array(message.length + 7).fill(0xee);
    buffer.set(message, 5);
    buffer[7] = 0xaa; // garbage in the checksum field
    buffer[8] = 0xbb;
    expect(writeIcmpChecksum(buffer, 5, 5 + message.length)).toBe(0x339a);
    expect(toHex(buffer.subarray(5, 5 + message.length))).toBe(ECHO_ODD);
    expect(buffer[4]).toBe(0xee);
    expect(buffer[5 + message.length]).toBe(0xee);
  });
});

describe('decodeIcmpHeader', () => {
  it('reads type, code, checksum and verifies it over the whole message', () => {
    const r = decodeIcmpHeader(fromHex(PORT_UNREACHABLE));
    expect(r).toEqual({ ok: true, value: { type: 3, code: 3, checksum: 0xf668, checksumValid: true }, next: 4 });
  });

  it('reports a bad checksum without failing', () => {
    const bytes = fromHex(PORT_UNREACHABLE);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    const r = decodeIcmpHeader(bytes);
    expect(r.ok && r.value.checksumValid).toBe(false);
  });

  it('needs 4 bytes', () => {
    for (let cut = 0; cut < 4; cut++) {
      const r = decodeIcmpHeader(fromHex(ECHO_REQUEST), 0, cut);
      expect(r.ok ? 'ok' : r.error.reason).toBe('truncated');
    }
  });

  it('rejects impossible ranges as truncated instead of throwing', () => {
    const bytes = fromHex(ECHO_REQUEST);
    for (const [offset, end] of [[-1, 8], [4, 2], [0, 100], [1.5, 8], [Number.NaN, 8]] as const) {
      const r = decodeIcmpHeader(bytes, offset, end);
      expect(r.ok ? 'ok' : r.error.reason).toBe('truncated');
    }
  });
});

describe('Echo Request / Echo Reply', () => {
  it('decodes an Echo Request', () => {
    const bytes = fromHex(ECHO_REQUEST);
    const r = decodeIcmpEcho(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.next).toBe(16);
    expect({ ...r.value, data: toHex(r.value.data) }).toEqual({
      icmpType: 8,
      code: 0,
      checksum: 0x5435,
      checksumValid: true,
      identifier: 0x1234,
      sequence: 1,
      data: '6162636465666768',
    });
    // The data is a view into the input, not a copy.
    expect(r.value.data.buffer).toBe(bytes.buffer);
    expect(r.value.data.byteOffset).toBe(8);
  });

  it('decodes an Echo Reply and encodes both byte-exactly', () => {
    for (const hex of [ECHO_REQUEST, ECHO_REPLY, ECHO_ODD]) {
      const r = decodeIcmpEcho(fromHex(hex));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.value.checksumValid).toBe(true);
      expect(toHex(encodeToBytes(icmpEchoCodec, r.value))).toBe(hex);
    }
    const reply = decodeIcmpEcho(fromHex(ECHO_REPLY));
    expect(reply.ok && reply.value.icmpType).toBe(IcmpType.EchoReply);
  });

  it('encoder computes the checksum, ignoring the value field, at a non-zero offset', () => {
    const value: IcmpEcho = {
      icmpType: 8,
      code: 0,
      checksum: 0xdead,
      checksumValid: false,
      identifier: 0x1234,
      sequence: 1,
      data: fromHex('6162636465666768'),
    };
    const buffer = new Uint8Array(3 + icmpEchoLength(value));
    expect(encodeIcmpEcho(value, buffer, 3)).toBe(buffer.length);
    expect(toHex(buffer.subarray(3))).toBe(ECHO_REQUEST);
  });

  it('keeps an unknown code', () => {
    const bytes = fromHex(ECHO_REQUEST);
    bytes[1] = 7;
    const r = decodeIcmpEcho(bytes);
    expect(r.ok && r.value.code).toBe(7);
    expect(r.ok && r.value.checksumValid).toBe(false);
    if (r.ok) expect(toHex(encodeToBytes(icmpEchoCodec, r.value)).slice(0, 4)).toBe('0807');
  });

  it('rejects other ICMP types and messages shorter than 8 bytes', () => {
    const r = decodeIcmpEcho(fromHex(PORT_UNREACHABLE));
    expect(r.ok ? 'ok' : r.error).toMatchObject({ reason: 'bad-type', offset: 0, layer: 'icmp-echo' });
    const bytes = fromHex(ECHO_REQUEST);
    for (let cut = 0; cut < 8; cut++) {
      const t = decodeIcmpEcho(bytes, 0, cut);
      expect(t.ok ? 'ok' : t.error.reason).toBe('truncated');
    }
    const empty = decodeIcmpEcho(bytes, 0, 8);
    expect(empty.ok && empty.value.data.length).toBe(0);
  });

  it('throws EncodeError on out-of-range fields and a small buffer', () => {
    const value: IcmpEcho = { icmpType: 8, code: 0, checksum: 0, checksumValid: true, identifier: 0x10000, sequence: 0, data: new Uint8Array(0) };
    expect(() => encodeIcmpEcho(value, new Uint8Array(8))).toThrow(/identifier/);
    expect(() => encodeIcmpEcho({ ...value, identifier: 1 }, new Uint8Array(7))).toThrow(/needs 8 bytes/);
  });
});

describe('Destination Unreachable / Time Exceeded', () => {
  it('decodes Port Unreachable with the quoted datagram as a view', () => {
    const bytes = fromHex(PORT_UNREACHABLE);
    const r = decodeIcmpError(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ icmpType: 3, code: UnreachableCode.Port, checksum: 0xf668, checksumValid: true, unused: 0 });
    expect(toHex(r.value.original)).toBe(ORIGINAL);
    expect(r.value.original.buffer).toBe(bytes.buffer);
    expect(icmpNextHopMtu(r.value)).toBeUndefined();
    expect(r.next).toBe(bytes.length);
  });

  it('reads the next-hop MTU of Fragmentation Needed (RFC 1191)', () => {
    const r = decodeIcmpError(fromHex(FRAGMENTATION_NEEDED));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.code).toBe(UnreachableCode.FragmentationNeeded);
    expect(r.value.unused).toBe(1500);
    expect(icmpNextHopMtu(r.value)).toBe(1500);
  });

  it('decodes Time Exceeded', () => {
    const r = decodeIcmpError(fromHex(TTL_EXCEEDED));
    expect(r.ok && r.value).toMatchObject({ icmpType: IcmpType.TimeExceeded, code: TimeExceededCode.TtlExceededInTransit, checksumValid: true });
    if (r.ok) expect(icmpNextHopMtu(r.value)).toBeUndefined();
  });

  it('encodes all three byte-exactly, computing the checksum', () => {
    for (const hex of [PORT_UNREACHABLE, FRAGMENTATION_NEEDED, TTL_EXCEEDED]) {
      const r = decodeIcmpError(fromHex(hex));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(toHex(encodeToBytes(icmpErrorCodec, { ...r.value, checksum: 0 }))).toBe(hex);
    }
    const built: IcmpErrorMessage = {
      icmpType: 3,
      code: UnreachableCode.FragmentationNeeded,
      checksum: 0,
      checksumValid: true,
      unused: 1500,
      original: fromHex(ORIGINAL),
    };
    const buffer = new Uint8Array(icmpErrorLength(built) + 2);
    expect(encodeIcmpError(built, buffer, 2)).toBe(buffer.length);
    expect(toHex(buffer.subarray(2))).toBe(FRAGMENTATION_NEEDED);
  });

  it('reports a bad checksum, rejects other types and short messages', () => {
    const bytes = fromHex(TTL_EXCEEDED);
    bytes[20] = bytes[20]! ^ 0x40;
    const bad = decodeIcmpError(bytes);
    expect(bad.ok && bad.value.checksumValid).toBe(false);
    const echo = decodeIcmpError(fromHex(ECHO_REQUEST));
    expect(echo.ok ? 'ok' : echo.error.reason).toBe('bad-type');
    for (let cut = 0; cut < 8; cut++) {
      const t = decodeIcmpError(fromHex(TTL_EXCEEDED), 0, cut);
      expect(t.ok ? 'ok' : t.error.reason).toBe('truncated');
    }
  });
});

describe('ICMP properties', () => {
  const echoArb = fc.record({
    icmpType: fc.constantFrom(0 as const, 8 as const),
    code: fc.integer({ min: 0, max: 255 }),
    checksum: fc.integer({ min: 0, max: 0xffff }),
    checksumValid: fc.boolean(),
    identifier: fc.integer({ min: 0, max: 0xffff }),
    sequence: fc.integer({ min: 0, max: 0xffff }),
    data: fc.uint8Array({ maxLength: 64 }),
  });
  const errorArb = fc.record({
    icmpType: fc.constantFrom(3 as const, 11 as const),
    code: fc.integer({ min: 0, max: 255 }),
    checksum: fc.integer({ min: 0, max: 0xffff }),
    checksumValid: fc.boolean(),
    unused: fc.integer({ min: 0, max: 0xffffffff }),
    original: fc.uint8Array({ maxLength: 64 }),
  });

  it('echo: encode -> decode -> encode is the identity at a non-zero offset', () => {
    fc.assert(
      fc.property(echoArb, fc.integer({ min: 1, max: 16 }), (value, pad) => {
        const buffer = new Uint8Array(pad + icmpEchoLength(value) + pad);
        const end = encodeIcmpEcho(value, buffer, pad);
        const r = decodeIcmpEcho(buffer, pad, end);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.next).toBe(end);
        expect(r.value.checksumValid).toBe(true);
        expect({ ...r.value, data: toHex(r.value.data), checksum: 0, checksumValid: true }).toEqual({
          ...value,
          data: toHex(value.data),
          checksum: 0,
          checksumValid: true,
        });
        const again = new Uint8Array(buffer.length);
        encodeIcmpEcho(r.value, again, pad);
        expect(toHex(again)).toBe(toHex(buffer));
      }),
    );
  });

  it('errors: encode -> decode -> encode is the identity at a non-zero offset', () => {
    fc.assert(
      fc.property(errorArb, fc.integer({ min: 1, max: 16 }), (value, pad) => {
        const buffer = new Uint8Array(pad + icmpErrorLength(value));
        const end = encodeIcmpError(value, buffer, pad);
        const r = decodeIcmpError(buffer, pad, end);
        expect(r.ok && r.value.checksumValid).toBe(true);
        if (!r.ok) return;
        expect([r.value.icmpType, r.value.code, r.value.unused, toHex(r.value.original)]).toEqual([
          value.icmpType,
          value.code,
          value.unused,
          toHex(value.original),
        ]);
        const again = new Uint8Array(buffer.length);
        encodeIcmpError(r.value, again, pad);
        expect(toHex(again)).toBe(toHex(buffer));
      }),
    );
  });

  it('random bytes and every truncation decode to a value or a typed error, never throw', () => {
    const fixtures = [ECHO_REQUEST, ECHO_ODD, PORT_UNREACHABLE, FRAGMENTATION_NEEDED, TTL_EXCEEDED].map(fromHex);
    for (const bytes of fixtures) {
      for (let cut = 0; cut <= bytes.length; cut++) {
        for (const decode of [decodeIcmpHeader, decodeIcmpEcho, decodeIcmpError]) {
          const r = decode(bytes, 0, cut);
          if (!r.ok) expect(['truncated', 'bad-type']).toContain(r.error.reason);
        }
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(8), (bytes, start) => {
        const offset = Math.min(start, bytes.length);
        // Plain booleans, not expect(), keep 100000 runs fast.
        return [decodeIcmpHeader, decodeIcmpEcho, decodeIcmpError].every((decode) => {
          const r = decode(bytes, offset);
          return r.ok ? r.next <= bytes.length : r.error.reason === 'truncated' || r.error.reason === 'bad-type';
        });
      }),
      { numRuns: 100_000 },
    );
  });
});
