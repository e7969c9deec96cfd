/**
 * Opening a daemon's control socket at start: the configured path, the role's default, or
 * none. A live daemon on the path stops the start (exit 1, naming control.socket); an
 * unwritable *default* directory (an ordinary user without /run/mip4) only leaves the daemon
 * without a socket, said in its log, since nothing in its config asked for one.
 */
import { ControlServer, ControlSocketError } from './control-server.js';
import { defaultControlSocket, type DaemonRole } from './protocol.js';

export type DaemonControl =
  | { readonly kind: 'serving'; readonly server: ControlServer; readonly socket: string }
  | { readonly kind: 'off'; readonly socket: null }
  | { readonly kind: 'unavailable'; readonly socket: null; readonly path: string; readonly reason: string }
  | { readonly kind: 'failed'; readonly socket: null; readonly message: string };

export async function openDaemonControl(role: DaemonRole, setting: { readonly socket: string | null } | undefined): Promise<DaemonControl> {
  if (setting?.socket === null) return { kind: 'off', socket: null };
  const path = setting?.socket ?? defaultControlSocket(role);
  const server = new ControlServer();
  try {
    await server.listen(path);
    return { kind: 'serving', server, socket: path };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof ControlSocketError || setting?.socket !== undefined) {
      return { kind: 'failed', socket: null, message: `control.socket: ${reason} (set control: { socket: PATH } or none in the config)` };
    }
    return { kind: 'unavailable', socket: null, path, reason };
  }
}

/** The log event saying why a daemon runs without the default control socket, if it does. */
export function controlUnavailableEvent(control: DaemonControl): object | undefined {
  if (control.kind !== 'unavailable') return undefined;
  return {
    event: 'control-unavailable',
    socket: control.path,
    reason: control.reason,
    fix: 'run as root (or give the user /run/mip4), set control.socket to a writable path, or control.socket: none',
  };
}

/** Stops serving and removes the socket file (nothing to do when there is none). */
export async function closeDaemonControl(control: DaemonControl): Promise<void> {
  if (control.kind === 'serving') await control.server.close();
}
