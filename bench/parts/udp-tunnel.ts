/**
 * Part 7: the UDP tunnel of RFC 3519 against the IP-in-IP tunnel and kernel forwarding, with the
 * real daemons in two labs of their own (`mip4 lab`, runtime/cli/lab/), both up for the whole
 * run and always taken down again (also on failure, SIGINT and SIGTERM):
 *
 * - `bu<pid>`: no NAT. The node is co-located on FA2's segment (203.0.113.100); the home agent
 *   tunnels to it IP-in-IP. "kernel" is the correspondent sending to the co-located address
 *   itself: the same links and router, plain forwarding, no tunnel, no daemon.
 * - `bn<pid>`: `--nat`. The same node behind the lab's masquerading NAT; the home agent sends
 *   its datagrams as tunnel data messages over UDP 434 to the NAT's address and port, the node
 *   decapsulates them from its registration socket.
 *
 * Each repetition measures the three paths in alternating order (kernel, IP-in-IP, UDP, then
 * the reverse): iperf3 from the correspondent, one TCP stream, and UDP with 64-byte IP packets
 * (-l 36, -b 0: as fast as the sender can, delivered packets per second). The tunnels include
 * the node's own decapsulation (the mobile node daemon), the kernel path does not; the UDP
 * path also crosses the NAT's conntrack (kernel).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { nativeAvailable } from '../../io/linux/native.js';
import { labDown, labEnvironmentProblem, labMove, labUp, logLines, labDirectory, type LabOptions } from '../../runtime/cli/lab/lab.js';
import { ADDRESSES, namespaceOf } from '../../runtime/cli/lab/plan.js';
import { natToolProblem } from '../../runtime/cli/lab/nat.js';
import { Report } from '../harness/report.js';
import { sleep } from '../harness/process.js';

type PathKind = 'kernel' | 'ip-in-ip' | 'udp';
const KINDS: readonly PathKind[] = ['kernel', 'ip-in-ip', 'udp'];

function skipReason(): string | undefined {
  const lab = labEnvironmentProblem();
  if (lab !== undefined) return lab;
  if (!nativeAvailable()) return 'the native IO helper is not built (npm ci builds it)';
  if (spawnSync('iperf3', ['--version']).status !== 0) return 'iperf3 is not installed (apt-get install iperf3; .ci/run installs it)';
  return natToolProblem();
}

interface Iperf {
  readonly end: {
    readonly sum_received?: { readonly bits_per_second: number };
    readonly sum?: { readonly packets: number; readonly lost_packets: number; readonly seconds: number };
  };
}

/** iperf3 from the lab's correspondent to `destination`, served in the node's namespace for this test only. */
async function iperf(name: string, destination: string, seconds: number, udp: boolean): Promise<Iperf> {
  const server: ChildProcess = spawn('ip', ['netns', 'exec', namespaceOf(name, 'mn'), 'iperf3', '-s', '-1', '-B', destination, '-p', '5201'], { stdio: 'ignore' });
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(150);
      const args = ['-c', destination, '-p', '5201', '-t', String(seconds), '-J', ...(udp ? ['-u', '-b', '0', '-l', '36'] : [])];
      const r = spawnSync('ip', ['netns', 'exec', namespaceOf(name, 'ch'), 'iperf3', ...args], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
      if (r.status === 0) return JSON.parse(r.stdout) as Iperf;
      if (attempt >= 10) throw new Error(`iperf3 ${args.join(' ')} in lab ${name}: ${r.stdout.slice(-300)} ${r.stderr}`);
    }
  } finally {
    server.kill('SIGKILL');
  }
}

/** Waits until the lab's home agent accepted the co-located node (and, behind the NAT, granted UDP tunnelling). */
async function waitRegistered(options: LabOptions, viaNat: boolean): Promise<void> {
  const directory = labDirectory(options);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const accepted = logLines(directory, 'ha').some((l) => l.event === 'reply' && l.code === 0 && l.careOfAddress === ADDRESSES.colocatedCareOf);
    if (accepted && (!viaNat || pingOnce(options.name))) return;
    await sleep(100);
  }
  throw new Error(`lab ${options.name}: the co-located node was not reachable at its home address within 20 s${viaNat ? ' through the NAT' : ''}`);
}

function pingOnce(name: string): boolean {
  return spawnSync('ip', ['netns', 'exec', namespaceOf(name, 'ch'), 'ping', '-n', '-q', '-c', '1', '-W', '1', ADDRESSES.mobileNodeHome], { timeout: 5_000 }).status === 0;
}

