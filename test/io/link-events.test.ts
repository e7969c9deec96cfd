/** LinkStateTracker (io/link-events.ts): changes only, and what a dump after an overrun no longer lists. */
import { describe, expect, it } from 'vitest';
import { LinkStateTracker, type InterfaceEvent } from '../../io/link-events.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { loadNative, nativeAvailable } from '../../io/linux/native.js';

const link = (up: boolean, carrier: boolean, interfaceName = 'mn0') => ({ kind: 'link' as const, interfaceName, ifindex: 3, up, carrier });
const address = (text: string, added: boolean, prefixLength = 24) => ({ kind: 'address' as const, interfaceName: 'mn0', ifindex: 3, added, address: ipv4(text), prefixLength });
const route = (text: string, added: boolean) => ({ kind: 'default-route' as const, interfaceName: 'mn0', ifindex: 3, added, gateway: ipv4(text) });

function tracked(): { tracker: LinkStateTracker; events: InterfaceEvent[] } {
  const events: InterfaceEvent[] = [];
  return { tracker: new LinkStateTracker('mn0', (e) => events.push(e)), events };
}

describe('LinkStateTracker', () => {
  it('reports the first link state even when down, then changes only, and ignores other interfaces', () => {
    const { tracker, events } = tracked();
    tracker.feed(link(false, false));
    tracker.feed(link(false, false));
    tracker.feed(link(true, false));
    tracker.feed(link(true, true, 'eth9'));
    tracker.feed(address('203.0.113.70', true));
    tracker.feed(address('203.0.113.70', true));
    expect(events).toEqual([link(false, false), link(true, false), address('203.0.113.70', true)]);
    expect(tracker.state()).toMatchObject({ up: true, carrier: false, addresses: [{ address: ipv4('203.0.113.70'), prefixLength: 24 }] });
  });

  it('reports the removal of an address only when it was known', () => {
    const { tracker, events } = tracked();
    tracker.feed(address('203.0.113.70', false));
    expect(events).toEqual([]);
    tracker.feed(address('203.0.113.70', true));
    tracker.feed(address('203.0.113.70', false));
    expect(events).toEqual([address('203.0.113.70', true), address('203.0.113.70', false)]);
  });

  it('after a dump (sync begin..end) reports gone what the dump did not list, and nothing twice', () => {
    const { tracker, events } = tracked();
    tracker.feed(link(true, true));
    tracker.feed(address('203.0.113.70', true));
    tracker.feed(address('203.0.113.71', true));
    tracker.feed(route('203.0.113.65', true));
    events.length = 0;
    tracker.feed({ kind: 'sync', phase: 'begin' });
    tracker.feed(link(true, true));
    tracker.feed(address('203.0.113.71', true));
    tracker.feed(address('203.0.113.72', true));
    tracker.feed({ kind: 'sync', phase: 'end' });
    expect(events).toEqual([address('203.0.113.72', true), address('203.0.113.70', false), route('203.0.113.65', false)]);
  });

  it('drops the default routes when the interface goes administratively down (Linux removes them silently)', () => {
    const { tracker, events } = tracked();
    tracker.feed(link(true, true));
    tracker.feed(route('203.0.113.65', true));
    events.length = 0;
    tracker.feed(link(true, false));
    expect(events).toEqual([link(true, false)]);
    tracker.feed(link(false, false));
    expect(events).toEqual([link(true, false), link(false, false), route('203.0.113.65', false)]);
  });
});

describe.skipIf(!nativeAvailable())('watchLinkEvents hardening', () => {
  it('refuses a handle that is not a link watch and a negative receive buffer', () => {
    const native = loadNative();
    expect(() => native.stopLinkEvents({} as never)).toThrow(TypeError);
    expect(() => native.refLinkEvents(42 as never, true)).toThrow(TypeError);
    expect(() => native.watchLinkEvents(undefined as never)).toThrow(TypeError);
    expect(() => native.watchLinkEvents(() => {}, { receiveBuffer: -1 })).toThrow(RangeError);
    const watch = native.watchLinkEvents(() => {});
    native.stopLinkEvents(watch);
    native.stopLinkEvents(watch);
  });
});

describe('simulated link events (io/sim/link-events.ts)', () => {
  it('reports the state at start, then link down/up, addresses and default routes of the watched interface', async () => {
    const { Effect } = await import('effect');
    const { SimNetwork } = await import('../../io/sim/network.js');
    const { simLinkEventsLayer } = await import('../../io/sim/link-events.js');
    const { LinkEvents } = await import('../../io/link-events.js');
    const { SimulatedClock } = await import('../../io/clock.js');
    const network = new SimNetwork({ clock: new SimulatedClock() });
    const segment = network.addSegment('foreign');
    const host = network.addHost('mn');
    host.addInterface('eth0', segment, { address: ipv4('203.0.113.10'), prefixLength: 26 });
    const events: InterfaceEvent[] = [];
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* (yield* LinkEvents).watch('eth0', (e) => events.push(e));
          host.setLinkUp('eth0', false);
          host.setLinkUp('eth0', true);
          host.addAddress('eth0', ipv4('203.0.113.70'), 26);
          host.addRoute(0, 0, { via: ipv4('203.0.113.65'), interface: 'eth0' });
          host.removeAddress('eth0', ipv4('203.0.113.70'));
        }),
      ).pipe(Effect.provide(simLinkEventsLayer(host))),
    );
    // After the scope closed nothing more is reported.
    host.addAddress('eth0', ipv4('203.0.113.71'), 26);
    const ifindex = host.ifindexOf('eth0');
    const on = { interfaceName: 'eth0', ifindex };
    expect(events).toEqual([
      { kind: 'link', ...on, up: true, carrier: true },
      { kind: 'address', ...on, added: true, address: ipv4('203.0.113.10'), prefixLength: 26 },
      { kind: 'link', ...on, up: false, carrier: false },
      { kind: 'link', ...on, up: true, carrier: true },
      { kind: 'address', ...on, added: true, address: ipv4('203.0.113.70'), prefixLength: 26 },
      { kind: 'default-route', ...on, added: true, gateway: ipv4('203.0.113.65') },
      { kind: 'address', ...on, added: false, address: ipv4('203.0.113.70'), prefixLength: 26 },
    ]);
  });
});
