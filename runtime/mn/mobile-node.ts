/**
 * The mobile node (RFC 5944 2.4, 3.6, 4.2.1, 4.6) as an actor system: one discovery actor for
 * its interface and one registration actor per Request target (the replay state passes from
 * one to the next: it belongs to the security association, 5.7), over a link, a UDP socket and,
 * with a co-located care-of address, raw tunnel sockets. Configuring the host for each
 * attachment is the embedder's, announced on `attachments` before the Request goes out
 * (R2.4.3-2). Where Requests go and from which source, and the node's ARP duties:
 * docs/architecture.md, "The mobile node's own rules".
 */
import { Cause, type Context, Effect, Exit, Layer, type Scope } from 'effect';
import { openInScope } from '../../io/scoped-start.js';
import { Subject } from 'rxjs';
import { Link, type LinkInterface } from '../../io/link.js';
import { MnHost, type HostAttachment, type MnHostSettings } from '../../io/mn-host.js';
import { Tun, type TunDevice } from '../../io/tun.js';
import { RawIp, type RawIpError, type RawIpSocket } from '../../io/raw-ip.js';
import { KernelDrops } from '../../io/kernel-drops.js';
import { Udp, type UdpSocket } from '../../io/udp.js';
import { decodeAgentAdvertisement, encodeAgentSolicitation, hasNonSkippableUnknownExtension, makeAgentSolicitation, SOLICITATION_LENGTH } from '../../io/wire/agent-discovery.js';
import { ARP_FRAME_LENGTH, ArpOperation, arpReply, decodeArpPacket, encodeArpFrame, gratuitousArpFrame } from '../../io/wire/arp.js';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { ethernetDestination, ethernetEtherType, EtherType, ETHERNET_HEADER_LENGTH, ethernetSource, multicastMac } from '../../io/wire/ethernet.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { identificationToHex } from '../../io/wire/identification.js';
import { decodeIpv4Packet, IpProtocol, ipv4Destination, ipv4Source } from '../../io/wire/ipv4.js';
import { isMulticast } from '../../io/wire/ipv4-address.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import type { Identification } from '../../io/wire/registration-types.js';
import {
  advertisementEvent,
  awayFirstHop,
  mnDiscoveryMachine,
  type ColocatedAddress,
  type MnDiscoveryCommand,
  type MnDiscoveryEvent,
  type SolicitationSettings,
} from '../../machines/mn-discovery.js';
import {
  mnRegistrationMachine,
  type MnRegistrationCommand,
  type MnRegistrationContext,
  type MnReplayState,
  type RetransmissionSettings,
} from '../../machines/mn-registration.js';
import { checkMnReply } from '../../policies/mn-reply.js';
import {
  ALL_MOBILITY_AGENTS,
  buildRegistrationRequest,
  requestLifetime,
  type MnRegistrationTarget,
  type MnRequestSettings,
  type MnSigningKey,
} from '../../policies/mn-request.js';
import { createSecurityContext, type ReplayProtection, type SecurityContextLookup } from '../../policies/security-association.js';
import { ActorHost, stateValueToString, type HostedActor, type TransitionRecord } from '../actors/actor-host.js';
import { inspectHost, type InspectedHost } from '../actors/inspection.js';
import type { Alarm, Clock } from '../../io/clock.js';
import { mobileNodeDecapsulation } from '../dataplane/fa-plane.js';
import type { DataPlane } from '../dataplane/packets.js';
import { icmpFrame, udpFrame } from '../../io/wire/frames.js';
import { secureRandom32 } from '../../io/random.js';
import { encodeSigned } from '../../policies/sign.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { reverseTunnelRetry, type ReverseTunnelAdjustment } from '../../policies/mn-reverse-tunnel.js';
import { usesEncapsulatingDelivery } from '../../policies/mn-request.js';
import { mobileNodeReverseTunnelPlane, type MobileNodeReverseTunnel } from '../dataplane/mn-plane.js';
import { membershipQuery, membershipReport, UNSOLICITED_REPORT_INTERVAL_MS } from './igmp-membership.js';
import {
  authenticatedUdpTunnelReply,
  DEFAULT_UDP_TUNNEL_MODE,
  udpTunnelOutcome,
  udpTunnelRequestFor,
  udpTunnelRetry,
  type UdpTunnelMode,
  type UdpTunnelReplyFields,
  type UdpTunnelRequestShape,
} from '../../policies/mn-udp-tunnel.js';
import { MnUdpTunnelSession, type MnUdpTunnelEvent, type MnUdpTunnelState } from './udp-tunnel.js';
import { TUNNEL_DATA_MESSAGE_TYPE } from '../../io/wire/udp-tunnel.js';

export interface MobileNodeConfig {
  /** The interface the node attaches with (one interface, 2.4). */
  readonly interfaceName: string;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly homeNetwork: Ipv4Address;
  readonly homePrefixLength: number;
  /** The Mobility Security Association with the home agent (3.6, 5.7). */
  readonly mobileHome: MnSigningKey & { readonly replay: ReplayProtection };
  /** A security association with the foreign agent, if any (3.6.1.3 e, 3.6.2.1 a). */
  readonly mobileForeign?: MnSigningKey;
  readonly nai?: string;
  /** Lifetime to request, seconds (3.6.1.2). Default 1800. */
  readonly lifetime?: number;
  /** The co-located care-of address when the node has one (e.g. from DHCP, 1.7 b). */
  readonly colocated?: ColocatedAddress;
  /** Move detection of 2.4.2: Algorithm 1 ('lifetime', default) or 2 ('prefix'). */
  readonly moveDetection?: 'lifetime' | 'prefix';
  readonly solicitation?: Partial<SolicitationSettings>;
  readonly retransmission?: Partial<RetransmissionSettings>;
  /** Request options (3.6.1.2): S, B, M, G, T bits. */
  readonly requestOptions?: Pick<
    MnRequestSettings,
    'simultaneousBindings' | 'broadcast' | 'decapsulates' | 'minimalEncapsulation' | 'greEncapsulation' | 'reverseTunnel' | 'deliveryStyle'
  >;
  /**
   * RFC 3519 UDP tunnelling (policies/mn-udp-tunnel.ts): 'auto' asks in every co-located Request,
   * 'force' with 'F', 'off' never. Default 'auto' (DEFAULT_UDP_TUNNEL_MODE), as in the
   * configuration file: 144 is skippable and the home agent grants only when it sees a NAT.
   */
  readonly udpTunnel?: UdpTunnelMode;
  /** Multicast groups joined through the home agent (RFC 5944 4.4; mobileNode.multicastGroups). */
  readonly multicastGroups?: readonly Ipv4Address[];
  /** UDP port the node sends from (0 = any). */
  readonly port?: number;
  /** What the host adapter needs beyond the addresses above (io/mn-host.ts MnHostSettings). */
  readonly host?: Pick<MnHostSettings, 'homeGateway' | 'foreignGateway' | 'foreignGatewayLinkAddress' | 'tunnelDevice'>;
}

/** What the node tells its observers; every value is JSON-able (addresses as dotted quads). */
export type MobileNodeEvent =
  | { readonly event: 'advertisement'; readonly at: number; readonly agent: string; readonly flags: number; readonly sequence: number }
  | { readonly event: 'advertisement-discarded'; readonly at: number; readonly reason: string }
  | { readonly event: 'solicitation'; readonly at: number; readonly count: number }
  | { readonly event: 'gratuitous-arp'; readonly at: number; readonly address: string; readonly copy: number }
  | { readonly event: 'home-arp'; readonly at: number; readonly enabled: boolean }
  | { readonly event: 'agent-arp-reply'; readonly at: number; readonly agent: string; readonly linkAddress: string }
  | { readonly event: 'attachment'; readonly at: number; readonly attachment: MobileNodeAttachmentJson }
  | { readonly event: 'host-configured'; readonly at: number; readonly attachment: MobileNodeAttachmentJson; readonly ms: number }
  | { readonly event: 'host-error'; readonly at: number; readonly operation: string; readonly detail: string }
  | { readonly event: 'agent-rebooted'; readonly at: number; readonly agent: string; readonly previousSequence: number; readonly sequence: number }
  | {
      readonly event: 'request';
      readonly at: number;
      readonly actor: string;
      readonly attempt: number;
      readonly destination: string;
      readonly homeAgent: string;
      readonly careOfAddress: string;
      readonly lifetime: number;
      readonly identification: string;
      /** The IP source address the node chose (3.6.1.1). */
      readonly source: string;
      /** 'link': a frame to the agent's link-layer address; 'ip': the node's own IP header; 'socket': the stack's. */
      readonly via: 'link' | 'ip' | 'socket';
    }
  | { readonly event: 'reply'; readonly at: number; readonly code: number; readonly lifetime: number; readonly identification: string; readonly authentic: boolean; readonly discard?: string }
  | { readonly event: 'reply-discarded'; readonly at: number; readonly reason: string }
  | { readonly event: 'registered'; readonly at: number; readonly code: number; readonly lifetime: number; readonly expiresAt: number; readonly renewAt: number }
  | { readonly event: 'deregistered'; readonly at: number; readonly code: number }
  | { readonly event: 'denied'; readonly at: number; readonly code: number; readonly byForeignAgent: boolean }
  | { readonly event: 'given-up'; readonly at: number; readonly attempts: number }
  /** RFC 3024 refusal answered by changing the Request, or standing (policies/mn-reverse-tunnel.ts). */
  | {
      /** 'reverse-tunnel-warning' (logged at warn) when the node loses something or the denial stands. */
      readonly event: 'reverse-tunnel-retry' | 'reverse-tunnel-warning';
      readonly at: number;
      readonly code: number;
      readonly retry: boolean;
      readonly detail: string;
    }
  /** The node's own reverse tunnel started (outer addresses) or ended (RFC 3024 5.2). */
  | { readonly event: 'reverse-tunnel'; readonly at: number; readonly active: boolean; readonly outerSource?: string; readonly outerDestination?: string; readonly encapsulation?: string }
  /** RFC 3519: UDP tunnelling granted, declined or refused (142), and the answer (policies/mn-udp-tunnel.ts). */
  | { readonly event: 'udp-tunnel-declined' | 'udp-tunnel-retry' | 'udp-tunnel-warning'; readonly at: number; readonly code: number; readonly detail: string }
  | MnUdpTunnelEvent
  | { readonly event: 'error'; readonly at: number; readonly actor: string; readonly detail: string }
  | { readonly event: 'link'; readonly at: number; readonly up: boolean }
  | { readonly event: 'co-located-address'; readonly at: number; readonly address?: string; readonly prefixLength?: number; readonly gateway?: string };

