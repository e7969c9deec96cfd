/** runtime/cli/lab/traffic.ts: the traffic harness's analysis (pure): loss per move and direction, first arrival, verdicts, iperf3's JSON. */
import { describe, expect, it } from 'vitest';
import { analyseTraffic, echoCountFromPing, emptyProbeRecord, feedProbeLines, tcpReportFromIperf, trafficText, type MoveInstants, type ProbeRecord } from '../../runtime/cli/lab/traffic.js';
import type { IngressDrops } from '../../runtime/cli/lab/ingress-filter.js';

const MS = 1e6;

/** A probe every 10 ms from 0 to `untilMs`; delivered after 1 ms unless `lost(sentMs)`. */
function probes(untilMs: number, lost: (sentMs: number) => boolean): ProbeRecord {
  const record = emptyProbeRecord();
  for (let seq = 0, t = 0; t < untilMs; seq++, t += 10) {
    record.sentSequences.push(seq);
    record.sentNs.push(t * MS);
    if (!lost(t)) record.arrivedNs.set(seq, (t + 1) * MS);
  }
  return record;
}

const drops = (foreign1: number, home0 = 0): IngressDrops[] => [
  { device: 'home0', segment: 'home', prefix: '198.51.100.0/24', packets: home0, bytes: 0 },
  { device: 'foreign1', segment: 'foreign-1', prefix: '203.0.113.0/26', packets: foreign1, bytes: 0 },
];

// Moves at 1 s (to FA1: carrier back at 1.2 s) and 3 s (home: carrier back at 3.2 s); the senders stop at 5.5 s.
const MOVES: MoveInstants[] = [
  { from: 'home', place: 'fa1', linkDownNs: 1000 * MS, linkUpNs: 1200 * MS, dropsBefore: drops(0), dropsAfter: drops(190) },
  { from: 'fa1', place: 'home', linkDownNs: 3000 * MS, linkUpNs: 3200 * MS, dropsBefore: drops(190), dropsAfter: drops(191, 0) },
];

describe('lab traffic: analysis', () => {
  it('ingress filter, no reverse tunnel: downstream resumes at FA1, upstream dies there and the verdict names the direction, the place, the drops and the cause; both come back home', () => {
    const downstream = probes(5500, (t) => (t >= 1000 && t < 1400) || (t >= 3000 && t < 3300));
    // Upstream: nothing from the link change at FA1 until home again.
    const upstream = probes(5500, (t) => t >= 1000 && t < 3300);
    const report = analyseTraffic({ downstream, upstream, startPlace: 'home', moves: MOVES, endNs: 5500 * MS, settings: { ingressFilter: true, reverseTunnel: false, probeIntervalMs: 10 } });
    expect(report.start.downstream).toEqual({ sent: 100, received: 100, lost: 0 });
    const [fa1, home] = report.moves;
    expect(fa1!.downstream).toMatchObject({ sent: 200, lost: 40, received: 160, firstAfterCarrierMs: 201, firstAfterLinkChangeMs: 401 });
    expect(fa1!.upstream).toEqual({ sent: 200, received: 0, lost: 200 });
    expect(fa1!.ingressDrops).toEqual({ foreign1: 190 });
    // The last move's window ends a grace period before the senders stopped (5 s).
    expect(home!.upstream).toMatchObject({ sent: 200, lost: 30, firstAfterCarrierMs: 101 });
    expect(report.verdicts).toEqual([
      'upstream (mobile node → correspondent) lost after the move to FA1: ingress filter dropped 190 datagrams; reverse tunnelling is off (200 probes sent, none arrived)',
    ]);
    expect(report.bothWaysThroughEveryMove).toBe(false);
    const text = trafficText(report);
    expect(text).toContain('verdict: upstream (mobile node → correspondent) lost after the move to FA1: ingress filter dropped 190 datagrams; reverse tunnelling is off');
    expect(text).toContain('verdict: NOT both directions through every move');
    expect(text).toMatch(/home → FA1 +40\/200 lost, first 201 ms +200\/200 lost, first never +foreign1 190/);
  });

  it('no filter: a dead direction says so instead of blaming the filter; both ways at every place is the good verdict', () => {
    const dead = analyseTraffic({
      downstream: probes(5500, () => false),
      upstream: probes(5500, (t) => t >= 1000),
      startPlace: 'home',
      moves: MOVES.map(({ dropsBefore: _b, dropsAfter: _a, ...m }) => m),
      endNs: 5500 * MS,
      settings: { ingressFilter: false, reverseTunnel: true, probeIntervalMs: 10 },
    });
    expect(dead.verdicts).toEqual([
      'upstream (mobile node → correspondent) lost after the move to FA1: no ingress filter in this lab; reverse tunnelling was asked for (200 probes sent, none arrived)',
      'upstream (mobile node → correspondent) lost after the move to home: no ingress filter in this lab; reverse tunnelling was asked for (200 probes sent, none arrived)',
    ]);
    expect(dead.moves[0]!.ingressDrops).toBeUndefined();
    const good = analyseTraffic({ downstream: probes(5500, () => false), upstream: probes(5500, () => false), startPlace: 'home', moves: MOVES, endNs: 5500 * MS, settings: { ingressFilter: true, reverseTunnel: true, probeIntervalMs: 10 } });
    expect(good.verdicts).toEqual([]);
    expect(good.bothWaysThroughEveryMove).toBe(true);
    expect(trafficText(good)).toContain('verdict: both directions through every move');
  });

  it('a probe that arrives after the end of the grace period counts as lost; a TCP connection that did not hold makes the run fail', () => {
    const downstream = probes(5500, () => false);
    downstream.arrivedNs.set(450, 9000 * MS); // sent at 4.5 s, arrived at 9 s
    const tcp = { downstream: { held: true, bytesSent: 1, longestStallSeconds: 0 }, upstream: { held: false, bytesSent: 1, longestStallSeconds: 3, error: 'unable to write' }, mbitPerSecond: 10 };
    const report = analyseTraffic({ downstream, upstream: probes(5500, () => false), startPlace: 'home', moves: MOVES, endNs: 5500 * MS, settings: { ingressFilter: false, reverseTunnel: false, probeIntervalMs: 10 }, tcp });
    expect(report.moves[1]!.downstream.lost).toBe(1);
    expect(report.verdicts).toEqual(['TCP upstream (mobile node → correspondent) did not hold: unable to write']);
    expect(report.bothWaysThroughEveryMove).toBe(false);
  });

  it("reads the probe program's lines: sends, refusals, first copy of a duplicate, times relative to the origin", () => {
    const record = emptyProbeRecord();
    feedProbeLines(record, ['s 0 1000', 'e 1 2000', 's 2 3000', 'r 0 1500 1000', 'r 0 1700 1000', 'listening', 'r 2'], 1000n);
    expect(record.sentSequences).toEqual([0, 2]);
    expect(record.sentNs).toEqual([0, 2000]);
    expect(record.sendErrors).toBe(1);
    expect([...record.arrivedNs]).toEqual([[0, 500]]);
  });
});

