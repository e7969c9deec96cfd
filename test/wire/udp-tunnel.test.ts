/**
 * RFC 3519 codecs: the UDP Tunnel Request (144, 3.1) and Reply (44, 3.2) extensions in the
 * registration extension list, the tunnel data message header (type 4, 3.3), reply code 142.
 * Byte strings follow the RFC's figures field by field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  decodeRegistrationReply,
  decodeRegistrationRequest,
  extensionOffsets,
  toBytesRegistrationReply,
  toBytesRegistrationRequest,
  unrecognizedNonSkippableExtension,
} from '../../io/wire/registration.js';
import { registrationFromJson, registrationToJson } from '../../io/wire/registration-json.js';
import type { RegistrationExtension, RegistrationReply, RegistrationRequest } from '../../io/wire/registration-types.js';
import { isHomeAgentCode, ReplyCode, replyCodeText } from '../../io/wire/reply-codes.js';
import {
  decodeTunnelDataMessage,
  malformedUdpTunnelExtension,
  TUNNEL_DATA_HEADER_LENGTH,
  TUNNEL_DATA_MESSAGE_TYPE,
  tunnelDataNextHeader,
  TunnelNextHeader,
  UDP_TUNNEL_REPLY_TYPE,
  UDP_TUNNEL_REQUEST_TYPE,
  udpTunnelReply,
  udpTunnelReplyOf,
  udpTunnelRequest,
  udpTunnelRequestOf,
  UdpTunnelReplyCode,
  writeTunnelDataHeader,
} from '../../io/wire/udp-tunnel.js';

/** A Request's fixed part (3.3): flags D, lifetime 1800, home 198.51.100.10, HA .1, CoA 203.0.113.77. */
const REQUEST_FIXED = '01 20 0708 c633640a c6336401 cb00714d e93c7f0000000001';
/** A Reply's fixed part (3.4): code 0, lifetime 1800. */
const REPLY_FIXED = '03 00 0708 c633640a c6336401 e93c7f0000000001';
const MHAE = `20 14 00001000 ${'00'.repeat(16)}`;

function bytes(text: string): Uint8Array {
  return fromHex(text.replace(/\s+/g, ''));
}

function request(extensions: RegistrationExtension[]): RegistrationRequest {
  return {
    type: 1,
    flags: 0x20,
    lifetime: 1800,
    homeAddress: ipv4('198.51.100.10'),
    homeAgent: ipv4('198.51.100.1'),
    careOfAddress: ipv4('203.0.113.77'),
    identification: { high: 0xe93c7f00, low: 1 },
    extensions,
  };
}

function reply(extensions: RegistrationExtension[]): RegistrationReply {
  return {
    type: 3,
    code: 0,
    lifetime: 1800,
    homeAddress: ipv4('198.51.100.10'),
    homeAgent: ipv4('198.51.100.1'),
    identification: { high: 0xe93c7f00, low: 1 },
    extensions,
  };
}

