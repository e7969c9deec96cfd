/**
 * The `mip4 lab` topology as data (no IO): which network namespaces, bridges, veth pairs,
 * addresses and routes a lab named N consists of, and the daemons' configuration files. The
 * IO that builds it is runtime/cli/lab/lab.ts.
 *
 * ```
 *   CH 192.0.2.10 ── 192.0.2.1 ROUTER 198.51.100.1 ── [home bridge] ── HA 198.51.100.2
 *                              │      │                              └─ MN 198.51.100.10 (at home)
 *                              │      203.0.113.1/26 ── [foreign-1 bridge] ── FA1 203.0.113.2
 *                              203.0.113.65/26 ──────── [foreign-2 bridge] ── FA2 203.0.113.66
 *                                                        co-located care-of address 203.0.113.100
 * ```
 *
 * TEST-NET addresses only (RFC 5737): the correspondent network is 192.0.2.0/24, the home
 * network 198.51.100.0/24, and 203.0.113.0/24 is split into the two foreign networks. Bridges
 * live in a switch namespace, so moving the mobile node is re-enslaving its veth's switch end
 * to another bridge, with the carrier dropped in between so the node sees a link change (2.4).
 * Every interface of the lab is created inside one of its namespaces: deleting the namespaces
 * removes every link, and nothing is left in the caller's namespace.
 */

/** 'nat' exists only in a lab made with --nat (nat-plan.ts); LAB_ROLES are those of every lab. */
export type LabRole = 'sw' | 'ch' | 'rt' | 'ha' | 'fa1' | 'fa2' | 'mn' | 'nat';
export const LAB_ROLES: readonly LabRole[] = ['sw', 'ch', 'rt', 'ha', 'fa1', 'fa2', 'mn'];
/** Every role a lab may have: `down` and `status` look for all of them. */
export const ALL_LAB_ROLES: readonly LabRole[] = [...LAB_ROLES, 'nat'];

export type Segment = 'home' | 'foreign-1' | 'foreign-2';
export const SEGMENTS: readonly Segment[] = ['home', 'foreign-1', 'foreign-2'];

/** Where `mip4 lab move mn …` can put the mobile node. */
export type MnPlace = 'home' | 'fa1' | 'fa2' | 'colocated';
export const MN_PLACES: readonly MnPlace[] = ['home', 'fa1', 'fa2', 'colocated'];

export type Encapsulation = 'ip-in-ip' | 'minimal' | 'gre';
export const ENCAPSULATIONS: readonly Encapsulation[] = ['ip-in-ip', 'minimal', 'gre'];

/** Lab names become parts of namespace names and paths: keep them short and plain. */
export const LAB_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,19}$/;

export function labNameProblem(name: string): string | undefined {
  return LAB_NAME_PATTERN.test(name) ? undefined : `lab name ${JSON.stringify(name)}: use 1-20 lowercase letters, digits or '-', starting with a letter or digit`;
}

/** Every namespace of lab `name` starts with this (so do those of a lab `name-x`: never match by it). */
export function namespacePrefix(name: string): string {
  return `m4lab-${name}-`;
}

export function namespaceOf(name: string, role: LabRole): string {
  return `${namespacePrefix(name)}${role}`;
}

/**
 * The namespaces of lab `name` among `listed` (e.g. from `ip netns list`), by exact name: a
 * prefix would also take lab `demo-x`'s `m4lab-demo-x-sw` for lab `demo`. Roles hold no '-',
 * so two lab names never give one namespace name.
 */
export function namespacesOfLab(name: string, listed: readonly string[]): string[] {
  const own = new Set(ALL_LAB_ROLES.map((role) => namespaceOf(name, role)));
  return listed.filter((namespace) => own.has(namespace));
}

export const BRIDGE: Record<Segment, string> = { home: 'br-home', 'foreign-1': 'br-fa1', 'foreign-2': 'br-fa2' };

/** The switch-side end of the mobile node's veth: the port moved between bridges. */
export const MN_PORT = 'mn';
/** Every host's interface on its segment is called eth0 inside its namespace. */
export const HOST_INTERFACE = 'eth0';

/** The segment each place is on. */
export const PLACE_SEGMENT: Record<MnPlace, Segment> = { home: 'home', fa1: 'foreign-1', fa2: 'foreign-2', colocated: 'foreign-2' };

