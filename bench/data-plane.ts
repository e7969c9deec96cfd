/**
 * Home agent data plane throughput, in the same run as plain loops that do only the per-packet
 * header work, so the ratio shows what the operator costs on top (docs/performance.md: compare
 * ratios measured in one run, never absolute figures from another day).
 *
 * Per repetition and encapsulation: packets/s of
 * - `operator`: batches of 64 datagrams pushed through a Subject piped into
 *   `homeAgentDataPlane(...)`, each output batch released by the subscriber (what a runtime does);
 * - `header`: a plain loop writing a 20-byte outer IPv4 header with its checksum into one
 *   preallocated buffer per packet (the floor: no lookup, no copy);
 * - `header+copy`: the same plus copying the inner datagram behind the header.
 * Ratios are operator / baseline within one repetition; the summary gives min/median/max.
 * `udp` is IP in IP inside RFC 3519's UDP tunnel (outer IP + UDP + tunnel data header).
 *
 * Usage: npx tsc -p tsconfig.json && node dist/bench/data-plane.js [batches per run] [repetitions] [datagram bytes] [--json]
 * (`npm run bench` profiles it for the per-packet cost by layer, part 5.)
 */
import { Subject } from 'rxjs';
import { ipv4, writeU16, writeU32 } from '../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, updateIpv4Checksum } from '../io/wire/ipv4.js';
import type { Encapsulation } from '../io/wire/tunnel.js';
import { ForwardingTable } from '../runtime/dataplane/forwarding-table.js';
import { homeAgentDataPlane } from '../runtime/dataplane/ha-plane.js';
import type { Packet, PacketBatch } from '../runtime/dataplane/packets.js';
import { MicroFigures } from './harness/micro.js';

const BATCHES = Number(process.argv[2] ?? 20_000);
const REPETITIONS = Number(process.argv[3] ?? 5);
const DATAGRAM_BYTES = Number(process.argv[4] ?? 64);
const BATCH_SIZE = 64;
const BINDINGS = 1024;

const HA = ipv4('198.51.100.1');
const HOME_BASE = ipv4('10.0.0.0');
const COA_BASE = ipv4('203.0.113.0');

function makeBatches(count: number): PacketBatch[] {
  const batches: PacketBatch[] = [];
  let n = 0;
  for (let b = 0; b < count; b++) {
    const batch: Packet[] = [];
    for (let i = 0; i < BATCH_SIZE; i++, n++) {
      const bytes = new Uint8Array(DATAGRAM_BYTES);
      encodeIpv4Packet(
        {
          header: {
            tos: 0,
            identification: n & 0xffff,
            flags: 0,
            fragmentOffset: 0,
            ttl: 64,
            protocol: IpProtocol.UDP,
            source: ipv4('192.0.2.5'),
            destination: HOME_BASE + (n % BINDINGS),
          },
          payload: new Uint8Array(DATAGRAM_BYTES - 20),
        },
        bytes,
      );
      batch.push({ bytes, ingress: 'wan0' });
    }
    batches.push(batch);
  }
  return batches;
}

/** Distinct input batches, cycled, so the lookups are not all the same cache line. */
const INPUT = makeBatches(256);

/** An encapsulation, or 'udp': IP in IP inside RFC 3519's UDP tunnel (to a NAT's address and port). */
type Kind = Encapsulation | 'udp';

function runOperator(kind: Kind): number {
  const table = new ForwardingTable();
  for (let i = 0; i < BINDINGS; i++) {
    table.upsertTunnel(HOME_BASE + i, {
      careOfAddress: COA_BASE + (i % 200),
      encapsulation: kind === 'udp' ? 'ip-in-ip' : kind,
      broadcast: false,
      decapsulatedByMobileNode: false,
      reverseTunnel: false,
      ...(kind === 'udp' ? { udp: { address: COA_BASE + (i % 200), port: 40_000 + i } } : {}),
    });
  }
  const plane = homeAgentDataPlane({ table, localAddresses: [HA], homeNetwork: HOME_BASE, prefixLength: 16 });
  const input = new Subject<PacketBatch>();
  let sent = 0;
  input.pipe(plane).subscribe((out) => {
    sent += out.packets.length;
    out.release();
  });
  const start = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) input.next(INPUT[b & 255]!);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sent !== BATCHES * BATCH_SIZE) throw new Error(`expected ${BATCHES * BATCH_SIZE} tunnel packets, got ${sent}`);
  return (BATCHES * BATCH_SIZE) / seconds;
}

function runHeaderLoop(copy: boolean): number {
  const out = new Uint8Array(20 + DATAGRAM_BYTES);
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) {
    const batch = INPUT[b & 255]!;
    for (let i = 0; i < batch.length; i++) {
      const inner = batch[i]!.bytes;
      out[0] = 0x45;
      out[1] = inner[1]!;
      writeU16(out, 2, 20 + inner.length);
      writeU16(out, 4, i);
      writeU16(out, 6, 0);
      out[8] = 64;
      out[9] = IpProtocol.IPIP;
      writeU32(out, 12, HA);
      writeU32(out, 16, COA_BASE + (i % 200));
      sink ^= updateIpv4Checksum(out, 0);
      if (copy) out.set(inner, 20);
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === -1) console.log(sink);
  return (BATCHES * BATCH_SIZE) / seconds;
}

const KINDS: Kind[] = ['ip-in-ip', 'minimal', 'gre', 'udp'];
const figures = new MicroFigures();

// Warm-up: let the JIT settle before measuring.
for (const kind of KINDS) runOperator(kind);
runHeaderLoop(false);
runHeaderLoop(true);

for (let r = 0; r < REPETITIONS; r++) {
  const header = runHeaderLoop(false);
  const headerCopy = runHeaderLoop(true);
  figures.rate('header', header);
  figures.rate('header+copy', headerCopy);
  for (const kind of r % 2 === 0 ? KINDS : [...KINDS].reverse()) {
    const operator = runOperator(kind);
    figures.rate(kind, operator);
    figures.ratio(`${kind} / header`, operator / header);
    figures.ratio(`${kind} / header+copy`, operator / headerCopy);
  }
}

figures.print(
  `home agent data plane: ${BATCHES} batches of ${BATCH_SIZE} x ${DATAGRAM_BYTES}-byte datagrams, ${BINDINGS} bindings, ${REPETITIONS} repetitions`,
);
