/**
 * The kernel's link and address events through the native helper (native/link-events.c,
 * io/linux/link-events.ts), in a network namespace of this test: a veth pair whose far end
 * going down takes the near end's carrier (IFF_LOWER_UP) with it, `ip addr add/del` and a
 * default route. Each wait is bounded; the namespace goes in afterAll, also on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ip, linuxSkipReason, Namespaces, Peer, titled, type PeerEvent } from './netns.js';

const skip = linuxSkipReason();
const NS = `mip4le${process.pid}`;
const namespaces = new Namespaces();
const SCRIPT = 'test/linux/link-events-peer.ts';

const linkEvent = (fields: Record<string, unknown>) => (e: PeerEvent) =>
  e.event === 'link-event' && Object.entries(fields).every(([k, v]) => e[k] === v);

describe.skipIf(skip !== undefined)('Linux link events (rtnetlink, no polling)', () => {
  beforeAll(() => {
    ensureBuilt();
    namespaces.add(NS);
    namespaces.veth({ ns: NS, name: 'mn0', cidr: '203.0.113.10/26' }, { ns: NS, name: 'sw0', cidr: '203.0.113.11/26' });
    namespaces.veth({ ns: NS, name: 'other0', cidr: '192.0.2.1/28' }, { ns: NS, name: 'other1', cidr: '192.0.2.2/28' });
  });
  afterAll(() => namespaces.cleanup());

  it(titled('reports the state at start, carrier down/up, admin down, addresses added and removed and a default route, for its interface only', skip), async () => {
    const peer = new Peer(NS, 'watch', ['mn0'], [], SCRIPT);
    try {
      await peer.waitFor('ready');
      // The state at start (the dump): up with carrier, and its address.
      expect(peer.events.find(linkEvent({ kind: 'link', interfaceName: 'mn0' }))).toMatchObject({ up: true, carrier: true });
      expect(peer.events.find(linkEvent({ kind: 'address', address: '203.0.113.10' }))).toMatchObject({ added: true, prefixLength: 26, interfaceName: 'mn0' });

      ip('-n', NS, 'link', 'set', 'sw0', 'down');
      await peer.waitUntil(linkEvent({ kind: 'link', up: true, carrier: false }), 'carrier lost');
      ip('-n', NS, 'link', 'set', 'sw0', 'up');
      await peer.waitUntil(linkEvent({ kind: 'link', up: true, carrier: true }), 'carrier back');

      ip('-n', NS, 'addr', 'add', '203.0.113.70/26', 'dev', 'mn0');
      const added = await peer.waitUntil(linkEvent({ kind: 'address', address: '203.0.113.70', added: true }), 'address added');
      expect(added).toMatchObject({ prefixLength: 26, interfaceName: 'mn0' });
      expect(typeof added.ifindex).toBe('number');
      ip('-n', NS, 'route', 'add', 'default', 'via', '203.0.113.1', 'dev', 'mn0');
      await peer.waitUntil(linkEvent({ kind: 'default-route', gateway: '203.0.113.1', added: true }), 'default route added');
      ip('-n', NS, 'addr', 'del', '203.0.113.70/26', 'dev', 'mn0');
      await peer.waitUntil(linkEvent({ kind: 'address', address: '203.0.113.70', added: false }), 'address removed');

      // Another interface's changes are not reported.
      ip('-n', NS, 'addr', 'add', '192.0.2.9/32', 'dev', 'other0');
      ip('-n', NS, 'link', 'set', 'mn0', 'down');
      await peer.waitUntil(linkEvent({ kind: 'link', up: false, carrier: false }), 'admin down');
      expect(peer.events.some((e) => e.interfaceName === 'other0' || e.address === '192.0.2.9')).toBe(false);
      // Bringing the link down took its default route with it.
      await peer.waitUntil(linkEvent({ kind: 'default-route', gateway: '203.0.113.1', added: false }), 'default route gone');
      ip('-n', NS, 'link', 'set', 'mn0', 'up');
      await peer.waitUntil(linkEvent({ kind: 'link', up: true, carrier: true }), 'up again');
      peer.tell('exit');
      await peer.waitFor('done');
      expect(peer.events.filter((e) => e.event === 'error')).toEqual([]);
    } finally {
      peer.stop();
    }
  });

  it(titled('after an overrun (ENOBUFS) a fresh dump gives the right addresses, removals lost in the overflow included', skip), async () => {
    const count = 200;
    const peer = new Peer(NS, 'overrun', ['mn0', String(count)], [], SCRIPT);
    try {
      const settled = await peer.waitFor('settled');
      expect(settled.overruns).toBeGreaterThanOrEqual(1);
      const expected = Array.from({ length: count }, (_, i) => i)
        .filter((i) => i % 2 === 1)
        .map((i) => `198.51.100.${i + 1}`);
      const present = ip('-n', NS, '-4', '-o', 'addr', 'show', 'dev', 'mn0');
      const kernel = [...present.matchAll(/inet (198\.51\.100\.\d+)\//g)].map((m) => m[1]!);
      expect([...kernel].sort()).toEqual([...expected].sort());
      expect(settled.addresses).toEqual([...expected, '203.0.113.10'].sort());
      // The events reported add up to the same state: what was announced added and not removed.
      const live = new Set<string>();
      for (const e of peer.events) {
        if (e.event !== 'link-event' || e.kind !== 'address') continue;
        if (e.added) live.add(e.address as string);
        else live.delete(e.address as string);
      }
      expect([...live].sort()).toEqual(settled.addresses);
    } finally {
      peer.stop();
      ip('-n', NS, 'addr', 'flush', 'dev', 'mn0', 'to', '198.51.100.0/24');
    }
  });
});
