/**
 * The foreign agent's visitor link reads wire-sized frames with complete checksums (native
 * reader with PACKET_VNET_HDR, runtime/fa reverseTunnelFrame), end to end with real daemons:
 * `mip4 lab` (runtime/cli/lab) in namespaces this file makes and removes, reverse tunnelling
 * asked for, every daemon on the userspace engine (this is the userspace plane's reader; with
 * bpf the kernel tunnels these frames, test/linux/fa-bpf-engine.test.ts), the mobile node moved
 * behind FA1:
 *
 *   mn (198.51.100.10, a veth into a bridge: TSO, GSO and checksum offload on, the defaults)
 *     ── FA1 203.0.113.2 ══ IP in IP (RFC 3024) ══ HA 198.51.100.2 ── router ── CH 192.0.2.10
 *
 * The mobile node's kernel leaves UDP/TCP checksums partial and hands TCP (and UDP_SEGMENT
 * sends) over as GSO super-frames; before the fix the FA tunnelled them as they were. Checked:
 * on FA1's link, every tunnel packet it sends is at most the MTU and its inner UDP/TCP checksum
 * verifies (python3 sniffer, own checksum code); at the correspondent every datagram arrives,
 * the TCP stream of 1 MiB complete (byte count + SHA-256); FA1's `mip4 traffic` shows the
 * super-frames segmented and the checksums completed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, linuxSkipReason, missingTools, ROOT, titled } from './netns.js';

// python3 (apt: python3) sends, receives and sniffs.
const skip = linuxSkipReason() ?? missingTools('python3');
const NAME = `go${process.pid % 1_000_000}`;
const NS = { mn: `m4lab-${NAME}-mn`, fa1: `m4lab-${NAME}-fa1`, ch: `m4lab-${NAME}-ch` };
const MTU = 1500;
let stateDir = '';
const children = new Set<ChildProcess>();

function lab(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'mip4.js'), 'lab', ...args, '--name', NAME, '--state-dir', stateDir], { encoding: 'utf8', timeout: 180_000, cwd: ROOT });
}

/** A python3 script in a namespace; resolves with its stdout's JSON lines once it prints `ready`, and at exit. */
function python(namespace: string, script: string): { ready: Promise<void>; done: Promise<Record<string, unknown>>; child: ChildProcess } {
  const child = spawn('ip', ['netns', 'exec', namespace, 'python3', '-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('ready\n')) readyResolve();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const done = new Promise<Record<string, unknown>>((resolve, reject) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      readyResolve();
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`python3 in ${namespace} exited ${code}: ${out}${err}`));
      }
    }),
  );
  return { ready, done, child };
}

/** Shared by the scripts: RFC 1071 and the TCP/UDP pseudo-header. */
const CHECKSUM = `
import socket, struct, hashlib, json, select, sys, time
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def transport_ok(ip):
    ihl = (ip[0] & 15) * 4; total = struct.unpack('!H', ip[2:4])[0]; seg = ip[ihl:total]
    if ip[9] == 17 and seg[6:8] == b'\\0\\0': return False  # no checksum: not what the node sent
    return csum(ip[12:20] + struct.pack('!BBH', 0, ip[9], len(seg)) + seg) == 0
`;

/** FA1's link: each IP-in-IP packet FA1 sends from its care-of address to the home agent. Stops when stdin closes. */
const SNIFFER = `${CHECKSUM}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind(('eth0', 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
care_of, home_agent, home = socket.inet_aton('203.0.113.2'), socket.inet_aton('198.51.100.2'), socket.inet_aton('198.51.100.10')
r = {'tunnels': 0, 'maxLength': 0, 'udp': 0, 'tcp': 0, 'tcpBytes': 0, 'badChecksums': 0}
print('ready', flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    # Stop once told to and nothing is left queued: a slow reader still counts every frame.
    if sys.stdin in ready and s not in ready: break
    if s not in ready: continue
    frame, address = s.recvfrom(70000)
    if address[2] != socket.PACKET_OUTGOING or frame[12:14] != b'\\x08\\x00': continue
    outer = frame[14:]
    if outer[9] != 4 or outer[12:16] != care_of or outer[16:20] != home_agent: continue
    inner = outer[(outer[0] & 15) * 4:]
    if inner[12:16] != home or inner[9] not in (6, 17): continue
    r['tunnels'] += 1; r['maxLength'] = max(r['maxLength'], len(outer))
    total = struct.unpack('!H', inner[2:4])[0]
    if inner[9] == 17: r['udp'] += 1
    else: r['tcp'] += 1; r['tcpBytes'] += total - (inner[0] & 15) * 4 - (inner[(inner[0] & 15) * 4 + 12] >> 4) * 4
    if not transport_ok(inner): r['badChecksums'] += 1
print(json.dumps(r), flush=True)
`;

