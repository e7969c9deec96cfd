/**
 * The foreign agent's handling of registration messages (RFC 5944 3.7): the checks of a
 * mobile node's Request (3.7.2), what is relayed (3.7.2.2), denials (3.7.2.3, at most one per
 * second per node) and the checks of the home agent's Reply (3.7.3). Pure: time and the
 * associations are inputs. The order of the checks and its reasons: docs/protocol.md ("Registration checks, in order").
 */
import { malformedUdpTunnelExtension } from '../io/wire/udp-tunnel.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import { ipv4ToString, readU32, writeU32 } from '../io/wire/bytes.js';
import type { MacAddress } from '../io/wire/ethernet.js';
import { IcmpType, UnreachableCode } from '../io/wire/icmp.js';
import { isMulticast, isUnicast, LIMITED_BROADCAST } from '../io/wire/ipv4-address.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IpProtocol,
  ipv4Destination,
  ipv4FragmentOffset,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Source,
  ipv4Version,
} from '../io/wire/ipv4.js';
import { UDP_HEADER_LENGTH, udpDestinationPort, udpSourcePort } from '../io/wire/udp.js';
import { AUTH_HEADER_LENGTH, encodeRegistrationReply, registrationReplyLength } from '../io/wire/registration.js';
import {
  ExtensionType,
  INFINITE_LIFETIME,
  MOBILE_IP_PORT,
  REGISTRATION_REQUEST,
  REPLY_FIXED_LENGTH,
  RequestFlag,
  type AuthExtension,
  type Identification,
  type RegistrationExtension,
  type RegistrationReply,
  type RegistrationRequest,
} from '../io/wire/registration-types.js';
import { isAcceptedCode } from '../io/wire/reply-codes.js';
import { AUTHENTICATOR_LENGTH, sealAuthenticator, verifyAuthenticator } from './auth.js';
import { checkPendingBudget, type ChargedPending, type PendingBudgetRefusal, type PendingCharge, type PendingUsage } from './fa-pending-budget.js';
import type { MobilitySecurityContext, SecurityContextLookup } from './security-association.js';
import { appendUdpTunnelRequest, faUdpTunnelRequestFor, type FaUdpTunnelMode } from './fa-udp-tunnel.js';

/** Registration Reply codes a foreign agent sends (3.4; 74-76 and 79 from RFC 3024 3.4, 96/97 from RFC 2794). */
export const FaReplyCode = {
  ReasonUnspecified: 64,
  AdministrativelyProhibited: 65,
  InsufficientResources: 66,
  MobileNodeFailedAuthentication: 67,
  HomeAgentFailedAuthentication: 68,
  LifetimeTooLong: 69,
  PoorlyFormedRequest: 70,
  PoorlyFormedReply: 71,
  EncapsulationUnavailable: 72,
  /** "requested reverse tunnel unavailable" (RFC 3024). */
  ReverseTunnelUnavailable: 74,
  /** "reverse tunnel is mandatory and 'T' bit not set" (RFC 3024). */
  ReverseTunnelMandatory: 75,
  /** "mobile node too distant" (RFC 3024): a 'T' Request that did not come from the link. */
  MobileNodeTooDistant: 76,
  InvalidCareOfAddress: 77,
  RegistrationTimeout: 78,
  /** "delivery style not supported" (RFC 3024). */
  DeliveryStyleNotSupported: 79,
  HomeNetworkUnreachable: 80,
  HomeAgentHostUnreachable: 81,
  HomeAgentPortUnreachable: 82,
  HomeAgentUnreachable: 88,
  /** NONZERO_HOMEADDR_REQD (RFC 2794), named by 3.7.1. */
  NonzeroHomeAddressRequired: 96,
  /** MISSING_NAI (RFC 2794). */
  MissingNai: 97,
  InvalidHomeAgentAddress: 194,
} as const;

/** "All Mobility Agents" (3.6.1.1, 2.3). */
export const ALL_MOBILITY_AGENTS: Ipv4Address = 0xe000000b;

export type FaReverseTunnelPolicy = 'offered' | 'required' | 'none';

/** The RFC 3024 policy in force: `reverseTunnel`, or the older boolean (true → offered, false → none). */
export function reverseTunnelPolicyOf(settings: Pick<FaSettings, 'reverseTunneling' | 'reverseTunnel'>): FaReverseTunnelPolicy {
  return settings.reverseTunnel ?? (settings.reverseTunneling ? 'offered' : 'none');
}

/** What the foreign agent offers and enforces. */
export interface FaSettings {
  /** The care-of addresses this foreign agent offers (advertises), at least one (3.7.1, R3.7.1-1). */
  readonly careOfAddresses: readonly Ipv4Address[];
  /**
   * Every address configured on the foreign agent's interfaces, care-of addresses included or
   * not: a Request naming one of them as its home agent is not relayed (3.7.2, R3.7.2-3).
   */
  readonly interfaceAddresses: readonly Ipv4Address[];
  /** The agent's address on the mobile nodes' link: the source of Replies to Requests sent to 224.0.0.11 (3.7.2.3). */
  readonly linkAddress: Ipv4Address;
  /** The advertised Registration Lifetime, seconds, 0xffff = infinity (2.1.1). */
  readonly registrationLifetime: number;
  /** 'B': no registrations from additional mobile nodes (2.1.1). */
  readonly busy: boolean;
  /** 'M' / 'G': the encapsulations this agent decapsulates (2.1.1). */
  readonly encapsulations: { readonly minimal: boolean; readonly gre: boolean };
  /** 'T' advertised: reverse tunnelling offered (RFC 3024 3.1). */
  readonly reverseTunneling: boolean;
  /**
   * RFC 3024 policy: 'offered' (advertised 'T', granted when asked), 'required' (advertised
   * 'T', a Request without it denied 75) or 'none' (74 when asked). Absent: from
   * `reverseTunneling` (true → offered, false → none).
   */
  readonly reverseTunnel?: FaReverseTunnelPolicy;
  /** RFC 3024 3.3 / 5.2: the encapsulating delivery style is supported (default true); else 79. */
  readonly encapsulatingDelivery?: boolean;
  /** Deny (67) Requests from nodes the agent shares no association with (a local policy beyond 3.7.2.1). */
  readonly requireMobileForeignAuthentication: boolean;
  /**
   * The most registrations of nodes that are not registered visitors pending at once (3.7.1:
   * MAY, "typically 5"); Infinity for no limit. Renewals and deregistrations of registered
   * visitors are never refused for it (policies/fa-pending-budget.ts).
   */
  readonly maxPending: number;
  /** Pending entries with one link-layer source (default 2, fa-pending-budget.ts). */
  readonly maxPendingPerLinkSource?: number;
  /** Pending entries for one home address (default 2, fa-pending-budget.ts). */
  readonly maxPendingPerHomeAddress?: number;
  /** Deregistrations of nodes not in the visitor list relayed per pending window (default 2, fa-pending-budget.ts). */
  readonly maxUnknownDeregistrations?: number;
  /** Whether pending Requests with Home Address 0 (identified by NAI) are managed (3.7.1, RFC 2794). */
  readonly acceptZeroHomeAddress: boolean;
  /** RFC 3519, an agent behind a NAT: ask for UDP tunnelling in relayed Requests (policies/fa-udp-tunnel.ts); absent = off. */
  readonly udpTunnel?: FaUdpTunnelMode;
}

