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
 * The codec of the two extensions here is a private copy until io/wire/udp-tunnel.ts (the wire
 * part of issue 16) is merged; the shapes are that module's.
 */
import { readU16 } from '../io/wire/bytes.js';
import { AUTH_HEADER_LENGTH } from '../io/wire/registration.js';
import { ExtensionType, type AuthExtension, type RegistrationExtension, type RegistrationReply, type RegistrationRequest, RequestFlag } from '../io/wire/registration-types.js';
import { isAcceptedCode } from '../io/wire/reply-codes.js';

/** `foreignAgent.udpTunnel`: ask for UDP tunnelling when relaying (auto), with F (force), or never (off, the default). */
export type FaUdpTunnelMode = 'auto' | 'force' | 'off';

export const UDP_TUNNEL_REQUEST_TYPE = 144;
export const UDP_TUNNEL_REPLY_TYPE = 44;
/** Both extensions: Type, Length 6, six bytes of data (RFC 3519 3.1, 3.2). */
export const UDP_TUNNEL_EXTENSION_LENGTH = 8;
/** RFC 3519 3.2: Reply Code 0 "will do tunnelling". */
export const UDP_TUNNEL_WILL_DO = 0;
/** RFC 3519 4.9: the keepalive interval when the home agent's Reply gives none (0). */
export const DEFAULT_UDP_KEEPALIVE_INTERVAL_S = 110;
/** IP protocol of IP in IP: the Encapsulation the agent asks for (RFC 3519 3.1.4). */
export const UDP_TUNNEL_IP_IN_IP = 4;

/** The UDP Tunnel Request extension (RFC 3519 3.1), as io/wire/udp-tunnel.ts has it. */
export interface UdpTunnelRequestExtension {
  readonly kind: 'udp-tunnel-request';
  readonly type: 144;
  readonly offset?: number;
  readonly subType: number;
  readonly force: boolean;
  readonly registrationThroughFa: boolean;
  readonly encapsulation: number;
  readonly reserved1: number;
  readonly reserved2: number;
  readonly reserved3: number;
}

/** The UDP Tunnel Reply extension (RFC 3519 3.2), as io/wire/udp-tunnel.ts has it. */
export interface UdpTunnelReplyExtension {
  readonly kind: 'udp-tunnel-reply';
  readonly type: 44;
  readonly offset?: number;
  readonly subType: number;
  readonly code: number;
  readonly forced: boolean;
  readonly keepaliveInterval: number;
  readonly reserved: number;
}

/** Writes the 8-byte UDP Tunnel Request extension at `offset`; returns the next offset. */
export function writeUdpTunnelRequestExtension(extension: UdpTunnelRequestExtension, bytes: Uint8Array, offset: number): number {
  bytes[offset] = UDP_TUNNEL_REQUEST_TYPE;
  bytes[offset + 1] = UDP_TUNNEL_EXTENSION_LENGTH - 2;
  bytes[offset + 2] = extension.subType & 0xff;
  bytes[offset + 3] = extension.reserved1 & 0xff;
  bytes[offset + 4] = (extension.force ? 0x80 : 0) | (extension.registrationThroughFa ? 0x40 : 0) | (extension.reserved2 & 0x3f);
  bytes[offset + 5] = extension.encapsulation & 0xff;
  bytes[offset + 6] = (extension.reserved3 >>> 8) & 0xff;
  bytes[offset + 7] = extension.reserved3 & 0xff;
  return offset + UDP_TUNNEL_EXTENSION_LENGTH;
}

/**
 * A UDP Tunnel Reply extension from a decoded extension: the wire module's own kind once
 * merged, or (before) the verbatim 'unknown' type 44. Undefined when it is neither or its
 * length is not RFC 3519 3.2's 6.
 */
