/**
 * `mip4 decode` of an RFC 3519 tunnel data message (Mobile IP type 4 on UDP 434): its header
 * and, when it carries IP in IP (Next Header 4), the tunnelled datagram's addresses, so that a
 * capture of a NAT-traversing tunnel reads as what it carries.
 */
import { ipv4ToString } from '../../io/wire/bytes.js';
import { decodeIpv4Packet } from '../../io/wire/ipv4.js';
import { decodeTunnelDataMessage, TunnelNextHeader } from '../../io/wire/udp-tunnel.js';
import type { Inspection } from './inspect.js';

const NEXT_HEADER_NAMES: ReadonlyMap<number, string> = new Map([
  [TunnelNextHeader.IpInIp, 'IP in IP'],
  [TunnelNextHeader.Gre, 'GRE'],
  [TunnelNextHeader.Minimal, 'minimal encapsulation'],
]);

export function inspectTunnelData(bytes: Uint8Array): Inspection {
  const result = decodeTunnelDataMessage(bytes, 0, bytes.length);
  if (!result.ok) {
    const { reason, layer, offset, message } = result.error;
    return { ok: false, json: { error: reason, layer, offset, message } };
  }
  const { nextHeader, reserved, payload } = result.value;
  const json: Record<string, unknown> = {
    type: 4,
    type_name: 'Tunnel Data (RFC 3519)',
    next_header: nextHeader,
    next_header_name: NEXT_HEADER_NAMES.get(nextHeader) ?? 'unknown',
    reserved,
    payload_length: payload.length,
  };
  if (nextHeader === TunnelNextHeader.IpInIp) {
    const inner = decodeIpv4Packet(payload, 0, payload.length);
    json.inner = inner.ok
      ? {
          ip_src: ipv4ToString(inner.value.header.source),
          ip_dst: ipv4ToString(inner.value.header.destination),
          ip_protocol: inner.value.header.protocol,
          ip_ttl: inner.value.header.ttl,
          total_length: inner.value.header.totalLength,
        }
      : { error: inner.error.reason, offset: inner.error.offset + 4, message: inner.error.message };
  }
  return { ok: true, json };
}
