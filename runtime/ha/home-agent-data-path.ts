/**
 * The home agent's packet path on a host (RFC 5944 4.2.3, 4.3, 4.6): the forwarding table's
 * home addresses claimed on a PacketTap, the claimed datagrams through homeAgentDataPlane, and
 * the agent's ARP commands run on the home link — the same code on the simulated network and on
 * Linux (docs/architecture.md, "The home agent's data path"). Not done here: multicast (4.4);
 * reverse tunnels (T bit) are left to the host as the plane's `local` output.
 */
import { Effect, Exit, Layer, Scope } from 'effect';
import type { Subscription } from 'rxjs';
import type { Alarm, Clock } from '../../io/clock.js';
import { PacketTap, type CaptureRule, type OpenedPacketTap, type PacketTapError } from '../../io/packet-tap.js';
import { readU16, type Ipv4Address } from '../../io/wire/bytes.js';
import { IpProtocol, decrementIpv4Ttl, ipv4Destination, ipv4HeaderLength, ipv4Protocol, ipv4Source, ipv4TotalLength } from '../../io/wire/ipv4.js';
import { isMulticast, LIMITED_BROADCAST, subnetBroadcast } from '../../io/wire/ipv4-address.js';
import { ETHERNET_HEADER_LENGTH, writeMac, type MacAddress } from '../../io/wire/ethernet.js';
import type { LinkInterface } from '../../io/link.js';
import { GroupMembership } from '../../policies/group-membership.js';
import { MOBILE_IP_PORT, REGISTRATION_REPLY } from '../../io/wire/registration-types.js';
import { isTunnelProtocol } from '../../io/wire/tunnel.js';
import type { ForwardingChange, ForwardingTable } from '../dataplane/forwarding-table.js';
import { homeAgentDataPlane, IGMP_QUERY_INTERVAL_MS, type UdpTunnelMessage } from '../dataplane/ha-plane.js';
import type { DataPlane, DataPlaneCounters, OutputBatch } from '../dataplane/packets.js';
import type { HomeAgent } from './home-agent.js';
import { attachHomeLink, type HomeLink, type HomeLinkOptions } from './home-link.js';

export interface HomeAgentDataPathOptions {
  /** The clock of the home link executor (gratuitous ARP spacing). */
  readonly clock: Clock;
  /** Every address of the agent's host (RFC 2003 3.2 loop checks; the 3.8.3.1 exemption). */
  readonly addresses: readonly Ipv4Address[];
  /** Outer source of tunnels (the Home Agent field given to nodes). Default `addresses[0]`. */
  readonly homeAgentAddress?: Ipv4Address;
  readonly homeNetwork: Ipv4Address;
  readonly prefixLength: number;
  /** Name of the home interface: broadcasts are copied from it and only those are tunnelled (4.3). */
  readonly homeInterface: string;
  /** UDP port the agent answers registrations from. Default 434. */
  readonly registrationPort?: number;
  /** Most datagrams waiting at the tap's queue (where the layer has one); beyond it arrivals are shed. Default 4096. */
  readonly queueLimit?: number;
  /** Most datagrams per batch handed to the plane. Default 64. */
  readonly maxBatch?: number;
  /** Outer TTL and the TTL of ICMP errors (default 64). */
  readonly ttl?: number;
  readonly greChecksum?: boolean;
  /** RFC 3519: the largest UDP tunnel packet; a DF datagram that would exceed it gets Fragmentation Needed. Default none. */
  readonly udpTunnelMtu?: number;
  /**
   * How tunnel data from the registration sockets is batched: 'wakeup' gathers what one socket
   * wakeup delivers (the native layer hands a recvmmsg batch over synchronously) and runs the
   * plane once on a microtask; 'datagram' runs it per datagram, for layers that deliver one at
   * a time inside a simulated clock's step. Default 'wakeup' (attachHomeAgentDataPath: 'datagram').
   */
  readonly udpTunnelBatching?: 'wakeup' | 'datagram';
  /** Options of the home link executor besides clock, addresses and answerOwnAddresses. */
  readonly homeLink?: Omit<HomeLinkOptions, 'clock' | 'addresses' | 'answerOwnAddresses'>;
}

