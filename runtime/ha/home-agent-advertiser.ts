/**
 * The home agent's Agent Advertisements on its home link (RFC 5944 2.3, 2.4.3): the same
 * advertiser machine as the foreign agent's (machines/advertiser.ts: periodic advertisements at
 * most a third of their Lifetime apart, with jitter; sequence numbers from 0 with rollover to
 * 256; unicast answers to solicitations, rate-limited multicast ones), hosted by its own
 * ActorHost over a LinkInterface of the home link, sending `buildHomeAgentAdvertisement` ('H'
 * set, R2.3-8). A mobile node that hears it knows it is at home (2.4.3) and deregisters; one
 * that has just arrived and solicits is answered at once.
 *
 * It is a separate runtime piece beside the HomeAgent (runtime/ha/home-agent.ts) rather than part
 * of it: the home agent's registration path knows nothing of links, and the home link may be
 * absent (a virtual home network has no link to advertise on, 2.3; `mip4 ha` without an
 * `advertisement` section). It shares no state with the agent: the advertisement carries the
 * configured Registration Lifetime, and solicitations are the only input.
 *
 * Solicitations (2.2, 2.3): any ICMP Router Solicitation with a valid checksum that the link
 * delivers, whatever its IP destination (224.0.0.11 — which every mobility agent MUST process,
 * R2.3-3 —, 224.0.0.2, 255.255.255.255, the agent's address) and whatever its source: the agent
 * does not require the source to be a neighbour (2.3). Only ICMP from the link is read, so
 * nothing here is on the agent's registration path.
 */
import { Effect, type Layer } from 'effect';
import { openInScope } from '../../io/scoped-start.js';
import { Subject } from 'rxjs';
import { Link, type LinkInterface } from '../../io/link.js';
import { decodeAgentSolicitation, type AgentAdvertisement, type RouterEntry } from '../../io/wire/agent-discovery.js';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, ethernetEtherType, ethernetSource, type MacAddress } from '../../io/wire/ethernet.js';
import { IcmpType } from '../../io/wire/icmp.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import {
  advertiserConfig,
  advertiserMachine,
  buildHomeAgentAdvertisement,
  type AdvertiserCommand,
  type AdvertiserMachine,
  type AdvertiserSettings,
  type SendAdvertisementParams,
} from '../../machines/advertiser.js';
import { ActorHost, stateValueToString, type HostedActor, type TransitionRecord } from '../actors/actor-host.js';
import { inspectHost, type InspectedHost } from '../actors/inspection.js';
import { RealClock, type Clock } from '../../io/clock.js';
import { agentAdvertisementFrame } from '../../io/wire/frames.js';
import { secureRandom32 } from '../../io/random.js';

export interface HomeAgentAdvertisementConfig extends Omit<AdvertiserSettings, 'busy'> {
  /** The home agent's address on the home link: the advertisements' IP source. */
  readonly address: Ipv4Address;
  /** The longest registration Lifetime the agent grants, seconds (2.1.1; 0xffff = infinity). */
  readonly registrationLifetime: number;
  /** Code 16 when false (the agent does not route common traffic, 2.1). Default true. */
  readonly routesCommonTraffic?: boolean;
  /** Router addresses (2.3.1: only the agent's own); none by default. */
  readonly routers?: readonly RouterEntry[];
  /** Prefix lengths for the routers (2.1.2); every agent on the link must agree (R2.3-11). */
  readonly prefixLengths?: readonly number[];
}

export type HomeAgentAdvertiserEvent =
  | {
      readonly event: 'advertisement';
      readonly at: number;
      readonly sequence: number;
      readonly destination: string;
      readonly linkLayerDestination: MacAddress;
    }
  | { readonly event: 'solicitation'; readonly at: number; readonly from: string; readonly linkLayerSource: MacAddress }
  | { readonly event: 'actor-error'; readonly at: number; readonly actor: string; readonly detail: string };

export interface HomeAgentAdvertiserCounters {
  advertisements: number;
  solicitations: number;
  /** Solicitations with a bad ICMP checksum or length (RFC 1256 6.1.1: silently discarded). */
  badSolicitations: number;
}

export interface HomeAgentAdvertiserOptions {
  readonly clock: Clock;
  /** Uniform 32-bit values: the response delay of multicast answers. Seeded in tests. */
  readonly random32: () => number;
}

export class HomeAgentAdvertiser {
  readonly counters: HomeAgentAdvertiserCounters = { advertisements: 0, solicitations: 0, badSolicitations: 0 };
  private readonly eventSubject = new Subject<HomeAgentAdvertiserEvent>();
  private readonly transitionSubject = new Subject<TransitionRecord>();
  /** Advertisements sent and solicitations heard, as JSON-able log events. */
  readonly events = this.eventSubject.asObservable();
  /** The advertiser actor's state changes. */
  readonly transitions = this.transitionSubject.asObservable();
  private readonly host: ActorHost<AdvertiserMachine, unknown, AdvertiserCommand>;
  private actor: HostedActor<AdvertiserMachine> | undefined;
  private closed = false;