export const ADDRESSES = {
  correspondent: '192.0.2.10',
  routerCorrespondent: '192.0.2.1',
  routerHome: '198.51.100.1',
  homeAgent: '198.51.100.2',
  mobileNodeHome: '198.51.100.10',
  homeNetwork: '198.51.100.0/24',
  routerForeign1: '203.0.113.1',
  foreignAgent1: '203.0.113.2',
  foreign1Network: '203.0.113.0/26',
  routerForeign2: '203.0.113.65',
  foreignAgent2: '203.0.113.66',
  foreign2Network: '203.0.113.64/26',
  colocatedCareOf: '203.0.113.100',
} as const;

/** One veth pair: `a` end in namespace role `aRole`, `b` end in `bRole`. */
export interface VethPlan {
  readonly aRole: LabRole;
  readonly a: string;
  readonly bRole: LabRole;
  readonly b: string;
  /** The bridge (in the switch namespace) the `a` end joins, when `aRole` is the switch. */
  readonly bridge?: string;
}

export interface AddressPlan {
  readonly role: LabRole;
  readonly device: string;
  readonly cidr: string;
}

export interface RoutePlan {
  readonly role: LabRole;
  readonly destination: string;
  readonly via: string;
}

export const VETHS: readonly VethPlan[] = [
  { aRole: 'rt', a: 'ch0', bRole: 'ch', b: HOST_INTERFACE },
  { aRole: 'sw', a: 'rt-home', bRole: 'rt', b: 'home0', bridge: BRIDGE.home },
  { aRole: 'sw', a: 'rt-fa1', bRole: 'rt', b: 'foreign1', bridge: BRIDGE['foreign-1'] },
  { aRole: 'sw', a: 'rt-fa2', bRole: 'rt', b: 'foreign2', bridge: BRIDGE['foreign-2'] },
  { aRole: 'sw', a: 'ha', bRole: 'ha', b: HOST_INTERFACE, bridge: BRIDGE.home },
  { aRole: 'sw', a: 'fa1', bRole: 'fa1', b: HOST_INTERFACE, bridge: BRIDGE['foreign-1'] },
  { aRole: 'sw', a: 'fa2', bRole: 'fa2', b: HOST_INTERFACE, bridge: BRIDGE['foreign-2'] },
  { aRole: 'sw', a: MN_PORT, bRole: 'mn', b: HOST_INTERFACE, bridge: BRIDGE.home },
];

export const INTERFACE_ADDRESSES: readonly AddressPlan[] = [
  { role: 'ch', device: HOST_INTERFACE, cidr: `${ADDRESSES.correspondent}/24` },
  { role: 'rt', device: 'ch0', cidr: `${ADDRESSES.routerCorrespondent}/24` },
  { role: 'rt', device: 'home0', cidr: `${ADDRESSES.routerHome}/24` },
  { role: 'rt', device: 'foreign1', cidr: `${ADDRESSES.routerForeign1}/26` },
  { role: 'rt', device: 'foreign2', cidr: `${ADDRESSES.routerForeign2}/26` },
  { role: 'ha', device: HOST_INTERFACE, cidr: `${ADDRESSES.homeAgent}/24` },
  { role: 'fa1', device: HOST_INTERFACE, cidr: `${ADDRESSES.foreignAgent1}/26` },
  { role: 'fa2', device: HOST_INTERFACE, cidr: `${ADDRESSES.foreignAgent2}/26` },
  { role: 'mn', device: HOST_INTERFACE, cidr: `${ADDRESSES.mobileNodeHome}/24` },
];

export const ROUTES: readonly RoutePlan[] = [
  { role: 'ch', destination: 'default', via: ADDRESSES.routerCorrespondent },
  { role: 'ha', destination: 'default', via: ADDRESSES.routerHome },
  { role: 'fa1', destination: 'default', via: ADDRESSES.routerForeign1 },
  { role: 'fa2', destination: 'default', via: ADDRESSES.routerForeign2 },
  { role: 'mn', destination: 'default', via: ADDRESSES.routerHome },
];


