/**
 * End-to-end: `mip4 mn` as a child process. Usage and configuration errors run anywhere; the
 * real start runs as root inside a network namespace with a veth pair (test/linux/netns.ts):
 * with no agent advertising on the link, the node must solicit (RFC 5944 2.4) and say so on
 * stdout, then stop cleanly on SIGTERM.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_MOBILE_NODE_CONFIG, loadMobileNodeConfig } from '../../runtime/config/mn-config.js';
import { ensureBuilt } from '../support/build.js';
import { ip, linuxSkipReason, Namespaces, ROOT, titled } from '../linux/netns.js';
import { writePrivateFile } from '../support/files.js';



const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type LogLine = Record<string, unknown> & { event?: string };
interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `mip4 <args>` (inside `namespace` when given), collecting its JSON lines and stderr. */
class Mip4Process {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  exitStatus: Exit | undefined;
  readonly exited: Promise<Exit>;

  constructor(args: readonly string[], namespace?: string) {
    const command = [process.execPath, 'bin/mip4.js', ...args];
    const [file, ...rest] = namespace === undefined ? command : ['ip', 'netns', 'exec', namespace, ...command];
    this.child = spawn(file!, rest, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      const complete = this.stdout.split('\n').slice(0, -1);
      this.lines.splice(0, this.lines.length, ...complete.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine));
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
    processes.push(this);
  }

