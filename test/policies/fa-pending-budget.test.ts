/**
 * policies/fa-pending-budget.ts: which pending registrations a foreign agent keeps (RFC 5944
 * 3.7.1), table by table: the charge of a Request, the budgets, and the tallies.
 */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import {
  checkPendingBudget,
  DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS,
  pendingChargeOf,
  PendingTally,
  RelayWindow,
  type ChargedPending,
  type PendingBudgetInput,
  type PendingUsage,
} from '../../policies/fa-pending-budget.js';

const HA = ipv4('198.51.100.1');
const OTHER_HA = ipv4('192.0.2.1');
const HOME = ipv4('198.51.100.10');
const MAC = '02:00:00:00:01:0a';
const OTHER_MAC = '02:00:00:00:01:0b';
const IDLE: PendingUsage = { registrations: 0, fromLinkSource: 0, forHomeAddress: 0, recentUnknownDeregistrations: 0 };
const LIMITS = { maxPending: 5, maxPendingPerLinkSource: 2, maxPendingPerHomeAddress: 2, maxUnknownDeregistrations: 2 };

function budget(overrides: Partial<PendingBudgetInput> = {}): PendingBudgetInput {
  return { lifetime: 600, homeAgent: HA, homeAddress: HOME, linkLayerSource: MAC, replaces: [], usage: IDLE, limits: LIMITS, ...overrides };
}

const pendingRegistration: ChargedPending = { charge: 'registration', linkLayerSource: MAC, homeAddress: HOME, homeAgent: HA };
const pendingDeregistration: ChargedPending = { ...pendingRegistration, charge: 'deregistration' };
const pendingRenewal: ChargedPending = { ...pendingRegistration, charge: 'visitor' };

describe('pendingChargeOf', () => {
  for (const [what, input, charge] of [
    ['a renewal of a registered visitor at its home agent', { lifetime: 600, homeAgent: HA, registeredHomeAgent: HA, replaces: [] }, 'visitor'],
    ['a deregistration of a registered visitor at its home agent', { lifetime: 0, homeAgent: HA, registeredHomeAgent: HA, replaces: [] }, 'visitor'],
    ['a registered visitor registering at another home agent', { lifetime: 600, homeAgent: OTHER_HA, registeredHomeAgent: HA, replaces: [] }, 'registration'],
    ['a registered visitor deregistering at another home agent', { lifetime: 0, homeAgent: OTHER_HA, registeredHomeAgent: HA, replaces: [] }, 'deregistration'],
    ['a new node registering', { lifetime: 600, homeAgent: HA, replaces: [] }, 'registration'],
    ['a node deregistering whose registration is pending at the same home agent', { lifetime: 0, homeAgent: HA, replaces: [pendingRegistration] }, 'registration'],
    ['a node deregistering whose registration is pending at another home agent', { lifetime: 0, homeAgent: OTHER_HA, replaces: [pendingRegistration] }, 'deregistration'],
    ['an unknown node deregistering again', { lifetime: 0, homeAgent: HA, replaces: [pendingDeregistration] }, 'deregistration'],
    ['an unknown node deregistering', { lifetime: 0, homeAgent: HA, replaces: [] }, 'deregistration'],
  ] as const) {
    it(`${what}: ${charge}`, () => {
      expect(pendingChargeOf(input)).toBe(charge);
    });
  }
});

