/**
 * The mobile node's host adapter on Linux (io/linux/mn-host.ts).
 *
 * First the plan per attachment, a pure function. Then `mip4 mn` itself, as root, inside a
 * network namespace whose veth's other end is moved between a "foreign" and a "home"
 * namespace (namespaces this file creates and removes in afterAll): the kernel state (`ip
 * addr`, `ip route`, `ip neigh`, the ARP settings) is read per attachment and after the daemon
 * stops; in co-located mode a ping to the home address, tunnelled IP-in-IP to the care-of
 * address from the foreign side, is answered by the node's kernel (decapsulated by the node,
 * injected through its TUN device).
 *
 * No home agent runs here: the node announces (and the host applies) an attachment before its
 * Request goes out, whatever the reply.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
  homeGateway: ipv4('198.51.100.254'),
  foreignGateway: ipv4('203.0.113.1'),
  tunnelDevice: 'mip4mn0',
};
const FA_ATTACHMENT = {
  kind: 'foreign-agent',
  agent: ipv4('203.0.113.1'),
  careOfAddress: ipv4('203.0.113.1'),
  router: ipv4('203.0.113.1'),
  routerLinkAddress: '02:00:00:00:00:01',
} as const;

const commands = (steps: readonly HostStep[]) => steps.flatMap((s) => (s.kind === 'ip' ? [s.args.join(' ')] : []));
const settings = (steps: readonly HostStep[]) => steps.flatMap((s) => (s.kind === 'sysctl' ? [`${s.device}.${s.key}=${s.value}`] : []));

describe('mobile node host plan (io/linux/mn-host.ts attachmentSteps)', () => {
  it('at home: the home address with its prefix on the interface and the home gateway; ARP settings untouched (4.6)', () => {
    const steps = attachmentSteps(SETTINGS, { kind: 'at-home' });
    expect(commands(steps)).toEqual(['addr replace 198.51.100.10/24 dev eth1', 'route replace default via 198.51.100.254 dev eth1 src 198.51.100.10']);
    expect(settings(steps)).toEqual([]);
    expect(commands(attachmentSteps({ ...SETTINGS, homeGateway: undefined }, { kind: 'at-home' }))).toEqual(['addr replace 198.51.100.10/24 dev eth1']);
  });

  it('[R4.2.1-2] [R4.2.1-7] [R4.2.1-8] [R4.6-14] through a foreign agent: default route via the advertised router with a permanent neighbour entry (no ARP), redirects off, the home prefix off the interface and the home address kept only on lo', () => {
    const steps = attachmentSteps(SETTINGS, FA_ATTACHMENT);
    expect(commands(steps)).toEqual([
      'addr del 198.51.100.10/24 dev eth1',
      'addr replace 198.51.100.10/32 dev lo',
      'neigh replace 203.0.113.1 lladdr 02:00:00:00:00:01 nud permanent dev eth1',
      'route replace 203.0.113.1/32 dev eth1 src 198.51.100.10',
      'route replace default via 203.0.113.1 dev eth1 src 198.51.100.10',
    ]);
    // arp_ignore=1 with the home address off the interface: the kernel never answers ARP for it
    // there (R4.6-15; the node itself answers the foreign agent's unicast Request, R4.6-16).
    expect(settings(steps)).toEqual(['eth1.arp_ignore=1', 'eth1.arp_announce=2', 'eth1.accept_redirects=0']);
    // Every command that adds something has its undo; the home prefix, removed only where a host
    // configured at home has it (4.2.1), is added back.
    for (const step of steps) {
      if (step.kind !== 'ip') continue;
      expect(step.undo?.slice(0, 2)).toEqual(step.args[1] === 'del' ? [step.args[0], 'add'] : [step.args[0], 'del']);
      expect(step.ifPresent === true).toBe(step.args[1] === 'del');
    }
  });

  it('co-located: the care-of address on the interface, the home prefix off it and the home address on lo, default via the foreign gateway, the TUN device up without reverse-path filtering', () => {
    const steps = attachmentSteps({ ...SETTINGS, foreignGatewayLinkAddress: '02:00:00:00:00:fe' }, { kind: 'co-located', careOfAddress: ipv4('203.0.113.50'), prefixLength: 24 });
    expect(commands(steps)).toEqual([
      'addr del 198.51.100.10/24 dev eth1',
      'addr replace 198.51.100.10/32 dev lo',
      'addr replace 203.0.113.50/24 dev eth1',
      'neigh replace 203.0.113.1 lladdr 02:00:00:00:00:fe nud permanent dev eth1',
      'route replace default via 203.0.113.1 dev eth1 src 198.51.100.10',
      'link set mip4mn0 up',
    ]);
    expect(settings(steps)).toEqual(['eth1.arp_ignore=1', 'eth1.arp_announce=2', 'eth1.accept_redirects=0', 'mip4mn0.rp_filter=0', 'all.rp_filter=0']);
    // Without a known gateway link address the kernel resolves it (from the care-of address).
    expect(commands(attachmentSteps(SETTINGS, { kind: 'co-located', careOfAddress: ipv4('203.0.113.50') }))).toContain('addr replace 203.0.113.50/32 dev eth1');
  });
});

// ---------------------------------------------------------------------------------------------
// The daemon in namespaces

const skip = linuxSkipReason({ tun: true });
const namespaces = new Namespaces();
const pid = process.pid;
const MN_NS = `m6mn-${pid}`;
const FOREIGN_NS = `m6fa-${pid}`;
const HOME_NS = `m6ho-${pid}`;
const MN_DEV = `m6m${pid}`;
const PEER_DEV = `m6p${pid}`;
const TUN_DEV = `m6t${pid}`;
const daemons: Daemon[] = [];
let dir = '';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type LogLine = Record<string, unknown> & { event?: string };

/** `mip4 mn --config FILE` inside the node's namespace, collecting its JSON log lines. */
class Daemon {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  private stdout = '';
  stderr = '';
  exited = false;

