/** Per-node group membership at the home agent (policies/group-membership.ts, RFC 5944 4.4, RFC 2236 8.4). */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { GROUP_MEMBERSHIP_INTERVAL_MS, GroupMembership } from '../../policies/group-membership.js';

const HOME = ipv4('198.51.100.10');
const OTHER = ipv4('198.51.100.11');
const G1 = ipv4('224.1.2.3');
const G2 = ipv4('239.255.0.1');

describe('GroupMembership', () => {
  it('a report joins for the Group Membership Interval (260 s); a later report renews it', () => {
    const m = new GroupMembership();
    m.report(HOME, [G1], [], 1_000);
    expect(m.isMember(HOME, G1, 1_000 + GROUP_MEMBERSHIP_INTERVAL_MS - 1)).toBe(true);
    expect(m.isMember(HOME, G1, 1_000 + GROUP_MEMBERSHIP_INTERVAL_MS)).toBe(false);
    m.report(HOME, [G1], [], 200_000);
    expect(m.isMember(HOME, G1, 1_000 + GROUP_MEMBERSHIP_INTERVAL_MS)).toBe(true);
    expect(m.isMember(OTHER, G1, 1_000)).toBe(false);
  });

  it('a leave ends one group; forget (the last binding gone) ends them all; anyMember follows', () => {
    const m = new GroupMembership();
    m.report(HOME, [G1, G2], [], 0);
    m.report(OTHER, [G1], [], 0);
    m.report(HOME, [], [G2], 1);
    expect(m.groupsOf(HOME, 1)).toEqual([G1]);
    expect(m.anyMember(G2)).toBe(false);
    m.forget(HOME);
    expect(m.groupsOf(HOME, 1)).toEqual([]);
    expect(m.anyMember(G1)).toBe(true);
    m.forget(OTHER);
    expect(m.anyMember(G1)).toBe(false);
    expect(m.empty).toBe(true);
  });

  it('sweep removes memberships whose interval ran out', () => {
    const m = new GroupMembership(1_000);
    m.report(HOME, [G1], [], 0);
    m.report(OTHER, [G1], [], 500);
    m.sweep(1_000);
    expect(m.groupsOf(HOME, 0)).toEqual([]);
    expect(m.anyMember(G1)).toBe(true);
    m.sweep(1_500);
    expect(m.anyMember(G1)).toBe(false);
  });
});
