/**
 * A simulated Ethernet segment on the project clock, the Link service on it, and a minimal
 * IPv4 host that speaks ARP (RFC 826) — the "other nodes on the home network" of RFC 5944 4.6.
 *
 * The segment behaves like one broadcast domain (a hub, or a switch that has learned every
 * port): a frame sent by one attached interface reaches, after the configured latency, every
 * other attached interface whose address it is for — its own MAC, the broadcast address, any
 * group address (I/G bit) — and every promiscuous one. Delivery runs from clock alarms, so
 * the sender's `send` always returns first, and receivers are served in attachment order:
 * the same sends on the same seed replay identically. Loss is drawn once per frame from a
 * seeded generator (a lost frame reaches nobody).
 */
import { Effect, Layer } from 'effect';
import type { Clock } from '../clock.js';
import { Link, LinkError, type LinkInterface } from '../link.js';
import {
  ARP_FRAME_LENGTH,
  ArpOperation,
  arpReply,
  arpRequest,
  decodeArpPacket,
  encodeArpFrame,
  gratuitousArp,
  type ArpPacket,
} from '../wire/arp.js';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import {
  BROADCAST_MAC,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  ethernetDestination,
  ethernetEtherType,
  ethernetIsMulticast,
  ethernetSource,
  mac as parseMacLiteral,
  MAC_LENGTH,
  type MacAddress,
  writeMac,
} from '../wire/ethernet.js';
import { seededRandom } from './udp.js';

/** Smallest Ethernet frame without the FCS; shorter frames are padded with zeros on the wire. */
export const ETHERNET_MINIMUM_FRAME = 60;
export const ETHERNET_DEFAULT_MTU = 1500;

export interface SimEthernetOptions {
  readonly clock: Clock;
  /** Used in error messages. */
  readonly name?: string;
  /** One-way delay in ms (default 0: delivered at the next clock step, never inside `send`). */
  readonly latencyMs?: number;
  /** Probability a frame is lost (default 0). */
  readonly loss?: number;
  readonly seed?: number;
  /** Sees every frame put on the wire, at its send time, padded as sent (for pcap capture). */
  readonly tap?: SegmentTap;
}

export type SegmentTap = (time: number, frame: Uint8Array) => void;

export interface SimEthernetCounters {
  /** Frames put on the wire (from an interface whose link is up). */
  sent: number;
  /** Frames lost on the wire (reached nobody). */
  lost: number;
  /** Frame arrivals handed to an interface (one per receiver). */
  deliveries: number;
  /** Frames that arrived but were addressed to no attached interface. */
  unclaimed: number;
  /** Frames dropped because the sending or the receiving interface was down. */
  droppedLinkDown: number;
}

export interface SimPortOptions {
  /** Interface name, e.g. "eth0". */
  readonly name: string;
  readonly mac: MacAddress;
  readonly mtu?: number;
  /** Receives every frame on the segment, whatever its destination. */
  readonly promiscuous?: boolean;
  /** Link state at attachment (default up). */
  readonly up?: boolean;
}

export interface SimPortCounters {
  sent: number;
  received: number;
  /** Frames not sent because this link was down. */
  txDroppedLinkDown: number;
  /** Frames for this interface that arrived while its link was down. */
  rxDroppedLinkDown: number;
  /** Frames refused by `send` (runt, longer than the MTU, detached). */
  txErrors: number;
  /** Frames received while no handler was set. */
  rxUnhandled: number;
}

/** Whether bytes[offset, offset + 6) equal `address`. */
function macEquals(bytes: Uint8Array, offset: number, address: Uint8Array): boolean {
  for (let i = 0; i < MAC_LENGTH; i++) if (bytes[offset + i] !== address[i]) return false;
  return true;
}

/** The I/G bit: the least significant bit of the first octet. */
function isGroupAddress(address: MacAddress): boolean {
  return (parseInt(address.slice(0, 2), 16) & 1) === 1;
}

function macBytes(address: MacAddress): Uint8Array {
  const bytes = new Uint8Array(MAC_LENGTH);
  writeMac(bytes, 0, address);
  return bytes;
}

