/**
 * A co-located `mip4 mn` behind a real NAT (RFC 3519), in namespaces:
 *
 *   mn (192.0.2.130/26) ── nat (192.0.2.129 | 203.0.113.1, nftables masquerade) ── ha (203.0.113.2; 198.51.100.1 on lo)
 *
 * The home agent is scripted (test/linux/mn-udp-tunnel-peer.ts): it grants UDP tunnelling when
 * the Request's source is not its care-of address, with a 2-second keepalive interval. Checked:
 * the Request through the NAT carries the UDP Tunnel Request, the Reply's grant starts the tunnel,
 * the node's own datagram reaches the home agent as a tunnel data message from the NAT's address,
 * the home agent's tunnel data reaches a socket on the node's home address, keepalives (ICMP Echo
 * Requests from the home address) arrive while idle and hold open a mapping the NAT forgets after
 * 4 s idle, and tshark on the NAT's outside decodes the
 * 144/44 extensions and the tunnel data messages on UDP 434 both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureToolEnv, ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const skip = linuxSkipReason({ tun: true }) ?? missingTools('nft', 'tshark');
const namespaces = new Namespaces();
const pid = process.pid;
const MN_NS = `m6um-${pid}`;
const NAT_NS = `m6un-${pid}`;
const HA_NS = `m6uh-${pid}`;
const MN_DEV = `m6um${pid}`;
const NAT_IN = `m6ui${pid}`;
const NAT_OUT = `m6uo${pid}`;
const HA_DEV = `m6uh${pid}`;
const TUN_DEV = `m6ut${pid}`;
const KEY = '00112233445566778899aabbccddeeff';
const KEEPALIVE_SECONDS = 2;
let dir = '';
let daemon: ChildProcess | undefined;
let capture: ChildProcess | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type LogLine = Record<string, unknown> & { event?: string };

beforeAll(() => {
  if (skip !== undefined) return;
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-mn-udp-'));
  namespaces.add(MN_NS);
  namespaces.add(NAT_NS);
  namespaces.add(HA_NS);
  namespaces.veth({ ns: MN_NS, name: MN_DEV, cidr: '192.0.2.130/26' }, { ns: NAT_NS, name: NAT_IN, cidr: '192.0.2.129/26' });
  namespaces.veth({ ns: NAT_NS, name: NAT_OUT, cidr: '203.0.113.1/24' }, { ns: HA_NS, name: HA_DEV, cidr: '203.0.113.2/24' });
  // The node's own default route is the NAT (the daemon adds its routes on top, and removes them).
  ip('-n', MN_NS, 'route', 'add', 'default', 'via', '192.0.2.129');
  ip('-n', HA_NS, 'addr', 'add', '198.51.100.1/32', 'dev', 'lo');
  ip('-n', HA_NS, 'route', 'add', 'default', 'via', '203.0.113.1');
  ip('-n', NAT_NS, 'route', 'add', '198.51.100.1/32', 'via', '203.0.113.2');
  const forwarding = inNamespace(NAT_NS, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  if (forwarding.status !== 0) throw new Error(`sysctl: ${forwarding.stderr}`);
  // A home router's NAT: everything leaving by the outside interface takes its address.
  const nft = spawnSync('ip', ['netns', 'exec', NAT_NS, 'nft', '-f', '-'], {
    input: `table ip mip4test {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "${NAT_OUT}" masquerade\n  }\n}\n`,
    encoding: 'utf8',
    timeout: 5_000,
  });
  if (nft.status !== 0) throw new Error(`nft: ${nft.stderr}`);
  // A NAT that forgets an idle UDP mapping after 4 s (the connection tracker nft loaded): only
  // the node's keepalives (every 2 s when idle) keep the home agent's way in open.
  for (const key of ['net.netfilter.nf_conntrack_udp_timeout=4', 'net.netfilter.nf_conntrack_udp_timeout_stream=4']) {
    const set = inNamespace(NAT_NS, 'sysctl', ['-qw', key]);
    if (set.status !== 0) throw new Error(`sysctl ${key}: ${set.stderr}`);
  }
}, 120_000);

afterAll(() => {
  if (daemon !== undefined && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (capture !== undefined && capture.exitCode === null) capture.kill('SIGKILL');
  namespaces.cleanup();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** A UDP listener on the node's home address inside its namespace; resolves with the first datagram's text. */
