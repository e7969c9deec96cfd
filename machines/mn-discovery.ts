/**
 * A mobile node's agent discovery and move detection (RFC 5944 2.4, 2.4.1-2.4.4, 4.6, 3.6): one
 * actor per mobile node interface. Its commands are `MnDiscoveryCommand`; the reasons, incl. how
 * Algorithm 2 is read against R3.6-8: docs/protocol.md.
 *
 *   searching ── Advertisement from a usable agent ──► away (register) ──► …
 *     │  solicits: 3 at 1 s, then doubling to a maximum (2.4)
 *     └─ Advertisement from its own home agent ──► atHome (ARP back, deregister)
 *   away / atHome ── the agent's Advertisement Lifetime runs out (Algorithm 1, 2.4.2.1) ──►
 *       another live agent, or searching
 *   away (no agent in use: co-located) ── a new agent's prefix differs (Algorithm 2, 2.4.2.2) ──► away (register)
 *   away ── sequence number drops into 0-255 (2.4.4) ──► agentRebooted, register again
 */
import { assign, setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import {
  hasAdvertisementFlag,
  isAgentRebootSequence,
  mobilityAgentExtension,
  prefixLengthsExtension,
  type AgentAdvertisement,
} from '../io/wire/agent-discovery.js';
import { isInPrefix } from '../io/wire/ipv4-address.js';
import { nextRandom32, type MnRegistrationTarget } from '../policies/mn-request.js';

/** What the machine needs of one Agent Advertisement (2.1, 2.1.1, 2.1.2). */
export interface AdvertisementFields {
  /** IP source address of the Advertisement: the agent's address (3.6.1.1). */
  readonly source: Ipv4Address;
  /** Link-layer source address (3.6.1.1, 4.6). */
  readonly linkSource?: string;
  /** ICMP Lifetime, seconds (2.1): how long the Advertisement is valid. */
  readonly lifetime: number;
  readonly sequence: number;
  readonly registrationLifetime: number;
  /** The 16-bit flags field as received, reserved bits included (they are ignored, R2.4-18). */
  readonly flags: number;
  readonly careOfAddresses: readonly Ipv4Address[];
  /** Router addresses of the ICMP part (2.3.1). */
  readonly routers: readonly Ipv4Address[];
  /** The Prefix-Lengths Extension, one per router, when present (2.1.2). */
  readonly prefixLengths?: readonly number[];
}

export interface AdvertisementEvent extends AdvertisementFields {
  readonly type: 'advertisement';
  readonly at: number;
}

/** An agent heard, with the time its Advertisement stops being valid. */
export interface AgentRecord extends AdvertisementFields {
  readonly receivedAt: number;
  readonly expiresAt: number;
}

export interface SolicitationSettings {
  /** R2.4-5: at most one per second initially. Values below 1 s are raised to it. */
  readonly initialIntervalMs: number;
  /** R2.4-5: "three initial solicitations". */
  readonly initialCount: number;
  /** R2.4-9: the back-off maximum, at least one minute. Values below are raised to it. */
  readonly maxIntervalMs: number;
  /**
   * Solicitations per search before falling quiet. 2.4 lets a node not connected to any
   * foreign agent solicit more than MAX_SOLICITATIONS, so the default is no limit.
   */
  readonly maxSolicitations: number;
  /** R2.4-13: each interval is lengthened by up to this fraction, at random. Default 0.1. */
  readonly jitterFraction: number;
}

export interface MnDiscoverySettings {
  readonly homeAddress: Ipv4Address;
  readonly homeAgent?: Ipv4Address;
  readonly homeNetwork: Ipv4Address;
  readonly homePrefixLength: number;
  /** Which move detection of 2.4.2 to use: Algorithm 1 ('lifetime') or Algorithm 2 ('prefix'). */
  readonly moveDetection: 'lifetime' | 'prefix';
  readonly solicitation: SolicitationSettings;
  /** R2.4.2-3, R3.6-9: minimum time between registrations. 1 s. */
  readonly minRegistrationIntervalMs: number;
  /** How many other agents to remember for Algorithm 1. */
  readonly maxCandidates: number;
}

export interface ColocatedAddress {
  readonly address: Ipv4Address;
  /** Known prefix length of the co-located address; Algorithm 2 needs it (R2.4.2.2-4). */
  readonly prefixLength?: number;
}

export type MnDiscoveryInput = {
  readonly at: number;
  readonly seed: number;
  readonly colocated?: ColocatedAddress;
} & Pick<MnDiscoverySettings, 'homeAddress' | 'homeNetwork' | 'homePrefixLength'> &
  Partial<Omit<MnDiscoverySettings, 'homeAddress' | 'homeNetwork' | 'homePrefixLength' | 'solicitation'>> & {
    readonly solicitation?: Partial<SolicitationSettings>;
  };

export interface MnDiscoveryContext {
  readonly settings: MnDiscoverySettings;
  readonly colocated?: ColocatedAddress;
  readonly now: number;
  readonly random: number;
  /** The agent in use: the one registered (or registering) with, or the home agent at home. */
  readonly current?: AgentRecord;
  /** How the node registers through `current` (kind 'home' at home). */
  readonly target?: MnRegistrationTarget;
  /** Other agents heard, newest last (Algorithm 1, R2.4.2.1-3). */
  readonly candidates: readonly AgentRecord[];
  readonly solicitationsSent: number;
  readonly nextSolicitationAt: number;
  readonly lastRegistrationAt: number;
  /** Whether the node answers ARP for its home address (4.6). */
  readonly homeArpEnabled: boolean;
}

export type MnDiscoveryEvent =
  | AdvertisementEvent
  /** The registration machine reports an accepted registration (resets the back-off, R2.4-11). */
  | { readonly type: 'registered'; readonly at: number }
  /** A link-layer indication of a new link: the positive indication of R2.4-10. */
  | { readonly type: 'linkChanged'; readonly at: number }
  /** The co-located care-of address changed (e.g. DHCP); undefined address = none. */
  | { readonly type: 'colocatedAddressChanged'; readonly at: number; readonly colocated?: ColocatedAddress };

export const DEFAULT_SOLICITATION: SolicitationSettings = {
  initialIntervalMs: 1000,
  initialCount: 3,
  maxIntervalMs: 60_000,
  maxSolicitations: Number.MAX_SAFE_INTEGER,
  jitterFraction: 0.1,
};

/** Before any registration / solicitation: far enough in the past to be due. */
const LONG_AGO = Number.MIN_SAFE_INTEGER;

/**
 * The nominal interval after the `count`-th solicitation of a search (2.4): the first
 * `initialCount` go at most one per second (R2.4-5); from then on each interval doubles
 * (R2.4-6, R2.4-7) up to the maximum, at least one minute (R2.4-9).
 */
export function solicitationInterval(count: number, settings: SolicitationSettings): number {
  const initial = Math.max(1000, settings.initialIntervalMs);
  const maximum = Math.max(60_000, settings.maxIntervalMs, initial);
  if (count < settings.initialCount) return initial;
  return Math.min(maximum, initial * 2 ** (count - settings.initialCount + 1));
}

/** The Advertisement as the machine's event; undefined if it is no Agent Advertisement (2.4). */
export function advertisementEvent(
  advertisement: AgentAdvertisement,
  source: Ipv4Address,
  at: number,
  linkSource?: string,
): AdvertisementEvent | undefined {
  const agent = mobilityAgentExtension(advertisement);
  if (agent === undefined) return undefined;
  const prefixes = prefixLengthsExtension(advertisement);
  return {
    type: 'advertisement',
    at,
    source,
    ...(linkSource !== undefined ? { linkSource } : {}),
    lifetime: advertisement.lifetime,
    sequence: agent.sequence,
    registrationLifetime: agent.registrationLifetime,
    flags: agent.flags,
    careOfAddresses: agent.careOfAddresses,
    routers: advertisement.routers.map((r) => r.address),
    ...(prefixes !== undefined ? { prefixLengths: prefixes.prefixLengths } : {}),
  };
}

function recordOf(event: AdvertisementEvent): AgentRecord {
  const { type: _type, at, ...fields } = event;
  return { ...fields, receivedAt: at, expiresAt: at + event.lifetime * 1000 };
}

/** 2.4.3: an Advertisement from its own home agent ('H' set, on the home network or the configured address). */
export function isOwnHomeAgent(agent: AdvertisementFields, settings: MnDiscoverySettings): boolean {
  if (!hasAdvertisementFlag(agent.flags, 'H')) return false;
  return agent.source === settings.homeAgent || isInPrefix(agent.source, settings.homeNetwork, settings.homePrefixLength);
}

export type AgentChoice =
  | { readonly kind: 'home' }
  | { readonly kind: 'usable'; readonly target: Exclude<MnRegistrationTarget, { kind: 'home' }> }
  | { readonly kind: 'unusable'; readonly why: 'busy' | 'not-a-foreign-agent' | 'no-care-of-address' };

/**
 * How the node would register after this Advertisement:
 * - its own home agent → home (2.4.3);
 * - 'R' set (R2.4.1-1) or no co-located address → through the foreign agent: it must offer
 *   service ('F') and not be busy ('B', 2.1.1), with the first advertised care-of address (R2.4-15);
 * - otherwise directly, with the co-located care-of address.
 */
export function chooseAgent(agent: AdvertisementFields, settings: MnDiscoverySettings, colocated: ColocatedAddress | undefined): AgentChoice {
  if (isOwnHomeAgent(agent, settings)) return { kind: 'home' };
  const has = (flag: 'R' | 'B' | 'F' | 'M' | 'G' | 'T') => hasAdvertisementFlag(agent.flags, flag);
  if (has('R') || colocated === undefined) {
    if (!has('F')) return { kind: 'unusable', why: 'not-a-foreign-agent' };
    if (has('B')) return { kind: 'unusable', why: 'busy' };
    const careOfAddress = agent.careOfAddresses[0];
    if (careOfAddress === undefined) return { kind: 'unusable', why: 'no-care-of-address' };
    return {
      kind: 'usable',
      target: {
        kind: 'foreign-agent',
        agent: agent.source,
        ...(agent.linkSource !== undefined ? { agentLinkAddress: agent.linkSource } : {}),
        careOfAddress,
        registrationLifetime: agent.registrationLifetime,
        minimal: has('M'),
        gre: has('G'),
        reverseTunnel: has('T'),
      },
    };
  }
  return { kind: 'usable', target: { kind: 'co-located', careOfAddress: colocated.address } };
}

/**
 * The first hop away from home through a foreign agent (4.2.1). The node may not broadcast ARP
 * there (R4.2.1-7), so the only router it can reach is one whose link-layer address it knows:
 * the agent's own, from its Advertisement. That address is taken from the Router Advertisement
 * portion when the agent lists itself there (R4.2.1-2); otherwise the agent is the first hop
 * anyway, as 4.2.1 allows. Undefined when the Advertisement's link-layer source is unknown.
 */
export function awayFirstHop(agent: AdvertisementFields): { address: Ipv4Address; linkAddress: string; fromRouterList: boolean } | undefined {
  if (agent.linkSource === undefined) return undefined;
  const listed = agent.routers.find((router) => router >>> 0 === agent.source >>> 0);
  return { address: listed ?? agent.source, linkAddress: agent.linkSource, fromRouterList: listed !== undefined };
}

/** (router, prefix length) pairs of an Advertisement, or undefined without a usable Prefix-Lengths Extension. */
function prefixesOf(agent: AdvertisementFields): Array<{ address: Ipv4Address; length: number }> | undefined {
  const lengths = agent.prefixLengths;
  if (lengths === undefined || lengths.length === 0 || lengths.length !== agent.routers.length) return undefined;
  if (lengths.some((l) => !Number.isInteger(l) || l < 0 || l > 32)) return undefined;
  return agent.routers.map((address, i) => ({ address, length: lengths[i]! }));
}

/**
 * Algorithm 2 (2.4.2.2): whether the new agent's network prefixes show the node has moved.
 * Through a foreign agent both Advertisements must carry the Prefix-Lengths Extension
 * (R2.4.2.2-3); with a co-located address (or at home, with the home address) the new one must
 * carry it and the node must know its own prefix (R2.4.2.2-4). Undefined when the method does
 * not apply; true when no prefix of the new agent covers the current subnet.
 */
export function prefixIndicatesMove(context: MnDiscoveryContext, agent: AdvertisementFields): boolean | undefined {
  const fresh = prefixesOf(agent);
  if (fresh === undefined) return undefined;
  const target = context.target;
  if (target === undefined) return undefined;
  let own: { address: Ipv4Address; length: number } | undefined;
  if (target.kind === 'co-located') {
    const length = context.colocated?.prefixLength;
    own = length === undefined ? undefined : { address: target.careOfAddress, length };
  } else if (target.kind === 'home') {
    own = { address: context.settings.homeAddress, length: context.settings.homePrefixLength };
  }
  if (own !== undefined) {
    const o = own;
    return !fresh.some((p) => p.length === o.length && isInPrefix(o.address, p.address, p.length));
  }
  const current = context.current === undefined ? undefined : prefixesOf(context.current);
  if (current === undefined) return undefined;
  return !fresh.some((p) => current.some((c) => c.length === p.length && isInPrefix(c.address, p.address, p.length)));
}

/** Other agents heard and still valid at `now`, without `source`, plus `record` (bounded). */
function withCandidate(list: readonly AgentRecord[], now: number, max: number, record?: AgentRecord, without?: Ipv4Address): AgentRecord[] {
  const kept = list.filter((c) => c.expiresAt > now && c.source !== without && c.source !== record?.source);
  if (record !== undefined) kept.push(record);
  return kept.slice(Math.max(0, kept.length - max));
}

/**
 * Algorithm 1 (R2.4.2.1-3): an agent heard before whose Advertisement Lifetime has not
 * expired at `now`; the home agent first (returning home), then the newest usable one.
 */
export function liveCandidate(context: MnDiscoveryContext, now: number): { record: AgentRecord; choice: AgentChoice } | undefined {
  let usable: { record: AgentRecord; choice: AgentChoice } | undefined;
  for (const record of context.candidates) {
    if (record.expiresAt <= now) continue;
    const choice = chooseAgent(record, context.settings, context.colocated);
    if (choice.kind === 'home') return { record, choice };
    if (choice.kind === 'usable') usable = { record, choice };
  }
  return usable;
}

function targetOf(choice: AgentChoice): MnRegistrationTarget | undefined {
  if (choice.kind === 'home') return { kind: 'home' };
  return choice.kind === 'usable' ? choice.target : undefined;
}

function advertisementOf(event: MnDiscoveryEvent): AdvertisementEvent | undefined {
  return event.type === 'advertisement' ? event : undefined;
}

/** The co-located address left after a prefix move: it belonged to the old subnet. */
function colocatedAfterMove(context: MnDiscoveryContext): ColocatedAddress | undefined {
  return context.target?.kind === 'co-located' ? undefined : context.colocated;
}

function colocatedLost(context: MnDiscoveryContext, event: MnDiscoveryEvent): boolean {
  return event.type === 'colocatedAddressChanged' && event.colocated === undefined && context.target?.kind === 'co-located';
}

const reason = (why: string) => ({ type: 'reason', params: { reason: why } }) as const;

const ID = 'mnDiscovery';
const SEARCHING = `#${ID}.searching`;
const AT_HOME = `#${ID}.atHome`;
const AWAY = `#${ID}.away`;

/** Algorithm 1 (2.4.2.1): the current agent's Advertisement Lifetime ran out (at home: the home agent's). */
const homeAgentLifetimeExpiry = {
  agentLifetime: [
    {
      guard: 'homeAgentStillHeard',
      target: AT_HOME,
      reenter: true,
      actions: ['lifetimeElapsed', reason('agent-lost-home-agent-heard'), 'adoptCandidate'],
    },
    { guard: 'otherAgentStillHeard', target: AWAY, reenter: true, actions: ['lifetimeElapsed', reason('agent-lost-switching'), 'adoptCandidate'] },
    { target: SEARCHING, actions: ['lifetimeElapsed', reason('agent-lost'), 'forgetCurrent'] },
  ],
} as const;

/**
 * Away, no home agent is among the agents heard: hearing one brings the node home at once
 * (2.4.3), and it leaves home only when the home agent's Advertisement lapses (R3.6-8).
 */
const agentLifetimeExpiry = {
  agentLifetime: homeAgentLifetimeExpiry.agentLifetime.slice(1),
} as const;

function awayAdvertisement(leaf: 'holdingOff' | 'attached') {
  return [
    // R2.4.3-1: its own home agent → at home, deregister.
    { guard: 'fromOwnHomeAgent', target: AT_HOME, actions: ['adopt', reason('returned-home')] },
    // R2.4.1-1: registered from a co-located address, an agent requires registration through it.
    { guard: 'registrationRequiredByAgent', target: AWAY, reenter: true, actions: [reason('registration-required-by-agent'), 'adopt'] },
    // R2.4.4-1: the foreign agent registered with rebooted → register again.
    {
      guard: 'currentAgentRebooted',
      target: AWAY,
      reenter: true,
      actions: [
        reason('agent-rebooted'),
        {
          type: 'agentRebooted',
          params: ({ context, event }: { context: MnDiscoveryContext; event: MnDiscoveryEvent }) => ({
            agent: context.current?.source ?? 0,
            previousSequence: context.current?.sequence ?? 0,
            sequence: event.type === 'advertisement' ? event.sequence : 0,
          }),
        },
        'refresh',
      ],
    },
    // R2.4.2.1-1: record the Lifetime; R2.4.4-2: a rollover needs nothing more.
    { guard: 'fromCurrentAgent', target: leaf, reenter: true, actions: [reason('advertisement-refreshed'), 'refresh'] },
    // R2.4.2.2-2: the prefixes differ → moved → register with the new agent (R2.4.2-2).
    { guard: 'movedByPrefix', target: AWAY, reenter: true, actions: [reason('moved-prefix-changed'), 'adoptAfterMove'] },
    // R3.6-8: otherwise a new agent does not cause a registration; remember it (R2.4.2.1-3).
    { actions: [reason('candidate-recorded'), 'recordCandidate'] },
  ] as const;
}

function atHomeAdvertisement(leaf: 'holdingOff' | 'settled') {
  return [
    { guard: 'fromCurrentAgent', target: leaf, reenter: true, actions: [reason('advertisement-refreshed'), 'refresh'] },
    // R3.6-8: while the home agent is heard, another agent is only remembered (no prefix move).
    { actions: [reason('candidate-recorded'), 'recordCandidate'] },
  ] as const;
}

const registerCommand = {
  type: 'register',
  params: ({ context }: { context: MnDiscoveryContext }) => context.target as Exclude<MnRegistrationTarget, { kind: 'home' }>,
} as const;

/** What agent discovery asks of the mobile node. */
export type MnDiscoveryCommand =
  | MachineCommand<'sendSolicitation', { readonly count: number }>
  /** Register through this agent or co-located care-of address. */
  | MachineCommand<'register', Exclude<MnRegistrationTarget, { kind: 'home' }>>
  /** Back home: deregister with the home agent (3.6.1.2). */
  | MachineCommand<'deregisterAtHome', { readonly homeAgent: Ipv4Address; readonly homeAddress: Ipv4Address }>
  /** The agent's sequence number went back: it rebooted (2.4.2). */
  | MachineCommand<'agentRebooted', { readonly agent: Ipv4Address; readonly previousSequence: number; readonly sequence: number }>
  /** The host's ARP for its home address goes on (at home) or off (away), 4.6. */
  | MachineCommand<'homeArp', { readonly enabled: boolean }>;

export const mnDiscoveryMachine = setup({
  types: {
    context: {} as MnDiscoveryContext,
    events: {} as MnDiscoveryEvent,
    input: {} as MnDiscoveryInput,
  },
  actions: {
    reason: (_, _params: { reason: string }) => {},
    sendSolicitation: (_, _params: CommandParams<MnDiscoveryCommand, 'sendSolicitation'>) => {},
    register: (_, _params: CommandParams<MnDiscoveryCommand, 'register'>) => {},
    deregisterAtHome: (_, _params: CommandParams<MnDiscoveryCommand, 'deregisterAtHome'>) => {},
    agentRebooted: (_, _params: CommandParams<MnDiscoveryCommand, 'agentRebooted'>) => {},
    homeArp: (_, _params: CommandParams<MnDiscoveryCommand, 'homeArp'>) => {},
    /** Counts a solicitation and schedules the next one, jittered upward only (never faster, R2.4-4/-5). */
    solicit: assign(({ context }) => {
      const count = context.solicitationsSent + 1;
      const random = nextRandom32(context.random);
      const nominal = solicitationInterval(count, context.settings.solicitation);
      const jitter = Math.floor(nominal * context.settings.solicitation.jitterFraction * (random / 0x1_0000_0000));
      return { solicitationsSent: count, random, nextSolicitationAt: context.now + nominal + jitter };
    }),
    solicitationTimerElapsed: assign(({ context }) => ({ now: Math.max(context.now, context.nextSolicitationAt) })),
    /** R2.4-11 / R2.4-10: the next search starts at the initial rate again. */
    resetSolicitation: assign(({ context, event }) => ({
      now: 'at' in event ? event.at : context.now,
      solicitationsSent: 0,
      nextSolicitationAt: LONG_AGO,
    })),
    adopt: assign(({ context, event }) => {
      const adv = advertisementOf(event)!;
      const record = recordOf(adv);
      return {
        now: adv.at,
        current: record,
        target: targetOf(chooseAgent(record, context.settings, context.colocated)),
        candidates: withCandidate(context.candidates, adv.at, context.settings.maxCandidates, undefined, adv.source),
      };
    }),
    adoptAfterMove: assign(({ context, event }) => {
      const adv = advertisementOf(event)!;
      const record = recordOf(adv);
      const colocated = colocatedAfterMove(context);
      return {
        now: adv.at,
        colocated,
        current: record,
        target: targetOf(chooseAgent(record, context.settings, colocated)),
        // The old agent stays a candidate while its Advertisement is valid.
        candidates: withCandidate(context.candidates, adv.at, context.settings.maxCandidates, context.current, adv.source),
      };
    }),
    refresh: assign(({ context, event }) => {
      const adv = advertisementOf(event)!;
      const record = recordOf(adv);
      // The target stays: the node is registered through it (a 'B' bit now set changes nothing, 2.1.1).
      return { now: adv.at, current: record };
    }),
    recordCandidate: assign(({ context, event }) => {
      const adv = advertisementOf(event)!;
      return { now: adv.at, candidates: withCandidate(context.candidates, adv.at, context.settings.maxCandidates, recordOf(adv)) };
    }),
    lifetimeElapsed: assign(({ context }) => ({ now: context.current?.expiresAt ?? context.now })),
    adoptCandidate: assign(({ context }) => {
      const found = liveCandidate(context, context.now);
      if (found === undefined) return {};
      return {
        current: found.record,
        target: targetOf(found.choice),
        candidates: withCandidate(context.candidates, context.now, context.settings.maxCandidates, undefined, found.record.source),
      };
    }),
    forgetCurrent: assign(() => ({ current: undefined, target: undefined })),
    forgetAgents: assign(() => ({ current: undefined, target: undefined, candidates: [] })),
    forgetColocated: assign(() => ({ colocated: undefined })),
    registrationSent: assign(({ context }) => ({ lastRegistrationAt: context.now })),
    holdOffElapsed: assign(({ context }) => ({
      now: Math.max(context.now, context.lastRegistrationAt + context.settings.minRegistrationIntervalMs),
    })),
    homeArpDisabled: assign(() => ({ homeArpEnabled: false })),
    homeArpEnabled: assign(() => ({ homeArpEnabled: true })),
    setColocated: assign(({ event }) => (event.type === 'colocatedAddressChanged' ? { now: event.at, colocated: event.colocated } : {})),
    /**
     * Registers directly from the co-located care-of address, with no agent in use: the agent
     * registered through before (if any) stays a candidate for Algorithm 1 while it is heard.
     */
    adoptColocated: assign(({ context }) => ({
      current: undefined,
      target: context.colocated === undefined ? undefined : { kind: 'co-located' as const, careOfAddress: context.colocated.address },
      candidates: withCandidate(context.candidates, context.now, context.settings.maxCandidates, context.current),
    })),
    /** The co-located address went away: fall back to a live agent (Algorithm 1), home first. */
    adoptCandidateWithoutColocated: assign(({ context }) => {
      const found = liveCandidate(context, context.now);
      if (found === undefined) return { current: undefined, target: undefined };
      return {
        current: found.record,
        target: targetOf(found.choice),
        candidates: withCandidate(context.candidates, context.now, context.settings.maxCandidates, undefined, found.record.source),
      };
    }),
  },
  guards: {
    solicitationLimitReached: ({ context }) => context.solicitationsSent >= context.settings.solicitation.maxSolicitations,
    solicitationDue: ({ context }) => context.now >= context.nextSolicitationAt,
    fromOwnHomeAgent: ({ context, event }) => event.type === 'advertisement' && isOwnHomeAgent(event, context.settings),
    usableAgent: ({ context, event }) =>
      event.type === 'advertisement' && chooseAgent(event, context.settings, context.colocated).kind === 'usable',
    fromCurrentAgent: ({ context, event }) => event.type === 'advertisement' && event.source === context.current?.source,
    /** R2.4.4-1: only the foreign agent the node registers through; a drop to >= 256 is a rollover (R2.4.4-2). */
    currentAgentRebooted: ({ context, event }) =>
      event.type === 'advertisement' &&
      context.current !== undefined &&
      event.source === context.current.source &&
      context.target?.kind === 'foreign-agent' &&
      isAgentRebootSequence(context.current.sequence, event.sequence),
    movedByPrefix: ({ context, event }) => {
      if (event.type !== 'advertisement' || context.settings.moveDetection !== 'prefix') return false;
      // R3.6-8: the agent in use is still heard (its Advertisement Lifetime runs, 2.4.2.1).
      if (context.current !== undefined && context.current.expiresAt > event.at) return false;
      if (prefixIndicatesMove(context, event) !== true) return false;
      // R2.4.2.2-6 holds: the Advertisement just arrived. A busy or unusable agent is not chosen.
      return chooseAgent(event, context.settings, colocatedAfterMove(context)).kind === 'usable';
    },
    homeAgentStillHeard: ({ context }) => liveCandidate(context, context.current?.expiresAt ?? context.now)?.choice.kind === 'home',
    otherAgentStillHeard: ({ context }) => liveCandidate(context, context.current?.expiresAt ?? context.now)?.choice.kind === 'usable',
    registrationTooSoon: ({ context }) => context.now < context.lastRegistrationAt + context.settings.minRegistrationIntervalMs,
    homeArpIsEnabled: ({ context }) => context.homeArpEnabled,
    hasColocated: ({ context }) => context.colocated !== undefined,
    colocatedGiven: ({ event }) => event.type === 'colocatedAddressChanged' && event.colocated !== undefined,
    /**
     * A new co-located address while away: used at once (3.6: a change in connectivity), unless
     * the node registers through a foreign agent that requires it ('R', R2.4.1-1).
     */
    newColocatedUsable: ({ context, event }) => {
      if (event.type !== 'colocatedAddressChanged' || event.colocated === undefined) return false;
      const target = context.target;
      if (target?.kind === 'co-located') return target.careOfAddress !== event.colocated.address;
      return !(context.current !== undefined && hasAdvertisementFlag(context.current.flags, 'R'));
    },
    colocatedLostWhileUsed: ({ context, event }) => colocatedLost(context, event),
    colocatedLostAgentHeard: ({ context, event }) =>
      colocatedLost(context, event) && liveCandidate({ ...context, colocated: undefined }, context.now)?.choice.kind === 'usable',
    /** R2.4.1-1: registered from a co-located address, an agent now says registration through it is required. */
    registrationRequiredByAgent: ({ context, event }) =>
      event.type === 'advertisement' &&
      context.target?.kind === 'co-located' &&
      hasAdvertisementFlag(event.flags, 'R') &&
      chooseAgent(event, context.settings, context.colocated).kind === 'usable',
  },
  delays: {
    nextSolicitation: ({ context }) => Math.max(0, context.nextSolicitationAt - context.now),
    registrationHoldOff: ({ context }) => Math.max(0, context.lastRegistrationAt + context.settings.minRegistrationIntervalMs - context.now),
    // A co-located registration made without any Advertisement has no agent to lose: no timer.
    agentLifetime: ({ context }) => (context.current === undefined ? Number.POSITIVE_INFINITY : Math.max(0, context.current.expiresAt - context.now)),
  },
}).createMachine({
  id: ID,
  context: ({ input }) => ({
    settings: {
      homeAddress: input.homeAddress,
      homeNetwork: input.homeNetwork,
      homePrefixLength: input.homePrefixLength,
      ...(input.homeAgent !== undefined ? { homeAgent: input.homeAgent } : {}),
      moveDetection: input.moveDetection ?? 'lifetime',
      solicitation: { ...DEFAULT_SOLICITATION, ...input.solicitation },
      minRegistrationIntervalMs: Math.max(1000, input.minRegistrationIntervalMs ?? 1000),
      maxCandidates: input.maxCandidates ?? 8,
    },
    colocated: input.colocated,
    now: input.at,
    random: input.seed >>> 0,
    candidates: [],
    solicitationsSent: 0,
    nextSolicitationAt: LONG_AGO,
    lastRegistrationAt: LONG_AGO,
    homeArpEnabled: true,
  }),
  initial: 'searching',
  on: {
    registered: { actions: [reason('registration-confirmed'), 'resetSolicitation'] },
    // R1.7-6: a co-located address belongs to the link of its prefix, so a new link voids it
    // until the embedder gives the new one (setColocatedAddress, e.g. after DHCP).
    linkChanged: { target: '.searching', reenter: true, actions: [reason('link-changed'), 'forgetAgents', 'forgetColocated', 'resetSolicitation'] },
    colocatedAddressChanged: { actions: [reason('co-located-address-changed'), 'setColocated'] },
  },
  states: {
    /** R2.4-1: no agent known; solicit with back-off (2.4). */
    searching: {
      initial: 'deciding',
      on: {
        // 2.4: no solicitation is needed once a care-of address is known by other means.
        colocatedAddressChanged: [
          { guard: 'colocatedGiven', target: SEARCHING, reenter: true, actions: [reason('co-located-address-changed'), 'setColocated'] },
          { actions: [reason('co-located-address-changed'), 'setColocated'] },
        ],
        advertisement: [
          { guard: 'fromOwnHomeAgent', target: AT_HOME, actions: [reason('home-agent-heard'), 'adopt'] },
          { guard: 'usableAgent', target: AWAY, actions: [reason('agent-found'), 'adopt'] },
          { actions: [reason('unusable-agent-recorded'), 'recordCandidate'] },
        ],
      },
      states: {
        deciding: {
          always: [
            // 2.4 and 3.6: a node with a co-located care-of address (found by other means, e.g.
            // DHCP) needs no agent: it registers directly without waiting for an Advertisement
            // (Solicitations are for when no care-of address is known, R2.4-2).
            { guard: 'hasColocated', target: AWAY, actions: [reason('co-located-address-known'), 'adoptColocated'] },
            { guard: 'solicitationLimitReached', target: 'quiet', actions: reason('solicitation-limit') },
            {
              guard: 'solicitationDue',
              target: 'waiting',
              actions: [
                reason('solicitation-sent'),
                'solicit',
                { type: 'sendSolicitation', params: ({ context }) => ({ count: context.solicitationsSent }) },
              ],
            },
            // R2.4-10: searching again without a positive indication keeps the current interval.
            { target: 'waiting', actions: reason('solicitation-backing-off') },
          ],
        },
        waiting: {
          after: { nextSolicitation: { target: 'deciding', actions: [reason('solicitation-timer'), 'solicitationTimerElapsed'] } },
        },
        /** The solicitation limit is reached: listen only. */
        quiet: {},
      },
    },
    /** 2.4.3, 4.6: at home. Before deregistering: ARP for the home address back on (R4.6-19). */
    atHome: {
      entry: [{ type: 'homeArp', params: { enabled: true } }, 'homeArpEnabled'],
      initial: 'deciding',
      states: {
        deciding: {
          always: [
            { guard: 'registrationTooSoon', target: 'holdingOff', actions: reason('registration-rate-limited') },
            {
              target: 'settled',
              actions: [
                'registrationSent',
                {
                  type: 'deregisterAtHome',
                  params: ({ context }) => ({ homeAgent: context.current?.source ?? 0, homeAddress: context.settings.homeAddress }),
                },
              ],
            },
          ],
        },
        holdingOff: {
          after: { registrationHoldOff: { target: 'deciding', actions: [reason('registration-hold-off-elapsed'), 'holdOffElapsed'] }, ...homeAgentLifetimeExpiry },
          on: { advertisement: atHomeAdvertisement('holdingOff') },
        },
        settled: {
          after: homeAgentLifetimeExpiry,
          on: { advertisement: atHomeAdvertisement('settled') },
        },
      },
    },
    /** Away from home, registering through `current` (2.4, 3.6), or directly from a co-located address. */
    away: {
      initial: 'deciding',
      on: {
        colocatedAddressChanged: [
          { guard: 'newColocatedUsable', target: AWAY, reenter: true, actions: [reason('co-located-address-changed'), 'setColocated', 'adoptColocated'] },
          // Losing the co-located address in use: back to agent discovery, to an agent still
          // heard if there is one (Algorithm 1), else searching afresh.
          {
            guard: 'colocatedLostAgentHeard',
            target: AWAY,
            reenter: true,
            actions: [reason('co-located-address-lost-agent-heard'), 'setColocated', 'adoptCandidateWithoutColocated'],
          },
          {
            guard: 'colocatedLostWhileUsed',
            target: SEARCHING,
            actions: [reason('co-located-address-lost'), 'setColocated', 'forgetCurrent', 'resetSolicitation'],
          },
          { actions: [reason('co-located-address-changed'), 'setColocated'] },
        ],
      },
      states: {
        deciding: {
          always: [
            { guard: 'registrationTooSoon', target: 'holdingOff', actions: reason('registration-rate-limited') },
            // R4.6-18: stop answering ARP for the home address before the Request goes out.
            {
              guard: 'homeArpIsEnabled',
              target: 'attached',
              actions: [{ type: 'homeArp', params: { enabled: false } }, 'homeArpDisabled', 'registrationSent', registerCommand],
            },
            { target: 'attached', actions: ['registrationSent', registerCommand] },
          ],
        },
        holdingOff: {
          after: { registrationHoldOff: { target: 'deciding', actions: [reason('registration-hold-off-elapsed'), 'holdOffElapsed'] }, ...agentLifetimeExpiry },
          on: { advertisement: awayAdvertisement('holdingOff') },
        },
        attached: {
          after: agentLifetimeExpiry,
          on: { advertisement: awayAdvertisement('attached') },
        },
      },
    },
  },
});

export type MnDiscoveryMachine = typeof mnDiscoveryMachine;
