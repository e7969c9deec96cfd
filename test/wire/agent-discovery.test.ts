import { VECTORS_PATH } from '../support/vectors.js';
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fromHex, internetChecksum, ipv4, toHex, writeU16 } from '../../io/wire/bytes.js';
import { encodeToBytes } from '../../io/wire/codec.js';
import {
  ADVERTISEMENT_FLAG_NAMES,
  AdvertisementFlag,
  type AdvertisementFlagName,
  type AgentAdvertisement,
  agentAdvertisementCodec,
  agentAdvertisementLength,
  agentAdvertisementProblems,
  agentDiscoveryCodec,
  agentSolicitationCodec,
  classifyAdvertisementSequence,
  decodeAgentAdvertisement,
  decodeAgentDiscovery,
  decodeAgentSolicitation,
  encodeAgentAdvertisement,
  hasAdvertisementFlag,
  hasNonSkippableUnknownExtension,
  isAgentAdvertisement,
  isAgentRebootSequence,
  makeAgentAdvertisement,
  makeAgentSolicitation,
  mobilityAgentExtension,
  nextAdvertisementSequence,
  PREFERENCE_NEVER_DEFAULT,
  prefixLengthsExtension,
  type AdvertisementExtensionFields,
} from '../../io/wire/agent-discovery.js';
import { agentDiscoveryFromJson, agentDiscoveryToJson } from '../../io/wire/agent-discovery-json.js';

// Fixtures written by hand from the RFC 1256 / RFC 5944 2.1-2.2 layouts. Checksums were
// computed independently of mip4 (RFC 1071 sum in a separate script).

/**
 * Foreign agent, code 16, lifetime 3600, 3 routers (192.0.2.1 pref 0, 192.0.2.2 pref 10,
 * 192.0.2.3 pref 0x80000000), Mobility Agent Advertisement (seq 258, reg. lifetime 600,
 * R F M G T, care-of 192.0.2.1 and 203.0.113.5), Prefix-Lengths [24, 24, 16], one pad: 54 bytes.
 */
const FULL =
  '0910363f' + '03020e10' +
  'c0000201' + '00000000' + 'c0000202' + '0000000a' + 'c0000203' + '80000000' +
  '100e' + '0102' + '0258' + '9d00' + 'c0000201' + 'cb007105' +
  '1303' + '181810' +
  '00';
/** The interop vector's home-agent advertisement (27 bytes, odd) plus One-byte Padding: 28. */
const ODD_PADDED = '090069b901020708c63364010000000010060000ffff2000130118' + '00';
/** Plain RFC 1256 Router Advertisement, no extensions. */
const PLAIN_RA = '0900c4c001020708c633640100000000';
/** Foreign agent with Num Addrs 0 (2.1): MAA seq 5, reg. lifetime 600, F, care-of 198.51.100.1. */
const NO_ROUTERS_FA = '0910a349' + '00020708' + '100a' + '0005' + '0258' + '1000' + 'c6336401';
/** Addr Entry Size 3: a third word (deadbeef) per router entry. */
const ENTRY_SIZE_3 = '0910da70' + '01030708' + 'c6336401' + '00000005' + 'deadbeef' + '100a000502581000c6336401';
/** Home agent; a skippable unknown extension (type 200, 3 bytes) between MAA and Prefix-Lengths. */
const SKIPPABLE_UNKNOWN = '090054cf01020708c63364010000000010060000ffff2000' + 'c803aabbcc' + '130118';
/** Home agent; then an unrecognised non-skippable extension type 5. */
const NON_SKIPPABLE_UNKNOWN = '0900e4fc01020708c63364010000000010060000ffff2000' + '0502aabb';
/** Home agent with the 'r' bit and all 5 reserved bits set. */
const RESERVED_BITS = '0900929b01020708c63364010000000010060000ffff221f';
const SOLICITATION = '0a00f5ff00000000';
/** Code 5, Reserved 0x01020304, one trailing byte. */
const SOLICITATION_ODD = '0a05f2f301020304ff';

/** Replaces bytes at `at` and recomputes the ICMP checksum, for variants of a fixture. */
function variant(hex: string, at: number, replacement: string): Uint8Array {
  const bytes = fromHex(hex);
  bytes.set(fromHex(replacement), at);
  writeU16(bytes, 2, 0);
  writeU16(bytes, 2, internetChecksum(bytes, 0, bytes.length));
  return bytes;
}

