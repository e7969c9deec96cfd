/**
 * A child process for test/linux/link-events.test.ts, run inside a network namespace (a Node
 * process cannot move itself into one): watches one interface through io/linux/link-events.ts
 * and reports every event as a JSON line. Exits on its own within DEADLINE_MS.
 *
 *   watch IFNAME                 every event; "exit" on stdin ends it
 *   overrun IFNAME COUNT         a tiny receive buffer, then COUNT addresses added and half of
 *                                them removed while the event loop is blocked (ip -batch run
 *                                synchronously): the kernel drops notifications, the fresh dump
 *                                must still give the right state
 */
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Effect } from 'effect';
import { LinkEvents, type InterfaceEvent } from '../../io/link-events.js';
import { linuxLinkEventsLayer } from '../../io/linux/link-events.js';
import { ipv4ToString } from '../../io/wire/bytes.js';

const DEADLINE_MS = 15_000;

function report(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function json(event: InterfaceEvent): Record<string, unknown> {
  switch (event.kind) {
    case 'address':
      return { ...event, address: ipv4ToString(event.address) };
    case 'default-route':
      return { ...event, gateway: ipv4ToString(event.gateway) };
    default:
      return { ...event };
  }
}

const [mode, interfaceName, countText] = process.argv.slice(2);
const deadline = setTimeout(() => {
  report('timeout');
  process.exit(2);
}, DEADLINE_MS);

let overruns = 0;
const layer = linuxLinkEventsLayer({ ...(mode === 'overrun' ? { receiveBuffer: 4096 } : {}), onOverrun: () => overruns++ });

const program = Effect.scoped(
  Effect.gen(function* () {
    let ready = false;
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const watch = yield* (yield* LinkEvents).watch(
      interfaceName!,
      (event) => {
        report('link-event', json(event));
        if (!ready && event.kind === 'link') {
          ready = true;
          // The addresses of the dump come after the link; report ready once the loop turns.
          setTimeout(() => report('ready'), 50);
        }
      },
      (error) => report('error', { message: error.message }),
    );
    if (mode === 'watch') {
      createInterface({ input: process.stdin }).on('line', (line) => {
        if (line === 'exit') finish();
        if (line === 'state') report('state', { state: watch.state() });
      });
    } else {
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)));
      const count = Number(countText);
      const add = Array.from({ length: count }, (_, i) => `addr add 198.51.100.${i + 1}/32 dev ${interfaceName}`);
      const remove = add.filter((_, i) => i % 2 === 0).map((line) => line.replace('addr add', 'addr del'));
      execFileSync('ip', ['-batch', '-'], { input: [...add, ...remove].join('\n') + '\n' });
      // Let the fresh dump arrive and be read.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1000)));
      const state = watch.state();
      report('settled', { overruns, addresses: state?.addresses.map((a) => ipv4ToString(a.address)).sort() ?? [] });
      finish();
    }
    yield* Effect.promise(() => finished);
  }),
).pipe(
  Effect.provide(layer),
  Effect.catchAll((error) => Effect.sync(() => report('error', { message: error.message }))),
);
void Effect.runPromise(program).then(() => {
  clearTimeout(deadline);
  report('done');
  process.exit(0);
});
