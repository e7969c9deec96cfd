/**
 * One pending registration at a foreign agent: a Request relayed to the home agent and waiting
 * for its Reply (RFC 5944 3.7.1, 3.7.2.2, 3.7.3), keyed by home address (+ NAI) and the low 32
 * bits of Identification, which is how the Reply is matched (3.7.3.1).
 *
 *   relayed ──answered──────▶ answered      (the Reply was relayed to the node)
 *           ──reply-rejected─▶ rejected     (68 / 71 to the node, 3.7.3.1, 3.4)
 *           ──icmp-error─────▶ unreachable  (80-88 to the node, 3.7.3)
 *           ──superseded─────▶ superseded   (a newer Request from the node replaced it; no Reply)
 *           ──timeout────────▶ timed-out    (78 to the node, 3.7.1)
 *
 * The timeout. 3.7.1: "The foreign agent MAY delete any pending Registration Request after the
 * request has been pending for more than 7 seconds; in this case, the foreign agent SHOULD
 * reject the Request with Code 78". mip4 does (the pending limit of 3.7.1 needs records to go),
 * after `timeoutMs` (default 7001 ms: the first millisecond that is *more than* 7 seconds), and
 * never later than the Request's own Lifetime would allow (R3.7.2.2-6) — a Request asking for
 * 3 s is dropped after 3 s, silently, since the node itself considers it over. Lifetime 0
 * (deregistration) and 0xffff put no bound of their own.
 *
 * Commands: `sendDenial` with the code (the runtime builds it with policies/fa-request.ts
 * buildFaDenial from the pending registration, 3.7.2.3). The pending record is the context.
 */
import { setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import { faCodeForIcmpError, FaReplyCode, type PendingRegistration } from '../policies/fa-request.js';

/** 3.7.1: "pending for more than 7 seconds". */
export const DEFAULT_PENDING_TIMEOUT_MS = 7001;

export interface FaPendingContext {
  readonly pending: PendingRegistration;
  readonly timeoutMs: number;
  /** ms since the epoch when the Request was relayed. */
  readonly relayedAt: number;
}

export interface FaPendingInput {
  readonly pending: PendingRegistration;
  readonly relayedAt: number;
  readonly timeoutMs?: number;
}

export type FaPendingEvent =
  /** A valid Reply was relayed to the node (checkFaReply → relay). */
  | { readonly type: 'answered'; readonly code: number; readonly at: number }
  /** The home agent's Reply was discarded and the registration rejected (checkFaReply → reject). */
  | { readonly type: 'reply-rejected'; readonly code: 68 | 71; readonly at: number }
  /** An ICMP error quoting the relayed Request arrived instead of a Reply (3.7.3). */
  | { readonly type: 'icmp-error'; readonly icmpType: number; readonly icmpCode: number; readonly at: number }
  /** The node sent a newer Request; this one will never be answered to it. */
  | { readonly type: 'superseded'; readonly at: number };

const reason = (text: string) => ({ type: 'reason', params: { reason: text } }) as const;

/** The delay of the timeout: the configured one, cut to the requested Lifetime (see the module comment). */
export function pendingTimeoutMs(context: Pick<FaPendingContext, 'pending' | 'timeoutMs'>): number {
  const lifetime = context.pending.requestedLifetime;
  if (lifetime === 0 || lifetime === 0xffff) return context.timeoutMs;
  return Math.min(context.timeoutMs, lifetime * 1000);
}

/** What a pending Request asks of the foreign agent. */
export type FaPendingCommand =
  /** Deny the pending Request with this code (a timeout or an ICMP error, 3.7.2). */
  MachineCommand<'sendDenial', { readonly code: number }>;

export const faPendingMachine = setup({
  types: {
    context: {} as FaPendingContext,
    events: {} as FaPendingEvent,
    input: {} as FaPendingInput,
  },
  actions: {
    sendDenial: (_, _params: CommandParams<FaPendingCommand, 'sendDenial'>) => {},
    reason: (_, _params: { reason: string }) => {},
  },
  guards: {
    /** Ended by the Request's own (shorter) Lifetime rather than by the 3.7.1 timeout: no 78. */
    lifetimeBound: ({ context }) => pendingTimeoutMs(context) < context.timeoutMs,
  },
  delays: {
    timeout: ({ context }) => pendingTimeoutMs(context),
  },
}).createMachine({
  id: 'faPending',
  context: ({ input }) => ({ pending: input.pending, relayedAt: input.relayedAt, timeoutMs: input.timeoutMs ?? DEFAULT_PENDING_TIMEOUT_MS }),
  initial: 'relayed',
  states: {
    relayed: {
      entry: reason('relayed'),
      after: {
        timeout: [
          { guard: 'lifetimeBound', target: 'lifetimeExpired', actions: reason('pending-lifetime-expired') },
          {
            target: 'timedOut',
            actions: [reason('timed-out'), { type: 'sendDenial', params: { code: FaReplyCode.RegistrationTimeout } }],
          },
        ],
      },
      on: {
        answered: { target: 'answered', actions: reason('answered') },
        'reply-rejected': {
          target: 'rejected',
          actions: [reason('reply-rejected'), { type: 'sendDenial', params: ({ event }) => ({ code: event.code }) }],
        },
        'icmp-error': {
          target: 'unreachable',
          actions: [reason('home-agent-unreachable'), { type: 'sendDenial', params: ({ event }) => ({ code: faCodeForIcmpError(event.icmpType, event.icmpCode) }) }],
        },
        superseded: { target: 'superseded', actions: reason('superseded') },
      },
    },
    answered: { type: 'final' },
    rejected: { type: 'final' },
    unreachable: { type: 'final' },
    superseded: { type: 'final' },
    timedOut: { type: 'final' },
    /** R3.7.2.2-6: the pending registration's own Lifetime ran out first; no Reply (the node gave up too). */
    lifetimeExpired: { type: 'final' },
  },
});

export type FaPendingMachine = typeof faPendingMachine;