  constructor(config: string) {
    this.child = spawn('ip', ['netns', 'exec', MN_NS, process.execPath, 'bin/mip4.js', 'mn', '--config', config, '--state-dir', stateDir()], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      const complete = this.stdout.split('\n');
      this.stdout = complete.pop()!;
      for (const line of complete) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.child.on('exit', () => (this.exited = true));
    daemons.push(this);
  }

  async waitFor(match: (line: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.exited || Date.now() > deadline) throw new Error(`no ${what}; log:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`);
      await sleep(20);
    }
  }

  async stop(): Promise<LogLine> {
    this.child.kill('SIGTERM');
    return this.waitFor((l) => l.event === 'stopped', 'stopped line');
  }
}

function configFile(name: string, extra: string): string {
  const path = join(dir, name);
  writePrivateFile(
    path,
    `mobileNode:
  interface: ${MN_DEV}
  homeAddress: 198.51.100.10
  homeAgent: 198.51.100.1
  homeNetwork: 198.51.100.0/24
  homeGateway: 198.51.100.254
  lifetime: 60
${extra}homeAgentAssociation:
  spi: 4096
  key: 00112233445566778899aabbccddeeff
`,
  );
  return path;
}

const mn = (...args: string[]) => ip('-n', MN_NS, ...args);
/** The daemons' state files: in this test's directory, not /run/mip4. */
const stateDir = () => join(dir, 'run');
const setting = (device: string, key: string) => inNamespace(MN_NS, 'cat', [`/proc/sys/net/ipv4/conf/${device}/${key}`]).stdout.trim();

/** The node's veth peer end, moved into `ns` with `cidr`, up. */
function attachPeer(ns: string, cidr: string): void {
  ip('-n', ns, 'addr', 'flush', 'dev', PEER_DEV);
  ip('-n', ns, 'addr', 'add', cidr, 'dev', PEER_DEV);
  ip('-n', ns, 'link', 'set', PEER_DEV, 'up');
}

