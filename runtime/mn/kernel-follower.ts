/**
 * The mobile node follows its interface as the kernel reports it (io/link-events.ts): carrier
 * lost and back (a link-layer indication of movement, RFC 5944 2.4, R2.4-10), and an IPv4
 * address that someone else put on the interface (a DHCP client, an administrator) taken as a
 * co-located care-of address (1.7 b) with the interface's default router as its gateway.
 *
 * Not a co-located address: the home address, addresses of the home network (the host adapter
 * puts the home address there at home), link-local 169.254/16, and the configured static
 * `colocatedAddress` (the node uses it already; the host adapter adds it itself). Of several
 * candidates the one added last is used; its removal falls back to another still present, else
 * to agent discovery (the node solicits).
 */
import type { InterfaceEvent } from '../../io/link-events.js';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { isInPrefix } from '../../io/wire/ipv4-address.js';

/** What the follower drives: MobileNode's kernel-facing methods. */
export interface KernelFollowerTarget {
  linkLost(): void;
  linkRestored(): void;
  colocatedAddressChanged(colocated: { address: Ipv4Address; prefixLength: number; gateway?: Ipv4Address } | undefined): void;
}

export interface KernelFollowerSettings {
  readonly homeAddress: Ipv4Address;
  readonly homeNetwork: Ipv4Address;
  readonly homePrefixLength: number;
  /** The configured static co-located address, if any: not learned again from the kernel. */
  readonly staticColocated?: Ipv4Address;
}

const LINK_LOCAL = 0xa9fe0000; // 169.254.0.0/16 (RFC 3927): never a care-of address

export class KernelFollower {
  private carrier: boolean | undefined;
  /** Candidate addresses in the order they were added. */
  private readonly candidates: Array<{ address: Ipv4Address; prefixLength: number }> = [];
  private readonly gateways: Ipv4Address[] = [];

  constructor(
    private readonly node: KernelFollowerTarget,
    private readonly settings: KernelFollowerSettings,
    private readonly log: (event: object) => void = () => {},
  ) {}

  handle(event: InterfaceEvent): void {
    switch (event.kind) {
      case 'link': {
        const carrier = event.up && event.carrier;
        const before = this.carrier;
        this.carrier = carrier;
        if (before === carrier) return;
        this.log({ event: 'carrier', interface: event.interfaceName, up: carrier });
        if (!carrier) return this.node.linkLost();
        // At the start with a carrier there is nothing to restore.
        if (before === undefined) return;
        this.node.linkRestored();
        // The node forgot the co-located address with the link (R1.7-6): one still on the
        // interface belongs to the new link (the kernel would have removed it otherwise).
        return this.offer();
      }
      case 'address': {
        if (!this.isCandidate(event.address)) return;
        const at = this.candidates.findIndex((c) => c.address === event.address);
        if (at >= 0) this.candidates.splice(at, 1);
        if (event.added) this.candidates.push({ address: event.address, prefixLength: event.prefixLength });
        this.log({ event: 'interface-address', interface: event.interfaceName, address: `${ipv4ToString(event.address)}/${event.prefixLength}`, added: event.added });
        return this.offer();
      }
      case 'default-route': {
        const at = this.gateways.indexOf(event.gateway);
        if (at >= 0) this.gateways.splice(at, 1);
        if (event.added) this.gateways.push(event.gateway);
        return this.offer();
      }
    }
  }

  private isCandidate(address: Ipv4Address): boolean {
    const s = this.settings;
    if (address === s.homeAddress || address === s.staticColocated) return false;
    if (isInPrefix(address, s.homeNetwork, s.homePrefixLength)) return false;
    return !isInPrefix(address, LINK_LOCAL, 16);
  }

  /** Tells the node the co-located address to use now (it ignores a repetition). */
  private offer(): void {
    if (this.carrier === false) return;
    const chosen = this.candidates[this.candidates.length - 1];
    if (chosen === undefined) {
      // Without a learned address the static one (if configured) stays the node's own business.
      if (this.settings.staticColocated === undefined) this.node.colocatedAddressChanged(undefined);
      return;
    }
    // The default router of the address's own subnet (a DHCP client's default route).
    const gateway = [...this.gateways].reverse().find((g) => chosen.prefixLength < 32 && isInPrefix(g, chosen.address, chosen.prefixLength));
    this.node.colocatedAddressChanged({ address: chosen.address, prefixLength: chosen.prefixLength, ...(gateway !== undefined ? { gateway } : {}) });
  }
}
