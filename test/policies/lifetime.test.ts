import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4 } from '../../io/wire/bytes.js';
import { INFINITE_LIFETIME, grantLifetime, isDuplicateRegistration, lifetimeForDuplicate } from '../../policies/lifetime.js';

const lifetime = fc.integer({ min: 0, max: 0xffff });
const maximum = fc.integer({ min: 1, max: 0xffff });

describe('grantLifetime', () => {
  it('[R3.4-3] [R3.8.2.2-6] never grants more than the mobile node requested (all pairs, property)', () => {
    fc.assert(
      fc.property(lifetime, maximum, (requested, max) => {
        expect(grantLifetime(requested, max)).toBeLessThanOrEqual(requested);
      }),
    );
  });

  it('[R3.8.3.2-2] copies the requested Lifetime when it is within the maximum', () => {
    expect(grantLifetime(1800, 3600)).toBe(1800);
    expect(grantLifetime(3600, 3600)).toBe(3600);
    expect(grantLifetime(1, 3600)).toBe(1);
  });

  it('[R3.8.3.2-3] [R3.8.3.2-4] reduces a longer request to exactly the maximum', () => {
    expect(grantLifetime(3601, 3600)).toBe(3600);
    expect(grantLifetime(0xfffe, 600)).toBe(600);
    fc.assert(
      fc.property(lifetime, fc.integer({ min: 1, max: 0xfffe }), (requested, max) => {
        expect(grantLifetime(requested, max)).toBe(Math.min(requested, max));
      }),
    );
  });

  it('grants infinity (0xffff) only when the maximum is infinity too', () => {
    expect(INFINITE_LIFETIME).toBe(0xffff);
    expect(grantLifetime(0xffff, 0xffff)).toBe(0xffff);
    expect(grantLifetime(0xffff, 0xfffe)).toBe(0xfffe);
    expect(grantLifetime(0xffff, 600)).toBe(600);
    expect(grantLifetime(600, 0xffff)).toBe(600);
  });

  it('keeps a deregistration (Lifetime 0) at 0', () => {
    expect(grantLifetime(0, 600)).toBe(0);
    expect(grantLifetime(0, 0xffff)).toBe(0);
  });

  it('throws on values that are not 16-bit Lifetimes, and on a zero maximum', () => {
    expect(() => grantLifetime(-1, 600)).toThrow(RangeError);
    expect(() => grantLifetime(0x10000, 600)).toThrow(RangeError);
    expect(() => grantLifetime(1.5, 600)).toThrow(RangeError);
    expect(() => grantLifetime(600, 0)).toThrow(/at least 1/);
  });
});

describe('duplicate registrations (3.8.2.2)', () => {
  const accepted = {
    homeAddress: ipv4('198.51.100.10'),
    careOfAddress: ipv4('203.0.113.1'),
    identification: { high: 0xe93c7f00, low: 1 },
    grantedLifetime: 600,
  };

  it('a duplicate has the same home address, care-of address and Identification', () => {
    expect(isDuplicateRegistration({ ...accepted }, accepted)).toBe(true);
    expect(isDuplicateRegistration({ ...accepted, identification: { high: 0xe93c7f00, low: 2 } }, accepted)).toBe(false);
    expect(isDuplicateRegistration({ ...accepted, careOfAddress: ipv4('203.0.113.2') }, accepted)).toBe(false);
    expect(isDuplicateRegistration({ ...accepted, homeAddress: ipv4('198.51.100.11') }, accepted)).toBe(false);
  });

  it('[R3.8.2.2-9] a duplicate\'s Lifetime does not extend beyond the Lifetime originally granted', () => {
    // Granted 600 s, 100.5 s ago: at most 499 s may be left, whatever the duplicate asks.
    expect(lifetimeForDuplicate(600, { grantedLifetime: 600, elapsedSeconds: 100.5 })).toBe(499);
    expect(lifetimeForDuplicate(0xffff, { grantedLifetime: 600, elapsedSeconds: 100 })).toBe(500);
    expect(lifetimeForDuplicate(300, { grantedLifetime: 600, elapsedSeconds: 100 })).toBe(300);
    expect(lifetimeForDuplicate(600, { grantedLifetime: 600, elapsedSeconds: 0 })).toBe(600);
    expect(lifetimeForDuplicate(600, { grantedLifetime: 600, elapsedSeconds: 900 })).toBe(0);
    expect(lifetimeForDuplicate(0, { grantedLifetime: 600, elapsedSeconds: 10 })).toBe(0);
    fc.assert(
      fc.property(lifetime, maximum, fc.double({ min: 0, max: 70_000, noNaN: true }), (granted, original, elapsed) => {
        const result = lifetimeForDuplicate(granted, { grantedLifetime: original, elapsedSeconds: elapsed });
        expect(result).toBeLessThanOrEqual(granted);
        if (original !== 0xffff) expect(result).toBeLessThanOrEqual(Math.max(0, original - elapsed));
      }),
    );
  });

  it('an infinite original grant does not limit the duplicate', () => {
    expect(lifetimeForDuplicate(1200, { grantedLifetime: 0xffff, elapsedSeconds: 1e6 })).toBe(1200);
  });

  it('throws on a negative elapsed time', () => {
    expect(() => lifetimeForDuplicate(600, { grantedLifetime: 600, elapsedSeconds: -1 })).toThrow(RangeError);
  });
});
