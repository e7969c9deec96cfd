/**
 * The home agent's validity checks of a Registration Request (RFC 5944 3.8.2.1-3.8.2.3,
 * 3.8.3.2): one pure function from a decoded Request (and its bytes) to a verdict — discard,
 * deny with a code, or accept. Authentication comes first, so an unauthenticated Request only
 * ever gets a silent discard or a 131; the order and its reasons: docs/protocol.md ("Registration checks, in order").
 * Time (`nowUnixMs`) and randomness (`nextNonce`) are inputs.
 */
import type { UdpTunnelPolicy } from './ha-udp-tunnel.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import { ipv4ToString } from '../io/wire/bytes.js';
import { isInPrefix, isUnicast, LIMITED_BROADCAST, subnetBroadcast } from '../io/wire/ipv4-address.js';
import {
  ExtensionType,
  RequestFlag,
  type AuthExtension,
  type Identification,
  type RegistrationRequest,
} from '../io/wire/registration-types.js';
import { verifyAuthenticator } from './auth.js';
import { grantLifetime } from './lifetime.js';
import {
  acceptedReplyIdentification,
  checkNonceIdentification,
  checkTimestampIdentification,
  nonceReplyIdentification,
  sameIdentification,
  type ReplayState,
  type ReplayStateUpdate,
} from './replay.js';
import { ReplyCode } from '../io/wire/reply-codes.js';
import type { MobilitySecurityContext, SecurityContextLookup } from './security-association.js';

/** Registration Reply codes a home agent sends (3.4; 137-139 from RFC 3024 3.4), named as this module uses them. */
export const HaReplyCode = {
  Accepted: ReplyCode.Accepted,
  AcceptedWithoutSimultaneousBindings: ReplyCode.AcceptedNoSimultaneousBindings,
  ReasonUnspecified: ReplyCode.HaReasonUnspecified,
  AdministrativelyProhibited: ReplyCode.HaAdministrativelyProhibited,
  InsufficientResources: ReplyCode.HaInsufficientResources,
  MobileNodeFailedAuthentication: ReplyCode.HaMobileNodeFailedAuthentication,
  ForeignAgentFailedAuthentication: ReplyCode.ForeignAgentFailedAuthentication,
  IdentificationMismatch: ReplyCode.IdentificationMismatch,
  PoorlyFormedRequest: ReplyCode.HaPoorlyFormedRequest,
  TooManySimultaneousBindings: ReplyCode.TooManySimultaneousBindings,
  UnknownHomeAgentAddress: ReplyCode.UnknownHomeAgentAddress,
  ReverseTunnelUnavailable: ReplyCode.HaReverseTunnelUnavailable,
  ReverseTunnelMandatory: ReplyCode.HaReverseTunnelMandatory,
  EncapsulationUnavailable: ReplyCode.HaEncapsulationUnavailable,
} as const;

/**
 * What the home agent does with 'T' (RFC 3024) for a node: `allowed` grants it when asked,
 * `required` refuses a registration without it (138), `refused` refuses one with it (137).
 */
export type ReverseTunnelPolicy = 'allowed' | 'required' | 'refused';

/** Why a Request was silently discarded (counted and logged by the runtime). */
export type DiscardReason =
  /** Invalid non-zero UDP checksum (3.8.2.1). */
  | 'udp-checksum'
  /** An unrecognised extension of type 0-127 (1.8). */
  | 'unknown-non-skippable-extension'
  /** No Mobile-Home Authentication Extension (3.8.2.1 a). */
  | 'no-authorization-extension'
  /** The home agent does not serve (has no association with) the mobile node (3.8.2.1 a). */
  | 'unknown-mobile-node'
  /** The mobile node is configured but has no security context (3.8.2.1 a). */
  | 'no-security-association'
  /** Mobile-Home authenticator invalid and no Reply is sent (3.8.2.1 a). */
  | 'bad-authenticator'
  /** A Foreign-Home Authentication Extension from a foreign agent without an association (3.8.2.1 d). */
  | 'fha-without-association';

/** Why a Request was denied; each maps to one Reply code. */
export type DenyReason =
  | 'mobile-node-failed-authentication' // 131
  | 'identification-mismatch' // 133
  | 'foreign-agent-failed-authentication' // 132
  | 'misplaced-authentication-extension' // 134
  | 'reserved-bits-set' // 134
  | 'unusable-care-of-address' // 134
  | 'broadcast-destination' // 136
  | 'unknown-home-agent-address' // 136
  | 'nai-mismatch' // 129
  | 'home-address-not-supported' // 129
  | 'encapsulation-unavailable' // 129
  | 'reverse-tunnel-unavailable' // 137
  | 'reverse-tunnel-mandatory' // 138
  | 'reverse-tunnel-encapsulation-unavailable'; // 139

export type Encapsulation = 'ip-in-ip' | 'minimal' | 'gre';

export type { ReplayStateUpdate };

