/**
 * A simulated IPv4 host (or router) on simulated Ethernet segments, the node type of the
 * simulated network (io/sim/network.ts): interfaces with ARP, longest-prefix routing, local
 * delivery and forwarding with the ICMP errors of RFC 1812. Everything runs from clock alarms,
 * so a run replays identically from the same seed and inputs. The rules it follows (with their
 * RFC sections) and what it does not model: docs/simulated-host.md.
 */
import type { Alarm, Clock } from '../clock.js';
import { LinkError, type LinkInterface } from '../link.js';
import { ARP_FRAME_LENGTH, ArpOperation, arpReply, arpRequest, decodeArpPacket, encodeArpFrame } from '../wire/arp.js';
import { ipv4ToString, readU16, type Ipv4Address } from '../wire/bytes.js';
import { directedBroadcast, isLoopback, isMulticast, LIMITED_BROADCAST, prefixMask } from '../wire/ipv4-address.js';
import {
  BROADCAST_MAC,
  encodeEthernetHeader,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  ethernetDestination,
  ethernetEtherType,
  ethernetIsMulticast,
  ethernetSource,
  mac as parseMacLiteral,
  multicastMac,
  type MacAddress,
} from '../wire/ethernet.js';

export { multicastMac };
import { encodeIcmpEcho, encodeIcmpError, IcmpType, icmpChecksum, TimeExceededCode, UnreachableCode } from '../wire/icmp.js';
import {
  decrementIpv4Ttl,
  encodeIpv4Header,
  ipv4ChecksumValid,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4FragmentOffset,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
  IpProtocol,
  IPV4_MIN_HEADER_LENGTH,
} from '../wire/ipv4.js';
import type { SimEthernetPort, SimEthernetSegment } from './ethernet.js';
import type { InterfaceEvent } from '../link-events.js';
import { SimNat, type SimNatOptions } from './nat.js';

/** All Systems on this subnet (RFC 1112): every host joins it on every interface. */
export const ALL_SYSTEMS_GROUP: Ipv4Address = 0xe0000001;
/** All Mobility Agents (RFC 5944 2.3.2): agents join it to hear solicitations. */
export const ALL_MOBILITY_AGENTS_GROUP: Ipv4Address = 0xe000000b;

const DEFAULT_TTL = 64;
/** RFC 1812 4.3.2.3: an ICMP error should not exceed 576 bytes. */
const ICMP_ERROR_MAX_DATAGRAM = 576;

// ---------------------------------------------------------------------------------------------
// Public types

export interface SimHostOptions {
  /** Forward datagrams not addressed to this host (a router). Default false. */
  readonly forwarding?: boolean;
  /** Groups joined on every interface besides 224.0.0.1 (e.g. 224.0.0.11 for agents). */
  readonly multicastGroups?: readonly Ipv4Address[];
  /** Datagrams kept per unresolved next hop (default 3; the latest are kept). */
  readonly arpQueueLimit?: number;
  /** Interval between ARP Requests for one address, ms (default 1000). */
  readonly arpRetransmitMs?: number;
  /** ARP Requests sent before resolution fails (default 3). */
  readonly arpMaxRequests?: number;
  /** TTL of datagrams this host originates (default 64). */
  readonly defaultTtl?: number;
  /**
   * Ingress filtering (BCP 38, strict reverse path as RFC 3704 2.2): a datagram arriving on an
   * interface is dropped, and counted in `ingressFiltered`, unless this host's route back to its
   * source leaves by that same interface. Default false. See docs/simulated-host.md.
   */
  readonly ingressFilter?: boolean;
  /**
   * Masquerade the `inside` interfaces' hosts behind the `outside` interface's address (needs
   * `forwarding`): io/sim/nat.ts, docs/simulated-host.md. Reach it as `host.nat`.
   */
  readonly nat?: SimNatOptions;
}

export interface SimInterfaceOptions {
  /** Default: a locally administered MAC derived from the host and interface numbers. */
  readonly mac?: MacAddress;
  /** First address of the interface (more with addAddress). */
  readonly address?: Ipv4Address;
  /** Default 24. */
  readonly prefixLength?: number;
  readonly mtu?: number;
  /** Link state at creation (default up). */
  readonly up?: boolean;
}

export interface InterfaceAddress {
  readonly address: Ipv4Address;
  readonly prefixLength: number;
}

export interface Route {
  readonly prefix: Ipv4Address;
  readonly prefixLength: number;
  /** Next hop; absent when the destination is on the interface's link. */
  readonly via?: Ipv4Address;
  readonly interface: string;
  /** 'connected' routes follow the interface addresses; 'static' ones are added by hand. */
  readonly kind: 'connected' | 'static';
}

/** How an interface takes part in ARP (RFC 5944 4.6 constrains a mobile node away from home). */
export interface ArpBehaviour {
  /**
   * Which Requests for the interface's own addresses are answered: all (default), only those
   * unicast to this interface (a mobile node away from home, R4.6-15/16), or none.
   */
  readonly answer: 'all' | 'unicast-only' | 'none';
  /** Whether the host broadcasts Requests to resolve next hops (false: static entries only, R4.6-14). */
  readonly request: boolean;
}

export interface ArpEntry {
  readonly mac: MacAddress;
  /** Set by setArpEntry: never overwritten by received ARP packets. */
  readonly permanent: boolean;
}

/** How a datagram reached the handler. */
export interface IpArrival {
  /** The receiving interface; undefined for a datagram the host sent to itself. */
  readonly interface: string | undefined;
  /** Ethernet source and destination of the frame it came in (undefined when looped back). */
  readonly linkSource: MacAddress | undefined;
  readonly linkDestination: MacAddress | undefined;
  /** Simulated time of arrival. */
  readonly at: number;
}

/** Where a datagram seen by an intercept predicate comes from. */
export interface InterceptInfo extends IpArrival {
  /** 'link': received on an interface; 'local': sent by this host (sendIp, sockets, ICMP). */
  readonly origin: 'link' | 'local';
}

/** A datagram handler: the bytes are exactly the IP datagram (Total Length), a view valid during the call: copy to keep, never modify. */
export type IpHandler = (datagram: Uint8Array, arrival: IpArrival) => void;
export type InterceptPredicate = (datagram: Uint8Array, info: InterceptInfo) => boolean;
export type InterceptHandler = (datagram: Uint8Array, info: InterceptInfo) => void;
/** A frame handler: every frame the interface receives (before the host's own processing). */
export type FrameHandler = (frame: Uint8Array) => void;

