/**
 * The configuration of a foreign agent on a simulated host (io/sim), as the roaming demo and the
 * testing kit (mip4/testing) start it: one address that is its care-of address, its interface
 * address and its link address; IP in IP only; advertisements every second with a 3 s lifetime.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import type { FaConfig, FaPeerConfig } from './foreign-agent.js';

export function simulatedForeignAgentConfig(options: {
  readonly address: Ipv4Address;
  readonly homeAgents: readonly FaPeerConfig[];
  /** The advertisement jitter's seed (0 is taken as 1). */
  readonly seed: number;
  readonly registrationRequired: boolean;
  /** Advertised with 'T' (RFC 3024 3.1) and granted to the node that asks. */
  readonly reverseTunnel: boolean;
}): FaConfig {
  const { address, reverseTunnel } = options;
  return {
    settings: {
      careOfAddresses: [address],
      interfaceAddresses: [address],
      linkAddress: address,
      registrationLifetime: 1800,
      busy: false,
      encapsulations: { minimal: false, gre: false },
      reverseTunneling: reverseTunnel,
      reverseTunnel: reverseTunnel ? 'offered' : 'none',
      requireMobileForeignAuthentication: false,
      maxPending: 5,
      acceptZeroHomeAddress: false,
    },
    mobileNodes: [],
    homeAgents: options.homeAgents,
    advertisement: { lifetimeSeconds: 3, maxIntervalMs: 1000, seed: options.seed || 1, registrationRequired: options.registrationRequired },
  };
}
