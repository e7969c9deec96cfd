/**
 * End-to-end (issue 14, item 3): `mip4 ha` with a store is SIGKILLed in the middle of a
 * registration storm and started again with the same config. Every binding whose accepted
 * Reply the client saw must be there after the restart (or a later accepted one of the same
 * node), none that the daemon did not accept, each with the lifetime it has left; checked
 * through the daemon itself (its `store-restored` line and its SIGUSR2 bindings table).
 *
 * The client lays out Requests by hand from RFC 5944 3.3/3.5 (HMAC-MD5 from node:crypto), so
 * nothing of the daemon's codecs is trusted here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

const HOME_AGENT = '127.0.0.1';
const NODES = 200;
const LIFETIME = 600;
const homeAddress = (i: number) => `198.51.100.${i + 10}`;
const keyOf = (i: number) => createHash('sha256').update(`store-storm-${i}`).digest().subarray(0, 16);
const WRONG_KEY = Buffer.alloc(16, 0xee);
/** Care-of addresses the storm moves the nodes between; the forged Requests use another one. */
const careOf = (round: number) => `203.0.113.${(round % 50) + 1}`;
const FORGED_CARE_OF = '192.0.2.99';
const SPI = 4096;

const NTP_UNIX_OFFSET_SECONDS = 2208988800n;
let lastTimestamp = 0n;
/** A 64-bit NTP timestamp Identification (5.7.1), strictly increasing. */
function nextTimestamp(): bigint {
  const ms = BigInt(Date.now());
  let t = ((ms / 1000n + NTP_UNIX_OFFSET_SECONDS) << 32n) | (((ms % 1000n) << 32n) / 1000n);
  if (t <= lastTimestamp) t = lastTimestamp + 1n;
  lastTimestamp = t;
  return t;
}

function encodeRequest(home: string, coa: string, identification: bigint, key: Buffer): Buffer {
  const b = Buffer.alloc(24 + 22);
  b[0] = 1; // Registration Request
  b[1] = 0; // no S: one binding per node, the newest wins (3.8.2.2)
  b.writeUInt16BE(LIFETIME, 2);
  Buffer.from(home.split('.').map(Number)).copy(b, 4);
  Buffer.from(HOME_AGENT.split('.').map(Number)).copy(b, 8);
  Buffer.from(coa.split('.').map(Number)).copy(b, 12);
  b.writeBigUInt64BE(identification, 16);
  b[24] = 32; // Mobile-Home Authentication Extension
  b[25] = 20;
  b.writeUInt32BE(SPI, 26);
  createHmac('md5', key).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}

