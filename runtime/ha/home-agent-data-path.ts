/**
 * The home agent's packet path on a host (RFC 5944 4.2.3, 4.3, 4.6): connects a HomeAgent's
 * forwarding table to the datagrams a host sees, so that traffic for mobile nodes away from
 * home is really tunnelled to their care-of addresses.
 *
 *   host ── PacketTap (claimed unicast + copied home-network broadcasts)
 *        ── bounded input queue (sheds, counted)
 *        ── RxJS Subject of batches → homeAgentDataPlane (runtime/dataplane/data-plane.ts)
 *        ── outputs: tunnel packets and ICMP errors sent by routing (IpSender, header
 *           included), anything the plane passes re-injected unchanged.
 *
 * The host side is three ports, so the same path runs on the simulated network now and on a
 * TUN device on Linux (runtime/ha/home-agent-linux.ts):
 * - `openTap(rule)`: a `PacketTap` delivering batches of the datagrams `rule` claims (steals
 *   from the host's own delivery/forwarding) and of the home-network broadcasts `rule` wants
 *   copied (the host keeps processing those: it is a host on its home network too). On the
 *   simulated network `simHostPacketTap` uses `SimHost.intercept` and a passive frame
 *   observer on the home interface; a TUN adapter gets the claimed datagrams from routes to the
 *   home addresses that point at the device.
 * - `sender`: an `IpSender` for whole IPv4 datagrams (`rawIpSender` over the RawIp service
 *   opened with `headerIncluded`, or `simHostSender`).
 * - `homeLink` (optional): the home interface as a LinkInterface, on which the agent's
 *   `arpCommands` are executed by runtime/ha/home-link.ts.
 *
 * Why attachHomeLink rather than SimHost.proxyArp for 4.6: the home link executor runs the
 * agent's whole ARP command stream — proxy ARP while a binding exists *and* the gratuitous
 * ARPs that overwrite the link-layer address neighbours already cached for the home address
 * (4.6: without them a router that talked to the node at home keeps sending to its MAC until
 * its cache ages), and the announcement of the node's own address when it comes home. It is
 * also the code that runs on Linux over AF_PACKET, where there is no host proxy-ARP table to
 * lean on. It is attached with `answerOwnAddresses: false` because the host's own ARP already
 * answers for the agent's addresses.
 *
 * 3.8.3.1: a Registration Reply to a mobile node's home address (the answer to a request sent
 * from that home address, i.e. the node deregistering from home) MUST go directly onto the home
 * network, bypassing any binding still held. The reply's IP destination is copied from the
 * request's IP source (3.8.3.1), so "a Registration Reply from one of the agent's addresses and
 * its registration port to a bound home address" identifies exactly those replies: the rule
 * never claims them (counted `registrationReplyExempt`), and the host routes them on the home
 * link as if the node were at home.
 *
 * Not done here: multicast (4.4) — only limited and home-network directed broadcasts are
 * copied to bindings with the B bit; reverse tunnels (T bit) arriving at the agent are left to
 * the host (the plane's `local` output).
 */
import { Subject, type Subscription } from 'rxjs';
import type { LinkInterface } from '../../io/link.js';
import type { RawIpSocket } from '../../io/raw-ip.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { readU16, type Ipv4Address } from '../../io/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, ethernetEtherType, ethernetIsMulticast } from '../../io/wire/ethernet.js';
import {
  IpProtocol,
  decrementIpv4Ttl,
  ipv4DatagramProblem,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Source,
  ipv4TotalLength,
} from '../../io/wire/ipv4.js';
import { MOBILE_IP_PORT, REGISTRATION_REPLY } from '../../io/wire/registration-types.js';
import type { Alarm, Clock } from '../../io/clock.js';
import {
  type DataPlane,
  type DataPlaneCounters,
  type OutputBatch,
  type Packet,
  type PacketBatch,
  homeAgentDataPlane,
} from '../dataplane/data-plane.js';
import type { ForwardingChange } from '../dataplane/forwarding-table.js';
import type { HomeAgent } from './home-agent.js';
import { attachHomeLink, type HomeLink, type HomeLinkOptions } from './home-link.js';

// =============================================================================================
// Ports

/** What the data path asks of a tap: which datagrams belong to the home agent. */
export interface CaptureRule {
  /**
   * True when this unicast datagram, about to be delivered, forwarded or routed by the host,
   * is for a mobile node away from home: the tap takes it away from the host.
   */
  claims(datagram: Uint8Array): boolean;
  /** True when this home-network broadcast should also be copied to the data path (4.3). */
  copies(datagram: Uint8Array): boolean;
}