export type HaVerdict =
  | {
      readonly kind: 'discard';
      readonly reason: DiscardReason;
      readonly detail: string;
      /** 3.8.2.1 asks to log some discards as security exceptions. */
      readonly securityException: boolean;
    }
  | {
      readonly kind: 'deny';
      readonly code: number;
      readonly reason: DenyReason;
      readonly detail: string;
      readonly replyIdentification: Identification;
      /** The context to compute the Reply's Mobile-Home Authentication Extension with (3.8.2.1 a, 3.4). */
      readonly replyContext: MobilitySecurityContext;
      /** The Reply's Home Agent field (3.8.3.2). */
      readonly homeAgentField: Ipv4Address;
      /** The Reply's Home Address field: the Request's, copied (3.8.3.2); 0 stays 0 on a denial. */
      readonly homeAddressField: Ipv4Address;
      readonly securityException: boolean;
      /**
       * Replay state to apply (advanceReplayState) once the Reply is sent; absent when nothing
       * may change: 131, 133 under timestamps, any denial of a duplicate (3.8.2.2).
       */
      readonly replayUpdate?: ReplayStateUpdate;
      /** See the accept verdict's `replayable`; here also every 133. */
      readonly replayable: boolean;
    }
  | {
      readonly kind: 'accept';
      /** 0, or 1 when the home agent does not support simultaneous bindings (3.8.2.2, 3.8.3.2). */
      readonly code: 0 | 1;
      readonly operation: 'register' | 'deregister-one' | 'deregister-all';
      /** The Reply's Lifetime and the binding's (3.8.3.2). 0 for deregistrations. */
      readonly grantedLifetime: number;
      /** Keep the node's other bindings: the 'S' bit set and supported (3.8.2.2). */
      readonly simultaneous: boolean;
      readonly replyIdentification: Identification;
      readonly replyContext: MobilitySecurityContext;
      readonly encapsulation: Encapsulation;
      /** Tunnel home-network broadcasts to the node: 'B' set and broadcasts supported (3.8.2, 4.3). */
      readonly broadcast: boolean;
      readonly reverseTunnel: boolean;
      /** The 'D' bit: the node decapsulates itself (co-located care-of address), 3.6.1.2, 4.3. */
      readonly decapsulatedByMobileNode: boolean;
      /** The node's home address: the Request's, or the configured one when the field was 0 (3.8.1, RFC 2794). */
      readonly homeAddress: Ipv4Address;
      readonly careOfAddress: Ipv4Address;
      /** The Reply's Home Agent field: the Request's, which is an address of this home agent (3.8.3.2). */
      readonly homeAgentField: Ipv4Address;
      /** Absent for a duplicate of a current registration (3.8.2.2), which changes no replay state. */
      readonly replayUpdate?: ReplayStateUpdate;
      /**
       * Whether anyone resending a captured Request could have drawn this Reply: a duplicate
       * of a current registration (3.8.2.2) or, on a denial, a 133. Only the node can make a
       * fresh Request, so every other Reply answers the node itself; these the runtime bounds
       * per node and never makes larger than the Request (no amplification toward a spoofed
       * source).
       */
      readonly replayable: boolean;
    };

export interface HomeAgentSettings {
  /** Unicast addresses of this home agent; the first one on the home network answers 136 (3.8.3.2). */
  readonly addresses: readonly Ipv4Address[];
  readonly homeNetwork: Ipv4Address;
  readonly prefixLength: number;
  readonly simultaneousBindings: boolean;
  /** Whether broadcasts are tunnelled to mobile nodes that ask (4.3). */
  readonly broadcast: boolean;
  readonly encapsulations: { readonly minimal: boolean; readonly gre: boolean };
  /** The default reverse tunnel policy of the nodes (RFC 3024); a node's own `reverseTunnel` wins. Default: from `reverseTunneling`. */
  readonly reverseTunnel?: ReverseTunnelPolicy;
  /** The older switch, used when `reverseTunnel` is absent: true → 'allowed', false or absent → 'refused'. */
  readonly reverseTunneling?: boolean;
  /** UDP tunnelling (RFC 3519) for the nodes by default; a node's own `udpTunnel` wins. Default 'allowed'. */
  readonly udpTunnel?: UdpTunnelPolicy;
  /** Keepalive Interval granted in the UDP Tunnel Reply, seconds. Default 110 (RFC 3519). */
  readonly udpKeepaliveInterval?: number;
  /**
   * Send 131 when the Mobile-Home authenticator is invalid and no foreign agent association
   * vouches for the sender (3.8.2.1 a makes it a MAY). Default true.
   */
  readonly replyOnAuthFailure?: boolean;
  /**
   * When the 'M' or 'G' encapsulation asked for is disabled, tunnel with IP in IP instead of
   * denying with 129. 4.1 leaves alternative encapsulations "at the discretion of the home
   * agent" and every decapsulator must support IP in IP, so both are conformant. Default false.
   */
  readonly encapsulationFallback?: boolean;
}

