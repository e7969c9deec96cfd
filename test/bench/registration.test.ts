/**
 * Part 1's reply timeout (bench/parts/registration.ts): a closed loop with one request in
 * flight stalls for the whole timeout when a request is lost, so its timeout is at most a
 * fifth of the load. Checked through the C generator against the bare baseline behind a relay
 * on loopback that drops the first request: the repetition still reports the server's replies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runJson } from '../../bench/harness/process.js';
import { loadArgs, replyTimeoutMs } from '../../bench/parts/registration.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOADGEN = `${ROOT}build/Release/reg_loadgen`;
const BASELINE = `${ROOT}dist/bench/registration-baseline.js`;
const skip = !existsSync(LOADGEN) ? 'the load generator is not built (npm ci)' : !existsSync(BASELINE) ? 'dist/ is not built (npm run build)' : undefined;
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';

describe('part 1 reply timeout', () => {
  it('is a fifth of the load, at most 500 ms, with one request in flight; 500 ms with more', () => {
    expect(replyTimeoutMs(1, 0.5)).toBe(100);
    expect(replyTimeoutMs(1, 1)).toBe(200);
    expect(replyTimeoutMs(1, 3)).toBe(500);
    expect(replyTimeoutMs(32, 0.5)).toBe(500);
    expect(replyTimeoutMs(256, 3)).toBe(500);
  });

  it('is what the generator is told for each kind of load', () => {
    const timeoutOf = (args: string[]) => Number(args[args.indexOf('--timeout-ms') + 1]);
    expect(timeoutOf(loadArgs(1234, 10, { inFlight: 1 }, 0.5))).toBe(100);
    expect(timeoutOf(loadArgs(1234, 10, { inFlight: 256 }, 0.5))).toBe(500);
    expect(timeoutOf(loadArgs(1234, 10, { rate: 1000 }, 0.5))).toBe(500);
    expect(timeoutOf(loadArgs(1234, 10, { count: 10 }, 0))).toBe(500);
  });

  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it.skipIf(skip !== undefined)(
    `a lost first request costs a closed-1 quick load 100 ms, not the whole load${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const server: ChildProcess = spawn(process.execPath, [BASELINE, '--nodes', '10', '--home-base', '10.0.0.2', '--home-agent', '10.0.0.1', '--spi', '4096', '--key', KEY], { stdio: ['ignore', 'pipe', 'inherit'] });
      cleanup.push(() => server.kill('SIGKILL'));
      const serverPort = await new Promise<number>((resolve, reject) => {
        server.stdout!.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line) as { port: number }).port));
        server.once('exit', (code) => reject(new Error(`baseline exited ${code}`)));
      });
      // The relay: requests from the generator go on to the server, except the first one;
      // replies come back to the generator.
      const front = dgram.createSocket('udp4');
      const back = dgram.createSocket('udp4');
      cleanup.push(() => {
        front.close();
        back.close();
      });
      let client: { port: number; address: string } | undefined;
      let dropped = 0;
      front.on('message', (message, from) => {
        client = { port: from.port, address: from.address };
        if (dropped === 0) return void dropped++;
        back.send(message, serverPort, '127.0.0.1');
      });
      back.on('message', (message) => {
        if (client) front.send(message, client.port, client.address);
      });
      await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));
      await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', () => resolve()));
      // The generator's addresses, SPI and key are part 1's, which the baseline above was given.
      const args = loadArgs(front.address().port, 10, { inFlight: 1 }, 0.5);
      // Asynchronously: the relay lives in this process's event loop.
      const result = await runJson<{ replies: number; lost: number; bad: number }>(LOADGEN, args, 15_000);
      expect(dropped).toBe(1);
      expect(result.lost).toBe(1);
      expect(result.bad).toBe(0);
      // 0.4 s of the 0.5 s load are left to the server after the 100 ms wait.
      expect(result.replies).toBeGreaterThan(0);
    },
    30_000,
  );
});
