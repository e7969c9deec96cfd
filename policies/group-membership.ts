/**
 * Which multicast groups each mobile node away from home has joined through its home agent
 * (RFC 5944 4.4: the home agent as the node's multicast router over the tunnel). Pure: time is
 * an input (`nowMs`). A membership ends with a leave, with the node's last binding (`forget`),
 * or after the Group Membership Interval without a report: RFC 2236 8.4 / RFC 3376 8.4,
 * Robustness 2 × Query Interval 125 s + Query Response Interval 10 s = 260 s.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';

export const GROUP_MEMBERSHIP_INTERVAL_MS = 260_000;

export class GroupMembership {
  /** home address (int32) → group (int32) → expiry (ms). */
  private readonly byNode = new Map<number, Map<number, number>>();
  /** group (int32) → how many nodes hold it (expired ones until swept). */
  private readonly nodesPerGroup = new Map<number, number>();

  constructor(private readonly intervalMs = GROUP_MEMBERSHIP_INTERVAL_MS) {}

  /** Applies a report's joins (membership renewed for the interval) and leaves. */
  report(homeAddress: Ipv4Address, joins: readonly Ipv4Address[], leaves: readonly Ipv4Address[], nowMs: number): void {
    let groups = this.byNode.get(homeAddress | 0);
    for (const group of joins) {
      if (groups === undefined) this.byNode.set(homeAddress | 0, (groups = new Map()));
      if (!groups.has(group | 0)) this.nodesPerGroup.set(group | 0, (this.nodesPerGroup.get(group | 0) ?? 0) + 1);
      groups.set(group | 0, nowMs + this.intervalMs);
    }
    if (groups === undefined) return;
    for (const group of leaves) this.drop(groups, group | 0);
    if (groups.size === 0) this.byNode.delete(homeAddress | 0);
  }

  /** The node's memberships end (its last binding went). */
  forget(homeAddress: Ipv4Address): void {
    const groups = this.byNode.get(homeAddress | 0);
    if (groups === undefined) return;
    for (const group of [...groups.keys()]) this.drop(groups, group);
    this.byNode.delete(homeAddress | 0);
  }

  isMember(homeAddress: Ipv4Address, group: Ipv4Address, nowMs: number): boolean {
    const expiry = this.byNode.get(homeAddress | 0)?.get(group | 0);
    return expiry !== undefined && expiry > nowMs;
  }

  /** Whether any node may hold `group` (cheap: expired memberships count until `sweep`). */
  anyMember(group: Ipv4Address): boolean {
    return (this.nodesPerGroup.get(group | 0) ?? 0) > 0;
  }

  /** Whether any node holds any group (the home link then takes multicast frames too). */
  get empty(): boolean {
    return this.byNode.size === 0;
  }

  /** Removes the memberships whose interval ran out. */
  sweep(nowMs: number): void {
    for (const [home, groups] of this.byNode) {
      for (const [group, expiry] of groups) if (expiry <= nowMs) this.drop(groups, group);
      if (groups.size === 0) this.byNode.delete(home);
    }
  }

  /** The groups of a node, for tables and tests. */
  groupsOf(homeAddress: Ipv4Address, nowMs: number): Ipv4Address[] {
    const groups = this.byNode.get(homeAddress | 0);
    if (groups === undefined) return [];
    return [...groups].filter(([, expiry]) => expiry > nowMs).map(([group]) => group >>> 0);
  }

  private drop(groups: Map<number, number>, group: number): void {
    if (!groups.delete(group)) return;
    const count = (this.nodesPerGroup.get(group) ?? 1) - 1;
    if (count <= 0) this.nodesPerGroup.delete(group);
    else this.nodesPerGroup.set(group, count);
  }
}
