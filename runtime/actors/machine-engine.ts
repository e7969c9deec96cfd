/**
 * Which engine steps a machine: the one place that chooses (runtime/actors/README.md).
 *
 * The compiled engine (machine-compiler.ts + compiled-engine.ts) unless the plain xstate
 * engine (xstate-engine.ts) is asked for: by the host's `engine` option, else by the
 * environment variable MIP4_ENGINE=xstate for every host of the process (CI runs the agent
 * tests so, to show the agents equal under both). A machine the compiler cannot take is a
 * start-up error naming the machine and the feature, never a silent fall back: the fall back
 * would cost the hot path its speed and memory without anyone noticing.
 */
import type { AnyStateMachine } from 'xstate';
import { compileMachine, isUnsupported } from './machine-compiler.js';
import type { EngineFor, EngineKind } from './step-engine.js';
import { xstateEngine } from './xstate-engine.js';

export type { EngineAction, EngineFor, EngineKind, EngineSnapshot, EngineStatus, StepEngine, StepResult } from './step-engine.js';
export { compileMachine, isUnsupported, type Unsupported } from './machine-compiler.js';
export { xstateEngine } from './xstate-engine.js';

/** The environment variable that selects the engine of every host without an `engine` option. */
export const ENGINE_VARIABLE = 'MIP4_ENGINE';

const ENGINE_KINDS: readonly EngineKind[] = ['compiled', 'xstate'];

/** The engine MIP4_ENGINE asks for ('compiled' when unset); any other value is an error, not a guess. */
export function engineKindFromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): EngineKind {
  const value = env[ENGINE_VARIABLE];
  if (value === undefined || value === '') return 'compiled';
  if ((ENGINE_KINDS as readonly string[]).includes(value)) return value as EngineKind;
  throw new Error(`${ENGINE_VARIABLE}=${value}: expected ${ENGINE_KINDS.map((k) => `'${k}'`).join(' or ')}`);
}

/** A machine outside the compiled subset, met where the compiled engine was asked for. */
export class MachineNotCompiledError extends Error {
  constructor(
    readonly machineId: string,
    readonly unsupported: string,
  ) {
    super(
      `machine '${machineId}' cannot be compiled: ${unsupported}. Keep the machine in the subset of ` +
        `runtime/actors/README.md, extend runtime/actors/machine-compiler.ts, or run it on xstate ` +
        `(engine: 'xstate', or ${ENGINE_VARIABLE}=xstate)`,
    );
    this.name = 'MachineNotCompiledError';
  }
}

/** The step engine of `kind` for `machine`; throws MachineNotCompiledError rather than fall back. */
export function engineFor<TMachine extends AnyStateMachine>(machine: TMachine, kind: EngineKind = engineKindFromEnvironment()): EngineFor<TMachine> {
  if (kind === 'xstate') return xstateEngine(machine);
  const compiled = compileMachine(machine);
  if (isUnsupported(compiled)) throw new MachineNotCompiledError(machine.id, compiled.unsupported);
  return compiled;
}
