/**
 * Registrations through real sockets on loopback: the `mip4 ha` daemon (a child process, as
 * a user runs it) against a bare node:dgram server that only decodes, verifies the HMAC-MD5
 * (node:crypto) and sends a signed Reply, in the same run, driven by this process as a
 * closed-loop client (W requests in flight). Reports replies/s, latency percentiles, losses,
 * bad replies, and the CPU of each side (so a client-bound run shows as one).
 *
 * Each request is for the next of N configured mobile nodes, with a fresh timestamp
 * Identification (5.7.1), so every one is a real renewal (or a first registration) at the
 * home agent. Loopback only: 127.0.0.1 on ports the system picks; the care-of address inside
 * the messages is TEST-NET (203.0.113.1) and no packet is sent to it.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/ha-udp.js [seconds per run] [repetitions] [in flight] [nodes]
 * (a C load generator, `npm run bench`, is the reference client; this one is for everyday use.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, ipv4ToString, readU32, toHex } from '../io/wire/bytes.js';
import { identificationFromUnixMs } from '../io/wire/identification.js';
import { decodeRegistrationRequest, encodeRegistrationMessage, registrationMessageLength } from '../io/wire/registration.js';
import { authenticatedLength } from '../policies/auth.js';
import { authPlaceholder, encodeSigned } from '../runtime/sign.js';

const KEY = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
const SPI = 4096;
const HA = 0x7f000001; // 127.0.0.1
const HOME_NETWORK = 0x7f000000; // 127.0.0.0/8: home addresses 127.1.x.y, inside the messages only
const COA = 0xcb007101; // 203.0.113.1 (TEST-NET-3)
const homeAddress = (i: number) => (0x7f010000 + i) >>> 0;
const context = { spi: SPI, algorithm: 'hmac-md5' as const, key: KEY, replay: 'timestamp' as const, replayWindowSeconds: 7 };

// ---------------------------------------------------------------------------------------------
// The baseline: decode, verify, reply; nothing else (no replay state, no bindings).

function baselineServer(): void {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    const data = new Uint8Array(message.buffer, message.byteOffset, message.length);
    const decoded = decodeRegistrationRequest(data, 0, data.length);
    if (!decoded.ok) return;
    const request = decoded.value;
    const auth = request.extensions.find((e) => e.kind === 'auth' && e.type === 32);
    if (auth === undefined || auth.kind !== 'auth') return;
    const end = authenticatedLength(auth.offset);
    const expected = createHmac('md5', KEY).update(data.subarray(0, end)).digest();
    if (auth.authenticator.length !== 16 || !timingSafeEqual(expected, auth.authenticator)) return;
    const reply = {
      type: 3 as const,
      code: 0,
      lifetime: request.lifetime,
      homeAddress: request.homeAddress,
      homeAgent: request.homeAgent,
      identification: request.identification,
      extensions: [authPlaceholder(32, SPI)],
    };
    const bytes = new Uint8Array(registrationMessageLength(reply));
    encodeRegistrationMessage(reply, bytes, 0);
    const sealedAt = bytes.length - 16;
    bytes.set(createHmac('md5', KEY).update(bytes.subarray(0, sealedAt)).digest(), sealedAt);
    socket.send(bytes, remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ event: 'listening', endpoints: [`127.0.0.1:${socket.address().port}`] })}\n`);
  });
  process.on('SIGTERM', () => socket.close());
}

// ---------------------------------------------------------------------------------------------
// The client.

interface RunResult {
  replies: number;
  perSecond: number;
  p50: number;
  p99: number;
  p999: number;
  lost: number;
  bad: number;
  clientCpu: number;
  serverCpu: number;
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/**
 * Starts a server whose stdout goes to a file (as a daemon's log would), and waits for its
 * `listening` line. A pipe read by this busy client would throttle the daemon's log writes.
 */
