/**
 * Mobile IP through a NAT (RFC 3519) end to end on the simulated network: the real home agent,
 * foreign agents and mobile node of the reverse-tunnelling scenarios, with foreign-2 behind a
 * masquerading NAT (runtime/cli/demo-topology.ts natOnForeign2: 203.0.113.64/26 inside, the NAT
 * at 203.0.113.129 outside) and the router filtering ingress. Seeded: each run replays.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ipv4ToString, readU16 } from '../../io/wire/bytes.js';
import { encodeIcmpEcho, IcmpType } from '../../io/wire/icmp.js';
import { IpProtocol, ipv4Destination, ipv4HeaderLength, ipv4Protocol } from '../../io/wire/ipv4.js';
import { Effect, Scope } from 'effect';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { RequestFlag, type RegistrationExtension } from '../../io/wire/registration-types.js';
import { ntpSeconds } from '../../policies/replay.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';
import type { HomeAgentConfig } from '../../runtime/ha/home-agent.js';
import { MN_KEY } from '../../runtime/cli/demo-topology.js';
import { bindUdp } from './network-support.js';
import { NAT_OUTSIDE } from '../../runtime/cli/demo-topology.js';
import { CN, COLOCATED, datagramsOn, FA2, HA, MN, reverseTunnelScenario, type ReverseTunnelScenario, type ReverseTunnelScenarioOptions } from './reverse-tunnel-support.js';

const open: ReverseTunnelScenario[] = [];
let scope = Effect.runSync(Scope.make());
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  Effect.runSync(Scope.close(scope, { _tag: 'Success', value: undefined } as never));
  scope = Effect.runSync(Scope.make());
});

/** The node as its YAML default configures it: udpTunnel auto (ask whenever co-located). */
const udpAuto: NonNullable<ReverseTunnelScenarioOptions['mnConfig']> = (c) => ({ ...c, udpTunnel: 'auto' });

async function scenario(options: ReverseTunnelScenarioOptions = {}): Promise<ReverseTunnelScenario> {
  const s = await reverseTunnelScenario({ natOnForeign2: { udpTimeoutMs: 30_000 }, mnConfig: udpAuto, ...options });
  open.push(s);
  return s;
}

function nat(s: ReverseTunnelScenario) {
  const host = s.hosts.nat;
  if (host?.nat === undefined) throw new Error('no NAT in this scenario');
  return host.nat;
}

/** Home, then straight to the co-located address behind the NAT. */
async function behindNat(s: ReverseTunnelScenario): Promise<void> {
  s.run(2000);
  s.moveTo('co-located');
  // The node waits for an advertisement before it registers (move detection, 2.4.2).
  s.run(5000, false);
}

describe('scenario (a): a co-located node behind the NAT registers with UDP tunnelling', () => {
  it('its binding records the NAT’s address and port; the correspondent reaches the home address, the node sends from it with the ingress filter on', async () => {
    const s = await scenario({ seed: 16 });
    await behindNat(s);
    const bindings = s.ha.agent.bindings();
    expect(bindings).toHaveLength(1);
    expect(bindings[0]).toMatchObject({ careOfAddress: ipv4ToString(COLOCATED) });
    const mapping = nat(s).mappings().find((m) => m.protocol === IpProtocol.UDP);
    expect(mapping).toBeDefined();
    expect((bindings[0] as { udpTunnel?: string }).udpTunnel).toBe(`${ipv4ToString(NAT_OUTSIDE)}:${mapping!.externalPort}`);
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual(traffic.upstreamSent);
    expect(s.hosts.r.ingressFilter).toBe(true);
    // On the uplink only UDP 434 ↔ 434-from-the-NAT carries the node's traffic: no IP in IP.
    const uplink = datagramsOn(s.capture, 'nat-uplink');
    expect(uplink.filter((d) => d.protocol === IpProtocol.IPIP)).toEqual([]);
    expect(uplink.filter((d) => d.source === HA && d.protocol === IpProtocol.UDP).length).toBeGreaterThanOrEqual(traffic.downstreamSent.length);
  });
});

