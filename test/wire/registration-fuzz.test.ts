/**
 * Properties of the registration codecs over generated messages (every extension kind and
 * format), their truncations, and random bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DecodeResult, WireErrorReason } from '../../io/wire/codec.js';
import {
  compareIdentification,
  identificationFromHex,
  identificationFromUnixMs,
  identificationToHex,
  identificationToUnixMs,
} from '../../io/wire/identification.js';
import {
  type DeclaredExtensionFormat,
  decodeRegistrationMessage,
  encodeRegistrationMessage,
  registrationMessageLength,
  type RegistrationDecodeOptions,
} from '../../io/wire/registration.js';
import { registrationFromJson, registrationToJson } from '../../io/wire/registration-json.js';
import type {
  RegistrationExtension,
  RegistrationMessage,
  UnknownExtension,
} from '../../io/wire/registration-types.js';

/** Layouts the generated unknown extensions use, declared to the decoder. */
const SHORT_TYPES = [50, 51, 52, 150, 151, 152];
const LONG_TYPES = [60, 61, 62];
const DECLARED_TLV_TYPES = [100, 101, 102];
const OPTIONS: RegistrationDecodeOptions = {
  extensionFormats: new Map<number, DeclaredExtensionFormat>([
    ...SHORT_TYPES.map((type) => [type, 'short'] as const),
    ...LONG_TYPES.map((type) => [type, 'long'] as const),
    ...DECLARED_TLV_TYPES.map((type) => [type, 'tlv'] as const),
  ]),
};
const INTERPRETED_TYPES = [0, 32, 33, 34, 44, 130, 131, 144];
const declared = new Set([...SHORT_TYPES, ...LONG_TYPES, ...DECLARED_TLV_TYPES]);
const undeclared = (type: number): boolean => !declared.has(type) && !INTERPRETED_TYPES.includes(type);

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const data = (maxLength: number) => fc.uint8Array({ maxLength });

const pad: fc.Arbitrary<RegistrationExtension> = fc.constant({ kind: 'pad', type: 0, offset: 0 });
const auth = fc
  .tuple(fc.constantFrom(32 as const, 33 as const, 34 as const), u32, data(40))
  .map(([type, spi, authenticator]): RegistrationExtension => ({ kind: 'auth', type, offset: 0, spi, authenticator }));
const deliveryStyle: fc.Arbitrary<RegistrationExtension> = fc.constant({ kind: 'encapsulating-delivery-style', type: 130, offset: 0 });
const nai = fc
  .string({ unit: 'binary', maxLength: 40 })
  .map((text): RegistrationExtension => ({ kind: 'nai', type: 131, offset: 0, nai: text }));
/** An NAI extension whose bytes are not UTF-8: kept as an unknown TLV. */
const invalidNai = data(20).map<RegistrationExtension>((bytes) => ({
  kind: 'unknown',
  type: 131,
  offset: 0,
  skippable: true,
  format: 'tlv',
  data: Uint8Array.of(...bytes, 0xff),
}));
function unknown(types: fc.Arbitrary<number>, format: UnknownExtension['format'], maxData: number, withSubType: boolean) {
  return fc.record({ type: types, subType: u8, data: data(maxData) }).map<RegistrationExtension>((fields) => ({
    kind: 'unknown',
    type: fields.type,
    offset: 0,
    skippable: fields.type >= 128,
    format,
    ...(withSubType ? { subType: fields.subType } : {}),
    data: fields.data,
  }));
}
const skippableTlv = unknown(fc.integer({ min: 128, max: 255 }).filter(undeclared), 'tlv', 40, false);
const declaredTlv = unknown(fc.constantFrom(...DECLARED_TLV_TYPES), 'tlv', 40, false);
const shortFormat = unknown(fc.constantFrom(...SHORT_TYPES), 'short', 40, true);
const longFormat = unknown(fc.constantFrom(...LONG_TYPES), 'long', 300, true);
const rest = unknown(fc.integer({ min: 1, max: 127 }).filter(undeclared), 'rest', 40, false);

const extensions = fc
  .tuple(
    fc.array(fc.oneof(pad, auth, nai, deliveryStyle, invalidNai, skippableTlv, declaredTlv, shortFormat, longFormat), { maxLength: 8 }),
    fc.option(rest, { nil: undefined }),
  )
  .map(([list, last]) => (last === undefined ? list : [...list, last]));

const identification = fc.record({ high: u32, low: u32 });

const request = fc
  .tuple(u8, fc.integer({ min: 0, max: 0xffff }), u32, u32, u32, identification, extensions)
  .map(
    ([flags, lifetime, homeAddress, homeAgent, careOfAddress, id, list]): RegistrationMessage => ({
      type: 1,
      flags,
      lifetime,
      homeAddress,
      homeAgent,
      careOfAddress,
      identification: id,
      extensions: list,
    }),
  );
const reply = fc
  .tuple(u8, fc.integer({ min: 0, max: 0xffff }), u32, u32, identification, extensions)
  .map(
    ([code, lifetime, homeAddress, homeAgent, id, list]): RegistrationMessage => ({
      type: 3,
      code,
      lifetime,
      homeAddress,
      homeAgent,
      identification: id,
      extensions: list,
    }),
  );
const message = fc.oneof(request, reply);

/** The generated value with the offsets the decoder must report (the encoder ignores them). */
function withOffsets(value: RegistrationMessage): RegistrationMessage {
  const placed: RegistrationExtension[] = [];
  for (const extension of value.extensions) {
    const offset = registrationMessageLength({ ...value, extensions: placed } as RegistrationMessage);
    placed.push({ ...extension, offset });
  }
  return { ...value, extensions: placed } as RegistrationMessage;
}

