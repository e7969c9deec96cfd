/**
 * Runs the generated cases against a home agent over UDP (node:dgram): the mobile nodes in
 * parallel (one socket each), each node's cases in order, since every Reply depends on what the
 * node did before. Bounded everywhere: a rate cap on all Requests, a per-Request timeout, a
 * bounded wait where silence is predicted, the target's own bound on replayable Replies (each
 * node paces its duplicates and 133s), and a cap on the whole run after which the remaining
 * steps are reported as not run.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ipv4ToString, parseIpv4, type Ipv4Address } from '../../../io/wire/bytes.js';
import { identificationFromUnixMs } from '../../../io/wire/identification.js';
import { subnetBroadcast } from '../../../io/wire/ipv4-address.js';
import { decodeRegistrationReply, decodeRegistrationRequest } from '../../../io/wire/registration.js';
import {
  ExtensionType,
  INFINITE_LIFETIME,
  REGISTRATION_REQUEST,
  type AuthExtensionType,
  type Identification,
  type RegistrationExtension,
  type RegistrationRequest,
} from '../../../io/wire/registration-types.js';
import { homeAgentUnicastAddress } from '../../../policies/ha-request.js';
import { nextIdentification } from '../../../policies/mn-request.js';
import { TokenBucket } from '../../../policies/rate-limit.js';
import { authPlaceholder, encodeSigned, type SigningKey } from '../../../policies/sign.js';
import { ReplySocket } from '../register.js';
import { assignCases, FAMILY_REQUIREMENT, generateCases, plannedExtension, SHORT_LIFETIME_SECONDS, type ConformanceCase, type RequestPlan, type Step } from './ha-cases.js';
import { judge, type Observed, type Sent } from './ha-judge.js';
import { bindingTransitions, NodeModel, type TransitionName } from './ha-model.js';
import type { ConformanceTarget, TargetNode } from './ha-target.js';
import { compareRequirementIds, summarize, type ConformanceCheck, type ConformanceReport } from './report.js';

export interface RunOptions {
  readonly target: { readonly address: Ipv4Address; readonly port: number };
  /** Local address to send from (loopback runs bind 127.0.0.1; default: any). */
  readonly from?: Ipv4Address;
  /** How long a predicted Reply may take. */
  readonly timeoutMs: number;
  /** How long silence is awaited where the RFC says discard. */
  readonly silenceMs: number;
  /** Requests per second, all nodes together. */
  readonly rate: number;
  /** The whole run's cap. */
  readonly maxDurationMs: number;
  readonly version: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const random32 = () => randomBytes(4).readUInt32BE(0);