function decodeAdv(bytes: Uint8Array | string): AgentAdvertisement {
  const r = decodeAgentAdvertisement(typeof bytes === 'string' ? fromHex(bytes) : bytes);
  if (!r.ok) throw new Error(`decode failed: ${r.error.message}`);
  return r.value;
}

function reason(r: { ok: boolean; error?: { reason: string; offset: number } }): string {
  return r.ok ? 'ok' : `${r.error!.reason}@${r.error!.offset}`;
}

describe('Agent Advertisement: decoding the fixtures', () => {
  it('decodes several routers, care-of addresses, prefix lengths and padding', () => {
    const bytes = fromHex(FULL);
    const r = decodeAgentAdvertisement(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.next).toBe(54);
    const adv = r.value;
    expect(adv).toMatchObject({
      icmpType: 9,
      code: 16,
      checksum: 0x363f,
      checksumValid: true,
      numAddrs: 3,
      addrEntrySize: 2,
      lifetime: 3600,
    });
    expect(adv.routers).toEqual([
      { address: ipv4('192.0.2.1'), preference: 0 },
      { address: ipv4('192.0.2.2'), preference: 10 },
      { address: ipv4('192.0.2.3'), preference: PREFERENCE_NEVER_DEFAULT },
    ]);
    expect(adv.extensions).toEqual([
      {
        kind: 'mobility-agent-advertisement',
        type: 16,
        offset: 32,
        sequence: 258,
        registrationLifetime: 600,
        flags: 0x9d00,
        careOfAddresses: [ipv4('192.0.2.1'), ipv4('203.0.113.5')],
      },
      { kind: 'prefix-lengths', type: 19, offset: 48, prefixLengths: [24, 24, 16] },
      { kind: 'pad', type: 0, offset: 53 },
    ]);
    const flags = mobilityAgentExtension(adv)!.flags;
    expect(ADVERTISEMENT_FLAG_NAMES.filter((name) => hasAdvertisementFlag(flags, name))).toEqual(['R', 'F', 'M', 'G', 'T']);
    expect(isAgentAdvertisement(adv)).toBe(true);
    expect(prefixLengthsExtension(adv)?.prefixLengths).toEqual([24, 24, 16]);
    expect(agentAdvertisementProblems(adv)).toEqual([]);
  });

  it('reports extension offsets from the start of the ICMP message, not the buffer', () => {
    const message = fromHex(FULL);
    const buffer = new Uint8Array(message.length + 11);
    buffer.set(message, 7);
    const r = decodeAgentAdvertisement(buffer, 7, 7 + message.length);
    expect(r.ok && r.value.extensions.map((e) => e.offset)).toEqual([32, 48, 53]);
    expect(r.ok && r.next).toBe(7 + message.length);
    expect(r.ok && r.value.checksumValid).toBe(true);
  });

  it('decodes an odd-length advertisement made even by One-byte Padding', () => {
    const adv = decodeAdv(ODD_PADDED);
    expect(adv.checksumValid).toBe(true);
    expect(adv.extensions.map((e) => [e.kind, e.offset])).toEqual([
      ['mobility-agent-advertisement', 16],
      ['prefix-lengths', 24],
      ['pad', 27],
    ]);
    expect(agentAdvertisementProblems(adv)).toEqual([]);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(ODD_PADDED);
  });

  it('decodes a Router Advertisement without a Mobility Agent Advertisement Extension', () => {
    const adv = decodeAdv(PLAIN_RA);
    expect(adv.extensions).toEqual([]);
    expect(adv.routers).toEqual([{ address: ipv4('198.51.100.1'), preference: 0 }]);
    expect(isAgentAdvertisement(adv)).toBe(false);
    expect(agentAdvertisementProblems(adv)).toEqual([
      '2.1: there is no Mobility Agent Advertisement Extension, so this is not an Agent Advertisement.',
    ]);
    expect(agentDiscoveryToJson(adv).kind).toBe('router_advertisement');
  });

  it('[R2.1-6] accepts Num Addrs 0 in an Agent Advertisement', () => {
    const adv = decodeAdv(NO_ROUTERS_FA);
    expect(adv.numAddrs).toBe(0);
    expect(adv.routers).toEqual([]);
    expect(mobilityAgentExtension(adv)).toEqual({
      kind: 'mobility-agent-advertisement',
      type: 16,
      offset: 8,
      sequence: 5,
      registrationLifetime: 600,
      flags: AdvertisementFlag.F,
      careOfAddresses: [ipv4('198.51.100.1')],
    });
    expect(agentAdvertisementProblems(adv)).toEqual([]);
  });

  it('keeps the extra words of an Addr Entry Size above 2 and round-trips them', () => {
    const bytes = fromHex(ENTRY_SIZE_3);
    const adv = decodeAdv(bytes);
    expect(adv.addrEntrySize).toBe(3);
    expect(adv.routers[0]!.address).toBe(ipv4('198.51.100.1'));
    expect(adv.routers[0]!.preference).toBe(5);
    expect(toHex(adv.routers[0]!.extra!)).toBe('deadbeef');
    expect(adv.routers[0]!.extra!.buffer).toBe(bytes.buffer);
    expect(adv.extensions[0]!.offset).toBe(20);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(ENTRY_SIZE_3);
    expect(agentDiscoveryToJson(adv).routers).toEqual([{ address: '198.51.100.1', preference: 5, extra: 'deadbeef' }]);
  });

  it('[R1.8-2] skips an unrecognised type 128-255 extension by its Length and still processes the rest', () => {
    const bytes = fromHex(SKIPPABLE_UNKNOWN);
    const adv = decodeAdv(bytes);
    expect(adv.extensions.map((e) => e.kind)).toEqual(['mobility-agent-advertisement', 'unknown', 'prefix-lengths']);
    const unknown = adv.extensions[1]!;
    expect(unknown.kind === 'unknown' && [unknown.type, unknown.skippable, unknown.format, toHex(unknown.data), unknown.offset]).toEqual([
      200,
      true,
      'tlv',
      'aabbcc',
      24,
    ]);
    expect(prefixLengthsExtension(adv)).toEqual({ kind: 'prefix-lengths', type: 19, offset: 29, prefixLengths: [24] });
    expect(hasNonSkippableUnknownExtension(adv)).toBe(false);
    expect(agentAdvertisementProblems(adv)).toEqual([]);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(SKIPPABLE_UNKNOWN);
  });

  it('keeps an unrecognised type 0-127 extension, with the rest of the message, and flags it for discard (1.8)', () => {
    const adv = decodeAdv(NON_SKIPPABLE_UNKNOWN);
    const last = adv.extensions[adv.extensions.length - 1]!;
    expect(last).toMatchObject({ kind: 'unknown', type: 5, skippable: false, format: 'rest', offset: 24 });
    expect(last.kind === 'unknown' && toHex(last.data)).toBe('02aabb');
    expect(hasNonSkippableUnknownExtension(adv)).toBe(true);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(NON_SKIPPABLE_UNKNOWN);
  });

  it('[R2.4-18] keeps reserved bits instead of rejecting the advertisement', () => {
    const adv = decodeAdv(RESERVED_BITS);
    const agent = mobilityAgentExtension(adv)!;
    expect(agent.flags).toBe(0x221f);
    expect(hasAdvertisementFlag(agent.flags, 'H')).toBe(true);
    expect(hasAdvertisementFlag(agent.flags, 'r')).toBe(true);
    expect(agentAdvertisementProblems(adv)).toEqual([]);
    const json = agentDiscoveryToJson(adv);
    expect(json.extensions[0]).toMatchObject({ reserved_bits: 0x1f, flags: 0x221f });
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(RESERVED_BITS);
  });

  it('keeps an unknown Code', () => {
    const bytes = variant(ODD_PADDED, 1, '07');
    const adv = decodeAdv(bytes);
    expect(adv.code).toBe(7);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(toHex(bytes));
  });
});

