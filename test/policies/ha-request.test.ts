import { VECTORS_PATH } from '../support/vectors.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fromHex, ipv4, writeU16, writeU32, type Ipv4Address } from '../../io/wire/bytes.js';
import type { Identification, RegistrationExtension, RegistrationRequest } from '../../io/wire/registration-types.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { subnetBroadcast } from '../../io/wire/ipv4-address.js';
import { sealAuthenticator, verifyAuthenticator, type AuthAlgorithm } from '../../policies/auth.js';
import {
  checkHaRequest,
  homeAgentUnicastAddress,
  mobileNodeKey,
  requestNai,
  type HaMobileNode,
  type HaRequestInput,
  type HaVerdict,
  type HomeAgentSettings,
} from '../../policies/ha-request.js';
import { createSecurityContext, SecurityAssociationTable, type MobilitySecurityContext } from '../../policies/security-association.js';
import { advanceReplayState, isLaterTimestamp, type ReplayState } from '../../policies/replay.js';

// --- a tiny Registration Request encoder written from RFC 5944 3.3 / 3.5 ------------------------
//
//  0: Type (1) | 1: flags S B D M G r T x | 2-3: Lifetime | 4-7: Home Address | 8-11: Home Agent
// 12-15: Care-of Address | 16-23: Identification | 24-: extensions
// Authentication extensions (3.5.2-3.5.4): Type, Length = 4 + 16, SPI (4), Authenticator (16).

type ExtensionSpec =
  | { kind: 'auth'; type: 32 | 33 | 34; spi: number; algorithm?: AuthAlgorithm; key?: Uint8Array; corrupt?: boolean }
  | { kind: 'nai'; nai: string }
  | { kind: 'tlv'; type: number; data: Uint8Array }
  | { kind: 'pad' };

interface Fixed {
  flags?: number;
  lifetime?: number;
  homeAddress?: Ipv4Address;
  homeAgent?: Ipv4Address;
  careOfAddress?: Ipv4Address;
  identification?: Identification;
}

const HA = ipv4('198.51.100.1');
const HA_SECOND = ipv4('192.0.2.1');
const HOME = ipv4('198.51.100.10');
const COA = ipv4('203.0.113.77');
const FA = ipv4('203.0.113.1');
const MN_KEY = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
const MN_SPI = 4096;
const FA_KEY = fromHex('000102030405060708090a0b0c0d0e0f');
const FA_SPI = 0x300;
const NOW = 1_704_067_200_000 + 10_000; // 2024-01-01T00:00:10Z
const FRESH = identificationFromUnixMs(NOW, 0x1234);

function encode(fixed: Fixed, specs: readonly ExtensionSpec[]): { request: RegistrationRequest; message: Uint8Array } {
  const encoder = new TextEncoder();
  let length = 24;
  for (const spec of specs) {
    if (spec.kind === 'auth') length += 22;
    else if (spec.kind === 'nai') length += 2 + encoder.encode(spec.nai).length;
    else if (spec.kind === 'tlv') length += 2 + spec.data.length;
    else length += 1;
  }
  const message = new Uint8Array(length);
  const request = {
    type: 1 as const,
    flags: fixed.flags ?? 0,
    lifetime: fixed.lifetime ?? 1800,
    homeAddress: fixed.homeAddress ?? HOME,
    homeAgent: fixed.homeAgent ?? HA,
    careOfAddress: fixed.careOfAddress ?? COA,
    identification: fixed.identification ?? FRESH,
  };
  message[0] = 1;
  message[1] = request.flags;
  writeU16(message, 2, request.lifetime);
  writeU32(message, 4, request.homeAddress);
  writeU32(message, 8, request.homeAgent);
  writeU32(message, 12, request.careOfAddress);
  writeU32(message, 16, request.identification.high);
  writeU32(message, 20, request.identification.low);
  const extensions: RegistrationExtension[] = [];
  const toSeal: { offset: number; spec: Extract<ExtensionSpec, { kind: 'auth' }> }[] = [];
  let offset = 24;
  for (const spec of specs) {
    message[offset] = spec.kind === 'auth' ? spec.type : spec.kind === 'nai' ? 131 : spec.kind === 'tlv' ? spec.type : 0;
    if (spec.kind === 'auth') {
      message[offset + 1] = 20;
      writeU32(message, offset + 2, spec.spi);
      extensions.push({ kind: 'auth', type: spec.type, spi: spec.spi, authenticator: message.subarray(offset + 6, offset + 22), offset });
      toSeal.push({ offset, spec });
      offset += 22;
    } else if (spec.kind === 'nai') {
      const bytes = encoder.encode(spec.nai);
      message[offset + 1] = bytes.length;
      message.set(bytes, offset + 2);
      extensions.push({ kind: 'nai', type: 131, nai: spec.nai, offset });
      offset += 2 + bytes.length;
    } else if (spec.kind === 'tlv') {
      message[offset + 1] = spec.data.length;
      message.set(spec.data, offset + 2);
      const skippable = spec.type >= 128;
      extensions.push({
        kind: 'unknown',
        type: spec.type,
        skippable,
        format: skippable ? 'tlv' : 'rest',
        data: message.subarray(offset + (skippable ? 2 : 1), skippable ? offset + 2 + spec.data.length : length),
        offset,
      });
      offset += 2 + spec.data.length;
    } else {
      extensions.push({ kind: 'pad', type: 0, offset });
      offset += 1;
    }
  }
  // Seal in order: each authenticator covers everything before it, earlier authenticators included (3.5.1).
  for (const { offset: at, spec } of toSeal) {
    sealAuthenticator(spec.algorithm ?? 'hmac-md5', spec.key ?? MN_KEY, message, at);
    if (spec.corrupt === true) message[at + 6]! ^= 0x80;
  }
  return { request: { ...request, extensions }, message };
}

const mhae = (extra: Partial<Extract<ExtensionSpec, { kind: 'auth' }>> = {}): ExtensionSpec => ({ kind: 'auth', type: 32, spi: MN_SPI, ...extra });
const fhae = (extra: Partial<Extract<ExtensionSpec, { kind: 'auth' }>> = {}): ExtensionSpec => ({ kind: 'auth', type: 34, spi: FA_SPI, key: FA_KEY, ...extra });
const mfae = (): ExtensionSpec => ({ kind: 'auth', type: 33, spi: 512, key: FA_KEY });

