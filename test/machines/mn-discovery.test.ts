/**
 * The mobile node's agent discovery and move detection machine (RFC 5944 2.4, 2.4.1-2.4.4, 4.6).
 *
 * Timing (solicitation back-off, Advertisement Lifetimes, registration spacing) runs on a real
 * xstate actor with xstate's SimulatedClock. The model-based part generates paths from the
 * machine with xstate/graph (timers offered as their `xstate.after.*` events), replays each on
 * an actor, and requires every state node entered and every transition the machine defines taken.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyTransitionDefinition, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getStateNodes } from 'xstate/graph';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { AdvertisementFlag, makeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import {
  advertisementEvent,
  mnDiscoveryMachine,
  solicitationInterval,
  DEFAULT_SOLICITATION,
  type AdvertisementEvent,
  type MnDiscoveryEvent,
  type MnDiscoveryInput,
} from '../../machines/mn-discovery.js';
import { compileMachine, isUnsupported } from '../../runtime/actors/machine-engine.js';
import { ActorHost, type Command } from '../../runtime/actors/actor-host.js';
import { SimulatedClock as RuntimeClock } from '../../io/clock.js';
import { MN_DISCOVERY_TIMERS, mnDiscoveryAbstraction, mnDiscoveryEvents } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof mnDiscoveryMachine>;

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const HOME_NET = ipv4('198.51.100.0');
const HA = ipv4('198.51.100.1');
const FA1 = ipv4('203.0.113.1');
const FA1_SAME_SUBNET = ipv4('203.0.113.2');
const FA2 = ipv4('192.0.2.1');
const COLOCATED = ipv4('203.0.113.77');
const { R, B, H, F, M, G, T } = AdvertisementFlag;

const BASE_INPUT: MnDiscoveryInput = {
  at: T0,
  seed: 7,
  homeAddress: HOME,
  homeAgent: HA,
  homeNetwork: HOME_NET,
  homePrefixLength: 24,
  solicitation: { jitterFraction: 0 },
};

interface AdvOptions {
  readonly flags?: number;
  readonly lifetime?: number;
  readonly sequence?: number;
  readonly prefix?: number | null;
  readonly careOf?: readonly Ipv4Address[];
  readonly registrationLifetime?: number;
}

function adv(source: Ipv4Address, at: number, o: AdvOptions = {}): AdvertisementEvent {
  const prefix = o.prefix === undefined ? 24 : o.prefix;
  return {
    type: 'advertisement',
    at,
    source,
    linkSource: `02:00:00:00:00:${(source & 0xff).toString(16).padStart(2, '0')}`,
    lifetime: o.lifetime ?? 30,
    sequence: o.sequence ?? 10,
    registrationLifetime: o.registrationLifetime ?? 600,
    flags: o.flags ?? F,
    careOfAddresses: o.careOf ?? ((o.flags ?? F) & F ? [source] : []),
    routers: [source],
    ...(prefix === null ? {} : { prefixLengths: [prefix] }),
  };
}

interface Recorded {
  readonly type: string;
  readonly params: unknown;
  readonly at: number;
}

/**
 * The runtime's SimulatedClock behind xstate's clock interface: alarms fire in time order with
 * the clock set to each alarm's time, so timers armed while firing are measured from there
 * (xstate's own SimulatedClock jumps to the end of an increment first).
 */
function xstateClock(clock: RuntimeClock) {
  return {
    setTimeout: (fn: () => void, ms: number) => clock.setAlarm(clock.now() + ms, fn),
    clearTimeout: (alarm: unknown) => (alarm as { cancel(): void }).cancel(),
    increment: (ms: number) => clock.advance(ms),
    now: () => clock.now(),
  };
}

