/**
 * The home agent's data path on real Linux interfaces (runtime/ha/home-agent-linux.ts), in
 * network namespaces this file creates:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): TUN device, routes, forwarding on
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   care-of host (coa) 203.0.113.2 ── 203.0.113.1 ┘
 *
 * The mobile node's home address is 198.51.100.10; it registers from the care-of host with a
 * co-located care-of address 203.0.113.2 (test/linux/ha-peer.ts "coa", which also receives
 * and decapsulates the tunnel packets). The home agent runs once through the runtime API
 * (ha-peer.ts "ha": startHomeAgent with dataPath) and once as `mip4 ha --config`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DataPathStartError, startLinuxHomeAgentDataPath } from '../../runtime/ha/home-agent-linux.js';
import { ForwardingTable } from '../../runtime/dataplane/forwarding-table.js';
import { RealClock } from '../../io/clock.js';
import { Subject } from 'rxjs';
import { ipv4 } from '../../io/wire/bytes.js';
import { verifyUdpChecksum } from '../../io/wire/udp.js';
import { ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled, type PeerEvent } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const skip = linuxSkipReason({ tun: true });
// Tests that send an echo request (and check what it caused) need ping itself.
const pingSkip = skip ?? missingTools('ping');
const pid = process.pid;
const NS = { cn: `mip4-i6ha-${pid}-cn`, ha: `mip4-i6ha-${pid}-ha`, hl: `mip4-i6ha-${pid}-hl`, coa: `mip4-i6ha-${pid}-coa` };
const IF = { cn: `i6c${pid}`, haUp: `i6u${pid}`, home: `i6h${pid}`, hl: `i6l${pid}`, haOut: `i6f${pid}`, coa: `i6o${pid}` };
const TUN = `i6t${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const SCRIPT = 'test/linux/ha-peer.ts';
const STARTUP_MS = 45_000;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-ha-data-path-')) : '';
let ha: Peer;
let coa: Peer;
let homeMac = '';

function configDocument(dataPath: Record<string, unknown>) {
  return {
    homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'] },
    mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
    // The userspace path is what this file tests (the bpf engine: ha-bpf-engine.test.ts).
    dataPath: { engine: 'userspace', ...dataPath },
  };
}

/** The first event from `peer` after `mark` (an index into its events) that `matches`. */
function after(peer: Peer, mark: number, matches: (e: PeerEvent) => boolean, label: string, timeoutMs = 8_000) {
  return peer.waitUntil((e) => peer.events.indexOf(e) >= mark && matches(e), label, timeoutMs);
}

async function register(lifetime: number, ...flags: string[]): Promise<PeerEvent> {
  const mark = coa.events.length;
  coa.tell(['register', String(lifetime), ...flags].join(' '));
  const reply = await after(coa, mark, (e) => e.event === 'registered' || e.event === 'no-reply', 'a registration reply');
  expect(reply).toMatchObject({ event: 'registered', code: 0, lifetime });
  return reply;
}

/** Sends a UDP datagram from the correspondent to the home address (bash's /dev/udp). */
function sendProbe(from: string, text: string): void {
  const sent = inNamespace(from, 'bash', ['-c', `printf '%s' '${text}' > /dev/udp/${HOME_ADDRESS}/9`]);
  expect(sent.status, sent.stderr).toBe(0);
}

/** Waits for the tunnel packet carrying `text` at the care-of host. */
function tunnelled(mark: number, text: string): Promise<PeerEvent> {
  const hex = Buffer.from(text).toString('hex');
  return after(coa, mark, (e) => e.event === 'tunnel' && String(e.payloadHex).endsWith(hex), `the tunnel packet carrying "${text}"`);
}

function boundRoutes(): string {
  return ip('-n', NS.ha, '-4', 'route', 'show', 'proto', '77');
}

function neighbourOfHomeAddress(): string {
  return ip('-n', NS.hl, 'neigh', 'show', HOME_ADDRESS);
}

function pingFromHomeLink(): void {
  inNamespace(NS.hl, 'ping', ['-c', '1', '-W', '1', '-n', HOME_ADDRESS], 4_000);
}

