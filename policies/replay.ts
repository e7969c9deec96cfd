/**
 * Replay protection of Registration Requests at the home agent (RFC 5944 5.7).
 *
 * The 64-bit Identification is two unsigned 32-bit halves. Whatever the method, the low half
 * of a Reply is the low half of the Request, unchanged (5.7): the foreign agent and the mobile
 * node match replies by it.
 *
 * - Timestamps (5.7.1, mandatory): the Identification is an NTP timestamp (high = seconds
 *   since 1900-01-01, low = fraction). It must be within the context's window of the home
 *   agent's clock and greater than every timestamp accepted before for the mobile node.
 * - Nonces (5.7.2, optional): the home agent puts a new nonce in the high half of every
 *   Reply; the mobile node echoes it in the high half of its next Request.
 *
 * Pure: the time and the next nonce are inputs.
 */
import { NTP_UNIX_OFFSET_SECONDS, identificationFromUnixMs } from '../io/wire/identification.js';
import type { Identification } from '../io/wire/registration-types.js';
import type { ReplayProtection } from './security-association.js';

const TWO_POW_32 = 0x1_0000_0000;

/** The high half of the NTP timestamp of `unixMs` (whole seconds since 1900, modulo 2^32). */
export function ntpSeconds(unixMs: number): number {
  return (Math.floor(unixMs / 1000) + NTP_UNIX_OFFSET_SECONDS) >>> 0;
}

/**
 * Signed difference a - b of two timestamp Identifications, in seconds. The high halves are
 * compared with serial-number arithmetic (RFC 1982 style, 32 bits) so that the NTP era
 * rollover of 2036 does not make a fresh timestamp look 136 years old.
 */
export function timestampDifferenceSeconds(a: Identification, b: Identification): number {
  const wholeSeconds = ((a.high >>> 0) - (b.high >>> 0)) | 0;
  return wholeSeconds + ((a.low >>> 0) - (b.low >>> 0)) / TWO_POW_32;
}

/** Whether timestamp `a` is strictly later than `b` (64-bit order, era-safe high half). */
export function isLaterTimestamp(a: Identification, b: Identification): boolean {
  const wholeSeconds = ((a.high >>> 0) - (b.high >>> 0)) | 0;
  if (wholeSeconds !== 0) return wholeSeconds > 0;
  return a.low >>> 0 > b.low >>> 0;
}

export function sameIdentification(a: Identification, b: Identification): boolean {
  return a.high >>> 0 === b.high >>> 0 && a.low >>> 0 === b.low >>> 0;
}

export type TimestampRejection = 'outside-window' | 'not-greater';

export type TimestampCheck =
  /** Valid: the Reply copies the whole Identification (5.7.1). */
  | { readonly valid: true; readonly replyIdentification: Identification }
  /**
   * Invalid: the Reply carries the home agent's time of day in the high half and the
   * Request's low half, and the registration is rejected with Code 133 (5.7.1).
   */
  | { readonly valid: false; readonly why: TimestampRejection; readonly replyIdentification: Identification };

export interface TimestampCheckInput {
  readonly received: Identification;
  /** The greatest timestamp accepted so far for this mobile node, if any. */
  readonly lastAccepted?: Identification;
  /** The home agent's time of day. */
  readonly nowUnixMs: number;
  /** The tolerance of the security context (5.7.1; default 7 s). Inclusive. */
  readonly windowSeconds: number;
}

/** The timestamp check of 5.7.1. */
export function checkTimestampIdentification(input: TimestampCheckInput): TimestampCheck {
  const { received, lastAccepted, nowUnixMs, windowSeconds } = input;
  const offset = timestampDifferenceSeconds(received, identificationFromUnixMs(nowUnixMs));
  // "close enough to the home agent's time-of-day clock" (5.7.1)
  if (!(Math.abs(offset) <= windowSeconds)) {
    return { valid: false, why: 'outside-window', replyIdentification: resynchronisingIdentification(received, nowUnixMs) };
  }
  // "greater than all previously accepted timestamps for the requesting mobile node" (5.7.1):
  // without this a delayed duplicate inside the window could be applied out of order.
  if (lastAccepted !== undefined && !isLaterTimestamp(received, lastAccepted)) {
    return { valid: false, why: 'not-greater', replyIdentification: resynchronisingIdentification(received, nowUnixMs) };
  }
  return { valid: true, replyIdentification: received };
}

/** The Identification of a 133 Reply under timestamps: HA seconds now, Request's low half (5.7.1). */
export function resynchronisingIdentification(received: Identification, nowUnixMs: number): Identification {
  return { high: ntpSeconds(nowUnixMs), low: received.low >>> 0 };
}

export type NonceRejection = 'no-nonce-issued' | 'nonce-mismatch';

export type NonceCheck =
  | { readonly valid: true; readonly replyIdentification: Identification }
  | { readonly valid: false; readonly why: NonceRejection; readonly replyIdentification: Identification };

