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
 *   for the foreign agent, which then strips it before relaying.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { RegistrationExtension, RegistrationRequest, UnknownExtension } from '../io/wire/registration-types.js';
import { ExtensionType } from '../io/wire/registration-types.js';

/** RFC 3519, UDP Tunnel Request Extension: skippable (>= 128). */
export const UDP_TUNNEL_REQUEST_TYPE = 144;
/** RFC 3519, UDP Tunnel Reply Extension: not skippable. */
export const UDP_TUNNEL_REPLY_TYPE = 44;
/** RFC 3519, the UDP Tunnel Reply Extension's Reply Codes. */
export const UdpTunnelReplyCode = { WillDoTunnelling: 0, TunnellingDeclined: 64 } as const;
/** RFC 3519's new Registration Reply code: "denied by HA: UDP encapsulation unavailable". */
export const HA_UDP_ENCAPSULATION_UNAVAILABLE = 142;
/** RFC 3519's default keepalive interval, seconds. */
export const DEFAULT_UDP_KEEPALIVE_INTERVAL = 110;

/**
 * homeAgent.udpTunnel and its per-node override:
 * - 'allowed': granted to a node that asks and is behind a NAT (or forces it);
 * - 'required': every registration must ask; one that does not is denied (129);
 * - 'refused': never granted; a node that asks gets tunnelling declined (64) in the Reply, or,
 *   when it forces it, the registration is denied with 142.
 */
export type UdpTunnelPolicy = 'allowed' | 'required' | 'refused';

/** What the runtime reads of a UDP Tunnel Request Extension (RFC 3519). */
export interface UdpTunnelRequestView {
  readonly subType: number;
  /** 'F': use UDP tunnelling even when no NAT is detected. */
  readonly force: boolean;
  /** 'R': registering through a foreign agent with a co-located care-of address. */
  readonly registrationThroughFa: boolean;
  /** IP protocol of what is tunnelled in UDP: 4, 47 or 55. */
  readonly encapsulation: number;
  /** Placed before the Mobile-Home Authentication Extension (by the node) or after it (by a foreign agent). */
  readonly beforeMobileHomeAuth: boolean;
}

const FLAG_FORCE = 0x80;
const FLAG_REGISTRATION_THROUGH_FA = 0x40;

/**
 * The first UDP Tunnel Request Extension of the Request with Sub-Type 0, or undefined. Reads
 * both the decoded form (kind 'udp-tunnel-request', io/wire/udp-tunnel.ts) and the raw one
 * (an unknown skippable TLV extension: Sub-Type, Reserved 1, Flags, Encapsulation,
 * Reserved 3). Another Sub-Type is one this agent does not know; the extension being
 * skippable, it is ignored.
 */
export function udpTunnelRequestOf(request: RegistrationRequest): UdpTunnelRequestView | undefined {
  let beforeMobileHomeAuth = true;
  for (const extension of request.extensions as readonly (RegistrationExtension | DecodedUdpTunnelRequest)[]) {
    if (extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth) {
      beforeMobileHomeAuth = false;
      continue;
    }
    if (extension.kind === 'udp-tunnel-request') {
      if (extension.subType !== 0) continue;
      return { subType: 0, force: extension.force, registrationThroughFa: extension.registrationThroughFa, encapsulation: extension.encapsulation, beforeMobileHomeAuth };
    }
    if (extension.kind === 'unknown' && extension.type === UDP_TUNNEL_REQUEST_TYPE) {
      const view = rawRequestView(extension, beforeMobileHomeAuth);
      if (view !== undefined) return view;
    }
  }
  return undefined;
}

/** The decoded extension's shape (io/wire/udp-tunnel.ts), read structurally. */
interface DecodedUdpTunnelRequest {
  readonly kind: 'udp-tunnel-request';
  readonly subType: number;
  readonly force: boolean;
  readonly registrationThroughFa: boolean;
  readonly encapsulation: number;
}

