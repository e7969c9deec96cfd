/**
 * The tc-BPF kernel fast path's loader (docs/kernel-fast-path.md): the shipped programs
 * (native/bpf/dist/*.bpf.o), loaded, attached to tc hooks, pinned under a bpffs folder of the
 * instance's own, and their maps read and written. No agent uses it yet: the wiring step drives
 * `HomeBindingsMap` from the forwarding table's changes and the care-of / visitor maps from
 * the foreign agent's and mobile node's state.
 *
 * The native part is its own addon (build/Release/mip4_bpf.node, linking libbpf) so that the
 * main helper loads where libbpf is absent. Attaching acts in the calling thread's network
 * namespace. Map keys and addresses are IPv4 addresses in host order here (as io/wire's), stored
 * in network order in the maps; map updates write into buffers allocated once per map.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative, type NativeError } from './native.js';

/** The addon's exports, as native/bpf-loader.c exports them. */
export interface NativeBpf {
  loadObject(path: string): { handle: BpfObjectHandle; programs: Record<string, number>; maps: Record<string, number> };
  closeObject(handle: BpfObjectHandle): void;
  /** Creates the clsact qdisc when absent; replaces a filter of the same handle and priority. Returns the program id. */
  tcAttach(ifindex: number, ingress: boolean, handle: number, priority: number, programFd: number): number;
  /** The id of the program attached with that handle and priority, 0 when none. */
  tcQuery(ifindex: number, ingress: boolean, handle: number, priority: number): number;
  tcDetach(ifindex: number, ingress: boolean, handle: number, priority: number): boolean;
  pin(fd: number, path: string): void;
  openPinned(path: string): number;
  objectId(fd: number): number;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  mapDelete(fd: number, key: Uint8Array): boolean;
  mapLookup(fd: number, key: Uint8Array, value: Uint8Array): boolean;
  mapKeys(fd: number, keySize: number, keys: Uint8Array): number;
  counterSums(fd: number, count: number): number[];
  ensureBpffs(path: string): boolean;
  closeFd(fd: number): void;
  /** SO_ATTACH_BPF: a socket filter program on a socket of this process (the FA's packet socket). */
  attachSocketFilter(socketFd: number, programFd: number): void;
}

export type BpfObjectHandle = { readonly __mip4BpfObject: unique symbol };

/** The programs shipped in native/bpf/dist, one object each. */
export type BpfProgramName = 'ha_encap' | 'decap' | 'reverse_encap';

/** Counter names of ha_encap, by index (native/bpf/mip4_bpf.h MIP4_HA_*). */
export const HA_ENCAP_COUNTERS = [
  'encapsulated',
  'passed-unknown',
  'passed-ttl',
  'passed-mtu',
  'passed-multicast',
  'passed-malformed',
  'fib-failed',
  'adjust-failed',
  'not-ipv4',
  'passed-loop-check',
] as const;

/** Counter names of decap, by index (native/bpf/mip4_bpf.h MIP4_DECAP_*). */
export const DECAP_COUNTERS = [
  'delivered-locally',
  'delivered-visitor',
  'passed-not-tunnel',
  'passed-malformed',
  'passed-ttl',
  'passed-unknown-visitor',
  'passed-gre-flags',
  'adjust-failed',
  'passed-multicast',
  'passed-visitor-encapsulated',
  // The home-agent role (reverse tunnels at the HA), appended: MIP4_DECAP_DELIVERED_HOME_AGENT...
  'delivered-home-agent',
  'passed-not-bound',
  'passed-igmp',
  'passed-gre-not-offered',
] as const;

export type HaEncapCounter = (typeof HA_ENCAP_COUNTERS)[number];
export type DecapCounter = (typeof DECAP_COUNTERS)[number];

/** Where pins go unless told: one folder per instance below it. */
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/mip4';
/** The bpffs mount point the default pin root needs. */
export const BPFFS_MOUNT = '/sys/fs/bpf';
/**
 * The tc filter handle and priority of every filter mip4 attaches ("mi", "p4"): a restart or a
 * cleanup finds its own filters by them and never touches another program's.
 */