describe('Agent Advertisement: each flag of 2.1.1', () => {
  // The figure of 2.1.1 puts R at the most significant bit of the 16 bits after Registration
  // Lifetime, then B H F M G r T U X I, then 5 reserved bits. The hex is written out here
  // rather than derived from AdvertisementFlag, so a wrong constant fails.
  const flagHex: Record<AdvertisementFlagName, string> = {
    R: '8000',
    B: '4000',
    H: '2000',
    F: '1000',
    M: '0800',
    G: '0400',
    r: '0200',
    T: '0100',
    U: '0080',
    X: '0040',
    I: '0020',
  };

  for (const name of ADVERTISEMENT_FLAG_NAMES) {
    it(`decodes and encodes '${name}' alone at bits ${flagHex[name]}`, () => {
      // Byte 22 of the vector is where the flags field starts.
      const bytes = variant(ODD_PADDED, 22, flagHex[name]);
      const adv = decodeAdv(bytes);
      const flags = mobilityAgentExtension(adv)!.flags;
      expect(flags).toBe(AdvertisementFlag[name]);
      expect(ADVERTISEMENT_FLAG_NAMES.filter((other) => hasAdvertisementFlag(flags, other))).toEqual([name]);
      const bits = (agentDiscoveryToJson(adv).extensions[0] as { flag_bits: Record<string, boolean> }).flag_bits;
      expect(Object.entries(bits).filter(([, set]) => set).map(([key]) => key)).toEqual([name]);
      expect(toHex(encodeToBytes(agentAdvertisementCodec, adv))).toBe(toHex(bytes));
    });
  }

  it('has the H bit at 0x2000, as in the interop vector (flags 8192)', () => {
    expect(AdvertisementFlag.H).toBe(8192);
    expect(Object.keys(AdvertisementFlag)).toEqual(['R', 'B', 'H', 'F', 'M', 'G', 'r', 'T', 'U', 'X', 'I']);
  });
});

