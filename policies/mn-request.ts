/**
 * The mobile node's Registration Request (RFC 5944 3.6.1): the value of each field, the
 * extensions in the order 3.6.1.3 requires, the IP/UDP addressing of 3.6.1.1, and the
 * Identification of 5.7 (timestamps or nonces).
 *
 * The result is a `RegistrationRequest` with placeholder authenticators plus a `keyFor`
 * lookup, ready for `policies/sign.ts` `encodeSigned(request, keyFor)`, which seals the
 * Mobile-Home then the Mobile-Foreign authenticator (each covers the ones before it, 3.5.1).
 *
 * Pure: time (`nowUnixMs`) and randomness (`random32`) are inputs.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';
import { identificationFromUnixMs, compareIdentification } from '../io/wire/identification.js';
import {
  ExtensionType,
  INFINITE_LIFETIME,
  MOBILE_IP_PORT,
  REGISTRATION_REQUEST,
  RequestFlag,
  type AuthExtension,
  type AuthExtensionType,
  type Identification,
  type RegistrationExtension,
  type RegistrationRequest,
} from '../io/wire/registration-types.js';
import { AUTHENTICATOR_LENGTH, type AuthAlgorithm } from './auth.js';
import { subnetBroadcast } from '../io/wire/ipv4-address.js';
import type { ReplayProtection } from './security-association.js';
import { udpTunnelRequest } from '../io/wire/udp-tunnel.js';
import { ENCAPSULATING_DELIVERY_STYLE_TYPE } from '../io/wire/registration.js';
import type { UdpTunnelRequestShape } from './mn-udp-tunnel.js';

/** "All Mobility Agents" multicast address (3.6.1.1). */
export const ALL_MOBILITY_AGENTS = 0xe000000b; // 224.0.0.11
/** 3.6.1.2: "the default ICMP Router Advertisement Lifetime (1800 seconds) MAY be used". */
export const DEFAULT_REGISTRATION_LIFETIME = 1800;
/** A usual unicast TTL ("a suitable value ... in accordance with standard IP practice", 3.6.1.1). */
export const DEFAULT_UNICAST_TTL = 64;
/**
 * RFC 3024 (code 76, "mobile node too distant"): a foreign agent granting 'T' takes the Request's
 * TTL 255 as proof that the node is on its link, so a unicast Request asking for 'T' carries 255.
 */
export const ON_LINK_TTL = 255;

/** What `encodeSigned` needs per authentication extension (structurally policies/sign.ts SigningKey). */
export interface MnSigningKey {
  readonly spi: number;
  readonly algorithm: AuthAlgorithm;
  readonly key: Uint8Array;
}

/** The mobile node's configuration that shapes every Request (3.6). */
export interface MnRequestSettings {
  /** 0 when the node does not know its home address (3.6: it then identifies itself by NAI). */
  readonly homeAddress: Ipv4Address;
  /** Undefined when unknown: dynamic home agent address resolution (3.6.1.2). */
  readonly homeAgent?: Ipv4Address;
  /** The home network and its prefix length (3.6: a mobile node MUST know its netmask). */
  readonly homeNetwork: Ipv4Address;
  readonly homePrefixLength: number;
  /** Mobile Node NAI (RFC 2794), sent before the Mobile-Home Authentication Extension. */
  readonly nai?: string;
  /** The context of the Mobility Security Association with the home agent (3.6, 5.7). */
  readonly mobileHome: MnSigningKey & { readonly replay: ReplayProtection };
  /** The context shared with the foreign agent, if any (3.6.1.3 e). */
  readonly mobileForeign?: MnSigningKey;
  /** 'S': ask the home agent to keep prior bindings (3.6.1.2). */
  readonly simultaneousBindings?: boolean;
  /** 'B': ask for home-network broadcasts (3.6.1.2). */
  readonly broadcast?: boolean;
  /** Whether this node decapsulates datagrams itself even behind a foreign agent (needed for 'B', 3.6.1.2). */
  readonly decapsulates?: boolean;
  /** 'M' / 'G' wanted, when allowed (3.6.1.2). */
  readonly minimalEncapsulation?: boolean;
  readonly greEncapsulation?: boolean;
  /** 'T': reverse tunnelling wanted (RFC 3024), when the foreign agent offers it (always when co-located). */
  readonly reverseTunnel?: boolean;
  /**
   * RFC 3024 3.3 / 5.2: how the node hands its datagrams to a foreign agent for the reverse
   * tunnel: 'direct' (plain datagrams, the default) or 'encapsulating' (tunnelled to the agent,
   * announced by the Encapsulating Delivery Style extension). Ignored when co-located.
   */
  readonly deliveryStyle?: 'direct' | 'encapsulating';
  /** Lifetime to ask for, seconds; capped per target (3.6.1.2). Default 1800. */
  readonly lifetime?: number;
  /** RFC 3519 3.1: the UDP Tunnel Request extension this Request carries (policies/mn-udp-tunnel.ts decides). */
  readonly udpTunnelRequest?: UdpTunnelRequestShape;
}

