/**
 * The foreign agent's visitor capture on Linux (io/linux/visitor-capture.ts, RFC 3024 delivery styles):
 * policy rules in a namespace the test makes. `ip route get … iif` asks the kernel how it would
 * route a datagram arriving from the visitor: forwarded before the capture, dropped (the
 * blackhole) after it, delivered locally when addressed to the agent either way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ipv4 } from '../../io/wire/bytes.js';
import { DEFAULT_CAPTURE_PRIORITY, linuxVisitorCapture } from '../../io/linux/visitor-capture.js';
import { ip, linuxSkipReason, Namespaces, titled } from './netns.js';

const skip = linuxSkipReason();
const pid = process.pid;
const namespaces = new Namespaces();
const FA_NS = `mip4-fac-fa-${pid}`;
const MN_NS = `mip4-fac-mn-${pid}`;
const CN_NS = `mip4-fac-cn-${pid}`;
const HOME = '198.51.100.10';

afterAll(() => namespaces.cleanup());

/** How the FA namespace's kernel would route a datagram from the visitor to `destination`. */
function routeFromVisitor(destination: string): { ok: boolean; text: string } {
  const r = spawnSync('ip', ['-n', FA_NS, '-4', 'route', 'get', destination, 'from', HOME, 'iif', 'vfa0'], { encoding: 'utf8', timeout: 5000 });
  return { ok: r.status === 0, text: `${r.stdout}${r.stderr}` };
}

const rules = () => ip('-n', FA_NS, '-4', 'rule', 'show').split('\n').filter((line) => line.startsWith(`${DEFAULT_CAPTURE_PRIORITY}:`));

describe('visitor capture on Linux (policy rules, in namespaces)', () => {
  it.skipIf(skip !== undefined)(
    titled("clears stale rules at start; a captured visitor's datagrams are no longer forwarded, those to the agent still delivered; released and closed, nothing stays", skip),
    async () => {
      namespaces.add(FA_NS);
      namespaces.add(MN_NS);
      namespaces.add(CN_NS);
      namespaces.veth({ ns: FA_NS, name: 'vfa0', cidr: '203.0.113.1/24' }, { ns: MN_NS, name: 'vmn0', cidr: '203.0.113.9/24' });
      namespaces.veth({ ns: FA_NS, name: 'vfa1', cidr: '192.0.2.1/24' }, { ns: CN_NS, name: 'vcn0', cidr: '192.0.2.5/24' });
      ip('netns', 'exec', FA_NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      ip('netns', 'exec', FA_NS, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0');
      ip('netns', 'exec', FA_NS, 'sysctl', '-qw', 'net.ipv4.conf.vfa0.rp_filter=0');
      // A stale rule from a crashed run.
      ip('-n', FA_NS, '-4', 'rule', 'add', 'priority', String(DEFAULT_CAPTURE_PRIORITY), 'from', '198.51.100.77/32', 'iif', 'vfa0', 'lookup', '5210');
      expect(routeFromVisitor('192.0.2.5').ok).toBe(true);

      const errors: string[] = [];
      const capture = linuxVisitorCapture('vfa0', { namespace: FA_NS, onError: (m) => errors.push(m) });
      await capture.settled();
      expect(rules()).toEqual([]);
      capture.capture(ipv4(HOME), '02:00:00:00:00:0a');
      await capture.settled();
      expect(rules()).toHaveLength(1);
      expect(rules()[0]).toMatch(/from 198\.51\.100\.10 iif vfa0 lookup 5210/);
      const dropped = routeFromVisitor('192.0.2.5');
      expect(dropped.ok && !/blackhole/.test(dropped.text)).toBe(false);
      const local = routeFromVisitor('203.0.113.1');
      expect(local.ok).toBe(true);
      expect(local.text).toMatch(/^local 203\.0\.113\.1/);

      capture.release(ipv4(HOME));
      await capture.settled();
      expect(rules()).toEqual([]);
      expect(routeFromVisitor('192.0.2.5').ok).toBe(true);

      capture.capture(ipv4(HOME), '02:00:00:00:00:0a');
      capture.close();
      await capture.settled();
      expect(rules()).toEqual([]);
      expect(ip('-n', FA_NS, '-4', 'route', 'show', 'table', '5210').trim()).toBe('');
      expect(errors).toEqual([]);
    },
    30_000,
  );
});
