/**
 * For test/linux/mn-request-socket.test.ts, run inside a namespace with `ip netns exec NS node
 * vite-node test/linux/mn-request-socket-peer.ts check ADDRESS COUNT`: opens the mobile node's
 * Request socket as the node does (runtime/mn/mobile-node.ts openRequestSocket) and, beside it,
 * a raw UDP socket (protocol 17, what the node used before); sends one UDP datagram with its own
 * IPv4 header (ADDRESS:4343 → ADDRESS:listener) on the Request socket; then COUNT plain UDP
 * datagrams to the same listener from a dgram socket. Reports what the listener got and how many
 * datagrams each raw socket received, as one JSON line.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { Effect, Scope, Exit } from 'effect';
import { RawIp } from '../../io/raw-ip.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { udpFrame } from '../../io/wire/frames.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { openRequestSocket } from '../../runtime/mn/mobile-node.js';

const report = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const [mode, addressText, countText] = process.argv.slice(2) as [string, string, string];
if (mode !== 'check') {
  report('error', { message: `unknown mode ${mode}` });
  process.exit(1);
}
const address = ipv4(addressText);
const count = Number(countText);
setTimeout(() => {
  report('error', { message: 'deadline' });
  process.exit(2);
}, 30_000).unref();

const scope = Effect.runSync(Scope.make());
const { requestSocket, rawUdp } = Effect.runSync(
  Scope.extend(
    Effect.gen(function* () {
      const raw = yield* RawIp;
      return { requestSocket: yield* openRequestSocket(raw), rawUdp: yield* raw.open(IpProtocol.UDP) };
    }),
    scope,
  ).pipe(Effect.provide(LinuxRawIpLive)),
);
let requestSocketReceived = 0;
let rawUdpReceived = 0;
requestSocket.onPacket(() => void requestSocketReceived++);
rawUdp.onPacket(() => void rawUdpReceived++);

const got: Array<{ text: string; port: number }> = [];
const listener = createSocket('udp4');
listener.on('message', (message: Buffer, remote: RemoteInfo) => got.push({ text: message.toString(), port: remote.port }));
await new Promise<void>((resolve) => listener.bind(0, addressText, resolve));
const listenerPort = listener.address().port;

const payload = new TextEncoder().encode('request-socket');
const datagram = udpFrame({ sourceMac: '02:00:00:00:00:01', destinationMac: '00:00:00:00:00:00', source: address, destination: address, ttl: 64 }, 4343, listenerPort, payload).subarray(ETHERNET_HEADER_LENGTH);
const sent = requestSocket.send(datagram, address);
for (let i = 0; i < 100 && got.length < 1; i++) await sleep(20);

const other = createSocket('udp4');
await new Promise<void>((resolve) => other.bind(0, addressText, resolve));
for (let i = 0; i < count; i++) other.send(`plain-${i}`, listenerPort, addressText);
for (let i = 0; i < 200 && got.length < count + 1; i++) await sleep(20);
// Anything a raw socket would get has been queued with the listener's copy; one more turn reads it.
await sleep(200);
report('done', { sent, got, requestSocketReceived, rawUdpReceived });
listener.close();
other.close();
Effect.runSync(Scope.close(scope, Exit.void));
process.exit(0);
