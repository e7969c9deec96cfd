/**
 * The `metrics` section of the three daemons' configuration files: `metrics: { listen:
 * ADDRESS:PORT }`, absent = no endpoint, a wrong value refused naming `metrics.listen`.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../runtime/config/config-schema.js';
import { EXAMPLE_FOREIGN_AGENT_CONFIG, foreignAgentConfigFromDocument } from '../../runtime/config/fa-config.js';
import { EXAMPLE_HOME_AGENT_CONFIG, homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { EXAMPLE_MOBILE_NODE_CONFIG, mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';

const ROLES = [
  { role: 'ha', example: EXAMPLE_HOME_AGENT_CONFIG, load: (d: unknown) => homeAgentConfigFromDocument(d).metrics, port: 9434 },
  { role: 'fa', example: EXAMPLE_FOREIGN_AGENT_CONFIG, load: (d: unknown) => foreignAgentConfigFromDocument(d).metrics, port: 9435 },
  { role: 'mn', example: EXAMPLE_MOBILE_NODE_CONFIG, load: (d: unknown) => mobileNodeConfigFromDocument(d).metrics, port: 9436 },
] as const;

function withMetrics(example: string, metrics: unknown): unknown {
  return { ...(parse(example) as Record<string, unknown>), metrics };
}

function issuesOf(run: () => unknown): Array<{ path: string; message: string }> {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe.each(ROLES)('mip4 $role: the metrics section', ({ example, load, port }) => {
  it('absent: no metrics endpoint (the example leaves it commented out, naming the suggested port)', () => {
    expect(load(parse(example))).toBeUndefined();
    expect(example).toContain(`#   listen: 127.0.0.1:${port}`);
  });

  it('listen ADDRESS:PORT is read as address and port; port 0 lets the system choose', () => {
    expect(load(withMetrics(example, { listen: `127.0.0.1:${port}` }))).toEqual({ address: '127.0.0.1', port });
    expect(load(withMetrics(example, { listen: '0.0.0.0:0' }))).toEqual({ address: '0.0.0.0', port: 0 });
  });

  it('a wrong listen value, or none, is refused naming metrics.listen', () => {
    for (const listen of ['localhost:9434', '127.0.0.1', '127.0.0.1:70000', 9434]) {
      const issues = issuesOf(() => load(withMetrics(example, { listen })));
      expect(issues.map((i) => i.path), JSON.stringify(listen)).toEqual(['metrics.listen']);
      expect(issues[0]!.message).toMatch(/expected/i);
    }
    expect(issuesOf(() => load(withMetrics(example, {}))).map((i) => i.path)).toEqual(['metrics.listen']);
  });
});
