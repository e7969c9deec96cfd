/**
 * The carrier of a Linux interface, watched by polling sysfs: `/sys/class/net/IF/carrier`
 * reads 1 or 0, and fails to read while the interface is administratively down (counted as no
 * carrier). A carrier that drops and returns is the link-layer indication of a move that 2.4
 * lets a mobile node use (R2.4-10): a cable plugged into another network, a new association.
 * Polling costs one small read per interval and works in any network namespace with its own
 * sysfs (`ip netns exec` mounts one); rtnetlink link notifications would need a socket in
 * the native helper for the same information.
 */
import { readFileSync } from 'node:fs';

export function readCarrier(interfaceName: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${interfaceName}/carrier`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

export interface CarrierWatch {
  stop(): void;
}

/** Calls `onChange(up)` on every change of the interface's carrier, checked every `intervalMs`. */
export function watchCarrier(interfaceName: string, onChange: (up: boolean) => void, intervalMs = 100): CarrierWatch {
  let last = readCarrier(interfaceName);
  const timer = setInterval(() => {
    const now = readCarrier(interfaceName);
    if (now === last) return;
    last = now;
    onChange(now);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
