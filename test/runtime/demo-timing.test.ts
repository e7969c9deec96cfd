/**
 * The demo's timing fields used by `npm run bench` (part 4): a finer ping interval, and per
 * move the time the node heard the advertisement and the time its registration was accepted.
 */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../runtime/cli/roaming-demo.js';

describe('demo timing', () => {
  it('pings at the interval asked for and reports advertisement and registration times per move', async () => {
    const { phases, lines } = await runDemo({ seed: 1, pingIntervalMs: 10 });
    expect(lines[0]).toMatch(/pings it every 10 ms/);
    for (const phase of phases.slice(1)) {
      // The advertisement, when one triggered the registration, comes before it.
      expect(phase.registeredMs).toBeGreaterThanOrEqual(phase.advertisementMs ?? 0);
      // With a ping every 10 ms, the first packet at the new place is timed to 10 ms.
      expect(phase.handoffMs).toBeLessThanOrEqual(phase.registeredMs! + 10 + 10);
    }
    expect(phases.find((p) => p.name === 'foreign-1')!.advertisementMs).toBeGreaterThanOrEqual(0);
    // Ten times the pings of the default demo (100 ms), over the same 50 s.
    expect(phases.reduce((s, p) => s + p.sent, 0)).toBeGreaterThan(4_900);
  });

  it('refuses a ping interval that does not divide a second', async () => {
    await expect(runDemo({ pingIntervalMs: 7 })).rejects.toThrow(/divides 1000/);
  });
});
