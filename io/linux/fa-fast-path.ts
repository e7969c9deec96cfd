/**
 * The foreign agent's tc-BPF fast path on Linux (docs/kernel-fast-path.md "The foreign agent"):
 * one BpfInstance per daemon, named after the network namespace and the visitor link so that a
 * restart of the same agent finds and removes what a crashed run left. The decap program is
 * attached at tc ingress of the visitor link and of every interface holding a care-of address
 * (where the home agents' tunnels arrive), `care_of_addresses` lists the advertised care-of
 * addresses as the foreign agent's, and `visitors` follows the agent's visitor entries (the
 * agent decides which ones the kernel can serve: runtime/fa/visitor-fast-path.ts).
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { ipv4ToString, parseIpv4, type Ipv4Address } from '../wire/bytes.js';
import { BpfInstance, REVERSE_TC_PRIORITY, type BpfEncapsulation, type DecapCounter, type ReverseEncapCounter, type ReverseTunnelsMap, type VisitorsMap } from './bpf.js';
import { loadNative } from './native.js';

export interface ForeignAgentFastPathOptions {
  /** The visitor link, e.g. "eth1". */
  readonly visitorInterface: string;
  /** The advertised care-of addresses (3.7.1): tunnels to them are decapsulated in the kernel. */
  readonly careOfAddresses: readonly Ipv4Address[];
  /** Pins below this folder (tests); default /sys/fs/bpf/mip4. */
  readonly pinRoot?: string;
  /** A map update the kernel refused (the daemon logs it); that visitor stays on userspace. */
  readonly onError?: (message: string) => void;
}

export interface LinuxForeignAgentFastPath {
  /** The pin folder's name below the pin root. */
  readonly instanceName: string;
  /** Filters and pins a crashed run of this instance left, removed at open. */
  readonly staleRemoved: number;
  /** Where decap is attached (tc ingress). */
  readonly attachedInterfaces: readonly string[];
  /**
   * The entry in force; with `reverseTunnel` (one the kernel can carry, the caller decides:
   * runtime/fa/visitor-fast-path.ts kernelServesReverseTunnel) its reverse_tunnels entry is set,
   * without it removed. Reverse entries are set only once the packet socket's filter is attached.
   */
  visitorCurrent(visitor: {
    readonly homeAddress: Ipv4Address;
    readonly linkLayerAddress: string;
    readonly ownLinkAddress: string;
    readonly reverseTunnel?: { readonly careOfAddress: Ipv4Address; readonly homeAgent: Ipv4Address; readonly encapsulation: BpfEncapsulation };
  }): void;
  visitorGone(homeAddress: Ipv4Address): void;
  /**
   * Attaches reverse_filter to the visitor link's packet socket (SO_ATTACH_BPF): from then on it
   * does not deliver what reverse_encap tunnels. Until this succeeds no reverse entry is set.
   */
  filterPacketSocket(socketFd: number): void;
  /** decap's counters, summed over the CPUs (zeros after close). */
  counters(): Record<DecapCounter, number>;
  /** reverse_encap's counters, summed over the CPUs (zeros after close). */
  reverseCounters(): Record<ReverseEncapCounter, number>;
  /** Reverse tunnel entries now in the kernel's map. */
  reverseTunnelsInKernel(): number;
  /** Visitor entries now in the kernel's map. */
  visitorsInKernel(): number;
  /** Detaches, closes and unpins everything; idempotent. */
  close(): void;
}

/** The network namespace's inode number: stable for the namespace's life, distinct per namespace. */
export function networkNamespaceId(): string {
  const link = readlinkSync('/proc/self/ns/net');
  return /\[(\d+)\]/.exec(link)?.[1] ?? 'host';
}

/** The instance name of a daemon of `role` on `interfaceName` in this namespace (a folder name). */
export function fastPathInstanceName(role: 'fa' | 'mn', interfaceName: string): string {
  return `${role}-${networkNamespaceId()}-${interfaceName.replace(/[^A-Za-z0-9_.-]/g, '_')}`.slice(0, 64);
}

