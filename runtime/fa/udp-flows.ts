/**
 * The foreign agent's UDP flows (RFC 3519) with home agents: which visitors' tunnels run over
 * UDP, one flow per (care-of address, home agent) pair — the agent's 434 socket of that
 * care-of address and the home agent's 434, the 5-tuple the NAT in front of the agent maps —
 * and the keepalives that hold the mapping open (RFC 3519 4.9): one is sent when nothing was
 * sent on the flow for the keepalive interval the home agent granted (the shortest of its
 * visitors' grants). Time comes from the agent's clock; sends go through the agent's socket.
 */
import type { Alarm, Clock } from '../../io/clock.js';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { MOBILE_IP_PORT } from '../../io/wire/registration-types.js';
import { udpKeepalivePayload } from '../dataplane/fa-udp-tunnel.js';

/** What a visitor's accepted Reply granted (policies/fa-udp-tunnel.ts `granted`). */
export interface UdpTunnelGrant {
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  /** Seconds (RFC 3519 3.2). */
  readonly keepaliveInterval: number;
}

export interface UdpFlow {
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  /** Home addresses (int32) of the visitors using the flow. */
  readonly visitors: Set<number>;
  intervalMs: number;
  lastSentAt: number;
  keepalives: number;
  alarm: Alarm | undefined;
}

export interface UdpFlowCounters {
  /** Accepted Replies whose UDP Tunnel Reply extension granted tunnelling to this agent. */
  granted: number;
  /** Accepted Replies to a Request this agent asked in, without a grant (declined, or no extension). */
  notGranted: number;
  keepalives: number;
  /** Tunnel data messages received on the agent's 434 sockets (before any check). */
  tunnelDataReceived: number;
  /** Reverse-tunnelled datagrams handed to the 434 sockets as tunnel data messages (RFC 3519 4.2). */
  dataSent: number;
  /** Turns of the event loop in which some were: io/linux/udp.ts sends each turn's with one sendmmsg. */
  dataSendTurns: number;
}

export type UdpFlowSender = (data: Uint8Array, destination: Ipv4Address, port: number, source: Ipv4Address) => void;

