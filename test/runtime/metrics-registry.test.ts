/**
 * The registry builders of runtime/metrics: a real HomeAgent on a simulated clock (its
 * counters moved by Requests built in the test), and fake foreign agent and mobile node
 * objects whose counters the test sets. The expositions are read back with an independent
 * parser: promtool for Prometheus text, the Python client's OpenMetrics parser for OpenMetrics.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  buildRegistries,
  foreignAgentMetrics,
  homeAgentMetrics,
  isDropReason,
  mobileNodeMetrics,
  RegistrationTimer,
  type MetricsRegistries,
} from '../../runtime/metrics/registry.js';
import type { ForeignAgentCounters } from '../../runtime/fa/foreign-agent.js';
import { KernelDrops } from '../../io/kernel-drops.js';
import type { MobileNodeCounters, MobileNodeEvent, MobileNodeState } from '../../runtime/mn/mobile-node.js';
import { COA1, COA2, Harness, makeConfig, MHAE, MN1, MN2, MN2_KEY, WRONG_KEY } from './home-agent-harness.js';
import { openMetricsParserMissing, parseOpenMetrics, promtoolCheck, promtoolMissing, sampleValue, textSamples, type ParsedFamily } from '../support/exposition.js';

const INFO = { version: '9.9.9', engine: 'compiled' } as const;

async function scrape(registries: MetricsRegistries) {
  const text = await registries.prometheus.metrics();
  return { text, samples: textSamples(text), openMetrics: await registries.openMetrics.metrics() };
}

function family(families: readonly ParsedFamily[], name: string): ParsedFamily {
  const found = families.find((f) => f.name === name);
  if (found === undefined) throw new Error(`no family ${name} in ${families.map((f) => f.name).join(', ')}`);
  return found;
}

describe('the home agent registry', () => {
  function registeredAgent() {
    const h = new Harness();
    h.register();
    h.register({ homeAddress: MN2, extensions: [MHAE(MN2_KEY)] });
    h.ask({ identification: h.fresh(), extensions: [MHAE(WRONG_KEY)] }, { source: COA1 });
    h.ask({ identification: h.fresh(), lifetime: 0, careOfAddress: MN1 }, { source: MN1 });
    h.deliver(new Uint8Array([1, 2, 3]));
    return h;
  }

  it('reads the agent at scrape time: replies per code with their text, totals, deregistrations, discards, bindings', async () => {
    const h = registeredAgent();
    const registries = buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: h.agent }), { processMetrics: false });
    const { samples } = await scrape(registries);
    const c = h.agent.counters;
    expect(sampleValue(samples, 'mip4_ha_requests_received_total')).toBe(c.requests);
    expect(c.requests).toBe(5);
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '0', reason: 'registration accepted' })).toBe(3);
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '131', reason: 'HA: mobile node failed authentication' })).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_service_requests_accepted_total')).toBe(3);
    expect(sampleValue(samples, 'mip4_ha_service_requests_denied_total')).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_deregistrations_total')).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_discarded_total', { reason: 'malformed' })).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_bindings')).toBe(1);
    expect(sampleValue(samples, 'mip4_build_info', { role: 'ha', version: '9.9.9', engine: 'compiled' })).toBe(1);

    // A later scrape sees later work: nothing was copied at build time.
    h.register();
    const again = await scrape(registries);
    expect(sampleValue(again.samples, 'mip4_ha_replies_total', { code: '0' })).toBe(4);
    expect(sampleValue(again.samples, 'mip4_ha_bindings')).toBe(2);
  });

  it('acceptances are counted by their code: 1 where simultaneous bindings are not granted (haMultiBindingUnsupported)', async () => {
    const h = new Harness(makeConfig({ settings: { simultaneousBindings: false } }));
    h.register({ careOfAddress: COA1 });
    h.register({ careOfAddress: COA2 });
    const { samples } = await scrape(buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: h.agent }), { processMetrics: false }));
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '1' })).toBe(2);
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '0' })).toBeUndefined();
    expect(sampleValue(samples, 'mip4_ha_service_requests_accepted_total')).toBe(2);
    expect(sampleValue(samples, 'mip4_ha_deregistrations_total')).toBe(0);
  });

  it('the sampled processing-time histogram counts what the timer recorded, in both formats', async () => {
    const h = new Harness();
    const timer = new RegistrationTimer(1);
    const registries = buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: h.agent, timer }), { processMetrics: false });
    timer.record(0.00002);
    timer.record(0.002);
    const { samples, openMetrics } = await scrape(registries);
    expect(sampleValue(samples, 'mip4_ha_registration_processing_seconds_count')).toBe(2);
    expect(sampleValue(samples, 'mip4_ha_registration_processing_seconds_bucket', { le: '0.000025' })).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_registration_processing_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(openMetrics).toMatch(/^mip4_ha_registration_processing_seconds_count 2$/m);
    expect(() => new RegistrationTimer(0)).toThrow(/sampleEvery/);
  });

  it('with a data path: drops by reason (plane and edge), outcomes, packets and bytes, proxy and gratuitous ARP', async () => {
    const h = new Harness();
    const plane: Record<string, number> = { packets: 10, outputs: 7, bytes: 1400, tunnelled: 6, 'ttl-exceeded': 1, 'icmp-sent': 1, 'malformed-truncated': 2, 'loop-source-is-self': 1 };
    const path = {
      counters: { captured: 12, shed: 2, batches: 3, tunnelSent: 6, icmpSent: 1, reinjected: 0, reinjectTtlExpired: 0, sendFailed: 1, registrationReplyExempt: 0, multicastToHomeLink: 0, udpTunnelReceived: 0, udpTunnelBatches: 0, udpTunnelSent: 8, udpTunnelSendBatches: 2 },
      planeCounters: plane,
      homeLink: { counters: { proxyReplies: 4, gratuitousSent: 3 } as never },
    };
    const registries = buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: h.agent, dataPath: { path } }), { processMetrics: false });
    const { samples } = await scrape(registries);
    expect(sampleValue(samples, 'mip4_dataplane_packets_total', { direction: 'in' })).toBe(10);
    expect(sampleValue(samples, 'mip4_dataplane_packets_total', { direction: 'out' })).toBe(7);
    expect(sampleValue(samples, 'mip4_dataplane_bytes_total', { direction: 'in' })).toBe(1400);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'ttl-exceeded' })).toBe(1);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'malformed-truncated' })).toBe(2);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'loop-source-is-self' })).toBe(1);
    expect(sampleValue(samples, 'mip4_ha_udp_tunnel_registrations_total', { outcome: 'granted' })).toBe(0);
    expect(sampleValue(samples, 'mip4_ha_udp_rebindings_total', { result: 'followed' })).toBe(0);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'queue-full' })).toBe(2);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'send-failed' })).toBe(1);
    expect(sampleValue(samples, 'mip4_dataplane_outcomes_total', { outcome: 'tunnelled' })).toBe(6);
    expect(sampleValue(samples, 'mip4_dataplane_outcomes_total', { outcome: 'icmp-sent' })).toBe(1);
    expect(sampleValue(samples, 'mip4_dataplane_outcomes_total', { outcome: 'packets' }), 'totals are not outcomes').toBeUndefined();
    expect(sampleValue(samples, 'mip4_ha_proxy_arp_replies_total')).toBe(4);
    expect(sampleValue(samples, 'mip4_ha_gratuitous_arps_sent_total')).toBe(3);
    expect(sampleValue(samples, 'mip4_ha_tunnel_packets_sent_total')).toBe(6);
    expect(sampleValue(samples, 'mip4_ha_udp_tunnel_messages_sent_total')).toBe(8);
    expect(sampleValue(samples, 'mip4_ha_udp_tunnel_send_batches_total')).toBe(2);
  });

  it('without a data path exports no data plane and no ARP families', async () => {
    const registries = buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: new Harness().agent }), { processMetrics: false });
    const { text } = await scrape(registries);
    expect(text).not.toContain('mip4_dataplane_');
    expect(text).not.toContain('arp');
  });

  it('drop reasons: malformed, decapsulation and loop counters are drops; tunnelled, delivered and icmp-sent are not', () => {
    for (const drop of ['malformed-truncated', 'decapsulation-bad-checksum', 'loop-care-of-address-bound', 'bad-checksum', 'unknown-visitor', 'too-big']) expect(isDropReason(drop), drop).toBe(true);
    for (const outcome of ['tunnelled', 'delivered', 'icmp-sent', 'passed', 'minimal-fragment-fallback']) expect(isDropReason(outcome), outcome).toBe(false);
  });
});

describe('the foreign agent registry', () => {
  const counters: ForeignAgentCounters = {
    frames: 30,
    solicitations: 2,
    requests: 9,
    requestsOnSocket: 0,
    relayed: 6,
    denied: 3,
    replies: 5,
    repliesRelayed: 5,
    timeouts: 1,
    icmpErrors: 1,
    icmpErrorsMatched: 1,
    advertisements: 12,
    tunnelDelivered: 4,
    discarded: 2,
    deniedByCode: { 66: 2, 70: 1 },
    discardedByReason: { 'unknown-home-agent-reply': 2 },
    pendingRefusals: { 'link-source-budget': 2 },
  };
  const agent = {
    counters,
    tableSizes: () => ({ visitors: 3, pending: 1, pendingTallyKeys: 0, recentDenials: 0, routes: 3 }),
    dataPlane: { counters: { packets: 4, outputs: 4, bytes: 480, delivered: 4, 'unknown-visitor': 1 } },
  };

  it('maps the counters to the faRegistration group, the advertisement group, gauges and the data plane', async () => {
    const { samples } = await scrape(buildRegistries({ role: 'fa', ...INFO }, foreignAgentMetrics({ agent }), { processMetrics: false }));
    expect(sampleValue(samples, 'mip4_fa_requests_received_total')).toBe(9);
    expect(sampleValue(samples, 'mip4_fa_requests_relayed_total')).toBe(6);
    expect(sampleValue(samples, 'mip4_fa_replies_received_total')).toBe(5);
    expect(sampleValue(samples, 'mip4_fa_replies_relayed_total')).toBe(5);
    expect(sampleValue(samples, 'mip4_fa_denied_total', { code: '66', reason: 'FA: insufficient resources' })).toBe(2);
    expect(sampleValue(samples, 'mip4_fa_denied_total', { code: '70' })).toBe(1);
    expect(sampleValue(samples, 'mip4_fa_discarded_total', { reason: 'unknown-home-agent-reply' })).toBe(2);
    expect(sampleValue(samples, 'mip4_fa_pending_refusals_total', { budget: 'link-source-budget' })).toBe(2);
    expect(sampleValue(samples, 'mip4_fa_pending_timeouts_total')).toBe(1);
    expect(sampleValue(samples, 'mip4_agent_advertisements_sent_total')).toBe(12);
    expect(sampleValue(samples, 'mip4_agent_solicitations_received_total')).toBe(2);
    expect(sampleValue(samples, 'mip4_fa_visitors')).toBe(3);
    expect(sampleValue(samples, 'mip4_fa_pending_registrations')).toBe(1);
    expect(sampleValue(samples, 'mip4_dataplane_outcomes_total', { outcome: 'delivered' })).toBe(4);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'unknown-visitor' })).toBe(1);
  });

  it('the kernel\'s drops read at each scrape under mip4_dataplane_drops_total: sources of one reason add up', async () => {
    const kernelDrops = new KernelDrops();
    let ipInIp = 5;
    kernelDrops.add('kernel-tunnel-receive-queue', () => ipInIp);
    kernelDrops.add('kernel-tunnel-receive-queue', () => 2);
    kernelDrops.add('kernel-link-receive-queue', () => 0);
    const registries = buildRegistries({ role: 'fa', ...INFO }, foreignAgentMetrics({ agent: { ...agent, kernelDrops } }), { processMetrics: false });
    let { samples } = await scrape(registries);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tunnel-receive-queue' })).toBe(7);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-link-receive-queue' }), 'a source with no drops yet is still exported').toBe(0);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'unknown-visitor' })).toBe(1);
    ipInIp = 9;
    ({ samples } = await scrape(registries));
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tunnel-receive-queue' })).toBe(11);
  });

  it('with RFC 3519 flows: keepalives, and the reverse tunnel\'s datagrams and sends (datagrams per sendmmsg is their ratio)', async () => {
    const udpFlows = { counters: { granted: 2, notGranted: 0, keepalives: 3, tunnelDataReceived: 9, dataSent: 40, dataSendTurns: 5 } };
    const { samples } = await scrape(buildRegistries({ role: 'fa', ...INFO }, foreignAgentMetrics({ agent: { ...agent, udpFlows } }), { processMetrics: false }));
    expect(sampleValue(samples, 'mip4_fa_udp_keepalives_sent_total')).toBe(3);
    expect(sampleValue(samples, 'mip4_fa_udp_tunnel_datagrams_sent_total')).toBe(40);
    expect(sampleValue(samples, 'mip4_fa_udp_tunnel_sends_total')).toBe(5);
  });
});

describe('the mobile node registry', () => {
  function fakeNode() {
    const events = new Subject<MobileNodeEvent>();
    const counters: MobileNodeCounters = {
      advertisements: 7,
      advertisementsDiscarded: 1,
      solicitations: 3,
      requests: 4,
      replies: 3,
      repliesDiscarded: 1,
      repliesAccepted: 2,
      repliesDenied: 0,
      decapsulated: 0,
      agentArpReplies: 0,
      homeArpIgnored: 0,
      injected: 0,
      injectDropped: 0,
    };
    let state: MobileNodeState = { attachment: 'searching', registration: 'none' };
    return { node: { counters, events, state: () => state }, setState: (s: MobileNodeState) => (state = s), events };
  }

  it('the kernel\'s drops on the co-located path as mip4_dataplane_drops_total, none without a source', async () => {
    const { node } = fakeNode();
    const kernelDrops = new KernelDrops();
    kernelDrops.add('kernel-tunnel-receive-queue', () => 3);
    kernelDrops.add('kernel-tun-write', () => 1);
    const { samples } = await scrape(buildRegistries({ role: 'mn', ...INFO }, mobileNodeMetrics({ node: { ...node, kernelDrops } }), { processMetrics: false }));
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tunnel-receive-queue' })).toBe(3);
    expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tun-write' })).toBe(1);
    const without = await scrape(buildRegistries({ role: 'mn', ...INFO }, mobileNodeMetrics({ node }), { processMetrics: false }));
    expect(sampleValue(without.samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tun-write' })).toBeUndefined();
  });

  it('counts outcomes and movements from the node events, state as gauges, counters as they are', async () => {
    const { node, events, setState } = fakeNode();
    const registries = buildRegistries({ role: 'mn', ...INFO }, mobileNodeMetrics({ node }), { processMetrics: false });
    const at = 0;
    events.next({ event: 'attachment', at, attachment: { kind: 'at-home' } });
    events.next({ event: 'attachment', at, attachment: { kind: 'foreign-agent', agent: '203.0.113.1' } });
    events.next({ event: 'denied', at, code: 133, byForeignAgent: false });
    events.next({ event: 'denied', at, code: 66, byForeignAgent: true });
    events.next({ event: 'registered', at, code: 0, lifetime: 60, expiresAt: 60_000, renewAt: 50_000 });
    events.next({ event: 'attachment', at, attachment: { kind: 'foreign-agent', agent: '203.0.113.2' } });
    events.next({ event: 'attachment', at, attachment: { kind: 'at-home' } });
    events.next({ event: 'deregistered', at, code: 0 });
    events.next({ event: 'agent-rebooted', at, agent: '203.0.113.2', previousSequence: 9, sequence: 0 });
    setState({ attachment: 'at-home', registration: 'registered' });
    const { samples } = await scrape(registries);
    expect(sampleValue(samples, 'mip4_mn_requests_sent_total')).toBe(4);
    expect(sampleValue(samples, 'mip4_mn_replies_received_total')).toBe(3);
    expect(sampleValue(samples, 'mip4_mn_registrations_accepted_total')).toBe(2);
    expect(sampleValue(samples, 'mip4_mn_registrations_denied_total', { code: '133', by: 'home-agent', reason: 'HA: registration Identification mismatch' })).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_registrations_denied_total', { code: '66', by: 'foreign-agent' })).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_movements_total', { from: 'at-home', to: 'foreign-agent' })).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_movements_total', { from: 'foreign-agent', to: 'foreign-agent' })).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_movements_total', { from: 'foreign-agent', to: 'at-home' })).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_agent_reboots_detected_total')).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_advertisements_received_total')).toBe(7);
    expect(sampleValue(samples, 'mip4_mn_solicitations_sent_total')).toBe(3);
    expect(sampleValue(samples, 'mip4_mn_registered')).toBe(1);
    expect(sampleValue(samples, 'mip4_mn_pending_registrations')).toBe(0);
    expect(sampleValue(samples, 'mip4_mn_attachment', { attachment: 'at-home' })).toBe(1);
  });
});

describe('the expositions, read by independent parsers', () => {
  async function allRoles(): Promise<Array<{ role: string; registries: MetricsRegistries }>> {
    const h = new Harness();
    h.register();
    const timer = new RegistrationTimer(1);
    timer.record(0.00004);
    const ha = buildRegistries({ role: 'ha', ...INFO }, homeAgentMetrics({ agent: h.agent, timer }));
    const fa = buildRegistries(
      { role: 'fa', ...INFO },
      foreignAgentMetrics({
        agent: {
          counters: { ...new Harness().agent.counters, deniedByCode: { 70: 1 }, discardedByReason: {}, pendingRefusals: {}, frames: 0, solicitations: 0, requestsOnSocket: 0, relayed: 0, replies: 0, repliesRelayed: 0, timeouts: 0, icmpErrors: 0, icmpErrorsMatched: 0, advertisements: 1, tunnelDelivered: 0 },
          tableSizes: () => ({ visitors: 0, pending: 0, pendingTallyKeys: 0, recentDenials: 0, routes: 0 }),
          dataPlane: { counters: { packets: 1, tunnelled: 1 } },
          kernelDrops: (() => {
            const drops = new KernelDrops();
            drops.add('kernel-tunnel-receive-queue', () => 4);
            return drops;
          })(),
        },
      }),
    );
    const mn = buildRegistries(
      { role: 'mn', ...INFO },
      mobileNodeMetrics({
        node: {
          counters: { advertisements: 1, advertisementsDiscarded: 0, solicitations: 0, requests: 1, replies: 1, repliesDiscarded: 0, repliesAccepted: 1, repliesDenied: 0, decapsulated: 0, agentArpReplies: 0, homeArpIgnored: 0, injected: 0, injectDropped: 0 },
          events: new Subject(),
          state: () => ({ attachment: 'searching', registration: 'none' }),
          kernelDrops: (() => {
            const drops = new KernelDrops();
            drops.add('kernel-tun-read-queue', () => 0);
            return drops;
          })(),
        },
      }),
    );
    return [
      { role: 'ha', registries: ha },
      { role: 'fa', registries: fa },
      { role: 'mn', registries: mn },
    ];
  }

  it.skipIf(promtoolMissing() !== undefined)(`promtool check metrics passes the Prometheus text of every role, lint included${promtoolMissing() ? ` (skipped: ${promtoolMissing()})` : ''}`, async () => {
    for (const { role, registries } of await allRoles()) {
      const text = await registries.prometheus.metrics();
      const check = promtoolCheck(text);
      expect(check.output, role).toBe('');
      expect(check.status, role).toBe(0);
    }
    // The check can fail: a gauge named like a counter is reported.
    expect(promtoolCheck('# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n').status).not.toBe(0);
  });

  it.skipIf(openMetricsParserMissing() !== undefined)(`the OpenMetrics text of every role parses strictly, counters as _total samples, ending in # EOF${openMetricsParserMissing() ? ` (skipped: ${openMetricsParserMissing()})` : ''}`, async () => {
    for (const { role, registries } of await allRoles()) {
      const text = await registries.openMetrics.metrics();
      expect(text.endsWith('# EOF\n'), role).toBe(true);
      const families = parseOpenMetrics(text);
      expect(family(families, 'mip4_build_info').samples[0]?.labels, role).toEqual({ version: '9.9.9', engine: 'compiled', role });
      expect(families.some((f) => f.name === 'mip4_process_cpu_seconds' && f.type === 'counter'), `${role}: process metrics, prefixed`).toBe(true);
    }
    const ha = (await allRoles())[0]!.registries;
    const families = parseOpenMetrics(await ha.openMetrics.metrics());
    expect(family(families, 'mip4_ha_replies').type).toBe('counter');
    expect(family(families, 'mip4_ha_replies').samples).toEqual([{ name: 'mip4_ha_replies_total', labels: { code: '0', reason: 'registration accepted' }, value: 1 }]);
    expect(family(families, 'mip4_ha_registration_processing_seconds').type).toBe('histogram');
    // The parser is strict: without the terminator it refuses.
    const unterminated = (await ha.openMetrics.metrics()).replace('# EOF\n', '');
    expect(() => parseOpenMetrics(unterminated)).toThrow(/OpenMetrics/);
  });
});

describe('docs/metrics.md', () => {
  it('names every family the three builders make (process metrics by their prefixes)', async () => {
    const { readFileSync } = await import('node:fs');
    const { ROOT } = await import('../support/build.js');
    const doc = readFileSync(`${ROOT}docs/metrics.md`, 'utf8');
    const h = new Harness();
    const path = { counters: { captured: 0, shed: 0, batches: 0, tunnelSent: 0, icmpSent: 0, reinjected: 0, reinjectTtlExpired: 0, sendFailed: 0, registrationReplyExempt: 0, multicastToHomeLink: 0, udpTunnelReceived: 0, udpTunnelBatches: 0, udpTunnelSent: 0, udpTunnelSendBatches: 0 }, planeCounters: {}, homeLink: { counters: { proxyReplies: 0, gratuitousSent: 0 } as never } };
    const builders = [
      homeAgentMetrics({ agent: h.agent, dataPath: { path, engine: 'bpf', bpf: { programCounters: () => ({ haEncap: {}, decap: {} }), counters: { mapErrors: {} } } }, advertiser: { counters: { advertisements: 0, solicitations: 0, badSolicitations: 0 } }, timer: new RegistrationTimer() }),
      foreignAgentMetrics({ agent: { counters: { ...h.agent.counters } as never, tableSizes: () => ({ visitors: 0, pending: 0, pendingTallyKeys: 0, recentDenials: 0, routes: 0 }), dataPlane: { counters: {} } } }),
      mobileNodeMetrics({ node: { counters: {} as never, events: new Subject(), state: () => ({ attachment: 'searching', registration: 'none' }) } }),
    ];
    const names = new Set<string>();
    for (const build of builders) for (const metric of buildRegistries({ role: 'ha', ...INFO }, build).prometheus.getMetricsAsArray()) names.add((metric as unknown as { name: string }).name);
    expect(names.size).toBeGreaterThan(50);
    for (const name of names) {
      if (name.startsWith('mip4_process_') || name.startsWith('mip4_nodejs_')) continue;
      if (name.startsWith('mip4_dataplane_')) expect(doc, name).toContain(`\`${name}\``);
      else expect(doc, name).toContain(`| \`${name}\` |`);
    }
    expect(doc).toContain('`mip4_process_*`, `mip4_nodejs_*`');
  });
});
