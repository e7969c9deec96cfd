import { describe, expect, it } from 'vitest';
import { decodeRegistrationRequest, toBytesRegistrationMessage } from '../../io/wire/registration.js';
import type { RegistrationExtension, RegistrationRequest } from '../../io/wire/registration-types.js';
import { ipv4 as parseIpv4 } from '../../io/wire/bytes.js';
import { ReplyCode } from '../../io/wire/reply-codes.js';
import { DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS, udpTunnelRequest } from '../../io/wire/udp-tunnel.js';
import {
  addedByForeignAgent,
  decideUdpTunnel,
  natDetected,
  placedUdpTunnelRequest,
  rebindingTarget,
  type UdpTunnelInput,
} from '../../policies/ha-udp-tunnel.js';

const CARE_OF = parseIpv4('10.0.0.5');
const NAT_PUBLIC = parseIpv4('198.51.100.7');
const MHAE: RegistrationExtension = { kind: 'auth', type: 32, spi: 300, offset: 0, authenticator: new Uint8Array(16) };

/** A UDP Tunnel Request Extension (Type 144) with F (0x80) and R (0x40) from `flags`, built by io/wire. */
function requestExtension(flags: number, encapsulation = 4, subType = 0): RegistrationExtension {
  return { ...udpTunnelRequest({ force: (flags & 0x80) !== 0, registrationThroughFa: (flags & 0x40) !== 0, encapsulation }), subType };
}

function request(extensions: RegistrationExtension[], lifetime = 600): RegistrationRequest {
  return {
    type: 1,
    flags: 0x04,
    lifetime,
    homeAddress: parseIpv4('192.0.2.10'),
    homeAgent: parseIpv4('192.0.2.1'),
    careOfAddress: CARE_OF,
    identification: { high: 1, low: 2 },
    extensions,
  };
}

function input(req: RegistrationRequest, overrides: Partial<UdpTunnelInput> = {}): UdpTunnelInput {
  return {
    request: req,
    ipSource: NAT_PUBLIC,
    sourcePort: 40001,
    policy: 'allowed',
    keepaliveInterval: DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS,
    encapsulations: { minimal: false, gre: true },
    ...overrides,
  };
}

describe('RFC 3519 at the home agent: the UDP Tunnel Request Extension', () => {
  it('reads the decoded extension and notes it stands before the MHAE (the node put it there)', () => {
    const bytes = toBytesRegistrationMessage(request([requestExtension(0xc0, 47), MHAE]));
    const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const placed = placedUdpTunnelRequest(decoded.value);
    expect(placed?.extension).toMatchObject({ kind: 'udp-tunnel-request', force: true, registrationThroughFa: true, encapsulation: 47 });
    expect(placed?.beforeMobileHomeAuth).toBe(true);
    expect(addedByForeignAgent(decoded.value)).toBe(false);
  });

  it('notes one placed after the MHAE (a foreign agent added it, RFC 3519 FA considerations)', () => {
    const bytes = toBytesRegistrationMessage(request([MHAE, requestExtension(0)]));
    const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(placedUdpTunnelRequest(decoded.value)?.beforeMobileHomeAuth).toBe(false);
    expect(addedByForeignAgent(decoded.value)).toBe(true);
    expect(addedByForeignAgent(request([MHAE]))).toBe(false);
  });

  it('ignores an extension of an unknown Sub-Type (skippable, so as if absent)', () => {
    expect(placedUdpTunnelRequest(request([requestExtension(0, 4, 1), MHAE]))).toBeUndefined();
    expect(addedByForeignAgent(request([MHAE, requestExtension(0, 4, 1)]))).toBe(false);
  });

  it('denies with 134 a UDP Tunnel Request extension whose Length is not 6 (RFC 3519 3.1; RFC 5944 3.8.2.1)', () => {
    const bad: RegistrationExtension = { kind: 'unknown', type: 144, offset: 0, skippable: true, format: 'tlv', data: Uint8Array.of(0, 0, 0, 4) };
    expect(decideUdpTunnel(input(request([bad, MHAE])))).toMatchObject({ kind: 'deny', code: ReplyCode.HaPoorlyFormedRequest, reason: 'udp-tunnel-extension-malformed' });
  });
});

