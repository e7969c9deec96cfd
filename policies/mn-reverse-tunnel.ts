/**
 * The mobile node's answer to the refusals RFC 3024 defines (3.4; docs/protocol.md, "The mobile
 * node and reverse tunnelling"): which part of the Request to change before trying again, or
 * that nothing can help. Pure: the runtime applies the change to the next Request of the same
 * registration, and the registration machine spaces and bounds the retries as it does for its
 * other repairs (R3.6.3-4: 1 s apart; `maxRepairs` per registration).
 *
 *   74 FA / 137 HA  reverse tunnel unavailable      → again without 'T' (a warning: the node's
 *                                                      datagrams then leave topologically wrong)
 *   75 FA / 138 HA  reverse tunnel mandatory        → again with 'T' (never to a foreign agent
 *                                                      that does not advertise it: final)
 *   76 FA           mobile node too distant         → again without 'T' (the agent does not
 *                                                      believe the node is on its link; a
 *                                                      warning, as for 74)
 *   79 FA           delivery style not supported    → again with direct delivery
 *   139 HA          requested encapsulation
 *                   unavailable                     → again with IP in IP only (no 'M', 'G'),
 *                                                      which every agent supports (RFC 5944 4.1)
 */

/** What the node asked for in the Request that was refused. */
export interface ReverseTunnelRequestShape {
  /** The 'T' bit was set. */
  readonly reverseTunnel: boolean;
  /** The Encapsulating Delivery Style extension was present. */
  readonly encapsulatingDelivery: boolean;
  /** 'M' or 'G' was set. */
  readonly otherEncapsulation: boolean;
  /** Registering through a foreign agent that advertises 'T' (or co-located: the node's own choice). */
  readonly reverseTunnelOffered: boolean;
}

/** Changes to the following Requests of the registration. */
export interface ReverseTunnelAdjustment {
  readonly reverseTunnel?: boolean;
  readonly directDelivery?: true;
  readonly ipInIpOnly?: true;
}

export type ReverseTunnelRetry =
  /** Not one of RFC 3024's codes: the registration machine's usual rules apply. */
  | { readonly kind: 'not-applicable' }
  | { readonly kind: 'retry'; readonly adjustment: ReverseTunnelAdjustment; readonly warning: boolean; readonly detail: string }
  /** One of the codes, but the Request already has what a retry would change: the denial stands. */
  | { readonly kind: 'final'; readonly detail: string };

export const ReverseTunnelCode = {
  FaUnavailable: 74,
  FaMandatory: 75,
  FaTooDistant: 76,
  FaDeliveryStyleNotSupported: 79,
  HaUnavailable: 137,
  HaMandatory: 138,
  HaEncapsulationUnavailable: 139,
} as const;

export function reverseTunnelRetry(code: number, sent: ReverseTunnelRequestShape): ReverseTunnelRetry {
  switch (code) {
    case ReverseTunnelCode.FaUnavailable:
    case ReverseTunnelCode.HaUnavailable:
    case ReverseTunnelCode.FaTooDistant:
      if (!sent.reverseTunnel) return { kind: 'final', detail: `code ${code} to a Request without 'T'` };
      return {
        kind: 'retry',
        adjustment: { reverseTunnel: false },
        warning: true,
        detail: `code ${code}: registering without reverse tunnelling; datagrams from the home address leave on the visited network directly`,
      };
    case ReverseTunnelCode.FaMandatory:
    case ReverseTunnelCode.HaMandatory:
      if (sent.reverseTunnel) return { kind: 'final', detail: `code ${code} to a Request that had 'T'` };
      // RFC 3024: never 'T' to a foreign agent that does not advertise it.
      if (!sent.reverseTunnelOffered) return { kind: 'final', detail: `code ${code}, but the foreign agent does not advertise 'T'` };
      return { kind: 'retry', adjustment: { reverseTunnel: true }, warning: false, detail: `code ${code}: registering again with 'T'` };
    case ReverseTunnelCode.FaDeliveryStyleNotSupported:
      if (!sent.encapsulatingDelivery) return { kind: 'final', detail: `code ${code} to a Request with direct delivery` };
      return { kind: 'retry', adjustment: { directDelivery: true }, warning: true, detail: `code ${code}: registering again with direct delivery` };
    case ReverseTunnelCode.HaEncapsulationUnavailable:
      if (!sent.otherEncapsulation) return { kind: 'final', detail: `code ${code} to a Request for IP in IP` };
      return { kind: 'retry', adjustment: { ipInIpOnly: true }, warning: true, detail: `code ${code}: registering again for IP in IP only` };
    default:
      return { kind: 'not-applicable' };
  }
}
