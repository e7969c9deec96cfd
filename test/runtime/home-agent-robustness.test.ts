/**
 * A failure inside the agent (here: the reply path throwing, as a socket might) must not
 * escape handleRequest, crash the process, or lose state: it is counted and logged, and the
 * next request is served.
 */
import { describe, expect, it } from 'vitest';
import { buildRequest, COA1, HA, Harness, MIP_PORT, MN_PORT } from './home-agent-harness.js';

describe('HomeAgent: internal failures', () => {
  it('a throwing reply sender is contained: counted as internal-error, the binding made before it stays, the next request is answered', () => {
    const h = new Harness();
    const request = buildRequest({ identification: h.fresh() });
    expect(() =>
      h.agent.handleRequest({ data: request, source: COA1, sourcePort: MN_PORT, destination: HA, destinationPort: MIP_PORT }, () => {
        throw new Error('socket closed');
      }),
    ).not.toThrow();
    expect(h.agent.counters.discardedByReason['internal-error']).toBe(1);
    expect(h.events.at(-1)).toMatchObject({ event: 'discard', reason: 'internal-error' });
    expect((h.events.at(-1) as { detail: string }).detail).toContain('socket closed');
    // The registration itself was applied before the reply failed; the node retransmits and
    // its duplicate is answered with the lifetime already granted (3.8.2.2).
    expect(h.agent.bindingCount).toBe(1);
    const again = h.deliver(request, { source: COA1 });
    expect(again).toHaveLength(1);
    expect(again[0]!.reply.code).toBe(0);
  });
});
