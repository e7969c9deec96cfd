/**
 * The live inspector's server (runtime/inspector/inspector-server.ts) over a home agent on the
 * simulated clock: loopback by default, sampled counts, a bounded search, the selected actor's
 * transitions by server-sent events, and never a key or an authenticator in any answer.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startInspector, type RunningInspector } from '../../runtime/inspector/inspector-server.js';
import { DemoPace } from '../../runtime/inspector/demo-pace.js';
import { toHex } from '../../io/wire/bytes.js';
import { COA1, COA2, FA_KEY, Harness, MN1_KEY, MN2_KEY } from '../runtime/home-agent-harness.js';

const running: RunningInspector[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});

async function inspect(h: Harness, extra: Partial<Parameters<typeof startInspector>[0]> = {}): Promise<RunningInspector> {
  const started = await startInspector({ listen: { address: '127.0.0.1', port: 0 }, sources: [{ name: 'ha', hosts: [h.agent.inspected()] }], sampleIntervalMs: 20, ...extra });
  running.push(started);
  return started;
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, type: String(response.headers['content-type']) }));
    })
      .on('error', reject)
      .end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('inspector server', () => {
  it('listens on loopback; a non-loopback address is refused without allowNonLoopback, naming --inspect-public', async () => {
    const h = new Harness();
    const loopback = await inspect(h);
    expect(loopback.address).toBe('127.0.0.1');
    await expect(startInspector({ listen: { address: '0.0.0.0', port: 0 }, sources: [] })).rejects.toThrow(/--inspect-public/);
    await expect(startInspector({ listen: { address: '192.0.2.1', port: 0 }, sources: [] })).rejects.toThrow(/loopback only/);
  });

  it('serves the page and its script from itself, with a policy that loads nothing from elsewhere', async () => {
    const inspector = await inspect(new Harness());
    const page = await get(inspector.url);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script type="module" src="/app.js">');
    expect(page.body).not.toMatch(/https?:\/\//);
    const script = await get(`${inspector.url}app.js`);
    expect(script.status).toBe(200);
    expect(script.type).toContain('javascript');
    expect(script.body).toContain('/api/counts');
  });

  it('refuses a request naming another Host (DNS rebinding)', async () => {
    const inspector = await inspect(new Harness());
    expect((await get(`${inspector.url}api/counts`, { host: 'attacker.example:80' })).status).toBe(421);
    expect((await get(`${inspector.url}api/counts`, { host: `localhost:${inspector.port}` })).status).toBe(200);
  });

  it("draws the agent's charts with every state, and counts per state change when a node registers (sampled)", async () => {
    const h = new Harness();
    const inspector = await inspect(h);
    const charts = JSON.parse((await get(`${inspector.url}api/charts`)).body) as { charts: Array<{ name: string; states: string[]; svg: string }> };
    const ha = charts.charts.find((c) => c.name === 'ha')!;
    for (const state of ha.states) expect(ha.svg).toContain(`data-state="${state}"`);
    const before = JSON.parse((await get(`${inspector.url}api/counts`)).body) as { sources: Array<{ hosts: Array<{ counts: Record<string, number> }> }> };
    expect(before.sources[0]!.hosts[0]!.counts).toEqual({});
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    await sleep(80);
    const after = JSON.parse((await get(`${inspector.url}api/counts`)).body) as typeof before;
    expect(after.sources[0]!.hosts[0]!.counts).toEqual({ 'binding.registered.timed': 1 });
  });

  it('lists actors with their context, searchable, at most the asked page', async () => {
    const h = new Harness();
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    const inspector = await inspect(h);
    const all = JSON.parse((await get(`${inspector.url}api/actors`)).body) as { rows: Array<{ id: string; state: string; fields: Record<string, string> }> };
    expect(all.rows).toEqual([
      expect.objectContaining({ id: 'binding:198.51.100.10', state: 'binding.registered.timed', fields: expect.objectContaining({ careOfAddress: '203.0.113.77', lifetimeLeft: '1200' }) }),
    ]);
    expect(JSON.parse((await get(`${inspector.url}api/actors?q=203.0.113.77`)).body).rows).toHaveLength(1);
    expect(JSON.parse((await get(`${inspector.url}api/actors?q=203.0.113.99`)).body).rows).toHaveLength(0);
    expect(JSON.parse((await get(`${inspector.url}api/actors?limit=0`)).body).limit).toBe(50);
  });

  it("streams the selected actor's transitions {from, to, event, reason, time}, and stops when the page goes", async () => {
    const h = new Harness();
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    const inspector = await inspect(h);
    const received: string[] = [];
    const stream = request(`${inspector.url}api/events?source=ha&chart=ha&actor=${encodeURIComponent('binding:198.51.100.10')}`);
    const open = new Promise<import('node:http').IncomingMessage>((resolve) => stream.on('response', resolve));
    stream.end();
    const response = await open;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => received.push(chunk));
    await sleep(30);
    h.ask({ identification: h.fresh(), careOfAddress: COA2, lifetime: 1200 }, { source: COA2 });
    await sleep(50);
    const events = received
      .join('')
      .split('\n\n')
      .filter((block) => block.startsWith('event: transition'))
      .map((block) => JSON.parse(block.split('data: ')[1]!) as Record<string, unknown>);
    expect(events).toEqual([{ from: 'binding.registered.timed', to: 'binding.registered.timed', event: 'register', reason: 'care-of-address-changed', time: h.clock.now() }]);
    response.destroy();
    await sleep(30);
    // Nobody watches any more: the host's hook is gone (a step pays one check again).
    expect((h.agent as unknown as { host: { watchers: unknown } }).host.watchers).toBeUndefined();
  });

  it('shows no key and no authenticator in any answer', async () => {
    const h = new Harness();
    h.ask({ identification: h.fresh(), careOfAddress: COA1, lifetime: 1200 }, { source: COA1 });
    const inspector = await inspect(h);
    const secrets = [MN1_KEY, MN2_KEY, FA_KEY].flatMap((k) => [toHex(k.key), Buffer.from(k.key).toString('base64'), Buffer.from(k.key).toString('latin1')]);
    const authenticators = h.sent.flatMap((s) => s.reply.extensions.flatMap((e) => (e.kind === 'auth' ? [toHex(e.authenticator), Buffer.from(e.authenticator).toString('base64')] : [])));
    expect(authenticators.length).toBeGreaterThan(0);
    const bodies = await Promise.all(['', 'app.js', 'api/charts', 'api/counts', 'api/actors', 'api/actors?q=198'].map((p) => get(`${inspector.url}${p}`)));
    for (const { body } of bodies) {
      for (const secret of [...secrets, ...authenticators]) expect(body.toLowerCase()).not.toContain(secret.toLowerCase());
      expect(body).not.toMatch(/"(key|authenticator|spi)"/i);
    }
  });

  it("the demo's clock: speed 0 pauses, a step lets one tick go, a bad speed is a 400, and a POST needs a JSON body", async () => {
    const pace = new DemoPace(0);
    const inspector = await inspect(new Harness(), {
      demo: { pace, view: () => ({ simulatedMs: 0, phase: 'home', segments: [], hosts: [], attachment: { segment: 'home', via: 'home' } }) },
    });
    let ticks = 0;
    const loop = (async () => {
      for (let i = 0; i < 2; i++) {
        await pace.tick(100);
        ticks++;
      }
    })();
    await sleep(40);
    expect(ticks).toBe(0);
    const post = (path: string, body: string, type = 'application/json') =>
      new Promise<number>((resolve, reject) => {
        const r = request(`${inspector.url}${path}`, { method: 'POST', headers: { 'content-type': type } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on('error', reject);
        r.end(body);
      });
    expect(await post('api/demo/step', '{}', 'text/plain')).toBe(415);
    expect(await post('api/demo/step', '{}')).toBe(200);
    await sleep(20);
    expect(ticks).toBe(1);
    expect(await post('api/demo/speed', '{"speed":3}')).toBe(400);
    expect(await post('api/demo/speed', '{"speed":10}')).toBe(200);
    await loop;
    expect(ticks).toBe(2);
    expect(JSON.parse((await get(`${inspector.url}api/demo`)).body).speed).toBe(10);
  });
});

describe('--inspect on the command line', () => {
  it('a non-loopback --inspect without --inspect-public is a usage error (exit 2) before anything starts; a malformed one too', async () => {
    const { main } = await import('../../runtime/cli/main.js');
    for (const args of [
      ['ha', '--config', '/nonexistent.yaml', '--inspect', '192.0.2.1:8434'],
      ['demo', '--inspect', '0.0.0.0:8434'],
      ['fa', '--config', '/nonexistent.yaml', '--inspect', 'nonsense'],
      ['demo', '--speed', '10'],
    ]) {
      const err: string[] = [];
      expect(await main(args, { out: () => {}, err: (l) => err.push(l) }), args.join(' ')).toBe(2);
      expect(err.join('\n')).toMatch(/--inspect-public|ADDR:PORT|--speed goes with --inspect/);
    }
  });
});
