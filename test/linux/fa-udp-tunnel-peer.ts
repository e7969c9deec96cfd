/**
 * Stand-ins for test/linux/fa-udp-tunnel.test.ts, each run inside a namespace with
 * `ip netns exec NS node vite-node test/linux/fa-udp-tunnel-peer.ts MODE ...`; one JSON object
 * per line on stdout, commands as lines on stdin.
 *
 * - `home-agent HA MN_SPI MN_KEY FA_SPI FA_KEY KEEPALIVE`: a scripted home agent on HA:434. It
 *   accepts every Request (code 0, MHAE, then a UDP Tunnel Reply granting UDP tunnelling with
 *   KEEPALIVE seconds, then an FHAE when the Request had one) and reports it; it reports every
 *   tunnel data message (RFC 3519 3.3) with the inner datagram's addresses; on "data" it sends a
 *   tunnel data message carrying a UDP datagram 198.51.100.77:7 → the node's home address:9999
 *   to where the last Request came from (the NAT's address and port).
 * - `visitor HOME FA_LINK COA HA MN_SPI MN_KEY`: a scripted mobile node with its home address on
 *   its interface. It sends a Request with 'T' (TTL 255, RFC 3024) to the agent, reports the
 *   Reply, reports datagrams arriving at HOME:9999, and on "send" sends HOME:9999 → 198.51.100.77:7.
 */
import { TUNNEL_DATA_HEADER_LENGTH, TunnelNextHeader, udpTunnelReply, UdpTunnelReplyCode, writeTunnelDataHeader } from '../../io/wire/udp-tunnel.js';
import { createInterface } from 'node:readline';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { decodeIcmpEcho } from '../../io/wire/icmp.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeIpv4Packet, encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, RequestFlag, type RegistrationExtension, type RegistrationReply, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { encodeUdpDatagram } from '../../io/wire/udp.js';
import { createSecurityContext } from '../../policies/security-association.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';

const DEADLINE_MS = 60_000;
const CN = ipv4('198.51.100.77');
const report = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
setTimeout(() => {
  report('timeout');
  process.exit(2);
}, DEADLINE_MS).unref();

const [mode, ...args] = process.argv.slice(2);
const commands = createInterface({ input: process.stdin });
const typesOf = (extensions: readonly RegistrationExtension[]) => extensions.map((e) => (e as { type: number }).type);

function udpDatagram(source: number, destination: number, sourcePort: number, destinationPort: number, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const udp = new Uint8Array(8 + payload.length);
  encodeUdpDatagram({ sourcePort, destinationPort, source, destination, payload }, udp, 0);
  const packet = { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source, destination }, payload: udp };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

