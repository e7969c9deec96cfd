/**
 * Agent discovery messages as plain JSON objects, in the shape of the `decoded` objects of the
 * interop vectors (testing/interop-vectors.json): snake_case names, addresses in dotted
 * quad, flags both as the 16-bit field and as named bits, extension offsets from the start of
 * the ICMP message. Used to compare with the vectors and for logs and tooling.
 *
 * The vectors have no padding or unknown extensions; mip4 writes them as
 * `{ type: 0, offset, name: 'One-byte Padding' }` and
 * `{ type, offset, length (tlv only), name: 'Unknown', format, skippable, data (hex) }`.
 * A Router Advertisement without a Mobility Agent Advertisement Extension has
 * kind 'router_advertisement'.
 */
import { ipv4ToString, parseHex, parseIpv4, toHex, type Ipv4Address } from './bytes.js';
import {
  ADVERTISEMENT_FLAG_NAMES,
  ADVERTISEMENT_RESERVED_BITS,
  type AdvertisementExtension,
  type AdvertisementFlagName,
  type AgentAdvertisement,
  type AgentDiscoveryMessage,
  type AgentSolicitation,
  agentAdvertisementProblems,
  hasAdvertisementFlag,
  isAgentAdvertisement,
  type RouterEntry,
} from './agent-discovery.js';

export interface RouterJson {
  readonly address: string;
  readonly preference: number;
  /** Hex of the words beyond address and preference, only when Addr Entry Size > 2. */
  readonly extra?: string;
}

export interface MobilityAgentExtensionJson {
  readonly type: 16;
  readonly offset: number;
  readonly length: number;
  readonly name: 'Mobility Agent Advertisement';
  readonly sequence: number;
  readonly registration_lifetime: number;
  readonly flags: number;
  readonly flag_bits: Readonly<Record<AdvertisementFlagName, boolean>>;
  readonly reserved_bits: number;
  readonly care_of_addresses: readonly string[];
}

export interface PrefixLengthsExtensionJson {
  readonly type: 19;
  readonly offset: number;
  readonly length: number;
  readonly name: 'Prefix-Lengths';
  readonly prefix_lengths: readonly number[];
}

export interface PadExtensionJson {
  readonly type: 0;
  readonly offset: number;
  readonly name: 'One-byte Padding';
}

export interface UnknownExtensionJson {
  readonly type: number;
  readonly offset: number;
  /** The Length byte; absent for format 'rest', which has none. */
  readonly length?: number;
  readonly name: 'Unknown';
  readonly format: 'tlv' | 'rest';
  readonly skippable: boolean;
  readonly data: string;
}

export type AdvertisementExtensionJson =
  | MobilityAgentExtensionJson
  | PrefixLengthsExtensionJson
  | PadExtensionJson
  | UnknownExtensionJson;

export interface AgentAdvertisementJson {
  readonly icmp_type: 9;
  readonly code: number;
  readonly checksum: number;
  readonly checksum_ok: boolean;
  readonly num_addrs: number;
  readonly addr_entry_size: number;
  readonly lifetime: number;
  readonly routers: readonly RouterJson[];
  readonly extensions: readonly AdvertisementExtensionJson[];
  readonly kind: 'agent_advertisement' | 'router_advertisement';
  /** agentAdvertisementProblems(), empty for a conforming Agent Advertisement. */
  readonly problems: readonly string[];
}

export interface AgentSolicitationJson {
  readonly icmp_type: 10;
  readonly code: number;
  readonly checksum: number;
  readonly checksum_ok: boolean;
  readonly kind: 'agent_solicitation';
  readonly reserved: number;
  /** Hex of bytes after the 8-byte message, only when there are any. */
  readonly trailing?: string;
}

export type AgentDiscoveryJson = AgentAdvertisementJson | AgentSolicitationJson;

