/**
 * The tc-BPF fast path against plain kernel forwarding, in namespaces of its own (not yet a part
 * of `npm run bench`): one iperf3 TCP stream from a correspondent through the home agent's
 * namespace to a co-located care-of address, alternating
 *   - kernel: the home agent's namespace routes the home address to the care-of side (no tunnel);
 *   - bpf:    ha_encap on the home agent's ingress tunnels it (IP in IP), decap on the care-of
 *             side's ingress takes it out (the shipped objects, loaded through io/linux/bpf.ts).
 * The correspondent's route carries MTU 1480 in both modes (what RFC 2003 5.1's PMTU would give).
 * Prints min / median / max of each and the same-repetition ratios bpf / kernel.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/bpf-forwarding.js [--seconds 4] [--repetitions 3]
 *
 * Needs root, iproute2, nsenter, iperf3 and the mip4_bpf addon. The attach mode below is the
 * helper it runs inside a namespace (`nsenter --net`), as a daemon would be.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BpfInstance, bpfUnavailableReason, missingBpfCapabilities } from '../io/linux/bpf.js';
import { ipv4 } from '../io/wire/bytes.js';

const HOME = '192.0.2.10';
const CARE_OF = '203.0.113.2';
const AGENT = '203.0.113.1';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    repetitions: { type: 'string', default: '3' },
    attach: { type: 'string' },
    instance: { type: 'string' },
    device: { type: 'string' },
  },
});

/** Helper mode: attach one program in this namespace, report, hold until stdin closes, then clean up. */
function attachMode(role: string): void {
  const { instance } = BpfInstance.open({ instance: values.instance ?? `bench-${process.pid}` });
  const close = () => {
    // What the program did, for whoever reads the run (a figure of 0 Gbit/s says why here).
    const counters = role === 'ha' ? instance.haEncapCounters() : instance.decapCounters();
    const nonZero = Object.entries(counters).filter(([, value]) => value > 0);
    process.stderr.write(`  ${role === 'ha' ? 'ha_encap' : 'decap'} counters: ${nonZero.map(([name, value]) => `${name} ${value}`).join(', ')}\n`);
    instance.close();
    process.exit(0);
  };
  try {
    if (role === 'ha') {
      instance.load('ha_encap');
      instance.attach('ha_encap', values.device ?? 'ha0');
      instance.homeBindings().set(ipv4(HOME), { careOfAddress: ipv4(CARE_OF), tunnelSource: ipv4(AGENT), encapsulation: 'ip-in-ip' });
    } else {
      instance.load('decap');
      instance.attach('decap', values.device ?? 'b0');
      instance.careOfAddresses().set(ipv4(CARE_OF), 'co-located');
    }
  } catch (error) {
    instance.close();
    throw error;
  }
  process.stdout.write('ready\n');
  createInterface({ input: process.stdin }).on('close', close);
  process.on('SIGTERM', close);
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['iperf3', 'nsenter', 'tc']) if (spawnSync('which', [tool]).status !== 0) return `${tool} is not installed`;
  const missing = missingBpfCapabilities();
  if (missing.length > 0) return `needs ${missing.join(' and ')}`;
  return bpfUnavailableReason();
}

