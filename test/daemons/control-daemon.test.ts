/**
 * End to end: `mip4 ha` as a child process on 127.0.0.1, a mobile node written here from
 * RFC 5944 (3.3 layout, HMAC-MD5 from node:crypto over the bytes before the authenticator),
 * and the operator's commands (`mip4 bindings|status|traffic|clear|debug|reload`) run as
 * separate `mip4` processes against the daemon's control socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

type LogLine = Record<string, unknown> & { event?: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A daemon child process whose JSON log lines are collected. */
class Daemon {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  private partial = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        daemons.delete(this);
        resolve();
      }),
    );
  }

  line(predicate: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    return until(
      () => {
        const found = this.lines.find(predicate);
        if (found !== undefined) return found;
        if (this.exit !== undefined) throw new Error(`mip4 exited (${JSON.stringify(this.exit)}) while waiting for ${what}: ${this.stderr}`);
        return undefined;
      },
      timeoutMs,
      what,
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exit === undefined) this.child.kill(signal);
    await this.exited;
  }
}

const daemons = new Set<Daemon>();

/** Runs one `mip4` client command to completion. */
function mip4(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The mobile nodes: Registration Requests from RFC 5944 3.3 and 3.5.2.

const HOME_AGENT = '127.0.0.1';
const keyOf = (label: string) => createHash('md5').update(label).digest();
const NODES = [0, 1, 2, 3].map((i) => ({ homeAddress: `127.0.0.${10 + i}`, spi: 4096 + i, key: keyOf(`control-${i}`) }));
const COA_A = '192.0.2.77';
const COA_B = '192.0.2.78';

let lastId = 0n;
function nextIdentification(): bigint {
  // NTP seconds since 1900 in the high word (5.7.1), strictly increasing.
  let id = ((BigInt(Date.now()) / 1000n + 2208988800n) << 32n) | ((BigInt(Date.now()) % 1000n) << 20n);
  if (id <= lastId) id = lastId + 1n;
  lastId = id;
  return id;
}

function request(node: (typeof NODES)[number], careOf: string, identification: bigint, key = node.key, lifetime = 600): Buffer {
  const b = Buffer.alloc(24 + 2 + 20);
  b[0] = 1;
  b[1] = 0;
  b.writeUInt16BE(lifetime, 2);
  const put = (offset: number, a: string) => a.split('.').forEach((p, i) => (b[offset + i] = Number(p)));
  put(4, node.homeAddress);
  put(8, HOME_AGENT);
  put(12, careOf);
  b.writeUInt32BE(Number(identification >> 32n), 16);
  b.writeUInt32BE(Number(identification & 0xffffffffn), 20);
  b[24] = 32;
  b[25] = 20;
  b.writeUInt32BE(node.spi, 26);
  createHmac('md5', key).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}

/** Sends a Request to the daemon and returns the Reply's code. */
async function register(port: number, bytes: Buffer): Promise<number> {
  const socket = dgram.createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => socket.once('message', (data) => resolve(data)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    socket.send(bytes, port, HOME_AGENT);
    const data = await Promise.race([reply, sleep(10_000).then(() => undefined)]);
    if (data === undefined) throw new Error('no Registration Reply within 10 s');
    return data[1]!;
  } finally {
    socket.close();
  }
}

function config(control: string | undefined): string {
  return [
    'homeAgent:',
    `  address: ${HOME_AGENT}`,
    '  homeNetwork: 127.0.0.0/8',
    'mobileNodes:',
    ...NODES.map((n) => `  - homeAddress: ${n.homeAddress}\n    spi: ${n.spi}\n    key: "${n.key.toString('hex')}"`),
    ...(control === undefined ? [] : ['control:', `  socket: ${control}`]),
  ].join('\n');
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mip4-control-e2e-'));
  dirs.push(dir);
  return dir;
}

async function startHa(control: string | undefined): Promise<{ daemon: Daemon; port: number; listening: LogLine; configPath: string }> {
  const configPath = join(tempDir(), 'ha.yaml');
  writePrivateFile(configPath, config(control));
  const daemon = new Daemon(['ha', '--config', configPath, '--listen', `${HOME_AGENT}:0`]);
  const listening = await daemon.line((l) => l.event === 'listening', 'the listening line');
  const port = Number(String((listening.endpoints as string[])[0]).split(':')[1]);
  return { daemon, port, listening, configPath };
}

beforeAll(() => ensureBuilt(), 180_000);

afterAll(async () => {
  for (const d of [...daemons]) await d.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('mip4 ha with a control socket, driven by the mip4 client commands', () => {
  let ha: Awaited<ReturnType<typeof startHa>>;
  let socket: string;

  beforeAll(async () => {
    socket = join(tempDir(), 'ha.sock');
    ha = await startHa(socket);
    expect(await register(ha.port, request(NODES[0]!, COA_A, nextIdentification()))).toBe(0);
    expect(await register(ha.port, request(NODES[1]!, COA_A, nextIdentification()))).toBe(0);
    expect(await register(ha.port, request(NODES[2]!, COA_B, nextIdentification()))).toBe(0);
  }, 60_000);

  it('serves a 0600 socket at control.socket and says so in the listening line', () => {
    expect(ha.listening.control).toBe(socket);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('mip4 bindings prints the bindings as an aligned table; --json one array; --ndjson one row per line', async () => {
    const table = await mip4(['bindings', '--socket', socket]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Mobility bindings: 3');
    expect(lines[1]).toMatch(/^Home address\s+Care-of address\s+Lifetime\s+Remaining\s+Encap\s+Flags\s+Identification\s+Relayed by\s+UDP tunnel$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['127.0.0.10', COA_A],
      ['127.0.0.11', COA_A],
      ['127.0.0.12', COA_B],
    ]);
    // Columns are aligned: every row's care-of address starts where the header's does.
    const column = lines[1]!.indexOf('Care-of address');
    for (const line of lines.slice(2)) expect(line.indexOf('192.0.2.7')).toBe(column);

    const json = await mip4(['bindings', '--socket', socket, '--json']);
    const bindings = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(bindings).toHaveLength(3);
    expect(bindings[0]).toMatchObject({ homeAddress: '127.0.0.10', careOfAddress: COA_A, lifetime: 600, encapsulation: 'ip-in-ip' });

    const ndjson = await mip4(['bindings', '--socket', socket, '--ndjson']);
    expect(ndjson.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { homeAddress: string }).homeAddress)).toEqual(['127.0.0.10', '127.0.0.11', '127.0.0.12']);
  });

  it('filters on the daemon side by --home-address and --care-of', async () => {
    const byHome = JSON.parse((await mip4(['bindings', '--socket', socket, '--json', '--home-address', '127.0.0.11'])).stdout) as Array<{ homeAddress: string }>;
    expect(byHome.map((b) => b.homeAddress)).toEqual(['127.0.0.11']);
    const byCareOf = JSON.parse((await mip4(['bindings', '--socket', socket, '--json', '--care-of', COA_B])).stdout) as Array<{ homeAddress: string }>;
    expect(byCareOf.map((b) => b.homeAddress)).toEqual(['127.0.0.12']);
    const none = await mip4(['bindings', '--socket', socket, '--home-address', '127.0.0.99']);
    expect(none.stdout.split('\n')[0]).toBe('Mobility bindings: 0');
    const bad = await mip4(['bindings', '--socket', socket, '--home-address', '127.0.0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--home-address "127.0.0": expected an IPv4 address');
  });

  it('mip4 status: role, version, pid, uptime, engine, counters, data path, socket, log level (MIP4_CONTROL_SOCKET names the socket)', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const json = await mip4(['status', '--json'], { MIP4_CONTROL_SOCKET: socket });
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(status).toMatchObject({
      role: 'ha',
      version,
      pid: ha.daemon.child.pid,
      engine: ha.listening.engine,
      controlSocket: socket,
      logLevel: 'info',
      bindings: 3,
      dataPath: { enabled: false },
      counters: { accepted: 3 },
    });
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);
    const text = await mip4(['status', '--socket', socket]);
    expect(text.stdout).toMatch(/^Daemon status\n {2}role: +ha\n {2}version: +\S+\n {2}pid: +\d+/);
  });

  it('mip4 traffic: the counters per reply code and discard reason, and the bindings per encapsulation', async () => {
    // A Request with the wrong key: 131 (3.8.2.1 a), counted by code.
    expect(await register(ha.port, request(NODES[3]!, COA_A, nextIdentification(), keyOf('wrong')))).toBe(131);
    const traffic = JSON.parse((await mip4(['traffic', '--socket', socket, '--json'])).stdout) as Record<string, unknown>;
    expect(traffic).toMatchObject({ role: 'ha', accepted: 3, denied: 1, deniedByCode: { 131: 1 }, bindingsByEncapsulation: { 'ip-in-ip': 3 }, dataPath: null });
    const text = await mip4(['traffic', '--socket', socket]);
    expect(text.stdout).toContain('deniedByCode:');
    expect(text.stdout).toContain('"131":1');
  });

  it('mip4 clear binding: the binding is gone, logged binding-cleared by operator, and the node\'s next Request works', async () => {
    const cleared = await mip4(['clear', 'binding', '127.0.0.10', '--socket', socket]);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toBe(`cleared the bindings of 127.0.0.10 (care-of ${COA_A})\n`);
    const logged = await ha.daemon.line((l) => l.event === 'binding-cleared', 'the binding-cleared line');
    expect(logged).toMatchObject({ by: 'operator', homeAddress: '127.0.0.10', careOfAddresses: [COA_A] });
    const after = JSON.parse((await mip4(['bindings', '--socket', socket, '--json'])).stdout) as Array<{ homeAddress: string }>;
    expect(after.map((b) => b.homeAddress)).toEqual(['127.0.0.11', '127.0.0.12']);

    expect(await register(ha.port, request(NODES[0]!, COA_B, nextIdentification()))).toBe(0);
    const again = JSON.parse((await mip4(['bindings', '--socket', socket, '--json', '--home-address', '127.0.0.10'])).stdout) as Array<{ careOfAddress: string }>;
    expect(again.map((b) => b.careOfAddress)).toEqual([COA_B]);

    const unknown = await mip4(['clear', 'binding', '127.0.0.99', '--socket', socket]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('mip4 clear: no binding for 127.0.0.99\n');
    expect((await mip4(['clear', 'binding', 'nonsense', '--socket', socket])).code).toBe(2);
  });

  it('mip4 debug on --home-address logs that node\'s transitions at debug level while the level stays info, and off stops them', async () => {
    const on = await mip4(['debug', 'on', '--home-address', '127.0.0.11', '--socket', socket]);
    expect(on).toMatchObject({ code: 0, stdout: 'log level info; debug for 127.0.0.11\n' });
    expect(await register(ha.port, request(NODES[1]!, COA_B, nextIdentification()))).toBe(0);
    expect(await register(ha.port, request(NODES[2]!, COA_A, nextIdentification()))).toBe(0);
    const line = await ha.daemon.line((l) => l.event === 'transition', 'a transition line');
    expect(line).toMatchObject({ actor: 'binding:127.0.0.11', reason: 'care-of-address-changed', level: 'debug' });
    expect(ha.daemon.lines.filter((l) => l.event === 'transition' && l.actor !== 'binding:127.0.0.11')).toEqual([]);
    const off = await mip4(['debug', 'off', '--home-address', '127.0.0.11', '--socket', socket]);
    expect(off.stdout).toBe('log level info\n');
    const count = ha.daemon.lines.filter((l) => l.event === 'transition').length;
    expect(await register(ha.port, request(NODES[1]!, COA_A, nextIdentification()))).toBe(0);
    await sleep(200);
    expect(ha.daemon.lines.filter((l) => l.event === 'transition').length).toBe(count);

    // For everyone: the level itself becomes debug, and off returns to the start level.
    expect((await mip4(['debug', 'on', '--socket', socket])).stdout).toBe('log level debug\n');
    expect(await register(ha.port, request(NODES[2]!, COA_B, nextIdentification()))).toBe(0);
    await ha.daemon.line((l) => l.event === 'transition' && l.actor === 'binding:127.0.0.12', "127.0.0.12's transition");
    expect((await mip4(['debug', 'off', '--socket', socket])).stdout).toBe('log level info\n');
  });

  it('mip4 reload re-reads the file: a node added to it registers at once; an invalid file is refused with exit 1 and the old one runs on', async () => {
    const added = { homeAddress: '127.0.0.20', spi: 5000, key: keyOf('control-added') };
    const withAdded = `${config(socket)}\n`.replace('control:', `  - homeAddress: ${added.homeAddress}\n    spi: ${added.spi}\n    key: "${added.key.toString('hex')}"\ncontrol:`);
    expect((await mip4(['bindings', '--home-address', added.homeAddress, '--json', '--socket', socket])).stdout).toBe('[]\n');
    writePrivateFile(ha.configPath, withAdded);
    const reload = await mip4(['reload', '--socket', socket]);
    expect(reload).toMatchObject({ code: 0, stdout: 'reloaded: 1 added, 0 removed, 0 changed, 4 unchanged\n' });
    expect(await register(ha.port, request(added, COA_A, nextIdentification()))).toBe(0);

    writePrivateFile(ha.configPath, withAdded.replace('homeNetwork: 127.0.0.0/8', 'homeNetwork: 127.0.0.0/99'));
    const refused = await mip4(['reload', '--socket', socket]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('homeAgent.homeNetwork');
    expect(await register(ha.port, request(added, COA_B, nextIdentification()))).toBe(0);
    writePrivateFile(ha.configPath, config(socket));
  });

  it('a second daemon on the same control socket does not start: exit 1 naming control.socket; the first keeps answering', async () => {
    const configPath = join(tempDir(), 'ha.yaml');
    writePrivateFile(configPath, config(socket));
    const second = new Daemon(['ha', '--config', configPath, '--listen', `${HOME_AGENT}:0`]);
    await second.exited;
    expect(second.exit).toEqual({ code: 1, signal: null });
    expect(second.stderr).toMatch(/^mip4 ha: control\.socket: .*another daemon answers on this control socket/);
    expect((await mip4(['status', '--socket', socket, '--json'])).code).toBe(0);
  });
});

describe('mip4 ha control socket: lifecycle and defaults', () => {
  it('SIGTERM removes the socket file; a socket left by a SIGKILLed daemon is replaced at the next start', async () => {
    const socket = join(tempDir(), 'run', 'ha.sock');
    const first = await startHa(socket);
    await first.daemon.stop('SIGKILL');
    expect(existsSync(socket)).toBe(true);
    const second = await startHa(socket);
    expect(second.listening.control).toBe(socket);
    expect((await mip4(['status', '--socket', socket, '--json'])).code).toBe(0);
    await second.daemon.stop('SIGTERM');
    expect(second.daemon.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    const gone = await mip4(['status', '--socket', socket]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`mip4 status: no daemon at ${socket} (is the mip4 daemon running? --socket PATH or MIP4_CONTROL_SOCKET names another)\n`);
  });

  it('without a control section the daemon serves <MIP4_CONTROL_DIR>/ha.sock, which mip4 bindings and mip4 status find without --socket', async () => {
    const directory = process.env.MIP4_CONTROL_DIR!;
    const ha = await startHa(undefined);
    expect(ha.listening.control).toBe(join(directory, 'ha.sock'));
    expect(await register(ha.port, request(NODES[0]!, COA_A, nextIdentification()))).toBe(0);
    const bindings = await mip4(['bindings', '--json']);
    expect((JSON.parse(bindings.stdout) as Array<{ homeAddress: string }>).map((b) => b.homeAddress)).toEqual(['127.0.0.10']);
    expect(JSON.parse((await mip4(['status', '--json'])).stdout)).toMatchObject({ role: 'ha', pid: ha.daemon.child.pid });
    const noFa = await mip4(['visitors']);
    expect(noFa.code).toBe(1);
    expect(noFa.stderr).toContain(`no daemon at ${join(directory, 'fa.sock')} (is mip4 fa running?`);
    await ha.daemon.stop();
  });

  it('control: { socket: none } runs without a socket', async () => {
    const ha = await startHa('none');
    expect(ha.listening.control).toBeNull();
    expect(existsSync(join(process.env.MIP4_CONTROL_DIR!, 'ha.sock'))).toBe(false);
    await ha.daemon.stop();
  });

  it('a control.socket that is not an absolute path is a config error naming the field (exit 2)', async () => {
    const configPath = join(tempDir(), 'ha.yaml');
    writePrivateFile(configPath, config('ha.sock'));
    const run = await mip4(['ha', '--config', configPath]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('  control.socket: "ha.sock" is not an absolute path');
  });
});
