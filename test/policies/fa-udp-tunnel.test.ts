/**
 * The foreign agent's side of RFC 3519 (policies/fa-udp-tunnel.ts and its use in
 * policies/fa-request.ts): the UDP Tunnel Request extension an agent behind a NAT adds to the
 * Requests it relays, where it goes, and what the home agent's UDP Tunnel Reply extension
 * means for the visitor. Messages are built with the project's codec and signer, then decoded.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4, toHex, type Ipv4Address } from '../../io/wire/bytes.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
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
import { checkFaReply, checkFaRequest, type FaRequestInput, type FaSettings, type PendingRegistration } from '../../policies/fa-request.js';
import { faUdpTunnelOutcome, faUdpTunnelRequestFor, type FaUdpTunnelMode } from '../../policies/fa-udp-tunnel.js';
import { DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS, udpTunnelReply, udpTunnelReplyOf, udpTunnelRequest } from '../../io/wire/udp-tunnel.js';
import { createSecurityContext, MobilitySecurityAssociation, type MobilitySecurityContext } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';

const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const COA = ipv4('203.0.113.1');
const FA_LINK = ipv4('203.0.113.254');
const MN_MAC = '02:00:00:00:00:0a';
const ID: Identification = { high: 0xeb3c7f00, low: 0x12345678 };
const NOW = 1_767_225_600_000;
const MN_HA = createSecurityContext({ spi: 0x1000, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') });
const FA_HA = createSecurityContext({ spi: 0x3000, key: fromHex('f0e0d0c0b0a090807060504030201000') });

const SETTINGS: FaSettings = {
  careOfAddresses: [COA],
  interfaceAddresses: [FA_LINK],
  linkAddress: FA_LINK,
  registrationLifetime: 1800,
  busy: false,
  encapsulations: { minimal: false, gre: false },
  reverseTunneling: true,
  requireMobileForeignAuthentication: false,
  maxPending: 5,
  acceptZeroHomeAddress: false,
};

function association(peer: Ipv4Address, ...contexts: MobilitySecurityContext[]): MobilitySecurityAssociation {
  const a = new MobilitySecurityAssociation(peer);
  for (const c of contexts) a.add(c);
  return a;
}

/** The node's own UDP Tunnel Request (RFC 3519 3.1): R set (registering through the agent), encapsulation 4. */
function nodeUdpRequest(): RegistrationExtension {
  return udpTunnelRequest({ registrationThroughFa: true });
}

/** A UDP Tunnel Reply extension (RFC 3519 3.2) as the home agent writes it. */
function udpReply(code: number, keepalive: number, forced = false): RegistrationExtension {
  return udpTunnelReply({ code, forced, keepaliveInterval: keepalive });
}

type Spec = 'mhae' | 'fhae' | RegistrationExtension;

function extensionsOf(specs: readonly Spec[]): RegistrationExtension[] {
  return specs.map((s) => (s === 'mhae' ? authPlaceholder(ExtensionType.MobileHomeAuth, MN_HA.spi) : s === 'fhae' ? authPlaceholder(ExtensionType.ForeignHomeAuth, FA_HA.spi) : s));
}

function sign(message: RegistrationRequest | RegistrationReply): Uint8Array {
  return encodeSigned(message, (type) => (type === ExtensionType.MobileHomeAuth ? MN_HA : type === ExtensionType.ForeignHomeAuth ? FA_HA : undefined));
}

function requestInput(settings: Partial<FaSettings>, fields: Partial<Omit<RegistrationRequest, 'extensions'>> = {}, specs: readonly Spec[] = ['mhae'], homeAgentSa = true): FaRequestInput {
  const draft: RegistrationRequest = { type: 1, flags: 0, lifetime: 600, homeAddress: HOME, homeAgent: HA, careOfAddress: COA, identification: ID, extensions: extensionsOf(specs), ...fields };
  const message = sign(draft);
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return {
    request: decoded.value,
    message,
    udpChecksumValid: true,
    ipSource: HOME,
    ipDestination: FA_LINK,
    udpSourcePort: 49152,
    linkLayerSource: MN_MAC,
    settings: { ...SETTINGS, ...settings },
    ...(homeAgentSa ? { homeAgent: association(HA, FA_HA) } : {}),
    pendingUsage: { registrations: 0, fromLinkSource: 0, forHomeAddress: 0, recentUnknownDeregistrations: 0 },
    isVisitor: false,
    nowMs: NOW,
  };
}

function relayOf(input: FaRequestInput) {
  const verdict = checkFaRequest(input);
  if (verdict.kind !== 'relay') throw new Error(`expected a relay, got ${verdict.kind}: ${'detail' in verdict ? verdict.detail : ''}`);
  return verdict;
}

function relayedRequest(bytes: Uint8Array): RegistrationRequest {
  const decoded = decodeRegistrationRequest(bytes);
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value;
}

function ext144(request: RegistrationRequest): Extract<RegistrationExtension, { offset: number }>[] {
  return request.extensions.filter((e) => (e as { type?: number }).type === 144) as Extract<RegistrationExtension, { offset: number }>[];
}

