/**
 * The few IGMPv2 messages (RFC 2236) a mobile node needs to join groups through its home agent
 * (RFC 5944 4.4, R4.4-5): a Membership Report it sends, and reading a Membership Query it
 * receives. A minimal builder and reader, kept to the node's room until io/wire has an IGMP
 * codec of its own.
 *
 * The report is a whole IPv4 datagram from the home address (R4.4-6) to the group, TTL 1 and
 * the Router Alert option (RFC 2236 2, RFC 2113), as a host on the home link would send it; the
 * node's reverse tunnel carries it to the home agent.
 */
import { internetChecksum, readU32, writeU16, writeU32, type Ipv4Address } from '../../io/wire/bytes.js';
import { encodeIpv4Header, ipv4HeaderLength, ipv4Protocol, ipv4TotalLength } from '../../io/wire/ipv4.js';

/** IP protocol number of IGMP (RFC 1112). */
export const IGMP_PROTOCOL = 2;

export const IgmpType = { MembershipQuery: 0x11, V2MembershipReport: 0x16, LeaveGroup: 0x17 } as const;
/** RFC 2236 2: 8 bytes. */
export const IGMP_MESSAGE_LENGTH = 8;
/** RFC 2113: IP Router Alert, value 0 ("router shall examine packet"). */
const ROUTER_ALERT = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
/** RFC 2236 8.10: Unsolicited Report Interval, 10 s: the report is sent once more after it. */
export const UNSOLICITED_REPORT_INTERVAL_MS = 10_000;

/** A Version 2 Membership Report for `group` from `source`, as a whole IPv4 datagram. */
export function membershipReport(source: Ipv4Address, group: Ipv4Address, identification: number): Uint8Array {
  const headerLength = 24;
  const out = new Uint8Array(headerLength + IGMP_MESSAGE_LENGTH);
  encodeIpv4Header(
    {
      tos: 0xc0, // Internetwork Control, as IGMP implementations send it.
      totalLength: out.length,
      identification: identification & 0xffff,
      flags: 0,
      fragmentOffset: 0,
      ttl: 1,
      protocol: IGMP_PROTOCOL,
      source,
      destination: group,
      options: ROUTER_ALERT,
    },
    out,
    0,
  );
  out[headerLength] = IgmpType.V2MembershipReport;
  out[headerLength + 1] = 0;
  writeU32(out, headerLength + 4, group);
  writeU16(out, headerLength + 2, internetChecksum(out, headerLength, out.length));
  return out;
}

/** A Membership Query in `datagram` (a whole IPv4 datagram): its group (0 = general) and Max Response Time in ms. */
export function membershipQuery(datagram: Uint8Array): { readonly group: Ipv4Address; readonly maxResponseMs: number } | undefined {
  if (datagram.length < 20 || ipv4Protocol(datagram, 0) !== IGMP_PROTOCOL) return undefined;
  const start = ipv4HeaderLength(datagram, 0);
  const end = Math.min(ipv4TotalLength(datagram, 0), datagram.length);
  if (end - start < IGMP_MESSAGE_LENGTH || datagram[start] !== IgmpType.MembershipQuery) return undefined;
  if (internetChecksum(datagram, start, end) !== 0) return undefined;
  // RFC 2236 2.2: in units of 1/10 s; an IGMPv1 query has 0 there, meaning 10 s (RFC 2236 4).
  const code = datagram[start + 1]!;
  return { group: readU32(datagram, start + 4) >>> 0, maxResponseMs: (code === 0 ? 100 : code) * 100 };
}
