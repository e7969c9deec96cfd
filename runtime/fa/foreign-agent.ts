/**
 * The foreign agent (RFC 5944 2.3, 3.7, 4.2.2) as an actor system on a link, UDP and raw IP:
 * an advertiser actor, one pending registration per relayed Request and one visitor entry per
 * node, with plain synchronous handlers for each message. Requests are taken from the link, not
 * the UDP socket, because only the frame tells the node's link-layer address, needed to answer
 * and deliver without ARP for its home address (3.7.1, 4.2.2); the socket's copies are counted
 * (`requestsOnSocket`). Replies come routed, through UDP; ICMP errors quoting a relayed Request
 * end its pending registrations with codes 80-88 (3.7.3). Not wired yet: a Request naming this
 * agent as home agent (`local-home-agent`, discarded) and reverse tunnelling (RFC 3024).
 */
import { Effect, Layer, type Scope } from 'effect';
import { openInScope } from '../../io/scoped-start.js';
import { Subject } from 'rxjs';
import { Link, LinkError, type FrameInfo, type LinkInterface, type LinkOffloadCounters } from '../../io/link.js';
import { RawIp, RawIpError, type RawIpSocket } from '../../io/raw-ip.js';
import { KernelDrops } from '../../io/kernel-drops.js';
import { Udp, UdpError, type UdpSocket } from '../../io/udp.js';
import {
  decodeAgentSolicitation,
  type RouterEntry,
} from '../../io/wire/agent-discovery.js';
import { ipv4ToString, type Ipv4Address, hexPrefix } from '../../io/wire/bytes.js';
import {
  encodeEthernetHeader,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  ethernetEtherType,
  ethernetSource,
  type MacAddress,
} from '../../io/wire/ethernet.js';
import { decodeIcmpError, IcmpType } from '../../io/wire/icmp.js';
import { identificationToHex } from '../../io/wire/identification.js';
import { decodeIpv4Packet, IpProtocol, IPV4_MIN_HEADER_LENGTH, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { LIMITED_BROADCAST } from '../../io/wire/ipv4-address.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import { MOBILE_IP_PORT, REGISTRATION_REPLY, REGISTRATION_REQUEST, type RegistrationReply } from '../../io/wire/registration-types.js';
import { replyCodeText } from '../../io/wire/reply-codes.js';
import { decodeUdpDatagram, UDP_HEADER_LENGTH, verifyUdpChecksum } from '../../io/wire/udp.js';
import { completeTransportChecksum } from '../../io/wire/transport-checksum.js';
import {
  advertiserMachine,
  buildFaAdvertisement,
  type AdvertiserCommand,
  type AdvertiserMachine,
  type AdvertiserSettings,
  type SendAdvertisementParams,
} from '../../machines/advertiser.js';
import { DEFAULT_PENDING_TIMEOUT_MS, faPendingMachine, type FaPendingCommand, type FaPendingMachine } from '../../machines/fa-pending.js';
import { INFINITE_LIFETIME as VISITOR_INFINITE_LIFETIME, visitorMachine, visitorRemainingLifetime, type VisitorCommand, type VisitorContext, type VisitorMachine } from '../../machines/visitor.js';
import type { Encapsulation } from '../../io/wire/tunnel.js';
import type { BindingStore, StoredVisitor, StoreWrite } from '../store/binding-store.js';
import { GroupCommit } from '../store/group-commit.js';
import {
  ALL_MOBILITY_AGENTS,
  buildFaDenial,
  checkFaReply,
  checkFaRequest,
  messageNai,
  pendingForIcmpError,
  quotedRelayedRequest,
  RecentDenials,
  type FaReplyDatagram,
  type FaSettings,
  type PendingRegistration,
} from '../../policies/fa-request.js';
import {
  DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS,
  isPendingBudgetRefusal,
  PendingTally,
  RelayWindow,
  type ChargedPending,
  type PendingBudgetRefusal,
  type PendingCharge,
} from '../../policies/fa-pending-budget.js';
import { MobilitySecurityAssociation, type MobilitySecurityContext } from '../../policies/security-association.js';
import { diffByKey, sameContexts, type KeyedDiff } from '../../policies/association-diff.js';
import { ActorHost, stateValueToString, type HostedActor, type TransitionRecord } from '../actors/actor-host.js';
import { inspectHost, type InspectedHost } from '../actors/inspection.js';
import { RealClock, type Clock } from '../../io/clock.js';
import { foreignAgentDataPlane, type ReverseTunnel } from '../dataplane/fa-plane.js';
import type { VisitorCapture } from './visitor-capture.js';
import { kernelServesVisitor, type FastPathVisitor, type VisitorFastPath } from './visitor-fast-path.js';
import { FaUdpFlows } from './udp-flows.js';
import { decapsulateUdpTunnelBatch, type UdpTunnelPacket } from '../dataplane/fa-udp-tunnel.js';
import { TUNNEL_DATA_MESSAGE_TYPE } from '../../io/wire/udp-tunnel.js';
import { faUdpTunnelOutcome } from '../../policies/fa-udp-tunnel.js';
import type { DataPlane, OutputBatch, PacketBatch } from '../dataplane/packets.js';
import { agentAdvertisementFrame, udpFrame } from '../../io/wire/frames.js';
import { secureRandom32 } from '../../io/random.js';

// --- configuration --------------------------------------------------------------------------------

/** A Mobility Security Association with a peer (mobile node by home address, or home agent by address). */
export interface FaPeerConfig {
  readonly address: Ipv4Address;
  readonly contexts: readonly MobilitySecurityContext[];
}

/** What the advertisements say beyond FaSettings (2.1, 2.1.1). */
export interface FaAdvertisementConfig extends Omit<AdvertiserSettings, 'busy'> {
  readonly registrationRequired?: boolean;
  readonly routesCommonTraffic?: boolean;
  /** Router addresses (2.3.1: only the agent's own); none by default. */
  readonly routers?: readonly RouterEntry[];
  readonly prefixLengths?: readonly number[];
}

export interface FaConfig {
  readonly settings: FaSettings;
  /** Mobile nodes the agent shares an association with (MFAE, 3.7.1), by home address. */
  readonly mobileNodes: readonly FaPeerConfig[];
  /** Home agents the agent shares an association with (FHAE, 3.7.1), by address. */
  readonly homeAgents: readonly FaPeerConfig[];
  readonly advertisement: FaAdvertisementConfig;
  /** 3.7.1's "more than 7 seconds" (default 7001 ms, machines/fa-pending.ts). */
  readonly pendingTimeoutMs?: number;
}

// --- observables -----------------------------------------------------------------------------------

/** A structured log event; every one is JSON-able. `trace` ties a Request to its Reply or denial. */
export type ForeignAgentEvent =
  | {
      readonly event: 'request-relayed';
      readonly trace: string;
      readonly at: number;
      readonly homeAddress: string;
      readonly homeAgent: string;
      readonly careOfAddress: string;
      readonly lifetime: number;
      readonly identification: string;
      readonly from: MacAddress;
      readonly removedExtensions: number;
    }
  | {
      /** A Registration Reply this agent originated (3.7.2.3): a Request denied, a Reply rejected, a timeout. */
      readonly event: 'denial';
      readonly trace: string;
      readonly at: number;
      readonly code: number;
      readonly text: string;
      readonly cause: 'request' | 'reply-rejected' | 'pending-ended';
      readonly homeAddress: string;
      readonly to: MacAddress;
      readonly detail?: string;
      readonly securityException?: boolean;
    }
  | {
      readonly event: 'reply-relayed';
      readonly trace: string;
      readonly at: number;
      readonly code: number;
      readonly text: string;
      readonly homeAddress: string;
      readonly lifetime: number;
      readonly to: MacAddress;
    }
  | {
      readonly event: 'discard';
      readonly trace: string;
      readonly at: number;
      readonly reason: string;
      readonly detail: string;
      readonly from: string;
      readonly securityException: boolean;
      /** The discarded message (1.7 asks for its contents in the log), hex, capped. */
      readonly datagram: string;
    }
  | {
      /** An ICMP error quoting a relayed Request (3.7.3); the pending registration ends with a denial (80-88). */
      readonly event: 'icmp-error';
      readonly trace: string;
      readonly at: number;
      readonly from: string;
      readonly icmpType: number;
      readonly icmpCode: number;
      readonly homeAddress: string;
      readonly homeAgent: string;
    }
  | {
      readonly event: 'advertisement';
      readonly at: number;
      readonly sequence: number;
      readonly destination: string;
      readonly linkLayerDestination: MacAddress;
    }
  | { readonly event: 'actor-error'; readonly at: number; readonly actor: string; readonly detail: string }
  /** A visitor whose registration lifetime ran out: entry and route deleted (3.7.1). */
  | { readonly event: 'visitor-expired'; readonly at: number; readonly homeAddress: string; readonly careOfAddress: string; readonly homeAgent: string; readonly lifetime: number }
  | { readonly event: 'visitor-cleared'; readonly at: number; readonly by: 'operator'; readonly homeAddress: string; readonly entries: number };

export interface ForeignAgentCounters {
  frames: number;
  solicitations: number;
  requests: number;
  /** Requests the UDP socket also received; they are handled from the link (module comment). */
  requestsOnSocket: number;
  relayed: number;
  denied: number;
  replies: number;
  repliesRelayed: number;
  timeouts: number;
  /** ICMP Destination Unreachable / Time Exceeded messages received (about anything). */
  icmpErrors: number;
  /** Pending registrations ended by an ICMP error quoting their Request (3.7.3). */
  icmpErrorsMatched: number;
  advertisements: number;
  tunnelDelivered: number;
  discarded: number;
  readonly deniedByCode: Record<number, number>;
  readonly discardedByReason: Record<string, number>;
  /** Requests refused (66) by the pending budget, by budget; counted also when the 66 itself was rate-limited (3.7.1, 3.7.2). */
  readonly pendingRefusals: Partial<Record<PendingBudgetRefusal, number>>;
}

/** How many entries the agent's tables hold: each is bounded (policies/fa-pending-budget.ts, RecentDenials). */
export interface ForeignAgentTableSizes {
  readonly visitors: number;
  readonly pending: number;
  /** Link-layer sources and home addresses the pending budget counts. */
  readonly pendingTallyKeys: number;
  /** Nodes whose last denial is remembered for 3.7.2's one per second. */
  readonly recentDenials: number;
  readonly routes: number;
}

export interface VisitorView {
  readonly homeAddress: string;
  readonly nai?: string;
  readonly state: string;
  readonly linkLayerAddress?: MacAddress;
  readonly careOfAddress?: string;
  readonly homeAgent?: string;
  readonly lifetime?: number;
  readonly remaining: number;
  readonly identification?: string;
  readonly renewalPending: boolean;
  /** 'T' granted (RFC 3024): the reverse tunnel's encapsulation and delivery style. */
  readonly reverseTunnel?: { readonly encapsulation: Encapsulation; readonly delivery: 'direct' | 'encapsulating' };
  /** The home agent tunnels over this agent's UDP flow (RFC 3519); the keepalive interval it granted, seconds. */
  readonly udpTunnel?: { readonly keepaliveInterval: number };
}

/** Sends a UDP payload from `source` (an address of this agent) to `destination:port`. */
export type FaUdpSender = (data: Uint8Array, destination: Ipv4Address, port: number, source: Ipv4Address) => void;

export interface ForeignAgentOptions {
  readonly clock: Clock;
  /** Uniform 32-bit values (solicitation response delays). Seeded in tests. */
  readonly random32: () => number;
  /** Put before every trace id, so that the ids of one run differ from another's; default none. */
  readonly tracePrefix?: string;
  /**
   * Hears each visitor entry that becomes registered, is renewed, or ends (runtime/store/):
   * a restart restores the visitor list from these. The agent itself does no IO.
   */
  readonly onStoreWrite?: (write: StoreWrite) => void;
  /**
   * Runs a relayed Reply's send once the store writes queued before it are durable (the group
   * commit of runtime/store): the node hears "accepted" only for a visitor entry a restart
   * finds again. Default: at once.
   */
  readonly whenDurable?: (send: () => void) => void;
  /** Keeps the host from forwarding what the reverse tunnels carry (runtime/fa/visitor-capture.ts). */
  readonly visitorCapture?: VisitorCapture;
  /** The kernel fast path (dataPath.engine bpf): told each visitor entry in force (runtime/fa/visitor-fast-path.ts); closed by close(). */
  readonly fastPath?: VisitorFastPath;
  /** The MTU of the path to home agents for reverse tunnels (default 1500, fa-plane.ts). */
  readonly tunnelMtu?: number;
  /**
   * Tunnel data messages (RFC 3519) received on the 434 sockets are gathered and taken apart
   * as one batch per wakeup (at the next microtask) instead of one at a time: the Linux
   * daemon's setting, where a socket hands over a recvmmsg batch synchronously. Default false
   * (the simulated network delivers one at a time, deterministically).
   */
  readonly batchUdpTunnel?: boolean;
}

/** A registered visitor entry as stored (StoredVisitor.entry): the registration in force. */
interface StoredVisitorEntry {
  readonly homeAddress: Ipv4Address;
  readonly nai?: string;
  readonly linkLayerSource: MacAddress;
  readonly ipSource: Ipv4Address;
  readonly udpSourcePort: number;
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly identification: { readonly high: number; readonly low: number };
  /** 'T' granted (RFC 3024); absent in rows written before reverse tunnelling: none. */
  readonly reverseTunnel?: { readonly encapsulation: Encapsulation; readonly delivery: 'direct' | 'encapsulating' };
  /** UDP tunnelling granted (RFC 3519), with its keepalive interval in seconds; absent: none. */
  readonly udpTunnel?: { readonly keepaliveInterval: number };
}

/** What `restore` did with the stored visitor list. */
export interface VisitorRestoreOutcome {
  readonly bindings: number;
  readonly expiredDropped: number;
  /** Entries this agent cannot take back (a care-of address it no longer offers, an unreadable row). */
  readonly unknownNodeDropped: number;
  readonly unknownHomeAddresses: readonly string[];
}

// --- internals -------------------------------------------------------------------------------------

interface PendingOwner {
  readonly trace: string;
  readonly nodeKey: string;
  /** What the entry counts against (policies/fa-pending-budget.ts). */
  readonly charge: PendingCharge;
  /** Whether it was added to the tally (an actor that ends during its spawn never is). */
  tallied: boolean;
}

interface VisitorOwner {
  readonly key: string;
}

type PendingActor = HostedActor<FaPendingMachine, PendingOwner>;
type VisitorActor = HostedActor<VisitorMachine, VisitorOwner>;

function associationOf(peer: FaPeerConfig): MobilitySecurityAssociation {
  const association = new MobilitySecurityAssociation(peer.address);
  for (const context of peer.contexts) association.add(context);
  return association;
}


function chargedPending(actor: PendingActor): ChargedPending {
  const p = actor.snapshot.context.pending;
  return { charge: actor.owner.charge, linkLayerSource: p.linkLayerSource, homeAddress: p.homeAddress, homeAgent: p.homeAgent };
}

/** Visitor entries are keyed by home address + NAI (3.7.1; home address 0 is told apart by NAI, RFC 2794). */
function nodeKeyOf(homeAddress: Ipv4Address, nai: string | undefined): string {
  return `${homeAddress >>> 0}|${nai ?? ''}`;
}

export class ForeignAgent {
  /** What the kernel dropped before the agent read it (tunnel and visitor-link sockets; Linux only). */
  readonly kernelDrops = new KernelDrops();
  readonly counters: ForeignAgentCounters = {
    frames: 0,
    solicitations: 0,
    requests: 0,
    requestsOnSocket: 0,
    relayed: 0,
    denied: 0,
    replies: 0,
    repliesRelayed: 0,
    timeouts: 0,
    icmpErrors: 0,
    icmpErrorsMatched: 0,
    advertisements: 0,
    tunnelDelivered: 0,
    discarded: 0,
    deniedByCode: {},
    discardedByReason: {},
    pendingRefusals: {},
  };

  /** Reverse tunnels (RFC 3024) beside `counters`: datagrams sent into them, a 'T' visitor's home address seen from another link-layer address (neither tunnelled nor forwarded), and datagrams whose checksum the link left to offload, completed here before tunnelling. */
  readonly reverseTunnelCounters = { tunnelled: 0, wrongLinkSource: 0, checksumsCompleted: 0 };
  /**
   * The copy of a visitor's datagram whose checksum the link left to offload (reverseTunnelFrame):
   * one buffer, reused, since the plane consumes its input before `next` returns, as it does the
   * link's own slot. Grown to the largest frame seen.
   */
  private checksumScratch = new Uint8Array(2048);

  private readonly transitionSubject = new Subject<TransitionRecord>();
  private readonly eventSubject = new Subject<ForeignAgentEvent>();
  /** Every state change of every actor (advertiser, pending registrations, visitors). */
  readonly transitions = this.transitionSubject.asObservable();
  /** Structured log events. */
  readonly events = this.eventSubject.asObservable();

  /** The data plane (4.2.2): tunnel batches in, deliveries out. Its counters are `dataPlane.counters`. */
  readonly dataPlane: DataPlane;
  private readonly tunnelInput = new Subject<PacketBatch>();
  /** RFC 3519: visitors whose tunnels run over this agent's UDP flows, and the keepalives. */
  readonly udpFlows: FaUdpFlows;
  private udpTunnelQueue: UdpTunnelPacket[] = [];

  private readonly advertiserHost: ActorHost<AdvertiserMachine, unknown, AdvertiserCommand>;
  private readonly pendingHost: ActorHost<FaPendingMachine, PendingOwner, FaPendingCommand>;
  private readonly visitorHost: ActorHost<VisitorMachine, VisitorOwner, VisitorCommand>;
  private advertiser: HostedActor<AdvertiserMachine> | undefined;

  private readonly mobileNodes = new Map<number, MobilitySecurityAssociation>();
  private readonly homeAgents = new Map<number, MobilitySecurityAssociation>();
  private readonly visitorsByKey = new Map<string, VisitorActor>();
  /** Pending registrations by home address (int32 key), for matching Replies (3.7.3.1). */
  private readonly pendingByHome = new Map<number, Set<PendingActor>>();
  /** Installed visitor routes: home address → link-layer address (4.2.2). */
  private readonly routes = new Map<number, MacAddress>();
  /** Visitors granted 'T' (RFC 3024): home address → their reverse tunnel, beside `routes`. */
  private readonly reverseTunnels = new Map<number, ReverseTunnel>();
  /** 3.7.2's one denial per second per node; bounded (policies/fa-request.ts RecentDenials). */
  private readonly recentDenials = new RecentDenials();
  /** Live pending entries by charge, link-layer source and home address (3.7.1 budgets). */
  private readonly pendingTally = new PendingTally();
  /** Deregistrations of unknown nodes relayed within the pending window. */
  private readonly unknownDeregistrations: RelayWindow;
  private readonly ownAddresses: Set<number>;
  private link: LinkInterface | undefined;
  private sendUdp: FaUdpSender | undefined;
  /** The sender `start` was given, without the flow bookkeeping: the data path keeps its own (`deliver`). */
  private sendUdpDirect: FaUdpSender | undefined;
  /** Tunnel data messages went to the 434 sockets in this turn (countUdpTunnelSends). */
  private udpSendTurnOpen = false;
  private readonly closeUdpSendTurn = () => {
    this.udpSendTurnOpen = false;
  };
  /** Sends a whole IPv4 datagram (the agent wrote its header): reverse tunnels. */
  private sendIp: ((datagram: Uint8Array, destination: Ipv4Address) => void) | undefined;
  private traceCounter = 0;
  private closed = false;
  /** Set while restoring: the entries being restored are already stored. */
  private restoring = false;

  constructor(
    private config: FaConfig,
    private readonly options: ForeignAgentOptions,
  ) {
    for (const node of config.mobileNodes) this.mobileNodes.set(node.address | 0, associationOf(node));
    for (const ha of config.homeAgents) this.homeAgents.set(ha.address | 0, associationOf(ha));
    const s = config.settings;
    this.ownAddresses = new Set([...s.interfaceAddresses, ...s.careOfAddresses, s.linkAddress].map((a) => a | 0));
    // The ring needs one slot per deregistration the window admits; an unbounded setting gets
    // a ring it can never fill, so it never refuses.
    this.unknownDeregistrations = new RelayWindow(
      config.pendingTimeoutMs ?? DEFAULT_PENDING_TIMEOUT_MS,
      Math.min(s.maxUnknownDeregistrations ?? DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS, 0x10000),
    );
    const onTransition = (record: TransitionRecord) => {
      if (this.transitionSubject.observed) this.transitionSubject.next(record);
    };
    const onError = (actor: { id: string }, error: unknown) =>
      this.emit({ event: 'actor-error', at: this.options.clock.now(), actor: actor.id, detail: String(error) });
    this.advertiserHost = new ActorHost<AdvertiserMachine, unknown, AdvertiserCommand>(advertiserMachine, {
      clock: options.clock,
      onTransition,
      onError,
      onCommands: (_actor, commands) => this.onAdvertiserCommands(commands),
    });
    this.pendingHost = new ActorHost<FaPendingMachine, PendingOwner, FaPendingCommand>(faPendingMachine, {
      clock: options.clock,
      onTransition: (record) => {
        if (record.reason === 'timed-out') this.counters.timeouts++;
        onTransition(record);
      },
      onError,
      onCommands: (actor, commands) => this.onPendingCommands(actor, commands),
      onStopped: (actor) => this.forgetPending(actor),
    });
    this.visitorHost = new ActorHost<VisitorMachine, VisitorOwner, VisitorCommand>(visitorMachine, {
      clock: options.clock,
      onTransition,
      onError,
      onCommands: (actor, commands) => this.onVisitorCommands(actor, commands),
      onStopped: (actor) => {
        if (this.visitorsByKey.get(actor.owner.key) === actor) this.visitorsByKey.delete(actor.owner.key);
        const c = actor.snapshot.context;
        if (actor.snapshot.value === 'expired' && c.current !== undefined) {
          this.emit({ event: 'visitor-expired', at: this.options.clock.now(), homeAddress: ipv4ToString(c.homeAddress), careOfAddress: ipv4ToString(c.current.careOfAddress), homeAgent: ipv4ToString(c.current.homeAgent), lifetime: c.current.lifetime });
        }
      },
    });
    this.dataPlane = foreignAgentDataPlane({
      visitors: (homeAddress) => this.routes.get(homeAddress | 0),
      reverseTunnels: (homeAddress) => this.reverseTunnels.get(homeAddress | 0),
      // The link address too: a node using the encapsulating delivery style tunnels to it (RFC 3024 delivery styles).
      localAddresses: [...new Set([...s.careOfAddresses, s.linkAddress])],
      ...(options.tunnelMtu === undefined ? {} : { tunnelMtu: options.tunnelMtu }),
    });
    this.tunnelInput.pipe(this.dataPlane).subscribe((batch) => this.deliver(batch));
    this.udpFlows = new FaUdpFlows(options.clock, () => this.sendUdp);
  }

  /**
   * Takes the security associations of `next` (a reload): the mobile nodes' (MFAE) and the home
   * agents' (FHAE), each checking the next Request or Reply. Visitors and pending registrations
   * are not touched; the rest of `next` (addresses, advertisement, limits) needs a restart and
   * is ignored. Returns what changed, by peer address.
   */
  reconfigure(next: FaConfig): { readonly mobileNodes: KeyedDiff<FaPeerConfig>; readonly homeAgents: KeyedDiff<FaPeerConfig> } {
    const samePeer = (a: FaPeerConfig, b: FaPeerConfig) => sameContexts(a.contexts, b.contexts);
    const mobileNodes = diffByKey(this.config.mobileNodes, next.mobileNodes, (p) => p.address | 0, samePeer);
    const homeAgents = diffByKey(this.config.homeAgents, next.homeAgents, (p) => p.address | 0, samePeer);
    for (const [table, diff] of [[this.mobileNodes, mobileNodes], [this.homeAgents, homeAgents]] as const) {
      for (const peer of diff.removed) table.delete(peer.address | 0);
      for (const peer of [...diff.added, ...diff.changed]) table.set(peer.address | 0, associationOf(peer));
    }
    this.config = { ...this.config, mobileNodes: next.mobileNodes, homeAgents: next.homeAgents };
    return { mobileNodes, homeAgents };
  }

  /**
   * Attaches the visitor link and the UDP sender, and starts advertising (the first
   * advertisement goes out now, sequence 0, R2.3.2-1). Frames before this are ignored.
   */
  start(link: LinkInterface, sendUdp: FaUdpSender, sendIp?: (datagram: Uint8Array, destination: Ipv4Address) => void): void {
    if (this.link !== undefined) throw new Error('the foreign agent is already started');
    this.link = link;
    // Whatever leaves on a UDP flow with a home agent (a relayed Request, a keepalive) puts off its next keepalive.
    this.sendUdpDirect = sendUdp;
    this.sendUdp = (data, destination, port, source) => {
      sendUdp(data, destination, port, source);
      if (port === MOBILE_IP_PORT) this.udpFlows.sentTo(source, destination, this.options.clock.now());
    };
    this.sendIp = sendIp;
    // Before any entry: the link's reader must hide what the kernel will tunnel from the first entry on.
    this.options.fastPath?.visitorLinkOpened?.(link);
    // Entries restored before the link opened could not name the agent's MAC yet.
    for (const homeAddress of this.routes.keys()) this.tellFastPath(homeAddress);
    this.advertiser = this.advertiserHost.spawn('advertiser', { ...this.config.advertisement, busy: this.config.settings.busy });
  }

  /** Stops every timer; entries stay readable. */
  close(): void {
    if (this.closed) return;
    this.udpFlows.close();
    this.closed = true;
    this.advertiserHost.close();
    this.pendingHost.close();
    this.visitorHost.close();
    this.options.visitorCapture?.close();
    this.options.fastPath?.close();
    this.tunnelInput.complete();
    this.transitionSubject.complete();
    this.eventSubject.complete();
  }

  /** Live pending registrations. */
  get pendingCount(): number {
    return this.pendingHost.size;
  }

  /**
   * The visitor entries, pending registrations and the advertiser as the live inspector shows
   * them (runtime/inspector/): addresses, lifetimes and identifications, no key ever.
   */
  inspected(): InspectedHost[] {
    const now = () => this.options.clock.now();
    const pendingByHome = this.pendingByHome;
    function* pendings(): Generator<PendingActor> {
      for (const set of pendingByHome.values()) yield* set;
    }
    return [
      inspectHost('fa-visitor', 'visitor', this.visitorHost, () => this.visitorsByKey.values(), (actor) => {
        const c = actor.snapshot.context;
        const shown = c.current ?? c.pending;
        return {
          id: actor.id,
          state: stateValueToString(actor.snapshot.value),
          fields: {
            homeAddress: ipv4ToString(c.homeAddress),
            ...(c.nai === undefined ? {} : { nai: c.nai }),
            ...(shown === undefined ? {} : { careOfAddress: ipv4ToString(shown.careOfAddress), homeAgent: ipv4ToString(shown.homeAgent), identification: identificationToHex(shown.identification) }),
            lifetimeLeft: String(visitorRemainingLifetime(c, now())),
          },
        };
      }),
      inspectHost('fa-pending', 'pending registration', this.pendingHost, pendings, (actor) => {
        const p = actor.snapshot.context.pending;
        return {
          id: actor.id,
          state: stateValueToString(actor.snapshot.value),
          fields: {
            homeAddress: ipv4ToString(p.homeAddress),
            homeAgent: ipv4ToString(p.homeAgent),
            careOfAddress: ipv4ToString(p.careOfAddress),
            identification: identificationToHex(p.identification),
            requestedLifetime: String(p.requestedLifetime),
          },
        };
      }),
      inspectHost('fa-advertiser', 'advertiser', this.advertiserHost, () => (this.advertiser === undefined || this.advertiser.stopped ? [] : [this.advertiser]), (actor) => ({
        id: actor.id,
        state: stateValueToString(actor.snapshot.value),
        fields: {},
      })),
    ];
  }

  /** The visitor list now (3.7.1), for `show`-style output. */
  visitors(): VisitorView[] {
    const now = this.options.clock.now();
    const views: VisitorView[] = [];
    for (const actor of this.visitorsByKey.values()) {
      const c = actor.snapshot.context;
      const shown = c.current ?? c.pending;
      views.push({
        homeAddress: ipv4ToString(c.homeAddress),
        ...(c.nai === undefined ? {} : { nai: c.nai }),
        state: stateValueToString(actor.snapshot.value),
        ...(shown === undefined
          ? {}
          : {
              linkLayerAddress: shown.linkLayerSource,
              careOfAddress: ipv4ToString(shown.careOfAddress),
              homeAgent: ipv4ToString(shown.homeAgent),
              identification: identificationToHex(shown.identification),
            }),
        ...(c.current === undefined ? {} : { lifetime: c.current.lifetime }),
        ...(c.current?.reverseTunnel === undefined ? {} : { reverseTunnel: c.current.reverseTunnel }),
        ...udpTunnelView(this.udpFlows.grantOf(c.homeAddress)),
        remaining: visitorRemainingLifetime(c, now),
        renewalPending: c.current !== undefined && c.pending !== undefined,
      });
    }
    return views;
  }

  /**
   * An administrative removal (`mip4 clear visitor`): the visitor entries of `homeAddress`
   * (one per NAI) go with their delivery route, as at expiry, and their pending registrations
   * with them; no message is sent (as at expiry, R3.7-4). Returns how many entries went.
   */
  clearVisitor(homeAddress: Ipv4Address): number {
    const entries = [...this.visitorsByKey.values()].filter((actor) => actor.snapshot.context.homeAddress === homeAddress);
    if (entries.length === 0) return 0;
    for (const pending of this.pendingOf(homeAddress)) this.pendingHost.stop(pending);
    for (const actor of entries) this.visitorHost.stop(actor);
    this.routes.delete(homeAddress | 0);
    this.options.fastPath?.visitorGone(homeAddress);
    this.removeReverseTunnel(homeAddress);
    this.emit({ event: 'visitor-cleared', at: this.options.clock.now(), by: 'operator', homeAddress: ipv4ToString(homeAddress), entries: entries.length });
    return entries.length;
  }

  /** The sizes of the agent's tables (for metrics; each is bounded whatever arrives). */
  tableSizes(): ForeignAgentTableSizes {
    return {
      visitors: this.visitorsByKey.size,
      pending: this.pendingHost.size,
      pendingTallyKeys: this.pendingTally.keys,
      recentDenials: this.recentDenials.size,
      routes: this.routes.size,
    };
  }

  /** The reverse tunnel of a registered visitor granted 'T' (RFC 3024), if any. */
  reverseTunnelOf(homeAddress: Ipv4Address): ReverseTunnel | undefined {
    return this.reverseTunnels.get(homeAddress | 0);
  }

  /** The registration in force decides: 'T' granted → its tunnel, else none (a renewal may drop it). */
  private installReverseTunnel(homeAddress: Ipv4Address, current: VisitorContext['current']): void {
    const grant = current?.reverseTunnel;
    if (current === undefined || grant === undefined) {
      this.removeReverseTunnel(homeAddress);
      return;
    }
    this.options.visitorCapture?.capture(homeAddress, current.linkLayerSource);
    this.reverseTunnels.set(homeAddress | 0, {
      homeAgent: current.homeAgent,
      careOfAddress: current.careOfAddress,
      encapsulation: grant.encapsulation,
      delivery: grant.delivery,
      ...(this.udpFlows.homeAgentOf(homeAddress) === undefined ? {} : { udp: true }),
    });
  }

  private removeReverseTunnel(homeAddress: Ipv4Address): void {
    if (this.reverseTunnels.delete(homeAddress | 0)) this.options.visitorCapture?.release(homeAddress);
  }

  /** What the visitor link's reader did to undo offloads (GSO, partial checksums); undefined on links without any. */
  visitorLinkOffloads(): LinkOffloadCounters | undefined {
    return this.link?.offloads?.();
  }

  /** The link-layer address datagrams for `homeAddress` are delivered to, if it is a registered visitor. */
  visitorLinkAddress(homeAddress: Ipv4Address): MacAddress | undefined {
    return this.routes.get(homeAddress | 0);
  }

  // --- the visitor link ------------------------------------------------------------------------

  /**
   * One frame received on the visitor link. Never throws on what arrives. `info` is what the
   * link knows beyond the bytes (io/link.ts FrameInfo).
   */
  handleFrame(frame: Uint8Array, info?: FrameInfo): void {
    if (this.link === undefined || this.closed) return;
    this.counters.frames++;
    if (frame.length < ETHERNET_HEADER_LENGTH || ethernetEtherType(frame, 0) !== EtherType.IPv4) return;
    const linkSource = ethernetSource(frame, 0);
    if (linkSource === this.link.mac) return; // our own transmissions, looped back by some links
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!packet.ok || !packet.value.header.checksumValid) return;
    const { header, payload } = packet.value;
    if (header.protocol === IpProtocol.ICMP && payload[0] === IcmpType.RouterSolicitation) {
      this.solicitation(payload, header.source, linkSource);
      return;
    }
    if (this.reverseTunnels.size > 0 && this.reverseTunnelFrame(frame, header.source, header.destination, linkSource, info)) return;
    if (header.protocol !== IpProtocol.UDP) return;
    const destination = header.destination >>> 0;
    if (!(this.ownAddresses.has(destination | 0) || destination === ALL_MOBILITY_AGENTS || destination === LIMITED_BROADCAST)) return;
    const udp = decodeUdpDatagram(payload);
    if (!udp.ok || udp.value.header.destinationPort !== MOBILE_IP_PORT) return;
    if (udp.value.payload[0] !== REGISTRATION_REQUEST) return;
    const trace = this.nextTrace();
    try {
      this.request(trace, {
        data: udp.value.payload,
        // 3.7.2.1 discards a Request whose UDP checksum is invalid; a checksum the link reports
        // not yet computed (a sender on this same host left it to offload, io/link.ts) is not
        // invalid but unverifiable, so only that frame skips the check.
        udpChecksumValid:
          info?.checksumNotReady === true || verifyUdpChecksum(header.source, header.destination, payload, 0, udp.value.header.length),
        source: header.source >>> 0,
        destination,
        sourcePort: udp.value.header.sourcePort,
        linkSource,
        ttl: header.ttl,
      });
    } catch (error) {
      this.discard(trace, ipv4ToString(header.source), 'internal-error', (error as Error).stack ?? String(error), false, udp.value.payload);
    }
  }

  /**
   * A datagram of a visitor granted 'T', addressed elsewhere than this agent, goes into the
   * data plane's reverse tunnel (RFC 3024 delivery styles). RFC 3024 has the agent recognise the node by
   * its home address and link-layer address together: the same source from another station is
   * neither tunnelled nor forwarded (the capture drops it), only counted. True when taken.
   */
  private reverseTunnelFrame(frame: Uint8Array, source: Ipv4Address, destination: Ipv4Address, linkSource: MacAddress, info?: FrameInfo): boolean {
    if (this.ownAddresses.has(destination | 0) || this.reverseTunnels.get(source | 0) === undefined) return false;
    // The link's own traffic (a Request to 224.0.0.11, broadcasts) is this agent's to handle, never the tunnel's.
    if (destination >>> 0 === LIMITED_BROADCAST || destination >>> 8 === 0xe00000) return false;
    if (this.routes.get(source | 0) !== linkSource) {
      this.reverseTunnelCounters.wrongLinkSource++;
      return true;
    }
    let bytes = frame.subarray(ETHERNET_HEADER_LENGTH);
    // A sender on this host left its TCP/UDP checksum to offload and the link's reader could not
    // finish it (io/linux completes what PACKET_VNET_HDR describes): the tunnel carries the
    // datagram to another host, which would drop it, so it is completed on a copy here (the
    // frame is the link's, seen by its other handlers too).
    if (info?.checksumNotReady === true) {
      if (this.checksumScratch.length < bytes.length) this.checksumScratch = new Uint8Array(bytes.length);
      const copy = this.checksumScratch.subarray(0, bytes.length);
      copy.set(bytes);
      if (completeTransportChecksum(copy)) {
        this.reverseTunnelCounters.checksumsCompleted++;
        bytes = copy;
      }
    }
    const linkBroadcast = (frame[0]! & 1) !== 0;
    this.tunnelInput.next([{ bytes, ingress: 'visitors', ...(linkBroadcast ? { linkBroadcast } : {}) }]);
    return true;
  }

  private solicitation(icmp: Uint8Array, source: Ipv4Address, linkSource: MacAddress): void {
    const decoded = decodeAgentSolicitation(icmp);
    // RFC 1256 6.1.1 (2.2 keeps it): an invalid checksum is silently discarded.
    if (!decoded.ok || !decoded.value.checksumValid || this.advertiser === undefined) return;
    this.counters.solicitations++;
    this.advertiserHost.send(this.advertiser, {
      type: 'solicitation',
      source: source >>> 0,
      linkLayerSource: linkSource,
      random: this.options.random32() >>> 0,
      at: this.options.clock.now(),
    });
  }

  private request(
    trace: string,
    received: { data: Uint8Array; udpChecksumValid: boolean; source: Ipv4Address; destination: Ipv4Address; sourcePort: number; linkSource: MacAddress; ttl: number },
  ): void {
    this.counters.requests++;
    const from = `${ipv4ToString(received.source)}:${received.sourcePort} (${received.linkSource})`;
    const decoded = decodeRegistrationRequest(received.data, 0, received.data.length);
    if (!decoded.ok) {
      const { reason, offset, message } = decoded.error;
      this.discard(trace, from, 'malformed', `${reason} at offset ${offset}: ${message}`, false, received.data);
      return;
    }
    const request = decoded.value;
    const nai = messageNai(request.extensions);
    const nodeKey = nodeKeyOf(request.homeAddress, nai);
    const visitor = this.visitorsByKey.get(nodeKey);
    const mobileNode = this.mobileNodes.get(request.homeAddress | 0);
    const now = this.options.clock.now();
    const lastDenialAtMs = this.recentDenials.get(request.homeAddress);
    const replacesPending: ChargedPending[] = [];
    for (const older of this.pendingOf(request.homeAddress)) {
      if (older.owner.nodeKey === nodeKey) replacesPending.push(chargedPending(older));
    }
    const registeredHomeAgent = visitor?.snapshot.context.current?.homeAgent;
    const verdict = checkFaRequest({
      request,
      message: received.data,
      udpChecksumValid: received.udpChecksumValid,
      ipTtl: received.ttl,
      ipSource: received.source,
      ipDestination: received.destination,
      udpSourcePort: received.sourcePort,
      linkLayerSource: received.linkSource,
      settings: this.config.settings,
      ...(mobileNode === undefined ? {} : { mobileNode }),
      ...(this.homeAgents.get(request.homeAgent | 0) === undefined ? {} : { homeAgent: this.homeAgents.get(request.homeAgent | 0)! }),
      pendingUsage: {
        registrations: this.pendingTally.registrations,
        fromLinkSource: this.pendingTally.fromLinkSource(received.linkSource),
        forHomeAddress: this.pendingTally.forHomeAddress(request.homeAddress),
        recentUnknownDeregistrations: this.unknownDeregistrations.count(now),
      },
      replacesPending,
      isVisitor: visitor !== undefined,
      ...(registeredHomeAgent === undefined ? {} : { registeredHomeAgent }),
      nowMs: now,
      ...(lastDenialAtMs === undefined ? {} : { lastDenialAtMs }),
    });
    switch (verdict.kind) {
      case 'discard':
        if (verdict.suppressedReason !== undefined) this.countPendingRefusal(verdict.suppressedReason);
        this.discard(trace, from, verdict.reason, verdict.detail, verdict.securityException, received.data);
        return;
      case 'local-home-agent':
        // Serving as home agent here is not supported by this runtime (module comment).
        this.discard(trace, from, 'local-home-agent', verdict.detail, false, received.data);
        return;
      case 'deny':
        this.countPendingRefusal(verdict.reason);
        this.recentDenials.record(request.homeAddress, now);
        this.sendDenial(trace, verdict.datagram, 'request', verdict.detail, verdict.securityException);
        return;
      case 'relay': {
        const pending = verdict.pending;
        this.sendUdp!(verdict.bytes, verdict.ipDestination, verdict.udpDestinationPort, verdict.ipSource);
        this.counters.relayed++;
        if (verdict.charge === 'deregistration') this.unknownDeregistrations.record(now);
        this.emit({
          event: 'request-relayed',
          trace,
          at: now,
          homeAddress: ipv4ToString(pending.homeAddress),
          homeAgent: ipv4ToString(pending.homeAgent),
          careOfAddress: ipv4ToString(pending.careOfAddress),
          lifetime: pending.requestedLifetime,
          identification: identificationToHex(pending.identification),
          from: pending.linkLayerSource,
          removedExtensions: verdict.removedExtensions,
        });
        // A newer Request from the node replaces its older pending ones: the node waits only
        // for the Reply to its latest (3.6.3 retransmissions carry a new Identification).
        for (const older of this.pendingOf(pending.homeAddress)) {
          if (older.owner.nodeKey === nodeKey) this.pendingHost.send(older, { type: 'superseded', at: now });
        }
        const actor = this.pendingHost.spawn(
          `pending:${ipv4ToString(pending.homeAddress)}#${(pending.identification.low >>> 0).toString(16)}`,
          { pending, relayedAt: now, ...(this.config.pendingTimeoutMs === undefined ? {} : { timeoutMs: this.config.pendingTimeoutMs }) },
          { trace, nodeKey, charge: verdict.charge, tallied: false },
        );
        if (!actor.stopped) {
          actor.owner.tallied = true;
          this.pendingTally.add(chargedPending(actor));
          let set = this.pendingByHome.get(pending.homeAddress | 0);
          if (set === undefined) this.pendingByHome.set(pending.homeAddress | 0, (set = new Set()));
          set.add(actor);
        }
        const visitorRequest = {
          linkLayerSource: pending.linkLayerSource,
          ipSource: pending.ipSource,
          udpSourcePort: pending.udpSourcePort,
          homeAgent: pending.homeAgent,
          careOfAddress: pending.careOfAddress,
          identification: pending.identification,
          requestedLifetime: pending.requestedLifetime,
          at: now,
          ...(pending.reverseTunnel === undefined ? {} : { reverseTunnel: pending.reverseTunnel }),
        };
        if (visitor !== undefined) {
          this.visitorHost.send(visitor, { type: 'request', ...visitorRequest });
        } else if (pending.requestedLifetime !== 0) {
          // A deregistration from a node not in the list has no entry to update (machines/visitor.ts).
          const spawned = this.visitorHost.spawn(
            `visitor:${ipv4ToString(pending.homeAddress)}${nai === undefined ? '' : `/${nai}`}`,
            { homeAddress: pending.homeAddress, ...(nai === undefined ? {} : { nai }), ...visitorRequest },
            { key: nodeKey },
          );
          if (!spawned.stopped) this.visitorsByKey.set(nodeKey, spawned);
        }
        return;
      }
    }
  }

  // --- UDP from home agents ----------------------------------------------------------------------

  /**
   * One datagram received on a UDP 434 socket of the agent. Registration Replies are processed;
   * Requests are left to the link path (see the module comment).
   */
  handleDatagram(datagram: { data: Uint8Array; source: Ipv4Address; sourcePort: number; udpChecksumValid?: boolean }): void {
    if (this.link === undefined || this.closed) return;
    const trace = this.nextTrace();
    const from = `${ipv4ToString(datagram.source)}:${datagram.sourcePort}`;
    const data = datagram.data;
    if (data[0] === TUNNEL_DATA_MESSAGE_TYPE) {
      this.udpTunnelData({ bytes: data, source: datagram.source >>> 0, sourcePort: datagram.sourcePort });
      return;
    }
    if (data[0] === REGISTRATION_REQUEST) {
      this.counters.requestsOnSocket++;
      return;
    }
    if (data[0] !== REGISTRATION_REPLY) {
      this.discard(trace, from, 'not-a-reply', `message type ${data[0] ?? '(empty)'} is not a Registration Reply`, false, data);
      return;
    }
    try {
      this.reply(trace, from, data, datagram.udpChecksumValid ?? true, datagram.source, datagram.sourcePort);
    } catch (error) {
      this.discard(trace, from, 'internal-error', (error as Error).stack ?? String(error), false, data);
    }
  }

  private reply(trace: string, from: string, data: Uint8Array, udpChecksumValid: boolean, source: Ipv4Address, sourcePort: number): void {
    this.counters.replies++;
    const decoded = decodeRegistrationReply(data, 0, data.length);
    if (!decoded.ok) {
      const { reason, offset, message } = decoded.error;
      this.discard(trace, from, 'malformed', `${reason} at offset ${offset}: ${message}`, false, data);
      return;
    }
    const reply = decoded.value;
    const candidates = [...this.pendingOf(reply.homeAddress), ...(reply.homeAddress === 0 ? [] : this.pendingOf(0))];
    const actorOf = new Map<PendingRegistration, PendingActor>(candidates.map((a) => [a.snapshot.context.pending, a]));
    const homeAgent = this.homeAgents.get(reply.homeAgent | 0);
    const verdict = checkFaReply({
      reply,
      message: data,
      udpChecksumValid,
      source,
      sourcePort,
      pending: candidates.map((a) => a.snapshot.context.pending),
      ...(homeAgent === undefined ? {} : { homeAgent }),
      mobileNodeOf: (p) => this.mobileNodes.get(p.homeAddress | 0),
      settings: this.config.settings,
    });
    const now = this.options.clock.now();
    switch (verdict.kind) {
      case 'discard':
        this.discard(trace, from, verdict.reason, verdict.detail, verdict.securityException, data);
        return;
      case 'reject': {
        // The pending actor sends the 68/71 itself (its sendDenial command) and the visitor
        // entry keeps what it had (R3.7.2-7).
        const actor = actorOf.get(verdict.pending)!;
        const visitor = this.visitorOf(actor);
        if (visitor !== undefined) this.visitorHost.send(visitor, { type: 'denied', code: verdict.code, at: now });
        this.pendingHost.send(actor, { type: 'reply-rejected', code: verdict.code, at: now });
        return;
      }
      case 'relay': {
        const actor = actorOf.get(verdict.pending)!;
        this.counters.repliesRelayed++;
        this.emit({
          event: 'reply-relayed',
          trace: actor.owner.trace,
          at: now,
          code: verdict.code,
          text: replyCodeText(verdict.code),
          homeAddress: ipv4ToString(reply.homeAddress),
          lifetime: reply.lifetime,
          to: verdict.datagram.linkLayerDestination,
        });
        const visitor = this.visitorOf(actor);
        this.pendingHost.send(actor, { type: 'answered', code: verdict.code, at: now });
        if (visitor !== undefined) {
          const update = verdict.visitorUpdate;
          if (update.kind === 'register') this.udpTunnelReplied(reply, verdict.pending);
          const v = visitor;
          if (update.kind === 'register') this.visitorHost.send(v, { type: 'accepted', lifetime: update.lifetime, at: now });
          else if (update.kind === 'deregister') this.visitorHost.send(v, { type: 'accepted', lifetime: 0, at: now });
          else this.visitorHost.send(v, { type: 'denied', code: verdict.code, at: now });
        }
        // After the visitor entry's store write (its 'accepted' step queues it): the Reply
        // waits for that write to be durable.
        const datagram = verdict.datagram;
        if (this.options.whenDurable === undefined) this.sendToNode(datagram);
        else this.options.whenDurable(() => this.sendToNode(datagram));
        return;
      }
    }
  }

  // --- UDP tunnelling (RFC 3519) ----------------------------------------------------------------

  /** The accepted Reply being relayed: what it says about the UDP tunnelling this agent asked for (policies/fa-udp-tunnel.ts). */
  private udpTunnelReplied(reply: RegistrationReply, pending: PendingRegistration): void {
    const outcome = faUdpTunnelOutcome(reply, pending.udpTunnelRequested === true);
    if (outcome.kind === 'granted') {
      this.udpFlows.replied(pending.homeAddress, { homeAgent: pending.homeAgent, careOfAddress: pending.careOfAddress, keepaliveInterval: outcome.keepaliveInterval });
    } else if (outcome.kind === 'not-granted') {
      this.udpFlows.replied(pending.homeAddress, null);
    }
  }

  /**
   * A tunnel data message (RFC 3519 3.3) received on a 434 socket: taken apart and delivered
   * (runtime/dataplane/fa-udp-tunnel.ts), now or with the rest of its wakeup's batch.
   */
  private udpTunnelData(packet: UdpTunnelPacket): void {
    this.udpFlows.counters.tunnelDataReceived++;
    if (this.options.batchUdpTunnel !== true) {
      this.handleUdpTunnelBatch([packet]);
      return;
    }
    if (this.udpTunnelQueue.length === 0) queueMicrotask(() => this.flushUdpTunnel());
    this.udpTunnelQueue.push(packet);
  }

  private flushUdpTunnel(): void {
    const batch = this.udpTunnelQueue;
    this.udpTunnelQueue = [];
    this.handleUdpTunnelBatch(batch);
  }

  /**
   * Datagrams per send = dataSent / dataSendTurns (udpFlows.counters): the 434 socket sends what
   * one turn of the event loop queued with one sendmmsg (io/linux/udp.ts), so a turn is a send.
   */
  private countUdpTunnelSends(datagrams: number): void {
    const counters = this.udpFlows.counters;
    if (!this.udpSendTurnOpen) {
      this.udpSendTurnOpen = true;
      counters.dataSendTurns++;
      queueMicrotask(this.closeUdpSendTurn);
    }
    counters.dataSent += datagrams;
  }

  /** A batch of tunnel data messages (UDP payloads with their senders) into the visitors' link. */
  handleUdpTunnelBatch(batch: readonly UdpTunnelPacket[]): void {
    if (this.closed || batch.length === 0) return;
    const out = decapsulateUdpTunnelBatch(
      {
        pool: this.dataPlane.pool,
        counters: this.dataPlane.counters,
        visitors: (homeAddress) => this.routes.get(homeAddress | 0),
        udpHomeAgentOf: (homeAddress) => this.udpFlows.homeAgentOf(homeAddress),
      },
      batch,
    );
    this.deliver(out);
  }

  // --- ICMP errors about relayed Requests (3.7.3) -----------------------------------------------

  /** One ICMP datagram (IPv4 header first) received by the agent's raw ICMP socket. Never throws. */
  handleIcmp(datagram: Uint8Array): void {
    if (this.link === undefined || this.closed) return;
    const packet = decodeIpv4Packet(datagram, 0, datagram.length);
    if (!packet.ok || !packet.value.header.checksumValid || packet.value.header.protocol !== IpProtocol.ICMP) return;
    const type = packet.value.payload[0];
    if (type !== IcmpType.DestinationUnreachable && type !== IcmpType.TimeExceeded) return;
    this.counters.icmpErrors++;
    const error = decodeIcmpError(packet.value.payload);
    if (!error.ok || !error.value.checksumValid) return;
    const quote = quotedRelayedRequest(error.value.original, this.ownAddresses);
    if (quote === undefined) return; // about other traffic of this host
    const from = ipv4ToString(packet.value.header.source);
    const { icmpType, code } = error.value;
    const pool = quote.homeAddress === undefined ? [...this.pendingByHome.values()].flatMap((set) => [...set]) : this.pendingOf(quote.homeAddress);
    const byPending = new Map<PendingRegistration, PendingActor>(pool.map((a) => [a.snapshot.context.pending, a]));
    const matched = pendingForIcmpError(quote, byPending.keys());
    if (matched.length === 0) {
      this.discard(
        this.nextTrace(),
        from,
        'icmp-error-unmatched',
        `ICMP type ${icmpType} code ${code} quotes a Registration Request to ${ipv4ToString(quote.homeAgent)}${
          quote.homeAddress === undefined ? '' : ` for ${ipv4ToString(quote.homeAddress)}`
        } that is not pending here (RFC 5944 3.7.3)`,
        false,
        datagram,
      );
      return;
    }
    const now = this.options.clock.now();
    for (const pending of matched) {
      const actor = byPending.get(pending)!;
      this.counters.icmpErrorsMatched++;
      this.emit({
        event: 'icmp-error',
        trace: actor.owner.trace,
        at: now,
        from,
        icmpType,
        icmpCode: code,
        homeAddress: ipv4ToString(pending.homeAddress),
        homeAgent: ipv4ToString(pending.homeAgent),
      });
      this.pendingHost.send(actor, { type: 'icmp-error', icmpType, icmpCode: code, at: now });
    }
  }

  // --- tunnels -----------------------------------------------------------------------------------

  /** One IPv4 datagram (header first) received by a raw socket for protocol 4, 55 or 47. */
  handleTunnelPacket(datagram: Uint8Array): void {
    if (this.closed) return;
    this.tunnelInput.next([{ bytes: datagram }]);
  }

  /** A batch of tunnel datagrams in the data plane's form (a batched raw-socket reader converts to it). */
  handleTunnelBatch(batch: PacketBatch): void {
    if (this.closed) return;
    this.tunnelInput.next(batch);
  }

  private deliver(batch: OutputBatch): void {
    const link = this.link;
    try {
      if (link === undefined) return;
      let now = -1;
      let udpSent = 0;
      for (const out of batch.packets) {
        if (out.kind === 'send-ip') {
          this.reverseTunnelCounters.tunnelled++;
          if (ipv4Protocol(out.bytes, 0) !== IpProtocol.UDP) {
            this.sendIp?.(out.bytes, out.destination);
            continue;
          }
          // RFC 3519 4.2: a tunnel data message over the registration's flow. Its UDP payload goes
          // through the care-of address's 434 socket, the 5-tuple the NAT mapped; the socket queues
          // what one turn sends and leaves with one sendmmsg (io/linux/udp.ts).
          this.sendUdpDirect?.(out.bytes.subarray(UDP_TUNNEL_PAYLOAD_OFFSET), out.destination, MOBILE_IP_PORT, ipv4Source(out.bytes, 0));
          udpSent++;
          if (now < 0) now = this.options.clock.now();
          this.udpFlows.sentFor(out.homeAddress, now);
          continue;
        }
        if (out.kind === 'icmp') {
          // An ICMP error about a visitor's datagram (Time Exceeded, Fragmentation Needed) goes back on the link.
          const mac = this.routes.get(out.destination | 0);
          if (mac === undefined) continue;
          const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + out.bytes.length);
          encodeEthernetHeader(mac, link.mac, EtherType.IPv4, frame, 0);
          frame.set(out.bytes, ETHERNET_HEADER_LENGTH);
          link.send(frame);
          continue;
        }
        if (out.kind !== 'deliver') continue;
        // 4.2.2: to the visitor's link-layer address, never an ARP for its home address.
        const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + out.bytes.length);
        encodeEthernetHeader(out.linkAddress, link.mac, EtherType.IPv4, frame, 0);
        frame.set(out.bytes, ETHERNET_HEADER_LENGTH);
        link.send(frame);
        this.counters.tunnelDelivered++;
      }
      if (udpSent > 0 && this.sendUdpDirect !== undefined) this.countUdpTunnelSends(udpSent);
    } finally {
      batch.release();
    }
  }

  // --- commands ----------------------------------------------------------------------------------

  private onAdvertiserCommands(commands: readonly AdvertiserCommand[]): void {
    for (const command of commands) {
      if (command.type !== 'sendAdvertisement') continue;
      this.sendAdvertisement(command.params);
    }
  }

  private sendAdvertisement(params: SendAdvertisementParams): void {
    const link = this.link;
    if (link === undefined) return;
    const s = this.config.settings;
    const a = this.config.advertisement;
    const advertisement = buildFaAdvertisement(
      {
        careOfAddresses: s.careOfAddresses,
        registrationLifetime: s.registrationLifetime,
        busy: params.busy,
        encapsulations: s.encapsulations,
        reverseTunneling: s.reverseTunneling,
        udpTunnelling: s.udpTunnel === 'auto' || s.udpTunnel === 'force',
        advertisementLifetime: a.lifetimeSeconds,
        ...(a.registrationRequired === undefined ? {} : { registrationRequired: a.registrationRequired }),
        ...(a.routesCommonTraffic === undefined ? {} : { routesCommonTraffic: a.routesCommonTraffic }),
        ...(a.routers === undefined ? {} : { routers: a.routers }),
        ...(a.prefixLengths === undefined ? {} : { prefixLengths: a.prefixLengths }),
      },
      params.sequence,
    );
    // 2.1 (R2.1-2): the IP TTL of an Agent Advertisement is 1.
    const { frame, destinationMac } = agentAdvertisementFrame(advertisement, {
      sourceMac: link.mac,
      source: s.linkAddress,
      destination: params.destination,
      ...(params.linkLayerDestination === undefined ? {} : { linkLayerDestination: params.linkLayerDestination }),
    });
    link.send(frame);
    this.counters.advertisements++;
    this.emit({
      event: 'advertisement',
      at: this.options.clock.now(),
      sequence: params.sequence,
      destination: ipv4ToString(params.destination),
      linkLayerDestination: destinationMac,
    });
  }

  private onPendingCommands(actor: PendingActor, commands: readonly FaPendingCommand[]): void {
    for (const command of commands) {
      if (command.type !== 'sendDenial') continue;
      const code = command.params.code;
      const pending = actor.snapshot.context.pending;
      const datagram = buildFaDenial(pending, code, pending.requestedLifetime, this.config.settings, this.mobileNodes.get(pending.homeAddress | 0));
      const rejected = code === 68 || code === 71;
      this.sendDenial(actor.owner.trace, datagram, rejected ? 'reply-rejected' : 'pending-ended', undefined, rejected && code === 68);
      // A timeout or ICMP error ends the pending part of the visitor entry (68/71 were sent to it already).
      const visitor = rejected ? undefined : this.visitorOf(actor);
      if (visitor !== undefined) this.visitorHost.send(visitor, { type: 'pending-failed', code, at: this.options.clock.now() });
    }
  }

  private onVisitorCommands(actor: VisitorActor, commands: readonly VisitorCommand[]): void {
    for (const command of commands) {
      if (command.type === 'installVisitorRoute') {
        const { homeAddress, linkLayerAddress } = command.params;
        this.routes.set(homeAddress | 0, linkLayerAddress);
        const current = actor.snapshot.context.current;
        if (current !== undefined) this.udpFlows.installed(homeAddress, current.homeAgent, current.careOfAddress);
        this.installReverseTunnel(homeAddress, actor.snapshot.context.current);
        this.tellFastPath(homeAddress);
        if (!this.restoring) this.storeVisitor(actor);
      } else if (command.type === 'removeVisitorRoute') {
        this.routes.delete(command.params.homeAddress | 0);
        this.options.fastPath?.visitorGone(command.params.homeAddress);
        this.udpFlows.removed(command.params.homeAddress);
        this.removeReverseTunnel(command.params.homeAddress);
        if (!this.restoring) this.options.onStoreWrite?.({ op: 'delete-visitor', key: actor.owner.key });
      }
    }
  }

  /** The kernel fast path hears the entry in force once the agent's own MAC is known (start). */
  private tellFastPath(homeAddress: Ipv4Address): void {
    const linkLayerAddress = this.routes.get(homeAddress | 0);
    const reverseTunnel = this.reverseTunnels.get(homeAddress | 0);
    if (this.options.fastPath === undefined || this.link === undefined || linkLayerAddress === undefined) return;
    const visitor: FastPathVisitor = {
      homeAddress: homeAddress >>> 0,
      linkLayerAddress,
      ownLinkAddress: this.link.mac,
      udpTunnelled: this.udpFlows.homeAgentOf(homeAddress) !== undefined,
      ...(reverseTunnel === undefined ? {} : { reverseTunnel }),
    };
    // A renewal may move an entry the kernel served to userspace (a UDP grant): forget it there.
    if (kernelServesVisitor(visitor).kernel) this.options.fastPath.visitorCurrent(visitor);
    else this.options.fastPath.visitorGone(visitor.homeAddress);
  }

  /** The entry's registration in force, for the store (read after the step that installed it). */
  private storeVisitor(actor: VisitorActor): void {
    if (this.options.onStoreWrite === undefined) return;
    const c = actor.snapshot.context;
    const current = c.current;
    if (current === undefined) return;
    const entry: StoredVisitorEntry = {
      homeAddress: c.homeAddress,
      ...(c.nai === undefined ? {} : { nai: c.nai }),
      linkLayerSource: current.linkLayerSource,
      ipSource: current.ipSource,
      udpSourcePort: current.udpSourcePort,
      homeAgent: current.homeAgent,
      careOfAddress: current.careOfAddress,
      identification: { high: current.identification.high, low: current.identification.low },
      ...(current.reverseTunnel === undefined ? {} : { reverseTunnel: { encapsulation: current.reverseTunnel.encapsulation, delivery: current.reverseTunnel.delivery } }),
      ...udpTunnelView(this.udpFlows.grantOf(c.homeAddress)),
    };
    this.options.onStoreWrite({ op: 'put-visitor', visitor: { key: actor.owner.key, expiresAt: current.expiresAt, entry } });
  }

  /**
   * Brings back a stored visitor list (call before the agent is started): each unexpired entry
   * through the path a relayed registration takes (its Request pending, then accepted with the
   * lifetime it has left), so its delivery route is back. Expired entries, and entries for a
   * care-of address this agent no longer offers, are dropped; their deletes are returned.
   */
  restore(visitors: readonly StoredVisitor[]): { readonly outcome: VisitorRestoreOutcome; readonly deletes: readonly StoreWrite[] } {
    const now = this.options.clock.now();
    const careOfAddresses = new Set(this.config.settings.careOfAddresses.map((a) => a | 0));
    const deletes: StoreWrite[] = [];
    const unknown: string[] = [];
    let restored = 0;
    let expiredDropped = 0;
    let unknownNodeDropped = 0;
    this.restoring = true;
    try {
      for (const stored of visitors) {
        const entry = stored.entry as StoredVisitorEntry | undefined;
        const drop = { op: 'delete-visitor', key: stored.key } as const;
        if (entry === undefined || typeof entry.homeAddress !== 'number' || !careOfAddresses.has(entry.careOfAddress | 0) || this.visitorsByKey.has(stored.key)) {
          unknownNodeDropped++;
          if (entry !== undefined && typeof entry.homeAddress === 'number') unknown.push(ipv4ToString(entry.homeAddress));
          deletes.push(drop);
          continue;
        }
        const left = stored.expiresAt === Infinity ? VISITOR_INFINITE_LIFETIME : Math.ceil((stored.expiresAt - now) / 1000);
        if (left <= 0) {
          expiredDropped++;
          deletes.push(drop);
          continue;
        }
        const lifetime = Math.min(left, VISITOR_INFINITE_LIFETIME);
        const request = {
          linkLayerSource: entry.linkLayerSource,
          ipSource: entry.ipSource,
          udpSourcePort: entry.udpSourcePort,
          homeAgent: entry.homeAgent,
          careOfAddress: entry.careOfAddress,
          identification: entry.identification,
          requestedLifetime: lifetime,
          at: now,
          ...(storedReverseTunnel(entry.reverseTunnel) ?? {}),
        };
        const actor = this.visitorHost.spawn(
          `visitor:${ipv4ToString(entry.homeAddress)}${entry.nai === undefined ? '' : `/${entry.nai}`}`,
          { homeAddress: entry.homeAddress, ...(entry.nai === undefined ? {} : { nai: entry.nai }), ...request },
          { key: stored.key },
        );
        // RFC 3519: the home agent keeps tunnelling over UDP to the NAT's mapping; so does the flow here.
        const udp = entry.udpTunnel;
        if (udp !== undefined && Number.isInteger(udp.keepaliveInterval) && udp.keepaliveInterval > 0 && udp.keepaliveInterval <= 0xffff) {
          this.udpFlows.restored(entry.homeAddress, { homeAgent: entry.homeAgent, careOfAddress: entry.careOfAddress, keepaliveInterval: udp.keepaliveInterval });
        }
        this.visitorHost.send(actor, { type: 'accepted', lifetime, at: now });
        if (actor.stopped) continue;
        this.visitorsByKey.set(stored.key, actor);
        restored++;
      }
    } finally {
      this.restoring = false;
    }
    return { outcome: { bindings: restored, expiredDropped, unknownNodeDropped, unknownHomeAddresses: unknown }, deletes };
  }

  // --- helpers -----------------------------------------------------------------------------------

  private pendingOf(homeAddress: Ipv4Address): PendingActor[] {
    const set = this.pendingByHome.get(homeAddress | 0);
    return set === undefined ? [] : [...set];
  }

  private forgetPending(actor: PendingActor): void {
    if (actor.owner.tallied) {
      actor.owner.tallied = false;
      this.pendingTally.remove(chargedPending(actor));
    }
    const home = actor.snapshot.context.pending.homeAddress | 0;
    const set = this.pendingByHome.get(home);
    if (set === undefined) return;
    set.delete(actor);
    if (set.size === 0) this.pendingByHome.delete(home);
  }

  /** The visitor entry a pending registration belongs to. */
  private visitorOf(actor: PendingActor): VisitorActor | undefined {
    return this.visitorsByKey.get(actor.owner.nodeKey);
  }

  private sendToNode(datagram: FaReplyDatagram): void {
    // A Reply held for the store's commit may be released after the link closed.
    const link = this.link;
    if (link === undefined) return;
    // 3.7.2.3 / 4.2.2: to the node's link-layer address, without ARP.
    link.send(
      udpFrame(
        { sourceMac: link.mac, destinationMac: datagram.linkLayerDestination, source: datagram.ipSource, destination: datagram.ipDestination },
        datagram.udpSourcePort,
        datagram.udpDestinationPort,
        datagram.bytes,
      ),
    );
  }

  private sendDenial(
    trace: string,
    datagram: FaReplyDatagram,
    cause: 'request' | 'reply-rejected' | 'pending-ended',
    detail: string | undefined,
    securityException: boolean,
  ): void {
    this.sendToNode(datagram);
    const code = datagram.reply.code;
    this.counters.denied++;
    this.counters.deniedByCode[code] = (this.counters.deniedByCode[code] ?? 0) + 1;
    this.emit({
      event: 'denial',
      trace,
      at: this.options.clock.now(),
      code,
      text: replyCodeText(code),
      cause,
      homeAddress: ipv4ToString(datagram.reply.homeAddress),
      to: datagram.linkLayerDestination,
      ...(detail === undefined ? {} : { detail }),
      ...(securityException ? { securityException } : {}),
    });
  }

  private countPendingRefusal(reason: string): void {
    if (!isPendingBudgetRefusal(reason)) return;
    this.counters.pendingRefusals[reason] = (this.counters.pendingRefusals[reason] ?? 0) + 1;
  }

  private discard(trace: string, from: string, reason: string, detail: string, securityException: boolean, data: Uint8Array): void {
    this.counters.discarded++;
    this.counters.discardedByReason[reason] = (this.counters.discardedByReason[reason] ?? 0) + 1;
    if (this.eventSubject.observed) {
      this.eventSubject.next({ event: 'discard', trace, at: this.options.clock.now(), reason, detail, from, securityException, datagram: hexPrefix(data) });
    }
  }

  private emit(event: ForeignAgentEvent): void {
    if (this.eventSubject.observed) this.eventSubject.next(event);
  }

  private nextTrace(): string {
    return `fa-${this.options.tracePrefix ?? ''}${(++this.traceCounter).toString(36)}`;
  }
}

