/**
 * The home agent on the bpf engine (issue 17, docs/kernel-fast-path.md "The home agent"): the
 * forwarding table drives the kernel's maps, and the programs run at tc ingress of the chosen
 * interfaces beside the userspace plane, which keeps the TUN device and its /32 routes for
 * everything the programs pass.
 *
 *   forwarding table ─► (subscribe, then the entries already there) ─► HomeBindingsMap (ha_encap)
 *                                                                   └► ReverseSourcesMap (decap)
 *   tc ingress: decap (TC_PRIORITY_FIRST: reverse tunnels to the agent, RFC 3024 5.5)
 *             ─► ha_encap (TC_PRIORITY: datagrams for bound home addresses)
 *
 * A map write is one bpf() system call into buffers allocated once; a renewal that changes
 * nothing writes nothing. A failed write is counted and logged once per kind, and the home is
 * left to userspace (its entry removed), never thrown at the agent.
 */
import { statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Subscription } from 'rxjs';
import {
  BpfInstance,
  TC_PRIORITY,
  TC_PRIORITY_FIRST,
  type DecapCounter,
  type HaEncapCounter,
  type HomeBindingsMap,
  type ReverseSourcesMap,
} from '../../io/linux/bpf.js';
import { loadNative } from '../../io/linux/native.js';
import type { NativeError } from '../../io/linux/native.js';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import type { ForwardingChange, ForwardingEntry, ForwardingTable } from '../dataplane/forwarding-table.js';
import { IPV4_MIN_HEADER_LENGTH } from '../../io/wire/ipv4.js';
import { GRE_HEADER_LENGTH } from '../../io/wire/tunnel.js';
import { KERNEL_GRE, kernelEncapsulationOf } from './kernel-bindings.js';

/** What ha_encap puts in front of a datagram (RFC 2003; RFC 2784 without checksum or key). */
const IPIP_TUNNEL_OVERHEAD = IPV4_MIN_HEADER_LENGTH;
const GRE_TUNNEL_OVERHEAD = IPV4_MIN_HEADER_LENGTH + GRE_HEADER_LENGTH;

/** Why a map write failed: the map is full (E2BIG, ENOMEM) or anything else. */
export type BpfMapErrorKind = 'map-full' | 'update-failed';

export interface HomeAgentBpfCounters {
  /** home_bindings entries written (a home's first binding, a move, a change of encapsulation). */
  bindingsSet: number;
  /** home_bindings entries removed (withdrawn, or the home moved to userspace). */
  bindingsDeleted: number;
  /** reverse_sources pairs written and removed. */
  reverseSourcesSet: number;
  reverseSourcesDeleted: number;
  /** Failed map writes by kind; such homes stay on the userspace plane. */
  mapErrors: Record<BpfMapErrorKind, number>;
  /** Entries a previous run left in the maps, removed at start. */
  staleEntriesCleared: number;
  /** Filters and pins a crashed run of the same instance left, removed at start. */
  staleRemoved: number;
}

export interface HomeAgentBpfEvent {
  readonly event: 'bpf-map-error';
  readonly map: 'home_bindings' | 'reverse_sources';
  readonly kind: BpfMapErrorKind;
  readonly homeAddress: Ipv4Address;
  readonly message: string;
}

export interface HomeAgentBpfOptions {
  /** The pin folder's name (/sys/fs/bpf/mip4/<instance>): stable across restarts. */
  readonly instance: string;
  /** Where ha_encap and decap are attached (tc ingress). */
  readonly interfaces: readonly string[];
  /** The outer source of tunnel packets: the address the userspace plane uses (4.2.3). */
  readonly tunnelSource: Ipv4Address;
  /** Every address of the agent: reverse tunnels to them are decapsulated (role home-agent). */
  readonly agentAddresses: readonly Ipv4Address[];
  /** The TUN device: too-big datagrams pass to it; decapsulated datagrams enter the stack by it. */
  readonly tunnelDevice: string;
  readonly tunnelMtu: number;
  /** GRE reverse tunnels are the agent's (homeAgent.encapsulations offers GRE). */
  readonly greOffered: boolean;
  /** Called once per map and kind of failure (the daemon logs it). */
  readonly onEvent?: (event: HomeAgentBpfEvent) => void;
  /** For tests: another bpffs folder than /sys/fs/bpf/mip4. */
  readonly pinRoot?: string;
}

