/**
 * The simulated IP network: Ethernet segments, hosts and routers with
 * ARP, routing and forwarding (io/sim/ip-host.ts), a pcap tap, and the same Effect services
 * as the real world — `udpLayer(host)` gives the Udp service over a host's IP stack,
 * `linkLayer(host)` the Link service over its interfaces — so agents do not know which
 * world they run in.
 *
 * Determinism: everything runs from the one SimulatedClock; each segment's loss is drawn
 * from its own generator, seeded from the network seed and the segment's creation index. The
 * same seed, the same topology built in the same order and the same inputs give the same
 * run, byte for byte (captures included).
 *
 * Captures: one classic pcap per segment (link type Ethernet), because a pcap file has one
 * link type and a frame on two segments would otherwise be indistinguishable; timestamps
 * are the simulated time the frame was put on the wire.
 */
import { Effect, Layer } from 'effect';
import type { Clock } from '../clock.js';
import { Link, LinkError } from '../link.js';
import { Udp, UdpError, type UdpDatagram, type UdpSocket } from '../udp.js';
import { ipv4ToString, readU16, type Ipv4Address } from '../wire/bytes.js';
import { IpProtocol, ipv4Destination, ipv4Source } from '../wire/ipv4.js';
import { encodePcap, LinkType } from '../wire/pcap.js';
import { encodeUdpDatagram, UDP_HEADER_LENGTH, verifyUdpChecksum } from '../wire/udp.js';
import { SimEthernetSegment } from './ethernet.js';
import { isMulticast, LIMITED_BROADCAST } from '../wire/ipv4-address.js';
import { SimHost, type DestinationKind, type IpArrival, type SimHostCounters, type SimHostOptions } from './ip-host.js';

export interface SimNetworkOptions {
  readonly clock: Clock;
  /** Seeds every segment's loss generator (default 1). */
  readonly seed?: number;
}

export interface SimSegmentOptions {
  /** One-way delay in ms (default 0: delivered at the next clock step, never inside a send). */
  readonly latencyMs?: number;
  /** Probability a frame is lost (default 0). */
  readonly loss?: number;
}

export interface CapturedFrame {
  /** Simulated time, ms since the epoch. */
  readonly time: number;
  /** The frame as put on the wire (padded to 60 bytes). */
  readonly frame: Uint8Array;
}

/** A pcap tap on every segment of the network (present and future) until `stop()`. */
export interface SimCapture {
  /** Names of the segments captured, in creation order. */
  segments(): string[];
  frames(segment: string): readonly CapturedFrame[];
  /** A pcap file (Ethernet link type, microsecond timestamps) of one segment's frames. */
  pcap(segment: string): Uint8Array;
  stop(): void;
}

/** One number per counter, for comparing runs. */
export interface SimNetworkCounters {
  readonly segments: Record<string, SimEthernetSegment['counters']>;
  readonly hosts: Record<string, SimHostCounters>;
}

const EPHEMERAL_FIRST = 49152;

