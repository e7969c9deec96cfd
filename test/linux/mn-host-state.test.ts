/**
 * The Linux host adapter's state file (io/linux/host-journal.ts, io/linux/mn-host.ts) without
 * root: `ip` is a stand-in shell script that records each invocation (its argument vector,
 * whether its stdin is a pipe, and the state file as it was at that moment) and answers the
 * `ip -j ... show` queries from files; net.ipv4.conf is a directory of this test. What the real
 * kernel does with the same commands is checked in namespaces by mn-host.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect, Exit, Scope } from 'effect';
import { journalFromDocument, stateFilePath, type HostJournal } from '../../io/linux/host-journal.js';
import { addressRestoreCommands, openLinuxMnHost, routeRestoreCommands, type MnHostRestoreEvent } from '../../io/linux/mn-host.js';
import { MnHostError, type HostAttachment, type MnHostSettings } from '../../io/mn-host.js';
import { ipv4 } from '../../io/wire/bytes.js';

const DEV = 'm1';
const SETTINGS: MnHostSettings = {
  interfaceName: DEV,
  homeAddress: ipv4('198.51.100.10'),
  homePrefixLength: 24,
  homeGateway: ipv4('198.51.100.254'),
  foreignGateway: ipv4('203.0.113.1'),
  tunnelDevice: 'mip4t0',
};
const COLOCATED: HostAttachment = { kind: 'co-located', careOfAddress: ipv4('203.0.113.50'), prefixLength: 24 };
/** The host's default route before the node starts: it must come back. */
const ORIGINAL_DEFAULT = [{ dst: 'default', gateway: '192.0.2.1', dev: 'eth9', protocol: 'dhcp', metric: 0, flags: ['onlink'] }];

let dir = '';
let stateDir = '';
let settingsRoot = '';
let ipScript = '';

interface Invocation {
  readonly args: string[];
  readonly stdinIsPipe: boolean;
  /** The state file when the command ran (undefined: no file). */
  readonly journal?: HostJournal;
}

function invocations(): Invocation[] {
  const log = join(dir, 'ip.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\u001e')
    .filter((r) => r.trim() !== '')
    .map((record) => {
      const [argv, stdin, journal] = record.split('\u001d');
      return {
        args: argv!.split('\u001f').slice(0, -1),
        stdinIsPipe: stdin === 'pipe',
        ...(journal !== undefined && journal.trim() !== '' ? { journal: JSON.parse(journal) as HostJournal } : {}),
      };
    });
}
const changes = () => invocations().filter((i) => !i.args.includes('-j'));

function setting(device: string, key: string): string {
  return readFileSync(join(settingsRoot, device, key), 'utf8').trim();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mip4-mn-state-'));
  stateDir = join(dir, 'run');
  settingsRoot = join(dir, 'conf');
  for (const [device, values] of Object.entries({
    [DEV]: { arp_ignore: '0', arp_announce: '0', accept_redirects: '1' },
    mip4t0: { rp_filter: '1' },
    all: { rp_filter: '2' },
  })) {
    mkdirSync(join(settingsRoot, device), { recursive: true });
    for (const [key, value] of Object.entries(values)) writeFileSync(join(settingsRoot, device, key), `${value}\n`);
  }
  writeFileSync(join(dir, 'routes.json'), JSON.stringify(ORIGINAL_DEFAULT));
  writeFileSync(join(dir, 'addrs.json'), '[]');
  ipScript = join(dir, 'ip');
  const state = stateFilePath(stateDir, DEV);
  writeFileSync(
    ipScript,
    `#!/bin/sh
log='${join(dir, 'ip.log')}'
for a in "$@"; do printf '%s\\037' "$a" >> "$log"; done
if [ -p /dev/stdin ]; then printf '\\035pipe\\035' >> "$log"; else printf '\\035none\\035' >> "$log"; fi
cat '${state}' >> "$log" 2>/dev/null
printf '\\036' >> "$log"
case "$*" in
  "-4 -j route show exact default table main") cat '${join(dir, 'routes.json')}'; exit 0;;
  "-4 -j route"*) echo '[]'; exit 0;;
  "-4 -j addr"*) cat '${join(dir, 'addrs.json')}'; exit 0;;
  "addr del 198.51.100.10/24 "*) grep -q '"local":"198.51.100.10","prefixlen":24' '${join(dir, 'addrs.json')}' || { echo 'Error: ipv4: Address not found.' >&2; exit 2; };;
esac
if [ -f '${join(dir, 'fail')}' ] && grep -qxF -- "$*" '${join(dir, 'fail')}'; then echo "RTNETLINK answers: Operation not supported" >&2; exit 2; fi
exit 0
`,
  );
  chmodSync(ipScript, 0o755);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Opens the adapter in a scope of its own; `close` runs its finalizer (a clean stop). */
async function open(events: MnHostRestoreEvent[] = []) {
  const scope = Effect.runSync(Scope.make());
  const adapter = await Effect.runPromise(
    openLinuxMnHost(SETTINGS, { stateDirectory: stateDir, settingsRoot, ipCommand: ipScript, onEvent: (e) => events.push(e) }).pipe(Scope.extend(scope)),
  );
  return { adapter, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) };
}

