/**
 * What an operator does to a running daemon besides starting and stopping it: choose the log
 * level (`--log-level`, `log.level`), check a configuration without starting (`--check-config`,
 * like `nginx -t`), and reload one (SIGHUP; the control socket's `mip4 reload` calls the same
 * DaemonReload). A reload checks the new file exactly as a start does; refused, it changes
 * nothing and the old configuration keeps running.
 */
import { configErrorProblems, ExitCode, placeholderProblems, UsageError, type Io } from './args.js';
import { DEFAULT_LOG_LEVEL, logLevelProblem, type LogLevel, type OperatorLog } from './operator-log.js';
import { INSPECT_OPTIONS_USAGE } from './inspect-option.js';

export const OPS_OPTIONS_USAGE = `  --log-level LEVEL    error, warn, info (default), debug or trace; overrides the file's log.level
  --check-config FILE  check FILE as a start would, print "ok: FILE" (exit 0) or its errors (exit 2)
${INSPECT_OPTIONS_USAGE}`;

/** The start level: `--log-level` wins over the file's `log.level`; info when neither is set. */
export function chooseLogLevel(flag: string | undefined, fromConfig: LogLevel | undefined): LogLevel {
  if (flag !== undefined) {
    const problem = logLevelProblem(flag);
    if (problem !== undefined) throw new UsageError(problem);
    return flag as LogLevel;
  }
  return fromConfig ?? DEFAULT_LOG_LEVEL;
}

/** Fields whose value is still the example's placeholder (interface names), per role. */
export type PlaceholderFields<T> = (loaded: T) => ReadonlyArray<readonly [field: string, value: string | undefined]>;

export type ConfigCheck<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Loads and checks a configuration file as the daemon's start does, opening nothing: the
 * errors are the `field: message` lines a start prints.
 */
export function checkConfigFile<T>(path: string, load: (path: string) => T, placeholders: PlaceholderFields<T>): ConfigCheck<T> {
  let value: T;
  try {
    value = load(path);
  } catch (error) {
    const problems = configErrorProblems(error);
    if (problems === undefined) throw error;
    return { ok: false, errors: problems };
  }
  const left = placeholderProblems(placeholders(value));
  return left.length > 0 ? { ok: false, errors: left } : { ok: true, value };
}

/** `mip4 <role> --check-config FILE`: `ok: FILE` and exit 0, or the start's messages and exit 2. */
export function runCheckConfig<T>(command: string, path: string, load: (path: string) => T, placeholders: PlaceholderFields<T>, io: Io): number {
  const check = checkConfigFile(path, load, placeholders);
  if (check.ok) {
    io.out(`ok: ${path}`);
    return ExitCode.Ok;
  }
  io.err(`mip4 ${command}: invalid configuration ${path}:`);
  for (const error of check.errors) io.err(`  ${error}`);
  return ExitCode.Usage;
}

/**
 * Trace ids restart at 1 with each process; this prefix (the start time in milliseconds,
 * base 36, e.g. "mivzk3a1.") keeps them unique across restarts of one host's daemon.
 */
export function traceIdPrefix(startMs: number = Date.now()): string {
  return `${startMs.toString(36)}.`;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[]; readonly unchanged: number }
  | { readonly ok: false; readonly errors: readonly string[] };

/** What the control part's `mip4 reload` calls; SIGHUP calls the same function. */
export interface DaemonReload {
  reload(): Promise<ReloadOutcome>;
}

/** What a role's reload does with a checked configuration. */
export interface ReloadTarget<T> {
  readonly load: (path: string) => T;
  readonly placeholders: PlaceholderFields<T>;
  /** The fields that differ from `current` but take effect only at a restart (logged, not applied). */
  readonly restartOnly: (current: T, next: T) => readonly string[];
  /** Applies `next` to the running agent; what changed, by name (home addresses for the HA). */
  readonly apply: (next: T) => Omit<Extract<ReloadOutcome, { ok: true }>, 'ok'>;
  /** The `log.level` of a configuration. */
  readonly logLevel: (loaded: T) => LogLevel | undefined;
}

/**
 * A DaemonReload over a role's ReloadTarget. Reloads run one at a time, in order (a second
 * SIGHUP while one runs waits for it). The log level follows the file's `log.level` unless
 * `--log-level` was given.
 */
export function daemonReload<T>(configPath: string, initial: T, target: ReloadTarget<T>, log: OperatorLog, levelFromFlag: boolean): DaemonReload {
  let current = initial;
  let last: Promise<unknown> = Promise.resolve();
  const once = (): ReloadOutcome => {
    const check = checkConfigFile(configPath, target.load, target.placeholders);
    if (!check.ok) {
      log.log({ event: 'reload-refused', config: configPath, errors: check.errors, note: 'the running configuration is unchanged' });
      return { ok: false, errors: check.errors };
    }
    const next = check.value;
    const restartOnly = target.restartOnly(current, next);
    if (restartOnly.length > 0) log.log({ event: 'reload-restart-needed', config: configPath, fields: restartOnly, note: 'these changes apply at the next start' });
    const applied = target.apply(next);
    current = next;
    if (!levelFromFlag) log.setStartLevel(target.logLevel(next) ?? DEFAULT_LOG_LEVEL);
    log.log({ event: 'reloaded', config: configPath, ...applied });
    return { ok: true, ...applied };
  };
  const guarded = (): ReloadOutcome => {
    try {
      return once();
    } catch (error) {
      // A bug, not a bad file: reported like a refused reload, never a crash of the daemon.
      const errors = [`internal error: ${(error as Error).stack ?? String(error)}`];
      log.log({ event: 'reload-refused', config: configPath, errors });
      return { ok: false, errors };
    }
  };
  return {
    reload() {
      const run = last.then(guarded);
      last = run.catch(() => undefined);
      return run;
    },
  };
}

/** Which of `fields` differ between two values, compared as JSON (they are plain data). */
export function differingFields(current: Readonly<Record<string, unknown>>, next: Readonly<Record<string, unknown>>, fields: readonly string[]): string[] {
  return fields.filter((field) => JSON.stringify(current[field]) !== JSON.stringify(next[field]));
}
