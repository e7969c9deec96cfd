/**
 * Part 3: tunnel throughput in a lab of three network namespaces (as for the reference figures in docs/performance.md):
 *
 *   A (correspondent) 192.0.2.2 ── 192.0.2.1 R (router / home agent) 203.0.113.1 ── 203.0.113.2 B
 *
 * B stands for the mobile node: its home address 198.51.100.10 sits on its loopback. A sends
 * to 198.51.100.10; R gets it to B one of three ways, each measured in the same run:
 * - kernel: R routes 198.51.100.10 via 203.0.113.2 (plain forwarding: the ceiling);
 * - C reference: R routes it into a TUN, bench/native/ref_tunnel.c encapsulates (IP-in-IP,
 *   batched) and sends it on a raw socket; in B the same program decapsulates into a TUN;
 * - mip4: `mip4 ha` in R with its Linux data path (dataPath: home interface rh, 198.51.100.1/24,
 *   a veth whose peer stays in R), B registered with care-of address 203.0.113.2 by the C
 *   generator; the home agent routes the home address into its TUN and tunnels it (IP-in-IP).
 *   Measured twice: plain (dataPath.tunOffload false, like the C reference's TUN) and with TUN
 *   offloads (true: the kernel hands TCP over in 64 KiB super-packets that mip4's reader cuts
 *   back into datagrams).
 * B decapsulates with the C reference program in both tunnel cases, so they differ only in
 * the encapsulator.
 * Replies (TCP ACKs) go back from B to A without a tunnel, as a mobile node's do (triangle
 * routing). A's route carries mtu 1480 so every path carries the same inner packets.
 * TCP: iperf3, one stream; UDP: iperf3 with 64-byte IP packets, delivered packets/s.
 * Needs root, iproute2, iperf3 and /dev/net/tun; otherwise says which is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Report } from '../harness/report.js';
import { cpuSeconds, ROOT, sleep } from '../harness/process.js';
import { LOADGEN } from './registration.js';

const REF_TUNNEL = join(ROOT, 'build/Release/ref_tunnel');
const HOME_ADDRESS = '198.51.100.10';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN, raw sockets): run `sudo npm run bench` for this part';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  if (spawnSync('iperf3', ['--version']).status !== 0) return 'iperf3 is not installed (apt-get install iperf3; .ci/run installs it)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  if (!existsSync(REF_TUNNEL) || !existsSync(LOADGEN)) return `${REF_TUNNEL} or ${LOADGEN} is not built (npm ci builds them)`;
  return undefined;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

class Lab {
  readonly a: string;
  readonly r: string;
  readonly b: string;
  private readonly created: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor() {
    const tag = `i7b${process.pid}`;
    this.a = `${tag}-a`;
    this.r = `${tag}-r`;
    this.b = `${tag}-b`;
  }

  build(): void {
    for (const ns of [this.a, this.r, this.b]) {
      ip('netns', 'add', ns);
      this.created.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      for (const key of ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) this.sysctl(ns, key);
    }
    ip('link', 'add', 'a0', 'netns', this.a, 'type', 'veth', 'peer', 'name', 'r0', 'netns', this.r);
    ip('link', 'add', 'r1', 'netns', this.r, 'type', 'veth', 'peer', 'name', 'b0', 'netns', this.b);
    const addr = (ns: string, dev: string, cidr: string) => {
      ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    };
    addr(this.a, 'a0', '192.0.2.2/24');
    addr(this.r, 'r0', '192.0.2.1/24');
    addr(this.r, 'r1', '203.0.113.1/24');
    addr(this.b, 'b0', '203.0.113.2/24');
    ip('-n', this.a, 'route', 'add', 'default', 'via', '192.0.2.1', 'mtu', '1480');
    ip('-n', this.b, 'route', 'add', 'default', 'via', '203.0.113.1');
    ip('-n', this.b, 'addr', 'add', `${HOME_ADDRESS}/32`, 'dev', 'lo');
    // The home link of mip4's home agent: a veth in R whose peer also stays in R.
    ip('-n', this.r, 'link', 'add', 'rh', 'type', 'veth', 'peer', 'name', 'rh-peer');
    ip('-n', this.r, 'link', 'set', 'rh-peer', 'up');
    addr(this.r, 'rh', '198.51.100.1/24');
    this.sysctl(this.r, 'net.ipv4.ip_forward=1');
  }

  sysctl(ns: string, setting: string): void {
    spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', setting]);
  }

  /** Starts a process in a namespace; it is killed by `stopAll` or `destroy`. */
  start(ns: string, command: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    this.children.push(child);
    return child;
  }

  async stop(child: ChildProcess): Promise<string> {
    let out = '';
    child.stdout!.on('data', (c: string) => (out += c));
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }
    return out;
  }

  destroy(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const ns of this.created.splice(0)) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  }
}

