/**
 * The Udp service on the native helper (io/linux/udp.ts), on loopback in this process: the
 * same contract as node:dgram (io/node/udp.ts) — datagrams both ways, the same bind errors —
 * plus what only it gives: the address each datagram was sent to (IP_PKTINFO), many datagrams
 * per wake-up with the replies leaving together, and sends after close reported, not thrown.
 * Any 127.0.0.0/8 address is local on Linux, so no configuration is changed and no root needed.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Effect, Exit, Layer, Scope } from 'effect';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../io/linux/native.js';
import { LinuxUdpLive, SEND_QUEUE_DATAGRAMS } from '../../io/linux/udp.js';
import { NodeUdpLive } from '../../io/node/udp.js';
import { Udp, UdpError, type UdpBindOptions, type UdpDatagram, type UdpSocket } from '../../io/udp.js';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { inNamespace, ip, linuxSkipReason, Namespaces, Peer, titled } from './netns.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { startHomeAgent } from '../../runtime/ha/home-agent-server.js';
import { buildRequest, MHAE, MN1_KEY } from '../runtime/home-agent-harness.js';

const skip = process.platform !== 'linux' ? 'not Linux' : nativeAvailable() ? undefined : 'the native helper is not built (npm ci)';
const LOOPBACK = ipv4('127.0.0.1');
const LOOPBACK_2 = ipv4('127.0.0.2');

const scopes: Scope.CloseableScope[] = [];
const peers: dgram.Socket[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  for (const scope of scopes.splice(0)) await Effect.runPromise(Scope.close(scope, Exit.void));
});

/** Binds through a layer in a scope closed after the test; the failure when it cannot. */
async function bind(layer: Layer.Layer<Udp>, options: UdpBindOptions): Promise<{ socket?: UdpSocket; error?: UdpError; scope: Scope.CloseableScope }> {
  const scope = Effect.runSync(Scope.make());
  scopes.push(scope);
  const exit = await Effect.runPromiseExit(
    Effect.flatMap(Udp, (udp) => udp.bind(options)).pipe(Scope.extend(scope), Effect.provide(layer)),
  );
  return Exit.isSuccess(exit) ? { socket: exit.value, scope } : { error: exit.cause._tag === 'Fail' ? exit.cause.error : undefined, scope };
}

async function peer(address = '127.0.0.1'): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  peers.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  // Bursts of hundreds of replies: more than the default ~208 KiB receive buffer holds.
  socket.setRecvBufferSize(4 * 1024 * 1024);
  return socket;
}

function nextDatagram(socket: UdpSocket): Promise<UdpDatagram> {
  return new Promise((resolve) => socket.onMessage(resolve));
}

