/**
 * The co-located mobile node's tc-BPF fast path on Linux (docs/kernel-fast-path.md): decap at
 * tc ingress of the node's interface, its `care_of_addresses` holding the co-located care-of
 * address as `co-located` while that registration is current (runtime/mn/colocated-fast-path.ts
 * decides). The inner datagram goes on to the local stack, which delivers it because the home
 * address is local (on lo while away, io/linux/mn-host.ts) and the reverse path to the sender
 * leads out of that same interface (rp_filter strict or loose both accept it).
 */
import { parseIpv4 } from '../wire/bytes.js';
import { BpfInstance, type DecapCounter } from './bpf.js';
import { fastPathInstanceName } from './fa-fast-path.js';

export interface LinuxMobileNodeFastPath {
  readonly instanceName: string;
  readonly staleRemoved: number;
  add(address: string): void;
  remove(address: string): void;
  counters(): Record<DecapCounter, number>;
  /** Care-of addresses now listed in the kernel map. */
  careOfAddressesInKernel(): number;
  close(): void;
}

/** Loads decap, clears its maps (a crashed run's), attaches it at ingress of `interfaceName`. */
export function openMobileNodeFastPath(options: { readonly interfaceName: string; readonly pinRoot?: string; readonly onError?: (message: string) => void }): LinuxMobileNodeFastPath {
  const instanceName = fastPathInstanceName('mn', options.interfaceName);
  const { instance, staleRemoved } = BpfInstance.open({ instance: instanceName, ...(options.pinRoot !== undefined ? { pinRoot: options.pinRoot } : {}) });
  let closed = false;
  let lastCounters: Record<DecapCounter, number> | undefined;
  try {
    instance.load('decap');
    const careOf = instance.careOfAddresses();
    careOf.clear();
    instance.visitors().clear();
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
    return {
      instanceName,
      staleRemoved,
      add: (address) => change('add', address),
      remove: (address) => change('remove', address),
      counters: () => (closed && lastCounters !== undefined ? lastCounters : instance.decapCounters()),
      careOfAddressesInKernel: () => (closed ? 0 : careOf.keys().length),
      close() {
        if (closed) return;
        lastCounters = instance.decapCounters();
        closed = true;
        instance.close();
      },
    };
  } catch (error) {
    instance.close();
    throw error;
  }
}
