/**
 * The LinkEvents service on the simulated network: a SimHost's link up/down, addresses added and
 * removed and default routes, as the Linux layer reports them (io/linux/link-events.ts): the
 * state at the start first, then each change, through the same LinkStateTracker.
 */
import { Effect, Layer } from 'effect';
import { LinkEvents, LinkEventsError, LinkStateTracker, type InterfaceEvent } from '../link-events.js';
import type { SimHost } from './ip-host.js';

export function simLinkEventsLayer(host: SimHost): Layer.Layer<LinkEvents> {
  return Layer.succeed(LinkEvents, {
    watch: (interfaceName: string, handler: (event: InterfaceEvent) => void) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const iface = host.interfaces.find((i) => i.name === interfaceName);
          if (iface === undefined) {
            return Effect.fail(new LinkEventsError({ reason: 'unavailable', interfaceName, message: `host ${host.name} has no interface "${interfaceName}"` }));
          }
          const tracker = new LinkStateTracker(interfaceName, handler);
          const ifindex = host.ifindexOf(interfaceName);
          tracker.feed({ kind: 'sync', phase: 'begin' });
          tracker.feed({ kind: 'link', interfaceName, ifindex, up: iface.up, carrier: iface.up });
          for (const a of iface.addresses) tracker.feed({ kind: 'address', interfaceName, ifindex, added: true, address: a.address, prefixLength: a.prefixLength });
          for (const r of host.routes) {
            if (r.prefixLength === 0 && r.via !== undefined && r.interface === interfaceName) {
              tracker.feed({ kind: 'default-route', interfaceName, ifindex, added: true, gateway: r.via });
            }
          }
          tracker.feed({ kind: 'sync', phase: 'end' });
          const unsubscribe = host.onInterfaceEvent((event) => tracker.feed(event));
          return Effect.succeed({ unsubscribe, state: () => tracker.state() });
        }),
        (watch) => Effect.sync(() => watch.unsubscribe()),
      ).pipe(Effect.map((watch) => ({ state: watch.state }))),
  });
}
