/**
 * The Link service on Linux: Ethernet frames through an AF_PACKET socket bound to one
 * interface (native helper), read in batches on Node's event loop.
 *
 * Frames the host sends itself come back on an ETH_P_ALL socket as PACKET_OUTGOING; they are
 * dropped here so `onFrame` sees only what arrived from the link, as in the simulated world.
 * Short frames are zero-padded to the 60-byte Ethernet minimum before sending (link.ts: the
 * interface pads; veth and some drivers do not).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Effect, Layer } from 'effect';
import { Link, LinkError, type FrameInfo, type LinkInterface } from '../link.js';
import { ETHERNET_HEADER_LENGTH, parseMac, type MacAddress } from '../wire/ethernet.js';
import {
  BatchReader,
  DescriptorKind,
  interfaceNameProblem,
  type NativeError,
  isNativeError,
  loadNative,
  PACKET_CHECKSUM_NOT_READY,
  PACKET_OUTGOING,
  PACKET_TRUNCATED,
  SingleSender,
  type ReaderOptions,
} from './native.js';

// Shared per-frame infos: handing one to each frame allocates nothing.
const CHECKSUM_READY: FrameInfo = Object.freeze({ checksumNotReady: false });
const CHECKSUM_NOT_READY: FrameInfo = Object.freeze({ checksumNotReady: true });

/**
 * The receive queue of a link's AF_PACKET socket, forced past net.core.rmem_max where the
 * process may: the kernel's 208 KiB default holds about 90 full-size frames, less than a TCP
 * burst a visitor sends into a reverse tunnel (see DEFAULT_RAW_RECEIVE_BUFFER_BYTES in raw-ip.ts).
 */
export const DEFAULT_LINK_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** Smallest Ethernet frame without the FCS. */
const MINIMUM_FRAME_LENGTH = 60;

export interface InterfaceInfo {
  readonly mac: MacAddress;
  readonly mtu: number;
}

/**
 * Reads an interface's address and MTU; undefined when there is no such interface. sysfs shows
 * the namespace it was mounted in, which is not this process's after `nsenter --net` (how
 * daemons that pin BPF are started): when sysfs's ifindex differs from this namespace's, the
 * answer comes from `ip -j link` (netlink, this namespace) instead.
 */
export function readInterfaceInfo(name: string): InterfaceInfo | undefined {
  // A name with a slash or dot-dot would escape /sys/class/net.
  if (interfaceNameProblem(name) !== undefined) return undefined;
  const ifindex = nativeInterfaceIndex(name);
  try {
    const base = `/sys/class/net/${name}`;
    const sysfsIndex = Number.parseInt(readFileSync(`${base}/ifindex`, 'utf8').trim(), 10);
    if (ifindex === undefined || sysfsIndex === ifindex) {
      const mac = parseMac(readFileSync(`${base}/address`, 'utf8').trim()) ?? '00:00:00:00:00:00';
      const mtu = Number.parseInt(readFileSync(`${base}/mtu`, 'utf8').trim(), 10);
      return { mac, mtu: Number.isFinite(mtu) ? mtu : 1500 };
    }
  } catch {
    if (ifindex === undefined) return undefined;
  }
  return ifindex === undefined || ifindex === 0 ? undefined : interfaceInfoFromNetlink(name);
}

function nativeInterfaceIndex(name: string): number | undefined {
  try {
    return loadNative().interfaceIndex(name);
  } catch {
    return undefined;
  }
}

function interfaceInfoFromNetlink(name: string): InterfaceInfo | undefined {
  try {
    const [link] = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ address?: string; mtu?: number }>;
    if (link === undefined) return undefined;
    return { mac: parseMac(link.address ?? '') ?? '00:00:00:00:00:00', mtu: link.mtu ?? 1500 };
  } catch {
    return undefined;
  }
}

function openError(name: string, error: unknown): LinkError {
  if (!isNativeError(error)) {
    return new LinkError({ reason: 'closed', interfaceName: name, message: `cannot open ${name}: ${String(error)}` });
  }
  switch (error.code) {
    case 'EPERM':
    case 'EACCES':
      return new LinkError({
        reason: 'permission',
        interfaceName: name,
        message: `no permission for AF_PACKET on ${name}: run as root or grant CAP_NET_RAW`,
      });
    case 'ENODEV':
    case 'ENXIO':
      return new LinkError({
        reason: 'no-such-interface',
        interfaceName: name,
        message: `no interface named ${name} on this host (or in this network namespace)`,
      });
    default:
      return new LinkError({ reason: 'closed', interfaceName: name, message: `cannot open AF_PACKET on ${name}: ${error.message}` });
  }
}