export interface HomeAgentBpf {
  readonly instance: string;
  readonly interfaces: readonly string[];
  readonly counters: HomeAgentBpfCounters;
  /** The programs' per-reason counters, summed over the CPUs. */
  programCounters(): { readonly haEncap: Record<HaEncapCounter, number>; readonly decap: Record<DecapCounter, number> };
  /** Whether ha_encap holds `homeAddress` (tests, `mip4 status`). */
  inKernel(homeAddress: Ipv4Address): boolean;
  /** Unsubscribes, detaches every filter, removes the pins. Idempotent. */
  stop(): void;
}

/**
 * The instance name of a home agent: stable across restarts of the same agent (a crashed run's
 * pins are found by it), distinct between agents: the network namespace (its inode) and the
 * TUN device, which no two agents in one namespace share.
 */
export function homeAgentBpfInstance(tunnelDevice: string): string {
  let namespace = 0;
  try {
    namespace = statSync('/proc/self/ns/net').ino;
  } catch {
    // No /proc: one namespace, the device name alone.
  }
  return `ha-${namespace}-${tunnelDevice}`;
}

/**
 * dataPath.bpfInterfaces' default: every interface that is up and has an address, except lo and
 * the TUN device. Read through getifaddrs (netlink), so it sees the calling process's network
 * namespace even where /sys belongs to another.
 */
export function defaultBpfInterfaces(tunnelDevice: string): string[] {
  return Object.entries(networkInterfaces())
    .filter(([name, addresses]) => name !== 'lo' && name !== tunnelDevice && (addresses ?? []).some((a) => !a.internal))
    .map(([name]) => name)
    .sort();
}

function mapErrorKind(error: unknown): BpfMapErrorKind {
  const code = (error as NativeError | undefined)?.code;
  return code === 'E2BIG' || code === 'ENOMEM' || code === 'ENOSPC' ? 'map-full' : 'update-failed';
}

/**
 * Opens the instance (cleaning a crashed run's leftovers), loads and configures both programs,
 * empties their binding maps, follows `table` and attaches to `options.interfaces`. Throws
 * (with nothing left attached or pinned) when a step fails.
 */
