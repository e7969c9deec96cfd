/**
 * `mip4 conformance --role fa|mn --agent CMD`: tests a foreign agent (or, later, a mobile node)
 * that runs as an opaque command inside a network namespace this tool creates, and plays the
 * other parties itself from a second namespace (docs/conformance.md). The topology is
 * fixed (agent-topology.ts); the namespaces, links and every process are removed at the end,
 * also on failure or SIGINT/SIGTERM. Root only; TEST-NET addresses only; every wait bounded.
 *
 * The foreign agent cases are in fa-cases.ts; this file owns the lifecycle and the arguments.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inNamespaceCommand, labEnvironmentProblem } from '../lab/lab.js';
import { isAlive, pidsInNamespace, stopProcesses } from '../lab/namespace-processes.js';
import { packageVersion } from '../version.js';
import { reportExitCode, reportTable, summarize, type ConformanceReport } from './report.js';
import { ExitCode, type Io } from '../args.js';
import { exampleFaConfig, exampleMnConfig, FA_TOPOLOGY, MN_TOPOLOGY } from './agent-topology.js';
import { PeerClient } from './agent-peer-client.js';
import { runFaCases } from './fa-cases.js';
import { runMnCases } from './mn-cases.js';

/** A mistake in the arguments: the CLI prints it with the usage and exits 2. */
export class AgentConformanceUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentConformanceUsageError';
  }
}

/** The run could not be set up (not root, no iproute2, the agent did not start): exit 2, not a verdict. */
export class AgentConformanceSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentConformanceSetupError';
  }
}

export type AgentRole = 'fa' | 'mn';

export interface AgentConformanceOptions {
  readonly role: AgentRole;
  /** The agent's command line, run by `sh -c` in the agent namespace; `{dir}` is the tool's work directory (it holds the example config). */
  readonly agent: string;
  /** Longest wait for the agent's first sign of life (its first advertisement), ms. */
  readonly startTimeoutMs?: number;
  /** Keep the work directory (configs, agent.log with the agent's stdout and stderr) instead of removing it; for debugging. */
  readonly keepWorkDirectory?: boolean;
}

export type ParsedAgentConformanceArgs =
  | { readonly kind: 'run'; readonly options: AgentConformanceOptions; readonly json: boolean }
  | { readonly kind: 'example-config'; readonly role: AgentRole; readonly text: string };

export const AGENT_CONFORMANCE_USAGE = `usage: mip4 conformance --role fa|mn --agent '<command>' [--json] [--start-timeout-seconds N]
       mip4 conformance --role fa|mn --example-config

Tests a foreign agent (fa) or a mobile node (mn) started by <command> inside a network
namespace this tool creates (root needed), playing the other parties itself from its own
namespace, on TEST-NET addresses only (docs/conformance.md). In <command>, {dir} is the
tool's work directory, which holds the example config as fa.yaml / mn.yaml:
  mip4 conformance --role fa --agent 'mip4 fa --config {dir}/fa.yaml'
Exit 0 when no MUST check failed, 1 when one did, 2 on a usage or setup error.

options:
  --role fa|mn                 the agent under test: a foreign agent or a mobile node
  --agent <command>            how to start it (sh -c, in its namespace)
  --example-config             print a config for mip4's own agent in the fixed topology
  --json                       the report as JSON instead of a table
  --start-timeout-seconds N    longest wait for the agent to start (default 20, at most 120)
  --allow-remote               accepted for symmetry with --role ha; these modes only ever
                               use the namespaces they create`;

/** Parses `mip4 conformance` arguments for the agent roles; AgentConformanceUsageError says what is wrong. */
export function parseAgentConformanceArgs(argv: readonly string[]): ParsedAgentConformanceArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        role: { type: 'string' },
        agent: { type: 'string' },
        'example-config': { type: 'boolean' },
        json: { type: 'boolean' },
        'start-timeout-seconds': { type: 'string' },
        'allow-remote': { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new AgentConformanceUsageError((error as Error).message);
  }
  const role = values.role;
  if (role !== 'fa' && role !== 'mn') {
    throw new AgentConformanceUsageError(role === undefined ? '--role fa|mn is required' : `--role must be fa or mn (ha is the home agent mode), not '${String(role)}'`);
  }
  if (values['example-config'] === true) {
    return { kind: 'example-config', role, text: role === 'fa' ? exampleFaConfig() : exampleMnConfig() };
  }
  const agent = values.agent;
  if (typeof agent !== 'string' || agent.trim() === '') {
    throw new AgentConformanceUsageError(`--agent '<command>' is required: how to start the ${role === 'fa' ? 'foreign agent' : 'mobile node'}, e.g. --agent 'mip4 ${role} --config {dir}/${role}.yaml'`);
  }
  let startTimeoutMs = 20_000;
  const seconds = values['start-timeout-seconds'];
  if (seconds !== undefined) {
    const n = Number(seconds);
    if (!Number.isInteger(n) || n < 1 || n > 120) throw new AgentConformanceUsageError(`--start-timeout-seconds must be a whole number from 1 to 120, not '${String(seconds)}'`);
    startTimeoutMs = n * 1000;
  }
  return { kind: 'run', options: { role, agent, startTimeoutMs }, json: values.json === true };
}

