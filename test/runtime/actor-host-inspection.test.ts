/**
 * The actor host's inspection hooks (runtime/actors/actor-host.ts): per-state counts kept as
 * actors step (what the inspector samples) and `watch`, the one-actor transition hook.
 */
import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../runtime/actors/actor-host.js';
import { COA1, COA2, Harness, MN2, MN2_KEY, MHAE } from './home-agent-harness.js';

describe('actor host inspection hooks', () => {
  it('counts live actors per state through registration, a move, expiry and deregistration', () => {
    const h = new Harness();
    const inspected = h.agent.inspected();
    expect([...inspected.stateCounts()]).toEqual([]);
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 10 }, { source: COA1 });
    h.ask({ homeAddress: MN2, identification: h.fresh(), careOfAddress: COA2, lifetime: 1200, extensions: [MHAE(MN2_KEY)] }, { source: COA2 });
    expect(Object.fromEntries(inspected.stateCounts())).toEqual({ 'registered.timed': 2 });
    expect(inspected.size()).toBe(2);
    h.clock.advance(11_000);
    expect(Object.fromEntries(inspected.stateCounts())).toEqual({ 'registered.timed': 1 });
    h.ask({ homeAddress: MN2, identification: h.fresh(), careOfAddress: COA2, lifetime: 0, extensions: [MHAE(MN2_KEY)] }, { source: COA2 });
    expect(Object.fromEntries(inspected.stateCounts())).toEqual({});
    expect(inspected.size()).toBe(0);
  });

  it("watch hears only the watched actor's transitions, until unwatched", () => {
    const h = new Harness();
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    const heard: TransitionRecord[] = [];
    const unwatch = h.agent.inspected().watch('binding:198.51.100.10', (record) => heard.push(record));
    h.ask({ homeAddress: MN2, identification: h.fresh(), careOfAddress: COA2, lifetime: 1200, extensions: [MHAE(MN2_KEY)] }, { source: COA2 });
    expect(heard).toEqual([]);
    h.ask({ identification: h.fresh(), careOfAddress: COA2, lifetime: 1200 }, { source: COA2 });
    expect(heard.map((r) => [r.actor, r.from, r.to, r.reason])).toEqual([['binding:198.51.100.10', 'registered.timed', 'registered.timed', 'care-of-address-changed']]);
    unwatch();
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    expect(heard).toHaveLength(1);
  });
});

describe('actor search', () => {
  it('looks at no more than MAX_SCANNED_PER_SEARCH actors, however many there are, and stops at the page size', async () => {
    const { searchActors, MAX_SCANNED_PER_SEARCH } = await import('../../runtime/actors/inspection.js');
    let pulled = 0;
    function* many(): Generator<{ id: string }> {
      for (let i = 0; i < 3 * MAX_SCANNED_PER_SEARCH; i++) {
        pulled++;
        yield { id: `binding:${i}` };
      }
    }
    const row = (a: { id: string }) => ({ id: a.id, state: 'registered.timed', fields: {} });
    expect(searchActors(many(), 'no such thing', 50, (a) => a.id, row)).toEqual([]);
    expect(pulled).toBeLessThanOrEqual(MAX_SCANNED_PER_SEARCH + 1);
    pulled = 0;
    expect(searchActors(many(), 'binding:1', 5, (a) => a.id, row).map((r) => r.id)).toEqual(['binding:1', 'binding:10', 'binding:11', 'binding:12', 'binding:13']);
    expect(pulled).toBeLessThan(20);
  });
});