/** How the node is attached (io/mn-host.ts), announced before the Request that registers it. */
export type MobileNodeAttachment = HostAttachment;

export type MobileNodeAttachmentJson = { readonly kind: MobileNodeAttachment['kind'] } & Readonly<Record<string, string | number>>;

export function attachmentJson(attachment: MobileNodeAttachment): MobileNodeAttachmentJson {
  switch (attachment.kind) {
    case 'at-home':
      return { kind: 'at-home' };
    case 'foreign-agent':
      return {
        kind: 'foreign-agent',
        agent: ipv4ToString(attachment.agent),
        careOfAddress: ipv4ToString(attachment.careOfAddress),
        router: ipv4ToString(attachment.router),
        routerLinkAddress: attachment.routerLinkAddress,
      };
    case 'co-located':
      return {
        kind: 'co-located',
        careOfAddress: ipv4ToString(attachment.careOfAddress),
        ...(attachment.prefixLength !== undefined ? { prefixLength: attachment.prefixLength } : {}),
        ...(attachment.gateway !== undefined ? { gateway: ipv4ToString(attachment.gateway) } : {}),
      };
  }
}

function sameAttachment(a: MobileNodeAttachment | undefined, b: MobileNodeAttachment): boolean {
  return a !== undefined && JSON.stringify(attachmentJson(a)) === JSON.stringify(attachmentJson(b));
}

/** Where the node stands, for inspection. */
export interface MobileNodeState {
  /** 'searching' (no agent), 'at-home', 'foreign-agent' (away through one), 'co-located'. */
  readonly attachment: 'searching' | 'at-home' | 'foreign-agent' | 'co-located';
  /** The agent in use (its advertisement's source), if any. */
  readonly agent?: string;
  readonly careOfAddress?: string;
  /** Registration: pending, registered (with a binding at the home agent), or none. */
  readonly registration: 'none' | 'pending' | 'registered' | 'deregistered' | 'denied' | 'given-up';
  /** Seconds of the granted Lifetime left, when registered. */
  readonly remaining?: number;
  readonly grantedLifetime?: number;
  /** Present when the interface has no carrier (`linkLost`): nothing is sent until it returns. */
  readonly link?: 'down';
  /** Present while the registration uses RFC 3519 UDP tunnelling. */
  readonly udpTunnel?: MnUdpTunnelState;
}

export interface MobileNodeCounters {
  advertisements: number;
  advertisementsDiscarded: number;
  solicitations: number;
  requests: number;
  replies: number;
  repliesDiscarded: number;
  /** Authentic Replies accepting the registration (codes 0 and 1) and denying it (any other code). */
  repliesAccepted: number;
  repliesDenied: number;
  decapsulated: number;
  /** Unicast ARP Replies to a foreign agent asking for the home address (R4.6-16). */
  agentArpReplies: number;
  /** ARP Requests for the home address left unanswered away from home (R4.6-15). */
  homeArpIgnored: number;
  /** Decapsulated datagrams written into the host stack through the TUN device, and those it refused. */
  injected: number;
  injectDropped: number;
}

/** Reverse tunnelling at the node (RFC 3024), apart from the counters the metrics export. */
export interface MobileNodeReverseTunnelCounters {
  /** RFC 3024 refusals answered by an adjusted Request, and those that stood (policies/mn-reverse-tunnel.ts). */
  retries: number;
  refusals: number;
  /** The node's own datagrams it tunnelled itself (RFC 3024 5.2), and those the raw socket refused. */
  tunnelled: number;
  sendDropped: number;
  /** Datagrams read from the TUN device with no tunnel in force, sent as they are (Linux). */
  passedThrough: number;
  /** IGMP Membership Reports sent through the tunnel for `multicastGroups` (4.4). */
  membershipReports: number;
  /** Multicast from the home address with no tunnel to carry it, dropped (R4.4-9). */
  multicastFromHomeDropped: number;
}

export interface MobileNodeIo {
  readonly link: LinkInterface;
  readonly udp: UdpSocket;
  /** Raw sockets for tunnel protocols (co-located mode). */
  readonly tunnels?: readonly RawIpSocket[];
  /**
   * A raw UDP socket with `headerIncluded`: Requests to the home agent leave with the source
   * address the node chose (3.6.1.1). Without it they go through `udp`.
   */
  readonly requestSocket?: RawIpSocket;
  /** A raw socket with `headerIncluded` for the node's own reverse tunnel (RFC 3024 5.2); without it nothing is tunnelled. */
  readonly tunnelSender?: RawIpSocket;
}

export interface MobileNodeOptions {
  readonly clock: Clock;
  readonly random32: () => number;
  /**
   * The host is configured asynchronously for each attachment announced on `attachments`, and
   * `hostConfigured` is called when each one is done: Requests wait for it. Default false (the
   * embedder has configured the host before the node hears of the new link).
   */
  readonly waitForHost?: boolean;
}

/** R4.6-11: copies of the node's gratuitous ARP on returning home, the first at once (as the home agent's, runtime/ha/home-link.ts). */
export const GRATUITOUS_ARP_COPIES = 3;
export const GRATUITOUS_ARP_SPACING_MS = 1000;

type DiscoveryActor = HostedActor<typeof mnDiscoveryMachine, MobileNode>;
type RegistrationActor = HostedActor<typeof mnRegistrationMachine, RegistrationOwner>;

interface RegistrationOwner {
  readonly target: MnRegistrationTarget;
  /** Changes to this registration's Requests after RFC 3024 refusals (policies/mn-reverse-tunnel.ts). */
  adjustment: ReverseTunnelAdjustment;
  /** Flags and delivery style of the last Request sent. */
  sentFlags: number;
  sentEncapsulatingDelivery: boolean;
  /** RFC 3519: the UDP Tunnel Request of the last Request sent; withdrawn after a 142 (policies/mn-udp-tunnel.ts). */
  sentUdpTunnel?: UdpTunnelRequestShape;
  udpTunnelWithdrawn?: boolean;
  /** The authenticated UDP Tunnel Reply of the Reply being handled. */
  udpTunnelReply?: UdpTunnelReplyFields;
  lastRequestAt?: number;
}


function careOfOf(target: MnRegistrationTarget, homeAddress: Ipv4Address): Ipv4Address {
  return target.kind === 'home' ? homeAddress : target.careOfAddress;
}

export class MobileNode {
  /** What the kernel dropped before the node read it (co-located tunnel sockets, its TUN device; Linux only). */
  readonly kernelDrops = new KernelDrops();
  private readonly discoveryHost: ActorHost<typeof mnDiscoveryMachine, MobileNode, MnDiscoveryCommand>;
  private readonly registrationHost: ActorHost<typeof mnRegistrationMachine, RegistrationOwner, MnRegistrationCommand>;
  private discovery: DiscoveryActor | undefined;
  private registration: RegistrationActor | undefined;
  private registrationOutcome: MobileNodeState['registration'] = 'none';
  private replayState: MnReplayState | undefined;
  private registrationCount = 0;
  private colocated: ColocatedAddress | undefined;
  private decapsulation: DataPlane | undefined;
  private attachment: MobileNodeAttachment | undefined;
  /** Attachments announced to the host adapter and not yet reported configured (`waitForHost`). */
  private hostPending = 0;
  /** Whether the last configuration reported succeeded. */
  private hostConfiguredOk = true;
  /** The copies of the gratuitous ARP still to send on returning home (R4.6-11). */
  private gratuitousArpAlarm: Alarm | undefined;
  private readonly mobileHomeLookup: SecurityContextLookup;
  private readonly requestSettings: MnRequestSettings;
  private closed = false;
  /** False between `linkLost` and `linkRestored`: no carrier, nothing goes out. */
  private linkUp = true;
  /** The default router of the co-located care-of address's link, when the kernel told it. */
  private colocatedGateway: Ipv4Address | undefined;