describe('LinuxUdpLive (native batched UDP)', () => {
  it.skipIf(skip !== undefined)(titled('receives a datagram with its sender and sends one back', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    expect(socket!.localAddress).toBe(LOOPBACK);
    expect(socket!.localPort).toBeGreaterThan(0);
    const client = await peer();
    const received = nextDatagram(socket!);
    client.send(Uint8Array.of(1, 2, 3), socket!.localPort, '127.0.0.1');
    const datagram = await received;
    expect([...datagram.data]).toEqual([1, 2, 3]);
    expect(datagram).toMatchObject({ address: LOOPBACK, port: client.address().port, localAddress: LOOPBACK, localPort: socket!.localPort });

    const answered = once(client, 'message');
    socket!.send(Uint8Array.of(9, 8), datagram.address, datagram.port);
    const [message, remote] = (await answered) as [Buffer, dgram.RemoteInfo];
    expect([...message]).toEqual([9, 8]);
    expect(remote).toMatchObject({ address: '127.0.0.1', port: socket!.localPort });
  });

  it.skipIf(skip !== undefined)(titled('the largest IPv4 UDP payload (65,507 bytes) arrives whole, beside a small one', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    const client = await peer();
    const sizes: number[] = [];
    let last: Uint8Array | undefined;
    const both = new Promise<void>((resolve) =>
      socket!.onMessage((d) => {
        sizes.push(d.data.length);
        if (d.data.length > 1) last = d.data;
        if (sizes.length === 2) resolve();
      }),
    );
    const huge = Buffer.alloc(65507, 0x5a);
    huge[65506] = 0xa5;
    client.send(huge, socket!.localPort, '127.0.0.1');
    client.send(Uint8Array.of(7), socket!.localPort, '127.0.0.1');
    await both;
    expect(sizes.sort((a, b) => a - b)).toEqual([1, 65507]);
    expect(last![0]).toBe(0x5a);
    expect(last![65506]).toBe(0xa5);
  });

  it.skipIf(skip !== undefined)(titled('bound to 0.0.0.0, reports the address each datagram was sent to (IP_PKTINFO)', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: 0, port: 0 });
    expect(socket!.localAddress).toBe(0);
    const client = await peer();
    const seen: UdpDatagram[] = [];
    const two = new Promise<void>((resolve) =>
      socket!.onMessage((d) => {
        seen.push(d);
        if (seen.length === 2) resolve();
      }),
    );
    client.send(Uint8Array.of(2), socket!.localPort, '127.0.0.2');
    client.send(Uint8Array.of(1), socket!.localPort, '127.0.0.1');
    await two;
    const byContent = new Map(seen.map((d) => [d.data[0], d.localAddress]));
    expect(byContent.get(2)).toBe(LOOPBACK_2);
    expect(byContent.get(1)).toBe(LOOPBACK);
  });

  it.skipIf(skip !== undefined)(titled('bound to 0.0.0.0, sends from the source address asked for; one not on this host is reported, the next still goes', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: 0, port: 0 });
    const errors: UdpError[] = [];
    socket!.onError((e) => errors.push(e));
    const client = await peer();
    const sources: string[] = [];
    const two = new Promise<void>((resolve) =>
      client.on('message', (_message, remote) => {
        sources.push(remote.address);
        if (sources.length === 2) resolve();
      }),
    );
    const to = ipv4('127.0.0.1');
    const port = client.address().port;
    socket!.send(Uint8Array.of(1), to, port, ipv4('127.0.0.3'));
    socket!.send(Uint8Array.of(2), to, port, ipv4('192.0.2.1'));
    socket!.send(Uint8Array.of(3), to, port);
    await two;
    // Without a source the kernel picks the route's own (127.0.0.1 toward 127.0.0.1).
    expect(sources).toEqual(['127.0.0.3', '127.0.0.1']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'send', endpoint: `127.0.0.1:${port}` });
    expect(errors[0]!.message).toMatch(/failed: E[A-Z]+/); // the kernel's errno (ENETUNREACH here)
  });

  it.skipIf(skip !== undefined)(titled('a burst of 4,000 requests is answered in full: none lost, each reply to its sender', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    // Echo with a marker: every reply is sent from inside the receive handler (queued, then
    // flushed with sendmmsg after the batch).
    socket!.onMessage((d) => socket!.send(Uint8Array.of(0xee, ...d.data), d.address, d.port));
    const clients = await Promise.all([peer(), peer()]);
    const BURST = 500; // in flight per client at a time: well inside both receive buffers
    const ROUNDS = 4;
    const replies = clients.map(() => new Set<number>());
    let bad = 0;
    clients.forEach((client, c) =>
      client.on('message', (message: Buffer) => {
        if (message[0] !== 0xee || message.length !== 5) bad++;
        else replies[c]!.add(message.readUInt32BE(1));
      }),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const client of clients) {
        for (let i = 0; i < BURST; i++) {
          const request = Buffer.alloc(4);
          request.writeUInt32BE(round * BURST + i);
          client.send(request, socket!.localPort, '127.0.0.1');
        }
      }
      const expected = (round + 1) * BURST;
      const deadline = Date.now() + 10_000;
      while (replies.some((r) => r.size < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    }
    expect(bad).toBe(0);
    for (const r of replies) expect(r.size).toBe(ROUNDS * BURST);
  });

  it.skipIf(skip !== undefined)(titled('replies sent outside a batch leave on a microtask, in order, beyond one queue', skip), async () => {
    const { socket } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    const client = await peer();
    const received: number[] = [];
    const count = SEND_QUEUE_DATAGRAMS + 200; // more than one queue's worth in one synchronous run
    const all = new Promise<void>((resolve) =>
      client.on('message', (message: Buffer) => {
        received.push(message.readUInt16BE(0));
        if (received.length === count) resolve();
      }),
    );
    const errors: UdpError[] = [];
    socket!.onError((e) => errors.push(e));
    const port = client.address().port;
    for (let i = 0; i < count; i++) socket!.send(Uint8Array.of(i >> 8, i & 0xff), LOOPBACK, port);
    await all;
    expect(errors).toEqual([]);
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it.skipIf(skip !== undefined)(titled('bind errors have the same reason and message as node:dgram', skip), async () => {
    const taken = await peer();
    const port = taken.address().port;
    for (const options of [
      { address: LOOPBACK, port }, // in use
      { address: ipv4('192.0.2.1'), port: 0 }, // TEST-NET-1: no interface has it
    ]) {
      const native = await bind(LinuxUdpLive, options);
      const node = await bind(NodeUdpLive, options);
      expect(native.socket).toBeUndefined();
      expect(native.error).toBeInstanceOf(UdpError);
      expect({ reason: native.error!.reason, endpoint: native.error!.endpoint, message: native.error!.message }).toEqual({
        reason: node.error!.reason,
        endpoint: node.error!.endpoint,
        message: node.error!.message,
      });
    }
    const inUse = await bind(LinuxUdpLive, { address: LOOPBACK, port });
    expect(inUse.error).toMatchObject({ reason: 'address-in-use', endpoint: `127.0.0.1:${port}` });
    const absent = await bind(LinuxUdpLive, { address: ipv4('192.0.2.1'), port: 0 });
    expect(absent.error).toMatchObject({ reason: 'address-not-available', endpoint: '192.0.2.1:0' });
  });

  it.skipIf(skip !== undefined)(titled('closing frees the port; a send after close is reported to onError, not thrown', skip), async () => {
    const { socket, scope } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    const port = socket!.localPort;
    const errors: UdpError[] = [];
    socket!.onError((e) => errors.push(e));
    await Effect.runPromise(Scope.close(scope, Exit.void));
    expect(() => socket!.send(Uint8Array.of(1), LOOPBACK, 9)).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'closed', endpoint: '127.0.0.1:9' });
    expect(errors[0]!.message).toContain(`127.0.0.1:${port}`);
    // The port is free again.
    const again = await bind(LinuxUdpLive, { address: LOOPBACK, port });
    expect(again.socket?.localPort).toBe(port);
  });

  it.skipIf(skip !== undefined)(titled('a datagram that cannot be sent is reported with its destination; the next ones still go', skip), async () => {
    // Without SO_BROADCAST the kernel refuses a broadcast destination (EACCES).
    const { socket } = await bind(LinuxUdpLive, { address: LOOPBACK, port: 0 });
    const client = await peer();
    const errors: UdpError[] = [];
    socket!.onError((e) => errors.push(e));
    const answered = once(client, 'message');
    socket!.send(Uint8Array.of(1), ipv4('255.255.255.255'), 434);
    socket!.send(Uint8Array.of(2), LOOPBACK, client.address().port);
    const [message] = (await answered) as [Buffer];
    expect([...message]).toEqual([2]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'send', endpoint: '255.255.255.255:434' });
    expect(errors[0]!.message).toContain('EACCES');
  });
});

