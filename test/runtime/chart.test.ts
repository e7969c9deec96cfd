import { describe, expect, it } from 'vitest';
import { bindingMachine } from '../../machines/binding.js';
import { chartToMermaid, machineChart } from '../../runtime/inspector/machine-chart.js';
import { layoutChart } from '../../runtime/inspector/chart-layout.js';
import { layoutToSvg } from '../../runtime/inspector/chart-svg.js';
import { CHARTED_MACHINES } from '../../runtime/inspector/charts.js';

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

  it.each(Object.keys(CHARTED_MACHINES))('%s: every Mermaid edge joins declared states (no stray root node)', async (name) => {
    const chart = machineChart(await CHARTED_MACHINES[name]!.load());
    const text = chartToMermaid(chart);
    const declared = new Set([...text.matchAll(/state "[^"]*" as (\S+)/g)].map((m) => m[1]!));
    const edges = text.split('\n').filter((l) => / --> /.test(l) && !l.includes('[*]'));
    expect(edges.length).toBe(chart.transitions.length);
    for (const edge of edges) {
      const [, from, to] = /^\s*(\S+) --> (\S+)/.exec(edge)!;
      expect(declared.has(from!), `${edge} starts at an undeclared node`).toBe(true);
      expect(declared.has(to!), `${edge} ends at an undeclared node`).toBe(true);
    }
  });

  it('mn-discovery draws its root-level transitions from the machine box itself', async () => {
    const text = chartToMermaid(machineChart(await CHARTED_MACHINES['mn-discovery']!.load()));
    expect(text).toContain('state "mnDiscovery" as mnDiscovery {');
    expect(text).toContain('mnDiscovery --> mnDiscovery_searching : linkChanged (link-changed)');
  });

  it.each(Object.keys(CHARTED_MACHINES))('%s: the SVG (ELK layout) has a box for every state and every transition, placed inside its parent', async (name) => {
    const chart = machineChart(await CHARTED_MACHINES[name]!.load());
    const layout = await layoutChart(chart);
    for (const state of layout.states) {
      const parent = layout.states.find((s) => s.id === chart.states.find((c) => c.id === state.id)!.parent);
      expect(state.width).toBeGreaterThan(0);
      if (parent) {
        expect(state.x).toBeGreaterThanOrEqual(parent.x);
        expect(state.y).toBeGreaterThanOrEqual(parent.y);
        expect(state.x + state.width).toBeLessThanOrEqual(parent.x + parent.width + 0.5);
        expect(state.y + state.height).toBeLessThanOrEqual(parent.y + parent.height + 0.5);
      }
    }
    for (const placed of layout.transitions) expect(placed.points.length).toBeGreaterThanOrEqual(2);
    const svg = layoutToSvg(layout);
    expect([...svg.matchAll(/<g class="state[^"]*" data-state="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(chart.states.map((s) => s.id).sort());
    expect([...svg.matchAll(/<g class="transition/g)].length).toBe(chart.transitions.length);
  });

  it('mip4 chart --format svg prints the SVG drawing', async () => {
    const { main } = await import('../../runtime/cli/main.js');
    const out: string[] = [];
    expect(await main(['chart', 'ha', '--format', 'svg'], { out: (l) => out.push(l), err: () => {} })).toBe(0);
    const svg = out.join('\n');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('data-state="binding.registered.timed"');
    expect(svg).toContain('after lifetime');
  });

  it('an unknown machine is a usage error', async () => {
    const { main } = await import('../../runtime/cli/main.js');
    const err: string[] = [];
    expect(await main(['chart', 'nope'], { out: () => {}, err: (l) => err.push(l) })).toBe(2);
    expect(err.join('\n')).toContain("unknown machine 'nope'");
  });
});
