/**
 * `mip4 lab up --ingress-filter`: the router's BCP 38 ingress filter (plan.ts,
 * ingressFilterRuleset) loaded with nftables into the router's namespace, and its drop counters
 * read back for `mip4 lab status` and the traffic harness. The table lives in the namespace, so
 * `mip4 lab down` removes it with the namespace.
 */
import { spawnSync } from 'node:child_process';
import { INGRESS_TABLE, ingressCounterName, ingressFilterRuleset, ingressPrefixes, type Segment } from './plan.js';

/** Why the filter cannot be loaded here (no `nft`), or undefined. */
export function ingressFilterToolProblem(): string | undefined {
  const probe = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (probe.error !== undefined || probe.status !== 0) return '--ingress-filter needs nftables (the `nft` command): install it, e.g. apt-get install nftables';
  return undefined;
}

/** Loads the ruleset into `namespace`; the error text of nft, or undefined on success. */
export function loadIngressFilter(namespace: string, nat = false): string | undefined {
  const result = spawnSync('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], { input: ingressFilterRuleset(nat), encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) return result.error.message;
  return result.status === 0 ? undefined : (result.stderr ?? '').trim() || `nft exited with ${result.status}`;
}

/** Drops on one router interface: datagrams whose source is outside its segment. */
export interface IngressDrops {
  readonly device: string;
  readonly segment: Segment | 'correspondent';
  readonly prefix: string;
  readonly packets: number;
  readonly bytes: number;
}

/**
 * Reads the counters from `nft -j list counters table ip …` output (pure): one entry per router
 * interface of the plan, in its order; undefined when the table holds none of them.
 */
export function ingressDropsFromJson(json: string, nat = false): IngressDrops[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  const items = (parsed as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) return undefined;
  const counters = new Map<string, { packets: number; bytes: number }>();
  for (const item of items) {
    const counter = (item as { counter?: { name?: unknown; table?: unknown; packets?: unknown; bytes?: unknown } })?.counter;
    if (counter === undefined || counter.table !== INGRESS_TABLE || typeof counter.name !== 'string') continue;
    counters.set(counter.name, { packets: Number(counter.packets ?? 0), bytes: Number(counter.bytes ?? 0) });
  }
  if (counters.size === 0) return undefined;
  return ingressPrefixes(nat).map((p) => ({ device: p.device, segment: p.segment, prefix: p.prefix, ...(counters.get(ingressCounterName(p.device)) ?? { packets: 0, bytes: 0 }) }));
}

/** The filter's counters in `namespace` now, or undefined when no filter is loaded there. */
export function readIngressDrops(namespace: string, nat = false): IngressDrops[] | undefined {
  const result = spawnSync('ip', ['netns', 'exec', namespace, 'nft', '-j', 'list', 'counters', 'table', 'ip', INGRESS_TABLE], { encoding: 'utf8', timeout: 5_000 });
  if (result.error !== undefined || result.status !== 0) return undefined;
  return ingressDropsFromJson(result.stdout, nat);
}

/** One line for `mip4 lab status`. */
export function ingressFilterText(drops: readonly IngressDrops[] | undefined): string {
  if (drops === undefined) return 'ingress filter: off (the router forwards any source)';
  const parts = drops.map((d) => `${d.device} ${d.packets}`);
  return `ingress filter: on (router drops sources outside the arriving segment, BCP 38); dropped: ${parts.join(', ')}`;
}
