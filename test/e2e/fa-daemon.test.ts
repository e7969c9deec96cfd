/**
 * End-to-end: `mip4 fa` as a child process on a real veth link, as root, inside a network
 * namespace this file creates (removed in afterAll, also on failure).
 *
 * The visiting side listens in a second namespace with a raw IPv4 socket for ICMP (AF_INET,
 * no packet socket: the kernel hands it every ICMP datagram it accepts, 224.0.0.1 included),
 * run as a plain `node` child on the compiled io/linux layer. The Agent Advertisement is then
 * parsed here by hand from RFC 5944 2.1 / RFC 1256, independently of the project's codecs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../support/build.js';
import { linuxSkipReason, Namespaces, ROOT, titled } from '../linux/netns.js';
import { writePrivateFile } from '../support/files.js';

const skipReason = linuxSkipReason();

const FA_NS = `mip4fa-a-${process.pid}`;
const PEER_NS = `mip4fa-b-${process.pid}`;
const FA_IF = `vfa${process.pid % 100000}`;
const PEER_IF = `vmn${process.pid % 100000}`;
const FA_ADDRESS = '203.0.113.1';
/** A care-of address other than the link address, so the test sees the configured one advertised. */
const CARE_OF_ADDRESS = '203.0.113.5';
const REGISTRATION_LIFETIME = 1200;


type Line = { readonly event?: string } & Record<string, unknown>;