/** A stored row's reverse tunnel, when it is one this version can read. */
function storedReverseTunnel(stored: unknown): { reverseTunnel: NonNullable<StoredVisitorEntry['reverseTunnel']> } | undefined {
  if (typeof stored !== 'object' || stored === null) return undefined;
  const { encapsulation, delivery } = stored as Record<string, unknown>;
  if (encapsulation !== 'ip-in-ip' && encapsulation !== 'minimal' && encapsulation !== 'gre') return undefined;
  if (delivery !== 'direct' && delivery !== 'encapsulating') return undefined;
  return { reverseTunnel: { encapsulation, delivery } };
}

/** Where a UDP reverse-tunnelled output's UDP payload (the tunnel data message) starts: after the IPv4 and UDP headers the plane wrote. */
const UDP_TUNNEL_PAYLOAD_OFFSET = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;

function udpTunnelView(grant: { readonly keepaliveInterval: number } | undefined): { udpTunnel?: { keepaliveInterval: number } } {
  return grant === undefined ? {} : { udpTunnel: { keepaliveInterval: grant.keepaliveInterval } };
}

// --- on sockets, a link and raw IP ---------------------------------------------------------------

export interface ServeForeignAgentOptions {
  /** The interface of the visitor link, e.g. "eth1". */
  readonly interfaceName: string;
}

