/**
 * The roaming demo's simulated network (TEST-NET addresses only), shared by `mip4 demo`
 * (roaming-demo.ts) and the scenarios that replay its moves with other settings:
 *
 *   ha 198.51.100.1 ── home 198.51.100.0/24 ──────┤ r (.254 / .62 / .126 / .254)
 *   fa1 203.0.113.1 ── foreign-1 203.0.113.0/26 ──┤
 *   fa2 203.0.113.65 ─ foreign-2 203.0.113.64/26 ─┤
 *   cn 192.0.2.20 ──── correspondent 192.0.2.0/24 ┘
 *
 * The mobile node's host starts on the home segment. Only hosts, interfaces and routes are made
 * here; the agents are started by the caller.
 *
 * With `natOnForeign2` (the RFC 3519 scenarios), foreign-2 sits behind a NAT router instead of
 * the router: `nat` keeps the router's foreign-2 address (.126, same MAC) as its inside interface
 * and masquerades it behind 203.0.113.129 on a 'nat-uplink' segment (203.0.113.128/26, the
 * router at .190). 203.0.113.64/26 plays a private prefix: the router still routes it to the NAT
 * (as a provider routes a customer's block), and the NAT drops whatever arrives unsolicited.
 */
import { SimulatedClock } from '../../io/clock.js';
import { ALL_MOBILITY_AGENTS_GROUP, type SimHost } from '../../io/sim/ip-host.js';
import type { SimCapture } from '../../io/sim/network.js';
import type { SimEthernetSegment } from '../../io/sim/ethernet.js';
import { SimNetwork } from '../../io/sim/network.js';
import { fromHex, ipv4 } from '../../io/wire/bytes.js';

export const HOME_NETWORK = ipv4('198.51.100.0');
export const HA = ipv4('198.51.100.1');
export const MN = ipv4('198.51.100.10');
export const R_HOME = ipv4('198.51.100.254');
export const FA1 = ipv4('203.0.113.1');
export const R_F1 = ipv4('203.0.113.62');
export const FA2 = ipv4('203.0.113.65');
export const R_F2 = ipv4('203.0.113.126');
export const COLOCATED = ipv4('203.0.113.100');
export const CN = ipv4('192.0.2.20');
export const R_CN = ipv4('192.0.2.254');
/** The NAT's outside address and the router's on the uplink (with `natOnForeign2`). */
export const NAT_OUTSIDE = ipv4('203.0.113.129');
export const R_UPLINK = ipv4('203.0.113.190');

export const MAC = {
  ha: '02:00:00:00:00:01',
  rHome: '02:00:00:00:00:fe',
  rF1: '02:00:00:00:01:fe',
  rF2: '02:00:00:00:02:fe',
  rCn: '02:00:00:00:03:fe',
  fa1: '02:00:00:00:01:01',
  fa2: '02:00:00:00:02:01',
  cn: '02:00:00:00:03:14',
  mn: '02:00:00:00:00:0a',
} as const;

