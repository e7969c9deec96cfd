/**
 * A network address and port translator for a simulated router (`addHost(name, { forwarding:
 * true, nat: { inside, outside, udpTimeoutMs } })`): what RFC 3519 traverses. It behaves like a
 * home router or a carrier-grade NAT following the BEHAVE requirements:
 *
 * - UDP, TCP and ICMP echo leaving an inside interface by the outside interface get the outside
 *   interface's address as source, and an external port (ICMP: echo identifier) from the port
 *   range. The mapping is endpoint-independent: one per (protocol, inside address, inside port),
 *   whatever the destination (RFC 4787 REQ-1, RFC 5382 REQ-1, RFC 5508 REQ-1).
 * - Inbound datagrams to the outside address are translated back only when a live mapping exists
 *   and the sender is an endpoint the mapping has sent to (address- and port-dependent filtering,
 *   as Linux masquerading does; RFC 4787 4.3 allows it). Anything else arriving on the outside,
 *   including unsolicited datagrams for inside addresses and every IP-in-IP, GRE or minimal
 *   encapsulation packet, is dropped silently and counted: a NAT forwards UDP, not protocol 4.
 * - A mapping lives `udpTimeoutMs` (UDP), `tcpTimeoutMs` (TCP) or `icmpTimeoutMs` (echo) after
 *   the last datagram sent out through it. Only outbound traffic refreshes it (RFC 4787 REQ-6
 *   requires outbound refresh; inbound refresh is a MAY, left out here), so a flow whose inside
 *   end stays silent loses its mapping: that is what keepalives (RFC 3519 3.5) are for.
 * - `restart()` forgets every mapping, as a rebooted NAT does; ports allocated afterwards are new
 *   ones (the allocator does not rewind), so a node behind it reappears from another port.
 *
 * All time is the simulated clock's; no randomness, so a scenario replays identically.
 * Not modelled: hairpinning, ICMP errors about translated flows, fragments (the host drops them).
 */
import { readU16, writeU16, type Ipv4Address } from '../wire/bytes.js';
import type { Clock } from '../clock.js';
import { IcmpType } from '../wire/icmp.js';
import {
  incrementalChecksumUpdate,
  ipv4Destination,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Source,
  IpProtocol,
  setIpv4Destination,
  setIpv4Source,
} from '../wire/ipv4.js';

export interface SimNatOptions {
  /** Interfaces whose hosts are translated. */
  readonly inside: readonly string[];
  /** The interface whose address inside hosts appear from. */
  readonly outside: string;
  /** How long a UDP mapping lives after its last outbound datagram, ms. */
  readonly udpTimeoutMs: number;
  /** External ports (and echo identifiers) handed out, inclusive. Default [20000, 29999]. */
  readonly portRange?: readonly [number, number];
  /** TCP mapping lifetime after the last outbound segment, ms (default 2 h 4 min, RFC 5382 REQ-5). */
  readonly tcpTimeoutMs?: number;
  /** ICMP echo mapping lifetime, ms (default 60 s, RFC 5508 REQ-1). */
  readonly icmpTimeoutMs?: number;
}

export interface SimNatCounters {
  /** Mappings created (a restart and a timeout both lead to new ones). */
  mappingsCreated: number;
  /** Mappings that timed out. */
  mappingsExpired: number;
  /** Mappings forgotten by restart(). */
  mappingsForgotten: number;
  /** Datagrams translated on their way out. */
  translatedOut: number;
  /** Datagrams translated on their way in. */
  translatedIn: number;
  /** Datagrams arriving on the outside that no live mapping (or no contacted endpoint) takes: dropped. */
  droppedInboundUnmatched: number;
  /** Datagrams leaving by the outside that cannot be translated (not UDP, TCP or ICMP echo): dropped. */
  droppedOutboundUntranslatable: number;
  /** Datagrams leaving when every port of the range is in use: dropped. */
  droppedPortsExhausted: number;
  restarts: number;
}