/** The mobile node the runtime resolved for the Request (see mobileNodeKey). */
export interface HaMobileNode {
  readonly homeAddress: Ipv4Address;
  readonly nai?: string;
  readonly contexts: SecurityContextLookup;
  /** Longest Lifetime granted to this node, seconds (0xffff = no limit). */
  readonly maxLifetime: number;
  /** This node's reverse tunnel policy (RFC 3024); absent: the home agent's default. */
  readonly reverseTunnel?: ReverseTunnelPolicy;
  /** This node's UDP tunnelling policy (RFC 3519); absent: the home agent's default. */
  readonly udpTunnel?: UdpTunnelPolicy;
}

/** The reverse tunnel policy that applies to `node` under `settings` (see ReverseTunnelPolicy). */
export function reverseTunnelPolicyOf(settings: HomeAgentSettings, node: Pick<HaMobileNode, 'reverseTunnel'>): ReverseTunnelPolicy {
  return node.reverseTunnel ?? settings.reverseTunnel ?? (settings.reverseTunneling === true ? 'allowed' : 'refused');
}

export interface HaRequestInput {
  readonly request: RegistrationRequest;
  /** The UDP payload as received; authenticators are checked over it (3.5.1). */
  readonly message: Uint8Array;
  /** False only for an invalid NON-ZERO checksum; a zero checksum is accepted (3.1). */
  readonly udpChecksumValid: boolean;
  readonly ipSource: Ipv4Address;
  readonly ipDestination: Ipv4Address;
  readonly homeAgent: HomeAgentSettings;
  /** Undefined when the home agent does not serve this node. */
  readonly mobileNode?: HaMobileNode;
  /**
   * The association with the foreign agent at `ipSource` (3.5.4: selected by the IP source
   * address and the SPI); undefined when the home agent shares none with it.
   */
  readonly foreignAgent?: SecurityContextLookup;
  /** The node's replay state (5.7). */
  readonly replay: ReplayState & {
    /**
     * The node's accepted current registrations. A Request equal to one of them in care-of
     * address and Identification is a duplicate (3.8.2.2), e.g. a retransmission whose Reply
     * was lost (3.6.3), or a replay by anyone who captured it: it changes no replay state at
     * all (an older copy must not move it back), and the binding keeps the lifetime originally
     * granted.
     */
    readonly current?: ReadonlyArray<{ readonly careOfAddress: Ipv4Address; readonly identification: Identification }>;
  };
  readonly nowUnixMs: number;
  /** A fresh random 32-bit value, used if this Reply must carry a new nonce (5.7.2). */
  readonly nextNonce: number;
}

// --- helpers the runtime uses too -------------------------------------------------------------

/**
 * The NAI (RFC 2794) the mobile node authenticated: the first Mobile Node NAI extension placed
 * before the Mobile-Home Authentication Extension, which covers it (3.6.1.3 b). An NAI after it
 * could have been added by anyone on the path and is ignored.
 */
export function requestNai(request: RegistrationRequest): string | undefined {
  for (const extension of request.extensions) {
    if (extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth) return undefined;
    if (extension.kind === 'nai') return extension.nai;
  }
  return undefined;
}

/** How the runtime finds the mobile node a Request is for. */
export type MobileNodeKey =
  /** The Home Address field (nonzero): associations are indexed by the home address (3.2). */
  | { readonly kind: 'home-address'; readonly homeAddress: Ipv4Address }
  /** Home Address 0 with an NAI: the node identifies itself by NAI (3.6, RFC 2794). */
  | { readonly kind: 'nai'; readonly nai: string }
  /**
   * Home Address 0 and no NAI: there is no way to pick a security association, so the Request
   * cannot be authenticated and is discarded (3.8.2.1 a); pass mobileNode undefined.
   */
  | { readonly kind: 'none' };

export function mobileNodeKey(request: RegistrationRequest): MobileNodeKey {
  if (request.homeAddress !== 0) return { kind: 'home-address', homeAddress: request.homeAddress };
  const nai = requestNai(request);
  return nai === undefined ? { kind: 'none' } : { kind: 'nai', nai };
}

/** "the home agent's unicast address" for Replies that correct the Home Agent field (3.8.2.1, 3.8.3.2). */
export function homeAgentUnicastAddress(settings: HomeAgentSettings): Ipv4Address {
  for (const address of settings.addresses) {
    if (isInPrefix(address, settings.homeNetwork, settings.prefixLength)) return address;
  }
  const first = settings.addresses[0];
  if (first === undefined) throw new RangeError('a home agent needs at least one address (RFC 5944 3.8.1)');
  return first;
}

/** Whether a care-of address can terminate a tunnel: not 0, loopback, multicast, class E or broadcast. */
function isUnicastCareOf(address: Ipv4Address, settings: HomeAgentSettings): boolean {
  return isUnicast(address) && address >>> 0 !== subnetBroadcast(settings.homeNetwork, settings.prefixLength);
}

// --- the checks -----------------------------------------------------------------------------

function discard(reason: DiscardReason, detail: string, securityException = false): HaVerdict {
  return { kind: 'discard', reason, detail, securityException };
}

type ForeignHomeStatus = 'absent' | 'valid' | 'invalid';

