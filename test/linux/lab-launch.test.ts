/**
 * How `mip4 lab` starts its daemons (runtime/cli/lab/lab.ts inNamespaceCommand): in the
 * namespace's network, seeing that namespace's interfaces under /sys/class/net (a daemon reads
 * its interface's MAC and MTU there) and the host's bpffs on /sys/fs/bpf (where a tc-BPF
 * daemon pins, so others and a restart find the pins); `ip netns exec` gives the first only,
 * bare `nsenter --net` the second only.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inNamespaceCommand } from '../../runtime/cli/lab/lab.js';
import { ip, linuxSkipReason, missingTools, Namespaces, titled } from './netns.js';

const skip = linuxSkipReason() ?? missingTools('nsenter', 'unshare');
const namespaces = new Namespaces();
const hold = mkdtempSync(join(tmpdir(), 'mip4-lab-launch-'));

afterAll(() => {
  namespaces.cleanup();
  rmSync(hold, { recursive: true, force: true });
});

describe('lab daemons start in their namespace', () => {
  it.skipIf(skip !== undefined)(titled("see the namespace's eth0 in /sys/class/net, the host's bpffs on /sys/fs/bpf, and keep their pid", skip), () => {
    const ns = namespaces.add(`m4launch-${process.pid}`);
    ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer');
    const [link] = JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ address: string }>;
    const [command, ...args] = inNamespaceCommand(ns, hold, ['sh', '-c', 'cat /sys/class/net/eth0/address; stat -f -c %T /sys/fs/bpf; echo $$; ls /sys/class/net']);
    const result = spawnSync(command!, args, { encoding: 'utf8', timeout: 10_000 });
    expect(result.stderr).toBe('');
    const [address, fsType, pid, ...interfaces] = result.stdout.trim().split('\n');
    expect(address).toBe(link!.address);
    expect(fsType).toBe('bpf_fs');
    expect(Number(pid)).toBe(result.pid);
    expect(interfaces.sort()).toEqual(['eth0', 'eth0-peer', 'lo']);
    // The host's own view is untouched.
    expect(spawnSync('stat', ['-f', '-c', '%T', '/sys/class/net'], { encoding: 'utf8' }).stdout.trim()).toBe('sysfs');
  });
});
