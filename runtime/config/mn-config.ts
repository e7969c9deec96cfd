/**
 * The mobile node's configuration file (YAML) for `mip4 mn`, validated with an Effect Schema
 * before the interface or any socket is opened. Errors name the field path and the fix, as the
 * home agent's (runtime/config/ha-config.ts) do.
 */
import { Schema } from 'effect';
import { parseIpv4 } from '../../io/wire/bytes.js';
import type { AuthAlgorithm } from '../../policies/auth.js';
import { isInPrefix, networkAddress, prefixMask, subnetBroadcast } from '../../io/wire/ipv4-address.js';
import type { MnSigningKey } from '../../policies/mn-request.js';
import { DEFAULT_UDP_TUNNEL_MODE } from '../../policies/mn-udp-tunnel.js';
import {
  Algorithm,
  ControlSection,
  controlSetting,
  DataPathEngineWord,
  type ControlSetting,
  ConfigError,
  Count,
  decodeConfig,
  InterfaceName,
  Ipv4Text,
  KeyText,
  notAHostAddress,
  Lifetime,
  oneOf,
  optional,
  PrefixText,
  readConfigFile,
  readKey,
  Replay,
  Spi,
} from './config-schema.js';
import { DEFAULT_DATA_PATH_ENGINE, type DataPathEngineSetting } from '../../policies/data-path-engine.js';
import { LogSection, logLevelField, type LogLevel } from './log-config.js';
import { ReverseTunnelFields, reverseTunnelSettings } from './mn-reverse-tunnel-config.js';
import type { MobileNodeConfig as MobileNodeRuntimeConfig } from '../mn/mobile-node.js';

/** The node's runtime config, and the `control` section when the file has one (absent = the default socket). */
export type MobileNodeConfig = MobileNodeRuntimeConfig & { readonly control?: ControlSetting };
import { exampleMetricsSection, MetricsSection, metricsListen, type MetricsListen } from './metrics-config.js';


const PositiveMs = Schema.Number.pipe(Schema.filter((n) => (Number.isInteger(n) && n >= 1) || `expected milliseconds, an integer >= 1, got ${n}`));
const Port = Schema.Number.pipe(Schema.filter((n) => (Number.isInteger(n) && n >= 0 && n <= 65535) || `a UDP port is 0-65535, got ${n}`));

const MacText = Schema.String.pipe(
  Schema.filter((s) => /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s) || `expected a link-layer address like 02:00:00:00:00:01, got ${JSON.stringify(s)}`),
);
const SigningKey = Schema.Struct({
  spi: Spi,
  algorithm: optional(Algorithm),
  key: optional(KeyText),
  keyFile: optional(Schema.String),
  allowShortKey: optional(Schema.Boolean),
});

const MobileNodeFile = Schema.Struct({
  mobileNode: Schema.Struct({
    interface: InterfaceName,
    homeAddress: Ipv4Text,
    homeAgent: Ipv4Text,
    homeNetwork: PrefixText,
    nai: optional(Schema.String.pipe(Schema.minLength(1))),
    lifetime: optional(Lifetime),
    colocatedAddress: optional(PrefixText),
    moveDetection: optional(oneOf('lifetime', 'prefix')),
    port: optional(Port),
    configureHost: optional(Schema.Boolean),
    homeGateway: optional(Ipv4Text),
    foreignGateway: optional(Ipv4Text),
    foreignGatewayLinkAddress: optional(MacText),
    tunnelDevice: optional(InterfaceName),
    udpTunnel: optional(oneOf('auto', 'force', 'off')),
    ...ReverseTunnelFields,
  }),
  homeAgentAssociation: Schema.Struct({
    ...SigningKey.fields,
    replay: optional(Replay),
  }),
  foreignAgentAssociation: optional(SigningKey),
  requestOptions: optional(
    Schema.Struct({
      simultaneousBindings: optional(Schema.Boolean),
      broadcast: optional(Schema.Boolean),
      decapsulates: optional(Schema.Boolean),
      minimalEncapsulation: optional(Schema.Boolean),
      greEncapsulation: optional(Schema.Boolean),
      reverseTunnel: optional(Schema.Boolean),
    }),
  ),
  solicitation: optional(
    Schema.Struct({
      initialIntervalMs: optional(PositiveMs),
      initialCount: optional(Count),
      maxIntervalMs: optional(PositiveMs),
      maxSolicitations: optional(Count),
    }),
  ),
  retransmission: optional(
    Schema.Struct({
      initialTimeoutMs: optional(PositiveMs),
      maxTimeoutMs: optional(PositiveMs),
      maxAttempts: optional(Count),
      maxRepairs: optional(Count),
    }),
  ),
  log: optional(LogSection),
  control: optional(ControlSection),
  metrics: optional(MetricsSection),
  dataPath: optional(Schema.Struct({ engine: optional(DataPathEngineWord) })),
});

