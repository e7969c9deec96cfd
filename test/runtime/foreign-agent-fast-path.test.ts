/**
 * The foreign agent's kernel fast path as the agent drives it (runtime/fa/visitor-fast-path.ts):
 * on the simulated network with a recording fast path, which visitor entries it is told about
 * and when they go; and the pure rule for what the decap program can serve.
 */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../io/sim/network.js';
import { ALL_MOBILITY_AGENTS_GROUP } from '../../io/sim/ip-host.js';
import { simRawIpLayer } from '../../io/sim/raw-ip.js';
import { seededRandom } from '../../io/sim/udp.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { SimulatedClock } from '../../io/clock.js';
import { udpFrame } from '../../io/wire/frames.js';
import { startForeignAgent, type FaConfig } from '../../runtime/fa/foreign-agent.js';
import { kernelServesReverseTunnel, kernelServesVisitor, type FastPathVisitor, type VisitorFastPath } from '../../runtime/fa/visitor-fast-path.js';
import { startHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { buildRequest, context, FA_KEY, HA, makeConfig, MHAE, MN1, MN1_KEY, START } from './home-agent-harness.js';

const FA = ipv4('203.0.113.1');
const R_HOME = ipv4('198.51.100.254');
const R_FOREIGN = ipv4('203.0.113.254');
const MAC_FA = '02:00:00:00:01:01';
const MAC_MN = '02:00:00:00:01:0a';

function faConfig(): FaConfig {
  return {
    settings: {
      careOfAddresses: [FA],
      interfaceAddresses: [FA],
      linkAddress: FA,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunneling: true,
      reverseTunnel: 'offered',
      encapsulatingDelivery: true,
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes: [],
    homeAgents: [{ address: HA, contexts: [context(FA_KEY)] }],
    advertisement: { lifetimeSeconds: 30, seed: 5 },
  };
}

type Told = { readonly op: 'current'; readonly visitor: FastPathVisitor } | { readonly op: 'gone'; readonly homeAddress: number } | { readonly op: 'close' };

async function world() {
  const clock = new SimulatedClock(START);
  const net = new SimNetwork({ clock, seed: 3 });
  const homeLan = net.addSegment('home');
  const foreignLan = net.addSegment('foreign');
  const ha = net.addHost('ha');
  ha.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:01', address: HA, prefixLength: 24 });
  ha.addRoute(0, 0, { via: R_HOME, interface: 'eth0' });
  const r = net.addHost('r', { forwarding: true });
  r.addInterface('eth0', homeLan, { mac: '02:00:00:00:00:fe', address: R_HOME, prefixLength: 24 });
  r.addInterface('eth1', foreignLan, { mac: '02:00:00:00:01:fe', address: R_FOREIGN, prefixLength: 24 });
  const faHost = net.addHost('fa', { forwarding: true, multicastGroups: [ALL_MOBILITY_AGENTS_GROUP] });
  faHost.addInterface('eth0', foreignLan, { mac: MAC_FA, address: FA, prefixLength: 24 });
  faHost.addRoute(0, 0, { via: R_FOREIGN, interface: 'eth0' });
  const mn = net.addHost('mn');
  mn.addInterface('eth0', foreignLan, { mac: MAC_MN });
  const random = seededRandom(11);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  const told: Told[] = [];
  const linkOpened: Array<{ readonly link: string; readonly toldBefore: number }> = [];
  const fastPath: VisitorFastPath = {
    visitorLinkOpened: (link) => void linkOpened.push({ link: link.name, toldBefore: told.length }),
    visitorCurrent: (visitor) => void told.push({ op: 'current', visitor }),
    visitorGone: (homeAddress) => void told.push({ op: 'gone', homeAddress }),
    close: () => void told.push({ op: 'close' }),
  };
  const home = await startHomeAgent(makeConfig({ settings: { reverseTunneling: true } }), { listen: [{ address: HA, port: 434 }], udp: net.udpLayer(ha), clock, random32 });
  const fa = await startForeignAgent(faConfig(), { interfaceName: 'eth0', udp: net.udpLayer(faHost), link: net.linkLayer(faHost), rawIp: simRawIpLayer(faHost), clock, random32, fastPath });
  const run = (ms: number) => {
    for (let i = 0; i < ms; i++) clock.advance(1);
  };
  const register = (lifetime: number, flags: number = RequestFlag.T) => {
    const request = buildRequest({ identification: identificationFromUnixMs(clock.now(), 1), careOfAddress: FA, lifetime, flags, extensions: [MHAE(MN1_KEY)] });
    mn.sendFrame('eth0', udpFrame({ sourceMac: MAC_MN, destinationMac: MAC_FA, source: MN1, destination: FA, ttl: 255 }, 49152, 434, request));
  };
  return { fa, home, told, linkOpened, run, register };
}

describe("the foreign agent's kernel fast path (issue 17)", () => {
  it("a visitor entry that becomes current is handed to the fast path with its MAC from the Request and the agent's own, with its granted reverse tunnel ('T', RFC 3024); its deregistration removes it; stop closes the fast path", async () => {
    const w = await world();
    w.register(600);
    w.run(100);
    expect(w.told).toEqual([
      {
        op: 'current',
        visitor: {
          homeAddress: MN1 >>> 0,
          linkLayerAddress: MAC_MN,
          ownLinkAddress: MAC_FA,
          udpTunnelled: false,
          reverseTunnel: { homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'direct' },
        },
      },
    ]);
    w.register(0);
    w.run(100);
    expect(w.told.slice(1)).toEqual([{ op: 'gone', homeAddress: MN1 }]);
    await w.fa.stop();
    await w.home.stop();
    expect(w.told.at(-1)).toEqual({ op: 'close' });
  });

  it('the fast path hears that the visitor link is open once, at start, before any entry (its packet socket filter comes before the first reverse entry)', async () => {
    const w = await world();
    w.register(600);
    w.run(100);
    expect(w.linkOpened).toEqual([{ link: 'eth0', toldBefore: 0 }]);
    expect(w.told.map((t) => t.op)).toEqual(['current']);
    await w.fa.stop();
    await w.home.stop();
  });

  it("a renewal without 'T' hands the entry over again without its reverse tunnel (the kernel's entry goes)", async () => {
    const w = await world();
    w.register(600);
    w.run(100);
    w.register(600, 0);
    w.run(100);
    expect(w.told.map((t) => (t.op === 'current' ? t.visitor.reverseTunnel !== undefined : t.op))).toEqual([true, false]);
    await w.fa.stop();
    await w.home.stop();
  });

  it('an operator removal (mip4 clear visitor) removes it from the fast path', async () => {
    const w = await world();
    w.register(600);
    w.run(100);
    expect(w.fa.agent.clearVisitor(MN1)).toBe(1);
    expect(w.told.map((t) => t.op)).toEqual(['current', 'gone']);
    await w.fa.stop();
    await w.home.stop();
  });

  it('an entry whose lifetime runs out is removed from the fast path (3.7.1 expiry)', async () => {
    const w = await world();
    w.register(2);
    w.run(100);
    expect(w.told.map((t) => t.op)).toEqual(['current']);
    w.run(3000);
    expect(w.told.map((t) => t.op)).toEqual(['current', 'gone']);
    await w.fa.stop();
    await w.home.stop();
  });
});

describe('kernelServesVisitor: what the decap program can deliver', () => {
  const visitor: FastPathVisitor = { homeAddress: MN1, linkLayerAddress: MAC_MN, ownLinkAddress: MAC_FA, udpTunnelled: false };
  it('an IP-in-IP or GRE visitor with unicast MACs: the kernel', () => {
    expect(kernelServesVisitor(visitor)).toEqual({ kernel: true });
  });
  it('a UDP-tunnelled visitor (RFC 3519) stays on userspace', () => {
    expect(kernelServesVisitor({ ...visitor, udpTunnelled: true })).toEqual({ kernel: false, reason: 'udp-tunnelled' });
  });
  it('no known unicast MAC (zero, broadcast, multicast, malformed) stays on userspace', () => {
    for (const mac of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', 'nonsense']) {
      expect(kernelServesVisitor({ ...visitor, linkLayerAddress: mac })).toEqual({ kernel: false, reason: 'no-link-layer-address' });
      expect(kernelServesVisitor({ ...visitor, ownLinkAddress: mac })).toEqual({ kernel: false, reason: 'no-link-layer-address' });
    }
  });
});

describe('kernelServesReverseTunnel: what reverse_encap can carry (RFC 3024)', () => {
  const tunnel = { homeAgent: HA, careOfAddress: FA, encapsulation: 'ip-in-ip', delivery: 'direct' } as const;
  it('the direct delivery style over IP in IP or GRE is the kernel\'s', () => {
    expect(kernelServesReverseTunnel(tunnel)).toEqual({ kernel: true });
    expect(kernelServesReverseTunnel({ ...tunnel, encapsulation: 'gre' })).toEqual({ kernel: true });
  });
  it('the encapsulating style, minimal encapsulation and UDP tunnels stay on the userspace path', () => {
    expect(kernelServesReverseTunnel({ ...tunnel, delivery: 'encapsulating' })).toEqual({ kernel: false, reason: 'encapsulating-delivery' });
    expect(kernelServesReverseTunnel({ ...tunnel, encapsulation: 'minimal' })).toEqual({ kernel: false, reason: 'minimal-encapsulation' });
    expect(kernelServesReverseTunnel({ ...tunnel, udp: true })).toEqual({ kernel: false, reason: 'udp-tunnelled' });
  });
});
