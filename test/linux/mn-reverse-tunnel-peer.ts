/**
 * A stand-in home agent for test/linux/mn-reverse-tunnel.test.ts, run inside a namespace with
 * `ip netns exec NS node vite-node test/linux/mn-reverse-tunnel-peer.ts home-agent HA SPI KEYHEX`:
 * accepts every Registration Request on HA:434 with code 0 (signed with the node's key, echoing
 * its Identification and Lifetime), and reports each IP-in-IP datagram addressed to it (outer and
 * inner addresses) until one whose inner datagram is UDP arrives. One JSON object per line.
 */
import { createSocket } from 'node:dgram';
import { Effect } from 'effect';
import { RawIp } from '../../io/raw-ip.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, type RegistrationReply } from '../../io/wire/registration-types.js';
import { ipInIpDecapsulate } from '../../io/wire/tunnel.js';
import { encodeSigned } from '../../policies/sign.js';

const DEADLINE_MS = 30_000;
const report = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);

const [mode, homeAgentText, spiText, keyHex] = process.argv.slice(2) as [string, string, string, string];
if (mode !== 'home-agent') {
  report('error', { message: `unknown mode ${mode}` });
  process.exit(1);
}
const homeAgent = ipv4(homeAgentText);
const spi = Number(spiText);
const key = Uint8Array.from(Buffer.from(keyHex, 'hex'));

const udp = createSocket('udp4');
udp.on('message', (message, remote) => {
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) return report('bad-request', { reason: decoded.error.reason });
  const request = decoded.value;
  const reply: RegistrationReply = {
    type: 3,
    code: 0,
    lifetime: request.lifetime,
    homeAddress: request.homeAddress,
    homeAgent: request.homeAgent,
    identification: request.identification,
    extensions: [{ kind: 'auth', type: ExtensionType.MobileHomeAuth, spi, offset: 0, authenticator: new Uint8Array(16) }],
  };
  udp.send(encodeSigned(reply, () => ({ spi, algorithm: 'hmac-md5', key })), remote.port, remote.address);
  report('reply', { flags: request.flags, careOfAddress: ipv4ToString(request.careOfAddress), from: remote.address });
});

const program = Effect.scoped(
  Effect.gen(function* () {
    const socket = yield* (yield* RawIp).open(IpProtocol.IPIP);
    const finished = new Promise<void>((resolve) => {
      socket.onPackets((batch) => {
        for (let i = 0; i < batch.count; i++) {
          const outer = decodeIpv4Packet(batch.data, batch.offset(i), batch.offset(i) + batch.length(i));
          const tunnel = ipInIpDecapsulate(batch.data, batch.offset(i), batch.offset(i) + batch.length(i));
          if (!outer.ok || !tunnel.ok) continue;
          const inner = decodeIpv4Packet(tunnel.value.inner);
          if (!inner.ok || outer.value.header.destination !== homeAgent) continue;
          const fields = {
            outerSource: ipv4ToString(outer.value.header.source),
            outerDestination: ipv4ToString(outer.value.header.destination),
            innerSource: ipv4ToString(inner.value.header.source),
            innerDestination: ipv4ToString(inner.value.header.destination),
            innerProtocol: inner.value.header.protocol,
          };
          report('tunnel', fields);
          if (inner.value.header.protocol === IpProtocol.UDP) resolve();
        }
      });
    });
    yield* Effect.promise(() => new Promise<void>((resolve) => udp.bind(434, homeAgentText, () => resolve())));
    report('ready');
    const outcome = yield* Effect.promise(() => Promise.race([finished.then(() => 'done' as const), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), DEADLINE_MS))]));
    report(outcome);
  }),
).pipe(
  Effect.catchAll((error) => Effect.sync(() => report('error', { message: String((error as Error).message ?? error) }))),
  Effect.provide(LinuxRawIpLive),
);
void Effect.runPromise(program).then(() => {
  udp.close();
  process.exit();
});
