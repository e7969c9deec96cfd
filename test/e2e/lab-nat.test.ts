/**
 * End-to-end: `mip4 lab up --nat` as root. FA2's segment, where the co-located node binds
 * 203.0.113.100, sits behind a NAT router namespace that masquerades to 203.0.113.130
 * (nftables) and forgets a UDP mapping 5 s after its last datagram; the home agent grants
 * keepalives every 2 s. The node registers co-located through the NAT; RFC 3519's UDP
 * tunnelling is what lets the correspondent reach its home address. The lab is driven through
 * the compiled CLI and removed in afterAll, also when a test fails.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../support/build.js';
import { linuxSkipReason, missingTools, ROOT, titled } from '../linux/netns.js';

// nft: Debian's nftables; iperf3, dumpcap/tshark (wireshark-common, tshark): all in .ci/run.
const skipReason = linuxSkipReason() ?? missingTools('nft', 'ping', 'iperf3', 'dumpcap', 'tshark');

const NAME = `nat${process.pid % 1_000_000}`;
const PREFIX = `m4lab-${NAME}-`;
const ns = (role: string) => `${PREFIX}${role}`;
const MN_HOME = '198.51.100.10';
const HA = '198.51.100.2';
const CH = '192.0.2.10';
const COLOCATED = '203.0.113.100';
const FA2 = '203.0.113.66';
const NAT_OUTSIDE = '203.0.113.130';
const UDP_TIMEOUT_S = 5;
const KEEPALIVE_S = 2;

let stateDir = '';
const labDir = () => join(stateDir, NAME);
const background = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function mip4(args: readonly string[], timeout = 60_000): Result {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'mip4.js'), ...args], { encoding: 'utf8', timeout, cwd: ROOT });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const lab = (...args: string[]) => mip4(['lab', ...args, '--name', NAME, '--state-dir', stateDir]);

type LogLine = Record<string, unknown> & { event?: string };

function log(role: string): LogLine[] {
  const path = join(labDir(), `${role}.log`);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function ping(namespace: string, destination: string, count: number, intervalS = 0.05, waitS = 1): { transmitted: number; received: number } {
  const result = spawnSync('ip', ['netns', 'exec', namespace, 'ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), destination], { encoding: 'utf8', timeout: 60_000 });
  const match = /(\d+) packets transmitted, (\d+) received/.exec(result.stdout);
  return { transmitted: Number(match?.[1] ?? 0), received: Number(match?.[2] ?? 0) };
}

/** The home agent's binding of the node (`mip4 bindings --json` over its control socket). */
function binding(): Record<string, unknown> | undefined {
  const result = mip4(['bindings', '--json', '--socket', join(labDir(), 'ha.sock')], 30_000);
  if (result.status !== 0) return undefined;
  return (JSON.parse(result.stdout) as Array<Record<string, unknown>>).find((b) => b.homeAddress === MN_HOME);
}

/** The port of the binding's translated address, when it uses UDP tunnelling through the NAT. */
function tunnelPort(): number | undefined {
  const udp = binding()?.udpTunnel;
  if (typeof udp !== 'string' || !udp.startsWith(`${NAT_OUTSIDE}:`)) return undefined;
  return Number(udp.slice(NAT_OUTSIDE.length + 1));
}

/** The NAT's UDP mappings of the node's flow to the home agent, from `mip4 lab status --json`. */
function nodeMappings(): Array<{ inside: string; outside: string }> {
  const status = JSON.parse(lab('status', '--json').stdout) as { nat?: { mappings?: Array<{ protocol: string; inside: string; remote: string; outside: string }> } };
  return (status.nat?.mappings ?? []).filter((m) => m.protocol === 'udp' && m.inside.startsWith(`${COLOCATED}:`) && m.remote.startsWith(`${HA}:`));
}

/** dumpcap on one interface of one namespace, into a pcap, until `stop`. */
class Capture {
  readonly file: string;
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly closed: Promise<void>;

