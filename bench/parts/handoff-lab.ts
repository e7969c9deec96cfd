/**
 * Part 4 in the lab: handoffs of the real daemons (`mip4 lab`, runtime/lab/) in network
 * namespaces of a lab of its own, named `bench<pid>`, always taken down again (also on
 * failure, SIGINT and SIGTERM).
 *
 * The correspondent sends a small sequenced, timestamped UDP datagram to the mobile node's
 * home address every `intervalMs` (bench/udp-stream.ts); a receiver in the node's namespace
 * notes when each arrives. Per repetition the node makes the demo's moves, home → FA1 → FA2 →
 * co-located → home, each with `labMove` (its switch port down and onto the new bridge, the
 * carrier back 200 ms later). Per move:
 *   - link change → first datagram: from the port going down (the instant the move changes
 *     the link) to the first datagram delivered after it; it includes the 200 ms the lab keeps
 *     the carrier down (so the node's 100 ms carrier watch sees it);
 *   - carrier back → first datagram: the same, from the carrier coming back;
 *   - link change → registration accepted (or deregistered, at home), from the node's log;
 *   - datagrams lost: sequence numbers missing between the last datagram delivered before the
 *     link change and the last one of a settling time after the first delivery.
 * `move colocated` restarts `mip4 mn` (it reads a co-located address only at start), and so
 * does the move home that follows it: those two figures include a daemon start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAvailable } from '../../io/linux/native.js';
import { labDirectory, labDown, labEnvironmentProblem, labMove, labUp, logLines, namespacesWithPrefix, type LabOptions, type MoveResult } from '../../runtime/lab/lab.js';
import { ADDRESSES, namespaceOf, namespacePrefix, type MnPlace } from '../../runtime/lab/plan.js';
import { ROOT, sleep } from '../harness/process.js';

/** The demo's moves, in its order (runtime/demo.ts); each repetition starts at home. */
export const LAB_MOVES: readonly MnPlace[] = ['fa1', 'fa2', 'colocated', 'home'];

const STREAM = join(ROOT, 'dist/bench/udp-stream.js');
const PORT = 5_005;
/** After the first datagram at the new place, how long losses are still counted. */
const SETTLE_MS = 300;
/** How long a move may take to deliver its first datagram before it counts as failed. */
const FIRST_DELIVERY_TIMEOUT_MS = 15_000;

export interface LabMoveSample {
  readonly place: MnPlace;
  readonly repetition: number;
  /** `mip4 mn` was restarted by the move. */
  readonly restarted: boolean;
  readonly linkChangeToFirstMs: number;
  readonly carrierUpToFirstMs: number;
  readonly linkChangeToRegisteredMs: number;
  readonly lost: number;
  /** Why a figure of this move is missing, when one is. */
  readonly problem?: string;
}

export interface LabHandoffResult {
  readonly samples: LabMoveSample[];
  /** Datagrams the correspondent sent, and over how long (its real interval). */
  readonly stream: { readonly sent: number; readonly sendErrors: number; readonly seconds: number };
  readonly labUpSeconds: number;
}

/** Why the lab handoff cannot be measured here, or undefined. */
export function labHandoffSkipReason(): string | undefined {
  const problem = labEnvironmentProblem();
  if (problem !== undefined) return problem.includes('root') ? 'needs root (network namespaces): run `sudo npm run bench` for the lab handoff' : problem;
  if (!nativeAvailable()) return 'the native helper is not built (npm ci builds it)';
  if (!existsSync(STREAM)) return `${STREAM} is not built (npm run bench compiles it)`;
  return undefined;
}

/** Datagrams as the receiver saw them, in arrival order. */
export interface Received {
  readonly sequences: readonly number[];
  /** Arrival times, ns on any clock the caller's instants share. */
  readonly arrivedNs: readonly number[];
}

/**
 * Datagrams lost across a move: the sequence numbers missing between the last one delivered
 * up to `linkDownNs` and the last one delivered up to `untilNs`. A duplicate is counted once;
 * one delivered late (after a higher number) still counts as delivered.
 */
