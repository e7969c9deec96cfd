/** The `advertisement` section of `mip4 ha --config` (runtime/config/ha-config.ts): the home link's Agent Advertisements. */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { ConfigError, homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';

const base = {
  homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', maxLifetime: 600 },
  mobileNodes: [
    { homeAddress: '198.51.100.10', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' },
    { homeAddress: '198.51.100.11', spi: 4097, key: '2b7e151628aed2a6abf7158809cf4f3c', maxLifetime: 900 },
  ],
};

function issues(document: unknown): string[] {
  try {
    homeAgentConfigFromDocument(document);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('mip4 ha: the advertisement section', () => {
  it('is optional: without it nothing is advertised', () => {
    expect(homeAgentConfigFromDocument(base).advertisement).toBeUndefined();
  });

  it('names the home link and fills RFC 1256 defaults; the advertised Registration Lifetime is the longest granted to any node', () => {
    const loaded = homeAgentConfigFromDocument({ ...base, advertisement: { interface: 'eth0', maxInterval: 10 } });
    expect(loaded.advertisement).toMatchObject({
      interfaceName: 'eth0',
      config: { address: ipv4('198.51.100.1'), registrationLifetime: 900, lifetimeSeconds: 30, maxIntervalMs: 10_000, periodic: true, multicastDestination: ipv4('224.0.0.1') },
    });
    expect(loaded.advertisement!.config.seed & 1).toBe(1); // xorshift needs a nonzero state
    const broadcast = homeAgentConfigFromDocument({ ...base, advertisement: { interface: 'eth0', destination: '255.255.255.255', lifetime: 45, periodic: false } });
    expect(broadcast.advertisement!.config).toMatchObject({ lifetimeSeconds: 45, periodic: false, multicastDestination: 0xffffffff });
  });

  it('reports a bad field by its path', () => {
    expect(issues({ ...base, advertisement: { maxInterval: 10 } }).join('\n')).toMatch(/^advertisement\.interface/m);
    expect(issues({ ...base, advertisement: { interface: 'a name/with slash' } }).join('\n')).toMatch(/^advertisement\.interface: expected a network interface name/m);
    expect(issues({ ...base, advertisement: { interface: 'eth0', destination: '224.0.0.2' } }).join('\n')).toMatch(/^advertisement\.destination/m);
    expect(issues({ ...base, advertisement: { interface: 'eth0', maxInterval: 5, minInterval: 6 } })).toEqual([
      'advertisement.minInterval: 6 s is longer than maxInterval; make it at most maxInterval',
    ]);
  });
});