if (mode === 'home-agent') {
  const [haText, mnSpi, mnKey, faSpi, faKey, keepaliveText] = args as [string, string, string, string, string, string];
  const mnHa = createSecurityContext({ spi: Number(mnSpi), key: Uint8Array.from(Buffer.from(mnKey, 'hex')) });
  const faHa = createSecurityContext({ spi: Number(faSpi), key: Uint8Array.from(Buffer.from(faKey, 'hex')) });
  const keepalive = Number(keepaliveText);
  const socket = createSocket('udp4');
  let last: { remote: RemoteInfo; request: RegistrationRequest } | undefined;
  socket.on('message', (message, remote) => {
    if (message[0] === 1) {
      const decoded = decodeRegistrationRequest(message);
      if (!decoded.ok) return report('bad-request', { reason: decoded.error.reason });
      const request = decoded.value;
      last = { remote, request };
      const types = typesOf(request.extensions);
      const udp: RegistrationExtension = udpTunnelReply({ code: UdpTunnelReplyCode.WillTunnel, keepaliveInterval: keepalive });
      const reply: RegistrationReply = {
        type: 3,
        code: 0,
        lifetime: request.lifetime,
        homeAddress: request.homeAddress,
        homeAgent: request.homeAgent,
        identification: request.identification,
        extensions: [
          authPlaceholder(ExtensionType.MobileHomeAuth, mnHa.spi),
          ...(types.includes(144) && request.lifetime !== 0 ? [udp] : []),
          ...(types.includes(ExtensionType.ForeignHomeAuth) ? [authPlaceholder(ExtensionType.ForeignHomeAuth, faHa.spi)] : []),
        ],
      };
      socket.send(encodeSigned(reply, (type) => (type === ExtensionType.MobileHomeAuth ? mnHa : faHa)), remote.port, remote.address);
      return report('request', { from: remote.address, port: remote.port, types, careOfAddress: ipv4ToString(request.careOfAddress), flags: request.flags });
    }
    if (message[0] === 4) {
      const inner = decodeIpv4Packet(new Uint8Array(message.buffer, message.byteOffset + 4, message.length - 4));
      if (!inner.ok) return report('bad-tunnel-data', { reason: inner.error.reason });
      const { source, destination, protocol } = inner.value.header;
      const echo = protocol === IpProtocol.ICMP ? decodeIcmpEcho(inner.value.payload) : undefined;
      return report('tunnel-data', {
        from: remote.address,
        port: remote.port,
        nextHeader: message[1],
        source: ipv4ToString(source),
        destination: ipv4ToString(destination),
        protocol,
        ...(echo?.ok === true ? { icmpType: echo.value.icmpType, identifier: echo.value.identifier } : {}),
        ...(protocol === IpProtocol.UDP ? { text: Buffer.from(inner.value.payload.subarray(8)).toString() } : {}),
      });
    }
    report('other', { type: message[0] });
  });
  commands.on('line', (line) => {
    if (line.trim() !== 'data' || last === undefined) return;
    const inner = udpDatagram(CN, last.request.homeAddress, 7, 9999, 'from-home-agent');
    const message = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + inner.length);
    writeTunnelDataHeader(message, 0, TunnelNextHeader.IpInIp);
    message.set(inner, TUNNEL_DATA_HEADER_LENGTH);
    socket.send(message, last.remote.port, last.remote.address);
    report('sent-data', { to: last.remote.address, port: last.remote.port });
  });
  socket.bind({ address: haText, port: 434 }, () => report('ready'));
} else if (mode === 'visitor') {
  const [homeText, faText, coaText, haText, mnSpi, mnKey] = args as [string, string, string, string, string, string];
  const home = ipv4(homeText);
  const mnHa = createSecurityContext({ spi: Number(mnSpi), key: Uint8Array.from(Buffer.from(mnKey, 'hex')) });
  const registration = createSocket('udp4');
  const data = createSocket('udp4');
  registration.on('message', (message) => {
    const decoded = decodeRegistrationReply(message, 0, message.length);
    if (!decoded.ok) return report('bad-reply', { reason: decoded.error.reason });
    report('reply', { code: decoded.value.code, types: typesOf(decoded.value.extensions) });
  });
  data.on('message', (message, remote) => report('data', { from: remote.address, port: remote.port, text: message.toString() }));
  commands.on('line', (line) => {
    if (line.trim() !== 'send') return;
    data.send(Buffer.from('from-visitor'), 7, ipv4ToString(CN));
    report('sent');
  });
  data.bind({ address: homeText, port: 9999 }, () => {
    registration.bind({ address: homeText, port: 49152 }, () => {
      // RFC 3024: a 'T' Request comes from the link with TTL 255.
      registration.setTTL(255);
      const request: RegistrationRequest = {
        type: 1,
        flags: RequestFlag.T,
        lifetime: 60,
        homeAddress: home,
        homeAgent: ipv4(haText),
        careOfAddress: ipv4(coaText),
        identification: identificationFromUnixMs(Date.now(), 7),
        extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, mnHa.spi)],
      };
      registration.send(encodeSigned(request, () => mnHa), 434, faText);
      report('ready');
    });
  });
} else {
  report('error', { message: `unknown mode ${mode}` });
  process.exit(1);
}