export function agentDiscoveryToJson(msg: AgentAdvertisement): AgentAdvertisementJson;
export function agentDiscoveryToJson(msg: AgentSolicitation): AgentSolicitationJson;
export function agentDiscoveryToJson(msg: AgentDiscoveryMessage): AgentDiscoveryJson;
export function agentDiscoveryToJson(msg: AgentDiscoveryMessage): AgentDiscoveryJson {
  if (msg.icmpType === 10) {
    const json: AgentSolicitationJson = {
      icmp_type: 10,
      code: msg.code,
      checksum: msg.checksum,
      checksum_ok: msg.checksumValid,
      kind: 'agent_solicitation',
      reserved: msg.reserved,
    };
    return msg.trailing && msg.trailing.length > 0 ? { ...json, trailing: toHex(msg.trailing) } : json;
  }
  return {
    icmp_type: 9,
    code: msg.code,
    checksum: msg.checksum,
    checksum_ok: msg.checksumValid,
    num_addrs: msg.numAddrs,
    addr_entry_size: msg.addrEntrySize,
    lifetime: msg.lifetime,
    routers: msg.routers.map(routerToJson),
    extensions: msg.extensions.map(extensionToJson),
    kind: isAgentAdvertisement(msg) ? 'agent_advertisement' : 'router_advertisement',
    problems: agentAdvertisementProblems(msg),
  };
}

function routerToJson(router: RouterEntry): RouterJson {
  const json: RouterJson = { address: ipv4ToString(router.address), preference: router.preference };
  return router.extra && router.extra.length > 0 ? { ...json, extra: toHex(router.extra) } : json;
}

function extensionToJson(extension: AdvertisementExtension): AdvertisementExtensionJson {
  switch (extension.kind) {
    case 'mobility-agent-advertisement': {
      const flagBits = {} as Record<AdvertisementFlagName, boolean>;
      for (const name of ADVERTISEMENT_FLAG_NAMES) flagBits[name] = hasAdvertisementFlag(extension.flags, name);
      return {
        type: 16,
        offset: extension.offset,
        length: 6 + 4 * extension.careOfAddresses.length,
        name: 'Mobility Agent Advertisement',
        sequence: extension.sequence,
        registration_lifetime: extension.registrationLifetime,
        flags: extension.flags,
        flag_bits: flagBits,
        reserved_bits: extension.flags & ADVERTISEMENT_RESERVED_BITS,
        care_of_addresses: extension.careOfAddresses.map(ipv4ToString),
      };
    }
    case 'prefix-lengths':
      return {
        type: 19,
        offset: extension.offset,
        length: extension.prefixLengths.length,
        name: 'Prefix-Lengths',
        prefix_lengths: [...extension.prefixLengths],
      };
    case 'pad':
      return { type: 0, offset: extension.offset, name: 'One-byte Padding' };
    case 'unknown':
      return {
        type: extension.type,
        offset: extension.offset,
        ...(extension.format === 'tlv' ? { length: extension.data.length } : {}),
        name: 'Unknown',
        format: extension.format,
        skippable: extension.skippable,
        data: toHex(extension.data),
      };
  }
}

// ---------------------------------------------------------------------------------------------
// From JSON (fixtures, configuration, tooling)

/**
 * Rebuilds a message value from its JSON form (the inverse of agentDiscoveryToJson), so a
 * vector's `decoded` object can be encoded and compared with its `hex`. Derived fields
 * (lengths, flag_bits, reserved_bits, kind, problems) are ignored; checksum and checksum_ok
 * are carried over as given (encoders compute the checksum anyway). Throws an Error naming
 * the offending field on anything malformed.
 */
