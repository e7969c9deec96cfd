/**
 * The library entry point (`import … from 'mip4'`): what an embedder needs to run agents,
 * observe them, and speak the wire format.
 */
export { HomeAgent, type HomeAgentConfig, type HomeAgentEvent, type ArpCommand, type BindingView, type MobileNodeConfig, type ForeignAgentConfig } from './home-agent.js';
export { startHomeAgent, serveHomeAgent, secureRandom32, type RunningHomeAgent, type ListenAddress } from './home-agent-server.js';
export { homeAgentConfigFromDocument, loadHomeAgentConfig, ConfigError, EXAMPLE_HOME_AGENT_CONFIG } from './config.js';
export { RealClock, SimulatedClock, type Clock } from './clock.js';
export { ForwardingTable, type ForwardingEntry, type TunnelTarget } from './forwarding-table.js';
export type { TransitionRecord } from './actor-host.js';
export { machineChart, chartToMermaid } from './chart.js';
export { encodeSigned, authPlaceholder } from './sign.js';
export { Udp, UdpError, type UdpSocket } from '../io/udp.js';
export { NodeUdpLive } from '../io/node/udp.js';
export { SimUdpNetwork, seededRandom } from '../io/sim/udp.js';
export { bindingMachine } from '../machines/binding.js';
export * from '../io/wire/index.js';
export { Link, LinkError, type LinkInterface, type LinkErrorReason } from '../io/link.js';
export { SimEthernetSegment, SimEthernetPort, SimArpHost, simLinkLayer, type SimInterfaceSpec, type SegmentTap } from '../io/sim/ethernet.js';
export { attachHomeLink, type HomeLink, type HomeLinkOptions, type HomeLinkCounters, type HomeLinkEvent } from './home-link.js';
