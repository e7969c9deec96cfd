/**
 * Hex fixtures for the registration codecs, written from the layouts of RFC 5944 3.3
 * (Request), 3.4 (Reply), 1.8-1.11 (extension formats), 3.5.2-3.5.4 (authentication
 * extensions), 5.7.1 (NTP Identification) and RFC 2794 (NAI extension).
 */
import { describe, expect, it } from 'vitest';
import { EncodeError, encodeToBytes } from '../../io/wire/codec.js';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  compareIdentification,
  identificationFromHex,
  identificationFromUnixMs,
  identificationToHex,
  identificationToUnixMs,
  NTP_UNIX_OFFSET_SECONDS,
  parseIdentificationHex,
  readIdentification,
  writeIdentification,
} from '../../io/wire/identification.js';
import {
  decodeRegistrationMessage,
  decodeRegistrationReply,
  decodeRegistrationRequest,
  encodeRegistrationReply,
  encodeRegistrationRequest,
  extensionLengthField,
  flagsFromBits,
  registrationMessageCodec,
  registrationReplyCodec,
  registrationRequestCodec,
  registrationRequestLength,
  requestFlagBits,
  unrecognizedNonSkippableExtension,
  type RegistrationDecodeOptions,
} from '../../io/wire/registration.js';
import { registrationFromJson, registrationToJson } from '../../io/wire/registration-json.js';
import type {
  RegistrationExtension,
  RegistrationReply,
  RegistrationRequest,
  UnknownExtension,
} from '../../io/wire/registration-types.js';
import {
  isAcceptedCode,
  isForeignAgentCode,
  isHomeAgentCode,
  ReplyCode,
  replyCodeText,
} from '../../io/wire/reply-codes.js';

