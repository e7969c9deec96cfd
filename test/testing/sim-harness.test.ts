/**
 * The kit's simulated-network harness (testing/sim-harness.ts): a home segment, a foreign
 * segment behind a router, a home agent, a foreign agent and a mobile node; the node moves away
 * and registers through the foreign agent, then comes home and deregisters. The observables
 * follow, the pcaps carry the registration, and the same seed gives the same pcaps.
 */
import { describe, expect, it } from 'vitest';
import { decodePcap } from '../../io/wire/pcap.js';
import { simScenario, SimScenarioError, type SimScenario } from '../../testing/index.js';

const MN_KEY = { spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' };
const FA_KEY = { spi: 0x301, key: '000102030405060708090a0b0c0d0e0f' };

async function roam(seed: number, steps: (s: SimScenario) => void | Promise<void>) {
  const s = simScenario(seed)
    .segment('home', '198.51.100.0/24')
    .segment('foreign', '203.0.113.0/24');
  try {
    s.router('r', { home: '198.51.100.254', foreign: '203.0.113.254' });
    await s.homeAgent('ha', {
      segment: 'home',
      address: '198.51.100.1',
      mobileNodes: [{ homeAddress: '198.51.100.10', key: MN_KEY }],
      foreignAgents: [{ address: '203.0.113.1', key: FA_KEY }],
    });
    await s.foreignAgent('fa', { segment: 'foreign', address: '203.0.113.1', homeAgents: [{ address: '198.51.100.1', key: FA_KEY }] });
    await s.mobileNode('mn', { segment: 'home', homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', key: MN_KEY });
    await steps(s);
    return { pcaps: s.segmentNames().map((name) => s.pcap(name)) };
  } finally {
    await s.close();
  }
}

describe('mip4/testing sim harness', () => {
  it('a node moves away and registers through the foreign agent, then comes home and deregisters; observables follow', async () => {
    await roam(1, (s) => {
      s.run(3_000);
      expect(s.observe().mobileNodes.mn?.attachment).toBe('at-home');
      expect(s.observe().bindings.ha).toEqual([]);

      s.move('mn', 'foreign', { via: 'fa' });
      s.run(5_000);
      const away = s.observe();
      expect(away.mobileNodes.mn?.attachment).toBe('foreign-agent');
      expect(away.bindings.ha?.map((b) => [b.homeAddress, b.careOfAddress])).toEqual([['198.51.100.10', '203.0.113.1']]);
      expect(away.visitors.fa?.map((v) => v.homeAddress)).toEqual(['198.51.100.10']);
      expect(away.counters.ha).toBeDefined();

      s.move('mn', 'home');
      s.run(5_000);
      const home = s.observe();
      expect(home.mobileNodes.mn?.attachment).toBe('at-home');
      expect(home.bindings.ha).toEqual([]);
      expect(home.timeMs).toBe(13_000);
    });
  });

  it('the same seed gives the same pcaps byte for byte; the foreign segment’s pcap carries Registration Requests on UDP 434', async () => {
    const scenario = (s: SimScenario) => {
      s.run(2_000);
      s.move('mn', 'foreign', { via: 'fa' });
      s.run(4_000);
    };
    const first = await roam(7, scenario);
    const second = await roam(7, scenario);
    expect(second.pcaps).toEqual(first.pcaps);
    const foreign = decodePcap(first.pcaps[1]!);
    expect(foreign.ok).toBe(true);
    if (!foreign.ok) return;
    // Ethernet 14 + IPv4 20: the UDP destination port, then the message type 1 (a Request).
    const requests = foreign.value.records.filter((r) => r.data.length > 42 && r.data[23] === 17 && ((r.data[36]! << 8) | r.data[37]!) === 434 && r.data[42] === 1);
    expect(requests.length).toBeGreaterThan(0);
  });

  it('a scenario mistake is a named error with the fix', async () => {
    const s = simScenario(1).segment('home', '198.51.100.0/24');
    try {
      expect(() => s.segment('home', '198.51.100.0/24')).toThrow(SimScenarioError);
      expect(() => s.host('cn', 'nowhere', '192.0.2.20')).toThrow(/no segment 'nowhere': add it with segment/);
      expect(() => simScenario(1).segment('x', '198.51.100.0')).toThrow(/write it as a.b.c.d\/n/);
      expect(() => s.move('mn', 'home')).toThrow(/no mobile node 'mn'/);
    } finally {
      await s.close();
    }
  });
});