/**
 * Acquires, in the current Scope: the visitor link, one UDP 434 socket per agent address
 * (care-of addresses and the link address), one raw socket per tunnel protocol the agent
 * decapsulates (4 always, 55 with minimal, 47 with GRE, 4.1) and one for ICMP (errors about
 * relayed Requests, 3.7.3). Then starts the agent.
 */
export function serveForeignAgent(
  agent: ForeignAgent,
  settings: FaSettings,
  options: ServeForeignAgentOptions,
): Effect.Effect<{ link: LinkInterface; sockets: UdpSocket[] }, UdpError | LinkError | RawIpError, Udp | Link | RawIp | Scope.Scope> {
  return Effect.gen(function* () {
    const linkService = yield* Link;
    const udp = yield* Udp;
    const rawIp = yield* RawIp;
    const link = yield* linkService.open(options.interfaceName);
    const addresses = [...new Set([...settings.careOfAddresses, settings.linkAddress].map((a) => a >>> 0))];
    const sockets: UdpSocket[] = [];
    for (const address of addresses) sockets.push(yield* udp.bind({ address, port: MOBILE_IP_PORT, broadcast: true }));
    const protocols: number[] = [IpProtocol.IPIP];
    if (settings.encapsulations.minimal) protocols.push(IpProtocol.MINIMAL_ENCAPSULATION);
    if (settings.encapsulations.gre) protocols.push(IpProtocol.GRE);
    let tunnelSender: RawIpSocket | undefined;
    for (const protocol of protocols) {
      // The IP-in-IP socket also sends the reverse tunnels (RFC 3024): with the header included,
      // the header the data plane wrote (protocol 4, 55 or 47) is what leaves.
      const socket = yield* rawIp.open(protocol, protocol === IpProtocol.IPIP ? { headerIncluded: true } : {});
      if (protocol === IpProtocol.IPIP) tunnelSender = socket;
      socket.onPacket((datagram) => agent.handleTunnelPacket(datagram));
      const drops = socket.receiveQueueDrops?.bind(socket);
      if (drops !== undefined) agent.kernelDrops.add('kernel-tunnel-receive-queue', drops);
    }
    // ICMP errors instead of a home agent's Reply (3.7.3).
    const icmp = yield* rawIp.open(IpProtocol.ICMP);
    icmp.onPacket((datagram) => agent.handleIcmp(datagram));
    for (const socket of sockets) {
      socket.onMessage((d) => agent.handleDatagram({ data: d.data, source: d.address, sourcePort: d.port }));
    }
    link.onFrame((frame, info) => agent.handleFrame(frame, info));
    const linkDrops = link.receiveQueueDrops?.bind(link);
    if (linkDrops !== undefined) agent.kernelDrops.add('kernel-link-receive-queue', linkDrops);
    // The relayed Request leaves from the socket of its care-of address (3.7.2.2: IP source =
    // the care-of address), so the home agent's Reply comes back to it.
    // By address, looked up per datagram: the reverse tunnel over UDP sends through these too.
    const socketOf = new Map<number, UdpSocket>(sockets.map((s) => [s.localAddress | 0, s]));
    agent.start(
      link,
      (data, destination, port, source) => {
        const socket = socketOf.get(source | 0) ?? sockets[0];
        socket?.send(data, destination, port);
      },
      (datagram, destination) => tunnelSender?.send(datagram, destination),
    );
    return { link, sockets };
  });
}

