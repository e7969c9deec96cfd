/**
 * `mip4 lab`: builds the topology of runtime/cli/lab/plan.ts with iproute2 (as root), starts the
 * daemons inside their namespaces as background processes, and takes it all down again.
 *
 * State lives in `<stateDir>/<name>/` (default /run/mip4-lab/<name>/): state.json, the
 * daemons' configs (keys generated per lab, mode 0600), one log and one pid file per daemon.
 * `down` trusts nothing but names: it signals the pids it finds in pid files and in the lab's
 * namespaces (`ip netns pids`), then deletes every namespace named as one of the lab's roles
 * (exact names: lab `demo` never touches lab `demo-x`), so it also cleans up after a crash of
 * `up` or of a daemon, and is idempotent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataPathEngineSetting } from '../../../policies/data-path-engine.js';
import { controlCall, ControlClientError } from '../../control/control-client.js';
import { ingressFilterText, ingressFilterToolProblem, loadIngressFilter, readIngressDrops, type IngressDrops } from './ingress-filter.js';
import {
  ADDRESSES,
  BRIDGE,
  daemonPlans,
  labControlSocket,
  ROUTES,
  HOST_INTERFACE,
  INTERFACE_ADDRESSES,
  LAB_ROLES,
  labNameProblem,
  MN_PORT,
  LAB_REVERSE_TUNNEL_DEFAULT,
  namespaceOf,
  namespacePrefix,
  namespacesOfLab,
  PLACE_SEGMENT,
  segmentOfBridge,
  SEGMENTS,
  sysctlsOf,
  VETHS,
  type DaemonPlan,
  type Encapsulation,
  type LabKeys,
  type LabRole,
  type MnPlace,
  type Segment,
} from './plan.js';
import { addressReplacedByNat, labKeepaliveInterval, NAT_ADDRESSES, NAT_ROLE, natStatusLines, replacedByNat, type NatMapping, type NatSettings } from './nat-plan.js';
import { buildNatRouter, natToolProblem, readNatMappings, readNatUnmatched, restartNatRouter } from './nat.js';
import { isAlive as alive, pidsInNamespace as pidsIn, sleep, stopProcesses } from './namespace-processes.js';

export const DEFAULT_STATE_DIR = '/run/mip4-lab';
export const DEFAULT_LAB_NAME = 'demo';

/** bin/mip4.js of this checkout, from dist/runtime/cli/lab/lab.js or (under vitest) runtime/cli/lab/lab.ts. */
const MIP4_BIN = fileURLToPath(new URL(import.meta.url.includes('/dist/runtime/') ? '../../../../bin/mip4.js' : '../../../bin/mip4.js', import.meta.url));

/** A problem `mip4 lab` explains to its user (exit 1), as opposed to a bug. */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

export interface LabOptions {
  readonly name: string;
  readonly stateDir: string;
}

interface LabState {
  readonly name: string;
  readonly encapsulation: Encapsulation;
  readonly createdAt: string;
  /** `--ingress-filter`, and whether the configs ask for reverse tunnels (absent in older state files). */
  readonly ingressFilter?: boolean;
  readonly reverseTunnel?: boolean;
  /** `--nat`: foreign-2 behind a NAT router (nat-plan.ts); absent without it. */
  readonly nat?: NatSettings;
  /** `--engine`: the dataPath.engine written into every config; absent: the daemons' default. */
  readonly engine?: DataPathEngineSetting;
  place: MnPlace;
}

export function labDirectory(options: LabOptions): string {
  return join(options.stateDir, options.name);
}

// ---------------------------------------------------------------------------------------------
// Preconditions

/** Why this process cannot build a lab, or undefined. */
export function labEnvironmentProblem(): string | undefined {
  if (process.platform !== 'linux') return 'mip4 lab needs Linux (network namespaces)';
  if (process.getuid?.() !== 0) return 'mip4 lab needs root to create network namespaces: run it with sudo';
  const probe = spawnSync('ip', ['-V'], { encoding: 'utf8', timeout: 5_000 });
  if (probe.error !== undefined || probe.status !== 0) return 'iproute2 is missing (the `ip` command): install it, e.g. apt-get install iproute2';
  for (const tool of ['nsenter', 'unshare']) {
    const found = spawnSync(tool, ['--version'], { encoding: 'utf8', timeout: 5_000 });
    if (found.error !== undefined || found.status !== 0) return `${tool} is missing (it starts the daemons in their namespaces): install util-linux`;
  }
  return undefined;
}

