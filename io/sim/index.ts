/** `mip4/sim`: the simulated network (hosts, Ethernet segments, UDP, raw IP, pcap taps) and its clock, for deterministic tests and demos. */
export * from './network.js';
export * from './ip-host.js';
// The address helpers the simulated host used to define (its public API before io/wire/ipv4-address.ts).
export { LIMITED_BROADCAST, prefixMask, isMulticast, directedBroadcast } from '../wire/ipv4-address.js';
export * from './ethernet.js';
export * from './udp.js';
export * from './raw-ip.js';
export { SimulatedClock, type Clock } from '../clock.js';
