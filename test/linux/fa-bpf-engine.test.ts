/**
 * `mip4 fa` with `dataPath.engine` (issue 17) in namespaces this file makes (removed in
 * afterAll, also on failure), with the lab's configurations (runtime/cli/lab/plan.ts):
 *
 *   rt 198.51.100.1 ── ha 198.51.100.2 (mip4 ha, userspace data path: TUN, raw IP in IP)
 *      203.0.113.1/26 ── [bridge in rt] ── fa 203.0.113.2 (mip4 fa, engine bpf, nsenter --net)
 *                                        └─ mn (mip4 mn, home 198.51.100.10, registered via fa)
 *
 * The router pings the mobile node's home address: the home agent's userspace plane tunnels it
 * to the foreign agent's care-of address, where the decap program delivers it on the visitor
 * link to the node's MAC. tshark on the node's link looks for ARP about the home address.
 * Reverse tunnelling (RFC 3024) is granted: the node's replies enter reverse_encap at the
 * agent's link (one-armed: the visitor link is also its way to the home agent).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESSES, daemonPlans, HOST_INTERFACE, sysctlsOf, type LabRole } from '../../runtime/cli/lab/plan.js';
import { DEFAULT_PIN_ROOT, TC_HANDLE } from '../../io/linux/bpf.js';
import { DaemonProcess, type LogLine } from '../support/daemon-process.js';
import { writePrivateFile } from '../support/files.js';
import { missingTools } from '../support/tools.js';
import { bpfSkipReason, inNet } from './bpf-support.js';
import { captureToolEnv, ensureBuilt, inNamespace, ip, linuxSkipReason, Namespaces, titled, TIME_SCALE } from './netns.js';

const skip = linuxSkipReason({ tun: true }) ?? bpfSkipReason() ?? missingTools('ping', 'tshark', 'tc', 'capsh');
const pid = process.pid;
const NS = { rt: `m4fbrt${pid}`, ha: `m4fbha${pid}`, fa: `m4fbfa${pid}`, mn: `m4fbmn${pid}` };
const KEYS = { mobileHome: '00112233445566778899aabbccddeeff', foreignHome1: '0102030405060708090a0b0c0d0e0f10', foreignHome2: '1112131415161718191a1b1c1d1e1f20' };

const namespaces = new Namespaces();
const daemons: DaemonProcess[] = [];
const dir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-fa-bpf-')) : '';

function configOf(role: LabRole, extra = ''): string {
  const plan = daemonPlans(KEYS, 'ip-in-ip', dir, true).find((p) => p.role === role)!;
  const path = join(dir, `${role}-${daemons.length}.yaml`);
  writePrivateFile(path, plan.config + extra);
  return path;
}

/** A daemon whose BPF pins must be visible here: nsenter keeps the host's /sys (ip netns exec remounts it). */
function nsenterDaemon(namespace: string, args: string[], prefix: string[] = []): DaemonProcess {
  const child = new DaemonProcess(args, { command: [...prefix, 'nsenter', `--net=/run/netns/${namespace}`, process.execPath, 'bin/mip4.js'] });
  daemons.push(child);
  return child;
}