/** One live mapping, as `mappings()` shows it. */
export interface SimNatMapping {
  readonly protocol: number;
  readonly insideAddress: Ipv4Address;
  readonly insidePort: number;
  readonly externalAddress: Ipv4Address;
  readonly externalPort: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

interface Mapping {
  readonly protocol: number;
  readonly insideAddress: Ipv4Address;
  readonly insidePort: number;
  readonly externalPort: number;
  readonly createdAt: number;
  lastOutboundAt: number;
  /** Endpoints this mapping has sent to: "address:port" (ICMP: "address"). */
  readonly remotes: Set<string>;
}

/** What the host does with a datagram after the NAT looked at it. */
export type NatVerdict = 'translated' | 'dropped' | 'not-translated';

const DEFAULT_PORT_RANGE: readonly [number, number] = [20000, 29999];
const DEFAULT_TCP_TIMEOUT_MS = 7_440_000;
const DEFAULT_ICMP_TIMEOUT_MS = 60_000;

export class SimNat {
  readonly counters: SimNatCounters = {
    mappingsCreated: 0,
    mappingsExpired: 0,
    mappingsForgotten: 0,
    translatedOut: 0,
    translatedIn: 0,
    droppedInboundUnmatched: 0,
    droppedOutboundUntranslatable: 0,
    droppedPortsExhausted: 0,
    restarts: 0,
  };
  private readonly byInside = new Map<string, Mapping>();
  /** protocol * 65536 + external port → mapping. */
  private readonly byExternal = new Map<number, Mapping>();
  private readonly portRange: readonly [number, number];
  private nextPort: number;

  constructor(
    readonly options: SimNatOptions,
    private readonly clock: Clock,
    /** The outside interface's address at the time of translation (it may change). */
    private readonly outsideAddress: () => Ipv4Address | undefined,
  ) {
    const range = options.portRange ?? DEFAULT_PORT_RANGE;
    if (!(Number.isInteger(range[0]) && Number.isInteger(range[1]) && range[0] >= 1 && range[0] <= range[1] && range[1] <= 0xffff)) {
      throw new Error(`nat.portRange [${range[0]}, ${range[1]}] must be two ports 1..65535, low first`);
    }
    if (!(options.udpTimeoutMs > 0)) throw new Error(`nat.udpTimeoutMs ${options.udpTimeoutMs} must be a positive number of milliseconds`);
    if (options.inside.includes(options.outside)) throw new Error(`nat: interface "${options.outside}" cannot be both inside and outside`);
    this.portRange = range;
    this.nextPort = range[0];
  }

  isInside(interfaceName: string | undefined): boolean {
    return interfaceName !== undefined && this.options.inside.includes(interfaceName);
  }

  /** Forgets every mapping (a rebooted NAT); later mappings get ports not used before the restart. */
  restart(): void {
    this.counters.restarts++;
    this.counters.mappingsForgotten += this.byInside.size;
    this.byInside.clear();
    this.byExternal.clear();
  }

  /** The live mappings, oldest first. */
  mappings(): SimNatMapping[] {
    this.expire();
    const external = this.outsideAddress() ?? 0;
    return [...this.byInside.values()].map((m) => ({
      protocol: m.protocol,
      insideAddress: m.insideAddress,
      insidePort: m.insidePort,
      externalAddress: external,
      externalPort: m.externalPort,
      createdAt: m.createdAt,
      expiresAt: m.lastOutboundAt + this.timeoutOf(m.protocol),
    }));
  }

