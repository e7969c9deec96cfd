/**
 * A mobile node's pending registration (RFC 5944 3.6, 3.6.2, 3.6.3, 5.7): one actor per
 * Registration Request toward one care-of address, which also renews it (3.6.2.2). Its commands
 * are `MnRegistrationCommand`; why it waits, spaces and ignores what it does: docs/protocol.md.
 *
 *   awaitingHost ──hostReady──► sending ◄──► spacing (1 s since the last Request, R3.6.3-4)
 *                                 │
 *                                 ▼
 *                         awaitingReply ──timeout──► retransmitting ──► awaitingReply … ──► givenUp
 *                    │ reply (valid, low 32 bits match)
 *                    ├─ 0/1 ───────────► accepted ──re-registration due──► sending
 *                    ├─ 0/1, Lifetime 0 ► deregistered
 *                    ├─ 133 / 136 / 69 ─► sending (repaired: clock or nonce, home agent, Lifetime)
 *                    ├─ RFC 3024 refusal, Request adjusted by the runtime ─► sending (repaired)
 *                    └─ any other ─────► denied
 */
import { assign, setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import { identificationToUnixMs } from '../io/wire/identification.js';
import { isAcceptedCode, isForeignAgentCode, isHomeAgentCode, ReplyCode } from '../io/wire/reply-codes.js';
import { INFINITE_LIFETIME, type Identification } from '../io/wire/registration-types.js';
import { nextIdentification, nextRandom32 } from '../policies/mn-request.js';
import type { ReplayProtection } from '../policies/security-association.js';

/** R3.6.3-4: "The minimum time between Registration Requests MUST NOT be less than 1 second." */
export const MIN_RETRANSMISSION_MS = 1000;

/** Before the first Request: far enough in the past that it may go at once. */
const LONG_AGO = Number.MIN_SAFE_INTEGER;

export interface RetransmissionSettings {
  /** First timeout; raised to 1 s if smaller (R3.6.3-4). Default 1 s. */
  readonly initialTimeoutMs: number;
  /** Ceiling of the doubling timeout; further capped by the requested Lifetime (R3.6.3-2). Default 32 s. */
  readonly maxTimeoutMs: number;
  /** Transmissions of one Request before giving up. Default 6. */
  readonly maxAttempts: number;
  /** Repairs (133, 136, 69 retries) before a denial is final. Default 3. */
  readonly maxRepairs: number;
  /** Re-register when this fraction of the granted Lifetime has passed (3.6.2.2). Default 0.75. */
  readonly renewAtFraction: number;
}

export const DEFAULT_RETRANSMISSION: RetransmissionSettings = {
  initialTimeoutMs: MIN_RETRANSMISSION_MS,
  maxTimeoutMs: 32_000,
  maxAttempts: 6,
  maxRepairs: 3,
  renewAtFraction: 0.75,
};

/** Replay state that belongs to the security association and outlives one registration (5.7). */
export interface MnReplayState {
  /** The home agent's time minus ours, learned from a 133 under timestamps (5.7.1). */
  readonly clockOffsetMs: number;
  /** The nonce of the home agent's last authenticated Reply (5.7.2). */
  readonly nonce?: number;
  /** The last Identification sent: the next one must be greater (timestamps, R5.7.1-5) or differ (R5.7-6). */
  readonly lastIdentification?: Identification;
  /** The last Identification the home agent accepted. */
  readonly acceptedIdentification?: Identification;
  /** When the last Request of any registration went out: the next waits 1 s from it (R3.6.3-4, R3.6-9). */
  readonly lastRequestAt?: number;
}

export interface MnRegistrationInput {
  readonly replay: ReplayProtection;
  /** The Home Agent field: the home agent's address, or the home subnet broadcast (3.6.1.2). */
  readonly homeAgent: Ipv4Address;
  /** 0 when not yet known (3.6). */
  readonly homeAddress: Ipv4Address;
  /** Lifetime to request, seconds (policies/mn-request.ts requestLifetime). 0 = deregistration. */
  readonly lifetime: number;
  readonly at: number;
  /** Seed of the random source (any 32-bit value). */
  readonly seed: number;
  readonly retransmission?: Partial<RetransmissionSettings>;
  readonly replayState?: MnReplayState;
  /**
   * False when the host is still being configured for this attachment: the first Request
   * waits for the `hostReady` event. Default true.
   */
  readonly hostReady?: boolean;
  /** Returning home: the home address to announce by gratuitous ARP before the first Request (4.6). */
  readonly gratuitousArp?: Ipv4Address;
}

export interface MnRegistrationContext extends MnReplayState {
  readonly replay: ReplayProtection;
  readonly homeAgent: Ipv4Address;
  readonly homeAddress: Ipv4Address;
  /** The Lifetime of the current Request (reduced after a 69). */
  readonly lifetime: number;
  /** The Lifetime first asked for (3.6: kept for each pending registration). */
  readonly originalLifetime: number;
  readonly settings: RetransmissionSettings;
  /** Time of the step being taken (event `at`, or the deadline of the timer that fired). */
  readonly now: number;
  readonly random: number;
  /** The Identification of the current Request. */
  readonly identification: Identification;
  /** When the current Identification was first sent: the granted Lifetime counts from there (R3.6.2.2-5). */
  readonly identificationSentAt: number;
  /** When the last Request went out (this actor's or, before its first, the previous actor's). */
  readonly lastSentAt: number;
  readonly hostReady: boolean;
  /** The address still to announce by gratuitous ARP before the next Request (R4.6-10); sent once. */
  readonly gratuitousArp?: Ipv4Address;
  /** Transmissions of the current Request (1 = first). */
  readonly attempt: number;
  /** The timeout armed after the last transmission, ms. */
  readonly timeoutMs: number;
  readonly repairs: number;
  readonly grantedLifetime?: number;
  readonly expiresAt?: number;
  readonly renewAt?: number;
  readonly lastCode?: number;
}

export interface ReplyEvent {
  readonly type: 'reply';
  readonly at: number;
  readonly code: number;
  readonly lifetime: number;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly identification: Identification;
  /** The outcome of policies/mn-reply.ts checkMnReply (3.6.2.1): false means it failed. */
  readonly authentic: boolean;
  /**
   * The runtime changed the next Request in answer to this Code (RFC 3024's refusals,
   * policies/mn-reverse-tunnel.ts): send it as a repair, spaced and bounded like the others.
   */
  readonly requestAdjusted?: boolean;
}

export type MnRegistrationEvent =
  | ReplyEvent
  /**
   * The host finished configuring the attachment (`configured` false: it failed; the Request
   * goes anyway, as a frame to a foreign agent needs no route, and the failure is logged).
   */
  | { readonly type: 'hostReady'; readonly at: number; readonly configured: boolean }
  /** Re-register now (e.g. the foreign agent rebooted, 2.4.4). Only while accepted. */
  | { readonly type: 'reregister'; readonly at: number }
  /** The runtime no longer wants this registration (moved on, shut down). */
  | { readonly type: 'cancel'; readonly at: number };

function settingsFrom(partial: Partial<RetransmissionSettings> | undefined): RetransmissionSettings {
  const s = { ...DEFAULT_RETRANSMISSION, ...partial };
  return {
    ...s,
    initialTimeoutMs: Math.max(MIN_RETRANSMISSION_MS, s.initialTimeoutMs),
    maxTimeoutMs: Math.max(MIN_RETRANSMISSION_MS, s.maxTimeoutMs),
    maxAttempts: Math.max(1, Math.floor(s.maxAttempts)),
  };
}

/**
 * The timeout after the `attempt`-th transmission (3.6.3): at least 1 s (R3.6.3-4), each one
 * twice the previous (R3.6.3-5) up to the maximum, which is no greater than the requested
 * Lifetime (R3.6.3-2). A deregistration (Lifetime 0) or an infinite Lifetime sets no such bound.
 */
export function retransmissionTimeout(attempt: number, settings: RetransmissionSettings, lifetime: number): number {
  const lifetimeCap = lifetime === 0 || lifetime === INFINITE_LIFETIME ? Infinity : lifetime * 1000;
  const maximum = Math.max(MIN_RETRANSMISSION_MS, Math.min(settings.maxTimeoutMs, lifetimeCap));
  const initial = Math.max(MIN_RETRANSMISSION_MS, settings.initialTimeoutMs);
  return Math.min(maximum, initial * 2 ** Math.max(0, attempt - 1));
}

/** R3.4-4 / R3.4-5: the smaller of the requested and the replied Lifetime. */
export function grantedLifetime(requested: number, replied: number): number {
  return Math.min(requested, replied);
}

/** A new Identification for a new Request (5.7), advancing the random source. */
function freshIdentification(context: MnRegistrationContext, now: number, previous: Identification | undefined) {
  const random = nextRandom32(context.random);
  const identification = nextIdentification({
    replay: context.replay,
    nowUnixMs: now,
    clockOffsetMs: context.clockOffsetMs,
    random32: random,
    ...(previous !== undefined ? { previous } : {}),
    ...(context.nonce !== undefined ? { nonce: context.nonce } : {}),
  });
  return { random, identification };
}

/** 5.7.2: the high half of an authenticated Reply from the home agent is the next nonce. */
function nonceFrom(context: MnRegistrationContext, event: ReplyEvent): number | undefined {
  if (context.replay !== 'nonce') return context.nonce;
  return isForeignAgentCode(event.code) ? context.nonce : event.identification.high >>> 0;
}

function replyOf(event: MnRegistrationEvent): ReplyEvent | undefined {
  return event.type === 'reply' ? event : undefined;
}

const reason = (why: string) => ({ type: 'reason', params: { reason: why } }) as const;

const sendRequest = {
  type: 'sendRequest',
  params: ({ context }: { context: MnRegistrationContext }) => ({
    attempt: context.attempt,
    identification: context.identification,
    lifetime: context.lifetime,
    homeAgent: context.homeAgent,
    retransmission: context.attempt > 1,
  }),
} as const;

/** What a registration asks of the mobile node. */
export type MnRegistrationCommand =
  | MachineCommand<
      'sendRequest',
      { readonly attempt: number; readonly identification: Identification; readonly lifetime: number; readonly homeAgent: Ipv4Address; readonly retransmission: boolean }
    >
  | MachineCommand<
      'registrationAccepted',
      {
        readonly code: number;
        readonly grantedLifetime: number;
        readonly expiresAt: number;
        readonly renewAt: number;
        readonly homeAddress: Ipv4Address;
        readonly homeAgent: Ipv4Address;
      }
    >
  | MachineCommand<'registrationDenied', { readonly code: number; readonly byForeignAgent: boolean }>
  | MachineCommand<'registrationGivenUp', { readonly attempts: number }>
  /** 4.6: announce this address's link-layer address (back home: the node's own). */
  | MachineCommand<'gratuitousArp', { readonly address: Ipv4Address }>;

export const mnRegistrationMachine = setup({
  types: {
    context: {} as MnRegistrationContext,
    events: {} as MnRegistrationEvent,
    input: {} as MnRegistrationInput,
  },
  actions: {
    reason: (_, _params: { reason: string }) => {},
    sendRequest: (_, _params: CommandParams<MnRegistrationCommand, 'sendRequest'>) => {},
    registrationAccepted: (_, _params: CommandParams<MnRegistrationCommand, 'registrationAccepted'>) => {},
    registrationDenied: (_, _params: CommandParams<MnRegistrationCommand, 'registrationDenied'>) => {},
    registrationGivenUp: (_, _params: CommandParams<MnRegistrationCommand, 'registrationGivenUp'>) => {},
    gratuitousArp: (_, _params: CommandParams<MnRegistrationCommand, 'gratuitousArp'>) => {},
    /** R4.6-10: the gratuitous ARP goes before the first Request only. */
    announced: assign(() => ({ gratuitousArp: undefined })),
    /** The 1 s since the last Request has passed: its deadline is the time. */
    spacingElapsed: assign(({ context }) => ({ now: Math.max(context.now, context.lastSentAt + MIN_RETRANSMISSION_MS) })),
    /** A new Request: first transmission, new Identification (5.7). */
    startRequest: assign(({ context }) => {
      const previous = context.lastIdentification;
      const { random, identification } = freshIdentification(context, context.now, previous);
      return {
        random,
        identification,
        lastIdentification: identification,
        identificationSentAt: context.now,
        lastSentAt: context.now,
        attempt: 1,
        timeoutMs: retransmissionTimeout(1, context.settings, context.lifetime),
      };
    }),
    /**
     * 3.6.3: under timestamps a new Identification per retransmission (it counts as a new
     * registration, strictly greater, R5.7.1-5); under nonces the Request goes unchanged.
     */
    retransmit: assign(({ context }) => {
      const attempt = context.attempt + 1;
      const common = { attempt, lastSentAt: context.now, timeoutMs: retransmissionTimeout(attempt, context.settings, context.lifetime) };
      if (context.replay === 'nonce') return common;
      const { random, identification } = freshIdentification(context, context.now, context.lastIdentification);
      return { ...common, random, identification, lastIdentification: identification, identificationSentAt: context.now };
    }),
    /** The retransmission timer fired: its deadline is the time. */
    timeoutElapsed: assign(({ context }) => ({ now: context.lastSentAt + context.timeoutMs })),
    renewalDue: assign(({ context }) => ({ now: context.renewAt ?? context.now })),
    at: assign(({ context, event }) => ({ now: 'at' in event ? event.at : context.now })),
    /** 3.6.2.2: the granted Lifetime counts from when the Request was sent (R3.6.2.2-4, -5). */
    recordAccepted: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      const granted = grantedLifetime(context.lifetime, reply.lifetime);
      const start = context.identificationSentAt;
      const expiresAt = granted === INFINITE_LIFETIME ? Infinity : start + granted * 1000;
      const renewAt =
        granted === INFINITE_LIFETIME
          ? Infinity
          : Math.max(context.lastSentAt + MIN_RETRANSMISSION_MS, start + Math.floor(granted * 1000 * context.settings.renewAtFraction));
      return {
        now: reply.at,
        grantedLifetime: granted,
        expiresAt,
        renewAt,
        lastCode: reply.code,
        acceptedIdentification: context.identification,
        // R3.6-4: a node without a home address takes the one the Reply gives.
        homeAddress: context.homeAddress === 0 ? reply.homeAddress : context.homeAddress,
        nonce: nonceFrom(context, reply),
        repairs: 0,
      };
    }),
    /**
     * 133 (3.6.2.3, 5.7): under timestamps the Reply's high half is the home agent's time of
     * day: correct the clock by it (its middle, the fraction is unknown); under nonces it is
     * the nonce to echo. Either way the next Request gets a new Identification (R3.6.2.3-3).
     * The next timestamp must exceed the last *accepted* one, not the rejected attempts: a
     * clock that ran ahead is exactly what 133 corrects.
     */
    resynchronise: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      const base = { now: reply.at, repairs: context.repairs + 1, lastCode: reply.code, nonce: nonceFrom(context, reply) };
      if (context.replay === 'nonce') return base;
      const homeAgentMs = identificationToUnixMs({ high: reply.identification.high, low: 0 }) + 500;
      return { ...base, clockOffsetMs: homeAgentMs - reply.at, lastIdentification: context.acceptedIdentification };
    }),
    /** 136 (3.6.2.3): register with the home agent that answered; adopt its nonce (R3.6.2.3-4, -5). */
    switchHomeAgent: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      return { now: reply.at, repairs: context.repairs + 1, lastCode: reply.code, homeAgent: reply.homeAgent, nonce: nonceFrom(context, reply) };
    }),
    /** 69 (3.6.2.3): ask again with at most the Lifetime the foreign agent allows (R3.6.2.3-2). */
    reduceLifetime: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      return { now: reply.at, repairs: context.repairs + 1, lastCode: reply.code, lifetime: Math.min(context.lifetime, reply.lifetime) };
    }),
    /** RFC 3024 refusals: the runtime adjusted the Request; send it again (a repair). */
    recordAdjusted: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      return { now: reply.at, repairs: context.repairs + 1, lastCode: reply.code, nonce: nonceFrom(context, reply) };
    }),
    recordDenied: assign(({ context, event }) => {
      const reply = replyOf(event)!;
      return { now: reply.at, lastCode: reply.code, nonce: nonceFrom(context, reply) };
    }),
  },
  guards: {
    hostIsReady: ({ context }) => context.hostReady,
    hostConfigured: ({ event }) => event.type === 'hostReady' && event.configured,
    /** R3.6.3-4, R3.6-9: any two Requests at least 1 s apart, repaired ones included. */
    requestTooSoon: ({ context }) => context.now < context.lastSentAt + MIN_RETRANSMISSION_MS,
    mustAnnounce: ({ context }) => context.gratuitousArp !== undefined,
    notAuthentic: ({ event }) => event.type === 'reply' && !event.authentic,
    /** R3.6.2.1-3, R5.7-5. */
    identificationMismatch: ({ context, event }) =>
      event.type === 'reply' && event.identification.low >>> 0 !== context.identification.low >>> 0,
    acceptedDeregistration: ({ context, event }) => event.type === 'reply' && isAcceptedCode(event.code) && context.lifetime === 0,
    accepted: ({ event }) => event.type === 'reply' && isAcceptedCode(event.code),
    canResynchronise: ({ context, event }) =>
      event.type === 'reply' && event.code === ReplyCode.IdentificationMismatch && context.repairs < context.settings.maxRepairs,
    canSwitchHomeAgent: ({ context, event }) =>
      event.type === 'reply' &&
      event.code === ReplyCode.UnknownHomeAgentAddress &&
      context.repairs < context.settings.maxRepairs &&
      event.homeAgent !== 0 &&
      event.homeAgent !== context.homeAgent,
    canReduceLifetime: ({ context, event }) =>
      event.type === 'reply' &&
      event.code === ReplyCode.LifetimeTooLong &&
      context.repairs < context.settings.maxRepairs &&
      event.lifetime > 0 &&
      event.lifetime < context.lifetime,
    canRetryAdjusted: ({ context, event }) =>
      event.type === 'reply' && event.requestAdjusted === true && context.repairs < context.settings.maxRepairs,
    mayRetransmit: ({ context }) => context.attempt < context.settings.maxAttempts,
    grantedInfinite: ({ context }) => context.grantedLifetime === INFINITE_LIFETIME,
  },
  delays: {
    retransmission: ({ context }) => context.timeoutMs,
    requestSpacing: ({ context }) => Math.max(0, context.lastSentAt + MIN_RETRANSMISSION_MS - context.now),
    reRegistration: ({ context }) => Math.max(0, (context.renewAt ?? context.now) - context.now),
  },
}).createMachine({
  id: 'mnRegistration',
  context: ({ input }) => {
    const replayState = input.replayState;
    return {
      replay: input.replay,
      homeAgent: input.homeAgent,
      homeAddress: input.homeAddress,
      lifetime: input.lifetime,
      originalLifetime: input.lifetime,
      settings: settingsFrom(input.retransmission),
      now: input.at,
      random: input.seed >>> 0,
      identification: { high: 0, low: 0 },
      identificationSentAt: input.at,
      lastSentAt: replayState?.lastRequestAt ?? LONG_AGO,
      hostReady: input.hostReady ?? true,
      gratuitousArp: input.gratuitousArp,
      attempt: 0,
      timeoutMs: 0,
      repairs: 0,
      clockOffsetMs: replayState?.clockOffsetMs ?? 0,
      nonce: replayState?.nonce,
      lastIdentification: replayState?.lastIdentification,
      acceptedIdentification: replayState?.acceptedIdentification,
    };
  },
  initial: 'starting',
  states: {
    starting: {
      always: [{ guard: 'hostIsReady', target: 'sending' }, { target: 'awaitingHost', actions: reason('awaiting-host') }],
    },
    /** The host is being configured for this attachment (addresses, routes, ARP): no Request yet. */
    awaitingHost: {
      on: {
        hostReady: [
          { guard: 'hostConfigured', target: 'sending', actions: ['at', reason('host-ready')] },
          { target: 'sending', actions: ['at', reason('host-configuration-failed')] },
        ],
        cancel: { target: 'cancelled', actions: ['at', reason('cancelled')] },
      },
    },
    /** A new Request (first transmission), with a new Identification made now. */
    sending: {
      always: [
        { guard: 'requestTooSoon', target: 'spacing', actions: reason('request-spacing') },
        {
          guard: 'mustAnnounce',
          target: 'awaitingReply',
          actions: [
            { type: 'gratuitousArp', params: ({ context }) => ({ address: context.gratuitousArp ?? 0 }) },
            'announced',
            'startRequest',
            sendRequest,
            reason('request-sent'),
          ],
        },
        { target: 'awaitingReply', actions: ['startRequest', sendRequest, reason('request-sent')] },
      ],
    },
    /** R3.6.3-4: the previous Request went out less than 1 s ago. */
    spacing: {
      after: { requestSpacing: { target: 'sending', actions: ['spacingElapsed', reason('request-spacing-elapsed')] } },
      on: { cancel: { target: 'cancelled', actions: ['at', reason('cancelled')] } },
    },
    awaitingReply: {
      after: {
        retransmission: [
          { guard: 'mayRetransmit', target: 'retransmitting', actions: ['timeoutElapsed', reason('reply-timeout')] },
          {
            target: 'givenUp',
            actions: [
              'timeoutElapsed',
              reason('no-reply'),
              { type: 'registrationGivenUp', params: ({ context }) => ({ attempts: context.attempt }) },
            ],
          },
        ],
      },
      on: {
        reply: [
          { guard: 'notAuthentic', actions: reason('reply-not-authentic') },
          { guard: 'identificationMismatch', actions: reason('reply-identification-mismatch') },
          {
            guard: 'acceptedDeregistration',
            target: 'deregistered',
            actions: ['recordAccepted', reason('deregistration-accepted'), acceptedCommand()],
          },
          { guard: 'accepted', target: 'accepted', actions: ['recordAccepted', reason('accepted'), acceptedCommand()] },
          { guard: 'canResynchronise', target: 'sending', actions: ['resynchronise', reason('identification-resynchronised')] },
          { guard: 'canSwitchHomeAgent', target: 'sending', actions: ['switchHomeAgent', reason('home-agent-address-learned')] },
          { guard: 'canReduceLifetime', target: 'sending', actions: ['reduceLifetime', reason('lifetime-reduced')] },
          { guard: 'canRetryAdjusted', target: 'sending', actions: ['recordAdjusted', reason('request-adjusted')] },
          {
            target: 'denied',
            actions: [
              'recordDenied',
              reason('denied'),
              {
                type: 'registrationDenied',
                params: ({ event }) => {
                  const code = event.type === 'reply' ? event.code : -1;
                  // 3.6.2: denied by the foreign agent (64-127, 193-200) or by the home agent.
                  return { code, byForeignAgent: isForeignAgentCode(code) && !isHomeAgentCode(code) };
                },
              },
            ],
          },
        ],
        cancel: { target: 'cancelled', actions: ['at', reason('cancelled')] },
      },
    },
    /** 3.6.3: no Reply within the timeout: transmit again, with a doubled timeout. */
    retransmitting: {
      always: { target: 'awaitingReply', actions: ['retransmit', sendRequest, reason('request-retransmitted')] },
    },
    accepted: {
      initial: 'choosing',
      states: {
        choosing: { always: [{ guard: 'grantedInfinite', target: 'unbounded' }, { target: 'timed' }] },
        /** R3.6.2.2-3: re-register before the Lifetime ends. */
        timed: {
          after: { reRegistration: { target: '#mnRegistration.sending', actions: ['renewalDue', reason('re-registration-due')] } },
        },
        /** Lifetime 0xffff: nothing to renew. */
        unbounded: {},
      },
      on: {
        reregister: { target: 'sending', actions: ['at', reason('re-registration-requested')] },
        cancel: { target: 'cancelled', actions: ['at', reason('cancelled')] },
      },
    },
    deregistered: { type: 'final' },
    denied: { type: 'final' },
    givenUp: { type: 'final' },
    cancelled: { type: 'final' },
  },
});

function acceptedCommand() {
  return {
    type: 'registrationAccepted',
    params: ({ context }: { context: MnRegistrationContext }) => ({
      code: context.lastCode ?? 0,
      grantedLifetime: context.grantedLifetime ?? 0,
      expiresAt: context.expiresAt ?? context.now,
      renewAt: context.renewAt ?? context.now,
      homeAddress: context.homeAddress,
      homeAgent: context.homeAgent,
    }),
  } as const;
}

export type MnRegistrationMachine = typeof mnRegistrationMachine;
