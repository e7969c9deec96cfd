/**
 * Small shared pieces of the command line: usage errors (exit 2), option parsing with
 * node:util's parseArgs, and output that tests can capture.
 */
import { NATIVE_MISSING_MESSAGE } from '../../io/linux/native.js';
import { nativeUdpUsable, UDP_IMPLEMENTATIONS, type UdpImplementation } from '../udp-layer.js';

export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;

/** A mistake in how the command was invoked: printed with the usage line, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export interface Subcommand {
  readonly name: string;
  readonly usage: string;
  readonly run: (argv: string[], io: Io) => Promise<number>;
}

/** Runs an argument parser (node:util parseArgs), turning its complaints into UsageError. */
export function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Signals a daemon answers: SIGUSR2 prints its status (SIGUSR1 is Node's debugger signal);
 * SIGTERM or SIGINT asks it to stop. Install before announcing readiness: a supervisor (or a
 * test) may signal as soon as it reads that line, and an unhandled SIGUSR2 or SIGTERM would
 * kill the process.
 */
export function daemonSignals(printStatus: () => void, onHangup?: () => void): { readonly stop: Promise<NodeJS.Signals>; dispose(): void } {
  process.on('SIGUSR2', printStatus);
  // SIGHUP re-reads the configuration (runtime/cli/daemon-ops.ts) instead of killing the daemon.
  if (onHangup !== undefined) process.on('SIGHUP', onHangup);
  let onTerm: () => void = () => {};
  let onInt: () => void = () => {};
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    onTerm = () => resolve('SIGTERM');
    onInt = () => resolve('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
  return {
    stop,
    dispose() {
      process.off('SIGUSR2', printStatus);
      if (onHangup !== undefined) process.off('SIGHUP', onHangup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
    },
  };
}

/**
 * The interface name in the examples `--example-config` prints. It is no machine's interface,
 * so an example run unedited opens none; the daemons refuse it by name before opening anything.
 */
export const EXAMPLE_INTERFACE_PLACEHOLDER = 'CHANGE-ME';

/**
 * Reports the fields of a loaded configuration that still hold the example's placeholder, as
 * a config error (the caller exits 2); false when there are none.
 */
export function reportPlaceholders(command: string, path: string, fields: ReadonlyArray<readonly [field: string, value: string | undefined]>, io: Io): boolean {
  const problems = placeholderProblems(fields);
  if (problems.length === 0) return false;
  io.err(`mip4 ${command}: invalid configuration ${path}:`);
  for (const problem of problems) io.err(`  ${problem}`);
  return true;
}

/** `field: why` for each field still holding the example's placeholder (shared with --check-config and reload). */
export function placeholderProblems(fields: ReadonlyArray<readonly [field: string, value: string | undefined]>): string[] {
  return fields
    .filter(([, value]) => value === EXAMPLE_INTERFACE_PLACEHOLDER)
    .map(([field]) => `${field}: ${EXAMPLE_INTERFACE_PLACEHOLDER} is the example's placeholder; name one of this host's interfaces (ip -br link lists them)`);
}

/** `field: why` for each issue of a ConfigError, or undefined for any other error (shared with --check-config and reload). */
export function configErrorProblems(error: unknown): string[] | undefined {
  // Checked by name, not instanceof: importing the config module here would load effect and
  // yaml for every command, `mip4 decode` included.
  if (!(error instanceof Error) || error.name !== 'ConfigError') return undefined;
  return (error as Error & { issues: ReadonlyArray<{ path: string; message: string }> }).issues.map((issue) => `${issue.path || '(file)'}: ${issue.message}`);
}

/** Loads a daemon's configuration; on a ConfigError prints every issue and returns undefined (exit 2). */
export function loadConfigOrReport<T>(command: string, path: string, load: (path: string) => T, io: Io): T | undefined {
  try {
    return load(path);
  } catch (error) {
    const problems = configErrorProblems(error);
    if (problems === undefined) throw error;
    io.err(`mip4 ${command}: invalid configuration ${path}:`);
    for (const problem of problems) io.err(`  ${problem}`);
    return undefined;
  }
}

/**
 * Starts a daemon's runtime; when it fails with one of the `expected` errors (a socket, an
 * interface, a permission: the IO layer's typed errors, whose messages name the fix) prints
 * `mip4 <command>: <message>` and returns undefined (exit 1). Anything else is a bug and is
 * rethrown.
 */
export async function startOrReport<T>(
  command: string,
  start: () => Promise<T>,
  expected: ReadonlyArray<abstract new (...args: never[]) => Error>,
  io: Io,
): Promise<T | undefined> {
  try {
    return await start();
  } catch (error) {
    if (!expected.some((kind) => error instanceof kind)) throw error;
    io.err(`mip4 ${command}: ${(error as Error).message}`);
    return undefined;
  }
}

/** The options every daemon (`mip4 ha|fa|mn`) takes; a daemon spreads its own beside them. */
export const DAEMON_OPTIONS = {
  config: { type: 'string' },
  'log-transitions': { type: 'boolean' },
  'example-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  // runtime/cli/daemon-ops.ts
  'log-level': { type: 'string' },
  'check-config': { type: 'string' },
  // runtime/cli/inspect-option.ts
  inspect: { type: 'string' },
  'inspect-public': { type: 'boolean' },
} as const;

/**
 * Handles what the daemons' common options ask before any work: `--help` and
 * `--example-config` print and end (exit 0), a missing `--config` is a usage error. Returns the
 * configuration path, or the exit code when the command is done.
 */
export function daemonConfigPath(
  command: string,
  values: { readonly config?: string | undefined; readonly help?: boolean | undefined; readonly 'example-config'?: boolean | undefined },
  usage: string,
  exampleConfig: string,
  io: Io,
): string | number {
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  if (values['example-config']) {
    io.out(exampleConfig);
    return ExitCode.Ok;
  }
  if (values.config === undefined) throw new UsageError(`--config is required (mip4 ${command} --example-config prints one)`);
  return values.config;
}

/** `--udp auto|native|dgram` (mip4 ha, mip4 fa): which UDP layer the daemon runs on (runtime/udp-layer.ts). */
export const UDP_OPTION = { udp: { type: 'string' } } as const;
export const UDP_OPTION_USAGE = `  --udp auto|native|dgram
                       UDP sockets: native = batched through the native helper (Linux),
                       dgram = node:dgram, auto (default) = native when the helper is built`;

/** The `--udp` value; a UsageError for anything else. */
export function udpChoice(value: string | undefined): UdpImplementation {
  if (value === undefined) return 'auto';
  if ((UDP_IMPLEMENTATIONS as readonly string[]).includes(value)) return value as UdpImplementation;
  throw new UsageError(`--udp ${JSON.stringify(value)}: expected auto, native or dgram`);
}

/** Why `--udp native` cannot work on this host, or undefined. */
export function udpChoiceProblem(choice: UdpImplementation): string | undefined {
  if (choice !== 'native' || nativeUdpUsable()) return undefined;
  const why = process.platform !== 'linux' ? 'the native helper exists only on Linux' : NATIVE_MISSING_MESSAGE;
  return `--udp native: ${why}; start with --udp dgram (or auto)`;
}
