import { describe, expect, it } from 'vitest';
import { ColocatedFastPathDriver, kernelColocatedCareOf } from '../../runtime/mn/colocated-fast-path.js';
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
});
