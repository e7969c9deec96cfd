/**
 * Turns bytes into the JSON a person or a script reads: one object per Mobile IP message,
 * with the field names of the interop vectors (testing/interop-vectors.json). Used by
 * `mip4 decode` and by tests. Captures (pcap or pcapng) are walked down to UDP port 434 payloads
 * (and other ports asked for) and ICMP types 9/10; everything else in a capture is counted as skipped.
 */
import { decodeAgentDiscovery } from '../../io/wire/agent-discovery.js';
import { agentDiscoveryToJson } from '../../io/wire/agent-discovery-json.js';
import { ipv4ToString, readU16 } from '../../io/wire/bytes.js';
import type { WireError } from '../../io/wire/codec.js';
import { decodeEthernetFrame, EtherType } from '../../io/wire/ethernet.js';
import { decodeCapture, type CaptureFormat } from '../../io/wire/capture.js';
import { decodeIpv4Packet, IpProtocol, Ipv4Flag } from '../../io/wire/ipv4.js';
import { LinkType } from '../../io/wire/pcap.js';
import { decodeRegistrationMessage } from '../../io/wire/registration.js';
import { registrationToJson, type SpiKey } from '../../io/wire/registration-json.js';
import { MOBILE_IP_PORT } from '../../io/wire/registration-types.js';
import { decodeUdpDatagram, verifyUdpChecksum } from '../../io/wire/udp.js';
import { verifyAuthenticator, type AuthAlgorithm } from '../../policies/auth.js';
import { TUNNEL_DATA_MESSAGE_TYPE } from '../../io/wire/udp-tunnel.js';
import { inspectTunnelData } from './inspect-tunnel-data.js';

export type MessageKind = 'auto' | 'registration' | 'icmp';

export type KeyTable = ReadonlyMap<number, SpiKey<AuthAlgorithm>>;

export interface ErrorJson {
  readonly error: WireError['reason'];
  readonly layer: string;
  readonly offset: number;
  readonly message: string;
}

export type InspectedJson = Record<string, unknown>;

export interface Inspection {
  readonly ok: boolean;
  readonly json: InspectedJson;
}

function errorJson(error: WireError): ErrorJson {
  return { error: error.reason, layer: error.layer, offset: error.offset, message: error.message };
}

/** Registration types are 1 and 3; agent discovery is ICMP 9 and 10 (1.8, 2.1, 2.2). */
function guessKind(bytes: Uint8Array): 'registration' | 'icmp' {
  const type = bytes[0];
  return type === 9 || type === 10 ? 'icmp' : 'registration';
}

/** Decodes one message: a UDP port 434 payload or an ICMP agent discovery message. */
export function inspectMessage(bytes: Uint8Array, kind: MessageKind = 'auto', keys?: KeyTable): Inspection {
  const chosen = kind === 'auto' ? guessKind(bytes) : kind;
  if (chosen === 'icmp') {
    const result = decodeAgentDiscovery(bytes, 0, bytes.length);
    if (!result.ok) return { ok: false, json: { ...errorJson(result.error) } };
    return { ok: true, json: agentDiscoveryToJson(result.value) as unknown as InspectedJson };
  }
  // RFC 3519 3.3: tunnel data shares UDP port 434 with registrations.
  if (bytes[0] === TUNNEL_DATA_MESSAGE_TYPE) return inspectTunnelData(bytes);
  const result = decodeRegistrationMessage(bytes, 0, bytes.length);
  if (!result.ok) return { ok: false, json: { ...errorJson(result.error) } };
  const options = keys && keys.size > 0 ? { keys, verify: verifyAuthenticator } : undefined;
  return { ok: true, json: registrationToJson(result.value, bytes, options) as unknown as InspectedJson };
}

export interface CaptureInspection {
  readonly messages: Inspection[];
  /** Frames that carried no Mobile IP message. */
  readonly skipped: number;
  /** IPv4 fragments of UDP or ICMP datagrams (reported, not reassembled). */
  readonly fragments: number;
  /** Set when the file itself could not be read. */
  readonly fileError?: ErrorJson;
  /** Set when reading stopped part way (the frames before it are in `messages`). */
  readonly damage?: ErrorJson;
  readonly format?: CaptureFormat;
}

export interface CaptureOptions {
  /** UDP ports whose payloads are decoded as Mobile IP besides 434 (1.8). */
  readonly ports?: ReadonlySet<number>;
}

/** Link types of the LINKTYPE_* registry that mip4 decode reads beyond Ethernet and raw IP. */
const LINKTYPE_NULL = 0;
const LINKTYPE_LOOP = 108;
const LINKTYPE_IPV4 = 228;
/** Linux "cooked" captures (tshark -i any): SLL's 16-byte header, SLL2's 20-byte one. */
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;
const ETHERTYPE_VLAN = 0x8100;
/** AF_INET in the NULL/LOOP header; 2 on every system that writes these link types. */
const AF_INET = 2;

