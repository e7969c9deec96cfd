/**
 * The co-located mobile node's own tunnel, per datagram, in one run: RFC 3519 UDP tunnel data
 * messages (`MnUdpTunnelPlane.encapsulate`, what the node hands its UDP socket) against RFC 3024
 * IP in IP (`mobileNodeReverseTunnelPlane`, batches of 64) and against the floor (a 4-byte header
 * and a copy of the datagram into one buffer); and the way in (`decapsulate`: checks and a view).
 * Ratios are within one repetition; compare them, not absolute figures from another day.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/mn-udp-tunnel.js [datagrams per run] [repetitions] [datagram bytes] [--json]
 */
import { ipv4 } from '../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../io/wire/ipv4.js';
import { mobileNodeReverseTunnelPlane, MnUdpTunnelPlane, type MobileNodeUdpTunnel } from '../runtime/dataplane/mn-plane.js';
import type { Packet } from '../runtime/dataplane/packets.js';

const DATAGRAMS = Number(process.argv[2] ?? 2_000_000);
const REPETITIONS = Number(process.argv[3] ?? 5);
const DATAGRAM_BYTES = Number(process.argv[4] ?? 64);
const JSON_OUTPUT = process.argv.includes('--json');
const BATCH = 64;

const HA = ipv4('198.51.100.1');
const HOME = ipv4('198.51.100.10');
const CCOA = ipv4('192.168.1.50');
const CN = ipv4('192.0.2.5');
const TUNNEL: MobileNodeUdpTunnel = { homeAddress: HOME, homeAgent: HA, careOfAddress: CCOA };

function datagram(source: number, destination: number): Uint8Array {
  const packet = { header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source, destination }, payload: new Uint8Array(DATAGRAM_BYTES - 20).fill(7) };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function rate(run: () => number): number {
  const started = process.hrtime.bigint();
  const n = run();
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

const out = datagram(HOME, CN);
const inMessage = new Uint8Array(4 + DATAGRAM_BYTES);
inMessage.set([4, 4, 0, 0]);
inMessage.set(datagram(CN, HOME), 4);
const udpPlane = new MnUdpTunnelPlane();
const ipInIp = mobileNodeReverseTunnelPlane({ tunnel: () => ({ homeAddress: HOME, outerSource: CCOA, outerDestination: HA, encapsulation: 'ip-in-ip', to: 'home-agent' }) });
const batch: Packet[] = Array.from({ length: BATCH }, () => ({ bytes: out }));
const floorBuffer = new Uint8Array(4 + DATAGRAM_BYTES);
let sink = 0;

const runs: Array<Record<string, number>> = [];
for (let r = 0; r < REPETITIONS; r++) {
  const udpOut = rate(() => {
    for (let i = 0; i < DATAGRAMS; i++) {
      const m = udpPlane.encapsulate(out, TUNNEL);
      if (typeof m !== 'string') sink += m.length;
    }
    return DATAGRAMS;
  });
  const ipInIpOut = rate(() => {
    const batches = Math.floor(DATAGRAMS / BATCH);
    for (let b = 0; b < batches; b++) {
      const result = ipInIp.process(batch);
      sink += result.packets.length;
      result.release();
    }
    return batches * BATCH;
  });
  const floor = rate(() => {
    for (let i = 0; i < DATAGRAMS; i++) {
      floorBuffer[0] = 4;
      floorBuffer[1] = 4;
      floorBuffer.set(out, 4);
      sink += floorBuffer[5]!;
    }
    return DATAGRAMS;
  });
  const udpIn = rate(() => {
    for (let i = 0; i < DATAGRAMS; i++) sink += udpPlane.decapsulate(inMessage, HA, 434, TUNNEL)?.length ?? 0;
    return DATAGRAMS;
  });
  runs.push({ udpOut, ipInIpOut, floor, udpIn, udpOverIpInIp: udpOut / ipInIpOut, udpOverFloor: udpOut / floor });
}

const median = (key: string) => {
  const sorted = runs.map((r) => r[key]!).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const summary = {
  datagramBytes: DATAGRAM_BYTES,
  medianPerSecond: { udpOut: median('udpOut'), ipInIpOut: median('ipInIpOut'), floor: median('floor'), udpIn: median('udpIn') },
  medianRatio: { udpOverIpInIp: median('udpOverIpInIp'), udpOverFloor: median('udpOverFloor') },
  sink: sink % 7,
};
if (JSON_OUTPUT) process.stdout.write(`${JSON.stringify({ runs, summary })}\n`);
else {
  const m = summary.medianPerSecond;
  const f = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
  process.stdout.write(
    `mn UDP tunnel, ${DATAGRAM_BYTES}-byte datagrams, median of ${REPETITIONS}:\n` +
      `  out: UDP tunnel data ${f(m.udpOut)}, IP in IP plane ${f(m.ipInIpOut)}, header+copy floor ${f(m.floor)}\n` +
      `  in:  UDP tunnel data ${f(m.udpIn)}\n` +
      `  ratios: UDP/IP-in-IP ${summary.medianRatio.udpOverIpInIp.toFixed(2)}, UDP/floor ${summary.medianRatio.udpOverFloor.toFixed(2)}\n`,
  );
}
