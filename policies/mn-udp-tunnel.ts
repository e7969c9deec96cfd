/**
 * The mobile node's side of Mobile IP UDP tunnelling through NATs (RFC 3519; docs/protocol.md,
 * "The mobile node behind a NAT"), as pure decisions: whether a Request carries the UDP Tunnel
 * Request extension (3.1, 4.4), what the Reply's UDP Tunnel Reply extension grants (3.2), and
 * the answer to reply code 142 (3.5), bounded like RFC 3024's repairs (mn-reverse-tunnel.ts).
 *
 *   mobileNode.udpTunnel  auto   the extension in every Request for a co-located care-of
 *                                address; the home agent decides from what it sees (a source
 *                                address other than the care-of address means a NAT, 4.6)
 *                         force  the same with 'F' (3.1.1): UDP tunnelling even where the home
 *                                agent sees no NAT (a NAT it cannot detect, a firewall that
 *                                passes UDP only)
 *                         off    never
 *
 * Through a foreign agent with its care-of address the node asks for nothing: the agent's own
 * tunnel is what crosses a NAT there, and the agent adds the extension itself (4.5). RFC 3519's
 * 'R' flag (3.1.2) is for a node registering a co-located address through an agent because of
 * the agent's 'R' bit (RFC 5944 2.1.1). Under 'R' this node registers the agent's care-of
 * address instead (machines/mn-discovery.ts chooseAgent), so it never sets 'R': a co-located
 * address registered through the agent would get a UDP tunnel to the agent's relay flow, where
 * nothing takes the node's datagrams apart (docs/protocol.md, "The mobile node behind a NAT").
 */
import type { RegistrationReply } from '../io/wire/registration-types.js';
import { ExtensionType } from '../io/wire/registration-types.js';
import { ReplyCode } from '../io/wire/reply-codes.js';
import {
  DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS,
  TunnelNextHeader,
  UdpTunnelReplyCode,
  udpTunnelReplyOf,
  type UdpTunnelReplyExtension,
} from '../io/wire/udp-tunnel.js';
import type { MnRegistrationTarget } from './mn-request.js';

export type UdpTunnelMode = 'auto' | 'force' | 'off';

/**
 * The default for the library and the configuration file alike: asking costs nothing (144 is
 * skippable, so a home agent without RFC 3519 ignores it, RFC 5944 1.8), and a home agent grants
 * only when it sees a NAT (RFC 3519 4.6) unless 'F' is set, which 'auto' never sets.
 */
export const DEFAULT_UDP_TUNNEL_MODE: UdpTunnelMode = 'auto';

/** What the Request asks for (RFC 3519 3.1). */
export interface UdpTunnelRequestShape {
  readonly force: boolean;
  readonly registrationThroughFa: boolean;
  readonly encapsulation: number;
}

/** The extension for a Request to `target`, or undefined (RFC 3519 4.4; the module comment says when). */
export function udpTunnelRequestFor(mode: UdpTunnelMode, target: MnRegistrationTarget, withdrawn: boolean): UdpTunnelRequestShape | undefined {
  if (mode === 'off' || withdrawn || target.kind !== 'co-located') return undefined;
  return { force: mode === 'force', registrationThroughFa: false, encapsulation: TunnelNextHeader.IpInIp };
}

/** The Reply's UDP Tunnel Reply extension, read (RFC 3519 3.2). */
export type UdpTunnelReplyFields = Pick<UdpTunnelReplyExtension, 'code' | 'forced' | 'keepaliveInterval'>;

/**
 * The UDP Tunnel Reply extension of `reply` when the home agent's authenticator covers it (it
 * comes before the Mobile-Home Authentication Extension, RFC 5944 3.5.1: anything after it could
 * have been added on the way, and a forged one would redirect the node's traffic, RFC 3519 6.1);
 * undefined when absent or only after that extension.
 */
export function authenticatedUdpTunnelReply(reply: Pick<RegistrationReply, 'extensions'>): UdpTunnelReplyFields | undefined {
  const mobileHome = reply.extensions.findIndex((extension) => extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth);
  const covered = mobileHome < 0 ? reply.extensions : reply.extensions.slice(0, mobileHome);
  const extension = udpTunnelReplyOf(covered);
  return extension === undefined ? undefined : { code: extension.code, forced: extension.forced, keepaliveInterval: extension.keepaliveInterval };
}

/** What the node does with the data path of an accepted registration. */
export type UdpTunnelOutcome =
  /** The Request did not ask: IP in IP, as without RFC 3519. */
  | { readonly kind: 'not-requested' }
  /** Code 0: tunnel data messages over the registration's UDP flow, keepalives every `keepaliveSeconds`. */
  | { readonly kind: 'granted'; readonly keepaliveSeconds: number; readonly forced: boolean }
  /** Code 64, any other code, or no extension (a home agent without RFC 3519): IP in IP. */
  | { readonly kind: 'declined'; readonly detail: string };

export function udpTunnelOutcome(requested: UdpTunnelRequestShape | undefined, reply: UdpTunnelReplyFields | undefined): UdpTunnelOutcome {
  if (requested === undefined) return { kind: 'not-requested' };
  if (reply === undefined) return { kind: 'declined', detail: 'the Reply has no UDP Tunnel Reply extension (home agent without RFC 3519?): IP in IP' };
  if (reply.code !== UdpTunnelReplyCode.WillTunnel) return { kind: 'declined', detail: `UDP Tunnel Reply code ${reply.code}: IP in IP` };
  // RFC 3519 3.2: the interval the node is to keep; 0 would mean none at all, which leaves a NAT
  // mapping to expire: the safer reading is the RFC's default.
  const keepaliveSeconds = reply.keepaliveInterval > 0 ? reply.keepaliveInterval : DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS;
  return { kind: 'granted', keepaliveSeconds, forced: reply.forced };
}

export type UdpTunnelRetry =
  | { readonly kind: 'not-applicable' }
  /** Again without the extension (IP in IP), a warning in the log. */
  | { readonly kind: 'retry'; readonly detail: string }
  | { readonly kind: 'final'; readonly detail: string };

/**
 * Code 142, "UDP encapsulation unavailable" (RFC 3519 3.5): the home agent will not tunnel in
 * UDP. With `auto` the node registers again without the extension (IP in IP: right where there is
 * no NAT, and the binding is not lost where there is one); with `force` the operator asked for
 * UDP whatever happens, so the denial stands and is reported. To a Request without the extension
 * nothing can help.
 */
export function udpTunnelRetry(code: number, mode: UdpTunnelMode, sent: UdpTunnelRequestShape | undefined): UdpTunnelRetry {
  if (code !== ReplyCode.HaUdpEncapsulationUnavailable) return { kind: 'not-applicable' };
  if (sent === undefined) return { kind: 'final', detail: `code ${code} to a Request without the UDP Tunnel Request extension` };
  if (mode === 'force' || sent.force) {
    return { kind: 'final', detail: `code ${code}: the home agent refuses UDP tunnelling and udpTunnel is force; set udpTunnel: auto to fall back to IP in IP` };
  }
  return { kind: 'retry', detail: `code ${code}: registering again without UDP tunnelling (IP in IP; through a NAT the node's datagrams will not arrive)` };
}