describe('Agent Advertisement: malformed messages', () => {
  it('fails with truncated at every cut of the fixed part, routers and extensions, at a non-zero offset', () => {
    // Extension boundaries of FULL: routers end at 32, MAA at 48, Prefix-Lengths at 53, pad at 54.
    const expected = (cut: number): string => {
      if (cut < 8) return 'truncated@0';
      if (cut < 32) return 'truncated@8';
      if (cut === 32 || cut === 48 || cut === 53 || cut === 54) return 'ok';
      if (cut === 33) return 'truncated@32'; // MAA Type byte without Length
      if (cut < 48) return 'truncated@33'; // MAA Length 14 runs past the end
      if (cut === 49) return 'truncated@48';
      return 'truncated@49';
    };
    const message = fromHex(FULL);
    const base = 5;
    const buffer = new Uint8Array(base + message.length + 3).fill(0x55);
    buffer.set(message, base);
    for (let cut = 0; cut <= message.length; cut++) {
      const r = decodeAgentAdvertisement(buffer, base, base + cut);
      const got = r.ok ? 'ok' : `${r.error.reason}@${r.error.offset - base}`;
      expect(`${cut}: ${got}`).toBe(`${cut}: ${expected(cut)}`);
      if (r.ok) {
        expect(r.next).toBe(base + cut);
        expect(r.value.extensions.length).toBe([32, 48, 53, 54].indexOf(cut));
        // Dropping the zero pad byte (cut 53) leaves the one's-complement sum unchanged.
        expect(r.value.checksumValid).toBe(cut === 53 || cut === 54);
      } else {
        expect(r.error.layer).toBe('agent-advertisement');
      }
    }
  });

  it('reports a bad checksum as checksumValid false and still decodes', () => {
    // Checksum field, a router address, the sequence number, a prefix length.
    for (const at of [0x02, 0x0d, 0x22, 0x33]) {
      const bytes = fromHex(FULL);
      bytes[at] = bytes[at]! ^ 0x10;
      const r = decodeAgentAdvertisement(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.value.checksumValid).toBe(false);
      expect(agentDiscoveryToJson(r.value).checksum_ok).toBe(false);
      // The encoder ignores the received checksum and computes a correct one.
      const fixed = encodeToBytes(agentAdvertisementCodec, r.value);
      expect(internetChecksum(fixed, 0, fixed.length)).toBe(0);
    }
  });

  it('rejects a Mobility Agent Advertisement Length other than 6 + 4N as bad-length', () => {
    for (const length of [0, 1, 5, 7, 8, 9]) {
      const r = decodeAgentAdvertisement(variant(ODD_PADDED, 17, length.toString(16).padStart(2, '0')));
      expect(`${length}: ${reason(r)}`).toBe(`${length}: bad-length@17`);
    }
    // 10 = 6 + 4 is well formed and fits: the Prefix-Lengths and pad bytes become a care-of address.
    const fits = decodeAgentAdvertisement(variant(ODD_PADDED, 17, '0a'));
    expect(fits.ok && mobilityAgentExtension(fits.value)!.careOfAddresses).toEqual([0x130118 * 256]);
    // 14 = 6 + 8: runs past the end.
    expect(reason(decodeAgentAdvertisement(variant(ODD_PADDED, 17, '0e')))).toBe('truncated@17');
  });

  it('rejects Addr Entry Size below 2 (RFC 1256) as bad-value', () => {
    for (const size of ['00', '01']) {
      expect(reason(decodeAgentAdvertisement(variant(ODD_PADDED, 5, size)))).toBe('bad-value@5');
    }
  });

  it('rejects a router list running past the end as truncated', () => {
    expect(reason(decodeAgentAdvertisement(variant(ODD_PADDED, 4, '04')))).toBe('truncated@8');
    expect(reason(decodeAgentAdvertisement(variant(ODD_PADDED, 5, '07')))).toBe('truncated@8');
    // Num Addrs 0: the former router entry is read as extensions: c6 is skippable, Length 0x33.
    expect(reason(decodeAgentAdvertisement(variant(ODD_PADDED, 4, '00')))).toBe('truncated@9');
  });

  it('rejects another ICMP type as bad-type', () => {
    expect(reason(decodeAgentAdvertisement(fromHex(SOLICITATION)))).toBe('bad-type@0');
    expect(reason(decodeAgentSolicitation(fromHex(FULL)))).toBe('bad-type@0');
  });
});