/**
 * Sysctls per namespace. The router and the agents forward. Kernel reverse-path filtering
 * stays off everywhere: the lab's ingress filtering is the explicit, counted nftables rule set
 * of `mip4 lab up --ingress-filter` (BCP 38, ingressFilterRuleset below), so that a drop is
 * visible in `mip4 lab status` instead of a silent rp_filter discard. Without that option the
 * router forwards a visiting node's home-sourced datagrams (4.2.2) as an unfiltered LAN would.
 */
export function sysctlsOf(role: LabRole): ReadonlyArray<readonly [string, string]> {
  const noReversePath: Array<readonly [string, string]> = [
    ['net.ipv4.conf.all.rp_filter', '0'],
    ['net.ipv4.conf.default.rp_filter', '0'],
  ];
  const forwards = role === 'rt' || role === 'ha' || role === 'fa1' || role === 'fa2' || role === 'nat';
  return forwards ? [...noReversePath, ['net.ipv4.ip_forward', '1']] : noReversePath;
}

/**
 * Ingress filtering at the router (`--ingress-filter`): the prefix each of its interfaces
 * accepts as source. A datagram arriving on an interface whose source lies outside that
 * segment's prefix is dropped and counted (BCP 38, RFC 2827 3). This is what breaks a visiting
 * node's own datagrams, sourced from its home address (RFC 5944 5.6, RFC 3024 1); reverse
 * tunnelling sends them from the care-of address instead.
 */
export const INGRESS_PREFIXES: ReadonlyArray<{ readonly device: string; readonly segment: Segment | 'correspondent'; readonly prefix: string }> = [
  { device: 'home0', segment: 'home', prefix: ADDRESSES.homeNetwork },
  { device: 'foreign1', segment: 'foreign-1', prefix: ADDRESSES.foreign1Network },
  { device: 'foreign2', segment: 'foreign-2', prefix: ADDRESSES.foreign2Network },
  { device: 'ch0', segment: 'correspondent', prefix: '192.0.2.0/24' },
];

/**
 * The prefixes of a lab with --nat: behind the NAT, foreign-2's datagrams reach the router
 * from the NAT's outside address on the transit link (nat-plan.ts), their only valid source.
 */
export function ingressPrefixes(nat: boolean): typeof INGRESS_PREFIXES {
  return nat ? INGRESS_PREFIXES.map((p) => (p.device === 'foreign2' ? { ...p, prefix: NAT_TRANSIT_NETWORK } : p)) : INGRESS_PREFIXES;
}

/** nat-plan.ts NAT_ADDRESSES.transitNetwork (kept here: plan.ts imports nothing of the NAT's). */
export const NAT_TRANSIT_NETWORK = '203.0.113.128/30';

/** The nftables table of the ingress filter in the router's namespace (family ip). */
export const INGRESS_TABLE = 'mip4_lab_ingress';

/** The named counter of drops on one router interface. */
export function ingressCounterName(device: string): string {
  return `spoofed_${device}`;
}

/**
 * The ruleset for `nft -f -` in the router's namespace. The forward hook: the router filters
 * what it would forward between segments (BCP 38), not what is addressed to itself (an Agent
 * Solicitation broadcast from a visitor is no spoofing). One named counter per interface, read
 * by `mip4 lab status` with `nft -j list counters`.
 */