/** Demonstration keys (never use them for anything else). */
export const MN_KEY = { spi: 4096, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') };
export const FA1_KEY = { spi: 0x301, key: fromHex('000102030405060708090a0b0c0d0e0f') };
export const FA2_KEY = { spi: 0x302, key: fromHex('101112131415161718191a1b1c1d1e1f') };

/** The simulated clock's origin: 2026-01-01T00:00:00Z (registration timestamps use it). */
export const START = Date.UTC(2026, 0, 1);

export const DEMO_SEGMENTS = ['home', 'foreign-1', 'foreign-2', 'correspondent'] as const;
export type DemoSegment = (typeof DEMO_SEGMENTS)[number];

/** One-way latency of each demo segment, ms: the MN–HA round trip of a move follows from it. */
export const DEMO_SEGMENT_LATENCY_MS: Readonly<Record<DemoSegment, number>> = { home: 1, 'foreign-1': 1, 'foreign-2': 1, correspondent: 5 };

export interface DemoTopology {
  readonly clock: SimulatedClock;
  readonly net: SimNetwork;
  /** Started before any host: every frame on every segment. */
  readonly capture: SimCapture;
  readonly segments: { readonly home: SimEthernetSegment; readonly f1: SimEthernetSegment; readonly f2: SimEthernetSegment; readonly corr: SimEthernetSegment };
  readonly router: SimHost;
  readonly haHost: SimHost;
  readonly fa1Host: SimHost;
  readonly fa2Host: SimHost;
  readonly cn: SimHost;
  readonly mnHost: SimHost;
  /** The NAT in front of foreign-2, with `natOnForeign2`. */
  readonly natHost?: SimHost;
}

export function buildDemoTopology(options: {
  readonly seed: number;
  readonly ingressFilter: boolean;
  readonly latencyMs?: Readonly<Record<DemoSegment, number>>;
  /** Put foreign-2 behind a NAT whose UDP mappings live this long (see above). */
  readonly natOnForeign2?: { readonly udpTimeoutMs: number };
}): DemoTopology {
  const latency = options.latencyMs ?? DEMO_SEGMENT_LATENCY_MS;
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: options.seed });
  const capture = net.capture();
  const home = net.addSegment('home', { latencyMs: latency.home });
  const f1 = net.addSegment('foreign-1', { latencyMs: latency['foreign-1'] });
  const f2 = net.addSegment('foreign-2', { latencyMs: latency['foreign-2'] });
  const corr = net.addSegment('correspondent', { latencyMs: latency.correspondent });

  // With the ingress filter (BCP 38) the node's upstream away from home needs the reverse tunnel.
  const router = net.addHost('r', { forwarding: true, ingressFilter: options.ingressFilter });
  router.addInterface('home', home, { mac: MAC.rHome, address: R_HOME, prefixLength: 24 });
  router.addInterface('f1', f1, { mac: MAC.rF1, address: R_F1, prefixLength: 26 });
  let natHost: SimHost | undefined;
  if (options.natOnForeign2 === undefined) {
    router.addInterface('f2', f2, { mac: MAC.rF2, address: R_F2, prefixLength: 26 });
  } else {
    const uplink = net.addSegment('nat-uplink', { latencyMs: latency['foreign-2'] });
    router.addInterface('uplink', uplink, { address: R_UPLINK, prefixLength: 26 });
    router.addRoute(ipv4('203.0.113.64'), 26, { via: NAT_OUTSIDE, interface: 'uplink' });
    natHost = net.addHost('nat', { forwarding: true, nat: { inside: ['lan'], outside: 'wan', udpTimeoutMs: options.natOnForeign2.udpTimeoutMs } });
    natHost.addInterface('lan', f2, { mac: MAC.rF2, address: R_F2, prefixLength: 26 });
    natHost.addInterface('wan', uplink, { address: NAT_OUTSIDE, prefixLength: 26 });
    natHost.addRoute(0, 0, { via: R_UPLINK, interface: 'wan' });
  }
  router.addInterface('corr', corr, { mac: MAC.rCn, address: R_CN, prefixLength: 24 });
  const haHost = net.addHost('ha', { forwarding: true });
  haHost.addInterface('home0', home, { mac: MAC.ha, address: HA, prefixLength: 24 });
  haHost.addRoute(0, 0, { via: R_HOME, interface: 'home0' });
  // Foreign agents route their visitors' datagrams (2.1, 2.3.1): the node's replies go through them.
  const fa1Host = net.addHost('fa1', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  fa1Host.addInterface('eth0', f1, { mac: MAC.fa1, address: FA1, prefixLength: 26 });
  fa1Host.addRoute(0, 0, { via: R_F1, interface: 'eth0' });
  const fa2Host = net.addHost('fa2', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  fa2Host.addInterface('eth0', f2, { mac: MAC.fa2, address: FA2, prefixLength: 26 });
  fa2Host.addRoute(0, 0, { via: R_F2, interface: 'eth0' });
  const cn = net.addHost('cn');
  cn.addInterface('eth0', corr, { mac: MAC.cn, address: CN, prefixLength: 24 });
  cn.addRoute(0, 0, { via: R_CN, interface: 'eth0' });
  const mnHost = net.addHost('mn');
  mnHost.addInterface('eth0', home, { mac: MAC.mn, address: MN, prefixLength: 24 });
  mnHost.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  return { clock, net, capture, segments: { home, f1, f2, corr }, router, haHost, fa1Host, fa2Host, cn, mnHost, ...(natHost ? { natHost } : {}) };
}
