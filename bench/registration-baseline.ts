/**
 * The baseline of the registration benchmark: a bare node:dgram server that does only the
 * work no home agent can skip — decode the Request (io/wire), find the node's key, verify
 * the Mobile-Home authenticator (policies/auth.ts), build and seal a Reply (code 0, the
 * Identification echoed, 3.4/3.5.2) and send it. No replay check, no binding, no log.
 * mip4's figures are reported as a fraction of this one, measured in the same run.
 *
 * Usage: node dist/bench/registration-baseline.js --listen 127.0.0.1:0 --nodes N
 *          --home-base 10.0.0.2 --home-agent 10.0.0.1 --spi 4096 --key HEX
 * Prints {"event":"listening","port":P} once bound; stops on SIGTERM.
 */
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { fromHex, parseIpv4 } from '../io/wire/bytes.js';
import { decodeRegistrationMessage } from '../io/wire/registration.js';
import { ExtensionType, type AuthExtension } from '../io/wire/registration-types.js';
import { verifyAuthenticator } from '../policies/auth.js';
import { authPlaceholder, encodeSigned } from '../policies/sign.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:0' },
    nodes: { type: 'string' },
    'home-base': { type: 'string' },
    'home-agent': { type: 'string' },
    spi: { type: 'string' },
    key: { type: 'string' },
  },
});
const [listenAddress, listenPort] = values.listen!.split(':');
const nodes = Number(values.nodes);
const homeBase = parseIpv4(values['home-base'] ?? '')!;
const homeAgent = parseIpv4(values['home-agent'] ?? '')!;
const spi = Number(values.spi);
const key = fromHex(values.key ?? '');
if (!Number.isInteger(nodes) || homeBase === undefined || homeAgent === undefined || !Number.isInteger(spi)) {
  console.error('usage: registration-baseline --nodes N --home-base A --home-agent A --spi S --key HEX [--listen A:P]');
  process.exit(2);
}

// One record per node, keyed like the home agent's tables (int32 keys, docs/performance.md).
const keys = new Map<number, Uint8Array>();
for (let i = 0; i < nodes; i++) keys.set((homeBase + i) | 0, key);
const signing = { spi, algorithm: 'hmac-md5' as const, key };
let discarded = 0;

const socket = createSocket('udp4');
socket.on('message', (data, rinfo) => {
  const decoded = decodeRegistrationMessage(data);
  if (!decoded.ok || decoded.value.type !== 1) return void discarded++;
  const request = decoded.value;
  const nodeKey = keys.get(request.homeAddress | 0);
  const mhae = request.extensions.find((e): e is AuthExtension => e.kind === 'auth' && e.type === ExtensionType.MobileHomeAuth);
  if (nodeKey === undefined || mhae === undefined || mhae.spi !== spi || !verifyAuthenticator('hmac-md5', nodeKey, data, mhae)) return void discarded++;
  const reply = encodeSigned(
    {
      type: 3,
      code: 0,
      lifetime: request.lifetime,
      homeAddress: request.homeAddress,
      homeAgent: request.homeAgent,
      identification: request.identification,
      extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, spi)],
    },
    () => signing,
  );
  socket.send(reply, rinfo.port, rinfo.address);
});
socket.bind(Number(listenPort), listenAddress, () => {
  // The receive buffer `mip4 ha` asks for on either UDP layer (4 MiB, UDP_RECEIVE_BUFFER_BYTES
  // in io/udp.ts, not imported: that module loads Effect, which this bare server does without):
  // with the default ~208 KiB a burst of 256 requests overflows it, and the two servers'
  // losses would not compare.
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // Keep the default when the system refuses, as the daemon does.
  }
  console.log(JSON.stringify({ event: 'listening', port: socket.address().port, nodes }));
});
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ event: 'stopped', discarded }));
  socket.close();
});
