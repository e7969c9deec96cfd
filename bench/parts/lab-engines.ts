/**
 * Part 8 (issue 17 item 4): the data path engines end to end, with the real daemons in a lab of
 * the part's own (`mip4 lab`, runtime/cli/lab/; namespaces m4lab-be<pid>-*, always taken down,
 * also on failure, SIGINT and SIGTERM), in the same run:
 *
 * - bpf:       `mip4 lab up --engine bpf` (tc-BPF encapsulation at the home agent, decapsulation
 *              at FA1 or in the co-located node);
 * - userspace: `--engine userspace` (the RxJS planes: the home agent's TUN, the FA's sockets);
 * - kernel:    the userspace lab with its daemons stopped and plain routes over the same hops
 *              (lab-engines-plan.ts kernelRoutes): the ceiling.
 *
 * Each repetition runs the paths in the same cyclic order (bpf, userspace, kernel, bpf, …). Per
 * path, the node is measured behind FA1 and co-located: iperf3 from the correspondent to the
 * home address, one TCP stream (throughput received, retransmissions, per GB), then UDP with
 * 64-byte IP packets as fast as the sender can (datagrams delivered per second at the node).
 * The correspondent's route carries MTU 1480 on every path (what the tunnels' PMTU gives it,
 * RFC 2003 5.1), so all carry the same inner packets.
 *
 * Then a registration storm against a home agent with a Linux data path in a namespace of its
 * own, engine bpf vs userspace, alternating: the C load generator registers N distinct home
 * addresses once each (every one a new binding: a map entry, or a route and proxy ARP entry).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfUnavailableReason, missingBpfCapabilities } from '../../io/linux/bpf.js';
import { nativeAvailable } from '../../io/linux/native.js';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { foreignAgentConfigFromDocument } from '../../runtime/config/fa-config.js';
import { mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';
import { parseYamlConfig } from '../../runtime/config/config-schema.js';
import { inNamespaceCommand, labDirectory, labDown, labEnvironmentProblem, labMove, labUp, logLines, type LabOptions } from '../../runtime/cli/lab/lab.js';
import { ADDRESSES, daemonPlans, LAB_ROLES, namespaceOf } from '../../runtime/cli/lab/plan.js';
import { Report } from '../harness/report.js';
import { ROOT, runJson, Server, sleep } from '../harness/process.js';
import {
  addSample,
  BARS,
  careOfAddress,
  emptySamples,
  kernelRoutes,
  kernelRoutesUndo,
  labRunSettings,
  stormRate,
  tcpResultFromIperf,
  udpResultFromIperf,
  type LabPath,
  type LabRunSettings,
  type MeasuredPlace,
  type PathSamples,
  type TcpResult,
  type UdpResult,
} from './lab-engines-plan.js';
import { LOADGEN } from './registration.js';

const PLACE_TEXT: Record<MeasuredPlace, string> = { fa1: 'via FA1', colocated: 'co-located' };

/** Why the lab cannot run here at all, or undefined. */
function labSkipReason(): string | undefined {
  const lab = labEnvironmentProblem();
  if (lab !== undefined) return lab.includes('root') ? 'needs root (network namespaces): run `sudo npm run bench` for the lab' : lab;
  if (!nativeAvailable()) return 'the native IO helper is not built (npm ci builds it)';
  if (spawnSync('iperf3', ['--version']).status !== 0) return 'iperf3 is not installed (apt-get install iperf3; .ci/run installs it)';
  if (!existsSync(join(ROOT, 'dist/runtime/cli/main.js'))) return 'dist/ is not built (npm run bench compiles it)';
  return undefined;
}

/**
 * Why engine bpf cannot be measured here, or undefined: the configs of this build do not know
 * dataPath.engine yet, or the kernel or privileges do not allow tc-BPF.
 */
export function bpfSkipReason(): string | undefined {
  const problem = engineConfigProblem();
  if (problem !== undefined) return `this build's configs do not take dataPath.engine (${problem})`;
  const missing = missingBpfCapabilities();
  if (missing.length > 0) return `needs ${missing.join(' and ')}`;
  return bpfUnavailableReason();
}

