/**
 * End-to-end: `mip4 lab traffic` through the compiled CLI as root, in labs this file makes under
 * unique names and removes in afterAll (also when a test fails). Each lab runs the traffic
 * harness (iperf3 both ways, a UDP probe every 10 ms each way) through home → FA1 → FA2 →
 * co-located → home:
 *   (a) `--ingress-filter`, no reverse tunnel: downstream works, upstream dies at each foreign
 *       place and the report says so (RFC 5944 5.6, RFC 3024 1);
 *   (b) no filter: both ways through every move;
 *   (c) `--ingress-filter` and reverse tunnelling: both ways through every move, TCP holds, and
 *       tshark on the switch's bridge ports sees the upstream tunnelled from the care-of address
 *       to the home agent and the downstream from the home agent to the care-of address.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../support/build.js';
import { linuxSkipReason, missingTools, ROOT, titled } from '../linux/netns.js';
import type { TrafficReport } from '../../runtime/cli/lab/traffic.js';

const skipReason = linuxSkipReason() ?? missingTools('nft', 'iperf3', 'ping');
const reverseTunnelSkip = skipReason ?? missingTools('dumpcap', 'tshark');

const BASE = `tr${process.pid % 1_000_000}`;
const LABS = { filtered: `${BASE}a`, open: `${BASE}b`, reverse: `${BASE}c` } as const;
const MN_HOME = '198.51.100.10';
const CH = '192.0.2.10';
const HA = '198.51.100.2';
const FA1 = '203.0.113.2';
const FA2 = '203.0.113.66';
const COLOCATED = '203.0.113.100';
const FOREIGN_PLACES = ['fa1', 'fa2', 'colocated'] as const;

let stateDir = '';
const background = new Set<ChildProcess>();

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function lab(name: string, ...args: string[]): Result {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'mip4.js'), 'lab', ...args, '--name', name, '--state-dir', stateDir], { encoding: 'utf8', timeout: 180_000, cwd: ROOT });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function namespacesOf(name: string): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`m4lab-${name}-`));
}

/** `mip4 lab ARGS` without blocking the event loop (a traffic run takes about a minute). */
function labAsync(name: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mip4.js'), 'lab', ...args, '--name', name, '--state-dir', stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    background.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      background.delete(child);
      resolve({ status, stdout, stderr });
    });
  });
}

/** `mip4 lab traffic --json` on lab `name`: its exit status and report. */
async function traffic(name: string, ...args: string[]): Promise<{ status: number | null; report: TrafficReport; stderr: string }> {
  const result = await labAsync(name, 'traffic', '--json', ...args);
  let report: TrafficReport;
  try {
    report = JSON.parse(result.stdout) as TrafficReport;
  } catch {
    throw new Error(`mip4 lab traffic printed no report (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  console.log(`[lab traffic ${name}]\n${summary(report)}`);
  return { status: result.status, report, stderr: result.stderr };
}

function summary(report: TrafficReport): string {
  const cell = (d: { lost: number; sent: number; firstAfterCarrierMs?: number }) => `${d.lost}/${d.sent} lost, first ${d.firstAfterCarrierMs ?? '-'} ms`;
  return [
    ...report.moves.map((m) => `  ${m.from} → ${m.place}: down ${cell(m.downstream)}; up ${cell(m.upstream)}; drops ${JSON.stringify(m.ingressDrops ?? null)}`),
    `  ping ${JSON.stringify(report.echo ?? null)}`,
    ...(report.tcp ? [`  tcp down ${JSON.stringify(report.tcp.downstream)}`, `  tcp up ${JSON.stringify(report.tcp.upstream)}`] : []),
    ...report.verdicts.map((v) => `  verdict: ${v}`),
  ].join('\n');
}

/** dumpcap on one bridge port of the switch namespace, until `stop`. */
class Capture {
  readonly file: string;
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly closed: Promise<void>;

  constructor(namespace: string, port: string, filter: string, file: string) {
    this.file = join(stateDir, file);
    this.child = spawn('ip', ['netns', 'exec', namespace, 'dumpcap', '-q', '-i', port, '-f', filter, '-w', this.file], { stdio: ['ignore', 'ignore', 'pipe'] });
    background.add(this.child);
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.closed = new Promise((r) => this.child.on('close', () => r()));
  }

  async started(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.stderr.includes('Capturing on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.stderr.includes('Capturing on')) throw new Error(`dumpcap did not start: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    // libpcap hands packets over per block, at the latest after its 1 s block timeout.
    await new Promise((r) => setTimeout(r, 1_200));
    this.child.kill('SIGINT');
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 5_000))]);
    background.delete(this.child);
  }
}