// --- downstream-only traffic: the node's side stays silent, so only keepalives refresh the NAT ---

const PROBE_IDENTIFIER = 0x3519;

interface Probe {
  /** Sends one echo request from the correspondent to the home address every `everyMs` for `ms`; returns the [sequence, sent at] pairs. */
  ping(ms: number, everyMs?: number): Array<[number, number]>;
  /** Simulated time each sequence reached the node. */
  readonly delivered: Map<number, number>;
}

/** `icmpType` Echo Reply: a message the node does not answer, so that nothing goes upstream at all. */
function probe(s: ReverseTunnelScenario, icmpType: typeof IcmpType.Echo | typeof IcmpType.EchoReply = IcmpType.Echo): Probe {
  const delivered = new Map<number, number>();
  const record = (datagram: Uint8Array) => {
    if (datagram.length < 28 || ipv4Protocol(datagram, 0) !== IpProtocol.ICMP || ipv4Destination(datagram, 0) !== MN) return;
    const at = ipv4HeaderLength(datagram, 0);
    if (datagram[at] === icmpType && readU16(datagram, at + 4) === PROBE_IDENTIFIER) delivered.set(readU16(datagram, at + 6), s.clock.now());
  };
  s.mn.node.received.subscribe(record);
  s.hosts.mn.onIp(IpProtocol.ICMP, record);
  let sequence = 0;
  return {
    delivered,
    ping(ms, everyMs = 250) {
      const sent: Array<[number, number]> = [];
      for (let t = 0; t < ms; t += everyMs) {
        const n = sequence++ & 0xffff;
        const payload = new Uint8Array(16);
        encodeIcmpEcho({ icmpType, code: 0, checksum: 0, checksumValid: true, identifier: PROBE_IDENTIFIER, sequence: n, data: new Uint8Array(8) }, payload, 0);
        sent.push([n, s.clock.now()]);
        s.hosts.cn.sendPacket({ protocol: IpProtocol.ICMP, source: CN, destination: MN, payload });
        s.clock.advance(everyMs);
      }
      s.clock.advance(100);
      return sent;
    },
  };
}

const haWith = (patch: Partial<HomeAgentConfig['settings']>) => (c: HomeAgentConfig): HomeAgentConfig => ({ ...c, settings: { ...c.settings, ...patch } });

describe("scenario (b): without UDP tunnelling ('udpTunnel: off') the IP-in-IP tunnel dies at the NAT", () => {
  it('the node registers (the Request crosses the NAT as UDP) but no downstream datagram reaches it; the NAT counts the drops', async () => {
    const s = await scenario({ seed: 17, mnConfig: (c) => ({ ...c, udpTunnel: 'off' }) });
    await behindNat(s);
    const bindings = s.ha.agent.bindings();
    expect(bindings).toHaveLength(1);
    expect((bindings[0] as { udpTunnel?: string }).udpTunnel).toBeUndefined();
    const before = { ...nat(s).counters };
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual([]);
    expect(traffic.upstreamDelivered).toEqual([]);
    // Every echo request went into an IP-in-IP tunnel to the private care-of address and died at the NAT.
    expect(nat(s).counters.droppedInboundUnmatched - before.droppedInboundUnmatched).toBeGreaterThanOrEqual(traffic.downstreamSent.length);
    // The node's own IP-in-IP reverse tunnel cannot leave either.
    expect(nat(s).counters.droppedOutboundUntranslatable - before.droppedOutboundUntranslatable).toBeGreaterThanOrEqual(traffic.upstreamSent.length);
    expect(datagramsOn(s.capture, 'foreign-2').filter((d) => d.protocol === IpProtocol.IPIP && d.destination === COLOCATED)).toEqual([]);
  });
});

