/**
 * The foreign agent's kernel fast path (issue 17, docs/kernel-fast-path.md), as the agent sees
 * it: the agent tells it which visitor entries are current and it programs the kernel (on
 * Linux io/linux/fa-fast-path.ts: the decap program's `visitors` map). What the program cannot
 * serve stays with the userspace plane, which still receives everything the program passes.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { BROADCAST_MAC, ZERO_MAC, type MacAddress } from '../../io/wire/ethernet.js';

/** A visitor entry in force (RFC 5944 3.7.1's visitor list), with what delivery needs (4.2.2). */
export interface FastPathVisitor {
  readonly homeAddress: Ipv4Address;
  /** The visitor's MAC as learnt from its Request's frame. */
  readonly linkLayerAddress: MacAddress;
  /** The agent's own MAC on the visitor link (the delivered frame's source). */
  readonly ownLinkAddress: MacAddress;
  /** Its tunnel comes over UDP (RFC 3519): the kernel program has no UDP decapsulation. */
  readonly udpTunnelled: boolean;
}

export interface VisitorFastPath {
  /** The entry became current, was renewed or changed: the kernel serves it if it can. */
  visitorCurrent(visitor: FastPathVisitor): void;
  /** The entry ended (expiry, deregistration, operator, replacement): the kernel forgets it. */
  visitorGone(homeAddress: Ipv4Address): void;
  close(): void;
}

export type KernelVisitorDecision = { readonly kernel: true } | { readonly kernel: false; readonly reason: 'udp-tunnelled' | 'no-link-layer-address' };

/**
 * Whether the decap program can deliver to this visitor: it strips IP in IP and bare GRE only
 * (UDP tunnels, RFC 3519, stay on the 434 socket), and it writes the Ethernet header from the
 * entry, so it needs a unicast MAC for the visitor and for the agent (a link without link-layer
 * addresses cannot be served by it).
 */
export function kernelServesVisitor(visitor: FastPathVisitor): KernelVisitorDecision {
  if (visitor.udpTunnelled) return { kernel: false, reason: 'udp-tunnelled' };
  if (!isUnicastMac(visitor.linkLayerAddress) || !isUnicastMac(visitor.ownLinkAddress)) return { kernel: false, reason: 'no-link-layer-address' };
  return { kernel: true };
}

function isUnicastMac(mac: MacAddress): boolean {
  if (mac === ZERO_MAC || mac.toLowerCase() === BROADCAST_MAC) return false;
  const first = parseInt(mac.slice(0, 2), 16);
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac) && (first & 1) === 0;
}
