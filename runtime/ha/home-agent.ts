/**
 * The home agent (RFC 5944 3.8, 4.2.3, 4.6) as an actor system.
 *
 * Per datagram, a plain synchronous path (no Effect, no allocation beyond the messages):
 * decode (io/wire) → find the mobile node → `checkHaRequest` (policies, the validity checks
 * of 3.8.2.1 in the RFC's order) → admission (130/135) → events to the node's binding actors
 * (machines/binding.ts, hosted by ActorHost: one actor per home address, one more per
 * care-of address where simultaneous bindings are granted) → Reply built as 3.8.3 says,
 * authenticated, and sent back through the socket it came in on.
 *
 * Binding actors publish into the forwarding table (the data plane reads only that) and the
 * agent turns a node's first binding and its last one into ARP commands (4.6).
 * Everything observable is an RxJS stream: transitions, log events, ARP commands, and the
 * forwarding table's changes. Time comes from the injected Clock, randomness (nonces, trace
 * ids) from an injected source, so a run on the simulated clock replays exactly.
 */
import { Subject } from 'rxjs';
import { ipv4ToString, type Ipv4Address, hexPrefix } from '../../io/wire/bytes.js';
import { identificationToHex } from '../../io/wire/identification.js';
import { decodeRegistrationRequest, registrationMessageLength } from '../../io/wire/registration.js';
import {
  ExtensionType,
  REGISTRATION_REQUEST,
  type AuthExtensionType,
  type Identification,
  type RegistrationExtension,
  type RegistrationReply,
  type RegistrationRequest,
} from '../../io/wire/registration-types.js';
import { ReplyCode, replyCodeText } from '../../io/wire/reply-codes.js';
import { bindingMachine, INFINITE_LIFETIME, remainingLifetime, type BindingCommand, type BindingContext, type BindingEvent, type BindingInput, type BindingMachine } from '../../machines/binding.js';
import { admitBinding } from '../../policies/admission.js';
import { arpForBindingCount, arpForReturnHome, type ArpCommand } from '../../policies/home-arp.js';
import { AUTHENTICATOR_LENGTH } from '../../policies/auth.js';
import { TokenBucket } from '../../policies/rate-limit.js';
import {
  checkHaRequest,
  homeAgentUnicastAddress,
  requestNai,
  type DiscardReason,
  type HaMobileNode,
  type HaVerdict,
  type HomeAgentSettings,
  type ReverseTunnelPolicy,
} from '../../policies/ha-request.js';
import {
  MobilitySecurityAssociation,
  type MobilitySecurityContext,
  type SecurityContextLookup,
} from '../../policies/security-association.js';
import { advanceReplayState, sameIdentification, type ReplayState } from '../../policies/replay.js';
import { ActorHost, stateValueToString, type HostedActor, type TransitionRecord } from '../actors/actor-host.js';
import { inspectHost, type InspectedActorRow, type InspectedHost } from '../actors/inspection.js';
import type { Clock } from '../../io/clock.js';
import { ForwardingTable } from '../dataplane/forwarding-table.js';
import type { UdpTunnelMessage } from '../dataplane/ha-plane.js';
import { addedByForeignAgent, decideUdpTunnel, type UdpTunnelPolicy } from '../../policies/ha-udp-tunnel.js';
import { DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS, UdpTunnelReplyCode, udpTunnelReply } from '../../io/wire/udp-tunnel.js';
import { UdpTunnels, encapsulationOfNextHeader, type MovedBinding, type UdpTunnelState } from './udp-tunnels.js';
import { encodeSigned } from '../../policies/sign.js';
import { diffMobileNodes, foreignAgentsDiffer, type MobileNodeDiff } from './config-diff.js';
import type { StoredBinding, StoredState, StoreWrite } from '../store/binding-store.js';

export interface MobileNodeConfig {
  readonly homeAddress: Ipv4Address;
  readonly nai?: string;
  /** Security contexts of the node's Mobility Security Association (SPI > 255 each). */
  readonly contexts: readonly MobilitySecurityContext[];
  /** Longest lifetime granted, seconds; 0xffff allows infinite bindings. */
  readonly maxLifetime: number;
  /** Most simultaneous bindings for this node (3.8.2.3, code 135). */
  readonly maxBindings: number;
  /** 'T' for this node (RFC 3024); absent: settings.reverseTunnel. */
  readonly reverseTunnel?: ReverseTunnelPolicy;
  /** UDP tunnelling for this node (RFC 3519); absent: settings.udpTunnel. */
  readonly udpTunnel?: UdpTunnelPolicy;
}

export interface ForeignAgentConfig {
  readonly address: Ipv4Address;
  readonly contexts: readonly MobilitySecurityContext[];
}

/** Sends `count` UDP payloads to `addresses[i]:ports[i]` from `source` and the registration port, as one batch. */
export type UdpTunnelSink = (payloads: readonly Uint8Array[], addresses: readonly Ipv4Address[], ports: readonly number[], count: number, source: Ipv4Address) => void;

export interface HomeAgentConfig {
  readonly settings: HomeAgentSettings;
  readonly mobileNodes: readonly MobileNodeConfig[];
  readonly foreignAgents: readonly ForeignAgentConfig[];
  /** Most bindings in total (code 130 beyond it). */
  readonly maxBindings: number;
  /**
   * Most replies per second (and burst) to requests that fail authentication (131). Forged
   * requests with spoofed sources must not turn the agent into a reflector; past this they are
   * discarded and counted as 'rate-limited'. Default 100.
   */
  readonly authFailureRepliesPerSecond?: number;
  /**
   * Most replies per second (and burst), per mobile node, to Requests anyone could resend from a
   * capture: duplicates of a current registration (3.8.2.2) and 133s. Counted separately for
   * replies to where the node is (a bound care-of address, the relaying foreign agent, its home
   * address) and to anywhere else, so replays with spoofed sources cannot starve the node's own.
   * Past it they are discarded and counted as 'replayable-rate-limited'. Default 2.
   */
  readonly replayableRepliesPerNodePerSecond?: number;
  /**
   * Datagrams longer than this are discarded before decoding or any HMAC, counted as
   * 'message-too-large'. 46 to 65535; default 1500. A Registration Request needs 46 (24 bytes
   * and a Mobile-Home Authentication Extension, 3.3, 3.5.2) plus its NAI and other extensions.
   */
  readonly maxMessageBytes?: number;
}

/** The smallest authenticated Registration Request: 24 fixed bytes and a 22-byte MHAE (3.3, 3.5.2). */
export const MIN_MESSAGE_BYTES = 46;
export const DEFAULT_MAX_MESSAGE_BYTES = 1500;
export const DEFAULT_REPLAYABLE_REPLIES_PER_NODE_PER_SECOND = 2;

/** Why `maxMessageBytes` cannot be used, or undefined when it can (shared with the config file's check). */
export function maxMessageBytesProblem(value: number): string | undefined {
  return Number.isInteger(value) && value >= MIN_MESSAGE_BYTES && value <= 0xffff
    ? undefined
    : `expected an integer from ${MIN_MESSAGE_BYTES} (the smallest authenticated Registration Request: 24 bytes and a 22-byte Mobile-Home Authentication Extension, RFC 5944 3.3, 3.5.2) to 65535, e.g. ${DEFAULT_MAX_MESSAGE_BYTES}; got ${value}`;
}