const settings: HomeAgentSettings = {
  addresses: [HA, HA_SECOND],
  homeNetwork: ipv4('198.51.100.0'),
  prefixLength: 24,
  simultaneousBindings: true,
  broadcast: true,
  encapsulations: { minimal: true, gre: true },
  reverseTunneling: true,
};

function nodeWith(contexts: MobilitySecurityContext[], extra: Partial<HaMobileNode> = {}): HaMobileNode {
  const table = new SecurityAssociationTable();
  for (const context of contexts) table.add(HOME, context);
  return {
    homeAddress: HOME,
    contexts: table.association(HOME) ?? { get: () => undefined, first: () => undefined },
    maxLifetime: 3600,
    ...extra,
  };
}

const mnContext = createSecurityContext({ spi: MN_SPI, key: MN_KEY });
const node = nodeWith([mnContext]);
const faTable = new SecurityAssociationTable();
faTable.add(FA, createSecurityContext({ spi: FA_SPI, key: FA_KEY }));
const foreignAgent = faTable.association(FA)!;

function input(built: { request: RegistrationRequest; message: Uint8Array }, extra: Partial<HaRequestInput> = {}): HaRequestInput {
  return {
    ...built,
    udpChecksumValid: true,
    ipSource: COA,
    ipDestination: HA,
    homeAgent: settings,
    mobileNode: node,
    replay: {},
    nowUnixMs: NOW,
    nextNonce: 0x5eed0001,
    ...extra,
  };
}

function check(fixed: Fixed, specs: readonly ExtensionSpec[], extra: Partial<HaRequestInput> = {}): HaVerdict {
  return checkHaRequest(input(encode(fixed, specs), extra));
}

function expectDeny(verdict: HaVerdict, code: number): Extract<HaVerdict, { kind: 'deny' }> {
  expect(verdict.kind, JSON.stringify(verdict)).toBe('deny');
  const deny = verdict as Extract<HaVerdict, { kind: 'deny' }>;
  expect(deny.code, deny.detail).toBe(code);
  return deny;
}

function expectAccept(verdict: HaVerdict): Extract<HaVerdict, { kind: 'accept' }> {
  expect(verdict.kind, JSON.stringify(verdict)).toBe('accept');
  return verdict as Extract<HaVerdict, { kind: 'accept' }>;
}

// --- the tests ----------------------------------------------------------------------------------

describe('the test encoder', () => {
  it('reproduces the interop vector rrq_basic_colocated byte for byte', () => {
    const built = encode(
      { flags: 0x20, lifetime: 1800, homeAddress: HOME, homeAgent: HA, careOfAddress: ipv4('203.0.113.77'), identification: { high: 0xe93c7f00, low: 1 } },
      [mhae()],
    );
    expect(Buffer.from(built.message).toString('hex')).toBe(vector('rrq_basic_colocated').hex);
  });
});

describe('checkHaRequest: accepting', () => {
  it('accepts a fresh, authenticated registration with the details the binding needs', () => {
    const verdict = expectAccept(check({ flags: 0x20 }, [mhae()]));
    expect(verdict).toMatchObject({
      code: 0,
      operation: 'register',
      grantedLifetime: 1800,
      simultaneous: false,
      replyIdentification: FRESH,
      replyContext: mnContext,
      encapsulation: 'ip-in-ip',
      broadcast: false,
      reverseTunnel: false,
      decapsulatedByMobileNode: true,
      homeAddress: HOME,
      careOfAddress: COA,
      homeAgentField: HA,
      replayUpdate: { kind: 'timestamp', lastAccepted: FRESH },
    });
  });

  it('[R3.8.3.2-1] answers code 1 when simultaneous bindings are unsupported, and ignores S then', () => {
    const verdict = expectAccept(check({ flags: 0x80 }, [mhae()], { homeAgent: { ...settings, simultaneousBindings: false } }));
    expect(verdict.code).toBe(1);
    expect(verdict.simultaneous).toBe(false);
    const supported = expectAccept(check({ flags: 0x80 }, [mhae()]));
    expect(supported.code).toBe(0);
    expect(supported.simultaneous).toBe(true);
  });

  it('[R3.4-3] [R3.8.2.2-6] [R3.8.3.2-3] [R3.8.3.2-4] grants at most the request, reduced to the node\'s maximum', () => {
    expect(expectAccept(check({ lifetime: 7200 }, [mhae()])).grantedLifetime).toBe(3600);
    expect(expectAccept(check({ lifetime: 0xffff }, [mhae()])).grantedLifetime).toBe(3600);
    expect(expectAccept(check({ lifetime: 60 }, [mhae()])).grantedLifetime).toBe(60);
    const unlimited = nodeWith([mnContext], { maxLifetime: 0xffff });
    expect(expectAccept(check({ lifetime: 0xffff }, [mhae()], { mobileNode: unlimited })).grantedLifetime).toBe(0xffff);
  });

  it('Lifetime 0 with the care-of address = home address deletes all bindings; otherwise only that one', () => {
    const all = expectAccept(check({ lifetime: 0, careOfAddress: HOME }, [mhae()], { ipSource: HOME }));
    expect(all.operation).toBe('deregister-all');
    expect(all.grantedLifetime).toBe(0);
    const one = expectAccept(check({ lifetime: 0, careOfAddress: COA }, [mhae()]));
    expect(one.operation).toBe('deregister-one');
    expect(one.grantedLifetime).toBe(0);
  });

  it('[R3.8.2-3] ignores the B bit when broadcasts are not supported, instead of rejecting', () => {
    const ignored = expectAccept(check({ flags: 0x40 }, [mhae()], { homeAgent: { ...settings, broadcast: false } }));
    expect(ignored.broadcast).toBe(false);
    expect(expectAccept(check({ flags: 0x40 }, [mhae()])).broadcast).toBe(true);
  });

  it('[R3.8.3.2-8] copies a Home Agent field that is any unicast address of this home agent', () => {
    expect(expectAccept(check({ homeAgent: HA_SECOND }, [mhae()])).homeAgentField).toBe(HA_SECOND);
  });

  it('[R3.5.1-2] [R3.5.1-3] [R3.5.1-4] [R5.1-4] verifies with the context the SPI selects: HMAC-MD5 and keyed MD5 alike', () => {
    const keyed = createSecurityContext({ spi: 70000, key: fromHex('00ff00ff'), algorithm: 'keyed-md5' });
    const hmac = createSecurityContext({ spi: 300, key: fromHex('aabbccddeeff00112233445566778899'), algorithm: 'hmac-md5' });
    const both = nodeWith([hmac, keyed]);
    const viaKeyed = expectAccept(check({}, [mhae({ spi: 70000, algorithm: 'keyed-md5', key: keyed.key })], { mobileNode: both }));
    expect(viaKeyed.replyContext).toBe(keyed);
    const viaHmac = expectAccept(check({}, [mhae({ spi: 300, algorithm: 'hmac-md5', key: hmac.key })], { mobileNode: both }));
    expect(viaHmac.replyContext).toBe(hmac);
    // The SPI selects the algorithm: a keyed-MD5 authenticator under the HMAC context's SPI fails.
    expect(check({}, [mhae({ spi: 300, algorithm: 'keyed-md5', key: hmac.key })], { mobileNode: both }).kind).toBe('deny');
  });

  it('accepts several Mobile-Home extensions when all of them verify (Appendix F issue 19)', () => {
    const second = createSecurityContext({ spi: 5000, key: fromHex('0f0e0d0c0b0a09080706050403020100') });
    const twoContexts = nodeWith([mnContext, second]);
    const verdict = expectAccept(check({}, [mhae(), mhae({ spi: 5000, key: second.key })], { mobileNode: twoContexts }));
    expect(verdict.replyContext).toBe(mnContext);
    const secondBad = check({}, [mhae(), mhae({ spi: 5000, key: second.key, corrupt: true })], { mobileNode: twoContexts });
    expectDeny(secondBad, 131);
  });

  it('accepts a Mobile-Foreign extension after the Mobile-Home one (3.6.1.3)', () => {
    expectAccept(check({}, [mhae(), mfae()], { ipSource: FA }));
  });
});