/** Hex with `#` comments to the end of the line, for fixtures laid out field by field. */
function hex(text: string): Uint8Array {
  return fromHex(text.replace(/#.*$/gm, ''));
}

const AUTHENTICATOR_16 = '000102030405060708090a0b0c0d0e0f';

/** A Request with one extension of each interpreted kind and a skippable unknown one. */
const REQUEST_HEX = `
  01                   # Type 1 (Registration Request)
  a2                   # S, D and T set (3.3)
  0e10                 # Lifetime 3600
  c0000202             # Home Address 192.0.2.2
  c0000201             # Home Agent 192.0.2.1
  cb007101             # Care-of Address 203.0.113.1
  e93c7f00 00000001    # Identification
  00                   # @24 One-byte Padding: Type only (1.8)
  83 03 614062         # @25 NAI (RFC 2794), Length 3, "a@b"
  c8 02 beef           # @30 type 200 (skippable, unknown): TLV, Length 2 (1.9)
  20 14 00001000 ${AUTHENTICATOR_16} # @34 MHAE, Length 20, SPI 4096 (3.5.2)
  21 08 00000200 aabbccdd            # @56 MFAE, Length 8, 4-byte authenticator (3.5.3)
`;
const REQUEST_EXTENSION_OFFSETS = [24, 25, 30, 34, 56];
const REQUEST_LENGTH = 66;

const REQUEST_VALUE: RegistrationRequest = {
  type: 1,
  flags: 0xa2,
  lifetime: 3600,
  homeAddress: ipv4('192.0.2.2'),
  homeAgent: ipv4('192.0.2.1'),
  careOfAddress: ipv4('203.0.113.1'),
  identification: { high: 0xe93c7f00, low: 1 },
  extensions: [
    { kind: 'pad', type: 0, offset: 24 },
    { kind: 'nai', type: 131, offset: 25, nai: 'a@b' },
    { kind: 'unknown', type: 200, offset: 30, skippable: true, format: 'tlv', data: fromHex('beef') },
    { kind: 'auth', type: 32, offset: 34, spi: 4096, authenticator: fromHex(AUTHENTICATOR_16) },
    { kind: 'auth', type: 33, offset: 56, spi: 512, authenticator: fromHex('aabbccdd') },
  ],
};

const REPLY_HEX = `
  03                   # Type 3 (Registration Reply)
  85                   # Code 133
  0708                 # Lifetime 1800
  c633640a             # Home Address 198.51.100.10
  c6336401             # Home Agent 198.51.100.1
  e93c7f03 77777777    # Identification
  22 04 00000300       # @20 FHAE, Length 4: SPI only, empty authenticator (3.5.4)
`;

const REPLY_VALUE: RegistrationReply = {
  type: 3,
  code: 133,
  lifetime: 1800,
  homeAddress: ipv4('198.51.100.10'),
  homeAgent: ipv4('198.51.100.1'),
  identification: { high: 0xe93c7f03, low: 0x77777777 },
  extensions: [{ kind: 'auth', type: 34, offset: 20, spi: 768, authenticator: new Uint8Array(0) }],
};

/** The fixed part of a Request (3.3) with flags 0 and the given extension bytes. */
function requestWith(extensionsHex: string): Uint8Array {
  return hex(`01 00 0708 c633640a c6336401 cb00714d e93c7f0000000001 ${extensionsHex}`);
}

function expectError(result: { ok: boolean }, reason: string, offset: number): void {
  expect(result).toMatchObject({ ok: false, error: { reason, offset } });
}

describe('Registration Request (3.3)', () => {
  it('decodes every field and each extension with its offset from the message start', () => {
    const bytes = hex(REQUEST_HEX);
    expect(bytes.length).toBe(REQUEST_LENGTH);
    const result = decodeRegistrationRequest(bytes);
    expect(result).toEqual({ ok: true, value: REQUEST_VALUE, next: REQUEST_LENGTH });
  });

  it('encodes the same bytes, and registrationRequestLength is exact', () => {
    expect(registrationRequestLength(REQUEST_VALUE)).toBe(REQUEST_LENGTH);
    expect(toHex(encodeToBytes(registrationRequestCodec, REQUEST_VALUE))).toBe(toHex(hex(REQUEST_HEX)));
  });

  it('decodes at a non-zero offset: the message ends at `end` (1.8), offsets stay message-relative', () => {
    const message = hex(REQUEST_HEX);
    const buffer = new Uint8Array(7 + message.length + 5).fill(0xee);
    buffer.set(message, 7);
    const result = decodeRegistrationRequest(buffer, 7, 7 + message.length);
    expect(result).toEqual({ ok: true, value: REQUEST_VALUE, next: 7 + message.length });
  });

  it('returns views into the input, not copies', () => {
    const bytes = hex(REQUEST_HEX);
    const result = decodeRegistrationRequest(bytes);
    if (!result.ok) throw new Error(result.error.message);
    const mhae = result.value.extensions[3];
    if (mhae?.kind !== 'auth') throw new Error('expected the MHAE');
    expect(mhae.authenticator.buffer).toBe(bytes.buffer);
    expect(mhae.authenticator.byteOffset).toBe(bytes.byteOffset + 40);
  });

  it('keeps the reserved bits r and x as received and writes them back (3.3: agents ignore them)', () => {
    const bytes = requestWith('');
    bytes[1] = 0x05; // r and x
    const result = decodeRegistrationRequest(bytes);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.flags).toBe(0x05);
    expect(requestFlagBits(result.value.flags)).toEqual({
      S: false, B: false, D: false, M: false, G: false, r: true, T: false, x: true,
    });
    expect(encodeToBytes(registrationRequestCodec, result.value)[1]).toBe(0x05);
  });

  it('names each flag bit in the order S B D M G r T x, most significant first', () => {
    const names = ['S', 'B', 'D', 'M', 'G', 'r', 'T', 'x'] as const;
    names.forEach((name, index) => {
      const flags = 0x80 >> index;
      const bits = requestFlagBits(flags);
      expect(Object.keys(bits)).toEqual([...names]);
      for (const other of names) expect(bits[other]).toBe(other === name);
      expect(flagsFromBits({ [name]: true })).toBe(flags);
    });
    expect(flagsFromBits(requestFlagBits(0xff))).toBe(0xff);
    expect(flagsFromBits({})).toBe(0);
  });

  it('decodes a Request without extensions (requiring the MHAE is the home agent\'s decision)', () => {
    const result = decodeRegistrationRequest(requestWith(''));
    expect(result).toMatchObject({ ok: true, value: { extensions: [] }, next: 24 });
  });

  it('rejects any Type but 1 with bad-type', () => {
    for (const type of [0, 2, 3, 255]) {
      const bytes = requestWith('');
      bytes[0] = type;
      expectError(decodeRegistrationRequest(bytes), 'bad-type', 0);
    }
  });

  it('reports truncated for every length of the fixed part from 0 to 23 bytes', () => {
    const bytes = requestWith('');
    for (let end = 0; end < 24; end++) {
      expectError(decodeRegistrationRequest(bytes, 0, end), 'truncated', 0);
    }
  });

  it('cut at every offset: a value at extension boundaries, otherwise truncated at the cut extension', () => {
    const message = hex(REQUEST_HEX);
    const start = 5;
    const buffer = new Uint8Array(start + message.length + 3).fill(0x99);
    buffer.set(message, start);
    for (let length = 0; length < message.length; length++) {
      const result = decodeRegistrationRequest(buffer, start, start + length);
      const complete = REQUEST_EXTENSION_OFFSETS.indexOf(length);
      if (length < 24) {
        expectError(result, 'truncated', start);
      } else if (complete >= 0) {
        expect(result).toEqual({
          ok: true,
          value: { ...REQUEST_VALUE, extensions: REQUEST_VALUE.extensions.slice(0, complete) },
          next: start + length,
        });
      } else {
        const cut = Math.max(...REQUEST_EXTENSION_OFFSETS.filter((offset) => offset < length));
        expectError(result, 'truncated', start + cut);
      }
    }
  });

  it('reports a decode range outside the buffer as truncated instead of reading past it', () => {
    const bytes = hex(REQUEST_HEX);
    expectError(decodeRegistrationRequest(bytes, 0, bytes.length + 1), 'truncated', 0);
    expectError(decodeRegistrationRequest(bytes, -1), 'truncated', 0);
    expectError(decodeRegistrationRequest(bytes, bytes.length), 'truncated', bytes.length);
    expectError(decodeRegistrationRequest(bytes, 10, 4), 'truncated', 10);
  });
});

describe('Registration Reply (3.4)', () => {
  it('decodes every field', () => {
    expect(decodeRegistrationReply(hex(REPLY_HEX))).toEqual({ ok: true, value: REPLY_VALUE, next: 26 });
  });

  it('encodes the same bytes', () => {
    expect(toHex(encodeToBytes(registrationReplyCodec, REPLY_VALUE))).toBe(toHex(hex(REPLY_HEX)));
  });

  it('keeps a code 3.4 does not list so that it round-trips', () => {
    const bytes = hex(REPLY_HEX);
    bytes[1] = 99;
    const result = decodeRegistrationReply(bytes);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.code).toBe(99);
    expect(toHex(encodeToBytes(registrationReplyCodec, result.value))).toBe(toHex(bytes));
  });

  it('rejects any Type but 3, and fixed parts shorter than 20 bytes', () => {
    const bytes = hex(REPLY_HEX);
    bytes[0] = 1;
    expectError(decodeRegistrationReply(bytes), 'bad-type', 0);
    for (let end = 1; end < 20; end++) expectError(decodeRegistrationReply(hex(REPLY_HEX), 0, end), 'truncated', 0);
  });
});

