/**
 * The native helper itself, in this process on the loopback interface (no configuration is
 * changed): the batched reader fires on Node's event loop with the packets in the caller's
 * slab, can be stopped from inside its own callback and twice; sendBatch checks its arguments;
 * errors carry the errno name as `code` and name the operation and interface.
 */
import { describe, expect, it } from 'vitest';
import { DescriptorKind, isNativeError, loadNative, META_WORDS } from '../../io/linux/native.js';
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
});