export function startHomeAgentBpf(table: ForwardingTable, options: HomeAgentBpfOptions): HomeAgentBpf {
  const { instance, staleRemoved } = BpfInstance.open({ instance: options.instance, ...(options.pinRoot !== undefined ? { pinRoot: options.pinRoot } : {}) });
  let subscription: Subscription | undefined;
  try {
    instance.load('ha_encap');
    instance.load('decap');
    const bindings = instance.homeBindings();
    const reverse = instance.reverseSources();
    const careOf = instance.careOfAddresses();
    // Fresh maps from a load are empty; cleared all the same, so a map that outlived a run
    // (pinned and reused later) never carries a binding the table does not have.
    const staleEntriesCleared = bindings.clear() + reverse.clear() + careOf.clear();
    // Every entry carries its own bound (KernelBindingSync); the shared one is the largest.
    instance.setHaSettings({ tunnelMtu: options.tunnelMtu + GRE_TUNNEL_OVERHEAD, outerTtl: 0 });
    const tunnelDeviceIfindex = loadNative().interfaceIndex(options.tunnelDevice);
    instance.setHaDecapSettings({ tunnelDeviceIfindex, greOffered: options.greOffered });
    for (const address of options.agentAddresses) careOf.set(address, 'home-agent');

    const sync = new KernelBindingSync(bindings, reverse, options.tunnelSource, options.onEvent, options.tunnelMtu);
    sync.counters.staleEntriesCleared = staleEntriesCleared;
    sync.counters.staleRemoved = staleRemoved;
    // Subscribed first, then the entries already there (restored from the store at start): the
    // table emits synchronously, so nothing falls between the two.
    subscription = table.changes.subscribe((change) => sync.apply(change));
    for (const entry of table) sync.set(entry);

    for (const name of options.interfaces) {
      instance.attach('decap', name, 'ingress', { priority: TC_PRIORITY_FIRST });
      instance.attach('ha_encap', name, 'ingress', { priority: TC_PRIORITY });
    }
    let stopped = false;
    return {
      instance: options.instance,
      interfaces: [...options.interfaces],
      counters: sync.counters,
      // After stop, the counters as they were when the programs went (the daemon's last log line).
      programCounters: () => ({ haEncap: instance.haEncapCounters(), decap: instance.decapCounters() }),
      inKernel: (homeAddress) => !stopped && bindings.get(homeAddress) !== undefined,
      stop() {
        if (stopped) return;
        stopped = true;
        subscription?.unsubscribe();
        instance.close();
      },
    };
  } catch (error) {
    subscription?.unsubscribe();
    instance.close();
    throw error;
  }
}

/**
 * Keeps ha_encap's home_bindings and decap's reverse_sources equal to the forwarding table.
 * What it wrote is remembered (int32 keys), so a renewal republishing the same tunnel costs
 * two Map lookups and no system call.
 */
export class KernelBindingSync {
  readonly counters: HomeAgentBpfCounters = {
    bindingsSet: 0,
    bindingsDeleted: 0,
    reverseSourcesSet: 0,
    reverseSourcesDeleted: 0,
    mapErrors: { 'map-full': 0, 'update-failed': 0 },
    staleEntriesCleared: 0,
    staleRemoved: 0,
  };
  /** home → care-of address in home_bindings; GRE homes in `greHomes`. */
  private readonly inKernel = new Map<number, number>();
  private readonly greHomes = new Set<number>();
  /** home → the entry whose (home, care-of) pairs reverse_sources holds. */
  private readonly pairsOf = new Map<number, ForwardingEntry>();
  private readonly logged = new Set<string>();

  constructor(
    private readonly bindings: Pick<HomeBindingsMap, 'setFields' | 'delete'>,
    private readonly reverse: Pick<ReverseSourcesMap, 'set' | 'delete'>,
    private readonly tunnelSource: Ipv4Address,
    private readonly onEvent?: (event: HomeAgentBpfEvent) => void,
    /**
     * The TUN device's MTU: the largest inner datagram the userspace plane tunnels. ha_encap
     * bounds the outer datagram, so each entry gets this plus its own header (20 for IP in IP,
     * 24 for GRE): both engines then take the same datagrams, and a larger one passes to the
     * TUN, whose MTU makes the kernel send Fragmentation Needed (RFC 2003 5.1). Without it the
     * route's MTU alone bounds the outer datagram.
     */
    private readonly innerMtu?: number,
  ) {}

  apply(change: ForwardingChange): void {
    if (change.kind === 'set') this.set(change.entry);
    else this.remove(change.homeAddress);
  }

