/**
 * UDP GSO in the native helper (native/udp-gso.c sendUdpSegmented) and its use by the batched
 * Udp service (io/linux/udp.ts): every datagram arrives whole and in order, as with
 * sendUdpBatch, and a run of same-size datagrams to one destination really leaves as one UDP
 * send. The latter is counted with the kernel's Udp OutDatagrams (/proc/net/snmp, one per
 * message the UDP layer sends), in a network namespace of the test's own so nothing else
 * sends there; that part needs root and says so when skipped.
 */
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadNative, nativeAvailable } from '../../io/linux/native.js';
import { ensureBuilt, linuxSkipReason, Namespaces, ROOT, titled } from './netns.js';

const skip = process.platform !== 'linux' ? 'not Linux' : nativeAvailable() ? undefined : 'the native helper is not built (npm ci)';
const rootSkip = skip ?? linuxSkipReason();
const LOOPBACK = 0x7f000001;

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

async function receiver(): Promise<{ port: number; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, received };
}

/** A batch in a slab: datagram i is `lengths[i]` bytes, each byte (i * 7 + k) & 255, to ports[i]. */
function batch(lengths: readonly number[], ports: readonly number[]) {
  const offsets = new Int32Array(lengths.length);
  let total = 0;
  lengths.forEach((length, i) => {
    offsets[i] = total;
    total += length;
  });
  const slab = new Uint8Array(total);
  lengths.forEach((length, i) => {
    for (let k = 0; k < length; k++) slab[offsets[i]! + k] = (i * 7 + k) & 255;
  });
  const datagram = (i: number) => Buffer.from(slab.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
  return { slab, offsets, lengths: Int32Array.from(lengths), addresses: new Uint32Array(lengths.length).fill(LOOPBACK), ports: Int32Array.from(ports), datagram };
}

async function settle(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('UDP GSO (sendUdpSegmented)', () => {
  it.skipIf(skip !== undefined)(titled('this kernel offers UDP_SEGMENT on a native UDP socket', skip), () => {
    const native = loadNative();
    const { fd } = native.openUdp(LOOPBACK, 0);
    try {
      expect(native.udpSegmentSupported(fd)).toBe(true);
    } finally {
      native.close(fd);
    }
  });

  it.skipIf(skip !== undefined)(
    titled('mixed runs (same size, a shorter last one, another destination, other sizes) arrive whole and in order, one datagram each, as with sendUdpBatch', skip),
    async () => {
      const native = loadNative();
      const a = await receiver();
      const b = await receiver();
      const lengths = [...Array(20).fill(1200), 300, 100, 100, 100, 1200, 1300, 1300, 64];
      const ports = [...Array(21).fill(a.port), b.port, b.port, b.port, a.port, a.port, a.port, b.port];
      const plan = batch(lengths, ports);
      const { fd } = native.openUdp(LOOPBACK, 0);
      try {
        expect(native.sendUdpSegmented(fd, plan.slab, plan.offsets, plan.lengths, plan.addresses, plan.ports, 0, lengths.length)).toBe(lengths.length);
      } finally {
        native.close(fd);
      }
      await settle(() => a.received.length + b.received.length >= lengths.length);
      const expectedFor = (port: number) => lengths.flatMap((_, i) => (ports[i] === port ? [plan.datagram(i)] : []));
      expect(a.received).toEqual(expectedFor(a.port));
      expect(b.received).toEqual(expectedFor(b.port));
    },
  );

  it.skipIf(skip !== undefined)(titled('checks its arguments like sendUdpBatch: a datagram outside the slab is a RangeError', skip), () => {
    const native = loadNative();
    const plan = batch([10, 10], [9, 9]);
    plan.offsets[1] = 1_000;
    expect(() => native.sendUdpSegmented(-1, plan.slab, plan.offsets, plan.lengths, plan.addresses, plan.ports, 0, 2)).toThrow(RangeError);
  });
});

/** Runs `script` (ESM, importing dist/) with node in `namespace`; its last stdout line as JSON. */
function inNamespace(namespace: string, script: string): Record<string, number> {
  const result = spawnSync('ip', ['netns', 'exec', namespace, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: ROOT });
  if (result.status !== 0) throw new Error(`script in ${namespace} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

const COUNTING = `
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
const outDatagrams = () => { const lines = readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((l) => l.startsWith('Udp:')); const names = lines[0].split(' '); return Number(lines[1].split(' ')[names.indexOf('OutDatagrams')]); };
const sink = dgram.createSocket('udp4'); await new Promise((r) => sink.bind(0, '127.0.0.1', r)); let received = 0; sink.on('message', () => received++);
const settle = async (n) => { for (let i = 0; i < 200 && received < n; i++) await new Promise((r) => setTimeout(r, 10)); };
`;

describe('UDP GSO in the batched Udp service (io/linux/udp.ts), counted by the kernel', () => {
  const namespaces = new Namespaces();
  const tag = `m4gso${process.pid % 100_000}`;
  afterAll(() => namespaces.cleanup());

  it.skipIf(rootSkip !== undefined)(
    titled('40 same-size datagrams to one destination: one UDP send with sendUdpSegmented, 40 with sendUdpBatch, all 40 delivered either way', rootSkip),
    () => {
      ensureBuilt();
      const ns = namespaces.add(`${tag}a`);
      const native = join(ROOT, 'dist/io/linux/native.js');
      const result = inNamespace(
        ns,
        `${COUNTING}
import { loadNative } from '${native}';
const io = loadNative(); const { fd } = io.openUdp(0x7f000001, 0);
const n = 40, size = 1000; const slab = new Uint8Array(n * size);
const offsets = Int32Array.from({ length: n }, (_, i) => i * size), lengths = new Int32Array(n).fill(size);
const addresses = new Uint32Array(n).fill(0x7f000001), ports = new Int32Array(n).fill(sink.address().port);
let before = outDatagrams(); io.sendUdpSegmented(fd, slab, offsets, lengths, addresses, ports, 0, n); const segmented = outDatagrams() - before;
await settle(n); const deliveredSegmented = received;
before = outDatagrams(); io.sendUdpBatch(fd, slab, offsets, lengths, addresses, ports, 0, n); const batched = outDatagrams() - before;
await settle(2 * n);
console.log(JSON.stringify({ segmented, batched, deliveredSegmented, delivered: received })); process.exit(0);`,
      );
      expect(result).toEqual({ segmented: 1, batched: 40, deliveredSegmented: 40, delivered: 80 });
    },
  );

  it.skipIf(rootSkip !== undefined)(
    titled('LinuxUdpLive sends a turn of 40 same-size datagrams to one destination as one UDP send, and with MIP4_UDP_GSO=0 as 40', rootSkip),
    () => {
      ensureBuilt();
      const ns = namespaces.add(`${tag}b`);
      const script = (gso: boolean) => `${COUNTING}
${gso ? '' : "process.env.MIP4_UDP_GSO = '0';"}
const { Effect, Scope } = await import('${join(ROOT, 'node_modules/effect/dist/esm/index.js')}');
const { Udp } = await import('${join(ROOT, 'dist/io/udp.js')}');
const { LinuxUdpLive } = await import('${join(ROOT, 'dist/io/linux/udp.js')}');
const scope = Effect.runSync(Scope.make());
const socket = await Effect.runPromise(Effect.flatMap(Udp, (udp) => udp.bind({ address: 0x7f000001, port: 0 })).pipe(Scope.extend(scope), Effect.provide(LinuxUdpLive)));
const before = outDatagrams();
const data = new Uint8Array(1000);
for (let i = 0; i < 40; i++) socket.send(data, 0x7f000001, sink.address().port);
await settle(40);
console.log(JSON.stringify({ sends: outDatagrams() - before, delivered: received })); process.exit(0);`;
      expect(inNamespace(ns, script(true))).toEqual({ sends: 1, delivered: 40 });
      expect(inNamespace(ns, script(false))).toEqual({ sends: 40, delivered: 40 });
    },
  );
});