beforeAll(async () => {
  if (skip !== undefined) return;
  for (const name of Object.values(NS)) namespaces.add(name);
  namespaces.veth({ ns: NS.cn, name: IF.cn, cidr: '192.0.2.2/24' }, { ns: NS.ha, name: IF.haUp, cidr: '192.0.2.1/24' });
  namespaces.veth({ ns: NS.ha, name: IF.home, cidr: '198.51.100.1/24' }, { ns: NS.hl, name: IF.hl, cidr: '198.51.100.2/24' });
  namespaces.veth({ ns: NS.ha, name: IF.haOut, cidr: '203.0.113.1/24' }, { ns: NS.coa, name: IF.coa, cidr: '203.0.113.2/24' });
  ip('-n', NS.cn, 'route', 'add', 'default', 'via', '192.0.2.1');
  ip('-n', NS.hl, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', NS.coa, 'route', 'add', 'default', 'via', '203.0.113.1');
  expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).status).toBe(0);
  homeMac = ip('-n', NS.ha, 'link', 'show', IF.home).match(/link\/ether ([0-9a-f:]{17})/)![1]!;

  const configPath = join(tempDir, 'ha.json');
  writePrivateFile(configPath, JSON.stringify(configDocument({ homeInterface: IF.home, tunnelDevice: TUN })));
  // Both start at once: a Node process with vite-node takes seconds to start on a busy machine.
  ha = new Peer(NS.ha, 'ha', [configPath], [], SCRIPT);
  coa = new Peer(NS.coa, 'coa', ['198.51.100.1', '203.0.113.2', HOME_ADDRESS, '4096', KEY], [], SCRIPT);
  peers.push(ha, coa);
  await Promise.all([ha.waitFor('ready', STARTUP_MS), coa.waitFor('ready', STARTUP_MS)]);
}, STARTUP_MS + 15_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('home agent data path on Linux (runtime API, in namespaces)', () => {
  it.skipIf(pingSkip !== undefined)(
    titled(
      '[R1.7-2] [R4.2.3-1] [R4.2.3-5] [R4.1-1] a registration routes the home address into the TUN device; a correspondent\'s UDP datagram and ping reach the care-of address in IP in IP from the home agent address, inner datagram intact',
      pingSkip,
    ),
    async () => {
      expect(ha.events.find((e) => e.event === 'ready')).toMatchObject({ tunnelDevice: TUN, homeInterface: IF.home });
      expect(boundRoutes()).toBe('');
      await register(600);
      expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN} scope link`);

      let mark = coa.events.length;
      sendProbe(NS.cn, 'mip4 probe ip-in-ip');
      const udp = await tunnelled(mark, 'mip4 probe ip-in-ip');
      expect(udp).toMatchObject({
        protocol: 4,
        kind: 'ip-in-ip',
        outerSource: '198.51.100.1',
        outerDestination: '203.0.113.2',
        innerSource: '192.0.2.2',
        innerDestination: HOME_ADDRESS,
        innerProtocol: 17,
        // 64 from the correspondent, one router hop (the home agent): decremented once.
        innerTtl: 63,
      });
      // UDP header (8 bytes: ports, length, checksum) then exactly the text.
      const payload = Buffer.from(String(udp.payloadHex), 'hex');
      expect(payload.readUInt16BE(2)).toBe(9);
      expect(payload.readUInt16BE(4)).toBe(8 + 'mip4 probe ip-in-ip'.length);
      expect(payload.subarray(8).toString()).toBe('mip4 probe ip-in-ip');

      mark = coa.events.length;
      inNamespace(NS.cn, 'ping', ['-c', '1', '-W', '1', '-p', '6d697034', '-n', HOME_ADDRESS], 4_000);
      const echo = await after(coa, mark, (e) => e.event === 'tunnel' && e.innerProtocol === 1, 'the tunnelled echo request');
      expect(echo).toMatchObject({ protocol: 4, innerSource: '192.0.2.2', innerDestination: HOME_ADDRESS });
      expect(String(echo.payloadHex).slice(0, 2)).toBe('08'); // ICMP Echo Request
      expect(String(echo.payloadHex)).toContain('6d697034'); // ping's -p pattern, intact
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('[R4.1-3] a binding that asks for minimal encapsulation (M) or GRE (G) is tunnelled with protocol 55 or 47', skip),
    async () => {
      await register(600, 'M');
      let mark = coa.events.length;
      sendProbe(NS.cn, 'mip4 probe minimal');
      expect(await tunnelled(mark, 'mip4 probe minimal')).toMatchObject({
        protocol: 55,
        kind: 'minimal',
        innerSource: '192.0.2.2',
        innerDestination: HOME_ADDRESS,
        innerProtocol: 17,
        innerTtl: 63,
      });
      await register(600, 'G');
      mark = coa.events.length;
      sendProbe(NS.cn, 'mip4 probe gre');
      expect(await tunnelled(mark, 'mip4 probe gre')).toMatchObject({
        protocol: 47,
        kind: 'gre',
        outerSource: '198.51.100.1',
        outerDestination: '203.0.113.2',
        innerDestination: HOME_ADDRESS,
        innerProtocol: 17,
      });
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('the TUN device gets the home link MTU less the largest tunnel header (GRE 24); a datagram of that full size is tunnelled whole, one byte more is refused', skip),
    async () => {
      // 1500 on the home veth less GRE's 24 (all encapsulations are offered by default).
      expect(ip('-n', NS.ha, 'link', 'show', TUN)).toMatch(/ mtu 1476 /);
      await register(600, 'G');
      // DF set (IP_PMTUDISC_DO): the correspondent neither fragments nor lets routers do it.
      const send = (payloadLength: number, fill: string) => {
        const script =
          'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ' +
          `s.setsockopt(socket.IPPROTO_IP, 10, 2); s.sendto(b'${fill}' * ${payloadLength}, ('${HOME_ADDRESS}', 9))`;
        const sent = inNamespace(NS.cn, 'python3', ['-c', script]);
        expect(sent.status, sent.stderr).toBe(0);
      };
      let mark = coa.events.length;
      // 20 (IPv4) + 8 (UDP) + 1448 = 1476, the TUN's MTU; GRE makes it 1500 on the care-of link.
      send(1448, 'w');
      const whole = await after(coa, mark, (e) => e.event === 'tunnel' && String(e.payloadHex).endsWith('77'.repeat(64)), 'the full-size tunnelled datagram');
      expect(whole).toMatchObject({ protocol: 47, kind: 'gre', innerDestination: HOME_ADDRESS, innerProtocol: 17 });
      const payload = Buffer.from(String(whole.payloadHex), 'hex');
      expect(payload.length).toBe(8 + 1448);
      expect(payload.readUInt16BE(4)).toBe(8 + 1448);
      expect(payload.subarray(8).equals(Buffer.alloc(1448, 'w'))).toBe(true);

      // One byte more does not fit the device: the home agent's kernel answers "fragmentation
      // needed" (RFC 2003 5.1's path MTU discovery) and nothing reaches the care-of address.
      mark = coa.events.length;
      send(1449, 'x');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(coa.events.slice(mark).filter((e) => e.event === 'tunnel' || e.event === 'tunnel-malformed')).toStrictEqual([]);
      await register(600);
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('[R4.3-1] [R4.3-3] a home-network broadcast is tunnelled to the node only while its binding has the B bit', skip),
    async () => {
      const broadcast = (text: string) => {
        const script = `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); s.sendto(b'${text}', ('198.51.100.255', 9))`;
        const sent = inNamespace(NS.hl, 'python3', ['-c', script]);
        expect(sent.status, sent.stderr).toBe(0);
      };
      await register(600);
      let mark = coa.events.length;
      broadcast('mip4 broadcast unrequested');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(coa.events.slice(mark).filter((e) => e.event === 'tunnel')).toStrictEqual([]);

      await register(600, 'B');
      mark = coa.events.length;
      broadcast('mip4 broadcast requested');
      // D is set (co-located care-of address): tunnelled straight to it, not nested (4.3).
      const copied = await tunnelled(mark, 'mip4 broadcast requested');
      expect(copied).toMatchObject({
        protocol: 4,
        outerSource: '198.51.100.1',
        outerDestination: '203.0.113.2',
        innerSource: '198.51.100.2',
        innerDestination: '198.51.100.255',
        innerProtocol: 17,
      });
      // The sender's kernel left the UDP checksum to veth offload; the copy the agent read off
      // the home link is tunnelled with it completed.
      const udp = Buffer.from(String(copied.payloadHex), 'hex');
      expect(udp.readUInt16BE(6)).not.toBe(0);
      expect(verifyUdpChecksum(ipv4('198.51.100.2'), ipv4('198.51.100.255'), udp, 0)).toBe(true);
    },
    20_000,
  );

  it.skipIf(pingSkip !== undefined)(
    titled(
      '[R4.2.3-1] [R4.6-4] [R4.6-5] [R4.6-6] on the home link the agent answers ARP for the home address with its own MAC and tunnels what a neighbour sends there',
      pingSkip,
    ),
    async () => {
      ip('-n', NS.hl, 'neigh', 'flush', 'dev', IF.hl);
      const mark = coa.events.length;
      const haMark = ha.events.length;
      pingFromHomeLink();
      expect(neighbourOfHomeAddress()).toContain(`lladdr ${homeMac}`);
      const echo = await after(coa, mark, (e) => e.event === 'tunnel' && e.innerSource === '198.51.100.2', 'the neighbour\'s echo request');
      expect(echo).toMatchObject({ innerDestination: HOME_ADDRESS, innerProtocol: 1 });
      const answered = await after(ha, haMark, (e) => e.event === 'proxy-arp-reply', 'the proxy ARP reply event');
      expect(answered).toMatchObject({ homeAddress: HOME_ADDRESS, requester: '198.51.100.2' });
    },
    20_000,
  );

  it.skipIf(pingSkip !== undefined)(
    titled('[R4.2.3-3] [R4.2.3-4] after deregistration the route and the proxy ARP are gone: nothing is intercepted any more', pingSkip),
    async () => {
      await register(0);
      expect(boundRoutes()).toBe('');
      ip('-n', NS.hl, 'neigh', 'flush', 'dev', IF.hl);
      pingFromHomeLink();
      expect(neighbourOfHomeAddress()).not.toContain(homeMac);
      const mark = coa.events.length;
      sendProbe(NS.cn, 'mip4 probe after deregistration');
      // The home agent forwards it onto the home link (where nobody answers ARP for it).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(coa.events.slice(mark).filter((e) => e.event === 'tunnel')).toStrictEqual([]);
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('[R4.6-7] [R4.6-8] a new binding\'s gratuitous ARP, broadcast on the home link, overwrites a neighbour\'s cached entry', skip),
    async () => {
      ip('-n', NS.hl, 'neigh', 'replace', HOME_ADDRESS, 'lladdr', '02:00:5e:00:53:10', 'dev', IF.hl, 'nud', 'stale');
      await register(600);
      const deadline = Date.now() + 4_000;
      while (!neighbourOfHomeAddress().includes(homeMac) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(neighbourOfHomeAddress()).toContain(`lladdr ${homeMac}`);
      expect(ha.events.some((e) => e.event === 'gratuitous-arp' && e.homeAddress === HOME_ADDRESS && e.linkAddress === homeMac)).toBe(true);
    },
    20_000,
  );

  it.skipIf(skip !== undefined)(titled('stop removes the home-address routes and the TUN device', skip), async () => {
    expect(boundRoutes()).toContain(HOME_ADDRESS);
    ha.tell('snapshot');
    const snapshot = await ha.waitFor('snapshot');
    expect(snapshot).toMatchObject({ kernelRoutes: [`${HOME_ADDRESS}/32`], routes: { added: 2, removed: 1, failed: 0 } });
    expect((snapshot.path as { tunnelSent: number }).tunnelSent).toBeGreaterThanOrEqual(5);
    ha.tell('stop');
    const stopped = await ha.waitFor('stopped');
    expect(stopped).toMatchObject({ routes: { removed: 2, failed: 0 } });
    expect(boundRoutes()).toBe('');
    expect(inNamespace(NS.ha, 'ip', ['link', 'show', TUN]).status).not.toBe(0);
  });
});

describe('mip4 ha --config with a dataPath section (child process, in namespaces)', () => {
  // bin/mip4.js runs dist/: built by `npm test` first; here when run alone after an edit.
  beforeAll(() => {
    if (skip === undefined) ensureBuilt();
  }, 180_000);

  function daemon(config: Record<string, unknown>): Peer {
    const path = join(tempDir, `ha-${peers.length}.json`);
    writePrivateFile(path, JSON.stringify(config));
    const child = new Peer(NS.ha, '', [], [], '', [process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', path]);
    peers.push(child);
    return child;
  }

  it.skipIf(skip !== undefined)(
    titled('[R1.7-2] logs the data path up, tunnels for a registered node, prints counters on SIGUSR2 and at stop, removes what it made', skip),
    async () => {
      // Without TUN offloads here; the runtime API agent above runs with the default (on).
      const child = daemon(configDocument({ homeInterface: IF.home, tunnelDevice: TUN, tunOffload: false }));
      try {
        const up = await child.waitFor('data-path-up', STARTUP_MS);
        expect(up).toMatchObject({ tunnelDevice: TUN, homeInterface: IF.home, routeTable: 254, staleRoutesRemoved: 0, tunOffload: false });
        await child.waitFor('listening');
        await register(600);
        expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN}`);
        const mark = coa.events.length;
        sendProbe(NS.cn, 'mip4 probe daemon');
        expect(await tunnelled(mark, 'mip4 probe daemon')).toMatchObject({ protocol: 4, innerDestination: HOME_ADDRESS, innerTtl: 63 });

        child.signal('SIGUSR2');
        const deadline = Date.now() + 4_000;
        while (!child.stderrText.includes('Data path:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(child.stderrText).toContain('Mobility bindings: 1');
        expect(child.stderrText).toMatch(/Data path: \{"linux":\{"tunBatches":\d+/);

        child.signal('SIGTERM');
        const stopped = await child.waitFor('stopped');
        expect(await child.exit()).toBe(0);
        const counters = stopped.dataPath as { path: { tunnelSent: number }; routes: { added: number; removed: number } };
        expect(counters.path.tunnelSent).toBeGreaterThanOrEqual(1);
        expect(counters.routes).toMatchObject({ added: 1, removed: 1 });
        expect(boundRoutes()).toBe('');
        expect(inNamespace(NS.ha, 'ip', ['link', 'show', TUN]).status).not.toBe(0);
      } finally {
        child.stop();
      }
    },
    STARTUP_MS + 20_000,
  );

  it.skipIf(skip !== undefined)(
    titled('mip4 clear binding on the control socket removes the binding and its route into the tunnel; status and traffic show the data path; the node registers again', skip),
    async () => {
      const socket = join(tempDir, 'ha-data-path.sock');
      const child = daemon({ ...configDocument({ homeInterface: IF.home, tunnelDevice: TUN, tunOffload: false }), control: { socket } });
      const mip4 = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/mip4.js'), ...args, '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
      try {
        const listening = await child.waitFor('listening', STARTUP_MS);
        expect(listening.control).toBe(socket);
        await register(600);
        expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN}`);
        const status = JSON.parse(mip4('status', '--json').stdout) as Record<string, unknown>;
        expect(status).toMatchObject({ role: 'ha', bindings: 1, dataPath: { enabled: true, tunnelDevice: TUN, homeInterface: IF.home } });
        const traffic = JSON.parse(mip4('traffic', '--json').stdout) as { dataPath: { routes: { added: number } } };
        expect(traffic.dataPath.routes.added).toBe(1);

        const cleared = mip4('clear', 'binding', HOME_ADDRESS);
        expect(cleared.status, cleared.stderr).toBe(0);
        const logged = await child.waitFor('binding-cleared');
        expect(logged).toMatchObject({ by: 'operator', homeAddress: HOME_ADDRESS, careOfAddresses: ['203.0.113.2'] });
        // The route into the tunnel goes with the binding, as at expiry (4.2.3).
        const deadline = Date.now() + 4_000;
        while (boundRoutes() !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(boundRoutes()).toBe('');
        expect(mip4('bindings').stdout.split('\n')[0]).toBe('Mobility bindings: 0');

        await register(600);
        expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN}`);
        child.signal('SIGTERM');
        expect(await child.exit()).toBe(0);
        expect(boundRoutes()).toBe('');
      } finally {
        child.stop();
      }
    },
    STARTUP_MS + 40_000,
  );

  it.skipIf(skip !== undefined)(
    titled('dataPath.tunnelMtu sets the TUN device\'s MTU and the data-path-up line reports it', skip),
    async () => {
      const child = daemon(configDocument({ homeInterface: IF.home, tunnelDevice: TUN, tunnelMtu: 1400 }));
      try {
        expect(await child.waitFor('data-path-up', STARTUP_MS)).toMatchObject({ tunnelDevice: TUN, tunnelMtu: 1400 });
        expect(ip('-n', NS.ha, 'link', 'show', TUN)).toMatch(/ mtu 1400 /);
        child.signal('SIGTERM');
        expect(await child.exit()).toBe(0);
      } finally {
        child.stop();
      }
    },
    STARTUP_MS + 10_000,
  );

  it.skipIf(skip !== undefined)(
    titled('routes with mip4\'s marker left on the device by a crashed run are removed at start', skip),
    async () => {
      // A persistent TUN device outlives its process, and so do its routes.
      const persistent = `i6s${pid}`;
      ip('-n', NS.ha, 'tuntap', 'add', 'dev', persistent, 'mode', 'tun');
      ip('-n', NS.ha, 'link', 'set', persistent, 'up');
      ip('-n', NS.ha, 'route', 'add', '198.51.100.99/32', 'dev', persistent, 'proto', '77');
      ip('-n', NS.ha, 'route', 'add', '198.51.100.98/32', 'dev', persistent); // not mip4's: kept
      const child = daemon(configDocument({ homeInterface: IF.home, tunnelDevice: persistent }));
      try {
        expect(await child.waitFor('data-path-up', STARTUP_MS)).toMatchObject({ tunnelDevice: persistent, staleRoutesRemoved: 1 });
        const routes = ip('-n', NS.ha, '-4', 'route', 'show', 'dev', persistent);
        expect(routes).not.toContain('198.51.100.99');
        expect(routes).toContain('198.51.100.98');
        child.signal('SIGTERM');
        expect(await child.exit()).toBe(0);
      } finally {
        child.stop();
      }
    },
    STARTUP_MS + 10_000,
  );

  it.skipIf(skip !== undefined)(
    titled('start-up errors exit 1 naming the fix: not root, IPv4 forwarding off, no such home interface', skip),
    async () => {
      // Not root: the same daemon as user nobody, without capabilities.
      const path = join(tempDir, 'unprivileged.json');
      // Its own config, private to it as an operator keeps one that holds keys.
      writePrivateFile(path, JSON.stringify(configDocument({ homeInterface: IF.home, tunnelDevice: TUN })));
      chownSync(path, 65534, 65534);
      chmodSync(tempDir, 0o755);
      const unprivileged = new Peer(NS.ha, '', [], [], '', [
        'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
        process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', path,
      ]);
      peers.push(unprivileged);
      expect(await unprivileged.exit(STARTUP_MS)).toBe(1);
      expect(unprivileged.stderrText).toContain('needs CAP_NET_ADMIN (TUN device, routes) and CAP_NET_RAW');
      expect(unprivileged.stderrText).toContain('run as root or grant them');

      expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']).status).toBe(0);
      try {
        const child = daemon(configDocument({ homeInterface: IF.home, tunnelDevice: TUN }));
        expect(await child.exit(STARTUP_MS)).toBe(1);
        expect(child.stderrText).toContain('mip4 ha: IPv4 forwarding is off');
        expect(child.stderrText).toContain('sysctl -w net.ipv4.ip_forward=1');
      } finally {
        inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      }
      const missing = daemon(configDocument({ homeInterface: `i6none${pid}`, tunnelDevice: TUN }));
      expect(await missing.exit(STARTUP_MS)).toBe(1);
      expect(missing.stderrText).toContain(`mip4 ha: dataPath.homeInterface: no interface named i6none${pid}`);
      expect(missing.events.filter((e) => e.event === 'listening')).toStrictEqual([]);
      expect(inNamespace(NS.ha, 'ip', ['link', 'show', TUN]).status).not.toBe(0);
    },
    2 * STARTUP_MS,
  );
});

describe('startLinuxHomeAgentDataPath', () => {
  it.skipIf(skip !== undefined)(titled('rejects a home interface that does not exist, before opening anything', skip), async () => {
    const agent = { forwardingTable: new ForwardingTable(), arpCommands: new Subject<never>() };
    const start = startLinuxHomeAgentDataPath(agent, { homeInterface: `i6none${pid}`, tunnelDevice: `i6t${pid}x` }, {
      clock: new RealClock(),
      settings: { addresses: [0xc6336401], homeNetwork: 0xc6336400, prefixLength: 24 },
    });
    await expect(start).rejects.toBeInstanceOf(DataPathStartError);
    await expect(start).rejects.toMatchObject({ reason: 'no-such-interface', message: expect.stringContaining(`no interface named i6none${pid}`) });
  });
});
