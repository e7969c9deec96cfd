/**
 * UDP GSO (native/udp-gso.c sendUdpSegmented) against the plain batched writer (sendUdpBatch),
 * in one run, alternating: the sender's CPU per datagram and datagrams delivered per second for
 * runs of same-size datagrams to one destination, as the RFC 3519 tunnel sends a TCP stream's
 * segments (1,200-byte tunnel data messages) or small packets (64-byte inner packets: 76 bytes
 * of tunnel data message), to a receiver socket on loopback that a second process drains.
 *
 * On loopback the whole path runs in the sender's context (lo's transmit hands the datagram to
 * the receiving stack in the same softirq), so the CPU per datagram includes what the receiver's
 * kernel does; a GSO message is cut back into datagrams at the receiving socket
 * (udp_rcv_segment), as a receiver without UDP_GRO gets it.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/udp-gso.js [seconds per case] [repetitions]
 */
import dgram from 'node:dgram';
import { loadNative } from '../io/linux/native.js';

const seconds = Number(process.argv[2] ?? 1);
const repetitions = Number(process.argv[3] ?? 5);
const BATCH = 64;
const LOOPBACK = 0x7f000001;

const native = loadNative();

function spread(values: readonly number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!.toFixed(digits);
  return `${pick(0)} / ${pick(0.5)} / ${pick(1)}`;
}

async function receiver(): Promise<{ port: number; count: () => number; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.setRecvBufferSize(8 * 1024 * 1024);
  return { port: socket.address().port, count: () => received, close: () => socket.close() };
}

/** Sends batches of BATCH datagrams of `size` bytes for `seconds`; CPU µs per datagram sent and the count. */
async function run(segmented: boolean, size: number, port: number, delivered: () => number): Promise<{ cpuUsPerDatagram: number; sent: number; deliveredFraction: number }> {
  const before = delivered();
  const { fd } = native.openUdp(LOOPBACK, 0, { sendBufferBytes: 8 * 1024 * 1024 });
  const slab = new Uint8Array(BATCH * size);
  const offsets = Int32Array.from({ length: BATCH }, (_, i) => i * size);
  const lengths = new Int32Array(BATCH).fill(size);
  const addresses = new Uint32Array(BATCH).fill(LOOPBACK);
  const ports = new Int32Array(BATCH).fill(port);
  let sent = 0;
  const cpu = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      for (let k = 0; k < 16; k++) {
        const n = segmented
          ? native.sendUdpSegmented(fd, slab, offsets, lengths, addresses, ports, 0, BATCH)
          : native.sendUdpBatch(fd, slab, offsets, lengths, addresses, ports, 0, BATCH);
        if (n < 0) throw new Error(`send failed: errno ${-n}`);
        sent += n;
      }
      // Let the receiver (this process's event loop) drain now and then.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    native.close(fd);
  }
  const used = process.cpuUsage(cpu);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the receiver's last reads
  return { cpuUsPerDatagram: (used.user + used.system) / Math.max(1, sent), sent, deliveredFraction: (delivered() - before) / Math.max(1, sent) };
}

const sink = await receiver();
console.log(`udp-gso: ${seconds} s per case, ${repetitions} alternating repetitions, batches of ${BATCH} to 127.0.0.1; UDP_SEGMENT supported: ${(() => {
  const { fd } = native.openUdp(LOOPBACK, 0);
  try {
    return native.udpSegmentSupported(fd);
  } finally {
    native.close(fd);
  }
})()}`);
for (const size of [1200, 76]) {
  const cpuRatio: number[] = [];
  const plainCpu: number[] = [];
  const gsoCpu: number[] = [];
  const plainDelivered: number[] = [];
  const gsoDelivered: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const results: Record<string, number> = {};
    for (const segmented of order) {
      const result = await run(segmented, size, sink.port, sink.count);
      results[String(segmented)] = result.cpuUsPerDatagram;
      (segmented ? gsoDelivered : plainDelivered).push(result.deliveredFraction);
    }
    plainCpu.push(results.false!);
    gsoCpu.push(results.true!);
    cpuRatio.push(results.true! / results.false!);
  }
  console.log(`${size}-byte datagrams: CPU µs per datagram, batched ${spread(plainCpu)}, GSO ${spread(gsoCpu)}; GSO ÷ batched ${spread(cpuRatio)} (min / median / max); delivered to the receiver: batched ${spread(plainDelivered)}, GSO ${spread(gsoDelivered)} of those sent`);
}
sink.close();
