/**
 * The home agent's advertiser (runtime/ha/home-agent-advertiser.ts) on a simulated home link:
 *
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ── mn (scripted, 198.51.100.10)
 *
 * Everything is checked on the frames the scripted node receives.
 */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import { ALL_MOBILITY_AGENTS_GROUP, multicastMac, type SimHost } from '../../io/sim/ip-host.js';
import {
  AdvertisementFlag,
  decodeAgentAdvertisement,
  encodeAgentSolicitation,
  makeAgentSolicitation,
  mobilityAgentExtension,
  prefixLengthsExtension,
  SOLICITATION_LENGTH,
} from '../../io/wire/agent-discovery.js';
import { ipv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { ethernetDestination, ethernetEtherType, EtherType, ETHERNET_HEADER_LENGTH } from '../../io/wire/ethernet.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { buildHomeAgentAdvertisement } from '../../machines/advertiser.js';
import { SimulatedClock } from '../../io/clock.js';
import { icmpFrame } from '../../io/wire/frames.js';
import { HomeAgentAdvertiser, type HomeAgentAdvertisementConfig, type HomeAgentAdvertiserEvent } from '../../runtime/ha/home-agent-advertiser.js';

const HA = ipv4('198.51.100.1');
const MN = ipv4('198.51.100.10');
const MAC_HA = '02:00:00:00:00:01';
const MAC_MN = '02:00:00:00:00:0a';
const START = Date.UTC(2026, 0, 1);

interface Heard {
  at: number;
  to: string;
  ttl: number;
  destination: Ipv4Address;
  code: number;
  lifetime: number;
  sequence: number;
  flags: number;
  registrationLifetime: number;
  careOfAddresses: readonly Ipv4Address[];
  prefixLengths?: readonly number[];
}

function world(config: Partial<HomeAgentAdvertisementConfig> = {}) {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 9 });
  const home = net.addSegment('home');
  const ha = net.addHost('ha');
  ha.addInterface('eth0', home, { mac: MAC_HA, address: HA, prefixLength: 24 });
  const mn: SimHost = net.addHost('mn');
  mn.addInterface('eth0', home, { mac: MAC_MN, address: MN, prefixLength: 24 });
  const heard: Heard[] = [];
  mn.onFrame('eth0', (frame) => {
    if (ethernetEtherType(frame) !== EtherType.IPv4) return;
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH);
    if (!packet.ok || packet.value.header.protocol !== IpProtocol.ICMP || packet.value.payload[0] !== 9) return;
    const adv = decodeAgentAdvertisement(packet.value.payload);
    if (!adv.ok) throw new Error(adv.error.message);
    const ext = mobilityAgentExtension(adv.value)!;
    const prefix = prefixLengthsExtension(adv.value);
    heard.push({
      at: clock.now() - START,
      to: ethernetDestination(frame),
      ttl: packet.value.header.ttl,
      destination: packet.value.header.destination,
      code: adv.value.code,
      lifetime: adv.value.lifetime,
      sequence: ext.sequence,
      flags: ext.flags,
      registrationLifetime: ext.registrationLifetime,
      careOfAddresses: ext.careOfAddresses,
      ...(prefix === undefined ? {} : { prefixLengths: prefix.prefixLengths }),
    });
  });
  let seed = 1;
  const link = ha.linkInterface('eth0');
  const advertiser = new HomeAgentAdvertiser(link, { address: HA, registrationLifetime: 1800, lifetimeSeconds: 3, maxIntervalMs: 1000, seed: 77, ...config }, {
    clock,
    random32: () => (seed = (seed * 1103515245 + 12345) >>> 0),
  });
  const events: HomeAgentAdvertiserEvent[] = [];
  advertiser.events.subscribe((e) => events.push(e));
  const solicit = (destination: Ipv4Address, source: Ipv4Address = MN) => {
    const icmp = new Uint8Array(SOLICITATION_LENGTH);
    encodeAgentSolicitation(makeAgentSolicitation(), icmp, 0);
    const destinationMac = destination === 0xffffffff ? 'ff:ff:ff:ff:ff:ff' : multicastMac(destination);
    mn.sendFrame('eth0', icmpFrame({ sourceMac: MAC_MN, destinationMac, source, destination, ttl: 1 }, icmp));
  };
  const run = (ms: number) => {
    for (let i = 0; i < ms; i += 10) clock.advance(10);
  };
  return { clock, advertiser, heard, events, solicit, run, close: () => (advertiser.close(), link.close()) };
}