/** A structured log event: one JSON line each in `mip4 ha`. */
export type HomeAgentEvent =
  | {
      readonly event: 'reply';
      readonly trace: string;
      readonly at: number;
      readonly code: number;
      readonly text: string;
      readonly homeAddress: string;
      readonly careOfAddress: string;
      readonly lifetime: number;
      readonly to: string;
      readonly operation?: string;
      readonly detail?: string;
      readonly securityException?: boolean;
    }
  | {
      readonly event: 'discard';
      readonly trace: string;
      readonly at: number;
      readonly reason:
        | DiscardReason
        | 'malformed'
        | 'not-a-request'
        | 'message-too-large'
        | 'rate-limited'
        | 'replayable-rate-limited'
        | 'reply-larger-than-request'
        | 'internal-error';
      readonly detail: string;
      readonly from: string;
      readonly securityException: boolean;
      /** The discarded datagram (3.8.2.1 / 1.7 ask for its contents in the log), hex, capped. */
      readonly datagram: string;
    }
  | { readonly event: 'binding-error'; readonly at: number; readonly actor: string; readonly detail: string }
  /** A binding whose lifetime ran out (3.8.2.2: deleted, no Reply sent). */
  | { readonly event: 'binding-expired'; readonly at: number; readonly homeAddress: string; readonly careOfAddress: string; readonly lifetime: number }
  /** A binding deregistered by the agent itself: its node left the configuration (reconfigure). */
  | { readonly event: 'binding-removed'; readonly at: number; readonly homeAddress: string; readonly careOfAddress: string; readonly reason: 'node-removed' }
  /** A binding's UDP tunnel followed its NAT to a new port (RFC 3519 rebinding). */
  | { readonly event: 'udp-rebinding'; readonly at: number; readonly homeAddress: string; readonly careOfAddress: string; readonly from: string; readonly to: string }
  | { readonly event: 'binding-cleared'; readonly at: number; readonly by: 'operator'; readonly homeAddress: string; readonly careOfAddresses: readonly string[] };

/** What the home link must do (4.6); decided by policies/home-arp.ts, executed by the link layer (simulated or Linux). */
export type { ArpCommand } from '../../policies/home-arp.js';

/** A datagram as the agent needs it: payload, sender, and the address it was sent to. */
export interface ReceivedRequest {
  readonly data: Uint8Array;
  readonly source: Ipv4Address;
  readonly sourcePort: number;
  readonly destination: Ipv4Address;
  readonly destinationPort: number;
  /** False only when a non-zero UDP checksum failed (the kernel already drops those). */
  readonly udpChecksumValid?: boolean;
}

/** Sends a reply: from `source` (an address of this agent) to `destination:port`. */
export type ReplySender = (data: Uint8Array, destination: Ipv4Address, port: number, source: Ipv4Address) => void;

export interface HomeAgentCounters {
  requests: number;
  accepted: number;
  denied: number;
  discarded: number;
  expired: number;
  /** Accepted deregistrations (lifetime 0), also counted in `accepted`. */
  deregistrations: number;
  /** Accepted by code: 0, or 1 when simultaneous bindings are not granted (3.8.2.2). */
  readonly acceptedByCode: Record<number, number>;
  readonly deniedByCode: Record<number, number>;
  readonly discardedByReason: Record<string, number>;
}

export interface BindingView {
  readonly homeAddress: string;
  readonly careOfAddress: string;
  readonly lifetime: number;
  readonly remaining: number;
  readonly encapsulation: string;
  readonly flags: string;
  readonly identification: string;
  readonly relayedBy?: string;
  /** The translated address:port of a binding tunnelled in UDP (RFC 3519); 'U' in flags. */
  readonly udpTunnel?: string;
}

interface NodeRecord extends ReplayState {
  /** Replaced in place when a reload changes the node's entry (its actors keep this record). */
  mobileNode: HaMobileNode;
  maxBindings: number;
  /** The replay state (5.7); changed only through advanceReplayState. */
  lastAcceptedTimestamp: Identification | undefined;
  expectedNonce: number | undefined;
  resyncNonce: number | undefined;
  /** Live binding actors of this node; usually one. */
  bindings: Array<Binding>;
  /** Limits of replayable replies (HomeAgentConfig.replayableRepliesPerNodePerSecond), made on first use. */
  replayableReplies: { readonly toNode: TokenBucket; readonly elsewhere: TokenBucket } | undefined;
}

type Binding = HostedActor<BindingMachine, NodeRecord>;

const ZERO_IDENTIFICATION: Identification = { high: 0, low: 0 };
const DEFAULT_AUTH_FAILURE_REPLIES_PER_SECOND = 100;
function contextOf(actor: Binding): BindingContext {
  return actor.snapshot.context;
}

/**
 * The node's accepted current registrations for the duplicate check (3.8.2.2), in one array
 * reused for every request: checkHaRequest reads it and keeps nothing of it.
 */
const currentScratch: BindingContext[] = [];
function currentRegistrations(node: NodeRecord): readonly BindingContext[] {
  currentScratch.length = 0;
  for (const binding of node.bindings) currentScratch.push(contextOf(binding));
  return currentScratch;
}

/**
 * An authentication extension to seal in a Reply. Encoding only reads the authenticator
 * (sealing writes into the encoded bytes), so every placeholder shares one zero block.
 */
const ZERO_AUTHENTICATOR = new Uint8Array(AUTHENTICATOR_LENGTH);
function replyPlaceholder(type: AuthExtensionType, spi: number): RegistrationExtension {
  return { kind: 'auth', type, spi, offset: 0, authenticator: ZERO_AUTHENTICATOR };
}

/** The node as the request checks see it. */
function mobileNodeOf(node: MobileNodeConfig): HaMobileNode {
  return {
    homeAddress: node.homeAddress,
    nai: node.nai,
    contexts: associationOf(node.contexts, node.homeAddress),
    maxLifetime: node.maxLifetime,
    ...(node.reverseTunnel !== undefined ? { reverseTunnel: node.reverseTunnel } : {}),
    ...(node.udpTunnel !== undefined ? { udpTunnel: node.udpTunnel } : {}),
  };
}

/** The lookup of an association's contexts, or one that finds nothing. */
function associationOf(contexts: readonly MobilitySecurityContext[], peer: Ipv4Address): SecurityContextLookup {
  const association = new MobilitySecurityAssociation(peer);
  for (const context of contexts) association.add(context);
  return association;
}

export interface HomeAgentOptions {
  readonly clock: Clock;
  /** A uniform random 32-bit source (nonces). Seeded in tests and simulations. */
  readonly random32: () => number;
  /**
   * Put before every trace id, so that the ids of one run differ from another's (the counter
   * restarts at 1); the daemon passes one made from its start time. Default none.
   */
  readonly tracePrefix?: string;
  /**
   * Hears every change a restart must find again (a binding published or withdrawn, a
   * node's replay state advanced), before the Reply that announces it is sent; the server
   * commits them (runtime/store/group-commit.ts). The agent itself does no IO.
   */
  readonly onStoreWrite?: (write: StoreWrite) => void;
}