function replyOf(code: number, specs: readonly Spec[]): RegistrationReply {
  const draft: RegistrationReply = { type: 3, code, lifetime: 600, homeAddress: HOME, homeAgent: HA, identification: ID, extensions: extensionsOf(specs) };
  const decoded = decodeRegistrationReply(sign(draft));
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value;
}

describe('the UDP Tunnel Request extension an agent behind a NAT adds (RFC 3519 3.1, 4.5)', () => {
  it('udpTunnel off (the default) relays the Request as before: no extension', () => {
    for (const mode of [undefined, 'off'] as const) {
      const relay = relayOf(requestInput(mode === undefined ? {} : { udpTunnel: mode }));
      expect(ext144(relayedRequest(relay.bytes))).toEqual([]);
      expect(relay.pending.udpTunnelRequested).toBeUndefined();
    }
  });

  it('auto appends one after the MHAE and before the FHAE, which covers it; bytes 90 06 00 00 00 04 00 00 (F clear, R clear, IP in IP)', () => {
    const relay = relayOf(requestInput({ udpTunnel: 'auto' }));
    const request = relayedRequest(relay.bytes);
    const [udp] = ext144(request);
    const auth = request.extensions.filter((e): e is AuthExtension => e.kind === 'auth');
    expect(auth.map((a) => a.type)).toEqual([ExtensionType.MobileHomeAuth, ExtensionType.ForeignHomeAuth]);
    expect(udp).toBeDefined();
    expect(udp!.offset).toBeGreaterThan(auth[0]!.offset);
    expect(udp!.offset).toBeLessThan(auth[1]!.offset);
    expect(toHex(relay.bytes.subarray(udp!.offset, udp!.offset + 8))).toBe('9006000000040000');
    // The FHAE covers everything before it, the agent's extension included (RFC 5944 3.5.4).
    expect(verifyAuthenticator(FA_HA.algorithm, FA_HA.key, relay.bytes, auth[1]!)).toBe(true);
    // The node's MHAE still verifies: nothing before it changed.
    expect(verifyAuthenticator(MN_HA.algorithm, MN_HA.key, relay.bytes, auth[0]!)).toBe(true);
    expect(relay.pending.udpTunnelRequested).toBe(true);
  });

  it('force sets F (RFC 3519 3.1.1): byte 4 is 0x80', () => {
    const relay = relayOf(requestInput({ udpTunnel: 'force' }));
    const [udp] = ext144(relayedRequest(relay.bytes));
    expect(relay.bytes[udp!.offset + 4]).toBe(0x80);
  });

  it('without a Foreign-Home association the extension ends the relayed Request', () => {
    const relay = relayOf(requestInput({ udpTunnel: 'auto' }, {}, ['mhae'], false));
    const request = relayedRequest(relay.bytes);
    expect(request.extensions.map((e) => (e as { type: number }).type)).toEqual([ExtensionType.MobileHomeAuth, 144]);
    expect(relay.bytes.length).toBe(ext144(request)[0]!.offset + 8);
  });

  it("none on a deregistration, for a co-located node registering through the agent (D, RFC 3519 4.11), or when the node's own extension is there", () => {
    for (const mode of ['auto', 'force'] as const) {
      expect(ext144(relayedRequest(relayOf(requestInput({ udpTunnel: mode }, { lifetime: 0 })).bytes))).toEqual([]);
      const colocated = relayOf(requestInput({ udpTunnel: mode }, { flags: RequestFlag.D, careOfAddress: ipv4('192.0.2.77') }));
      expect(ext144(relayedRequest(colocated.bytes))).toEqual([]);
      expect(colocated.pending.udpTunnelRequested).toBeUndefined();
      // The node's extension (before its MHAE, R set) is relayed as it came, and only it.
      const own = relayOf(requestInput({ udpTunnel: mode }, { flags: RequestFlag.D, careOfAddress: ipv4('192.0.2.77') }, [nodeUdpRequest(), 'mhae']));
      const kept = ext144(relayedRequest(own.bytes));
      expect(kept).toHaveLength(1);
      expect(own.bytes[kept[0]!.offset + 4]).toBe(0x40);
    }
  });

  it('faUdpTunnelRequestFor: the decision alone, per mode', () => {
    const { request } = requestInput({});
    const modes: [FaUdpTunnelMode | undefined, boolean | undefined][] = [[undefined, undefined], ['off', undefined], ['auto', false], ['force', true]];
    for (const [mode, force] of modes) {
      const ext = faUdpTunnelRequestFor(request, mode, true);
      expect(ext?.force).toBe(force);
      if (ext !== undefined) expect(ext).toMatchObject({ subType: 0, registrationThroughFa: false, encapsulation: 4 });
    }
    expect(faUdpTunnelRequestFor(request, 'auto', false)).toBeUndefined();
  });
});