export function datagramsLost(received: Received, linkDownNs: number, untilNs: number): number {
  let lastBefore = -1;
  let lastAfter = -1;
  const after = new Set<number>();
  for (let i = 0; i < received.sequences.length; i++) {
    const sequence = received.sequences[i]!;
    const arrived = received.arrivedNs[i]!;
    if (arrived <= linkDownNs) lastBefore = Math.max(lastBefore, sequence);
    else if (arrived <= untilNs) {
      after.add(sequence);
      lastAfter = Math.max(lastAfter, sequence);
    }
  }
  let delivered = 0;
  for (const sequence of after) if (sequence > lastBefore && sequence <= lastAfter) delivered++;
  return Math.max(0, lastAfter - lastBefore - delivered);
}

/** The receiver's view: each datagram's sequence number and arrival, in ns after `origin`. */
class Arrivals implements Received {
  readonly sequences: number[] = [];
  readonly arrivedNs: number[] = [];
  listening = false;
  private partial = '';

  constructor(private readonly origin: bigint) {}

  feed(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'listening') {
        this.listening = true;
        continue;
      }
      const [sequence, arrived] = line.split(' ');
      if (sequence === undefined || arrived === undefined) continue;
      this.sequences.push(Number(sequence));
      this.arrivedNs.push(Number(BigInt(arrived) - this.origin));
    }
  }

  /** The index of the first datagram that arrived after `ns`, or -1. */
  firstAfter(ns: number, from = 0): number {
    for (let i = from; i < this.arrivedNs.length; i++) if (this.arrivedNs[i]! > ns) return i;
    return -1;
  }
}

