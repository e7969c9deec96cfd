/**
 * The control socket's server and client (runtime/control/): the protocol of protocol.ts on a
 * real Unix socket in a temporary directory. Raw sockets stand in for misbehaving clients.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlError, controlRows, ControlServer, ControlSocketError } from '../../runtime/control/control-server.js';
import { controlCall, ControlClientError } from '../../runtime/control/control-client.js';

let dir: string;
let path: string;
let server: ControlServer;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mip4-control-test-'));
  path = join(dir, 'run', 'ha.sock');
  server = new ControlServer({ maxRequestBytes: 1024 });
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw connection that collects the reply lines. */
async function raw(): Promise<{ socket: Socket; lines: () => Array<Record<string, unknown>>; closed: Promise<void>; waitFor(n: number): Promise<void> }> {
  const socket = connect(path);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const lines = () =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitFor = async (n: number) => {
    for (let i = 0; i < 200 && lines().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  return { socket, lines, closed, waitFor };
}

const addresses = (n: number) => Array.from({ length: n }, (_, i) => ({ homeAddress: `198.51.${100 + (i >> 8)}.${i & 255}`, careOfAddress: i % 2 === 0 ? '203.0.113.1' : '203.0.113.2' }));

describe('control server', () => {
  it('listens on a 0600 socket in a directory it creates (0755), and answers a value', async () => {
    server.register('status', () => ({ role: 'ha' }));
    await server.listen(path);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o755);
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: { role: 'ha' } });
  });

  it('answers malformed JSON, a request without a command and bad args with bad-request, and keeps the connection', async () => {
    server.register('status', () => 'fine');
    await server.listen(path);
    const client = await raw();
    client.socket.write('{not json\n[1,2]\n{"id":3}\n{"id":4,"command":"status","args":[1]}\n{"id":5,"command":"status"}\n');
    await client.waitFor(5);
    const lines = client.lines();
    expect(lines.slice(0, 4).map((l) => (l.error as { code: string }).code)).toEqual(['bad-request', 'bad-request', 'bad-request', 'bad-request']);
    expect(lines.slice(0, 4).map((l) => l.id)).toEqual([null, null, 3, 4]);
    expect(lines[4]).toEqual({ id: 5, ok: true, result: 'fine' });
    client.socket.destroy();
  });

  it('answers an unknown command with unknown-command naming the commands it has', async () => {
    server.register('status', () => 'fine');
    server.register('bindings', () => controlRows([]));
    await server.listen(path);
    const error = await controlCall(path, 'show-everything').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlClientError);
    expect((error as ControlClientError).code).toBe('unknown-command');
    expect((error as ControlClientError).message).toContain('bindings, status');
  });

  it('refuses a request line over the size cap, closes that connection, and serves the next client', async () => {
    server.register('status', () => 'fine');
    await server.listen(path);
    const client = await raw();
    client.socket.write(`{"id":1,"command":"status","args":{"pad":"${'x'.repeat(4096)}"}}\n`);
    await client.closed;
    expect(client.lines()).toEqual([{ id: null, ok: false, error: { code: 'request-too-large', message: expect.stringContaining('1024 bytes') } }]);
    // Also without a newline: a client that never ends its line cannot grow the buffer.
    const endless = await raw();
    endless.socket.write('{"id":1,"command":"'.padEnd(3000, 'y'));
    await endless.closed;
    expect((endless.lines()[0]!.error as { code: string }).code).toBe('request-too-large');
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: 'fine' });
  });

  it('streams 20,000 rows filtered by the handler, in order, with their count', async () => {
    const all = addresses(20_000);
    server.register('bindings', (args) => controlRows(all.filter((b) => args.careOfAddress === undefined || b.careOfAddress === args.careOfAddress)));
    await server.listen(path);
    const everything = await controlCall(path, 'bindings');
    expect(everything.kind).toBe('rows');
    if (everything.kind !== 'rows') return;
    expect(everything.count).toBe(20_000);
    expect(everything.rows).toEqual(all);
    const seen: unknown[] = [];
    const filtered = await controlCall(path, 'bindings', { careOfAddress: '203.0.113.2' }, { onRow: (row) => seen.push(row) });
    expect(filtered).toEqual({ kind: 'rows', rows: [], count: 10_000 });
    expect(seen).toEqual(all.filter((_, i) => i % 2 === 1));
  });

  it('pulls rows only as fast as the client reads them (back-pressure), and stops when it disconnects', async () => {
    let pulled = 0;
    let finished = false;
    function* rows(): Generator<object> {
      try {
        for (let i = 0; i < 200_000; i++) {
          pulled++;
          yield { homeAddress: '198.51.100.10', careOfAddress: '203.0.113.1', padding: 'p'.repeat(100), i };
        }
      } finally {
        finished = true;
      }
    }
    server.register('bindings', () => controlRows(rows()));
    server.register('status', () => 'still here');
    await server.listen(path);
    const client = await raw();
    client.socket.pause();
    client.socket.write('{"id":1,"command":"bindings"}\n');
    await new Promise((r) => setTimeout(r, 300));
    // A client that does not read holds the stream at what the socket buffers take.
    expect(pulled).toBeGreaterThan(0);
    expect(pulled).toBeLessThan(200_000);
    const stalled = pulled;
    await new Promise((r) => setTimeout(r, 200));
    expect(pulled).toBe(stalled);
    client.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    // The generator was closed early (its finally ran) rather than drained to the end.
    expect(finished).toBe(true);
    expect(pulled).toBeLessThan(200_000);
    // The daemon is unharmed and answers others.
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: 'still here' });
  });

  it('serves two clients at once: a slow stream does not hold up a status request', async () => {
    server.register('bindings', () => controlRows(addresses(20_000)));
    server.register('status', () => 'ok');
    await server.listen(path);
    const slow = await raw();
    slow.socket.pause();
    slow.socket.write('{"id":1,"command":"bindings"}\n');
    const [a, b] = await Promise.all([controlCall(path, 'status'), controlCall(path, 'status')]);
    expect(a).toEqual({ kind: 'value', result: 'ok' });
    expect(b).toEqual({ kind: 'value', result: 'ok' });
    slow.socket.resume();
    await slow.waitFor(20_001);
    expect(slow.lines().at(-1)).toEqual({ id: 1, ok: true, end: true, rows: 20_000 });
    slow.socket.destroy();
  });

  it('turns a handler refusal into its code and a handler defect into internal-error, and keeps serving', async () => {
    server.register('clear-binding', () => {
      throw new ControlError('not-found', 'no binding for 198.51.100.99');
    });
    server.register('crash', () => {
      throw new TypeError('a defect');
    });
    server.register('status', async () => 'ok');
    await server.listen(path);
    await expect(controlCall(path, 'clear-binding')).rejects.toMatchObject({ kind: 'daemon', code: 'not-found', message: 'no binding for 198.51.100.99' });
    await expect(controlCall(path, 'crash')).rejects.toMatchObject({ kind: 'daemon', code: 'internal-error', message: 'a defect' });
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: 'ok' });
  });

  it('replaces a stale socket file, refuses a path where a daemon answers, and never deletes a regular file', async () => {
    // A socket file nobody answers on: what a daemon killed with SIGKILL leaves.
    mkdirSync(join(dir, 'run'));
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    expect(statSync(path).isSocket()).toBe(true);
    server = new ControlServer();
    server.register('status', () => 'new');
    await server.listen(path);
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: 'new' });

    const second = new ControlServer();
    await expect(second.listen(path)).rejects.toMatchObject({ reason: 'in-use' });
    await expect(second.listen(path)).rejects.toBeInstanceOf(ControlSocketError);
    expect(await controlCall(path, 'status')).toEqual({ kind: 'value', result: 'new' });

    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await expect(new ControlServer().listen(file)).rejects.toMatchObject({ reason: 'not-a-socket' });
    expect(existsSync(file)).toBe(true);
  });

  it('removes its socket file on close', async () => {
    await server.listen(path);
    expect(existsSync(path)).toBe(true);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });
});

describe('control client', () => {
  it('says there is no daemon at the path, and how to name another', async () => {
    const error = await controlCall(join(dir, 'nobody.sock'), 'status', {}, { daemon: 'mip4 ha' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'unreachable' });
    expect((error as Error).message).toBe(`no daemon at ${join(dir, 'nobody.sock')} (is mip4 ha running? --socket PATH or MIP4_CONTROL_SOCKET names another)`);
  });

  it('gives up after its timeout when the daemon does not answer', async () => {
    server.register('status', () => new Promise(() => {}));
    await server.listen(path);
    const error = await controlCall(path, 'status', {}, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'timeout' });
    expect((error as Error).message).toContain('did not answer "status" within 200 ms');
  });
});
