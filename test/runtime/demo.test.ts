/**
 * The roaming demo (runtime/cli/roaming-demo.ts, `mip4 demo`, `npm start`): a home agent, two foreign
 * agents and a mobile node on one simulated network, run as a whole, and the `mip4 demo`
 * command in-process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.js';
import { runDemo, type DemoResult } from '../../runtime/cli/roaming-demo.js';

let first: DemoResult;

beforeAll(async () => {
  first = await runDemo({ seed: 1 });
});

async function mip4(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) });
  return { code, out, err };
}

describe('roaming demo', () => {
  it('runs every phase, each delivering echo requests, with registration code 0 throughout and no binding left at the end', () => {
    expect(first.phases.map((p) => [p.name, p.via])).toEqual([
      ['home', 'home'],
      ['foreign-1', 'FA1'],
      ['foreign-2', 'FA2'],
      ['co-located', 'co-located'],
      ['home-again', 'home'],
    ]);
    for (const phase of first.phases) {
      expect(phase.sent).toBeGreaterThan(90);
      expect(phase.delivered, phase.name).toBeGreaterThan(0);
      expect(phase.delivered + phase.lost).toBe(phase.sent);
      // Every Reply the node got says 0 (accepted), and each phase got one.
      expect(phase.replyCodes.length, phase.name).toBeGreaterThan(0);
      expect(phase.replyCodes.every((c) => c === 0), phase.name).toBe(true);
    }
    const text = first.lines.join('\n');
    expect(text).toMatch(/FA1 relayed request for 198\.51\.100\.10 to HA, care-of 203\.0\.113\.1,/);
    expect(text).toMatch(/FA1 relayed HA reply 0 \(registration accepted\)/);
    expect(text).toMatch(/FA2 relayed HA reply 0 \(registration accepted\)/);
    expect(text).toMatch(/HA binding 198\.51\.100\.10 -> 203\.0\.113\.100 \(D, T\)/);
    expect(text).toMatch(/HA binding 198\.51\.100\.10 -> 203\.0\.113\.1 \(T\)/);
    expect(text).toMatch(/MN deregistered \(code 0\); HA bindings: 0/);
    expect(text).not.toMatch(/reply [1-9]|denied|gave up|error/);
    // Returning home: the gratuitous ARP comes before the deregistration Request (4.6).
    const back = first.lines.findIndex((l) => l.includes('MN moved home'));
    const garp = first.lines.findIndex((l, i) => i > back && l.includes('MN gratuitous ARP for 198.51.100.10'));
    const dereg = first.lines.findIndex((l, i) => i > back && /registration request #\d+ to HA: care-of 198\.51\.100\.10, lifetime 0/.test(l));
    expect(garp).toBeGreaterThan(back);
    expect(dereg).toBeGreaterThan(garp);
    expect(first.finalBindings).toBe(0);
    expect(first.lines.at(-1)).toBe('  home agent bindings at the end: 0');
    expect(first.reverseTunnel).toBe(true);
  });

  it('measures a finite handoff for every move type and prints it', () => {
    const handoffs = Object.fromEntries(first.phases.slice(1).map((p) => [p.name, p.handoffMs]));
    for (const [name, ms] of Object.entries(handoffs)) {
      expect(Number.isFinite(ms), name).toBe(true);
      expect(ms!, name).toBeGreaterThan(0);
      expect(ms!, name).toBeLessThan(2000);
    }
    // The README quotes these lines.
    console.log(first.lines.slice(first.lines.findIndex((l) => l.startsWith('summary'))).join('\n'));
    for (const p of first.phases.slice(1)) {
      expect(first.lines).toContainEqual(expect.stringContaining(`: down ${p.delivered} delivered, ${p.lost} lost, handoff ${(p.handoffMs! / 1000).toFixed(3)} s; up ${p.upstreamDelivered} delivered`));
    }
  });

  it('says the router filters ingress, and with reverse tunnels the upstream (node → correspondent) gets through in every phase, none dropped by the filter once registered', () => {
    expect(first.lines[1]).toMatch(/the router filters ingress \(BCP 38/);
    expect(first.lines[1]).toMatch(/the MN asks for reverse tunnels \('T', RFC 3024\)/);
    expect(first.ingressFilter).toBe(true);
    for (const phase of first.phases) {
      expect(phase.upstreamSent, phase.name).toBe(phase.sent);
      expect(phase.upstreamDelivered + phase.upstreamLost).toBe(phase.upstreamSent);
      // At most the datagrams of the handoff itself are lost: the rest went through the tunnel.
      expect(phase.upstreamLost, phase.name).toBeLessThanOrEqual(2);
    }
    // Nothing the node sent away from home needed to be dropped: each was reverse-tunnelled.
    expect(first.ingressFiltered).toBeLessThanOrEqual(first.phases.reduce((n, p) => n + p.upstreamLost, 0) * 2);
    expect(first.lines).toContainEqual(`  datagrams the router dropped by ingress filtering: ${first.ingressFiltered}`);
  });

  it('without reverse tunnels the upstream dies at the router away from home, counted per phase, while the downstream still arrives', async () => {
    const without = await runDemo({ seed: 1, reverseTunnel: false });
    expect(without.lines[1]).toMatch(/the MN asks for no reverse tunnel/);
    for (const phase of without.phases) {
      expect(phase.delivered, phase.name).toBeGreaterThan(90);
      if (phase.via === 'home') {
        expect(phase.upstreamDelivered, phase.name).toBeGreaterThan(90);
      } else {
        expect(phase.upstreamDelivered, phase.name).toBe(0);
        expect(phase.ingressFiltered, phase.name).toBeGreaterThanOrEqual(phase.upstreamSent);
      }
    }
    expect(without.lines).toContainEqual(expect.stringMatching(/phase foreign-1 via FA1: down \d+ delivered, \d+ lost, handoff [\d.]+ s; up 0 delivered, 100 lost \(ingress filter dropped \d+\)/));
  });

  it('is deterministic: the same seed gives byte-identical lines and captures', async () => {
    const again = await runDemo({ seed: 1 });
    expect(again.lines).toEqual(first.lines);
    expect([...again.captures.keys()]).toEqual(['home', 'foreign-1', 'foreign-2', 'correspondent']);
    for (const [segment, pcap] of first.captures) {
      expect(pcap.length, segment).toBeGreaterThan(24);
      expect(Buffer.from(again.captures.get(segment)!).equals(Buffer.from(pcap)), segment).toBe(true);
    }
  });

  it('completes with another seed too', async () => {
    const other = await runDemo({ seed: 424242 });
    expect(other.seed).toBe(424242);
    expect(other.phases.every((p) => p.delivered > 0)).toBe(true);
    expect(other.finalBindings).toBe(0);
  });
});

describe('mip4 demo', () => {
  it('prints the timeline, writes one pcap per segment and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mip4-demo-'));
    try {
      const run = await mip4('demo', '--seed', '1', '--pcap', join(dir, 'roam'));
      expect(run.code).toBe(0);
      expect(run.out).toEqual(first.lines);
      for (const segment of ['home', 'foreign-1', 'foreign-2', 'correspondent']) {
        const bytes = readFileSync(join(dir, `roam-${segment}.pcap`));
        expect(bytes.equals(Buffer.from(first.captures.get(segment)!)), segment).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--json prints the phases; --help exits 0; a bad seed is a usage error (2)', async () => {
    const json = await mip4('demo', '--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out.join('\n')) as { seed: number; phases: unknown[]; finalBindings: number };
    expect(parsed).toMatchObject({ seed: 1, finalBindings: 0 });
    expect(parsed.phases).toHaveLength(5);
    const help = await mip4('demo', '--help');
    expect(help.code).toBe(0);
    expect(help.out.join('\n')).toMatch(/^usage: mip4 demo/);
    expect((await mip4('demo', '--seed', '-3')).code).toBe(2);
    const without = await mip4('demo', '--no-reverse-tunnel');
    expect(without.code).toBe(0);
    expect(without.out.join('\n')).toMatch(/up 0 delivered, 100 lost \(ingress filter dropped/);
    expect((await mip4('demo', '--bogus')).code).toBe(2);
  });
});
