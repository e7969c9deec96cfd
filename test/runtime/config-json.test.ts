import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, EXAMPLE_HOME_AGENT_CONFIG, loadHomeAgentConfig, type LoadedHomeAgentConfig } from '../../runtime/config/ha-config.js';
import { parseJsonConfig, parseYamlConfig, readConfigFile } from '../../runtime/config/config-schema.js';
import { writePrivateFile } from '../support/files.js';

// A configuration written as JSON (how a generator writes a million mobile nodes) is read by
// JSON.parse instead of the YAML parser. JSON is YAML, so both readings must give the same
// document, the same configuration and the same errors; this file holds them to that.

let root: string;
let counter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mip4-config-json-test-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function write(text: string, extension: string): string {
  const path = join(root, `case-${++counter}.${extension}`);
  writePrivateFile(path, text);
  return path;
}

/** The configuration loaded from `path`, or the issues of the ConfigError it throws. */
function outcome(path: string): LoadedHomeAgentConfig | ReadonlyArray<{ path: string; message: string }> {
  try {
    return withoutSeed(loadHomeAgentConfig(path));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues;
  }
}

/** The advertiser's seed is random per load (R2.1-9), so it is left out of comparisons. */
function withoutSeed(loaded: LoadedHomeAgentConfig): LoadedHomeAgentConfig {
  // The default store file is named after each file's path (store-config.ts): not compared.
  const { store: _store, ...rest } = loaded;
  if (rest.advertisement === undefined) return rest;
  return { ...rest, advertisement: { ...rest.advertisement, config: { ...rest.advertisement.config, seed: 0 } } };
}

const HOME_AGENT = { address: '198.51.100.1', homeNetwork: '198.51.100.0/24' };