  async waitFor(event: string, timeoutMs: number): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((l) => l.event === event);
      if (found) return found;
      if (this.exitStatus) throw new Error(`mip4 exited (${JSON.stringify(this.exitStatus)}) before "${event}"; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no "${event}" within ${timeoutMs} ms; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await sleep(10);
    }
  }

  async waitForExit(timeoutMs: number): Promise<Exit> {
    const result = await Promise.race([this.exited, sleep(timeoutMs).then(() => undefined)]);
    if (result === undefined) throw new Error(`mip4 did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`);
    return result;
  }

  kill(): void {
    if (!this.exitStatus) this.child.kill('SIGKILL');
  }
}

const processes: Mip4Process[] = [];
const namespaces = new Namespaces();
let dir: string;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-mn-e2e-'));
}, 120_000);

afterAll(() => {
  for (const p of processes) p.kill();
  namespaces.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function runToExit(args: readonly string[], namespace?: string): Promise<Mip4Process> {
  const p = new Mip4Process(args, namespace);
  await p.waitForExit(15_000);
  return p;
}

function configFile(name: string, interfaceName: string, extra = ''): string {
  const path = join(dir, name);
  writePrivateFile(
    path,
    `mobileNode:
  interface: ${interfaceName}
  homeAddress: 198.51.100.10
  homeAgent: 198.51.100.1
  homeNetwork: 198.51.100.0/24
${extra}homeAgentAssociation:
  spi: 4096
  key: 00112233445566778899aabbccddeeff
`,
  );
  return path;
}

describe.concurrent('mip4 mn usage', { timeout: 20_000 }, () => {
  it('--help exits 0 with the usage on stdout', async () => {
    const p = await runToExit(['mn', '--help']);
    expect(p.exitStatus).toStrictEqual({ code: 0, signal: null });
    expect(p.stdout).toMatch(/^usage: mip4 mn --config <mn\.yaml>/);
    expect(p.stdout).toContain('SIGUSR2');
  });

  it('without --config exits 2 and says --config is required', async () => {
    const p = await runToExit(['mn']);
    expect(p.exitStatus).toStrictEqual({ code: 2, signal: null });
    expect(p.stderr).toContain('--config is required');
    expect(p.stdout).toBe('');
  });

  it('a bad config exits 2 naming the field path, before opening the interface', async () => {
    const path = join(dir, 'bad.yaml');
    writePrivateFile(path, EXAMPLE_MOBILE_NODE_CONFIG.replace('spi: 4096', 'spi: 12'));
    const p = await runToExit(['mn', '--config', path]);
    expect(p.exitStatus).toStrictEqual({ code: 2, signal: null });
    expect(p.stderr).toContain(`invalid configuration ${path}`);
    expect(p.stderr).toMatch(/homeAgentAssociation\.spi: SPI 12 is reserved/);
    expect(p.stdout).toBe('');
  });

  it('--example-config prints a file the loader accepts', async () => {
    const p = await runToExit(['mn', '--example-config']);
    expect(p.exitStatus).toStrictEqual({ code: 0, signal: null });
    const path = join(dir, 'example.yaml');
    writePrivateFile(path, p.stdout);
    expect(loadMobileNodeConfig(path).interfaceName).toBe('CHANGE-ME');
  });
});

const skip = linuxSkipReason();

describe('mip4 mn on a veth in a network namespace', { timeout: 60_000 }, () => {
  it.skipIf(skip !== undefined)(titled('a missing interface exits 1 with the Link error', skip), async () => {
    const p = await runToExit(['mn', '--config', configFile('missing.yaml', `m4none${process.pid}`)]);
    expect(p.exitStatus).toStrictEqual({ code: 1, signal: null });
    expect(p.stderr).toMatch(new RegExp(`^mip4 mn: .*m4none${process.pid}`));
    expect(p.lines.filter((l) => l.event === 'started')).toHaveLength(0);
  });

  it.skipIf(skip !== undefined)(
    titled('[R2.4-5] solicits when no agent advertises, prints its state on SIGUSR2 and on mip4 mobile-node, exits 0 on SIGTERM', skip),
    async () => {
      const mnNs = namespaces.add(`mip4-mn-${process.pid}`);
      const peerNs = namespaces.add(`mip4-mnp-${process.pid}`);
      const veth = `m4mn${process.pid}`;
      namespaces.veth({ ns: mnNs, name: veth, cidr: '203.0.113.50/24' }, { ns: peerNs, name: `m4mp${process.pid}`, cidr: '203.0.113.1/24' });
      // An address on the node's interface is a co-located care-of address (kernel-follower.ts):
      // without one the node has only agents to look for.
      ip('-n', mnNs, 'addr', 'flush', 'dev', veth);
      const config = configFile('veth.yaml', veth, '  lifetime: 60\n');
      const socket = join(dir, 'mn.sock');
      appendFileSync(config, `control:\n  socket: ${socket}\n`);
      const node = new Mip4Process(['mn', '--config', config], mnNs);
      const started = await node.waitFor('started', 10_000);
      expect(started).toMatchObject({ interface: veth, homeAddress: '198.51.100.10', homeAgent: '198.51.100.1' });
      const first = await node.waitFor('solicitation', 5_000);
      expect(first.count).toBe(1);
      // The initial solicitations come at most one per second (2.4).
      const deadline2 = Date.now() + 5_000;
      while (node.lines.filter((l) => l.event === 'solicitation').length < 2 && Date.now() < deadline2) await sleep(20);
      const [, second] = node.lines.filter((l) => l.event === 'solicitation');
      expect(second, 'a second solicitation within 5 s').toBeDefined();
      expect(second!.count).toBe(2);
      expect((second!.at as number) - (first.at as number)).toBeGreaterThanOrEqual(1000);
      // No advertisement, so no registration: the node stays searching.
      expect(node.lines.filter((l) => l.event === 'request')).toHaveLength(0);
      node.child.kill('SIGUSR2');
      const deadline = Date.now() + 5_000;
      while (!node.stderr.includes('attachment: searching') && Date.now() < deadline) await sleep(20);
      expect(node.stderr).toContain('attachment: searching');
      // The same state over the control socket: mip4 mobile-node.
      expect(started.control).toBe(socket);
      const text = spawnSync(process.execPath, ['bin/mip4.js', 'mobile-node', '--socket', socket], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      expect(text.status, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^Mobile node\n/);
      expect(text.stdout).toMatch(/^ {2}attachment: +searching$/m);
      const json = spawnSync(process.execPath, ['bin/mip4.js', 'mobile-node', '--socket', socket, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      const state = JSON.parse(json.stdout) as { counters: { solicitations: number; requests: number; repliesAccepted: number; repliesDenied: number } } & Record<string, unknown>;
      expect(state).toMatchObject({ interface: veth, homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', attachment: 'searching', registration: 'none' });
      expect(state.counters).toMatchObject({ requests: 0, repliesAccepted: 0, repliesDenied: 0 });
      expect(state.counters.solicitations).toBeGreaterThanOrEqual(2);
      // An address added by someone else (as a DHCP client would) is the co-located care-of
      // address, registered at once by the same process (no restart).
      ip('-n', mnNs, 'addr', 'add', '203.0.113.50/24', 'dev', veth);
      const learned = await node.waitFor('co-located-address', 5_000);
      expect(learned).toMatchObject({ address: '203.0.113.50', prefixLength: 24 });
      const request = await node.waitFor('request', 5_000);
      expect(request).toMatchObject({ careOfAddress: '203.0.113.50', source: '203.0.113.50', homeAgent: '198.51.100.1' });
      node.child.kill('SIGTERM');
      const exit = await node.waitForExit(10_000);
      expect(exit).toStrictEqual({ code: 0, signal: null });
      const last = node.lines.at(-1)!;
      expect(last).toMatchObject({ event: 'stopped', signal: 'SIGTERM' });
      expect((last.counters as { solicitations: number }).solicitations).toBeGreaterThanOrEqual(1);
    },
  );

  it.skipIf(skip !== undefined)(
    titled('SIGHUP checks the file and says a restart applies it, without stopping; every line has time and level', skip),
    async () => {
      const mnNs = namespaces.add(`mip4-mnh-${process.pid}`);
      const peerNs = namespaces.add(`mip4-mnhp-${process.pid}`);
      const veth = `m4mh${process.pid}`;
      namespaces.veth({ ns: mnNs, name: veth, cidr: '203.0.113.50/24' }, { ns: peerNs, name: `m4mhp${process.pid}`, cidr: '203.0.113.1/24' });
      const config = configFile('hup.yaml', veth, '  configureHost: false\n');
      const node = new Mip4Process(['mn', '--config', config], mnNs);
      // The started line comes after the signal handlers are in place.
      await node.waitFor('started', 10_000);
      node.child.kill('SIGHUP');
      const note = await node.waitFor('reload-unsupported', 5_000);
      expect(note).toMatchObject({ level: 'warn', config });
      expect((note.errors as string[])[0]).toContain('restart');
      expect(node.exitStatus).toBeUndefined();
      node.child.kill('SIGTERM');
      expect(await node.waitForExit(10_000)).toStrictEqual({ code: 0, signal: null });
      for (const line of node.lines) {
        expect(Object.keys(line).slice(0, 2)).toEqual(['time', 'level']);
        expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
      }
    },
  );
});

describe('mip4 mn --check-config', { timeout: 20_000 }, () => {
  it('prints ok: FILE for a valid file (its interface need not exist) and the errors with exit 2 for an invalid one', async () => {
    const good = configFile('check-good.yaml', 'nosuch0');
    const ok = await runToExit(['mn', '--check-config', good]);
    expect(ok.exitStatus).toStrictEqual({ code: 0, signal: null });
    expect(ok.stdout).toBe(`ok: ${good}\n`);
    const bad = configFile('check-bad.yaml', 'CHANGE-ME');
    const refused = await runToExit(['mn', '--check-config', bad]);
    expect(refused.exitStatus).toStrictEqual({ code: 2, signal: null });
    expect(refused.stderr).toContain('mobileNode.interface: CHANGE-ME is the example\'s placeholder');
  });
});