/** Waits for a token, in bounded steps (the bucket refills with time). */
async function take(bucket: TokenBucket, deadline: number): Promise<boolean> {
  while (!bucket.take(Date.now())) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

interface NodeRun {
  readonly node: TargetNode;
  readonly model: NodeModel;
  readonly socket: ReplySocket;
  previous?: Identification;
  /** Registrations the target accepted in the current case, oldest first (bytes kept for resends). */
  accepted: Array<{ readonly bytes: Uint8Array; readonly request: RegistrationRequest }>;
  readonly replayable: TokenBucket;
  /** The last silence check that passed, in case its Reply comes late (after --silence-ms). */
  silent?: { readonly check: ConformanceCheck; readonly low: number };
}

export async function runHaConformance(target: ConformanceTarget, options: RunOptions): Promise<ConformanceReport> {
  const startedAt = new Date();
  const started = performance.now();
  const deadline = started + options.maxDurationMs;
  const cases = generateCases(target);
  const plan = assignCases(cases, target.nodes);
  const covered = new Set<TransitionName>();
  const rate = new TokenBucket(options.rate, 1);
  const checks: ConformanceCheck[] = [];
  let casesRun = 0;

  for (const c of cases.filter((c) => c.notApplicable !== undefined)) {
    checks.push({ caseId: c.id, what: 'case', requirements: [c.requirement ?? FAMILY_REQUIREMENT[c.family]], level: 'MUST', verdict: 'not-applicable', expected: '-', observed: 'not run', detail: c.notApplicable! });
  }

  const runNode = async (node: TargetNode, nodeCases: readonly ConformanceCase[]) => {
    const socket = await ReplySocket.open(options.from !== undefined ? { address: options.from, port: 0 } : undefined);
    if (target.broadcastAddress !== undefined) socket.socket.setBroadcast(true);
    const run: NodeRun = { node, model: new NodeModel(node, target.settings, covered), socket, accepted: [], replayable: new TokenBucket(target.replayableRepliesPerSecond, 1) };
    try {
      const setup: ConformanceCase = {
        id: 'setup/start-clean',
        family: 'deregistration',
        steps: [
          ...(node.context.replay === 'nonce' ? [{ kind: 'request', label: 'first contact: learn the nonce (133, 5.7.2)', plan: { careOf: 0, lifetime: 'default' } } as const] : []),
          { kind: 'request', label: 'deregister all (care-of = home address)', plan: { careOf: 'home', lifetime: 0 } },
        ],
      };
      // Whatever a non-conformant target kept, the node leaves it without a binding.
      const teardown: ConformanceCase = { id: 'teardown/deregister-all', family: 'deregistration', steps: [{ kind: 'request', label: 'deregister all (care-of = home address)', plan: { careOf: 'home', lifetime: 0 } }] };
      for (const c of [setup, ...nodeCases, teardown]) {
        if (c.notApplicable !== undefined) continue;
        run.accepted = [];
        casesRun++;
        for (let i = 0; i < c.steps.length; i++) {
          const caseId = `${c.id}#${i + 1}@${ipv4ToString(node.homeAddress)}`;
          // The teardown runs past the cap: one bounded Request per node that leaves the target clean.
          if (performance.now() > deadline && c !== teardown) {
            checks.push({ caseId, what: 'step', requirements: [c.requirement ?? FAMILY_REQUIREMENT[c.family]], level: 'MUST', verdict: 'not-applicable', expected: '-', observed: 'not run', detail: 'the run reached its duration cap (--max-duration)' });
            continue;
          }
          checks.push(...(await runStep(run, c.steps[i]!, caseId, target, options, rate, c === teardown ? deadline + options.timeoutMs : deadline)));
        }
      }
    } finally {
      run.model.stop();
      await socket.close();
    }
  };
  await Promise.all([...plan.entries()].map(([node, nodeCases]) => runNode(node, nodeCases)));

  const transitions = bindingTransitions();
  const requirements = [...new Set(checks.filter((c) => c.verdict !== 'not-applicable').flatMap((c) => c.requirements))].sort(compareRequirementIds);
  return {
    tool: 'mip4 conformance',
    version: options.version,
    role: 'ha',
    target: `${ipv4ToString(options.target.address)}:${options.target.port}`,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    cases: casesRun,
    checks,
    coverage: { transitions: { covered: transitions.filter((t) => covered.has(t)), total: transitions.length }, requirements },
    summary: summarize(checks),
  };
}

async function runStep(run: NodeRun, step: Step, caseId: string, target: ConformanceTarget, options: RunOptions, rate: TokenBucket, deadline: number): Promise<ConformanceCheck[]> {
  if (step.kind === 'wait') {
    // 3.8: no Reply announces the end of a lifetime; anything arriving meanwhile is one.
    const end = performance.now() + step.ms;
    const stray: string[] = [];
    for (;;) {
      const left = end - performance.now();
      if (left <= 0) break;
      const datagram = await run.socket.next(left);
      if (datagram !== undefined) stray.push(datagram.from);
    }
    run.model.advance(step.ms);
    return [{ caseId, what: 'No Reply when a lifetime expires', requirements: ['R3.8-1', 'R3.8-2'], level: 'MUST NOT', verdict: stray.length === 0 ? 'pass' : 'fail', expected: 'silence', observed: stray.length === 0 ? 'silence' : `${stray.length} datagram(s) from ${stray[0]}` }];
  }
  const sent = buildRequest(run, step.plan, target, options);
  const prediction = run.model.predict({ request: sent.request, message: sent.bytes, ipSource: options.from ?? 0, ipDestination: sent.destination, served: step.plan.homeAddress !== 'unserved' });
  // The target bounds Replies anyone could draw by resending (duplicates, 133): stay within it.
  const notRun = (detail: string): ConformanceCheck[] => [
    { caseId, what: 'step', requirements: [step.requirements?.[0] ?? 'R3.8.2.2-1'], level: 'MUST', verdict: 'not-applicable', expected: '-', observed: 'not run', detail: `${step.label}: ${detail}` },
  ];
  if (prediction.verdict.kind !== 'discard' && prediction.verdict.replayable && !(await take(run.replayable, deadline))) return notRun('the run reached its duration cap while pacing replayable Replies');
  if (!(await take(rate, deadline))) return notRun('the run reached its duration cap while pacing Requests (--rate)');
  // Datagrams left from an earlier step are not this Request's; a late Reply to a Request that
  // had to be discarded silently still breaks that requirement.
  const late: ConformanceCheck[] = [];
  for (let datagram = await run.socket.next(0); datagram !== undefined; datagram = await run.socket.next(0)) {
    const silent = run.silent;
    if (silent !== undefined && decodedIdentification(datagram.bytes)?.low === silent.low) {
      late.push({ ...silent.check, verdict: 'fail', observed: `a late Reply from ${datagram.from}`, detail: `after the ${options.silenceMs} ms wait; ${silent.check.detail ?? ''}` });
      run.silent = undefined;
    }
  }
  try {
    await run.socket.send(sent.bytes, { address: sent.destination, port: sent.destinationPort });
  } catch (error) {
    // E.g. no route to a lab target, or broadcasts refused by this host: this step cannot run.
    return [...late, ...notRun(`cannot send to ${ipv4ToString(sent.destination)}:${sent.destinationPort}: ${(error as Error).message}`)];
  }
  const silence = prediction.verdict.kind === 'discard' || (prediction.verdict.kind === 'deny' && prediction.verdict.code === 131 && target.replyOnAuthFailure !== true);
  const reply = await awaitReply(run.socket, silence ? options.silenceMs : options.timeoutMs);
  const replyIdentification = reply !== undefined ? decodedIdentification(reply.bytes) : undefined;
  run.model.apply(prediction, sent.request, replyIdentification);
  if (prediction.verdict.kind === 'accept' && prediction.verdict.operation === 'register' && reply !== undefined) run.accepted.push({ bytes: sent.bytes, request: sent.request });
  const checks = judge(prediction, sent, reply, {
    caseId,
    ...(step.requirements ? { extra: step.requirements } : {}),
    ...(target.replyOnAuthFailure !== undefined ? { replyOnAuthFailure: target.replyOnAuthFailure } : {}),
    replay: run.node.context.replay,
    nowUnixMs: Date.now(),
  }).map((c) => ({ ...c, detail: c.detail === undefined ? step.label : `${step.label}: ${c.detail}` }));
  run.silent = prediction.verdict.kind === 'discard' && reply === undefined ? { check: checks[0]!, low: sent.request.identification.low >>> 0 } : undefined;
  return [...late, ...checks];
}

function decodedIdentification(bytes: Uint8Array): Identification | undefined {
  const decoded = decodeRegistrationReply(bytes, 0, bytes.length);
  return decoded.ok ? decoded.value.identification : undefined;
}

/**
 * The first datagram within `ms` after the Request: its Reply, whatever it says (the socket
 * was drained before sending, and this node has one Request outstanding at a time). A Reply
 * with a wrong Identification is still the answer, which the checks then fault (5.7).
 */
async function awaitReply(socket: ReplySocket, ms: number): Promise<Observed | undefined> {
  const datagram = await socket.next(ms);
  if (datagram === undefined) return undefined;
  const [addressText, portText] = datagram.from.split(':');
  return { bytes: datagram.bytes, address: parseIpv4(addressText ?? '') ?? 0, port: Number(portText) };
}

function lifetimeOf(plan: RequestPlan, node: TargetNode): number {
  const max = node.maxLifetime;
  switch (plan.lifetime) {
    case 'default':
      return Math.min(600, max);
    case 'short':
      return SHORT_LIFETIME_SECONDS;
    case 'over-max':
      return Math.min(max + 100, INFINITE_LIFETIME - 1);
    case 'under-max':
      return Math.max(1, max - 1);
    case 'infinite':
      return INFINITE_LIFETIME;
    default:
      return plan.lifetime;
  }
}

/** An address of the home network that is neither the target's nor a listed node's. */
function otherHomeAgent(target: ConformanceTarget): Ipv4Address {
  const s = target.settings;
  const top = subnetBroadcast(s.homeNetwork, s.prefixLength);
  for (let a = (top - 1) >>> 0; a > s.homeNetwork; a--) {
    if (!s.addresses.includes(a) && !target.nodes.some((n) => n.homeAddress === a)) return a;
  }
  return s.homeNetwork;
}

function buildRequest(run: NodeRun, plan: RequestPlan, target: ConformanceTarget, options: RunOptions): Sent {
  const node = run.node;
  const key: SigningKey = { spi: node.context.spi, algorithm: node.context.algorithm, key: node.context.key };
  const unicast = homeAgentUnicastAddress(target.settings);
  const broadcast = plan.destination === 'broadcast' && target.broadcastAddress !== undefined;
  const destination = broadcast ? target.broadcastAddress! : options.target.address;
  const base = { destination, destinationPort: options.target.port, broadcast, unicast, key };
  if (plan.resendAccepted !== undefined) {
    const chosen = plan.resendAccepted === 'first' ? run.accepted[0] : run.accepted[run.accepted.length - 1];
    if (chosen !== undefined) return { ...base, request: chosen.request, bytes: chosen.bytes };
  }
  const identification = identificationFor(run, plan);
  const homeAddress = plan.homeAddress === 'unserved' ? (target.unservedHomeAddress ?? node.homeAddress) : node.homeAddress;
  const careOfAddress = plan.careOf === 'home' ? homeAddress : target.careOfAddresses[plan.careOf];
  const mobileHomeSpi = plan.mobileHome === 'unknown-spi' ? (node.context.spi + 1) >>> 0 : node.context.spi;
  const extensions: RegistrationExtension[] = [
    ...(plan.before ?? []).map(plannedExtension),
    ...(plan.mobileHome === 'absent' ? [] : [authPlaceholder(ExtensionType.MobileHomeAuth, mobileHomeSpi)]),
    ...(plan.after ?? []).map(plannedExtension),
  ];
  const request: RegistrationRequest = {
    type: REGISTRATION_REQUEST,
    flags: plan.flags ?? 0,
    lifetime: lifetimeOf(plan, node),
    homeAddress,
    homeAgent: plan.homeAgentField === 'other' ? otherHomeAgent(target) : target.settings.addresses[0]!,
    careOfAddress,
    identification,
    extensions,
  };
  // Other agents' extensions get a key nobody has; the node's own, its key (or a wrong one).
  const stranger: SigningKey = { spi: 0x1000, algorithm: 'hmac-md5', key: randomBytes(16) };
  const wrong: SigningKey = { ...key, key: key.key.map((b) => b ^ 0xff) };
  const bytes = encodeSigned(request, (type: AuthExtensionType) => (type === ExtensionType.MobileHomeAuth ? (plan.mobileHome === 'wrong-key' ? wrong : key) : stranger));
  // Judged as the target decodes it (offsets, unknown extensions' layout).
  const decoded = decodeRegistrationRequest(bytes, 0, bytes.length);
  return { ...base, request: decoded.ok ? decoded.value : request, bytes };
}

function identificationFor(run: NodeRun, plan: RequestPlan): Identification {
  const replay = run.node.context.replay;
  let identification: Identification;
  if (plan.identification === 'future' && replay === 'timestamp') identification = identificationFromUnixMs(Date.now() + 3_600_000, random32());
  else if (plan.identification === 'wrong-nonce' && replay === 'nonce') identification = { high: ((run.model.expectedNonce ?? 0) ^ 0x5a5a5a5a) >>> 0, low: random32() };
  else {
    const nonce = run.model.expectedNonce;
    identification = nextIdentification({
      replay,
      nowUnixMs: Date.now(),
      clockOffsetMs: 0,
      random32: random32(),
      ...(run.previous ? { previous: run.previous } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
    });
  }
  // Timestamps stay increasing across the node's Requests (5.7.1), the deliberately wrong ones aside.
  if (plan.identification === undefined || plan.identification === 'fresh') run.previous = identification;
  return identification;
}