  /** Validates the configuration (throws RangeError naming the problem) and starts advertising on `link`. */
  constructor(
    private readonly link: LinkInterface,
    private readonly config: HomeAgentAdvertisementConfig,
    private readonly options: HomeAgentAdvertiserOptions,
  ) {
    // Fail before anything is sent: an impossible advertisement is a configuration error.
    this.advertisement(0);
    advertiserConfig({ ...config, busy: false });
    this.host = new ActorHost(advertiserMachine, {
      clock: options.clock,
      onTransition: (record) => {
        if (this.transitionSubject.observed) this.transitionSubject.next(record);
      },
      onError: (actor, error) => this.emit({ event: 'actor-error', at: options.clock.now(), actor: actor.id, detail: String(error) }),
      onCommands: (_actor, commands: readonly AdvertiserCommand[]) => {
        for (const command of commands) {
          if (command.type === 'sendAdvertisement') this.send(command.params);
        }
      },
    });
    link.onFrame((frame) => this.handleFrame(frame));
    // R2.3.2-1: the first advertisement after start carries sequence 0 and goes out now.
    this.actor = this.host.spawn('ha-advertiser', { ...config, busy: false });
  }

  /** The advertiser actor as the live inspector shows it (runtime/inspector/). */
  inspected(): InspectedHost {
    return inspectHost('fa-advertiser', 'home agent advertiser', this.host, () => (this.actor === undefined || this.actor.stopped ? [] : [this.actor]), (actor) => ({
      id: actor.id,
      state: stateValueToString(actor.snapshot.value),
      fields: { address: ipv4ToString(this.config.address) },
    }));
  }

  /** One frame from the home link. Never throws on what arrives. */
  handleFrame(frame: Uint8Array): void {
    if (this.closed || this.actor === undefined) return;
    if (frame.length < ETHERNET_HEADER_LENGTH || ethernetEtherType(frame, 0) !== EtherType.IPv4) return;
    const linkSource = ethernetSource(frame, 0);
    if (linkSource === this.link.mac) return;
    const packet = decodeIpv4Packet(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!packet.ok || !packet.value.header.checksumValid) return;
    const { header, payload } = packet.value;
    if (header.protocol !== IpProtocol.ICMP || payload[0] !== IcmpType.RouterSolicitation) return;
    const solicitation = decodeAgentSolicitation(payload);
    if (!solicitation.ok || !solicitation.value.checksumValid) {
      this.counters.badSolicitations++;
      return;
    }
    this.counters.solicitations++;
    const at = this.options.clock.now();
    this.emit({ event: 'solicitation', at, from: ipv4ToString(header.source), linkLayerSource: linkSource });
    this.host.send(this.actor, { type: 'solicitation', source: header.source >>> 0, linkLayerSource: linkSource, random: this.options.random32() >>> 0, at });
  }

  /** Stops advertising (no final advertisement: RFC 1256's zero-lifetime goodbye is optional and unused by 5944). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.close();
    this.eventSubject.complete();
    this.transitionSubject.complete();
  }

  private advertisement(sequence: number): AgentAdvertisement {
    const c = this.config;
    return buildHomeAgentAdvertisement(
      {
        registrationLifetime: c.registrationLifetime,
        advertisementLifetime: c.lifetimeSeconds,
        ...(c.routesCommonTraffic === undefined ? {} : { routesCommonTraffic: c.routesCommonTraffic }),
        ...(c.routers === undefined ? {} : { routers: c.routers }),
        ...(c.prefixLengths === undefined ? {} : { prefixLengths: c.prefixLengths }),
      },
      sequence,
    );
  }

  private send(params: SendAdvertisementParams): void {
    const advertisement = this.advertisement(params.sequence);
    const { frame, destinationMac } = agentAdvertisementFrame(advertisement, {
      sourceMac: this.link.mac,
      source: this.config.address,
      destination: params.destination,
      ...(params.linkLayerDestination === undefined ? {} : { linkLayerDestination: params.linkLayerDestination }),
    });
    this.link.send(frame);
    this.counters.advertisements++;
    this.emit({
      event: 'advertisement',
      at: this.options.clock.now(),
      sequence: params.sequence,
      destination: ipv4ToString(params.destination),
      linkLayerDestination: destinationMac,
    });
  }

  private emit(event: HomeAgentAdvertiserEvent): void {
    if (this.eventSubject.observed) this.eventSubject.next(event);
  }
}

export interface RunningHomeAgentAdvertiser {
  readonly advertiser: HomeAgentAdvertiser;
  /** Stops advertising and releases the link. */
  stop(): Promise<void>;
}

/**
 * Opens the home link `interfaceName` through the Link service (AF_PACKET on Linux, a simulated
 * interface in tests) and advertises on it. Rejects with the LinkError when the interface
 * cannot be opened, or a RangeError for an impossible configuration; nothing stays open then.
 */
export async function startHomeAgentAdvertiser(
  config: HomeAgentAdvertisementConfig,
  options: { readonly interfaceName: string; readonly link: Layer.Layer<Link>; readonly clock?: Clock; readonly random32?: () => number },
): Promise<RunningHomeAgentAdvertiser> {
  const link = await openInScope(Effect.flatMap(Link, (service) => service.open(options.interfaceName)).pipe(Effect.provide(options.link)));
  let advertiser: HomeAgentAdvertiser;
  try {
    advertiser = new HomeAgentAdvertiser(link.value, config, { clock: options.clock ?? new RealClock(), random32: options.random32 ?? secureRandom32 });
  } catch (error) {
    await link.close();
    throw error;
  }
  let stopped = false;
  return {
    advertiser,
    async stop() {
      if (stopped) return;
      stopped = true;
      advertiser.close();
      await link.close();
    },
  };
}
