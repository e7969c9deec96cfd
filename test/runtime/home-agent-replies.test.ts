/**
 * The home agent as a whole (runtime/ha/home-agent.ts): every Reply code it can send, observed
 * as Reply bytes on the way out, and the Reply fields of RFC 5944 3.8.3. Requests are built
 * and signed here; Reply authenticators are recomputed here (see home-agent-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4ToString } from '../../io/wire/bytes.js';
import { identificationFromUnixMs, NTP_UNIX_OFFSET_SECONDS } from '../../io/wire/identification.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import {
  buildRequest,
  COA1,
  COA2,
  COA3,
  context,
  expectValidFhae,
  expectValidMhae,
  FA,
  FA_KEY,
  FA_NO_SA,
  FHAE,
  HA,
  HA_OTHER,
  Harness,
  LIMITED_BROADCAST,
  makeConfig,
  MFAE,
  MHAE,
  MIP_PORT,
  MN1,
  MN1_KEY,
  MN1_NAI,
  MN1_NEW_KEY,
  MN2,
  MN2_KEY,
  MN_OFF_NET,
  OTHER_HA,
  SUBNET_BROADCAST,
  WRONG_KEY,
  type SentReply,
} from './home-agent-harness.js';

/** The event the agent logged for the last datagram. */
function lastReplyEvent(h: Harness) {
  const event = h.lastEvent();
  expect(event?.event).toBe('reply');
  return event as Extract<typeof event, { event: 'reply' }>;
}

/** The binding list, FIB and ARP log as one comparable value. */
function state(h: Harness) {
  return { bindings: h.agent.bindings(), fib: [...h.agent.forwardingTable], arp: [...h.arp], count: h.agent.bindingCount };
}