/** What `restore` did with a store's rows (logged as `store-restored`). */
export interface RestoreOutcome {
  readonly bindings: number;
  readonly expiredDropped: number;
  /** Rows of home addresses no longer in the config. */
  readonly unknownNodeDropped: number;
  readonly unknownHomeAddresses: readonly string[];
  readonly replayStates: number;
}

/** The fields of a Reply that come from the verdict (3.3). */
interface ReplyFields {
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly identification: Identification;
  readonly context: MobilitySecurityContext;
}

/** What the log line of a Reply adds to its fields. */
interface ReplyNote {
  readonly operation?: string;
  readonly detail?: string;
  readonly securityException?: boolean;
  /** A UDP Tunnel Reply Extension (RFC 3519) and its side of the Mobile-Home Authentication Extension. */
  readonly udpTunnelReply?: { readonly extension: RegistrationExtension; readonly beforeMobileHomeAuth: boolean };
}

/** A binding's 'register' event that can also be a new binding's input. */
type RegisterEvent = Extract<BindingEvent, { type: 'register' }> & BindingInput;

const REGISTER_NOTE: ReplyNote = { operation: 'register' };
const DEREGISTER_ONE_NOTE: ReplyNote = { operation: 'deregister-one' };
const DEREGISTER_ALL_NOTE: ReplyNote = { operation: 'deregister-all' };

export class HomeAgent {
  readonly forwardingTable = new ForwardingTable();
  /** UDP tunnels of bindings behind NATs (RFC 3519) and their counters. */
  readonly udpTunnels = new UdpTunnels();
  /**
   * Where tunnel data messages (RFC 3519, type 4) that arrive on the registration sockets go:
   * set by the data path while it runs. Unset, they reach handleRequest and are discarded as
   * not a Request (counted).
   */
  udpTunnelData: ((message: UdpTunnelMessage) => void) | undefined = undefined;
  /**
   * RFC 3519: sends a plane batch of tunnel data messages (UDP payloads, tunnel data header
   * first) from the registration port to the NATs, in one batched send; installed by
   * serveHomeAgent on sockets that batch (the native layer), read by the data path per batch.
   * Absent: the data path sends whole IP/UDP packets through its raw socket.
   */
  udpTunnelSink: UdpTunnelSink | undefined = undefined;
  readonly counters: HomeAgentCounters = {
    requests: 0,
    accepted: 0,
    denied: 0,
    discarded: 0,
    expired: 0,
    deregistrations: 0,
    acceptedByCode: {},
    deniedByCode: {},
    discardedByReason: {},
  };

  private readonly transitionSubject = new Subject<TransitionRecord>();
  private readonly eventSubject = new Subject<HomeAgentEvent>();
  private readonly arpSubject = new Subject<ArpCommand>();
  /** Every state change of every binding actor: `{actor, from, to, reason}`. */
  readonly transitions = this.transitionSubject.asObservable();
  /** Structured log events (replies, discards). */
  readonly events = this.eventSubject.asObservable();
  /** Proxy and gratuitous ARP work for the home link (4.6). */
  readonly arpCommands = this.arpSubject.asObservable();

  private readonly host: ActorHost<BindingMachine, NodeRecord, BindingCommand>;
  private readonly nodesByAddress = new Map<number, NodeRecord>();
  private readonly nodesByNai = new Map<string, NodeRecord>();
  private readonly foreignAgents = new Map<number, SecurityContextLookup>();
  private totalBindings = 0;
  /** The lifetime the binding granted in the step just taken (its publishBinding/keepBinding command), 0 if none. */
  private grantedLifetime = 0;
  private traceCounter = 0;
  private readonly tracePrefix: string;
  private readonly authFailureReplies: TokenBucket;
  private readonly maxMessageBytes: number;
  private readonly replayableRepliesPerSecond: number;
  /** Set while restoring: the rows being restored are already stored. */
  private restoring = false;

  constructor(
    private config: HomeAgentConfig,
    private readonly options: HomeAgentOptions,
  ) {
    this.tracePrefix = options.tracePrefix ?? '';
    this.maxMessageBytes = config.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const sizeProblem = maxMessageBytesProblem(this.maxMessageBytes);
    if (sizeProblem !== undefined) throw new RangeError(`maxMessageBytes: ${sizeProblem}`);
    this.replayableRepliesPerSecond = config.replayableRepliesPerNodePerSecond ?? DEFAULT_REPLAYABLE_REPLIES_PER_NODE_PER_SECOND;
    // Checked here, not when the first bucket is made: a bad value must stop the start, not a request.
    if (!(this.replayableRepliesPerSecond >= 1)) {
      throw new RangeError(`replayableRepliesPerNodePerSecond: expected a number >= 1, e.g. ${DEFAULT_REPLAYABLE_REPLIES_PER_NODE_PER_SECOND}; got ${this.replayableRepliesPerSecond}`);
    }
    for (const node of config.mobileNodes) this.addNode(node);
    for (const fa of config.foreignAgents) this.foreignAgents.set(fa.address | 0, associationOf(fa.contexts, fa.address));
    this.authFailureReplies = new TokenBucket(config.authFailureRepliesPerSecond ?? DEFAULT_AUTH_FAILURE_REPLIES_PER_SECOND);
    this.host = new ActorHost<BindingMachine, NodeRecord, BindingCommand>(bindingMachine, {
      clock: options.clock,
      onCommands: (actor, commands) => this.onBindingCommands(actor, commands),
      onTransition: (record) => {
        if (record.reason === 'lifetime-expired') this.counters.expired++;
        if (this.transitionSubject.observed) this.transitionSubject.next(record);
      },
      onStopped: (actor) => this.onBindingStopped(actor),
      onError: (actor, error) => this.emit({ event: 'binding-error', at: this.options.clock.now(), actor: actor.id, detail: String(error) }),
    });
  }