describe('RFC 3519 at the home agent: NAT detection', () => {
  it('detects a NAT when the IP source differs from the care-of address', () => {
    expect(natDetected(request([MHAE]), NAT_PUBLIC, undefined)).toBe(true);
    expect(natDetected(request([MHAE]), CARE_OF, undefined)).toBe(false);
  });

  it("treats 'R' (co-located, registering through a foreign agent) as a NAT: UDP reaches the node either way", () => {
    const req = request([requestExtension(0x40), MHAE]);
    expect(natDetected(req, CARE_OF, placedUdpTunnelRequest(req))).toBe(true);
  });
});

describe('RFC 3519 at the home agent: the decision', () => {
  it('grants UDP tunnelling to the translated address and port behind a NAT, with the keepalive interval', () => {
    const d = decideUdpTunnel(input(request([requestExtension(0), MHAE])));
    expect(d).toEqual({ kind: 'grant', natDetected: true, address: NAT_PUBLIC, port: 40001, forced: false, keepaliveInterval: 110, encapsulation: 4, beforeMobileHomeAuth: true });
  });

  it('does not tunnel in UDP when no NAT is detected and F is clear (nothing in the Reply)', () => {
    expect(decideUdpTunnel(input(request([requestExtension(0), MHAE]), { ipSource: CARE_OF }))).toEqual({ kind: 'none', natDetected: false });
  });

  it('grants when F forces it without a NAT, and echoes F', () => {
    const d = decideUdpTunnel(input(request([requestExtension(0x80), MHAE]), { ipSource: CARE_OF, sourcePort: 434 }));
    expect(d).toMatchObject({ kind: 'grant', natDetected: false, forced: true, address: CARE_OF, port: 434 });
  });

  it('declines (Reply extension code 64) when the policy refuses and F is clear', () => {
    expect(decideUdpTunnel(input(request([requestExtension(0), MHAE]), { policy: 'refused' }))).toMatchObject({ kind: 'declined', natDetected: true });
  });

  it('denies with 142 when the policy refuses and F forces it', () => {
    expect(decideUdpTunnel(input(request([requestExtension(0x80), MHAE]), { policy: 'refused' }))).toMatchObject({ kind: 'deny', code: ReplyCode.HaUdpEncapsulationUnavailable });
  });

  it('denies with 142 an encapsulation inside UDP the agent does not offer', () => {
    expect(decideUdpTunnel(input(request([requestExtension(0, 55), MHAE]), { encapsulations: { minimal: true, gre: true } }))).toMatchObject({ kind: 'deny', code: 142 });
    expect(decideUdpTunnel(input(request([requestExtension(0, 99), MHAE])))).toMatchObject({ kind: 'deny', code: 142 });
    expect(decideUdpTunnel(input(request([requestExtension(0, 47), MHAE])))).toMatchObject({ kind: 'grant', encapsulation: 47 });
  });

  it("'required' denies (129) a registration without the extension and grants one with it even without a NAT", () => {
    expect(decideUdpTunnel(input(request([MHAE]), { policy: 'required' }))).toMatchObject({ kind: 'deny', code: 129 });
    expect(decideUdpTunnel(input(request([requestExtension(0), MHAE]), { policy: 'required', ipSource: CARE_OF }))).toMatchObject({ kind: 'grant' });
  });

  it('decides nothing for a deregistration', () => {
    expect(decideUdpTunnel(input(request([requestExtension(0x80), MHAE], 0), { policy: 'required' }))).toMatchObject({ kind: 'none' });
  });
});

describe('RFC 3519 at the home agent: rebinding', () => {
  it('tells a new port from a new address', () => {
    const current = { address: NAT_PUBLIC, port: 40001 };
    expect(rebindingTarget(current, { address: NAT_PUBLIC, port: 40001 })).toBe('same');
    expect(rebindingTarget(current, { address: NAT_PUBLIC, port: 40002 })).toBe('new-port');
    expect(rebindingTarget(current, { address: CARE_OF, port: 40001 })).toBe('new-address');
  });
});
