/**
 * Run inside a network namespace by test/linux/udp.test.ts: binds a LinuxUdpLive socket,
 * prints {"event":"ready"}, and on a line on stdin sends COUNT datagrams of SIZE bytes to
 * DESTINATION:9 in one synchronous run, faster than the link drains them. Every error the
 * socket reports is printed as {"event":"send-error",...}; {"event":"queued"} follows the run.
 */
import { Effect, Scope } from 'effect';
import { createInterface } from 'node:readline';
import { LinuxUdpLive } from '../../io/linux/udp.js';
import { Udp } from '../../io/udp.js';
import { parseIpv4 } from '../../io/wire/bytes.js';

// argv: send DESTINATION COUNT SIZE
const [, destinationText, countText, sizeText] = process.argv.slice(2);
const destination = parseIpv4(destinationText ?? '') ?? 0;
const count = Number(countText);
const size = Number(sizeText);
const print = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

const scope = Effect.runSync(Scope.make());
const socket = await Effect.runPromise(Effect.flatMap(Udp, (udp) => udp.bind({ address: 0, port: 0 })).pipe(Scope.extend(scope), Effect.provide(LinuxUdpLive)));
socket.onError((error) => print({ event: 'send-error', reason: error.reason, endpoint: error.endpoint, message: error.message }));
print({ event: 'ready' });
const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  const datagram = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    datagram[0] = i >> 8;
    datagram[1] = i & 0xff;
    socket.send(datagram, destination, 9);
  }
  print({ event: 'queued' });
});
