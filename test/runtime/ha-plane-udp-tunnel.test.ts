/**
 * The home agent plane over UDP (RFC 3519): a binding with TunnelTarget.udp is tunnelled as
 * IP + UDP (434 → the NAT's port) + tunnel data header + the datagram (or GRE), with the RFC
 * 2003 TTL, TOS and DF rules and Fragmentation Needed past the UDP tunnel MTU; tunnel data
 * messages from the registration socket are decapsulated when they come from the binding's
 * translated address and port (a new port is a rebinding the agent may follow), keepalives go
 * to the agent's stack, and everything else is dropped and counted by reason.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, readU16 } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4ChecksumValid, ipv4Destination, ipv4PacketLength, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { decodeGreHeader } from '../../io/wire/tunnel.js';
import { ForwardingTable, type TunnelTarget } from '../../runtime/dataplane/forwarding-table.js';
import { homeAgentDataPlane, type UdpTunnelMessage } from '../../runtime/dataplane/ha-plane.js';
import type { OutputBatch, OutputPacket, Packet } from '../../runtime/dataplane/packets.js';

const HA = ipv4('198.51.100.1');
const HOME_NET = ipv4('198.51.100.0');
const HOME = ipv4('198.51.100.10');
const CN = ipv4('192.0.2.5');
const COA = ipv4('192.0.2.130'); // private, behind the NAT
const NAT = ipv4('203.0.113.7');
const NAT_PORT = 40001;

function datagram(fields: { source?: number; destination?: number; ttl?: number; protocol?: number; payload?: Uint8Array; dontFragment?: boolean; tos?: number }): Uint8Array {
  const packet = {
    header: {
      tos: fields.tos ?? 0,
      identification: 7,
      flags: fields.dontFragment === false ? 0 : Ipv4Flag.DontFragment,
      fragmentOffset: 0,
      ttl: fields.ttl ?? 64,
      protocol: fields.protocol ?? IpProtocol.UDP,
      source: fields.source ?? CN,
      destination: fields.destination ?? HOME,
    },
    payload: fields.payload ?? new Uint8Array(12).fill(0xab),
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

const udpTarget = (extra: Partial<TunnelTarget> = {}): TunnelTarget => ({
  careOfAddress: COA,
  encapsulation: 'ip-in-ip',
  broadcast: false,
  decapsulatedByMobileNode: true,
  reverseTunnel: true,
  udp: { address: NAT, port: NAT_PORT },
  ...extra,
});

function setup(target: TunnelTarget = udpTarget(), options: { udpTunnelMtu?: number; followUdpTunnel?: (h: number, a: number, p: number) => boolean; followUdpFlow?: (c: number, a: number, p: number) => boolean } = {}) {
  const table = new ForwardingTable();
  table.upsertTunnel(HOME, target);
  const plane = homeAgentDataPlane({ table, localAddresses: [HA], homeNetwork: HOME_NET, prefixLength: 24, ...options });
  const copy = (batch: OutputBatch): OutputPacket[] => {
    const outputs = batch.packets.map((o) => ({ ...o, bytes: o.bytes.slice() }));
    batch.release();
    return outputs;
  };
  const run = (...packets: Uint8Array[]) => copy(plane.process(packets.map((bytes): Packet => ({ bytes }))));
  const receive = (...messages: UdpTunnelMessage[]) => copy(plane.udpTunnelData(messages));
  return { table, plane, run, receive };
}

/** A tunnel data message carrying `inner` (Next Header 4). */
function tunnelData(inner: Uint8Array, nextHeader = 4): Uint8Array {
  const out = new Uint8Array(4 + inner.length);
  out.set([4, nextHeader, 0, 0]);
  out.set(inner, 4);
  return out;
}

