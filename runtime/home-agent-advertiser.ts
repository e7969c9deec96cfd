/**
 * The home agent's Agent Advertisements on its home link (RFC 5944 2.1, 2.3, 2.4.3).
 *
 * A mobile node learns that it is home from an Advertisement of its own home agent, with the
 * 'H' bit set (R2.3-8), on the home link (2.4.3); only then does it deregister and take its
 * home address back (4.6). This module hosts the same advertiser machine as the foreign agent
 * (machines/advertiser.ts: intervals at most a third of the lifetime with jitter, sequence
 * numbers from 0 with the rollover to 256) and sends what it asks for as ICMP Router
 * Advertisements with the Mobility Agent Advertisement Extension: 'H' set, 'F' clear, no
 * care-of addresses (a home agent that is not also a foreign agent offers none, 2.1.1), the
 * M and G bits for the encapsulations the agent accepts, IP TTL 1 (R2.1-2).
 *
 * They leave through a raw IPv4 socket bound to the home interface with the header included
 * (the TTL and source are ours): the data path's packet socket on that interface stays the
 * only one there (io/linux/packet.ts). Agent Solicitations are not answered yet (2.3 says
 * SHOULD): periodic advertisements, one per `maxInterval`, are what the node waits for.
 */
import { Cause, Effect, Exit, Layer, Scope } from 'effect';
import { RawIp, type RawIpSocket } from '../io/raw-ip.js';
import {
  AdvertisementCode,
  AdvertisementExtensionType,
  AdvertisementFlag,
  agentAdvertisementLength,
  encodeAgentAdvertisement,
  makeAgentAdvertisement,
} from '../io/wire/agent-discovery.js';
import { ipv4ToString, type Ipv4Address } from '../io/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH } from '../io/wire/ethernet.js';
import { IpProtocol } from '../io/wire/ipv4.js';
import { advertiserMachine, type AdvertiserSettings, type SendAdvertisementParams } from '../machines/advertiser.js';
import { ActorHost, type Command } from './actor-host.js';
import { RealClock, type Clock } from './clock.js';
import { icmpFrame } from './frames.js';
import { secureRandom32 } from './home-agent-server.js';

export interface HomeAdvertisementConfig {
  /** The interface on the home network. */
  readonly interfaceName: string;
  /** The advertisements' source: the home agent's address on that link. */
  readonly address: Ipv4Address;
  /** Registration Lifetime field: the longest lifetime the agent grants, seconds (2.1.1). */
  readonly registrationLifetime: number;
  readonly encapsulations: { readonly minimal: boolean; readonly gre: boolean };
  /** Intervals and lifetime; the jitter's seed is drawn at start. */
  readonly advertiser: Omit<AdvertiserSettings, 'busy' | 'seed'>;
}

export type HomeAdvertisementEvent = {
  readonly event: 'advertisement';
  readonly at: number;
  readonly sequence: number;
  readonly destination: string;
  readonly sent: boolean;
};

/** Builds one advertisement as an IPv4 datagram (header included), TTL 1. */
export function homeAgentAdvertisementDatagram(config: HomeAdvertisementConfig, params: SendAdvertisementParams): Uint8Array {
  let flags = AdvertisementFlag.H;
  if (params.busy) flags |= AdvertisementFlag.B;
  if (config.encapsulations.minimal) flags |= AdvertisementFlag.M;
  if (config.encapsulations.gre) flags |= AdvertisementFlag.G;
  const advertisement = makeAgentAdvertisement({
    code: AdvertisementCode.RoutesCommonTraffic,
    lifetime: config.advertiser.lifetimeSeconds,
    routers: [],
    extensions: [
      {
        kind: 'mobility-agent-advertisement',
        type: AdvertisementExtensionType.MobilityAgentAdvertisement,
        sequence: params.sequence,
        registrationLifetime: config.registrationLifetime,
        flags,
        careOfAddresses: [],
      },
    ],
  });
  const icmp = new Uint8Array(agentAdvertisementLength(advertisement));
  encodeAgentAdvertisement(advertisement, icmp, 0);
  // The Ethernet header of icmpFrame is not sent: the kernel frames what a raw socket sends.
  const frame = icmpFrame({ sourceMac: '00:00:00:00:00:00', destinationMac: '00:00:00:00:00:00', source: config.address, destination: params.destination, ttl: 1 }, icmp);
  return frame.subarray(ETHERNET_HEADER_LENGTH);
}

export interface RunningHomeAdvertiser {
  readonly advertisements: () => number;
  stop(): Promise<void>;
}

/**
 * Starts advertising now (sequence 0 first, R2.3.2-1). Rejects with the RawIpError of the
 * socket when it cannot be opened (no such interface, no permission); nothing stays open then.
 */
export async function startHomeAgentAdvertiser(
  config: HomeAdvertisementConfig,
  options: {
    readonly rawIp: Layer.Layer<RawIp>;
    readonly clock?: Clock;
    /** Seeds the interval jitter, which must differ between agents on one link (RFC 1256). */
    readonly random32?: () => number;
    readonly onEvent?: (event: HomeAdvertisementEvent) => void;
  },
): Promise<RunningHomeAdvertiser> {
  const scope = Effect.runSync(Scope.make());
  const opened = await Effect.runPromiseExit(
    Effect.gen(function* () {
      return yield* (yield* RawIp).open(IpProtocol.ICMP, { headerIncluded: true, device: config.interfaceName });
    }).pipe(Scope.extend(scope), Effect.provide(options.rawIp)),
  );
  if (Exit.isFailure(opened)) {
    await Effect.runPromise(Scope.close(scope, Exit.void));
    const failure = Cause.failureOption(opened.cause);
    if (failure._tag === 'Some') throw failure.value;
    throw Cause.squash(opened.cause);
  }
  const socket: RawIpSocket = opened.value;
  const clock = options.clock ?? new RealClock();
  let count = 0;
  const send = (params: SendAdvertisementParams) => {
    const sent = socket.send(homeAgentAdvertisementDatagram(config, params), params.destination);
    if (sent) count++;
    options.onEvent?.({ event: 'advertisement', at: clock.now(), sequence: params.sequence, destination: ipv4ToString(params.destination), sent });
  };
  const host = new ActorHost(advertiserMachine, {
    clock,
    onCommands: (_actor, commands: readonly Command[]) => {
      for (const command of commands) if (command.type === 'sendAdvertisement') send(command.params as SendAdvertisementParams);
    },
  });
  host.spawn('home-advertiser', { ...config.advertiser, busy: false, seed: (options.random32 ?? secureRandom32)() | 1 });
  let stopped = false;
  return {
    advertisements: () => count,
    async stop() {
      if (stopped) return;
      stopped = true;
      host.close();
      await Effect.runPromise(Scope.close(scope, Exit.void));
    },
  };
}
