/**
 * The pure parts of `mip4 conformance --role ha`: the cases generated from the binding machine
 * and the policies, the model's predictions along a path, the judgement of a Reply (each
 * defect failing the check of its own requirement id), and the target config's errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationRequest } from '../../io/wire/registration.js';
import { ExtensionType, REGISTRATION_REPLY, type Identification, type RegistrationReply } from '../../io/wire/registration-types.js';
import { authPlaceholder, encodeSigned } from '../../policies/sign.js';
import { buildRegisterRequest } from '../../runtime/cli/register-client.js';
import { assignCases, bindingPathsFromMachine, generateCases } from '../../runtime/cli/conformance/ha-cases.js';
import { judge, type Sent } from '../../runtime/cli/conformance/ha-judge.js';
import { bindingTransitions, NodeModel } from '../../runtime/cli/conformance/ha-model.js';
import { ConfigError, conformanceTargetFromDocument, EXAMPLE_CONFORMANCE_CONFIG } from '../../runtime/cli/conformance/ha-target.js';
import { parseYamlConfig } from '../../runtime/config/config-schema.js';
import { ROOT } from '../support/build.js';
import { mutantTableMarkdown, type MutantTable } from './support.js';

const target = conformanceTargetFromDocument(parseYamlConfig(EXAMPLE_CONFORMANCE_CONFIG, 'example'));
const HA = ipv4('127.0.0.1');
const timestampNode = target.nodes[0]!;
const key = { spi: timestampNode.context.spi, algorithm: timestampNode.context.algorithm, key: timestampNode.context.key };

describe('cases generated from the model', () => {
  it('xstate/graph gives a path ending with each transition of the binding machine', () => {
    const transitions = bindingTransitions();
    expect(transitions).toHaveLength(9);
    expect(bindingPathsFromMachine()).toHaveLength(transitions.length);
  });

  it("needs simultaneous bindings for the 'replaced' path and says so when the target lacks them", () => {
    const without = conformanceTargetFromDocument(parseYamlConfig(EXAMPLE_CONFORMANCE_CONFIG.replace('simultaneousBindings: true', 'simultaneousBindings: false'), 'example'));
    const replaced = (t: typeof target) => generateCases(t).find((c) => c.id.includes('replaced'))!;
    expect(replaced(target).notApplicable).toBeUndefined();
    expect(replaced(target).steps.some((s) => s.kind === 'request' && s.plan.flags === 0x80)).toBe(true);
    expect(replaced(without).notApplicable).toMatch(/simultaneous/);
  });

  it('runs binding paths and replay cases on every node, the nonce-only case on the nonce node', () => {
    const plan = assignCases(generateCases(target), target.nodes);
    const [timestamps, nonces] = target.nodes.map((n) => plan.get(n)!.map((c) => c.id));
    expect(timestamps).toContain('replay/timestamp-ahead-of-window');
    expect(timestamps).not.toContain('replay/wrong-nonce');
    expect(nonces).toContain('replay/wrong-nonce');
    for (const ids of [timestamps!, nonces!]) expect(ids.filter((id) => id.startsWith('binding-path/')).length).toBeGreaterThanOrEqual(6);
  });
});

function sentRegistration(identification: Identification, lifetime = 600, careOf = '203.0.113.1'): Sent {
  const spec = { homeAddress: timestampNode.homeAddress, homeAgent: HA, careOfAddress: ipv4(careOf), lifetime, flags: 0, mobileHome: key, replay: 'timestamp' as const };
  const { bytes } = buildRegisterRequest(spec, identification);
  const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
  if (!decoded.ok) throw new Error('the request does not decode');
  return { request: decoded.value, bytes, destination: HA, destinationPort: 4434, broadcast: false, unicast: HA, key };
}

function replyTo(sent: Sent, change: Partial<RegistrationReply> = {}, signWith = key.key): Uint8Array {
  const reply: RegistrationReply = {
    type: REGISTRATION_REPLY,
    code: 0,
    lifetime: sent.request.lifetime,
    homeAddress: sent.request.homeAddress,
    homeAgent: sent.request.homeAgent,
    identification: sent.request.identification,
    extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, key.spi)],
    ...change,
  };
  return encodeSigned(reply, () => ({ ...key, key: signWith }));
}

describe('the model along a path, and the judgement of Replies', () => {
  const now = Date.now();
  const model = () => new NodeModel(timestampNode, target.settings, new Set());

  it('predicts an accepted registration, then 133 for its replay once superseded, and 0 for a duplicate', () => {
    const m = model();
    const first = sentRegistration(identificationFromUnixMs(now, 1));
    const p1 = m.predict({ request: first.request, message: first.bytes, ipSource: HA, ipDestination: HA });
    expect(p1.verdict).toMatchObject({ kind: 'accept', code: 0, grantedLifetime: 600 });
    m.apply(p1, first.request, first.request.identification);
    const duplicate = m.predict({ request: first.request, message: first.bytes, ipSource: HA, ipDestination: HA });
    expect(duplicate.verdict.kind).toBe('accept');
    expect(duplicate.lifetime?.exactly).toBeUndefined();
    const second = sentRegistration(identificationFromUnixMs(now + 10, 2));
    const p2 = m.predict({ request: second.request, message: second.bytes, ipSource: HA, ipDestination: HA });
    m.apply(p2, second.request, second.request.identification);
    const replay = m.predict({ request: first.request, message: first.bytes, ipSource: HA, ipDestination: HA });
    expect(replay.verdict).toMatchObject({ kind: 'deny', code: 133 });
    m.stop();
  });

  it('passes a correct Reply and fails each defect by its own requirement id', () => {
    const m = model();
    const sent = sentRegistration(identificationFromUnixMs(now, 3), 500);
    const prediction = m.predict({ request: sent.request, message: sent.bytes, ipSource: HA, ipDestination: HA });
    const judged = (bytes: Uint8Array, from = { address: HA, port: 4434 }) =>
      judge(prediction, sent, { bytes, ...from }, { caseId: 'unit', replay: 'timestamp', nowUnixMs: now });
    const failed = (bytes: Uint8Array, from?: { address: number; port: number }) => judged(bytes, from).filter((c) => c.verdict === 'fail').flatMap((c) => c.requirements);

    const good = judged(replyTo(sent));
    expect(good.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(good.length).toBeGreaterThanOrEqual(10);
    expect(failed(replyTo(sent, { lifetime: 501 }))).toEqual(expect.arrayContaining(['R3.4-3', 'R3.8.3.2-2']));
    expect(failed(replyTo(sent, { identification: { ...sent.request.identification, low: (sent.request.identification.low + 1) >>> 0 } }))).toEqual(['R5.7-4']);
    expect(failed(replyTo(sent, {}, new Uint8Array(16)))).toEqual(['R3.5.1-1', 'R3.8.2.1-10']);
    expect(failed(replyTo(sent, { extensions: [] }))).toEqual(['R3.4-7', 'R3.5.2-1']);
    expect(failed(replyTo(sent), { address: ipv4('127.0.0.2'), port: 4434 })).toEqual(['R3.8.3-3']);
    expect(failed(replyTo(sent), { address: HA, port: 4435 })).toEqual(['R3.8.3-3']);
    expect(failed(replyTo(sent, { code: 133 }))).toEqual(['R3.8.2.2-1']);
    m.stop();
  });

  it("faults a 133 whose high 32 bits are not the home agent's time (SHOULD, R3.8.2.1-14)", () => {
    const m = model();
    const sent = sentRegistration(identificationFromUnixMs(now + 3_600_000, 5));
    const prediction = m.predict({ request: sent.request, message: sent.bytes, ipSource: HA, ipDestination: HA });
    expect(prediction.verdict).toMatchObject({ kind: 'deny', code: 133 });
    const highCheck = (high: number) =>
      judge(prediction, sent, { bytes: replyTo(sent, { code: 133, identification: { high, low: sent.request.identification.low } }), address: HA, port: 4434 }, { caseId: 'unit', replay: 'timestamp', nowUnixMs: now }).find((c) =>
        c.what.startsWith('133: Identification high'),
      )!;
    expect(highCheck(identificationFromUnixMs(now).high)).toMatchObject({ verdict: 'pass' });
    expect(highCheck(sent.request.identification.high)).toMatchObject({ verdict: 'fail', level: 'SHOULD', requirements: ['R3.8.2.1-14'] });
    m.stop();
  });

  it('expects silence for an unknown non-skippable extension and faults a Reply by R1.8-1', () => {
    const m = model();
    const spec = { homeAddress: timestampNode.homeAddress, homeAgent: HA, careOfAddress: ipv4('203.0.113.1'), lifetime: 600, flags: 0, mobileHome: key, replay: 'timestamp' as const };
    const { request } = buildRegisterRequest(spec, identificationFromUnixMs(now, 4));
    const bytes = encodeSigned(
      { ...request, extensions: [...request.extensions, { kind: 'unknown', type: 100, skippable: false, format: 'tlv', offset: 0, data: new Uint8Array([1, 2]) }] },
      () => key,
    );
    const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
    if (!decoded.ok) throw new Error('does not decode');
    const sent: Sent = { request: decoded.value, bytes, destination: HA, destinationPort: 4434, broadcast: false, unicast: HA, key };
    const prediction = m.predict({ request: sent.request, message: bytes, ipSource: HA, ipDestination: HA });
    expect(prediction.verdict).toMatchObject({ kind: 'discard', reason: 'unknown-non-skippable-extension' });
    expect(judge(prediction, sent, undefined, { caseId: 'unit', replay: 'timestamp', nowUnixMs: now })[0]).toMatchObject({ verdict: 'pass', requirements: ['R1.8-1'] });
    expect(judge(prediction, sent, { bytes: replyTo(sent), address: HA, port: 4434 }, { caseId: 'unit', replay: 'timestamp', nowUnixMs: now })[0]).toMatchObject({ verdict: 'fail', requirements: ['R1.8-1'], level: 'MUST' });
    m.stop();
  });
});

describe('the target config', () => {
  it('names each wrong field and the fix', () => {
    const document = parseYamlConfig(
      `homeAgent:\n  address: 198.51.100.1\n  homeNetwork: 127.0.0.0/8\n  maxLifetime: 70000\n  simultaneousBindings: true\nmobileNodes:\n  - homeAddress: 127.0.1.1\n    spi: 100\n    key: 00\n`,
      't',
    );
    let error: unknown;
    try {
      conformanceTargetFromDocument(document);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/homeAgent\.maxLifetime: .*1-65535/);
    expect(message).toMatch(/mobileNodes\[0\]\.spi: SPI 100 is reserved/);
  });

  it('refuses a home agent outside its home network and a key too short', () => {
    const document = parseYamlConfig(
      `homeAgent:\n  address: 198.51.100.1\n  homeNetwork: 127.0.0.0/8\n  maxLifetime: 600\n  simultaneousBindings: true\nmobileNodes:\n  - homeAddress: 127.0.1.1\n    spi: 4096\n    key: "0011"\n`,
      't',
    );
    expect(() => conformanceTargetFromDocument(document)).toThrow(/homeAgent\.address: 198\.51\.100\.1 is not inside homeNetwork[\s\S]*mobileNodes\[0\]\.key: the key is 2 bytes/);
  });
});

describe('the mutation table in the docs', () => {
  it('README.md and docs/conformance.md quote docs/conformance-mutants.json as measured', () => {
    const table = JSON.parse(readFileSync(join(ROOT, 'docs', 'conformance-mutants.json'), 'utf8')) as MutantTable;
    expect(table.mutants.length).toBeGreaterThanOrEqual(5);
    const markdown = mutantTableMarkdown(table);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(markdown);
    expect(readFileSync(join(ROOT, 'docs', 'conformance.md'), 'utf8')).toContain(markdown);
  });
});