/** What the foreign agent keeps about a relayed Request (3.7.1) to relay or deny its Reply. */
export interface PendingRegistration {
  /** The node's link-layer source address: replies go there without ARP (3.7.1, 4.2.2, R4.2.2-7). */
  readonly linkLayerSource: MacAddress;
  /** The Request's IP Source Address (home address, co-located care-of address or 0.0.0.0, 3.6.1.1). */
  readonly ipSource: Ipv4Address;
  /** The Request's IP Destination Address: the source of the Reply to the node (3.7.2.3). */
  readonly ipDestination: Ipv4Address;
  readonly udpSourcePort: number;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly identification: Identification;
  /** Seconds; 0 = deregistration. */
  readonly requestedLifetime: number;
  /** The Mobile Node NAI (RFC 2794) the node sent, if any. */
  readonly nai?: string;
  /** Whether the relayed Request carried a Foreign-Home Authentication Extension. */
  readonly foreignHomeAuthenticated: boolean;
  /** Set when the node asked for a reverse tunnel through this agent ('T', RFC 3024) and may have one. */
  readonly reverseTunnel?: ReverseTunnelGrant;
  /** The relayed Request carried this agent's UDP Tunnel Request extension (RFC 3519 4.5). */
  readonly udpTunnelRequested?: boolean;
}

/** What a visitor granted 'T' gets (RFC 3024): the tunnel to its home agent from its care-of address. */
export interface ReverseTunnelGrant {
  /** From the Request's M/G bits: G → GRE, else M → minimal, else IP in IP. */
  readonly encapsulation: 'ip-in-ip' | 'minimal' | 'gre';
  /** 'encapsulating' when the Request carried the Encapsulating Delivery Style extension (RFC 3024 3.3). */
  readonly delivery: 'direct' | 'encapsulating';
}

/** A Registration Reply the foreign agent itself sends (a denial, 3.7.2.3), ready to go out. */
export interface FaReplyDatagram {
  readonly reply: RegistrationReply;
  /** The UDP payload, authenticated with an MFAE when the agent shares an association with the node (3.7.1). */
  readonly bytes: Uint8Array;
  readonly ipSource: Ipv4Address;
  readonly ipDestination: Ipv4Address;
  readonly udpSourcePort: number;
  readonly udpDestinationPort: number;
  /** Sent straight to the node's link-layer address: no ARP for a visitor (4.2.2). */
  readonly linkLayerDestination: MacAddress;
}

export type FaRequestDiscardReason =
  | 'udp-checksum'
  | 'unknown-non-skippable-extension'
  /** A denial would exceed one per second to this node (3.7.2). */
  | 'denial-rate-limited';

export type FaRequestDenyReason =
  | 'mobile-node-failed-authentication' // 67
  | 'no-authorization-extension' // 70
  | 'misplaced-authentication-extension' // 70
  | 'reserved-bits-set' // 70
  | 'invalid-home-agent-address' // 194
  | 'missing-nai' // 97
  | 'zero-home-address-unsupported' // 96
  | 'lifetime-too-long' // 69
  | 'invalid-care-of-address' // 77
  | 'encapsulation-unavailable' // 72
  | 'reverse-tunnel-unavailable' // 74
  | 'reverse-tunnel-mandatory' // 75
  | 'mobile-node-too-distant' // 76
  | 'delivery-style-not-supported' // 79
  | 'misplaced-delivery-style' // 70
  | 'malformed-udp-tunnel-extension' // 70
  | 'refused' // 64 / 65
  | PendingBudgetRefusal // 66
  | 'busy'; // 66

export type FaRequestVerdict =
  | {
      readonly kind: 'discard';
      readonly reason: FaRequestDiscardReason;
      readonly detail: string;
      readonly securityException: boolean;
      /** The denial that was not sent because of the rate limit, and why it would have been. */
      readonly suppressedCode?: number;
      readonly suppressedReason?: FaRequestDenyReason;
    }
  | {
      readonly kind: 'deny';
      readonly code: number;
      readonly reason: FaRequestDenyReason;
      readonly detail: string;
      /** 3.7.2.1 asks to log a failed Mobile-Foreign authentication as a security exception. */
      readonly securityException: boolean;
      readonly datagram: FaReplyDatagram;
    }
  | {
      /** The Home Agent field is this agent's own address and it serves the node as home agent: process per 3.8.2 (3.7.2). */
      readonly kind: 'local-home-agent';
      readonly detail: string;
    }
  | {
      readonly kind: 'relay';
      /** The Request to send to the home agent (3.7.2.2). */
      readonly bytes: Uint8Array;
      /** The care-of address offered for the node (3.7.2.2). */
      readonly ipSource: Ipv4Address;
      /** Copied from the Home Agent field (3.7.2.2). */
      readonly ipDestination: Ipv4Address;
      readonly udpDestinationPort: number;
      /** Extensions removed because no authorization-enabling extension follows them (3.7.2.2). */
      readonly removedExtensions: number;
      readonly pending: PendingRegistration;
      /** What the pending entry is charged to (policies/fa-pending-budget.ts). */
      readonly charge: PendingCharge;
    };

export interface FaRequestInput {
  readonly request: RegistrationRequest;
  /** The UDP payload as received, decoded at offset 0; authenticators cover it (3.5.1). */
  readonly message: Uint8Array;
  /** False only for an invalid NON-ZERO checksum (3.7.2.1). */
  readonly udpChecksumValid: boolean;
  /** The Request's IP TTL as received (RFC 3024's hop check for 'T'); absent: not checked. */
  readonly ipTtl?: number;
  readonly ipSource: Ipv4Address;
  readonly ipDestination: Ipv4Address;
  readonly udpSourcePort: number;
  readonly linkLayerSource: MacAddress;
  readonly settings: FaSettings;
  /** The association shared with the mobile node, if any (3.7.1, 3.5.3). */
  readonly mobileNode?: SecurityContextLookup;
  /** The association shared with the home agent the Request names, if any (3.7.1, 3.5.4). */
  readonly homeAgent?: SecurityContextLookup;
  /** Pending entries in use now, for this Request's link-layer source and home address (3.7.1, fa-pending-budget.ts). */
  readonly pendingUsage: PendingUsage;
  /** The node's pending entries (same home address and NAI) this Request supersedes once relayed. */
  readonly replacesPending?: readonly ChargedPending[];
  /** Whether the node already has a visitor list entry (a renewal or deregistration, 3.7.2). */
  readonly isVisitor: boolean;
  /** The home agent of the node's registration in force, when it is a registered visitor. */
  readonly registeredHomeAgent?: Ipv4Address;
  /** Whether this agent is also the node's home agent (3.7.2). */
  readonly servesAsHomeAgent?: boolean;
  /** A refusal from the runtime's admission policy: 64 reason unspecified, 65 administratively prohibited. */
  readonly refusal?: { readonly code: 64 | 65; readonly detail: string };
  /** ms since the epoch, and when the last denial went to this node (3.7.2's one per second). */
  readonly nowMs: number;
  readonly lastDenialAtMs?: number;
}

/** 3.7.2's "more than one such denial per second to the same mobile node". */
export const DENIAL_INTERVAL_MS = 1000;
/** Nodes whose last denial RecentDenials keeps at most, by default. */
export const DEFAULT_DENIAL_MEMORY = 65_536;

/**
 * When the last denial went to each mobile node, for 3.7.2's one per second. Only the last
 * second matters, so entries live in two generations: a new one starts when the current one is
 * a second old or holds half the capacity, and the one before it is dropped. A denial is so
 * remembered for at least a second, and at most `capacity` nodes are: under a flood of more
 * distinct (forged) nodes per second than half of that, the oldest generation is forgotten
 * early, which can only let a second denial go to one of those nodes within the second.
 */
export class RecentDenials {
  private current = new Map<number, number>();
  private previous = new Map<number, number>();
  private startedAt = -Infinity;
  private lastRecordAt = -Infinity;
  private readonly generationSize: number;

