/**
 * The Tun service on a real TUN device inside a network namespace: the kernel routes a ping
 * into the device, the peer process reads it through the batched reader and writes an ICMP
 * echo reply (built with io/wire) back, and ping sees the reply.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Effect, Exit } from 'effect';
import { Tun, TunError } from '../../io/tun.js';
import { LinuxTunLive } from '../../io/linux/tun.js';
import { inNamespace, linuxSkipReason, missingTools, Namespaces, Peer, titled } from './netns.js';

const skip = linuxSkipReason({ tun: true });
const pingSkip = skip ?? missingTools('ping');
const namespaces = new Namespaces();
afterAll(() => namespaces.cleanup());

describe('io/linux Tun', () => {
  it.skipIf(pingSkip !== undefined)(
    titled('reads an ICMP echo request routed into the device and writes the reply back', pingSkip),
    async () => {
      const ns = namespaces.add(`mip4-tun-${process.pid}`);
      const device = `m4t${process.pid}`;
      const peer = new Peer(ns, 'tun-echo', [device]);
      try {
        const ready = await peer.waitFor('ready');
        expect(ready).toMatchObject({ event: 'ready', name: device });
        inNamespace(ns, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', device]);
        inNamespace(ns, 'ip', ['link', 'set', device, 'up']);
        // 192.0.2.2 is on the device's subnet, so the echo request goes into the TUN.
        const ping = inNamespace(ns, 'ping', ['-c', '1', '-W', '3', '-n', '192.0.2.2'], 6_000);
        const done = await peer.waitFor('done');
        expect(done).toMatchObject({ event: 'done', from: '192.0.2.1', to: '192.0.2.2', sequence: 1, written: true });
        expect(ping.status, ping.stdout + ping.stderr).toBe(0);
        expect(ping.stdout).toContain('1 received');
      } finally {
        peer.stop();
      }
    },
  );

  it.skipIf(skip !== undefined)(titled('rejects an over-long device name with a typed error naming it', skip), async () => {
    const name = 'mip4-name-too-long-for-linux';
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(Tun, (tun) => tun.open(name))).pipe(Effect.provide(LinuxTunLive)),
    );
    expect(Exit.isFailure(exit)).toBe(true);
    if (Exit.isFailure(exit)) {
      const error = exit.cause._tag === 'Fail' ? exit.cause.error : undefined;
      expect(error).toBeInstanceOf(TunError);
      expect(error).toMatchObject({ reason: 'invalid-name', interfaceName: name });
      expect(error!.message).toContain(name);
    }
  });
});
