/**
 * The inspector page's script (plain TypeScript, compiled by tsconfig.page.json, served by the
 * agent itself). It draws the charts the server laid out, paints the sampled per-state counts,
 * lists actors with a search, and follows the selected actor's transitions by server-sent events.
 */

interface ChartView {
  readonly name: string;
  readonly machine: string;
  readonly states: readonly string[];
  readonly svg: string;
}
interface CountsSample {
  readonly sampledAt: number;
  readonly sources: ReadonlyArray<{ readonly name: string; readonly hosts: ReadonlyArray<{ readonly chart: string; readonly kind: string; readonly size: number; readonly counts: Record<string, number> }> }>;
}
interface ActorRow {
  readonly source: string;
  readonly chart: string;
  readonly kind: string;
  readonly id: string;
  readonly state: string;
  readonly fields: Record<string, string>;
}
interface Transition {
  readonly from: string;
  readonly to: string;
  readonly event: string;
  readonly reason: string;
  readonly time: number;
}
interface DemoState {
  readonly speed: number;
  readonly view: {
    readonly simulatedMs: number;
    readonly phase: string;
    readonly segments: ReadonlyArray<{ readonly name: string; readonly prefix: string }>;
    readonly hosts: ReadonlyArray<{ readonly name: string; readonly segments: readonly string[]; readonly addresses: readonly string[] }>;
    readonly attachment: { readonly segment: string; readonly via: string };
  };
}

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return (await response.json()) as T;
}

function element(tag: string, text?: string, className?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className !== undefined) e.className = className;
  return e;
}

let selected: { source: string; chart: string; id: string; state: string } | undefined;
let events: EventSource | undefined;

function stateGroup(chart: string, state: string): Element | null {
  return document.querySelector(`section[data-chart="${CSS.escape(chart)}"] g.state[data-state="${CSS.escape(state)}"]`);
}

/** Highlights the selected actor's state and its parents (a nested state is in its parents too). */
function highlight(): void {
  for (const g of document.querySelectorAll('g.state.current')) g.classList.remove('current');
  if (selected === undefined) return;
  const parts = selected.state.split('.');
  for (let i = 2; i <= parts.length; i++) stateGroup(selected.chart, parts.slice(0, i).join('.'))?.classList.add('current');
}

function paintCounts(sample: CountsSample): void {
  const totals = new Map<string, Map<string, number>>();
  let actors = 0;
  for (const source of sample.sources) {
    for (const host of source.hosts) {
      actors += host.size;
      const chart = totals.get(host.chart) ?? new Map<string, number>();
      for (const [state, count] of Object.entries(host.counts)) {
        // A nested state's actors are in its parents too.
        const parts = state.split('.');
        for (let i = 2; i <= parts.length; i++) {
          const id = parts.slice(0, i).join('.');
          chart.set(id, (chart.get(id) ?? 0) + count);
        }
      }
      totals.set(host.chart, chart);
    }
  }
  for (const section of document.querySelectorAll<HTMLElement>('section[data-chart]')) {
    const counts = totals.get(section.dataset.chart ?? '') ?? new Map<string, number>();
    for (const g of section.querySelectorAll<SVGGElement>('g.state')) {
      const n = counts.get(g.dataset.state ?? '') ?? 0;
      const text = g.querySelector('text.count');
      if (text !== null) text.textContent = n > 0 ? String(n) : '';
      g.classList.toggle('occupied', n > 0);
    }
  }
  byId('status').textContent = `${actors} actors · sampled ${new Date(sample.sampledAt).toLocaleTimeString()}`;
}

async function refreshCounts(): Promise<void> {
  paintCounts(await getJson<CountsSample>('/api/counts'));
}

async function refreshActors(): Promise<void> {
  const query = byId<HTMLInputElement>('search').value.trim();
  const { rows } = await getJson<{ rows: ActorRow[] }>(`/api/actors?limit=100&q=${encodeURIComponent(query)}`);
  const body = byId('actors');
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = element('tr', undefined, 'actor');
      tr.dataset.actor = row.id;
      tr.dataset.source = row.source;
      tr.dataset.chart = row.chart;
      tr.dataset.state = row.state;
      if (selected !== undefined && selected.id === row.id && selected.source === row.source && selected.chart === row.chart) {
        tr.classList.add('selected');
        selected.state = row.state;
      }
      tr.append(
        element('td', row.source),
        element('td', row.kind),
        element('td', row.id),
        element('td', row.state.split('.').slice(1).join('.')),
        element('td', Object.entries(row.fields).map(([k, v]) => `${k} ${v}`).join(' · '), 'muted'),
      );
      tr.addEventListener('click', () => select(row));
      return tr;
    }),
  );
  highlight();
}

