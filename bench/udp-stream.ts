/**
 * A stream of small sequenced, timestamped UDP datagrams, for the lab handoff measurement
 * (bench/parts/handoff-lab.ts): one end runs in the correspondent's namespace, the other in
 * the mobile node's, each under `ip netns exec`.
 *
 *   node dist/bench/udp-stream.js send --to ADDRESS --port P --interval-ms N
 *       one 16-byte datagram every N ms until SIGTERM: sequence number (u32), zero (u32), the
 *       send time (u64, ns); no catch-up bursts when a timer fires late, so the stream's real
 *       rate is what the timer gave. On SIGTERM prints {"sent":…,"sendErrors":…,"seconds":…}
 *       (sent: handed to the kernel; sendErrors: refused, e.g. no route while the node moves).
 *   node dist/bench/udp-stream.js receive --port P
 *       prints "listening", then one line per datagram: "sequence arrivalNs sentNs".
 *
 * Times are process.hrtime.bigint() (CLOCK_MONOTONIC), one clock for every process on the
 * host whatever its network namespace, so they compare with the harness's own instants.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const DATAGRAM_BYTES = 16;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { to: { type: 'string' }, port: { type: 'string' }, 'interval-ms': { type: 'string' } },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port ${values.port}: expected 1-65535`);

if (positionals[0] === 'send') {
  const to = values.to;
  const intervalMs = Number(values['interval-ms'] ?? 2);
  if (to === undefined) throw new Error('send needs --to ADDRESS');
  if (!(intervalMs >= 1)) throw new Error(`--interval-ms ${values['interval-ms']}: expected ≥ 1`);
  const socket = dgram.createSocket('udp4');
  const datagram = Buffer.alloc(DATAGRAM_BYTES);
  const started = process.hrtime.bigint();
  let sequence = 0;
  let sent = 0;
  let sendErrors = 0;
  const timer = setInterval(() => {
    datagram.writeUInt32BE(sequence++ >>> 0, 0);
    datagram.writeBigUInt64BE(process.hrtime.bigint(), 8);
    // No route or no neighbour while the node moves: counted, the stream goes on.
    socket.send(datagram, port, to, (error) => {
      if (error) sendErrors++;
      else sent++;
    });
  }, intervalMs);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // The last sends complete (their callbacks run) before the count is printed.
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ sent, sendErrors, seconds })}\n`);
      socket.close();
    }, 50);
  });
} else if (positionals[0] === 'receive') {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message) => {
    const arrived = process.hrtime.bigint();
    if (message.length !== DATAGRAM_BYTES) return;
    process.stdout.write(`${message.readUInt32BE(0)} ${arrived} ${message.readBigUInt64BE(8)}\n`);
  });
  socket.bind(port, '0.0.0.0', () => process.stdout.write('listening\n'));
  process.once('SIGTERM', () => socket.close());
} else {
  throw new Error('usage: udp-stream.js send --to ADDRESS --port P --interval-ms N | receive --port P');
}
