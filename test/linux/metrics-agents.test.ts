/**
 * `mip4 fa` and `mip4 mn` with a metrics section, each on a veth in a network namespace this
 * file creates (removed in afterAll), scraped from inside the namespace: the foreign agent's
 * advertisements and the mobile node's solicitations (no agent answers it) show up in the
 * advertisement and discovery families, and the expositions pass promtool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, inNamespace, linuxSkipReason, Namespaces, titled } from './netns.js';
import { DaemonProcess } from '../support/daemon-process.js';
import { writePrivateFile } from '../support/files.js';
import { promtoolCheck, promtoolMissing, sampleValue, textSamples } from '../support/exposition.js';

const skip = linuxSkipReason();
const pid = process.pid;
const NS = { fa: `mip4-i14f-${pid}`, mn: `mip4-i14n-${pid}` };
const IF = { fa: `m4a${pid}`, mn: `m4n${pid}` };

const namespaces = new Namespaces();
const daemons: DaemonProcess[] = [];
const dir = skip === undefined ? mkdtempSync(join(tmpdir(), 'mip4-metrics-agents-')) : '';

function scrape(namespace: string, url: string): string {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (r.status !== 200) process.exit(3); process.stdout.write(await r.text()); }, () => process.exit(4))`;
  const run = inNamespace(namespace, process.execPath, ['-e', script], 15_000);
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

function daemon(namespace: string, args: string[]): DaemonProcess {
  const child = new DaemonProcess(args, { command: ['ip', 'netns', 'exec', namespace, process.execPath, 'bin/mip4.js'] });
  daemons.push(child);
  return child;
}

async function linesOf(child: DaemonProcess, event: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (child.lines.filter((l) => l.event === event).length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} ${event} lines in ${timeoutMs} ms; stderr:\n${child.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(() => {
  if (skip !== undefined) return;
  ensureBuilt();
  namespaces.add(NS.fa);
  namespaces.add(NS.mn);
  // One veth pair joins the two namespaces; the tests run one after the other (the agent stopped
  // before the node starts), so the node hears no advertisement and keeps soliciting.
  namespaces.veth({ ns: NS.fa, name: IF.fa, cidr: '203.0.113.1/24' }, { ns: NS.mn, name: IF.mn, cidr: '203.0.113.50/24' });
  // No address on the node's side: one there would be taken as a co-located care-of address
  // (the node follows the kernel's addresses), and this node is to keep searching for an agent.
  inNamespace(NS.mn, 'ip', ['addr', 'flush', 'dev', IF.mn]);
}, 180_000);

afterAll(() => {
  for (const child of daemons) child.kill();
  namespaces.cleanup();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('mip4 fa and mip4 mn serving /metrics (child processes, in namespaces)', () => {
  let faText = '';
  let mnText = '';

  it.skipIf(skip !== undefined)(
    titled('mip4 fa: advertisements counted as they are sent, no visitors, role fa; the count at stop is not below the scrape', skip),
    async () => {
      const config = join(dir, 'fa.yaml');
      writePrivateFile(
        config,
        `foreignAgent:\n  interface: ${IF.fa}\n  address: 203.0.113.1\nadvertisement:\n  lifetime: 6\n  maxInterval: 1\nmetrics:\n  listen: 127.0.0.1:0\n`,
      );
      const fa = daemon(NS.fa, ['fa', '--config', config]);
      const listening = await fa.line('listening');
      await linesOf(fa, 'advertisement', 2, 10_000);
      const logged = fa.lines.filter((l) => l.event === 'advertisement').length;
      faText = scrape(NS.fa, String(listening.metrics));
      const samples = textSamples(faText);
      const sent = sampleValue(samples, 'mip4_agent_advertisements_sent_total')!;
      expect(sent).toBeGreaterThanOrEqual(logged);
      expect(sampleValue(samples, 'mip4_fa_visitors')).toBe(0);
      expect(sampleValue(samples, 'mip4_fa_requests_received_total')).toBe(0);
      expect(sampleValue(samples, 'mip4_build_info', { role: 'fa' })).toBe(1);
      // Read from the kernel at the scrape (SO_MEMINFO of the IP-in-IP and visitor-link sockets): nothing overflowed.
      expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tunnel-receive-queue' })).toBe(0);
      expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-link-receive-queue' })).toBe(0);
      await fa.stop();
      const stopped = await fa.line('stopped');
      expect(fa.exit).toEqual({ code: 0, signal: null });
      expect((stopped.counters as { advertisements: number }).advertisements).toBeGreaterThanOrEqual(sent);
    },
    40_000,
  );

  it.skipIf(skip !== undefined)(
    titled('mip4 mn: solicitations counted, searching, not registered, role mn', skip),
    async () => {
      const config = join(dir, 'mn.yaml');
      writePrivateFile(
        config,
        `mobileNode:\n  interface: ${IF.mn}\n  homeAddress: 198.51.100.10\n  homeAgent: 198.51.100.1\n  homeNetwork: 198.51.100.0/24\n  configureHost: false\nhomeAgentAssociation:\n  spi: 4096\n  key: 00112233445566778899aabbccddeeff\nmetrics:\n  listen: 127.0.0.1:0\n`,
      );
      const mn = daemon(NS.mn, ['mn', '--config', config]);
      const started = await mn.line('started');
      await linesOf(mn, 'solicitation', 1, 10_000);
      const logged = mn.lines.filter((l) => l.event === 'solicitation').length;
      mnText = scrape(NS.mn, String(started.metrics));
      const samples = textSamples(mnText);
      expect(sampleValue(samples, 'mip4_mn_solicitations_sent_total')).toBeGreaterThanOrEqual(logged);
      expect(sampleValue(samples, 'mip4_mn_attachment', { attachment: 'searching' })).toBe(1);
      expect(sampleValue(samples, 'mip4_mn_registered')).toBe(0);
      expect(sampleValue(samples, 'mip4_mn_requests_sent_total')).toBe(0);
      expect(sampleValue(samples, 'mip4_build_info', { role: 'mn' })).toBe(1);
      expect(sampleValue(samples, 'mip4_dataplane_drops_total', { reason: 'kernel-tunnel-receive-queue' })).toBe(0);
      await mn.stop();
      expect(mn.exit).toEqual({ code: 0, signal: null });
    },
    40_000,
  );

  const promtoolSkip = skip ?? promtoolMissing();
  it.skipIf(promtoolSkip !== undefined)(titled('promtool check metrics passes both scrapes', promtoolSkip), () => {
    for (const text of [faText, mnText]) {
      expect(text).toContain('mip4_build_info');
      expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    }
  });
});
