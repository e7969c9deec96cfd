import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ipv4 } from '../../io/wire/bytes.js';
import { ConfigError } from '../../runtime/config/ha-config.js';
import { EXAMPLE_MOBILE_NODE_CONFIG, loadMobileNodeConfig, mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';
import { writePrivateFile } from '../support/files.js';

// The configuration file of `mip4 mn`, written to real files and read back as the daemon does.

let root: string;
let counter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mip4-mn-config-test-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeConfig(text: string, sideFiles: Record<string, string> = {}): string {
  const dir = join(root, `case-${++counter}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(sideFiles)) writePrivateFile(join(dir, name), content);
  const path = join(dir, 'mn.yaml');
  writePrivateFile(path, text);
  return path;
}

const MINIMAL = `mobileNode:
  interface: veth0
  homeAddress: 198.51.100.10
  homeAgent: 198.51.100.1
  homeNetwork: 198.51.100.0/24
homeAgentAssociation:
  spi: 4096
  key: 00112233445566778899aabbccddeeff
`;

function issuesOf(text: string, sideFiles: Record<string, string> = {}) {
  let thrown: unknown;
  try {
    loadMobileNodeConfig(writeConfig(text, sideFiles));
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `loading should have failed:\n${text}`).toBeInstanceOf(ConfigError);
  return (thrown as ConfigError).issues;
}

function expectSingleIssue(text: string, path: string, message: RegExp, sideFiles: Record<string, string> = {}): void {
  const issues = issuesOf(text, sideFiles);
  expect(issues).toHaveLength(1);
  expect(issues[0]!.path).toBe(path);
  expect(issues[0]!.message).toMatch(message);
}

describe('mip4 mn configuration', () => {
  it('a minimal file gives the runtime config with defaults (timestamp replay, 1800 s, HMAC-MD5, Algorithm 1)', () => {
    const config = loadMobileNodeConfig(writeConfig(MINIMAL));
    expect(config).toStrictEqual({
      interfaceName: 'veth0',
      homeAddress: ipv4('198.51.100.10'),
      homeAgent: ipv4('198.51.100.1'),
      homeNetwork: ipv4('198.51.100.0'),
      homePrefixLength: 24,
      mobileHome: { spi: 4096, algorithm: 'hmac-md5', key: Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex')), replay: 'timestamp' },
      lifetime: 1800,
      moveDetection: 'lifetime',
      requestOptions: { reverseTunnel: true, deliveryStyle: 'direct' },
      // RFC 3519: ask in co-located Requests; the home agent grants UDP tunnelling only behind a NAT.
      udpTunnel: 'auto',
      port: 0,
      // The host is configured per attachment by default; no gateway without config, and the TUN
      // device a co-located address learned later (a DHCP client) needs is there from the start.
      host: { tunnelDevice: 'mip4mn0' },
      // Issue 17: tc-BPF where the host allows it, else userspace.
      dataPathEngine: 'auto',
    });
  });

  it('dataPath.engine (issue 17): auto by default, bpf and userspace as written; anything else names the field and the choices', () => {
    for (const engine of ['bpf', 'userspace', 'auto'] as const) {
      expect(loadMobileNodeConfig(writeConfig(`${MINIMAL}dataPath:\n  engine: ${engine}\n`)).dataPathEngine).toBe(engine);
    }
    expect(loadMobileNodeConfig(writeConfig(EXAMPLE_MOBILE_NODE_CONFIG)).dataPathEngine).toBe('auto');
    expect(() => loadMobileNodeConfig(writeConfig(`${MINIMAL}dataPath:\n  engine: kernel\n`))).toThrow(/dataPath\.engine[\s\S]*bpf[\s\S]*userspace[\s\S]*auto/);
  });

  it('udpTunnel (RFC 3519): auto by default, force and off as written; anything else is an error naming the field and the choices', () => {
    expect(loadMobileNodeConfig(writeConfig(MINIMAL)).udpTunnel).toBe('auto');
    for (const mode of ['auto', 'force', 'off'] as const) {
      const text = MINIMAL.replace('mobileNode:\n', `mobileNode:\n  udpTunnel: ${mode}\n`);
      expect(loadMobileNodeConfig(writeConfig(text)).udpTunnel).toBe(mode);
    }
    const bad = MINIMAL.replace('mobileNode:\n', 'mobileNode:\n  udpTunnel: yes\n');
    expect(() => loadMobileNodeConfig(writeConfig(bad))).toThrow(/mobileNode\.udpTunnel[\s\S]*auto[\s\S]*force[\s\S]*off/);
  });

  it('the example parses into every optional part: NAI, co-located address, FA association, options', () => {
    const config = loadMobileNodeConfig(writeConfig(EXAMPLE_MOBILE_NODE_CONFIG));
    expect(config.nai).toBe('mn1@example.org');
    expect(config.colocated).toStrictEqual({ address: ipv4('203.0.113.50'), prefixLength: 24 });
    expect(config.mobileForeign?.spi).toBe(700);
    expect(config.mobileForeign?.key).toHaveLength(16);
    expect(config.udpTunnel).toBe('auto');
    expect(config.requestOptions).toMatchObject({ simultaneousBindings: false, broadcast: false });
    expect(config.solicitation).toStrictEqual({ initialIntervalMs: 1000, initialCount: 3, maxIntervalMs: 60000 });
    // The same document through the document entry point gives the same config.
    expect(mobileNodeConfigFromDocument(parse(EXAMPLE_MOBILE_NODE_CONFIG) as unknown)).toStrictEqual(config);
  });

  it('keyFile is read relative to the config file; nonce replay and keyed-md5 are kept', () => {
    const text = MINIMAL.replace('  key: 00112233445566778899aabbccddeeff\n', '  keyFile: mn.key\n  replay: nonce\n  algorithm: keyed-md5\n');
    const config = loadMobileNodeConfig(writeConfig(text, { 'mn.key': 'ffeeddccbbaa99887766554433221100\n' }));
    expect(Buffer.from(config.mobileHome.key).toString('hex')).toBe('ffeeddccbbaa99887766554433221100');
    expect(config.mobileHome).toMatchObject({ replay: 'nonce', algorithm: 'keyed-md5' });
  });

  it('an all-digit hex key keeps its leading zeros (not read as a YAML number)', () => {
    const config = loadMobileNodeConfig(writeConfig(MINIMAL.replace('00112233445566778899aabbccddeeff', '00112233445566778899001122334455')));
    expect(Buffer.from(config.mobileHome.key).toString('hex')).toBe('00112233445566778899001122334455');
  });

  it.each([
    ['a reserved SPI', MINIMAL.replace('spi: 4096', 'spi: 100'), 'homeAgentAssociation.spi', /SPI 100 is reserved/],
    ['a bad home address', MINIMAL.replace('homeAddress: 198.51.100.10', 'homeAddress: 198.51.100'), 'mobileNode.homeAddress', /dotted-quad/],
    ['a home address outside the home network', MINIMAL.replace('homeAddress: 198.51.100.10', 'homeAddress: 203.0.113.10'), 'mobileNode.homeAddress', /not inside homeNetwork/],
    ['a bad home network', MINIMAL.replace('198.51.100.0/24', '198.51.100.0/33'), 'mobileNode.homeNetwork', /network prefix/],
    ['a bad home agent', MINIMAL.replace('homeAgent: 198.51.100.1', 'homeAgent: ha.example'), 'mobileNode.homeAgent', /dotted-quad/],
    ['a zero lifetime', MINIMAL.replace('homeNetwork: 198.51.100.0/24', 'homeNetwork: 198.51.100.0/24\n  lifetime: 0'), 'mobileNode.lifetime', /1-65535/],
    ['a bad replay', MINIMAL.replace('  spi: 4096', '  spi: 4096\n  replay: counter'), 'homeAgentAssociation.replay', /timestamp|nonce/],
    ['an unknown algorithm', MINIMAL.replace('  spi: 4096', '  spi: 4096\n  algorithm: sha1'), 'homeAgentAssociation.algorithm', /hmac-md5/],
    ['a key that is not hex', MINIMAL.replace('00112233445566778899aabbccddeeff', 'zz'), 'homeAgentAssociation.key', /non-empty hex/],
    ['both key and keyFile', MINIMAL.replace('  spi: 4096', '  spi: 4096\n  keyFile: k.hex'), 'homeAgentAssociation', /exactly one of key/],
    ['a misspelt field', MINIMAL.replace('  homeAgent:', '  homeAgnet: 198.51.100.2\n  homeAgent:'), 'mobileNode.homeAgnet', /unknown field/],
    ['a bad move detection', MINIMAL.replace('homeNetwork: 198.51.100.0/24', 'homeNetwork: 198.51.100.0/24\n  moveDetection: eager'), 'mobileNode.moveDetection', /lifetime|prefix/],
    ['a co-located address without a prefix', MINIMAL.replace('homeNetwork: 198.51.100.0/24', 'homeNetwork: 198.51.100.0/24\n  colocatedAddress: 203.0.113.5'), 'mobileNode.colocatedAddress', /network prefix/],
    ['a reserved FA SPI', `${MINIMAL}foreignAgentAssociation:\n  spi: 3\n  key: 00110011001100110011001100110011\n`, 'foreignAgentAssociation.spi', /SPI 3 is reserved/],
    ['a non-boolean request option', `${MINIMAL}requestOptions:\n  broadcast: 1\n`, 'requestOptions.broadcast', /boolean/],
  ])('%s is reported at its path', (_, text, path, message) => {
    expectSingleIssue(text, path, message);
  });

  it('host settings: gateways and TUN device are read, checked against the networks they belong to, and configureHost: false turns the adapter off', () => {
    const full = MINIMAL.replace(
      '  homeNetwork: 198.51.100.0/24\n',
      '  homeNetwork: 198.51.100.0/24\n  colocatedAddress: 203.0.113.50/24\n  homeGateway: 198.51.100.254\n  foreignGateway: 203.0.113.1\n  foreignGatewayLinkAddress: 02:AA:00:00:00:01\n',
    );
    expect(loadMobileNodeConfig(writeConfig(full)).host).toStrictEqual({
      homeGateway: ipv4('198.51.100.254'),
      foreignGateway: ipv4('203.0.113.1'),
      foreignGatewayLinkAddress: '02:aa:00:00:00:01',
      tunnelDevice: 'mip4mn0',
    });
    expect(loadMobileNodeConfig(writeConfig(MINIMAL.replace('  homeNetwork: 198.51.100.0/24\n', '  homeNetwork: 198.51.100.0/24\n  configureHost: false\n'))).host).toBeUndefined();
    expectSingleIssue(full.replace('homeGateway: 198.51.100.254', 'homeGateway: 192.0.2.1'), 'mobileNode.homeGateway', /not on the home network/);
    expectSingleIssue(full.replace('foreignGateway: 203.0.113.1', 'foreignGateway: 192.0.2.1'), 'mobileNode.foreignGateway', /not on the co-located address's network/);
    expectSingleIssue(full.replace('  colocatedAddress: 203.0.113.50/24\n', ''), 'mobileNode.foreignGateway', /set colocatedAddress too/);
    expectSingleIssue(full.replace('02:AA:00:00:00:01', 'nope'), 'mobileNode.foreignGatewayLinkAddress', /expected a link-layer address/);
    expectSingleIssue(full.replace('  homeGateway:', '  tunnelDevice: veth0\n  homeGateway:'), 'mobileNode.tunnelDevice', /must not be the node's interface/);
    expectSingleIssue(full.replace('  homeGateway:', '  tunnelDevice: a-name-far-too-long\n  homeGateway:'), 'mobileNode.tunnelDevice', /1-15 bytes/);
  });

  it('[R3.6-1] a node must be configured with its netmask and a Mobility Security Association with its home agent: without either it does not start', () => {
    expect(issuesOf(MINIMAL.replace('  homeNetwork: 198.51.100.0/24\n', '')).map((i) => i.path)).toEqual(['mobileNode.homeNetwork']);
    expect(issuesOf(MINIMAL.split('homeAgentAssociation:')[0]!).map((i) => i.path)).toEqual(['homeAgentAssociation']);
    expect(issuesOf(MINIMAL.replace('  key: 00112233445566778899aabbccddeeff\n', '')).map((i) => i.path)).toEqual(['homeAgentAssociation']);
  });

  it('a missing keyFile is reported at keyFile with the reason', () => {
    expectSingleIssue(MINIMAL.replace('  key: 00112233445566778899aabbccddeeff\n', '  keyFile: absent.hex\n'), 'homeAgentAssociation.keyFile', /cannot read absent\.hex/);
  });

  it('a missing section, an empty file and bad YAML are errors', () => {
    expect(issuesOf(MINIMAL.split('homeAgentAssociation:')[0]!).map((i) => i.path)).toContain('homeAgentAssociation');
    expect(issuesOf('')[0]!.message).toMatch(/is empty/);
    expect(issuesOf('mobileNode: [\n')[0]!.message).toMatch(/not valid YAML/);
  });
});
