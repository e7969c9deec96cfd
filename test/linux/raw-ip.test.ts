/**
 * The RawIp service on protocol 4 between two network namespaces joined by a veth pair: IP-in-IP
 * datagrams built with io/wire/tunnel.ts leave one namespace on a header-included raw socket and
 * arrive, decapsulated, on the other namespace's raw socket; a batch of 64 written by one
 * sendBatch call (sendmmsg) arrives complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Effect, Exit } from 'effect';
import { RawIp, RawIpError } from '../../io/raw-ip.js';
import { LinuxRawIpLive } from '../../io/linux/raw-ip.js';
import { linuxSkipReason, Namespaces, Peer, titled } from './netns.js';

const skip = linuxSkipReason();
const namespaces = new Namespaces();
let a = '';
let b = '';

beforeAll(() => {
  if (skip !== undefined) return;
  a = namespaces.add(`mip4-ra-${process.pid}`);
  b = namespaces.add(`mip4-rb-${process.pid}`);
  namespaces.veth(
    { ns: a, name: `m4ra${process.pid}`, cidr: '203.0.113.1/24' },
    { ns: b, name: `m4rb${process.pid}`, cidr: '203.0.113.2/24' },
  );
});
afterAll(() => namespaces.cleanup());

async function sendAndExpect(count: number) {
  const receiver = new Peer(b, 'raw-expect', [String(count)]);
  const sender = new Peer(a, 'raw-send', ['203.0.113.1', '203.0.113.2', String(count)]);
  try {
    await Promise.all([receiver.waitFor('ready'), sender.waitFor('ready')]);
    sender.tell('go');
    const sent = await sender.waitFor('done');
    const received = await receiver.waitFor('done');
    return { sent, received };
  } finally {
    receiver.stop();
    sender.stop();
  }
}

describe('io/linux RawIp', () => {
  it.skipIf(skip !== undefined)(titled('an IP-in-IP datagram sent on a protocol-4 raw socket reaches the peer raw socket', skip), async () => {
    const { sent, received } = await sendAndExpect(1);
    expect(sent).toMatchObject({ event: 'done', sent: 1 });
    expect(received).toMatchObject({
      event: 'done',
      received: 1,
      ids: [1],
      firstSource: '203.0.113.1',
      firstText: '203.0.113.1 -> 203.0.113.77 pkt0000',
    });
  });

  it.skipIf(skip !== undefined)(titled('a batch of 64 written in one sendBatch call arrives complete', skip), async () => {
    const { sent, received } = await sendAndExpect(64);
    expect(sent).toMatchObject({ event: 'done', sent: 64 });
    expect(received.received).toBe(64);
    expect(received.ids).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    // Delivered in batches (recvmmsg), never more than the reader's 64 per call.
    expect(received.largestBatch as number).toBeLessThanOrEqual(64);
    expect(received.batches as number).toBeLessThanOrEqual(64);
  });

  it.skipIf(skip !== undefined)(titled('an impossible protocol number is a typed error', skip), async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(RawIp, (raw) => raw.open(256))).pipe(Effect.provide(LinuxRawIpLive)),
    );
    const error = Exit.isFailure(exit) && exit.cause._tag === 'Fail' ? exit.cause.error : undefined;
    expect(error).toBeInstanceOf(RawIpError);
    expect(error).toMatchObject({ reason: 'protocol', protocol: 256 });
  });
});
