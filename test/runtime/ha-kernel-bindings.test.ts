/**
 * Which forwarding entries the home agent puts into ha_encap's map, and how KernelBindingSync
 * keeps the kernel's maps equal to the forwarding table (runtime/ha/kernel-bindings.ts,
 * runtime/ha/home-agent-bpf.ts), over maps that record their writes.
 */
import { describe, expect, it } from 'vitest';
import { ForwardingTable, type ForwardingEntry, type TunnelTarget } from '../../runtime/dataplane/forwarding-table.js';
import { kernelEncapsulationOf, userspaceOnlyReason, KERNEL_GRE, KERNEL_IP_IN_IP } from '../../runtime/ha/kernel-bindings.js';
import { KernelBindingSync, type HomeAgentBpfEvent } from '../../runtime/ha/home-agent-bpf.js';
import { parseIpv4 } from '../../io/wire/bytes.js';

const ip = (text: string) => parseIpv4(text)!;
const HOME = ip('198.51.100.10');
const OTHER_HOME = ip('198.51.100.200');
const COA = ip('203.0.113.2');
const COA2 = ip('203.0.113.3');
const AGENT = ip('198.51.100.1');

function tunnel(fields: Partial<TunnelTarget> = {}): TunnelTarget {
  return { careOfAddress: COA, encapsulation: 'ip-in-ip', broadcast: false, decapsulatedByMobileNode: false, reverseTunnel: false, ...fields };
}

const entry = (...tunnels: TunnelTarget[]): ForwardingEntry => ({ homeAddress: HOME, tunnels });

describe('kernelEncapsulationOf: which entries ha_encap carries', () => {
  it('one tunnel in IP in IP or GRE goes into the map with its encapsulation code', () => {
    expect(kernelEncapsulationOf(entry(tunnel()))).toBe(KERNEL_IP_IN_IP);
    expect(kernelEncapsulationOf(entry(tunnel({ encapsulation: 'gre' })))).toBe(KERNEL_GRE);
    expect(userspaceOnlyReason(entry(tunnel()))).toBeUndefined();
  });

  it('simultaneous bindings, minimal encapsulation and UDP tunnels stay on the userspace plane', () => {
    const two = entry(tunnel(), tunnel({ careOfAddress: COA2 }));
    expect(kernelEncapsulationOf(two)).toBe(0);
    expect(userspaceOnlyReason(two)).toBe('simultaneous-bindings');
    const minimal = entry(tunnel({ encapsulation: 'minimal' }));
    expect(kernelEncapsulationOf(minimal)).toBe(0);
    expect(userspaceOnlyReason(minimal)).toBe('minimal-encapsulation');
    const udp = entry(tunnel({ udp: { address: ip('192.0.2.77'), port: 4500 } }));
    expect(kernelEncapsulationOf(udp)).toBe(0);
    expect(userspaceOnlyReason(udp)).toBe('udp-tunnel');
  });
});

/** Maps keeping what the kernel would hold, counting writes (each one a bpf() system call). */
function fakeMaps(fail?: { code: string; times: number }) {
  const bindings = new Map<number, { careOf: number; source: number; encapsulation: number }>();
  const pairs = new Set<string>();
  let writes = 0;
  let failures = fail?.times ?? 0;
  const maybeFail = () => {
    if (failures > 0) {
      failures--;
      throw Object.assign(new Error(`bpf_map_update_elem: ${fail!.code}`), { code: fail!.code });
    }
  };
  return {
    bindings,
    pairs,
    writes: () => writes,
    bindingMap: {
      setFields(home: number, careOf: number, source: number, encapsulation: 1 | 2, tunnelMtu = 0) {
        writes++;
        maybeFail();
        bindings.set(home, { careOf, source, encapsulation, ...(tunnelMtu !== 0 ? { tunnelMtu } : {}) });
      },
      delete(home: number) {
        writes++;
        return bindings.delete(home);
      },
    },
    reverseMap: {
      set(home: number, careOf: number) {
        writes++;
        pairs.add(`${home}/${careOf}`);
      },
      delete(home: number, careOf: number) {
        writes++;
        return pairs.delete(`${home}/${careOf}`);
      },
    },
  };
}

