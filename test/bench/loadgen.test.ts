/**
 * The benchmark's C load generator (bench/native/reg_loadgen.c): its own MD5 and HMAC-MD5
 * against the RFC 1321 and RFC 2104 vectors, and a short closed loop against the bare
 * node:dgram baseline on loopback (every reply authentic, accepted and matched).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOADGEN = `${ROOT}build/Release/reg_loadgen`;
const BASELINE = `${ROOT}dist/bench/registration-baseline.js`;
const skip = !existsSync(LOADGEN) ? 'the load generator is not built (npm ci)' : !existsSync(BASELINE) ? 'dist/ is not built (npm run build)' : undefined;
const KEY = '2b7e151628aed2a6abf7158809cf4f3c';

describe('reg_loadgen', () => {
  it.skipIf(skip !== undefined)(`computes MD5 and HMAC-MD5 as the RFC vectors say${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const result = spawnSync(LOADGEN, ['--self-test'], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ selfTest: 'ok' });
  });

  it.skipIf(skip !== undefined)(`registers against the baseline server: every reply authentic and matched${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const server = spawn(process.execPath, [BASELINE, '--nodes', '50', '--home-base', '10.0.0.2', '--home-agent', '10.0.0.1', '--spi', '4096', '--key', KEY], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        server.stdout!.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line) as { port: number }).port));
        server.once('exit', (code) => reject(new Error(`baseline exited ${code}`)));
      });
      const run = spawnSync(
        LOADGEN,
        ['--target', `127.0.0.1:${port}`, '--home-agent', '10.0.0.1', '--home-base', '10.0.0.2', '--nodes', '50', '--spi', '4096', '--key', KEY, '--mode', 'closed', '--in-flight', '8', '--count', '200'],
        { encoding: 'utf8', timeout: 15_000 },
      );
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(result).toMatchObject({ sent: 200, replies: 200, accepted: 200, bad: 0, lost: 0, codes: { '0': 200 } });
    } finally {
      server.kill('SIGKILL');
    }
  });
});