/**
 * A source of captured IPv4 datagrams, in batches. The bytes of a batch belong to the tap's
 * caller once delivered (the data path may keep them until its queue drains).
 */
export interface PacketTap {
  /** Sets the batch handler (one per tap; a later call replaces it). */
  onPackets(handler: (batch: PacketBatch) => void): void;
  /** Stops capturing: the host handles every datagram itself again. Idempotent. */
  release(): void;
}

/** Sends a whole IPv4 datagram, header included, by the host's routing. */
export interface IpSender {
  /** False when the datagram could not be sent (counted by the caller). */
  send(datagram: Uint8Array, destination: Ipv4Address): boolean;
  /**
   * Optional: sends datagrams[0..count) to destinations[i] in as few system calls as it can
   * (sendmmsg). One that fails does not stop the others. Returns how many were sent. Without
   * it the data path calls `send` per datagram.
   */
  sendBatch?(datagrams: readonly Uint8Array[], destinations: readonly Ipv4Address[], count: number): number;
}

export interface HomeAgentHostPorts {
  readonly openTap: (rule: CaptureRule) => PacketTap;
  readonly sender: IpSender;
  /** The home interface; when given, the agent's ARP commands (4.6) are executed on it. */
  readonly homeLink?: LinkInterface;
  /** Called once by `detach()` after everything else (e.g. to close the link view). */
  readonly close?: () => void;
}

// =============================================================================================
// The data path

export interface HomeAgentDataPathOptions {
  readonly clock: Clock;
  /** Every address of the agent's host (RFC 2003 3.2 loop checks; the 3.8.3.1 exemption). */
  readonly addresses: readonly Ipv4Address[];
  /** Outer source of tunnels (the Home Agent field given to nodes). Default `addresses[0]`. */
  readonly homeAgentAddress?: Ipv4Address;
  readonly homeNetwork: Ipv4Address;
  readonly prefixLength: number;
  /** Name of the home interface: only broadcasts received there are tunnelled (4.3). */
  readonly homeInterface?: string;
  /** UDP port the agent answers registrations from. Default 434. */
  readonly registrationPort?: number;
  /** Most datagrams waiting at the input edge; beyond it arrivals are shed. Default 4096. */
  readonly queueLimit?: number;
  /** Most datagrams per batch handed to the plane. Default 64. */
  readonly maxBatch?: number;
  /** Outer TTL and the TTL of ICMP errors (default 64). */
  readonly ttl?: number;
  readonly greChecksum?: boolean;
  /** Options of the home link executor besides clock, addresses and answerOwnAddresses. */
  readonly homeLink?: Omit<HomeLinkOptions, 'clock' | 'addresses' | 'answerOwnAddresses'>;
}

export interface HomeAgentDataPathCounters {
  /** Datagrams the tap delivered. */
  captured: number;
  /** Dropped at the input edge because the queue was full. */
  shed: number;
  /** Batches handed to the plane. */
  batches: number;
  /** Tunnel packets sent (send-ip outputs). */
  tunnelSent: number;
  /** ICMP errors sent (Time Exceeded). */
  icmpSent: number;
  /** Datagrams the plane passed on, re-injected unchanged (a binding gone meanwhile). */
  reinjected: number;
  /** Re-injection of a datagram that arrived on a link whose TTL ran out (RFC 1812 5.3.1). */
  reinjectTtlExpired: number;
  /** Outputs the sender refused. */
  sendFailed: number;
  /** Registration Replies to a bound home address not claimed (3.8.3.1). */
  registrationReplyExempt: number;
}

export interface HomeAgentDataPath {
  readonly counters: HomeAgentDataPathCounters;
  /** The plane's own counters (tunnelled, ttl-exceeded, loop checks, ...). */
  readonly planeCounters: DataPlaneCounters;
  readonly plane: DataPlane;
  /** The home link executor, when the ports gave a home link. */
  readonly homeLink: HomeLink | undefined;
  /** Datagrams waiting at the input edge. */
  queued(): number;
  /** Processes what is queued now instead of at the next clock step. */
  flush(): void;
  /** Stops capturing, drops what is queued, detaches the home link, closes the ports. */
  detach(): void;
}

const DEFAULT_QUEUE_LIMIT = 4096;
const DEFAULT_MAX_BATCH = 64;
const UDP_HEADER_LENGTH = 8;
const LIMITED_BROADCAST = 0xffffffff;

