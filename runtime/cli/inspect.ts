/**
 * Turns bytes into the JSON a person or a script reads: one object per Mobile IP message,
 * with the field names of the interop vectors (test/fixtures/interop-vectors.json). Used by
 * `mip4 decode` and by tests. Captures are walked down to UDP port 434 payloads and ICMP
 * types 9/10; everything else in a capture is counted as skipped.
 */
import { decodeAgentDiscovery } from '../../io/wire/agent-discovery.js';
import { agentDiscoveryToJson } from '../../io/wire/agent-discovery-json.js';
import { ipv4ToString, readU16 } from '../../io/wire/bytes.js';
import type { WireError } from '../../io/wire/codec.js';
import { decodeEthernetFrame, EtherType } from '../../io/wire/ethernet.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { decodePcap, LinkType } from '../../io/wire/pcap.js';
import { decodeRegistrationMessage } from '../../io/wire/registration.js';
import { registrationToJson, type SpiKey } from '../../io/wire/registration-json.js';
import { MOBILE_IP_PORT } from '../../io/wire/registration-types.js';
import { decodeUdpDatagram, verifyUdpChecksum } from '../../io/wire/udp.js';
import { verifyAuthenticator, type AuthAlgorithm } from '../../policies/auth.js';

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
  const result = decodeRegistrationMessage(bytes, 0, bytes.length);
  if (!result.ok) return { ok: false, json: { ...errorJson(result.error) } };
  const options = keys && keys.size > 0 ? { keys, verify: verifyAuthenticator } : undefined;
  return { ok: true, json: registrationToJson(result.value, bytes, options) as unknown as InspectedJson };
}

export interface CaptureInspection {
  readonly messages: Inspection[];
  /** Frames that carried no Mobile IP message. */
  readonly skipped: number;
  /** Set when the file itself could not be read. */
  readonly fileError?: ErrorJson;
}

/** Linux "cooked" capture (tshark -i any): a 16-byte header, protocol at offset 14. */
const LINKTYPE_LINUX_SLL = 113;

/** Decodes every Mobile IP message in a pcap capture. */
export function inspectCapture(file: Uint8Array, keys?: KeyTable): CaptureInspection {
  const pcap = decodePcap(file);
  if (!pcap.ok) return { messages: [], skipped: 0, fileError: errorJson(pcap.error) };
  const messages: Inspection[] = [];
  let skipped = 0;
  pcap.value.records.forEach((record, index) => {
    const frame = index + 1;
    const ip = ipPayloadOf(pcap.value.linkType, record.data);
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
    if (header.protocol === IpProtocol.UDP) {
      const udp = decodeUdpDatagram(payload, 0, payload.length);
      if (!udp.ok) {
        skipped++;
        return;
      }
      const { sourcePort, destinationPort } = udp.value.header;
      if (sourcePort !== MOBILE_IP_PORT && destinationPort !== MOBILE_IP_PORT) {
        skipped++;
        return;
      }
      transport.udp_src_port = sourcePort;
      transport.udp_dst_port = destinationPort;
      transport.udp_checksum_ok = verifyUdpChecksum(header.source, header.destination, payload, 0, udp.value.header.length);
      const inspected = inspectMessage(udp.value.payload, 'registration', keys);
      messages.push({ ok: inspected.ok, json: { frame, transport, ...inspected.json } });
    } else if (header.protocol === IpProtocol.ICMP && (payload[0] === 9 || payload[0] === 10)) {
      transport.ip_protocol = header.protocol;
      transport.ip_ttl = header.ttl;
      const inspected = inspectMessage(payload, 'icmp', keys);
      messages.push({ ok: inspected.ok, json: { frame, transport, ...inspected.json } });
    } else {
      skipped++;
    }
  });
  return { messages, skipped };
}

function ipPayloadOf(linkType: number, data: Uint8Array): Uint8Array | undefined {
  if (linkType === LinkType.RawIp) return data;
  if (linkType === LinkType.Ethernet) {
    const frame = decodeEthernetFrame(data, 0, data.length);
    return frame.ok && frame.value.etherType === EtherType.IPv4 ? frame.value.payload : undefined;
  }
  if (linkType === LINKTYPE_LINUX_SLL && data.length >= 16 && readU16(data, 14) === EtherType.IPv4) {
    return data.subarray(16);
  }
  return undefined;
}
