/**
 * The foreign agent's reverse-tunnelling checks (RFC 3024) inside its Request checklist
 * (policies/fa-request.ts step 12): 74, 75, 76, 79, the Encapsulating Delivery Style
 * extension's placement, its consumption, and the grant a relayed 'T' Request carries.
 * Messages are signed with the project's signer and decoded; authenticators are checked with
 * policies/auth.ts over the relayed bytes.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4 } from '../../io/wire/bytes.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, RequestFlag, type RegistrationExtension, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { verifyAuthenticator } from '../../policies/auth.js';
import {
  ALL_MOBILITY_AGENTS,
  checkFaRequest,
  FaReplyCode,
  reverseTunnelPolicyOf,
  type FaRequestInput,
  type FaRequestVerdict,
  type FaSettings,
} from '../../policies/fa-request.js';
import { createSecurityContext, MobilitySecurityAssociation } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const MN_MAC = '02:00:00:00:00:0a';
const NOW = 1_767_225_600_000;
const MN_HA = createSecurityContext({ spi: 0x1000, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') });
const MN_FA = createSecurityContext({ spi: 0x2000, key: fromHex('000102030405060708090a0b0c0d0e0f') });
const FA_HA = createSecurityContext({ spi: 0x3000, key: fromHex('f0e0d0c0b0a090807060504030201000') });

const SETTINGS: FaSettings = {
  careOfAddresses: [COA],
  interfaceAddresses: [COA],
  linkAddress: COA,
  registrationLifetime: 1800,
  busy: false,
  encapsulations: { minimal: true, gre: true },
  reverseTunneling: true,
  reverseTunnel: 'offered',
  encapsulatingDelivery: true,
  requireMobileForeignAuthentication: false,
  maxPending: 5,
  acceptZeroHomeAddress: false,
};

const MHAE = authPlaceholder(ExtensionType.MobileHomeAuth, MN_HA.spi);
const MFAE = authPlaceholder(ExtensionType.MobileForeignAuth, MN_FA.spi);
const EDS: RegistrationExtension = { kind: 'encapsulating-delivery-style', offset: 0 };

function association(peer: number, context: typeof MN_HA): MobilitySecurityAssociation {
  const a = new MobilitySecurityAssociation(peer);
  a.add(context);
  return a;
}

function input(
  flags: number,
  extensions: readonly RegistrationExtension[] = [MHAE],
  overrides: Partial<FaRequestInput> = {},
  fields: Partial<RegistrationRequest> = {},
): FaRequestInput {
  const draft: RegistrationRequest = {
    type: 1,
    flags,
    lifetime: 600,
    homeAddress: HOME,
    homeAgent: HA,
    careOfAddress: COA,
    identification: { high: 0xeb3c7f00, low: 7 },
    extensions,
    ...fields,
  };
  const message = encodeSigned(draft, (type) => (type === ExtensionType.MobileHomeAuth ? MN_HA : type === ExtensionType.MobileForeignAuth ? MN_FA : undefined));
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return {
    request: decoded.value,
    message,
    udpChecksumValid: true,
    ipTtl: 255,
    ipSource: HOME,
    ipDestination: COA,
    udpSourcePort: 49152,
    linkLayerSource: MN_MAC,
    settings: SETTINGS,
    pendingUsage: { registrations: 0, fromLinkSource: 0, forHomeAddress: 0, recentUnknownDeregistrations: 0 },
    isVisitor: false,
    nowMs: NOW,
    ...overrides,
  };
}

function expectDeny(verdict: FaRequestVerdict, code: number, reason?: string): void {
  expect(verdict.kind, verdict.kind === 'deny' || verdict.kind === 'discard' ? verdict.detail : verdict.kind).toBe('deny');
  if (verdict.kind !== 'deny') return;
  expect(verdict.code).toBe(code);
  if (reason !== undefined) expect(verdict.reason).toBe(reason);
  // Sent as the agent's other denials are: a Reply to the node's link-layer address.
  const reply = decodeRegistrationReply(verdict.datagram.bytes);
  expect(reply.ok && reply.value.code).toBe(code);
  expect(verdict.datagram.linkLayerDestination).toBe(MN_MAC);
}

function expectRelay(verdict: FaRequestVerdict): Extract<FaRequestVerdict, { kind: 'relay' }> {
  expect(verdict.kind, verdict.kind === 'deny' || verdict.kind === 'discard' ? verdict.detail : '').toBe('relay');
  if (verdict.kind !== 'relay') throw new Error('unreachable');
  return verdict;
}

describe("the foreign agent's reverse-tunnel policy (RFC 3024)", () => {
  it("maps the older reverseTunneling boolean when reverseTunnel is absent: true → offered, false → none", () => {
    expect(reverseTunnelPolicyOf({ reverseTunneling: true })).toBe('offered');
    expect(reverseTunnelPolicyOf({ reverseTunneling: false })).toBe('none');
    expect(reverseTunnelPolicyOf({ reverseTunneling: true, reverseTunnel: 'required' })).toBe('required');
  });

  it("74 for 'T' when this agent offers no reverse tunnel", () => {
    const none = { ...SETTINGS, reverseTunnel: 'none' as const, reverseTunneling: false };
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE], { settings: none })), FaReplyCode.ReverseTunnelUnavailable, 'reverse-tunnel-unavailable');
    expectRelay(checkFaRequest(input(0, [MHAE], { settings: none })));
  });

  it("75 when the agent requires reverse tunnelling and 'T' is not set; a deregistration and a co-located node are not refused for it", () => {
    const required = { ...SETTINGS, reverseTunnel: 'required' as const };
    expectDeny(checkFaRequest(input(0, [MHAE], { settings: required })), FaReplyCode.ReverseTunnelMandatory, 'reverse-tunnel-mandatory');
    expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE], { settings: required })));
    expectRelay(checkFaRequest(input(0, [MHAE], { settings: required }, { lifetime: 0 })));
    expectRelay(checkFaRequest(input(RequestFlag.D, [MHAE], { settings: required }, { careOfAddress: ipv4('203.0.113.50') })));
  });

  it("76 for a 'T' Request whose IP TTL is not 255; TTL 1 to 224.0.0.11 (RFC 5944 3.6.1.1) passes; without 'T' any TTL passes", () => {
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE], { ipTtl: 64 })), FaReplyCode.MobileNodeTooDistant, 'mobile-node-too-distant');
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE], { ipTtl: 254 })), 76);
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE], { ipTtl: 1 })), 76);
    expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE], { ipTtl: 1, ipDestination: ALL_MOBILITY_AGENTS })));
    expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE], { ipTtl: 255 })));
    expectRelay(checkFaRequest(input(0, [MHAE], { ipTtl: 64 })));
  });

  it('checks in the order of RFC 3024: 74 before 76, 76 before 79', () => {
    const none = { ...SETTINGS, reverseTunnel: 'none' as const, reverseTunneling: false };
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE, EDS], { settings: none, ipTtl: 64 })), 74);
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE, EDS], { settings: { ...SETTINGS, encapsulatingDelivery: false }, ipTtl: 64 })), 76);
  });

  it('79 for the Encapsulating Delivery Style extension when the agent does not support that style', () => {
    const directOnly = { ...SETTINGS, encapsulatingDelivery: false };
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE, EDS], { settings: directOnly })), FaReplyCode.DeliveryStyleNotSupported, 'delivery-style-not-supported');
    expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE], { settings: directOnly })));
  });

  it("70 for the extension before the MHAE, after the MFAE, with a nonzero Length, or without 'T'", () => {
    const mobileNode = association(HOME, MN_FA);
    expectDeny(checkFaRequest(input(RequestFlag.T, [EDS, MHAE])), FaReplyCode.PoorlyFormedRequest, 'misplaced-delivery-style');
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE, MFAE, EDS], { mobileNode })), 70, 'misplaced-delivery-style');
    expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE, EDS, MFAE], { mobileNode })));
    const longer: RegistrationExtension = { kind: 'unknown', type: 130, offset: 0, skippable: true, format: 'tlv', data: new Uint8Array([1]) };
    expectDeny(checkFaRequest(input(RequestFlag.T, [MHAE, longer])), 70, 'misplaced-delivery-style');
    expectDeny(checkFaRequest(input(0, [MHAE, EDS])), 70, 'misplaced-delivery-style');
  });

  it('consumes the extension: the relayed Request ends at the MHAE, whose authenticator still verifies, and an FHAE covers what is relayed', () => {
    const homeAgent = association(HA, FA_HA);
    const mobileNode = association(HOME, MN_FA);
    const relay = expectRelay(checkFaRequest(input(RequestFlag.T, [MHAE, EDS, MFAE], { mobileNode, homeAgent })));
    const relayed = decodeRegistrationRequest(relay.bytes);
    expect(relayed.ok).toBe(true);
    if (!relayed.ok) return;
    expect(relayed.value.extensions.map((e) => e.kind === 'auth' ? e.type : e.kind)).toEqual([ExtensionType.MobileHomeAuth, ExtensionType.ForeignHomeAuth]);
    expect(relayed.value.flags & RequestFlag.T).toBe(RequestFlag.T);
    const [mhae, fhae] = relayed.value.extensions;
    if (mhae?.kind !== 'auth' || fhae?.kind !== 'auth') throw new Error('auth extensions expected');
    expect(verifyAuthenticator(MN_HA.algorithm, MN_HA.key, relay.bytes, mhae)).toBe(true);
    expect(verifyAuthenticator(FA_HA.algorithm, FA_HA.key, relay.bytes, fhae)).toBe(true);
    expect(relay.removedExtensions).toBe(2);
  });

  it("a relayed 'T' Request carries its grant: encapsulation from the M/G bits, delivery style from the extension; none without 'T' or when co-located", () => {
    expect(expectRelay(checkFaRequest(input(RequestFlag.T))).pending.reverseTunnel).toEqual({ encapsulation: 'ip-in-ip', delivery: 'direct' });
    expect(expectRelay(checkFaRequest(input(RequestFlag.T | RequestFlag.M))).pending.reverseTunnel).toEqual({ encapsulation: 'minimal', delivery: 'direct' });
    expect(expectRelay(checkFaRequest(input(RequestFlag.T | RequestFlag.G, [MHAE, EDS]))).pending.reverseTunnel).toEqual({ encapsulation: 'gre', delivery: 'encapsulating' });
    expect(expectRelay(checkFaRequest(input(0))).pending.reverseTunnel).toBeUndefined();
    expect(expectRelay(checkFaRequest(input(RequestFlag.T | RequestFlag.D, [MHAE], {}, { careOfAddress: ipv4('203.0.113.50') }))).pending.reverseTunnel).toBeUndefined();
  });
});
