/**
 * The decapsulating planes' named stages (runtime/dataplane/fa-plane.ts), each alone and sans
 * IO. The planes' behaviour per RFC clause is in data-plane.test.ts; here each stage's share.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, from, toArray } from 'rxjs';
import { ipv4 } from '../../io/wire/bytes.js';
import { encodeIpv4Packet, IpProtocol, Ipv4Flag, ipv4Destination, ipv4PacketLength } from '../../io/wire/ipv4.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import {
  classifyForeignAgentBatch,
  classifyMobileNodeBatch,
  decapsulateForeignAgentBatch,
  decapsulateMobileNodeBatch,
  decapsulationOutputBatch,
  FaStanding,
  faPlane,
  foreignAgentDataPlane,
  mnPlane,
  routeVisitorsBatch,
} from '../../runtime/dataplane/fa-plane.js';
import { stage, type Packet } from '../../runtime/dataplane/packets.js';

const FA = ipv4('203.0.113.1');
const HA = ipv4('198.51.100.1');
const HOME = ipv4('198.51.100.10');
const STRANGER = ipv4('198.51.100.99');
const CN = ipv4('192.0.2.5');
const CCOA = ipv4('203.0.113.77');
const MN_MAC = '02:00:00:00:00:0a';

function datagram(source: number, destination: number, ttl = 63, protocol: number = IpProtocol.UDP, payload = new Uint8Array(12)): Uint8Array {
  const packet = {
    header: { tos: 0, identification: 3, flags: Ipv4Flag.DontFragment, fragmentOffset: 0, ttl, protocol, source, destination },
    payload,
  };
  const bytes = new Uint8Array(ipv4PacketLength(packet));
  encodeIpv4Packet(packet, bytes, 0);
  return bytes;
}

function tunnelled(inner: Uint8Array, destination: number): Uint8Array {
  const out = new Uint8Array(inner.length + 20);
  ipInIpEncapsulate(inner, { source: HA, destination, identification: 9, ttl: 64 }, out, 0);
  return out;
}

const pkt = (bytes: Uint8Array): Packet => ({ bytes, ingress: 'wan0' });
const fa = () => faPlane({ visitors: (home) => (home === HOME ? MN_MAC : undefined), localAddresses: [FA] });

describe('foreign agent stages', () => {
  it('classify: tunnels to the agent to decapsulate, other datagrams to it local, visitors\' datagrams to route, the rest forwarded', () => {
    const plane = fa();
    const batch = classifyForeignAgentBatch(plane, [
      pkt(tunnelled(datagram(CN, HOME), FA)),
      pkt(datagram(CN, FA)),
      pkt(datagram(HOME, CN)),
      pkt(datagram(CN, STRANGER)),
    ]);
    expect([...batch.standing]).toEqual([FaStanding.Decapsulate, FaStanding.Done, FaStanding.RouteVisitor, FaStanding.Done]);
    expect(batch.outputs.map((o) => [o.index, o.kind])).toEqual([
      [1, 'local'],
      [3, 'forward'],
    ]);
  });

  it('[R4.2.2-1] decapsulate: a visitor gets the inner datagram by its link-layer address; an unknown inner destination is dropped, counted', () => {
    const plane = fa();
    const inner = datagram(CN, HOME);
    const batch = decapsulateForeignAgentBatch(plane, classifyForeignAgentBatch(plane, [pkt(tunnelled(inner, FA)), pkt(tunnelled(datagram(CN, STRANGER), FA))]));
    expect([...batch.standing]).toEqual([0, 0]);
    expect(batch.outputs).toHaveLength(1);
    const delivered = batch.outputs[0]!;
    expect(delivered.kind === 'deliver' && delivered.linkAddress).toBe(MN_MAC);
    expect([...delivered.bytes]).toEqual([...inner]);
    expect(plane.counters['unknown-visitor']).toBe(1);
  });

  it('[R4.2.2-6] routeVisitors: TTL decremented in a pool copy; a TTL that runs out gives ICMP Time Exceeded', () => {
    const plane = fa();
    const original = datagram(HOME, CN);
    const batch = routeVisitorsBatch(plane, classifyForeignAgentBatch(plane, [pkt(original), pkt(datagram(HOME, CN, 1))]));
    expect(batch.outputs.map((o) => [o.index, o.kind])).toEqual([
      [0, 'forward'],
      [1, 'icmp'],
    ]);
    expect(batch.outputs[0]!.bytes[8]).toBe(62);
    expect(original[8]).toBe(63);
    expect(ipv4Destination(batch.outputs[1]!.bytes, 0)).toBe(HOME);
  });

  it('the stages piped as operators give what foreignAgentDataPlane.process gives, outputs in input order', async () => {
    const inputs = [[pkt(datagram(HOME, CN)), pkt(tunnelled(datagram(CN, HOME), FA)), pkt(datagram(CN, FA))]];
    const plane = fa();
    const [viaStages] = await firstValueFrom(
      from(inputs).pipe(
        stage(plane, classifyForeignAgentBatch),
        stage(plane, decapsulateForeignAgentBatch),
        stage(plane, routeVisitorsBatch),
        stage(plane, decapsulationOutputBatch),
        toArray(),
      ),
    );
    const whole = foreignAgentDataPlane({ visitors: (home) => (home === HOME ? MN_MAC : undefined), localAddresses: [FA] }).process(inputs[0]!);
    expect(viaStages!.packets.map((o) => [o.index, o.kind])).toEqual([
      [0, 'forward'],
      [1, 'deliver'],
      [2, 'local'],
    ]);
    expect(viaStages!.packets.map((o) => [o.index, o.kind, [...o.bytes]])).toEqual(whole.packets.map((o) => [o.index, o.kind, [...o.bytes]]));
  });
});

describe('mobile node stages', () => {
  const mn = () => mnPlane({ homeAddress: HOME, careOfAddresses: [CCOA], homePrefixLength: 24 });

  it('classify: not to the node → forward, to it and not a tunnel → local, a tunnel → to decapsulate', () => {
    const plane = mn();
    const batch = classifyMobileNodeBatch(plane, [pkt(datagram(CN, STRANGER)), pkt(datagram(CN, CCOA)), pkt(tunnelled(datagram(CN, HOME), CCOA))]);
    expect([...batch.standing]).toEqual([0, 0, 1]);
    expect(batch.outputs.map((o) => [o.index, o.kind])).toEqual([
      [0, 'forward'],
      [1, 'local'],
    ]);
  });

  it('[R4.3-1] decapsulate: two layers of a nested broadcast come off; an inner datagram for someone else is dropped (RFC 2003 6.2)', () => {
    const plane = mn();
    const broadcast = datagram(CN, ipv4('198.51.100.255'));
    const nested = tunnelled(tunnelled(broadcast, HOME), CCOA);
    const batch = decapsulateMobileNodeBatch(plane, classifyMobileNodeBatch(plane, [pkt(nested), pkt(tunnelled(datagram(CN, STRANGER), CCOA))]));
    expect(batch.outputs).toHaveLength(1);
    expect(batch.outputs[0]!.kind === 'local' && batch.outputs[0]!.decapsulated).toBe(true);
    expect([...batch.outputs[0]!.bytes]).toEqual([...broadcast]);
    expect(plane.counters['not-for-me']).toBe(1);
  });
});
