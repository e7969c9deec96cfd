/**
 * The home agent with a store (issue 14, item 3): every change a restart must find is written
 * before the Reply that announces it, and a new agent given the store restores the bindings
 * with the lifetime they have left (routes, tunnels and ARP through the registration path),
 * drops expired rows and rows of nodes no longer configured, and keeps refusing replays (5.7).
 */
import { describe, expect, it } from 'vitest';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { ReplyCode } from '../../io/wire/reply-codes.js';
import type { StoreWrite } from '../../runtime/store/binding-store.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { bindingsTable } from '../../runtime/cli/tables.js';
import { buildRequest, COA1, COA2, FA, FHAE, Harness, MHAE, MN1, MN2, MN2_KEY, makeConfig } from './home-agent-harness.js';

/** A harness whose agent writes into `store`, each Request's writes committed as one batch. */
function storedHarness(store: MemoryBindingStore, config = makeConfig(), order?: string[]): { h: Harness; pending: StoreWrite[]; commit(): void } {
  const pending: StoreWrite[] = [];
  const h = new Harness(config, 7, {
    onStoreWrite: (write) => {
      order?.push(`write ${write.op}`);
      pending.push(write);
    },
  });
  return {
    h,
    pending,
    commit() {
      store.commit(pending.splice(0));
    },
  };
}

/** The same agent after a restart at `elapsedMs` after the first one started. */
function restarted(store: MemoryBindingStore, elapsedMs: number, config = makeConfig()) {
  const next = storedHarness(store.reopen(), config);
  next.h.clock.advance(elapsedMs);
  const result = next.h.agent.restore(store.load());
  store.commit(result.deletes);
  return { ...next, ...result };
}

describe('home agent: store writes', () => {
  it('writes the binding and the replay state before the Reply is handed to the socket', () => {
    const order: string[] = [];
    const { h } = storedHarness(new MemoryBindingStore(), makeConfig(), order);
    h.deliver(buildRequest({ identification: h.fresh(), careOfAddress: COA1 }), { source: COA1 });
    order.push(`reply ${h.sent.at(-1)!.reply.code}`);
    expect(order).toEqual(['write put-replay', 'write put-binding', 'reply 0']);
  });

  it('a renewal rewrites the row, a deregistration and an expiry delete it, a care-of change moves it', () => {
    const store = new MemoryBindingStore();
    const { h, commit } = storedHarness(store);
    h.register({ careOfAddress: COA1, lifetime: 100 });
    commit();
    expect(store.load().bindings.map((b) => [b.careOfAddress, b.lifetime])).toEqual([[COA1, 100]]);
    h.register({ careOfAddress: COA2, lifetime: 200 });
    commit();
    expect(store.load().bindings.map((b) => [b.careOfAddress, b.lifetime])).toEqual([[COA2, 200]]);
    h.register({ careOfAddress: COA2, lifetime: 0 });
    commit();
    expect(store.load().bindings).toEqual([]);
    h.register({ careOfAddress: COA1, lifetime: 10 });
    commit();
    expect(store.load().bindings).toHaveLength(1);
    h.clock.advance(10_000);
    commit();
    expect(h.agent.bindingCount).toBe(0);
    expect(store.load().bindings).toEqual([]);
  });

  it('a denied Request writes no binding', () => {
    const store = new MemoryBindingStore();
    const { h, pending } = storedHarness(store);
    const reply = h.ask({ identification: h.fresh(), extensions: [MHAE(MN2_KEY)] }, { source: COA1 });
    expect(reply.reply.code).toBe(ReplyCode.HaMobileNodeFailedAuthentication);
    expect(pending.filter((w) => w.op === 'put-binding')).toEqual([]);
  });
});

