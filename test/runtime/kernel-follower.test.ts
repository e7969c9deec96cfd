/** KernelFollower (runtime/mn/kernel-follower.ts): which kernel events reach the mobile node, and how. */
import { describe, expect, it } from 'vitest';
import type { InterfaceEvent } from '../../io/link-events.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { KernelFollower, type KernelFollowerTarget } from '../../runtime/mn/kernel-follower.js';

const on = { interfaceName: 'eth0', ifindex: 2 };
const link = (up: boolean, carrier = up): InterfaceEvent => ({ kind: 'link', ...on, up, carrier });
const address = (text: string, added: boolean, prefixLength = 26): InterfaceEvent => ({ kind: 'address', ...on, added, address: ipv4(text), prefixLength });
const route = (text: string, added: boolean): InterfaceEvent => ({ kind: 'default-route', ...on, added, gateway: ipv4(text) });

function follower(staticColocated?: string) {
  const calls: string[] = [];
  const target: KernelFollowerTarget = {
    linkLost: () => calls.push('lost'),
    linkRestored: () => calls.push('restored'),
    colocatedAddressChanged: (c) =>
      calls.push(c === undefined ? 'colocated none' : `colocated ${ipv4ToString(c.address)}/${c.prefixLength}${c.gateway !== undefined ? ` via ${ipv4ToString(c.gateway)}` : ''}`),
  };
  const f = new KernelFollower(target, {
    homeAddress: ipv4('198.51.100.10'),
    homeNetwork: ipv4('198.51.100.0'),
    homePrefixLength: 24,
    ...(staticColocated !== undefined ? { staticColocated: ipv4(staticColocated) } : {}),
  });
  return { f, calls };
}

describe('KernelFollower', () => {
  it('carrier: lost at start or later stops the node; back restores it once (up without carrier is no link)', () => {
    const { f, calls } = follower();
    f.handle(link(true));
    expect(calls).toEqual([]);
    f.handle(link(true, false));
    f.handle(link(false));
    f.handle(link(true));
    f.handle(link(true));
    expect(calls).toEqual(['lost', 'restored', 'colocated none']);
    const late = follower();
    late.f.handle(link(true, false));
    expect(late.calls).toEqual(['lost']);
  });

  it('an address added by someone else becomes the co-located address with the gateway of its subnet; removal falls back', () => {
    const { f, calls } = follower();
    f.handle(link(true));
    f.handle(address('203.0.113.100', true));
    f.handle(route('192.0.2.1', true)); // another subnet's router: not this address's gateway
    f.handle(route('203.0.113.65', true));
    f.handle(address('203.0.113.100', false));
    expect(calls).toEqual([
      'colocated 203.0.113.100/26',
      'colocated 203.0.113.100/26',
      'colocated 203.0.113.100/26 via 203.0.113.65',
      'colocated none',
    ]);
  });

  it('ignores the home address, the home network, link-local and the configured static address', () => {
    const { f, calls } = follower('203.0.113.77');
    f.handle(link(true));
    f.handle(address('198.51.100.10', true, 32));
    f.handle(address('198.51.100.10', true, 24));
    f.handle(address('198.51.100.99', true, 24));
    f.handle(address('169.254.7.7', true, 16));
    f.handle(address('203.0.113.77', true, 24));
    expect(calls).toEqual([]);
  });

  it('a carrier back offers the address still on the interface again (the node forgot it with the link)', () => {
    const { f, calls } = follower();
    f.handle(link(true));
    f.handle(address('203.0.113.100', true));
    f.handle(link(true, false));
    f.handle(link(true, true));
    expect(calls).toEqual(['colocated 203.0.113.100/26', 'lost', 'restored', 'colocated 203.0.113.100/26']);
  });
});
