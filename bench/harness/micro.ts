/**
 * What the plane micro-benchmarks (bench/data-plane.ts, bench/fa-udp-tunnel.ts) share: rates and
 * same-repetition ratios collected per key, printed as min / median / max, or as JSON with
 * `--json` (bench/parts/profile.ts reads that).
 */
import { spread } from './report.js';

export class MicroFigures {
  readonly rates = new Map<string, number[]>();
  readonly ratios = new Map<string, number[]>();

  rate(key: string, packetsPerSecond: number): void {
    add(this.rates, key, packetsPerSecond);
  }

  ratio(key: string, value: number): void {
    add(this.ratios, key, value);
  }

  /** Prints the figures under `title` (or JSON when the command line has --json). */
  print(title: string): void {
    const triple = (values: readonly number[]): [number, number, number] => {
      const { min, median, max } = spread(values);
      return [min, median, max];
    };
    if (process.argv.includes('--json')) {
      const json = (map: Map<string, number[]>) => Object.fromEntries([...map].map(([key, values]) => [key, triple(values)]));
      console.log(JSON.stringify({ rates: json(this.rates), ratios: json(this.ratios) }));
      return;
    }
    const rate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`);
    console.log(title);
    console.log('packets/s (min / median / max):');
    for (const [key, values] of this.rates) console.log(`  ${key.padEnd(18)} ${triple(values).map(rate).join(' / ')}`);
    console.log('ratios, same repetition (min / median / max):');
    for (const [key, values] of this.ratios) console.log(`  ${key.padEnd(24)} ${triple(values).map((n) => n.toFixed(3)).join(' / ')}`);
  }
}

function add(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
