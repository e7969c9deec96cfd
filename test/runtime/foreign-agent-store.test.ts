/**
 * The foreign agent's visitor list across a restart (issue 14, item 3): a registered visitor
 * is written when its entry is installed and deleted when it ends; a new agent given the store
 * restores unexpired entries with the lifetime they have left and their delivery route (4.2.2),
 * and drops expired ones.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../io/clock.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { ForeignAgent, type FaConfig } from '../../runtime/fa/foreign-agent.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import type { StoreWrite } from '../../runtime/store/binding-store.js';

const START = Date.UTC(2026, 0, 1);
const COA = ipv4('203.0.113.1');
const HA = ipv4('198.51.100.1');
const MN = ipv4('198.51.100.10');
const MN2 = ipv4('198.51.100.11');
const MAC = '02:00:00:00:00:0a';

function config(): FaConfig {
  return {
    settings: {
      careOfAddresses: [COA],
      interfaceAddresses: [COA],
      linkAddress: COA,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunneling: false,
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes: [],
    homeAgents: [],
    advertisement: { lifetimeSeconds: 30, seed: 5 },
  };
}

function agentWith(store: MemoryBindingStore, clock: SimulatedClock): { agent: ForeignAgent; pending: StoreWrite[]; commit(): void } {
  const pending: StoreWrite[] = [];
  const agent = new ForeignAgent(config(), { clock, random32: () => 7, onStoreWrite: (write) => pending.push(write) });
  return { agent, pending, commit: () => store.commit(pending.splice(0)) };
}

function visitorRow(home: number, expiresAt: number, nai?: string) {
  return {
    key: `${home >>> 0}|${nai ?? ''}`,
    expiresAt,
    entry: {
      homeAddress: home,
      ...(nai === undefined ? {} : { nai }),
      linkLayerSource: MAC,
      ipSource: home,
      udpSourcePort: 434,
      homeAgent: HA,
      careOfAddress: COA,
      identification: { high: 0xe9000000, low: 1 },
    },
  };
}

describe('foreign agent: visitor list in the store', () => {
  it('restores an unexpired visitor with the lifetime it has left and its delivery route; drops an expired one', () => {
    const store = new MemoryBindingStore();
    store.commit([
      { op: 'put-visitor', visitor: visitorRow(MN, START + 300_000, 'mn1@example.org') },
      { op: 'put-visitor', visitor: visitorRow(MN2, START - 1) },
    ]);
    const clock = new SimulatedClock(START);
    const { agent, pending, commit } = agentWith(store, clock);
    const { outcome, deletes } = agent.restore(store.load().visitors);
    store.commit(deletes);
    expect(outcome).toEqual({ bindings: 1, expiredDropped: 1, unknownNodeDropped: 0, unknownHomeAddresses: [] });
    expect(store.load().visitors.map((v) => v.key)).toEqual([`${MN >>> 0}|mn1@example.org`]);
    expect(agent.visitorLinkAddress(MN)).toBe(MAC);
    expect(agent.visitorLinkAddress(MN2)).toBeUndefined();
    const [view] = agent.visitors();
    expect(view).toMatchObject({ homeAddress: '198.51.100.10', nai: 'mn1@example.org', careOfAddress: '203.0.113.1', homeAgent: '198.51.100.1', remaining: 300, lifetime: 300 });
    // Restoring wrote nothing back: the rows are already there.
    expect(pending).toEqual([]);
    // The entry ends when its granted lifetime ends: the route goes and the row is deleted.
    clock.advance(300_000);
    expect(agent.visitorLinkAddress(MN)).toBeUndefined();
    expect(pending).toEqual([{ op: 'delete-visitor', key: `${MN >>> 0}|mn1@example.org` }]);
    commit();
    expect(store.load().visitors).toEqual([]);
  });

  it('drops an entry for a care-of address this agent no longer offers, naming the home address', () => {
    const store = new MemoryBindingStore();
    const row = visitorRow(MN, START + 300_000);
    store.commit([{ op: 'put-visitor', visitor: { ...row, entry: { ...row.entry, careOfAddress: ipv4('203.0.113.200') } } }]);
    const { agent } = agentWith(store, new SimulatedClock(START));
    const { outcome, deletes } = agent.restore(store.load().visitors);
    expect(outcome).toMatchObject({ bindings: 0, unknownNodeDropped: 1, unknownHomeAddresses: ['198.51.100.10'] });
    expect(deletes).toEqual([{ op: 'delete-visitor', key: row.key }]);
  });
});
