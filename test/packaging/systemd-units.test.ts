/**
 * The systemd units of packaging/: each daemon runs as the user mip4 with only CAP_NET_ADMIN,
 * CAP_NET_RAW and CAP_NET_BIND_SERVICE, reloads on SIGHUP and restarts on failure, and the units,
 * the sysusers.d and the tmpfiles.d snippets pass systemd's own checks (systemd-analyze verify,
 * systemd-sysusers and systemd-tmpfiles into a scratch root).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/build.js';
import { missingTools } from '../support/tools.js';

const ROLES = ['ha', 'fa', 'mn'] as const;
const CAPABILITIES = ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'];
const unitPath = (role: string) => join(ROOT, 'packaging', 'systemd', `mip4-${role}.service`);

/** The unit's settings: key → values in file order (comments and section headers left out). */
function settings(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!]);
  }
  return found;
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mip4-systemd-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(ROLES)('packaging/systemd/mip4-%s.service', (role) => {
  const unit = () => settings(readFileSync(unitPath(role), 'utf8'));

  it('runs the daemon as the user mip4 on /etc/mip4/<role>.yaml, reloads with SIGHUP, restarts on failure', () => {
    const s = unit();
    expect(s.get('User')).toEqual(['mip4']);
    expect(s.get('Group')).toEqual(['mip4']);
    expect(s.get('ExecStart')).toEqual([`/usr/local/bin/mip4 ${role} --config /etc/mip4/${role}.yaml`]);
    expect(s.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(s.get('Restart')).toEqual(['on-failure']);
  });

  it('grants exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE, and no new privileges', () => {
    const s = unit();
    for (const key of ['AmbientCapabilities', 'CapabilityBoundingSet']) {
      const values = s.get(key) ?? [];
      expect(values, key).toHaveLength(1);
      expect(values[0]!.split(/\s+/).sort(), key).toEqual(CAPABILITIES);
    }
    expect(s.get('NoNewPrivileges')).toEqual(['yes']);
  });

  it('is hardened: read-only system but /run/mip4 and /var/lib/mip4, no home, private /tmp, four address families', () => {
    const s = unit();
    expect(s.get('ProtectSystem')).toEqual(['strict']);
    expect(s.get('ReadWritePaths')).toEqual(['/run/mip4 /var/lib/mip4']);
    expect(s.get('RuntimeDirectory')).toEqual(['mip4']);
    expect(s.get('StateDirectory')).toEqual(['mip4']);
    expect(s.get('ProtectHome')).toEqual(['yes']);
    expect(s.get('PrivateTmp')).toEqual(['yes']);
    expect(s.get('RestrictAddressFamilies')?.[0]?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_NETLINK', 'AF_PACKET', 'AF_UNIX']);
    // Only the mobile node writes net.ipv4.conf.* settings (io/linux/mn-host.ts).
    expect(s.get('ProtectKernelTunables')).toEqual([role === 'mn' ? 'no' : 'yes']);
  });

  it('passes systemd-analyze verify', (context) => {
    const missing = missingTools('systemd-analyze');
    if (missing !== undefined) context.skip(missing);
    // verify insists that ExecStart's program exists: point it at this checkout's bin/mip4.js,
    // everything else as shipped.
    const dir = join(scratch, `verify-${role}`);
    mkdirSync(dir, { recursive: true });
    const copy = join(dir, `mip4-${role}.service`);
    writeFileSync(copy, readFileSync(unitPath(role), 'utf8').replace('ExecStart=/usr/local/bin/mip4 ', `ExecStart=${join(ROOT, 'bin', 'mip4.js')} `));
    const run = spawnSync('systemd-analyze', ['verify', copy], { cwd: dir, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });
});

describe('packaging/sysusers.d and tmpfiles.d', () => {
  it('create the user mip4 and /etc/mip4, /var/lib/mip4, /run/mip4 with mode 0750', (context) => {
    const missing = missingTools('systemd-sysusers', 'systemd-tmpfiles');
    if (missing !== undefined) context.skip(missing);
    const root = join(scratch, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    execFileSync('systemd-sysusers', [`--root=${root}`, join(ROOT, 'packaging', 'sysusers.d', 'mip4.conf')], { stdio: 'pipe' });
    const user = readFileSync(join(root, 'etc', 'passwd'), 'utf8').split('\n').find((line) => line.startsWith('mip4:'));
    expect(user).toMatch(/^mip4:x:(\d+):(\d+):[^:]*:\/var\/lib\/mip4:\/usr\/sbin\/nologin$/);
    const uid = Number(user!.split(':')[2]);
    const gid = Number(user!.split(':')[3]);
    execFileSync('systemd-tmpfiles', [`--root=${root}`, '--create', join(ROOT, 'packaging', 'tmpfiles.d', 'mip4.conf')], { stdio: 'pipe' });
    const owners = (path: string) => {
      const s = statSync(join(root, path));
      return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid };
    };
    expect(owners('etc/mip4')).toEqual({ mode: '750', uid: 0, gid });
    expect(owners('var/lib/mip4')).toEqual({ mode: '750', uid, gid });
    expect(owners('run/mip4')).toEqual({ mode: '750', uid, gid });
  });
});