describe('decodeRegistrationMessage', () => {
  it('dispatches on the Type byte: 1 = Request, 3 = Reply (1.8)', () => {
    expect(decodeRegistrationMessage(hex(REQUEST_HEX), 0, REQUEST_LENGTH)).toEqual(decodeRegistrationRequest(hex(REQUEST_HEX)));
    expect(decodeRegistrationMessage(hex(REPLY_HEX), 0, 26)).toEqual(decodeRegistrationReply(hex(REPLY_HEX)));
  });

  it('reports every other Type as bad-type, and an empty range as truncated', () => {
    for (const type of [0, 2, 4, 13, 255]) {
      const bytes = requestWith('');
      bytes[0] = type;
      expect(decodeRegistrationMessage(bytes, 0, bytes.length)).toMatchObject({
        ok: false,
        error: { reason: 'bad-type', offset: 0, layer: 'registration' },
      });
    }
    expectError(decodeRegistrationMessage(new Uint8Array(4), 2, 2), 'truncated', 2);
  });

  it('encodes either message through registrationMessageCodec', () => {
    expect(toHex(encodeToBytes(registrationMessageCodec, REQUEST_VALUE))).toBe(toHex(hex(REQUEST_HEX)));
    expect(toHex(encodeToBytes(registrationMessageCodec, REPLY_VALUE))).toBe(toHex(hex(REPLY_HEX)));
  });
});

