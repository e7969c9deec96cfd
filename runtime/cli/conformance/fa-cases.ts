/**
 * The foreign agent cases of `mip4 conformance --role fa` (docs/conformance.md). The
 * tool is the visiting mobile node (whole frames on the visitor link through agent-peer.ts) and
 * its home agent (UDP 434 on the upstream link). What each case predicts comes from RFC 5944
 * and from what the agent itself advertised (its registration lifetime, M/G/T flags), so an
 * agent configured otherwise than the example gets the cases that apply to it and the others
 * as not applicable. Each case also names the transitions of mip4's own visitor and
 * pending-registration machines (machines/visitor.ts, fa-pending.ts) it drives, for coverage.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { decodeAgentAdvertisement, encodeAgentSolicitation, hasAdvertisementFlag, makeAgentSolicitation, mobilityAgentExtension, type AgentAdvertisement, type MobilityAgentAdvertisementExtension } from '../../../io/wire/agent-discovery.js';
import { ipv4, ipv4ToString, type Ipv4Address } from '../../../io/wire/bytes.js';
import { BROADCAST_MAC, decodeEthernetFrame, EtherType } from '../../../io/wire/ethernet.js';
import { icmpFrame, udpFrame } from '../../../io/wire/frames.js';
import { decodeIpv4Packet, IpProtocol } from '../../../io/wire/ipv4.js';
import { decodeRegistrationReply, decodeRegistrationRequest, extensionOffsets } from '../../../io/wire/registration.js';
import { ExtensionType, MOBILE_IP_PORT, RequestFlag, type RegistrationReply, type RegistrationRequest } from '../../../io/wire/registration-types.js';
import { decodeUdpDatagram } from '../../../io/wire/udp.js';
import { visitorMachine } from '../../../machines/visitor.js';
import { faPendingMachine } from '../../../machines/fa-pending.js';
import { FaReplyCode } from '../../../policies/fa-request.js';
import { authPlaceholder, encodeSigned } from '../../../policies/sign.js';
import { AUTHENTICATOR_LENGTH } from '../../../policies/auth.js';
import { FA_TOPOLOGY } from './agent-topology.js';
import { TransitionCoverage, type TransitionRef } from './transition-coverage.js';
import type { PeerClient, PeerEvent } from './agent-peer-client.js';
import type { ConformanceCheck, ConformanceCoverage, RequirementLevel } from './report.js';

export interface FaCaseContext {
  readonly peer: PeerClient;
  readonly agent: ChildProcess;
  readonly agentLog: string;
  readonly startTimeoutMs: number;
}

export interface FaCasesOutcome {
  readonly cases: number;
  readonly checks: ConformanceCheck[];
  readonly coverage: ConformanceCoverage;
}

/** How long a case waits for something the agent should send at once (a relay, a Reply). */
const ANSWER_MS = 1_500;
/** How long a case listens to conclude the agent stayed silent (a discard). */
const SILENCE_MS = 700;
const HA_SOCKET = 'ha';

const t = FA_TOPOLOGY;
const mobileHomeKey = Buffer.from(t.mobileHomeKey, 'hex');

/** What one received frame on the visitor link is, when it is something the cases look at. */
type VisitorMessage =
  | { readonly kind: 'advertisement'; readonly destinationMac: string; readonly sourceMac: string; readonly ttl: number; readonly source: Ipv4Address; readonly destination: Ipv4Address; readonly advertisement: AgentAdvertisement; readonly at: number }
  | { readonly kind: 'reply'; readonly destinationMac: string; readonly source: Ipv4Address; readonly destination: Ipv4Address; readonly sourcePort: number; readonly destinationPort: number; readonly reply: RegistrationReply; readonly bytes: Uint8Array };