/**
 * The Foreign-Home Authentication Extension check of 3.8.2.1 c: exactly one, and its
 * authenticator verifies with the foreign agent context its SPI selects (3.5.4).
 */
function foreignHomeStatus(
  extensions: readonly AuthExtension[],
  foreignAgent: SecurityContextLookup,
  message: Uint8Array,
): { status: ForeignHomeStatus; detail: string } {
  if (extensions.length === 0) return { status: 'absent', detail: 'no Foreign-Home Authentication Extension' };
  if (extensions.length > 1) {
    return { status: 'invalid', detail: `${extensions.length} Foreign-Home Authentication Extensions, exactly one is allowed` };
  }
  const extension = extensions[0]!;
  const context = foreignAgent.get(extension.spi);
  if (context === undefined) {
    return { status: 'invalid', detail: `no foreign agent security context with SPI ${extension.spi}` };
  }
  if (!verifyAuthenticator(context.algorithm, context.key, message, extension)) {
    return { status: 'invalid', detail: `Foreign-Home authenticator (SPI ${extension.spi}) is invalid` };
  }
  return { status: 'valid', detail: 'Foreign-Home authenticator valid' };
}

/** The replay state to record for an authenticated Request whose Identification was valid. */
function replayUpdateAfterValid(context: MobilitySecurityContext, request: RegistrationRequest, nextNonce: number): ReplayStateUpdate {
  return context.replay === 'nonce'
    ? { kind: 'nonce', expectedNonce: nextNonce >>> 0 }
    : { kind: 'timestamp', lastAccepted: request.identification };
}

