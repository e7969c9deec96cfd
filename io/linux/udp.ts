/**
 * The Udp service on the native helper (Linux): datagrams move in batches.
 *
 * node:dgram costs one recvmsg/sendmsg and one libuv callback per datagram (~25-30 µs on the
 * bench machine), more than the home agent's own work per registration. Here a wake-up drains
 * up to RECEIVE_BATCH datagrams with one recvmmsg; the replies the handler sends meanwhile are
 * queued and leave together with one sendmmsg when the batch has been handled. A send made
 * outside a batch (a timer, another socket's handler) leaves on a microtask, so it is never
 * held longer than the current turn of the event loop.
 *
 * A full socket buffer (EAGAIN) does not lose a reply silently: the queue waits for the
 * socket to become writable and goes on in order. The queue is bounded (SEND_QUEUE_DATAGRAMS,
 * SEND_QUEUE_BYTES): a router under a flood that outruns its link drops the newest replies,
 * each reported through onError, rather than growing without limit; a mobile node whose reply
 * is lost retransmits its request (RFC 5944 3.6.3).
 *
 * Each datagram also reports the address it was sent to (IP_PKTINFO), so a home agent bound
 * to 0.0.0.0 or to a broadcast address sees broadcast requests as such (3.8.2.1).
 *
 * UDP GSO: where the kernel offers UDP_SEGMENT, a batch goes out with sendUdpSegmented
 * (native/udp-gso.c), which sends each run of same-size datagrams to one destination (an RFC
 * 3519 tunnel's data messages to one NAT address and port) as one message the kernel cuts at
 * the end: about a quarter of the sender's CPU per datagram (bench/udp-gso.ts,
 * docs/performance.md). Datagrams of other sizes or destinations (registration replies) go as
 * before. A socket whose kernel refuses a GSO send (EIO, EINVAL, EOPNOTSUPP) sends that batch
 * and every later one without it; MIP4_UDP_GSO=0 turns it off.
 */
import { Effect, Layer } from 'effect';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import { Udp, UDP_RECEIVE_BUFFER_BYTES, UdpError, udpBindError, type UdpBindOptions, type UdpDatagram, type UdpSocket } from '../udp.js';
import {
  BatchReader,
  DescriptorKind,
  errnoName,
  isNativeError,
  loadNative,
  NativeHelperLoadError,
  NativeHelperMissingError,
  type NativeIo,
  type WatchHandle,
} from './native.js';

/** Datagrams drained per wake-up (one recvmmsg). */
export const RECEIVE_BATCH = 64;
/**
 * A receive slot holds the largest UDP payload IPv4 can carry (65,507 bytes), so every
 * datagram reaches the handler whole, as with node:dgram, and a huge one is the agent's to
 * discard and count. The slab is 4 MiB of address space, but the kernel writes only what
 * arrives: a slot costs the pages its datagram touches (one for a registration).
 */
const RECEIVE_SLOT_BYTES = 65536;
/** Replies waiting for one sendmmsg, or for room in the socket buffer. */
export const SEND_QUEUE_DATAGRAMS = 1024;
/** Bytes of queued replies; holds any legal UDP datagram (65,507 bytes) several times. */
export const SEND_QUEUE_BYTES = 256 * 1024;
/** Socket send buffer requested (capped by net.core.wmem_max): room for a batch of replies. */
const SEND_BUFFER_BYTES = 1024 * 1024;

/** Errors with which a kernel refuses a UDP_SEGMENT send (udp_send_skb): the socket goes on without GSO. */
const GSO_REFUSED = new Set([5 /* EIO */, 22 /* EINVAL */, 95 /* EOPNOTSUPP */]);

/** Whether a new socket may use UDP GSO: the addon has it, the kernel offers it, MIP4_UDP_GSO is not 0. */
export function udpGsoUsable(native: NativeIo, fd: number): boolean {
  if (process.env.MIP4_UDP_GSO === '0') return false;
  return typeof native.sendUdpSegmented === 'function' && typeof native.udpSegmentSupported === 'function' && native.udpSegmentSupported(fd);
}

/** Replies in a slab, sent with one sendmmsg; bounded; waits for writability on EAGAIN. Exported for tests with a fake native helper. */
export class SendQueue {
  private readonly slab = new Uint8Array(SEND_QUEUE_BYTES);
  private readonly offsets = new Int32Array(SEND_QUEUE_DATAGRAMS);
  private readonly lengths = new Int32Array(SEND_QUEUE_DATAGRAMS);
  private readonly addresses = new Uint32Array(SEND_QUEUE_DATAGRAMS);
  private readonly ports = new Int32Array(SEND_QUEUE_DATAGRAMS);
  /** Source address per datagram (0: the kernel chooses); used only by a wildcard socket. */
  private readonly sources = new Uint32Array(SEND_QUEUE_DATAGRAMS);
  /** A datagram with a source address is queued: the batch carries the sources. */
  private withSources = false;
  /** First datagram not yet sent. */
  private head = 0;
  /** Datagrams queued (sent or not) since the queue was last empty. */
  private tail = 0;
  private bytes = 0;
  /** Waiting for the socket to become writable: nothing is tried until it is. */
  private waiting = false;
  private flushScheduled = false;
  /** Inside a received batch: the flush comes when the batch has been handled. */
  inBatch = false;
  private readonly watch: WatchHandle;
  private readonly flushTask = () => this.flush();
  /** Runs of same-size datagrams to one destination leave as one UDP GSO message. */
  segmented: boolean;
  /** Native send calls that sent something, and the datagrams they sent (datagrams per sendmmsg). */
  readonly counters = { sendCalls: 0, datagramsSent: 0 };