function rawRequestView(extension: UnknownExtension, beforeMobileHomeAuth: boolean): UdpTunnelRequestView | undefined {
  const data = extension.data;
  // 'short' format: the decoder took the Sub-Type out already.
  const body = extension.subType !== undefined ? data : data.subarray(1);
  const subType = extension.subType ?? data[0];
  if (subType !== 0 || body.length < 5) return undefined;
  const flags = body[1]!;
  return {
    subType,
    force: (flags & FLAG_FORCE) !== 0,
    registrationThroughFa: (flags & FLAG_REGISTRATION_THROUGH_FA) !== 0,
    encapsulation: body[2]!,
    beforeMobileHomeAuth,
  };
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
  | { readonly kind: 'deny'; readonly code: number; readonly reason: 'udp-encapsulation-unavailable' | 'udp-tunnel-required'; readonly detail: string }
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
export function natDetected(request: RegistrationRequest, ipSource: Ipv4Address, extension: UdpTunnelRequestView | undefined): boolean {
  if (ipSource >>> 0 !== request.careOfAddress >>> 0) return true;
  return extension?.registrationThroughFa === true;
}

/**
 * The decision for an otherwise acceptable registration (checkHaRequest said accept). A
 * deregistration (Lifetime 0) creates no tunnel: nothing to decide.
 */
export function decideUdpTunnel(input: UdpTunnelInput): UdpTunnelDecision {
  const { request, policy } = input;
  const extension = udpTunnelRequestOf(request);
  const nat = natDetected(request, input.ipSource, extension);
  if (request.lifetime === 0) return { kind: 'none', natDetected: nat };
  if (extension === undefined) {
    if (policy === 'required') {
      // RFC 3519 names no code for "UDP tunnelling mandatory"; 142 says the agent cannot do it,
      // which would mislead, so the administrative refusal (RFC 5944 3.4) it is.
      return { kind: 'deny', code: 129, reason: 'udp-tunnel-required', detail: 'this home agent requires UDP tunnelling (RFC 3519) for this mobile node and the Request has no UDP Tunnel Request extension' };
    }
    return { kind: 'none', natDetected: nat };
  }
  if (policy === 'refused') {
    if (extension.force) {
      // The node insists: accepting without the tunnel it demands would black-hole it.
      return { kind: 'deny', code: HA_UDP_ENCAPSULATION_UNAVAILABLE, reason: 'udp-encapsulation-unavailable', detail: "UDP tunnelling forced ('F') but refused to this mobile node (RFC 3519)" };
    }
    return { kind: 'declined', natDetected: nat, beforeMobileHomeAuth: extension.beforeMobileHomeAuth, detail: 'UDP tunnelling refused to this mobile node' };
  }
  const encapsulation = extension.encapsulation;
  // Minimal encapsulation (55) rewrites the original header into the outer one (RFC 2004), which
  // a UDP tunnel does not have: only IP in IP and GRE are carried in UDP here.
  const offered = encapsulation === 4 || (encapsulation === 47 && input.encapsulations.gre);
  if (!offered) {
    // RFC 3519: the encapsulation asked for inside UDP is not one this agent does.
    return { kind: 'deny', code: HA_UDP_ENCAPSULATION_UNAVAILABLE, reason: 'udp-encapsulation-unavailable', detail: `UDP tunnel encapsulation ${encapsulation} is not offered by this home agent (RFC 3519)` };
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
    beforeMobileHomeAuth: extension.beforeMobileHomeAuth,
  };
}

/**
 * The UDP Tunnel Reply Extension (RFC 3519): Type 44, Length 6, Sub-Type 0, Reply Code,
 * F and 15 reserved bits, Keepalive Interval. Built as a raw TLV so that the registration
 * encoder writes it byte for byte.
 */
export function udpTunnelReplyExtension(code: number, forced: boolean, keepaliveInterval: number): UnknownExtension {
  const data = new Uint8Array(6);
  data[0] = 0;
  data[1] = code;
  data[2] = forced ? 0x80 : 0;
  data[3] = 0;
  data[4] = (keepaliveInterval >>> 8) & 0xff;
  data[5] = keepaliveInterval & 0xff;
  return { kind: 'unknown', type: UDP_TUNNEL_REPLY_TYPE, offset: 0, skippable: false, format: 'tlv', data };
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
