/**
 * A scripted RFC 3519 home agent for test/linux/mn-udp-tunnel.test.ts, run inside a namespace
 * with `ip netns exec NS node vite-node test/linux/mn-udp-tunnel-peer.ts home-agent HA SPI KEYHEX
 * KEEPALIVE`: on HA:434 it answers every Registration Request with code 0, signed with the node's
 * key, and a UDP Tunnel Reply extension (code 0 when the Request asked and its source differs
 * from its care-of address, i.e. behind a NAT, or asked with 'F'; else 64) granting KEEPALIVE
 * seconds; it reports each tunnel data message it receives (outer source and port, inner
 * addresses, protocol, ICMP type) and keeps the latest source address and port as the node's
 * mapping. A line "send PORT" on stdin sends the node, at that mapping, a tunnel data message
 * whose inner datagram is UDP from 192.0.2.20:7 to the home address:PORT. One JSON object per
 * line on stdout.
 */
import { udpTunnelReply, udpTunnelRequestOf } from '../../io/wire/udp-tunnel.js';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, type RegistrationExtension, type RegistrationReply } from '../../io/wire/registration-types.js';
import { encodeSigned } from '../../policies/sign.js';

const DEADLINE_MS = 90_000;
const report = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);

const [mode, homeAgentText, spiText, keyHex, keepaliveText] = process.argv.slice(2) as [string, string, string, string, string];
if (mode !== 'home-agent') {
  report('error', { message: `unknown mode ${mode}` });
  process.exit(1);
}
const spi = Number(spiText);
const key = Uint8Array.from(Buffer.from(keyHex, 'hex'));
const keepalive = Number(keepaliveText);
let mapping: { address: string; port: number } | undefined;
let homeAddress = 0;

const udp = createSocket('udp4');
udp.on('message', (message, remote) => {
  if (message[0] === 4) {
    mapping = { address: remote.address, port: remote.port };
    const inner = decodeIpv4Packet(message, 4);
    if (!inner.ok) return report('bad-tunnel-data', { reason: inner.error.reason });
    const h = inner.value.header;
    return report('tunnel-data', {
      from: remote.address,
      port: remote.port,
      nextHeader: message[1],
      innerSource: ipv4ToString(h.source),
      innerDestination: ipv4ToString(h.destination),
      innerProtocol: h.protocol,
      ...(h.protocol === IpProtocol.ICMP ? { icmpType: inner.value.payload[0] } : {}),
    });
  }
  const decoded = decodeRegistrationRequest(message);
  if (!decoded.ok) return report('bad-request', { reason: decoded.error.reason });
  const request = decoded.value;
  homeAddress = request.homeAddress;
  const asked = udpTunnelRequestOf(request.extensions);
  const forced = asked?.force === true;
  const behindNat = remote.address !== ipv4ToString(request.careOfAddress);
  const extensions: RegistrationExtension[] = [];
  if (asked !== undefined) extensions.push(udpTunnelReply({ code: behindNat || forced ? 0 : 64, forced, keepaliveInterval: keepalive }));
  extensions.push({ kind: 'auth', type: ExtensionType.MobileHomeAuth, spi, offset: 0, authenticator: new Uint8Array(16) });
  const reply: RegistrationReply = { type: 3, code: 0, lifetime: request.lifetime, homeAddress: request.homeAddress, homeAgent: request.homeAgent, identification: request.identification, extensions };
  udp.send(encodeSigned(reply, () => ({ spi, algorithm: 'hmac-md5', key })), remote.port, remote.address);
  mapping = { address: remote.address, port: remote.port };
  report('request', { from: remote.address, port: remote.port, careOfAddress: ipv4ToString(request.careOfAddress), flags: request.flags, udpTunnelRequest: asked === undefined ? undefined : { force: asked.force, registrationThroughFa: asked.registrationThroughFa, encapsulation: asked.encapsulation }, behindNat });
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, portText] = line.trim().split(' ');
  if (command !== 'send' || mapping === undefined) return report('cannot-send', { line });
  const port = Number(portText);
  const text = new TextEncoder().encode('hello through the NAT');
  const payload = new Uint8Array(8 + text.length);
  payload.set([0, 7, port >> 8, port & 0xff, payload.length >> 8, payload.length & 0xff, 0, 0]); // UDP, checksum 0 (none, RFC 768)
  payload.set(text, 8);
  const packet = { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 63, protocol: IpProtocol.UDP, source: ipv4('192.0.2.20'), destination: homeAddress }, payload };
  const message = new Uint8Array(4 + ipv4PacketLength(packet));
  message.set([4, 4, 0, 0]);
  encodeIpv4Packet(packet, message, 4);
  udp.send(message, mapping.port, mapping.address);
  report('sent', { to: mapping.address, port: mapping.port });
});

udp.bind(434, homeAgentText, () => report('ready'));
setTimeout(() => {
  report('timeout');
  process.exit();
}, DEADLINE_MS).unref();
