/**
 * The mobile node's validity checks of a Registration Reply (RFC 5944 3.6.2.1, 5.7), as one
 * pure function from a decoded Reply (plus the bytes it was decoded from) and the pending
 * Request to a verdict: discard silently (with a reason, some of them security exceptions), or
 * valid with the class of its Code (3.6.2: accepted, denied by the foreign agent, denied by
 * the home agent).
 *
 * The runtime runs this check and tells the registration machine the outcome with the `reply`
 * event's `authentic` field (machines/mn-registration.ts ignores replies that are not).
 *
 *   1. invalid non-zero UDP checksum                               discard   R3.6.2.1-1
 *   2. unrecognised non-skippable extension (0-127)                discard   1.8
 *   3. low 32 bits of Identification differ from the Request's     discard   R3.6.2.1-3, R5.7-5
 *   4. MN-FA association: not exactly one valid Mobile-Foreign
 *      Authentication Extension                                    discard   R3.6.2.1-6/-7
 *   5. Code from the home agent (accepted, 128-192, or unknown):
 *      not exactly one valid Mobile-Home Authentication Extension  discard   R3.6.2.1-8/-9
 *   6. valid, classified by Code                                             3.6.2
 */
import { isAcceptedCode, isForeignAgentCode, isHomeAgentCode } from '../io/wire/reply-codes.js';
import { ExtensionType, type AuthExtension, type Identification, type RegistrationReply } from '../io/wire/registration-types.js';
import { verifyAuthenticator } from './auth.js';
import type { MnSigningKey } from './mn-request.js';
import { malformedUdpTunnelExtension } from '../io/wire/udp-tunnel.js';
import type { SecurityContextLookup } from './security-association.js';

export type MnReplyDiscardReason =
  | 'udp-checksum'
  | 'unknown-non-skippable-extension'
  | 'identification-mismatch'
  | 'no-mobile-foreign-auth'
  | 'multiple-mobile-foreign-auth'
  | 'bad-mobile-foreign-auth'
  | 'no-mobile-home-auth'
  | 'multiple-mobile-home-auth'
  | 'unknown-mobile-home-spi'
  | 'bad-mobile-home-auth';

/** 3.6.2: who decided. 'other' is a Code in none of the ranges of 6.4 (kept, treated as the home agent's). */
export type ReplyCodeClass = 'accepted' | 'foreign-agent-denied' | 'home-agent-denied' | 'other';

export type MnReplyVerdict =
  | { readonly kind: 'discard'; readonly reason: MnReplyDiscardReason; readonly securityException: boolean; readonly detail: string }
  | { readonly kind: 'valid'; readonly codeClass: ReplyCodeClass };

export interface MnReplyInput {
  readonly reply: RegistrationReply;
  /** The UDP payload as received (authenticators are computed over it, 3.5.1). */
  readonly message: Uint8Array;
  /** False only for an invalid non-zero checksum. */
  readonly udpChecksumValid: boolean;
  /** Identification of the most recent Request sent to the replying agent (R3.6.2.1-2). */
  readonly requestIdentification: Identification;
  /** The Mobility Security Association with the home agent. */
  readonly mobileHome: SecurityContextLookup;
  /** The context shared with the foreign agent, when there is one (3.6.2.1 a). */
  readonly mobileForeign?: MnSigningKey;
}

export function replyCodeClass(code: number): ReplyCodeClass {
  if (isAcceptedCode(code)) return 'accepted';
  if (isForeignAgentCode(code)) return 'foreign-agent-denied';
  if (isHomeAgentCode(code)) return 'home-agent-denied';
  return 'other';
}

function discard(reason: MnReplyDiscardReason, detail: string, securityException = false): MnReplyVerdict {
  return { kind: 'discard', reason, detail, securityException };
}

export function checkMnReply(input: MnReplyInput): MnReplyVerdict {
  const { reply, message } = input;
  if (!input.udpChecksumValid) return discard('udp-checksum', 'invalid non-zero UDP checksum');
  const mobileHome: AuthExtension[] = [];
  const mobileForeign: AuthExtension[] = [];
  for (const extension of reply.extensions) {
    // RFC 3519 3.2's UDP Tunnel Reply (44) decodes as its own kind (policies/mn-udp-tunnel.ts
    // reads it); one whose Length is not 6 stays unknown and non-skippable, so it is discarded
    // here (RFC 5944 1.8), with the codec's words for what is wrong.
    if (extension.kind === 'unknown' && !extension.skippable) {
      const detail = malformedUdpTunnelExtension([extension])?.message ?? `unrecognised extension type ${extension.type}`;
      return discard('unknown-non-skippable-extension', detail);
    }
    if (extension.kind !== 'auth') continue;
    if (extension.type === ExtensionType.MobileHomeAuth) mobileHome.push(extension);
    else if (extension.type === ExtensionType.MobileForeignAuth) mobileForeign.push(extension);
  }
  // R3.6.2.1-2/-3, R5.7-5: the low-order 32 bits must be those of the Request.
  if (reply.identification.low >>> 0 !== input.requestIdentification.low >>> 0) {
    return discard('identification-mismatch', 'the low-order 32 bits of Identification differ from the Request');
  }
  // 3.6.2.1 a: with an MN-FA association, exactly one valid Mobile-Foreign extension.
  const foreign = input.mobileForeign;
  if (foreign !== undefined) {
    if (mobileForeign.length === 0) return discard('no-mobile-foreign-auth', 'no Mobile-Foreign Authentication Extension', true);
    if (mobileForeign.length > 1) return discard('multiple-mobile-foreign-auth', `${mobileForeign.length} Mobile-Foreign Authentication Extensions`, true);
    const extension = mobileForeign[0]!;
    if (extension.spi !== foreign.spi || !verifyAuthenticator(foreign.algorithm, foreign.key, message, extension)) {
      return discard('bad-mobile-foreign-auth', `Mobile-Foreign authenticator (SPI ${extension.spi}) is invalid`, true);
    }
  }
  const codeClass = replyCodeClass(reply.code);
  // 3.6.2.1 b: a Code from the home agent (accepted or denied) needs exactly one valid
  // Mobile-Home extension. A Code outside every range is treated the same (the stricter reading).
  if (codeClass !== 'foreign-agent-denied') {
    if (mobileHome.length === 0) return discard('no-mobile-home-auth', 'no Mobile-Home Authentication Extension', true);
    if (mobileHome.length > 1) return discard('multiple-mobile-home-auth', `${mobileHome.length} Mobile-Home Authentication Extensions`, true);
    const extension = mobileHome[0]!;
    const context = input.mobileHome.get(extension.spi);
    if (context === undefined) return discard('unknown-mobile-home-spi', `no security context with SPI ${extension.spi}`, true);
    if (!verifyAuthenticator(context.algorithm, context.key, message, extension)) {
      return discard('bad-mobile-home-auth', `Mobile-Home authenticator (SPI ${extension.spi}) is invalid`, true);
    }
  }
  return { kind: 'valid', codeClass };
}