describe('scenario (c): a short NAT timeout stays open only thanks to the keepalives', () => {
  const natTimeout = { udpTimeoutMs: 5000 };

  it('keepalives every 2 s (granted by the home agent): 30 s of downstream-only traffic all arrive, one mapping throughout', async () => {
    const s = await scenario({ seed: 18, natOnForeign2: natTimeout, haConfig: haWith({ udpKeepaliveInterval: 2 }) });
    const p = probe(s);
    await behindNat(s);
    const created = nat(s).counters.mappingsCreated;
    const sent = p.ping(30_000);
    expect(sent.filter(([n]) => !p.delivered.has(n))).toEqual([]);
    expect(nat(s).counters.mappingsExpired).toBe(0);
    expect(nat(s).counters.mappingsCreated).toBe(created);
  });

  it('keepalives too rare for it (60 s granted): the mapping expires 5 s after the node fell silent and the downstream stops, dropped at the NAT', async () => {
    const s = await scenario({ seed: 18, natOnForeign2: natTimeout, haConfig: haWith({ udpKeepaliveInterval: 60 }) });
    const p = probe(s);
    await behindNat(s);
    const dropsBefore = nat(s).counters.droppedInboundUnmatched;
    const sent = p.ping(20_000);
    const lost = sent.filter(([n]) => !p.delivered.has(n));
    expect(nat(s).counters.mappingsExpired).toBeGreaterThanOrEqual(1);
    expect(lost.length).toBeGreaterThan(sent.length / 2);
    // Once lost, lost for good (nothing reopens the mapping before the keepalive is due).
    const firstLost = sent.findIndex(([n]) => !p.delivered.has(n));
    expect(sent.slice(firstLost).every(([n]) => !p.delivered.has(n))).toBe(true);
    expect(nat(s).counters.droppedInboundUnmatched - dropsBefore).toBe(lost.length);
  });
});

describe('scenario (d): a NAT restart is survived after the next keepalive', () => {
  it('downstream stops at the restart and resumes through the new external port; the gap, on simulated time, is at most one keepalive interval', async () => {
    const s = await scenario({ seed: 19, haConfig: haWith({ udpKeepaliveInterval: 3 }) });
    const p = probe(s);
    await behindNat(s);
    p.ping(4000);
    const oldPort = nat(s).mappings().find((m) => m.protocol === IpProtocol.UDP)!.externalPort;
    const restartAt = s.clock.now();
    nat(s).restart();
    const sent = p.ping(10_000, 100);
    const firstBack = sent.find(([n]) => p.delivered.has(n));
    expect(firstBack).toBeDefined();
    const gapMs = firstBack![1] - restartAt;
    expect(gapMs).toBeGreaterThan(0);
    expect(gapMs).toBeLessThanOrEqual(3000 + 200);
    // Everything after the first one back arrives.
    const afterwards = sent.filter(([, at]) => at >= firstBack![1]);
    expect(afterwards.every(([n]) => p.delivered.has(n))).toBe(true);
    const newPort = nat(s).mappings().find((m) => m.protocol === IpProtocol.UDP)!.externalPort;
    expect(newPort).not.toBe(oldPort);
    expect((s.ha.agent.bindings()[0] as { udpTunnel?: string }).udpTunnel).toBe(`${ipv4ToString(NAT_OUTSIDE)}:${newPort}`);
  });
});

