/**
 * The home agent's configuration file (YAML), validated with an Effect Schema before any
 * socket is opened. Every error names the field path and what to do, e.g.
 * `mobileNodes[0].spi: SPI 100 is reserved (0-255, RFC 5944 1.6); use a value above 255`.
 */
import { Schema } from 'effect';
import { parseIpv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { isInPrefix, networkAddress, subnetBroadcast } from '../../io/wire/ipv4-address.js';
import type { HomeAgentSettings } from '../../policies/ha-request.js';
import {
  AdvertisementFields,
  ControlSection,
  controlSetting,
  type ControlSetting,
  advertiserTiming,
  ConfigError,
  InterfaceName,
  Count,
  decodeConfig,
  EndpointText,
  Ipv4Text,
  Lifetime,
  optional,
  PrefixText,
  readConfigFile,
  notAHostAddress,
  SecurityAssociation,
  securityContexts,
  type SecurityAssociationFields,
  Spi,
  DataPathEngineWord,
} from './config-schema.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REPLAYABLE_REPLIES_PER_NODE_PER_SECOND,
  maxMessageBytesProblem,
  type HomeAgentConfig,
  type MobileNodeConfig,
} from '../ha/home-agent.js';
import { BulkArray } from './schema-acceptor.js';
import { exampleMetricsSection, MetricsSection, metricsListen, type MetricsListen } from './metrics-config.js';
import { storeSettings, type StoreSettings } from './store-config.js';
import type { HomeAgentAdvertisementConfig } from '../ha/home-agent-advertiser.js';
import type { ListenAddress } from '../ha/home-agent-server.js';
import type { LinuxDataPathConfig } from '../ha/home-agent-linux.js';

import { DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS } from '../../io/wire/udp-tunnel.js';
import { LogSection, logLevelField, type LogLevel } from './log-config.js';

export { ConfigError };

/** 'T' per node and by default (RFC 3024): policies/ha-request.ts ReverseTunnelPolicy. */
const ReverseTunnel = Schema.Literal('allowed', 'required', 'refused');

/** UDP tunnelling per node and by default (RFC 3519): policies/ha-udp-tunnel.ts UdpTunnelPolicy. */
const UdpTunnel = Schema.Literal('allowed', 'required', 'refused');

const KeepaliveInterval = Schema.Number.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n >= 1 && n <= 0xffff) || `expected whole seconds from 1 to 65535 (RFC 3519's default is 110), got ${n}`),
);

/** One `mobileNodes` entry as the file writes it (exported for the schema-acceptor tests). */
export const MobileNodeEntry = Schema.Struct({
  homeAddress: Ipv4Text,
  nai: optional(Schema.String.pipe(Schema.minLength(1))),
  ...SecurityAssociation.fields,
  spi: optional(Spi),
  securityAssociations: optional(Schema.Array(SecurityAssociation)),
  maxLifetime: optional(Lifetime),
  maxBindings: optional(Count),
  reverseTunnel: optional(ReverseTunnel),
  udpTunnel: optional(UdpTunnel),
});

const ForeignAgent = Schema.Struct({
  address: Ipv4Text,
  ...SecurityAssociation.fields,
  spi: optional(Spi),
  securityAssociations: optional(Schema.Array(SecurityAssociation)),
});

const BatchSize = Schema.Number.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n >= 1 && n <= 1024) || `expected an integer from 1 to 1024, got ${n}`),
);

const RouteTable = Schema.Number.pipe(
  Schema.filter(
    (n) =>
      (Number.isInteger(n) && n >= 1 && n <= 0xffffffff && n !== 253 && n !== 255) ||
      `expected a routing table number 1..4294967295 other than 253 (default) and 255 (local), e.g. 254 (main), got ${n}`,
  ),
);

// 68: the least every IPv4 link must carry (RFC 791); 65535: the largest IPv4 datagram.
const TunnelMtu = Schema.Number.pipe(
  Schema.filter(
    (n) => (Number.isInteger(n) && n >= 68 && n <= 65535) || `expected an MTU from 68 to 65535 (e.g. 1476: a 1500-byte home link less 24 for GRE), got ${n}`,
  ),
);

