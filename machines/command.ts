/**
 * Commands: what a machine asks its runtime to do. A command is a named action whose stub does
 * nothing in the machine; the actor host hands it, params resolved, to the runtime after the
 * step. Each machine exports the union of its commands and declares each stub's params from it
 * (CommandParams), so the machine and the runtime's handler read one type.
 */

/** One command: its action name and the params the machine resolves for it. */
export interface MachineCommand<TType extends string, TParams> {
  readonly type: TType;
  readonly params: TParams;
}

/** The params of the command named `TType` in the union `TCommand`. */
export type CommandParams<TCommand extends MachineCommand<string, unknown>, TType extends TCommand['type']> = Extract<TCommand, { type: TType }>['params'];