describe('lab traffic: iperf3 JSON', () => {
  const intervals = (bytes: number[]) => bytes.map((b) => ({ sum: { bytes: b } }));

  it('stopped by the harness (SIGINT) with data flowing to the end: held, with the longest stall', () => {
    const json = JSON.stringify({ error: 'interrupt - the client has terminated', intervals: intervals([5, 5, 0, 0, 0, 5, 5, 5, 1]), end: { sum_sent: { bytes: 26, retransmits: 4 } } });
    expect(tcpReportFromIperf(json, 1)).toEqual({ held: true, bytesSent: 26, retransmits: 4, longestStallSeconds: 1.5 });
  });

  it('given up by the kernel, or nothing sent in the last second, or no JSON at all: not held, saying why', () => {
    expect(tcpReportFromIperf(JSON.stringify({ error: 'unable to write to stream socket: Connection timed out', intervals: intervals([5, 0]), end: {} }), 1)).toMatchObject({
      held: false,
      error: 'unable to write to stream socket: Connection timed out',
    });
    expect(tcpReportFromIperf(JSON.stringify({ error: 'interrupt - the client has terminated', intervals: intervals([5, 5, 0, 0, 0]), end: { sum_sent: { bytes: 10 } } }), 1)).toMatchObject({
      held: false,
      error: 'nothing was sent in its last second (the path is dead)',
    });
    expect(tcpReportFromIperf('', null)).toMatchObject({ held: false, error: 'iperf3 did not finish (killed)' });
  });
});

describe('lab traffic: ping', () => {
  it("reads ping -q's summary; none printed: undefined; the counts appear in the text", () => {
    expect(echoCountFromPing('--- 198.51.100.10 ping statistics ---\n2871 packets transmitted, 2790 received, 2.8% packet loss, time 30012ms\n')).toEqual({ transmitted: 2871, received: 2790 });
    expect(echoCountFromPing('')).toBeUndefined();
    const report = analyseTraffic({
      downstream: emptyProbeRecord(),
      upstream: emptyProbeRecord(),
      startPlace: 'home',
      moves: [],
      endNs: 0,
      settings: { ingressFilter: false, reverseTunnel: false, probeIntervalMs: 10 },
      echo: { fromCorrespondent: { transmitted: 10, received: 9 } },
    });
    expect(trafficText(report)).toContain('ping every 10 ms (round trip): correspondent → home address 9 of 10 answered; mobile node → correspondent no count');
  });
});