describe('HomeAgentAdvertiser on the home link', () => {
  it('[R2.3-1] [R2.3-8] [R2.1-3] [R2.1-2] advertises by itself at start and then periodically: H set, F/B/R clear, TTL 1, to 224.0.0.1, sequence from 0', () => {
    const w = world();
    w.run(10_000);
    expect(w.heard.length).toBeGreaterThanOrEqual(10);
    expect(w.heard[0]).toMatchObject({ at: 0, sequence: 0 });
    w.heard.forEach((h, i) => {
      expect(h).toMatchObject({ to: '01:00:5e:00:00:01', ttl: 1, destination: ipv4('224.0.0.1'), lifetime: 3, registrationLifetime: 1800, careOfAddresses: [], sequence: i });
      expect(h.flags & AdvertisementFlag.H).not.toBe(0);
      expect(h.flags & (AdvertisementFlag.F | AdvertisementFlag.B | AdvertisementFlag.R)).toBe(0);
    });
    // R2.1-7: never more than a third of the 3 s Lifetime apart (1 s), and jittered (R2.1-9).
    const gaps = w.heard.slice(1).map((h, i) => h.at - w.heard[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000);
    expect(new Set(gaps).size).toBeGreaterThan(1);
    expect(w.advertiser.counters.advertisements).toBe(w.heard.length);
    w.close();
  });

  it('[R2.3-3] [R2.3-5] [R2.1-1] answers a solicitation sent to 224.0.0.11 by unicast to the soliciting node, at once', () => {
    const w = world({ maxIntervalMs: 60_000, lifetimeSeconds: 1800 });
    w.run(5_000);
    expect(w.heard).toHaveLength(1);
    w.solicit(ALL_MOBILITY_AGENTS_GROUP);
    w.run(20);
    expect(w.heard).toHaveLength(2);
    expect(w.heard[1]).toMatchObject({ to: MAC_MN, destination: MN, ttl: 1, sequence: 1 });
    expect(w.heard[1]!.at).toBeLessThan(5_020);
    expect(w.heard[1]!.flags & AdvertisementFlag.H).not.toBe(0);
    expect(w.events.filter((e) => e.event === 'solicitation')).toEqual([expect.objectContaining({ from: '198.51.100.10', linkLayerSource: MAC_MN })]);
    // Also to the limited broadcast, and from a source that is not on the link (2.3 forbids requiring a neighbour).
    w.solicit(0xffffffff, ipv4('192.0.2.77'));
    w.run(20);
    expect(w.heard[2]).toMatchObject({ to: MAC_MN, destination: ipv4('192.0.2.77'), sequence: 2 });
    w.close();
  });

  it('a solicitation from 0.0.0.0 gets a multicast answer within the random response delay (RFC 1256), rate-limited', () => {
    const w = world({ maxIntervalMs: 60_000, lifetimeSeconds: 1800 });
    w.run(5_000);
    w.solicit(ALL_MOBILITY_AGENTS_GROUP, 0);
    w.run(2_100);
    expect(w.heard).toHaveLength(2);
    expect(w.heard[1]).toMatchObject({ to: '01:00:5e:00:00:01', destination: ipv4('224.0.0.1') });
    expect(w.heard[1]!.at - 5_000).toBeLessThanOrEqual(2_000);
    w.close();
  });

  it('[R2.1.1-3] a home agent never says it is busy: no B bit, and no setting offers one', () => {
    const adv = buildHomeAgentAdvertisement({ registrationLifetime: 600, advertisementLifetime: 30 }, 0);
    const ext = mobilityAgentExtension(adv)!;
    expect(ext.flags).toBe(AdvertisementFlag.H);
    const w = world();
    w.run(3_000);
    expect(w.heard.every((h) => (h.flags & AdvertisementFlag.B) === 0)).toBe(true);
    w.close();
  });

  it('with router addresses and prefix lengths configured, carries them (2.1.2); a length count that does not match is a RangeError before anything is sent', () => {
    const w = world({ routers: [{ address: HA, preference: 0 }], prefixLengths: [24], routesCommonTraffic: false });
    w.run(10);
    expect(w.heard[0]).toMatchObject({ code: 16, prefixLengths: [24] });
    w.close();
    expect(() => world({ routers: [], prefixLengths: [24] })).toThrow(RangeError);
    expect(() => world({ lifetimeSeconds: 0 })).toThrow(RangeError);
  });

  it('close() stops the advertisements', () => {
    const w = world();
    w.run(2_000);
    const n = w.heard.length;
    w.close();
    w.run(5_000);
    expect(w.heard).toHaveLength(n);
  });
});