describe('agentAdvertisementProblems (2.1-2.1.3)', () => {
  const coa = ipv4('203.0.113.5');
  const agent = (flags: number, careOfAddresses: number[] = []): AdvertisementExtensionFields => ({
    kind: 'mobility-agent-advertisement',
    type: 16,
    sequence: 1,
    registrationLifetime: 300,
    flags,
    careOfAddresses,
  });
  const problemsOf = (extensions: AdvertisementExtensionFields[], numRouters = 1) =>
    agentAdvertisementProblems(
      makeAgentAdvertisement({
        lifetime: 900,
        routers: Array.from({ length: numRouters }, (_, i) => ({ address: ipv4('198.51.100.1') + i, preference: 0 })),
        extensions,
      }),
    );
  const { R, B, H, F } = AdvertisementFlag;

  it('finds nothing wrong with conforming home and foreign agent advertisements', () => {
    expect(problemsOf([agent(H)])).toEqual([]);
    expect(problemsOf([agent(F, [coa])])).toEqual([]);
    expect(problemsOf([agent(R | B | F | H, [coa]), { kind: 'prefix-lengths', type: 19, prefixLengths: [24] }, { kind: 'pad', type: 0 }])).toEqual([]);
  });

  it("[R2.1.1-5] reports neither 'F' nor 'H' set", () => {
    expect(problemsOf([agent(AdvertisementFlag.M | AdvertisementFlag.G)])).toEqual(["2.1.1: neither the 'F' nor the 'H' bit is set."]);
  });

  it("[R2.1.1-4] reports 'B' set without 'F'", () => {
    expect(problemsOf([agent(B | H)])).toEqual(["2.1.1: the 'B' bit is set without the 'F' bit."]);
    expect(problemsOf([agent(B | F, [coa])])).toEqual([]);
  });

  it("[R2.1.1-6] reports 'R' set without 'F'", () => {
    expect(problemsOf([agent(R | H)])).toEqual(["2.1.1: the 'R' bit is set without the 'F' bit."]);
    expect(problemsOf([agent(R | F, [coa])])).toEqual([]);
  });

  it("[R2.1.1-2] reports 'F' set with no care-of address", () => {
    expect(problemsOf([agent(F)])).toEqual(["2.1.1: the 'F' bit is set but no care-of address is advertised."]);
  });

  it('reports a Prefix-Lengths Length other than Num Addrs (2.1.2)', () => {
    expect(problemsOf([agent(H), { kind: 'prefix-lengths', type: 19, prefixLengths: [24, 16] }], 1)).toEqual([
      '2.1.2: the Prefix-Lengths Extension at offset 24 has Length 2 but Num Addrs is 1.',
    ]);
    expect(problemsOf([agent(H), { kind: 'prefix-lengths', type: 19, prefixLengths: [] }], 0)).toEqual([]);
    expect(problemsOf([agent(H), { kind: 'prefix-lengths', type: 19, prefixLengths: [24, 16] }], 2)).toEqual([]);
  });

  it('[R2.1.3-2] reports more than one One-byte Padding Extension, and padding that is not last', () => {
    const pad: AdvertisementExtensionFields = { kind: 'pad', type: 0 };
    const prefix: AdvertisementExtensionFields = { kind: 'prefix-lengths', type: 19, prefixLengths: [24] };
    expect(problemsOf([agent(H), pad, pad])).toEqual([
      '2.1.3: there are 2 One-byte Padding Extensions; at most one should be sent.',
      '2.1.3: a One-byte Padding Extension is not the last extension.',
    ]);
    expect(problemsOf([agent(H), pad, prefix])).toEqual(['2.1.3: a One-byte Padding Extension is not the last extension.']);
    expect(problemsOf([agent(H), prefix, pad])).toEqual([]);
  });

  it('reports a missing Mobility Agent Advertisement Extension (2.1)', () => {
    expect(problemsOf([{ kind: 'prefix-lengths', type: 19, prefixLengths: [24] }])).toEqual([
      '2.1: there is no Mobility Agent Advertisement Extension, so this is not an Agent Advertisement.',
    ]);
  });

  it('reports a Code other than 0 and 16 (2.1)', () => {
    expect(agentAdvertisementProblems({ ...makeAgentAdvertisement({ lifetime: 900, extensions: [agent(H)] }), code: 1 })).toEqual([
      '2.1: Code 1 is neither 0 nor 16.',
    ]);
    expect(agentAdvertisementProblems(makeAgentAdvertisement({ code: 16, lifetime: 900, extensions: [agent(H)] }))).toEqual([]);
  });
});

