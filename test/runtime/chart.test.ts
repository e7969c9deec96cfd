import { describe, expect, it } from 'vitest';
import { bindingMachine } from '../../machines/binding.js';
import { chartToMermaid, machineChart } from '../../runtime/cli/machine-chart.js';

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

describe('mip4 chart for every machine', () => {
  it.each(['ha', 'fa-visitor', 'fa-pending', 'fa-advertiser', 'mn-discovery', 'mn-registration'])(
    '%s prints a Mermaid chart with every state of the machine',
    async (name) => {
      const { main } = await import('../../runtime/cli/main.js');
      const out: string[] = [];
      const code = await main(['chart', name], { out: (l) => out.push(l), err: () => {} });
      expect(code).toBe(0);
      const text = out.join('\n');
      expect(text.startsWith('stateDiagram-v2')).toBe(true);
      const json: string[] = [];
      expect(await main(['chart', name, '--format', 'json'], { out: (l) => json.push(l), err: () => {} })).toBe(0);
      const chart = JSON.parse(json.join('\n')) as { states: Array<{ id: string; parent?: string }>; transitions: unknown[] };
      expect(chart.transitions.length).toBeGreaterThan(0);
      for (const state of chart.states.filter((s) => s.parent !== undefined)) {
        expect(text).toContain(`as ${state.id.replace(/[^A-Za-z0-9_]/g, '_')}`);
      }
    },
  );

  it('an unknown machine is a usage error', async () => {
    const { main } = await import('../../runtime/cli/main.js');
    const err: string[] = [];
    expect(await main(['chart', 'nope'], { out: () => {}, err: (l) => err.push(l) })).toBe(2);
    expect(err.join('\n')).toContain("unknown machine 'nope'");
  });
});