/**
 * Connects `agent.forwardingTable` to a host through `ports` until `detach()`.
 *
 * Captured datagrams wait in a bounded queue and are processed at the next clock step (an
 * alarm at the current time), so every datagram that arrives in one instant goes through the
 * plane in one batch, and the outputs leave outside the host's receive path. (On a RealClock
 * that alarm is a setTimeout(0): a TUN adapter that already delivers batches may call
 * `flush()` after each one instead.)
 */
export function attachHomeAgentDataPath(
  agent: Pick<HomeAgent, 'forwardingTable' | 'arpCommands'>,
  ports: HomeAgentHostPorts,
  options: HomeAgentDataPathOptions,
): HomeAgentDataPath {
  const clock = options.clock;
  const table = agent.forwardingTable;
  const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isInteger(queueLimit) || queueLimit < 1) throw new RangeError('queueLimit must be an integer >= 1');
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError('maxBatch must be an integer >= 1');
  const registrationPort = options.registrationPort ?? MOBILE_IP_PORT;
  const own = new Set<number>(options.addresses.map((a) => a | 0));
  if (options.homeAgentAddress !== undefined) own.add(options.homeAgentAddress | 0);
  const hostMask = options.prefixLength >= 32 ? 0 : 0xffffffff >>> options.prefixLength;
  const homeBroadcast = (options.homeNetwork | hostMask) >>> 0;

  const counters: HomeAgentDataPathCounters = {
    captured: 0,
    shed: 0,
    batches: 0,
    tunnelSent: 0,
    icmpSent: 0,
    reinjected: 0,
    reinjectTtlExpired: 0,
    sendFailed: 0,
    registrationReplyExempt: 0,
  };

  const plane = homeAgentDataPlane({
    table,
    localAddresses: options.addresses,
    ...(options.homeAgentAddress !== undefined ? { homeAgentAddress: options.homeAgentAddress } : {}),
    homeNetwork: options.homeNetwork,
    prefixLength: options.prefixLength,
    ...(options.homeInterface !== undefined ? { homeInterface: options.homeInterface } : {}),
    ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
    ...(options.greChecksum !== undefined ? { greChecksum: options.greChecksum } : {}),
  });

  // Home addresses whose bindings asked for broadcasts (B bit), kept from the table's changes
  // so that a broadcast on the home link costs one Set lookup, not a table scan.
  const broadcastHomes = new Set<number>();
  for (const entry of table) if (entry.tunnels.some((t) => t.broadcast)) broadcastHomes.add(entry.homeAddress | 0);
  const changes: Subscription = table.changes.subscribe((change: ForwardingChange) => {
    if (change.kind === 'delete') broadcastHomes.delete(change.homeAddress | 0);
    else if (change.entry.tunnels.some((t) => t.broadcast)) broadcastHomes.add(change.entry.homeAddress | 0);
    else broadcastHomes.delete(change.entry.homeAddress | 0);
  });

  /** True while this path sends: its own output is never captured again. */
  let emitting = false;

  /** 3.8.3.1: a Registration Reply from the agent's registration port (see the file header). */
  function isRegistrationReply(datagram: Uint8Array): boolean {
    if (ipv4Protocol(datagram, 0) !== IpProtocol.UDP) return false;
    if (!own.has(ipv4Source(datagram, 0) | 0)) return false;
    const udp = ipv4HeaderLength(datagram, 0);
    if (udp + UDP_HEADER_LENGTH + 1 > ipv4TotalLength(datagram, 0) || udp + UDP_HEADER_LENGTH >= datagram.length) return false;
    return readU16(datagram, udp) === registrationPort && datagram[udp + UDP_HEADER_LENGTH] === REGISTRATION_REPLY;
  }

  const rule: CaptureRule = {
    claims(datagram) {
      if (emitting || datagram.length < 20) return false;
      if (table.lookup(ipv4Destination(datagram, 0)) === undefined) return false;
      if (isRegistrationReply(datagram)) {
        counters.registrationReplyExempt++;
        return false;
      }
      return true;
    },
    copies(datagram) {
      if (emitting || broadcastHomes.size === 0 || datagram.length < 20) return false;
      const destination = ipv4Destination(datagram, 0);
      if (destination !== LIMITED_BROADCAST && destination !== homeBroadcast) return false;
      // The agent's own broadcasts are not "received on the home network" (4.3).
      return !own.has(ipv4Source(datagram, 0) | 0);
    },
  };

  // --- the input edge: a bounded queue drained at the next clock step ----------------------
  const queue: Packet[] = [];
  let drainAlarm: Alarm | undefined;
  let detached = false;

  function accept(batch: PacketBatch): void {
    if (detached) return;
    for (const packet of batch) {
      counters.captured++;
      if (queue.length >= queueLimit) {
        counters.shed++;
        continue;
      }
      queue.push(packet);
    }
    if (queue.length > 0 && drainAlarm === undefined) drainAlarm = clock.setAlarm(clock.now(), drain);
  }

  const input = new Subject<PacketBatch>();
  let current: PacketBatch = [];
  const outputs = input.pipe(plane).subscribe((out) => emit(current, out));

  function drain(): void {
    drainAlarm = undefined;
    while (queue.length > 0 && !detached) {
      const batch = queue.splice(0, maxBatch);
      counters.batches++;
      current = batch;
      input.next(batch);
    }
    current = [];
  }

  function send(bytes: Uint8Array, destination: Ipv4Address): boolean {
    if (ports.sender.send(bytes, destination)) return true;
    counters.sendFailed++;
    return false;
  }

  // Tunnel packets of one output batch, sent together when the sender can (sendBatch).
  const batchSender = ports.sender.sendBatch?.bind(ports.sender);
  const tunnelBytes: Uint8Array[] = [];
  const tunnelDestinations: Ipv4Address[] = [];

  function emit(batch: PacketBatch, out: OutputBatch): void {
    emitting = true;
    try {
      for (const output of out.packets) {
        switch (output.kind) {
          case 'send-ip':
            if (batchSender !== undefined) {
              tunnelBytes.push(output.bytes);
              tunnelDestinations.push(output.destination);
            } else if (send(output.bytes, output.destination)) counters.tunnelSent++;
            break;
          case 'icmp':
            if (send(output.bytes, output.destination)) counters.icmpSent++;
            break;
          case 'forward':
          case 'local': {
            // Passed on unchanged (4.2.3: no binding any more, the node is assumed at home).
            // A datagram taken off a link had not been forwarded yet: the TTL is decremented
            // here as the host's forwarding would have (RFC 1812 5.3.1).
            const arrivedOnLink = batch[output.index]?.ingress !== undefined;
            let bytes = output.bytes;
            if (arrivedOnLink && output.kind === 'forward') {
              bytes = bytes.slice(0, ipv4TotalLength(bytes, 0));
              if (!decrementIpv4Ttl(bytes, 0)) {
                counters.reinjectTtlExpired++;
                break;
              }
            }
            if (send(bytes, ipv4Destination(bytes, 0))) counters.reinjected++;
            break;
          }
          case 'deliver':
            break; // never produced by the home agent plane
        }
      }
      if (tunnelBytes.length > 0) {
        const count = tunnelBytes.length;
        const sent = batchSender!(tunnelBytes, tunnelDestinations, count);
        counters.tunnelSent += sent;
        counters.sendFailed += count - sent;
      }
    } finally {
      tunnelBytes.length = 0;
      tunnelDestinations.length = 0;
      emitting = false;
      out.release();
    }
  }

  const tap = ports.openTap(rule);
  tap.onPackets(accept);

  const homeLink =
    ports.homeLink === undefined
      ? undefined
      : attachHomeLink(agent, ports.homeLink, {
          ...options.homeLink,
          clock,
          addresses: options.addresses,
          answerOwnAddresses: false,
        });

  return {
    counters,
    planeCounters: plane.counters,
    plane,
    homeLink,
    queued: () => queue.length,
    flush(): void {
      drainAlarm?.cancel();
      drain();
    },
    detach(): void {
      if (detached) return;
      detached = true;
      tap.release();
      drainAlarm?.cancel();
      drainAlarm = undefined;
      queue.length = 0;
      outputs.unsubscribe();
      input.complete();
      changes.unsubscribe();
      homeLink?.detach();
      ports.close?.();
    },
  };
}

