/**
 * The model of the home agent under test, one per mobile node: what an RFC 5944 home agent
 * answers, computed by mip4's own policies and machines rather than written again. A Request
 * is judged by `checkHaRequest` (3.8.2.1 in order, replay 5.7, lifetime 3.8.3.2) against the
 * node's replay state and current bindings, and an accepted one drives binding machine actors
 * (machines/binding.ts, on a simulated clock) as the home agent does, so a duplicate, a move or
 * a deregistration changes what the next Request is predicted to get. The transitions those
 * actors take are the coverage the report gives.
 */
import { createActor, SimulatedClock, type Actor } from 'xstate';
import { getStateNodes } from 'xstate/graph';
import type { Ipv4Address } from '../../../io/wire/bytes.js';
import type { Identification, RegistrationRequest } from '../../../io/wire/registration-types.js';
import { bindingMachine, remainingLifetime, type BindingContext, type BindingInput } from '../../../machines/binding.js';
import { checkHaRequest, type HaMobileNode, type HaVerdict, type HomeAgentSettings } from '../../../policies/ha-request.js';
import { advanceReplayState, sameIdentification, type ReplayState } from '../../../policies/replay.js';
import type { MobilitySecurityContext, SecurityContextLookup } from '../../../policies/security-association.js';
import type { TargetNode } from './ha-target.js';

/** `binding.registered --register [isDuplicate]--> binding.registered`: one per transition of the machine. */
export type TransitionName = string;

interface TransitionLike {
  readonly source: { readonly id: string };
  readonly eventType: string;
  readonly guard?: unknown;
  readonly target?: ReadonlyArray<{ readonly id: string }> | undefined;
}

function transitionName(t: TransitionLike): TransitionName {
  const guard = typeof t.guard === 'object' && t.guard !== null && 'type' in t.guard ? `[${String((t.guard as { type: unknown }).type)}]` : typeof t.guard === 'string' ? `[${t.guard}]` : '';
  const event = t.eventType === '' ? 'always' : t.eventType.startsWith('xstate.after.') ? 'after lifetime' : t.eventType;
  const target = t.target === undefined || t.target.length === 0 ? '(stays)' : t.target.map((s) => s.id).join(',');
  return `${t.source.id} --${event}${guard}--> ${target}`;
}

/** Every transition of the binding machine, read from its definition (the coverage's total). */
export function bindingTransitions(): readonly TransitionName[] {
  const names: TransitionName[] = [];
  for (const node of getStateNodes(bindingMachine.root)) {
    for (const list of node.transitions.values()) for (const t of list) names.push(transitionName(t));
    for (const t of node.always ?? []) names.push(transitionName(t));
  }
  return names;
}

type BindingActor = Actor<typeof bindingMachine>;

const contextOf = (actor: BindingActor): BindingContext => actor.getSnapshot().context;
const isLive = (actor: BindingActor): boolean => actor.getSnapshot().status === 'active';

/** The prediction for one Request, as checkHaRequest and the binding gave it. */
export interface Prediction {
  readonly verdict: HaVerdict;
  /** For an accepted registration: the Lifetime the Reply grants (a duplicate: at most what is left, 3.8.2.2). */
  readonly lifetime?: { readonly exactly?: number; readonly atMost: number };
}

function lookup(context: MobilitySecurityContext): SecurityContextLookup {
  return { get: (spi) => (spi === context.spi ? context : undefined), first: () => context };
}

export class NodeModel {
  private replay: ReplayState = {};
  private readonly actors: BindingActor[] = [];
  /** Time as the model's binding timers see it (the target's are real; waits advance both). */
  private readonly clock = new SimulatedClock();
  private readonly epoch = Date.now();

  constructor(
    readonly node: TargetNode,
    private readonly settings: HomeAgentSettings,
    private readonly covered: Set<TransitionName>,
  ) {}

  get mobileNode(): HaMobileNode {
    return { homeAddress: this.node.homeAddress, contexts: lookup(this.node.context), maxLifetime: this.node.maxLifetime };
  }

  /** The nonce the target issued last, which the next fresh Request echoes (5.7.2). */
  get expectedNonce(): number | undefined {
    return this.replay.expectedNonce ?? this.replay.resyncNonce;
  }

  private now(): number {
    return this.epoch + this.clock.now();
  }

  /** Moves the model's time on, firing the binding timers that ran out (3.8.2.2: the entry is deleted). */
  advance(ms: number): void {
    this.clock.increment(ms);
    this.prune();
  }

  private prune(): void {
    for (let i = this.actors.length - 1; i >= 0; i--) if (!isLive(this.actors[i]!)) this.actors.splice(i, 1);
  }