/** Interfaces (by name) that hold one of `addresses` in this namespace, from `ip -j -4 addr`. */
export function interfacesHolding(addresses: readonly Ipv4Address[]): string[] {
  const wanted = new Set(addresses.map((a) => a >>> 0));
  const listed = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string; addr_info?: Array<{ local?: string }> }>;
  return listed.filter((entry) => (entry.addr_info ?? []).some((info) => info.local !== undefined && wanted.has((parseIpv4(info.local) ?? -1) >>> 0))).map((entry) => entry.ifname);
}

/**
 * Loads and attaches decap for a foreign agent; clears the maps (a restart's stale entries) and
 * lists the care-of addresses. Throws (errno errors from the loader) when the kernel refuses:
 * the daemon reports that as a start error.
 */
export function openForeignAgentFastPath(options: ForeignAgentFastPathOptions): LinuxForeignAgentFastPath {
  const instanceName = fastPathInstanceName('fa', options.visitorInterface);
  const { instance, staleRemoved } = BpfInstance.open({ instance: instanceName, ...(options.pinRoot !== undefined ? { pinRoot: options.pinRoot } : {}) });
  let closed = false;
  try {
    instance.load('decap');
    instance.load('reverse_encap');
    const careOf = instance.careOfAddresses();
    const visitors: VisitorsMap = instance.visitors();
    const reverseTunnels: ReverseTunnelsMap = instance.reverseTunnels();
    careOf.clear();
    visitors.clear();
    reverseTunnels.clear();
    for (const address of options.careOfAddresses) careOf.set(address, 'foreign-agent');
    const attachedInterfaces = [...new Set([options.visitorInterface, ...interfacesHolding(options.careOfAddresses).filter((name) => name !== 'lo')])];
    for (const name of attachedInterfaces) instance.attach('decap', name, 'ingress');
    // Before decap on the visitor link (RFC 3024 reverse tunnels): its passes go on to decap.
    instance.attach('reverse_encap', options.visitorInterface, 'ingress', { priority: REVERSE_TC_PRIORITY });
    let socketFiltered = false;
    const visitorIfindex = loadNative().interfaceIndex(options.visitorInterface);
    const report = (what: string, homeAddress: Ipv4Address, error: unknown) => options.onError?.(`${what} ${ipv4ToString(homeAddress)}: ${(error as Error).message}`);
    return {
      instanceName,
      staleRemoved,
      attachedInterfaces,
      visitorCurrent(visitor) {
        if (closed) return;
        try {
          visitors.set(visitor.homeAddress, { ifindex: visitorIfindex, visitorMac: visitor.linkLayerAddress, ownMac: visitor.ownLinkAddress });
        } catch (error) {
          report('visitors map: cannot set', visitor.homeAddress, error);
        }
        try {
          // The foreign agent forwards: the inner TTL goes down by one (RFC 2003 3.1).
          if (visitor.reverseTunnel !== undefined && socketFiltered) reverseTunnels.set(visitor.homeAddress, { ...visitor.reverseTunnel, forwards: true });
          else reverseTunnels.delete(visitor.homeAddress);
        } catch (error) {
          report('reverse_tunnels map: cannot update', visitor.homeAddress, error);
        }
      },
      filterPacketSocket(socketFd) {
        if (closed) return;
        instance.attachSocketFilter('reverse_encap', 'reverse_filter', socketFd);
        socketFiltered = true;
      },
      visitorGone(homeAddress) {
        if (closed) return;
        try {
          visitors.delete(homeAddress);
          reverseTunnels.delete(homeAddress);
        } catch (error) {
          report('visitors map: cannot delete', homeAddress, error);
        }
      },
      counters: () => instance.decapCounters(),
      reverseCounters: () => instance.reverseEncapCounters(),
      visitorsInKernel: () => (closed ? 0 : visitors.keys().length),
      reverseTunnelsInKernel: () => (closed ? 0 : reverseTunnels.keys().length),
      close() {
        closed = true;
        instance.close();
      },
    };
  } catch (error) {
    if (!closed) instance.close();
    throw error;
  }
}