describe('HomeAgent replies: every code, as Reply bytes', () => {
  it('[R3.8.2.2-1] [R3.8.2-1] [R3.8.3-1] [R3.4-7] [R3.5.2-1] code 0: an accepted registration is answered with an authenticated Reply', () => {
    const h = new Harness();
    const identification = h.fresh();
    const sent = h.ask({ identification, lifetime: 600 }, { source: COA1 });
    expect(sent.reply).toMatchObject({ type: 3, code: 0, lifetime: 600, homeAddress: MN1, homeAgent: HA, identification });
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(1);
    expect(h.agent.counters).toMatchObject({ requests: 1, accepted: 1, denied: 0, discarded: 0 });
    expect(lastReplyEvent(h)).toMatchObject({ code: 0, operation: 'register', homeAddress: '198.51.100.10', lifetime: 600 });
  });

  it('[R3.8.3.2-1] code 1 when the home agent does not support simultaneous bindings, and the S bit is not honoured', () => {
    const h = new Harness(makeConfig({ settings: { simultaneousBindings: false } }));
    const first = h.register({ careOfAddress: COA1 });
    expect(first.reply.code).toBe(1);
    const second = h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    expect(second.reply.code).toBe(1);
    expectValidMhae(second, MN1_KEY);
    // 3.8.2.2: without simultaneous support the previous entries are removed.
    expect(h.tunnels()).toEqual([COA2]);
    expect(h.agent.counters.denied).toBe(0);
  });

  it('[R3.8.3.2-6] code 129 for a nonzero home address the home agent cannot support (off the home network)', () => {
    const h = new Harness();
    // MN_OFF_NET is configured with MN1's key but its home address is not on 198.51.100.0/24.
    const sent = h.ask({ identification: h.fresh(), homeAddress: MN_OFF_NET }, { source: COA1 });
    expect(sent.reply.code).toBe(129);
    expect(sent.reply.homeAddress).toBe(MN_OFF_NET);
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);
    expect(h.agent.counters.deniedByCode[129]).toBe(1);
  });

  it('code 129 when the authenticated NAI names another mobile node than the home address does', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), extensions: [{ nai: 'someone-else@example.org' }, MHAE()] });
    expect(sent.reply.code).toBe(129);
    expect(h.agent.bindingCount).toBe(0);
  });

  it('code 129 when the encapsulation asked for (M) is disabled; IP in IP with encapsulationFallback; GRE when enabled', () => {
    const h = new Harness();
    const denied = h.ask({ identification: h.fresh(), flags: RequestFlag.M }, { source: COA1 });
    expect(denied.reply.code).toBe(129);
    expectValidMhae(denied, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);

    h.register({ flags: RequestFlag.G });
    expect(h.agent.bindings()[0]!.encapsulation).toBe('gre');
    expect(h.agent.forwardingTable.lookup(MN1)!.tunnels[0]!.encapsulation).toBe('gre');

    const fallback = new Harness(makeConfig({ settings: { encapsulationFallback: true } }));
    fallback.register({ flags: RequestFlag.M });
    expect(fallback.agent.bindings()[0]!.encapsulation).toBe('ip-in-ip');
  });

  it('[R3.8.2.3-1] code 130 when the home agent holds its total number of bindings; renewing an existing one still works', () => {
    const h = new Harness(makeConfig({ maxBindings: 1 }));
    h.register({ homeAddress: MN1 });
    const sent = h.ask({ identification: h.fresh(), homeAddress: MN2, extensions: [MHAE(MN2_KEY)] }, { source: COA2 });
    expect(sent.reply.code).toBe(130);
    expectValidMhae(sent, MN2_KEY);
    expect(h.bindingsOf('198.51.100.11')).toEqual([]);
    expect(h.agent.counters.deniedByCode[130]).toBe(1);
    // Renewing never grows the count, so it is never refused for lack of room.
    expect(h.register({ homeAddress: MN1 }).reply.code).toBe(0);
  });

  it('[R3.8.2.1-2] [R3.8.2.1-7] [R3.8.2.1-9] [R3.8.2.1-10] [R3.8.2.1-12] code 131 for a bad authenticator: the Reply carries a valid MHAE and nothing else happens', () => {
    const h = new Harness();
    const identification = h.fresh();
    const sent = h.ask({ identification, extensions: [MHAE(MN1_KEY, true)] }, { source: COA1 });
    expect(sent.reply.code).toBe(131);
    expect(sent.reply.identification).toEqual(identification);
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);
    expect(h.arp).toEqual([]);
    expect(lastReplyEvent(h)).toMatchObject({ code: 131, securityException: true });
    // "without further processing": the replay state did not move, so the genuine Request
    // with the very same Identification is still fresh.
    expect(h.ask({ identification }, { source: COA1 }).reply.code).toBe(0);
  });

  it('[R3.8.2.1-11] code 131 for an unknown SPI is authenticated with the oldest context the node has', () => {
    const h = new Harness(makeConfig({ mn1Contexts: [context(MN1_KEY), context(MN1_NEW_KEY)] }));
    const sent = h.ask({ identification: h.fresh(), extensions: [MHAE({ spi: 9999, key: MN1_NEW_KEY.key })] });
    expect(sent.reply.code).toBe(131);
    expectValidMhae(sent, MN1_KEY);
    // Both contexts work for Requests.
    expect(h.ask({ identification: h.fresh(), extensions: [MHAE(MN1_NEW_KEY)] }).reply.code).toBe(0);
  });

  it('[R3.8.2.1-8] code 131 must be sent when a foreign agent vouches for the Request with a valid FHAE', () => {
    // replyOnAuthFailure off: only the MUST of 3.8.2.1 a can make the home agent answer.
    const h = new Harness(makeConfig({ settings: { replyOnAuthFailure: false } }));
    const sent = h.ask({ identification: h.fresh(), extensions: [MHAE(MN1_KEY, true), FHAE()] }, { source: FA, sourcePort: MIP_PORT });
    expect(sent.reply.code).toBe(131);
    expect(sent.destination).toBe(FA);
    expectValidMhae(sent, MN1_KEY);
    expectValidFhae(sent);
  });

  it('[R3.8.1-7] [R3.8.2.1-15] [R3.8.2.1-16] [R3.8.2.1-17] [R3.8.2.1-18] [R3.8.2.1-19] code 132 for a missing, duplicated or invalid FHAE from a foreign agent with an association', () => {
    const h = new Harness();
    const cases = [
      { name: 'missing', extensions: [MHAE()] },
      { name: 'two', extensions: [MHAE(), FHAE(), FHAE()] },
      { name: 'invalid', extensions: [MHAE(), FHAE(FA_KEY, true)] },
      { name: 'unknown SPI', extensions: [MHAE(), FHAE({ spi: 0x301, key: FA_KEY.key })] },
    ];
    for (const c of cases) {
      const sent = h.ask({ identification: h.fresh(), extensions: c.extensions }, { source: FA, sourcePort: MIP_PORT });
      expect(sent.reply.code, c.name).toBe(132);
      expect(sent.destination).toBe(FA);
      expectValidMhae(sent, MN1_KEY);
      // The Reply goes to a foreign agent sharing an association: it carries the FHAE (3.8.1).
      expectValidFhae(sent);
      expect(lastReplyEvent(h), c.name).toMatchObject({ code: 132, securityException: true });
    }
    expect(h.agent.bindingCount).toBe(0);
    expect(h.agent.counters.deniedByCode[132]).toBe(cases.length);
    // The same Request with one valid FHAE is accepted.
    expect(h.ask({ identification: h.fresh(), extensions: [MHAE(), FHAE()] }, { source: FA, sourcePort: MIP_PORT }).reply.code).toBe(0);
  });

  it('[R3.8.2.1-14] [R5.7.1-6] [R5.7.1-8] [R5.7-4] code 133 for a stale timestamp: high half = the home agent\'s NTP seconds, low half echoed', () => {
    const h = new Harness();
    h.clock.advance(123_456); // 2026-01-01T00:02:03.456Z
    const stale = identificationFromUnixMs(h.clock.now() - 60_000, 0x3a5a5);
    const sent = h.ask({ identification: stale });
    expect(sent.reply.code).toBe(133);
    const haSeconds = Math.floor(h.clock.now() / 1000) + NTP_UNIX_OFFSET_SECONDS;
    expect(sent.reply.identification).toEqual({ high: haSeconds >>> 0, low: stale.low });
    expectValidMhae(sent, MN1_KEY);
    expect(lastReplyEvent(h)).toMatchObject({ code: 133, securityException: true });
    // A timestamp from the future is just as wrong.
    const future = identificationFromUnixMs(h.clock.now() + 60_000, 7);
    const again = h.ask({ identification: future });
    expect(again.reply.code).toBe(133);
    expect(again.reply.identification).toEqual({ high: haSeconds >>> 0, low: future.low });
    expect(h.agent.bindingCount).toBe(0);
  });

  it('[R3.8.2.3-2] code 134 for the reserved flag bits r and x', () => {
    const h = new Harness();
    for (const flag of [RequestFlag.r, RequestFlag.x, RequestFlag.r | RequestFlag.x]) {
      const sent = h.ask({ identification: h.fresh(), flags: flag });
      expect(sent.reply.code).toBe(134);
      expectValidMhae(sent, MN1_KEY);
    }
    expect(h.agent.bindingCount).toBe(0);
    expect(h.agent.counters.deniedByCode[134]).toBe(3);
  });

  it('code 134 for an authentication extension placed before the Mobile-Home Authentication Extension (3.2: it must be the first)', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), extensions: [MFAE({ spi: 0x500, key: FA_KEY.key }), MHAE()] });
    expect(sent.reply.code).toBe(134);
    expectValidMhae(sent, MN1_KEY);
    expect(lastReplyEvent(h).detail).toMatch(/precedes the Mobile-Home/);
    // After the MHAE, a Mobile-Foreign extension is where it belongs.
    expect(h.ask({ identification: h.fresh(), extensions: [MHAE(), MFAE({ spi: 0x500, key: FA_KEY.key })] }).reply.code).toBe(0);
  });

  it('[R3.8.2.3-1] code 135 when an S registration would exceed the per-node limit', () => {
    const h = new Harness(makeConfig({ maxBindingsPerNode: 2 }));
    h.register({ careOfAddress: COA1, flags: RequestFlag.S });
    h.register({ careOfAddress: COA2, flags: RequestFlag.S });
    const sent = h.ask({ identification: h.fresh(), careOfAddress: COA3, flags: RequestFlag.S }, { source: COA3 });
    expect(sent.reply.code).toBe(135);
    expectValidMhae(sent, MN1_KEY);
    expect(h.tunnels()).toEqual([COA1, COA2]);
    // Without S the new care-of address replaces the others: never a limit problem.
    expect(h.register({ careOfAddress: COA3 }).reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA3]);
  });

  it('[R3.8.2.1-21] [R3.8.2.1-22] [R3.8.3.1-1] code 136 for a Request sent to a broadcast address: from and naming the unicast address', () => {
    const h = new Harness();
    for (const destination of [SUBNET_BROADCAST, LIMITED_BROADCAST]) {
      // Dynamic home agent discovery (3.6.1.2): the Home Agent field holds the broadcast address.
      const sent = h.ask({ identification: h.fresh(), homeAgent: SUBNET_BROADCAST }, { source: COA1, destination });
      expect(sent.reply.code, ipv4ToString(destination)).toBe(136);
      expect(sent.reply.homeAgent).toBe(HA);
      expect(sent.source).toBe(HA);
      expect(sent.destination).toBe(COA1);
      expectValidMhae(sent, MN1_KEY);
      // Even a Request naming this home agent correctly is refused when it was broadcast.
      const named = h.ask({ identification: h.fresh(), homeAgent: HA }, { source: COA1, destination });
      expect(named.reply.code).toBe(136);
      expect(named.source).toBe(HA);
    }
    expect(h.agent.bindingCount).toBe(0);
  });

  it('[R3.8.3.1-1] the Reply to a broadcast Request comes from the unicast address its Home Agent field names, whatever the address order', () => {
    // The first configured address is off the home network: the home agent's address for the
    // node is the one on the home network (3.8.1), and the Reply must not contradict itself.
    const h = new Harness(makeConfig({ settings: { addresses: [HA_OTHER, HA] } }));
    const sent = h.ask({ identification: h.fresh(), homeAgent: SUBNET_BROADCAST }, { source: COA1, destination: SUBNET_BROADCAST });
    expect(sent.reply.code).toBe(136);
    expect(sent.reply.homeAgent).toBe(HA);
    expect(sent.source).toBe(HA);
  });

  it('[R3.8.3.2-9] [R3.8.3.2-10] code 136 when the Home Agent field is not this home agent; the Reply names its unicast address', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), homeAgent: OTHER_HA });
    expect(sent.reply.code).toBe(136);
    expect(sent.reply.homeAgent).toBe(HA);
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);
  });

  it('[R3.8.2.3-1] code 137 for the T bit while reverse tunnelling is off; accepted with a T binding when it is on', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), flags: RequestFlag.T });
    expect(sent.reply.code).toBe(137);
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);

    const on = new Harness(makeConfig({ settings: { reverseTunneling: true } }));
    on.register({ flags: RequestFlag.T });
    expect(on.agent.bindings()[0]!.flags).toBe('T');
  });

  it('[R4.6-20] [R3.8.2.1-12] [R3.8.2.1-19] no refusal changes the bindings, the forwarding table or ARP', () => {
    const h = new Harness(makeConfig({ maxBindingsPerNode: 1 }));
    h.register({ careOfAddress: COA1 });
    const before = state(h);
    const refusals: Array<[number, SentReply]> = [
      [129, h.ask({ identification: h.fresh(), flags: RequestFlag.M, careOfAddress: COA2 }, { source: COA2 })],
      [131, h.ask({ identification: h.fresh(), careOfAddress: COA2, extensions: [MHAE(WRONG_KEY)] }, { source: COA2 })],
      [132, h.ask({ identification: h.fresh(), careOfAddress: COA2 }, { source: FA })],
      [133, h.ask({ identification: identificationFromUnixMs(h.clock.now() - 30_000), careOfAddress: COA2 }, { source: COA2 })],
      [134, h.ask({ identification: h.fresh(), flags: RequestFlag.r, careOfAddress: COA2 }, { source: COA2 })],
      [135, h.ask({ identification: h.fresh(), flags: RequestFlag.S, careOfAddress: COA2 }, { source: COA2 })],
      [136, h.ask({ identification: h.fresh(), homeAgent: OTHER_HA, careOfAddress: COA2 }, { source: COA2 })],
      [137, h.ask({ identification: h.fresh(), flags: RequestFlag.T, careOfAddress: COA2 }, { source: COA2 })],
      // A deregistration from home that is refused: the node stays "away" (4.6, last paragraph).
      [133, h.ask({ identification: identificationFromUnixMs(h.clock.now() - 30_000), lifetime: 0, careOfAddress: MN1 }, { source: MN1 })],
      [131, h.ask({ identification: h.fresh(), lifetime: 0, careOfAddress: MN1, extensions: [MHAE(WRONG_KEY)] }, { source: MN1 })],
    ];
    expect(refusals.map(([, sent]) => sent.reply.code)).toEqual(refusals.map(([code]) => code));
    expect(state(h)).toEqual(before);
    expect(h.agent.counters.denied).toBe(refusals.length);
  });
});