describe('checkPendingBudget', () => {
  const full: PendingUsage = { registrations: 99, fromLinkSource: 99, forHomeAddress: 99, recentUnknownDeregistrations: 99 };
  for (const [what, input, verdict] of [
    ['[R3.7.1-5] a registration with room', budget(), { admit: true, charge: 'registration' }],
    ['[R3.7.1-6] a registration at the global limit', budget({ usage: { ...IDLE, registrations: 5 } }), { admit: false, reason: 'too-many-pending' }],
    ['[R3.7.1-6] a registration at the link-source budget', budget({ usage: { ...IDLE, fromLinkSource: 2 } }), { admit: false, reason: 'link-source-budget' }],
    ['[R3.7.1-6] a registration at the home-address budget', budget({ usage: { ...IDLE, forHomeAddress: 2 } }), { admit: false, reason: 'home-address-budget' }],
    ['a registration: recent deregistrations do not count', budget({ usage: { ...IDLE, recentUnknownDeregistrations: 2 } }), { admit: true }],
    ['a renewal of a registered visitor past every budget', budget({ registeredHomeAgent: HA, usage: full }), { admit: true, charge: 'visitor' }],
    ['a deregistration of a registered visitor past every budget', budget({ lifetime: 0, registeredHomeAgent: HA, usage: full }), { admit: true, charge: 'visitor' }],
    ['an unknown deregistration with room', budget({ lifetime: 0, usage: { ...IDLE, registrations: 5 } }), { admit: true, charge: 'deregistration' }],
    ['an unknown deregistration past its own budget', budget({ lifetime: 0, usage: { ...IDLE, recentUnknownDeregistrations: 2 } }), { admit: false, reason: 'deregistration-budget' }],
    ['an unknown deregistration at the link-source budget', budget({ lifetime: 0, usage: { ...IDLE, fromLinkSource: 2 } }), { admit: false, reason: 'link-source-budget' }],
    [
      'a retransmission replaces its own pending entry: at the limits it still fits',
      budget({ replaces: [pendingRegistration], usage: { registrations: 5, fromLinkSource: 2, forHomeAddress: 2, recentUnknownDeregistrations: 0 } }),
      { admit: true, charge: 'registration' },
    ],
    [
      'a retransmission from another link-layer source frees only the global and home slots',
      budget({ linkLayerSource: OTHER_MAC, replaces: [pendingRegistration], usage: { registrations: 5, fromLinkSource: 2, forHomeAddress: 2, recentUnknownDeregistrations: 0 } }),
      { admit: false, reason: 'link-source-budget' },
    ],
    [
      'a pending visitor deregistering at its home agent takes its registration\'s place, even at the global limit',
      budget({ lifetime: 0, replaces: [pendingRegistration], usage: { registrations: 5, fromLinkSource: 1, forHomeAddress: 1, recentUnknownDeregistrations: 2 } }),
      { admit: true, charge: 'registration' },
    ],
    [
      'a renewal pending (charge visitor) frees nothing when replaced by a registration elsewhere',
      budget({ homeAgent: OTHER_HA, registeredHomeAgent: HA, replaces: [pendingRenewal], usage: { ...IDLE, registrations: 5 } }),
      { admit: false, reason: 'too-many-pending' },
    ],
    ['no explicit per-source limit: the default 2', budget({ limits: { maxPending: 5 }, usage: { ...IDLE, fromLinkSource: 2 } }), { admit: false, reason: 'link-source-budget' }],
    ['an unlimited global limit', budget({ limits: { ...LIMITS, maxPending: Infinity }, usage: { ...IDLE, registrations: 1e9 } }), { admit: true }],
  ] as const) {
    it(`${what}`, () => {
      expect(checkPendingBudget(input)).toMatchObject(verdict);
    });
  }

  it('names the count and the limit in a refusal', () => {
    const v = checkPendingBudget(budget({ usage: { ...IDLE, fromLinkSource: 2 } }));
    expect(v.admit === false && v.detail).toBe(`2 registrations pending from link-layer source ${MAC}, the configured maximum is 2`);
  });
});

describe('PendingTally', () => {
  it('counts charged entries by source and home address, and holds no key once they are gone', () => {
    const t = new PendingTally();
    const other: ChargedPending = { ...pendingRegistration, linkLayerSource: OTHER_MAC, homeAddress: ipv4('198.51.100.11') };
    t.add(pendingRegistration);
    t.add(pendingDeregistration);
    t.add(other);
    t.add(pendingRenewal);
    expect([t.registrations, t.fromLinkSource(MAC), t.forHomeAddress(HOME), t.fromLinkSource(OTHER_MAC), t.keys]).toEqual([2, 2, 2, 1, 4]);
    t.remove(pendingRegistration);
    t.remove(pendingDeregistration);
    t.remove(other);
    t.remove(pendingRenewal);
    expect([t.registrations, t.fromLinkSource(MAC), t.forHomeAddress(HOME), t.keys]).toEqual([0, 0, 0, 0]);
  });
});

describe('RelayWindow', () => {
  it('counts the events of the last window, whatever their rate, in a fixed ring', () => {
    const w = new RelayWindow(7001, DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS);
    expect(w.count(0)).toBe(0);
    w.record(0);
    w.record(10);
    expect(w.count(10)).toBe(2);
    expect(w.count(7000)).toBe(2);
    expect(w.count(7001)).toBe(1);
    w.record(7001);
    expect(w.count(7005)).toBe(2);
    expect(w.count(14_001)).toBe(1);
    expect(w.count(14_002)).toBe(0);
  });
});