/** Where the Request goes (chosen by agent discovery, machines/mn-discovery.ts). */
export type MnRegistrationTarget =
  /** Through a foreign agent, with one of its advertised care-of addresses. */
  | {
      readonly kind: 'foreign-agent';
      /** IP source address of the agent's Advertisement; undefined if the agent was found by link-layer means. */
      readonly agent?: Ipv4Address;
      /** Link-layer source address of that Advertisement (3.6.1.1). */
      readonly agentLinkAddress?: string;
      readonly careOfAddress: Ipv4Address;
      /** The Advertisement's Registration Lifetime (2.1.1). */
      readonly registrationLifetime: number;
      /** The agent's 'M', 'G' and 'T' bits (2.1.1). */
      readonly minimal: boolean;
      readonly gre: boolean;
      readonly reverseTunnel: boolean;
    }
  /** Directly with the home agent from a co-located care-of address. */
  | { readonly kind: 'co-located'; readonly careOfAddress: Ipv4Address }
  /** Deregistration of all care-of addresses on returning home (3.6.1.2). */
  | { readonly kind: 'home' };

/** The per-attempt fields the registration machine decides (machines/mn-registration.ts). */
export interface MnRequestAttempt {
  readonly identification: Identification;
  readonly lifetime: number;
  /** Normally the configured home agent; after a 136 the one that answered (3.6.2.3). */
  readonly homeAgent?: Ipv4Address;
}

export interface MnRequestAddressing {
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  readonly ttl: number;
  readonly destinationPort: typeof MOBILE_IP_PORT;
  /** The link-layer destination when it is prescribed (3.6.1.1: the Advertisement's link source). */
  readonly linkDestination?: string;
}

export interface BuiltRegistrationRequest {
  readonly request: RegistrationRequest;
  readonly addressing: MnRequestAddressing;
  /** The key for each authentication extension, for `encodeSigned`. */
  readonly keyFor: (type: AuthExtensionType, spi: number) => MnSigningKey | undefined;
}

/**
 * The Lifetime to request (3.6.1.2): 0 to deregister at home; through a foreign agent no more
 * than its advertised Registration Lifetime (R3.6.1.2-11); otherwise the configured value or
 * the 1800 s default (R3.6.1.2-12). 0xffff stays infinite only when allowed.
 */
export function requestLifetime(settings: Pick<MnRequestSettings, 'lifetime'>, target: MnRegistrationTarget): number {
  if (target.kind === 'home') return 0;
  const desired = Math.min(settings.lifetime ?? DEFAULT_REGISTRATION_LIFETIME, INFINITE_LIFETIME);
  if (target.kind === 'foreign-agent') return Math.min(desired, target.registrationLifetime);
  return desired;
}

/** The flags byte (3.3, 3.6.1.2); reserved bits r and x are always 0. */
export function requestFlags(settings: MnRequestSettings, target: MnRegistrationTarget): number {
  // Deregistering everything from home: no binding is created, so no option applies.
  if (target.kind === 'home') return 0;
  const colocated = target.kind === 'co-located';
  let flags = 0;
  if (settings.simultaneousBindings === true) flags |= RequestFlag.S;
  // R3.6.1.2-8: behind a foreign agent, 'B' only if the node can decapsulate itself.
  if (settings.broadcast === true && (colocated || settings.decapsulates === true)) flags |= RequestFlag.B;
  // R3.6.1.2-2 / -3: 'D' exactly when the care-of address is co-located.
  if (colocated) flags |= RequestFlag.D;
  // R3.6.1.2-9 / -10: 'M' / 'G' only when decapsulating itself or the agent advertised them.
  if (settings.minimalEncapsulation === true && (colocated || target.minimal)) flags |= RequestFlag.M;
  if (settings.greEncapsulation === true && (colocated || target.gre)) flags |= RequestFlag.G;
  // RFC 3024: through a foreign agent only if it advertised 'T'.
  if (settings.reverseTunnel === true && (colocated || target.reverseTunnel)) flags |= RequestFlag.T;
  return flags;
}

