import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIpv4, toHex } from '../../io/wire/bytes.js';
import {
  ConfigError,
  EXAMPLE_FOREIGN_AGENT_CONFIG,
  foreignAgentConfigFromDocument,
  loadForeignAgentConfig,
} from '../../runtime/config/fa-config.js';
import { main } from '../../runtime/cli/main.js';
import { writePrivateFile } from '../support/files.js';

// The configuration file of `mip4 fa`: written to real files in a temporary directory and read
// back with loadForeignAgentConfig, as the daemon reads it; and the daemon's answers to a bad
// file (exit 2, the field's path on stderr) through the command line's `main`.

let root: string;
let counter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mip4-fa-config-test-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeConfig(text: string, sideFiles: Record<string, string> = {}): string {
  const dir = join(root, `case-${++counter}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(sideFiles)) writePrivateFile(join(dir, name), content);
  const path = join(dir, 'fa.yaml');
  writePrivateFile(path, text);
  return path;
}

const MINIMAL = `foreignAgent:
  interface: veth-fa
  address: 203.0.113.1
`;

function issuesOf(text: string, sideFiles: Record<string, string> = {}): ReadonlyArray<{ path: string; message: string }> {
  let thrown: unknown;
  try {
    loadForeignAgentConfig(writeConfig(text, sideFiles));
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `loading should have failed:\n${text}`).toBeInstanceOf(ConfigError);
  return (thrown as ConfigError).issues;
}

/** One mistake, one issue, at `path`, saying what is wrong. */
function expectSingleIssue(text: string, path: string, message: RegExp, sideFiles: Record<string, string> = {}): void {
  const issues = issuesOf(text, sideFiles);
  expect(issues, JSON.stringify(issues)).toHaveLength(1);
  expect(issues[0]!.path).toBe(path);
  expect(issues[0]!.message).toMatch(message);
}

async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('foreign agent configuration', () => {
  it("reverseTunnel: offered by default, advertised with 'T'; required and none as written; the older boolean maps true → offered, false → none (RFC 3024)", () => {
    const settingsOf = (extra: string) => loadForeignAgentConfig(writeConfig(`${MINIMAL}${extra}`)).config.settings;
    expect(settingsOf('')).toMatchObject({ reverseTunnel: 'offered', reverseTunneling: true, encapsulatingDelivery: true });
    expect(settingsOf('  reverseTunnel: required\n')).toMatchObject({ reverseTunnel: 'required', reverseTunneling: true });
    expect(settingsOf('  reverseTunnel: none\n')).toMatchObject({ reverseTunnel: 'none', reverseTunneling: false });
    expect(settingsOf('  reverseTunneling: true\n')).toMatchObject({ reverseTunnel: 'offered', reverseTunneling: true });
    expect(settingsOf('  reverseTunneling: false\n')).toMatchObject({ reverseTunnel: 'none', reverseTunneling: false });
    expect(settingsOf('  encapsulatingDelivery: false\n')).toMatchObject({ encapsulatingDelivery: false });
  });

  it('dataPath.engine (issue 17): auto by default, bpf and userspace as written; anything else names the field and the choices', () => {
    expect(loadForeignAgentConfig(writeConfig(MINIMAL)).dataPathEngine).toBe('auto');
    for (const engine of ['bpf', 'userspace', 'auto'] as const) {
      expect(loadForeignAgentConfig(writeConfig(`${MINIMAL}dataPath:\n  engine: ${engine}\n`)).dataPathEngine).toBe(engine);
    }
    expect(loadForeignAgentConfig(writeConfig(EXAMPLE_FOREIGN_AGENT_CONFIG.replace('CHANGE-ME', 'eth1'))).dataPathEngine).toBe('auto');
    expectSingleIssue(`${MINIMAL}dataPath:\n  engine: kernel\n`, 'dataPath.engine', /one of bpf, userspace, auto/);
  });

  it('udpTunnel (RFC 3519, an agent behind a NAT): off by default; auto and force as written; anything else names the field and the choices', () => {
    const settingsOf = (extra: string) => loadForeignAgentConfig(writeConfig(`${MINIMAL}${extra}`)).config.settings;
    expect(settingsOf('').udpTunnel).toBe('off');
    expect(settingsOf('  udpTunnel: auto\n').udpTunnel).toBe('auto');
    expect(settingsOf('  udpTunnel: force\n').udpTunnel).toBe('force');
    expectSingleIssue(`${MINIMAL}  udpTunnel: yes\n`, 'foreignAgent.udpTunnel', /one of auto, force, off/);
  });

  it('the example configuration parses into the settings it documents', () => {
    const { config, interfaceName } = loadForeignAgentConfig(writeConfig(EXAMPLE_FOREIGN_AGENT_CONFIG));
    // A placeholder `mip4 fa` refuses (test/daemons/example-configs.test.ts), not a real interface.
    expect(interfaceName).toBe('CHANGE-ME');
    const fa = parseIpv4('203.0.113.1')!;
    expect(config.settings).toEqual({
      careOfAddresses: [fa],
      interfaceAddresses: [fa],
      linkAddress: fa,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: true, gre: true },
      reverseTunneling: true,
      reverseTunnel: 'offered',
      encapsulatingDelivery: true,
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      maxPendingPerLinkSource: 2,
      maxPendingPerHomeAddress: 2,
      maxUnknownDeregistrations: 2,
      acceptZeroHomeAddress: false,
      udpTunnel: 'off',
    });
    expect(config.advertisement).toMatchObject({
      lifetimeSeconds: 1800,
      maxIntervalMs: 600_000,
      periodic: true,
      multicastDestination: parseIpv4('224.0.0.1'),
      registrationRequired: false,
    });
    expect(config.advertisement.seed).not.toBe(0);
    expect(config.mobileNodes).toHaveLength(1);
    expect(config.mobileNodes[0]!.address).toBe(parseIpv4('198.51.100.10'));
    expect(config.mobileNodes[0]!.contexts[0]).toMatchObject({ spi: 4096, algorithm: 'hmac-md5', replay: 'timestamp' });
    expect(toHex(config.mobileNodes[0]!.contexts[0]!.key)).toBe('2b7e151628aed2a6abf7158809cf4f3c');
    expect(config.homeAgents).toHaveLength(1);
    expect(config.homeAgents[0]!.address).toBe(parseIpv4('198.51.100.1'));
    expect(toHex(config.homeAgents[0]!.contexts[0]!.key)).toBe('000102030405060708090a0b0c0d0e0f');
  });

  it('defaults: care-of address = the link address, ip-in-ip only, lifetime 3 x the interval, no peers', () => {
    const { config } = loadForeignAgentConfig(writeConfig(`${MINIMAL}advertisement:\n  maxInterval: 2\n`));
    expect(config.settings.careOfAddresses).toEqual([parseIpv4('203.0.113.1')]);
    expect(config.settings.encapsulations).toEqual({ minimal: false, gre: false });
    expect(config.settings).toMatchObject({ maxPending: 5, maxPendingPerLinkSource: 2, maxPendingPerHomeAddress: 2, maxUnknownDeregistrations: 2 });
    expect(config.advertisement.maxIntervalMs).toBe(2000);
    expect(config.advertisement.lifetimeSeconds).toBe(6);
    expect(config.mobileNodes).toEqual([]);
    expect(config.homeAgents).toEqual([]);
    expect(config.pendingTimeoutMs).toBeUndefined();
  });

  it('care-of addresses and other addresses are all interface addresses (3.7.2: never relayed to as home agent)', () => {
    const { config } = foreignAgentConfigFromDocument({
      foreignAgent: { interface: 'eth1', address: '203.0.113.1', careOfAddresses: ['203.0.113.2', '203.0.113.3'], otherAddresses: ['192.0.2.1'] },
    });
    expect(config.settings.careOfAddresses).toEqual(['203.0.113.2', '203.0.113.3'].map((a) => parseIpv4(a)));
    expect([...config.settings.interfaceAddresses].sort()).toEqual(
      ['203.0.113.1', '203.0.113.2', '203.0.113.3', '192.0.2.1'].map((a) => parseIpv4(a)!).sort(),
    );
  });

  it('an all-digit hex key stays text (YAML would read it as a number) and keyFile is read relative to the file', () => {
    const { config } = loadForeignAgentConfig(
      writeConfig(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 600\n    key: 00112233445566778899001122334455\nmobileNodes:\n  - homeAddress: 198.51.100.10\n    spi: 4096\n    keyFile: mn.key\n`, {
        'mn.key': 'a0a1a2a3a0a1a2a3a0a1a2a3a0a1a2a3\n',
      }),
    );
    expect(toHex(config.homeAgents[0]!.contexts[0]!.key)).toBe('00112233445566778899001122334455');
    expect(toHex(config.mobileNodes[0]!.contexts[0]!.key)).toBe('a0a1a2a3'.repeat(4));
  });

  it('the pending budgets are read from the file', () => {
    const { config } = loadForeignAgentConfig(
      writeConfig(`${MINIMAL}  maxPending: 20\n  maxPendingPerLinkSource: 3\n  maxPendingPerHomeAddress: 4\n  maxUnknownDeregistrations: 1\n`),
    );
    expect(config.settings).toMatchObject({ maxPending: 20, maxPendingPerLinkSource: 3, maxPendingPerHomeAddress: 4, maxUnknownDeregistrations: 1 });
  });

  it('[R3.7.1-1] an empty care-of address list is refused', () => {
    expectSingleIssue(`${MINIMAL}  careOfAddresses: []\n`, 'foreignAgent.careOfAddresses', /at least one care-of address/);
  });

  it('each bad field is reported at its path with what to do', () => {
    expectSingleIssue(`foreignAgent:\n  address: 203.0.113.1\n`, 'foreignAgent.interface', /missing/i);
    expectSingleIssue(`foreignAgent:\n  interface: eth1\n  address: 203.0.113\n`, 'foreignAgent.address', /dotted-quad/);
    expectSingleIssue(`foreignAgent:\n  interface: "has space"\n  address: 203.0.113.1\n`, 'foreignAgent.interface', /interface name/);
    expectSingleIssue(`${MINIMAL}  careOfAddresses: [203.0.113.300]\n`, 'foreignAgent.careOfAddresses[0]', /dotted-quad/);
    expectSingleIssue(`${MINIMAL}  registrationLifetime: 0\n`, 'foreignAgent.registrationLifetime', /1-65535/);
    expectSingleIssue(`${MINIMAL}  encapsulations: [minimal]\n`, 'foreignAgent.encapsulations', /ip-in-ip must stay enabled/);
    expectSingleIssue(`${MINIMAL}  encapsulations: [ip-in-ip, vxlan]\n`, 'foreignAgent.encapsulations[1]', /one of ip-in-ip, minimal, gre/);
    expectSingleIssue(`${MINIMAL}  reverseTunnel: always\n`, 'foreignAgent.reverseTunnel', /one of offered, required, none/);
    expectSingleIssue(`${MINIMAL}  reverseTunnel: required\n  reverseTunneling: false\n`, 'foreignAgent.reverseTunneling', /remove reverseTunneling/);
    expectSingleIssue(`${MINIMAL}  encapsulatingDelivery: yes please\n`, 'foreignAgent.encapsulatingDelivery', /boolean/);
    expectSingleIssue(`${MINIMAL}  busy: maybe\n`, 'foreignAgent.busy', /boolean/);
    expectSingleIssue(`${MINIMAL}  maxPending: 0\n`, 'foreignAgent.maxPending', />= 1/);
    expectSingleIssue(`${MINIMAL}  maxPendingPerLinkSource: 0\n`, 'foreignAgent.maxPendingPerLinkSource', />= 1/);
    expectSingleIssue(`${MINIMAL}  maxPendingPerHomeAddress: 1.5\n`, 'foreignAgent.maxPendingPerHomeAddress', /integer >= 1/);
    expectSingleIssue(`${MINIMAL}  maxUnknownDeregistrations: many\n`, 'foreignAgent.maxUnknownDeregistrations', /number/);
    expectSingleIssue(`${MINIMAL}  colour: blue\n`, 'foreignAgent.colour', /unknown field/);
    expectSingleIssue(`${MINIMAL}advertisement:\n  lifetime: 70000\n`, 'advertisement.lifetime', /1-65535/);
    expectSingleIssue(`${MINIMAL}advertisement:\n  maxInterval: 0\n`, 'advertisement.maxInterval', /seconds/);
    expectSingleIssue(`${MINIMAL}advertisement:\n  maxInterval: 4\n  minInterval: 5\n`, 'advertisement.minInterval', /at most maxInterval/);
    expectSingleIssue(`${MINIMAL}advertisement:\n  destination: 10.0.0.1\n`, 'advertisement.destination', /one of 224\.0\.0\.1, 255\.255\.255\.255/);
    expectSingleIssue(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 600\n    key: 00000000000000000000000000000000\n    algorithm: sha1\n`, 'homeAgents[0].algorithm', /one of .*hmac-md5/);
    expectSingleIssue(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 100\n    key: 00000000000000000000000000000000\n`, 'homeAgents[0].spi', /reserved.*above 255/);
    expectSingleIssue(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n`, 'homeAgents[0]', /no security association/);
    expectSingleIssue(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 600\n    key: xyz\n`, 'homeAgents[0].key', /non-empty hex/);
    expectSingleIssue(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 600\n`, 'homeAgents[0]', /exactly one of key/);
    expectSingleIssue(`${MINIMAL}mobileNodes:\n  - homeAddress: 198.51.100.10\n    spi: 600\n    keyFile: missing.key\n`, 'mobileNodes[0].keyFile', /cannot read/);
    expectSingleIssue(
      `${MINIMAL}mobileNodes:\n  - homeAddress: 198.51.100.10\n    spi: 600\n    key: 00000000000000000000000000000000\n  - homeAddress: 198.51.100.10\n    spi: 601\n    key: 00000000000000000000000000000000\n`,
      'mobileNodes[1].homeAddress',
      /also mobileNodes\[0\]/,
    );
  });

  it('an unreadable, empty or non-YAML file is a file-level issue', () => {
    expect(issuesOf('')[0]!.message).toMatch(/empty.*--example-config/);
    expect(issuesOf('foreignAgent: [\n')[0]!.message).toMatch(/not valid YAML/);
    let thrown: unknown;
    try {
      loadForeignAgentConfig(join(root, 'no-such.yaml'));
    } catch (error) {
      thrown = error;
    }
    expect((thrown as ConfigError).issues[0]!.message).toMatch(/cannot read/);
  });
});

describe('mip4 fa command line', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, out } = await runCli(['fa', '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^usage: mip4 fa --config/);
    expect(out).toContain('SIGUSR2');
  });

  it('--example-config prints the example and exits 0', async () => {
    const { code, out } = await runCli(['fa', '--example-config']);
    expect(code).toBe(0);
    expect(out.trim()).toBe(EXAMPLE_FOREIGN_AGENT_CONFIG.trim());
  });

  it('no --config is a usage error (exit 2)', async () => {
    const { code, err } = await runCli(['fa']);
    expect(code).toBe(2);
    expect(err).toContain('--config is required');
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const { code } = await runCli(['fa', '--config', 'x', '--listen', '1.2.3.4:5']);
    expect(code).toBe(2);
  });

  it('a bad field exits 2 naming its path, before opening anything', async () => {
    const path = writeConfig(`${MINIMAL}homeAgents:\n  - address: 198.51.100.1\n    spi: 7\n    key: 00000000000000000000000000000000\n`);
    const { code, out, err } = await runCli(['fa', '--config', path]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(`invalid configuration ${path}`);
    expect(err).toMatch(/homeAgents\[0\]\.spi: SPI 7 is reserved/);
  });

  it('is listed in the overview', async () => {
    const { code, out } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^\s+fa\s+run a foreign agent/m);
  });
});
