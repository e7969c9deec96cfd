/**
 * The PacketTap service (io/packet-tap.ts) over a SimHost.
 *
 * `SimHost.intercept` takes the datagrams to claimed destinations (received on any interface or
 * sent by the host itself) unless the rule exempts them, the tunnel packets to the host the
 * rule decapsulates (R4.2.3-7), and an observer of the home
 * interface's frames copies the IPv4 broadcasts the rule wants (link-layer broadcast/multicast
 * frames only) while the host processes them as usual. Each datagram is copied (the host's views
 * are valid only during its call) into a bounded queue that is emitted at the next clock step,
 * in batches of at most `maxBatch`: every datagram of one simulated instant goes through the
 * plane together, and the outputs leave outside the host's receive path. Arrivals beyond
 * `queueLimit` are shed and counted. What the tap sends is never captured again.
 */
import { Effect, Layer } from 'effect';
import { Subject } from 'rxjs';
import type { Alarm, Clock } from '../clock.js';
import type { LinkInterface } from '../link.js';
import {
  DEFAULT_TAP_MAX_BATCH,
  DEFAULT_TAP_QUEUE_LIMIT,
  PacketTap,
  PacketTapError,
  linkBroadcastDatagram,
  type OpenedPacketTap,
  type Packet,
  type PacketTapCounters,
  type PacketTapOptions,
} from '../packet-tap.js';
import type { Ipv4Address } from '../wire/bytes.js';
import { ipv4Destination } from '../wire/ipv4.js';
import type { SendIpResult, SimHost } from './ip-host.js';

const SENT: ReadonlySet<SendIpResult> = new Set<SendIpResult>(['sent', 'queued', 'looped']);

/**
 * The input edge: a bounded queue emitted as batches of at most `maxBatch` at the next step of
 * `clock` (an alarm at the current time), shedding (and counting) beyond `queueLimit`.
 */
function instantBatches(clock: Clock, options: PacketTapOptions, counters: PacketTapCounters, batches: Subject<Packet[]>) {
  const maxBatch = options.maxBatch ?? DEFAULT_TAP_MAX_BATCH;
  const queueLimit = options.queueLimit ?? DEFAULT_TAP_QUEUE_LIMIT;
  if (!Number.isInteger(queueLimit) || queueLimit < 1) throw new RangeError('queueLimit must be an integer >= 1');
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError('maxBatch must be an integer >= 1');
  const queue: Packet[] = [];
  let drainAlarm: Alarm | undefined;
  let closed = false;
  function drain(): void {
    drainAlarm = undefined;
    while (queue.length > 0 && !closed) {
      counters.batches++;
      batches.next(queue.splice(0, maxBatch));
    }
  }
  return {
    enqueue(packet: Packet): void {
      counters.captured++;
      if (queue.length >= queueLimit) {
        counters.shed++;
        return;
      }
      queue.push(packet);
      if (drainAlarm === undefined) drainAlarm = clock.setAlarm(clock.now(), drain);
    },
    queued: () => queue.length,
    flush(): void {
      drainAlarm?.cancel();
      drain();
    },
    close(): void {
      closed = true;
      drainAlarm?.cancel();
      queue.length = 0;
    },
  };
}

function openSimTap(host: SimHost, options: PacketTapOptions): { tap: OpenedPacketTap; close: () => void } {
  const { rule, homeInterface } = options;
  const claimed = new Set<number>();
  const counters: PacketTapCounters = { captured: 0, shed: 0, batches: 0 };
  const batches = new Subject<Packet[]>();
  const input = instantBatches(host.clock, options, counters, batches);
  const enqueue = input.enqueue;
  const views: Array<LinkInterface & { close(): void }> = [];
  let closed = false;
  /** True while the tap sends: its own output is never captured again. */
  let emitting = false;

  const stopIntercept = host.intercept(
    (datagram) =>
      !emitting && !closed && ((claimed.has(ipv4Destination(datagram, 0) | 0) && !rule.exempts(datagram)) || rule.decapsulates?.(datagram) === true),
    (datagram, info) => enqueue(info.interface === undefined ? { bytes: datagram.slice() } : { bytes: datagram.slice(), ingress: info.interface }),
  );
  const stopFrames = host.onFrame(homeInterface, (frame) => {
    if (emitting || closed) return;
    const datagram = linkBroadcastDatagram(frame);
    if (datagram !== undefined && rule.copies(datagram)) enqueue({ bytes: datagram.slice(), ingress: homeInterface, linkBroadcast: true });
  });

  let errorHandler: ((error: PacketTapError) => void) | undefined;
  function send(datagram: Uint8Array): boolean {
    if (closed) {
      errorHandler?.(new PacketTapError({ reason: 'closed', source: 'sim', message: `the packet tap on ${host.name} was used after its scope closed` }));
      return false;
    }
    emitting = true;
    try {
      return SENT.has(host.sendIp(datagram));
    } finally {
      emitting = false;
    }
  }

  const tap: OpenedPacketTap = {
    batches: batches.asObservable(),
    counters,
    claim: (address: Ipv4Address) => void claimed.add(address | 0),
    unclaim: (address: Ipv4Address) => void claimed.delete(address | 0),
    send: (datagram) => send(datagram),
    sendBatch(datagrams, _destinations, count) {
      let sent = 0;
      for (let i = 0; i < count; i++) if (send(datagrams[i]!)) sent++;
      return sent;
    },
    // The host routes it as it would have: the claim no longer holds for the tap's own sends.
    reinject: (datagram) => send(datagram),
    route: (datagram) => send(datagram),
    openHomeLink() {
      const view = host.linkInterface(homeInterface);
      views.push(view);
      return view;
    },
    onError(handler) {
      errorHandler = handler;
    },
    queued: input.queued,
    flush: input.flush,
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    stopIntercept();
    stopFrames();
    input.close();
    claimed.clear();
    for (const view of views) view.close();
    batches.complete();
  };
  return { tap, close };
}

/** The PacketTap service over `host` (its clock paces the batches). */
export function simPacketTapLayer(host: SimHost): Layer.Layer<PacketTap> {
  return Layer.succeed(PacketTap, {
    open: (options) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => openSimTap(host, options),
          catch: (error) => new PacketTapError({ reason: 'device', source: 'sim', message: (error as Error).message }),
        }),
        ({ close }) => Effect.sync(close),
      ).pipe(Effect.map(({ tap }) => tap)),
  });
}
