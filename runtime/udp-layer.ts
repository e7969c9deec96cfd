/**
 * Which real UDP layer a daemon runs on. The native one (io/linux/udp.ts) moves datagrams in
 * batches (recvmmsg/sendmmsg) and reports each datagram's destination address; node:dgram
 * (io/node/udp.ts) works everywhere Node does. 'auto' takes the native layer on Linux when the
 * helper is built, so a fresh clone without a compiler still runs.
 */
import type { Layer } from 'effect';
import type { Udp } from '../io/udp.js';
import { nativeAvailable } from '../io/linux/native.js';

export const UDP_IMPLEMENTATIONS = ['auto', 'native', 'dgram'] as const;
export type UdpImplementation = (typeof UDP_IMPLEMENTATIONS)[number];

/** Whether 'auto' picks the native layer on this host. */
export function nativeUdpUsable(): boolean {
  return process.platform === 'linux' && nativeAvailable();
}

/** What `choice` runs on here: 'auto' resolved. */
export function resolveUdp(choice: UdpImplementation): 'native' | 'dgram' {
  return choice === 'native' || (choice === 'auto' && nativeUdpUsable()) ? 'native' : 'dgram';
}

/**
 * The layer for `choice`. 'native' on a host without the helper still returns the native
 * layer: its binds then fail with a UdpError that says how to build the helper.
 */
export async function udpLayer(choice: UdpImplementation = 'auto'): Promise<Layer.Layer<Udp>> {
  if (resolveUdp(choice) === 'native') return (await import('../io/linux/udp.js')).LinuxUdpLive;
  return (await import('../io/node/udp.js')).NodeUdpLive;
}
