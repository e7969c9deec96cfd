import { describe, expect, it } from 'vitest';
import { decodeRegistrationRequest, toBytesRegistrationMessage } from '../../io/wire/registration.js';
import type { RegistrationExtension, RegistrationRequest } from '../../io/wire/registration-types.js';
import { ipv4 as parseIpv4 } from '../../io/wire/bytes.js';
import {
  DEFAULT_UDP_KEEPALIVE_INTERVAL,
  HA_UDP_ENCAPSULATION_UNAVAILABLE,
  decideUdpTunnel,
  natDetected,
  rebindingTarget,
  udpTunnelReplyExtension,
  udpTunnelRequestOf,
  type UdpTunnelInput,
} from '../../policies/ha-udp-tunnel.js';

const CARE_OF = parseIpv4('10.0.0.5');
const NAT_PUBLIC = parseIpv4('198.51.100.7');
const MHAE: RegistrationExtension = { kind: 'auth', type: 32, spi: 300, offset: 0, authenticator: new Uint8Array(16) };

/** A raw UDP Tunnel Request Extension (Type 144, Length 6) as RFC 3519 lays it out. */
function requestExtension(flags: number, encapsulation = 4, subType = 0): RegistrationExtension {
  return { kind: 'unknown', type: 144, offset: 0, skippable: true, format: 'tlv', data: Uint8Array.of(subType, 0, flags, encapsulation, 0, 0) };
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
    keepaliveInterval: DEFAULT_UDP_KEEPALIVE_INTERVAL,
    encapsulations: { minimal: false, gre: true },
    ...overrides,
  };
}

describe('RFC 3519 at the home agent: the UDP Tunnel Request Extension', () => {
  it('reads F, R and the encapsulation from the extension as a decoder leaves it (a skippable TLV, type 144)', () => {
    const req = request([requestExtension(0xc0, 47), MHAE]);
    const bytes = toBytesRegistrationMessage(req);
    const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(udpTunnelRequestOf(decoded.value)).toEqual({ subType: 0, force: true, registrationThroughFa: true, encapsulation: 47, beforeMobileHomeAuth: true });
  });

  it('reads the decoded form (kind udp-tunnel-request) as well, and notes one placed after the MHAE (a foreign agent added it)', () => {
    const decodedForm = { kind: 'udp-tunnel-request', type: 144, subType: 0, force: false, registrationThroughFa: false, encapsulation: 4, reserved1: 0, reserved2: 0, reserved3: 0 } as unknown as RegistrationExtension;
    expect(udpTunnelRequestOf(request([MHAE, decodedForm]))).toMatchObject({ force: false, encapsulation: 4, beforeMobileHomeAuth: false });
  });

  it('ignores an extension of an unknown Sub-Type (skippable, so as if absent)', () => {
    expect(udpTunnelRequestOf(request([requestExtension(0, 4, 1), MHAE]))).toBeUndefined();
  });
});

describe('RFC 3519 at the home agent: NAT detection', () => {
  it('detects a NAT when the IP source differs from the care-of address', () => {
    expect(natDetected(request([MHAE]), NAT_PUBLIC, undefined)).toBe(true);
    expect(natDetected(request([MHAE]), CARE_OF, undefined)).toBe(false);
  });

  it("treats 'R' (co-located, registering through a foreign agent) as a NAT: UDP reaches the node either way", () => {
    const req = request([requestExtension(0x40), MHAE]);
    expect(natDetected(req, CARE_OF, udpTunnelRequestOf(req))).toBe(true);
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
    expect(decideUdpTunnel(input(request([requestExtension(0x80), MHAE]), { policy: 'refused' }))).toMatchObject({ kind: 'deny', code: HA_UDP_ENCAPSULATION_UNAVAILABLE });
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

describe('RFC 3519 at the home agent: the UDP Tunnel Reply Extension and rebinding', () => {
  it('lays the Reply extension out byte for byte: 44, 6, Sub-Type 0, code, F, reserved, keepalive', () => {
    const reply = {
      type: 3 as const,
      code: 0,
      lifetime: 600,
      homeAddress: parseIpv4('192.0.2.10'),
      homeAgent: parseIpv4('192.0.2.1'),
      identification: { high: 1, low: 2 },
      extensions: [udpTunnelReplyExtension(0, true, 110)],
    };
    const bytes = toBytesRegistrationMessage(reply);
    expect([...bytes.subarray(20)]).toEqual([44, 6, 0, 0, 0x80, 0, 0, 110]);
    expect([...udpTunnelReplyExtension(64, false, 300).data]).toEqual([0, 64, 0, 0, 1, 44]);
  });

  it('tells a new port from a new address', () => {
    const current = { address: NAT_PUBLIC, port: 40001 };
    expect(rebindingTarget(current, { address: NAT_PUBLIC, port: 40001 })).toBe('same');
    expect(rebindingTarget(current, { address: NAT_PUBLIC, port: 40002 })).toBe('new-port');
    expect(rebindingTarget(current, { address: CARE_OF, port: 40001 })).toBe('new-address');
  });
});
