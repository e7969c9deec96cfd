/**
 * Agent Discovery messages (RFC 5944 section 2): the Agent Advertisement, an ICMP Router
 * Advertisement (RFC 1256, type 9) carrying a Mobility Agent Advertisement Extension, and the
 * Agent Solicitation, an ICMP Router Solicitation (type 10).
 *
 * The codecs read and write the ICMP message only; TTL 1 and the IP addresses (2.1, 2.2) are
 * checked by whoever handles the IP header. The message ends at `end`: "the end of the list of
 * extensions is indicated by the total length of the IP datagram" (1.8).
 *
 * Decoders do not fail on a bad checksum: they return `checksumValid: false`, so an agent can
 * count the message before discarding it. Encoders always compute the checksum.
 */
import { type Codec, type DecodeResult, decoded, EncodeError, ensureRoom, wireError } from './codec.js';
import { checkUnsigned, decodeRangeError, type Ipv4Address, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { ICMP_FIXED_LENGTH, IcmpType, icmpChecksum, writeIcmpChecksum } from './icmp.js';

export const ROUTER_ADVERTISEMENT = IcmpType.RouterAdvertisement;
export const ROUTER_SOLICITATION = IcmpType.RouterSolicitation;

/** Code of an Agent Advertisement (2.1). */
export const AdvertisementCode = {
  /** The agent routes common traffic (it is also an ordinary router). */
  RoutesCommonTraffic: 0,
  /** The agent does not route common traffic (but a foreign agent still forwards for its mobile nodes, 4.2.2). */
  NoCommonTraffic: 16,
} as const;

/** Extension types of ICMP Router Discovery messages (1.8, 6.2); a separate number space from registration extensions. */
export const AdvertisementExtensionType = {
  Pad: 0,
  MobilityAgentAdvertisement: 16,
  PrefixLengths: 19,
} as const;

/**
 * Bits of the 16-bit flags field of the Mobility Agent Advertisement Extension (2.1.1), which
 * follows Registration Lifetime. The RFC lists them most significant first: R B H F M G r T U X I,
 * then 5 reserved bits. (The interop vector's flags 0x2000 is a home agent: H.)
 */
export const AdvertisementFlag = {
  /** Registration required, even with a co-located care-of address. */
  R: 0x8000,
  /** Busy: the foreign agent accepts no additional mobile nodes. */
  B: 0x4000,
  /** Home agent on this link. */
  H: 0x2000,
  /** Foreign agent on this link. */
  F: 0x1000,
  /** Receives minimal encapsulation (RFC 2004). */
  M: 0x0800,
  /** Receives GRE encapsulation (RFC 2784). */
  G: 0x0400,
  /** Sent as zero; ignored on reception. */
  r: 0x0200,
  /** Foreign agent supports reverse tunnelling (RFC 3024). */
  T: 0x0100,
  /** UDP tunnelling (RFC 3519). */
  U: 0x0080,
  /** Registration revocation (RFC 3543). */
  X: 0x0040,
  /** Foreign agent supports regional registration (RFC 4857). */
  I: 0x0020,
} as const;
export type AdvertisementFlagName = keyof typeof AdvertisementFlag;
/** The named flags in the order of the RFC figure. */
export const ADVERTISEMENT_FLAG_NAMES: readonly AdvertisementFlagName[] = ['R', 'B', 'H', 'F', 'M', 'G', 'r', 'T', 'U', 'X', 'I'];
/** The low 5 bits of the flags field: "sent as zero; ignored on reception" (2.1.1, 2.4). */
export const ADVERTISEMENT_RESERVED_BITS = 0x001f;

/** Registration Lifetime meaning infinity (2.1.1). */
export const INFINITE_REGISTRATION_LIFETIME = 0xffff;
/** RFC 1256: preference 0x80000000 means "never use as a default router". */
export const PREFERENCE_NEVER_DEFAULT = -0x80000000;
/** RFC 1256: each router entry is at least 2 words (address, preference). */
export const MIN_ADDR_ENTRY_SIZE = 2;

/** One router entry of the Router Advertisement part (RFC 1256, 2.3.1). */
export interface RouterEntry {
  readonly address: Ipv4Address;
  /** Signed 32-bit preference level (RFC 1256); higher is preferred. */
  readonly preference: number;
  /**
   * Words beyond address and preference when Addr Entry Size > 2, kept so the message
   * round-trips (a view into the decoded message). The encoder zero-fills if shorter.
   */
  readonly extra?: Uint8Array;
}

interface AdvertisementExtensionBase {
  /**
   * Offset of the extension's Type byte from the start of the ICMP message.
   * Set by the decoder; the encoder ignores it (extensions are written in list order).
   */
  readonly offset: number;
}

/** Mobility Agent Advertisement Extension (2.1.1): Type 16, Length 6 + 4N. */
export interface MobilityAgentAdvertisementExtension extends AdvertisementExtensionBase {
  readonly kind: 'mobility-agent-advertisement';
  readonly type: 16;
  /** Advertisements sent since the agent was initialized (2.3.2). */
  readonly sequence: number;
  /** Longest lifetime, in seconds, accepted in a Registration Request; 0xffff = infinity. */
  readonly registrationLifetime: number;
  /** The whole 16-bit field as received (see AdvertisementFlag), reserved bits included. */
  readonly flags: number;
  readonly careOfAddresses: readonly Ipv4Address[];
}

/** Prefix-Lengths Extension (2.1.2): Type 19, Length N, one prefix length per router address. */
export interface PrefixLengthsExtension extends AdvertisementExtensionBase {
  readonly kind: 'prefix-lengths';
  readonly type: 19;
  readonly prefixLengths: readonly number[];
}

/** One-byte Padding Extension (2.1.3): a lone Type byte, no Length. */
export interface PadAdvertisementExtension extends AdvertisementExtensionBase {
  readonly kind: 'pad';
  readonly type: 0;
}

/**
 * An extension this codec does not interpret, kept verbatim so it round-trips.
 * - 'tlv': a skippable type (128-255): Type, Length, Data (1.8, 1.9); the Length skips it.
 * - 'rest': a non-skippable type (1-127) not known here. Its layout cannot be known (it may use
 *   the long format, 1.10), and the message must be discarded anyway (1.8), so everything
 *   after its Type byte up to the end of the message is kept as data and decoding stops.
 */
export interface UnknownAdvertisementExtension extends AdvertisementExtensionBase {
  readonly kind: 'unknown';
  readonly type: number;
  /** type >= 128: unrecognised ones are ignored; below 128 they discard the message (1.8). */
  readonly skippable: boolean;
  readonly format: 'tlv' | 'rest';
  /** The Data field (a view into the decoded message). */
  readonly data: Uint8Array;
}

export type AdvertisementExtension =
  | MobilityAgentAdvertisementExtension
  | PrefixLengthsExtension
  | PadAdvertisementExtension
  | UnknownAdvertisementExtension;

/**
 * An ICMP Router Advertisement (RFC 1256) with its Mobile IP extensions. It is an Agent
 * Advertisement when it carries a Mobility Agent Advertisement Extension (see
 * isAgentAdvertisement); one without decodes all the same.
 */
export interface AgentAdvertisement {
  readonly icmpType: 9;
  /** 0 or 16 (2.1); any other value is kept. */
  readonly code: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  readonly checksumValid: boolean;
  /** Number of router entries; may be 0 in an Agent Advertisement (2.1). Equals routers.length. */
  readonly numAddrs: number;
  /** 32-bit words per router entry, at least 2 (RFC 1256). */
  readonly addrEntrySize: number;
  /** Seconds the advertisement is valid (the ICMP Lifetime, unrelated to Registration Lifetime). */
  readonly lifetime: number;
  readonly routers: readonly RouterEntry[];
  readonly extensions: readonly AdvertisementExtension[];
}

/** An ICMP Router Solicitation (RFC 1256), which is what an Agent Solicitation is (2.2). */
export interface AgentSolicitation {
  readonly icmpType: 10;
  /** 0 in RFC 1256; any other value is kept. */
  readonly code: number;
  /** As received; the encoder ignores it and computes the checksum. */
  readonly checksum: number;
  readonly checksumValid: boolean;
  /** The 32-bit Reserved field, kept verbatim (sent as zero). */
  readonly reserved: number;
  /**
   * Bytes after the 8-byte message (RFC 1256 accepts ICMP length "8 or more"), kept so the
   * checksum round-trips. Absent or empty in what mip4 sends.
   */
  readonly trailing?: Uint8Array;
}

export type AgentDiscoveryMessage = AgentAdvertisement | AgentSolicitation;

/** Length of the Type, Code, Checksum, Num Addrs, Addr Entry Size and Lifetime fields. */
export const ADVERTISEMENT_FIXED_LENGTH = ICMP_FIXED_LENGTH;
export const SOLICITATION_LENGTH = ICMP_FIXED_LENGTH;
/** Sequence Number, Registration Lifetime, flags: the Length of a Mobility Agent Advertisement with no care-of address. */
export const MOBILITY_AGENT_FIXED_DATA_LENGTH = 6;

// ---------------------------------------------------------------------------------------------
// Agent Advertisement

const ADV = 'agent-advertisement';

export function decodeAgentAdvertisement(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
): DecodeResult<AgentAdvertisement> {
  const bad = decodeRangeError(ADV, bytes, offset, end, ADVERTISEMENT_FIXED_LENGTH);
  if (bad) return bad;
  const type = bytes[offset]!;
  if (type !== ROUTER_ADVERTISEMENT) {
    return wireError(ADV, 'bad-type', offset, `expected ICMP type 9 (Router Advertisement), found ${type}`);
  }
  const numAddrs = bytes[offset + 4]!;
  const addrEntrySize = bytes[offset + 5]!;
  if (addrEntrySize < MIN_ADDR_ENTRY_SIZE) {
    return wireError(ADV, 'bad-value', offset + 5, `Addr Entry Size must be at least 2 words (RFC 1256), found ${addrEntrySize}`);
  }
  const entryLength = addrEntrySize * 4;
  const routersEnd = offset + ADVERTISEMENT_FIXED_LENGTH + numAddrs * entryLength;
  if (routersEnd > end) {
    return wireError(
      ADV,
      'truncated',
      offset + ADVERTISEMENT_FIXED_LENGTH,
      `${numAddrs} router entries of ${entryLength} bytes need ${routersEnd - offset} bytes, message has ${end - offset}`,
    );
  }
  const routers: RouterEntry[] = [];
  for (let p = offset + ADVERTISEMENT_FIXED_LENGTH; p < routersEnd; p += entryLength) {
    const entry: RouterEntry = { address: readU32(bytes, p), preference: readU32(bytes, p + 4) | 0 };
    routers.push(entryLength > 8 ? { ...entry, extra: bytes.subarray(p + 8, p + entryLength) } : entry);
  }
  const extensions = decodeAdvertisementExtensions(bytes, offset, routersEnd, end);
  if (!extensions.ok) return extensions;
  return decoded(
    {
      icmpType: ROUTER_ADVERTISEMENT,
      code: bytes[offset + 1]!,
      checksum: readU16(bytes, offset + 2),
      checksumValid: icmpChecksum(bytes, offset, end) === 0,
      numAddrs,
      addrEntrySize,
      lifetime: readU16(bytes, offset + 6),
      routers,
      extensions: extensions.value,
    },
    end,
  );
}

/** Reads the extensions in [start, end); offsets are reported relative to messageStart. */
function decodeAdvertisementExtensions(
  bytes: Uint8Array,
  messageStart: number,
  start: number,
  end: number,
): DecodeResult<AdvertisementExtension[]> {
  const extensions: AdvertisementExtension[] = [];
  let p = start;
  while (p < end) {
    const type = bytes[p]!;
    const offset = p - messageStart;
    if (type === AdvertisementExtensionType.Pad) {
      // 2.1.3: padding is a single Type byte, with neither Length nor Data.
      extensions.push({ kind: 'pad', type: 0, offset });
      p += 1;
      continue;
    }
    if (type < 128 && type !== AdvertisementExtensionType.MobilityAgentAdvertisement && type !== AdvertisementExtensionType.PrefixLengths) {
      extensions.push({ kind: 'unknown', type, offset, skippable: false, format: 'rest', data: bytes.subarray(p + 1, end) });
      p = end;
      continue;
    }
    if (p + 2 > end) {
      return wireError(ADV, 'truncated', p, `extension type ${type} at offset ${offset} has no Length byte`);
    }
    const length = bytes[p + 1]!;
    const dataStart = p + 2;
    const dataEnd = dataStart + length;
    if (dataEnd > end) {
      return wireError(
        ADV,
        'truncated',
        p + 1,
        `extension type ${type} at offset ${offset} has Length ${length} but only ${end - dataStart} bytes follow`,
      );
    }
    if (type === AdvertisementExtensionType.MobilityAgentAdvertisement) {
      if (length < MOBILITY_AGENT_FIXED_DATA_LENGTH || (length - MOBILITY_AGENT_FIXED_DATA_LENGTH) % 4 !== 0) {
        return wireError(ADV, 'bad-length', p + 1, `Mobility Agent Advertisement Length must be 6 + 4N (2.1.1), found ${length}`);
      }
      const careOfAddresses: Ipv4Address[] = [];
      for (let a = dataStart + MOBILITY_AGENT_FIXED_DATA_LENGTH; a < dataEnd; a += 4) careOfAddresses.push(readU32(bytes, a));
      extensions.push({
        kind: 'mobility-agent-advertisement',
        type: 16,
        offset,
        sequence: readU16(bytes, dataStart),
        registrationLifetime: readU16(bytes, dataStart + 2),
        flags: readU16(bytes, dataStart + 4),
        careOfAddresses,
      });
    } else if (type === AdvertisementExtensionType.PrefixLengths) {
      // Any Length decodes; a Length other than Num Addrs is reported by agentAdvertisementProblems.
      extensions.push({ kind: 'prefix-lengths', type: 19, offset, prefixLengths: Array.from(bytes.subarray(dataStart, dataEnd)) });
    } else {
      // 1.8: an unrecognised type 128-255 is skipped using its Length; the rest is still processed.
      extensions.push({ kind: 'unknown', type, offset, skippable: true, format: 'tlv', data: bytes.subarray(dataStart, dataEnd) });
    }
    p = dataEnd;
  }
  return decoded(extensions, end);
}

/** Encoded size of one extension, Type byte included. */
export function advertisementExtensionLength(extension: AdvertisementExtension | AdvertisementExtensionFields): number {
  switch (extension.kind) {
    case 'pad':
      return 1;
    case 'mobility-agent-advertisement':
      return 2 + MOBILITY_AGENT_FIXED_DATA_LENGTH + 4 * extension.careOfAddresses.length;
    case 'prefix-lengths':
      return 2 + extension.prefixLengths.length;
    case 'unknown':
      return (extension.format === 'rest' ? 1 : 2) + extension.data.length;
  }
}

export function agentAdvertisementLength(value: AgentAdvertisement): number {
  let length = ADVERTISEMENT_FIXED_LENGTH + value.routers.length * value.addrEntrySize * 4;
  for (const extension of value.extensions) length += advertisementExtensionLength(extension);
  return length;
}

export function encodeAgentAdvertisement(value: AgentAdvertisement, bytes: Uint8Array, offset = 0): number {
  if (value.icmpType !== ROUTER_ADVERTISEMENT) throw new EncodeError(ADV, `icmpType must be 9, got ${String(value.icmpType)}`);
  checkUnsigned(ADV, 'code', value.code, 8);
  checkUnsigned(ADV, 'lifetime', value.lifetime, 16);
  checkUnsigned(ADV, 'addrEntrySize', value.addrEntrySize, 8);
  if (value.addrEntrySize < MIN_ADDR_ENTRY_SIZE) throw new EncodeError(ADV, `addrEntrySize must be at least 2, got ${value.addrEntrySize}`);
  if (value.numAddrs !== value.routers.length) {
    throw new EncodeError(ADV, `numAddrs ${value.numAddrs} disagrees with ${value.routers.length} router entries`);
  }
  checkUnsigned(ADV, 'numAddrs', value.numAddrs, 8);
  const length = agentAdvertisementLength(value);
  ensureRoom(ADV, bytes, offset, length);

  bytes[offset] = ROUTER_ADVERTISEMENT;
  bytes[offset + 1] = value.code;
  bytes[offset + 4] = value.numAddrs;
  bytes[offset + 5] = value.addrEntrySize;
  writeU16(bytes, offset + 6, value.lifetime);
  const entryLength = value.addrEntrySize * 4;
  let p = offset + ADVERTISEMENT_FIXED_LENGTH;
  for (const router of value.routers) {
    checkUnsigned(ADV, 'router address', router.address, 32);
    if (!Number.isInteger(router.preference) || router.preference < -0x80000000 || router.preference > 0x7fffffff) {
      throw new EncodeError(ADV, `preference must be a signed 32-bit integer, got ${router.preference}`);
    }
    writeU32(bytes, p, router.address);
    writeU32(bytes, p + 4, router.preference >>> 0);
    const extra = router.extra ?? new Uint8Array(0);
    if (extra.length > entryLength - 8) {
      throw new EncodeError(ADV, `router entry extra bytes (${extra.length}) exceed Addr Entry Size ${value.addrEntrySize}`);
    }
    bytes.fill(0, p + 8, p + entryLength);
    bytes.set(extra, p + 8);
    p += entryLength;
  }
  value.extensions.forEach((extension, index) => {
    p = encodeAdvertisementExtension(extension, index === value.extensions.length - 1, bytes, p);
  });
  writeIcmpChecksum(bytes, offset, p);
  return p;
}

function encodeAdvertisementExtension(
  extension: AdvertisementExtension | AdvertisementExtensionFields,
  isLast: boolean,
  bytes: Uint8Array,
  p: number,
): number {
  switch (extension.kind) {
    case 'pad':
      bytes[p] = AdvertisementExtensionType.Pad;
      return p + 1;
    case 'mobility-agent-advertisement': {
      const length = MOBILITY_AGENT_FIXED_DATA_LENGTH + 4 * extension.careOfAddresses.length;
      checkUnsigned(ADV, 'Mobility Agent Advertisement Length', length, 8);
      checkUnsigned(ADV, 'sequence', extension.sequence, 16);
      checkUnsigned(ADV, 'registrationLifetime', extension.registrationLifetime, 16);
      checkUnsigned(ADV, 'flags', extension.flags, 16);
      bytes[p] = AdvertisementExtensionType.MobilityAgentAdvertisement;
      bytes[p + 1] = length;
      writeU16(bytes, p + 2, extension.sequence);
      writeU16(bytes, p + 4, extension.registrationLifetime);
      writeU16(bytes, p + 6, extension.flags);
      let a = p + 8;
      for (const address of extension.careOfAddresses) {
        checkUnsigned(ADV, 'care-of address', address, 32);
        writeU32(bytes, a, address);
        a += 4;
      }
      return a;
    }
    case 'prefix-lengths': {
      checkUnsigned(ADV, 'Prefix-Lengths Length', extension.prefixLengths.length, 8);
      bytes[p] = AdvertisementExtensionType.PrefixLengths;
      bytes[p + 1] = extension.prefixLengths.length;
      extension.prefixLengths.forEach((prefixLength, i) => {
        checkUnsigned(ADV, 'prefix length', prefixLength, 8);
        bytes[p + 2 + i] = prefixLength;
      });
      return p + 2 + extension.prefixLengths.length;
    }
    case 'unknown': {
      checkUnsigned(ADV, 'extension type', extension.type, 8);
      if (
        extension.type === AdvertisementExtensionType.Pad ||
        extension.type === AdvertisementExtensionType.MobilityAgentAdvertisement ||
        extension.type === AdvertisementExtensionType.PrefixLengths
      ) {
        throw new EncodeError(ADV, `extension type ${extension.type} is known; encode it with its own kind`);
      }
      bytes[p] = extension.type;
      if (extension.format === 'rest') {
        // Nothing can follow data whose length is not written down.
        if (!isLast) throw new EncodeError(ADV, `an unknown extension of format 'rest' (type ${extension.type}) must be the last one`);
        if (extension.type >= 128) throw new EncodeError(ADV, `format 'rest' is for non-skippable types (below 128), got ${extension.type}`);
        bytes.set(extension.data, p + 1);
        return p + 1 + extension.data.length;
      }
      checkUnsigned(ADV, 'extension Length', extension.data.length, 8);
      bytes[p + 1] = extension.data.length;
      bytes.set(extension.data, p + 2);
      return p + 2 + extension.data.length;
    }
  }
}

export const agentAdvertisementCodec: Codec<AgentAdvertisement> = {
  name: ADV,
  decode: decodeAgentAdvertisement,
  encode: encodeAgentAdvertisement,
  encodingLength: agentAdvertisementLength,
};

/** An extension as a sender describes it: the decoder's value without the offset. */
export type AdvertisementExtensionFields =
  | Omit<MobilityAgentAdvertisementExtension, 'offset'>
  | Omit<PrefixLengthsExtension, 'offset'>
  | Omit<PadAdvertisementExtension, 'offset'>
  | Omit<UnknownAdvertisementExtension, 'offset'>;

export interface AgentAdvertisementFields {
  /** Defaults to 0 (the agent also routes common traffic). */
  readonly code?: number;
  readonly lifetime: number;
  /** Defaults to none (Num Addrs 0 is allowed, 2.1). */
  readonly routers?: readonly RouterEntry[];
  /** Defaults to 2. */
  readonly addrEntrySize?: number;
  readonly extensions: readonly AdvertisementExtensionFields[];
}

/**
 * Builds an advertisement value exactly as decoding its encoding would give it: Num Addrs from
 * the routers, extension offsets in list order, the checksum computed. Throws EncodeError on
 * out-of-range fields.
 */
export function makeAgentAdvertisement(fields: AgentAdvertisementFields): AgentAdvertisement {
  const addrEntrySize = fields.addrEntrySize ?? MIN_ADDR_ENTRY_SIZE;
  const routers = fields.routers ?? [];
  let extensionOffset = ADVERTISEMENT_FIXED_LENGTH + routers.length * addrEntrySize * 4;
  const extensions = fields.extensions.map((extension): AdvertisementExtension => {
    const placed = { ...extension, offset: extensionOffset } as AdvertisementExtension;
    extensionOffset += advertisementExtensionLength(extension);
    return placed;
  });
  const draft: AgentAdvertisement = {
    icmpType: ROUTER_ADVERTISEMENT,
    code: fields.code ?? AdvertisementCode.RoutesCommonTraffic,
    checksum: 0,
    checksumValid: true,
    numAddrs: routers.length,
    addrEntrySize,
    lifetime: fields.lifetime,
    routers,
    extensions,
  };
  const scratch = new Uint8Array(agentAdvertisementLength(draft));
  encodeAgentAdvertisement(draft, scratch, 0);
  return { ...draft, checksum: readU16(scratch, 2) };
}

// ---------------------------------------------------------------------------------------------
// Agent Solicitation

const SOL = 'agent-solicitation';

export function decodeAgentSolicitation(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<AgentSolicitation> {
  const bad = decodeRangeError(SOL, bytes, offset, end, SOLICITATION_LENGTH);
  if (bad) return bad;
  const type = bytes[offset]!;
  if (type !== ROUTER_SOLICITATION) {
    return wireError(SOL, 'bad-type', offset, `expected ICMP type 10 (Router Solicitation), found ${type}`);
  }
  return decoded(
    {
      icmpType: ROUTER_SOLICITATION,
      code: bytes[offset + 1]!,
      checksum: readU16(bytes, offset + 2),
      checksumValid: icmpChecksum(bytes, offset, end) === 0,
      reserved: readU32(bytes, offset + 4),
      trailing: bytes.subarray(offset + SOLICITATION_LENGTH, end),
    },
    end,
  );
}

export function agentSolicitationLength(value: AgentSolicitation): number {
  return SOLICITATION_LENGTH + (value.trailing?.length ?? 0);
}

export function encodeAgentSolicitation(value: AgentSolicitation, bytes: Uint8Array, offset = 0): number {
  if (value.icmpType !== ROUTER_SOLICITATION) throw new EncodeError(SOL, `icmpType must be 10, got ${String(value.icmpType)}`);
  checkUnsigned(SOL, 'code', value.code, 8);
  checkUnsigned(SOL, 'reserved', value.reserved, 32);
  const length = agentSolicitationLength(value);
  ensureRoom(SOL, bytes, offset, length);
  bytes[offset] = ROUTER_SOLICITATION;
  bytes[offset + 1] = value.code;
  writeU32(bytes, offset + 4, value.reserved);
  if (value.trailing) bytes.set(value.trailing, offset + SOLICITATION_LENGTH);
  writeIcmpChecksum(bytes, offset, offset + length);
  return offset + length;
}

export const agentSolicitationCodec: Codec<AgentSolicitation> = {
  name: SOL,
  decode: decodeAgentSolicitation,
  encode: encodeAgentSolicitation,
  encodingLength: agentSolicitationLength,
};

/** The solicitation a mobile node sends (2.2): code 0, reserved 0, checksum computed. */
export function makeAgentSolicitation(fields: { readonly code?: number; readonly reserved?: number } = {}): AgentSolicitation {
  const draft: AgentSolicitation = {
    icmpType: ROUTER_SOLICITATION,
    code: fields.code ?? 0,
    checksum: 0,
    checksumValid: true,
    reserved: fields.reserved ?? 0,
  };
  const scratch = new Uint8Array(SOLICITATION_LENGTH);
  encodeAgentSolicitation(draft, scratch, 0);
  return { ...draft, checksum: readU16(scratch, 2) };
}

// ---------------------------------------------------------------------------------------------
// Either message, by ICMP type

const DISCOVERY = 'agent-discovery';

/** Decodes a Router Advertisement (9) or Router Solicitation (10); any other ICMP type is 'bad-type'. */
export function decodeAgentDiscovery(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<AgentDiscoveryMessage> {
  const bad = decodeRangeError(DISCOVERY, bytes, offset, end, 1);
  if (bad) return bad;
  const type = bytes[offset]!;
  if (type === ROUTER_ADVERTISEMENT) return decodeAgentAdvertisement(bytes, offset, end);
  if (type === ROUTER_SOLICITATION) return decodeAgentSolicitation(bytes, offset, end);
  return wireError(DISCOVERY, 'bad-type', offset, `expected ICMP type 9 or 10 (Router Discovery), found ${type}`);
}

export function agentDiscoveryLength(value: AgentDiscoveryMessage): number {
  return value.icmpType === ROUTER_ADVERTISEMENT ? agentAdvertisementLength(value) : agentSolicitationLength(value);
}

export function encodeAgentDiscovery(value: AgentDiscoveryMessage, bytes: Uint8Array, offset = 0): number {
  return value.icmpType === ROUTER_ADVERTISEMENT
    ? encodeAgentAdvertisement(value, bytes, offset)
    : encodeAgentSolicitation(value, bytes, offset);
}

export const agentDiscoveryCodec: Codec<AgentDiscoveryMessage> = {
  name: DISCOVERY,
  decode: decodeAgentDiscovery,
  encode: encodeAgentDiscovery,
  encodingLength: agentDiscoveryLength,
};

// ---------------------------------------------------------------------------------------------
// Reading an advertisement

/** The first Mobility Agent Advertisement Extension, if any. */
export function mobilityAgentExtension(adv: AgentAdvertisement): MobilityAgentAdvertisementExtension | undefined {
  for (const extension of adv.extensions) if (extension.kind === 'mobility-agent-advertisement') return extension;
  return undefined;
}

/** The first Prefix-Lengths Extension, if any. */
export function prefixLengthsExtension(adv: AgentAdvertisement): PrefixLengthsExtension | undefined {
  for (const extension of adv.extensions) if (extension.kind === 'prefix-lengths') return extension;
  return undefined;
}

/** 2.1, 2.4: the presence of a Mobility Agent Advertisement Extension makes a Router Advertisement an Agent Advertisement. */
export function isAgentAdvertisement(adv: AgentAdvertisement): boolean {
  return mobilityAgentExtension(adv) !== undefined;
}

export function hasAdvertisementFlag(flags: number, flag: AdvertisementFlagName): boolean {
  return (flags & AdvertisementFlag[flag]) !== 0;
}

/**
 * 1.8: an unrecognised extension of type 0-127 means the whole message MUST be silently
 * discarded (types 128-255 are merely skipped).
 */
export function hasNonSkippableUnknownExtension(adv: AgentAdvertisement): boolean {
  return adv.extensions.some((extension) => extension.kind === 'unknown' && !extension.skippable);
}

/**
 * The rules of 2.1-2.1.3 that a receiver can check on the ICMP message itself, one short
 * sentence per broken rule, naming the section; empty for a conforming Agent Advertisement.
 * TTL and IP addresses (2.1) are checked at the IP level, not here. When there are several
 * Mobility Agent Advertisement Extensions, the first one's flags are checked.
 */
export function agentAdvertisementProblems(adv: AgentAdvertisement): string[] {
  const problems: string[] = [];
  if (adv.code !== AdvertisementCode.RoutesCommonTraffic && adv.code !== AdvertisementCode.NoCommonTraffic) {
    problems.push(`2.1: Code ${adv.code} is neither 0 nor 16.`);
  }
  const agent = mobilityAgentExtension(adv);
  if (agent === undefined) {
    problems.push('2.1: there is no Mobility Agent Advertisement Extension, so this is not an Agent Advertisement.');
  } else {
    const has = (flag: AdvertisementFlagName) => hasAdvertisementFlag(agent.flags, flag);
    if (!has('F') && !has('H')) problems.push("2.1.1: neither the 'F' nor the 'H' bit is set.");
    if (has('B') && !has('F')) problems.push("2.1.1: the 'B' bit is set without the 'F' bit.");
    if (has('R') && !has('F')) problems.push("2.1.1: the 'R' bit is set without the 'F' bit.");
    if (has('F') && agent.careOfAddresses.length === 0) {
      problems.push("2.1.1: the 'F' bit is set but no care-of address is advertised.");
    }
  }
  for (const extension of adv.extensions) {
    if (extension.kind === 'prefix-lengths' && extension.prefixLengths.length !== adv.numAddrs) {
      problems.push(
        `2.1.2: the Prefix-Lengths Extension at offset ${extension.offset} has Length ${extension.prefixLengths.length} but Num Addrs is ${adv.numAddrs}.`,
      );
    }
  }
  const pads = adv.extensions.filter((extension) => extension.kind === 'pad');
  if (pads.length > 1) problems.push(`2.1.3: there are ${pads.length} One-byte Padding Extensions; at most one should be sent.`);
  const last = adv.extensions[adv.extensions.length - 1];
  if (pads.some((pad) => pad !== last)) problems.push('2.1.3: a One-byte Padding Extension is not the last extension.');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers (2.3.2, 2.4.4)

/** 2.3.2: an agent's first advertisement after booting carries sequence number 0. */
export const FIRST_ADVERTISEMENT_SEQUENCE = 0;
/** 2.3.2: the number that follows 0xffff, so that 0-255 only ever follow a reboot. */
export const ADVERTISEMENT_SEQUENCE_ROLLOVER = 256;

/** 2.3.2: the sequence number of the next advertisement: one greater, except 0xffff is followed by 256. */
export function nextAdvertisementSequence(sequence: number): number {
  checkUnsigned('advertisement-sequence', 'sequence', sequence, 16);
  return sequence === 0xffff ? ADVERTISEMENT_SEQUENCE_ROLLOVER : sequence + 1;
}

/**
 * 2.4.4: what two successive sequence numbers from the same agent mean:
 * - 'reboot': the second is less than the first and in 0-255; the mobile node SHOULD register again.
 * - 'rollover': the second is less than the first but >= 256; the agent wrapped past 0xffff, no re-registration.
 * - 'not-decreased': the second is equal to or greater than the first.
 */
export type AdvertisementSequenceChange = 'reboot' | 'rollover' | 'not-decreased';

export function classifyAdvertisementSequence(previous: number, received: number): AdvertisementSequenceChange {
  if (received >= previous) return 'not-decreased';
  return received < ADVERTISEMENT_SEQUENCE_ROLLOVER ? 'reboot' : 'rollover';
}

/** 2.4.4: true when the drop from `previous` to `received` shows the agent rebooted (received < previous and received <= 255). */
export function isAgentRebootSequence(previous: number, received: number): boolean {
  return classifyAdvertisementSequence(previous, received) === 'reboot';
}