export interface SendIpOptions {
  /** Send out of this interface (required for a broadcast/multicast with no route to pick one). */
  readonly interface?: string;
  /** Link-layer next hop on that interface (default: from the route, or the destination). */
  readonly nextHop?: Ipv4Address;
}

/** What became of a datagram handed to sendIp / sendPacket. */
export type SendIpResult =
  | 'sent'
  /** Waiting for ARP resolution of the next hop. */
  | 'queued'
  /** Addressed to this host: delivered locally at the next clock step. */
  | 'looped'
  | 'intercepted'
  | 'malformed'
  | 'no-route'
  | 'no-such-interface'
  | 'link-down'
  | 'too-big'
  /** The interface does not send ARP Requests and the next hop has no entry. */
  | 'unresolved';

export interface SendPacketFields {
  readonly protocol: number;
  readonly destination: Ipv4Address;
  /** Default: the primary address of the outgoing interface. */
  readonly source?: Ipv4Address;
  readonly ttl?: number;
  readonly tos?: number;
  /** Default: a per-host counter. */
  readonly identification?: number;
  readonly dontFragment?: boolean;
  readonly payload: Uint8Array;
}

export interface SimHostCounters {
  framesIn: number;
  framesOut: number;
  /** Frames neither ARP nor IPv4 (seen only by onFrame handlers). */
  otherFrames: number;
  ipIn: number;
  /** Datagrams that fail the length/version checks. */
  malformed: number;
  /** IPv4 header checksum wrong: dropped (RFC 1122 3.2.1.2). */
  badChecksum: number;
  fragmentsDropped: number;
  /** Unicast datagrams for another host, arriving at a host that does not forward. */
  notForThisHost: number;
  /** Datagrams in a link broadcast/multicast frame whose IP destination is not for this host. */
  linkBroadcastNotForUs: number;
  /** Multicast datagrams for a group not joined on the receiving interface. */
  notJoined: number;
  delivered: number;
  forwarded: number;
  /** Datagrams this host originated (sendIp, sockets, ICMP it generates). */
  originated: number;
  intercepted: number;
  ttlExpired: number;
  noRoute: number;
  /** Datagrams not sent because the outgoing interface's link was down. */
  txLinkDown: number;
  tooBig: number;
  arpRequestsSent: number;
  arpRepliesSent: number;
  proxyArpReplies: number;
  arpIn: number;
  /** ARP packets whose sender claims one of this interface's addresses. */
  arpConflicts: number;
  /** Datagrams pushed out of a full resolution queue. */
  arpQueueDrops: number;
  /** Datagrams dropped because resolution failed (or was not allowed). */
  arpResolutionFailures: number;
  icmpBadChecksum: number;
  echoRepliesSent: number;
  icmpErrorsSent: number;
  udpDelivered: number;
  udpBadChecksum: number;
  udpMalformed: number;
  udpNoSocket: number;
  protocolUnreachable: number;
  rawDelivered: number;
  /** Datagrams whose source does not belong to the interface they arrived on, dropped by the ingress filter (BCP 38). */
  ingressFiltered: number;
}

function newCounters(): SimHostCounters {
  return {
    framesIn: 0,
    framesOut: 0,
    otherFrames: 0,
    ipIn: 0,
    malformed: 0,
    badChecksum: 0,
    fragmentsDropped: 0,
    notForThisHost: 0,
    linkBroadcastNotForUs: 0,
    notJoined: 0,
    delivered: 0,
    forwarded: 0,
    originated: 0,
    intercepted: 0,
    ttlExpired: 0,
    noRoute: 0,
    txLinkDown: 0,
    tooBig: 0,
    arpRequestsSent: 0,
    arpRepliesSent: 0,
    proxyArpReplies: 0,
    arpIn: 0,
    arpConflicts: 0,
    arpQueueDrops: 0,
    arpResolutionFailures: 0,
    icmpBadChecksum: 0,
    echoRepliesSent: 0,
    icmpErrorsSent: 0,
    udpDelivered: 0,
    udpBadChecksum: 0,
    udpMalformed: 0,
    udpNoSocket: 0,
    protocolUnreachable: 0,
    rawDelivered: 0,
    ingressFiltered: 0,
  };
}

/** Called by the IP layer for UDP datagrams delivered locally (the Udp layer registers it). */
export type UdpInput = (datagram: Uint8Array, headerLength: number, destinationKind: DestinationKind, arrival: IpArrival) => boolean;

export type DestinationKind = 'unicast' | 'broadcast' | 'multicast';

// ---------------------------------------------------------------------------------------------
// Interfaces

interface PendingResolution {
  readonly queue: Uint8Array[];
  /** Per queued datagram: whether the host forwarded it (an error goes back to its source). */
  readonly forwarded: boolean[];
  requests: number;
  alarm: Alarm | undefined;
}

/** One interface of a SimHost. Read its state here; change it through the host. */
export class SimHostInterface {
  readonly addresses: InterfaceAddress[] = [];
  readonly groups = new Set<Ipv4Address>([ALL_SYSTEMS_GROUP]);
  readonly proxied = new Set<Ipv4Address>();
  readonly arpCache = new Map<Ipv4Address, ArpEntry>();
  readonly pending = new Map<Ipv4Address, PendingResolution>();
  readonly frameHandlers = new Set<FrameHandler>();
  arpBehaviour: ArpBehaviour = { answer: 'all', request: true };
  up: boolean;

  constructor(
    readonly name: string,
    readonly mac: MacAddress,
    readonly mtu: number,
    public port: SimEthernetPort,
    up: boolean,
  ) {
    this.up = up;
  }

  get segment(): SimEthernetSegment {
    return this.port.segment;
  }

  /** The first address: the source of datagrams leaving through this interface. */
  get primaryAddress(): Ipv4Address | undefined {
    return this.addresses[0]?.address;
  }

  hasAddress(address: Ipv4Address): boolean {
    return this.addresses.some((a) => a.address === address);
  }

  isDirectedBroadcast(address: Ipv4Address): boolean {
    return this.addresses.some((a) => directedBroadcast(a.address, a.prefixLength) === address);
  }
}

