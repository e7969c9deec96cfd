/**
 * fast-check arbitraries of the six machines' inputs and events, as the actor host meets them:
 * an event is made when it is sent, from the current context and the clock (`(context, now) =>
 * event`), so that Replies can answer the Identification in flight and advertisements can come
 * from the agent in use. Values come from small pools, so that equal values (duplicates,
 * matches) come up often. test/runtime/engine-equivalence.test.ts drives the compiled engine
 * and xstate with them; `eventMakers(entry)` is one arbitrary of makers over all event types.
 */
import fc from 'fast-check';
import type { AnyStateMachine, ContextFrom, EventFromLogic, InputFrom } from 'xstate';
import { AdvertisementFlag } from '../io/wire/agent-discovery.js';
import { advertiserMachine } from '../machines/advertiser.js';
import { bindingMachine, INFINITE_LIFETIME, type Registration } from '../machines/binding.js';
import { faPendingMachine } from '../machines/fa-pending.js';
import { mnDiscoveryMachine } from '../machines/mn-discovery.js';
import { mnRegistrationMachine } from '../machines/mn-registration.js';
import { visitorMachine, type VisitorRequest } from '../machines/visitor.js';

const T0 = Date.UTC(2026, 0, 1);

export type EventOf<M extends AnyStateMachine> = EventFromLogic<M>;
export type EventMakerOf<M extends AnyStateMachine, E> = (context: ContextFrom<M>, now: number) => E;
/** Per declared event type, an arbitrary of makers of that event. Missing types get `{ type, at }`. */
export type EventTable<M extends AnyStateMachine> = {
  readonly [K in EventOf<M>['type']]?: fc.Arbitrary<EventMakerOf<M, Extract<EventOf<M>, { type: K }>>>;
};

export interface MachineArbitraries<M extends AnyStateMachine> {
  readonly machine: M;
  readonly input: fc.Arbitrary<InputFrom<M>>;
  readonly events: EventTable<M>;
  /** Relative weights of event types (default 1): more of those that lead deeper. */
  readonly weights?: { readonly [K in EventOf<M>['type']]?: number };
  readonly numRuns?: number;
  readonly maxSteps?: number;
  readonly maxAdvanceMs?: number;
}

function machineCase<M extends AnyStateMachine>(c: MachineArbitraries<M>): MachineArbitraries<AnyStateMachine> {
  return c as unknown as MachineArbitraries<AnyStateMachine>;
}


// --- shared values: small pools, so that equal values (duplicates, matches) come up often ---

const HOME_NETWORK = 0xc6336400; // 198.51.100.0/24
const HOME = 0xc633640a; // 198.51.100.10
const HOME_AGENT = 0xc6336401; // 198.51.100.1
const FA_1 = 0xcb007101; // 203.0.113.1
const FA_2 = 0xc0000201; // 192.0.2.1
const COLOCATED = 0xcb007164; // 203.0.113.100
const mac = fc.constantFrom('02:00:00:00:00:0a', '02:00:00:00:00:0b');
const careOf = fc.constantFrom(FA_1, FA_2, 0xcb007102);
const identification = fc.constantFrom({ high: 1, low: 1 }, { high: 1, low: 2 }, { high: 2, low: 1 });
const seed = fc.integer({ min: 0, max: 0xffffffff });

// --- the binding (home agent) ---

const registration = fc.record({
  careOfAddress: careOf,
  lifetime: fc.constantFrom(0, 1, 30, 3600, INFINITE_LIFETIME),
  identification,
  encapsulation: fc.constantFrom('ip-in-ip' as const, 'minimal' as const, 'gre' as const),
  broadcast: fc.boolean(),
  decapsulatedByMobileNode: fc.boolean(),
  reverseTunnel: fc.boolean(),
  relayedBy: fc.option(careOf, { nil: undefined }),
});

