/**
 * A TUN device's queue towards its reader (the home agent's interception path): what the kernel
 * drops there while the reader is busy is counted by the kernel as the device's TX dropped, and
 * TunDevice.deviceDrops reads it back (/proc/net/dev, the peer's namespace), exactly: read +
 * dropped = sent. The peer sends the burst without yielding, so nothing reads meanwhile.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { inNamespace, linuxSkipReason, Namespaces, Peer, titled } from './netns.js';

const skip = linuxSkipReason({ tun: true });
const namespaces = new Namespaces();
afterAll(() => namespaces.cleanup());

/** More than the device's queue (txqueuelen 500) holds. */
const BURST = 2000;

describe('io/linux Tun drops', () => {
  it.skipIf(skip !== undefined)(titled('a burst the TUN queue cannot hold: each datagram lost is counted as the device\'s TX dropped, read + dropped = sent', skip), async () => {
    const ns = namespaces.add(`mip4-tund-${process.pid}`);
    const device = `m4d${process.pid}`;
    const peer = new Peer(ns, 'tun-overflow', [device, String(BURST)]);
    try {
      await peer.waitFor('ready');
      inNamespace(ns, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', device]);
      inNamespace(ns, 'ip', ['link', 'set', device, 'up']);
      peer.tell('go');
      const done = await peer.waitFor('done');
      const { sent, read, transmitDropped } = done as unknown as { sent: number; read: number; transmitDropped: number };
      expect(sent).toBe(BURST);
      expect(transmitDropped).toBeGreaterThan(0);
      expect(read + transmitDropped).toBe(sent);
    } finally {
      peer.stop();
    }
  }, 30_000);
});