// ---------------------------------------------------------------------------------------------
// The host

export class SimHost {
  readonly counters: SimHostCounters = newCounters();
  readonly forwarding: boolean;
  private ingressFiltering: boolean;
  private readonly interfaceMap = new Map<string, SimHostInterface>();
  private routeTable: Route[] = [];
  private readonly rawHandlers = new Map<number, Set<IpHandler>>();
  private readonly intercepts: Array<{ predicate: InterceptPredicate; handler: InterceptHandler }> = [];
  private interceptDepth = 0;
  private identification = 0;
  private udpInput: UdpInput | undefined;
  /** The address translator, when the host was made with the `nat` option. */
  readonly nat: SimNat | undefined;
  private readonly options: Required<Omit<SimHostOptions, 'forwarding' | 'multicastGroups' | 'ingressFilter' | 'nat'>> & {
    multicastGroups: readonly Ipv4Address[];
  };
  private macCounter = 0;
  /** Observers of link, address and default-route changes (io/sim/link-events.ts). */
  private readonly interfaceListeners = new Set<(event: InterfaceEvent) => void>();

  constructor(
    readonly name: string,
    readonly clock: Clock,
    /** Used to derive default MAC addresses. */
    readonly hostNumber: number,
    options: SimHostOptions = {},
  ) {
    this.forwarding = options.forwarding ?? false;
    this.ingressFiltering = options.ingressFilter ?? false;
    if (options.nat !== undefined && !this.forwarding) throw new Error(`host ${name}: a NAT needs forwarding: true`);
    const natOptions = options.nat;
    this.nat = natOptions === undefined ? undefined : new SimNat(natOptions, clock, () => this.interfaceMap.get(natOptions.outside)?.primaryAddress);
    this.options = {
      arpQueueLimit: options.arpQueueLimit ?? 3,
      arpRetransmitMs: options.arpRetransmitMs ?? 1000,
      arpMaxRequests: options.arpMaxRequests ?? 3,
      defaultTtl: options.defaultTtl ?? DEFAULT_TTL,
      multicastGroups: options.multicastGroups ?? [],
    };
  }

  // -------------------------------------------------------------------------------------------
  // Interfaces

  addInterface(name: string, segment: SimEthernetSegment, options: SimInterfaceOptions = {}): SimHostInterface {
    if (this.interfaceMap.has(name)) throw new Error(`host ${this.name} already has an interface "${name}"`);
    const index = ++this.macCounter;
    const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
    const mac = parseMacLiteral(options.mac ?? `02:00:${hex(this.hostNumber >> 8)}:${hex(this.hostNumber)}:00:${hex(index)}`);
    const up = options.up ?? true;
    const port = segment.attach({ name: `${this.name}.${name}`, mac, ...(options.mtu !== undefined ? { mtu: options.mtu } : {}), up });
    const iface = new SimHostInterface(name, mac, port.mtu, port, up);
    for (const group of this.options.multicastGroups) iface.groups.add(group >>> 0);
    this.interfaceMap.set(name, iface);
    this.bindPort(iface);
    if (options.address !== undefined) this.addAddress(name, options.address, options.prefixLength ?? 24);
    return iface;
  }

  interface(name: string): SimHostInterface {
    const iface = this.interfaceMap.get(name);
    if (iface === undefined) {
      const known = [...this.interfaceMap.keys()].map((k) => `"${k}"`).join(', ') || 'none';
      throw new Error(`host ${this.name} has no interface "${name}" (it has ${known})`);
    }
    return iface;
  }

  get interfaces(): readonly SimHostInterface[] {
    return [...this.interfaceMap.values()];
  }

  /** Every address of every interface. */
  get addresses(): Ipv4Address[] {
    return this.interfaces.flatMap((i) => i.addresses.map((a) => a.address));
  }

  /** Adds an address and its connected route (prefix → interface). */
  addAddress(interfaceName: string, address: Ipv4Address, prefixLength = 24): void {
    const iface = this.interface(interfaceName);
    address >>>= 0;
    if (iface.hasAddress(address)) return;
    iface.addresses.push({ address, prefixLength });
    this.notifyInterface({ kind: 'address', interfaceName, ifindex: this.ifindexOf(interfaceName), added: true, address, prefixLength });
    const prefix = (address & prefixMask(prefixLength)) >>> 0;
    if (prefixLength < 32 && !this.routeTable.some((r) => r.kind === 'connected' && r.interface === interfaceName && r.prefix === prefix && r.prefixLength === prefixLength)) {
      this.routeTable.push({ prefix, prefixLength, interface: interfaceName, kind: 'connected' });
    }
  }

  /** Removes an address; its connected route goes when no other address of the interface needs it. */
  removeAddress(interfaceName: string, address: Ipv4Address): void {
    const iface = this.interface(interfaceName);
    address >>>= 0;
    const index = iface.addresses.findIndex((a) => a.address === address);
    if (index < 0) return;
    const [removed] = iface.addresses.splice(index, 1);
    this.notifyInterface({ kind: 'address', interfaceName, ifindex: this.ifindexOf(interfaceName), added: false, address, prefixLength: removed!.prefixLength });
    const mask = prefixMask(removed!.prefixLength);
    const prefix = (address & mask) >>> 0;
    const stillNeeded = iface.addresses.some((a) => a.prefixLength === removed!.prefixLength && ((a.address & mask) >>> 0) === prefix);
    if (!stillNeeded) {
      this.routeTable = this.routeTable.filter(
        (r) => !(r.kind === 'connected' && r.interface === interfaceName && r.prefix === prefix && r.prefixLength === removed!.prefixLength),
      );
    }
  }

  /**
   * Unplugs the interface and plugs it into `segment` (a mobile node changing links): same
   * name, MAC, addresses and link state. Frames in flight to the old attachment are lost,
   * learned ARP entries and datagrams awaiting resolution are dropped (counted), since
   * neighbours of the old link mean nothing on the new one; permanent entries stay.
   */
  moveInterface(interfaceName: string, segment: SimEthernetSegment): void {
    const iface = this.interface(interfaceName);
    iface.port.detach();
    iface.port = segment.attach({ name: `${this.name}.${interfaceName}`, mac: iface.mac, mtu: iface.mtu, up: iface.up });
    this.bindPort(iface);
    for (const [ip, entry] of iface.arpCache) if (!entry.permanent) iface.arpCache.delete(ip);
    for (const [ip, pending] of iface.pending) {
      pending.alarm?.cancel();
      this.counters.arpResolutionFailures += pending.queue.length;
      iface.pending.delete(ip);
    }
  }