describe('extensions (1.8-1.11, 3.5)', () => {
  function extensionsOf(bytes: Uint8Array, options?: RegistrationDecodeOptions): readonly RegistrationExtension[] {
    const result = decodeRegistrationRequest(bytes, 0, bytes.length, options);
    if (!result.ok) throw new Error(result.error.message);
    return result.value.extensions;
  }

  function roundTrips(bytes: Uint8Array, options?: RegistrationDecodeOptions): void {
    const result = decodeRegistrationRequest(bytes, 0, bytes.length, options);
    if (!result.ok) throw new Error(result.error.message);
    expect(toHex(encodeToBytes(registrationRequestCodec, result.value))).toBe(toHex(bytes));
  }

  it('reads consecutive one-byte pads, which have no Length (1.8)', () => {
    const bytes = requestWith('00 00 00');
    expect(extensionsOf(bytes)).toEqual([
      { kind: 'pad', type: 0, offset: 24 },
      { kind: 'pad', type: 0, offset: 25 },
      { kind: 'pad', type: 0, offset: 26 },
    ]);
    roundTrips(bytes);
  });

  it('reads the three authentication extensions: Type, Length = 4 + authenticator, SPI (3.5.2-3.5.4)', () => {
    const bytes = requestWith(`20 14 00001000 ${AUTHENTICATOR_16}  21 05 00000200 ab  22 04 ffffffff`);
    expect(extensionsOf(bytes)).toEqual([
      { kind: 'auth', type: 32, offset: 24, spi: 4096, authenticator: fromHex(AUTHENTICATOR_16) },
      { kind: 'auth', type: 33, offset: 46, spi: 512, authenticator: fromHex('ab') },
      { kind: 'auth', type: 34, offset: 53, spi: 0xffffffff, authenticator: new Uint8Array(0) },
    ]);
    roundTrips(bytes);
  });

  it('[R1.6-2] rejects an authentication extension whose Length cannot hold its SPI with bad-length', () => {
    for (const type of ['20', '21', '22']) {
      for (let length = 0; length < 4; length++) {
        const bytes = requestWith(`00 ${type} 0${length} 00000000 00000000`);
        expectError(decodeRegistrationRequest(bytes), 'bad-length', 26);
      }
    }
  });

  it('reads the NAI as UTF-8 (RFC 2794), multi-byte characters and a leading BOM included', () => {
    const bytes = requestWith('83 0f 6d6e31406578616d706c652e6f7267  83 06 efbbbf c3bc 41');
    expect(extensionsOf(bytes)).toEqual([
      { kind: 'nai', type: 131, offset: 24, nai: 'mn1@example.org' },
      { kind: 'nai', type: 131, offset: 41, nai: '\ufeffüA' },
    ]);
    roundTrips(bytes);
    expect(extensionLengthField({ kind: 'nai', type: 131, offset: 0, nai: '\ufeffüA😀' })).toBe(10);
  });

  it('keeps an NAI that is not UTF-8 as a skippable TLV so that the message still round-trips', () => {
    const bytes = requestWith('83 03 61ff62  83 02 eda0');
    expect(extensionsOf(bytes)).toEqual([
      { kind: 'unknown', type: 131, offset: 24, skippable: true, format: 'tlv', data: fromHex('61ff62') },
      { kind: 'unknown', type: 131, offset: 29, skippable: true, format: 'tlv', data: fromHex('eda0') },
    ]);
    roundTrips(bytes);
  });

  it('[R1.8-2] skips an unrecognised type 128-255 by its Length and still processes the extensions after it', () => {
    const bytes = requestWith(`fe 03 010203  c8 00  20 14 00001000 ${AUTHENTICATOR_16}`);
    const extensions = extensionsOf(bytes);
    expect(extensions).toEqual([
      { kind: 'unknown', type: 254, offset: 24, skippable: true, format: 'tlv', data: fromHex('010203') },
      { kind: 'unknown', type: 200, offset: 29, skippable: true, format: 'tlv', data: new Uint8Array(0) },
      { kind: 'auth', type: 32, offset: 31, spi: 4096, authenticator: fromHex(AUTHENTICATOR_16) },
    ]);
    expect(unrecognizedNonSkippableExtension(extensions)).toBeUndefined();
    roundTrips(bytes);
  });

  it('[R1.8-1] flags an unrecognised type 0-127 for silent discard and parses nothing after it as extensions', () => {
    // Type 100's layout is unknown, so the MHAE after it cannot be told apart from its data.
    const bytes = requestWith(`00  64 02 0102  20 14 00001000 ${AUTHENTICATOR_16}`);
    const extensions = extensionsOf(bytes);
    const unknown: UnknownExtension = {
      kind: 'unknown',
      type: 100,
      offset: 25,
      skippable: false,
      format: 'rest',
      data: bytes.subarray(26),
    };
    expect(extensions).toEqual([{ kind: 'pad', type: 0, offset: 24 }, unknown]);
    expect(unrecognizedNonSkippableExtension(extensions)).toEqual(unknown);
    roundTrips(bytes);
    // Declaring its layout lets the codec read past it, but it is still not recognised.
    const declared = extensionsOf(bytes, { extensionFormats: new Map([[100, 'tlv']]) });
    expect(declared.map((extension) => extension.kind)).toEqual(['pad', 'unknown', 'auth']);
    expect(unrecognizedNonSkippableExtension(declared)).toMatchObject({ type: 100, format: 'tlv', skippable: false });
  });

  it('[R1.11-1] reads and writes the short format with Length = 1 + data length', () => {
    const options: RegistrationDecodeOptions = { extensionFormats: new Map([[150, 'short'], [60, 'short']]) };
    const bytes = requestWith('96 03 07 aabb  3c 01 09');
    expect(extensionsOf(bytes, options)).toEqual([
      { kind: 'unknown', type: 150, offset: 24, skippable: true, format: 'short', subType: 7, data: fromHex('aabb') },
      { kind: 'unknown', type: 60, offset: 29, skippable: false, format: 'short', subType: 9, data: new Uint8Array(0) },
    ]);
    roundTrips(bytes, options);
    const value: RegistrationRequest = {
      ...REQUEST_VALUE,
      extensions: [{ kind: 'unknown', type: 150, offset: 0, skippable: true, format: 'short', subType: 1, data: new Uint8Array(5) }],
    };
    expect(encodeToBytes(registrationRequestCodec, value)[25]).toBe(6);
    // Length 0 leaves no room for the Sub-Type.
    expectError(decodeRegistrationRequest(requestWith('96 00'), 0, 26, options), 'bad-length', 25);
  });

  it('reads and writes the long format: Type, Sub-Type, 16-bit Length, data beyond 255 bytes (1.10)', () => {
    const options: RegistrationDecodeOptions = { extensionFormats: new Map([[40, 'long']]) };
    const data = new Uint8Array(300).map((_, index) => index & 0xff);
    const bytes = requestWith(`28 05 012c ${toHex(data)}  28 06 0000`);
    expect(extensionsOf(bytes, options)).toEqual([
      { kind: 'unknown', type: 40, offset: 24, skippable: false, format: 'long', subType: 5, data },
      { kind: 'unknown', type: 40, offset: 328, skippable: false, format: 'long', subType: 6, data: new Uint8Array(0) },
    ]);
    roundTrips(bytes, options);
    expectError(decodeRegistrationRequest(requestWith('28 05 01'), 0, 27, options), 'truncated', 24);
    expectError(decodeRegistrationRequest(requestWith('28 05 0003 aabb'), 0, 30, options), 'truncated', 24);
  });

  it('ignores a long-format declaration for a skippable type: those are read as TLV (1.10)', () => {
    const bytes = requestWith('c8 02 0001');
    expect(extensionsOf(bytes, { extensionFormats: new Map([[200, 'long']]) })).toEqual([
      { kind: 'unknown', type: 200, offset: 24, skippable: true, format: 'tlv', data: fromHex('0001') },
    ]);
  });

  it('does not let a declaration change the layout of the types it interprets', () => {
    const bytes = requestWith(`00 20 14 00001000 ${AUTHENTICATOR_16} 83 01 61`);
    const formats = new Map([[0, 'tlv'], [32, 'long'], [131, 'short']] as const);
    expect(extensionsOf(bytes, { extensionFormats: formats })).toEqual(extensionsOf(bytes));
  });

  it('reports a Length running past the end as truncated at the extension', () => {
    expectError(decodeRegistrationRequest(requestWith('00 c8 05 0102')), 'truncated', 25);
    expectError(decodeRegistrationRequest(requestWith('00 83 04 616263')), 'truncated', 25);
    expectError(decodeRegistrationRequest(requestWith('00 20 14 00001000 0001')), 'truncated', 25);
    expectError(decodeRegistrationRequest(requestWith('00 20')), 'truncated', 25);
    const shortFormat = { extensionFormats: new Map([[150, 'short']] as const) };
    expectError(decodeRegistrationRequest(requestWith('00 96 04 01 0203'), 0, 30, shortFormat), 'truncated', 25);
  });

  it('gives extension offsets from the message start when the extensions follow a Reply', () => {
    const bytes = hex(`${REPLY_HEX} 00 c8 00 20 04 00000100`);
    const result = decodeRegistrationReply(bytes);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.extensions.map((extension) => extension.offset)).toEqual([20, 26, 27, 29]);
  });
});

