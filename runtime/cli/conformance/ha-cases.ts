/**
 * The test cases of `mip4 conformance --role ha`, generated from mip4's own model:
 *
 * - binding paths: xstate/graph walks the binding machine (machines/binding.ts) and every
 *   transition it can take gets the shortest path that ends with it; each step of the path,
 *   classified by the transition it took, becomes a wire Request (a renewal, a duplicate, a
 *   move, simultaneous bindings, deregistrations) or a wait (the lifetime timer);
 * - families from the policies' checks: one case per reason checkHaRequest (3.8.2.1) has to
 *   discard or deny that a direct Request can show, the replay rules of 5.7, the lifetime rules
 *   of 3.8.3.2, the flags of 3.3/3.8.2, the Home Agent field and broadcast destination.
 *
 * A case is a list of steps for one mobile node; what each Reply should be is not written
 * here but predicted when it runs (ha-model.ts), from the node's state along the path.
 */
import { createActor, SimulatedClock, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { type Ipv4Address } from '../../../io/wire/bytes.js';
import { ExtensionType, RequestFlag, type Identification, type RegistrationExtension } from '../../../io/wire/registration-types.js';
import { bindingMachine, INFINITE_LIFETIME, type BindingEvent, type BindingInput, type Registration } from '../../../machines/binding.js';
import type { ConformanceTarget, TargetNode } from './ha-target.js';

/** What a step sends, in terms the runner resolves against the node's state. */
export interface RequestPlan {
  readonly careOf: 0 | 1 | 2 | 'home';
  /** 'short' = 2 s (the expiry path), 'over-max' = the node's maximum plus 100 (capped at 65534). */
  readonly lifetime: number | 'default' | 'short' | 'over-max' | 'under-max' | 'infinite';
  readonly flags?: number;
  /** Identification: a fresh one (default), a timestamp an hour ahead, a wrong nonce. */
  readonly identification?: 'fresh' | 'future' | 'wrong-nonce';
  /** Resend the bytes of the registration accepted `resend` steps before (a duplicate or a replay). */
  readonly resendAccepted?: 'last' | 'first';
  readonly homeAgentField?: 'other';
  readonly destination?: 'broadcast';
  readonly homeAddress?: 'unserved';
  /** Extensions placed before / after the Mobile-Home Authentication Extension. */
  readonly before?: readonly PlannedExtension[];
  readonly after?: readonly PlannedExtension[];
  readonly mobileHome?: 'absent' | 'wrong-key' | 'unknown-spi';
}

export type PlannedExtension = 'unknown-non-skippable' | 'unknown-skippable' | 'mobile-foreign-auth' | 'foreign-home-auth';

export type Step =
  | { readonly kind: 'request'; readonly label: string; readonly plan: RequestPlan; readonly requirements?: readonly string[] }
  /** Waits (the target's timers run); `silent`: no datagram may arrive meanwhile (3.8, R3.8-2). */
  | { readonly kind: 'wait'; readonly label: string; readonly ms: number };

export interface ConformanceCase {
  readonly id: string;
  readonly family: 'binding-path' | 'replay' | 'authentication' | 'extension' | 'lifetime' | 'flags' | 'home-agent-field' | 'deregistration';
  readonly steps: readonly Step[];
  /** Runs on nodes with this replay protection only. */
  readonly replay?: 'timestamp' | 'nonce';
  /** Why the case cannot run against this target, when it cannot. */
  readonly notApplicable?: string;
  /** What the case is mainly about, named when it is not run (default: its family's, FAMILY_REQUIREMENT). */
  readonly requirement?: string;
}

/** The requirement each family is mainly about, for the report of a case that did not run. */
export const FAMILY_REQUIREMENT: Record<ConformanceCase['family'], string> = {
  'binding-path': 'R3.8.2.2-1',
  replay: 'R3.8.2.1-14',
  authentication: 'R3.8.2.1-2',
  extension: 'R1.8-1',
  lifetime: 'R3.8.3.2-2',
  flags: 'R3.8.2.3-2',
  'home-agent-field': 'R3.8.3.2-9',
  deregistration: 'R3.8.2.2-1',
};

const request = (label: string, plan: RequestPlan, requirements?: readonly string[]): Step => ({ kind: 'request', label, plan, ...(requirements ? { requirements } : {}) });
const register = (label: string, careOf: 0 | 1 | 2 = 0, extra: Partial<RequestPlan> = {}): Step => request(label, { careOf, lifetime: 'default', ...extra });
const deregisterAll = (label = 'deregister all (care-of = home address)'): Step => request(label, { careOf: 'home', lifetime: 0 });

/** The seconds the short-lived registration of the expiry path asks for. */
export const SHORT_LIFETIME_SECONDS = 2;

// --- binding paths from the machine ---------------------------------------------------------

type Snapshot = SnapshotFrom<typeof bindingMachine>;
const LIFETIME_EXPIRY = 'xstate.after.lifetime.binding.registered.timed';
type GraphEvent = BindingEvent | { readonly type: typeof LIFETIME_EXPIRY };

const A = 1;
const B = 2;
const id = (low: number): Identification => ({ high: 1, low });
const abstract = (careOfAddress: Ipv4Address, identification: Identification, lifetime: number, at: number): Registration => ({
  careOfAddress,
  lifetime,
  identification,
  encapsulation: 'ip-in-ip',
  broadcast: false,
  decapsulatedByMobileNode: false,
  reverseTunnel: false,
  at,
});
const INPUT: BindingInput = { homeAddress: 100, ...abstract(A, id(1), 600, 0) };

/** The events the graph is explored with: each stands for a kind of Request (or the timer). */
const EVENTS: readonly GraphEvent[] = [
  { type: 'register', ...abstract(A, id(1), 600, 10) },
  { type: 'register', ...abstract(A, id(2), 600, 20) },
  { type: 'register', ...abstract(B, id(3), 600, 30) },
  { type: 'register', ...abstract(A, id(4), INFINITE_LIFETIME, 40) },
  { type: 'deregister', at: 50 },
  { type: 'deregister-all', at: 50 },
  { type: 'replaced', at: 50 },
  { type: LIFETIME_EXPIRY },
];

function eventsFor(snapshot: Snapshot): readonly GraphEvent[] {
  if (snapshot.status !== 'active') return [];
  return EVENTS.filter((event) => snapshot.can(event as BindingEvent));
}

interface TakenStep {
  readonly event: GraphEvent;
  /** The transitions (by source, event and guard) the step took. */
  readonly transitions: readonly string[];
}

/** Replays abstract events on an actor, recording which guarded transition each took. */
function replayAbstract(events: readonly GraphEvent[]): TakenStep[] {
  const clock = new SimulatedClock();
  let current: string[] = [];
  const actor = createActor(bindingMachine, {
    input: INPUT,
    clock,
    inspect: (e) => {
      if (e.type !== '@xstate.microstep') return;
      for (const t of (e as unknown as { _transitions: Array<{ source: { id: string }; eventType: string; guard?: { type?: string } | string }> })._transitions) {
        const guard = typeof t.guard === 'string' ? t.guard : t.guard?.type ?? '';
        current.push(`${t.source.id}:${t.eventType}:${guard}`);
      }
    },
  });
  actor.start();
  const taken: TakenStep[] = [];
  for (const event of events) {
    current = [];
    if (event.type === LIFETIME_EXPIRY) clock.increment(actor.getSnapshot().context.lifetime * 1000);
    else actor.send(event);
    taken.push({ event, transitions: current });
  }
  actor.stop();
  return taken;
}

/**
 * One abstract path per transition the graph can reach: the shortest path to a state plus one
 * event, kept when it is the shortest way found to take the transition it ends with.
 */
export function bindingPathsFromMachine(): Array<{ readonly ends: string; readonly steps: readonly TakenStep[] }> {
  const paths = getShortestPaths(bindingMachine, { input: INPUT, events: eventsFor as (s: Snapshot) => BindingEvent[] });
  const best = new Map<string, TakenStep[]>();
  for (const path of paths) {
    const prefix = path.steps.slice(1).map((s) => s.event as GraphEvent);
    for (const event of eventsFor(path.state)) {
      const taken = replayAbstract([...prefix, event]);
      const last = taken[taken.length - 1]!;
      for (const transition of last.transitions) {
        const known = best.get(transition);
        if (known === undefined || known.length > taken.length) best.set(transition, taken);
      }
    }
  }
  return [...best.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([ends, steps]) => ({ ends, steps }));
}

/** The wire steps for an abstract path: the initial registration, then one or two per event. */
function wireSteps(steps: readonly TakenStep[], simultaneous: boolean): Step[] | string {
  const expires = steps.some((s) => s.event.type === LIFETIME_EXPIRY);
  const out: Step[] = [register(expires ? `register care-of A for ${SHORT_LIFETIME_SECONDS} s` : 'register care-of A', 0, expires ? { lifetime: 'short' } : {})];
  let careOf: 0 | 1 | 2 = 0;
  for (const { event, transitions } of steps) {
    const took = (prefix: string) => transitions.some((t) => t.startsWith(prefix));
    if (event.type === 'register') {
      if (took('binding.registered:register:isDuplicate')) out.push(request('resend the accepted registration (duplicate, 3.8.2.2)', { careOf, lifetime: 'default', resendAccepted: 'last' }));
      else if (took('binding.registered:register:sameCareOfAddress')) {
        const infinite = event.lifetime === INFINITE_LIFETIME;
        out.push(register(infinite ? 'renew with Lifetime 0xffff (infinite, 3.3)' : 'renew (same care-of address)', careOf, infinite ? { lifetime: 'infinite' } : {}));
      } else {
        careOf = careOf === 0 ? 1 : 0;
        out.push(register(`move to care-of ${careOf === 0 ? 'A' : 'B'} (no 'S': replaces, 3.8.2.2)`, careOf));
      }
    } else if (event.type === 'deregister') out.push(request('deregister this care-of address (Lifetime 0)', { careOf, lifetime: 0 }));
    else if (event.type === 'deregister-all') out.push(deregisterAll());
    else if (event.type === 'replaced') {
      if (!simultaneous) return "needs simultaneous bindings ('S'), which the target does not claim";
      out.push(register("add care-of C with 'S' (simultaneous, 3.8.2.2)", 2, { flags: RequestFlag.S }));
      out.push(register("renew care-of C without 'S': the others are replaced", 2));
      careOf = 2;
    } else {
      out.push({ kind: 'wait', label: `wait ${SHORT_LIFETIME_SECONDS} s + 0.6 s: the lifetime runs out (3.8.2.2), no Reply (3.8)`, ms: SHORT_LIFETIME_SECONDS * 1000 + 600 });
      out.push(request('resend the expired registration: no longer current, so a replay (133)', { careOf, lifetime: 'short', resendAccepted: 'last' }, ['R3.8.2.2-8']));
    }
  }
  return out;
}

const slug = (transition: string) =>
  transition
    .replace(/^binding\./, '')
    .replace(/xstate\.after\.lifetime\.binding\.registered\.timed/, 'lifetime-expiry')
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .replace(/-+$/, '');

// --- the whole set ---------------------------------------------------------------------------

export function generateCases(target: ConformanceTarget): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  // Transitions whose shortest paths send the same Requests share one case (e.g. a renewal
  // also takes `choosing --always--> timed`).
  const byRequests = new Map<string, { ends: string[]; steps: Step[] | string }>();
  for (const path of bindingPathsFromMachine()) {
    const steps = wireSteps(path.steps, target.settings.simultaneousBindings);
    const key = typeof steps === 'string' ? `n/a ${path.ends}` : JSON.stringify(steps);
    const entry = byRequests.get(key) ?? { ends: [], steps };
    entry.ends.push(slug(path.ends));
    byRequests.set(key, entry);
  }
  for (const { ends, steps } of byRequests.values()) {
    const id = `binding-path/${ends.join('+')}`;
    if (typeof steps === 'string') cases.push({ id, family: 'binding-path', steps: [], notApplicable: steps });
    else cases.push({ id, family: 'binding-path', steps: [...steps, deregisterAll('clean up: deregister all')] });
  }

  // 5.7: replays are refused (133) whatever the style; the Reply tells the node how to resynchronise.
  cases.push({
    id: 'replay/resend-superseded-registration',
    family: 'replay',
    steps: [register('register'), register('register again (new Identification)'), request('resend the first registration (a replay, 5.7)', { careOf: 0, lifetime: 'default', resendAccepted: 'first' }), deregisterAll()],
  });
  cases.push({ id: 'replay/timestamp-ahead-of-window', family: 'replay', replay: 'timestamp', steps: [request('register with a timestamp an hour ahead (5.7.1)', { careOf: 0, lifetime: 'default', identification: 'future' })] });
  cases.push({ id: 'replay/wrong-nonce', family: 'replay', replay: 'nonce', steps: [request('register echoing a nonce never issued (5.7.2)', { careOf: 0, lifetime: 'default', identification: 'wrong-nonce' })] });
  cases.push({
    id: 'deregistration/forgets-binding',
    family: 'deregistration',
    steps: [
      register('register care-of A'),
      request('deregister care-of A (Lifetime 0)', { careOf: 0, lifetime: 0 }),
      request('resend the registration: the binding is gone, so a replay (133)', { careOf: 0, lifetime: 'default', resendAccepted: 'last' }, ['R3.8.2.2-1']),
      deregisterAll(),
    ],
  });

  // 3.8.2.1, in checkHaRequest's order: the reasons a direct Request is discarded or denied.
  cases.push({ id: 'authentication/no-mobile-home-extension', family: 'authentication', steps: [request('register without a Mobile-Home Authentication Extension', { careOf: 0, lifetime: 'default', mobileHome: 'absent' })] });
  cases.push({
    id: 'authentication/unserved-home-address',
    family: 'authentication',
    steps: [request('register a home address the target does not serve', { careOf: 0, lifetime: 'default', homeAddress: 'unserved' })],
    requirement: 'R3.8.2.1-5',
    ...(target.unservedHomeAddress === undefined ? { notApplicable: 'the config gives no unservedHomeAddress' } : {}),
  });
  cases.push({ id: 'authentication/wrong-key', family: 'authentication', steps: [request('register with an authenticator made with another key', { careOf: 0, lifetime: 'default', mobileHome: 'wrong-key' })] });
  cases.push({ id: 'authentication/unknown-spi', family: 'authentication', steps: [request('register with an SPI the target has no context for', { careOf: 0, lifetime: 'default', mobileHome: 'unknown-spi' })] });
  cases.push({ id: 'authentication/foreign-home-without-association', family: 'authentication', steps: [request('register with a Foreign-Home Authentication Extension (no FA association)', { careOf: 0, lifetime: 'default', after: ['foreign-home-auth'] })] });
  cases.push({ id: 'authentication/mobile-foreign-before-mobile-home', family: 'authentication', steps: [request('register with a Mobile-Foreign extension before the Mobile-Home one (3.2)', { careOf: 0, lifetime: 'default', before: ['mobile-foreign-auth'] })] });
  cases.push({ id: 'extension/unknown-non-skippable', family: 'extension', steps: [request('register with an unknown extension of type 100 after the authenticator (1.8)', { careOf: 0, lifetime: 'default', after: ['unknown-non-skippable'] }), deregisterAll()] });
  cases.push({ id: 'extension/unknown-skippable', family: 'extension', steps: [request('register with an unknown extension of type 200 before the authenticator (1.8)', { careOf: 0, lifetime: 'default', before: ['unknown-skippable'] }), deregisterAll()] });

  // 3.8.3.2: the Lifetime is copied unless above the target's maximum, then cut to it.
  cases.push({ id: 'lifetime/below-maximum', family: 'lifetime', steps: [register('register asking for less than the maximum', 0, { lifetime: 'under-max' }), deregisterAll()] });
  cases.push({ id: 'lifetime/above-maximum', family: 'lifetime', steps: [register('register asking for more than the maximum', 0, { lifetime: 'over-max' }), deregisterAll()] });
  cases.push({ id: 'lifetime/infinite', family: 'lifetime', steps: [register('register asking for 0xffff (infinite)', 0, { lifetime: 'infinite' }), deregisterAll()] });

  // 3.3, 3.8.2, 3.8.2.3: flags.
  cases.push({ id: 'flags/reserved-r', family: 'flags', steps: [register("register with the reserved 'r' bit set", 0, { flags: RequestFlag.r }), deregisterAll()] });
  cases.push({ id: 'flags/reserved-x', family: 'flags', steps: [register("register with the reserved 'x' bit set", 0, { flags: RequestFlag.x }), deregisterAll()] });
  cases.push({
    id: 'flags/broadcast-B',
    family: 'flags',
    steps: [request("register with 'B' (must be ignored, not refused, without broadcast support)", { careOf: 0, lifetime: 'default', flags: RequestFlag.B }, ['R3.8.2-3']), deregisterAll()],
  });
  cases.push({ id: 'flags/minimal-M', family: 'flags', steps: [register("register with 'M' (minimal encapsulation)", 0, { flags: RequestFlag.M }), deregisterAll()] });
  cases.push({ id: 'flags/gre-G', family: 'flags', steps: [register("register with 'G' (GRE)", 0, { flags: RequestFlag.G }), deregisterAll()] });
  cases.push({ id: 'flags/reverse-tunnel-T', family: 'flags', steps: [register("register with 'T' (reverse tunnel, RFC 3024)", 0, { flags: RequestFlag.T }), deregisterAll()] });
  cases.push({
    id: 'flags/simultaneous-S',
    family: 'flags',
    steps: [register('register care-of A'), register("add care-of B with 'S'", 1, { flags: RequestFlag.S }), request('deregister care-of B only', { careOf: 1, lifetime: 0 }), deregisterAll()],
  });

  // 3.8.3.2 and 3.8.2.1: the Home Agent field and broadcast destinations.
  cases.push({ id: 'home-agent-field/not-this-agent', family: 'home-agent-field', steps: [register('register naming another home agent in the Home Agent field', 0, { homeAgentField: 'other' })] });
  cases.push({
    id: 'home-agent-field/broadcast-destination',
    family: 'home-agent-field',
    steps: [register("register sent to the home network's broadcast address", 0, { destination: 'broadcast' })],
    requirement: 'R3.8.2.1-21',
    ...(target.broadcastAddress === undefined ? { notApplicable: 'the config gives no broadcastAddress the target listens on' } : {}),
  });
  return cases;
}

