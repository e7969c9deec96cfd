import { describe, expect, it } from 'vitest';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeIgmp, encodeIgmp, type IgmpMessage } from '../../io/wire/igmp.js';
import { decodeIpv4Header, encodeIpv4Header, IpProtocol, ipv4HeaderLength } from '../../io/wire/ipv4.js';
import { membershipQuery, membershipReport } from '../../runtime/mn/igmp-membership.js';

const HOME = ipv4('198.51.100.10');
const GROUP = ipv4('239.1.2.3');
const HOME_AGENT = ipv4('198.51.100.2');

/** A whole IPv4 datagram carrying `message` from the home agent to 224.0.0.1, TTL 1. */
function queryDatagram(message: IgmpMessage): Uint8Array {
  const igmp = new Uint8Array(64);
  const length = encodeIgmp(message, igmp, 0);
  const out = new Uint8Array(20 + length);
  encodeIpv4Header({ tos: 0xc0, totalLength: out.length, identification: 1, flags: 0, fragmentOffset: 0, ttl: 1, protocol: IpProtocol.IGMP, source: HOME_AGENT, destination: ipv4('224.0.0.1') }, out, 0);
  out.set(igmp.subarray(0, length), 20);
  return out;
}

describe('the mobile node’s IGMP datagrams (RFC 2236 through io/wire/igmp)', () => {
  it('[R4.4-6] a Membership Report goes from the home address to the group, TTL 1, Router Alert, valid checksum', () => {
    const datagram = membershipReport(HOME, GROUP, 0x1_2345);
    const header = decodeIpv4Header(datagram, 0);
    expect(header.ok).toBe(true);
    if (!header.ok) return;
    expect(header.value.source).toBe(HOME);
    expect(header.value.destination).toBe(GROUP);
    expect(header.value.ttl).toBe(1);
    expect(header.value.protocol).toBe(IpProtocol.IGMP);
    expect(header.value.identification).toBe(0x2345);
    expect([...datagram.subarray(20, 24)]).toEqual([0x94, 0x04, 0x00, 0x00]);
    const message = decodeIgmp(datagram, ipv4HeaderLength(datagram, 0));
    expect(message.ok && message.value).toMatchObject({ kind: 'report', version: 2, group: GROUP, checksumValid: true });
  });

  it('reads a v2 General Query and a v2 Group-Specific Query with their Max Response Time', () => {
    expect(membershipQuery(queryDatagram({ kind: 'query', version: 2, maxResponseTime: 100, group: 0 }))).toEqual({ group: 0, maxResponseMs: 10_000 });
    expect(membershipQuery(queryDatagram({ kind: 'query', version: 2, maxResponseTime: 25, group: GROUP }))).toEqual({ group: GROUP, maxResponseMs: 2_500 });
  });

  it('reads an IGMPv1 query (Max Response Time 0) as 10 s (RFC 2236 4)', () => {
    expect(membershipQuery(queryDatagram({ kind: 'query', version: 1, maxResponseTime: 0, group: 0 }))?.maxResponseMs).toBe(10_000);
  });

  it('reads an IGMPv3 query’s floating-point Max Resp Code (RFC 3376 4.1.1)', () => {
    const v3 = (maxResponseCode: number): IgmpMessage => ({ kind: 'query', version: 3, maxResponseCode, group: 0, reserved: 0, suppressRouterProcessing: false, robustness: 2, queryIntervalCode: 125, sources: [] });
    expect(membershipQuery(queryDatagram(v3(50)))?.maxResponseMs).toBe(5_000);
    // 0x8a: exp 0, mant 10 → (10 | 16) << 3 = 208 tenths.
    expect(membershipQuery(queryDatagram(v3(0x8a)))?.maxResponseMs).toBe(20_800);
  });

  it('ignores a query with a bad checksum, a report and a datagram that is not IGMP', () => {
    const corrupt = queryDatagram({ kind: 'query', version: 2, maxResponseTime: 100, group: 0 });
    corrupt[22] ^= 0xff;
    expect(membershipQuery(corrupt)).toBeUndefined();
    expect(membershipQuery(membershipReport(HOME, GROUP, 1))).toBeUndefined();
    const udp = queryDatagram({ kind: 'query', version: 2, maxResponseTime: 100, group: 0 });
    udp[9] = IpProtocol.UDP;
    expect(membershipQuery(udp)).toBeUndefined();
  });
});