describe('checkHaRequest: silent discards', () => {
  it('[R3.8.2.1-1] discards a Request with an invalid non-zero UDP checksum', () => {
    expect(check({}, [mhae()], { udpChecksumValid: false })).toMatchObject({ kind: 'discard', reason: 'udp-checksum' });
  });

  it('[R1.8-1] discards a Request carrying an unrecognised extension of type 0-127, wherever it is', () => {
    for (const type of [1, 35, 127]) {
      const before = check({}, [{ kind: 'tlv', type, data: new Uint8Array(4) }, mhae()]);
      expect(before, `type ${type}`).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
      const after = check({}, [mhae(), { kind: 'tlv', type, data: new Uint8Array(2) }]);
      expect(after, `type ${type}`).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
    }
  });

  it('[R1.8-2] skips an unrecognised extension of type 128-255 and processes the rest', () => {
    expectAccept(check({}, [{ kind: 'tlv', type: 200, data: new Uint8Array([1, 2, 3]) }, mhae(), { kind: 'tlv', type: 255, data: new Uint8Array(0) }]));
    expectAccept(check({}, [{ kind: 'pad' }, mhae()]));
  });

  it('[R3.8.2.1-6] discards a Request without an authorization-enabling extension', () => {
    expect(check({}, [])).toMatchObject({ kind: 'discard', reason: 'no-authorization-extension' });
    expect(check({}, [mfae()])).toMatchObject({ kind: 'discard', reason: 'no-authorization-extension' });
    expect(check({}, [fhae()], { foreignAgent, ipSource: FA })).toMatchObject({ kind: 'discard', reason: 'no-authorization-extension' });
  });

  it('[R3.8.2.1-5] discards a Request from a mobile node it has no security association with', () => {
    expect(check({}, [mhae()], { mobileNode: undefined })).toMatchObject({ kind: 'discard', reason: 'unknown-mobile-node' });
    expect(check({}, [mhae()], { mobileNode: nodeWith([]) })).toMatchObject({ kind: 'discard', reason: 'no-security-association' });
  });

  it('[R3.8.2.1-20] discards a Request with a Foreign-Home extension from a foreign agent without an association', () => {
    const verdict = check({}, [mhae(), fhae()], { ipSource: FA });
    expect(verdict).toMatchObject({ kind: 'discard', reason: 'fha-without-association', securityException: true });
    // Even a deregistration.
    expect(check({ lifetime: 0 }, [mhae(), fhae()], { ipSource: FA })).toMatchObject({ kind: 'discard', reason: 'fha-without-association' });
  });
});