  /**
   * Takes the mobile nodes, foreign agents and maxBindings of `next` (a reload); the rest of
   * `next` (addresses, encapsulations, other limits) needs a restart and is ignored. Added
   * nodes can register at once; removed nodes are deregistered (routes and ARP undone, each
   * binding logged as binding-removed); a changed node keeps its bindings and replay state and
   * its new keys check the next Request; unchanged nodes are not touched.
   */
  reconfigure(next: HomeAgentConfig): MobileNodeDiff {
    const diff = diffMobileNodes(this.config.mobileNodes, next.mobileNodes);
    const now = this.options.clock.now();
    for (const node of diff.removed) {
      const record = this.nodesByAddress.get(node.homeAddress | 0);
      if (record === undefined) continue;
      for (const actor of [...record.bindings]) {
        const c = contextOf(actor);
        this.emit({ event: 'binding-removed', at: now, homeAddress: ipv4ToString(c.homeAddress), careOfAddress: ipv4ToString(c.careOfAddress), reason: 'node-removed' });
        this.host.send(actor, { type: 'deregister', at: now });
      }
      this.nodesByAddress.delete(node.homeAddress | 0);
      if (record.mobileNode.nai !== undefined && this.nodesByNai.get(record.mobileNode.nai) === record) this.nodesByNai.delete(record.mobileNode.nai);
    }
    for (const node of diff.changed) {
      const record = this.nodesByAddress.get(node.homeAddress | 0)!;
      if (record.mobileNode.nai !== undefined && this.nodesByNai.get(record.mobileNode.nai) === record) this.nodesByNai.delete(record.mobileNode.nai);
      record.mobileNode = mobileNodeOf(node);
      record.maxBindings = node.maxBindings;
      if (node.nai !== undefined) this.nodesByNai.set(node.nai, record);
    }
    for (const node of diff.added) this.addNode(node);
    if (foreignAgentsDiffer(this.config.foreignAgents, next.foreignAgents)) {
      this.foreignAgents.clear();
      for (const fa of next.foreignAgents) this.foreignAgents.set(fa.address | 0, associationOf(fa.contexts, fa.address));
    }
    this.config = { ...this.config, mobileNodes: next.mobileNodes, foreignAgents: next.foreignAgents, maxBindings: next.maxBindings };
    return diff;
  }

  private addNode(node: MobileNodeConfig): void {
    const record: NodeRecord = {
      mobileNode: mobileNodeOf(node),
      maxBindings: node.maxBindings,
      lastAcceptedTimestamp: undefined,
      expectedNonce: undefined,
      resyncNonce: undefined,
      bindings: [],
      replayableReplies: undefined,
    };
    this.nodesByAddress.set(node.homeAddress | 0, record);
    if (node.nai !== undefined) this.nodesByNai.set(node.nai, record);
  }

  /** Number of mobility bindings held. */
  get bindingCount(): number {
    return this.totalBindings;
  }

  /** The bindings now, for `show mobile-ip bindings`-style output. */
  bindings(): BindingView[] {
    return [...this.eachBinding()];
  }

  /**
   * The bindings one at a time (the control socket streams them), or only those of
   * `homeAddress`, found directly rather than by a scan.
   */
  *eachBinding(homeAddress?: Ipv4Address): Generator<BindingView> {
    const now = this.options.clock.now();
    const only = homeAddress === undefined ? undefined : this.nodesByAddress.get(homeAddress | 0);
    const nodes = homeAddress === undefined ? this.nodesByAddress.values() : only === undefined ? [] : [only];
    for (const node of nodes) {
      for (const actor of node.bindings) {
        const c = contextOf(actor);
        const udp = this.udpTunnels.get(c.homeAddress, c.careOfAddress);
        yield {
          homeAddress: ipv4ToString(c.homeAddress),
          careOfAddress: ipv4ToString(c.careOfAddress),
          lifetime: c.lifetime,
          remaining: remainingLifetime(c, now),
          encapsulation: c.encapsulation,
          flags: `${c.broadcast ? 'B' : ''}${c.decapsulatedByMobileNode ? 'D' : ''}${c.reverseTunnel ? 'T' : ''}${udp !== undefined ? 'U' : ''}`,
          identification: identificationToHex(c.identification),
          ...(c.relayedBy !== undefined ? { relayedBy: ipv4ToString(c.relayedBy) } : {}),
          ...(udp !== undefined ? { udpTunnel: `${ipv4ToString(udp.address)}:${udp.port}` } : {}),
        };
      }
    }
  }

  /** The binding actors as the live inspector shows them (runtime/inspector/); no key ever. */
  inspected(): InspectedHost {
    const nodes = this.nodesByAddress;
    function* actors(): Generator<Binding> {
      for (const node of nodes.values()) yield* node.bindings;
    }
    return inspectHost('ha', 'binding', this.host, actors, (actor) => this.bindingRow(actor));
  }

  private bindingRow(actor: Binding): InspectedActorRow {
    const c = contextOf(actor);
    return {
      id: actor.id,
      state: stateValueToString(actor.snapshot.value),
      fields: {
        homeAddress: ipv4ToString(c.homeAddress),
        careOfAddress: ipv4ToString(c.careOfAddress),
        lifetimeLeft: String(remainingLifetime(c, this.options.clock.now())),
        identification: identificationToHex(c.identification),
        ...(c.relayedBy !== undefined ? { relayedBy: ipv4ToString(c.relayedBy) } : {}),
      },
    };
  }

  /**
   * An administrative deregistration (`mip4 clear binding`): every binding of the node at
   * `homeAddress` ends as at expiry, through its actor, so its tunnel, route and proxy ARP go
   * with it. Returns the care-of addresses cleared; none when the address is no node's or has
   * no binding. The node's replay state stays: its next Request is judged as before.
   */
  clearBinding(homeAddress: Ipv4Address): string[] {
    const node = this.nodesByAddress.get(homeAddress | 0);
    if (node === undefined || node.bindings.length === 0) return [];
    const now = this.options.clock.now();
    const careOfAddresses = node.bindings.map((actor) => ipv4ToString(contextOf(actor).careOfAddress));
    for (const actor of [...node.bindings]) this.host.send(actor, { type: 'deregister-all', at: now });
    this.emit({ event: 'binding-cleared', at: now, by: 'operator', homeAddress: ipv4ToString(homeAddress), careOfAddresses });
    return careOfAddresses;
  }

  /**
   * Handles one datagram received on UDP port 434 (or the configured port). Never throws on
   * what arrives: every outcome is a reply or a counted, logged discard.
   */
  handleRequest(received: ReceivedRequest, send: ReplySender): void {
    this.counters.requests++;
    // The trace id's text is made only when an event is emitted (nobody may be listening).
    const trace = ++this.traceCounter;
    try {
      this.process(trace, received, send);
    } catch (error) {
      // A defect of this agent, not of the datagram: keep serving, keep every binding, and
      // make the failure visible (counted and logged with the datagram that triggered it).
      this.discard(trace, received, 'internal-error', `${(error as Error).stack ?? String(error)}`, false);
    }
  }

