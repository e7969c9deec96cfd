/**
 * End to end: `mip4 ha` on 127.0.0.1 with `metrics: { listen: 127.0.0.1:0 }`, scraped over
 * HTTP while a client registers (accepted) and fails authentication (denied, 131). The
 * scrapes are read by promtool and a strict OpenMetrics parser; the final counts must equal
 * the Replies the client saw and the counters the daemon logs in its `stopped` line.
 */
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import { DaemonProcess, freshIdentification, httpGet, PROMETHEUS_ACCEPT, registrationRequest } from '../support/daemon-process.js';
import { openMetricsParserMissing, parseOpenMetrics, promtoolCheck, promtoolMissing, sampleValue, textSamples } from '../support/exposition.js';
import { writePrivateFile } from '../support/files.js';

const NODES = 20;
const ROUNDS = 3;
const FAILED_AUTH = 7;
const keyOf = (label: string) => createHash('md5').update(label).digest();
const node = (i: number) => ({ homeAddress: `127.0.1.${i + 1}`, spi: 5000 + i, key: keyOf(`metrics-${i}`) });

function config(metricsListen: string): string {
  const nodes = Array.from({ length: NODES }, (_, i) => node(i))
    .map((n) => `  - homeAddress: ${n.homeAddress}\n    spi: ${n.spi}\n    key: "${n.key.toString('hex')}"\n`)
    .join('');
  return `homeAgent:\n  address: 127.0.0.1\n  homeNetwork: 127.0.0.0/8\n  listen: [127.0.0.1:0]\n  maxLifetime: 60\nmetrics:\n  listen: ${metricsListen}\nmobileNodes:\n${nodes}`;
}

const dirs: string[] = [];
const daemons: DaemonProcess[] = [];
function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mip4-metrics-e2e-'));
  dirs.push(dir);
  const path = join(dir, 'ha.yaml');
  writePrivateFile(path, text);
  return path;
}
function start(args: string[]): DaemonProcess {
  const daemon = new DaemonProcess(args);
  daemons.push(daemon);
  return daemon;
}