describe('encoders', () => {
  const withExtensions = (extensions: RegistrationExtension[]): RegistrationRequest => ({ ...REQUEST_VALUE, extensions });

  it('write every unknown format back as it was read', () => {
    const value = withExtensions([
      { kind: 'unknown', type: 200, offset: 0, skippable: true, format: 'tlv', data: fromHex('01') },
      { kind: 'unknown', type: 150, offset: 0, skippable: true, format: 'short', subType: 2, data: fromHex('03') },
      { kind: 'unknown', type: 40, offset: 0, skippable: false, format: 'long', subType: 4, data: fromHex('05') },
      { kind: 'unknown', type: 100, offset: 0, skippable: false, format: 'rest', data: fromHex('0607') },
    ]);
    const bytes = encodeToBytes(registrationRequestCodec, value);
    expect(toHex(bytes.subarray(24))).toBe('c80101' + '96020203' + '2804000105' + '640607');
  });

  it('throw EncodeError on values that cannot be encoded', () => {
    const cases: RegistrationRequest[] = [
      { ...REQUEST_VALUE, flags: 0x100 },
      { ...REQUEST_VALUE, lifetime: 0x10000 },
      { ...REQUEST_VALUE, careOfAddress: -1 },
      { ...REQUEST_VALUE, identification: { high: 2 ** 32, low: 0 } },
      withExtensions([{ kind: 'auth', type: 32, offset: 0, spi: 1, authenticator: new Uint8Array(252) }]),
      withExtensions([{ kind: 'auth', type: 32, offset: 0, spi: 2 ** 32, authenticator: new Uint8Array(16) }]),
      withExtensions([{ kind: 'nai', type: 131, offset: 0, nai: 'ü'.repeat(128) }]),
      withExtensions([{ kind: 'unknown', type: 200, offset: 0, skippable: true, format: 'tlv', data: new Uint8Array(256) }]),
      withExtensions([{ kind: 'unknown', type: 150, offset: 0, skippable: true, format: 'short', subType: 1, data: new Uint8Array(255) }]),
      withExtensions([{ kind: 'unknown', type: 40, offset: 0, skippable: false, format: 'long', subType: 1, data: new Uint8Array(65536) }]),
      withExtensions([{ kind: 'unknown', type: 40, offset: 0, skippable: false, format: 'long', data: new Uint8Array(1) }]),
      withExtensions([{ kind: 'unknown', type: 256, offset: 0, skippable: true, format: 'tlv', data: new Uint8Array(1) }]),
      withExtensions([
        { kind: 'unknown', type: 100, offset: 0, skippable: false, format: 'rest', data: new Uint8Array(1) },
        { kind: 'pad', type: 0, offset: 0 },
      ]),
    ];
    cases.forEach((value, index) => {
      expect(() => encodeRegistrationRequest(value, new Uint8Array(70000)), `case ${index}`).toThrow(EncodeError);
    });
    expect(() => encodeRegistrationReply({ ...REPLY_VALUE, code: 256 }, new Uint8Array(100))).toThrow(EncodeError);
  });

  it('accept the largest values each Length allows', () => {
    const value = withExtensions([
      { kind: 'auth', type: 32, offset: 0, spi: 1, authenticator: new Uint8Array(251) },
      { kind: 'nai', type: 131, offset: 0, nai: 'n'.repeat(255) },
      { kind: 'unknown', type: 150, offset: 0, skippable: true, format: 'short', subType: 1, data: new Uint8Array(254) },
    ]);
    const bytes = encodeToBytes(registrationRequestCodec, value);
    expect([bytes[25], bytes[24 + 257 + 1], bytes[24 + 257 + 257 + 1]]).toEqual([255, 255, 255]);
    const result = decodeRegistrationRequest(bytes);
    expect(result.ok).toBe(true);
  });

  it('throw EncodeError when the buffer is too small, writing nothing', () => {
    const buffer = new Uint8Array(REQUEST_LENGTH + 2);
    expect(() => encodeRegistrationRequest(REQUEST_VALUE, buffer, 3)).toThrow(EncodeError);
    expect(buffer.every((byte) => byte === 0)).toBe(true);
    expect(encodeRegistrationRequest(REQUEST_VALUE, buffer, 2)).toBe(REQUEST_LENGTH + 2);
  });
});