describe('home agent: restore from the store', () => {
  it('restores each unexpired binding with the lifetime it has left, its tunnel and the ARP of a first binding (4.6)', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store);
    first.h.register({ careOfAddress: COA1, lifetime: 100, flags: RequestFlag.S | RequestFlag.B });
    first.h.register({ careOfAddress: COA2, lifetime: 300, flags: RequestFlag.S });
    first.h.register({ homeAddress: MN2, careOfAddress: FA, lifetime: 500, extensions: [MHAE(MN2_KEY), FHAE()] }, { source: FA });
    first.commit();
    const before = first.h.agent.bindings();
    const arpAtRegistration = first.h.arp.filter((c) => c.homeAddress === MN1);

    const { h, outcome, deletes } = restarted(store, 40_500);
    expect(outcome).toEqual({ bindings: 3, expiredDropped: 0, unknownNodeDropped: 0, unknownHomeAddresses: [], replayStates: 2 });
    expect(deletes).toEqual([]);
    const views = h.agent.bindings();
    // Remaining: 100 - 40.5 → 60 (rounded up: never shorter than granted), 300 → 260, 500 → 460.
    expect(views.map((v) => [v.homeAddress, v.careOfAddress, v.remaining])).toEqual([
      ['198.51.100.10', '203.0.113.77', 60],
      ['198.51.100.10', '203.0.113.78', 260],
      ['198.51.100.11', '203.0.113.1', 460],
    ]);
    // Everything else as it was: encapsulation, flags, Identification, relaying agent.
    expect(views.map(({ remaining: _r, lifetime: _l, ...rest }) => rest)).toEqual(before.map(({ remaining: _r, lifetime: _l, ...rest }) => rest));
    expect(h.tunnels(MN1)).toEqual([COA1, COA2]);
    expect(h.tunnels(MN2)).toEqual([FA]);
    expect(h.arp.filter((c) => c.homeAddress === MN1)).toEqual(arpAtRegistration);
    // The restored timer ends the binding when the granted lifetime ends, not a whole lifetime later.
    h.clock.advance(59_999);
    expect(h.tunnels(MN1)).toEqual([COA1, COA2]);
    h.clock.advance(1);
    expect(h.tunnels(MN1)).toEqual([COA2]);
  });

  it('drops (and deletes) expired rows and rows of nodes no longer in the config, and says whose', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store);
    first.h.register({ careOfAddress: COA1, lifetime: 10 });
    first.h.register({ homeAddress: MN2, careOfAddress: COA2, lifetime: 500, extensions: [MHAE(MN2_KEY)] }, { source: COA2 });
    first.commit();
    const withoutMn2 = makeConfig();
    const config = { ...withoutMn2, mobileNodes: withoutMn2.mobileNodes.filter((n) => n.homeAddress !== MN2) };
    const { h, outcome, deletes } = restarted(store, 11_000, config);
    expect(outcome).toMatchObject({ bindings: 0, expiredDropped: 1, unknownNodeDropped: 1, unknownHomeAddresses: ['198.51.100.11'] });
    expect(deletes).toHaveLength(2);
    expect(h.agent.bindingCount).toBe(0);
    expect(store.load().bindings).toEqual([]);
  });

  it('keeps the replay state (5.7): an older Request replayed after the restart is still refused with 133', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store);
    const old = first.h.fresh();
    first.h.register({ careOfAddress: COA1, identification: old });
    first.h.clock.advance(1000);
    first.h.register({ careOfAddress: COA2 });
    first.commit();
    // 2 s later, inside the 7 s window: only the stored last timestamp tells the replay apart.
    const { h } = restarted(store, 2000);
    const replayed = h.ask({ identification: old, careOfAddress: COA1 }, { source: COA1 });
    expect(replayed.reply.code).toBe(ReplyCode.IdentificationMismatch);
    expect(h.tunnels(MN1)).toEqual([COA2]);
  });

  it('without the replay state the same replay would be accepted (the check above can fail)', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store);
    const old = first.h.fresh();
    first.h.register({ careOfAddress: COA1, identification: old });
    first.h.clock.advance(1000);
    first.h.register({ careOfAddress: COA2 });
    first.commit();
    const state = store.load();
    const next = storedHarness(store.reopen());
    next.h.clock.advance(2000);
    next.h.agent.restore({ ...state, replay: [] });
    expect(next.h.ask({ identification: old, careOfAddress: COA1 }, { source: COA1 }).reply.code).toBe(ReplyCode.Accepted);
  });
});

describe('home agent: a UDP-tunnelled binding (RFC 3519) across a restart', () => {
  const NAT = ipv4('192.0.2.200');
  /** The node's UDP Tunnel Request extension (144, Length 6, Sub-Type 0, Reserved, flags, encapsulation 4, Reserved). */
  const udpTunnelRequest = { unknown: 144, data: Uint8Array.of(0, 0, 0, 4, 0, 0) };

  it('restores the tunnel in UDP to the translated address:port (not IP in IP to the hidden care-of address), shown by mip4 bindings', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store, makeConfig({ settings: { udpKeepaliveInterval: 30 } }));
    first.h.ask({ identification: first.h.fresh(), careOfAddress: COA1, extensions: [udpTunnelRequest, MHAE()] }, { source: NAT, sourcePort: 40001 });
    first.commit();
    expect(store.load().bindings[0]!.udpTunnel).toEqual({ address: NAT, port: 40001, encapsulation: 'ip-in-ip', keepaliveInterval: 30, forced: false, natDetected: true });
    const { h, outcome } = restarted(store, 10_000);
    expect(outcome.bindings).toBe(1);
    const tunnel = h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!;
    expect(tunnel.careOfAddress).toBe(COA1);
    expect(tunnel.udp).toEqual({ address: NAT, port: 40001 });
    expect(h.agent.udpTunnels.get(MN1, COA1)).toMatchObject({ keepaliveInterval: 30, natDetected: true });
    const [view] = h.agent.bindings();
    expect(view!.udpTunnel).toBe('192.0.2.200:40001');
    expect(view!.flags).toContain('U');
    expect(bindingsTable(h.agent.bindings())).toMatch(/192\.0\.2\.200:40001/);
  });

  it('a NAT rebinding is written too: the restart tunnels to the new port', () => {
    const store = new MemoryBindingStore();
    const first = storedHarness(store);
    first.h.ask({ identification: first.h.fresh(), careOfAddress: COA1, extensions: [udpTunnelRequest, MHAE()] }, { source: NAT, sourcePort: 40001 });
    expect(first.h.agent.followUdpTunnel(MN1, NAT, 40777)).toBe(true);
    first.commit();
    const { h } = restarted(store, 1000);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT, port: 40777 });
  });
});
