/**
 * A real `mip4 fa` behind a real NAT (nftables masquerade) with UDP tunnelling on (RFC 3519),
 * in namespaces this file creates and removes (also on failure):
 *
 *   visitor ── vmn0/vfa0 ── fa ── vfa1/vnat0 ── nat (masquerade, ports 40000-40099) ── vnat1/vha0 ── home agent
 *   198.51.100.10 (home)   203.0.113.1 (link)   192.0.2.2 (care-of)  192.0.2.1 | 198.51.100.254   198.51.100.1
 *
 * The home agent and the visitor are scripted (test/linux/fa-udp-tunnel-peer.ts). Checked: the
 * relayed Request carries the agent's UDP Tunnel Request between MHAE and FHAE and arrives from
 * the NAT's address and a translated port; the Reply reaches the node without the UDP Tunnel
 * Reply; the home agent's tunnel data sent to that translated address and port reaches the
 * node; the node's datagram comes to the home agent as tunnel data over the same flow; a
 * keepalive comes when the flow is idle; `mip4 visitors` shows UDP; and tshark, capturing
 * outside the NAT, decodes the extensions and the tunnel data messages.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureToolEnv, ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled, TIME_SCALE } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const skip = linuxSkipReason() ?? missingTools('nft', 'tshark');
const pid = process.pid;
const MN_NS = `mip4-fut-mn-${pid}`;
const FA_NS = `mip4-fut-fa-${pid}`;
const NAT_NS = `mip4-fut-nat-${pid}`;
const HA_NS = `mip4-fut-ha-${pid}`;
const HOME = '198.51.100.10';
const FA_LINK = '203.0.113.1';
const COA = '192.0.2.2';
const NAT_OUTSIDE = '198.51.100.254';
const HA = '198.51.100.1';
const MN_SPI = '4096';
const MN_KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const FA_SPI = '768';
const FA_KEY = '000102030405060708090a0b0c0d0e0f';
const KEEPALIVE_S = 2;
const PEER = 'test/linux/fa-udp-tunnel-peer.ts';

const namespaces = new Namespaces();
const children: ChildProcess[] = [];
const peers: Peer[] = [];
let workDir: string | undefined;

afterAll(() => {
  for (const peer of peers) peer.stop();
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  namespaces.cleanup();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

function sysctl(ns: string, setting: string): void {
  const r = inNamespace(ns, 'sysctl', ['-qw', setting]);
  if (r.status !== 0) throw new Error(`sysctl ${setting} in ${ns}: ${r.stderr}`);
}

/** A child in a namespace whose output is collected. */
function start(ns: string, command: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; out: () => string } {
  const child = spawn('ip', ['netns', 'exec', ns, ...command], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (text += c));
  return { child, out: () => text };
}

