/**
 * The home agent's side of RFC 3519 at registration: NAT detection, the UDP Tunnel Reply
 * Extension (code 0 with the keepalive interval, 64 declined) placed where the Request's was
 * relative to the Mobile-Home Authentication Extension, 142 and 129 denials, the binding's
 * translated address and port in the forwarding table and `mip4 bindings`, and NAT rebinding.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, toHex } from '../../io/wire/bytes.js';
import { bindingsTable } from '../../runtime/cli/tables.js';
import { COA1, FA, FA_KEY, FHAE, Harness, MHAE, MN1, MN1_KEY, MN2, MN2_KEY, authExtensions, buildRequest, expectedAuthenticator, makeConfig, type ExtensionSpec } from './home-agent-harness.js';

const NAT_PUBLIC = ipv4('192.0.2.200');
const NAT_PORT = 40001;

/** RFC 3519's UDP Tunnel Request Extension: Type 144, Length 6, Sub-Type 0, Reserved, Flags (F 0x80, R 0x40), Encapsulation, Reserved. */
const udpTunnelRequest = (flags = 0, encapsulation = 4): ExtensionSpec => ({ unknown: 144, data: Uint8Array.of(0, 0, flags, encapsulation, 0, 0) });

function harness(settings: Parameters<typeof makeConfig>[0] = {}): Harness {
  return new Harness(makeConfig(settings));
}

/** The bytes of the extension of `type` directly after the 20 fixed bytes of a Reply, or undefined. */
function firstExtension(data: Uint8Array): number[] {
  return [...data.subarray(20, 20 + 2 + data[21]!)];
}

describe('home agent, RFC 3519: registration through a NAT', () => {
  it('grants UDP tunnelling behind a NAT: Reply extension 44 code 0 with the keepalive interval before the MHAE, which covers it', () => {
    const h = harness({ settings: { udpKeepaliveInterval: 30 } });
    const sent = h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(), MHAE()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    expect(sent.reply.code).toBe(0);
    expect(sent.destination).toBe(NAT_PUBLIC);
    expect(sent.port).toBe(NAT_PORT);
    expect(firstExtension(sent.data)).toEqual([44, 6, 0, 0, 0, 0, 0, 30]);
    // The MHAE follows at 28 and its authenticator covers the extension (RFC 5944 3.5.1).
    expect(sent.data[28]).toBe(32);
    expect(toHex(sent.data.subarray(34, 50))).toBe(expectedAuthenticator(MN1_KEY, sent.data, 28));
    const tunnel = h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!;
    expect(tunnel.careOfAddress).toBe(COA1);
    expect(tunnel.udp).toEqual({ address: NAT_PUBLIC, port: NAT_PORT });
    expect(h.agent.udpTunnels.counters).toMatchObject({ granted: 1, natDetected: 1 });
    const [view] = h.agent.bindings();
    expect(view!.udpTunnel).toBe('192.0.2.200:40001');
    expect(view!.flags).toContain('U');
    expect(bindingsTable(h.agent.bindings())).toMatch(/UDP tunnel[\s\S]*192\.0\.2\.200:40001/);
  });

  it('without a NAT and without F, registers an ordinary tunnel and sends no UDP Tunnel Reply', () => {
    const h = harness();
    const sent = h.register({ extensions: [udpTunnelRequest(), MHAE()] });
    expect(sent.data[20]).toBe(32);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toBeUndefined();
  });

  it('echoes F when the node forces UDP tunnelling without a NAT, with the default interval 110', () => {
    const h = harness();
    const sent = h.register({ extensions: [udpTunnelRequest(0x80), MHAE()] }, { sourcePort: 434 });
    expect(firstExtension(sent.data)).toEqual([44, 6, 0, 0, 0x80, 0, 0, 110]);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: COA1, port: 434 });
  });

  it('tunnels GRE inside UDP when the extension asks for encapsulation 47', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(0, 47), MHAE()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.encapsulation).toBe('gre');
  });

  it('declines with code 64 under udpTunnel: refused and registers the ordinary tunnel', () => {
    const h = harness({ settings: { udpTunnel: 'refused' } });
    const sent = h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(), MHAE()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    expect(sent.reply.code).toBe(0);
    expect(firstExtension(sent.data)).toEqual([44, 6, 0, 64, 0, 0, 0, 0]);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toBeUndefined();
    expect(h.agent.udpTunnels.counters.declined).toBe(1);
  });

  it('denies with 142 a forced request under udpTunnel: refused, and an encapsulation not offered', () => {
    const h = harness({ settings: { udpTunnel: 'refused' } });
    expect(h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(0x80), MHAE()] }, { source: NAT_PUBLIC }).reply.code).toBe(142);
    const g = harness();
    expect(g.ask({ identification: g.fresh(), extensions: [udpTunnelRequest(0, 55), MHAE()] }, { source: NAT_PUBLIC }).reply.code).toBe(142);
    expect(g.agent.forwardingTable.size).toBe(0);
  });

  it('denies with 129 a request without the extension under udpTunnel: required', () => {
    const h = harness({ settings: { udpTunnel: 'required' } });
    expect(h.ask({ identification: h.fresh() }).reply.code).toBe(129);
  });

  it('places the Reply extension after the MHAE when a foreign agent added the Request extension after it', () => {
    const h = harness();
    const sent = h.ask({ identification: h.fresh(), extensions: [MHAE(), udpTunnelRequest()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    expect(sent.data[20]).toBe(32);
    expect([...sent.data.subarray(42, 50)]).toEqual([44, 6, 0, 0, 0, 0, 0, 110]);
  });

  it('moves the binding to a new port of its NAT address on tunnel data from there (rebinding), counted and logged; another address is refused', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(), MHAE()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    expect(h.agent.followUdpTunnel(MN1, NAT_PUBLIC, NAT_PORT)).toBe(true);
    expect(h.agent.udpTunnels.counters.rebindings).toBe(0);
    expect(h.agent.followUdpTunnel(MN1, NAT_PUBLIC, 40999)).toBe(true);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT_PUBLIC, port: 40999 });
    expect(h.agent.udpTunnels.counters.rebindings).toBe(1);
    expect(h.lastEvent()).toMatchObject({ event: 'udp-rebinding', from: '192.0.2.200:40001', to: '192.0.2.200:40999' });
    expect(h.agent.followUdpTunnel(MN1, ipv4('192.0.2.201'), 40999)).toBe(false);
    expect(h.agent.udpTunnels.counters.rebindingRefused).toBe(1);
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: NAT_PUBLIC, port: 40999 });
  });

  it('follows a new NAT address on the next registration, and forgets the UDP tunnel when the binding goes', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(), MHAE()] }, { source: NAT_PUBLIC, sourcePort: NAT_PORT });
    h.ask({ identification: h.fresh(), extensions: [udpTunnelRequest(), MHAE()] }, { source: ipv4('192.0.2.201'), sourcePort: 50000 });
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.udp).toEqual({ address: ipv4('192.0.2.201'), port: 50000 });
    h.ask({ identification: h.fresh(), lifetime: 0, extensions: [MHAE()] }, { source: ipv4('192.0.2.201'), sourcePort: 50000 });
    expect(h.agent.forwardingTable.lookup(MN1)).toBeUndefined();
    expect(h.agent.udpTunnels.get(MN1, COA1)).toBeUndefined();
  });
});

