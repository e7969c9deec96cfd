/**
 * What the systemd units grant is enough, and each grant is needed: `mip4 ha` with a data path
 * run as an ordinary user (nobody) holding only the ambient capabilities CAP_NET_ADMIN,
 * CAP_NET_RAW and CAP_NET_BIND_SERVICE (setpriv, as systemd's AmbientCapabilities= does), in
 * namespaces this file creates:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha), listening on 198.51.100.1:434
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   care-of host (coa) 203.0.113.2 ── 203.0.113.1 ┘
 *
 * It creates its TUN device, binds port 434, installs the home address route when the node
 * registers (rtnetlink), and tunnels a correspondent's datagram to the care-of address (raw
 * socket). Without CAP_NET_RAW it stops at start, and without CAP_NET_BIND_SERVICE it cannot
 * bind port 434.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled, type PeerEvent } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const skip = linuxSkipReason({ tun: true }) ?? missingTools('setpriv');
const pid = process.pid;
const NS = { cn: `mip4-i14c-${pid}-cn`, ha: `mip4-i14c-${pid}-ha`, hl: `mip4-i14c-${pid}-hl`, coa: `mip4-i14c-${pid}-coa` };
const IF = { cn: `k4c${pid}`, haUp: `k4u${pid}`, home: `k4h${pid}`, hl: `k4l${pid}`, haOut: `k4f${pid}`, coa: `k4o${pid}` };
const TUN = `k4t${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STARTUP_MS = 45_000;
const NOBODY = 65534;
const ALL = ['net_admin', 'net_raw', 'net_bind_service'];

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-ha-capabilities-')) : '';
let coa: Peer;
/**
 * Distributions make /dev/net/tun mode 0666 (udev), so that CAP_NET_ADMIN alone decides who
 * creates a device; a container may leave it 0600. There, the daemon sees a 0666 node of the
 * same device bind-mounted over it, in its own mount namespace: the host's is untouched.
 */
let tunForEveryone: string | undefined;

/** `mip4 ha` as nobody in the HA namespace, with exactly `capabilities` inherited and ambient. */
function unprivilegedDaemon(capabilities: readonly string[]): Peer {
  const path = join(tempDir, `ha-${peers.length}.json`);
  writePrivateFile(
    path,
    JSON.stringify({
      homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'] },
      mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
      dataPath: { homeInterface: IF.home, tunnelDevice: TUN },
      // One socket per daemon (two start at once below), in the test file's control directory (mode 1777).
      control: { socket: join(process.env.MIP4_CONTROL_DIR ?? tempDir, `ha-${peers.length}.sock`) },
    }),
  );
  chownSync(path, NOBODY, NOBODY);
  const caps = capabilities.map((c) => `+${c}`).join(',') || '-all';
  const command = [
    'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', `--inh-caps=${caps}`, `--ambient-caps=${caps}`,
    process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', path, '--udp', 'dgram',
  ];
  const child = new Peer(NS.ha, '', [], [], '', tunForEveryone === undefined ? command : [
    'unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', tunForEveryone, ...command,
  ]);
  peers.push(child);
  return child;
}

function after(peer: Peer, mark: number, matches: (e: PeerEvent) => boolean, label: string, timeoutMs = 8_000) {
  return peer.waitUntil((e) => peer.events.indexOf(e) >= mark && matches(e), label, timeoutMs);
}

beforeAll(async () => {
  if (skip !== undefined) return;
  ensureBuilt();
  chmodSync(tempDir, 0o755);
  if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006) {
    tunForEveryone = join(tempDir, 'tun');
    execFileSync('mknod', ['-m', '0666', tunForEveryone, 'c', '10', '200']);
  }
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
}, STARTUP_MS + 180_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('mip4 ha with a data path as a non-root user with ambient capabilities (as the systemd unit runs it)', () => {
  it.skipIf(skip !== undefined)(
    titled('CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE suffice: TUN device, port 434, route on registration, tunnelled datagram', skip),
    async () => {
      const child = unprivilegedDaemon(ALL);
      try {
        expect(await child.waitFor('data-path-up', STARTUP_MS)).toMatchObject({ tunnelDevice: TUN, homeInterface: IF.home });
        expect(await child.waitFor('listening')).toMatchObject({ endpoints: ['198.51.100.1:434'] });
        const status = inNamespace(NS.ha, 'sh', ['-c', `grep -E '^(Uid|CapEff|CapAmb):' /proc/${child.events.find((e) => e.event === 'listening')!.pid}/status`]);
        expect(status.stdout).toMatch(/^Uid:\s+65534\s/m);
        // CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13): 0x3400, and nothing else.
        expect(status.stdout).toMatch(/^CapEff:\s+0000000000003400$/m);

        let mark = coa.events.length;
        coa.tell('register 600');
        expect(await after(coa, mark, (e) => e.event === 'registered' || e.event === 'no-reply', 'a registration reply')).toMatchObject({ event: 'registered', code: 0 });
        expect(ip('-n', NS.ha, '-4', 'route', 'show', 'proto', '77')).toContain(`${HOME_ADDRESS} dev ${TUN}`);

        mark = coa.events.length;
        const text = 'mip4 capabilities probe';
        expect(inNamespace(NS.cn, 'bash', ['-c', `printf '%s' '${text}' > /dev/udp/${HOME_ADDRESS}/9`]).status).toBe(0);
        const hex = Buffer.from(text).toString('hex');
        expect(await after(coa, mark, (e) => e.event === 'tunnel' && String(e.payloadHex).endsWith(hex), 'the tunnelled probe')).toMatchObject({
          protocol: 4,
          innerDestination: HOME_ADDRESS,
        });

        child.signal('SIGTERM');
        expect(await child.exit()).toBe(0);
        expect(ip('-n', NS.ha, '-4', 'route', 'show', 'proto', '77')).toBe('');
      } finally {
        child.stop();
      }
    },
    STARTUP_MS + 30_000,
  );

  it.skipIf(skip !== undefined)(
    titled('without CAP_NET_RAW the daemon stops at start; without CAP_NET_BIND_SERVICE it cannot bind port 434', skip),
    async () => {
      const noRaw = unprivilegedDaemon(['net_admin', 'net_bind_service']);
      const noBind = unprivilegedDaemon(['net_admin', 'net_raw']);
      expect(await noRaw.exit(STARTUP_MS)).toBe(1);
      expect(noRaw.stderrText).toContain('CAP_NET_RAW');
      expect(await noBind.exit(STARTUP_MS)).toBe(1);
      expect(noBind.stderrText).toMatch(/198\.51\.100\.1:434/);
      expect(noBind.stderrText).toMatch(/EACCES|permission|CAP_NET_BIND_SERVICE/i);
    },
    2 * STARTUP_MS,
  );
});
