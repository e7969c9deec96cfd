/**
 * Part 8's pure pieces (bench/parts/lab-engines-plan.ts): the order and size of a run, the plain
 * routes of "kernel forwarding of the same topology", iperf3's reports read into figures, and
 * retransmissions per GB. No timing: the part itself runs in `npm run bench -- --only 8`.
 */
import { describe, expect, it } from 'vitest';
import {
  addSample,
  BARS,
  emptySamples,
  kernelRoutes,
  kernelRoutesUndo,
  labRunSettings,
  retransmitsPerGigabyte,
  stormRate,
  tcpResultFromIperf,
  udpResultFromIperf,
} from '../../bench/parts/lab-engines-plan.js';
import { Report } from '../../bench/harness/report.js';

describe('bench part 8: settings', () => {
  it('the full run alternates bpf, userspace, kernel at least three times, kernel right after userspace (it reuses that lab)', () => {
    const full = labRunSettings(false, true);
    expect(full.repetitions).toBeGreaterThanOrEqual(3);
    expect(full.paths).toEqual(['bpf', 'userspace', 'kernel']);
    expect(full.places).toEqual(['fa1', 'colocated']);
    expect(full.stormRepetitions).toBeGreaterThanOrEqual(3);
  });

  it('without a usable bpf engine the full run still measures userspace against kernel', () => {
    expect(labRunSettings(false, false).paths).toEqual(['userspace', 'kernel']);
  });

  it('the quick run is one short userspace lab with kernel after it, and says so', () => {
    const quick = labRunSettings(true, true);
    expect(quick.paths).toEqual(['userspace', 'kernel']);
    expect(quick.repetitions).toBe(1);
    expect(quick.seconds).toBe(1);
    expect(quick.note).toMatch(/^quick:/);
  });

  it("the bars are the issue's", () => {
    expect([BARS.tcp.ratio, BARS.udp.ratio, BARS.storm.ratio]).toEqual([0.8, 0.7, 0.95]);
  });
});

describe('bench part 8: kernel forwarding of the same hops', () => {
  it('via FA1: router → home agent → router → FA1 → node, and back by the home agent', () => {
    const routes = kernelRoutes('fa1');
    expect(routes.rt).toContain('route replace 198.51.100.10/32 via 198.51.100.2 dev home0');
    expect(routes.rt).toContain('rule add iif home0 to 198.51.100.10/32 lookup 100 pref 100');
    expect(routes.rt).toContain('route replace 198.51.100.10/32 via 203.0.113.2 dev foreign1 table 100');
    expect(routes.rt).toContain('rule add iif foreign1 from 198.51.100.10/32 lookup 101 pref 101');
    expect(routes.ha).toEqual(['route replace 198.51.100.10/32 via 198.51.100.1 dev eth0']);
    expect(routes.fa1).toEqual(['route replace 198.51.100.10/32 dev eth0']);
    expect(routes.mn).toContain('route replace default via 203.0.113.2 dev eth0 onlink');
  });

  it('co-located: the router forwards to the co-located address, FA1 takes no part', () => {
    const routes = kernelRoutes('colocated');
    expect(routes.rt).toContain('route replace 198.51.100.10/32 via 203.0.113.100 dev foreign2 table 100');
    expect(routes.rt).toContain('rule add iif foreign2 from 198.51.100.10/32 lookup 101 pref 101');
    expect(routes.fa1).toEqual([]);
    expect(routes.mn).toContain('route replace default via 203.0.113.65 dev eth0');
  });

  it('the undo removes both rules and tables, and FA1 route only where it was added', () => {
    expect(kernelRoutesUndo('fa1').rt).toEqual(['rule del pref 100', 'rule del pref 101', 'route flush table 100', 'route flush table 101']);
    expect(kernelRoutesUndo('fa1').fa1).toEqual(['route del 198.51.100.10/32 dev eth0']);
    expect(kernelRoutesUndo('colocated').fa1).toEqual([]);
  });
});

describe("bench part 8: iperf3's reports", () => {
  it('TCP: throughput received, retransmissions, bytes; per GB', () => {
    const json = JSON.stringify({ end: { sum_sent: { retransmits: 13_000 }, sum_received: { bits_per_second: 250e6, bytes: 125e6 } } });
    const tcp = tcpResultFromIperf(json);
    expect(tcp).toEqual({ gbits: 0.25, retransmits: 13_000, bytes: 125e6 });
    expect(retransmitsPerGigabyte(tcp)).toBeCloseTo(104_000);
    expect(retransmitsPerGigabyte({ retransmits: 3, bytes: 0 })).toBeNaN();
  });

  it("TCP: iperf3's error report is an error, not a zero", () => {
    expect(() => tcpResultFromIperf(JSON.stringify({ error: 'unable to connect to server' }))).toThrow('iperf3 TCP: unable to connect to server');
  });

  it('UDP: delivered = sent − lost, per second of the test, not what was sent', () => {
    const json = JSON.stringify({ end: { sum: { packets: 100_000, lost_packets: 25_000, seconds: 2 } } });
    expect(udpResultFromIperf(json)).toEqual({ deliveredPerSecond: 37_500, lost: 0.25 });
    expect(() => udpResultFromIperf(JSON.stringify({ end: {} }))).toThrow('iperf3 UDP: no end.sum');
  });

  it('a failed test stays a NaN in its repetition, so ratios pair the same repetitions', () => {
    const bpf = emptySamples();
    const kernel = emptySamples();
    addSample(bpf, { gbits: 8, retransmits: 0, bytes: 4e9 }, undefined);
    addSample(bpf, undefined, undefined);
    addSample(bpf, { gbits: 9, retransmits: 4, bytes: 4e9 }, { deliveredPerSecond: 700, lost: 0 });
    for (const gbits of [10, 12, 10]) addSample(kernel, { gbits, retransmits: 0, bytes: 5e9 }, { deliveredPerSecond: 1000, lost: 0 });
    expect(bpf.tcpGbits[1]).toBeNaN();
    expect(bpf.retransmitsPerGB).toEqual([0, NaN, 1]);
    const figure = new Report('t').add({ name: 'tcp', unit: 'Gbit/s', values: bpf.tcpGbits, baseline: { name: 'kernel', values: kernel.tcpGbits }, bar: { text: BARS.tcp.text, test: (m) => m >= BARS.tcp.ratio, onRatio: true } });
    expect(figure.ratio?.n).toBe(2);
    expect(figure.ratio?.min).toBeCloseTo(0.8);
    expect(figure.ratio?.median).toBeCloseTo(0.85);
    expect(figure.bar?.met).toBe(true);
  });

  it('the storm rate is accepted registrations over the time to the last reply', () => {
    expect(stormRate({ accepted: 5_000, seconds: 10, lastReplySeconds: 2.5 })).toBe(2_000);
    expect(stormRate({ accepted: 100, seconds: 1 })).toBe(100);
  });
});