describe('home agent, RFC 3519: a foreign agent behind a NAT registers its visitors', () => {
  // The foreign agent 203.0.113.1 (harness FA, association FA_KEY) sits behind the NAT
  // 192.0.2.200: its Requests arrive from the NAT's address, the Care-of Address is its own,
  // and it put the UDP Tunnel Request after the MHAE and covered it with its FHAE.
  const viaNat = { source: NAT_PUBLIC, sourcePort: NAT_PORT };

  it('judges the FHAE under the association of the Care-of Address (the FA behind the NAT) and seals the Reply with it', () => {
    const h = harness();
    const sent = h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest(), FHAE()] }, viaNat);
    expect(sent.reply.code).toBe(0);
    expect(sent.destination).toBe(NAT_PUBLIC);
    expect(sent.port).toBe(NAT_PORT);
    // MHAE, then the UDP Tunnel Reply (after it, for the foreign agent), then the FHAE under FA_KEY.
    const auth = authExtensions(sent.reply);
    expect(auth.map((a) => a.type)).toEqual([32, 34]);
    const fhae = auth[1]!;
    expect(fhae.spi).toBe(FA_KEY.spi);
    expect(toHex(fhae.authenticator)).toBe(expectedAuthenticator(FA_KEY, sent.data, fhae.offset));
    const tunnel = h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!;
    expect(tunnel.careOfAddress).toBe(FA);
    expect(tunnel.udp).toEqual({ address: NAT_PUBLIC, port: NAT_PORT });
  });

  it('[R3.8.2.1-18] denies 132 a Request naming the FA as care-of address whose FHAE was not made with its key (a forged Care-of Address)', () => {
    const h = harness();
    const sent = h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest(), FHAE(FA_KEY, true)] }, viaNat);
    expect(sent.reply.code).toBe(132);
    expect(h.agent.forwardingTable.lookup(MN1)).toBeUndefined();
  });

  it('denies 132 a Request naming the FA as care-of address with the extension but no FHAE at all', () => {
    const h = harness();
    expect(h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest()] }, viaNat).reply.code).toBe(132);
  });

  it('[R3.8.2.1-20] without the UDP Tunnel Request extension keeps the lookup by IP source: an FHAE from the NAT is discarded (no association)', () => {
    const h = harness();
    expect(h.deliver(buildRequest({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), FHAE()] }), viaNat)).toHaveLength(0);
    expect(h.lastEvent()).toMatchObject({ event: 'discard', reason: 'fha-without-association' });
  });

  it("the node's own extension (before the MHAE) does not select the association of the Care-of Address", () => {
    const h = harness();
    expect(h.deliver(buildRequest({ identification: h.fresh(), careOfAddress: FA, extensions: [udpTunnelRequest(), MHAE(), FHAE()] }), viaNat)).toHaveLength(0);
    expect(h.lastEvent()).toMatchObject({ event: 'discard', reason: 'fha-without-association' });
  });

  it('follows the FA\'s keepalive flow (inner source its care-of address): a new port moves ALL its visitors\' bindings, each logged as a rebinding', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest(), FHAE()] }, viaNat);
    h.ask({ identification: h.fresh(), homeAddress: MN2, careOfAddress: FA, extensions: [MHAE(MN2_KEY), udpTunnelRequest(), FHAE()] }, viaNat);
    const udpOf = (home: number) => h.agent.forwardingTable.lookup(home)!.tunnels[0]!.udp;
    expect(h.agent.followUdpFlow(FA, NAT_PUBLIC, NAT_PORT)).toBe(true);
    expect(h.agent.udpTunnels.counters.rebindings).toBe(0);
    expect(h.agent.followUdpFlow(FA, NAT_PUBLIC, 41000)).toBe(true);
    expect(udpOf(MN1)).toEqual({ address: NAT_PUBLIC, port: 41000 });
    expect(udpOf(MN2)).toEqual({ address: NAT_PUBLIC, port: 41000 });
    expect(h.agent.udpTunnels.counters.rebindings).toBe(2);
    expect(h.events.filter((e) => e.event === 'udp-rebinding').map((e) => (e as { homeAddress: string }).homeAddress).sort()).toEqual(['198.51.100.10', '198.51.100.11']);
    expect(h.agent.bindings().map((b) => b.udpTunnel)).toEqual(['192.0.2.200:41000', '192.0.2.200:41000']);
    // Never a new address, nor a care-of address without UDP tunnels.
    expect(h.agent.followUdpFlow(FA, ipv4('192.0.2.201'), 41000)).toBe(false);
    expect(h.agent.followUdpFlow(COA1, NAT_PUBLIC, 41000)).toBe(false);
    expect(udpOf(MN1)).toEqual({ address: NAT_PUBLIC, port: 41000 });
  });

  it('a visitor\'s own tunnel data from a new port of the flow moves the other visitors of that FA too', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest(), FHAE()] }, viaNat);
    h.ask({ identification: h.fresh(), homeAddress: MN2, careOfAddress: FA, extensions: [MHAE(MN2_KEY), udpTunnelRequest(), FHAE()] }, viaNat);
    expect(h.agent.followUdpTunnel(MN1, NAT_PUBLIC, 42000)).toBe(true);
    expect(h.agent.forwardingTable.lookup(MN2)!.tunnels[0]!.udp).toEqual({ address: NAT_PUBLIC, port: 42000 });
    expect(h.agent.udpTunnels.counters.rebindings).toBe(2);
  });

  it('two flows on one care-of address behind one NAT (different ports): a keepalive from a third port moves neither', () => {
    const h = harness();
    h.ask({ identification: h.fresh(), careOfAddress: FA, extensions: [MHAE(), udpTunnelRequest(), FHAE()] }, viaNat);
    h.ask({ identification: h.fresh(), homeAddress: MN2, careOfAddress: FA, extensions: [MHAE(MN2_KEY), udpTunnelRequest(), FHAE()] }, { source: NAT_PUBLIC, sourcePort: 40002 });
    expect(h.agent.followUdpFlow(FA, NAT_PUBLIC, 40002)).toBe(true);
    expect(h.agent.followUdpFlow(FA, NAT_PUBLIC, 43000)).toBe(false);
    expect(h.agent.udpTunnels.counters).toMatchObject({ rebindings: 0, rebindingRefused: 1 });
  });
});
