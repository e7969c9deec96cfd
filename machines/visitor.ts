/**
 * A foreign agent's visitor list entry (RFC 5944 3.7.1, 3.7.2, 3.7.2.2, 3.7.3.2): one actor per
 * mobile node at this agent, keyed by home address (+ NAI).
 *
 * The runtime spawns it for a relayed Request with a nonzero Lifetime from a node not in the
 * list (a deregistration from a stranger has nothing to delete: only its pending registration,
 * machines/fa-pending.ts, exists). Then:
 *
 *   pending ──accepted──▶ registered ──lifetime──▶ expired
 *      │ denied / timed out /                │ accepted, Lifetime 0 ──▶ deregistered
 *      │ pending lifetime ──▶ gone           │ request (renewal pending, entry unchanged, R3.7.2-4/-5)
 *                                            │ denied / timed out: renewal dropped, entry unchanged (R3.7.2-7)
 *
 * Pure behaviour: time arrives in events (`at`, ms since the epoch); timers are named delays
 * computed from context. Each transition names its reason with the `reason` action. Commands:
 * `installVisitorRoute` (home address → the node's link-layer address: delivery without ARP,
 * 4.2.2 R4.2.2-7, and a neighbour entry that lives as long as the visitor entry, R4.2.2-8) and
 * `removeVisitorRoute`. No Registration Request or Reply is ever generated here, in particular
 * not when a lifetime expires (R3.7-4).
 */