describe("the home agent's UDP Tunnel Reply extension (RFC 3519 3.2)", () => {
  it('the registration decoder reads it (code, F, keepalive interval) and the FHAE after it', () => {
    const reply = replyOf(0, ['mhae', udpReply(0, 25, true), 'fhae']);
    expect(udpTunnelReplyOf(reply.extensions)).toMatchObject({ subType: 0, code: 0, forced: true, keepaliveInterval: 25, reserved: 0 });
    expect(reply.extensions.map((e) => e.kind)).toEqual(['auth', 'udp-tunnel-reply', 'auth']);
  });

  it('granted: code 0 after the MHAE, with its keepalive interval; 0 means the default 110 s', () => {
    expect(faUdpTunnelOutcome(replyOf(0, ['mhae', udpReply(0, 25), 'fhae']), true)).toEqual({ kind: 'granted', keepaliveInterval: 25, forced: false });
    expect(faUdpTunnelOutcome(replyOf(0, ['mhae', udpReply(0, 0), 'fhae']), true)).toMatchObject({ kind: 'granted', keepaliveInterval: DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS });
  });

  it('not granted: declined (64), no extension, or one before the MHAE (the node\'s, RFC 3519 4.11)', () => {
    expect(faUdpTunnelOutcome(replyOf(0, ['mhae', udpReply(64, 25), 'fhae']), true).kind).toBe('not-granted');
    expect(faUdpTunnelOutcome(replyOf(0, ['mhae', 'fhae']), true).kind).toBe('not-granted');
    expect(faUdpTunnelOutcome(replyOf(0, [udpReply(0, 25), 'mhae', 'fhae']), true).kind).toBe('not-granted');
  });

  it('a denial (142, "UDP encapsulation unavailable", RFC 3519 3.5) leaves the visitor as it was; not asked: nothing', () => {
    expect(faUdpTunnelOutcome(replyOf(142, ['mhae', 'fhae']), true)).toEqual({ kind: 'denied' });
    expect(faUdpTunnelOutcome(replyOf(0, ['mhae', udpReply(0, 25), 'fhae']), false)).toEqual({ kind: 'not-asked' });
  });

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
    udpTunnelRequested: true,
  };

  it('checkFaReply discards a Reply whose UDP Tunnel Reply has a Length other than 6: kept unknown and not skippable (RFC 3519 3.2, RFC 5944 1.8)', () => {
    // Type 44, Length 4: Sub-Type 0 and three bytes; the FHAE after it still covers it.
    const short: RegistrationExtension = { kind: 'unknown', type: 44, skippable: false, format: 'short', subType: 0, offset: 0, data: Uint8Array.of(0, 0, 25) };
    const message = sign({ type: 3, code: 0, lifetime: 600, homeAddress: HOME, homeAgent: HA, identification: ID, extensions: extensionsOf(['mhae', short, 'fhae']) });
    const decoded = decodeRegistrationReply(message);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.extensions.map((e) => e.kind)).toEqual(['auth', 'unknown', 'auth']);
    expect(decoded.value.extensions.some((e) => e.kind === 'unknown' && e.type === 44)).toBe(true);
    const verdict = checkFaReply({ reply: decoded.value, message, udpChecksumValid: true, source: HA, sourcePort: 434, pending: [PENDING], homeAgent: association(HA, FA_HA), settings: SETTINGS });
    expect(verdict).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
  });

  it("checkFaReply verifies the FHAE over it and relays the Reply without it (RFC 5944 3.7.3.2); the node's own one before the MHAE stays", () => {
    const draft: RegistrationReply = { type: 3, code: 0, lifetime: 600, homeAddress: HOME, homeAgent: HA, identification: ID, extensions: extensionsOf(['mhae', udpReply(0, 25), 'fhae']) };
    const message = sign(draft);
    const decoded = decodeRegistrationReply(message);
    if (!decoded.ok) throw new Error(decoded.error.message);
    const verdict = checkFaReply({ reply: decoded.value, message, udpChecksumValid: true, source: HA, sourcePort: 434, pending: [PENDING], homeAgent: association(HA, FA_HA), settings: SETTINGS });
    expect(verdict.kind).toBe('relay');
    if (verdict.kind !== 'relay') return;
    expect(verdict.removedExtensions).toBe(2);
    const relayed = decodeRegistrationReply(verdict.datagram.bytes);
    expect(relayed.ok && relayed.value.extensions.map((e) => (e as { type: number }).type)).toEqual([ExtensionType.MobileHomeAuth]);

    const forNode: RegistrationReply = { ...draft, extensions: extensionsOf([udpReply(0, 25), 'mhae', 'fhae']) };
    const nodeMessage = sign(forNode);
    const nodeDecoded = decodeRegistrationReply(nodeMessage);
    if (!nodeDecoded.ok) throw new Error(nodeDecoded.error.message);
    const nodeVerdict = checkFaReply({ reply: nodeDecoded.value, message: nodeMessage, udpChecksumValid: true, source: HA, sourcePort: 434, pending: [PENDING], homeAgent: association(HA, FA_HA), settings: SETTINGS });
    expect(nodeVerdict.kind).toBe('relay');
    if (nodeVerdict.kind === 'relay') expect(toHex(nodeVerdict.datagram.bytes.subarray(20, 28))).toBe('2c06000000000019');
  });
});