/** One interface attached to a segment; it is a LinkInterface, plus link state and counters. */
export class SimEthernetPort implements LinkInterface {
  readonly name: string;
  readonly mac: MacAddress;
  readonly mtu: number;
  promiscuous: boolean;
  readonly counters: SimPortCounters = { sent: 0, received: 0, txDroppedLinkDown: 0, rxDroppedLinkDown: 0, txErrors: 0, rxUnhandled: 0 };
  /** The MAC as bytes, for the per-frame destination test. */
  readonly macBytes: Uint8Array;
  private up: boolean;
  private attached = true;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private errorHandler: ((error: LinkError) => void) | undefined;

  constructor(
    readonly segment: SimEthernetSegment,
    options: SimPortOptions,
  ) {
    this.name = options.name;
    this.mac = parseMacLiteral(options.mac);
    this.macBytes = macBytes(this.mac);
    this.mtu = options.mtu ?? ETHERNET_DEFAULT_MTU;
    this.promiscuous = options.promiscuous ?? false;
    this.up = options.up ?? true;
  }

  get linkUp(): boolean {
    return this.up;
  }

  get isAttached(): boolean {
    return this.attached;
  }

  /** Link up or down (cable pulled, out of radio range): while down nothing goes in or out. */
  setLinkUp(up: boolean): void {
    this.up = up;
  }

  send(frame: Uint8Array): void {
    if (!this.attached) {
      this.counters.txErrors++;
      this.fail('closed', `${this.name}: the interface was detached from segment ${this.segment.name}; attach it again to send`);
      return;
    }
    if (!this.up) {
      this.counters.txDroppedLinkDown++;
      this.segment.counters.droppedLinkDown++;
      return;
    }
    if (frame.length < ETHERNET_HEADER_LENGTH) {
      this.counters.txErrors++;
      this.fail('send', `${this.name}: a ${frame.length}-byte frame is shorter than the 14-byte Ethernet header; nothing sent`);
      return;
    }
    if (frame.length > ETHERNET_HEADER_LENGTH + this.mtu) {
      this.counters.txErrors++;
      this.fail(
        'send',
        `${this.name}: a ${frame.length}-byte frame exceeds the MTU of ${this.mtu} (+14 header bytes); fragment at the IP layer or raise the MTU`,
      );
      return;
    }
    this.counters.sent++;
    this.segment.transmit(this, frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onError(handler: (error: LinkError) => void): void {
    this.errorHandler = handler;
  }

  /** Clears both handlers (the Link layer does this when a scope releases the interface). */
  clearHandlers(): void {
    this.frameHandler = undefined;
    this.errorHandler = undefined;
  }

  /** Leaves the segment: frames in flight to it are not delivered, `send` reports 'closed'. */
  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.segment.remove(this);
  }

  /** Called by the segment for a frame addressed to this interface. */
  receive(frame: Uint8Array): void {
    const segment = this.segment;
    if (!this.up) {
      this.counters.rxDroppedLinkDown++;
      segment.counters.droppedLinkDown++;
      return;
    }
    this.counters.received++;
    segment.counters.deliveries++;
    const handler = this.frameHandler;
    if (handler === undefined) {
      this.counters.rxUnhandled++;
      return;
    }
    handler(frame);
  }

  private fail(reason: 'send' | 'closed', message: string): void {
    this.errorHandler?.(new LinkError({ reason, interfaceName: this.name, message }));
  }
}

export class SimEthernetSegment {
  readonly name: string;
  readonly counters: SimEthernetCounters = { sent: 0, lost: 0, deliveries: 0, unclaimed: 0, droppedLinkDown: 0 };
  /** Replaced, never mutated, so a delivery loop is unaffected by attach/detach inside a handler. */
  private ports: readonly SimEthernetPort[] = [];
  private readonly random: () => number;
  private readonly latencyMs: number;
  private readonly loss: number;
  private tapCallback: SegmentTap | undefined;

