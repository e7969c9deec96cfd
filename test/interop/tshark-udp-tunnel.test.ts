/**
 * Wireshark agreement for RFC 3519: generated Registration Requests carrying the UDP Tunnel
 * Request extension (144), Replies carrying the UDP Tunnel Reply extension (44) and tunnel
 * data messages (type 4) carrying an IPv4 datagram, framed as on an Ethernet link, written to
 * a pcap and dissected by tshark. Its Mobile IP dissector (mip.ext.utrq.*, mip.ext.utrp.*,
 * mip.nattt.*) is an independent reading of RFC 3519 3.1-3.3: every field must read back as
 * encoded, with nothing malformed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipv4, ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import { udpFrame, type FrameAddressing } from '../../io/wire/frames.js';
import { encodeIpv4Header, IpProtocol } from '../../io/wire/ipv4.js';
import { encodePcap, LinkType } from '../../io/wire/pcap.js';
import { toBytesRegistrationReply, toBytesRegistrationRequest } from '../../io/wire/registration.js';
import { MOBILE_IP_PORT } from '../../io/wire/registration-types.js';
import { TUNNEL_DATA_HEADER_LENGTH, writeTunnelDataHeader, type UdpTunnelReplyExtension, type UdpTunnelRequestExtension } from '../../io/wire/udp-tunnel.js';
import { missingTools } from '../support/tools.js';

const noTshark = missingTools('tshark');
const skipReason = noTshark === undefined ? '' : ` [SKIPPED: ${noTshark}]`;

const FIELDS = [
  'frame.protocols',
  'mip.type',
  'mip.ext.type',
  'mip.ext.utrq.subtype',
  'mip.ext.utrq.f',
  'mip.ext.utrq.r',
  'mip.ext.utrq.reserved2',
  'mip.ext.utrq.encaptype',
  'mip.ext.utrq.reserved3',
  'mip.ext.utrp.subtype',
  'mip.ext.utrp.code',
  'mip.ext.utrp.f',
  'mip.ext.utrp.keepalive',
  'mip.nattt.nexthdr',
  'ip.src',
  'ip.dst',
  '_ws.malformed',
] as const;
type Field = (typeof FIELDS)[number];
type Row = Record<Field, string>;

const testNet: fc.Arbitrary<Ipv4Address> = fc
  .tuple(fc.constantFrom(ipv4('192.0.2.0'), ipv4('198.51.100.0'), ipv4('203.0.113.0')), fc.integer({ min: 1, max: 254 }))
  .map(([network, host]) => network + host);
const encapsulation = fc.constantFrom(4, 47, 55);

const requestExtension = fc
  .record({ force: fc.boolean(), registrationThroughFa: fc.boolean(), encapsulation })
  .map((f): UdpTunnelRequestExtension & { offset: number } => ({
    kind: 'udp-tunnel-request', type: 144, offset: 0, subType: 0, reserved1: 0, reserved2: 0, reserved3: 0, ...f,
  }));
const replyExtension = fc
  .record({ code: fc.constantFrom(0, 64), forced: fc.boolean(), keepaliveInterval: fc.integer({ min: 0, max: 0xffff }) })
  .map((f): UdpTunnelReplyExtension & { offset: number } => ({ kind: 'udp-tunnel-reply', type: 44, offset: 0, subType: 0, reserved: 0, ...f }));

interface Planned {
  readonly frame: Uint8Array;
  readonly expect: Partial<Row>;
}

const bit = (value: boolean) => (value ? '1' : '0');

function plan(): Planned[] {
  const planned: Planned[] = [];
  const addressing = (source: Ipv4Address, destination: Ipv4Address): FrameAddressing => ({
    sourceMac: '02:00:00:00:00:01',
    destinationMac: '02:00:00:00:00:02',
    source,
    destination,
  });
  for (const [ext, home, agent, careOf, port] of fc.sample(fc.tuple(requestExtension, testNet, testNet, testNet, fc.integer({ min: 1024, max: 65535 })), { numRuns: 30, seed: 3519 })) {
    const message = toBytesRegistrationRequest({
      type: 1, flags: 0x20, lifetime: 1800, homeAddress: home, homeAgent: agent, careOfAddress: careOf,
      identification: { high: 1, low: 2 }, extensions: [ext],
    });
    planned.push({
      frame: udpFrame(addressing(careOf, agent), port, MOBILE_IP_PORT, message),
      expect: {
        'mip.type': '1', 'mip.ext.type': '144', 'mip.ext.utrq.subtype': '0', 'mip.ext.utrq.f': bit(ext.force),
        'mip.ext.utrq.r': bit(ext.registrationThroughFa), 'mip.ext.utrq.encaptype': String(ext.encapsulation), 'mip.ext.utrq.reserved3': '0',
      },
    });
  }
  for (const [ext, home, agent, port] of fc.sample(fc.tuple(replyExtension, testNet, testNet, fc.integer({ min: 1024, max: 65535 })), { numRuns: 30, seed: 44 })) {
    const message = toBytesRegistrationReply({
      type: 3, code: ext.code === 0 ? 0 : 142, lifetime: 1800, homeAddress: home, homeAgent: agent,
      identification: { high: 1, low: 2 }, extensions: [ext],
    });
    planned.push({
      frame: udpFrame(addressing(agent, ipv4('203.0.113.200')), MOBILE_IP_PORT, port, message),
      expect: {
        'mip.type': '3', 'mip.ext.type': '44', 'mip.ext.utrp.subtype': '0', 'mip.ext.utrp.code': String(ext.code),
        'mip.ext.utrp.f': bit(ext.forced), 'mip.ext.utrp.keepalive': String(ext.keepaliveInterval),
      },
    });
  }
  // Tunnel data messages from the home agent to a NAT's address and port, carrying IP in IP.
  for (const [innerSource, homeAddress, nat, agent, port, payloadLength] of fc.sample(
    fc.tuple(testNet, testNet, testNet, testNet, fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 0, max: 64 })),
    { numRuns: 30, seed: 4 },
  )) {
    const innerLength = 20 + 8 + payloadLength;
    const message = new Uint8Array(TUNNEL_DATA_HEADER_LENGTH + innerLength);
    writeTunnelDataHeader(message, 0, 4);
    encodeIpv4Header(
      { tos: 0, totalLength: innerLength, identification: 7, flags: 0, fragmentOffset: 0, ttl: 63, protocol: IpProtocol.UDP, source: innerSource, destination: homeAddress },
      message,
      TUNNEL_DATA_HEADER_LENGTH,
    );
    // A UDP header (checksum 0: none) from port 9 to port 9.
    const udp = TUNNEL_DATA_HEADER_LENGTH + 20;
    message.set([0, 9, 0, 9, (8 + payloadLength) >> 8, (8 + payloadLength) & 0xff, 0, 0], udp);
    planned.push({
      frame: udpFrame(addressing(agent, nat), MOBILE_IP_PORT, port, message),
      expect: {
        'mip.type': '4', 'mip.nattt.nexthdr': '4',
        'ip.src': `${ipv4ToString(agent)},${ipv4ToString(innerSource)}`, 'ip.dst': `${ipv4ToString(nat)},${ipv4ToString(homeAddress)}`,
      },
    });
  }
  return planned;
}

let scratch: string | undefined;
afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

function dissect(frames: readonly Uint8Array[]): Row[] {
  scratch ??= mkdtempSync(join(tmpdir(), 'mip4-tshark-3519-'));
  const path = join(scratch, 'udp-tunnel.pcap');
  writeFileSync(path, encodePcap(LinkType.Ethernet, frames.map((data, i) => ({ timestampUs: Date.UTC(2026, 0, 1) * 1000 + i * 1000, data }))));
  const stdout = execFileSync(
    'tshark',
    ['-n', '-r', path, '-T', 'fields', '-E', 'header=n', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...FIELDS.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 },
  );
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const values = line.split('\t');
      return Object.fromEntries(FIELDS.map((f, i) => [f, values[i] ?? ''])) as Row;
    });
}

describe('tshark reads RFC 3519 as mip4 writes it', () => {
  it.skipIf(noTshark !== undefined)(
    `90 generated frames (Request with 144, Reply with 44, tunnel data with an IPv4 datagram) dissect to the encoded field values${skipReason}`,
    () => {
      const planned = plan();
      expect(planned).toHaveLength(90);
      const rows = dissect(planned.map((p) => p.frame));
      expect(rows).toHaveLength(planned.length);
      const problems: string[] = [];
      rows.forEach((row, i) => {
        const expected = planned[i]!.expect;
        const where = `frame ${i + 1}`;
        if (row['_ws.malformed'] !== '') problems.push(`${where}: malformed`);
        // Tunnel data: tshark follows Next Header into the inner IPv4 and UDP (then 'data').
        const layers = expected['mip.type'] === '4' ? ':udp:mip:ip:udp' : ':udp:mip';
        const protocols = row['frame.protocols'];
        if (!(expected['mip.type'] === '4' ? protocols.includes(layers) : protocols.endsWith(layers))) problems.push(`${where}: protocols ${row['frame.protocols']}`);
        for (const [field, value] of Object.entries(expected)) {
          const got = row[field as Field];
          // tshark prints some reserved fields in hex (0x00); compare numbers as numbers.
          const same = got === value || (/^(0x)?[0-9a-f]+$/i.test(got) && Number(got) === Number(value));
          if (!same) problems.push(`${where}: ${field} is ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`);
        }
        if (expected['mip.type'] === '1' && Number(row['mip.ext.utrq.reserved2']) !== 0) problems.push(`${where}: reserved2 ${row['mip.ext.utrq.reserved2']}`);
      });
      expect(problems).toEqual([]);
    },
  );
});
