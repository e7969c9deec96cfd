/**
 * End-to-end: operating `mip4 ha` (a child process on 127.0.0.1): every log line carries an
 * ISO-8601 time and a level, `--log-level` filters, expiry is logged, trace ids differ from one
 * run to the next, SIGHUP reloads the configuration (added, removed, changed nodes; an invalid
 * file refused with the start's messages while the old one keeps running) and
 * `--check-config` checks a file without opening anything.
 *
 * The mobile node side is written here from RFC 5944 (3.3 layout, HMAC-MD5 over the bytes
 * before the authenticator, 3.5.1), independently of the project's codecs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

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

type LogLine = Record<string, unknown> & { event?: string; level?: string; time?: string };

class Daemon {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.add(this);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line !== '') this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        daemons.delete(this);
        resolve(this.exit);
      }),
    );
  }

  events(name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }

  waitFor(predicate: (line: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    return until(
      () => {
        const found = this.lines.find(predicate);
        if (found) return found;
        if (this.exit) throw new Error(`mip4 exited (${JSON.stringify(this.exit)}) while waiting for ${what}; stderr:\n${this.stderr}`);
        return undefined;
      },
      timeoutMs,
      what,
    );
  }

  /** SIGUSR2's bindings table on stderr, as rows of cells (header excluded). */
  async bindingsTable(): Promise<string[][]> {
    const before = this.stderr.length;
    this.child.kill('SIGUSR2');
    const text = await until(() => (/Counters: /.test(this.stderr.slice(before)) ? this.stderr.slice(before) : undefined), 10_000, 'the SIGUSR2 table');
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.startsWith('Mobility bindings:'));
    const count = Number(lines[start]!.split(':')[1]);
    return lines.slice(start + 2, start + 2 + count).map((l) => l.split(/\s{2,}/));
  }

  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

const daemons = new Set<Daemon>();
const dirs: string[] = [];

async function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

// --- the mobile node's side --------------------------------------------------------------------

const NTP_OFFSET = 2208988800n;
let lastId = 0n;
function nextIdentification(): bigint {
  const ms = BigInt(Date.now());
  let id = ((ms / 1000n + NTP_OFFSET) << 32n) | (((ms % 1000n) << 32n) / 1000n);
  if (id <= lastId) id = lastId + 1n;
  lastId = id;
  return id;
}

interface Node {
  readonly homeAddress: string;
  readonly spi: number;
  readonly key: Buffer;
}

const keyOf = (label: string) => createHash('md5').update(label).digest();
const A: Node = { homeAddress: '127.0.0.10', spi: 4096, key: keyOf('A') };
const A_NEW: Node = { homeAddress: '127.0.0.10', spi: 4196, key: keyOf('A-new') };
const B: Node = { homeAddress: '127.0.0.11', spi: 4097, key: keyOf('B') };
const C: Node = { homeAddress: '127.0.0.12', spi: 4098, key: keyOf('C') };
const CARE_OF = '192.0.2.77';

/** A Registration Request (3.3) with a Mobile-Home Authentication Extension (3.5.2). */
function request(node: Node, identification: bigint, lifetime: number): Buffer {
  const b = Buffer.alloc(24 + 22);
  b[0] = 1;
  b.writeUInt16BE(lifetime, 2);
  Buffer.from(node.homeAddress.split('.').map(Number)).copy(b, 4);
  Buffer.from([127, 0, 0, 1]).copy(b, 8);
  Buffer.from(CARE_OF.split('.').map(Number)).copy(b, 12);
  b.writeUInt32BE(Number(identification >> 32n), 16);
  b.writeUInt32BE(Number(identification & 0xffffffffn), 20);
  b[24] = 32;
  b[25] = 20;
  b.writeUInt32BE(node.spi, 26);
  createHmac('md5', node.key).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}