  private readonly transitionSubject = new Subject<TransitionRecord>();
  private readonly eventSubject = new Subject<MobileNodeEvent>();
  private readonly receivedSubject = new Subject<Uint8Array>();
  private readonly attachmentSubject = new Subject<MobileNodeAttachment>();
  /** Each new attachment, before the Request that registers it goes out (see MobileNodeAttachment). */
  readonly attachments = this.attachmentSubject.asObservable();
  /** Every state change of the node's actors, with its reason. */
  readonly transitions = this.transitionSubject.asObservable();
  /** Log events (JSON-able). */
  readonly events = this.eventSubject.asObservable();
  /** Inner datagrams of tunnels the node terminated itself (co-located mode), copied. */
  readonly received = this.receivedSubject.asObservable();
  readonly counters: MobileNodeCounters = {
    advertisements: 0,
    advertisementsDiscarded: 0,
    solicitations: 0,
    requests: 0,
    replies: 0,
    repliesDiscarded: 0,
    repliesAccepted: 0,
    repliesDenied: 0,
    decapsulated: 0,
    agentArpReplies: 0,
    homeArpIgnored: 0,
    injected: 0,
    injectDropped: 0,
  };
  readonly reverseTunnelCounters: MobileNodeReverseTunnelCounters = { retries: 0, refusals: 0, tunnelled: 0, sendDropped: 0, passedThrough: 0, membershipReports: 0, multicastFromHomeDropped: 0 };
  /** The reverse tunnel the current registration was granted (RFC 3024), undefined when none. */
  private ownTunnel: MobileNodeReverseTunnel | undefined;
  private readonly ownPlane = mobileNodeReverseTunnelPlane({ tunnel: () => this.ownTunnel });
  /** RFC 3519: the UDP tunnel over the registration socket, its keepalives and counters (runtime/mn/udp-tunnel.ts). */
  readonly udpTunnelling: MnUdpTunnelSession;
  /** The next Membership Reports due (the unsolicited repeat, or the answer to a Query). */
  private membershipAlarm: Alarm | undefined;
  private membershipIdentification = 0;

  constructor(
    readonly config: MobileNodeConfig,
    private readonly io: MobileNodeIo,
    private readonly options: MobileNodeOptions,
  ) {
    this.colocated = config.colocated;
    this.udpTunnelling = new MnUdpTunnelSession(options.clock, io.udp, (event) => this.emit(event), options.random32);
    const mobileHome = createSecurityContext({
      spi: config.mobileHome.spi,
      key: config.mobileHome.key,
      algorithm: config.mobileHome.algorithm,
      replay: config.mobileHome.replay,
    });
    this.mobileHomeLookup = { get: (spi) => (spi === mobileHome.spi ? mobileHome : undefined), first: () => mobileHome };
    this.requestSettings = {
      homeAddress: config.homeAddress,
      homeAgent: config.homeAgent,
      homeNetwork: config.homeNetwork,
      homePrefixLength: config.homePrefixLength,
      mobileHome: config.mobileHome,
      ...(config.mobileForeign !== undefined ? { mobileForeign: config.mobileForeign } : {}),
      ...(config.nai !== undefined ? { nai: config.nai } : {}),
      ...(config.lifetime !== undefined ? { lifetime: config.lifetime } : {}),
      ...config.requestOptions,
    };
    const onTransition = (record: TransitionRecord) => {
      if (this.transitionSubject.observed) this.transitionSubject.next(record);
    };
    this.discoveryHost = new ActorHost<typeof mnDiscoveryMachine, MobileNode, MnDiscoveryCommand>(mnDiscoveryMachine, {
      clock: options.clock,
      onCommands: (_actor, commands) => this.onDiscoveryCommands(commands),
      onTransition,
      onError: (actor, error) => this.emit({ event: 'error', at: this.now(), actor: actor.id, detail: String(error) }),
    });
    this.registrationHost = new ActorHost<typeof mnRegistrationMachine, RegistrationOwner, MnRegistrationCommand>(mnRegistrationMachine, {
      clock: options.clock,
      onCommands: (actor, commands) => this.onRegistrationCommands(actor, commands),
      onTransition,
      onStopped: (actor) => this.onRegistrationStopped(actor),
      onError: (actor, error) => this.emit({ event: 'error', at: this.now(), actor: actor.id, detail: String(error) }),
    });
    this.rebuildDecapsulation();
  }

  /**
   * The node's discovery and registration actors as the live inspector shows them
   * (runtime/inspector/): addresses, lifetime and identification; never the key.
   */
  inspected(): InspectedHost[] {
    const alive = <T extends { readonly stopped: boolean }>(actor: T | undefined): T[] => (actor === undefined || actor.stopped ? [] : [actor]);
    return [
      inspectHost('mn-discovery', 'discovery', this.discoveryHost, () => alive(this.discovery), (actor) => {
        const c = actor.snapshot.context;
        return {
          id: actor.id,
          state: stateValueToString(actor.snapshot.value),
          fields: {
            homeAddress: ipv4ToString(this.config.homeAddress),
            ...(c.current === undefined ? {} : { agent: ipv4ToString(c.current.source) }),
            ...(c.colocated === undefined ? {} : { colocatedAddress: ipv4ToString(c.colocated.address) }),
            candidates: String(c.candidates.length),
          },
        };
      }),
      inspectHost('mn-registration', 'registration', this.registrationHost, () => alive(this.registration), (actor) => {
        const c = actor.snapshot.context;
        return {
          id: actor.id,
          state: stateValueToString(actor.snapshot.value),
          fields: {
            homeAddress: ipv4ToString(c.homeAddress),
            homeAgent: ipv4ToString(c.homeAgent),
            target: actor.owner.target.kind,
            lifetime: String(c.lifetime),
            identification: identificationToHex(c.identification),
          },
        };
      }),
    ];
  }

  /** Attaches the IO handlers and starts discovery (the first solicitation goes out now). */
  start(): void {
    if (this.discovery !== undefined || this.closed) return;
    this.io.link.onFrame((frame) => this.handleFrame(frame));
    this.io.udp.onMessage((d) => this.handleReply(d.data, d.address, d.port));
    // Failed sends (tunnel data at a rate the socket cannot take, no route for a moment) are counted.
    this.io.udp.onError(() => void this.udpTunnelling.counters.sendErrors++);
    for (const socket of this.io.tunnels ?? []) socket.onPacket((datagram) => this.handleTunnelPacket(datagram));
    this.discovery = this.discoveryHost.spawn('discovery', {
      at: this.now(),
      seed: this.options.random32(),
      homeAddress: this.config.homeAddress,
      homeAgent: this.config.homeAgent,
      homeNetwork: this.config.homeNetwork,
      homePrefixLength: this.config.homePrefixLength,
      ...(this.colocated !== undefined ? { colocated: this.colocated } : {}),
      ...(this.config.moveDetection !== undefined ? { moveDetection: this.config.moveDetection } : {}),
      ...(this.config.solicitation !== undefined ? { solicitation: this.config.solicitation } : {}),
    }, this);
  }

  /**
   * A link-layer indication that the node changed links (R2.4-10): forget agents and the
   * co-located address (give the new link's with `setColocatedAddress` afterwards), search again.
   */
  linkChanged(): void {
    // R4.6-14: on an unknown link no more gratuitous ARPs of a return home.
    this.stopGratuitousArp();
    // RFC 3024: the reverse tunnel belonged to the old link's registration.
    this.setOwnTunnel(undefined);
    // RFC 3519: so did the UDP tunnel and its NAT mapping.
    this.udpTunnelling.stop('link changed');
    // R1.7-6: the co-located address was valid on the old link only (machines/mn-discovery.ts).
    if (this.colocated !== undefined) {
      this.colocated = undefined;
      this.rebuildDecapsulation();
    }
    this.sendDiscovery({ type: 'linkChanged', at: this.now() });
  }

  /**
   * The co-located care-of address changed (or went away: undefined). A new one triggers a
   * registration by itself, without waiting for an Advertisement (2.4, 3.6), unless the node
   * registers through a foreign agent that requires it ('R', 2.4.1); losing the one in use
   * falls back to agent discovery.
   */
  setColocatedAddress(colocated: ColocatedAddress | undefined): void {
    this.endOwnTunnelFrom(colocated?.address);
    const udp = this.udpTunnelling.tunnel();
    if (udp !== undefined && udp.careOfAddress !== colocated?.address) this.udpTunnelling.stop('co-located address changed');
    this.colocated = colocated;
    this.rebuildDecapsulation();
    this.sendDiscovery({ type: 'colocatedAddressChanged', at: this.now(), ...(colocated !== undefined ? { colocated } : {}) });
  }

  // -------------------------------------------------------------------------------------------
  // Following the kernel (io/link-events.ts; runtime/mn/kernel-follower.ts feeds these)

  /**
   * The interface lost its carrier: the node knows it has no link. The pending registration is
   * cancelled (its replay state kept) and no Request, solicitation or ARP goes out until
   * `linkRestored`; `state()` says `link: 'down'`.
   */
  linkLost(): void {
    if (!this.linkUp || this.closed) return;
    this.linkUp = false;
    this.stopGratuitousArp();
    const pending = this.registration;
    if (pending !== undefined && !pending.stopped) {
      this.keepReplayState(pending.snapshot.context);
      this.registrationHost.send(pending, { type: 'cancel', at: this.now() });
    }
    this.emit({ event: 'link', at: this.now(), up: false });
  }

  /**
   * The carrier is back: a positive link-layer indication of a (possibly new) link (R2.4-10).
   * The node solicits at once (2.4.2) and registers with the first usable Advertisement; a
   * co-located address still on the interface is given again afterwards by the caller.
   */
  linkRestored(): void {
    if (this.linkUp || this.closed) return;
    this.linkUp = true;
    this.emit({ event: 'link', at: this.now(), up: true });
    this.linkChanged();
  }

