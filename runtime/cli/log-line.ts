/**
 * The daemons' JSON log lines. `mip4 ha` writes one line per Reply: at tens of thousands of
 * registrations a second JSON.stringify of each reply event costs more than a tenth of the
 * registration (bench part 5). A reply event has a fixed shape whose strings are addresses,
 * base-36 numbers and fixed texts, so its line is assembled directly; only free text (`detail`)
 * goes through JSON.stringify. Every other event, and any reply whose fields are not of those
 * kinds, is stringified as it is. For the reply events the home agent builds (fields in the
 * order of its type) the line is byte for byte JSON.stringify's (tested); another key order
 * gives the same JSON object with the keys in the type's order.
 */
import type { HomeAgentEvent } from '../ha/home-agent.js';

type ReplyEvent = Extract<HomeAgentEvent, { event: 'reply' }>;

/** JSON text of short strings seen again and again (code texts, operations), bounded. */
const quotedCache = new Map<string, string>();
const QUOTED_CACHE_ENTRIES = 256;

function quoted(text: string): string {
  let q = quotedCache.get(text);
  if (q === undefined) {
    q = JSON.stringify(text);
    if (quotedCache.size >= QUOTED_CACHE_ENTRIES) quotedCache.clear();
    quotedCache.set(text, q);
  }
  return q;
}

/** Strings that JSON writes as they are: no quote, backslash or control character. */
const PLAIN = /^[^"\\\u0000-\u001f]*$/;

/** Whether the line of this event is assembled directly (exported for the tests). */
export function isPlainReply(e: Record<string, unknown>): e is ReplyEvent {
  return (
    e.event === 'reply' &&
    typeof e.trace === 'string' &&
    PLAIN.test(e.trace) &&
    Number.isFinite(e.at) &&
    Number.isFinite(e.code) &&
    typeof e.text === 'string' &&
    typeof e.homeAddress === 'string' &&
    PLAIN.test(e.homeAddress) &&
    typeof e.careOfAddress === 'string' &&
    PLAIN.test(e.careOfAddress) &&
    Number.isFinite(e.lifetime) &&
    typeof e.to === 'string' &&
    PLAIN.test(e.to) &&
    (e.operation === undefined || typeof e.operation === 'string') &&
    (e.detail === undefined || typeof e.detail === 'string') &&
    (e.securityException === undefined || typeof e.securityException === 'boolean')
  );
}

/** One log line (no newline) for an event object: JSON, as JSON.stringify writes it. */
export function jsonLine(event: object): string {
  const e = event as Record<string, unknown>;
  if (!isPlainReply(e)) return JSON.stringify(event);
  let line = `{"event":"reply","trace":"${e.trace}","at":${e.at},"code":${e.code},"text":${quoted(e.text)},"homeAddress":"${e.homeAddress}","careOfAddress":"${e.careOfAddress}","lifetime":${e.lifetime},"to":"${e.to}"`;
  if (e.operation !== undefined) line += `,"operation":${quoted(e.operation)}`;
  if (e.detail !== undefined) line += `,"detail":${JSON.stringify(e.detail)}`;
  if (e.securityException !== undefined) line += `,"securityException":${e.securityException}`;
  return `${line}}`;
}
