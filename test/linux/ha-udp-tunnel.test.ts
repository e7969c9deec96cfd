/**
 * The home agent's UDP tunnels (RFC 3519) on real Linux interfaces, through a real nftables
 * masquerade, in network namespaces this file creates:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): startHomeAgent with its Linux data path
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *                      NAT (nat) 203.0.113.7 ── 203.0.113.1 ┘
 *                      masquerade
 *   mobile node (mn) 192.0.2.130 ── 192.0.2.129 (192.0.2.128/25, private behind the NAT)
 *
 * The node (a python3 script: a signed Registration Request with the UDP Tunnel Request
 * extension, then tunnel data messages) registers from behind the NAT with its private
 * co-located address; the agent sees the NAT's address and port, tunnels the correspondent's
 * datagrams for the home address in UDP from port 434 to it (tshark decodes IP inside UDP 434),
 * takes the node's tunnel data apart to the correspondent, and follows the node to a new NAT
 * port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { captureToolEnv, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, titled, type PeerEvent } from './netns.js';
import { writePrivateFile } from '../support/files.js';

// apt: python3 (the node), nftables (the NAT), tshark (the wire check).
const skip = linuxSkipReason({ tun: true }) ?? missingTools('python3', 'nft', 'tshark');
const pid = process.pid;
const NS = { cn: `mip4-udha-${pid}-cn`, ha: `mip4-udha-${pid}-ha`, hl: `mip4-udha-${pid}-hl`, nat: `mip4-udha-${pid}-nat`, mn: `mip4-udha-${pid}-mn` };
const IF = { cn: `udc${pid}`, haUp: `udu${pid}`, home: `udh${pid}`, hl: `udl${pid}`, haOut: `udf${pid}`, natOut: `udo${pid}`, natIn: `udi${pid}`, mn: `udm${pid}` };
const TUN = `udt${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const PRIVATE_COA = '192.0.2.130'; // behind the NAT: the correspondent's link is 192.0.2.0/25, this one 192.0.2.128/25
const NAT_ADDRESS = '203.0.113.7';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STARTUP_MS = 45_000;
const CN_PORT = 9999;
const NODE_APP_PORT = 7777;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-ha-udp-')) : '';
let ha: Peer;

/**
 * python3, the mobile node behind the NAT, one action per run on UDP port argv[2]:
 *   register PORT            a signed Request (D, T, UDP Tunnel Request extension before the MHAE); prints the Reply
 *   await PORT SECONDS       prints the first datagram: sender, port, its first 4 bytes, the inner UDP payload
 *   send PORT TEXT           a tunnel data message: inner UDP home address:7777 → cn:9999 carrying TEXT
 *   keepalive PORT           an ICMP Echo Request to the agent as tunnel data
 */
const NODE = `
import hmac, hashlib, json, socket, struct, sys, time
action, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${PRIVATE_COA}', port))
def checksum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ipv4(src, dst, proto, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 9, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', checksum(h)) + h[12:] + payload
if action == 'register':
    now = time.time() + 2208988800
    ident = struct.pack('!II', int(now), int((now % 1) * 2**32))
    fixed = struct.pack('!BBH4s4s4s', 1, 0x22, 600, socket.inet_aton('${HOME_ADDRESS}'), socket.inet_aton('198.51.100.1'), socket.inet_aton('${PRIVATE_COA}')) + ident
    udp_tunnel_request = bytes([144, 6, 0, 0, 0, 4, 0, 0])
    covered = fixed + udp_tunnel_request + bytes([32, 20]) + struct.pack('!I', 4096)
    request = covered + hmac.new(bytes.fromhex('${KEY}'), covered, hashlib.md5).digest()
    s.sendto(request, ('198.51.100.1', 434))
    s.settimeout(5)
    reply, _ = s.recvfrom(2048)
    print(json.dumps({'event': 'reply', 'type': reply[0], 'code': reply[1], 'extension': list(reply[20:28])}), flush=True)
elif action == 'await':
    s.settimeout(float(sys.argv[3]))
    data, (src, sport) = s.recvfrom(4096)
    inner = data[4:]
    ihl = (inner[0] & 15) * 4
    print(json.dumps({'event': 'tunnel-data', 'from': src, 'port': sport, 'header': list(data[:4]), 'innerSource': socket.inet_ntoa(inner[12:16]), 'text': inner[ihl + 8:].decode(errors='replace')}), flush=True)
elif action == 'keepalive':
    # RFC 3519's keepalive: an ICMP Echo Request from the home address to the home agent, as tunnel data.
    echo = bytearray(struct.pack('!BBHHH', 8, 0, 0, 0x3519, 1) + b'keepalive')
    echo[2:4] = struct.pack('!H', checksum(bytes(echo)))
    s.sendto(bytes([4, 4, 0, 0]) + ipv4('${HOME_ADDRESS}', '198.51.100.1', 1, bytes(echo)), ('198.51.100.1', 434))
elif action == 'send':
    text = sys.argv[3].encode()
    udp = struct.pack('!HHHH', ${NODE_APP_PORT}, ${CN_PORT}, 8 + len(text), 0) + text
    s.sendto(bytes([4, 4, 0, 0]) + ipv4('${HOME_ADDRESS}', '192.0.2.2', 17, udp), ('198.51.100.1', 434))
`;

