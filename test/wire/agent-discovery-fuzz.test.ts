import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { internetChecksum, readU16, toHex } from '../../io/wire/bytes.js';
import type { WireErrorReason } from '../../io/wire/codec.js';
import {
  type AdvertisementExtensionFields,
  type AgentAdvertisementFields,
  type AgentDiscoveryMessage,
  agentAdvertisementLength,
  agentDiscoveryLength,
  decodeAgentAdvertisement,
  decodeAgentDiscovery,
  decodeAgentSolicitation,
  encodeAgentAdvertisement,
  encodeAgentDiscovery,
  encodeAgentSolicitation,
  makeAgentAdvertisement,
  makeAgentSolicitation,
} from '../../io/wire/agent-discovery.js';
import { agentDiscoveryToJson } from '../../io/wire/agent-discovery-json.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });

const mobilityAgentArb: fc.Arbitrary<AdvertisementExtensionFields> = fc.record({
  kind: fc.constant('mobility-agent-advertisement' as const),
  type: fc.constant(16 as const),
  sequence: u16,
  registrationLifetime: u16,
  flags: u16,
  careOfAddresses: fc.array(u32, { maxLength: 5 }),
});
const prefixLengthsArb: fc.Arbitrary<AdvertisementExtensionFields> = fc.record({
  kind: fc.constant('prefix-lengths' as const),
  type: fc.constant(19 as const),
  prefixLengths: fc.array(u8, { maxLength: 8 }),
});
const padArb: fc.Arbitrary<AdvertisementExtensionFields> = fc.constant({ kind: 'pad' as const, type: 0 as const });
const skippableArb: fc.Arbitrary<AdvertisementExtensionFields> = fc.record({
  kind: fc.constant('unknown' as const),
  type: fc.integer({ min: 128, max: 255 }),
  skippable: fc.constant(true),
  format: fc.constant('tlv' as const),
  data: fc.uint8Array({ maxLength: 20 }),
});
/** A non-skippable unknown type swallows the rest of the message, so it can only come last. */
const restArb: fc.Arbitrary<AdvertisementExtensionFields> = fc.record({
  kind: fc.constant('unknown' as const),
  type: fc.integer({ min: 1, max: 127 }).filter((t) => t !== 16 && t !== 19),
  skippable: fc.constant(false),
  format: fc.constant('rest' as const),
  data: fc.uint8Array({ maxLength: 20 }),
});

const advertisementFieldsArb: fc.Arbitrary<AgentAdvertisementFields> = fc
  .record({
    code: u8,
    lifetime: u16,
    addrEntrySize: fc.integer({ min: 2, max: 4 }),
    routerCount: fc.integer({ min: 0, max: 5 }),
    routerSeeds: fc.array(fc.tuple(u32, i32, fc.uint8Array({ minLength: 8, maxLength: 8 })), { minLength: 5, maxLength: 5 }),
    extensions: fc.array(fc.oneof(mobilityAgentArb, prefixLengthsArb, padArb, skippableArb), { maxLength: 6 }),
    last: fc.option(restArb, { nil: undefined }),
  })
  .map(({ code, lifetime, addrEntrySize, routerCount, routerSeeds, extensions, last }) => ({
    code,
    lifetime,
    addrEntrySize,
    routers: routerSeeds.slice(0, routerCount).map(([address, preference, extra]) =>
      addrEntrySize > 2 ? { address, preference, extra: extra.subarray(0, (addrEntrySize - 2) * 4) } : { address, preference },
    ),
    extensions: last ? [...extensions, last] : extensions,
  }));

const solicitationArb = fc
  .record({ code: u8, reserved: u32, trailing: fc.uint8Array({ maxLength: 6 }) })
  .map(({ code, reserved, trailing }): AgentDiscoveryMessage => {
    const base = makeAgentSolicitation({ code, reserved });
    if (trailing.length === 0) return base;
    const bytes = new Uint8Array(8 + trailing.length);
    encodeAgentSolicitation({ ...base, trailing }, bytes);
    return { ...base, trailing, checksum: readU16(bytes, 2) };
  });

const messageArb: fc.Arbitrary<AgentDiscoveryMessage> = fc.oneof(advertisementFieldsArb.map(makeAgentAdvertisement), solicitationArb);

const REASONS: readonly WireErrorReason[] = ['truncated', 'bad-length', 'bad-type', 'bad-value'];

