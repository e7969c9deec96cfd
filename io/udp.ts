/**
 * The Udp service: Mobile IP control traffic (port 434) in both worlds.
 *
 * Effect carries the lifecycle (a socket is acquired in a Scope and closed by its finalizer)
 * and the typed error; the per-datagram path is plain callbacks and a synchronous `send`,
 * because wrapping every datagram in an Effect costs more than the rest of the work
 * (perf-limits.md: ~1.2 µs per runSync). Layers: io/node/udp.ts (node:dgram) and
 * io/sim/udp.ts (the simulated network).
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';

export interface UdpDatagram {
  readonly data: Uint8Array;
  /** Sender. */
  readonly address: Ipv4Address;
  readonly port: number;
  /** The address the datagram was sent to (the bound address of the receiving socket). */
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
}

export interface UdpSocket {
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  /** Queues a datagram; failures are reported to the `onError` handler, never thrown. */
  send(data: Uint8Array, address: Ipv4Address, port: number): void;
  /** Sets the handler for received datagrams (one per socket). */
  onMessage(handler: (datagram: UdpDatagram) => void): void;
  /** Sets the handler for asynchronous errors (failed sends). */
  onError(handler: (error: UdpError) => void): void;
}

export interface UdpBindOptions {
  /** 0 (0.0.0.0) binds every address. */
  readonly address: Ipv4Address;
  /** 0 picks a free port. */
  readonly port: number;
  /** Allow sending to broadcast addresses (SO_BROADCAST). */
  readonly broadcast?: boolean;
}

export type UdpErrorReason = 'permission' | 'address-in-use' | 'address-not-available' | 'bind' | 'send' | 'closed';

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
