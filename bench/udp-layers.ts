/**
 * The same `mip4 ha` daemon on its two UDP layers, in one run: `--udp native` (batched
 * recvmmsg/sendmmsg, io/linux/udp.ts) against `--udp dgram` (node:dgram), both started once
 * on 127.0.0.1 with N mobile nodes registered, then per repetition closed loops with 1, 32 and
 * 256 requests in flight and an open loop at a fixed rate, the order of the two alternating.
 * Driven by the C load generator of part 1 (build/Release/reg_loadgen). Prints, per load, the
 * ratio native ÷ dgram of replies/s and of server CPU per reply, taken per repetition, as
 * min / median / max; the daemons' log files go to a temporary directory removed at the end.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/udp-layers.js [seconds per load] [repetitions] [open-loop rate]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, Server } from './harness/process.js';
import { load, loadArgs, writeHomeAgentConfig, type LoadResult } from './parts/registration.js';

const NODES = 2000;
const IN_FLIGHT = [1, 32, 256] as const;
const LAYERS = ['native', 'dgram'] as const;
type LayerName = (typeof LAYERS)[number];

const seconds = Number(process.argv[2] ?? 1);
const repetitions = Number(process.argv[3] ?? 5);
const rate = Number(process.argv[4] ?? 3000);

function spread(values: readonly number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!.toFixed(digits);
  return `${pick(0)} / ${pick(0.5)} / ${pick(1)}`;
}

const work = mkdtempSync(join(tmpdir(), 'mip4-udp-layers-'));
const servers = new Map<LayerName, { server: Server; port: number }>();
try {
  const config = join(work, 'ha.json');
  writeHomeAgentConfig(config, NODES);
  for (const layer of LAYERS) {
    const server = new Server(`mip4 ha --udp ${layer}`, process.execPath, [join(ROOT, 'bin/mip4.js'), 'ha', '--config', config, '--udp', layer], join(work, `${layer}.log`));
    servers.set(layer, { server, port: 0 });
    const listening = await server.waitForEvent('listening', 120_000);
    if (listening.udp !== layer) throw new Error(`asked for --udp ${layer}, the daemon runs on ${String(listening.udp)}`);
    const port = Number(String((listening.endpoints as string[])[0]).split(':').pop());
    servers.set(layer, { server, port });
    await load(server, loadArgs(port, NODES, { count: NODES }, 0)); // every node registered once
  }
  const loads = [...IN_FLIGHT.map((inFlight) => ({ label: `closed, ${inFlight} in flight`, spec: { inFlight } })), { label: `open, ${rate}/s`, spec: { rate } }];
  const results = new Map<string, Array<Record<LayerName, LoadResult>>>(loads.map((l) => [l.label, []]));
  for (let r = 0; r < repetitions; r++) {
    const order: LayerName[] = r % 2 === 0 ? ['native', 'dgram'] : ['dgram', 'native'];
    for (const { label, spec } of loads) {
      const pair: Partial<Record<LayerName, LoadResult>> = {};
      for (const layer of order) {
        const { server, port } = servers.get(layer)!;
        pair[layer] = await load(server, loadArgs(port, NODES, spec, seconds));
      }
      results.get(label)!.push(pair as Record<LayerName, LoadResult>);
    }
  }
  console.log(`mip4 ha, --udp native vs --udp dgram, ${NODES} nodes, ${repetitions} × ${seconds} s per load; min / median / max`);
  for (const [label, runs] of results) {
    const cpuPerReply = (l: LoadResult) => (l.serverCpu ?? 0) / Math.max(1, l.repliesPerSecond);
    console.log(
      [
        `${label}:`,
        `  replies/s native ${spread(runs.map((p) => p.native.repliesPerSecond), 0)}, dgram ${spread(runs.map((p) => p.dgram.repliesPerSecond), 0)}`,
        `  native ÷ dgram: replies/s ${spread(runs.map((p) => p.native.repliesPerSecond / Math.max(1, p.dgram.repliesPerSecond)))}, server CPU per reply ${spread(runs.map((p) => cpuPerReply(p.native) / cpuPerReply(p.dgram)))}`,
        `  p50 ms native ${spread(runs.map((p) => p.native.latencyUs.p50 / 1000))}, dgram ${spread(runs.map((p) => p.dgram.latencyUs.p50 / 1000))}; p99 ms native ${spread(runs.map((p) => p.native.latencyUs.p99 / 1000))}, dgram ${spread(runs.map((p) => p.dgram.latencyUs.p99 / 1000))}`,
        `  lost native ${runs.reduce((s, p) => s + p.native.lost, 0)}, dgram ${runs.reduce((s, p) => s + p.dgram.lost, 0)}; bad ${runs.reduce((s, p) => s + p.native.bad + p.dgram.bad, 0)}`,
      ].join('\n'),
    );
  }
} finally {
  for (const { server } of servers.values()) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
