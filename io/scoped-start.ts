/**
 * How an agent's start turns an Effect that acquires resources into a Promise: the resources
 * live in one scope that the caller closes at stop, and a failed start closes what it had
 * opened before rejecting, so nothing stays open.
 */
import { Cause, Effect, Exit, Option, Scope } from 'effect';
import type { LinkError } from './link.js';
import type { RouteError } from './linux/routes.js';
import type { MnHostError } from './mn-host.js';
import type { PacketTapError } from './packet-tap.js';
import type { RawIpError } from './raw-ip.js';
import type { TunError } from './tun.js';
import type { UdpError } from './udp.js';

/** The tagged failures of the IO services an agent opens at start; switch on `_tag`. */
export type StartError = UdpError | LinkError | RawIpError | TunError | RouteError | MnHostError | PacketTapError;

const START_ERROR_TAGS: ReadonlySet<string> = new Set<StartError['_tag']>([
  'UdpError',
  'LinkError',
  'RawIpError',
  'TunError',
  'RouteError',
  'MnHostError',
  'PacketTapError',
]);

export function isStartError(error: unknown): error is StartError {
  return error instanceof Error && START_ERROR_TAGS.has((error as { readonly _tag?: unknown })._tag as string);
}

export interface OpenedInScope<A> {
  readonly value: A;
  /** Releases everything the effect acquired, in reverse order. Idempotent. */
  close(): Promise<void>;
}

/**
 * Runs `effect` in a fresh scope. Resolves with its value and the scope's close; rejects with
 * the effect's failure `E` (a defect or interruption: the squashed cause) after closing the
 * scope.
 */
export async function openInScope<A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<OpenedInScope<A>> {
  const scope = Effect.runSync(Scope.make());
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= Effect.runPromise(Scope.close(scope, Exit.void)));
  const exit = await Effect.runPromiseExit(Scope.extend(effect, scope));
  if (Exit.isFailure(exit)) {
    await close();
    throw Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause));
  }
  return { value: exit.value, close };
}