export function agentDiscoveryFromJson(json: unknown): AgentDiscoveryMessage {
  const o = asObject(json, '$');
  const icmpType = uint(o, 'icmp_type', '$', 8);
  if (icmpType === 10) {
    const trailing = o['trailing'] === undefined ? undefined : hex(o, 'trailing', '$');
    return {
      icmpType: 10,
      code: uint(o, 'code', '$', 8),
      checksum: uint(o, 'checksum', '$', 16),
      checksumValid: bool(o, 'checksum_ok', '$'),
      reserved: uint(o, 'reserved', '$', 32),
      ...(trailing ? { trailing } : {}),
    };
  }
  if (icmpType !== 9) throw new Error(`$.icmp_type: expected 9 or 10, got ${icmpType}`);
  const routers = array(o, 'routers', '$').map((item, i): RouterEntry => {
    const path = `$.routers[${i}]`;
    const r = asObject(item, path);
    const preference = r['preference'];
    if (typeof preference !== 'number' || !Number.isInteger(preference) || preference < -0x80000000 || preference > 0x7fffffff) {
      throw new Error(`${path}.preference: expected a signed 32-bit integer`);
    }
    const entry: RouterEntry = { address: address(r['address'], `${path}.address`), preference };
    return r['extra'] === undefined ? entry : { ...entry, extra: hex(r, 'extra', path) };
  });
  const extensions = array(o, 'extensions', '$').map((item, i) => extensionFromJson(item, `$.extensions[${i}]`));
  return {
    icmpType: 9,
    code: uint(o, 'code', '$', 8),
    checksum: uint(o, 'checksum', '$', 16),
    checksumValid: bool(o, 'checksum_ok', '$'),
    numAddrs: uint(o, 'num_addrs', '$', 8),
    addrEntrySize: uint(o, 'addr_entry_size', '$', 8),
    lifetime: uint(o, 'lifetime', '$', 16),
    routers,
    extensions,
  };
}

function extensionFromJson(json: unknown, path: string): AdvertisementExtension {
  const e = asObject(json, path);
  const type = uint(e, 'type', path, 8);
  const offset = uint(e, 'offset', path, 16);
  if (e['name'] === 'Unknown') {
    const format = e['format'];
    if (format !== 'tlv' && format !== 'rest') throw new Error(`${path}.format: expected "tlv" or "rest"`);
    return { kind: 'unknown', type, offset, skippable: type >= 128, format, data: hex(e, 'data', path) };
  }
  switch (type) {
    case 0:
      return { kind: 'pad', type: 0, offset };
    case 16:
      return {
        kind: 'mobility-agent-advertisement',
        type: 16,
        offset,
        sequence: uint(e, 'sequence', path, 16),
        registrationLifetime: uint(e, 'registration_lifetime', path, 16),
        flags: uint(e, 'flags', path, 16),
        careOfAddresses: array(e, 'care_of_addresses', path).map((a, i) => address(a, `${path}.care_of_addresses[${i}]`)),
      };
    case 19:
      return {
        kind: 'prefix-lengths',
        type: 19,
        offset,
        prefixLengths: array(e, 'prefix_lengths', path).map((n, i) => {
          if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) {
            throw new Error(`${path}.prefix_lengths[${i}]: expected an integer 0-255`);
          }
          return n;
        }),
      };
    default:
      throw new Error(`${path}: type ${type} is not a known extension; give name "Unknown" with format and data`);
  }
}

function asObject(value: unknown, path: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path}: expected an object`);
  return value as Record<string, unknown>;
}

function array(o: Readonly<Record<string, unknown>>, key: string, path: string): readonly unknown[] {
  const value = o[key];
  if (!Array.isArray(value)) throw new Error(`${path}.${key}: expected an array`);
  return value;
}

function uint(o: Readonly<Record<string, unknown>>, key: string, path: string, bits: number): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new Error(`${path}.${key}: expected an unsigned ${bits}-bit integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function bool(o: Readonly<Record<string, unknown>>, key: string, path: string): boolean {
  const value = o[key];
  if (typeof value !== 'boolean') throw new Error(`${path}.${key}: expected true or false`);
  return value;
}

function hex(o: Readonly<Record<string, unknown>>, key: string, path: string): Uint8Array {
  const value = o[key];
  const bytes = typeof value === 'string' ? parseHex(value) : undefined;
  if (bytes === undefined) throw new Error(`${path}.${key}: expected a hex string`);
  return bytes;
}

function address(value: unknown, path: string): Ipv4Address {
  const parsed = typeof value === 'string' ? parseIpv4(value) : undefined;
  if (parsed === undefined) throw new Error(`${path}: expected a dotted-quad IPv4 address`);
  return parsed;
}