function start(input: Partial<MnDiscoveryInput> = {}) {
  const clock = xstateClock(new RuntimeClock(T0));
  const actions: Recorded[] = [];
  const actor = createActor(mnDiscoveryMachine, {
    input: { ...BASE_INPUT, ...input },
    clock,
    inspect: (ev) => {
      if (ev.type === '@xstate.action' && !ev.action.type.startsWith('xstate.')) {
        actions.push({ type: ev.action.type, params: ev.action.params, at: clock.now() });
      }
    },
  });
  actor.start();
  const commands = (type: string) => actions.filter((a) => a.type === type);
  const reasons = () => actions.filter((a) => a.type === 'reason').map((a) => (a.params as { reason: string }).reason);
  const send = (event: MnDiscoveryEvent) => actor.send(event);
  const now = () => clock.now();
  return { clock, actor, actions, commands, reasons, send, now };
}

describe('mnDiscoveryMachine: Agent Solicitation (2.4)', () => {
  it('[R2.4-1] [R2.4-5] [R2.4-6] [R2.4-7] [R2.4-9] solicits three times at 1 s, then doubles the interval up to one minute', () => {
    const { clock, commands } = start();
    clock.increment(250_000);
    const times = commands('sendSolicitation').map((a) => (a.at - T0) / 1000);
    expect(times).toEqual([0, 1, 2, 4, 8, 16, 32, 64, 124, 184, 244]);
    expect(commands('sendSolicitation').map((a) => (a.params as { count: number }).count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('[R2.4-4] [R2.4-9] the interval function never goes below 1 s nor caps below a minute, whatever the configuration', () => {
    const tooFast = { ...DEFAULT_SOLICITATION, initialIntervalMs: 100, maxIntervalMs: 5000 };
    expect(solicitationInterval(1, tooFast)).toBe(1000);
    expect(solicitationInterval(20, tooFast)).toBe(60_000);
    expect(solicitationInterval(3, DEFAULT_SOLICITATION)).toBe(2000);
    expect(solicitationInterval(2, DEFAULT_SOLICITATION)).toBe(1000);
  });

  it('[R2.4-13] randomises each interval (upward only, so the rate limit holds), reproducibly from the seed', () => {
    const run = (seed: number) => {
      const { clock, commands } = start({ seed, solicitation: { jitterFraction: 0.1 } });
      clock.increment(200_000);
      return commands('sendSolicitation').map((a) => a.at - T0);
    };
    const times = run(12345);
    const intervals = times.slice(1).map((t, i) => t - times[i]!);
    const nominal = intervals.map((_, i) => solicitationInterval(i + 1, DEFAULT_SOLICITATION));
    intervals.forEach((interval, i) => {
      expect(interval).toBeGreaterThanOrEqual(nominal[i]!);
      expect(interval).toBeLessThan(nominal[i]! * 1.1 + 1);
    });
    expect(intervals.some((interval, i) => interval !== nominal[i])).toBe(true);
    expect(run(12345)).toEqual(times);
    expect(run(54321)).not.toEqual(times);
  });

  it('stops after the configured number of solicitations and listens quietly', () => {
    const { clock, commands, actor } = start({ solicitation: { jitterFraction: 0, maxSolicitations: 4 } });
    clock.increment(100_000);
    expect(commands('sendSolicitation')).toHaveLength(4);
    expect(actor.getSnapshot().value).toEqual({ searching: 'quiet' });
  });

  it('[R2.4-2] [R2.4-14] stops soliciting once an Agent Advertisement arrives', () => {
    const { clock, commands, send, actor, now } = start();
    clock.increment(1500);
    send(adv(FA1, now()));
    clock.increment(20_000);
    expect(commands('sendSolicitation')).toHaveLength(2);
    expect(actor.getSnapshot().value).toEqual({ away: 'attached' });
  });

  it('[R2.4-10] searching again without a registration or a new link keeps the backed-off interval', () => {
    const { clock, commands, send, now } = start();
    clock.increment(8000); // solicitations at 0, 1, 2, 4, 8 s; next due at 16 s
    send(adv(FA1, now(), { lifetime: 1 }));
    clock.increment(1000); // the Advertisement expires at 9 s: searching again
    const before = commands('sendSolicitation').length;
    clock.increment(6999); // 15.999 s
    expect(commands('sendSolicitation')).toHaveLength(before);
    clock.increment(1);
    expect(commands('sendSolicitation').map((a) => a.at - T0).slice(before)).toEqual([16_000]);
  });

  it('[R2.4-11] [R2.4-12] after a successful registration the next search starts at the initial rate, then backs off again', () => {
    const { clock, commands, send, now } = start();
    clock.increment(8000);
    send(adv(FA1, now(), { lifetime: 5 }));
    send({ type: 'registered', at: now() });
    clock.increment(5000); // lost at 13 s
    const after = commands('sendSolicitation').filter((a) => a.at >= T0 + 13_000).map((a) => (a.at - T0) / 1000);
    clock.increment(20_000);
    const later = commands('sendSolicitation').filter((a) => a.at >= T0 + 13_000).map((a) => (a.at - T0) / 1000);
    expect(after).toEqual([13]);
    expect(later).toEqual([13, 14, 15, 17, 21, 29]);
  });

  it('[R2.4-10] a link-layer indication of a new link is the positive indication that restarts fast solicitation', () => {
    const { clock, commands, send, now, reasons } = start();
    clock.increment(10_000);
    send({ type: 'linkChanged', at: now() });
    expect(reasons()).toContain('link-changed');
    clock.increment(2000);
    expect(commands('sendSolicitation').filter((a) => a.at >= T0 + 10_000).map((a) => (a.at - T0) / 1000)).toEqual([10, 11, 12]);
  });
});

describe('mnDiscoveryMachine: choosing an agent and registering', () => {
  it('[R2.4-15] [R4.6-18] registers through the first advertised care-of address, after turning off ARP for the home address', () => {
    const { send, actions, now } = start();
    const a = adv(FA1, now(), { careOf: [ipv4('203.0.113.100'), ipv4('203.0.113.101')], flags: F | M | T, registrationLifetime: 300 });
    send(a);
    const commands = actions.filter((x) => x.type !== 'reason' && x.type !== 'sendSolicitation');
    expect(commands.map((x) => [x.type, x.params])).toEqual([
      ['homeArp', { enabled: false }],
      [
        'register',
        {
          kind: 'foreign-agent',
          agent: FA1,
          agentLinkAddress: a.linkSource,
          careOfAddress: ipv4('203.0.113.100'),
          registrationLifetime: 300,
          minimal: true,
          gre: false,
          reverseTunnel: true,
        },
      ],
    ]);
  });

  it('a busy foreign agent (B) is not chosen for a new registration; a free one heard later is', () => {
    const { send, commands, actor, now, reasons } = start();
    send(adv(FA1, now(), { flags: F | B }));
    expect(commands('register')).toEqual([]);
    expect(actor.getSnapshot().matches('searching')).toBe(true);
    expect(reasons()).toContain('unusable-agent-recorded');
    send(adv(FA2, now(), { flags: F }));
    expect(commands('register').map((c) => (c.params as { agent: number }).agent)).toEqual([FA2]);
  });

  it('an agent without the F bit offers no care-of address to register through', () => {
    const { send, commands, now } = start();
    send(adv(FA1, now(), { flags: G }));
    expect(commands('register')).toEqual([]);
  });

  it('[R2.4-18] reserved bits in the Advertisement are ignored, not a reason to discard it (decoded with the codec)', () => {
    const { send, commands, now } = start();
    const decoded = makeAgentAdvertisement({
      lifetime: 30,
      routers: [{ address: FA1, preference: 0 }],
      extensions: [
        { kind: 'mobility-agent-advertisement', type: 16, sequence: 3, registrationLifetime: 600, flags: F | 0x001f | AdvertisementFlag.r, careOfAddresses: [FA1] },
        { kind: 'prefix-lengths', type: 19, prefixLengths: [24] },
      ],
    });
    const event = advertisementEvent(decoded, FA1, now(), '02:00:00:00:00:01')!;
    expect(event.prefixLengths).toEqual([24]);
    send(event);
    expect(commands('register')).toHaveLength(1);
  });

  it('a Router Advertisement without the Mobility Agent Advertisement Extension is no Agent Advertisement', () => {
    const plain = makeAgentAdvertisement({ lifetime: 30, routers: [{ address: FA1, preference: 0 }], extensions: [] });
    expect(advertisementEvent(plain, FA1, T0)).toBeUndefined();
  });

  it('with a co-located care-of address and no R bit, registers directly (co-located mode)', () => {
    const { send, commands, now } = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    send(adv(FA1, now()));
    expect(commands('register').map((c) => c.params)).toEqual([{ kind: 'co-located', careOfAddress: COLOCATED }]);
  });

  it('[R2.4.1-1] the R bit makes a node with a co-located care-of address register through the foreign agent', () => {
    const { send, commands, now, clock } = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    send(adv(FA1, now(), { flags: F | R }));
    clock.increment(1000);
    // The co-located registration went out at once (no agent needed); the R bit then moves it
    // to the foreign agent, one second later (R3.6-9).
    expect(commands('register').map((c) => [(c.params as { kind: string }).kind, c.at - T0])).toEqual([
      ['co-located', 0],
      ['foreign-agent', 1000],
    ]);
  });

  it('[R2.4-2] with a co-located care-of address known at start, registers directly at once: no Solicitation, no Advertisement awaited', () => {
    const { commands, actor } = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    expect(commands('sendSolicitation')).toEqual([]);
    expect(commands('register').map((c) => [c.params, c.at - T0])).toEqual([[{ kind: 'co-located', careOfAddress: COLOCATED }, 0]]);
    expect(actor.getSnapshot().value).toEqual({ away: 'attached' });
  });

  it('a co-located registration without an agent has no Advertisement Lifetime to lose: it stays attached', () => {
    const { commands, actor, clock } = start({ colocated: { address: COLOCATED } });
    clock.increment(3_600_000);
    expect(actor.getSnapshot().value).toEqual({ away: 'attached' });
    expect(commands('register')).toHaveLength(1);
    expect(commands('sendSolicitation')).toEqual([]);
  });

  it('a co-located address given while registered through a foreign agent (no R) triggers a direct registration by itself', () => {
    const { send, commands, now, clock } = start();
    send(adv(FA1, now()));
    clock.increment(2000);
    send({ type: 'colocatedAddressChanged', at: now(), colocated: { address: COLOCATED, prefixLength: 24 } });
    expect(commands('register').map((c) => (c.params as { kind: string }).kind)).toEqual(['foreign-agent', 'co-located']);
  });

  it('[R2.4.1-1] a co-located address given while registered through an agent that requires it (R) is only recorded', () => {
    const { send, commands, now, clock } = start();
    send(adv(FA1, now(), { flags: F | R }));
    clock.increment(2000);
    send({ type: 'colocatedAddressChanged', at: now(), colocated: { address: COLOCATED, prefixLength: 24 } });
    expect(commands('register').map((c) => (c.params as { kind: string }).kind)).toEqual(['foreign-agent']);
  });

  it('[R1.7-6] a link change voids the co-located address: on the new link the node searches and is not registered from it again', () => {
    const { send, commands, now, clock, actor } = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    clock.increment(2000);
    send({ type: 'linkChanged', at: now() });
    expect(actor.getSnapshot().context.colocated).toBeUndefined();
    expect(actor.getSnapshot().value).toEqual({ searching: 'waiting' });
    send(adv(FA2, now()));
    expect(commands('register').map((c) => (c.params as { kind: string }).kind)).toEqual(['co-located', 'foreign-agent']);
  });

  it('losing the co-located address in use falls back to agent discovery: a foreign agent still heard, else solicitations', () => {
    const heard = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    heard.send(adv(FA1, heard.now(), { lifetime: 60 }));
    heard.clock.increment(2000);
    heard.send({ type: 'colocatedAddressChanged', at: heard.now() });
    expect(heard.commands('register').map((c) => (c.params as { kind: string }).kind)).toEqual(['co-located', 'foreign-agent']);

    const alone = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    alone.clock.increment(2000);
    alone.send({ type: 'colocatedAddressChanged', at: alone.now() });
    expect(alone.actor.getSnapshot().value).toEqual({ searching: 'waiting' });
    expect(alone.commands('sendSolicitation').map((c) => c.at - T0)).toEqual([2000]);
  });

  it('a changed co-located address is used for the next registration', () => {
    const { send, commands, now, clock } = start();
    send({ type: 'colocatedAddressChanged', at: now(), colocated: { address: COLOCATED } });
    clock.increment(2000);
    send(adv(FA1, now()));
    expect(commands('register').map((c) => c.params)).toEqual([{ kind: 'co-located', careOfAddress: COLOCATED }]);
  });

  it('[R2.4.2-3] [R3.6-9] two moves within a second: the second registration waits until 1 s after the first', () => {
    // Registered from a co-located address at 0; 300 ms later an agent requires registration through it (R).
    const { send, commands, now, clock } = start({ colocated: { address: COLOCATED, prefixLength: 24 } });
    clock.increment(300);
    send(adv(FA2, now(), { flags: F | R }));
    expect(commands('register')).toHaveLength(1);
    clock.increment(699);
    expect(commands('register')).toHaveLength(1);
    clock.increment(1);
    expect(commands('register').map((c) => [(c.params as { kind: string }).kind, c.at - T0])).toEqual([
      ['co-located', 0],
      ['foreign-agent', 1000],
    ]);
  });
});

describe('mnDiscoveryMachine: move detection (2.4.2)', () => {
  it('[R2.4.2.1-1] [R2.4.2.1-2] [R2.4.2.1-4] Algorithm 1: the agent is lost exactly when its Advertisement Lifetime ends, then the node solicits', () => {
    const { send, clock, actor, commands, now, reasons } = start();
    send(adv(FA1, now(), { lifetime: 30 }));
    clock.increment(20_000);
    send(adv(FA1, now(), { lifetime: 30, sequence: 11 })); // refreshed: now lost at 50 s
    clock.increment(29_999);
    expect(actor.getSnapshot().value).toEqual({ away: 'attached' });
    const solicitationsBefore = commands('sendSolicitation').length;
    clock.increment(1);
    expect(actor.getSnapshot().matches('searching')).toBe(true);
    expect(reasons()).toContain('agent-lost');
    expect(commands('sendSolicitation').length).toBe(solicitationsBefore + 1);
  });

  it('[R2.4.2.1-3] Algorithm 1: on loss, registers at once with another agent whose Advertisement is still valid', () => {
    const { send, clock, commands, now, reasons } = start();
    send(adv(FA1, now(), { lifetime: 10 }));
    clock.increment(5000);
    send(adv(FA2, now(), { lifetime: 30 })); // remembered, no registration (R3.6-8)
    expect(commands('register')).toHaveLength(1);
    clock.increment(5000);
    expect(reasons()).toContain('agent-lost-switching');
    expect(commands('register').map((c) => [(c.params as { agent: number }).agent, c.at - T0])).toEqual([
      [FA1, 0],
      [FA2, 10_000],
    ]);
  });

  it('[R2.4.2.2-6] Algorithm 1: an agent whose Advertisement has expired is not registered with', () => {
    const { send, clock, commands, now, actor } = start();
    send(adv(FA1, now(), { lifetime: 10 }));
    send(adv(FA2, now(), { lifetime: 5 }));
    clock.increment(10_000);
    expect(commands('register')).toHaveLength(1);
    expect(actor.getSnapshot().matches('searching')).toBe(true);
  });

  it('[R3.6-8] with Algorithm 1 a new agent does not cause a registration while the current one is heard', () => {
    const { send, commands, now } = start();
    send(adv(FA1, now()));
    send(adv(FA2, now()));
    expect(commands('register')).toHaveLength(1);
  });

  it('[R2.4.2.2-2] [R2.4.2-2] Algorithm 2: registered from a co-located address, an agent of another prefix means the node moved: register with it', () => {
    const { send, commands, now, clock, reasons } = start({ moveDetection: 'prefix', colocated: { address: COLOCATED, prefixLength: 24 } });
    clock.increment(5000);
    send(adv(FA1_SAME_SUBNET, now())); // same /24 as the co-located address: not a move
    expect(commands('register')).toHaveLength(1);
    send(adv(FA2, now()));
    expect(reasons()).toContain('moved-prefix-changed');
    expect(commands('register').map((c) => (c.params as { kind: string; agent?: number }).agent)).toEqual([undefined, FA2]);
  });

  it('[R3.6-8] Algorithm 2: an agent of another prefix causes no registration while the agent in use is heard; when that one lapses, the node moves (Algorithm 1)', () => {
    const { send, commands, now, clock, reasons } = start({ moveDetection: 'prefix' });
    send(adv(FA1, now(), { lifetime: 10 }));
    clock.increment(2000);
    send(adv(FA2, now(), { lifetime: 60 }));
    expect(reasons()).not.toContain('moved-prefix-changed');
    clock.increment(7999);
    expect(commands('register').map((c) => (c.params as { agent: number }).agent)).toEqual([FA1]);
    clock.increment(1);
    expect(reasons()).toContain('agent-lost-switching');
    expect(commands('register').map((c) => [(c.params as { agent: number }).agent, c.at - T0])).toEqual([
      [FA1, 0],
      [FA2, 10_000],
    ]);
  });

  it('[R3.6-8] [R3.6-9] Algorithm 2: two agents of different prefixes advertising on one link for 20 s: one registration, no hopping', () => {
    const { send, commands, now, clock } = start({ moveDetection: 'prefix' });
    // Each agent advertises every second with a 3 s Lifetime (2.3), interleaved.
    for (let i = 0; i < 20; i++) {
      send(adv(FA1, now(), { lifetime: 3, sequence: i }));
      clock.increment(500);
      send(adv(FA2, now(), { lifetime: 3, sequence: i }));
      clock.increment(500);
    }
    expect(commands('register').map((c) => (c.params as { agent: number }).agent)).toEqual([FA1]);
  });

  it('[R2.4.2.2-3] Algorithm 2 is not used when either Advertisement lacks the Prefix-Lengths Extension', () => {
    for (const [first, second] of [
      [null, 24],
      [24, null],
    ] as const) {
      const { send, commands, now, clock } = start({ moveDetection: 'prefix' });
      send(adv(FA1, now(), { prefix: first }));
      clock.increment(5000);
      send(adv(FA2, now(), { prefix: second }));
      expect(commands('register')).toHaveLength(1);
    }
  });

  it('[R2.4.2.2-4] with a co-located address, Algorithm 2 needs the new prefix and the known co-located prefix', () => {
    const moved = (prefixLength: number | undefined, prefix: number | null) => {
      const { send, commands, now, clock } = start({
        moveDetection: 'prefix',
        colocated: prefixLength === undefined ? { address: COLOCATED } : { address: COLOCATED, prefixLength },
      });
      send(adv(FA1, now(), { prefix: null }));
      clock.increment(5000);
      send(adv(FA2, now(), { prefix }));
      return commands('register').length === 2;
    };
    expect(moved(24, 24)).toBe(true);
    expect(moved(undefined, 24)).toBe(false);
    expect(moved(24, null)).toBe(false);
  });

  it('a move detected by prefix is not made to a busy agent', () => {
    const { send, commands, now, clock } = start({ moveDetection: 'prefix' });
    send(adv(FA1, now()));
    clock.increment(5000);
    send(adv(FA2, now(), { flags: F | B }));
    expect(commands('register')).toHaveLength(1);
  });
});

describe('mnDiscoveryMachine: returning home (2.4.3, 4.6)', () => {
  it('[R2.4.3-1] [R4.6-19] ARP back on, then the deregistration (whose gratuitous ARP is the registration machine\'s)', () => {
    const { send, actions, now, clock, actor } = start();
    send(adv(FA1, now()));
    clock.increment(5000);
    actions.length = 0;
    send(adv(HA, now(), { flags: H, careOf: [] }));
    expect(actor.getSnapshot().value).toEqual({ atHome: 'settled' });
    expect(actions.filter((a) => a.type !== 'reason').map((a) => [a.type, a.params])).toEqual([
      ['homeArp', { enabled: true }],
      ['deregisterAtHome', { homeAgent: HA, homeAddress: HOME }],
    ]);
    expect(actions.find((a) => a.type === 'reason')!.params).toEqual({ reason: 'returned-home' });
  });

  it('[R4.6-18] leaving home again turns ARP for the home address off before the Request, once', () => {
    const { send, actions, now, clock } = start({ moveDetection: 'prefix' });
    send(adv(HA, now(), { flags: H, careOf: [], lifetime: 10 }));
    clock.increment(5000);
    actions.length = 0;
    send(adv(FA2, now()));
    // R3.6-8: not while the home agent is heard; when its Advertisement lapses (Algorithm 1).
    expect(actions.filter((a) => a.type === 'register')).toEqual([]);
    clock.increment(5000);
    expect(actions.filter((a) => a.type === 'homeArp' || a.type === 'register').map((a) => a.type)).toEqual(['homeArp', 'register']);
  });

  it('an Advertisement with H from a foreign network is not the home agent', () => {
    const { send, commands, now } = start();
    send(adv(FA1, now(), { flags: H | F }));
    expect(commands('deregisterAtHome')).toEqual([]);
    expect(commands('register')).toHaveLength(1);
  });
});

describe('mnDiscoveryMachine: sequence numbers (2.4.4)', () => {
  it('[R2.4.4-1] a drop into 0-255 from the registered foreign agent means it rebooted: register again', () => {
    const { send, commands, now, clock, reasons } = start();
    send(adv(FA1, now(), { sequence: 1000 }));
    clock.increment(2000);
    send(adv(FA1, now(), { sequence: 3 }));
    expect(reasons()).toContain('agent-rebooted');
    expect(commands('agentRebooted').map((c) => c.params)).toEqual([{ agent: FA1, previousSequence: 1000, sequence: 3 }]);
    expect(commands('register')).toHaveLength(2);
  });

  it('[R2.4.4-2] a drop to 256 or more is a rollover: no re-registration', () => {
    const { send, commands, now, clock } = start();
    send(adv(FA1, now(), { sequence: 0xffff }));
    clock.increment(2000);
    send(adv(FA1, now(), { sequence: 256 }));
    expect(commands('agentRebooted')).toEqual([]);
    expect(commands('register')).toHaveLength(1);
  });

  it('a co-located registration is not with the foreign agent, so its reboot needs no re-registration', () => {
    const { send, commands, now, clock } = start({ colocated: { address: COLOCATED } });
    send(adv(FA1, now(), { sequence: 1000 }));
    clock.increment(2000);
    send(adv(FA1, now(), { sequence: 0 }));
    expect(commands('agentRebooted')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Model-based coverage

// The timers, the event set (stamped with the snapshot's time) and the abstraction are the kit's
// (testing/models.ts): the same advertisements as `adv()` builds here.
const AFTER = MN_DISCOVERY_TIMERS;

type GraphEvent = MnDiscoveryEvent | { readonly type: (typeof AFTER)[keyof typeof AFTER] };

const graphEvents = (snapshot: Snapshot): GraphEvent[] =>
  snapshot.status === 'active' ? (mnDiscoveryEvents(snapshot) as GraphEvent[]).filter((e) => snapshot.can(e as MnDiscoveryEvent)) : [];
const abstractKey = mnDiscoveryAbstraction;

/** Shortest paths to every abstract state; each path is then extended by every event offered there. */
function coveringPaths(input: MnDiscoveryInput): Array<{ events: GraphEvent[]; state: Snapshot; extended: boolean }> {
  const shortest = getShortestPaths(mnDiscoveryMachine, {
    input,
    events: graphEvents as (s: Snapshot) => MnDiscoveryEvent[],
    serializeState: (state) => abstractKey(state),
    limit: 100_000,
  });
  return shortest.flatMap((path) => {
    const events = path.steps.slice(1).map((s) => s.event as GraphEvent);
    return [
      { events, state: path.state, extended: false },
      ...graphEvents(path.state).map((e) => ({ events: [...events, e], state: path.state, extended: true })),
    ];
  });
}

function stateIds(value: unknown, prefix = 'mnDiscovery'): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [`${prefix}.${k}`, ...stateIds(v, `${prefix}.${k}`)]);
}

describe('mnDiscoveryMachine: model-based paths (xstate/graph)', () => {
  const inputs: MnDiscoveryInput[] = [
    { ...BASE_INPUT, solicitation: { jitterFraction: 0, maxSolicitations: 2 } },
    { ...BASE_INPUT, moveDetection: 'prefix', solicitation: { jitterFraction: 0, maxSolicitations: 2 } },
  ];
  const paths = inputs.flatMap((input) => coveringPaths(input).map((path) => ({ input, path })));

  it('the timer events named in the tests are the ones xstate raises', () => {
    const names = getStateNodes(mnDiscoveryMachine).flatMap((n) => [...n.transitions.keys()].filter((k) => k.startsWith('xstate.after')));
    expect(new Set(names)).toEqual(new Set(Object.values(AFTER)));
  });

  it('replaying the generated paths on actors takes every transition the machine defines and enters every state', () => {
    const taken = new Set<AnyTransitionDefinition>();
    const entered = new Set<string>();
    for (const { input, path } of paths) {
      const clock = new SimulatedClock();
      clock.set(T0);
      const actor = createActor(mnDiscoveryMachine, {
        input,
        clock,
        inspect: (ev) => {
          if (ev.type !== '@xstate.microstep') return;
          for (const t of ev._transitions) taken.add(t);
          for (const id of stateIds((ev.snapshot as Snapshot).value)) entered.add(id);
        },
      });
      actor.start();
      for (const event of path.events) actor.send(event as MnDiscoveryEvent);
      // An unextended path ends, on the actor, in the state the graph computed for it.
      if (!path.extended) {
        expect(actor.getSnapshot().value).toEqual(path.state.value);
        expect(actor.getSnapshot().context.current?.source).toEqual(path.state.context.current?.source);
      }
      actor.stop();
    }
    const defined = getStateNodes(mnDiscoveryMachine).flatMap((n) => [...[...n.transitions.values()].flat(), ...(n.always ?? [])]);
    const missing = defined.filter((t) => !taken.has(t)).map((t) => `${t.source.id} ${t.eventType} → ${t.target?.map((x) => x.id)}`);
    expect(missing).toEqual([]);
    expect(entered).toEqual(new Set(getStateNodes(mnDiscoveryMachine).map((n) => n.id)));
  });

  it('compiles for the actor host (stays in the supported subset)', () => {
    const engine = compileMachine(mnDiscoveryMachine);
    expect(isUnsupported(engine) ? engine.unsupported : 'compiled').toBe('compiled');
  });

  it('runs in the ActorHost on the runtime clock: solicitations, a registration, loss of the agent', () => {
    const clock = new RuntimeClock(T0);
    const log: Array<{ type: string; at: number }> = [];
    const host = new ActorHost(mnDiscoveryMachine, {
      clock,
      onCommands: (_actor, commands: readonly Command[]) => {
        for (const c of commands) log.push({ type: c.type, at: clock.now() - T0 });
      },
    });
    const actor = host.spawn('mn', { ...BASE_INPUT });
    clock.advance(2500);
    host.send(actor, adv(FA1, clock.now(), { lifetime: 10 }));
    clock.advance(10_000);
    expect(log).toEqual([
      { type: 'sendSolicitation', at: 0 },
      { type: 'sendSolicitation', at: 1000 },
      { type: 'sendSolicitation', at: 2000 },
      { type: 'homeArp', at: 2500 },
      { type: 'register', at: 2500 },
      // Lost at 12.5 s; the backed-off solicitation (due at 4 s) goes at once.
      { type: 'sendSolicitation', at: 12_500 },
    ]);
    host.close();
  });
});
