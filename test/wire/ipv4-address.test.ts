import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import {
  directedBroadcast,
  isInPrefix,
  isLoopback,
  isMulticast,
  isUnicast,
  LIMITED_BROADCAST,
  networkAddress,
  prefixMask,
  subnetBroadcast,
} from '../../io/wire/ipv4-address.js';

const address = fc.integer({ min: 0, max: 0xffffffff });
const length = fc.integer({ min: 0, max: 32 });

describe('prefix arithmetic', () => {
  it.each([
    [0, '0.0.0.0'],
    [1, '128.0.0.0'],
    [8, '255.0.0.0'],
    [24, '255.255.255.0'],
    [31, '255.255.255.254'],
    [32, '255.255.255.255'],
  ])('prefixMask(%i) is %s', (prefixLength, mask) => {
    expect(prefixMask(prefixLength)).toBe(ipv4(mask));
  });

  it.each([-1, 33, 1.5, Number.NaN])('prefixMask(%s) is a RangeError', (prefixLength) => {
    expect(() => prefixMask(prefixLength)).toThrow(RangeError);
  });

  it.each([
    ['198.51.100.77', 24, '198.51.100.0', '198.51.100.255', '198.51.100.255'],
    ['198.51.100.77', 30, '198.51.100.76', '198.51.100.79', '198.51.100.79'],
    ['198.51.100.77', 31, '198.51.100.76', '198.51.100.77', undefined],
    ['198.51.100.77', 32, '198.51.100.77', '198.51.100.77', undefined],
    ['198.51.100.77', 0, '0.0.0.0', '255.255.255.255', '255.255.255.255'],
  ])('%s/%i: network %s, all host bits %s, directed broadcast %s', (a, prefixLength, network, allOnes, directed) => {
    expect(networkAddress(ipv4(a), prefixLength)).toBe(ipv4(network));
    expect(subnetBroadcast(ipv4(a), prefixLength)).toBe(ipv4(allOnes));
    expect(directedBroadcast(ipv4(a), prefixLength)).toBe(directed === undefined ? undefined : ipv4(directed));
  });

  it('an address is in its own prefix, and so are its network and broadcast addresses', () => {
    fc.assert(
      fc.property(address, length, (a, n) => {
        expect(isInPrefix(a, networkAddress(a, n), n)).toBe(true);
        expect(isInPrefix(subnetBroadcast(a, n), a, n)).toBe(true);
        expect(isInPrefix(a | 0, a, n)).toBe(true);
      }),
    );
  });

  it('flipping a network bit leaves the prefix; flipping a host bit does not', () => {
    fc.assert(
      fc.property(address, fc.integer({ min: 1, max: 32 }), fc.integer({ min: 0, max: 31 }), (a, n, bit) => {
        const flipped = (a ^ (1 << (31 - bit))) >>> 0;
        expect(isInPrefix(flipped, a, n)).toBe(bit >= n);
      }),
    );
  });

  it('results are unsigned whatever the sign of the input', () => {
    fc.assert(
      fc.property(address, length, (a, n) => {
        for (const value of [networkAddress(a | 0, n), subnetBroadcast(a | 0, n)]) {
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThanOrEqual(0xffffffff);
        }
        expect(subnetBroadcast(a | 0, n)).toBe(subnetBroadcast(a, n));
      }),
    );
  });
});

describe('address classes', () => {
  it.each([
    ['0.0.0.0', { unicast: false, multicast: false, loopback: false }],
    ['0.1.2.3', { unicast: false, multicast: false, loopback: false }],
    ['127.0.0.1', { unicast: false, multicast: false, loopback: true }],
    ['198.51.100.1', { unicast: true, multicast: false, loopback: false }],
    ['223.255.255.255', { unicast: true, multicast: false, loopback: false }],
    ['224.0.0.1', { unicast: false, multicast: true, loopback: false }],
    ['224.0.0.11', { unicast: false, multicast: true, loopback: false }],
    ['239.255.255.255', { unicast: false, multicast: true, loopback: false }],
    ['240.0.0.1', { unicast: false, multicast: false, loopback: false }],
    ['255.255.255.255', { unicast: false, multicast: false, loopback: false }],
  ])('%s', (text, expected) => {
    const a = ipv4(text);
    expect({ unicast: isUnicast(a), multicast: isMulticast(a), loopback: isLoopback(a) }).toEqual(expected);
    expect({ unicast: isUnicast(a | 0), multicast: isMulticast(a | 0), loopback: isLoopback(a | 0) }).toEqual(expected);
  });

  it('LIMITED_BROADCAST is 255.255.255.255', () => {
    expect(LIMITED_BROADCAST).toBe(ipv4('255.255.255.255'));
  });
});