/** `2026-12-07T02:37:10.123456Z`: ISO-8601 in UTC with the capture's microseconds. */
export function isoMicroseconds(timestampUs: number): string {
  const seconds = Math.floor(timestampUs / 1e6);
  const micros = timestampUs - seconds * 1e6;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

/** Decodes every Mobile IP message in a pcap or pcapng capture. */
export function inspectCapture(file: Uint8Array, keys?: KeyTable, options: CaptureOptions = {}): CaptureInspection {
  const capture = decodeCapture(file);
  if (!capture.ok) return { messages: [], skipped: 0, fragments: 0, fileError: errorJson(capture.error) };
  const messages: Inspection[] = [];
  let skipped = 0;
  let fragments = 0;
  const isMobileIpPort = (port: number) => port === MOBILE_IP_PORT || (options.ports?.has(port) ?? false);
  capture.value.frames.forEach((captured, index) => {
    const where: Record<string, unknown> = { frame: index + 1 };
    if (captured.timestampUs !== undefined) where.time = isoMicroseconds(captured.timestampUs);
    const ip = ipPayloadOf(captured.linkType, captured.data);
    if (ip === undefined) {
      skipped++;
      return;
    }
    const packet = decodeIpv4Packet(ip, 0, ip.length);
    if (!packet.ok) {
      skipped++;
      return;
    }
    const { header, payload } = packet.value;
    const transport: Record<string, unknown> = {
      ip_src: ipv4ToString(header.source),
      ip_dst: ipv4ToString(header.destination),
    };
    const fragmented = (header.flags & Ipv4Flag.MoreFragments) !== 0 || header.fragmentOffset !== 0;
    if (fragmented && (header.protocol === IpProtocol.UDP || header.protocol === IpProtocol.ICMP)) {
      // Without reassembly a fragment's bytes are not a message: say so rather than misdecode.
      fragments++;
      transport.ip_protocol = header.protocol;
      messages.push({
        ok: true,
        json: {
          ...where,
          transport,
          ipv4_fragment: {
            identification: header.identification,
            offset_bytes: header.fragmentOffset * 8,
            more_fragments: (header.flags & Ipv4Flag.MoreFragments) !== 0,
            length: payload.length,
          },
          note: 'IPv4 fragment: not reassembled, not decoded',
        },
      });
      return;
    }
    if (header.protocol === IpProtocol.UDP) {
      const udp = decodeUdpDatagram(payload, 0, payload.length);
      if (!udp.ok) {
        skipped++;
        return;
      }
      const { sourcePort, destinationPort } = udp.value.header;
      if (!isMobileIpPort(sourcePort) && !isMobileIpPort(destinationPort)) {
        skipped++;
        return;
      }
      transport.udp_src_port = sourcePort;
      transport.udp_dst_port = destinationPort;
      transport.udp_checksum_ok = verifyUdpChecksum(header.source, header.destination, payload, 0, udp.value.header.length);
      const inspected = inspectMessage(udp.value.payload, 'registration', keys);
      messages.push({ ok: inspected.ok, json: { ...where, transport, ...inspected.json } });
    } else if (header.protocol === IpProtocol.ICMP && (payload[0] === 9 || payload[0] === 10)) {
      transport.ip_protocol = header.protocol;
      transport.ip_ttl = header.ttl;
      const inspected = inspectMessage(payload, 'icmp', keys);
      messages.push({ ok: inspected.ok, json: { ...where, transport, ...inspected.json } });
    } else {
      skipped++;
    }
  });
  const damage = capture.value.damage;
  return { messages, skipped, fragments, format: capture.value.format, ...(damage ? { damage: errorJson(damage) } : {}) };
}

/** The IPv4 packet inside a captured frame, or undefined when it holds none. */
function ipPayloadOf(linkType: number, data: Uint8Array): Uint8Array | undefined {
  switch (linkType) {
    case LinkType.RawIp:
    case LINKTYPE_IPV4:
      return data;
    case LinkType.Ethernet: {
      const frame = decodeEthernetFrame(data, 0, data.length);
      if (!frame.ok) return undefined;
      if (frame.value.etherType === EtherType.IPv4) return frame.value.payload;
      // One 802.1Q tag: the real EtherType follows the 2-byte tag control field.
      const inner = frame.value.payload;
      if (frame.value.etherType === ETHERTYPE_VLAN && inner.length >= 4 && readU16(inner, 2) === EtherType.IPv4) return inner.subarray(4);
      return undefined;
    }
    case LINKTYPE_LINUX_SLL:
      return data.length >= 16 && readU16(data, 14) === EtherType.IPv4 ? data.subarray(16) : undefined;
    case LINKTYPE_LINUX_SLL2:
      return data.length >= 20 && readU16(data, 0) === EtherType.IPv4 ? data.subarray(20) : undefined;
    case LINKTYPE_NULL: {
      // The family is in the capturing host's byte order, which the file does not record.
      if (data.length < 4) return undefined;
      const family = new DataView(data.buffer, data.byteOffset, 4);
      return family.getUint32(0, true) === AF_INET || family.getUint32(0, false) === AF_INET ? data.subarray(4) : undefined;
    }
    case LINKTYPE_LOOP:
      return data.length >= 4 && new DataView(data.buffer, data.byteOffset, 4).getUint32(0, false) === AF_INET ? data.subarray(4) : undefined;
    default:
      return undefined;
  }
}