  constructor(
    private readonly native: NativeIo,
    private readonly fd: number,
    private readonly report: (error: UdpError) => void,
  ) {
    this.segmented = udpGsoUsable(native, fd);
    this.watch = native.watchWritable(fd, (status) => {
      this.waiting = false;
      if (status < 0) this.report(sendError(this.describeHead(), -status, 'waiting for the socket to become writable'));
      this.flush();
    });
  }

  push(data: Uint8Array, address: Ipv4Address, port: number, source: Ipv4Address): void {
    const length = data.length;
    if (this.tail === SEND_QUEUE_DATAGRAMS || this.bytes + length > SEND_QUEUE_BYTES) {
      // Full: send what is queued now unless the socket has no room (then the newest waits or goes).
      this.flush();
      if (this.tail === SEND_QUEUE_DATAGRAMS || this.bytes + length > SEND_QUEUE_BYTES) {
        const endpoint = `${ipv4ToString(address)}:${port}`;
        this.report(
          new UdpError({
            reason: 'send',
            endpoint,
            message:
              length > SEND_QUEUE_BYTES
                ? `send to ${endpoint}: a datagram of ${length} bytes is larger than UDP allows (EMSGSIZE)`
                : `send to ${endpoint}: dropped, ${this.tail - this.head} datagrams already wait for room in the socket buffer`,
          }),
        );
        return;
      }
    }
    const index = this.tail++;
    this.offsets[index] = this.bytes;
    this.lengths[index] = length;
    this.addresses[index] = address;
    this.ports[index] = port;
    this.sources[index] = source;
    if (source !== 0) this.withSources = true;
    this.slab.set(data, this.bytes);
    this.bytes += length;
    if (!this.inBatch && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  /**
   * Queues `count` datagrams and sends them with what is queued in one go (one sendmmsg for up
   * to SEND_QUEUE_DATAGRAMS): a data plane's batch of tunnel data messages. Inside a received
   * batch they wait for its flush like replies.
   */
  pushBatch(datagrams: readonly Uint8Array[], addresses: readonly Ipv4Address[], ports: readonly number[], count: number, source: Ipv4Address): void {
    const outer = this.inBatch;
    this.inBatch = true;
    try {
      for (let i = 0; i < count; i++) this.push(datagrams[i]!, addresses[i]! >>> 0, ports[i]!, source);
    } finally {
      this.inBatch = outer;
    }
    if (!outer) this.flush();
  }

  /** Sends what is queued; on EAGAIN arms the writability watch and keeps the rest in order. */
  flush(): void {
    this.flushScheduled = false;
    if (this.waiting) return;
    while (this.head < this.tail) {
      const sources = this.withSources ? this.sources : undefined;
      const sent = this.segmented
        ? this.native.sendUdpSegmented(this.fd, this.slab, this.offsets, this.lengths, this.addresses, this.ports, this.head, this.tail, sources)
        : this.native.sendUdpBatch(this.fd, this.slab, this.offsets, this.lengths, this.addresses, this.ports, this.head, this.tail, sources);
      if (sent > 0) {
        this.head += sent;
        this.counters.sendCalls++;
        this.counters.datagramsSent += sent;
      } else if (sent === 0) {
        this.waiting = true;
        this.native.armWritable(this.watch);
        return;
      } else if (this.segmented && GSO_REFUSED.has(-sent)) {
        // The kernel will not segment on this path: the same datagrams again, one by one.
        this.segmented = false;
      } else {
        // This one datagram failed (no route, EACCES for a broadcast, ...): report it, go on.
        this.report(sendError(this.describeHead(), -sent));
        this.head++;
      }
    }
    this.head = this.tail = this.bytes = 0;
    this.withSources = false;
  }

  private describeHead(): string {
    return `${ipv4ToString(this.addresses[this.head]! >>> 0)}:${this.ports[this.head]!}`;
  }

  /** Replies still queued when the socket closes get one last try, then are reported. */
  close(endpoint: string): void {
    this.native.stopWritable(this.watch);
    if (!this.waiting) this.flush();
    const left = this.tail - this.head;
    if (left > 0) {
      this.report(new UdpError({ reason: 'closed', endpoint, message: `UDP ${endpoint} closed with ${left} datagrams not sent (the socket buffer was full)` }));
    }
    this.head = this.tail = this.bytes = 0;
    this.waiting = true; // nothing more is tried
  }
}

function sendError(endpoint: string, errno: number, during?: string): UdpError {
  const code = errnoName(errno);
  return new UdpError({ reason: 'send', endpoint, message: `send to ${endpoint} failed: ${code}${during !== undefined ? ` (${during})` : ''}` });
}

function open(options: UdpBindOptions): Effect.Effect<{ api: UdpSocket; release: () => void }, UdpError> {
  const endpoint = `${ipv4ToString(options.address)}:${options.port}`;
  return Effect.try({
    try: () => {
      const native = loadNative();
      const bound = native.openUdp(options.address, options.port, {
        broadcast: options.broadcast ?? false,
        receiveBufferBytes: UDP_RECEIVE_BUFFER_BYTES,
        sendBufferBytes: SEND_BUFFER_BYTES,
      });
      const { fd } = bound;
      const localAddress = bound.address >>> 0;
      const localPort = bound.port;
      const local = `${ipv4ToString(localAddress)}:${localPort}`;
      let messageHandler: (datagram: UdpDatagram) => void = () => {};
      let errorHandler: (error: UdpError) => void = () => {};
      const report = (error: UdpError) => errorHandler(error);
      let queue: SendQueue | undefined;
      let reader: BatchReader;
      try {
        const sends = (queue = new SendQueue(native, fd, report));
        reader = new BatchReader(
          native,
          fd,
          DescriptorKind.Udp,
          { maxPackets: RECEIVE_BATCH, slotSize: RECEIVE_SLOT_BYTES },
          (batch) => {
            // The reader's slab is refilled by the next recvmmsg while a handler may keep a
            // datagram (a pending relay, a log): the batch is copied once into memory of its own.
            let total = 0;
            for (let i = 0; i < batch.count; i++) total += batch.length(i);
            const copy = new Uint8Array(total);
            let at = 0;
            sends.inBatch = true;
            try {
              for (let i = 0; i < batch.count; i++) {
                const length = batch.length(i);
                copy.set(batch.packet(i), at);
                const destination = batch.destination(i);
                messageHandler({
                  data: copy.subarray(at, at + length),
                  address: batch.source(i),
                  // The extra word is the source port (the truncation bit above it cannot be
                  // set: a slot holds any IPv4 UDP payload).
                  port: batch.extra(i) & 0xffff,
                  // Without IP_PKTINFO (never on Linux) the bound address is all we know.
                  localAddress: destination !== 0 ? destination : localAddress,
                  localPort,
                });
                at += length;
              }
            } finally {
              sends.inBatch = false;
              sends.flush();
            }
          },
          (error) => report(new UdpError({ reason: 'receive', endpoint: local, message: `reading UDP ${local} failed: ${error.code}` })),
        );
      } catch (error) {
        queue?.close(local);
        native.close(fd);
        throw error;
      }
      const sends = queue;
      let closed = false;
      const api: UdpSocket = {
        localAddress,
        localPort,
        send(data, address, port, source) {
          if (closed) {
            const to = `${ipv4ToString(address)}:${port}`;
            report(new UdpError({ reason: 'closed', endpoint: to, message: `send to ${to} after UDP ${local} closed` }));
            return;
          }
          // A bound socket always sends from its own address; a wildcard one from `source`.
          sends.push(data, address >>> 0, port, localAddress === 0 && source !== undefined ? source >>> 0 : 0);
        },
        sendBatch(datagrams, addresses, ports, count, source) {
          if (closed) {
            report(new UdpError({ reason: 'closed', endpoint: local, message: `send of ${count} datagrams after UDP ${local} closed` }));
            return;
          }
          sends.pushBatch(datagrams, addresses, ports, count, localAddress === 0 && source !== undefined ? source >>> 0 : 0);
        },
        sendCounters: sends.counters,
        onMessage(handler) {
          messageHandler = handler;
        },
        onError(handler) {
          errorHandler = handler;
        },
      };
      const release = () => {
        if (closed) return;
        closed = true;
        reader.stop();
        sends.close(local);
        native.close(fd);
      };
      return { api, release };
    },
    catch: (error) => {
      if (error instanceof NativeHelperMissingError || error instanceof NativeHelperLoadError) return new UdpError({ reason: 'bind', endpoint, message: `cannot bind UDP ${endpoint}: ${error.message}` });
      if (isNativeError(error)) return udpBindError(endpoint, error.code, error.message);
      return new UdpError({ reason: 'bind', endpoint, message: `cannot bind UDP ${endpoint}: ${String(error)}` });
    },
  });
}

/** The Udp service on the native helper (Linux only; binding fails with a clear message when it is not built). */
export const LinuxUdpLive = Layer.succeed(Udp, {
  bind: (options) => Effect.acquireRelease(open(options), ({ release }) => Effect.sync(release)).pipe(Effect.map(({ api }) => api)),
});