export interface HomeAgentDataPathCounters {
  /** Datagrams the tap captured (its counter). */
  readonly captured: number;
  /** Dropped at the tap's queue because it was full (its counter). */
  readonly shed: number;
  /** Batches handed to the plane (the tap's counter). */
  readonly batches: number;
  /** Tunnel packets sent (send-ip outputs). */
  tunnelSent: number;
  /** ICMP errors sent (Time Exceeded). */
  icmpSent: number;
  /** Datagrams the plane passed on, handed back to the host (a binding gone meanwhile). */
  reinjected: number;
  /** Re-injection of a datagram that arrived on a link whose TTL ran out (RFC 1812 5.3.1). */
  reinjectTtlExpired: number;
  /** Outputs the tap refused to send. */
  sendFailed: number;
  /** Registration Replies to a bound home address not claimed (3.8.3.1). */
  registrationReplyExempt: number;
  /** Mobile nodes' multicast datagrams sent onto the home link (R4.4-10). */
  multicastToHomeLink: number;
  /** Tunnel data messages (RFC 3519) received on the registration sockets, and the batches they went through the plane in. */
  udpTunnelReceived: number;
  udpTunnelBatches: number;
  /**
   * Tunnel data messages sent through the registration socket (agent.udpTunnelSink), and the
   * batched sends they went in (one per plane batch; the socket's sendCounters count sendmmsg).
   */
  udpTunnelSent: number;
  udpTunnelSendBatches: number;
}

export interface HomeAgentDataPath {
  readonly counters: HomeAgentDataPathCounters;
  /** The plane's own counters (tunnelled, ttl-exceeded, loop checks, ...). */
  readonly planeCounters: DataPlaneCounters;
  readonly plane: DataPlane;
  readonly tap: OpenedPacketTap;
  /** The home link executor on the tap's home interface. */
  readonly homeLink: HomeLink;
  /** Datagrams waiting at the tap's queue. */
  queued(): number;
  /** Processes what is queued now instead of at the tap's next step. */
  flush(): void;
  /** Stops: no claim left, the pipeline unsubscribed, the home link detached. Idempotent. */
  detach(): void;
}

const UDP_HEADER_LENGTH = 8;

/** What the path needs of the agent: its table and ARP commands, and for RFC 3519 its rebinding and tunnel data hooks. */
export type DataPathAgent = Pick<HomeAgent, 'forwardingTable' | 'arpCommands'> & Partial<Pick<HomeAgent, 'followUdpTunnel' | 'followUdpFlow' | 'udpTunnelData' | 'udpTunnelSink'>>;

/** An Ethernet frame carrying `datagram` to its group's MAC address (RFC 1112 6.4: 01:00:5e + the low 23 bits). */
function multicastFrame(source: MacAddress, datagram: Uint8Array): Uint8Array {
  const length = ipv4TotalLength(datagram, 0);
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + length);
  const group = ipv4Destination(datagram, 0);
  frame.set([0x01, 0x00, 0x5e, (group >>> 16) & 0x7f, (group >>> 8) & 0xff, group & 0xff], 0);
  writeMac(frame, 6, source);
  frame[12] = 0x08;
  frame[13] = 0x00;
  frame.set(datagram.subarray(0, length), ETHERNET_HEADER_LENGTH);
  return frame;
}

/**
 * What the tap asks of the agent: the 3.8.3.1 exemption and the broadcasts to copy (4.3).
 * 3.8.3.1: a Reply to a home address (a node deregistering from home) MUST go straight onto
 * the home network despite a binding still held; its IP destination is the Request's source,
 * so "from an agent address and its registration port to a bound home address" is exactly it.
 */
