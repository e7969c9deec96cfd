/**
 * The daemons that move packets (ha with a dataPath or advertisement section, fa, mn, lab) need
 * the native IO helper; the rest of mip4 (demo, decode, chart, examples, the library on the
 * simulated network) does not, and an install without a compiler leaves it unbuilt. Such a
 * daemon checks first and stops with one line saying what is missing and how to build it,
 * instead of failing later inside a socket or device call.
 */
import { loadNative, NativeHelperLoadError, NativeHelperMissingError } from '../../io/linux/native.js';
import type { Io } from './args.js';

/** Why the helper cannot be used on this host, or undefined when it loads. */
export function nativeHelperProblem(): string | undefined {
  if (process.platform !== 'linux') return `the native IO helper exists only on Linux (this is ${process.platform})`;
  try {
    loadNative();
    return undefined;
  } catch (error) {
    if (error instanceof NativeHelperMissingError || error instanceof NativeHelperLoadError) return error.message;
    throw error;
  }
}

/**
 * Prints `mip4 <command>: <why>` and returns true when the helper is unusable; the caller then
 * exits 1. `command` may name what needs it, e.g. "ha (dataPath)".
 */
export function reportNativeHelperMissing(command: string, io: Io): boolean {
  const problem = nativeHelperProblem();
  if (problem === undefined) return false;
  io.err(`mip4 ${command}: ${problem}`);
  return true;
}