  constructor(namespace: string, device: string, filter: string, name: string) {
    this.file = join(stateDir, `${name}.pcap`);
    this.child = spawn('ip', ['netns', 'exec', namespace, 'dumpcap', '-q', '-i', device, '-f', filter, '-w', this.file], { stdio: ['ignore', 'ignore', 'pipe'] });
    background.add(this.child);
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.closed = new Promise((r) => this.child.on('close', () => r()));
  }

  async started(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.stderr.includes('Capturing on') && Date.now() < deadline) await sleep(20);
    if (!this.stderr.includes('Capturing on')) throw new Error(`dumpcap did not start: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    await sleep(1_200); // the capture ring's block timeout: stopping sooner can lose the last packets
    this.child.kill('SIGINT');
    await Promise.race([this.closed, sleep(5_000)]);
    background.delete(this.child);
  }
}

function tsharkFields(file: string, fields: readonly string[]): Array<Record<string, string>> {
  const args = ['-n', '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])];
  const result = spawnSync('tshark', args, { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`tshark failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => Object.fromEntries(fields.map((f, i) => [f, l.split('\t')[i] ?? ''])));
}

/** iperf3 from the node to the correspondent (reverse: the correspondent sends), bytes the receiver got. */
async function iperf(reverse: boolean): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', ns('ch'), 'iperf3', '-s', '-1', '-B', CH, '-p', '5201'], { stdio: 'ignore' });
  background.add(server);
  await sleep(500);
  const client = spawnSync('ip', ['netns', 'exec', ns('mn'), 'iperf3', '-c', CH, '-p', '5201', '-B', MN_HOME, '-t', '3', '-b', '20M', '-J', ...(reverse ? ['-R'] : [])], { encoding: 'utf8', timeout: 30_000 });
  server.kill('SIGKILL');
  background.delete(server);
  try {
    const report = JSON.parse(client.stdout) as { end?: { sum_received?: { bytes?: number } } };
    return report.end?.sum_received?.bytes ?? 0;
  } catch {
    return 0;
  }
}

function teardown(): void {
  for (const child of background) child.kill('SIGKILL');
  background.clear();
  if (stateDir) lab('down');
  // Whatever `down` could not remove.
  for (const n of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!)) {
    if (n.startsWith(PREFIX)) spawnSync('ip', ['netns', 'del', n]);
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}

