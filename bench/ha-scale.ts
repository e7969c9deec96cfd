/**
 * Home agent scale probe: how the runtime's shape (actor host + one timer queue) holds up
 * with many bindings. Measures, in one process:
 * - heap per binding and creation rate, registering N mobile nodes through HomeAgent
 *   (decode, policies, HMAC-MD5 verify, binding actor, reply with HMAC-MD5);
 * - renewal rate (same path, later timestamps);
 * - bare actor-host figures without the protocol work;
 * - expiry lateness on the real clock for a short lifetime.
 * Prints one JSON object. Usage: node --expose-gc dist/bench/ha-scale.js [N]
 * (`npm run bench` runs it once per repetition in a fresh process, part 2).
 */
import { bindingMachine } from '../machines/binding.js';
import { ActorHost } from '../runtime/actors/actor-host.js';
import { RealClock, SimulatedClock } from '../io/clock.js';
import { HomeAgent } from '../runtime/ha/home-agent.js';
import { COA, HA, homeAddressOf, populationConfig, signedRequest } from './ha-population.js';

const N = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
const heap = () => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};

function registrationPass(agent: HomeAgent, clock: SimulatedClock, n: number, pass: number): { perSecond: number; replies: number } {
  // Requests are prepared outside the timed loop: this measures the home agent, not the client.
  const requests: Uint8Array[] = [];
  for (let i = 0; i < n; i++) requests.push(signedRequest(homeAddressOf(i), clock.now(), pass));
  let replies = 0;
  const send = () => void replies++;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    agent.handleRequest({ data: requests[i]!, source: COA, sourcePort: 434, destination: HA, destinationPort: 434 }, send);
  }
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: n / seconds, replies };
}

/** 1. Whole registrations through the agent; the agent is garbage once this returns. */
function registrations(): Record<string, number> {
  const baseHeap = heap();
  const baseRss = process.memoryUsage().rss;
  const clock = new SimulatedClock();
  const agent = new HomeAgent(populationConfig(N), { clock, random32: () => 1 });
  const configHeap = heap();
  const configRss = process.memoryUsage().rss;
  const create = registrationPass(agent, clock, N, 1);
  const boundHeap = heap();
  const boundRss = process.memoryUsage().rss;
  clock.advance(1000);
  const renew = registrationPass(agent, clock, N, 2);
  const figures = {
    configBytesPerNode: Math.round((configHeap - baseHeap) / N),
    bindingBytes: Math.round((boundHeap - configHeap) / N),
    // RSS also holds the requests prepared for the pass and whatever the heap has not returned.
    configRssBytesPerNode: Math.round((configRss - baseRss) / N),
    bindingRssBytes: Math.round((boundRss - configRss) / N),
    createdPerSecond: Math.round(create.perSecond),
    renewedPerSecond: Math.round(renew.perSecond),
    bindings: agent.bindingCount,
    replies: create.replies + renew.replies,
  };
  agent.close();
  return figures;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { n: N, node: process.version };
  results.registration = registrations();

  // 2. The bare actor host: binding actors without the protocol around them.
  const hostClock = new SimulatedClock();
  const host = new ActorHost(bindingMachine, { clock: hostClock });
  const before = heap();
  const actors = [];
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    actors.push(
      host.spawn(String(i), {
        homeAddress: i,
        careOfAddress: COA,
        lifetime: 600,
        identification: { high: 1, low: i },
        encapsulation: 'ip-in-ip',
        broadcast: false,
        decapsulatedByMobileNode: false,
        reverseTunnel: false,
        at: hostClock.now(),
      }),
    );
  }
  const spawnSeconds = (performance.now() - t) / 1000;
  const after = heap();
  t = performance.now();
  for (let i = 0; i < N; i++) {
    host.send(actors[i]!, {
      type: 'register',
      careOfAddress: COA,
      lifetime: 600,
      identification: { high: 2, low: i },
      encapsulation: 'ip-in-ip',
      broadcast: false,
      decapsulatedByMobileNode: false,
      reverseTunnel: false,
      at: hostClock.now(),
    });
  }
  const eventSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  hostClock.advance(600_000);
  const expirySeconds = (performance.now() - t) / 1000;
  results.actorHost = {
    bytesPerActor: Math.round((after - before) / N),
    spawnedPerSecond: Math.round(N / spawnSeconds),
    eventsPerSecond: Math.round(N / eventSeconds),
    expiredPerSecond: Math.round(N / expirySeconds),
    left: host.size,
  };
  actors.length = 0;

  // 3. Expiry lateness on the real clock: 2,000 bindings with lifetimes spread over 1-2 s.
  const real = new RealClock();
  const lateness: number[] = [];
  const due = new Map<string, number>();
  const realHost = new ActorHost(bindingMachine, {
    clock: real,
    onTransition: (r) => {
      if (r.reason === 'lifetime-expired') lateness.push(real.now() - due.get(r.actor)!);
    },
  });
  const count = Math.min(2000, N);
  for (let i = 0; i < count; i++) {
    const lifetime = 1 + (i % 2);
    const at = real.now();
    due.set(String(i), at + lifetime * 1000);
    realHost.spawn(String(i), {
      homeAddress: i,
      careOfAddress: COA,
      lifetime,
      identification: { high: 1, low: i },
      encapsulation: 'ip-in-ip',
      broadcast: false,
      decapsulatedByMobileNode: false,
      reverseTunnel: false,
      at,
    });
  }
  await new Promise((r) => setTimeout(r, 2500));
  lateness.sort((a, b) => a - b);
  const q = (p: number) => Math.round(lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))]! * 10) / 10;
  results.expiryLatenessMs = { count: lateness.length, p50: q(0.5), p99: q(0.99), max: q(1) };
  realHost.close();

  console.log(JSON.stringify(results, null, 2));
}

await main();
