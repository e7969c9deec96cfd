/**
 * The live inspector in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against `mip4 demo --inspect` and `mip4 ha --inspect` as child processes.
 * Checks what a person sees: every state of every machine drawn, counts moving when a node
 * registers, a selected binding's transitions, no console errors; writes the README's
 * screenshots (docs/images/inspector-*.png).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';

/** Debian's chromium package (.ci/run installs it); MIP4_CHROMIUM names another binary. */
const CHROMIUM = process.env.MIP4_CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: apt-get install chromium (or set MIP4_CHROMIUM)`;
if (missing !== undefined) console.warn(`skipping the browser tests: ${missing}`);

const run = promisify(execFile);

/** The page's document, as the functions run inside the browser see it (the tests' lib has no DOM). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null; querySelectorAll(selector: string): { length: number } };

/** Waits until the chart's count badge on `state` reads `text`. */
const countReads = (page: Page, chart: string, state: string, text: string, timeout: number) =>
  page.waitForFunction(
    ([c, s, t]) => document.querySelector(`section[data-chart="${c}"] g.state[data-state="${s}"] > text.count`)?.textContent === t,
    [chart, state, text] as const,
    { timeout },
  );

/** A mip4 child whose stderr/stdout lines are kept, to find the inspector's URL. */
function startMip4(args: string[]): { child: ChildProcess; url: Promise<string>; output: string[] } {
  const child = spawn(process.execPath, ['bin/mip4.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const url = new Promise<string>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      const found = /http:\/\/127\.0\.0\.1:\d+\//.exec(output.join(''));
      if (found) resolve(found[0]);
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.on('exit', (code) => reject(new Error(`mip4 ${args[0]} exited (${code}) before serving: ${output.join('')}`)));
  });
  return { child, url, output };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Opens the page and records console errors and uncaught exceptions. */
async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  return { page, errors };
}

/** Every state of every chart the server lists, looked for in the page's DOM. */
async function statesMissingFromDom(page: Page, url: string): Promise<{ charts: number; states: number; missing: string[] }> {
  return page.evaluate(async (base) => {
    const info = (await (await fetch(`${base}api/charts`)).json()) as { charts: Array<{ name: string; states: string[] }> };
    const missing: string[] = [];
    let states = 0;
    for (const chart of info.charts) {
      for (const state of chart.states) {
        states++;
        if (document.querySelector(`section[data-chart="${chart.name}"] g.state[data-state="${state}"]`) === null) missing.push(`${chart.name}:${state}`);
      }
    }
    return { charts: info.charts.length, states, missing };
  }, url);
}

async function getJson(base: string, path: string): Promise<unknown> {
  return (await fetch(`${base}${path}`)).json();
}

/** The home agent's bindings in registered.timed now (the actor rows are live; the counts are sampled each second). */
async function registeredBindings(base: string): Promise<number> {
  const { rows } = (await getJson(base, 'api/actors?limit=100&q=binding:')) as { rows: Array<{ chart: string; state: string }> };
  return rows.filter((row) => row.chart === 'ha' && row.state === 'binding.registered.timed').length;
}

/** Steps the paused demo (one tick each) until `reached` holds; at most 300 ticks (30 s simulated). */
async function stepDemoUntil(base: string, reached: () => Promise<boolean>): Promise<void> {
  for (let steps = 0; steps < 300; steps++) {
    if (await reached()) return;
    await fetch(`${base}api/demo/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the demo did not get there in 300 steps');
}

const countOf = (page: Page, chart: string, state: string) =>
  page.locator(`section[data-chart="${chart}"] g.state[data-state="${state}"] > text.count`).first().textContent();