/** Whether the three daemons' config loaders accept the lab's configs with `dataPath.engine`. */
function engineConfigProblem(): string | undefined {
  const keys = { mobileHome: '00'.repeat(16), foreignHome1: '11'.repeat(16), foreignHome2: '22'.repeat(16) };
  try {
    for (const daemon of daemonPlans(keys, 'ip-in-ip', '/nonexistent', true, undefined, 'bpf')) {
      const document = parseYamlConfig(daemon.config, daemon.configFile);
      if (daemon.command === 'ha') homeAgentConfigFromDocument(document);
      else if (daemon.command === 'fa') foreignAgentConfigFromDocument(document);
      else mobileNodeConfigFromDocument(document);
    }
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split('\n')[0];
  }
}

function ipBatch(namespace: string, commands: readonly string[], force = false): void {
  if (commands.length === 0) return;
  const r = spawnSync('ip', [...(force ? ['-force'] : []), '-n', namespace, '-batch', '-'], { input: `${commands.join('\n')}\n`, encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 && !force) throw new Error(`ip -n ${namespace} -batch: ${r.stderr}\n${commands.join('\n')}`);
}

/** iperf3 from the lab's correspondent to the home address; the server runs in the node's namespace for this test only. */
async function iperf(name: string, seconds: number, udp: boolean): Promise<string> {
  const server: ChildProcess = spawn('ip', ['netns', 'exec', namespaceOf(name, 'mn'), 'iperf3', '-s', '-1', '-B', ADDRESSES.mobileNodeHome, '-p', '5201'], { stdio: 'ignore' });
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(150);
      const args = ['-c', ADDRESSES.mobileNodeHome, '-p', '5201', '-t', String(seconds), '-J', '--connect-timeout', '3000', ...(udp ? ['-u', '-b', '0', '-l', '36'] : [])];
      const r = spawnSync('ip', ['netns', 'exec', namespaceOf(name, 'ch'), 'iperf3', ...args], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
      if (r.status === 0) return r.stdout;
      if (attempt >= 6) throw new Error(`iperf3 ${udp ? 'UDP' : 'TCP'} in lab ${name}: ${(r.stdout ?? '').slice(-300)} ${r.stderr ?? ''}`);
    }
  } finally {
    server.kill('SIGKILL');
  }
}

function pingOnce(name: string): boolean {
  return spawnSync('ip', ['netns', 'exec', namespaceOf(name, 'ch'), 'ping', '-n', '-q', '-c', '1', '-W', '1', ADDRESSES.mobileNodeHome], { timeout: 5_000 }).status === 0;
}

/** Waits until the home agent accepted the node at `place` (its log) and the correspondent reaches it. */
async function waitRegistered(lab: LabOptions, place: MeasuredPlace, since: number): Promise<void> {
  const directory = labDirectory(lab);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const accepted = logLines(directory, 'ha')
      .slice(since)
      .some((l) => l.event === 'reply' && l.code === 0 && l.careOfAddress === careOfAddress(place));
    if (accepted && pingOnce(lab.name)) return;
    await sleep(100);
  }
  throw new Error(`lab ${lab.name}: the node ${PLACE_TEXT[place]} was not reachable at its home address within 20 s`);
}

/**
 * The start line a daemon logs for its choice (policies/data-path-engine.ts): the agents'
 * `data-path-engine`, the home agent's `data-path-up`. (`listening`'s `engine` is the machines' step engine.)
 */
function isEngineLine(line: Record<string, unknown>): boolean {
  return (line.event === 'data-path-engine' || line.event === 'data-path-up') && typeof line.engine === 'string';
}

function engineText(line: Record<string, unknown>): string {
  const reason = line.reason ?? line.engineReason;
  return `${String(line.engine)}${typeof reason === 'string' ? ` (${reason})` : ''}`;
}

/** The engine each daemon says it chose (its start log lines that name one), for the raw results. */
function enginesChosen(lab: LabOptions): Record<string, string> {
  const directory = labDirectory(lab);
  const chosen: Record<string, string> = {};
  for (const role of ['ha', 'fa1', 'fa2', 'mn']) {
    const line = logLines(directory, role).find(isEngineLine);
    chosen[role] = line === undefined ? 'not logged' : engineText(line);
  }
  return chosen;
}

