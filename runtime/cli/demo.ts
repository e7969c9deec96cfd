/** `mip4 demo`: the roaming demo (runtime/cli/roaming-demo.ts) on the simulated network; `npm start` runs it. */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { runDemo, type DemoOptions } from './roaming-demo.js';
import { DemoPace, DEMO_SPEEDS, type DemoSpeed } from '../inspector/demo-pace.js';
import type { RunningInspector } from '../inspector/inspector-server.js';
import { INSPECT_OPTIONS, INSPECT_OPTIONS_USAGE, inspectListen, startDaemonInspector } from './inspect-option.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const usage = `usage: mip4 demo [--seed <n>] [--pcap <prefix>] [--json] [--no-reverse-tunnel] [--inspect ADDR:PORT [--speed 0|1|10]]

Runs a mobile node roaming on a simulated network, in simulated time (50 s, done in about a
second): at home, through foreign agent FA1, through FA2, with a co-located care-of address on
FA2's link (registering directly), and home again (deregistration). A correspondent pings the
home address every 100 ms throughout, and the node sends the correspondent a datagram from its
home address every 100 ms. The router between the segments filters ingress (BCP 38): away from
home the node's datagrams pass only through a reverse tunnel to its home agent (RFC 3024), which
the node asks for and the agents grant. Prints a timeline (registrations, relays, replies, first
packet delivered after each move) and a summary per phase, down (to the node) and up (from it):
packets delivered and lost, and the handoff time (link change to first packet delivered at the
new place). Everything is seeded: the same seed gives the same output and captures, byte for
byte.

options:
  --seed <n>           seed of the simulation (a non-negative integer, default 1)
  --pcap <prefix>      also write one pcap per segment: <prefix>-home.pcap, -foreign-1,
                       -foreign-2, -correspondent (Ethernet, simulated timestamps)
  --json               print {seed, lines, phases, finalBindings, ingressFiltered} as JSON
                       instead of the text
  --no-reverse-tunnel  the node asks for no reverse tunnel: its datagrams away from home die
                       at the router's ingress filter (counted in the summary)
${INSPECT_OPTIONS_USAGE}
                       With --inspect the simulated clock runs at a chosen speed (the page
                       has pause, step, 1x and 10x) and the demo waits for Ctrl-C at the end.
  --speed <s>          with --inspect, the speed to start at: 0 (paused), 1 (default) or 10
  -h, --help           this text

exit status: 0 every phase delivered packets (both ways, unless --no-reverse-tunnel) and the
binding is gone at the end, 1 otherwise, 2 usage error`;

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      options: {
        seed: { type: 'string' },
        pcap: { type: 'string' },
        json: { type: 'boolean' },
        'no-reverse-tunnel': { type: 'boolean' },
        ...INSPECT_OPTIONS,
        speed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  let seed = 1;
  if (values.seed !== undefined) {
    if (!/^\d+$/.test(values.seed) || Number(values.seed) > 0xffff_ffff) throw new UsageError(`--seed wants an integer from 0 to 4294967295, not '${values.seed}'`);
    seed = Number(values.seed);
  }
  const inspectAt = inspectListen(values);
  let speed: DemoSpeed = 1;
  if (values.speed !== undefined) {
    if (inspectAt === undefined) throw new UsageError('--speed goes with --inspect (without it the demo runs as fast as it can)');
    if (!DEMO_SPEEDS.map(String).includes(values.speed)) throw new UsageError(`--speed wants 0 (paused), 1 or 10, not '${values.speed}'`);
    speed = Number(values.speed) as DemoSpeed;
  }
  const demoOptions: DemoOptions = { seed, reverseTunnel: values['no-reverse-tunnel'] !== true };
  let inspector: RunningInspector | undefined;
  let failed = false;
  const pace = new DemoPace(speed);
  const result = await runDemo(
    inspectAt === undefined
      ? demoOptions
      : {
          ...demoOptions,
          pace: (ms) => pace.tick(ms),
          onRunning: async (running) => {
            const started = await startDaemonInspector('demo', inspectAt, values['inspect-public'] === true, running.sources, io, { pace, view: running.view });
            if (started === 'failed' || started === undefined) {
              failed = true;
              pace.stop();
              return;
            }
            inspector = started;
            io.err(`inspector at ${started.url} (the demo runs at ${speed === 0 ? 'pause' : `${speed}x`}; Ctrl-C ends it)`);
          },
          beforeStop: async () => {
            if (inspector === undefined) return;
            io.err('the demo is over; the inspector stays up until Ctrl-C');
            await untilSignal();
            await inspector.close();
          },
        },
  );
  if (failed) return ExitCode.Failure;
  if (values.json) {
    io.out(
      JSON.stringify({ seed: result.seed, lines: result.lines, phases: result.phases, finalBindings: result.finalBindings, ingressFiltered: result.ingressFiltered }, null, 2),
    );
  } else {
    for (const line of result.lines) io.out(line);
  }
  if (values.pcap !== undefined) {
    for (const [segment, pcap] of result.captures) {
      const path = `${values.pcap}-${segment}.pcap`;
      await writeFile(path, pcap);
      io.err(`wrote ${path}`);
    }
  }
  const ok = result.phases.every((p) => p.delivered > 0 && (!result.reverseTunnel || p.upstreamDelivered > 0)) && result.finalBindings === 0;
  return ok ? ExitCode.Ok : ExitCode.Failure;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

export const demoCommand: Subcommand = {
  name: 'demo',
  usage,
  run,
};
