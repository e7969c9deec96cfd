/**
 * `mip4 ha` with a dataPath section and a metrics section, in network namespaces this file
 * creates, scraped from inside its namespace before and after a ping through the tunnel:
 *
 *   correspondent (cn) 192.0.2.2 ── 192.0.2.1 ┐
 *                                              HA (ha): TUN device, routes, forwarding on, /metrics on 127.0.0.1
 *   home-link host (hl) 198.51.100.2 ── 198.51.100.1 (home interface)
 *   care-of host (coa) 203.0.113.2 ── 203.0.113.1 ┘
 *
 * The care-of host registers 198.51.100.10 with a co-located care-of address and decapsulates
 * what arrives (test/linux/ha-peer.ts "coa"), so the test sees the ping leave the tunnel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, inNamespace, ip, linuxSkipReason, missingTools, Namespaces, Peer, ROOT, titled } from './netns.js';
import { writePrivateFile } from '../support/files.js';
import { promtoolCheck, promtoolMissing, sampleValue, textSamples, type TextSample } from '../support/exposition.js';

const skip = linuxSkipReason({ tun: true }) ?? missingTools('ping');
const pid = process.pid;
const NS = { cn: `mip4-i14m-${pid}-cn`, ha: `mip4-i14m-${pid}-ha`, hl: `mip4-i14m-${pid}-hl`, coa: `mip4-i14m-${pid}-coa` };
const IF = { cn: `m4c${pid}`, haUp: `m4u${pid}`, home: `m4h${pid}`, hl: `m4l${pid}`, haOut: `m4f${pid}`, coa: `m4o${pid}` };
const TUN = `m4t${pid}`;
const HOME_ADDRESS = '198.51.100.10';
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STARTUP_MS = 45_000;
/** An echo request as ping sends it by default: 20 (IP) + 8 (ICMP) + 56 bytes of data. */
const PING_BYTES = 84;

const namespaces = new Namespaces();
const peers: Peer[] = [];
const tempDir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-metrics-data-path-')) : '';

/** GET the metrics URL from inside the home agent's namespace (the endpoint is on its loopback). */
function scrape(url: string): { text: string; samples: TextSample[] } {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (r.status !== 200) process.exit(3); process.stdout.write(await r.text()); }, () => process.exit(4))`;
  const run = inNamespace(NS.ha, process.execPath, ['-e', script], 15_000);
  expect(run.status, run.stderr).toBe(0);
  return { text: run.stdout, samples: textSamples(run.stdout) };
}

beforeAll(() => {
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
}, 180_000);

afterAll(() => {
  for (const peer of peers) peer.stop();
  namespaces.cleanup();
  if (tempDir !== '') rmSync(tempDir, { recursive: true, force: true });
});

describe('mip4 ha with dataPath and metrics sections (child process, in namespaces)', () => {
  /** The last scrape of the test below, with the data plane families in it. */
  let scrapedWithDataPath = '';
  it.skipIf(skip !== undefined)(
    titled('a ping tunnelled to the care-of address moves the data plane counters by exactly one packet of its size, and the gratuitous ARP counter moved at registration', skip),
    async () => {
      const path = join(tempDir, 'ha.json');
      writePrivateFile(
        path,
        JSON.stringify({
          homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24', listen: ['198.51.100.1:434'] },
          mobileNodes: [{ homeAddress: HOME_ADDRESS, spi: 4096, key: KEY }],
          dataPath: { homeInterface: IF.home, tunnelDevice: TUN, tunOffload: false, engine: 'userspace' },
          metrics: { listen: '127.0.0.1:0' },
        }),
      );
      const daemon = new Peer(NS.ha, '', [], [], '', [process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', path]);
      const coa = new Peer(NS.coa, 'coa', ['198.51.100.1', '203.0.113.2', HOME_ADDRESS, '4096', KEY], [], 'test/linux/ha-peer.ts');
      peers.push(daemon, coa);
      try {
        const [listening] = await Promise.all([daemon.waitFor('listening', STARTUP_MS), coa.waitFor('ready', STARTUP_MS)]);
        const url = String(listening!.metrics);
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

        const mark = coa.events.length;
        coa.tell('register 600');
        expect(await coa.waitUntil((e) => coa.events.indexOf(e) >= mark && e.event === 'registered', 'the registration', 8_000)).toMatchObject({ code: 0 });
        const before = scrape(url);
        expect(sampleValue(before.samples, 'mip4_ha_bindings')).toBe(1);
        expect(sampleValue(before.samples, 'mip4_ha_gratuitous_arps_sent_total')).toBeGreaterThanOrEqual(1);

        const tunnelMark = coa.events.length;
        inNamespace(NS.cn, 'ping', ['-c', '1', '-W', '1', '-n', HOME_ADDRESS], 5_000);
        const tunnel = await coa.waitUntil((e) => coa.events.indexOf(e) >= tunnelMark && e.event === 'tunnel' && e.innerProtocol === 1, 'the echo request through the tunnel', 8_000);
        expect(tunnel).toMatchObject({ protocol: 4, innerDestination: HOME_ADDRESS, innerSource: '192.0.2.2' });

        const after = scrape(url);
        const delta = (name: string, labels: Record<string, string> = {}) => (sampleValue(after.samples, name, labels) ?? 0) - (sampleValue(before.samples, name, labels) ?? 0);
        expect(delta('mip4_dataplane_packets_total', { direction: 'in' })).toBe(1);
        expect(delta('mip4_dataplane_bytes_total', { direction: 'in' })).toBe(PING_BYTES);
        expect(delta('mip4_dataplane_outcomes_total', { outcome: 'tunnelled' })).toBe(1);
        expect(delta('mip4_ha_tunnel_packets_sent_total')).toBe(1);
        expect(sampleValue(after.samples, 'mip4_dataplane_drops_total', { reason: 'queue-full' })).toBe(0);
        scrapedWithDataPath = after.text;

        daemon.signal('SIGTERM');
        const stopped = await daemon.waitFor('stopped');
        expect(await daemon.exit()).toBe(0);
        const counters = stopped.dataPath as { path: { tunnelSent: number }; plane: Record<string, number> };
        expect(sampleValue(after.samples, 'mip4_ha_tunnel_packets_sent_total')).toBe(counters.path.tunnelSent);
        expect(sampleValue(after.samples, 'mip4_dataplane_packets_total', { direction: 'in' })).toBe(counters.plane.packets);
      } finally {
        daemon.stop();
        coa.stop();
      }
    },
    STARTUP_MS + 40_000,
  );

  const promtoolSkip = skip ?? promtoolMissing();
  it.skipIf(promtoolSkip !== undefined)(titled('promtool check metrics passes the scrape with the data plane and ARP families', promtoolSkip), () => {
    expect(scrapedWithDataPath).toContain('mip4_dataplane_drops_total');
    expect(promtoolCheck(scrapedWithDataPath)).toEqual({ status: 0, output: '' });
  });
});