describe('home agent plane, RFC 3519: encapsulation in UDP', () => {
  it('sends IP + UDP (434 → the NAT port) + tunnel data header (4, 4) + the datagram, to the NAT address, TTL decremented inside', () => {
    const { run, plane } = setup();
    const original = datagram({ tos: 0x10 });
    const [out] = run(original);
    expect(out).toMatchObject({ kind: 'send-ip', destination: NAT, homeAddress: HOME, encapsulation: 'ip-in-ip' });
    const bytes = out!.bytes;
    expect(ipv4Protocol(bytes, 0)).toBe(IpProtocol.UDP);
    expect(ipv4Source(bytes, 0)).toBe(HA);
    expect(ipv4Destination(bytes, 0)).toBe(NAT);
    expect(ipv4ChecksumValid(bytes, 0)).toBe(true);
    expect(bytes[1]).toBe(0x10); // TOS copied (RFC 2003 3.1)
    expect(bytes[6]! & 0x40).toBe(0x40); // DF copied
    expect(readU16(bytes, 2)).toBe(20 + 8 + 4 + original.length);
    expect([readU16(bytes, 20), readU16(bytes, 22), readU16(bytes, 24), readU16(bytes, 26)]).toEqual([434, NAT_PORT, 8 + 4 + original.length, 0]);
    expect([...bytes.subarray(28, 32)]).toEqual([4, 4, 0, 0]);
    const inner = bytes.subarray(32);
    expect(ipv4Destination(inner, 0)).toBe(HOME);
    expect(inner[8]).toBe(63);
    expect(ipv4ChecksumValid(inner, 0)).toBe(true);
    expect(plane.counters['udp-tunnelled']).toBe(1);
    expect(plane.counters['tunnelled']).toBe(1);
  });

  it('carries GRE inside UDP with Next Header 47 when the binding negotiated GRE', () => {
    const { run } = setup(udpTarget({ encapsulation: 'gre' }));
    const [out] = run(datagram({}));
    const bytes = out!.bytes;
    expect([...bytes.subarray(28, 32)]).toEqual([4, 47, 0, 0]);
    const gre = decodeGreHeader(bytes, 32, bytes.length);
    expect(gre.ok && gre.value.protocolType).toBe(0x0800);
    expect(ipv4Destination(bytes, 36)).toBe(HOME);
  });

  it('sends Fragmentation Needed (MTU less 32) for a DF datagram too big for the UDP tunnel MTU, and tunnels one without DF', () => {
    const { run, plane } = setup(udpTarget(), { udpTunnelMtu: 100 });
    const big = datagram({ payload: new Uint8Array(60) }); // 80 bytes + 32 > 100
    const [icmp] = run(big);
    expect(icmp).toMatchObject({ kind: 'icmp', destination: CN });
    expect(icmp!.bytes[20]).toBe(IcmpType.DestinationUnreachable);
    expect(icmp!.bytes[21]).toBe(4);
    expect(readU16(icmp!.bytes, 26)).toBe(68);
    expect(plane.counters['udp-frag-needed']).toBe(1);
    const [sent] = run(datagram({ payload: new Uint8Array(60), dontFragment: false }));
    expect(sent!.kind).toBe('send-ip');
  });
});

