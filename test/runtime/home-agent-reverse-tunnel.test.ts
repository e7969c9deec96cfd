/**
 * Reverse tunnels at the home agent on the simulated network (RFC 3024, R4.2.3-7): the real
 * agent, its data path over the simulated tap, a correspondent behind a router.
 *
 *   cn 192.0.2.20 ── corr ── r ── home 198.51.100.0/24 ── ha 198.51.100.1
 *                             └── foreign 203.0.113.0/24 ── care-of host 203.0.113.77, stranger 203.0.113.99
 *
 * The care-of host plays the foreign agent (or co-located node) tunnelling the mobile node's
 * datagrams to the home agent; the stranger sends the same tunnel from another address.
 */
import { Effect, Scope } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simPacketTapLayer } from '../../io/sim/packet-tap.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { encodeIpv4Packet, IpProtocol, ipv4Destination, ipv4PacketLength, ipv4Protocol } from '../../io/wire/ipv4.js';
import { ipInIpEncapsulate } from '../../io/wire/tunnel.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { attachHomeAgentDataPath, type HomeAgentDataPath } from '../../runtime/ha/home-agent-data-path.js';
import { echoRequest, recordIcmp, type SeenIcmp } from '../sim/network-support.js';
import { COA1, HA, Harness, HOME_NETWORK, makeConfig, MN1, PREFIX_LENGTH } from './home-agent-harness.js';

const R_HOME = ipv4('198.51.100.254');
const R_CORR = ipv4('192.0.2.254');
const R_FOREIGN = ipv4('203.0.113.254');
const CN = ipv4('192.0.2.20');
const STRANGER = ipv4('203.0.113.99');

interface World {
  readonly harness: Harness;
  readonly net: SimNetwork;
  readonly cn: SimHost;
  readonly coa: SimHost;
  readonly stranger: SimHost;
  readonly path: HomeAgentDataPath;
  readonly cnIcmp: SeenIcmp[];
  readonly tunnelsToCoa: Uint8Array[];
}

let open: World[] = [];
afterEach(() => {
  for (const world of open) world.path.detach();
  open = [];
});

function world(): World {
  const harness = new Harness(makeConfig({ settings: { addresses: [HA], reverseTunnel: 'allowed' } }));
  const net = new SimNetwork({ clock: harness.clock, seed: 5 });
  const home = net.addSegment('home');
  const corr = net.addSegment('corr');
  const foreign = net.addSegment('foreign');
  const ha = net.addHost('ha', { forwarding: true });
  ha.addInterface('home0', home, { address: HA, prefixLength: PREFIX_LENGTH });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('home', home, { address: R_HOME, prefixLength: 24 });
  r.addInterface('corr', corr, { address: R_CORR, prefixLength: 24 });
  r.addInterface('foreign', foreign, { address: R_FOREIGN, prefixLength: 24 });
  const cn = net.addHost('cn');
  cn.addInterface('eth0', corr, { address: CN, prefixLength: 24 });
  cn.addRoute(0, 0, { via: R_CORR, interface: 'eth0' });
  const coa = net.addHost('coa');
  coa.addInterface('eth0', foreign, { address: COA1, prefixLength: 24 });
  coa.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const stranger = net.addHost('stranger');
  stranger.addInterface('eth0', foreign, { address: STRANGER, prefixLength: 24 });
  stranger.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const tunnelsToCoa: Uint8Array[] = [];
  coa.onIp(IpProtocol.IPIP, (datagram) => void tunnelsToCoa.push(datagram.slice()));
  const path = attachHomeAgentDataPath(harness.agent, simPacketTapLayer(ha), {
    clock: harness.clock,
    addresses: [HA],
    homeNetwork: HOME_NETWORK,
    prefixLength: PREFIX_LENGTH,
    homeInterface: 'home0',
  });
  const w: World = { harness, net, cn, coa, stranger, path, cnIcmp: recordIcmp(cn), tunnelsToCoa };
  open.push(w);
  return w;
}

/** The mobile node's echo request to the correspondent (source: its home address), tunnelled to the home agent from `outerSource`. */
function reverseTunnelledPing(outerSource: number, sequence: number): Uint8Array {
  const payload = echoRequest(0x51, sequence);
  const inner = new Uint8Array(ipv4PacketLength({ header: {} as never, payload }));
  encodeIpv4Packet(
    { header: { tos: 0, identification: sequence, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IpProtocol.ICMP, source: MN1, destination: CN }, payload },
    inner,
    0,
  );
  const outer = new Uint8Array(inner.length + 20);
  ipInIpEncapsulate(inner, { source: outerSource, destination: HA, identification: sequence }, outer, 0);
  return outer;
}

const echoRequestsFromHome = (seen: readonly SeenIcmp[]) => seen.filter((s) => s.type === IcmpType.Echo && s.source === MN1);

describe('reverse tunnels at the home agent on the simulated network (RFC 3024)', () => {
  it('[R4.2.3-7] a datagram reverse-tunnelled from the care-of address reaches the correspondent with the home address as source, and its reply goes back through the tunnel', () => {
    const w = world();
    w.harness.register({ flags: RequestFlag.T, careOfAddress: COA1 });
    expect(w.harness.agent.forwardingTable.lookup(MN1)?.tunnels[0]?.reverseTunnel).toBe(true);
    w.coa.sendIp(reverseTunnelledPing(COA1, 1));
    w.harness.clock.advance(3000);

    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(1);
    expect(w.path.planeCounters['decapsulated']).toBe(1);
    expect(w.path.counters.reinjected).toBe(1);
    // The correspondent answers the home address: intercepted and tunnelled to the care-of address.
    expect(w.tunnelsToCoa).toHaveLength(1);
    expect(ipv4Destination(w.tunnelsToCoa[0]!, 20)).toBe(MN1);
    expect(ipv4Protocol(w.tunnelsToCoa[0]!, 20)).toBe(IpProtocol.ICMP);
  });

  it('[R4.2.3-7] the same tunnel from another source is dropped and counted; nothing reaches the correspondent', () => {
    const w = world();
    w.harness.register({ flags: RequestFlag.T, careOfAddress: COA1 });
    w.stranger.sendIp(reverseTunnelledPing(STRANGER, 1));
    w.harness.clock.advance(3000);

    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(0);
    expect(w.path.planeCounters['decapsulation-wrong-care-of-address']).toBe(1);
    expect(w.path.planeCounters['decapsulated']).toBeUndefined();
  });

  it('a tunnel for a home address with no binding is dropped and counted (not left to the host)', () => {
    const w = world();
    w.coa.sendIp(reverseTunnelledPing(COA1, 1));
    w.harness.clock.advance(3000);
    expect(echoRequestsFromHome(w.cnIcmp)).toHaveLength(0);
    expect(w.path.planeCounters['decapsulation-unknown-home-address']).toBe(1);
  });
});