function captureRule(
  table: ForwardingTable,
  options: HomeAgentDataPathOptions,
  counters: HomeAgentDataPathCounters,
  membership: GroupMembership,
): { rule: CaptureRule; stop(): void } {
  const registrationPort = options.registrationPort ?? MOBILE_IP_PORT;
  const own = new Set<number>(options.addresses.map((a) => a | 0));
  if (options.homeAgentAddress !== undefined) own.add(options.homeAgentAddress | 0);
  const homeBroadcast = subnetBroadcast(options.homeNetwork, options.prefixLength);
  // Home addresses whose bindings asked for broadcasts (B bit), kept from the table's changes
  // so that a broadcast on the home link costs one Set lookup, not a table scan.
  const broadcastHomes = new Set<number>();
  for (const entry of table) if (entry.tunnels.some((t) => t.broadcast)) broadcastHomes.add(entry.homeAddress | 0);
  const changes = table.changes.subscribe((change: ForwardingChange) => {
    // 4.4: a node's group memberships end with its last binding.
    if (change.kind === 'delete') membership.forget(change.homeAddress);
    if (change.kind === 'delete') broadcastHomes.delete(change.homeAddress | 0);
    else if (change.entry.tunnels.some((t) => t.broadcast)) broadcastHomes.add(change.entry.homeAddress | 0);
    else broadcastHomes.delete(change.entry.homeAddress | 0);
  });
  const rule: CaptureRule = {
    exempts(datagram) {
      // 3.8.3.1: a Registration Reply from the agent's registration port (see above).
      if (datagram.length < 20 || ipv4Protocol(datagram, 0) !== IpProtocol.UDP || !own.has(ipv4Source(datagram, 0) | 0)) return false;
      const udp = ipv4HeaderLength(datagram, 0);
      if (udp + UDP_HEADER_LENGTH + 1 > ipv4TotalLength(datagram, 0) || udp + UDP_HEADER_LENGTH >= datagram.length) return false;
      if (readU16(datagram, udp) !== registrationPort || datagram[udp + UDP_HEADER_LENGTH] !== REGISTRATION_REPLY) return false;
      counters.registrationReplyExempt++;
      return true;
    },
    decapsulates(datagram) {
      // R4.2.3-7: tunnels to the agent itself (reverse tunnels, 5.5), which the plane checks.
      return datagram.length >= 20 && isTunnelProtocol(ipv4Protocol(datagram, 0)) && own.has(ipv4Destination(datagram, 0) | 0);
    },
    copies(datagram) {
      if (datagram.length < 20) return false;
      const destination = ipv4Destination(datagram, 0);
      // 4.4: a group some node away from home joined through its tunnel (not the agent's own).
      if (isMulticast(destination)) return membership.anyMember(destination) && !own.has(ipv4Source(datagram, 0) | 0);
      if (broadcastHomes.size === 0) return false;
      if (destination !== LIMITED_BROADCAST && destination !== homeBroadcast) return false;
      // The agent's own broadcasts are not "received on the home network" (4.3).
      return !own.has(ipv4Source(datagram, 0) | 0);
    },
  };
  return { rule, stop: () => changes.unsubscribe() };
}

/**
 * Sends one output batch: tunnel packets together (sendBatch), ICMP errors by routing, and
 * what the plane passed on back to the host. A datagram taken off a link had not been
 * forwarded yet, so one passed on is TTL-decremented here as the host's forwarding would have
 * (RFC 1812 5.3.1). Releases the batch's slabs at the end.
 */
