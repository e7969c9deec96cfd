/**
 * The home agent plane's named stages (runtime/dataplane/ha-plane.ts), each alone and sans IO:
 * a batch in, the batch with its standings, entries and outputs as the stage leaves them. The
 * whole plane's behaviour per RFC clause is in data-plane.test.ts; here each stage's own share.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, from, toArray } from 'rxjs';
import { ipv4 } from '../../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4Destination, ipv4PacketLength, ipv4Source } from '../../io/wire/ipv4.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { ForwardingTable, type TunnelTarget } from '../../runtime/dataplane/forwarding-table.js';
import {
  broadcast,
  broadcastBatch,
  classify,
  classifyBatch,
  encapsulate,
  encapsulateBatch,
  haPlane,
  lookup,
  lookupBatch,
  outputBatch,
  outputs,
  Standing,
  timeExceeded,
  timeExceededBatch,
  type HaBatch,
} from '../../runtime/dataplane/ha-plane.js';
import type { Packet } from '../../runtime/dataplane/packets.js';

const HA = ipv4('198.51.100.1');
const HOME_NET = ipv4('198.51.100.0');
const HOME = ipv4('198.51.100.10');
const HOME2 = ipv4('198.51.100.11');
const CN = ipv4('192.0.2.5');
const FA = ipv4('203.0.113.1');
const FA2 = ipv4('203.0.113.2');

function datagram(fields: { source?: number; destination?: number; ttl?: number; protocol?: number; payload?: Uint8Array }): Uint8Array {
  const packet = {
    header: {
      tos: 0,
      identification: 7,
      flags: Ipv4Flag.DontFragment,
      fragmentOffset: 0,
      ttl: fields.ttl ?? 63,
      protocol: fields.protocol ?? IpProtocol.UDP,
      source: fields.source ?? CN,
      destination: fields.destination ?? HOME,
    },
    payload: fields.payload ?? new Uint8Array(12),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

const target = (careOfAddress: number, extra: Partial<TunnelTarget> = {}): TunnelTarget => ({
  careOfAddress,
  encapsulation: 'ip-in-ip',
  broadcast: false,
  decapsulatedByMobileNode: false,
  reverseTunnel: false,
  ...extra,
});

/** A table counting its lookups per address. */
function countingTable(): { table: ForwardingTable; lookups: Map<number, number> } {
  const table = new ForwardingTable();
  const lookups = new Map<number, number>();
  const original = table.lookup.bind(table);
  table.lookup = (address) => {
    lookups.set(address, (lookups.get(address) ?? 0) + 1);
    return original(address);
  };
  return { table, lookups };
}

function plane(table = new ForwardingTable()) {
  return haPlane({ table, localAddresses: [HA], homeNetwork: HOME_NET, prefixLength: 24, homeInterface: 'home0' });
}

const pkt = (bytes: Uint8Array, extra: Partial<Packet> = {}): Packet => ({ bytes, ingress: 'home0', ...extra });

describe('classifyBatch', () => {
  it('drops malformed input and bad checksums (counted), passes datagrams for the agent on, sets broadcasts apart, marks the rest unicast', () => {
    const p = plane();
    const badChecksum = datagram({});
    badChecksum[10] ^= 0xff;
    const batch = classifyBatch(p, [
      pkt(new Uint8Array([0x45, 0, 0])),
      pkt(badChecksum),
      pkt(datagram({ destination: HA })),
      pkt(datagram({ destination: 0xffffffff })),
      pkt(datagram({ destination: ipv4('224.0.0.9') })),
      pkt(datagram({ destination: ipv4('198.51.100.255') })),
      pkt(datagram({})),
    ]);
    expect([...batch.standing]).toEqual([
      Standing.Done,
      Standing.Done,
      Standing.Done,
      Standing.Broadcast,
      Standing.Broadcast,
      Standing.Broadcast,
      Standing.Unicast,
    ]);
    expect(batch.outputs.map((o) => [o.index, o.kind])).toEqual([[2, 'local']]);
    expect(p.counters['bad-checksum']).toBe(1);
    expect(p.counters['packets']).toBe(7);
    expect(Object.keys(p.counters).some((k) => k.startsWith('malformed-'))).toBe(true);
  });
});

