/**
 * The batched send of the native Udp service (io/linux/udp.ts SendQueue) with a fake native
 * helper: a data plane's batch of tunnel data messages (RFC 3519) leaves in one sendmmsg with
 * whatever was queued, is counted (datagrams per send call), waits for writability on a full
 * socket buffer, and inside a received batch leaves with that batch's replies. No root, no
 * addon: only the queue's own logic.
 */
import { describe, expect, it } from 'vitest';
import { SendQueue } from '../../io/linux/udp.js';
import type { NativeIo, WatchHandle } from '../../io/linux/native.js';
import type { UdpError } from '../../io/udp.js';

interface FakeCall {
  readonly datagrams: number[][];
  readonly addresses: number[];
  readonly ports: number[];
  readonly sources: number[] | undefined;
}

/** A native helper whose sendUdpBatch records each call and sends at most `room` datagrams per call (0: EAGAIN). */
function fakeNative(room: () => number) {
  const calls: FakeCall[] = [];
  let writable: ((status: number) => void) | undefined;
  let armed = 0;
  const native = {
    watchWritable(_fd: number, callback: (status: number) => void): WatchHandle {
      writable = callback;
      return {} as WatchHandle;
    },
    armWritable() {
      armed++;
    },
    stopWritable() {},
    sendUdpBatch(_fd: number, slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, addresses: Uint32Array, ports: Int32Array, start: number, end: number, sources?: Uint32Array): number {
      const n = Math.min(end - start, room());
      if (n === 0) return 0;
      const call: FakeCall = { datagrams: [], addresses: [], ports: [], sources: sources === undefined ? undefined : [] };
      for (let i = start; i < start + n; i++) {
        call.datagrams.push([...slab.subarray(offsets[i]!, offsets[i]! + lengths[i]!)]);
        call.addresses.push(addresses[i]!);
        call.ports.push(ports[i]!);
        call.sources?.push(sources![i]!);
      }
      calls.push(call);
      return n;
    },
  } as unknown as NativeIo;
  return { native, calls, armed: () => armed, becomeWritable: () => writable?.(0) };
}

const NAT = 0xcb007107; // 203.0.113.7
const HA = 0xc6336401; // 198.51.100.1
const message = (i: number) => Uint8Array.of(4, 4, 0, 0, 0x45, i);

describe('batched UDP send (io/linux/udp.ts SendQueue) with a fake native helper', () => {
  it('sends a plane batch of tunnel data messages in one sendmmsg, in order, from the given source, and counts datagrams per call', () => {
    const fake = fakeNative(() => 1024);
    const errors: UdpError[] = [];
    const queue = new SendQueue(fake.native, 3, (e) => errors.push(e));
    const datagrams = [message(1), message(2), message(3)];
    queue.pushBatch(datagrams, [NAT, NAT, NAT + 1], [40001, 40001, 40002], 3, HA);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.datagrams).toEqual(datagrams.map((d) => [...d]));
    expect(fake.calls[0]!.addresses).toEqual([NAT, NAT, NAT + 1]);
    expect(fake.calls[0]!.ports).toEqual([40001, 40001, 40002]);
    expect(fake.calls[0]!.sources).toEqual([HA, HA, HA]);
    queue.pushBatch([message(4), message(5)], [NAT, NAT], [40001, 40001], 2, 0);
    expect(fake.calls).toHaveLength(2);
    expect(fake.calls[1]!.sources).toBeUndefined();
    expect(queue.counters).toEqual({ sendCalls: 2, datagramsSent: 5 });
    expect(errors).toEqual([]);
  });

  it('sends only `count` datagrams of the arrays (reused scratch arrays may be longer)', () => {
    const fake = fakeNative(() => 1024);
    const queue = new SendQueue(fake.native, 3, () => {});
    queue.pushBatch([message(1), message(2), message(9)], [NAT, NAT, NAT], [1, 2, 9], 2, 0);
    expect(fake.calls[0]!.ports).toEqual([1, 2]);
  });

  it('inside a received batch the tunnel data waits and leaves with the replies in the batch\'s one flush', () => {
    const fake = fakeNative(() => 1024);
    const queue = new SendQueue(fake.native, 3, () => {});
    queue.inBatch = true;
    queue.push(Uint8Array.of(3, 0), NAT, 434, 0);
    queue.pushBatch([message(1), message(2)], [NAT, NAT], [40001, 40001], 2, 0);
    expect(fake.calls).toHaveLength(0);
    queue.inBatch = false;
    queue.flush();
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.datagrams).toHaveLength(3);
  });

  it('a full socket buffer (EAGAIN) keeps the rest in order until writable, then sends it; nothing is lost or counted twice', () => {
    const rooms = [1, 0];
    const fake = fakeNative(() => rooms.shift() ?? 1024);
    const queue = new SendQueue(fake.native, 3, () => {});
    queue.pushBatch([message(1), message(2), message(3)], [NAT, NAT, NAT], [1, 2, 3], 3, 0);
    // One sent, then EAGAIN: the watch is armed and the queue waits.
    expect(fake.calls.map((c) => c.ports)).toEqual([[1]]);
    expect(fake.armed()).toBe(1);
    fake.becomeWritable();
    expect(fake.calls.map((c) => c.ports)).toEqual([[1], [2, 3]]);
    expect(queue.counters).toEqual({ sendCalls: 2, datagramsSent: 3 });
  });
});
