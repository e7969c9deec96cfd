/**
 * Which forwarding entries the home agent's tc-BPF program (native/bpf/ha_encap.bpf.c) may carry
 * (issue 17, docs/kernel-fast-path.md). Pure: runtime/ha/home-agent-bpf.ts writes the map.
 *
 * The program encapsulates for one care-of address in IP in IP (RFC 2003) or bare GRE
 * (RFC 2784); everything else stays on the userspace plane, which the TUN /32 routes still feed:
 * simultaneous bindings (one copy per care-of address, RFC 5944 3.6.1.2), minimal encapsulation
 * (RFC 2004 rewrites the inner header: bpf_skb_adjust_room has no mode for it), and UDP tunnels
 * (RFC 3519, issue 16: never in a BPF map).
 */
import type { ForwardingEntry } from '../dataplane/forwarding-table.js';

/** ha_encap's encapsulation codes (native/bpf/mip4_bpf.h MIP4_ENCAP_*). */
export const KERNEL_IP_IN_IP = 1;
export const KERNEL_GRE = 2;
export type KernelEncapsulation = typeof KERNEL_IP_IN_IP | typeof KERNEL_GRE;

/** Why an entry stays on the userspace plane. */
export type UserspaceOnlyReason = 'simultaneous-bindings' | 'minimal-encapsulation' | 'udp-tunnel';

/** The entry's encapsulation in the kernel, or 0 when the entry stays on the userspace plane. */
export function kernelEncapsulationOf(entry: ForwardingEntry): KernelEncapsulation | 0 {
  if (entry.tunnels.length !== 1) return 0;
  const tunnel = entry.tunnels[0]!;
  if (tunnel.udp !== undefined) return 0;
  return tunnel.encapsulation === 'ip-in-ip' ? KERNEL_IP_IN_IP : tunnel.encapsulation === 'gre' ? KERNEL_GRE : 0;
}

/** Why `kernelEncapsulationOf(entry)` is 0 (for logs and tests); undefined when it is not. */
export function userspaceOnlyReason(entry: ForwardingEntry): UserspaceOnlyReason | undefined {
  if (entry.tunnels.length !== 1) return 'simultaneous-bindings';
  const tunnel = entry.tunnels[0]!;
  if (tunnel.udp !== undefined) return 'udp-tunnel';
  return tunnel.encapsulation === 'minimal' ? 'minimal-encapsulation' : undefined;
}