describe('checkHaRequest: Mobile-Home authentication failures (3.8.2.1 a)', () => {
  it('[R3.8.2.1-7] [R3.8.2.1-9] rejects with 131 when no foreign agent association is involved (default)', () => {
    const deny = expectDeny(check({}, [mhae({ corrupt: true })]), 131);
    expect(deny.securityException).toBe(true);
    expect(deny.replyContext).toBe(mnContext);
    expect(deny.replyIdentification).toEqual(FRESH);
    expect(deny.replayUpdate).toBeUndefined();
  });

  it('[R3.8.2.1-12] discards instead of replying when replies to failed authentication are disabled', () => {
    const verdict = check({}, [mhae({ corrupt: true })], { homeAgent: { ...settings, replyOnAuthFailure: false } });
    expect(verdict).toMatchObject({ kind: 'discard', reason: 'bad-authenticator', securityException: true });
  });

  it('[R3.8.2.1-8] must reply 131 when the Foreign-Home extension is valid, even with replies disabled', () => {
    const verdict = check({}, [mhae({ corrupt: true }), fhae()], { ipSource: FA, foreignAgent, homeAgent: { ...settings, replyOnAuthFailure: false } });
    expect(expectDeny(verdict, 131).securityException).toBe(true);
  });

  it('discards when neither the mobile node nor the foreign agent authenticates', () => {
    for (const specs of [[mhae({ corrupt: true })], [mhae({ corrupt: true }), fhae({ corrupt: true })], [mhae({ corrupt: true }), fhae(), fhae()]]) {
      expect(check({}, specs, { ipSource: FA, foreignAgent })).toMatchObject({ kind: 'discard', reason: 'bad-authenticator' });
    }
  });

  it('[R3.8.2.1-11] replies with a context likely to exist in the node: the requested one if known, else the oldest', () => {
    const older = createSecurityContext({ spi: 777, key: fromHex('01') });
    const twoContexts = nodeWith([older, mnContext]);
    expect(expectDeny(check({}, [mhae({ corrupt: true })], { mobileNode: twoContexts }), 131).replyContext).toBe(mnContext);
    const unknownSpi = check({}, [mhae({ spi: 9999 })], { mobileNode: twoContexts });
    expect(expectDeny(unknownSpi, 131).replyContext).toBe(older);
  });

  it('the interop vector rrq_bad_authenticator yields 131, or a discard when replies are disabled', () => {
    const built = fromVector('rrq_bad_authenticator');
    const nowMs = unixMsOf(built.request.identification);
    const verdict = checkHaRequest(input(built, { nowUnixMs: nowMs }));
    expectDeny(verdict, 131);
    const quiet = checkHaRequest(input(built, { nowUnixMs: nowMs, homeAgent: { ...settings, replyOnAuthFailure: false } }));
    expect(quiet).toMatchObject({ kind: 'discard', reason: 'bad-authenticator' });
  });

  it('authenticates before anything else: a forged Request with reserved bits, a wrong Home Agent or a broadcast destination still only gets 131', () => {
    expectDeny(check({ flags: 0x05 }, [mhae({ corrupt: true })]), 131);
    expectDeny(check({ homeAgent: ipv4('198.51.100.255') }, [mhae({ corrupt: true })]), 131);
    expectDeny(check({}, [mhae({ corrupt: true })], { ipDestination: ipv4('198.51.100.255') }), 131);
    expectDeny(check({ identification: { high: 1, low: 2 } }, [mhae({ corrupt: true })]), 131);
  });

  it('a forged Request never gets anything but a discard or a 131 (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.nat(255),
          lifetime: fc.nat(0xffff),
          homeAddress: fc.constantFrom(HOME, 0, ipv4('10.0.0.1')),
          homeAgent: fc.constantFrom(HA, ipv4('198.51.100.255'), 0),
          careOfAddress: fc.nat(0xffffffff),
          identification: fc.record({ high: fc.nat(0xffffffff), low: fc.nat(0xffffffff) }),
        }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(HA, ipv4('198.51.100.255'), 0xffffffff),
        (fixed, withForeignAgent, reply, ipDestination) => {
          const verdict = check(fixed, [mhae({ corrupt: true })], {
            foreignAgent: withForeignAgent ? foreignAgent : undefined,
            ipSource: FA,
            ipDestination,
            homeAgent: { ...settings, replyOnAuthFailure: reply },
          });
          if (verdict.kind === 'deny') expect(verdict.code).toBe(131);
          else expect(verdict.kind).toBe('discard');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkHaRequest: Identification (3.8.2.1 b, 5.7)', () => {
  it('[R3.8.2.1-13] [R3.8.2.1-14] [R5.7.1-6] [R5.7.1-8] rejects a stale timestamp with 133, HA time high and the low half echoed', () => {
    // rrp_133_identification_mismatch: Request e93c70f077777777 (T0 - 3600), HA clock T0 + 3.
    const built = encode({ identification: { high: 0xe93c70f0, low: 0x77777777 } }, [mhae()]);
    const deny = expectDeny(checkHaRequest(input(built, { nowUnixMs: 1_704_067_203_500 })), 133);
    expect(deny.replyIdentification).toEqual({ high: 0xe93c7f03, low: 0x77777777 });
    expect(deny.replyContext).toBe(mnContext);
    expect(deny.securityException).toBe(true);
    expect(deny.replayUpdate).toBeUndefined();
    // The reply vector's Identification (bytes 12-19 of a Reply) is exactly this.
    expect(vector('rrp_133_identification_mismatch').hex.slice(24, 40)).toBe('e93c7f0377777777');
  });

  it('[R5.7.1-7] rejects with 133 a timestamp not greater than the last accepted one', () => {
    const deny = expectDeny(check({}, [mhae()], { replay: { lastAcceptedTimestamp: FRESH } }), 133);
    expect(deny.replyIdentification.low).toBe(FRESH.low);
    const earlier = { high: FRESH.high, low: FRESH.low - 1 };
    expectAccept(check({}, [mhae()], { replay: { lastAcceptedTimestamp: earlier } }));
  });

  it('[R5.7.1-7] uses the window of the context that authenticated the Request', () => {
    const wide = nodeWith([createSecurityContext({ spi: MN_SPI, key: MN_KEY, replayWindowSeconds: 60 })]);
    const thirtySecondsOff = identificationFromUnixMs(NOW + 30_000);
    expectDeny(check({ identification: thirtySecondsOff }, [mhae()]), 133);
    expectAccept(check({ identification: thirtySecondsOff }, [mhae()], { mobileNode: wide }));
  });

  it('[R5.7-4] nonces: the first Request gets 133 and a nonce, the echo is accepted, every Reply carries the next nonce', () => {
    const nonceNode = nodeWith([createSecurityContext({ spi: MN_SPI, key: MN_KEY, replay: 'nonce' })]);
    // 1. No nonce issued yet.
    const first = expectDeny(check({ identification: { high: 0, low: 0xaaaa0001 } }, [mhae()], { mobileNode: nonceNode, nextNonce: 0x1000 }), 133);
    expect(first.replyIdentification).toEqual({ high: 0x1000, low: 0xaaaa0001 });
    // A 133's nonce is a resynchronising one: valid besides any expected nonce (ReplayState).
    expect(first.replayUpdate).toEqual({ kind: 'nonce-resync', resyncNonce: 0x1000 });
    // 2. The node echoes it: accepted, and the Reply issues the next one.
    const second = expectAccept(
      check({ identification: { high: 0x1000, low: 0xaaaa0002 } }, [mhae()], { mobileNode: nonceNode, replay: { resyncNonce: 0x1000 }, nextNonce: 0x2000 }),
    );
    expect(second.replyIdentification).toEqual({ high: 0x2000, low: 0xaaaa0002 });
    expect(second.replayUpdate).toEqual({ kind: 'nonce', expectedNonce: 0x2000 });
    // 3. A replay of the second Request (old nonce): 133 with yet another nonce.
    const replayed = expectDeny(
      check({ identification: { high: 0x1000, low: 0xaaaa0002 } }, [mhae()], { mobileNode: nonceNode, replay: { expectedNonce: 0x2000 }, nextNonce: 0x3000 }),
      133,
    );
    expect(replayed.replyIdentification).toEqual({ high: 0x3000, low: 0xaaaa0002 });
    expect(replayed.replayUpdate).toEqual({ kind: 'nonce-resync', resyncNonce: 0x3000 });
    // 4. A denial after a valid nonce also issues the next nonce.
    const denied = expectDeny(
      check({ identification: { high: 0x3000, low: 3 }, flags: 0x04 }, [mhae()], { mobileNode: nonceNode, replay: { expectedNonce: 0x3000 }, nextNonce: 0x4000 }),
      134,
    );
    expect(denied.replyIdentification).toEqual({ high: 0x4000, low: 3 });
    expect(denied.replayUpdate).toEqual({ kind: 'nonce', expectedNonce: 0x4000 });
  });

  it('a 131 under nonces repeats the expected nonce and changes no replay state', () => {
    const nonceNode = nodeWith([createSecurityContext({ spi: MN_SPI, key: MN_KEY, replay: 'nonce' })]);
    const deny = expectDeny(check({ identification: { high: 9, low: 10 } }, [mhae({ corrupt: true })], { mobileNode: nonceNode, replay: { expectedNonce: 0x77 } }), 131);
    expect(deny.replyIdentification).toEqual({ high: 0x77, low: 10 });
    expect(deny.replayUpdate).toBeUndefined();
  });
});

describe('checkHaRequest: foreign agent authentication (3.8.2.1 c, d)', () => {
  const viaFa = { ipSource: FA, foreignAgent };

  it('[R3.8.1-7] [R3.8.2.1-15] [R3.8.2.1-17] accepts a registration with one valid Foreign-Home extension', () => {
    expectAccept(check({ careOfAddress: FA }, [mhae(), fhae()], viaFa));
  });

  it('[R3.8.2.1-16] [R3.8.2.1-18] [R3.8.2.1-19] rejects with 132 when the Foreign-Home extension is missing, doubled, invalid or of an unknown SPI', () => {
    const cases: ExtensionSpec[][] = [
      [mhae()],
      [mhae(), fhae(), fhae()],
      [mhae(), fhae({ corrupt: true })],
      [mhae(), fhae({ spi: 0x301 })],
    ];
    for (const specs of cases) {
      const deny = expectDeny(check({ careOfAddress: FA }, specs, viaFa), 132);
      expect(deny.securityException).toBe(true);
      expect(deny.replyContext).toBe(mnContext);
    }
  });

  it('[R3.5.4-6] [R3.8.1-8] does not require a Foreign-Home extension on a deregistration', () => {
    expect(expectAccept(check({ lifetime: 0, careOfAddress: FA }, [mhae()], viaFa)).operation).toBe('deregister-one');
  });

  it('checks the Identification (b) before the foreign agent (c)', () => {
    expectDeny(check({ identification: { high: 1, low: 1 } }, [mhae()], viaFa), 133);
  });
});

describe('checkHaRequest: poorly formed Requests (134)', () => {
  it('[R3.8.2.3-2] rejects non-zero reserved bits r and x with 134 although 3.3 says to ignore them', () => {
    for (const flags of [0x04, 0x01, 0x05, 0x20 | 0x04]) {
      const deny = expectDeny(check({ flags }, [mhae()]), 134);
      expect(deny.reason).toBe('reserved-bits-set');
      expect(deny.replyIdentification).toEqual(FRESH);
      expect(deny.replayUpdate).toEqual({ kind: 'timestamp', lastAccepted: FRESH });
    }
  });

  it('rejects an authentication extension placed before the Mobile-Home one with 134', () => {
    expect(expectDeny(check({}, [mfae(), mhae()]), 134).reason).toBe('misplaced-authentication-extension');
    expect(expectDeny(check({}, [fhae(), mhae()], { ipSource: FA, foreignAgent }), 134).reason).toBe('misplaced-authentication-extension');
  });

  it('rejects a registration whose care-of address cannot terminate a tunnel with 134', () => {
    for (const careOfAddress of [0, ipv4('127.0.0.1'), ipv4('224.0.0.11'), ipv4('240.0.0.1'), 0xffffffff, ipv4('198.51.100.255'), HOME]) {
      expect(expectDeny(check({ careOfAddress }, [mhae()]), 134).reason).toBe('unusable-care-of-address');
    }
  });
});

describe('checkHaRequest: home agent and home address (136, 129)', () => {
  it('[R3.8.2.1-21] [R3.8.2.1-22] rejects a Request sent to the subnet-directed broadcast or 255.255.255.255 with 136 and the unicast address', () => {
    for (const ipDestination of [subnetBroadcast(settings.homeNetwork, 24), 0xffffffff]) {
      const deny = expectDeny(check({ homeAgent: ipDestination }, [mhae()], { ipDestination }), 136);
      expect(deny.reason).toBe('broadcast-destination');
      expect(deny.homeAgentField).toBe(HA);
    }
  });

  it('[R3.8.3.2-9] [R3.8.3.2-10] rejects a Home Agent field that is not ours with 136, naming our unicast address (vector rrp_136)', () => {
    const deny = expectDeny(check({ homeAgent: ipv4('198.51.100.255') }, [mhae()]), 136);
    expect(deny.reason).toBe('unknown-home-agent-address');
    expect(deny.homeAgentField).toBe(HA);
    // The reply vector's Home Agent field (bytes 8-11 of a Reply) is that address.
    expect(vector('rrp_136_unknown_home_agent').hex.slice(16, 24)).toBe('c6336401');
    expect(homeAgentUnicastAddress({ ...settings, addresses: [HA_SECOND, HA] })).toBe(HA);
  });

  it('[R3.8.3.2-6] [R3.8.3.2-5] rejects with 129 a nonzero Home Address that is not this node\'s or not on the home network, copying it', () => {
    const other = ipv4('198.51.100.11');
    const deny = expectDeny(check({ homeAddress: other }, [{ kind: 'nai', nai: 'mn1@example.org' }, mhae()]), 129);
    expect(deny.reason).toBe('home-address-not-supported');
    expect(deny.homeAddressField).toBe(other);
    const offNet = ipv4('192.0.2.10');
    const offNetNode = nodeWith([mnContext], { homeAddress: offNet });
    expect(expectDeny(check({ homeAddress: offNet }, [mhae()], { mobileNode: offNetNode }), 129).reason).toBe('home-address-not-supported');
  });

  it('[R3.8.1-5] [R3.8.3.2-7] gives a node that sent Home Address 0 and its NAI its configured address', () => {
    const naiNode = nodeWith([mnContext], { nai: 'mn1@example.org' });
    const verdict = expectAccept(check({ homeAddress: 0 }, [{ kind: 'nai', nai: 'mn1@example.org' }, mhae()], { mobileNode: naiNode }));
    expect(verdict.homeAddress).toBe(HOME);
    // A denial keeps the Home Address field 0.
    const deny = expectDeny(check({ homeAddress: 0, flags: 0x01 }, [{ kind: 'nai', nai: 'mn1@example.org' }, mhae()], { mobileNode: naiNode }), 134);
    expect(deny.homeAddressField).toBe(0);
  });

  it('rejects with 129 an NAI that names another node than the one authenticated', () => {
    const naiNode = nodeWith([mnContext], { nai: 'mn1@example.org' });
    expect(expectDeny(check({}, [{ kind: 'nai', nai: 'mn2@example.org' }, mhae()], { mobileNode: naiNode }), 129).reason).toBe('nai-mismatch');
  });
});

describe('checkHaRequest: tunnel options (129, 137)', () => {
  it('uses GRE or minimal encapsulation when requested and enabled; GRE when both are requested', () => {
    expect(expectAccept(check({ flags: 0x10 }, [mhae()])).encapsulation).toBe('minimal');
    expect(expectAccept(check({ flags: 0x08 }, [mhae()])).encapsulation).toBe('gre');
    expect(expectAccept(check({ flags: 0x18 }, [mhae()])).encapsulation).toBe('gre');
    const noGre = { ...settings, encapsulations: { minimal: true, gre: false } };
    expect(expectAccept(check({ flags: 0x18 }, [mhae()], { homeAgent: noGre })).encapsulation).toBe('minimal');
  });

  it('rejects with 129 an encapsulation that is disabled, unless falling back to IP in IP is configured', () => {
    const none = { ...settings, encapsulations: { minimal: false, gre: false } };
    for (const flags of [0x10, 0x08, 0x18]) {
      expect(expectDeny(check({ flags }, [mhae()], { homeAgent: none }), 129).reason).toBe('encapsulation-unavailable');
      expect(expectAccept(check({ flags }, [mhae()], { homeAgent: { ...none, encapsulationFallback: true } })).encapsulation).toBe('ip-in-ip');
    }
    // A deregistration creates no tunnel, so it is not refused for it.
    expectAccept(check({ flags: 0x10, lifetime: 0 }, [mhae()], { homeAgent: none }));
  });

  it('rejects a reverse tunnel request with 137 when reverse tunnelling is off', () => {
    expect(expectDeny(check({ flags: 0x02 }, [mhae()], { homeAgent: { ...settings, reverseTunneling: false } }), 137).reason).toBe('reverse-tunnel-unavailable');
    expect(expectAccept(check({ flags: 0x02 }, [mhae()])).reverseTunnel).toBe(true);
  });
});

describe('checkHaRequest: reverse tunnel policy (RFC 3024 3.4: 137, 138, 139)', () => {
  const T = 0x02;
  const M = 0x10;
  const G = 0x08;
  const withPolicy = (policy: 'allowed' | 'required' | 'refused') => nodeWith([mnContext], { reverseTunnel: policy });

  it('grants T under allowed and records it; no T under allowed is a plain binding', () => {
    expect(expectAccept(check({ flags: T }, [mhae()], { mobileNode: withPolicy('allowed') })).reverseTunnel).toBe(true);
    expect(expectAccept(check({ flags: 0 }, [mhae()], { mobileNode: withPolicy('allowed') })).reverseTunnel).toBe(false);
  });

  it('refuses T with 137 for a node whose policy is refused, and accepts it without T', () => {
    expect(expectDeny(check({ flags: T }, [mhae()], { mobileNode: withPolicy('refused') }), 137).reason).toBe('reverse-tunnel-unavailable');
    expect(expectAccept(check({ flags: 0 }, [mhae()], { mobileNode: withPolicy('refused') })).reverseTunnel).toBe(false);
  });

  it('refuses a registration without T with 138 for a node whose policy is required; a deregistration is not refused', () => {
    expect(expectDeny(check({ flags: 0 }, [mhae()], { mobileNode: withPolicy('required') }), 138).reason).toBe('reverse-tunnel-mandatory');
    expect(expectAccept(check({ flags: T }, [mhae()], { mobileNode: withPolicy('required') })).reverseTunnel).toBe(true);
    expect(expectAccept(check({ flags: 0, lifetime: 0 }, [mhae()], { mobileNode: withPolicy('required') })).operation).toBe('deregister-one');
  });

  it('refuses T with 139 when the M/G encapsulation asked is one the home agent does not decapsulate, even with IP-in-IP fallback', () => {
    const none = { ...settings, encapsulations: { minimal: false, gre: false }, encapsulationFallback: true };
    for (const flags of [T | M, T | G, T | M | G]) {
      expect(expectDeny(check({ flags }, [mhae()], { homeAgent: none }), 139).reason).toBe('reverse-tunnel-encapsulation-unavailable');
    }
    // Without T the fallback to IP in IP still applies, and T with IP in IP is always possible.
    expect(expectAccept(check({ flags: M }, [mhae()], { homeAgent: none })).encapsulation).toBe('ip-in-ip');
    expect(expectAccept(check({ flags: T }, [mhae()], { homeAgent: none })).reverseTunnel).toBe(true);
    // One of the two asked is enough.
    const greOnly = { ...settings, encapsulations: { minimal: false, gre: true } };
    expect(expectAccept(check({ flags: T | M | G }, [mhae()], { homeAgent: greOnly })).encapsulation).toBe('gre');
  });

  it("the node's policy wins over the home agent's default; the default comes from reverseTunnel, else the older reverseTunneling", () => {
    const requiredByDefault = { ...settings, reverseTunnel: 'required' as const };
    expectDeny(check({ flags: 0 }, [mhae()], { homeAgent: requiredByDefault }), 138);
    expectAccept(check({ flags: 0 }, [mhae()], { homeAgent: requiredByDefault, mobileNode: withPolicy('allowed') }));
    const { reverseTunneling: _omitted, ...bare } = settings;
    expectDeny(check({ flags: T }, [mhae()], { homeAgent: bare }), 137);
    expectAccept(check({ flags: T }, [mhae()], { homeAgent: { ...bare, reverseTunneling: true } }));
  });

  it('checks authentication and the Identification before the reverse tunnel policy (137/138 only to an authentic Request)', () => {
    expect(check({ flags: T }, [mhae({ corrupt: true })], { mobileNode: withPolicy('refused'), homeAgent: { ...settings, replyOnAuthFailure: false } }).kind).toBe('discard');
    expectDeny(check({ flags: 0 }, [mhae({ corrupt: true })], { mobileNode: withPolicy('required') }), 131);
    expectDeny(check({ flags: 0, identification: { high: 1, low: 1 } }, [mhae()], { mobileNode: withPolicy('required') }), 133);
  });
});

describe('mobile node resolution helpers', () => {
  it('finds the node by Home Address, or by NAI when the Home Address is 0', () => {
    expect(mobileNodeKey(encode({}, [mhae()]).request)).toEqual({ kind: 'home-address', homeAddress: HOME });
    expect(mobileNodeKey(encode({ homeAddress: 0 }, [{ kind: 'nai', nai: 'a@b' }, mhae()]).request)).toEqual({ kind: 'nai', nai: 'a@b' });
    expect(mobileNodeKey(encode({ homeAddress: 0 }, [mhae()]).request)).toEqual({ kind: 'none' });
  });

  it('requestNai ignores an NAI placed after the Mobile-Home extension (not authenticated by the node)', () => {
    expect(requestNai(encode({}, [{ kind: 'nai', nai: 'a@b' }, mhae()]).request)).toBe('a@b');
    expect(requestNai(encode({}, [mhae(), { kind: 'nai', nai: 'a@b' }]).request)).toBeUndefined();
  });
});

// --- interop vectors ------------------------------------------------------------------------------

interface Vector {
  id: string;
  hex: string;
  transport: { ip_src: string; ip_dst: string };
  decoded: {
    flags: number;
    lifetime: number;
    home_address: string;
    home_agent: string;
    care_of_address: string;
    identification_high: number;
    identification_low: number;
    extensions: { type: number; offset: number; spi?: number; nai?: string }[];
  };
  expect: { home_agent_action?: string; reply_codes?: number[] };
}

const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: Vector[] }).vectors;

