/**
 * The Encapsulating Delivery Style Extension (RFC 3024 3.3: Type 130, Length 0) and the
 * foreign agent's reverse-tunnelling reply codes (RFC 3024 3.4).
 */
import { describe, expect, it } from 'vitest';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  decodeRegistrationRequest,
  ENCAPSULATING_DELIVERY_STYLE_TYPE,
  extensionOffsets,
  toBytesRegistrationRequest,
} from '../../io/wire/registration.js';
import { registrationFromJson, registrationToJson } from '../../io/wire/registration-json.js';
import type { RegistrationRequest } from '../../io/wire/registration-types.js';
import { isForeignAgentCode, ReplyCode, replyCodeText } from '../../io/wire/reply-codes.js';

const FIXED = '01 02 0708 c633640a c6336401 cb00714d e93c7f0000000001';
const MHAE = `20 14 00001000 ${'00'.repeat(16)}`;

function bytes(text: string): Uint8Array {
  return fromHex(text.replace(/\s+/g, ''));
}

describe('Encapsulating Delivery Style Extension (RFC 3024 3.3)', () => {
  it('decodes Type 130 Length 0 after the MHAE, with its offset from the message start', () => {
    const message = bytes(`${FIXED} ${MHAE} 82 00`);
    const decoded = decodeRegistrationRequest(message, 0, message.length);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[1]).toEqual({ kind: 'encapsulating-delivery-style', type: 130, offset: 46 });
    expect(ENCAPSULATING_DELIVERY_STYLE_TYPE).toBe(130);
  });

  it('encodes from { kind } alone (Type 130, Length 0) and round-trips at a non-zero offset', () => {
    const request: RegistrationRequest = {
      type: 1,
      flags: 0x02,
      lifetime: 1800,
      homeAddress: ipv4('198.51.100.10'),
      homeAgent: ipv4('198.51.100.1'),
      careOfAddress: ipv4('203.0.113.77'),
      identification: { high: 0xe93c7f00, low: 1 },
      extensions: [{ kind: 'encapsulating-delivery-style', offset: 0 }],
    };
    const encoded = toBytesRegistrationRequest(request);
    expect(toHex(encoded.subarray(24))).toBe('8200');
    expect(extensionOffsets(request)).toEqual([24]);
    const shifted = new Uint8Array(encoded.length + 5);
    shifted.set(encoded, 5);
    const decoded = decodeRegistrationRequest(shifted, 5, shifted.length);
    expect(decoded.ok && decoded.value.extensions).toEqual([{ kind: 'encapsulating-delivery-style', type: 130, offset: 24 }]);
  });

  it('keeps a type 130 with a nonzero Length as an unknown skippable extension, so the message still round-trips', () => {
    const message = bytes(`${FIXED} 82 01 ff ${MHAE}`);
    const decoded = decodeRegistrationRequest(message, 0, message.length);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.extensions[0]).toMatchObject({ kind: 'unknown', type: 130, skippable: true, format: 'tlv' });
    expect(toHex(toBytesRegistrationRequest(decoded.value))).toBe(toHex(message));
  });

  it('is named in the JSON view (mip4 decode) and comes back from it', () => {
    const message = bytes(`${FIXED} ${MHAE} 82 00`);
    const decoded = decodeRegistrationRequest(message, 0, message.length);
    if (!decoded.ok) throw new Error('decode failed');
    const json = registrationToJson(decoded.value, message);
    expect(json.extensions[1]).toEqual({ type: 130, name: 'Encapsulating Delivery Style (RFC 3024)', offset: 46, length: 0, delivery_style: 'encapsulating' });
    expect(toHex(toBytesRegistrationRequest(registrationFromJson(json) as RegistrationRequest))).toBe(toHex(message));
  });
});

describe('foreign agent reply codes of RFC 3024 3.4', () => {
  it('names 74, 75, 76 and 79 as foreign-agent denials with their RFC 3024 meanings', () => {
    expect([ReplyCode.FaReverseTunnelUnavailable, ReplyCode.FaReverseTunnelMandatory, ReplyCode.FaMobileNodeTooDistant, ReplyCode.FaDeliveryStyleNotSupported]).toEqual([74, 75, 76, 79]);
    for (const code of [74, 75, 76, 79]) expect(isForeignAgentCode(code)).toBe(true);
    expect(replyCodeText(74)).toBe('FA: requested reverse tunnel unavailable');
    expect(replyCodeText(75)).toBe("FA: reverse tunnel is mandatory and 'T' bit not set");
    expect(replyCodeText(76)).toBe('FA: mobile node too distant');
    expect(replyCodeText(79)).toBe('FA: delivery style not supported');
  });
});