describe('UDP Tunnel Request extension (RFC 3519 3.1)', () => {
  it('decodes Type 144, Length 6, Sub-Type, Reserved 1, F R Reserved 2, Encapsulation, Reserved 3 byte for byte', () => {
    // F set, R clear, Encapsulation 4 (IP in IP), before the MHAE as the RFC places it.
    const message = bytes(`${REQUEST_FIXED} 90 06 00 00 80 04 0000 ${MHAE}`);
    const decoded = decodeRegistrationRequest(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[0]).toEqual({
      kind: 'udp-tunnel-request',
      type: 144,
      offset: 24,
      subType: 0,
      reserved1: 0,
      force: true,
      registrationThroughFa: false,
      reserved2: 0,
      encapsulation: 4,
      reserved3: 0,
    });
    expect(decoded.value.extensions[1]).toMatchObject({ kind: 'auth', type: 32, offset: 32 });
    expect(toHex(toBytesRegistrationRequest(decoded.value))).toBe(toHex(message));
  });

  it('reads R (0x40) apart from F (0x80), and keeps nonzero reserved fields so the message round-trips', () => {
    const message = bytes(`${REQUEST_FIXED} 90 06 07 a5 7f 37 beef`);
    const decoded = decodeRegistrationRequest(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[0]).toMatchObject({
      subType: 7,
      reserved1: 0xa5,
      force: false,
      registrationThroughFa: true,
      reserved2: 0x3f,
      encapsulation: TunnelNextHeader.Minimal,
      reserved3: 0xbeef,
    });
    expect(toHex(toBytesRegistrationRequest(decoded.value))).toBe(toHex(message));
  });

  it('encodes from the builder with reserved fields zero, F and R as asked, Encapsulation GRE', () => {
    const built = request([udpTunnelRequest({ force: true, registrationThroughFa: true, encapsulation: TunnelNextHeader.Gre })]);
    expect(toHex(toBytesRegistrationRequest(built).subarray(24))).toBe('90060000c02f0000');
    expect(extensionOffsets(built)).toEqual([24]);
    expect(toHex(toBytesRegistrationRequest(request([udpTunnelRequest({})])).subarray(24))).toBe('9006000000040000');
  });

  it('is skippable (144 >= 128): a decoded one is never an unrecognised non-skippable extension', () => {
    const decoded = decodeRegistrationRequest(bytes(`${REQUEST_FIXED} 90 06 00 00 00 04 0000`));
    expect(decoded.ok && unrecognizedNonSkippableExtension(decoded.value.extensions)).toBe(undefined);
    expect(UDP_TUNNEL_REQUEST_TYPE).toBe(144);
  });

  it('a Length other than 6 is kept as an unknown TLV (round-trips) and named by malformedUdpTunnelExtension', () => {
    const message = bytes(`${REQUEST_FIXED} ${MHAE} 90 04 00 00 80 04`);
    const decoded = decodeRegistrationRequest(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[1]).toMatchObject({ kind: 'unknown', type: 144, format: 'tlv', skippable: true, offset: 46 });
    expect(toHex(toBytesRegistrationRequest(decoded.value))).toBe(toHex(message));
    expect(udpTunnelRequestOf(decoded.value.extensions)).toBe(undefined);
    const problem = malformedUdpTunnelExtension(decoded.value.extensions);
    expect(problem).toEqual({
      layer: 'udp-tunnel',
      reason: 'bad-length',
      offset: 47,
      message: 'UDP Tunnel Request extension (type 144) at offset 46 has Length 4, not 6 (RFC 3519 3.1)',
    });
  });

  it('a well-formed extension list has no malformed UDP tunnel extension', () => {
    const decoded = decodeRegistrationRequest(bytes(`${REQUEST_FIXED} 90 06 00 00 00 04 0000 ${MHAE}`));
    expect(decoded.ok && malformedUdpTunnelExtension(decoded.value.extensions)).toBe(undefined);
    expect(decoded.ok && udpTunnelRequestOf(decoded.value.extensions)?.encapsulation).toBe(4);
  });

  it('a truncated extension (Length 6 but fewer bytes left) is a typed truncation error, not a throw', () => {
    const decoded = decodeRegistrationRequest(bytes(`${REQUEST_FIXED} 90 06 00 00 80`));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error).toMatchObject({ reason: 'truncated', offset: 24 });
    const lone = decodeRegistrationRequest(bytes(`${REQUEST_FIXED} 90`));
    expect(!lone.ok && lone.error.reason).toBe('truncated');
  });

  it('the encoder refuses fields that do not fit their bits', () => {
    expect(() => toBytesRegistrationRequest(request([{ ...udpTunnelRequest({}), reserved2: 0x40 }]))).toThrow(/Reserved 2 64/);
    expect(() => toBytesRegistrationRequest(request([{ ...udpTunnelRequest({}), encapsulation: 256 }]))).toThrow(/Encapsulation 256/);
  });
});

