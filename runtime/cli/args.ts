/**
 * Small shared pieces of the command line: usage errors (exit 2), option parsing with
 * node:util's parseArgs, and output that tests can capture.
 */
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
