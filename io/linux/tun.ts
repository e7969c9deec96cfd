/**
 * The Tun service on Linux: an IFF_TUN | IFF_NO_PI device (native helper), drained in batches
 * on each wakeup; with `offload`, IFF_VNET_HDR and TUNSETOFFLOAD too, undone by the helper's
 * reader (native/tun.c "TUN offloads") so handlers see the same datagrams either way. The device is not persistent: closing the scope closes the descriptor and
 * the kernel removes the device with its addresses and routes.
 */
import { existsSync } from 'node:fs';
import { Effect, Layer } from 'effect';
import { Tun, TunError, type TunDevice, type TunOpenOptions } from '../tun.js';
import { BatchReader, DescriptorKind, interfaceNameProblem, isNativeError, loadNative, SingleSender, TunOffloadFlag } from './native.js';
import { deviceDropsReader } from './device-drops.js';

function openError(name: string, error: unknown): TunError {
  if (error instanceof TunError) return error;
  if (!isNativeError(error)) {
    if (error instanceof RangeError) {
      return new TunError({ reason: 'invalid-name', interfaceName: name, message: `invalid TUN device name: ${error.message}` });
    }
    return new TunError({ reason: 'closed', interfaceName: name, message: `cannot open TUN ${name}: ${String(error)}` });
  }
  // The device was created but the kernel refused IFF_VNET_HDR offloads (an old or unusual kernel).
  if (error.message.includes('TUNSETOFFLOAD')) {
    return new TunError({ reason: 'offload', interfaceName: name, message: `the kernel refused TUN offloads on ${name}: ${error.message}` });
  }
  switch (error.code) {
    case 'EPERM':
    case 'EACCES':
      return new TunError({
        reason: 'permission',
        interfaceName: name,
        message: `no permission to create TUN device ${name}: run as root or grant CAP_NET_ADMIN`,
      });
    case 'EBUSY':
    case 'EEXIST':
      return new TunError({
        reason: 'in-use',
        interfaceName: name,
        message: `cannot create TUN device ${name}: the name is taken by another device or process`,
      });
    case 'EINVAL':
      return new TunError({
        reason: 'in-use',
        interfaceName: name,
        message: `cannot create TUN device ${name}: an interface of that name exists and is not a TUN device`,
      });
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new TunError({
        reason: 'unsupported',
        interfaceName: name,
        message: `cannot create TUN device ${name}: this system has no TUN driver (/dev/net/tun)`,
      });
    default:
      return new TunError({ reason: 'closed', interfaceName: name, message: `cannot open TUN ${name}: ${error.message}` });
  }
}

function open(
  requested: string,
  options: TunOpenOptions,
): Effect.Effect<{ api: TunDevice; release: () => void }, TunError> {
  return Effect.try({
    try: () => {
      const problem = interfaceNameProblem(requested.replace('%d', '0'));
      if (problem !== undefined) throw new RangeError(problem);
      if (!existsSync('/dev/net/tun')) throw Object.assign(new Error('no /dev/net/tun'), { code: 'ENOENT' });
      const native = loadNative();
      const { fd, name, offloads } = native.openTun(requested, { offload: options.offload === true });
      if (options.mtu !== undefined) {
        try {
          native.setMtu(name, options.mtu);
        } catch (error) {
          native.close(fd);
          throw new TunError({
            reason: 'mtu',
            interfaceName: name,
            message: `cannot set the MTU of TUN ${name} to ${options.mtu}: ${(error as Error).message}`,
          });
        }
      }
      let batchHandler: (batch: BatchReader) => void = () => {};
      let errorHandler: (error: TunError) => void = () => {};
      let closed = false;
      let reader: BatchReader;
      try {
        reader = new BatchReader(
          native,
          fd,
          DescriptorKind.Tun,
          options,
          (batch) => batchHandler(batch),
          (error) => errorHandler(new TunError({ reason: 'receive', interfaceName: name, message: `reading TUN ${name} failed: ${error.message}` })),
        );
      } catch (error) {
        native.close(fd);
        throw error;
      }
      const sender = new SingleSender(native, fd, DescriptorKind.Tun);
      const failed = (error: unknown) =>
        errorHandler(
          new TunError({ reason: 'send', interfaceName: name, message: `writing to TUN ${name} failed: ${(error as Error).message}` }),
        );
      const closedError = () => errorHandler(new TunError({ reason: 'closed', interfaceName: name, message: `TUN ${name} is closed` }));
      const api: TunDevice = {
        name,
        send(datagram) {
          if (closed) {
            closedError();
            return false;
          }
          try {
            return sender.send(datagram) === 1;
          } catch (error) {
            failed(error);
            return false;
          }
        },
        sendBatch(batch) {
          if (closed) {
            closedError();
            return 0;
          }
          try {
            return native.sendBatch(fd, DescriptorKind.Tun, batch.slab, batch.offsets, batch.lengths, batch.count);
          } catch (error) {
            failed(error);
            return 0;
          }
        },
        onPackets(handler) {
          batchHandler = handler;
        },
        onError(handler) {
          errorHandler = handler;
        },
        deviceDrops: deviceDropsReader(name),
        offloads() {
          if (options.offload !== true || closed) return undefined;
          const counters = native.tunOffloadCounters(fd);
          if (counters === undefined) return undefined;
          return {
            tcpSegmentation: (offloads & TunOffloadFlag.Tso4) !== 0,
            udpSegmentation: (offloads & TunOffloadFlag.Uso4) !== 0,
            ...counters,
          };
        },
      };
      const release = () => {
        if (closed) return;
        closed = true;
        reader.stop();
        native.close(fd);
      };
      return { api, release };
    },
    catch: (error) => openError(requested, error),
  });
}

export const LinuxTunLive = Layer.succeed(Tun, {
  open: (name, options = {}) =>
    Effect.acquireRelease(open(name, options), ({ release }) => Effect.sync(release)).pipe(Effect.map(({ api }) => api)),
});