export class FaUdpFlows {
  readonly counters: UdpFlowCounters = { granted: 0, notGranted: 0, keepalives: 0, tunnelDataReceived: 0, dataSent: 0, dataSendTurns: 0 };
  /** Grants of the Replies being relayed, by home address (int32), until the visitor's route is (re)installed. */
  private readonly offered = new Map<number, UdpTunnelGrant | null>();
  /** Registered visitors using UDP tunnelling: home address (int32) → grant and flow. */
  private readonly visitors = new Map<number, { readonly grant: UdpTunnelGrant; readonly flow: UdpFlow }>();
  private readonly flows = new Map<string, UdpFlow>();
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly send: () => UdpFlowSender | undefined,
  ) {}

  /**
   * The Reply being relayed for `homeAddress` granted UDP tunnelling (`grant`) or, asked and
   * accepted, did not (null). Takes effect when the visitor's route is installed next.
   */
  replied(homeAddress: Ipv4Address, grant: UdpTunnelGrant | null): void {
    if (grant === null) this.counters.notGranted++;
    else this.counters.granted++;
    this.offered.set(homeAddress | 0, grant);
  }

  /** A stored visitor entry's grant, brought back at a restart (not counted as a new grant). */
  restored(homeAddress: Ipv4Address, grant: UdpTunnelGrant): void {
    this.offered.set(homeAddress | 0, grant);
  }

  /** The visitor's route was (re)installed for the registration in force with `homeAgent` and `careOfAddress`. */
  installed(homeAddress: Ipv4Address, homeAgent: Ipv4Address, careOfAddress: Ipv4Address): void {
    const key = homeAddress | 0;
    if (!this.offered.has(key)) return; // a renewal this agent did not ask in: nothing changes
    const grant = this.offered.get(key) ?? null;
    this.offered.delete(key);
    this.detach(key);
    if (grant === null || grant.homeAgent >>> 0 !== homeAgent >>> 0 || grant.careOfAddress >>> 0 !== careOfAddress >>> 0) return;
    const flowKey = `${careOfAddress >>> 0}|${homeAgent >>> 0}`;
    const now = this.clock.now();
    let flow = this.flows.get(flowKey);
    if (flow === undefined) {
      // The Request just relayed went out on this flow: the interval counts from now.
      flow = { homeAgent, careOfAddress, visitors: new Set(), intervalMs: grant.keepaliveInterval * 1000, lastSentAt: now, keepalives: 0, alarm: undefined };
      this.flows.set(flowKey, flow);
    }
    flow.visitors.add(key);
    this.visitors.set(key, { grant, flow });
    this.retime(flow);
  }

  /** The visitor's route was removed (expired, deregistered, cleared). */
  removed(homeAddress: Ipv4Address): void {
    this.offered.delete(homeAddress | 0);
    this.detach(homeAddress | 0);
  }

  /** The home agent of a visitor whose registration uses UDP tunnelling, else undefined. */
  homeAgentOf(homeAddress: Ipv4Address): Ipv4Address | undefined {
    return this.visitors.get(homeAddress | 0)?.grant.homeAgent;
  }

  grantOf(homeAddress: Ipv4Address): UdpTunnelGrant | undefined {
    return this.visitors.get(homeAddress | 0)?.grant;
  }

  /** Something went out on the flow of this visitor (a reverse-tunnelled datagram). */
  sentFor(homeAddress: Ipv4Address, now: number): void {
    const entry = this.visitors.get(homeAddress | 0);
    if (entry !== undefined) entry.flow.lastSentAt = now;
  }

  /** A datagram went from `source`:434 to `destination`:434 (a relayed Request): the flow's, if there is one. */
  sentTo(source: Ipv4Address, destination: Ipv4Address, now: number): void {
    const flow = this.flows.get(`${source >>> 0}|${destination >>> 0}`);
    if (flow !== undefined) flow.lastSentAt = now;
  }

  /** The flows in use, for views and tests. */
  flowList(): readonly { readonly homeAgent: string; readonly careOfAddress: string; readonly visitors: number; readonly keepaliveInterval: number; readonly keepalives: number }[] {
    return [...this.flows.values()].map((f) => ({
      homeAgent: ipv4ToString(f.homeAgent),
      careOfAddress: ipv4ToString(f.careOfAddress),
      visitors: f.visitors.size,
      keepaliveInterval: f.intervalMs / 1000,
      keepalives: f.keepalives,
    }));
  }

  close(): void {
    this.closed = true;
    for (const flow of this.flows.values()) flow.alarm?.cancel();
  }

  private detach(key: number): void {
    const entry = this.visitors.get(key);
    if (entry === undefined) return;
    this.visitors.delete(key);
    const flow = entry.flow;
    flow.visitors.delete(key);
    if (flow.visitors.size === 0) {
      flow.alarm?.cancel();
      this.flows.delete(`${flow.careOfAddress >>> 0}|${flow.homeAgent >>> 0}`);
    } else {
      this.retime(flow);
    }
  }

  /** The shortest interval granted to the flow's visitors; the alarm at the next due time. */
  private retime(flow: UdpFlow): void {
    let interval = Infinity;
    for (const key of flow.visitors) interval = Math.min(interval, (this.visitors.get(key)?.grant.keepaliveInterval ?? Infinity) * 1000);
    if (interval !== Infinity) flow.intervalMs = interval;
    this.arm(flow);
  }

  private arm(flow: UdpFlow): void {
    flow.alarm?.cancel();
    flow.alarm = this.clock.setAlarm(flow.lastSentAt + flow.intervalMs, () => this.due(flow));
  }

  private due(flow: UdpFlow): void {
    if (this.closed || this.flows.get(`${flow.careOfAddress >>> 0}|${flow.homeAgent >>> 0}`) !== flow) return;
    const now = this.clock.now();
    // Sent on since the alarm was set (data, a relayed Request): the keepalive waits for idleness.
    if (now - flow.lastSentAt >= flow.intervalMs) {
      // RFC 3519 4.9, as the home agent takes it: an Echo Request care-of address → home agent in
      // a tunnel data message on this flow's 5-tuple (care-of address:434 → home agent:434), one
      // per flow, at the interval the Reply granted (110 s for 0, policies/fa-udp-tunnel.ts).
      const send = this.send();
      if (send !== undefined) {
        send(udpKeepalivePayload(flow.careOfAddress, flow.homeAgent, flow.keepalives), flow.homeAgent, MOBILE_IP_PORT, flow.careOfAddress);
        flow.keepalives++;
        this.counters.keepalives++;
      }
      flow.lastSentAt = now;
    }
    this.arm(flow);
  }
}