/** The validity checks of a Registration Request at the home agent (see the module comment). */
export function checkHaRequest(input: HaRequestInput): HaVerdict {
  const { request, message, homeAgent: settings } = input;

  // 1. 3.8.2.1: "Registration Requests with an invalid, non-zero UDP checksum MUST be silently
  //    discarded by the home agent." (A zero checksum is accepted, 3.1.)
  if (!input.udpChecksumValid) return discard('udp-checksum', 'invalid non-zero UDP checksum');

  // Sort the extensions once. The first Mobile-Home Authentication Extension is the
  // authorization-enabling one (3.2: it "MUST be the first authentication extension").
  let mobileHome: AuthExtension[] | undefined;
  let foreignHome: AuthExtension[] | undefined;
  let authenticationBeforeMobileHome: AuthExtension | undefined;
  for (const extension of request.extensions) {
    if (extension.kind === 'unknown') {
      // 2. 1.8: an unrecognised extension of type 0-127 discards the whole message; one of
      //    128-255 is skipped (the codec already delimited it).
      if (!extension.skippable) {
        return discard('unknown-non-skippable-extension', `unrecognised non-skippable extension type ${extension.type} at offset ${extension.offset}`);
      }
      continue;
    }
    if (extension.kind !== 'auth') continue;
    if (extension.type === ExtensionType.MobileHomeAuth) {
      (mobileHome ??= []).push(extension);
    } else {
      if (mobileHome === undefined) authenticationBeforeMobileHome ??= extension;
      if (extension.type === ExtensionType.ForeignHomeAuth) (foreignHome ??= []).push(extension);
    }
  }

  // 3. 3.8.2.1 a: "If the home agent receives a Registration Request without any
  //    authorization-enabling extension, the home agent MUST silently discard" it. The
  //    Mobile-Home Authentication Extension is the only authorization-enabling extension this
  //    home agent understands (3.5.2); it does not delegate the check to other agents (RFC 2794
  //    / AAA) either.
  if (mobileHome === undefined) {
    return discard('no-authorization-extension', 'no Mobile-Home Authentication Extension', true);
  }

  // 4. 3.8.2.1 a: "If the home agent receives a Registration Request from a mobile node with
  //    which it does not have any security association, the home agent MUST silently discard".
  const node = input.mobileNode;
  if (node === undefined) {
    const who = request.homeAddress !== 0 ? `home address ${ipv4ToString(request.homeAddress)}` : `NAI ${JSON.stringify(requestNai(request) ?? '')}`;
    return discard('unknown-mobile-node', `this home agent does not serve the mobile node with ${who}`);
  }
  const fallbackContext = node.contexts.first();
  if (fallbackContext === undefined) {
    return discard('no-security-association', `mobile node ${ipv4ToString(node.homeAddress)} has no security context`);
  }

  // 5. 3.8.2.1 a: check every Mobile-Home authenticator with the context its SPI selects
  //    (3.5.1). Several authorization-enabling extensions may be present as long as all of
  //    them are checked (3.8.2.1 a, Appendix F issue 19). An unknown SPI cannot verify.
  const primary = mobileHome[0]!;
  const context = node.contexts.get(primary.spi);
  let authFailure: string | undefined;
  for (const extension of mobileHome) {
    const selected = extension === primary ? context : node.contexts.get(extension.spi);
    if (selected === undefined) {
      authFailure = `no security context with SPI ${extension.spi} for mobile node ${ipv4ToString(node.homeAddress)}`;
      break;
    }
    if (!verifyAuthenticator(selected.algorithm, selected.key, message, extension)) {
      authFailure = `Mobile-Home authenticator (SPI ${extension.spi}) at offset ${extension.offset} is invalid`;
      break;
    }
  }
  const foreignHomeExtensions = foreignHome ?? [];
  if (authFailure !== undefined || context === undefined) {
    return authenticationFailed(input, node, primary, fallbackContext, foreignHomeExtensions, authFailure ?? 'unknown SPI');
  }

  // 6. 3.8.2.1 b: the Identification, checked with the context that authenticated the
  //    Request, per its replay protection style (5.7). If wrong: 133, with the Identification
  //    5.7 prescribes, and no further processing.
  const replyIdentification = identificationCheck(input, context);
  if (!replyIdentification.valid) {
    return {
      kind: 'deny',
      code: HaReplyCode.IdentificationMismatch,
      reason: 'identification-mismatch',
      detail: replyIdentification.detail,
      replyIdentification: replyIdentification.replyIdentification,
      replyContext: context,
      homeAgentField: replyHomeAgentField(request, settings),
      homeAddressField: request.homeAddress,
      securityException: true,
      // Under nonces the Reply issues a new nonce (5.7.2), valid besides the expected one
      // (ReplayState.resyncNonce); under timestamps nothing was accepted.
      ...(context.replay === 'nonce' ? { replayUpdate: { kind: 'nonce-resync', resyncNonce: input.nextNonce >>> 0 } as const } : {}),
      replayable: true,
    };
  }

  // From here on the Request is authentic, and fresh or a duplicate of a current registration.
  // A fresh one advances the replay state whatever the outcome (a later replay of it is then
  // refused too); a duplicate changes none: it was applied already, and its Identification is
  // older than the state may be by now (5.7.1).
  const replayable = replyIdentification.duplicate;
  const replayUpdate = replayable ? undefined : replayUpdateAfterValid(context, request, input.nextNonce);
  const deny = (
    code: number,
    reason: DenyReason,
    detail: string,
    securityException = false,
    homeAgentField = replyHomeAgentField(request, settings),
  ): HaVerdict => ({
    kind: 'deny',
    code,
    reason,
    detail,
    replyIdentification: replyIdentification.replyIdentification,
    replyContext: context,
    homeAgentField,
    homeAddressField: request.homeAddress,
    securityException,
    replayUpdate,
    replayable,
  });

  // 7. 3.8.2.1 c: with a foreign agent association and a nonzero Lifetime, exactly one valid
  //    Foreign-Home Authentication Extension is required, else 132. With Lifetime 0 the check
  //    is skipped: the foreign agent MUST NOT add one to a deregistration (3.5.4), the HA MAY
  //    skip it (3.8.1) and MUST NOT discard for its absence (3.5.4).
  if (input.foreignAgent !== undefined) {
    if (request.lifetime !== 0) {
      const foreign = foreignHomeStatus(foreignHomeExtensions, input.foreignAgent, message);
      if (foreign.status !== 'valid') {
        return deny(
          HaReplyCode.ForeignAgentFailedAuthentication,
          'foreign-agent-failed-authentication',
          `foreign agent ${ipv4ToString(input.ipSource)}: ${foreign.detail} (RFC 5944 3.8.2.1 c)`,
          true,
        );
      }
    }
  } else if (foreignHomeExtensions.length > 0) {
    // 8. 3.8.2.1 d: a Foreign-Home extension from a sender the home agent shares no
    //    association with MUST be discarded (and logged as a security exception).
    return discard(
      'fha-without-association',
      `Foreign-Home Authentication Extension from ${ipv4ToString(input.ipSource)}, which shares no security association with this home agent`,
      true,
    );
  }

  // 9. 3.2: the authorization-enabling extension "MUST be the first authentication extension";
  //    3.6.1.3 and 3.7.2.2 require Mobile-Foreign and Foreign-Home extensions after it.
  if (authenticationBeforeMobileHome !== undefined) {
    return deny(
      HaReplyCode.PoorlyFormedRequest,
      'misplaced-authentication-extension',
      `authentication extension type ${authenticationBeforeMobileHome.type} at offset ${authenticationBeforeMobileHome.offset} precedes the Mobile-Home Authentication Extension (RFC 5944 3.2, 3.6.1.3)`,
    );
  }

  // 10. Reserved bits. The RFC contradicts itself: 3.3 says 'r' and 'x' are "sent as zero;
  //     ignored on reception", 3.8.2.3 says "Requests with non-zero bits in reserved fields
  //     MUST be rejected with Code 134". We reject: the safer reading for the network, since a
  //     sender setting them may mean something (a future or vendor meaning of the bit) this
  //     home agent would silently not do; a clear 134 beats a binding the node misunderstands.
  if ((request.flags & (RequestFlag.r | RequestFlag.x)) !== 0) {
    return deny(
      HaReplyCode.PoorlyFormedRequest,
      'reserved-bits-set',
      `reserved flag bits set (flags 0x${request.flags.toString(16).padStart(2, '0')}); rejected per RFC 5944 3.8.2.3 although 3.3 says to ignore them`,
    );
  }

  // 11. 3.8.2.1: Requests sent to the subnet-directed broadcast address of the home network
  //     (dynamic home agent discovery, 3.6.1.2) are denied with 136 and the unicast address.
  //     Some routers rewrite that destination to 255.255.255.255, so both count (3.8.2.1).
  if (input.ipDestination >>> 0 === LIMITED_BROADCAST || input.ipDestination >>> 0 === subnetBroadcast(settings.homeNetwork, settings.prefixLength)) {
    const unicast = homeAgentUnicastAddress(settings);
    return deny(
      HaReplyCode.UnknownHomeAgentAddress,
      'broadcast-destination',
      `Request sent to broadcast address ${ipv4ToString(input.ipDestination)}; the home agent's unicast address is ${ipv4ToString(unicast)} (RFC 5944 3.8.2.1)`,
      false,
      unicast,
    );
  }

  // 12. 3.8.3.2: a Home Agent field that is not a unicast address of this home agent is
  //     replaced by the unicast address and the registration rejected (136), so that the node
  //     is never registered with two home agents at once.
  if (!settings.addresses.includes(request.homeAgent)) {
    return deny(
      HaReplyCode.UnknownHomeAgentAddress,
      'unknown-home-agent-address',
      `Home Agent field ${ipv4ToString(request.homeAgent)} is not an address of this home agent (RFC 5944 3.8.3.2)`,
    );
  }

  // 13. 3.8.3.2: a nonzero Home Address the home agent cannot support is rejected with 129.
  //     It must be this node's (the runtime may have found the node by its NAI) and on the home
  //     network. A Home Address of 0 gets the node's configured address: a static association
  //     (3.8.1 MAY, RFC 2794). An NAI that names another node than the one authenticated is
  //     refused too: the foreign agent matches Replies by NAI (3.7.3.1).
  const nai = requestNai(request);
  if (nai !== undefined && node.nai !== undefined && nai !== node.nai) {
    return deny(HaReplyCode.AdministrativelyProhibited, 'nai-mismatch', `NAI ${JSON.stringify(nai)} does not belong to mobile node ${JSON.stringify(node.nai)}`);
  }
  if (request.homeAddress !== 0) {
    if (request.homeAddress >>> 0 !== node.homeAddress >>> 0 || !isInPrefix(request.homeAddress, settings.homeNetwork, settings.prefixLength)) {
      return deny(
        HaReplyCode.AdministrativelyProhibited,
        'home-address-not-supported',
        `home address ${ipv4ToString(request.homeAddress)} is not supported for this mobile node on ${ipv4ToString(settings.homeNetwork)}/${settings.prefixLength} (RFC 5944 3.8.3.2)`,
      );
    }
  }
  const homeAddress = request.homeAddress !== 0 ? request.homeAddress : node.homeAddress;

  // 14. What a binding asks of the tunnel; irrelevant to a deregistration, which creates none.
  let encapsulation: Encapsulation = 'ip-in-ip';
  let reverseTunnel = false;
  if (request.lifetime !== 0) {
    // Project rule (the RFC is silent): a tunnel to 0.0.0.0, loopback, multicast or broadcast
    // black-holes the node's traffic, and one to its own home address loops back into the
    // home agent (a deregistration uses Lifetime 0 for that, 3.6.1.2). Poorly formed: 134.
    if (!isUnicastCareOf(request.careOfAddress, settings) || request.careOfAddress >>> 0 === homeAddress >>> 0) {
      return deny(
        HaReplyCode.PoorlyFormedRequest,
        'unusable-care-of-address',
        `care-of address ${ipv4ToString(request.careOfAddress)} cannot terminate a tunnel for home address ${ipv4ToString(homeAddress)}`,
      );
    }

    // 'T', reverse tunnelling (RFC 3024), checked before the forward encapsulation: a refusal
    // of the reverse tunnel names RFC 3024's own code rather than 3.4's general 129.
    const wantsMinimal = (request.flags & RequestFlag.M) !== 0;
    const wantsGre = (request.flags & RequestFlag.G) !== 0;
    const wantsReverse = (request.flags & RequestFlag.T) !== 0;
    const policy = reverseTunnelPolicyOf(settings, node);
    if (wantsReverse && policy === 'refused') {
      // RFC 3024 3.4: 137 "requested reverse tunnel unavailable".
      return deny(HaReplyCode.ReverseTunnelUnavailable, 'reverse-tunnel-unavailable', 'reverse tunnel requested but not offered to this mobile node (RFC 3024 3.4)');
    }
    if (!wantsReverse && policy === 'required') {
      // RFC 3024 3.4: 138 "reverse tunnel is mandatory and 'T' bit not set".
      return deny(HaReplyCode.ReverseTunnelMandatory, 'reverse-tunnel-mandatory', "this home agent requires a reverse tunnel for this mobile node and the 'T' bit is not set (RFC 3024 3.4)");
    }
    if (wantsReverse && (wantsMinimal || wantsGre) && !(wantsGre && settings.encapsulations.gre) && !(wantsMinimal && settings.encapsulations.minimal)) {
      // RFC 3024 5.2 and 3.3: the reverse tunnel uses the encapsulation the Request negotiates
      // with M/G (the Reply carries none, so the foreign agent or node goes by the Request).
      // This home agent decapsulates only what it offers, so falling back to IP in IP is no
      // option here: 139 "requested encapsulation unavailable".
      const asked = wantsMinimal && wantsGre ? 'minimal or GRE' : wantsMinimal ? 'minimal' : 'GRE';
      return deny(
        HaReplyCode.EncapsulationUnavailable,
        'reverse-tunnel-encapsulation-unavailable',
        `reverse tunnel with ${asked} encapsulation requested but this home agent does not decapsulate it (RFC 3024 3.4)`,
      );
    }
    reverseTunnel = wantsReverse;

    // 'M' and/or 'G' (3.6.1.2 allows both: "the 'M' bit and/or the 'G' bit"; neither 3.3,
    // RFC 2004 nor RFC 2784 make the pair malformed, so both set means "either will do").
    // With both allowed GRE is preferred: minimal encapsulation cannot carry fragments
    // (RFC 2004). When none requested is enabled, 3.4 has no home agent code for "requested
    // encapsulation unavailable" (72 is the foreign agent's; 139 is RFC 3024's, for reverse
    // tunnels, above), and 4.1 leaves these encapsulations to the home agent's discretion: the
    // refusal is an administrative one, 129 — unless encapsulationFallback picks IP in IP.
    if (wantsMinimal || wantsGre) {
      if (wantsGre && settings.encapsulations.gre) encapsulation = 'gre';
      else if (wantsMinimal && settings.encapsulations.minimal) encapsulation = 'minimal';
      else if (settings.encapsulationFallback !== true) {
        const asked = wantsMinimal && wantsGre ? 'minimal or GRE' : wantsMinimal ? 'minimal' : 'GRE';
        return deny(
          HaReplyCode.AdministrativelyProhibited,
          'encapsulation-unavailable',
          `${asked} encapsulation requested but disabled on this home agent (RFC 5944 3.4, 4.1)`,
        );
      }
    }
  }

  // 15. Accept (3.8.2.2). Lifetime 0 with the care-of address equal to the home address
  //     deletes every binding of the node; Lifetime 0 otherwise deletes only the binding for
  //     that care-of address; a nonzero Lifetime adds a binding. The granted Lifetime never
  //     exceeds the request (3.4) and is cut to the node's maximum (3.8.3.2).
  const operation =
    request.lifetime === 0
      ? request.careOfAddress >>> 0 === homeAddress >>> 0
        ? 'deregister-all'
        : 'deregister-one'
      : 'register';
  const simultaneous = (request.flags & RequestFlag.S) !== 0 && settings.simultaneousBindings;
  return {
    kind: 'accept',
    code: settings.simultaneousBindings ? HaReplyCode.Accepted : HaReplyCode.AcceptedWithoutSimultaneousBindings,
    operation,
    grantedLifetime: grantLifetime(request.lifetime, node.maxLifetime),
    simultaneous,
    replyIdentification: replyIdentification.replyIdentification,
    replyContext: context,
    encapsulation,
    // 3.8.2: a home agent that does not support broadcasts MUST ignore 'B', not reject.
    broadcast: (request.flags & RequestFlag.B) !== 0 && settings.broadcast && request.lifetime !== 0,
    reverseTunnel,
    decapsulatedByMobileNode: (request.flags & RequestFlag.D) !== 0,
    homeAddress,
    careOfAddress: request.careOfAddress,
    homeAgentField: request.homeAgent,
    replayUpdate,
    replayable,
  };
}