/**
 * Which node runs which case: binding paths and replay cases on every node (each replay style
 * meets them), the other families spread over the nodes in turn.
 */
export function assignCases(cases: readonly ConformanceCase[], nodes: readonly TargetNode[]): Map<TargetNode, ConformanceCase[]> {
  const plan = new Map<TargetNode, ConformanceCase[]>(nodes.map((n) => [n, []]));
  let turn = 0;
  for (const c of cases) {
    const fitting = nodes.filter((n) => c.replay === undefined || n.context.replay === c.replay);
    if (fitting.length === 0) continue;
    if (c.family === 'binding-path' || c.family === 'replay' || c.family === 'deregistration') for (const n of fitting) plan.get(n)!.push(c);
    else plan.get(fitting[turn++ % fitting.length]!)!.push(c);
  }
  return plan;
}

/** An extension to place, built for the encoder (auth ones are sealed by the runner). */
export function plannedExtension(kind: PlannedExtension): RegistrationExtension {
  switch (kind) {
    case 'unknown-non-skippable':
      return { kind: 'unknown', type: 100, skippable: false, format: 'tlv', offset: 0, data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) };
    case 'unknown-skippable':
      return { kind: 'unknown', type: 200, skippable: true, format: 'tlv', offset: 0, data: new Uint8Array([1, 2, 3, 4]) };
    case 'mobile-foreign-auth':
      return { kind: 'auth', type: ExtensionType.MobileForeignAuth, spi: 0x1000, offset: 0, authenticator: new Uint8Array(16) };
    case 'foreign-home-auth':
      return { kind: 'auth', type: ExtensionType.ForeignHomeAuth, spi: 0x1000, offset: 0, authenticator: new Uint8Array(16) };
  }
}