const binding = machineCase({
  machine: bindingMachine,
  input: registration.map((r) => ({ homeAddress: HOME, ...r, at: T0 }) as Registration & { homeAddress: number }),
  events: {
    register: registration.map((r) => (_c, now) => ({ type: 'register' as const, ...r, at: now })),
    deregister: fc.constant((_c, now) => ({ type: 'deregister' as const, at: now })),
    'deregister-all': fc.constant((_c, now) => ({ type: 'deregister-all' as const, at: now })),
    replaced: fc.constant((_c, now) => ({ type: 'replaced' as const, at: now })),
  },
  numRuns: 300,
  maxAdvanceMs: 40_000,
});

// --- the visitor entry and the pending registration (foreign agent) ---

const visitorRequest = fc.record({
  linkLayerSource: mac,
  ipSource: fc.constantFrom(HOME, 0),
  udpSourcePort: fc.constant(49152),
  homeAgent: fc.constant(HOME_AGENT),
  careOfAddress: careOf,
  identification,
  requestedLifetime: fc.constantFrom(0, 1, 5, 300, INFINITE_LIFETIME),
});

const visitor = machineCase({
  machine: visitorMachine,
  input: fc
    .tuple(visitorRequest, fc.option(fc.constant('node@example.org'), { nil: undefined }))
    .map(([r, nai]) => ({ homeAddress: HOME, ...(nai === undefined ? {} : { nai }), ...r, at: T0 })),
  events: {
    request: visitorRequest.map((r) => (_c, now) => ({ type: 'request' as const, ...r, at: now }) satisfies { type: 'request' } & VisitorRequest),
    accepted: fc.constantFrom(0, 0, 1, 5, 300, INFINITE_LIFETIME).map((lifetime) => (_c, now) => ({ type: 'accepted' as const, lifetime, at: now })),
    denied: fc.constantFrom(133, 68, 71).map((code) => (_c, now) => ({ type: 'denied' as const, code, at: now })),
    'pending-failed': fc.constantFrom(78, 80, 88).map((code) => (_c, now) => ({ type: 'pending-failed' as const, code, at: now })),
  },
  // A deregistration needs registered → request → accepted(0) before a timer, a denial or a
  // failure of the first Request ends the entry.
  weights: { request: 2, accepted: 3 },
  numRuns: 500,
  maxAdvanceMs: 8_000,
});

const faPending = machineCase({
  machine: faPendingMachine,
  input: fc.record({
    pending: fc.record({
      linkLayerSource: mac,
      ipSource: fc.constantFrom(HOME, 0),
      ipDestination: fc.constant(FA_1),
      udpSourcePort: fc.constant(49152),
      homeAddress: fc.constant(HOME),
      homeAgent: fc.constant(HOME_AGENT),
      careOfAddress: careOf,
      identification,
      requestedLifetime: fc.constantFrom(0, 1, 5, 30, INFINITE_LIFETIME),
      nai: fc.option(fc.constant('node@example.org'), { nil: undefined }),
      foreignHomeAuthenticated: fc.boolean(),
    }),
    relayedAt: fc.constant(T0),
    timeoutMs: fc.option(fc.constantFrom(1_000, 7_001, 20_000), { nil: undefined }),
  }),
  events: {
    answered: fc.constantFrom(0, 1, 133).map((code) => (_c, now) => ({ type: 'answered' as const, code, at: now })),
    'reply-rejected': fc.constantFrom(68 as const, 71 as const).map((code) => (_c, now) => ({ type: 'reply-rejected' as const, code, at: now })),
    'icmp-error': fc
      .record({ icmpType: fc.constantFrom(3, 11, 12), icmpCode: fc.integer({ min: 0, max: 15 }) })
      .map((e) => (_c, now) => ({ type: 'icmp-error' as const, ...e, at: now })),
    superseded: fc.constant((_c, now) => ({ type: 'superseded' as const, at: now })),
  },
  // Every run ends at its first event; the final states need many short runs.
  numRuns: 300,
  maxAdvanceMs: 10_000,
});