let configsWritten = 0;
function config(port: number, storePath: string): string {
  const nodes = Array.from({ length: NODES }, (_, i) => `  - homeAddress: ${homeAddress(i)}\n    spi: ${SPI}\n    key: ${keyOf(i).toString('hex')}\n`).join('');
  return [
    'homeAgent:',
    '  address: 198.51.100.1',
    '  homeNetwork: 198.51.100.0/24',
    `  otherAddresses: [${HOME_AGENT}]`,
    `  listen: ["${HOME_AGENT}:${port}"]`,
    `  maxLifetime: ${LIFETIME}`,
    'limits:',
    '  replayableRepliesPerNodePerSecond: 1000',
    `store:`,
    `  path: ${storePath}`,
    // Each config its own control socket: two daemons run at once below.
    'control:',
    `  socket: ${storePath}-${++configsWritten}.sock`,
    'mobileNodes:',
    nodes,
  ].join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Daemon {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
  private partial = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done = false;
  constructor(configPath: string) {
    this.child = spawn(process.execPath, ['bin/mip4.js', 'ha', '--config', configPath], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => ((this.done = true), resolve({ code, signal }))));
  }
  async line(event: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((l) => l.event === event);
      if (found) return found;
      if (this.done) throw new Error(`mip4 ha exited while waiting for ${event}; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${event} line within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await sleep(10);
    }
  }
  /** The SIGUSR2 bindings table, parsed: home address → its rows. */
  async bindings(): Promise<Map<string, Array<{ careOf: string; lifetime: number; remaining: number; identification: string }>>> {
    const before = this.stderr.length;
    this.child.kill('SIGUSR2');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = this.stderr.slice(before);
      const match = /Mobility bindings: (\d+)\n/.exec(text);
      const rows = match ? text.slice(match.index).split('\n') : [];
      if (match && rows.length >= Number(match[1]) + 3) {
        const table = new Map<string, Array<{ careOf: string; lifetime: number; remaining: number; identification: string }>>();
        for (const row of rows.slice(2, Number(match[1]) + 2)) {
          const [home, coa, lifetime, remaining, , , identification] = row.trim().split(/\s+/);
          const list = table.get(home!) ?? [];
          list.push({ careOf: coa!, lifetime: Number(lifetime), remaining: Number(remaining), identification: identification! });
          table.set(home!, list);
        }
        return table;
      }
      if (Date.now() > deadline) throw new Error(`no bindings table; stderr:\n${this.stderr}`);
      await sleep(10);
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'mip4-store-e2e-'));
const daemons: Daemon[] = [];
beforeAll(() => ensureBuilt(), 180_000);
afterAll(() => {
  for (const d of daemons) if (!d.done) d.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOME_AGENT, resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

describe('mip4 ha with a store: SIGKILL in a registration storm, then restart', () => {
  it('every binding whose accepted Reply the client saw is restored, none the daemon did not accept, with the lifetime left', async () => {
    const port = await freePort();
    const configPath = join(dir, 'ha.yaml');
    const storePath = join(dir, 'ha.db');
    writePrivateFile(configPath, config(port, storePath));
    const first = new Daemon(configPath);
    daemons.push(first);
    await first.line('listening');
    expect(await first.line('store-restored')).toMatchObject({ event: 'store-restored', path: storePath, bindings: 0 });

    // The client: what it sent per node (identification hex → care-of), and the newest accepted Reply it saw.
    const sent = new Map<number, Map<string, string>>();
    const seen = new Map<number, { identification: bigint; careOf: string }>();
    let accepted = 0;
    let denied = 0;
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOME_AGENT, resolve));
    socket.on('message', (data) => {
      if (data.length < 20 || data[0] !== 3) return;
      const node = data[7]! - 10;
      const identification = data.readBigUInt64BE(12);
      if (data[1] !== 0) {
        denied++;
        return;
      }
      accepted++;
      // The Reply's Identification low bits are the Request's (5.7); the high bits are the HA's time.
      const coa = [...(sent.get(node)?.entries() ?? [])].find(([id]) => (BigInt(`0x${id}`) & 0xffffffffn) === (identification & 0xffffffffn));
      if (coa === undefined) return;
      const full = BigInt(`0x${coa[0]}`);
      const previous = seen.get(node);
      if (previous === undefined || previous.identification < full) seen.set(node, { identification: full, careOf: coa[1] });
    });

    const started = Date.now();
    let round = 0;
    let storming = true;
    const storm = (async () => {
      while (storming) {
        for (let i = 0; i < NODES && storming; i++) {
          const id = nextTimestamp();
          const coa = careOf(round + i);
          const perNode = sent.get(i) ?? new Map<string, string>();
          perNode.set(id.toString(16).padStart(16, '0'), coa);
          sent.set(i, perNode);
          socket.send(encodeRequest(homeAddress(i), coa, id, keyOf(i)), port, HOME_AGENT);
          // Forged: a wrong key, a care-of address no accepted Request names (131, never a binding).
          if (i % 20 === 0) socket.send(encodeRequest(homeAddress(i), FORGED_CARE_OF, nextTimestamp(), WRONG_KEY), port, HOME_AGENT);
          if (i % 25 === 0) await sleep(1);
        }
        round++;
      }
    })();
    const deadline = Date.now() + 15_000;
    while (accepted < 3 * NODES && Date.now() < deadline) await sleep(5);
    expect(accepted, 'the storm got going').toBeGreaterThanOrEqual(3 * NODES);
    // Mid-storm: Requests are on their way and being handled when the daemon dies.
    first.child.kill('SIGKILL');
    const exit = await first.exited;
    storming = false;
    await storm;
    expect(exit.signal).toBe('SIGKILL');
    await sleep(50);
    socket.close();
    expect(denied).toBeGreaterThan(0);
    expect(seen.size).toBeGreaterThan(NODES / 2);

    const second = new Daemon(configPath);
    daemons.push(second);
    await second.line('listening');
    const restoredLine = await second.line('store-restored');
    const table = await second.bindings();
    const elapsedSeconds = (Date.now() - started) / 1000;
    second.child.kill('SIGTERM');
    await second.exited;

    expect(restoredLine.bindings).toBe([...table.values()].reduce((n, rows) => n + rows.length, 0));
    expect(restoredLine.expiredDropped).toBe(0);
    for (const [node, last] of seen) {
      const rows = table.get(homeAddress(node));
      expect(rows, `${homeAddress(node)}: its accepted binding is gone after the restart`).toBeDefined();
      expect(rows).toHaveLength(1);
      const row = rows![0]!;
      const restoredId = BigInt(`0x${row.identification}`);
      // The one seen, or a later Request of the node the daemon accepted before it died.
      expect(restoredId >= last.identification, `${homeAddress(node)}: restored ${row.identification}, older than the accepted ${last.identification.toString(16)}`).toBe(true);
      if (restoredId === last.identification) expect(row.careOf).toBe(last.careOf);
    }
    for (const [home, rows] of table) {
      const node = Number(home.split('.')[3]) - 10;
      for (const row of rows) {
        // Never a Request the daemon refused (the forged ones) or one the client never sent.
        expect(row.careOf).not.toBe(FORGED_CARE_OF);
        expect(sent.get(node)?.get(row.identification), `${home}: restored a binding no valid Request asked for`).toBe(row.careOf);
        // The lifetime left, not a fresh one: granted 600 s, some of which passed.
        expect(row.remaining).toBeLessThanOrEqual(LIFETIME);
        expect(row.remaining).toBeGreaterThanOrEqual(LIFETIME - Math.ceil(elapsedSeconds) - 1);
      }
    }
  }, 90_000);

  it('a second daemon on the same store file refuses to start, naming store.path', async () => {
    const configPath = join(dir, 'ha-lock.yaml');
    const storePath = join(dir, 'lock.db');
    writePrivateFile(configPath, config(await freePort(), storePath));
    const otherConfig = join(dir, 'ha-lock-2.yaml');
    writePrivateFile(otherConfig, config(await freePort(), storePath));
    const first = new Daemon(configPath);
    daemons.push(first);
    await first.line('listening');
    const second = new Daemon(otherConfig);
    daemons.push(second);
    const exit = await second.exited;
    first.child.kill('SIGTERM');
    await first.exited;
    expect(exit.code).toBe(1);
    expect(second.stderr).toContain(`mip4 ha: store.path: ${storePath} is locked by another process`);
  }, 60_000);

  it('a store file that is not a store stops the start with exit 1 and the fix, not a crash', async () => {
    const configPath = join(dir, 'ha-corrupt.yaml');
    const storePath = join(dir, 'corrupt.db');
    writeFileSync(storePath, 'not a database at all\n'.repeat(400));
    writePrivateFile(configPath, config(await freePort(), storePath));
    const daemon = new Daemon(configPath);
    daemons.push(daemon);
    const exit = await daemon.exited;
    expect(exit.code).toBe(1);
    expect(daemon.stderr).toMatch(/^mip4 ha: store\.path: .*corrupt\.db is not a usable store .*move the file aside/m);
    expect(daemon.stderr).not.toMatch(/at .*\.js:\d+/);
  }, 60_000);
});
