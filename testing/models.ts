/**
 * Ready test models of mip4's six machines: each the machine, an input, and the finite event
 * set that explores it (timers as their `xstate.after.*` events). The same event sets drive
 * test/machines/*.test.ts, which check the paths against models written from RFC 5944.
 *
 * Addresses are TEST-NET: home network 198.51.100.0/24 (home agent .1, home address .10),
 * foreign agents and care-of addresses in 203.0.113.0/24 and 192.0.2.0/24.
 */
import { AdvertisementFlag } from '../io/wire/agent-discovery.js';
import { ipv4, type Ipv4Address } from '../io/wire/bytes.js';
import type { Identification } from '../io/wire/registration-types.js';
import { advertiserMachine, type AdvertiserSettings } from '../machines/advertiser.js';
import { bindingMachine, INFINITE_LIFETIME, type BindingInput, type Registration } from '../machines/binding.js';
import { faPendingMachine, type FaPendingInput } from '../machines/fa-pending.js';
import { mnDiscoveryMachine, type AdvertisementEvent, type MnDiscoveryInput } from '../machines/mn-discovery.js';
import { mnRegistrationMachine, type MnRegistrationInput, type ReplyEvent } from '../machines/mn-registration.js';
import { visitorMachine, type VisitorInput, type VisitorRequest } from '../machines/visitor.js';
import { machineTestModel, type MachineTestModel, type MachineTestModelOptions, type ModelEvent, type ModelSnapshot } from './model.js';

/** 2026-01-01T00:00:00Z: the time the models' inputs and events start from. */
export const MODEL_T0 = Date.UTC(2026, 0, 1);
const T0 = MODEL_T0;
const HOME = ipv4('198.51.100.10');
const HOME_NETWORK = ipv4('198.51.100.0');
const HOME_AGENT = ipv4('198.51.100.1');
const COA_A = ipv4('203.0.113.1');
const COA_B = ipv4('203.0.113.2');
const FOREIGN_AGENT = ipv4('203.0.113.254');

// --- binding (home agent, 3.8.1, 3.8.2.2) --------------------------------------------------------

export const BINDING_TIMERS = { lifetime: 'xstate.after.lifetime.binding.registered.timed' } as const;

const bindingIdentification = (low: number): Identification => ({ high: 0xeb3c7f00, low });
function bindingRegistration(careOfAddress: Ipv4Address, identification: Identification, lifetime: number, at: number): Registration {
  return { careOfAddress, lifetime, identification, encapsulation: 'ip-in-ip', broadcast: false, decapsulatedByMobileNode: false, reverseTunnel: false, relayedBy: FOREIGN_AGENT, at };
}

export const BINDING_INPUT: BindingInput = { homeAddress: HOME, ...bindingRegistration(COA_A, bindingIdentification(1), 600, T0) };

/** Fixed `at`s, so the state space is finite. */
export const BINDING_EVENTS = {
  /** Same care-of address and Identification as the initial registration, asking for more (3.8.2.2 duplicate). */
  duplicateOfInitial: { type: 'register', ...bindingRegistration(COA_A, bindingIdentification(1), 1200, T0 + 10_000) },
  /** Same care-of address, new Identification: a renewal with a shorter lifetime. */
  renewal: { type: 'register', ...bindingRegistration(COA_A, bindingIdentification(2), 300, T0 + 20_000) },
  /** Another care-of address. */
  move: { type: 'register', ...bindingRegistration(COA_B, bindingIdentification(3), 600, T0 + 30_000) },
  /** Another care-of address with the initial Identification: not a duplicate (3.8.2.2). */
  moveWithInitialIdentification: { type: 'register', ...bindingRegistration(COA_B, bindingIdentification(1), 900, T0 + 40_000) },
  /** Lifetime 0xffff: infinity (3.3). */
  infinite: { type: 'register', ...bindingRegistration(COA_A, bindingIdentification(4), INFINITE_LIFETIME, T0 + 50_000) },
  deregister: { type: 'deregister', at: T0 + 60_000 },
  deregisterAll: { type: 'deregister-all', at: T0 + 60_000 },
  replaced: { type: 'replaced', at: T0 + 60_000 },
  lifetimeExpiry: { type: BINDING_TIMERS.lifetime },
} as const satisfies Record<string, ModelEvent<typeof bindingMachine>>;

export const BINDING_MODEL: MachineTestModelOptions<typeof bindingMachine> = {
  input: BINDING_INPUT,
  events: Object.values(BINDING_EVENTS),
  startAt: T0,
};

// --- visitor (foreign agent, 3.7.1, 3.7.2, 3.7.3.2) ------------------------------------------------

export const VISITOR_TIMERS = {
  pending: 'xstate.after.pendingLifetime.visitor.pending.timed',
  lifetime: 'xstate.after.lifetime.visitor.registered.timed',
} as const;