function listenOnHomeAddress(port: number): { ready: Promise<void>; received: Promise<string> } {
  const script = `const s=require('node:dgram').createSocket('udp4');s.on('message',(m)=>{process.stdout.write('got:'+m.toString()+'\\n');process.exit(0)});s.bind(${port},'198.51.100.10',()=>process.stdout.write('ready\\n'));setTimeout(()=>process.exit(2),30000)`;
  const child = spawn('ip', ['netns', 'exec', MN_NS, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const received = new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('ready\n')) markReady();
      const got = /got:(.*)\n/.exec(out);
      if (got) resolve(got[1]!);
    });
    child.on('exit', (code) => {
      if (!/got:/.test(out)) reject(new Error(`listener exited ${code} without a datagram: ${out} ${stderr}`));
    });
  });
  return { ready, received };
}

describe('mip4 mn behind a NAT (RFC 3519, namespaces, nftables masquerade)', { timeout: 150_000 }, () => {
  it.skipIf(skip !== undefined)(
    titled(
      "registers with the UDP Tunnel Request (144) and gets 44; its datagrams reach the home agent and the home agent's reach its home address as tunnel data messages on UDP 434 through the NAT; keepalives while idle hold a 4-s NAT mapping open; tshark agrees",
      skip,
    ),
    async () => {
      const pcap = join(dir, 'nat-outside.pcap');
      capture = spawn('ip', ['netns', 'exec', NAT_NS, 'tshark', '-n', '-i', NAT_OUT, '-f', 'udp port 434', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'], env: captureToolEnv() });
      let captureLog = '';
      capture.stderr!.setEncoding('utf8').on('data', (c: string) => (captureLog += c));
      for (let i = 0; i < 200 && !captureLog.includes('Capturing on'); i++) await sleep(50);

      const agent = new Peer(HA_NS, 'home-agent', ['198.51.100.1', '4096', KEY, String(KEEPALIVE_SECONDS)], [], 'test/linux/mn-udp-tunnel-peer.ts');
      await agent.waitFor('ready', 30_000);
      const config = join(dir, 'mn.yaml');
      writePrivateFile(
        config,
        `mobileNode:
  interface: ${MN_DEV}
  homeAddress: 198.51.100.10
  homeAgent: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  lifetime: 60
  colocatedAddress: 192.0.2.130/26
  foreignGateway: 192.0.2.129
  tunnelDevice: ${TUN_DEV}
  udpTunnel: auto
homeAgentAssociation:
  spi: 4096
  key: ${KEY}
control:
  socket: none
`,
      );
      const lines: LogLine[] = [];
      let stdout = '';
      let stderr = '';
      daemon = spawn('ip', ['netns', 'exec', MN_NS, process.execPath, 'bin/mip4.js', 'mn', '--config', config, '--state-dir', join(dir, 'run'), '--log-level', 'debug'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const complete = stdout.split('\n');
        stdout = complete.pop()!;
        for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as LogLine);
      });
      daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const waitFor = async (match: (l: LogLine) => boolean, what: string, timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = lines.find(match);
          if (found) return found;
          if (daemon!.exitCode !== null || Date.now() > deadline) throw new Error(`no ${what}; log:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`);
          await sleep(20);
        }
      };

      // The Request crossed the NAT: the home agent sees the NAT's address, not the care-of address.
      const request = await agent.waitFor('request');
      expect(request).toMatchObject({ from: '203.0.113.1', careOfAddress: '192.0.2.130', behindNat: true, udpTunnelRequest: { force: false, registrationThroughFa: false, encapsulation: 4 } });
      const tunnel = await waitFor((l) => l.event === 'udp-tunnel' && l.active === true, 'udp-tunnel line');
      expect(tunnel).toMatchObject({ homeAgent: '198.51.100.1', careOfAddress: '192.0.2.130', keepaliveInterval: KEEPALIVE_SECONDS });

      // The node's own datagram (bash's /dev/udp from the home address) → tunnel data at the home agent.
      for (let i = 0; i < 3; i++) inNamespace(MN_NS, 'bash', ['-c', 'echo hello > /dev/udp/192.0.2.20/9']);
      const up = await agent.waitUntil((e) => e.event === 'tunnel-data' && e.innerProtocol === 17, 'tunnel data with UDP inside', 20_000);
      expect(up).toMatchObject({ from: '203.0.113.1', nextHeader: 4, innerSource: '198.51.100.10', innerDestination: '192.0.2.20' });

      // The home agent's tunnel data → a socket bound to the home address in the node's namespace.
      const listener = listenOnHomeAddress(9999);
      await listener.ready;
      agent.tell('send 9999');
      expect(await listener.received).toBe('hello through the NAT');

      // Idle for more than the interval: a keepalive, an Echo Request from the home address to the home agent.
      const keepalive = await agent.waitUntil((e) => e.event === 'tunnel-data' && e.innerProtocol === 1 && e.icmpType === 8, 'a keepalive', 20_000);
      expect(keepalive).toMatchObject({ from: '203.0.113.1', port: request.port, innerSource: '198.51.100.10', innerDestination: '198.51.100.1' });
      await waitFor((l) => l.event === 'udp-keepalive', 'udp-keepalive line');

      // Idle for more than twice the NAT's 4-s UDP timeout: the keepalives hold the mapping (same
      // external port), and the home agent's tunnel data still gets in.
      await sleep(9_000);
      const held = agent.events.filter((e) => e.event === 'tunnel-data' && e.icmpType === 8);
      expect(held.length).toBeGreaterThanOrEqual(4);
      expect(new Set(held.map((e) => e.port))).toEqual(new Set([request.port]));
      const later = listenOnHomeAddress(9998);
      await later.ready;
      agent.tell('send 9998');
      expect(await later.received).toBe('hello through the NAT');
      agent.stop();

      daemon.kill('SIGTERM');
      await waitFor((l) => l.event === 'stopped', 'stopped line');
      await sleep(1_000); // what tshark has read reaches its file
      capture.kill('SIGINT');
      await new Promise((resolve) => capture!.once('exit', resolve));

      // Wireshark's reading of what crossed the NAT's outside interface.
      const read = spawnSync('tshark', ['-n', '-r', pcap, '-T', 'fields', '-E', 'separator=;', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'mip.type', '-e', 'mip.ext.type', '-e', 'mip.ext.utrq.encaptype', '-e', 'mip.ext.utrp.code', '-e', 'mip.ext.utrp.keepalive', '-e', 'mip.nattt.nexthdr', '-e', 'icmp.type'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: captureToolEnv(),
      });
      expect(read.status, read.stderr).toBe(0);
      // tshark dissects the inner datagram too: each address field lists outer then inner.
      const rows = read.stdout.trim().split('\n').map((l) => l.split(';').map((field, i) => (i < 2 ? field.split(',')[0]! : field)));
      const requests = rows.filter((r) => r[2] === '1');
      const replies = rows.filter((r) => r[2] === '3');
      expect(requests.length).toBeGreaterThan(0);
      expect(requests[0]![0]).toBe('203.0.113.1'); // masqueraded
      expect(requests[0]![3]!.split(',')).toContain('144');
      expect(requests[0]![4]).toBe('4');
      expect(replies[0]![3]!.split(',')).toContain('44');
      expect([replies[0]![5], replies[0]![6]]).toEqual(['0', String(KEEPALIVE_SECONDS)]);
      const dataUp = rows.filter((r) => r[2] === '4' && r[0] === '203.0.113.1');
      const dataDown = rows.filter((r) => r[2] === '4' && r[1] === '203.0.113.1');
      expect(dataUp.filter((r) => r[8] === '').length).toBeGreaterThanOrEqual(1); // the node's datagrams
      expect(dataUp.filter((r) => r[8] === '8').length).toBeGreaterThanOrEqual(1); // keepalives: Echo Requests inside
      expect(dataDown.length).toBeGreaterThanOrEqual(1);
      expect(dataDown[0]![7]).toBe('4');
    },
  );
});