// =============================================================================================
// Adapters: the simulated network and the RawIp service

/**
 * A PacketTap over a SimHost: `SimHost.intercept` takes the datagrams the rule claims (received
 * on any interface or sent by the host itself), and an observer of the home interface's frames
 * copies the IPv4 broadcasts the rule wants (link-layer broadcast/multicast frames only) while
 * the host processes them as usual. Each datagram is copied (the host's views are valid only
 * during its call) and delivered as a batch of one: the simulated network has no wakeups to
 * amortise; the data path's queue makes the batches.
 */
export function simHostPacketTap(host: SimHost, homeInterface: string): (rule: CaptureRule) => PacketTap {
  return (rule) => {
    let handler: ((batch: PacketBatch) => void) | undefined;
    const stopIntercept = host.intercept(
      (datagram) => handler !== undefined && rule.claims(datagram),
      (datagram, info) => {
        const packet: Packet = info.interface === undefined ? { bytes: datagram.slice() } : { bytes: datagram.slice(), ingress: info.interface };
        handler?.([packet]);
      },
    );
    const stopFrames = host.onFrame(homeInterface, (frame) => {
      if (handler === undefined || frame.length < ETHERNET_HEADER_LENGTH + 20) return;
      if (!ethernetIsMulticast(frame, 0) || ethernetEtherType(frame, 0) !== EtherType.IPv4) return;
      if (ipv4DatagramProblem(frame, ETHERNET_HEADER_LENGTH, frame.length) !== undefined) return;
      const datagram = frame.subarray(ETHERNET_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + ipv4TotalLength(frame, ETHERNET_HEADER_LENGTH));
      if (!rule.copies(datagram)) return;
      handler([{ bytes: datagram.slice(), ingress: homeInterface, linkBroadcast: true }]);
    });
    let released = false;
    return {
      onPackets(next) {
        if (!released) handler = next;
      },
      release() {
        if (released) return;
        released = true;
        handler = undefined;
        stopIntercept();
        stopFrames();
      },
    };
  };
}