/** Configurations as documents: each is written as block YAML and as JSON and loaded both ways. */
const DOCUMENTS: Record<string, unknown> = {
  valid: { homeAgent: HOME_AGENT, mobileNodes: [{ homeAddress: '198.51.100.10', nai: 'mn@example.org', spi: 4096, key: '00112233001122330011223300112233', maxBindings: 2 }] },
  'several associations': {
    homeAgent: { ...HOME_AGENT, maxLifetime: 600, encapsulations: ['ip-in-ip', 'gre'] },
    limits: { maxBindingsPerNode: 3 },
    mobileNodes: [{ homeAddress: '198.51.100.10', securityAssociations: [{ spi: 300, key: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, { spi: 301, key: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', algorithm: 'keyed-md5', replay: 'nonce' }] }],
    foreignAgents: [{ address: '203.0.113.1', spi: 600, key: '0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f' }],
    advertisement: { interface: 'eth1', maxInterval: 5 },
  },
  'reserved SPI': { homeAgent: HOME_AGENT, mobileNodes: [{ homeAddress: '198.51.100.10', spi: 100, key: '00000000000000000000000000000000' }] },
  'bad address and window': { homeAgent: HOME_AGENT, mobileNodes: [{ homeAddress: '198.51.100.300', spi: 4096, key: '00000000000000000000000000000000', replayWindow: 3 }] },
  'unknown field': { homeAgent: { ...HOME_AGENT, replyOnAuthFailur: false }, mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: '00000000000000000000000000000000', maxLifetme: 9 }] },
  'missing mobileNodes': { homeAgent: HOME_AGENT, mobileNode: [] },
  'mobileNodes not a list': { homeAgent: HOME_AGENT, mobileNodes: { homeAddress: '198.51.100.10' } },
  'entry not a mapping': { homeAgent: HOME_AGENT, mobileNodes: ['198.51.100.10', null, 7] },
  'meaning: outside, duplicate, bad key': {
    homeAgent: HOME_AGENT,
    mobileNodes: [
      { homeAddress: '198.51.100.10', spi: 4096, key: '00000000000000000000000000000000' },
      { homeAddress: '10.0.0.1', spi: 4096, key: 'xyz' },
      { homeAddress: '198.51.100.10', nai: 'a@b', spi: 4097, securityAssociations: [{ spi: 4097, key: '01010101010101010101010101010101' }] },
    ],
  },
  'no association': { homeAgent: HOME_AGENT, mobileNodes: [{ homeAddress: '198.51.100.10' }] },
  'not a mapping': ['homeAgent'],
};

function blockYaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return ' []';
    return value.map((item) => `\n${indent}-${blockYaml(item, `${indent}  `).replace(/^\n\s*/, ' ')}`).join('');
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .map(([key, item]) => `\n${indent}${key}:${blockYaml(item, `${indent}  `)}`)
      .join('');
  }
  return ` ${JSON.stringify(value)}`;
}

describe('a JSON configuration file reads as the same YAML would', () => {
  for (const [name, document] of Object.entries(DOCUMENTS)) {
    it(`${name}: the same outcome from JSON and from block YAML`, () => {
      const json = JSON.stringify(document, null, 2);
      expect(parseJsonConfig(json), 'the JSON reading applies').toBeDefined();
      const fromJson = outcome(write(json, 'json'));
      const fromYaml = outcome(write(blockYaml(document).trimStart(), 'yaml'));
      expect(fromJson).toStrictEqual(fromYaml);
    });
  }

  it('the example configuration, converted to JSON, loads to the same configuration', () => {
    const document = parseYamlConfig(EXAMPLE_HOME_AGENT_CONFIG, 'example');
    expect(outcome(write(JSON.stringify(document), 'json'))).toStrictEqual(outcome(write(EXAMPLE_HOME_AGENT_CONFIG, 'yaml')));
  });

  it('any JSON value: JSON.parse and the YAML parser give the same document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const fast = parseJsonConfig(text);
        if (fast === undefined) return;
        expect(fast.document).toStrictEqual(parseYamlConfig(text, 'generated'));
      }),
      { numRuns: 500 },
    );
  });

  it('a key written twice is left to YAML, which refuses it (JSON.parse would keep the last)', () => {
    for (const text of ['{"homeAgent": {}, "homeAgent": {}}', '{"a": [{"spi": 1, "spi": 2}]}', '{"a": {"b\\"": 1, "b\\"": 2}}']) {
      expect(parseJsonConfig(text), text).toBeUndefined();
      const path = write(text, 'json');
      expect(() => readConfigFile(path, 'ha')).toThrow(/is not valid YAML: Map keys must be unique/);
    }
    // The same key text in different mappings, and colons or escaped quotes inside strings, are no repeat.
    expect(parseJsonConfig('{"a": {"k": 1}, "b": {"k": ":"}, "c": ["x\\":", "\\\\"]}')).toBeDefined();
  });

  it('[R5.1-3] a hex key written as a JSON number keeps its digits, as YAML keeps them (JSON.parse would round it)', () => {
    // Valid JSON, and past 2^53: JSON.parse rounds 99887766554433229988776655443322 to 17 digits.
    const text = JSON.stringify({ homeAgent: HOME_AGENT, mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: 'KEY' }] }).replace('"KEY"', '99887766554433229988776655443322');
    expect(JSON.parse(text).mobileNodes[0].key).toBeTypeOf('number');
    expect(parseJsonConfig(text)).toBeUndefined();
    const loaded = loadHomeAgentConfig(write(text, 'json'));
    expect([...loaded.config.mobileNodes[0]!.contexts[0]!.key]).toStrictEqual([0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22]);
    // With leading zeros the text is not JSON at all, and YAML reads it, zeros included.
    const zeros = text.replace('99887766554433229988776655443322', '00112233445566770011223344556677');
    expect(parseJsonConfig(zeros)).toBeUndefined();
    expect([...loadHomeAgentConfig(write(zeros, 'json')).config.mobileNodes[0]!.contexts[0]!.key]).toStrictEqual([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
    // A NAI or an interface name written as a number is left to YAML the same way.
    expect(parseJsonConfig('{"mobileNodes": [{"nai": 12}]}')).toBeUndefined();
    expect(parseJsonConfig('{"dataPath": {"homeInterface": 0}}')).toBeUndefined();
    expect(parseJsonConfig('{"dataPath": {"homeInterface": "0"}}')).toBeDefined();
  });

  it('text that is not JSON (YAML flow style, comments, trailing commas) is read as YAML', () => {
    for (const text of ['{homeAgent: {address: 1.2.3.4}}', '{"a": 1}\n# comment', '{"a": [1, 2,]}', 'a: 1']) {
      expect(parseJsonConfig(text), text).toBeUndefined();
    }
    expect(readConfigFile(write('{"a": 1}\n# comment\n', 'json'), 'ha').document).toStrictEqual({ a: 1 });
  });

  it('an empty JSON document (null) points at --example-config, as an empty YAML file does', () => {
    expect(() => readConfigFile(write('null', 'json'), 'ha')).toThrow(/is empty; `mip4 ha --example-config`/);
  });
});

