/**
 * The control socket's protocol (docs/operations.md, "Control socket"): newline-delimited JSON
 * over a Unix stream socket. One request per line; the daemon answers each with a value, an
 * error, or a stream of rows closed by an end line, all carrying the request's id.
 *
 *   request : {"id": 1, "command": "bindings", "args": {"homeAddress": "192.0.2.10"}}
 *   value   : {"id": 1, "ok": true, "result": {...}}
 *   rows    : {"id": 1, "row": {...}} per row, then {"id": 1, "ok": true, "end": true, "rows": N}
 *   error   : {"id": 1, "ok": false, "error": {"code": "not-found", "message": "..."}}
 */
import { join } from 'node:path';

export type ControlErrorCode = 'unknown-command' | 'bad-request' | 'request-too-large' | 'not-found' | 'unsupported' | 'internal-error';

export interface ControlRequest {
  readonly id: number | string;
  readonly command: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

export type ControlReply =
  | { readonly id: number | string | null; readonly ok: true; readonly result: unknown }
  | { readonly id: number | string; readonly row: unknown }
  | { readonly id: number | string; readonly ok: true; readonly end: true; readonly rows: number }
  | { readonly id: number | string | null; readonly ok: false; readonly error: { readonly code: ControlErrorCode | string; readonly message: string } };

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** What the logger gives the control socket for `mip4 debug on|off [--home-address A]` and `mip4 status`. */
export interface DaemonLogControl {
  readonly level: LogLevel;
  /** on: debug lines (per-registration detail, transitions) for all nodes, or for one home address; off: back to the start level. */
  setDebug(on: boolean, homeAddress?: string): { readonly level: LogLevel; readonly debugHomeAddresses: readonly string[] };
}

/** What the daemon gives the control socket for `mip4 reload` (SIGHUP calls the same function). */
export interface DaemonReload {
  reload(): Promise<ReloadOutcome>;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[]; readonly unchanged: number }
  | { readonly ok: false; readonly errors: readonly string[] };

export type DaemonRole = 'ha' | 'fa' | 'mn';

/** Where the default control sockets live: /run/mip4, or MIP4_CONTROL_DIR (tests, unprivileged users). */
export function controlDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.MIP4_CONTROL_DIR;
  return dir !== undefined && dir !== '' ? dir : '/run/mip4';
}

/** The control socket a daemon of `role` serves when its config names none: /run/mip4/<role>.sock. */
export function defaultControlSocket(role: DaemonRole, env: NodeJS.ProcessEnv = process.env): string {
  return join(controlDirectory(env), `${role}.sock`);
}

/**
 * The longest Unix socket path Linux accepts: sun_path holds 108 bytes with the terminating
 * NUL. Longer paths fail at bind with a puzzling error, so configs are checked against it.
 */
export const MAX_SOCKET_PATH_BYTES = 107;
