/**
 * The foreign agent's side of RFC 3519 (Mobile IP traversal of NAT devices), pure: what an
 * agent behind a NAT adds to the Requests it relays (its own UDP Tunnel Request extension,
 * 3.1, 4.5), and what it reads in the home agent's Reply (the UDP Tunnel Reply extension, 3.2)
 * to decide whether a visitor's tunnels run over its UDP flow with the home agent.
 *
 * Readings (docs/protocol.md "UDP tunnelling at the foreign agent"):
 * - The agent asks only for registrations whose tunnel ends at the agent: a care-of address it
 *   offers, a nonzero Lifetime. A co-located node registering through the agent ('R', RFC 3519
 *   4.11, RFC 5944 3.7.2) ends its tunnel itself and asks itself; its Request is relayed as it
 *   came. A Request that already carries the node's own extension gets no second one: the home
 *   agent would have two answers to give for one binding (RFC 3519 3.1 defines one).
 * - The agent's extension goes where RFC 5944 3.7.2.2 puts what a foreign agent appends: after
 *   the Mobile-Home Authentication Extension, which it must not disturb, and before the
 *   Foreign-Home Authentication Extension, which then covers it (RFC 5944 3.5.4).
 * - The Reply's UDP Tunnel Reply extension meant for the agent sits after the Mobile-Home
 *   Authentication Extension, among what the agent removes before relaying (RFC 5944 3.7.3.2);
 *   one before it belongs to the node (which asked itself) and is relayed untouched.
 * - 'force' sets F (RFC 3519 3.1.1): the home agent tunnels over UDP even where it sees no NAT.
 * - Encapsulation 4 (IP in IP) is asked for (RFC 3519 3.1.4): the agent's UDP decapsulation
 *   and reverse tunnel carry IP in IP only.
 *
 * The extensions themselves are io/wire/udp-tunnel.ts's: the registration decoder reads 144 and
 * 44 as 'udp-tunnel-request' / 'udp-tunnel-reply', and the writer here is its encoder.
 */
import { AUTH_HEADER_LENGTH } from '../io/wire/registration.js';
import { ExtensionType, type AuthExtension, type RegistrationExtension, type RegistrationReply, type RegistrationRequest, RequestFlag } from '../io/wire/registration-types.js';
import { isAcceptedCode } from '../io/wire/reply-codes.js';
import {
  DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS,
  TunnelNextHeader,
  UDP_TUNNEL_EXTENSION_SIZE,
  UDP_TUNNEL_REQUEST_TYPE,
  udpTunnelRequest,
  udpTunnelRequestOf,
  UdpTunnelReplyCode,
  writeUdpTunnelExtension,
  type UdpTunnelReplyExtension,
  type UdpTunnelRequestExtension,
} from '../io/wire/udp-tunnel.js';

/** `foreignAgent.udpTunnel`: ask for UDP tunnelling when relaying (auto), with F (force), or never (off, the default). */
export type FaUdpTunnelMode = 'auto' | 'force' | 'off';

/**
 * Whether the Request already carries a UDP Tunnel Request: the node's own (decoded), or one of
 * another Length kept verbatim (refused as poorly formed before this is asked, 70).
 */
function carriesUdpTunnelRequest(extensions: readonly RegistrationExtension[]): boolean {
  return udpTunnelRequestOf(extensions) !== undefined || extensions.some((e) => e.kind === 'unknown' && e.type === UDP_TUNNEL_REQUEST_TYPE);
}

/**
 * The UDP Tunnel Request extension the agent adds to a Request it relays, or undefined when it
 * adds none (module comment): mode off, a deregistration, a care-of address it does not offer
 * (a co-located node, RFC 3519 4.11), or the node's own extension already there.
 */
export function faUdpTunnelRequestFor(request: RegistrationRequest, mode: FaUdpTunnelMode | undefined, offered: boolean): UdpTunnelRequestExtension | undefined {
  if (mode === undefined || mode === 'off') return undefined;
  if (request.lifetime === 0 || !offered || (request.flags & RequestFlag.D) !== 0) return undefined;
  if (carriesUdpTunnelRequest(request.extensions)) return undefined;
  // R is the co-located node's (RFC 3519 3.1.2); the agent's own tunnel ends here. IP in IP:
  // the agent's UDP decapsulation and reverse tunnel carry nothing else (RFC 3519 3.1.4).
  return udpTunnelRequest({ force: mode === 'force', registrationThroughFa: false, encapsulation: TunnelNextHeader.IpInIp });
}

/** `prefix` (the Request through its last Mobile-Home Authentication Extension) with the extension appended. */
export function appendUdpTunnelRequest(prefix: Uint8Array, extension: UdpTunnelRequestExtension): Uint8Array {
  const out = new Uint8Array(prefix.length + UDP_TUNNEL_EXTENSION_SIZE);
  out.set(prefix, 0);
  writeUdpTunnelExtension(extension, out, prefix.length);
  return out;
}

/** What the home agent's Reply says about the UDP tunnelling the agent asked for. */
export type FaUdpTunnelOutcome =
  /** Accepted with Reply Code 0 in the agent's extension: tunnels run over the agent's UDP flow. */
  | { readonly kind: 'granted'; readonly keepaliveInterval: number; readonly forced: boolean }
  /** Accepted, tunnelling declined (RFC 3519 3.2 code 64) or no extension (a home agent that skipped ours, or saw no NAT): IP in IP. */
  | { readonly kind: 'not-granted'; readonly detail: string }
  /** The Reply denies the registration (e.g. 142, RFC 3519 3.5): the visitor entry keeps what it had. */
  | { readonly kind: 'denied' }
  /** The agent did not ask. */
  | { readonly kind: 'not-asked' };

/**
 * Reads the agent's UDP Tunnel Reply extension (after the last Mobile-Home Authentication
 * Extension, module comment) when the agent asked (`asked`).
 */
export function faUdpTunnelOutcome(reply: RegistrationReply, asked: boolean): FaUdpTunnelOutcome {
  if (!asked) return { kind: 'not-asked' };
  if (!isAcceptedCode(reply.code)) return { kind: 'denied' };
  let mobileHomeEnd = -1;
  for (const extension of reply.extensions) {
    if (extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth) {
      mobileHomeEnd = (extension as AuthExtension).offset + AUTH_HEADER_LENGTH + (extension as AuthExtension).authenticator.length;
    }
  }
  let found: UdpTunnelReplyExtension | undefined;
  for (const extension of reply.extensions) {
    if (extension.kind !== 'udp-tunnel-reply' || extension.offset < mobileHomeEnd) continue;
    found = extension;
    break;
  }
  if (found === undefined) return { kind: 'not-granted', detail: 'the Reply carries no UDP Tunnel Reply extension for this agent (RFC 3519 3.2)' };
  if (found.code !== UdpTunnelReplyCode.WillTunnel) return { kind: 'not-granted', detail: `the home agent declined UDP tunnelling, code ${found.code} (RFC 3519 3.2)` };
  return { kind: 'granted', keepaliveInterval: found.keepaliveInterval === 0 ? DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS : found.keepaliveInterval, forced: found.forced };
}
