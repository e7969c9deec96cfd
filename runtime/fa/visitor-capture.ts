/**
 * Keeping the host from also forwarding what the foreign agent reverse-tunnels (RFC 3024 delivery styles).
 * The agent reads the visitor link as a packet tap (it sees every frame, and the host still
 * processes it): for a visitor granted 'T' the host must drop the node's datagrams instead of
 * routing them onto the visited network with the home address as source, which ingress
 * filtering would drop anyway and which would arrive twice where it does not.
 *
 * The agent calls `capture` when a visitor's reverse tunnel is installed (or changes link-layer
 * address), `release` when it ends, `close` at stop. Datagrams addressed to the host itself are
 * never held back (registration, solicitations, the encapsulating delivery style's tunnel).
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import type { MacAddress } from '../../io/wire/ethernet.js';
import { ipv4Destination, ipv4Source } from '../../io/wire/ipv4.js';
import type { SimHost } from '../../io/sim/ip-host.js';

export interface VisitorCapture {
  /**
   * From now on the host drops (does not forward) datagrams from `homeAddress` on the visitor
   * link, whichever station sent them: the node's own go through its tunnel, another station's
   * with that source are spoofed and must not leave either. `linkLayerAddress` is the node's.
   */
  capture(homeAddress: Ipv4Address, linkLayerAddress: MacAddress): void;
  release(homeAddress: Ipv4Address): void;
  close(): void;
}

/**
 * On the simulated network: one intercept on the host that swallows, before routing, a
 * datagram received on `interfaceName` from a captured home address and addressed elsewhere
 * than the host (`ownAddresses`). The agent has already had the frame
 * (frame handlers run before the host's processing).
 */
export function simVisitorCapture(host: SimHost, interfaceName: string, ownAddresses: readonly Ipv4Address[]): VisitorCapture {
  const captured = new Map<number, MacAddress>();
  const own = new Set(ownAddresses.map((a) => a | 0));
  const stop = host.intercept(
    (datagram, info) =>
      info.origin === 'link' &&
      info.interface === interfaceName &&
      captured.has(ipv4Source(datagram, 0) | 0) &&
      !own.has(ipv4Destination(datagram, 0) | 0),
    () => {},
  );
  return {
    capture: (homeAddress, linkLayerAddress) => void captured.set(homeAddress | 0, linkLayerAddress),
    release: (homeAddress) => void captured.delete(homeAddress | 0),
    close: () => {
      captured.clear();
      stop();
    },
  };
}