  private process(trace: number, received: ReceivedRequest, send: ReplySender): void {
    const data = received.data;
    if (data.length > this.maxMessageBytes) {
      // Before decoding and any HMAC: a 64 KiB Request of two-byte extensions costs
      // milliseconds to walk and authenticate, a thousand times a normal one.
      this.discard(trace, received, 'message-too-large', `${data.length} bytes exceed maxMessageBytes ${this.maxMessageBytes}`, false);
      return;
    }
    if (data[0] !== REGISTRATION_REQUEST) {
      // A home agent only answers Registration Requests (3.8).
      this.discard(trace, received, 'not-a-request', `message type ${data[0] ?? '(empty)'} is not a Registration Request`, false);
      return;
    }
    const decoded = decodeRegistrationRequest(data, 0, data.length);
    if (!decoded.ok) {
      // Too malformed to authenticate: nothing trustworthy to answer with 134, so it is
      // discarded and counted (3.8.2.1 authenticates before anything else).
      const { reason, offset, message } = decoded.error;
      this.discard(trace, received, 'malformed', `${reason} at offset ${offset}: ${message}`, false);
      return;
    }
    const request = decoded.value;
    const node = this.findNode(request);
    const verdict = checkHaRequest({
      request,
      message: data,
      udpChecksumValid: received.udpChecksumValid ?? true,
      ipSource: received.source,
      ipDestination: received.destination,
      homeAgent: this.config.settings,
      mobileNode: node?.mobileNode,
      foreignAgent: this.foreignAgentOf(received, request),
      replay: {
        lastAcceptedTimestamp: node?.lastAcceptedTimestamp,
        expectedNonce: node?.expectedNonce,
        resyncNonce: node?.resyncNonce,
        current: node === undefined ? undefined : currentRegistrations(node),
      },
      nowUnixMs: this.options.clock.now(),
      nextNonce: this.options.random32() >>> 0,
    });
    switch (verdict.kind) {
      case 'discard':
        this.discard(trace, received, verdict.reason, verdict.detail, verdict.securityException);
        return;
      case 'deny':
        if (verdict.code === ReplyCode.HaMobileNodeFailedAuthentication && !this.authFailureReplies.take(this.options.clock.now())) {
          this.discard(trace, received, 'rate-limited', `131 replies exceed their rate limit: ${verdict.detail}`, true);
          return;
        }
        if (verdict.replayable && node !== undefined && !this.mayAnswerReplayable(trace, received, request, node, verdict.replyContext, verdict.detail)) return;
        this.applyReplayUpdate(node, verdict);
        this.reply(
          trace,
          received,
          request,
          send,
          { homeAddress: verdict.homeAddressField, homeAgent: verdict.homeAgentField, identification: verdict.replyIdentification, context: verdict.replyContext },
          verdict.code,
          request.lifetime,
          { detail: verdict.detail, securityException: verdict.securityException },
        );
        return;
      case 'accept':
        if (verdict.replayable && !this.mayAnswerReplayable(trace, received, request, node!, verdict.replyContext, 'duplicate of a current registration (RFC 5944 3.8.2.2)')) return;
        this.accept(trace, received, request, node!, verdict, send);
        return;
    }
  }

  /**
   * Brings back what a store kept (call before the first Request): each unexpired binding
   * of a configured node through the path a registration takes (actor, forwarding table,
   * ARP for the node's first binding, 4.6) with the lifetime it has left, and each node's
   * replay state (5.7), so an old Request replayed after the restart is still refused.
   * Returns the deletes for the rows it dropped (expired, or of nodes no longer configured).
   */
  restore(state: StoredState): { readonly outcome: RestoreOutcome; readonly deletes: readonly StoreWrite[] } {
    const now = this.options.clock.now();
    let replayStates = 0;
    for (const replay of state.replay) {
      const node = this.nodesByAddress.get(replay.homeAddress | 0);
      if (node === undefined) continue;
      node.lastAcceptedTimestamp = replay.lastAcceptedTimestamp;
      node.expectedNonce = replay.expectedNonce;
      node.resyncNonce = replay.resyncNonce;
      replayStates++;
    }
    const deletes: StoreWrite[] = [];
    const unknown = new Set<string>();
    let restored = 0;
    let expiredDropped = 0;
    let unknownNodeDropped = 0;
    this.restoring = true;
    try {
      for (const stored of state.bindings) {
        const node = this.nodesByAddress.get(stored.homeAddress | 0);
        const drop = { op: 'delete-binding', homeAddress: stored.homeAddress, careOfAddress: stored.careOfAddress } as const;
        if (node === undefined) {
          unknownNodeDropped++;
          unknown.add(ipv4ToString(stored.homeAddress));
          deletes.push(drop);
          continue;
        }
        // Whole seconds left, rounded up: the node was granted until expiresAt, and a binding
        // that outlives it by under a second costs nothing, one gone early black-holes it.
        const left = stored.expiresAt === Infinity ? INFINITE_LIFETIME : Math.ceil((stored.expiresAt - now) / 1000);
        if (left <= 0 || node.bindings.some((b) => contextOf(b).careOfAddress === stored.careOfAddress)) {
          expiredDropped++;
          deletes.push(drop);
          continue;
        }
        const registration: RegisterEvent = {
          type: 'register',
          homeAddress: node.mobileNode.homeAddress,
          careOfAddress: stored.careOfAddress,
          lifetime: Math.min(left, INFINITE_LIFETIME),
          identification: stored.identification,
          encapsulation: stored.encapsulation,
          broadcast: stored.broadcast,
          decapsulatedByMobileNode: stored.decapsulatedByMobileNode,
          reverseTunnel: stored.reverseTunnel,
          relayedBy: stored.relayedBy,
          at: now,
        };
        // RFC 3519: the UDP tunnel first, so that the restored binding publishes its tunnel in UDP
        // to the NAT again rather than IP in IP to a care-of address the NAT hides.
        if (stored.udpTunnel !== undefined) this.udpTunnels.set(node.mobileNode.homeAddress, stored.careOfAddress, { ...stored.udpTunnel });
        // A node's second stored binding was a simultaneous one (3.8.2.2): it gets its own actor.
        const target = this.register(node, registration, node.bindings.length > 0, undefined);
        if (target.stopped) this.udpTunnels.delete(node.mobileNode.homeAddress, stored.careOfAddress);
        restored++;
      }
    } finally {
      this.restoring = false;
    }
    return {
      outcome: { bindings: restored, expiredDropped, unknownNodeDropped, unknownHomeAddresses: [...unknown], replayStates },
      deletes,
    };
  }

  /** Stops every timer; bindings stay readable. */
  close(): void {
    this.host.close();
    this.transitionSubject.complete();
    this.eventSubject.complete();
    this.arpSubject.complete();
    this.forwardingTable.complete();
  }

  /**
   * The foreign agent association the Request is judged under (RFC 5944 3.8.2.1 c, d) and
   * its Reply sealed with (3.8.3.3): the IP source's. A foreign agent behind a NAT (RFC 3519,
   * foreign agent considerations) arrives from the NAT's address; its Request then carries the
   * UDP Tunnel Request extension after the MHAE, where only the foreign agent puts one, and
   * its Care-of Address is the foreign agent's own (3.7.1): that agent's association is used.
   * Safe because the Foreign-Home authenticator covers the Care-of Address (3.5.4, 3.5.1):
   * a Request naming an agent's address without its key fails 3.8.2.1 c (132).
   */
  private foreignAgentOf(received: ReceivedRequest, request: RegistrationRequest): SecurityContextLookup | undefined {
    const bySource = this.foreignAgents.get(received.source | 0);
    if (bySource !== undefined || received.source === request.careOfAddress) return bySource;
    const byCareOf = this.foreignAgents.get(request.careOfAddress | 0);
    return byCareOf !== undefined && addedByForeignAgent(request) ? byCareOf : undefined;
  }

  private findNode(request: RegistrationRequest): NodeRecord | undefined {
    if (request.homeAddress !== 0) return this.nodesByAddress.get(request.homeAddress | 0);
    const nai = requestNai(request);
    return nai === undefined ? undefined : this.nodesByNai.get(nai);
  }

