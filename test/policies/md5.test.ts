import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../io/wire/bytes.js';
import { HmacMd5Key, hmacMd5, hmacMd5Into, md5, md5Concat } from '../../policies/md5.js';

const text = (s: string) => new TextEncoder().encode(s);
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

describe('MD5 (RFC 1321)', () => {
  // RFC 1321 A.5, the test suite.
  it.each([
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ])('RFC 1321 A.5: MD5(%j)', (input, digest) => {
    expect(toHex(md5(text(input)))).toBe(digest);
  });

  it('equals node:crypto on every length around the block and padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      expect(toHex(md5(data))).toBe(createHash('md5').update(data).digest('hex'));
    }
  });

  it('hashes a concatenation like the joined bytes', () => {
    fc.assert(
      fc.property(bytes(80), bytes(80), bytes(80), (a, b, c) => {
        expect(toHex(md5Concat([a, b, c]))).toBe(createHash('md5').update(a).update(b).update(c).digest('hex'));
      }),
    );
  });
});

describe('HMAC-MD5 (RFC 2104)', () => {
  it('equals node:crypto for random keys (shorter and longer than a block) and messages', () => {
    fc.assert(
      fc.property(bytes(150), bytes(300), (key, data) => {
        const reference = createHmac('md5', key).update(data).digest('hex');
        expect(toHex(hmacMd5(key, data))).toBe(reference);
        const prepared = new HmacMd5Key(key);
        const out = new Uint8Array(20);
        prepared.digestInto(data, 0, data.length, out, 4);
        expect(toHex(out.subarray(4))).toBe(reference);
      }),
      { numRuns: 500 },
    );
  });

  it('digests a sub-range of the data and writes at an offset without touching the rest', () => {
    fc.assert(
      fc.property(bytes(40), bytes(200), fc.nat(), fc.nat(), (key, data, a, b) => {
        const start = data.length === 0 ? 0 : a % data.length;
        const end = start + (data.length === start ? 0 : b % (data.length - start));
        const out = new Uint8Array(24).fill(0xee);
        hmacMd5Into(key, data, start, end, out, 3);
        expect(toHex(out.subarray(3, 19))).toBe(createHmac('md5', key).update(data.subarray(start, end)).digest('hex'));
        expect([...out.subarray(0, 3), ...out.subarray(19)].every((x) => x === 0xee)).toBe(true);
      }),
    );
  });

  it('a prepared key keeps its own copy: changing the caller\'s array afterwards changes nothing', () => {
    const key = new Uint8Array(16).fill(1);
    const prepared = new HmacMd5Key(key);
    const before = createHmac('md5', key).digest('hex');
    key[0] = 2;
    expect(prepared.matches(key)).toBe(false);
    const out = new Uint8Array(16);
    prepared.digestInto(new Uint8Array(0), 0, 0, out, 0);
    expect(toHex(out)).toBe(before);
  });
});