describe('home agent plane, RFC 3519: tunnel data from the NAT', () => {
  it('decapsulates tunnel data from the binding’s translated address and port and routes the datagram', () => {
    const { receive, plane } = setup();
    const [out] = receive({ bytes: tunnelData(datagram({ source: HOME, destination: CN })), source: NAT, sourcePort: NAT_PORT });
    expect(out).toMatchObject({ kind: 'forward', routed: true });
    expect(ipv4Source(out!.bytes, 0)).toBe(HOME);
    expect(out!.bytes[8]).toBe(63);
    expect(plane.counters['udp-decapsulated']).toBe(1);
  });

  it('drops and counts by reason: unknown home address, another address, malformed, unknown Next Header', () => {
    const { receive, plane } = setup();
    expect(receive({ bytes: tunnelData(datagram({ source: ipv4('198.51.100.99') })), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(receive({ bytes: tunnelData(datagram({ source: HOME })), source: ipv4('203.0.113.8'), sourcePort: NAT_PORT })).toEqual([]);
    expect(receive({ bytes: Uint8Array.of(4, 4, 0), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(receive({ bytes: tunnelData(datagram({ source: HOME }), 55), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(plane.counters).toMatchObject({
      'udp-decapsulation-unknown-home-address': 1,
      'udp-decapsulation-wrong-source': 1,
      'udp-decapsulation-malformed': 2,
    });
  });

  it('follows a new NAT port when the agent agrees (rebinding), and drops it when it does not', () => {
    const asked: Array<[number, number, number]> = [];
    let table: ForwardingTable | undefined;
    const follow = (home: number, address: number, port: number): boolean => {
      asked.push([home, address, port]);
      if (address !== NAT) return false;
      table!.upsertTunnel(home, udpTarget({ udp: { address, port } }));
      return true;
    };
    const s = setup(udpTarget(), { followUdpTunnel: follow });
    table = s.table;
    const [out] = s.receive({ bytes: tunnelData(datagram({ source: HOME, destination: CN })), source: NAT, sourcePort: 50000 });
    expect(out!.kind).toBe('forward');
    expect(asked).toEqual([[HOME, NAT, 50000]]);
    // The next datagram for the node goes to the new port.
    const [sent] = s.run(datagram({}));
    expect(readU16(sent!.bytes, 22)).toBe(50000);
    expect(s.receive({ bytes: tunnelData(datagram({ source: HOME })), source: ipv4('203.0.113.8'), sourcePort: 50000 })).toEqual([]);
    expect(s.plane.counters['udp-decapsulation-wrong-source']).toBe(1);
  });

  it('absorbs a keepalive (ICMP Echo Request to the agent), counted', () => {
    const { receive, plane } = setup();
    const echo = datagram({ source: HOME, destination: HA, protocol: IpProtocol.ICMP, payload: Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0) });
    expect(receive({ bytes: tunnelData(echo), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(plane.counters['udp-keepalive']).toBe(1);
  });

  it('absorbs a foreign agent\'s keepalive (inner source its care-of address) when the agent knows the flow, and passes on a new port', () => {
    // The FA 192.0.2.129 behind the NAT serves the node HOME: its binding's care-of address is the FA's.
    const FA_COA = ipv4('192.0.2.129');
    const asked: Array<[number, number, number]> = [];
    const follow = (careOf: number, address: number, port: number): boolean => {
      asked.push([careOf, address, port]);
      return careOf === FA_COA && address === NAT;
    };
    const { receive, plane } = setup(udpTarget({ careOfAddress: FA_COA }), { followUdpFlow: follow });
    const echo = (source: number) => datagram({ source, destination: HA, protocol: IpProtocol.ICMP, payload: Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0) });
    expect(receive({ bytes: tunnelData(echo(FA_COA)), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(receive({ bytes: tunnelData(echo(FA_COA)), source: NAT, sourcePort: 50000 })).toEqual([]);
    expect(plane.counters['udp-keepalive']).toBe(2);
    expect(asked).toEqual([[FA_COA, NAT, NAT_PORT], [FA_COA, NAT, 50000]]);
    // Another address, or a datagram that is no keepalive: not the FA's flow.
    expect(receive({ bytes: tunnelData(echo(FA_COA)), source: ipv4('203.0.113.8'), sourcePort: NAT_PORT })).toEqual([]);
    expect(receive({ bytes: tunnelData(datagram({ source: FA_COA, destination: CN })), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(plane.counters['udp-decapsulation-unknown-home-address']).toBe(2);
    expect(asked).toHaveLength(3);
  });

  it('without followUdpFlow a keepalive from a care-of address is dropped as from an unknown home address', () => {
    const FA_COA = ipv4('192.0.2.129');
    const { receive, plane } = setup(udpTarget({ careOfAddress: FA_COA }));
    const echo = datagram({ source: FA_COA, destination: HA, protocol: IpProtocol.ICMP, payload: Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0) });
    expect(receive({ bytes: tunnelData(echo), source: NAT, sourcePort: NAT_PORT })).toEqual([]);
    expect(plane.counters['udp-keepalive']).toBeUndefined();
    expect(plane.counters['udp-decapsulation-unknown-home-address']).toBe(1);
  });
});