describe('Identification (5.7.1 NTP timestamps)', () => {
  it('counts seconds from 1900: 2024-01-01T00:00:00Z is 3913056000 (the vectors\' time base)', () => {
    expect(NTP_UNIX_OFFSET_SECONDS).toBe(2208988800);
    expect(identificationFromUnixMs(Date.UTC(2024, 0, 1))).toEqual({ high: 3913056000, low: 0 });
    expect(identificationFromUnixMs(0)).toEqual({ high: 2208988800, low: 0 });
  });

  it('puts the fraction of a second in the low word, in units of 2^-32 s', () => {
    expect(identificationFromUnixMs(Date.UTC(2024, 0, 1) + 500)).toEqual({ high: 3913056000, low: 0x80000000 });
    expect(identificationFromUnixMs(Date.UTC(2024, 0, 1) + 250).low).toBe(0x40000000);
    expect(identificationToUnixMs({ high: 3913056000, low: 0xc0000000 })).toBe(Date.UTC(2024, 0, 1) + 750);
  });

  it('fills only the bits below one millisecond from lowBits, keeping the time and the order', () => {
    const base = Date.UTC(2024, 0, 1);
    for (const millis of [0, 1, 7, 125, 500, 998, 999]) {
      const plain = identificationFromUnixMs(base + millis);
      const random = identificationFromUnixMs(base + millis, 0xffffffff);
      expect(random.low - plain.low).toBe(0x3fffff);
      expect(identificationToUnixMs(random)).toBe(base + millis);
      expect(identificationToUnixMs(plain)).toBe(base + millis);
      expect(compareIdentification(random, identificationFromUnixMs(base + millis + 1))).toBe(-1);
    }
  });

  it('reads the top bit of the seconds as the NTP era: clear means 2036-2104 (RFC 4330 3)', () => {
    const eraOne = Date.UTC(2036, 1, 7, 6, 28, 16); // 2^32 seconds after 1900
    expect(identificationFromUnixMs(eraOne)).toEqual({ high: 0, low: 0 });
    expect(identificationToUnixMs({ high: 0, low: 0 })).toBe(eraOne);
    const late = Date.UTC(2100, 0, 1, 12, 0, 0, 321);
    expect(identificationToUnixMs(identificationFromUnixMs(late))).toBe(late);
    const early = Date.UTC(1970, 0, 1);
    expect(identificationToUnixMs(identificationFromUnixMs(early))).toBe(early);
  });

  it('orders Identifications as unsigned 64-bit numbers', () => {
    expect(compareIdentification({ high: 0x80000000, low: 0 }, { high: 0x7fffffff, low: 0xffffffff })).toBe(1);
    expect(compareIdentification({ high: 5, low: 0x80000000 }, { high: 5, low: 1 })).toBe(1);
    expect(compareIdentification({ high: 5, low: 1 }, { high: 5, low: 0xffffffff })).toBe(-1);
    expect(compareIdentification({ high: 5, low: 1 }, { high: 5, low: 1 })).toBe(0);
  });

  it('writes and parses 16 hex digits, high word first', () => {
    expect(identificationToHex({ high: 0xe93c7f00, low: 1 })).toBe('e93c7f0000000001');
    expect(identificationToHex({ high: 0, low: 0xabcd })).toBe('000000000000abcd');
    expect(identificationFromHex('e93c7f050000ABCD')).toEqual({ high: 0xe93c7f05, low: 0xabcd });
    for (const bad of ['e93c7f050000abc', 'e93c7f050000abcde', 'g93c7f050000abcd', '']) {
      expect(parseIdentificationHex(bad)).toBeUndefined();
      expect(() => identificationFromHex(bad)).toThrow(EncodeError);
    }
  });

  it('reads and writes the 8 bytes big-endian', () => {
    const bytes = new Uint8Array(10);
    writeIdentification(bytes, 1, { high: 0x01020304, low: 0xf5f6f7f8 });
    expect(toHex(bytes)).toBe('0001020304f5f6f7f800');
    expect(readIdentification(bytes, 1)).toEqual({ high: 0x01020304, low: 0xf5f6f7f8 });
  });
});