/** The Home Agent field: the known address, else the home subnet-directed broadcast (R3.6.1.2-16, -18). */
export function homeAgentField(settings: MnRequestSettings, attempt?: Pick<MnRequestAttempt, 'homeAgent'>): Ipv4Address {
  return attempt?.homeAgent ?? settings.homeAgent ?? subnetBroadcast(settings.homeNetwork, settings.homePrefixLength);
}

/**
 * RFC 3024 3.3, 5.2: the Encapsulating Delivery Style extension goes only with a 'T' Request
 * through a foreign agent (a co-located node is its own tunnel entry, RFC 3024 5.1).
 */
export function usesEncapsulatingDelivery(settings: MnRequestSettings, target: MnRegistrationTarget, flags: number): boolean {
  return target.kind === 'foreign-agent' && settings.deliveryStyle === 'encapsulating' && (flags & RequestFlag.T) !== 0;
}

/** IP source, destination and TTL of 3.6.1.1 (and RFC 3024's TTL 255 with 'T' through a foreign agent). */
export function requestAddressing(
  settings: MnRequestSettings,
  target: MnRegistrationTarget,
  homeAgent: Ipv4Address,
  flags = 0,
): MnRequestAddressing {
  // R3.6.1.1-1..3: co-located → the care-of address; no home address → 0.0.0.0; else the home address.
  const source =
    target.kind === 'co-located' ? target.careOfAddress : settings.homeAddress === 0 ? 0 : settings.homeAddress;
  if (target.kind === 'foreign-agent') {
    if (target.agent === undefined) {
      // R3.6.1.1-4 / -5 / -11: agent found without its IP address → 224.0.0.11, TTL 1, the agent's link address.
      return {
        source,
        destination: ALL_MOBILITY_AGENTS,
        ttl: 1,
        destinationPort: MOBILE_IP_PORT,
        ...(target.agentLinkAddress !== undefined ? { linkDestination: target.agentLinkAddress } : {}),
      };
    }
    // R3.6.1.1-6 / -8: the Advertisement's IP source and link-layer source. R3.6.1.1-10: never
    // the home subnet broadcast through a foreign agent (the Home Agent field may be).
    // RFC 3024 (code 76): with 'T' the agent checks for TTL 255; R3.6.1.1-5's TTL 1 above still
    // holds for 224.0.0.11, which no router forwards whatever its TTL.
    return {
      source,
      destination: target.agent,
      ttl: (flags & RequestFlag.T) !== 0 ? ON_LINK_TTL : DEFAULT_UNICAST_TTL,
      destinationPort: MOBILE_IP_PORT,
      ...(target.agentLinkAddress !== undefined ? { linkDestination: target.agentLinkAddress } : {}),
    };
  }
  // R3.6.1.1-9: directly to the home agent; its field is the subnet broadcast when unknown (3.6.1.1).
  return { source, destination: homeAgent, ttl: DEFAULT_UNICAST_TTL, destinationPort: MOBILE_IP_PORT };
}

function placeholder(type: AuthExtensionType, spi: number): AuthExtension {
  return { kind: 'auth', type, spi, offset: 0, authenticator: new Uint8Array(AUTHENTICATOR_LENGTH) };
}

/**
 * The Request of one attempt (3.6.1): fields of 3.6.1.2, extensions in the order of 3.6.1.3
 * (b: the NAI, used by the home agent; c: the Mobile-Home Authentication Extension; e: the
 * Mobile-Foreign one when the node shares an association with the foreign agent), and the
 * addressing of 3.6.1.1.
 */