// --- the advertiser (both agents) ---

const advertiser = machineCase({
  machine: advertiserMachine,
  input: fc.record({
    lifetimeSeconds: fc.constantFrom(3, 30, 1800),
    maxIntervalMs: fc.option(fc.constantFrom(1_000, 4_000, 600_000), { nil: undefined }),
    periodic: fc.option(fc.boolean(), { nil: undefined }),
    unicastResponses: fc.option(fc.boolean(), { nil: undefined }),
    minMulticastGapMs: fc.option(fc.constantFrom(500, 3_000), { nil: undefined }),
    busy: fc.option(fc.boolean(), { nil: undefined }),
    seed,
  }),
  events: {
    solicitation: fc
      .record({ source: fc.constantFrom(0, HOME, 0xcb007155), linkLayerSource: mac, random: seed })
      .map((s) => (_c, now) => ({ type: 'solicitation' as const, ...s, at: now })),
    'set-busy': fc.boolean().map((busy) => (_c, now) => ({ type: 'set-busy' as const, busy, at: now })),
  },
  maxAdvanceMs: 4_000,
});

// --- the mobile node: discovery and registration ---

const F = AdvertisementFlag.F;
const agentAdvertisement = fc.record({
  agent: fc.constantFrom('home', 'fa1', 'fa2', 'fa1'),
  // 0: an Advertisement valid for no time at all, so the agent is lost at once (even while holding off).
  lifetime: fc.constantFrom(0, 1, 3, 30),
  sequence: fc.constantFrom(0, 5, 256, 300, 0xffff),
  // F alone, with B (busy), with R (registration required), with M/G/T; H for the home agent.
  flags: fc.constantFrom(F, F, F | AdvertisementFlag.B, F | AdvertisementFlag.R, F | AdvertisementFlag.M | AdvertisementFlag.T, F | 0x0003),
  prefix: fc.option(fc.constantFrom(24, 16), { nil: undefined }),
  withCareOf: fc.constantFrom(true, true, true, false),
});

const mnDiscovery = machineCase({
  machine: mnDiscoveryMachine,
  input: fc.record({
    at: fc.constant(T0),
    seed,
    homeAddress: fc.constant(HOME),
    homeNetwork: fc.constant(HOME_NETWORK),
    homePrefixLength: fc.constant(24),
    homeAgent: fc.option(fc.constant(HOME_AGENT), { nil: undefined }),
    moveDetection: fc.constantFrom('lifetime' as const, 'prefix' as const),
    colocated: fc.option(fc.record({ address: fc.constant(COLOCATED), prefixLength: fc.option(fc.constant(24), { nil: undefined }) }), {
      nil: undefined,
      freq: 4,
    }),
    solicitation: fc.option(fc.record({ maxSolicitations: fc.constantFrom(2, 5) }), { nil: undefined }),
  }),
  events: {
    advertisement: agentAdvertisement.map((a) => (_c, now) => {
      const home = a.agent === 'home';
      const source = home ? HOME_AGENT : a.agent === 'fa1' ? FA_1 : FA_2;
      return {
        type: 'advertisement' as const,
        at: now,
        source,
        linkSource: home ? '02:00:00:00:01:01' : '02:00:00:00:02:02',
        lifetime: a.lifetime,
        sequence: a.sequence,
        registrationLifetime: 300,
        flags: home ? AdvertisementFlag.H : a.flags,
        careOfAddresses: home || !a.withCareOf ? [] : [source],
        routers: [source],
        ...(a.prefix !== undefined ? { prefixLengths: [a.prefix] } : {}),
      };
    }),
    registered: fc.constant((_c, now) => ({ type: 'registered' as const, at: now })),
    linkChanged: fc.constant((_c, now) => ({ type: 'linkChanged' as const, at: now })),
    colocatedAddressChanged: fc
      .option(fc.record({ address: fc.constantFrom(COLOCATED, COLOCATED + 1), prefixLength: fc.option(fc.constant(24), { nil: undefined }) }), {
        nil: undefined,
      })
      .map((colocated) => (_c, now) => ({ type: 'colocatedAddressChanged' as const, at: now, ...(colocated === undefined ? {} : { colocated }) })),
  },
  numRuns: 400,
  maxSteps: 40,
  maxAdvanceMs: 6_000,
});

