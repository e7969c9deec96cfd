/**
 * Datagrams the kernel dropped before a daemon read them (a socket's receive queue full, a TUN
 * device's queue full), by reason. Each source is a reader that asks the kernel when called
 * (SO_MEMINFO, /proc/net/dev), never an estimate: nothing is counted on the hot path. Several
 * sources of one reason (one raw socket per tunnel protocol) add up. The simulated network
 * registers none: its queues do not overflow.
 */
export type KernelDropReason =
  /** A raw socket that receives tunnels (protocols 4, 55, 47) had its receive queue full. */
  | 'kernel-tunnel-receive-queue'
  /** The AF_PACKET socket of a link (the foreign agent's visitor link) had its receive queue full. */
  | 'kernel-link-receive-queue'
  /** A TUN device's queue towards the daemon was full (the device's tx_dropped). */
  | 'kernel-tun-read-queue'
  /** Datagrams the daemon wrote into a TUN device that the kernel dropped (its rx_dropped). */
  | 'kernel-tun-write';

export class KernelDrops {
  private readonly sources: Array<{ readonly reason: KernelDropReason; readonly read: () => number }> = [];

  /** Adds a source; `read` must not throw (return the last value it knew instead). */
  add(reason: KernelDropReason, read: () => number): void {
    this.sources.push({ reason, read });
  }

  get empty(): boolean {
    return this.sources.length === 0;
  }

  /** Each reason with a source, and its count now. */
  snapshot(): Partial<Record<KernelDropReason, number>> {
    const counts: Partial<Record<KernelDropReason, number>> = {};
    for (const { reason, read } of this.sources) counts[reason] = (counts[reason] ?? 0) + read();
    return counts;
  }
}
