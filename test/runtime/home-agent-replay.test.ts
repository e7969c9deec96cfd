/**
 * Replay attacks on the home agent as a whole (RFC 5944 3.8.2.2, 5.7, 5.7.1, 5.7.2): an attacker
 * who captured the mobile node's authentic Requests sends them again, unchanged, to the
 * subnet-directed broadcast address or with the IP source of a foreign agent the home agent
 * shares an association with. Whatever they are answered, the node's replay state must not
 * move back (5.7.1: "greater than all previously accepted timestamps") and a duplicate must
 * leave the node's nonce alone, so that a deregistered binding cannot be brought back and the
 * real node keeps registering.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RequestFlag, type Identification } from '../../io/wire/registration-types.js';
import {
  buildRequest,
  COA1,
  COA2,
  COA3,
  FA,
  Harness,
  LIMITED_BROADCAST,
  makeConfig,
  SUBNET_BROADCAST,
  type Arrival,
  type SentReply,
} from './home-agent-harness.js';

/** Registers (or deregisters) MN1 at `careOfAddress` from there and returns the captured bytes. */
function send(h: Harness, careOfAddress: number, fields: { flags?: number; lifetime?: number } = {}): { bytes: Uint8Array; replies: SentReply[] } {
  const bytes = buildRequest({ identification: h.fresh(), careOfAddress, ...fields });
  return { bytes, replies: h.deliver(bytes, { source: careOfAddress }) };
}

/**
 * The attack of the review: COA1 and COA2 registered with S, COA2 then deregistered. The
 * attacker replays the COA1 Request (a duplicate of the current COA1 registration, so its
 * Identification passes) to be denied after authentication, then replays the COA2 Request
 * inside the 7 s window.
 */
function resurrectionAttempt(denied: Arrival): { h: Harness; denial: SentReply[]; resurrection: SentReply[] } {
  const h = new Harness();
  const coa1 = send(h, COA1, { flags: RequestFlag.S });
  expect(coa1.replies[0]!.reply.code).toBe(0);
  h.clock.advance(1_000);
  const coa2 = send(h, COA2, { flags: RequestFlag.S });
  expect(coa2.replies[0]!.reply.code).toBe(0);
  h.clock.advance(1_000);
  expect(send(h, COA2, { lifetime: 0 }).replies[0]!.reply.code).toBe(0);
  expect(h.tunnels()).toEqual([COA1]);

  h.clock.advance(500);
  const denial = h.deliver(coa1.bytes, denied);
  h.clock.advance(500);
  const resurrection = h.deliver(coa2.bytes, { source: COA2 });
  return { h, denial, resurrection };
}