describe('lookupBatch', () => {
  it('looks each unicast destination up once; unbound → forward untouched, bound → entry kept for the later stages', () => {
    const { table, lookups } = countingTable();
    table.upsertTunnel(HOME, target(FA));
    const p = plane(table);
    const bound = datagram({});
    const unbound = datagram({ destination: HOME2 });
    const batch = lookupBatch(p, classifyBatch(p, [pkt(bound), pkt(unbound), pkt(datagram({ destination: 0xffffffff }))]));
    expect(lookups.get(HOME)).toBe(1);
    expect(lookups.get(HOME2)).toBe(1);
    expect(lookups.has(0xffffffff)).toBe(false);
    expect([...batch.standing]).toEqual([Standing.Tunnel, Standing.Done, Standing.Broadcast]);
    expect(batch.entries[0]?.homeAddress).toBe(HOME);
    expect(batch.outputs).toEqual([{ kind: 'forward', index: 1, bytes: unbound, routed: false }]);
  });

  it('RFC 2003 3.2 and 4.2.3 loop checks: own source dropped; tunnelled from the care-of address discarded, from elsewhere redirected', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const p = plane(table);
    const inner = datagram({});
    const tunnelled = (source: number): Uint8Array => {
      const out = new Uint8Array(inner.length + 20);
      ipInIpEncapsulate(inner, { source, destination: HOME, identification: 1, ttl: 64 }, out, 0);
      return out;
    };
    const batch = lookupBatch(p, classifyBatch(p, [pkt(datagram({ source: HA })), pkt(tunnelled(FA)), pkt(tunnelled(FA2))]));
    expect([...batch.standing]).toEqual([Standing.Done, Standing.Done, Standing.Redirect]);
    expect(p.counters['loop-source-is-self']).toBe(1);
    expect(p.counters['loop-from-care-of-address']).toBe(1);
    expect(batch.outputs).toEqual([]);
  });
});

describe('timeExceededBatch', () => {
  it('a bound datagram whose TTL would reach 0 gets one ICMP Time Exceeded from the agent, unless the host already forwarded it', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    const p = plane(table);
    const expiring = datagram({ ttl: 1 });
    const batch = timeExceededBatch(
      p,
      lookupBatch(p, classifyBatch(p, [pkt(expiring), pkt(datagram({ ttl: 1 }), { forwarded: true }), pkt(datagram({ ttl: 1 }), { linkBroadcast: true })])),
    );
    expect([...batch.standing]).toEqual([Standing.Done, Standing.Tunnel, Standing.Done]);
    expect(batch.outputs).toHaveLength(1);
    const icmp = batch.outputs[0]!;
    expect(icmp.kind).toBe('icmp');
    expect(ipv4Source(icmp.bytes, 0)).toBe(HA);
    expect(ipv4Destination(icmp.bytes, 0)).toBe(CN);
    expect(p.counters['icmp-sent']).toBe(1);
    expect(p.counters['icmp-suppressed']).toBe(1);
  });
});

describe('encapsulateBatch', () => {
  it('one tunnel packet per care-of address, none to a care-of address that is itself bound here or is the source', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA));
    table.upsertTunnel(HOME, target(FA2));
    table.upsertTunnel(HOME, target(HOME2));
    table.upsertTunnel(HOME2, target(FA));
    const p = plane(table);
    const batch = encapsulateBatch(p, timeExceededBatch(p, lookupBatch(p, classifyBatch(p, [pkt(datagram({ source: FA2 }))]))));
    expect([...batch.standing]).toEqual([Standing.Done]);
    expect(batch.outputs.map((o) => (o.kind === 'send-ip' ? o.destination : undefined))).toEqual([FA]);
    expect(p.counters['loop-source-is-tunnel-exit']).toBe(1);
    expect(p.counters['loop-care-of-address-bound']).toBe(1);
    expect(ipv4Destination(batch.outputs[0]!.bytes, 0)).toBe(FA);
    expect(batch.outputs[0]!.bytes[9]).toBe(IpProtocol.IPIP);
  });
});

