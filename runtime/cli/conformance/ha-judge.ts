/**
 * Judging one Reply (or its absence) against the model's prediction: the checks of 3.8.3
 * (Code, Lifetime, Identification, Home Address and Home Agent fields, the Mobile-Home
 * Authentication Extension and what it covers, source address and port) and the silence
 * 3.8.2.1 and 1.8 demand. Each check names the requirement ids (requirements.tsv) whose text
 * says what it checks, and their level. Pure.
 */
import { ipv4ToString, type Ipv4Address } from '../../../io/wire/bytes.js';
import { identificationToUnixMs } from '../../../io/wire/identification.js';
import { decodeRegistrationReply } from '../../../io/wire/registration.js';
import { ExtensionType, type RegistrationReply, type RegistrationRequest } from '../../../io/wire/registration-types.js';
import { isAcceptedCode } from '../../../io/wire/reply-codes.js';
import { verifyAuthenticator } from '../../../policies/auth.js';
import type { SigningKey } from '../../../policies/sign.js';
import type { DenyReason, DiscardReason } from '../../../policies/ha-request.js';
import type { ConformanceCheck, RequirementLevel } from './report.js';
import type { Prediction } from './ha-model.js';

interface Requirement {
  readonly ids: readonly string[];
  readonly level: RequirementLevel;
}

/** Why the model discards, as requirements: each text says the home agent MUST silently discard. */
const DISCARD: Record<DiscardReason, Requirement> = {
  'udp-checksum': { ids: ['R3.8.2.1-1'], level: 'MUST' },
  'unknown-non-skippable-extension': { ids: ['R1.8-1'], level: 'MUST' },
  'no-authorization-extension': { ids: ['R3.8.2.1-6'], level: 'MUST' },
  'unknown-mobile-node': { ids: ['R3.8.2.1-5'], level: 'MUST' },
  'no-security-association': { ids: ['R3.8.2.1-5'], level: 'MUST' },
  'bad-authenticator': { ids: ['R3.8.2.1-7', 'R3.8.2.1-12'], level: 'MUST' },
  'fha-without-association': { ids: ['R3.8.2.1-20'], level: 'MUST' },
};

/** Why the model denies: the requirement the Code answers. */
const DENY: Record<DenyReason, Requirement> = {
  'mobile-node-failed-authentication': { ids: ['R3.8.2.1-7', 'R3.8.2.1-12'], level: 'MUST' },
  // Under timestamps 5.7.1 adds its own words (R5.7.1-7, R5.7.1-8): see judge.
  'identification-mismatch': { ids: ['R3.8.2.1-13', 'R3.8.2.1-14'], level: 'MUST' },
  'foreign-agent-failed-authentication': { ids: ['R3.8.2.1-18'], level: 'MUST' },
  'misplaced-authentication-extension': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'malformed-udp-tunnel-extension': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'reserved-bits-set': { ids: ['R3.8.2.3-2'], level: 'MUST' },
  'unusable-care-of-address': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'broadcast-destination': { ids: ['R3.8.2.1-21', 'R3.8.2.1-22'], level: 'MUST' },
  'unknown-home-agent-address': { ids: ['R3.8.3.2-10'], level: 'MUST' },
  'nai-mismatch': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'home-address-not-supported': { ids: ['R3.8.3.2-6'], level: 'MUST' },
  'encapsulation-unavailable': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'reverse-tunnel-unavailable': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'reverse-tunnel-mandatory': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
  'reverse-tunnel-encapsulation-unavailable': { ids: ['R3.8.2.3-1'], level: 'SHOULD' },
};

export interface Sent {
  readonly request: RegistrationRequest;
  readonly bytes: Uint8Array;
  /** Where it went (a broadcast address for the 3.8.2.1 case). */
  readonly destination: Ipv4Address;
  readonly destinationPort: number;
  readonly broadcast: boolean;
  /** The home agent's unicast address a Reply to a broadcast comes from (3.8.3.1). */
  readonly unicast: Ipv4Address;
  /** The key the node checks the Reply with. */
  readonly key: SigningKey;
}