export interface RunningForeignAgent {
  readonly agent: ForeignAgent;
  readonly link: LinkInterface;
  readonly sockets: readonly UdpSocket[];
  /** What the store gave back at start, when started with one. */
  readonly restored: (VisitorRestoreOutcome & { readonly ms: number }) | undefined;
  /** Stops timers, commits what waits, and releases the link, the sockets and the store. */
  stop(): Promise<void>;
}

export interface StartForeignAgentOptions {
  readonly interfaceName: string;
  readonly udp: Layer.Layer<Udp>;
  readonly link: Layer.Layer<Link>;
  readonly rawIp: Layer.Layer<RawIp>;
  readonly clock?: Clock;
  readonly random32?: () => number;
  readonly tracePrefix?: string;
  /**
   * Keep the visitor list here (runtime/store/): restored before the link and sockets open,
   * each change committed at the end of the turn it happened in. Closed by stop().
   */
  readonly store?: BindingStore;
  /** A commit failed (logged by the daemon). */
  readonly onStoreError?: (error: unknown) => void;
  /** Keeps the host from forwarding reverse-tunnelled datagrams (runtime/fa/visitor-capture.ts); closed by stop(). */
  readonly visitorCapture?: VisitorCapture;
  /** The kernel fast path (dataPath.engine bpf); closed by stop(). */
  readonly fastPath?: VisitorFastPath;
  /** The MTU of the path to home agents for reverse tunnels (default 1500). */
  readonly tunnelMtu?: number;
  /** Gather tunnel data messages (RFC 3519) per socket wakeup (ForeignAgentOptions.batchUdpTunnel; the Linux daemon's). */
  readonly batchUdpTunnel?: boolean;
}

