/**
 * The tc-BPF loader's maps, counters, capability check, and its cleanup: a closed instance and
 * a crashed one's leftovers leave no tc filter and no pin behind.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECAP_COUNTERS, DEFAULT_PIN_ROOT, HA_ENCAP_COUNTERS, missingBpfCapabilities, BpfInstance } from '../../io/linux/bpf.js';
import { Namespaces, titled, ROOT } from './netns.js';
import { BpfPeer, bpfSkipReason, inNet } from './bpf-support.js';

const skip = bpfSkipReason();
const id = process.pid;

/** The names of an enum's members in native/bpf/mip4_bpf.h, in order, up to the count member. */
function headerEnum(prefix: string): string[] {
  const header = readFileSync(`${ROOT}native/bpf/mip4_bpf.h`, 'utf8');
  const names: Array<[string, number]> = [];
  for (const match of header.matchAll(new RegExp(`\\b${prefix}([A-Z0-9_]+) = (\\d+)`, 'g'))) names.push([match[1]!, Number(match[2])]);
  return names
    .filter(([name]) => name !== 'COUNTERS')
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name.toLowerCase().replaceAll('_', '-'));
}

describe('BPF capabilities and counter names', () => {
  const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

  it('names the missing capabilities from the effective set: CAP_BPF (39) and CAP_NET_ADMIN (12)', () => {
    expect(missingBpfCapabilities(status('000001ffffffffff'))).toEqual([]);
    expect(missingBpfCapabilities(status('0000000000000000'))).toEqual(['CAP_BPF', 'CAP_NET_ADMIN']);
    expect(missingBpfCapabilities(status((1n << 39n).toString(16).padStart(16, '0')))).toEqual(['CAP_NET_ADMIN']);
    expect(missingBpfCapabilities(status((1n << 12n).toString(16).padStart(16, '0')))).toEqual(['CAP_BPF']);
    expect(missingBpfCapabilities('Name:\tnode\n')).toEqual(['CAP_BPF', 'CAP_NET_ADMIN']);
  });

  it('the counter names follow native/bpf/mip4_bpf.h, index for index', () => {
    expect(HA_ENCAP_COUNTERS).toEqual(headerEnum('MIP4_HA_'));
    expect(DECAP_COUNTERS).toEqual(headerEnum('MIP4_DECAP_'));
  });

  it('an instance name that is no folder name is refused, naming the field', () => {
    expect(() => BpfInstance.open({ instance: '../etc' })).toThrow(/instance: "\.\.\/etc" is not a folder name/);
  });
});

