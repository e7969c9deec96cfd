/**
 * End-to-end: `mip4 ha` as a child process on real UDP sockets on 127.0.0.1.
 *
 * The mobile node side is written here from RFC 5944, independently of the project's codecs
 * and authenticator code: Registration Requests are laid out byte by byte (3.3), authenticated
 * with HMAC-MD5 from node:crypto over exactly the bytes before the authenticator (3.5.1), and
 * Replies are parsed and verified by hand (3.4, 3.5.2). Only the configuration loader is
 * imported, to check that `--example-config` prints something the daemon would accept.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';
import { nativeUdpUsable } from '../../runtime/udp-layer.js';
import { EXAMPLE_HOME_AGENT_CONFIG, loadHomeAgentConfig } from '../../runtime/config/ha-config.js';
import { writePrivateFile } from '../support/files.js';


// ---------------------------------------------------------------------------------------------
// Building dist/ when it is missing or older than the sources (`npm test` builds it first).


// ---------------------------------------------------------------------------------------------
// The mobile node side, from the RFC.

/** 1900-01-01 to 1970-01-01 in seconds: NTP timestamps count from 1900 (5.7.1). */
const NTP_UNIX_OFFSET_SECONDS = 2208988800n;
const MASK_32 = 0xffffffffn;

/** The current time as a 64-bit NTP timestamp: seconds since 1900, then the fraction (5.7.1). */
function ntpNow(): bigint {
  const ms = BigInt(Date.now());
  const seconds = ms / 1000n + NTP_UNIX_OFFSET_SECONDS;
  const fraction = ((ms % 1000n) << 32n) / 1000n;
  return (seconds << 32n) | fraction;
}

let lastTimestamp = 0n;
/** A fresh timestamp Identification, greater than any used before (5.7.1). */
function nextTimestamp(): bigint {
  let t = ntpNow();
  if (t <= lastTimestamp) t = lastTimestamp + 1n;
  lastTimestamp = t;
  return t;
}

const high32 = (id: bigint) => Number(id >> 32n);
const low32 = (id: bigint) => Number(id & MASK_32);

function writeAddress(buffer: Buffer, offset: number, dotted: string): void {
  const parts = dotted.split('.').map(Number);
  expect(parts).toHaveLength(4);
  parts.forEach((p, i) => (buffer[offset + i] = p));
}

const readAddress = (buffer: Buffer, offset: number) => [...buffer.subarray(offset, offset + 4)].join('.');

/** Flag bits of the Registration Request's second byte, most significant first (3.3). */
const Flag = { S: 0x80, B: 0x40, D: 0x20, M: 0x10, G: 0x08, r: 0x04, T: 0x02, x: 0x01 } as const;

const TYPE_REGISTRATION_REQUEST = 1;
const TYPE_REGISTRATION_REPLY = 3;
const TYPE_MOBILE_HOME_AUTH = 32;
/** 3.5.2: Length = 4 (SPI) + 16 (HMAC-MD5 authenticator). */
const MHAE_LENGTH = 20;
const REQUEST_FIXED = 24;
const REPLY_FIXED = 20;

interface RequestFields {
  readonly flags?: number;
  readonly lifetime: number;
  readonly homeAddress: string;
  readonly homeAgent: string;
  readonly careOfAddress: string;
  readonly identification: bigint;
  readonly spi: number;
  readonly key: Buffer;
}

/**
 * A Registration Request (3.3) followed by a Mobile-Home Authentication Extension (3.5.2)
 * whose authenticator is HMAC-MD5 over the fixed part plus the extension's Type, Length and
 * SPI: everything before the authenticator (3.5.1).
 */
function encodeRequest(f: RequestFields): Buffer {
  const b = Buffer.alloc(REQUEST_FIXED + 2 + MHAE_LENGTH);
  b[0] = TYPE_REGISTRATION_REQUEST;
  b[1] = f.flags ?? 0;
  b.writeUInt16BE(f.lifetime, 2);
  writeAddress(b, 4, f.homeAddress);
  writeAddress(b, 8, f.homeAgent);
  writeAddress(b, 12, f.careOfAddress);
  b.writeUInt32BE(high32(f.identification), 16);
  b.writeUInt32BE(low32(f.identification), 20);
  b[24] = TYPE_MOBILE_HOME_AUTH;
  b[25] = MHAE_LENGTH;
  b.writeUInt32BE(f.spi, 26);
  createHmac('md5', f.key).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}

interface ParsedReply {
  readonly code: number;
  readonly lifetime: number;
  readonly homeAddress: string;
  readonly homeAgent: string;
  readonly identification: bigint;
  readonly spi: number;
  /** Whether the MHAE at offset 20 verifies with `key` (3.5.1). */
  readonly authenticatorValid: boolean;
}

