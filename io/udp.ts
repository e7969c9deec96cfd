/**
 * The Udp service: Mobile IP control traffic (port 434) in both worlds.
 *
 * Effect carries the lifecycle (a socket is acquired in a Scope and closed by its finalizer)
 * and the typed error; the per-datagram path is plain callbacks and a synchronous `send`,
 * because wrapping every datagram in an Effect costs more than the rest of the work
 * (~1.2 µs per runSync, docs/performance.md). Layers: io/node/udp.ts (node:dgram),
 * io/linux/udp.ts (the native helper: recvmmsg/sendmmsg batches) and io/sim/udp.ts (the
 * simulated network).
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';

export interface UdpDatagram {
  readonly data: Uint8Array;
  /** Sender. */
  readonly address: Ipv4Address;
  readonly port: number;
  /**
   * The address the datagram was sent to: the IP destination where the layer can see it
   * (io/linux, io/sim: a broadcast stays a broadcast, a socket bound to 0.0.0.0 reports the
   * address used), else the bound address of the receiving socket (node:dgram; 0 when bound to
   * 0.0.0.0).
   */
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
}

export interface UdpSocket {
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  /**
   * Queues a datagram; failures, including sends after the socket closed, are reported to the
   * `onError` handler, never thrown. `source`: the IP source address it must carry. A socket
   * bound to one address always sends from that address; one bound to 0.0.0.0 honours `source`
   * on the native layer (IP_PKTINFO; an address not on this host fails the send) and on the
   * simulated network (an address not on the host is ignored there), and lets the kernel choose
   * on node:dgram.
   */
  send(data: Uint8Array, address: Ipv4Address, port: number, source?: Ipv4Address): void;
  /**
   * Queues `count` datagrams and sends them together now (on the native layer: one sendmmsg, or
   * one UDP GSO send per run, unless the socket buffer is full; inside a received batch they
   * leave with its replies). Optional: only layers that batch offer it; failures as for `send`.
   */
  sendBatch?(datagrams: readonly Uint8Array[], addresses: readonly Ipv4Address[], ports: readonly number[], count: number, source?: Ipv4Address): void;
  /** What the layer's batched sends did (native layer): system calls that sent, and datagrams they sent. */
  readonly sendCounters?: UdpSendCounters;
  /** Sets the handler for received datagrams (one per socket). */
  onMessage(handler: (datagram: UdpDatagram) => void): void;
  /** Sets the handler for asynchronous errors (failed sends, a failed read). */
  onError(handler: (error: UdpError) => void): void;
}

/** Datagrams per send call of a batching layer: datagramsSent / sendCalls. */
export interface UdpSendCounters {
  /** sendmmsg (or UDP GSO send) calls that sent at least one datagram. */
  readonly sendCalls: number;
  readonly datagramsSent: number;
}

export interface UdpBindOptions {
  /** 0 (0.0.0.0) binds every address. */
  readonly address: Ipv4Address;
  /** 0 picks a free port. */
  readonly port: number;
  /** Allow sending to broadcast addresses (SO_BROADCAST). */
  readonly broadcast?: boolean;
}

/** 'receive': reading from the socket failed. */
export type UdpErrorReason = 'permission' | 'address-in-use' | 'address-not-available' | 'bind' | 'send' | 'receive' | 'closed';

export class UdpError extends Data.TaggedError('UdpError')<{
  readonly reason: UdpErrorReason;
  /** "address:port" concerned. */
  readonly endpoint: string;
  readonly message: string;
}> {}

export class Udp extends Context.Tag('mip4/Udp')<
  Udp,
  {
    readonly bind: (options: UdpBindOptions) => Effect.Effect<UdpSocket, UdpError, Scope.Scope>;
  }
>() {}

/**
 * A burst of requests (a restart storm, a flood) must not overflow the default ~208 KiB
 * receive buffer; the kernel caps the request at net.core.rmem_max.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * The UdpError for a bind that failed with errno `code`: the same reason and words whichever
 * layer binds, so a daemon's message does not depend on its socket implementation.
 */
export function udpBindError(endpoint: string, code: string | undefined, detail: string): UdpError {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new UdpError({
        reason: 'permission',
        endpoint,
        message: `no permission to bind UDP ${endpoint}: ports below 1024 need root or CAP_NET_BIND_SERVICE (or listen on a port >= 1024)`,
      });
    case 'EADDRINUSE':
      return new UdpError({ reason: 'address-in-use', endpoint, message: `UDP ${endpoint} is already in use by another process` });
    case 'EADDRNOTAVAIL':
      return new UdpError({
        reason: 'address-not-available',
        endpoint,
        message: `cannot bind UDP ${endpoint}: no interface on this host has that address`,
      });
    default:
      return new UdpError({ reason: 'bind', endpoint, message: `cannot bind UDP ${endpoint}: ${detail}` });
  }
}
