/**
 * The native helper itself, in this process on the loopback interface (no configuration is
 * changed): the batched reader fires on Node's event loop with the packets in the caller's
 * slab, can be stopped from inside its own callback and twice; sendBatch checks its arguments;
 * errors carry the errno name as `code` and name the operation and interface. Memory safety:
 * handles are type-tagged, unknown kinds and shared memory are refused, a detached slab stops
 * its reader, a collected writability watch closes its descriptor (scripts/native-asan.sh runs
 * this file against an ASan/UBSan build of the helper).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  DescriptorKind,
  isNativeError,
  loadNative,
  META_WORDS,
  NATIVE_ADDON_ENV,
  nativeAddonCandidates,
  nativeAddonPath,
  type NativeError,
  type ReaderHandle,
  type WatchHandle,
} from '../../io/linux/native.js';
import { encodeIcmpEcho, IcmpType, decodeIcmpEcho } from '../../io/wire/icmp.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { linuxSkipReason, titled } from './netns.js';

const skip = linuxSkipReason();

describe('native helper (mip4_io.node)', () => {
  it.skipIf(skip !== undefined)(titled('a missing interface is an ENODEV error naming the operation and the interface', skip), () => {
    const native = loadNative();
    const name = `m4none${process.pid}`;
    let thrown: unknown;
    try {
      native.openPacket(name);
    } catch (error) {
      thrown = error;
    }
    expect(isNativeError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'ENODEV', errno: 19 });
    expect((thrown as Error).message).toContain('openPacket');
    expect((thrown as Error).message).toContain(name);
  });

  it.skipIf(skip !== undefined)(titled('setMtu on a missing interface is an ENODEV error naming the MTU and the interface', skip), () => {
    const name = `m4none${process.pid}`;
    let thrown: unknown;
    try {
      loadNative().setMtu(name, 1400);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ENODEV', errno: 19 });
    expect((thrown as Error).message).toContain(`SIOCSIFMTU 1400 on ${name}`);
  });

  it.skipIf(skip !== undefined)(titled('sendBatch refuses a packet outside the slab and a raw batch without destinations', skip), () => {
    const native = loadNative();
    const fd = native.openRawIp(IpProtocol.ICMP);
    try {
      const slab = new Uint8Array(64);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, slab, Int32Array.of(32), Int32Array.of(40), 1, Uint32Array.of(0x7f000001))).toThrow(RangeError);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, slab, Int32Array.of(0), Int32Array.of(8), 1)).toThrow(TypeError);
    } finally {
      native.close(fd);
    }
  });

  it.skipIf(skip !== undefined)(
    titled('the reader delivers a batch of ICMP echoes sent on loopback and stops from its own callback', skip),
    async () => {
      const native = loadNative();
      const fd = native.openRawIp(IpProtocol.ICMP);
      const maxPackets = 16;
      const slab = new Uint8Array(maxPackets * 256);
      const meta = new Int32Array(maxPackets * META_WORDS);
      const identifier = process.pid & 0xffff;
      const sequences = new Set<number>();
      let calls = 0;
      let stoppedInside = false;
      try {
        const done = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`only ${sequences.size} of 8 echoes arrived`)), 5_000);
          const handle = native.startReader(fd, DescriptorKind.RawIp, slab, maxPackets, meta, (count) => {
            calls++;
            for (let i = 0; i < count; i++) {
              const offset = meta[i * META_WORDS]!;
              const length = meta[i * META_WORDS + 1]!;
              // The slot of packet i starts at i * slotSize.
              expect(offset).toBe(i * 256);
              expect(meta[i * META_WORDS + 2]! >>> 0).toBe(ipv4('127.0.0.1'));
              const packet = decodeIpv4Packet(slab, offset, offset + length);
              if (!packet.ok) continue;
              const echo = decodeIcmpEcho(packet.value.payload);
              if (echo.ok && echo.value.icmpType === IcmpType.Echo && echo.value.identifier === identifier) {
                sequences.add(echo.value.sequence);
              }
            }
            if (sequences.size === 8) {
              native.stopReader(handle);
              native.stopReader(handle); // a second stop is harmless
              stoppedInside = true;
              clearTimeout(timer);
              resolve();
            }
          });
          // Eight echo requests in one sendmmsg; the kernel adds the IPv4 header.
          const out = new Uint8Array(8 * 64);
          const offsets = new Int32Array(8);
          const lengths = new Int32Array(8);
          for (let i = 0; i < 8; i++) {
            offsets[i] = i * 64;
            lengths[i] =
              encodeIcmpEcho(
                { icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier, sequence: i, data: new Uint8Array(16) },
                out,
                i * 64,
              ) -
              i * 64;
          }
          const sent = native.sendBatch(fd, DescriptorKind.RawIp, out, offsets, lengths, 8, new Uint32Array(8).fill(ipv4('127.0.0.1')));
          expect(sent).toBe(8);
        });
        await done;
        expect(stoppedInside).toBe(true);
        expect([...sequences].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        // All 16 packets (8 requests, 8 replies) were queued before the event loop ran, so one
        // wakeup drained them together (2 allows for softirq timing); one call per packet fails.
        expect(calls).toBeLessThanOrEqual(2);
      } finally {
        native.close(fd);
      }
    },
  );

  it('MIP4_NATIVE_ADDON names the only addon tried (no silent fallback to build/Release)', () => {
    expect(nativeAddonCandidates({ [NATIVE_ADDON_ENV]: '/nonexistent/asan/mip4_io.node' })).toEqual(['/nonexistent/asan/mip4_io.node']);
    const ordinary = nativeAddonCandidates({});
    expect(ordinary.length).toBeGreaterThan(0);
    for (const path of ordinary) expect(path).toMatch(/\/build\/Release\/mip4_io\.node$/);
  });

  it.skipIf(skip !== undefined)(titled('a reader handle is refused where a watch handle belongs and the other way round (TypeError)', skip), () => {
    const native = loadNative();
    const udp = native.openUdp(ipv4('127.0.0.1'), 0);
    const maxPackets = 2;
    const reader = native.startReader(udp.fd, DescriptorKind.Udp, new Uint8Array(maxPackets * 256), maxPackets, new Int32Array(maxPackets * META_WORDS), () => {});
    const watch = native.watchWritable(udp.fd, () => {});
    try {
      expect(() => native.stopReader(watch as unknown as ReaderHandle)).toThrow(TypeError);
      expect(() => native.refReader(watch as unknown as ReaderHandle, false)).toThrow(TypeError);
      expect(() => native.stopWritable(reader as unknown as WatchHandle)).toThrow(TypeError);
      expect(() => native.armWritable(reader as unknown as WatchHandle)).toThrow(TypeError);
      for (const notAHandle of [undefined, {}, 7]) {
        expect(() => native.stopReader(notAHandle as unknown as ReaderHandle)).toThrow(TypeError);
        expect(() => native.refReader(notAHandle as unknown as ReaderHandle, true)).toThrow(TypeError);
        expect(() => native.stopWritable(notAHandle as unknown as WatchHandle)).toThrow(TypeError);
      }
      // The right handles still work after the refusals.
      native.refReader(reader, false);
      native.armWritable(watch);
    } finally {
      native.stopReader(reader);
      native.stopWritable(watch);
      native.close(udp.fd);
    }
  });

  it.skipIf(skip !== undefined)(titled('every function called with too few arguments throws a TypeError naming its arguments (args_read in native/args.c)', skip), () => {
    const functions = loadNative() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const takesNone = new Set(['openNetlink']);
    const names = Object.keys(functions).filter((name) => !takesNone.has(name));
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) {
      let thrown: unknown;
      try {
        functions[name]!();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(TypeError);
      expect((thrown as NativeError).code, name).toBe('ERR_INVALID_ARG_TYPE');
      expect((thrown as Error).message, name).toContain(name === 'close' ? 'close(' : `${name}(`);
    }
  });

  it.skipIf(skip !== undefined)(titled('sendBatch and startReader refuse a descriptor kind they do not know (TypeError)', skip), () => {
    const native = loadNative();
    const fd = native.openRawIp(IpProtocol.ICMP);
    try {
      const slab = new Uint8Array(64);
      for (const kind of [-1, 4, 99]) {
        expect(() =>
          native.sendBatch(fd, kind as DescriptorKind, slab, Int32Array.of(0), Int32Array.of(8), 1, Uint32Array.of(ipv4('127.0.0.1'))),
        ).toThrow(TypeError);
        expect(() => native.startReader(fd, kind as DescriptorKind, new Uint8Array(256), 1, new Int32Array(META_WORDS), () => {})).toThrow(TypeError);
      }
    } finally {
      native.close(fd);
    }
  });

  it.skipIf(skip !== undefined)(titled('buffers backed by a SharedArrayBuffer are refused by every call that takes one (TypeError)', skip), () => {
    const native = loadNative();
    const fd = native.openRawIp(IpProtocol.ICMP);
    const udp = native.openUdp(ipv4('127.0.0.1'), 0);
    const sharedBytes = (length: number) => new Uint8Array(new SharedArrayBuffer(length));
    const sharedInts = (length: number) => new Int32Array(new SharedArrayBuffer(length * 4));
    const slab = new Uint8Array(256);
    const meta = new Int32Array(META_WORDS);
    const one = Int32Array.of(0);
    const eight = Int32Array.of(8);
    const loopback = Uint32Array.of(ipv4('127.0.0.1'));
    const port = Int32Array.of(udp.port);
    try {
      expect(() => native.startReader(fd, DescriptorKind.RawIp, sharedBytes(256), 1, meta, () => {})).toThrow(TypeError);
      expect(() => native.startReader(fd, DescriptorKind.RawIp, slab, 1, sharedInts(META_WORDS), () => {})).toThrow(TypeError);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, sharedBytes(64), one, eight, 1, loopback)).toThrow(TypeError);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, slab, sharedInts(1), eight, 1, loopback)).toThrow(TypeError);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, slab, one, sharedInts(1), 1, loopback)).toThrow(TypeError);
      expect(() => native.sendBatch(fd, DescriptorKind.RawIp, slab, one, eight, 1, new Uint32Array(new SharedArrayBuffer(4)))).toThrow(TypeError);
      expect(() => native.sendUdpBatch(udp.fd, sharedBytes(64), one, eight, loopback, port, 0, 1)).toThrow(TypeError);
      expect(() => native.sendUdpBatch(udp.fd, slab, one, sharedInts(1), loopback, port, 0, 1)).toThrow(TypeError);
      expect(() => native.sendUdpBatch(udp.fd, slab, one, eight, loopback, port, 0, 1, new Uint32Array(new SharedArrayBuffer(4)))).toThrow(TypeError);
      expect(() => native.segmentOffloaded(sharedBytes(64), new Uint8Array(2048), 2048, meta)).toThrow(TypeError);
    } finally {
      native.close(fd);
      native.close(udp.fd);
    }
  });

  for (const detached of ['slab', 'meta'] as const) {
    it.skipIf(skip !== undefined)(
      titled(`a reader whose ${detached} was detached (transferred) stops with an EFAULT error and writes nothing into the memory`, skip),
      async () => {
        const native = loadNative();
        const receiver = native.openUdp(ipv4('127.0.0.1'), 0);
        const sender = native.openUdp(ipv4('127.0.0.1'), 0);
        const maxPackets = 4;
        const slab = new Uint8Array(maxPackets * 256);
        const meta = new Int32Array(maxPackets * META_WORDS);
        const calls: Array<{ count: number; error?: NativeError }> = [];
        try {
          const called = new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('the reader never called back')), 5_000);
            const handle = native.startReader(receiver.fd, DescriptorKind.Udp, slab, maxPackets, meta, (count, error) => {
              calls.push(error === undefined ? { count } : { count, error });
              native.stopReader(handle);
              clearTimeout(timer);
              resolve();
            });
          });
          // The transfer moves the memory the reader was given into `moved`.
          const buffer = detached === 'slab' ? slab.buffer : meta.buffer;
          const moved = new Uint8Array(structuredClone(buffer, { transfer: [buffer] }));
          expect(buffer.byteLength).toBe(0);
          const payload = new Uint8Array(32).fill(0xa5);
          const sent = native.sendUdpBatch(sender.fd, payload, Int32Array.of(0), Int32Array.of(payload.length), Uint32Array.of(ipv4('127.0.0.1')), Int32Array.of(receiver.port), 0, 1);
          expect(sent).toBe(1);
          await called;
          expect(calls).toHaveLength(1);
          expect(calls[0]!.count).toBe(-14);
          expect(isNativeError(calls[0]!.error)).toBe(true);
          expect(calls[0]!.error).toMatchObject({ code: 'EFAULT', errno: 14 });
          expect(calls[0]!.error!.message).toContain('detached');
          expect(moved.every((byte) => byte === 0)).toBe(true);
        } finally {
          native.close(receiver.fd);
          native.close(sender.fd);
        }
      },
    );
  }

  it.skipIf(skip !== undefined)(titled('a writability watch collected without stopWritable closes its descriptor (child process, --expose-gc)', skip), () => {
    const addon = nativeAddonPath();
    expect(addon).toBeDefined();
    // A separate process: gc() and an exact count of its own descriptors, undisturbed by vitest.
    const script = `
      const native = require(${JSON.stringify(addon)});
      const { readdirSync } = require('node:fs');
      const descriptors = () => readdirSync('/proc/self/fd').length;
      const udp = native.openUdp(0x7f000001, 0);
      const before = descriptors();
      (() => { for (let i = 0; i < 32; i++) native.watchWritable(udp.fd, () => {}); })();
      const during = descriptors();
      (async () => {
        for (let round = 0; round < 20 && descriptors() > before; round++) {
          globalThis.gc();
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const after = descriptors();
        native.close(udp.fd);
        process.stdout.write(JSON.stringify({ before, during, after }));
      })();`;
    const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect(child.status, child.stderr).toBe(0);
    const counts = JSON.parse(child.stdout) as { before: number; during: number; after: number };
    expect(counts.during).toBe(counts.before + 32);
    expect(counts.after).toBe(counts.before);
  });
});