export const TC_HANDLE = 0x6d69;
export const TC_PRIORITY = 0x7034;
/**
 * The priority of a second mip4 filter that must run before the one at TC_PRIORITY on the same
 * hook (the home agent's decap before ha_encap: tc runs lower numbers first, and decap's passes
 * return TC_ACT_UNSPEC so the next filter still sees them).
 */
export const TC_PRIORITY_FIRST = TC_PRIORITY - 1;
/**
 * reverse_encap's priority on the visitor link, where decap holds TC_PRIORITY: one lower, so it
 * runs first (tc runs the lower number first) and its passes (TC_ACT_UNSPEC) go on to decap.
 */
export const REVERSE_TC_PRIORITY = TC_PRIORITY - 1;

export const BPF_BUILD_HINT = 'build it with `npm rebuild mip4` where libbpf-dev is installed (apt-get install libbpf-dev); the userspace data path works without it';

/** Thrown when the loader addon is not built or does not load. */
export class BpfLoaderUnavailableError extends Error {
  override readonly name = 'BpfLoaderUnavailableError';
}

// Beside mip4_io.node: two levels above this file in the sources, three in dist/io/linux.
const CANDIDATES = ['../../build/Release/mip4_bpf.node', '../../../build/Release/mip4_bpf.node'];
// The shipped objects, from the package root (same two depths).
const OBJECT_DIRS = ['../../native/bpf/dist/', '../../../native/bpf/dist/'];

let loaded: NativeBpf | undefined;

/** Loads the loader addon once; throws BpfLoaderUnavailableError naming why. */
export function loadBpf(): NativeBpf {
  if (loaded) return loaded;
  const path = CANDIDATES.map((candidate) => new URL(candidate, import.meta.url).pathname).find((candidate) => existsSync(candidate));
  if (path === undefined) throw new BpfLoaderUnavailableError(`the tc-BPF loader (build/Release/mip4_bpf.node) is not built: ${BPF_BUILD_HINT}`);
  try {
    loaded = createRequire(import.meta.url)(path) as NativeBpf;
  } catch (error) {
    throw new BpfLoaderUnavailableError(`the tc-BPF loader ${path} cannot be loaded (${(error as Error).message}): ${BPF_BUILD_HINT}`);
  }
  return loaded;
}

