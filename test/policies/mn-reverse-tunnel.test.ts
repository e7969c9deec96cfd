/**
 * The mobile node's side of reverse tunnelling (RFC 3024) in its Requests (policies/mn-request.ts)
 * and its answers to RFC 3024's refusal codes (policies/mn-reverse-tunnel.ts).
 */
import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeRegistrationRequest, ENCAPSULATING_DELIVERY_STYLE_TYPE } from '../../io/wire/registration.js';
import { ExtensionType, RequestFlag } from '../../io/wire/registration-types.js';
import {
  buildRegistrationRequest,
  requestFlags,
  type MnRegistrationTarget,
  type MnRequestSettings,
} from '../../policies/mn-request.js';
import { reverseTunnelRetry, type ReverseTunnelRequestShape } from '../../policies/mn-reverse-tunnel.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const FA = ipv4('203.0.113.1');
const COA = ipv4('203.0.113.100');
const MN_HA = createSecurityContext({ spi: 0x1000, key: new TextEncoder().encode('mn-ha secret 16b') });
const MN_FA = { spi: 0x2000, algorithm: 'hmac-md5' as const, key: new TextEncoder().encode('mn-fa secret 16b') };
const ID = { high: 0xeb3c7f00, low: 0x12345678 };

const SETTINGS: MnRequestSettings = {
  homeAddress: HOME,
  homeAgent: HA,
  homeNetwork: ipv4('198.51.100.0'),
  homePrefixLength: 24,
  mobileHome: MN_HA,
  reverseTunnel: true,
};
const FA_WITH_T: MnRegistrationTarget = {
  kind: 'foreign-agent',
  agent: FA,
  agentLinkAddress: '02:00:00:00:00:01',
  careOfAddress: COA,
  registrationLifetime: 300,
  minimal: false,
  gre: false,
  reverseTunnel: true,
};
const FA_WITHOUT_T: MnRegistrationTarget = { ...FA_WITH_T, reverseTunnel: false };

function encoded(settings: MnRequestSettings, target: MnRegistrationTarget) {
  const built = buildRegistrationRequest(settings, target, { identification: ID, lifetime: 300 });
  const bytes = encodeSigned(built.request, built.keyFor);
  const decoded = decodeRegistrationRequest(bytes);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return { built, bytes, request: decoded.value };
}