// ---------------------------------------------------------------------------------------------
// Namespaces

/** `ip`, throwing a setup error with its complaint. */
function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new AgentConformanceSetupError(`ip ${args.join(' ')} failed: ${(result.stderr ?? result.error?.message ?? '').trim()}`);
}

/** The two namespaces of one run, with names no other run (or `mip4 lab`) uses. */
export interface AgentNamespaces {
  readonly agent: string;
  readonly tool: string;
}

export function uniqueNamespaces(): AgentNamespaces {
  const tag = `${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`;
  return { agent: `mip4c-${tag}-agent`, tool: `mip4c-${tag}-tool` };
}

/** A run's namespace name: the creating process's pid (base 36) is in it. */
const RUN_NAMESPACE = /^mip4c-([0-9a-z]+)-[0-9a-f]{4}-(agent|tool)$/;

/**
 * Removes the namespaces (and their processes) of runs whose process is gone: a run killed
 * with SIGKILL could not clean up after itself. A live run's namespaces are left alone.
 */
async function removeStaleNamespaces(): Promise<void> {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (listed.status !== 0) return;
  for (const name of listed.stdout.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    const match = RUN_NAMESPACE.exec(name);
    if (match === null || isAlive(parseInt(match[1]!, 36))) continue;
    await stopProcesses(new Set(pidsInNamespace(name)), 2_000);
    spawnSync('ip', ['netns', 'del', name], { timeout: 5_000 });
  }
}

/** The foreign agent mode's links: visitor (agent vis0 ↔ tool mn0) and upstream (agent up0 ↔ tool ha0). */
function buildFaTopology(ns: AgentNamespaces): void {
  const t = FA_TOPOLOGY;
  for (const name of [ns.agent, ns.tool]) {
    ip('netns', 'add', name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  }
  ip('-n', ns.agent, 'link', 'add', t.visitorInterface, 'type', 'veth', 'peer', 'name', t.toolVisitorInterface, 'netns', ns.tool);
  ip('-n', ns.agent, 'link', 'add', t.upstreamInterface, 'type', 'veth', 'peer', 'name', t.toolUpstreamInterface, 'netns', ns.tool);
  ip('-n', ns.agent, 'addr', 'add', `${t.agentAddress}/${t.visitorPrefix}`, 'dev', t.visitorInterface);
  ip('-n', ns.agent, 'addr', 'add', `${t.careOfAddress}/${t.upstreamPrefix}`, 'dev', t.upstreamInterface);
  ip('-n', ns.tool, 'addr', 'add', `${t.homeAgent}/${t.upstreamPrefix}`, 'dev', t.toolUpstreamInterface);
  for (const [name, dev] of [
    [ns.agent, t.visitorInterface],
    [ns.agent, t.upstreamInterface],
    [ns.tool, t.toolVisitorInterface],
    [ns.tool, t.toolUpstreamInterface],
  ] as const) {
    ip('-n', name, 'link', 'set', dev, 'up');
  }
}

/**
 * The mobile node mode's link: the node's eth0 (no address: the node configures its host as it
 * sees fit) ↔ the tool's fa0 with the foreign agent's address, so the tool's kernel answers the
 * node's ARP for it.
 */
function buildMnTopology(ns: AgentNamespaces): void {
  const t = MN_TOPOLOGY;
  for (const name of [ns.agent, ns.tool]) {
    ip('netns', 'add', name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  }
  ip('-n', ns.agent, 'link', 'add', t.nodeInterface, 'type', 'veth', 'peer', 'name', t.toolInterface, 'netns', ns.tool);
  ip('-n', ns.tool, 'addr', 'add', `${t.foreignAgent}/${t.linkPrefix}`, 'dev', t.toolInterface);
  ip('-n', ns.agent, 'link', 'set', t.nodeInterface, 'up');
  ip('-n', ns.tool, 'link', 'set', t.toolInterface, 'up');
}

/** Stops every process in the namespaces (TERM, then KILL after 2 s) and deletes them; never throws. */
async function removeNamespaces(ns: AgentNamespaces, children: readonly ChildProcess[]): Promise<void> {
  const pids = new Set<number>();
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) pids.add(child.pid);
  for (const name of [ns.agent, ns.tool]) for (const pid of pidsInNamespace(name)) pids.add(pid);
  await stopProcesses(pids, 2_000);
  for (const name of [ns.agent, ns.tool]) spawnSync('ip', ['netns', 'del', name], { timeout: 5_000 });
}

/** agent-peer.js of this checkout: next to this file once compiled, or in dist/ under vitest. */
export const AGENT_PEER_SCRIPT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/runtime/') ? './agent-peer.js' : '../../../dist/runtime/cli/conformance/agent-peer.js', import.meta.url),
);