/** The Reply's Home Agent field: the Request's if it is ours, else our unicast address (3.8.3.2). */
function replyHomeAgentField(request: RegistrationRequest, settings: HomeAgentSettings): Ipv4Address {
  return settings.addresses.includes(request.homeAgent) ? request.homeAgent : homeAgentUnicastAddress(settings);
}

function identificationCheck(
  input: HaRequestInput,
  context: MobilitySecurityContext,
):
  | { valid: true; duplicate: boolean; replyIdentification: Identification }
  | { valid: false; replyIdentification: Identification; detail: string } {
  const received = input.request.identification;
  const careOfAddress = input.request.careOfAddress;
  if (input.replay.current?.some((c) => c.careOfAddress === careOfAddress && sameIdentification(c.identification, received))) {
    // 3.8.2.2 duplicate. Under nonces its Reply repeats the nonce the node must echo next: a
    // retransmission "does not count as a new registration" (3.6.3), so it must not
    // resynchronise the node, and a new nonce here would either be recorded (a state change
    // any replay could cause) or unknown to the home agent. 5.7.2's "a new nonce in every
    // Reply" yields to that; the node gets the Reply the original got.
    const replyIdentification =
      context.replay === 'nonce' ? nonceReplyIdentification(received, input.replay.expectedNonce ?? input.nextNonce) : received;
    return { valid: true, duplicate: true, replyIdentification };
  }
  if (context.replay === 'nonce') {
    const check = checkNonceIdentification({
      received,
      expectedNonce: input.replay.expectedNonce,
      resyncNonce: input.replay.resyncNonce,
      nextNonce: input.nextNonce,
    });
    if (check.valid) return { valid: true, duplicate: false, replyIdentification: check.replyIdentification };
    return {
      valid: false,
      replyIdentification: check.replyIdentification,
      detail:
        check.why === 'no-nonce-issued'
          ? 'no nonce has been issued to this mobile node yet; the Reply carries one (RFC 5944 5.7.2)'
          : `nonce 0x${(received.high >>> 0).toString(16)} is not the one last issued (RFC 5944 5.7.2)`,
    };
  }
  const check = checkTimestampIdentification({
    received,
    lastAccepted: input.replay.lastAcceptedTimestamp,
    nowUnixMs: input.nowUnixMs,
    windowSeconds: context.replayWindowSeconds,
  });
  if (check.valid) return { valid: true, duplicate: false, replyIdentification: acceptedReplyIdentification('timestamp', received, input.nextNonce) };
  return {
    valid: false,
    replyIdentification: check.replyIdentification,
    detail:
      check.why === 'outside-window'
        ? `timestamp is more than ${context.replayWindowSeconds} s from the home agent's clock (RFC 5944 5.7.1)`
        : 'timestamp is not greater than the last accepted one (RFC 5944 5.7.1)',
  };
}