export interface Observed {
  readonly bytes: Uint8Array;
  readonly address: Ipv4Address;
  readonly port: number;
}

export interface JudgeOptions {
  readonly caseId: string;
  /** Requirements the step adds to its Code check (e.g. R3.8.2.2-8 for the expiry path). */
  readonly extra?: readonly string[];
  /** 131 and silence both pass when the target's choice is unknown (3.8.2.1 a: a MAY). */
  readonly replyOnAuthFailure?: boolean;
  /** The node's replay protection (5.7.1 or 5.7.2). */
  readonly replay: 'timestamp' | 'nonce';
  /** This host's time when the Reply came, to judge a 133's timestamp (5.7.1). */
  readonly nowUnixMs: number;
}

const LEVEL_ORDER: readonly RequirementLevel[] = ['MUST', 'MUST NOT', 'SHALL', 'SHALL NOT', 'REQUIRED', 'SHOULD', 'SHOULD NOT', 'RECOMMENDED', 'MAY', 'OPTIONAL'];
const strongest = (...levels: RequirementLevel[]): RequirementLevel => levels.sort((a, b) => LEVEL_ORDER.indexOf(a) - LEVEL_ORDER.indexOf(b))[0]!;

function check(caseId: string, what: string, requirement: Requirement, pass: boolean, expected: string, observed: string, detail?: string): ConformanceCheck {
  return { caseId, what, requirements: requirement.ids, level: requirement.level, verdict: pass ? 'pass' : 'fail', expected, observed, ...(detail !== undefined ? { detail } : {}) };
}

const codeText = (code: number) => `code ${code}`;