/** The packet path on a Linux host (runtime/ha/home-agent-linux.ts). */
const DataPath = Schema.Struct({
  homeInterface: InterfaceName,
  tunnelDevice: optional(InterfaceName),
  maxBatch: optional(BatchSize),
  queueLimit: optional(Count),
  routeTable: optional(RouteTable),
  tunnelMtu: optional(TunnelMtu),
  tunOffload: optional(Schema.Boolean),
  engine: optional(DataPathEngineWord),
  bpfInterfaces: optional(Schema.Array(InterfaceName).pipe(Schema.minItems(1))),
});

const MaxMessageBytes = Schema.Number.pipe(Schema.filter((n) => maxMessageBytesProblem(n) ?? true));

const Encapsulations = Schema.Array(Schema.Literal('ip-in-ip', 'minimal', 'gre'));

const HomeAgentFile = Schema.Struct({
  homeAgent: Schema.Struct({
    address: Ipv4Text,
    homeNetwork: PrefixText,
    otherAddresses: optional(Schema.Array(Ipv4Text)),
    listen: optional(Schema.Array(EndpointText)),
    simultaneousBindings: optional(Schema.Boolean),
    broadcast: optional(Schema.Boolean),
    encapsulations: optional(Encapsulations),
    reverseTunnel: optional(ReverseTunnel),
    reverseTunneling: optional(Schema.Boolean),
    udpTunnel: optional(UdpTunnel),
    udpKeepaliveInterval: optional(KeepaliveInterval),
    replyOnAuthFailure: optional(Schema.Boolean),
    maxLifetime: optional(Lifetime),
  }),
  limits: optional(
    Schema.Struct({
      maxBindings: optional(Count),
      maxBindingsPerNode: optional(Count),
      authFailureRepliesPerSecond: optional(Count),
      replayableRepliesPerNodePerSecond: optional(Count),
      maxMessageBytes: optional(MaxMessageBytes),
    }),
  ),
  // Up to a million entries: checked by the compiled acceptor, Effect only for refused ones.
  mobileNodes: BulkArray(MobileNodeEntry),
  foreignAgents: optional(Schema.Array(ForeignAgent)),
  dataPath: optional(DataPath),
  // Agent Advertisements on the home link (2.3, 2.4.3): mobile nodes hearing them know they are home.
  advertisement: optional(Schema.Struct({ interface: InterfaceName, ...AdvertisementFields })),
  log: optional(LogSection),
  control: optional(ControlSection),
  metrics: optional(MetricsSection),
  // Bindings that survive a restart: "none" or { path, sync }, checked by store-config.ts.
  store: optional(Schema.Unknown),
});

type HomeAgentFile = Schema.Schema.Type<typeof HomeAgentFile>;

export interface LoadedHomeAgentConfig {
  readonly config: HomeAgentConfig;
  readonly listen: readonly ListenAddress[];
  /** The `dataPath` section: absent = control plane only. */
  readonly dataPath?: LinuxDataPathConfig;
  /** The `advertisement` section: advertise on this home link interface (runtime/ha/home-agent-advertiser.ts). */
  readonly advertisement?: { readonly interfaceName: string; readonly config: HomeAgentAdvertisementConfig };
  /** The `log` section's level (the daemon's --log-level wins). */
  readonly logLevel?: LogLevel;
  /** The `control` section; absent = the default socket (runtime/control/protocol.ts). */
  readonly control?: ControlSetting;
  /** The `metrics` section: serve /metrics there (runtime/metrics). */
  readonly metrics?: MetricsListen;
  /** Where bindings survive a restart (runtime/config/store-config.ts); undefined: `store: none`, or no file to derive a default from. */
  readonly store?: StoreSettings;
}

export const DEFAULT_MAX_LIFETIME = 1800;
export const MOBILE_IP_PORT = 434;


/**
 * Validates a parsed document; `baseDir` resolves relative keyFile paths. `configPath`, the
 * file it was read from, names the default store file (store-config.ts).
 */
export function homeAgentConfigFromDocument(document: unknown, baseDir = '.', configPath?: string): LoadedHomeAgentConfig {
  return normalise(decodeConfig(HomeAgentFile, document), baseDir, configPath);
}

