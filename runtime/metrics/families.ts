/**
 * Small builders over prom-client for metrics read at scrape time. The agents already count
 * everything in plain objects on their hot paths; a family here only copies those numbers in
 * its collect() callback, so a registration costs nothing more for being exported.
 */
import { Counter, Gauge, type Registry, type RegistryContentType } from 'prom-client';

/** A registry of either exposition format. */
export type AnyRegistry = Registry<RegistryContentType>;

export type Labels = Readonly<Record<string, string>>;

/** A counter whose value is read from the agent at every scrape. */
export function counterOf(registry: AnyRegistry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * A labelled counter read at every scrape: `read` yields each label set with its value. The
 * agents' counters only grow, so a label set once seen keeps growing from scrape to scrape.
 */
export function labelledCounterOf(registry: AnyRegistry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<readonly [Labels, number]>): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge read at every scrape. */
export function gaugeOf(registry: AnyRegistry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A labelled gauge read at every scrape. */
export function labelledGaugeOf(registry: AnyRegistry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<readonly [Labels, number]>): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** The entries of a `Record<key, count>` counter table as label sets of one label. */
export function* byKey(table: Readonly<Record<string | number, number | undefined>>, label: string): Iterable<readonly [Labels, number]> {
  for (const [key, value] of Object.entries(table)) if (value !== undefined) yield [{ [label]: key }, value];
}
