import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { hexPrefix, ipv4ToString, parseHex, parseIpv4, toHex } from '../../io/wire/bytes.js';

// parseIpv4 and parseHex read every address and key of a configuration file (a million of
// each): they are character loops. Their definition is the plain one below; the loops must
// agree with it on every input.

function ipv4ByDefinition(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((value, p) => value * 256 + Number(p), 0);
}

function hexByDefinition(text: string): number[] | undefined {
  const clean = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return undefined;
  return Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
}

const ipv4Like = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 17 }),
  fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((p) => p.join('.')),
  fc.string({ maxLength: 17 }),
);

describe('dotted-quad and hex parsing', () => {
  it('parseIpv4 agrees with the definition: four parts 0-255, no leading zeros, nothing else', () => {
    fc.assert(
      fc.property(ipv4Like, (text) => {
        expect(parseIpv4(text), text).toBe(ipv4ByDefinition(text));
      }),
      { numRuns: 20_000 },
    );
    for (const text of ['0.0.0.0', '255.255.255.255', '198.51.100.1', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.4.5', '', '1.2.3.1000', ' 1.2.3.4']) {
      expect(parseIpv4(text), text).toBe(ipv4ByDefinition(text));
    }
    fc.assert(
      fc.property(fc.nat(0xffffffff), (a) => {
        expect(parseIpv4(ipv4ToString(a))).toBe(a);
      }),
    );
  });

  it('parseHex agrees with the definition: pairs of hex digits, a 0x prefix, spaces and colons allowed', () => {
    const hexLike = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFgx: \t'), maxLength: 20 }),
      fc.string({ maxLength: 10 }),
      fc.uint8Array({ maxLength: 20 }).map(toHex),
    );
    fc.assert(
      fc.property(hexLike, (text) => {
        const parsed = parseHex(text);
        expect(parsed === undefined ? undefined : [...parsed]).toStrictEqual(hexByDefinition(text));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('hexPrefix (a discarded datagram in a log line)', () => {
  it('shows the first bytes in hex and marks what it left out', () => {
    expect(hexPrefix(new Uint8Array([1, 0xab]))).toBe('01ab');
    expect(hexPrefix(new Uint8Array(128).fill(0xff))).toBe('ff'.repeat(128));
    expect(hexPrefix(new Uint8Array(129).fill(0xff))).toBe(`${'ff'.repeat(128)}...`);
    expect(hexPrefix(new Uint8Array([1, 2, 3]), 2)).toBe('0102...');
  });
});