export function judge(prediction: Prediction, sent: Sent, reply: Observed | undefined, options: JudgeOptions): ConformanceCheck[] {
  const { caseId } = options;
  const verdict = prediction.verdict;
  const extra = [
    ...(verdict.kind === 'deny' && verdict.reason === 'identification-mismatch' && options.replay === 'timestamp' ? ['R5.7.1-7', 'R5.7.1-8'] : []),
    ...(options.extra ?? []),
  ];
  const out: ConformanceCheck[] = [];
  if (verdict.kind === 'discard') {
    const r = DISCARD[verdict.reason];
    out.push(check(caseId, 'Request silently discarded', { ids: [...r.ids, ...extra], level: r.level }, reply === undefined, `silence (${verdict.reason})`, reply === undefined ? 'silence' : describe(reply), verdict.detail));
    return out;
  }
  const mayBeSilent = verdict.kind === 'deny' && verdict.code === 131 && options.replyOnAuthFailure !== true;
  if (reply === undefined) {
    if (mayBeSilent) {
      out.push(check(caseId, 'Registration rejected (131 or silence)', DENY['mobile-node-failed-authentication'], true, 'code 131 or silence', 'silence'));
      return out;
    }
    const why: Requirement =
      verdict.kind === 'accept'
        ? { ids: ['R3.8.2.2-1', ...extra], level: 'MUST' }
        : verdict.code === 131
          ? { ids: ['R3.8.2.1-9'], level: 'MAY' }
          : verdict.reason === 'reserved-bits-set'
            ? DENY['reserved-bits-set']
            : { ids: ['R3.8.2-2'], level: 'SHOULD' };
    out.push(check(caseId, 'Reply sent', why, false, codeText(verdict.code), 'silence', verdict.kind === 'deny' ? verdict.detail : undefined));
    return out;
  }
  const decoded = decodeRegistrationReply(reply.bytes, 0, reply.bytes.length);
  if (!decoded.ok) {
    out.push(check(caseId, 'Reply is a well-formed Registration Reply', { ids: ['R3.8.3-3'], level: 'MUST' }, false, 'a Registration Reply (3.4)', `undecodable: ${decoded.error.message}`));
    return out;
  }
  const r = decoded.value;

  // The Code: the model's, with the requirement its reason names.
  const codeRequirement: Requirement =
    verdict.kind === 'accept'
      ? isAcceptedCode(r.code)
        ? { ids: ['R3.8.3.2-1'], level: 'SHOULD' }
        : { ids: ['R3.8.2.2-1', ...extra], level: 'MUST' }
      : { ids: [...DENY[verdict.reason].ids, ...extra], level: strongest(DENY[verdict.reason].level, extra.length > 0 ? 'MUST' : DENY[verdict.reason].level) };
  out.push(check(caseId, 'Reply code', codeRequirement, r.code === verdict.code, codeText(verdict.code), codeText(r.code), verdict.kind === 'deny' ? verdict.detail : undefined));

  // 3.8.3.1: from the address the Request was sent to (its unicast one for a broadcast), from the port it reached.
  const expectedSource = sent.broadcast ? sent.unicast : sent.destination;
  out.push(
    check(
      caseId,
      sent.broadcast ? "Reply source: the home agent's unicast address" : 'Reply source address = Request destination',
      sent.broadcast ? { ids: ['R3.8.3.1-1'], level: 'MUST' } : { ids: ['R3.8.3-3'], level: 'MUST' },
      reply.address === expectedSource,
      ipv4ToString(expectedSource),
      ipv4ToString(reply.address),
    ),
  );
  out.push(check(caseId, 'Reply source port = Request destination port', { ids: ['R3.8.3-3'], level: 'MUST' }, reply.port === sent.destinationPort, String(sent.destinationPort), String(reply.port)));

  // 5.7: the low-order 32 bits are copied unchanged, whatever the replay protection.
  const low = (x: number) => `0x${(x >>> 0).toString(16).padStart(8, '0')}`;
  out.push(check(caseId, 'Identification low 32 bits echoed', { ids: ['R5.7-4'], level: 'MUST' }, r.identification.low >>> 0 === sent.request.identification.low >>> 0, low(sent.request.identification.low), low(r.identification.low)));
  // A 133 carries what the node resynchronises with (R3.8.2.1-14's SHOULD part: "an
  // Identification field computed in accordance with ... 5.7"): under timestamps the home
  // agent's time of day (5.7.1), under nonces a new nonce (5.7.2), not the one rejected.
  if (verdict.kind === 'deny' && verdict.code === 133 && r.code === 133) {
    const high = r.identification.high >>> 0;
    if (options.replay === 'timestamp') {
      const skewSeconds = Math.abs(identificationToUnixMs({ high, low: 0 }) - options.nowUnixMs) / 1000;
      out.push(check(caseId, "133: Identification high 32 bits = the home agent's time", { ids: ['R3.8.2.1-14'], level: 'SHOULD' }, skewSeconds <= 60, 'within 60 s of this host', `${Math.round(skewSeconds)} s off`));
    } else {
      out.push(check(caseId, '133: Identification high 32 bits = a new nonce', { ids: ['R3.8.2.1-14'], level: 'SHOULD' }, high !== sent.request.identification.high >>> 0, `not ${low(sent.request.identification.high)}`, low(high)));
    }
  }

  // 3.8.3.2: Home Address copied when nonzero; Home Agent copied when it is ours, else our unicast address.
  if (sent.request.homeAddress !== 0) {
    out.push(check(caseId, 'Home Address field copied', { ids: ['R3.8.3.2-5'], level: 'MUST' }, r.homeAddress === sent.request.homeAddress, ipv4ToString(sent.request.homeAddress), ipv4ToString(r.homeAddress)));
  }
  const corrected = verdict.homeAgentField !== sent.request.homeAgent;
  out.push(
    check(
      caseId,
      corrected ? "Home Agent field: the home agent's unicast address" : 'Home Agent field copied',
      { ids: [corrected ? 'R3.8.3.2-9' : 'R3.8.3.2-8'], level: 'MUST' },
      r.homeAgent === verdict.homeAgentField,
      ipv4ToString(verdict.homeAgentField),
      ipv4ToString(r.homeAgent),
    ),
  );

  // 3.5.2, 3.8.2.1 a, 3.5.1: exactly one Mobile-Home Authentication Extension, with the SPI of a
  // context the node has, whose authenticator covers everything before it.
  const mobileHome = r.extensions.filter((e) => e.kind === 'auth' && e.type === ExtensionType.MobileHomeAuth);
  out.push(check(caseId, 'Mobile-Home Authentication Extension present', { ids: ['R3.4-7', 'R3.5.2-1'], level: 'MUST' }, mobileHome.length >= 1, 'one', String(mobileHome.length)));
  const first = mobileHome[0];
  if (first?.kind === 'auth') {
    const spiOk = first.spi === verdict.replyContext.spi;
    const valid = spiOk && verifyAuthenticator(sent.key.algorithm, sent.key.key, reply.bytes, first);
    out.push(
      check(
        caseId,
        'Mobile-Home authenticator valid over the Reply up to its SPI',
        { ids: ['R3.5.1-1', 'R3.8.2.1-10'], level: 'MUST' },
        valid,
        `valid, SPI ${verdict.replyContext.spi}`,
        valid ? `valid, SPI ${first.spi}` : spiOk ? `invalid, SPI ${first.spi}` : `SPI ${first.spi}`,
      ),
    );
  }
  const unknown = r.extensions.find((e) => e.kind === 'unknown' && !e.skippable);
  out.push(check(caseId, 'No unrecognisable non-skippable extension in the Reply', { ids: ['R3.8.3-3'], level: 'MUST' }, unknown === undefined, 'none', unknown === undefined ? 'none' : `type ${unknown.type}`));

  // 3.4, 3.8.2.2, 3.8.3.2: the Lifetime of an accepted Reply (a denial's is unspecified, 3.4).
  if (verdict.kind === 'accept' && isAcceptedCode(r.code)) out.push(...lifetimeChecks(caseId, prediction, sent.request, r));
  return out;
}