/** python3 in the correspondent: prints each UDP datagram on CN_PORT as "source text" until the timeout. */
const RECEIVE = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', ${CN_PORT}))
s.settimeout(float(sys.argv[1]))
try:
    while True:
        data, (src, _) = s.recvfrom(2048)
        print(src, data.decode(), flush=True)
except socket.timeout:
    pass
`;

const SEND_TO_NODE = `
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ('${HOME_ADDRESS}', ${NODE_APP_PORT}))
`;

function node(...args: string[]): PeerEvent {
  const run = inNamespace(NS.mn, 'python3', ['-c', NODE, ...args], 10_000);
  expect(run.status, run.stderr).toBe(0);
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  return (last === '' ? { event: 'sent' } : JSON.parse(last)) as PeerEvent;
}

/** Runs `command` in `namespace` in the background; resolves with its stdout when it exits. */
function background(namespace: string, command: string, args: string[]): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: captureToolEnv() });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve) => child.on('exit', () => resolve(out || err)));
}

async function snapshot(): Promise<{ plane: Record<string, number>; path: Record<string, number> }> {
  const mark = ha.events.length;
  ha.tell('snapshot');
  const event = await ha.waitUntil((e: PeerEvent) => ha.events.indexOf(e) >= mark && e.event === 'snapshot', 'a snapshot', 8_000);
  return event as unknown as { plane: Record<string, number>; path: Record<string, number> };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  if (skip !== undefined) return;
  for (const name of Object.values(NS)) namespaces.add(name);
  namespaces.veth({ ns: NS.cn, name: IF.cn, cidr: '192.0.2.2/25' }, { ns: NS.ha, name: IF.haUp, cidr: '192.0.2.1/25' });
  namespaces.veth({ ns: NS.ha, name: IF.home, cidr: '198.51.100.1/24' }, { ns: NS.hl, name: IF.hl, cidr: '198.51.100.2/24' });
  namespaces.veth({ ns: NS.ha, name: IF.haOut, cidr: '203.0.113.1/24' }, { ns: NS.nat, name: IF.natOut, cidr: `${NAT_ADDRESS}/24` });
  namespaces.veth({ ns: NS.nat, name: IF.natIn, cidr: '192.0.2.129/25' }, { ns: NS.mn, name: IF.mn, cidr: `${PRIVATE_COA}/25` });
  ip('-n', NS.cn, 'route', 'add', 'default', 'via', '192.0.2.1');
  ip('-n', NS.hl, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', NS.nat, 'route', 'add', 'default', 'via', '203.0.113.1');
  ip('-n', NS.mn, 'route', 'add', 'default', 'via', '192.0.2.129');
  for (const ns of [NS.ha, NS.nat]) expect(inNamespace(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).status).toBe(0);
  // The NAT: masquerade everything leaving toward the home agent (nftables, as a home router does).
  for (const command of [
    ['add', 'table', 'ip', 'mip4nat'],
    ['add', 'chain', 'ip', 'mip4nat', 'post', '{ type nat hook postrouting priority 100 ; }'],
    ['add', 'rule', 'ip', 'mip4nat', 'post', 'oifname', IF.natOut, 'masquerade'],
  ]) {
    const loaded = inNamespace(NS.nat, 'nft', command);
    expect(loaded.status, loaded.stderr).toBe(0);
  }

  const configPath = join(tempDir, 'ha.json');
  writePrivateFile(
    configPath,
    JSON.stringify({
      homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'], reverseTunnel: 'allowed', udpTunnel: 'allowed', udpKeepaliveInterval: 20 },
      mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
      dataPath: { homeInterface: IF.home, tunnelDevice: TUN, engine: 'userspace' },
    }),
  );
  ha = new Peer(NS.ha, 'ha', [configPath], [], 'test/linux/ha-peer.ts');
  peers.push(ha);
  await ha.waitFor('ready', STARTUP_MS);
}, STARTUP_MS + 20_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('home agent UDP tunnels through a NAT on Linux (namespaces, nftables masquerade)', () => {
  it.skipIf(skip !== undefined)(
    titled('registers from behind the NAT: accepted with the UDP Tunnel Reply (code 0, keepalive 20 s) before the MHAE', skip),
    async () => {
      expect(node('register', '40001')).toMatchObject({ event: 'reply', type: 3, code: 0, extension: [44, 6, 0, 0, 0, 0, 0, 20] });
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled("tunnels the correspondent's datagram in UDP from 434 to the NAT's port (tshark: IP inside UDP 434), and the node's tunnel data reaches the correspondent", skip),
    async () => {
      const wire = background(NS.ha, 'tshark', ['-i', IF.haOut, '-a', 'duration:10', '-c', '1', '-f', 'udp src port 434 and udp[8] = 4', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport']);
      const arrived = background(NS.mn, 'python3', ['-c', NODE, 'await', '40001', '8']);
      await pause(3_000);
      expect(inNamespace(NS.cn, 'python3', ['-c', SEND_TO_NODE, 'to the node']).status).toBe(0);
      const seen = JSON.parse((await arrived).trim()) as PeerEvent;
      expect(seen).toMatchObject({ event: 'tunnel-data', from: '198.51.100.1', port: 434, header: [4, 4, 0, 0], innerSource: '192.0.2.2', text: 'to the node' });
      // Outer 198.51.100.1 → the NAT, inner 192.0.2.2 → the home address: tshark reads the IP header inside UDP 434.
      expect((await wire).trim()).toMatch(new RegExp(`^198\\.51\\.100\\.1,192\\.0\\.2\\.2\\s+${NAT_ADDRESS.replaceAll('.', '\\.')},${HOME_ADDRESS.replaceAll('.', '\\.')}\\s+434`));

      const received = background(NS.cn, 'python3', ['-c', RECEIVE, '3']);
      await pause(500);
      node('send', '40001', 'from the node');
      expect(await received).toContain(`${HOME_ADDRESS} from the node`);
      const counters = await snapshot();
      expect(counters.plane['udp-tunnelled']).toBeGreaterThanOrEqual(1);
      expect(counters.plane['udp-decapsulated']).toBe(1);
      expect(counters.path['udpTunnelReceived']).toBe(1);
      // Sent through the registration socket (sendmmsg), not the raw socket.
      expect(counters.path['udpTunnelSent']).toBeGreaterThanOrEqual(1);
      expect(counters.path['udpTunnelSendBatches']).toBeGreaterThanOrEqual(1);
      expect(counters.path['tunnelSent']).toBe(0);
    },
    30_000,
  );

  it.skipIf(skip !== undefined)(
    titled('a keepalive (ICMP Echo Request to the agent in tunnel data) from a new NAT port is counted and moves the binding there', skip),
    async () => {
      node('keepalive', '40003');
      await pause(500);
      expect((await snapshot()).plane['udp-keepalive']).toBe(1);
      const arrived = background(NS.mn, 'python3', ['-c', NODE, 'await', '40003', '6']);
      await pause(1_500);
      expect(inNamespace(NS.cn, 'python3', ['-c', SEND_TO_NODE, 'after the keepalive']).status).toBe(0);
      expect(JSON.parse((await arrived).trim())).toMatchObject({ event: 'tunnel-data', text: 'after the keepalive' });
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('follows the node to a new NAT port (a new flow through the NAT, as after it lost the mapping): tunnel data from there moves the binding', skip),
    async () => {
      const received = background(NS.cn, 'python3', ['-c', RECEIVE, '3']);
      await pause(500);
      node('send', '40002', 'after rebinding');
      expect(await received).toContain(`${HOME_ADDRESS} after rebinding`);
      const arrived = background(NS.mn, 'python3', ['-c', NODE, 'await', '40002', '6']);
      await pause(1_500);
      expect(inNamespace(NS.cn, 'python3', ['-c', SEND_TO_NODE, 'to the new port']).status).toBe(0);
      expect(JSON.parse((await arrived).trim())).toMatchObject({ event: 'tunnel-data', text: 'to the new port' });
    },
    30_000,
  );
});
