/**
 * `mip4 ha` on the bpf engine (issue 17, docs/kernel-fast-path.md "The home agent"), a real
 * daemon in network namespaces this file creates:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): TUN device, ha_encap + decap at tc ingress
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   care-of host (coa) 203.0.113.2, .3 ── 203.0.113.1 ┘
 *
 * The node 198.51.100.10 registers co-located from 203.0.113.2 (test/linux/ha-peer.ts "coa",
 * which reports every tunnel packet it receives). The correspondent's route MTU is 1480, as a
 * sender learns it through a tunnel. The daemon runs with `ip netns exec` as the other HA tests
 * do: its pins live in that process's own bpffs (/sys is remounted), the filters in the namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureToolEnv, ensureBuilt, inNamespace, ip, missingTools, Namespaces, Peer, ROOT, titled, type PeerEvent } from './netns.js';
import { bpfSkipReason } from './bpf-support.js';
import { writePrivateFile } from '../support/files.js';
import { promtoolCheck, promtoolMissing, textSamples } from '../support/exposition.js';

// tshark (apt: tshark) reads the tunnel on the wire; python3 crafts reverse tunnels; setpriv (util-linux) drops CAP_BPF.
const skip = bpfSkipReason() ?? missingTools('tshark', 'python3', 'setpriv', 'ping');
const pid = process.pid;
const NS = { cn: `m4hb-${pid}-cn`, ha: `m4hb-${pid}-ha`, hl: `m4hb-${pid}-hl`, coa: `m4hb-${pid}-coa` };
const IF = { cn: `hbc${pid}`, haUp: `hbu${pid}`, home: `hbh${pid}`, hl: `hbl${pid}`, haOut: `hbf${pid}`, coa: `hbo${pid}` };
const TUN = `hbt${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const CARE_OF = '203.0.113.2';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STARTUP_MS = 45_000;
const PORT = 9999;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-ha-bpf-')) : '';
let coa: Peer;
let daemons = 0;
/** The bpf engine's /metrics scrape, for promtool below. */
let scrapedOnBpf = '';

interface Status {
  dataPath: {
    engine: string;
    engineReason: string;
    bpf?: { bindingsSet: number; bindingsDeleted: number; reverseSourcesSet: number; programs: { haEncap: Record<string, number>; decap: Record<string, number> } };
  };
}

function configFile(engine: string, extra: Record<string, unknown> = {}): { path: string; socket: string } {
  const n = daemons++;
  const path = join(tempDir, `ha-${n}.json`);
  const socket = join(tempDir, `ha-${n}.sock`);
  writePrivateFile(
    path,
    JSON.stringify({
      homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'] },
      mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
      dataPath: { homeInterface: IF.home, tunnelDevice: TUN, engine, ...extra },
      control: { socket },
      metrics: { listen: '127.0.0.1:0' },
      store: 'none',
    }),
  );
  return { path, socket };
}

