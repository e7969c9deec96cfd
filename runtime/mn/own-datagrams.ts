/**
 * Hands the node's own datagrams to its reverse tunnel (RFC 3024 5.2) on a host that can
 * intercept what its stack sends: the simulated host (io/sim/ip-host.ts `intercept`), typed
 * structurally so this room does not import io/sim. On Linux the TUN device plays this part
 * (the host routes the node's datagrams into it; io/linux/mn-host.ts).
 */
import { ipv4Destination, ipv4Protocol, ipv4Source } from '../../io/wire/ipv4.js';
import { isTunnelProtocol } from '../../io/wire/tunnel.js';
import { isMulticast } from '../../io/wire/ipv4-address.js';
import type { MobileNode } from './mobile-node.js';

export interface InterceptingHost {
  intercept(
    predicate: (datagram: Uint8Array, info: { readonly origin: 'link' | 'local' }) => boolean,
    handler: (datagram: Uint8Array) => void,
  ): () => void;
  /** Sends a datagram on as the host would have (one its intercept handler gives back). */
  sendIp(datagram: Uint8Array): unknown;
}

/**
 * While the node has a reverse tunnel in force, datagrams its host sends from the home address
 * go through `node.sendOwnDatagram` instead of onto the link; without one, so does multicast
 * from the home address (R4.4-9: the node drops it away from home), and what the node gives
 * back (false: at home) the host sends as usual. Returns the unsubscribe function.
 */
export function tunnelOwnDatagrams(host: InterceptingHost, node: Pick<MobileNode, 'reverseTunnel' | 'sendOwnDatagram' | 'config'>): () => void {
  return host.intercept(
    (datagram, info) => {
      if (info.origin !== 'local') return false;
      const tunnel = node.reverseTunnel();
      // The tunnel's own outer datagrams (home address → foreign agent, encapsulating delivery)
      // leave as they are: taking them again would nest the node's datagram twice.
      if (tunnel !== undefined) return ipv4Source(datagram, 0) === tunnel.homeAddress && !(isTunnelProtocol(ipv4Protocol(datagram, 0)) && ipv4Destination(datagram, 0) === tunnel.outerDestination);
      return isMulticast(ipv4Destination(datagram, 0)) && ipv4Source(datagram, 0) === node.config.homeAddress;
    },
    (datagram) => {
      // The host does not intercept what a handler sends, so a datagram given back goes out.
      if (!node.sendOwnDatagram(datagram)) host.sendIp(datagram);
    },
  );
}