describe('a large configuration file', () => {
  const NODES = 250_000;
  // 10.0.0.2 … inside 10.0.0.0/8, as the benchmark writes its configuration.
  const address = (i: number) => `10.${((i + 2) >> 16) & 255}.${((i + 2) >> 8) & 255}.${(i + 2) & 255}`;
  const document = (count: number, edit?: (nodes: Array<Record<string, unknown>>) => void) => {
    const mobileNodes: Array<Record<string, unknown>> = [];
    for (let i = 0; i < count; i++) mobileNodes.push({ homeAddress: address(i), spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c', maxBindings: 1 });
    edit?.(mobileNodes);
    return {
      homeAgent: { address: '10.0.0.1', homeNetwork: '10.0.0.0/8', listen: ['127.0.0.1:0'] },
      mobileNodes,
      // With an advertisement, the advertised lifetime is the longest node lifetime (2.1.1),
      // found over every node.
      advertisement: { interface: 'eth1' },
    };
  };

  it(`${NODES.toLocaleString('en')} mobile nodes load: each one with its address, key and limits, the advertised lifetime the longest`, () => {
    const loaded = loadHomeAgentConfig(write(JSON.stringify(document(NODES, (nodes) => (nodes[200_000]!.maxLifetime = 7200))), 'json'));
    const nodes = loaded.config.mobileNodes;
    expect(nodes).toHaveLength(NODES);
    expect(nodes[0]).toStrictEqual({
      homeAddress: 0x0a000002,
      contexts: [{ spi: 4096, algorithm: 'hmac-md5', key: new Uint8Array([0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c]), replay: 'timestamp', replayWindowSeconds: 7 }],
      maxLifetime: 1800,
      maxBindings: 1,
    });
    expect(nodes[NODES - 1]!.homeAddress).toBe(0x0a000002 + NODES - 1);
    expect(nodes[200_000]!.maxLifetime).toBe(7200);
    expect(loaded.advertisement!.config.registrationLifetime).toBe(7200);
  });

  it('a mistake deep in the list is named with its index and the fix, and so is a repeated address', () => {
    const text = JSON.stringify(
      document(50_000, (nodes) => {
        nodes[12_345]!.spi = 100;
        nodes[45_678]!.homeAddress = address(17);
      }),
    );
    expect(outcome(write(text, 'json'))).toStrictEqual([
      { path: 'mobileNodes[12345].spi', message: 'SPI 100 is reserved (0-255, RFC 5944 1.6); use a value above 255' },
    ]);
    const fixed = text.replace('"spi":100', '"spi":4096');
    expect(outcome(write(fixed, 'json'))).toStrictEqual([{ path: 'mobileNodes[45678].homeAddress', message: `${address(17)} is also mobileNodes[17]` }]);
  });

  it('the same 2,000 nodes written as block YAML and as JSON load to the same configuration', () => {
    const small = document(2_000);
    expect(outcome(write(JSON.stringify(small), 'json'))).toStrictEqual(outcome(write(blockYaml(small).trimStart(), 'yaml')));
  });
});
