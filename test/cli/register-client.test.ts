/**
 * The message half of `mip4 register`, checked against RFC 5944 with node:crypto's HMAC-MD5
 * as the oracle: what the Request carries (3.3, 3.6.1.3, 3.7.2.2) and how a Reply is judged
 * (3.6.2.1, 3.7.3.1).
 */
import { describe, it, expect } from 'vitest';
import { createHmac } from 'node:crypto';
import { ipv4 } from '../../io/wire/bytes.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { buildRegisterRequest, judgeReply, type RegisterRequestSpec } from '../../runtime/cli/register-client.js';

const mnKey = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const faKey = Buffer.from('0f0e0d0c0b0a09080706050403020100', 'hex');
const identification = { high: 0xeec09d81, low: 0xd937029e };

const spec: RegisterRequestSpec = {
  homeAddress: ipv4('198.51.100.10'),
  homeAgent: ipv4('198.51.100.1'),
  careOfAddress: ipv4('203.0.113.7'),
  lifetime: 60,
  flags: RequestFlag.D,
  mobileHome: { spi: 4096, algorithm: 'hmac-md5', key: mnKey },
  replay: 'timestamp',
};

const hmac = (key: Buffer, bytes: Uint8Array) => createHmac('md5', key).update(bytes).digest();

/** A Reply (3.4) with an MHAE (and an FHAE when `foreign`) sealed by node:crypto. */
function reply(fields: { code: number; low?: number; mhaeKey?: Buffer; foreign?: Buffer }): Uint8Array {
  const length = 20 + 22 + (fields.foreign ? 22 : 0);
  const b = Buffer.alloc(length);
  b[0] = 3;
  b[1] = fields.code;
  b.writeUInt16BE(60, 2);
  b.writeUInt32BE(spec.homeAddress >>> 0, 4);
  b.writeUInt32BE(spec.homeAgent >>> 0, 8);
  b.writeUInt32BE(identification.high, 12);
  b.writeUInt32BE(fields.low ?? identification.low, 16);
  b[20] = 32;
  b[21] = 20;
  b.writeUInt32BE(4096, 22);
  hmac(fields.mhaeKey ?? mnKey, b.subarray(0, 26)).copy(b, 26);
  if (fields.foreign) {
    b[42] = 34;
    b[43] = 20;
    b.writeUInt32BE(600, 44);
    hmac(fields.foreign, b.subarray(0, 48)).copy(b, 48);
  }
  return b;
}

describe('buildRegisterRequest', () => {
  it('lays out the fixed part (3.3) and an MHAE whose authenticator is HMAC-MD5 over everything before it (3.5.1)', () => {
    const { bytes } = buildRegisterRequest(spec, identification);
    const b = Buffer.from(bytes);
    expect(b.length).toBe(24 + 22);
    expect([b[0], b[1], b.readUInt16BE(2)]).toEqual([1, RequestFlag.D, 60]);
    expect([b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12)]).toEqual([spec.homeAddress >>> 0, spec.homeAgent >>> 0, spec.careOfAddress >>> 0]);
    expect([b.readUInt32BE(16), b.readUInt32BE(20)]).toEqual([identification.high, identification.low]);
    expect([b[24], b[25], b.readUInt32BE(26)]).toEqual([32, 20, 4096]);
    expect(b.subarray(30)).toEqual(hmac(mnKey, b.subarray(0, 30)));
  });

  it('puts the NAI before the MHAE (3.6.1.3) and, relayed, an FHAE after it that covers it (3.5.4, 3.7.2.2)', () => {
    const relayed: RegisterRequestSpec = { ...spec, nai: 'mn1@example.org', foreignHome: { spi: 600, algorithm: 'hmac-md5', key: faKey } };
    const b = Buffer.from(buildRegisterRequest(relayed, identification).bytes);
    const naiLength = 'mn1@example.org'.length;
    expect([b[24], b[25], b.subarray(26, 26 + naiLength).toString()]).toEqual([131, naiLength, 'mn1@example.org']);
    const mhae = 26 + naiLength;
    expect(b[mhae]).toBe(32);
    expect(b.subarray(mhae + 6, mhae + 22)).toEqual(hmac(mnKey, b.subarray(0, mhae + 6)));
    const fhae = mhae + 22;
    expect([b[fhae], b.readUInt32BE(fhae + 2)]).toEqual([34, 600]);
    expect(b.subarray(fhae + 6)).toEqual(hmac(faKey, b.subarray(0, fhae + 6)));
  });

  it('adds no FHAE to a deregistration (3.5.4)', () => {
    const b = buildRegisterRequest({ ...spec, lifetime: 0, foreignHome: { spi: 600, algorithm: 'hmac-md5', key: faKey } }, identification).bytes;
    expect(b.length).toBe(24 + 22);
  });
});

describe('judgeReply', () => {
  it('accepts code 0 with a matching Identification and a valid MHAE', () => {
    const reading = judgeReply(reply({ code: 0 }), spec, identification);
    expect(reading.ok && reading.judgement).toMatchObject({ accepted: true, problems: [], codeText: 'registration accepted' });
  });

  it('names an Identification mismatch, with both low halves (3.6.2.1)', () => {
    const reading = judgeReply(reply({ code: 0, low: 0x01020304 }), spec, identification);
    expect(reading.ok && reading.judgement.accepted).toBe(false);
    expect(reading.ok && reading.judgement.problems).toEqual([expect.stringContaining("Reply's low 32 bits are 0x01020304, the Request's 0xd937029e")]);
  });

  it('names an MHAE that does not verify', () => {
    const reading = judgeReply(reply({ code: 0, mhaeKey: faKey }), spec, identification);
    expect(reading.ok && reading.judgement.problems).toEqual([expect.stringContaining('Mobile-Home authenticator (SPI 4096) is invalid')]);
  });

  it('relayed, requires exactly one valid FHAE in the Reply (3.7.3.1)', () => {
    const relayed: RegisterRequestSpec = { ...spec, foreignHome: { spi: 600, algorithm: 'hmac-md5', key: faKey } };
    expect(judgeReply(reply({ code: 0, foreign: faKey }), relayed, identification)).toMatchObject({ ok: true, judgement: { accepted: true } });
    const missing = judgeReply(reply({ code: 0 }), relayed, identification);
    expect(missing.ok && missing.judgement.problems).toEqual([expect.stringContaining('0 Foreign-Home Authentication Extensions')]);
    const wrong = judgeReply(reply({ code: 0, foreign: mnKey }), relayed, identification);
    expect(wrong.ok && wrong.judgement.problems).toEqual([expect.stringContaining('Foreign-Home authenticator (SPI 600) does not verify')]);
  });

  it('a denial is not accepted even when it checks out; its text is 3.4\'s', () => {
    const reading = judgeReply(reply({ code: 131 }), spec, identification);
    expect(reading.ok && reading.judgement).toMatchObject({ accepted: false, problems: [], codeText: 'HA: mobile node failed authentication' });
  });

  it('reports bytes that are no Reply with the offset, never throwing', () => {
    expect(judgeReply(Uint8Array.of(3, 0, 0), spec, identification)).toMatchObject({ ok: false, message: expect.stringMatching(/not a Registration Reply: .*at byte \d+/) });
    expect(judgeReply(Uint8Array.of(), spec, identification).ok).toBe(false);
  });
});