interface Iperf {
  readonly end: {
    readonly sum_received?: { readonly bits_per_second: number; readonly bytes: number };
    readonly sum?: { readonly packets: number; readonly lost_packets: number; readonly seconds: number };
  };
}

/** One iperf3 test from A to B's home address; the server runs in B for this test only. */
async function iperf(lab: Lab, seconds: number, udp: boolean): Promise<Iperf> {
  const server = lab.start(lab.b, 'iperf3', ['-s', '-1', '-B', HOME_ADDRESS, '-p', '5201']);
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(150);
      const args = ['-c', HOME_ADDRESS, '-p', '5201', '-t', String(seconds), '-J', ...(udp ? ['-u', '-b', '0', '-l', '36'] : [])];
      const r = spawnSync('ip', ['netns', 'exec', lab.a, 'iperf3', ...args], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
      if (r.status === 0) return JSON.parse(r.stdout) as Iperf;
      if (attempt >= 10) throw new Error(`iperf3 ${args.join(' ')}: ${r.stdout.slice(-300)} ${r.stderr}`);
    }
  } finally {
    await lab.stop(server);
  }
}

type PathKind = 'kernel' | 'c-reference' | 'mip4' | 'mip4-offload';

/** Sets R up for one path; returns what to stop afterwards and the encapsulator's pid. */
async function setUp(lab: Lab, kind: PathKind, workDir: string): Promise<{ encapsulator?: ChildProcess; teardown: () => Promise<void> }> {
  if (kind === 'mip4' || kind === 'mip4-offload') return setUpMip4(lab, workDir, kind === 'mip4-offload');
  if (kind === 'kernel') {
    ip('-n', lab.r, 'route', 'replace', `${HOME_ADDRESS}/32`, 'via', '203.0.113.2');
    return { teardown: async () => ip('-n', lab.r, 'route', 'del', `${HOME_ADDRESS}/32`) };
  }
  const decap = lab.start(lab.b, REF_TUNNEL, ['decap', '--tun', 'btun']);
  const encap = lab.start(lab.r, REF_TUNNEL, ['encap', '--tun', 'rtun', '--remote', '203.0.113.2']);
  // The programs create their TUN devices; wait for them before routing into them.
  for (let i = 0; i < 50; i++) {
    const r = spawnSync('ip', ['-n', lab.r, 'link', 'show', 'rtun']);
    const b = spawnSync('ip', ['-n', lab.b, 'link', 'show', 'btun']);
    if (r.status === 0 && b.status === 0) break;
    await sleep(50);
  }
  ip('-n', lab.r, 'link', 'set', 'rtun', 'up', 'mtu', '1480');
  ip('-n', lab.b, 'link', 'set', 'btun', 'up', 'mtu', '1480');
  lab.sysctl(lab.b, 'net.ipv4.conf.btun.rp_filter=0');
  ip('-n', lab.r, 'route', 'replace', `${HOME_ADDRESS}/32`, 'dev', 'rtun');
  return {
    encapsulator: encap,
    teardown: async () => {
      ip('-n', lab.r, 'route', 'del', `${HOME_ADDRESS}/32`);
      await lab.stop(encap);
      await lab.stop(decap);
    },
  };
}

async function waitForTun(lab: Lab, ns: string, device: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('ip', ['-n', ns, 'link', 'show', device]).status === 0) return;
    await sleep(50);
  }
  throw new Error(`${device} did not appear in ${ns}`);
}