function check(options: LabOptions): void {
  const nameProblem = labNameProblem(options.name);
  if (nameProblem !== undefined) throw new LabError(nameProblem);
  const problem = labEnvironmentProblem();
  if (problem !== undefined) throw new LabError(problem);
}

// ---------------------------------------------------------------------------------------------
// iproute2

function run(command: string, args: readonly string[], timeoutMs = 10_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? result.error?.message ?? '' };
}

function ip(...args: string[]): string {
  const result = run('ip', args);
  if (result.status !== 0) throw new LabError(`ip ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Runs `ip -batch` in one namespace: one process for many commands. */
function ipBatch(namespace: string, commands: readonly string[]): void {
  if (commands.length === 0) return;
  const result = spawnSync('ip', ['-n', namespace, '-batch', '-'], { input: commands.join('\n') + '\n', encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new LabError(`ip -n ${namespace} -batch failed: ${(result.stderr ?? '').trim()}\ncommands:\n${commands.join('\n')}`);
}

function sysctl(namespace: string, settings: ReadonlyArray<readonly [string, string]>): void {
  const result = run('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', ...settings.map(([k, v]) => `${k}=${v}`)]);
  if (result.status !== 0) throw new LabError(`sysctl in ${namespace} failed: ${result.stderr.trim()}`);
}

/** The network namespaces of lab `name` that exist now (`ip netns list`, exact names). */
export function labNamespaces(name: string): string[] {
  const result = run('ip', ['netns', 'list']);
  if (result.status !== 0) return [];
  return namespacesOfLab(
    name,
    result.stdout.split('\n').map((line) => line.split(' ')[0] ?? ''),
  );
}

// ---------------------------------------------------------------------------------------------
// up

export interface UpOptions extends LabOptions {
  readonly encapsulation: Encapsulation;
  /** The router drops datagrams whose source is outside the segment they arrive from (BCP 38, nftables). */
  readonly ingressFilter?: boolean;
  /** The configs ask for reverse tunnels (RFC 3024); default LAB_REVERSE_TUNNEL_DEFAULT. */
  readonly reverseTunnel?: boolean;
  /** Foreign-2 behind a masquerading NAT (nat-plan.ts); the configs ask for UDP tunnelling (RFC 3519). */
  readonly nat?: { readonly udpTimeoutSeconds?: number; readonly keepaliveSeconds?: number };
  /** How long to wait for each daemon's ready line. */
  readonly readyTimeoutMs?: number;
  /** `--engine`: dataPath.engine in every daemon's config (bpf, userspace, auto); absent: not written. */
  readonly engine?: DataPathEngineSetting;
}

export interface UpResult {
  readonly directory: string;
  readonly summary: string;
}

function generateKeys(): LabKeys {
  const key = () => randomBytes(16).toString('hex');
  return { mobileHome: key(), foreignHome1: key(), foreignHome2: key() };
}

/** The lab's namespaces, links, addresses and routes; with `nat`, all but the NAT router's own (nat.ts). */
function buildTopology(name: string, nat: boolean): void {
  for (const role of LAB_ROLES) {
    ip('netns', 'add', namespaceOf(name, role));
    // Before any interface exists, so every interface starts with these defaults.
    sysctl(namespaceOf(name, role), sysctlsOf(role));
    ipBatch(namespaceOf(name, role), ['link set lo up']);
  }
  const sw = namespaceOf(name, 'sw');
  ipBatch(
    sw,
    SEGMENTS.flatMap((segment) => [`link add ${BRIDGE[segment]} type bridge`, `link set ${BRIDGE[segment]} up`]),
  );
  const veths = VETHS.filter((veth) => !(nat && replacedByNat(veth)));
  for (const veth of veths) {
    ipBatch(namespaceOf(name, veth.aRole), [
      `link add ${veth.a} type veth peer name ${veth.b} netns ${namespaceOf(name, veth.bRole)}`,
      ...(veth.bridge !== undefined ? [`link set ${veth.a} master ${veth.bridge}`] : []),
      `link set ${veth.a} up`,
    ]);
  }
  const perRole = new Map<LabRole, string[]>();
  const add = (role: LabRole, command: string) => perRole.set(role, [...(perRole.get(role) ?? []), command]);
  for (const a of INTERFACE_ADDRESSES) if (!(nat && addressReplacedByNat(a))) add(a.role, `addr add ${a.cidr} dev ${a.device}`);
  for (const veth of veths) add(veth.bRole, `link set ${veth.b} up`);
  for (const r of ROUTES) add(r.role, `route add ${r.destination} via ${r.via}`);
  for (const [role, commands] of perRole) ipBatch(namespaceOf(name, role), commands);
}

function pidFile(directory: string, role: string): string {
  return join(directory, `${role}.pid`);
}

function logFile(directory: string, role: string): string {
  return join(directory, `${role}.log`);
}

function errFile(directory: string, role: string): string {
  return join(directory, `${role}.err`);
}

/**
 * Runs `argv` in a lab namespace, as `[command, ...args]`. Not `ip netns exec`: it mounts a
 * private /sys, so what a tc-BPF daemon pins under /sys/fs/bpf would be invisible to others
 * and vanish with it (docs/kernel-fast-path.md). Not bare `nsenter --net` either: the host's
 * /sys would show the host's interfaces, and the lab's eth0 would be read as the host's (MAC,
 * MTU). So: the namespace's network, a private mount namespace with a sysfs of that network,
 * and the host's bpffs moved onto its /sys/fs/bpf. Every step execs the next: the pid is the
 * daemon's own, and signals reach it. `hold` is an empty directory for the move.
 */
export function inNamespaceCommand(namespace: string, hold: string, argv: readonly string[]): string[] {
  const script = 'hold=$1; shift; mount --bind /sys/fs/bpf "$hold" && umount -l /sys && mount -t sysfs sysfs /sys && mount --move "$hold" /sys/fs/bpf && exec "$@"';
  return ['nsenter', `--net=/run/netns/${namespace}`, 'unshare', '--mount', '--propagation', 'slave', 'sh', '-c', script, 'mip4-lab', hold, ...argv];
}

/** The host's bpffs on /sys/fs/bpf, where the daemons pin (mounted when absent, as io/linux/bpf.ts would). */
function ensureBpffs(): void {
  const mounts = existsSync('/proc/mounts') ? readFileSync('/proc/mounts', 'utf8') : '';
  if (mounts.split('\n').some((line) => line.split(' ')[1] === '/sys/fs/bpf' && line.split(' ')[2] === 'bpf')) return;
  const result = run('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  if (result.status !== 0) throw new LabError(`mounting a bpffs on /sys/fs/bpf (where the daemons pin their tc-BPF programs) failed: ${result.stderr.trim()}`);
}

function startDaemon(name: string, directory: string, daemon: DaemonPlan): number {
  const out = openSync(logFile(directory, daemon.role), 'a');
  const err = openSync(errFile(directory, daemon.role), 'a');
  try {
    const hold = join(directory, `${daemon.role}.bpffs`);
    mkdirSync(hold, { recursive: true, mode: 0o700 });
    const [command, ...args] = inNamespaceCommand(namespaceOf(name, daemon.role), hold, [process.execPath, MIP4_BIN, daemon.command, '--config', join(directory, daemon.configFile)]);
    const child = spawn(command!, args, { detached: true, stdio: ['ignore', out, err] });
    child.unref();
    if (child.pid === undefined) throw new LabError(`could not start mip4 ${daemon.command} in ${namespaceOf(name, daemon.role)}`);
    writeFileSync(pidFile(directory, daemon.role), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** The daemon's JSON log lines so far (partial or foreign lines skipped). */
export function logLines(directory: string, role: string): Array<Record<string, unknown> & { event?: string }> {
  const path = logFile(directory, role);
  if (!existsSync(path)) return [];
  const lines: Array<Record<string, unknown> & { event?: string }> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // the line being written right now
    }
  }
  return lines;
}

function tail(path: string, lines = 8): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

async function waitReady(directory: string, daemon: DaemonPlan, pid: number, timeoutMs: number, skipLines = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (logLines(directory, daemon.role).slice(skipLines).some((l) => l.event === daemon.readyEvent)) return;
    if (!alive(pid)) {
      throw new LabError(`mip4 ${daemon.command} (${daemon.role}) exited during start:\n${tail(errFile(directory, daemon.role))}`);
    }
    if (Date.now() > deadline) {
      throw new LabError(`mip4 ${daemon.command} (${daemon.role}) did not report '${daemon.readyEvent}' within ${timeoutMs} ms; see ${logFile(directory, daemon.role)}`);
    }
    await sleep(50);
  }
}

function readState(directory: string): LabState | undefined {
  const path = join(directory, 'state.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** What `up` recorded about a lab (its options and the node's place), or undefined when it is not up. */
export function labSettings(options: LabOptions): Readonly<LabState> | undefined {
  return readState(labDirectory(options));
}

function writeState(directory: string, state: LabState): void {
  writeFileSync(join(directory, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
}

export async function labUp(options: UpOptions): Promise<UpResult> {
  check(options);
  const directory = labDirectory(options);
  const leftovers = labNamespaces(options.name);
  if (existsSync(directory) || leftovers.length > 0) {
    throw new LabError(
      `lab '${options.name}' is already up (${leftovers.length} namespaces, state in ${directory}): ` +
        `'mip4 lab down --name ${options.name}' removes it`,
    );
  }
  const ingressFilter = options.ingressFilter ?? false;
  const reverseTunnel = options.reverseTunnel ?? LAB_REVERSE_TUNNEL_DEFAULT;
  const toolProblem = (ingressFilter ? ingressFilterToolProblem() : undefined) ?? (options.nat !== undefined ? natToolProblem() : undefined);
  if (toolProblem !== undefined) throw new LabError(toolProblem);
  const nat: NatSettings | undefined =
    options.nat === undefined
      ? undefined
      : {
          ...(options.nat.udpTimeoutSeconds !== undefined ? { udpTimeoutSeconds: options.nat.udpTimeoutSeconds } : {}),
          keepaliveSeconds: options.nat.keepaliveSeconds ?? labKeepaliveInterval(options.nat.udpTimeoutSeconds),
          generation: 0,
        };
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  try {
    buildTopology(options.name, nat !== undefined);
    if (nat !== undefined) {
      try {
        buildNatRouter(options.name, nat);
      } catch (error) {
        throw new LabError(`building the NAT router ${namespaceOf(options.name, NAT_ROLE)}: ${(error as Error).message}`);
      }
    }
    if (ingressFilter) applyIngressFilter(options.name, nat !== undefined);
    if (options.engine !== 'userspace') ensureBpffs();
    const keys = generateKeys();
    const daemons = daemonPlans(keys, options.encapsulation, directory, reverseTunnel, nat !== undefined ? { keepaliveSeconds: nat.keepaliveSeconds } : undefined, options.engine);
    for (const daemon of daemons) writeFileSync(join(directory, daemon.configFile), daemon.config, { mode: 0o600 });
    writeState(directory, {
      name: options.name,
      encapsulation: options.encapsulation,
      createdAt: new Date().toISOString(),
      ingressFilter,
      reverseTunnel,
      ...(nat !== undefined ? { nat } : {}),
      ...(options.engine !== undefined ? { engine: options.engine } : {}),
      place: 'home',
    });
    // All at once: none needs another to start (a node that registers before its agents are
    // up retransmits, 3.6.3), and each node process takes a second or more to load.
    const started = daemons.map((daemon) => ({ daemon, pid: startDaemon(options.name, directory, daemon) }));
    await Promise.all(started.map(({ daemon, pid }) => waitReady(directory, daemon, pid, options.readyTimeoutMs ?? 20_000)));
  } catch (error) {
    await labDown(options);
    throw error;
  }
  return { directory, summary: upSummary(options.name, directory, options.encapsulation, ingressFilter, reverseTunnel, nat, options.engine) };
}

/** The router's BCP 38 filter (ingress-filter.ts), loaded before any daemon sends. */
function applyIngressFilter(name: string, nat: boolean): void {
  const problem = loadIngressFilter(namespaceOf(name, 'rt'), nat);
  if (problem !== undefined) throw new LabError(`loading the ingress filter into ${namespaceOf(name, 'rt')} failed: ${problem}`);
}

function upSummary(name: string, directory: string, encapsulation: Encapsulation, ingressFilter: boolean, reverseTunnel: boolean, nat: NatSettings | undefined, engine: DataPathEngineSetting | undefined): string {
  const ns = (role: LabRole) => namespaceOf(name, role);
  const flag = name === 'demo' ? '' : ` --name ${name}`;
  const filter = ingressFilter ? 'ingress filter on' : 'no ingress filter';
  return [
    `lab '${name}' is up (tunnel encapsulation ${encapsulation}, ${filter}, reverse tunnelling ${reverseTunnel ? 'asked for' : 'off'}, data path engine ${engine ?? "the daemons' default"}); state, configs and logs in ${directory}/`,
    '',
    `  correspondent CH  ${ADDRESSES.correspondent}  (${ns('ch')})`,
    `  router            ${ADDRESSES.routerCorrespondent}, ${ADDRESSES.routerHome}, ${ADDRESSES.routerForeign1}, ${nat === undefined ? ADDRESSES.routerForeign2 : NAT_ADDRESSES.routerTransit}  (${ns('rt')})`,
    `  home agent        ${ADDRESSES.homeAgent} on ${ADDRESSES.homeNetwork}  (${ns('ha')})`,
    `  foreign agent 1   ${ADDRESSES.foreignAgent1} on ${ADDRESSES.foreign1Network}  (${ns('fa1')})`,
    `  foreign agent 2   ${ADDRESSES.foreignAgent2} on ${ADDRESSES.foreign2Network}  (${ns('fa2')})`,
    ...(nat === undefined
      ? []
      : [
          `  NAT router        ${ADDRESSES.foreign2Network} (FA2, co-located ${ADDRESSES.colocatedCareOf}) masqueraded to ${NAT_ADDRESSES.natOutside}; ` +
            `${nat.udpTimeoutSeconds === undefined ? "kernel's UDP timeout" : `UDP timeout ${nat.udpTimeoutSeconds} s`}, keepalives every ${nat.keepaliveSeconds} s  (${ns(NAT_ROLE)})`,
        ]),
    `  mobile node       home address ${ADDRESSES.mobileNodeHome}, now at home  (${ns('mn')})`,
    '',
    `  ping it:    ip netns exec ${ns('ch')} ping ${ADDRESSES.mobileNodeHome}`,
    `  move it:    mip4 lab move mn fa1|fa2|colocated|home${flag}`,
    ...(nat === undefined ? [] : [`  reboot NAT: mip4 lab nat restart${flag}   (mappings lost; reports when the node is reachable again)`]),
    `  load it:    mip4 lab traffic${flag}   (iperf3 both ways and 10 ms probes through every move)`,
    `  watch it:   mip4 lab status${flag}; tail -f ${directory}/mn.log`,
    `  remove it:  mip4 lab down${flag}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// down

export interface DownResult {
  readonly stoppedDaemons: number;
  readonly removedNamespaces: string[];
  readonly removedDirectory: boolean;
}

function pidFromFile(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Stops the daemons (SIGTERM, then SIGKILL after 3 s), deletes the namespaces and the state directory. */
export async function labDown(options: LabOptions): Promise<DownResult> {
  check(options);
  const directory = labDirectory(options);
  const namespaces = labNamespaces(options.name);
  const pids = new Set<number>();
  for (const role of ['ha', 'fa1', 'fa2', 'mn']) {
    const pid = pidFromFile(pidFile(directory, role));
    // Only a pid that still lives in one of the lab's namespaces is ours: after a reboot
    // a stale pid file may name someone else's process.
    if (pid !== undefined && alive(pid) && namespaces.some((ns) => pidsIn(ns).includes(pid))) pids.add(pid);
  }
  for (const ns of namespaces) for (const pid of pidsIn(ns)) pids.add(pid);
  await stopProcesses(pids, 3_000);
  for (const ns of namespaces) run('ip', ['netns', 'del', ns]);
  const removedDirectory = existsSync(directory);
  rmSync(directory, { recursive: true, force: true });
  return { stoppedDaemons: pids.size, removedNamespaces: namespaces, removedDirectory };
}

// ---------------------------------------------------------------------------------------------
// status

export interface DaemonStatus {
  readonly role: string;
  readonly pid?: number;
  readonly alive: boolean;
  readonly log: string;
}

export interface LabStatus {
  readonly name: string;
  readonly directory: string;
  readonly encapsulation?: Encapsulation;
  readonly namespaces: string[];
  readonly daemons: DaemonStatus[];
  /** The bridge segment the mobile node's link is on. */
  readonly mnSegment?: Segment;
  readonly mnPlace?: MnPlace;
  /** The node's state from its control socket (`mip4 mobile-node`): attachment, registration, … as text. */
  readonly mnState?: Record<string, string>;
  /** Per agent role, what its status over the control socket says it holds (bindings, visitors, pending). */
  readonly agents?: Record<string, Record<string, unknown>>;
  /** The router's ingress filter counters; absent when no filter is loaded. */
  readonly ingressFilter?: IngressDrops[];
  readonly reverseTunnel?: boolean;
  /** `--nat`: the NAT's settings, its translated mappings (undefined: unreadable) and unmatched inbound count. */
  readonly nat?: { readonly settings: NatSettings; readonly mappings?: NatMapping[]; readonly unmatched?: number };
}

function mnSegment(name: string): Segment | undefined {
  const result = run('ip', ['-n', namespaceOf(name, 'sw'), '-j', 'link', 'show', 'dev', MN_PORT]);
  if (result.status !== 0) return undefined;
  const [link] = JSON.parse(result.stdout) as Array<{ master?: string }>;
  return segmentOfBridge(link?.master);
}

/** Asks a lab daemon over its control socket; undefined when it does not answer. */
async function askDaemon(directory: string, role: DaemonPlan['role'], command: string): Promise<Record<string, unknown> | undefined> {
  try {
    const outcome = await controlCall(labControlSocket(directory, role), command, {}, { timeoutMs: 2_000 });
    return outcome.kind === 'value' ? (outcome.result as Record<string, unknown>) : undefined;
  } catch (error) {
    if (error instanceof ControlClientError) return undefined;
    throw error;
  }
}

/** The node's state as `key: value` texts (its counters as JSON). */
function mobileNodeLines(state: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(state).map(([key, value]) => [key, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)]));
}

export async function labStatus(options: LabOptions): Promise<LabStatus> {
  check(options);
  const directory = labDirectory(options);
  const namespaces = labNamespaces(options.name);
  const state = readState(directory);
  if (state === undefined && namespaces.length === 0) {
    throw new LabError(`no lab named '${options.name}' (nothing in ${directory}, no namespace ${namespacePrefix(options.name)}{${LAB_ROLES.join(',')}}); 'mip4 lab up --name ${options.name}' makes one`);
  }
  const daemons: DaemonStatus[] = ['ha', 'fa1', 'fa2', 'mn'].map((role) => {
    const pid = pidFromFile(pidFile(directory, role));
    return { role, ...(pid !== undefined ? { pid } : {}), alive: pid !== undefined && alive(pid), log: logFile(directory, role) };
  });
  const mn = daemons.find((d) => d.role === 'mn');
  const mnAnswer = mn?.alive ? await askDaemon(directory, 'mn', 'mobile-node') : undefined;
  const mnState = mnAnswer === undefined ? undefined : mobileNodeLines(mnAnswer);
  // What each agent holds, from its status over the control socket.
  const tables: Record<string, Record<string, unknown>> = {};
  for (const d of daemons) {
    if (d.role === 'mn' || !d.alive) continue;
    const status = await askDaemon(directory, d.role as DaemonPlan['role'], 'status');
    if (status !== undefined) tables[d.role] = d.role === 'ha' ? { bindings: status.bindings } : { visitors: status.visitors, pending: status.pending };
  }
  const segment = namespaces.includes(namespaceOf(options.name, 'sw')) ? mnSegment(options.name) : undefined;
  const drops = namespaces.includes(namespaceOf(options.name, 'rt')) ? readIngressDrops(namespaceOf(options.name, 'rt'), state?.nat !== undefined) : undefined;
  const natUp = state?.nat !== undefined && namespaces.includes(namespaceOf(options.name, NAT_ROLE));
  const mappings = natUp ? readNatMappings(options.name) : undefined;
  const unmatched = natUp ? readNatUnmatched(options.name) : undefined;
  return {
    name: options.name,
    directory,
    ...(state !== undefined ? { encapsulation: state.encapsulation, mnPlace: state.place } : {}),
    namespaces,
    daemons,
    ...(segment !== undefined ? { mnSegment: segment } : {}),
    ...(mnState !== undefined ? { mnState } : {}),
    agents: tables,
    ...(drops !== undefined ? { ingressFilter: drops } : {}),
    ...(state?.reverseTunnel !== undefined ? { reverseTunnel: state.reverseTunnel } : {}),
    ...(state?.nat !== undefined ? { nat: { settings: state.nat, ...(mappings !== undefined ? { mappings } : {}), ...(unmatched !== undefined ? { unmatched } : {}) } } : {}),
  };
}

export function statusText(status: LabStatus): string {
  const lines = [`lab '${status.name}' (${status.directory})`, `  namespaces: ${status.namespaces.length > 0 ? status.namespaces.join(' ') : 'none'}`];
  for (const d of status.daemons) {
    const holds = status.agents?.[d.role];
    const held = holds === undefined ? '' : `  (${Object.entries(holds).map(([k, v]) => `${String(v)} ${k}`).join(', ')})`;
    lines.push(`  ${d.role.padEnd(3)}  ${d.alive ? `running, pid ${d.pid}` : d.pid !== undefined ? `NOT running (pid ${d.pid})` : 'not started'}  log ${d.log}${held}`);
  }
  if (status.namespaces.length > 0) lines.push(`  ${ingressFilterText(status.ingressFilter)}`);
  if (status.nat !== undefined) lines.push(...natStatusLines(status.nat.settings, status.nat.mappings, status.nat.unmatched));
  if (status.reverseTunnel !== undefined) lines.push(`  reverse tunnelling: ${status.reverseTunnel ? "asked for ('T' in the configs)" : 'off'}`);
  if (status.mnPlace !== undefined) lines.push(`  mobile node placed at: ${status.mnPlace} (link on the ${status.mnSegment ?? 'unknown'} segment)`);
  if (status.mnState !== undefined) {
    for (const [key, value] of Object.entries(status.mnState)) if (key !== 'counters' && key !== 'interface') lines.push(`  mobile node ${key}: ${value}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// move

export interface MoveResult {
  /** What happened, for the person who asked. */
  readonly summary: string;
  /**
   * When the node's switch port was down and on the new bridge, and when its carrier came
   * back: `process.hrtime.bigint()` nanoseconds (CLOCK_MONOTONIC, the same in every process
   * of this host, whatever its namespace), so a receiver's arrival times compare with them.
   */
  readonly linkDownNs: bigint;
  readonly linkUpNs: bigint;
  /** `mip4 mn` was restarted (entering or leaving the co-located mode). */
  readonly restarted: boolean;
}

/**
 * What a DHCP client on FA2's segment would do in the node's namespace: bind the co-located
 * care-of address with the segment's router as default route, or release them.
 */
function colocatedLease(action: 'bind' | 'release'): string[] {
  const address = `${ADDRESSES.colocatedCareOf}/26`;
  return action === 'bind'
    ? [`addr replace ${address} dev ${HOST_INTERFACE}`, `route replace default via ${ADDRESSES.routerForeign2} dev ${HOST_INTERFACE}`]
    : [`addr del ${address} dev ${HOST_INTERFACE}`];
}

/**
 * Moves the mobile node's link: its switch port goes down (the node sees the carrier drop, a
 * link-layer indication of movement, 2.4), joins the place's bridge and comes up again.
 */
export async function labMove(options: LabOptions & { readonly place: MnPlace }): Promise<MoveResult> {
  check(options);
  const directory = labDirectory(options);
  const state = readState(directory);
  if (state === undefined || !labNamespaces(options.name).includes(namespaceOf(options.name, 'sw'))) {
    throw new LabError(`no lab named '${options.name}' is up; 'mip4 lab up --name ${options.name}' makes one`);
  }
  const sw = namespaceOf(options.name, 'sw');
  const segment = PLACE_SEGMENT[options.place];
  // `mip4 mn` keeps running: it follows the kernel's link and address events. The co-located
  // care-of address comes and goes as a DHCP client's lease would (colocatedLease).
  const leaving = state.place === 'colocated' && options.place !== 'colocated';
  const entering = options.place === 'colocated' && state.place !== 'colocated';
  ipBatch(sw, [`link set ${MN_PORT} down`, `link set ${MN_PORT} master ${BRIDGE[segment]}`]);
  const linkDownNs = process.hrtime.bigint();
  if (leaving) ipBatch(namespaceOf(options.name, 'mn'), colocatedLease('release'));
  // The carrier stays down long enough to be a move (the node hears of it at once, rtnetlink).
  await sleep(200);
  // Bound while the link was down: the node registers it as soon as the carrier is back.
  if (entering) ipBatch(namespaceOf(options.name, 'mn'), colocatedLease('bind'));
  ipBatch(sw, [`link set ${MN_PORT} up`]);
  const linkUpNs = process.hrtime.bigint();
  const from = state.place;
  state.place = options.place;
  writeState(directory, state);
  const mode = entering ? `; co-located care-of address ${ADDRESSES.colocatedCareOf} added` : leaving ? '; co-located care-of address removed' : '';
  return {
    summary: `mobile node moved from ${from} to ${options.place} (its link ${HOST_INTERFACE} is now on the ${segment} segment${mode})`,
    linkDownNs,
    linkUpNs,
    restarted: false,
  };
}

// ---------------------------------------------------------------------------------------------
// nat restart

export interface NatRestartResult {
  readonly summary: string;
  /** Restarts so far, this one included; selects the NAT's port range. */
  readonly generation: number;
  /**
   * From the NAT going down to the correspondent's first ping answered by the node's home
   * address, ms (100 ms resolution); undefined when not probed or not back within the wait.
   */
  readonly gapMs?: number;
  /** How long the probe waited, ms (0: not probed). */
  readonly waitedMs: number;
}

/**
 * Reboots the lab's NAT (nat.ts restartNatRouter): every mapping is lost and the next one gets
 * a new external port. Then, unless `waitMs` is 0, pings the node's home address from the
 * correspondent every 100 ms until it answers, which it does once the node's next keepalive or
 * registration has told the home agent the new port (RFC 3519 4.10): the gap is reported.
 */
export async function labNatRestart(options: LabOptions & { readonly waitMs?: number }): Promise<NatRestartResult> {
  check(options);
  const directory = labDirectory(options);
  const state = readState(directory);
  if (state === undefined || !labNamespaces(options.name).includes(namespaceOf(options.name, 'sw'))) {
    throw new LabError(`no lab named '${options.name}' is up; 'mip4 lab up --nat --name ${options.name}' makes one`);
  }
  if (state.nat === undefined) throw new LabError(`lab '${options.name}' has no NAT: it was made without --nat ('mip4 lab down' and 'mip4 lab up --nat' make one with it)`);
  const nat: NatSettings = { ...state.nat, generation: state.nat.generation + 1 };
  const downAt = process.hrtime.bigint();
  try {
    await restartNatRouter(options.name, nat);
  } catch (error) {
    throw new LabError(`restarting the NAT router ${namespaceOf(options.name, NAT_ROLE)}: ${(error as Error).message}`);
  }
  writeState(directory, { ...state, nat });
  const rebuiltMs = Number(process.hrtime.bigint() - downAt) / 1e6;
  const waitMs = options.waitMs ?? (nat.keepaliveSeconds + 10) * 1000;
  let gapMs: number | undefined;
  if (waitMs > 0) {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    // -c 1 -w: ping every 100 ms and stop at the first answer, or give up after the deadline.
    const probe = run('ip', ['netns', 'exec', namespaceOf(options.name, 'ch'), 'ping', '-n', '-q', '-c', '1', '-i', '0.1', '-w', String(seconds), ADDRESSES.mobileNodeHome], seconds * 1000 + 5_000);
    if (probe.status === 0) gapMs = Math.round(Number(process.hrtime.bigint() - downAt) / 1e6);
  }
  const ports = `new external ports from ${nat.generation % 2 === 0 ? '20000' : '30000'}`;
  const outcome =
    waitMs === 0
      ? 'not probed (--wait-ms 0)'
      : gapMs !== undefined
        ? `the correspondent reached ${ADDRESSES.mobileNodeHome} again ${gapMs} ms after the NAT went down`
        : `the correspondent did NOT reach ${ADDRESSES.mobileNodeHome} within ${waitMs} ms of the NAT going down`;
  return {
    summary: `NAT of lab '${options.name}' restarted (restart ${nat.generation}, mappings lost, ${ports}, rebuilt in ${Math.round(rebuiltMs)} ms); ${outcome}`,
    generation: nat.generation,
    ...(gapMs !== undefined ? { gapMs } : {}),
    waitedMs: waitMs,
  };
}