/** Sends through the SimHost's routing (sendIp); refused results count as failures. */
export function simHostSender(host: SimHost): IpSender {
  return {
    send(datagram) {
      const result = host.sendIp(datagram);
      return result === 'sent' || result === 'queued' || result === 'looped';
    },
  };
}

/**
 * Sends over a RawIp socket opened with `headerIncluded: true` (the plane writes every header).
 * Any protocol number works for sending with the header included; the data path never reads
 * from this socket.
 */
export function rawIpSender(socket: RawIpSocket): IpSender {
  if (!socket.headerIncluded) throw new Error('rawIpSender needs a RawIp socket opened with headerIncluded: true');
  // The plane's outputs are views into a few pool slabs: a run of datagrams in one
  // ArrayBuffer goes out as one sendmmsg with offsets into it, without copying.
  const offsets = new Int32Array(MAX_SEND_BATCH);
  const lengths = new Int32Array(MAX_SEND_BATCH);
  const destinations = new Uint32Array(MAX_SEND_BATCH);
  let lastBuffer: ArrayBufferLike | undefined;
  let lastView: Uint8Array = new Uint8Array(0);
  return {
    send: (datagram, destination) => socket.send(datagram, destination),
    sendBatch(datagrams, to, count) {
      let sent = 0;
      let next = 0;
      while (next < count) {
        const buffer = datagrams[next]!.buffer;
        if (buffer !== lastBuffer) {
          lastBuffer = buffer;
          lastView = new Uint8Array(buffer);
        }
        let n = 0;
        while (next + n < count && n < MAX_SEND_BATCH && datagrams[next + n]!.buffer === buffer) {
          const datagram = datagrams[next + n]!;
          offsets[n] = datagram.byteOffset;
          lengths[n] = datagram.length;
          destinations[n] = to[next + n]!;
          n++;
        }
        const done = socket.sendBatch({ slab: lastView, offsets, lengths, count: n }, destinations);
        sent += done;
        next += done;
        if (done < n) {
          // The kernel stopped at this one (queue full, or an error for it alone, e.g. no
          // route to its care-of address): try it by itself, then go on with the others.
          if (socket.send(datagrams[next]!, to[next]!)) sent++;
          next++;
        }
      }
      return sent;
    },
  };
}

/** Largest sendBatch the native helper takes. */
const MAX_SEND_BATCH = 1024;

/**
 * The ports of a SimHost: its tap, a sender (the host's sendIp unless another is given, e.g.
 * `rawIpSender` over `simRawIpLayer(host)`), and a LinkInterface view of the home interface,
 * closed by `detach()`.
 */
export function simHostPorts(host: SimHost, homeInterface: string, sender: IpSender = simHostSender(host)): HomeAgentHostPorts {
  const link = host.linkInterface(homeInterface);
  return {
    openTap: simHostPacketTap(host, homeInterface),
    sender,
    homeLink: link,
    close: () => link.close(),
  };
}