function netnsDaemon(namespace: string, args: string[]): DaemonProcess {
  const child = new DaemonProcess(args, { command: ['ip', 'netns', 'exec', namespace, process.execPath, 'bin/mip4.js'] });
  daemons.push(child);
  return child;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000 * TIME_SCALE): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** mip4's tc filters on the foreign agent's interface (tc filter show, mip4's handle). */
function mip4Filters(direction: 'ingress' | 'egress' = 'ingress'): string[] {
  const shown = inNamespace(NS.fa, 'tc', ['filter', 'show', 'dev', HOST_INTERFACE, direction]);
  return shown.stdout.split('\n').filter((line) => line.includes(`handle 0x${TC_HANDLE.toString(16)}`));
}

/** This file's pins of `role` in `namespace` (named after the namespace's inode): other labs on the host pin there too. */
function pinsOf(role: 'fa' | 'mn', namespace: string): string[] {
  const prefix = `${role}-${statSync(`/run/netns/${namespace}`).ino}-`;
  return existsSync(DEFAULT_PIN_ROOT) ? readdirSync(DEFAULT_PIN_ROOT).filter((name) => name.startsWith(prefix)) : [];
}

function faPins(): string[] {
  return pinsOf('fa', NS.fa);
}

async function status(): Promise<{ dataPathEngine?: { engine: string; reason: string; bpfCounters: { decap?: Record<string, number>; reverse_encap?: Record<string, number> }; bpfMapEntries?: Record<string, number> } }> {
  const run = spawnSync(process.execPath, ['bin/mip4.js', 'status', '--json', '--socket', join(dir, 'fa1.sock')], { encoding: 'utf8', timeout: 10_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

function ping(count: number) {
  return inNamespace(NS.rt, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ADDRESSES.mobileNodeHome], 20_000 * TIME_SCALE);
}

/** ARP frames tshark sees on the node's link while `act` runs: "opcode|target" each. */
async function arpDuring(act: () => void): Promise<string[]> {
  return captureDuring(NS.mn, 'arp', ['arp.opcode', 'arp.dst.proto_ipv4'], act);
}

/** tshark in `namespace` on its HOST_INTERFACE, capture filter `filter`, while `act` runs: the `fields` of each frame, '|'-separated. */
async function captureDuring(namespace: string, filter: string, fields: readonly string[], act: () => void): Promise<string[]> {
  const file = join(dir, `capture-${Date.now()}.pcap`);
  const env = captureToolEnv();
  const tshark = spawn('ip', ['netns', 'exec', namespace, 'tshark', '-q', '-i', HOST_INTERFACE, '-f', filter, '-a', `duration:${6 * TIME_SCALE}`, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  const exited = new Promise<void>((resolve) => tshark.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start: ${stderr}`)), 15_000 * TIME_SCALE);
    tshark.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('Capturing on')) {
        clearTimeout(timer);
        setTimeout(resolve, 500);
      }
    });
  });
  act();
  await exited;
  const read = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((field) => ['-e', field])], { encoding: 'utf8', env, timeout: 20_000 });
  expect(read.status, read.stderr).toBe(0);
  return read.stdout.split('\n').filter((line) => line !== '');
}

function bridgePort(namespace: string, name: string, peer: string): void {
  ip('link', 'add', name, 'netns', NS.rt, 'type', 'veth', 'peer', 'name', peer, 'netns', namespace);
  ip('-n', NS.rt, 'link', 'set', name, 'master', 'brf', 'up');
  ip('-n', namespace, 'link', 'set', peer, 'up');
}

describe.skipIf(skip !== undefined)('mip4 fa on the tc-BPF engine', () => {
  let ha: DaemonProcess;
  let mn: DaemonProcess;
  let fa: DaemonProcess;

  beforeAll(async () => {
    ensureBuilt();
    for (const ns of Object.values(NS)) namespaces.add(ns);
    namespaces.veth({ ns: NS.rt, name: 'home0', cidr: '198.51.100.1/24' }, { ns: NS.ha, name: HOST_INTERFACE, cidr: '198.51.100.2/24' });
    ip('-n', NS.rt, 'link', 'add', 'brf', 'type', 'bridge');
    ip('-n', NS.rt, 'addr', 'add', '203.0.113.1/26', 'dev', 'brf');
    ip('-n', NS.rt, 'link', 'set', 'brf', 'up');
    bridgePort(NS.fa, `f${pid}`, HOST_INTERFACE);
    bridgePort(NS.mn, `m${pid}`, HOST_INTERFACE);
    ip('-n', NS.fa, 'addr', 'add', '203.0.113.2/26', 'dev', HOST_INTERFACE);
    ip('-n', NS.fa, 'route', 'add', 'default', 'via', '203.0.113.1');
    ip('-n', NS.ha, 'route', 'add', 'default', 'via', '198.51.100.1');
    const roles: Record<keyof typeof NS, LabRole> = { rt: 'rt', ha: 'ha', fa: 'fa1', mn: 'mn' };
    for (const [key, ns] of Object.entries(NS)) {
      const settings = sysctlsOf(roles[key as keyof typeof NS]);
      const run = inNamespace(ns, 'sysctl', ['-q', '-w', ...settings.map(([k, v]) => `${k}=${v}`)]);
      if (run.status !== 0) throw new Error(run.stderr);
    }
    ha = netnsDaemon(NS.ha, ['ha', '--config', configOf('ha')]);
    await ha.line('listening', 30_000 * TIME_SCALE);
    fa = nsenterDaemon(NS.fa, ['fa', '--config', configOf('fa1', 'dataPath:\n  engine: bpf\nmetrics:\n  listen: 127.0.0.1:0\n')]);
    await fa.line('listening', 30_000 * TIME_SCALE);
    mn = netnsDaemon(NS.mn, ['mn', '--config', configOf('mn')]);
    await mn.line('registered', 40_000 * TIME_SCALE);
  }, 150_000 * TIME_SCALE);

  afterAll(async () => {
    try {
      await Promise.allSettled(daemons.map((d) => d.stop()));
    } finally {
      for (const d of daemons) d.kill();
      namespaces.cleanup();
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    }
  });

  it(titled('engine bpf: the start log says bpf and why, decap is attached at tc ingress of the link, status shows engine, reason and the visitor in the kernel map', skip), async () => {
    const line = fa.lines.find((l: LogLine) => l.event === 'data-path-engine');
    expect(line).toMatchObject({ engine: 'bpf', setting: 'bpf', reason: 'dataPath.engine is bpf', attached: [HOST_INTERFACE] });
    // decap, and reverse_encap before it (REVERSE_TC_PRIORITY).
    expect(mip4Filters()).toHaveLength(2);
    const now = await status();
    expect(now.dataPathEngine).toMatchObject({ engine: 'bpf', reason: 'dataPath.engine is bpf', bpfMapEntries: { visitors: 1, reverse_tunnels: 1 } });
  });

  it(titled("[R4.2.2-7] a correspondent's datagrams tunnelled by the home agent reach the visitor through the decap program (delivered-visitor), and no ARP for the home address is seen on the visitor link", skip), async () => {
    const before = (await status()).dataPathEngine!.bpfCounters.decap!;
    let result: ReturnType<typeof ping> | undefined;
    const arp = await arpDuring(() => {
      result = ping(5);
    });
    const after = (await status()).dataPathEngine!.bpfCounters.decap!;
    if (result!.status !== 0) {
      console.log(JSON.stringify({ before, after }), inNamespace(NS.mn, 'ip', ['addr']).stdout, inNamespace(NS.mn, 'ip', ['route']).stdout, inNamespace(NS.mn, 'ip', ['neigh']).stdout, inNamespace(NS.fa, 'ip', ['neigh']).stdout, inNamespace(NS.rt, 'ip', ['neigh']).stdout, inNamespace(NS.mn, 'nstat', ['-az']).stdout.split('\n').filter((l) => /Ip(InReceives|InDelivers|InAddrErrors|InHdrErrors|InDiscards)|IcmpInEchos|IcmpOutEchoReps/.test(l)).join('\n'));
    }
    expect(result!.status, result!.stdout + result!.stderr).toBe(0);
    expect(after['delivered-visitor']! - before['delivered-visitor']!).toBeGreaterThanOrEqual(5);
    // Opcode 1 = request; none may ask for the visitor's home address (4.2.2).
    expect(arp.filter((row) => row === `1|${ADDRESSES.mobileNodeHome}`), arp.join('\n')).toEqual([]);
    // /metrics: the same counter and the engine gauge.
    const url = String(fa.lines.find((l) => l.event === 'listening')!.metrics);
    const script = `fetch(${JSON.stringify(url)}).then(async (r) => process.stdout.write(await r.text()), () => process.exit(4))`;
    const scraped = inNamespace(NS.fa, process.execPath, ['-e', script], 15_000);
    expect(scraped.status, scraped.stderr).toBe(0);
    expect(scraped.stdout).toMatch(/mip4_data_path_engine_info\{engine="bpf"\} 1/);
    const delivered = /mip4_bpf_packets_total\{program="decap",reason="delivered-visitor"\} (\d+)/.exec(scraped.stdout);
    expect(Number(delivered?.[1])).toBeGreaterThanOrEqual(5);
  }, 60_000 * TIME_SCALE);

  it(titled("the visitor's reverse-tunnelled replies are encapsulated once, in the kernel: tshark counts one IP in IP copy per echo reply from the care-of address to the home agent, reverse_encap's encapsulated rises, and the home agent delivers every reply", skip), async () => {
    const count = 10;
    const before = (await status()).dataPathEngine!.bpfCounters.reverse_encap!;
    let result: ReturnType<typeof ping> | undefined;
    // Outer and inner addresses come comma-separated (two IP layers); icmp.seq is the echo's number.
    const frames = await captureDuring(NS.fa, `ip proto 4 and src host ${ADDRESSES.foreignAgent1}`, ['ip.src', 'ip.dst', 'icmp.type', 'icmp.seq'], () => {
      result = ping(count);
    });
    const after = (await status()).dataPathEngine!.bpfCounters.reverse_encap!;
    expect(result!.stdout, result!.stderr).toContain(`${count} received`);
    const replies = frames.filter((row) => row.startsWith(`${ADDRESSES.foreignAgent1},${ADDRESSES.mobileNodeHome}|${ADDRESSES.homeAgent},${ADDRESSES.routerHome}|0|`));
    const perSequence = new Map<string, number>();
    for (const row of replies) perSequence.set(row.split('|')[3]!, (perSequence.get(row.split('|')[3]!) ?? 0) + 1);
    expect(perSequence.size, frames.join('\n')).toBe(count);
    expect([...perSequence.values()].every((copies) => copies === 1), frames.join('\n')).toBe(true);
    expect(after.encapsulated! - before.encapsulated!).toBeGreaterThanOrEqual(count);
  }, 60_000 * TIME_SCALE);

  it(titled("a datagram reverse_encap's route lookup turns back (to a neighbour on the link it came from: passed-local) still reaches the userspace plane through the filtered packet socket, which tunnels it once", skip), async () => {
    const count = 3;
    const before = (await status()).dataPathEngine!.bpfCounters.reverse_encap!;
    let result: ReturnType<typeof ping> | undefined;
    const frames = await captureDuring(NS.fa, `ip proto 4 and src host ${ADDRESSES.foreignAgent1}`, ['ip.src', 'ip.dst', 'icmp.type', 'icmp.seq'], () => {
      result = inNamespace(NS.mn, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', '-I', ADDRESSES.mobileNodeHome, ADDRESSES.routerForeign1], 20_000 * TIME_SCALE);
    });
    const after = (await status()).dataPathEngine!.bpfCounters.reverse_encap!;
    expect(after['passed-local']! - before['passed-local']!).toBeGreaterThanOrEqual(count);
    expect(after.encapsulated).toBe(before.encapsulated);
    // Echo requests (type 8) tunnelled to the home agent by userspace, one copy each; the router's replies come back through the home agent.
    const requests = frames.filter((row) => row.startsWith(`${ADDRESSES.foreignAgent1},${ADDRESSES.mobileNodeHome}|${ADDRESSES.homeAgent},${ADDRESSES.routerForeign1}|8|`));
    expect(requests.map((row) => row.split('|')[3]).sort(), frames.join('\n')).toEqual(Array.from({ length: count }, (_, i) => String(i + 1)).sort());
    expect(result!.stdout, result!.stderr).toContain(`${count} received`);
  }, 60_000 * TIME_SCALE);

  it(titled('the visitor entry removed (mip4 clear visitor) takes its kernel map entry with it: later tunnelled datagrams are passed to userspace, counted passed-unknown-visitor', skip), async () => {
    const cleared = spawnSync(process.execPath, ['bin/mip4.js', 'clear', 'visitor', ADDRESSES.mobileNodeHome, '--socket', join(dir, 'fa1.sock')], { encoding: 'utf8', timeout: 10_000 });
    expect(cleared.status, cleared.stderr + cleared.stdout).toBe(0);
    expect((await status()).dataPathEngine!.bpfMapEntries).toEqual({ visitors: 0, reverse_tunnels: 0 });
    const before = (await status()).dataPathEngine!.bpfCounters.decap!;
    ping(2);
    const after = (await status()).dataPathEngine!.bpfCounters.decap!;
    expect(after['passed-unknown-visitor']! - before['passed-unknown-visitor']!).toBeGreaterThanOrEqual(1);
    expect(after['delivered-visitor']).toBe(before['delivered-visitor']);
  }, 60_000 * TIME_SCALE);

  it(titled('stop detaches and unpins; after kill -9 a restart removes the stale filter and pins, and attaches its two filters again', skip), async () => {
    await fa.stop();
    expect(fa.exit?.code).toBe(0);
    expect(mip4Filters()).toEqual([]);
    expect(faPins()).toEqual([]);
    const crashed = nsenterDaemon(NS.fa, ['fa', '--config', configOf('fa1', 'dataPath:\n  engine: bpf\n')]);
    await crashed.line('listening', 30_000 * TIME_SCALE);
    expect(mip4Filters()).toHaveLength(2);
    crashed.kill();
    await crashed.exited;
    expect(faPins()).toHaveLength(1);
    const restarted = nsenterDaemon(NS.fa, ['fa', '--config', configOf('fa1', 'dataPath:\n  engine: bpf\n')]);
    const line = await restarted.line('data-path-engine', 30_000 * TIME_SCALE);
    expect(Number(line.staleRemoved)).toBeGreaterThan(0);
    expect(mip4Filters()).toHaveLength(2);
    await restarted.stop();
    expect(mip4Filters()).toEqual([]);
    expect(faPins()).toEqual([]);
  }, 90_000 * TIME_SCALE);

  it(titled('engine userspace attaches no filter', skip), async () => {
    const child = nsenterDaemon(NS.fa, ['fa', '--config', configOf('fa1', 'dataPath:\n  engine: userspace\n')]);
    const line = await child.line('data-path-engine', 30_000 * TIME_SCALE);
    expect(line).toMatchObject({ engine: 'userspace', reason: 'dataPath.engine is userspace' });
    await child.line('listening', 30_000 * TIME_SCALE);
    expect(mip4Filters()).toEqual([]);
    await child.stop();
  }, 60_000 * TIME_SCALE);

  it(titled('without CAP_BPF: auto falls back to userspace with the reason in the log; bpf is a start error naming what is missing', skip), async () => {
    const drop = ['capsh', '--drop=cap_bpf', '--'];
    // capsh runs the rest with /bin/sh -c: one quoted command line.
    const auto = new DaemonProcess([], { command: [...drop, '-c', `exec nsenter --net=/run/netns/${NS.fa} ${process.execPath} bin/mip4.js fa --config ${configOf('fa1', 'dataPath:\n  engine: auto\n')}`] });
    daemons.push(auto);
    const line = await auto.line('data-path-engine', 30_000 * TIME_SCALE);
    expect(line).toMatchObject({ engine: 'userspace', setting: 'auto' });
    expect(String(line.reason)).toContain('CAP_BPF');
    await auto.line('listening', 30_000 * TIME_SCALE);
    expect(mip4Filters()).toEqual([]);
    await auto.stop();
    const bpf = new DaemonProcess([], { command: [...drop, '-c', `exec nsenter --net=/run/netns/${NS.fa} ${process.execPath} bin/mip4.js fa --config ${configOf('fa1', 'dataPath:\n  engine: bpf\n')}`] });
    daemons.push(bpf);
    await bpf.exited;
    expect(bpf.exit?.code).toBe(1);
    expect(bpf.stderr).toMatch(/dataPath\.engine is bpf, but the process lacks CAP_BPF/);
    expect(mip4Filters()).toEqual([]);
  }, 60_000 * TIME_SCALE);

  it(titled("a co-located mobile node on engine bpf: decap on its interface lists the care-of address while registered, delivers the home agent's tunnel to the local stack (delivered-locally), reverse_encap_l3 at its TUN's egress tunnels its own datagrams once to the home agent ('T' granted), and cleans up at stop", skip), async () => {
    await mn.stop();
    // No foreign agent on the link now (the tests above stopped theirs): the node uses its own address.
    const text = daemonPlans(KEYS, 'ip-in-ip', dir, false)
      .find((p) => p.role === 'mn')!
      .config.replace('mobileNode:\n', 'mobileNode:\n  colocatedAddress: 203.0.113.50/26\n  foreignGateway: 203.0.113.1\n  udpTunnel: off\n')
      .replace(/reverseTunnel: false/, 'reverseTunnel: true');
    const path = join(dir, 'mn-colocated.yaml');
    writePrivateFile(path, `${text}dataPath:\n  engine: bpf\n`);
    // bpf_fib_lookup wants IPv4 forwarding on the TUN it is given (docs/kernel-fast-path.md): the TUN made at start inherits default.
    expect(inNamespace(NS.mn, 'sysctl', ['-q', '-w', 'net.ipv4.conf.default.forwarding=1']).status).toBe(0);
    const node = nsenterDaemon(NS.mn, ['mn', '--config', path]);
    const line = await node.line('data-path-engine', 30_000 * TIME_SCALE);
    expect(line).toMatchObject({ engine: 'bpf', attached: [HOST_INTERFACE, 'mip4mn0 (egress)'] });
    await node.line('registered', 40_000 * TIME_SCALE);
    await node.line('reverse-tunnel', 20_000 * TIME_SCALE);
    const mnStatus = () => {
      const run = spawnSync(process.execPath, ['bin/mip4.js', 'status', '--json', '--socket', join(dir, 'mn.sock')], { encoding: 'utf8', timeout: 10_000 });
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { dataPathEngine: { bpfCounters: { decap: Record<string, number>; reverse_encap: Record<string, number> }; bpfMapEntries: Record<string, number> } };
    };
    expect(mnStatus().dataPathEngine.bpfMapEntries).toEqual({ care_of_addresses: 1, reverse_tunnels: 1 });
    const before = mnStatus().dataPathEngine.bpfCounters.decap;
    const result = ping(5);
    const after = mnStatus().dataPathEngine.bpfCounters.decap;
    expect(result.status, result.stdout + result.stderr + JSON.stringify(after)).toBe(0);
    expect(after['delivered-locally']! - before['delivered-locally']!).toBeGreaterThanOrEqual(5);
    // The node pings the correspondent from its home address: each echo request leaves its link
    // once, as IP in IP from the care-of address to the home agent (RFC 3024 5.2). Two copies would
    // mean the userspace plane tunnelled it too; the counter rising says the kernel made them.
    const count = 5;
    const reverseBefore = mnStatus().dataPathEngine.bpfCounters.reverse_encap;
    let own: ReturnType<typeof inNamespace> | undefined;
    const frames = await captureDuring(NS.mn, 'ip proto 4 and src host 203.0.113.50', ['ip.src', 'ip.dst', 'icmp.type', 'icmp.seq'], () => {
      own = inNamespace(NS.mn, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', '-I', ADDRESSES.mobileNodeHome, ADDRESSES.routerHome], 20_000 * TIME_SCALE);
    });
    const reverseAfter = mnStatus().dataPathEngine.bpfCounters.reverse_encap;
    expect(own!.stdout, own!.stderr).toContain(`${count} received`);
    const requests = frames.filter((row) => row.startsWith(`203.0.113.50,${ADDRESSES.mobileNodeHome}|${ADDRESSES.homeAgent},${ADDRESSES.routerHome}|8|`));
    expect(requests.map((row) => row.split('|')[3]).sort(), frames.join('\n')).toEqual(Array.from({ length: count }, (_, i) => String(i + 1)).sort());
    expect(reverseAfter.encapsulated! - reverseBefore.encapsulated!, JSON.stringify({ reverseBefore, reverseAfter }) + inNamespace(NS.mn, "ip", ["route", "show", "table", "all"]).stdout + inNamespace(NS.mn, "tc", ["filter", "show", "dev", "mip4mn0", "egress"]).stdout).toBeGreaterThanOrEqual(count);
    await node.stop();
    expect(inNamespace(NS.mn, 'tc', ['filter', 'show', 'dev', 'mip4mn0', 'egress']).stdout).not.toContain(`handle 0x${TC_HANDLE.toString(16)}`);
    const filters = inNamespace(NS.mn, 'tc', ['filter', 'show', 'dev', HOST_INTERFACE, 'ingress']).stdout;
    expect(filters).not.toContain(`handle 0x${TC_HANDLE.toString(16)}`);
    expect(pinsOf('mn', NS.mn)).toEqual([]);
  }, 120_000 * TIME_SCALE);
});