function visitorMessage(event: PeerEvent): VisitorMessage | undefined {
  if (event.kind !== 'frame' || event.dev !== t.toolVisitorInterface) return undefined;
  const ethernet = decodeEthernetFrame(event.bytes);
  if (!ethernet.ok || ethernet.value.etherType !== EtherType.IPv4) return undefined;
  const packet = decodeIpv4Packet(ethernet.value.payload);
  if (!packet.ok) return undefined;
  const { header, payload } = packet.value;
  if (header.protocol === IpProtocol.ICMP && payload[0] === 9) {
    const decoded = decodeAgentAdvertisement(payload);
    if (!decoded.ok || mobilityAgentExtension(decoded.value) === undefined) return undefined;
    return { kind: 'advertisement', destinationMac: ethernet.value.destination, sourceMac: ethernet.value.source, ttl: header.ttl, source: header.source, destination: header.destination, advertisement: decoded.value, at: event.at };
  }
  if (header.protocol === IpProtocol.UDP) {
    const udp = decodeUdpDatagram(payload);
    if (!udp.ok || udp.value.payload[0] !== 3) return undefined;
    const reply = decodeRegistrationReply(udp.value.payload);
    if (!reply.ok) return undefined;
    return { kind: 'reply', destinationMac: ethernet.value.destination, source: header.source, destination: header.destination, sourcePort: udp.value.header.sourcePort, destinationPort: udp.value.header.destinationPort, reply: reply.value, bytes: Uint8Array.from(udp.value.payload) };
  }
  return undefined;
}

/** A Registration Request the home agent socket received (relayed by the agent). */
function relayedRequest(event: PeerEvent): { request: RegistrationRequest; bytes: Uint8Array; from: string; port: number } | undefined {
  if (event.kind !== 'udp' || event.id !== HA_SOCKET || event.bytes[0] !== 1) return undefined;
  const request = decodeRegistrationRequest(event.bytes);
  return request.ok ? { request: request.value, bytes: event.bytes, from: event.from, port: event.port } : undefined;
}

class Checks {
  readonly list: ConformanceCheck[] = [];
  readonly coverage = new TransitionCoverage([visitorMachine, faPendingMachine]);
  add(caseId: string, what: string, requirements: readonly string[], level: RequirementLevel, ok: boolean | 'n/a', expected: string, observed: string, detail?: string): void {
    this.list.push({ caseId, what, requirements, level, verdict: ok === 'n/a' ? 'not-applicable' : ok ? 'pass' : 'fail', expected, observed, ...(detail !== undefined ? { detail } : {}) });
  }
  cover(refs: readonly TransitionRef[]): void {
    this.coverage.cover(refs);
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The bytes of a registration message from its start through its Mobile-Home Authentication Extension (the part nobody on the path may change, 3.7.2.2, 3.7.3.2). */
function throughMobileHomeAuth(bytes: Uint8Array, message: RegistrationRequest | RegistrationReply): Uint8Array | undefined {
  const index = message.extensions.findIndex((e) => e.kind === 'auth' && e.type === ExtensionType.MobileHomeAuth);
  if (index < 0) return undefined;
  const offsets = extensionOffsets(message);
  return bytes.subarray(0, offsets[index]! + 2 + 4 + AUTHENTICATOR_LENGTH);
}

/** The running state of the cases: the mobile node's MAC, the agent's advertisement. */
interface Visit {
  readonly mac: string;
  readonly advertisement: Extract<VisitorMessage, { kind: 'advertisement' }>;
  readonly mobility: MobilityAgentAdvertisementExtension;
}

let nextHost = 0;
/** A fresh home address per case: the agent rate-limits denials per node (3.7.2) and budgets pending ones. */
function nextHomeAddress(): Ipv4Address {
  nextHost++;
  return (ipv4(t.firstHomeAddress) + nextHost - 1) >>> 0;
}

function request(fields: Partial<RegistrationRequest> & { homeAddress: Ipv4Address; careOfAddress: Ipv4Address }): RegistrationRequest {
  return {
    type: 1,
    flags: 0,
    lifetime: 300,
    homeAgent: ipv4(t.homeAgent),
    identification: { high: Math.floor(Date.now() / 1000) + 2_208_988_800, low: randomBytes(4).readUInt32BE(0) },
    extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)],
    ...fields,
  };
}

const signed = (message: RegistrationRequest | RegistrationReply) => encodeSigned(message, () => ({ spi: t.mobileHomeSpi, algorithm: 'hmac-md5', key: mobileHomeKey }));