async function until(check: () => boolean, what: string, timeoutMs: number, out?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs * TIME_SCALE;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms${out === undefined ? '' : `:\n${out()}`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('mip4 fa behind an nftables masquerade with UDP tunnelling (RFC 3519)', () => {
  it.skipIf(skip !== undefined)(
    titled("relays with its UDP Tunnel Request, takes the home agent's tunnel data to the visitor and reverse-tunnels the visitor's datagrams over the NAT's UDP mapping, with keepalives; tshark decodes them", skip),
    async () => {
      ensureBuilt();
      workDir = mkdtempSync(join(tmpdir(), 'mip4-fut-'));
      for (const ns of [MN_NS, FA_NS, NAT_NS, HA_NS]) namespaces.add(ns);
      namespaces.veth({ ns: MN_NS, name: 'vmn0', cidr: `${HOME}/32` }, { ns: FA_NS, name: 'vfa0', cidr: `${FA_LINK}/24` });
      namespaces.veth({ ns: FA_NS, name: 'vfa1', cidr: `${COA}/24` }, { ns: NAT_NS, name: 'vnat0', cidr: '192.0.2.1/24' });
      namespaces.veth({ ns: NAT_NS, name: 'vnat1', cidr: `${NAT_OUTSIDE}/24` }, { ns: HA_NS, name: 'vha0', cidr: `${HA}/24` });
      ip('-n', MN_NS, 'route', 'add', '203.0.113.0/24', 'dev', 'vmn0');
      ip('-n', MN_NS, 'route', 'add', 'default', 'via', FA_LINK, 'dev', 'vmn0');
      ip('-n', FA_NS, 'route', 'add', 'default', 'via', '192.0.2.1');
      for (const ns of [FA_NS, NAT_NS]) {
        sysctl(ns, 'net.ipv4.ip_forward=1');
        sysctl(ns, 'net.ipv4.conf.all.rp_filter=0');
        sysctl(ns, 'net.ipv4.conf.default.rp_filter=0');
      }
      sysctl(FA_NS, 'net.ipv4.conf.vfa0.rp_filter=0');
      // The NAT: everything leaving by vnat1 gets its address and a port of 40000-40099, so the
      // home agent sees a translated port, never 434.
      const rules = ['table ip mip4nat {', '  chain post {', '    type nat hook postrouting priority srcnat;', '    oifname "vnat1" meta l4proto udp masquerade to :40000-40099', '    oifname "vnat1" masquerade', '  }', '}', ''].join('\n');
      const nft = spawnSync('ip', ['netns', 'exec', NAT_NS, 'nft', '-f', '-'], { input: rules, encoding: 'utf8', timeout: 5_000 });
      expect(nft.status, nft.stderr).toBe(0);

      const pcap = join(workDir, 'outside.pcapng');
      const capture = start(NAT_NS, ['tshark', '-i', 'vnat1', '-f', 'udp', '-w', pcap], captureToolEnv());
      await until(() => /Capturing on/.test(capture.out()), 'tshark capturing', 20_000, capture.out);

      const ha = new Peer(HA_NS, 'home-agent', [HA, MN_SPI, MN_KEY, FA_SPI, FA_KEY, String(KEEPALIVE_S)], [], PEER);
      peers.push(ha);
      await ha.waitFor('ready');

      const socket = join(workDir, 'fa.sock');
      const config = join(workDir, 'fa.yaml');
      writePrivateFile(
        config,
        `foreignAgent:
  interface: vfa0
  address: ${FA_LINK}
  careOfAddresses: [${COA}]
  reverseTunnel: offered
  udpTunnel: auto
advertisement:
  lifetime: 30
  maxInterval: 10
homeAgents:
  - address: ${HA}
    spi: ${FA_SPI}
    key: ${FA_KEY}
control:
  socket: ${socket}
`,
      );
      const fa = start(FA_NS, [process.execPath, 'bin/mip4.js', 'fa', '--config', config]);
      await until(() => fa.out().includes('"listening"'), "the agent's listening line", 10_000, fa.out);

      const visitor = new Peer(MN_NS, 'visitor', [HOME, FA_LINK, COA, HA, MN_SPI, MN_KEY], [], PEER);
      peers.push(visitor);
      // Relayed with the agent's extension between the MHAE (32) and the FHAE (34), from the NAT's translated flow.
      const request = await ha.waitFor('request');
      expect(request).toMatchObject({ from: NAT_OUTSIDE, types: [32, 144, 34], careOfAddress: COA });
      expect(request.port as number).toBeGreaterThanOrEqual(40000);
      expect(request.port as number).toBeLessThan(40100);
      // The node gets the Reply without the UDP Tunnel Reply (removed with the FHAE).
      const reply = await visitor.waitFor('reply');
      expect(reply).toMatchObject({ code: 0, types: [32] });

      // Home agent → translated address:port → the agent's 434 → the visitor.
      await new Promise((r) => setTimeout(r, 300));
      ha.tell('data');
      const delivered = await visitor.waitFor('data');
      expect(delivered).toMatchObject({ from: '198.51.100.77', port: 7, text: 'from-home-agent' });

      // The visitor → the agent's reverse tunnel over UDP → the same NAT mapping → the home agent.
      visitor.tell('send');
      const carried = await ha.waitUntil((e) => e.event === 'tunnel-data' && e.protocol === 17, 'the reverse-tunnelled datagram');
      expect(carried).toMatchObject({ from: NAT_OUTSIDE, port: request.port, nextHeader: 4, source: HOME, destination: '198.51.100.77', text: 'from-visitor' });

      // Idle for the granted interval: a keepalive on the same flow (RFC 3519 4.9).
      const keepalive = await ha.waitUntil((e) => e.event === 'tunnel-data' && e.protocol === 1, 'a keepalive', (KEEPALIVE_S * 1000 + 4000));
      expect(keepalive).toMatchObject({ from: NAT_OUTSIDE, port: request.port, nextHeader: 4, source: COA, destination: HA, icmpType: 8, identifier: 0x3519 });

      const visitors = spawnSync(process.execPath, ['bin/mip4.js', 'visitors', '--socket', socket], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
      expect(visitors.status, visitors.stderr).toBe(0);
      expect(visitors.stdout).toMatch(/198\.51\.100\.10\s+registered.*T direct UDP 2s/);

      capture.child.kill('SIGINT');
      await until(() => capture.child.exitCode !== null, 'tshark to stop', 10_000, capture.out);
      const fields = (filter: string, ...names: string[]) => {
        const r = spawnSync('tshark', ['-r', pcap, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])], { encoding: 'utf8', timeout: 20_000, env: captureToolEnv() });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout.trim().split('\n').filter((l) => l !== '');
      };
      // The agent's extension: F clear, R clear, encapsulation 4; the home agent's: code 0, keepalive 2.
      expect(fields('mip.ext.utrq.encaptype', 'mip.ext.utrq.f', 'mip.ext.utrq.r', 'mip.ext.utrq.encaptype')[0]).toMatch(/^(False|0)\t(False|0)\t4$/);
      expect(fields('mip.ext.utrp.code', 'mip.ext.utrp.code', 'mip.ext.utrp.keepalive')[0]).toBe('0\t2');
      // Tunnel data both ways: next header 4, an inner IPv4 datagram tshark decodes.
      const data = fields('mip.nattt.nexthdr', 'ip.src', 'ip.dst');
      expect(data.some((l) => l.startsWith(`${NAT_OUTSIDE},${HOME}\t`) || l.includes(`${NAT_OUTSIDE},${HOME}`))).toBe(true);
      expect(data.some((l) => l.includes(`${HA},198.51.100.77`))).toBe(true);

      for (const peer of [visitor, ha]) peer.stop();
      fa.child.kill('SIGTERM');
      await until(() => fa.child.exitCode !== null, 'the agent to stop', 10_000, fa.out);
    },
    90_000,
  );
});
