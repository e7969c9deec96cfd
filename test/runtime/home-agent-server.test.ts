/**
 * The home agent on sockets (runtime/ha/home-agent-server.ts): over the simulated, clocked UDP
 * network (io/sim/udp.ts) with Effect-managed sockets, and over real loopback sockets the way
 * an embedder starts it.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { Effect } from 'effect';
import { ipv4, ipv4ToString } from '../../io/wire/bytes.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationReply } from '../../io/wire/registration.js';
import { RequestFlag } from '../../io/wire/registration-types.js';
import { seededRandom, SimUdpNetwork } from '../../io/sim/udp.js';
import { Udp, UdpError, type UdpDatagram } from '../../io/udp.js';
import { SimulatedClock } from '../../io/clock.js';
import { homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { startHomeAgent, type RunningHomeAgent } from '../../runtime/ha/home-agent-server.js';
import type { HomeAgentEvent } from '../../runtime/ha/home-agent.js';
import {
  buildRequest,
  COA1,
  COA2,
  expectValidMhae,
  HA,
  makeConfig,
  MHAE,
  MIP_PORT,
  MN1,
  MN1_KEY,
  START,
  SUBNET_BROADCAST,
} from './home-agent-harness.js';

function setup() {
  const clock = new SimulatedClock(START);
  const net = new SimUdpNetwork({ clock, latencyMs: 5 });
  const random = seededRandom(11);
  const random32 = () => Math.floor(random() * 0x1_0000_0000) >>> 0;
  return { clock, net, random32 };
}

async function startOnSim(s: ReturnType<typeof setup>): Promise<RunningHomeAgent> {
  return startHomeAgent(makeConfig(), {
    listen: [
      { address: HA, port: MIP_PORT },
      // The subnet-directed broadcast address, to see dynamic home agent discovery (3.8.2.1).
      { address: SUBNET_BROADCAST, port: MIP_PORT },
    ],
    udp: s.net.layer([HA]),
    clock: s.clock,
    random32: s.random32,
  });
}

/**
 * A mobile node with a co-located care-of address on another simulated host: binds a socket,
 * sends each datagram to `to`, lets the simulated network run, returns what came back.
 */
function exchange(s: ReturnType<typeof setup>, datagrams: Uint8Array[], to: number, port = 0) {
  return Effect.gen(function* () {
    const udp = yield* Udp;
    const socket = yield* udp.bind({ address: COA1, port });
    const received: UdpDatagram[] = [];
    socket.onMessage((d) => received.push(d));
    for (const data of datagrams) {
      socket.send(data, to, MIP_PORT);
      yield* Effect.sync(() => s.clock.advance(20));
    }
    return { received, localPort: socket.localPort };
  }).pipe(Effect.scoped, Effect.provide(s.net.layer([COA1])));
}

