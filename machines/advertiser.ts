/**
 * A mobility agent's Agent Advertisements on one link (RFC 5944 2.1, 2.3, 2.3.1, 2.3.2, with
 * RFC 1256's procedures "except that" 2.3 lists): periodic advertisements at most a third of
 * their Lifetime apart, jittered; answers to solicitations (unicast at once, multicast after a
 * random delay and never within `minMulticastGapMs` of the last); sequence numbers 0, 1, …,
 * 0xffff, 256. Its command is `AdvertiserCommand`; the reasons: docs/protocol.md.
 */
import { assign, setup } from 'xstate';
import type { CommandParams, MachineCommand } from './command.js';
import type { Ipv4Address } from '../io/wire/bytes.js';
import type { MacAddress } from '../io/wire/ethernet.js';
import { LIMITED_BROADCAST } from '../io/wire/ipv4-address.js';
import {
  AdvertisementCode,
  AdvertisementExtensionType,
  AdvertisementFlag,
  agentAdvertisementLength,
  FIRST_ADVERTISEMENT_SEQUENCE,
  makeAgentAdvertisement,
  nextAdvertisementSequence,
  type AdvertisementExtensionFields,
  type AgentAdvertisement,
  type RouterEntry,
} from '../io/wire/agent-discovery.js';

/** "all systems on this link" (2.1, R2.1-3). */
export const ALL_SYSTEMS: Ipv4Address = 0xe0000001;
/** RFC 1256 constants. */
export const MAX_INITIAL_ADVERT_INTERVAL_MS = 16_000;
export const MAX_INITIAL_ADVERTISEMENTS = 3;
export const MAX_RESPONSE_DELAY_MS = 2_000;
/** RFC 1256 default MaxAdvertisementInterval (600 s); the Lifetime default is 3 × that. */
export const DEFAULT_MAX_INTERVAL_MS = 600_000;
/** The gap between multicast advertisements (see the module comment). */
export const DEFAULT_MIN_MULTICAST_GAP_MS = 3_000;

export interface AdvertiserSettings {
  /** The advertisement's ICMP Lifetime, seconds (2.1); RFC 1256 default 3 × MaxAdvertisementInterval. */
  readonly lifetimeSeconds: number;
  /** Nominal longest interval; cut to 1/3 of the lifetime (R2.1-7). Default 600 s. */
  readonly maxIntervalMs?: number;
  /** Shortest interval; default 3/4 of the maximum (RFC 1256). */
  readonly minIntervalMs?: number;
  /** False: advertise only in answer to solicitations (R2.3-7). Default true. */
  readonly periodic?: boolean;
  /** Answer solicitations from a nonzero source by unicast. Default true. */
  readonly unicastResponses?: boolean;
  readonly minMulticastGapMs?: number;
  readonly maxResponseDelayMs?: number;
  /** 224.0.0.1 (default) or 255.255.255.255 (R2.1-3). */
  readonly multicastDestination?: Ipv4Address;
  readonly busy?: boolean;
  /** Seed of the interval jitter (any 32-bit value; 0 is replaced, xorshift needs a nonzero state). */
  readonly seed: number;
}

/** The effective configuration, clamped to the RFC's bounds. */
export interface AdvertiserConfig {
  readonly lifetimeSeconds: number;
  readonly maxIntervalMs: number;
  readonly minIntervalMs: number;
  readonly periodic: boolean;
  readonly unicastResponses: boolean;
  readonly minMulticastGapMs: number;
  readonly maxResponseDelayMs: number;
  readonly multicastDestination: Ipv4Address;
}

export interface AdvertiserContext {
  readonly config: AdvertiserConfig;
  /** The sequence number the next advertisement carries (2.3.2). */
  readonly sequence: number;
  /** Advertisements sent so far. */
  readonly sent: number;
  readonly busy: boolean;
  /** xorshift32 state. */
  readonly random: number;
  readonly nextIntervalMs: number;
  readonly responseDelayMs: number;
}