  /** The care-of addresses with a binding now. */
  bindings(): readonly Ipv4Address[] {
    return this.actors.map((a) => contextOf(a).careOfAddress);
  }

  /**
   * What the target should answer. `mobileNode` undefined stands for a Request on behalf of a
   * node the target does not serve (its home address is the config's unservedHomeAddress).
   */
  predict(input: { request: RegistrationRequest; message: Uint8Array; ipSource: Ipv4Address; ipDestination: Ipv4Address; served?: boolean }): Prediction {
    const verdict = checkHaRequest({
      request: input.request,
      message: input.message,
      udpChecksumValid: true,
      ipSource: input.ipSource,
      ipDestination: input.ipDestination,
      homeAgent: this.settings,
      ...(input.served === false ? {} : { mobileNode: this.mobileNode }),
      replay: { ...this.replay, current: this.actors.map((a) => ({ careOfAddress: contextOf(a).careOfAddress, identification: contextOf(a).identification })) },
      nowUnixMs: Date.now(),
      nextNonce: 0,
    });
    if (verdict.kind !== 'accept' || verdict.operation !== 'register') return { verdict };
    const existing = this.actors.find((a) => contextOf(a).careOfAddress === verdict.careOfAddress);
    if (existing !== undefined && sameIdentification(contextOf(existing).identification, input.request.identification)) {
      // 3.8.2.2: a duplicate must not extend the lifetime originally granted.
      return { verdict, lifetime: { atMost: Math.min(contextOf(existing).lifetime, remainingLifetime(contextOf(existing), this.now()) + 1) } };
    }
    return { verdict, lifetime: { exactly: verdict.grantedLifetime, atMost: verdict.grantedLifetime } };
  }

  /**
   * Applies what the target did, as the model predicted it: the replay state advances (with
   * the nonce the Reply carried, which only the target knows) and the bindings change.
   */
  apply(prediction: Prediction, request: RegistrationRequest, replyIdentification: Identification | undefined): void {
    const verdict = prediction.verdict;
    if (verdict.kind === 'discard') return;
    const update = verdict.replayUpdate;
    if (update !== undefined) {
      // Under nonces the Reply carries the nonce the target chose (5.7.2), known only now.
      const nonce = replyIdentification?.high;
      if (update.kind === 'timestamp') this.replay = advanceReplayState(this.replay, update);
      else if (nonce !== undefined) this.replay = advanceReplayState(this.replay, update.kind === 'nonce' ? { kind: 'nonce', expectedNonce: nonce } : { kind: 'nonce-resync', resyncNonce: nonce });
    }
    if (verdict.kind !== 'accept') return;
    const at = this.now();
    if (verdict.operation === 'deregister-all') {
      for (const actor of [...this.actors]) actor.send({ type: 'deregister-all', at });
    } else if (verdict.operation === 'deregister-one') {
      this.actors.find((a) => contextOf(a).careOfAddress === verdict.careOfAddress)?.send({ type: 'deregister', at });
    } else {
      const registration = {
        careOfAddress: verdict.careOfAddress,
        lifetime: verdict.grantedLifetime,
        identification: request.identification,
        encapsulation: verdict.encapsulation,
        broadcast: verdict.broadcast,
        decapsulatedByMobileNode: verdict.decapsulatedByMobileNode,
        reverseTunnel: verdict.reverseTunnel,
        at,
      };
      // As the home agent: one actor per home address, one more per simultaneous care-of address;
      // a registration without 'S' replaces the others (3.8.2.2), a duplicate touches only its own.
      const existing = this.actors.find((a) => contextOf(a).careOfAddress === verdict.careOfAddress);
      const target = existing ?? (verdict.simultaneous ? undefined : this.actors[0]);
      const duplicate = existing !== undefined && sameIdentification(contextOf(existing).identification, request.identification);
      if (!verdict.simultaneous && !duplicate) for (const other of [...this.actors]) if (other !== target) other.send({ type: 'replaced', at });
      if (target !== undefined) target.send({ type: 'register', ...registration });
      else this.spawn({ homeAddress: this.node.homeAddress, ...registration });
    }
    this.prune();
  }

  private spawn(input: BindingInput): void {
    const actor = createActor(bindingMachine, {
      input,
      clock: this.clock,
      inspect: (event) => {
        if (event.type === '@xstate.microstep') for (const t of (event as unknown as { _transitions: TransitionLike[] })._transitions) this.covered.add(transitionName(t));
      },
    });
    actor.start();
    this.actors.push(actor);
  }

  stop(): void {
    for (const actor of this.actors) actor.stop();
    this.actors.length = 0;
  }
}