describe('HomeAgent over the simulated network', () => {
  it('[R3.8.2.2-2] a Request from another host gets its Reply, to the sender\'s port, after the network\'s latency', async () => {
    const s = setup();
    const running = await startOnSim(s);
    expect(running.sockets.map((k) => `${ipv4ToString(k.localAddress)}:${k.localPort}`)).toEqual(['198.51.100.1:434', '198.51.100.255:434']);
    const request = buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1) });
    const { received, localPort } = await Effect.runPromise(exchange(s, [request], HA));
    expect(received).toHaveLength(1);
    const datagram = received[0]!;
    expect(datagram).toMatchObject({ address: HA, port: MIP_PORT, localAddress: COA1, localPort });
    const reply = decodeRegistrationReply(datagram.data);
    expect(reply.ok && reply.value.code).toBe(0);
    if (!reply.ok) return;
    expectValidMhae({ data: datagram.data, reply: reply.value, destination: COA1, port: localPort, source: HA }, MN1_KEY);
    expect(running.agent.bindings()).toMatchObject([{ homeAddress: '198.51.100.10', careOfAddress: '203.0.113.77' }]);
    expect(s.net.stats).toMatchObject({ sent: 2, delivered: 2, unreachable: 0 });
    await running.stop();
  });

  it('[R3.6.1.2-19] [R3.8.2.1-22] [R3.8.3.1-1] a Request broadcast on the home network is rejected: 136 from and naming the unicast address, no binding', async () => {
    const s = setup();
    const running = await startOnSim(s);
    const request = buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1), homeAgent: SUBNET_BROADCAST });
    const { received } = await Effect.runPromise(exchange(s, [request], SUBNET_BROADCAST));
    expect(received).toHaveLength(1);
    expect(received[0]!.address).toBe(HA);
    const reply = decodeRegistrationReply(received[0]!.data);
    expect(reply.ok && reply.value).toMatchObject({ code: 136, homeAgent: HA });
    expect(running.agent.bindingCount).toBe(0);
    await running.stop();
  });

  it('[R5.7.1-7] a captured duplicate replayed to the subnet-directed broadcast cannot bring back a deregistered S binding', async () => {
    const s = setup();
    const running = await startOnSim(s);
    const id = (n: number) => identificationFromUnixMs(s.clock.now(), n);
    const coa1 = buildRequest({ identification: id(1), careOfAddress: COA1, flags: RequestFlag.S });
    const coa2 = buildRequest({ identification: id(2), careOfAddress: COA2, flags: RequestFlag.S });
    const deregisterCoa2 = buildRequest({ identification: id(3), careOfAddress: COA2, lifetime: 0 });
    const codes = (received: readonly UdpDatagram[]) =>
      received.map((d) => {
        const reply = decodeRegistrationReply(d.data);
        return reply.ok ? reply.value.code : -1;
      });
    expect(codes((await Effect.runPromise(exchange(s, [coa1, coa2, deregisterCoa2], HA))).received)).toEqual([0, 0, 0]);
    // The attacker: the COA1 Request (still current) to the broadcast address, then COA2's.
    expect(codes((await Effect.runPromise(exchange(s, [coa1], SUBNET_BROADCAST))).received)).toEqual([136]);
    expect(codes((await Effect.runPromise(exchange(s, [coa2], HA))).received)).toEqual([133]);
    expect(running.agent.bindings().map((b) => b.careOfAddress)).toEqual(['203.0.113.77']);
    await running.stop();
  });

  it('startHomeAgent honours maxMessageBytes: a longer datagram is a counted discard, no Reply', async () => {
    const s = setup();
    const running = await startHomeAgent({ ...makeConfig(), maxMessageBytes: 100 }, { listen: [{ address: HA, port: MIP_PORT }], udp: s.net.layer([HA]), clock: s.clock, random32: s.random32 });
    const long = buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1), extensions: [{ unknown: 200, data: new Uint8Array(60) }, MHAE()] });
    expect(long.length).toBe(108);
    expect((await Effect.runPromise(exchange(s, [long], HA))).received).toEqual([]);
    expect(running.agent.counters.discardedByReason).toEqual({ 'message-too-large': 1 });
    await running.stop();
  });

  it('the binding lifetime runs on the same clock as the network: it expires with no datagram sent', async () => {
    const s = setup();
    const running = await startOnSim(s);
    const request = buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1), lifetime: 30 });
    await Effect.runPromise(exchange(s, [request], HA));
    expect(running.agent.bindingCount).toBe(1);
    const sent = s.net.stats.sent;
    s.clock.advance(30_000);
    expect(running.agent.bindingCount).toBe(0);
    expect(s.net.stats.sent).toBe(sent);
    await running.stop();
  });

  it('stop() closes the sockets: the endpoint can be bound again and datagrams to it go nowhere', async () => {
    const s = setup();
    const running = await startOnSim(s);
    await running.stop();
    await running.stop(); // idempotent
    const request = buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1) });
    const { received } = await Effect.runPromise(exchange(s, [request], HA));
    expect(received).toEqual([]);
    expect(s.net.stats.unreachable).toBe(1);
    expect(running.agent.counters.requests).toBe(0);
    // The same endpoints bind again, for a second agent.
    const second = await startOnSim(s);
    expect(second.sockets).toHaveLength(2);
    await second.stop();
  });

  it('a client socket is released when its scope ends', async () => {
    const s = setup();
    const running = await startOnSim(s);
    const request = () => buildRequest({ identification: identificationFromUnixMs(s.clock.now(), 1) });
    await Effect.runPromise(exchange(s, [request()], HA, 50_000));
    const again = await Effect.runPromise(exchange(s, [], HA, 50_000));
    expect(again.localPort).toBe(50_000);
    await running.stop();
  });

  it('binding an address the host does not have fails with UdpError reason address-not-available', async () => {
    const s = setup();
    const error = await Effect.runPromise(
      Effect.flip(
        Effect.gen(function* () {
          const udp = yield* Udp;
          return yield* udp.bind({ address: ipv4('192.0.2.9'), port: MIP_PORT });
        }).pipe(Effect.scoped, Effect.provide(s.net.layer([HA]))),
      ),
    );
    expect(error).toBeInstanceOf(UdpError);
    expect(error).toMatchObject({ _tag: 'UdpError', reason: 'address-not-available', endpoint: '192.0.2.9:434' });
  });

  it('startHomeAgent rejects with the UdpError and leaves nothing bound when one listen address fails', async () => {
    const s = setup();
    const failed = startHomeAgent(makeConfig(), {
      listen: [
        { address: HA, port: MIP_PORT },
        { address: ipv4('192.0.2.9'), port: MIP_PORT },
      ],
      udp: s.net.layer([HA]),
      clock: s.clock,
      random32: s.random32,
    });
    await expect(failed).rejects.toBeInstanceOf(UdpError);
    await expect(failed).rejects.toMatchObject({ reason: 'address-not-available' });
    // HA:434 was bound before the failure and released by the scope's finalizer.
    const running = await startOnSim(s);
    await running.stop();
  });

  it('a second agent on an endpoint in use is refused with address-in-use', async () => {
    const s = setup();
    const running = await startOnSim(s);
    await expect(startOnSim(s)).rejects.toMatchObject({ _tag: 'UdpError', reason: 'address-in-use', endpoint: '198.51.100.1:434' });
    await running.stop();
  });
});

