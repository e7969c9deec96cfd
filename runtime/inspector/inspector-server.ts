/**
 * The live inspector (`--inspect ADDR:PORT`, `inspect()` in the library API): a page served on
 * node:http with every asset from the package (no CDN: it works offline) that draws each
 * machine's chart (the same ELK layout as `mip4 chart --format svg`), live per-state counts,
 * a searchable actor table and the selected actor's transitions.
 *
 * Scale: counts are sampled from the actor hosts' own per-state tallies on a timer (O(states),
 * never O(actors)) and served from the last sample; a search returns a bounded page; only the
 * selected actor's transitions are streamed (server-sent events), through the host's `watch`
 * hook, which costs the agent nothing while nobody watches.
 *
 * Safety: 127.0.0.1 by default; any other address only with `allowNonLoopback` (the CLI's
 * --inspect-public). Rows carry only fields the agents chose (runtime/actors/inspection.ts): no
 * key and no authenticator can appear. Requests naming another Host are refused (a DNS rebinding
 * page cannot read it), and the demo's POST controls want a JSON body (a cross-site form cannot send one).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopbackAddress } from './inspect-address.js';
export { isLoopbackAddress, parseInspectAddress } from './inspect-address.js';
import type { InspectedHost } from '../actors/inspection.js';
import type { TransitionRecord } from '../actors/actor-host.js';
import { layoutChart } from './chart-layout.js';
import { layoutToSvg } from './chart-svg.js';
import { CHARTED_MACHINES } from './charts.js';
import { machineChart } from './machine-chart.js';
import { DEMO_SPEEDS, type DemoPace, type DemoSpeed } from './demo-pace.js';
import { INSPECTOR_HTML } from './page-html.js';

/** One agent (a daemon runs one; the demo runs several) and its actor hosts. */
export interface InspectorSource {
  /** Shown on the page: 'ha', 'fa1', 'mn', … unique per inspector. */
  readonly name: string;
  readonly hosts: readonly InspectedHost[];
}

/** What the demo shows beside its clock controls: the network and where the node is. */
export interface DemoView {
  readonly simulatedMs: number;
  readonly phase: string;
  readonly segments: ReadonlyArray<{ readonly name: string; readonly prefix: string }>;
  readonly hosts: ReadonlyArray<{ readonly name: string; readonly segments: readonly string[]; readonly addresses: readonly string[] }>;
  /** The node's segment and how it is reached ('home', 'FA1', 'FA2', 'co-located'). */
  readonly attachment: { readonly segment: string; readonly via: string };
}

export interface InspectorOptions {
  readonly listen: { readonly address: string; readonly port: number };
  /** Required for an address outside 127.0.0.0/8 and ::1. */
  readonly allowNonLoopback?: boolean;
  readonly sources: readonly InspectorSource[];
  /** How often the counts are sampled (default 1000 ms). */
  readonly sampleIntervalMs?: number;
  /** The demo's clock and topology; absent for a daemon. */
  readonly demo?: { readonly pace: DemoPace; readonly view: () => DemoView };
  /** Where the page's script is (default: page/app.js beside this module, compiled by tsconfig.page.json). */
  readonly scriptPath?: string;
}

export interface RunningInspector {
  readonly address: string;
  readonly port: number;
  /** `http://address:port/`, for the log. */
  readonly url: string;
  close(): Promise<void>;
}

/** The listen address is refused or could not be bound; the message names the option and the fix. */
export class InspectorListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InspectorListenError';
  }
}

const MAX_ROWS = 200;

interface ChartView {
  readonly name: string;
  readonly machine: string;
  readonly states: readonly string[];
  readonly svg: string;
}

interface CountsSample {
  readonly sampledAt: number;
  readonly sources: ReadonlyArray<{
    readonly name: string;
    readonly hosts: ReadonlyArray<{ readonly chart: string; readonly kind: string; readonly size: number; readonly counts: Readonly<Record<string, number>> }>;
  }>;
}