/**
 * A Registration Reply (3.4) from a home agent that shares no association with a foreign
 * agent: the fixed 20 bytes, then the Mobile-Home Authentication Extension and nothing else
 * (3.8.3.3; these Requests carry no other extension the home agent would copy).
 */
function parseReply(data: Buffer, key: Buffer): ParsedReply {
  expect(data.length, 'a Reply is 20 fixed bytes plus a 22-byte MHAE').toBe(REPLY_FIXED + 2 + MHAE_LENGTH);
  expect(data[0], 'Type 3 (Registration Reply)').toBe(TYPE_REGISTRATION_REPLY);
  expect(data[REPLY_FIXED], 'the MHAE follows the fixed part').toBe(TYPE_MOBILE_HOME_AUTH);
  expect(data[REPLY_FIXED + 1]).toBe(MHAE_LENGTH);
  const expected = createHmac('md5', key).update(data.subarray(0, REPLY_FIXED + 6)).digest();
  return {
    code: data[1]!,
    lifetime: data.readUInt16BE(2),
    homeAddress: readAddress(data, 4),
    homeAgent: readAddress(data, 8),
    identification: (BigInt(data.readUInt32BE(12)) << 32n) | BigInt(data.readUInt32BE(16)),
    spi: data.readUInt32BE(REPLY_FIXED + 2),
    authenticatorValid: expected.equals(data.subarray(REPLY_FIXED + 6)),
  };
}

/** A deterministic byte source for garbage (xorshift32), so a failure can be replayed. */
function seededBytes(seed: number): (length: number) => Buffer {
  let state = seed >>> 0 || 1;
  return (length) => {
    const b = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      b[i] = state & 0xff;
    }
    return b;
  };
}

// ---------------------------------------------------------------------------------------------
// Processes and sockets.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined. */
async function until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed). */
async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', resolve);
  });
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** Whether 127.0.0.1:port can be bound right now (exclusively). */
async function portIsFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind({ port, address: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  await new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
  return bound;
}

type LogLine = Record<string, unknown> & { event?: string };

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A `mip4` child process whose stdout JSON lines and stderr text are collected. */
class Mip4Process {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly rawStdout: string[] = [];
  stderr = '';
  exitStatus: Exit | undefined;
  readonly exited: Promise<Exit>;
  private partial = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const text = this.partial + chunk;
      const parts = text.split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) {
        this.rawStdout.push(line);
        if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
      }
    });
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        if (this.partial) this.rawStdout.push(this.partial);
        this.exitStatus = { code, signal };
        running.delete(this);
        resolve(this.exitStatus);
      });
    });
  }

  get stdoutText(): string {
    return this.rawStdout.join('\n');
  }

  events(name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }

  async waitForLine(predicate: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return until(
      () => {
        const found = this.lines.find(predicate);
        if (found) return found;
        if (this.exitStatus) throw new Error(`mip4 exited (${JSON.stringify(this.exitStatus)}) while waiting for ${what}; stderr:\n${this.stderr}`);
        return undefined;
      },
      timeoutMs,
      what,
    );
  }

  async waitForExit(timeoutMs: number): Promise<Exit> {
    const timer = sleep(timeoutMs).then(() => undefined);
    const result = await Promise.race([this.exited, timer]);
    if (result === undefined) throw new Error(`mip4 did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`);
    return result;
  }

  kill(): void {
    if (!this.exitStatus) this.child.kill('SIGKILL');
  }
}

const running = new Set<Mip4Process>();

function killAll(): void {
  for (const p of running) p.kill();
}

/** Runs `mip4 <args>` to completion. */
async function runToExit(args: readonly string[], timeoutMs = 30_000): Promise<{ exit: Exit; process: Mip4Process }> {
  const p = new Mip4Process(args);
  try {
    return { exit: await p.waitForExit(timeoutMs), process: p };
  } finally {
    p.kill();
  }
}

interface Received {
  readonly data: Buffer;
  readonly address: string;
  readonly port: number;
}

