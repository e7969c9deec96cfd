/**
 * The LinkEvents service on Linux: the kernel's rtnetlink notifications (RTMGRP_LINK,
 * RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE) read by the native helper (native/link-events.c) on
 * Node's event loop, one call per batch, parsed in C. The state at the start comes from a dump;
 * a receive queue that overflowed (the kernel dropped notifications) is answered with a fresh
 * dump, and LinkStateTracker reports what changed meanwhile. No polling: a carrier change
 * reaches the handler within the event loop's next turn.
 */
import { Effect, Layer } from 'effect';
import { LinkEvents, LinkEventsError, LinkStateTracker, type InterfaceEvent, type LinkEventWatch } from '../link-events.js';
import { isNativeError, loadNative, type NativeLinkEvent } from './native.js';

export interface LinuxLinkEventsOptions {
  /** SO_RCVBUF of the subscription socket, bytes (default: the kernel's); tests make it small to provoke an overrun. */
  readonly receiveBuffer?: number;
  /** Called with each overrun the kernel reported (a fresh dump follows). */
  readonly onOverrun?: () => void;
}

function toTrackerInput(event: NativeLinkEvent) {
  switch (event.kind) {
    case 'address':
      return { ...event, address: event.address >>> 0 };
    case 'default-route':
      return { ...event, gateway: event.gateway >>> 0 };
    default:
      return event;
  }
}

export function linuxLinkEventsLayer(options: LinuxLinkEventsOptions = {}): Layer.Layer<LinkEvents> {
  return Layer.succeed(LinkEvents, {
    watch: (interfaceName: string, handler: (event: InterfaceEvent) => void, onError?: (error: LinkEventsError) => void) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const native = loadNative();
            const tracker = new LinkStateTracker(interfaceName, handler);
            const handle = native.watchLinkEvents(
              (events, error) => {
                for (const event of events) {
                  if (event.kind === 'sync' && event.phase === 'begin' && event.overrun) options.onOverrun?.();
                  tracker.feed(toTrackerInput(event));
                }
                if (error !== undefined) {
                  onError?.(new LinkEventsError({ reason: 'read', interfaceName, message: `${error.message}; the node no longer follows the interface's events` }));
                }
              },
              options.receiveBuffer !== undefined ? { receiveBuffer: options.receiveBuffer } : undefined,
            );
            // The watch alone does not keep the process alive (the daemon's sockets do).
            native.refLinkEvents(handle, false);
            const watch: LinkEventWatch & { handle: typeof handle } = { handle, state: () => tracker.state() };
            return watch;
          },
          catch: (error) =>
            new LinkEventsError({
              reason: 'unavailable',
              interfaceName,
              message: isNativeError(error)
                ? `cannot listen to the kernel's link events (${error.code}): ${error.message}`
                : `cannot listen to the kernel's link events: ${(error as Error).message}`,
            }),
        }),
        (watch) => Effect.sync(() => loadNative().stopLinkEvents(watch.handle)),
      ).pipe(Effect.map((watch): LinkEventWatch => ({ state: watch.state }))),
  });
}

export const LinuxLinkEventsLive = linuxLinkEventsLayer();
