/**
 * Agent Advertisements (RFC 5944 2.1, 2.3, 2.3.2): the advertiser machine (paths from the
 * machine with xstate/graph, timers as `xstate.after.*` events; timing on xstate's
 * SimulatedClock) and the advertisement builder.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createActor, SimulatedClock, type AnyTransitionDefinition, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getStateNodes, serializeSnapshot, type StatePath } from 'xstate/graph';
import { ipv4 } from '../../io/wire/bytes.js';
import {
  agentAdvertisementProblems,
  AdvertisementFlag,
  decodeAgentAdvertisement,
  encodeAgentAdvertisement,
  agentAdvertisementLength,
  mobilityAgentExtension,
} from '../../io/wire/agent-discovery.js';
import {
  advertiserConfig,
  advertiserMachine,
  ALL_SYSTEMS,
  buildFaAdvertisement,
  type AdvertiserEvent,
  type AdvertiserSettings,
  type FaAdvertisementSettings,
  type SendAdvertisementParams,
} from '../../machines/advertiser.js';
import { compileMachine, isUnsupported } from '../../runtime/actors/machine-engine.js';
import { ADVERTISER_EVENTS, ADVERTISER_INPUT, ADVERTISER_TIMERS } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof advertiserMachine>;
const { interval: INTERVAL, multicastGap: GAP, response: RESPONSE } = ADVERTISER_TIMERS;
type GraphEvent = AdvertiserEvent | { readonly type: typeof INTERVAL | typeof GAP | typeof RESPONSE };

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const MAC = '02:00:00:00:00:0a';
// The kit's settings and event set (testing/models.ts).
const SETTINGS: AdvertiserSettings = ADVERTISER_INPUT;

const EVENTS = ADVERTISER_EVENTS as readonly GraphEvent[];

function record(settings: AdvertiserSettings, clock?: SimulatedClock) {
  const sends: Array<SendAdvertisementParams & { at: number }> = [];
  const reasons: string[] = [];
  const transitions = new Set<AnyTransitionDefinition>();
  const actor = createActor(advertiserMachine, {
    input: settings,
    ...(clock ? { clock } : {}),
    inspect: (ev) => {
      if (ev.type === '@xstate.microstep') for (const t of ev._transitions) transitions.add(t);
      if (ev.type === '@xstate.action' && ev.action.type === 'sendAdvertisement') sends.push({ ...(ev.action.params as SendAdvertisementParams), at: clock?.now() ?? 0 });
      if (ev.type === '@xstate.action' && ev.action.type === 'reason') reasons.push((ev.action.params as { reason: string }).reason);
    },
  });
  actor.start();
  return { actor, sends, reasons, transitions };
}

describe('advertiserMachine: model-based paths (xstate/graph)', () => {
  it('compiles with the runtime engine (no unsupported features)', () => {
    const compiled = compileMachine(advertiserMachine);
    expect(isUnsupported(compiled) ? compiled.unsupported : 'ok').toBe('ok');
  });

  it('[R2.3-5] [R2.3-6] [R2.3.2-2] every covering path: one advertisement per send with consecutive sequence numbers, unicast to the solicitor, no multicast answer while quiet; all states and transitions reached', () => {
    const taken = new Set<AnyTransitionDefinition>();
    const entered = new Set<string>();
    for (const settings of [SETTINGS, { ...SETTINGS, periodic: false }]) {
      // Sequence numbers grow without bound, so states are abstracted to (state, busy).
      const abstract = (s: Snapshot) => JSON.stringify([s.value, s.context.busy]);
      const paths: StatePath<Snapshot, AdvertiserEvent>[] = getShortestPaths(advertiserMachine, {
        input: settings,
        events: ((s: Snapshot) => EVENTS.filter((e) => s.can(e as AdvertiserEvent))) as (s: Snapshot) => AdvertiserEvent[],
        serializeState: (state, event, previous) =>
          previous === undefined || event === undefined ? abstract(state) : `${abstract(previous)}-${JSON.stringify(event)}-${abstract(state)}`,
      });
      expect(paths.length).toBeGreaterThan(5);
      for (const path of paths) {
        const { actor, sends, reasons, transitions } = record(settings);
        for (const t of transitions) taken.add(t);
        const periodic = settings.periodic !== false;
        expect(sends.length).toBe(periodic ? 1 : 0);
        for (const step of path.steps.slice(1)) {
          const before = actor.getSnapshot();
          const sentBefore = sends.length;
          const reasonsBefore = reasons.length;
          actor.send(step.event);
          const e = step.event as GraphEvent;
          const newSends = sends.slice(sentBefore);
          expect(reasons.length).toBeGreaterThan(reasonsBefore);
          // The model: unicast solicitations are answered at once; the periodic timer and the
          // response delay send one multicast; nothing else sends.
          if (e.type === 'solicitation' && e.source !== 0) {
            expect(newSends).toEqual([{ sequence: before.context.sequence, destination: HOME, linkLayerDestination: MAC, busy: before.context.busy, at: 0 }]);
          } else if (e.type === INTERVAL || e.type === RESPONSE) {
            expect(newSends).toEqual([{ sequence: before.context.sequence, destination: ALL_SYSTEMS, busy: before.context.busy, at: 0 }]);
          } else {
            expect(newSends).toEqual([]);
          }
          if (e.type === 'solicitation' && e.source === 0 && JSON.stringify(before.value) === '{"active":"quiet"}') {
            expect(reasons.at(-1)).toBe('solicitation-rate-limited');
          }
        }
        sends.forEach((s, i) => expect(s.sequence).toBe(i));
        for (const t of transitions) taken.add(t);
        expect(actor.getSnapshot().value).toEqual(path.state.value);
        const value = actor.getSnapshot().value as { active: string };
        entered.add('advertiser.active');
        entered.add(`advertiser.active.${value.active}`);
        for (const t of transitions) entered.add(t.source.id);
        actor.stop();
      }
    }
    const defined = getStateNodes(advertiserMachine).flatMap((node) => [...[...node.transitions.values()].flat(), ...(node.always ?? [])]);
    for (const t of defined) expect(taken.has(t), `${t.source.id} ${t.eventType}`).toBe(true);
    expect(entered).toEqual(new Set(getStateNodes(advertiserMachine).map((n) => n.id)));
  });
});

describe('advertiserMachine: timing on xstate’s SimulatedClock', () => {
  function run(settings: AdvertiserSettings) {
    const clock = new SimulatedClock();
    clock.set(T0);
    return { clock, ...record(settings, clock) };
  }

  it('[R2.3.2-1] the first advertisement after booting carries sequence number 0, at once', () => {
    const { sends } = run(SETTINGS);
    expect(sends).toEqual([{ sequence: 0, destination: ALL_SYSTEMS, busy: false, at: T0 }]);
  });

  it('[R2.1-7] [R2.1-8] [R2.1-9] periodic intervals are randomized, at least 3/4 and never more than 1/3 of the Lifetime', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 9000 }), fc.integer({ min: 0, max: 0xffffffff }), (lifetimeSeconds, seed) => {
        // The delays the machine schedules for its periodic timer (SimulatedClock stamps
        // timers with the end of an increment, so the schedule is read from the raise).
        const delays: number[] = [];
        const clock = new SimulatedClock();
        clock.set(T0);
        const actor = createActor(advertiserMachine, {
          input: { lifetimeSeconds, seed },
          clock,
          inspect: (ev) => {
            if (ev.type === '@xstate.action' && ev.action.type === 'xstate.raise') {
              const params = ev.action.params as { id?: string; delay?: number };
              if (params.id === INTERVAL && params.delay !== undefined) delays.push(params.delay);
            }
          },
        });
        actor.start();
        const max = Math.floor((lifetimeSeconds * 1000) / 3);
        const config = advertiserConfig({ lifetimeSeconds, seed });
        expect(config.maxIntervalMs).toBeLessThanOrEqual(max);
        while (delays.length < 10) clock.increment(max);
        delays.forEach((delay, i) => {
          expect(delay).toBeLessThanOrEqual(max);
          // RFC 1256: MinAdvertisementInterval = 3/4 of the maximum; the first three
          // advertisements come no more than 16 s apart.
          expect(delay).toBeGreaterThanOrEqual(Math.min(Math.floor(config.maxIntervalMs * 0.75), i < 3 ? 16_000 : Infinity));
          if (i < 3) expect(delay).toBeLessThanOrEqual(16_000);
        });
        actor.stop();
      }),
      { numRuns: 40 },
    );
    // Randomized: two seeds do not give the same schedule, and one seed does not repeat one interval.
    const schedule = (seed: number) => {
      const engine = compileMachine(advertiserMachine);
      if (isUnsupported(engine)) throw new Error(engine.unsupported);
      let snapshot = engine.initial({ lifetimeSeconds: 1800, seed }).snapshot;
      const delays: number[] = [snapshot.context.nextIntervalMs];
      for (let i = 0; i < 8; i++) {
        snapshot = engine.step(snapshot, { type: INTERVAL } as unknown as AdvertiserEvent).snapshot;
        delays.push(snapshot.context.nextIntervalMs);
      }
      return delays;
    };
    expect(schedule(1)).not.toEqual(schedule(2));
    expect(new Set(schedule(1).slice(4)).size).toBeGreaterThan(1);
  });

  it('a configured interval longer than 1/3 of the Lifetime is cut to 1/3 (R2.1-7)', () => {
    expect(advertiserConfig({ lifetimeSeconds: 30, maxIntervalMs: 60_000, seed: 1 }).maxIntervalMs).toBe(10_000);
  });

  it('[R2.3-6] a flood of solicitations from 0.0.0.0 never makes multicasts closer than the minimum gap', () => {
    const { clock, actor, sends } = run({ lifetimeSeconds: 1800, seed: 7 });
    for (let i = 0; i < 600; i++) {
      actor.send({ type: 'solicitation', source: 0, linkLayerSource: MAC, random: (i * 0x9e3779b9) >>> 0, at: clock.now() });
      clock.increment(100);
    }
    expect(sends.length).toBeGreaterThan(5);
    const gaps = sends.slice(1).map((s, i) => s.at - sends[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(3000);
  });

  it('[R2.1-1] [R2.1-4] a solicitation from an address is answered at once by unicast to it and to its link-layer address', () => {
    const { clock, actor, sends } = run(SETTINGS);
    clock.increment(50);
    actor.send({ type: 'solicitation', source: HOME, linkLayerSource: MAC, random: 0, at: clock.now() });
    expect(sends.at(-1)).toEqual({ sequence: 1, destination: HOME, linkLayerDestination: MAC, busy: false, at: T0 + 50 });
  });

  it('[R2.3-7] a solicited-only agent sends nothing unprompted and answers multicast after the random response delay (≤ 2 s)', () => {
    const { clock, actor, sends } = run({ ...SETTINGS, periodic: false });
    clock.increment(3_600_000);
    expect(sends).toEqual([]);
    actor.send({ type: 'solicitation', source: 0, linkLayerSource: MAC, random: 0x80000000, at: clock.now() });
    const at = clock.now();
    clock.increment(999);
    expect(sends).toEqual([]);
    clock.increment(1);
    expect(sends).toEqual([{ sequence: 0, destination: ALL_SYSTEMS, busy: false, at: at + 1000 }]);
  });

  it('the busy flag travels with the next advertisement', () => {
    const { actor, sends } = run(SETTINGS);
    actor.send({ type: 'set-busy', busy: true, at: T0 });
    actor.send({ type: 'solicitation', source: HOME, linkLayerSource: MAC, random: 0, at: T0 });
    expect(sends.at(-1)?.busy).toBe(true);
  });

  it('[R2.3.2-2] each advertisement is one greater; 0xffff is followed by 256', () => {
    const engine = compileMachine(advertiserMachine);
    if (isUnsupported(engine)) throw new Error(engine.unsupported);
    let snapshot = engine.initial(SETTINGS).snapshot;
    snapshot = { ...snapshot, context: { ...snapshot.context, sequence: 0xfffe } };
    const sequences: number[] = [];
    for (let i = 0; i < 4; i++) {
      const result = engine.step(snapshot, { type: 'solicitation', source: HOME, linkLayerSource: MAC, random: 0, at: T0 });
      snapshot = result.snapshot;
      for (const a of result.actions) if (a.type === 'sendAdvertisement') sequences.push((a.params as SendAdvertisementParams).sequence);
    }
    expect(sequences).toEqual([0xfffe, 0xffff, 256, 257]);
  });
});

describe('buildFaAdvertisement', () => {
  const FA: FaAdvertisementSettings = {
    careOfAddresses: [ipv4('203.0.113.1')],
    registrationLifetime: 1800,
    busy: false,
    encapsulations: { minimal: true, gre: false },
    reverseTunneling: true,
    advertisementLifetime: 30,
  };

  function roundTrip(settings: FaAdvertisementSettings, sequence: number) {
    const adv = buildFaAdvertisement(settings, sequence);
    const bytes = new Uint8Array(agentAdvertisementLength(adv));
    encodeAgentAdvertisement(adv, bytes, 0);
    const decoded = decodeAgentAdvertisement(bytes);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value).toEqual(adv);
    return { adv, bytes };
  }

  it('[R2.1.1-2] [R2.1.1-5] sets F, lists the care-of addresses, and passes every receiver check', () => {
    const { adv } = roundTrip(FA, 7);
    const ext = mobilityAgentExtension(adv)!;
    expect(ext).toMatchObject({ sequence: 7, registrationLifetime: 1800, careOfAddresses: FA.careOfAddresses });
    expect(ext.flags).toBe(AdvertisementFlag.F | AdvertisementFlag.M | AdvertisementFlag.T);
    expect(agentAdvertisementProblems(adv)).toEqual([]);
    expect(() => buildFaAdvertisement({ ...FA, careOfAddresses: [] }, 0)).toThrow(RangeError);
  });

  it('[R2.1.1-4] [R2.1.1-6] B and R are only ever set together with F', () => {
    const ext = mobilityAgentExtension(buildFaAdvertisement({ ...FA, busy: true, registrationRequired: true, homeAgent: true, encapsulations: { minimal: false, gre: true } }, 0))!;
    expect(ext.flags).toBe(AdvertisementFlag.F | AdvertisementFlag.B | AdvertisementFlag.R | AdvertisementFlag.H | AdvertisementFlag.G | AdvertisementFlag.T);
  });

  it('[R2.1-6] [R2.1.3-1] [R2.1.3-2] pads an odd ICMP length with one trailing One-byte Padding Extension, and only then', () => {
    const even = roundTrip(FA, 0);
    expect(even.bytes.length % 2).toBe(0);
    expect(even.adv.numAddrs).toBe(0);
    expect(even.adv.extensions.some((e) => e.kind === 'pad')).toBe(false);
    const withPrefix = roundTrip({ ...FA, routers: [{ address: ipv4('203.0.113.254'), preference: 0 }], prefixLengths: [24] }, 0);
    expect(withPrefix.bytes.length % 2).toBe(0);
    expect(withPrefix.adv.extensions.map((e) => e.kind)).toEqual(['mobility-agent-advertisement', 'prefix-lengths', 'pad']);
    expect(agentAdvertisementProblems(withPrefix.adv)).toEqual([]);
    const unpadded = buildFaAdvertisement({ ...FA, routers: [{ address: ipv4('203.0.113.254'), preference: 0 }], prefixLengths: [24], padToEvenLength: false }, 0);
    expect(unpadded.extensions.map((e) => e.kind)).toEqual(['mobility-agent-advertisement', 'prefix-lengths']);
  });

  it('code 16 when the agent does not route common traffic; a Prefix-Lengths Extension needs one length per router', () => {
    expect(buildFaAdvertisement({ ...FA, routesCommonTraffic: false }, 0).code).toBe(16);
    expect(() => buildFaAdvertisement({ ...FA, prefixLengths: [24] }, 0)).toThrow(RangeError);
  });
});
