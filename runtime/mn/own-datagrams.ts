/**
 * Hands the node's own datagrams to its reverse tunnel (RFC 3024 5.2) on a host that can
 * intercept what its stack sends: the simulated host (io/sim/ip-host.ts `intercept`), typed
 * structurally so this room does not import io/sim. On Linux the TUN device plays this part
 * (the host routes the node's datagrams into it; io/linux/mn-host.ts).
 */
import { ipv4Source } from '../../io/wire/ipv4.js';
import type { MobileNode } from './mobile-node.js';

export interface InterceptingHost {
  intercept(
    predicate: (datagram: Uint8Array, info: { readonly origin: 'link' | 'local' }) => boolean,
    handler: (datagram: Uint8Array) => void,
  ): () => void;
}

/**
 * While the node has a reverse tunnel in force, datagrams its host sends from the home address
 * go through `node.sendOwnDatagram` instead of onto the link. Returns the unsubscribe function.
 */
export function tunnelOwnDatagrams(host: InterceptingHost, node: Pick<MobileNode, 'reverseTunnel' | 'sendOwnDatagram'>): () => void {
  return host.intercept(
    (datagram, info) => {
      if (info.origin !== 'local') return false;
      const tunnel = node.reverseTunnel();
      return tunnel !== undefined && ipv4Source(datagram, 0) === tunnel.homeAddress;
    },
    (datagram) => {
      node.sendOwnDatagram(datagram);
    },
  );
}
