/**
 * The mobile node's reverse tunnelling and multicast fields (runtime/config/mn-reverse-tunnel-config.ts)
 * as `mip4 mn` reads them from a document.
 */
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { ConfigError } from '../../runtime/config/ha-config.js';
import { EXAMPLE_MOBILE_NODE_CONFIG, mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';
import { parse } from 'yaml';

function document(mobileNode: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    mobileNode: { interface: 'veth0', homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', homeNetwork: '198.51.100.0/24', ...mobileNode },
    homeAgentAssociation: { spi: 4096, key: '00112233445566778899aabbccddeeff' },
    ...extra,
  };
}

function issues(doc: unknown) {
  try {
    mobileNodeConfigFromDocument(doc);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('mobileNode.reverseTunnel, deliveryStyle, multicastGroups', () => {
  it("defaults: 'T' wanted (RFC 3024 5.1), direct delivery, no groups", () => {
    const config = mobileNodeConfigFromDocument(document());
    expect(config.requestOptions).toMatchObject({ reverseTunnel: true, deliveryStyle: 'direct' });
    expect(config.multicastGroups).toBeUndefined();
  });

  it('given values are taken', () => {
    const config = mobileNodeConfigFromDocument(document({ reverseTunnel: false, deliveryStyle: 'encapsulating', multicastGroups: ['239.1.2.3', '224.1.1.1'] }));
    expect(config.requestOptions).toMatchObject({ reverseTunnel: false, deliveryStyle: 'encapsulating' });
    expect(config.multicastGroups).toEqual([ipv4('239.1.2.3'), ipv4('224.1.1.1')]);
  });

  it('the older requestOptions.reverseTunnel is still read; contradicting mobileNode.reverseTunnel is an issue naming both', () => {
    expect(mobileNodeConfigFromDocument(document({}, { requestOptions: { reverseTunnel: false } })).requestOptions?.reverseTunnel).toBe(false);
    const found = issues(document({ reverseTunnel: true }, { requestOptions: { reverseTunnel: false } }));
    expect(found).toEqual([{ path: 'mobileNode.reverseTunnel', message: expect.stringMatching(/requestOptions\.reverseTunnel/) }]);
  });

  it('a delivery style other than direct or encapsulating is refused, naming the field and the choices', () => {
    const found = issues(document({ deliveryStyle: 'tunnel' }));
    expect(found[0]!.path).toBe('mobileNode.deliveryStyle');
    expect(found[0]!.message).toMatch(/direct, encapsulating/);
  });

  it('groups: not multicast, link-local (224.0.0.0/24) and duplicates are refused, each with its index and the fix', () => {
    const found = issues(document({ multicastGroups: ['198.51.100.7', '224.0.0.5', '239.1.1.1', '239.1.1.1'] }));
    expect(found.map((i) => i.path)).toEqual(['mobileNode.multicastGroups[0]', 'mobileNode.multicastGroups[1]', 'mobileNode.multicastGroups[3]']);
    expect(found[0]!.message).toMatch(/224\.0\.0\.0\/4/);
    expect(found[1]!.message).toMatch(/link-local/);
    expect(found[2]!.message).toMatch(/twice/);
  });

  it('the example configuration documents the three fields', () => {
    expect(EXAMPLE_MOBILE_NODE_CONFIG).toMatch(/^ {2}reverseTunnel: true/m);
    expect(EXAMPLE_MOBILE_NODE_CONFIG).toMatch(/^ {2}deliveryStyle: direct/m);
    expect(EXAMPLE_MOBILE_NODE_CONFIG).toMatch(/multicastGroups:/);
    expect(parse(EXAMPLE_MOBILE_NODE_CONFIG).mobileNode.reverseTunnel).toBe(true);
  });
});
