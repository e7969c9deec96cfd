/**
 * A network device's drop counters as the kernel keeps them, from /proc/net/dev: it follows the
 * reading process's network namespace (unlike /sys/class/net, which shows the namespace /sys
 * was mounted in, wrong for a daemon started with `nsenter --net`).
 */
import { readFileSync } from 'node:fs';

export interface DeviceDrops {
  /** Received packets the kernel dropped: for a TUN device, what the daemon wrote into it. */
  readonly receiveDropped: number;
  /** Packets the kernel dropped on transmit: for a TUN device, its queue towards the daemon full. */
  readonly transmitDropped: number;
}

/** /proc/net/dev's text parsed for one device; undefined when it is not listed. */
export function parseDeviceDrops(text: string, device: string): DeviceDrops | undefined {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== device) continue;
    // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (fields.length < 12 || fields.some((f) => !Number.isFinite(f))) return undefined;
    return { receiveDropped: fields[3]!, transmitDropped: fields[11]! };
  }
  return undefined;
}

/**
 * A reader of one device's drops that never throws: when the device is gone (removed at stop)
 * it returns the last counts it read.
 */
export function deviceDropsReader(device: string): () => DeviceDrops {
  let last: DeviceDrops = { receiveDropped: 0, transmitDropped: 0 };
  return () => {
    try {
      last = parseDeviceDrops(readFileSync('/proc/net/dev', 'utf8'), device) ?? last;
    } catch {
      // No /proc (not Linux): the last counts stand.
    }
    return last;
  };
}