function visitorRequest(requestedLifetime: number, at: number, careOfAddress = COA_A, linkLayerSource = '02:00:00:00:00:0a'): VisitorRequest {
  return { linkLayerSource, ipSource: HOME, udpSourcePort: 49152, homeAgent: HOME_AGENT, careOfAddress, identification: { high: 1, low: requestedLifetime }, requestedLifetime, at };
}

export const VISITOR_INPUT: VisitorInput = { homeAddress: HOME, ...visitorRequest(600, T0) };

export const VISITOR_EVENTS = {
  renewal: { type: 'request', ...visitorRequest(300, T0 + 1000, COA_B, '02:00:00:00:00:0b') },
  infiniteRequest: { type: 'request', ...visitorRequest(INFINITE_LIFETIME, T0 + 1000) },
  deregistrationRequest: { type: 'request', ...visitorRequest(0, T0 + 1000) },
  accepted: { type: 'accepted', lifetime: 500, at: T0 + 2000 },
  acceptedInfinite: { type: 'accepted', lifetime: INFINITE_LIFETIME, at: T0 + 2000 },
  acceptedZero: { type: 'accepted', lifetime: 0, at: T0 + 2000 },
  denied: { type: 'denied', code: 133, at: T0 + 2000 },
  failed: { type: 'pending-failed', code: 78, at: T0 + 8000 },
  pendingExpiry: { type: VISITOR_TIMERS.pending },
  lifetimeExpiry: { type: VISITOR_TIMERS.lifetime },
} as const satisfies Record<string, ModelEvent<typeof visitorMachine>>;

export const VISITOR_MODEL: MachineTestModelOptions<typeof visitorMachine> = {
  input: VISITOR_INPUT,
  events: Object.values(VISITOR_EVENTS),
  startAt: T0,
};

// --- fa-pending (foreign agent, 3.7.1, 3.7.3) ----------------------------------------------------

export const FA_PENDING_TIMERS = { timeout: 'xstate.after.timeout.faPending.relayed' } as const;

export const FA_PENDING_INPUT: FaPendingInput = {
  pending: {
    linkLayerSource: '02:00:00:00:00:0a',
    ipSource: HOME,
    ipDestination: FOREIGN_AGENT,
    udpSourcePort: 49152,
    homeAddress: HOME,
    homeAgent: HOME_AGENT,
    careOfAddress: COA_A,
    identification: { high: 1, low: 2 },
    requestedLifetime: 600,
    foreignHomeAuthenticated: false,
  },
  relayedAt: T0,
};

export const FA_PENDING_EVENTS: readonly ModelEvent<typeof faPendingMachine>[] = [
  { type: 'answered', code: 0, at: T0 + 1000 },
  { type: 'reply-rejected', code: 68, at: T0 + 1000 },
  { type: 'reply-rejected', code: 71, at: T0 + 1000 },
  { type: 'icmp-error', icmpType: 3, icmpCode: 1, at: T0 + 1000 },
  { type: 'icmp-error', icmpType: 11, icmpCode: 0, at: T0 + 1000 },
  { type: 'superseded', at: T0 + 1000 },
  { type: FA_PENDING_TIMERS.timeout },
];

export const FA_PENDING_MODEL: MachineTestModelOptions<typeof faPendingMachine> = {
  input: FA_PENDING_INPUT,
  events: FA_PENDING_EVENTS,
  startAt: T0,
};

// --- advertiser (both agents, 2.3, 2.3.2) --------------------------------------------------------

export const ADVERTISER_TIMERS = {
  interval: 'xstate.after.interval.advertiser.active',
  multicastGap: 'xstate.after.multicastGap.advertiser.active.quiet',
  response: 'xstate.after.responseDelay.advertiser.active.responding',
} as const;

export const ADVERTISER_INPUT: AdvertiserSettings = { lifetimeSeconds: 30, seed: 12345 };

export const ADVERTISER_EVENTS: readonly ModelEvent<typeof advertiserMachine>[] = [
  { type: 'solicitation', source: HOME, linkLayerSource: '02:00:00:00:00:0a', random: 0x40000000, at: T0 },
  { type: 'solicitation', source: 0, linkLayerSource: '02:00:00:00:00:0a', random: 0x80000000, at: T0 },
  { type: 'set-busy', busy: true, at: T0 },
  ...Object.values(ADVERTISER_TIMERS).map((type) => ({ type })),
];

export const ADVERTISER_MODEL: MachineTestModelOptions<typeof advertiserMachine> = {
  input: ADVERTISER_INPUT,
  events: ADVERTISER_EVENTS,
  // Sequence numbers grow without bound: a state is its value and whether the agent is busy.
  serializeState: (snapshot) => JSON.stringify([snapshot.value, snapshot.context.busy]),
  startAt: T0,
};

