/**
 * A `mip4` daemon as a child process for the metrics tests: JSON log lines collected from
 * stdout, stderr kept, and an HTTP GET for its /metrics endpoint. The registration client
 * that drives it is written from RFC 5944 with node:crypto (3.3, 3.5.1), not the project's codecs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { ROOT } from './build.js';

export type LogLine = Record<string, unknown> & { event?: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  private partial = '';

  constructor(args: readonly string[], options: { readonly command?: readonly string[] } = {}) {
    const [file, ...prefix] = options.command ?? [process.execPath, 'bin/mip4.js'];
    this.child = spawn(file!, [...prefix, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => ((this.exit = { code, signal }), resolve())));
  }

  async line(event: string, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((l) => l.event === event);
      if (found !== undefined) return found;
      if (this.exit !== undefined) throw new Error(`mip4 exited (${JSON.stringify(this.exit)}) before a ${event} line; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${event} line within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await sleep(10);
    }
  }

  /** Sends SIGTERM and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exit !== undefined) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(killer);
  }

  kill(): void {
    if (this.exit === undefined) this.child.kill('SIGKILL');
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** GET `url` (http only), optionally with an Accept header. */
export function httpGet(url: string, accept?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: accept !== undefined ? { accept } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url}: no answer in 10 s`)));
    req.end();
  });
}

/** The Accept header Prometheus sends (it prefers OpenMetrics). */
export const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

// ---------------------------------------------------------------------------------------------
// Registration Requests from the RFC.

/** 1900 to 1970 in seconds: NTP timestamps count from 1900 (5.7.1). */
const NTP_UNIX_OFFSET = 2208988800n;
let lastIdentification = 0n;

/** A timestamp Identification (5.7.1), greater than every one handed out before. */
export function freshIdentification(): bigint {
  const ms = BigInt(Date.now());
  let id = ((ms / 1000n + NTP_UNIX_OFFSET) << 32n) | (((ms % 1000n) << 32n) / 1000n);
  if (id <= lastIdentification) id = lastIdentification + 1n;
  lastIdentification = id;
  return id;
}

const address = (dotted: string) => Buffer.from(dotted.split('.').map(Number));

/**
 * A Registration Request (3.3) with a Mobile-Home Authentication Extension (3.5.2) whose
 * authenticator is HMAC-MD5 over everything before it (3.5.1).
 */
export function registrationRequest(f: {
  readonly lifetime: number;
  readonly homeAddress: string;
  readonly homeAgent: string;
  readonly careOfAddress: string;
  readonly identification: bigint;
  readonly spi: number;
  readonly key: Buffer;
}): Buffer {
  const b = Buffer.alloc(24 + 22);
  b[0] = 1;
  b[1] = 0;
  b.writeUInt16BE(f.lifetime, 2);
  address(f.homeAddress).copy(b, 4);
  address(f.homeAgent).copy(b, 8);
  address(f.careOfAddress).copy(b, 12);
  b.writeBigUInt64BE(f.identification, 16);
  b[24] = 32;
  b[25] = 20;
  b.writeUInt32BE(f.spi, 26);
  createHmac('md5', f.key).update(b.subarray(0, 30)).digest().copy(b, 30);
  return b;
}