describe.skipIf(missing !== undefined)('inspector in a browser', () => {
  let browser: Browser;
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mip4-inspector-'));

  beforeAll(async () => {
    ensureBuilt();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  }, 30_000);

  afterAll(async () => {
    for (const child of children) await stop(child);
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mip4 demo --inspect: every state of the six machines drawn, the node roams at 10x, a binding plays its transitions', async () => {
    const demo = startMip4(['demo', '--inspect', '127.0.0.1:0', '--speed', '0']);
    children.push(demo.child);
    const url = await demo.url;
    const { page, errors } = await openPage(browser, url);

    const drawn = await statesMissingFromDom(page, url);
    expect(drawn.charts).toBe(6);
    expect(drawn.missing).toEqual([]);
    await page.waitForSelector('#topology .segment.attached[data-segment="home"]');
    expect(await countOf(page, 'ha', 'binding.registered.timed')).toBe('');

    // Paused, the demo goes one 100 ms tick per step: step until the node is on foreign-1 and
    // registered through FA1 (10 s simulated). Stepping, not 10x, so that a busy machine cannot
    // let the node pass on to foreign-2 (1 s later at 10x) before the page looks.
    await page.click('#step');
    await stepDemoUntil(url, async () => {
      const demo = (await getJson(url, 'api/demo')) as { view: { attachment: { segment: string } } };
      return demo.view.attachment.segment === 'foreign-1' && (await registeredBindings(url)) === 1;
    });
    await countReads(page, 'ha', 'binding.registered.timed', '1', 10_000);
    await page.waitForSelector('#topology .segment.attached[data-segment="foreign-1"]', { timeout: 5000 });
    await page.screenshot({ path: join(ROOT, 'docs/images/inspector-demo.png'), fullPage: false });

    // Select the binding; the move to foreign-2 (20 s simulated) changes its care-of address.
    await page.fill('#search', 'binding:');
    await page.click('tr.actor[data-chart="ha"]');
    await page.waitForSelector('section[data-chart="ha"] g.state.current[data-state="binding.registered.timed"]');
    await page.click('button[data-speed="10"]');
    await page.waitForSelector('#transitions li.transition', { timeout: 15_000 });
    const transition = await page.locator('#transitions li.transition').first().textContent();
    expect(transition).toMatch(/registered\.timed → registered\.timed\s+on register\s+\(care-of-address-changed\)/);
    await page.click('button[data-speed="0"]');
    await page.locator('section[data-chart="ha"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ROOT, 'docs/images/inspector-binding.png'), fullPage: false });
    expect(errors).toEqual([]);
    await page.close();
  }, 40_000);

  it('mip4 ha --inspect under registrations: counts change when a node registers, no console errors', async () => {
    const port = 20_000 + (process.pid % 20_000);
    const config = join(dir, 'ha.yaml');
    const key = '00112233445566778899aabbccddeeff';
    writePrivateFile(
      config,
      `homeAgent:\n  address: 127.0.0.1\n  homeNetwork: 127.0.0.0/8\n  listen: [127.0.0.1:${port}]\nmobileNodes:\n` +
        [10, 11, 12].map((n) => `  - homeAddress: 127.0.0.${n}\n    spi: 1000\n    key: "${key}"\n`).join(''),
    );
    const ha = startMip4(['ha', '--config', config, '--inspect', '127.0.0.1:0']);
    children.push(ha.child);
    const url = await ha.url;
    const { page, errors } = await openPage(browser, url);
    const drawn = await statesMissingFromDom(page, url);
    expect(drawn.charts).toBe(1);
    expect(drawn.missing).toEqual([]);
    expect(await countOf(page, 'ha', 'binding.registered.timed')).toBe('');

    const register = (home: string, careOf: string) =>
      run(process.execPath, ['bin/mip4.js', 'register', '--home-agent', `127.0.0.1:${port}`, '--home-address', home, '--spi', '1000', '--key', key, '--care-of', careOf], { cwd: ROOT });
    await register('127.0.0.10', '192.0.2.77');
    await countReads(page, 'ha', 'binding.registered.timed', '1', 5000);
    await register('127.0.0.11', '192.0.2.78');
    await register('127.0.0.12', '192.0.2.79');
    await countReads(page, 'ha', 'binding.registered.timed', '3', 5000);
    await page.fill('#search', '127.0.0.11');
    await page.waitForFunction(() => document.querySelectorAll('tr.actor').length === 1);
    await page.click('tr.actor');
    await register('127.0.0.11', '192.0.2.80');
    await page.waitForSelector('#transitions li.transition', { timeout: 5000 });
    expect(await page.locator('#transitions li.transition').first().textContent()).toContain('care-of-address-changed');
    await page.screenshot({ path: join(ROOT, 'docs/images/inspector-ha.png'), fullPage: false });
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);
});
