/**
 * What the metrics cost the registration path, in one process: renewal passes of N bindings
 * through the daemon's request handler (runtime/ha/home-agent-server.ts requestHandler)
 * without timing, and with the sampled processing-time histogram the `metrics` section adds
 * (RegistrationTimer, one histogram per exposition format), alternated per repetition and
 * measured in CPU time (the machine is shared: wall time would measure the neighbours).
 * Also the time of one scrape of each format at N bindings. Prints one JSON object.
 * Usage: node --expose-gc dist/bench/metrics-cost.js [N] [repetitions]
 */
import { SimulatedClock } from '../io/clock.js';
import { HomeAgent } from '../runtime/ha/home-agent.js';
import { COA, HA, homeAddressOf, populationConfig, signedRequest } from './ha-population.js';
import { requestHandler } from '../runtime/ha/home-agent-server.js';
import { buildRegistries, homeAgentMetrics, RegistrationTimer } from '../runtime/metrics/registry.js';

const N = Number(process.argv[2] ?? 50_000);
const REPETITIONS = Number(process.argv[3] ?? 5);
function requests(clock: SimulatedClock, pass: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    out.push(signedRequest(homeAddressOf(i), clock.now(), pass));
  }
  return out;
}

/** CPU microseconds per registration for one pass through `handle`. */
function pass(handle: ReturnType<typeof requestHandler>, prepared: Uint8Array[]): number {
  const before = process.cpuUsage();
  for (const data of prepared) handle({ data, source: COA, sourcePort: 434, destination: HA, destinationPort: 434 });
  const used = process.cpuUsage(before);
  return (used.user + used.system) / prepared.length;
}

async function main(): Promise<void> {
  const clock = new SimulatedClock();
  const agent = new HomeAgent(populationConfig(N), { clock, random32: () => 1 });
  let replies = 0;
  const send = () => void replies++;
  const timer = new RegistrationTimer();
  const registries = buildRegistries({ role: 'ha', version: 'bench', engine: 'compiled' }, homeAgentMetrics({ agent, timer }));
  const plain = requestHandler(agent, send);
  const timed = requestHandler(agent, send, timer);

  let round = 1;
  const next = () => {
    clock.advance(1000);
    return requests(clock, ++round);
  };
  pass(plain, requests(clock, round)); // creates the bindings; warms both paths' code
  pass(timed, next());
  const without: number[] = [];
  const withMetrics: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    // Alternate which goes first, so drift of the machine falls on both.
    const a = next();
    const b = next();
    let off: number;
    let on: number;
    if (r % 2 === 0) {
      off = pass(plain, a);
      on = pass(timed, b);
    } else {
      on = pass(timed, a);
      off = pass(plain, b);
    }
    without.push(off);
    withMetrics.push(on);
    ratios.push(off / on);
  }
  const scrapeMs = async (registry: typeof registries.prometheus) => {
    const start = performance.now();
    const text = await registry.metrics();
    return { ms: performance.now() - start, bytes: text.length };
  };
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  process.stdout.write(
    `${JSON.stringify({
      bindings: agent.bindingCount,
      replies,
      cpuMicrosecondsPerRegistration: { without: without.map((v) => +v.toFixed(2)), withMetrics: withMetrics.map((v) => +v.toFixed(2)) },
      // Registration rate with metrics ÷ without, by CPU time, per repetition (1 = no cost).
      rateRatio: { perRepetition: ratios.map((v) => +v.toFixed(3)), median: +median(ratios).toFixed(3) },
      scrape: { prometheus: await scrapeMs(registries.prometheus), openMetrics: await scrapeMs(registries.openMetrics) },
    })}\n`,
  );
  agent.close();
}

void main();
