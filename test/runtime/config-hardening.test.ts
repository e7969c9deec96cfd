/**
 * Configuration files as hostile or careless input (runtime/config/config-schema.ts and the three
 * loaders): alias bombs and deep nesting end as configuration errors (exit 2, no stack
 * trace), no message shows a key, short keys need an explicit allowShortKey, a secret others
 * can read is refused with the chmod to run, a home address cannot be its prefix's network or
 * broadcast address, and every interface name follows io/interface-name.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, homeAgentConfigFromDocument, loadHomeAgentConfig } from '../../runtime/config/ha-config.js';
import { MAX_CONFIG_NESTING } from '../../runtime/config/config-schema.js';
import { foreignAgentConfigFromDocument, loadForeignAgentConfig } from '../../runtime/config/fa-config.js';
import { loadMobileNodeConfig, mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
/** A key-looking secret that must never appear in a message. */
const SECRET = '5ec2e75ec2e75ec2e75ec2e75ec2e700';

let root: string;
let counter = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mip4-config-hardening-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(text: string, name = `config-${++counter}.yaml`, mode = 0o600): string {
  const path = join(root, name);
  writePrivateFile(path, text);
  chmodSync(path, mode);
  return path;
}

function failure(load: () => unknown): ConfigError {
  let thrown: unknown;
  try {
    load();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

const haYaml = (node: string, extra = '') =>
  `homeAgent:\n  address: 198.51.100.1\n  homeNetwork: 198.51.100.0/24\n${extra}mobileNodes:\n  - homeAddress: 198.51.100.10\n${node}`;
const haDocument = (node: Record<string, unknown>, homeNetwork = '198.51.100.0/24') => ({
  homeAgent: { address: '198.51.100.1', homeNetwork },
  mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: KEY, ...node }],
});
const faDocument = (foreignAgent: Record<string, unknown>, homeAgent: Record<string, unknown> = {}) => ({
  foreignAgent: { interface: 'eth1', address: '203.0.113.1', ...foreignAgent },
  homeAgents: [{ address: '198.51.100.1', spi: 600, key: KEY, ...homeAgent }],
});
const mnDocument = (mobileNode: Record<string, unknown>, association: Record<string, unknown> = {}) => ({
  mobileNode: { interface: 'eth0', homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', homeNetwork: '198.51.100.0/24', ...mobileNode },
  homeAgentAssociation: { spi: 4096, key: KEY, ...association },
});

/** A "billion laughs" YAML: nine levels of nine aliases each. */
function aliasBomb(): string {
  const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  const names = 'abcdefghi';
  for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(', ')}]`);
  return `${lines.join('\n')}\nhomeAgent: *i\n`;
}

const LOADERS = [
  ['ha', loadHomeAgentConfig],
  ['fa', loadForeignAgentConfig],
  ['mn', loadMobileNodeConfig],
] as const;

describe('hostile structure: alias bombs and deep nesting', () => {
  it.each(LOADERS)('mip4 %s: a YAML alias bomb is a configuration error naming the aliases', (_, load) => {
    const path = write(aliasBomb());
    const error = failure(() => load(path));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.message).toMatch(/YAML aliases .* more than 100 values.*alias bomb/);
  });

  it('an anchor used a few times (a shared key) still loads', () => {
    const text = `homeAgent:\n  address: 198.51.100.1\n  homeNetwork: 198.51.100.0/24\nmobileNodes:\n  - homeAddress: 198.51.100.10\n    spi: 4096\n    key: &k ${KEY}\n  - homeAddress: 198.51.100.11\n    spi: 4096\n    key: *k\n`;
    expect(loadHomeAgentConfig(write(text)).config.mobileNodes).toHaveLength(2);
  });

  it.each(LOADERS)('mip4 %s: JSON nested 100,000 deep is refused before JSON.parse, naming the limit', (_, load) => {
    const path = write(`{"homeAgent": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, `deep-${++counter}.json`);
    expect(failure(() => load(path)).issues[0]!.message).toMatch(new RegExp(`nests lists or mappings more than ${MAX_CONFIG_NESTING} levels deep`));
  });

  it('YAML nested 10,000 deep (the yaml composer overflows the stack at ~800), and YAML or JSON just past the limit, are refused the same way', () => {
    for (const text of [
      `homeAgent: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`,
      `homeAgent: ${'['.repeat(MAX_CONFIG_NESTING)}${']'.repeat(MAX_CONFIG_NESTING)}\n`,
      `homeAgent:\n${Array.from({ length: MAX_CONFIG_NESTING + 1 }, (_, i) => `${'  '.repeat(i + 1)}- `).join('\n')}x\n`,
      `{"homeAgent": ${'['.repeat(MAX_CONFIG_NESTING)}${']'.repeat(MAX_CONFIG_NESTING)}}`,
    ]) {
      expect(failure(() => loadHomeAgentConfig(write(text))).issues[0]!.message, text.slice(0, 60)).toMatch(/levels deep/);
    }
  });

  it('brackets inside JSON strings are not nesting', () => {
    const document = haDocument({ nai: `${'['.repeat(100)}@example.org` });
    expect(loadHomeAgentConfig(write(JSON.stringify(document), `strings-${++counter}.json`)).config.mobileNodes[0]!.nai).toBe(`${'['.repeat(100)}@example.org`);
  });
});

