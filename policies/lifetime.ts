/**
 * Registration Lifetime negotiation at the home agent (RFC 5944 3.4, 3.8.2.2, 3.8.3.2).
 *
 * Lifetimes are 16-bit seconds; 0 asks for deregistration and 0xffff means infinity (3.3).
 * Pure.
 */
import { INFINITE_LIFETIME, type Identification } from '../io/wire/registration-types.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import { sameIdentification } from './replay.js';

export { INFINITE_LIFETIME };

function assertLifetime(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > INFINITE_LIFETIME) {
    throw new RangeError(`${name} must be an integer from 0 to 65535 seconds, got ${value}`);
  }
}

/**
 * The Lifetime a home agent grants for `requested` seconds when it is willing to serve at
 * most `maximum` seconds (0xffff = no limit):
 * - never more than requested (3.4, 3.8.2.2: the HA MUST NOT increase it);
 * - reduced to the maximum when the request is longer (3.8.3.2: the reduced Lifetime SHOULD
 *   be the maximum allowed), which is not an error (3.8.2.2);
 * - infinity only when the maximum is infinity too;
 * - 0 (deregistration) stays 0.
 * Throws RangeError when an argument is not a 16-bit Lifetime or `maximum` is 0 (a home agent
 * that grants nothing is a configuration error, not a policy).
 */
export function grantLifetime(requested: number, maximum: number): number {
  assertLifetime('requested lifetime', requested);
  assertLifetime('maximum lifetime', maximum);
  if (maximum === 0) throw new RangeError('maximum lifetime must be at least 1 second');
  if (maximum === INFINITE_LIFETIME) return requested;
  // Here maximum is finite, so an infinite request (0xffff > any finite maximum) is reduced too.
  return requested > maximum ? maximum : requested;
}

/** What a home agent remembers of an accepted current registration, for the duplicate rule. */
export interface AcceptedRegistration {
  readonly homeAddress: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly identification: Identification;
  /** The Lifetime granted when it was accepted. */
  readonly grantedLifetime: number;
}

/**
 * A Registration Request duplicates an accepted current registration when its home address,
 * care-of address and Identification all equal that registration's (3.8.2.2).
 */
export function isDuplicateRegistration(
  request: { readonly homeAddress: Ipv4Address; readonly careOfAddress: Ipv4Address; readonly identification: Identification },
  accepted: AcceptedRegistration,
): boolean {
  return (
    request.homeAddress >>> 0 === accepted.homeAddress >>> 0 &&
    request.careOfAddress >>> 0 === accepted.careOfAddress >>> 0 &&
    sameIdentification(request.identification, accepted.identification)
  );
}

/**
 * The Lifetime to grant to a duplicate of an accepted current registration: "the new Lifetime
 * MUST NOT extend beyond the Lifetime originally granted" (3.8.2.2). Read as a point in time:
 * the binding must not outlive the original grant, so the result is at most what is left of
 * it (`originalGranted - elapsedSeconds`, rounded down), and never more than `granted` (what
 * grantLifetime gave the duplicate). This way a replayed duplicate cannot keep a binding alive.
 * An infinite original grant does not limit. Returns 0 when nothing is left.
 */
export function lifetimeForDuplicate(granted: number, original: { readonly grantedLifetime: number; readonly elapsedSeconds: number }): number {
  assertLifetime('granted lifetime', granted);
  assertLifetime('original granted lifetime', original.grantedLifetime);
  if (!(original.elapsedSeconds >= 0)) throw new RangeError(`elapsed seconds must be >= 0, got ${original.elapsedSeconds}`);
  if (original.grantedLifetime === INFINITE_LIFETIME) return granted;
  // remaining < 0xffff, so an infinite `granted` is cut to it as well.
  const remaining = Math.max(0, Math.floor(original.grantedLifetime - original.elapsedSeconds));
  return Math.min(granted, remaining);
}