/** A child in a namespace whose stdout JSON lines and stderr text are collected. */
class Child {
  readonly process: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(namespace: string, args: string[]) {
    // `ip netns exec` execs the command, so signals sent to this pid reach node itself.
    this.process = spawn('ip', ['netns', 'exec', namespace, process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this);
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as Line);
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.process.on('close', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        resolve(this.exit);
      });
    });
  }

  async waitFor(predicate: (line: Line) => boolean, timeoutMs: number, what: string): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (this.exit) throw new Error(`child exited ${JSON.stringify(this.exit)} before ${what}; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; lines ${JSON.stringify(this.lines)}; stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async waitForExit(timeoutMs: number) {
    const result = await Promise.race([this.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
    if (result === undefined) throw new Error(`child did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`);
    return result;
  }

  kill(): void {
    if (!this.exit) this.process.kill('SIGKILL');
  }
}

const children = new Set<Child>();

/** A `mip4` client command run to completion in this (the host's) namespace. */
function mip4(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The listener: a raw ICMP socket (IPPROTO_ICMP) through the compiled io/linux/raw-ip layer;
 * one {event:'icmp', hex} line per datagram received, IPv4 header first. Exits by itself.
 */
const ICMP_LISTENER = `
import { Effect } from 'effect';
const { RawIp } = await import(${JSON.stringify(`file://${ROOT}dist/io/raw-ip.js`)});
const { LinuxRawIpLive } = await import(${JSON.stringify(`file://${ROOT}dist/io/linux/raw-ip.js`)});
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
setTimeout(() => process.exit(0), 15000);
const program = Effect.scoped(Effect.gen(function* () {
  const socket = yield* (yield* RawIp).open(1);
  socket.onPacket((datagram) => say({ event: 'icmp', hex: Buffer.from(datagram).toString('hex') }));
  say({ event: 'ready' });
  yield* Effect.never;
}));
Effect.runPromise(program.pipe(Effect.provide(LinuxRawIpLive))).catch((error) => {
  say({ event: 'error', message: String(error && error.message) });
  process.exit(1);
});
`;

const dotted = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');

interface Advertisement {
  readonly ttl: number;
  readonly destination: string;
  readonly icmpCode: number;
  readonly registrationLifetime: number;
  readonly flags: number;
  readonly careOfAddresses: string[];
}

/**
 * An ICMP Router Advertisement (type 9, RFC 1256) carrying a Mobility Agent Advertisement
 * Extension (type 16, RFC 5944 2.1.1), or undefined for any other ICMP message.
 */
function parseAdvertisement(hex: string): Advertisement | undefined {
  const ip = Buffer.from(hex, 'hex');
  const headerLength = (ip[0]! & 0x0f) * 4;
  const icmp = ip.subarray(headerLength);
  if (icmp[0] !== 9) return undefined;
  const addressCount = icmp[4]!;
  const entryWords = icmp[5]!;
  let at = 8 + addressCount * entryWords * 4;
  while (at + 2 <= icmp.length) {
    const type = icmp[at]!;
    if (type === 0) {
      at += 1; // the one-byte Pad extension
      continue;
    }
    const length = icmp[at + 1]!;
    if (type === 16) {
      const body = icmp.subarray(at + 2, at + 2 + length);
      const careOfAddresses: string[] = [];
      for (let o = 6; o + 4 <= body.length; o += 4) careOfAddresses.push(dotted(body, o));
      return {
        ttl: ip[8]!,
        destination: dotted(ip, 16),
        icmpCode: icmp[1]!,
        registrationLifetime: body.readUInt16BE(2),
        flags: body[4]!,
        careOfAddresses,
      };
    }
    at += 2 + length;
  }
  return undefined;
}

/** The flag bits of the extension's flags byte, most significant first: R B H F M G r T (2.1.1). */
const FLAG_F = 0x10;
const FLAG_B = 0x40;

let workDir = '';
const namespaces = new Namespaces();

describe.sequential('mip4 fa on a veth link in a network namespace', () => {
  beforeAll(() => {
    if (skipReason !== undefined) return;
    ensureBuilt();
    workDir = mkdtempSync(join(tmpdir(), 'mip4-fa-e2e-'));
    namespaces.add(FA_NS);
    namespaces.add(PEER_NS);
    namespaces.veth({ ns: FA_NS, name: FA_IF, cidr: `${FA_ADDRESS}/24` }, { ns: PEER_NS, name: PEER_IF, cidr: '203.0.113.2/24' });
    execFileSync('ip', ['-n', FA_NS, 'addr', 'add', `${CARE_OF_ADDRESS}/32`, 'dev', FA_IF]);
  }, 60_000);

  afterAll(() => {
    for (const child of children) child.kill();
    namespaces.cleanup();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it.skipIf(skipReason !== undefined)(
    titled('[R2.1-2] [R2.1.1-2] advertises its care-of address with TTL 1 and the F bit, lists visitors on SIGUSR2 and on its control socket (mip4 visitors, status, traffic, clear visitor), stops on SIGTERM with 0', skipReason),
    async () => {
      const config = join(workDir, 'fa.yaml');
      writePrivateFile(
        config,
        `foreignAgent:
  interface: ${FA_IF}
  address: ${FA_ADDRESS}
  careOfAddresses: [${CARE_OF_ADDRESS}]
  registrationLifetime: ${REGISTRATION_LIFETIME}
advertisement:
  lifetime: 6
  maxInterval: 1
homeAgents:
  - address: 198.51.100.1
    spi: 600
    key: 000102030405060708090a0b0c0d0e0f
control:
  socket: ${join(workDir, 'fa.sock')}
`,
      );
      const listener = new Child(PEER_NS, ['--input-type=module', '-e', ICMP_LISTENER]);
      await listener.waitFor((l) => l.event === 'ready' || l.event === 'error', 8_000, 'the ICMP listener');
      expect(listener.lines.find((l) => l.event === 'error')).toBeUndefined();

      const daemon = new Child(FA_NS, ['bin/mip4.js', 'fa', '--config', config]);
      const listening = await daemon.waitFor((l) => l.event === 'listening', 8_000, "the daemon's listening line");
      expect(listening).toMatchObject({ interface: FA_IF, address: FA_ADDRESS, careOfAddresses: [CARE_OF_ADDRESS], homeAgents: 1 });

      const seen = await listener.waitFor((l) => l.event === 'icmp' && parseAdvertisement(l.hex as string) !== undefined, 5_000, 'an Agent Advertisement');
      const advertisement = parseAdvertisement(seen.hex as string)!;
      // 2.1: "The TTL for all Agent Advertisements MUST be set to 1."
      expect(advertisement.ttl).toBe(1);
      expect(advertisement.destination).toBe('224.0.0.1');
      expect(advertisement.flags & FLAG_F, 'the F bit: a foreign agent (2.1.1)').toBe(FLAG_F);
      expect(advertisement.flags & FLAG_B, 'not busy').toBe(0);
      expect(advertisement.careOfAddresses).toEqual([CARE_OF_ADDRESS]);
      expect(advertisement.registrationLifetime).toBe(REGISTRATION_LIFETIME);
      await daemon.waitFor((l) => l.event === 'advertisement', 2_000, 'the advertisement log line');

      daemon.process.kill('SIGUSR2');
      const deadline = Date.now() + 3_000;
      while (!daemon.stderr.includes('Visitors: 0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(daemon.stderr).toContain('Visitors: 0');
      expect(daemon.stderr).toMatch(/Home address\s+State\s+Link-layer address\s+Care-of address/);

      // The same, and the counters, over the control socket (from outside the namespace: a Unix socket is a file).
      const socket = join(workDir, 'fa.sock');
      expect(listening.control).toBe(socket);
      const visitors = mip4(['visitors', '--socket', socket]);
      expect(visitors.status, visitors.stderr).toBe(0);
      expect(visitors.stdout).toMatch(/^Visitors: 0\nHome address\s+State\s+Link-layer address\s+Care-of address/);
      const status = JSON.parse(mip4(['status', '--socket', socket, '--json']).stdout) as Record<string, unknown>;
      expect(status).toMatchObject({ role: 'fa', pid: listening.pid, visitors: 0, pending: 0, controlSocket: socket });
      const traffic = JSON.parse(mip4(['traffic', '--socket', socket, '--json']).stdout) as { advertisements: number; relayed: number };
      expect(traffic.advertisements).toBeGreaterThanOrEqual(1);
      expect(traffic.relayed).toBe(0);
      const clear = mip4(['clear', 'visitor', '203.0.113.9', '--socket', socket]);
      expect(clear).toMatchObject({ status: 1, stderr: 'mip4 clear: no visitor 203.0.113.9\n' });

      daemon.process.kill('SIGTERM');
      const exit = await daemon.waitForExit(5_000);
      expect(exit, daemon.stderr).toEqual({ code: 0, signal: null });
      expect(daemon.lines.at(-1)).toMatchObject({ event: 'stopped', signal: 'SIGTERM', visitors: 0 });
      expect(existsSync(socket)).toBe(false);
      listener.kill();
    },
    60_000,
  );

  it.skipIf(skipReason !== undefined)(titled('an interface that does not exist: exit 1 with the reason on stderr', skipReason), async () => {
    const config = join(workDir, 'no-such-interface.yaml');
    writePrivateFile(config, `foreignAgent:\n  interface: nosuch0\n  address: ${FA_ADDRESS}\n`);
    const daemon = new Child(FA_NS, ['bin/mip4.js', 'fa', '--config', config]);
    const exit = await daemon.waitForExit(8_000);
    expect(exit.code, daemon.stderr).toBe(1);
    expect(daemon.stderr).toMatch(/^mip4 fa: .*nosuch0/m);
    expect(daemon.lines.find((l) => l.event === 'listening')).toBeUndefined();
  }, 10_000);

  it.skipIf(skipReason !== undefined)(
    titled('SIGHUP reloads the security associations (a home agent added, one changed), refuses an invalid file and keeps running; every line has time and level', skipReason),
    async () => {
      const config = join(workDir, 'fa-reload.yaml');
      const file = (homeAgents: string) => `foreignAgent:\n  interface: ${FA_IF}\n  address: ${FA_ADDRESS}\n  careOfAddresses: [${CARE_OF_ADDRESS}]\nhomeAgents:\n${homeAgents}`;
      const ha = (address: string, key: string) => `  - address: ${address}\n    spi: 600\n    key: ${key}\n`;
      writePrivateFile(config, file(ha('198.51.100.1', '000102030405060708090a0b0c0d0e0f')));
      const daemon = new Child(FA_NS, ['bin/mip4.js', 'fa', '--config', config]);
      await daemon.waitFor((l) => l.event === 'listening', 8_000, "the daemon's listening line");

      writePrivateFile(config, file(ha('198.51.100.1', '0f0e0d0c0b0a09080706050403020100') + ha('198.51.100.2', '101112131415161718191a1b1c1d1e1f')));
      daemon.process.kill('SIGHUP');
      const reloaded = await daemon.waitFor((l) => l.event === 'reloaded', 5_000, 'the reloaded line');
      expect(reloaded).toMatchObject({ level: 'info', added: ['homeAgent 198.51.100.2'], changed: ['homeAgent 198.51.100.1'], removed: [], unchanged: 0 });

      writePrivateFile(config, file(ha('198.51.100.1', 'abc')));
      daemon.process.kill('SIGHUP');
      const refused = await daemon.waitFor((l) => l.event === 'reload-refused', 5_000, 'the reload-refused line');
      expect(refused).toMatchObject({ level: 'error', config });
      expect((refused.errors as string[]).some((e) => e.startsWith('homeAgents[0].key'))).toBe(true);

      daemon.process.kill('SIGTERM');
      const exit = await daemon.waitForExit(5_000);
      expect(exit, daemon.stderr).toEqual({ code: 0, signal: null });
      for (const line of daemon.lines) {
        expect(Object.keys(line).slice(0, 2)).toEqual(['time', 'level']);
        expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
      }
    },
    20_000,
  );

  it('--check-config: ok for a valid file, the start\'s errors and exit 2 for an invalid one, opening nothing (the interface need not exist)', () => {
    ensureBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'mip4-fa-check-'));
    try {
      const good = join(dir, 'good.yaml');
      writePrivateFile(good, `foreignAgent:\n  interface: nosuch0\n  address: ${FA_ADDRESS}\n`);
      expect(execFileSync(process.execPath, ['bin/mip4.js', 'fa', '--check-config', good], { cwd: ROOT, encoding: 'utf8' })).toBe(`ok: ${good}\n`);
      const bad = join(dir, 'bad.yaml');
      writePrivateFile(bad, `foreignAgent:\n  interface: CHANGE-ME\n  address: 203.0.113.300\n`);
      const result = spawnSync(process.execPath, ['bin/mip4.js', 'fa', '--check-config', bad], { cwd: ROOT, encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(`mip4 fa: invalid configuration ${bad}:`);
      expect(result.stderr).toContain('foreignAgent.address');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
