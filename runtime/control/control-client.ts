/**
 * A client of the control socket (protocol.ts): one connection, one request, its value or its
 * rows. Every failure is a ControlClientError whose message says what to do.
 */
import { createConnection } from 'node:net';

export class ControlClientError extends Error {
  constructor(
    /** unreachable: no daemon; timeout; protocol: a reply that is not the protocol; daemon: the daemon's error reply. */
    readonly kind: 'unreachable' | 'timeout' | 'protocol' | 'daemon',
    message: string,
    /** The daemon's error code, for kind 'daemon'. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ControlClientError';
  }
}

export interface ControlCallOptions {
  /** Which daemon is expected there, for the message when nobody answers (e.g. 'mip4 ha'). */
  readonly daemon?: string;
  /** Time allowed without any reply line (default 5 s). */
  readonly timeoutMs?: number;
  /** Called per streamed row, in order; without it rows are collected into the result. */
  readonly onRow?: (row: unknown) => void;
}

export type ControlOutcome = { readonly kind: 'value'; readonly result: unknown } | { readonly kind: 'rows'; readonly rows: unknown[]; readonly count: number };

let nextId = 1;

/** Sends `command` to the daemon at `path` and waits for its answer. */
export function controlCall(path: string, command: string, args: Record<string, unknown> = {}, options: ControlCallOptions = {}): Promise<ControlOutcome> {
  const id = nextId++;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const collected: unknown[] = [];
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let settled = false;
    let buffered = '';
    const finish = (outcome: ControlOutcome | ControlClientError) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (outcome instanceof ControlClientError) reject(outcome);
      else resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new ControlClientError('timeout', `the daemon at ${path} did not answer ${JSON.stringify(command)} within ${timeoutMs} ms`)),
    );
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const daemon = options.daemon ?? 'the mip4 daemon';
      const why =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? `no daemon at ${path} (is ${daemon} running? --socket PATH or MIP4_CONTROL_SOCKET names another)`
          : error.code === 'EACCES'
            ? `${path}: permission denied (the control socket is its owner's only: run as that user, e.g. root)`
            : `${path}: ${error.message}`;
      finish(new ControlClientError('unreachable', why));
    });
    socket.once('connect', () => socket.write(`${JSON.stringify({ id, command, args })}\n`));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline >= 0 && !settled; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let reply: Record<string, unknown>;
        try {
          reply = JSON.parse(line) as Record<string, unknown>;
        } catch {
          finish(new ControlClientError('protocol', `${path} answered a line that is not JSON: ${line.slice(0, 80)}`));
          return;
        }
        if (reply.id !== id && reply.id !== null) continue;
        if ('row' in reply) {
          if (options.onRow !== undefined) options.onRow(reply.row);
          else collected.push(reply.row);
        } else if (reply.ok === true && reply.end === true) {
          finish({ kind: 'rows', rows: collected, count: Number(reply.rows) });
        } else if (reply.ok === true) {
          finish({ kind: 'value', result: reply.result });
        } else {
          const error = (reply.error ?? {}) as { code?: string; message?: string };
          finish(new ControlClientError('daemon', error.message ?? 'the daemon refused the request', error.code));
        }
      }
    });
    socket.once('close', () => finish(new ControlClientError('protocol', `${path} closed the connection before answering ${JSON.stringify(command)}`)));
  });
}