const REASONS: ReadonlySet<WireErrorReason> = new Set(['truncated', 'bad-length', 'bad-type']);

/**
 * A value ending at `end`, or a typed error pointing inside the decoded range. Plain checks
 * rather than expect(): this runs 100000 times.
 */
function isValueOrTypedError(result: DecodeResult<RegistrationMessage>, start: number, end: number): boolean {
  if (result.ok) return result.next === end;
  const error = result.error;
  return (
    REASONS.has(error.reason) &&
    Number.isInteger(error.offset) &&
    error.offset >= start &&
    error.offset <= end &&
    typeof error.message === 'string' &&
    error.message.length > 0 &&
    error.layer.startsWith('registration')
  );
}

describe('registration codec properties', () => {
  it('encode → decode → encode is the identity at a non-zero offset inside a larger buffer', () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 1, max: 16 }), data(8), (value, start, trailer) => {
        const length = registrationMessageLength(value);
        const buffer = new Uint8Array(start + length + trailer.length).fill(0xa5);
        buffer.set(trailer, start + length);
        expect(encodeRegistrationMessage(value, buffer, start)).toBe(start + length);
        const result = decodeRegistrationMessage(buffer, start, start + length, OPTIONS);
        if (!result.ok) throw new Error(result.error.message);
        expect(result.next).toBe(start + length);
        expect(result.value).toEqual(withOffsets(value));
        const again = new Uint8Array(length);
        encodeRegistrationMessage(result.value, again, 0);
        expect(again).toEqual(buffer.subarray(start, start + length));
      }),
      { numRuns: 1000 },
    );
  });

  it('the JSON view of a decoded message converts back to it', () => {
    fc.assert(
      fc.property(message, (value) => {
        const placed = withOffsets(value);
        expect(registrationFromJson(registrationToJson(placed))).toEqual(placed);
      }),
      { numRuns: 500 },
    );
  });

  it('every truncation of a valid message decodes to a value or a typed error, never throws', () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 0, max: 9 }), fc.boolean(), (value, start, declare) => {
        const length = registrationMessageLength(value);
        const buffer = new Uint8Array(start + length);
        encodeRegistrationMessage(value, buffer, start);
        for (let cut = 0; cut < length; cut++) {
          const end = start + cut;
          const result = decodeRegistrationMessage(buffer, start, end, declare ? OPTIONS : undefined);
          if (!isValueOrTypedError(result, start, end)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('100000 random byte strings decode to a value or a typed error, never throw', () => {
    // Half start like a registration message so that the extension parser is reached.
    const randomMessage = fc.oneof(
      data(64),
      fc
        .tuple(fc.constantFrom(1, 3), fc.uint8Array({ minLength: 19, maxLength: 23 }), data(48))
        .map(([type, fixed, tail]) => {
          const bytes = new Uint8Array(1 + fixed.length + tail.length);
          bytes[0] = type;
          bytes.set(fixed, 1);
          bytes.set(tail, 1 + fixed.length);
          return bytes;
        }),
    );
    fc.assert(
      fc.property(randomMessage, fc.boolean(), (bytes, declare) =>
        isValueOrTypedError(decodeRegistrationMessage(bytes, 0, bytes.length, declare ? OPTIONS : undefined), 0, bytes.length),
      ),
      { numRuns: 100_000 },
    );
  });
});

describe('Identification properties', () => {
  // NTP era 0 ends, and the top bit of the seconds is first set, at 1968-01-20T03:14:08Z.
  const unixMs = fc.integer({ min: Date.UTC(1968, 0, 20, 3, 14, 8), max: Date.UTC(2104, 1, 26) });

  it('NTP conversion keeps the millisecond for any sub-millisecond random bits (1968-2104)', () => {
    fc.assert(
      fc.property(unixMs, u32, (ms, lowBits) => {
        expect(identificationToUnixMs(identificationFromUnixMs(ms, lowBits))).toBe(ms);
      }),
      { numRuns: 5000 },
    );
  });

  it('later milliseconds give greater Identifications within an NTP era, whatever the random bits', () => {
    const era0 = fc.integer({ min: Date.UTC(1968, 0, 20, 3, 14, 8), max: Date.UTC(2036, 1, 7) });
    fc.assert(
      fc.property(era0, fc.integer({ min: 1, max: 10_000 }), u32, u32, (ms, later, a, b) => {
        fc.pre(ms + later < Date.UTC(2036, 1, 7));
        expect(compareIdentification(identificationFromUnixMs(ms, a), identificationFromUnixMs(ms + later, b))).toBe(-1);
      }),
      { numRuns: 5000 },
    );
  });

  it('compares like unsigned 64-bit integers, and hex round-trips', () => {
    const asBigInt = (id: { high: number; low: number }) => (BigInt(id.high) << 32n) | BigInt(id.low);
    fc.assert(
      fc.property(identification, identification, (a, b) => {
        const expected = asBigInt(a) < asBigInt(b) ? -1 : asBigInt(a) > asBigInt(b) ? 1 : 0;
        expect(compareIdentification(a, b)).toBe(expected);
        expect(identificationFromHex(identificationToHex(a))).toEqual(a);
        expect(BigInt(`0x${identificationToHex(a)}`)).toBe(asBigInt(a));
      }),
      { numRuns: 5000 },
    );
  });
});
