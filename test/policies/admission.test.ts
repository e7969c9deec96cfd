import { describe, expect, it } from 'vitest';
import { admitBinding, type AdmissionInput } from '../../policies/admission.js';

const base: AdmissionInput = {
  existingForNode: 0,
  total: 0,
  maxPerNode: 3,
  maxTotal: 10,
  simultaneousRequested: false,
  simultaneousSupported: true,
};

describe('admitBinding', () => {
  it('admits a first binding', () => {
    expect(admitBinding(base)).toEqual({ ok: true, bindingsForNodeAfter: 1, totalAfter: 1 });
  });

  it('denies with 130 (insufficient resources) when the home agent is full', () => {
    const verdict = admitBinding({ ...base, total: 10 });
    expect(verdict).toMatchObject({ ok: false, code: 130, reason: 'insufficient-resources' });
  });

  it('admits a replacing registration (no S) even when the home agent is full', () => {
    expect(admitBinding({ ...base, existingForNode: 2, total: 10 })).toEqual({ ok: true, bindingsForNodeAfter: 1, totalAfter: 9 });
  });

  it('denies with 135 when simultaneous bindings would exceed the per-node limit', () => {
    const verdict = admitBinding({ ...base, existingForNode: 3, total: 3, simultaneousRequested: true });
    expect(verdict).toMatchObject({ ok: false, code: 135, reason: 'too-many-simultaneous-bindings' });
    expect(admitBinding({ ...base, existingForNode: 2, total: 2, simultaneousRequested: true })).toEqual({
      ok: true,
      bindingsForNodeAfter: 3,
      totalAfter: 3,
    });
  });

  it('does not count the S bit when the home agent does not support simultaneous bindings', () => {
    const verdict = admitBinding({ ...base, existingForNode: 3, total: 3, simultaneousRequested: true, simultaneousSupported: false });
    expect(verdict).toEqual({ ok: true, bindingsForNodeAfter: 1, totalAfter: 1 });
  });

  it('renewing a binding for the same care-of address does not grow the counts', () => {
    const verdict = admitBinding({ ...base, existingForNode: 3, total: 10, simultaneousRequested: true, refreshesExisting: true });
    expect(verdict).toEqual({ ok: true, bindingsForNodeAfter: 3, totalAfter: 10 });
  });

  it('checks the per-node limit (135) before the global one (130)', () => {
    const verdict = admitBinding({ ...base, existingForNode: 3, total: 10, simultaneousRequested: true });
    expect(verdict).toMatchObject({ ok: false, code: 135 });
  });

  it('accepts Infinity as "no global limit"', () => {
    expect(admitBinding({ ...base, total: 1_000_000, maxTotal: Number.POSITIVE_INFINITY }).ok).toBe(true);
  });

  it('throws on inconsistent counts or limits', () => {
    expect(() => admitBinding({ ...base, existingForNode: 2, total: 1 })).toThrow(RangeError);
    expect(() => admitBinding({ ...base, maxPerNode: 0 })).toThrow(RangeError);
    expect(() => admitBinding({ ...base, total: -1 })).toThrow(RangeError);
  });
});
