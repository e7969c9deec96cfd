/**
 * Runs a KernelFollower (kernel-follower.ts) on a LinkEvents layer for a running mobile node:
 * the watch lives in its own Scope, closed by `close()`. A watch that cannot start or fails
 * later is logged (`link-events-unavailable`); the node keeps running on Advertisements alone.
 */
import { Effect, Exit, Layer, Scope } from 'effect';
import { LinkEvents } from '../../io/link-events.js';
import type { MobileNode, MobileNodeConfig } from './mobile-node.js';
import { KernelFollower } from './kernel-follower.js';

export interface KernelEventsHandle {
  close(): Promise<void>;
}

export async function followKernelEvents(
  node: MobileNode,
  config: MobileNodeConfig,
  layer: Layer.Layer<LinkEvents>,
  log: (event: object) => void,
): Promise<KernelEventsHandle> {
  const follower = new KernelFollower(
    node,
    {
      homeAddress: config.homeAddress,
      homeNetwork: config.homeNetwork,
      homePrefixLength: config.homePrefixLength,
      ...(config.colocated !== undefined ? { staticColocated: config.colocated.address } : {}),
    },
    log,
  );
  const scope = Effect.runSync(Scope.make());
  const started = await Effect.runPromiseExit(
    Scope.extend(
      Effect.flatMap(LinkEvents, (events) =>
        events.watch(
          config.interfaceName,
          (event) => follower.handle(event),
          (error) => log({ event: 'link-events-unavailable', interface: config.interfaceName, reason: error.reason, detail: error.message }),
        ),
      ),
      scope,
    ).pipe(Effect.provide(layer)),
  );
  if (Exit.isFailure(started)) {
    const failure = started.cause._tag === 'Fail' ? started.cause.error : undefined;
    log({ event: 'link-events-unavailable', interface: config.interfaceName, ...(failure !== undefined ? { reason: failure.reason, detail: failure.message } : {}) });
  }
  return { close: () => Effect.runPromise(Scope.close(scope, Exit.void)) };
}