beforeAll(() => {
  if (skip !== undefined) return;
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mip4-mn-host-'));
  namespaces.add(MN_NS);
  namespaces.add(FOREIGN_NS);
  namespaces.add(HOME_NS);
  ip('link', 'add', MN_DEV, 'netns', MN_NS, 'type', 'veth', 'peer', 'name', PEER_DEV, 'netns', FOREIGN_NS);
  mn('link', 'set', MN_DEV, 'up');
  attachPeer(FOREIGN_NS, '203.0.113.1/24');
}, 120_000);

// A test that failed half-way leaves its daemon running: stopped here (SIGTERM, so it restores
// the host as at any stop; SIGKILL after 15 s), so the next test does not find the control socket
// taken and the host configured.
afterEach(async () => {
  await Promise.all(
    daemons.filter((d) => !d.exited).map(
      (d) =>
        new Promise<void>((resolve) => {
          const killer = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
          d.child.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          d.child.kill('SIGTERM');
        }),
    ),
  );
}, 30_000);

afterAll(() => {
  for (const d of daemons) if (!d.exited) d.child.kill('SIGKILL');
  namespaces.cleanup();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('mip4 mn configures its host per attachment (namespaces)', { timeout: 120_000 }, () => {
  it.skipIf(skip !== undefined)(
    titled('[R4.6-14] [R4.2.1-7] [R1.7-4] through a foreign agent, then at home: the kernel state follows each move, no broadcast ARP away, and everything is restored on stop', skip),
    async () => {
      // Both processes take seconds to start on a busy machine: start them together.
      const daemon = new Daemon(configFile('fa.yaml', ''));
      const agent = new Peer(FOREIGN_NS, 'advertise', [PEER_DEV, '203.0.113.1', String(0x1000 /* F */), '3']);
      await daemon.waitFor((l) => l.event === 'started', 'started line', 30_000);
      const ready = await agent.waitFor('ready', 30_000);
      const configured = await daemon.waitFor((l) => l.event === 'host-configured', 'host-configured line');
      expect(configured.attachment).toMatchObject({ kind: 'foreign-agent', router: '203.0.113.1', routerLinkAddress: ready.mac });

      // The home address is the node's (on lo, /32), the agent is its router with a permanent
      // neighbour entry from the Advertisement, redirects are off, ARP answers only on-interface.
      expect(mn('-4', '-o', 'addr', 'show', 'dev', 'lo')).toContain('198.51.100.10/32');
      expect(mn('-4', '-o', 'addr', 'show', 'dev', MN_DEV)).not.toContain('198.51.100.10');
      expect(mn('route', 'show', 'default')).toContain(`default via 203.0.113.1 dev ${MN_DEV} src 198.51.100.10`);
      expect(mn('neigh', 'show', 'dev', MN_DEV)).toContain(`203.0.113.1 lladdr ${String(ready.mac)} PERMANENT`);
      expect([setting(MN_DEV, 'arp_ignore'), setting(MN_DEV, 'arp_announce'), setting(MN_DEV, 'accept_redirects')]).toEqual(['1', '2', '0']);

      // What the agent saw: Requests from the home address straight to its link-layer address
      // (no routing, no ARP: R1.7-4), and no broadcast ARP from the node at all (R4.6-14).
      const seen = await agent.waitFor('done', 70_000);
      agent.stop();
      const requests = seen.requests as Array<{ source: string; destination: string; linkDestination: string }>;
      expect(requests.length).toBeGreaterThanOrEqual(1);
      for (const r of requests) expect(r).toEqual({ source: '198.51.100.10', destination: '203.0.113.1', linkDestination: ready.mac });
      expect((seen.arp as Array<{ broadcast: boolean }>).filter((a) => a.broadcast)).toEqual([]);

      // Home: the peer end moves to the home namespace, where the home agent advertises (H).
      ip('-n', FOREIGN_NS, 'link', 'set', PEER_DEV, 'netns', HOME_NS);
      attachPeer(HOME_NS, '198.51.100.1/24');
      const ha = new Peer(HOME_NS, 'advertise', [PEER_DEV, '198.51.100.1', String(0x2000 /* H */), '2']);
      await ha.waitFor('ready', 30_000);
      await daemon.waitFor((l) => l.event === 'host-configured' && (l.attachment as { kind: string }).kind === 'at-home', 'at-home host-configured line');
      expect(mn('-4', '-o', 'addr', 'show', 'dev', MN_DEV)).toContain('198.51.100.10/24');
      expect(mn('-4', '-o', 'addr', 'show', 'dev', 'lo')).not.toContain('198.51.100.10');
      expect(mn('route', 'show', 'default')).toContain(`default via 198.51.100.254 dev ${MN_DEV} src 198.51.100.10`);
      expect(mn('neigh', 'show', 'dev', MN_DEV)).not.toContain('PERMANENT');
      expect([setting(MN_DEV, 'arp_ignore'), setting(MN_DEV, 'arp_announce'), setting(MN_DEV, 'accept_redirects')]).toEqual(['0', '0', '1']);
      await ha.waitFor('done', 70_000);
      ha.stop();

      const stopped = await daemon.stop();
      expect(stopped.signal).toBe('SIGTERM');
      // Restored: nothing the node added is left.
      expect(mn('-4', '-o', 'addr', 'show')).not.toContain('198.51.100.10');
      expect(mn('route', 'show', 'default')).toBe('');
      // Back to the foreign namespace for the next test.
      ip('-n', HOME_NS, 'link', 'set', PEER_DEV, 'netns', FOREIGN_NS);
      attachPeer(FOREIGN_NS, '203.0.113.1/24');
    },
  );

  it.skipIf(skip !== undefined)(
    titled('co-located: care-of address and gateway configured at start, and a ping tunnelled to the care-of address is answered from the home address', skip),
    async () => {
      const rpFilterBefore = setting('all', 'rp_filter');
      const daemon = new Daemon(
        configFile('colocated.yaml', `  colocatedAddress: 203.0.113.50/24\n  foreignGateway: 203.0.113.1\n  tunnelDevice: ${TUN_DEV}\n`),
      );
      const configured = await daemon.waitFor((l) => l.event === 'host-configured', 'host-configured line', 30_000);
      expect(configured.attachment).toEqual({ kind: 'co-located', careOfAddress: '203.0.113.50', prefixLength: 24 });
      expect(mn('-4', '-o', 'addr', 'show', 'dev', MN_DEV)).toContain('203.0.113.50/24');
      expect(mn('-4', '-o', 'addr', 'show', 'dev', 'lo')).toContain('198.51.100.10/32');
      expect(mn('route', 'show', 'default')).toContain(`default via 203.0.113.1 dev ${MN_DEV} src 198.51.100.10`);
      expect(mn('link', 'show', 'dev', TUN_DEV)).toMatch(/state (UP|UNKNOWN)/);
      expect(setting(TUN_DEV, 'rp_filter')).toBe('0');
      // The Request left from the care-of address, with the node's own IP header (3.6.1.1).
      const request = await daemon.waitFor((l) => l.event === 'request', 'request line');
      expect(request).toMatchObject({ source: '203.0.113.50', destination: '198.51.100.1', via: 'ip' });

      // A correspondent's ping to the home address, tunnelled by "the home agent" (the peer).
      const pinger = new Peer(FOREIGN_NS, 'tunnel-ping', [PEER_DEV, '203.0.113.1', '203.0.113.50', '192.0.2.20', '198.51.100.10']);
      const answer = await pinger.waitFor('done', 30_000);
      pinger.stop();
      expect(answer).toMatchObject({ event: 'done', from: '198.51.100.10', to: '192.0.2.20' });

      const stopped = await daemon.stop();
      expect((stopped.counters as { decapsulated: number; injected: number }).decapsulated).toBeGreaterThanOrEqual(1);
      expect((stopped.counters as { injected: number }).injected).toBeGreaterThanOrEqual(1);
      expect(mn('-4', '-o', 'addr', 'show')).not.toMatch(/198\.51\.100\.10|203\.0\.113\.50/);
      expect(mn('route', 'show', 'default')).toBe('');
      expect(setting('all', 'rp_filter')).toBe(rpFilterBefore);
      // The TUN device went with the daemon.
      expect(inNamespace(MN_NS, 'ip', ['link', 'show', 'dev', TUN_DEV]).status).not.toBe(0);
    },
  );
  it.skipIf(skip !== undefined)(
    titled('killed with SIGKILL, the node leaves a state file; the next start restores the host from it first (lo address, default route, ARP and rp_filter settings) and at stop brings back the default route it replaced', skip),
    async () => {
      // The host's own configuration before mip4: a default route and non-default settings.
      const write = (device: string, key: string, value: string) => inNamespace(MN_NS, 'sh', ['-c', `echo ${value} > /proc/sys/net/ipv4/conf/${device}/${key}`]);
      write('all', 'rp_filter', '2');
      write(MN_DEV, 'accept_redirects', '1');
      mn('route', 'add', 'default', 'via', '203.0.113.254', 'dev', MN_DEV, 'onlink');
      const originalDefault = mn('route', 'show', 'default');
      expect(originalDefault).toContain(`default via 203.0.113.254 dev ${MN_DEV} onlink`);
      const settingsNow = () => [setting(MN_DEV, 'arp_ignore'), setting(MN_DEV, 'arp_announce'), setting(MN_DEV, 'accept_redirects'), setting('all', 'rp_filter')];
      const originals = settingsNow();
      const config = configFile('crash.yaml', `  colocatedAddress: 203.0.113.50/24\n  foreignGateway: 203.0.113.1\n  tunnelDevice: ${TUN_DEV}\n`);
      try {
        const first = new Daemon(config);
        await first.waitFor((l) => l.event === 'host-configured', 'host-configured line', 30_000);
        const changed = () => {
          expect(mn('-4', '-o', 'addr', 'show', 'dev', 'lo')).toContain('198.51.100.10/32');
          expect(mn('route', 'show', 'default')).toContain(`default via 203.0.113.1 dev ${MN_DEV} src 198.51.100.10`);
          expect(settingsNow()).toEqual(['1', '2', '0', '0']);
        };
        changed();
        first.child.kill('SIGKILL');
        for (let i = 0; i < 250 && !first.exited; i++) await sleep(20);
        expect(first.exited).toBe(true);
        // Nothing ran at exit: the changes and the state file are still there.
        changed();
        expect(readdirSync(stateDir()).filter((f) => f.startsWith(`mn-${MN_DEV}-`))).toHaveLength(1);

        const second = new Daemon(config);
        const recovered = await second.waitFor((l) => l.event === 'host-recovered', 'host-recovered line', 30_000);
        expect(recovered).toMatchObject({ crashedPid: first.child.pid, failures: [] });
        expect(recovered.undone).toBeGreaterThanOrEqual(3);
        await second.waitFor((l) => l.event === 'host-configured', 'host-configured line');
        changed();
        const stopped = await second.stop();
        expect(stopped.signal).toBe('SIGTERM');
        const restored = await second.waitFor((l) => l.event === 'host-restored', 'host-restored line');
        expect(restored.failures).toEqual([]);
        // The host as it was before the first run: not as the killed run left it.
        expect(mn('-4', '-o', 'addr', 'show')).not.toMatch(/198\.51\.100\.10|203\.0\.113\.50/);
        expect(mn('route', 'show', 'default')).toBe(originalDefault);
        expect(settingsNow()).toEqual(originals);
        expect(readdirSync(stateDir())).toEqual([]);
      } finally {
        spawnSync('ip', ['-n', MN_NS, 'route', 'del', 'default'], { timeout: 5_000 });
      }
    },
  );
});