export type AdvertiserEvent =
  | {
      readonly type: 'solicitation';
      /** The solicitation's IP source (0.0.0.0 when the node has no address). */
      readonly source: Ipv4Address;
      readonly linkLayerSource: MacAddress;
      /** A random 32-bit value from the runtime's source: the response delay. */
      readonly random: number;
      readonly at: number;
    }
  | { readonly type: 'set-busy'; readonly busy: boolean; readonly at: number };

export interface SendAdvertisementParams {
  readonly sequence: number;
  readonly destination: Ipv4Address;
  /** Present for a unicast answer: the solicitation's link-layer source (R2.1-1). */
  readonly linkLayerDestination?: MacAddress;
  readonly busy: boolean;
}

/** Resolves the settings to the configuration the machine runs with; throws RangeError on nonsense. */
export function advertiserConfig(settings: AdvertiserSettings): AdvertiserConfig {
  const { lifetimeSeconds } = settings;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > 0xffff) {
    throw new RangeError(`advertisement lifetime must be 1-65535 s, got ${lifetimeSeconds}`);
  }
  // R2.1-7: never longer than 1/3 of the advertisement Lifetime.
  const third = Math.floor((lifetimeSeconds * 1000) / 3);
  const maxIntervalMs = Math.min(settings.maxIntervalMs ?? DEFAULT_MAX_INTERVAL_MS, third);
  if (!(maxIntervalMs >= 1)) throw new RangeError(`advertisement interval must be at least 1 ms, got ${maxIntervalMs}`);
  const minIntervalMs = Math.min(settings.minIntervalMs ?? Math.floor(maxIntervalMs * 0.75), maxIntervalMs);
  const multicastDestination = settings.multicastDestination ?? ALL_SYSTEMS;
  if (multicastDestination !== ALL_SYSTEMS && multicastDestination !== LIMITED_BROADCAST) {
    throw new RangeError('a multicast Agent Advertisement goes to 224.0.0.1 or 255.255.255.255 (RFC 5944 2.1)');
  }
  return {
    lifetimeSeconds,
    maxIntervalMs,
    minIntervalMs: Math.max(1, minIntervalMs),
    periodic: settings.periodic ?? true,
    unicastResponses: settings.unicastResponses ?? true,
    minMulticastGapMs: settings.minMulticastGapMs ?? DEFAULT_MIN_MULTICAST_GAP_MS,
    maxResponseDelayMs: settings.maxResponseDelayMs ?? MAX_RESPONSE_DELAY_MS,
    multicastDestination,
  };
}

