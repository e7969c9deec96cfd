/**
 * The benchmark harness's own arithmetic and classification: repetitions summarised as
 * min / median / max, ratios taken per repetition against the same-run baseline, bars judged
 * on the median (and "?" when nothing was measured), profile frames mapped to layers.
 */
import { describe, expect, it } from 'vitest';
import { layerOfUrl } from '../../bench/harness/cpu-profile.js';
import { formatTable, Report, spread } from '../../bench/harness/report.js';

describe('bench report', () => {
  it('summarises repetitions as min / median / max (even counts average the middle two)', () => {
    expect(spread([5, 1, 3])).toEqual({ min: 1, median: 3, max: 5, n: 3 });
    expect(spread([4, 1, 3, 2])).toEqual({ min: 1, median: 2.5, max: 4, n: 4 });
    expect(spread([]).n).toBe(0);
  });

  it('takes the ratio per repetition, not of the medians', () => {
    const report = new Report('t');
    const figure = report.add({ name: 'x', unit: '/s', values: [10, 20, 30], baseline: { name: 'b', values: [20, 20, 100] } });
    expect(figure.ratio).toEqual({ min: 0.3, median: 0.5, max: 1, n: 3 });
  });

  it('judges a bar on the median of the figure or of the ratio, and leaves it open when unmeasured', () => {
    const report = new Report('t');
    const met = report.add({ name: 'a', unit: 'ms', values: [1, 9, 9], bar: { text: '≤ 5 ms', test: (m) => m <= 5 } });
    const onRatio = report.add({ name: 'b', unit: '/s', values: [9, 9, 9], baseline: { name: 'c', values: [10, 10, 10] }, bar: { text: '≥ 0.9', test: (m) => m >= 0.9, onRatio: true } });
    report.missing('c', 'pps', 'needs root', '≥ 0.9');
    expect(met.bar).toEqual({ text: '≤ 5 ms', met: false });
    expect(onRatio.bar).toEqual({ text: '≥ 0.9', met: true });
    const table = formatTable([report]);
    expect(table).toMatch(/NOT met \(≤ 5 ms\)/);
    expect(table).toMatch(/c\s+not measured\s+pps/);
    expect(table).toMatch(/t c: needs root/);
  });

  it('maps profile frames to layers by script URL', () => {
    expect(layerOfUrl('file:///x/dist/io/wire/registration.js', 'decodeRegistrationRequest')).toBe('decode (io/wire)');
    expect(layerOfUrl('file:///x/dist/io/wire/registration.js', 'encodeRegistrationReply')).toBe('encode (io/wire)');
    expect(layerOfUrl('file:///x/dist/policies/ha-request.js', 'checkHaRequest')).toBe('policy');
    expect(layerOfUrl('file:///x/dist/runtime/actors/actor-host.js', 'send')).toBe('machine + actor host');
    expect(layerOfUrl('file:///x/dist/runtime/ha/home-agent.js', 'handle')).toBe('home agent bookkeeping');
    expect(layerOfUrl('file:///x/dist/policies/sign.js', 'encodeSigned')).toBe('encode (io/wire)');
    expect(layerOfUrl('file:///x/node_modules/rxjs/dist/esm/internal/Subject.js', 'next')).toBe('framework: rxjs');
    expect(layerOfUrl('node:dgram', 'doSend')).toBe('socket');
    expect(layerOfUrl('node:internal/crypto/hash', 'digest')).toBe('crypto (HMAC-MD5)');
    expect(layerOfUrl('', '(garbage collector)')).toBe('GC');
    expect(layerOfUrl('', 'stringify')).toBeUndefined();
  });
});