describe.skipIf(skip !== undefined)('BPF maps, pins and cleanup in a namespace', () => {
  const namespaces = new Namespaces();
  const NS = `m4bmap${id}`;
  const peers: BpfPeer[] = [];

  function peer(): BpfPeer {
    const created = new BpfPeer(NS);
    peers.push(created);
    return created;
  }

  function filters(device: string): string {
    const result = inNet(NS, 'tc', ['filter', 'show', 'dev', device, 'ingress']);
    return result.stdout.trim();
  }

  beforeAll(() => {
    namespaces.add(NS);
    namespaces.veth({ ns: NS, name: 'm0', cidr: '192.0.2.1/30' }, { ns: NS, name: 'm1', cidr: '192.0.2.2/30' });
  });

  afterAll(() => {
    for (const p of peers) p.peer.stop();
    namespaces.cleanup();
    // Pins outlive a killed peer (after a failure); the namespace's filters went with it.
    for (const instance of ['maps', 'closed', 'crashed']) rmSync(`${DEFAULT_PIN_ROOT}/test-${instance}-${id}`, { recursive: true, force: true });
  });

  it(titled('home_bindings, care_of_addresses and visitors: set, get, replace, delete, keys, clear; counters start at 0', skip), async () => {
    const p = peer();
    await p.ready();
    await p.call('open', { instance: `test-maps-${id}` });
    await p.call('load', { program: 'ha_encap' });
    await p.call('load', { program: 'decap' });
    expect(await p.call('getBinding', { home: '192.0.2.10' })).toBeNull();
    await p.call('setBinding', { home: '192.0.2.10', careOf: '203.0.113.7', source: '198.51.100.1', encapsulation: 'gre', mtu: 1400 });
    expect(await p.call('getBinding', { home: '192.0.2.10' })).toEqual({ careOfAddress: 0xcb007107, tunnelSource: 0xc6336401, tunnelMtu: 1400, encapsulation: 'gre' });
    await p.call('setBinding', { home: '192.0.2.10', careOf: '203.0.113.8', source: '198.51.100.1' });
    expect(await p.call('getBinding', { home: '192.0.2.10' })).toEqual({ careOfAddress: 0xcb007108, tunnelSource: 0xc6336401, tunnelMtu: 0, encapsulation: 'ip-in-ip' });
    await p.call('setBinding', { home: '192.0.2.11', careOf: '203.0.113.9', source: '198.51.100.1' });
    expect((await p.call<number[]>('bindingKeys')).sort()).toEqual([0xc000020a, 0xc000020b]);
    expect(await p.call('deleteBinding', { home: '192.0.2.10' })).toBe(true);
    expect(await p.call('deleteBinding', { home: '192.0.2.10' })).toBe(false);
    expect(await p.call('getBinding', { home: '192.0.2.10' })).toBeNull();
    expect(await p.call('clearBindings')).toBe(1);
    expect(await p.call('bindingKeys')).toEqual([]);

    expect(await p.call('getCareOf', { address: '203.0.113.2' })).toBeNull();
    await p.call('setCareOf', { address: '203.0.113.2', role: 'co-located' });
    expect(await p.call('getCareOf', { address: '203.0.113.2' })).toBe('co-located');
    await p.call('setCareOf', { address: '203.0.113.2', role: 'foreign-agent' });
    expect(await p.call('getCareOf', { address: '203.0.113.2' })).toBe('foreign-agent');
    expect(await p.call('deleteCareOf', { address: '203.0.113.2' })).toBe(true);
    expect(await p.call('getCareOf', { address: '203.0.113.2' })).toBeNull();

    await p.call('setVisitor', { home: '192.0.2.20', interface: 'm1', visitorMac: '02:00:00:00:00:14', ownMac: '02:00:00:00:00:01' });
    const visitor = await p.call<{ ifindex: number; visitorMac: string; ownMac: string }>('getVisitor', { home: '192.0.2.20' });
    expect(visitor.visitorMac).toBe('02:00:00:00:00:14');
    expect(visitor.ownMac).toBe('02:00:00:00:00:01');
    expect(visitor.ifindex).toBeGreaterThan(0);
    await expect(p.call('setVisitor', { home: '192.0.2.21', interface: 'm1', visitorMac: '02:00:00:00:14', ownMac: '02:00:00:00:00:01' })).rejects.toThrow(
      /visitorMac: "02:00:00:00:14" is not a MAC address/,
    );
    await expect(p.call('settings', { tunnelMtu: 70_000, outerTtl: 0 })).rejects.toThrow(/tunnelMtu: 70000 is not 0 to 65535/);
    expect(await p.call('deleteVisitor', { home: '192.0.2.20' })).toBe(true);

    const ha = await p.call<Record<string, number>>('counters', { program: 'ha_encap' });
    expect(Object.keys(ha)).toEqual([...HA_ENCAP_COUNTERS]);
    expect(Object.values(ha).every((value) => value === 0)).toBe(true);
    const decap = await p.call<Record<string, number>>('counters', { program: 'decap' });
    expect(Object.keys(decap)).toEqual([...DECAP_COUNTERS]);

    // Reported, not a bar (speed is measured in bench/): one update through the addon.
    const timing = await p.call<{ microsecondsPerUpdate: number }>('timeUpdates', { count: 20_000 });
    console.log(`home_bindings update from JavaScript: ${timing.microsecondsPerUpdate.toFixed(2)} µs`);
    await p.call('close');
    expect(existsSync(`${DEFAULT_PIN_ROOT}/test-maps-${id}`)).toBe(false);
  }, 40_000);

  it(titled('close detaches its tc filter and removes its pins: tc filter show and /sys/fs/bpf/mip4 are empty of it', skip), async () => {
    const p = peer();
    await p.ready();
    const { folder } = await p.call<{ folder: string }>('open', { instance: `test-closed-${id}` });
    await p.call('load', { program: 'ha_encap' });
    await p.call('attach', { program: 'ha_encap', interface: 'm0' });
    expect(filters('m0')).toContain('ha_encap');
    expect(existsSync(`${folder}/ha_encap/program`)).toBe(true);
    expect(existsSync(`${folder}/ha_encap/map-home_bindings`)).toBe(true);
    await p.call('close');
    expect(filters('m0')).toBe('');
    expect(existsSync(folder)).toBe(false);
  }, 30_000);

  it(titled('a crashed run leaves a filter and pins; the next open of that instance removes them and leaves other filters alone', skip), async () => {
    // Somebody else's filter on the same hook, at another priority: it must survive the cleanup.
    const other = inNet(NS, 'tc', ['filter', 'add', 'dev', 'm1', 'ingress', 'pref', '1', 'bpf', 'da', 'obj', `${ROOT}native/bpf/dist/decap.bpf.o`, 'sec', 'tc']);
    if (other.status !== 0) {
      // clsact first, then the filter.
      inNet(NS, 'tc', ['qdisc', 'add', 'dev', 'm1', 'clsact']);
      const again = inNet(NS, 'tc', ['filter', 'add', 'dev', 'm1', 'ingress', 'pref', '1', 'bpf', 'da', 'obj', `${ROOT}native/bpf/dist/decap.bpf.o`, 'sec', 'tc']);
      expect(again.status, again.stderr).toBe(0);
    }
    const crashed = peer();
    await crashed.ready();
    const { folder } = await crashed.call<{ folder: string }>('open', { instance: `test-crashed-${id}` });
    await crashed.call('load', { program: 'ha_encap' });
    await crashed.call('attach', { program: 'ha_encap', interface: 'm1' });
    crashed.peer.tell(JSON.stringify({ id: 99, op: 'crash' }));
    await crashed.peer.exit();
    expect(filters('m1')).toContain('ha_encap');
    expect(existsSync(`${folder}/ha_encap/program`)).toBe(true);

    const restarted = peer();
    await restarted.ready();
    const { staleRemoved } = await restarted.call<{ staleRemoved: number }>('open', { instance: `test-crashed-${id}` });
    // The filter, and the pins: program, two maps of its own, the counters, the attachment.
    expect(staleRemoved).toBeGreaterThanOrEqual(2);
    expect(filters('m1')).not.toContain('ha_encap');
    expect(filters('m1')).toContain('pref 1 ');
    expect(existsSync(`${folder}/ha_encap`)).toBe(false);
    await restarted.call('close');
    expect(existsSync(folder)).toBe(false);
  }, 40_000);
});