describe('reply codes (3.4, 6.4)', () => {
  const listed = [0, 1, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 77, 78, 80, 81, 82, 88, 194,
    128, 129, 130, 131, 132, 133, 134, 135, 136];

  it('names every code 3.4 lists, and only those plus the codes of RFC 3024 3.4 and RFC 3519', () => {
    const otherRfcs = new Set<number>([74, 75, 76, 79, 137, 138, 139, 142]);
    expect(Object.values(ReplyCode).filter((code) => !otherRfcs.has(code)).sort((a, b) => a - b)).toEqual([...listed].sort((a, b) => a - b));
    expect(replyCodeText(137)).toBe('HA: requested reverse tunnel unavailable');
    expect(ReplyCode.IdentificationMismatch).toBe(133);
    expect(ReplyCode.FaPoorlyFormedRequest).toBe(70);
    expect(ReplyCode.HaPoorlyFormedRequest).toBe(134);
  });

  it('gives successes their text, FA denials "FA: ", HA denials "HA: ", others "unknown code N"', () => {
    expect(replyCodeText(0)).toBe('registration accepted');
    expect(replyCodeText(1)).toBe('registration accepted, but simultaneous mobility bindings unsupported');
    expect(replyCodeText(70)).toBe('FA: poorly formed Request');
    expect(replyCodeText(194)).toBe('FA: Invalid Home Agent Address');
    expect(replyCodeText(133)).toBe('HA: registration Identification mismatch');
    expect(replyCodeText(136)).toBe('HA: unknown home agent address');
    for (const code of listed) expect(replyCodeText(code)).not.toMatch(/^unknown/);
    expect(replyCodeText(99)).toBe('unknown code 99');
    expect(replyCodeText(2)).toBe('unknown code 2');
  });

  it('classifies the code space as 6.4 Table 1 divides it', () => {
    expect([0, 1, 8].every(isAcceptedCode)).toBe(true);
    expect([9, 64, 128].some(isAcceptedCode)).toBe(false);
    expect([64, 127, 193, 194, 200].every(isForeignAgentCode)).toBe(true);
    expect([63, 128, 192, 201].some(isForeignAgentCode)).toBe(false);
    expect([128, 136, 192].every(isHomeAgentCode)).toBe(true);
    expect([127, 193, 0].some(isHomeAgentCode)).toBe(false);
  });
});

