import { describe, expect, it } from 'vitest';
import { ColocatedFastPathDriver, kernelColocatedCareOf, kernelColocatedReverseTunnel } from '../../runtime/mn/colocated-fast-path.js';
import type { MobileNodeReverseTunnel } from '../../runtime/dataplane/mn-plane.js';
import { parseIpv4 } from '../../io/wire/bytes.js';
import type { MobileNodeState } from '../../runtime/mn/mobile-node.js';

// Which co-located care-of address the kernel's decap program lists (issue 17), from the node's state.

const colocated = (careOfAddress: string, registration: MobileNodeState['registration'] = 'registered'): MobileNodeState => ({ attachment: 'co-located', careOfAddress, registration });

describe('the co-located mobile node on the bpf engine', () => {
  it('lists the care-of address only while a co-located registration is current, and not for UDP tunnels (RFC 3519)', () => {
    expect(kernelColocatedCareOf(colocated('203.0.113.50'))).toBe('203.0.113.50');
    expect(kernelColocatedCareOf(colocated('203.0.113.50', 'pending'))).toBeUndefined();
    expect(kernelColocatedCareOf(colocated('203.0.113.50', 'deregistered'))).toBeUndefined();
    expect(kernelColocatedCareOf({ attachment: 'foreign-agent', careOfAddress: '203.0.113.2', registration: 'registered' })).toBeUndefined();
    expect(kernelColocatedCareOf({ attachment: 'at-home', registration: 'deregistered' })).toBeUndefined();
    expect(kernelColocatedCareOf({ ...colocated('203.0.113.50'), udpTunnel: {} as NonNullable<MobileNodeState['udpTunnel']> })).toBeUndefined();
  });

  it('the driver adds on registration, moves on roaming, removes at home, and repeats nothing', () => {
    const calls: string[] = [];
    const driver = new ColocatedFastPathDriver({ add: (a) => void calls.push(`add ${a}`), remove: (a) => void calls.push(`remove ${a}`) });
    driver.follow(colocated('203.0.113.50', 'pending'));
    driver.follow(colocated('203.0.113.50'));
    driver.follow(colocated('203.0.113.50'));
    driver.follow(colocated('203.0.113.100'));
    driver.follow({ attachment: 'at-home', registration: 'deregistered' });
    expect(calls).toEqual(['add 203.0.113.50', 'remove 203.0.113.50', 'add 203.0.113.100', 'remove 203.0.113.100']);
    expect(driver.current).toBeUndefined();
  });

  const granted = (careOf: string, encapsulation: MobileNodeReverseTunnel['encapsulation'] = 'ip-in-ip', to: MobileNodeReverseTunnel['to'] = 'home-agent'): MobileNodeReverseTunnel => ({
    homeAddress: parseIpv4('198.51.100.10')!,
    outerSource: parseIpv4(careOf)!,
    outerDestination: parseIpv4('198.51.100.1')!,
    encapsulation,
    to,
  });

  it("keeps the node's granted reverse tunnel (RFC 3024 5.2) in the kernel only for ip-in-ip or gre from the registered co-located address", () => {
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50'), granted('203.0.113.50'))).toEqual({
      homeAddress: '198.51.100.10',
      careOfAddress: '203.0.113.50',
      homeAgent: '198.51.100.1',
      encapsulation: 'ip-in-ip',
    });
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50'), granted('203.0.113.50', 'gre'))?.encapsulation).toBe('gre');
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50'), granted('203.0.113.50', 'minimal'))).toBeUndefined();
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50'), undefined)).toBeUndefined();
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50'), granted('203.0.113.99'))).toBeUndefined();
    expect(kernelColocatedReverseTunnel(colocated('203.0.113.50', 'pending'), granted('203.0.113.50'))).toBeUndefined();
    expect(kernelColocatedReverseTunnel({ attachment: 'foreign-agent', careOfAddress: '203.0.113.2', registration: 'registered' }, granted('198.51.100.10', 'ip-in-ip', 'foreign-agent'))).toBeUndefined();
    expect(kernelColocatedReverseTunnel({ ...colocated('203.0.113.50'), udpTunnel: {} as NonNullable<MobileNodeState['udpTunnel']> }, granted('203.0.113.50'))).toBeUndefined();
  });

  it('the driver keeps exactly one reverse tunnel entry: set when granted, replaced on a move, deleted on roaming to an FA, expiry and at home', () => {
    const calls: string[] = [];
    const driver = new ColocatedFastPathDriver({
      add: () => undefined,
      remove: () => undefined,
      setReverseTunnel: (t) => void calls.push(`set ${t.homeAddress} ${t.careOfAddress}->${t.homeAgent} ${t.encapsulation}`),
      removeReverseTunnel: (home) => void calls.push(`delete ${home}`),
    });
    driver.follow(colocated('203.0.113.50'));
    driver.follow(colocated('203.0.113.50'), granted('203.0.113.50'));
    driver.follow(colocated('203.0.113.50'), granted('203.0.113.50'));
    driver.follow(colocated('203.0.113.100'), granted('203.0.113.100', 'gre'));
    driver.follow({ attachment: 'foreign-agent', careOfAddress: '203.0.113.2', registration: 'registered' }, granted('198.51.100.10', 'ip-in-ip', 'foreign-agent'));
    driver.follow(colocated('203.0.113.50'), granted('203.0.113.50'));
    driver.follow(colocated('203.0.113.50', 'pending'), granted('203.0.113.50'));
    driver.follow(colocated('203.0.113.50'), granted('203.0.113.50'));
    driver.follow(colocated('203.0.113.50', 'deregistered'), undefined);
    driver.follow(colocated('203.0.113.50'), granted('203.0.113.50'));
    driver.follow({ attachment: 'at-home', registration: 'registered' }, undefined);
    expect(calls).toEqual([
      'set 198.51.100.10 203.0.113.50->198.51.100.1 ip-in-ip',
      'set 198.51.100.10 203.0.113.100->198.51.100.1 gre',
      'delete 198.51.100.10',
      'set 198.51.100.10 203.0.113.50->198.51.100.1 ip-in-ip',
      'delete 198.51.100.10',
      'set 198.51.100.10 203.0.113.50->198.51.100.1 ip-in-ip',
      'delete 198.51.100.10',
      'set 198.51.100.10 203.0.113.50->198.51.100.1 ip-in-ip',
      'delete 198.51.100.10',
    ]);
    expect(driver.currentReverseTunnel).toBeUndefined();
  });
});
