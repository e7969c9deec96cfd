/**
 * The lab handoff measurement's own parts (bench/parts/handoff-lab.ts, bench/udp-stream.ts):
 * which datagram is the first at the new place and how those lost across a move are counted,
 * and the datagram stream itself on loopback (sequence numbers from 0 without gaps, arrival
 * after sending, the sender's count). The lab run as a whole is `npm run bench -- --only 4`
 * (as root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { datagramsLost, firstDeliveredAfter } from '../../bench/parts/handoff-lab.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STREAM = `${ROOT}dist/bench/udp-stream.js`;
const skip = existsSync(STREAM) ? undefined : 'dist/ is not built (npm run build)';

describe('a move seen in the datagrams', () => {
  const ms = 1e6;
  /** Datagram i sent at i ms; `arrivals` maps a sequence number to its arrival (ms). */
  const received = (arrivals: Array<[number, number]>) => ({
    sequences: arrivals.map(([sequence]) => sequence),
    arrivedNs: arrivals.map(([, at]) => at * ms),
    sentNs: arrivals.map(([sequence]) => sequence * ms),
  });

  it('counts the sequence numbers missing between the last one sent before the link change and the last one delivered', () => {
    // 0-9 delivered at once, link down at 9.5 ms, 10-19 lost, 20-24 delivered from 30 ms on.
    const r = received([...Array.from({ length: 10 }, (_, i): [number, number] => [i, i]), [20, 30], [21, 31], [22, 32], [23, 33], [24, 34]]);
    expect(datagramsLost(r, 9.5 * ms, 40 * ms)).toBe(10);
    expect(firstDeliveredAfter(r, 9.5 * ms)).toBe(10);
  });

  it('a datagram sent before the link change but read after it came the old way: not the first at the new place, not lost', () => {
    // 9 sat in the receiver's socket until 12 ms (a busy machine); link down at 9.5 ms.
    const r = received([[7, 7], [8, 8], [9, 12], [15, 30], [16, 31]]);
    expect(firstDeliveredAfter(r, 9.5 * ms)).toBe(3);
    expect(datagramsLost(r, 9.5 * ms, 40 * ms)).toBe(5);
  });

  it('ignores what arrives after the end, counts one delivered out of order as delivered and a duplicate once', () => {
    const r = received([[0, 0], [1, 1], [2, 2], [5, 10], [3, 11], [5, 12], [6, 13], [4, 50]]);
    // Sent before the link change (2.5 ms): 0-2. By 20 ms: 5, 3, 5 again, 6; 4 comes too late.
    expect(datagramsLost(r, 2.5 * ms, 20 * ms)).toBe(1);
    expect(datagramsLost(r, 2.5 * ms, 60 * ms)).toBe(0);
  });

  it('is zero when nothing is missing; -1 for the first when nothing was sent after the link change', () => {
    expect(datagramsLost(received([[0, 0], [1, 1], [2, 2], [3, 3]]), 1.5 * ms, 5 * ms)).toBe(0);
    expect(firstDeliveredAfter(received([[0, 0], [1, 1]]), 2 * ms)).toBe(-1);
  });
});

describe('udp-stream on loopback', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });

  function start(args: string[]): { child: ChildProcess; output: () => string } {
    const child = spawn(process.execPath, [STREAM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    return { child, output: () => out };
  }

  const until = async (condition: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return condition();
  };

  it.skipIf(skip !== undefined)(
    `sends numbered, timestamped datagrams; the receiver reports each with its arrival${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const port = 20_000 + (process.pid % 20_000);
      const receiver = start(['receive', '--port', String(port)]);
      expect(await until(() => receiver.output().startsWith('listening\n'), 10_000)).toBe(true);
      const sender = start(['send', '--to', '127.0.0.1', '--port', String(port), '--interval-ms', '2']);
      expect(await until(() => receiver.output().split('\n').length > 30, 10_000)).toBe(true);
      const exited = new Promise<void>((resolve) => sender.child.once('exit', () => resolve()));
      sender.child.kill('SIGTERM');
      await exited;
      const summary = JSON.parse(sender.output().trim()) as { sent: number; sendErrors: number; seconds: number };
      // Let the last datagrams in flight arrive before reading the receiver's lines.
      await new Promise((r) => setTimeout(r, 200));
      const lines = receiver
        .output()
        .split('\n')
        .slice(1)
        .filter((l) => l.length > 0)
        .map((l) => l.split(' ').map(BigInt));
      expect(summary.sendErrors).toBe(0);
      expect(summary.sent).toBeGreaterThanOrEqual(lines.length);
      // Loopback loses nothing here: every sequence number from 0, in order.
      expect(lines.map(([sequence]) => Number(sequence))).toEqual(Array.from({ length: summary.sent }, (_, i) => i));
      for (const [, arrived, sent] of lines) expect(arrived! >= sent!).toBe(true);
    },
    30_000,
  );
});
