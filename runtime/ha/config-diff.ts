/**
 * What a reload changes in a home agent's tables: the mobile nodes of the old and the new
 * configuration, matched by home address, sorted into added, removed, changed (any field or
 * security context differs) and unchanged. Pure: HomeAgent.reconfigure applies the result.
 */
import { ipv4ToString } from '../../io/wire/bytes.js';
import type { MobilitySecurityContext } from '../../policies/security-association.js';
import type { ForeignAgentConfig, MobileNodeConfig } from './home-agent.js';

export interface MobileNodeDiff {
  readonly added: readonly MobileNodeConfig[];
  readonly removed: readonly MobileNodeConfig[];
  /** The new entries of nodes whose entry differs. */
  readonly changed: readonly MobileNodeConfig[];
  readonly unchanged: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameContexts(a: readonly MobilitySecurityContext[], b: readonly MobilitySecurityContext[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return x.spi === y.spi && x.algorithm === y.algorithm && x.replay === y.replay && x.replayWindowSeconds === y.replayWindowSeconds && sameBytes(x.key, y.key);
  });
}

export function sameMobileNode(a: MobileNodeConfig, b: MobileNodeConfig): boolean {
  return (
    a.homeAddress === b.homeAddress &&
    a.nai === b.nai &&
    a.maxLifetime === b.maxLifetime &&
    a.maxBindings === b.maxBindings &&
    sameContexts(a.contexts, b.contexts)
  );
}

/** The mobile nodes of `next` against `current`, by home address. */
export function diffMobileNodes(current: readonly MobileNodeConfig[], next: readonly MobileNodeConfig[]): MobileNodeDiff {
  const before = new Map<number, MobileNodeConfig>();
  for (const node of current) before.set(node.homeAddress | 0, node);
  const added: MobileNodeConfig[] = [];
  const changed: MobileNodeConfig[] = [];
  let unchanged = 0;
  for (const node of next) {
    const old = before.get(node.homeAddress | 0);
    if (old === undefined) added.push(node);
    else if (sameMobileNode(old, node)) unchanged++;
    else changed.push(node);
    before.delete(node.homeAddress | 0);
  }
  return { added, removed: [...before.values()], changed, unchanged };
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