function select(row: ActorRow): void {
  selected = { source: row.source, chart: row.chart, id: row.id, state: row.state };
  for (const tr of document.querySelectorAll('tr.actor.selected')) tr.classList.remove('selected');
  for (const tr of document.querySelectorAll<HTMLElement>('tr.actor')) {
    if (tr.dataset.actor === row.id && tr.dataset.source === row.source && tr.dataset.chart === row.chart) tr.classList.add('selected');
  }
  byId('selected').textContent = `${row.source} ${row.id}`;
  byId('transitions').replaceChildren();
  highlight();
  document.querySelector(`section[data-chart="${CSS.escape(row.chart)}"]`)?.scrollIntoView({ block: 'nearest' });
  events?.close();
  events = new EventSource(`/api/events?source=${encodeURIComponent(row.source)}&chart=${encodeURIComponent(row.chart)}&actor=${encodeURIComponent(row.id)}`);
  events.addEventListener('transition', (message) => {
    const t = JSON.parse((message as MessageEvent<string>).data) as Transition;
    if (selected !== undefined) selected.state = t.to;
    const short = (s: string) => s.split('.').slice(1).join('.') || s;
    // The agent's clock (the demo's is simulated): shown as a UTC time of day to the millisecond.
    const at = new Date(t.time).toISOString().slice(11, 23);
    const item = element('li', `${at}  ${short(t.from)} → ${short(t.to)}  on ${t.event}  (${t.reason})`, 'new transition');
    byId('transitions').append(item);
    item.scrollIntoView({ block: 'nearest' });
    highlight();
  });
}

async function refreshDemo(): Promise<void> {
  const demo = await getJson<DemoState>('/api/demo');
  const v = demo.view;
  byId('clock').textContent = `simulated ${(v.simulatedMs / 1000).toFixed(1)} s · ${demo.speed === 0 ? 'paused' : `${demo.speed}×`} · phase ${v.phase}`;
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-speed]')) button.classList.toggle('active', Number(button.dataset.speed) === demo.speed);
  byId('attachment').textContent = `the mobile node is on ${v.attachment.segment}, reached ${v.attachment.via === 'home' ? 'at home' : `via ${v.attachment.via}`}`;
  byId('topology').replaceChildren(
    ...v.segments.map((segment) => {
      const box = element('div', undefined, `segment${segment.name === v.attachment.segment ? ' attached' : ''}`);
      box.dataset.segment = segment.name;
      box.append(element('strong', segment.name), element('div', segment.prefix, 'muted'));
      for (const host of v.hosts.filter((h) => h.segments.includes(segment.name))) {
        box.append(element('div', `${host.name} ${host.addresses.join(', ')}`, `host${host.name === 'mn' ? ' node' : ''}`));
      }
      return box;
    }),
  );
}

async function post(path: string, body: unknown): Promise<void> {
  await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await refreshDemo();
}

async function start(): Promise<void> {
  const info = await getJson<{ charts: ChartView[]; demo: boolean }>('/api/charts');
  const holder = byId('charts');
  for (const chart of info.charts) {
    const section = element('section');
    section.dataset.chart = chart.name;
    section.append(element('h2', `${chart.name} — ${chart.machine}`));
    const box = element('div', undefined, 'chart-box');
    // The server drew this SVG from the machine definition, every text escaped.
    box.innerHTML = chart.svg;
    section.append(box);
    holder.append(section);
  }
  byId('search').addEventListener('input', () => void refreshActors());
  const tick = (what: () => Promise<void>, ms: number) => {
    const run = () => what().catch((error: unknown) => (byId('status').textContent = `disconnected (${String(error)})`));
    void run();
    setInterval(run, ms);
  };
  tick(refreshCounts, 1000);
  // Searches are bounded (runtime/actors/inspection.ts) and typing searches at once; the list refreshes every 2 s.
  tick(refreshActors, 2000);
  if (info.demo) {
    byId('demo').hidden = false;
    for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-speed]')) {
      button.addEventListener('click', () => void post('/api/demo/speed', { speed: Number(button.dataset.speed) }));
    }
    byId('step').addEventListener('click', () => void post('/api/demo/step', {}));
    tick(refreshDemo, 500);
  }
  document.body.dataset.ready = 'true';
}

void start();
