/**
 * The home agent's side of Mobile IP NAT traversal (RFC 3519): whether a registration gets a
 * UDP tunnel, what the Reply says about it, and where the tunnel goes. Pure: the runtime
 * passes the Request, its IP source and UDP source port and the policy; it applies the
 * decision (binding, forwarding table, Reply extension).
 *
 * Readings taken here (docs/protocol.md, "NAT traversal"):
 * - NAT detection (RFC 3519, "Home Agent Considerations"): the Request's IP source address differs from its
 *   Care-of Address. With the 'R' flag (a co-located node registering through a foreign agent
 *   whose advertisement had 'R') the source is the foreign agent and the difference is
 *   expected; a UDP tunnel reaches the node through a NAT or not while IP in IP to a private
 *   address never does, so the safer reading for the node's traffic is to treat it as
 *   detected too.
 * - 'F' (force, RFC 3519's UDP Tunnel Request Extension): UDP tunnelling even when no NAT is seen (a node that knows of
 *   a firewall passing UDP only).
 * - The extension is honoured wherever it stands: before the Mobile-Home Authentication
 *   Extension (put there by the node, authenticated by it) or after it (added by a foreign
 *   agent behind a NAT, RFC 3519 "Foreign Agent Considerations", covered by its Foreign-Home extension if any). The Reply
 *   extension goes on the same side (RFC 3519's UDP Tunnel Reply Extension): before the MHAE for the node, after it
 *   for the foreign agent, which then strips it before relaying. One after the MHAE also tells
 *   the runtime that a foreign agent behind a NAT sent the Request (`addedByForeignAgent`).
 * - Bytes are io/wire/udp-tunnel.ts's: this module reads its decoded extension, the runtime
 *   builds the Reply's with its `udpTunnelReply`.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { RegistrationRequest } from '../io/wire/registration-types.js';
import { ExtensionType } from '../io/wire/registration-types.js';
import { ReplyCode } from '../io/wire/reply-codes.js';
import { malformedUdpTunnelExtension, TunnelNextHeader, udpTunnelRequestOf, type UdpTunnelRequestExtension } from '../io/wire/udp-tunnel.js';

/**
 * homeAgent.udpTunnel and its per-node override:
 * - 'allowed': granted to a node that asks and is behind a NAT (or forces it);
 * - 'required': every registration must ask; one that does not is denied (129);
 * - 'refused': never granted; a node that asks gets tunnelling declined (64) in the Reply, or,
 *   when it forces it, the registration is denied with 142.
 */
export type UdpTunnelPolicy = 'allowed' | 'required' | 'refused';

/** The Request's UDP Tunnel Request extension (as io/wire decoded it) and which side of the MHAE it stands on. */
export interface PlacedUdpTunnelRequest {
  readonly extension: UdpTunnelRequestExtension;
  /** Placed before the Mobile-Home Authentication Extension (by the node) or after it (by a foreign agent). */
  readonly beforeMobileHomeAuth: boolean;
}

/**
 * The Request's UDP Tunnel Request extension with Sub-Type 0, or undefined. Another Sub-Type
 * is one RFC 3519 does not define; the extension being skippable (3.1), it is ignored. The
 * side is read from the list order, which is the order of the message (the decoder keeps it).
 */
export function placedUdpTunnelRequest(request: RegistrationRequest): PlacedUdpTunnelRequest | undefined {
  const extension = udpTunnelRequestOf(request.extensions);
  if (extension === undefined || extension.subType !== 0) return undefined;
  const extensions = request.extensions;
  const at = extensions.indexOf(extension as (typeof extensions)[number]);
  const mobileHome = extensions.findIndex((e) => e.kind === 'auth' && e.type === ExtensionType.MobileHomeAuth);
  return { extension, beforeMobileHomeAuth: mobileHome < 0 || at < mobileHome };
}

/**
 * Whether the Request was sent on by a foreign agent behind a NAT: its UDP Tunnel Request
 * extension stands after the Mobile-Home Authentication Extension, where only a foreign agent
 * puts one (RFC 3519, foreign agent considerations: the node's own goes before the MHAE).
 */
export function addedByForeignAgent(request: RegistrationRequest): boolean {
  const placed = placedUdpTunnelRequest(request);
  return placed !== undefined && !placed.beforeMobileHomeAuth;
}

export interface UdpTunnelInput {
  readonly request: RegistrationRequest;
  /** The IP source address and UDP source port the Request arrived from (the NAT's, behind one). */
  readonly ipSource: Ipv4Address;
  readonly sourcePort: number;
  readonly policy: UdpTunnelPolicy;
  readonly keepaliveInterval: number;
  /** Encapsulations this agent offers inside UDP besides IP in IP (4 is always offered, RFC 5944 4.1). */
  readonly encapsulations: { readonly minimal: boolean; readonly gre: boolean };
}

