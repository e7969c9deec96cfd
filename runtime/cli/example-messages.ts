/**
 * The example messages of RFC 5944 Appendix G, built with real field values: an Agent
 * Advertisement from a foreign agent (G.1), a Registration Request through it with a
 * non-authentication extension for the home agent, the MHAE, and the MFAE (G.2), and the
 * home agent's Registration Reply (G.3). Each is encoded, authenticated and framed, so the
 * same bytes serve `mip4 examples`, captures and tests.
 */
import { AdvertisementFlag, agentAdvertisementCodec, agentSolicitationCodec, makeAgentAdvertisement, makeAgentSolicitation } from '../../io/wire/agent-discovery.js';
import { fromHex, ipv4 } from '../../io/wire/bytes.js';
import { encodeToBytes } from '../../io/wire/codec.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { MOBILE_IP_PORT, RequestFlag, type RegistrationReply, type RegistrationRequest } from '../../io/wire/registration-types.js';
import { ReplyCode } from '../../io/wire/reply-codes.js';
import { icmpFrame, udpFrame } from '../../io/wire/frames.js';
import { authPlaceholder, encodeSigned, type SigningKey } from '../../policies/sign.js';

export const exampleNetwork = {
  homeAgent: ipv4('198.51.100.1'),
  homeAddress: ipv4('198.51.100.10'),
  foreignAgent: ipv4('203.0.113.1'),
  mobileNodeMac: '02:00:00:00:00:0a',
  foreignAgentMac: '02:00:00:00:01:01',
  homeAgentMac: '02:00:00:00:02:01',
} as const;

/** Demonstration keys (never use fixed keys in a deployment). */
export const exampleKeys = {
  mobileHome: { spi: 0x1000, algorithm: 'hmac-md5', key: fromHex('00112233445566778899aabbccddeeff') } satisfies SigningKey,
  mobileForeign: { spi: 0x200, algorithm: 'hmac-md5', key: fromHex('0f0e0d0c0b0a09080706050403020100') } satisfies SigningKey,
};

export interface ExampleMessage {
  readonly title: string;
  readonly section: string;
  /** The Mobile IP message: UDP payload or ICMP message. */
  readonly message: Uint8Array;
  /** The whole Ethernet frame as it would cross the link. */
  readonly frame: Uint8Array;
}

/** The three messages of Appendix G plus a solicitation, at time `nowMs` (sets the Identification). */
export function appendixGExamples(nowMs = Date.UTC(2026, 0, 1)): ExampleMessage[] {
  const net = exampleNetwork;
  const keyFor = (_type: number, spi: number) =>
    spi === exampleKeys.mobileHome.spi ? exampleKeys.mobileHome : spi === exampleKeys.mobileForeign.spi ? exampleKeys.mobileForeign : undefined;

  const solicitation = encodeToBytes(agentSolicitationCodec, makeAgentSolicitation());
  const advertisement = encodeToBytes(
    agentAdvertisementCodec,
    makeAgentAdvertisement({
      lifetime: 1800,
      routers: [{ address: net.foreignAgent, preference: 0 }],
      extensions: [
        {
          kind: 'mobility-agent-advertisement',
          type: 16,
          sequence: 1,
          registrationLifetime: 1800,
          flags: AdvertisementFlag.F | AdvertisementFlag.G | AdvertisementFlag.M,
          careOfAddresses: [net.foreignAgent],
        },
        { kind: 'prefix-lengths', type: 19, prefixLengths: [24] },
        { kind: 'pad', type: 0 },
      ],
    }),
  );
  const identification = identificationFromUnixMs(nowMs, 0x2a);
  const request: RegistrationRequest = {
    type: 1,
    flags: RequestFlag.G,
    lifetime: 1800,
    homeAddress: net.homeAddress,
    homeAgent: net.homeAgent,
    careOfAddress: net.foreignAgent,
    identification,
    extensions: [
      // G.2 "Optional Non-Auth Extensions for HA": the mobile node's NAI (RFC 2794).
      { kind: 'nai', type: 131, nai: 'mn@example.org', offset: 0 },
      authPlaceholder(32, exampleKeys.mobileHome.spi),
      authPlaceholder(33, exampleKeys.mobileForeign.spi),
    ],
  };
  const reply: RegistrationReply = {
    type: 3,
    code: ReplyCode.Accepted,
    lifetime: 1800,
    homeAddress: net.homeAddress,
    homeAgent: net.homeAgent,
    identification,
    extensions: [authPlaceholder(32, exampleKeys.mobileHome.spi)],
  };
  const requestBytes = encodeSigned(request, keyFor);
  const replyBytes = encodeSigned(reply, keyFor);
  const onLink = (sourceMac: string, destinationMac: string) => ({ sourceMac, destinationMac });
  return [
    {
      title: 'Agent Solicitation',
      section: '2.2',
      message: solicitation,
      frame: icmpFrame({ ...onLink(net.mobileNodeMac, 'ff:ff:ff:ff:ff:ff'), source: net.homeAddress, destination: ipv4('224.0.0.11'), ttl: 1 }, solicitation),
    },
    {
      title: 'Agent Advertisement',
      section: 'G.1',
      message: advertisement,
      frame: icmpFrame({ ...onLink(net.foreignAgentMac, net.mobileNodeMac), source: net.foreignAgent, destination: net.homeAddress, ttl: 1 }, advertisement),
    },
    {
      title: 'Registration Request',
      section: 'G.2',
      message: requestBytes,
      frame: udpFrame({ ...onLink(net.mobileNodeMac, net.foreignAgentMac), source: net.homeAddress, destination: net.foreignAgent }, 49152, MOBILE_IP_PORT, requestBytes),
    },
    {
      title: 'Registration Reply',
      section: 'G.3',
      message: replyBytes,
      frame: udpFrame({ ...onLink(net.foreignAgentMac, net.mobileNodeMac), source: net.foreignAgent, destination: net.homeAddress }, MOBILE_IP_PORT, 49152, replyBytes),
    },
  ];
}
