/**
 * The commands each daemon answers on its control socket: `status`, `traffic`, `debug` and
 * `reload` for all three, then `bindings` / `clear-binding` (home agent), `visitors` /
 * `clear-visitor` (foreign agent) and `mobile-node` (mobile node). Filters are applied here,
 * in the daemon, and tables are streamed as rows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipv4ToString, parseIpv4, type Ipv4Address } from '../../io/wire/bytes.js';
import type { HomeAgent, BindingView } from '../ha/home-agent.js';
import type { LinuxHomeAgentDataPath } from '../ha/home-agent-linux.js';
import type { ForeignAgent } from '../fa/foreign-agent.js';
import type { MobileNode } from '../mn/mobile-node.js';
import { ControlError, controlRows, type ControlServer } from './control-server.js';
import type { DaemonLogControl, DaemonReload, DaemonRole } from './protocol.js';

/** What every daemon tells about itself. */
export interface DaemonIdentity {
  readonly role: DaemonRole;
  /** The step engine the actor hosts run (MIP4_ENGINE). */
  readonly engine: string;
  readonly controlSocket: string;
  /** Date.now() at start. */
  readonly startedAt: number;
  readonly logControl?: DaemonLogControl;
  readonly reload?: DaemonReload;
  /** Which data path engine runs and why (issue 17), with the tc-BPF programs' counters. */
  readonly dataPathEngine?: DataPathEngineStatus;
}

/** `status`'s `dataPathEngine`: the choice made at start (policies/data-path-engine.ts) and the programs' counters. */
export interface DataPathEngineStatus {
  readonly engine: 'bpf' | 'userspace';
  readonly setting: 'bpf' | 'userspace' | 'auto';
  readonly reason: string;
  /** Per program, per reason; empty with userspace. */
  readonly bpfCounters: () => Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Entries in the programs' maps, by map name (e.g. visitors); absent with userspace. */
  readonly bpfMapEntries?: () => Readonly<Record<string, number>>;
}

let packageVersion: string | undefined;

/** The version in mip4's package.json, found above this file (in the sources or in dist/). */
export function mip4Version(): string {
  if (packageVersion !== undefined) return packageVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++, dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (!existsSync(path)) continue;
    const json = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
    if (json.name === 'mip4') return (packageVersion = json.version ?? 'unknown');
  }
  return (packageVersion = 'unknown');
}

/** An IPv4 address argument, or undefined when absent; bad-request naming the field otherwise. */
export function addressArgument(args: Readonly<Record<string, unknown>>, field: string, required = false): Ipv4Address | undefined {
  const value = args[field];
  if (value === undefined || value === null) {
    if (required) throw new ControlError('bad-request', `${field}: required, an IPv4 address such as 198.51.100.10`);
    return undefined;
  }
  const address = typeof value === 'string' ? parseIpv4(value) : undefined;
  if (address === undefined) throw new ControlError('bad-request', `${field}: expected an IPv4 address such as 198.51.100.10, got ${JSON.stringify(value)}`);
  return address;
}

function dataPathEngineView(status: DataPathEngineStatus): object {
  return {
    engine: status.engine,
    setting: status.setting,
    reason: status.reason,
    bpfCounters: status.bpfCounters(),
    ...(status.bpfMapEntries === undefined ? {} : { bpfMapEntries: status.bpfMapEntries() }),
  };
}

/** `status`, `traffic`, `debug` and `reload`: what every daemon answers. */
function registerCommon(server: ControlServer, identity: DaemonIdentity, parts: { readonly summary: () => object; readonly counters: () => object; readonly traffic: () => object }): void {
  server.register('status', () => ({
    role: identity.role,
    version: mip4Version(),
    pid: process.pid,
    uptimeSeconds: Math.floor((Date.now() - identity.startedAt) / 1000),
    engine: identity.engine,
    controlSocket: identity.controlSocket,
    logLevel: identity.logControl?.level ?? 'info',
    ...(identity.dataPathEngine === undefined ? {} : { dataPathEngine: dataPathEngineView(identity.dataPathEngine) }),
    ...parts.summary(),
    counters: parts.counters(),
  }));
  server.register('traffic', () => ({ role: identity.role, ...parts.traffic() }));
  server.register('debug', (args) => {
    if (typeof args.on !== 'boolean') throw new ControlError('bad-request', 'on: expected true (debug on) or false (debug off)');
    const homeAddress = addressArgument(args, 'homeAddress');
    if (identity.logControl === undefined) throw new ControlError('unsupported', 'this daemon has no live log control');
    return identity.logControl.setDebug(args.on, homeAddress === undefined ? undefined : ipv4ToString(homeAddress));
  });
  server.register('reload', async () => {
    if (identity.reload === undefined) throw new ControlError('unsupported', 'this daemon cannot reload its configuration; restart it');
    return identity.reload.reload();
  });
}

