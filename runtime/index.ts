/**
 * The library entry point (`import … from 'mip4'`): what an embedder needs to run agents,
 * observe them, and speak the wire format.
 */
export { HomeAgent, type HomeAgentConfig, type HomeAgentEvent, type ArpCommand, type BindingView, type MobileNodeConfig, type ForeignAgentConfig } from './ha/home-agent.js';
export { secureRandom32 } from '../io/random.js';
export { startHomeAgent, serveHomeAgent, type RunningHomeAgent, type ListenAddress } from './ha/home-agent-server.js';
export {
  HomeAgentAdvertiser,
  startHomeAgentAdvertiser,
  type HomeAgentAdvertisementConfig,
  type HomeAgentAdvertiserEvent,
  type RunningHomeAgentAdvertiser,
} from './ha/home-agent-advertiser.js';
export { homeAgentConfigFromDocument, loadHomeAgentConfig, ConfigError, EXAMPLE_HOME_AGENT_CONFIG } from './config/ha-config.js';
export { RealClock, SimulatedClock, type Clock } from '../io/clock.js';
export { ForwardingTable, type ForwardingEntry, type TunnelTarget } from './dataplane/forwarding-table.js';
export type { TransitionRecord } from './actors/actor-host.js';
export { machineChart, chartToMermaid } from './inspector/machine-chart.js';
export { layoutChart } from './inspector/chart-layout.js';
export { layoutToSvg } from './inspector/chart-svg.js';
// The live inspector page for an embedder's own agents: inspect({ listen, sources: [{ name, hosts: agent.inspected() }] }).
export {
  startInspector as inspect,
  parseInspectAddress,
  InspectorListenError,
  type InspectorOptions,
  type InspectorSource,
  type RunningInspector,
  type DemoView,
} from './inspector/inspector-server.js';
export { DemoPace, type DemoSpeed } from './inspector/demo-pace.js';
export type { InspectedHost, InspectedActorRow } from './actors/inspection.js';
export { encodeSigned, authPlaceholder } from '../policies/sign.js';
export { Udp, UdpError, type UdpSocket } from '../io/udp.js';
export { NodeUdpLive } from '../io/node/udp.js';
export { LinuxUdpLive } from '../io/linux/udp.js';
export { udpLayer, UDP_IMPLEMENTATIONS, type UdpImplementation } from './udp-layer.js';
export { SimUdpNetwork, seededRandom } from '../io/sim/udp.js';
export { bindingMachine } from '../machines/binding.js';
export * from '../io/wire/index.js';
export { Link, LinkError, type LinkInterface, type LinkErrorReason } from '../io/link.js';
export { isStartError, type StartError } from '../io/scoped-start.js';
export { SimEthernetSegment, SimEthernetPort, SimArpHost, simLinkLayer, type SimInterfaceSpec, type SegmentTap } from '../io/sim/ethernet.js';
export { attachHomeLink, type HomeLink, type HomeLinkOptions, type HomeLinkCounters, type HomeLinkEvent } from './ha/home-link.js';
export { homeAgentDataPlane, largestTunnelOverhead, type HomeAgentDataPlaneOptions } from './dataplane/ha-plane.js';
export { foreignAgentDataPlane, mobileNodeDecapsulation, type ForeignAgentDataPlaneOptions, type MobileNodeDecapsulationOptions } from './dataplane/fa-plane.js';
export {
  PacketPool,
  type DataPlane,
  type DataPlaneCounter,
  type DataPlaneCounters,
  type Packet,
  type PacketBatch,
  type OutputBatch,
  type OutputPacket,
} from './dataplane/packets.js';
export {
  checkFaRequest,
  checkFaReply,
  buildFaDenial,
  faCodeForIcmpError,
  pendingForIcmpError,
  quotedRelayedRequest,
  type QuotedRelayedRequest,
  FaReplyCode,
  type FaSettings,
  type FaRequestInput,
  type FaRequestVerdict,
  type FaReplyInput,
  type FaReplyVerdict,
  type FaReplyDatagram,
  type PendingRegistration,
  type VisitorUpdate,
  fromHomeAgentOf,
  RecentDenials,
} from '../policies/fa-request.js';
export {
  checkPendingBudget,
  pendingChargeOf,
  type PendingBudgetLimits,
  type PendingBudgetVerdict,
  type PendingCharge,
  type PendingUsage,
} from '../policies/fa-pending-budget.js';
export { visitorMachine, visitorRemainingLifetime, type VisitorEvent, type VisitorInput, type VisitorContext } from '../machines/visitor.js';
export { faPendingMachine, DEFAULT_PENDING_TIMEOUT_MS, type FaPendingEvent, type FaPendingInput } from '../machines/fa-pending.js';
export {
  advertiserMachine,
  advertiserConfig,
  buildFaAdvertisement,
  buildHomeAgentAdvertisement,
  type HomeAgentAdvertisementSettings,
  type AdvertiserSettings,
  type AdvertiserEvent,
  type SendAdvertisementParams,
  type FaAdvertisementSettings,
} from '../machines/advertiser.js';
export { mnDiscoveryMachine, advertisementEvent, chooseAgent, solicitationInterval, type MnDiscoveryEvent, type MnDiscoveryInput, type AdvertisementEvent } from '../machines/mn-discovery.js';
export { mnRegistrationMachine, retransmissionTimeout, type MnRegistrationEvent, type MnRegistrationInput, type MnReplayState } from '../machines/mn-registration.js';
export { buildRegistrationRequest, requestLifetime, requestFlags, nextIdentification, type MnRequestSettings, type MnRegistrationTarget, type MnRequestAttempt } from '../policies/mn-request.js';
export { checkMnReply, type MnReplyVerdict } from '../policies/mn-reply.js';
export { SimNetwork, type SimNetworkOptions, type SimSegmentOptions, type SimCapture, type CapturedFrame, type SimNetworkCounters } from '../io/sim/network.js';
export {
  SimHost,
  SimHostInterface,
  ALL_SYSTEMS_GROUP,
  ALL_MOBILITY_AGENTS_GROUP,
  multicastMac,
  type SimHostOptions,
  type SimInterfaceOptions,
  type SimHostCounters,
  type InterfaceAddress,
  type Route,
  type ArpBehaviour,
  type ArpEntry,
  type IpArrival,
  type InterceptInfo,
  type IpHandler,
  type InterceptPredicate,
  type InterceptHandler,
  type FrameHandler,
  type SendIpOptions,
  type SendIpResult,
  type SendPacketFields,
  type DestinationKind,
} from '../io/sim/ip-host.js';
export { simRawIpLayer } from '../io/sim/raw-ip.js';
export {
  attachHomeAgentDataPath,
  openHomeAgentDataPath,
  type HomeAgentDataPathOptions,
  type HomeAgentDataPathCounters,
  type HomeAgentDataPath,
} from './ha/home-agent-data-path.js';
export { PacketTap, PacketTapError, type CaptureRule, type OpenedPacketTap, type PacketTapOptions } from '../io/packet-tap.js';
export { simPacketTapLayer } from '../io/sim/packet-tap.js';
export {
  MobileNode,
  startMobileNode,
  type MobileNodeConfig as MobileNodeRuntimeConfig,
  type MobileNodeEvent,
  type MobileNodeState,
  type MobileNodeCounters,
  type MobileNodeIo,
  type RunningMobileNode,
  type StartMobileNodeOptions,
} from './mn/mobile-node.js';
export {
  ForeignAgent,
  startForeignAgent,
  serveForeignAgent,
  type FaConfig,
  type FaPeerConfig,
  type FaAdvertisementConfig,
  type ForeignAgentEvent,
  type ForeignAgentCounters,
  type ForeignAgentTableSizes,
  type ForeignAgentOptions,
  type VisitorView,
  type FaUdpSender,
  type RunningForeignAgent,
  type StartForeignAgentOptions,
  type ServeForeignAgentOptions,
} from './fa/foreign-agent.js';
// The real Linux world (io/linux: the native helper, loaded on first use; root or
// CAP_NET_ADMIN/CAP_NET_RAW): the same services as io/sim, and the home agent's packet path.
export { RawIp, RawIpError, type RawIpSocket } from '../io/raw-ip.js';
export { Tun, TunError } from '../io/tun.js';
export { MnHost, MnHostError } from '../io/mn-host.js';
export { nativeAvailable } from '../io/linux/native.js';
export { LinuxLinkLive } from '../io/linux/packet.js';
export { LinuxRawIpLive } from '../io/linux/raw-ip.js';
export { LinuxTunLive } from '../io/linux/tun.js';
export { linuxPacketTapLayer, type LinuxPacketTapConfig } from '../io/linux/packet-tap.js';
export { LinuxMnHostLive, linuxMnHostLayer, type LinuxMnHostOptions, type MnHostRestoreEvent } from '../io/linux/mn-host.js';
export {
  startLinuxHomeAgentDataPath,
  DataPathStartError,
  type LinuxDataPathConfig,
  type LinuxHomeAgentDataPath,
  type LinuxDataPathCounters,
} from './ha/home-agent-linux.js';