/**
 * The tc programs attached on ingress in a namespace, as `device: names` (e.g. "eth0: ha_encap"):
 * what shows that engine bpf really runs in the kernel, whatever the daemons log.
 */
function attachedPrograms(namespace: string): string[] {
  const links = spawnSync('ip', ['-n', namespace, '-j', 'link', 'show'], { encoding: 'utf8', timeout: 5_000 });
  if (links.status !== 0) return [];
  const found: string[] = [];
  for (const { ifname } of JSON.parse(links.stdout) as Array<{ ifname: string }>) {
    const filters = spawnSync('tc', ['-n', namespace, 'filter', 'show', 'dev', ifname, 'ingress'], { encoding: 'utf8', timeout: 5_000 });
    // iproute2 prints a cls_bpf filter as "… bpf chain 0 handle 0x1 direct-action not_in_hw id 42 name ha_encap tag …" (libbpf sets no filter name: the program's name is in its info).
    const names = (filters.stdout ?? '')
      .split('\n')
      .filter((line) => / bpf /.test(line) && / handle /.test(line))
      .map((line) => /\bname (\S+)/.exec(line)?.[1] ?? /\bid (\d+)/.exec(line)?.[0] ?? 'bpf');
    if (names.length > 0) found.push(`${ifname}: ${names.join(', ')}`);
  }
  return found;
}