export function udpTunnelReplyOf(extension: RegistrationExtension): UdpTunnelReplyExtension | undefined {
  const decoded = extension as unknown as { kind: string } & Partial<UdpTunnelReplyExtension>;
  if (decoded.kind === 'udp-tunnel-reply') return decoded as UdpTunnelReplyExtension;
  if (extension.kind !== 'unknown' || extension.type !== UDP_TUNNEL_REPLY_TYPE) return undefined;
  // Decoded with 44 declared 'short' (UDP_TUNNEL_EXTENSION_FORMATS): Sub-Type apart, then Reply Code, flags, Keepalive Interval.
  const rest = extension.data;
  const sub = extension.subType;
  if (sub === undefined || extension.format !== 'short' || rest.length !== 5) return undefined;
  const flags = readU16(rest, 1);
  return {
    kind: 'udp-tunnel-reply',
    type: UDP_TUNNEL_REPLY_TYPE,
    offset: extension.offset,
    subType: sub,
    code: rest[0]!,
    forced: (flags & 0x8000) !== 0,
    reserved: flags & 0x7fff,
    keepaliveInterval: readU16(rest, 3),
  };
}

/**
 * The extension formats to decode a Reply with until the wire module knows type 44: without a
 * declaration a non-skippable unknown type runs to the end of the message (RFC 5944 1.8) and
 * would swallow the Foreign-Home Authentication Extension after it.
 */
export const UDP_TUNNEL_EXTENSION_FORMATS: ReadonlyMap<number, 'short'> = new Map([
  [UDP_TUNNEL_REPLY_TYPE, 'short'],
  [UDP_TUNNEL_REQUEST_TYPE, 'short'],
]);

/** Whether an extension is a UDP Tunnel Request (decoded by the wire module, or verbatim type 144). */
export function isUdpTunnelRequest(extension: RegistrationExtension): boolean {
  const kind = (extension as { kind: string }).kind;
  return kind === 'udp-tunnel-request' || (extension.kind === 'unknown' && extension.type === UDP_TUNNEL_REQUEST_TYPE);
}

/**
 * The UDP Tunnel Request extension the agent adds to a Request it relays, or undefined when it
 * adds none (module comment): mode off, a deregistration, a care-of address it does not offer
 * (a co-located node, RFC 3519 4.11), or the node's own extension already there.
 */
export function faUdpTunnelRequestFor(request: RegistrationRequest, mode: FaUdpTunnelMode | undefined, offered: boolean): UdpTunnelRequestExtension | undefined {
  if (mode === undefined || mode === 'off') return undefined;
  if (request.lifetime === 0 || !offered || (request.flags & RequestFlag.D) !== 0) return undefined;
  if (request.extensions.some(isUdpTunnelRequest)) return undefined;
  return {
    kind: 'udp-tunnel-request',
    type: UDP_TUNNEL_REQUEST_TYPE,
    subType: 0,
    force: mode === 'force',
    // R is the co-located node's (RFC 3519 3.1.2); the agent's own tunnel ends here.
    registrationThroughFa: false,
    encapsulation: UDP_TUNNEL_IP_IN_IP,
    reserved1: 0,
    reserved2: 0,
    reserved3: 0,
  };
}

/** `prefix` (the Request through its last Mobile-Home Authentication Extension) with the extension appended. */
export function appendUdpTunnelRequest(prefix: Uint8Array, extension: UdpTunnelRequestExtension): Uint8Array {
  const out = new Uint8Array(prefix.length + UDP_TUNNEL_EXTENSION_LENGTH);
  out.set(prefix, 0);
  writeUdpTunnelRequestExtension(extension, out, prefix.length);
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
    const udp = udpTunnelReplyOf(extension);
    if (udp === undefined || (udp.offset ?? -1) < mobileHomeEnd) continue;
    found = udp;
    break;
  }
  if (found === undefined) return { kind: 'not-granted', detail: 'the Reply carries no UDP Tunnel Reply extension for this agent (RFC 3519 3.2)' };
  if (found.code !== UDP_TUNNEL_WILL_DO) return { kind: 'not-granted', detail: `the home agent declined UDP tunnelling, code ${found.code} (RFC 3519 3.2)` };
  return { kind: 'granted', keepaliveInterval: found.keepaliveInterval === 0 ? DEFAULT_UDP_KEEPALIVE_INTERVAL_S : found.keepaliveInterval, forced: found.forced };
}
