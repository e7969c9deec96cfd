/**
 * A child process for the Linux IO tests: run inside a network namespace with
 * `ip netns exec NS node node_modules/vite-node/vite-node.mjs test/linux/peer.ts MODE ARGS`
 * (a Node process cannot move itself into another namespace). It drives the io/linux layers
 * and reports what it saw as one JSON object per stdout line; the test asserts on those.
 * Every mode exits on its own within DEADLINE_MS.
 */
import { Effect, Layer } from 'effect';
import { Link } from '../../io/link.js';
import { RawIp } from '../../io/raw-ip.js';
import { Tun } from '../../io/tun.js';
import { LinuxLinkLive } from '../../io/linux/packet.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { LinuxTunLive } from '../../io/linux/tun.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { decodeArpPacket, ArpOperation } from '../../io/wire/arp.js';
import { decodeEthernetFrame, encodeEthernetHeader, EtherType } from '../../io/wire/ethernet.js';
import { decodeIcmpEcho, encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { ipInIpDecapsulate, ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { AdvertisementFlag, agentAdvertisementLength, encodeAgentAdvertisement, makeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import { ethernetIsBroadcast } from '../../io/wire/ethernet.js';
import { icmpFrame } from '../../io/wire/frames.js';
import { decodeUdpDatagram, verifyUdpChecksum } from '../../io/wire/udp.js';
import { DescriptorKind, loadNative, META_WORDS, type ReaderHandle } from '../../io/linux/native.js';

/** A local experimental EtherType (IEEE 802 "Local Experimental Ethertype 1"). */
export const TEST_ETHERTYPE = 0x88b5;
const DEADLINE_MS = 10_000;

function report(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Runs `body` with the Linux layers until it resolves `done` or the deadline passes. */
function run(
  body: (done: (fields?: Record<string, unknown>) => void) => Effect.Effect<void, unknown, Link | Tun | RawIp | import('effect').Scope.Scope>,
): void {
  const program = Effect.scoped(
    Effect.gen(function* () {
      let finish: (fields?: Record<string, unknown>) => void = () => {};
      const finished = new Promise<Record<string, unknown> | undefined>((resolve) => {
        finish = resolve;
      });
      yield* body((fields) => finish(fields));
      const outcome = yield* Effect.promise(() =>
        Promise.race([finished, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), DEADLINE_MS))]),
      );
      if (outcome === 'timeout') {
        report('timeout');
        process.exitCode = 2;
      } else {
        report('done', outcome ?? {});
      }
    }),
  ).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        report('error', { tag: (error as { _tag?: string })._tag, ...(error as object), message: (error as Error).message });
        process.exitCode = 1;
      }),
    ),
    Effect.provide(Layer.mergeAll(LinuxLinkLive, LinuxRawIpLive, LinuxTunLive)),
  );
  void Effect.runPromise(program).then(() => process.exit());
}

const [mode, ...args] = process.argv.slice(2);

