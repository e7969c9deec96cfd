/**
 * The `/metrics` endpoint (node:http): GET only, OpenMetrics when the scraper's Accept asks
 * for `application/openmetrics-text` (as Prometheus does), else the Prometheus text format
 * 0.0.4. Any other path is 404, any other method 405; a failing collection is a 500 for that
 * scrape, never the daemon's end.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistries } from './registry.js';

export const METRICS_PATH = '/metrics';

/** The listen address could not be bound; the message names `metrics.listen` and the fix. */
export class MetricsListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'MetricsListenError';
  }
}

export interface MetricsServer {
  /** Where it listens (the port the system chose when the config said 0). */
  readonly address: string;
  readonly port: number;
  /** `http://address:port/metrics`, for the log. */
  readonly url: string;
  /** Scrapes answered, and scrapes whose collection failed (500). */
  readonly counters: { scrapes: number; failures: number };
  close(): Promise<void>;
}

/** Whether the Accept header asks for OpenMetrics (any version; media ranges as the scraper writes them). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*application\/openmetrics-text\b/i.test(accept);
}

function why(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is in use by another process; pick another port';
    case 'EADDRNOTAVAIL':
      return 'no interface of this host has that address; use 127.0.0.1 or an address of this host';
    case 'EACCES':
      return 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); pick a port above 1023';
    default:
      return 'could not listen there';
  }
}

export async function startMetricsServer(listen: { readonly address: string; readonly port: number }, registries: MetricsRegistries): Promise<MetricsServer> {
  const counters = { scrapes: 0, failures: 0 };
  const answer = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }).end(`method ${request.method ?? '?'} not allowed: use GET\n`);
      return;
    }
    const registry = wantsOpenMetrics(request.headers.accept) ? registries.openMetrics : registries.prometheus;
    try {
      const body = await registry.metrics();
      counters.scrapes++;
      response.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } catch (error) {
      counters.failures++;
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`collecting the metrics failed: ${String(error)}\n`);
    }
  };
  const server = createServer((request, response) => {
    answer(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(`metrics.listen ${listen.address}:${listen.port}: ${why(error.code)} (${error.code ?? error.message})`, error.code));
    server.once('error', failed);
    server.listen(listen.port, listen.address, () => {
      server.off('error', failed);
      resolve();
    });
  });
  // After start a server error (rare: the socket failing) must not end the daemon.
  server.on('error', () => {});
  const bound = server.address() as AddressInfo;
  return {
    address: bound.address,
    port: bound.port,
    url: `http://${bound.address}:${bound.port}${METRICS_PATH}`,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