// --- mn-discovery (mobile node, 2.4, 4.6) ----------------------------------------------------------

export const MN_DISCOVERY_TIMERS = {
  solicitation: 'xstate.after.nextSolicitation.mnDiscovery.searching.waiting',
  awayHoldOff: 'xstate.after.registrationHoldOff.mnDiscovery.away.holdingOff',
  homeHoldOff: 'xstate.after.registrationHoldOff.mnDiscovery.atHome.holdingOff',
  awayHoldingLifetime: 'xstate.after.agentLifetime.mnDiscovery.away.holdingOff',
  awayAttachedLifetime: 'xstate.after.agentLifetime.mnDiscovery.away.attached',
  homeHoldingLifetime: 'xstate.after.agentLifetime.mnDiscovery.atHome.holdingOff',
  homeSettledLifetime: 'xstate.after.agentLifetime.mnDiscovery.atHome.settled',
} as const;

export const MN_DISCOVERY_INPUT: MnDiscoveryInput = {
  at: T0,
  seed: 7,
  homeAddress: HOME,
  homeAgent: HOME_AGENT,
  homeNetwork: HOME_NETWORK,
  homePrefixLength: 24,
  solicitation: { jitterFraction: 0, maxSolicitations: 2 },
};

export interface AdvertisementOptions {
  readonly flags?: number;
  readonly lifetime?: number;
  readonly sequence?: number;
  /** The Prefix-Lengths Extension's length (default 24); null: no extension. */
  readonly prefix?: number | null;
  readonly careOf?: readonly Ipv4Address[];
  readonly registrationLifetime?: number;
}

/** An Agent Advertisement as the mobile node's machine hears it (defaults: a foreign agent, F, 30 s, /24). */
export function advertisementFrom(source: Ipv4Address, at: number, options: AdvertisementOptions = {}): AdvertisementEvent {
  const prefix = options.prefix === undefined ? 24 : options.prefix;
  const flags = options.flags ?? AdvertisementFlag.F;
  return {
    type: 'advertisement',
    at,
    source,
    linkSource: `02:00:00:00:00:${(source & 0xff).toString(16).padStart(2, '0')}`,
    lifetime: options.lifetime ?? 30,
    sequence: options.sequence ?? 10,
    registrationLifetime: options.registrationLifetime ?? 600,
    flags,
    careOfAddresses: options.careOf ?? (flags & AdvertisementFlag.F ? [source] : []),
    routers: [source],
    ...(prefix === null ? {} : { prefixLengths: [prefix] }),
  };
}

type MnDiscoverySnapshot = ModelSnapshot<typeof mnDiscoveryMachine>;

/** Events stamped with the snapshot's own time, so that time never runs backwards along a path. */
export function mnDiscoveryEvents(snapshot: MnDiscoverySnapshot): ModelEvent<typeof mnDiscoveryMachine>[] {
  const at = snapshot.context.now;
  const { F, B, H, R } = AdvertisementFlag;
  const fa1 = COA_A;
  return [
    advertisementFrom(fa1, at, { sequence: 1000 }),
    advertisementFrom(fa1, at, { sequence: 2 }),
    advertisementFrom(fa1, at, { lifetime: 0, sequence: 1001 }),
    advertisementFrom(ipv4('192.0.2.1'), at, { lifetime: 60 }),
    advertisementFrom(COA_B, at, { flags: F | B }),
    advertisementFrom(ipv4('203.0.113.9'), at, { flags: F | R }),
    advertisementFrom(HOME_AGENT, at, { flags: H, careOf: [], lifetime: 45 }),
    advertisementFrom(ipv4('198.51.100.2'), at, { flags: H, careOf: [], lifetime: 90 }),
    { type: 'registered', at },
    { type: 'linkChanged', at },
    { type: 'colocatedAddressChanged', at, colocated: { address: ipv4('203.0.113.77'), prefixLength: 24 } },
    { type: 'colocatedAddressChanged', at },
    ...Object.values(MN_DISCOVERY_TIMERS).map((type) => ({ type })),
  ];
}

/** An abstract state: state value plus what decides behaviour (not the exact times). */
export function mnDiscoveryAbstraction(snapshot: MnDiscoverySnapshot): string {
  const c = snapshot.context;
  const { H, B } = AdvertisementFlag;
  // Candidates that outlive the current agent: what Algorithm 1 can switch to.
  const live = c.candidates.filter((x) => x.expiresAt > (c.current?.expiresAt ?? c.now));
  return JSON.stringify({
    value: snapshot.value,
    current: c.current?.source,
    rebootable: (c.current?.sequence ?? 0) >= 256,
    target: c.target?.kind,
    homeCandidate: live.some((x) => x.flags & H),
    otherCandidate: live.some((x) => !(x.flags & H) && !(x.flags & B)),
    sent: Math.min(c.solicitationsSent, 2),
    arp: c.homeArpEnabled,
    colocated: c.colocated !== undefined,
    lostBeforeNextSolicitation: c.current !== undefined && c.current.expiresAt < c.nextSolicitationAt,
  });
}

