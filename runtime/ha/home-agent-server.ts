/**
 * Runs a HomeAgent on sockets of the Udp service (real or simulated). Effect owns the
 * lifecycle: the sockets are acquired in a Scope and closed by its finalizers when the
 * agent stops; the per-datagram path stays a plain callback into HomeAgent.handleRequest.
 */
import { TUNNEL_DATA_MESSAGE_TYPE } from '../../io/wire/udp-tunnel.js';
import { Effect, Layer, type Scope } from 'effect';
import { openInScope } from '../../io/scoped-start.js';
import { Udp, UdpError, type UdpSocket } from '../../io/udp.js';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { RealClock, type Clock } from '../../io/clock.js';
import { secureRandom32 } from '../../io/random.js';
import { HomeAgent, type HomeAgentConfig, type ReceivedRequest, type ReplySender, type RestoreOutcome } from './home-agent.js';
import type { BindingStore } from '../store/binding-store.js';
import { GroupCommit } from '../store/group-commit.js';
import type { LinuxDataPathConfig, LinuxHomeAgentDataPath } from './home-agent-linux.js';
import { udpLayer } from '../udp-layer.js';

export interface ListenAddress {
  /** 0 = all addresses. The native UDP layer then reports each request's destination; on
   * node:dgram it is unknown, so bind specific addresses, including the home network's
   * broadcast address, to see broadcast requests (3.8.2.1). */
  readonly address: Ipv4Address;
  readonly port: number;
}

/**
 * Hears how long the agent took over some of the datagrams (runtime/metrics): one in
 * `sampleEvery` is timed, so the others pay one decrement and no clock read.
 */
export interface RequestTiming {
  readonly sampleEvery: number;
  record(seconds: number): void;
}

/**
 * The agent's handler for received datagrams, timing one in `timing.sampleEvery` (the first
 * one included) when timing is given. Exported for the benchmark of its cost.
 */
export function requestHandler(agent: HomeAgent, send: ReplySender, timing?: RequestTiming): (request: ReceivedRequest) => void {
  if (timing === undefined) return (request) => agent.handleRequest(request, send);
  let untilSample = 1;
  return (request) => {
    if (--untilSample > 0) {
      agent.handleRequest(request, send);
      return;
    }
    untilSample = timing.sampleEvery;
    const started = performance.now();
    agent.handleRequest(request, send);
    timing.record((performance.now() - started) / 1000);
  };
}

/**
 * Binds the listen addresses and feeds every datagram to the agent. `onSocketError` hears what
 * the sockets could not do (a reply that could not be sent, a datagram discarded on receipt).
 */
export function serveHomeAgent(
  agent: HomeAgent,
  listen: readonly ListenAddress[],
  onSocketError: (error: UdpError) => void = () => {},
  timing?: RequestTiming,
  groupCommit?: GroupCommit,
): Effect.Effect<UdpSocket[], UdpError, Udp | Scope.Scope> {
  return Effect.gen(function* () {
    const udp = yield* Udp;
    const sockets: UdpSocket[] = [];
    for (const l of listen) sockets.push(yield* udp.bind({ address: l.address, port: l.port, broadcast: true }));
    // Replies leave from the socket bound to the chosen source address (3.8.3.1), else from
    // a wildcard socket, else from the first one.
    const sendNow: ReplySender = (data, destination, port, source) => {
      const socket = sockets.find((s) => s.localAddress === source) ?? sockets.find((s) => s.localAddress === 0) ?? sockets[0];
      socket?.send(data, destination, port, source);
    };
    // With a store, a Reply waits for the commit of what its Request changed (group commit).
    const send: ReplySender =
      groupCommit === undefined
        ? sendNow
        : (data, destination, port, source) => groupCommit.whenDurable(() => sendNow(data, destination, port, source));
    const handle = requestHandler(agent, send, timing);
    // RFC 3519: tunnel data leaves from the registration port (the NAT's flow), a plane batch
    // per sendmmsg, where every socket batches (the native layer); else the data path's raw socket.
    if (sockets.length > 0 && sockets.every((s) => s.sendBatch !== undefined)) {
      agent.udpTunnelSink = (payloads, addresses, ports, count, source) => {
        const socket = sockets.find((s) => s.localAddress === source) ?? sockets.find((s) => s.localAddress === 0) ?? sockets[0]!;
        socket.sendBatch!(payloads, addresses, ports, count, source);
      };
      yield* Effect.addFinalizer(() => Effect.sync(() => (agent.udpTunnelSink = undefined)));
    }
    for (const socket of sockets) {
      socket.onError(onSocketError);
      socket.onMessage((d) => {
        // RFC 3519: the registration port also carries tunnel data (type 4) from nodes behind
        // NATs, told apart by the first byte before any registration decoding.
        const tunnelData = agent.udpTunnelData;
        if (tunnelData !== undefined && d.data[0] === TUNNEL_DATA_MESSAGE_TYPE) tunnelData({ bytes: d.data, source: d.address, sourcePort: d.port });
        else handle({ data: d.data, source: d.address, sourcePort: d.port, destination: d.localAddress, destinationPort: d.localPort });
      });
    }
    return sockets;
  });
}