/**
 * 3.8.2.1 a, a failed Mobile-Home authenticator. The registration is rejected and the Request
 * discarded without further processing; whether a 131 Reply goes out depends on who vouches
 * for the sender:
 * - a valid Foreign-Home extension (the foreign agent is authenticated): 131 MUST be sent;
 * - no foreign agent association (a direct Request, or an FA the HA does not know): 131 MAY be
 *   sent (settings.replyOnAuthFailure), unless a Foreign-Home extension is present, which
 *   3.8.2.1 d discards anyway;
 * - a foreign agent association and a deregistration without a Foreign-Home extension (the FA
 *   must not add one, 3.5.4): treated like the previous case;
 * - a foreign agent association but a missing, duplicated or invalid Foreign-Home extension
 *   on a registration: nobody is authenticated, so no Reply.
 * The 131 is authenticated with a context likely to exist in the node: the one the Request
 * named if the home agent has it, else the oldest one (3.8.2.1 a). The replay state never
 * changes: the Request is not authentic. Under nonces the Reply repeats the nonce the node
 * should be using (or a fresh one if none was issued) without recording it.
 */
function authenticationFailed(
  input: HaRequestInput,
  node: HaMobileNode,
  primary: AuthExtension,
  fallbackContext: MobilitySecurityContext,
  foreignHomeExtensions: readonly AuthExtension[],
  failure: string,
): HaVerdict {
  const { request } = input;
  let reply: boolean;
  let why: string;
  if (input.foreignAgent === undefined) {
    if (foreignHomeExtensions.length > 0) {
      reply = false;
      why = 'and a Foreign-Home extension from a foreign agent without an association (3.8.2.1 d)';
    } else {
      reply = input.homeAgent.replyOnAuthFailure ?? true;
      why = reply ? 'no foreign agent association; replying 131' : 'no foreign agent association; replies to failed authentication are disabled';
    }
  } else {
    const foreign = foreignHomeStatus(foreignHomeExtensions, input.foreignAgent, input.message);
    if (foreign.status === 'valid') {
      reply = true;
      why = 'the Foreign-Home extension is valid, so 131 is required';
    } else if (foreign.status === 'absent' && request.lifetime === 0) {
      reply = input.homeAgent.replyOnAuthFailure ?? true;
      why = reply ? 'deregistration without a Foreign-Home extension; replying 131' : 'deregistration without a Foreign-Home extension; replies to failed authentication are disabled';
    } else {
      reply = false;
      why = `and the foreign agent is not authenticated either: ${foreign.detail}`;
    }
  }
  const detail = `${failure} (RFC 5944 3.8.2.1 a); ${why}`;
  if (!reply) return discard('bad-authenticator', detail, true);

  const context = node.contexts.get(primary.spi) ?? fallbackContext;
  const received = request.identification;
  const replyIdentification =
    context.replay === 'nonce' ? nonceReplyIdentification(received, input.replay.expectedNonce ?? input.nextNonce) : received;
  return {
    kind: 'deny',
    code: HaReplyCode.MobileNodeFailedAuthentication,
    reason: 'mobile-node-failed-authentication',
    detail,
    replyIdentification,
    replyContext: context,
    homeAgentField: replyHomeAgentField(request, input.homeAgent),
    homeAddressField: request.homeAddress,
    securityException: true,
    // Bounded by the runtime's own limit on 131s.
    replayable: false,
  };
}