  /**
   * A datagram (a copy the host owns, TTL already decremented) leaving by the outside interface
   * after arriving on an inside one: its source becomes the outside address and an external port.
   */
  outbound(datagram: Uint8Array): NatVerdict {
    this.expire();
    const outside = this.outsideAddress();
    const ports = transportPorts(datagram);
    if (outside === undefined || ports === undefined) {
      this.counters.droppedOutboundUntranslatable++;
      return 'dropped';
    }
    const protocol = ipv4Protocol(datagram, 0);
    const source = ipv4Source(datagram, 0);
    const key = `${protocol}:${source >>> 0}:${ports.source}`;
    let mapping = this.byInside.get(key);
    const now = this.clock.now();
    if (mapping === undefined) {
      const externalPort = this.allocatePort(protocol);
      if (externalPort === undefined) {
        this.counters.droppedPortsExhausted++;
        return 'dropped';
      }
      mapping = { protocol, insideAddress: source >>> 0, insidePort: ports.source, externalPort, createdAt: now, lastOutboundAt: now, remotes: new Set() };
      this.byInside.set(key, mapping);
      this.byExternal.set(protocol * 65536 + externalPort, mapping);
      this.counters.mappingsCreated++;
    }
    mapping.lastOutboundAt = now;
    mapping.remotes.add(remoteKey(protocol, ipv4Destination(datagram, 0), ports.destination));
    rewritePort(datagram, ports, 'source', mapping.externalPort);
    rewriteAddressWithTransport(datagram, 'source', outside);
    this.counters.translatedOut++;
    return 'translated';
  }

  /**
   * A datagram arriving on the outside interface. To the outside address: translated back when
   * a mapping takes it, else dropped ('not-translated' leaves ICMP echo requests and other
   * traffic for the NAT host itself). For any other (inside) address: dropped, unsolicited.
   */
  inbound(datagram: Uint8Array, forThisHost: boolean): NatVerdict {
    this.expire();
    const protocol = ipv4Protocol(datagram, 0);
    if (!forThisHost) {
      this.counters.droppedInboundUnmatched++;
      return 'dropped';
    }
    const ports = transportPorts(datagram);
    if (ports === undefined) return 'not-translated';
    // An echo request to the NAT's own address is the host's to answer.
    if (protocol === IpProtocol.ICMP && datagram[ipv4HeaderLength(datagram, 0)] === IcmpType.Echo) return 'not-translated';
    const mapping = this.byExternal.get(protocol * 65536 + ports.destination);
    if (mapping === undefined || !mapping.remotes.has(remoteKey(protocol, ipv4Source(datagram, 0), ports.source))) {
      this.counters.droppedInboundUnmatched++;
      return 'dropped';
    }
    rewritePort(datagram, ports, 'destination', mapping.insidePort);
    rewriteAddressWithTransport(datagram, 'destination', mapping.insideAddress);
    this.counters.translatedIn++;
    return 'translated';
  }

  private timeoutOf(protocol: number): number {
    if (protocol === IpProtocol.UDP) return this.options.udpTimeoutMs;
    if (protocol === IpProtocol.TCP) return this.options.tcpTimeoutMs ?? DEFAULT_TCP_TIMEOUT_MS;
    return this.options.icmpTimeoutMs ?? DEFAULT_ICMP_TIMEOUT_MS;
  }

  /** Drops the mappings whose time is up (a mapping is dead from the instant its timeout ends). */
  private expire(): void {
    const now = this.clock.now();
    for (const [key, mapping] of this.byInside) {
      if (mapping.lastOutboundAt + this.timeoutOf(mapping.protocol) > now) continue;
      this.byInside.delete(key);
      this.byExternal.delete(mapping.protocol * 65536 + mapping.externalPort);
      this.counters.mappingsExpired++;
    }
  }

  private allocatePort(protocol: number): number | undefined {
    const [low, high] = this.portRange;
    const size = high - low + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = this.nextPort;
      this.nextPort = port === high ? low : port + 1;
      if (!this.byExternal.has(protocol * 65536 + port)) return port;
    }
    return undefined;
  }
}

interface TransportPorts {
  readonly source: number;
  readonly destination: number;
  /** Offset of the source port (echo: the identifier) in the datagram. */
  readonly at: number;
  /** Offset of the transport checksum, or -1 for a UDP datagram without one. */
  readonly checksumAt: number;
  /** Whether the transport checksum covers the IP addresses (UDP, TCP pseudo-header). */
  readonly pseudoHeader: boolean;
  readonly echo: boolean;
}