/** Reads and validates a YAML (or JSON) file. Throws ConfigError naming the field. */
export function loadHomeAgentConfig(path: string): LoadedHomeAgentConfig {
  const { document, baseDir } = readConfigFile(path, 'ha');
  return homeAgentConfigFromDocument(document, baseDir, path);
}




function normalise(file: HomeAgentFile, baseDir: string, configPath: string | undefined): LoadedHomeAgentConfig {
  const issues: Array<{ path: string; message: string }> = [];
  const ha = file.homeAgent;
  const address = parseIpv4(ha.address)!;
  const [networkText, lengthText] = ha.homeNetwork.split('/');
  const prefixLength = Number(lengthText);
  const homeNetwork = networkAddress(parseIpv4(networkText!)!, prefixLength);
  const inHome = (a: Ipv4Address) => isInPrefix(a, homeNetwork, prefixLength);
  const broadcast = subnetBroadcast(homeNetwork, prefixLength);
  if (!inHome(address)) issues.push({ path: 'homeAgent.address', message: `${ha.address} is not inside homeNetwork ${ha.homeNetwork}` });
  const encapsulations = new Set(ha.encapsulations ?? ['ip-in-ip', 'minimal', 'gre']);
  if (ha.reverseTunnel !== undefined && ha.reverseTunneling !== undefined) {
    issues.push({ path: 'homeAgent.reverseTunneling', message: 'homeAgent.reverseTunnel is set too; keep only reverseTunnel (allowed, required or refused)' });
  }
  if (!encapsulations.has('ip-in-ip')) {
    issues.push({ path: 'homeAgent.encapsulations', message: 'ip-in-ip must stay enabled: every Mobile IP agent must support it (RFC 5944 4.1)' });
  }
  const settings: HomeAgentSettings = {
    addresses: [address, ...(ha.otherAddresses ?? []).map((a) => parseIpv4(a)!)],
    homeNetwork,
    prefixLength,
    simultaneousBindings: ha.simultaneousBindings ?? true,
    broadcast: ha.broadcast ?? true,
    encapsulations: { minimal: encapsulations.has('minimal'), gre: encapsulations.has('gre') },
    // The older boolean still reads as before: true → allowed, false → refused.
    reverseTunnel: ha.reverseTunnel ?? (ha.reverseTunneling === undefined ? 'allowed' : ha.reverseTunneling ? 'allowed' : 'refused'),
    replyOnAuthFailure: ha.replyOnAuthFailure ?? true,
    udpTunnel: ha.udpTunnel ?? 'allowed',
    udpKeepaliveInterval: ha.udpKeepaliveInterval ?? DEFAULT_UDP_KEEPALIVE_INTERVAL_SECONDS,
  };
  const listen: ListenAddress[] = (
    ha.listen ?? [`${ha.address}:${MOBILE_IP_PORT}`]
  ).map((e) => {
    const [a, p] = e.split(':');
    return { address: parseIpv4(a!)!, port: Number(p) };
  });

  const contextsOf = (owner: string, entry: { readonly spi?: number; readonly securityAssociations?: readonly SecurityAssociationFields[] }) =>
    securityContexts(owner, entry.spi !== undefined ? (entry as SecurityAssociationFields) : undefined, entry.securityAssociations, baseDir, issues);


  // One pass over up to a million nodes; a field's path text is made only for its issue.
  const defaultMaxLifetime = ha.maxLifetime ?? DEFAULT_MAX_LIFETIME;
  const defaultMaxBindings = file.limits?.maxBindingsPerNode ?? (settings.simultaneousBindings ? 4 : 1);
  const mobileNodes: MobileNodeConfig[] = [];
  let longestLifetime = defaultMaxLifetime;
  const seenNai = new Map<string, number>();
  const homeAddresses = new Uint32Array(file.mobileNodes.length);
  for (let i = 0; i < homeAddresses.length; i++) homeAddresses[i] = parseIpv4(file.mobileNodes[i]!.homeAddress)!;
  const earlierEntry = entriesWrittenBefore(homeAddresses);
  for (let i = 0; i < file.mobileNodes.length; i++) {
    const node = file.mobileNodes[i]!;
    const homeAddress = homeAddresses[i]!;
    if (!inHome(homeAddress)) issues.push({ path: `mobileNodes[${i}].homeAddress`, message: `${node.homeAddress} is not inside homeNetwork ${ha.homeNetwork}` });
    else if (prefixLength < 31 && (homeAddress === homeNetwork || homeAddress === broadcast)) {
      issues.push({ path: `mobileNodes[${i}].homeAddress`, message: notAHostAddress(node.homeAddress, ha.homeNetwork, homeAddress === homeNetwork) });
    }
    const earlier = earlierEntry?.get(i);
    if (earlier !== undefined) issues.push({ path: `mobileNodes[${i}].homeAddress`, message: `${node.homeAddress} is also mobileNodes[${earlier}]` });
    if (node.nai !== undefined) {
      const other = seenNai.get(node.nai);
      if (other !== undefined) issues.push({ path: `mobileNodes[${i}].nai`, message: `${node.nai} is also mobileNodes[${other}]` });
      seenNai.set(node.nai, i);
    }
    const maxLifetime = node.maxLifetime ?? defaultMaxLifetime;
    if (maxLifetime > longestLifetime) longestLifetime = maxLifetime;
    const contexts = contextsOf(`mobileNodes[${i}]`, node);
    const maxBindings = node.maxBindings ?? defaultMaxBindings;
    const base = node.nai !== undefined ? { homeAddress, nai: node.nai, contexts, maxLifetime, maxBindings } : { homeAddress, contexts, maxLifetime, maxBindings };
    const withReverse = node.reverseTunnel !== undefined ? { ...base, reverseTunnel: node.reverseTunnel } : base;
    mobileNodes.push(node.udpTunnel !== undefined ? { ...withReverse, udpTunnel: node.udpTunnel } : withReverse);
  }
  const foreignAgents = (file.foreignAgents ?? []).map((fa, i) => ({
    address: parseIpv4(fa.address)!,
    contexts: contextsOf(`foreignAgents[${i}]`, fa),
  }));
  const dataPath = file.dataPath;
  if (dataPath !== undefined && dataPath.tunnelDevice === dataPath.homeInterface) {
    issues.push({ path: 'dataPath.tunnelDevice', message: `${dataPath.tunnelDevice} is the home interface; name a new device, e.g. mip4ha0` });
  }
  const tunnelDeviceName = dataPath?.tunnelDevice ?? 'mip4ha0';
  dataPath?.bpfInterfaces?.forEach((name, i) => {
    if (name === 'lo' || name === tunnelDeviceName) {
      issues.push({ path: `dataPath.bpfInterfaces[${i}]`, message: `${name} carries no datagrams from the network (${name === 'lo' ? 'loopback' : 'the TUN device'}); name the interfaces where datagrams for home addresses and reverse tunnels arrive, e.g. ${dataPath.homeInterface}` });
    }
  });
  // The Registration Lifetime advertised is the longest any node is granted (2.1.1): a loop,
  // not Math.max(...), whose million arguments would overflow the stack.
  const advertisement =
    file.advertisement === undefined
      ? undefined
      : {
          interfaceName: file.advertisement.interface,
          config: {
            ...advertiserTiming(file.advertisement, 'advertisement', issues),
            address,
            registrationLifetime: longestLifetime,
          },
        };
  const control = file.control === undefined ? undefined : controlSetting(file.control, issues);
  const store = storeSettings(file.store, 'ha', configPath, baseDir, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...(advertisement === undefined ? {} : { advertisement }),
    ...(store !== undefined ? { store } : {}),
    config: {
      settings,
      mobileNodes,
      foreignAgents,
      maxBindings: file.limits?.maxBindings ?? 1_000_000,
      authFailureRepliesPerSecond: file.limits?.authFailureRepliesPerSecond ?? 100,
      replayableRepliesPerNodePerSecond: file.limits?.replayableRepliesPerNodePerSecond ?? DEFAULT_REPLAYABLE_REPLIES_PER_NODE_PER_SECOND,
      maxMessageBytes: file.limits?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    },
    listen,
    ...logLevelField(file.log),
    ...(dataPath !== undefined ? { dataPath } : {}),
    ...(advertisement !== undefined ? { advertisement } : {}),
    ...(control !== undefined ? { control } : {}),
    ...(file.metrics !== undefined ? { metrics: metricsListen(file.metrics) } : {}),
  };
}


