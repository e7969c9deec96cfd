/**
 * The RawIp service on Linux: an AF_INET SOCK_RAW socket per IP protocol (native helper),
 * read with recvmmsg and written with sendmmsg in batches.
 *
 * A raw IPv4 socket receives a copy of every datagram of its protocol addressed to this host
 * (header included), whichever interface it came in on; the kernel fills in the checksum and
 * total length of a header-included datagram it sends, and an identification of 0.
 */
import { Effect, Layer } from 'effect';
import { RawIp, RawIpError, type RawIpOpenOptions, type RawIpSocket } from '../raw-ip.js';
import type { SlabBatch } from '../tun.js';
import { BatchReader, DescriptorKind, isNativeError, loadNative, SingleSender } from './native.js';

/**
 * The receive queue every raw socket asks for, forced past net.core.rmem_max where the process
 * may (root). The kernel's default, about 208 KiB, holds some 90 tunnelled full-size datagrams:
 * measured in the lab, a TCP stream through the tunnel overflowed it at the foreign agent and
 * the co-located node (/proc/net/raw drops = the sender's retransmissions). 4 MiB holds a
 * window's worth (about 1,800 of them) while the event loop does something else.
 */
export const DEFAULT_RAW_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

function openError(protocol: number, error: unknown, options: RawIpOpenOptions): RawIpError {
  if (error instanceof RangeError) {
    return new RawIpError({ reason: 'protocol', protocol, message: `invalid IP protocol ${protocol}: ${error.message}` });
  }
  if (isNativeError(error)) {
    switch (error.code) {
      case 'EPERM':
      case 'EACCES':
        return new RawIpError({
          reason: 'permission',
          protocol,
          message: `no permission for a raw IPv4 socket (protocol ${protocol}): run as root or grant CAP_NET_RAW`,
        });
      case 'ENODEV':
        return new RawIpError({ reason: 'closed', protocol, message: `cannot bind a raw IPv4 socket to ${String(options.device)}: no such interface` });
      case 'EPROTONOSUPPORT':
      case 'EINVAL':
        return new RawIpError({ reason: 'protocol', protocol, message: `raw IPv4 sockets do not support protocol ${protocol}` });
      default:
        break;
    }
  }
  return new RawIpError({ reason: 'closed', protocol, message: `cannot open a raw IPv4 socket for protocol ${protocol}: ${String(error)}` });
}

function open(protocol: number, options: RawIpOpenOptions): Effect.Effect<{ api: RawIpSocket; release: () => void }, RawIpError> {
  return Effect.try({
    try: () => {
      if (!Number.isInteger(protocol) || protocol < 1 || protocol > 255) throw new RangeError('protocol must be 1..255');
      const native = loadNative();
      const headerIncluded = options.headerIncluded ?? false;
      const fd = native.openRawIp(protocol, {
        hdrincl: headerIncluded,
        ...(options.device !== undefined ? { device: options.device } : {}),
      });
      try {
        native.setSocketBuffers(fd, options.receiveBufferBytes ?? DEFAULT_RAW_RECEIVE_BUFFER_BYTES, 0);
      } catch (error) {
        native.close(fd);
        throw error;
      }
      let batchHandler: (batch: SlabBatch) => void = () => {};
      let errorHandler: (error: RawIpError) => void = () => {};
      let closed = false;
      let droppedWhenClosed = 0;
      let reader: BatchReader;
      try {
        reader = new BatchReader(
          native,
          fd,
          DescriptorKind.RawIp,
          options,
          (batch) => batchHandler(batch),
          (error) => errorHandler(new RawIpError({ reason: 'receive', protocol, message: `reading raw protocol ${protocol} failed: ${error.message}` })),
        );
      } catch (error) {
        native.close(fd);
        throw error;
      }
      const sender = new SingleSender(native, fd, DescriptorKind.RawIp);
      const failed = (error: unknown) =>
        errorHandler(new RawIpError({ reason: 'send', protocol, message: `sending raw protocol ${protocol} failed: ${(error as Error).message}` }));
      const closedError = () => errorHandler(new RawIpError({ reason: 'closed', protocol, message: `raw protocol ${protocol} socket is closed` }));
      const api: RawIpSocket = {
        protocol,
        headerIncluded,
        send(datagram, destination) {
          if (closed) {
            closedError();
            return false;
          }
          try {
            return sender.send(datagram, destination) === 1;
          } catch (error) {
            failed(error);
            return false;
          }
        },
        sendBatch(batch, destinations) {
          if (closed) {
            closedError();
            return 0;
          }
          try {
            return native.sendBatch(fd, DescriptorKind.RawIp, batch.slab, batch.offsets, batch.lengths, batch.count, destinations);
          } catch (error) {
            failed(error);
            return 0;
          }
        },
        onPacket(handler) {
          batchHandler = (batch) => {
            for (let i = 0; i < batch.count; i++) handler(batch.packet(i), batch.source(i));
          };
        },
        onPackets(handler) {
          batchHandler = handler;
        },
        onError(handler) {
          errorHandler = handler;
        },
        receiveQueueDrops() {
          return closed ? droppedWhenClosed : native.socketDrops(fd);
        },
      };
      const release = () => {
        if (closed) return;
        droppedWhenClosed = native.socketDrops(fd);
        closed = true;
        reader.stop();
        native.close(fd);
      };
      return { api, release };
    },
    catch: (error) => openError(protocol, error, options),
  });
}

export const LinuxRawIpLive = Layer.succeed(RawIp, {
  open: (protocol, options = {}) =>
    Effect.acquireRelease(open(protocol, options), ({ release }) => Effect.sync(release)).pipe(Effect.map(({ api }) => api)),
});
