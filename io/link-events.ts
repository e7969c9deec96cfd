/**
 * The LinkEvents service: what the kernel knows about one interface (carrier, addresses, the
 * default router), as events, so that a mobile node learns of a move from the link layer
 * (RFC 5944 2.4, R2.4-10; 2.4.2) and of a co-located care-of address the moment a DHCP client
 * or an administrator puts one on its interface (1.7 b, 3.6), without polling.
 *
 * Effect carries only the lifecycle (a watch is opened in a Scope and stopped by its finalizer)
 * and the typed error; events go to a plain handler, first the interface's state at the start,
 * then each change. Layers: io/linux/link-events.ts (an rtnetlink subscription in the native
 * helper) and io/sim/link-events.ts (the simulated hosts' link up/down and address changes).
 * Both feed `LinkStateTracker`, which turns snapshots and notifications into changes only: a
 * dump repeated after an overrun reports what was lost (an address removed meanwhile) and
 * nothing twice.
 */
import { Context, Data, type Effect, type Scope } from 'effect';
import type { Ipv4Address } from './wire/bytes.js';

/** A change of an interface's link state or of one of its IPv4 addresses. */
export type LinkEvent =
  | { readonly kind: 'link'; readonly interfaceName: string; readonly ifindex: number; readonly up: boolean; readonly carrier: boolean }
  | {
      readonly kind: 'address';
      readonly interfaceName: string;
      readonly ifindex: number;
      readonly added: boolean;
      readonly address: Ipv4Address;
      readonly prefixLength: number;
    };

/** The interface's default route through a gateway (main table) appeared or went away. */
export interface DefaultRouteEvent {
  readonly kind: 'default-route';
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly added: boolean;
  readonly gateway: Ipv4Address;
}

export type InterfaceEvent = LinkEvent | DefaultRouteEvent;

/** An interface's state as last known. */
export interface InterfaceState {
  readonly interfaceName: string;
  readonly ifindex: number;
  readonly up: boolean;
  readonly carrier: boolean;
  readonly addresses: ReadonlyArray<{ readonly address: Ipv4Address; readonly prefixLength: number }>;
  readonly gateways: readonly Ipv4Address[];
}

export interface LinkEventWatch {
  /** The watched interface's state now (undefined until the kernel has listed it). */
  state(): InterfaceState | undefined;
}

export type LinkEventsErrorReason =
  /** Listening to the kernel's events failed (socket, permission). */
  | 'unavailable'
  /** Reading the events failed after the watch started. */
  | 'read';

export class LinkEventsError extends Data.TaggedError('LinkEventsError')<{
  readonly reason: LinkEventsErrorReason;
  readonly interfaceName: string;
  /** What happened and what to do about it. */
  readonly message: string;
}> {}

export class LinkEvents extends Context.Tag('mip4/LinkEvents')<
  LinkEvents,
  {
    /**
     * Watches the named interface: `handler` gets its state at the start (a 'link' event and an
     * 'address' added per address, once the kernel has listed them) and every change after.
     * A failure after the start goes to `onError`; the watch then stops. Closing the scope stops it.
     */
    readonly watch: (
      interfaceName: string,
      handler: (event: InterfaceEvent) => void,
      onError?: (error: LinkEventsError) => void,
    ) => Effect.Effect<LinkEventWatch, LinkEventsError, Scope.Scope>;
  }
>() {}

/** What a layer feeds the tracker: notifications and dumps (a dump between sync begin and end). */
export type TrackerInput = InterfaceEvent | { readonly kind: 'sync'; readonly phase: 'begin' | 'end' };

interface MutableState {
  interfaceName: string;
  ifindex: number;
  /** A 'link' event has been seen: the first one is reported whatever it says. */
  linkKnown: boolean;
  up: boolean;
  carrier: boolean;
  readonly addresses: Map<number, number>;
  readonly gateways: Set<number>;
  /** Seen again in the dump running now (sync begin .. end). */
  readonly listed: { link: boolean; addresses: Set<number>; gateways: Set<number> };
}

