/**
 * A home agent on a simulated host (io/sim) with its packet path, as the roaming demo, the
 * scenarios and the testing kit (mip4/testing) start it.
 */
import type { SimNetwork } from '../../io/sim/network.js';
import type { SimHost } from '../../io/sim/ip-host.js';
import { simPacketTapLayer } from '../../io/sim/packet-tap.js';
import type { Clock } from '../../io/clock.js';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import { attachHomeAgentDataPath, type HomeAgentDataPath } from './home-agent-data-path.js';
import type { HomeAgentConfig } from './home-agent.js';
import { HomeAgentAdvertiser, type HomeAgentAdvertisementConfig } from './home-agent-advertiser.js';
import { startHomeAgent, type RunningHomeAgent } from './home-agent-server.js';

/**
 * A home agent on a simulated host with its packet path: UDP 434 on `address`, interception
 * of bound home addresses on `homeInterface`, tunnels out through a raw IP-in-IP socket, and,
 * with `advertisement`, Agent Advertisements ('H') on `homeInterface` (2.3).
 * `close()` detaches the path, its socket and the advertiser; stop the agent itself with `ha.stop()`.
 */
export async function startSimulatedHomeAgent(
  net: SimNetwork,
  host: SimHost,
  config: HomeAgentConfig,
  options: {
    address: Ipv4Address;
    homeInterface: string;
    prefixLength: number;
    clock: Clock;
    random32: () => number;
    advertisement?: Omit<HomeAgentAdvertisementConfig, 'address'>;
  },
): Promise<{ ha: RunningHomeAgent; dataPath: HomeAgentDataPath; advertiser: HomeAgentAdvertiser | undefined; close(): void }> {
  const ha = await startHomeAgent(config, { listen: [{ address: options.address, port: 434 }], udp: net.udpLayer(host), clock: options.clock, random32: options.random32 });
  const dataPath = attachHomeAgentDataPath(ha.agent, simPacketTapLayer(host), {
    clock: options.clock,
    addresses: [options.address],
    homeNetwork: config.settings.homeNetwork,
    prefixLength: options.prefixLength,
    homeInterface: options.homeInterface,
  });
  const advertiserLink = options.advertisement === undefined ? undefined : host.linkInterface(options.homeInterface);
  const advertiser =
    advertiserLink === undefined
      ? undefined
      : new HomeAgentAdvertiser(advertiserLink, { ...options.advertisement!, address: options.address }, { clock: options.clock, random32: options.random32 });
  return {
    ha,
    dataPath,
    advertiser,
    close() {
      advertiser?.close();
      advertiserLink?.close();
      dataPath.detach();
    },
  };
}
