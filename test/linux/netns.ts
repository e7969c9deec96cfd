/**
 * Helpers for the Linux IO tests: skip reasons, network namespaces and veth pairs created
 * with iproute2 and removed afterwards, and peer processes (test/linux/peer.ts) run inside a
 * namespace with `ip netns exec`, reporting JSON lines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nativeAvailable } from '../../io/linux/native.js';
import { ROOT } from '../support/build.js';

export { ensureBuilt, ROOT } from '../support/build.js';
export { hasTool, missingTools } from '../support/tools.js';
const VITE_NODE = `${ROOT}node_modules/vite-node/vite-node.mjs`;

/** How much longer peers may take to answer in a slow run (the sanitized helper: scripts/native-asan.sh). */
export const TIME_SCALE = Math.max(1, Number(process.env.MIP4_TEST_TIME_SCALE) || 1);

/** Why the namespace tests cannot run here, or undefined when they can. */
/**
 * The environment for capture tools (tshark, dumpcap): without the sanitizer preload that
 * scripts/native-asan.sh gives every process, under which dumpcap captures nothing. Node
 * processes that load the helper keep it (process.env).
 */
export function captureToolEnv(): NodeJS.ProcessEnv {
  const { LD_PRELOAD: _preload, ...env } = process.env;
  return env;
}

export function linuxSkipReason(options: { tun?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, raw sockets)';
  if (spawnSync('ip', ['-V'], { timeout: 5_000 }).status !== 0) return 'iproute2 (ip) is not installed';
  if (!nativeAvailable()) return 'the native helper is not built (npm ci)';
  if (options.tun && !existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return undefined;
}


/** Appends the skip reason to a test title so a skipped test says why. */
export function titled(title: string, reason: string | undefined): string {
  return reason === undefined ? title : `${title} (skipped: ${reason})`;
}

/** Runs `ip ARGS` and throws with its stderr when it fails. */
export function ip(...args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 5_000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

/** Runs a command inside a namespace; returns its status and output (never throws). */
export function inNamespace(namespace: string, command: string, args: string[], timeoutMs = 5_000) {
  return spawnSync('ip', ['netns', 'exec', namespace, command, ...args], { encoding: 'utf8', timeout: timeoutMs });
}

/** Namespaces created by one test file, all removed by `cleanup` (veths go with them). */
export class Namespaces {
  private readonly created: string[] = [];

  /** Creates a namespace with its loopback up. */
  add(name: string): string {
    ip('netns', 'add', name);
    this.created.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  /** A veth pair with one end in each namespace, addressed and up. */
  veth(a: { ns: string; name: string; cidr: string }, b: { ns: string; name: string; cidr: string }): void {
    ip('link', 'add', a.name, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns);
    for (const end of [a, b]) {
      ip('-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.name);
      ip('-n', end.ns, 'link', 'set', end.name, 'up');
    }
  }

  cleanup(): void {
    for (const name of this.created.splice(0)) {
      spawnSync('ip', ['netns', 'del', name], { timeout: 5_000 });
    }
  }
}

export type PeerEvent = { readonly event: string } & Record<string, unknown>;

/** A peer.ts process; collects its JSON lines and is killed by `stop`. */
export class Peer {
  readonly events: PeerEvent[] = [];
  private readonly child: ChildProcess;
  private readonly waiters: Array<() => void> = [];
  private stderr = '';
  exited = false;

  /** `command`, when given, runs instead of the script (e.g. `node bin/mip4.js ha ...`). */
  constructor(
    namespace: string | undefined,
    mode: string,
    args: string[],
    wrapper: string[] = [],
    script = 'test/linux/peer.ts',
    command: readonly string[] = [...wrapper, process.execPath, VITE_NODE, script, mode, ...args],
  ) {
    const [file, ...rest] = namespace === undefined ? command : ['ip', 'netns', 'exec', namespace, ...command];
    this.child = spawn(file!, rest, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          this.events.push(JSON.parse(line) as PeerEvent);
        } catch {
          // not one of ours (a stray log line)
        }
        this.notify();
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.notify();
    });
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /**
   * Resolves with the first event named `event` (or an error event); rejects after timeoutMs.
   * The default leaves room for vite-node starting a peer on a loaded 2-vCPU machine (6-8 s
   * measured at load average 15) within vitest's 20 s test timeout.
   */
  waitFor(event: string, timeoutMs = 15_000 * TIME_SCALE): Promise<PeerEvent> {
    return this.waitUntil((e) => e.event === event, `"${event}"`, timeoutMs);
  }

  /** Resolves with the first event `matches` accepts (or an error event); rejects after timeoutMs. */
  async waitUntil(matches: (event: PeerEvent) => boolean, label: string, timeoutMs = 8_000 * TIME_SCALE): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => matches(e) || e.event === 'error' || e.event === 'timeout');
      if (found) return found;
      if (this.exited) throw new Error(`peer exited before ${label}: ${JSON.stringify(this.events)} ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${label} from the peer within ${timeoutMs} ms: ${JSON.stringify(this.events)} ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Writes one line to the peer's stdin (a "go" signal). */
  tell(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Everything the process wrote on stderr so far. */
  get stderrText(): string {
    return this.stderr;
  }

  /** Resolves with the exit code once the process has exited. */
  exit(timeoutMs = 8_000): Promise<number | null> {
    return new Promise((resolve, reject) => {
      if (this.exited) return resolve(this.child.exitCode);
      const timer = setTimeout(() => reject(new Error(`the process did not exit within ${timeoutMs} ms: ${this.stderr}`)), timeoutMs);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  signal(name: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(name);
  }

  stop(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
