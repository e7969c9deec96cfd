/**
 * The foreign agent's UDP tunnel (RFC 3519) against its IP-in-IP tunnel, in the same run
 * (docs/performance.md: compare ratios measured in one run, never absolute figures from another
 * day). Per repetition, packets/s of the plane alone (no sockets):
 * - `reverse ip-in-ip` / `reverse udp`: batches of 64 visitor datagrams through
 *   `foreignAgentDataPlane(...).process`, tunnelled to the home agent as IP in IP or as tunnel
 *   data messages over UDP (fa-plane.ts reverse tunnel stage);
 * - `decap ip-in-ip` / `decap udp`: batches of 64 tunnel packets taken apart and delivered to
 *   visitors: IP in IP through the plane's decapsulate stage, tunnel data messages through
 *   `decapsulateUdpTunnelBatch` (runtime/dataplane/fa-udp-tunnel.ts).
 * Ratios are udp / ip-in-ip within one repetition; the summary gives min/median/max.
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/fa-udp-tunnel.js [batches per run] [repetitions] [datagram bytes] [--json]
 */
import { ipv4 } from '../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, ipv4PacketLength } from '../io/wire/ipv4.js';
import { ipInIpEncapsulate } from '../io/wire/tunnel.js';
import { foreignAgentDataPlane, type ReverseTunnel } from '../runtime/dataplane/fa-plane.js';
import { decapsulateUdpTunnelBatch, type UdpTunnelPacket } from '../runtime/dataplane/fa-udp-tunnel.js';
import { TUNNEL_DATA_HEADER_LENGTH, writeTunnelDataHeader } from '../io/wire/udp-tunnel.js';
import { PacketPool, type PacketBatch } from '../runtime/dataplane/packets.js';
import { MicroFigures } from './harness/micro.js';

const BATCHES = Number(process.argv[2] ?? 20_000);
const REPETITIONS = Number(process.argv[3] ?? 5);
const DATAGRAM_BYTES = Number(process.argv[4] ?? 64);
const BATCH_SIZE = 64;
const VISITORS = 256;
const FA = ipv4('203.0.113.1');
const HA = ipv4('198.51.100.1');
const HOME_BASE = ipv4('198.51.100.0');
const CN = ipv4('192.0.2.5');
const MAC = '02:00:00:00:00:0a';

function datagram(source: number, destination: number): Uint8Array {
  const packet = {
    header: { tos: 0, identification: 1, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.UDP, source, destination },
    payload: new Uint8Array(Math.max(0, DATAGRAM_BYTES - 20)).fill(7),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

const home = (i: number) => (HOME_BASE + 1 + (i % VISITORS)) >>> 0;
const isVisitor = (a: number) => (a >>> 0) - HOME_BASE > 0 && (a >>> 0) - HOME_BASE <= VISITORS;

/** 64 batches of each kind, cycled. */
const fromVisitors: PacketBatch[] = [];
const ipInIp: PacketBatch[] = [];
const udp: UdpTunnelPacket[][] = [];
for (let b = 0; b < 64; b++) {
  const visitorBatch = [];
  const tunnelBatch = [];
  const udpBatch: UdpTunnelPacket[] = [];
  for (let i = 0; i < BATCH_SIZE; i++) {
    const h = home(b * BATCH_SIZE + i);
    visitorBatch.push({ bytes: datagram(h, CN), ingress: 'visitors' });
    const inner = datagram(CN, h);
    const tunnel = new Uint8Array(20 + inner.length);
    ipInIpEncapsulate(inner, { source: HA, destination: FA, ttl: 64, identification: i }, tunnel, 0);
    tunnelBatch.push({ bytes: tunnel });
    const message = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + inner.length);
    writeTunnelDataHeader(message, 0, 4);
    message.set(inner, TUNNEL_DATA_HEADER_LENGTH);
    udpBatch.push({ bytes: message, source: HA, sourcePort: 434 });
  }
  fromVisitors.push(visitorBatch);
  ipInIp.push(tunnelBatch);
  udp.push(udpBatch);
}

function plane(overUdp: boolean) {
  const ipip: ReverseTunnel = { homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'direct' };
  const viaUdp: ReverseTunnel = { ...ipip, udp: true };
  return foreignAgentDataPlane({
    visitors: (a) => (isVisitor(a) ? MAC : undefined),
    reverseTunnels: (a) => (isVisitor(a) ? (overUdp ? viaUdp : ipip) : undefined),
    localAddresses: [FA],
  });
}

function timed(run: (b: number) => number): number {
  let produced = 0;
  const start = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) produced += run(b);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (produced !== BATCHES * BATCH_SIZE) throw new Error(`expected ${BATCHES * BATCH_SIZE} outputs, got ${produced}`);
  return (BATCHES * BATCH_SIZE) / seconds;
}

function reverse(overUdp: boolean): number {
  const p = plane(overUdp);
  return timed((b) => {
    const out = p.process(fromVisitors[b & 63]!);
    const n = out.packets.length;
    out.release();
    return n;
  });
}

function decapIpInIp(): number {
  const p = plane(false);
  return timed((b) => {
    const out = p.process(ipInIp[b & 63]!);
    const n = out.packets.length;
    out.release();
    return n;
  });
}

function decapUdp(): number {
  const state = { pool: new PacketPool(), counters: {}, visitors: (a: number) => (isVisitor(a) ? MAC : undefined), udpHomeAgentOf: (a: number) => (isVisitor(a) ? HA : undefined) };
  return timed((b) => {
    const out = decapsulateUdpTunnelBatch(state, udp[b & 63]!);
    const n = out.packets.length;
    out.release();
    return n;
  });
}

const figures = new MicroFigures();

// Warm-up.
reverse(false);
reverse(true);
decapIpInIp();
decapUdp();

for (let r = 0; r < REPETITIONS; r++) {
  const order = r % 2 === 0;
  const rip = order ? reverse(false) : 0;
  const rudp = reverse(true);
  const ripLate = order ? rip : reverse(false);
  const dip = decapIpInIp();
  const dudp = decapUdp();
  figures.rate('reverse ip-in-ip', ripLate);
  figures.rate('reverse udp', rudp);
  figures.rate('decap ip-in-ip', dip);
  figures.rate('decap udp', dudp);
  figures.ratio('reverse udp / ip-in-ip', rudp / ripLate);
  figures.ratio('decap udp / ip-in-ip', dudp / dip);
}

figures.print(
  `foreign agent UDP tunnel vs IP in IP: ${BATCHES} batches of ${BATCH_SIZE} x ${DATAGRAM_BYTES}-byte datagrams, ${VISITORS} visitors, ${REPETITIONS} repetitions`,
);
