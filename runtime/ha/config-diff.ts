/**
 * What a reload changes in a home agent's tables: the mobile nodes of the old and the new
 * configuration, matched by home address, sorted into added, removed, changed (any field or
 * security context differs) and unchanged. Pure: HomeAgent.reconfigure applies the result.
 */
import { ipv4ToString } from '../../io/wire/bytes.js';
import { diffByKey, sameContexts, type KeyedDiff } from '../../policies/association-diff.js';
import type { ForeignAgentConfig, MobileNodeConfig } from './home-agent.js';

export type MobileNodeDiff = KeyedDiff<MobileNodeConfig>;

export function sameMobileNode(a: MobileNodeConfig, b: MobileNodeConfig): boolean {
  return (
    a.homeAddress === b.homeAddress &&
    a.nai === b.nai &&
    a.maxLifetime === b.maxLifetime &&
    a.maxBindings === b.maxBindings &&
    a.reverseTunnel === b.reverseTunnel &&
    a.udpTunnel === b.udpTunnel &&
    sameContexts(a.contexts, b.contexts)
  );
}

/** The mobile nodes of `next` against `current`, by home address. */
export function diffMobileNodes(current: readonly MobileNodeConfig[], next: readonly MobileNodeConfig[]): MobileNodeDiff {
  return diffByKey(current, next, (node) => node.homeAddress | 0, sameMobileNode);
}

/** Whether the foreign agents' associations differ (they hold no state: the table is swapped whole). */
export function foreignAgentsDiffer(current: readonly ForeignAgentConfig[], next: readonly ForeignAgentConfig[]): boolean {
  if (current.length !== next.length) return true;
  return current.some((fa, i) => fa.address !== next[i]!.address || !sameContexts(fa.contexts, next[i]!.contexts));
}

/** Home addresses as text, for the reload outcome and its log line. */
export function homeAddressesOf(nodes: readonly MobileNodeConfig[]): string[] {
  return nodes.map((n) => ipv4ToString(n.homeAddress));
}