describe('HomeAgent replies: fields and extensions (3.8.3)', () => {
  it('[R3.8.2.2-2] [R3.8.2.2-4] the Reply goes to the source address and port of the Request, from the address it was sent to; only there', () => {
    const h = new Harness();
    const direct = h.ask({ identification: h.fresh() }, { source: COA1, sourcePort: 50_001, destination: HA });
    expect(direct).toMatchObject({ destination: COA1, port: 50_001, source: HA });

    const second = h.ask({ identification: h.fresh(), homeAgent: HA_OTHER }, { source: COA1, sourcePort: 50_002, destination: HA_OTHER });
    expect(second).toMatchObject({ destination: COA1, port: 50_002, source: HA_OTHER });

    // Deregistering COA1 through a foreign agent that does not own it: the Reply goes to the
    // relaying foreign agent, not to the care-of address (3.8.2.2 "In all cases"), and no
    // second Reply goes to COA1, with which this home agent shares no association (h.ask
    // asserts exactly one datagram).
    const relayed = h.ask({ identification: h.fresh(), lifetime: 0, careOfAddress: COA1 }, { source: FA, sourcePort: MIP_PORT });
    expect(relayed.reply.code).toBe(0);
    expect(relayed).toMatchObject({ destination: FA, port: MIP_PORT, source: HA });
  });

  it('[R3.8.3.2-8] a Home Agent field holding another unicast address of this home agent is copied', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), homeAgent: HA_OTHER });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.homeAgent).toBe(HA_OTHER);
  });

  it('[R3.8.2.2-6] [R3.4-3] [R3.8.3.2-2] [R3.8.3.2-3] [R3.8.3.2-4] the Lifetime is copied, or reduced to the node\'s maximum, never increased', () => {
    const h = new Harness(makeConfig({ maxLifetime: 1800 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffff }), (requested) => {
        h.clock.advance(10);
        const sent = h.register({ lifetime: requested });
        const expected = Math.min(requested, 1800);
        expect(sent.reply.lifetime).toBe(expected);
        // The binding holds what the Reply says (3.8.2.2: the Reply informs of the granted Lifetime).
        expect(h.agent.bindings()[0]).toMatchObject({ lifetime: expected, remaining: expected });
      }),
      { numRuns: 300 },
    );
  });

  it('[R5.7-4] the Identification is copied whole on acceptance and on denials of fresh Requests; its low half always', () => {
    const h = new Harness();
    const accepted = h.fresh();
    expect(h.ask({ identification: accepted }).reply.identification).toEqual(accepted);
    const refused = h.fresh();
    const denial = h.ask({ identification: refused, flags: RequestFlag.T });
    expect(denial.reply.code).toBe(137);
    expect(denial.reply.identification).toEqual(refused);
    const stale = identificationFromUnixMs(h.clock.now() - 3_600_000, 0x155555);
    const resync = h.ask({ identification: stale });
    expect(resync.reply.code).toBe(133);
    expect(resync.reply.identification.low).toBe(stale.low);
    expect(resync.reply.identification.high).not.toBe(stale.high);
  });

  it('[R3.8.3.2-5] a nonzero Home Address is copied into the Reply, refused or not', () => {
    const h = new Harness();
    expect(h.ask({ identification: h.fresh() }).reply.homeAddress).toBe(MN1);
    expect(h.ask({ identification: h.fresh(), flags: RequestFlag.T }).reply.homeAddress).toBe(MN1);
  });

  it('[R3.8.1-5] [R3.8.3.2-7] a node registering with Home Address 0 and its NAI gets its home address in the Reply', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), homeAddress: 0, extensions: [{ nai: MN1_NAI }, MHAE()] });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.homeAddress).toBe(MN1);
    expect(h.tunnels(MN1)).toEqual([COA1]);
  });

  it('[R3.8.3.3-1] [R3.8.3.3-2] the node\'s NAI extension comes before the MHAE in the Reply, and the MHAE covers it', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh(), extensions: [{ nai: MN1_NAI }, MHAE()] });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.extensions.map((e) => e.kind)).toEqual(['nai', 'auth']);
    expect(sent.reply.extensions[0]).toMatchObject({ kind: 'nai', nai: MN1_NAI });
    const mhae = expectValidMhae(sent, MN1_KEY);
    expect(mhae.offset).toBeGreaterThan(sent.reply.extensions[0]!.offset);
    // A denial carries it too (the foreign agent matches Replies by NAI, RFC 2794).
    const denial = h.ask({ identification: h.fresh(), flags: RequestFlag.T, extensions: [{ nai: MN1_NAI }, MHAE()] });
    expect(denial.reply.extensions.map((e) => e.kind)).toEqual(['nai', 'auth']);
    expectValidMhae(denial, MN1_KEY);
    // An NAI the node did not cover with its MHAE is not echoed.
    const after = h.ask({ identification: h.fresh(), extensions: [MHAE(), { nai: 'added@path.example' }] });
    expect(after.reply.extensions.map((e) => e.kind)).toEqual(['auth']);
  });

  it('[R3.8.1-9] [R3.8.3.3-3] [R3.5.4-3] a Reply to a foreign agent with an association carries an FHAE after the MHAE; both verify', () => {
    const h = new Harness();
    const sent = h.ask(
      { identification: h.fresh(), extensions: [{ nai: MN1_NAI }, MHAE(), MFAE({ spi: 0x500, key: FA_KEY.key }), FHAE()] },
      { source: FA, sourcePort: MIP_PORT },
    );
    expect(sent.reply.code).toBe(0);
    expect(sent.destination).toBe(FA);
    expect(sent.reply.extensions.map((e) => (e.kind === 'auth' ? e.type : e.kind))).toEqual(['nai', 32, 34]);
    const mhae = expectValidMhae(sent, MN1_KEY);
    const fhae = expectValidFhae(sent);
    expect(fhae.offset).toBeGreaterThan(mhae.offset);
    // A denial relayed by the same foreign agent carries it as well.
    const denial = h.ask({ identification: h.fresh(), flags: RequestFlag.T, extensions: [MHAE(), FHAE()] }, { source: FA, sourcePort: MIP_PORT });
    expect(denial.reply.code).toBe(137);
    expectValidFhae(denial);
    expect(h.agent.bindings()[0]).toMatchObject({ relayedBy: '203.0.113.1' });
  });

  it('[R3.5.4-2] [R3.5.4-6] [R3.8.1-8] a deregistration through that foreign agent needs no FHAE and its Reply carries none', () => {
    // 3.8.1 asks for an FHAE in every Reply to a foreign agent sharing an association, but 3.5.4
    // says the extension "MUST NOT be applied to deregistration messages" and that the foreign
    // agent must not add one to a deregistration Request: the more specific rule wins, so the
    // Reply to a Lifetime-0 Request is authenticated by the MHAE alone.
    const h = new Harness();
    h.register({ extensions: [MHAE(), FHAE()] }, { source: FA, sourcePort: MIP_PORT });
    const sent = h.ask({ identification: h.fresh(), lifetime: 0, careOfAddress: COA1, extensions: [MHAE()] }, { source: FA, sourcePort: MIP_PORT });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.lifetime).toBe(0);
    expect(sent.reply.extensions.map((e) => (e.kind === 'auth' ? e.type : e.kind))).toEqual([32]);
    expectValidMhae(sent, MN1_KEY);
    expect(h.agent.bindingCount).toBe(0);
  });

  it('a Reply to a foreign agent without an association carries no FHAE', () => {
    const h = new Harness();
    const sent = h.ask({ identification: h.fresh() }, { source: FA_NO_SA, sourcePort: MIP_PORT });
    expect(sent.reply.code).toBe(0);
    expect(sent.reply.extensions.map((e) => (e.kind === 'auth' ? e.type : e.kind))).toEqual([32]);
  });
});

