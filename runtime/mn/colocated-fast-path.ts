/**
 * The co-located mobile node's kernel fast path (issue 17, docs/kernel-fast-path.md): while a
 * registration with a co-located care-of address is current (RFC 5944 3.1.1, 1.7 b), the decap
 * program on the node's interface decapsulates tunnels to that address and hands the inner
 * datagram to the local stack. This follows the node's state and tells a sink which care-of
 * address the kernel should list: set on registration, moved on roaming, removed at home, on
 * deregistration, when the registration lapses, and for UDP tunnels (RFC 3519, userspace's).
 */
import type { MobileNodeState } from './mobile-node.js';

export interface ColocatedCareOfSink {
  /** List `address` (a dotted quad) as co-located. */
  add(address: string): void;
  remove(address: string): void;
}

/** The care-of address the kernel should decapsulate for now, if any. */
export function kernelColocatedCareOf(state: MobileNodeState): string | undefined {
  if (state.attachment !== 'co-located' || state.registration !== 'registered' || state.udpTunnel !== undefined) return undefined;
  return state.careOfAddress;
}

/** Keeps the sink equal to kernelColocatedCareOf(state): call `follow` after each node event. */
export class ColocatedFastPathDriver {
  private listed: string | undefined;

  constructor(private readonly sink: ColocatedCareOfSink) {}

  follow(state: MobileNodeState): void {
    const wanted = kernelColocatedCareOf(state);
    if (wanted === this.listed) return;
    if (this.listed !== undefined) this.sink.remove(this.listed);
    if (wanted !== undefined) this.sink.add(wanted);
    this.listed = wanted;
  }

  /** The address listed now. */
  get current(): string | undefined {
    return this.listed;
  }
}
