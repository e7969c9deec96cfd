/**
 * The daemons' control socket: a Unix stream socket (mode 0600) speaking the newline-delimited
 * JSON of protocol.ts. Commands are registered by name; a handler returns a value, or rows
 * (`controlRows`) that are written one line each as the socket drains, so 20,000 bindings are
 * never one string in memory. A bad request gets an error reply; nothing a client sends (or
 * how it disconnects) reaches the daemon as an exception.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControlErrorCode, ControlRequest } from './protocol.js';

/** Rows a handler streams instead of returning one value. */
export interface ControlRows {
  readonly kind: 'rows';
  readonly rows: Iterable<unknown>;
}

export function controlRows(rows: Iterable<unknown>): ControlRows {
  return { kind: 'rows', rows };
}

/** A handler's refusal with a protocol error code (e.g. not-found), sent as the error reply. */
export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export type ControlHandler = (args: Readonly<Record<string, unknown>>) => unknown | ControlRows | Promise<unknown>;

/** The socket path is held by a live daemon, or cannot be used; the message names the fix. */
export class ControlSocketError extends Error {
  constructor(
    readonly reason: 'in-use' | 'not-a-socket' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'ControlSocketError';
  }
}

export interface ControlServerOptions {
  /** A request line longer than this is refused and its connection closed (default 64 KiB). */
  readonly maxRequestBytes?: number;
  /** Rows gathered into one write (fewer system calls while streaming). */
  readonly rowsPerWrite?: number;
}

export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

export class ControlServer {
  private readonly handlers = new Map<string, ControlHandler>();
  private readonly connections = new Set<Socket>();
  private server: Server | undefined;
  private socketPath: string | undefined;
  private readonly maxRequestBytes: number;
  private readonly rowsPerWrite: number;

  constructor(options: ControlServerOptions = {}) {
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.rowsPerWrite = options.rowsPerWrite ?? 256;
  }

  /** Adds (or replaces) the handler of `command`. */
  register(command: string, handler: ControlHandler): void {
    this.handlers.set(command, handler);
  }

  get commands(): string[] {
    return [...this.handlers.keys()].sort();
  }

  get path(): string | undefined {
    return this.socketPath;
  }

  /**
   * Listens on `path`: its directory is created (0755) if missing; a socket file nobody
   * answers on (left by a daemon that was killed) is replaced; a live one is refused.
   */
  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);
    const server = createServer((socket) => this.serve(socket));
    // The socket file is created with the umask's mode: 0177 makes it 0600 from the start,
    // before any other user could connect. Node binds inside listen(), synchronously.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    // An accept failure (e.g. out of descriptors) is not worth the daemon's life.
    server.on('error', () => {});
    this.server = server;
    this.socketPath = path;
  }

  /** Stops listening, ends every connection and removes the socket file. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // net.Server removes its own socket file on close; this covers a file replaced meanwhile.
    try {
      if (this.socketPath !== undefined && lstatSync(this.socketPath).isSocket()) unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
  }

  private serve(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buffered = '';
    // One request at a time per connection, in order: a stream's rows are never interleaved.
    let queue: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        if (Buffer.byteLength(line) > this.maxRequestBytes) {
          this.refuseTooLarge(socket);
          return;
        }
        // answer() catches what handlers throw; anything else ends this connection only, never
        // the daemon (an unhandled rejection would stop the process).
        queue = queue.then(() => this.answer(socket, line)).catch(() => {
          socket.destroy();
        });
      }
      if (Buffer.byteLength(buffered) > this.maxRequestBytes) this.refuseTooLarge(socket);
    });
  }

  private refuseTooLarge(socket: Socket): void {
    socket.removeAllListeners('data');
    const message = `a request line is at most ${this.maxRequestBytes} bytes; the connection is closed`;
    socket.end(`${JSON.stringify({ id: null, ok: false, error: { code: 'request-too-large', message } })}\n`);
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    if (socket.destroyed) return;
    const request = parseRequest(line);
    if ('error' in request) {
      await write(socket, `${JSON.stringify({ id: request.id, ok: false, error: { code: 'bad-request', message: request.error } })}\n`);
      return;
    }
    const { id, command } = request;
    const handler = this.handlers.get(command);
    if (handler === undefined) {
      const message = `unknown command ${JSON.stringify(command)}; this daemon answers: ${this.commands.join(', ')}`;
      await write(socket, `${JSON.stringify({ id, ok: false, error: { code: 'unknown-command', message } })}\n`);
      return;
    }
    try {
      const outcome = await handler(request.args ?? {});
      if (isRows(outcome)) await this.stream(socket, id, outcome.rows);
      else await write(socket, `${JSON.stringify({ id, ok: true, result: outcome ?? null })}\n`);
    } catch (error) {
      const code = error instanceof ControlError ? error.code : 'internal-error';
      const message = error instanceof Error ? error.message : String(error);
      await write(socket, `${JSON.stringify({ id, ok: false, error: { code, message } })}\n`);
    }
  }

  /** Writes rows a batch at a time, waiting for the socket to drain; stops if the client left. */
  private async stream(socket: Socket, id: number | string, rows: Iterable<unknown>): Promise<void> {
    const prefix = `{"id":${JSON.stringify(id)},"row":`;
    let count = 0;
    let batch = '';
    let inBatch = 0;
    for (const row of rows) {
      batch += `${prefix}${JSON.stringify(row)}}\n`;
      count++;
      if (++inBatch >= this.rowsPerWrite) {
        if (!(await write(socket, batch))) return;
        batch = '';
        inBatch = 0;
      }
    }
    await write(socket, `${batch}${JSON.stringify({ id, ok: true, end: true, rows: count })}\n`);
  }
}

function isRows(value: unknown): value is ControlRows {
  return typeof value === 'object' && value !== null && (value as ControlRows).kind === 'rows' && Symbol.iterator in Object((value as ControlRows).rows);
}

/** Writes and waits for the socket to drain when its buffer is full; false when the client is gone. */
function write(socket: Socket, text: string): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return Promise.resolve(false);
  if (socket.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

function parseRequest(line: string): (ControlRequest & { readonly args?: Record<string, unknown> }) | { readonly id: number | string | null; readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { id: null, error: `not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { id: null, error: 'expected a JSON object {"id", "command", "args"}' };
  const { id, command, args } = value as Record<string, unknown>;
  const validId = typeof id === 'number' || typeof id === 'string' ? id : null;
  if (validId === null) return { id: null, error: 'id: expected a number or a string' };
  if (typeof command !== 'string' || command === '') return { id: validId, error: 'command: expected a command name, e.g. "status"' };
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) return { id: validId, error: 'args: expected a JSON object' };
  return { id: validId, command, ...(args !== undefined ? { args: args as Record<string, unknown> } : {}) };
}

/**
 * Removes a socket file left by a daemon that died without cleaning up; refuses a path where a
 * daemon answers, or that is not a socket (a regular file is never deleted).
 */
async function removeStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new ControlSocketError('not-a-socket', `${path} exists and is not a socket; remove it or choose another path`);
  const answered = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answered) throw new ControlSocketError('in-use', `${path}: another daemon answers on this control socket; stop it or choose another path`);
  unlinkSync(path);
}