describe('embedding the home agent (README "Embed it")', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));

  function readmeEmbedBlock(): string {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('## Embed it');
    expect(start).toBeGreaterThanOrEqual(0);
    const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
    expect(match).not.toBeNull();
    return match![1]!;
  }

  it('the example type-checks, strict, against the library entry point', () => {
    // test/docs/readme.test.ts runs the block (transpiled, types stripped); this checks its
    // types. 'mip4' is pointed at the sources of the entry point (package.json "exports"
    // maps it to dist/runtime/index.js, built from runtime/index.ts), so no build is needed.
    const block = readmeEmbedBlock();
    expect(block).toMatch(/from 'mip4';/);
    const code = block.replace(/from 'mip4';/, `from ${JSON.stringify(join(root, 'runtime/index.js'))};`);
    const dir = mkdtempSync(join(root, 'test/.embed-'));
    try {
      const file = join(dir, 'example.ts');
      writeFileSync(file, code);
      const parsed = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')), ts.sys, root);
      const program = ts.createProgram([file], { ...parsed.options, noEmit: true });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000); // loading the types of effect, xstate and rxjs takes several seconds

  it('the README configuration, used for real: a Request over loopback is answered and logged, stop() frees the port', async () => {
    // The README block, statement for statement (logging into arrays instead of the console).
    const { config, listen } = homeAgentConfigFromDocument({
      homeAgent: { address: '127.0.0.1', homeNetwork: '127.0.0.0/8', listen: ['127.0.0.1:0'] },
      mobileNodes: [{ homeAddress: '127.0.0.10', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' }],
    });
    const ha = await startHomeAgent(config, { listen });
    const events: HomeAgentEvent[] = [];
    const transitions: string[] = [];
    ha.agent.events.subscribe((event) => events.push(event));
    ha.agent.transitions.subscribe((t) => transitions.push(`${t.actor}: ${t.from} -> ${t.to} (${t.reason})`));
    const port = ha.sockets[0]!.localPort;
    expect(port).toBeGreaterThan(0);
    expect(ha.agent.bindingCount).toBe(0);

    const client = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
      // The README's mobile node (SPI 4096, the key above is MN1_KEY) from a co-located care-of address.
      const request = buildRequest({
        identification: identificationFromUnixMs(Date.now(), 1),
        homeAddress: ipv4('127.0.0.10'),
        homeAgent: ipv4('127.0.0.1'),
        extensions: [MHAE(MN1_KEY)],
      });
      const replied = once(client, 'message');
      client.send(request, port, '127.0.0.1');
      const [message, remote] = (await replied) as [Buffer, dgram.RemoteInfo];
      expect(remote).toMatchObject({ address: '127.0.0.1', port });
      const data = new Uint8Array(message);
      const reply = decodeRegistrationReply(data);
      expect(reply.ok && reply.value).toMatchObject({ code: 0, homeAddress: ipv4('127.0.0.10'), homeAgent: ipv4('127.0.0.1') });
      if (reply.ok) expectValidMhae({ data, reply: reply.value, destination: 0, port: 0, source: 0 }, MN1_KEY);
      expect(ha.agent.bindingCount).toBe(1);
      expect(events).toMatchObject([{ event: 'reply', code: 0, homeAddress: '127.0.0.10', careOfAddress: '203.0.113.77' }]);
      expect(transitions).toEqual(['binding:127.0.0.10: (none) -> registered.timed (registered)']);
    } finally {
      client.close();
      await ha.stop();
    }
    // Stopped: the port is free again.
    const reuse = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      reuse.once('error', reject);
      reuse.bind(port, '127.0.0.1', resolve);
    });
    reuse.close();
  });
});
