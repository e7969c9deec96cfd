import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Either, ParseResult, Schema } from 'effect';
import { MobileNodeEntry } from '../../runtime/config/ha-config.js';
import { BulkArray, compileAcceptor } from '../../runtime/config/schema-acceptor.js';

// The acceptor is a shortcut past Effect's decoder for a million configured nodes. It may
// refuse what Effect accepts (Effect then decides), but must never accept what Effect refuses,
// and BulkArray must report exactly what Schema.Array reports. Both are checked here against
// Effect itself, on the real mobile-node schema, with values near and across every boundary.

const OPTIONS = { errors: 'all', onExcessProperty: 'error' } as const;

const text = fc.oneof(
  fc.constantFrom('198.51.100.10', '198.51.100.256', '01.2.3.4', '', 'mn@example.org', '2b7e151628aed2a6abf7158809cf4f3c', 'xyz', 'keys/mn.hex'),
  fc.string({ maxLength: 12 }),
);
const number = fc.oneof(fc.constantFrom(0, 3, 3.5, 4, 7, 100, 255, 256, 4096, 65535, 65536, 0xffffffff, 2 ** 32, -1, 1.5, NaN, Infinity), fc.integer());
const scalar = fc.oneof(text, number, fc.boolean(), fc.constant(null), fc.constant(undefined));
const word = fc.constantFrom('hmac-md5', 'keyed-md5', 'md5', 'timestamp', 'nonce', 'time');

const association = fc.record(
  {
    spi: fc.oneof(number, scalar),
    algorithm: fc.oneof(word, scalar),
    key: fc.oneof(text, scalar),
    keyFile: text,
    replay: fc.oneof(word, scalar),
    replayWindow: fc.oneof(number, scalar),
    spl: scalar,
  },
  { requiredKeys: [] },
);

/** Mobile-node-shaped values: mostly well-formed fields, each sometimes wrong or misspelt. */
const nodeLike = fc.record(
  {
    homeAddress: fc.oneof(text, scalar),
    nai: fc.oneof(text, scalar),
    spi: fc.oneof(number, scalar),
    algorithm: fc.oneof(word, scalar),
    key: fc.oneof(text, scalar),
    keyFile: text,
    replay: fc.oneof(word, scalar),
    replayWindow: fc.oneof(number, scalar),
    securityAssociations: fc.oneof(fc.array(association, { maxLength: 3 }), scalar),
    maxLifetime: fc.oneof(number, scalar),
    maxBindings: fc.oneof(number, scalar),
    homeAdress: scalar,
  },
  { requiredKeys: [] },
);

/** Valid entries, which the acceptor must take (or the fast path is never used). */
const validNode = fc.record(
  {
    homeAddress: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
    nai: fc.string({ minLength: 1, maxLength: 8 }),
    spi: fc.integer({ min: 256, max: 0xffffffff }),
    algorithm: fc.constantFrom('hmac-md5', 'keyed-md5'),
    key: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 8 }),
    replay: fc.constantFrom('timestamp', 'nonce'),
    replayWindow: fc.double({ min: 3.001, max: 1e6, noNaN: true }),
    maxLifetime: fc.integer({ min: 1, max: 65535 }),
    maxBindings: fc.integer({ min: 1, max: 1000 }),
  },
  // Plain objects, as JSON and YAML make them (nodeLike also makes null-prototype ones).
  { requiredKeys: ['homeAddress'], noNullPrototype: true },
);

const issuesOf = (result: Either.Either<unknown, ParseResult.ParseIssue>) =>
  Either.isLeft(result) ? ParseResult.ArrayFormatter.formatIssueSync(result.left) : [];

describe('the compiled acceptor of the mobile-node schema', () => {
  const accepts = compileAcceptor(MobileNodeEntry.ast);
  const decode = ParseResult.decodeUnknownEither(MobileNodeEntry);

  it('never accepts a value Effect refuses, and what it accepts decodes to an equal value', () => {
    fc.assert(
      fc.property(fc.oneof(nodeLike, validNode, scalar, fc.array(scalar, { maxLength: 2 })), (value) => {
        if (!accepts(value)) return;
        const decoded = decode(value, OPTIONS);
        expect(Either.isRight(decoded), JSON.stringify(value)).toBe(true);
        expect(Either.getOrThrow(decoded)).toStrictEqual(value);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts every valid entry (so a million valid nodes never reach Effect)', () => {
    fc.assert(
      fc.property(validNode, (value) => {
        expect(Either.isRight(decode(value, OPTIONS))).toBe(true);
        expect(accepts(value)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses the boundaries Effect refuses: reserved SPI, lifetime 0 and 65536, window 3, unknown field, missing homeAddress', () => {
    const good = { homeAddress: '198.51.100.10', spi: 4096, key: '00' };
    expect(accepts(good)).toBe(true);
    for (const bad of [
      { ...good, spi: 255 },
      { ...good, spi: 2 ** 32 },
      { ...good, maxLifetime: 0 },
      { ...good, maxLifetime: 65536 },
      { ...good, replayWindow: 3 },
      { ...good, algorithm: 'md5' },
      { ...good, homeAddress: '198.51.100.010' },
      { ...good, nai: '' },
      { ...good, spl: 4096 },
      { ...good, key: undefined },
      { spi: 4096, key: '00' },
      Object.defineProperty({ ...good }, 'hidden', { value: 1, enumerable: false }),
    ]) {
      expect(Either.isLeft(decode(bad, OPTIONS)), JSON.stringify(bad)).toBe(true);
      expect(accepts(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('refuses what it cannot judge exactly: transformations and declarations fall back to Effect', () => {
    expect(compileAcceptor(Schema.NumberFromString.ast)('1')).toBe(false);
    expect(compileAcceptor(Schema.Date.ast)('2026-01-01')).toBe(false);
    expect(compileAcceptor(Schema.Struct({ at: Schema.Date }).ast)({ at: new Date() })).toBe(false);
  });
});

describe('BulkArray reports exactly what Schema.Array reports', () => {
  const bulk = ParseResult.decodeUnknownEither(BulkArray(MobileNodeEntry));
  const reference = ParseResult.decodeUnknownEither(Schema.Array(MobileNodeEntry));

  it('the same issues, paths and messages, in the same order (every issue and first-issue modes), and the same value', () => {
    const list = fc.oneof(fc.array(fc.oneof(validNode, nodeLike, scalar), { maxLength: 6 }), scalar);
    fc.assert(
      fc.property(list, fc.constantFrom<'all' | 'first'>('all', 'first'), (value, errors) => {
        const options = { errors, onExcessProperty: 'error' } as const;
        const ours = bulk(value, options);
        const theirs = reference(value, options);
        expect(issuesOf(ours)).toStrictEqual(issuesOf(theirs));
        if (Either.isRight(theirs)) expect(Either.getOrThrow(ours)).toStrictEqual(Either.getOrThrow(theirs));
      }),
      { numRuns: 2000 },
    );
  });

  it('names the index of a bad entry deep in a long list', () => {
    const nodes = Array.from({ length: 5000 }, (_, i) => ({ homeAddress: `10.0.${i >> 8}.${i & 255}`, spi: 4096, key: '00' }));
    nodes[4321] = { ...nodes[4321]!, spi: 100 };
    const issues = issuesOf(bulk(nodes, OPTIONS));
    expect(issues).toStrictEqual(issuesOf(reference(nodes, OPTIONS)));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toStrictEqual([4321, 'spi']);
    expect(issues[0]!.message).toMatch(/SPI 100 is reserved/);
  });
});