type MobileNodeFile = Schema.Schema.Type<typeof MobileNodeFile>;
type SigningKeyFields = Schema.Schema.Type<typeof SigningKey>;
type Issues = Array<{ path: string; message: string }>;


/** The node's configuration and the daemon's `log` section (its --log-level wins). */
export type LoadedMobileNodeConfig = MobileNodeConfig & {
  readonly logLevel?: LogLevel;
  readonly metrics?: MetricsListen;
  /** `dataPath.engine`: tc-BPF, userspace or auto (policies/data-path-engine.ts decides at start). */
  readonly dataPathEngine: DataPathEngineSetting;
};

/** Validates a parsed document; `baseDir` resolves relative keyFile paths. Throws ConfigError. */
export function mobileNodeConfigFromDocument(document: unknown, baseDir = '.'): LoadedMobileNodeConfig {
  const file = decodeConfig(MobileNodeFile, document);
  const config = { ...normalise(file, baseDir), ...logLevelField(file.log), dataPathEngine: file.dataPath?.engine ?? DEFAULT_DATA_PATH_ENGINE };
  return file.metrics === undefined ? config : { ...config, metrics: metricsListen(file.metrics) };
}



/** Reads and validates a YAML (or JSON) file. Throws ConfigError naming the field. */
export function loadMobileNodeConfig(path: string): LoadedMobileNodeConfig {
  const { document, baseDir } = readConfigFile(path, 'mn');
  return mobileNodeConfigFromDocument(document, baseDir);
}

function splitPrefix(text: string): { address: number; length: number } {
  const [a, l] = text.split('/');
  return { address: parseIpv4(a!)!, length: Number(l) };
}

function signingKey(sa: SigningKeyFields, path: string, baseDir: string, issues: Issues): MnSigningKey | undefined {
  const key = readKey(sa, path, baseDir, issues);
  return key === undefined ? undefined : { spi: sa.spi, algorithm: (sa.algorithm ?? 'hmac-md5') as AuthAlgorithm, key };
}

function normalise(file: MobileNodeFile, baseDir: string): MobileNodeConfig {
  const issues: Issues = [];
  const mn = file.mobileNode;
  const homeAddress = parseIpv4(mn.homeAddress)!;
  const home = splitPrefix(mn.homeNetwork);
  const homeNetwork = networkAddress(home.address, home.length);
  // 3.6: the node must know its home network prefix; its home address lies inside it.
  if (!isInPrefix(homeAddress, homeNetwork, home.length)) {
    issues.push({ path: 'mobileNode.homeAddress', message: `${mn.homeAddress} is not inside homeNetwork ${mn.homeNetwork}` });
  } else if (home.length < 31 && (homeAddress === homeNetwork || homeAddress === subnetBroadcast(homeNetwork, home.length))) {
    issues.push({ path: 'mobileNode.homeAddress', message: notAHostAddress(mn.homeAddress, mn.homeNetwork, homeAddress === homeNetwork) });
  }
  let colocated: MobileNodeConfig['colocated'];
  if (mn.colocatedAddress !== undefined) {
    const c = splitPrefix(mn.colocatedAddress);
    if (c.address === homeAddress) {
      issues.push({ path: 'mobileNode.colocatedAddress', message: 'a co-located care-of address is an address on the foreign network, not the home address (1.7 b)' });
    }
    colocated = { address: c.address, prefixLength: c.length };
  }
  const host = hostSettings(mn, homeNetwork, prefixMask(home.length), colocated, issues);
  const ha = file.homeAgentAssociation;
  const mobileHome = signingKey(ha, 'homeAgentAssociation', baseDir, issues);
  const mobileForeign = file.foreignAgentAssociation === undefined ? undefined : signingKey(file.foreignAgentAssociation, 'foreignAgentAssociation', baseDir, issues);
  const control = file.control === undefined ? undefined : controlSetting(file.control, issues);
  const reverse = reverseTunnelSettings(mn, file.requestOptions?.reverseTunnel, issues);
  if (issues.length > 0 || mobileHome === undefined) throw new ConfigError(issues);
  return {
    ...(control !== undefined ? { control } : {}),
    interfaceName: mn.interface,
    homeAddress,
    homeAgent: parseIpv4(mn.homeAgent)!,
    homeNetwork,
    homePrefixLength: home.length,
    mobileHome: { ...mobileHome, replay: ha.replay ?? 'timestamp' },
    ...(mobileForeign !== undefined ? { mobileForeign } : {}),
    ...(mn.nai !== undefined ? { nai: mn.nai } : {}),
    lifetime: mn.lifetime ?? 1800,
    ...(colocated !== undefined ? { colocated } : {}),
    moveDetection: mn.moveDetection ?? 'lifetime',
    ...(file.solicitation !== undefined ? { solicitation: { ...file.solicitation } } : {}),
    ...(file.retransmission !== undefined ? { retransmission: { ...file.retransmission } } : {}),
    requestOptions: { ...file.requestOptions, reverseTunnel: reverse.reverseTunnel, deliveryStyle: reverse.deliveryStyle },
    ...(reverse.multicastGroups.length > 0 ? { multicastGroups: reverse.multicastGroups } : {}),
    // RFC 3519: ask for UDP tunnelling in co-located Requests unless told otherwise (a home agent
    // grants it only when it sees a NAT, or with 'F').
    udpTunnel: mn.udpTunnel ?? DEFAULT_UDP_TUNNEL_MODE,
    port: mn.port ?? 0,
    ...(host !== undefined ? { host } : {}),
  };
}