const UDP_CHECKSUM_OFFSET = 6;
const TCP_CHECKSUM_OFFSET = 16;
const TCP_MIN_HEADER = 20;

/** The ports a NAT translates by, or undefined for what it cannot translate. */
function transportPorts(datagram: Uint8Array): TransportPorts | undefined {
  const header = ipv4HeaderLength(datagram, 0);
  const protocol = ipv4Protocol(datagram, 0);
  const length = datagram.length - header;
  if (protocol === IpProtocol.UDP && length >= 8) {
    const checksum = readU16(datagram, header + UDP_CHECKSUM_OFFSET);
    return {
      source: readU16(datagram, header),
      destination: readU16(datagram, header + 2),
      at: header,
      checksumAt: checksum === 0 ? -1 : header + UDP_CHECKSUM_OFFSET,
      pseudoHeader: true,
      echo: false,
    };
  }
  if (protocol === IpProtocol.TCP && length >= TCP_MIN_HEADER) {
    return { source: readU16(datagram, header), destination: readU16(datagram, header + 2), at: header, checksumAt: header + TCP_CHECKSUM_OFFSET, pseudoHeader: true, echo: false };
  }
  if (protocol === IpProtocol.ICMP && length >= 8) {
    const type = datagram[header];
    if (type !== IcmpType.Echo && type !== IcmpType.EchoReply) return undefined;
    // RFC 5508 3.1: the echo identifier plays the part of both ports.
    const identifier = readU16(datagram, header + 4);
    return { source: identifier, destination: identifier, at: header + 4, checksumAt: header + 2, pseudoHeader: false, echo: true };
  }
  return undefined;
}

function remoteKey(protocol: number, address: Ipv4Address, port: number): string {
  return protocol === IpProtocol.ICMP ? `${address >>> 0}` : `${address >>> 0}:${port}`;
}

/** Rewrites the source or destination port (echo: the identifier) with an incremental checksum update (RFC 1624). */
function rewritePort(datagram: Uint8Array, ports: TransportPorts, which: 'source' | 'destination', port: number): void {
  const at = ports.echo || which === 'source' ? ports.at : ports.at + 2;
  const old = readU16(datagram, at);
  writeU16(datagram, at, port);
  if (ports.checksumAt < 0) return;
  let checksum = incrementalChecksumUpdate(readU16(datagram, ports.checksumAt), old, port);
  // A UDP checksum that comes out as 0 is sent as all ones (RFC 768).
  if (checksum === 0 && ipv4Protocol(datagram, 0) === IpProtocol.UDP) checksum = 0xffff;
  writeU16(datagram, ports.checksumAt, checksum);
}

/** Rewrites an address in the IP header and, for UDP and TCP, in the transport checksum's pseudo-header. */
function rewriteAddressWithTransport(datagram: Uint8Array, which: 'source' | 'destination', address: Ipv4Address): void {
  const ports = transportPorts(datagram);
  const at = which === 'source' ? 12 : 16;
  const oldHigh = readU16(datagram, at);
  const oldLow = readU16(datagram, at + 2);
  if (which === 'source') setIpv4Source(datagram, 0, address);
  else setIpv4Destination(datagram, 0, address);
  if (ports === undefined || !ports.pseudoHeader || ports.checksumAt < 0) return;
  let checksum = readU16(datagram, ports.checksumAt);
  checksum = incrementalChecksumUpdate(checksum, oldHigh, readU16(datagram, at));
  checksum = incrementalChecksumUpdate(checksum, oldLow, readU16(datagram, at + 2));
  // A UDP checksum that comes out as 0 is sent as all ones (RFC 768).
  if (checksum === 0 && ipv4Protocol(datagram, 0) === IpProtocol.UDP) checksum = 0xffff;
  writeU16(datagram, ports.checksumAt, checksum);
}