/**
 * For each address written more than once, entry index → the index of the entry before it
 * with the same address; undefined when every address is written once (the usual case).
 * A sorted copy finds whether there is any duplicate (a Map of a million entries costs ~20
 * times as much); only then does a Map name the entries.
 */
function entriesWrittenBefore(addresses: Uint32Array): Map<number, number> | undefined {
  const sorted = addresses.slice().sort();
  let any = false;
  for (let i = 1; i < sorted.length && !any; i++) any = sorted[i] === sorted[i - 1];
  if (!any) return undefined;
  const earlier = new Map<number, number>();
  const lastIndexOf = new Map<number, number>();
  for (let i = 0; i < addresses.length; i++) {
    const last = lastIndexOf.get(addresses[i]!);
    if (last !== undefined) earlier.set(i, last);
    lastIndexOf.set(addresses[i]!, i);
  }
  return earlier;
}

/** A commented example, printed by `mip4 ha --example-config`. */
export const EXAMPLE_HOME_AGENT_CONFIG = `# mip4 home agent configuration (RFC 5944 3.8).
# Addresses below are from TEST-NET ranges; replace them with yours.

homeAgent:
  address: 198.51.100.1            # this home agent's unicast address on the home network
  homeNetwork: 198.51.100.0/24     # the home network prefix (3.8.1)
  listen:                          # UDP endpoints; port 434 needs root or CAP_NET_BIND_SERVICE
    - 198.51.100.1:434
    - 198.51.100.255:434           # subnet-directed broadcast: answered with 136 (3.8.2.1)
  simultaneousBindings: true       # honour the S bit (3.6.1.2); false answers code 1
  broadcast: true                  # tunnel home-network broadcasts to nodes that set B (4.3)
  encapsulations: [ip-in-ip, minimal, gre]   # ip-in-ip is mandatory (4.1)
  reverseTunnel: allowed           # the T bit (RFC 3024), the nodes' default: allowed (default),
                                   # required (a Request without T gets 138) or refused (with T:
                                   # 137); T with an encapsulation disabled above gets 139. The
                                   # older reverseTunneling: true|false still reads as allowed|refused
  udpTunnel: allowed               # UDP tunnelling through NATs (RFC 3519), the nodes' default:
                                   # allowed (default: granted to a node that asks and is behind a
                                   # NAT, or forces it with F), required (a Request without the UDP
                                   # Tunnel Request extension gets 129) or refused (asked: declined,
                                   # code 64 in the Reply; forced: 142)
  udpKeepaliveInterval: 110        # seconds between keepalives granted in the UDP Tunnel Reply (1-65535)
  replyOnAuthFailure: true         # send 131 to a request whose authenticator fails (3.8.2.1 a)
  maxLifetime: 1800                # default longest lifetime granted, seconds (65535 = infinite)

limits:
  maxBindings: 1000000             # all nodes together (130 beyond it)
  maxBindingsPerNode: 4            # simultaneous bindings per node (135 beyond it)
  authFailureRepliesPerSecond: 100 # 131 replies to failed authentications; the rest are discarded
  replayableRepliesPerNodePerSecond: 2   # per node: replies anyone could draw by resending a
                                   # captured Request (duplicates, 133); the rest are discarded
  maxMessageBytes: 1500            # longer datagrams are discarded unread (46-65535)

mobileNodes:
  - homeAddress: 198.51.100.10
    nai: mn1@example.org           # optional: lets the node register with home address 0
    spi: 4096                      # SPIs 0-255 are reserved (1.6)
    algorithm: hmac-md5            # hmac-md5 (default) or keyed-md5
    key: 2b7e151628aed2a6abf7158809cf4f3c   # hex; or keyFile: path/to/key.hex
    replay: timestamp              # timestamp (default, window below) or nonce (5.7)
    replayWindow: 7                # seconds, more than 3 (5.7.1)
    maxLifetime: 1800
    maxBindings: 2
    reverseTunnel: allowed         # optional: this node's T policy (allowed, required, refused)
    udpTunnel: allowed             # optional: this node's UDP tunnelling policy (allowed, required, refused)

foreignAgents:                     # foreign agents sharing an FA-HA security association (3.8.1)
  - address: 203.0.113.1
    spi: 600
    key: 000102030405060708090a0b0c0d0e0f

# The packet path on this Linux host (needs root: CAP_NET_ADMIN and CAP_NET_RAW, and
# \`sysctl -w net.ipv4.ip_forward=1\`). Without this section the agent answers registrations
# only (as this example does, also as an ordinary user with --listen 127.0.0.1:4434). With it,
# a TUN device receives the datagrams for nodes away from home (one /32 route per bound home
# address), which are tunnelled to their care-of addresses with the encapsulation each binding
# was granted (homeAgent.encapsulations above), and the agent answers ARP for those addresses
# on the home interface (proxy and gratuitous ARP, 4.6). CHANGE-ME is a placeholder the daemon
# refuses: name your home interface.
# dataPath:
#   homeInterface: CHANGE-ME       # the interface on homeNetwork
#   tunnelDevice: mip4ha0          # created at start, removed at stop (default mip4ha0)
#   maxBatch: 64                   # datagrams read from the device per wakeup (1-1024)
#   queueLimit: 4096               # datagrams waiting for the data plane; beyond, shed and counted
#   routeTable: 254                # table of the home-address routes (254 = main), proto 77
#   # tunnelMtu: 1476              # MTU of the TUN device; default: the home interface's MTU
#                                  # less the largest tunnel header offered (IP in IP 20,
#                                  # minimal 12, GRE 24), as tunnelled datagrams are not
#                                  # fragmented (RFC 2003 5.1): 1476 on a 1500-byte link with GRE
#   tunOffload: true               # the kernel hands TCP to the TUN in 64 KiB super-packets,
#                                  # cut back into datagrams in the reader (fewer wakeups)
#   engine: auto                   # who tunnels: bpf (tc-BPF programs in the kernel; needs
#                                  # CAP_BPF and CAP_NET_ADMIN and the mip4_bpf loader, else the
#                                  # start fails naming what is missing), userspace (the TUN path
#                                  # above alone) or auto (default: bpf where the host allows it,
#                                  # else userspace; the start log and \`mip4 status\` say which
#                                  # and why). With bpf, IP in IP and GRE bindings are tunnelled
#                                  # and reverse tunnels decapsulated in the kernel; minimal
#                                  # encapsulation, simultaneous and UDP bindings, TTL expiry and
#                                  # oversize datagrams stay on the TUN path (kernel-fast-path.md)
#   bpfInterfaces: [CHANGE-ME]     # with bpf: where datagrams for home addresses and reverse
#                                  # tunnels arrive (tc ingress); default: every interface up at
#                                  # start except lo and the TUN device

# The control socket that \`mip4 bindings|status|traffic|clear binding\` talk to (mode 0600).
# Default /run/mip4/ha.sock; none turns it off.
# control:
#   socket: /run/mip4/ha.sock
#
# Bindings and replay state survive a restart (docs/operations.md, "Bindings that survive a
# restart"): committed to an SQLite file before each Reply leaves, restored at start with the
# lifetime they have left. Default: $STATE_DIRECTORY (else /var/lib/mip4)/ha-<hash of this
# file's path>.db, sync full. \`store: none\` turns it off.
# store:
#   path: /var/lib/mip4/ha.db
#   sync: full                     # full: survives a power loss; normal: a crash of the daemon only

# Agent Advertisements ('H' bit) on the home link (2.3), so that mobile nodes find out they are
# home (2.4.3). Optional; needs root or CAP_NET_RAW (a packet socket on the interface).
# advertisement:
#   interface: CHANGE-ME           # the home link (dataPath.homeInterface)
#   maxInterval: 600               # seconds between advertisements at most (jittered, RFC 1256)
#   lifetime: 1800                 # ICMP advertisement lifetime, seconds (default 3 x maxInterval)

# The operator log: one JSON object per line on stdout, each with an ISO-8601 time and a
# level. --log-level wins over this; a reload (SIGHUP) applies a new level.
# log:
#   level: info                    # error, warn, info (default), debug or trace
${exampleMetricsSection('ha')}`;