  private applyReplayUpdate(node: NodeRecord | undefined, verdict: Extract<HaVerdict, { kind: 'deny' | 'accept' }>): void {
    const update = verdict.replayUpdate;
    if (!node || !update) return;
    const next = advanceReplayState(node, update);
    if (next === node) return;
    node.lastAcceptedTimestamp = next.lastAcceptedTimestamp;
    node.expectedNonce = next.expectedNonce;
    node.resyncNonce = next.resyncNonce;
    this.options.onStoreWrite?.({
      op: 'put-replay',
      replay: {
        homeAddress: node.mobileNode.homeAddress,
        ...(next.lastAcceptedTimestamp !== undefined ? { lastAcceptedTimestamp: next.lastAcceptedTimestamp } : {}),
        ...(next.expectedNonce !== undefined ? { expectedNonce: next.expectedNonce } : {}),
        ...(next.resyncNonce !== undefined ? { resyncNonce: next.resyncNonce } : {}),
      },
    });
  }

  /**
   * Whether a Reply anyone replaying a captured Request could draw (a duplicate, a 133) may go
   * out; if not, the Request is discarded and counted. Such a Reply is never larger than the
   * Request: toward a spoofed source (a foreign agent's address, say, whose Reply would carry
   * an FHAE the Request lacked) the home agent must not send more than it got. And at most
   * replayableRepliesPerNodePerSecond go out per node, counted apart for replies to where the
   * node is and to anywhere else, so that replays from spoofed sources cannot take the node's
   * own (a retransmission whose Reply was lost, a 133 that resynchronises it).
   */
  private mayAnswerReplayable(
    trace: number,
    received: ReceivedRequest,
    request: RegistrationRequest,
    node: NodeRecord,
    context: MobilitySecurityContext,
    detail: string,
  ): boolean {
    const replyBytes = registrationMessageLength(this.replyMessage(received, request, context, 0, 0, 0, 0, ZERO_IDENTIFICATION).reply);
    if (replyBytes > received.data.length) {
      this.discard(trace, received, 'reply-larger-than-request', `the Reply (${replyBytes} bytes) would be larger than the Request (${received.data.length}): ${detail}`, true);
      return false;
    }
    const limits = (node.replayableReplies ??= {
      toNode: new TokenBucket(this.replayableRepliesPerSecond),
      elsewhere: new TokenBucket(this.replayableRepliesPerSecond),
    });
    const bucket = this.isWhereNodeIs(node, received.source) ? limits.toNode : limits.elsewhere;
    if (!bucket.take(this.options.clock.now())) {
      this.discard(trace, received, 'replayable-rate-limited', `replies to resendable Requests of this node exceed their rate limit: ${detail}`, true);
      return false;
    }
    return true;
  }

  /** The node's home address, or a care-of address or relaying agent of one of its bindings. */
  private isWhereNodeIs(node: NodeRecord, address: Ipv4Address): boolean {
    if (address === node.mobileNode.homeAddress) return true;
    for (const binding of node.bindings) {
      const c = contextOf(binding);
      if (c.careOfAddress === address || c.relayedBy === address) return true;
    }
    return false;
  }

  private accept(
    trace: number,
    received: ReceivedRequest,
    request: RegistrationRequest,
    node: NodeRecord,
    verdict: Extract<HaVerdict, { kind: 'accept' }>,
    send: ReplySender,
  ): void {
    // 5.7: the accepted Request's replay state, applied once here whatever follows (a
    // registration, its denial for room, a deregistration); nothing below reads it.
    this.applyReplayUpdate(node, verdict);
    const now = this.options.clock.now();
    const replyFields: ReplyFields = {
      homeAddress: verdict.homeAddress,
      homeAgent: verdict.homeAgentField,
      identification: verdict.replyIdentification,
      context: verdict.replyContext,
    };
    if (verdict.operation === 'register') {
      const udpTunnel = decideUdpTunnel({
        request,
        ipSource: received.source,
        sourcePort: received.sourcePort,
        policy: node.mobileNode.udpTunnel ?? this.config.settings.udpTunnel ?? 'allowed',
        keepaliveInterval: this.config.settings.udpKeepaliveInterval ?? DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS,
        encapsulations: this.config.settings.encapsulations,
      });
      if (udpTunnel.kind !== 'deny' && udpTunnel.natDetected) this.udpTunnels.counters.natDetected++;
      if (udpTunnel.kind === 'deny') {
        this.udpTunnels.counters.denied++;
        this.reply(trace, received, request, send, replyFields, udpTunnel.code, request.lifetime, { detail: udpTunnel.detail });
        return;
      }
      const existing = node.bindings.find((b) => contextOf(b).careOfAddress === verdict.careOfAddress);
      const admission = admitBinding({
        existingForNode: node.bindings.length,
        total: this.totalBindings,
        maxPerNode: node.maxBindings,
        maxTotal: this.config.maxBindings,
        simultaneousRequested: verdict.simultaneous,
        simultaneousSupported: this.config.settings.simultaneousBindings,
        refreshesExisting: existing !== undefined,
      });
      if (!admission.ok) {
        this.reply(trace, received, request, send, replyFields, admission.code, request.lifetime, { detail: admission.detail });
        return;
      }
      // One object is both the binding's 'register' event and, for a new binding, its input:
      // built once per request, field by field (object spreads here cost more than the HMAC).
      const registration: RegisterEvent = {
        type: 'register',
        homeAddress: node.mobileNode.homeAddress,
        careOfAddress: verdict.careOfAddress,
        lifetime: verdict.grantedLifetime,
        identification: request.identification,
        encapsulation: verdict.encapsulation,
        broadcast: verdict.broadcast,
        decapsulatedByMobileNode: verdict.decapsulatedByMobileNode,
        reverseTunnel: verdict.reverseTunnel,
        relayedBy: received.source !== verdict.careOfAddress && received.source !== verdict.homeAddress ? received.source : undefined,
        at: now,
      };
      // The binding grants the lifetime in its command (a duplicate: what is left of the
      // original grant, 3.8.2.2); a binding that failed its step grants none.
      this.grantedLifetime = 0;
      let udpNote = REGISTER_NOTE;
      if (udpTunnel.kind === 'grant') {
        this.udpTunnels.counters.granted++;
        this.udpTunnels.set(node.mobileNode.homeAddress, verdict.careOfAddress, {
          address: udpTunnel.address,
          port: udpTunnel.port,
          encapsulation: encapsulationOfNextHeader(udpTunnel.encapsulation),
          keepaliveInterval: udpTunnel.keepaliveInterval,
          forced: udpTunnel.forced,
          natDetected: udpTunnel.natDetected,
        });
        udpNote = {
          operation: 'register',
          udpTunnelReply: { extension: udpTunnelReply({ code: UdpTunnelReplyCode.WillTunnel, forced: udpTunnel.forced, keepaliveInterval: udpTunnel.keepaliveInterval }), beforeMobileHomeAuth: udpTunnel.beforeMobileHomeAuth },
        };
      } else {
        this.udpTunnels.delete(node.mobileNode.homeAddress, verdict.careOfAddress);
        if (udpTunnel.kind === 'declined') {
          this.udpTunnels.counters.declined++;
          udpNote = {
            operation: 'register',
            detail: udpTunnel.detail,
            udpTunnelReply: { extension: udpTunnelReply({ code: UdpTunnelReplyCode.Declined, keepaliveInterval: 0 }), beforeMobileHomeAuth: udpTunnel.beforeMobileHomeAuth },
          };
        }
      }
      const target = this.register(node, registration, verdict.simultaneous, existing);
      if (target.stopped) this.udpTunnels.delete(node.mobileNode.homeAddress, verdict.careOfAddress);
      const lifetime = target.stopped ? 0 : this.grantedLifetime;
      this.counters.accepted++;
      this.counters.acceptedByCode[verdict.code] = (this.counters.acceptedByCode[verdict.code] ?? 0) + 1;
      this.reply(trace, received, request, send, replyFields, verdict.code, lifetime, udpNote);
      return;
    }
    if (verdict.operation === 'deregister-all') {
      for (const actor of [...node.bindings]) this.host.send(actor, { type: 'deregister-all', at: now });
      // 4.6: after proxy ARP stopped (with the last binding, just above), the node's own address.
      this.emitArp(arpForReturnHome(verdict.homeAddress));
    } else {
      const binding = node.bindings.find((b) => contextOf(b).careOfAddress === verdict.careOfAddress);
      if (binding) this.host.send(binding, { type: 'deregister', at: now });
    }
    this.counters.accepted++;
    this.counters.deregistrations++;
    this.counters.acceptedByCode[verdict.code] = (this.counters.acceptedByCode[verdict.code] ?? 0) + 1;
    this.reply(trace, received, request, send, replyFields, verdict.code, 0, verdict.operation === 'deregister-all' ? DEREGISTER_ALL_NOTE : DEREGISTER_ONE_NOTE);
  }