switch (mode) {
  // Opens a TUN device and answers the first ICMP echo request routed into it.
  case 'tun-echo':
    run((done) =>
      Effect.gen(function* () {
        const tun = yield* (yield* Tun).open(args[0]!);
        const reply = new Uint8Array(2048);
        tun.onError((error) => report('tun-error', { message: error.message }));
        tun.onPackets((batch) => {
          for (let i = 0; i < batch.count; i++) {
            const packet = decodeIpv4Packet(batch.data, batch.offset(i), batch.offset(i) + batch.length(i));
            if (!packet.ok || packet.value.header.protocol !== IpProtocol.ICMP) continue;
            const echo = decodeIcmpEcho(packet.value.payload);
            if (!echo.ok || echo.value.icmpType !== IcmpType.Echo) continue;
            const { header } = packet.value;
            // Build the reply payload right behind where its header goes, then the header.
            const icmpEnd = encodeIcmpEcho({ ...echo.value, icmpType: IcmpType.EchoReply }, reply, 20);
            const end = encodeIpv4Packet(
              {
                header: {
                  tos: 0,
                  identification: 1,
                  flags: 0,
                  fragmentOffset: 0,
                  ttl: 64,
                  protocol: IpProtocol.ICMP,
                  source: header.destination,
                  destination: header.source,
                },
                payload: reply.subarray(20, icmpEnd),
              },
              reply,
              0,
            );
            const written = tun.send(reply.subarray(0, end));
            done({
              batch: batch.count,
              from: ipv4ToString(header.source),
              to: ipv4ToString(header.destination),
              identifier: echo.value.identifier,
              sequence: echo.value.sequence,
              written,
            });
            return;
          }
        });
        report('ready', { name: tun.name });
      }),
    );
    break;

  // Waits for an ARP request on the interface, then sends a test frame to its sender.
  case 'link-arp':
    run((done) =>
      Effect.gen(function* () {
        const link = yield* (yield* Link).open(args[0]!);
        const frame = new Uint8Array(64);
        link.onError((error) => report('link-error', { message: error.message }));
        link.onFrame((received) => {
          const ethernet = decodeEthernetFrame(received);
          if (!ethernet.ok || ethernet.value.etherType !== EtherType.ARP) return;
          const arp = decodeArpPacket(ethernet.value.payload);
          if (!arp.ok || arp.value.operation !== ArpOperation.Request) return;
          const payload = new TextEncoder().encode('mip4 link test');
          encodeEthernetHeader(arp.value.senderMac, link.mac, TEST_ETHERTYPE, frame, 0);
          frame.set(payload, 14);
          link.send(frame.subarray(0, 14 + payload.length));
          done({
            senderMac: arp.value.senderMac,
            senderIp: ipv4ToString(arp.value.senderIp),
            targetIp: ipv4ToString(arp.value.targetIp),
            frameLength: received.length,
            mac: link.mac,
            mtu: link.mtu,
          });
        });
        report('ready', { mac: link.mac });
      }),
    );
    break;

  // Waits for a frame of the test EtherType.
  case 'link-expect':
    run((done) =>
      Effect.gen(function* () {
        const link = yield* (yield* Link).open(args[0]!);
        link.onFrame((received) => {
          const ethernet = decodeEthernetFrame(received);
          if (!ethernet.ok || ethernet.value.etherType !== TEST_ETHERTYPE) return;
          done({
            source: ethernet.value.source,
            destination: ethernet.value.destination,
            length: received.length,
            text: new TextDecoder().decode(ethernet.value.payload.subarray(0, 14)),
          });
        });
        report('ready', { mac: link.mac });
      }),
    );
    break;

  // Sends COUNT IP-in-IP datagrams (inner identification 1..COUNT) from SRC to DST in one
  // sendBatch call (or one send() when COUNT is 1), after a line on stdin.
  // Opens a TUN device (address 192.0.2.1/24 given by the test), then, told "go", sends COUNT
  // datagrams to 192.0.2.2 (routed into the device) without yielding, so that nothing reads the
  // device meanwhile; then lets the reader drain and reports what it read and what the kernel
  // says the device dropped (TunDevice.deviceDrops).
  case 'tun-overflow':
    run((done) =>
      Effect.gen(function* () {
        const [device, countText] = args as [string, string];
        const count = Number(countText);
        const tun = yield* (yield* Tun).open(device);
        const sender = yield* (yield* RawIp).open(253, {});
        let read = 0;
        tun.onPackets((batch) => {
          for (let i = 0; i < batch.count; i++) if (batch.data[batch.offset(i) + 9] === 253) read++;
        });
        tun.onError((error) => report('tun-error', { message: error.message }));
        report('ready', { name: tun.name });
        yield* Effect.promise(() => new Promise<void>((resolve) => process.stdin.once('data', () => resolve())));
        process.stdin.pause();
        const before = tun.deviceDrops?.() ?? { receiveDropped: -1, transmitDropped: -1 };
        const payload = new Uint8Array(1000);
        let sent = 0;
        for (let i = 0; i < count; i++) if (sender.send(payload, ipv4('192.0.2.2'))) sent++;
        for (let waited = 0; waited < 3_000; waited += 20) {
          const drops = (tun.deviceDrops?.().transmitDropped ?? 0) - before.transmitDropped;
          if (read + drops >= sent) break;
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)));
        }
        const after = tun.deviceDrops?.() ?? { receiveDropped: -1, transmitDropped: -1 };
        done({ sent, read, transmitDropped: after.transmitDropped - before.transmitDropped });
      }),
    );
    break;
  case 'raw-send':
    run((done) =>
      Effect.gen(function* () {
        const [source, destination, countText] = args as [string, string, string];
        const count = Number(countText);
        const socket = yield* (yield* RawIp).open(IpProtocol.IPIP, { headerIncluded: true });
        const slotSize = 128;
        const slab = new Uint8Array(count * slotSize);
        const offsets = new Int32Array(count);
        const lengths = new Int32Array(count);
        const destinations = new Uint32Array(count).fill(ipv4(destination));
        const inner = new Uint8Array(128);
        for (let i = 0; i < count; i++) {
          // Inner: home agent → mobile node's home address, a UDP-less payload of 8 bytes.
          const innerEnd = encodeIpv4Packet(
            {
              header: {
                tos: 0,
                identification: i + 1,
                flags: 0,
                fragmentOffset: 0,
                ttl: 64,
                protocol: 253, // RFC 3692 experimental
                source: ipv4('203.0.113.1'),
                destination: ipv4('203.0.113.77'),
              },
              payload: new TextEncoder().encode(`pkt${String(i).padStart(4, '0')}`),
            },
            inner,
            0,
          );
          offsets[i] = i * slotSize;
          lengths[i] =
            ipInIpEncapsulate(
              inner.subarray(0, innerEnd),
              { source: ipv4(source), destination: ipv4(destination), identification: 0x1000 + i },
              slab,
              i * slotSize,
            ) -
            i * slotSize;
        }
        socket.onError((error) => report('raw-error', { message: error.message }));
        // Starting Node takes seconds, so the test starts both sides at once and says "go"
        // (a line on stdin) once the receiver is listening.
        report('ready');
        yield* Effect.promise(() => new Promise<void>((resolve) => process.stdin.once('data', () => resolve())));
        process.stdin.pause();
        const sent = count === 1 ? (socket.send(slab.subarray(0, lengths[0]), ipv4(destination)) ? 1 : 0) : socket.sendBatch({ slab, offsets, lengths, count }, destinations);
        done({ sent });
      }),
    );
    break;

  // Receives IP-in-IP datagrams until COUNT distinct inner identifications have arrived.
  case 'raw-expect':
    run((done) =>
      Effect.gen(function* () {
        const count = Number(args[0]);
        const socket = yield* (yield* RawIp).open(IpProtocol.IPIP);
        const seen = new Set<number>();
        let batches = 0;
        let largestBatch = 0;
        let firstSource = '';
        let firstText = '';
        socket.onPackets((batch) => {
          batches++;
          largestBatch = Math.max(largestBatch, batch.count);
          for (let i = 0; i < batch.count; i++) {
            const tunnel = ipInIpDecapsulate(batch.data, batch.offset(i), batch.offset(i) + batch.length(i));
            if (!tunnel.ok) continue;
            const inner = decodeIpv4Packet(tunnel.value.inner);
            if (!inner.ok) continue;
            if (seen.size === 0) {
              firstSource = ipv4ToString(batch.source(i));
              firstText = `${ipv4ToString(inner.value.header.source)} -> ${ipv4ToString(inner.value.header.destination)} ${new TextDecoder().decode(inner.value.payload)}`;
            }
            seen.add(inner.value.header.identification);
          }
          if (seen.size >= count) {
            done({ received: seen.size, ids: [...seen].sort((a, b) => a - b), batches, largestBatch, firstSource, firstText });
          }
        });
        report('ready');
      }),
    );
    break;

  // A stand-in agent for the mobile node tests: broadcasts an Agent Advertisement (FLAGS, e.g.
  // F or H; care-of address = SOURCE when F, router = SOURCE) on IFACE every 300 ms until SECONDS
  // seconds after the node's first Registration Request (at most 60 s without one: a node slowed
  // by a loaded machine still gets its window), and reports what the node sent on the link:
  // Registration Requests (UDP to port 434, with their IP source and link destination) and ARP
  // packets (broadcast or not).
  case 'advertise':
    run((done) =>
      Effect.gen(function* () {
        const [name, sourceText, flagsText, secondsText] = args as [string, string, string, string];
        const flags = Number(flagsText);
        const link = yield* (yield* Link).open(name);
        const source = ipv4(sourceText);
        const advertisement = makeAgentAdvertisement({
          lifetime: 30,
          routers: [{ address: source, preference: 0 }],
          extensions: [{ kind: 'mobility-agent-advertisement', type: 16, sequence: 300, registrationLifetime: 1800, flags, careOfAddresses: flags & AdvertisementFlag.F ? [source] : [] }],
        });
        const bytes = new Uint8Array(agentAdvertisementLength(advertisement));
        encodeAgentAdvertisement(advertisement, bytes, 0);
        const frame = icmpFrame({ sourceMac: link.mac, destinationMac: '01:00:5e:00:00:01', source, destination: ipv4('224.0.0.1'), ttl: 1 }, bytes);
        const requests: Array<{ source: string; destination: string; linkDestination: string }> = [];
        const arp: Array<{ broadcast: boolean; operation: number; senderIp: string; targetIp: string }> = [];
        link.onFrame((received) => {
          const ethernet = decodeEthernetFrame(received);
          if (!ethernet.ok || ethernet.value.source === link.mac) return;
          if (ethernet.value.etherType === EtherType.ARP) {
            const packet = decodeArpPacket(ethernet.value.payload);
            if (packet.ok) {
              arp.push({ broadcast: ethernetIsBroadcast(received), operation: packet.value.operation, senderIp: ipv4ToString(packet.value.senderIp), targetIp: ipv4ToString(packet.value.targetIp) });
            }
            return;
          }
          if (ethernet.value.etherType !== EtherType.IPv4) return;
          const packet = decodeIpv4Packet(ethernet.value.payload);
          if (!packet.ok || packet.value.header.protocol !== IpProtocol.UDP) return;
          const payload = packet.value.payload;
          if (payload.length < 8 || ((payload[2]! << 8) | payload[3]!) !== 434) return;
          requests.push({ source: ipv4ToString(packet.value.header.source), destination: ipv4ToString(packet.value.header.destination), linkDestination: ethernet.value.destination });
          if (requests.length === 1) {
            clearTimeout(noRequest);
            setTimeout(finish, Number(secondsText) * 1000);
          }
        });
        report('ready', { mac: link.mac });
        const timer = setInterval(() => link.send(frame), 300);
        link.send(frame);
        const finish = () => {
          clearInterval(timer);
          done({ requests, arp });
        };
        const noRequest = setTimeout(finish, 60_000);
      }),
    );
    break;

  // Pings HOME through a tunnel: IP-in-IP from OUTER_SOURCE to CARE_OF carrying an ICMP Echo
  // Request from INNER_SOURCE to HOME, sent every 300 ms until the Echo Reply (HOME to
  // INNER_SOURCE, routed back by the node's host through this link) is seen on IFACE.
  case 'tunnel-ping':
    run((done) =>
      Effect.gen(function* () {
        const [name, outerSource, careOf, innerSource, home] = args as [string, string, string, string, string];
        const link = yield* (yield* Link).open(name);
        const socket = yield* (yield* RawIp).open(IpProtocol.IPIP, { headerIncluded: true });
        const identifier = 0x4d36;
        let sent = 0;
        const send = () => {
          sent++;
          const echo = new Uint8Array(64);
          const echoEnd = encodeIcmpEcho({ icmpType: IcmpType.Echo, code: 0, checksum: 0, checksumValid: true, identifier, sequence: sent, data: new TextEncoder().encode('mip4 co-located') }, echo, 0);
          const inner = new Uint8Array(128);
          const innerEnd = encodeIpv4Packet(
            {
              header: { tos: 0, identification: sent, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.ICMP, source: ipv4(innerSource), destination: ipv4(home) },
              payload: echo.subarray(0, echoEnd),
            },
            inner,
            0,
          );
          const outer = new Uint8Array(256);
          const outerEnd = ipInIpEncapsulate(inner.subarray(0, innerEnd), { source: ipv4(outerSource), destination: ipv4(careOf), identification: 0x2000 + sent }, outer, 0);
          socket.send(outer.subarray(0, outerEnd), ipv4(careOf));
        };
        link.onFrame((received) => {
          const ethernet = decodeEthernetFrame(received);
          if (!ethernet.ok || ethernet.value.etherType !== EtherType.IPv4) return;
          const packet = decodeIpv4Packet(ethernet.value.payload);
          if (!packet.ok || packet.value.header.protocol !== IpProtocol.ICMP) return;
          const reply = decodeIcmpEcho(packet.value.payload);
          if (!reply.ok || reply.value.icmpType !== IcmpType.EchoReply || reply.value.identifier !== identifier) return;
          clearInterval(timer);
          done({ from: ipv4ToString(packet.value.header.source), to: ipv4ToString(packet.value.header.destination), sequence: reply.value.sequence, sent });
        });
        report('ready', { mac: link.mac });
        const timer = setInterval(send, 300);
        send();
      }),
    );
    break;

  // Reports each UDP datagram to PORT taken off the link: the link's checksum-not-ready flag
  // and whether the UDP checksum verifies; done after COUNT of them.
  case 'link-udp':
    run((done) =>
      Effect.gen(function* () {
        const [name, portText, countText] = args as [string, string, string];
        const link = yield* (yield* Link).open(name);
        const seen: Array<Record<string, unknown>> = [];
        link.onFrame((received, info) => {
          const ethernet = decodeEthernetFrame(received);
          if (!ethernet.ok || ethernet.value.etherType !== EtherType.IPv4) return;
          const packet = decodeIpv4Packet(ethernet.value.payload);
          if (!packet.ok || packet.value.header.protocol !== IpProtocol.UDP) return;
          const { header, payload } = packet.value;
          const udp = decodeUdpDatagram(payload);
          if (!udp.ok || udp.value.header.destinationPort !== Number(portText)) return;
          const entry = {
            text: new TextDecoder().decode(udp.value.payload),
            checksumNotReady: info?.checksumNotReady,
            checksumValid: verifyUdpChecksum(header.source, header.destination, payload, 0, udp.value.header.length),
          };
          report('udp', entry);
          seen.push(entry);
          if (seen.length === Number(countText)) done({ seen });
        });
        report('ready', { mac: link.mac });
      }),
    );
    break;

  // Opens whatever is named, to observe the typed error (used unprivileged).
  case 'open-link':
    run((done) =>
      Effect.gen(function* () {
        const link = yield* (yield* Link).open(args[0]!);
        done({ opened: link.name });
      }),
    );
    break;

  // Opens an offload TUN; a reader with two 2048-byte slots takes the first batch of a GSO
  // super-packet and stops inside its callback, leaving the rest pending; a second reader with
  // 64-byte slots then reports the first batch it gets (native/tun.c "TUN offloads").
  case 'tun-gso-restart': {
    const native = loadNative();
    const tun = native.openTun(args[0]!, { offload: true });
    const lengthsOf = (meta: Int32Array, count: number) => Array.from({ length: Math.max(count, 0) }, (_, i) => meta[i * META_WORDS + 1]!);
    const large = { slab: new Uint8Array(2 * 2048), meta: new Int32Array(2 * META_WORDS) };
    const small = { slab: new Uint8Array(4 * 64), meta: new Int32Array(4 * META_WORDS) };
    const first: ReaderHandle = native.startReader(tun.fd, DescriptorKind.Tun, large.slab, 2, large.meta, (count) => {
      const counters = native.tunOffloadCounters(tun.fd);
      native.stopReader(first);
      report('first', { count, lengths: lengthsOf(large.meta, count), counters });
      const second: ReaderHandle = native.startReader(tun.fd, DescriptorKind.Tun, small.slab, 4, small.meta, (next) => {
        native.stopReader(second);
        report('done', { count: next, slotSize: 64, lengths: lengthsOf(small.meta, next), counters: native.tunOffloadCounters(tun.fd) });
        native.close(tun.fd);
        process.exit(0);
      });
      report('restarted');
    });
    report('ready', { name: tun.name, offloads: tun.offloads });
    setTimeout(() => {
      report('timeout');
      process.exit(2);
    }, DEADLINE_MS);
    break;
  }

  default:
    report('error', { message: `unknown mode ${String(mode)}` });
    process.exitCode = 1;
}