/** Sends a Request as the visiting node: link-layer unicast to the agent's MAC, IP from the home address (3.6.1.1). */
function sendRequest(ctx: FaCaseContext, visit: Visit, bytes: Uint8Array, homeAddress: Ipv4Address, sourcePort: number, corrupt?: 'udp-checksum'): void {
  const frame = udpFrame({ sourceMac: visit.mac, destinationMac: visit.advertisement.sourceMac, source: homeAddress, destination: visit.advertisement.source }, sourcePort, MOBILE_IP_PORT, bytes);
  if (corrupt === 'udp-checksum') {
    // The UDP checksum is at byte 6 of the UDP header, after Ethernet (14) and IPv4 (20); flip it to a wrong non-zero value.
    const at = 14 + 20 + 6;
    frame[at] = frame[at]! ^ 0x5a;
    if (frame[at] === 0 && frame[at + 1] === 0) frame[at + 1] = 1;
  }
  ctx.peer.sendFrame(t.toolVisitorInterface, frame);
}

const replyTo = (homeAddress: Ipv4Address, port: number) => (event: PeerEvent) => {
  const message = visitorMessage(event);
  return message?.kind === 'reply' && message.reply.homeAddress === homeAddress && message.destinationPort === port ? message : undefined;
};
const relayOf = (homeAddress: Ipv4Address) => (event: PeerEvent) => {
  const relayed = relayedRequest(event);
  return relayed !== undefined && relayed.request.homeAddress === homeAddress ? relayed : undefined;
};

let nextPort = 40_000;

// ---------------------------------------------------------------------------------------------

