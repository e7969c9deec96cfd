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
  /** Tunnel data or keepalives that moved a binding to a new port of its NAT address. */
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

export class UdpTunnels {
  private readonly byHome = new Map<number, Map<number, UdpTunnelState>>();
  readonly counters: UdpTunnelCounters = { granted: 0, declined: 0, denied: 0, natDetected: 0, rebindings: 0, rebindingRefused: 0 };

  get(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): UdpTunnelState | undefined {
    return this.byHome.get(homeAddress | 0)?.get(careOfAddress | 0);
  }

  set(homeAddress: Ipv4Address, careOfAddress: Ipv4Address, state: UdpTunnelState): void {
    let tunnels = this.byHome.get(homeAddress | 0);
    if (tunnels === undefined) this.byHome.set(homeAddress | 0, (tunnels = new Map()));
    tunnels.set(careOfAddress | 0, state);
  }

  delete(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): void {
    const tunnels = this.byHome.get(homeAddress | 0);
    if (tunnels === undefined) return;
    tunnels.delete(careOfAddress | 0);
    if (tunnels.size === 0) this.byHome.delete(homeAddress | 0);
  }

  /**
   * Tunnel data or a keepalive from `address:port` whose inner source is `homeAddress`: the
   * binding whose translated address it is. Same port: nothing changes. A new port of the same
   * address is a NAT rebinding (a restarted NAT, an expired mapping): the binding moves there
   * and its care-of address is returned with what changed. Another address is not followed:
   * anyone can put a home address in an inner source, and moving a node's traffic to a new
   * address takes an authenticated Request (the reading safer for the node; RFC 3519 lets the
   * node's next registration carry it).
   */
  follow(homeAddress: Ipv4Address, address: Ipv4Address, port: number): { careOfAddress: Ipv4Address; rebinding?: UdpRebinding } | undefined {
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
    const from = `${ipv4ToString(moved.state.address)}:${moved.state.port}`;
    moved.state.port = port;
    this.counters.rebindings++;
    return {
      careOfAddress: moved.careOfAddress,
      rebinding: { homeAddress: ipv4ToString(homeAddress), careOfAddress: ipv4ToString(moved.careOfAddress), from, to: `${ipv4ToString(address)}:${port}` },
    };
  }
}
