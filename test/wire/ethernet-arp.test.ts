import { describe, it, expect } from 'vitest';
import { EncodeError } from '../../io/wire/codec.js';
import { fromHex, ipv4, toHex } from '../../io/wire/bytes.js';
import {
  BROADCAST_MAC,
  decodeEthernetFrame,
  encodeEthernetFrame,
  encodeEthernetHeader,
  ethernetDestination,
  ethernetEtherType,
  ethernetFrameLength,
  ethernetIsBroadcast,
  ethernetIsMulticast,
  ethernetSource,
  EtherType,
  mac,
  macToString,
  parseMac,
  writeMac,
  ZERO_MAC,
} from '../../io/wire/ethernet.js';
import {
  ARP_FRAME_LENGTH,
  arpOperation,
  ArpOperation,
  arpReply,
  arpRequest,
  arpSenderIp,
  arpTargetIp,
  decodeArpPacket,
  encodeArpFrame,
  encodeArpPacket,
  gratuitousArp,
  gratuitousArpFrame,
  proxyArpReply,
} from '../../io/wire/arp.js';

// Locally administered addresses (second-least-significant bit of the first byte set).
const HA_MAC = '02:00:00:00:00:aa';
const MN_MAC = '02:00:00:00:00:10';
const CN_MAC = '02:00:00:00:00:20';
const HOME_ADDRESS = ipv4('198.51.100.10'); // c633640a
const CN_ADDRESS = ipv4('198.51.100.20'); // c6336414

/** RFC 826 layout: hrd 0001, pro 0800, hln 06, pln 04, op, sha, spa, tha, tpa. */
const ARP_FIXED = '0001 0800 06 04';
/** A correspondent asks who has the home address. */
const CN_REQUEST = `${ARP_FIXED} 0001 020000000020 c6336414 000000000000 c633640a`;
/** The home agent's proxy reply to it (RFC 5944 4.6). */
const PROXY_REPLY = `${ARP_FIXED} 0002 0200000000aa c633640a 020000000020 c6336414`;
/** Gratuitous ARP Request from the home agent: SPA = TPA = home address, SHA = agent, THA unused (0). */
const GRATUITOUS_REQUEST = `${ARP_FIXED} 0001 0200000000aa c633640a 000000000000 c633640a`;
/** Gratuitous ARP Reply: THA is also the agent's address. */
const GRATUITOUS_REPLY = `${ARP_FIXED} 0002 0200000000aa c633640a 0200000000aa c633640a`;
/** The Ethernet II frame carrying the gratuitous request: broadcast, from the agent, type 0806. */
const GRATUITOUS_FRAME = `ffffffffffff 0200000000aa 0806 ${GRATUITOUS_REQUEST}`;

describe('MAC addresses', () => {
  it('parses to the lowercase colon form', () => {
    expect(parseMac('02:00:00:00:00:AA')).toBe(HA_MAC);
    expect(parseMac('02-00-00-00-00-aa')).toBe(HA_MAC);
    for (const bad of ['', '02:00:00:00:00', '02:00:00:00:00:aa:bb', '02:00-00:00:00:aa', '0g:00:00:00:00:aa', '2:0:0:0:0:aa']) {
      expect(parseMac(bad)).toBeUndefined();
    }
    expect(() => mac('nope')).toThrow(EncodeError);
  });

  it('reads and writes six bytes at an offset', () => {
    const bytes = new Uint8Array(10);
    expect(writeMac(bytes, 2, 'fe:dc:ba:98:76:54')).toBe(8);
    expect(toHex(bytes)).toBe('0000fedcba9876540000');
    expect(macToString(bytes, 2)).toBe('fe:dc:ba:98:76:54');
    expect(() => writeMac(bytes, 0, 'FE:DC:BA:98:76:54')).toThrow(EncodeError);
    expect(() => writeMac(bytes, 0, 'fe:dc:ba:98:76')).toThrow(EncodeError);
    expect(() => writeMac(bytes, 5, HA_MAC)).toThrow(EncodeError);
  });

  it('works as a Map key', () => {
    const cache = new Map([[macToString(fromHex('0200000000aa')), 'agent']]);
    expect(cache.get(mac('02:00:00:00:00:AA'))).toBe('agent');
  });
});