beforeAll(() => ensureBuilt(), 180_000);
afterAll(() => {
  for (const daemon of daemons) daemon.kill();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('mip4 ha with a metrics section, scraped while it registers', () => {
  const replies = new Map<number, number>();
  let daemon: DaemonProcess;
  let url: string;
  let haPort: number;
  const scrapes: string[] = [];
  const betweenRounds: number[] = [];
  let stopped: Record<string, unknown>;
  let finalText: string;
  let finalOpenMetrics: string;
  let openMetricsContentType: string | undefined;

  beforeAll(async () => {
    daemon = start(['ha', '--config', configFile(config('127.0.0.1:0'))]);
    const listening = await daemon.line('listening');
    url = String(listening.metrics);
    haPort = Number(String((listening.endpoints as string[])[0]).split(':')[1]);

    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const seen = new Map<number, number>();
    socket.on('message', (data) => seen.set(data.readUInt32BE(16), data[1]!));
    const send = (bytes: Buffer) => new Promise<void>((resolve, reject) => socket.send(bytes, haPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

    // Scrapes run beside the load: a scrape every few milliseconds until the load is done.
    let loading = true;
    const scraper = (async () => {
      while (loading) {
        scrapes.push((await httpGet(url)).body);
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
    const sent: number[] = [];
    const allAnswered = async () => {
      const deadline = Date.now() + 15_000;
      while (sent.some((low) => !seen.has(low)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < NODES; i++) {
        const n = node(i);
        const identification = freshIdentification();
        sent.push(Number(identification & 0xffffffffn));
        await send(registrationRequest({ ...n, lifetime: 60, homeAgent: '127.0.0.1', careOfAddress: '192.0.2.77', identification }));
      }
      // Between rounds, a scrape must show exactly the rounds answered so far.
      await allAnswered();
      betweenRounds.push(sampleValue(textSamples((await httpGet(url)).body), 'mip4_ha_service_requests_accepted_total') ?? -1);
    }
    for (let i = 0; i < FAILED_AUTH; i++) {
      const identification = freshIdentification();
      sent.push(Number(identification & 0xffffffffn));
      await send(registrationRequest({ ...node(i), key: keyOf('wrong'), lifetime: 60, homeAgent: '127.0.0.1', careOfAddress: '192.0.2.77', identification }));
    }
    await allAnswered();
    for (const low of sent) if (seen.has(low)) replies.set(seen.get(low)!, (replies.get(seen.get(low)!) ?? 0) + 1);
    loading = false;
    await scraper;
    socket.close();

    finalText = (await httpGet(url)).body;
    const open = await httpGet(url, PROMETHEUS_ACCEPT);
    finalOpenMetrics = open.body;
    openMetricsContentType = open.contentType;
    await daemon.stop();
    stopped = (await daemon.line('stopped')) as Record<string, unknown>;
  }, 90_000);

  it('announces the endpoint in its listening line, on the port the system chose', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(url).not.toContain(':0/');
  });

  it('every Reply arrived: accepted ones with 0, the failed authentications with 131', () => {
    expect(replies.get(0)).toBe(NODES * ROUNDS);
    expect(replies.get(131)).toBe(FAILED_AUTH);
  });

  it('scrapes taken during the load saw the counters move round by round and never go back', () => {
    const accepted = scrapes.map((text) => sampleValue(textSamples(text), 'mip4_ha_service_requests_accepted_total') ?? 0);
    expect(scrapes.length).toBeGreaterThan(1);
    for (let i = 1; i < accepted.length; i++) expect(accepted[i]!).toBeGreaterThanOrEqual(accepted[i - 1]!);
    expect(betweenRounds).toEqual(Array.from({ length: ROUNDS }, (_, round) => NODES * (round + 1)));
  });

  it('the final scrape equals the Replies the client saw and the counters the daemon logged when it stopped', () => {
    const samples = textSamples(finalText);
    const counters = stopped.counters as { requests: number; accepted: number; denied: number; deniedByCode: Record<string, number> };
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '0', reason: 'registration accepted' })).toBe(NODES * ROUNDS);
    expect(sampleValue(samples, 'mip4_ha_replies_total', { code: '131' })).toBe(FAILED_AUTH);
    expect(sampleValue(samples, 'mip4_ha_requests_received_total')).toBe(counters.requests);
    expect(sampleValue(samples, 'mip4_ha_service_requests_accepted_total')).toBe(counters.accepted);
    expect(sampleValue(samples, 'mip4_ha_service_requests_denied_total')).toBe(counters.denied);
    expect(counters.deniedByCode['131']).toBe(FAILED_AUTH);
    expect(sampleValue(samples, 'mip4_ha_bindings')).toBe(stopped.bindings);
    expect(stopped.bindings).toBe(NODES);
    // One datagram in 16 is timed, the first included.
    expect(sampleValue(samples, 'mip4_ha_registration_processing_seconds_count')).toBe(Math.ceil(counters.requests / 16));
    expect(sampleValue(samples, 'mip4_build_info', { role: 'ha' })).toBe(1);
    expect(sampleValue(samples, 'mip4_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it.skipIf(promtoolMissing() !== undefined)(`promtool check metrics passes every scrape${promtoolMissing() ? ` (skipped: ${promtoolMissing()})` : ''}`, () => {
    for (const text of [finalText, scrapes[0]!]) expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
  });

  it.skipIf(openMetricsParserMissing() !== undefined)(`with Prometheus's Accept header the answer is OpenMetrics that parses strictly, with the same counts${openMetricsParserMissing() ? ` (skipped: ${openMetricsParserMissing()})` : ''}`, () => {
    expect(openMetricsContentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const families = parseOpenMetrics(finalOpenMetrics);
    const replyFamily = families.find((f) => f.name === 'mip4_ha_replies')!;
    expect(replyFamily.type).toBe('counter');
    expect(replyFamily.samples.find((s) => s.labels.code === '0')?.value).toBe(NODES * ROUNDS);
    expect(replyFamily.samples.find((s) => s.labels.code === '131')?.value).toBe(FAILED_AUTH);
  });
});

describe('mip4 ha whose metrics.listen cannot be bound', () => {
  it('exits 1 naming metrics.listen, before announcing itself', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const daemon = start(['ha', '--config', configFile(config(`127.0.0.1:${port}`)), '--udp', 'dgram']);
      await daemon.exited;
      expect(daemon.exit?.code).toBe(1);
      expect(daemon.stderr).toContain(`mip4 ha: metrics.listen 127.0.0.1:${port}: the port is in use`);
      expect(daemon.lines.filter((l) => l.event === 'listening')).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 30_000);
});