function sendOutputs(
  tap: OpenedPacketTap,
  out: OutputBatch,
  counters: HomeAgentDataPathCounters,
  scratch: SendScratch,
  homeLink: LinkInterface,
): void {
  const { bytes: tunnelBytes, destinations: tunnelDestinations } = scratch;
  const udpSink = scratch.agent.udpTunnelSink;
  try {
    for (const output of out.packets) {
      switch (output.kind) {
        case 'send-ip':
          // RFC 3519: a UDP tunnel packet leaves through the registration socket (its UDP
          // payload, batched) when the agent has one; everything else through the raw socket.
          if (udpSink !== undefined && ipv4Protocol(output.bytes, 0) === IpProtocol.UDP) queueUdpTunnelData(scratch, output.bytes);
          else {
            tunnelBytes.push(output.bytes);
            tunnelDestinations.push(output.destination);
          }
          break;
        case 'icmp':
          if (tap.send(output.bytes, output.destination)) counters.icmpSent++;
          else counters.sendFailed++;
          break;
        case 'forward':
        case 'local': {
          // Passed on unchanged (4.2.3: no binding any more, the node is assumed at home), or a
          // reverse-tunnelled datagram the plane routed already (TTL decremented, R4.2.3-7).
          let bytes = output.bytes;
          if (output.kind === 'forward' && !output.routed && out.inputs[output.index]?.ingress !== undefined) {
            bytes = bytes.slice(0, ipv4TotalLength(bytes, 0));
            if (!decrementIpv4Ttl(bytes, 0)) {
              counters.reinjectTtlExpired++;
              break;
            }
          }
          const routedHere = output.kind === 'forward' && output.routed;
          if (routedHere && isMulticast(ipv4Destination(bytes, 0))) {
            homeLink.send(multicastFrame(homeLink.mac, bytes));
            counters.multicastToHomeLink++;
            break;
          }
          if (routedHere ? (tap.route?.(bytes) ?? tap.reinject(bytes)) : tap.reinject(bytes)) counters.reinjected++;
          else counters.sendFailed++;
          break;
        }
        case 'deliver':
          break; // never produced by the home agent plane
      }
    }
    if (tunnelBytes.length > 0) {
      const count = tunnelBytes.length;
      const sent = tap.sendBatch(tunnelBytes, tunnelDestinations, count);
      counters.tunnelSent += sent;
      counters.sendFailed += count - sent;
    }
    const udpCount = scratch.udpPayloads.length;
    if (udpCount > 0 && udpSink !== undefined) {
      // The socket copies the payloads into its slab: the batch's pool buffers may go after this.
      udpSink(scratch.udpPayloads, scratch.udpAddresses, scratch.udpPorts, udpCount, scratch.udpSource);
      counters.udpTunnelSent += udpCount;
      counters.udpTunnelSendBatches++;
    }
  } finally {
    tunnelBytes.length = 0;
    tunnelDestinations.length = 0;
    scratch.udpPayloads.length = 0;
    scratch.udpAddresses.length = 0;
    scratch.udpPorts.length = 0;
    out.release();
  }
}

/** Arrays reused batch after batch (no allocation per packet beyond the payload views). */
interface SendScratch {
  readonly agent: DataPathAgent;
  readonly bytes: Uint8Array[];
  readonly destinations: Ipv4Address[];
  readonly udpPayloads: Uint8Array[];
  readonly udpAddresses: Ipv4Address[];
  readonly udpPorts: number[];
  /** The outer source of the plane's UDP tunnel packets (the Home Agent address), the sink's `source`. */
  udpSource: Ipv4Address;
}

/**
 * A UDP tunnel packet the plane built (outer IPv4, UDP from the registration port, tunnel data
 * header, datagram) as the socket sends it: its UDP payload to the UDP destination. The socket
 * writes the IP and UDP headers itself (TTL and TOS the socket's; DF per the kernel's path MTU
 * discovery, which sets it by default).
 */
function queueUdpTunnelData(scratch: SendScratch, packet: Uint8Array): void {
  const udp = ipv4HeaderLength(packet, 0);
  scratch.udpPayloads.push(packet.subarray(udp + UDP_HEADER_LENGTH, ipv4TotalLength(packet, 0)));
  scratch.udpAddresses.push(ipv4Destination(packet, 0));
  scratch.udpPorts.push(readU16(packet, udp + 2));
  scratch.udpSource = ipv4Source(packet, 0);
}

