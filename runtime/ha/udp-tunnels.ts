/**
 * The home agent's UDP tunnels (RFC 3519): per binding, the translated address and port its
 * tunnel data goes to, the encapsulation inside UDP and the keepalive interval granted. The
 * HomeAgent decides with policies/ha-udp-tunnel.ts at registration and keeps the outcome
 * here; the forwarding table carries it to the data plane (TunnelTarget.udp), and the data
 * plane reports NAT rebinding back through `follow`.
 */
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import type { Encapsulation } from '../../machines/binding.js';
import { rebindingTarget } from '../../policies/ha-udp-tunnel.js';

export interface UdpTunnelState {
  /** The translated (NAT's public) address and UDP port tunnel data goes to. */
  address: Ipv4Address;
  port: number;
  /** What follows the tunnel data header (RFC 3519's Encapsulation field: 4, 47, 55). */
  readonly encapsulation: Encapsulation;
  readonly keepaliveInterval: number;
  readonly forced: boolean;
  /** A NAT was seen between the sender and the agent at registration. */
  readonly natDetected: boolean;
}

export interface UdpTunnelCounters {
  /** Registrations granted UDP tunnelling (Reply extension code 0). */
  granted: number;
  /** Registrations that asked and were declined (code 64). */
  declined: number;
  /** Registrations denied for UDP tunnelling (142, or 129 when required but not asked). */
  denied: number;
  /** Requests whose source differed from their care-of address (NAT detected). */
  natDetected: number;
  /** Bindings moved to a new port of their NAT address by tunnel data or a keepalive (each binding of a moved flow counts). */
  rebindings: number;
  /** Tunnel data from another address than the binding's translated one: dropped (a Request moves it). */
  rebindingRefused: number;
}

export function encapsulationOfNextHeader(nextHeader: 4 | 47 | 55): Encapsulation {
  return nextHeader === 47 ? 'gre' : nextHeader === 55 ? 'minimal' : 'ip-in-ip';
}

/** What a rebinding changed, for the log. */
export interface UdpRebinding {
  readonly homeAddress: string;
  readonly careOfAddress: string;
  readonly from: string;
  readonly to: string;
}

/** A binding a flow rebinding moved (RFC 3519: every binding sharing the flow follows it). */
export interface MovedBinding {
  readonly homeAddress: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly rebinding: UdpRebinding;
}

const NOTHING_MOVED: { moved: MovedBinding[] } = Object.freeze({ moved: [] as MovedBinding[] }) as { moved: MovedBinding[] };

export class UdpTunnels {
  private readonly byHome = new Map<number, Map<number, UdpTunnelState>>();
  /**
   * The same states by care-of address, then home address (int32 keys): a foreign agent behind a
   * NAT keeps one flow for all its visitors, and its keepalives carry its care-of address.
   */
  private readonly byCareOf = new Map<number, Map<number, UdpTunnelState>>();
  readonly counters: UdpTunnelCounters = { granted: 0, declined: 0, denied: 0, natDetected: 0, rebindings: 0, rebindingRefused: 0 };

  get(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): UdpTunnelState | undefined {
    return this.byHome.get(homeAddress | 0)?.get(careOfAddress | 0);
  }

  set(homeAddress: Ipv4Address, careOfAddress: Ipv4Address, state: UdpTunnelState): void {
    let tunnels = this.byHome.get(homeAddress | 0);
    if (tunnels === undefined) this.byHome.set(homeAddress | 0, (tunnels = new Map()));
    tunnels.set(careOfAddress | 0, state);
    let visitors = this.byCareOf.get(careOfAddress | 0);
    if (visitors === undefined) this.byCareOf.set(careOfAddress | 0, (visitors = new Map()));
    visitors.set(homeAddress | 0, state);
  }

  delete(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): void {
    const tunnels = this.byHome.get(homeAddress | 0);
    if (tunnels === undefined) return;
    tunnels.delete(careOfAddress | 0);
    if (tunnels.size === 0) this.byHome.delete(homeAddress | 0);
    const visitors = this.byCareOf.get(careOfAddress | 0);
    if (visitors === undefined) return;
    visitors.delete(homeAddress | 0);
    if (visitors.size === 0) this.byCareOf.delete(careOfAddress | 0);
  }