class NodeSocket {
  readonly inbox: Buffer[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data) => this.inbox.push(data));
  }

  static async open(): Promise<NodeSocket> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new NodeSocket(socket);
  }

  /** Sends a Request and returns its Reply's code (byte 1, 3.4) and the identification sent. */
  async register(port: number, node: Node, lifetime = 600): Promise<{ code: number; identification: bigint }> {
    const identification = nextIdentification();
    const low = Number(identification & 0xffffffffn);
    this.socket.send(request(node, identification, lifetime), port, '127.0.0.1');
    const reply = await until(
      () => {
        const i = this.inbox.findIndex((r) => r.length >= 20 && r.readUInt32BE(16) === low);
        return i < 0 ? undefined : this.inbox.splice(i, 1)[0];
      },
      10_000,
      `the Reply to ${node.homeAddress}`,
    );
    return { code: reply[1]!, identification };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function config(port: number, nodes: readonly Node[], extra = ''): string {
  return [
    'homeAgent:',
    '  address: 127.0.0.1',
    '  homeNetwork: 127.0.0.0/8',
    `  listen: [127.0.0.1:${port}]`,
    '  maxLifetime: 600',
    'mobileNodes:',
    ...nodes.map((n) => `  - homeAddress: ${n.homeAddress}\n    spi: ${n.spi}\n    key: "${n.key.toString('hex')}"`),
    extra,
  ].join('\n');
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mip4-ops-'));
  dirs.push(dir);
  return dir;
}

/** Starts `mip4 ha` with `nodes` on a free port; resolves once its socket is bound. */
async function start(nodes: readonly Node[], args: readonly string[] = [], extra = ''): Promise<{ daemon: Daemon; port: number; path: string }> {
  const port = await freePort();
  const path = join(tempDir(), 'ha.yaml');
  writePrivateFile(path, config(port, nodes, extra));
  const daemon = new Daemon(['ha', '--config', path, ...args]);
  // Ready when its socket is bound (before the listening line).
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  await until(
    () => {
      if (daemon.exit) throw new Error(`mip4 ha exited: ${daemon.stderr}`);
      return readFileSync('/proc/net/udp', 'utf8').includes(` ${local} `) ? true : undefined;
    },
    30_000,
    `mip4 ha bound to 127.0.0.1:${port}`,
  );
  return { daemon, port, path };
}

let mn: NodeSocket;
beforeAll(async () => {
  await ensureBuilt();
  mn = await NodeSocket.open();
}, 180_000);

afterAll(async () => {
  for (const d of daemons) d.kill();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await mn?.close();
});

describe('mip4 ha operator log', () => {
  it('gives every line an ISO-8601 time and a level; accepted replies are info, expiry is logged at info', async () => {
    const { daemon, port } = await start([A, B]);
    const listening = await daemon.waitFor((l) => l.event === 'listening', 'the listening line');
    expect(listening.logLevel).toBe('info');
    expect((await mn.register(port, A, 1)).code).toBe(0);
    const expired = await daemon.waitFor((l) => l.event === 'binding-expired', 'the expiry line', 15_000);
    expect(expired).toMatchObject({ level: 'info', homeAddress: A.homeAddress, careOfAddress: CARE_OF, lifetime: 1 });
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    expect(daemon.exit?.code).toBe(0);
    expect(daemon.events('reply')[0]).toMatchObject({ level: 'info', code: 0 });
    for (const line of daemon.lines) {
      expect(Object.keys(line).slice(0, 2)).toEqual(['time', 'level']);
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(Date.parse(line.time!) - Date.now())).toBeLessThan(120_000);
      expect(['error', 'warn', 'info', 'debug', 'trace']).toContain(line.level);
    }
    // No data path: the per-registration ARP lines are debug, not shown at info.
    expect(daemon.events('arp')).toEqual([]);
  }, 60_000);

  it('--log-level warn hides accepted replies, keeps the lifecycle lines, and still shows discards; debug shows the ARP lines', async () => {
    const { daemon, port } = await start([A], ['--log-level', 'warn']);
    expect((await mn.register(port, A)).code).toBe(0);
    mn.socket.send(Buffer.from([1, 2, 3]), port, '127.0.0.1');
    await daemon.waitFor((l) => l.event === 'discard', 'the discard line');
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    expect(daemon.lines.filter((l) => l.event !== 'control-unavailable').map((l) => `${l.level} ${l.event}`)).toEqual(['info listening', 'warn discard', 'info stopped']);

    const verbose = await start([A], ['--log-level', 'debug']);
    expect((await mn.register(verbose.port, A)).code).toBe(0);
    await verbose.daemon.waitFor((l) => l.event === 'arp', 'an arp line');
    await verbose.daemon.waitFor((l) => l.event === 'transition', 'a transition line');
    expect(verbose.daemon.events('arp')[0]).toMatchObject({ level: 'debug', executed: false });
    verbose.daemon.child.kill('SIGTERM');
    await verbose.daemon.exited;

    const bad = await run(['ha', '--config', verbose.path, '--log-level', 'loud']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--log-level "loud": expected one of error, warn, info, debug, trace');
  }, 90_000);

  it('takes the level from the file\'s log.level when --log-level is not given', async () => {
    const { daemon, port } = await start([A], [], 'log:\n  level: warn\n');
    expect((await mn.register(port, A)).code).toBe(0);
    mn.socket.send(Buffer.from([1, 2, 3]), port, '127.0.0.1');
    await daemon.waitFor((l) => l.event === 'discard', 'the discard line');
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    expect(daemon.events('reply')).toEqual([]);
  }, 60_000);

  it('makes trace ids that differ from one run to the next', async () => {
    const traces: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { daemon, port } = await start([A]);
      await mn.register(port, A);
      const reply = await daemon.waitFor((l) => l.event === 'reply', 'the reply line');
      traces.push(String(reply.trace));
      daemon.child.kill('SIGTERM');
      await daemon.exited;
      await sleep(5);
    }
    expect(traces[0]).not.toBe(traces[1]);
  }, 90_000);
});

