/**
 * Comparing security associations and keyed peer tables, for a reload: which peers a new
 * configuration adds, removes or changes. Pure; the agents apply the result.
 */
import type { MobilitySecurityContext } from './security-association.js';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two lists of security contexts are the same, in order (SPI, algorithm, key, replay method and window). */
export function sameContexts(a: readonly MobilitySecurityContext[], b: readonly MobilitySecurityContext[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return x.spi === y.spi && x.algorithm === y.algorithm && x.replay === y.replay && x.replayWindowSeconds === y.replayWindowSeconds && sameBytes(x.key, y.key);
  });
}

export interface KeyedDiff<T> {
  readonly added: readonly T[];
  readonly removed: readonly T[];
  /** The new entries of keys whose entry differs. */
  readonly changed: readonly T[];
  readonly unchanged: number;
}

/** The entries of `next` against `current`, matched by `keyOf`, compared with `same`. */
export function diffByKey<T>(current: readonly T[], next: readonly T[], keyOf: (entry: T) => number, same: (a: T, b: T) => boolean): KeyedDiff<T> {
  const before = new Map<number, T>();
  for (const entry of current) before.set(keyOf(entry), entry);
  const added: T[] = [];
  const changed: T[] = [];
  let unchanged = 0;
  for (const entry of next) {
    const key = keyOf(entry);
    const old = before.get(key);
    if (old === undefined) added.push(entry);
    else if (same(old, entry)) unchanged++;
    else changed.push(entry);
    before.delete(key);
  }
  return { added, removed: [...before.values()], changed, unchanged };
}