/** Why the loader cannot be used here, or undefined when it loads. */
export function bpfUnavailableReason(): string | undefined {
  try {
    loadBpf();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The shipped object of `program` (native/bpf/dist/NAME.bpf.o). */
export function bpfObjectPath(program: BpfProgramName): string {
  for (const dir of OBJECT_DIRS) {
    const path = new URL(`${dir}${program}.bpf.o`, import.meta.url).pathname;
    if (existsSync(path)) return path;
  }
  throw new BpfLoaderUnavailableError(`native/bpf/dist/${program}.bpf.o is missing from the package (node scripts/build-bpf.mjs builds it)`);
}

const CAP_NET_ADMIN = 12;
const CAP_BPF = 39;

/**
 * The capabilities the fast path needs that this process lacks in its effective set, by name:
 * attaching takes CAP_NET_ADMIN, loading and map access CAP_BPF (perf-limits.md: both together).
 * `status` is /proc/self/status's text (given in tests).
 */
export function missingBpfCapabilities(status: string = readFileSync('/proc/self/status', 'utf8')): Array<'CAP_BPF' | 'CAP_NET_ADMIN'> {
  const line = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  const effective = line === null ? 0n : BigInt(`0x${line[1]}`);
  const missing: Array<'CAP_BPF' | 'CAP_NET_ADMIN'> = [];
  if ((effective & (1n << BigInt(CAP_BPF))) === 0n) missing.push('CAP_BPF');
  if ((effective & (1n << BigInt(CAP_NET_ADMIN))) === 0n) missing.push('CAP_NET_ADMIN');
  return missing;
}

/** Instance names become folder names: letters, digits, '-', '_', '.', not starting with '.'. */
const INSTANCE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;

/** "tc-IFINDEX-ingress": the pin that records an attachment for cleanup. */
const ATTACHMENT_PIN = /^tc-(\d+)-(ingress|egress)(?:-p(\d+))?$/;

/** The attachment pin's name; mip4's usual priority keeps the name it had before priorities. */
function attachmentPinName(ifindex: number, direction: Direction, priority: number): string {
  return priority === TC_PRIORITY ? `tc-${ifindex}-${direction}` : `tc-${ifindex}-${direction}-p${priority}`;
}

function writeAddressKey(bytes: Uint8Array, address: number): void {
  bytes[0] = address >>> 24;
  bytes[1] = (address >>> 16) & 0xff;
  bytes[2] = (address >>> 8) & 0xff;
  bytes[3] = address & 0xff;
}

function readAddress(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function parseMac(mac: string, field: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((part) => !/^[0-9a-fA-F]{2}$/.test(part))) {
    throw new TypeError(`${field}: "${mac}" is not a MAC address (six hex pairs separated by ':')`);
  }
  return Uint8Array.from(parts.map((part) => parseInt(part, 16)));
}

function formatMac(bytes: Uint8Array, offset: number): string {
  return Array.from(bytes.subarray(offset, offset + 6), (byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** A map of the loaded programs: its fd, the buffers its updates write into. */
abstract class AddressKeyedMap<Value> {
  protected readonly key = new Uint8Array(4);
  protected readonly value: Uint8Array;

  constructor(
    protected readonly native: NativeBpf,
    readonly fd: number,
    valueSize: number,
  ) {
    this.value = new Uint8Array(valueSize);
  }

  protected abstract encode(value: Value): void;
  protected abstract decode(): Value;

  /** Adds or replaces the entry of `address` (host order). */
  set(address: number, value: Value): void {
    writeAddressKey(this.key, address);
    this.encode(value);
    this.native.mapUpdate(this.fd, this.key, this.value, 0);
  }

  /** Removes the entry; false when there was none. */
  delete(address: number): boolean {
    writeAddressKey(this.key, address);
    return this.native.mapDelete(this.fd, this.key);
  }

  get(address: number): Value | undefined {
    writeAddressKey(this.key, address);
    return this.native.mapLookup(this.fd, this.key, this.value) ? this.decode() : undefined;
  }

  /** Every key (host order), up to `limit`. */
  keys(limit = 1 << 20): number[] {
    const buffer = new Uint8Array(4 * limit);
    const count = this.native.mapKeys(this.fd, 4, buffer);
    const keys: number[] = [];
    for (let i = 0; i < count; i++) keys.push(readAddress(buffer, 4 * i));
    return keys;
  }

  /** Removes every entry (a restart's stale ones); returns how many went. */
  clear(): number {
    let removed = 0;
    for (;;) {
      const keys = this.keys(4096);
      if (keys.length === 0) return removed;
      for (const address of keys) if (this.delete(address)) removed++;
    }
  }
}

export type BpfEncapsulation = 'ip-in-ip' | 'gre';

/** ha_encap's home_bindings value (native/bpf/mip4_bpf.h struct mip4_home_binding). */
export interface BpfHomeBinding {
  readonly careOfAddress: number;
  /** The outer source: the home agent's address. */
  readonly tunnelSource: number;
  readonly encapsulation: BpfEncapsulation;
  /** Largest outer datagram for this binding; 0 or absent: the settings' (and the route's). */
  readonly tunnelMtu?: number;
}

/** home address → care-of address, outer source, encapsulation, MTU. */
export class HomeBindingsMap extends AddressKeyedMap<BpfHomeBinding> {
  protected encode(binding: BpfHomeBinding): void {
    const mtu = binding.tunnelMtu ?? 0;
    if (!Number.isInteger(mtu) || mtu < 0 || mtu > 0xffff) throw new RangeError(`tunnelMtu: ${mtu} is not 0 to 65535`);
    writeAddressKey(this.value, binding.careOfAddress);
    writeAddressKey(this.value.subarray(4), binding.tunnelSource);
    // struct fields after the addresses are host-endian (little on every Linux mip4 runs on).
    this.value[8] = mtu & 0xff;
    this.value[9] = mtu >>> 8;
    this.value[10] = binding.encapsulation === 'gre' ? 2 : 1;
    this.value[11] = 0;
  }

  /**
   * `set` without a value object (a registration storm's updates allocate nothing):
   * `encapsulation` 1 IP in IP, 2 GRE (MIP4_ENCAP_*), `tunnelMtu` 0 for the shared one.
   */
  setFields(homeAddress: number, careOfAddress: number, tunnelSource: number, encapsulation: 1 | 2, tunnelMtu = 0): void {
    writeAddressKey(this.key, homeAddress);
    writeAddressKey(this.value, careOfAddress);
    writeAddressKey(this.value.subarray(4), tunnelSource);
    this.value[8] = tunnelMtu & 0xff;
    this.value[9] = (tunnelMtu >>> 8) & 0xff;
    this.value[10] = encapsulation;
    this.value[11] = 0;
    this.native.mapUpdate(this.fd, this.key, this.value, 0);
  }

  protected decode(): BpfHomeBinding {
    return {
      careOfAddress: readAddress(this.value, 0),
      tunnelSource: readAddress(this.value, 4),
      tunnelMtu: this.value[8]! | (this.value[9]! << 8),
      encapsulation: this.value[10] === 2 ? 'gre' : 'ip-in-ip',
    };
  }
}

export type CareOfRole = 'foreign-agent' | 'co-located' | 'home-agent';

/** local care-of address → what decap does with what arrives for it. */
export class CareOfAddressesMap extends AddressKeyedMap<CareOfRole> {
  protected encode(role: CareOfRole): void {
    this.value.fill(0);
    this.value[0] = role === 'co-located' ? 1 : role === 'home-agent' ? 2 : 0;
  }

  protected decode(): CareOfRole {
    return this.value[0] === 1 ? 'co-located' : this.value[0] === 2 ? 'home-agent' : 'foreign-agent';
  }
}

/** decap's visitors value: the visitor link and both MACs (RFC 5944 4.2.2). */
export interface BpfVisitor {
  readonly ifindex: number;
  readonly visitorMac: string;
  /** The foreign agent's own MAC on the visitor link. */
  readonly ownMac: string;
}

/** home address → visitor link, the visitor's MAC and the agent's. */
export class VisitorsMap extends AddressKeyedMap<BpfVisitor> {
  protected encode(visitor: BpfVisitor): void {
    if (!Number.isInteger(visitor.ifindex) || visitor.ifindex <= 0) throw new RangeError(`ifindex: ${visitor.ifindex} is not an interface index`);
    const ifindex = visitor.ifindex >>> 0;
    this.value[0] = ifindex & 0xff;
    this.value[1] = (ifindex >>> 8) & 0xff;
    this.value[2] = (ifindex >>> 16) & 0xff;
    this.value[3] = ifindex >>> 24;
    this.value.set(parseMac(visitor.visitorMac, 'visitorMac'), 4);
    this.value.set(parseMac(visitor.ownMac, 'ownMac'), 10);
  }

  protected decode(): BpfVisitor {
    const ifindex = (this.value[0]! | (this.value[1]! << 8) | (this.value[2]! << 16) | (this.value[3]! << 24)) >>> 0;
    return { ifindex, visitorMac: formatMac(this.value, 4), ownMac: formatMac(this.value, 10) };
  }
}

/**
 * decap's reverse_sources: the (home address, care-of address) pairs of current bindings, the
 * outer sources the home-agent role accepts for each inner source (RFC 3024 5.5). Buffers
 * allocated once: an update allocates nothing.
 */
export class ReverseSourcesMap {
  private readonly key = new Uint8Array(8);
  private readonly value = new Uint8Array(1);

  constructor(
    private readonly native: NativeBpf,
    readonly fd: number,
  ) {
    this.value[0] = 1;
  }

  private writeKey(homeAddress: number, careOfAddress: number): void {
    writeAddressKey(this.key, homeAddress);
    writeAddressKey(this.key.subarray(4), careOfAddress);
  }

  set(homeAddress: number, careOfAddress: number): void {
    this.writeKey(homeAddress, careOfAddress);
    this.native.mapUpdate(this.fd, this.key, this.value, 0);
  }

  delete(homeAddress: number, careOfAddress: number): boolean {
    this.writeKey(homeAddress, careOfAddress);
    return this.native.mapDelete(this.fd, this.key);
  }

  has(homeAddress: number, careOfAddress: number): boolean {
    this.writeKey(homeAddress, careOfAddress);
    return this.native.mapLookup(this.fd, this.key, new Uint8Array(1));
  }

  /** Every pair (host order), up to `limit`. */
  pairs(limit = 1 << 20): Array<{ homeAddress: number; careOfAddress: number }> {
    const buffer = new Uint8Array(8 * limit);
    const count = this.native.mapKeys(this.fd, 8, buffer);
    const pairs: Array<{ homeAddress: number; careOfAddress: number }> = [];
    for (let i = 0; i < count; i++) pairs.push({ homeAddress: readAddress(buffer, 8 * i), careOfAddress: readAddress(buffer, 8 * i + 4) });
    return pairs;
  }

  /** Removes every pair (a restart's stale ones); returns how many went. */
  clear(): number {
    let removed = 0;
    for (;;) {
      const pairs = this.pairs(4096);
      if (pairs.length === 0) return removed;
      for (const pair of pairs) if (this.delete(pair.homeAddress, pair.careOfAddress)) removed++;
    }
  }
}

/** decap's home-agent role settings (struct mip4_ha_decap_settings). */
export interface BpfHaDecapSettings {
  /** The TUN device inner datagrams enter the stack by; 0: the interface they arrived on. */
  readonly tunnelDeviceIfindex: number;
  /** GRE reverse tunnels are the agent's to take (homeAgent.encapsulations offers GRE). */
  readonly greOffered: boolean;
}

/** ha_encap's settings: what every binding shares. */
export interface BpfHaSettings {
  /** Largest outer datagram; 0: the route's MTU alone. */
  readonly tunnelMtu: number;
  /** Outer TTL; 0: 64. */
  readonly outerTtl: number;
}

type Direction = 'ingress' | 'egress';

/** One attachment made by an instance. */
export interface BpfAttachment {
  readonly ifindex: number;
  readonly direction: Direction;
  readonly programId: number;
  /** The tc priority (TC_PRIORITY unless another program shares the hook). */
  readonly priority: number;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NativeError | undefined)?.code;
}

/**
 * One instance's programs, maps, attachments and pins (/sys/fs/bpf/mip4/<instance>/). `open`
 * first removes what a crashed run of the same instance left (its tc filters, found by the
 * attachment pins, and every pin); `close` detaches and unpins everything it made.
 */
export class BpfInstance {
  private readonly objects = new Map<BpfProgramName, ReturnType<NativeBpf['loadObject']>>();
  private readonly attachments: BpfAttachment[] = [];
  private closed = false;
  /** Each loaded program's counter sums as they were at close: read after close, they stay. */
  private readonly finalCounters = new Map<BpfProgramName, readonly number[]>();

  private constructor(
    private readonly native: NativeBpf,
    readonly instance: string,
    readonly folder: string,
  ) {}

  /**
   * Opens the instance's pin folder, mounting a bpffs on /sys/fs/bpf when the default root is
   * used and none is there, after cleaning a previous run's leftovers (`staleRemoved` says how
   * many filters and pins went).
   */
  static open(options: { readonly instance: string; readonly pinRoot?: string }): { instance: BpfInstance; staleRemoved: number } {
    if (!INSTANCE_NAME.test(options.instance)) {
      throw new TypeError(`instance: "${options.instance}" is not a folder name (letters, digits, '-', '_', '.'; at most 64)`);
    }
    const native = loadBpf();
    const pinRoot = options.pinRoot ?? DEFAULT_PIN_ROOT;
    if (pinRoot === DEFAULT_PIN_ROOT) native.ensureBpffs(BPFFS_MOUNT);
    const staleRemoved = cleanupBpfInstance(options.instance, pinRoot);
    const folder = join(pinRoot, options.instance);
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      // Another instance's close may remove the empty root between our two mkdirs: once more.
      if (errnoCode(error) !== 'ENOENT') throw error;
      mkdirSync(folder, { recursive: true, mode: 0o700 });
    }
    return { instance: new BpfInstance(native, options.instance, folder), staleRemoved };
  }

  /** Loads a shipped program (once) and pins it and its maps under the instance's folder. */
  load(program: BpfProgramName, objectPath: string = bpfObjectPath(program)): void {
    this.assertOpen();
    if (this.objects.has(program)) return;
    const object = this.native.loadObject(objectPath);
    this.objects.set(program, object);
    const programFd = object.programs[program];
    if (programFd === undefined) throw new Error(`${objectPath} has no program named ${program}`);
    const folder = join(this.folder, program);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    this.native.pin(programFd, join(folder, 'program'));
    for (const [name, fd] of Object.entries(object.maps)) {
      // .bss/.rodata-style internal maps have dotted names: nothing to pin.
      if (!name.includes('.')) this.native.pin(fd, join(folder, `map-${name}`));
    }
  }

  private object(program: BpfProgramName): ReturnType<NativeBpf['loadObject']> {
    this.assertOpen();
    const object = this.objects.get(program);
    if (object === undefined) throw new Error(`${program} is not loaded: call load('${program}') first`);
    return object;
  }

  private mapFd(program: BpfProgramName, map: string): number {
    const fd = this.object(program).maps[map];
    if (fd === undefined) throw new Error(`${program} has no map named ${map}`);
    return fd;
  }

  /**
   * Attaches a loaded program to an interface's tc hook (clsact made when absent), replacing
   * mip4's own filter there; the attachment is pinned so a crashed run's is found and removed.
   */
  attach(
    program: BpfProgramName,
    interfaceName: string,
    direction: Direction = 'ingress',
    options: { readonly priority?: number; readonly entry?: string } = {},
  ): BpfAttachment {
    const object = this.object(program);
    const ifindex = loadNative().interfaceIndex(interfaceName);
    if (ifindex === 0) throw new Error(`attach ${program}: there is no interface named ${interfaceName}`);
    const entry = options.entry ?? program;
    const programFd = object.programs[entry];
    if (programFd === undefined) throw new Error(`attach ${program}: its object has no program named ${entry}`);
    const priority = options.priority ?? TC_PRIORITY;
    const programId = this.native.tcAttach(ifindex, direction === 'ingress', TC_HANDLE, priority, programFd);
    // Re-pinned each time: the pin must hold the program now on the hook for cleanup to match it.
    const pin = join(this.folder, attachmentPinName(ifindex, direction, priority));
    unpin(pin);
    this.native.pin(programFd, pin);
    const attachment = { ifindex, direction, programId, priority };
    const previous = this.attachments.findIndex((a) => a.ifindex === ifindex && a.direction === direction && a.priority === priority);
    if (previous >= 0) this.attachments.splice(previous, 1);
    this.attachments.push(attachment);
    return attachment;
  }

  /** Removes one attachment; false when it was not there. */
  detach(interfaceName: string, direction: Direction = 'ingress', priority: number = TC_PRIORITY): boolean {
    this.assertOpen();
    const ifindex = loadNative().interfaceIndex(interfaceName);
    const at = this.attachments.findIndex((a) => a.ifindex === ifindex && a.direction === direction && a.priority === priority);
    if (at < 0) return false;
    this.attachments.splice(at, 1);
    unpin(join(this.folder, attachmentPinName(ifindex, direction, priority)));
    return this.native.tcDetach(ifindex, direction === 'ingress', TC_HANDLE, priority);
  }

  /**
   * Attaches the socket filter `entry` of a loaded object to a socket of this process
   * (SO_ATTACH_BPF); it stays with the socket (closing the socket ends it, nothing to pin).
   */
  attachSocketFilter(program: BpfProgramName, entry: string, socketFd: number): void {
    const programFd = this.object(program).programs[entry];
    if (programFd === undefined) throw new Error(`attach ${entry}: the ${program} object has no such program`);
    this.native.attachSocketFilter(socketFd, programFd);
  }

  homeBindings(): HomeBindingsMap {
    return new HomeBindingsMap(this.native, this.mapFd('ha_encap', 'home_bindings'), 12);
  }

  careOfAddresses(): CareOfAddressesMap {
    return new CareOfAddressesMap(this.native, this.mapFd('decap', 'care_of_addresses'), 4);
  }

  reverseSources(): ReverseSourcesMap {
    return new ReverseSourcesMap(this.native, this.mapFd('decap', 'reverse_sources'));
  }

  /** Sets decap's home-agent role settings. */
  setHaDecapSettings(settings: BpfHaDecapSettings): void {
    if (!Number.isInteger(settings.tunnelDeviceIfindex) || settings.tunnelDeviceIfindex < 0) throw new RangeError(`tunnelDeviceIfindex: ${settings.tunnelDeviceIfindex} is not an interface index`);
    const value = new Uint8Array(8);
    const view = new DataView(value.buffer);
    view.setUint32(0, settings.tunnelDeviceIfindex, true);
    view.setUint32(4, settings.greOffered ? 1 : 0, true);
    this.native.mapUpdate(this.mapFd('decap', 'ha_decap_settings'), new Uint8Array(4), value, 0);
  }

  visitors(): VisitorsMap {
    return new VisitorsMap(this.native, this.mapFd('decap', 'visitors'), 16);
  }

  /** reverse_encap's map (RFC 3024): home address → care-of address, home agent, encapsulation. */
  reverseTunnels(): ReverseTunnelsMap {
    return new ReverseTunnelsMap(this.native, this.mapFd('reverse_encap', 'reverse_tunnels'), 12);
  }

  /** reverse_encap's counters, summed over the CPUs. */
  reverseEncapCounters(): Record<ReverseEncapCounter, number> {
    return this.counters('reverse_encap', REVERSE_ENCAP_COUNTERS);
  }

  /** Sets ha_encap's shared settings. */
  setHaSettings(settings: BpfHaSettings): void {
    for (const [field, value, max] of [['tunnelMtu', settings.tunnelMtu, 0xffff], ['outerTtl', settings.outerTtl, 255]] as const) {
      if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${field}: ${value} is not 0 to ${max}`);
    }
    const value = new Uint8Array(8);
    const view = new DataView(value.buffer);
    view.setUint32(0, settings.tunnelMtu, true);
    view.setUint32(4, settings.outerTtl, true);
    this.native.mapUpdate(this.mapFd('ha_encap', 'settings'), new Uint8Array(4), value, 0);
  }

  /** ha_encap's counters, summed over the CPUs. */
  haEncapCounters(): Record<HaEncapCounter, number> {
    return this.counters('ha_encap', HA_ENCAP_COUNTERS);
  }

  /** decap's counters, summed over the CPUs. */
  decapCounters(): Record<DecapCounter, number> {
    return this.counters('decap', DECAP_COUNTERS);
  }

  /** A program's counters, summed over the CPUs; after close, as they were when it closed. */
  private counters<Name extends string>(program: BpfProgramName, names: readonly Name[]): Record<Name, number> {
    const sums = this.finalCounters.get(program) ?? this.native.counterSums(this.mapFd(program, 'counters'), names.length);
    return Object.fromEntries(names.map((name, i) => [name, sums[i] ?? 0])) as Record<Name, number>;
  }

  get currentAttachments(): readonly BpfAttachment[] {
    return this.attachments;
  }

  /** Detaches every filter it attached, closes the programs and maps and removes its pins. */
  close(): void {
    if (this.closed) return;
    for (const program of this.objects.keys()) {
      // The daemons log and serve the programs' last counts after stop.
      this.finalCounters.set(program, this.native.counterSums(this.mapFd(program, 'counters'), PROGRAM_COUNTERS[program].length));
    }
    this.closed = true;
    for (const attachment of this.attachments.splice(0)) {
      this.native.tcDetach(attachment.ifindex, attachment.direction === 'ingress', TC_HANDLE, attachment.priority);
    }
    for (const object of this.objects.values()) this.native.closeObject(object.handle);
    this.objects.clear();
    removePinFolder(this.folder);
    removeIfEmpty(join(this.folder, '..'));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the BPF instance ${this.instance} is closed`);
  }
}

function unpin(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
}

function removeIfEmpty(folder: string): void {
  try {
    rmdirSync(folder);
  } catch (error) {
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST', 'EBUSY'].includes(errnoCode(error) ?? '')) throw error;
  }
}

/** Removes a pin folder and everything below it (pins are files or folders in bpffs). */
function removePinFolder(folder: string): void {
  if (!existsSync(folder)) return;
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) removePinFolder(path);
    else unpin(path);
  }
  removeIfEmpty(folder);
}

/**
 * Removes what a run of `instance` left under `pinRoot` (a crash, a kill -9): each tc filter
 * recorded by an attachment pin, only when mip4's handle and priority there still hold that
 * very program (another run's or another tool's filter stays), then every pin and the folder.
 * Acts in the calling thread's network namespace. Returns how many filters and pins went.
 */
export function cleanupBpfInstance(instance: string, pinRoot: string = DEFAULT_PIN_ROOT): number {
  const folder = join(pinRoot, instance);
  if (!existsSync(folder)) return 0;
  const native = loadBpf();
  let removed = 0;
  for (const entry of readdirSync(folder)) {
    const match = ATTACHMENT_PIN.exec(entry);
    if (match === null) continue;
    const ifindex = Number(match[1]);
    const ingress = match[2] === 'ingress';
    const priority = match[3] === undefined ? TC_PRIORITY : Number(match[3]);
    const fd = native.openPinned(join(folder, entry));
    try {
      const pinnedId = native.objectId(fd);
      if (native.tcQuery(ifindex, ingress, TC_HANDLE, priority) === pinnedId && native.tcDetach(ifindex, ingress, TC_HANDLE, priority)) removed++;
    } finally {
      native.closeFd(fd);
    }
  }
  const countPins = (dir: string): number =>
    readdirSync(dir).reduce((sum, entry) => sum + (statSync(join(dir, entry)).isDirectory() ? countPins(join(dir, entry)) : 1), 0);
  removed += countPins(folder);
  removePinFolder(folder);
  return removed;
}

/** What the host offers, measured here; the shape of policies/data-path-engine.ts BpfAvailability (io may not import policies). */
export interface MeasuredBpfAvailability {
  readonly loaderProblem?: string;
  readonly missingCapabilities: readonly string[];
}

/** What this host and process offer the fast path (policies/data-path-engine.ts decides). */
export function bpfAvailability(): MeasuredBpfAvailability {
  let loaderProblem = bpfUnavailableReason();
  if (loaderProblem === undefined) {
    try {
      bpfObjectPath('ha_encap');
      bpfObjectPath('decap');
    } catch (error) {
      loaderProblem = (error as Error).message;
    }
  }
  return { ...(loaderProblem !== undefined ? { loaderProblem } : {}), missingCapabilities: missingBpfCapabilities() };
}

/** Counter names of reverse_encap, by index (native/bpf/mip4_bpf.h MIP4_REV_*). */
export const REVERSE_ENCAP_COUNTERS = [
  'encapsulated',
  'passed-unknown',
  'passed-ttl',
  'passed-mtu',
  'passed-multicast',
  'passed-malformed',
  'fib-failed',
  'adjust-failed',
  'not-ipv4',
  'passed-control',
  'passed-local',
  'passed-tunnelled',
] as const;

export type ReverseEncapCounter = (typeof REVERSE_ENCAP_COUNTERS)[number];

const PROGRAM_COUNTERS: Record<BpfProgramName, readonly string[]> = { ha_encap: HA_ENCAP_COUNTERS, decap: DECAP_COUNTERS, reverse_encap: REVERSE_ENCAP_COUNTERS };

/** reverse_encap's reverse_tunnels value (native/bpf/mip4_bpf.h struct mip4_reverse_tunnel). */
export interface BpfReverseTunnel {
  /** The outer source: the care-of address. */
  readonly careOfAddress: number;
  /** The outer destination. */
  readonly homeAgent: number;
  readonly encapsulation: BpfEncapsulation;
  /** true: the tunnel entry forwards (a foreign agent, inner TTL decremented); false: the node originates. */
  readonly forwards: boolean;
}

/** home address (the inner source) → the reverse tunnel its datagrams enter (RFC 3024). */
export class ReverseTunnelsMap extends AddressKeyedMap<BpfReverseTunnel> {
  protected encode(tunnel: BpfReverseTunnel): void {
    writeAddressKey(this.value, tunnel.careOfAddress);
    writeAddressKey(this.value.subarray(4), tunnel.homeAgent);
    this.value[8] = tunnel.encapsulation === 'gre' ? 2 : 1;
    this.value[9] = tunnel.forwards ? 1 : 0;
    this.value[10] = 0;
    this.value[11] = 0;
  }

  protected decode(): BpfReverseTunnel {
    return {
      careOfAddress: readAddress(this.value, 0),
      homeAgent: readAddress(this.value, 4),
      encapsulation: this.value[8] === 2 ? 'gre' : 'ip-in-ip',
      forwards: (this.value[9]! & 1) !== 0,
    };
  }
}
