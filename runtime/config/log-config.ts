/**
 * The `log` section every daemon's configuration file may have: `log: { level: info }`. The
 * daemon's `--log-level` flag wins over it (runtime/cli/operator-log.ts writes the lines).
 */
import { Schema } from 'effect';
import { oneOf, optional } from './config-schema.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Most severe first: a daemon at level L writes the lines of L and of the levels before it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const satisfies readonly LogLevel[];

export const LogSection = Schema.Struct({ level: optional(oneOf(...LOG_LEVELS)) });

/** The level a file's `log` section sets, as a loaded configuration carries it. */
export function logLevelField(section: { readonly level?: LogLevel } | undefined): { readonly logLevel?: LogLevel } {
  return section?.level === undefined ? {} : { logLevel: section.level };
}