const mnRegistration = machineCase({
  machine: mnRegistrationMachine,
  input: fc.record({
    replay: fc.constantFrom('timestamp' as const, 'nonce' as const),
    homeAgent: fc.constant(HOME_AGENT),
    homeAddress: fc.constantFrom(HOME, 0),
    lifetime: fc.constantFrom(0, 4, 300, INFINITE_LIFETIME, INFINITE_LIFETIME),
    at: fc.constant(T0),
    seed,
    retransmission: fc.option(fc.record({ maxAttempts: fc.constantFrom(2, 6), maxRepairs: fc.constantFrom(1, 3) }), { nil: undefined }),
    // The host still being configured (the first Request waits for hostReady), and a return home.
    hostReady: fc.boolean(),
    gratuitousArp: fc.option(fc.constant(HOME), { nil: undefined }),
    replayState: fc.option(fc.record({ clockOffsetMs: fc.constant(0), lastRequestAt: fc.constantFrom(T0 - 200, T0 - 5_000) }), { nil: undefined }),
  }),
  events: {
    hostReady: fc.boolean().map((configured) => (_c, now) => ({ type: 'hostReady' as const, at: now, configured })),
    // Most Replies answer the Request in flight (its Identification), as the guards require.
    reply: fc
      .record({
        matching: fc.constantFrom(true, true, true, false),
        code: fc.constantFrom(0, 1, 0, 69, 133, 136, 66, 130),
        lifetime: fc.constantFrom(0, 2, 100, 300, INFINITE_LIFETIME, INFINITE_LIFETIME),
        homeAgent: fc.constantFrom(HOME_AGENT, 0xc6336402, 0),
        high: fc.integer({ min: 0, max: 0xffffffff }),
        authentic: fc.constantFrom(true, true, true, false),
      })
      .map((r) => (c, now) => ({
        type: 'reply' as const,
        at: now,
        code: r.code,
        lifetime: r.lifetime,
        homeAddress: HOME,
        homeAgent: r.homeAgent,
        identification: r.matching ? { high: r.high, low: c.identification.low } : { high: r.high, low: (c.identification.low + 1) >>> 0 },
        authentic: r.authentic,
      })),
    reregister: fc.constant((_c, now) => ({ type: 'reregister' as const, at: now })),
    cancel: fc.constant((_c, now) => ({ type: 'cancel' as const, at: now })),
  },
  weights: { reply: 3 },
  numRuns: 300,
  maxAdvanceMs: 5_000,
});


/** An event made at send time from the context and the clock (what the differential driver sends). */
export type EventMaker = (context: never, now: number) => { readonly type: string };

/** The six machines' input and event arbitraries, with the run sizes that reach all their states. */
export const MACHINE_ARBITRARIES = { binding, visitor, faPending, advertiser, mnDiscovery, mnRegistration } as const;

/** One arbitrary of makers over the entry's event table, weighted as the entry says. */
export function eventMakers(entry: MachineArbitraries<AnyStateMachine>): fc.Arbitrary<EventMaker> {
  const table = entry.events as Record<string, fc.Arbitrary<EventMaker> | undefined>;
  const weights = (entry.weights ?? {}) as Record<string, number | undefined>;
  return fc.oneof(...Object.entries(table).flatMap(([type, arbitrary]) => (arbitrary ? [{ weight: weights[type] ?? 1, arbitrary }] : [])));
}
