/**
 * The mobile node cases of `mip4 conformance --role mn` (docs/conformance.md). The tool
 * is the foreign agent on the node's link (it advertises, reads the node's frames through
 * agent-peer.ts and answers from the agent's address) and, behind it, the home agent (it signs
 * the home agent's Replies with the association of the topology). One registration is walked
 * through mip4's own mn-registration machine's paths (machines/mn-registration.ts): no Reply
 * (retransmission with backoff), an acceptance with the wrong Identification (discarded), a 133
 * (resynchronisation), a 69 from the agent (shorter lifetime), then an acceptance.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { AdvertisementFlag, makeAgentAdvertisement } from '../../../io/wire/agent-discovery.js';
import { ipv4, ipv4ToString, type Ipv4Address } from '../../../io/wire/bytes.js';
import { decodeEthernetFrame, EtherType } from '../../../io/wire/ethernet.js';
import { agentAdvertisementFrame, udpFrame } from '../../../io/wire/frames.js';
import { decodeIpv4Packet, IpProtocol } from '../../../io/wire/ipv4.js';
import { decodeRegistrationRequest } from '../../../io/wire/registration.js';
import { ExtensionType, MOBILE_IP_PORT, RequestFlag, type RegistrationReply, type RegistrationRequest } from '../../../io/wire/registration-types.js';
import { decodeUdpDatagram } from '../../../io/wire/udp.js';
import { mnRegistrationMachine } from '../../../machines/mn-registration.js';
import { verifyAuthenticator } from '../../../policies/auth.js';
import { authPlaceholder, encodeSigned } from '../../../policies/sign.js';
import { FaReplyCode } from '../../../policies/fa-request.js';
import { MN_TOPOLOGY } from './agent-topology.js';
import type { PeerClient, PeerEvent } from './agent-peer-client.js';
import type { ConformanceCheck, ConformanceCoverage, RequirementLevel } from './report.js';
import { TransitionCoverage, type TransitionRef } from './transition-coverage.js';

export interface MnCaseContext {
  readonly peer: PeerClient;
  readonly agent: ChildProcess;
  readonly agentLog: string;
  readonly startTimeoutMs: number;
}

export interface MnCasesOutcome {
  readonly cases: number;
  readonly checks: ConformanceCheck[];
  readonly coverage: ConformanceCoverage;
}

const t = MN_TOPOLOGY;
const key = Buffer.from(t.mobileHomeKey, 'hex');
/** Seconds from 1900 (NTP, 5.7.1) to 1970 (Unix). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const ntpSeconds = () => Math.floor(Date.now() / 1000) + NTP_UNIX_OFFSET;
/** How far ahead of the node's clock the tool's home agent says it is in its 133 (5.7.1). */
const HOME_AGENT_CLOCK_AHEAD_S = 1000;

interface NodeRequest {
  readonly request: RegistrationRequest;
  readonly bytes: Uint8Array;
  readonly sourceMac: string;
  readonly destinationMac: string;
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  readonly ttl: number;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly at: number;
  /** Its place in the peer's event log: later Requests are searched from the next one. */
  readonly index: number;
}

function nodeFrame(event: PeerEvent, index: number): { kind: 'solicitation'; ttl: number; at: number } | ({ kind: 'request' } & NodeRequest) | undefined {
  if (event.kind !== 'frame' || event.dev !== t.toolInterface) return undefined;
  const ethernet = decodeEthernetFrame(event.bytes);
  if (!ethernet.ok || ethernet.value.etherType !== EtherType.IPv4) return undefined;
  const packet = decodeIpv4Packet(ethernet.value.payload);
  if (!packet.ok) return undefined;
  const { header, payload } = packet.value;
  if (header.protocol === IpProtocol.ICMP && payload[0] === 10) return { kind: 'solicitation', ttl: header.ttl, at: event.at };
  if (header.protocol !== IpProtocol.UDP) return undefined;
  const udp = decodeUdpDatagram(payload);
  if (!udp.ok || udp.value.header.destinationPort !== MOBILE_IP_PORT || udp.value.payload[0] !== 1) return undefined;
  const request = decodeRegistrationRequest(udp.value.payload);
  if (!request.ok) return undefined;
  return {
    kind: 'request',
    request: request.value,
    bytes: Uint8Array.from(udp.value.payload),
    sourceMac: ethernet.value.source,
    destinationMac: ethernet.value.destination,
    source: header.source,
    destination: header.destination,
    ttl: header.ttl,
    sourcePort: udp.value.header.sourcePort,
    destinationPort: udp.value.header.destinationPort,
    at: event.at,
    index,
  };
}