describe('mip4 <daemon> --config with hostile input exits 2 with the problem, no stack trace', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it.each([
    ['ha', 'an alias bomb', () => write(aliasBomb()), /alias bomb/],
    ['ha', 'JSON nested 100,000 deep', () => write(`{"homeAgent": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, `deep-${++counter}.json`), /levels deep/],
    ['mn', 'YAML nested 10,000 deep', () => write(`mobileNode: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`), /levels deep/],
    ['fa', 'a group-readable config holding a key', () => write(`foreignAgent:\n  interface: eth1\n  address: 203.0.113.1\nhomeAgents:\n  - address: 198.51.100.1\n    spi: 600\n    key: ${SECRET}\n`, undefined, 0o640), /chmod 600/],
  ])('mip4 %s with %s', (command, _, makeFile, problem) => {
    const path = makeFile();
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/mip4.js'), command, '--config', path], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(problem);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stderr).not.toContain(SECRET);
  });
});

describe('no message shows a key', () => {
  const messages = (error: ConfigError) => `${error.message}\n${JSON.stringify(error.issues)}`;

  it('a key written as a list, a mapping or binary data: the message says what was expected, not what was written', () => {
    for (const [key, message] of [
      [`[${SECRET}]`, /expected the key as hex text/],
      [`{ k: ${SECRET} }`, /expected the key as hex text/],
      // A tagged scalar's text is kept as written (keepTextFields): base64 is no hex.
      ['!!binary XsLnXsLnXsLnXsLnXsLnXsLnXsLnXsLn', /must be non-empty hex/],
    ] as const) {
      const error = failure(() => loadHomeAgentConfig(write(haYaml(`    spi: 4096\n    key: ${key}\n`))));
      expect(error.issues).toStrictEqual([{ path: 'mobileNodes[0].key', message: expect.stringMatching(message) }]);
      expect(messages(error)).not.toContain(SECRET);
      expect(messages(error)).not.toMatch(/5ec2e7|94,194,231/i);
    }
  });

  it('an entry written as a list of mappings is described, not printed', () => {
    const text = `homeAgent:\n  address: 198.51.100.1\n  homeNetwork: 198.51.100.0/24\nmobileNodes:\n  - - homeAddress: 198.51.100.10\n      spi: 4096\n      key: ${SECRET}\n`;
    const error = failure(() => loadHomeAgentConfig(write(text)));
    expect(error.issues[0]).toMatchObject({ path: 'mobileNodes[0]', message: expect.stringContaining('got a list of 1 items') });
    expect(messages(error)).not.toContain(SECRET);
  });

  it('a YAML syntax error on the key line does not quote the line', () => {
    const error = failure(() => loadHomeAgentConfig(write(haYaml(`    spi: 4096\n    key: ${SECRET}: x\n`))));
    expect(error.issues[0]!.message).toMatch(/is not valid YAML: .*\(line 7, column \d+\)/);
    expect(messages(error)).not.toContain(SECRET);
  });

  it('a key that is not hex, too short, or a key file that is not hex: the field and the fix, not the value', () => {
    const notHex = `${SECRET}zz`;
    const keyFile = write(`${notHex}\n`, `bad-${++counter}.key`);
    for (const [node, path] of [
      [`    spi: 4096\n    key: ${notHex}\n`, 'mobileNodes[0].key'],
      [`    spi: 4096\n    key: ${SECRET.slice(0, 30)}\n`, 'mobileNodes[0].key'],
      [`    spi: 4096\n    keyFile: ${keyFile}\n`, 'mobileNodes[0].keyFile'],
    ] as const) {
      const error = failure(() => loadHomeAgentConfig(write(haYaml(node))));
      expect(error.issues.map((i) => i.path)).toStrictEqual([path]);
      expect(messages(error)).not.toContain(SECRET.slice(0, 30));
    }
  });

  it('mip4 decode --key names the SPI, never the key', async () => {
    ensureBuilt();
    for (const value of [`x${SECRET}`, `4096:${SECRET}zz`, `4096:${SECRET}:sha1`]) {
      const run = spawnSync(process.execPath, [join(ROOT, 'bin/mip4.js'), 'decode', '--key', value, '0a'], { encoding: 'utf8', timeout: 30_000 });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/--key/);
      expect(run.stderr).not.toContain(SECRET);
    }
  });
});

describe('short keys', () => {
  const SHORT = KEY.slice(0, 30); // 15 bytes

  it('a 15-byte key is refused at its path, naming 16 bytes and allowShortKey; 16 bytes load', () => {
    const error = failure(() => homeAgentConfigFromDocument(haDocument({ key: SHORT })));
    expect(error.issues).toStrictEqual([{ path: 'mobileNodes[0].key', message: expect.stringMatching(/15 bytes, shorter than the 16 bytes .*allowShortKey: true/) }]);
    expect(homeAgentConfigFromDocument(haDocument({})).config.mobileNodes[0]!.contexts[0]!.key).toHaveLength(16);
  });

  it('allowShortKey: true on that security association accepts it, and only there', () => {
    expect(homeAgentConfigFromDocument(haDocument({ key: SHORT, allowShortKey: true })).config.mobileNodes[0]!.contexts[0]!.key).toHaveLength(15);
    const document = haDocument({ securityAssociations: [{ spi: 300, key: '00', allowShortKey: true }, { spi: 301, key: '01' }] });
    expect(failure(() => homeAgentConfigFromDocument(document)).issues.map((i) => i.path)).toStrictEqual(['mobileNodes[0].securityAssociations[1].key']);
  });

  it('in a key file, and in the foreign agent and mobile node files too', () => {
    const keyFile = write(`${SHORT}\n`, `short-${++counter}.key`);
    const { key: _, ...withKeyFile } = haDocument({ keyFile }).mobileNodes[0]!;
    const document = { ...haDocument({}), mobileNodes: [withKeyFile] };
    expect(failure(() => homeAgentConfigFromDocument(document)).issues.map((i) => i.path)).toStrictEqual(['mobileNodes[0].keyFile']);
    expect(failure(() => foreignAgentConfigFromDocument(faDocument({}, { key: SHORT }))).issues.map((i) => i.path)).toStrictEqual(['homeAgents[0].key']);
    expect(failure(() => mobileNodeConfigFromDocument(mnDocument({}, { key: SHORT }))).issues.map((i) => i.path)).toStrictEqual(['homeAgentAssociation.key']);
    const withFa = { ...mnDocument({}), foreignAgentAssociation: { spi: 700, key: SHORT } };
    expect(failure(() => mobileNodeConfigFromDocument(withFa)).issues.map((i) => i.path)).toStrictEqual(['foreignAgentAssociation.key']);
    expect(mobileNodeConfigFromDocument(mnDocument({}, { key: SHORT, allowShortKey: true })).mobileHome.key).toHaveLength(15);
  });
});

describe('secrets others can read', () => {
  it.each([0o644, 0o640, 0o604])('a config file with inline keys and mode %o is refused with the chmod to run', (mode) => {
    const path = write(haYaml(`    spi: 4096\n    key: ${SECRET}\n`), undefined, mode);
    const error = failure(() => loadHomeAgentConfig(path));
    expect(error.issues).toStrictEqual([{ path: '', message: expect.stringContaining(`is readable by group or others (mode 0${mode.toString(8)}); run: chmod 600 ${path}`) }]);
    expect(error.message).not.toContain(SECRET);
  });

  it('a config without inline keys may be world-readable; its key file may not', () => {
    const keyFile = write(`${KEY}\n`, `key-${++counter}.hex`, 0o644);
    const config = write(haYaml(`    spi: 4096\n    keyFile: ${keyFile}\n`), undefined, 0o644);
    expect(failure(() => loadHomeAgentConfig(config)).issues).toStrictEqual([
      { path: 'mobileNodes[0].keyFile', message: `${keyFile} is readable by group or others (mode 0644); run: chmod 600 ${keyFile}` },
    ]);
    chmodSync(keyFile, 0o600);
    expect(loadHomeAgentConfig(config).config.mobileNodes[0]!.contexts[0]!.key).toHaveLength(16);
  });

  it('the foreign agent and mobile node files are held to it too', () => {
    const fa = write(JSON.stringify(faDocument({})), `fa-${++counter}.json`, 0o644);
    expect(failure(() => loadForeignAgentConfig(fa)).issues[0]!.message).toContain(`run: chmod 600 ${fa}`);
    const mn = write(JSON.stringify(mnDocument({})), `mn-${++counter}.json`, 0o660);
    expect(failure(() => loadMobileNodeConfig(mn)).issues[0]!.message).toContain(`run: chmod 600 ${mn}`);
  });
});

describe('home addresses that are no host', () => {
  it.each([
    ['198.51.100.0', 'network'],
    ['198.51.100.255', 'broadcast'],
  ])('the home agent refuses mobile node home address %s (the %s address of its /24)', (address, kind) => {
    const error = failure(() => homeAgentConfigFromDocument(haDocument({ homeAddress: address })));
    expect(error.issues).toStrictEqual([{ path: 'mobileNodes[0].homeAddress', message: `${address} is the ${kind} address of 198.51.100.0/24, not a host's; pick an address inside it` }]);
  });

  it('the mobile node refuses them too; a /31 has neither, so both of its addresses are hosts', () => {
    for (const address of ['198.51.100.0', '198.51.100.255']) {
      expect(failure(() => mobileNodeConfigFromDocument(mnDocument({ homeAddress: address }))).issues.map((i) => i.path)).toStrictEqual(['mobileNode.homeAddress']);
    }
    expect(mobileNodeConfigFromDocument(mnDocument({ homeAddress: '198.51.100.0', homeAgent: '198.51.100.1', homeNetwork: '198.51.100.0/31' })).homeAddress).toBeGreaterThan(0);
    const document = { ...haDocument({ homeAddress: '198.51.100.0' }, '198.51.100.0/31') };
    expect(homeAgentConfigFromDocument(document).config.mobileNodes).toHaveLength(1);
  });
});

describe('interface names in the configuration files follow io/interface-name.ts', () => {
  it.each([
    ['the home agent dataPath.homeInterface', () => homeAgentConfigFromDocument({ ...haDocument({}), dataPath: { homeInterface: 'eth1#x' } }), 'dataPath.homeInterface'],
    ['the home agent dataPath.tunnelDevice', () => homeAgentConfigFromDocument({ ...haDocument({}), dataPath: { homeInterface: 'eth1', tunnelDevice: "m'4" } }), 'dataPath.tunnelDevice'],
    ['the home agent advertisement.interface', () => homeAgentConfigFromDocument({ ...haDocument({}), advertisement: { interface: 'eth1\nlink del eth0' } }), 'advertisement.interface'],
    ['the foreign agent interface', () => foreignAgentConfigFromDocument(faDocument({ interface: 'eth\u0000evil' })), 'foreignAgent.interface'],
    ['the mobile node interface', () => mobileNodeConfigFromDocument(mnDocument({ interface: 'eth0\u00a0' })), 'mobileNode.interface'],
    ['the mobile node tunnelDevice', () => mobileNodeConfigFromDocument(mnDocument({ tunnelDevice: 'tun\\0' })), 'mobileNode.tunnelDevice'],
  ])('%s', (_, load, path) => {
    const error = failure(load);
    expect(error.issues).toStrictEqual([{ path, message: expect.stringMatching(/^expected a network interface name like eth1 .*: interface name /) }]);
  });
});