/** Runs the conformance cases of one role against the agent command; the report's checks are the verdict. */
export async function runAgentConformance(options: AgentConformanceOptions): Promise<ConformanceReport> {
  const problem = labEnvironmentProblem()?.replace('mip4 lab', 'mip4 conformance --role fa|mn');
  if (problem !== undefined) throw new AgentConformanceSetupError(problem);
  await removeStaleNamespaces();
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const ns = uniqueNamespaces();
  const dir = mkdtempSync(join(tmpdir(), 'mip4-conformance-'));
  const children: ChildProcess[] = [];
  let peer: PeerClient | undefined;
  // Ctrl-C or a kill while cases run: take everything down before exiting.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    interrupted = name;
    void removeNamespaces(ns, children).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(name === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    writeFileSync(join(dir, 'fa.yaml'), exampleFaConfig(), { mode: 0o600 });
    writeFileSync(join(dir, 'mn.yaml'), exampleMnConfig(), { mode: 0o600 });
    if (options.role === 'fa') buildFaTopology(ns);
    else buildMnTopology(ns);
    peer = await PeerClient.start(ns.tool, AGENT_PEER_SCRIPT, 120);
    children.push(peer.child);
    const agentLog = join(dir, 'agent.log');
    const agent = startAgent(ns.agent, dir, options.agent, agentLog);
    children.push(agent);
    const context = { peer, agent, agentLog, startTimeoutMs: options.startTimeoutMs ?? 20_000 };
    const outcome = options.role === 'fa' ? await runFaCases(context) : await runMnCases(context);
    // Cases cut short by the cleanup of a signal are no verdict.
    if (interrupted !== undefined) throw new AgentConformanceSetupError(`interrupted by ${interrupted}: namespaces and processes removed, no report`);
    return {
      tool: 'mip4 conformance',
      version: packageVersion(),
      role: options.role,
      target: options.agent,
      startedAt,
      durationMs: Date.now() - started,
      cases: outcome.cases,
      checks: outcome.checks,
      coverage: outcome.coverage,
      summary: summarize(outcome.checks),
    };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    peer?.close();
    await removeNamespaces(ns, children);
    if (options.keepWorkDirectory !== true) rmSync(dir, { recursive: true, force: true });
  }
}

/** The agent under test: `sh -c COMMAND` in its namespace ({dir} replaced), output to agentLog. */
function startAgent(namespace: string, dir: string, command: string, agentLog: string): ChildProcess {
  const hold = join(dir, 'bpffs');
  mkdirSync(hold, { recursive: true, mode: 0o700 });
  const line = command.replaceAll('{dir}', dir);
  const [program, ...args] = inNamespaceCommand(namespace, hold, ['sh', '-c', line]);
  writeFileSync(agentLog, '');
  const child = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (chunk: Buffer) => writeFileSync(agentLog, chunk, { flag: 'a' });
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  return child;
}

/**
 * The whole `mip4 conformance --role fa|mn` command for the CLI to call: usage errors and setup
 * problems on stderr with exit 2, the example config or the report on stdout, then the report's
 * exit code (0, or 1 on a mandatory failure).
 */
export async function agentConformanceCommand(argv: readonly string[], io: Io): Promise<number> {
  let parsed: ParsedAgentConformanceArgs;
  try {
    parsed = parseAgentConformanceArgs(argv);
  } catch (error) {
    if (!(error instanceof AgentConformanceUsageError)) throw error;
    io.err(`mip4 conformance: ${error.message}`);
    io.err(AGENT_CONFORMANCE_USAGE);
    return ExitCode.Usage;
  }
  if (parsed.kind === 'example-config') {
    io.out(parsed.text.trimEnd());
    return ExitCode.Ok;
  }
  let report: ConformanceReport;
  try {
    report = await runAgentConformance(parsed.options);
  } catch (error) {
    if (!(error instanceof AgentConformanceSetupError)) throw error;
    io.err(`mip4 conformance: ${error.message}`);
    return ExitCode.Usage;
  }
  io.out(parsed.json ? JSON.stringify(report, null, 2) : reportTable(report));
  return reportExitCode(report);
}
