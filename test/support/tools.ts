/**
 * External programs some tests drive (ping, tshark, dumpcap, iperf3). A fresh Debian has none
 * of them: a test that needs one skips, naming what to install, instead of failing.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Debian package of each tool (.ci/run installs them). */
const PACKAGE: Readonly<Record<string, string>> = {
  ping: 'iputils-ping',
  tshark: 'tshark',
  dumpcap: 'wireshark-common',
  editcap: 'wireshark-common',
  text2pcap: 'wireshark-common',
  iperf3: 'iperf3',
  nft: 'nftables',
  'systemd-analyze': 'systemd',
  'systemd-sysusers': 'systemd',
  'systemd-tmpfiles': 'systemd',
  setpriv: 'util-linux',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  tc: 'iproute2',
  clang: 'clang',
  python3: 'python3',
  ldd: 'libc-bin',
  'llvm-objdump': 'llvm',
};

/** Whether `tool` is an executable file on PATH, as `command -v` would find it. */
export function hasTool(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, tool);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Why a test needing `tools` cannot run, naming the missing ones and their packages; undefined when all are there. */
export function missingTools(...tools: string[]): string | undefined {
  const missing = tools.filter((tool) => !hasTool(tool));
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((tool) => PACKAGE[tool] ?? tool))].join(' ');
  return `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed (apt-get install ${packages}; .ci/run installs it)`;
}
