import { describe, it, expect } from 'vitest';
import { AdvertisementFlag, decodeAgentAdvertisement } from '../../io/wire/agent-discovery.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { decodeIpv4Packet, IpProtocol } from '../../io/wire/ipv4.js';
import { ALL_SYSTEMS } from '../../machines/advertiser.js';
import { homeAgentConfigFromDocument } from '../../runtime/config.js';
import { ConfigError } from '../../runtime/config-schema.js';
import { homeAgentAdvertisementDatagram, type HomeAdvertisementConfig } from '../../runtime/home-agent-advertiser.js';

// The home agent's Agent Advertisements (RFC 5944 2.1, 2.1.1, 2.3): the datagram as it leaves
// the raw socket, decoded with the wire codecs; and the configuration section that enables them.

const config: HomeAdvertisementConfig = {
  interfaceName: 'eth1',
  address: ipv4('198.51.100.2'),
  registrationLifetime: 120,
  encapsulations: { minimal: true, gre: false },
  advertiser: { lifetimeSeconds: 30, maxIntervalMs: 10_000 },
};

function decode(datagram: Uint8Array) {
  const packet = decodeIpv4Packet(datagram);
  if (!packet.ok) throw new Error(packet.error.message);
  const advertisement = decodeAgentAdvertisement(packet.value.payload);
  if (!advertisement.ok) throw new Error(advertisement.error.message);
  const extension = advertisement.value.extensions.find((e) => e.kind === 'mobility-agent-advertisement');
  if (extension?.kind !== 'mobility-agent-advertisement') throw new Error('no Mobility Agent Advertisement Extension');
  return { header: packet.value.header, advertisement: advertisement.value, extension };
}

describe('home agent advertisements', () => {
  it("[R2.1-2] [R2.3-8] an ICMP Router Advertisement from the agent's home address, TTL 1, with 'H' set and 'F' clear", () => {
    const { header, advertisement, extension } = decode(homeAgentAdvertisementDatagram(config, { sequence: 0, destination: ALL_SYSTEMS, busy: false }));
    expect(header.ttl).toBe(1);
    expect(header.protocol).toBe(IpProtocol.ICMP);
    expect(header.source).toBe(ipv4('198.51.100.2'));
    expect(header.destination).toBe(ALL_SYSTEMS);
    expect(advertisement.checksumValid).toBe(true);
    expect(advertisement.lifetime).toBe(30);
    expect(extension.sequence).toBe(0);
    expect(extension.registrationLifetime).toBe(120);
    expect(extension.flags & AdvertisementFlag.H).toBe(AdvertisementFlag.H);
    expect(extension.flags & AdvertisementFlag.F).toBe(0);
    // The encapsulations it accepts besides IP in IP (2.1.1): minimal here, not GRE.
    expect(extension.flags & AdvertisementFlag.M).toBe(AdvertisementFlag.M);
    expect(extension.flags & AdvertisementFlag.G).toBe(0);
    expect(extension.careOfAddresses).toEqual([]);
  });

  it("sets 'B' when the machine says busy, and carries the sequence it is given", () => {
    const { extension } = decode(homeAgentAdvertisementDatagram(config, { sequence: 256, destination: ALL_SYSTEMS, busy: true }));
    expect(extension.flags & AdvertisementFlag.B).toBe(AdvertisementFlag.B);
    expect(extension.sequence).toBe(256);
  });
});

describe('the advertisement section of the home agent configuration', () => {
  const base = {
    homeAgent: { address: '198.51.100.2', homeNetwork: '198.51.100.0/24', maxLifetime: 300 },
    mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: '00112233445566778899aabbccddeeff' }],
  };

  it('advertises on the data path home interface, lifetime three intervals by default', () => {
    const loaded = homeAgentConfigFromDocument({ ...base, dataPath: { homeInterface: 'eth1' }, advertisement: { maxInterval: 2 } });
    expect(loaded.advertisement).toMatchObject({
      interfaceName: 'eth1',
      address: ipv4('198.51.100.2'),
      registrationLifetime: 300,
      advertiser: { maxIntervalMs: 2000, lifetimeSeconds: 6 },
    });
  });

  it('without a dataPath section: a config error naming advertisement and the fix', () => {
    let error: unknown;
    try {
      homeAgentConfigFromDocument({ ...base, advertisement: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ path: 'advertisement', message: expect.stringContaining('add a dataPath section with homeInterface') }]);
  });

  it('absent: no advertisements', () => {
    expect(homeAgentConfigFromDocument({ ...base, dataPath: { homeInterface: 'eth1' } }).advertisement).toBeUndefined();
  });
});
