/**
 * The daemons' control commands (runtime/control/daemon-commands.ts) over a real socket, with
 * a home agent on the simulated clock behind them, and the `mip4` client commands
 * (runtime/cli/control-commands.ts) run in-process against it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer } from '../../runtime/control/control-server.js';
import { controlCall } from '../../runtime/control/control-client.js';
import { registerHomeAgentCommands, registerMobileNodeCommands, type DaemonIdentity } from '../../runtime/control/daemon-commands.js';
import type { MobileNode } from '../../runtime/mn/mobile-node.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { openDaemonControl, closeDaemonControl } from '../../runtime/control/daemon-control.js';
import type { ReloadOutcome } from '../../runtime/control/protocol.js';
import { resolveSocket } from '../../runtime/cli/control-commands.js';
import { main } from '../../runtime/cli/main.js';
import { COA1, COA2, Harness, MHAE, MN2, MN2_KEY } from '../runtime/home-agent-harness.js';

let dir: string;
let path: string;
let server: ControlServer;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mip4-commands-test-'));
  path = join(dir, 'ha.sock');
  server = new ControlServer();
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, '--socket', path], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function homeAgentBehindSocket(extra: Partial<DaemonIdentity> = {}): Harness {
  const h = new Harness();
  h.register({ careOfAddress: COA1, lifetime: 600 });
  h.register({ homeAddress: MN2, extensions: [MHAE(MN2_KEY)], careOfAddress: COA2, lifetime: 600 });
  registerHomeAgentCommands(server, { role: 'ha', engine: 'compiled', controlSocket: path, startedAt: Date.now(), ...extra }, h.agent, undefined);
  return h;
}

describe('home agent control commands', () => {
  it('bindings filter by home address and care-of address in the daemon; a bad address is bad-request naming the field', async () => {
    homeAgentBehindSocket();
    await server.listen(path);
    const all = await controlCall(path, 'bindings');
    expect(all).toMatchObject({ kind: 'rows', count: 2 });
    expect(await controlCall(path, 'bindings', { homeAddress: '198.51.100.11' })).toMatchObject({ kind: 'rows', count: 1, rows: [{ homeAddress: '198.51.100.11', careOfAddress: '203.0.113.78' }] });
    expect(await controlCall(path, 'bindings', { careOfAddress: '203.0.113.77' })).toMatchObject({ kind: 'rows', count: 1, rows: [{ homeAddress: '198.51.100.10' }] });
    expect(await controlCall(path, 'bindings', { homeAddress: '198.51.100.12' })).toMatchObject({ kind: 'rows', count: 0 });
    await expect(controlCall(path, 'bindings', { homeAddress: 'ten' })).rejects.toMatchObject({ code: 'bad-request', message: 'homeAddress: expected an IPv4 address such as 198.51.100.10, got "ten"' });
    await expect(controlCall(path, 'clear-binding', {})).rejects.toMatchObject({ code: 'bad-request', message: expect.stringMatching(/^homeAddress: required/) });
    await expect(controlCall(path, 'debug', { on: 'yes' })).rejects.toMatchObject({ code: 'bad-request' });
  });

  it('mip4 debug calls the daemon\'s DaemonLogControl with the home address, and status shows its level', async () => {
    const calls: Array<[boolean, string | undefined]> = [];
    const logControl = {
      level: 'info' as 'info' | 'debug',
      setDebug(on: boolean, homeAddress?: string) {
        calls.push([on, homeAddress]);
        logControl.level = on ? 'debug' : 'info';
        return { level: logControl.level, debugHomeAddresses: on && homeAddress !== undefined ? [homeAddress] : [] };
      },
    };
    homeAgentBehindSocket({ logControl });
    await server.listen(path);
    expect(await cli('debug', 'on', '--home-address', '198.51.100.10')).toEqual({ code: 0, out: 'log level debug; debug for 198.51.100.10', err: '' });
    expect(JSON.parse((await cli('status', '--json')).out)).toMatchObject({ logLevel: 'debug', bindings: 2 });
    expect(await cli('debug', 'off')).toEqual({ code: 0, out: 'log level info', err: '' });
    expect(calls).toEqual([
      [true, '198.51.100.10'],
      [false, undefined],
    ]);
    expect((await cli('debug', 'maybe')).code).toBe(2);
  });

  it('mip4 reload prints what the daemon\'s DaemonReload did, and exits 1 with its errors when it refused the file', async () => {
    let next: ReloadOutcome = { ok: true, added: ['198.51.100.20'], removed: [], changed: ['198.51.100.10'], unchanged: 1 };
    homeAgentBehindSocket({ reload: { reload: async () => next } });
    await server.listen(path);
    expect(await cli('reload')).toEqual({ code: 0, out: 'reloaded: 1 added, 0 removed, 1 changed, 1 unchanged', err: '' });
    next = { ok: false, errors: ['mobileNodes[0].spi: SPI 100 is reserved (0-255, RFC 5944 1.6); use a value above 255'] };
    expect(await cli('reload')).toEqual({ code: 1, out: '', err: 'mip4 reload: mobileNodes[0].spi: SPI 100 is reserved (0-255, RFC 5944 1.6); use a value above 255' });
    expect(JSON.parse((await cli('reload', '--json')).out)).toEqual(next);
  });

  it('mip4 bindings --ndjson writes one row a line; --json and the table give the same rows in the same order', async () => {
    homeAgentBehindSocket();
    await server.listen(path);
    const ndjson = (await cli('bindings', '--ndjson')).out.split('\n').map((l) => JSON.parse(l) as { homeAddress: string });
    const json = JSON.parse((await cli('bindings', '--json')).out) as Array<{ homeAddress: string }>;
    expect(ndjson).toEqual(json);
    expect((await cli('bindings')).out.split('\n').slice(2).map((l) => l.split(' ')[0])).toEqual(json.map((b) => b.homeAddress));
  });
});

describe('mobile node control commands', () => {
  it('mobile-node gives the node\'s identity, state and counters; an infinite lifetime remaining is the word, not null', async () => {
    const node = {
      state: () => ({ attachment: 'foreign-agent', agent: '203.0.113.1', careOfAddress: '203.0.113.1', registration: 'registered', grantedLifetime: 65535, remaining: Infinity }),
      counters: { requests: 2, repliesAccepted: 1, repliesDenied: 1 },
    } as unknown as MobileNode;
    registerMobileNodeCommands(server, { role: 'mn', engine: 'compiled', controlSocket: path, startedAt: Date.now() }, node, { interfaceName: 'eth0', homeAddress: ipv4('198.51.100.10'), homeAgent: ipv4('198.51.100.1') });
    await server.listen(path);
    expect(await controlCall(path, 'mobile-node')).toEqual({
      kind: 'value',
      result: { interface: 'eth0', homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', attachment: 'foreign-agent', agent: '203.0.113.1', careOfAddress: '203.0.113.1', registration: 'registered', grantedLifetime: 65535, remaining: 'infinite', counters: { requests: 2, repliesAccepted: 1, repliesDenied: 1 } },
    });
    expect(await controlCall(path, 'status')).toMatchObject({ kind: 'value', result: { role: 'mn', mobileNode: { remaining: 'infinite' } } });
    const text = await cli('mobile-node');
    expect(text.out).toMatch(/^Mobile node\n {2}interface: +eth0\n/);
    expect(text.out).toMatch(/^ {2}counters: +\{"requests":2,"repliesAccepted":1,"repliesDenied":1\}$/m);
  });
});

describe('mobile node control commands, RFC 3519', () => {
  it('mobile-node adds the UDP tunnel counters once the node has asked for UDP tunnelling, and the state shows the tunnel', async () => {
    const udpTunnel = { homeAgent: '198.51.100.1', careOfAddress: '192.168.1.50', localPort: 40000, keepaliveInterval: 110, forced: false, idleMs: 5 };
    const node = {
      state: () => ({ attachment: 'co-located', careOfAddress: '192.168.1.50', registration: 'registered', udpTunnel }),
      counters: { requests: 1 },
      udpTunnelling: { counters: { requested: 1, granted: 1, keepalivesSent: 3 }, plane: { counters: { tunnelledOut: 7, decapsulated: 9 } } },
    } as unknown as MobileNode;
    registerMobileNodeCommands(server, { role: 'mn', engine: 'compiled', controlSocket: path, startedAt: Date.now() }, node, { interfaceName: 'eth0', homeAddress: ipv4('198.51.100.10'), homeAgent: ipv4('198.51.100.1') });
    await server.listen(path);
    expect(await controlCall(path, 'mobile-node')).toMatchObject({
      kind: 'value',
      result: { udpTunnel, udpTunnelCounters: { requested: 1, granted: 1, keepalivesSent: 3, tunnelledOut: 7, decapsulated: 9 } },
    });
  });
});

describe('which socket the client talks to', () => {
  it('--socket, then MIP4_CONTROL_SOCKET, then the role\'s default in MIP4_CONTROL_DIR (or /run/mip4)', () => {
    expect(resolveSocket('/x/y.sock', 'ha', { MIP4_CONTROL_SOCKET: '/a.sock' })).toBe('/x/y.sock');
    expect(resolveSocket(undefined, 'ha', { MIP4_CONTROL_SOCKET: '/a.sock' })).toBe('/a.sock');
    expect(resolveSocket(undefined, 'fa', { MIP4_CONTROL_DIR: '/d' })).toBe('/d/fa.sock');
    expect(resolveSocket(undefined, 'mn', {})).toBe('/run/mip4/mn.sock');
  });

  it('for status and the like, the only socket in the directory; none or several is an error saying so', async () => {
    const env = { MIP4_CONTROL_DIR: dir };
    expect(() => resolveSocket(undefined, undefined, env)).toThrow(`no control socket in ${dir} (is a mip4 daemon running? --socket PATH names one)`);
    writeFileSync(join(dir, 'notes.sock'), 'a file, not a socket');
    await server.listen(path);
    expect(resolveSocket(undefined, undefined, env)).toBe(path);
    const other = new ControlServer();
    await other.listen(join(dir, 'fa.sock'));
    try {
      expect(() => resolveSocket(undefined, undefined, env)).toThrow(`several daemons answer in ${dir}: ${join(dir, 'fa.sock')}, ${path}; choose one with --socket PATH`);
    } finally {
      await other.close();
    }
  });
});

describe('opening a daemon\'s control socket at start', () => {
  it('the default path that cannot be made leaves the daemon without a socket; a configured one is a failure naming control.socket', async () => {
    const blocker = join(dir, 'file');
    writeFileSync(blocker, '');
    const saved = process.env.MIP4_CONTROL_DIR;
    process.env.MIP4_CONTROL_DIR = join(blocker, 'sub');
    try {
      const byDefault = await openDaemonControl('ha', undefined);
      expect(byDefault).toMatchObject({ kind: 'unavailable', socket: null, path: join(blocker, 'sub', 'ha.sock') });
      const configured = await openDaemonControl('ha', { socket: join(blocker, 'sub', 'ha.sock') });
      expect(configured.kind).toBe('failed');
      expect(configured.kind === 'failed' && configured.message).toMatch(/^control\.socket: .*ENOTDIR.*\(set control: \{ socket: PATH \} or none in the config\)$/);
      expect(await openDaemonControl('ha', { socket: null })).toEqual({ kind: 'off', socket: null });
    } finally {
      process.env.MIP4_CONTROL_DIR = saved;
    }
    mkdirSync(join(dir, 'ok'));
    const serving = await openDaemonControl('fa', { socket: join(dir, 'ok', 'fa.sock') });
    expect(serving).toMatchObject({ kind: 'serving', socket: join(dir, 'ok', 'fa.sock') });
    await closeDaemonControl(serving);
  });
});