function lifetimeChecks(caseId: string, prediction: Prediction, request: RegistrationRequest, r: RegistrationReply): ConformanceCheck[] {
  const out: ConformanceCheck[] = [];
  const requested = request.lifetime;
  if (requested === 0) {
    out.push(check(caseId, 'Lifetime 0 on a deregistration', { ids: ['R3.8.3.2-2'], level: 'MUST' }, r.lifetime === 0, '0', String(r.lifetime)));
    return out;
  }
  out.push(check(caseId, 'Lifetime not above the requested', { ids: ['R3.4-3', 'R3.8.2.2-6'], level: 'MUST NOT' }, r.lifetime <= requested, `≤ ${requested}`, String(r.lifetime)));
  const lifetime = prediction.lifetime;
  if (lifetime?.exactly !== undefined) {
    if (lifetime.exactly < requested) {
      // Above the maximum: never more than the service the target gives (its configured
      // maximum, MUST), and that maximum itself (SHOULD).
      out.push(check(caseId, "Lifetime not above the target's maximum", { ids: ['R3.8.3.2-3'], level: 'MUST' }, r.lifetime <= lifetime.exactly, `≤ ${lifetime.exactly}`, String(r.lifetime)));
      out.push(check(caseId, "Lifetime cut to the target's maximum", { ids: ['R3.8.3.2-4'], level: 'SHOULD' }, r.lifetime === lifetime.exactly, String(lifetime.exactly), String(r.lifetime)));
    } else {
      out.push(check(caseId, 'Lifetime copied from the Request', { ids: ['R3.8.3.2-2'], level: 'MUST' }, r.lifetime === lifetime.exactly, String(lifetime.exactly), String(r.lifetime)));
    }
  } else if (lifetime !== undefined) {
    out.push(check(caseId, 'Duplicate: Lifetime not beyond the one originally granted', { ids: ['R3.8.2.2-9'], level: 'MUST NOT' }, r.lifetime <= lifetime.atMost && r.lifetime > 0, `1..${lifetime.atMost}`, String(r.lifetime)));
  }
  return out;
}

function describe(reply: Observed): string {
  const decoded = decodeRegistrationReply(reply.bytes, 0, reply.bytes.length);
  return `${decoded.ok ? codeText(decoded.value.code) : 'a datagram'} from ${ipv4ToString(reply.address)}:${reply.port}`;
}
