/**
 * A co-located mobile node reverse-tunnels itself on Linux (RFC 3024 5.2): first the host plan
 * (io/linux/mn-host.ts attachmentSteps), then `mip4 mn` in a namespace whose veth peer is a
 * "foreign" namespace holding the gateway and a stand-in home agent
 * (test/linux/mn-reverse-tunnel-peer.ts: accepts the Request, reports the tunnels it receives).
 * A datagram the node's host sends to a correspondent leaves its namespace as IP in IP from the
 * care-of address to the home agent; after stop the host is as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachmentSteps, type HostStep } from '../../io/linux/mn-host.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { ensureBuilt, inNamespace, ip, linuxSkipReason, Namespaces, Peer, ROOT, titled } from './netns.js';
import { writePrivateFile } from '../support/files.js';

const SETTINGS = {
  interfaceName: 'eth1',
  homeAddress: ipv4('198.51.100.10'),
  homePrefixLength: 24,
  foreignGateway: ipv4('203.0.113.1'),
  tunnelDevice: 'mip4mn0',
};
const COLOCATED = { kind: 'co-located', careOfAddress: ipv4('203.0.113.50'), prefixLength: 24 } as const;
const commands = (steps: readonly HostStep[]) => steps.flatMap((s) => (s.kind === 'ip' ? [s.args.join(' ')] : []));

describe('host plan with reverse tunnelling (io/linux/mn-host.ts)', () => {
  it("co-located with reverseTunnel: the node's datagrams into the TUN device by two /1 routes (source the home address), the home agent by the foreign gateway; each undone", () => {
    const steps = attachmentSteps({ ...SETTINGS, reverseTunnel: { homeAgent: ipv4('198.51.100.1') } }, COLOCATED);
    const list = commands(steps);
    expect(list).toContain('route replace 198.51.100.1/32 via 203.0.113.1 dev eth1');
    expect(list).toContain('route replace 0.0.0.0/1 dev mip4mn0 src 198.51.100.10');
    expect(list).toContain('route replace 128.0.0.0/1 dev mip4mn0 src 198.51.100.10');
    // The TUN device is up before routes point into it.
    expect(list.indexOf('link set mip4mn0 up')).toBeLessThan(list.indexOf('route replace 0.0.0.0/1 dev mip4mn0 src 198.51.100.10'));
    for (const step of steps) if (step.kind === 'ip' && step.args[1] === 'replace' && step.args[0] === 'route') expect(step.undo).toBeDefined();
  });

  it('without reverseTunnel, without a TUN device or without a gateway: no such routes', () => {
    const none = (settings: Parameters<typeof attachmentSteps>[0]) => commands(attachmentSteps(settings, COLOCATED)).filter((c) => c.includes('/1 ') || c.includes('198.51.100.1/32'));
    expect(none(SETTINGS)).toEqual([]);
    const { tunnelDevice: _t, ...noTun } = SETTINGS;
    expect(none({ ...noTun, reverseTunnel: { homeAgent: ipv4('198.51.100.1') } })).toEqual([]);
    const { foreignGateway: _g, ...noGateway } = SETTINGS;
    expect(none({ ...noGateway, reverseTunnel: { homeAgent: ipv4('198.51.100.1') } })).toEqual([]);
  });
});

const skip = linuxSkipReason({ tun: true });
const namespaces = new Namespaces();
const pid = process.pid;
const MN_NS = `m6rm-${pid}`;
const FOREIGN_NS = `m6rf-${pid}`;
const MN_DEV = `m6rm${pid}`;
const PEER_DEV = `m6rp${pid}`;
const TUN_DEV = `m6rt${pid}`;
let dir = '';
let daemon: ChildProcess | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mn = (...args: string[]) => ip('-n', MN_NS, ...args);
type LogLine = Record<string, unknown> & { event?: string };

beforeAll(() => {
  if (skip !== undefined) return;
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-mn-reverse-'));
  namespaces.add(MN_NS);
  namespaces.add(FOREIGN_NS);
  ip('link', 'add', MN_DEV, 'netns', MN_NS, 'type', 'veth', 'peer', 'name', PEER_DEV, 'netns', FOREIGN_NS);
  mn('link', 'set', MN_DEV, 'up');
  ip('-n', FOREIGN_NS, 'addr', 'add', '203.0.113.1/24', 'dev', PEER_DEV);
  ip('-n', FOREIGN_NS, 'link', 'set', PEER_DEV, 'up');
  ip('-n', FOREIGN_NS, 'link', 'set', 'lo', 'up');
  // The stand-in home agent's address lives in the foreign namespace, one hop past the gateway.
  ip('-n', FOREIGN_NS, 'addr', 'add', '198.51.100.1/32', 'dev', 'lo');
}, 120_000);

afterAll(() => {
  if (daemon !== undefined && daemon.exitCode === null) daemon.kill('SIGKILL');
  namespaces.cleanup();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('mip4 mn reverse-tunnels itself when co-located (namespaces)', { timeout: 120_000 }, () => {
  it.skipIf(skip !== undefined)(
    titled("granted 'T', a datagram from the node's host to a correspondent leaves its namespace as IP in IP from the care-of address to the home agent; after stop the routes are gone", skip),
    async () => {
      const routesBefore = mn('route', 'show');
      const agent = new Peer(FOREIGN_NS, 'home-agent', ['198.51.100.1', '4096', '00112233445566778899aabbccddeeff'], [], 'test/linux/mn-reverse-tunnel-peer.ts');
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
  colocatedAddress: 203.0.113.50/24
  foreignGateway: 203.0.113.1
  tunnelDevice: ${TUN_DEV}
homeAgentAssociation:
  spi: 4096
  key: 00112233445566778899aabbccddeeff
control:
  socket: none
`,
      );
      const lines: LogLine[] = [];
      let stdout = '';
      let stderr = '';
      daemon = spawn('ip', ['netns', 'exec', MN_NS, process.execPath, 'bin/mip4.js', 'mn', '--config', config, '--state-dir', join(dir, 'run')], {
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
      const tunnel = await waitFor((l) => l.event === 'reverse-tunnel' && l.active === true, 'reverse-tunnel line');
      expect(tunnel).toMatchObject({ outerSource: '203.0.113.50', outerDestination: '198.51.100.1', encapsulation: 'ip-in-ip' });
      const reply = await agent.waitFor('reply');
      expect(reply).toMatchObject({ careOfAddress: '203.0.113.50' });
      expect((reply.flags as number) & 0x02).toBe(0x02); // 'T' (RFC 3024 3.2)
      expect(mn('route', 'show', '0.0.0.0/1')).toContain(`dev ${TUN_DEV}`);

      // A datagram from the node's host (bash's /dev/udp: the kernel picks the home address by the route).
      for (let i = 0; i < 3; i++) inNamespace(MN_NS, 'bash', ['-c', 'echo hello > /dev/udp/192.0.2.20/9']);
      const seen = await agent.waitUntil((e) => e.event === 'tunnel' && e.innerProtocol === 17, 'a tunnelled UDP datagram', 20_000);
      expect(seen).toMatchObject({ outerSource: '203.0.113.50', outerDestination: '198.51.100.1', innerSource: '198.51.100.10', innerDestination: '192.0.2.20' });
      agent.stop();

      daemon.kill('SIGTERM');
      await waitFor((l) => l.event === 'stopped', 'stopped line');
      expect(mn('route', 'show', '0.0.0.0/1')).toBe('');
      expect(mn('route', 'show', '198.51.100.1/32')).toBe('');
      expect(mn('route', 'show')).toBe(routesBefore);
    },
  );
});
