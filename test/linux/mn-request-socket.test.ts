/**
 * The mobile node's Request socket (runtime/mn/mobile-node.ts openRequestSocket) in a namespace:
 * it still sends a UDP datagram with the node's own IPv4 header, source port as written, and it
 * receives nothing, while a raw UDP socket (what the node opened before) gets a copy of every
 * UDP datagram the host receives: each of the home agent's tunnel data messages would wake the
 * node twice (RFC 3519 4.3 traffic arrives on the node's UDP socket). The reverse tunnel's sender
 * (openTunnelSender) likewise for IP in IP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, linuxSkipReason, Namespaces, Peer, titled } from './netns.js';

const skip = linuxSkipReason();
const namespaces = new Namespaces();
const NS = `m6rq-${process.pid}`;
const ADDRESS = '192.0.2.130';
const COUNT = 50;

beforeAll(() => {
  if (skip !== undefined) return;
  namespaces.add(NS);
  ip('-n', NS, 'addr', 'add', `${ADDRESS}/32`, 'dev', 'lo');
});
afterAll(() => namespaces.cleanup());

describe('the mobile node Request socket (Linux)', () => {
  it.skipIf(skip !== undefined)(
    titled('sends a header-included UDP datagram that arrives from the port it names, and receives none of the UDP datagrams the host gets (a raw UDP socket beside it gets them all); the reverse tunnel sender likewise for IP in IP', skip),
    async () => {
      const peer = new Peer(NS, 'check', [ADDRESS, String(COUNT)], [], 'test/linux/mn-request-socket-peer.ts');
      try {
        const done = await peer.waitFor('done', 30_000);
        expect(done.sent).toBe(true);
        const got = done.got as Array<{ text: string; port: number }>;
        expect(got[0]).toEqual({ text: 'request-socket', port: 4343 });
        expect(got).toHaveLength(COUNT + 1);
        expect(done.rawUdpReceived).toBeGreaterThanOrEqual(COUNT + 1);
        expect(done.requestSocketReceived).toBe(0);
        // The reverse tunnel's sender, likewise: its IP in IP arrives, it reads none.
        expect(done.tunnelled).toBe(true);
        expect(done.rawIpIpReceived).toBeGreaterThanOrEqual(COUNT + 1);
        expect(done.tunnelSenderReceived).toBe(0);
      } finally {
        peer.stop();
      }
    },
    60_000,
  );
});