/** Default TUN device for decapsulated datagrams in co-located mode. */
export const DEFAULT_TUNNEL_DEVICE = 'mip4mn0';

/**
 * The host adapter's settings (io/mn-host.ts), checked against the addresses: undefined when
 * `configureHost: false` (the host's addresses and routes are then left to the administrator).
 */
function hostSettings(
  mn: MobileNodeFile['mobileNode'],
  homeNetwork: number,
  homeMask: number,
  colocated: MobileNodeConfig['colocated'],
  issues: Issues,
): MobileNodeConfig['host'] | undefined {
  if (mn.configureHost === false) return undefined;
  const homeGateway = mn.homeGateway === undefined ? undefined : parseIpv4(mn.homeGateway)!;
  if (homeGateway !== undefined && ((homeGateway & homeMask) >>> 0) !== homeNetwork) {
    issues.push({ path: 'mobileNode.homeGateway', message: `${mn.homeGateway} is not on the home network ${mn.homeNetwork}; give the home network's router` });
  }
  const foreignGateway = mn.foreignGateway === undefined ? undefined : parseIpv4(mn.foreignGateway)!;
  if (foreignGateway !== undefined) {
    if (colocated === undefined) {
      issues.push({ path: 'mobileNode.foreignGateway', message: 'the foreign gateway is the router of the co-located care-of address: set colocatedAddress too, or remove foreignGateway' });
    } else {
      if (!isInPrefix(foreignGateway, colocated.address, colocated.prefixLength ?? 32)) {
        issues.push({ path: 'mobileNode.foreignGateway', message: `${mn.foreignGateway} is not on the co-located address's network ${mn.colocatedAddress}` });
      }
    }
  }
  if (mn.foreignGatewayLinkAddress !== undefined && foreignGateway === undefined) {
    issues.push({ path: 'mobileNode.foreignGatewayLinkAddress', message: 'set foreignGateway too (this is its link-layer address), or remove this field' });
  }
  // A co-located address may also come from the kernel at any time (a DHCP client, runtime/mn/
  // kernel-follower.ts): the TUN device it needs is there from the start, with or without a static one.
  const tunnelDevice = mn.tunnelDevice ?? DEFAULT_TUNNEL_DEVICE;
  if (tunnelDevice !== undefined && tunnelDevice === mn.interface) {
    issues.push({ path: 'mobileNode.tunnelDevice', message: `the TUN device must not be the node's interface ${mn.interface}; pick another name, e.g. ${DEFAULT_TUNNEL_DEVICE}` });
  }
  return {
    ...(homeGateway !== undefined ? { homeGateway } : {}),
    ...(foreignGateway !== undefined ? { foreignGateway } : {}),
    ...(mn.foreignGatewayLinkAddress !== undefined ? { foreignGatewayLinkAddress: mn.foreignGatewayLinkAddress.toLowerCase() } : {}),
    ...(tunnelDevice !== undefined ? { tunnelDevice } : {}),
  };
}

