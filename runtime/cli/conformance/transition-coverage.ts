/**
 * Which transitions of mip4's own machines the agent cases drove, for the report's coverage:
 * the transitions come from the machines themselves (runtime/inspector/machine-chart.ts, the
 * same list `mip4 chart` draws), so a transition added to a machine shows up as uncovered.
 */
import type { AnyStateMachine } from 'xstate';
import { machineChart } from '../../inspector/machine-chart.js';

/** A transition as a case names it: machine id, source state (without the machine prefix), event, guard. */
export interface TransitionRef {
  readonly machine: string;
  readonly source: string;
  readonly event: string;
  readonly guard?: string;
}

export class TransitionCoverage {
  private readonly all: ReadonlyArray<{ readonly machine: string; readonly source: string; readonly event: string; readonly guard?: string; readonly label: string }>;
  private readonly covered = new Set<string>();

  constructor(machines: readonly AnyStateMachine[]) {
    this.all = machines.flatMap((machine) =>
      machineChart(machine).transitions.map((tr) => ({
        machine: machine.id,
        source: tr.source,
        event: tr.event,
        ...(tr.guard !== undefined ? { guard: tr.guard } : {}),
        label: `${machine.id}: ${tr.source} → ${tr.target ?? '(stays)'} on ${tr.event}${tr.guard !== undefined ? ` [${tr.guard}]` : ''}`,
      })),
    );
  }

  /** Marks the transitions a case drove (a reference matching none is a bug in the case: thrown). */
  cover(refs: readonly TransitionRef[]): void {
    for (const ref of refs) {
      const found = this.all.filter((tr) => tr.machine === ref.machine && tr.source === `${ref.machine}.${ref.source}` && tr.event === ref.event && tr.guard === ref.guard);
      if (found.length === 0) throw new Error(`no transition ${ref.machine}.${ref.source} on ${ref.event}${ref.guard !== undefined ? ` [${ref.guard}]` : ''}`);
      for (const tr of found) this.covered.add(tr.label);
    }
  }

  result(): { readonly covered: readonly string[]; readonly total: number } {
    return { covered: [...this.covered].sort(), total: this.all.length };
  }
}
