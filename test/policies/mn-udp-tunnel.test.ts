/**
 * The mobile node's RFC 3519 decisions (policies/mn-udp-tunnel.ts): when the UDP Tunnel Request
 * extension goes in a Request and where, what a Reply's UDP Tunnel Reply grants, and the answer
 * to code 142.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeRegistrationReply, decodeRegistrationRequest, extensionOffsets } from '../../io/wire/registration.js';
import { ExtensionType, REGISTRATION_REPLY, type RegistrationExtension, type RegistrationReply } from '../../io/wire/registration-types.js';
import { buildRegistrationRequest, type MnRegistrationTarget, type MnRequestSettings } from '../../policies/mn-request.js';
import { checkMnReply } from '../../policies/mn-reply.js';
import { authenticatedUdpTunnelReply, udpTunnelOutcome, udpTunnelRequestFor, udpTunnelRetry } from '../../policies/mn-udp-tunnel.js';
import { ReplyCode } from '../../io/wire/reply-codes.js';
import { DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS, udpTunnelReply } from '../../io/wire/udp-tunnel.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COLOCATED = ipv4('192.0.2.130');
const MN_HA = createSecurityContext({ spi: 0x1000, key: new TextEncoder().encode('mn-ha secret 16b') });
const SETTINGS: MnRequestSettings = {
  homeAddress: HOME,
  homeAgent: HA,
  homeNetwork: ipv4('198.51.100.0'),
  homePrefixLength: 24,
  mobileHome: MN_HA,
  nai: 'mn@example.org',
};
const COLOCATED_TARGET: MnRegistrationTarget = { kind: 'co-located', careOfAddress: COLOCATED };
const VIA_FA: MnRegistrationTarget = {
  kind: 'foreign-agent',
  agent: ipv4('203.0.113.1'),
  careOfAddress: ipv4('203.0.113.1'),
  registrationLifetime: 300,
  minimal: false,
  gre: false,
  reverseTunnel: true,
};
const ID = { high: 0xeb3c7f00, low: 0x12345678 };

function replyExtension(code: number, forced: boolean, keepaliveInterval: number): RegistrationExtension {
  return udpTunnelReply({ code, forced, keepaliveInterval });
}

function mobileHomeAuth(): RegistrationExtension {
  return { kind: 'auth', type: ExtensionType.MobileHomeAuth, spi: MN_HA.spi, offset: 0, authenticator: new Uint8Array(16) };
}

function signedReply(extensions: RegistrationExtension[], code = 0): Uint8Array {
  const reply: RegistrationReply = { type: REGISTRATION_REPLY, code, lifetime: 600, homeAddress: HOME, homeAgent: HA, identification: ID, extensions };
  return encodeSigned(reply, (type, spi) => (type === ExtensionType.MobileHomeAuth && spi === MN_HA.spi ? MN_HA : undefined));
}

describe('RFC 3519 4.4: when the mobile node asks for UDP tunnelling', () => {
  it('auto and force ask in a co-located Request, force with F; off never; through a foreign agent never (the agent asks, 4.5)', () => {
    expect(udpTunnelRequestFor('auto', COLOCATED_TARGET, false)).toEqual({ force: false, registrationThroughFa: false, encapsulation: 4 });
    expect(udpTunnelRequestFor('force', COLOCATED_TARGET, false)).toEqual({ force: true, registrationThroughFa: false, encapsulation: 4 });
    expect(udpTunnelRequestFor('off', COLOCATED_TARGET, false)).toBeUndefined();
    expect(udpTunnelRequestFor('auto', VIA_FA, false)).toBeUndefined();
    expect(udpTunnelRequestFor('force', VIA_FA, false)).toBeUndefined();
    expect(udpTunnelRequestFor('auto', { kind: 'home' }, false)).toBeUndefined();
  });

  it('after a 142 retry (withdrawn) the Request goes without the extension', () => {
    expect(udpTunnelRequestFor('auto', COLOCATED_TARGET, true)).toBeUndefined();
  });
});

describe('RFC 3519 3.1: the UDP Tunnel Request extension in the Request', () => {
  it('is type 144, length 6, sub-type 0, F as asked, R clear, encapsulation 4, after the NAI and before the Mobile-Home Authentication Extension, which covers it', () => {
    for (const force of [false, true]) {
      const built = buildRegistrationRequest(
        { ...SETTINGS, udpTunnelRequest: { force, registrationThroughFa: false, encapsulation: 4 } },
        COLOCATED_TARGET,
        { identification: ID, lifetime: 600 },
      );
      const bytes = encodeSigned(built.request, built.keyFor);
      const decoded = decodeRegistrationRequest(bytes);
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      const types = decoded.value.extensions.map((e) => e.type);
      expect(types).toEqual([ExtensionType.MobileNodeNai, 144, ExtensionType.MobileHomeAuth]);
      const at = extensionOffsets(decoded.value)[1]!;
      expect([...bytes.subarray(at, at + 8)]).toEqual([144, 6, 0, 0, force ? 0x80 : 0x00, 4, 0, 0]);
      // The authenticator covers everything before the authentication extension's SPI field.
      const auth = decoded.value.extensions[2]!;
      expect(at).toBeLessThan(auth.offset!);
    }
  });

  it('is not in a Request without the setting, nor in a deregistration at home', () => {
    const plain = buildRegistrationRequest(SETTINGS, COLOCATED_TARGET, { identification: ID, lifetime: 600 });
    expect(plain.request.extensions.map((e) => e.type)).not.toContain(144);
    const home = buildRegistrationRequest({ ...SETTINGS, udpTunnelRequest: { force: false, registrationThroughFa: false, encapsulation: 4 } }, { kind: 'home' }, { identification: ID, lifetime: 0 });
    expect(home.request.extensions.map((e) => e.type)).not.toContain(144);
  });
});

describe('RFC 3519 3.2: the UDP Tunnel Reply extension in the Reply', () => {
  it('a Reply carrying it (type 44, not skippable) is valid for the node, which recognises it', () => {
    const bytes = signedReply([replyExtension(0, false, 30), mobileHomeAuth()]);
    const decoded = decodeRegistrationReply(bytes, 0, bytes.length);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const verdict = checkMnReply({ reply: decoded.value, message: bytes, udpChecksumValid: true, requestIdentification: ID, mobileHome: { get: () => MN_HA, first: () => MN_HA } });
    expect(verdict).toEqual({ kind: 'valid', codeClass: 'accepted' });
    expect(authenticatedUdpTunnelReply(decoded.value)).toEqual({ code: 0, forced: false, keepaliveInterval: 30 });
  });

  it('another unknown non-skippable extension still makes the Reply invalid (RFC 5944 1.8)', () => {
    const other: RegistrationExtension = { kind: 'unknown', type: 45, offset: 0, skippable: false, format: 'tlv', data: new Uint8Array(6) };
    const bytes = signedReply([other, mobileHomeAuth()]);
    const decoded = decodeRegistrationReply(bytes, 0, bytes.length);
    if (!decoded.ok) throw new Error('decode');
    const verdict = checkMnReply({ reply: decoded.value, message: bytes, udpChecksumValid: true, requestIdentification: ID, mobileHome: { get: () => MN_HA, first: () => MN_HA } });
    expect(verdict.kind).toBe('discard');
  });

  it('is read only before the Mobile-Home Authentication Extension (an unauthenticated one could redirect the node, RFC 3519 6.1)', () => {
    const after = decodeRegistrationReply(signedReply([mobileHomeAuth(), replyExtension(0, true, 20)]), 0, undefined);
    if (!after.ok) throw new Error('decode');
    expect(authenticatedUdpTunnelReply(after.value)).toBeUndefined();
  });

  it('reads code, F and keepalive interval for any values (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.integer({ min: 0, max: 0xffff }), (code, forced, keepalive) => {
        const decoded = decodeRegistrationReply(signedReply([replyExtension(code, forced, keepalive), mobileHomeAuth()]), 0, undefined);
        if (!decoded.ok) return false;
        const read = authenticatedUdpTunnelReply(decoded.value);
        return read !== undefined && read.code === code && read.forced === forced && read.keepaliveInterval === keepalive;
      }),
    );
  });

  it('one whose Length is not 6 makes the Reply invalid, the discard naming it (RFC 5944 1.8; RFC 3519 3.2)', () => {
    const short: RegistrationExtension = { kind: 'unknown', type: 44, offset: 0, skippable: false, format: 'tlv', data: new Uint8Array(4) };
    const bytes = signedReply([short, mobileHomeAuth()]);
    const decoded = decodeRegistrationReply(bytes, 0, bytes.length);
    if (!decoded.ok) throw new Error('decode');
    expect(decoded.value.extensions[0]!.kind).toBe('unknown');
    const verdict = checkMnReply({ reply: decoded.value, message: bytes, udpChecksumValid: true, requestIdentification: ID, mobileHome: { get: () => MN_HA, first: () => MN_HA } });
    expect(verdict).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
    if (verdict.kind === 'discard') expect(verdict.detail).toContain('UDP Tunnel Reply extension (type 44)');
    expect(authenticatedUdpTunnelReply(decoded.value)).toBeUndefined();
  });
});

describe('RFC 3519: what an accepted registration uses', () => {
  const asked = { force: false, registrationThroughFa: false, encapsulation: 4 };
  it('code 0 → UDP tunnelling with the granted keepalive interval (0 → the RFC default 110 s)', () => {
    expect(udpTunnelOutcome(asked, { code: 0, forced: false, keepaliveInterval: 20 })).toEqual({ kind: 'granted', keepaliveSeconds: 20, forced: false });
    expect(udpTunnelOutcome(asked, { code: 0, forced: true, keepaliveInterval: 0 })).toEqual({ kind: 'granted', keepaliveSeconds: DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS, forced: true });
  });
  it('code 64, another code, or no extension → IP in IP', () => {
    expect(udpTunnelOutcome(asked, { code: 64, forced: false, keepaliveInterval: 0 }).kind).toBe('declined');
    expect(udpTunnelOutcome(asked, { code: 1, forced: false, keepaliveInterval: 10 }).kind).toBe('declined');
    expect(udpTunnelOutcome(asked, undefined).kind).toBe('declined');
  });
  it('not asked → nothing, whatever the Reply says', () => {
    expect(udpTunnelOutcome(undefined, { code: 0, forced: false, keepaliveInterval: 20 })).toEqual({ kind: 'not-requested' });
  });
});

describe('RFC 3519 3.5: code 142, UDP encapsulation unavailable', () => {
  const asked = { force: false, registrationThroughFa: false, encapsulation: 4 };
  it('auto: again without the extension', () => {
    expect(udpTunnelRetry(ReplyCode.HaUdpEncapsulationUnavailable, 'auto', asked).kind).toBe('retry');
  });
  it('force: the denial stands, reported with the fix', () => {
    const decision = udpTunnelRetry(ReplyCode.HaUdpEncapsulationUnavailable, 'force', { ...asked, force: true });
    expect(decision.kind).toBe('final');
    if (decision.kind === 'final') expect(decision.detail).toMatch(/udpTunnel: auto/);
  });
  it('to a Request without the extension nothing helps; other codes are not this policy\'s', () => {
    expect(udpTunnelRetry(ReplyCode.HaUdpEncapsulationUnavailable, 'auto', undefined).kind).toBe('final');
    expect(udpTunnelRetry(137, 'auto', asked).kind).toBe('not-applicable');
  });
});
