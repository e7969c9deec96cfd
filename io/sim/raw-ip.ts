/**
 * The RawIp service (io/raw-ip.ts) over a SimHost: what a raw IPv4 socket per protocol gives
 * on Linux, here on the simulated IP stack. A socket receives every datagram of its protocol
 * delivered to the host (its addresses, broadcasts, joined groups), IPv4 header first, as
 * host.onIp does; it sends through the host's routing (sendIp when the caller wrote the
 * header, sendPacket otherwise). Batches are delivered one datagram per batch: the simulated
 * network has no wakeups to amortise.
 */
import { Effect, Layer } from 'effect';
import { RawIp, RawIpError, type RawIpSocket } from '../raw-ip.js';
import type { SlabBatch } from '../tun.js';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import { ipv4Source } from '../wire/ipv4.js';
import type { SendIpResult, SimHost } from './ip-host.js';

/** Results a Linux raw socket would report as a send error (ENETUNREACH, EMSGSIZE, EINVAL). */
const REPORTED: ReadonlySet<SendIpResult> = new Set<SendIpResult>(['no-route', 'too-big', 'malformed', 'no-such-interface']);

function singleBatch(datagram: Uint8Array, source: Ipv4Address): SlabBatch {
  return {
    count: 1,
    data: datagram,
    offset: () => 0,
    length: () => datagram.length,
    source: () => source,
    packet: () => datagram,
  };
}

/** raw(7): a socket of this protocol is send-only, header included. */
const IPPROTO_RAW = 255;

export function simRawIpLayer(host: SimHost): Layer.Layer<RawIp> {
  return Layer.succeed(RawIp, {
    open: (protocol, options = {}) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          if (!Number.isInteger(protocol) || protocol < 1 || protocol > IPPROTO_RAW) {
            return Effect.fail(
              new RawIpError({ reason: 'protocol', protocol, message: `IP protocol must be 1..255, got ${protocol}` }),
            );
          }
          // As on Linux (raw(7)): IPPROTO_RAW sends whole datagrams of any protocol and receives nothing.
          const sendOnly = protocol === IPPROTO_RAW;
          const headerIncluded = sendOnly || (options.headerIncluded ?? false);
          let deliver: ((datagram: Uint8Array, source: Ipv4Address) => void) | undefined;
          let errorHandler: ((error: RawIpError) => void) | undefined;
          let open = true;
          const unsubscribe = sendOnly ? () => {} : host.onIp(protocol, (datagram) => deliver?.(datagram, ipv4Source(datagram, 0)));
          const send = (datagram: Uint8Array, destination: Ipv4Address): boolean => {
            if (!open) {
              errorHandler?.(new RawIpError({ reason: 'closed', protocol, message: `raw socket for protocol ${protocol} used after its scope closed` }));
              return false;
            }
            const result = headerIncluded ? host.sendIp(datagram) : host.sendPacket({ protocol, destination, payload: datagram });
            if (REPORTED.has(result)) {
              errorHandler?.(
                new RawIpError({ reason: 'send', protocol, message: `${host.name} could not send to ${ipv4ToString(destination)}: ${result}` }),
              );
            }
            return true;
          };
          const socket: RawIpSocket = {
            protocol,
            headerIncluded,
            send,
            sendBatch: (batch, destinations) => {
              let sent = 0;
              // As sendmmsg: the first packet that cannot go ends the batch.
              for (let i = 0; i < batch.count; i++) {
                const start = batch.offsets[i]!;
                if (!send(batch.slab.subarray(start, start + batch.lengths[i]!), destinations[i]!)) break;
                sent++;
              }
              return sent;
            },
            onPacket: (handler) => {
              deliver = handler;
            },
            onPackets: (handler) => {
              deliver = (datagram, source) => handler(singleBatch(datagram, source));
            },
            onError: (handler) => {
              errorHandler = handler;
            },
          };
          return Effect.succeed({
            socket,
            close: () => {
              open = false;
              deliver = undefined;
              unsubscribe();
            },
          });
        }),
        ({ close }) => Effect.sync(close),
      ).pipe(Effect.map(({ socket }) => socket)),
  });
}