/**
 * Opens the PacketTap with the agent's capture rule and runs the plane on its batches until
 * the scope closes (or `detach()`): every home address with a binding is claimed, each batch
 * goes through the plane in the tap's emission (so views into the tap's buffers stay valid),
 * and the outputs leave through the tap.
 */
export function openHomeAgentDataPath(
  agent: DataPathAgent,
  options: HomeAgentDataPathOptions,
): Effect.Effect<HomeAgentDataPath, PacketTapError, PacketTap | Scope.Scope> {
  return Effect.gen(function* () {
    const table = agent.forwardingTable;
    const sent = { tunnelSent: 0, icmpSent: 0, reinjected: 0, reinjectTtlExpired: 0, sendFailed: 0, registrationReplyExempt: 0, multicastToHomeLink: 0, udpTunnelReceived: 0, udpTunnelBatches: 0, udpTunnelSent: 0, udpTunnelSendBatches: 0 };
    let tap: OpenedPacketTap | undefined;
    const counters: HomeAgentDataPathCounters = Object.defineProperties(sent, {
      captured: { enumerable: true, get: () => tap?.counters.captured ?? 0 },
      shed: { enumerable: true, get: () => tap?.counters.shed ?? 0 },
      batches: { enumerable: true, get: () => tap?.counters.batches ?? 0 },
    }) as HomeAgentDataPathCounters;
    const membership = new GroupMembership();
    const capture = captureRule(table, options, counters, membership);
    yield* Effect.addFinalizer(() => Effect.sync(() => capture.stop()));
    tap = yield* (yield* PacketTap).open({
      rule: capture.rule,
      homeInterface: options.homeInterface,
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      ...(options.queueLimit !== undefined ? { queueLimit: options.queueLimit } : {}),
    });
    const opened = tap;
    const path = runHomeAgentDataPath(agent, opened, options, counters, membership);
    yield* Effect.addFinalizer(() => Effect.sync(() => path.detach()));
    return path;
  });
}