const isRequest = (event: PeerEvent, index: number) => {
  const f = nodeFrame(event, index);
  return f?.kind === 'request' ? f : undefined;
};

class Checks {
  readonly list: ConformanceCheck[] = [];
  readonly coverage = new TransitionCoverage([mnRegistrationMachine]);
  add(caseId: string, what: string, requirements: readonly string[], level: RequirementLevel, ok: boolean | 'n/a', expected: string, observed: string, detail?: string): void {
    this.list.push({ caseId, what, requirements, level, verdict: ok === 'n/a' ? 'not-applicable' : ok ? 'pass' : 'fail', expected, observed, ...(detail !== undefined ? { detail } : {}) });
  }
  cover(refs: readonly TransitionRef[]): void {
    this.coverage.cover(refs);
  }
}

const MACHINE = 'mnRegistration';

export async function runMnCases(ctx: MnCaseContext): Promise<MnCasesOutcome> {
  const checks = new Checks();
  const mac = await ctx.peer.openLink(t.toolInterface);
  // The foreign agent's UDP 434 in the kernel too: Requests are read from the link, but without a
  // socket the tool's kernel would answer each with an ICMP port unreachable.
  await ctx.peer.openUdp('fa', t.foreignAgent, MOBILE_IP_PORT);
  let cases = 0;
  const outcome = (): MnCasesOutcome => ({ cases, checks: checks.list, coverage: { transitions: checks.coverage.result(), requirements: requirementsOf(checks.list) } });

  // --- discovery/solicitation: with no agent heard, the node solicits (2.4), TTL 1 (2.2).
  cases++;
  const solicitation = await ctx.peer.waitFor(0, (e, i) => { const f = nodeFrame(e, i); return f?.kind === 'solicitation' ? f : undefined; }, ctx.startTimeoutMs);
  if (solicitation === undefined) {
    const log = existsSync(ctx.agentLog) ? readFileSync(ctx.agentLog, 'utf8').trim().split('\n').slice(-6).join('\n') : '';
    checks.add('discovery/solicitation', 'an Agent Solicitation while no agent advertises', ['R2.4-1'], 'MUST', false, `within ${ctx.startTimeoutMs} ms of start`, ctx.agent.exitCode !== null ? `none (it exited with ${ctx.agent.exitCode})` : 'none', log);
    return outcome();
  }
  checks.add('discovery/solicitation', 'an Agent Solicitation while no agent advertises', ['R2.4-1'], 'MUST', true, 'a solicitation', 'one');
  checks.add('discovery/solicitation', 'IP TTL of the solicitation', ['R2.2-1'], 'MUST', solicitation.ttl === 1, 'TTL 1', `TTL ${solicitation.ttl}`);

  // The tool's foreign agent starts advertising: every second, sequence 0, 1, … (2.3.2).
  let sequence = 0;
  const advertise = () => {
    const advertisement = makeAgentAdvertisement({
      lifetime: 9,
      extensions: [{ kind: 'mobility-agent-advertisement', type: 16, sequence: sequence++, registrationLifetime: t.advertisedRegistrationLifetime, flags: AdvertisementFlag.F, careOfAddresses: [ipv4(t.foreignAgent)] }],
    });
    ctx.peer.sendFrame(t.toolInterface, agentAdvertisementFrame(advertisement, { sourceMac: mac, source: ipv4(t.foreignAgent), destination: ipv4('224.0.0.1') }).frame);
  };
  const advertising = setInterval(advertise, 1000);
  try {
    const advertisedAt = ctx.peer.mark();
    advertise();

    // --- registration/request: the node registers through the agent it heard, with the fields 3.6.1 asks.
    cases++;
    const first = await ctx.peer.waitFor(advertisedAt, isRequest, 4_000);
    if (first === undefined) {
      checks.add('registration/request', 'a Registration Request after an advertisement', ['R3.6-5'], 'SHOULD', false, 'within 4 s', 'none');
      return outcome();
    }
    checks.cover([{ machine: MACHINE, source: 'sending', event: '(always)' }]);
    const r = first.request;
    const c = 'registration/request';
    checks.add(c, 'a Registration Request after an advertisement', ['R3.6-5'], 'SHOULD', true, 'within 4 s', `after ${first.at - (ctx.peer.events[advertisedAt]?.at ?? first.at)} ms`);
    checks.add(c, 'IP source', ['R3.6.1.1-3'], 'MUST', first.source === ipv4(t.homeAddress), `the home address ${t.homeAddress}`, ipv4ToString(first.source));
    checks.add(c, 'IP destination', ['R3.6.1.1-6'], 'MUST', first.destination === ipv4(t.foreignAgent), `the advertisement's source ${t.foreignAgent}`, ipv4ToString(first.destination));
    checks.add(c, 'link-layer destination', ['R3.6.1.1-8'], 'MUST', first.destinationMac === mac, `the advertisement's link source ${mac}`, first.destinationMac);
    checks.add(c, 'UDP destination port', ['R3.6.1-1'], 'MUST', first.destinationPort === MOBILE_IP_PORT, '434', `${first.destinationPort}`);
    checks.add(c, 'Care-of Address', ['R3.6.1.2-20'], 'MUST', r.careOfAddress === ipv4(t.foreignAgent), t.foreignAgent, ipv4ToString(r.careOfAddress));
    checks.add(c, 'Lifetime within the advertised registration lifetime', ['R3.6.1.2-11'], 'SHOULD NOT', r.lifetime > 0 && r.lifetime <= t.advertisedRegistrationLifetime, `1..${t.advertisedRegistrationLifetime}`, `${r.lifetime}`);
    checks.add(c, 'Home Address', ['R3.6.1.2-14'], 'MUST', r.homeAddress === ipv4(t.homeAddress), t.homeAddress, ipv4ToString(r.homeAddress));
    checks.add(c, 'Home Agent', ['R3.6.1.2-16'], 'MUST', r.homeAgent === ipv4(t.homeAgent), t.homeAgent, ipv4ToString(r.homeAgent));
    checks.add(c, "'D' not set with a foreign agent care-of address", ['R3.6.1.2-3'], 'MUST NOT', (r.flags & RequestFlag.D) === 0, 'D clear', `flags 0x${r.flags.toString(16)}`);
    checks.add(c, "'M' and 'G' not set without decapsulating itself", ['R3.6.1.2-10'], 'MUST NOT', (r.flags & (RequestFlag.M | RequestFlag.G)) === 0, 'M, G clear', `flags 0x${r.flags.toString(16)}`);
    const mhaes = r.extensions.filter((e) => e.kind === 'auth' && e.type === ExtensionType.MobileHomeAuth);
    const mhae = mhaes[0];
    const authentic = mhae !== undefined && mhae.kind === 'auth' && mhae.spi === t.mobileHomeSpi && verifyAuthenticator('hmac-md5', key, first.bytes, mhae);
    checks.add(c, 'Mobile-Home Authentication Extension present and valid over the right bytes', ['R3.6.1.3-2'], 'MUST', mhaes.length === 1 && authentic, `one MHAE, SPI ${t.mobileHomeSpi}, HMAC-MD5 valid`, mhae === undefined ? 'none' : authentic ? 'valid' : `invalid (SPI ${mhae.kind === 'auth' ? mhae.spi : '?'})`);
    const skew = r.identification.high - ntpSeconds();
    checks.add(c, 'Identification is an NTP timestamp', ['R5.7.1-3'], 'MUST', Math.abs(skew) <= 60, 'within 60 s of the host clock', `${skew >= 0 ? '+' : ''}${skew} s`);

    // --- registration/retransmission: no Reply; the node retransmits, at least 1 s apart, backing off (3.6.3).
    cases++;
    const second = await ctx.peer.waitFor(first.index + 1, isRequest, 3_000);
    const rc = 'registration/retransmission';
    let last = second ?? first;
    if (second === undefined) {
      checks.add(rc, 'a new Request when no Reply came', ['R3.6.3-1'], 'MAY', 'n/a', 'within 3 s', 'none', 'the node did not retransmit within 3 s');
    } else {
      checks.cover([{ machine: MACHINE, source: 'awaitingReply', event: 'after retransmission', guard: 'mayRetransmit' }, { machine: MACHINE, source: 'retransmitting', event: '(always)' }]);
      const gap1 = second.at - first.at;
      checks.add(rc, 'at least 1 s between Requests', ['R3.6.3-4'], 'MUST NOT', gap1 >= 950, '≥ 1000 ms', `${gap1} ms`);
      checks.add(rc, 'a new Identification', ['R5.7-6'], 'MUST NOT', !sameId(second.request, first.request), 'different', sameId(second.request, first.request) ? 'the same' : 'different');
      checks.add(rc, 'timestamp Identification greater than the previous', ['R5.7.1-5'], 'MUST', greaterId(second.request, first.request), 'greater', greaterId(second.request, first.request) ? 'greater' : 'not greater');
      const third = await ctx.peer.waitFor(second.index + 1, isRequest, Math.max(2_500, gap1 * 2 + 1_000));
      if (third !== undefined) {
        last = third;
        const gap2 = third.at - second.at;
        checks.add(rc, 'each retransmission timeout at least twice the previous', ['R3.6.3-5'], 'SHOULD', gap2 >= gap1 * 2 * 0.9, `≥ ${gap1 * 2} ms`, `${gap2} ms`);
        checks.add(rc, 'at least 1 s between Requests', ['R3.6.3-4'], 'MUST NOT', gap2 >= 950, '≥ 1000 ms', `${gap2} ms`);
      }
    }

    // --- registration/identification-mismatch then registration/resynchronise: an acceptance whose
    // low-order Identification differs is discarded (3.6.2.1), so the 133 that follows is taken and
    // the node re-registers with an Identification based on the home agent's time (3.6.2.3, 5.7.1).
    cases += 2;
    const reply = (to: NodeRequest, fields: Partial<RegistrationReply>, sign: boolean): void => {
      const message: RegistrationReply = {
        type: 3,
        code: 0,
        lifetime: to.request.lifetime,
        homeAddress: to.request.homeAddress,
        homeAgent: to.request.homeAgent,
        identification: to.request.identification,
        extensions: sign ? [authPlaceholder(ExtensionType.MobileHomeAuth, t.mobileHomeSpi)] : [],
        ...fields,
      };
      const bytes = encodeSigned(message, () => ({ spi: t.mobileHomeSpi, algorithm: 'hmac-md5', key }));
      ctx.peer.sendFrame(t.toolInterface, udpFrame({ sourceMac: mac, destinationMac: to.sourceMac, source: ipv4(t.foreignAgent), destination: to.request.homeAddress }, MOBILE_IP_PORT, to.sourcePort, bytes));
    };
    reply(last, { identification: { high: last.request.identification.high, low: (last.request.identification.low ^ 0xffff) >>> 0 } }, true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const resyncHigh = ntpSeconds() + HOME_AGENT_CLOCK_AHEAD_S;
    const beforeResync = ctx.peer.mark();
    reply(last, { code: 133, lifetime: 0, identification: { high: resyncHigh, low: last.request.identification.low } }, true);
    const resynced = await ctx.peer.waitFor(beforeResync, isRequest, 2_500);
    checks.add('registration/identification-mismatch', 'an acceptance with the wrong low-order Identification is discarded', ['R3.6.2.1-2', 'R3.6.2.1-3'], 'MUST', resynced !== undefined, 'still pending: the 133 after it is acted on', resynced === undefined ? 'no new Request after the 133' : 'new Request');
    if (resynced === undefined) return outcome();
    checks.cover([{ machine: MACHINE, source: 'awaitingReply', event: 'reply', guard: 'identificationMismatch' }, { machine: MACHINE, source: 'awaitingReply', event: 'reply', guard: 'canResynchronise' }]);
    const offset = resynced.request.identification.high - resyncHigh;
    checks.add('registration/resynchronise', "the next Identification follows the home agent's time from the 133", ['R3.6.2.3-3', 'R5.7.1-5'], 'MUST', offset >= -2 && offset <= 30, `≥ ${resyncHigh} (the home agent's ${HOME_AGENT_CLOCK_AHEAD_S} s ahead)`, `${offset >= 0 ? '+' : ''}${offset} s from it`);
    checks.add('registration/resynchronise', 'at least 1 s after the previous Request', ['R3.6.3-4'], 'MUST NOT', resynced.at - last.at >= 950, '≥ 1000 ms', `${resynced.at - last.at} ms`);

    // --- registration/lifetime-too-long: the agent's 69 names the longest lifetime; the next Request asks for no more (3.6.2.3).
    cases++;
    const shorter = 60;
    const before69 = ctx.peer.mark();
    reply(resynced, { code: FaReplyCode.LifetimeTooLong, lifetime: shorter }, false);
    const reduced = await ctx.peer.waitFor(before69, isRequest, 2_500);
    if (reduced === undefined) {
      checks.add('registration/lifetime-too-long', 'a new attempt after a 69', ['R3.6.2.3-2'], 'MUST', 'n/a', `Lifetime ≤ ${shorter}`, 'no new attempt within 2.5 s', 'the node MAY give up on this agent');
    } else {
      checks.cover([{ machine: MACHINE, source: 'awaitingReply', event: 'reply', guard: 'canReduceLifetime' }]);
      checks.add('registration/lifetime-too-long', "the new attempt's Lifetime", ['R3.6.2.3-2'], 'MUST', reduced.request.lifetime <= shorter && reduced.request.lifetime > 0, `1..${shorter}`, `${reduced.request.lifetime}`);
      checks.add('registration/lifetime-too-long', 'timestamp Identification greater than the previous', ['R5.7.1-5'], 'MUST', greaterId(reduced.request, resynced.request), 'greater', greaterId(reduced.request, resynced.request) ? 'greater' : 'not greater');

      // --- registration/accepted: a valid acceptance ends the retransmissions.
      cases++;
      const beforeAccept = ctx.peer.mark();
      reply(reduced, { code: 0, lifetime: reduced.request.lifetime }, true);
      // 1.5 s: a node that missed the acceptance retransmits after its first timeout, at least 1 s (3.6.3).
      const again = await ctx.peer.waitFor(beforeAccept, isRequest, 1_500);
      checks.add('registration/accepted', 'no retransmission after a valid acceptance', ['R3.6.2.1-2'], 'MUST', again === undefined, 'no Request for 1.5 s', again === undefined ? 'none' : `a Request after ${again.at - reduced.at} ms`);
      if (again === undefined) checks.cover([{ machine: MACHINE, source: 'awaitingReply', event: 'reply', guard: 'accepted' }]);
    }
    // Every Request of the run: never two within a second without a link-layer indication (3.6).
    const all = ctx.peer.events.flatMap((e, i) => { const f = isRequest(e, i); return f !== undefined ? [f.at] : []; });
    const closest = all.slice(1).reduce((min, at, i) => Math.min(min, at - all[i]!), Number.POSITIVE_INFINITY);
    checks.add('registration/rate', 'never two Requests within a second', ['R3.6-9'], 'MUST NOT', closest >= 950, '≥ 1000 ms apart', Number.isFinite(closest) ? `closest ${closest} ms (${all.length} Requests)` : `${all.length} Request`);
    cases++;
  } finally {
    clearInterval(advertising);
  }
  return outcome();
}

const sameId = (a: RegistrationRequest, b: RegistrationRequest) => a.identification.high === b.identification.high && a.identification.low === b.identification.low;
const greaterId = (a: RegistrationRequest, b: RegistrationRequest) => a.identification.high > b.identification.high || (a.identification.high === b.identification.high && a.identification.low >>> 0 > b.identification.low >>> 0);

function requirementsOf(checks: readonly ConformanceCheck[]): string[] {
  return [...new Set(checks.filter((c) => c.verdict !== 'not-applicable').flatMap((c) => c.requirements))].sort();
}