async function openFailure(): Promise<MnHostError> {
  const exit = await Effect.runPromiseExit(
    Effect.scoped(openLinuxMnHost(SETTINGS, { stateDirectory: stateDir, settingsRoot, ipCommand: ipScript })),
  );
  if (Exit.isSuccess(exit)) throw new Error('open succeeded');
  const failure = exit.cause._tag === 'Fail' ? exit.cause.error : undefined;
  if (!(failure instanceof MnHostError)) throw new Error(`not an MnHostError: ${String(exit.cause)}`);
  return failure;
}

/** The journal left as a process that died would leave it: owner rewritten to a finished pid. */
function abandonAsCrashed(): number {
  const path = stateFilePath(stateDir, DEV);
  const dead = spawnSync('true').pid;
  const journal = JSON.parse(readFileSync(path, 'utf8')) as HostJournal;
  writeFileSync(path, JSON.stringify({ ...journal, owner: { pid: dead, started: '1' } }));
  return dead;
}

describe('host state file (io/linux/mn-host.ts, io/linux/host-journal.ts)', () => {
  it('records each change, its undo and what it replaces in the state file before running it', async () => {
    const { adapter, close } = await open();
    await Effect.runPromise(adapter.apply(COLOCATED));
    const ran = changes();
    expect(ran.map((i) => i.args.join(' '))).toContain(`route replace default via 203.0.113.1 dev ${DEV} src 198.51.100.10`);
    for (const change of ran) {
      // The file on disk at the moment the command ran already lists it, with its undo.
      expect(change.journal?.applied.map((a) => a.args)).toContainEqual(change.args);
    }
    const routeChange = ran.find((i) => i.args[0] === 'route')!;
    expect(routeChange.journal?.originals).toContainEqual({ id: 'route default', restore: [['route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth9', 'proto', 'dhcp', 'metric', '0', 'onlink', 'table', 'main']] });
    // Settings: the originals are on disk before the first write.
    const journal = JSON.parse(readFileSync(stateFilePath(stateDir, DEV), 'utf8')) as HostJournal;
    expect(journal.settings).toEqual([
      { device: DEV, key: 'arp_ignore', value: '0' },
      { device: DEV, key: 'arp_announce', value: '0' },
      { device: DEV, key: 'accept_redirects', value: '1' },
      { device: 'mip4t0', key: 'rp_filter', value: '1' },
      { device: 'all', key: 'rp_filter', value: '2' },
    ]);
    expect(journal.owner.pid).toBe(process.pid);
    await close();
  });

  it('at stop undoes each step as its own ip process with its argument vector, puts back the replaced default route and the settings, and removes the state file', async () => {
    const events: MnHostRestoreEvent[] = [];
    const { adapter, close } = await open(events);
    await Effect.runPromise(adapter.apply(COLOCATED));
    const before = invocations().length;
    await close();
    const stop = invocations().slice(before);
    expect(stop.map((i) => i.args)).toEqual([
      ['route', 'del', 'default', 'via', '203.0.113.1', 'dev', DEV],
      ['addr', 'del', '203.0.113.50/24', 'dev', DEV],
      ['addr', 'del', '198.51.100.10/32', 'dev', 'lo'],
      ['route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth9', 'proto', 'dhcp', 'metric', '0', 'onlink', 'table', 'main'],
    ]);
    // Never text for `ip -batch`, never anything on a child's stdin (no EPIPE to crash on).
    expect(invocations().filter((i) => i.args.includes('-batch') || i.stdinIsPipe)).toEqual([]);
    expect([setting(DEV, 'arp_ignore'), setting(DEV, 'arp_announce'), setting(DEV, 'accept_redirects'), setting('mip4t0', 'rp_filter'), setting('all', 'rp_filter')]).toEqual(['0', '0', '1', '1', '2']);
    expect(existsSync(stateFilePath(stateDir, DEV))).toBe(false);
    expect(events).toEqual([{ event: 'host-restored', stateFile: stateFilePath(stateDir, DEV), undone: 3, alreadyGone: 0, restored: 6, failures: [] }]);
  });

  it('an address that was there before the node added it is put back after the undo removes it', async () => {
    writeFileSync(join(dir, 'addrs.json'), JSON.stringify([{ ifname: DEV, addr_info: [{ family: 'inet', local: '198.51.100.10', prefixlen: 24, broadcast: '198.51.100.255', scope: 'global' }] }]));
    const { adapter, close } = await open();
    await Effect.runPromise(adapter.apply({ kind: 'at-home' }));
    const before = invocations().length;
    await close();
    expect(invocations().slice(before).map((i) => i.args)).toEqual([
      ['route', 'del', 'default', 'via', '198.51.100.254', 'dev', DEV],
      ['addr', 'del', '198.51.100.10/24', 'dev', DEV],
      ['addr', 'replace', '198.51.100.10/24', 'dev', DEV, 'broadcast', '198.51.100.255'],
      ['route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth9', 'proto', 'dhcp', 'metric', '0', 'onlink', 'table', 'main'],
    ]);
  });

  it('a host configured at home before the node started: away, the home prefix leaves the interface (4.2.1) and comes back at stop; a host without it is left as it is', async () => {
    writeFileSync(join(dir, 'addrs.json'), JSON.stringify([{ ifname: DEV, addr_info: [{ family: 'inet', local: '198.51.100.10', prefixlen: 24, broadcast: '198.51.100.255', scope: 'global' }] }]));
    const { adapter, close } = await open();
    await Effect.runPromise(adapter.apply(COLOCATED));
    expect(changes().map((i) => i.args.join(' '))).toContain(`addr del 198.51.100.10/24 dev ${DEV}`);
    const before = invocations().length;
    await close();
    expect(invocations().slice(before).map((i) => i.args.join(' '))).toContain(`addr add 198.51.100.10/24 dev ${DEV}`);

    writeFileSync(join(dir, 'addrs.json'), '[]');
    const bare = await open();
    await Effect.runPromise(bare.adapter.apply(COLOCATED));
    const fromBare = invocations().length;
    await bare.close();
    expect(invocations().slice(fromBare).map((i) => i.args[1])).not.toContain('add');
  });

  it('a failing undo command is listed and the rest is still restored', async () => {
    const events: MnHostRestoreEvent[] = [];
    const { adapter, close } = await open(events);
    await Effect.runPromise(adapter.apply(COLOCATED));
    writeFileSync(join(dir, 'fail'), `addr del 203.0.113.50/24 dev ${DEV}\n`);
    await close();
    expect(events[0]!.failures).toEqual([`ip addr del 203.0.113.50/24 dev ${DEV} failed: RTNETLINK answers: Operation not supported`]);
    expect(invocations().map((i) => i.args.join(' '))).toContain('addr del 198.51.100.10/32 dev lo');
    expect(setting('all', 'rp_filter')).toBe('2');
    expect(existsSync(stateFilePath(stateDir, DEV))).toBe(false);
  });

  it('after a crash the next start restores the host from the state file first, so the originals it records are the host\'s, not the crashed run\'s', async () => {
    const crashed = await open();
    await Effect.runPromise(crashed.adapter.apply(COLOCATED));
    // The process "dies": no finalizer runs, the changes stay, the state file stays.
    const deadPid = abandonAsCrashed();
    expect([setting(DEV, 'arp_ignore'), setting('all', 'rp_filter')]).toEqual(['1', '0']);
    writeFileSync(join(dir, 'routes.json'), JSON.stringify([{ dst: 'default', gateway: '203.0.113.1', dev: DEV, prefsrc: '198.51.100.10', flags: [] }]));

    const events: MnHostRestoreEvent[] = [];
    const before = invocations().length;
    const next = await open(events);
    expect(invocations().slice(before).map((i) => i.args.join(' '))).toEqual([
      `route del default via 203.0.113.1 dev ${DEV}`,
      `addr del 203.0.113.50/24 dev ${DEV}`,
      'addr del 198.51.100.10/32 dev lo',
      'route replace default via 192.0.2.1 dev eth9 proto dhcp metric 0 onlink table main',
    ]);
    expect(events).toEqual([{ event: 'host-recovered', crashedPid: deadPid, stateFile: stateFilePath(stateDir, DEV), undone: 3, alreadyGone: 0, restored: 6, failures: [] }]);
    expect([setting(DEV, 'arp_ignore'), setting(DEV, 'arp_announce'), setting(DEV, 'accept_redirects'), setting('all', 'rp_filter')]).toEqual(['0', '0', '1', '2']);

    writeFileSync(join(dir, 'routes.json'), JSON.stringify(ORIGINAL_DEFAULT));
    await Effect.runPromise(next.adapter.apply(COLOCATED));
    const journal = JSON.parse(readFileSync(stateFilePath(stateDir, DEV), 'utf8')) as HostJournal;
    expect(journal.settings.find((s) => s.device === 'all')).toEqual({ device: 'all', key: 'rp_filter', value: '2' });
    expect(journal.owner.pid).toBe(process.pid);
    await next.close();
    expect([setting(DEV, 'arp_ignore'), setting('all', 'rp_filter')]).toEqual(['0', '2']);
  });

  it('refuses to start, changing nothing, while the process named in the state file still runs', async () => {
    const first = await open();
    await Effect.runPromise(first.adapter.apply(COLOCATED));
    const before = invocations().length;
    const error = await openFailure();
    expect(error.reason).toBe('in-use');
    expect(error.message).toContain(`pid ${process.pid}`);
    expect(error.message).toContain(stateFilePath(stateDir, DEV));
    expect(invocations().length).toBe(before);
    expect(setting(DEV, 'arp_ignore')).toBe('1');
    await first.close();
  });

  it('refuses a state directory others can write to (a file planted there would be replayed as root), changing nothing', async () => {
    mkdirSync(stateDir, { recursive: true });
    chmodSync(stateDir, 0o777);
    const error = await openFailure();
    expect(error.message).toBe(`cannot use the state directory ${stateDir}: ${stateDir} is writable by others (mode 777); chmod 700 it`);
    expect(invocations()).toEqual([]);
  });

  it('refuses to start, changing nothing, when the state file cannot be read, naming the file and what to do', async () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(stateFilePath(stateDir, DEV), '{"version": 1, "owner": ');
    const error = await openFailure();
    expect(error.reason).toBe('command');
    expect(error.message).toMatch(/cannot be read \(not JSON.*restore .* by hand, then delete it/);
    expect(invocations()).toEqual([]);
  });
});