  /**
   * Tunnel data or a keepalive from `address:port` whose inner source is `homeAddress`: the
   * binding whose translated address it is. Same port: nothing changes. A new port of the same
   * address is a NAT rebinding (a restarted NAT, an expired mapping): the binding moves there
   * and its care-of address is returned with what changed. Another address is not followed:
   * anyone can put a home address in an inner source, and moving a node's traffic to a new
   * address takes an authenticated Request (the reading safer for the node; RFC 3519 lets the
   * node's next registration carry it). Other bindings on the same flow (a foreign agent's
   * visitors: same care-of address, translated address and port) move with it (`others`).
   */
  follow(homeAddress: Ipv4Address, address: Ipv4Address, port: number): { careOfAddress: Ipv4Address; rebinding?: UdpRebinding; others?: MovedBinding[] } | undefined {
    const tunnels = this.byHome.get(homeAddress | 0);
    if (tunnels === undefined) return undefined;
    let moved: { careOfAddress: Ipv4Address; state: UdpTunnelState } | undefined;
    for (const [careOf, state] of tunnels) {
      const match = rebindingTarget(state, { address, port });
      if (match === 'same') return { careOfAddress: careOf >>> 0 };
      if (match === 'new-port' && moved === undefined) moved = { careOfAddress: careOf >>> 0, state };
    }
    if (moved === undefined) {
      this.counters.rebindingRefused++;
      return undefined;
    }
    const others = this.moveFlow(moved.careOfAddress, address, moved.state.port, port, homeAddress);
    const rebinding = this.move(homeAddress, moved.careOfAddress, moved.state, port);
    return { careOfAddress: moved.careOfAddress, rebinding, ...(others.length > 0 ? { others } : {}) };
  }

  /**
   * A keepalive from `address:port` whose inner source is `careOfAddress` (a foreign agent
   * behind a NAT: one flow per FA/HA pair, RFC 3519): true when the care-of address has UDP
   * tunnels translated to `address`, all on one flow. Same port: nothing moves. A new port of
   * that address is the flow's NAT rebinding: every binding on it moves (`moved`, each
   * counted as a rebinding). Bindings of that care-of address on several ports of the address
   * are several flows (two hosts behind one NAT with the same private address): which one
   * moved cannot be told, so none does (counted refused), as for another address.
   */
  followFlow(careOfAddress: Ipv4Address, address: Ipv4Address, port: number): { moved: MovedBinding[] } | undefined {
    const visitors = this.byCareOf.get(careOfAddress | 0);
    if (visitors === undefined) return undefined;
    let flowPort = -1;
    for (const state of visitors.values()) {
      if (state.address >>> 0 !== address >>> 0) continue;
      if (state.port === port) return NOTHING_MOVED;
      if (flowPort === -1) flowPort = state.port;
      else if (flowPort !== state.port) flowPort = -2;
    }
    if (flowPort < 0) {
      this.counters.rebindingRefused++;
      return undefined;
    }
    return { moved: this.moveFlow(careOfAddress, address, flowPort, port, undefined) };
  }

  /** Moves the bindings of `careOfAddress` on flow `address:fromPort` to `toPort`, but `except`'s. */
  private moveFlow(careOfAddress: Ipv4Address, address: Ipv4Address, fromPort: number, toPort: number, except: Ipv4Address | undefined): MovedBinding[] {
    const moved: MovedBinding[] = [];
    const visitors = this.byCareOf.get(careOfAddress | 0);
    if (visitors === undefined) return moved;
    for (const [home, state] of visitors) {
      if (except !== undefined && home === (except | 0)) continue;
      if (state.address >>> 0 !== address >>> 0 || state.port !== fromPort) continue;
      moved.push({ homeAddress: home >>> 0, careOfAddress: careOfAddress >>> 0, rebinding: this.move(home >>> 0, careOfAddress, state, toPort) });
    }
    return moved;
  }

  private move(homeAddress: Ipv4Address, careOfAddress: Ipv4Address, state: UdpTunnelState, port: number): UdpRebinding {
    const from = `${ipv4ToString(state.address)}:${state.port}`;
    state.port = port;
    this.counters.rebindings++;
    return { homeAddress: ipv4ToString(homeAddress), careOfAddress: ipv4ToString(careOfAddress), from, to: `${ipv4ToString(state.address)}:${port}` };
  }
}