describe('Agent Solicitation (2.2)', () => {
  it('decodes and encodes the ICMP Router Solicitation', () => {
    const r = decodeAgentSolicitation(fromHex(SOLICITATION));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ icmpType: 10, code: 0, checksum: 0xf5ff, checksumValid: true, reserved: 0 });
    expect(r.value.trailing?.length).toBe(0);
    expect(toHex(encodeToBytes(agentSolicitationCodec, r.value))).toBe(SOLICITATION);
    expect(toHex(encodeToBytes(agentSolicitationCodec, makeAgentSolicitation()))).toBe(SOLICITATION);
    expect(makeAgentSolicitation().checksum).toBe(0xf5ff);
  });

  it('keeps an unknown code, the Reserved field and trailing bytes', () => {
    const r = decodeAgentSolicitation(fromHex(SOLICITATION_ODD));
    expect(r.ok && r.value).toMatchObject({ code: 5, reserved: 0x01020304, checksumValid: true });
    if (!r.ok) return;
    expect(toHex(r.value.trailing!)).toBe('ff');
    expect(toHex(encodeToBytes(agentSolicitationCodec, r.value))).toBe(SOLICITATION_ODD);
    expect(agentDiscoveryToJson(r.value)).toEqual({
      icmp_type: 10,
      code: 5,
      checksum: 0xf2f3,
      checksum_ok: true,
      kind: 'agent_solicitation',
      reserved: 0x01020304,
      trailing: 'ff',
    });
  });

  it('reports a bad checksum and rejects fewer than 8 bytes', () => {
    const bytes = fromHex(SOLICITATION);
    bytes[7] = 1;
    const r = decodeAgentSolicitation(bytes);
    expect(r.ok && r.value.checksumValid).toBe(false);
    for (let cut = 0; cut < 8; cut++) expect(reason(decodeAgentSolicitation(fromHex(SOLICITATION), 0, cut))).toBe('truncated@0');
  });
});

describe('decodeAgentDiscovery', () => {
  it('dispatches on the ICMP type', () => {
    const adv = decodeAgentDiscovery(fromHex(FULL));
    expect(adv.ok && adv.value.icmpType).toBe(9);
    const sol = decodeAgentDiscovery(fromHex(SOLICITATION));
    expect(sol.ok && sol.value.icmpType).toBe(10);
    const echo = decodeAgentDiscovery(fromHex('0800f7ff00000000'));
    expect(echo.ok ? 'ok' : [echo.error.layer, echo.error.reason]).toEqual(['agent-discovery', 'bad-type']);
    expect(reason(decodeAgentDiscovery(new Uint8Array(0)))).toBe('truncated@0');
    // The inner decoders' errors come through unchanged.
    expect(reason(decodeAgentDiscovery(fromHex(FULL), 0, 20))).toBe('truncated@8');
    if (adv.ok) expect(toHex(encodeToBytes(agentDiscoveryCodec, adv.value))).toBe(FULL);
    if (sol.ok) expect(toHex(encodeToBytes(agentDiscoveryCodec, sol.value))).toBe(SOLICITATION);
  });
});