export function buildRegistrationRequest(
  settings: MnRequestSettings,
  target: MnRegistrationTarget,
  attempt: MnRequestAttempt,
): BuiltRegistrationRequest {
  const homeAgent = homeAgentField(settings, attempt);
  const extensions: RegistrationExtension[] = [];
  if (settings.nai !== undefined) extensions.push({ kind: 'nai', type: ExtensionType.MobileNodeNai, offset: 0, nai: settings.nai });
  // RFC 3519 3.1: for the home agent, so before the Mobile-Home Authentication Extension, which
  // covers it (3.6.1.3; a forged 'F' would move the node's traffic, RFC 3519 6.1.1).
  if (settings.udpTunnelRequest !== undefined && target.kind !== 'home') extensions.push(udpTunnelRequest(settings.udpTunnelRequest));
  extensions.push(placeholder(ExtensionType.MobileHomeAuth, settings.mobileHome.spi));
  const flags = requestFlags(settings, target);
  // RFC 3024 3.3: after the Mobile-Home Authentication Extension, before a Mobile-Foreign one.
  if (usesEncapsulatingDelivery(settings, target, flags)) {
    extensions.push({ kind: 'encapsulating-delivery-style', type: ENCAPSULATING_DELIVERY_STYLE_TYPE, offset: 0 });
  }
  const foreign = target.kind === 'foreign-agent' ? settings.mobileForeign : undefined;
  if (foreign !== undefined) extensions.push(placeholder(ExtensionType.MobileForeignAuth, foreign.spi));
  const request: RegistrationRequest = {
    type: REGISTRATION_REQUEST,
    flags,
    lifetime: attempt.lifetime,
    homeAddress: settings.homeAddress,
    homeAgent,
    // R3.6.1.2-20 / -21: the care-of address to (de)register; the home address to deregister all.
    careOfAddress: target.kind === 'home' ? settings.homeAddress : target.careOfAddress,
    identification: attempt.identification,
    extensions,
  };
  const mobileHome = settings.mobileHome;
  const keyFor = (type: AuthExtensionType, spi: number): MnSigningKey | undefined => {
    if (type === ExtensionType.MobileHomeAuth && spi === mobileHome.spi) return mobileHome;
    if (type === ExtensionType.MobileForeignAuth && foreign !== undefined && spi === foreign.spi) return foreign;
    return undefined;
  };
  return { request, addressing: requestAddressing(settings, target, homeAgent, flags), keyFor };
}

// ---------------------------------------------------------------------------------------------
// Identification (5.7)

export interface NextIdentificationInput {
  readonly replay: ReplayProtection;
  /** The node's clock. */
  readonly nowUnixMs: number;
  /** Correction learned from a 133 (5.7.1: the home agent's time minus ours), ms. */
  readonly clockOffsetMs: number;
  /** A fresh random 32-bit value (5.4, 5.7.1, 5.7.2). */
  readonly random32: number;
  /** Identifications must exceed this one (timestamps, R5.7.1-5); the previous one (nonces, R5.7.2-1). */
  readonly previous?: Identification;
  /** The nonce of the home agent's last authenticated Reply (5.7.2). */
  readonly nonce?: number;
}

/** One more than `id` as an unsigned 64-bit number. */
export function incrementIdentification(id: Identification): Identification {
  const low = ((id.low >>> 0) + 1) >>> 0;
  return { high: low === 0 ? ((id.high >>> 0) + 1) >>> 0 : id.high >>> 0, low };
}

/**
 * The Identification of a new Request (5.7):
 * - timestamps: the NTP time of `now + offset` with the sub-millisecond bits random (R5.7.1-3,
 *   R5.7.1-4), and strictly greater than `previous` (R5.7.1-5): a clock that has not moved
 *   since the last Request gives the previous value plus one;
 * - nonces: high = the home agent's last nonce (a random value before the first one; the
 *   home agent then answers 133 with a nonce), low = random, differing from the previous low
 *   half (R5.7.2-1).
 */
export function nextIdentification(input: NextIdentificationInput): Identification {
  const random = input.random32 >>> 0;
  if (input.replay === 'timestamp') {
    const candidate = identificationFromUnixMs(input.nowUnixMs + input.clockOffsetMs, random);
    if (input.previous !== undefined && compareIdentification(candidate, input.previous) <= 0) {
      return incrementIdentification(input.previous);
    }
    return candidate;
  }
  const previousLow = input.previous?.low;
  const low = previousLow !== undefined && random === previousLow >>> 0 ? (random + 1) >>> 0 : random;
  // Without a nonce yet, mix the bits so the high half is not just the low half.
  const high = input.nonce !== undefined ? input.nonce >>> 0 : (Math.imul(random ^ 0x5bd1e995, 0x27d4eb2d) >>> 0);
  return { high, low };
}

/** xorshift32: the deterministic random source machines carry in their context (seeded by the runtime). */
export function nextRandom32(state: number): number {
  let x = state >>> 0 || 0x9e3779b9;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}