export type UdpTunnelDecision =
  /** No UDP tunnel and nothing about it in the Reply. */
  | { readonly kind: 'none'; readonly natDetected: boolean }
  /** No UDP tunnel; the Reply carries the extension with code 64 (RFC 3519). */
  | { readonly kind: 'declined'; readonly natDetected: boolean; readonly beforeMobileHomeAuth: boolean; readonly detail: string }
  /** Deny the registration with `code` (142, or 129 when required but not asked). */
  | { readonly kind: 'deny'; readonly code: number; readonly reason: 'udp-encapsulation-unavailable' | 'udp-tunnel-required' | 'udp-tunnel-extension-malformed'; readonly detail: string }
  /** Tunnel in UDP to `address:port`; the Reply carries code 0, F echoed, the Keepalive Interval. */
  | {
      readonly kind: 'grant';
      readonly natDetected: boolean;
      readonly address: Ipv4Address;
      readonly port: number;
      readonly forced: boolean;
      readonly keepaliveInterval: number;
      /** 4 IP in IP, 47 GRE, 55 minimal: what follows the tunnel data header. */
      readonly encapsulation: 4 | 47;
      readonly beforeMobileHomeAuth: boolean;
    };

/** RFC 3519 "Home Agent Considerations": a NAT between the sender and the agent (see the module comment for 'R'). */
export function natDetected(request: RegistrationRequest, ipSource: Ipv4Address, placed: PlacedUdpTunnelRequest | undefined): boolean {
  if (ipSource >>> 0 !== request.careOfAddress >>> 0) return true;
  return placed?.extension.registrationThroughFa === true;
}

/**
 * The decision for an otherwise acceptable registration (checkHaRequest said accept). A
 * deregistration (Lifetime 0) creates no tunnel: nothing to decide.
 */
export function decideUdpTunnel(input: UdpTunnelInput): UdpTunnelDecision {
  const { request, policy } = input;
  const malformed = malformedUdpTunnelExtension(request.extensions);
  if (malformed !== undefined) {
    // RFC 3519 3.1 fixes Length 6; another is a poorly formed Request (RFC 5944 3.8.2.1, 134).
    return { kind: 'deny', code: ReplyCode.HaPoorlyFormedRequest, reason: 'udp-tunnel-extension-malformed', detail: malformed.message };
  }
  const placed = placedUdpTunnelRequest(request);
  const nat = natDetected(request, input.ipSource, placed);
  if (request.lifetime === 0) return { kind: 'none', natDetected: nat };
  if (placed === undefined) {
    if (policy === 'required') {
      // RFC 3519 names no code for "UDP tunnelling mandatory"; 142 says the agent cannot do it,
      // which would mislead, so the administrative refusal (RFC 5944 3.4) it is.
      return { kind: 'deny', code: ReplyCode.HaAdministrativelyProhibited, reason: 'udp-tunnel-required', detail: 'this home agent requires UDP tunnelling (RFC 3519) for this mobile node and the Request has no UDP Tunnel Request extension' };
    }
    return { kind: 'none', natDetected: nat };
  }
  const extension = placed.extension;
  if (policy === 'refused') {
    if (extension.force) {
      // The node insists: accepting without the tunnel it demands would black-hole it.
      return { kind: 'deny', code: ReplyCode.HaUdpEncapsulationUnavailable, reason: 'udp-encapsulation-unavailable', detail: "UDP tunnelling forced ('F') but refused to this mobile node (RFC 3519)" };
    }
    return { kind: 'declined', natDetected: nat, beforeMobileHomeAuth: placed.beforeMobileHomeAuth, detail: 'UDP tunnelling refused to this mobile node' };
  }
  const encapsulation = extension.encapsulation;
  // Minimal encapsulation (55) rewrites the original header into the outer one (RFC 2004), which
  // a UDP tunnel does not have: only IP in IP and GRE are carried in UDP here.
  const offered = encapsulation === TunnelNextHeader.IpInIp || (encapsulation === TunnelNextHeader.Gre && input.encapsulations.gre);
  if (!offered) {
    // RFC 3519: the encapsulation asked for inside UDP is not one this agent does.
    return { kind: 'deny', code: ReplyCode.HaUdpEncapsulationUnavailable, reason: 'udp-encapsulation-unavailable', detail: `UDP tunnel encapsulation ${encapsulation} is not offered by this home agent (RFC 3519)` };
  }
  if (!nat && !extension.force && policy !== 'required') return { kind: 'none', natDetected: false };
  return {
    kind: 'grant',
    natDetected: nat,
    address: input.ipSource,
    port: input.sourcePort,
    forced: extension.force,
    keepaliveInterval: input.keepaliveInterval,
    encapsulation: encapsulation as 4 | 47,
    beforeMobileHomeAuth: placed.beforeMobileHomeAuth,
  };
}

/**
 * NAT rebinding (RFC 3519 "Home Agent Considerations": tunnelled traffic goes to where the
 * node's traffic comes from): how an arrival compares with the binding's translated address
 * and port.
 */
export function rebindingTarget(
  current: { readonly address: Ipv4Address; readonly port: number },
  arrived: { readonly address: Ipv4Address; readonly port: number },
): 'same' | 'new-port' | 'new-address' {
  if (current.address >>> 0 === arrived.address >>> 0) return current.port === arrived.port ? 'same' : 'new-port';
  return 'new-address';
}
