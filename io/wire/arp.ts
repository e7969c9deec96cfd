/**
 * ARP (RFC 826) for IPv4 over Ethernet, and the three forms RFC 5944 4.6 relies on: ordinary
 * request/reply, proxy ARP (a home agent answering for a mobile node away from home) and
 * gratuitous ARP (moving the home address to another link-layer address in every cache).
 *
 * Only the Ethernet/IPv4 combination is read (hardware type 1, protocol type 0x0800, lengths
 * 6 and 4); anything else is 'bad-version'. Operation codes other than 1 and 2 are kept.
 */
import { type Codec, type DecodeResult, decoded, ensureRoom, wireError } from './codec.js';
import { checkUnsigned, decodeRangeError, type Ipv4Address, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import {
  BROADCAST_MAC,
  encodeEthernetHeader,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  type MacAddress,
  macToString,
  writeMac,
  ZERO_MAC,
} from './ethernet.js';

const LAYER = 'arp';

/** ar$hrd for Ethernet (RFC 826; IANA ARP parameters). */
export const ARP_HARDWARE_ETHERNET = 1;
/** ar$pro: the EtherType of IPv4. */
export const ARP_PROTOCOL_IPV4 = 0x0800;
/** 8 fixed bytes + 2 * (6 + 4). */
export const ARP_PACKET_LENGTH = 28;

export const ArpOperation = {
  Request: 1,
  Reply: 2,
} as const;

export interface ArpPacket {
  /** 1 request, 2 reply; other codes are kept. */
  readonly operation: number;
  readonly senderMac: MacAddress;
  readonly senderIp: Ipv4Address;
  readonly targetMac: MacAddress;
  readonly targetIp: Ipv4Address;
}

// ---------------------------------------------------------------------------------------------
// No-allocation accessors (check with decodeArpPacket or a length/type check first).

export function arpOperation(bytes: Uint8Array, offset = 0): number {
  return readU16(bytes, offset + 6);
}

export function arpSenderIp(bytes: Uint8Array, offset = 0): Ipv4Address {
  return readU32(bytes, offset + 14);
}

export function arpTargetIp(bytes: Uint8Array, offset = 0): Ipv4Address {
  return readU32(bytes, offset + 24);
}

// ---------------------------------------------------------------------------------------------
// Codec

/** The packet at `offset`; `next` is offset + 28 (Ethernet padding after it is not read). */
export function decodeArpPacket(bytes: Uint8Array, offset = 0, end = bytes.length): DecodeResult<ArpPacket> {
  const range = decodeRangeError(LAYER, bytes, offset, end, 8);
  if (range) return range;
  const hardwareType = readU16(bytes, offset);
  if (hardwareType !== ARP_HARDWARE_ETHERNET) {
    return wireError(LAYER, 'bad-version', offset, `hardware type ${hardwareType} is not Ethernet (1)`);
  }
  const protocolType = readU16(bytes, offset + 2);
  if (protocolType !== ARP_PROTOCOL_IPV4) {
    return wireError(LAYER, 'bad-version', offset + 2, `protocol type 0x${protocolType.toString(16)} is not IPv4 (0x0800)`);
  }
  if (bytes[offset + 4] !== 6 || bytes[offset + 5] !== 4) {
    return wireError(
      LAYER,
      'bad-version',
      offset + 4,
      `address lengths ${bytes[offset + 4]}/${bytes[offset + 5]} are not Ethernet/IPv4 (6/4)`,
    );
  }
  if (end - offset < ARP_PACKET_LENGTH) {
    return wireError(LAYER, 'truncated', offset, `needs ${ARP_PACKET_LENGTH} bytes, found ${end - offset}`);
  }
  return decoded(
    {
      operation: readU16(bytes, offset + 6),
      senderMac: macToString(bytes, offset + 8),
      senderIp: readU32(bytes, offset + 14),
      targetMac: macToString(bytes, offset + 18),
      targetIp: readU32(bytes, offset + 24),
    },
    offset + ARP_PACKET_LENGTH,
  );
}

export function arpPacketLength(_packet?: ArpPacket): number {
  return ARP_PACKET_LENGTH;
}

export function encodeArpPacket(packet: ArpPacket, bytes: Uint8Array, offset = 0): number {
  checkUnsigned(LAYER, 'operation', packet.operation, 16);
  checkUnsigned(LAYER, 'senderIp', packet.senderIp, 32);
  checkUnsigned(LAYER, 'targetIp', packet.targetIp, 32);
  ensureRoom(LAYER, bytes, offset, ARP_PACKET_LENGTH);
  writeU16(bytes, offset, ARP_HARDWARE_ETHERNET);
  writeU16(bytes, offset + 2, ARP_PROTOCOL_IPV4);
  bytes[offset + 4] = 6;
  bytes[offset + 5] = 4;
  writeU16(bytes, offset + 6, packet.operation);
  writeMac(bytes, offset + 8, packet.senderMac);
  writeU32(bytes, offset + 14, packet.senderIp);
  writeMac(bytes, offset + 18, packet.targetMac);
  writeU32(bytes, offset + 24, packet.targetIp);
  return offset + ARP_PACKET_LENGTH;
}

export const arpPacketCodec: Codec<ArpPacket> = {
  name: 'arp',
  decode: decodeArpPacket,
  encode: encodeArpPacket,
  encodingLength: arpPacketLength,
};

// ---------------------------------------------------------------------------------------------
// Builders

/** "Who has targetIp?": the target hardware address is what is asked for, so it is zero. */
export function arpRequest(senderMac: MacAddress, senderIp: Ipv4Address, targetIp: Ipv4Address): ArpPacket {
  return { operation: ArpOperation.Request, senderMac, senderIp, targetMac: ZERO_MAC, targetIp };
}

export function arpReply(
  senderMac: MacAddress,
  senderIp: Ipv4Address,
  targetMac: MacAddress,
  targetIp: Ipv4Address,
): ArpPacket {
  return { operation: ArpOperation.Reply, senderMac, senderIp, targetMac, targetIp };
}

/**
 * A gratuitous ARP (RFC 5944 4.6) making every cache that has `ip` map it to `linkAddress`:
 * Sender and Target Protocol Address are both `ip`, Sender Hardware Address is `linkAddress`.
 * Either operation may be used. In a Reply the Target Hardware Address is also `linkAddress`;
 * in a Request that field is not used and is sent as zero (as RFC 5227 2.3 also does).
 * The home agent passes its own address when a mobile node leaves home and the mobile node's
 * when it returns (4.6); the packet must go out as a link broadcast (`gratuitousArpFrame`).
 */
export function gratuitousArp(
  linkAddress: MacAddress,
  ip: Ipv4Address,
  operation: 'request' | 'reply' = 'request',
): ArpPacket {
  return operation === 'reply'
    ? { operation: ArpOperation.Reply, senderMac: linkAddress, senderIp: ip, targetMac: linkAddress, targetIp: ip }
    : { operation: ArpOperation.Request, senderMac: linkAddress, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip };
}

/**
 * A proxy ARP reply (RFC 5944 4.6, RFC 925/1027): the answer a home agent sends on behalf of a
 * mobile node away from home to a Request whose Target Protocol Address is the home address.
 * Sender and target are exchanged as in an ordinary reply (RFC 826): the requested address
 * becomes the Sender Protocol Address and the requester becomes the target; but the Sender
 * Hardware Address is the link-layer address of the agent's own interface that sends the
 * Reply, so the requester will send the mobile node's traffic to the agent. The reply is
 * unicast to the requester (request.senderMac).
 */
export function proxyArpReply(request: ArpPacket, ownLinkAddress: MacAddress): ArpPacket {
  return {
    operation: ArpOperation.Reply,
    senderMac: ownLinkAddress,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}

/** Ethernet header (EtherType 0x0806) + ARP packet: 42 bytes, before the driver's padding. */
export const ARP_FRAME_LENGTH = ETHERNET_HEADER_LENGTH + ARP_PACKET_LENGTH;

/** Writes an Ethernet frame carrying `packet` from `source` to `destination`. */
export function encodeArpFrame(
  packet: ArpPacket,
  destination: MacAddress,
  source: MacAddress,
  bytes: Uint8Array,
  offset = 0,
): number {
  ensureRoom(LAYER, bytes, offset, ARP_FRAME_LENGTH);
  const next = encodeEthernetHeader(destination, source, EtherType.ARP, bytes, offset);
  return encodeArpPacket(packet, bytes, next);
}

export interface GratuitousArpFrameOptions {
  /** Request (default) or Reply; RFC 5944 4.6 allows either. */
  readonly operation?: 'request' | 'reply';
  /**
   * Ethernet source address: the interface that transmits the frame. Defaults to the address
   * being announced. A home agent announcing a returned mobile node's own address must pass
   * its interface address here, or learning switches would move the mobile node's address to
   * the agent's port.
   */
  readonly frameSource?: MacAddress;
}

/**
 * A complete gratuitous ARP frame announcing that `ip` is at `linkAddress`, addressed to the
 * link broadcast address as RFC 5944 4.6 requires.
 */
export function gratuitousArpFrame(
  linkAddress: MacAddress,
  ip: Ipv4Address,
  options: GratuitousArpFrameOptions = {},
): Uint8Array {
  const frame = new Uint8Array(ARP_FRAME_LENGTH);
  const packet = gratuitousArp(linkAddress, ip, options.operation ?? 'request');
  encodeArpFrame(packet, BROADCAST_MAC, options.frameSource ?? linkAddress, frame, 0);
  return frame;
}