/** The running path over an opened tap (see openHomeAgentDataPath). */
function runHomeAgentDataPath(
  agent: DataPathAgent,
  tap: OpenedPacketTap,
  options: HomeAgentDataPathOptions,
  counters: HomeAgentDataPathCounters,
  membership: GroupMembership,
): HomeAgentDataPath {
  const table = agent.forwardingTable;
  const plane = homeAgentDataPlane({
    table,
    localAddresses: options.addresses,
    ...(options.homeAgentAddress !== undefined ? { homeAgentAddress: options.homeAgentAddress } : {}),
    homeNetwork: options.homeNetwork,
    prefixLength: options.prefixLength,
    homeInterface: options.homeInterface,
    ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
    ...(options.greChecksum !== undefined ? { greChecksum: options.greChecksum } : {}),
    membership: { table: membership, now: () => options.clock.now() },
    ...(options.registrationPort !== undefined ? { registrationPort: options.registrationPort } : {}),
    ...(options.udpTunnelMtu !== undefined ? { udpTunnelMtu: options.udpTunnelMtu } : {}),
    ...(agent.followUdpTunnel !== undefined ? { followUdpTunnel: agent.followUdpTunnel.bind(agent) } : {}),
    ...(agent.followUdpFlow !== undefined ? { followUdpFlow: agent.followUdpFlow.bind(agent) } : {}),
  });
  const scratch: SendScratch = { agent, bytes: [], destinations: [], udpPayloads: [], udpAddresses: [], udpPorts: [], udpSource: 0 };
  // R4.4-10: a node's multicast datagram leaves onto the home link as a multicast frame.
  const multicastLink = tap.openHomeLink();
  const pipeline: Subscription = tap.batches.pipe(plane).subscribe((out) => sendOutputs(tap, out, counters, scratch, multicastLink));
  // 4.4: the agent queries its members through their tunnels every Query Interval (RFC 2236
  // 8.2); with no membership the query batch is empty and nothing is sent.
  let queryAlarm: Alarm | undefined;
  const query = (): void => {
    membership.sweep(options.clock.now());
    sendOutputs(tap, plane.queries(), counters, scratch, multicastLink);
    queryAlarm = options.clock.setAlarm(options.clock.now() + IGMP_QUERY_INTERVAL_MS, query);
  };
  queryAlarm = options.clock.setAlarm(options.clock.now() + IGMP_QUERY_INTERVAL_MS, query);

  // One claim per home address with at least one binding (4.2.3); a renewal re-claims, which
  // the layers answer from their own set.
  for (const entry of table) tap.claim(entry.homeAddress);
  const claims: Subscription = table.changes.subscribe((change: ForwardingChange) => {
    if (change.kind === 'delete') tap.unclaim(change.homeAddress);
    else tap.claim(change.entry.homeAddress);
  });

  // The executor, not a host's proxy-ARP table: it also sends the gratuitous ARPs that correct
  // neighbours' caches (4.6) and is what runs on Linux; the host answers for its own addresses.
  const homeLink = attachHomeLink(agent, tap.openHomeLink(), {
    ...options.homeLink,
    clock: options.clock,
    addresses: options.addresses,
    answerOwnAddresses: false,
  });

  // RFC 3519: tunnel data from the registration sockets, gathered per socket wakeup (the
  // datagrams of one receive arrive before the microtask runs) and put through the plane as
  // one batch.
  const udpPending: UdpTunnelMessage[] = [];
  let udpFlushQueued = false;
  const flushUdp = (): void => {
    udpFlushQueued = false;
    if (udpPending.length === 0) return;
    counters.udpTunnelBatches++;
    try {
      sendOutputs(tap, plane.udpTunnelData(udpPending), counters, scratch, multicastLink);
    } finally {
      udpPending.length = 0;
    }
  };
  const maxBatch = options.maxBatch ?? 64;
  const perDatagram = options.udpTunnelBatching === 'datagram';
  agent.udpTunnelData = (message: UdpTunnelMessage): void => {
    counters.udpTunnelReceived++;
    udpPending.push(message);
    if (udpPending.length >= maxBatch || perDatagram) flushUdp();
    else if (!udpFlushQueued) {
      udpFlushQueued = true;
      queueMicrotask(flushUdp);
    }
  };

  let detached = false;
  return {
    counters,
    planeCounters: plane.counters,
    plane,
    tap,
    homeLink,
    queued: () => tap.queued(),
    flush: () => tap.flush(),
    detach(): void {
      if (detached) return;
      detached = true;
      claims.unsubscribe();
      queryAlarm?.cancel();
      agent.udpTunnelData = undefined;
      udpPending.length = 0;
      for (const entry of table) tap.unclaim(entry.homeAddress);
      pipeline.unsubscribe();
      homeLink.detach();
    },
  };
}

/**
 * The path on a tap layer whose `open` is synchronous (the simulated one), in a scope of its
 * own that `detach()` closes (releasing the tap too).
 */
export function attachHomeAgentDataPath(
  agent: DataPathAgent,
  tapLayer: Layer.Layer<PacketTap>,
  options: HomeAgentDataPathOptions,
): HomeAgentDataPath {
  const scope = Effect.runSync(Scope.make());
  const path = Effect.runSync(openHomeAgentDataPath(agent, { udpTunnelBatching: 'datagram', ...options }).pipe(Scope.extend(scope), Effect.provide(tapLayer)));
  return {
    ...path,
    detach(): void {
      Effect.runSync(Scope.close(scope, Exit.void));
    },
  };
}