async function startHelper(namespace: string, role: string, device: string): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/run/netns/${namespace}`, process.execPath, fileURLToPath(import.meta.url), '--attach', role, '--device', device, '--instance', `bench-${role}-${process.pid}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${role} helper did not attach`)), 15_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`the ${role} helper exited with ${code}`)));
  });
  return child;
}

async function stopHelper(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin!.end();
  await exited;
}

function iperf(a: string, b: string, seconds: number): { gbits: number; retransmits: number } {
  const server = spawn('ip', ['netns', 'exec', b, 'iperf3', '-s', '-1', '-B', HOME, '-p', '5201'], { stdio: 'ignore' });
  try {
    for (let attempt = 0; ; attempt++) {
      const r = spawnSync('ip', ['netns', 'exec', a, 'iperf3', '-c', HOME, '-p', '5201', '-t', String(seconds), '-J'], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
      let failure = r.stderr;
      if (r.status === 0) {
        const result = JSON.parse(r.stdout) as { error?: string; end: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
        if (result.end.sum_received !== undefined) {
          return { gbits: result.end.sum_received.bits_per_second / 1e9, retransmits: result.end.sum_sent?.retransmits ?? 0 };
        }
        failure = result.error ?? r.stdout.slice(-300);
      }
      // The server may not listen yet.
      if (attempt >= 10) throw new Error(`iperf3: ${failure}`);
      spawnSync('sleep', ['0.2']);
    }
  } finally {
    server.kill();
  }
}

function summary(values: number[]): string {
  const sorted = [...values].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `min ${sorted[0]!.toFixed(2)} / median ${median.toFixed(2)} / max ${sorted[sorted.length - 1]!.toFixed(2)}`;
}

async function main(): Promise<void> {
  const why = skipReason();
  if (why !== undefined) {
    console.log(`bpf-forwarding: skipped (${why})`);
    return;
  }
  const seconds = Number(values.seconds);
  const repetitions = Number(values.repetitions);
  const a = `m4bench-a-${process.pid}`;
  const ha = `m4bench-ha-${process.pid}`;
  const b = `m4bench-b-${process.pid}`;
  const created: string[] = [];
  try {
    for (const ns of [a, ha, b]) {
      ip('netns', 'add', ns);
      created.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', 'a0', 'netns', a, 'type', 'veth', 'peer', 'name', 'ha0', 'netns', ha);
    ip('link', 'add', 'ha1', 'netns', ha, 'type', 'veth', 'peer', 'name', 'b0', 'netns', b);
    for (const [ns, dev, cidr] of [[a, 'a0', '198.51.100.2/24'], [ha, 'ha0', '198.51.100.1/24'], [ha, 'ha1', `${AGENT}/24`], [b, 'b0', `${CARE_OF}/24`]] as const) {
      ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    ip('-n', b, 'addr', 'add', `${HOME}/32`, 'dev', 'lo');
    // The path MTU the correspondent would learn from the home agent's Fragmentation Needed (RFC
    // 2003 5.1: 1500 less the outer header), set up front in both modes: the programs pass
    // larger datagrams to a userspace plane that this benchmark does not run.
    ip('-n', a, 'route', 'add', 'default', 'via', '198.51.100.1', 'mtu', '1480');
    ip('-n', b, 'route', 'add', 'default', 'via', AGENT);
    spawnSync('ip', ['netns', 'exec', ha, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const ns of [ha, b]) spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);

    const kernel: number[] = [];
    const bpf: number[] = [];
    const ratios: number[] = [];
    const retransmits = { kernel: 0, bpf: 0 };
    for (let repetition = 0; repetition < repetitions; repetition++) {
      ip('-n', ha, 'route', 'replace', `${HOME}/32`, 'via', CARE_OF);
      const k = iperf(a, b, seconds);
      ip('-n', ha, 'route', 'del', `${HOME}/32`);
      // Without the route only the tunnel reaches the home address.
      const helpers = [await startHelper(ha, 'ha', 'ha0'), await startHelper(b, 'coa', 'b0')];
      let t: { gbits: number; retransmits: number };
      try {
        t = iperf(a, b, seconds);
      } finally {
        for (const helper of helpers) await stopHelper(helper);
      }
      kernel.push(k.gbits);
      bpf.push(t.gbits);
      ratios.push(t.gbits / k.gbits);
      retransmits.kernel += k.retransmits;
      retransmits.bpf += t.retransmits;
      console.log(`repetition ${repetition + 1}: kernel ${k.gbits.toFixed(2)} Gbit/s (${k.retransmits} retransmits), bpf ${t.gbits.toFixed(2)} Gbit/s (${t.retransmits})`);
    }
    console.log(`TCP, one stream, ${seconds} s × ${repetitions} alternating repetitions`);
    console.log(`  kernel forwarding        ${summary(kernel)} Gbit/s, ${retransmits.kernel} retransmits`);
    console.log(`  tc-BPF IP in IP (HA→CoA) ${summary(bpf)} Gbit/s, ${retransmits.bpf} retransmits`);
    console.log(`  bpf / kernel, same repetition: ${summary(ratios)}`);
  } finally {
    for (const ns of created) spawnSync('ip', ['netns', 'del', ns]);
  }
}

if (values.attach !== undefined) attachMode(values.attach);
else await main();