  constructor(private readonly options: SimEthernetOptions) {
    this.name = options.name ?? 'segment';
    this.random = seededRandom(options.seed ?? 1);
    this.latencyMs = options.latencyMs ?? 0;
    this.loss = options.loss ?? 0;
    this.tapCallback = options.tap;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  /** Attached interfaces, in attachment order (the order receivers are served). */
  get interfaces(): readonly SimEthernetPort[] {
    return this.ports;
  }

  /** Plugs a new interface into the segment. */
  attach(options: SimPortOptions): SimEthernetPort {
    const port = new SimEthernetPort(this, options);
    this.ports = [...this.ports, port];
    return port;
  }

  /** Sets (or clears) the tap that sees every frame sent. */
  setTap(tap: SegmentTap | undefined): void {
    this.tapCallback = tap;
  }

  /** Removes a port (SimEthernetPort.detach calls this). */
  remove(port: SimEthernetPort): void {
    this.ports = this.ports.filter((p) => p !== port);
  }

  /** Puts a frame from `from` on the wire (SimEthernetPort.send calls this after its checks). */
  transmit(from: SimEthernetPort, frame: Uint8Array): void {
    // A copy, padded as a driver pads short frames: the sender may reuse its buffer at once,
    // and receivers see what a real interface would deliver.
    const wire = new Uint8Array(Math.max(frame.length, ETHERNET_MINIMUM_FRAME));
    wire.set(frame);
    this.counters.sent++;
    const clock = this.options.clock;
    const now = clock.now();
    this.tapCallback?.(now, wire);
    if (this.loss > 0 && this.random() < this.loss) {
      this.counters.lost++;
      return;
    }
    clock.setAlarm(now + this.latencyMs, () => this.deliver(from, wire));
  }

  private deliver(from: SimEthernetPort, frame: Uint8Array): void {
    const group = ethernetIsMulticast(frame, 0);
    let claimed = false;
    for (const port of this.ports) {
      if (port === from) continue;
      if (!group && !port.promiscuous && !macEquals(frame, 0, port.macBytes)) continue;
      claimed = true;
      port.receive(frame);
    }
    if (!claimed) this.counters.unclaimed++;
  }
}

// ---------------------------------------------------------------------------------------------
// The Link service on simulated segments

/** An interface of a simulated host: an attached port, or a segment to attach to on open. */
export type SimInterfaceSpec =
  | SimEthernetPort
  | {
      readonly segment: SimEthernetSegment;
      readonly mac: MacAddress;
      readonly mtu?: number;
      readonly promiscuous?: boolean;
    };

/**
 * A Link layer for one simulated host: `open("eth0")` gives the interface named so in
 * `interfaces`. A port passed as such stays attached when the scope closes (its owner keeps
 * link state and counters); a `{segment, mac}` spec is attached on open and detached on close.
 */
export function simLinkLayer(interfaces: Readonly<Record<string, SimInterfaceSpec>>): Layer.Layer<Link> {
  const inUse = new Set<string>();
  return Layer.succeed(Link, {
    open: (name) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const spec = Object.hasOwn(interfaces, name) ? interfaces[name] : undefined;
          if (spec === undefined) {
            const known = Object.keys(interfaces);
            return Effect.fail(
              new LinkError({
                reason: 'no-such-interface',
                interfaceName: name,
                message: `no simulated interface "${name}" on this host; it has ${known.length > 0 ? known.map((k) => `"${k}"`).join(', ') : 'none'}`,
              }),
            );
          }
          if (inUse.has(name)) {
            return Effect.fail(
              new LinkError({
                reason: 'in-use',
                interfaceName: name,
                message: `interface "${name}" is already open; close the scope that opened it first`,
              }),
            );
          }
          inUse.add(name);
          const owned = !(spec instanceof SimEthernetPort);
          const port =
            spec instanceof SimEthernetPort
              ? spec
              : spec.segment.attach({
                  name,
                  mac: spec.mac,
                  ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}),
                  ...(spec.promiscuous !== undefined ? { promiscuous: spec.promiscuous } : {}),
                });
          return Effect.succeed({ name, port, owned, handle: openedInterface(name, port) });
        }),
        ({ name, port, owned, handle }) =>
          Effect.sync(() => {
            handle.close();
            port.clearHandlers();
            if (owned) port.detach();
            inUse.delete(name);
          }),
      ).pipe(Effect.map(({ handle }) => handle.api)),
  });
}