/** Mixes a seed with an index so segments get independent generators (splitmix32 finaliser). */
function deriveSeed(seed: number, index: number): number {
  let z = (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

interface CaptureState {
  readonly frames: Map<string, CapturedFrame[]>;
  active: boolean;
}

export class SimNetwork {
  readonly clock: Clock;
  readonly seed: number;
  private readonly segmentMap = new Map<string, SimEthernetSegment>();
  private readonly hostMap = new Map<string, SimHost>();
  private readonly captures: CaptureState[] = [];

  constructor(options: SimNetworkOptions) {
    this.clock = options.clock;
    this.seed = options.seed ?? 1;
  }

  addSegment(name: string, options: SimSegmentOptions = {}): SimEthernetSegment {
    if (this.segmentMap.has(name)) throw new Error(`the network already has a segment "${name}"`);
    const segment = new SimEthernetSegment({
      clock: this.clock,
      name,
      latencyMs: options.latencyMs ?? 0,
      loss: options.loss ?? 0,
      seed: deriveSeed(this.seed, this.segmentMap.size),
      tap: (time, frame) => this.tap(name, time, frame),
    });
    this.segmentMap.set(name, segment);
    return segment;
  }

  segment(name: string): SimEthernetSegment {
    const segment = this.segmentMap.get(name);
    if (segment === undefined) throw new Error(`no segment "${name}" (the network has ${[...this.segmentMap.keys()].join(', ') || 'none'})`);
    return segment;
  }

  get segments(): readonly SimEthernetSegment[] {
    return [...this.segmentMap.values()];
  }

  addHost(name: string, options: SimHostOptions = {}): SimHost {
    if (this.hostMap.has(name)) throw new Error(`the network already has a host "${name}"`);
    const host = new SimHost(name, this.clock, this.hostMap.size + 1, options);
    this.hostMap.set(name, host);
    return host;
  }

  host(name: string): SimHost {
    const host = this.hostMap.get(name);
    if (host === undefined) throw new Error(`no host "${name}" (the network has ${[...this.hostMap.keys()].join(', ') || 'none'})`);
    return host;
  }

  get hosts(): readonly SimHost[] {
    return [...this.hostMap.values()];
  }

  /** Every segment's and host's counters, copied. */
  counters(): SimNetworkCounters {
    const segments: Record<string, SimEthernetSegment['counters']> = {};
    for (const [name, segment] of this.segmentMap) segments[name] = { ...segment.counters };
    const hosts: Record<string, SimHostCounters> = {};
    for (const [name, host] of this.hostMap) hosts[name] = { ...host.counters };
    return { segments, hosts };
  }

  capture(): SimCapture {
    const state: CaptureState = { frames: new Map(), active: true };
    this.captures.push(state);
    const framesOf = (segment: string) => state.frames.get(segment) ?? [];
    return {
      segments: () => [...this.segmentMap.keys()],
      frames: framesOf,
      pcap: (segment) => {
        this.segment(segment);
        return encodePcap(
          LinkType.Ethernet,
          framesOf(segment).map((f) => ({ timestampUs: Math.round(f.time * 1000), data: f.frame })),
        );
      },
      stop: () => {
        state.active = false;
        const index = this.captures.indexOf(state);
        if (index >= 0) this.captures.splice(index, 1);
      },
    };
  }

  private tap(segment: string, time: number, frame: Uint8Array): void {
    for (const capture of this.captures) {
      let list = capture.frames.get(segment);
      if (list === undefined) {
        list = [];
        capture.frames.set(segment, list);
      }
      list.push({ time, frame });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Effect layers

  /** The Udp service over `host`'s IP stack. */
  udpLayer(host: SimHost): Layer.Layer<Udp> {
    return Layer.succeed(Udp, { bind: simUdpStack(host).bind });
  }

  /** The Link service over `host`'s interfaces: `open(name)` gives host.linkInterface(name) for the scope. */
  linkLayer(host: SimHost): Layer.Layer<Link> {
    const inUse = new Set<string>();
    return Layer.succeed(Link, {
      open: (name) =>
        Effect.acquireRelease(
          Effect.suspend(() => {
            if (!host.interfaces.some((i) => i.name === name)) {
              const known = host.interfaces.map((i) => `"${i.name}"`).join(', ') || 'none';
              return Effect.fail(
                new LinkError({ reason: 'no-such-interface', interfaceName: name, message: `host ${host.name} has no interface "${name}"; it has ${known}` }),
              );
            }
            if (inUse.has(name)) {
              return Effect.fail(
                new LinkError({ reason: 'in-use', interfaceName: name, message: `interface "${name}" of ${host.name} is already open; close the scope that opened it first` }),
              );
            }
            inUse.add(name);
            return Effect.succeed({ name, view: host.linkInterface(name) });
          }),
          ({ name, view }) =>
            Effect.sync(() => {
              view.close();
              inUse.delete(name);
            }),
        ).pipe(Effect.map(({ view }) => view)),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// UDP over a SimHost

interface BoundSocket {
  readonly address: Ipv4Address;
  readonly port: number;
  readonly broadcast: boolean;
  handler: ((datagram: UdpDatagram) => void) | undefined;
  errorHandler: ((error: UdpError) => void) | undefined;
}

const stacks = new WeakMap<SimHost, { bind: Udp['Type']['bind'] }>();

/**
 * One UDP stack per host (several layers built for the same host share its sockets).
 *
 * Binding: a host address, 0.0.0.0, a subnet-directed broadcast of one of its interfaces,
 * 255.255.255.255 or a multicast group. A datagram goes to the socket bound to exactly its
 * destination address and port, else to the one bound to 0.0.0.0 and that port; it carries
 * `localAddress` = the destination it was sent to (how a home agent tells a request sent to
 * the subnet broadcast address, RFC 5944 3.8.2.1, from a unicast one).
 *
 * Sending: the source address is the bound one when it is a unicast address of the host,
 * else the `source` asked for when it is one of the host's addresses (as IP_PKTINFO on the
 * native layer: a node behind a NAT sends its RFC 3519 tunnel from its care-of address), else
 * the address of the interface the route leaves by; sending to a broadcast address
 * needs `broadcast: true` at bind (as SO_BROADCAST does). The UDP checksum is always computed,
 * and verified on reception (a bad one is dropped and counted; 0 means none, RFC 768).
 */
function simUdpStack(host: SimHost): { bind: Udp['Type']['bind'] } {
  const existing = stacks.get(host);
  if (existing !== undefined) return existing;
  const sockets = new Map<string, BoundSocket>();
  let nextEphemeral = EPHEMERAL_FIRST;
  const key = (address: Ipv4Address, port: number) => `${address >>> 0}:${port}`;

  host.setUdpInput((datagram: Uint8Array, headerLength: number, _kind: DestinationKind, _arrival: IpArrival) => {
    const source = ipv4Source(datagram, 0);
    const destination = ipv4Destination(datagram, 0);
    const udpLength = datagram.length - headerLength;
    if (udpLength < UDP_HEADER_LENGTH || readU16(datagram, headerLength + 4) < UDP_HEADER_LENGTH || readU16(datagram, headerLength + 4) > udpLength) {
      host.countUdp('malformed');
      return true;
    }
    const length = readU16(datagram, headerLength + 4);
    if (!verifyUdpChecksum(source, destination, datagram, headerLength, length)) {
      host.countUdp('bad-checksum');
      return true; // dropped: no port unreachable for a corrupted datagram
    }
    const destinationPort = readU16(datagram, headerLength + 2);
    const socket = sockets.get(key(destination, destinationPort)) ?? sockets.get(key(0, destinationPort));
    if (socket === undefined) return false;
    host.countUdp('delivered');
    socket.handler?.({
      data: datagram.slice(headerLength + UDP_HEADER_LENGTH, headerLength + length),
      address: source,
      port: readU16(datagram, headerLength),
      localAddress: destination,
      localPort: destinationPort,
    });
    return true;
  });

  const canBind = (address: Ipv4Address): boolean =>
    address === 0 ||
    address === LIMITED_BROADCAST ||
    isMulticast(address) ||
    host.interfaces.some((i) => i.hasAddress(address) || i.isDirectedBroadcast(address));

  const send = (socket: BoundSocket, data: Uint8Array, address: Ipv4Address, port: number, asked?: Ipv4Address): void => {
    const fail = (message: string) =>
      socket.errorHandler?.(new UdpError({ reason: 'send', endpoint: `${ipv4ToString(address)}:${port}`, message }));
    address >>>= 0;
    const toBroadcast = address === LIMITED_BROADCAST || host.interfaces.some((i) => i.isDirectedBroadcast(address));
    if (toBroadcast && !socket.broadcast) {
      fail(`sending to the broadcast address ${ipv4ToString(address)} needs a socket bound with broadcast: true`);
      return;
    }
    const source = host.isOwnAddress(socket.address)
      ? socket.address
      : asked !== undefined && asked !== 0 && host.isOwnAddress(asked)
        ? asked >>> 0
        : host.sourceAddressFor(address);
    if (source === 0 && !toBroadcast) {
      fail(`no route from ${host.name} to ${ipv4ToString(address)}; add a route or an address`);
      return;
    }
    const payload = new Uint8Array(UDP_HEADER_LENGTH + data.length);
    encodeUdpDatagram({ sourcePort: socket.port, destinationPort: port, source, destination: address, payload: data }, payload, 0);
    const result = host.sendPacket({ protocol: IpProtocol.UDP, source, destination: address, payload });
    if (result === 'no-route' || result === 'malformed' || result === 'too-big' || result === 'no-such-interface') {
      fail(`${host.name} could not send to ${ipv4ToString(address)}:${port} (${result})`);
    }
  };

  const stack = {
    bind: ((options) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const address = options.address >>> 0;
          let port = options.port;
          if (port === 0) {
            while (sockets.has(key(address, nextEphemeral))) nextEphemeral++;
            port = nextEphemeral++;
          }
          const endpoint = `${ipv4ToString(address)}:${port}`;
          if (!canBind(address)) {
            return Effect.fail(
              new UdpError({
                reason: 'address-not-available',
                endpoint,
                message: `host ${host.name} has no address ${ipv4ToString(address)}; bind one of ${host.addresses.map(ipv4ToString).join(', ') || '(none)'} or 0.0.0.0`,
              }),
            );
          }
          if (sockets.has(key(address, port))) {
            return Effect.fail(new UdpError({ reason: 'address-in-use', endpoint, message: `UDP ${endpoint} is already bound on ${host.name}; close the other socket first` }));
          }
          const socket: BoundSocket = { address, port, broadcast: options.broadcast ?? false, handler: undefined, errorHandler: undefined };
          sockets.set(key(address, port), socket);
          let open = true;
          const api: UdpSocket = {
            localAddress: address,
            localPort: port,
            send: (data, to, toPort, from) => {
              if (open) send(socket, data, to, toPort, from);
              else socket.errorHandler?.(new UdpError({ reason: 'closed', endpoint, message: `UDP ${endpoint} was used after its scope closed` }));
            },
            onMessage: (handler) => {
              socket.handler = handler;
            },
            onError: (handler) => {
              socket.errorHandler = handler;
            },
          };
          return Effect.succeed({
            api,
            release: () => {
              open = false;
              socket.handler = undefined;
              if (sockets.get(key(address, port)) === socket) sockets.delete(key(address, port));
            },
          });
        }),
        ({ release }) => Effect.sync(release),
      ).pipe(Effect.map(({ api }) => api))) as Udp['Type']['bind'],
  };
  stacks.set(host, stack);
  return stack;
}