describe('broadcastBatch', () => {
  it('[R4.3-1] copies a home-network broadcast to the bindings with B only, and only when it arrived on the home interface', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(HOME, target(FA, { broadcast: true }));
    table.upsertTunnel(HOME2, target(FA2));
    const p = plane(table);
    const b = datagram({ destination: ipv4('198.51.100.255'), source: ipv4('198.51.100.50') });
    const batch = broadcastBatch(p, classifyBatch(p, [pkt(b), pkt(b, { ingress: 'wan0' })]));
    expect([...batch.standing]).toEqual([Standing.Done, Standing.Done]);
    expect(batch.outputs.map((o) => [o.index, o.kind === 'send-ip' ? o.destination : 0])).toEqual([[0, FA]]);
    expect(p.counters['broadcast-unrequested']).toBe(1);
  });
});

describe('outputBatch', () => {
  it('puts the outputs in input order (stable), carries the input batch, and counts the outputs', () => {
    const p = plane();
    const inputs = [pkt(datagram({})), pkt(datagram({})), pkt(datagram({}))];
    const bytes = new Uint8Array(20);
    const batch: HaBatch = {
      inputs,
      standing: new Uint8Array(3),
      entries: [],
      leases: p.pool.openBatch(),
      outputs: [
        { kind: 'icmp', index: 2, bytes, destination: 1 },
        { kind: 'local', index: 0, bytes, decapsulated: false },
        { kind: 'forward', index: 1, bytes, routed: false },
        { kind: 'send-ip', index: 0, bytes, destination: 2, homeAddress: HOME, encapsulation: 'gre', via: 'tunnel' },
      ],
    };
    const out = outputBatch(p, batch);
    expect(out.inputs).toBe(inputs);
    expect(out.packets.map((o) => [o.index, o.kind])).toEqual([
      [0, 'local'],
      [0, 'send-ip'],
      [1, 'forward'],
      [2, 'icmp'],
    ]);
    expect(p.counters['outputs']).toBe(4);
  });
});

describe('the stages as RxJS operators', () => {
  it('piped in order they give what the composed functions give, one output batch per input batch', async () => {
    const build = () => {
      const table = new ForwardingTable();
      table.upsertTunnel(HOME, target(FA, { broadcast: true }));
      return plane(table);
    };
    const inputs = [
      [pkt(datagram({})), pkt(datagram({ destination: HOME2 })), pkt(datagram({ ttl: 1 }))],
      [pkt(datagram({ destination: 0xffffffff, source: ipv4('198.51.100.50') })), pkt(datagram({ destination: HA }))],
    ];
    const piped = build();
    const viaRx = await firstValueFrom(
      from(inputs).pipe(classify(piped), lookup(piped), timeExceeded(piped), encapsulate(piped), broadcast(piped), outputs(piped), toArray()),
    );
    const direct = build();
    const viaFunctions = inputs.map((batch) =>
      outputBatch(direct, broadcastBatch(direct, encapsulateBatch(direct, timeExceededBatch(direct, lookupBatch(direct, classifyBatch(direct, batch)))))),
    );
    const shape = (batches: typeof viaFunctions) => batches.map((b) => b.packets.map((o) => [o.index, o.kind, [...o.bytes]]));
    expect(shape(viaRx)).toEqual(shape(viaFunctions));
    expect(viaRx.map((b) => b.inputs)).toEqual(inputs);
    expect(piped.counters).toEqual(direct.counters);
  });
});