  /** Link up or down (carrier): while down, nothing goes in or out of the interface. */
  setLinkUp(interfaceName: string, up: boolean): void {
    const iface = this.interface(interfaceName);
    iface.up = up;
    iface.port.setLinkUp(up);
    // A simulated link has no administrative state apart from its carrier.
    this.notifyInterface({ kind: 'link', interfaceName, ifindex: this.ifindexOf(interfaceName), up, carrier: up });
  }

  /** Calls `listener` with each link, address and default-route change; returns the unsubscribe. */
  onInterfaceEvent(listener: (event: InterfaceEvent) => void): () => void {
    this.interfaceListeners.add(listener);
    return () => this.interfaceListeners.delete(listener);
  }

  /** The interface's index (1-based, in creation order), 0 when there is none. */
  ifindexOf(interfaceName: string): number {
    return this.interfaces.findIndex((i) => i.name === interfaceName) + 1;
  }

  private notifyInterface(event: InterfaceEvent): void {
    for (const listener of [...this.interfaceListeners]) listener(event);
  }

  joinGroup(interfaceName: string, group: Ipv4Address): void {
    this.interface(interfaceName).groups.add(group >>> 0);
  }

  leaveGroup(interfaceName: string, group: Ipv4Address): void {
    this.interface(interfaceName).groups.delete(group >>> 0);
  }

  private bindPort(iface: SimHostInterface): void {
    iface.port.onFrame((frame) => this.receiveFrame(iface, frame));
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  /**
   * Adds a route; one with the same prefix, length and kind 'static' is replaced (`ip route
   * replace`). prefix 0 / length 0 is the default route; length 32 a host route.
   */
  addRoute(prefix: Ipv4Address, prefixLength: number, target: { readonly via?: Ipv4Address; readonly interface: string }): void {
    this.interface(target.interface);
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
      throw new Error(`prefix length must be 0..32, got ${prefixLength}`);
    }
    const normalized = (prefix & prefixMask(prefixLength)) >>> 0;
    this.removeRoute(normalized, prefixLength, { kind: 'static' });
    if (prefixLength === 0 && target.via !== undefined) {
      this.notifyInterface({ kind: 'default-route', interfaceName: target.interface, ifindex: this.ifindexOf(target.interface), added: true, gateway: target.via >>> 0 });
    }
    this.routeTable.push({
      prefix: normalized,
      prefixLength,
      ...(target.via !== undefined ? { via: target.via >>> 0 } : {}),
      interface: target.interface,
      kind: 'static',
    });
  }

  /** Removes routes for exactly this prefix and length (optionally only of one interface or kind); returns how many. */
  removeRoute(prefix: Ipv4Address, prefixLength: number, filter: { readonly interface?: string; readonly kind?: Route['kind'] } = {}): number {
    const normalized = (prefix & prefixMask(prefixLength)) >>> 0;
    const before = this.routeTable.length;
    const kept: Route[] = [];
    for (const r of this.routeTable) {
      const matches =
        r.prefix === normalized &&
        r.prefixLength === prefixLength &&
        (filter.interface === undefined || r.interface === filter.interface) &&
        (filter.kind === undefined || r.kind === filter.kind);
      if (!matches) kept.push(r);
      else if (prefixLength === 0 && r.via !== undefined) {
        this.notifyInterface({ kind: 'default-route', interfaceName: r.interface, ifindex: this.ifindexOf(r.interface), added: false, gateway: r.via });
      }
    }
    this.routeTable = kept;
    return before - this.routeTable.length;
  }

  get routes(): readonly Route[] {
    return this.routeTable;
  }

  /**
   * Longest-prefix match. Among routes of equal length a static route beats a connected one,
   * then the earlier added wins.
   */
  lookupRoute(destination: Ipv4Address): Route | undefined {
    let best: Route | undefined;
    for (const route of this.routeTable) {
      if (((destination & prefixMask(route.prefixLength)) >>> 0) !== route.prefix) continue;
      if (
        best === undefined ||
        route.prefixLength > best.prefixLength ||
        (route.prefixLength === best.prefixLength && best.kind === 'connected' && route.kind === 'static')
      ) {
        best = route;
      }
    }
    return best;
  }

  // -------------------------------------------------------------------------------------------
  // ARP

  arpEntry(interfaceName: string, ip: Ipv4Address): ArpEntry | undefined {
    return this.interface(interfaceName).arpCache.get(ip >>> 0);
  }

  /** A permanent entry (configured, or learned by an agent from a registration, RFC 5944 3.7.2.3). */
  setArpEntry(interfaceName: string, ip: Ipv4Address, linkAddress: MacAddress): void {
    const iface = this.interface(interfaceName);
    iface.arpCache.set(ip >>> 0, { mac: parseMacLiteral(linkAddress), permanent: true });
    this.flushPending(iface, ip >>> 0);
  }

  deleteArpEntry(interfaceName: string, ip: Ipv4Address): void {
    this.interface(interfaceName).arpCache.delete(ip >>> 0);
  }

  /** Answer ARP Requests for `address` on the interface with the interface's own MAC (proxy ARP, RFC 5944 4.6). */
  proxyArp(interfaceName: string, address: Ipv4Address, enable: boolean): void {
    const iface = this.interface(interfaceName);
    if (enable) iface.proxied.add(address >>> 0);
    else iface.proxied.delete(address >>> 0);
  }

  setArpBehaviour(interfaceName: string, behaviour: Partial<ArpBehaviour>): void {
    const iface = this.interface(interfaceName);
    iface.arpBehaviour = { ...iface.arpBehaviour, ...behaviour };
  }

  // -------------------------------------------------------------------------------------------
  // Hooks

  /** Receives locally delivered datagrams of `protocol` (any number: 1, 4, 47, 55, even 17). Returns an unsubscribe function. */
  onIp(protocol: number, handler: IpHandler): () => void {
    let set = this.rawHandlers.get(protocol);
    if (set === undefined) {
      set = new Set();
      this.rawHandlers.set(protocol, set);
    }
    set.add(handler);
    return () => void set.delete(handler);
  }