describe('UDP Tunnel Reply extension (RFC 3519 3.2)', () => {
  it('decodes Type 44, Length 6, Sub-Type, Reply Code, F Reserved, Keepalive Interval byte for byte', () => {
    // Will do tunnelling (0), forced, keepalive every 110 s (RFC 3519's default).
    const message = bytes(`${REPLY_FIXED} 2c 06 00 00 8000 006e ${MHAE}`);
    const decoded = decodeRegistrationReply(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[0]).toEqual({
      kind: 'udp-tunnel-reply',
      type: 44,
      offset: 20,
      subType: 0,
      code: 0,
      forced: true,
      reserved: 0,
      keepaliveInterval: 110,
    });
    expect(udpTunnelReplyOf(decoded.value.extensions)?.keepaliveInterval).toBe(110);
    expect(toHex(toBytesRegistrationReply(decoded.value))).toBe(toHex(message));
  });

  it('is recognised although non-skippable (44 < 128): the Reply is not discarded for it', () => {
    const decoded = decodeRegistrationReply(bytes(`${REPLY_FIXED} 2c 06 00 40 7fff 0000 ${MHAE}`));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(unrecognizedNonSkippableExtension(decoded.value.extensions)).toBe(undefined);
    expect(decoded.value.extensions[0]).toMatchObject({ code: UdpTunnelReplyCode.Declined, forced: false, reserved: 0x7fff, keepaliveInterval: 0 });
    // The MHAE after it is still read (a 'rest' reading would have swallowed it).
    expect(decoded.value.extensions[1]).toMatchObject({ kind: 'auth', offset: 28 });
  });

  it('encodes from the builder: code, F in the top bit, keepalive interval', () => {
    const built = reply([udpTunnelReply({ code: UdpTunnelReplyCode.WillTunnel, forced: true, keepaliveInterval: 110 })]);
    expect(toHex(toBytesRegistrationReply(built).subarray(20))).toBe('2c0600008000006e');
    const declined = reply([udpTunnelReply({ code: UdpTunnelReplyCode.Declined, keepaliveInterval: 0 })]);
    expect(toHex(toBytesRegistrationReply(declined).subarray(20))).toBe('2c06004000000000');
    expect(UDP_TUNNEL_REPLY_TYPE).toBe(44);
  });

  it('a Length other than 6 is read by its Length (a TLV), so what follows is still parsed, and named as malformed', () => {
    const message = bytes(`${REPLY_FIXED} 2c 02 00 00 ${MHAE}`);
    const decoded = decodeRegistrationReply(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[0]).toMatchObject({ kind: 'unknown', type: 44, format: 'tlv', skippable: false });
    expect(decoded.value.extensions[1]).toMatchObject({ kind: 'auth', offset: 24 });
    expect(toHex(toBytesRegistrationReply(decoded.value))).toBe(toHex(message));
    expect(malformedUdpTunnelExtension(decoded.value.extensions)?.message).toBe(
      'UDP Tunnel Reply extension (type 44) at offset 20 has Length 2, not 6 (RFC 3519 3.2)',
    );
  });

  it('the encoder refuses a keepalive interval beyond 16 bits', () => {
    expect(() => toBytesRegistrationReply(reply([udpTunnelReply({ code: 0, keepaliveInterval: 0x10000 })]))).toThrow(/Keepalive Interval/);
  });
});

describe('registration code 142 (RFC 3519)', () => {
  it('is a home agent denial named "UDP encapsulation unavailable"', () => {
    expect(ReplyCode.HaUdpEncapsulationUnavailable).toBe(142);
    expect(isHomeAgentCode(142)).toBe(true);
    expect(replyCodeText(142)).toBe('HA: UDP encapsulation unavailable');
  });
});

describe('tunnel data message header (RFC 3519 3.3)', () => {
  it('writeTunnelDataHeader writes Type 4, Next Header, Reserved 0 at the offset and nothing else', () => {
    const buffer = new Uint8Array(10).fill(0xee);
    writeTunnelDataHeader(buffer, 3, TunnelNextHeader.IpInIp);
    expect(toHex(buffer)).toBe('eeeeee04040000eeeeee');
    writeTunnelDataHeader(buffer, 0, TunnelNextHeader.Gre);
    expect(toHex(buffer.subarray(0, 4))).toBe('042f0000');
    expect(TUNNEL_DATA_HEADER_LENGTH).toBe(4);
    expect(TUNNEL_DATA_MESSAGE_TYPE).toBe(4);
  });

  it('tunnelDataNextHeader reads Next Header, or -1 for another type or fewer than 4 bytes', () => {
    const message = bytes('00 04 37 0000 45');
    expect(tunnelDataNextHeader(message, 1, message.length)).toBe(55);
    expect(tunnelDataNextHeader(message, 0, message.length)).toBe(-1);
    expect(tunnelDataNextHeader(message, 1, 4)).toBe(-1);
    expect(tunnelDataNextHeader(message, 3, 6)).toBe(-1);
    // A range outside the buffer is "not one", never an exception.
    expect(tunnelDataNextHeader(message, 2, 99)).toBe(-1);
    expect(tunnelDataNextHeader(bytes('01 04 0000'), 0, 4)).toBe(-1);
  });

  it('decodeTunnelDataMessage returns the header fields and a view of the tunnelled datagram', () => {
    const message = bytes('04 04 0001 4500 0014');
    const decoded = decodeTunnelDataMessage(message);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value).toMatchObject({ type: 4, nextHeader: 4, reserved: 1 });
    expect(toHex(decoded.value.payload)).toBe('45000014');
    expect(decoded.value.payload.buffer).toBe(message.buffer);
    const short = decodeTunnelDataMessage(bytes('04 04 00'));
    expect(!short.ok && short.error.reason).toBe('truncated');
    const other = decodeTunnelDataMessage(bytes('01 04 0000'));
    expect(!other.ok && other.error.reason).toBe('bad-type');
  });
});

