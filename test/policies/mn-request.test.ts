/**
 * The mobile node's Registration Request (RFC 5944 3.6.1, 5.7) and its Reply checks (3.6.2.1).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import { compareIdentification, identificationFromUnixMs, identificationToUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationReply, decodeRegistrationRequest, extensionOffsets, requestFlagBits } from '../../io/wire/registration.js';
import { ExtensionType, RequestFlag, type RegistrationReply } from '../../io/wire/registration-types.js';
import { verifyAuthenticator } from '../../policies/auth.js';
import {
  ALL_MOBILITY_AGENTS,
  buildRegistrationRequest,
  nextIdentification,
  requestFlags,
  requestLifetime,
  type MnRegistrationTarget,
  type MnRequestSettings,
} from '../../policies/mn-request.js';
import { checkMnReply } from '../../policies/mn-reply.js';
import { MobilitySecurityAssociation, createSecurityContext } from '../../policies/security-association.js';
import { encodeSigned } from '../../policies/sign.js';

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const FA = ipv4('203.0.113.1');
const COA = ipv4('203.0.113.100');
const COLOCATED = ipv4('192.0.2.50');
const MN_HA = createSecurityContext({ spi: 0x1000, key: new TextEncoder().encode('mn-ha secret') });
const MN_FA = createSecurityContext({ spi: 0x2000, key: new TextEncoder().encode('mn-fa secret') });

const SETTINGS: MnRequestSettings = {
  homeAddress: HOME,
  homeAgent: HA,
  homeNetwork: ipv4('198.51.100.0'),
  homePrefixLength: 24,
  mobileHome: MN_HA,
  lifetime: 1800,
};

const VIA_FA: MnRegistrationTarget = {
  kind: 'foreign-agent',
  agent: FA,
  agentLinkAddress: '02:00:00:00:00:01',
  careOfAddress: COA,
  registrationLifetime: 300,
  minimal: false,
  gre: true,
  reverseTunnel: false,
};
const COLOCATED_TARGET: MnRegistrationTarget = { kind: 'co-located', careOfAddress: COLOCATED };
const ID = { high: 0xeb3c7f00, low: 0x12345678 };

describe('Registration Request fields (3.6.1.2)', () => {
  it('[R3.6.1.2-11] through a foreign agent the Lifetime does not exceed its advertised Registration Lifetime', () => {
    expect(requestLifetime(SETTINGS, VIA_FA)).toBe(300);
    expect(requestLifetime({ lifetime: 100 }, VIA_FA)).toBe(100);
  });

  it('[R3.6.1.2-12] without a configured Lifetime the ICMP default of 1800 s is used', () => {
    expect(requestLifetime({}, COLOCATED_TARGET)).toBe(1800);
  });

  it('[R3.6.1.2-21] [R3.6.1.2-13] deregistering at home: Lifetime 0 and the care-of address is the home address', () => {
    expect(requestLifetime(SETTINGS, { kind: 'home' })).toBe(0);
    const { request, addressing } = buildRegistrationRequest(SETTINGS, { kind: 'home' }, { identification: ID, lifetime: 0 });
    expect(request.careOfAddress).toBe(HOME);
    expect(request.lifetime).toBe(0);
    expect(request.flags).toBe(0);
    expect(addressing).toEqual({ source: HOME, destination: HA, ttl: 64, destinationPort: 434 });
  });

  it('[R3.6.1.2-2] [R3.6.1.2-3] D exactly with a co-located care-of address', () => {
    expect(requestFlags(SETTINGS, COLOCATED_TARGET) & RequestFlag.D).toBe(RequestFlag.D);
    expect(requestFlags(SETTINGS, VIA_FA) & RequestFlag.D).toBe(0);
  });

  it('[R3.6.1.2-9] [R3.6.1.2-10] M / G only when co-located or advertised by the foreign agent', () => {
    const wants = { ...SETTINGS, minimalEncapsulation: true, greEncapsulation: true };
    expect(requestFlagBits(requestFlags(wants, VIA_FA))).toMatchObject({ M: false, G: true });
    expect(requestFlagBits(requestFlags(wants, COLOCATED_TARGET))).toMatchObject({ M: true, G: true });
    expect(requestFlagBits(requestFlags(SETTINGS, COLOCATED_TARGET))).toMatchObject({ M: false, G: false });
  });

  it('[R3.6.1.2-8] B through a foreign agent only when the node decapsulates itself', () => {
    expect(requestFlags({ ...SETTINGS, broadcast: true }, VIA_FA) & RequestFlag.B).toBe(0);
    expect(requestFlags({ ...SETTINGS, broadcast: true, decapsulates: true }, VIA_FA) & RequestFlag.B).toBe(RequestFlag.B);
    expect(requestFlags({ ...SETTINGS, broadcast: true }, COLOCATED_TARGET) & RequestFlag.B).toBe(RequestFlag.B);
  });

  it('[R3.6.1.2-1] S when asked; T only if the foreign agent offers reverse tunnelling; r and x always 0', () => {
    const all = { ...SETTINGS, simultaneousBindings: true, reverseTunnel: true, broadcast: true, decapsulates: true, minimalEncapsulation: true, greEncapsulation: true };
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (colocated, m, g, t) => {
        const target: MnRegistrationTarget = colocated ? COLOCATED_TARGET : { ...VIA_FA, minimal: m, gre: g, reverseTunnel: t };
        const flags = requestFlags(all, target);
        expect(flags & (RequestFlag.r | RequestFlag.x)).toBe(0);
        expect(flags & RequestFlag.S).toBe(RequestFlag.S);
        expect((flags & RequestFlag.T) !== 0).toBe(colocated || t);
      }),
    );
    expect(requestFlags(SETTINGS, VIA_FA) & RequestFlag.S).toBe(0);
  });

  it('[R3.6.1-1] every field of the Request is supplied, for each kind of registration, and survives encoding', () => {
    const targets: Array<[MnRegistrationTarget, { flags: number; lifetime: number; careOfAddress: number }]> = [
      [VIA_FA, { flags: 0, lifetime: 300, careOfAddress: COA }],
      [COLOCATED_TARGET, { flags: RequestFlag.D, lifetime: 1800, careOfAddress: COLOCATED }],
      [{ kind: 'home' }, { flags: 0, lifetime: 0, careOfAddress: HOME }],
    ];
    for (const [target, expected] of targets) {
      const { request, keyFor } = buildRegistrationRequest(SETTINGS, target, { identification: ID, lifetime: requestLifetime(SETTINGS, target) });
      const decoded = decodeRegistrationRequest(encodeSigned(request, keyFor));
      expect(decoded.ok && decoded.value, target.kind).toMatchObject({ type: 1, homeAddress: HOME, homeAgent: HA, identification: ID, ...expected });
    }
  });

  it('[R3.6.1.2-14] [R3.6.1.2-16] [R3.6.1.2-20] Home Address, Home Agent and Care-of Address fields', () => {
    const { request } = buildRegistrationRequest(SETTINGS, VIA_FA, { identification: ID, lifetime: 300 });
    expect(request).toMatchObject({ homeAddress: HOME, homeAgent: HA, careOfAddress: COA, lifetime: 300, identification: ID });
  });

  it('[R3.6.1.2-15] [R3.6.1.2-18] unknown home address → 0; unknown home agent → the home subnet-directed broadcast', () => {
    const { request } = buildRegistrationRequest({ ...SETTINGS, homeAddress: 0, homeAgent: undefined, nai: 'mn@example.net' }, VIA_FA, { identification: ID, lifetime: 300 });
    expect(request.homeAddress).toBe(0);
    expect(request.homeAgent).toBe(ipv4('198.51.100.255'));
  });

  it('after a 136 the Home Agent field is the address learned (3.6.2.3)', () => {
    const { request, addressing } = buildRegistrationRequest({ ...SETTINGS, homeAgent: undefined }, COLOCATED_TARGET, { identification: ID, lifetime: 300, homeAgent: HA });
    expect(request.homeAgent).toBe(HA);
    expect(addressing.destination).toBe(HA);
  });
});

describe('IP fields (3.6.1.1)', () => {
  it('[R3.6.1.1-1] co-located: the source is the care-of address; [R3.6.1.1-9] the destination the home agent', () => {
    const { addressing } = buildRegistrationRequest(SETTINGS, COLOCATED_TARGET, { identification: ID, lifetime: 300 });
    expect(addressing).toEqual({ source: COLOCATED, destination: HA, ttl: 64, destinationPort: 434 });
  });

  it('[R3.6.1.1-2] [R3.6.1.1-3] no home address → source 0.0.0.0; otherwise the home address', () => {
    expect(buildRegistrationRequest({ ...SETTINGS, homeAddress: 0 }, VIA_FA, { identification: ID, lifetime: 300 }).addressing.source).toBe(0);
    expect(buildRegistrationRequest(SETTINGS, VIA_FA, { identification: ID, lifetime: 300 }).addressing.source).toBe(HOME);
  });

  it('[R3.6.1.1-6] [R3.6.1.1-8] [R3.6.1.1-10] through a foreign agent: to its Advertisement source, link and IP, never a broadcast', () => {
    const { addressing } = buildRegistrationRequest({ ...SETTINGS, homeAgent: undefined }, VIA_FA, { identification: ID, lifetime: 300 });
    expect(addressing).toEqual({ source: HOME, destination: FA, ttl: 64, destinationPort: 434, linkDestination: '02:00:00:00:00:01' });
  });

  it('[R3.6.1.1-4] [R3.6.1.1-5] [R3.6.1.1-11] an agent known only by its link address: 224.0.0.11 with TTL 1 to that link address', () => {
    const { agent: _agent, ...noIp } = VIA_FA as Extract<MnRegistrationTarget, { kind: 'foreign-agent' }>;
    const { addressing } = buildRegistrationRequest(SETTINGS, noIp, { identification: ID, lifetime: 300 });
    expect(addressing).toEqual({ source: HOME, destination: ALL_MOBILITY_AGENTS, ttl: 1, destinationPort: 434, linkDestination: '02:00:00:00:00:01' });
  });
});

describe('Extensions (3.6.1.3) and signing', () => {
  it('[R3.6.1.3-1] [R3.6.1.3-2] [R3.6.1.3-3] NAI, then the Mobile-Home, then the Mobile-Foreign extension; both authenticators verify', () => {
    const settings = { ...SETTINGS, nai: 'mn@example.net', mobileForeign: MN_FA };
    const { request, keyFor } = buildRegistrationRequest(settings, VIA_FA, { identification: ID, lifetime: 300 });
    expect(request.extensions.map((e) => e.type)).toEqual([ExtensionType.MobileNodeNai, ExtensionType.MobileHomeAuth, ExtensionType.MobileForeignAuth]);
    const bytes = encodeSigned(request, keyFor);
    const decoded = decodeRegistrationRequest(bytes);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const offsets = extensionOffsets(decoded.value);
    const [, mhae, mfae] = decoded.value.extensions;
    expect(mhae!.kind === 'auth' && verifyAuthenticator(MN_HA.algorithm, MN_HA.key, bytes, { offset: offsets[1]!, authenticator: mhae.authenticator })).toBe(true);
    expect(mfae!.kind === 'auth' && verifyAuthenticator(MN_FA.algorithm, MN_FA.key, bytes, { offset: offsets[2]!, authenticator: mfae.authenticator })).toBe(true);
  });

  it('[R3.6.1.3-2] without an NAI or an MN-FA association only the Mobile-Home extension; none to a foreign agent when co-located', () => {
    expect(buildRegistrationRequest(SETTINGS, VIA_FA, { identification: ID, lifetime: 1 }).request.extensions.map((e) => e.type)).toEqual([32]);
    const colocated = buildRegistrationRequest({ ...SETTINGS, mobileForeign: MN_FA }, COLOCATED_TARGET, { identification: ID, lifetime: 1 });
    expect(colocated.request.extensions.map((e) => e.type)).toEqual([32]);
  });
});

describe('Identification (5.7)', () => {
  it('[R5.7.1-3] [R5.7.1-4] timestamps: NTP time of the clock plus offset, sub-millisecond bits from the random source', () => {
    const id = nextIdentification({ replay: 'timestamp', nowUnixMs: T0, clockOffsetMs: 2500, random32: 0xffffffff });
    expect(identificationToUnixMs(id)).toBe(T0 + 2500);
    expect(id).not.toEqual(nextIdentification({ replay: 'timestamp', nowUnixMs: T0, clockOffsetMs: 2500, random32: 1 }));
  });

  it('[R5.7.1-5] timestamps are strictly increasing whatever the clock and random values do', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -5000, max: 5000 }), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 2, maxLength: 30 }), (steps) => {
        let now = T0;
        let previous = undefined as ReturnType<typeof nextIdentification> | undefined;
        for (const [dt, random] of steps) {
          now += dt; // clocks may step backwards
          const id = nextIdentification({ replay: 'timestamp', nowUnixMs: now, clockOffsetMs: 0, random32: random, ...(previous ? { previous } : {}) });
          if (previous) expect(compareIdentification(id, previous)).toBe(1);
          previous = id;
        }
      }),
    );
  });

  it('[R5.7.2-1] nonces: high = the home agent nonce, low random and different from the previous low half', () => {
    const id = nextIdentification({ replay: 'nonce', nowUnixMs: T0, clockOffsetMs: 0, random32: 42, nonce: 0xdeadbeef, previous: { high: 1, low: 42 } });
    expect(id).toEqual({ high: 0xdeadbeef, low: 43 });
  });
});

describe('Reply validity checks (3.6.2.1)', () => {
  const association = new MobilitySecurityAssociation(HOME);
  association.add(MN_HA);
  const reply = (code: number, o: Partial<RegistrationReply> = {}, sign = true, foreign = false): Uint8Array => {
    const value: RegistrationReply = {
      type: 3,
      code,
      lifetime: 300,
      homeAddress: HOME,
      homeAgent: HA,
      identification: ID,
      extensions: [
        ...(sign ? [{ kind: 'auth' as const, type: 32 as const, spi: MN_HA.spi, offset: 0, authenticator: new Uint8Array(16) }] : []),
        ...(foreign ? [{ kind: 'auth' as const, type: 33 as const, spi: MN_FA.spi, offset: 0, authenticator: new Uint8Array(16) }] : []),
      ],
      ...o,
    };
    return encodeSigned(value, (type) => (type === 32 ? MN_HA : type === 33 ? MN_FA : undefined));
  };
  const check = (bytes: Uint8Array, extra: { mobileForeign?: typeof MN_FA; udpChecksumValid?: boolean } = {}) => {
    const decoded = decodeRegistrationReply(bytes);
    if (!decoded.ok) throw new Error('undecodable');
    return checkMnReply({ reply: decoded.value, message: bytes, udpChecksumValid: extra.udpChecksumValid ?? true, requestIdentification: ID, mobileHome: association, ...(extra.mobileForeign ? { mobileForeign: extra.mobileForeign } : {}) });
  };

  it('accepts an authentic Reply and classifies its Code', () => {
    expect(check(reply(0))).toEqual({ kind: 'valid', codeClass: 'accepted' });
    expect(check(reply(133))).toEqual({ kind: 'valid', codeClass: 'home-agent-denied' });
  });

  it('[R3.6.2.1-1] an invalid non-zero UDP checksum discards', () => {
    expect(check(reply(0), { udpChecksumValid: false })).toMatchObject({ kind: 'discard', reason: 'udp-checksum' });
  });

  it('[R3.6.2.1-3] [R5.7-5] different low 32 bits discard; a different high half does not', () => {
    expect(check(reply(0, { identification: { high: ID.high, low: ID.low + 1 } }))).toMatchObject({ reason: 'identification-mismatch' });
    expect(check(reply(0, { identification: { high: 7, low: ID.low } }))).toMatchObject({ kind: 'valid' });
  });

  it('[R3.6.2.1-8] [R3.6.2.1-9] a home agent Code without a valid Mobile-Home extension discards (security exception)', () => {
    expect(check(reply(0, {}, false))).toMatchObject({ reason: 'no-mobile-home-auth', securityException: true });
    const tampered = reply(0);
    tampered[3] ^= 1; // Lifetime changed after signing
    expect(check(tampered)).toMatchObject({ reason: 'bad-mobile-home-auth', securityException: true });
  });

  it('[R3.6.2.1-4] [R3.6.2.1-5] every Reply is checked for its authorization-enabling extension, as its Code says: required for each home agent Code, not for a foreign agent denial', () => {
    const homeAgentCodes = [0, 1, 128, 129, 130, 131, 132, 133, 134, 135, 136];
    const foreignAgentCodes = [64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81, 82, 83, 84, 85, 86, 88];
    for (const code of homeAgentCodes) {
      expect(check(reply(code, {}, false)), `code ${code}`).toMatchObject({ kind: 'discard', reason: 'no-mobile-home-auth' });
      expect(check(reply(code)).kind, `code ${code}`).toBe('valid');
    }
    for (const code of foreignAgentCodes) expect(check(reply(code, {}, false)), `code ${code}`).toEqual({ kind: 'valid', codeClass: 'foreign-agent-denied' });
  });

  it('a foreign agent denial needs no Mobile-Home extension', () => {
    expect(check(reply(69, {}, false))).toEqual({ kind: 'valid', codeClass: 'foreign-agent-denied' });
  });

  it('[R3.6.2.1-6] [R3.6.2.1-7] with an MN-FA association exactly one valid Mobile-Foreign extension is required', () => {
    expect(check(reply(0), { mobileForeign: MN_FA })).toMatchObject({ reason: 'no-mobile-foreign-auth' });
    expect(check(reply(0, {}, true, true), { mobileForeign: MN_FA })).toEqual({ kind: 'valid', codeClass: 'accepted' });
    const wrongKey = createSecurityContext({ spi: MN_FA.spi, key: new Uint8Array([1, 2, 3]) });
    expect(check(reply(0, {}, true, true), { mobileForeign: wrongKey })).toMatchObject({ reason: 'bad-mobile-foreign-auth' });
  });

  it('timestamps from identificationFromUnixMs round-trip through the 133 resynchronisation arithmetic', () => {
    const ha = identificationFromUnixMs(T0 + 100_000);
    expect(identificationToUnixMs({ high: ha.high, low: 0 })).toBe(T0 + 100_000);
  });
});
