import { describe, expect, it } from 'vitest';
import { bindingMachine } from '../../machines/binding.js';
import { chartToMermaid, machineChart } from '../../runtime/chart.js';

describe('state chart export', () => {
  const chart = machineChart(bindingMachine);

  it('lists every state of the binding machine, nested under its parent', () => {
    expect(chart.states.map((s) => s.id).sort()).toEqual(
      [
        'binding',
        'binding.deregistered',
        'binding.expired',
        'binding.registered',
        'binding.registered.choosing',
        'binding.registered.timed',
        'binding.registered.unbounded',
      ].sort(),
    );
    expect(chart.states.find((s) => s.id === 'binding.registered.timed')?.parent).toBe('binding.registered');
    expect(chart.states.filter((s) => s.type === 'final').map((s) => s.id).sort()).toEqual(['binding.deregistered', 'binding.expired']);
  });

  it('shows each transition with its event, guard and named reason, and the lifetime timer as "after lifetime"', () => {
    const labels = chart.transitions.map((t) => `${t.source} -${t.event}${t.guard ? `[${t.guard}]` : ''}-> ${t.target ?? '(stay)'} (${t.reason ?? ''})`);
    expect(labels).toEqual(
      expect.arrayContaining([
        'binding.registered -register[isDuplicate]-> (stay) (duplicate)',
        'binding.registered -register[sameCareOfAddress]-> binding.registered (renewed)',
        'binding.registered -register-> binding.registered (care-of-address-changed)',
        'binding.registered -deregister-> binding.deregistered (deregistered)',
        'binding.registered -deregister-all-> binding.deregistered (deregistered-all)',
        'binding.registered -replaced-> binding.deregistered (replaced)',
        'binding.registered.timed -after lifetime-> binding.expired (lifetime-expired)',
      ]),
    );
    expect(chart.transitions.find((t) => t.reason === 'care-of-address-changed')?.actions).toEqual(['withdrawBinding', 'renew']);
  });

  it('renders Mermaid with a composite state and one edge per transition', () => {
    const mermaid = chartToMermaid(chart);
    expect(mermaid.split('\n')[0]).toBe('stateDiagram-v2');
    expect(mermaid).toContain('state "registered" as binding_registered {');
    expect(mermaid).toContain('binding_registered_timed --> binding_expired : after lifetime (lifetime-expired)');
    expect(mermaid.split('\n').filter((l) => l.includes(' --> ') && l.includes(' : ')).length).toBe(chart.transitions.length);
  });
});