export async function runFaCases(ctx: FaCaseContext): Promise<FaCasesOutcome> {
  const checks = new Checks();
  const mac = await ctx.peer.openLink(t.toolVisitorInterface);
  await ctx.peer.openUdp(HA_SOCKET, t.homeAgent, MOBILE_IP_PORT);
  let cases = 0;

  // --- advertisement/unsolicited: the agent's first advertisements (2.1, 2.1.1, 2.3.2).
  cases++;
  const firstSeen = await ctx.peer.waitFor(0, (e) => { const m = visitorMessage(e); return m?.kind === 'advertisement' ? { m, e } : undefined; }, ctx.startTimeoutMs);
  const first = firstSeen?.m;
  if (first === undefined) {
    const log = existsSync(ctx.agentLog) ? readFileSync(ctx.agentLog, 'utf8').trim().split('\n').slice(-6).join('\n') : '';
    const exited = ctx.agent.exitCode !== null ? ` (it exited with ${ctx.agent.exitCode})` : '';
    checks.add('advertisement/unsolicited', 'an Agent Advertisement on the visitor link', ['R2.3-1'], 'MUST', false, `an advertisement within ${ctx.startTimeoutMs} ms of start`, `none${exited}`, log);
    return { cases, checks: checks.list, coverage: { transitions: checks.coverage.result(), requirements: requirementsOf(checks.list) } };
  }
  const mobility = mobilityAgentExtension(first.advertisement)!;
  const visit: Visit = { mac, advertisement: first, mobility };
  const flags = mobility.flags;
  checks.add('advertisement/unsolicited', 'sent periodically', ['R2.3-1'], 'MUST', true, 'an advertisement', `one from ${ipv4ToString(first.source)}`);
  checks.add('advertisement/unsolicited', 'IP TTL', ['R2.1-2'], 'MUST', first.ttl === 1, 'TTL 1', `TTL ${first.ttl}`);
  const multicast = first.destination === ipv4('224.0.0.1') || first.destination === ipv4('255.255.255.255');
  checks.add('advertisement/unsolicited', 'IP destination of a multicast advertisement', ['R2.1-3'], 'MUST', multicast, '224.0.0.1 or 255.255.255.255', ipv4ToString(first.destination));
  const f = hasAdvertisementFlag(flags, 'F');
  checks.add('advertisement/unsolicited', "'F' or 'H' bit set", ['R2.1.1-5'], 'MUST', f || hasAdvertisementFlag(flags, 'H'), 'F or H', flagText(flags));
  checks.add('advertisement/unsolicited', "'F' set with at least one care-of address", ['R2.1.1-2'], 'MUST', !f || mobility.careOfAddresses.length > 0, 'F ⇒ ≥ 1 care-of address', `${mobility.careOfAddresses.length} care-of addresses`);
  checks.add('advertisement/unsolicited', "'B' only with 'F'", ['R2.1.1-4'], 'MUST NOT', !hasAdvertisementFlag(flags, 'B') || f, 'no B without F', flagText(flags));
  checks.add('advertisement/unsolicited', "'R' only with 'F'", ['R2.1.1-6'], 'MUST NOT', !hasAdvertisementFlag(flags, 'R') || f, 'no R without F', flagText(flags));
  checks.add('advertisement/unsolicited', 'the configured care-of address advertised', ['R3.7.1-1'], 'MUST', mobility.careOfAddresses.includes(ipv4(t.careOfAddress)), t.careOfAddress, mobility.careOfAddresses.map(ipv4ToString).join(' ') || 'none');

  // --- advertisement/sequence: consecutive advertisements count up by one (2.3.2).
  cases++;
  const firstIndex = ctx.peer.events.indexOf(firstSeen!.e);
  const second = await ctx.peer.waitFor(firstIndex + 1, (e) => { const m = visitorMessage(e); return m?.kind === 'advertisement' && m.destinationMac === first.destinationMac ? m : undefined; }, Math.min(10_000, first.advertisement.lifetime * 1000));
  if (second === undefined) {
    checks.add('advertisement/sequence', 'a second periodic advertisement', ['R2.3.2-2'], 'MUST', 'n/a', `within the ICMP lifetime (${first.advertisement.lifetime} s) or 10 s`, 'none', 'too slow for this run: lower the advertisement interval');
  } else {
    const seq = mobilityAgentExtension(second.advertisement)!.sequence;
    const expected = mobility.sequence === 0xffff ? 256 : mobility.sequence + 1;
    const seen = ctx.peer.events.flatMap((e) => { const m = visitorMessage(e); return m?.kind === 'advertisement' ? [`${mobilityAgentExtension(m.advertisement)!.sequence}@${m.at - first.at}ms→${m.destinationMac}`] : []; });
    checks.add('advertisement/sequence', 'sequence number of the next advertisement', ['R2.3.2-2'], 'MUST', seq === expected, `${expected}`, `${seq} (after ${mobility.sequence})`, seen.join(' '));
    const gapSeconds = (second.at - first.at) / 1000;
    checks.add('advertisement/sequence', 'interval at most a third of the ICMP lifetime', ['R2.1-7'], 'SHOULD', gapSeconds <= first.advertisement.lifetime / 3 + 0.5, `≤ ${(first.advertisement.lifetime / 3).toFixed(1)} s`, `${gapSeconds.toFixed(2)} s`);
  }

  // --- advertisement/solicited: a node with an address solicits (2.4); the agent answers (2.3),
  // unicast to the soliciting link-layer address when it answers by unicast (2.1).
  cases++;
  {
    const home = nextHomeAddress();
    const solicitation = new Uint8Array(8);
    encodeAgentSolicitation(makeAgentSolicitation(), solicitation, 0);
    const mark = ctx.peer.mark();
    ctx.peer.sendFrame(t.toolVisitorInterface, icmpFrame({ sourceMac: mac, destinationMac: BROADCAST_MAC, source: home, destination: ipv4('255.255.255.255'), ttl: 1 }, solicitation));
    // A unicast answer is one to a unicast IP destination; its link-layer destination is then checked.
    const unicast = await ctx.peer.waitFor(mark, (e) => { const m = visitorMessage(e); return m?.kind === 'advertisement' && m.destination !== ipv4('224.0.0.1') && m.destination !== ipv4('255.255.255.255') ? m : undefined; }, 1_000);
    checks.add('advertisement/solicited', 'an advertisement answers a solicitation by unicast', ['R2.3-5'], 'SHOULD', unicast !== undefined, 'within 1 s, to the node', unicast === undefined ? 'no unicast answer' : `to ${ipv4ToString(unicast.destination)}`);
    if (unicast !== undefined) {
      checks.add('advertisement/solicited', 'link-layer destination of the unicast answer', ['R2.1-1'], 'MUST', unicast.destinationMac === mac, mac, unicast.destinationMac);
      checks.add('advertisement/solicited', 'IP destination of the unicast answer', ['R2.1-4'], 'SHOULD', unicast.destination === home, ipv4ToString(home), ipv4ToString(unicast.destination));
      checks.add('advertisement/solicited', 'IP TTL of the answer', ['R2.1-2'], 'MUST', unicast.ttl === 1, 'TTL 1', `TTL ${unicast.ttl}`);
    }
  }

  const careOf = mobility.careOfAddresses[0] ?? ipv4(t.careOfAddress);

  // --- registration/relay-accepted: a valid Request is relayed unchanged, the home agent's acceptance relayed back.
  cases++;
  {
    const caseId = 'registration/relay-accepted';
    const home = nextHomeAddress();
    const port = nextPort++;
    const req = request({ homeAddress: home, careOfAddress: careOf, lifetime: Math.min(300, mobility.registrationLifetime) });
    const bytes = signed(req);
    const mark = ctx.peer.mark();
    sendRequest(ctx, visit, bytes, home, port);
    const relayed = await ctx.peer.waitFor(mark, relayOf(home), ANSWER_MS);
    checks.add(caseId, 'the Request relayed to the home agent', ['R3.7.2-1', 'R3.7.2.2-1'], 'MUST', relayed !== undefined, `at ${t.homeAgent}:434`, relayed === undefined ? 'nothing' : `from ${relayed.from}:${relayed.port}`);
    if (relayed !== undefined) {
      checks.cover([{ machine: 'visitor', source: 'pending', event: 'request' }]);
      const kept = throughMobileHomeAuth(relayed.bytes, relayed.request);
      const mine = throughMobileHomeAuth(bytes, req)!;
      checks.add(caseId, 'fixed part through the MHAE unchanged', ['R3.7.2.2-2'], 'MUST NOT', kept !== undefined && same(kept, mine), hex(mine).slice(0, 48) + '…', kept === undefined ? 'no MHAE' : same(kept, mine) ? 'identical' : `${hex(kept).slice(0, 48)}…`);
      checks.add(caseId, 'IP source of the relayed Request', ['R3.7.2.2-4'], 'MUST', relayed.from === ipv4ToString(careOf), `the care-of address ${ipv4ToString(careOf)}`, relayed.from);
      // The Reply goes back to where the Request came from (3.4: the HA copies source port and address).
      const reply: RegistrationReply = { type: 3, code: 0, lifetime: req.lifetime, homeAddress: home, homeAgent: req.homeAgent, identification: req.identification, extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)] };
      const replyBytes = signed(reply);
      const replyMark = ctx.peer.mark();
      ctx.peer.sendUdp(HA_SOCKET, replyBytes, relayed.from, relayed.port);
      const back = await ctx.peer.waitFor(replyMark, replyTo(home, port), ANSWER_MS);
      checks.add(caseId, "the home agent's Reply relayed to the node", ['R3.7.3.2-8'], 'MUST', back !== undefined, `code 0 to ${ipv4ToString(home)}:${port}`, back === undefined ? 'nothing' : `code ${back.reply.code}`);
      if (back !== undefined) {
        checks.cover([
          { machine: 'faPending', source: 'relayed', event: 'answered' },
          { machine: 'visitor', source: 'pending', event: 'accepted' },
        ]);
        const kept2 = throughMobileHomeAuth(back.bytes, back.reply);
        const theirs = throughMobileHomeAuth(replyBytes, reply)!;
        checks.add(caseId, 'relayed Reply through the MHAE unchanged', ['R3.7.3.2-5'], 'MUST NOT', kept2 !== undefined && same(kept2, theirs), 'identical', kept2 === undefined ? 'no MHAE' : same(kept2, theirs) ? 'identical' : 'changed');
        checks.add(caseId, "relayed Reply to the node's link address", ['R3.7.2.3-4'], 'MUST', back.destinationMac === mac, mac, back.destinationMac);
        checks.add(caseId, 'relayed Reply IP destination and UDP ports', ['R3.7.2.3-4'], 'MUST', back.destination === home && back.sourcePort === MOBILE_IP_PORT, `${ipv4ToString(home)}, from port 434`, `${ipv4ToString(back.destination)}, from port ${back.sourcePort}`);
        checks.add(caseId, 'relayed Reply IP source', ['R3.7.2.3-4'], 'MUST', back.source === visit.advertisement.source, `the Request's destination ${ipv4ToString(visit.advertisement.source)}`, ipv4ToString(back.source));
      }

      // --- registration/deregistration: the registered node deregisters; relayed, and the HA's acceptance relayed back.
      cases++;
      const dereg = request({ homeAddress: home, careOfAddress: careOf, lifetime: 0 });
      const deregBytes = signed(dereg);
      const dMark = ctx.peer.mark();
      sendRequest(ctx, visit, deregBytes, home, port);
      const dRelayed = await ctx.peer.waitFor(dMark, relayOf(home), ANSWER_MS);
      checks.add('registration/deregistration', 'a deregistration relayed to the home agent', ['R3.7-5'], 'MUST', dRelayed !== undefined, 'relayed', dRelayed === undefined ? 'nothing' : 'relayed');
      if (dRelayed !== undefined) {
        checks.cover([{ machine: 'visitor', source: 'registered', event: 'request' }]);
        const dReply: RegistrationReply = { type: 3, code: 0, lifetime: 0, homeAddress: home, homeAgent: dereg.homeAgent, identification: dereg.identification, extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)] };
        const rMark = ctx.peer.mark();
        ctx.peer.sendUdp(HA_SOCKET, signed(dReply), dRelayed.from, dRelayed.port);
        const dBack = await ctx.peer.waitFor(rMark, replyTo(home, port), ANSWER_MS);
        checks.add('registration/deregistration', "the home agent's acceptance relayed", ['R3.7.3.2-8'], 'MUST', dBack?.reply.code === 0, 'code 0', dBack === undefined ? 'nothing' : `code ${dBack.reply.code}`);
        if (dBack !== undefined) checks.cover([{ machine: 'visitor', source: 'registered', event: 'accepted', guard: 'isDeregistration' }, { machine: 'faPending', source: 'relayed', event: 'answered' }]);
      }
    }
  }

  // --- registration/denied-by-home-agent: the HA's denial (code 128) is relayed unchanged.
  cases++;
  {
    const caseId = 'registration/denied-by-home-agent';
    const home = nextHomeAddress();
    const port = nextPort++;
    const req = request({ homeAddress: home, careOfAddress: careOf, lifetime: Math.min(300, mobility.registrationLifetime) });
    const mark = ctx.peer.mark();
    sendRequest(ctx, visit, signed(req), home, port);
    const relayed = await ctx.peer.waitFor(mark, relayOf(home), ANSWER_MS);
    if (relayed === undefined) {
      checks.add(caseId, 'the Request relayed to the home agent', ['R3.7.2-1'], 'MUST', false, 'relayed', 'nothing');
    } else {
      // First a Reply whose Identification does not match: silently discarded (3.7.3.1).
      const wrong: RegistrationReply = { type: 3, code: 128, lifetime: 0, homeAddress: home, homeAgent: req.homeAgent, identification: { high: req.identification.high, low: (req.identification.low ^ 0x1) >>> 0 }, extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)] };
      const wMark = ctx.peer.mark();
      ctx.peer.sendUdp(HA_SOCKET, signed(wrong), relayed.from, relayed.port);
      const leaked = await ctx.peer.waitFor(wMark, replyTo(home, port), SILENCE_MS);
      checks.add('reply/identification-mismatch', 'a Reply whose Identification does not match is discarded', ['R3.7.3.1-5'], 'MUST', leaked === undefined, 'nothing relayed', leaked === undefined ? 'nothing' : `relayed, code ${leaked.reply.code}`);
      cases++;
      const denial: RegistrationReply = { ...wrong, identification: req.identification };
      const denialBytes = signed(denial);
      const dMark = ctx.peer.mark();
      ctx.peer.sendUdp(HA_SOCKET, denialBytes, relayed.from, relayed.port);
      const back = await ctx.peer.waitFor(dMark, replyTo(home, port), ANSWER_MS);
      checks.add(caseId, "the home agent's denial relayed", ['R3.7.3.2-8'], 'MUST', back?.reply.code === 128, 'code 128', back === undefined ? 'nothing' : `code ${back.reply.code}`);
      if (back !== undefined) {
        checks.cover([{ machine: 'visitor', source: 'pending', event: 'denied' }, { machine: 'faPending', source: 'relayed', event: 'answered' }]);
        const kept = throughMobileHomeAuth(back.bytes, back.reply);
        checks.add(caseId, 'relayed denial through the MHAE unchanged', ['R3.7.3.2-5'], 'MUST NOT', kept !== undefined && same(kept, throughMobileHomeAuth(denialBytes, denial)!), 'identical', kept === undefined ? 'no MHAE' : 'compared');
      }
    }
  }

  // --- reply/no-pending: a Reply for a home address with no pending Request is discarded (3.7.3.1).
  cases++;
  {
    const home = nextHomeAddress();
    const stray: RegistrationReply = { type: 3, code: 0, lifetime: 300, homeAddress: home, homeAgent: ipv4(t.homeAgent), identification: { high: 1, low: 2 }, extensions: [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)] };
    const mark = ctx.peer.mark();
    ctx.peer.sendUdp(HA_SOCKET, signed(stray), t.careOfAddress, MOBILE_IP_PORT);
    const leaked = await ctx.peer.waitFor(mark, (e) => { const m = visitorMessage(e); return m?.kind === 'reply' && m.reply.homeAddress === home ? m : undefined; }, SILENCE_MS);
    checks.add('reply/no-pending', 'a Reply matching no pending Request is discarded', ['R3.7.3.1-4'], 'MUST', leaked === undefined, 'nothing relayed', leaked === undefined ? 'nothing' : 'relayed');
  }

  // --- Denials the agent must give itself (3.7.2.1, 3.7.2.3), each predicted from its own advertisement.
  const denials: Array<{ caseId: string; applies: boolean; why: string; code: number; fields: Partial<RegistrationRequest>; requirements: string[]}> = [
    {
      caseId: 'denial/lifetime-too-long',
      applies: mobility.registrationLifetime < 0xffff,
      why: 'the agent advertises an infinite registration lifetime',
      code: FaReplyCode.LifetimeTooLong,
      fields: { lifetime: mobility.registrationLifetime + 1 },
      requirements: ['R3.7.2-2'],
    },
    {
      caseId: 'denial/encapsulation-unavailable',
      applies: !hasAdvertisementFlag(flags, 'G'),
      why: "the agent advertises 'G' (GRE)",
      code: FaReplyCode.EncapsulationUnavailable,
      fields: { flags: RequestFlag.G },
      requirements: ['R3.7.2-2'],
    },
    {
      caseId: 'denial/reverse-tunnel-unavailable',
      applies: !hasAdvertisementFlag(flags, 'T'),
      why: "the agent advertises 'T' (reverse tunnelling)",
      code: FaReplyCode.ReverseTunnelUnavailable,
      fields: { flags: RequestFlag.T },
      requirements: ['R3.7.2-2'],
    },
    {
      caseId: 'denial/invalid-care-of-address',
      applies: true,
      why: '',
      code: FaReplyCode.InvalidCareOfAddress,
      fields: { careOfAddress: ipv4('203.0.113.99') },
      requirements: ['R3.7.2.1-3'],
    },
    {
      caseId: 'denial/reserved-bit',
      applies: true,
      why: '',
      code: FaReplyCode.PoorlyFormedRequest,
      // The 'r' bit: "sent as zero" (3.3); a Request with it set is poorly formed (3.7.2.1, 3.7.2.3).
      fields: { flags: RequestFlag.r },
      requirements: ['R3.7.2.1-2', 'R3.7.2.3-2'],
    },
  ];
  for (const denial of denials) {
    cases++;
    if (!denial.applies) {
      checks.add(denial.caseId, `Reply code ${denial.code}`, denial.requirements, 'MUST', 'n/a', `code ${denial.code}`, 'not sent', denial.why);
      continue;
    }
    const home = nextHomeAddress();
    const port = nextPort++;
    const req = request({ homeAddress: home, careOfAddress: careOf, ...denial.fields });
    const bytes = signed(req);
    const mark = ctx.peer.mark();
    sendRequest(ctx, visit, bytes, home, port);
    const back = await ctx.peer.waitFor(mark, replyTo(home, port), ANSWER_MS);
    const relayed = await ctx.peer.waitFor(mark, relayOf(home), 0);
    checks.add(denial.caseId, 'denial code', denial.requirements, 'MUST', back?.reply.code === denial.code, `code ${denial.code}`, back === undefined ? 'no Reply' : `code ${back.reply.code}`);
    checks.add(denial.caseId, 'denied, so not relayed to the home agent', denial.requirements, 'MUST', relayed === undefined, 'not relayed', relayed === undefined ? 'not relayed' : 'relayed');
    if (back !== undefined) {
      const copied = back.reply.homeAgent === req.homeAgent && back.reply.identification.high === req.identification.high && back.reply.identification.low === req.identification.low;
      checks.add(denial.caseId, 'Home Agent and Identification copied from the Request', ['R3.7.2.3-1'], 'SHOULD', copied, 'copied', copied ? 'copied' : 'differ');
      checks.add(denial.caseId, "denial's IP source", ['R3.7.2.3-4'], 'MUST', back.source === visit.advertisement.source, ipv4ToString(visit.advertisement.source), ipv4ToString(back.source));
      checks.add(denial.caseId, "denial's IP destination and UDP source port", ['R3.7.2.3-4'], 'MUST', back.destination === home && back.sourcePort === MOBILE_IP_PORT, `${ipv4ToString(home)} from port 434`, `${ipv4ToString(back.destination)} from port ${back.sourcePort}`);
      if (denial.code === FaReplyCode.LifetimeTooLong) {
        checks.add(denial.caseId, 'Lifetime of a 69 denial is the longest accepted', ['R3.7.2-2'], 'SHOULD', back.reply.lifetime === mobility.registrationLifetime, `${mobility.registrationLifetime}`, `${back.reply.lifetime}`);
      }
    }
  }

  // --- discard/udp-checksum: a Request with a wrong non-zero UDP checksum is silently discarded (3.7.2.1).
  cases++;
  {
    const home = nextHomeAddress();
    const port = nextPort++;
    const mark = ctx.peer.mark();
    sendRequest(ctx, visit, signed(request({ homeAddress: home, careOfAddress: careOf })), home, port, 'udp-checksum');
    const back = await ctx.peer.waitFor(mark, replyTo(home, port), SILENCE_MS);
    const relayed = await ctx.peer.waitFor(mark, relayOf(home), 0);
    checks.add('discard/udp-checksum', 'a Request with a bad UDP checksum is silently discarded', ['R3.7.2.1-1'], 'MUST', back === undefined && relayed === undefined, 'no Reply, not relayed', back !== undefined ? `Reply code ${back.reply.code}` : relayed !== undefined ? 'relayed' : 'silence');
  }

  return { cases, checks: checks.list, coverage: { transitions: checks.coverage.result(), requirements: requirementsOf(checks.list) } };
}

function requirementsOf(checks: readonly ConformanceCheck[]): string[] {
  return [...new Set(checks.filter((c) => c.verdict !== 'not-applicable').flatMap((c) => c.requirements))].sort();
}

function flagText(flags: number): string {
  const names = (['R', 'B', 'H', 'F', 'M', 'G', 'r', 'T'] as const).filter((n) => hasAdvertisementFlag(flags, n));
  return names.length > 0 ? names.join('') : 'none';
}