  set(entry: ForwardingEntry): void {
    this.setPairs(entry);
    const key = entry.homeAddress | 0;
    const encapsulation = kernelEncapsulationOf(entry);
    if (encapsulation === 0) {
      this.deleteBinding(key, entry.homeAddress);
      return;
    }
    const careOf = entry.tunnels[0]!.careOfAddress;
    const gre = encapsulation === KERNEL_GRE;
    if (this.inKernel.get(key) === (careOf | 0) && this.greHomes.has(key) === gre) return;
    try {
      const outerMtu = this.innerMtu === undefined ? 0 : this.innerMtu + (gre ? GRE_TUNNEL_OVERHEAD : IPIP_TUNNEL_OVERHEAD);
      this.bindings.setFields(entry.homeAddress, careOf, this.tunnelSource, encapsulation, outerMtu);
    } catch (error) {
      this.failed('home_bindings', error, entry.homeAddress);
      // The home stays on the userspace plane: no entry in the kernel, old or new.
      this.deleteBinding(key, entry.homeAddress);
      return;
    }
    this.counters.bindingsSet++;
    this.inKernel.set(key, careOf | 0);
    if (gre) this.greHomes.add(key);
    else this.greHomes.delete(key);
  }

  remove(homeAddress: Ipv4Address): void {
    const key = homeAddress | 0;
    this.deleteBinding(key, homeAddress);
    const previous = this.pairsOf.get(key);
    if (previous === undefined) return;
    this.pairsOf.delete(key);
    for (const tunnel of previous.tunnels) if (tunnel.udp === undefined) this.deletePair(homeAddress, tunnel.careOfAddress);
  }

  private deleteBinding(key: number, homeAddress: Ipv4Address): void {
    if (!this.inKernel.delete(key)) {
      // Not written (or its write failed): make sure nothing stale is there, without a syscall
      // for the common case of a home that never was in the kernel.
      return;
    }
    this.greHomes.delete(key);
    try {
      if (this.bindings.delete(homeAddress)) this.counters.bindingsDeleted++;
    } catch (error) {
      this.failed('home_bindings', error, homeAddress);
    }
  }

  /**
   * reverse_sources: the pairs of `entry` in, the pairs its previous version had and it lacks out.
   * UDP-tunnelled bindings (RFC 3519) never enter a BPF map: an IP-in-IP packet from such a
   * care-of address goes to the userspace plane, which takes it as before.
   */
  private setPairs(entry: ForwardingEntry): void {
    const key = entry.homeAddress | 0;
    const previous = this.pairsOf.get(key);
    this.pairsOf.set(key, entry);
    const tunnels = entry.tunnels;
    if (previous !== undefined) {
      for (const old of previous.tunnels) {
        if (old.udp !== undefined) continue;
        let kept = false;
        for (let t = 0; t < tunnels.length; t++) if (tunnels[t]!.careOfAddress === old.careOfAddress && tunnels[t]!.udp === undefined) kept = true;
        if (!kept) this.deletePair(entry.homeAddress, old.careOfAddress);
      }
    }
    for (let t = 0; t < tunnels.length; t++) {
      if (tunnels[t]!.udp !== undefined) continue;
      const careOf = tunnels[t]!.careOfAddress;
      let had = false;
      if (previous !== undefined) for (const old of previous.tunnels) if (old.careOfAddress === careOf && old.udp === undefined) had = true;
      if (had) continue;
      try {
        this.reverse.set(entry.homeAddress, careOf);
        this.counters.reverseSourcesSet++;
      } catch (error) {
        // Its reverse tunnel then reaches the userspace plane (decap passes an unknown pair).
        this.failed('reverse_sources', error, entry.homeAddress);
      }
    }
  }

  private deletePair(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): void {
    try {
      if (this.reverse.delete(homeAddress, careOfAddress)) this.counters.reverseSourcesDeleted++;
    } catch (error) {
      this.failed('reverse_sources', error, homeAddress);
    }
  }

  private failed(map: HomeAgentBpfEvent['map'], error: unknown, homeAddress: Ipv4Address): void {
    const kind = mapErrorKind(error);
    this.counters.mapErrors[kind]++;
    const once = `${map}:${kind}`;
    if (this.logged.has(once)) return;
    this.logged.add(once);
    this.onEvent?.({ event: 'bpf-map-error', map, kind, homeAddress, message: (error as Error).message });
  }
}
