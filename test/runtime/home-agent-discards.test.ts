/**
 * The silent discards of RFC 5944 3.8.2.1 (and 1.8, 3.8) through the home agent as a whole:
 * nothing is sent, the discard is counted by reason and logged with the datagram; and no
 * amount of garbage disturbs an existing binding.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4, ipv4ToString, toHex } from '../../io/wire/bytes.js';
import { encodeRegistrationReply } from '../../io/wire/registration.js';
import { seededRandom } from '../../io/sim/udp.js';
import {
  buildRequest,
  COA1,
  COA2,
  expectValidMhae,
  FA,
  FA_KEY,
  FA_NO_SA,
  FHAE,
  HA,
  Harness,
  makeConfig,
  MHAE,
  MIP_PORT,
  MN1,
  MN1_KEY,
  MN1_NAI,
  MN2,
  MN2_KEY,
  MN_NO_SA,
  MN_PORT,
  STRANGER,
  WRONG_KEY,
  type Arrival,
} from './home-agent-harness.js';

interface DiscardCase {
  readonly name: string;
  readonly reason: string;
  readonly securityException: boolean;
  readonly data: (h: Harness) => Uint8Array;
  readonly arrival?: Arrival;
}

/** A Registration Reply (Type 3), as if some node sent one to port 434. */
function someReply(): Uint8Array {
  const reply = {
    type: 3 as const,
    code: 0,
    lifetime: 1800,
    homeAddress: MN1,
    homeAgent: HA,
    identification: { high: 1, low: 2 },
    extensions: [],
  };
  const bytes = new Uint8Array(20);
  encodeRegistrationReply(reply, bytes, 0);
  return bytes;
}

const cases: DiscardCase[] = [
  {
    name: '[R3.8.2.1-1] [R3.1-5] an invalid non-zero UDP checksum',
    reason: 'udp-checksum',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh() }),
    arrival: { udpChecksumValid: false },
  },
  {
    name: '[R1.8-1] an unrecognised extension of type 0-127 after the MHAE',
    reason: 'unknown-non-skippable-extension',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [MHAE(), { unknown: 100, data: new Uint8Array([1, 2, 3]) }] }),
  },
  {
    name: '[R1.8-1] an unrecognised extension of type 0-127 before the MHAE',
    reason: 'unknown-non-skippable-extension',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [{ unknown: 127, data: new Uint8Array(2) }, MHAE()] }),
  },
  {
    name: '[R3.8.2.1-6] [R3.8.2.1-3] [R3.8.2.1-4] [R3.2-2] no extension at all',
    reason: 'no-authorization-extension',
    securityException: true,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [] }),
  },
  {
    name: '[R3.8.2.1-6] an NAI and a Foreign-Home extension but no MHAE',
    reason: 'no-authorization-extension',
    securityException: true,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [{ nai: MN1_NAI }, FHAE()] }),
    arrival: { source: FA, sourcePort: MIP_PORT },
  },
  {
    name: '[R3.8.2.1-5] a mobile node this home agent does not serve',
    reason: 'unknown-mobile-node',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), homeAddress: STRANGER }),
  },
  {
    name: '[R3.8.2.1-5] Home Address 0 with an NAI nobody here has',
    reason: 'unknown-mobile-node',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), homeAddress: 0, extensions: [{ nai: 'nobody@example.org' }, MHAE()] }),
  },
  {
    name: '[R3.8.2.1-5] Home Address 0 and no NAI: no association can be selected',
    reason: 'unknown-mobile-node',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), homeAddress: 0 }),
  },
  {
    name: '[R3.8.2.1-5] a configured node without any security context',
    reason: 'no-security-association',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh(), homeAddress: MN_NO_SA }),
  },
  {
    name: '[R3.8.2.1-20] a Foreign-Home extension from a foreign agent without an association',
    reason: 'fha-without-association',
    securityException: true,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [MHAE(), FHAE()] }),
    arrival: { source: FA_NO_SA, sourcePort: MIP_PORT },
  },
  {
    name: '[R3.8.2.1-12] a bad MHAE relayed by an associated foreign agent whose FHAE is bad too',
    reason: 'bad-authenticator',
    securityException: true,
    data: (h) => buildRequest({ identification: h.fresh(), extensions: [MHAE(WRONG_KEY), FHAE(FA_KEY, true)] }),
    arrival: { source: FA, sourcePort: MIP_PORT },
  },
  {
    name: 'a message shorter than the fixed part of a Request',
    reason: 'malformed',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh() }).subarray(0, 23),
  },
  {
    name: 'a Request whose MHAE is cut short',
    reason: 'malformed',
    securityException: false,
    data: (h) => buildRequest({ identification: h.fresh() }).subarray(0, 24 + 10),
  },
  {
    name: '[R3.8-1] a Registration Reply sent to the home agent',
    reason: 'not-a-request',
    securityException: false,
    data: () => someReply(),
  },
  {
    name: 'an empty datagram',
    reason: 'not-a-request',
    securityException: false,
    data: () => new Uint8Array(0),
  },
];