import { assign, setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { MacAddress } from '../io/wire/ethernet.js';
import type { Identification } from '../io/wire/registration-types.js';

/** 3.3 / 3.4: 0xffff means infinity. */
export const INFINITE_LIFETIME = 0xffff;

/** What a relayed Request tells the entry (3.7.1). */
export interface VisitorRequest {
  readonly linkLayerSource: MacAddress;
  readonly ipSource: Ipv4Address;
  readonly udpSourcePort: number;
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly identification: Identification;
  /** Seconds; 0 = a deregistration request. */
  readonly requestedLifetime: number;
  /** ms since the epoch: when the Request was relayed. */
  readonly at: number;
  /** 'T' granted by this agent (RFC 3024): how the node's datagrams go to its home agent. */
  readonly reverseTunnel?: {
    readonly encapsulation: 'ip-in-ip' | 'minimal' | 'gre';
    readonly delivery: 'direct' | 'encapsulating';
  };
}

export interface VisitorContext {
  readonly homeAddress: Ipv4Address;
  readonly nai?: string;
  /** The registration in force (undefined while the first Request is pending). */
  readonly current?: VisitorRequest & {
    /** Seconds granted (3.7.3.2: the Reply's, cut to the agent's maximum). */
    readonly lifetime: number;
    /** When the lifetime started: when the Reply was relayed (3.7.3.2). */
    readonly registeredAt: number;
    /** ms; Infinity for 0xffff. */
    readonly expiresAt: number;
  };
  /** The Request awaiting its Reply, kept as a separate part of the entry (R3.7.2-5). */
  readonly pending?: VisitorRequest;
}

export type VisitorInput = { readonly homeAddress: Ipv4Address; readonly nai?: string } & VisitorRequest;

export type VisitorEvent =
  /** Another Request from the node was relayed (renewal, new care-of address, or deregistration). */
  | ({ readonly type: 'request' } & VisitorRequest)
  /** The home agent accepted; `lifetime` is the visitor lifetime from checkFaReply (0 = deregistered). */
  | { readonly type: 'accepted'; readonly lifetime: number; readonly at: number }
  /** The home agent denied, or the agent rejected the Reply (68/71). */
  | { readonly type: 'denied'; readonly code: number; readonly at: number }
  /** The pending registration ended without a Reply (78 timeout, 80-88 ICMP error). */
  | { readonly type: 'pending-failed'; readonly code: number; readonly at: number };

function expiresAt(at: number, lifetime: number): number {
  return lifetime === INFINITE_LIFETIME ? Infinity : at + lifetime * 1000;
}

function requestOf(r: VisitorRequest): VisitorRequest {
  return {
    linkLayerSource: r.linkLayerSource,
    ipSource: r.ipSource,
    udpSourcePort: r.udpSourcePort,
    homeAgent: r.homeAgent,
    careOfAddress: r.careOfAddress,
    identification: r.identification,
    requestedLifetime: r.requestedLifetime,
    at: r.at,
    ...(r.reverseTunnel === undefined ? {} : { reverseTunnel: r.reverseTunnel }),
  };
}

/** Seconds left of the current registration at `now`, rounded down; 0xffff stays infinite (3.7.1 "remaining Lifetime"). */
export function visitorRemainingLifetime(context: VisitorContext, now: number): number {
  const current = context.current;
  if (current === undefined) return 0;
  if (current.expiresAt === Infinity) return INFINITE_LIFETIME;
  return Math.max(0, Math.floor((current.expiresAt - now) / 1000));
}

const reason = (text: string) => ({ type: 'reason', params: { reason: text } }) as const;

/** What a visitor entry asks of the foreign agent. */
export type VisitorCommand =
  /** Deliver to this home address on the link at this link-layer address (3.7.3.2). */
  | MachineCommand<'installVisitorRoute', { readonly homeAddress: Ipv4Address; readonly linkLayerAddress: MacAddress }>
  /** The visitor is gone: stop delivering to it. */
  | MachineCommand<'removeVisitorRoute', { readonly homeAddress: Ipv4Address }>;

export const visitorMachine = setup({
  types: {
    context: {} as VisitorContext,
    events: {} as VisitorEvent,
    input: {} as VisitorInput,
  },
  actions: {
    // Commands: the host hands them to the runtime.
    installVisitorRoute: (_, _params: CommandParams<VisitorCommand, 'installVisitorRoute'>) => {},
    removeVisitorRoute: (_, _params: CommandParams<VisitorCommand, 'removeVisitorRoute'>) => {},
    reason: (_, _params: { reason: string }) => {},
    recordPending: assign(({ event }) => (event.type === 'request' ? { pending: requestOf(event) } : {})),
    clearPending: assign({ pending: undefined }),
    /** The pending Request becomes the registration in force, its lifetime counted from the relayed Reply (3.7.3.2). */
    promotePending: assign(({ context, event }) => {
      if (event.type !== 'accepted' || context.pending === undefined) return {};
      return {
        current: { ...context.pending, lifetime: event.lifetime, registeredAt: event.at, expiresAt: expiresAt(event.at, event.lifetime) },
        pending: undefined,
      };
    }),
  },
  guards: {
    /** An accepted Reply with Lifetime 0 to the pending Request: the node is deregistered (3.7.3.2). */
    isDeregistration: ({ context, event }) => event.type === 'accepted' && event.lifetime === 0 && context.pending !== undefined,
    /** An accepted Reply with a nonzero Lifetime to the pending Request. */
    isRegistration: ({ context, event }) => event.type === 'accepted' && event.lifetime !== 0 && context.pending !== undefined,
    /** A Reply or failure concerns only a pending part; without one there is nothing to answer. */
    hasPending: ({ context }) => context.pending !== undefined,
    currentIsInfinite: ({ context }) => context.current !== undefined && context.current.lifetime === INFINITE_LIFETIME,
    pendingIsInfinite: ({ context }) => context.pending !== undefined && context.pending.requestedLifetime === INFINITE_LIFETIME,
  },
  delays: {
    /** 3.7.2.2: a pending registration lives at most the Lifetime it asked for. */
    pendingLifetime: ({ context }) => (context.pending?.requestedLifetime ?? 0) * 1000,
    /** 3.7.3.2: the granted lifetime, from when the Reply was relayed. */
    lifetime: ({ context }) => (context.current?.lifetime ?? 0) * 1000,
  },
}).createMachine({
  id: 'visitor',
  context: ({ input }) => ({
    homeAddress: input.homeAddress,
    ...(input.nai === undefined ? {} : { nai: input.nai }),
    pending: requestOf(input),
  }),
  initial: 'pending',
  states: {
    /** The first Request is relayed; the node is not yet a registered visitor. */
    pending: {
      entry: reason('request-relayed'),
      initial: 'choosing',
      states: {
        choosing: { always: [{ guard: 'pendingIsInfinite', target: 'unbounded' }, { target: 'timed' }] },
        timed: {
          after: {
            // R3.7.2.2-6: "If this lifetime expires before receiving a valid Registration
            // Reply, the foreign agent MUST delete its visitor list entry for this pending
            // registration."
            pendingLifetime: { target: '#visitor.gone', actions: reason('pending-lifetime-expired') },
          },
        },
        unbounded: {},
      },
      on: {
        // A retransmission or a newer Request replaces the pending one and restarts its clock.
        request: { target: 'pending', reenter: true, actions: ['recordPending', reason('request-replaced')] },
        accepted: [
          // A deregistration accepted before any registration: nothing to keep.
          { guard: 'isDeregistration', target: 'gone', actions: ['clearPending', reason('deregistered-while-pending')] },
          { target: 'registered', actions: ['promotePending', reason('accepted')] },
        ],
        denied: { target: 'gone', actions: ['clearPending', reason('denied')] },
        'pending-failed': { target: 'gone', actions: ['clearPending', reason('pending-failed')] },
      },
    },
    registered: {
      entry: [
        reason('registered'),
        {
          type: 'installVisitorRoute',
          params: ({ context }) => ({ homeAddress: context.homeAddress, linkLayerAddress: context.current?.linkLayerSource ?? '' }),
        },
      ],
      initial: 'choosing',
      states: {
        choosing: { always: [{ guard: 'currentIsInfinite', target: 'unbounded' }, { target: 'timed' }] },
        timed: {
          after: {
            // 3.7.3.2 / 3.8.2.2: the entry ends with its lifetime; no message is sent (R3.7-4).
            lifetime: { target: '#visitor.expired', actions: reason('lifetime-expired') },
          },
        },
        unbounded: {},
      },
      on: {
        // R3.7.2-4/-5: a new Request does not modify the entry until a successful Reply; it is
        // recorded as a separate part of it. The current lifetime timer keeps running.
        request: { actions: ['recordPending', reason('renewal-pending')] },
        accepted: [
          // R3.7.3.2-3 (and R3.7.2-6: only now, on the successful Reply, does the entry go).
          { guard: 'isDeregistration', target: 'deregistered', actions: ['clearPending', reason('deregistered')] },
          { guard: 'isRegistration', target: 'registered', reenter: true, actions: ['promotePending', reason('renewed')] },
        ],
        // R3.7.2-7 / R3.7.3.2-4: a denial removes the pending part only.
        denied: { guard: 'hasPending', actions: ['clearPending', reason('renewal-denied')] },
        'pending-failed': { guard: 'hasPending', actions: ['clearPending', reason('renewal-failed')] },
      },
    },
    /** Never registered: nothing was installed. */
    gone: { type: 'final' },
    expired: { type: 'final', entry: { type: 'removeVisitorRoute', params: ({ context }) => ({ homeAddress: context.homeAddress }) } },
    deregistered: { type: 'final', entry: { type: 'removeVisitorRoute', params: ({ context }) => ({ homeAddress: context.homeAddress }) } },
  },
});

export type VisitorMachine = typeof visitorMachine;
