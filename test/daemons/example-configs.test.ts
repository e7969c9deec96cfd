/**
 * End-to-end: what `mip4 ha|fa|mn --example-config` prints is inert and runnable as printed, by
 * an ordinary user: it names no interface of any machine (a placeholder the daemons refuse,
 * naming the field), and the home agent's example runs UDP-only with `--listen 127.0.0.1:…`
 * and answers a Registration Request.
 *
 * The daemons run as a non-root user: `nobody` when the tests run as root (spawned with its
 * uid and gid), else the user running the tests. The Request is laid out here from RFC 5944
 * 3.3/3.5 with node:crypto's HMAC-MD5, independently of the project's codecs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
/** Who the daemons run as: never root. */
const user = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
/** The example's association with its mobile node (homeAgent/mobileNodes in the printed file). */
const EXAMPLE_KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const EXAMPLE_SPI = 4096;

let dir = '';
const children: ChildProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-examples-'));
  // The non-root daemon must reach its config file, and only its owner may read it (keys).
  chmodSync(dir, 0o711);
}, 120_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function mip4(args: string[]): Run {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'mip4.js'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...user });
  children.push(child);
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  return run;
}

/** `mip4 <daemon> --example-config`, run as the non-root user, written to a file only that user reads. */
async function printedExample(daemon: string, edit: (text: string) => string = (t) => t): Promise<string> {
  const printed = mip4([daemon, '--example-config']);
  expect(await printed.exit).toStrictEqual({ code: 0, signal: null });
  const path = join(dir, `${daemon}-${children.length}.yaml`);
  writeFileSync(path, edit(printed.stdout), { mode: 0o600 });
  if (asRoot) chownSync(path, NOBODY, NOBODY);
  return path;
}

async function waitForLine(run: Run, match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of run.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (match(parsed)) return parsed;
    }
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${what}; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A Registration Request (3.3) with a Mobile-Home Authentication Extension, HMAC-MD5 (3.5.1, 3.5.2). */
function registrationRequest(identification: bigint): Buffer {
  const b = Buffer.alloc(24 + 2 + 20);
  b[0] = 1; // Registration Request
  b[1] = 0x20; // D: the node decapsulates (co-located care-of address)
  b.writeUInt16BE(600, 2);
  Buffer.from([198, 51, 100, 10]).copy(b, 4); // home address
  Buffer.from([198, 51, 100, 1]).copy(b, 8); // home agent
  Buffer.from([203, 0, 113, 50]).copy(b, 12); // care-of address
  b.writeBigUInt64BE(identification, 16);
  b[24] = 32;
  b[25] = 20;
  b.writeUInt32BE(EXAMPLE_SPI, 26);
  createHmac('md5', EXAMPLE_KEY).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}

/** An NTP-format timestamp of now (5.7.1: seconds since 1900 in the high 32 bits). */
function ntpNow(): bigint {
  const ms = BigInt(Date.now());
  return ((ms / 1000n + 2208988800n) << 32n) | (((ms % 1000n) << 32n) / 1000n);
}

describe('--example-config is inert and runnable as printed', { timeout: 60_000 }, () => {
  it('no example names an interface: every interface field, commented or not, holds the placeholder', async () => {
    for (const daemon of ['ha', 'fa', 'mn']) {
      const printed = mip4([daemon, '--example-config']);
      expect(await printed.exit).toStrictEqual({ code: 0, signal: null });
      const names = [...printed.stdout.matchAll(/\b(?:interface|homeInterface):\s*(\S+)/g)].map((m) => m[1]);
      expect(names.length, daemon).toBeGreaterThan(0);
      expect(new Set(names), daemon).toEqual(new Set(['CHANGE-ME']));
    }
  });

  it(`mip4 ha runs the printed example as ${asRoot ? 'nobody' : 'this user'} with --listen 127.0.0.1:0, UDP only, and answers a Registration Request`, async () => {
    const config = await printedExample('ha');
    const daemon = mip4(['ha', '--config', config, '--listen', '127.0.0.1:0']);
    const listening = await waitForLine(daemon, (l) => l.event === 'listening', 'listening line');
    const [endpoint] = listening.endpoints as string[];
    const port = Number(endpoint!.split(':')[1]);
    expect(daemon.stdout).not.toContain('data-path-up');

    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const identification = ntpNow();
      const reply = new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Reply; stderr: ${daemon.stderr}`)), 10_000);
        socket.once('message', (message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
      socket.send(registrationRequest(identification), port, '127.0.0.1');
      const answer = await reply;
      expect(answer[0]).toBe(3); // Registration Reply
      expect(answer[1]).toBe(0); // accepted
      expect(answer.readBigUInt64BE(12) >> 32n).toBe(identification >> 32n);
      // Its Mobile-Home Authentication Extension verifies with the example's key (3.5.1).
      expect([answer[20], answer[21], answer.readUInt32BE(22)]).toEqual([32, 20, EXAMPLE_SPI]);
      expect(answer.subarray(26, 42)).toEqual(createHmac('md5', EXAMPLE_KEY).update(answer.subarray(0, 26)).digest());
    } finally {
      socket.close();
    }
    daemon.child.kill('SIGTERM');
    expect(await daemon.exit).toStrictEqual({ code: 0, signal: null });
    expect(daemon.stderr).toBe('');
  });

  it("mip4 ha refuses the example's commented dataPath section uncommented as is, naming dataPath.homeInterface, before opening anything", async () => {
    // The two commented sections, from their heading to the next blank line, without the '# '.
    const uncomment = (text: string) => {
      let inSection = false;
      return text
        .split('\n')
        .map((line) => {
          if (line === '# dataPath:' || line === '# advertisement:') inSection = true;
          else if (!line.startsWith('#')) inSection = false;
          return inSection ? line.replace(/^# ?/, '') : line;
        })
        .join('\n');
    };
    const config = await printedExample('ha', uncomment);
    const daemon = mip4(['ha', '--config', config, '--listen', '127.0.0.1:0']);
    expect(await daemon.exit).toStrictEqual({ code: 2, signal: null });
    expect(daemon.stderr).toMatch(/dataPath\.homeInterface: CHANGE-ME is the example's placeholder; name one of this host's interfaces/);
    expect(daemon.stderr).toMatch(/advertisement\.interface: CHANGE-ME is the example's placeholder/);
    expect(daemon.stdout).toBe('');
  });

  for (const [daemon, field] of [
    ['fa', 'foreignAgent.interface'],
    ['mn', 'mobileNode.interface'],
  ] as const) {
    it(`mip4 ${daemon} refuses its printed example with exit 2, naming ${field}, before opening anything`, async () => {
      const config = await printedExample(daemon);
      const run = mip4([daemon, '--config', config]);
      expect(await run.exit).toStrictEqual({ code: 2, signal: null });
      expect(run.stderr).toContain(`mip4 ${daemon}: invalid configuration ${config}:`);
      expect(run.stderr).toContain(`${field}: CHANGE-ME is the example's placeholder; name one of this host's interfaces`);
      expect(run.stdout).toBe('');
    });
  }
});
