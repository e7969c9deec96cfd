/**
 * The mobility binding of a home agent (RFC 5944 3.8.1, 3.8.2.2): one actor per home address,
 * and one more per care-of address where simultaneous bindings are granted.
 *
 * Pure behaviour: no IO, no clock reads. Time arrives in events (`at`, ms since the epoch)
 * and the lifetime is a named delay computed from context, so the host (or a SimulatedClock
 * in tests) decides when it fires. Every transition names its reason with the `reason`
 * action; the runtime records `{actor, from, to, reason}`.
 *
 * Commands to the runtime: `publishBinding` (the forwarding table gains or updates this
 * home address → care-of address entry, read from the snapshot after the step) and
 * `withdrawBinding` with the care-of address whose entry goes (resolved before the step's
 * assignments, so a change of care-of address withdraws the old one). Replies are the
 * runtime's: it reads the granted lifetime from the snapshot after the step.
 */
import { assign, setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { Identification } from '../io/wire/registration-types.js';
import type { Encapsulation } from '../io/wire/tunnel.js';

export type { Encapsulation };

/** 3.3 / 3.4: 0xffff means infinity. */
export const INFINITE_LIFETIME = 0xffff;

/** What an accepted registration asks of a binding. */
export interface Registration {
  readonly careOfAddress: Ipv4Address;
  /** Seconds granted by the lifetime policy (already reduced to the maximum, 3.8.2.2). */
  readonly lifetime: number;
  readonly identification: Identification;
  readonly encapsulation: Encapsulation;
  /** B bit granted: tunnel home-network broadcasts too (4.3). */
  readonly broadcast: boolean;
  /** D bit: the mobile node decapsulates itself (co-located care-of address). */
  readonly decapsulatedByMobileNode: boolean;
  readonly reverseTunnel: boolean;
  /** Address of the foreign agent that relayed the request, when one did. */
  readonly relayedBy?: Ipv4Address;
  /** ms since the epoch, from the runtime's clock. */
  readonly at: number;
}

export interface BindingContext extends Registration {
  readonly homeAddress: Ipv4Address;
  /** When the current lifetime started (ms). Unchanged by duplicates (3.8.2.2). */
  readonly registeredAt: number;
  /** When it ends (ms); Infinity for an infinite lifetime. */
  readonly expiresAt: number;
}

export type BindingInput = { readonly homeAddress: Ipv4Address } & Registration;

export type BindingEvent =
  /** An accepted registration with a non-zero lifetime for this binding. */
  | ({ readonly type: 'register' } & Registration)
  /** Lifetime 0 for this binding's care-of address (3.8.2.2, second case). */
  | { readonly type: 'deregister'; readonly at: number }
  /** Lifetime 0 with care-of address = home address: all bindings of the node go (3.8.2.2). */
  | { readonly type: 'deregister-all'; readonly at: number }
  /** A registration without the S bit (or without simultaneous support) replaced this binding (3.8.2.2). */
  | { readonly type: 'replaced'; readonly at: number };

function expiresAt(at: number, lifetime: number): number {
  return lifetime === INFINITE_LIFETIME ? Infinity : at + lifetime * 1000;
}

function contextFrom(homeAddress: Ipv4Address, r: Registration): BindingContext {
  return {
    homeAddress,
    careOfAddress: r.careOfAddress,
    lifetime: r.lifetime,
    identification: r.identification,
    encapsulation: r.encapsulation,
    broadcast: r.broadcast,
    decapsulatedByMobileNode: r.decapsulatedByMobileNode,
    reverseTunnel: r.reverseTunnel,
    relayedBy: r.relayedBy,
    at: r.at,
    registeredAt: r.at,
    expiresAt: expiresAt(r.at, r.lifetime),
  };
}

/**
 * Seconds of lifetime left at `now`, rounded down (the mobile node re-registers in time), but
 * never 0 while the binding lives: a Reply Lifetime of 0 tells the node it is deregistered
 * (3.4). 0xffff stays infinite.
 */
export function remainingLifetime(context: BindingContext, now: number): number {
  if (context.expiresAt === Infinity) return INFINITE_LIFETIME;
  const remaining = context.expiresAt - now;
  return remaining <= 0 ? 0 : Math.max(1, Math.floor(remaining / 1000));
}

/** What the binding asks of the home agent (the actor host hands these over after a step). */
export type BindingCommand =
  /** The binding is (again) in force: publish it; the Reply grants its whole lifetime (3.8.2.2). */
  | MachineCommand<'publishBinding', { readonly grantedLifetime: number }>
  /** A duplicate of the current registration: the Reply grants what is left of it (3.8.2.2). */
  | MachineCommand<'keepBinding', { readonly grantedLifetime: number }>
  /** The binding for this care-of address ended: withdraw its tunnel. */
  | MachineCommand<'withdrawBinding', { readonly careOfAddress: Ipv4Address }>;

/** Publishes the binding as the context holds it after the step: its lifetime was just granted. */
const publishCurrent = {
  type: 'publishBinding',
  params: ({ context }: { context: BindingContext }) => ({ grantedLifetime: context.lifetime }),
} as const;

/** A duplicate keeps the binding's timer: the Reply grants the seconds left (3.8.2.2). */
const keepCurrent = {
  type: 'keepBinding',
  params: ({ context, event }: { context: BindingContext; event: BindingEvent }) => ({ grantedLifetime: remainingLifetime(context, event.at) }),
} as const;

/** Withdraws the care-of address the binding holds when the action is resolved. */
const withdrawCurrent = {
  type: 'withdrawBinding',
  params: ({ context }: { context: BindingContext }) => ({ careOfAddress: context.careOfAddress }),
} as const;

export const bindingMachine = setup({
  types: {
    context: {} as BindingContext,
    events: {} as BindingEvent,
    input: {} as BindingInput,
  },
  actions: {
    // Commands: the host hands them to the runtime; nothing runs here.
    publishBinding: (_, _params: CommandParams<BindingCommand, 'publishBinding'>) => {},
    keepBinding: (_, _params: CommandParams<BindingCommand, 'keepBinding'>) => {},
    withdrawBinding: (_, _params: CommandParams<BindingCommand, 'withdrawBinding'>) => {},
    reason: (_, _params: { reason: string }) => {},
    renew: assign(({ context, event }) => {
      if (event.type !== 'register') return {};
      return contextFrom(context.homeAddress, event);
    }),
  },
  guards: {
    /**
     * 3.8.2.2: a request is a duplicate of the accepted current one when home address,
     * care-of address and Identification all match; its lifetime must not extend the
     * lifetime originally granted, so the binding keeps its timer.
     */
    isDuplicate: ({ context, event }) =>
      event.type === 'register' &&
      event.careOfAddress === context.careOfAddress &&
      event.identification.high === context.identification.high &&
      event.identification.low === context.identification.low,
    sameCareOfAddress: ({ context, event }) => event.type === 'register' && event.careOfAddress === context.careOfAddress,
    isInfinite: ({ context }) => context.lifetime === INFINITE_LIFETIME,
  },
  delays: {
    lifetime: ({ context }) => context.lifetime * 1000,
  },
}).createMachine({
  id: 'binding',
  context: ({ input }) => contextFrom(input.homeAddress, input),
  initial: 'registered',
  states: {
    registered: {
      entry: [{ type: 'reason', params: { reason: 'registered' } }, publishCurrent],
      initial: 'choosing',
      states: {
        choosing: {
          always: [{ guard: 'isInfinite', target: 'unbounded' }, { target: 'timed' }],
        },
        timed: {
          after: {
            lifetime: {
              target: '#binding.expired',
              actions: { type: 'reason', params: { reason: 'lifetime-expired' } },
            },
          },
        },
        /** Lifetime 0xffff: no timer (3.3). */
        unbounded: {},
      },
      on: {
        register: [
          { guard: 'isDuplicate', actions: [{ type: 'reason', params: { reason: 'duplicate' } }, keepCurrent] },
          {
            guard: 'sameCareOfAddress',
            target: 'registered',
            reenter: true,
            actions: ['renew', { type: 'reason', params: { reason: 'renewed' } }],
          },
          {
            target: 'registered',
            reenter: true,
            actions: [
              { type: 'reason', params: { reason: 'care-of-address-changed' } },
              withdrawCurrent,
              'renew',
            ],
          },
        ],
        deregister: { target: 'deregistered', actions: { type: 'reason', params: { reason: 'deregistered' } } },
        'deregister-all': {
          target: 'deregistered',
          actions: { type: 'reason', params: { reason: 'deregistered-all' } },
        },
        replaced: { target: 'deregistered', actions: { type: 'reason', params: { reason: 'replaced' } } },
      },
    },
    /** 3.8.2.2: after the lifetime the entry is deleted; no reply is sent (3.8, R3.8-2). */
    expired: { type: 'final', entry: withdrawCurrent },
    deregistered: { type: 'final', entry: withdrawCurrent },
  },
});

export type BindingMachine = typeof bindingMachine;
