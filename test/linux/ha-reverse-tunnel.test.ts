/**
 * Reverse tunnels at the home agent on real Linux interfaces (R4.2.3-7, RFC 3024), in network
 * namespaces this file creates:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): TUN device, raw sockets for protocols 4/47/55
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   "foreign agent" (fa) 203.0.113.2, .3 ── 203.0.113.1 ┘
 *
 * The mobile node 198.51.100.10 registers from 203.0.113.2 (test/linux/ha-peer.ts "coa"); the
 * "foreign agent" namespace then sends IP-in-IP packets to the home agent with python3's raw
 * socket: from the care-of address the inner datagram reaches the correspondent; from .3 it is
 * dropped and counted by the plane.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, titled, type PeerEvent } from './netns.js';
import { writePrivateFile } from '../support/files.js';

// python3 (apt: python3) crafts the tunnel packets; node-gyp needs it anyway.
const skip = linuxSkipReason({ tun: true }) ?? missingTools('python3');
const pid = process.pid;
const NS = { cn: `mip4-rtha-${pid}-cn`, ha: `mip4-rtha-${pid}-ha`, hl: `mip4-rtha-${pid}-hl`, fa: `mip4-rtha-${pid}-fa` };
const IF = { cn: `rtc${pid}`, haUp: `rtu${pid}`, home: `rth${pid}`, hl: `rtl${pid}`, haOut: `rtf${pid}`, fa: `rto${pid}` };
const TUN = `rtt${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const CARE_OF = '203.0.113.2';
const OTHER_SOURCE = '203.0.113.3';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const SCRIPT = 'test/linux/ha-peer.ts';
const STARTUP_MS = 45_000;
const PORT = 9999;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-ha-reverse-')) : '';
let ha: Peer;
let fa: Peer;

/** python3: an IP-in-IP packet outerSource → 198.51.100.1 around a UDP datagram home address → cn:PORT carrying `text`. */
const SEND_TUNNEL = `
import socket, struct, sys
def checksum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def header(src, dst, proto, payload_len, ttl):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, 7, 0, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', checksum(h)) + h[12:]
outer_src, text = sys.argv[1], sys.argv[2].encode()
udp = struct.pack('!HHHH', 4000, ${PORT}, 8 + len(text), 0) + text
inner = header('${HOME_ADDRESS}', '192.0.2.2', 17, len(udp), 64) + udp
packet = header(outer_src, '198.51.100.1', 4, len(inner), 64) + inner
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
s.sendto(packet, ('198.51.100.1', 0))
`;

/** python3 in the correspondent: prints each UDP datagram on PORT as "source text" until the timeout. */
const RECEIVE = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', ${PORT}))
s.settimeout(float(sys.argv[1]))
try:
    while True:
        data, (src, _) = s.recvfrom(2048)
        print(src, data.decode(), flush=True)
except socket.timeout:
    pass
`;

function sendTunnel(outerSource: string, text: string): void {
  const sent = inNamespace(NS.fa, 'python3', ['-c', SEND_TUNNEL, outerSource, text]);
  expect(sent.status, sent.stderr).toBe(0);
}

/** Starts the correspondent's receiver; resolves with what it printed after `seconds`. */
function receiveAtCorrespondent(seconds: number): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', NS.cn, 'python3', '-c', RECEIVE, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.on('exit', () => resolve(out)));
}

async function snapshot(): Promise<{ plane: Record<string, number>; linux: Record<string, number> }> {
  const mark = ha.events.length;
  ha.tell('snapshot');
  const event = await ha.waitUntil((e: PeerEvent) => ha.events.indexOf(e) >= mark && e.event === 'snapshot', 'a snapshot', 8_000);
  return event as unknown as { plane: Record<string, number>; linux: Record<string, number> };
}

beforeAll(async () => {
  if (skip !== undefined) return;
  for (const name of Object.values(NS)) namespaces.add(name);
  namespaces.veth({ ns: NS.cn, name: IF.cn, cidr: '192.0.2.2/24' }, { ns: NS.ha, name: IF.haUp, cidr: '192.0.2.1/24' });
  namespaces.veth({ ns: NS.ha, name: IF.home, cidr: '198.51.100.1/24' }, { ns: NS.hl, name: IF.hl, cidr: '198.51.100.2/24' });
  namespaces.veth({ ns: NS.ha, name: IF.haOut, cidr: '203.0.113.1/24' }, { ns: NS.fa, name: IF.fa, cidr: `${CARE_OF}/24` });
  ip('-n', NS.fa, 'addr', 'add', `${OTHER_SOURCE}/24`, 'dev', IF.fa);
  ip('-n', NS.cn, 'route', 'add', 'default', 'via', '192.0.2.1');
  ip('-n', NS.hl, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', NS.fa, 'route', 'add', 'default', 'via', '203.0.113.1');
  expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).status).toBe(0);
  // Strict reverse-path filtering everywhere on the home agent: the decapsulated datagram enters
  // through the TUN device, where its home-address source routes back (docs/operations.md).
  expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']).status).toBe(0);
  expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.conf.default.rp_filter=1']).status).toBe(0);

  const configPath = join(tempDir, 'ha.json');
  writePrivateFile(
    configPath,
    JSON.stringify({
      homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'], reverseTunnel: 'allowed' },
      mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
      dataPath: { homeInterface: IF.home, tunnelDevice: TUN, engine: 'userspace' },
    }),
  );
  ha = new Peer(NS.ha, 'ha', [configPath], [], SCRIPT);
  fa = new Peer(NS.fa, 'coa', ['198.51.100.1', CARE_OF, HOME_ADDRESS, '4096', KEY], [], SCRIPT);
  peers.push(ha, fa);
  await Promise.all([ha.waitFor('ready', STARTUP_MS), fa.waitFor('ready', STARTUP_MS)]);
  const mark = fa.events.length;
  fa.tell('register 600');
  const reply = await fa.waitUntil((e: PeerEvent) => fa.events.indexOf(e) >= mark && (e.event === 'registered' || e.event === 'no-reply'), 'a registration reply', 8_000);
  expect(reply).toMatchObject({ event: 'registered', code: 0 });
}, STARTUP_MS + 20_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('home agent decapsulation on Linux (namespaces)', () => {
  it.skipIf(skip !== undefined)(
    titled('[R4.2.3-7] an IP-in-IP packet from the registered care-of address is decapsulated and its datagram reaches the correspondent from the home address', skip),
    async () => {
      const received = receiveAtCorrespondent(3);
      await new Promise((r) => setTimeout(r, 500));
      sendTunnel(CARE_OF, 'mip4 reverse tunnel');
      expect(await received).toContain(`${HOME_ADDRESS} mip4 reverse tunnel`);
      const counters = await snapshot();
      expect(counters.plane['decapsulated']).toBe(1);
      expect(counters.linux['tunnelsReceived']).toBe(1);
      expect(counters.linux['routedIntoTun']).toBe(1);
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('[R4.2.3-7] the same packet from another outer source is dropped and counted; nothing reaches the correspondent', skip),
    async () => {
      const received = receiveAtCorrespondent(3);
      await new Promise((r) => setTimeout(r, 500));
      sendTunnel(OTHER_SOURCE, 'mip4 spoofed tunnel');
      expect(await received).toBe('');
      const counters = await snapshot();
      expect(counters.plane['decapsulation-wrong-care-of-address']).toBe(1);
      expect(counters.plane['decapsulated']).toBe(1);
    },
    20_000,
  );
});