/** Per frame: outer and inner source and destination, tshark's malformed flag and expert severities. */
function tunnelFrames(file: string): Array<{ sources: string[]; destinations: string[]; malformed: boolean; severities: number[] }> {
  const result = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'ip.src', '-e', 'ip.dst', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 512 << 20,
  });
  if (result.status !== 0) throw new Error(`tshark failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [src = '', dst = '', malformed = '', severity = ''] = l.split('\t');
      return { sources: src.split(','), destinations: dst.split(','), malformed: malformed !== '', severities: severity === '' ? [] : severity.split(',').map(Number) };
    });
}

/** Expert severity "error" of Wireshark's epan/proto.h. Warnings are expected: TCP analysis flags the losses of each move. */
const SEVERITY_ERROR = 0x00800000;

function teardown(): void {
  for (const child of background) child.kill('SIGKILL');
  background.clear();
  if (stateDir) for (const name of Object.values(LABS)) lab(name, 'down');
  for (const name of Object.values(LABS)) for (const n of namespacesOf(name)) spawnSync('ip', ['netns', 'del', n]);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}

describe.sequential('mip4 lab traffic through every move', { timeout: 240_000 }, () => {
  beforeAll(() => {
    if (skipReason !== undefined && reverseTunnelSkip !== undefined) return;
    ensureBuilt();
    stateDir = mkdtempSync(join(tmpdir(), 'mip4-lab-traffic-'));
  }, 120_000);

  afterAll(() => {
    if (stateDir) teardown();
  }, 60_000);

  it.skipIf(skipReason !== undefined)(titled('usage: traffic on a lab that is not up exits 1 naming it; an unknown place in --moves and both reverse tunnel flags are usage errors (exit 2)', skipReason), () => {
    const notUp = lab(LABS.filtered, 'traffic');
    expect(notUp.status).toBe(1);
    expect(notUp.stderr).toContain(`no lab named '${LABS.filtered}' is up`);
    const place = lab(LABS.filtered, 'traffic', '--moves', 'fa1,mars');
    expect(place.status).toBe(2);
    expect(place.stderr).toContain('--moves: unknown place "mars"');
    const both = lab(LABS.filtered, 'up', '--reverse-tunnel', '--no-reverse-tunnel');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--reverse-tunnel and --no-reverse-tunnel: choose one');
    expect(namespacesOf(LABS.filtered)).toEqual([]);
  });

  it.skipIf(skipReason !== undefined)(
    titled('(a) with --ingress-filter and no reverse tunnel: downstream gets through at every place, upstream dies at each foreign place and the verdict names the filter\'s drops; status shows the counters; down removes it all', skipReason),
    async () => {
      const name = LABS.filtered;
      const up = lab(name, 'up', '--ingress-filter', '--no-reverse-tunnel');
      expect(up.status, up.stderr).toBe(0);
      expect(up.stdout).toContain('ingress filter on, reverse tunnelling off');
      const before = lab(name, 'status');
      expect(before.stdout).toContain('ingress filter: on (router drops sources outside the arriving segment, BCP 38); dropped: home0 0, foreign1 0, foreign2 0, ch0 0');

      const { status, report } = await traffic(name);
      expect(status, 'exit 1: not both ways').toBe(1);
      expect(report.bothWaysThroughEveryMove).toBe(false);
      expect(report.start.upstream.received, 'upstream at home before any move').toBeGreaterThan(0);
      for (const move of report.moves) {
        expect(move.downstream.received, `downstream after the move to ${move.place}`).toBeGreaterThan(0);
        if (move.place === 'colocated') {
          // The lab binds the co-located address and a default route as a DHCP client would; until
          // the node's host puts its home address back as the routes' source (a few hundred ms), the
          // kernel picks the care-of address, which the filter lets through. After that, nothing.
          expect(move.upstream.sent, 'upstream probes sent co-located').toBeGreaterThan(100);
          expect(move.upstream.received, 'upstream co-located').toBeLessThan(move.upstream.sent / 10);
        } else if ((FOREIGN_PLACES as readonly string[]).includes(move.place)) {
          expect(move.upstream.sent, `upstream probes sent at ${move.place}`).toBeGreaterThan(100);
          expect(move.upstream.received, `upstream at ${move.place}`).toBe(0);
        } else {
          expect(move.upstream.received, 'upstream at home again').toBeGreaterThan(0);
        }
      }
      expect(report.moves[0]!.ingressDrops?.foreign1 ?? 0).toBeGreaterThan(0);
      const fa1 = report.verdicts.find((v) => v.startsWith('upstream (mobile node → correspondent) lost after the move to FA1:'));
      expect(fa1, report.verdicts.join('\n')).toMatch(/^upstream \(mobile node → correspondent\) lost after the move to FA1: ingress filter dropped [1-9]\d* datagrams; reverse tunnelling is off/);
      expect(report.verdicts.some((v) => v.startsWith('upstream (mobile node → correspondent) lost after the move to FA2: ingress filter dropped'))).toBe(true);
      expect(report.verdicts.some((v) => v.startsWith('downstream'))).toBe(false);
      // Without its ACKs coming back, neither TCP connection survives the first foreign place.
      expect(report.tcp?.upstream.held).toBe(false);

      const after = lab(name, 'status');
      const dropped = /dropped: home0 (\d+), foreign1 (\d+), foreign2 (\d+), ch0 (\d+)/.exec(after.stdout);
      expect(Number(dropped?.[2]), after.stdout).toBeGreaterThan(0);
      expect(Number(dropped?.[3])).toBeGreaterThan(0);

      const down = lab(name, 'down');
      expect(down.status, down.stderr).toBe(0);
      expect(namespacesOf(name)).toEqual([]);
    },
  );

  it.skipIf(skipReason !== undefined)(
    titled('(b) without the filter: probes both ways after every move and both iperf3 TCP connections hold', skipReason),
    async () => {
      const name = LABS.open;
      const up = lab(name, 'up', '--no-reverse-tunnel');
      expect(up.status, up.stderr).toBe(0);
      expect(lab(name, 'status').stdout).toContain('ingress filter: off');
      const { status, report } = await traffic(name);
      for (const move of report.moves) {
        expect(move.downstream.received, `downstream after the move to ${move.place}`).toBeGreaterThan(0);
        expect(move.upstream.received, `upstream after the move to ${move.place}`).toBeGreaterThan(0);
        expect(move.ingressDrops).toBeUndefined();
      }
      expect(report.tcp?.downstream.held, JSON.stringify(report.tcp)).toBe(true);
      expect(report.tcp?.upstream.held, JSON.stringify(report.tcp)).toBe(true);
      expect(report.verdicts).toEqual([]);
      expect(report.echo?.fromCorrespondent?.received, 'pings from the correspondent answered').toBeGreaterThan(0);
      expect(report.echo?.fromMobileNode?.received, 'pings from the mobile node answered').toBeGreaterThan(0);
      expect(status).toBe(0);
      const down = lab(name, 'down');
      expect(down.status, down.stderr).toBe(0);
    },
  );

  it.skipIf(reverseTunnelSkip !== undefined)(
    titled('(c) with --ingress-filter and reverse tunnelling: both ways through every move, TCP holds; on the bridge ports tshark sees upstream IP-in-IP care-of → HA (FA1, FA2, the co-located address), downstream HA → care-of, no frame malformed', reverseTunnelSkip),
    async () => {
      const name = LABS.reverse;
      const up = lab(name, 'up', '--ingress-filter', '--reverse-tunnel');
      expect(up.status, up.stderr).toBe(0);
      expect(up.stdout).toContain('ingress filter on, reverse tunnelling asked for');
      const sw = `m4lab-${name}-sw`;
      // The router's port on each bridge: everything between a segment and the rest crosses it.
      const captures = { home: new Capture(sw, 'rt-home', 'ip proto 4', 'c-home.pcap'), fa1: new Capture(sw, 'rt-fa1', 'ip proto 4', 'c-fa1.pcap'), fa2: new Capture(sw, 'rt-fa2', 'ip proto 4', 'c-fa2.pcap') };
      for (const capture of Object.values(captures)) await capture.started();
      // Paced low so the captures stay small; the probes are what the counts below need.
      const run = await labAsync(name, 'traffic', '--json', '--tcp-mbit', '2');
      for (const capture of Object.values(captures)) await capture.stop();
      const report = JSON.parse(run.stdout || '{}') as TrafficReport;
      console.log(`[lab traffic ${name}]\n${report.moves ? summary(report) : run.stderr}`);
      expect(report.moves, run.stderr).toBeDefined();
      for (const move of report.moves) {
        expect(move.downstream.received, `downstream after the move to ${move.place}`).toBeGreaterThan(0);
        expect(move.upstream.received, `upstream after the move to ${move.place}`).toBeGreaterThan(0);
      }
      expect(report.tcp?.downstream.held, JSON.stringify(report.tcp)).toBe(true);
      expect(report.tcp?.upstream.held, JSON.stringify(report.tcp)).toBe(true);
      expect(report.verdicts).toEqual([]);
      expect(run.status).toBe(0);

      const count = (frames: ReturnType<typeof tunnelFrames>, outerSource: string, outerDestination: string, innerSource: string, innerDestination: string) =>
        frames.filter((f) => f.sources[0] === outerSource && f.destinations[0] === outerDestination && f.sources.at(-1) === innerSource && f.destinations.at(-1) === innerDestination).length;
      const segments = { home: tunnelFrames(captures.home.file), fa1: tunnelFrames(captures.fa1.file), fa2: tunnelFrames(captures.fa2.file) };
      // A probe every 10 ms for several seconds at each place: hundreds each way; ask for a hundred.
      const expected: Array<[keyof typeof segments, string, string, string, string, string]> = [
        ['fa1', 'upstream from FA1', FA1, HA, MN_HOME, CH],
        ['fa1', 'downstream to FA1', HA, FA1, CH, MN_HOME],
        ['fa2', 'upstream from FA2', FA2, HA, MN_HOME, CH],
        ['fa2', 'downstream to FA2', HA, FA2, CH, MN_HOME],
        ['fa2', 'upstream from the co-located address', COLOCATED, HA, MN_HOME, CH],
        ['fa2', 'downstream to the co-located address', HA, COLOCATED, CH, MN_HOME],
        ['home', 'upstream from FA1 reaching the home agent', FA1, HA, MN_HOME, CH],
        ['home', 'upstream from the co-located address reaching the home agent', COLOCATED, HA, MN_HOME, CH],
      ];
      for (const [segment, what, outerSource, outerDestination, innerSource, innerDestination] of expected) {
        const n = count(segments[segment], outerSource, outerDestination, innerSource, innerDestination);
        console.log(`[lab traffic ${name}] ${segment}: ${n} frames ${what} (${outerSource} → ${outerDestination}, inner ${innerSource} → ${innerDestination})`);
        expect(n, `${segment}: ${what}`).toBeGreaterThanOrEqual(100);
      }
      for (const [segment, frames] of Object.entries(segments)) {
        expect(frames.filter((f) => f.malformed).length, `${segment}: malformed frames`).toBe(0);
        expect(frames.filter((f) => f.severities.some((s) => s >= SEVERITY_ERROR)).length, `${segment}: frames with an expert error`).toBe(0);
      }
    },
  );
});