describe('Ethernet II frames', () => {
  it('decodes the gratuitous ARP frame', () => {
    const bytes = fromHex(GRATUITOUS_FRAME);
    const r = decodeEthernetFrame(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ destination: BROADCAST_MAC, source: HA_MAC, etherType: EtherType.ARP });
    expect(toHex(r.value.payload)).toBe(toHex(fromHex(GRATUITOUS_REQUEST)));
    expect(r.value.payload.buffer).toBe(bytes.buffer);
    expect(r.next).toBe(bytes.length);
  });

  it('reads fields with the accessors at an offset', () => {
    const bytes = new Uint8Array(50);
    bytes.set(fromHex(GRATUITOUS_FRAME), 3);
    expect(ethernetEtherType(bytes, 3)).toBe(0x0806);
    expect(ethernetIsBroadcast(bytes, 3)).toBe(true);
    expect(ethernetIsMulticast(bytes, 3)).toBe(true);
    expect(ethernetIsBroadcast(bytes, 9)).toBe(false);
    expect(ethernetIsMulticast(bytes, 9)).toBe(false);
    expect(ethernetDestination(bytes, 3)).toBe(BROADCAST_MAC);
    expect(ethernetSource(bytes, 3)).toBe(HA_MAC);
  });

  it("rejects an IEEE 802.3 length in the type field with 'bad-type'", () => {
    for (const typeField of [0x0000, 0x002e, 0x05dc, 0x05ff]) {
      const bytes = fromHex(GRATUITOUS_FRAME);
      bytes[12] = typeField >> 8;
      bytes[13] = typeField & 0xff;
      const r = decodeEthernetFrame(bytes);
      expect(r.ok ? null : r.error).toMatchObject({ reason: 'bad-type', offset: 12, layer: 'ethernet' });
    }
    const ok = fromHex(GRATUITOUS_FRAME);
    ok[12] = 0x06;
    ok[13] = 0x00;
    expect(decodeEthernetFrame(ok).ok).toBe(true);
  });

  it("reports every truncation of the header as 'truncated' and accepts an empty payload", () => {
    const bytes = fromHex(GRATUITOUS_FRAME);
    for (let end = 0; end < 14; end++) {
      const r = decodeEthernetFrame(bytes, 0, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
    const r = decodeEthernetFrame(bytes, 0, 14);
    expect(r.ok && r.value.payload.length).toBe(0);
  });

  it('encodes the frame, and writes only the header in front of a payload in place', () => {
    const arp = fromHex(GRATUITOUS_REQUEST);
    const frame = { destination: BROADCAST_MAC, source: HA_MAC, etherType: EtherType.ARP, payload: arp };
    const bytes = new Uint8Array(ethernetFrameLength(frame));
    expect(encodeEthernetFrame(frame, bytes)).toBe(42);
    expect(toHex(bytes)).toBe(toHex(fromHex(GRATUITOUS_FRAME)));

    const buffer = new Uint8Array(60);
    buffer.set(arp, 14);
    const inPlace = { ...frame, payload: buffer.subarray(14, 42) };
    expect(encodeEthernetFrame(inPlace, buffer)).toBe(42);
    expect(toHex(buffer.subarray(0, 42))).toBe(toHex(fromHex(GRATUITOUS_FRAME)));
  });

  it('refuses to encode an 802.3 length as EtherType', () => {
    expect(() => encodeEthernetHeader(BROADCAST_MAC, HA_MAC, 0x05dc, new Uint8Array(14))).toThrow(EncodeError);
    expect(() => encodeEthernetHeader(BROADCAST_MAC, HA_MAC, 0x0800, new Uint8Array(13))).toThrow(EncodeError);
  });
});

describe('ARP packets (RFC 826)', () => {
  it('decodes a request, with padding after it ignored', () => {
    const bytes = new Uint8Array(46);
    bytes.set(fromHex(CN_REQUEST));
    const r = decodeArpPacket(bytes);
    expect(r).toEqual({
      ok: true,
      value: { operation: 1, senderMac: CN_MAC, senderIp: CN_ADDRESS, targetMac: ZERO_MAC, targetIp: HOME_ADDRESS },
      next: 28,
    });
    expect([arpOperation(bytes), arpSenderIp(bytes), arpTargetIp(bytes)]).toEqual([1, CN_ADDRESS, HOME_ADDRESS]);
  });

  it('encodes request and reply builders to the RFC 826 layout', () => {
    const bytes = new Uint8Array(28);
    encodeArpPacket(arpRequest(CN_MAC, CN_ADDRESS, HOME_ADDRESS), bytes);
    expect(toHex(bytes)).toBe(toHex(fromHex(CN_REQUEST)));
    encodeArpPacket(arpReply(HA_MAC, HOME_ADDRESS, CN_MAC, CN_ADDRESS), bytes);
    expect(toHex(bytes)).toBe(toHex(fromHex(PROXY_REPLY)));
  });

  it('keeps unknown operation codes', () => {
    const bytes = fromHex(CN_REQUEST);
    bytes[7] = 9; // e.g. InARP request (RFC 2390)
    const r = decodeArpPacket(bytes);
    expect(r.ok && r.value.operation).toBe(9);
    if (!r.ok) return;
    const out = new Uint8Array(28);
    encodeArpPacket(r.value, out);
    expect(toHex(out)).toBe(toHex(bytes));
  });

  it("rejects other hardware/protocol types and lengths with 'bad-version'", () => {
    for (const [index, value, offset] of [
      [1, 6, 0], // hardware type 6 (IEEE 802)
      [2, 0x86, 2], // protocol type 0x86dd
      [4, 8, 4], // hardware length 8
      [5, 16, 4], // protocol length 16
    ] as const) {
      const bytes = fromHex(CN_REQUEST);
      bytes[index] = value;
      const r = decodeArpPacket(bytes);
      expect(r.ok ? null : r.error).toMatchObject({ reason: 'bad-version', offset, layer: 'arp' });
    }
  });

  it("reports every truncation as 'truncated'", () => {
    const bytes = fromHex(CN_REQUEST);
    for (let end = 0; end < 28; end++) {
      const r = decodeArpPacket(bytes, 0, end);
      expect(r.ok ? null : r.error.reason).toBe('truncated');
    }
  });
});

describe('Gratuitous and proxy ARP (RFC 5944 4.6)', () => {
  it('[R4.6-1] builds a gratuitous ARP as a Request or a Reply: SPA = TPA = the address, SHA = the new link address', () => {
    const bytes = new Uint8Array(28);
    const request = gratuitousArp(HA_MAC, HOME_ADDRESS);
    expect(request).toEqual({
      operation: ArpOperation.Request,
      senderMac: HA_MAC,
      senderIp: HOME_ADDRESS,
      targetMac: ZERO_MAC, // "not used in an ARP Request packet"
      targetIp: HOME_ADDRESS,
    });
    encodeArpPacket(request, bytes);
    expect(toHex(bytes)).toBe(toHex(fromHex(GRATUITOUS_REQUEST)));

    const reply = gratuitousArp(HA_MAC, HOME_ADDRESS, 'reply');
    // In a Reply the Target Hardware Address is also the address the cache entry should take.
    expect(reply).toEqual({ operation: 2, senderMac: HA_MAC, senderIp: HOME_ADDRESS, targetMac: HA_MAC, targetIp: HOME_ADDRESS });
    encodeArpPacket(reply, bytes);
    expect(toHex(bytes)).toBe(toHex(fromHex(GRATUITOUS_REPLY)));
  });

  it('[R4.6-2] puts a gratuitous ARP in a link broadcast frame', () => {
    for (const operation of ['request', 'reply'] as const) {
      const frame = gratuitousArpFrame(HA_MAC, HOME_ADDRESS, { operation });
      expect(frame.length).toBe(ARP_FRAME_LENGTH);
      expect(ethernetIsBroadcast(frame)).toBe(true);
      expect(ethernetEtherType(frame)).toBe(EtherType.ARP);
      const arp = decodeArpPacket(frame, 14);
      expect(arp.ok && arp.value).toEqual(gratuitousArp(HA_MAC, HOME_ADDRESS, operation));
    }
    expect(toHex(gratuitousArpFrame(HA_MAC, HOME_ADDRESS))).toBe(toHex(fromHex(GRATUITOUS_FRAME)));
  });

  it('announces a returned mobile node from the agent interface without spoofing the frame source', () => {
    // 4.6: when the mobile node returns, the agent's gratuitous ARP carries SHA = the mobile
    // node's address; the frame itself still comes from the agent's interface.
    const frame = gratuitousArpFrame(MN_MAC, HOME_ADDRESS, { frameSource: HA_MAC });
    expect(ethernetSource(frame)).toBe(HA_MAC);
    const arp = decodeArpPacket(frame, 14);
    expect(arp.ok && arp.value.senderMac).toBe(MN_MAC);
  });

  it('[R4.6-6] builds the proxy reply: sender and target exchanged, sender hardware address = the agent interface', () => {
    const request = decodeArpPacket(fromHex(CN_REQUEST));
    expect(request.ok).toBe(true);
    if (!request.ok) return;
    const reply = proxyArpReply(request.value, HA_MAC);
    expect(reply).toEqual({
      operation: ArpOperation.Reply,
      senderMac: HA_MAC,
      senderIp: HOME_ADDRESS,
      targetMac: CN_MAC,
      targetIp: CN_ADDRESS,
    });
    const frame = new Uint8Array(ARP_FRAME_LENGTH);
    expect(encodeArpFrame(reply, reply.targetMac, HA_MAC, frame)).toBe(42);
    expect(toHex(frame)).toBe(toHex(fromHex(`020000000020 0200000000aa 0806 ${PROXY_REPLY}`)));
  });
});