export function ingressFilterRuleset(nat = false): string {
  const prefixes = ingressPrefixes(nat);
  const counters = prefixes.map((p) => `  counter ${ingressCounterName(p.device)} { comment "sources outside ${p.prefix} arriving on ${p.device}" }`);
  const rules = prefixes.map((p) => `    iifname "${p.device}" ip saddr != ${p.prefix} counter name "${ingressCounterName(p.device)}" drop`);
  return [
    `table ip ${INGRESS_TABLE} {`,
    ...counters,
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...rules,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Reverse tunnelling (RFC 3024) in the lab's configs: on by default (HA `reverseTunnel: allowed`
 * per node, FAs `offered`, MN `true`); `--no-reverse-tunnel` writes them off explicitly (the
 * daemons' own defaults are on), which shows the ingress filtering problem of 5.6.
 */
export const LAB_REVERSE_TUNNEL_DEFAULT = true;

/** Security-association keys of one lab, hex (16 bytes each), generated per lab. */
export interface LabKeys {
  readonly mobileHome: string;
  readonly foreignHome1: string;
  readonly foreignHome2: string;
}

export const SPI = { mobileHome: 4096, foreignHome1: 600, foreignHome2: 601 } as const;

/** Registration lifetime the lab's agents grant, seconds: short, so a stale binding goes soon. */
export const LAB_LIFETIME = 120;

export interface DaemonPlan {
  readonly role: 'ha' | 'fa1' | 'fa2' | 'mn';
  /** The `mip4` subcommand. */
  readonly command: 'ha' | 'fa' | 'mn';
  /** The log line announcing readiness (its `event`). */
  readonly readyEvent: string;
  readonly configFile: string;
  readonly config: string;
}

/**
 * The control socket of a lab daemon: in the lab's state directory, one per daemon, so labs
 * (and the two foreign agents of one lab) never share /run/mip4/<role>.sock.
 */
export function labControlSocket(directory: string, role: DaemonPlan['role']): string {
  return `${directory}/${role}.sock`;
}

function controlLines(directory: string, role: DaemonPlan['role']): string {
  // A lab starts fresh each time: no store, so that a new 'lab up' never restores the bindings
  // or visitors of an earlier lab from the default store file (same config path, same file).
  const noStore = role === 'mn' ? '' : 'store: none                          # a lab starts with no bindings\n';
  return `control:                           # mip4 status|bindings|visitors|mobile-node --socket this
  socket: ${labControlSocket(directory, role)}
${noStore}`;
}

/**
 * UDP tunnelling (RFC 3519) in the configs of a lab made with --nat: the home agent allows it
 * and grants `keepaliveSeconds`; the node and FA2, both behind the NAT, ask for it. Absent
 * otherwise, so a lab without --nat writes the configs it always wrote.
 */
export interface LabUdpTunnel {
  readonly keepaliveSeconds: number;
}

function foreignAgentConfig(address: string, haSpi: number, haKey: string, encapsulation: Encapsulation, control: string, reverseTunnel: boolean, udpTunnel?: LabUdpTunnel): string {
  const encapsulations = encapsulation === 'ip-in-ip' ? '[ip-in-ip]' : `[ip-in-ip, ${encapsulation}]`;
  return `# mip4 lab: foreign agent on ${address} (generated by 'mip4 lab up')
foreignAgent:
  interface: ${HOST_INTERFACE}
  address: ${address}
  registrationLifetime: ${LAB_LIFETIME}
  encapsulations: ${encapsulations}
${reverseTunnelLine(reverseTunnel, '  ', 'offered', 'none', "advertised with the 'T' bit (RFC 3024 3.1)")}${udpTunnel !== undefined ? "  udpTunnel: auto                  # behind the lab's NAT: UDP tunnelling (RFC 3519 4.5)\n" : ''}advertisement:
  lifetime: 3                      # seconds; a node notices a lost agent within 3 s (2.4.2.1)
  maxInterval: 1
homeAgents:
  - address: ${ADDRESSES.homeAgent}
    spi: ${haSpi}
    key: ${haKey}
${control}`;
}

/** A `reverseTunnel:` line, indented, with a newline. */
function reverseTunnelLine(reverseTunnel: boolean, indent: string, on: string, off: string, why: string): string {
  return `${indent}reverseTunnel: ${reverseTunnel ? on : off}${' '.repeat(Math.max(1, 22 - indent.length - on.length))}# ${reverseTunnel ? why : 'off: the lab shows the ingress filtering problem (RFC 5944 5.6)'}\n`;
}

/** The configuration file of the mobile node: one for every place (a co-located address comes and goes as a DHCP lease would). */
export const MN_CONFIG_FILE = 'mn.yaml';

/** The mobile node's configuration. */
export function mobileNodeConfig(keys: LabKeys, encapsulation: Encapsulation, directory: string, reverseTunnel: boolean, udpTunnel?: LabUdpTunnel): string {
  return `# mip4 lab: mobile node (generated by 'mip4 lab up')
mobileNode:
  interface: ${HOST_INTERFACE}
  homeAddress: ${ADDRESSES.mobileNodeHome}
  homeAgent: ${ADDRESSES.homeAgent}
  homeNetwork: ${ADDRESSES.homeNetwork}
  lifetime: ${LAB_LIFETIME}
  homeGateway: ${ADDRESSES.routerHome}      # the node sets its own addresses and routes per attachment
${reverseTunnelLine(reverseTunnel, '  ', 'true', 'false', "asks for 'T' (RFC 3024 3.2)")}${udpTunnel !== undefined ? '  udpTunnel: auto                  # co-located behind the NAT: UDP tunnelling (RFC 3519 4.4)\n' : ''}homeAgentAssociation:
  spi: ${SPI.mobileHome}
  key: ${keys.mobileHome}
requestOptions:
  minimalEncapsulation: ${encapsulation === 'minimal'}
  greEncapsulation: ${encapsulation === 'gre'}
solicitation:
  initialIntervalMs: 500
  maxIntervalMs: 2000
${controlLines(directory, 'mn')}`;
}

/** The daemons of a lab and their configuration files (YAML, for `mip4 ha|fa|mn --config`). */
export function daemonPlans(keys: LabKeys, encapsulation: Encapsulation, directory: string, reverseTunnel: boolean = LAB_REVERSE_TUNNEL_DEFAULT, udpTunnel?: LabUdpTunnel): DaemonPlan[] {
  const udpLines =
    udpTunnel === undefined
      ? ''
      : `  udpTunnel: allowed               # UDP tunnelling for nodes behind the lab's NAT (RFC 3519 4.6)
  udpKeepaliveInterval: ${udpTunnel.keepaliveSeconds}${' '.repeat(Math.max(1, 10 - String(udpTunnel.keepaliveSeconds).length))}# seconds, granted in the UDP Tunnel Reply: below the NAT's UDP timeout
`;
  const ha = `# mip4 lab: home agent (generated by 'mip4 lab up')
homeAgent:
  address: ${ADDRESSES.homeAgent}
  homeNetwork: ${ADDRESSES.homeNetwork}
  listen: [${ADDRESSES.homeAgent}:434]
  maxLifetime: ${LAB_LIFETIME}
${udpLines}dataPath:                          # intercepts for away nodes (TUN, /32 routes), proxy ARP on the home link
  homeInterface: ${HOST_INTERFACE}
  tunnelDevice: ${HA_TUNNEL_DEVICE}
  engine: userspace                # the lab's receivers are userspace ones; bpf: kernel-fast-path.md
advertisement:                     # 'H' advertisements on the home link: a node coming back notices (2.4.3)
  interface: ${HOST_INTERFACE}
  maxInterval: 1
  lifetime: 3
mobileNodes:
  - homeAddress: ${ADDRESSES.mobileNodeHome}
    spi: ${SPI.mobileHome}
    key: ${keys.mobileHome}
${reverseTunnelLine(reverseTunnel, '    ', 'allowed', 'refused', 'this node may ask for a reverse tunnel (RFC 3024 4.2)')}foreignAgents:
  - address: ${ADDRESSES.foreignAgent1}
    spi: ${SPI.foreignHome1}
    key: ${keys.foreignHome1}
  - address: ${ADDRESSES.foreignAgent2}
    spi: ${SPI.foreignHome2}
    key: ${keys.foreignHome2}
${controlLines(directory, 'ha')}`;
  const mn = mobileNodeConfig(keys, encapsulation, directory, reverseTunnel, udpTunnel);
  return [
    { role: 'ha', command: 'ha', readyEvent: 'listening', configFile: 'ha.yaml', config: ha },
    { role: 'fa1', command: 'fa', readyEvent: 'listening', configFile: 'fa1.yaml', config: foreignAgentConfig(ADDRESSES.foreignAgent1, SPI.foreignHome1, keys.foreignHome1, encapsulation, controlLines(directory, 'fa1'), reverseTunnel) },
    { role: 'fa2', command: 'fa', readyEvent: 'listening', configFile: 'fa2.yaml', config: foreignAgentConfig(ADDRESSES.foreignAgent2, SPI.foreignHome2, keys.foreignHome2, encapsulation, controlLines(directory, 'fa2'), reverseTunnel, udpTunnel) },
    { role: 'mn', command: 'mn', readyEvent: 'started', configFile: MN_CONFIG_FILE, config: mn },
  ];
}

/** The home agent's TUN device (its dataPath.tunnelDevice in the lab). */
export const HA_TUNNEL_DEVICE = 'mip4ha0';

/** Which segment a bridge name belongs to (for `status`), or undefined. */
export function segmentOfBridge(bridge: string | undefined): Segment | undefined {
  return SEGMENTS.find((s) => BRIDGE[s] === bridge);
}
