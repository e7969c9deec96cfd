/**
 * What an agent shows the live inspector (runtime/inspector/) of one actor host: the chart it
 * runs, per-state counts, a bounded search over its actors, and one actor's transitions. Rows
 * carry only the fields an agent picks (addresses, lifetimes, identifications): never a key or
 * an authenticator, so an agent cannot leak one by adding a context field.
 */
import type { TransitionRecord } from './actor-host.js';

export interface InspectedActorRow {
  readonly id: string;
  /** The state as transition records name it (`registered.timed`). */
  readonly state: string;
  /** Shown in the table and searched; strings the agent chose, never a secret. */
  readonly fields: Readonly<Record<string, string>>;
}

export interface InspectedHost {
  /** The chart (as `mip4 chart` names it: ha, fa-visitor, fa-pending, fa-advertiser, mn-discovery, mn-registration). */
  readonly chart: string;
  /** What these actors are, for the table: 'binding', 'visitor', 'pending registration', … */
  readonly kind: string;
  readonly size: () => number;
  readonly stateCounts: () => ReadonlyMap<string, number>;
  /** Up to `limit` actors whose id or a field contains `query` (case-insensitive; '' matches all). */
  readonly rows: (query: string, limit: number) => InspectedActorRow[];
  readonly watch: (actorId: string, listener: (record: TransitionRecord) => void) => () => void;
}

/** Whether a row matches a table search (`query` already lower-case). */
export function rowMatches(row: InspectedActorRow, query: string): boolean {
  if (query === '') return true;
  if (row.id.toLowerCase().includes(query) || row.state.toLowerCase().includes(query)) return true;
  for (const value of Object.values(row.fields)) if (value.toLowerCase().includes(query)) return true;
  return false;
}

/**
 * How many actors one search looks at, at most: a search the page repeats must not walk a
 * million bindings each time (the agent's turn would wait for it). Ids are searched first.
 */
export const MAX_SCANNED_PER_SEARCH = 100_000;

/**
 * Rows of `actors` matching `query`, at most `limit`, looking at no more than
 * MAX_SCANNED_PER_SEARCH actors: a search over a million bindings costs a bounded walk.
 */
export function searchActors<T>(
  actors: Iterable<T>,
  query: string,
  limit: number,
  idOf: (actor: T) => string,
  rowOf: (actor: T) => InspectedActorRow,
): InspectedActorRow[] {
  const needle = query.toLowerCase();
  const found: InspectedActorRow[] = [];
  let scanned = 0;
  for (const actor of actors) {
    if (found.length >= limit || scanned++ >= MAX_SCANNED_PER_SEARCH) break;
    if (needle === '' || idOf(actor).toLowerCase().includes(needle)) {
      found.push(rowOf(actor));
      continue;
    }
    const row = rowOf(actor);
    if (rowMatches(row, needle)) found.push(row);
  }
  return found;
}

/** The parts of an ActorHost the inspector reads. */
export interface InspectableActorHost {
  readonly size: number;
  stateCounts(): ReadonlyMap<string, number>;
  watch(actorId: string, listener: (record: TransitionRecord) => void): () => void;
}

/** An InspectedHost over `host`, its live actors and the row an agent makes of one. */
export function inspectHost<T extends { readonly id: string }>(
  chart: string,
  kind: string,
  host: InspectableActorHost,
  actors: () => Iterable<T>,
  rowOf: (actor: T) => InspectedActorRow,
): InspectedHost {
  return {
    chart,
    kind,
    size: () => host.size,
    stateCounts: () => host.stateCounts(),
    rows: (query, limit) => searchActors(actors(), query, limit, (actor) => actor.id, rowOf),
    watch: (actorId, listener) => host.watch(actorId, listener),
  };
}