  /** Sees every frame the interface receives, before the host processes it. Returns an unsubscribe function. */
  onFrame(interfaceName: string, handler: FrameHandler): () => void {
    const iface = this.interface(interfaceName);
    iface.frameHandlers.add(handler);
    return () => void iface.frameHandlers.delete(handler);
  }

  /**
   * Captures datagrams before the host delivers or forwards them (received on a link) or
   * routes them (sent by the host): the first intercept whose predicate is true gets the
   * datagram, which then goes no further. A home agent captures the traffic for its mobile
   * nodes away from home this way (RFC 5944 4.2.3). Datagrams the handler sends itself are
   * not intercepted again. Returns an unsubscribe function.
   */
  intercept(predicate: InterceptPredicate, handler: InterceptHandler): () => void {
    const entry = { predicate, handler };
    this.intercepts.push(entry);
    return () => {
      const index = this.intercepts.indexOf(entry);
      if (index >= 0) this.intercepts.splice(index, 1);
    };
  }

  /** Registered by the Udp layer of the simulated network. */
  setUdpInput(input: UdpInput | undefined): void {
    this.udpInput = input;
  }

  /**
   * A LinkInterface over one of this host's interfaces (for runtime/ha/home-link.ts and any code
   * written against the Link service): `send` puts a frame on the link, `onFrame` sees every
   * frame the interface receives (as onFrame above; one handler per view, a later call
   * replaces it). The host keeps processing frames as well: its own ARP still answers for
   * the interface's addresses (so attach the home-link executor with answerOwnAddresses:
   * false), and leave proxy ARP to one of the two.
   */
  linkInterface(interfaceName: string): LinkInterface & { close(): void } {
    const iface = this.interface(interfaceName);
    let frameHandler: FrameHandler | undefined;
    let errorHandler: ((error: LinkError) => void) | undefined;
    let closed = false;
    const observer: FrameHandler = (frame) => frameHandler?.(frame);
    iface.frameHandlers.add(observer);
    return {
      name: interfaceName,
      mac: iface.mac,
      mtu: iface.mtu,
      send: (frame) => {
        if (closed) {
          errorHandler?.(new LinkError({ reason: 'closed', interfaceName, message: `interface "${interfaceName}" was used after its scope closed; open it again` }));
          return;
        }
        if (frame.length < ETHERNET_HEADER_LENGTH || frame.length > ETHERNET_HEADER_LENGTH + iface.mtu) {
          errorHandler?.(
            new LinkError({ reason: 'send', interfaceName, message: `${interfaceName}: a ${frame.length}-byte frame does not fit 14..${14 + iface.mtu} bytes; nothing sent` }),
          );
          return;
        }
        this.sendFrame(interfaceName, frame);
      },
      onFrame: (handler) => {
        frameHandler = handler;
      },
      onError: (handler) => {
        errorHandler = handler;
      },
      close: () => {
        closed = true;
        frameHandler = undefined;
        iface.frameHandlers.delete(observer);
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Output

  /** Puts a whole Ethernet frame on the interface's link as is (e.g. to a visitor by its MAC, RFC 5944 4.2.2). */
  sendFrame(interfaceName: string, frame: Uint8Array): boolean {
    const iface = this.interface(interfaceName);
    if (!iface.up) {
      this.counters.txLinkDown++;
      iface.port.send(frame); // counted by the port too
      return false;
    }
    this.counters.framesOut++;
    iface.port.send(frame);
    return true;
  }

  /**
   * Routes and sends a whole IPv4 datagram built by the caller (header checksum included; it
   * is sent as given, so tests can send a bad one). The bytes are copied before return.
   */
  sendIp(datagram: Uint8Array, options: SendIpOptions = {}): SendIpResult {
    if (ipv4DatagramProblem(datagram, 0, datagram.length) !== undefined) {
      this.counters.malformed++;
      return 'malformed';
    }
    const copy = datagram.slice(0, ipv4TotalLength(datagram, 0));
    this.counters.originated++;
    if (this.interceptDepth === 0 && this.intercepts.length > 0) {
      const info: InterceptInfo = { origin: 'local', interface: undefined, linkSource: undefined, linkDestination: undefined, at: this.clock.now() };
      if (this.runIntercepts(copy, info)) return 'intercepted';
    }
    const destination = ipv4Destination(copy, 0);
    if (this.isOwnAddress(destination)) {
      this.clock.setAlarm(this.clock.now(), () => {
        const arrival: IpArrival = { interface: undefined, linkSource: undefined, linkDestination: undefined, at: this.clock.now() };
        this.deliverLocally(copy, 'unicast', arrival);
      });
      return 'looped';
    }
    if (destination === LIMITED_BROADCAST || isMulticast(destination)) {
      const iface = this.outgoingForGroup(copy, options.interface);
      if (iface === undefined) {
        if (options.interface !== undefined) return 'no-such-interface';
        this.counters.noRoute++;
        return 'no-route';
      }
      return this.transmit(iface, copy, destination, false);
    }
    if (options.interface !== undefined) {
      const iface = this.interfaceMap.get(options.interface);
      if (iface === undefined) return 'no-such-interface';
      const route = this.lookupRoute(destination);
      const nextHop = options.nextHop ?? (route?.interface === options.interface ? (route.via ?? destination) : destination);
      return this.transmit(iface, copy, nextHop, false);
    }
    const route = this.lookupRoute(destination);
    if (route === undefined) {
      this.counters.noRoute++;
      return 'no-route';
    }
    return this.transmit(this.interface(route.interface), copy, options.nextHop ?? route.via ?? destination, false);
  }

  /** Builds the IPv4 header (checksum, identification, source selection) and sends like sendIp. */
  sendPacket(fields: SendPacketFields, options: SendIpOptions = {}): SendIpResult {
    const destination = fields.destination >>> 0;
    let source = fields.source;
    if (source === undefined) {
      const iface = options.interface !== undefined ? this.interfaceMap.get(options.interface) : this.sourceInterfaceFor(destination);
      source = iface?.primaryAddress ?? 0;
    }
    const datagram = new Uint8Array(IPV4_MIN_HEADER_LENGTH + fields.payload.length);
    datagram.set(fields.payload, IPV4_MIN_HEADER_LENGTH);
    encodeIpv4Header(
      {
        tos: fields.tos ?? 0,
        totalLength: datagram.length,
        identification: fields.identification ?? this.nextIdentification(),
        flags: fields.dontFragment ? 0b010 : 0,
        fragmentOffset: 0,
        ttl: fields.ttl ?? this.options.defaultTtl,
        protocol: fields.protocol,
        source: source >>> 0,
        destination,
      },
      datagram,
      0,
    );
    return this.sendIp(datagram, options);
  }

  /** The interface a datagram to `destination` would leave by (for source address selection). */
  sourceInterfaceFor(destination: Ipv4Address): SimHostInterface | undefined {
    if (destination === LIMITED_BROADCAST || isMulticast(destination)) return this.interfaces[0];
    for (const iface of this.interfaceMap.values()) if (iface.hasAddress(destination)) return iface;
    const route = this.lookupRoute(destination);
    return route === undefined ? undefined : this.interfaceMap.get(route.interface);
  }

  /** The source address this host would use toward `destination` (0 when it has none). */
  sourceAddressFor(destination: Ipv4Address): Ipv4Address {
    if (this.isOwnAddress(destination)) return destination;
    return this.sourceInterfaceFor(destination)?.primaryAddress ?? 0;
  }

  nextIdentification(): number {
    this.identification = (this.identification + 1) & 0xffff;
    return this.identification;
  }

  isOwnAddress(address: Ipv4Address): boolean {
    for (const iface of this.interfaceMap.values()) if (iface.hasAddress(address)) return true;
    return false;
  }

  private outgoingForGroup(datagram: Uint8Array, requested: string | undefined): SimHostInterface | undefined {
    if (requested !== undefined) return this.interfaceMap.get(requested);
    const source = ipv4Source(datagram, 0);
    for (const iface of this.interfaceMap.values()) if (iface.hasAddress(source)) return iface;
    const destination = ipv4Destination(datagram, 0);
    const route = destination === LIMITED_BROADCAST ? this.lookupRoute(0) : this.lookupRoute(destination);
    if (route !== undefined) return this.interfaceMap.get(route.interface);
    return this.interfaces[0];
  }

  /** Sends `datagram` (owned by the host now) out of `iface` toward `nextHop`. */
  private transmit(iface: SimHostInterface, datagram: Uint8Array, nextHop: Ipv4Address, forwarded: boolean): SendIpResult {
    if (!iface.up) {
      this.counters.txLinkDown++;
      return 'link-down';
    }
    if (datagram.length > iface.mtu) {
      this.counters.tooBig++;
      if (forwarded) this.sendIcmpError(datagram, IcmpType.DestinationUnreachable, UnreachableCode.FragmentationNeeded, iface.mtu & 0xffff);
      return 'too-big';
    }
    const destination = ipv4Destination(datagram, 0);
    if (destination === LIMITED_BROADCAST || iface.isDirectedBroadcast(destination) || nextHop === LIMITED_BROADCAST) {
      this.putOnLink(iface, BROADCAST_MAC, datagram);
      return 'sent';
    }
    if (isMulticast(destination)) {
      this.putOnLink(iface, multicastMac(destination), datagram);
      return 'sent';
    }
    const entry = iface.arpCache.get(nextHop);
    if (entry !== undefined) {
      this.putOnLink(iface, entry.mac, datagram);
      return 'sent';
    }
    if (!iface.arpBehaviour.request) {
      this.counters.arpResolutionFailures++;
      return 'unresolved';
    }
    this.enqueueForResolution(iface, nextHop, datagram, forwarded);
    return 'queued';
  }

  private putOnLink(iface: SimHostInterface, destinationMac: MacAddress, datagram: Uint8Array): void {
    const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + datagram.length);
    encodeEthernetHeader(destinationMac, iface.mac, EtherType.IPv4, frame, 0);
    frame.set(datagram, ETHERNET_HEADER_LENGTH);
    this.counters.framesOut++;
    iface.port.send(frame);
  }

  private enqueueForResolution(iface: SimHostInterface, nextHop: Ipv4Address, datagram: Uint8Array, forwarded: boolean): void {
    let pending = iface.pending.get(nextHop);
    if (pending === undefined) {
      pending = { queue: [], forwarded: [], requests: 0, alarm: undefined };
      iface.pending.set(nextHop, pending);
      this.sendArpRequest(iface, nextHop, pending);
    }
    pending.queue.push(datagram);
    pending.forwarded.push(forwarded);
    // RFC 1122 2.3.2.2: keep at least the latest datagram; the oldest go first.
    while (pending.queue.length > this.options.arpQueueLimit) {
      pending.queue.shift();
      pending.forwarded.shift();
      this.counters.arpQueueDrops++;
    }
  }

  private sendArpRequest(iface: SimHostInterface, target: Ipv4Address, pending: PendingResolution): void {
    if (pending.requests >= this.options.arpMaxRequests) {
      iface.pending.delete(target);
      this.counters.arpResolutionFailures += pending.queue.length;
      pending.queue.forEach((datagram, i) => {
        // A router tells the source its datagram could not be delivered (RFC 1812 5.2.7.1).
        if (pending.forwarded[i]) this.sendIcmpError(datagram, IcmpType.DestinationUnreachable, UnreachableCode.Host);
      });
      return;
    }
    pending.requests++;
    const frame = new Uint8Array(ARP_FRAME_LENGTH);
    encodeArpFrame(arpRequest(iface.mac, iface.primaryAddress ?? 0, target), BROADCAST_MAC, iface.mac, frame, 0);
    this.counters.arpRequestsSent++;
    this.sendFrame(iface.name, frame);
    pending.alarm = this.clock.setAlarm(this.clock.now() + this.options.arpRetransmitMs, () => {
      if (iface.pending.get(target) === pending) this.sendArpRequest(iface, target, pending);
    });
  }

  private flushPending(iface: SimHostInterface, ip: Ipv4Address): void {
    const pending = iface.pending.get(ip);
    const entry = iface.arpCache.get(ip);
    if (pending === undefined || entry === undefined) return;
    pending.alarm?.cancel();
    iface.pending.delete(ip);
    for (const datagram of pending.queue) {
      if (iface.up) this.putOnLink(iface, entry.mac, datagram);
      else this.counters.txLinkDown++;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Input

  private receiveFrame(iface: SimHostInterface, frame: Uint8Array): void {
    this.counters.framesIn++;
    for (const handler of [...iface.frameHandlers]) handler(frame);
    const etherType = ethernetEtherType(frame, 0);
    if (etherType === EtherType.ARP) this.arpInput(iface, frame);
    else if (etherType === EtherType.IPv4) this.ipInput(iface, frame);
    else this.counters.otherFrames++;
  }

  private arpInput(iface: SimHostInterface, frame: Uint8Array): void {
    const decoded = decodeArpPacket(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!decoded.ok) {
      this.counters.malformed++;
      return;
    }
    this.counters.arpIn++;
    const packet = decoded.value;
    const sender = packet.senderIp >>> 0;
    const target = packet.targetIp >>> 0;
    if (packet.senderMac === iface.mac) return;
    if (iface.hasAddress(sender)) {
      this.counters.arpConflicts++;
      return;
    }
    // RFC 826 "Packet Reception" (R4.6-3): merge first, then look at the target.
    let merged = false;
    const existing = iface.arpCache.get(sender);
    if (existing !== undefined) {
      if (!existing.permanent) iface.arpCache.set(sender, { mac: packet.senderMac, permanent: false });
      merged = true;
    }
    const own = iface.hasAddress(target);
    const proxied = iface.proxied.has(target);
    if (own || proxied) {
      if (!merged && sender !== 0) iface.arpCache.set(sender, { mac: packet.senderMac, permanent: false });
    }
    if (merged || own || proxied) this.flushPending(iface, sender);
    if (packet.operation !== ArpOperation.Request || !(own || proxied)) return;
    if ((parseInt(packet.senderMac.slice(0, 2), 16) & 1) === 1) return; // never answer to a group address
    if (own) {
      const unicast = !ethernetIsMulticast(frame, 0);
      const answer = iface.arpBehaviour.answer;
      if (answer === 'none' || (answer === 'unicast-only' && !unicast)) return;
    }
    const reply = new Uint8Array(ARP_FRAME_LENGTH);
    encodeArpFrame(arpReply(iface.mac, target, packet.senderMac, packet.senderIp), packet.senderMac, iface.mac, reply, 0);
    if (own) this.counters.arpRepliesSent++;
    else this.counters.proxyArpReplies++;
    this.sendFrame(iface.name, reply);
  }

  private ipInput(iface: SimHostInterface, frame: Uint8Array): void {
    this.counters.ipIn++;
    const offset = ETHERNET_HEADER_LENGTH;
    if (ipv4DatagramProblem(frame, offset, frame.length) !== undefined) {
      this.counters.malformed++;
      return;
    }
    if (!ipv4ChecksumValid(frame, offset)) {
      this.counters.badChecksum++;
      return;
    }
    const datagram = frame.subarray(offset, offset + ipv4TotalLength(frame, offset));
    if (ipv4IsFragment(datagram, 0)) {
      this.counters.fragmentsDropped++;
      return;
    }
    if (this.ingressFiltering && !this.sourceBelongsTo(iface, datagram)) {
      // Silently: an ICMP error would go to the forged source (RFC 3704 2.2 drops, nothing more).
      this.counters.ingressFiltered++;
      return;
    }
    const arrival: IpArrival = {
      interface: iface.name,
      linkSource: ethernetSource(frame, 0),
      linkDestination: ethernetDestination(frame, 0),
      at: this.clock.now(),
    };
    if (this.intercepts.length > 0 && this.runIntercepts(datagram, { ...arrival, origin: 'link' })) return;
    const destination = ipv4Destination(datagram, 0);
    if (this.nat !== undefined && iface.name === this.nat.options.outside && this.natInbound(datagram, destination)) return;
    if (this.isOwnAddress(destination)) {
      this.deliverLocally(datagram, 'unicast', arrival);
      return;
    }
    if (destination === LIMITED_BROADCAST || this.isDirectedBroadcastOfAny(destination)) {
      this.deliverLocally(datagram, 'broadcast', arrival);
      return;
    }
    if (isMulticast(destination)) {
      if (iface.groups.has(destination)) this.deliverLocally(datagram, 'multicast', arrival);
      else this.counters.notJoined++;
      return;
    }
    if (ethernetIsMulticast(frame, 0)) {
      this.counters.linkBroadcastNotForUs++;
      return;
    }
    if (!this.forwarding) {
      this.counters.notForThisHost++;
      return;
    }
    this.forward(datagram.slice(), iface.name);
  }

  /** The NAT's look at a datagram arriving on its outside interface; true when it took it (translated and forwarded, or dropped). */
  private natInbound(datagram: Uint8Array, destination: Ipv4Address): boolean {
    const nat = this.nat!;
    const forThisHost = this.isOwnAddress(destination);
    if (!forThisHost && (destination === LIMITED_BROADCAST || isMulticast(destination) || this.isDirectedBroadcastOfAny(destination))) return false;
    const copy = datagram.slice();
    const verdict = nat.inbound(copy, forThisHost);
    if (verdict === 'not-translated') return false;
    if (verdict === 'translated') this.forward(copy, undefined);
    return true;
  }

  /**
   * The ingress filter's test (BCP 38 / RFC 2827 3; strict reverse path, RFC 3704 2.2): the
   * route back to the source leaves by the arrival interface. A source no host can have
   * (multicast, limited broadcast, loopback) never passes; 0.0.0.0 passes only toward a
   * broadcast or multicast address (a host still configuring itself, RFC 1122 3.2.1.3).
   */
  private sourceBelongsTo(iface: SimHostInterface, datagram: Uint8Array): boolean {
    const source = ipv4Source(datagram, 0);
    if (source === 0) {
      const destination = ipv4Destination(datagram, 0);
      return destination === LIMITED_BROADCAST || isMulticast(destination) || this.isDirectedBroadcastOfAny(destination);
    }
    if (source === LIMITED_BROADCAST || isMulticast(source) || isLoopback(source)) return false;
    return this.lookupRoute(source)?.interface === iface.name;
  }

  /** Whether the host filters ingress (see SimHostOptions.ingressFilter). */
  get ingressFilter(): boolean {
    return this.ingressFiltering;
  }

  /** Turns ingress filtering on or off at run time (e.g. an operator enabling BCP 38 mid-scenario). */
  setIngressFilter(enabled: boolean): void {
    this.ingressFiltering = enabled;
  }

  private isDirectedBroadcastOfAny(address: Ipv4Address): boolean {
    for (const iface of this.interfaceMap.values()) if (iface.isDirectedBroadcast(address)) return true;
    return false;
  }

  private runIntercepts(datagram: Uint8Array, info: InterceptInfo): boolean {
    for (const { predicate, handler } of [...this.intercepts]) {
      if (!predicate(datagram, info)) continue;
      this.counters.intercepted++;
      this.interceptDepth++;
      try {
        handler(datagram, info);
      } finally {
        this.interceptDepth--;
      }
      return true;
    }
    return false;
  }

  /** Forwards a datagram this host owns (a copy of what arrived on `arrivedOn`). */
  private forward(datagram: Uint8Array, arrivedOn: string | undefined): void {
    if (!decrementIpv4Ttl(datagram, 0)) {
      this.counters.ttlExpired++;
      this.sendIcmpError(datagram, IcmpType.TimeExceeded, TimeExceededCode.TtlExceededInTransit);
      return;
    }
    const destination = ipv4Destination(datagram, 0);
    const route = this.lookupRoute(destination);
    if (route === undefined) {
      this.counters.noRoute++;
      this.sendIcmpError(datagram, IcmpType.DestinationUnreachable, UnreachableCode.Net);
      return;
    }
    if (this.nat !== undefined && route.interface === this.nat.options.outside && this.nat.isInside(arrivedOn)) {
      if (this.nat.outbound(datagram) === 'dropped') return;
    }
    this.counters.forwarded++;
    this.transmit(this.interface(route.interface), datagram, route.via ?? destination, true);
  }

  private deliverLocally(datagram: Uint8Array, kind: DestinationKind, arrival: IpArrival): void {
    this.counters.delivered++;
    const protocol = ipv4Protocol(datagram, 0);
    const handlers = this.rawHandlers.get(protocol);
    const raw = handlers !== undefined && handlers.size > 0;
    if (raw) {
      for (const handler of [...handlers]) {
        this.counters.rawDelivered++;
        handler(datagram, arrival);
      }
    }
    const headerLength = ipv4HeaderLength(datagram, 0);
    if (protocol === IpProtocol.ICMP) {
      this.icmpInput(datagram, headerLength, kind);
    } else if (protocol === IpProtocol.UDP) {
      const taken = this.udpInput?.(datagram, headerLength, kind, arrival) ?? false;
      if (!taken && !raw && kind === 'unicast') {
        this.counters.udpNoSocket++;
        this.sendIcmpError(datagram, IcmpType.DestinationUnreachable, UnreachableCode.Port);
      }
    } else if (!raw && kind === 'unicast') {
      this.counters.protocolUnreachable++;
      this.sendIcmpError(datagram, IcmpType.DestinationUnreachable, UnreachableCode.Protocol);
    }
  }

  /** Called by the Udp layer when a datagram reached no socket or failed its checksum. */
  countUdp(outcome: 'bad-checksum' | 'malformed' | 'delivered'): void {
    if (outcome === 'bad-checksum') this.counters.udpBadChecksum++;
    else if (outcome === 'malformed') this.counters.udpMalformed++;
    else this.counters.udpDelivered++;
  }

  private icmpInput(datagram: Uint8Array, headerLength: number, kind: DestinationKind): void {
    const end = datagram.length;
    if (end - headerLength < 4 || icmpChecksum(datagram, headerLength, end) !== 0) {
      this.counters.icmpBadChecksum++;
      return;
    }
    // Echo (RFC 792, RFC 1122 3.2.2.6): answered when sent to this host's address; requests to
    // a broadcast or multicast address are ignored, as Linux does by default.
    if (datagram[headerLength] !== IcmpType.Echo || kind !== 'unicast' || end - headerLength < 8) return;
    const payload = new Uint8Array(end - headerLength);
    encodeIcmpEcho(
      {
        icmpType: IcmpType.EchoReply,
        code: 0,
        checksum: 0,
        checksumValid: true,
        identifier: readU16(datagram, headerLength + 4),
        sequence: readU16(datagram, headerLength + 6),
        data: datagram.subarray(headerLength + 8, end),
      },
      payload,
      0,
    );
    this.counters.echoRepliesSent++;
    this.sendPacket({ protocol: IpProtocol.ICMP, source: ipv4Destination(datagram, 0), destination: ipv4Source(datagram, 0), payload });
  }

  /**
   * Sends an ICMP error about `original` to its source, unless RFC 1812 4.3.2.7 forbids it.
   * `unused` is the second word (the next-hop MTU for "fragmentation needed", RFC 1191).
   */
  sendIcmpError(original: Uint8Array, type: 3 | 11, code: number, unused = 0): boolean {
    const source = ipv4Source(original, 0);
    const destination = ipv4Destination(original, 0);
    if (source === 0 || source === LIMITED_BROADCAST || isMulticast(source) || isLoopback(source)) return false;
    if (destination === LIMITED_BROADCAST || isMulticast(destination) || this.isDirectedBroadcastOfAny(destination)) return false;
    if (ipv4FragmentOffset(original, 0) !== 0) return false;
    const headerLength = ipv4HeaderLength(original, 0);
    if (ipv4Protocol(original, 0) === IpProtocol.ICMP) {
      const icmpType = original[headerLength];
      const isQuery = icmpType === 0 || icmpType === 8 || icmpType === 9 || icmpType === 10 || (icmpType !== undefined && icmpType >= 13 && icmpType <= 18);
      if (!isQuery) return false;
    }
    const quoted = original.subarray(0, Math.min(original.length, ICMP_ERROR_MAX_DATAGRAM - IPV4_MIN_HEADER_LENGTH - 8));
    const payload = new Uint8Array(8 + quoted.length);
    encodeIcmpError({ icmpType: type, code, checksum: 0, checksumValid: true, unused, original: quoted }, payload, 0);
    const from = this.sourceAddressFor(source);
    if (from === 0) return false;
    this.counters.icmpErrorsSent++;
    this.sendPacket({ protocol: IpProtocol.ICMP, source: from, destination: source, payload });
    return true;
  }

  toString(): string {
    return `SimHost(${this.name} ${this.interfaces.map((i) => `${i.name}=${i.addresses.map((a) => `${ipv4ToString(a.address)}/${a.prefixLength}`).join(',')}`).join(' ')})`;
  }
}
