/**
 * The `limits` of the home agent's configuration that bound what replays and oversized
 * datagrams can cost: maxMessageBytes and replayableRepliesPerNodePerSecond. A wrong value is a
 * ConfigError naming the field and what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { parseYamlConfig } from '../../runtime/config/config-schema.js';
import { ConfigError, EXAMPLE_HOME_AGENT_CONFIG, homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';

const BASE = {
  homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24' },
  mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' }],
};

function issues(limits: Record<string, unknown>): ReadonlyArray<{ path: string; message: string }> {
  try {
    homeAgentConfigFromDocument({ ...BASE, limits });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error(`limits ${JSON.stringify(limits)} were accepted`);
}

describe('HA config: limits.maxMessageBytes and limits.replayableRepliesPerNodePerSecond', () => {
  it('default to 1500 bytes and 2 replies per node per second', () => {
    const { config } = homeAgentConfigFromDocument(BASE);
    expect(config.maxMessageBytes).toBe(1500);
    expect(config.replayableRepliesPerNodePerSecond).toBe(2);
  });

  it('take the values written', () => {
    const { config } = homeAgentConfigFromDocument({ ...BASE, limits: { maxMessageBytes: 46, replayableRepliesPerNodePerSecond: 10 } });
    expect(config.maxMessageBytes).toBe(46);
    expect(config.replayableRepliesPerNodePerSecond).toBe(10);
  });

  it('a maxMessageBytes below 46, above 65535 or not an integer names the field, the range and why 46', () => {
    for (const maxMessageBytes of [45, 0, -1, 65_536, 1500.5, '1500']) {
      const found = issues({ maxMessageBytes });
      expect(found, String(maxMessageBytes)).toHaveLength(1);
      expect(found[0]!.path).toBe('limits.maxMessageBytes');
      if (typeof maxMessageBytes === 'number') {
        expect(found[0]!.message).toMatch(/^expected an integer from 46 \(the smallest authenticated Registration Request.*\) to 65535, e\.g\. 1500; got /);
      }
    }
  });

  it('a replayableRepliesPerNodePerSecond below 1 names the field', () => {
    expect(issues({ replayableRepliesPerNodePerSecond: 0 })).toEqual([{ path: 'limits.replayableRepliesPerNodePerSecond', message: 'expected an integer >= 1, got 0' }]);
  });

  it('the example configuration lists both, with their defaults', () => {
    const example = parseYamlConfig(EXAMPLE_HOME_AGENT_CONFIG, 'example') as { limits: Record<string, unknown> };
    expect(example.limits).toMatchObject({ maxMessageBytes: 1500, replayableRepliesPerNodePerSecond: 2 });
  });
});
