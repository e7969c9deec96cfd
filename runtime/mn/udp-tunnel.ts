/**
 * The mobile node's UDP tunnel while a co-located registration has it (RFC 3519 4.4; docs/
 * protocol.md, "The mobile node behind a NAT"): the node's own datagrams out as tunnel data
 * messages, the home agent's in, and the keepalives that hold the NAT's mapping open, all on the
 * registration's UDP socket, so the NAT sees one flow (the 5-tuple of the Requests, 4.1).
 *
 * Keepalives (4.9): one whenever nothing went out on the flow (a Request, tunnel data, a
 * keepalive) for the interval the home agent granted. The home agent takes the NAT's current
 * address and port from it, so a NAT that rebinds (a restart, a new external port) is followed
 * at the next keepalive at the latest (4.10). They stop when the tunnel ends (a move, a new
 * registration, a Reply without UDP tunnelling, the node stopping).
 */
import type { Alarm, Clock } from '../../io/clock.js';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import type { UdpSocket } from '../../io/udp.js';
import {
  isKeepaliveReply,
  MnUdpTunnelPlane,
  UDP_KEEPALIVE_MESSAGE_LENGTH,
  writeUdpKeepalive,
  type MobileNodeUdpTunnel,
} from '../dataplane/mn-plane.js';

/** RFC 5944 3.1 / RFC 3519 4.1: the home agent's end of the flow. */
export const HOME_AGENT_PORT = 434;

/** Registration-level counts of RFC 3519 at the node (the data counts are the plane's). */
export interface MnUdpTunnelCounters {
  /** Requests that carried the UDP Tunnel Request extension. */
  requested: number;
  /** Accepted registrations with UDP tunnelling granted (code 0), and without it (64, other, absent). */
  granted: number;
  declined: number;
  /** 142 answered by a Request without the extension, and 142s that stood. */
  retries: number;
  refusals: number;
  keepalivesSent: number;
  /** Echo Replies of the home agent to keepalives (kept from the host's stack). */
  keepaliveReplies: number;
  /** Tunnel data that arrived while the node had no UDP tunnel (counted, dropped). */
  withoutTunnel: number;
  /** Sends the registration socket reported failed (a full queue, no route): counted, not logged per datagram. */
  sendErrors: number;
}

export type MnUdpTunnelEvent =
  | {
      readonly event: 'udp-tunnel';
      readonly at: number;
      readonly active: true;
      readonly homeAgent: string;
      readonly careOfAddress: string;
      readonly port: number;
      readonly keepaliveInterval: number;
      readonly forced: boolean;
    }
  | { readonly event: 'udp-tunnel'; readonly at: number; readonly active: false; readonly reason: string }
  | { readonly event: 'udp-keepalive'; readonly at: number; readonly sequence: number; readonly idleMs: number };

export interface MnUdpTunnelState {
  readonly homeAgent: string;
  readonly careOfAddress: string;
  readonly localPort: number;
  readonly keepaliveInterval: number;
  readonly forced: boolean;
  /** Milliseconds since anything went out on the flow. */
  readonly idleMs: number;
}

export class MnUdpTunnelSession {
  readonly plane = new MnUdpTunnelPlane();
  readonly counters: MnUdpTunnelCounters = { requested: 0, granted: 0, declined: 0, retries: 0, refusals: 0, keepalivesSent: 0, keepaliveReplies: 0, withoutTunnel: 0, sendErrors: 0 };
  private current: MobileNodeUdpTunnel | undefined;
  private keepaliveMs = 0;
  private forced = false;
  private lastSentAt = 0;
  private alarm: Alarm | undefined;
  private sequence = 0;
  private ipIdentification = 0;
  private readonly keepaliveIdentifier: number;

  constructor(
    private readonly clock: Clock,
    private readonly udp: UdpSocket,
    private readonly emit: (event: MnUdpTunnelEvent) => void,
    random32: () => number,
  ) {
    this.keepaliveIdentifier = random32() & 0xffff;
  }

  /** The tunnel in force, if any. */
  tunnel(): MobileNodeUdpTunnel | undefined {
    return this.current;
  }

  state(): MnUdpTunnelState | undefined {
    const t = this.current;
    if (t === undefined) return undefined;
    return {
      homeAgent: ipv4ToString(t.homeAgent),
      careOfAddress: ipv4ToString(t.careOfAddress),
      localPort: this.udp.localPort,
      keepaliveInterval: this.keepaliveMs / 1000,
      forced: this.forced,
      idleMs: this.clock.now() - this.lastSentAt,
    };
  }

