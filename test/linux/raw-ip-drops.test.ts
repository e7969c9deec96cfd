/**
 * A raw socket's receive queue (io/linux/raw-ip.ts): a burst that arrives while the event loop
 * is busy waits in the kernel's queue. The default queue (DEFAULT_RAW_RECEIVE_BUFFER_BYTES,
 * forced past net.core.rmem_max as root) holds a burst that the kernel's 208 KiB default
 * could not; what a queue too small drops is counted by the kernel and read back exactly
 * (receiveQueueDrops). Loopback only, protocol 253 (RFC 3692: for experiments).
 */
import { describe, expect, it } from 'vitest';
import { Effect } from 'effect';
import { RawIp, type RawIpOpenOptions, type RawIpSocket } from '../../io/raw-ip.js';
import { DEFAULT_RAW_RECEIVE_BUFFER_BYTES, LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { loadNative } from '../../io/linux/native.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { linuxSkipReason, titled } from './netns.js';

const skip = linuxSkipReason();
const EXPERIMENT_PROTOCOL = 253;
const LOOPBACK = ipv4('127.0.0.1');
/** One burst: more than the kernel's default queue holds at this size (about 90 of 1,400 bytes). */
const BURST = 600;
const PAYLOAD_BYTES = 1400;

/**
 * Sends BURST datagrams to loopback without yielding (the receiver cannot read meanwhile), then
 * gives the reader time to drain. Returns what arrived and what the kernel says it dropped.
 */
async function burst(options: RawIpOpenOptions): Promise<{ sent: number; received: number; drops: number }> {
  const program = Effect.scoped(
    Effect.gen(function* () {
      const raw = yield* RawIp;
      const receiver: RawIpSocket = yield* raw.open(EXPERIMENT_PROTOCOL, options);
      const sender: RawIpSocket = yield* raw.open(EXPERIMENT_PROTOCOL, { receiveBufferBytes: 4096 });
      let received = 0;
      receiver.onPackets((batch) => {
        for (let i = 0; i < batch.count; i++) if (batch.packet(i).length === 20 + PAYLOAD_BYTES) received++;
      });
      const payload = new Uint8Array(PAYLOAD_BYTES);
      let sent = 0;
      for (let i = 0; i < BURST; i++) {
        payload[0] = i & 0xff;
        if (sender.send(payload, LOOPBACK)) sent++;
      }
      // Bounded: the reader drains until everything not dropped has arrived (or 5 s pass).
      for (let waited = 0; waited < 5_000; waited += 20) {
        const drops = receiver.receiveQueueDrops?.() ?? 0;
        if (received + drops >= sent) break;
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)));
      }
      return { sent, received, drops: receiver.receiveQueueDrops?.() ?? -1 };
    }),
  ).pipe(Effect.provide(LinuxRawIpLive));
  return Effect.runPromise(program);
}

describe('io/linux RawIp receive queue', () => {
  it.skipIf(skip !== undefined)(titled('a burst the kernel default queue overflows arrives whole with the default buffer, 0 drops counted', skip), async () => {
    const { sent, received, drops } = await burst({});
    expect(sent).toBe(BURST);
    expect(drops).toBe(0);
    expect(received).toBe(BURST);
  });

  it.skipIf(skip !== undefined)(titled('with a queue too small for the burst, each datagram lost is counted: received + drops = sent', skip), async () => {
    const { sent, received, drops } = await burst({ receiveBufferBytes: 64 * 1024 });
    expect(sent).toBe(BURST);
    expect(drops).toBeGreaterThan(0);
    expect(received + drops).toBe(sent);
  });

  it.skipIf(skip !== undefined)(titled('the default queue is forced past net.core.rmem_max as root (the kernel reports twice the size)', skip), () => {
    const native = loadNative();
    const fd = native.openRawIp(EXPERIMENT_PROTOCOL);
    try {
      const sizes = native.setSocketBuffers(fd, DEFAULT_RAW_RECEIVE_BUFFER_BYTES, 0);
      expect(sizes.forced).toBe(true);
      expect(sizes.receive).toBe(2 * DEFAULT_RAW_RECEIVE_BUFFER_BYTES);
      expect(native.socketDrops(fd)).toBe(0);
    } finally {
      native.close(fd);
    }
  });
});
