/**
 * Whether a home agent can accommodate one more mobility binding (RFC 5944 3.8.2.2, 3.8.2.3).
 *
 * A Request that passes every validity check is still denied when the home agent "is unable
 * to accommodate the Request": Code 135 when it would exceed the limit of simultaneous
 * bindings for the mobile node (3.8.2.3), Code 130 when the home agent as a whole is out of
 * room (3.4, insufficient resources). The runtime holds the counts, so it applies this after
 * checkHaRequest returned an 'accept' verdict with operation 'register'.
 * Pure.
 */
import { HaReplyCode } from './ha-request.js';

export interface AdmissionInput {
  /** Mobility bindings the mobile node has now. */
  readonly existingForNode: number;
  /** Mobility bindings the home agent holds now, all mobile nodes together. */
  readonly total: number;
  /** Most bindings one mobile node may hold at once (>= 1). */
  readonly maxPerNode: number;
  /** Most bindings the home agent will hold (>= 1; Infinity for no limit). */
  readonly maxTotal: number;
  /** The 'S' bit of the Request. */
  readonly simultaneousRequested: boolean;
  readonly simultaneousSupported: boolean;
  /**
   * The Request renews a binding the node already has for the same care-of address, so the
   * count does not grow. Default false.
   */
  readonly refreshesExisting?: boolean;
}

export type AdmissionVerdict =
  | {
      readonly ok: true;
      /** Bindings of the node once the Request is applied. */
      readonly bindingsForNodeAfter: number;
      /** Bindings of the home agent once the Request is applied. */
      readonly totalAfter: number;
    }
  | {
      readonly ok: false;
      readonly code: typeof HaReplyCode.InsufficientResources | typeof HaReplyCode.TooManySimultaneousBindings;
      readonly reason: 'insufficient-resources' | 'too-many-simultaneous-bindings';
      readonly detail: string;
    };

function assertCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

function assertLimit(name: string, value: number): void {
  if (!(value >= 1) || (!Number.isInteger(value) && value !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`${name} must be an integer >= 1 (or Infinity), got ${value}`);
  }
}

/**
 * Decides whether registering one more care-of address fits. Without simultaneous bindings
 * (the 'S' bit clear, or unsupported) the new binding replaces all previous ones (3.8.2.2),
 * so the node ends with exactly one. The per-node limit (135) is checked before the global
 * one (130) because it tells the mobile node something it can act on.
 * Throws RangeError on inconsistent counts (programmer error).
 */
export function admitBinding(input: AdmissionInput): AdmissionVerdict {
  const { existingForNode, total, maxPerNode, maxTotal } = input;
  assertCount('existingForNode', existingForNode);
  assertCount('total', total);
  assertLimit('maxPerNode', maxPerNode);
  assertLimit('maxTotal', maxTotal);
  if (existingForNode > total) {
    throw new RangeError(`the node's ${existingForNode} bindings cannot exceed the total of ${total}`);
  }
  const keepsPrevious = input.simultaneousRequested && input.simultaneousSupported;
  const bindingsForNodeAfter = keepsPrevious
    ? existingForNode + (input.refreshesExisting === true ? 0 : 1)
    : 1;
  const totalAfter = total - existingForNode + bindingsForNodeAfter;
  // Only a growing count can be refused: renewing or replacing must never fail for lack of room.
  if (bindingsForNodeAfter > maxPerNode && bindingsForNodeAfter > existingForNode) {
    return {
      ok: false,
      code: HaReplyCode.TooManySimultaneousBindings,
      reason: 'too-many-simultaneous-bindings',
      detail: `the mobile node would hold ${bindingsForNodeAfter} simultaneous bindings, the limit is ${maxPerNode} (RFC 5944 3.8.2.3)`,
    };
  }
  if (totalAfter > maxTotal && totalAfter > total) {
    return {
      ok: false,
      code: HaReplyCode.InsufficientResources,
      reason: 'insufficient-resources',
      detail: `the home agent holds ${total} bindings, its limit is ${maxTotal} (RFC 5944 3.4, code 130)`,
    };
  }
  return { ok: true, bindingsForNodeAfter, totalAfter };
}