/**
 * Starts a foreign agent: the library entry point. Rejects with the UdpError, LinkError or
 * RawIpError of the first resource that cannot be acquired; nothing stays open then.
 */
export async function startForeignAgent(config: FaConfig, options: StartForeignAgentOptions): Promise<RunningForeignAgent> {
  const store = options.store;
  const groupCommit = store === undefined ? undefined : new GroupCommit(store, (error) => options.onStoreError?.(error));
  const agent = new ForeignAgent(config, {
    clock: options.clock ?? new RealClock(),
    random32: options.random32 ?? secureRandom32,
    ...(options.tracePrefix !== undefined ? { tracePrefix: options.tracePrefix } : {}),
    ...(options.visitorCapture !== undefined ? { visitorCapture: options.visitorCapture } : {}),
    ...(options.fastPath !== undefined ? { fastPath: options.fastPath } : {}),
    ...(options.tunnelMtu !== undefined ? { tunnelMtu: options.tunnelMtu } : {}),
    ...(options.batchUdpTunnel !== undefined ? { batchUdpTunnel: options.batchUdpTunnel } : {}),
    ...(groupCommit !== undefined ? { onStoreWrite: (write) => groupCommit.write(write), whenDurable: (send) => groupCommit.whenDurable(send) } : {}),
  });
  let restored: RunningForeignAgent['restored'];
  if (store !== undefined) {
    try {
      const started = performance.now();
      const { outcome, deletes } = agent.restore((await store.load()).visitors);
      await store.commit(deletes);
      restored = { ...outcome, ms: Math.round(performance.now() - started) };
    } catch (error) {
      agent.close();
      await store.close();
      throw error;
    }
  }
  const layers = Layer.mergeAll(options.udp, options.link, options.rawIp);
  const served = await openInScope(serveForeignAgent(agent, config.settings, { interfaceName: options.interfaceName }).pipe(Effect.provide(layers))).catch(
    async (error: unknown) => {
      agent.close();
      await store?.close();
      throw error;
    },
  );
  let stopped = false;
  return {
    agent,
    link: served.value.link,
    sockets: served.value.sockets,
    restored,
    async stop() {
      if (stopped) return;
      stopped = true;
      agent.close();
      await groupCommit?.drain();
      await served.close();
      await store?.close();
    },
  };
}