describe('HomeAgent: a replayed duplicate cannot roll the replay state back (5.7.1)', () => {
  it('[R5.7.1-7] [R3.8.2.1-21] replayed to the subnet-directed broadcast: 136, and the deregistered COA2 binding stays gone', () => {
    const { h, denial, resurrection } = resurrectionAttempt({ source: COA1, destination: SUBNET_BROADCAST });
    expect(denial.map((s) => s.reply.code)).toEqual([136]);
    expect(resurrection).toHaveLength(1);
    expect(resurrection[0]!.reply.code).toBe(133);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('[R5.7.1-7] replayed to 255.255.255.255: the deregistered COA2 binding stays gone', () => {
    const { h, resurrection } = resurrectionAttempt({ source: COA1, destination: LIMITED_BROADCAST });
    expect(resurrection.map((s) => s.reply.code)).toEqual([133]);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('[R5.7.1-7] replayed with the IP source of a foreign agent with an association: no reply larger than the Request, and COA2 stays gone', () => {
    const { h, denial, resurrection } = resurrectionAttempt({ source: FA });
    // The 132 would carry an FHAE the Request lacked: 64 bytes toward the FA for 46 bytes in.
    for (const sent of denial) expect(sent.data.length).toBeLessThanOrEqual(46);
    expect(resurrection.map((s) => s.reply.code)).toEqual([133]);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('[R5.7.1-7] an accepted duplicate does not move the replay state back either', () => {
    const { h, denial, resurrection } = resurrectionAttempt({ source: COA1 });
    expect(denial.map((s) => s.reply.code)).toEqual([0]);
    expect(resurrection.map((s) => s.reply.code)).toEqual([133]);
    expect(h.tunnels()).toEqual([COA1]);
  });

  it('[R5.7.1-7] the real node registers normally after the replays', () => {
    const { h } = resurrectionAttempt({ source: COA1, destination: SUBNET_BROADCAST });
    h.clock.advance(1_000);
    expect(send(h, COA3, { flags: RequestFlag.S }).replies[0]!.reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA1, COA3]);
  });
});

/** A mobile node using nonces (5.7.2): it echoes the high half of the last Reply it accepted. */
class NonceNode {
  private nonce = 0;
  private low = 0x5eed0000;
  constructor(private readonly h: Harness) {}

  /** A Request from the node (its bytes, as an attacker on the path captures them) and its Reply. */
  request(careOfAddress: number, flags = 0, lifetime = 1800): { bytes: Uint8Array; sent: SentReply } {
    const identification: Identification = { high: this.nonce, low: ++this.low };
    const bytes = buildRequest({ identification, careOfAddress, flags, lifetime });
    const replies = this.h.deliver(bytes, { source: careOfAddress });
    expect(replies).toHaveLength(1);
    const sent = replies[0]!;
    // 3.6.2.1 / 5.7: the node takes a Reply whose low half is its own, and keeps its nonce.
    expect(sent.reply.identification.low).toBe(identification.low);
    this.nonce = sent.reply.identification.high;
    return { bytes, sent };
  }
}

describe('HomeAgent: replays under nonces leave the node synchronised (5.7.2)', () => {
  const nonceConfig = () => makeConfig({ replay: 'nonce' });

  it('the real node\'s next Request succeeds after replayed duplicates of its current registration', () => {
    const h = new Harness(nonceConfig());
    const node = new NonceNode(h);
    expect(node.request(COA1).sent.reply.code).toBe(133); // no nonce issued yet: the Reply brings one
    const current = node.request(COA1);
    expect(current.sent.reply.code).toBe(0);
    for (let i = 0; i < 5; i++) {
      h.clock.advance(2_000);
      for (const arrival of [{ source: COA1 }, { source: COA1, destination: SUBNET_BROADCAST }, { source: FA }] as Arrival[]) {
        h.deliver(current.bytes, arrival);
      }
    }
    expect(node.request(COA1).sent.reply.code).toBe(0);
    expect(node.request(COA2).sent.reply.code).toBe(0);
    expect(h.tunnels()).toEqual([COA2]);
  });

  it('a duplicate is answered with the nonce the node must echo, so a retransmission whose Reply was lost resynchronises nothing', () => {
    const h = new Harness(nonceConfig());
    const node = new NonceNode(h);
    node.request(COA1);
    const current = node.request(COA1);
    const again = h.deliver(current.bytes, { source: COA1 });
    expect(again.map((s) => s.reply.code)).toEqual([0]);
    expect(again[0]!.reply.identification).toEqual(current.sent.reply.identification);
  });

  it('stale replays (133 with a new nonce) do not take the expected nonce from the real node', () => {
    const h = new Harness(nonceConfig());
    const node = new NonceNode(h);
    const first = node.request(COA1); // 133: no nonce issued yet
    const second = node.request(COA1);
    node.request(COA1); // now the current registration: the second one is stale
    for (const bytes of [first.bytes, second.bytes]) {
      h.clock.advance(2_000);
      expect(h.deliver(bytes, { source: COA1 }).map((s) => s.reply.code)).toEqual([133]);
    }
    expect(node.request(COA1).sent.reply.code).toBe(0);
  });
});

describe('HomeAgent: no sequence of replays brings back a binding or stops the real node (property)', () => {
  type Step =
    | { readonly kind: 'register'; readonly coa: number; readonly simultaneous: boolean; readonly wait: number }
    | { readonly kind: 'deregister'; readonly coa: number; readonly wait: number }
    /** `which` counts back from the latest captured Request: recent ones are still current or in the window. */
    | { readonly kind: 'replay'; readonly which: number; readonly via: number; readonly wait: number };
  // Two care-of addresses and short waits: sequences stay inside the 7 s window of 5.7.1.
  const coas = [COA1, COA2];
  const vias: Arrival[] = [{}, { destination: SUBNET_BROADCAST }, { destination: LIMITED_BROADCAST }, { source: FA }];
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('register' as const), coa: fc.constantFrom(...coas), simultaneous: fc.boolean(), wait: fc.integer({ min: 0, max: 1_500 }) }),
    fc.record({ kind: fc.constant('deregister' as const), coa: fc.constantFrom(...coas), wait: fc.integer({ min: 0, max: 1_500 }) }),
    fc.record({ kind: fc.constant('replay' as const), which: fc.nat({ max: 3 }), via: fc.nat({ max: vias.length - 1 }), wait: fc.integer({ min: 0, max: 1_500 }) }),
  );

  it('[R5.7.1-7] timestamps: a replay never changes the bindings and every fresh Request of the node is accepted', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const h = new Harness();
        const captured: Array<{ bytes: Uint8Array; coa: number }> = [];
        for (const s of steps) {
          h.clock.advance(s.wait);
          if (s.kind === 'replay') {
            if (captured.length === 0) continue;
            const { bytes, coa } = captured[captured.length - 1 - (s.which % captured.length)]!;
            const before = h.tunnels();
            const via = vias[s.via]!;
            h.deliver(bytes, { source: coa, ...via });
            expect(h.tunnels()).toEqual(before);
          } else {
            const sent = send(h, s.coa, s.kind === 'register' ? { flags: s.simultaneous ? RequestFlag.S : 0 } : { lifetime: 0 });
            expect(sent.replies.map((r) => r.reply.code)).toEqual([0]);
            captured.push({ bytes: sent.bytes, coa: s.coa });
          }
        }
      }),
      {
        seed: 5944,
        numRuns: 150,
        // The review's attack, which random sequences rarely assemble: A and B with S, B
        // deregistered, A replayed (a current duplicate), then B replayed inside the window.
        examples: [
          [
            [
              { kind: 'register', coa: COA1, simultaneous: true, wait: 0 },
              { kind: 'register', coa: COA2, simultaneous: true, wait: 1_000 },
              { kind: 'deregister', coa: COA2, wait: 1_000 },
              { kind: 'replay', which: 2, via: 1, wait: 500 },
              { kind: 'replay', which: 1, via: 0, wait: 500 },
            ],
          ],
        ],
      },
    );
  });

  it('nonces: every Request of the real node is accepted whatever was replayed before it', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const h = new Harness(makeConfig({ replay: 'nonce' }));
        const node = new NonceNode(h);
        node.request(COA1); // the first contact brings the first nonce (133)
        const captured: Array<{ bytes: Uint8Array; coa: number }> = [];
        for (const s of steps) {
          h.clock.advance(s.wait);
          if (s.kind === 'replay') {
            if (captured.length === 0) continue;
            const { bytes, coa } = captured[captured.length - 1 - (s.which % captured.length)]!;
            h.deliver(bytes, { source: coa, ...vias[s.via]! });
          } else {
            const { bytes, sent } =
              s.kind === 'register' ? node.request(s.coa, s.simultaneous ? RequestFlag.S : 0) : node.request(s.coa, 0, 0);
            expect(sent.reply.code).toBe(0);
            captured.push({ bytes, coa: s.coa });
          }
        }
      }),
      { seed: 5944, numRuns: 150 },
    );
  });
});