function vector(id: string): Vector {
  const found = vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`no interop vector ${id}`);
  return found;
}

/** The bytes of a request vector and the decoded value built by hand from its `decoded` field. */
function fromVector(id: string): { request: RegistrationRequest; message: Uint8Array } {
  const v = vector(id);
  const message = fromHex(v.hex);
  const extensions: RegistrationExtension[] = v.decoded.extensions.map((e) => {
    if (e.type === 131) return { kind: 'nai', type: 131, nai: e.nai!, offset: e.offset };
    const length = message[e.offset + 1]!;
    return { kind: 'auth', type: e.type as 32 | 33 | 34, spi: e.spi!, authenticator: message.subarray(e.offset + 6, e.offset + 2 + length), offset: e.offset };
  });
  const d = v.decoded;
  return {
    message,
    request: {
      type: 1,
      flags: d.flags,
      lifetime: d.lifetime,
      homeAddress: ipv4(d.home_address),
      homeAgent: ipv4(d.home_agent),
      careOfAddress: ipv4(d.care_of_address),
      identification: { high: d.identification_high, low: d.identification_low },
      extensions,
    },
  };
}

function unixMsOf(identification: Identification): number {
  return (identification.high - 2_208_988_800) * 1000 + 500;
}

describe('interop vectors', () => {
  it('the authenticators of the request vectors verify with their keys', () => {
    for (const id of ['rrq_basic_colocated', 'rrq_deregister_all', 'rrq_nai_then_mhae', 'rrq_via_fa_mhae_mfae']) {
      const { request, message } = fromVector(id);
      const first = request.extensions.find((e) => e.kind === 'auth')!;
      expect(first.kind === 'auth' && verifyAuthenticator('hmac-md5', MN_KEY, message, first), id).toBe(true);
    }
  });

  for (const id of ['rrq_basic_colocated', 'rrq_nai_then_mhae', 'rrq_deregister_all', 'rrq_via_fa_mhae_mfae']) {
    it(`${id}: the home agent accepts it`, () => {
      const v = vector(id);
      const built = fromVector(id);
      // Seen by the home agent: from the MN directly, or relayed by an FA that shares no association.
      const ipSource = id === 'rrq_via_fa_mhae_mfae' ? FA : ipv4(v.transport.ip_src);
      const verdict = expectAccept(checkHaRequest(input(built, { ipSource, nowUnixMs: unixMsOf(built.request.identification) })));
      expect(v.expect.reply_codes ?? [0, 1]).toContain(verdict.code);
      if (id === 'rrq_deregister_all') {
        expect(verdict.operation).toBe('deregister-all');
        expect(verdict.grantedLifetime).toBe(0);
      } else {
        expect(verdict.operation).toBe('register');
      }
    });
  }

  it('replaying a vector with its 2024 timestamp today is refused with 133', () => {
    const built = fromVector('rrq_basic_colocated');
    const deny = expectDeny(checkHaRequest(input(built, { nowUnixMs: Date.UTC(2030, 0, 1) })), 133);
    expect(deny.replyIdentification.low).toBe(1);
  });
});

