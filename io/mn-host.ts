/**
 * The MnHost service: configuring the mobile node's own host for each attachment, so that the
 * host uses the home address on whatever link it is on (RFC 5944 1.7, 4.2.1, 4.6).
 *
 * The mobile node (runtime/mn/mobile-node.ts) decides where it is attached and announces it; an
 * adapter of this service makes the host's IP stack match: addresses, the default router,
 * neighbour entries and ARP behaviour. Moves are rare, so the work is asynchronous and may take
 * milliseconds (one `ip` command each on Linux). Effect carries the lifecycle: the adapter is
 * opened in a Scope, and closing the scope restores what it changed (on Linux also after a
 * crash: the next open replays a state file written before each change). Layers:
 * io/linux/mn-host.ts (iproute2 and /proc/sys); the simulated world configures its hosts
 * directly (runtime/cli/roaming-demo.ts), and tests can provide a recording layer.
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';
import type { MacAddress } from './wire/ethernet.js';

/**
 * How the mobile node is attached:
 * - at home: the home address on the interface, ARP as usual (4.6);
 * - through a foreign agent: the home address only, and the first hop of 4.2.1 (the agent, whose
 *   link-layer address its Advertisement gave: no ARP away from home, R4.2.1-7, R4.6-14);
 * - co-located: the care-of address on the interface, tunnels to it decapsulated by the node.
 */
export type HostAttachment =
  | { readonly kind: 'at-home' }
  | {
      readonly kind: 'foreign-agent';
      readonly agent: Ipv4Address;
      readonly careOfAddress: Ipv4Address;
      /** The default router (R4.2.1-2) and its link-layer address from the Advertisement. */
      readonly router: Ipv4Address;
      readonly routerLinkAddress: MacAddress;
    }
  | {
      readonly kind: 'co-located';
      readonly careOfAddress: Ipv4Address;
      readonly prefixLength?: number;
      /** The link's default router when the kernel told it (a DHCP client's default route); else `foreignGateway`. */
      readonly gateway?: Ipv4Address;
    };

/** What the adapter needs to know about the node (from its configuration). */
export interface MnHostSettings {
  /** The interface the node moves with. */
  readonly interfaceName: string;
  readonly homeAddress: Ipv4Address;
  readonly homePrefixLength: number;
  /** The default router on the home network, if the node should have one at home. */
  readonly homeGateway?: Ipv4Address;
  /** The default router of the foreign network a co-located care-of address belongs to. */
  readonly foreignGateway?: Ipv4Address;
  /** Its link-layer address when known: then no ARP is broadcast for it (R4.6-14). */
  readonly foreignGatewayLinkAddress?: MacAddress;
  /** The TUN device decapsulated datagrams are injected through (co-located mode). */
  readonly tunnelDevice?: string;
  /**
   * Co-located mode with reverse tunnelling wanted (RFC 3024 5.2): the node's own datagrams are
   * routed into `tunnelDevice`, where the node encapsulates them to `homeAgent`, which is itself
   * reached through `foreignGateway` (so the outer packets do not loop into the TUN device).
   */
  readonly reverseTunnel?: { readonly homeAgent: Ipv4Address };
}

export interface MnHostAdapter {
  /** Makes the host match `attachment`, undoing what the previous attachment set up. */
  readonly apply: (attachment: HostAttachment) => Effect.Effect<void, MnHostError>;
}

export type MnHostErrorReason =
  /** Changing the host's network configuration needs CAP_NET_ADMIN (root). */
  | 'permission'
  /** The tool or interface is missing (no iproute2, no such interface). */
  | 'unavailable'
  /** A command failed. */
  | 'command'
  /** Another live process configures the same interface (its state file says so). */
  | 'in-use';

export class MnHostError extends Data.TaggedError('MnHostError')<{
  readonly reason: MnHostErrorReason;
  /** The command or setting concerned, e.g. "ip route replace default via 203.0.113.1 dev eth0". */
  readonly operation: string;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export class MnHost extends Context.Tag('mip4/MnHost')<
  MnHost,
  {
    /** An adapter for one node; closing the scope restores what it changed. */
    readonly open: (settings: MnHostSettings) => Effect.Effect<MnHostAdapter, MnHostError, Scope.Scope>;
  }
>() {}