describe("the 'T' bit and the delivery style in the node's Requests (RFC 3024 3.2, 3.3, 5.1)", () => {
  it("'T' is never set toward a foreign agent that does not advertise it, whatever the node wants", () => {
    expect(requestFlags(SETTINGS, FA_WITHOUT_T) & RequestFlag.T).toBe(0);
    expect(requestFlags({ ...SETTINGS, deliveryStyle: 'encapsulating' }, FA_WITHOUT_T) & RequestFlag.T).toBe(0);
    const { request } = encoded({ ...SETTINGS, deliveryStyle: 'encapsulating' }, FA_WITHOUT_T);
    expect(request.extensions.some((e) => e.type === ENCAPSULATING_DELIVERY_STYLE_TYPE)).toBe(false);
  });

  it("'T' to an agent advertising it, and always when co-located; not when the node does not want it", () => {
    expect(requestFlags(SETTINGS, FA_WITH_T) & RequestFlag.T).toBe(RequestFlag.T);
    expect(requestFlags(SETTINGS, { kind: 'co-located', careOfAddress: COA }) & RequestFlag.T).toBe(RequestFlag.T);
    expect(requestFlags({ ...SETTINGS, reverseTunnel: false }, FA_WITH_T) & RequestFlag.T).toBe(0);
  });

  it('direct delivery (the default) sends no Encapsulating Delivery Style extension', () => {
    const { request } = encoded(SETTINGS, FA_WITH_T);
    expect(request.extensions.map((e) => e.type)).toEqual([ExtensionType.MobileHomeAuth]);
  });

  it('encapsulating delivery: type 130, length 0, after the Mobile-Home authenticator and before the Mobile-Foreign one; each authenticator still verifies', () => {
    const settings: MnRequestSettings = { ...SETTINGS, deliveryStyle: 'encapsulating', mobileForeign: MN_FA, nai: 'mn1@example.org' };
    const { request, bytes } = encoded(settings, FA_WITH_T);
    expect(request.extensions.map((e) => e.type)).toEqual([ExtensionType.MobileNodeNai, ExtensionType.MobileHomeAuth, 130, ExtensionType.MobileForeignAuth]);
    const style = request.extensions[2]!;
    expect(bytes[style.offset]).toBe(130);
    expect(bytes[style.offset + 1]).toBe(0);
    // The Mobile-Foreign authenticator covers the extension (RFC 5944 3.5.1), checked with node:crypto.
    const foreign = request.extensions[3]!;
    const covered = bytes.subarray(0, foreign.offset + 6);
    const expected = createHmac('md5', MN_FA.key).update(covered).digest();
    expect(Buffer.from(bytes.subarray(foreign.offset + 6, foreign.offset + 22)).equals(expected)).toBe(true);
  });

  it('a co-located node never sends the delivery style extension (it is its own tunnel entry)', () => {
    const { request } = encoded({ ...SETTINGS, deliveryStyle: 'encapsulating' }, { kind: 'co-located', careOfAddress: COA });
    expect(request.extensions.map((e) => e.type)).toEqual([ExtensionType.MobileHomeAuth]);
  });

  it("a unicast Request with 'T' to the agent carries TTL 255 (code 76 is the agent's on-link check); without 'T' the usual 64; to 224.0.0.11 still TTL 1", () => {
    expect(encoded(SETTINGS, FA_WITH_T).built.addressing.ttl).toBe(255);
    expect(encoded({ ...SETTINGS, reverseTunnel: false }, FA_WITH_T).built.addressing.ttl).toBe(64);
    const noAddress: MnRegistrationTarget = { ...FA_WITH_T, agent: undefined };
    expect(encoded(SETTINGS, noAddress).built.addressing.ttl).toBe(1);
  });
});

describe("the node's answer to RFC 3024's refusal codes (3.4)", () => {
  const withT: ReverseTunnelRequestShape = { reverseTunnel: true, encapsulatingDelivery: false, otherEncapsulation: false, reverseTunnelOffered: true };
  const withoutT: ReverseTunnelRequestShape = { ...withT, reverseTunnel: false };

  it.each([
    [74, withT, { reverseTunnel: false }, true],
    [137, withT, { reverseTunnel: false }, true],
    [76, withT, { reverseTunnel: false }, true],
    [75, withoutT, { reverseTunnel: true }, false],
    [138, withoutT, { reverseTunnel: true }, false],
    [79, { ...withT, encapsulatingDelivery: true }, { directDelivery: true }, true],
    [139, { ...withT, otherEncapsulation: true }, { ipInIpOnly: true }, true],
  ] as const)('code %i → retry with %j', (code, sent, adjustment, warning) => {
    const decision = reverseTunnelRetry(code, sent);
    expect(decision.kind).toBe('retry');
    if (decision.kind !== 'retry') return;
    expect(decision.adjustment).toEqual(adjustment);
    expect(decision.warning).toBe(warning);
  });

  it("a retry that would change nothing is final: 74/137/76 without 'T', 75/138 with 'T', 79 with direct delivery, 139 for IP in IP", () => {
    for (const [code, sent] of [
      [74, withoutT],
      [137, withoutT],
      [76, withoutT],
      [75, withT],
      [138, withT],
      [79, withT],
      [139, withT],
    ] as const) {
      expect(reverseTunnelRetry(code, sent).kind, `code ${code}`).toBe('final');
    }
  });

  it("138 through a foreign agent that does not advertise 'T' is final: the node never sets 'T' toward it", () => {
    expect(reverseTunnelRetry(138, { ...withoutT, reverseTunnelOffered: false }).kind).toBe('final');
    expect(reverseTunnelRetry(75, { ...withoutT, reverseTunnelOffered: false }).kind).toBe('final');
  });

  it('other codes are not its business', () => {
    for (const code of [0, 1, 64, 69, 72, 128, 133, 136]) expect(reverseTunnelRetry(code, withT).kind).toBe('not-applicable');
  });
});