/** mip4 ha with its data path in R; B registers its care-of address; B decapsulates (C). */
async function setUpMip4(lab: Lab, workDir: string, tunOffload: boolean): Promise<{ encapsulator: ChildProcess; teardown: () => Promise<void> }> {
  const configPath = join(workDir, 'ha-tunnel.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'], encapsulations: ['ip-in-ip'], broadcast: false, maxLifetime: 3600 },
      mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY, maxBindings: 1 }],
      // The userspace engine's TUN path is what this part measures (part 8 has the bpf engine).
      dataPath: { homeInterface: 'rh', tunnelDevice: 'mip4ha0', tunOffload, engine: 'userspace' },
    }),
    // Owner-only: mip4 refuses a config holding keys that others can read.
    { mode: 0o600 },
  );
  const decap = lab.start(lab.b, REF_TUNNEL, ['decap', '--tun', 'btun']);
  const ha = lab.start(lab.r, process.execPath, [join(ROOT, 'bin/mip4.js'), 'ha', '--config', configPath]);
  let log = '';
  let errors = '';
  ha.stdout!.on('data', (c: string) => {
    if (log.length < 100_000) log += c;
  });
  ha.stderr!.on('data', (c: string) => (errors += c));
  const teardown = async () => {
    await lab.stop(ha);
    await lab.stop(decap);
  };
  try {
    for (let i = 0; !log.includes('"listening"'); i++) {
      if (i > 200 || ha.exitCode !== null) throw new Error(`mip4 ha did not start in the lab: ${errors.trim() || log.slice(-500)}`);
      await sleep(50);
    }
    await waitForTun(lab, lab.b, 'btun');
    ip('-n', lab.b, 'link', 'set', 'btun', 'up', 'mtu', '1480');
    lab.sysctl(lab.b, 'net.ipv4.conf.btun.rp_filter=0');
    const register = spawnSync(
      'ip',
      ['netns', 'exec', lab.b, LOADGEN, '--target', '198.51.100.1:434', '--home-agent', '198.51.100.1', '--home-base', HOME_ADDRESS, '--nodes', '1', '--spi', '4096', '--key', KEY, '--care-of', '203.0.113.2', '--count', '1', '--timeout-ms', '2000'],
      { encoding: 'utf8', timeout: 10_000 },
    );
    const reply = JSON.parse(register.stdout.trim() || '{}') as { accepted?: number; codes?: unknown };
    if (reply.accepted !== 1) throw new Error(`registration through mip4 ha in the lab failed: ${register.stdout} ${register.stderr} ${log.slice(-500)}`);
    for (let i = 0; !spawnSync('ip', ['-n', lab.r, 'route', 'get', HOME_ADDRESS], { encoding: 'utf8' }).stdout.includes('mip4ha0'); i++) {
      if (i > 100) throw new Error(`mip4 ha did not route ${HOME_ADDRESS} into its tunnel device: ${log.slice(-500)}`);
      await sleep(20);
    }
    return { encapsulator: ha, teardown };
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** The pid of the program `ip netns exec` runs (it execs, so it is the same process). */
const pidOf = (child: ChildProcess | undefined) => child?.pid ?? -1;

export async function tunnelPart(options: { readonly seconds: number; readonly repetitions: number; readonly workDir: string }): Promise<Report> {
  const report = new Report('3 tunnel');
  const reason = skipReason();
  if (reason !== undefined) {
    report.missing('TCP throughput', 'Gbit/s', `not measured: ${reason}`);
    report.missing('UDP 64-byte packets delivered', 'pps', `not measured: ${reason}`);
    return report;
  }
  const lab = new Lab();
  const cleanup = () => lab.destroy();
  // Ctrl-C or a kill must not leave namespaces behind: remove them, then exit as signalled.
  const interrupted = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', cleanup);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const kinds: PathKind[] = ['kernel', 'c-reference', 'mip4', 'mip4-offload'];
  const mip4Failure: Partial<Record<PathKind, string>> = {};
  const perKind = (): Record<PathKind, number[]> => ({ kernel: [], 'c-reference': [], mip4: [], 'mip4-offload': [] });
  const tcp = perKind();
  const udp = perKind();
  const lossFraction = perKind();
  const encapUsPerPacket = perKind();
  const encapMsPerMiB = perKind();
  try {
    lab.build();
    for (let r = 0; r < options.repetitions; r++) {
      const order = r % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        if (mip4Failure[kind] !== undefined) continue;
        let path: Awaited<ReturnType<typeof setUp>>;
        try {
          path = await setUp(lab, kind, options.workDir);
        } catch (error) {
          // mip4's own data path failing is a finding, not a broken harness: report it.
          if (kind !== 'mip4' && kind !== 'mip4-offload') throw error;
          mip4Failure[kind] = error instanceof Error ? error.message : String(error);
          continue;
        }
        try {
          const tcpCpuBefore = cpuSeconds(pidOf(path.encapsulator));
          const t = await iperf(lab, options.seconds, false);
          tcp[kind].push((t.end.sum_received?.bits_per_second ?? NaN) / 1e9);
          const mebibytes = (t.end.sum_received?.bytes ?? NaN) / 1048576;
          if (path.encapsulator) encapMsPerMiB[kind].push(((cpuSeconds(pidOf(path.encapsulator)) - tcpCpuBefore) / mebibytes) * 1e3);
          const cpuBefore = cpuSeconds(pidOf(path.encapsulator));
          const u = await iperf(lab, options.seconds, true);
          const sum = u.end.sum!;
          const delivered = sum.packets - sum.lost_packets;
          udp[kind].push(delivered / sum.seconds);
          lossFraction[kind].push(sum.packets > 0 ? sum.lost_packets / sum.packets : NaN);
          if (path.encapsulator) encapUsPerPacket[kind].push(((cpuSeconds(pidOf(path.encapsulator)) - cpuBefore) / Math.max(1, delivered)) * 1e6);
        } finally {
          await path.teardown();
        }
      }
    }
  } finally {
    cleanup();
    process.off('exit', cleanup);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  report.add({ name: 'TCP, kernel forwarding', unit: 'Gbit/s', values: tcp.kernel });
  report.add({ name: 'TCP, C reference tunnel', unit: 'Gbit/s', values: tcp['c-reference'], baseline: { name: 'kernel', values: tcp.kernel } });
  if (mip4Failure.mip4 !== undefined) report.note(`mip4 HA tunnel not measured: ${mip4Failure.mip4}`);
  if (mip4Failure['mip4-offload'] !== undefined) report.note(`mip4 HA tunnel with TUN offloads not measured: ${mip4Failure['mip4-offload']}`);
  report.add({ name: 'TCP, mip4 HA tunnel ÷ C reference', unit: 'Gbit/s', values: tcp.mip4, baseline: { name: 'C ref', values: tcp['c-reference'] }, bar: { text: '≥ 0.90 of the C reference', test: (m) => m >= 0.9, onRatio: true } });
  report.add({ name: 'TCP, mip4 HA tunnel ÷ kernel', unit: 'Gbit/s', values: tcp.mip4, baseline: { name: 'kernel', values: tcp.kernel } });
  report.add({ name: 'TCP, mip4 + TUN offloads ÷ C reference', unit: 'Gbit/s', values: tcp['mip4-offload'], baseline: { name: 'C ref', values: tcp['c-reference'] }, bar: { text: '≥ 0.90 of the C reference', test: (m) => m >= 0.9, onRatio: true } });
  report.add({ name: 'TCP, mip4 + TUN offloads ÷ mip4 plain', unit: 'Gbit/s', values: tcp['mip4-offload'], baseline: { name: 'mip4', values: tcp.mip4 } });
  report.add({ name: 'UDP 64 B delivered, kernel forwarding', unit: 'pps', values: udp.kernel, note: 'iperf3 sends as fast as it can: this row is sender-bound' });
  report.add({ name: 'UDP 64 B delivered, C reference tunnel', unit: 'pps', values: udp['c-reference'], baseline: { name: 'kernel', values: udp.kernel } });
  report.add({ name: 'UDP 64 B, mip4 HA tunnel ÷ C reference', unit: 'pps', values: udp.mip4, baseline: { name: 'C ref', values: udp['c-reference'] }, bar: { text: '≥ 0.90 of the C reference', test: (m) => m >= 0.9, onRatio: true } });
  report.add({ name: 'UDP 64 B, mip4 HA tunnel ÷ kernel', unit: 'pps', values: udp.mip4, baseline: { name: 'kernel', values: udp.kernel } });
  report.add({ name: 'UDP 64 B, mip4 + TUN offloads ÷ C reference', unit: 'pps', values: udp['mip4-offload'], baseline: { name: 'C ref', values: udp['c-reference'] }, bar: { text: '≥ 0.90 of the C reference', test: (m) => m >= 0.9, onRatio: true } });
  report.add({ name: 'UDP 64 B lost, C reference tunnel', unit: 'fraction', values: lossFraction['c-reference'] });
  report.add({ name: 'UDP 64 B lost, mip4 HA tunnel', unit: 'fraction', values: lossFraction.mip4 });
  report.add({ name: 'UDP 64 B lost, mip4 + TUN offloads', unit: 'fraction', values: lossFraction['mip4-offload'] });
  report.add({ name: 'encapsulator CPU per TCP MiB, C reference', unit: 'ms', values: encapMsPerMiB['c-reference'] });
  report.add({ name: 'encapsulator CPU per TCP MiB, mip4 ha', unit: 'ms', values: encapMsPerMiB.mip4, baseline: { name: 'C ref', values: encapMsPerMiB['c-reference'] } });
  report.add({ name: 'encapsulator CPU per TCP MiB, mip4 + TUN offloads', unit: 'ms', values: encapMsPerMiB['mip4-offload'], baseline: { name: 'C ref', values: encapMsPerMiB['c-reference'] } });
  report.add({ name: 'encapsulator CPU per UDP packet, C reference', unit: 'µs', values: encapUsPerPacket['c-reference'] });
  report.add({ name: 'encapsulator CPU per UDP packet, mip4 ha', unit: 'µs', values: encapUsPerPacket.mip4, baseline: { name: 'C ref', values: encapUsPerPacket['c-reference'] } });
  report.add({ name: 'encapsulator CPU per UDP packet, mip4 + TUN offloads', unit: 'µs', values: encapUsPerPacket['mip4-offload'], baseline: { name: 'C ref', values: encapUsPerPacket['c-reference'] } });
  report.note(`${options.seconds} s per iperf3 test, one TCP stream, UDP -b 0 -l 36 (64-byte IP packets); C reference and mip4 plain without TUN offloads, "mip4 + TUN offloads" with dataPath.tunOffload (IFF_VNET_HDR + TUNSETOFFLOAD)`);
  report.raw.tunnel = { tcp, udp, lossFraction, encapUsPerPacket, encapMsPerMiB };
  return report;
}