describe('Encoding', () => {
  const fullFields = {
    code: 16,
    lifetime: 3600,
    routers: [
      { address: ipv4('192.0.2.1'), preference: 0 },
      { address: ipv4('192.0.2.2'), preference: 10 },
      { address: ipv4('192.0.2.3'), preference: PREFERENCE_NEVER_DEFAULT },
    ],
    extensions: [
      {
        kind: 'mobility-agent-advertisement',
        type: 16,
        sequence: 258,
        registrationLifetime: 600,
        flags: AdvertisementFlag.R | AdvertisementFlag.F | AdvertisementFlag.M | AdvertisementFlag.G | AdvertisementFlag.T,
        careOfAddresses: [ipv4('192.0.2.1'), ipv4('203.0.113.5')],
      },
      { kind: 'prefix-lengths', type: 19, prefixLengths: [24, 24, 16] },
      { kind: 'pad', type: 0 },
    ] satisfies AdvertisementExtensionFields[],
  };

  it('makeAgentAdvertisement builds exactly what decoding the encoding gives', () => {
    const built = makeAgentAdvertisement(fullFields);
    expect(built.checksum).toBe(0x363f);
    expect(built.numAddrs).toBe(3);
    expect(built.extensions.map((e) => e.offset)).toEqual([32, 48, 53]);
    expect(toHex(encodeToBytes(agentAdvertisementCodec, built))).toBe(FULL);
    expect(built).toEqual(decodeAdv(FULL));
  });

  it('writes at a non-zero offset, touching only its own bytes, and ignores the checksum and offsets given', () => {
    const built = makeAgentAdvertisement(fullFields);
    const scrambled: AgentAdvertisement = {
      ...built,
      checksum: 0x1234,
      checksumValid: false,
      extensions: built.extensions.map((e) => ({ ...e, offset: 999 })),
    };
    const buffer = new Uint8Array(agentAdvertisementLength(built) + 10).fill(0xaa);
    expect(encodeAgentAdvertisement(scrambled, buffer, 4)).toBe(4 + 54);
    expect(toHex(buffer.subarray(4, 58))).toBe(FULL);
    expect([...buffer.subarray(0, 4), ...buffer.subarray(58)].every((b) => b === 0xaa)).toBe(true);
  });

  it('throws EncodeError on programmer errors', () => {
    const built = makeAgentAdvertisement(fullFields);
    expect(() => encodeToBytes(agentAdvertisementCodec, { ...built, numAddrs: 2 })).toThrow(/numAddrs/);
    expect(() => encodeToBytes(agentAdvertisementCodec, { ...built, addrEntrySize: 1 })).toThrow(/addrEntrySize/);
    expect(() => encodeToBytes(agentAdvertisementCodec, { ...built, lifetime: 0x10000 })).toThrow(/lifetime/);
    expect(() =>
      encodeToBytes(agentAdvertisementCodec, { ...built, routers: [{ address: 1, preference: 0x80000000 }, ...built.routers.slice(1)] }),
    ).toThrow(/preference/);
    expect(() => encodeAgentAdvertisement(built, new Uint8Array(53))).toThrow(/needs 54 bytes/);
    const manyCareOf = Array.from({ length: 63 }, (_, i) => i + 1);
    expect(() => makeAgentAdvertisement({ lifetime: 1, extensions: [{ ...fullFields.extensions[0]!, careOfAddresses: manyCareOf } as AdvertisementExtensionFields] })).toThrow(/Length/);
    expect(() =>
      makeAgentAdvertisement({ lifetime: 1, extensions: [{ kind: 'unknown', type: 5, skippable: false, format: 'rest', data: new Uint8Array(1) }, { kind: 'pad', type: 0 }] }),
    ).toThrow(/last/);
    expect(() =>
      makeAgentAdvertisement({ lifetime: 1, extensions: [{ kind: 'unknown', type: 16, skippable: false, format: 'tlv', data: new Uint8Array(6) }] }),
    ).toThrow(/known/);
  });
});