  constructor(capacity: number = DEFAULT_DENIAL_MEMORY) {
    if (!(capacity >= 2)) throw new RangeError(`RecentDenials needs a capacity >= 2, got ${capacity}`);
    this.generationSize = Math.floor(capacity / 2);
  }

  /** When the last remembered denial went to `homeAddress`, if one did. */
  get(homeAddress: Ipv4Address): number | undefined {
    const key = homeAddress | 0;
    return this.current.get(key) ?? this.previous.get(key);
  }

  record(homeAddress: Ipv4Address, nowMs: number): void {
    if (nowMs - this.startedAt >= DENIAL_INTERVAL_MS || this.current.size >= this.generationSize) {
      // Everything in the current generation older than a second: neither is needed any more.
      this.previous = nowMs - this.lastRecordAt >= DENIAL_INTERVAL_MS ? new Map() : this.current;
      this.current = new Map();
      this.startedAt = nowMs;
    }
    const key = homeAddress | 0;
    this.previous.delete(key);
    this.current.set(key, nowMs);
    this.lastRecordAt = nowMs;
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}

// --- helpers ------------------------------------------------------------------------------------

/** The first Mobile Node NAI extension (RFC 2794) covered by the MHAE, i.e. placed before it (3.6.1.3 b). */
export function messageNai(extensions: readonly RegistrationExtension[]): string | undefined {
  for (const extension of extensions) {
    if (extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth) return undefined;
    if (extension.kind === 'nai') return extension.nai;
  }
  return undefined;
}

/** The end (exclusive) of an authentication extension in its message: Type, Length, SPI, Authenticator. */
function authExtensionEnd(extension: AuthExtension): number {
  return extension.offset + AUTH_HEADER_LENGTH + extension.authenticator.length;
}

function isMulticastOrBroadcast(address: Ipv4Address): boolean {
  return address >>> 0 === LIMITED_BROADCAST || isMulticast(address);
}

/** An address no home agent can have: 0.0.0.0, loopback, multicast, class E, limited broadcast. */
function isUnusableHomeAgent(address: Ipv4Address): boolean {
  return !isUnicast(address);
}

/**
 * Appends an authentication extension of `type` to `prefix` and seals it with `context`
 * (3.5.1: it covers everything before it, its Type, Length and SPI).
 */
function appendAuthentication(prefix: Uint8Array, type: 33 | 34, context: MobilitySecurityContext): Uint8Array {
  const out = new Uint8Array(prefix.length + AUTH_HEADER_LENGTH + AUTHENTICATOR_LENGTH);
  out.set(prefix, 0);
  out[prefix.length] = type;
  out[prefix.length + 1] = 4 + AUTHENTICATOR_LENGTH;
  writeU32(out, prefix.length + 2, context.spi);
  sealAuthenticator(context.algorithm, context.key, out, prefix.length);
  return out;
}

/** What a Reply from the foreign agent is addressed by (3.7.2.3), taken from the Request or pending entry. */
export interface DenialTarget {
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly identification: Identification;
  readonly ipDestination: Ipv4Address;
  readonly udpSourcePort: number;
  readonly linkLayerSource: MacAddress;
}

/**
 * A Registration Reply the foreign agent sends to deny a Request (3.7.2.3), also used for 68,
 * 71, 78 and 80-88 on behalf of a pending registration. Home Address, Home Agent and
 * Identification are copied from the Request; the Lifetime is the Request's (or, for 69, the
 * longest the agent accepts). IP source: the Request's destination, unless it was the All
 * Mobility Agents group (3.7.2.3) — or any multicast or broadcast address, which cannot be a
 * source — then the agent's link address. IP destination: the Home Address, or
 * 255.255.255.255 when it is 0. UDP 434 → the Request's source port. With an association
 * shared with the node, an MFAE is appended (3.7.1, R3.7.1-11), with the context `mobileNode`
 * names for `spi` or else its oldest one.
 */
export function buildFaDenial(
  target: DenialTarget,
  code: number,
  lifetime: number,
  settings: Pick<FaSettings, 'linkAddress'>,
  mobileNode?: SecurityContextLookup,
  spi?: number,
): FaReplyDatagram {
  const reply: RegistrationReply = {
    type: 3,
    code,
    lifetime,
    homeAddress: target.homeAddress,
    homeAgent: target.homeAgent,
    identification: target.identification,
    extensions: [],
  };
  const plain = new Uint8Array(registrationReplyLength(reply));
  encodeRegistrationReply(reply, plain, 0);
  const context = mobileNode === undefined ? undefined : ((spi === undefined ? undefined : mobileNode.get(spi)) ?? mobileNode.first());
  let bytes: Uint8Array = plain;
  let extensions: RegistrationExtension[] = [];
  if (context !== undefined) {
    bytes = appendAuthentication(plain, ExtensionType.MobileForeignAuth, context);
    extensions = [
      {
        kind: 'auth',
        type: ExtensionType.MobileForeignAuth,
        spi: context.spi,
        offset: REPLY_FIXED_LENGTH,
        authenticator: bytes.subarray(REPLY_FIXED_LENGTH + AUTH_HEADER_LENGTH),
      },
    ];
  }
  return {
    reply: { ...reply, extensions },
    bytes,
    ipSource: isMulticastOrBroadcast(target.ipDestination) ? settings.linkAddress : target.ipDestination,
    ipDestination: target.homeAddress !== 0 ? target.homeAddress : LIMITED_BROADCAST,
    udpSourcePort: MOBILE_IP_PORT,
    udpDestinationPort: target.udpSourcePort,
    linkLayerDestination: target.linkLayerSource,
  };
}

/**
 * 3.7.3: the Reply code for an ICMP error received instead of a Registration Reply ("home
 * agent unreachable", 80-95). Destination Unreachable for the network (net, net unknown, net
 * prohibited, net for TOS) → 80; for the host (host, host unknown, host prohibited, host for
 * TOS) → 81; port → 82; anything else (protocol, fragmentation, source route, isolation,
 * administrative filters, Time Exceeded, ...) → 88 "other ICMP error".
 */
export function faCodeForIcmpError(icmpType: number, icmpCode: number): number {
  if (icmpType === IcmpType.DestinationUnreachable) {
    switch (icmpCode) {
      case UnreachableCode.Net:
      case UnreachableCode.NetUnknown:
      case UnreachableCode.NetProhibited:
      case UnreachableCode.NetUnreachableForTos:
        return FaReplyCode.HomeNetworkUnreachable;
      case UnreachableCode.Host:
      case UnreachableCode.HostUnknown:
      case UnreachableCode.HostProhibited:
      case UnreachableCode.HostUnreachableForTos:
        return FaReplyCode.HomeAgentHostUnreachable;
      case UnreachableCode.Port:
        return FaReplyCode.HomeAgentPortUnreachable;
    }
  }
  return FaReplyCode.HomeAgentUnreachable;
}

/**
 * What an ICMP error (3.7.3) says about the datagram it quotes, when that datagram was a
 * Registration Request relayed by this agent: UDP from one of `ownAddresses`, port 434 to
 * port 434 (3.7.2.2). RFC 792 guarantees only the IP header and 8 bytes of data (the UDP
 * header); routers following RFC 1812 4.3.2.3 quote more, and then the Request's Home Address
 * and the low 32 bits of its Identification are read too, to match one pending registration.
 */
export interface QuotedRelayedRequest {
  /** The relayed Request's IP source (a care-of address of this agent). */
  readonly source: Ipv4Address;
  /** The relayed Request's IP destination (the home agent). */
  readonly homeAgent: Ipv4Address;
  /** Present when the quote reaches the Home Address field (UDP payload bytes 4-7). */
  readonly homeAddress?: Ipv4Address;
  /** Present when the quote reaches the end of Identification (UDP payload bytes 16-23). */
  readonly identificationLow?: number;
}

/**
 * Reads the datagram quoted by an ICMP error (`original`: IP header first). Undefined when it
 * is not a Registration Request this agent relayed (not UDP 434→434 from one of its addresses,
 * too short to show the UDP ports, or a later fragment).
 */
export function quotedRelayedRequest(original: Uint8Array, ownAddresses: ReadonlySet<number>): QuotedRelayedRequest | undefined {
  if (original.length < IPV4_MIN_HEADER_LENGTH || ipv4Version(original, 0) !== 4) return undefined;
  const headerLength = ipv4HeaderLength(original, 0);
  if (headerLength < IPV4_MIN_HEADER_LENGTH || original.length < headerLength + UDP_HEADER_LENGTH) return undefined;
  if (ipv4Protocol(original, 0) !== IpProtocol.UDP) return undefined;
  // A later fragment carries no UDP header (RFC 791): nothing to match.
  if (ipv4FragmentOffset(original, 0) !== 0) return undefined;
  const source = ipv4Source(original, 0);
  if (!ownAddresses.has(source | 0)) return undefined;
  if (udpSourcePort(original, headerLength) !== MOBILE_IP_PORT || udpDestinationPort(original, headerLength) !== MOBILE_IP_PORT) return undefined;
  const payload = headerLength + UDP_HEADER_LENGTH;
  if (original.length > payload && original[payload] !== REGISTRATION_REQUEST) return undefined;
  return {
    source,
    homeAgent: ipv4Destination(original, 0),
    // Home Address at payload bytes 4-7, Identification at 16-23 (3.3).
    ...(original.length >= payload + 8 ? { homeAddress: readU32(original, payload + 4) } : {}),
    ...(original.length >= payload + 24 ? { identificationLow: readU32(original, payload + 20) } : {}),
  };
}

/**
 * The pending registrations an ICMP error about `quote` ends (3.7.3): those relayed to the
 * quoted home agent and, as far as the quote shows them, with the same Home Address and low
 * Identification. With only the UDP header quoted that is every Request pending at that home
 * agent: the error says it cannot be reached from here, which is as true for each of them.
 */
export function pendingForIcmpError<P extends Pick<PendingRegistration, 'homeAgent' | 'homeAddress' | 'identification'>>(
  quote: QuotedRelayedRequest,
  pending: Iterable<P>,
): P[] {
  const matched: P[] = [];
  for (const p of pending) {
    if (p.homeAgent >>> 0 !== quote.homeAgent >>> 0) continue;
    if (quote.homeAddress !== undefined && p.homeAddress >>> 0 !== quote.homeAddress >>> 0) continue;
    if (quote.identificationLow !== undefined && p.identification.low >>> 0 !== quote.identificationLow >>> 0) continue;
    matched.push(p);
  }
  return matched;
}

/** The Mobile-Foreign authentication check of 3.7.2.1: exactly one MFAE, valid under the SPI it names. */
function mobileForeignStatus(
  extensions: readonly AuthExtension[],
  association: SecurityContextLookup,
  message: Uint8Array,
): { valid: true } | { valid: false; detail: string } {
  if (extensions.length === 0) return { valid: false, detail: 'no Mobile-Foreign Authentication Extension' };
  if (extensions.length > 1) return { valid: false, detail: `${extensions.length} Mobile-Foreign Authentication Extensions, exactly one is allowed` };
  const extension = extensions[0]!;
  const context = association.get(extension.spi);
  if (context === undefined) return { valid: false, detail: `no mobile node security context with SPI ${extension.spi}` };
  if (!verifyAuthenticator(context.algorithm, context.key, message, extension)) {
    return { valid: false, detail: `Mobile-Foreign authenticator (SPI ${extension.spi}) is invalid` };
  }
  return { valid: true };
}

// --- the Request ---------------------------------------------------------------------------------

/** The foreign agent's checks of a Registration Request from a mobile node (see the module comment). */
export function checkFaRequest(input: FaRequestInput): FaRequestVerdict {
  const { request, message, settings } = input;

  // 1. 3.7.2.1: "Registration Requests with an invalid, non-zero UDP checksum MUST be silently discarded."
  if (!input.udpChecksumValid) return { kind: 'discard', reason: 'udp-checksum', detail: 'invalid non-zero UDP checksum', securityException: false };

  let mobileHome: AuthExtension | undefined;
  let lastMobileHome: AuthExtension | undefined;
  let authenticationBeforeMobileHome: AuthExtension | undefined;
  const mobileForeign: AuthExtension[] = [];
  for (const extension of request.extensions) {
    if (extension.kind === 'unknown') {
      // 2. 1.8: an unrecognised extension of type 0-127 discards the message silently.
      if (!extension.skippable) {
        return {
          kind: 'discard',
          reason: 'unknown-non-skippable-extension',
          detail: `unrecognised non-skippable extension type ${extension.type} at offset ${extension.offset} (RFC 5944 1.8)`,
          securityException: false,
        };
      }
      continue;
    }
    if (extension.kind !== 'auth') continue;
    if (extension.type === ExtensionType.MobileHomeAuth) {
      mobileHome ??= extension;
      lastMobileHome = extension;
    } else {
      if (mobileHome === undefined) authenticationBeforeMobileHome ??= extension;
      if (extension.type === ExtensionType.MobileForeignAuth) mobileForeign.push(extension);
    }
  }

  const deny = (code: number, reason: FaRequestDenyReason, detail: string, options: { lifetime?: number; securityException?: boolean } = {}): FaRequestVerdict => {
    // 3.7.2: no more than one denial per second to the same mobile node.
    if (input.lastDenialAtMs !== undefined && input.nowMs - input.lastDenialAtMs < DENIAL_INTERVAL_MS) {
      return {
        kind: 'discard',
        reason: 'denial-rate-limited',
        detail: `${detail}; a denial went to this mobile node ${input.nowMs - input.lastDenialAtMs} ms ago (RFC 5944 3.7.2: at most one per second)`,
        securityException: options.securityException ?? false,
        suppressedCode: code,
        suppressedReason: reason,
      };
    }
    const datagram = buildFaDenial(
      {
        homeAddress: request.homeAddress,
        homeAgent: request.homeAgent,
        identification: request.identification,
        ipDestination: input.ipDestination,
        udpSourcePort: input.udpSourcePort,
        linkLayerSource: input.linkLayerSource,
      },
      code,
      // 3.7.2.3: "the Lifetime SHOULD be copied from the Lifetime field in the Request" (69 overrides).
      options.lifetime ?? request.lifetime,
      settings,
      input.mobileNode,
      mobileForeign[0]?.spi,
    );
    return { kind: 'deny', code, reason, detail, securityException: options.securityException ?? false, datagram };
  };

  // 3. 3.7.2.1: with an association shared with the node, exactly one valid MFAE; otherwise the
  //    Request is discarded, logged as a security exception, and 67 SHOULD be sent. The 67 is
  //    the only thing that leaves the agent: the Request is dropped, which is what "silently
  //    discard" protects (it is never relayed). 3.6.1.3 e places the MFAE after the
  //    authorization-enabling extension; one before it covers less than the node must sign.
  //    requireMobileForeignAuthentication extends the check to nodes without an association:
  //    they cannot authenticate, so 67 too (a local policy, 3.7.2.1 "MUST be checked").
  if (input.mobileNode !== undefined && input.mobileNode.first() !== undefined) {
    const status = mobileForeignStatus(mobileForeign, input.mobileNode, message);
    if (!status.valid) {
      return deny(FaReplyCode.MobileNodeFailedAuthentication, 'mobile-node-failed-authentication', `${status.detail} (RFC 5944 3.7.2.1)`, { securityException: true });
    }
    if (mobileHome !== undefined && mobileForeign[0]!.offset < mobileHome.offset) {
      return deny(
        FaReplyCode.MobileNodeFailedAuthentication,
        'mobile-node-failed-authentication',
        'the Mobile-Foreign Authentication Extension precedes the Mobile-Home Authentication Extension (RFC 5944 3.6.1.3 e)',
        { securityException: true },
      );
    }
  } else if (settings.requireMobileForeignAuthentication) {
    return deny(
      FaReplyCode.MobileNodeFailedAuthentication,
      'mobile-node-failed-authentication',
      'this foreign agent requires Mobile-Foreign authentication and shares no security association with the mobile node',
      { securityException: true },
    );
  }

  // 4. 3.3: "An authorization-enabling extension MUST be included in all Registration Requests."
  //    The foreign agent cannot verify it, but a Request without one is poorly formed: the home
  //    agent would discard it silently (3.8.2.1 a) and the node would wait in vain.
  if (mobileHome === undefined || lastMobileHome === undefined) {
    return deny(FaReplyCode.PoorlyFormedRequest, 'no-authorization-extension', 'no Mobile-Home Authentication Extension (RFC 5944 3.3)');
  }

  // 5. 3.2 / 3.6.1.3: the authorization-enabling extension is the first authentication extension.
  if (authenticationBeforeMobileHome !== undefined) {
    return deny(
      FaReplyCode.PoorlyFormedRequest,
      'misplaced-authentication-extension',
      `authentication extension type ${authenticationBeforeMobileHome.type} at offset ${authenticationBeforeMobileHome.offset} precedes the Mobile-Home Authentication Extension (RFC 5944 3.2, 3.6.1.3)`,
    );
  }

  // 6. Reserved bits. 3.3 says 'r' and 'x' are "sent as zero; ignored on reception", but the
  //    foreign agent's own sections say twice, with MUST, to reject: 3.7.2.1 "Requests with
  //    non-zero bits in reserved fields MUST be rejected with Code 70" and 3.7.2.3 "If the
  //    Reserved field is nonzero, the foreign agent MUST deny the Request". The specific rule
  //    wins, and the home agent rejects them too (ha-request.ts, 134).
  if ((request.flags & (RequestFlag.r | RequestFlag.x)) !== 0) {
    return deny(
      FaReplyCode.PoorlyFormedRequest,
      'reserved-bits-set',
      `reserved flag bits set (flags 0x${request.flags.toString(16).padStart(2, '0')}); rejected per RFC 5944 3.7.2.1/3.7.2.3 although 3.3 says to ignore them`,
    );
  }

  // 7. 3.7.2: a Home Agent field naming one of this agent's own addresses is never relayed
  //    (R3.7.2-3): served here as home agent (3.8.2), else 194. Addresses no home agent can
  //    have (0.0.0.0, loopback, multicast, class E, broadcast) would be sent nowhere: 194 too.
  const ownAddress = settings.interfaceAddresses.includes(request.homeAgent) || settings.careOfAddresses.includes(request.homeAgent);
  if (ownAddress) {
    if (input.servesAsHomeAgent === true) {
      return { kind: 'local-home-agent', detail: `home agent ${ipv4ToString(request.homeAgent)} is this agent (RFC 5944 3.7.2, 3.8.2)` };
    }
    return deny(
      FaReplyCode.InvalidHomeAgentAddress,
      'invalid-home-agent-address',
      `Home Agent field ${ipv4ToString(request.homeAgent)} is an address of this foreign agent, which is not the node's home agent (RFC 5944 3.7.2)`,
    );
  }
  if (isUnusableHomeAgent(request.homeAgent)) {
    return deny(FaReplyCode.InvalidHomeAgentAddress, 'invalid-home-agent-address', `Home Agent field ${ipv4ToString(request.homeAgent)} cannot be a home agent's address`);
  }

  // 8. 3.7.1 / RFC 2794: a Home Address of 0 needs an NAI to match the Reply by, and an agent
  //    that cannot keep such pending records answers NONZERO_HOMEADDR_REQD.
  const nai = messageNai(request.extensions);
  if (request.homeAddress === 0) {
    if (nai === undefined) return deny(FaReplyCode.MissingNai, 'missing-nai', 'Home Address 0 without a Mobile Node NAI extension (RFC 2794)');
    if (!settings.acceptZeroHomeAddress) {
      return deny(FaReplyCode.NonzeroHomeAddressRequired, 'zero-home-address-unsupported', 'this foreign agent needs a nonzero Home Address (RFC 5944 3.7.1, RFC 2794)');
    }
  }

  // 9. 3.7.2.3 / 2.1.1: a Lifetime longer than the advertised Registration Lifetime is denied
  //    with 69, the Reply carrying the longest Lifetime accepted. 0xffff advertised accepts all.
  if (settings.registrationLifetime !== INFINITE_LIFETIME && request.lifetime > settings.registrationLifetime) {
    return deny(
      FaReplyCode.LifetimeTooLong,
      'lifetime-too-long',
      `requested Lifetime ${request.lifetime} s exceeds the advertised ${settings.registrationLifetime} s (RFC 5944 3.7.2.3)`,
      { lifetime: settings.registrationLifetime },
    );
  }

  const colocated = (request.flags & RequestFlag.D) !== 0;
  const offered = settings.careOfAddresses.includes(request.careOfAddress);
  // 10. 3.7.2.1: "Requests with the 'D' bit set to 0, nonzero Lifetime, and specifying a care-of
  //     address not offered by the foreign agent, MUST be rejected with Code 77".
  if (!colocated && request.lifetime !== 0 && !offered) {
    return deny(
      FaReplyCode.InvalidCareOfAddress,
      'invalid-care-of-address',
      `care-of address ${ipv4ToString(request.careOfAddress)} is not offered by this foreign agent (RFC 5944 3.7.2.1)`,
    );
  }

  if (request.lifetime !== 0) {
    // 11. 3.6.1.2: 'M'/'G' only when the agent advertised them, unless the node decapsulates
    //     itself. The home agent chooses among the bits set (ha-request.ts), so every bit set
    //     must be one this agent can decapsulate: 72 otherwise (3.4).
    if (!colocated) {
      const missing: string[] = [];
      if ((request.flags & RequestFlag.M) !== 0 && !settings.encapsulations.minimal) missing.push('minimal');
      if ((request.flags & RequestFlag.G) !== 0 && !settings.encapsulations.gre) missing.push('GRE');
      if (missing.length > 0) {
        return deny(
          FaReplyCode.EncapsulationUnavailable,
          'encapsulation-unavailable',
          `${missing.join(' and ')} encapsulation requested but not offered by this foreign agent (RFC 5944 3.4, 3.6.1.2)`,
        );
      }
    }
    // 12. RFC 3024 (docs/protocol.md "Reverse tunnelling at the foreign agent").
    const refused = checkReverseTunnel(request, input, settings, colocated, mobileHome, mobileForeign[0]);
    if (refused !== undefined) return deny(refused.code, refused.reason, refused.detail);
  }

  // 13. Admission.
  if (input.refusal !== undefined) return deny(input.refusal.code, 'refused', input.refusal.detail);
  if (request.lifetime !== 0 && settings.busy && !input.isVisitor) {
    return deny(FaReplyCode.InsufficientResources, 'busy', "this foreign agent is busy: no registrations from additional mobile nodes (RFC 5944 2.1.1 'B')");
  }
  //     3.7.1: "Additional registrations SHOULD then be rejected ... with Code 66", per budget.
  const budget = checkPendingBudget({
    lifetime: request.lifetime,
    homeAgent: request.homeAgent,
    homeAddress: request.homeAddress,
    linkLayerSource: input.linkLayerSource,
    ...(input.registeredHomeAgent === undefined ? {} : { registeredHomeAgent: input.registeredHomeAgent }),
    replaces: input.replacesPending ?? [],
    usage: input.pendingUsage,
    limits: settings,
  });
  if (!budget.admit) return deny(FaReplyCode.InsufficientResources, budget.reason, budget.detail);

  // 14. Relay (3.7.2.2). The fields from the fixed part through the (last) authorization-
  //     enabling extension are copied unchanged (R3.7.2.2-2); everything after it — the
  //     FA-only extensions and the MFAE (3.6.1.3 d, e) — is processed here and removed, as
  //     "any extensions that do not precede any authorization-enabling extension" (R3.7.2.2-3).
  //     Then a Foreign-Home Authentication Extension when the agent shares an association
  //     with the home agent (R3.7.1-9), except on a deregistration (R3.5.4-5) or for a care-of
  //     address this agent does not advertise (R3.5.4-4).
  //     The Encapsulating Delivery Style extension sits after the MHAE (checked in 12), so it
  //     goes with them: consumed here, never relayed (RFC 3024 3.3).
  const keptEnd = authExtensionEnd(lastMobileHome);
  const grant = request.lifetime !== 0 && !colocated && (request.flags & RequestFlag.T) !== 0 ? reverseTunnelGrant(request) : undefined;
  const prefix = message.subarray(0, keptEnd);
  const removedExtensions = request.extensions.filter((extension) => extension.offset >= keptEnd).length;
  const homeAgentContext = input.homeAgent?.first();
  const appendForeignHome = homeAgentContext !== undefined && request.lifetime !== 0 && offered;
  // RFC 3519 4.5: an agent behind a NAT asks for UDP tunnelling with its own extension, after
  // the MHAE and before the FHAE that then covers it (policies/fa-udp-tunnel.ts).
  const udpTunnel = faUdpTunnelRequestFor(request, settings.udpTunnel, offered);
  const relayed = udpTunnel === undefined ? prefix : appendUdpTunnelRequest(prefix, udpTunnel);
  const bytes = appendForeignHome ? appendAuthentication(relayed, ExtensionType.ForeignHomeAuth, homeAgentContext) : relayed === prefix ? prefix.slice() : relayed;
  return {
    kind: 'relay',
    bytes,
    // 3.7.2.2: "The care-of address offered by the foreign agent for the mobile node". A
    // co-located node (D set, registering here because of 'R') is offered none: the first one.
    ipSource: offered ? request.careOfAddress : settings.careOfAddresses[0] ?? settings.linkAddress,
    ipDestination: request.homeAgent,
    udpDestinationPort: MOBILE_IP_PORT,
    removedExtensions,
    pending: {
      linkLayerSource: input.linkLayerSource,
      ipSource: input.ipSource,
      ipDestination: input.ipDestination,
      udpSourcePort: input.udpSourcePort,
      homeAddress: request.homeAddress,
      homeAgent: request.homeAgent,
      careOfAddress: request.careOfAddress,
      identification: request.identification,
      requestedLifetime: request.lifetime,
      ...(nai === undefined ? {} : { nai }),
      foreignHomeAuthenticated: appendForeignHome,
      ...(grant === undefined ? {} : { reverseTunnel: grant }),
      ...(udpTunnel === undefined ? {} : { udpTunnelRequested: true }),
    },
    charge: budget.charge,
  };
}

// --- reverse tunnelling (RFC 3024) ----------------------------------------------------------------

/** The IP TTL of a Registration Request asking for 'T': sent from the link (RFC 3024). */
export const REVERSE_TUNNEL_REQUEST_TTL = 255;

type Refusal = { readonly code: number; readonly reason: FaRequestDenyReason; readonly detail: string };

/**
 * RFC 3024's checks of a Request with a nonzero Lifetime, in its order: 'T' not offered → 74;
 * 'T' required and absent → 75; 'T' from farther than the link → 76; the Encapsulating
 * Delivery Style extension where it cannot be honoured → 79, or misplaced → 70.
 */
function checkReverseTunnel(
  request: RegistrationRequest,
  input: FaRequestInput,
  settings: FaSettings,
  colocated: boolean,
  mobileHome: AuthExtension,
  mobileForeign: AuthExtension | undefined,
): Refusal | undefined {
  const policy = reverseTunnelPolicyOf(settings);
  const asked = (request.flags & RequestFlag.T) !== 0;
  if (asked && policy === 'none') {
    return { code: FaReplyCode.ReverseTunnelUnavailable, reason: 'reverse-tunnel-unavailable', detail: "'T' set but this foreign agent offers no reverse tunnel (RFC 3024 3.4)" };
  }
  // A co-located node tunnels itself (RFC 3024 1.2, 5944 3.7.2 'R'): the agent's policy is not its path.
  if (!asked && policy === 'required' && !colocated) {
    return { code: FaReplyCode.ReverseTunnelMandatory, reason: 'reverse-tunnel-mandatory', detail: "this foreign agent requires reverse tunnelling and 'T' is not set (RFC 3024 3.4)" };
  }
  // RFC 3024: a 'T' Request is sent with TTL 255 so the agent knows the node is on its link
  // (direct delivery trusts the link-layer source). RFC 5944 3.6.1.1 makes a Request to
  // 224.0.0.11 go with TTL 1; that group is link-local and never forwarded (RFC 5771), so
  // TTL 1 there proves the same. Any other TTL: 76.
  if (asked && input.ipTtl !== undefined) {
    const linkLocal = input.ipDestination === ALL_MOBILITY_AGENTS && input.ipTtl === 1;
    if (input.ipTtl !== REVERSE_TUNNEL_REQUEST_TTL && !linkLocal) {
      return {
        code: FaReplyCode.MobileNodeTooDistant,
        reason: 'mobile-node-too-distant',
        detail: `'T' Request with IP TTL ${input.ipTtl}, not ${REVERSE_TUNNEL_REQUEST_TTL}: not sent from this link (RFC 3024)`,
      };
    }
  }
  // RFC 3519 3.1: a UDP Tunnel Request extension whose Length is not 6 is poorly formed (70).
  const malformedUdpTunnel = malformedUdpTunnelExtension(request.extensions);
  if (malformedUdpTunnel !== undefined) return { code: FaReplyCode.PoorlyFormedRequest, reason: 'malformed-udp-tunnel-extension', detail: malformedUdpTunnel.message };
  for (const extension of request.extensions) {
    const malformed = extension.kind === 'unknown' && extension.type === ExtensionType.EncapsulatingDeliveryStyle;
    if (extension.kind !== 'encapsulating-delivery-style' && !malformed) continue;
    if (malformed) {
      return { code: FaReplyCode.PoorlyFormedRequest, reason: 'misplaced-delivery-style', detail: `Encapsulating Delivery Style extension at offset ${extension.offset} has a nonzero Length (RFC 3024 3.3: Length 0)` };
    }
    // RFC 3024 3.3: after the MHAE (so that consuming it leaves the home agent's authenticator
    // whole) and before the MFAE (so that the node's authenticator covers it).
    if (extension.offset < mobileHome.offset || (mobileForeign !== undefined && extension.offset > mobileForeign.offset)) {
      return {
        code: FaReplyCode.PoorlyFormedRequest,
        reason: 'misplaced-delivery-style',
        detail: `Encapsulating Delivery Style extension at offset ${extension.offset} is not between the Mobile-Home and Mobile-Foreign Authentication Extensions (RFC 3024 3.3)`,
      };
    }
    // RFC 3024 3.3: it only qualifies a reverse tunnel; without 'T' there is nothing to deliver by it.
    if (!asked) {
      return { code: FaReplyCode.PoorlyFormedRequest, reason: 'misplaced-delivery-style', detail: "Encapsulating Delivery Style extension without 'T' (RFC 3024 3.3)" };
    }
    if (settings.encapsulatingDelivery === false) {
      return { code: FaReplyCode.DeliveryStyleNotSupported, reason: 'delivery-style-not-supported', detail: 'the encapsulating delivery style is not supported here (RFC 3024 3.3, 3.4)' };
    }
  }
  return undefined;
}

/** The reverse tunnel a granted 'T' Request gets: encapsulation from its M/G bits, delivery from its extensions. */
export function reverseTunnelGrant(request: RegistrationRequest): ReverseTunnelGrant {
  const encapsulation = (request.flags & RequestFlag.G) !== 0 ? 'gre' : (request.flags & RequestFlag.M) !== 0 ? 'minimal' : 'ip-in-ip';
  const encapsulating = request.extensions.some((extension) => extension.kind === 'encapsulating-delivery-style');
  return { encapsulation, delivery: encapsulating ? 'encapsulating' : 'direct' };
}

// --- the Reply ------------------------------------------------------------------------------------

export type FaReplyDiscardReason =
  | 'udp-checksum'
  | 'unknown-non-skippable-extension'
  /** No pending Request for the Reply's home address (or NAI) (3.7.3.1). */
  | 'no-pending-request'
  /** Not from the home agent the matching Request was relayed to, port 434 (3.8.3.1, 3.7.2.2). */
  | 'unexpected-reply-source'
  /** The low 32 bits of Identification differ from the pending Request's (3.7.3.1). */
  | 'identification-mismatch';

/** How the node's visitor list entry changes once the Reply is relayed (3.7.3.2). */
export type VisitorUpdate =
  /** Accepted with a nonzero Lifetime: (re)register for `lifetime` seconds, counted from the relay. */
  | { readonly kind: 'register'; readonly lifetime: number }
  /** Accepted with Lifetime 0: the entry goes. */
  | { readonly kind: 'deregister' }
  /** Denied by the home agent: the pending registration goes, the visitor entry stays as it was (R3.7.2-7). */
  | { readonly kind: 'denied' };

export type FaReplyVerdict =
  | { readonly kind: 'discard'; readonly reason: FaReplyDiscardReason; readonly detail: string; readonly securityException: boolean }
  | {
      /** The home agent's Reply is discarded and the registration rejected: 68 or 71 to the node. */
      readonly kind: 'reject';
      readonly code: 68 | 71;
      readonly detail: string;
      readonly securityException: boolean;
      readonly pending: PendingRegistration;
      readonly datagram: FaReplyDatagram;
    }
  | {
      readonly kind: 'relay';
      readonly pending: PendingRegistration;
      readonly code: number;
      readonly datagram: FaReplyDatagram;
      readonly visitorUpdate: VisitorUpdate;
      /** Extensions removed because no authorization-enabling extension covers them (3.7.3.2). */
      readonly removedExtensions: number;
    };

export interface FaReplyInput {
  readonly reply: RegistrationReply;
  /** The UDP payload as received, decoded at offset 0. */
  readonly message: Uint8Array;
  readonly udpChecksumValid: boolean;
  /** The Reply's IP Source Address and UDP Source Port. */
  readonly source: Ipv4Address;
  readonly sourcePort: number;
  /** The pending registrations to search: those for the Reply's Home Address and those with Home Address 0 (3.7.3.1). */
  readonly pending: readonly PendingRegistration[];
  /** The association with the home agent, selected by the Reply's Home Agent field (3.5.4). */
  readonly homeAgent?: SecurityContextLookup;
  /** The association with the node a pending registration belongs to, for the MFAE (3.7.1, 3.7.3.2). */
  readonly mobileNodeOf?: (pending: PendingRegistration) => SecurityContextLookup | undefined;
  readonly settings: Pick<FaSettings, 'linkAddress' | 'registrationLifetime'>;
}

/**
 * Whether a Reply from `source`:`sourcePort` can be the home agent's answer to `pending`. It
 * comes from UDP port 434 and from the address the Request was relayed to (3.8.3.1), with one
 * exception that 3.8.3.1 and 3.8.2.1 make: a Request sent to a broadcast address is answered
 * from the home agent's unicast address, with Code 136 when it was a subnet-directed broadcast
 * (3.8.2.1: the Reply "will contain the home agent's unicast address"). The foreign agent never
 * relays to 255.255.255.255 or multicast (194, checkFaRequest), and cannot know a remote
 * subnet's prefix; so that case is recognised only as narrowly as the message allows: Code
 * 136, the Reply's Home Agent field equal to its IP source, and the relayed-to address the
 * all-ones host part (2 to 24 bits) of a subnet that contains that source. A Reply that
 * matches otherwise in everything but its source is a forgery or a misrouted answer; taking it
 * would let anyone who sees a Request end or complete the registration (the safer reading).
 */
export function fromHomeAgentOf(
  pending: Pick<PendingRegistration, 'homeAgent'>,
  reply: Pick<RegistrationReply, 'code' | 'homeAgent'>,
  source: Ipv4Address,
  sourcePort: number,
): boolean {
  if (sourcePort !== MOBILE_IP_PORT) return false;
  const relayedTo = pending.homeAgent >>> 0;
  const from = source >>> 0;
  if (from === relayedTo) return true;
  if (reply.code !== 136 || reply.homeAgent >>> 0 !== from) return false;
  let hostBits = 0;
  while (hostBits < 24 && ((relayedTo >>> hostBits) & 1) === 1) hostBits++;
  return hostBits >= 2 && relayedTo >>> hostBits === from >>> hostBits;
}

/** The foreign agent's checks of a Registration Reply from a home agent (3.7.3.1) and how it relays it (3.7.3.2). */
export function checkFaReply(input: FaReplyInput): FaReplyVerdict {
  const { reply, message, settings } = input;
  // 3.7.3.1: "Registration Replies with an invalid, non-zero UDP checksum MUST be silently discarded."
  if (!input.udpChecksumValid) return { kind: 'discard', reason: 'udp-checksum', detail: 'invalid non-zero UDP checksum', securityException: false };

  let mobileHome: AuthExtension | undefined;
  let lastMobileHome: AuthExtension | undefined;
  let authenticationBeforeMobileHome: AuthExtension | undefined;
  const foreignHome: AuthExtension[] = [];
  for (const extension of reply.extensions) {
    // A UDP Tunnel Reply (44) of Length 6 decodes as 'udp-tunnel-reply'; one of another Length
    // stays 'unknown' and, not skippable, is discarded like any other (RFC 3519 3.2, RFC 5944 1.8).
    if (extension.kind === 'unknown' && !extension.skippable) {
      return {
        kind: 'discard',
        reason: 'unknown-non-skippable-extension',
        detail: `unrecognised non-skippable extension type ${extension.type} at offset ${extension.offset} (RFC 5944 1.8)`,
        securityException: false,
      };
    }
    if (extension.kind !== 'auth') continue;
    if (extension.type === ExtensionType.MobileHomeAuth) {
      mobileHome ??= extension;
      lastMobileHome = extension;
    } else {
      if (mobileHome === undefined) authenticationBeforeMobileHome ??= extension;
      if (extension.type === ExtensionType.ForeignHomeAuth) foreignHome.push(extension);
    }
  }

  // 3.7.3.1: the pending Request with the Reply's home address; the NAI disambiguates several,
  // and a Reply may answer a pending Request with Home Address 0 (matched by NAI, RFC 2794).
  // Then the low-order 32 bits of Identification must match.
  const nai = messageNai(reply.extensions);
  let candidates = input.pending.filter((p) => p.homeAddress >>> 0 === reply.homeAddress >>> 0);
  if (candidates.length > 1 && nai !== undefined) candidates = candidates.filter((p) => p.nai === nai);
  if (candidates.length === 0 && nai !== undefined) candidates = input.pending.filter((p) => p.homeAddress === 0 && p.nai === nai);
  if (candidates.length === 0) {
    return {
      kind: 'discard',
      reason: 'no-pending-request',
      detail: `no pending Request for home address ${ipv4ToString(reply.homeAddress)}${nai === undefined ? '' : ` / NAI ${JSON.stringify(nai)}`} (RFC 5944 3.7.3.1)`,
      securityException: false,
    };
  }
  // The home agent answers from the address and port the Request went to (3.8.3.1: IP Source
  // "Copied from the IP Destination Address of the Request", UDP Source Port from its
  // Destination Port, which is 434, 3.7.2.2). Anything else is not its Reply (fromHomeAgentOf).
  const fromRelayedTo = candidates.filter((p) => fromHomeAgentOf(p, reply, input.source, input.sourcePort));
  if (fromRelayedTo.length === 0) {
    const expected = [...new Set(candidates.map((p) => `${ipv4ToString(p.homeAgent)}:${MOBILE_IP_PORT}`))].join(', ');
    return {
      kind: 'discard',
      reason: 'unexpected-reply-source',
      detail: `Reply from ${ipv4ToString(input.source)}:${input.sourcePort}, but the Request for ${ipv4ToString(reply.homeAddress)} was relayed to ${expected} (RFC 5944 3.8.3.1, 3.7.3.1)`,
      securityException: true,
    };
  }
  candidates = fromRelayedTo;
  const pending = candidates.find((p) => p.identification.low >>> 0 === reply.identification.low >>> 0);
  if (pending === undefined) {
    return {
      kind: 'discard',
      reason: 'identification-mismatch',
      detail: `low-order Identification 0x${(reply.identification.low >>> 0).toString(16)} matches no pending Request (RFC 5944 3.7.3.1)`,
      securityException: false,
    };
  }

  const mobileNode = input.mobileNodeOf?.(pending);
  const reject = (code: 68 | 71, detail: string, securityException: boolean): FaReplyVerdict => ({
    kind: 'reject',
    code,
    detail,
    securityException,
    pending,
    datagram: buildFaDenial(pending, code, pending.requestedLifetime, settings, mobileNode),
  });

  // 3.7.3.1 / 3.7.1: with an association shared with the home agent, exactly one valid FHAE;
  // else the Reply is discarded, logged, the registration rejected and 68 sent. 3.5.4 forbids
  // the FHAE on deregistration messages (R3.5.4-2), so a Reply to a deregistration is exempt,
  // which also covers 3.7.1's "when the Registration Reply has nonzero Lifetime" (R3.7.1-10):
  // an accepted Reply to a registration never has Lifetime 0 (3.4).
  const homeAgentAssociation = input.homeAgent !== undefined && input.homeAgent.first() !== undefined ? input.homeAgent : undefined;
  if (homeAgentAssociation !== undefined && pending.requestedLifetime !== 0) {
    let failure: string | undefined;
    if (foreignHome.length !== 1) {
      failure = foreignHome.length === 0 ? 'no Foreign-Home Authentication Extension' : `${foreignHome.length} Foreign-Home Authentication Extensions, exactly one is allowed`;
    } else {
      const extension = foreignHome[0]!;
      const context = homeAgentAssociation.get(extension.spi);
      if (context === undefined) failure = `no home agent security context with SPI ${extension.spi}`;
      else if (!verifyAuthenticator(context.algorithm, context.key, message, extension)) failure = `Foreign-Home authenticator (SPI ${extension.spi}) is invalid`;
    }
    if (failure !== undefined) return reject(FaReplyCode.HomeAgentFailedAuthentication, `${failure} (RFC 5944 3.7.3.1)`, true);
  }

  // 3.4: "An authorization-enabling extension MUST be included in all Registration Replies
  // returned by the home agent", first among the authentication extensions (3.2). Without it
  // the node cannot authenticate the Reply: 71 "poorly formed Reply" instead of relaying it.
  if (mobileHome === undefined || lastMobileHome === undefined) {
    return reject(FaReplyCode.PoorlyFormedReply, 'the Reply has no Mobile-Home Authentication Extension (RFC 5944 3.4)', false);
  }
  if (authenticationBeforeMobileHome !== undefined && authenticationBeforeMobileHome.type !== ExtensionType.ForeignHomeAuth) {
    return reject(
      FaReplyCode.PoorlyFormedReply,
      `authentication extension type ${authenticationBeforeMobileHome.type} precedes the Mobile-Home Authentication Extension (RFC 5944 3.2)`,
      false,
    );
  }

  // 3.7.3.2: relay unchanged through the (last) MHAE (R3.7.3.2-5); remove what no
  // authorization-enabling extension covers (the FHAE, FA-bound extensions, R3.7.3.2-7); append
  // an MFAE when the agent shares an association with the node (R3.7.1-11).
  const keptEnd = authExtensionEnd(lastMobileHome);
  const prefix = message.subarray(0, keptEnd);
  const removedExtensions = reply.extensions.filter((extension) => extension.offset >= keptEnd).length;
  const context = mobileNode?.first();
  const bytes = context === undefined ? prefix.slice() : appendAuthentication(prefix, ExtensionType.MobileForeignAuth, context);
  const keptExtensions = reply.extensions.filter((extension) => extension.offset < keptEnd);
  const relayed: RegistrationReply = {
    ...reply,
    extensions:
      context === undefined
        ? keptExtensions
        : [
            ...keptExtensions,
            {
              kind: 'auth',
              type: ExtensionType.MobileForeignAuth,
              spi: readU32(bytes, keptEnd + 2),
              offset: keptEnd,
              authenticator: bytes.subarray(keptEnd + AUTH_HEADER_LENGTH),
            },
          ],
  };

  // The visitor entry (3.7.3.2): accepted with a nonzero Lifetime → the minimum of the Reply's
  // Lifetime, the Request's (R3.4-4: a larger Reply Lifetime is not honoured; the Reply itself
  // cannot be changed, R3.7.3.2-5) and the agent's own maximum (R3.7.3.2-2); accepted with 0 →
  // the entry goes (R3.7.3.2-3); denied → only the pending registration goes (R3.7.3.2-4).
  let visitorUpdate: VisitorUpdate;
  if (!isAcceptedCode(reply.code)) visitorUpdate = { kind: 'denied' };
  else if (reply.lifetime === 0) visitorUpdate = { kind: 'deregister' };
  else visitorUpdate = { kind: 'register', lifetime: Math.min(reply.lifetime, pending.requestedLifetime === 0 ? reply.lifetime : pending.requestedLifetime, settings.registrationLifetime) };

  return {
    kind: 'relay',
    pending,
    code: reply.code,
    visitorUpdate,
    removedExtensions,
    datagram: {
      reply: relayed,
      bytes,
      // 3.7.3.2: the IP and UDP fields "according to the same rules specified in 3.7.2.3".
      ipSource: isMulticastOrBroadcast(pending.ipDestination) ? settings.linkAddress : pending.ipDestination,
      ipDestination: reply.homeAddress !== 0 ? reply.homeAddress : LIMITED_BROADCAST,
      udpSourcePort: MOBILE_IP_PORT,
      udpDestinationPort: pending.udpSourcePort,
      linkLayerDestination: pending.linkLayerSource,
    },
  };
}
