/**
 * The NAT router of `mip4 lab up --nat` (nat-plan.ts) built with iproute2 and nftables, its
 * restart, and its mappings for `mip4 lab status`.
 *
 * A restart deletes the NAT's namespace and builds it again, as a rebooted home router comes
 * back: its links drop and every mapping is gone (conntrack state lives in the namespace), and
 * the next mapping gets a port of the other range (natPortRange), so the home agent must
 * follow the rebinding (RFC 3519 4.10). No `conntrack` tool is needed for it.
 */
import { spawnSync } from 'node:child_process';
import {
  NAT_INTERFACE_ADDRESSES,
  NAT_MACS,
  NAT_ROLE,
  NAT_ROUTES,
  NAT_TABLE,
  NAT_UNMATCHED_COUNTER,
  NAT_VETHS,
  natMappingsFromConntrack,
  natRuleset,
  natUdpTimeoutSysctls,
  type NatMapping,
  type NatSettings,
} from './nat-plan.js';
import { namespaceOf, sysctlsOf, type LabRole } from './plan.js';

/** Why a NAT lab cannot be built here (no `nft`), or undefined. */
export function natToolProblem(): string | undefined {
  const probe = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (probe.error !== undefined || probe.status !== 0) return '--nat needs nftables (the `nft` command): install it, e.g. apt-get install nftables';
  return undefined;
}

function run(command: string, args: readonly string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000, ...(input !== undefined ? { input } : {}) });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? result.error?.message ?? '' };
}

function must(what: string, result: { status: number | null; stderr: string }): void {
  if (result.status !== 0) throw new Error(`${what} failed: ${result.stderr.trim()}`);
}

function ipBatch(namespace: string, commands: readonly string[]): void {
  must(`ip -n ${namespace} -batch (${commands.join('; ')})`, run('ip', ['-n', namespace, '-batch', '-'], commands.join('\n') + '\n'));
}

function sysctl(namespace: string, settings: ReadonlyArray<readonly [string, string]>): void {
  must(`sysctl in ${namespace}`, run('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', ...settings.map(([k, v]) => `${k}=${v}`)]));
}

/**
 * Builds the NAT router of lab `name`: its namespace, its two links (into the switch's
 * foreign-2 bridge and to the router), addresses, default route, the masquerade ruleset of
 * `settings.generation` and the UDP timeout. The switch and router namespaces must exist.
 * Throws with the failing command's error.
 */
export function buildNatRouter(name: string, settings: NatSettings): void {
  const nat = namespaceOf(name, NAT_ROLE);
  must(`ip netns add ${nat}`, run('ip', ['netns', 'add', nat]));
  sysctl(nat, sysctlsOf(NAT_ROLE));
  ipBatch(nat, ['link set lo up']);
  for (const veth of NAT_VETHS) {
    ipBatch(namespaceOf(name, veth.aRole), [
      // The NAT's own ends keep their MAC addresses across restarts, as a rebooted router's
      // ports do: neighbours' ARP entries stay right and the gap is the NAT's alone.
      `link add ${veth.a} type veth peer name ${veth.b} address ${NAT_MACS[veth.b]} netns ${nat}`,
      ...(veth.bridge !== undefined ? [`link set ${veth.a} master ${veth.bridge}`] : []),
      `link set ${veth.a} up`,
    ]);
  }
  const perRole = new Map<LabRole, string[]>();
  const add = (role: LabRole, command: string) => perRole.set(role, [...(perRole.get(role) ?? []), command]);
  for (const veth of NAT_VETHS) add(NAT_ROLE, `link set ${veth.b} up`);
  for (const a of NAT_INTERFACE_ADDRESSES) add(a.role, `addr add ${a.cidr} dev ${a.device}`);
  for (const r of NAT_ROUTES) add(r.role, `route add ${r.destination} via ${r.via}`);
  for (const [role, commands] of perRole) ipBatch(namespaceOf(name, role), commands);
  must(`nft -f - in ${nat}`, run('ip', ['netns', 'exec', nat, 'nft', '-f', '-'], natRuleset(settings.generation)));
  // After the ruleset: conntrack's sysctls exist in a namespace once it tracks there.
  if (settings.udpTimeoutSeconds !== undefined) sysctl(nat, natUdpTimeoutSysctls(settings.udpTimeoutSeconds));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Restarts the NAT of lab `name` (deletes its namespace, waits until the kernel has removed its
 * links, builds it again with `settings`, whose generation the caller has advanced).
 */
export async function restartNatRouter(name: string, settings: NatSettings): Promise<void> {
  must(`ip netns del ${namespaceOf(name, NAT_ROLE)}`, run('ip', ['netns', 'del', namespaceOf(name, NAT_ROLE)]));
  // A namespace's links go with it, but the kernel tears them down after `ip netns del` returns.
  const deadline = Date.now() + 10_000;
  for (const veth of NAT_VETHS) {
    while (run('ip', ['-n', namespaceOf(name, veth.aRole), 'link', 'show', 'dev', veth.a]).status === 0) {
      if (Date.now() > deadline) throw new Error(`${veth.a} in ${namespaceOf(name, veth.aRole)} outlived the NAT's namespace by 10 s`);
      await sleep(50);
    }
  }
  buildNatRouter(name, settings);
}

/** The NAT's translated mappings now, or undefined when its conntrack table cannot be read. */
export function readNatMappings(name: string): NatMapping[] | undefined {
  const nat = namespaceOf(name, NAT_ROLE);
  const proc = run('ip', ['netns', 'exec', nat, 'cat', '/proc/net/nf_conntrack']);
  if (proc.status === 0) return natMappingsFromConntrack(proc.stdout);
  const tool = run('ip', ['netns', 'exec', nat, 'conntrack', '-L']);
  return tool.status === 0 ? natMappingsFromConntrack(tool.stdout) : undefined;
}

/** Datagrams from outside that matched no mapping (the NAT's named counter), or undefined. */
export function readNatUnmatched(name: string): number | undefined {
  const result = run('ip', ['netns', 'exec', namespaceOf(name, NAT_ROLE), 'nft', '-j', 'list', 'counter', 'ip', NAT_TABLE, NAT_UNMATCHED_COUNTER]);
  if (result.status !== 0) return undefined;
  try {
    const items = (JSON.parse(result.stdout) as { nftables?: Array<{ counter?: { packets?: number } }> }).nftables ?? [];
    const counter = items.find((item) => item.counter !== undefined)?.counter;
    return counter === undefined ? undefined : Number(counter.packets ?? 0);
  } catch {
    return undefined;
  }
}