describe('HomeAgent silent discards (3.8.2.1)', () => {
  for (const c of cases) {
    it(`${c.name}: nothing sent, counted as '${c.reason}', logged with the datagram`, () => {
      const h = new Harness();
      h.register({ careOfAddress: COA1 });
      const bindings = h.agent.bindings();
      const arpBefore = h.arp.length;
      const counters = structuredClone(h.agent.counters);
      const data = c.data(h);
      const sent = h.deliver(data, { source: COA2, sourcePort: MN_PORT, ...c.arrival });
      expect(sent).toEqual([]);
      expect(h.agent.counters.requests).toBe(counters.requests + 1);
      expect(h.agent.counters.discarded).toBe(counters.discarded + 1);
      expect(h.agent.counters.discardedByReason[c.reason]).toBe((counters.discardedByReason[c.reason] ?? 0) + 1);
      expect(h.agent.counters.denied).toBe(counters.denied);
      expect(h.agent.counters.accepted).toBe(counters.accepted);
      const event = h.lastEvent();
      expect(event).toMatchObject({
        event: 'discard',
        reason: c.reason,
        securityException: c.securityException,
        datagram: toHex(data),
        from: `${ipv4ToString(c.arrival?.source ?? COA2)}:${c.arrival?.sourcePort ?? MN_PORT}`,
        at: h.clock.now(),
      });
      expect(h.agent.bindings()).toEqual(bindings);
      expect(h.arp.length).toBe(arpBefore);
    });
  }

  it('with replyOnAuthFailure off a bad MHAE on a direct Request is discarded silently', () => {
    const h = new Harness(makeConfig({ settings: { replyOnAuthFailure: false } }));
    const data = buildRequest({ identification: h.fresh(), extensions: [MHAE(WRONG_KEY)] });
    expect(h.deliver(data)).toEqual([]);
    expect(h.agent.counters.discardedByReason['bad-authenticator']).toBe(1);
    expect(h.lastEvent()).toMatchObject({ event: 'discard', reason: 'bad-authenticator', securityException: true });
  });

  it('[R1.8-2] an unrecognised extension of type 128-255 is skipped and the Request processed', () => {
    const h = new Harness();
    const sent = h.deliver(buildRequest({ identification: h.fresh(), extensions: [{ unknown: 200, data: new Uint8Array([9, 9]) }, MHAE()] }));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.reply.code).toBe(0);
  });

  it('logs at most 128 bytes of a long datagram, marked as cut', () => {
    const h = new Harness();
    const data = buildRequest({ identification: h.fresh(), extensions: [{ unknown: 200, data: new Uint8Array(200).fill(0xab) }] });
    expect(data.length).toBeGreaterThan(128);
    expect(h.deliver(data)).toEqual([]);
    expect(h.lastEvent()).toMatchObject({ event: 'discard', reason: 'no-authorization-extension', datagram: `${toHex(data.subarray(0, 128))}...` });
  });
});