  /**
   * 3.8.2.2: a non-zero lifetime adds the care-of address; unless simultaneous bindings are
   * granted, the node's other bindings go. One actor per home address: a new care-of address
   * without 'S' is a change of care-of address of that actor; with 'S' it gets an actor of its own.
   */
  private register(
    node: NodeRecord,
    registration: RegisterEvent,
    simultaneous: boolean,
    existing: Binding | undefined,
  ): Binding {
    let target = existing;
    if (!target && !simultaneous) target = node.bindings[0];
    // A duplicate of an accepted current registration (3.8.2.2) was applied already: applying
    // its "remove the other bindings" again would undo later registrations, the out-of-order
    // application 5.7.1 guards against. Only its binding sees it (and keeps its lifetime).
    const duplicate = existing !== undefined && sameIdentification(contextOf(existing).identification, registration.identification);
    if (!simultaneous && !duplicate && node.bindings.length > 0) {
      for (const other of [...node.bindings]) {
        if (other !== target) this.host.send(other, { type: 'replaced', at: registration.at });
      }
    }
    if (target) {
      this.host.send(target, registration);
      return target;
    }
    const home = node.mobileNode.homeAddress;
    const id =
      node.bindings.length === 0
        ? `binding:${ipv4ToString(home)}`
        : `binding:${ipv4ToString(home)}@${ipv4ToString(registration.careOfAddress)}`;
    return this.host.spawn(id, registration, node);
  }

  private onBindingCommands(actor: Binding, commands: readonly BindingCommand[]): void {
    for (const command of commands) {
      if (command.type === 'publishBinding') {
        this.grantedLifetime = command.params.grantedLifetime;
        this.publish(actor);
      } else if (command.type === 'keepBinding') this.grantedLifetime = command.params.grantedLifetime;
      else if (command.type === 'withdrawBinding') {
        const homeAddress = actor.owner.mobileNode.homeAddress;
        this.forwardingTable.removeTunnel(homeAddress, command.params.careOfAddress);
        this.udpTunnels.delete(homeAddress, command.params.careOfAddress);
        if (!this.restoring) this.options.onStoreWrite?.({ op: 'delete-binding', homeAddress, careOfAddress: command.params.careOfAddress });
      }
    }
  }

  private publish(actor: Binding): void {
    const node = actor.owner;
    if (!node.bindings.includes(actor)) {
      node.bindings.push(actor);
      this.totalBindings++;
      this.emitArps(arpForBindingCount(node.mobileNode.homeAddress, node.bindings.length - 1, node.bindings.length));
    }
    const c = contextOf(actor);
    this.publishTunnel(c);
    if (!this.restoring && this.options.onStoreWrite !== undefined) this.options.onStoreWrite({ op: 'put-binding', binding: storedBinding(c, this.udpTunnels.get(c.homeAddress, c.careOfAddress)) });
  }

  /** The binding's tunnel into the forwarding table; in UDP to its NAT when it has one (RFC 3519). */
  private publishTunnel(c: BindingContext): void {
    const udp = this.udpTunnels.get(c.homeAddress, c.careOfAddress);
    const target = {
      careOfAddress: c.careOfAddress,
      encapsulation: udp?.encapsulation ?? c.encapsulation,
      broadcast: c.broadcast,
      decapsulatedByMobileNode: c.decapsulatedByMobileNode,
      reverseTunnel: c.reverseTunnel,
    };
    this.forwardingTable.upsertTunnel(c.homeAddress, udp === undefined ? target : { ...target, udp: { address: udp.address, port: udp.port } });
  }

  /**
   * Tunnel data or a keepalive arrived over UDP from `address:port` with inner source
   * `homeAddress` (the data plane calls this): true when it comes from one of the node's UDP
   * tunnels, after moving the binding to a new port of its NAT's address (rebinding,
   * counted and logged); false when it comes from nowhere the node is bound to.
   */
  followUdpTunnel(homeAddress: Ipv4Address, address: Ipv4Address, port: number): boolean {
    const followed = this.udpTunnels.follow(homeAddress, address, port);
    if (followed === undefined) return false;
    if (followed.rebinding !== undefined) this.rebound({ homeAddress, careOfAddress: followed.careOfAddress, rebinding: followed.rebinding });
    if (followed.others !== undefined) for (const moved of followed.others) this.rebound(moved);
    return true;
  }

  /**
   * A keepalive arrived over UDP from `address:port` with inner source `careOfAddress` (a
   * foreign agent behind a NAT keeps its one flow alive so, RFC 3519): true when bindings of
   * that care-of address are tunnelled in UDP to `address`, after moving all of them to a new
   * port of it (each counted and logged as a rebinding); false otherwise.
   */
  followUdpFlow(careOfAddress: Ipv4Address, address: Ipv4Address, port: number): boolean {
    const followed = this.udpTunnels.followFlow(careOfAddress, address, port);
    if (followed === undefined) return false;
    for (const moved of followed.moved) this.rebound(moved);
    return true;
  }

  /** A binding moved to a new port of its NAT: its tunnel republished, the move logged. */
  private rebound(moved: MovedBinding): void {
    const node = this.nodesByAddress.get(moved.homeAddress | 0);
    const actor = node?.bindings.find((b) => contextOf(b).careOfAddress === moved.careOfAddress);
    if (actor !== undefined) {
      const c = contextOf(actor);
      this.publishTunnel(c);
      // The new port survives a restart too.
      this.options.onStoreWrite?.({ op: 'put-binding', binding: storedBinding(c, this.udpTunnels.get(c.homeAddress, c.careOfAddress)) });
    }
    this.emit({ event: 'udp-rebinding', at: this.options.clock.now(), ...moved.rebinding });
  }