describe('NodeUdpLive', () => {
  it('a send after close is reported to onError, not thrown', async () => {
    const { socket, scope } = await bind(NodeUdpLive, { address: LOOPBACK, port: 0 });
    const errors: UdpError[] = [];
    socket!.onError((e) => errors.push(e));
    await Effect.runPromise(Scope.close(scope, Exit.void));
    expect(() => socket!.send(Uint8Array.of(1), LOOPBACK, 9)).not.toThrow();
    expect(errors.map((e) => [e.reason, e.endpoint])).toEqual([['closed', `${ipv4ToString(LOOPBACK)}:9`]]);
  });
});

/**
 * A full socket buffer (EAGAIN): a sender in one namespace whose link is slowed by a token
 * bucket (tc tbf) queues more than its socket buffer holds; the replies beyond it wait for
 * writability instead of being lost, and whatever the bounded queue cannot hold is reported.
 */
describe('LinuxUdpLive when the socket buffer is full', () => {
  const namespaceSkip = linuxSkipReason();
  const namespaces = new Namespaces();
  const sender = `mip4-uda-${process.pid}`;
  const receiver = `mip4-udb-${process.pid}`;
  const senderLink = `m4ua${process.pid}`;
  const receiverLink = `m4ub${process.pid}`;
  beforeAll(() => {
    if (namespaceSkip !== undefined) return;
    namespaces.add(sender);
    namespaces.add(receiver);
    namespaces.veth({ ns: sender, name: senderLink, cidr: '198.51.100.1/24' }, { ns: receiver, name: receiverLink, cidr: '198.51.100.2/24' });
    // A static neighbour: while ARP resolves, the kernel keeps only a few datagrams.
    const mac = (JSON.parse(ip('-n', receiver, '-j', 'link', 'show', receiverLink)) as Array<{ address: string }>)[0]!.address;
    ip('-n', sender, 'neigh', 'add', '198.51.100.2', 'lladdr', mac, 'dev', senderLink);
    const shaped = inNamespace(sender, 'tc', ['qdisc', 'add', 'dev', senderLink, 'root', 'tbf', 'rate', '20mbit', 'burst', '16kb', 'limit', '16mb']);
    if (shaped.status !== 0) throw new Error(`tc qdisc add ... tbf failed: ${shaped.stderr}`);
  });
  afterAll(() => namespaces.cleanup());

  /** UDP datagrams the receiving namespace got (no socket listens there: each is a NoPorts). */
  function delivered(): number {
    const snmp = inNamespace(receiver, 'cat', ['/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const names = snmp[0]!.split(/\s+/);
    const values = snmp[1]!.split(/\s+/).map(Number);
    return values[names.indexOf('InDatagrams')]! + values[names.indexOf('NoPorts')]!;
  }

  it.skipIf(namespaceSkip !== undefined)(
    titled('8,000 datagrams sent at once over a 20 Mbit/s link: each is delivered or reported, none lost silently', namespaceSkip),
    async () => {
      const COUNT = 8000;
      // Without UDP GSO (io/linux/udp.ts): a GSO message of 64 datagrams takes far less of the
      // socket buffer than 64 datagrams, so these 8,000 would fit and the EAGAIN path under test
      // would not be reached. The peer inherits this process's environment.
      const gso = process.env.MIP4_UDP_GSO;
      process.env.MIP4_UDP_GSO = '0';
      const peer = new Peer(sender, 'send', ['198.51.100.2', String(COUNT), '200'], [], 'test/linux/udp-flood-peer.ts');
      if (gso === undefined) delete process.env.MIP4_UDP_GSO;
      else process.env.MIP4_UDP_GSO = gso;
      try {
        await peer.waitFor('ready');
        const before = delivered();
        peer.tell('go');
        await peer.waitFor('queued');
        // 8,000 × ~250 bytes on the wire take ~0.8 s at 20 Mbit/s; allow for a loaded machine.
        const deadline = Date.now() + 15_000;
        let reported = 0;
        let arrived = 0;
        for (;;) {
          reported = peer.events.filter((e) => e.event === 'send-error').length;
          arrived = delivered() - before;
          if (arrived + reported >= COUNT || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        // Drops are reported only when the queue is full, and it fills only while it waits for
        // room (EAGAIN): so the buffer did fill. Had the queue not been sent once the socket
        // became writable, its datagrams would be neither delivered nor reported.
        expect(reported).toBeGreaterThan(0);
        expect(arrived + reported).toBe(COUNT);
        for (const e of peer.events.filter((e) => e.event === 'send-error')) {
          expect(e).toMatchObject({ reason: 'send', endpoint: '198.51.100.2:9' });
        }
      } finally {
        peer.stop();
      }
    },
    40_000,
  );
});

/**
 * What the destination address buys the home agent: bound to 0.0.0.0 on the native layer, it
 * sees that a Request came to the home network's subnet-directed broadcast address (here
 * 127.255.255.255, the loopback network's, which Linux delivers locally) and denies it with
 * 136 naming its unicast address, while the same Request unicast is accepted. On node:dgram
 * a 0.0.0.0 socket cannot tell the two apart.
 */
describe('home agent on LinuxUdpLive bound to 0.0.0.0', () => {
  it.skipIf(skip !== undefined)(
    titled(
      '[R3.8.2.1-21] [R3.8.3.1-1] a Request sent to the subnet-directed broadcast address is denied (136) from the unicast address; the same Request unicast is accepted, answered from the address it was sent to',
      skip,
    ),
    async () => {
      // The agent's address is 127.0.0.2 while the client is 127.0.0.1: left to itself the kernel
      // would answer from 127.0.0.1, so the Reply's source shows the agent chose it (3.8.3.1).
      const { config } = homeAgentConfigFromDocument({
        homeAgent: { address: '127.0.0.2', homeNetwork: '127.0.0.0/8', listen: ['0.0.0.0:0'] },
        mobileNodes: [{ homeAddress: '127.0.0.10', spi: MN1_KEY.spi, key: '2b7e151628aed2a6abf7158809cf4f3c' }],
      });
      const ha = await startHomeAgent(config, { listen: [{ address: 0, port: 0 }], udp: LinuxUdpLive });
      try {
        const port = ha.sockets[0]!.localPort;
        const client = await peer();
        client.setBroadcast(true);
        const ask = async (destination: string, sequence: number) => {
          const request = buildRequest({
            identification: identificationFromUnixMs(Date.now(), sequence),
            homeAddress: ipv4('127.0.0.10'),
            homeAgent: ipv4('127.0.0.2'),
            extensions: [MHAE(MN1_KEY)],
          });
          const answered = once(client, 'message');
          client.send(request, port, destination);
          const [message, remote] = (await answered) as [Buffer, dgram.RemoteInfo];
          const reply = decodeRegistrationReply(new Uint8Array(message));
          if (!reply.ok) throw new Error('undecodable reply');
          return { reply: reply.value, from: remote.address };
        };
        const broadcast = await ask('127.255.255.255', 1);
        expect(broadcast.reply).toMatchObject({ code: 136, homeAgent: ipv4('127.0.0.2') });
        expect(broadcast.from).toBe('127.0.0.2');
        expect(ha.agent.bindingCount).toBe(0);
        const unicast = await ask('127.0.0.2', 2);
        expect(unicast.reply).toMatchObject({ code: 0, homeAgent: ipv4('127.0.0.2') });
        expect(unicast.from).toBe('127.0.0.2');
        expect(ha.agent.bindingCount).toBe(1);
      } finally {
        await ha.stop();
      }
    },
  );
});
