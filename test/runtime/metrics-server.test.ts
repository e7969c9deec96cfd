/**
 * The /metrics HTTP endpoint (runtime/metrics/server.ts) on 127.0.0.1, port 0: content
 * negotiation, the answers to other paths and methods, a failing collection, a listen error.
 */
import { request } from 'node:http';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRegistries } from '../../runtime/metrics/registry.js';
import { MetricsListenError, startMetricsServer, wantsOpenMetrics, type MetricsServer } from '../../runtime/metrics/server.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(server: MetricsServer, path: string, options: { method?: string; accept?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: server.address, port: server.port, path, method: options.method ?? 'GET', headers: options.accept !== undefined ? { accept: options.accept } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const servers: MetricsServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(build: Parameters<typeof buildRegistries>[1] = () => {}): Promise<MetricsServer> {
  const server = await startMetricsServer({ address: '127.0.0.1', port: 0 }, buildRegistries({ role: 'ha', version: '1.2.3', engine: 'compiled' }, build, { processMetrics: false }));
  servers.push(server);
  return server;
}

describe('GET /metrics', () => {
  it('answers Prometheus text 0.0.4 by default and OpenMetrics 1.0.0 when Accept asks for it (as Prometheus sends it)', async () => {
    const server = await serve();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const text = await get(server, '/metrics');
    expect(text.status).toBe(200);
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text.body).toContain('mip4_build_info{version="1.2.3",engine="compiled",role="ha"} 1');
    expect(text.body).not.toContain('# EOF');
    const prometheusAccept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const open = await get(server, '/metrics', { accept: prometheusAccept });
    expect(open.status).toBe(200);
    expect(open.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(open.body.endsWith('# EOF\n')).toBe(true);
    expect((await get(server, '/metrics?x=1')).status, 'a query string is still /metrics').toBe(200);
  });

  it('404 for other paths, 405 with Allow: GET for other methods', async () => {
    const server = await serve();
    const elsewhere = await get(server, '/');
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body).toContain('/metrics');
    expect((await get(server, '/metrics/x')).status).toBe(404);
    const post = await get(server, '/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
  });

  it('a collection that throws answers 500 for that scrape; the server keeps serving', async () => {
    let fail = true;
    const server = await serve((registry) => {
      new Counter({
        name: 'mip4_test_total',
        help: 'fails once',
        registers: [registry],
        collect() {
          if (fail) throw new Error('agent gone');
          this.reset();
          this.inc(1);
        },
      });
    });
    const failed = await get(server, '/metrics');
    expect(failed.status).toBe(500);
    expect(failed.body).toContain('agent gone');
    fail = false;
    const ok = await get(server, '/metrics');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('mip4_test_total 1');
    expect(server.counters).toEqual({ scrapes: 1, failures: 1 });
  });

  it('a port in use is a MetricsListenError naming metrics.listen and what to do', async () => {
    const first = await serve();
    const second = startMetricsServer({ address: '127.0.0.1', port: first.port }, buildRegistries({ role: 'ha', version: '1', engine: 'compiled' }, () => {}, { processMetrics: false }));
    await expect(second).rejects.toBeInstanceOf(MetricsListenError);
    await expect(second).rejects.toThrow(`metrics.listen 127.0.0.1:${first.port}: the port is in use by another process; pick another port (EADDRINUSE)`);
  });

  it('Accept negotiation: only an openmetrics-text media range selects OpenMetrics', () => {
    expect(wantsOpenMetrics(undefined)).toBe(false);
    expect(wantsOpenMetrics('text/plain')).toBe(false);
    expect(wantsOpenMetrics('application/openmetrics-text')).toBe(true);
    expect(wantsOpenMetrics('text/plain;q=0.5, application/openmetrics-text;version=1.0.0')).toBe(true);
    expect(wantsOpenMetrics('application/openmetrics-textual')).toBe(false);
  });
});