  private onBindingStopped(actor: Binding): void {
    const node = actor.owner;
    const i = node.bindings.indexOf(actor);
    if (i < 0) return;
    node.bindings.splice(i, 1);
    this.totalBindings--;
    if (actor.snapshot.value === 'expired' && this.eventSubject.observed) {
      const c = contextOf(actor);
      this.emit({ event: 'binding-expired', at: this.options.clock.now(), homeAddress: ipv4ToString(c.homeAddress), careOfAddress: ipv4ToString(c.careOfAddress), lifetime: c.lifetime });
    }
    this.emitArps(arpForBindingCount(node.mobileNode.homeAddress, node.bindings.length + 1, node.bindings.length));
  }

  private emitArp(command: ArpCommand): void {
    if (this.arpSubject.observed) this.arpSubject.next(command);
  }

  private emitArps(commands: readonly ArpCommand[]): void {
    for (const command of commands) this.emitArp(command);
  }

  private emit(event: HomeAgentEvent): void {
    if (this.eventSubject.observed) this.eventSubject.next(event);
  }

  private discard(trace: number, received: ReceivedRequest, reason: HomeAgentEvent & { event: 'discard' } extends { reason: infer R } ? R : never, detail: string, securityException: boolean): void {
    this.counters.discarded++;
    this.counters.discardedByReason[reason] = (this.counters.discardedByReason[reason] ?? 0) + 1;
    if (this.eventSubject.observed) {
      this.eventSubject.next({
        event: 'discard',
        trace: this.tracePrefix + trace.toString(36),
        at: this.options.clock.now(),
        reason,
        detail,
        from: `${ipv4ToString(received.source)}:${received.sourcePort}`,
        securityException,
        datagram: hexPrefix(received.data),
      });
    }
  }

  /**
   * Builds and sends a Reply as 3.8.3 says: back to the request's source address and port,
   * from the address it was sent to unless that was a broadcast (then from the home agent's
   * unicast address); the node's non-authentication extensions (its NAI, RFC 2794) first,
   * then the Mobile-Home Authentication Extension, then a Foreign-Home Authentication
   * Extension when a foreign agent with which this agent shares an association relayed it.
   */
  private reply(
    trace: number,
    received: ReceivedRequest,
    request: RegistrationRequest,
    send: ReplySender,
    r: ReplyFields,
    code: number,
    lifetime: number,
    note: ReplyNote,
  ): void {
    const { reply, foreignContext } = this.replyMessage(received, request, r.context, code, lifetime, r.homeAddress, r.homeAgent, r.identification, note.udpTunnelReply);
    const bytes = encodeSigned(reply, (type: AuthExtensionType) =>
      type === ExtensionType.MobileHomeAuth ? r.context : type === ExtensionType.ForeignHomeAuth ? foreignContext : undefined,
    );
    // 3.8.3.1: source = the request's destination unless it was a broadcast or multicast;
    // then the unicast address a 136 Reply names in its Home Agent field (3.8.2.1).
    const source = this.isUnicastOfMine(received.destination) ? received.destination : homeAgentUnicastAddress(this.config.settings);
    send(bytes, received.source, received.sourcePort, source);
    if (code > 1) {
      this.counters.denied++;
      this.counters.deniedByCode[code] = (this.counters.deniedByCode[code] ?? 0) + 1;
    }
    if (this.eventSubject.observed) {
      this.eventSubject.next({
        event: 'reply',
        trace: this.tracePrefix + trace.toString(36),
        at: this.options.clock.now(),
        code,
        text: replyCodeText(code),
        homeAddress: ipv4ToString(r.homeAddress),
        careOfAddress: ipv4ToString(request.careOfAddress),
        lifetime,
        to: `${ipv4ToString(received.source)}:${received.sourcePort}`,
        ...(note.operation !== undefined ? { operation: note.operation } : {}),
        ...(note.detail !== undefined ? { detail: note.detail } : {}),
        ...(note.securityException ? { securityException: true } : {}),
      });
    }
  }

  /**
   * The Reply before sealing, with the extensions of 3.8.3.3: the node's non-authentication
   * extensions (its NAI) first, then the MHAE, then an FHAE toward a foreign agent with an
   * association (3.8.1), except on deregistrations (3.5.4, R3.5.4-2: the more specific rule).
   */
  private replyMessage(
    received: ReceivedRequest,
    request: RegistrationRequest,
    context: MobilitySecurityContext,
    code: number,
    lifetime: number,
    homeAddress: Ipv4Address,
    homeAgent: Ipv4Address,
    identification: Identification,
    udpTunnelReply?: ReplyNote['udpTunnelReply'],
  ): { reply: RegistrationReply; foreignContext: MobilitySecurityContext | undefined } {
    const extensions: RegistrationExtension[] = [];
    for (const extension of request.extensions) {
      if (extension.kind === 'nai') extensions.push(extension);
      if (extension.kind === 'auth' && extension.type === ExtensionType.MobileHomeAuth) break;
    }
    // RFC 3519: the UDP Tunnel Reply on the side of the MHAE its Request extension was on:
    // covered by the node's authenticator, or after it for the foreign agent that asked.
    if (udpTunnelReply?.beforeMobileHomeAuth === true) extensions.push(udpTunnelReply.extension);
    extensions.push(replyPlaceholder(ExtensionType.MobileHomeAuth, context.spi));
    if (udpTunnelReply?.beforeMobileHomeAuth === false) extensions.push(udpTunnelReply.extension);
    const foreignAgent = this.foreignAgentOf(received, request);
    const foreignContext = request.lifetime !== 0 ? foreignAgent?.first() : undefined;
    if (foreignContext) extensions.push(replyPlaceholder(ExtensionType.ForeignHomeAuth, foreignContext.spi));
    return { reply: { type: 3, code, lifetime, homeAddress, homeAgent, identification, extensions }, foreignContext };
  }

  private isUnicastOfMine(address: Ipv4Address): boolean {
    return this.config.settings.addresses.includes(address);
  }
}

/** A binding's context as the store keeps it, with its UDP tunnel (RFC 3519) when it has one. */
function storedBinding(c: BindingContext, udp: UdpTunnelState | undefined): StoredBinding {
  return {
    homeAddress: c.homeAddress,
    careOfAddress: c.careOfAddress,
    lifetime: c.lifetime,
    expiresAt: c.expiresAt,
    identification: c.identification,
    encapsulation: c.encapsulation,
    broadcast: c.broadcast,
    decapsulatedByMobileNode: c.decapsulatedByMobileNode,
    reverseTunnel: c.reverseTunnel,
    ...(c.relayedBy !== undefined ? { relayedBy: c.relayedBy } : {}),
    ...(udp !== undefined
      ? { udpTunnel: { address: udp.address, port: udp.port, encapsulation: udp.encapsulation, keepaliveInterval: udp.keepaliveInterval, forced: udp.forced, natDetected: udp.natDetected } }
      : {}),
  };
}