function streamProcess(namespace: string, args: readonly string[]): ChildProcess {
  // `ip netns exec` execs node: the child's pid is the stream's own, and signals reach it.
  return spawn('ip', ['netns', 'exec', namespace, process.execPath, STREAM, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Without waiting: kills what runs in the lab's namespaces, deletes them and the state. For
 * the process's `exit`, where `labDown` (asynchronous) cannot run; `labDown` is the normal way.
 */
function removeLabNow(options: LabOptions): void {
  for (const namespace of namespacesWithPrefix(namespacePrefix(options.name))) {
    const pids = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8', timeout: 5_000 }).stdout ?? '';
    for (const pid of pids.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', namespace], { timeout: 5_000 });
  }
  rmSync(labDirectory(options), { recursive: true, force: true });
}

/**
 * Brings the lab up, measures, takes it down. `whileStarting` runs while the lab comes up
 * (work that does not mind sharing the CPU with the daemons' start).
 */
export async function measureLabHandoff(
  options: { readonly repetitions: number; readonly intervalMs: number; readonly workDir: string },
  whileStarting: () => Promise<void> = async () => {},
): Promise<LabHandoffResult> {
  const lab: LabOptions = { name: `bench${process.pid}`, stateDir: join(options.workDir, 'lab') };
  const children: ChildProcess[] = [];
  const removeNow = () => {
    for (const child of children) child.kill('SIGKILL');
    removeLabNow(lab);
  };
  // Ctrl-C or a kill must not leave the lab behind: take it down, then exit as signalled.
  const interrupted = (signal: NodeJS.Signals) => {
    removeNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', removeNow);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const upStarted = performance.now();
    let labUpSeconds = NaN;
    const up = labUp({ ...lab, encapsulation: 'ip-in-ip' }).then(() => {
      labUpSeconds = (performance.now() - upStarted) / 1000;
    });
    // Both settle before either's failure is thrown: `finally` must not take the lab down
    // while `labUp` is still building it.
    const [upOutcome, otherOutcome] = await Promise.allSettled([up, whileStarting()]);
    for (const outcome of [upOutcome, otherOutcome]) if (outcome.status === 'rejected') throw outcome.reason;
    const directory = labDirectory(lab);

    const origin = process.hrtime.bigint();
    const arrivals = new Arrivals(origin);
    const receiver = streamProcess(namespaceOf(lab.name, 'mn'), ['receive', '--port', String(PORT)]);
    children.push(receiver);
    receiver.stdout!.setEncoding('utf8').on('data', (chunk: string) => arrivals.feed(chunk));
    for (let waited = 0; !arrivals.listening; waited += 20) {
      if (waited > 20_000 || receiver.exitCode !== null) throw new Error('the lab handoff receiver did not start');
      await sleep(20);
    }
    const sender = streamProcess(namespaceOf(lab.name, 'ch'), ['send', '--to', ADDRESSES.mobileNodeHome, '--port', String(PORT), '--interval-ms', String(options.intervalMs)]);
    children.push(sender);
    let senderOut = '';
    sender.stdout!.setEncoding('utf8').on('data', (chunk: string) => (senderOut += chunk));

    const nowNs = () => Number(process.hrtime.bigint() - origin);
    const steadyGapNs = Math.max(50, 5 * options.intervalMs) * 1e6;
    /** Waits until datagrams are arriving (the last one recent); false after `timeoutMs`. */
    const steady = async (timeoutMs: number): Promise<boolean> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = arrivals.arrivedNs.at(-1);
        if (last !== undefined && nowNs() - last < steadyGapNs) return true;
        if (Date.now() > deadline) return false;
        await sleep(10);
      }
    };

    const samples: LabMoveSample[] = [];
    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      for (const place of LAB_MOVES) {
        const problems: string[] = [];
        // At home the node first hears its home agent and deregisters (a fresh lab, or the
        // move home that ended the previous repetition).
        if (!(await steady(15_000))) problems.push(`no datagrams were arriving before the move to ${place}`);
        const loggedBefore = logLines(directory, 'mn').length;
        const move: MoveResult = await labMove({ ...lab, place });
        const linkDownNs = Number(move.linkDownNs - origin);
        const linkUpNs = Number(move.linkUpNs - origin);
        const wallAtLinkDown = Date.now() - (nowNs() - linkDownNs) / 1e6;

        let first = -1;
        const deadline = Date.now() + FIRST_DELIVERY_TIMEOUT_MS;
        while ((first = arrivals.firstAfter(linkDownNs)) < 0 && Date.now() < deadline) await sleep(5);
        const registeredEvent = place === 'home' ? 'deregistered' : 'registered';
        const registrationDeadline = Date.now() + 5_000;
        let registration: Record<string, unknown> | undefined;
        while ((registration = logLines(directory, 'mn').slice(loggedBefore).find((l) => l.event === registeredEvent)) === undefined && Date.now() < registrationDeadline) await sleep(20);
        if (registration === undefined) problems.push(`no '${registeredEvent}' in the node's log after the move to ${place}`);

        let lost = NaN;
        if (first < 0) {
          problems.push(`no datagram delivered within ${FIRST_DELIVERY_TIMEOUT_MS / 1000} s after the move to ${place}`);
        } else {
          const settleUntil = arrivals.arrivedNs[first]! + SETTLE_MS * 1e6;
          while (nowNs() < settleUntil) await sleep(10);
          lost = datagramsLost(arrivals, linkDownNs, settleUntil);
        }
        const firstNs = first < 0 ? NaN : arrivals.arrivedNs[first]!;
        samples.push({
          place,
          repetition,
          restarted: move.restarted,
          linkChangeToFirstMs: (firstNs - linkDownNs) / 1e6,
          carrierUpToFirstMs: (firstNs - linkUpNs) / 1e6,
          linkChangeToRegisteredMs: registration !== undefined && typeof registration.at === 'number' ? registration.at - wallAtLinkDown : NaN,
          lost,
          ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
        });
      }
    }
    await stopProcess(sender);
    await stopProcess(receiver);
    let stream = { sent: NaN, sendErrors: NaN, seconds: NaN };
    try {
      stream = JSON.parse(senderOut.trim().split('\n').pop() ?? '') as typeof stream;
    } catch {
      // reported as not measured
    }
    return { samples, stream, labUpSeconds };
  } finally {
    for (const child of children) await stopProcess(child);
    // labDown stops the daemons gently; whatever it could not remove goes now.
    await labDown(lab).catch(() => undefined);
    removeLabNow(lab);
    process.off('exit', removeNow);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}