export interface NonceCheckInput {
  readonly received: Identification;
  /** The nonce of the last Reply to a fresh Request of this mobile node; undefined if none yet. */
  readonly expectedNonce?: number;
  /** The nonce of the last 133 Reply, valid besides `expectedNonce` (see ReplayState). */
  readonly resyncNonce?: number;
  /** A fresh random nonce (5.4) for this Reply. */
  readonly nextNonce: number;
}

/**
 * The nonce check of 5.7.2: valid when the high half echoes a nonce the home agent issued and
 * nobody has echoed since (the expected one, or the one of the last 133). Valid or not, the
 * Reply carries a new nonce in its high half, so the protocol is self-synchronising; the
 * caller records it with `advanceReplayState` once the Reply is sent.
 */
export function checkNonceIdentification(input: NonceCheckInput): NonceCheck {
  const { received, expectedNonce, resyncNonce, nextNonce } = input;
  const replyIdentification = nonceReplyIdentification(received, nextNonce);
  if (expectedNonce === undefined && resyncNonce === undefined) return { valid: false, why: 'no-nonce-issued', replyIdentification };
  const echoed = received.high >>> 0;
  if (echoed !== expectedNonce && echoed !== resyncNonce) return { valid: false, why: 'nonce-mismatch', replyIdentification };
  return { valid: true, replyIdentification };
}

/** The Identification of any Reply under nonces: a new nonce high, the Request's low half (5.7.2). */
export function nonceReplyIdentification(received: Identification, nextNonce: number): Identification {
  return { high: nextNonce >>> 0, low: received.low >>> 0 };
}

/** The Identification of a Reply to a Request whose Identification was valid (5.7.1, 5.7.2). */
export function acceptedReplyIdentification(
  replay: ReplayProtection,
  received: Identification,
  nextNonce: number,
): Identification {
  return replay === 'nonce' ? nonceReplyIdentification(received, nextNonce) : received;
}

// --- the node's replay state ----------------------------------------------------------------

/**
 * What the home agent remembers of a mobile node for replay protection (5.7). It outlives the
 * node's bindings: a timestamp must be greater than *all* previously accepted ones (5.7.1).
 */
export interface ReplayState {
  /** The greatest timestamp accepted for the node (5.7.1). */
  readonly lastAcceptedTimestamp?: Identification;
  /** The nonce of the last Reply to a fresh, authentic Request: the one the node echoes next (5.7.2). */
  readonly expectedNonce?: number;
  /**
   * The nonce of the last 133 Reply. 5.7.2: "the Reply always provides the mobile node with a
   * new nonce", but a 133 also answers whoever resends an old captured Request; were its nonce
   * to replace `expectedNonce`, every such replay would make the real node's next Request fail.
   * So both stay valid until a Request echoes either (then both are replaced): each issued
   * nonce still admits at most one Request.
   */
  readonly resyncNonce?: number;
}

/**
 * A change of a node's replay state after an authenticated Request, once its Reply is sent.
 * A duplicate of a current registration (3.8.2.2) produces none: it is a copy of a Request
 * already applied, whoever sent it.
 */
export type ReplayStateUpdate =
  /** A valid timestamp: the new greatest accepted one, unless a greater one is known (5.7.1). */
  | { readonly kind: 'timestamp'; readonly lastAccepted: Identification }
  /** An issued nonce was echoed; the Reply carries `expectedNonce`, the one to echo next (5.7.2). */
  | { readonly kind: 'nonce'; readonly expectedNonce: number }
  /** A 133 under nonces: the Reply carries `resyncNonce` (5.7.2); the expected nonce stays valid. */
  | { readonly kind: 'nonce-resync'; readonly resyncNonce: number };

/**
 * The one place a node's replay state changes. The accepted timestamp only ever moves forward
 * (5.7.1: "greater than all previously accepted timestamps"), whatever update arrives; an
 * echoed nonce retires every nonce issued before (5.7.2). Returns `state` itself when nothing
 * changes.
 */
export function advanceReplayState(state: ReplayState, update: ReplayStateUpdate): ReplayState {
  switch (update.kind) {
    case 'timestamp': {
      const last = state.lastAcceptedTimestamp;
      if (last !== undefined && !isLaterTimestamp(update.lastAccepted, last)) return state;
      return { lastAcceptedTimestamp: update.lastAccepted, expectedNonce: state.expectedNonce, resyncNonce: state.resyncNonce };
    }
    case 'nonce':
      return { lastAcceptedTimestamp: state.lastAcceptedTimestamp, expectedNonce: update.expectedNonce >>> 0, resyncNonce: undefined };
    case 'nonce-resync':
      return { lastAcceptedTimestamp: state.lastAcceptedTimestamp, expectedNonce: state.expectedNonce, resyncNonce: update.resyncNonce >>> 0 };
  }
}
