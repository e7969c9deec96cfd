/**
 * For test/linux/mn-request-socket.test.ts, run inside a namespace with `ip netns exec NS node
 * vite-node test/linux/mn-request-socket-peer.ts check ADDRESS COUNT`: opens the mobile node's
 * Request socket as the node does (runtime/mn/mobile-node.ts openRequestSocket) and, beside it,
 * a raw UDP socket (protocol 17, what the node used before); sends one UDP datagram with its own
 * IPv4 header (ADDRESS:4343 → ADDRESS:listener) on the Request socket; then COUNT plain UDP
 * datagrams to the same listener from a dgram socket. The same for the reverse tunnel's sender
 * (openTunnelSender, on lo) beside a protocol-4 socket: one IP-in-IP datagram out through it,
 * then COUNT more through the protocol-4 socket. Reports what the listener got and how many
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
import { openRequestSocket, openTunnelSender } from '../../runtime/mn/mobile-node.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { encodeIpv4Packet } from '../../io/wire/ipv4.js';

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
const { requestSocket, rawUdp, tunnelSender, rawIpIp } = Effect.runSync(
  Scope.extend(
    Effect.gen(function* () {
      const raw = yield* RawIp;
      return {
        requestSocket: yield* openRequestSocket(raw),
        rawUdp: yield* raw.open(IpProtocol.UDP),
        tunnelSender: yield* openTunnelSender(raw, 'lo'),
        rawIpIp: yield* raw.open(IpProtocol.IPIP),
      };
    }),
    scope,
  ).pipe(Effect.provide(LinuxRawIpLive)),
);
let requestSocketReceived = 0;
let rawUdpReceived = 0;
requestSocket.onPacket(() => void requestSocketReceived++);
rawUdp.onPacket(() => void rawUdpReceived++);
let tunnelSenderReceived = 0;
let rawIpIpReceived = 0;
tunnelSender.onPacket(() => void tunnelSenderReceived++);
rawIpIp.onPacket(() => void rawIpIpReceived++);

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
// The reverse tunnel's sender: IP in IP out (the protocol-4 socket reads it), nothing in.
const inner = new Uint8Array(28);
encodeIpv4Packet({ header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source: address, destination: address }, payload: new Uint8Array(8) }, inner);
const outer = new Uint8Array(48);
ipInIpEncapsulate(inner, { source: address, destination: address, identification: 7 }, outer);
const tunnelled = tunnelSender.send(outer, address);
for (let i = 0; i < 100 && rawIpIpReceived < 1; i++) await sleep(20);
for (let i = 0; i < count; i++) rawIpIp.send(inner, address);
for (let i = 0; i < 200 && rawIpIpReceived < count + 1; i++) await sleep(20);
await sleep(200);
report('done', { sent, got, requestSocketReceived, rawUdpReceived, tunnelled, tunnelSenderReceived, rawIpIpReceived });
listener.close();
other.close();
Effect.runSync(Scope.close(scope, Exit.void));
process.exit(0);