describe('HomeAgent replay protection (5.7)', () => {
  it('[R5.7.1-1] [R5.7.1-7] timestamps are accepted up to 7 s either side of the home agent\'s clock, not beyond', () => {
    const h = new Harness();
    h.clock.advance(3_600_000); // a whole second: the home agent's own timestamp has fraction 0
    const now = h.clock.now();
    expect(h.ask({ identification: identificationFromUnixMs(now - 7_001) }).reply.code).toBe(133);
    expect(h.ask({ identification: identificationFromUnixMs(now - 7_000) }).reply.code).toBe(0);
    expect(h.ask({ identification: identificationFromUnixMs(now + 7_000) }).reply.code).toBe(0);
    h.clock.advance(60_000);
    expect(h.ask({ identification: identificationFromUnixMs(h.clock.now() + 7_001) }).reply.code).toBe(133);
  });

  it('[R5.7.1-7] [R5.7.1-8] a replay of an earlier accepted Request is refused with 133 and changes nothing', () => {
    const h = new Harness();
    const first = h.fresh();
    const firstBytes = h.deliver(buildFor(first, COA1), { source: COA1 });
    expect(firstBytes[0]!.reply.code).toBe(0);
    h.clock.advance(1_000);
    h.register({ careOfAddress: COA2 });
    const before = state(h);
    // Within the 7 s window, but not greater than the last accepted timestamp.
    const replay = h.deliver(buildFor(first, COA1), { source: COA1 });
    expect(replay).toHaveLength(1);
    expect(replay[0]!.reply.code).toBe(133);
    expect(replay[0]!.reply.identification.low).toBe(first.low);
    expectValidMhae(replay[0]!, MN1_KEY);
    expect(state(h)).toEqual(before);
    expect(h.tunnels()).toEqual([COA2]);
  });

  it('[R5.7.1-7] an Identification equal to the last accepted one is refused unless it duplicates a current registration', () => {
    const h = new Harness();
    const id = h.fresh();
    expect(h.ask({ identification: id, careOfAddress: COA1 }, { source: COA1 }).reply.code).toBe(0);
    // Same Identification, another care-of address: not a duplicate (3.8.2.2), not greater (5.7.1).
    expect(h.ask({ identification: id, careOfAddress: COA2 }, { source: COA2 }).reply.code).toBe(133);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('[R3.8.2.1-13] the Identification is checked with the replay style of the context the SPI selects', () => {
    // SPI 4096 uses timestamps, SPI 4097 nonces (the style is part of the association, 5.7).
    const h = new Harness(makeConfig({ mn1Contexts: [context(MN1_KEY, 'timestamp'), context(MN1_NEW_KEY, 'nonce')] }));
    const viaNonceContext = h.ask({ identification: h.fresh(), extensions: [MHAE(MN1_NEW_KEY)] });
    expect(viaNonceContext.reply.code).toBe(133);
    expectValidMhae(viaNonceContext, MN1_NEW_KEY);
    expect(h.ask({ identification: h.fresh(), extensions: [MHAE(MN1_KEY)] }).reply.code).toBe(0);
  });

  it('[R5.7-2] [R5.7-4] [R5.7.2-1] nonces: 133 with a nonce, then accepted; every Reply carries the next nonce', () => {
    const h = new Harness(makeConfig({ replay: 'nonce' }));
    let low = 0x1000;
    const ask = (high: number, careOfAddress = COA1) => h.ask({ identification: { high, low: ++low }, careOfAddress }, { source: careOfAddress });

    // No nonce issued yet: refused, and the Reply carries one.
    const first = ask(0x12345678);
    expect(first.reply.code).toBe(133);
    expect(first.reply.identification).toEqual({ high: h.randomDrawn.at(-1), low });
    expectValidMhae(first, MN1_KEY);

    const highs = [first.reply.identification.high];
    for (let i = 0; i < 5; i++) {
      const sent = ask(highs.at(-1)!);
      expect(sent.reply.code).toBe(0);
      expect(sent.reply.identification).toEqual({ high: h.randomDrawn.at(-1), low });
      highs.push(sent.reply.identification.high);
    }
    // A new high half in every Reply.
    expect(new Set(highs).size).toBe(highs.length);
    expect(h.agent.bindingCount).toBe(1);

    // An old nonce (not the last issued) is refused, with a fresh nonce again: self-synchronising.
    const stale = ask(highs[1]!, COA2);
    expect(stale.reply.code).toBe(133);
    expect(stale.reply.identification.low).toBe(low);
    const resynced = ask(stale.reply.identification.high, COA2);
    expect(resynced.reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA2]);
  });

  it('nonces: a failed authenticator does not consume the nonce the node must echo', () => {
    const h = new Harness(makeConfig({ replay: 'nonce' }));
    const issued = h.ask({ identification: { high: 1, low: 1 } }).reply.identification.high;
    const forged = h.ask({ identification: { high: issued, low: 2 }, extensions: [MHAE(WRONG_KEY)] });
    expect(forged.reply.code).toBe(131);
    expect(forged.reply.identification.low).toBe(2);
    expect(h.ask({ identification: { high: issued, low: 3 } }).reply.code).toBe(0);
  });
});

function buildFor(identification: { high: number; low: number }, careOfAddress: number): Uint8Array {
  return buildRequest({ identification, careOfAddress });
}
