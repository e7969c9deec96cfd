/**
 * Child processes of the benchmark: servers whose stdout goes to a file (a daemon that logs
 * every reply must not be slowed down by a pipe the harness drains), CPU time read from
 * /proc, and one-shot tools whose last stdout line is JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** User + system CPU seconds a process has used so far (Linux /proc), or NaN. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: field 3 is the state; utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** A long-running server; its stdout goes to `logFile`, which `truncateLog` empties. */
export class Server {
  private readonly child: ChildProcess;
  private readonly logFd: number;
  private exitCode: number | null | undefined;
  private stderr = '';

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    private readonly logFile: string,
  ) {
    this.logFd = openSync(logFile, 'a');
    this.child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', this.logFd, 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.stderr.length < 10_000) this.stderr += chunk;
    });
    this.child.on('exit', (code) => {
      this.exitCode = code;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Waits for a JSON log line with `event` and returns it. */
  async waitForEvent(event: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}) before "${event}": ${this.stderr.trim()}`);
      const text = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
      for (const line of text.split('\n')) {
        if (!line.includes(`"${event}"`)) continue;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.event === event) return parsed;
        } catch {
          // a partial line: read again
        }
      }
      await sleep(50);
    }
    throw new Error(`${this.name}: no "${event}" within ${timeoutMs} ms: ${this.stderr.trim()}`);
  }

  /** Empties the log (opened for appending, so the child keeps writing at the new end). */
  truncateLog(): void {
    ftruncateSync(this.logFd, 0);
  }

  async stop(): Promise<void> {
    if (this.exitCode === undefined) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    closeSync(this.logFd);
  }
}

/** Runs a tool to completion; returns its stdout (one JSON document, or JSON as its last line). */
export function runJson<T>(command: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      if (err.length < 10_000) err += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${err.trim() || last}`));
      for (const text of [out, last]) {
        try {
          return resolve(JSON.parse(text) as T);
        } catch {
          // try the last line alone
        }
      }
      reject(new Error(`${command}: no JSON on stdout: ${out.slice(-500)} ${err.trim()}`));
    });
  });
}