/** The view of a port handed out by `open`: inert once its scope has closed. */
function openedInterface(name: string, port: SimEthernetPort): { api: LinkInterface; close(): void } {
  let open = true;
  let errorHandler: ((error: LinkError) => void) | undefined;
  const api: LinkInterface = {
    name,
    mac: port.mac,
    mtu: port.mtu,
    send(frame) {
      if (open) port.send(frame);
      else {
        errorHandler?.(
          new LinkError({ reason: 'closed', interfaceName: name, message: `interface "${name}" was used after its scope closed; open it again` }),
        );
      }
    },
    onFrame(handler) {
      if (open) port.onFrame(handler);
    },
    onError(handler) {
      errorHandler = handler;
      if (open) port.onError(handler);
    },
  };
  return {
    api,
    close: () => {
      open = false;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A simulated IPv4 host's ARP

export interface SimArpHostOptions {
  /** The host's IPv4 addresses on this link; the first is its source for requests. */
  readonly addresses: readonly Ipv4Address[];
}

/** An ARP packet the host took in, with the frame addresses it came in. */
export interface ArpSeen {
  readonly frameSource: MacAddress;
  readonly frameDestination: MacAddress;
  readonly packet: ArpPacket;
}

export interface SimArpHostCounters {
  /** ARP packets taken in (addressed to this host or broadcast). */
  received: number;
  /** Existing cache entries overwritten by an ARP packet's sender fields. */
  updated: number;
  /** Entries added because this host was the target. */
  added: number;
  /** Requests for one of this host's addresses, answered. */
  answered: number;
  requestsSent: number;
  gratuitousSent: number;
  /** Packets in which another link-layer address claims one of this host's addresses. */
  conflicts: number;
  /** Frames that are not ARP, not for this host, or not Ethernet/IPv4 ARP. */
  ignored: number;
}

/**
 * A host with an ARP cache that follows the RFC 826 packet-reception rule, which RFC 5944 4.6
 * restates: if the sender's protocol address is already in the cache, its entry takes the
 * sender's hardware address (for any packet, Request or Reply, solicited or not); if the
 * packet is for one of the host's addresses, the sender is added (when not just updated) and
 * a Request is answered, unicast to the requester. An entry is never created otherwise, which
 * is why gratuitous ARP only moves addresses that hosts already know.
 *
 * One deviation, as hosts do in practice (RFC 5227 2.4): a packet whose sender claims one of
 * this host's own addresses is counted as a conflict, neither cached nor answered.
 */
export class SimArpHost<L extends LinkInterface = LinkInterface> {
  /** Plugs a new host into a segment. */
  static attach(segment: SimEthernetSegment, options: SimPortOptions & SimArpHostOptions): SimArpHost<SimEthernetPort> {
    return new SimArpHost(segment.attach(options), options);
  }

  readonly addresses: readonly Ipv4Address[];
  readonly counters: SimArpHostCounters = {
    received: 0,
    updated: 0,
    added: 0,
    answered: 0,
    requestsSent: 0,
    gratuitousSent: 0,
    conflicts: 0,
    ignored: 0,
  };
  private readonly cache = new Map<Ipv4Address, MacAddress>();
  private readonly ownMac: Uint8Array;
  private readonly scratch = new Uint8Array(ARP_FRAME_LENGTH);
  private listener: ((seen: ArpSeen) => void) | undefined;

  constructor(
    readonly link: L,
    options: SimArpHostOptions,
  ) {
    this.addresses = options.addresses.map((a) => a >>> 0);
    this.ownMac = macBytes(link.mac);
    link.onFrame((frame) => this.receive(frame));
  }

  get mac(): MacAddress {
    return this.link.mac;
  }

  /** The cached link-layer address for `ip`, if any. */
  cacheEntry(ip: Ipv4Address): MacAddress | undefined {
    return this.cache.get(ip >>> 0);
  }

  /** The whole cache (read-only view). */
  get cacheEntries(): ReadonlyMap<Ipv4Address, MacAddress> {
    return this.cache;
  }

  /** Puts an entry in the cache, as earlier traffic would have. */
  setCacheEntry(ip: Ipv4Address, linkAddress: MacAddress): void {
    this.cache.set(ip >>> 0, parseMacLiteral(linkAddress));
  }

  forget(ip: Ipv4Address): void {
    this.cache.delete(ip >>> 0);
  }

  /** Broadcasts "who has `ip`?"; the answer, when one comes, lands in the cache. */
  resolve(ip: Ipv4Address): void {
    const packet = arpRequest(this.link.mac, this.addresses[0] ?? 0, ip >>> 0);
    encodeArpFrame(packet, BROADCAST_MAC, this.link.mac, this.scratch, 0);
    this.counters.requestsSent++;
    this.link.send(this.scratch);
  }

  /**
   * Broadcasts a gratuitous ARP (RFC 5944 4.6) for `ip` (default: the host's first address)
   * announcing `linkAddress` (default: the host's own).
   */
  sendGratuitous(
    ip: Ipv4Address = this.addresses[0] ?? 0,
    options: { readonly operation?: 'request' | 'reply'; readonly linkAddress?: MacAddress } = {},
  ): void {
    const packet = gratuitousArp(options.linkAddress ?? this.link.mac, ip >>> 0, options.operation ?? 'request');
    encodeArpFrame(packet, BROADCAST_MAC, this.link.mac, this.scratch, 0);
    this.counters.gratuitousSent++;
    this.link.send(this.scratch);
  }

  /** Calls `listener` for every ARP packet the host takes in (before it acts on it). */
  onArp(listener: ((seen: ArpSeen) => void) | undefined): void {
    this.listener = listener;
  }

  /** Stops taking frames in. */
  close(): void {
    this.link.onFrame(() => {});
  }

  private receive(frame: Uint8Array): void {
    if (frame.length < ETHERNET_HEADER_LENGTH || ethernetEtherType(frame, 0) !== EtherType.ARP) {
      this.counters.ignored++;
      return;
    }
    // A host's ARP module sees frames for its own address or a group address; what a
    // promiscuous interface picks up for others is not addressed to it.
    if (!ethernetIsMulticast(frame, 0) && !macEquals(frame, 0, this.ownMac)) {
      this.counters.ignored++;
      return;
    }
    const decoded = decodeArpPacket(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!decoded.ok) {
      this.counters.ignored++;
      return;
    }
    const packet = decoded.value;
    this.counters.received++;
    this.listener?.({ frameSource: ethernetSource(frame, 0), frameDestination: ethernetDestination(frame, 0), packet });
    const sender = packet.senderIp >>> 0;
    if (packet.senderMac === this.link.mac) return;
    if (this.addresses.includes(sender)) {
      this.counters.conflicts++;
      return;
    }
    // RFC 826 "Packet Reception": merge first, then look at the target.
    let merged = false;
    if (this.cache.has(sender)) {
      this.cache.set(sender, packet.senderMac);
      this.counters.updated++;
      merged = true;
    }
    if (!this.addresses.includes(packet.targetIp >>> 0)) return;
    // 0.0.0.0 is an RFC 5227 probe's sender: there is nothing to cache, but it is answered.
    if (!merged && sender !== 0) {
      this.cache.set(sender, packet.senderMac);
      this.counters.added++;
    }
    if (packet.operation !== ArpOperation.Request) return;
    if (isGroupAddress(packet.senderMac)) return; // a reply to a group address would reach every station
    const reply = arpReply(this.link.mac, packet.targetIp, packet.senderMac, packet.senderIp);
    encodeArpFrame(reply, packet.senderMac, this.link.mac, this.scratch, 0);
    this.counters.answered++;
    this.link.send(this.scratch);
  }

  toString(): string {
    return `SimArpHost(${this.link.name} ${this.link.mac} ${this.addresses.map(ipv4ToString).join(',')})`;
  }
}
