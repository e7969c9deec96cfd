/**
 * `mip4 ha`'s log lines (runtime/cli/log-line.ts): a reply event's line is assembled without
 * JSON.stringify, and must be exactly what JSON.stringify writes — for the events the home
 * agent really emits, and for any field values of the reply's kinds (property).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlainReply, jsonLine } from '../../runtime/cli/log-line.js';
import { buildRequest, COA1, FHAE, FA, FA_KEY, Harness, makeConfig, MHAE, MN1, MN2, STRANGER, WRONG_KEY } from '../runtime/home-agent-harness.js';

describe('jsonLine', () => {
  it('writes every event a home agent emits (accepted, denied, deregistered, discarded) as JSON.stringify does', () => {
    const h = new Harness(makeConfig());
    h.register();
    h.register({ careOfAddress: COA1 });
    h.deliver(buildRequest({ identification: h.fresh(), homeAddress: MN2, extensions: [MHAE(WRONG_KEY)] }));
    h.deliver(buildRequest({ identification: h.fresh(), homeAddress: STRANGER, extensions: [MHAE()] }));
    h.deliver(buildRequest({ identification: h.fresh(), lifetime: 0, careOfAddress: MN1, extensions: [MHAE()] }));
    h.deliver(buildRequest({ identification: h.fresh(), extensions: [MHAE(), FHAE(FA_KEY)] }), { source: FA });
    h.deliver(Uint8Array.of(1, 2, 3));
    const kinds = new Set(h.events.map((e) => e.event));
    expect(kinds).toEqual(new Set(['reply', 'discard']));
    expect(h.events.filter((e) => e.event === 'reply').length).toBeGreaterThanOrEqual(5);
    for (const event of h.events) {
      // Every reply takes the direct path (else this test would only check JSON.stringify).
      expect(isPlainReply(event)).toBe(event.event === 'reply');
      expect(jsonLine(event)).toBe(JSON.stringify(event));
    }
  });

  it('equals JSON.stringify for reply events with any field values (property)', () => {
    const address = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const reply = fc.record(
      {
        event: fc.constant('reply' as const),
        trace: fc.oneof(fc.nat().map((n) => n.toString(36)), text),
        at: fc.oneof(fc.integer({ min: 0, max: 2 ** 53 }), fc.double()),
        code: fc.oneof(fc.nat(255), fc.double()),
        text,
        homeAddress: fc.oneof(address, text),
        careOfAddress: fc.oneof(address, text),
        lifetime: fc.oneof(fc.nat(65535), fc.double()),
        to: fc.oneof(address.map((a) => `${a}:434`), text),
        operation: text,
        detail: text,
        securityException: fc.boolean(),
      },
      { requiredKeys: ['event', 'trace', 'at', 'code', 'text', 'homeAddress', 'careOfAddress', 'lifetime', 'to'] },
    );
    fc.assert(
      fc.property(reply, (event) => {
        expect(jsonLine(event)).toBe(JSON.stringify(event));
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves other events to JSON.stringify', () => {
    const events = [{ event: 'listening', endpoints: ['127.0.0.1:434'], pid: 1 }, { event: 'reply', trace: 1 }, { a: '"\n' }];
    for (const event of events) expect(jsonLine(event)).toBe(JSON.stringify(event));
  });
});