describe('scenario (e): a foreign agent behind the NAT', () => {
  it('FA2 asks for UDP tunnelling when relaying; the node registered through it is reachable and, reverse-tunnelled by FA2, sends from its home address', async () => {
    const s = await scenario({
      seed: 20,
      faConfig: (c, which) => (which === 'FA2' ? { ...c, settings: { ...c.settings, udpTunnel: 'auto' } } : c),
      // FA2's association stays configured under its own address: behind the NAT its Requests come
      // from the NAT's, and the home agent finds it by the Care-of Address its UDP Tunnel Request names.
    });
    s.run(2000);
    s.moveTo('FA2');
    s.run(5000, false);
    const bindings = s.ha.agent.bindings();
    expect(bindings.map((b) => b.careOfAddress)).toEqual([ipv4ToString(FA2)]);
    const mapping = nat(s).mappings().find((m) => m.protocol === IpProtocol.UDP && m.insideAddress === FA2);
    expect(mapping).toBeDefined();
    expect((bindings[0] as { udpTunnel?: string }).udpTunnel).toBe(`${ipv4ToString(NAT_OUTSIDE)}:${mapping!.externalPort}`);
    const traffic = s.run(3000);
    expect(traffic.downstreamDelivered).toEqual(traffic.downstreamSent);
    expect(traffic.upstreamDelivered).toEqual(traffic.upstreamSent);
    expect(datagramsOn(s.capture, 'nat-uplink').filter((d) => d.protocol === IpProtocol.IPIP)).toEqual([]);
  });
});

describe("scenario (e'): a foreign agent behind a NAT with a short UDP timeout", () => {
  /** FA2 asks for UDP tunnelling; the home agent grants `keepalive` seconds; the NAT forgets a UDP mapping after 5 s. */
  async function throughFa2(keepalive: number): Promise<ReverseTunnelScenario> {
    const s = await scenario({
      seed: 21,
      natOnForeign2: { udpTimeoutMs: 5000 },
      faConfig: (c, which) => (which === 'FA2' ? { ...c, settings: { ...c.settings, udpTunnel: 'auto' } } : c),
      haConfig: haWith({ udpKeepaliveInterval: keepalive }),
    });
    s.run(2000);
    s.moveTo('FA2');
    s.run(5000, false);
    expect(s.fa2.agent.udpFlows.flowList()).toMatchObject([{ keepaliveInterval: keepalive }]);
    return s;
  }

  it("FA2's keepalives (RFC 3519 4.9, every 2 s granted) hold its mapping open: 30 s of downstream-only traffic all reach the node, one mapping throughout", async () => {
    const s = await throughFa2(2);
    const p = probe(s, IcmpType.EchoReply);
    const created = nat(s).counters.mappingsCreated;
    const keepalivesBefore = s.fa2.agent.udpFlows.counters.keepalives;
    const sent = p.ping(30_000);
    expect(sent.filter(([n]) => !p.delivered.has(n))).toEqual([]);
    expect(nat(s).counters.mappingsExpired).toBe(0);
    expect(nat(s).counters.mappingsCreated).toBe(created);
    // Nothing else went out on FA2's flow: the keepalives alone (one per 2 s) held it.
    expect(s.fa2.agent.udpFlows.counters.dataSent).toBe(0);
    expect(s.fa2.agent.udpFlows.counters.keepalives - keepalivesBefore).toBeGreaterThanOrEqual(14);
  });

  it('with keepalives too rare for the NAT (60 s granted) the same traffic is lost once the mapping expires', async () => {
    const s = await throughFa2(60);
    const p = probe(s, IcmpType.EchoReply);
    const sent = p.ping(30_000);
    expect(nat(s).counters.mappingsExpired).toBeGreaterThanOrEqual(1);
    expect(sent.filter(([n]) => !p.delivered.has(n)).length).toBeGreaterThan(sent.length / 2);
  });
});

describe('scenario (f): policy', () => {
  it("the home agent refuses UDP tunnelling ('refused') and the node forces it (F): Registration denied with 142, no binding", async () => {
    const s = await scenario({ seed: 21, haConfig: haWith({ udpTunnel: 'refused' }), mnConfig: (c) => ({ ...c, udpTunnel: 'force' }) });
    await behindNat(s);
    const replies = s.events.filter((e) => e.event === 'reply') as Array<{ code: number }>;
    expect(replies.map((r) => r.code)).toContain(142);
    expect(s.ha.agent.bindings()).toEqual([]);
  });

  it("the home agent requires UDP tunnelling ('required') for a node behind the NAT that does not ask: denied, no binding", async () => {
    const s = await scenario({ seed: 22, haConfig: haWith({ udpTunnel: 'required' }), mnConfig: (c) => ({ ...c, udpTunnel: 'off' }) });
    await behindNat(s);
    const codes = (s.events.filter((e) => e.event === 'reply') as Array<{ code: number }>).map((r) => r.code);
    expect(codes.some((code) => code >= 128)).toBe(true);
    expect(s.ha.agent.bindings()).toEqual([]);
  });
});

