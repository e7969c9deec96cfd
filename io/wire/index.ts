/** The wire layer: pure, byte-exact codecs of every message mip4 sends or receives. */
export * from './codec.js';
export * from './bytes.js';
export * from './registration-types.js';
export * from './registration.js';
export { registrationToJson, registrationFromJson, type RegistrationJson } from './registration-json.js';
export * from './identification.js';
export * from './reply-codes.js';
export * from './agent-discovery.js';
export { agentDiscoveryToJson, agentDiscoveryFromJson, type AgentDiscoveryJson } from './agent-discovery-json.js';
export * from './icmp.js';
export * from './ipv4.js';
export * from './ipv4-address.js';
export * from './udp.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './tunnel.js';
export * from './pcap.js';
