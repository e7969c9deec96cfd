/**
 * The pure half of `mip4 register`: the Registration Request a mobile node (or a foreign agent
 * relaying for one) sends, and the judgement of a Reply. Built from the project's codecs
 * (io/wire), signing (policies/sign.ts), Identification rules (policies/mn-request.ts) and the
 * mobile node's Reply checks (policies/mn-reply.ts): no second copy of the wire format.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { registrationToJson } from '../../io/wire/registration-json.js';
import {
  ExtensionType,
  REGISTRATION_REQUEST,
  type AuthExtensionType,
  type Identification,
  type RegistrationExtension,
  type RegistrationReply,
  type RegistrationRequest,
} from '../../io/wire/registration-types.js';
import { isAcceptedCode, ReplyCode, replyCodeText } from '../../io/wire/reply-codes.js';
import { verifyAuthenticator, type AuthAlgorithm } from '../../policies/auth.js';
import { checkMnReply } from '../../policies/mn-reply.js';
import type { ReplayProtection, SecurityContextLookup, MobilitySecurityContext } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned, type SigningKey } from '../../policies/sign.js';

export interface RegisterRequestSpec {
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly lifetime: number;
  readonly flags: number;
  readonly nai?: string;
  /** The mobile node's context with the home agent (Mobile-Home Authentication Extension). */
  readonly mobileHome: SigningKey;
  readonly replay: ReplayProtection;
  /** Set when relaying as a foreign agent that shares a context with the home agent (3.7.2.2, 3.5.4). */
  readonly foreignHome?: SigningKey;
}

/**
 * The Request's bytes: NAI (if any) before the Mobile-Home Authentication Extension (3.6.1.3),
 * then, as a foreign agent appends it when relaying, the Foreign-Home one, which covers both
 * (3.5.1, 3.7.2.2). A deregistration carries no Foreign-Home extension (3.5.4).
 */
export function buildRegisterRequest(spec: RegisterRequestSpec, identification: Identification): { request: RegistrationRequest; bytes: Uint8Array } {
  const extensions: RegistrationExtension[] = [];
  if (spec.nai !== undefined) extensions.push({ kind: 'nai', type: ExtensionType.MobileNodeNai, offset: 0, nai: spec.nai });
  extensions.push(authPlaceholder(ExtensionType.MobileHomeAuth, spec.mobileHome.spi));
  const foreignHome = spec.lifetime !== 0 ? spec.foreignHome : undefined;
  if (foreignHome) extensions.push(authPlaceholder(ExtensionType.ForeignHomeAuth, foreignHome.spi));
  const request: RegistrationRequest = {
    type: REGISTRATION_REQUEST,
    flags: spec.flags,
    lifetime: spec.lifetime,
    homeAddress: spec.homeAddress,
    homeAgent: spec.homeAgent,
    careOfAddress: spec.careOfAddress,
    identification,
    extensions,
  };
  const keyFor = (type: AuthExtensionType): SigningKey | undefined =>
    type === ExtensionType.MobileHomeAuth ? spec.mobileHome : type === ExtensionType.ForeignHomeAuth ? foreignHome : undefined;
  return { request, bytes: encodeSigned(request, keyFor) };
}

/** One context under one SPI, as the Reply check looks contexts up. */
function singleContext(key: SigningKey, replay: ReplayProtection): SecurityContextLookup {
  const context: MobilitySecurityContext = { ...key, replay, replayWindowSeconds: 0 };
  return { get: (spi) => (spi === key.spi ? context : undefined), first: () => context };
}

export interface ReplyJudgement {
  /** Registration accepted (code 0 or 1) and every check passed. */
  readonly accepted: boolean;
  readonly reply: RegistrationReply;
  readonly codeText: string;
  /** What does not hold (authenticator, Identification, Foreign-Home extension); empty when all do. */
  readonly problems: readonly string[];
  /** The Reply as `mip4 decode` prints it, with authenticator_valid for the keys given. */
  readonly json: Record<string, unknown>;
}

export type ReplyReading = { readonly ok: true; readonly judgement: ReplyJudgement } | { readonly ok: false; readonly message: string };

/**
 * Decodes a Reply and checks it as the mobile node does (3.6.2.1: Identification, exactly one
 * valid Mobile-Home extension for a home agent's code) and, when relaying with a Foreign-Home
 * key, as the foreign agent does (3.7.3.1: a valid Foreign-Home extension).
 */
export function judgeReply(bytes: Uint8Array, spec: RegisterRequestSpec, identification: Identification): ReplyReading {
  const decoded = decodeRegistrationReply(bytes, 0, bytes.length);
  if (!decoded.ok) return { ok: false, message: `not a Registration Reply: ${decoded.error.message} (at byte ${decoded.error.offset})` };
  const reply = decoded.value;
  const problems: string[] = [];
  const verdict = checkMnReply({
    reply,
    message: bytes,
    udpChecksumValid: true,
    requestIdentification: identification,
    mobileHome: singleContext(spec.mobileHome, spec.replay),
  });
  if (verdict.kind === 'discard') {
    const why: Record<string, string> = {
      'identification-mismatch': `Identification mismatch: the Reply's low 32 bits are 0x${(reply.identification.low >>> 0).toString(16).padStart(8, '0')}, the Request's 0x${(identification.low >>> 0).toString(16).padStart(8, '0')} (3.6.2.1)`,
    };
    problems.push(why[verdict.reason] ?? `${verdict.detail} (3.6.2.1)`);
  }
  const foreignHome = spec.lifetime !== 0 ? spec.foreignHome : undefined;
  if (foreignHome) {
    const extensions = reply.extensions.filter((e) => e.kind === 'auth' && e.type === ExtensionType.ForeignHomeAuth);
    const only = extensions[0];
    if (extensions.length !== 1 || only?.kind !== 'auth') {
      problems.push(`${extensions.length} Foreign-Home Authentication Extensions in the Reply, exactly one expected (3.7.3.1)`);
    } else if (only.spi !== foreignHome.spi || !verifyAuthenticator(foreignHome.algorithm, foreignHome.key, bytes, only)) {
      problems.push(`Foreign-Home authenticator (SPI ${only.spi}) does not verify with the foreign agent key (3.7.3.1)`);
    }
  }
  const keys = new Map<number, { algorithm: AuthAlgorithm; key: Uint8Array }>([[spec.mobileHome.spi, spec.mobileHome]]);
  if (foreignHome) keys.set(foreignHome.spi, foreignHome);
  const json = registrationToJson(reply, bytes, { keys, verify: verifyAuthenticator }) as unknown as Record<string, unknown>;
  return {
    ok: true,
    judgement: { accepted: isAcceptedCode(reply.code) && problems.length === 0, reply, codeText: replyCodeText(reply.code), problems, json },
  };
}

/** Code 133: the home agent's Identification carries what to resynchronise with (5.7.1, 5.7.2). */
export function isIdentificationMismatch(reply: RegistrationReply): boolean {
  return reply.code === ReplyCode.IdentificationMismatch;
}