/** A commented example, printed by `mip4 mn --example-config`. */
export const EXAMPLE_MOBILE_NODE_CONFIG = `# mip4 mobile node configuration (RFC 5944 2.4, 3.6).
# Addresses below are from TEST-NET ranges; replace them with yours. CHANGE-ME is a
# placeholder the daemon refuses: name the interface before running it (as root, the node
# changes that interface's addresses, routes and ARP settings; see configureHost).

mobileNode:
  interface: CHANGE-ME             # the one interface the node moves with (2.4), e.g. eth0
  homeAddress: 198.51.100.10       # its address on the home network
  homeAgent: 198.51.100.1          # the home agent to register with
  homeNetwork: 198.51.100.0/24     # the home prefix: a node must know its netmask (3.6)
  nai: mn1@example.org             # optional Mobile Node NAI (RFC 2794)
  lifetime: 1800                   # seconds to ask for (3.6.1.2); capped by the agent
  colocatedAddress: 203.0.113.50/24  # optional co-located care-of address (1.7 b), e.g. from DHCP
  moveDetection: lifetime          # lifetime (2.4.2.1, Algorithm 1) or prefix (2.4.2.2, Algorithm 2)
  port: 0                          # UDP source port; 0 lets the system pick
  # The host's configuration per attachment (ip addr/route/neigh, ARP settings), restored on stop:
  configureHost: true              # false leaves addresses and routes to you
  homeGateway: 198.51.100.254      # optional default router at home (inside homeNetwork)
  foreignGateway: 203.0.113.1      # default router with the co-located address (inside colocatedAddress)
  # foreignGatewayLinkAddress: 02:00:00:00:00:01  # optional: a static neighbour entry, no ARP for it
  tunnelDevice: mip4mn0            # TUN device decapsulated datagrams enter the host through (co-located mode,
                                   # static or an address a DHCP client adds later); default mip4mn0
  # Reverse tunnelling (RFC 3024) and multicast through the home agent (4.4):
  reverseTunnel: true              # ask for 'T' when the foreign agent advertises it, always when co-located
  deliveryStyle: direct            # direct or encapsulating (to the foreign agent, RFC 3024 5.2.2)
  # multicastGroups: [239.1.2.3]   # groups joined through the home agent (not 224.0.0.0/24)
  # Behind a NAT (RFC 3519): the home agent's tunnel comes over UDP 434, kept open by keepalives.
  udpTunnel: auto                  # auto (ask when co-located; the home agent decides), force ('F': UDP even
                                   # where the home agent sees no NAT), or off

homeAgentAssociation:              # the Mobility Security Association with the home agent (3.6)
  spi: 4096                        # SPIs 0-255 are reserved (1.6)
  algorithm: hmac-md5              # hmac-md5 (default) or keyed-md5
  key: 2b7e151628aed2a6abf7158809cf4f3c   # hex; or keyFile: path/to/key.hex
  replay: timestamp                # timestamp (default) or nonce (5.7)

foreignAgentAssociation:           # optional: shared with the foreign agent (3.6.1.3 e)
  spi: 700
  key: 000102030405060708090a0b0c0d0e0f

requestOptions:                    # Registration Request flags (3.6.1.2)
  simultaneousBindings: false      # S
  broadcast: false                 # B
  decapsulates: false              # D (always set with a co-located care-of address)
  minimalEncapsulation: false      # M
  greEncapsulation: false          # G

dataPath:                          # who decapsulates with a co-located care-of address (docs/kernel-fast-path.md)
  engine: auto                     # bpf: tc-BPF on the interface decapsulates (and reverse-tunnels) in the
                                   # kernel (needs CAP_BPF and CAP_NET_ADMIN, or a start error); userspace:
                                   # the TUN device alone; auto (default): bpf where the host allows it,
                                   # else userspace (the start log says why)

solicitation:                      # Agent Solicitations when no agent is heard (2.4)
  initialIntervalMs: 1000
  initialCount: 3
  maxIntervalMs: 60000

# The operator log: one JSON object per line on stdout, each with an ISO-8601 time and a
# level. --log-level wins over this; read at start (mip4 mn applies a new file when restarted).
# log:
#   level: info                    # error, warn, info (default), debug or trace
#
# The control socket that \`mip4 mobile-node|status\` talk to (mode 0600).
# Default /run/mip4/mn.sock; none turns it off.
# control:
#   socket: /run/mip4/mn.sock
${exampleMetricsSection('mn')}`;