describe('mip4 ha reload (SIGHUP)', () => {
  it('adds C, removes B, changes A\'s key; A\'s binding stays as it was; an invalid edit is refused and the old configuration keeps running', async () => {
    const { daemon, port, path } = await start([A, B]);
    await daemon.waitFor((l) => l.event === 'listening', 'the listening line');
    expect((await mn.register(port, A)).code).toBe(0);
    expect((await mn.register(port, B)).code).toBe(0);
    // C is not configured yet: its Request is discarded, unanswered.
    mn.socket.send(request(C, nextIdentification(), 600), port, '127.0.0.1');
    await daemon.waitFor((l) => l.event === 'discard', 'the discard of C');
    const before = await daemon.bindingsTable();
    const rowOf = (rows: string[][], address: string) => rows.find((r) => r[0] === address);
    const aBefore = rowOf(before, A.homeAddress)!;

    writePrivateFile(path, config(port, [A_NEW, C]));
    daemon.child.kill('SIGHUP');
    const reloaded = await daemon.waitFor((l) => l.event === 'reloaded', 'the reloaded line');
    expect(reloaded).toMatchObject({ level: 'info', config: path, added: [C.homeAddress], removed: [B.homeAddress], changed: [A.homeAddress], unchanged: 0 });
    expect(daemon.events('binding-removed')).toEqual([
      expect.objectContaining({ level: 'info', homeAddress: B.homeAddress, careOfAddress: CARE_OF, reason: 'node-removed' }),
    ]);

    const after = await daemon.bindingsTable();
    expect(rowOf(after, B.homeAddress)).toBeUndefined();
    const aAfter = rowOf(after, A.homeAddress)!;
    // Same binding: same care-of address, lifetime and Identification; the remaining time ran on.
    expect([aAfter[1], aAfter[2], aAfter[6]]).toEqual([aBefore[1], aBefore[2], aBefore[6]]);
    expect(Number(aAfter[3])).toBeLessThanOrEqual(Number(aBefore[3]));

    expect((await mn.register(port, C)).code).toBe(0);
    expect((await mn.register(port, A)).code).toBe(131);
    expect((await mn.register(port, A_NEW)).code).toBe(0);

    // An invalid edit: refused with the start's message, naming the field and the file.
    writePrivateFile(path, config(port, [A_NEW, C]).replace(`homeAddress: ${C.homeAddress}`, 'homeAddress: 127.0.0.300'));
    const startMessage = await run(['ha', '--config', path]);
    expect(startMessage.code).toBe(2);
    daemon.child.kill('SIGHUP');
    const refused = await daemon.waitFor((l) => l.event === 'reload-refused', 'the reload-refused line');
    expect(refused.level).toBe('error');
    expect(refused.config).toBe(path);
    const errors = refused.errors as string[];
    expect(errors.some((e) => e.startsWith('mobileNodes[1].homeAddress:'))).toBe(true);
    for (const error of errors) expect(startMessage.stderr).toContain(`  ${error}`);
    // Still running with the configuration before the edit.
    expect((await mn.register(port, A_NEW)).code).toBe(0);
    expect((await mn.register(port, C)).code).toBe(0);
    expect(daemon.exit).toBeUndefined();
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 90_000);
});

describe('mip4 ha --check-config', () => {
  it('prints ok: FILE and exits 0 for a valid file, without opening its sockets (its port may be taken)', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    try {
      const path = join(tempDir(), 'ha.yaml');
      writePrivateFile(path, config(taken.address().port, [A, B]));
      const result = await run(['ha', '--check-config', path]);
      expect(result).toEqual({ code: 0, stdout: `ok: ${path}\n`, stderr: '' });
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  }, 30_000);

  it('prints the errors a start prints and exits 2 for an invalid file', async () => {
    const path = join(tempDir(), 'ha.yaml');
    writePrivateFile(path, config(4434, [A, B]).replace('homeNetwork: 127.0.0.0/8', 'homeNetwork: 10.0.0.0/8'));
    const checked = await run(['ha', '--check-config', path]);
    const started = await run(['ha', '--config', path]);
    expect(checked.code).toBe(2);
    expect(checked.stdout).toBe('');
    expect(checked.stderr).toContain('homeAgent.address: 127.0.0.1 is not inside homeNetwork 10.0.0.0/8');
    expect(checked.stderr).toBe(started.stderr);
  }, 30_000);
});
