/**
 * The Link service over AF_PACKET on a veth pair between two network namespaces: one side
 * sees the ARP request the kernel of the other side broadcasts and answers with a frame of a
 * local experimental EtherType, which the other side's Link receives (padded to 60 bytes).
 * Also the typed errors: a missing interface, and no privileges.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Effect, Exit } from 'effect';
import { Link, LinkError } from '../../io/link.js';
import { LinuxLinkLive } from '../../io/linux/packet.js';
import { inNamespace, linuxSkipReason, missingTools, Namespaces, Peer, titled } from './netns.js';

const skip = linuxSkipReason();
// ping makes the kernel send the ARP request the test listens for.
const pingSkip = skip ?? missingTools('ping');
const namespaces = new Namespaces();
afterAll(() => namespaces.cleanup());

const hasSetpriv = spawnSync('setpriv', ['--version'], { timeout: 5_000 }).status === 0;

describe('io/linux Link (AF_PACKET)', () => {
  it.skipIf(pingSkip !== undefined)(
    titled('sees an ARP request on a veth and sends a frame the peer namespace receives', pingSkip),
    async () => {
      const a = namespaces.add(`mip4-pa-${process.pid}`);
      const b = namespaces.add(`mip4-pb-${process.pid}`);
      const vethA = `m4pa${process.pid}`;
      const vethB = `m4pb${process.pid}`;
      namespaces.veth({ ns: a, name: vethA, cidr: '198.51.100.1/24' }, { ns: b, name: vethB, cidr: '198.51.100.2/24' });
      const listener = new Peer(a, 'link-arp', [vethA]);
      const receiver = new Peer(b, 'link-expect', [vethB]);
      try {
        const listenerReady = await listener.waitFor('ready');
        const receiverReady = await receiver.waitFor('ready');
        // B has no neighbour entry for .1 yet, so its kernel broadcasts an ARP request first.
        inNamespace(b, 'ping', ['-c', '1', '-W', '2', '-n', '198.51.100.1'], 5_000);
        const seen = await listener.waitFor('done');
        expect(seen).toMatchObject({
          event: 'done',
          senderIp: '198.51.100.2',
          targetIp: '198.51.100.1',
          senderMac: receiverReady.mac,
          mac: listenerReady.mac,
          mtu: 1500,
        });
        const received = await receiver.waitFor('done');
        expect(received).toMatchObject({
          event: 'done',
          source: listenerReady.mac,
          destination: receiverReady.mac,
          text: 'mip4 link test',
          // 14 + 14 bytes sent, padded by the Link layer to the Ethernet minimum.
          length: 60,
        });
      } finally {
        listener.stop();
        receiver.stop();
      }
    },
  );

  it.skipIf(skip !== undefined)(
    titled('a UDP datagram a veth peer sends with checksum offload on arrives with its checksum completed by the reader (PACKET_VNET_HDR), not flagged; one with its checksum written arrives as sent', skip),
    async () => {
      const a = namespaces.add(`mip4-pc-${process.pid}`);
      const b = namespaces.add(`mip4-pd-${process.pid}`);
      const vethA = `m4pc${process.pid}`;
      const vethB = `m4pd${process.pid}`;
      namespaces.veth({ ns: a, name: vethA, cidr: '198.51.100.1/24' }, { ns: b, name: vethB, cidr: '198.51.100.2/24' });
      // veth has transmit checksum offload on by default (nothing here turns it off).
      const reader = new Peer(a, 'link-udp', [vethA, '434', '2']);
      try {
        await reader.waitFor('ready');
        // 1. An ordinary UDP socket: the sending kernel leaves the checksum to offload.
        const offloaded = inNamespace(b, 'python3', [
          '-c',
          "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'offloaded', ('198.51.100.1', 434))",
        ]);
        expect(offloaded.status, offloaded.stderr).toBe(0);
        await reader.waitFor('udp');
        // 2. A raw socket carrying a UDP header whose checksum the sender computed itself: the
        //    kernel sends it as is, like a frame from another host.
        const script = [
          'import socket, struct',
          "src, dst, data = socket.inet_aton('198.51.100.2'), socket.inet_aton('198.51.100.1'), b'computed'",
          'length = 8 + len(data)',
          // 'computed' has an even length: the sum needs no pad byte.
          "m = src + dst + struct.pack('!BBH', 0, 17, length) + struct.pack('!HHHH', 4000, 434, length, 0) + data",
          "t = sum(struct.unpack('!%dH' % (len(m) // 2), m))",
          't = (t & 0xffff) + (t >> 16)',
          'c = 0xffff - ((t & 0xffff) + (t >> 16))',
          's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)',
          "s.sendto(struct.pack('!HHHH', 4000, 434, length, c or 0xffff) + data, ('198.51.100.1', 0))",
        ].join('\n');
        const computed = inNamespace(b, 'python3', ['-c', script]);
        expect(computed.status, computed.stderr).toBe(0);
        const done = await reader.waitFor('done');
        expect(done.seen).toStrictEqual([
          { text: 'offloaded', checksumNotReady: false, checksumValid: true },
          { text: 'computed', checksumNotReady: false, checksumValid: true },
        ]);
      } finally {
        reader.stop();
      }
    },
  );

  it.skipIf(skip !== undefined)(titled('opening a missing interface fails with a typed error naming it', skip), async () => {
    const name = `m4none${process.pid}`;
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(Link, (link) => link.open(name))).pipe(Effect.provide(LinuxLinkLive)),
    );
    expect(Exit.isFailure(exit)).toBe(true);
    const error = Exit.isFailure(exit) && exit.cause._tag === 'Fail' ? exit.cause.error : undefined;
    expect(error).toBeInstanceOf(LinkError);
    expect(error).toMatchObject({ reason: 'no-such-interface', interfaceName: name });
    expect(error!.message).toContain(name);
  });

  it.skipIf(skip !== undefined)(titled('opening the same interface twice in one process is refused', skip), async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* Link;
          yield* link.open('lo');
          yield* link.open('lo');
        }),
      ).pipe(Effect.provide(LinuxLinkLive)),
    );
    const error = Exit.isFailure(exit) && exit.cause._tag === 'Fail' ? exit.cause.error : undefined;
    expect(error).toMatchObject({ _tag: 'LinkError', reason: 'in-use', interfaceName: 'lo' });
  });

  const noPrivilegeSkip = skip ?? (hasSetpriv ? undefined : 'setpriv is not installed');
  it.skipIf(noPrivilegeSkip !== undefined)(
    titled('without CAP_NET_RAW the error says what to grant', noPrivilegeSkip),
    async () => {
      // Same uid (the files stay readable), but no capabilities at all.
      const peer = new Peer(undefined, 'open-link', ['lo'], [
        'setpriv',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--no-new-privs',
        '--',
      ]);
      try {
        const outcome = await peer.waitFor('error');
        expect(outcome).toMatchObject({ event: 'error', tag: 'LinkError', reason: 'permission', interfaceName: 'lo' });
        expect(outcome.message).toBe('no permission for AF_PACKET on lo: run as root or grant CAP_NET_RAW');
      } finally {
        peer.stop();
      }
    },
  );
});