function sendError(name: string, error: NativeError | Error): LinkError {
  return new LinkError({ reason: 'send', interfaceName: name, message: `sending a frame on ${name} failed: ${error.message}` });
}

interface OpenLink {
  readonly api: LinkInterface;
  readonly release: () => void;
}

function openLink(name: string, inUse: Set<string>, options: ReaderOptions): Effect.Effect<OpenLink, LinkError> {
  return Effect.suspend(() => {
    if (inUse.has(name)) {
      return Effect.fail(
        new LinkError({ reason: 'in-use', interfaceName: name, message: `${name} is already open in this process` }),
      );
    }
    const info = readInterfaceInfo(name);
    if (info === undefined) {
      return Effect.fail(
        new LinkError({
          reason: 'no-such-interface',
          interfaceName: name,
          message: `no interface named ${name} on this host (or in this network namespace)`,
        }),
      );
    }
    return Effect.try({
      try: () => {
        const native = loadNative();
        const { fd } = native.openPacket(name);
        try {
          native.setSocketBuffers(fd, DEFAULT_LINK_RECEIVE_BUFFER_BYTES, 0);
        } catch (error) {
          native.close(fd);
          throw error;
        }
        let droppedWhenClosed = 0;
        let frameHandler: (frame: Uint8Array, info?: FrameInfo) => void = () => {};
        let errorHandler: (error: LinkError) => void = () => {};
        let closed = false;
        const maxFrame = ETHERNET_HEADER_LENGTH + info.mtu;
        const padded = new Uint8Array(MINIMUM_FRAME_LENGTH);
        const sender = new SingleSender(native, fd, DescriptorKind.Packet);
        let reader: BatchReader;
        try {
          reader = new BatchReader(
            native,
            fd,
            DescriptorKind.Packet,
            { slotSize: Math.max(2048, maxFrame + 64), ...options },
            (batch) => {
              for (let i = 0; i < batch.count; i++) {
                const extra = batch.extra(i);
                if ((extra & 0xff) === PACKET_OUTGOING) continue;
                if ((extra & PACKET_TRUNCATED) !== 0) continue; // larger than the MTU: not ours to see
                frameHandler(batch.packet(i), (extra & PACKET_CHECKSUM_NOT_READY) !== 0 ? CHECKSUM_NOT_READY : CHECKSUM_READY);
              }
            },
            (error) =>
              errorHandler(
                new LinkError({ reason: 'closed', interfaceName: name, message: `reading ${name} failed: ${error.message}` }),
              ),
          );
        } catch (error) {
          native.close(fd);
          throw error;
        }
        inUse.add(name);
        const api: LinkInterface = {
          name,
          mac: info.mac,
          mtu: info.mtu,
          descriptor: fd,
          send(frame) {
            if (closed) {
              errorHandler(new LinkError({ reason: 'closed', interfaceName: name, message: `${name} is closed` }));
              return;
            }
            if (frame.length < ETHERNET_HEADER_LENGTH || frame.length > maxFrame) {
              errorHandler(
                new LinkError({
                  reason: 'send',
                  interfaceName: name,
                  message: `frame of ${frame.length} bytes does not fit ${name} (14..${maxFrame})`,
                }),
              );
              return;
            }
            let out = frame;
            if (frame.length < MINIMUM_FRAME_LENGTH) {
              padded.fill(0);
              padded.set(frame);
              out = padded;
            }
            try {
              if (sender.send(out) === 0) {
                errorHandler(sendError(name, new Error('the socket queue is full (frame dropped)')));
              }
            } catch (error) {
              errorHandler(sendError(name, error as Error));
            }
          },
          onFrame(handler) {
            frameHandler = handler;
          },
          onError(handler) {
            errorHandler = handler;
          },
          offloads() {
            return closed ? undefined : native.tunOffloadCounters(fd);
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
          inUse.delete(name);
        };
        return { api, release };
      },
      catch: (error) => openError(name, error),
    });
  });
}

/** The Link service over AF_PACKET; needs root or CAP_NET_RAW. */
export function makeLinuxLink(options: ReaderOptions = {}) {
  const inUse = new Set<string>();
  return Layer.succeed(Link, {
    open: (name) =>
      Effect.acquireRelease(openLink(name, inUse, options), ({ release }) => Effect.sync(release)).pipe(
        Effect.map(({ api }) => api),
      ),
  });
}

export const LinuxLinkLive = makeLinuxLink();