describe('agent discovery properties', () => {
  it('encode -> decode -> encode is the identity at a non-zero offset inside a larger buffer', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 1, max: 32 }), fc.integer({ min: 0, max: 16 }), (message, before, after) => {
        const length = agentDiscoveryLength(message);
        const buffer = new Uint8Array(before + length + after).fill(0xa5);
        const end = encodeAgentDiscovery(message, buffer, before);
        expect(end).toBe(before + length);
        expect(buffer.subarray(0, before).every((b) => b === 0xa5)).toBe(true);
        expect(buffer.subarray(end).every((b) => b === 0xa5)).toBe(true);
        expect(internetChecksum(buffer, before, end)).toBe(0);

        const r = decodeAgentDiscovery(buffer, before, end);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.next).toBe(end);
        expect(r.value.checksumValid).toBe(true);
        // make* computes offsets, Num Addrs and checksum as decoding does: the values agree.
        expect(agentDiscoveryToJson(r.value)).toStrictEqual(agentDiscoveryToJson(message));

        const again = new Uint8Array(length + 3);
        expect(encodeAgentDiscovery(r.value, again, 3)).toBe(length + 3);
        expect(toHex(again.subarray(3))).toBe(toHex(buffer.subarray(before, end)));
      }),
      { numRuns: 1500 },
    );
  });

  it('every truncation of a valid message decodes to a value or a typed error, never throws', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = new Uint8Array(agentDiscoveryLength(message) + 4);
        const end = encodeAgentDiscovery(message, bytes, 2);
        for (let cut = 2; cut <= end; cut++) {
          for (const decode of [decodeAgentDiscovery, decodeAgentAdvertisement, decodeAgentSolicitation]) {
            const r = decode(bytes, 2, cut);
            if (r.ok) {
              if (r.next !== cut) return false;
            } else if (!REASONS.includes(r.error.reason) || r.error.offset < 2 || r.error.offset > cut) {
              return false;
            }
          }
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('100000 random byte strings decode to a value or a typed error; values re-encode to the same bytes', () => {
    // Bias the first byte towards 9 and 10 and Num Addrs / Addr Entry Size towards small
    // values, so most inputs reach the router list and the extensions.
    const inputArb = fc
      .tuple(
        fc.constantFrom(9, 9, 9, 10, 0, 255),
        fc.uint8Array({ minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(2, 2, 3, 1, 0),
        fc.uint8Array({ maxLength: 48 }),
        fc.integer({ min: 0, max: 54 }),
        fc.nat(4),
      )
      .map(([type, codeAndChecksum, numAddrs, entrySize, rest, cut, offset]) => {
        const message = new Uint8Array([type, ...codeAndChecksum, numAddrs, entrySize, ...rest]);
        const bytes = new Uint8Array(offset + message.length);
        bytes.set(message, offset);
        return { bytes, offset, end: offset + Math.min(cut, message.length) };
      });
    const anyArb = fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ bytes, offset: 0, end: bytes.length }));

    fc.assert(
      fc.property(fc.oneof(inputArb, anyArb), ({ bytes, offset, end }) => {
        // Plain booleans, not expect(), keep 100000 runs fast.
        const r = decodeAgentDiscovery(bytes, offset, end);
        if (!r.ok) return REASONS.includes(r.error.reason) && r.error.offset >= offset && r.error.offset <= end;
        if (r.next !== end) return false;
        // Every byte is kept: re-encoding reproduces the input, apart from a checksum that did not verify.
        const again = new Uint8Array(end - offset);
        if (encodeAgentDiscovery(r.value, again, 0) !== again.length) return false;
        const original = bytes.subarray(offset, end);
        for (let i = 0; i < again.length; i++) {
          if ((i === 2 || i === 3) && !r.value.checksumValid) continue;
          if (again[i] !== original[i]) return false;
        }
        return true;
      }),
      { numRuns: 100_000 },
    );
  });

  it('random ranges never throw, even impossible ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), fc.integer({ min: -4, max: 24 }), fc.integer({ min: -4, max: 24 }), (bytes, offset, end) => {
        for (const decode of [decodeAgentDiscovery, decodeAgentAdvertisement, decodeAgentSolicitation]) {
          const r = decode(bytes, offset, end);
          if (r.ok && (r.next > bytes.length || r.next < offset)) return false;
        }
        return true;
      }),
      { numRuns: 5000 },
    );
  });

  it('agentAdvertisementLength is what the encoder writes', () => {
    fc.assert(
      fc.property(advertisementFieldsArb, (fields) => {
        const adv = makeAgentAdvertisement(fields);
        const bytes = new Uint8Array(agentAdvertisementLength(adv) + 1);
        return encodeAgentAdvertisement(adv, bytes, 1) === bytes.length;
      }),
      { numRuns: 1000 },
    );
  });
});
