/** A UDP Tunnel Request extension whose Length is not 6 (RFC 3519 3.1) is a poorly formed Request at the foreign agent: 70. */
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4 } from '../../io/wire/bytes.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, type RegistrationExtension, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { checkFaRequest, type FaSettings } from '../../policies/fa-request.js';
import { createSecurityContext, MobilitySecurityAssociation } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const MN_HA = createSecurityContext({ spi: 0x1000, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') });
const FA_HA = createSecurityContext({ spi: 0x3000, key: fromHex('f0e0d0c0b0a090807060504030201000') });
const SETTINGS: FaSettings = {
  careOfAddresses: [COA],
  interfaceAddresses: [COA],
  linkAddress: COA,
  registrationLifetime: 1800,
  busy: false,
  encapsulations: { minimal: false, gre: false },
  reverseTunneling: true,
  requireMobileForeignAuthentication: false,
  maxPending: 5,
  acceptZeroHomeAddress: false,
};

function verdictFor(udpExtension: RegistrationExtension) {
  const draft: RegistrationRequest = {
    type: 1, flags: 0, lifetime: 600, homeAddress: HOME, homeAgent: HA, careOfAddress: COA,
    identification: { high: 0xeb3c7f00, low: 1 }, extensions: [udpExtension, authPlaceholder(ExtensionType.MobileHomeAuth, MN_HA.spi)],
  };
  const message = encodeSigned(draft, (type) => (type === ExtensionType.MobileHomeAuth ? MN_HA : undefined));
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) throw new Error(decoded.error.message);
  const homeAgent = new MobilitySecurityAssociation(HA);
  homeAgent.add(FA_HA);
  return checkFaRequest({
    request: decoded.value, message, udpChecksumValid: true, ipSource: HOME, ipDestination: COA, udpSourcePort: 49152,
    linkLayerSource: '02:00:00:00:00:0a', settings: SETTINGS, homeAgent,
    pendingUsage: { registrations: 0, fromLinkSource: 0, forHomeAddress: 0, recentUnknownDeregistrations: 0 }, isVisitor: false, nowMs: 1_767_225_600_000,
  });
}

describe('foreign agent: malformed UDP Tunnel Request extension', () => {
  it('Length 4 instead of 6: denied with 70, the detail naming the extension and RFC 3519 3.1', () => {
    const verdict = verdictFor({ kind: 'unknown', type: 144, offset: 0, skippable: true, format: 'tlv', data: Uint8Array.of(0, 0, 0x80, 4) });
    expect(verdict).toMatchObject({ kind: 'deny', code: 70, reason: 'malformed-udp-tunnel-extension' });
    expect('detail' in verdict && verdict.detail).toMatch(/UDP Tunnel Request extension \(type 144\) at offset 24 has Length 4, not 6 \(RFC 3519 3\.1\)/);
  });

  it('the control: the same Request with a well-formed extension is relayed', () => {
    const verdict = verdictFor({ kind: 'unknown', type: 144, offset: 0, skippable: true, format: 'tlv', data: Uint8Array.of(0, 0, 0x80, 4, 0, 0) });
    expect(verdict.kind).toBe('relay');
  });
});