/** Bindings per encapsulation, from the bindings themselves. */
function countBy<T>(items: Iterable<T>, key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export function registerHomeAgentCommands(server: ControlServer, identity: DaemonIdentity, agent: HomeAgent, dataPath: LinuxHomeAgentDataPath | undefined): void {
  const dataPathSummary = () =>
    dataPath === undefined
      ? { enabled: false }
      : {
          enabled: true,
          tunnelDevice: dataPath.tunnelDevice,
          homeInterface: dataPath.homeInterface,
          tunnelMtu: dataPath.tunnelMtu,
          engine: dataPath.engine,
          engineReason: dataPath.engineReason,
          ...(dataPath.bpf !== undefined ? { bpf: { interfaces: dataPath.bpf.interfaces, ...dataPath.bpf.counters, programs: dataPath.bpf.programCounters() } } : {}),
        };
  registerCommon(server, identity, {
    summary: () => ({ bindings: agent.bindingCount, udpTunnelled: countBy<BindingView>(agent.eachBinding(), (b) => (b.udpTunnel !== undefined ? 'yes' : 'no'))['yes'] ?? 0, dataPath: dataPathSummary() }),
    counters: () => agent.counters,
    traffic: () => {
      const c = agent.counters;
      return {
        requests: c.requests,
        accepted: c.accepted,
        denied: c.denied,
        expired: c.expired,
        deniedByCode: c.deniedByCode,
        discarded: c.discarded,
        discardedByReason: c.discardedByReason,
        bindingsByEncapsulation: countBy<BindingView>(agent.eachBinding(), (b) => b.encapsulation),
        // RFC 3519: registrations granted, declined and denied UDP tunnelling, NATs seen, rebindings.
        udpTunnels: { ...agent.udpTunnels.counters },
        dataPath: dataPath === undefined ? null : dataPath.snapshot(),
      };
    },
  });
  server.register('bindings', (args) => {
    const homeAddress = addressArgument(args, 'homeAddress');
    const careOf = addressArgument(args, 'careOfAddress');
    const careOfText = careOf === undefined ? undefined : ipv4ToString(careOf);
    return controlRows(filtered(agent.eachBinding(homeAddress), (b) => careOfText === undefined || b.careOfAddress === careOfText));
  });
  server.register('clear-binding', (args) => {
    const homeAddress = addressArgument(args, 'homeAddress', true)!;
    const cleared = agent.clearBinding(homeAddress);
    if (cleared.length === 0) throw new ControlError('not-found', `no binding for ${ipv4ToString(homeAddress)}`);
    return { homeAddress: ipv4ToString(homeAddress), careOfAddresses: cleared };
  });
}

export function registerForeignAgentCommands(server: ControlServer, identity: DaemonIdentity, agent: ForeignAgent): void {
  registerCommon(server, identity, {
    summary: () => ({ visitors: agent.tableSizes().visitors, pending: agent.pendingCount, dataPath: { deliveryRoutes: agent.tableSizes().routes } }),
    counters: () => agent.counters,
    traffic: () => {
      const c = agent.counters;
      return {
        requests: c.requests,
        relayed: c.relayed,
        replies: c.replies,
        repliesRelayed: c.repliesRelayed,
        denied: c.denied,
        deniedByCode: c.deniedByCode,
        timeouts: c.timeouts,
        discarded: c.discarded,
        discardedByReason: c.discardedByReason,
        pendingRefusals: c.pendingRefusals,
        advertisements: c.advertisements,
        tunnelDelivered: c.tunnelDelivered,
        dataPlane: agent.dataPlane.counters,
        // The visitor link's reader undoing GSO and partial checksums (Linux; absent on simulated links).
        ...(agent.visitorLinkOffloads() === undefined ? {} : { visitorLinkOffloads: agent.visitorLinkOffloads() }),
        // Read from the kernel now: its queues that overflowed before the agent read them (Linux).
        ...(agent.kernelDrops.empty ? {} : { kernelDrops: agent.kernelDrops.snapshot() }),
      };
    },
  });
  server.register('visitors', (args) => {
    const homeAddress = addressArgument(args, 'homeAddress');
    const text = homeAddress === undefined ? undefined : ipv4ToString(homeAddress);
    return controlRows(filtered(agent.visitors(), (v) => text === undefined || v.homeAddress === text));
  });
  server.register('clear-visitor', (args) => {
    const homeAddress = addressArgument(args, 'homeAddress', true)!;
    const entries = agent.clearVisitor(homeAddress);
    if (entries === 0) throw new ControlError('not-found', `no visitor ${ipv4ToString(homeAddress)}`);
    return { homeAddress: ipv4ToString(homeAddress), entries };
  });
}

export interface MobileNodeIdentity {
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
  readonly interfaceName: string;
}

export function registerMobileNodeCommands(server: ControlServer, identity: DaemonIdentity, node: MobileNode, config: MobileNodeIdentity): void {
  // JSON has no Infinity: an infinite lifetime's remaining time is written as the word.
  const state = () => {
    const s = node.state();
    return s.remaining === Infinity ? { ...s, remaining: 'infinite' } : s;
  };
  const view = () => ({
    interface: config.interfaceName,
    homeAddress: ipv4ToString(config.homeAddress),
    homeAgent: ipv4ToString(config.homeAgent),
    ...state(),
    counters: node.counters,
    ...udpTunnelCounters(node),
  });
  registerCommon(server, identity, {
    summary: () => ({ mobileNode: state() }),
    counters: () => node.counters,
    traffic: () => ({ ...node.counters, ...(node.kernelDrops.empty ? {} : { kernelDrops: node.kernelDrops.snapshot() }) }),
  });
  server.register('mobile-node', view);
}

/** RFC 3519 at the node (runtime/mn/udp-tunnel.ts), once it has asked for UDP tunnelling. */
function udpTunnelCounters(node: MobileNode): { udpTunnelCounters?: Record<string, number> } {
  const udp = node.udpTunnelling as MobileNode['udpTunnelling'] | undefined;
  if (udp === undefined || udp.counters.requested === 0) return {};
  return { udpTunnelCounters: { ...udp.counters, ...udp.plane.counters } };
}

function* filtered<T>(items: Iterable<T>, keep: (item: T) => boolean): Generator<T> {
  for (const item of items) if (keep(item)) yield item;
}