describe.sequential('mip4 lab --nat: a co-located node behind a masquerading NAT (RFC 3519)', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    if (skipReason !== undefined) return;
    ensureBuilt();
    stateDir = mkdtempSync(join(tmpdir(), 'mip4-lab-nat-'));
    const up = lab('up', '--nat', '--nat-udp-timeout', String(UDP_TIMEOUT_S), '--nat-keepalive', String(KEEPALIVE_S));
    if (up.status !== 0) throw new Error(`lab up --nat failed: ${up.stderr}`);
    const move = lab('move', 'mn', 'colocated');
    if (move.status !== 0) throw new Error(`lab move mn colocated failed: ${move.stderr}`);
    await waitFor(() => log('ha').find((l) => l.event === 'reply' && l.code === 0 && l.careOfAddress === COLOCATED), 20_000, 'accepting reply to the co-located address');
  }, 120_000);

  afterAll(() => {
    if (skipReason === undefined) teardown();
  }, 30_000);

  it.skipIf(skipReason !== undefined)(
    titled("the node registers through the NAT: lab status shows the NAT's mapping of its flow to UDP 434, and the home agent's binding uses UDP tunnelling to that translated address and port", skipReason),
    async () => {
      const status = lab('status');
      expect(status.stdout).toContain(`NAT: foreign-2 behind ${NAT_OUTSIDE} (masquerade, ports 20000-29999, UDP timeout ${UDP_TIMEOUT_S} s, restarts 0)`);
      expect(status.stdout).toContain('mobile node attachment: co-located');
      const port = await waitFor(tunnelPort, 10_000, 'binding with a UDP tunnel to the NAT');
      expect(port).toBeGreaterThanOrEqual(20000);
      expect(port).toBeLessThanOrEqual(29999);
      expect(nodeMappings().map((m) => m.outside)).toContain(`${NAT_OUTSIDE}:${port}`);
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled("a correspondent reaches the home address through the NAT and the node sends from it (ping and iperf3 TCP both ways); on the NAT's outside, the node's traffic with the home agent is UDP 434 only", skipReason),
    async () => {
      const capture = new Capture(ns('nat'), 'wan0', `host ${HA}`, 'nat-outside');
      await capture.started();
      const down = ping(ns('ch'), MN_HOME, 40);
      const up = ping(ns('mn'), CH, 40);
      const toNode = await iperf(true);
      const fromNode = await iperf(false);
      await capture.stop();
      console.log(`[lab-nat] ping ${down.received}/${down.transmitted} to the home address, ${up.received}/${up.transmitted} from it; iperf3 ${toNode} bytes to the node, ${fromNode} from it`);
      expect(down.received).toBeGreaterThanOrEqual(38);
      expect(up.received).toBeGreaterThanOrEqual(38);
      expect(toNode).toBeGreaterThan(1 << 20);
      expect(fromNode).toBeGreaterThan(1 << 20);
      const frames = tsharkFields(capture.file, ['ip.proto', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'frame.len']);
      const outer = frames.map((f) => ({
        protocol: f['ip.proto']!.split(',')[0],
        source: f['ip.src']!.split(',')[0],
        destination: f['ip.dst']!.split(',')[0],
        haPort: f['ip.src']!.split(',')[0] === HA ? f['udp.srcport']!.split(',')[0] : f['udp.dstport']!.split(',')[0],
        carriesHome: f['ip.src']!.split(',').includes(MN_HOME) || f['ip.dst']!.split(',').includes(MN_HOME),
        length: Number(f['frame.len']),
      }));
      const offending = outer.filter((f) => f.protocol !== '17' || f.haPort !== '434');
      expect(offending, 'frames between the NAT and the home agent other than UDP 434').toEqual([]);
      // The tunnelled traffic itself is in there: megabytes with the home address inside. Counted
      // in bytes, not frames: the home agent's tunnel data leaves in UDP GSO sends, which the
      // capture may see as one frame per send (several datagrams).
      expect(outer.filter((f) => f.carriesHome).reduce((sum, f) => sum + f.length, 0)).toBeGreaterThan(2 << 20);
      expect(outer.every((f) => (f.source === NAT_OUTSIDE && f.destination === HA) || (f.source === HA && f.destination === NAT_OUTSIDE))).toBe(true);
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled(`keepalives every ${KEEPALIVE_S} s hold a ${UDP_TIMEOUT_S} s NAT mapping through ${3 * UDP_TIMEOUT_S} s of quiet: the first ping after it is answered, the binding's port unchanged`, skipReason),
    async () => {
      const before = tunnelPort();
      expect(before).toBeDefined();
      const rebindings = log('ha').filter((l) => l.event === 'udp-rebinding').length;
      await sleep(3 * UDP_TIMEOUT_S * 1000);
      expect(ping(ns('ch'), MN_HOME, 1, 1, 2).received, 'the first ping after the quiet period').toBe(1);
      expect(tunnelPort()).toBe(before);
      expect(log('ha').filter((l) => l.event === 'udp-rebinding').length).toBe(rebindings);
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled(`the mapping lives only thanks to the node's datagrams: with the node stopped (SIGSTOP) the NAT forgets it after ${UDP_TIMEOUT_S} s; resumed, the node is reachable again`, skipReason),
    async () => {
      expect(nodeMappings().length).toBeGreaterThan(0);
      const pid = Number(readFileSync(join(labDir(), 'mn.pid'), 'utf8').trim());
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep((UDP_TIMEOUT_S + 3) * 1000);
        expect(nodeMappings(), 'mappings of the stopped node').toEqual([]);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await waitFor(() => (ping(ns('ch'), MN_HOME, 1, 1, 1).received === 1 ? true : undefined), 15_000, 'answer from the resumed node');
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled('lab nat restart: every mapping lost, the next one on a port of the other range; the home agent follows the rebinding after the next keepalive and the gap is reported', skipReason),
    async () => {
      const before = tunnelPort();
      expect(before).toBeDefined();
      const rebindings = log('ha').filter((l) => l.event === 'udp-rebinding').length;
      const restart = lab('nat', 'restart', '--json', '--wait-ms', '20000');
      expect(restart.status, restart.stderr + restart.stdout).toBe(0);
      const result = JSON.parse(restart.stdout) as { generation: number; gapMs?: number; summary: string };
      console.log(`[lab-nat] ${result.summary}`);
      expect(result.generation).toBe(1);
      expect(result.gapMs).toBeDefined();
      // Back within a keepalive interval or two (plus the NAT's rebuild), not a registration lifetime.
      expect(result.gapMs!).toBeLessThan((3 * KEEPALIVE_S + 5) * 1000);
      const after = await waitFor(tunnelPort, 5_000, 'binding with a UDP tunnel');
      expect(after).toBeGreaterThanOrEqual(30000);
      expect(after).toBeLessThanOrEqual(39999);
      expect(log('ha').filter((l) => l.event === 'udp-rebinding').length).toBeGreaterThan(rebindings);
      expect(ping(ns('ch'), MN_HOME, 20).received).toBeGreaterThanOrEqual(19);
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled('through moves: to FA1 (no NAT, IP-in-IP) and back behind the NAT, the node is reachable at its home address at each place', skipReason),
    async () => {
      expect(lab('move', 'mn', 'fa1').status).toBe(0);
      await waitFor(() => (ping(ns('ch'), MN_HOME, 1, 1, 1).received === 1 ? true : undefined), 15_000, 'answer at FA1');
      expect(binding()?.udpTunnel ?? '-').toBe('-');
      expect(lab('move', 'mn', 'colocated').status).toBe(0);
      await waitFor(tunnelPort, 15_000, 'binding with a UDP tunnel after the move back');
      await waitFor(() => (ping(ns('ch'), MN_HOME, 1, 1, 1).received === 1 ? true : undefined), 15_000, 'answer behind the NAT again');
      expect(ping(ns('mn'), CH, 10).received).toBeGreaterThanOrEqual(9);
    },
  );
  it.skipIf(skipReason !== undefined)(
    titled('through a foreign agent behind the NAT: FA2 registers the node over its own UDP flow (its security association found by its care-of address), the node is reachable and sends from its home address, and a NAT restart is followed after FA2\'s next keepalive', skipReason),
    async () => {
      expect(lab('move', 'mn', 'fa2').status).toBe(0);
      await waitFor(() => log('ha').find((l) => l.event === 'reply' && l.code === 0 && l.careOfAddress === FA2), 20_000, 'accepting reply to FA2\'s care-of address');
      const port = await waitFor(tunnelPort, 15_000, 'binding with a UDP tunnel to the NAT via FA2');
      expect(binding()?.careOfAddress).toBe(FA2);
      await waitFor(() => (ping(ns('ch'), MN_HOME, 1, 1, 1).received === 1 ? true : undefined), 15_000, 'answer via FA2');
      expect(ping(ns('ch'), MN_HOME, 20).received).toBeGreaterThanOrEqual(19);
      expect(ping(ns('mn'), CH, 20).received).toBeGreaterThanOrEqual(19);
      const rebindings = log('ha').filter((l) => l.event === 'udp-rebinding').length;
      const restart = lab('nat', 'restart', '--json', '--wait-ms', '20000');
      expect(restart.status, restart.stderr + restart.stdout).toBe(0);
      console.log(`[lab-nat] via FA2: ${(JSON.parse(restart.stdout) as { summary: string }).summary}`);
      const after = await waitFor(() => {
        const now = tunnelPort();
        return now !== undefined && now !== port ? now : undefined;
      }, 10_000, 'binding moved to the new NAT port');
      expect(after).not.toBe(port);
      expect(log('ha').filter((l) => l.event === 'udp-rebinding').length).toBeGreaterThan(rebindings);
      expect(ping(ns('ch'), MN_HOME, 20).received).toBeGreaterThanOrEqual(19);
    },
  );
});