async function startServer(args: string[], logPath: string): Promise<{ child: ChildProcess; port: number }> {
  const log = openSync(logPath, 'w');
  // MIP4_BENCH_SERVER_FLAGS: Node flags for the servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const flags = (process.env.MIP4_BENCH_SERVER_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const child = spawn(process.execPath, [...flags, ...args], { stdio: ['ignore', log, 'inherit'] });
  closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let waited = 0; waited < 30_000; waited += 20) {
    const match = /"endpoints":\["127\.0\.0\.1:(\d+)"/.exec(readFileSync(logPath, 'utf8').slice(0, 4096));
    if (match) return { child, port: Number(match[1]) };
    if (exited) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start: ${readFileSync(logPath, 'utf8').slice(0, 2000)}`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function request(node: number, low: number): Uint8Array {
  return encodeSigned(
    {
      type: 1,
      flags: 0,
      lifetime: 1800,
      homeAddress: homeAddress(node),
      homeAgent: HA,
      careOfAddress: COA,
      identification: identificationFromUnixMs(Date.now(), low),
      extensions: [authPlaceholder(32, SPI)],
    },
    () => context,
  );
}

async function drive(port: number, serverPid: number, seconds: number, inFlight: number, nodes: number, low: { next: number }): Promise<RunResult> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const sentAt = new Float64Array(inFlight);
  const nodeOfSlot = new Int32Array(inFlight).fill(-1);
  const latencies: number[] = [];
  let nextNode = 0;
  let replies = 0;
  let bad = 0;
  let lost = 0;
  let measuring = false;
  let stopped = false;
  const send = (slot: number) => {
    if (stopped) return;
    // Slot s always carries nodes ≡ s (mod W): a reply's home address names its slot.
    let node = nextNode + slot;
    if (node >= nodes) node = slot;
    nodeOfSlot[slot] = node;
    sentAt[slot] = performance.now();
    socket.send(request(node, low.next++ & 0xffffffff), port, '127.0.0.1');
  };
  socket.on('message', (message) => {
    const node = (readU32(message, 4) - 0x7f010000) | 0;
    const slot = node % inFlight;
    if (node < 0 || nodeOfSlot[slot] !== node) return; // a late reply to a request counted lost
    if (message[1] !== 0) bad++;
    if (measuring) {
      replies++;
      latencies.push(performance.now() - sentAt[slot]!);
    }
    nodeOfSlot[slot] = -1;
    if (slot === inFlight - 1) nextNode = (nextNode + inFlight) % (nodes - (nodes % inFlight) || inFlight);
    send(slot);
  });
  // A request without a reply for 250 ms is lost: count it and send the next one.
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (let s = 0; s < inFlight; s++) {
      if (nodeOfSlot[s] !== -1 && now - sentAt[s]! > 250) {
        if (measuring) lost++;
        send(s);
      }
    }
  }, 50);
  for (let s = 0; s < inFlight; s++) send(s);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  measuring = true;
  const clientBefore = process.cpuUsage();
  const serverBefore = processCpuSeconds(serverPid);
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - start) / 1000;
  measuring = false;
  const client = process.cpuUsage(clientBefore);
  const serverCpu = processCpuSeconds(serverPid) - serverBefore;
  stopped = true;
  clearInterval(watchdog);
  socket.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
  return {
    replies,
    perSecond: replies / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    p999: q(0.999),
    lost,
    bad,
    clientCpu: (client.user + client.system) / 1e6 / elapsed,
    serverCpu: serverCpu / elapsed,
  };
}

function haConfig(nodes: number): string {
  const lines = [
    'homeAgent:',
    `  address: ${ipv4ToString(HA)}`,
    `  homeNetwork: ${ipv4ToString(HOME_NETWORK)}/8`,
    '  listen: [127.0.0.1:0]',
    '  simultaneousBindings: true',
    '  broadcast: false',
    '  encapsulations: [ip-in-ip]',
    '  reverseTunneling: false',
    '  maxLifetime: 1800',
    'limits:',
    `  maxBindings: ${nodes}`,
    '  maxBindingsPerNode: 1',
    'mobileNodes:',
  ];
  for (let i = 0; i < nodes; i++) {
    lines.push(`  - { homeAddress: ${ipv4ToString(homeAddress(i))}, spi: ${SPI}, key: ${toHex(KEY)}, maxBindings: 1 }`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const repetitions = Number(process.argv[3] ?? 3);
  const inFlight = Number(process.argv[4] ?? 32);
  const nodes = Number(process.argv[5] ?? 10_000);
  const self = fileURLToPath(import.meta.url);
  const mip4 = join(self, '..', '..', '..', 'bin', 'mip4.js');
  const dir = mkdtempSync(join(tmpdir(), 'mip4-bench-'));
  const configPath = join(dir, 'ha.yaml');
  writeFileSync(configPath, haConfig(nodes));
  const low = { next: 1 };
  const results: Record<string, RunResult[]> = { mip4: [], baseline: [] };
  const ratios: number[] = [];
  try {
    for (let r = 0; r < repetitions; r++) {
      const order = r % 2 === 0 ? (['mip4', 'baseline'] as const) : (['baseline', 'mip4'] as const);
      const run: Partial<Record<'mip4' | 'baseline', RunResult>> = {};
      for (const which of order) {
        const args = which === 'mip4' ? [mip4, 'ha', '--config', configPath] : [self, '--baseline-server'];
        const server = await startServer(args, join(dir, `${which}.log`));
        try {
          run[which] = await drive(server.port, server.child.pid!, seconds, inFlight, nodes, low);
        } finally {
          await stopServer(server.child);
        }
        results[which]!.push(run[which]!);
      }
      ratios.push(run.mip4!.perSecond / run.baseline!.perSecond);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const spread = (values: number[]) => {
    const s = [...values].sort((a, b) => a - b);
    return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
  };
  const fmt = (x: { min: number; median: number; max: number }, digits = 0) =>
    `${x.min.toFixed(digits)} / ${x.median.toFixed(digits)} / ${x.max.toFixed(digits)}`;
  console.log(`registrations over loopback UDP: ${repetitions} × ${seconds} s, ${inFlight} in flight, ${nodes} mobile nodes (min / median / max)`);
  for (const which of ['mip4', 'baseline'] as const) {
    const rs = results[which]!;
    console.log(`  ${which.padEnd(9)} replies/s ${fmt(spread(rs.map((x) => x.perSecond)))}`);
    console.log(`  ${''.padEnd(9)} latency ms p50 ${fmt(spread(rs.map((x) => x.p50)), 2)}, p99 ${fmt(spread(rs.map((x) => x.p99)), 2)}, p99.9 ${fmt(spread(rs.map((x) => x.p999)), 2)}`);
    console.log(`  ${''.padEnd(9)} lost ${rs.map((x) => x.lost).join(', ')}; bad replies ${rs.map((x) => x.bad).join(', ')}; CPU server ${fmt(spread(rs.map((x) => x.serverCpu * 100)))} %, client ${fmt(spread(rs.map((x) => x.clientCpu * 100)))} %`);
  }
  console.log(`  mip4 / baseline, same repetition: ${fmt(spread(ratios), 3)}`);
}

if (process.argv[2] === '--baseline-server') baselineServer();
else await main();
