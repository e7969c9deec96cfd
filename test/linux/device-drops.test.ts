/**
 * io/linux/device-drops.ts: a device's drop counters from /proc/net/dev, the file that follows
 * the reader's network namespace. The fixture's columns are the kernel's (net/core/net-procfs.c).
 */
import { describe, expect, it } from 'vitest';
import { deviceDropsReader, parseDeviceDrops } from '../../io/linux/device-drops.js';

const PROC_NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0
mip4ha0: 20163440  769    0    3    0     0          0         0 184546     3280    0  517    0     0       0          0
  eth0: 19599320  13182   0    0    0     0          0         0 234064     3329    0    0    0     0       0          0
`;

describe('io/linux device drops', () => {
  it('reads receive drop (4th) and transmit drop (12th) columns of the named device only', () => {
    expect(parseDeviceDrops(PROC_NET_DEV, 'mip4ha0')).toEqual({ receiveDropped: 3, transmitDropped: 517 });
    expect(parseDeviceDrops(PROC_NET_DEV, 'eth0')).toEqual({ receiveDropped: 0, transmitDropped: 0 });
    expect(parseDeviceDrops(PROC_NET_DEV, 'mip4ha')).toBeUndefined();
    expect(parseDeviceDrops('garbage\nmip4ha0: 1 2 x\n', 'mip4ha0')).toBeUndefined();
  });

  it.skipIf(process.platform !== 'linux')('the reader keeps the last counts when the device is gone, and reads lo live', () => {
    expect(deviceDropsReader('lo')()).toEqual({ receiveDropped: expect.any(Number), transmitDropped: expect.any(Number) });
    expect(deviceDropsReader('m4-no-such-dev')()).toEqual({ receiveDropped: 0, transmitDropped: 0 });
  });
});