export async function startInspector(options: InspectorOptions): Promise<RunningInspector> {
  const { listen } = options;
  if (!isLoopbackAddress(listen.address) && options.allowNonLoopback !== true) {
    throw new InspectorListenError(
      `--inspect ${listen.address}:${listen.port}: the inspector listens on loopback only unless asked; use 127.0.0.1, or add --inspect-public to serve it on ${listen.address} (it shows addresses and states, never keys)`,
    );
  }
  const script = await readPageScript(options.scriptPath);

  // Charts of the machines the sources run, laid out once.
  const chartNames = [...new Set(options.sources.flatMap((s) => s.hosts.map((h) => h.chart)))].filter((name) => name in CHARTED_MACHINES);
  const charts: ChartView[] = [];
  for (const name of chartNames) {
    const chart = machineChart(await CHARTED_MACHINES[name]!.load());
    charts.push({ name, machine: chart.machine, states: chart.states.map((s) => s.id), svg: layoutToSvg(await layoutChart(chart)) });
  }
  const machineOf = new Map(charts.map((c) => [c.name, c.machine]));
  const fullState = (chart: string, state: string) => `${machineOf.get(chart) ?? chart}.${state}`;

  let sample: CountsSample = { sampledAt: Date.now(), sources: [] };
  const takeSample = () => {
    sample = {
      sampledAt: Date.now(),
      sources: options.sources.map((source) => ({
        name: source.name,
        hosts: source.hosts.map((host) => {
          const counts: Record<string, number> = {};
          for (const [state, count] of host.stateCounts()) counts[fullState(host.chart, state)] = count;
          return { chart: host.chart, kind: host.kind, size: host.size(), counts };
        }),
      })),
    };
  };
  takeSample();
  const sampler = setInterval(takeSample, options.sampleIntervalMs ?? 1000);
  sampler.unref();

  const streams = new Set<ServerResponse>();
  const json = (response: ServerResponse, status: number, body: unknown) =>
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));

  const hostOf = (sourceName: string | null, chart: string | null): InspectedHost | undefined =>
    options.sources.find((s) => s.name === sourceName)?.hosts.find((h) => h.chart === chart);

  const answer = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    if (request.method === 'POST' && options.demo !== undefined && (path === '/api/demo/speed' || path === '/api/demo/step')) {
      if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
        json(response, 415, { error: 'send a JSON body (content-type: application/json)' });
        return;
      }
      const body = await readBody(request);
      if (path === '/api/demo/step') options.demo.pace.step();
      else {
        const speed = (body as { speed?: unknown } | undefined)?.speed;
        if (!DEMO_SPEEDS.includes(speed as DemoSpeed)) {
          json(response, 400, { error: `speed must be one of ${DEMO_SPEEDS.join(', ')} (0 pauses)` });
          return;
        }
        options.demo.pace.setSpeed(speed as DemoSpeed);
      }
      json(response, 200, { speed: options.demo.pace.speed });
      return;
    }
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    switch (path) {
      case '/':
      case '/index.html':
        response
          .writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            // Everything comes from this server: nothing else may load or run.
            'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            'cache-control': 'no-store',
          })
          .end(INSPECTOR_HTML);
        return;
      case '/app.js':
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(script);
        return;
      case '/api/charts':
        json(response, 200, { charts, demo: options.demo !== undefined, sources: options.sources.map((s) => ({ name: s.name, hosts: s.hosts.map((h) => ({ chart: h.chart, kind: h.kind })) })) });
        return;
      case '/api/counts':
        json(response, 200, sample);
        return;
      case '/api/actors': {
        const query = url.searchParams.get('q') ?? '';
        const limit = Math.max(1, Math.min(MAX_ROWS, Number(url.searchParams.get('limit') ?? 50) || 50));
        const rows: unknown[] = [];
        for (const source of options.sources) {
          for (const host of source.hosts) {
            if (rows.length >= limit) break;
            for (const row of host.rows(query, limit - rows.length)) {
              rows.push({ source: source.name, chart: host.chart, kind: host.kind, id: row.id, state: fullState(host.chart, row.state), fields: row.fields });
            }
          }
        }
        json(response, 200, { rows, limit });
        return;
      }
      case '/api/events': {
        const host = hostOf(url.searchParams.get('source'), url.searchParams.get('chart'));
        const actor = url.searchParams.get('actor');
        if (host === undefined || actor === null) {
          json(response, 404, { error: 'no such actor host: give source, chart and actor as the table lists them' });
          return;
        }
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        response.write(': watching\n\n');
        const chart = host.chart;
        const unwatch = host.watch(actor, (record: TransitionRecord) => {
          const event = { from: fullState(chart, record.from), to: fullState(chart, record.to), event: record.event, reason: record.reason, time: record.at };
          response.write(`event: transition\ndata: ${JSON.stringify(event)}\n\n`);
        });
        streams.add(response);
        const end = () => {
          unwatch();
          streams.delete(response);
        };
        request.on('close', end);
        response.on('close', end);
        return;
      }
      case '/api/demo':
        if (options.demo === undefined) {
          json(response, 404, { error: 'not a demo: the clock is real' });
          return;
        }
        json(response, 200, { speed: options.demo.pace.speed, view: options.demo.view() });
        return;
      default:
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://inspector');
    const host = request.headers.host ?? '';
    if (!allowedHost(host, listen.address, options.allowNonLoopback === true)) {
      response.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('this inspector answers only requests addressed to it\n');
      return;
    }
    answer(request, response, url).catch(() => {
      if (!response.headersSent) json(response, 500, { error: 'the inspector failed to answer' });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(new InspectorListenError(`--inspect ${listen.address}:${listen.port}: could not listen (${error.code ?? error.message})`));
    server.once('error', failed);
    server.listen(listen.port, listen.address, () => {
      server.off('error', failed);
      resolve();
    });
  });
  // After start a server error must not end the agent.
  server.on('error', () => {});
  const bound = server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: bound.address,
    port: bound.port,
    url: `http://${shown}:${bound.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sampler);
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The page's script: beside this module in dist/ (tsconfig.page.json compiles it there); run
 * from the sources (tests), the built copy under dist/.
 */
async function readPageScript(explicit: string | undefined): Promise<string> {
  const candidates = explicit !== undefined ? [explicit] : [new URL('./page/app.js', import.meta.url).pathname, new URL('../../dist/runtime/inspector/page/app.js', import.meta.url).pathname];
  for (const path of candidates) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      // Not there: the next place.
    }
  }
  throw new InspectorListenError(`the inspector page's script is missing (looked at ${candidates.join(', ')}); build it with npm run build`);
}

/** Loopback inspectors answer only to loopback names (DNS rebinding); a public one to any Host. */
function allowedHost(host: string, address: string, allowNonLoopback: boolean): boolean {
  if (allowNonLoopback) return true;
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === address || name === '::1' || name.startsWith('127.');
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > 1024) return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