describe('state file contents (pure)', () => {
  const valid: HostJournal = {
    version: 1,
    owner: { pid: 1, started: '1' },
    interfaceName: 'eth0',
    applied: [{ args: ['addr', 'replace', '198.51.100.10/32', 'dev', 'lo'], undo: [['addr', 'del', '198.51.100.10/32', 'dev', 'lo']] }],
    originals: [{ id: 'route default', restore: [] }],
    settings: [{ device: 'eth0', key: 'arp_ignore', value: '0' }],
  };

  it('accepts what the adapter writes and names the field of anything else: only ip addr|route|neigh|link, only the four settings, only interface names', () => {
    expect(journalFromDocument(valid).ok).toBe(true);
    const reason = (document: unknown) => {
      const r = journalFromDocument(document);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason({ ...valid, applied: [{ args: ['netns', 'exec', 'x', 'sh'], undo: [] }] })).toMatch(/^applied:/);
    expect(reason({ ...valid, originals: [{ id: 'x', restore: [['-batch', '/tmp/x']] }] })).toMatch(/^originals:/);
    expect(reason({ ...valid, settings: [{ device: '../../../kernel', key: 'arp_ignore', value: '0' }] })).toMatch(/^settings: .* is not an interface name/);
    expect(reason({ ...valid, settings: [{ device: 'eth0', key: 'forwarding', value: '1' }] })).toMatch(/not a setting mip4 changes/);
    expect(reason({ ...valid, settings: [{ device: 'eth0', key: 'rp_filter', value: '1\n0' }] })).toMatch(/not a setting's value/);
    expect(reason({ ...valid, version: 2 })).toMatch(/^version/);
    expect(reason(null)).toBe('not a JSON object');
  });

  it('the routes a replace takes the place of become the commands that re-create them (gateway, device, proto, scope, source, metric, onlink, multipath)', () => {
    expect(
      routeRestoreCommands([
        { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', protocol: 'dhcp', prefsrc: '192.0.2.10', metric: 100, flags: [] },
        { dst: '203.0.113.1', dev: 'eth1', scope: 'link', flags: [] },
        { dst: 'default', flags: [], nexthops: [{ gateway: '192.0.2.1', dev: 'eth0', weight: 1 }, { gateway: '198.51.100.1', dev: 'eth1', weight: 2 }] },
        { gateway: 'no destination: skipped' },
      ]),
    ).toEqual([
      ['route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth0', 'proto', 'dhcp', 'src', '192.0.2.10', 'metric', '100', 'table', 'main'],
      ['route', 'replace', '203.0.113.1', 'dev', 'eth1', 'scope', 'link', 'table', 'main'],
      ['route', 'replace', 'default', 'nexthop', 'via', '192.0.2.1', 'dev', 'eth0', 'weight', '1', 'nexthop', 'via', '198.51.100.1', 'dev', 'eth1', 'weight', '2', 'table', 'main'],
    ]);
    expect(routeRestoreCommands('not a list')).toEqual([]);
    expect(addressRestoreCommands([{ addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] }], '127.0.0.1', 'lo')).toEqual([
      ['addr', 'replace', '127.0.0.1/8', 'dev', 'lo', 'scope', 'host'],
    ]);
    expect(addressRestoreCommands([{ addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] }], '198.51.100.10', 'lo')).toEqual([]);
  });
});