/** The mobile node's UDP socket on 127.0.0.1, collecting everything it receives. */
class NodeSocket {
  readonly inbox: Received[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, rinfo) => this.inbox.push({ data, address: rinfo.address, port: rinfo.port }));
  }

  static async open(): Promise<NodeSocket> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new NodeSocket(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
  }

  /** Takes the first received datagram whose bytes 16-19 (a Reply's low Identification) are `low`. */
  take(low: number): Received | undefined {
    const i = this.inbox.findIndex((r) => r.data.length >= REPLY_FIXED && r.data.readUInt32BE(16) === low);
    return i < 0 ? undefined : this.inbox.splice(i, 1)[0];
  }

  async reply(low: number, timeoutMs = 10_000): Promise<Received> {
    return until(() => this.take(low), timeoutMs, `a Reply with low Identification 0x${low.toString(16)}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// The configuration of the daemon under test.

const HOME_AGENT = '127.0.0.1';
/** Not a loopback address: a care-of address must be able to end a tunnel. Only a field here. */
const CARE_OF = '192.0.2.77';
const MAX_LIFETIME = 30;
const FLOOD_NODES = 200;

const keyOf = (label: string) => createHash('md5').update(label).digest();

const MN = { homeAddress: '127.0.0.10', spi: 4096, key: keyOf('mn-timestamp') };
const NONCE_MN = { homeAddress: '127.0.0.11', spi: 4097, key: keyOf('mn-nonce') };
const SHORT_MN = { homeAddress: '127.0.0.12', spi: 4098, key: keyOf('mn-short') };
const floodNode = (i: number) => ({ homeAddress: `127.1.${i >> 8}.${(i & 0xff) + 1}`, spi: 5000 + i, key: keyOf(`flood-${i}`) });

function daemonConfig(): string {
  const node = (n: { homeAddress: string; spi: number; key: Buffer }, extra = '') =>
    `  - homeAddress: ${n.homeAddress}\n    spi: ${n.spi}\n    key: "${n.key.toString('hex')}"\n${extra}`;
  return [
    `homeAgent:`,
    `  address: ${HOME_AGENT}`,
    `  homeNetwork: 127.0.0.0/8`,
    `  maxLifetime: ${MAX_LIFETIME}`,
    `mobileNodes:`,
    node(MN, '    replay: timestamp\n') +
      node(NONCE_MN, '    replay: nonce\n') +
      node(SHORT_MN) +
      Array.from({ length: FLOOD_NODES }, (_, i) => node(floodNode(i))).join(''),
  ].join('\n');
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mip4-e2e-'));
  tempDirs.push(dir);
  return dir;
}

/** Starts `mip4 ha` on a free port, retrying when another process took the port meanwhile. */
async function startDaemon(configPath: string): Promise<{ daemon: Mip4Process; port: number; listening: LogLine }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const daemon = new Mip4Process(['ha', '--config', configPath, '--listen', `${HOME_AGENT}:${port}`]);
    try {
      const listening = await daemon.waitForLine((l) => l.event === 'listening', 30_000, 'the listening line');
      return { daemon, port, listening };
    } catch (error) {
      daemon.kill();
      if (attempt >= 3 || !/in use/.test(daemon.stderr)) throw error;
    }
  }
}

beforeAll(() => ensureBuilt(), 180_000);

afterAll(() => {
  killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('mip4 ha on 127.0.0.1, spoken to over real UDP', () => {
  let daemon: Mip4Process;
  let port: number;
  let listening: LogLine;
  let mn: NodeSocket;
  /** The Requests the timestamp node had accepted, oldest first. */
  const accepted: Buffer[] = [];

  beforeAll(async () => {
    const dir = tempDir();
    const configPath = join(dir, 'ha.yaml');
    writePrivateFile(configPath, daemonConfig());
    ({ daemon, port, listening } = await startDaemon(configPath));
    mn = await NodeSocket.open();
  }, 60_000);

  afterAll(async () => {
    daemon?.kill();
    await mn?.close();
  });

  const request = (fields: Partial<RequestFields> & { identification: bigint }, node = MN) =>
    encodeRequest({
      flags: Flag.D,
      lifetime: 600,
      homeAddress: node.homeAddress,
      homeAgent: HOME_AGENT,
      careOfAddress: CARE_OF,
      spi: node.spi,
      key: node.key,
      ...fields,
    });

  /** Sends `bytes` and returns the Reply matched by the low 32 bits of `identification`. */
  async function exchange(bytes: Buffer, identification: bigint, key: Buffer = MN.key): Promise<ParsedReply & { from: Received }> {
    await mn.send(bytes, port);
    const from = await mn.reply(low32(identification));
    return { ...parseReply(from.data, key), from };
  }

  /** Asks the daemon for its bindings table (SIGUSR2) and returns the new stderr text. */
  async function bindingsTable(): Promise<string> {
    const before = daemon.stderr.length;
    daemon.child.kill('SIGUSR2');
    return until(
      () => {
        const text = daemon.stderr.slice(before);
        const match = /Mobility bindings: (\d+)\n/.exec(text);
        if (!match) return undefined;
        const rows = text.slice(match.index).split('\n');
        // The count line, the header, one row per binding.
        return rows.length >= Number(match[1]) + 2 ? rows.slice(0, Number(match[1]) + 2).join('\n') : undefined;
      },
      10_000,
      'the bindings table on stderr',
    );
  }

  /** Asks for SIGUSR2 and returns the agent's counters it prints after the bindings table. */
  async function countersSnapshot(): Promise<{ discardedByReason: Record<string, number> }> {
    const before = daemon.stderr.length;
    daemon.child.kill('SIGUSR2');
    return until(
      () => {
        const match = /Counters: (\{.*\})\n/.exec(daemon.stderr.slice(before));
        return match ? (JSON.parse(match[1]!) as { discardedByReason: Record<string, number> }) : undefined;
      },
      10_000,
      'the counters on stderr',
    );
  }

  const tableRows = (table: string) => table.split('\n').slice(2).map((row) => row.split(/\s{2,}/));

  it('announces itself: a listening line naming the endpoint, the UDP layer, the node count and its pid', () => {
    expect(listening).toMatchObject({
      event: 'listening',
      endpoints: [`${HOME_AGENT}:${port}`],
      // The default: batched on the native helper when it is built here (runtime/udp-layer.ts).
      udp: nativeUdpUsable() ? 'native' : 'dgram',
      mobileNodes: 3 + FLOOD_NODES,
      foreignAgents: 0,
      engine: process.env.MIP4_ENGINE === 'xstate' ? 'xstate' : 'compiled',
      pid: daemon.child.pid,
    });
  });

  it('[R3.8.3.2-3][R3.8.3.2-4][R3.5.2-1][R3.8.2.2-2] registers: code 0, Lifetime 600 cut to the maximum 30, Identification echoed, valid MHAE, sent back to the source', async () => {
    const identification = nextTimestamp();
    const bytes = request({ identification, lifetime: 600 });
    const reply = await exchange(bytes, identification);
    accepted.push(bytes);
    expect(reply.from.address).toBe(HOME_AGENT);
    expect(reply.from.port).toBe(port);
    expect(reply).toMatchObject({
      code: 0,
      lifetime: MAX_LIFETIME,
      homeAddress: MN.homeAddress,
      homeAgent: HOME_AGENT,
      identification,
      spi: MN.spi,
      authenticatorValid: true,
    });
    const line = await daemon.waitForLine(
      (l) => l.event === 'reply' && l.homeAddress === MN.homeAddress && l.code === 0 && l.operation === 'register',
      10_000,
      'the reply log line',
    );
    expect(line).toMatchObject({ careOfAddress: CARE_OF, lifetime: MAX_LIFETIME, to: `${HOME_AGENT}:${mn.port}`, text: expect.any(String) });
    expect(line.trace).toEqual(expect.any(String));
    expect((line.trace as string).length).toBeGreaterThan(0);
  });

  it('[R3.8.3.2-2] renews with a later timestamp: code 0, and a Lifetime below the maximum is copied', async () => {
    const identification = nextTimestamp();
    const bytes = request({ identification, lifetime: 20 });
    const reply = await exchange(bytes, identification);
    accepted.push(bytes);
    expect(reply).toMatchObject({ code: 0, lifetime: 20, identification, authenticatorValid: true });
  });

  it('[R3.8.1-3] SIGUSR2 prints the bindings table on stderr: the home address, care-of address, lifetime and Identification', async () => {
    const table = await bindingsTable();
    const lines = table.split('\n');
    expect(lines[0]).toBe('Mobility bindings: 1');
    expect(lines[1]).toMatch(/^Home address\s+Care-of address\s+Lifetime\s+Remaining\s+Encap\s+Flags\s+Identification\s+Relayed by\s+UDP tunnel$/);
    const [row] = tableRows(table);
    const renewal = accepted[1]!;
    expect(row![0]).toBe(MN.homeAddress);
    expect(row![1]).toBe(CARE_OF);
    expect(row![2]).toBe('20');
    expect(Number(row![3])).toBeGreaterThan(15);
    expect(row![4]).toBe('ip-in-ip');
    expect(row![5]).toBe('D');
    expect(row![6]).toBe(renewal.subarray(16, 24).toString('hex'));
    expect(daemon.exitStatus).toBeUndefined();
  });

  it('[R5.7.1-7][R5.7.1-8] a timestamp an hour old (never used before): 133 carrying the home agent\'s time, not the hour-old one', async () => {
    const now = nextTimestamp();
    const identification = now - (3600n << 32n);
    const reply = await exchange(request({ identification }), identification);
    expect(reply).toMatchObject({ code: 133, homeAddress: MN.homeAddress, authenticatorValid: true });
    expect(low32(reply.identification)).toBe(low32(identification));
    expect(Math.abs(high32(reply.identification) - high32(now))).toBeLessThanOrEqual(2);
  });

  it('[R5.7.1-8][R3.8.2.1-14][R5.7-4] a replayed older Request: 133, low 32 bits echoed, high 32 bits the home agent\'s time, binding untouched', async () => {
    const old = accepted[0]!;
    const identification = (BigInt(old.readUInt32BE(16)) << 32n) | BigInt(old.readUInt32BE(20));
    const reply = await exchange(old, identification);
    expect(reply.code).toBe(133);
    expect(reply.authenticatorValid).toBe(true);
    expect(low32(reply.identification)).toBe(low32(identification));
    // 5.7.1: "supplies the high-order 32 bits from its own time of day" (NTP seconds).
    const haSeconds = high32(reply.identification);
    const ourSeconds = high32(ntpNow());
    expect(Math.abs(haSeconds - ourSeconds)).toBeLessThanOrEqual(2);
    expect(reply.homeAddress).toBe(MN.homeAddress);
    const [row] = tableRows(await bindingsTable());
    expect(row![6]).toBe(accepted[1]!.subarray(16, 24).toString('hex'));
    expect(row![2]).toBe('20');
  });

  it('[R3.8.2.1-7][R3.8.2.1-10][R3.8.2.1-12] a bad authenticator: 131 carrying a valid MHAE, and the binding is untouched', async () => {
    const identification = nextTimestamp();
    const bytes = request({ identification, lifetime: 25, careOfAddress: '192.0.2.99' });
    bytes[bytes.length - 1]! ^= 0x01;
    const reply = await exchange(bytes, identification);
    expect(reply).toMatchObject({ code: 131, homeAddress: MN.homeAddress, homeAgent: HOME_AGENT, identification, spi: MN.spi, authenticatorValid: true });
    const line = await daemon.waitForLine((l) => l.event === 'reply' && l.code === 131, 10_000, 'the 131 log line');
    expect(line.securityException).toBe(true);
    const table = await bindingsTable();
    expect(table.split('\n')[0]).toBe('Mobility bindings: 1');
    expect(tableRows(table)[0]![1]).toBe(CARE_OF);
  });

  it('[R3.8.2.1-11] an unknown SPI: 131 authenticated with the context the node does have', async () => {
    const identification = nextTimestamp();
    const reply = await exchange(request({ identification, spi: 9999 }), identification);
    expect(reply).toMatchObject({ code: 131, spi: MN.spi, authenticatorValid: true });
  });

  it('[R3.8.2.1-5] a Request for a home address this home agent does not serve is discarded silently', async () => {
    const identification = nextTimestamp();
    const stranger = { homeAddress: '127.0.0.99', spi: 4096, key: MN.key };
    const discardsBefore = daemon.events('discard').length;
    await mn.send(request({ identification }, stranger), port);
    const line = await daemon.waitForLine(
      (l) => l.event === 'discard' && l.reason === 'unknown-mobile-node' && daemon.events('discard').indexOf(l) >= discardsBefore,
      10_000,
      'the discard line',
    );
    expect(line.from).toBe(`${HOME_AGENT}:${mn.port}`);
    await sleep(150);
    expect(mn.inbox).toHaveLength(0);
  });

  it('[R3.8-1][R3.8.2.1-6] garbage gets no reply, each datagram is a counted discard, and a live binding still renews', async () => {
    const random = seededBytes(0x5eed);
    const valid = request({ identification: nextTimestamp() });
    const garbage: Buffer[] = [
      random(40),
      random(1),
      Buffer.from([TYPE_REGISTRATION_REQUEST]),
      Buffer.alloc(0),
      // Truncations of a valid Request: inside the fixed part, exactly the fixed part (no
      // authorization-enabling extension), inside the MHAE header, inside the authenticator.
      ...[1, 10, 23, REQUEST_FIXED, 25, 27, 30, 45].map((n) => valid.subarray(0, n)),
      // Wrong types: a Reply, an unassigned type, type 0.
      Buffer.concat([Buffer.from([TYPE_REGISTRATION_REPLY]), valid.subarray(1)]),
      Buffer.concat([Buffer.from([0xff]), valid.subarray(1)]),
      Buffer.concat([Buffer.from([0x00]), valid.subarray(1)]),
      // A Request whose MHAE claims more bytes than there are.
      Buffer.concat([valid.subarray(0, 25), Buffer.from([200]), valid.subarray(26)]),
      ...Array.from({ length: 8 }, (_, i) => random(1 + ((i * 37) % 300))),
    ];
    const discardsBefore = daemon.events('discard').length;
    const repliesBefore = daemon.events('reply').length;
    let sentHuge = false;
    // The largest UDP payload over IPv4 (65535 - 20 - 8), starting like a Request.
    const huge = random(65507);
    huge[0] = TYPE_REGISTRATION_REQUEST;
    try {
      await mn.send(huge, port);
      sentHuge = true;
    } catch (error) {
      // EMSGSIZE where the OS will not take it: the rest still runs.
      expect((error as NodeJS.ErrnoException).code).toBe('EMSGSIZE');
    }
    for (const g of garbage) await mn.send(g, port);
    const expected = garbage.length + (sentHuge ? 1 : 0);
    // Each datagram is one discard line.
    await until(() => (daemon.events('discard').length - discardsBefore >= expected ? true : undefined), 5000, `${expected} discard lines`);
    await sleep(200);
    const discards = daemon.events('discard').slice(discardsBefore);
    expect(discards).toHaveLength(expected);
    const reasons = new Set(discards.map((d) => d.reason));
    expect(reasons).toContain('not-a-request');
    expect(reasons).toContain('malformed');
    expect(reasons).toContain('no-authorization-extension');
    for (const d of discards) {
      expect(d.from).toBe(`${HOME_AGENT}:${mn.port}`);
      expect(d.trace).toEqual(expect.any(String));
      expect(d.datagram).toEqual(expect.any(String));
    }
    // The log keeps a capped prefix of what was discarded, not 64 KiB of hex.
    if (sentHuge) {
      const logged = discards.find((d) => typeof d.datagram === 'string' && d.datagram.startsWith(huge.subarray(0, 64).toString('hex')));
      expect(logged, 'the 65507-byte datagram is logged').toBeDefined();
      // Above limits.maxMessageBytes (default 1500): discarded before it is decoded, and
      // counted where SIGUSR2 shows every discard reason.
      expect(logged!.reason).toBe('message-too-large');
      expect((await countersSnapshot()).discardedByReason['message-too-large']).toBe(1);
      expect((logged!.datagram as string).length).toBeLessThan(1000);
      expect(logged!.datagram).toMatch(/\.\.\.$/);
    }
    // No Reply to any of it (3.8: Replies answer Registration Requests only).
    expect(mn.inbox).toHaveLength(0);
    expect(daemon.events('reply')).toHaveLength(repliesBefore);

    const identification = nextTimestamp();
    const renewal = request({ identification, lifetime: 30 });
    const reply = await exchange(renewal, identification);
    accepted.push(renewal);
    expect(reply).toMatchObject({ code: 0, lifetime: 30, identification, authenticatorValid: true });
  });

  it('[R3.8.2.1-13] nonce replay protection: 133 with a nonce, then the echoed nonce is accepted, a stale one refused', async () => {
    const key = NONCE_MN.key;
    const send = async (high: number) => {
      const low = (Math.random() * 0x1_0000_0000) >>> 0;
      const identification = (BigInt(high) << 32n) | BigInt(low);
      const reply = await exchange(request({ identification }, NONCE_MN), identification, key);
      expect(reply.authenticatorValid).toBe(true);
      expect(low32(reply.identification)).toBe(low);
      return reply;
    };
    // No nonce issued yet: any high half is wrong; the Reply carries the first nonce (5.7.2).
    const first = await send(0x12345678);
    expect(first.code).toBe(133);
    const nonce1 = high32(first.identification);
    const second = await send(nonce1);
    expect(second).toMatchObject({ code: 0, lifetime: MAX_LIFETIME });
    const nonce2 = high32(second.identification);
    // The used nonce again (as a replay would): refused, with a new nonce.
    const stale = await send(nonce1);
    expect(stale.code).toBe(133);
    const nonce3 = high32(stale.identification);
    const fresh = await send(nonce3);
    expect(fresh.code).toBe(0);
    expect(new Set([nonce1, nonce2, nonce3]).size).toBe(3);
  });

  it('[R3.8-2][R3.8.2.2-8] a 1 s binding expires on its own: deleted from the table, and no Reply announces it', async () => {
    const identification = nextTimestamp();
    const loggedBefore = daemon.events('reply').length;
    const reply = await exchange(request({ identification, lifetime: 1 }, SHORT_MN), identification, SHORT_MN.key);
    expect(reply).toMatchObject({ code: 0, lifetime: 1 });
    // The Reply datagram can arrive before the daemon's log line of it: count from that line on.
    await daemon.waitForLine(
      (l) => l.event === 'reply' && l.homeAddress === SHORT_MN.homeAddress && l.lifetime === 1 && daemon.events('reply').indexOf(l) >= loggedBefore,
      10_000,
      'the reply log line of the 1 s registration',
    );
    const repliesBefore = daemon.events('reply').length;
    const deadline = Date.now() + 8000;
    let table = await bindingsTable();
    while (table.includes(SHORT_MN.homeAddress)) {
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(200);
      table = await bindingsTable();
    }
    await sleep(100);
    expect(mn.inbox).toHaveLength(0);
    expect(daemon.events('reply').length).toBe(repliesBefore);
  });

  it('deregisters: Lifetime 0 with the care-of address equal to the home address, code 0, Lifetime 0, no bindings left', async () => {
    const identification = nextTimestamp();
    const reply = await exchange(request({ identification, lifetime: 0, careOfAddress: MN.homeAddress, flags: 0 }), identification);
    expect(reply).toMatchObject({ code: 0, lifetime: 0, homeAddress: MN.homeAddress, identification, authenticatorValid: true });
    await daemon.waitForLine((l) => l.event === 'reply' && l.operation === 'deregister-all', 10_000, 'the deregistration line');
    const table = await bindingsTable();
    expect(table).not.toContain(MN.homeAddress);
  });

  it('a flood of 2000 garbage datagrams and 200 valid Requests: every valid one gets a correct Reply', async () => {
    const random = seededBytes(0xf100d);
    const valid = Array.from({ length: FLOOD_NODES }, (_, i) => {
      const node = floodNode(i);
      const identification = nextTimestamp();
      return { node, identification, bytes: request({ identification, lifetime: 600 }, node) };
    });
    const flood: Buffer[] = [];
    for (let i = 0, v = 0; i < 2000 + FLOOD_NODES; i++) {
      if (i % 11 === 10 && v < FLOOD_NODES) flood.push(valid[v++]!.bytes);
      else flood.push(random(1 + (i % 120)));
    }
    expect(flood.length).toBe(2200);
    const loggedBefore = daemon.events('reply').length + daemon.events('discard').length;
    // As fast as possible: queue every send at once, then wait for all to leave.
    await Promise.all(flood.map((datagram) => mn.send(datagram, port)));

    const replies = new Map<number, Received>();
    const collect = () => {
      for (const v of valid) {
        if (replies.has(v.node.spi)) continue;
        const r = mn.take(low32(v.identification));
        if (r) replies.set(v.node.spi, r);
      }
    };
    const retried = new Set<number>();
    for (let round = 0; round <= 3; round++) {
      // Wait until everything is answered, or nothing new arrived for 300 ms (max 5 s).
      const deadline = Date.now() + 5000;
      let lastProgress = Date.now();
      while (replies.size < valid.length && Date.now() < deadline && Date.now() - lastProgress < 300) {
        const before = replies.size;
        collect();
        if (replies.size > before) lastProgress = Date.now();
        await sleep(10);
      }
      collect();
      if (replies.size === valid.length || round === 3) break;
      // Loopback drops datagrams when the daemon's receive buffer overflows: resend the same
      // Request (a retransmission, 3.6.3), at most 3 times.
      for (const v of valid) {
        if (!replies.has(v.node.spi)) {
          retried.add(v.node.spi);
          await mn.send(v.bytes, port);
        }
      }
    }
    const loggedAfter = daemon.events('reply').length + daemon.events('discard').length;
    console.info(
      `flood: ${replies.size}/${valid.length} valid Requests answered; ${retried.size} needed a retransmission; ` +
        `the daemon logged ${loggedAfter - loggedBefore} datagrams for the ${flood.length} sent plus the retransmissions`,
    );
    expect(replies.size).toBe(valid.length);
    for (const v of valid) {
      const reply = parseReply(replies.get(v.node.spi)!.data, v.node.key);
      // A retransmission whose first copy did get through is a duplicate: it keeps what is
      // left of the original grant (3.8.2.2), so it may be a second less.
      const lifetimeOk = retried.has(v.node.spi) ? reply.lifetime >= MAX_LIFETIME - 5 && reply.lifetime <= MAX_LIFETIME : reply.lifetime === MAX_LIFETIME;
      expect({ ...reply, lifetimeOk }).toMatchObject({
        code: 0,
        homeAddress: v.node.homeAddress,
        homeAgent: HOME_AGENT,
        identification: v.identification,
        spi: v.node.spi,
        authenticatorValid: true,
        lifetimeOk: true,
      });
    }
    const bound = new Set(tableRows(await bindingsTable()).map((row) => row[0]));
    for (const v of valid) expect(bound.has(v.node.homeAddress), v.node.homeAddress).toBe(true);
    expect(daemon.exitStatus).toBeUndefined();
  }, 30_000);

  it('stops on SIGTERM: exit 0 and a final stopped line whose counters add up to what was logged', async () => {
    const table = await bindingsTable();
    const bindings = Number(/Mobility bindings: (\d+)/.exec(table)![1]);
    daemon.child.kill('SIGTERM');
    const exit = await daemon.waitForExit(15_000);
    expect(exit).toStrictEqual({ code: 0, signal: null });
    const last = daemon.lines.at(-1)!;
    expect(last).toMatchObject({ event: 'stopped', signal: 'SIGTERM', bindings });
    const counters = last.counters as {
      requests: number;
      accepted: number;
      denied: number;
      discarded: number;
      deniedByCode: Record<string, number>;
      discardedByReason: Record<string, number>;
    };
    const replies = daemon.events('reply');
    const discards = daemon.events('discard');
    // Every datagram is answered or discarded, and each is logged once.
    expect(counters.requests).toBe(replies.length + discards.length);
    expect(counters.accepted + counters.denied + counters.discarded).toBe(counters.requests);
    expect(counters.discarded).toBe(discards.length);
    expect(counters.accepted).toBe(replies.filter((r) => (r.code as number) <= 1).length);
    expect(counters.deniedByCode['131']).toBe(replies.filter((r) => r.code === 131).length);
    expect(counters.deniedByCode['133']).toBe(replies.filter((r) => r.code === 133).length);
    expect(Object.values(counters.discardedByReason).reduce((a, b) => a + b, 0)).toBe(counters.discarded);
    // Some garbage always arrives (the flood's may be partly lost on loopback).
    expect(counters.discarded).toBeGreaterThan(20);
    expect(counters.deniedByCode['131']).toBeGreaterThanOrEqual(2);
    // Every logged request has its own trace id.
    const traces = [...replies, ...discards].map((l) => l.trace);
    expect(new Set(traces).size).toBe(traces.length);
    expect(await portIsFree(port)).toBe(true);
  });
});

// A cold start of node with effect loaded takes a few seconds on a busy machine: generous limits.
describe.concurrent('mip4 ha start-up and usage', { timeout: 45_000 }, () => {
  // Each test also kills its own process when it ends (runToExit).
  afterAll(killAll);

  it('a bad config exits 2 naming the field path on stderr, before any socket is opened', async () => {
    const dir = tempDir();
    const configPath = join(dir, 'ha.yaml');
    const port = await freePort();
    writePrivateFile(
      configPath,
      `homeAgent:\n  address: 127.0.0.1\n  homeNetwork: 127.0.0.0/8\n  listen: [127.0.0.1:${port}]\nmobileNodes:\n  - homeAddress: 127.0.0.10\n    spi: 100\n    key: "00112233445566778899aabbccddeeff"\n`,
    );
    const { exit, process: p } = await runToExit(['ha', '--config', configPath]);
    expect(exit).toStrictEqual({ code: 2, signal: null });
    expect(p.stderr).toContain(`invalid configuration ${configPath}`);
    expect(p.stderr).toMatch(/mobileNodes\[0\]\.spi: SPI 100 is reserved/);
    expect(p.events('listening')).toHaveLength(0);
    expect(p.stdoutText).toBe('');
    expect(await portIsFree(port)).toBe(true);
  });

  it('--listen on a port already in use exits 1 saying it is in use', async () => {
    const dir = tempDir();
    const configPath = join(dir, 'ha.yaml');
    writePrivateFile(configPath, daemonConfig());
    const holder = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => holder.bind({ port: 0, address: '127.0.0.1', exclusive: true }, () => resolve()));
    const port = holder.address().port;
    try {
      const { exit, process: p } = await runToExit(['ha', '--config', configPath, '--listen', `127.0.0.1:${port}`]);
      expect(exit).toStrictEqual({ code: 1, signal: null });
      expect(p.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      expect(p.events('listening')).toHaveLength(0);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it('--example-config prints a file the loader accepts, the same configuration as the built-in example', async () => {
    const { exit, process: p } = await runToExit(['ha', '--example-config']);
    expect(exit).toStrictEqual({ code: 0, signal: null });
    const path = join(tempDir(), 'example.yaml');
    writePrivateFile(path, p.stdoutText);
    const fromOutput = loadHomeAgentConfig(path);
    const builtIn = join(tempDir(), 'builtin.yaml');
    writePrivateFile(builtIn, EXAMPLE_HOME_AGENT_CONFIG);
    // The same but for the default store file, named after each config file's path.
    const { store: outputStore, ...outputRest } = fromOutput;
    const { store: builtInStore, ...builtInRest } = loadHomeAgentConfig(builtIn);
    expect(outputRest).toStrictEqual(builtInRest);
    expect(outputStore?.defaulted && builtInStore?.defaulted).toBe(true);
    expect(fromOutput.config.mobileNodes.length).toBeGreaterThan(0);
  });

  it('--help exits 0 with the usage on stdout', async () => {
    const { exit, process: p } = await runToExit(['ha', '--help']);
    expect(exit).toStrictEqual({ code: 0, signal: null });
    expect(p.stdoutText).toMatch(/^usage: mip4 ha --config <ha\.yaml>/);
    expect(p.stdoutText).toContain('SIGUSR2');
    expect(p.stderr).toBe('');
  });

  it('without --config exits 2 and says --config is required', async () => {
    const { exit, process: p } = await runToExit(['ha']);
    expect(exit).toStrictEqual({ code: 2, signal: null });
    expect(p.stderr).toContain('--config is required');
    expect(p.stdoutText).toBe('');
  });

  it('a malformed --listen exits 2 naming the option', async () => {
    const dir = tempDir();
    const configPath = join(dir, 'ha.yaml');
    writePrivateFile(configPath, daemonConfig());
    const { exit, process: p } = await runToExit(['ha', '--config', configPath, '--listen', '127.0.0.1']);
    expect(exit).toStrictEqual({ code: 2, signal: null });
    expect(p.stderr).toContain('--listen "127.0.0.1": expected ADDRESS:PORT');
  });
});
