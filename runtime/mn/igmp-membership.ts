/**
 * The IGMPv2 datagrams (RFC 2236) a mobile node needs to join groups through its home agent
 * (RFC 5944 4.4, R4.4-5): the Membership Report it sends and the Membership Query it answers,
 * as whole IPv4 datagrams around io/wire/igmp.ts's messages.
 *
 * The report is a datagram from the home address (R4.4-6) to the group, TTL 1 and the Router
 * Alert option (RFC 2236 2, RFC 2113), as a host on the home link would send it; the node's
 * reverse tunnel carries it to the home agent.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { decodeIgmp, encodeIgmp } from '../../io/wire/igmp.js';
import { encodeIpv4Header, IpProtocol, ipv4HeaderLength, ipv4Protocol, ipv4TotalLength } from '../../io/wire/ipv4.js';

/** RFC 2236 2: a v1/v2 message is 8 bytes. */
const IGMP_MESSAGE_LENGTH = 8;
/** RFC 2113: IP Router Alert, value 0 ("router shall examine packet"). */
const ROUTER_ALERT = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
/** RFC 2236 8.10: Unsolicited Report Interval, 10 s: the report is sent once more after it. */
export const UNSOLICITED_REPORT_INTERVAL_MS = 10_000;

/** A Version 2 Membership Report for `group` from `source`, as a whole IPv4 datagram. */
export function membershipReport(source: Ipv4Address, group: Ipv4Address, identification: number): Uint8Array {
  const headerLength = 20 + ROUTER_ALERT.length;
  const out = new Uint8Array(headerLength + IGMP_MESSAGE_LENGTH);
  encodeIpv4Header(
    {
      tos: 0xc0, // Internetwork Control, as IGMP implementations send it.
      totalLength: out.length,
      identification: identification & 0xffff,
      flags: 0,
      fragmentOffset: 0,
      ttl: 1,
      protocol: IpProtocol.IGMP,
      source,
      destination: group,
      options: ROUTER_ALERT,
    },
    out,
    0,
  );
  encodeIgmp({ kind: 'report', version: 2, group }, out, headerLength);
  return out;
}

/** A Membership Query in `datagram` (a whole IPv4 datagram): its group (0 = general) and Max Response Time in ms. */
export function membershipQuery(datagram: Uint8Array): { readonly group: Ipv4Address; readonly maxResponseMs: number } | undefined {
  if (datagram.length < 20 || ipv4Protocol(datagram, 0) !== IpProtocol.IGMP) return undefined;
  const decoded = decodeIgmp(datagram, ipv4HeaderLength(datagram, 0), Math.min(ipv4TotalLength(datagram, 0), datagram.length));
  if (!decoded.ok || decoded.value.kind !== 'query' || decoded.value.checksumValid !== true) return undefined;
  const query = decoded.value;
  // RFC 2236 2.2: in units of 1/10 s; an IGMPv1 query has 0 there, meaning 10 s (RFC 2236 4).
  // RFC 3376 4.1.1: from 128 on, Max Resp Code is a floating-point value, (mant | 0x10) << (exp + 3).
  const code = query.version === 3 ? query.maxResponseCode : query.maxResponseTime;
  const tenths = query.version === 1 ? 100 : code < 128 ? code : ((code & 0x0f) | 0x10) << (((code >> 4) & 0x07) + 3);
  return { group: query.group >>> 0, maxResponseMs: tenths * 100 };
}