function daemon(configPath: string, prefix: string[] = []): Peer {
  const child = new Peer(NS.ha, '', [], [], '', [...prefix, process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', configPath]);
  peers.push(child);
  return child;
}

function status(socket: string): Status {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/mip4.js'), 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Status;
}

function traffic(socket: string): { dataPath: { plane: Record<string, number> } } {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/mip4.js'), 'traffic', '--json', '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { dataPath: { plane: Record<string, number> } };
}

const planeCount = (socket: string, name: string) => traffic(socket).dataPath.plane[name] ?? 0;

/** Removes what a test's killed daemon left attached, so the next test starts clean. */
function removeFilters(): void {
  for (const device of [IF.haUp, IF.home, IF.haOut]) spawnSync('tc', ['-n', NS.ha, 'filter', 'del', 'dev', device, 'ingress'], { timeout: 10_000 });
}

/** tc's filters at the device's ingress (empty without any; no clsact counts as none). */
function filters(device: string): string {
  return spawnSync('tc', ['-n', NS.ha, 'filter', 'show', 'dev', device, 'ingress'], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
}

async function register(flags = '', lifetime = 600): Promise<void> {
  const mark = coa.events.length;
  coa.tell(`register ${lifetime} ${flags}`.trim());
  const reply = await coa.waitUntil((e: PeerEvent) => coa.events.indexOf(e) >= mark && (e.event === 'registered' || e.event === 'no-reply'), 'a registration reply', 8_000);
  expect(reply).toMatchObject({ event: 'registered', code: 0 });
}

/** A UDP datagram from the correspondent to the home address; resolves with the tunnel packet the care-of host reports, or undefined. */
async function probe(text: string, waitMs = 3_000): Promise<PeerEvent | undefined> {
  const mark = coa.events.length;
  expect(inNamespace(NS.cn, 'bash', ['-c', `printf '%s' '${text}' > /dev/udp/${HOME_ADDRESS}/9`]).status).toBe(0);
  const hex = Buffer.from(text).toString('hex');
  try {
    return await coa.waitUntil((e) => coa.events.indexOf(e) >= mark && e.event === 'tunnel' && String(e.payloadHex).endsWith(hex), `the tunnelled ${text}`, waitMs);
  } catch {
    return undefined;
  }
}

/** Captures tunnel packets on the care-of host's link while `act` runs; tshark's fields per frame. */
async function capture(act: () => Promise<unknown>, frames = 1): Promise<string[][]> {
  const file = join(tempDir, `coa-${Date.now()}.pcap`);
  const env = captureToolEnv();
  const tshark = spawn('ip', ['netns', 'exec', NS.coa, 'tshark', '-q', '-i', IF.coa, '-f', 'ip proto 4 or ip proto 47', '-a', 'duration:8', '-c', String(frames), '-w', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => tshark.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start: ${stderr}`)), 15_000);
    tshark.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('Capturing on')) {
        clearTimeout(timer);
        setTimeout(resolve, 500);
      }
    });
  });
  await act();
  await exited;
  const fields = ['ip.src', 'ip.dst', 'ip.proto', 'gre.proto', '_ws.malformed'];
  const read = spawnSync('ip', ['netns', 'exec', NS.coa, 'tshark', '-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    timeout: 20_000,
    env,
  });
  expect(read.status, read.stderr).toBe(0);
  return read.stdout.trim().split('\n').filter((line) => line !== '').map((line) => line.split('|'));
}

/** python3 in the care-of namespace: an IP-in-IP packet CARE_OF → 198.51.100.1 around UDP home address → cn:PORT. */
const SEND_TUNNEL = `
import socket, struct, sys
def checksum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def header(src, dst, proto, payload_len, ttl):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, 7, 0, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', checksum(h)) + h[12:]
text = sys.argv[1].encode()
udp = struct.pack('!HHHH', 4000, ${PORT}, 8 + len(text), 0) + text
inner = header('${HOME_ADDRESS}', '192.0.2.2', 17, len(udp), 64) + udp
packet = header('${CARE_OF}', '198.51.100.1', 4, len(inner), 64) + inner
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
s.sendto(packet, ('198.51.100.1', 0))
`;

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

function receiveAtCorrespondent(seconds: number): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', NS.cn, 'python3', '-c', RECEIVE, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.on('exit', () => resolve(out)));
}

function scrape(url: string): string {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (r.status !== 200) process.exit(3); process.stdout.write(await r.text()); }, () => process.exit(4))`;
  const run = inNamespace(NS.ha, process.execPath, ['-e', script], 15_000);
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

beforeAll(async () => {
  if (skip !== undefined) return;
  ensureBuilt();
  for (const name of Object.values(NS)) namespaces.add(name);
  namespaces.veth({ ns: NS.cn, name: IF.cn, cidr: '192.0.2.2/24' }, { ns: NS.ha, name: IF.haUp, cidr: '192.0.2.1/24' });
  namespaces.veth({ ns: NS.ha, name: IF.home, cidr: '198.51.100.1/24' }, { ns: NS.hl, name: IF.hl, cidr: '198.51.100.2/24' });
  namespaces.veth({ ns: NS.ha, name: IF.haOut, cidr: '203.0.113.1/24' }, { ns: NS.coa, name: IF.coa, cidr: `${CARE_OF}/24` });
  ip('-n', NS.cn, 'route', 'add', 'default', 'via', '192.0.2.1', 'mtu', '1480');
  ip('-n', NS.hl, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', NS.coa, 'route', 'add', 'default', 'via', '203.0.113.1');
  for (const setting of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1']) {
    expect(inNamespace(NS.ha, 'sysctl', ['-qw', setting]).status).toBe(0);
  }
  coa = new Peer(NS.coa, 'coa', ['198.51.100.1', CARE_OF, HOME_ADDRESS, '4096', KEY], [], 'test/linux/ha-peer.ts');
  peers.push(coa);
  await coa.waitFor('ready', STARTUP_MS);
}, STARTUP_MS + 120_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('mip4 ha with dataPath.engine (child process, in namespaces)', () => {
  it.skipIf(skip !== undefined)(
    titled('engine bpf: ha_encap tunnels IP in IP and GRE in the kernel (tshark: well-formed, right outer addresses), the userspace plane does not; minimal, TTL 1, oversize and a deregistered home take the userspace path; decap takes reverse tunnels; stop detaches', skip),
    async () => {
      const { path, socket } = configFile('bpf');
      const child = daemon(path);
      try {
        const up = await child.waitFor('data-path-up', STARTUP_MS);
        expect(up).toMatchObject({ engine: 'bpf', engineReason: 'dataPath.engine is bpf' });
        // The default interfaces: up, with an address, not lo, not the TUN device.
        expect(up.bpfInterfaces).toEqual([IF.haUp, IF.home, IF.haOut].sort());
        const listening = await child.waitFor('listening', STARTUP_MS);
        for (const device of [IF.haUp, IF.home, IF.haOut]) {
          // decap first (a lower priority number), then ha_encap.
          expect(filters(device)).toMatch(/pref 28723 bpf .*decap[\s\S]*pref 28724 bpf .*ha_encap/);
        }
        expect(filters(TUN)).toBe('');

        // IP in IP in the kernel, seen on the wire.
        await register();
        expect(status(socket).dataPath.bpf).toMatchObject({ bindingsSet: 1, reverseSourcesSet: 1 });
        let tunnelled: PeerEvent | undefined;
        const ipip = await capture(async () => (tunnelled = await probe('bpf ip in ip')));
        expect(tunnelled).toMatchObject({ protocol: 4, outerSource: '198.51.100.1', outerDestination: CARE_OF, innerSource: '192.0.2.2', innerDestination: HOME_ADDRESS });
        expect(ipip).toEqual([['198.51.100.1,192.0.2.2', `${CARE_OF},${HOME_ADDRESS}`, '4,17', '', '']]);
        let counters = status(socket).dataPath.bpf!.programs;
        expect(counters.haEncap['encapsulated']).toBe(1);
        expect(planeCount(socket, 'tunnelled')).toBe(0);

        // GRE: the renewal with G rewrites the entry.
        await register('G');
        const gre = await capture(async () => (tunnelled = await probe('bpf gre')));
        expect(tunnelled).toMatchObject({ protocol: 47, outerSource: '198.51.100.1', outerDestination: CARE_OF, innerDestination: HOME_ADDRESS });
        expect(gre).toHaveLength(1);
        expect(gre[0]!.slice(0, 3)).toEqual(['198.51.100.1,192.0.2.2', `${CARE_OF},${HOME_ADDRESS}`, '47,17']);
        expect(gre[0]![3]).toMatch(/^(0x0800|2048)$/);
        expect(gre[0]![4]).toBe('');
        expect(status(socket).dataPath.bpf!.programs.haEncap['encapsulated']).toBe(2);
        expect(planeCount(socket, 'tunnelled')).toBe(0);

        // TTL 1 passes to the stack: the Time Exceeded comes back to the correspondent.
        const ttl = inNamespace(NS.cn, 'ping', ['-c', '1', '-W', '2', '-t', '1', '-n', HOME_ADDRESS], 6_000);
        expect(ttl.stdout).toMatch(/Time to live exceeded/i);
        // Too big for the tunnel (1478 + 24 > the TUN MTU 1476): passed to the TUN, whose MTU answers.
        const big = inNamespace(NS.cn, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', '1450', '-n', HOME_ADDRESS], 6_000);
        expect(big.stdout).toMatch(/Frag(mentation)? needed.*mtu = 1476/i);
        counters = status(socket).dataPath.bpf!.programs;
        expect(counters.haEncap['passed-ttl']).toBeGreaterThanOrEqual(1);
        expect(counters.haEncap['passed-mtu']).toBeGreaterThanOrEqual(1);

        // Minimal encapsulation stays on the userspace plane, and still works.
        await register('M');
        tunnelled = await probe('userspace minimal');
        expect(tunnelled).toMatchObject({ protocol: 55, innerDestination: HOME_ADDRESS });
        expect(status(socket).dataPath.bpf!.programs.haEncap['encapsulated']).toBe(2);
        expect(planeCount(socket, 'tunnelled')).toBe(1);

        // Reverse tunnel (RFC 3024 5.5) taken apart by decap, routed to the correspondent through the TUN ingress (strict rp_filter).
        await register();
        const received = receiveAtCorrespondent(3);
        await new Promise((r) => setTimeout(r, 500));
        const sent = inNamespace(NS.coa, 'python3', ['-c', SEND_TUNNEL, 'bpf reverse tunnel']);
        expect(sent.status, sent.stderr).toBe(0);
        expect(await received).toContain(`${HOME_ADDRESS} bpf reverse tunnel`);
        counters = status(socket).dataPath.bpf!.programs;
        expect(counters.decap['delivered-home-agent']).toBe(1);
        expect(planeCount(socket, 'decapsulated')).toBe(0);

        // /metrics: the engine and the programs' counters.
        const metrics = scrape(String(listening.metrics));
        scrapedOnBpf = metrics;
        const samples = textSamples(metrics);
        expect(samples).toContainEqual(expect.objectContaining({ name: 'mip4_data_path_engine_info', labels: { engine: 'bpf' }, value: 1 }));
        expect(samples).toContainEqual(expect.objectContaining({ name: 'mip4_bpf_packets_total', labels: { program: 'ha_encap', reason: 'encapsulated' }, value: 2 }));
        expect(samples).toContainEqual(expect.objectContaining({ name: 'mip4_bpf_packets_total', labels: { program: 'decap', reason: 'delivered-home-agent' }, value: 1 }));

        // Deregistration removes the map entry: the datagram then goes the home way (no tunnel).
        await register('', 0);
        // The second removal: the first was the minimal-encapsulation renewal's.
        expect(status(socket).dataPath.bpf).toMatchObject({ bindingsDeleted: 2 });
        expect(await probe('after deregistration', 1_500)).toBeUndefined();
        expect(status(socket).dataPath.bpf!.programs.haEncap['encapsulated']).toBe(2);

        child.signal('SIGTERM');
        expect(await child.exit(20_000), child.stderrText).toBe(0);
        for (const device of [IF.haUp, IF.home, IF.haOut]) expect(filters(device)).toBe('');
      } finally {
        child.stop();
        await child.exit(20_000);
        removeFilters();
      }
    },
    STARTUP_MS + 90_000,
  );

  const promtoolSkip = skip ?? promtoolMissing();
  it.skipIf(promtoolSkip !== undefined)(titled('promtool check metrics passes the bpf engine\'s scrape (engine info, bpf packet and map error families)', promtoolSkip), () => {
    expect(scrapedOnBpf).toContain('mip4_bpf_packets_total');
    expect(promtoolCheck(scrapedOnBpf)).toEqual({ status: 0, output: '' });
  });

  it.skipIf(skip !== undefined)(
    titled('engine bpf, kill -9, restart: the restart replaces the crashed run\'s filters and restores nothing stale; its stop leaves no filter', skip),
    async () => {
      const { path } = configFile('bpf');
      const first = daemon(path);
      try {
        await first.waitFor('listening', STARTUP_MS);
        first.signal('SIGKILL');
        await first.exit();
        // The crashed run's filters are still attached.
        expect(filters(IF.haUp)).toContain('ha_encap');
      } finally {
        first.stop();
      }
      const second = daemon(path);
      try {
        await second.waitFor('listening', STARTUP_MS);
        const shown = filters(IF.haUp);
        expect(shown.match(/handle 0x6d69 ha_encap/g)).toHaveLength(1);
        expect(shown.match(/handle 0x6d69 decap/g)).toHaveLength(1);
        // Not registered in this run: the map starts empty, so the datagram is not tunnelled in the kernel.
        expect(await probe('after restart', 1_500)).toBeUndefined();
        second.signal('SIGTERM');
        expect(await second.exit(20_000), second.stderrText).toBe(0);
        for (const device of [IF.haUp, IF.home, IF.haOut]) expect(filters(device)).toBe('');
      } finally {
        second.stop();
        await second.exit(20_000);
        removeFilters();
      }
    },
    STARTUP_MS * 2 + 30_000,
  );

  it.skipIf(skip !== undefined)(
    titled('engine userspace: no filter is attached and the userspace plane tunnels', skip),
    async () => {
      const { path, socket } = configFile('userspace');
      const child = daemon(path);
      try {
        expect(await child.waitFor('data-path-up', STARTUP_MS)).toMatchObject({ engine: 'userspace', engineReason: 'dataPath.engine is userspace' });
        await child.waitFor('listening', STARTUP_MS);
        for (const device of [IF.haUp, IF.home, IF.haOut]) expect(filters(device)).toBe('');
        await register();
        expect(await probe('userspace engine')).toMatchObject({ protocol: 4, outerSource: '198.51.100.1', outerDestination: CARE_OF });
        expect(planeCount(socket, 'tunnelled')).toBe(1);
        expect(status(socket).dataPath).toMatchObject({ engine: 'userspace', engineReason: 'dataPath.engine is userspace' });
        expect(status(socket).dataPath.bpf).toBeUndefined();
        await register('', 0);
      } finally {
        child.stop();
        await child.exit(20_000);
      }
    },
    STARTUP_MS + 30_000,
  );

  it.skipIf(skip !== undefined)(
    titled('without CAP_BPF: auto falls back to userspace saying why (log and status); bpf is a start error naming CAP_BPF', skip),
    async () => {
      const noBpf = ['setpriv', '--inh-caps=-bpf', '--bounding-set=-bpf'];
      const auto = configFile('auto');
      const child = daemon(auto.path, noBpf);
      try {
        const up = await child.waitFor('data-path-up', STARTUP_MS);
        expect(up).toMatchObject({ engine: 'userspace' });
        expect(String(up.engineReason)).toMatch(/auto.*CAP_BPF/);
        await child.waitFor('listening', STARTUP_MS);
        expect(status(auto.socket).dataPath).toMatchObject({ engine: 'userspace', engineReason: up.engineReason });
        expect(filters(IF.haUp)).toBe('');
      } finally {
        child.stop();
        await child.exit(20_000);
      }
      const bpf = configFile('bpf');
      const refused = daemon(bpf.path, noBpf);
      try {
        expect(await refused.exit(STARTUP_MS)).toBe(1);
        expect(refused.stderrText).toMatch(/dataPath\.engine is bpf, but the process lacks CAP_BPF/);
        expect(filters(IF.haUp)).toBe('');
      } finally {
        refused.stop();
      }
    },
    STARTUP_MS * 2 + 30_000,
  );
});