describe('Sequence numbers (2.3.2, 2.4.4)', () => {
  it('[R2.3.2-2] counts up by one and follows 0xffff with 256', () => {
    expect(nextAdvertisementSequence(0)).toBe(1);
    expect(nextAdvertisementSequence(255)).toBe(256);
    expect(nextAdvertisementSequence(0xfffe)).toBe(0xffff);
    expect(nextAdvertisementSequence(0xffff)).toBe(256);
    // Over a whole cycle and past the rollover, 0-255 never come back.
    const wrong: string[] = [];
    let sequence = 0;
    for (let i = 0; i < 0x10000 + 500; i++) {
      const next = nextAdvertisementSequence(sequence);
      if (!(next === sequence + 1 || (sequence === 0xffff && next === 256))) wrong.push(`${sequence} -> ${next}`);
      if (i >= 0xffff && next < 256) wrong.push(`${sequence} -> ${next} after the rollover`);
      sequence = next;
    }
    expect(wrong).toEqual([]);
    expect(() => nextAdvertisementSequence(0x10000)).toThrow();
    expect(() => nextAdvertisementSequence(-1)).toThrow();
  });

  it('[R2.4.4-1] a drop to a value in 0-255 means the agent rebooted', () => {
    expect(isAgentRebootSequence(10, 3)).toBe(true);
    expect(isAgentRebootSequence(256, 255)).toBe(true);
    expect(isAgentRebootSequence(0xffff, 0)).toBe(true);
    expect(isAgentRebootSequence(5000, 1)).toBe(true);
    expect(classifyAdvertisementSequence(5000, 1)).toBe('reboot');
  });

  it('[R2.4.4-2] a drop to a value of 256 or more is a rollover, not a reboot', () => {
    expect(isAgentRebootSequence(0xffff, 256)).toBe(false);
    expect(isAgentRebootSequence(0xffff, 300)).toBe(false);
    expect(isAgentRebootSequence(5000, 256)).toBe(false);
    expect(classifyAdvertisementSequence(0xffff, 256)).toBe('rollover');
  });

  it('an equal or greater sequence number is neither', () => {
    expect(isAgentRebootSequence(3, 3)).toBe(false);
    expect(isAgentRebootSequence(3, 4)).toBe(false);
    expect(isAgentRebootSequence(0, 0)).toBe(false);
    expect(classifyAdvertisementSequence(255, 256)).toBe('not-decreased');
  });
});

describe('Interop vectors (testing/interop-vectors.json)', () => {
  interface Vector {
    id: string;
    hex: string;
    length: number;
    decoded: unknown;
    expect: { valid: boolean; problems?: string[] };
  }
  const path = VECTORS_PATH;
  const vectors = (JSON.parse(readFileSync(path, 'utf8')) as { vectors: Vector[] }).vectors;

  for (const id of ['agent_advertisement_home_agent', 'agent_solicitation']) {
    const vector = vectors.find((v) => v.id === id);

    it(`${id}: decodes to exactly the vector's decoded object, field order included`, () => {
      expect(vector).toBeDefined();
      const bytes = fromHex(vector!.hex);
      expect(bytes.length).toBe(vector!.length);
      const r = decodeAgentDiscovery(bytes);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const json = agentDiscoveryToJson(r.value);
      expect(json).toStrictEqual(vector!.decoded);
      expect(JSON.stringify(json)).toBe(JSON.stringify(vector!.decoded));
      if (json.icmp_type === 9) expect(json.problems).toEqual(vector!.expect.problems);
    });

    it(`${id}: encodes to the vector's hex, from the decoded bytes and from the decoded object`, () => {
      const r = decodeAgentDiscovery(fromHex(vector!.hex));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(toHex(encodeToBytes(agentDiscoveryCodec, r.value))).toBe(vector!.hex);
      const fromJson = agentDiscoveryFromJson(vector!.decoded);
      expect(toHex(encodeToBytes(agentDiscoveryCodec, fromJson))).toBe(vector!.hex);
    });
  }

  it('agentDiscoveryFromJson inverts agentDiscoveryToJson on the hand-written fixtures', () => {
    for (const hex of [FULL, ODD_PADDED, PLAIN_RA, NO_ROUTERS_FA, ENTRY_SIZE_3, SKIPPABLE_UNKNOWN, NON_SKIPPABLE_UNKNOWN, SOLICITATION_ODD]) {
      const r = decodeAgentDiscovery(fromHex(hex));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      const json = agentDiscoveryToJson(r.value);
      const back = agentDiscoveryFromJson(JSON.parse(JSON.stringify(json)));
      expect(toHex(encodeToBytes(agentDiscoveryCodec, back))).toBe(hex);
      expect(agentDiscoveryToJson(back)).toStrictEqual(json);
    }
    expect(() => agentDiscoveryFromJson({ icmp_type: 9 })).toThrow(/routers/);
    expect(() => agentDiscoveryFromJson({ icmp_type: 8 })).toThrow(/icmp_type/);
  });
});
