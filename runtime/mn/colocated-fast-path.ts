/**
 * The co-located mobile node's kernel fast path (issue 17, docs/kernel-fast-path.md): while a
 * registration with a co-located care-of address is current (RFC 5944 3.1.1, 1.7 b), the decap
 * program on the node's interface decapsulates tunnels to that address and hands the inner
 * datagram to the local stack. This follows the node's state and tells a sink which care-of
 * address the kernel should list: set on registration, moved on roaming, removed at home, on
 * deregistration, when the registration lapses, and for UDP tunnels (RFC 3519, userspace's).
 * The reverse direction likewise: one reverse_tunnels entry while that registration is current
 * and granted 'T' (RFC 3024 5.2: the node tunnels its own datagrams to the home agent).
 */
import type { MobileNodeReverseTunnel } from '../dataplane/mn-plane.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import type { MobileNodeState } from './mobile-node.js';

/** The reverse tunnel the kernel should take over (dotted quads), keyed by the home address. */
export interface ColocatedReverseTunnel {
  readonly homeAddress: string;
  /** The outer source: the co-located care-of address. */
  readonly careOfAddress: string;
  /** The outer destination. */
  readonly homeAgent: string;
  readonly encapsulation: 'ip-in-ip' | 'gre';
}

export interface ColocatedCareOfSink {
  /** List `address` (a dotted quad) as co-located. */
  add(address: string): void;
  remove(address: string): void;
  /** Set (or replace) the entry for `tunnel.homeAddress`; absent on a sink without the reverse program. */
  setReverseTunnel?(tunnel: ColocatedReverseTunnel): void;
  removeReverseTunnel?(homeAddress: string): void;
}

/** The care-of address the kernel should decapsulate for now, if any. */
export function kernelColocatedCareOf(state: MobileNodeState): string | undefined {
  if (state.attachment !== 'co-located' || state.registration !== 'registered' || state.udpTunnel !== undefined) return undefined;
  return state.careOfAddress;
}

/**
 * The reverse tunnel the kernel should apply now: only the node's own tunnel to the home agent
 * (co-located, 'T' granted, RFC 3024 5.2) while kernelColocatedCareOf lists its care-of address.
 * Minimal encapsulation and UDP tunnels (RFC 3519) stay on the userspace plane; so does the
 * encapsulating delivery style through a foreign agent (5.2.2).
 */
export function kernelColocatedReverseTunnel(state: MobileNodeState, tunnel: MobileNodeReverseTunnel | undefined): ColocatedReverseTunnel | undefined {
  const careOf = kernelColocatedCareOf(state);
  if (careOf === undefined || tunnel === undefined || tunnel.to !== 'home-agent') return undefined;
  if (tunnel.encapsulation !== 'ip-in-ip' && tunnel.encapsulation !== 'gre') return undefined;
  // The granted tunnel must start at the care-of address now registered, never at a previous one.
  if (ipv4ToString(tunnel.outerSource) !== careOf) return undefined;
  return { homeAddress: ipv4ToString(tunnel.homeAddress), careOfAddress: careOf, homeAgent: ipv4ToString(tunnel.outerDestination), encapsulation: tunnel.encapsulation };
}

const sameReverseTunnel = (a: ColocatedReverseTunnel | undefined, b: ColocatedReverseTunnel | undefined): boolean =>
  a === b ||
  (a !== undefined && b !== undefined && a.homeAddress === b.homeAddress && a.careOfAddress === b.careOfAddress && a.homeAgent === b.homeAgent && a.encapsulation === b.encapsulation);

/** Keeps the sink equal to kernelColocatedCareOf(state): call `follow` after each node event. */
export class ColocatedFastPathDriver {
  private listed: string | undefined;
  private reverse: ColocatedReverseTunnel | undefined;

  constructor(private readonly sink: ColocatedCareOfSink) {}

  /** `tunnel`: the node's own reverse tunnel in force (MobileNode.reverseTunnel()). */
  follow(state: MobileNodeState, tunnel?: MobileNodeReverseTunnel): void {
    const wanted = kernelColocatedCareOf(state);
    if (wanted !== this.listed) {
      if (this.listed !== undefined) this.sink.remove(this.listed);
      if (wanted !== undefined) this.sink.add(wanted);
      this.listed = wanted;
    }
    this.followReverse(kernelColocatedReverseTunnel(state, tunnel));
  }

  private followReverse(wanted: ColocatedReverseTunnel | undefined): void {
    if (this.sink.setReverseTunnel === undefined || sameReverseTunnel(wanted, this.reverse)) return;
    if (wanted !== undefined) this.sink.setReverseTunnel(wanted);
    if (this.reverse !== undefined && this.reverse.homeAddress !== wanted?.homeAddress) this.sink.removeReverseTunnel?.(this.reverse.homeAddress);
    this.reverse = wanted;
  }

  /** The reverse tunnel entry set now. */
  get currentReverseTunnel(): ColocatedReverseTunnel | undefined {
    return this.reverse;
  }

  /** The address listed now. */
  get current(): string | undefined {
    return this.listed;
  }
}