export async function udpTunnelPart(options: { readonly seconds: number; readonly repetitions: number; readonly workDir: string }): Promise<Report> {
  const report = new Report('7 UDP tunnel');
  const reason = skipReason();
  if (reason !== undefined) {
    report.missing('TCP, UDP tunnel ÷ IP-in-IP', 'Gbit/s', `not measured: ${reason}`);
    report.missing('UDP 64 B, UDP tunnel ÷ IP-in-IP', 'pps', `not measured: ${reason}`);
    return report;
  }
  const plain: LabOptions = { name: `bu${process.pid % 100_000}`, stateDir: options.workDir };
  const natted: LabOptions = { name: `bn${process.pid % 100_000}`, stateDir: options.workDir };
  const cleanup = () => {
    for (const lab of [plain, natted]) {
      // Synchronous on exit: what labDown does, by names only.
      for (const role of ['sw', 'ch', 'rt', 'ha', 'fa1', 'fa2', 'mn', 'nat']) spawnSync('ip', ['netns', 'del', namespaceOf(lab.name, role as 'sw')]);
    }
  };
  const interrupted = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', cleanup);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const perKind = (): Record<PathKind, number[]> => ({ kernel: [], 'ip-in-ip': [], udp: [] });
  const tcp = perKind();
  const pps = perKind();
  const loss = perKind();
  let udpFailure: string | undefined;
  try {
    await labUp({ ...plain, encapsulation: 'ip-in-ip' });
    await labUp({ ...natted, encapsulation: 'ip-in-ip', nat: {} });
    await labMove({ ...plain, place: 'colocated' });
    await labMove({ ...natted, place: 'colocated' });
    await waitRegistered(plain, false);
    try {
      await waitRegistered(natted, true);
    } catch (error) {
      // The UDP tunnel failing is a finding, not a broken harness: report it, measure the rest.
      udpFailure = error instanceof Error ? error.message : String(error);
    }
    for (let r = 0; r < options.repetitions; r++) {
      const order = r % 2 === 0 ? KINDS : [...KINDS].reverse();
      for (const kind of order) {
        if (kind === 'udp' && udpFailure !== undefined) continue;
        const name = kind === 'udp' ? natted.name : plain.name;
        const destination = kind === 'kernel' ? ADDRESSES.colocatedCareOf : ADDRESSES.mobileNodeHome;
        const t = await iperf(name, destination, options.seconds, false);
        tcp[kind].push((t.end.sum_received?.bits_per_second ?? NaN) / 1e9);
        const u = await iperf(name, destination, options.seconds, true);
        const sum = u.end.sum!;
        pps[kind].push((sum.packets - sum.lost_packets) / sum.seconds);
        loss[kind].push(sum.packets > 0 ? sum.lost_packets / sum.packets : NaN);
      }
    }
  } finally {
    for (const lab of [plain, natted]) await labDown(lab).catch(() => undefined);
    cleanup();
    process.off('exit', cleanup);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  if (udpFailure !== undefined) report.note(`UDP tunnel not measured: ${udpFailure}`);
  report.add({ name: 'TCP, kernel forwarding to the care-of address', unit: 'Gbit/s', values: tcp.kernel });
  report.add({ name: 'TCP, IP-in-IP tunnel (HA → co-located node)', unit: 'Gbit/s', values: tcp['ip-in-ip'], baseline: { name: 'kernel', values: tcp.kernel } });
  report.add({ name: 'TCP, UDP tunnel ÷ IP-in-IP', unit: 'Gbit/s', values: tcp.udp, baseline: { name: 'IP-in-IP', values: tcp['ip-in-ip'] } });
  report.add({ name: 'TCP, UDP tunnel ÷ kernel', unit: 'Gbit/s', values: tcp.udp, baseline: { name: 'kernel', values: tcp.kernel } });
  report.add({ name: 'UDP 64 B delivered, kernel forwarding', unit: 'pps', values: pps.kernel, note: 'iperf3 sends as fast as it can: sender-bound' });
  report.add({ name: 'UDP 64 B delivered, IP-in-IP tunnel', unit: 'pps', values: pps['ip-in-ip'], baseline: { name: 'kernel', values: pps.kernel } });
  report.add({ name: 'UDP 64 B, UDP tunnel ÷ IP-in-IP', unit: 'pps', values: pps.udp, baseline: { name: 'IP-in-IP', values: pps['ip-in-ip'] } });
  report.add({ name: 'UDP 64 B, UDP tunnel ÷ kernel', unit: 'pps', values: pps.udp, baseline: { name: 'kernel', values: pps.kernel } });
  report.add({ name: 'UDP 64 B lost, IP-in-IP tunnel', unit: 'fraction', values: loss['ip-in-ip'] });
  report.add({ name: 'UDP 64 B lost, UDP tunnel', unit: 'fraction', values: loss.udp });
  report.note(`${options.seconds} s per iperf3 test from the lab's correspondent, one TCP stream, UDP -b 0 -l 36 (64-byte IP packets); ${options.repetitions} alternating repetitions; both tunnels end in the mip4 mn daemon (co-located decapsulation), the UDP one behind the lab's NAT`);
  report.raw.udpTunnel = { tcp, pps, loss };
  return report;
}
