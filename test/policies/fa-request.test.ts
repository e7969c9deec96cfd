/**
 * The foreign agent's checks of Registration Requests and Replies (RFC 5944 3.7.2, 3.7.3).
 * Messages are built with the project's codec and signer, then decoded, so extension offsets
 * are what an agent sees; authenticators are checked against policies/auth.ts independently.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4, readU16, readU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { IcmpType, UnreachableCode } from '../../io/wire/icmp.js';
import { decodeRegistrationReply, decodeRegistrationRequest, encodeRegistrationMessage, registrationMessageLength } from '../../io/wire/registration.js';
import {
  ExtensionType,
  RequestFlag,
  type AuthExtension,
  type Identification,
  type RegistrationExtension,
  type RegistrationReply,
  type RegistrationRequest,
} from '../../io/wire/registration-types.js';
import { verifyAuthenticator } from '../../policies/auth.js';
import {
  ALL_MOBILITY_AGENTS,
  buildFaDenial,
  checkFaReply,
  checkFaRequest,
  faCodeForIcmpError,
  fromHomeAgentOf,
  pendingForIcmpError,
  RecentDenials,
  DEFAULT_DENIAL_MEMORY,
  quotedRelayedRequest,
  FaReplyCode,
  type FaReplyInput,
  type FaRequestInput,
  type FaRequestVerdict,
  type FaSettings,
  type PendingRegistration,
} from '../../policies/fa-request.js';
import { createSecurityContext, MobilitySecurityAssociation, type MobilitySecurityContext } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const COA_2 = ipv4('203.0.113.2');
const FA_LINK = ipv4('203.0.113.254');
const FA_OTHER_INTERFACE = ipv4('192.0.2.254');
const MN_MAC = '02:00:00:00:00:0a';
const ID: Identification = { high: 0xeb3c7f00, low: 0x12345678 };
const NOW = 1_767_225_600_000;

const MN_HA = createSecurityContext({ spi: 0x1000, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') });
const MN_FA = createSecurityContext({ spi: 0x2000, key: fromHex('000102030405060708090a0b0c0d0e0f') });
const FA_HA = createSecurityContext({ spi: 0x3000, key: fromHex('f0e0d0c0b0a090807060504030201000') });
const OTHER = createSecurityContext({ spi: 0x2000, key: fromHex('ffffffffffffffffffffffffffffffff') });

function association(peer: Ipv4Address, ...contexts: MobilitySecurityContext[]): MobilitySecurityAssociation {
  const a = new MobilitySecurityAssociation(peer);
  for (const c of contexts) a.add(c);
  return a;
}

const SETTINGS: FaSettings = {
  careOfAddresses: [COA, COA_2],
  interfaceAddresses: [FA_LINK, FA_OTHER_INTERFACE],
  linkAddress: FA_LINK,
  registrationLifetime: 1800,
  busy: false,
  encapsulations: { minimal: true, gre: false },
  reverseTunneling: true,
  requireMobileForeignAuthentication: false,
  maxPending: 5,
  acceptZeroHomeAddress: true,
};

type Spec = { kind: 'mhae' } | { kind: 'mfae'; context?: MobilitySecurityContext; corrupt?: boolean } | { kind: 'fhae'; context?: MobilitySecurityContext } | RegistrationExtension;

function extensionsOf(specs: readonly Spec[]): RegistrationExtension[] {
  return specs.map((s) => {
    if (s.kind === 'mhae') return authPlaceholder(ExtensionType.MobileHomeAuth, MN_HA.spi);
    if (s.kind === 'mfae') return authPlaceholder(ExtensionType.MobileForeignAuth, (s.context ?? MN_FA).spi);
    if (s.kind === 'fhae') return authPlaceholder(ExtensionType.ForeignHomeAuth, (s.context ?? FA_HA).spi);
    return s;
  });
}

function sign(message: RegistrationRequest | RegistrationReply, specs: readonly Spec[]): Uint8Array {
  let mfaeContext = MN_FA;
  let fhaeContext = FA_HA;
  let corrupt = false;
  for (const s of specs) {
    if (s.kind === 'mfae') {
      mfaeContext = s.context ?? MN_FA;
      corrupt ||= s.corrupt === true;
    }
    if (s.kind === 'fhae') fhaeContext = s.context ?? FA_HA;
  }
  const bytes = encodeSigned(message, (type) =>
    type === ExtensionType.MobileHomeAuth ? MN_HA : type === ExtensionType.MobileForeignAuth ? mfaeContext : type === ExtensionType.ForeignHomeAuth ? fhaeContext : undefined,
  );
  if (corrupt) bytes[bytes.length - 1] ^= 0xff;
  return bytes;
}

function makeRequest(fields: Partial<Omit<RegistrationRequest, 'extensions'>> = {}, specs: readonly Spec[] = [{ kind: 'mhae' }]) {
  const draft: RegistrationRequest = {
    type: 1,
    flags: 0,
    lifetime: 600,
    homeAddress: HOME,
    homeAgent: HA,
    careOfAddress: COA,
    identification: ID,
    extensions: extensionsOf(specs),
    ...fields,
  };
  const message = sign(draft, specs);
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return { request: decoded.value, message };
}

const IDLE = { registrations: 0, fromLinkSource: 0, forHomeAddress: 0, recentUnknownDeregistrations: 0 };

function input(overrides: Partial<FaRequestInput> = {}, fields: Partial<Omit<RegistrationRequest, 'extensions'>> = {}, specs?: readonly Spec[]): FaRequestInput {
  const { request, message } = makeRequest(fields, specs);
  return {
    request,
    message,
    udpChecksumValid: true,
    ipSource: HOME,
    ipDestination: FA_LINK,
    udpSourcePort: 49152,
    linkLayerSource: MN_MAC,
    settings: SETTINGS,
    pendingUsage: IDLE,
    isVisitor: false,
    nowMs: NOW,
    ...overrides,
  };
}

function expectDeny(verdict: FaRequestVerdict, code: number): Extract<FaRequestVerdict, { kind: 'deny' }> {
  expect(verdict.kind, JSON.stringify(verdict.kind === 'deny' || verdict.kind === 'discard' ? verdict.detail : verdict.kind)).toBe('deny');
  if (verdict.kind !== 'deny') throw new Error('unreachable');
  expect(verdict.code).toBe(code);
  // The datagram says the same as the value, byte for byte.
  const decoded = decodeRegistrationReply(verdict.datagram.bytes);
  expect(decoded.ok).toBe(true);
  if (decoded.ok) expect(decoded.value.code).toBe(code);
  return verdict;
}

function expectRelay(verdict: FaRequestVerdict): Extract<FaRequestVerdict, { kind: 'relay' }> {
  expect(verdict.kind, verdict.kind === 'deny' || verdict.kind === 'discard' ? verdict.detail : '').toBe('relay');
  if (verdict.kind !== 'relay') throw new Error('unreachable');
  return verdict;
}

describe('checkFaRequest: silent discards', () => {
  it('[R3.7.2.1-1] discards a Request with an invalid non-zero UDP checksum', () => {
    expect(checkFaRequest(input({ udpChecksumValid: false }))).toMatchObject({ kind: 'discard', reason: 'udp-checksum' });
  });

  it('[R1.8-1] discards a Request with an unrecognised extension of type 0-127, but skips one of 128-255', () => {
    const rest: RegistrationExtension = { kind: 'unknown', type: 100, skippable: false, format: 'rest', offset: 0, data: fromHex('0102') };
    expect(checkFaRequest(input({}, {}, [{ kind: 'mhae' }, rest]))).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
    const skippable: RegistrationExtension = { kind: 'unknown', type: 200, skippable: true, format: 'tlv', offset: 0, data: fromHex('0102') };
    expectRelay(checkFaRequest(input({}, {}, [skippable, { kind: 'mhae' }])));
  });

  it('[R3.7.2-2] sends at most one denial per second to the same mobile node; the rest are discarded', () => {
    const poorly = { flags: RequestFlag.x };
    expect(checkFaRequest(input({ lastDenialAtMs: NOW - 999 }, poorly))).toMatchObject({ kind: 'discard', reason: 'denial-rate-limited', suppressedCode: 70 });
    expectDeny(checkFaRequest(input({ lastDenialAtMs: NOW - 1000 }, poorly)), 70);
  });
});

describe('checkFaRequest: Mobile-Foreign authentication (67)', () => {
  const withSa = { mobileNode: association(HOME, MN_FA) };

  it('[R3.7.2.1-5] [R3.7.1-11] accepts exactly one valid MFAE, and relays without it', () => {
    const v = expectRelay(checkFaRequest(input(withSa, {}, [{ kind: 'mhae' }, { kind: 'mfae' }])));
    expect(v.removedExtensions).toBe(1);
  });

  for (const [what, specs] of [
    ['no MFAE', [{ kind: 'mhae' }]],
    ['two MFAEs', [{ kind: 'mhae' }, { kind: 'mfae' }, { kind: 'mfae' }]],
    ['an invalid authenticator', [{ kind: 'mhae' }, { kind: 'mfae', corrupt: true }]],
    ['an MFAE computed with another key', [{ kind: 'mhae' }, { kind: 'mfae', context: OTHER }]],
  ] as const) {
    it(`[R3.7.2.1-6] [R3.7.2.1-7] ${what}: the Request is not relayed, a security exception is logged and 67 is sent`, () => {
      const v = expectDeny(checkFaRequest(input(withSa, {}, specs)), FaReplyCode.MobileNodeFailedAuthentication);
      expect(v.securityException).toBe(true);
    });
  }

  it('[R3.6.1.3-1] an MFAE before the MHAE is refused with 67', () => {
    expectDeny(checkFaRequest(input(withSa, {}, [{ kind: 'mfae' }, { kind: 'mhae' }])), 67);
  });

  it('[R3.7.1-11] the denial to a node with an association carries a valid MFAE', () => {
    const v = expectDeny(checkFaRequest(input(withSa, { flags: RequestFlag.r }, [{ kind: 'mhae' }, { kind: 'mfae' }])), 70);
    const decoded = decodeRegistrationReply(v.datagram.bytes);
    if (!decoded.ok) throw new Error('reply does not decode');
    const mfae = decoded.value.extensions.find((e): e is AuthExtension => e.kind === 'auth' && e.type === ExtensionType.MobileForeignAuth);
    expect(mfae?.spi).toBe(MN_FA.spi);
    expect(verifyAuthenticator(MN_FA.algorithm, MN_FA.key, v.datagram.bytes, mfae!)).toBe(true);
  });

  it('requireMobileForeignAuthentication denies a node without an association with 67', () => {
    const settings = { ...SETTINGS, requireMobileForeignAuthentication: true };
    expectDeny(checkFaRequest(input({ settings })), 67);
    expectRelay(checkFaRequest(input({ settings, ...withSa }, {}, [{ kind: 'mhae' }, { kind: 'mfae' }])));
  });
});

describe('checkFaRequest: denials with the codes 3.4 assigns', () => {
  it('[R3.3-2] a Request without an authorization-enabling extension is poorly formed: 70', () => {
    expectDeny(checkFaRequest(input({}, {}, [])), FaReplyCode.PoorlyFormedRequest);
  });

  it('[R3.2-3] an authentication extension before the MHAE: 70', () => {
    expectDeny(checkFaRequest(input({}, {}, [{ kind: 'fhae' }, { kind: 'mhae' }])), 70);
  });

  for (const bit of ['r', 'x'] as const) {
    it(`[R3.7.2.1-2] [R3.7.2.3-2] reserved bit '${bit}' set: 70 (3.7.2.1 over 3.3's "ignored on reception")`, () => {
      expectDeny(checkFaRequest(input({}, { flags: RequestFlag[bit] })), FaReplyCode.PoorlyFormedRequest);
    });
  }

  it('[R3.7.2-3] a Home Agent field naming one of this agent\'s interfaces is not relayed: 194, or local handling when it is the home agent', () => {
    for (const own of [FA_LINK, FA_OTHER_INTERFACE, COA]) {
      expectDeny(checkFaRequest(input({}, { homeAgent: own })), FaReplyCode.InvalidHomeAgentAddress);
      expect(checkFaRequest(input({ servesAsHomeAgent: true }, { homeAgent: own })).kind).toBe('local-home-agent');
    }
  });

  it('194 for a Home Agent field that no home agent can have', () => {
    for (const bad of ['0.0.0.0', '255.255.255.255', '224.0.0.11', '127.0.0.1']) {
      expectDeny(checkFaRequest(input({}, { homeAgent: ipv4(bad) })), 194);
    }
  });

  it('[R3.7.1-3] [R3.7.1-4] Home Address 0: an NAI is needed (97), and an agent that cannot keep such records answers 96', () => {
    const nai: RegistrationExtension = { kind: 'nai', type: 131, nai: 'mn@example.org', offset: 0 };
    expectDeny(checkFaRequest(input({}, { homeAddress: 0 })), FaReplyCode.MissingNai);
    expectDeny(checkFaRequest(input({ settings: { ...SETTINGS, acceptZeroHomeAddress: false } }, { homeAddress: 0 }, [nai, { kind: 'mhae' }])), 96);
    const v = expectRelay(checkFaRequest(input({}, { homeAddress: 0 }, [nai, { kind: 'mhae' }])));
    expect(v.pending.nai).toBe('mn@example.org');
  });

  it('69 for a Lifetime longer than advertised, the Reply carrying the longest Lifetime accepted (3.7.2.3)', () => {
    const v = expectDeny(checkFaRequest(input({}, { lifetime: 1801 })), FaReplyCode.LifetimeTooLong);
    expect(v.datagram.reply.lifetime).toBe(1800);
    expect(readU16(v.datagram.bytes, 2)).toBe(1800);
    expectRelay(checkFaRequest(input({}, { lifetime: 1800 })));
    expectRelay(checkFaRequest(input({ settings: { ...SETTINGS, registrationLifetime: 0xffff } }, { lifetime: 0xffff })));
  });

  it('[R3.7.2.3-3] other denials copy the Lifetime of the Request', () => {
    expect(expectDeny(checkFaRequest(input({}, { flags: RequestFlag.r, lifetime: 77 })), 70).datagram.reply.lifetime).toBe(77);
  });

  it('[R3.7.2.1-3] D = 0, nonzero Lifetime, a care-of address not offered: 77; not with D = 1 or Lifetime 0', () => {
    const elsewhere = ipv4('192.0.2.99');
    expectDeny(checkFaRequest(input({}, { careOfAddress: elsewhere })), FaReplyCode.InvalidCareOfAddress);
    expectRelay(checkFaRequest(input({}, { careOfAddress: elsewhere, flags: RequestFlag.D })));
    expectRelay(checkFaRequest(input({}, { careOfAddress: elsewhere, lifetime: 0 })));
    expectRelay(checkFaRequest(input({}, { careOfAddress: COA_2 })));
  });

  it("72 for 'M' or 'G' this agent does not decapsulate (3.4, 3.6.1.2), unless the node decapsulates itself", () => {
    expectDeny(checkFaRequest(input({}, { flags: RequestFlag.G })), FaReplyCode.EncapsulationUnavailable);
    expectDeny(checkFaRequest(input({}, { flags: RequestFlag.G | RequestFlag.M })), 72);
    expectRelay(checkFaRequest(input({}, { flags: RequestFlag.M })));
    expectRelay(checkFaRequest(input({}, { flags: RequestFlag.G | RequestFlag.D })));
  });

  it("74 (RFC 3024) for 'T' when reverse tunnelling is not offered", () => {
    expectDeny(checkFaRequest(input({ settings: { ...SETTINGS, reverseTunneling: false } }, { flags: RequestFlag.T })), FaReplyCode.ReverseTunnelUnavailable);
    expectRelay(checkFaRequest(input({}, { flags: RequestFlag.T })));
  });

  it('64 / 65 from the admission policy', () => {
    expectDeny(checkFaRequest(input({ refusal: { code: 65, detail: 'home network not served' } })), 65);
    expectDeny(checkFaRequest(input({ refusal: { code: 64, detail: 'no reason given' } })), 64);
  });

  it('[R3.7.1-5] [R3.7.1-6] 66 beyond the configured number of pending registrations; the relay names its charge', () => {
    expect(expectDeny(checkFaRequest(input({ pendingUsage: { ...IDLE, registrations: 5 } })), FaReplyCode.InsufficientResources).reason).toBe('too-many-pending');
    expect(expectRelay(checkFaRequest(input({ pendingUsage: { ...IDLE, registrations: 4 } }))).charge).toBe('registration');
  });

  it('[R3.7.1-6] 66 past the budget of a link-layer source or a home address, counted by reason', () => {
    expect(expectDeny(checkFaRequest(input({ pendingUsage: { ...IDLE, fromLinkSource: 2 } })), 66).reason).toBe('link-source-budget');
    expect(expectDeny(checkFaRequest(input({ pendingUsage: { ...IDLE, forHomeAddress: 2 } })), 66).reason).toBe('home-address-budget');
  });

  it('[R3.7.1-6] a renewal of a registered visitor at its home agent is relayed past every budget', () => {
    const full = { registrations: 5, fromLinkSource: 9, forHomeAddress: 9, recentUnknownDeregistrations: 9 };
    expect(expectRelay(checkFaRequest(input({ pendingUsage: full, isVisitor: true, registeredHomeAgent: HA }))).charge).toBe('visitor');
    expect(expectRelay(checkFaRequest(input({ pendingUsage: full, isVisitor: true, registeredHomeAgent: HA }, { lifetime: 0 }))).charge).toBe('visitor');
    // Naming another home agent, it is a new registration.
    expectDeny(checkFaRequest(input({ pendingUsage: full, isVisitor: true, registeredHomeAgent: ipv4('198.51.100.2') })), 66);
  });

  it('66 for a deregistration of an unknown node past its own budget; the budget is enforced even when the 66 is rate-limited', () => {
    expect(expectDeny(checkFaRequest(input({ pendingUsage: { ...IDLE, recentUnknownDeregistrations: 2 } }, { lifetime: 0 })), 66).reason).toBe('deregistration-budget');
    const limited = checkFaRequest(input({ pendingUsage: { ...IDLE, recentUnknownDeregistrations: 2 }, lastDenialAtMs: NOW - 10 }, { lifetime: 0 }));
    expect(limited).toMatchObject({ kind: 'discard', reason: 'denial-rate-limited', suppressedCode: 66, suppressedReason: 'deregistration-budget' });
  });

  it("66 while busy ('B', 2.1.1) for a new node, not for a visitor", () => {
    const settings = { ...SETTINGS, busy: true };
    expectDeny(checkFaRequest(input({ settings })), 66);
    expectRelay(checkFaRequest(input({ settings, isVisitor: true })));
  });

  it('[R3.7-5] a well-formed deregistration is relayed even when busy or at the pending limit', () => {
    expect(expectRelay(checkFaRequest(input({ settings: { ...SETTINGS, busy: true }, pendingUsage: { ...IDLE, registrations: 9 } }, { lifetime: 0 }))).charge).toBe('deregistration');
  });
});

describe('checkFaRequest: the denial datagram (3.7.2.3)', () => {
  it('[R3.7.2.3-1] copies Home Address, Home Agent and Identification from the Request', () => {
    const v = expectDeny(checkFaRequest(input({}, { flags: RequestFlag.r })), 70);
    const r = decodeRegistrationReply(v.datagram.bytes);
    if (!r.ok) throw new Error('no');
    expect([r.value.homeAddress, r.value.homeAgent, r.value.identification]).toEqual([HOME, HA, ID]);
  });

  it('[R3.7.2.3-4] IP source = the Request\'s destination, IP destination = Home Address, UDP 434 → the source port, to the node\'s link-layer address', () => {
    const v = expectDeny(checkFaRequest(input({ udpSourcePort: 40000 }, { flags: RequestFlag.r })), 70);
    expect(v.datagram).toMatchObject({ ipSource: FA_LINK, ipDestination: HOME, udpSourcePort: 434, udpDestinationPort: 40000, linkLayerDestination: MN_MAC });
  });

  it('[R3.7.2.3-5] a Request sent to 224.0.0.11 is answered from the agent\'s own address; Home Address 0 is answered to 255.255.255.255', () => {
    const v = expectDeny(checkFaRequest(input({ ipDestination: ALL_MOBILITY_AGENTS }, { homeAddress: 0 })), 97);
    expect(v.datagram.ipSource).toBe(FA_LINK);
    expect(v.datagram.ipDestination).toBe(0xffffffff);
  });
});

describe('checkFaRequest: relaying a valid Request (3.7.2.2)', () => {
  const haSa = { homeAgent: association(HA, FA_HA), mobileNode: association(HOME, MN_FA) };
  const nai: RegistrationExtension = { kind: 'nai', type: 131, nai: 'mn@example.org', offset: 0 };
  const faOnly: RegistrationExtension = { kind: 'unknown', type: 150, skippable: true, format: 'tlv', offset: 0, data: fromHex('aabb') };

  it('[R3.7.2-1] [R3.7.2.2-1] [R3.7.2.2-4] relays to the Home Agent field, from the offered care-of address, to port 434', () => {
    const v = expectRelay(checkFaRequest(input({}, { careOfAddress: COA_2 })));
    expect([v.ipDestination, v.ipSource, v.udpDestinationPort]).toEqual([HA, COA_2, 434]);
  });

  it('[R3.7.2.2-2] [R3.7.2.2-3] keeps everything through the MHAE byte for byte and removes what follows it', () => {
    const i = input({ ...haSa }, {}, [nai, { kind: 'mhae' }, faOnly, { kind: 'mfae' }]);
    const v = expectRelay(checkFaRequest(i));
    const mhae = i.request.extensions.find((e) => e.kind === 'auth' && e.type === 32) as AuthExtension;
    const kept = mhae.offset + 22;
    expect(v.bytes.subarray(0, kept)).toEqual(i.message.subarray(0, kept));
    expect(v.removedExtensions).toBe(2);
    const relayed = decodeRegistrationRequest(v.bytes);
    if (!relayed.ok) throw new Error('no');
    expect(relayed.value.extensions.map((e) => e.type)).toEqual([131, 32, 34]);
    // The home agent can still verify the node's authenticator.
    expect(verifyAuthenticator(MN_HA.algorithm, MN_HA.key, v.bytes, relayed.value.extensions[1] as AuthExtension)).toBe(true);
  });

  it('[R3.7.1-9] [R3.7.2.2-3] appends a valid Foreign-Home Authentication Extension when sharing an association with the home agent', () => {
    const v = expectRelay(checkFaRequest(input({ ...haSa }, {}, [{ kind: 'mhae' }, { kind: 'mfae' }])));
    const relayed = decodeRegistrationRequest(v.bytes);
    if (!relayed.ok) throw new Error('no');
    const fhae = relayed.value.extensions.at(-1) as AuthExtension;
    expect([fhae.type, fhae.spi]).toEqual([34, FA_HA.spi]);
    expect(verifyAuthenticator(FA_HA.algorithm, FA_HA.key, v.bytes, fhae)).toBe(true);
    expect(v.pending.foreignHomeAuthenticated).toBe(true);
  });

  it('[R3.5.4-5] [R3.5.4-2] no Foreign-Home extension on a deregistration', () => {
    const v = expectRelay(checkFaRequest(input({ ...haSa }, { lifetime: 0 }, [{ kind: 'mhae' }, { kind: 'mfae' }])));
    expect(decodeRegistrationRequest(v.bytes).ok && (decodeRegistrationRequest(v.bytes) as { value: RegistrationRequest }).value.extensions.map((e) => e.type)).toEqual([32]);
    expect(v.pending.foreignHomeAuthenticated).toBe(false);
  });

  it('[R3.5.4-4] no Foreign-Home extension when the care-of address is not one this agent advertises', () => {
    const v = expectRelay(checkFaRequest(input({ ...haSa }, { careOfAddress: ipv4('192.0.2.99'), flags: RequestFlag.D }, [{ kind: 'mhae' }, { kind: 'mfae' }])));
    expect(v.bytes.length).toBe(24 + 22);
    expect(v.ipSource).toBe(COA);
  });

  it('[R3.8.2.2-5] a deregistration of a care-of address this agent does not own is relayed without a Foreign-Home extension', () => {
    const v = expectRelay(checkFaRequest(input({ ...haSa }, { lifetime: 0, careOfAddress: ipv4('192.0.2.99') }, [{ kind: 'mhae' }, { kind: 'mfae' }])));
    const relayed = decodeRegistrationRequest(v.bytes);
    if (!relayed.ok) throw new Error(relayed.error.message);
    expect(relayed.value.extensions.map((e) => e.type)).toEqual([32]);
    expect(v.pending.foreignHomeAuthenticated).toBe(false);
  });

  it('[R3.3-3] extension order (3.6.1.3, 3.7.2.2): an MFAE before the MHAE is refused; the relayed Request keeps the node\'s order and puts the FHAE last', () => {
    expectDeny(checkFaRequest(input({ ...haSa }, {}, [{ kind: 'mfae' }, { kind: 'mhae' }])), FaReplyCode.MobileNodeFailedAuthentication);
    const nai: RegistrationExtension = { kind: 'nai', type: 131, offset: 0, nai: 'mn@example.org' };
    const v = expectRelay(checkFaRequest(input({ ...haSa }, {}, [nai, { kind: 'mhae' }, { kind: 'mfae' }])));
    const relayed = decodeRegistrationRequest(v.bytes);
    if (!relayed.ok) throw new Error(relayed.error.message);
    expect(relayed.value.extensions.map((e) => e.type)).toEqual([131, 32, 34]);
  });

  it('[R3.7.1-2] the pending record keeps what 3.7.1 lists', () => {
    const v = expectRelay(checkFaRequest(input({ udpSourcePort: 40001, ipDestination: ALL_MOBILITY_AGENTS }, { lifetime: 300 })));
    expect(v.pending).toEqual({
      linkLayerSource: MN_MAC,
      ipSource: HOME,
      ipDestination: ALL_MOBILITY_AGENTS,
      udpSourcePort: 40001,
      homeAddress: HOME,
      homeAgent: HA,
      careOfAddress: COA,
      identification: ID,
      requestedLifetime: 300,
      foreignHomeAuthenticated: false,
    });
  });
});

// --- Replies --------------------------------------------------------------------------------------

const PENDING: PendingRegistration = {
  linkLayerSource: MN_MAC,
  ipSource: HOME,
  ipDestination: FA_LINK,
  udpSourcePort: 49152,
  homeAddress: HOME,
  homeAgent: HA,
  careOfAddress: COA,
  identification: ID,
  requestedLifetime: 600,
  foreignHomeAuthenticated: true,
};

function makeReply(fields: Partial<Omit<RegistrationReply, 'extensions'>> = {}, specs: readonly Spec[] = [{ kind: 'mhae' }, { kind: 'fhae' }]) {
  const draft: RegistrationReply = {
    type: 3,
    code: 0,
    lifetime: 600,
    homeAddress: HOME,
    homeAgent: HA,
    identification: { high: 0x11111111, low: ID.low },
    extensions: extensionsOf(specs),
    ...fields,
  };
  const message = sign(draft, specs);
  const decoded = decodeRegistrationReply(message);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return { reply: decoded.value, message };
}

function replyInput(overrides: Partial<FaReplyInput> = {}, fields: Partial<Omit<RegistrationReply, 'extensions'>> = {}, specs?: readonly Spec[]): FaReplyInput {
  return {
    ...makeReply(fields, specs),
    udpChecksumValid: true,
    source: HA,
    sourcePort: 434,
    pending: [PENDING],
    homeAgent: association(HA, FA_HA),
    settings: SETTINGS,
    ...overrides,
  };
}

describe('checkFaReply: validity checks (3.7.3.1)', () => {
  it('[R3.7.3.1-1] discards a Reply with an invalid non-zero UDP checksum', () => {
    expect(checkFaReply(replyInput({ udpChecksumValid: false }))).toMatchObject({ kind: 'discard', reason: 'udp-checksum' });
  });

  it('[R1.8-1] discards a Reply with an unrecognised non-skippable extension', () => {
    const rest: RegistrationExtension = { kind: 'unknown', type: 99, skippable: false, format: 'rest', offset: 0, data: fromHex('00') };
    expect(checkFaReply(replyInput({ homeAgent: undefined }, {}, [{ kind: 'mhae' }, rest]))).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
  });

  it('[R3.7.3.1-2] [R3.7.3.1-4] discards a Reply for a home address with no pending Request', () => {
    expect(checkFaReply(replyInput({}, { homeAddress: ipv4('198.51.100.11') }))).toMatchObject({ kind: 'discard', reason: 'no-pending-request' });
    expect(checkFaReply(replyInput({ pending: [] }))).toMatchObject({ kind: 'discard', reason: 'no-pending-request' });
  });

  it('[R3.7.3.1-5] discards a Reply whose low-order Identification differs (the high half may differ, 5.7)', () => {
    expect(checkFaReply(replyInput({}, { identification: { high: ID.high, low: ID.low + 1 } }))).toMatchObject({ kind: 'discard', reason: 'identification-mismatch' });
    expect(checkFaReply(replyInput({}, { identification: { high: 0, low: ID.low } })).kind).toBe('relay');
  });

  it('discards, as a logged security exception, a Reply not from the home agent the Request was relayed to or not from port 434', () => {
    expect(checkFaReply(replyInput({ source: ipv4('198.51.100.66') }))).toMatchObject({ kind: 'discard', reason: 'unexpected-reply-source', securityException: true });
    const wrongPort = checkFaReply(replyInput({ sourcePort: 49152 }));
    expect(wrongPort).toMatchObject({ kind: 'discard', reason: 'unexpected-reply-source' });
    expect(wrongPort.kind === 'discard' && wrongPort.detail).toMatch(/198\.51\.100\.66|198\.51\.100\.1:434/);
    expect(checkFaReply(replyInput()).kind).toBe('relay');
  });

  it('with Requests for one home address pending at two home agents, the source chooses which one a Reply answers', () => {
    const other = { ...PENDING, homeAgent: ipv4('192.0.2.1'), nai: 'x@example.org' };
    const v = checkFaReply(replyInput({ pending: [other, PENDING] }));
    expect(v.kind === 'relay' && v.pending).toBe(PENDING);
    expect(checkFaReply(replyInput({ pending: [other], source: HA })).kind).toBe('discard');
  });

  it('a Request relayed to a subnet-directed broadcast is answered with 136 from the home agent\'s unicast address in that subnet (3.8.2.1); nothing else from another source', () => {
    const directed = { ...PENDING, homeAgent: ipv4('198.51.100.255') };
    const v = checkFaReply(replyInput({ pending: [directed] }, { code: 136 }));
    expect(v).toMatchObject({ kind: 'relay', code: 136, visitorUpdate: { kind: 'denied' } });
    expect(checkFaReply(replyInput({ pending: [directed] }, { code: 0 }))).toMatchObject({ kind: 'discard', reason: 'unexpected-reply-source' });
  });

  for (const [what, relayedTo, code, replyHomeAgent, source, port, expected] of [
    ['the relayed-to address, port 434', '198.51.100.1', 0, '198.51.100.1', '198.51.100.1', 434, true],
    ['the relayed-to address, another port', '198.51.100.1', 0, '198.51.100.1', '198.51.100.1', 435, false],
    ['another address, any code but 136', '198.51.100.1', 1, '198.51.100.2', '198.51.100.2', 434, false],
    ['136 from another address when the relayed-to address is unicast-looking (.1)', '198.51.100.1', 136, '198.51.100.2', '198.51.100.2', 434, false],
    ['136 from inside the /24 whose broadcast was relayed to', '198.51.100.255', 136, '198.51.100.7', '198.51.100.7', 434, true],
    ['136 from inside a /30 whose broadcast was relayed to', '198.51.100.3', 136, '198.51.100.1', '198.51.100.1', 434, true],
    ['136 from outside that subnet', '198.51.100.3', 136, '198.51.100.5', '198.51.100.5', 434, false],
    ['136 from outside the /24', '198.51.100.255', 136, '203.0.113.7', '203.0.113.7', 434, false],
    ['136 whose Home Agent field is not its source', '198.51.100.255', 136, '198.51.100.8', '198.51.100.7', 434, false],
    ['136 from inside the subnet, another port', '198.51.100.255', 136, '198.51.100.7', '198.51.100.7', 1434, false],
  ] as const) {
    it(`fromHomeAgentOf: ${what} → ${expected}`, () => {
      expect(fromHomeAgentOf({ homeAgent: ipv4(relayedTo) }, { code, homeAgent: ipv4(replyHomeAgent) }, ipv4(source), port)).toBe(expected);
    });
  }

  it('[R3.7.3.1-3] uses the NAI to choose among pending Requests with the same home address, and matches Home Address 0 by NAI', () => {
    const naiExt = (nai: string): RegistrationExtension => ({ kind: 'nai', type: 131, nai, offset: 0 });
    const a = { ...PENDING, nai: 'a@example.org', identification: { high: 1, low: 7 } };
    const b = { ...PENDING, nai: 'b@example.org', identification: { high: 1, low: 7 }, udpSourcePort: 50000 };
    const v = checkFaReply(replyInput({ pending: [a, b] }, { identification: { high: 2, low: 7 } }, [naiExt('b@example.org'), { kind: 'mhae' }, { kind: 'fhae' }]));
    expect(v.kind === 'relay' && v.pending).toBe(b);
    const zero = { ...PENDING, homeAddress: 0, nai: 'z@example.org' };
    const w = checkFaReply(replyInput({ pending: [zero] }, {}, [naiExt('z@example.org'), { kind: 'mhae' }, { kind: 'fhae' }]));
    expect(w.kind === 'relay' && w.pending).toBe(zero);
  });

  for (const [what, specs] of [
    ['no FHAE', [{ kind: 'mhae' }]],
    ['two FHAEs', [{ kind: 'mhae' }, { kind: 'fhae' }, { kind: 'fhae' }]],
    ['an FHAE with another key', [{ kind: 'mhae' }, { kind: 'fhae', context: createSecurityContext({ spi: FA_HA.spi, key: fromHex('01') }) }]],
  ] as const) {
    it(`[R3.7.3.1-7] [R3.7.3.1-8] [R3.7.3.1-9] [R3.7.1-10] ${what}: the Reply is discarded, logged, and 68 goes to the node`, () => {
      const v = checkFaReply(replyInput({}, {}, specs));
      expect(v).toMatchObject({ kind: 'reject', code: 68, securityException: true });
      if (v.kind !== 'reject') return;
      expect(v.datagram.reply).toMatchObject({ code: 68, homeAddress: HOME, homeAgent: HA, identification: ID });
      expect(v.datagram.linkLayerDestination).toBe(MN_MAC);
    });
  }

  it('[R3.5.4-2] a Reply to a deregistration needs no FHAE', () => {
    const v = checkFaReply(replyInput({ pending: [{ ...PENDING, requestedLifetime: 0 }] }, { lifetime: 0 }, [{ kind: 'mhae' }]));
    expect(v).toMatchObject({ kind: 'relay', visitorUpdate: { kind: 'deregister' } });
  });

  it('[R3.4-7] 71 for a Reply without the Mobile-Home Authentication Extension', () => {
    expect(checkFaReply(replyInput({ homeAgent: undefined }, {}, []))).toMatchObject({ kind: 'reject', code: 71, securityException: false });
  });
});

describe('checkFaReply: relaying (3.7.3.2)', () => {
  it('[R3.7.3.2-5] [R3.7.3.2-7] relays the Reply unchanged through the MHAE, without the FHAE, to the node (3.7.2.3 addressing)', () => {
    const i = replyInput();
    const v = checkFaReply(i);
    if (v.kind !== 'relay') throw new Error(JSON.stringify(v));
    expect(v.datagram.bytes).toEqual(i.message.subarray(0, 20 + 22));
    expect(v.removedExtensions).toBe(1);
    expect(v.datagram).toMatchObject({ ipSource: FA_LINK, ipDestination: HOME, udpSourcePort: 434, udpDestinationPort: 49152, linkLayerDestination: MN_MAC });
  });

  it('[R3.7.3.2-7] [R3.7.1-11] appends a valid MFAE when sharing an association with the node', () => {
    const v = checkFaReply(replyInput({ mobileNodeOf: () => association(HOME, MN_FA) }));
    if (v.kind !== 'relay') throw new Error('no');
    const decoded = decodeRegistrationReply(v.datagram.bytes);
    if (!decoded.ok) throw new Error('no');
    const last = decoded.value.extensions.at(-1) as AuthExtension;
    expect([last.type, last.spi]).toEqual([33, MN_FA.spi]);
    expect(verifyAuthenticator(MN_FA.algorithm, MN_FA.key, v.datagram.bytes, last)).toBe(true);
    expect(v.datagram.reply.extensions.map((e) => e.type)).toEqual([32, 33]);
  });

  it('[R3.4-4] [R3.4-5] [R3.7.3.2-2] the visitor lifetime is the least of Reply, Request and the agent maximum; the Reply itself is not changed', () => {
    const lifetimeOf = (reply: number, requested: number, max = 1800) => {
      const v = checkFaReply(replyInput({ pending: [{ ...PENDING, requestedLifetime: requested }], settings: { ...SETTINGS, registrationLifetime: max } }, { lifetime: reply }));
      if (v.kind !== 'relay' || v.visitorUpdate.kind !== 'register') throw new Error('no');
      expect(readU16(v.datagram.bytes, 2)).toBe(reply);
      return v.visitorUpdate.lifetime;
    };
    expect(lifetimeOf(900, 600)).toBe(600);
    expect(lifetimeOf(300, 600)).toBe(300);
    expect(lifetimeOf(600, 600, 120)).toBe(120);
    expect(lifetimeOf(0xffff, 0xffff, 0xffff)).toBe(0xffff);
  });

  it('[R3.7.3.2-1] [R3.7.3.2-3] [R3.7.3.2-4] accepted → register, accepted with Lifetime 0 → deregister, denied → only the pending part goes', () => {
    expect(checkFaReply(replyInput({}, { code: 1 }))).toMatchObject({ visitorUpdate: { kind: 'register', lifetime: 600 } });
    expect(checkFaReply(replyInput({}, { lifetime: 0 }))).toMatchObject({ visitorUpdate: { kind: 'deregister' } });
    expect(checkFaReply(replyInput({}, { code: 133, lifetime: 600 }))).toMatchObject({ kind: 'relay', code: 133, visitorUpdate: { kind: 'denied' } });
  });
});

describe('checkFaReply: the Lifetime of a denial', () => {
  it('[R3.4-6] a denied Reply\'s Lifetime is ignored: with Lifetime 0 it does not deregister, with any other value it registers nothing', () => {
    for (const lifetime of [0, 1, 600, 0xffff]) {
      for (const code of [66, 131, 133]) {
        const verdict = checkFaReply(replyInput({}, { code, lifetime }));
        expect(verdict, `code ${code} lifetime ${lifetime}`).toMatchObject({ kind: 'relay', code, visitorUpdate: { kind: 'denied' } });
      }
    }
  });
});

describe('authentication algorithms (5.1)', () => {
  it('[R5.1-2] the foreign agent checks Mobile-Foreign authenticators with HMAC-MD5 and manually configured keys of 128 bits or more', () => {
    for (const bytes of [16, 20, 32, 64]) {
      const key = new Uint8Array(bytes).map((_, i) => (i * 37 + bytes) & 0xff);
      const context = createSecurityContext({ spi: 0x2000, key });
      expect(context.algorithm).toBe('hmac-md5');
      const withKey = { mobileNode: association(HOME, context) };
      expectRelay(checkFaRequest(input(withKey, {}, [{ kind: 'mhae' }, { kind: 'mfae', context }])));
      // The same Request under another key of that length fails: the key is really used.
      const other = createSecurityContext({ spi: 0x2000, key: key.map((b) => b ^ 0x5a) });
      expectDeny(checkFaRequest(input(withKey, {}, [{ kind: 'mhae' }, { kind: 'mfae', context: other }])), FaReplyCode.MobileNodeFailedAuthentication);
    }
  });
});

describe('ICMP errors and denials on behalf of a pending registration', () => {
  it('[R3.7.3-1] maps ICMP errors to the "home agent unreachable" codes 80-95', () => {
    const U = IcmpType.DestinationUnreachable;
    expect(faCodeForIcmpError(U, UnreachableCode.Net)).toBe(80);
    expect(faCodeForIcmpError(U, UnreachableCode.NetUnknown)).toBe(80);
    expect(faCodeForIcmpError(U, UnreachableCode.Host)).toBe(81);
    expect(faCodeForIcmpError(U, UnreachableCode.HostProhibited)).toBe(81);
    expect(faCodeForIcmpError(U, UnreachableCode.Port)).toBe(82);
    expect(faCodeForIcmpError(U, UnreachableCode.Protocol)).toBe(88);
    expect(faCodeForIcmpError(U, UnreachableCode.FragmentationNeeded)).toBe(88);
    expect(faCodeForIcmpError(IcmpType.TimeExceeded, 0)).toBe(88);
    for (let code = 0; code < 256; code++) {
      for (const type of [3, 11]) {
        const mapped = faCodeForIcmpError(type, code);
        expect(mapped >= 80 && mapped <= 95).toBe(true);
      }
    }
  });

  it('reads the Request an ICMP error quotes only when this agent relayed it (UDP 434 → 434 from its address) and matches pending ones by as much as is quoted', () => {
    // A relayed Request: IP header (FA → HA, UDP), UDP header 434 → 434, then the fixed part.
    const request = new Uint8Array(24);
    request[0] = 1;
    const view = new DataView(request.buffer);
    view.setUint16(2, 600);
    view.setUint32(4, HOME);
    view.setUint32(8, HA);
    view.setUint32(12, COA);
    view.setUint32(16, ID.high);
    view.setUint32(20, ID.low);
    const datagram = (fields: { source?: number; protocol?: number; ports?: [number, number]; fragmentOffset?: number } = {}) => {
      const ip = new Uint8Array(20 + 8 + request.length);
      const v = new DataView(ip.buffer);
      ip[0] = 0x45;
      v.setUint16(2, ip.length);
      v.setUint16(6, fields.fragmentOffset ?? 0);
      ip[8] = 64;
      ip[9] = fields.protocol ?? 17;
      v.setUint32(12, fields.source ?? COA);
      v.setUint32(16, HA);
      v.setUint16(20, fields.ports?.[0] ?? 434);
      v.setUint16(22, fields.ports?.[1] ?? 434);
      ip.set(request, 28);
      return ip;
    };
    const own = new Set([COA | 0, COA_2 | 0, FA_LINK | 0]);
    expect(quotedRelayedRequest(datagram(), own)).toEqual({ source: COA, homeAgent: HA, homeAddress: HOME, identificationLow: ID.low });
    expect(quotedRelayedRequest(datagram().subarray(0, 28), own)).toEqual({ source: COA, homeAgent: HA });
    expect(quotedRelayedRequest(datagram().subarray(0, 36), own)).toEqual({ source: COA, homeAgent: HA, homeAddress: HOME });
    expect(quotedRelayedRequest(datagram().subarray(0, 27), own)).toBeUndefined();
    expect(quotedRelayedRequest(datagram({ source: ipv4('192.0.2.1') }), own)).toBeUndefined();
    expect(quotedRelayedRequest(datagram({ protocol: 4 }), own)).toBeUndefined();
    expect(quotedRelayedRequest(datagram({ ports: [49152, 434] }), own)).toBeUndefined();
    expect(quotedRelayedRequest(datagram({ fragmentOffset: 10 }), own)).toBeUndefined();
    const otherNode = { ...PENDING, homeAddress: ipv4('198.51.100.11') };
    const otherId = { ...PENDING, identification: { high: ID.high, low: ID.low + 1 } };
    const otherHa = { ...PENDING, homeAgent: ipv4('198.51.100.2') };
    const all = [PENDING, otherNode, otherId, otherHa];
    expect(pendingForIcmpError(quotedRelayedRequest(datagram(), own)!, all)).toEqual([PENDING]);
    expect(pendingForIcmpError(quotedRelayedRequest(datagram().subarray(0, 36), own)!, all)).toEqual([PENDING, otherId]);
    expect(pendingForIcmpError(quotedRelayedRequest(datagram().subarray(0, 28), own)!, all)).toEqual([PENDING, otherNode, otherId]);
  });

  it('[R3.7.1-7] buildFaDenial builds a 78 for a pending registration, addressed per 3.7.2.3', () => {
    const d = buildFaDenial(PENDING, FaReplyCode.RegistrationTimeout, PENDING.requestedLifetime, SETTINGS);
    const bytes = new Uint8Array(registrationMessageLength(d.reply));
    encodeRegistrationMessage(d.reply, bytes, 0);
    expect(d.bytes).toEqual(bytes);
    expect(d.bytes[1]).toBe(78);
    expect(readU32(d.bytes, 4)).toBe(HOME);
    expect(d).toMatchObject({ ipSource: FA_LINK, ipDestination: HOME, udpDestinationPort: 49152, linkLayerDestination: MN_MAC });
  });
});

describe('RecentDenials: when the last denial went to each node (3.7.2), bounded', () => {
  it('[R3.7.2-2] remembers a denial for at least a second, and forgets it once two more seconds brought others', () => {
    const d = new RecentDenials(8);
    d.record(1, NOW);
    expect(d.get(1)).toBe(NOW);
    d.record(2, NOW + 999);
    d.record(3, NOW + 1000);
    expect(d.get(1)).toBe(NOW);
    d.record(4, NOW + 1500);
    d.record(5, NOW + 2000);
    expect([d.get(1), d.get(2), d.get(3), d.get(4), d.get(5)]).toEqual([undefined, undefined, NOW + 1000, NOW + 1500, NOW + 2000]);
    expect(d.size).toBe(3);
    // A second after the last denial, none is needed any more.
    d.record(6, NOW + 3000);
    expect([d.get(5), d.size]).toEqual([undefined, 1]);
  });

  it('keeps at most its capacity, forgetting the oldest half first; a node denied again moves to the newest half', () => {
    const d = new RecentDenials(4);
    d.record(1, NOW);
    d.record(2, NOW);
    d.record(3, NOW);
    d.record(1, NOW + 1);
    d.record(4, NOW + 2);
    expect([d.get(1), d.get(2), d.get(3), d.get(4)]).toEqual([NOW + 1, undefined, NOW, NOW + 2]);
    expect(d.size).toBeLessThanOrEqual(4);
  });

  it('stays bounded under 200,000 distinct nodes within one second, and shrinks to what the last second holds', () => {
    const d = new RecentDenials();
    for (let i = 0; i < 200_000; i++) d.record(0xc6336400 + i, NOW + Math.floor(i / 1000));
    expect(d.size).toBeLessThanOrEqual(DEFAULT_DENIAL_MEMORY);
    d.record(7, NOW + 5_000);
    expect(d.size).toBe(1);
  });

  it('refuses a capacity below 2', () => {
    expect(() => new RecentDenials(1)).toThrow(RangeError);
  });
});
