import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, EXAMPLE_HOME_AGENT_CONFIG, loadHomeAgentConfig, type LoadedHomeAgentConfig } from '../../runtime/config/ha-config.js';
import { writePrivateFile } from '../support/files.js';

// The configuration file of `mip4 ha`: written to real files in a temporary directory and
// read back with loadHomeAgentConfig, exactly as the daemon reads it.

let root: string;
let fileCounter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mip4-config-test-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes `text` as ha.yaml (plus any side files) into a fresh directory; returns its path. */
function writeConfig(text: string, sideFiles: Record<string, string> = {}): string {
  const dir = join(root, `case-${++fileCounter}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(sideFiles)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writePrivateFile(join(dir, name), content);
  }
  const path = join(dir, 'ha.yaml');
  writePrivateFile(path, text);
  return path;
}

function load(text: string, sideFiles: Record<string, string> = {}): LoadedHomeAgentConfig {
  return loadHomeAgentConfig(writeConfig(text, sideFiles));
}

/** The issues of the ConfigError that loading `text` must throw. */
function issuesOf(text: string, sideFiles: Record<string, string> = {}): ReadonlyArray<{ path: string; message: string }> {
  const path = writeConfig(text, sideFiles);
  let thrown: unknown;
  try {
    loadHomeAgentConfig(path);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `loading should have failed:\n${text}`).toBeInstanceOf(ConfigError);
  const error = thrown as ConfigError;
  expect(error.issues.length).toBeGreaterThan(0);
  // The Error message lists every issue with its path, for callers that only print `message`.
  for (const issue of error.issues) expect(error.message).toContain(issue.message);
  return error.issues;
}

/**
 * A config with a single mistake must report that mistake alone: one issue, at `path`, whose
 * message matches `message` (what is wrong and what to do). Extra issues (e.g. a schema
 * library's internal union members) would bury the useful one in noise on the daemon's stderr.
 */
function expectSingleIssue(text: string, path: string, message: RegExp, sideFiles: Record<string, string> = {}): string {
  const issues = issuesOf(text, sideFiles);
  expect(issues).toHaveLength(1);
  expect(issues[0]!.path).toBe(path);
  expect(issues[0]!.message).toMatch(message);
  return issues[0]!.message;
}

const HOME_AGENT = `homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
`;

/** A valid config whose mobileNodes list is `nodes` (YAML list items, indented by two). */
function withNodes(nodes: string): string {
  return `${HOME_AGENT}mobileNodes:\n${nodes}`;
}

const GOOD_NODE = `  - homeAddress: 198.51.100.10
    spi: 4096
    key: 2b7e151628aed2a6abf7158809cf4f3c
`;

const ip = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const bytes = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));

describe('the example configuration (mip4 ha --example-config)', () => {
  it('parses into the HomeAgentConfig it describes: addresses as numbers, contexts with keys, defaults filled', () => {
    const loaded = load(EXAMPLE_HOME_AGENT_CONFIG);
    expect(loaded).toStrictEqual({
      config: {
        settings: {
          addresses: [ip(198, 51, 100, 1)],
          homeNetwork: ip(198, 51, 100, 0),
          prefixLength: 24,
          simultaneousBindings: true,
          broadcast: true,
          encapsulations: { minimal: true, gre: true },
          reverseTunnel: 'allowed',
          replyOnAuthFailure: true,
          udpTunnel: 'allowed',
          udpKeepaliveInterval: 110,
        },
        mobileNodes: [
          {
            homeAddress: ip(198, 51, 100, 10),
            nai: 'mn1@example.org',
            contexts: [
              {
                spi: 4096,
                algorithm: 'hmac-md5',
                key: bytes('2b7e151628aed2a6abf7158809cf4f3c'),
                replay: 'timestamp',
                replayWindowSeconds: 7,
              },
            ],
            maxLifetime: 1800,
            maxBindings: 2,
            reverseTunnel: 'allowed',
            udpTunnel: 'allowed',
          },
        ],
        foreignAgents: [
          {
            address: ip(203, 0, 113, 1),
            contexts: [
              {
                spi: 600,
                algorithm: 'hmac-md5',
                key: bytes('000102030405060708090a0b0c0d0e0f'),
                replay: 'timestamp',
                replayWindowSeconds: 7,
              },
            ],
          },
        ],
        maxBindings: 1_000_000,
        authFailureRepliesPerSecond: 100,
        replayableRepliesPerNodePerSecond: 2,
        maxMessageBytes: 1500,
      },
      listen: [
        { address: ip(198, 51, 100, 1), port: 434 },
        { address: ip(198, 51, 100, 255), port: 434 },
      ],
      // No dataPath: the example as printed answers registrations only, on no interface.
      // No store section: the default file, named after the config file (store-config.ts).
      store: { path: expect.stringMatching(/\/ha-[0-9a-f]{12}\.db$/), sync: 'full', defaulted: true },
    });
  });

  it('fills the defaults of a minimal file: port 434 on the home agent address, HMAC-MD5, timestamps, 7 s, 1800 s, 4 bindings', () => {
    const loaded = load(withNodes(GOOD_NODE));
    expect(loaded.listen).toStrictEqual([{ address: ip(198, 51, 100, 1), port: 434 }]);
    expect(loaded.config.settings).toStrictEqual({
      addresses: [ip(198, 51, 100, 1)],
      homeNetwork: ip(198, 51, 100, 0),
      prefixLength: 24,
      simultaneousBindings: true,
      broadcast: true,
      encapsulations: { minimal: true, gre: true },
      reverseTunnel: 'allowed',
      replyOnAuthFailure: true,
      udpTunnel: 'allowed',
      udpKeepaliveInterval: 110,
    });
    expect(loaded.config.mobileNodes).toStrictEqual([
      {
        homeAddress: ip(198, 51, 100, 10),
        contexts: [{ spi: 4096, algorithm: 'hmac-md5', key: bytes('2b7e151628aed2a6abf7158809cf4f3c'), replay: 'timestamp', replayWindowSeconds: 7 }],
        maxLifetime: 1800,
        maxBindings: 4,
      },
    ]);
    expect(loaded.config.foreignAgents).toStrictEqual([]);
    expect(loaded.config.maxBindings).toBe(1_000_000);
  });

  it('applies homeAgent.maxLifetime and limits.maxBindingsPerNode to nodes that set none, and simultaneousBindings false to 1 binding', () => {
    const loaded = load(`homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  otherAddresses: [192.0.2.1]
  maxLifetime: 30
  simultaneousBindings: false
  encapsulations: [ip-in-ip, gre]
mobileNodes:
${GOOD_NODE}  - homeAddress: 198.51.100.11
    maxLifetime: 600
    securityAssociations:
      - spi: 300
        key: 00010203000102030001020300010203
        replay: nonce
      - spi: 301
        algorithm: keyed-md5
        key: 0a0b0a0b0a0b0a0b0a0b0a0b0a0b0a0b
        replayWindow: 4
`);
    const settings = loaded.config.settings;
    expect(settings.addresses).toStrictEqual([ip(198, 51, 100, 1), ip(192, 0, 2, 1)]);
    expect(settings.simultaneousBindings).toBe(false);
    expect(settings.encapsulations).toStrictEqual({ minimal: false, gre: true });
    const [first, second] = loaded.config.mobileNodes;
    expect(first!.maxLifetime).toBe(30);
    expect(first!.maxBindings).toBe(1);
    expect(second!.maxLifetime).toBe(600);
    expect(second!.contexts).toStrictEqual([
      { spi: 300, algorithm: 'hmac-md5', key: bytes('00010203000102030001020300010203'), replay: 'nonce', replayWindowSeconds: 7 },
      { spi: 301, algorithm: 'keyed-md5', key: bytes('0a0b0a0b0a0b0a0b0a0b0a0b0a0b0a0b'), replay: 'timestamp', replayWindowSeconds: 4 },
    ]);
  });

  it('[R5.1-3] reads a hex key made only of digits as hex, leading zeros included (YAML would read it as a number)', () => {
    const loaded = load(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00112233445566778899001122334455
  - homeAddress: 198.51.100.11
    spi: 4097
    key: 12345678901234567890123456789012
`),
    );
    expect(loaded.config.mobileNodes[0]!.contexts[0]!.key).toStrictEqual(bytes('00112233445566778899001122334455'));
    expect(loaded.config.mobileNodes[1]!.contexts[0]!.key).toStrictEqual(bytes('12345678901234567890123456789012'));
  });

  it('resolves a relative keyFile against the directory of the config file, not the working directory', () => {
    const loaded = load(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    keyFile: keys/mn1.hex
`),
      { 'keys/mn1.hex': '  00112233445566778899aabbccddeeff\n' },
    );
    expect(process.cwd()).not.toBe(root);
    expect(loaded.config.mobileNodes[0]!.contexts[0]!.key).toStrictEqual(bytes('00112233445566778899aabbccddeeff'));
  });
});

describe('reverse tunnelling (RFC 3024): homeAgent.reverseTunnel and per node', () => {
  it('reads the default and a per-node policy; a node without one takes the default', () => {
    const loaded = load(`${HOME_AGENT}  reverseTunnel: required
mobileNodes:
${GOOD_NODE}  - homeAddress: 198.51.100.11
    spi: 4097
    key: 2b7e151628aed2a6abf7158809cf4f3c
    reverseTunnel: refused
`);
    expect(loaded.config.settings.reverseTunnel).toBe('required');
    expect(loaded.config.mobileNodes[0]!.reverseTunnel).toBeUndefined();
    expect(loaded.config.mobileNodes[1]!.reverseTunnel).toBe('refused');
  });

  it('keeps reading the older homeAgent.reverseTunneling: true as allowed, false as refused', () => {
    expect(load(withNodes(GOOD_NODE).replace('homeNetwork: 198.51.100.0/24\n', 'homeNetwork: 198.51.100.0/24\n  reverseTunneling: true\n')).config.settings.reverseTunnel).toBe('allowed');
    expect(load(withNodes(GOOD_NODE).replace('homeNetwork: 198.51.100.0/24\n', 'homeNetwork: 198.51.100.0/24\n  reverseTunneling: false\n')).config.settings.reverseTunnel).toBe('refused');
  });

  it('refuses an unknown policy naming the field, and both spellings at once', () => {
    const issues = issuesOf(withNodes(`${GOOD_NODE}    reverseTunnel: maybe\n`));
    expect(issues.some((i) => i.path === 'mobileNodes[0].reverseTunnel' && /allowed|required|refused/.test(i.message)), JSON.stringify(issues)).toBe(true);
    expectSingleIssue(
      withNodes(GOOD_NODE).replace('homeNetwork: 198.51.100.0/24\n', 'homeNetwork: 198.51.100.0/24\n  reverseTunnel: allowed\n  reverseTunneling: true\n'),
      'homeAgent.reverseTunneling',
      /keep only reverseTunnel/,
    );
  });
});

describe('UDP tunnelling (RFC 3519): homeAgent.udpTunnel, udpKeepaliveInterval and per node', () => {
  it('reads the default, the interval and a per-node policy; a node without one takes the default', () => {
    const loaded = load(`${HOME_AGENT}  udpTunnel: required
  udpKeepaliveInterval: 25
mobileNodes:
${GOOD_NODE}  - homeAddress: 198.51.100.11
    spi: 4097
    key: 2b7e151628aed2a6abf7158809cf4f3c
    udpTunnel: refused
`);
    expect(loaded.config.settings.udpTunnel).toBe('required');
    expect(loaded.config.settings.udpKeepaliveInterval).toBe(25);
    expect(loaded.config.mobileNodes[0]!.udpTunnel).toBeUndefined();
    expect(loaded.config.mobileNodes[1]!.udpTunnel).toBe('refused');
  });

  it('refuses an unknown policy and an interval out of range, naming the field', () => {
    const issues = issuesOf(withNodes(`${GOOD_NODE}    udpTunnel: maybe\n`));
    expect(issues.some((i) => i.path === 'mobileNodes[0].udpTunnel' && /allowed|required|refused/.test(i.message)), JSON.stringify(issues)).toBe(true);
    expectSingleIssue(
      withNodes(GOOD_NODE).replace('homeNetwork: 198.51.100.0/24\n', 'homeNetwork: 198.51.100.0/24\n  udpKeepaliveInterval: 0\n'),
      'homeAgent.udpKeepaliveInterval',
      /1 to 65535/,
    );
  });
});

describe('configuration errors name the field and say what to do', () => {
  it('[R1.6-3] SPI 100 is reserved (0-255): mobileNodes[0].spi, use a value above 255', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 100
    key: 2b7e151628aed2a6abf7158809cf4f3c
`),
      'mobileNodes[0].spi',
      /SPI 100 is reserved.*0-255.*use a value above 255/,
    );
  });

  it('[R1.6-3] an SPI inside securityAssociations is checked too, with its full path', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    securityAssociations:
      - spi: 4096
        key: 00000000000000000000000000000000
      - spi: 255
        key: 01010101010101010101010101010101
`),
      'mobileNodes[0].securityAssociations[1].spi',
      /SPI 255 is reserved.*above 255/,
    );
  });

  it('a bad IPv4 address: the field path and the expected dotted-quad form', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.300
    spi: 4096
    key: 00000000000000000000000000000000
`),
      'mobileNodes[0].homeAddress',
      /expected a dotted-quad IPv4 address like .*"198\.51\.100\.300"/,
    );
    expectSingleIssue(
      `homeAgent:
  address: home-agent.example.org
  homeNetwork: 198.51.100.0/24
mobileNodes: []
`,
      'homeAgent.address',
      /dotted-quad IPv4 address/,
    );
  });

  it('[R3.8.1-1] the home agent address and home network prefix are required', () => {
    expectSingleIssue(
      `homeAgent:
  address: 198.51.100.1
mobileNodes: []
`,
      'homeAgent.homeNetwork',
      /missing/,
    );
    expectSingleIssue(
      `homeAgent:
  homeNetwork: 198.51.100.0/24
mobileNodes: []
`,
      'homeAgent.address',
      /missing/,
    );
  });

  it('[R3.8.1-1] a bad home network prefix: homeAgent.homeNetwork, expected ADDRESS/LENGTH', () => {
    for (const prefix of ['198.51.100.0/33', '198.51.100.0', '198.51.100.0/24/1', '198.51.100/24']) {
      expectSingleIssue(
        `homeAgent:
  address: 198.51.100.1
  homeNetwork: ${prefix}
mobileNodes: []
`,
        'homeAgent.homeNetwork',
        /expected a network prefix like 198\.51\.100\.0\/24/,
      );
    }
  });

  it('a homeAddress outside the homeNetwork', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 192.0.2.10
    spi: 4096
    key: 00000000000000000000000000000000
`),
      'mobileNodes[0].homeAddress',
      /192\.0\.2\.10 is not inside homeNetwork 198\.51\.100\.0\/24/,
    );
  });

  it('the home agent address outside its own homeNetwork', () => {
    expectSingleIssue(
      `homeAgent:
  address: 192.0.2.1
  homeNetwork: 198.51.100.0/24
mobileNodes: []
`,
      'homeAgent.address',
      /not inside homeNetwork/,
    );
  });

  it('a duplicate homeAddress names the second entry and the first', () => {
    expectSingleIssue(
      withNodes(`${GOOD_NODE}  - homeAddress: 198.51.100.10
    spi: 4097
    key: 01010101010101010101010101010101
`),
      'mobileNodes[1].homeAddress',
      /198\.51\.100\.10 is also mobileNodes\[0\]/,
    );
  });

  it('a duplicate NAI names the second entry and the first', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    nai: mn@example.org
    spi: 4096
    key: 00000000000000000000000000000000
  - homeAddress: 198.51.100.11
    spi: 4096
    key: 01010101010101010101010101010101
  - homeAddress: 198.51.100.12
    nai: mn@example.org
    spi: 4096
    key: 02020202020202020202020202020202
`),
      'mobileNodes[2].nai',
      /mn@example\.org is also mobileNodes\[0\]/,
    );
  });

  it('a duplicate SPI for one peer (spi plus securityAssociations)', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
    securityAssociations:
      - spi: 4096
        key: 01010101010101010101010101010101
`),
      'mobileNodes[0].securityAssociations[0].spi',
      /SPI 4096 is used twice for the same peer/,
    );
  });

  it('the same SPI for two different peers is fine (associations are per peer, 3.2)', () => {
    const loaded = load(
      withNodes(`${GOOD_NODE}  - homeAddress: 198.51.100.11
    spi: 4096
    key: 01010101010101010101010101010101
`),
    );
    expect(loaded.config.mobileNodes.map((n) => n.contexts[0]!.spi)).toStrictEqual([4096, 4096]);
  });

  it('[R3.8.1-2] a missing key: the entry is named and key / keyFile are offered', () => {
    const message = expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
`),
      'mobileNodes[0]',
      /give exactly one of key \(hex\) and keyFile/,
    );
    expect(message).toContain('keyFile');
  });

  it('[R3.8.1-2] a node with no security association at all', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
`),
      'mobileNodes[0]',
      /no security association: give spi and key \(or keyFile\), or securityAssociations/,
    );
  });

  it('key and keyFile both', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
    keyFile: mn.hex
`),
      'mobileNodes[0]',
      /give exactly one of key \(hex\) and keyFile/,
      { 'mn.hex': '00' },
    );
  });

  it('a key that is not hex says what a key looks like', () => {
    for (const key of ['0011zz', 'abc', '"-"', '""']) {
      expectSingleIssue(
        withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: ${key}
`),
        'mobileNodes[0].key',
        /the key must be non-empty hex, e\.g\. [0-9a-f]{32}/,
      );
    }
  });

  it('a keyFile that does not exist, named relative to the config directory', () => {
    const message = expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    keyFile: keys/missing.hex
`),
      'mobileNodes[0].keyFile',
      /cannot read keys\/missing\.hex/,
    );
    expect(message).toMatch(/ENOENT/);
  });

  it('a keyFile whose content is not hex', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    keyFile: mn.hex
`),
      'mobileNodes[0].keyFile',
      /the key must be non-empty hex/,
      { 'mn.hex': 'secret password\n' },
    );
  });

  it('[R5.7.1-2] replayWindow 3 is refused: the window must be more than 3 seconds', () => {
    const message = expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
    replayWindow: 3
`),
      'mobileNodes[0].replayWindow',
      /more than 3 seconds/,
    );
    expect(message).toContain('got 3');
    // 3.5 is more than 3: accepted.
    const loaded = load(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
    replayWindow: 3.5
`),
    );
    expect(loaded.config.mobileNodes[0]!.contexts[0]!.replayWindowSeconds).toBe(3.5);
  });

  it('an unknown field (a typo) is reported at its own path, with a hint to check the spelling', () => {
    expectSingleIssue(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
    maxLifetme: 30
`),
      'mobileNodes[0].maxLifetme',
      /unknown field \(check its spelling\)/,
    );
    expectSingleIssue(
      `homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  replyOnAuthFailur: false
mobileNodes: []
`,
      'homeAgent.replyOnAuthFailur',
      /unknown field/,
    );
  });

  it('a misspelt required field: the unknown spelling and the missing field are both named', () => {
    const issues = issuesOf(`homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
mobileNode: []
`);
    expect(issues).toContainEqual({ path: 'mobileNode', message: 'unknown field (check its spelling)' });
    expect(issues.find((i) => i.path === 'mobileNodes')?.message).toMatch(/missing/);
  });

  it('ip-in-ip removed from encapsulations: it is mandatory (4.1)', () => {
    expectSingleIssue(
      `homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  encapsulations: [minimal, gre]
mobileNodes: []
`,
      'homeAgent.encapsulations',
      /ip-in-ip must stay enabled/,
    );
  });

  it('an unknown encapsulation names its list index', () => {
    const issues = issuesOf(`homeAgent:
  address: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  encapsulations: [ip-in-ip, ipip6]
mobileNodes: []
`);
    expect(issues.map((i) => i.path)).toContain('homeAgent.encapsulations[1]');
    expect(issues.find((i) => i.path === 'homeAgent.encapsulations[1]')!.message).toMatch(/ip-in-ip/);
  });

  it('an empty file points at --example-config', () => {
    for (const text of ['', '\n# only a comment\n']) {
      expectSingleIssue(text, '', /is empty; `mip4 ha --example-config` prints a commented example/);
    }
  });

  it('invalid YAML says so, with the parser message', () => {
    expectSingleIssue('homeAgent:\n  address: [198.51.100.1\nmobileNodes: {\n', '', /is not valid YAML: /);
  });

  it('a file that cannot be read names it', () => {
    let thrown: unknown;
    try {
      loadHomeAgentConfig(join(root, 'no-such-dir', 'ha.yaml'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).issues).toHaveLength(1);
    expect((thrown as ConfigError).issues[0]!.message).toMatch(/cannot read .*no-such-dir\/ha\.yaml/);
  });

  it('several mistakes are all reported at once, each at its own path', () => {
    // Shape mistakes (types, forms, ranges) are found together...
    const shape = issuesOf(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 100
    key: 00000000000000000000000000000000
  - homeAddress: 198.51.100.300
    spi: 4096
    key: 01010101010101010101010101010101
    replayWindow: 1
`),
    );
    expect(shape.map((i) => i.path).sort()).toStrictEqual(['mobileNodes[0].spi', 'mobileNodes[1].homeAddress', 'mobileNodes[1].replayWindow']);
    // ...and so are mistakes of meaning (addresses against the network, keys, duplicates).
    const meaning = issuesOf(
      withNodes(`  - homeAddress: 198.51.100.10
    spi: 4096
    key: 00000000000000000000000000000000
  - homeAddress: 10.0.0.1
    spi: 4096
    key: xyz
  - homeAddress: 198.51.100.10
    spi: 4097
    key: 02020202020202020202020202020202
`),
    );
    expect(meaning.map((i) => i.path).sort()).toStrictEqual(['mobileNodes[1].homeAddress', 'mobileNodes[1].key', 'mobileNodes[2].homeAddress']);
  });

  it('dataPath: absent means control plane only; present, its fields are checked and named', () => {
    expect(load(withNodes(GOOD_NODE)).dataPath).toBeUndefined();
    expect(load(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n`).dataPath).toStrictEqual({ homeInterface: 'eth1' });
    // A name of digits stays text (YAML would read it as a number).
    expect(load(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: 0\n`).dataPath).toStrictEqual({ homeInterface: '0' });
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  tunnelDevice: mip4ha0\n`, 'dataPath.homeInterface', /missing/i);
    expectSingleIssue(
      `${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: a-name-longer-than-15\n`,
      'dataPath.homeInterface',
      /1-15 bytes/,
    );
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  maxBatch: 5000\n`, 'dataPath.maxBatch', /1 to 1024/);
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  routeTable: 255\n`, 'dataPath.routeTable', /254 \(main\)/);
    expect(load(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  tunOffload: false\n`).dataPath).toStrictEqual({ homeInterface: 'eth1', tunOffload: false });
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  tunOffload: sometimes\n`, 'dataPath.tunOffload', /boolean/i);
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  tunnelMtu: 40\n`, 'dataPath.tunnelMtu', /68 to 65535/);
    expectSingleIssue(
      `${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  tunnelDevice: eth1\n`,
      'dataPath.tunnelDevice',
      /is the home interface; name a new device/,
    );
    expectSingleIssue(`${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n  tunDevice: x\n`, 'dataPath.tunDevice', /unknown field/);
  });

  it('dataPath.engine: bpf, userspace or auto (absent: the default, auto); bpfInterfaces: names, never lo or the TUN device', () => {
    const base = `${withNodes(GOOD_NODE)}dataPath:\n  homeInterface: eth1\n`;
    for (const engine of ['bpf', 'userspace', 'auto'] as const) expect(load(`${base}  engine: ${engine}\n`).dataPath?.engine).toBe(engine);
    expect(load(base).dataPath?.engine).toBeUndefined();
    expectSingleIssue(`${base}  engine: kernel\n`, 'dataPath.engine', /bpf.*userspace.*auto/);
    expect(load(`${base}  bpfInterfaces: [eth1, eth2]\n`).dataPath?.bpfInterfaces).toStrictEqual(['eth1', 'eth2']);
    expectSingleIssue(`${base}  bpfInterfaces: []\n`, 'dataPath.bpfInterfaces', /at least 1|minItems|1 item/i);
    expectSingleIssue(`${base}  bpfInterfaces: [eth1, lo]\n`, 'dataPath.bpfInterfaces[1]', /loopback.*e\.g\. eth1/);
    expectSingleIssue(`${base}  tunnelDevice: tun7\n  bpfInterfaces: [tun7]\n`, 'dataPath.bpfInterfaces[0]', /the TUN device/);
  });
});
