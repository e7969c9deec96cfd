import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import {
  authenticatedLength,
  computeAuthenticator,
  messageDigest,
  sealAuthenticator,
  verifyAuthenticator,
} from '../../policies/auth.js';

const text = (s: string) => new TextEncoder().encode(s);
const repeat = (byte: number, n: number) => new Uint8Array(n).fill(byte);

// RFC 2202 section 2: the seven HMAC-MD5 test cases.
const rfc2202: Array<[string, Uint8Array, Uint8Array, string]> = [
  ['1', repeat(0x0b, 16), text('Hi There'), '9294727a3638bb1c13f48ef8158bfc9d'],
  ['2', text('Jefe'), text('what do ya want for nothing?'), '750c783e6ab0b503eaa86e310a5db738'],
  ['3', repeat(0xaa, 16), repeat(0xdd, 50), '56be34521d144c88dbb8c733f0e8b3f6'],
  [
    '4',
    fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
    repeat(0xcd, 50),
    '697eaf0aca3a3aea3a75164746ffaa79',
  ],
  ['5', repeat(0x0c, 16), text('Test With Truncation'), '56461ef2342edc00f9bab995690efd4c'],
  [
    '6',
    repeat(0xaa, 80),
    text('Test Using Larger Than Block-Size Key - Hash Key First'),
    '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd',
  ],
  [
    '7',
    repeat(0xaa, 80),
    text('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'),
    '6f630fad67cda0ee1fb1f562db3aa53e',
  ],
];

describe('HMAC-MD5 (RFC 2104)', () => {
  it.each(rfc2202)('[R3.5.1-4] RFC 2202 test case %s', (_n, key, data, digest) => {
    expect(toHex(messageDigest('hmac-md5', key, data))).toBe(digest);
  });
});

describe('keyed MD5 prefix+suffix (5.1)', () => {
  it('computes MD5(key || data || key)', () => {
    // Expected values computed independently with Python's hashlib.
    expect(toHex(messageDigest('keyed-md5', text('Jefe'), text('what do ya want for nothing?')))).toBe(
      '7cc4f53c56c1352098e989529f5db7fc',
    );
    expect(toHex(messageDigest('keyed-md5', fromHex('2b7e'), fromHex('0102')))).toBe(
      'b045036d110f73ad2ee0a21cc7a59be8',
    );
  });

  it('differs from HMAC-MD5 under the same key', () => {
    const key = repeat(7, 16);
    expect(toHex(messageDigest('keyed-md5', key, text('x')))).not.toBe(toHex(messageDigest('hmac-md5', key, text('x'))));
  });
});

describe('authenticator range (3.5.1)', () => {
  // A 24-byte fixed part, a 4-byte skippable extension, then an MHAE at offset 28.
  const message = new Uint8Array(28 + 6 + 16);
  for (let i = 0; i < 28; i++) message[i] = i + 1;
  message.set([32, 20, 0, 0, 0x10, 0x00], 28);
  const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');

  it('[R3.5.1-1] covers the message, prior extensions and the Type, Length, SPI of the extension, not the authenticator', () => {
    expect(authenticatedLength(28)).toBe(34);
    sealAuthenticator('hmac-md5', key, message, 28);
    expect(toHex(message.subarray(34))).toBe(toHex(messageDigest('hmac-md5', key, message.subarray(0, 34))));
    // Changing a byte inside the covered range breaks verification; the authenticator itself
    // is outside the range, so re-sealing over a tampered authenticator restores it.
    const ext = { offset: 28, authenticator: message.subarray(34) };
    expect(verifyAuthenticator('hmac-md5', key, message, ext)).toBe(true);
    const tampered = message.slice();
    tampered[30] ^= 1; // inside the SPI
    expect(verifyAuthenticator('hmac-md5', key, tampered, { offset: 28, authenticator: tampered.subarray(34) })).toBe(false);
    const tampered2 = message.slice();
    tampered2[5] ^= 0x80; // inside the fixed part
    expect(verifyAuthenticator('hmac-md5', key, tampered2, { offset: 28, authenticator: tampered2.subarray(34) })).toBe(false);
  });

  it('[R3.5.1-3] any SPI works with either algorithm, and the algorithms do not verify each other', () => {
    const m = message.slice();
    sealAuthenticator('keyed-md5', key, m, 28);
    const ext = { offset: 28, authenticator: m.subarray(34) };
    expect(verifyAuthenticator('keyed-md5', key, m, ext)).toBe(true);
    expect(verifyAuthenticator('hmac-md5', key, m, ext)).toBe(false);
  });

  it('rejects an authenticator of the wrong length and an extension beyond the message', () => {
    sealAuthenticator('hmac-md5', key, message, 28);
    expect(verifyAuthenticator('hmac-md5', key, message, { offset: 28, authenticator: message.subarray(34, 49) })).toBe(false);
    expect(verifyAuthenticator('hmac-md5', key, message, { offset: 48, authenticator: new Uint8Array(16) })).toBe(false);
    expect(() => computeAuthenticator('hmac-md5', key, message, 48)).toThrow(RangeError);
  });
});

describe('prepared keys', () => {
  it('a key array whose bytes change between messages authenticates with the new bytes', () => {
    const key = new Uint8Array(16).fill(0x11);
    const message = new Uint8Array(28 + 6 + 16);
    message.set([32, 20, 0, 0, 0x10, 0x00], 28);
    const first = toHex(computeAuthenticator('hmac-md5', key, message, 28));
    key[5] = 0x12;
    const second = toHex(computeAuthenticator('hmac-md5', key, message, 28));
    expect(second).not.toBe(first);
    expect(second).toBe(toHex(messageDigest('hmac-md5', key, message.subarray(0, 34))));
  });
});