describe('KernelBindingSync: the forwarding table drives home_bindings and reverse_sources', () => {
  it('sets a single IP in IP or GRE binding with the agent as tunnel source, and removes it on withdrawal', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT);
    const table = new ForwardingTable();
    table.changes.subscribe((change) => sync.apply(change));
    table.upsertTunnel(HOME, tunnel({ encapsulation: 'gre' }));
    expect(maps.bindings.get(HOME)).toEqual({ careOf: COA, source: AGENT, encapsulation: KERNEL_GRE });
    expect(maps.pairs).toEqual(new Set([`${HOME}/${COA}`]));
    table.removeTunnel(HOME, COA);
    expect(maps.bindings.size).toBe(0);
    expect(maps.pairs.size).toBe(0);
    expect(sync.counters).toMatchObject({ bindingsSet: 1, bindingsDeleted: 1, reverseSourcesSet: 1, reverseSourcesDeleted: 1 });
  });

  it('each entry bounds the outer datagram at the TUN MTU plus its own header, so both engines take the same datagrams', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT, undefined, 1476);
    const table = new ForwardingTable();
    table.changes.subscribe((change) => sync.apply(change));
    table.upsertTunnel(HOME, tunnel({ encapsulation: 'ip-in-ip' }));
    expect(maps.bindings.get(HOME)).toMatchObject({ tunnelMtu: 1496 });
    table.upsertTunnel(HOME + 1, tunnel({ encapsulation: 'gre' }));
    expect(maps.bindings.get(HOME + 1)).toMatchObject({ tunnelMtu: 1500 });
  });

  it('a renewal that republishes the same tunnel writes nothing; a move or a new encapsulation rewrites the entry', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT);
    const table = new ForwardingTable();
    table.changes.subscribe((change) => sync.apply(change));
    table.upsertTunnel(HOME, tunnel());
    const afterFirst = maps.writes();
    for (let i = 0; i < 10; i++) table.upsertTunnel(HOME, tunnel());
    expect(maps.writes()).toBe(afterFirst);
    table.upsertTunnel(HOME, tunnel({ encapsulation: 'gre' }));
    expect(maps.bindings.get(HOME)?.encapsulation).toBe(KERNEL_GRE);
    // A move (the old care-of address withdrawn, the new one registered, as a new registration does).
    table.removeTunnel(HOME, COA);
    table.upsertTunnel(HOME, tunnel({ careOfAddress: COA2 }));
    expect(maps.bindings.get(HOME)).toEqual({ careOf: COA2, source: AGENT, encapsulation: KERNEL_IP_IN_IP });
    expect(maps.pairs).toEqual(new Set([`${HOME}/${COA2}`]));
  });

  it('a second simultaneous binding takes the home out of ha_encap (userspace copies to both) and keeps both pairs for reverse tunnels', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT);
    const table = new ForwardingTable();
    table.changes.subscribe((change) => sync.apply(change));
    table.upsertTunnel(HOME, tunnel());
    expect(maps.bindings.has(HOME)).toBe(true);
    table.upsertTunnel(HOME, tunnel({ careOfAddress: COA2 }));
    expect(maps.bindings.has(HOME)).toBe(false);
    expect(maps.pairs).toEqual(new Set([`${HOME}/${COA}`, `${HOME}/${COA2}`]));
    // Back to one binding: into the kernel again.
    table.removeTunnel(HOME, COA);
    expect(maps.bindings.get(HOME)?.careOf).toBe(COA2);
    expect(maps.pairs).toEqual(new Set([`${HOME}/${COA2}`]));
  });

  it('minimal encapsulation and UDP tunnels never enter ha_encap (a UDP binding no BPF map at all); a home changing to them leaves it', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT);
    sync.set({ homeAddress: OTHER_HOME, tunnels: [tunnel({ encapsulation: 'minimal' })] });
    sync.set({ homeAddress: HOME, tunnels: [tunnel({ udp: { address: ip('192.0.2.77'), port: 4500 } })] });
    expect(maps.bindings.size).toBe(0);
    // The minimal binding's reverse tunnel is decap's (IP in IP or GRE from its care-of address); the UDP one's is not.
    expect(maps.pairs).toEqual(new Set([`${OTHER_HOME}/${COA}`]));
    sync.remove(HOME);
    expect(maps.pairs).toEqual(new Set([`${OTHER_HOME}/${COA}`]));
    sync.set(entry(tunnel()));
    expect(maps.bindings.has(HOME)).toBe(true);
    sync.set(entry(tunnel({ encapsulation: 'minimal' })));
    expect(maps.bindings.has(HOME)).toBe(false);
  });

  it('a failed write (map full) is counted, reported once per kind, and the home stays on userspace; the next home is tried again', () => {
    const maps = fakeMaps({ code: 'E2BIG', times: 2 });
    const events: HomeAgentBpfEvent[] = [];
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT, (event) => events.push(event));
    sync.set(entry(tunnel()));
    sync.set({ homeAddress: OTHER_HOME, tunnels: [tunnel()] });
    expect(maps.bindings.size).toBe(0);
    expect(sync.counters.mapErrors).toEqual({ 'map-full': 2, 'update-failed': 0 });
    expect(events).toEqual([{ event: 'bpf-map-error', map: 'home_bindings', kind: 'map-full', homeAddress: HOME, message: 'bpf_map_update_elem: E2BIG' }]);
    // Room again: a later registration of the home goes in.
    sync.set(entry(tunnel({ careOfAddress: COA2 })));
    expect(maps.bindings.get(HOME)?.careOf).toBe(COA2);
  });

  it('a failed write to a home already in the kernel removes its old entry (never a stale care-of address)', () => {
    const maps = fakeMaps();
    const sync = new KernelBindingSync(maps.bindingMap, maps.reverseMap, AGENT);
    sync.set(entry(tunnel()));
    const failing = { ...maps.bindingMap, setFields: () => { throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' }); } };
    const again = new KernelBindingSync(failing, maps.reverseMap, AGENT);
    again.set(entry(tunnel()));
    // Its own record says the home is in; a move whose write fails takes it out.
    (again as unknown as { inKernel: Map<number, number> }).inKernel.set(HOME | 0, COA | 0);
    again.set(entry(tunnel({ careOfAddress: COA2 })));
    expect(maps.bindings.has(HOME)).toBe(false);
    expect(again.counters.mapErrors['update-failed']).toBe(2);
  });
});