  /**
   * A co-located care-of address appeared on the interface (a DHCP client, an administrator:
   * 1.7 b) or went away (undefined). A new one is registered at once, without a restart (3.6);
   * its removal falls back to agent discovery (a foreign agent still heard, else solicitations).
   * `gateway`: the link's default router, from the interface's default route.
   */
  colocatedAddressChanged(colocated: { address: Ipv4Address; prefixLength: number; gateway?: Ipv4Address } | undefined): void {
    if (this.closed) return;
    const same =
      colocated === undefined
        ? this.colocated === undefined
        : this.colocated?.address === colocated.address && this.colocated.prefixLength === colocated.prefixLength && this.colocatedGateway === colocated.gateway;
    if (same) return;
    this.colocatedGateway = colocated?.gateway;
    this.emit({
      event: 'co-located-address',
      at: this.now(),
      ...(colocated !== undefined ? { address: ipv4ToString(colocated.address), prefixLength: colocated.prefixLength } : {}),
      ...(colocated?.gateway !== undefined ? { gateway: ipv4ToString(colocated.gateway) } : {}),
    });
    this.setColocatedAddress(colocated === undefined ? undefined : { address: colocated.address, prefixLength: colocated.prefixLength });
  }

  /** Whether the interface has its carrier (false between `linkLost` and `linkRestored`). */
  get hasLink(): boolean {
    return this.linkUp;
  }

  /** The attachment announced last (undefined before the first registration). */
  currentAttachment(): MobileNodeAttachment | undefined {
    return this.attachment;
  }

  /**
   * The host finished configuring the oldest attachment announced and not yet configured (the
   * adapter applies them in order, asynchronously; `waitForHost`). Once all are done, a
   * registration waiting for the host sends its first Request (machines/mn-registration.ts
   * `hostReady`). The outcome is logged (`host-configured` or `host-error`); after an error the
   * Request goes anyway: a frame to a foreign agent needs no route.
   */
  hostConfigured(outcome?: { readonly attachment: MobileNodeAttachment; readonly ms: number } | { readonly operation: string; readonly detail: string }): void {
    if (this.closed) return;
    const failed = outcome !== undefined && 'detail' in outcome;
    if (failed) this.emit({ event: 'host-error', at: this.now(), operation: outcome.operation, detail: outcome.detail });
    else if (outcome !== undefined) this.emit({ event: 'host-configured', at: this.now(), attachment: attachmentJson(outcome.attachment), ms: outcome.ms });
    if (this.hostPending > 0) this.hostPending--;
    this.hostConfiguredOk = !failed;
    const actor = this.registration;
    if (this.hostPending > 0 || actor === undefined || actor.stopped || actor.snapshot.value !== 'awaitingHost') return;
    this.registrationHost.send(actor, { type: 'hostReady', at: this.now(), configured: this.hostConfiguredOk });
  }

  /** Where the node stands now. */
  state(): MobileNodeState {
    const d = this.discovery?.snapshot;
    const value = d === undefined ? 'searching' : typeof d.value === 'string' ? d.value : Object.keys(d.value as object)[0] ?? 'searching';
    const target = d?.context.target;
    const attachment: MobileNodeState['attachment'] =
      value === 'atHome' ? 'at-home' : value === 'away' ? (target?.kind === 'co-located' ? 'co-located' : 'foreign-agent') : 'searching';
    const agent = d?.context.current?.source;
    const r = this.registration?.snapshot.context;
    const now = this.now();
    const registered = this.registrationOutcome === 'registered' && r?.expiresAt !== undefined;
    const udpTunnel = this.udpTunnelling.state();
    return {
      attachment,
      ...(agent !== undefined ? { agent: ipv4ToString(agent) } : {}),
      ...(target !== undefined && target.kind !== 'home' ? { careOfAddress: ipv4ToString(target.careOfAddress) } : {}),
      registration: this.registrationOutcome,
      ...(registered && r.grantedLifetime !== undefined ? { grantedLifetime: r.grantedLifetime } : {}),
      ...(registered ? { remaining: Number.isFinite(r.expiresAt!) ? Math.max(0, Math.ceil((r.expiresAt! - now) / 1000)) : Infinity } : {}),
      ...(this.linkUp ? {} : { link: 'down' as const }),
      ...(udpTunnel !== undefined ? { udpTunnel } : {}),
    };
  }

