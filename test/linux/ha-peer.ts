/**
 * Child processes for the home agent data path tests (test/linux/ha-data-path.test.ts), run
 * inside a network namespace with `ip netns exec` like test/linux/peer.ts, reporting one JSON
 * object per stdout line and taking commands as lines on stdin. Every mode exits on its own
 * within DEADLINE_MS.
 *
 *   ha CONFIG.json       a home agent with its Linux data path, through the runtime API
 *                        (startHomeAgent with dataPath); stdin: "snapshot", "stop"
 *   coa HA COA HOME SPI KEY
 *                        a co-located care-of host: registers the home address (a signed
 *                        Registration Request built with policies/mn-request.ts and
 *                        policies/sign.ts) on "register LIFETIME [M] [G] [B]" and reports every
 *                        tunnel packet (protocols 4, 55, 47) it receives, decapsulated.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Effect, Exit, Layer, Scope } from 'effect';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { RawIp } from '../../io/raw-ip.js';
import { ipv4, ipv4ToString, parseHex } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { decapsulate } from '../../io/wire/tunnel.js';
import { buildRegistrationRequest, nextIdentification, type MnRequestSettings } from '../../policies/mn-request.js';
import type { Identification } from '../../io/wire/registration-types.js';
import { homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { startHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { encodeSigned } from '../../policies/sign.js';

// The care-of peer lives for the whole of ha-data-path.test.ts (over a minute on a loaded
// machine); the deadline only stops a peer the test forgot.
const DEADLINE_MS = 180_000;

function report(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

const deadline = setTimeout(() => {
  report('timeout');
  process.exit(2);
}, DEADLINE_MS);
deadline.unref();

function commands(handle: (words: string[]) => void | Promise<void>): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    void Promise.resolve(handle(line.trim().split(/\s+/))).catch((error: unknown) => report('error', { message: String(error) }));
  });
}

async function homeAgent(configPath: string): Promise<void> {
  const { config, listen, dataPath } = homeAgentConfigFromDocument(JSON.parse(readFileSync(configPath, 'utf8')));
  let running;
  try {
    running = await startHomeAgent(config, { listen, ...(dataPath !== undefined ? { dataPath } : {}) });
  } catch (error) {
    report('error', { name: (error as Error).name, reason: (error as { reason?: string }).reason, message: (error as Error).message });
    process.exit(1);
  }
  const path = running.dataPath!;
  running.agent.events.subscribe((event) => {
    if (event.event === 'reply') report('reply', { code: event.code, homeAddress: event.homeAddress, lifetime: event.lifetime });
  });
  path.events.subscribe((event) => report(event.event, { ...event }));
  path.path.homeLink?.events.subscribe((event) => report(event.event, event));
  report('ready', { tunnelDevice: path.tunnelDevice, homeInterface: path.homeInterface });
  commands(async ([command]) => {
    if (command === 'snapshot') {
      report('snapshot', { ...path.snapshot(), kernelRoutes: path.routes.kernelRoutes().map((r) => `${ipv4ToString(r.destination)}/${r.prefixLength}`) });
    } else if (command === 'stop') {
      await running.stop();
      report('stopped', path.snapshot());
      process.exit(0);
    }
  });
}

async function careOfHost(haText: string, coaText: string, homeText: string, spiText: string, keyHex: string): Promise<void> {
  const careOfAddress = ipv4(coaText);
  const settingsBase: MnRequestSettings = {
    homeAddress: ipv4(homeText),
    homeAgent: ipv4(haText),
    homeNetwork: ipv4(homeText) & 0xffffff00,
    homePrefixLength: 24,
    mobileHome: { spi: Number(spiText), algorithm: 'hmac-md5', key: parseHex(keyHex)!, replay: 'timestamp' },
    decapsulates: true,
  };
  // Tunnel packets of all three kinds, received on raw sockets and decapsulated.
  const scope = Effect.runSync(Scope.make());
  const opened = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const raw = yield* RawIp;
      return [
        yield* raw.open(IpProtocol.IPIP),
        yield* raw.open(IpProtocol.MINIMAL_ENCAPSULATION),
        yield* raw.open(IpProtocol.GRE),
      ];
    }).pipe(Scope.extend(scope), Effect.provide(Layer.mergeAll(LinuxRawIpLive))),
  );
  if (Exit.isFailure(opened)) {
    report('error', { message: String(opened.cause) });
    process.exit(1);
  }
  for (const socket of opened.value) {
    socket.onPacket((datagram) => {
      const tunnel = decapsulate(datagram.slice());
      if (!tunnel.ok) {
        report('tunnel-malformed', { protocol: socket.protocol, reason: tunnel.error.reason });
        return;
      }
      const inner = decodeIpv4Packet(tunnel.value.datagram);
      if (!inner.ok) {
        report('tunnel-malformed', { protocol: socket.protocol, reason: inner.error.reason });
        return;
      }
      const { header, payload } = inner.value;
      report('tunnel', {
        protocol: socket.protocol,
        kind: tunnel.value.kind,
        outerSource: ipv4ToString(tunnel.value.tunnelSource),
        outerDestination: ipv4ToString(tunnel.value.tunnelDestination),
        innerSource: ipv4ToString(header.source),
        innerDestination: ipv4ToString(header.destination),
        innerProtocol: header.protocol,
        innerTtl: header.ttl,
        payloadHex: Buffer.from(payload).toString('hex'),
      });
    });
  }

  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, coaText, () => resolve()));
  let previous: Identification | undefined;
  let waiting: ((reply: Buffer) => void) | undefined;
  socket.on('message', (message) => waiting?.(message));
  report('ready');
  commands(async ([command, lifetimeText, ...flags]) => {
    if (command !== 'register') return;
    const settings: MnRequestSettings = {
      ...settingsBase,
      minimalEncapsulation: flags.includes('M'),
      greEncapsulation: flags.includes('G'),
      broadcast: flags.includes('B'),
    };
    const identification = nextIdentification({
      replay: 'timestamp',
      nowUnixMs: Date.now(),
      clockOffsetMs: 0,
      random32: (Math.random() * 0x100000000) >>> 0,
      ...(previous !== undefined ? { previous } : {}),
    });
    previous = identification;
    const lifetime = Number(lifetimeText);
    const built = buildRegistrationRequest(settings, { kind: 'co-located', careOfAddress }, { identification, lifetime });
    const bytes = encodeSigned(built.request, built.keyFor);
    const reply = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 3_000);
      waiting = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
    });
    socket.send(bytes, 434, haText);
    const answer = await reply;
    if (answer === undefined) {
      report('no-reply');
      return;
    }
    const decoded = decodeRegistrationReply(answer);
    report('registered', decoded.ok ? { code: decoded.value.code, lifetime: decoded.value.lifetime } : { malformed: decoded.error.reason });
  });
}

const [mode, ...args] = process.argv.slice(2);
switch (mode) {
  case 'ha':
    void homeAgent(args[0]!);
    break;
  case 'coa':
    void careOfHost(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!);
    break;
  default:
    report('error', { message: `unknown mode ${String(mode)}` });
    process.exit(1);
}