/**
 * Keeps the state of one named interface and reports changes only. Between a 'sync' begin and
 * end (a full dump) whatever the dump does not list again is reported gone at the end: the
 * kernel dropped the notification of its removal when the receive queue overflowed.
 */
export class LinkStateTracker {
  private current: MutableState | undefined;
  private syncing = false;

  constructor(
    readonly interfaceName: string,
    private readonly emit: (event: InterfaceEvent) => void,
  ) {}

  state(): InterfaceState | undefined {
    const s = this.current;
    if (s === undefined) return undefined;
    return {
      interfaceName: s.interfaceName,
      ifindex: s.ifindex,
      up: s.up,
      carrier: s.carrier,
      addresses: [...s.addresses].map(([address, prefixLength]) => ({ address, prefixLength })),
      gateways: [...s.gateways],
    };
  }

  feed(input: TrackerInput): void {
    if (input.kind === 'sync') return this.sync(input.phase);
    if (input.interfaceName !== this.interfaceName) return;
    const s = this.stateFor(input.ifindex);
    switch (input.kind) {
      case 'link': {
        if (this.syncing) s.listed.link = true;
        if (s.linkKnown && s.up === input.up && s.carrier === input.carrier && s.ifindex === input.ifindex) return;
        s.linkKnown = true;
        s.up = input.up;
        s.carrier = input.carrier;
        s.ifindex = input.ifindex;
        this.emit(input);
        // Linux removes an interface's routes when it goes administratively down without a
        // notification for each (fib_sync_down_dev): its default routes are gone.
        if (!input.up) this.dropGateways(s);
        return;
      }
      case 'address': {
        const key = input.address >>> 0;
        if (input.added) {
          if (this.syncing) s.listed.addresses.add(key);
          if (s.addresses.get(key) === input.prefixLength) return;
          s.addresses.set(key, input.prefixLength);
        } else if (!s.addresses.delete(key)) return;
        return this.emit({ ...input, address: key });
      }
      case 'default-route': {
        const key = input.gateway >>> 0;
        if (input.added) {
          if (this.syncing) s.listed.gateways.add(key);
          if (s.gateways.has(key)) return;
          s.gateways.add(key);
        } else if (!s.gateways.delete(key)) return;
        return this.emit({ ...input, gateway: key });
      }
    }
  }

  private stateFor(ifindex: number): MutableState {
    if (this.current === undefined) {
      this.current = {
        interfaceName: this.interfaceName,
        ifindex,
        linkKnown: false,
        up: false,
        carrier: false,
        addresses: new Map(),
        gateways: new Set(),
        listed: { link: false, addresses: new Set(), gateways: new Set() },
      };
    }
    return this.current;
  }

  private dropGateways(s: MutableState): void {
    for (const gateway of [...s.gateways]) {
      s.gateways.delete(gateway);
      this.emit({ kind: 'default-route', interfaceName: s.interfaceName, ifindex: s.ifindex, added: false, gateway });
    }
  }

  private sync(phase: 'begin' | 'end'): void {
    const s = this.current;
    if (phase === 'begin') {
      this.syncing = true;
      if (s !== undefined) {
        s.listed.link = false;
        s.listed.addresses.clear();
        s.listed.gateways.clear();
      }
      return;
    }
    this.syncing = false;
    if (s === undefined) return;
    const { interfaceName, ifindex } = s;
    for (const [address, prefixLength] of [...s.addresses]) {
      if (s.listed.addresses.has(address)) continue;
      s.addresses.delete(address);
      this.emit({ kind: 'address', interfaceName, ifindex, added: false, address, prefixLength });
    }
    for (const gateway of [...s.gateways]) {
      if (s.listed.gateways.has(gateway)) continue;
      s.gateways.delete(gateway);
      this.emit({ kind: 'default-route', interfaceName, ifindex, added: false, gateway });
    }
    if (!s.listed.link && (s.up || s.carrier)) {
      // The interface itself is gone.
      s.up = false;
      s.carrier = false;
      this.emit({ kind: 'link', interfaceName, ifindex, up: false, carrier: false });
    }
  }
}
