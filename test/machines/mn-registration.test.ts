/**
 * The mobile node's pending registration machine (RFC 5944 3.6.2, 3.6.3, 5.7), on the runtime's
 * SimulatedClock (behind xstate's clock interface) and in the ActorHost, plus model-based paths.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type AnyTransitionDefinition, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getStateNodes } from 'xstate/graph';
import { ipv4 } from '../../io/wire/bytes.js';
import { compareIdentification, identificationFromUnixMs } from '../../io/wire/identification.js';
import type { Identification } from '../../io/wire/registration-types.js';
import {
  mnRegistrationMachine,
  retransmissionTimeout,
  DEFAULT_RETRANSMISSION,
  type MnRegistrationEvent,
  type MnRegistrationInput,
  type ReplyEvent,
} from '../../machines/mn-registration.js';
import { compileMachine, isUnsupported } from '../../runtime/actors/machine-engine.js';
import { ActorHost, type Command } from '../../runtime/actors/actor-host.js';
import { SimulatedClock } from '../../io/clock.js';
import { MN_REGISTRATION_TIMERS, mnRegistrationAbstraction, mnRegistrationEvents } from '../../testing/models.js';

type Snapshot = SnapshotFrom<typeof mnRegistrationMachine>;

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const HA = ipv4('198.51.100.1');
const HA_BROADCAST = ipv4('198.51.100.255');

const INPUT: MnRegistrationInput = { replay: 'timestamp', homeAgent: HA, homeAddress: HOME, lifetime: 600, at: T0, seed: 99 };

function start(input: Partial<MnRegistrationInput> = {}) {
  const clock = new SimulatedClock(T0);
  const actions: Array<{ type: string; params: any; at: number }> = [];
  const actor = createActor(mnRegistrationMachine, {
    input: { ...INPUT, ...input },
    clock: {
      setTimeout: (fn: () => void, ms: number) => clock.setAlarm(clock.now() + ms, fn),
      clearTimeout: (alarm: unknown) => (alarm as { cancel(): void }).cancel(),
    },
    inspect: (ev) => {
      if (ev.type === '@xstate.action' && !ev.action.type.startsWith('xstate.')) actions.push({ type: ev.action.type, params: ev.action.params, at: clock.now() });
    },
  });
  actor.start();
  const sent = () => actions.filter((a) => a.type === 'sendRequest');
  const last = () => sent()[sent().length - 1]!.params as { identification: Identification; lifetime: number; homeAgent: number; attempt: number };
  const reasons = () => actions.filter((a) => a.type === 'reason').map((a) => a.params.reason as string);
  const reply = (code: number, o: Partial<ReplyEvent> = {}): ReplyEvent => ({
    type: 'reply',
    at: clock.now(),
    code,
    lifetime: o.lifetime ?? 600,
    homeAddress: HOME,
    homeAgent: HA,
    identification: last().identification,
    authentic: true,
    ...o,
  });
  return { clock, actor, actions, sent, last, reasons, reply, value: () => actor.getSnapshot().value };
}

describe('mnRegistrationMachine: retransmission (3.6.3)', () => {
  it('[R3.6.3-4] [R3.6.3-5] first timeout 1 s, each one doubled, then gives up after the last attempt', () => {
    const { clock, sent, value, actions } = start();
    clock.advance(100_000);
    expect(sent().map((a) => (a.at - T0) / 1000)).toEqual([0, 1, 3, 7, 15, 31]);
    expect(sent().map((a) => a.params.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(value()).toBe('givenUp');
    // Given up at 31 + 32 s, the sixth timeout.
    expect(actions.find((a) => a.type === 'registrationGivenUp')).toEqual({ type: 'registrationGivenUp', params: { attempts: 6 }, at: T0 + 63_000 });
  });

  it('[R3.6.3-4] a configured timeout under 1 s is raised to 1 s', () => {
    const { clock, sent } = start({ retransmission: { initialTimeoutMs: 200, maxAttempts: 3 } });
    clock.advance(10_000);
    expect(sent().map((a) => a.at - T0)).toEqual([0, 1000, 3000]);
  });

  it('[R3.6.3-2] the timeout is capped by the requested Lifetime and by the configured maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => retransmissionTimeout(n, DEFAULT_RETRANSMISSION, 5))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(retransmissionTimeout(10, DEFAULT_RETRANSMISSION, 600)).toBe(32_000);
    expect(retransmissionTimeout(10, { ...DEFAULT_RETRANSMISSION, maxTimeoutMs: 10 }, 600)).toBe(1000);
    const { clock, sent } = start({ lifetime: 3, retransmission: { maxAttempts: 5 } });
    clock.advance(60_000);
    expect(sent().map((a) => (a.at - T0) / 1000)).toEqual([0, 1, 3, 6, 9]);
  });

  it('[R5.7.1-5] [R5.7-6] [R5.7.1-3] with timestamps every retransmission has a new, strictly greater NTP Identification', () => {
    const { clock, sent } = start();
    clock.advance(100_000);
    const ids = sent().map((a) => a.params.identification as Identification);
    for (let i = 1; i < ids.length; i++) expect(compareIdentification(ids[i]!, ids[i - 1]!)).toBe(1);
    // NTP seconds of the sending time (5.7.1).
    sent().forEach((a) => expect(a.params.identification.high).toBe(identificationFromUnixMs(a.at).high));
  });

  it('with nonces a retransmission is the unanswered Request unchanged (3.6.3)', () => {
    const { clock, sent } = start({ replay: 'nonce', replayState: { clockOffsetMs: 0, nonce: 0xabcdef01 } });
    clock.advance(10_000);
    const ids = sent().map((a) => a.params.identification as Identification);
    expect(ids.length).toBeGreaterThan(2);
    for (const id of ids) expect(id).toEqual(ids[0]);
    expect(ids[0]!.high).toBe(0xabcdef01);
  });

  it('[R5.7.1-5] the first Identification exceeds the last one of a previous registration even if the clock has not moved', () => {
    const previous = identificationFromUnixMs(T0 + 5000);
    const { last } = start({ replayState: { clockOffsetMs: 0, lastIdentification: previous } });
    expect(compareIdentification(last().identification, previous)).toBe(1);
  });
});

describe('mnRegistrationMachine: waiting for the host (3.6, 2.4.3, 4.6)', () => {
  it('[R3.6.3-4] [R5.7.1-5] no Request until the host is configured; then one, with an Identification made then, and 1 s to the next', () => {
    const { actor, clock, sent, value, reasons } = start({ hostReady: false });
    clock.advance(5000);
    expect(sent()).toEqual([]);
    expect(value()).toBe('awaitingHost');
    expect(actor.getSnapshot().context.identification).toEqual({ high: 0, low: 0 });
    actor.send({ type: 'hostReady', at: clock.now(), configured: true });
    expect(reasons()).toContain('host-ready');
    expect(sent().map((a) => a.at - T0)).toEqual([5000]);
    expect(sent()[0]!.params.identification.high).toBe(identificationFromUnixMs(T0 + 5000).high);
    // Nothing sends the same bytes again: the next transmission is the machine's retransmission, 1 s later, with a greater Identification.
    clock.advance(999);
    expect(sent()).toHaveLength(1);
    clock.advance(1);
    expect(sent().map((a) => a.at - T0)).toEqual([5000, 6000]);
    expect(compareIdentification(sent()[1]!.params.identification, sent()[0]!.params.identification)).toBe(1);
  });

  it('a failed host configuration is logged as such and the Request still goes (a frame to a foreign agent needs no route)', () => {
    const { actor, clock, sent, reasons } = start({ hostReady: false });
    actor.send({ type: 'hostReady', at: clock.now(), configured: false });
    expect(reasons()).toContain('host-configuration-failed');
    expect(sent()).toHaveLength(1);
  });

  it('cancelled while waiting for the host: nothing is ever sent', () => {
    const { actor, clock, sent, value } = start({ hostReady: false });
    actor.send({ type: 'cancel', at: clock.now() });
    clock.advance(60_000);
    expect(value()).toBe('cancelled');
    expect(sent()).toEqual([]);
  });

  it('[R4.6-10] returning home: the gratuitous ARP goes just before the first Request, and only then', () => {
    const { actor, clock, actions, reply } = start({ lifetime: 0, hostReady: false, gratuitousArp: HOME });
    expect(actions.filter((a) => a.type === 'gratuitousArp')).toEqual([]);
    actor.send({ type: 'hostReady', at: clock.now(), configured: true });
    clock.advance(1500); // one retransmission
    actor.send(reply(133)); // at 1.5 s: the repaired Request waits until 2 s
    clock.advance(1000);
    expect(actions.filter((a) => a.type === 'gratuitousArp' || a.type === 'sendRequest').map((a) => [a.type, a.at - T0])).toEqual([
      ['gratuitousArp', 0],
      ['sendRequest', 0],
      ['sendRequest', 1000],
      ['sendRequest', 2000],
    ]);
    expect(actions.find((a) => a.type === 'gratuitousArp')!.params).toEqual({ address: HOME });
  });
});

describe('mnRegistrationMachine: replies (3.6.2)', () => {
  it('[R3.6.2.1-3] [R5.7-5] a Reply whose low 32 bits of Identification differ is ignored', () => {
    const { actor, reply, value, reasons, last } = start();
    const id = last().identification;
    actor.send(reply(0, { identification: { high: id.high, low: (id.low + 1) >>> 0 } }));
    expect(value()).toBe('awaitingReply');
    expect(reasons()).toContain('reply-identification-mismatch');
    // Only the low half is compared: a different high half matches (5.7.2 nonces change it).
    actor.send(reply(0, { identification: { high: 12345, low: id.low } }));
    expect(value()).toEqual({ accepted: 'timed' });
  });

  it('[R3.6.2.1-9] a Reply that failed the authentication checks is ignored', () => {
    const { actor, reply, value, reasons } = start();
    actor.send(reply(0, { authentic: false }));
    expect(value()).toBe('awaitingReply');
    expect(reasons()).toContain('reply-not-authentic');
  });

  it('[R3.4-4] [R3.4-5] [R3.6.2.2-4] [R3.6.2.2-5] accepted: the granted Lifetime is the smaller one, counted from the sending of the Request', () => {
    for (const [replied, granted] of [
      [300, 300],
      [900, 600],
    ] as const) {
      const { actor, reply, clock, actions, value } = start();
      clock.advance(400); // the Reply takes 400 ms
      actor.send(reply(0, { lifetime: replied }));
      expect(value()).toEqual({ accepted: 'timed' });
      const accepted = actions.find((a) => a.type === 'registrationAccepted')!.params;
      expect(accepted.grantedLifetime).toBe(granted);
      expect(accepted.expiresAt).toBe(T0 + granted * 1000);
      expect(accepted.renewAt).toBe(T0 + granted * 750);
    }
  });

  it('[R3.6.2.2-3] re-registers before the Lifetime ends, with a new Identification', () => {
    const { actor, reply, clock, sent, last } = start();
    const first = last().identification;
    actor.send(reply(0, { lifetime: 100 }));
    clock.advance(74_999);
    expect(sent()).toHaveLength(1);
    clock.advance(1);
    expect(sent().map((a) => a.at - T0)).toEqual([0, 75_000]);
    expect(compareIdentification(last().identification, first)).toBe(1);
  });

  it('an infinite Lifetime is never renewed; a renewal can be asked for (e.g. the foreign agent rebooted)', () => {
    const { actor, reply, clock, sent, value } = start({ lifetime: 0xffff });
    actor.send(reply(0, { lifetime: 0xffff }));
    expect(value()).toEqual({ accepted: 'unbounded' });
    clock.advance(10 * 86_400_000);
    expect(sent()).toHaveLength(1);
    actor.send({ type: 'reregister', at: clock.now() });
    expect(sent()).toHaveLength(2);
  });

  it('an accepted deregistration (Lifetime 0) ends the registration', () => {
    const { actor, reply, value, actions } = start({ lifetime: 0 });
    actor.send(reply(0, { lifetime: 0 }));
    expect(value()).toBe('deregistered');
    expect(actions.find((a) => a.type === 'registrationAccepted')!.params.grantedLifetime).toBe(0);
  });

  it('[R3.6-4] a node without a home address takes the one in the Reply', () => {
    const { actor, reply, actions } = start({ homeAddress: 0 });
    actor.send(reply(0));
    expect(actions.find((a) => a.type === 'registrationAccepted')!.params.homeAddress).toBe(HOME);
  });

  it('[R3.6.2.3-3] [R5.7.1-9] 133 under timestamps: the clock is corrected from the Reply, then the retry succeeds', () => {
    const { actor, reply, clock, sent, last, value, reasons } = start();
    clock.advance(300);
    const rejected = last().identification;
    // The home agent's clock is 100 s ahead: it sends its seconds in the high half.
    const haTime = identificationFromUnixMs(clock.now() + 100_000);
    actor.send(reply(133, { identification: { high: haTime.high, low: rejected.low } }));
    expect(reasons()).toContain('identification-resynchronised');
    clock.advance(700);
    expect(sent()).toHaveLength(2);
    const retry = last().identification;
    expect(Math.abs(retry.high - haTime.high)).toBeLessThanOrEqual(1);
    expect(compareIdentification(retry, rejected)).toBe(1);
    expect(actor.getSnapshot().context.clockOffsetMs).toBeGreaterThan(99_000);
    actor.send(reply(0));
    expect(value()).toEqual({ accepted: 'timed' });
  });

  it('[R3.6.2.3-3] 133 under nonces: the nonce of the Reply is echoed in the retry, with a new low half', () => {
    const { actor, reply, last, value, clock } = start({ replay: 'nonce' });
    const first = last().identification;
    actor.send(reply(133, { identification: { high: 0x11223344, low: first.low } }));
    clock.advance(1000);
    const retry = last().identification;
    expect(retry.high).toBe(0x11223344);
    expect(retry.low).not.toBe(first.low);
    // The accepting Reply's new nonce is kept for the next Request (5.7.2).
    actor.send(reply(0, { identification: { high: 0x55667788, low: retry.low } }));
    expect(value()).toEqual({ accepted: 'timed' });
    expect(actor.getSnapshot().context.nonce).toBe(0x55667788);
  });

  it('[R3.6.2.3-4] 136: the next Request goes to the home agent address in the Reply', () => {
    const { actor, reply, last, value, clock } = start({ homeAgent: HA_BROADCAST });
    expect(last().homeAgent).toBe(HA_BROADCAST);
    actor.send(reply(136, { homeAgent: HA }));
    clock.advance(1000);
    expect(last().homeAgent).toBe(HA);
    actor.send(reply(0));
    expect(value()).toEqual({ accepted: 'timed' });
  });

  it('[R3.6.2.3-2] 69: the retry asks for at most the Lifetime the foreign agent allows', () => {
    const { actor, reply, last, clock } = start();
    actor.send(reply(69, { lifetime: 120 }));
    clock.advance(1000);
    expect(last().lifetime).toBe(120);
    expect(last().attempt).toBe(1);
  });

  it('repairs are bounded: repeated 133s end in a denial', () => {
    const { actor, reply, value, clock } = start({ retransmission: { maxRepairs: 2 } });
    for (let i = 0; i < 3; i++) {
      actor.send(reply(133));
      clock.advance(1000);
    }
    expect(value()).toBe('denied');
  });

  it('an RFC 3024 refusal the runtime answered by adjusting the Request is a repair: sent again 1 s later, bounded by maxRepairs; without the adjustment it is a denial', () => {
    const { actor, reply, value, clock, sent } = start({ retransmission: { maxRepairs: 1 } });
    actor.send(reply(137, { requestAdjusted: true }));
    expect(value()).toBe('spacing');
    clock.advance(1000);
    expect(sent()).toHaveLength(2);
    actor.send(reply(74, { requestAdjusted: true }));
    expect(value()).toBe('denied');
    const plain = start();
    plain.actor.send(plain.reply(137));
    expect(plain.value()).toBe('denied');
  });

  it('[R3.6.2.3-1] other codes are final denials, telling foreign agent from home agent', () => {
    for (const [code, byForeignAgent] of [
      [65, true],
      [129, false],
      [130, false],
    ] as const) {
      const { actor, reply, value, actions } = start();
      actor.send(reply(code));
      expect(value()).toBe('denied');
      expect(actions.find((a) => a.type === 'registrationDenied')!.params).toEqual({ code, byForeignAgent });
    }
  });

  it('[R3.6.3-4] [R3.6-9] the repaired Request after a 133, 136 or 69 goes 1 s after the rejected one, not at once', () => {
    for (const [code, extra] of [
      [133, {}],
      [136, { homeAgent: ipv4('198.51.100.2') }],
      [69, { lifetime: 120 }],
    ] as const) {
      const { actor, reply, clock, sent, value, reasons } = start();
      clock.advance(15); // a fast Reply, as from a home agent on the same link
      actor.send(reply(code, extra));
      expect(value()).toBe('spacing');
      expect(reasons()).toContain('request-spacing');
      clock.advance(984);
      expect(sent()).toHaveLength(1);
      clock.advance(1);
      expect(sent().map((a) => a.at - T0)).toEqual([0, 1000]);
    }
  });

  it('[R3.6.3-4] [R3.6-9] a new registration\'s first Request waits 1 s from the previous registration\'s last one', () => {
    const { sent } = start({ replayState: { clockOffsetMs: 0, lastRequestAt: T0 - 400 } });
    expect(sent()).toEqual([]);
    const later = start({ replayState: { clockOffsetMs: 0, lastRequestAt: T0 - 400 } });
    later.clock.advance(600);
    expect(later.sent().map((a) => a.at - T0)).toEqual([600]);
  });

  it('a cancelled registration stops retransmitting', () => {
    const { actor, clock, sent, value } = start();
    actor.send({ type: 'cancel', at: clock.now() });
    clock.advance(60_000);
    expect(sent()).toHaveLength(1);
    expect(value()).toBe('cancelled');
  });
});

// ---------------------------------------------------------------------------------------------

// The timers, the event set (Replies to the Request in flight) and the abstraction are the kit's (testing/models.ts).
const AFTER = MN_REGISTRATION_TIMERS;

const graphEvents = (snapshot: Snapshot): MnRegistrationEvent[] =>
  snapshot.status === 'active' ? (mnRegistrationEvents(snapshot) as MnRegistrationEvent[]).filter((e) => snapshot.can(e)) : [];
const abstractKey = mnRegistrationAbstraction;

describe('mnRegistrationMachine: model-based paths (xstate/graph)', () => {
  it('replays reach every state and take every transition the machine defines', () => {
    const taken = new Set<AnyTransitionDefinition>();
    const entered = new Set<string>();
    const inputs: MnRegistrationInput[] = [
      { ...INPUT, lifetime: 600, retransmission: { maxAttempts: 3, maxRepairs: 2 } },
      { ...INPUT, lifetime: 0, retransmission: { maxAttempts: 2, maxRepairs: 1 } },
      { ...INPUT, lifetime: 0xffff, retransmission: { maxAttempts: 2, maxRepairs: 1 } },
      { ...INPUT, lifetime: 0, hostReady: false, gratuitousArp: HOME, retransmission: { maxAttempts: 2, maxRepairs: 1 } },
    ];
    for (const input of inputs) {
      const shortest = getShortestPaths(mnRegistrationMachine, { input, events: graphEvents, serializeState: abstractKey, limit: 100_000 });
      for (const path of shortest) {
        const prefix = path.steps.slice(1).map((s) => s.event);
        for (const extra of [undefined, ...graphEvents(path.state)]) {
          const actor = createActor(mnRegistrationMachine, {
            input,
            inspect: (ev) => {
              if (ev.type !== '@xstate.microstep') return;
              for (const t of ev._transitions) {
                taken.add(t);
                entered.add(t.source.id);
                for (const target of t.target ?? []) entered.add(target.id);
              }
            },
          });
          actor.start();
          for (const event of extra === undefined ? prefix : [...prefix, extra]) actor.send(event);
          if (extra === undefined) expect(actor.getSnapshot().value).toEqual(path.state.value);
          actor.stop();
        }
      }
    }
    const defined = getStateNodes(mnRegistrationMachine).flatMap((n) => [...[...n.transitions.values()].flat(), ...(n.always ?? [])]);
    expect(defined.filter((t) => !taken.has(t)).map((t) => `${t.source.id} ${t.eventType}`)).toEqual([]);
    expect([...getStateNodes(mnRegistrationMachine).map((n) => n.id)].filter((id) => !entered.has(id))).toEqual([]);
  });

  it('the timer events named here are the ones xstate raises', () => {
    const names = getStateNodes(mnRegistrationMachine).flatMap((n) => [...n.transitions.keys()].filter((k) => k.startsWith('xstate.after')));
    expect(new Set(names)).toEqual(new Set(Object.values(AFTER)));
  });

  it('compiles for the actor host (stays in the supported subset)', () => {
    const engine = compileMachine(mnRegistrationMachine);
    expect(isUnsupported(engine) ? engine.unsupported : 'compiled').toBe('compiled');
  });

  it('[R3.6.3-5] in the ActorHost on the runtime clock: retransmissions back off, a Reply stops them, renewal follows', () => {
    const clock = new SimulatedClock(T0);
    const log: Array<{ type: string; at: number; params: any }> = [];
    const host = new ActorHost(mnRegistrationMachine, {
      clock,
      onCommands: (_a, commands: readonly Command[]) => {
        for (const c of commands) log.push({ type: c.type, at: clock.now() - T0, params: c.params });
      },
    });
    const actor = host.spawn('registration', { ...INPUT, lifetime: 60 });
    clock.advance(3500);
    const lastId = log.filter((c) => c.type === 'sendRequest').at(-1)!.params.identification as Identification;
    host.send(actor, { type: 'reply', at: clock.now(), code: 0, lifetime: 60, homeAddress: HOME, homeAgent: HA, identification: lastId, authentic: true });
    clock.advance(45_000);
    // 0, 1, 3 s; accepted for 60 s from the third Request (3 s): renewal at 3 + 45 s.
    expect(log.filter((c) => c.type !== 'registrationAccepted').map((c) => [c.type, c.at])).toEqual([
      ['sendRequest', 0],
      ['sendRequest', 1000],
      ['sendRequest', 3000],
      ['sendRequest', 48_000],
    ]);
    host.close();
  });
});
