/**
 * The Udp service on an in-memory, clocked network: datagrams between bound sockets arrive
 * after a configurable latency, driven by the SimulatedClock, and may be dropped with a
 * seeded probability. Deterministic: the same seed and the same sends give the same run.
 * (The full simulated network with links, ARP and routing builds on this.)
 */
import { Effect, Layer } from 'effect';
import type { Clock } from '../clock.js';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import { Udp, UdpError, type UdpDatagram, type UdpSocket } from '../udp.js';

/** A small, fast, seedable PRNG (mulberry32): same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimSocket {
  readonly address: Ipv4Address;
  readonly port: number;
  handler: ((d: UdpDatagram) => void) | undefined;
}

export interface SimUdpOptions {
  readonly clock: Clock;
  /** One-way delay in ms (default 1). */
  readonly latencyMs?: number;
  /** Probability a datagram is lost (default 0). */
  readonly loss?: number;
  readonly seed?: number;
}

export class SimUdpNetwork {
  private readonly sockets = new Map<string, SimSocket>();
  private readonly random: () => number;
  private nextEphemeralPort = 49152;
  readonly stats = { sent: 0, delivered: 0, lost: 0, unreachable: 0 };

  constructor(private readonly options: SimUdpOptions) {
    this.random = seededRandom(options.seed ?? 1);
  }

  /** A Udp layer for a host with the given addresses (0.0.0.0 binds resolve to the first). */
  layer(hostAddresses: readonly Ipv4Address[]): Layer.Layer<Udp> {
    return Layer.succeed(Udp, {
      bind: (options) =>
        Effect.acquireRelease(
          Effect.suspend(() => {
            const address = options.address === 0 ? (hostAddresses[0] ?? 0) : options.address;
            const port = options.port === 0 ? this.nextEphemeralPort++ : options.port;
            const endpoint = `${ipv4ToString(address)}:${port}`;
            if (!hostAddresses.includes(address) && !this.isBroadcastLike(address)) {
              return Effect.fail(
                new UdpError({ reason: 'address-not-available', endpoint, message: `no simulated interface has ${ipv4ToString(address)}` }),
              );
            }
            if (this.sockets.has(endpoint)) {
              return Effect.fail(new UdpError({ reason: 'address-in-use', endpoint, message: `UDP ${endpoint} is already bound` }));
            }
            const socket: SimSocket = { address, port, handler: undefined };
            this.sockets.set(endpoint, socket);
            return Effect.succeed({ socket, endpoint, api: this.api(socket) });
          }),
          ({ endpoint }) => Effect.sync(() => void this.sockets.delete(endpoint)),
        ).pipe(Effect.map(({ api }) => api)),
    });
  }

  private isBroadcastLike(address: Ipv4Address): boolean {
    // A simulated host may listen on a subnet-directed broadcast address or 255.255.255.255.
    return (address & 0xff) === 0xff;
  }

  private api(socket: SimSocket): UdpSocket {
    return {
      localAddress: socket.address,
      localPort: socket.port,
      send: (data, address, port) => this.transmit(socket, data.slice(), address, port),
      onMessage: (handler) => {
        socket.handler = handler;
      },
      onError: () => {},
    };
  }

  private transmit(from: SimSocket, data: Uint8Array, address: Ipv4Address, port: number): void {
    this.stats.sent++;
    if ((this.options.loss ?? 0) > 0 && this.random() < (this.options.loss ?? 0)) {
      this.stats.lost++;
      return;
    }
    const deliverAt = this.options.clock.now() + (this.options.latencyMs ?? 1);
    this.options.clock.setAlarm(deliverAt, () => {
      const target = this.sockets.get(`${ipv4ToString(address)}:${port}`) ?? this.sockets.get(`0.0.0.0:${port}`);
      if (!target?.handler) {
        this.stats.unreachable++;
        return;
      }
      this.stats.delivered++;
      target.handler({ data, address: from.address, port: from.port, localAddress: address, localPort: port });
    });
  }
}
