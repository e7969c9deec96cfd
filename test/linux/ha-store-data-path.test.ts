/**
 * A restored binding's data path (issue 14, item 3), in network namespaces this file creates:
 * `mip4 ha` with a store and a dataPath section tunnels for a registered node, is SIGKILLed
 * (its TUN device and routes die with it), and started again with the same config: the
 * binding comes back from the store with its route into the new TUN device, the home agent
 * again answers ARP for the home address on the home link (4.6), and a correspondent's
 * datagram reaches the care-of address through the tunnel, with no new registration.
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): mip4 ha, TUN device, routes
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   care-of host (coa) 203.0.113.2 ── 203.0.113.1 ┘
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled, type PeerEvent } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const skip = linuxSkipReason({ tun: true }) ?? missingTools('ping');
const pid = process.pid;
const NS = { cn: `mip4-st-${pid}-cn`, ha: `mip4-st-${pid}-ha`, hl: `mip4-st-${pid}-hl`, coa: `mip4-st-${pid}-coa` };
const IF = { cn: `s4c${pid}`, haUp: `s4u${pid}`, home: `s4h${pid}`, hl: `s4l${pid}`, haOut: `s4f${pid}`, coa: `s4o${pid}` };
const TUN = `s4t${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STARTUP_MS = 45_000;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-store-data-path-')) : '';
let coa: Peer;

beforeAll(async () => {
  if (skip !== undefined) return;
  ensureBuilt();
  for (const name of Object.values(NS)) namespaces.add(name);
  namespaces.veth({ ns: NS.cn, name: IF.cn, cidr: '192.0.2.2/24' }, { ns: NS.ha, name: IF.haUp, cidr: '192.0.2.1/24' });
  namespaces.veth({ ns: NS.ha, name: IF.home, cidr: '198.51.100.1/24' }, { ns: NS.hl, name: IF.hl, cidr: '198.51.100.2/24' });
  namespaces.veth({ ns: NS.ha, name: IF.haOut, cidr: '203.0.113.1/24' }, { ns: NS.coa, name: IF.coa, cidr: '203.0.113.2/24' });
  ip('-n', NS.cn, 'route', 'add', 'default', 'via', '192.0.2.1');
  ip('-n', NS.hl, 'route', 'add', 'default', 'via', '198.51.100.1');
  ip('-n', NS.coa, 'route', 'add', 'default', 'via', '203.0.113.1');
  expect(inNamespace(NS.ha, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).status).toBe(0);
  coa = new Peer(NS.coa, 'coa', ['198.51.100.1', '203.0.113.2', HOME_ADDRESS, '4096', KEY], [], 'test/linux/ha-peer.ts');
  peers.push(coa);
  await coa.waitFor('ready', STARTUP_MS);
}, 180_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

function after(peer: Peer, mark: number, matches: (e: PeerEvent) => boolean, label: string, timeoutMs = 8_000) {
  return peer.waitUntil((e) => peer.events.indexOf(e) >= mark && matches(e), label, timeoutMs);
}

async function probeTunnelled(text: string): Promise<PeerEvent> {
  const mark = coa.events.length;
  const sent = inNamespace(NS.cn, 'bash', ['-c', `printf '%s' '${text}' > /dev/udp/${HOME_ADDRESS}/9`]);
  expect(sent.status, sent.stderr).toBe(0);
  const hex = Buffer.from(text).toString('hex');
  return after(coa, mark, (e) => e.event === 'tunnel' && String(e.payloadHex).endsWith(hex), `the tunnel packet carrying "${text}"`);
}

const boundRoutes = () => ip('-n', NS.ha, '-4', 'route', 'show', 'proto', '77');

describe('mip4 ha with a store and a data path: a restored binding tunnels again', () => {
  it.skipIf(skip !== undefined)(
    titled('after SIGKILL and a restart, the binding is restored from the store: route into the new TUN device, proxy ARP on the home link, tunnel to the care-of address', skip),
    async () => {
      const configPath = join(tempDir, 'ha.json');
      writePrivateFile(
        configPath,
        JSON.stringify({
          homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'] },
          mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
          dataPath: { homeInterface: IF.home, tunnelDevice: TUN, engine: 'userspace' },
          store: { path: join(tempDir, 'ha.db'), sync: 'full' },
        }),
      );
      const start = () => {
        const child = new Peer(NS.ha, '', [], [], '', [process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', configPath]);
        peers.push(child);
        return child;
      };
      const first = start();
      expect(await first.waitFor('store-restored', STARTUP_MS)).toMatchObject({ bindings: 0 });
      await first.waitFor('listening', STARTUP_MS);
      const mark = coa.events.length;
      coa.tell('register 600');
      expect(await after(coa, mark, (e) => e.event === 'registered' || e.event === 'no-reply', 'a registration reply')).toMatchObject({ event: 'registered', code: 0, lifetime: 600 });
      expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN}`);
      expect(await probeTunnelled('before the crash')).toMatchObject({ protocol: 4, innerDestination: HOME_ADDRESS });

      first.signal('SIGKILL');
      await first.exit();
      // The TUN device, and with it the route, died with the process.
      expect(boundRoutes()).toBe('');
      // The home link forgets the home agent's answer for the home address.
      ip('-n', NS.hl, 'neigh', 'flush', 'all');

      const second = start();
      const restored = await second.waitFor('store-restored', STARTUP_MS);
      expect(restored).toMatchObject({ bindings: 1, expiredDropped: 0, unknownDropped: 0 });
      await second.waitFor('listening', STARTUP_MS);
      expect(boundRoutes()).toContain(`${HOME_ADDRESS} dev ${TUN}`);
      const tunnelled = await probeTunnelled('after the restart');
      expect(tunnelled).toMatchObject({ protocol: 4, outerSource: '198.51.100.1', outerDestination: '203.0.113.2', innerSource: '192.0.2.2', innerDestination: HOME_ADDRESS });
      // 4.6: proxy ARP is back: the home link resolves the home address to the home agent's interface.
      const homeMac = ip('-n', NS.ha, 'link', 'show', IF.home).match(/link\/ether ([0-9a-f:]{17})/)![1]!;
      inNamespace(NS.hl, 'ping', ['-c', '1', '-W', '1', '-n', HOME_ADDRESS], 4_000);
      expect(ip('-n', NS.hl, 'neigh', 'show', HOME_ADDRESS)).toContain(homeMac);
      // The remaining lifetime, not a fresh one.
      second.signal('SIGUSR2');
      const deadline = Date.now() + 4_000;
      while (!second.stderrText.includes('Mobility bindings:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const row = second.stderrText.split('\n').find((line) => line.startsWith(HOME_ADDRESS));
      expect(row).toBeDefined();
      const remaining = Number(row!.trim().split(/\s+/)[3]);
      expect(remaining).toBeLessThanOrEqual(600);
      expect(remaining).toBeGreaterThan(500);
      second.signal('SIGTERM');
      expect(await second.exit()).toBe(0);
    },
    150_000,
  );
});
