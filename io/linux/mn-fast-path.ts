/**
 * The co-located mobile node's tc-BPF fast path on Linux (docs/kernel-fast-path.md): decap at
 * tc ingress of the node's interface, its `care_of_addresses` holding the co-located care-of
 * address as `co-located` while that registration is current (runtime/mn/colocated-fast-path.ts
 * decides). The inner datagram goes on to the local stack, which delivers it because the home
 * address is local (on lo while away, io/linux/mn-host.ts) and the reverse path to the sender
 * leads out of that same interface (rp_filter strict or loose both accept it).
 * The reverse direction (RFC 3024 5.2): reverse_encap_l3 at tc egress of the node's TUN device
 * tunnels what the node's own stack sends from its home address to the home agent, while
 * `reverse_tunnels` holds the one entry the node's state grants (colocated-fast-path.ts).
 */
import { readFileSync } from 'node:fs';
import { parseIpv4 } from '../wire/bytes.js';
import { BpfInstance, type BpfEncapsulation, type DecapCounter, type ReverseEncapCounter, type ReverseTunnelsMap } from './bpf.js';
import { fastPathInstanceName } from './fa-fast-path.js';

/** One reverse_tunnels entry of the node, dotted quads (runtime/mn/colocated-fast-path.ts decides it). */
export interface MobileNodeReverseTunnelEntry {
  readonly homeAddress: string;
  readonly careOfAddress: string;
  readonly homeAgent: string;
  readonly encapsulation: BpfEncapsulation;
}

export interface LinuxMobileNodeFastPath {
  readonly instanceName: string;
  readonly staleRemoved: number;
  add(address: string): void;
  remove(address: string): void;
  counters(): Record<DecapCounter, number>;
  /**
   * Attaches reverse_encap_l3 at tc egress of the node's TUN device (which must exist by then).
   * Until this succeeds no reverse tunnel entry is set: the userspace plane tunnels.
   */
  attachReverseTunnel(tunnelDevice: string): void;
  /** The TUN device reverse_encap_l3 is attached to, if any. */
  readonly reverseAttachedTo: string | undefined;
  setReverseTunnel(tunnel: MobileNodeReverseTunnelEntry): void;
  removeReverseTunnel(homeAddress: string): void;
  /** reverse_encap's counters, summed over the CPUs (zeros after close). */
  reverseCounters(): Record<ReverseEncapCounter, number>;
  reverseTunnelsInKernel(): number;
  /** Care-of addresses now listed in the kernel map. */
  careOfAddressesInKernel(): number;
  close(): void;
}

/** Loads decap, clears its maps (a crashed run's), attaches it at ingress of `interfaceName`. */
export function openMobileNodeFastPath(options: { readonly interfaceName: string; readonly pinRoot?: string; readonly onError?: (message: string) => void }): LinuxMobileNodeFastPath {
  const instanceName = fastPathInstanceName('mn', options.interfaceName);
  const { instance, staleRemoved } = BpfInstance.open({ instance: instanceName, ...(options.pinRoot !== undefined ? { pinRoot: options.pinRoot } : {}) });
  let closed = false;
  let reverseAttachedTo: string | undefined;
  try {
    instance.load('decap');
    instance.load('reverse_encap');
    const careOf = instance.careOfAddresses();
    careOf.clear();
    instance.visitors().clear();
    const reverseTunnels: ReverseTunnelsMap = instance.reverseTunnels();
    reverseTunnels.clear();
    instance.attach('decap', options.interfaceName, 'ingress');
    const change = (what: 'add' | 'remove', address: string) => {
      const parsed = parseIpv4(address);
      if (closed || parsed === undefined) return;
      try {
        if (what === 'add') careOf.set(parsed, 'co-located');
        else careOf.delete(parsed);
      } catch (error) {
        options.onError?.(`care_of_addresses map: cannot ${what} ${address}: ${(error as Error).message}`);
      }
    };
    const changeReverse = (what: 'set' | 'remove', homeAddress: string, tunnel?: MobileNodeReverseTunnelEntry) => {
      const home = parseIpv4(homeAddress);
      if (closed || home === undefined || (what === 'set' && reverseAttachedTo === undefined)) return;
      try {
        if (tunnel === undefined) reverseTunnels.delete(home);
        else {
          const careOfAddress = parseIpv4(tunnel.careOfAddress);
          const homeAgent = parseIpv4(tunnel.homeAgent);
          if (careOfAddress === undefined || homeAgent === undefined) return;
          // The node originates these datagrams: no FORWARDS flag, so the inner TTL stays (RFC 3024 5.2).
          reverseTunnels.set(home, { careOfAddress, homeAgent, encapsulation: tunnel.encapsulation, forwards: false });
        }
      } catch (error) {
        options.onError?.(`reverse_tunnels map: cannot ${what} ${homeAddress}: ${(error as Error).message}`);
      }
    };
    return {
      instanceName,
      staleRemoved,
      add: (address) => change('add', address),
      remove: (address) => change('remove', address),
      get reverseAttachedTo() {
        return reverseAttachedTo;
      },
      attachReverseTunnel(tunnelDevice) {
        if (closed) return;
        // bpf_fib_lookup refuses (BPF_FIB_LKUP_RET_FWD_DISABLED) unless IPv4 forwarding is on for
        // the device it is given, here the TUN; mip4 does not turn a host into a router itself.
        if (ipv4ForwardingOf(tunnelDevice) !== true) {
          throw new Error(
            `IPv4 forwarding is off on ${tunnelDevice}, so the kernel's route lookup refuses the program; set net.ipv4.conf.default.forwarding=1 (or net.ipv4.conf.${tunnelDevice}.forwarding=1 where the device persists) to let the kernel tunnel`,
          );
        }
        instance.attach('reverse_encap', tunnelDevice, 'egress', { entry: 'reverse_encap_l3' });
        reverseAttachedTo = tunnelDevice;
      },
      setReverseTunnel: (tunnel) => changeReverse('set', tunnel.homeAddress, tunnel),
      removeReverseTunnel: (homeAddress) => changeReverse('remove', homeAddress),
      reverseCounters: () => instance.reverseEncapCounters(),
      reverseTunnelsInKernel: () => (closed ? 0 : reverseTunnels.keys().length),
      counters: () => instance.decapCounters(),
      careOfAddressesInKernel: () => (closed ? 0 : careOf.keys().length),
      close() {
        closed = true;
        instance.close();
      },
    };
  } catch (error) {
    instance.close();
    throw error;
  }
}

/** net.ipv4.conf.<device>.forwarding; undefined when unreadable. */
function ipv4ForwardingOf(device: string): boolean | undefined {
  try {
    return readFileSync(`/proc/sys/net/ipv4/conf/${device}/forwarding`, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}