  /** Stops every timer and completes the observables. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopGratuitousArp();
    this.membershipAlarm?.cancel();
    this.udpTunnelling.stop('stopped');
    this.discoveryHost.close();
    this.registrationHost.close();
    this.transitionSubject.complete();
    this.eventSubject.complete();
    this.receivedSubject.complete();
    this.attachmentSubject.complete();
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /** Agent Advertisements (2.1) on the link; everything else is the IP stack's business. */
  private handleFrame(frame: Uint8Array): void {
    if (this.closed || frame.length < ETHERNET_HEADER_LENGTH) return;
    const etherType = ethernetEtherType(frame);
    if (etherType === EtherType.ARP) return this.handleArp(frame);
    if (etherType !== EtherType.IPv4) return;
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH);
    if (!packet.ok) return;
    const { header, payload } = packet.value;
    if (header.protocol !== IpProtocol.ICMP || payload[0] !== IcmpType.RouterAdvertisement) return;
    const at = this.now();
    const discard = (reason: string) => {
      this.counters.advertisementsDiscarded++;
      this.emit({ event: 'advertisement-discarded', at, reason });
    };
    if (!header.checksumValid) return discard('ip-checksum');
    const decoded = decodeAgentAdvertisement(payload);
    if (!decoded.ok) return discard(decoded.error.reason);
    const advertisement = decoded.value;
    if (!advertisement.checksumValid) return discard('icmp-checksum');
    // 1.8 / 2.1: an unrecognised extension 0-127 makes the whole Advertisement unusable.
    if (hasNonSkippableUnknownExtension(advertisement)) return discard('unknown-non-skippable-extension');
    const event = advertisementEvent(advertisement, header.source, at, ethernetSource(frame));
    // A plain ICMP Router Advertisement (no Mobility Agent extension) is not for the node.
    if (event === undefined) return;
    this.counters.advertisements++;
    this.emit({ event: 'advertisement', at, agent: ipv4ToString(event.source), flags: event.flags, sequence: event.sequence });
    this.sendDiscovery(event);
  }

  /**
   * 4.6 away from home: an ARP Request for the home address is answered only when unicast by
   * the foreign agent the node registers (or is registered) through, and then with a unicast
   * Reply (R4.6-15, R4.6-16); every other one is left unanswered. At home the host's own ARP
   * answers.
   */
  private handleArp(frame: Uint8Array): void {
    const attachment = this.attachment;
    if (attachment === undefined || attachment.kind === 'at-home') return;
    const decoded = decodeArpPacket(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!decoded.ok) return;
    const packet = decoded.value;
    if (packet.operation !== ArpOperation.Request || packet.targetIp >>> 0 !== this.config.homeAddress >>> 0) return;
    const unicastToUs = ethernetDestination(frame) === this.io.link.mac;
    const fromAgent = attachment.kind === 'foreign-agent' && packet.senderIp >>> 0 === attachment.agent >>> 0;
    if (!unicastToUs || !fromAgent) {
      this.counters.homeArpIgnored++;
      return;
    }
    const reply = new Uint8Array(ARP_FRAME_LENGTH);
    encodeArpFrame(arpReply(this.io.link.mac, this.config.homeAddress, packet.senderMac, packet.senderIp), packet.senderMac, this.io.link.mac, reply, 0);
    this.io.link.send(reply);
    this.counters.agentArpReplies++;
    this.emit({ event: 'agent-arp-reply', at: this.now(), agent: ipv4ToString(packet.senderIp), linkAddress: packet.senderMac });
  }

  /** A Registration Reply (3.6.2): checked (3.6.2.1), then given to the pending registration. */
  private handleReply(data: Uint8Array, from: Ipv4Address, fromPort: number): void {
    if (this.closed) return;
    // RFC 3519 3.3: the registration socket also carries tunnel data; the first byte tells them apart.
    if (data.length > 0 && data[0] === TUNNEL_DATA_MESSAGE_TYPE) return this.handleUdpTunnelData(data, from, fromPort);
    const at = this.now();
    const actor = this.registration;
    const decoded = decodeRegistrationReply(data, 0, data.length);
    if (!decoded.ok || actor === undefined || actor.stopped) {
      this.counters.repliesDiscarded++;
      this.emit({ event: 'reply-discarded', at, reason: decoded.ok ? 'no-pending-registration' : decoded.error.reason });
      return;
    }
    const reply = decoded.value;
    if (reply.homeAddress !== this.config.homeAddress && this.config.homeAddress !== 0) {
      this.counters.repliesDiscarded++;
      this.emit({ event: 'reply-discarded', at, reason: 'other-home-address' });
      return;
    }
    const context = actor.snapshot.context;
    const target = actor.owner.target;
    const verdict = checkMnReply({
      reply,
      message: data,
      // The Udp service drops datagrams whose checksum fails before they reach us.
      udpChecksumValid: true,
      requestIdentification: context.identification,
      mobileHome: this.mobileHomeLookup,
      ...(target.kind === 'foreign-agent' && this.config.mobileForeign !== undefined ? { mobileForeign: this.config.mobileForeign } : {}),
    });
    const authentic = verdict.kind === 'valid';
    // RFC 3519 3.2: read now, used when the machine accepts the registration (recordUdpTunnel).
    actor.owner.udpTunnelReply = authentic ? authenticatedUdpTunnelReply(reply) : undefined;
    this.counters.replies++;
    if (!authentic) this.counters.repliesDiscarded++;
    else if (reply.code <= 1) this.counters.repliesAccepted++;
    else this.counters.repliesDenied++;
    this.emit({
      event: 'reply',
      at,
      code: reply.code,
      lifetime: reply.lifetime,
      identification: identificationToHex(reply.identification),
      authentic,
      ...(verdict.kind === 'discard' ? { discard: `${verdict.reason} (from ${ipv4ToString(from)})` } : {}),
    });
    this.registrationHost.send(actor, {
      type: 'reply',
      at,
      code: reply.code,
      lifetime: reply.lifetime,
      homeAddress: reply.homeAddress,
      homeAgent: reply.homeAgent,
      identification: reply.identification,
      authentic,
      ...(authentic &&
      (this.answerReverseTunnelRefusal(actor, reply.code, reply.identification.low) || this.answerUdpTunnelRefusal(actor, reply.code, reply.identification.low))
        ? { requestAdjusted: true }
        : {}),
    });
  }

  /** A tunnel packet to the co-located care-of address (4.1): decapsulate and hand it up. */
  private handleTunnelPacket(datagram: Uint8Array): void {
    const plane = this.decapsulation;
    if (plane === undefined || this.closed) return;
    const out = plane.process([{ bytes: datagram }]);
    try {
      for (const packet of out.packets) {
        if (packet.kind === 'local' && packet.decapsulated) {
          this.counters.decapsulated++;
          this.answerMembershipQuery(packet.bytes);
          if (this.receivedSubject.observed) this.receivedSubject.next(packet.bytes.slice());
        }
      }
    } finally {
      out.release();
    }
  }

  private rebuildDecapsulation(): void {
    const colocated = this.colocated;
    // A node configured to decapsulate behind a foreign agent asks for broadcasts with 'B'
    // (3.6.1.2) and then gets them nested, the inner tunnel addressed to its home address (4.3).
    const decapsulates = colocated !== undefined || this.config.requestOptions?.decapsulates === true;
    this.decapsulation = !decapsulates
      ? undefined
      : mobileNodeDecapsulation({
          homeAddress: this.config.homeAddress,
          careOfAddresses: colocated === undefined ? [] : [colocated.address],
          homePrefixLength: this.config.homePrefixLength,
        });
  }

  // -------------------------------------------------------------------------------------------
  // Commands of the discovery actor

  private onDiscoveryCommands(commands: readonly MnDiscoveryCommand[]): void {
    for (const command of commands) {
      switch (command.type) {
        case 'sendSolicitation':
          this.sendSolicitation(command.params.count);
          break;
        case 'register':
          this.startRegistration(command.params);
          break;
        case 'deregisterAtHome':
          // R3.6.1.2-21: Lifetime 0, care-of address = home address, to the home agent.
          this.startRegistration({ kind: 'home' });
          break;
        case 'agentRebooted': {
          const p = command.params;
          this.emit({ event: 'agent-rebooted', at: this.now(), agent: ipv4ToString(p.agent), previousSequence: p.previousSequence, sequence: p.sequence });
          break;
        }
        case 'homeArp':
          // The host's ARP for the home address follows the attachment announced next (the
          // Linux host adapter moves the address to lo with arp_ignore; R4.6-18); reported here.
          this.emit({ event: 'home-arp', at: this.now(), enabled: command.params.enabled });
          break;
      }
    }
  }

  /** 2.2: an ICMP Router Solicitation, TTL 1, to 224.0.0.11 (or its link-layer group). */
  private sendSolicitation(count: number): void {
    if (!this.linkUp) return; // no carrier: nothing to solicit on (linkLost)
    const solicitation = new Uint8Array(SOLICITATION_LENGTH);
    encodeAgentSolicitation(makeAgentSolicitation(), solicitation, 0);
    const frame = icmpFrame(
      {
        sourceMac: this.io.link.mac,
        destinationMac: multicastMac(ALL_MOBILITY_AGENTS),
        source: this.colocated?.address ?? this.config.homeAddress,
        destination: ALL_MOBILITY_AGENTS,
        ttl: 1,
      },
      solicitation,
    );
    this.io.link.send(frame);
    this.counters.solicitations++;
    this.emit({ event: 'solicitation', at: this.now(), count });
  }

  /**
   * R4.6-10: a gratuitous ARP for the home address with the node's own link-layer address, at
   * once, then R4.6-11: repeated GRATUITOUS_ARP_COPIES - 1 times, GRATUITOUS_ARP_SPACING_MS
   * apart, in parallel with the deregistration. Leaving home stops the copies (R4.6-14).
   */
  private startGratuitousArp(address: Ipv4Address): void {
    this.stopGratuitousArp();
    const frame = gratuitousArpFrame(this.io.link.mac, address);
    const send = (copy: number) => {
      this.gratuitousArpAlarm = undefined;
      if (this.closed) return;
      this.io.link.send(frame);
      this.emit({ event: 'gratuitous-arp', at: this.now(), address: ipv4ToString(address), copy });
      if (copy < GRATUITOUS_ARP_COPIES) {
        this.gratuitousArpAlarm = this.options.clock.setAlarm(this.now() + GRATUITOUS_ARP_SPACING_MS, () => send(copy + 1));
      }
    };
    send(1);
  }

  private stopGratuitousArp(): void {
    this.gratuitousArpAlarm?.cancel();
    this.gratuitousArpAlarm = undefined;
  }

  /** A new registration actor for `target`; the previous one is cancelled, its replay state kept. */
  private startRegistration(target: MnRegistrationTarget): void {
    const previous = this.registration;
    if (previous !== undefined && !previous.stopped) {
      this.keepReplayState(previous.snapshot.context);
      this.registrationHost.send(previous, { type: 'cancel', at: this.now() });
    }
    const awayBefore = this.attachment !== undefined && this.attachment.kind !== 'at-home';
    this.announceAttachment(target);
    if (target.kind !== 'home') this.stopGratuitousArp();
    const id = `registration:${++this.registrationCount}:${ipv4ToString(careOfOf(target, this.config.homeAddress))}`;
    this.registrationOutcome = 'pending';
    this.registration = undefined;
    const owner: RegistrationOwner = { target, adjustment: {}, sentFlags: 0, sentEncapsulatingDelivery: false };
    // A new registration: the reverse tunnel of the previous one no longer holds.
    this.setOwnTunnel(undefined);
    // RFC 3519: the UDP tunnel goes on receiving while the same care-of address registers again
    // (the home agent still sends there); any other target ends it.
    const udp = this.udpTunnelling.tunnel();
    if (udp !== undefined && (target.kind !== 'co-located' || target.careOfAddress !== udp.careOfAddress)) this.udpTunnelling.stop('new registration elsewhere');
    // The actor sends its first Request during spawn: the owner must know it is current.
    const actor = this.registrationHost.spawn(
      id,
      {
        replay: this.config.mobileHome.replay,
        homeAgent: this.config.homeAgent,
        homeAddress: this.config.homeAddress,
        lifetime: requestLifetime(this.requestSettings, target),
        at: this.now(),
        seed: this.options.random32(),
        ...(this.config.retransmission !== undefined ? { retransmission: this.config.retransmission } : {}),
        ...(this.replayState !== undefined ? { replayState: this.replayState } : {}),
        hostReady: this.hostPending === 0 || this.requestNeedsNoHost(target, awayBefore),
        // 4.6, returning home: a gratuitous ARP before the deregistration (R4.6-10).
        ...(target.kind === 'home' ? { gratuitousArp: this.config.homeAddress } : {}),
      },
      owner,
    );
    if (!actor.stopped) this.registration = actor;
  }

  /**
   * A move from one away attachment to a foreign agent: the Request is a frame to the agent's
   * link-layer address (no route, no ARP, R3.6.1.1-8), ARP for the home address is already off
   * (R4.6-18: the away settings stay) and the home address is already local (its Reply is
   * accepted), so it need not wait for the host's new routes: the handoff does not pay for the
   * `ip` commands. From home (ARP still on) and to co-located or home (routed) it waits.
   */
  private requestNeedsNoHost(target: MnRegistrationTarget, awayBefore: boolean): boolean {
    return awayBefore && target.kind === 'foreign-agent' && target.agentLinkAddress !== undefined;
  }

  private announceAttachment(target: MnRegistrationTarget): void {
    let attachment: MobileNodeAttachment;
    if (target.kind === 'home') attachment = { kind: 'at-home' };
    else if (target.kind === 'co-located') {
      const prefixLength = this.colocated?.address === target.careOfAddress ? this.colocated.prefixLength : undefined;
      const gateway = this.colocated?.address === target.careOfAddress ? this.colocatedGateway : undefined;
      attachment = {
        kind: 'co-located',
        careOfAddress: target.careOfAddress,
        ...(prefixLength !== undefined ? { prefixLength } : {}),
        ...(gateway !== undefined ? { gateway } : {}),
      };
    } else {
      const current = this.discovery?.snapshot.context.current;
      const hop = current === undefined ? undefined : awayFirstHop(current);
      if (target.agent === undefined || hop === undefined) return;
      attachment = { kind: 'foreign-agent', agent: target.agent, careOfAddress: target.careOfAddress, router: hop.address, routerLinkAddress: hop.linkAddress };
    }
    if (sameAttachment(this.attachment, attachment)) return;
    this.attachment = attachment;
    this.emit({ event: 'attachment', at: this.now(), attachment: attachmentJson(attachment) });
    if (this.attachmentSubject.observed) {
      if (this.options.waitForHost === true) this.hostPending++;
      this.attachmentSubject.next(attachment);
    }
  }

  private keepReplayState(context: MnRegistrationContext): void {
    this.replayState = {
      clockOffsetMs: context.clockOffsetMs,
      ...(context.nonce !== undefined ? { nonce: context.nonce } : {}),
      ...(context.lastIdentification !== undefined ? { lastIdentification: context.lastIdentification } : {}),
      ...(context.acceptedIdentification !== undefined ? { acceptedIdentification: context.acceptedIdentification } : {}),
      ...(context.lastSentAt > Number.MIN_SAFE_INTEGER ? { lastRequestAt: context.lastSentAt } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Reverse tunnelling (RFC 3024): the Request's 'T' and delivery style, the answers to its
  // refusals, and the node's own tunnel (runtime/dataplane/mn-plane.ts)

  /** The Request settings with this registration's adjustments (policies/mn-reverse-tunnel.ts). */
  private adjustedSettings(owner: RegistrationOwner): MnRequestSettings {
    const a = owner.adjustment;
    if (a.reverseTunnel === undefined && a.directDelivery === undefined && a.ipInIpOnly === undefined) return this.requestSettings;
    return {
      ...this.requestSettings,
      ...(a.reverseTunnel !== undefined ? { reverseTunnel: a.reverseTunnel } : {}),
      ...(a.directDelivery === true ? { deliveryStyle: 'direct' as const } : {}),
      ...(a.ipInIpOnly === true ? { minimalEncapsulation: false, greEncapsulation: false } : {}),
    };
  }

  /**
   * An authentic Reply to the current Request with one of RFC 3024's refusal codes: adjusts the
   * registration's next Request when that can help (true: the machine then sends it as a
   * repair, 1 s after the last Request at the earliest, at most `maxRepairs` times); logs and
   * counts the outcome either way.
   */
  private answerReverseTunnelRefusal(actor: RegistrationActor, code: number, identificationLow: number): boolean {
    const context = actor.snapshot.context;
    if (actor.snapshot.value !== 'awaitingReply' || identificationLow >>> 0 !== context.identification.low >>> 0) return false;
    const owner = actor.owner;
    const target = owner.target;
    const offered = target.kind === 'co-located' || (target.kind === 'foreign-agent' && target.reverseTunnel);
    const decision = reverseTunnelRetry(code, {
      reverseTunnel: (owner.sentFlags & RequestFlag.T) !== 0,
      encapsulatingDelivery: owner.sentEncapsulatingDelivery,
      otherEncapsulation: (owner.sentFlags & (RequestFlag.M | RequestFlag.G)) !== 0,
      reverseTunnelOffered: offered,
    });
    if (decision.kind === 'not-applicable') return false;
    const at = this.now();
    if (decision.kind === 'final') {
      this.reverseTunnelCounters.refusals++;
      this.emit({ event: 'reverse-tunnel-warning', at, code, retry: false, detail: decision.detail });
      return false;
    }
    const retryable = context.repairs < context.settings.maxRepairs;
    if (!retryable) {
      this.reverseTunnelCounters.refusals++;
      this.emit({ event: 'reverse-tunnel-warning', at, code, retry: false, detail: `${decision.detail} (no repairs left: denied)` });
      return false;
    }
    owner.adjustment = { ...owner.adjustment, ...decision.adjustment };
    this.reverseTunnelCounters.retries++;
    this.emit({ event: decision.warning ? 'reverse-tunnel-warning' : 'reverse-tunnel-retry', at, code, retry: true, detail: decision.detail });
    return true;
  }

  /**
   * An accepted registration: the node's own tunnel when it must encapsulate its datagrams
   * itself: co-located and granted 'T' (to the home agent, RFC 3024 5.2), or through a foreign
   * agent with the encapsulating delivery style (to the agent, RFC 3024 5.2.2).
   */
  private recordGrantedReverseTunnel(actor: RegistrationActor): void {
    const { target, sentFlags, sentEncapsulatingDelivery } = actor.owner;
    const homeAddress = actor.snapshot.context.homeAddress;
    // Over a UDP tunnel (RFC 3519) the registration socket carries the datagrams: no raw sender needed.
    const overUdp = this.udpTunnelling.tunnel() !== undefined;
    if ((sentFlags & RequestFlag.T) === 0 || target.kind === 'home' || (this.io.tunnelSender === undefined && !overUdp)) return this.setOwnTunnel(undefined);
    if (target.kind === 'co-located') {
      return this.setOwnTunnel({
        homeAddress,
        outerSource: target.careOfAddress,
        outerDestination: actor.snapshot.context.homeAgent,
        encapsulation: grantedEncapsulation(sentFlags),
        to: 'home-agent',
      });
    }
    if (!sentEncapsulatingDelivery) return this.setOwnTunnel(undefined);
    this.setOwnTunnel({ homeAddress, outerSource: homeAddress, outerDestination: target.careOfAddress, encapsulation: 'ip-in-ip', to: 'foreign-agent' });
  }

  private setOwnTunnel(tunnel: MobileNodeReverseTunnel | undefined): void {
    const previous = this.ownTunnel;
    if (previous === undefined && tunnel === undefined) return;
    if (
      previous !== undefined &&
      tunnel !== undefined &&
      previous.outerSource === tunnel.outerSource &&
      previous.outerDestination === tunnel.outerDestination &&
      previous.encapsulation === tunnel.encapsulation
    ) {
      return;
    }
    this.ownTunnel = tunnel;
    this.joinGroupsThroughTunnel();
    this.emit(
      tunnel === undefined
        ? { event: 'reverse-tunnel', at: this.now(), active: false }
        : {
            event: 'reverse-tunnel',
            at: this.now(),
            active: true,
            outerSource: ipv4ToString(tunnel.outerSource),
            outerDestination: ipv4ToString(tunnel.outerDestination),
            encapsulation: tunnel.encapsulation,
          },
    );
  }

  /** The co-located care-of address changed: a tunnel leaving from the old one ends with it. */
  private endOwnTunnelFrom(currentColocated: Ipv4Address | undefined): void {
    const tunnel = this.ownTunnel;
    if (tunnel !== undefined && tunnel.to === 'home-agent' && tunnel.outerSource !== currentColocated) this.setOwnTunnel(undefined);
  }

  /**
   * 4.4 (R4.4-5): the configured groups are joined through the home agent whenever a reverse
   * tunnel starts: a Version 2 Membership Report per group from the home address (R4.4-6) through
   * the tunnel at once, repeated once after the Unsolicited Report Interval (RFC 2236 3).
   */
  private joinGroupsThroughTunnel(): void {
    this.membershipAlarm?.cancel();
    this.membershipAlarm = undefined;
    if (this.ownTunnel === undefined || (this.config.multicastGroups ?? []).length === 0) return;
    this.sendMembershipReports(undefined);
    this.membershipAlarm = this.options.clock.setAlarm(this.now() + UNSOLICITED_REPORT_INTERVAL_MS, () => {
      this.membershipAlarm = undefined;
      this.sendMembershipReports(undefined);
    });
  }

  /** Reports for every configured group, or only `group`. */
  private sendMembershipReports(group: Ipv4Address | undefined): void {
    const tunnel = this.ownTunnel;
    if (tunnel === undefined || this.closed) return;
    for (const g of this.config.multicastGroups ?? []) {
      if (group !== undefined && g !== group) continue;
      const report = membershipReport(tunnel.homeAddress, g, this.membershipIdentification++);
      if (this.sendOwnDatagram(report)) this.reverseTunnelCounters.membershipReports++;
    }
  }

  /**
   * A Membership Query from the home agent, decapsulated by the node (RFC 2236 3): reports for
   * the groups it asks about after a random delay up to its Max Response Time; a report already
   * due sooner stands.
   */
  private answerMembershipQuery(datagram: Uint8Array): void {
    const groups = this.config.multicastGroups ?? [];
    if (groups.length === 0 || this.ownTunnel === undefined) return;
    const query = membershipQuery(datagram);
    if (query === undefined || (query.group !== 0 && !groups.includes(query.group))) return;
    const due = this.now() + (this.options.random32() % Math.max(1, query.maxResponseMs));
    if (this.membershipAlarm !== undefined) return;
    const group = query.group === 0 ? undefined : query.group;
    this.membershipAlarm = this.options.clock.setAlarm(due, () => {
      this.membershipAlarm = undefined;
      this.sendMembershipReports(group);
    });
  }

  // -------------------------------------------------------------------------------------------
  // UDP tunnelling (RFC 3519): the Reply's grant, the answer to 142, tunnel data in

  /**
   * An accepted registration: UDP tunnelling when the Request asked and the home agent's
   * authenticated UDP Tunnel Reply says code 0 (policies/mn-udp-tunnel.ts); else IP in IP.
   */
  private recordUdpTunnel(actor: RegistrationActor): void {
    const owner = actor.owner;
    const outcome = udpTunnelOutcome(owner.sentUdpTunnel, owner.udpTunnelReply);
    const target = owner.target;
    if (outcome.kind === 'not-requested' || target.kind !== 'co-located') return this.udpTunnelling.stop('registered without UDP tunnelling');
    // A renewal from an address the interface no longer has opens no tunnel from it (R1.7-6).
    if (this.colocated?.address !== target.careOfAddress) return this.udpTunnelling.stop('co-located address gone');
    if (outcome.kind === 'declined') {
      this.udpTunnelling.counters.declined++;
      this.emit({ event: 'udp-tunnel-declined', at: this.now(), code: owner.udpTunnelReply?.code ?? -1, detail: outcome.detail });
      return this.udpTunnelling.stop('declined by the home agent');
    }
    this.udpTunnelling.counters.granted++;
    this.udpTunnelling.start(
      { homeAddress: actor.snapshot.context.homeAddress, homeAgent: actor.snapshot.context.homeAgent, careOfAddress: target.careOfAddress },
      outcome.keepaliveSeconds,
      outcome.forced,
      owner.lastRequestAt ?? this.now(),
    );
  }

  /**
   * An authentic 142 to the current Request (RFC 3519 3.5): again without the extension when that
   * can help (true: the machine sends it as a repair, bounded by `maxRepairs`), logged either way.
   */
  private answerUdpTunnelRefusal(actor: RegistrationActor, code: number, identificationLow: number): boolean {
    const context = actor.snapshot.context;
    if (actor.snapshot.value !== 'awaitingReply' || identificationLow >>> 0 !== context.identification.low >>> 0) return false;
    const decision = udpTunnelRetry(code, this.config.udpTunnel ?? DEFAULT_UDP_TUNNEL_MODE, actor.owner.sentUdpTunnel);
    if (decision.kind === 'not-applicable') return false;
    const at = this.now();
    const counters = this.udpTunnelling.counters;
    if (decision.kind === 'final') {
      counters.refusals++;
      this.emit({ event: 'udp-tunnel-warning', at, code, detail: decision.detail });
      return false;
    }
    if (context.repairs >= context.settings.maxRepairs) {
      counters.refusals++;
      this.emit({ event: 'udp-tunnel-warning', at, code, detail: `${decision.detail} (no repairs left: denied)` });
      return false;
    }
    actor.owner.udpTunnelWithdrawn = true;
    counters.retries++;
    this.emit({ event: 'udp-tunnel-retry', at, code, detail: decision.detail });
    return true;
  }

  /** A tunnel data message on the registration socket (RFC 3519 4.3): its inner datagram to the host, as co-located decapsulation does. */
  private handleUdpTunnelData(message: Uint8Array, from: Ipv4Address, fromPort: number): void {
    const inner = this.udpTunnelling.receive(message, from, fromPort);
    if (inner === undefined) return;
    this.counters.decapsulated++;
    this.answerMembershipQuery(inner);
    if (this.receivedSubject.observed) this.receivedSubject.next(inner.slice());
  }

  /** The node's own reverse tunnel in force now (RFC 3024 5.2), if any. */
  reverseTunnel(): MobileNodeReverseTunnel | undefined {
    return this.ownTunnel;
  }

  /**
   * A datagram the node's own stack sends (from its TUN device on Linux, a host intercept in the
   * simulated network). With a reverse tunnel in force and the home address as source it is
   * encapsulated and sent through `tunnelSender` (true); otherwise false: the host sends it as
   * usual. Malformed input is dropped, counted in the plane (true: nothing to send).
   */
  sendOwnDatagram(datagram: Uint8Array): boolean {
    const sender = this.io.tunnelSender;
    if (this.closed) return false;
    if (this.ownTunnel === undefined) return this.refuseDirectMulticastFromHome(datagram);
    // RFC 3519 4.4: with UDP tunnelling granted the reverse tunnel is the UDP flow, not IP in IP.
    if (this.udpTunnelling.tunnel() !== undefined) {
      const taken = this.udpTunnelling.sendOwn(datagram);
      if (taken) this.reverseTunnelCounters.tunnelled++;
      return taken;
    }
    if (sender === undefined) return false;
    const out = this.ownPlane.process([{ bytes: datagram }]);
    try {
      if (out.packets.length === 0) return true;
      let taken = false;
      for (const packet of out.packets) {
        if (packet.kind !== 'send-ip') continue;
        taken = true;
        if (sender.send(packet.bytes, packet.destination)) this.reverseTunnelCounters.tunnelled++;
        else this.reverseTunnelCounters.sendDropped++;
      }
      return taken;
    } finally {
      out.release();
    }
  }

  /**
   * R4.4-9: away from home, multicast sent directly on the visited network must come from the
   * co-located care-of address; with no tunnel to carry it, a multicast datagram from the home
   * address is dropped (true) and counted. Anything else is the host's to send (false).
   */
  private refuseDirectMulticastFromHome(datagram: Uint8Array): boolean {
    const attachment = this.attachment;
    if (attachment === undefined || attachment.kind === 'at-home' || datagram.length < 20 || datagram[0]! >> 4 !== 4) return false;
    if (!isMulticast(ipv4Destination(datagram, 0)) || ipv4Source(datagram, 0) !== this.config.homeAddress) return false;
    this.reverseTunnelCounters.multicastFromHomeDropped++;
    return true;
  }

  /** The reverse tunnel plane's counters (runtime/dataplane/packets.ts names). */
  reverseTunnelPlaneCounters(): Readonly<Record<string, number>> {
    return this.ownPlane.counters;
  }

  // -------------------------------------------------------------------------------------------
  // Commands of the registration actors

  private onRegistrationCommands(actor: RegistrationActor, commands: readonly MnRegistrationCommand[]): void {
    const at = this.now();
    for (const command of commands) {
      switch (command.type) {
        case 'sendRequest': {
          this.sendRequest(actor, command.params);
          break;
        }
        case 'registrationAccepted': {
          const p = command.params;
          this.keepReplayState(actor.snapshot.context);
          if (actor.snapshot.context.lifetime === 0) {
            this.registrationOutcome = 'deregistered';
            this.emit({ event: 'deregistered', at, code: p.code });
            this.udpTunnelling.stop('deregistered');
          } else {
            this.registrationOutcome = 'registered';
            this.recordUdpTunnel(actor);
            this.recordGrantedReverseTunnel(actor);
            this.emit({ event: 'registered', at, code: p.code, lifetime: p.grantedLifetime, expiresAt: p.expiresAt, renewAt: p.renewAt });
          }
          // R2.4-11: a registration resets the solicitation back-off.
          this.sendDiscovery({ type: 'registered', at });
          break;
        }
        case 'registrationDenied': {
          const p = command.params;
          this.registrationOutcome = 'denied';
          this.udpTunnelling.stop('registration denied');
          this.emit({ event: 'denied', at, code: p.code, byForeignAgent: p.byForeignAgent });
          break;
        }
        case 'gratuitousArp':
          this.startGratuitousArp(command.params.address);
          break;
        case 'registrationGivenUp':
          this.registrationOutcome = 'given-up';
          this.udpTunnelling.stop('registration given up');
          this.emit({ event: 'given-up', at, attempts: command.params.attempts });
          break;
      }
    }
  }

  private sendRequest(actor: RegistrationActor, p: { attempt: number; identification: Identification; lifetime: number; homeAgent: Ipv4Address }): void {
    if (!this.linkUp) return; // no carrier (linkLost): the Request would go nowhere
    const target = actor.owner.target;
    const udpTunnelRequest = udpTunnelRequestFor(this.config.udpTunnel ?? DEFAULT_UDP_TUNNEL_MODE, target, actor.owner.udpTunnelWithdrawn === true);
    const adjusted = this.adjustedSettings(actor.owner);
    const settings = udpTunnelRequest === undefined ? adjusted : { ...adjusted, udpTunnelRequest };
    actor.owner.sentUdpTunnel = udpTunnelRequest;
    if (udpTunnelRequest !== undefined) this.udpTunnelling.counters.requested++;
    const built = buildRegistrationRequest(settings, target, { identification: p.identification, lifetime: p.lifetime, homeAgent: p.homeAgent });
    actor.owner.sentFlags = built.request.flags;
    actor.owner.sentEncapsulatingDelivery = usesEncapsulatingDelivery(settings, target, built.request.flags);
    const bytes = encodeSigned(built.request, built.keyFor);
    const { source, destination, destinationPort, ttl, linkDestination } = built.addressing;
    const sourcePort = this.io.udp.localPort;
    const addressing = { sourceMac: this.io.link.mac, source, destination, ttl };
    let via: 'link' | 'ip' | 'socket';
    let send: () => void;
    if (target.kind === 'foreign-agent' && (linkDestination !== undefined || destination === ALL_MOBILITY_AGENTS)) {
      // R3.6.1.1-8 / R1.7-4: to the agent's link-layer address, without IP routing or ARP.
      const frame = udpFrame({ ...addressing, destinationMac: linkDestination ?? multicastMac(destination) }, sourcePort, destinationPort, bytes);
      via = 'link';
      send = () => this.io.link.send(frame);
    } else if (this.io.requestSocket !== undefined) {
      // R3.6.1.1-1/-2: the source the node chose, whatever addresses the interface has.
      const datagram = udpFrame({ ...addressing, destinationMac: '00:00:00:00:00:00' }, sourcePort, destinationPort, bytes).subarray(ETHERNET_HEADER_LENGTH);
      const socket = this.io.requestSocket;
      via = 'ip';
      send = () => void socket.send(datagram, destination);
    } else {
      via = 'socket';
      send = () => this.io.udp.send(bytes, destination, destinationPort);
    }
    this.counters.requests++;
    this.emit({
      event: 'request',
      at: this.now(),
      actor: actor.id,
      attempt: p.attempt,
      destination: ipv4ToString(destination),
      homeAgent: ipv4ToString(built.request.homeAgent),
      careOfAddress: ipv4ToString(built.request.careOfAddress),
      lifetime: built.request.lifetime,
      identification: identificationToHex(p.identification),
      source: ipv4ToString(source),
      via,
    });
    send();
    // RFC 3519 4.9: a Request from the registration's port refreshes the NAT's mapping too.
    actor.owner.lastRequestAt = this.now();
    if (target.kind === 'co-located') this.udpTunnelling.noteSent(this.now());
  }

  private onRegistrationStopped(actor: RegistrationActor): void {
    if (actor === this.registration) this.keepReplayState(actor.snapshot.context);
  }

  // -------------------------------------------------------------------------------------------

  private sendDiscovery(event: MnDiscoveryEvent): void {
    if (this.discovery !== undefined && !this.closed) this.discoveryHost.send(this.discovery, event);
  }

  private now(): number {
    return this.options.clock.now();
  }

  private emit(event: MobileNodeEvent): void {
    if (this.eventSubject.observed) this.eventSubject.next(event);
  }
}

/**
 * RFC 3024 5.2 on Linux: the host routes the node's own datagrams into the TUN device (co-located
 * with reverse tunnelling wanted, io/linux/mn-host.ts); each goes through the node's tunnel, or,
 * while none is granted, out as it is by the raw socket bound to the interface.
 */
function readOwnDatagrams(tun: TunDevice, node: MobileNode, sender: RawIpSocket | undefined): void {
  tun.onPackets((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const datagram = batch.packet(i);
      if (node.sendOwnDatagram(datagram) || sender === undefined || datagram.length < 20 || datagram[0]! >> 4 !== 4) continue;
      if (sender.send(datagram, ipv4Destination(datagram, 0))) node.reverseTunnelCounters.passedThrough++;
      else node.reverseTunnelCounters.sendDropped++;
    }
  });
}

/** The encapsulation of the node's own tunnel: the one asked for when exactly one of 'M'/'G' was, else IP in IP (RFC 5944 4.1, every agent's). */
function grantedEncapsulation(flags: number): MobileNodeReverseTunnel['encapsulation'] {
  const minimal = (flags & RequestFlag.M) !== 0;
  const gre = (flags & RequestFlag.G) !== 0;
  if (gre && !minimal) return 'gre';
  if (minimal && !gre) return 'minimal';
  return 'ip-in-ip';
}

// ---------------------------------------------------------------------------------------------
// Running on the IO services

export interface RunningMobileNode {
  readonly node: MobileNode;
  /** Stops timers and releases the interface and sockets. */
  stop(): Promise<void>;
}

export interface StartMobileNodeOptions {
  /** The Link layer holding the node's interface (io/sim: network.linkLayer(host)). */
  readonly link: Layer.Layer<Link>;
  /** The Udp layer for registration messages. */
  readonly udp: Layer.Layer<Udp>;
  /**
   * The RawIp layer for tunnels to a co-located care-of address (4.1) and for Requests with the
   * node's own IP header (3.6.1.1); without it no tunnel is received and the stack picks the
   * source address of Requests to the home agent.
   */
  readonly rawIp?: Layer.Layer<RawIp>;
  readonly clock: Clock;
  readonly random32?: () => number;
  /**
   * Configures the host for each attachment (io/mn-host.ts, e.g. io/linux/mn-host.ts) with the
   * settings of `config.host`; its scope restores the host on `stop()`. Without it the embedder
   * configures the host (as the simulated demo does).
   */
  readonly host?: Layer.Layer<MnHost>;
  /**
   * The Tun layer: the inner datagrams the node decapsulates (co-located mode) are written into
   * the host stack through `config.host.tunnelDevice`, so local sockets bound to the home
   * address receive them.
   */
  readonly tun?: Layer.Layer<Tun>;
  /** Start discovery at once (default). False leaves it to `node.start()`, e.g. after subscribing. */
  readonly autoStart?: boolean;
}

/** IP-in-IP (required, 4.1), minimal encapsulation and GRE: what a co-located node decapsulates. */
const TUNNEL_PROTOCOLS = [IpProtocol.IPIP, IpProtocol.MINIMAL_ENCAPSULATION, IpProtocol.GRE] as const;

/**
 * Starts a mobile node: the interface, the UDP socket, (with `rawIp`) the tunnel sockets and the
 * Request socket, (with `host`) the host adapter and (with `tun`) the TUN device are acquired in
 * one Scope, released by `stop()` (which also restores the host). Rejects with the LinkError /
 * UdpError / RawIpError / MnHostError / TunError when one cannot be opened; nothing stays open
 * then.
 */
/** raw(7): header included, any protocol out, nothing ever in. */
const IPPROTO_RAW = 255;

/**
 * The socket the node's Requests to the home agent leave on, with the node's own IPv4 header
 * (R3.6.1.1-1/-2). IPPROTO_RAW, not a raw UDP socket: one of those gets a copy of every UDP
 * datagram the host receives, so each of the home agent's tunnel data messages (RFC 3519 4.3,
 * on the node's UDP socket) would wake the process a second time for nothing.
 */
export function openRequestSocket(raw: Context.Tag.Service<typeof RawIp>): Effect.Effect<RawIpSocket, RawIpError, Scope.Scope> {
  return raw.open(IPPROTO_RAW, { headerIncluded: true });
}

/** The socket of the node's own reverse tunnel (RFC 3024 5.2), on `device`: send-only too, for the same reason. */
export function openTunnelSender(raw: Context.Tag.Service<typeof RawIp>, device: string): Effect.Effect<RawIpSocket, RawIpError, Scope.Scope> {
  return raw.open(IPPROTO_RAW, { headerIncluded: true, device });
}

export async function startMobileNode(config: MobileNodeConfig, options: StartMobileNodeOptions): Promise<RunningMobileNode> {
  const acquire = Effect.gen(function* () {
    const link = yield* (yield* Link).open(config.interfaceName);
    const udp = yield* (yield* Udp).bind({ address: 0, port: config.port ?? 0 });
    return { link, udp };
  });
  const acquireTunnels = (rawIp: Layer.Layer<RawIp>) =>
    Effect.gen(function* () {
      const raw = yield* RawIp;
      const sockets: RawIpSocket[] = [];
      for (const protocol of TUNNEL_PROTOCOLS) sockets.push(yield* raw.open(protocol));
      const requestSocket = yield* openRequestSocket(raw);
      // The node's own reverse tunnel (RFC 3024 5.2): whole outer datagrams, any tunnel protocol.
      // Bound to the interface (Linux): what it sends never loops back into the TUN device the
      // node's own datagrams are routed into (io/linux/mn-host.ts reverseTunnelSteps). Send-only
      // (IPPROTO_RAW) for the reason openRequestSocket gives: a protocol-4 socket would get a
      // second copy of every IP-in-IP datagram the tunnel sockets above already read.
      const tunnelSender = yield* openTunnelSender(raw, config.interfaceName);
      return { sockets, requestSocket, tunnelSender };
    }).pipe(Effect.provide(rawIp));
  const hostSettings: MnHostSettings = {
    interfaceName: config.interfaceName,
    homeAddress: config.homeAddress,
    homePrefixLength: config.homePrefixLength,
    ...config.host,
    ...(config.requestOptions?.reverseTunnel === true ? { reverseTunnel: { homeAgent: config.homeAgent } } : {}),
  };
  const tunnelDevice = config.host?.tunnelDevice;
  const acquireHost = Effect.gen(function* () {
    const adapter = options.host === undefined ? undefined : yield* Effect.flatMap(MnHost, (host) => host.open(hostSettings)).pipe(Effect.provide(options.host));
    const tun: TunDevice | undefined =
      options.tun === undefined || tunnelDevice === undefined ? undefined : yield* Effect.flatMap(Tun, (t) => t.open(tunnelDevice)).pipe(Effect.provide(options.tun));
    return { adapter, tun };
  });
  const program = Effect.gen(function* () {
    const io = yield* acquire.pipe(Effect.provide(Layer.merge(options.link, options.udp)));
    const host = yield* acquireHost;
    if (options.rawIp === undefined) return { io: { ...io, tunnels: [] }, host };
    const { sockets, requestSocket, tunnelSender } = yield* acquireTunnels(options.rawIp);
    return { io: { ...io, tunnels: sockets, requestSocket, tunnelSender }, host };
  });
  const opened = await openInScope(program);
  const { io, host } = opened.value;
  const node = new MobileNode(config, io, { clock: options.clock, random32: options.random32 ?? secureRandom32, waitForHost: host.adapter !== undefined });
  // Attachments are applied one after the other, in the order the node announced them.
  let applying: Promise<void> = Promise.resolve();
  const adapter = host.adapter;
  if (adapter !== undefined) {
    node.attachments.subscribe((attachment) => {
      applying = applying.then(async () => {
        const started = performance.now();
        const result = await Effect.runPromiseExit(adapter.apply(attachment));
        if (Exit.isSuccess(result)) node.hostConfigured({ attachment, ms: Math.round((performance.now() - started) * 10) / 10 });
        else {
          const failure = Cause.failureOption(result.cause);
          const error = failure._tag === 'Some' ? failure.value : undefined;
          node.hostConfigured({ operation: error?.operation ?? 'apply', detail: error?.message ?? Cause.pretty(result.cause) });
        }
      });
    });
  }
  for (const socket of io.tunnels) {
    const drops = socket.receiveQueueDrops?.bind(socket);
    if (drops !== undefined) node.kernelDrops.add('kernel-tunnel-receive-queue', drops);
  }
  const tun = host.tun;
  const tunDrops = tun?.deviceDrops;
  if (tunDrops !== undefined) {
    node.kernelDrops.add('kernel-tun-write', () => tunDrops().receiveDropped);
    node.kernelDrops.add('kernel-tun-read-queue', () => tunDrops().transmitDropped);
  }
  if (tun !== undefined) {
    tun.onError(() => {});
    readOwnDatagrams(tun, node, 'tunnelSender' in io ? io.tunnelSender : undefined);
    node.received.subscribe((inner) => {
      if (!tun.send(inner)) node.counters.injectDropped++;
      else node.counters.injected++;
    });
  }
  if (options.autoStart !== false) node.start();
  let stopped = false;
  return {
    node,
    async stop() {
      if (stopped) return;
      stopped = true;
      node.close();
      await applying;
      await opened.close();
    },
  };
}
