import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { arpForBindingCount, arpForReturnHome, GRATUITOUS_ARP_COPIES, type ArpCommand } from '../../policies/home-arp.js';

const home = ipv4('192.0.2.10');

const leaving: ArpCommand[] = [
  { kind: 'gratuitous-arp', homeAddress: home, linkAddressOf: 'home-agent', copies: GRATUITOUS_ARP_COPIES },
  { kind: 'proxy-arp', enable: true, homeAddress: home },
];
const lastGone: ArpCommand[] = [{ kind: 'proxy-arp', enable: false, homeAddress: home }];

describe('arpForBindingCount (4.6)', () => {
  const cases: Array<{ name: string; before: number; after: number; expected: ArpCommand[] }> = [
    { name: '[R4.6-7] [R4.6-18] first binding: gratuitous ARP with the home agent\'s address, then proxy ARP on', before: 0, after: 1, expected: leaving },
    { name: 'first bindings at once (simultaneous): the same, once', before: 0, after: 2, expected: leaving },
    { name: '[R4.6-19] last binding gone: proxy ARP off', before: 1, after: 0, expected: lastGone },
    { name: 'a second binding (simultaneous): nothing', before: 1, after: 2, expected: [] },
    { name: 'one of several bindings gone: nothing, proxy ARP stays', before: 2, after: 1, expected: [] },
    { name: 'a renewal (count unchanged): nothing', before: 1, after: 1, expected: [] },
    { name: 'no binding before or after: nothing', before: 0, after: 0, expected: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(arpForBindingCount(home, c.before, c.after)).toEqual(c.expected);
    });
  }

  it('[R4.6-9] the gratuitous ARP is sent a small number of times (more than one)', () => {
    const gratuitous = arpForBindingCount(home, 0, 1)[0];
    expect(gratuitous).toMatchObject({ kind: 'gratuitous-arp' });
    expect(GRATUITOUS_ARP_COPIES).toBeGreaterThan(1);
    expect(GRATUITOUS_ARP_COPIES).toBeLessThanOrEqual(5);
  });

  it('asks for nothing without allocating when the count stays non-zero', () => {
    expect(arpForBindingCount(home, 1, 1)).toBe(arpForBindingCount(home, 3, 2));
  });
});

describe('arpForReturnHome (4.6)', () => {
  it('[R4.6-12] [R4.6-19] accepted deregistration from home: gratuitous ARP with the node\'s own link-layer address', () => {
    expect(arpForReturnHome(home)).toEqual({ kind: 'gratuitous-arp', homeAddress: home, linkAddressOf: 'mobile-node', copies: GRATUITOUS_ARP_COPIES });
  });
});
