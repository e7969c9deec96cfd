/**
 * The foreign agent's visitor capture on Linux (runtime/fa/visitor-capture.ts says why): the
 * agent reads 'T' visitors' frames on its packet socket, and the kernel must not also route
 * them. Policy routing does it without a firewall: one rule per visitor,
 *
 *   ip rule add priority P from HOME/32 iif IFACE lookup T      (T holds only "blackhole default")
 *
 * below the local table's rule (priority 0), so datagrams to the agent's own addresses are
 * still delivered (Requests, the encapsulating delivery style's tunnel) and only forwarding
 * is dropped, silently (a blackhole route sends no ICMP). The packet socket sees the frame
 * before routing. Chosen over a TUN device (the kernel would decrement TTL and answer ICMP,
 * but then the tunnel's RFC 2003 checks would see a routed copy) and over nftables (one tool
 * fewer). All rules at priority P belong to mip4: cleared at start (stale ones of a crash)
 * and at close, with table T.
 */
import { execFile } from 'node:child_process';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';

export interface LinuxVisitorCaptureOptions {
  /** The iproute2 program (default `ip` on PATH). */
  readonly ipCommand?: string;
  /** The rules' priority (default 5210, below main's 32766, above local's 0). */
  readonly priority?: number;
  /** The routing table holding the blackhole route (default 5210). */
  readonly table?: number;
  /** Run in this network namespace (`ip -n NAME`): tests. */
  readonly namespace?: string;
  /** A command that failed (the daemon logs it); the agent goes on. */
  readonly onError?: (message: string) => void;
}

export interface LinuxVisitorCapture {
  capture(homeAddress: Ipv4Address, linkLayerAddress: string): void;
  release(homeAddress: Ipv4Address): void;
  close(): void;
  /** Resolves when every command issued so far has run (tests, stop). */
  settled(): Promise<void>;
}

export const DEFAULT_CAPTURE_PRIORITY = 5210;
export const DEFAULT_CAPTURE_TABLE = 5210;

/** Most stale rules removed at start (one `ip rule del priority P` each). */
const MAX_STALE_RULES = 65_536;

export function linuxVisitorCapture(interfaceName: string, options: LinuxVisitorCaptureOptions = {}): LinuxVisitorCapture {
  const ip = options.ipCommand ?? 'ip';
  const priority = String(options.priority ?? DEFAULT_CAPTURE_PRIORITY);
  const table = String(options.table ?? DEFAULT_CAPTURE_TABLE);
  const namespaceArgs = options.namespace === undefined ? [] : ['-n', options.namespace];
  let chain: Promise<unknown> = Promise.resolve();
  const run = (args: readonly string[], quiet = false): Promise<boolean> => {
    const step = chain.then(
      () =>
        new Promise<boolean>((resolve) => {
          execFile(ip, [...namespaceArgs, ...args], { timeout: 5000 }, (error, _stdout, stderr) => {
            if (error !== null && !quiet) options.onError?.(`${ip} ${args.join(' ')}: ${String(stderr).trim() || error.message}`);
            resolve(error === null);
          });
        }),
    );
    chain = step;
    return step;
  };
  const clearRules = async (): Promise<void> => {
    for (let i = 0; i < MAX_STALE_RULES; i++) {
      if (!(await run(['-4', 'rule', 'del', 'priority', priority], true))) return;
    }
  };
  const ruleOf = (homeAddress: Ipv4Address) => ['-4', 'rule', '%', 'priority', priority, 'from', `${ipv4ToString(homeAddress)}/32`, 'iif', interfaceName, 'lookup', table];
  const ready = clearRules().then(() => run(['-4', 'route', 'replace', 'blackhole', 'default', 'table', table]));
  void ready;
  const captured = new Set<number>();
  return {
    capture(homeAddress) {
      if (captured.has(homeAddress | 0)) return;
      captured.add(homeAddress | 0);
      void run(ruleOf(homeAddress).map((a) => (a === '%' ? 'add' : a)));
    },
    release(homeAddress) {
      if (!captured.delete(homeAddress | 0)) return;
      void run(ruleOf(homeAddress).map((a) => (a === '%' ? 'del' : a)), true);
    },
    close() {
      captured.clear();
      void clearRules();
      void run(['-4', 'route', 'flush', 'table', table], true);
    },
    settled: async () => {
      await chain;
    },
  };
}