describe('scenario (g): moves through the NAT and out again', () => {
  it('home → FA1 → co-located behind the NAT → home: reachable and sending at each place; the UDP tunnel ends when the node leaves', async () => {
    const s = await scenario({ seed: 23 });
    const at = (label: string) => {
      const traffic = s.run(2000);
      return { label, down: traffic.downstreamDelivered.length === traffic.downstreamSent.length, up: traffic.upstreamDelivered.length === traffic.upstreamSent.length };
    };
    const results = [at('home')];
    s.moveTo('FA1');
    s.run(5000, false);
    results.push(at('FA1'));
    s.moveTo('co-located');
    s.run(5000, false);
    expect((s.ha.agent.bindings()[0] as { udpTunnel?: string }).udpTunnel).toMatch(/^203\.0\.113\.129:\d+$/);
    results.push(at('co-located behind the NAT'));
    s.moveTo('home');
    s.run(5000, false);
    results.push(at('home again'));
    expect(results).toEqual([
      { label: 'home', down: true, up: true },
      { label: 'FA1', down: true, up: true },
      { label: 'co-located behind the NAT', down: true, up: true },
      { label: 'home again', down: true, up: true },
    ]);
    expect(s.ha.agent.bindings()).toEqual([]);
    // Nothing more crosses the uplink from the node once it is home (no keepalives for a dead flow).
    const home = s.clock.now();
    s.run(10_000, false);
    expect(datagramsOn(s.capture, 'nat-uplink', home)).toEqual([]);
  });

  it('replays: the same seed gives the same capture on the NAT uplink', async () => {
    const once = async () => {
      const s = await scenario({ seed: 24 });
      await behindNat(s);
      s.run(2000);
      return datagramsOn(s.capture, 'nat-uplink').map((d) => `${d.at} ${Buffer.from(d.ip).toString('hex')}`);
    };
    const first = await once();
    expect(first.length).toBeGreaterThan(20);
    expect(await once()).toEqual(first);
  });
});

describe('a poorly formed UDP Tunnel Request extension (RFC 3519 3.1: Length 6)', () => {
  it('the home agent answers a signed Request whose 144 has Length 4 with 134 and makes no binding', async () => {
    const s = await scenario({ seed: 25 });
    const socket = bindUdp(s.net, s.hosts.cn, scope, { address: 0, port: 4343 });
    const replies: Uint8Array[] = [];
    socket.onMessage((d) => replies.push(d.data));
    // Later than the node's own registration at start (timestamp replay protection, 5.7).
    s.run(3000, false);
    const malformed: RegistrationExtension = { kind: 'unknown', type: 144, offset: 0, skippable: true, format: 'tlv', data: Uint8Array.of(0, 0, 0x80, 4) };
    const message = encodeSigned(
      {
        type: 1,
        flags: RequestFlag.D,
        lifetime: 600,
        homeAddress: MN,
        homeAgent: HA,
        careOfAddress: CN,
        identification: { high: ntpSeconds(s.clock.now()), low: 7 },
        extensions: [malformed, authPlaceholder(32, MN_KEY.spi)],
      },
      (type) => (type === 32 ? { spi: MN_KEY.spi, algorithm: 'hmac-md5', key: MN_KEY.key } : undefined),
    );
    socket.send(message, HA, 434);
    s.run(500, false);
    expect(replies).toHaveLength(1);
    const reply = decodeRegistrationReply(replies[0]!);
    expect(reply.ok && reply.value.code).toBe(134);
    expect(s.ha.agent.bindings()).toEqual([]);
  });
});
