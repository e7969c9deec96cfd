import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkUnsigned, toHex } from '../../io/wire/bytes.js';
import { EncodeError } from '../../io/wire/codec.js';
import { encodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { greEncapsulate, ipInIpEncapsulate, PreparedOuterHeader, prepareOuterHeader, writeGreIpv4Header } from '../../io/wire/tunnel.js';
import { ForwardingTable } from '../../runtime/dataplane/forwarding-table.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

function innerDatagram(tos: number, dontFragment: boolean, payload: number): Uint8Array {
  const bytes = new Uint8Array(20 + payload);
  encodeIpv4Packet(
    {
      header: { tos, identification: 7, flags: dontFragment ? 2 : 0, fragmentOffset: 0, ttl: 9, protocol: IpProtocol.UDP, source: 0xc0000205, destination: 0x0a000002 },
      payload: new Uint8Array(payload).fill(0x5a),
    },
    bytes,
  );
  return bytes;
}

describe('prepared outer header (the data plane\'s trusted writer)', () => {
  it('writes the same IP-in-IP and GRE packets as the checked encapsulators', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 1, max: 255 }), fc.nat(0xffff), fc.nat(255), fc.boolean(), fc.nat(60), fc.boolean(), (source, destination, ttl, identification, tos, df, payload, checksum) => {
        const inner = innerDatagram(tos, df, payload);
        const params = { source, destination, identification, ttl };

        const expected = new Uint8Array(20 + inner.length);
        ipInIpEncapsulate(inner, params, expected, 0);
        const actual = new Uint8Array(20 + inner.length);
        actual.set(inner, 20);
        prepareOuterHeader({ source, ttl }, IpProtocol.IPIP).write(actual, 0, destination, actual.length, identification, tos, df);
        expect(toHex(actual)).toBe(toHex(expected));

        const greLength = checksum ? 8 : 4;
        const expectedGre = new Uint8Array(20 + greLength + inner.length);
        greEncapsulate(inner, params, { checksum }, expectedGre, 0);
        const actualGre = new Uint8Array(expectedGre.length);
        actualGre.set(inner, 20 + greLength);
        writeGreIpv4Header(actualGre, 20, checksum, actualGre.length);
        prepareOuterHeader({ source, ttl }, IpProtocol.GRE).write(actualGre, 0, destination, actualGre.length, identification, tos, df);
        expect(toHex(actualGre)).toBe(toHex(expectedGre));
      }),
    );
  });

  it('checks the constant fields once, when prepared, and cannot be built around that check', () => {
    expect(() => prepareOuterHeader({ source: -1 }, IpProtocol.IPIP)).toThrow(EncodeError);
    expect(() => prepareOuterHeader({ source: 2 ** 32 }, IpProtocol.IPIP)).toThrow(EncodeError);
    expect(() => prepareOuterHeader({ source: 1, ttl: 256 }, IpProtocol.IPIP)).toThrow(EncodeError);
    expect(() => prepareOuterHeader({ source: 1, ttl: 1.5 }, IpProtocol.GRE)).toThrow(EncodeError);
    const Forged = PreparedOuterHeader as unknown as new (token: symbol, source: number, ttl: number, protocol: number) => PreparedOuterHeader;
    expect(() => new Forged(Symbol('prepared outer header'), 1, 64, 4)).toThrow(TypeError);
  });

  it('refuses a header that does not fit or a Total Length over 65535', () => {
    const header = prepareOuterHeader({ source: 1 }, IpProtocol.IPIP);
    expect(() => header.write(new Uint8Array(19), 0, 2, 19, 0, 0, false)).toThrow(EncodeError);
    expect(() => header.write(new Uint8Array(40), 0, 2, 65536, 0, 0, false)).toThrow(EncodeError);
  });

  it('the forwarding table checks each care-of address once, when the binding is published', () => {
    const table = new ForwardingTable();
    const target = (careOfAddress: number) => ({ careOfAddress, encapsulation: 'ip-in-ip' as const, broadcast: false, decapsulatedByMobileNode: false, reverseTunnel: false });
    expect(() => table.upsertTunnel(0x0a000002, target(-1))).toThrow(RangeError);
    expect(() => table.upsertTunnel(0x0a000002, target(2 ** 32))).toThrow(RangeError);
    expect(() => table.upsertTunnel(0x0a000002, target(Number.NaN))).toThrow(RangeError);
    expect(() => table.upsertTunnel(2 ** 33, target(1))).toThrow(RangeError);
    expect(table.size).toBe(0);
    table.upsertTunnel(0x0a000002, target(0xcb007101));
    expect(table.lookup(0x0a000002)?.tunnels[0]?.careOfAddress).toBe(0xcb007101);
  });
});

describe('checkUnsigned', () => {
  const reference = (value: number, bits: number) => Number.isInteger(value) && value >= 0 && value < 2 ** bits;
  it('accepts exactly the integers 0 … 2^bits - 1', () => {
    const values = fc.oneof(fc.integer({ min: -5, max: 2 ** 33 }), fc.double(), fc.constantFrom(0, -0, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, NaN, Infinity, -Infinity, 0.5));
    fc.assert(
      fc.property(values, fc.constantFrom(3, 7, 8, 12, 13, 16, 31, 32), (value, bits) => {
        let accepted = true;
        try {
          checkUnsigned('test', 'field', value, bits);
        } catch (error) {
          expect(error).toBeInstanceOf(EncodeError);
          accepted = false;
        }
        expect(accepted).toBe(reference(value, bits));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('forwarding table republishing', () => {
  const target = (careOfAddress: number, broadcast = false) => ({ careOfAddress, encapsulation: 'ip-in-ip' as const, broadcast, decapsulatedByMobileNode: false, reverseTunnel: false });

  it('a renewal that changes nothing keeps the entry; a changed field replaces it', () => {
    const table = new ForwardingTable();
    table.upsertTunnel(0x0a000002, target(0xcb007101));
    const entry = table.lookup(0x0a000002);
    table.upsertTunnel(0x0a000002, target(0xcb007101));
    expect(table.lookup(0x0a000002)).toBe(entry);
    table.upsertTunnel(0x0a000002, target(0xcb007101, true));
    expect(table.lookup(0x0a000002)?.tunnels).toEqual([target(0xcb007101, true)]);
  });

  it('with a subscriber, every publication is still reported as a change', () => {
    const table = new ForwardingTable();
    const changes: string[] = [];
    table.changes.subscribe((c) => changes.push(c.kind));
    table.upsertTunnel(0x0a000002, target(0xcb007101));
    table.upsertTunnel(0x0a000002, target(0xcb007101));
    expect(changes).toEqual(['set', 'set']);
  });
});
