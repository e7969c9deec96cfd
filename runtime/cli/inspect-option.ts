/** `--inspect ADDR:PORT` and `--inspect-public` of `mip4 ha|fa|mn|demo`: the live inspector (runtime/inspector/). */
import { isLoopbackAddress, parseInspectAddress } from '../inspector/inspect-address.js';
import type { InspectorOptions, RunningInspector } from '../inspector/inspector-server.js';
import { UsageError, type Io } from './args.js';

export const INSPECT_OPTIONS = {
  inspect: { type: 'string' },
  'inspect-public': { type: 'boolean' },
} as const;

export const INSPECT_OPTIONS_USAGE = `  --inspect ADDR:PORT  serve the live inspector page (state charts, counts, actors) here,
                       e.g. 127.0.0.1:8434; loopback only unless --inspect-public
  --inspect-public     allow --inspect on a non-loopback address (the page shows addresses,
                       states and identifications; never a key)`;

/** The address `--inspect` asks for, undefined without it; a malformed one is a usage error. */
export function inspectListen(values: { readonly inspect?: string | undefined; readonly 'inspect-public'?: boolean | undefined }): { address: string; port: number } | undefined {
  if (values.inspect === undefined) {
    if (values['inspect-public'] === true) throw new UsageError('--inspect-public goes with --inspect ADDR:PORT');
    return undefined;
  }
  const parsed = parseInspectAddress(values.inspect);
  if (typeof parsed === 'string') throw new UsageError(parsed);
  // Refused before anything starts: serving the page beyond this host is a decision, not a default.
  if (!isLoopbackAddress(parsed.address) && values['inspect-public'] !== true) {
    throw new UsageError(`--inspect ${values.inspect}: not a loopback address; add --inspect-public to serve the inspector there (it shows addresses and states, never keys)`);
  }
  return parsed;
}

/** Starts the inspector when asked: undefined when not, 'failed' (reported) when it cannot listen. */
export async function startDaemonInspector(
  role: string,
  listen: { address: string; port: number } | undefined,
  allowNonLoopback: boolean,
  sources: InspectorOptions['sources'],
  io: Io,
  demo?: InspectorOptions['demo'],
): Promise<RunningInspector | undefined | 'failed'> {
  if (listen === undefined) return undefined;
  // Loaded only when asked for: a daemon without --inspect never loads the server nor ELK.
  const { InspectorListenError, startInspector } = await import('../inspector/inspector-server.js');
  try {
    return await startInspector({ listen, allowNonLoopback, sources, ...(demo === undefined ? {} : { demo }) });
  } catch (error) {
    if (!(error instanceof InspectorListenError)) throw error;
    io.err(`mip4 ${role}: ${error.message}`);
    return 'failed';
  }
}