describe('registrationToJson / registrationFromJson', () => {
  it('shows pads, NAIs and unknown extensions of every format, and inverts', () => {
    const options: RegistrationDecodeOptions = { extensionFormats: new Map([[150, 'short'], [40, 'long']]) };
    const bytes = requestWith('00  83 03 614062  c8 01 ff  96 02 07 aa  28 01 0001 bb  64 0102');
    const result = decodeRegistrationRequest(bytes, 0, bytes.length, options);
    if (!result.ok) throw new Error(result.error.message);
    const json = registrationToJson(result.value, bytes);
    expect(json.extensions).toEqual([
      { type: 0, name: 'One-byte Padding', offset: 24 },
      { type: 131, name: 'Mobile Node NAI (RFC 2794)', offset: 25, length: 3, nai: 'a@b' },
      { type: 200, name: 'Unknown (skippable)', offset: 30, length: 1, skippable: true, format: 'tlv', data: 'ff' },
      { type: 150, name: 'Unknown (skippable)', offset: 33, length: 2, skippable: true, format: 'short', sub_type: 7, data: 'aa' },
      { type: 40, name: 'Unknown (non-skippable)', offset: 37, length: 1, skippable: false, format: 'long', sub_type: 1, data: 'bb' },
      { type: 100, name: 'Unknown (non-skippable)', offset: 42, skippable: false, format: 'rest', data: '0102' },
    ]);
    expect(registrationFromJson(json)).toEqual(result.value);
  });

  it('adds authenticator_valid only for SPIs with a key', () => {
    const json = registrationToJson(REPLY_VALUE, hex(REPLY_HEX));
    expect(json.extensions[0]).not.toHaveProperty('authenticator_valid');
    const seen: number[] = [];
    const verify = (_algorithm: string, _key: Uint8Array, message: Uint8Array, extension: { offset: number }) => {
      seen.push(message.length, extension.offset);
      return true;
    };
    const unknownSpi = registrationToJson(REPLY_VALUE, undefined, { keys: new Map(), verify });
    expect(unknownSpi.extensions[0]).not.toHaveProperty('authenticator_valid');
    const known = registrationToJson(REPLY_VALUE, undefined, {
      keys: (spi) => (spi === 768 ? { algorithm: 'hmac-md5', key: new Uint8Array(16) } : undefined),
      verify,
    });
    expect(known.extensions[0]).toMatchObject({ authenticator_valid: true, authenticated_bytes: 26, length: 4 });
    // Without the received bytes the message is re-encoded for the check.
    expect(seen).toEqual([26, 20]);
  });
});
