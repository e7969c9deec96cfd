/**
 * The simulated network's pcap tap and its determinism: the same seed and the same inputs
 * give byte-identical captures and identical counters; tshark reads the captures without
 * malformation or expert warnings. Also: runtime/ha/home-link.ts (the home agent's ARP
 * executor) running on a SimHost interface through the Link layer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect, Exit, Scope } from 'effect';
import { Subject } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Link } from '../../io/link.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { IpProtocol } from '../../io/wire/ipv4.js';
import { decodePcap, LinkType } from '../../io/wire/pcap.js';
import type { ArpCommand } from '../../runtime/ha/home-agent.js';
import { attachHomeLink } from '../../runtime/ha/home-link.js';
import { B, bindUdp, echoRequest, MAC_R_B, R_B, twoLans } from './network-support.js';
import { missingTools } from '../support/tools.js';

const noTshark = missingTools('tshark');
const hasTshark = noTshark === undefined;
const skipReason = hasTshark ? '' : ` [SKIPPED: ${noTshark}]`;

/** A small mixed scenario on lossy, delayed segments: pings, UDP request/reply, an expired TTL, a broadcast. */
function scenario(seed: number) {
  const t = twoLans({ seed, lanA: { latencyMs: 3, loss: 0.15 }, lanB: { latencyMs: 4, loss: 0.15 } });
  const { clock, net, a, b, scope } = t;
  const capture = net.capture();
  const server = bindUdp(net, b, scope, { address: 0, port: 9, broadcast: true });
  const client = bindUdp(net, a, scope, { address: 0, port: 0 });
  server.onMessage((d) => server.send(d.data, d.address, d.port));
  for (let i = 0; i < 20; i++) {
    a.sendPacket({ protocol: IpProtocol.ICMP, destination: B, payload: echoRequest(1, i) });
    client.send(new Uint8Array([i, i, i]), B, 9);
    if (i % 5 === 0) a.sendPacket({ protocol: IpProtocol.ICMP, destination: B, ttl: 1, payload: echoRequest(2, i) });
    if (i % 7 === 0) server.send(new Uint8Array([0xbb]), ipv4('198.51.100.255'), 9);
    clock.advance(700);
  }
  clock.advance(10_000);
  const files = { 'lan-a': capture.pcap('lan-a'), 'lan-b': capture.pcap('lan-b') };
  const counters = net.counters();
  Effect.runSync(Scope.close(scope, Exit.void));
  return { files, counters, capture, start: t.clock };
}

describe('captures and determinism', () => {
  it('one pcap per segment, Ethernet link type, simulated time as timestamps', () => {
    const { files, capture } = scenario(3);
    const decoded = decodePcap(files['lan-a']);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.linkType).toBe(LinkType.Ethernet);
    const frames = capture.frames('lan-a');
    expect(decoded.value.records.length).toBe(frames.length);
    expect(decoded.value.records.map((r) => r.timestampUs)).toEqual(frames.map((f) => f.time * 1000));
    expect(frames.length).toBeGreaterThan(40);
    expect(capture.segments()).toEqual(['lan-a', 'lan-b']);
  });

  it('the same seed and inputs give byte-identical captures and counters; another seed does not', () => {
    const first = scenario(21);
    const second = scenario(21);
    expect(Buffer.from(second.files['lan-a']).equals(Buffer.from(first.files['lan-a']))).toBe(true);
    expect(Buffer.from(second.files['lan-b']).equals(Buffer.from(first.files['lan-b']))).toBe(true);
    expect(second.counters).toEqual(first.counters);
    expect(first.counters.segments['lan-a']!.lost).toBeGreaterThan(0);
    const other = scenario(22);
    expect(Buffer.from(other.files['lan-a']).equals(Buffer.from(first.files['lan-a']))).toBe(false);
  });

  let scratch: string | undefined;
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it.skipIf(!hasTshark)(`tshark reads every captured frame without malformation or expert warnings${skipReason}`, () => {
    const { files } = scenario(5);
    scratch = mkdtempSync(join(tmpdir(), 'mip4-sim-'));
    const protocols = new Set<string>();
    for (const [name, bytes] of Object.entries(files)) {
      const file = join(scratch, `${name}.pcap`);
      writeFileSync(file, bytes);
      const out = execFileSync(
        'tshark',
        ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'frame.protocols', '-e', '_ws.malformed', '-e', '_ws.expert.severity'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 },
      );
      const rows = out.trim().split('\n').map((line) => line.split('\t'));
      const pcap = decodePcap(bytes);
      expect(rows.length).toBe(pcap.ok ? pcap.value.records.length : -1);
      for (const [number, stack, malformed, severity] of rows) {
        expect(malformed ?? '', `${name} frame ${number}`).toBe('');
        // Severities ≥ warning (0x00600000) would mean a defect in what the network wrote.
        const serious = (severity ?? '').split(',').filter((s) => s !== '' && Number(s) >= 0x00600000);
        expect(serious, `${name} frame ${number} (${stack})`).toEqual([]);
        for (const p of (stack ?? '').split(':')) protocols.add(p);
      }
    }
    expect([...protocols]).toEqual(expect.arrayContaining(['eth', 'arp', 'ip', 'icmp', 'udp']));
  });
});

describe('the home agent ARP executor on a SimHost interface', () => {
  it('proxy ARP and gratuitous ARP from runtime/ha/home-link.ts go out through the Link layer of a SimHost', () => {
    const { clock, net, r, b, scope } = twoLans();
    const commands = new Subject<ArpCommand>();
    const home = Effect.runSync(Scope.extend(Effect.flatMap(Link, (l) => l.open('eth1')), scope).pipe(Effect.provide(net.linkLayer(r))));
    const homeLink = attachHomeLink({ arpCommands: commands }, home, { clock, addresses: [R_B], answerOwnAddresses: false, retransmitMs: 100 });
    const away = ipv4('198.51.100.99');
    commands.next({ kind: 'gratuitous-arp', homeAddress: away, linkAddressOf: 'home-agent', copies: 2 });
    commands.next({ kind: 'proxy-arp', enable: true, homeAddress: away });
    clock.advance(500);
    expect(homeLink.counters.gratuitousSent).toBe(2);
    // b had no entry, so the gratuitous ARP created none (RFC 826); its own Request gets the proxy reply.
    expect(b.arpEntry('eth0', away)).toBeUndefined();
    b.sendPacket({ protocol: IpProtocol.ICMP, destination: away, payload: echoRequest(1, 1) });
    clock.advance(10);
    expect(b.arpEntry('eth0', away)?.mac).toBe(MAC_R_B);
    expect(homeLink.counters.proxyReplies).toBe(1);
    // The host's own ARP did not answer as well for its address: only one reply to b for R_B.
    b.sendPacket({ protocol: IpProtocol.ICMP, destination: R_B, payload: echoRequest(1, 2) });
    clock.advance(10);
    expect(r.counters.arpRepliesSent).toBe(1);
    expect(homeLink.counters.ownReplies).toBe(0);
    homeLink.detach();
    Effect.runSync(Scope.close(scope, Exit.void));
  });
});
