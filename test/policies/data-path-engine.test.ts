import { describe, expect, it } from 'vitest';
import { chooseDataPathEngine } from '../../policies/data-path-engine.js';

const available = { missingCapabilities: [] };
const noCapabilities = { missingCapabilities: ['CAP_BPF', 'CAP_NET_ADMIN'] };
const noLoader = { loaderProblem: 'the tc-BPF loader (build/Release/mip4_bpf.node) is not built', missingCapabilities: [] };

describe('chooseDataPathEngine', () => {
  it('auto takes bpf where the host allows it', () => {
    expect(chooseDataPathEngine('auto', available)).toMatchObject({ ok: true, engine: 'bpf' });
  });

  it('auto falls back to userspace and names what is missing', () => {
    const choice = chooseDataPathEngine('auto', noCapabilities);
    expect(choice).toMatchObject({ ok: true, engine: 'userspace' });
    expect(choice.reason).toContain('CAP_BPF and CAP_NET_ADMIN');
    expect(chooseDataPathEngine('auto', noLoader).reason).toContain('mip4_bpf.node');
  });

  it('an explicit bpf the host cannot give is an error naming the fix', () => {
    const choice = chooseDataPathEngine('bpf', noLoader);
    expect(choice.ok).toBe(false);
    expect(choice.reason).toMatch(/mip4_bpf\.node.*dataPath\.engine: auto/);
  });

  it('userspace is userspace even where bpf would run', () => {
    expect(chooseDataPathEngine('userspace', available)).toMatchObject({ ok: true, engine: 'userspace' });
    expect(chooseDataPathEngine('bpf', available)).toMatchObject({ ok: true, engine: 'bpf' });
  });
});
