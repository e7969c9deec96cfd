/**
 * reverse_encap (RFC 3024 in the kernel) in namespaces, with the shipped object:
 *
 *   visitor 192.0.2.20 (home) ── fa1 198.51.100.129 [fa: reverse_encap on fa1 ingress] coa0 203.0.113.2 ── ha 203.0.113.1
 *
 * The visitor pings a correspondent beyond the home agent; the program tunnels its datagrams
 * from the care-of address to the home agent, read by tshark on the home agent's side. What the
 * program leaves to userspace is counted per reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureToolEnv, missingTools, Namespaces, titled, ip, TIME_SCALE } from './netns.js';
import { BpfPeer, bpfSkipReason, inNet, macOf, sysctl } from './bpf-support.js';

const skip = bpfSkipReason() ?? missingTools('ping', 'tshark');
const id = process.pid;
const FA = `m4rfa${id}`;
const HA = `m4rha${id}`;
const VISITOR = `m4rvis${id}`;
const HOME = '192.0.2.20';
const CORRESPONDENT = '198.51.100.2';

type Counters = Record<string, number>;

describe.skipIf(skip !== undefined)('reverse_encap: reverse tunnelling in the kernel (RFC 3024)', () => {
  const namespaces = new Namespaces();
  const captures = mkdtempSync(join(tmpdir(), 'mip4-rev-pcap-'));
  let fa: BpfPeer;

  beforeAll(async () => {
    for (const name of [FA, HA, VISITOR]) namespaces.add(name);
    namespaces.veth({ ns: FA, name: 'coa0', cidr: '203.0.113.2/24' }, { ns: HA, name: 'ha0', cidr: '203.0.113.1/24' });
    namespaces.veth({ ns: FA, name: 'fa1', cidr: '198.51.100.129/25' }, { ns: VISITOR, name: 'v0', cidr: `${HOME}/32` });
    const agentMac = macOf(FA, 'fa1');
    ip('-n', VISITOR, 'neigh', 'replace', '198.51.100.129', 'lladdr', agentMac, 'dev', 'v0', 'nud', 'permanent');
    ip('-n', VISITOR, 'route', 'add', 'default', 'via', '198.51.100.129', 'dev', 'v0', 'onlink');
    ip('-n', FA, 'route', 'add', 'default', 'via', '203.0.113.1');
    // The agent's own answers to the visitor go on the visitor link (its delivery route, 4.2.2).
    ip('-n', FA, 'route', 'add', `${HOME}/32`, 'dev', 'fa1');
    for (const ns of [FA, HA, VISITOR]) sysctl(ns, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    fa = new BpfPeer(FA);
    await fa.ready();
    await fa.call('open', { instance: `test-rev-${id}` });
    await fa.call('load', { program: 'reverse_encap' });
    await fa.call('attach', { program: 'reverse_encap', interface: 'fa1' });
    await fa.call('setReverse', { home: HOME, careOf: '203.0.113.2', homeAgent: '203.0.113.1', encapsulation: 'ip-in-ip', forwards: true });
  }, 60_000 * TIME_SCALE);

  afterAll(async () => {
    try {
      await Promise.allSettled([fa?.call('close')]);
    } finally {
      fa?.peer.stop();
      namespaces.cleanup();
      rmSync(captures, { recursive: true, force: true });
    }
  });

  function ping(destination: string, ...options: string[]) {
    return inNet(VISITOR, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ...options, destination], 15_000);
  }

  async function capture(filter: string, act: () => void, fields: string[]): Promise<string[][]> {
    const file = join(captures, `ha-${Date.now()}.pcap`);
    const env = captureToolEnv();
    const tshark = spawn('ip', ['netns', 'exec', HA, 'tshark', '-q', '-i', 'ha0', '-f', filter, '-a', `duration:${6 * TIME_SCALE}`, '-c', '3', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
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
    const read = spawnSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 20_000, env });
    expect(read.status, read.stderr).toBe(0);
    return read.stdout.trim().split('\n').filter((line) => line !== '').map((line) => line.split('|'));
  }

  const FIELDS = ['ip.proto', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.checksum.status', 'icmp.type', '_ws.malformed'];

  it(titled("a 'T' visitor's datagram is tunnelled in the kernel: well-formed IP in IP from the care-of address to the home agent, inner TTL one less (the agent forwards)", skip), async () => {
    const before = await fa.call<Counters>('counters', { program: 'reverse_encap' });
    const rows = await capture('ip proto 4', () => void ping(CORRESPONDENT), FIELDS);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const [proto, src, dst, ttl, checksum, icmpType, malformed] of rows) {
      expect(proto).toBe('4,1');
      expect(src).toBe(`203.0.113.2,${HOME}`);
      expect(dst).toBe(`203.0.113.1,${CORRESPONDENT}`);
      expect(ttl).toBe('64,63');
      expect(checksum).toBe('1,1');
      expect(icmpType).toBe('8');
      expect(malformed).toBe('');
    }
    const after = await fa.call<Counters>('counters', { program: 'reverse_encap' });
    expect(after['encapsulated']! - before['encapsulated']!).toBeGreaterThanOrEqual(3);
  }, 40_000 * TIME_SCALE);

  it(titled('GRE (RFC 2784 2.1, the bare 4-byte header) when the entry says gre', skip), async () => {
    await fa.call('setReverse', { home: HOME, careOf: '203.0.113.2', homeAgent: '203.0.113.1', encapsulation: 'gre', forwards: true });
    try {
      const rows = await capture('ip proto 47', () => void ping(CORRESPONDENT), ['ip.proto', 'ip.src', 'ip.dst', 'gre.proto', 'gre.flags_and_version', '_ws.malformed']);
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const [proto, src, dst, greProto, greFlags, malformed] of rows) {
        expect(proto).toBe('47,1');
        expect(src).toBe(`203.0.113.2,${HOME}`);
        expect(dst).toBe(`203.0.113.1,${CORRESPONDENT}`);
        expect(greProto).toBe('0x0800');
        expect(greFlags).toBe('0x0000');
        expect(malformed).toBe('');
      }
    } finally {
      await fa.call('setReverse', { home: HOME, careOf: '203.0.113.2', homeAgent: '203.0.113.1', encapsulation: 'ip-in-ip', forwards: true });
    }
  }, 40_000 * TIME_SCALE);

  it(titled('an originating entry (a co-located node) keeps the inner TTL', skip), async () => {
    await fa.call('setReverse', { home: HOME, careOf: '203.0.113.2', homeAgent: '203.0.113.1', encapsulation: 'ip-in-ip', forwards: false });
    try {
      const rows = await capture('ip proto 4', () => void ping(CORRESPONDENT), ['ip.ttl']);
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const [ttl] of rows) expect(ttl).toBe('64,64');
    } finally {
      await fa.call('setReverse', { home: HOME, careOf: '203.0.113.2', homeAgent: '203.0.113.1', encapsulation: 'ip-in-ip', forwards: true });
    }
  }, 40_000 * TIME_SCALE);

  it(titled('left to userspace and counted: datagrams to the agent itself (passed-local), TTL 1 (passed-ttl), broadcast (passed-multicast), ARP (not-ipv4), unknown sources (passed-unknown)', skip), async () => {
    const before = await fa.call<Counters>('counters', { program: 'reverse_encap' });
    const own = ping('198.51.100.129', '-c', '2');
    expect(own.status, own.stdout).toBe(0); // the agent answers: it was not tunnelled
    ping(CORRESPONDENT, '-c', '2', '-t', '1');
    ping('255.255.255.255', '-c', '1', '-b');
    ip('-n', VISITOR, 'neigh', 'del', '198.51.100.129', 'dev', 'v0');
    inNet(VISITOR, 'arping', ['-c', '1', '-w', '1', '-I', 'v0', '198.51.100.129']);
    ping('198.51.100.129', '-c', '1');
    ip('-n', VISITOR, 'addr', 'add', '192.0.2.21/32', 'dev', 'v0');
    ping(CORRESPONDENT, '-c', '2', '-I', '192.0.2.21');
    const after = await fa.call<Counters>('counters', { program: 'reverse_encap' });
    const grew = (name: string) => after[name]! - before[name]!;
    expect(grew('passed-local')).toBeGreaterThanOrEqual(2);
    expect(grew('passed-ttl')).toBeGreaterThanOrEqual(2);
    expect(grew('passed-multicast')).toBeGreaterThanOrEqual(1);
    expect(grew('not-ipv4')).toBeGreaterThanOrEqual(1);
    expect(grew('passed-unknown')).toBeGreaterThanOrEqual(2);
    expect(grew('encapsulated')).toBe(0);
  }, 60_000 * TIME_SCALE);

  it(titled("reverse_encap_l3 at tc egress of a TUN device (no link-layer header, a co-located node's own datagrams): IP in IP from its care-of address to the home agent, out of the Ethernet interface the route names (an Ethernet header made in front), inner TTL kept", skip), async () => {
    const node = new BpfPeer(VISITOR);
    try {
      ip('-n', VISITOR, 'tuntap', 'add', 'dev', 'm4tun', 'mode', 'tun');
      ip('-n', VISITOR, 'link', 'set', 'm4tun', 'up');
      ip('-n', VISITOR, 'addr', 'add', '192.0.2.22/32', 'dev', 'v0');
      ip('-n', VISITOR, 'route', 'add', '198.51.100.77/32', 'dev', 'm4tun');
      await node.ready();
      await node.call('open', { instance: `test-rev-l3-${id}` });
      await node.call('load', { program: 'reverse_encap' });
      await node.call('attach', { program: 'reverse_encap', interface: 'm4tun', direction: 'egress', entry: 'reverse_encap_l3' });
      await node.call('setReverse', { home: HOME, careOf: '192.0.2.22', homeAgent: '203.0.113.1', encapsulation: 'ip-in-ip', forwards: false });
      const rows = await capture('ip proto 4 and src host 192.0.2.22', () => void inNet(VISITOR, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', HOME, '198.51.100.77'], 15_000), FIELDS);
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const [proto, src, dst, ttl, checksum, icmpType, malformed] of rows) {
        expect(proto).toBe('4,1');
        expect(src).toBe(`192.0.2.22,${HOME}`);
        expect(dst).toBe('203.0.113.1,198.51.100.77');
        // Outer 64 less the agent's hop on the way; inner as the node sent it.
        expect(ttl).toBe('63,64');
        expect(checksum).toBe('1,1');
        expect(icmpType).toBe('8');
        expect(malformed).toBe('');
      }
      const counters = await node.call<Counters>('counters', { program: 'reverse_encap' });
      expect(counters['encapsulated']).toBeGreaterThanOrEqual(3);
    } finally {
      await Promise.allSettled([node.call('close')]);
      node.peer.stop();
    }
  }, 40_000 * TIME_SCALE);
});
