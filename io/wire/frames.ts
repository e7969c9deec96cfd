/**
 * Whole frames around Mobile IP messages: Ethernet II + IPv4 + UDP (registration) or
 * Ethernet II + IPv4 + ICMP (agent discovery). Used to write captures (the demo, the tshark
 * interop test) and by the simulated network. Each frame is built back to front in one
 * buffer: the payload first, then each header in front of it, so nothing is copied twice.
 */
import { agentAdvertisementLength, encodeAgentAdvertisement, type AgentAdvertisement } from './agent-discovery.js';
import { BROADCAST_MAC, encodeEthernetHeader, ETHERNET_HEADER_LENGTH, EtherType, multicastMac, type MacAddress } from './ethernet.js';
import { encodeIpv4Header, IpProtocol, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';
import type { Ipv4Address } from './bytes.js';
import { LIMITED_BROADCAST } from './ipv4-address.js';
import { encodeUdpDatagram, UDP_HEADER_LENGTH } from './udp.js';

export interface FrameAddressing {
  readonly sourceMac: MacAddress;
  readonly destinationMac: MacAddress;
  readonly source: Ipv4Address;
  readonly destination: Ipv4Address;
  /** Default 64; agent discovery messages use 1 (2.1, 2.2). */
  readonly ttl?: number;
  readonly identification?: number;
}

function frameAround(
  addressing: FrameAddressing,
  protocol: number,
  transportLength: number,
  writeTransport: (bytes: Uint8Array, offset: number) => void,
): Uint8Array {
  const ipOffset = ETHERNET_HEADER_LENGTH;
  const transportOffset = ipOffset + IPV4_MIN_HEADER_LENGTH;
  const frame = new Uint8Array(transportOffset + transportLength);
  writeTransport(frame, transportOffset);
  encodeIpv4Header(
    {
      tos: 0,
      totalLength: IPV4_MIN_HEADER_LENGTH + transportLength,
      identification: addressing.identification ?? 0,
      flags: 0,
      fragmentOffset: 0,
      ttl: addressing.ttl ?? 64,
      protocol,
      source: addressing.source,
      destination: addressing.destination,
    },
    frame,
    ipOffset,
  );
  encodeEthernetHeader(addressing.destinationMac, addressing.sourceMac, EtherType.IPv4, frame, 0);
  return frame;
}

/** An Ethernet frame carrying `payload` in a UDP datagram (checksum computed). */
export function udpFrame(
  addressing: FrameAddressing,
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
): Uint8Array {
  return frameAround(addressing, IpProtocol.UDP, UDP_HEADER_LENGTH + payload.length, (bytes, offset) => {
    encodeUdpDatagram(
      { sourcePort, destinationPort, source: addressing.source, destination: addressing.destination, payload },
      bytes,
      offset,
    );
  });
}

/** An Ethernet frame carrying an already encoded ICMP message. */
export function icmpFrame(addressing: FrameAddressing, icmpMessage: Uint8Array): Uint8Array {
  return frameAround(addressing, IpProtocol.ICMP, icmpMessage.length, (bytes, offset) => bytes.set(icmpMessage, offset));
}

/**
 * An Agent Advertisement (2.1) in its frame: IP TTL 1 (R2.1-2); to the soliciting node's
 * link-layer address when `linkLayerDestination` is given (a unicast answer, R2.1-1), else to
 * the Ethernet broadcast for 255.255.255.255 or the group's multicast MAC for 224.0.0.1.
 */
export function agentAdvertisementFrame(
  advertisement: AgentAdvertisement,
  addressing: { readonly sourceMac: MacAddress; readonly source: Ipv4Address; readonly destination: Ipv4Address; readonly linkLayerDestination?: MacAddress },
): { frame: Uint8Array; destinationMac: MacAddress } {
  const icmp = new Uint8Array(agentAdvertisementLength(advertisement));
  encodeAgentAdvertisement(advertisement, icmp, 0);
  const destinationMac =
    addressing.linkLayerDestination ?? (addressing.destination >>> 0 === LIMITED_BROADCAST ? BROADCAST_MAC : multicastMac(addressing.destination));
  const frame = icmpFrame({ sourceMac: addressing.sourceMac, destinationMac, source: addressing.source, destination: addressing.destination, ttl: 1 }, icmp);
  return { frame, destinationMac };
}