describe('checkHaRequest: a duplicate of a current registration changes no replay state (3.8.2.2, 5.7)', () => {
  // The node registered FRESH at COA; since then it made a later Request, so the state is ahead.
  const current = [{ careOfAddress: COA, identification: FRESH }];
  const later = { high: FRESH.high, low: FRESH.low + 5 };
  const state = { lastAcceptedTimestamp: later, current };
  const cases: Array<{ name: string; code: number; extra: Partial<HaRequestInput> }> = [
    { name: 'resent to the home agent: accepted', code: 0, extra: {} },
    { name: 'resent to the subnet-directed broadcast: 136', code: 136, extra: { ipDestination: subnetBroadcast(settings.homeNetwork, settings.prefixLength) } },
    { name: 'resent to 255.255.255.255: 136', code: 136, extra: { ipDestination: 0xffffffff } },
    { name: 'resent from a foreign agent\'s address, no FHAE: 132', code: 132, extra: { ipSource: FA, foreignAgent } },
  ];
  for (const c of cases) {
    it(`[R5.7.1-7] ${c.name}, with no replay update and marked replayable`, () => {
      const verdict = checkHaRequest(input(encode({ identification: FRESH }, [mhae()]), { replay: state, ...c.extra }));
      expect(verdict.kind).not.toBe('discard');
      const answered = verdict as Extract<HaVerdict, { kind: 'accept' | 'deny' }>;
      expect(c.code === 0 ? answered.kind : (answered as Extract<HaVerdict, { kind: 'deny' }>).code).toBe(c.code === 0 ? 'accept' : c.code);
      expect(answered.replayUpdate).toBeUndefined();
      expect(answered.replayable).toBe(true);
      expect(answered.replyIdentification).toEqual(FRESH);
    });
  }

  it('nonces: a duplicate\'s Reply repeats the expected nonce and records none', () => {
    const nonceNode = nodeWith([createSecurityContext({ spi: MN_SPI, key: MN_KEY, replay: 'nonce' })]);
    const sent = { high: 0x1000, low: 0xaaaa0002 };
    for (const extra of cases.map((c) => c.extra)) {
      const verdict = checkHaRequest(
        input(encode({ identification: sent }, [mhae()]), {
          mobileNode: nonceNode,
          replay: { expectedNonce: 0x2000, resyncNonce: 0x3000, current: [{ careOfAddress: COA, identification: sent }] },
          nextNonce: 0x4000,
          ...extra,
        }),
      ) as Extract<HaVerdict, { kind: 'accept' | 'deny' }>;
      expect(verdict.replyIdentification).toEqual({ high: 0x2000, low: 0xaaaa0002 });
      expect(verdict.replayUpdate).toBeUndefined();
    }
  });

  it('a fresh Request is not replayable and advances the state, accepted or denied after authentication', () => {
    const accepted = expectAccept(check({}, [mhae()]));
    expect(accepted).toMatchObject({ replayable: false, replayUpdate: { kind: 'timestamp', lastAccepted: FRESH } });
    const denied = expectDeny(check({}, [mhae()], { ipDestination: 0xffffffff }), 136);
    expect(denied).toMatchObject({ replayable: false, replayUpdate: { kind: 'timestamp', lastAccepted: FRESH } });
    expect(expectDeny(check({}, [mhae()], { replay: { lastAcceptedTimestamp: later } }), 133).replayable).toBe(true);
  });
});

