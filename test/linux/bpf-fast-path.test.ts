/**
 * The tc-BPF fast path in namespaces, with the shipped objects (native/bpf/dist):
 *
 *   ch (198.51.100.2) ── ha (ha_encap on ha0 ingress) ── coa (decap on coa0 ingress) ── visitor
 *   198.51.100.0/25      203.0.113.1                      203.0.113.2 (foreign agent)    192.0.2.20 (home)
 *                                                         203.0.113.3 (co-located MN, home 192.0.2.10 on lo)
 *
 * The correspondent pings home addresses; the home agent's program tunnels them (IP in IP or
 * GRE) and the care-of side's program takes them out; replies are routed plainly. tshark reads
 * the tunnel on the wire and the visitor link.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureToolEnv, missingTools, Namespaces, titled, ip, TIME_SCALE } from './netns.js';
import { BpfPeer, bpfSkipReason, inNet, macOf, sysctl } from './bpf-support.js';

const skip = bpfSkipReason() ?? missingTools('ping', 'tshark', 'iperf3', 'python3');
const id = process.pid;
const CH = `m4bch${id}`;
const HA = `m4bha${id}`;
const COA = `m4bcoa${id}`;
const VISITOR = `m4bvis${id}`;
const CO_LOCATED_HOME = '192.0.2.10';
const VISITOR_HOME = '192.0.2.20';

type HaCounters = Record<string, number>;

describe.skipIf(skip !== undefined)('tc-BPF fast path in namespaces', () => {
  const namespaces = new Namespaces();
  const captures = mkdtempSync(join(tmpdir(), 'mip4-bpf-pcap-'));
  let ha: BpfPeer;
  let coa: BpfPeer;
  let visitorMac = '';
  let agentMac = '';

  beforeAll(async () => {
    for (const name of [CH, HA, COA, VISITOR]) namespaces.add(name);
    namespaces.veth({ ns: CH, name: 'ch0', cidr: '198.51.100.2/25' }, { ns: HA, name: 'ha0', cidr: '198.51.100.1/25' });
    namespaces.veth({ ns: HA, name: 'ha1', cidr: '203.0.113.1/24' }, { ns: COA, name: 'coa0', cidr: '203.0.113.2/24' });
    ip('-n', COA, 'addr', 'add', '203.0.113.3/24', 'dev', 'coa0');
    ip('-n', COA, 'addr', 'add', `${CO_LOCATED_HOME}/32`, 'dev', 'lo');
    // The visitor link: the agent's side has an address for the visitor's default route only;
    // it has no route or neighbour for the visitor's home address (4.2.2: no ARP for it).
    namespaces.veth({ ns: COA, name: 'fa1', cidr: '198.51.100.129/25' }, { ns: VISITOR, name: 'v0', cidr: `${VISITOR_HOME}/32` });
    agentMac = macOf(COA, 'fa1');
    visitorMac = macOf(VISITOR, 'v0');
    ip('-n', VISITOR, 'neigh', 'replace', '198.51.100.129', 'lladdr', agentMac, 'dev', 'v0', 'nud', 'permanent');
    ip('-n', VISITOR, 'route', 'add', 'default', 'via', '198.51.100.129', 'dev', 'v0', 'onlink');
    ip('-n', CH, 'route', 'add', 'default', 'via', '198.51.100.1');
    ip('-n', COA, 'route', 'add', 'default', 'via', '203.0.113.1');
    for (const ns of [HA, COA, VISITOR]) {
      sysctl(ns, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    }
    for (const device of ['coa0', 'fa1']) sysctl(COA, `net.ipv4.conf.${device}.rp_filter=0`);
    sysctl(VISITOR, 'net.ipv4.conf.v0.rp_filter=0');

    ha = new BpfPeer(HA);
    coa = new BpfPeer(COA);
    await Promise.all([ha.ready(), coa.ready()]);
    await ha.call('open', { instance: `test-ha-${id}` });
    await ha.call('load', { program: 'ha_encap' });
    await ha.call('attach', { program: 'ha_encap', interface: 'ha0' });
    await coa.call('open', { instance: `test-coa-${id}` });
    await coa.call('load', { program: 'decap' });
    await coa.call('attach', { program: 'decap', interface: 'coa0' });
    await coa.call('setCareOf', { address: '203.0.113.3', role: 'co-located' });
    await coa.call('setCareOf', { address: '203.0.113.2', role: 'foreign-agent' });
    await coa.call('setVisitor', { home: VISITOR_HOME, interface: 'fa1', visitorMac, ownMac: agentMac });
  }, 60_000 * TIME_SCALE);

  afterAll(async () => {
    try {
      await Promise.allSettled([ha?.call('close'), coa?.call('close')]);
    } finally {
      ha?.peer.stop();
      coa?.peer.stop();
      namespaces.cleanup();
      rmSync(captures, { recursive: true, force: true });
    }
  });

  async function setBinding(home: string, careOf: string, encapsulation: 'ip-in-ip' | 'gre' = 'ip-in-ip'): Promise<void> {
    await ha.call('setBinding', { home, careOf, source: '203.0.113.1', encapsulation });
  }

  function ping(destination: string, ...options: string[]) {
    return inNet(CH, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ...options, destination], 15_000);
  }

  /** Captures on `device` in `ns` while `act` runs; returns tshark's fields of what it saw. */
  async function capture(ns: string, device: string, filter: string, act: () => void, fields: string[], frames = 3): Promise<string[][]> {
    const file = join(captures, `${ns}-${device}-${Date.now()}.pcap`);
    const env = captureToolEnv();
    const tshark = spawn('ip', ['netns', 'exec', ns, 'tshark', '-q', '-i', device, '-f', filter, '-a', `duration:${8 * TIME_SCALE}`, '-c', String(frames), '-w', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    let stderr = '';
    const exited = new Promise<void>((resolve) => tshark.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tshark did not start: ${stderr}`)), 15_000 * TIME_SCALE);
      tshark.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('Capturing on')) {
          clearTimeout(timer);
          // dumpcap says so just before its filter is in place: a moment more.
          setTimeout(resolve, 500);
        }
      });
    });
    act();
    await exited;
    const read = spawnSync('ip', ['netns', 'exec', ns, 'tshark', '-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
      timeout: 20_000,
      env,
    });
    expect(read.status, read.stderr).toBe(0);
    return read.stdout.trim().split('\n').filter((line) => line !== '').map((line) => line.split('|'));
  }

  it(
    titled('with a binding, a ping to a co-located home address goes through ha_encap as IP in IP (tshark: outer header right, no malformed frame) and decap delivers it', skip),
    async () => {
      await setBinding(CO_LOCATED_HOME, '203.0.113.3');
      const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      const beforeDecap = await coa.call<HaCounters>('counters', { program: 'decap' });
      let result: ReturnType<typeof ping> | undefined;
      const rows = await capture(COA, 'coa0', 'ip proto 4', () => {
        result = ping(CO_LOCATED_HOME);
      }, ['ip.proto', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.checksum.status', 'icmp.type', '_ws.malformed', 'ip.flags.df']);
      expect(result!.status, result!.stdout + result!.stderr).toBe(0);
      expect(result!.stdout).toContain('3 received');
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const [proto, src, dst, ttl, checksum, icmpType, malformed, df] of rows) {
        expect(proto).toBe('4,1');
        expect(src).toBe(`203.0.113.1,198.51.100.2`);
        expect(dst).toBe(`203.0.113.3,${CO_LOCATED_HOME}`);
        // Outer TTL the default 64; inner 64 from ping, decremented once by the home agent (RFC 2003 3.1).
        expect(ttl).toBe('64,63');
        expect(checksum).toBe('1,1'); // tshark: 1 = good, both headers
        expect(icmpType).toBe('8');
        expect(malformed).toBe('');
        expect(df).toBe('1,1'); // ping sets DF; copied outward (RFC 2003 3.1)
      }
      const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      const afterDecap = await coa.call<HaCounters>('counters', { program: 'decap' });
      expect(after['encapsulated']! - before['encapsulated']!).toBeGreaterThanOrEqual(3);
      expect(afterDecap['delivered-locally']! - beforeDecap['delivered-locally']!).toBeGreaterThanOrEqual(3);
    },
    40_000 * TIME_SCALE,
  );

  it(titled('without a binding the datagram is passed to the stack unchanged, counted passed-unknown', skip), async () => {
    await ha.call('deleteBinding', { home: CO_LOCATED_HOME });
    const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    const result = ping(CO_LOCATED_HOME, '-c', '2');
    expect(result.status).not.toBe(0);
    const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    expect(after['passed-unknown']! - before['passed-unknown']!).toBeGreaterThanOrEqual(2);
    expect(after['encapsulated']).toBe(before['encapsulated']);
  }, 30_000 * TIME_SCALE);

  it(titled('a datagram with TTL 1 is passed (the Time Exceeded is userspace\'s), counted passed-ttl', skip), async () => {
    await setBinding(CO_LOCATED_HOME, '203.0.113.3');
    const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    ping(CO_LOCATED_HOME, '-c', '2', '-t', '1');
    const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    expect(after['passed-ttl']! - before['passed-ttl']!).toBeGreaterThanOrEqual(2);
    expect(after['encapsulated']).toBe(before['encapsulated']);
  }, 30_000 * TIME_SCALE);

  it(titled('a datagram over the tunnel MTU is passed (PMTU is userspace\'s, RFC 2003 5.1), counted passed-mtu; a smaller one is tunnelled', skip), async () => {
    await setBinding(CO_LOCATED_HOME, '203.0.113.3');
    await ha.call('settings', { tunnelMtu: 1000, outerTtl: 0 });
    try {
      const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      const big = ping(CO_LOCATED_HOME, '-c', '2', '-s', '1000', '-M', 'do');
      expect(big.status).not.toBe(0);
      const middle = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      expect(middle['passed-mtu']! - before['passed-mtu']!).toBeGreaterThanOrEqual(2);
      expect(middle['encapsulated']).toBe(before['encapsulated']);
      // 952 + 8 + 20 = 980 inner, 1000 outer: exactly the MTU, tunnelled.
      const fits = ping(CO_LOCATED_HOME, '-c', '2', '-s', '952', '-M', 'do');
      expect(fits.status, fits.stdout).toBe(0);
      const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      expect(after['encapsulated']! - middle['encapsulated']!).toBeGreaterThanOrEqual(2);
      expect(after['passed-mtu']).toBe(middle['passed-mtu']);
    } finally {
      await ha.call('settings', { tunnelMtu: 0, outerTtl: 0 });
    }
  }, 30_000 * TIME_SCALE);

  it(titled('a TCP stream (GSO packets, resegmented after the outer header) is tunnelled whole when the sender uses the tunnel\'s path MTU', skip), async () => {
    await setBinding(CO_LOCATED_HOME, '203.0.113.3');
    // The path MTU the correspondent learns from the home agent's Fragmentation Needed (RFC 2003 5.1).
    ip('-n', CH, 'route', 'replace', 'default', 'via', '198.51.100.1', 'mtu', '1480');
    const server = spawn('ip', ['netns', 'exec', COA, 'iperf3', '-s', '-1', '-B', CO_LOCATED_HOME, '-p', '5299'], { stdio: 'ignore' });
    try {
      const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      let result = inNet(CH, 'iperf3', ['-c', CO_LOCATED_HOME, '-p', '5299', '-n', '8M', '-J'], 20_000);
      for (let attempt = 0; attempt < 10 && !result.stdout.includes('sum_received'); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 200)); // the server may not listen yet
        result = inNet(CH, 'iperf3', ['-c', CO_LOCATED_HOME, '-p', '5299', '-n', '8M', '-J'], 20_000);
      }
      const received = (JSON.parse(result.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
      // The receiver's figure may miss what was still in flight when the sender stopped.
      expect(received).toBeGreaterThanOrEqual(4 * 1024 * 1024);
      const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
      expect(after['encapsulated']! - before['encapsulated']!).toBeGreaterThan(0);
      expect(after['passed-mtu']).toBe(before['passed-mtu']);
    } finally {
      server.kill();
      ip('-n', CH, 'route', 'replace', 'default', 'via', '198.51.100.1');
    }
  }, 40_000 * TIME_SCALE);

  it(titled('GRE (RFC 2784, 4-byte header): tshark decodes GRE carrying IPv4 without malformed frames, decap delivers it', skip), async () => {
    await setBinding(CO_LOCATED_HOME, '203.0.113.3', 'gre');
    const beforeDecap = await coa.call<HaCounters>('counters', { program: 'decap' });
    let result: ReturnType<typeof ping> | undefined;
    const rows = await capture(COA, 'coa0', 'ip proto 47', () => {
      result = ping(CO_LOCATED_HOME);
    }, ['ip.proto', 'gre.proto', 'gre.flags_and_version', 'ip.dst', 'ip.checksum.status', '_ws.malformed']);
    expect(result!.status, result!.stdout).toBe(0);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const [proto, greProto, greFlags, dst, checksum, malformed] of rows) {
      expect(proto).toBe('47,1');
      expect(greProto).toBe('0x0800');
      expect(greFlags).toBe('0x0000');
      expect(dst).toBe(`203.0.113.3,${CO_LOCATED_HOME}`);
      expect(checksum).toBe('1,1');
      expect(malformed).toBe('');
    }
    const afterDecap = await coa.call<HaCounters>('counters', { program: 'decap' });
    expect(afterDecap['delivered-locally']! - beforeDecap['delivered-locally']!).toBeGreaterThanOrEqual(3);
    await setBinding(CO_LOCATED_HOME, '203.0.113.3');
  }, 40_000 * TIME_SCALE);

  it(
    titled('foreign agent: decap sends the inner datagram to the visitor\'s MAC on the visitor link without ARP (RFC 5944 4.2.2), TTL decremented', skip),
    async () => {
      await setBinding(VISITOR_HOME, '203.0.113.2');
      const before = await coa.call<HaCounters>('counters', { program: 'decap' });
      let result: ReturnType<typeof ping> | undefined;
      const rows = await capture(VISITOR, 'v0', 'icmp or arp', () => {
        result = ping(VISITOR_HOME);
      }, ['eth.src', 'eth.dst', 'eth.type', 'ip.src', 'ip.dst', 'ip.ttl', 'icmp.type', 'ip.checksum.status'], 6);
      expect(result!.status, result!.stdout + result!.stderr).toBe(0);
      const toVisitor = rows.filter((row) => row[0] === agentMac);
      expect(toVisitor.length).toBeGreaterThanOrEqual(3);
      for (const [, dst, type, src, destination, ttl, icmpType, checksum] of toVisitor) {
        expect(dst).toBe(visitorMac);
        expect(type).toBe('0x0800'); // never ARP from the agent
        expect(src).toBe('198.51.100.2');
        expect(destination).toBe(VISITOR_HOME);
        expect(ttl).toBe('62'); // 64, the home agent's decrement, the foreign agent's
        expect(icmpType).toBe('8');
        expect(checksum).toBe('1'); // good after the foreign agent's incremental update
      }
      // The agent learnt no neighbour for the home address: it never asked.
      const neighbours = ip('-n', COA, 'neigh', 'show', VISITOR_HOME);
      expect(neighbours.trim()).toBe('');
      const after = await coa.call<HaCounters>('counters', { program: 'decap' });
      expect(after['delivered-visitor']! - before['delivered-visitor']!).toBeGreaterThanOrEqual(3);
    },
    40_000 * TIME_SCALE,
  );

  it(titled('foreign agent: an unknown visitor and an inner TTL that would expire are passed to the stack unchanged, counted', skip), async () => {
    await setBinding(VISITOR_HOME, '203.0.113.2');
    const before = await coa.call<HaCounters>('counters', { program: 'decap' });
    // TTL 2 from the correspondent: 1 after the home agent, so the foreign agent would expire it.
    ping(VISITOR_HOME, '-c', '2', '-t', '2');
    const middle = await coa.call<HaCounters>('counters', { program: 'decap' });
    expect(middle['passed-ttl']! - before['passed-ttl']!).toBeGreaterThanOrEqual(2);
    expect(middle['delivered-visitor']).toBe(before['delivered-visitor']);
    expect(await coa.call('deleteVisitor', { home: VISITOR_HOME })).toBe(true);
    try {
      const result = ping(VISITOR_HOME, '-c', '2');
      expect(result.status).not.toBe(0);
      const after = await coa.call<HaCounters>('counters', { program: 'decap' });
      expect(after['passed-unknown-visitor']! - middle['passed-unknown-visitor']!).toBeGreaterThanOrEqual(2);
      expect(after['delivered-visitor']).toBe(middle['delivered-visitor']);
    } finally {
      await coa.call('setVisitor', { home: VISITOR_HOME, interface: 'fa1', visitorMac, ownMac: agentMac });
    }
  }, 30_000 * TIME_SCALE);

  it(titled('foreign agent: a tunnel packet whose outer source is its inner source (a visitor\'s own encapsulation, RFC 3024 5.3) is passed, counted', skip), async () => {
    // IP in IP from the correspondent to the agent's care-of address, inner source the same as the outer.
    const script = [
      'import socket, struct',
      'def header(length, protocol, source, destination):',
      '    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 1, 0, 64, protocol, 0, socket.inet_aton(source), socket.inet_aton(destination))',
      '    words = struct.unpack("!10H", h)',
      '    total = sum(words)',
      '    total = (total & 0xffff) + (total >> 16)',
      '    total = (total & 0xffff) + (total >> 16)',
      '    return h[:10] + struct.pack("!H", ~total & 0xffff) + h[12:]',
      `inner = header(28, 17, "198.51.100.2", "${VISITOR_HOME}") + struct.pack("!HHHH", 9, 9, 8, 0)`,
      'packet = header(48, 4, "198.51.100.2", "203.0.113.2") + inner',
      's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
      'for _ in range(3): s.sendto(packet, ("203.0.113.2", 0))',
    ].join('\n');
    const before = await coa.call<HaCounters>('counters', { program: 'decap' });
    const sent = inNet(CH, 'python3', ['-c', script]);
    expect(sent.status, sent.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await coa.call<HaCounters>('counters', { program: 'decap' });
    expect(after['passed-visitor-encapsulated']! - before['passed-visitor-encapsulated']!).toBe(3);
    expect(after['delivered-visitor']).toBe(before['delivered-visitor']);
  }, 30_000 * TIME_SCALE);

  it(titled('home agent: a datagram from the tunnel exit point (RFC 2003 3.2) or already tunnelled (4.2.3) is passed, counted passed-loop-check', skip), async () => {
    await setBinding(CO_LOCATED_HOME, '203.0.113.3');
    // Sent from the correspondent's side with forged sources: the care-of address, then an IP-in-IP datagram.
    const script = [
      'import socket, struct',
      'def header(length, protocol, source, destination):',
      '    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 1, 0, 64, protocol, 0, socket.inet_aton(source), socket.inet_aton(destination))',
      '    words = struct.unpack("!10H", h)',
      '    total = sum(words)',
      '    total = (total & 0xffff) + (total >> 16)',
      '    total = (total & 0xffff) + (total >> 16)',
      '    return h[:10] + struct.pack("!H", ~total & 0xffff) + h[12:]',
      'udp = struct.pack("!HHHH", 9, 9, 8, 0)',
      's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
      `s.sendto(header(28, 17, "203.0.113.3", "${CO_LOCATED_HOME}") + udp, ("${CO_LOCATED_HOME}", 0))`,
      `s.sendto(header(48, 4, "198.51.100.2", "${CO_LOCATED_HOME}") + header(28, 17, "198.51.100.2", "${CO_LOCATED_HOME}") + udp, ("${CO_LOCATED_HOME}", 0))`,
    ].join('\n');
    const before = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    const sent = inNet(CH, 'python3', ['-c', script]);
    expect(sent.status, sent.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await ha.call<HaCounters>('counters', { program: 'ha_encap' });
    expect(after['passed-loop-check']! - before['passed-loop-check']!).toBe(2);
    expect(after['encapsulated']).toBe(before['encapsulated']);
  }, 30_000 * TIME_SCALE);
});