async function stopDaemons(lab: LabOptions): Promise<void> {
  const directory = labDirectory(lab);
  const pids: number[] = [];
  for (const role of ['ha', 'fa1', 'fa2', 'mn']) {
    const path = join(directory, `${role}.pid`);
    if (!existsSync(path)) continue;
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

function applyRoles(name: string, commands: Partial<Record<string, readonly string[]>>, force = false): void {
  for (const [role, list] of Object.entries(commands)) ipBatch(namespaceOf(name, role as 'rt'), list ?? [], force);
}

async function measurePlace(name: string, seconds: number): Promise<{ tcp?: TcpResult; udp?: UdpResult; problems: string[] }> {
  const problems: string[] = [];
  let tcp: TcpResult | undefined;
  let udp: UdpResult | undefined;
  try {
    tcp = tcpResultFromIperf(await iperf(name, seconds, false));
  } catch (error) {
    problems.push((error as Error).message);
  }
  try {
    udp = udpResultFromIperf(await iperf(name, seconds, true));
  } catch (error) {
    problems.push((error as Error).message);
  }
  return { ...(tcp ? { tcp } : {}), ...(udp ? { udp } : {}), problems };
}

type Samples = Record<LabPath, Record<MeasuredPlace, PathSamples>>;

/** One repetition of one engine: a fresh lab, the node moved to each place, measured; kept up for kernel when asked. */
async function measureEngine(lab: LabOptions, engine: 'bpf' | 'userspace', settings: LabRunSettings, samples: Samples, problems: string[], raw: Record<string, unknown>[]): Promise<void> {
  await labUp({ ...lab, encapsulation: 'ip-in-ip', ...(engine === 'bpf' || engineConfigProblem() === undefined ? { engine } : {}) });
  // What the tunnels' PMTU gives the correspondent (RFC 2003 5.1), on every path alike.
  ipBatch(namespaceOf(lab.name, 'ch'), [`route replace default via ${ADDRESSES.routerCorrespondent} mtu 1480`]);
  raw.push({ engine, chosen: enginesChosen(lab) });
  for (const place of settings.places) {
    const since = logLines(labDirectory(lab), 'ha').length;
    await labMove({ ...lab, place });
    try {
      await waitRegistered(lab, place, since);
    } catch (error) {
      problems.push(`${engine} ${PLACE_TEXT[place]}: ${(error as Error).message}`);
      addSample(samples[engine][place], undefined, undefined);
      continue;
    }
    const programs = { ha: attachedPrograms(namespaceOf(lab.name, 'ha')), [place === 'fa1' ? 'fa1' : 'mn']: attachedPrograms(namespaceOf(lab.name, place === 'fa1' ? 'fa1' : 'mn')) };
    raw.push({ engine, place, tcBpfPrograms: programs });
    if (engine === 'bpf' && Object.values(programs).some((list) => list.length === 0)) {
      problems.push(`engine bpf ${PLACE_TEXT[place]}: no tc-BPF program attached in ${Object.entries(programs).filter(([, list]) => list.length === 0).map(([role]) => role).join(' and ')}: those legs ran in userspace`);
    }
    const result = await measurePlace(lab.name, settings.seconds);
    for (const p of result.problems) problems.push(`${engine} ${PLACE_TEXT[place]}: ${p}`);
    addSample(samples[engine][place], result.tcp, result.udp);
  }
}

/** Kernel forwarding in the lab that is up (the daemons stopped first), at each place. */
async function measureKernel(lab: LabOptions, settings: LabRunSettings, samples: Samples, problems: string[]): Promise<void> {
  await stopDaemons(lab);
  for (const place of settings.places) {
    await labMove({ ...lab, place });
    applyRoles(lab.name, kernelRoutes(place));
    // The carrier just came back: wait until the path answers.
    const deadline = Date.now() + 10_000;
    while (!pingOnce(lab.name) && Date.now() < deadline) await sleep(100);
    const result = await measurePlace(lab.name, settings.seconds);
    for (const p of result.problems) problems.push(`kernel ${PLACE_TEXT[place]}: ${p}`);
    addSample(samples.kernel[place], result.tcp, result.udp);
    applyRoles(lab.name, kernelRoutesUndo(place), true);
  }
}

// ---------------------------------------------------------------------------------------------
// registration storm

const STORM_KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const STORM_SPI = 4096;
const STORM_HOME_AGENT = '10.0.0.1';
const STORM_HOME_BASE = 0x0a000002;
const STORM_CARE_OF = '203.0.113.1';

function writeStormConfig(path: string, nodes: number, engine: 'bpf' | 'userspace', withEngine: boolean): void {
  const mobileNodes = [];
  for (let i = 0; i < nodes; i++) mobileNodes.push({ homeAddress: ipv4ToString(STORM_HOME_BASE + i), spi: STORM_SPI, key: STORM_KEY, maxBindings: 1 });
  writeFileSync(
    path,
    JSON.stringify({
      homeAgent: { address: STORM_HOME_AGENT, homeNetwork: '10.0.0.0/8', listen: ['127.0.0.1:0'], broadcast: false, maxLifetime: 3600 },
      limits: { maxBindings: nodes + 10 },
      dataPath: { homeInterface: 'home0', tunnelDevice: 'mip4storm0', ...(withEngine ? { engine } : {}) },
      mobileNodes,
      control: { socket: 'none' },
      store: 'none',
    }),
    { mode: 0o600 },
  );
}

/** A namespace with a home link (a veth whose peer stays inside) for the storm's home agent. */
function buildStormNamespace(namespace: string): void {
  const r = spawnSync('ip', ['netns', 'add', namespace], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${namespace}: ${r.stderr}`);
  ipBatch(namespace, [
    'link set lo up',
    'link add home0 type veth peer name home0-peer',
    `addr add ${STORM_HOME_AGENT}/8 dev home0`,
    'addr add 203.0.113.254/24 dev home0-peer',
    'link set home0 up',
    'link set home0-peer up',
  ]);
  spawnSync('ip', ['netns', 'exec', namespace, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

async function stormOnce(namespace: string, workDir: string, engine: 'bpf' | 'userspace', nodes: number, withEngine: boolean): Promise<{ rate: number; accepted: number; chosen: string }> {
  const config = join(workDir, `storm-${engine}.json`);
  writeStormConfig(config, nodes, engine, withEngine);
  const hold = join(workDir, `storm-${engine}.bpffs`);
  mkdirSync(hold, { recursive: true, mode: 0o700 });
  const [command, ...args] = inNamespaceCommand(namespace, hold, [process.execPath, join(ROOT, 'bin/mip4.js'), 'ha', '--config', config]);
  const server = new Server(`mip4 ha (${engine})`, command!, args, join(workDir, `storm-${engine}.log`));
  try {
    const listening = await server.waitForEvent('listening', 60_000);
    const port = Number(String((listening.endpoints as string[])[0]).split(':').pop());
    const log = readFileSync(join(workDir, `storm-${engine}.log`), 'utf8');
    const engineLine = log
      .split('\n')
      .flatMap((l): Array<Record<string, unknown>> => {
        try {
          return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [];
        } catch {
          return []; // a line being written
        }
      })
      .find(isEngineLine);
    const loadArgs = ['--target', `127.0.0.1:${port}`, '--home-agent', STORM_HOME_AGENT, '--home-base', ipv4ToString(STORM_HOME_BASE), '--nodes', String(nodes), '--spi', String(STORM_SPI), '--key', STORM_KEY, '--care-of', STORM_CARE_OF];
    const result = await runJson<{ accepted: number; seconds: number; lastReplySeconds: number }>(
      'ip',
      ['netns', 'exec', namespace, LOADGEN, ...loadArgs, '--mode', 'closed', '--in-flight', '64', '--count', String(nodes), '--timeout-ms', '2000'],
      120_000,
    );
    return { rate: stormRate(result), accepted: result.accepted, chosen: engineLine === undefined ? 'not logged' : engineText(engineLine) };
  } finally {
    server.truncateLog();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------

export async function labEnginesPart(options: { readonly quick: boolean; readonly workDir: string }): Promise<Report> {
  const report = new Report('8 engines end to end');
  const why = labSkipReason();
  const bpfWhy = why ?? bpfSkipReason();
  const settings = labRunSettings(options.quick, bpfWhy === undefined);
  if (why !== undefined) {
    for (const place of ['via FA1', 'co-located']) {
      report.missing(`TCP ${place}, bpf ÷ kernel`, 'Gbit/s', `skipped: ${why}`, BARS.tcp.text);
      report.missing(`UDP 64 B delivered ${place}, bpf ÷ kernel`, 'pps', `skipped: ${why}`, BARS.udp.text);
    }
    report.missing('registration storm, bpf ÷ userspace', 'reg/s', `skipped: ${why}`, BARS.storm.text);
    return report;
  }
  if (settings.note !== undefined) report.note(settings.note);
  if (bpfWhy !== undefined) report.note(`engine bpf not measured: ${bpfWhy}`);
  const withEngine = engineConfigProblem() === undefined;

  const lab: LabOptions = { name: `be${process.pid % 1_000_000}`, stateDir: join(options.workDir, 'lab-engines') };
  const stormNamespace = `m4storm-${process.pid}`;
  const removeNow = () => {
    for (const role of LAB_ROLES) spawnSync('ip', ['netns', 'del', namespaceOf(lab.name, role)], { timeout: 5_000 });
    spawnSync('ip', ['netns', 'del', stormNamespace], { timeout: 5_000 });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    removeNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', removeNow);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const samples: Samples = {
    bpf: { fa1: emptySamples(), colocated: emptySamples() },
    userspace: { fa1: emptySamples(), colocated: emptySamples() },
    kernel: { fa1: emptySamples(), colocated: emptySamples() },
  };
  const problems: string[] = [];
  const chosen: Record<string, unknown>[] = [];
  const storm: Record<'bpf' | 'userspace', number[]> = { bpf: [], userspace: [] };
  const stormChosen: string[] = [];
  try {
    for (let repetition = 0; repetition < settings.repetitions; repetition++) {
      for (const path of settings.paths) {
        if (path === 'kernel') {
          // In the userspace lab of this repetition, which comes just before (labRunSettings).
          try {
            await measureKernel(lab, settings, samples, problems);
          } finally {
            await labDown(lab).catch(() => undefined);
          }
          continue;
        }
        try {
          await measureEngine(lab, path, settings, samples, problems, chosen);
        } catch (error) {
          problems.push(`${path}, repetition ${repetition + 1}: ${(error as Error).message.split('\n')[0]}`);
          for (const place of settings.places) while (samples[path][place].tcpGbits.length <= repetition) addSample(samples[path][place], undefined, undefined);
        }
        // The kernel path reuses the userspace lab; every other lab goes now.
        if (!(path === 'userspace' && settings.paths.includes('kernel'))) await labDown(lab).catch(() => undefined);
      }
    }
    await labDown(lab).catch(() => undefined);

    buildStormNamespace(stormNamespace);
    // Alternating, as the lab's paths: each engine has the other on both sides.
    const stormEngines: Array<'bpf' | 'userspace'> = bpfWhy === undefined ? ['bpf', 'userspace'] : ['userspace'];
    for (let repetition = 0; repetition < settings.stormRepetitions; repetition++) {
      for (const engine of stormEngines) {
        try {
          const result = await stormOnce(stormNamespace, options.workDir, engine, settings.stormNodes, withEngine);
          if (result.accepted < settings.stormNodes) problems.push(`storm ${engine}: ${result.accepted} of ${settings.stormNodes} registrations accepted`);
          storm[engine].push(result.rate);
          if (repetition === 0) stormChosen.push(`${engine}: ${result.chosen}`);
        } catch (error) {
          problems.push(`storm ${engine}: ${(error as Error).message.split('\n')[0]}`);
          storm[engine].push(NaN);
        }
      }
    }
  } finally {
    await labDown(lab).catch(() => undefined);
    removeNow();
    process.off('exit', removeNow);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }

  for (const place of settings.places) {
    const text = PLACE_TEXT[place];
    const k = samples.kernel[place];
    const u = samples.userspace[place];
    const b = samples.bpf[place];
    report.add({ name: `TCP ${text}, kernel forwarding`, unit: 'Gbit/s', values: k.tcpGbits });
    report.add({ name: `TCP ${text}, engine userspace`, unit: 'Gbit/s', values: u.tcpGbits, baseline: { name: 'kernel', values: k.tcpGbits } });
    if (settings.paths.includes('bpf')) report.add({ name: `TCP ${text}, engine bpf`, unit: 'Gbit/s', values: b.tcpGbits, baseline: { name: 'kernel', values: k.tcpGbits }, bar: { text: BARS.tcp.text, test: (m) => m >= BARS.tcp.ratio, onRatio: true } });
    else report.missing(`TCP ${text}, engine bpf`, 'Gbit/s', `not measured: ${bpfWhy ?? 'quick run'}`, BARS.tcp.text);
    for (const [path, s] of [['kernel', k], ['userspace', u], ['bpf', b]] as const) {
      if (s.retransmits.length === 0) continue;
      report.add({ name: `TCP ${text}, ${path}: retransmissions per GB`, unit: '/GB', values: s.retransmitsPerGB, note: `retransmissions per test: ${s.retransmits.map((n) => (Number.isFinite(n) ? String(n) : '–')).join(', ')}` });
    }
    report.add({ name: `UDP 64 B delivered ${text}, kernel forwarding`, unit: 'pps', values: k.udpDelivered });
    report.add({ name: `UDP 64 B delivered ${text}, engine userspace`, unit: 'pps', values: u.udpDelivered, baseline: { name: 'kernel', values: k.udpDelivered } });
    if (settings.paths.includes('bpf')) report.add({ name: `UDP 64 B delivered ${text}, engine bpf`, unit: 'pps', values: b.udpDelivered, baseline: { name: 'kernel', values: k.udpDelivered }, bar: { text: BARS.udp.text, test: (m) => m >= BARS.udp.ratio, onRatio: true } });
    else report.missing(`UDP 64 B delivered ${text}, engine bpf`, 'pps', `not measured: ${bpfWhy ?? 'quick run'}`, BARS.udp.text);
  }
  report.add({ name: `registration storm (${settings.stormNodes} new bindings), engine userspace`, unit: 'reg/s', values: storm.userspace });
  if (storm.bpf.length > 0) report.add({ name: `registration storm (${settings.stormNodes} new bindings), engine bpf`, unit: 'reg/s', values: storm.bpf, baseline: { name: 'userspace', values: storm.userspace }, bar: { text: BARS.storm.text, test: (m) => m >= BARS.storm.ratio, onRatio: true } });
  else report.missing(`registration storm, engine bpf`, 'reg/s', `not measured: ${bpfWhy ?? 'quick run'}`, BARS.storm.text);
  for (const problem of new Set(problems)) report.note(problem);
  report.note(
    `${settings.seconds} s per iperf3 test from the lab's correspondent to the home address, one TCP stream, UDP -b 0 -l 36 (64-byte IP packets, delivered at the node); ${settings.repetitions} repetitions of ${settings.paths.join(', ')} in that order; reverse tunnelling on (the lab's default); the correspondent's route MTU 1480 on every path; kernel = the same namespaces and hops with plain routes, daemons stopped`,
  );
  report.raw.labEngines = { settings, samples, storm, enginesChosen: chosen, stormEnginesChosen: stormChosen };
  return report;
}