describe('checkHaRequest + advanceReplayState over sequences (property)', () => {
  /** What an attacker or the node sends next. */
  type Event =
    | { kind: 'fresh'; coa: number; lifetime: number; s: boolean; to: number; from: number; advanceMs: number }
    | { kind: 'replay'; which: number; to: number; from: number; advanceMs: number };
  const coas = [COA, ipv4('203.0.113.78')];
  const destinations = [HA, subnetBroadcast(settings.homeNetwork, settings.prefixLength), 0xffffffff, ipv4('198.51.100.2')];
  const event: fc.Arbitrary<Event> = fc.oneof(
    fc.record({
      kind: fc.constant('fresh' as const),
      coa: fc.constantFrom(...coas),
      lifetime: fc.constantFrom(0, 600),
      s: fc.boolean(),
      to: fc.nat({ max: destinations.length - 1 }),
      from: fc.nat({ max: 1 }),
      advanceMs: fc.integer({ min: 0, max: 2_000 }),
    }),
    fc.record({ kind: fc.constant('replay' as const), which: fc.nat(), to: fc.nat({ max: destinations.length - 1 }), from: fc.nat({ max: 1 }), advanceMs: fc.integer({ min: 0, max: 2_000 }) }),
  );

  for (const replay of ['timestamp', 'nonce'] as const) {
    it(`[R5.7.1-7] ${replay}: the accepted timestamp never decreases and a duplicate never changes the state`, () => {
      const mobileNode = nodeWith([createSecurityContext({ spi: MN_SPI, key: MN_KEY, replay })]);
      fc.assert(
        fc.property(fc.array(event, { minLength: 1, maxLength: 40 }), fc.integer(), (events, seed) => {
          let now = NOW;
          let low = 0;
          let nonce = seed >>> 0;
          let state: ReplayState = {};
          let current: Array<{ careOfAddress: number; identification: Identification }> = [];
          const sent: Array<ReturnType<typeof encode>> = [];
          for (const e of events) {
            now += e.advanceMs;
            let built: ReturnType<typeof encode>;
            if (e.kind === 'fresh') {
              const high = replay === 'timestamp' ? identificationFromUnixMs(now).high : (state.expectedNonce ?? state.resyncNonce ?? 0);
              const identification = replay === 'timestamp' ? identificationFromUnixMs(now, ++low) : { high, low: ++low };
              built = encode({ identification, careOfAddress: e.coa, lifetime: e.lifetime, flags: e.s ? 0x80 : 0 }, [mhae()]);
              sent.push(built);
            } else {
              if (sent.length === 0) continue;
              built = sent[e.which % sent.length]!;
            }
            const duplicate = current.some((c) => c.careOfAddress === built.request.careOfAddress && c.identification.high === built.request.identification.high && c.identification.low === built.request.identification.low);
            nonce = (nonce + 0x9e3779b9) >>> 0;
            const verdict = checkHaRequest(
              input(built, {
                mobileNode,
                ipDestination: destinations[e.to]!,
                ...(e.from === 1 ? { ipSource: FA, foreignAgent } : {}),
                replay: { ...state, current },
                nowUnixMs: now,
                nextNonce: nonce,
              }),
            );
            if (verdict.kind === 'discard') continue;
            const before = state;
            if (verdict.replayUpdate !== undefined) state = advanceReplayState(state, verdict.replayUpdate);
            if (duplicate) expect(state).toBe(before);
            if (before.lastAcceptedTimestamp !== undefined) {
              const after = state.lastAcceptedTimestamp!;
              expect(isLaterTimestamp(before.lastAcceptedTimestamp, after)).toBe(false);
            }
            if (verdict.kind === 'accept') {
              const entry = { careOfAddress: verdict.careOfAddress, identification: built.request.identification };
              if (verdict.operation === 'deregister-all') current = [];
              else if (verdict.operation === 'deregister-one') current = current.filter((c) => c.careOfAddress !== entry.careOfAddress);
              else if (!duplicate) current = verdict.simultaneous ? [...current.filter((c) => c.careOfAddress !== entry.careOfAddress), entry] : [entry];
            }
          }
        }),
        { seed: 3822, numRuns: 300 },
      );
    });
  }
});
