/**
 * The foreign agent's kernel fast path (issue 17, docs/kernel-fast-path.md), as the agent sees
 * it: the agent tells it which visitor entries are current and it programs the kernel (on
 * Linux io/linux/fa-fast-path.ts: the decap program's `visitors` map). What the program cannot
 * serve stays with the userspace plane, which still receives everything the program passes.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { BROADCAST_MAC, ZERO_MAC, type MacAddress } from '../../io/wire/ethernet.js';
import type { LinkInterface } from '../../io/link.js';
import type { Encapsulation } from '../../io/wire/tunnel.js';

/** A reverse tunnel granted to a visitor ('T', RFC 3024), as the fast path needs it. */
export interface FastPathReverseTunnel {
  readonly homeAgent: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  readonly encapsulation: Encapsulation;
  readonly delivery: 'direct' | 'encapsulating';
  /** Over UDP (RFC 3519): never the kernel's. */
  readonly udp?: boolean;
}

/** A visitor entry in force (RFC 5944 3.7.1's visitor list), with what delivery needs (4.2.2). */
export interface FastPathVisitor {
  readonly homeAddress: Ipv4Address;
  /** The visitor's MAC as learnt from its Request's frame. */
  readonly linkLayerAddress: MacAddress;
  /** The agent's own MAC on the visitor link (the delivered frame's source). */
  readonly ownLinkAddress: MacAddress;
  /** Its tunnel comes over UDP (RFC 3519): the kernel program has no UDP decapsulation. */
  readonly udpTunnelled: boolean;
  /** Its reverse tunnel, while one is granted (RFC 3024). */
  readonly reverseTunnel?: FastPathReverseTunnel;
}

export interface VisitorFastPath {
  /** The entry became current, was renewed or changed: the kernel serves it if it can. */
  visitorCurrent(visitor: FastPathVisitor): void;
  /** The entry ended (expiry, deregistration, operator, replacement): the kernel forgets it. */
  visitorGone(homeAddress: Ipv4Address): void;
  /**
   * The visitor link is open (the agent's start, before it tells any entry): the fast path may
   * filter what the link's reader receives (on Linux: hide the datagrams the kernel tunnels).
   */
  visitorLinkOpened?(link: LinkInterface): void;
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

export type KernelReverseTunnelDecision =
  | { readonly kernel: true }
  | { readonly kernel: false; readonly reason: 'encapsulating-delivery' | 'udp-tunnelled' | 'minimal-encapsulation' };

/**
 * Whether reverse_encap can carry this reverse tunnel: it takes plain datagrams from the node
 * (the direct delivery style, RFC 3024 5.2.1; the encapsulating style's tunnels to the agent are
 * userspace's) and writes IP in IP or bare GRE (RFC 2003, RFC 2784), never minimal encapsulation
 * or a UDP tunnel (RFC 3519).
 */
export function kernelServesReverseTunnel(tunnel: FastPathReverseTunnel): KernelReverseTunnelDecision {
  if (tunnel.delivery !== 'direct') return { kernel: false, reason: 'encapsulating-delivery' };
  if (tunnel.udp === true) return { kernel: false, reason: 'udp-tunnelled' };
  if (tunnel.encapsulation === 'minimal') return { kernel: false, reason: 'minimal-encapsulation' };
  return { kernel: true };
}