  /** An accepted registration granted UDP tunnelling: the tunnel and its keepalives start (the Request just sent counts as traffic). */
  start(tunnel: MobileNodeUdpTunnel, keepaliveSeconds: number, forced: boolean, lastRequestAt: number): void {
    const same =
      this.current !== undefined &&
      this.current.homeAgent === tunnel.homeAgent &&
      this.current.careOfAddress === tunnel.careOfAddress &&
      this.current.homeAddress === tunnel.homeAddress &&
      this.keepaliveMs === keepaliveSeconds * 1000;
    this.current = tunnel;
    this.keepaliveMs = keepaliveSeconds * 1000;
    this.forced = forced;
    this.lastSentAt = Math.max(this.lastSentAt, lastRequestAt);
    this.schedule();
    if (same) return;
    this.emit({
      event: 'udp-tunnel',
      at: this.clock.now(),
      active: true,
      homeAgent: ipv4ToString(tunnel.homeAgent),
      careOfAddress: ipv4ToString(tunnel.careOfAddress),
      port: this.udp.localPort,
      keepaliveInterval: keepaliveSeconds,
      forced,
    });
  }

  /** The tunnel ends (a move, a registration without it, the node stopping); keepalives stop. */
  stop(reason: string): void {
    this.alarm?.cancel();
    this.alarm = undefined;
    if (this.current === undefined) return;
    this.current = undefined;
    this.emit({ event: 'udp-tunnel', at: this.clock.now(), active: false, reason });
  }

  /** Something went out on the flow (a Request from the registration's port): the NAT's mapping was refreshed. */
  noteSent(at: number): void {
    this.lastSentAt = at;
  }

  /**
   * One of the node's own datagrams: sent as a tunnel data message to the home agent (true), or
   * false when it is not the tunnel's (no tunnel, another source). Malformed input is dropped and
   * counted (true: nothing for the host to send).
   */
  sendOwn(datagram: Uint8Array): boolean {
    const tunnel = this.current;
    const message = this.plane.encapsulate(datagram, tunnel);
    if (message === 'pass') return false;
    if (message === 'dropped') return true;
    this.udp.send(message, tunnel!.homeAgent, HOME_AGENT_PORT, tunnel!.careOfAddress);
    this.lastSentAt = this.clock.now();
    return true;
  }

  /**
   * A tunnel data message on the registration socket: the inner datagram for the host's stack,
   * or undefined (not the home agent's, malformed, a keepalive's Echo Reply: counted).
   */
  receive(message: Uint8Array, from: Ipv4Address, fromPort: number): Uint8Array | undefined {
    const tunnel = this.current;
    if (tunnel === undefined) {
      this.counters.withoutTunnel++;
      return undefined;
    }
    const inner = this.plane.decapsulate(message, from, fromPort, tunnel);
    if (inner === undefined) return undefined;
    if (isKeepaliveReply(inner, tunnel, this.keepaliveIdentifier)) {
      this.counters.keepaliveReplies++;
      return undefined;
    }
    return inner;
  }

  private schedule(): void {
    this.alarm?.cancel();
    if (this.current === undefined || this.keepaliveMs <= 0) return;
    this.alarm = this.clock.setAlarm(this.lastSentAt + this.keepaliveMs, () => this.keepaliveDue());
  }

  private keepaliveDue(): void {
    this.alarm = undefined;
    const tunnel = this.current;
    if (tunnel === undefined) return;
    const now = this.clock.now();
    const idleMs = now - this.lastSentAt;
    if (idleMs >= this.keepaliveMs) {
      const sequence = this.sequence;
      this.sequence = (sequence + 1) & 0xffff;
      // Rare (one per interval): a buffer of its own, whatever the UDP layer does with it.
      const message = writeUdpKeepalive(new Uint8Array(UDP_KEEPALIVE_MESSAGE_LENGTH), tunnel, this.keepaliveIdentifier, sequence, this.ipIdentification++);
      this.udp.send(message, tunnel.homeAgent, HOME_AGENT_PORT, tunnel.careOfAddress);
      this.lastSentAt = now;
      this.counters.keepalivesSent++;
      this.emit({ event: 'udp-keepalive', at: now, sequence, idleMs });
    }
    this.schedule();
  }
}
