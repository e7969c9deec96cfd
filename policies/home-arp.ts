/**
 * The home agent's ARP for its mobile nodes (RFC 5944 4.6): which gratuitous and proxy ARP the
 * home link must do when a node's bindings change or it deregisters from home.
 * - first binding (the node was assumed at home): gratuitous ARP with the home agent's
 *   link-layer address, then proxy ARP on, in this order (R4.6-7, R4.6-18);
 * - last binding gone (expired, deregistered, replaced): proxy ARP off (R4.6-19);
 * - accepted deregistration of all bindings (the node is home): gratuitous ARP with the node's
 *   own link-layer address (R4.6-12, R4.6-19).
 * A denied Request changes nothing (R4.6-20): the runtime calls this only for accepted ones.
 * Pure; the commands are carried out by the home link (simulated or Linux).
 */
import type { Ipv4Address } from '../io/wire/bytes.js';

/** What the home link must do (4.6). */
export type ArpCommand =
  | { readonly kind: 'proxy-arp'; readonly enable: boolean; readonly homeAddress: Ipv4Address }
  | {
      readonly kind: 'gratuitous-arp';
      readonly homeAddress: Ipv4Address;
      /** Whose link-layer address the home network should learn for the home address. */
      readonly linkAddressOf: 'home-agent' | 'mobile-node';
      /** Broadcasts are unreliable: send this many copies (4.6 "a small number of times"). */
      readonly copies: number;
    };

/** R4.6-9, R4.6-13: "retransmitted a small number of times". */
export const GRATUITOUS_ARP_COPIES = 3;

const NOTHING: readonly ArpCommand[] = Object.freeze([]);

/**
 * The ARP commands for a node whose binding count went from `before` to `after`. Renewals and
 * changes between non-zero counts ask for nothing (a shared empty list: no allocation on the
 * registration hot path).
 */
export function arpForBindingCount(homeAddress: Ipv4Address, before: number, after: number): readonly ArpCommand[] {
  if (before === 0 && after > 0) {
    return [
      { kind: 'gratuitous-arp', homeAddress, linkAddressOf: 'home-agent', copies: GRATUITOUS_ARP_COPIES },
      { kind: 'proxy-arp', enable: true, homeAddress },
    ];
  }
  if (before > 0 && after === 0) return [{ kind: 'proxy-arp', enable: false, homeAddress }];
  return NOTHING;
}

/**
 * The ARP command for an accepted deregistration of all bindings: the node is home, so the
 * home network learns its own link-layer address again. It follows the proxy ARP off of the
 * last binding's end (4.6, returning home).
 */
export function arpForReturnHome(homeAddress: Ipv4Address): ArpCommand {
  return { kind: 'gratuitous-arp', homeAddress, linkAddressOf: 'mobile-node', copies: GRATUITOUS_ARP_COPIES };
}