export const MN_DISCOVERY_MODEL: MachineTestModelOptions<typeof mnDiscoveryMachine> = {
  input: MN_DISCOVERY_INPUT,
  events: mnDiscoveryEvents,
  serializeState: mnDiscoveryAbstraction,
  limit: 100_000,
  startAt: T0,
};

// --- mn-registration (mobile node, 3.6.2, 3.6.3) ---------------------------------------------------

export const MN_REGISTRATION_TIMERS = {
  retransmission: 'xstate.after.retransmission.mnRegistration.awaitingReply',
  renewal: 'xstate.after.reRegistration.mnRegistration.accepted.timed',
  spacing: 'xstate.after.requestSpacing.mnRegistration.spacing',
} as const;

export const MN_REGISTRATION_INPUT: MnRegistrationInput = {
  replay: 'timestamp',
  homeAgent: HOME_AGENT,
  homeAddress: HOME,
  lifetime: 600,
  at: T0,
  seed: 99,
  retransmission: { maxAttempts: 3, maxRepairs: 2 },
};

type MnRegistrationSnapshot = ModelSnapshot<typeof mnRegistrationMachine>;

/** Replies to the Request in flight (its Identification), good and bad, and the node's own events. */
export function mnRegistrationEvents(snapshot: MnRegistrationSnapshot): ModelEvent<typeof mnRegistrationMachine>[] {
  const c = snapshot.context;
  const reply = (code: number, o: Partial<ReplyEvent> = {}): ReplyEvent => ({
    type: 'reply', at: c.now, code, lifetime: 300, homeAddress: HOME, homeAgent: HOME_AGENT, identification: c.identification, authentic: true, ...o,
  });
  return [
    reply(0),
    reply(0, { lifetime: INFINITE_LIFETIME }),
    reply(0, { authentic: false }),
    reply(0, { identification: { high: c.identification.high, low: (c.identification.low + 1) >>> 0 } }),
    reply(133),
    reply(136, { homeAgent: ipv4('198.51.100.2') }),
    reply(69, { lifetime: 60 }),
    reply(129),
    reply(137, { requestAdjusted: true }),
    { type: 'reregister', at: c.now },
    { type: 'cancel', at: c.now },
    { type: 'hostReady', at: c.now, configured: true },
    { type: 'hostReady', at: c.now, configured: false },
    ...Object.values(MN_REGISTRATION_TIMERS).map((type) => ({ type })),
  ];
}

/** Identifications and times grow without bound: a state is what the machine decides on. */
export function mnRegistrationAbstraction(snapshot: MnRegistrationSnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({ v: snapshot.value, attempt: c.attempt, repairs: c.repairs, lifetime: c.lifetime, ha: c.homeAgent, granted: c.grantedLifetime });
}

export const MN_REGISTRATION_MODEL: MachineTestModelOptions<typeof mnRegistrationMachine> = {
  input: MN_REGISTRATION_INPUT,
  events: mnRegistrationEvents,
  serializeState: mnRegistrationAbstraction,
  limit: 100_000,
  startAt: T0,
};

// --- the six, ready ------------------------------------------------------------------------------

export interface MachineModels {
  readonly binding: MachineTestModel<typeof bindingMachine>;
  readonly visitor: MachineTestModel<typeof visitorMachine>;
  readonly faPending: MachineTestModel<typeof faPendingMachine>;
  readonly advertiser: MachineTestModel<typeof advertiserMachine>;
  readonly mnDiscovery: MachineTestModel<typeof mnDiscoveryMachine>;
  readonly mnRegistration: MachineTestModel<typeof mnRegistrationMachine>;
}

/** The six machines' test models (fresh objects; a model holds no state between calls). */
export function machineModels(): MachineModels {
  return {
    binding: machineTestModel(bindingMachine, BINDING_MODEL),
    visitor: machineTestModel(visitorMachine, VISITOR_MODEL),
    faPending: machineTestModel(faPendingMachine, FA_PENDING_MODEL),
    advertiser: machineTestModel(advertiserMachine, ADVERTISER_MODEL),
    mnDiscovery: machineTestModel(mnDiscoveryMachine, MN_DISCOVERY_MODEL),
    mnRegistration: machineTestModel(mnRegistrationMachine, MN_REGISTRATION_MODEL),
  };
}