/** One xorshift32 step (Marsaglia): a nonzero state stays nonzero. */
export function xorshift32(state: number): number {
  let x = state >>> 0 || 0x9e3779b9;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** The interval after `sent` advertisements, drawn from the 32-bit `random`; the intervals after the first MAX_INITIAL_ADVERTISEMENTS are cut to 16 s (RFC 1256). */
export function advertisementInterval(config: AdvertiserConfig, sent: number, random: number): number {
  const span = config.maxIntervalMs - config.minIntervalMs + 1;
  const interval = config.minIntervalMs + Math.floor(((random >>> 0) / 2 ** 32) * span);
  return sent <= MAX_INITIAL_ADVERTISEMENTS ? Math.min(interval, MAX_INITIAL_ADVERT_INTERVAL_MS) : interval;
}

function afterSending(context: AdvertiserContext): Partial<AdvertiserContext> {
  const random = xorshift32(context.random);
  const sent = context.sent + 1;
  return {
    sequence: nextAdvertisementSequence(context.sequence),
    sent,
    random,
    nextIntervalMs: advertisementInterval(context.config, sent, random),
  };
}

const reason = (text: string) => ({ type: 'reason', params: { reason: text } }) as const;

const sendMulticast = {
  type: 'sendAdvertisement',
  params: ({ context }: { context: AdvertiserContext }): SendAdvertisementParams => ({
    sequence: context.sequence,
    destination: context.config.multicastDestination,
    busy: context.busy,
  }),
} as const;

const sendUnicast = {
  type: 'sendAdvertisement',
  params: ({ context, event }: { context: AdvertiserContext; event: AdvertiserEvent }): SendAdvertisementParams => ({
    sequence: context.sequence,
    destination: event.type === 'solicitation' ? event.source : context.config.multicastDestination,
    ...(event.type === 'solicitation' ? { linkLayerDestination: event.linkLayerSource } : {}),
    busy: context.busy,
  }),
} as const;

/** Answer a solicitation by unicast; the first branch of every `solicitation` handler. */
const answerByUnicast = {
  guard: 'unicastAnswer',
  actions: [reason('solicited-unicast'), sendUnicast, 'advance'],
} as const;

/** What the advertiser asks of its agent. */
export type AdvertiserCommand = MachineCommand<'sendAdvertisement', SendAdvertisementParams>;

export const advertiserMachine = setup({
  types: {
    context: {} as AdvertiserContext,
    events: {} as AdvertiserEvent,
    input: {} as AdvertiserSettings,
  },
  actions: {
    sendAdvertisement: (_, _params: CommandParams<AdvertiserCommand, 'sendAdvertisement'>) => {},
    reason: (_, _params: { reason: string }) => {},
    // Order matters: the send reads the sequence before this advances it.
    advance: assign(({ context }) => afterSending(context)),
    scheduleResponse: assign(({ context, event }) => ({
      responseDelayMs: event.type === 'solicitation' ? Math.floor(((event.random >>> 0) / 2 ** 32) * (context.config.maxResponseDelayMs + 1)) : 0,
    })),
    setBusy: assign(({ event }) => (event.type === 'set-busy' ? { busy: event.busy } : {})),
  },
  guards: {
    periodic: ({ context }) => context.config.periodic,
    unicastAnswer: ({ context, event }) => context.config.unicastResponses && event.type === 'solicitation' && event.source !== 0,
  },
  delays: {
    interval: ({ context }) => context.nextIntervalMs,
    multicastGap: ({ context }) => context.config.minMulticastGapMs,
    responseDelay: ({ context }) => context.responseDelayMs,
  },
}).createMachine({
  id: 'advertiser',
  context: ({ input }) => {
    const config = advertiserConfig(input);
    const random = xorshift32(input.seed);
    return {
      config,
      sequence: FIRST_ADVERTISEMENT_SEQUENCE,
      sent: 0,
      busy: input.busy ?? false,
      random,
      nextIntervalMs: advertisementInterval(config, 0, random),
      responseDelayMs: 0,
    };
  },
  initial: 'booting',
  states: {
    booting: {
      always: [
        // R2.3.2-1: the first advertisement after booting carries 0.
        { guard: 'periodic', target: 'active', actions: [reason('first-advertisement'), sendMulticast, 'advance'] },
        { target: 'active.open', actions: reason('solicited-only') },
      ],
    },
    active: {
      initial: 'quiet',
      after: {
        interval: { guard: 'periodic', target: 'active', reenter: true, actions: [reason('periodic'), sendMulticast, 'advance'] },
      },
      on: {
        'set-busy': { actions: ['setBusy', reason('busy-changed')] },
      },
      states: {
        /** A multicast advertisement went out less than minMulticastGapMs ago (R2.3-6). */
        quiet: {
          after: { multicastGap: { target: 'open', actions: reason('multicast-allowed') } },
          on: { solicitation: [answerByUnicast, { actions: reason('solicitation-rate-limited') }] },
        },
        open: {
          on: { solicitation: [answerByUnicast, { target: 'responding', actions: ['scheduleResponse', reason('response-scheduled')] }] },
        },
        /** A multicast answer is due after the random response delay (RFC 1256). */
        responding: {
          after: { responseDelay: { target: 'quiet', actions: [reason('solicited-multicast'), sendMulticast, 'advance'] } },
          on: { solicitation: [answerByUnicast, { actions: reason('response-already-scheduled') }] },
        },
      },
    },
  },
});

export type AdvertiserMachine = typeof advertiserMachine;

// ---------------------------------------------------------------------------------------------
// Building the advertisement

export interface FaAdvertisementSettings {
  /** At least one when 'F' is set (R2.1.1-2). */
  readonly careOfAddresses: readonly Ipv4Address[];
  /** Seconds, 0xffff = infinity (2.1.1). */
  readonly registrationLifetime: number;
  readonly busy: boolean;
  readonly encapsulations: { readonly minimal: boolean; readonly gre: boolean };
  readonly reverseTunneling: boolean;
  /** 'R': registration required even with a co-located care-of address (2.1.1). */
  readonly registrationRequired?: boolean;
  /** 'H': this agent is also a home agent on this link (2.1.1, 2.3). */
  readonly homeAgent?: boolean;
  /** 'U': this agent sits behind a NAT and tunnels over UDP (RFC 3519 3.4, foreignAgent.udpTunnel). */
  readonly udpTunnelling?: boolean;
  /** The ICMP Lifetime, seconds (2.1). */
  readonly advertisementLifetime: number;
  /** Code 0 (default) or 16 (does not route common traffic, 2.1). */
  readonly routesCommonTraffic?: boolean;
  /** Router addresses (2.3.1: only the agent's own; may be none, R2.1-6). */
  readonly routers?: readonly RouterEntry[];
  /** A Prefix-Lengths Extension, one per router address (2.1.2); all agents on a link alike (R2.3-11). */
  readonly prefixLengths?: readonly number[];
  /** Append a One-byte Padding Extension when the ICMP length is odd (2.1.3). Default true. */
  readonly padToEvenLength?: boolean;
}

/**
 * The foreign agent's Agent Advertisement (2.1, 2.1.1): 'F' set with at least one care-of
 * address (R2.1.1-2); 'B' only with 'F' (R2.1.1-4) and 'R' only with 'F' (R2.1.1-6), which
 * holds since 'F' is always set here; M/G/T from what the agent decapsulates and offers;
 * reserved bits zero. A Prefix-Lengths Extension when configured, and one trailing pad when
 * the ICMP length would be odd (2.1.3, R2.1.3-1/-2). Throws RangeError on an impossible
 * configuration.
 */
export function buildFaAdvertisement(settings: FaAdvertisementSettings, sequence: number): AgentAdvertisement {
  if (settings.careOfAddresses.length === 0) {
    throw new RangeError("an Agent Advertisement with the 'F' bit set must include at least one care-of address (RFC 5944 2.1.1)");
  }
  const routers = settings.routers ?? [];
  if (settings.prefixLengths !== undefined && settings.prefixLengths.length !== routers.length) {
    throw new RangeError(`the Prefix-Lengths Extension needs one length per router address: ${settings.prefixLengths.length} for ${routers.length} (RFC 5944 2.1.2)`);
  }
  let flags = AdvertisementFlag.F;
  if (settings.busy) flags |= AdvertisementFlag.B;
  if (settings.registrationRequired === true) flags |= AdvertisementFlag.R;
  if (settings.homeAgent === true) flags |= AdvertisementFlag.H;
  if (settings.encapsulations.minimal) flags |= AdvertisementFlag.M;
  if (settings.encapsulations.gre) flags |= AdvertisementFlag.G;
  if (settings.reverseTunneling) flags |= AdvertisementFlag.T;
  // RFC 3519 3.4: 'U' from an agent behind a NAT that supports UDP tunnelling, never otherwise.
  if (settings.udpTunnelling === true) flags |= AdvertisementFlag.U;
  const extensions: AdvertisementExtensionFields[] = [
    {
      kind: 'mobility-agent-advertisement',
      type: AdvertisementExtensionType.MobilityAgentAdvertisement,
      sequence,
      registrationLifetime: settings.registrationLifetime,
      flags,
      careOfAddresses: settings.careOfAddresses,
    },
  ];
  if (settings.prefixLengths !== undefined) {
    extensions.push({ kind: 'prefix-lengths', type: AdvertisementExtensionType.PrefixLengths, prefixLengths: settings.prefixLengths });
  }
  const fields = {
    code: settings.routesCommonTraffic === false ? AdvertisementCode.NoCommonTraffic : AdvertisementCode.RoutesCommonTraffic,
    lifetime: settings.advertisementLifetime,
    routers,
    extensions,
  };
  const advertisement = makeAgentAdvertisement(fields);
  if (agentAdvertisementLength(advertisement) % 2 === 1 && settings.padToEvenLength !== false) {
    return makeAgentAdvertisement({ ...fields, extensions: [...extensions, { kind: 'pad', type: AdvertisementExtensionType.Pad }] });
  }
  return advertisement;
}

export interface HomeAgentAdvertisementSettings {
  /** Seconds, 0xffff = infinity (2.1.1): the longest lifetime the home agent grants. */
  readonly registrationLifetime: number;
  /** The ICMP Lifetime, seconds (2.1). */
  readonly advertisementLifetime: number;
  /** Code 0 (default) or 16 (does not route common traffic, 2.1). */
  readonly routesCommonTraffic?: boolean;
  /** Router addresses (2.3.1: only the agent's own; may be none, R2.1-6). */
  readonly routers?: readonly RouterEntry[];
  /** A Prefix-Lengths Extension, one per router address (2.1.2); all agents on a link alike (R2.3-11). */
  readonly prefixLengths?: readonly number[];
}

/**
 * The home agent's Agent Advertisement on its home link (2.1, 2.3): 'H' set, so that a mobile
 * node hearing it knows it is at home (R2.3-8, 2.4.3); 'F' clear and no care-of address (the
 * home agent offers none); 'B' and 'R' clear, since they belong to a foreign agent (R2.1.1-4,
 * R2.1.1-6); M/G/T clear: they say what the agent receives in tunnels, and a home agent only
 * sends them. A Prefix-Lengths Extension when configured. Throws RangeError on an impossible
 * configuration.
 */
export function buildHomeAgentAdvertisement(settings: HomeAgentAdvertisementSettings, sequence: number): AgentAdvertisement {
  const routers = settings.routers ?? [];
  if (settings.prefixLengths !== undefined && settings.prefixLengths.length !== routers.length) {
    throw new RangeError(`the Prefix-Lengths Extension needs one length per router address: ${settings.prefixLengths.length} for ${routers.length} (RFC 5944 2.1.2)`);
  }
  const extensions: AdvertisementExtensionFields[] = [
    {
      kind: 'mobility-agent-advertisement',
      type: AdvertisementExtensionType.MobilityAgentAdvertisement,
      sequence,
      registrationLifetime: settings.registrationLifetime,
      flags: AdvertisementFlag.H,
      careOfAddresses: [],
    },
  ];
  if (settings.prefixLengths !== undefined) {
    extensions.push({ kind: 'prefix-lengths', type: AdvertisementExtensionType.PrefixLengths, prefixLengths: settings.prefixLengths });
  }
  const fields = {
    code: settings.routesCommonTraffic === false ? AdvertisementCode.NoCommonTraffic : AdvertisementCode.RoutesCommonTraffic,
    lifetime: settings.advertisementLifetime,
    routers,
    extensions,
  };
  const advertisement = makeAgentAdvertisement(fields);
  // 2.1.3: one trailing pad when the ICMP length would be odd (a Prefix-Lengths Extension with an odd count).
  if (agentAdvertisementLength(advertisement) % 2 === 1) {
    return makeAgentAdvertisement({ ...fields, extensions: [...extensions, { kind: 'pad', type: AdvertisementExtensionType.Pad }] });
  }
  return advertisement;
}