/** The correspondent: UDP datagrams to 9001 (counted by size), one TCP stream to 9002 (bytes, hash). */
const RECEIVER = `${CHECKSUM}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.10', 9001))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('192.0.2.10', 9002)); t.listen(1)
print('ready', flush=True)
sizes, h, n, conn, closed = [], hashlib.sha256(), 0, None, False
deadline = time.time() + 60
while time.time() < deadline and not (closed and len(sizes) >= 25):
    ready, _, _ = select.select([u, t] + ([conn] if conn and not closed else []), [], [], 0.5)
    for x in ready:
        if x is u: sizes.append(len(u.recv(65536)))
        elif x is t: conn, _ = t.accept()
        else:
            d = conn.recv(65536)
            if d: h.update(d); n += len(d)
            else: closed = True
print(json.dumps({'udpSizes': sorted(sizes), 'tcpBytes': n, 'tcpSha256': h.hexdigest(), 'tcpClosed': closed}), flush=True)
`;

/** The mobile node: 20 plain UDP datagrams, one UDP_SEGMENT send of 4096 bytes in 1000-byte datagrams, 1 MiB of TCP. */
const SENDER = `${CHECKSUM}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20): u.sendto(bytes([i]) * (1 + i * 73), ('192.0.2.10', 9001)); time.sleep(0.005)
g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); g.setsockopt(socket.SOL_UDP, 103, 1000)  # UDP_SEGMENT
g.sendto(bytes(range(256)) * 16, ('192.0.2.10', 9001))
data = bytes((i * 7 + (i >> 10)) & 0xff for i in range(1 << 20))
t = socket.create_connection(('192.0.2.10', 9002), timeout=30); t.sendall(data); t.shutdown(socket.SHUT_WR)
t.settimeout(30); t.recv(1); t.close()
print(json.dumps({'tcpBytes': len(data), 'tcpSha256': hashlib.sha256(data).hexdigest()}), flush=True)
`;

describe("the FA's visitor link with offloads: a 'T' visitor's UDP and TCP through the reverse tunnel (mip4 lab, namespaces)", { timeout: 240_000 }, () => {
  beforeAll(() => {
    if (skip !== undefined) return;
    ensureBuilt();
    stateDir = mkdtempSync(join(tmpdir(), 'mip4-fa-offload-'));
    const up = lab('up', '--reverse-tunnel', '--engine', 'userspace');
    if (up.status !== 0) throw new Error(`mip4 lab up failed: ${up.stdout}${up.stderr}`);
    const moved = lab('move', 'mn', 'fa1');
    if (moved.status !== 0) throw new Error(`mip4 lab move failed: ${moved.stdout}${moved.stderr}`);
  }, 200_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    if (skip === undefined && stateDir !== '') {
      lab('down');
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 120_000);

  it.skipIf(skip !== undefined)(
    titled("every tunnel packet FA1 sends is at most the MTU with a valid inner checksum; the correspondent gets every UDP datagram (plain and UDP_SEGMENT) and the 1 MiB TCP stream intact", skip),
    async () => {
      // Registered through FA1 with 'T' granted (the lab's configs ask for it).
      const deadline = Date.now() + 30_000;
      let state: { mnState?: Record<string, string> } = {};
      while (Date.now() < deadline) {
        state = JSON.parse(lab('status', '--json').stdout) as typeof state;
        if (state.mnState?.registration === 'registered' && state.mnState?.agent === '203.0.113.2') break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(state.mnState).toMatchObject({ registration: 'registered', agent: '203.0.113.2', careOfAddress: '203.0.113.2' });
      const sniffer = python(NS.fa1, SNIFFER);
      const receiver = python(NS.ch, RECEIVER);
      await Promise.all([sniffer.ready, receiver.ready]);
      const sender = python(NS.mn, SENDER);
      const sent = await sender.done;
      const received = await receiver.done;
      sniffer.child.stdin!.end();
      const tunnels = await sniffer.done;

      const plainSizes = Array.from({ length: 20 }, (_, i) => 1 + i * 73);
      expect(received.udpSizes).toStrictEqual([...plainSizes, 1000, 1000, 1000, 1000, 96].sort((a, b) => a - b));
      expect(received).toMatchObject({ tcpBytes: sent.tcpBytes, tcpSha256: sent.tcpSha256, tcpClosed: true });
      expect(tunnels.badChecksums).toBe(0);
      expect(tunnels.udp).toBe(25);
      expect(tunnels.tcpBytes as number).toBeGreaterThanOrEqual(1 << 20);
      expect(tunnels.maxLength as number).toBeLessThanOrEqual(MTU);
      expect(tunnels.maxLength as number).toBeGreaterThan(MTU - 100); // TCP filled the MTU: segments, not a trickle
      // The node's kernel did hand over super-frames and partial checksums (the offloads are on,
      // the veth default), and FA1's reader undid them: \`mip4 traffic\` on FA1 says so.
      const traffic = spawnSync(process.execPath, [join(ROOT, 'bin', 'mip4.js'), 'traffic', '--json', '--socket', join(stateDir, NAME, 'fa1.sock')], { encoding: 'utf8', timeout: 15_000 });
      expect(traffic.status, traffic.stderr).toBe(0);
      const offloads = (JSON.parse(traffic.stdout) as { visitorLinkOffloads?: Record<string, number> }).visitorLinkOffloads;
      expect(offloads?.superPackets).toBeGreaterThan(0);
      expect(offloads?.segments).toBeGreaterThan(offloads!.superPackets!);
      expect(offloads?.checksumsCompleted).toBeGreaterThan(0);
    },
  );
});