// ---------------------------------------------------------------------------------------
// Properties

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const requestExtension = fc
  .record({
    subType: u8,
    reserved1: u8,
    force: fc.boolean(),
    registrationThroughFa: fc.boolean(),
    reserved2: fc.integer({ min: 0, max: 0x3f }),
    encapsulation: u8,
    reserved3: u16,
  })
  .map((fields): RegistrationExtension => ({ kind: 'udp-tunnel-request', type: 144, offset: 0, ...fields }));
const replyExtension = fc
  .record({ subType: u8, code: u8, forced: fc.boolean(), reserved: fc.integer({ min: 0, max: 0x7fff }), keepaliveInterval: u16 })
  .map((fields): RegistrationExtension => ({ kind: 'udp-tunnel-reply', type: 44, offset: 0, ...fields }));
const nai = fc.constantFrom<RegistrationExtension>({ kind: 'nai', type: 131, offset: 0, nai: 'mn@example.org' });
const list = fc.array(fc.oneof(requestExtension, replyExtension, nai), { maxLength: 5 });

function placed(extensions: readonly RegistrationExtension[], start: number): RegistrationExtension[] {
  let position = start;
  return extensions.map((extension) => {
    const at = position;
    position += extension.kind === 'nai' ? 2 + 14 : 8;
    return { ...extension, offset: at };
  });
}

describe('RFC 3519 codec properties', () => {
  it('any Request or Reply carrying the extensions encodes, decodes to the same value and re-encodes byte for byte', () => {
    fc.assert(
      fc.property(list, fc.boolean(), (extensions, asRequest) => {
        const message = asRequest ? request(extensions) : reply(extensions);
        const encoded = asRequest ? toBytesRegistrationRequest(message as RegistrationRequest) : toBytesRegistrationReply(message as RegistrationReply);
        const decoded = asRequest ? decodeRegistrationRequest(encoded) : decodeRegistrationReply(encoded);
        if (!decoded.ok) throw new Error(decoded.error.message);
        expect(decoded.value.extensions).toEqual(placed(extensions, asRequest ? 24 : 20));
        const again = asRequest
          ? toBytesRegistrationRequest(decoded.value as RegistrationRequest)
          : toBytesRegistrationReply(decoded.value as RegistrationReply);
        expect(toHex(again)).toBe(toHex(encoded));
        expect(registrationFromJson(registrationToJson(decoded.value))).toEqual(decoded.value);
      }),
      { numRuns: 500 },
    );
  });

  it('decoding arbitrary bytes after a fixed part never throws: a value or a typed error', () => {
    const tails = fc.array(fc.oneof(fc.constantFrom(144, 44, 6), u8), { maxLength: 40 });
    fc.assert(
      fc.property(tails, fc.boolean(), (tail, asRequest) => {
        const message = Uint8Array.of(...bytes(asRequest ? REQUEST_FIXED : REPLY_FIXED), ...tail);
        const decoded = asRequest ? decodeRegistrationRequest(message) : decodeRegistrationReply(message);
        if (decoded.ok) {
          expect(decoded.next).toBe(message.length);
          // Whatever decodes re-encodes to the same bytes.
          const again = asRequest
            ? toBytesRegistrationRequest(decoded.value as RegistrationRequest)
            : toBytesRegistrationReply(decoded.value as RegistrationReply);
          expect(toHex(again)).toBe(toHex(message));
          malformedUdpTunnelExtension(decoded.value.extensions);
        } else {
          expect(['truncated', 'bad-length']).toContain(decoded.error.reason);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the tunnel data readers never throw on arbitrary bytes and ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.integer({ min: -2, max: 14 }), fc.integer({ min: -2, max: 14 }), (data, offset, end) => {
        const next = tunnelDataNextHeader(data, offset, end);
        expect(next >= -1 && next <= 255).toBe(true);
        const decoded = decodeTunnelDataMessage(data, offset, end);
        if (decoded.ok) expect(decoded.value.nextHeader).toBe(next);
      }),
      { numRuns: 3000 },
    );
  });

  it('writeTunnelDataHeader then tunnelDataNextHeader gives back the Next Header', () => {
    fc.assert(
      fc.property(u8, fc.integer({ min: 0, max: 8 }), (nextHeader, offset) => {
        const buffer = new Uint8Array(offset + TUNNEL_DATA_HEADER_LENGTH);
        writeTunnelDataHeader(buffer, offset, nextHeader);
        expect(tunnelDataNextHeader(buffer, offset, buffer.length)).toBe(nextHeader);
      }),
    );
  });
});
