/** The Udp service on real sockets (node:dgram). */
import dgram from 'node:dgram';
import { Effect, Layer } from 'effect';
import { ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { Udp, UDP_RECEIVE_BUFFER_BYTES, UdpError, udpBindError, type UdpBindOptions, type UdpDatagram, type UdpSocket } from '../udp.js';

/**
 * node:dgram speaks dotted-quad strings; the Udp service, 32-bit addresses. A datagram's
 * sender is usually one seen before (a foreign agent, a node renewing), so both conversions
 * are remembered instead of parsing or formatting a string per datagram. Bounded: cleared
 * when full, so a flood of distinct sources costs one conversion each, never memory.
 */
const ADDRESS_CACHE_ENTRIES = 4096;
const parsedAddresses = new Map<string, number>();
const formattedAddresses = new Map<number, string>();

function parseAddress(text: string): number {
  let address = parsedAddresses.get(text);
  if (address === undefined) {
    address = parseIpv4(text) ?? 0;
    if (parsedAddresses.size >= ADDRESS_CACHE_ENTRIES) parsedAddresses.clear();
    parsedAddresses.set(text, address);
  }
  return address;
}

function formatAddress(address: number): string {
  let text = formattedAddresses.get(address | 0);
  if (text === undefined) {
    text = ipv4ToString(address);
    if (formattedAddresses.size >= ADDRESS_CACHE_ENTRIES) formattedAddresses.clear();
    formattedAddresses.set(address | 0, text);
  }
  return text;
}

function open(options: UdpBindOptions): Effect.Effect<{ socket: dgram.Socket; api: UdpSocket }, UdpError> {
  const endpoint = `${ipv4ToString(options.address)}:${options.port}`;
  return Effect.async<{ socket: dgram.Socket; api: UdpSocket }, UdpError>((resume) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const onBindError = (error: NodeJS.ErrnoException) => {
      socket.close();
      resume(Effect.fail(udpBindError(endpoint, error.code, error.message)));
    };
    socket.once('error', onBindError);
    socket.bind({ address: ipv4ToString(options.address), port: options.port, exclusive: true }, () => {
      socket.off('error', onBindError);
      if (options.broadcast) socket.setBroadcast(true);
      try {
        socket.setRecvBufferSize(UDP_RECEIVE_BUFFER_BYTES);
      } catch {
        // Keep the default when the system refuses.
      }
      const bound = socket.address();
      const localAddress = parseIpv4(bound.address) ?? 0;
      const localPort = bound.port;
      let errorHandler: (error: UdpError) => void = () => {};
      socket.on('error', (error) =>
        errorHandler(new UdpError({ reason: 'send', endpoint: `${bound.address}:${localPort}`, message: error.message })),
      );
      const api: UdpSocket = {
        localAddress,
        localPort,
        send(data, address, port) {
          const text = formatAddress(address);
          try {
            socket.send(data, port, text, (error) => {
              if (error) {
                errorHandler(new UdpError({ reason: 'send', endpoint: `${text}:${port}`, message: error.message }));
              }
            });
          } catch (error) {
            // node:dgram throws for a closed socket (ERR_SOCKET_DGRAM_NOT_RUNNING) or a bad port.
            const closed = (error as NodeJS.ErrnoException).code === 'ERR_SOCKET_DGRAM_NOT_RUNNING';
            const endpoint = `${text}:${port}`;
            errorHandler(
              new UdpError({
                reason: closed ? 'closed' : 'send',
                endpoint,
                message: closed ? `send to ${endpoint} after the socket closed` : `send to ${endpoint}: ${(error as Error).message}`,
              }),
            );
          }
        },
        onMessage(handler) {
          socket.removeAllListeners('message');
          socket.on('message', (message, remote) => {
            const datagram: UdpDatagram = {
              data: new Uint8Array(message.buffer, message.byteOffset, message.length),
              address: parseAddress(remote.address),
              port: remote.port,
              localAddress,
              localPort,
            };
            handler(datagram);
          });
        },
        onError(handler) {
          errorHandler = handler;
        },
      };
      resume(Effect.succeed({ socket, api }));
    });
  });
}

export const NodeUdpLive = Layer.succeed(Udp, {
  bind: (options) =>
    Effect.acquireRelease(open(options), ({ socket }) =>
      Effect.async<void>((resume) => {
        try {
          socket.close(() => resume(Effect.void));
        } catch {
          resume(Effect.void); // already closed
        }
      }),
    ).pipe(Effect.map(({ api }) => api)),
});