export interface RunningHomeAgent {
  readonly agent: HomeAgent;
  /** The bound sockets (port 0 in the config becomes the port the system chose). */
  readonly sockets: readonly UdpSocket[];
  /** The packet path on this Linux host, when started with `dataPath`. */
  readonly dataPath: LinuxHomeAgentDataPath | undefined;
  /** What the store gave back at start, when started with one. */
  readonly restored: (RestoreOutcome & { readonly ms: number }) | undefined;
  /** The store's commits, when started with one. */
  readonly groupCommit: GroupCommit | undefined;
  /** Stops timers, commits what waits and sends its Replies, closes the sockets and the store, then stops the data path. */
  stop(): Promise<void>;
}

export interface StartHomeAgentOptions {
  readonly listen: readonly ListenAddress[];
  /**
   * The Udp layer. Default: real sockets, batched through the native helper on Linux when it is
   * built (LinuxUdpLive), else node:dgram (NodeUdpLive); pass either to force it, or a simulated
   * network's layer (runtime/udp-layer.ts).
   */
  readonly udp?: Layer.Layer<Udp>;
  /** Failures of the sockets after they are bound (a reply not sent, a datagram discarded). */
  readonly onSocketError?: (error: UdpError) => void;
  readonly clock?: Clock;
  readonly random32?: () => number;
  /** Put before every trace id (HomeAgentOptions.tracePrefix). */
  readonly tracePrefix?: string;
  /**
   * Run the packet path on this Linux host too (runtime/ha/home-agent-linux.ts): TUN device,
   * home-address routes, tunnels, proxy ARP. Started before the sockets are bound, so that no
   * binding precedes it. Without it the agent is control plane only.
   */
  readonly dataPath?: LinuxDataPathConfig;
  /** Times one datagram in `sampleEvery` (the registration-time histogram of runtime/metrics). */
  readonly requestTiming?: RequestTiming;
  /**
   * Keep bindings and replay state here (runtime/store/): restored before the sockets are
   * bound (after the data path, so their routes, tunnels and ARP come back), and every
   * change committed before the Reply that announces it. Closed by stop().
   */
  readonly store?: BindingStore;
  /** A commit failed: the Replies waiting for it were not sent. */
  readonly onStoreError?: (error: unknown, droppedReplies: number) => void;
}

/**
 * Starts a home agent: the library entry point for embedders. Rejects with a UdpError
 * (reason, endpoint, message) when a socket cannot be bound, or a DataPathStartError when the
 * data path cannot start; nothing stays open then.
 */
export async function startHomeAgent(config: HomeAgentConfig, options: StartHomeAgentOptions): Promise<RunningHomeAgent> {
  const layer = options.udp ?? (await udpLayer('auto'));
  const clock = options.clock ?? new RealClock();
  const store = options.store;
  const groupCommit = store === undefined ? undefined : new GroupCommit(store, options.onStoreError ?? (() => {}));
  const agent = new HomeAgent(config, {
    clock,
    random32: options.random32 ?? secureRandom32,
    ...(options.tracePrefix !== undefined ? { tracePrefix: options.tracePrefix } : {}),
    ...(groupCommit !== undefined ? { onStoreWrite: (write) => groupCommit.write(write) } : {}),
  });
  let dataPath: LinuxHomeAgentDataPath | undefined;
  if (options.dataPath !== undefined) {
    const { startLinuxHomeAgentDataPath } = await import('./home-agent-linux.js');
    try {
      dataPath = await startLinuxHomeAgentDataPath(agent, options.dataPath, {
        clock,
        settings: config.settings,
        ...(options.listen[0] !== undefined ? { registrationPort: options.listen[0].port } : {}),
      });
    } catch (error) {
      agent.close();
      await store?.close();
      throw error;
    }
  }
  let restored: RunningHomeAgent['restored'];
  if (store !== undefined) {
    try {
      const started = performance.now();
      const { outcome, deletes } = agent.restore(await store.load());
      await store.commit(deletes);
      restored = { ...outcome, ms: Math.round(performance.now() - started) };
    } catch (error) {
      agent.close();
      await store.close();
      await dataPath?.stop();
      throw error;
    }
  }
  const sockets = await openInScope(serveHomeAgent(agent, options.listen, options.onSocketError, options.requestTiming, groupCommit).pipe(Effect.provide(layer))).catch(async (error: unknown) => {
    agent.close();
    await store?.close();
    await dataPath?.stop();
    throw error;
  });
  let stopped = false;
  return {
    agent,
    sockets: sockets.value,
    dataPath,
    restored,
    groupCommit,
    async stop() {
      if (stopped) return;
      stopped = true;
      agent.close();
      await groupCommit?.drain();
      await sockets.close();
      await store?.close();
      await dataPath?.stop();
    },
  };
}