describe('HomeAgent under a flood of garbage', () => {
  it('[R3.8-1] [R3.8.2.1-12] 1000 random, truncated, forged or mutated datagrams leave the binding and its FIB entry as they were', () => {
    const h = new Harness();
    h.register({ careOfAddress: COA1, lifetime: 1800 });
    const valid = buildRequest({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1800 });
    const bindings = h.agent.bindings();
    const fib = structuredClone(h.agent.forwardingTable.lookup(MN1));
    const transitions = h.transitions.length;
    const arp = h.arp.length;
    const accepted = h.agent.counters.accepted;
    const random = seededRandom(2026);
    const byte = () => Math.floor(random() * 256);
    const sources = [COA1, COA2, FA, FA_NO_SA, MN1, ipv4('192.0.2.200')];

    const garbage: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const kind = i % 5;
      let data: Uint8Array;
      if (kind === 0) {
        // Random bytes of random length (some empty).
        data = Uint8Array.from({ length: Math.floor(random() * 80) }, byte);
      } else if (kind === 1) {
        // Random bytes that at least claim to be a Request.
        data = Uint8Array.from({ length: 24 + Math.floor(random() * 60) }, byte);
        data[0] = 1;
      } else if (kind === 2) {
        // Every kind of truncation of the valid renewal.
        data = valid.slice(0, Math.floor(random() * valid.length));
      } else if (kind === 3) {
        // The valid renewal with one to three bits flipped: the MHAE no longer verifies.
        data = valid.slice();
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips; f++) data[Math.floor(random() * data.length)]! ^= 1 << Math.floor(random() * 8);
      } else {
        // A well-formed Request for the bound node signed with the wrong key.
        data = buildRequest({ identification: h.fresh(), careOfAddress: COA2, extensions: [MHAE(WRONG_KEY)] });
      }
      garbage.push(data);
    }
    let replies = 0;
    for (const [i, data] of garbage.entries()) {
      const source = sources[i % sources.length]!;
      const sent = h.deliver(data, { source, sourcePort: 1024 + i, udpChecksumValid: i % 97 !== 0 });
      for (const s of sent) {
        // The only Replies garbage may earn: 131 to a Request that reached the authenticator
        // check of a node this home agent serves (3.8.2.1 a MAY).
        expect(s.reply.code).toBe(131);
        expectValidMhae(s, s.reply.homeAddress === MN2 ? MN2_KEY : MN1_KEY);
        replies++;
      }
    }
    // The flood reached every layer: framing, decoding, extension checks, node lookup and
    // authentication (a guard against a generator that only ever hits the first check).
    for (const reason of ['not-a-request', 'malformed', 'udp-checksum', 'unknown-non-skippable-extension', 'unknown-mobile-node', 'bad-authenticator']) {
      expect(h.agent.counters.discardedByReason[reason], reason).toBeGreaterThan(0);
    }
    expect(replies).toBeGreaterThan(0);
    expect(h.agent.counters.requests).toBe(1 + garbage.length);
    expect(h.agent.counters.accepted).toBe(accepted);
    expect(h.agent.counters.discarded + h.agent.counters.denied).toBe(garbage.length);
    expect(h.agent.counters.denied).toBe(replies);
    expect(h.agent.bindings()).toEqual(bindings);
    expect(h.agent.forwardingTable.lookup(MN1)).toEqual(fib);
    expect(h.transitions.length).toBe(transitions);
    expect(h.arp.length).toBe(arp);

    // The genuine renewal still works and renews.
    h.clock.advance(60_000);
    const renewal = h.deliver(buildRequest({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1800 }), { source: COA1 });
    expect(renewal).toHaveLength(1);
    expect(renewal[0]!.reply.code).toBe(0);
    expect(h.agent.bindings()[0]).toMatchObject({ careOfAddress: '203.0.113.77', remaining: 1800 });
    expect(h.transitions.at(-1)).toMatchObject({ reason: 'renewed' });
  });

  it('never throws on arbitrary bytes, and never binds anything', () => {
    const h = new Harness();
    const requestLike = fc.uint8Array({ minLength: 24, maxLength: 120 }).map((b) => {
      b[0] = 1;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), requestLike), fc.boolean(), (data, checksumValid) => {
        h.deliver(data, { udpChecksumValid: checksumValid });
      }),
      { numRuns: 5000 },
    );
    expect(h.agent.bindingCount).toBe(0);
    expect(h.agent.counters.accepted).toBe(0);
    expect(h.sent).toEqual([]);
  });
});
