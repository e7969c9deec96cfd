/**
 * The foreign agent's configuration file (YAML), validated with an Effect Schema before the
 * link or any socket is opened, in the style of runtime/config/ha-config.ts: every error names the
 * field path and what to do, e.g. `homeAgents[0].spi: SPI 7 is reserved (0-255, RFC 5944
 * 1.6); use a value above 255`.
 */
import { storeSettings, type StoreSettings } from './store-config.js';
import { Schema } from 'effect';
import { parseIpv4 } from '../../io/wire/bytes.js';
import type { FaReverseTunnelPolicy, FaSettings } from '../../policies/fa-request.js';
import {
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_PER_HOME_ADDRESS,
  DEFAULT_MAX_PENDING_PER_LINK_SOURCE,
  DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS,
} from '../../policies/fa-pending-budget.js';
import {
  AdvertisementFields,
  ControlSection,
  controlSetting,
  DataPathEngineWord,
  type ControlSetting,
  advertiserTiming,
  ConfigError,
  DEFAULT_MAX_ADVERTISEMENT_INTERVAL,
  InterfaceName,
  IntervalSeconds,
  Count,
  decodeConfig,
  Ipv4Text,
  Lifetime,
  oneOf,
  optional,
  readConfigFile,
  SecurityAssociation,
  securityContexts,
  type SecurityAssociationFields,
  Spi,
} from './config-schema.js';
import { DEFAULT_DATA_PATH_ENGINE, type DataPathEngineSetting } from '../../policies/data-path-engine.js';
import type { FaAdvertisementConfig, FaConfig, FaPeerConfig } from '../fa/foreign-agent.js';
import { exampleMetricsSection, MetricsSection, metricsListen, type MetricsListen } from './metrics-config.js';

export { ConfigError };


const MobileNode = Schema.Struct({
  homeAddress: Ipv4Text,
  ...SecurityAssociation.fields,
  spi: optional(Spi),
  securityAssociations: optional(Schema.Array(SecurityAssociation)),
});

const HomeAgent = Schema.Struct({
  address: Ipv4Text,
  ...SecurityAssociation.fields,
  spi: optional(Spi),
  securityAssociations: optional(Schema.Array(SecurityAssociation)),
});

const Encapsulations = Schema.Array(oneOf('ip-in-ip', 'minimal', 'gre'));

const ForeignAgentFile = Schema.Struct({
  foreignAgent: Schema.Struct({
    interface: InterfaceName,
    address: Ipv4Text,
    careOfAddresses: optional(Schema.Array(Ipv4Text)),
    otherAddresses: optional(Schema.Array(Ipv4Text)),
    registrationLifetime: optional(Lifetime),
    encapsulations: optional(Encapsulations),
    busy: optional(Schema.Boolean),
    reverseTunnel: optional(oneOf('offered', 'required', 'none')),
    /** The older boolean, kept: true → offered, false → none. */
    reverseTunneling: optional(Schema.Boolean),
    encapsulatingDelivery: optional(Schema.Boolean),
    requireMobileForeignAuth: optional(Schema.Boolean),
    acceptZeroHomeAddress: optional(Schema.Boolean),
    maxPending: optional(Count),
    maxPendingPerLinkSource: optional(Count),
    maxPendingPerHomeAddress: optional(Count),
    maxUnknownDeregistrations: optional(Count),
    pendingTimeout: optional(IntervalSeconds),
    udpTunnel: optional(oneOf('auto', 'force', 'off')),
  }),
  advertisement: optional(
    Schema.Struct({
      ...AdvertisementFields,
      registrationRequired: optional(Schema.Boolean),
    }),
  ),
  mobileNodes: optional(Schema.Array(MobileNode)),
  homeAgents: optional(Schema.Array(HomeAgent)),
  log: optional(LogSection),
  control: optional(ControlSection),
  metrics: optional(MetricsSection),
  dataPath: optional(Schema.Struct({ engine: optional(DataPathEngineWord) })),
  // The visitor list across restarts: "none" or { path, sync }, checked by store-config.ts.
  store: optional(Schema.Unknown),
});

import { LogSection, logLevelField, type LogLevel } from './log-config.js';

type ForeignAgentFile = Schema.Schema.Type<typeof ForeignAgentFile>;
type Issues = Array<{ path: string; message: string }>;

export interface LoadedForeignAgentConfig {
  readonly config: FaConfig;
  /** The visitor link, e.g. "eth1". */
  readonly interfaceName: string;
  /** The `log` section's level (the daemon's --log-level wins). */
  readonly logLevel?: LogLevel;
  /** The `control` section; absent = the default socket (runtime/control/protocol.ts). */
  readonly control?: ControlSetting;
  /** The `metrics` section: serve /metrics there (runtime/metrics). */
  readonly metrics?: MetricsListen;
  /** Where the visitor list survives a restart (runtime/config/store-config.ts); undefined: none. */
  readonly store?: StoreSettings;
  /** `dataPath.engine`: tc-BPF, userspace or auto (policies/data-path-engine.ts decides at start). */
  readonly dataPathEngine: DataPathEngineSetting;
}

export const DEFAULT_REGISTRATION_LIFETIME = 1800;
export { DEFAULT_MAX_ADVERTISEMENT_INTERVAL };
export { DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_PER_HOME_ADDRESS, DEFAULT_MAX_PENDING_PER_LINK_SOURCE, DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS };


/** Validates a parsed document; `baseDir` resolves relative keyFile paths. */
export function foreignAgentConfigFromDocument(document: unknown, baseDir = '.', configPath?: string): LoadedForeignAgentConfig {
  return normalise(decodeConfig(ForeignAgentFile, document), baseDir, configPath);
}

/** Reads and validates a YAML (or JSON) file. Throws ConfigError naming the field. */
export function loadForeignAgentConfig(path: string): LoadedForeignAgentConfig {
  const { document, baseDir } = readConfigFile(path, 'fa');
  return foreignAgentConfigFromDocument(document, baseDir, path);
}



function normalise(file: ForeignAgentFile, baseDir: string, configPath: string | undefined): LoadedForeignAgentConfig {
  const issues: Issues = [];
  const fa = file.foreignAgent;
  const linkAddress = parseIpv4(fa.address)!;
  const careOfAddresses = (fa.careOfAddresses ?? [fa.address]).map((a) => parseIpv4(a)!);
  // 3.7.1 (R3.7.1-1): a foreign agent offers at least one care-of address.
  if (careOfAddresses.length === 0) {
    issues.push({ path: 'foreignAgent.careOfAddresses', message: 'give at least one care-of address (RFC 5944 3.7.1), or leave it out to use foreignAgent.address' });
  }
  const encapsulations = new Set(fa.encapsulations ?? ['ip-in-ip']);
  if (!encapsulations.has('ip-in-ip')) {
    issues.push({ path: 'foreignAgent.encapsulations', message: 'ip-in-ip must stay enabled: every Mobile IP agent must support it (RFC 5944 4.1)' });
  }
  const reverseTunnel = faReverseTunnelSetting(fa.reverseTunnel, fa.reverseTunneling, issues);
  const settings: FaSettings = {
    careOfAddresses,
    interfaceAddresses: [...new Set([linkAddress, ...careOfAddresses, ...(fa.otherAddresses ?? []).map((a) => parseIpv4(a)!)])],
    linkAddress,
    registrationLifetime: fa.registrationLifetime ?? DEFAULT_REGISTRATION_LIFETIME,
    busy: fa.busy ?? false,
    encapsulations: { minimal: encapsulations.has('minimal'), gre: encapsulations.has('gre') },
    reverseTunneling: reverseTunnel !== 'none',
    reverseTunnel,
    encapsulatingDelivery: fa.encapsulatingDelivery ?? true,
    requireMobileForeignAuthentication: fa.requireMobileForeignAuth ?? false,
    maxPending: fa.maxPending ?? DEFAULT_MAX_PENDING,
    maxPendingPerLinkSource: fa.maxPendingPerLinkSource ?? DEFAULT_MAX_PENDING_PER_LINK_SOURCE,
    maxPendingPerHomeAddress: fa.maxPendingPerHomeAddress ?? DEFAULT_MAX_PENDING_PER_HOME_ADDRESS,
    maxUnknownDeregistrations: fa.maxUnknownDeregistrations ?? DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS,
    acceptZeroHomeAddress: fa.acceptZeroHomeAddress ?? false,
    udpTunnel: fa.udpTunnel ?? 'off',
  };

  const ad = file.advertisement ?? {};
  const advertisement: FaAdvertisementConfig = { ...advertiserTiming(ad, 'advertisement', issues), registrationRequired: ad.registrationRequired ?? false };

  const seenNodes = new Map<number, number>();
  const mobileNodes: FaPeerConfig[] = (file.mobileNodes ?? []).map((node, i) => {
    const path = `mobileNodes[${i}]`;
    const address = parseIpv4(node.homeAddress)!;
    const earlier = seenNodes.get(address);
    if (earlier !== undefined) issues.push({ path: `${path}.homeAddress`, message: `${node.homeAddress} is also mobileNodes[${earlier}]` });
    seenNodes.set(address, i);
    return { address, contexts: securityContexts(path, node.spi !== undefined ? (node as SecurityAssociationFields) : undefined, node.securityAssociations, baseDir, issues) };
  });
  const seenAgents = new Map<number, number>();
  const homeAgents: FaPeerConfig[] = (file.homeAgents ?? []).map((ha, i) => {
    const path = `homeAgents[${i}]`;
    const address = parseIpv4(ha.address)!;
    const earlier = seenAgents.get(address);
    if (earlier !== undefined) issues.push({ path: `${path}.address`, message: `${ha.address} is also homeAgents[${earlier}]` });
    seenAgents.set(address, i);
    return { address, contexts: securityContexts(path, ha.spi !== undefined ? (ha as SecurityAssociationFields) : undefined, ha.securityAssociations, baseDir, issues) };
  });
  const control = file.control === undefined ? undefined : controlSetting(file.control, issues);
  const store = storeSettings(file.store, 'fa', configPath, baseDir, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...(store !== undefined ? { store } : {}),
    ...(control !== undefined ? { control } : {}),
    config: {
      settings,
      mobileNodes,
      homeAgents,
      advertisement,
      ...(fa.pendingTimeout === undefined ? {} : { pendingTimeoutMs: Math.round(fa.pendingTimeout * 1000) }),
    },
    interfaceName: fa.interface,
    dataPathEngine: file.dataPath?.engine ?? DEFAULT_DATA_PATH_ENGINE,
    ...logLevelField(file.log),
    ...(file.metrics !== undefined ? { metrics: metricsListen(file.metrics) } : {}),
  };
}



/**
 * RFC 3024 policy from `reverseTunnel` (default offered) or the older `reverseTunneling`
 * boolean (true → offered, false → none); both at once must agree.
 */
function faReverseTunnelSetting(policy: FaReverseTunnelPolicy | undefined, old: boolean | undefined, issues: Issues): FaReverseTunnelPolicy {
  const fromOld: FaReverseTunnelPolicy | undefined = old === undefined ? undefined : old ? 'offered' : 'none';
  if (policy !== undefined && fromOld !== undefined && (policy === 'none') !== (fromOld === 'none')) {
    issues.push({
      path: 'foreignAgent.reverseTunneling',
      message: `reverseTunneling: ${old} contradicts reverseTunnel: ${policy}; remove reverseTunneling (reverseTunnel replaces it)`,
    });
  }
  return policy ?? fromOld ?? 'offered';
}

/** A commented example, printed by `mip4 fa --example-config`. */
export const EXAMPLE_FOREIGN_AGENT_CONFIG = `# mip4 foreign agent configuration (RFC 5944 3.7).
# Addresses below are from TEST-NET ranges; replace them with yours.
# Needs root (or CAP_NET_RAW and CAP_NET_BIND_SERVICE): the visitor link is read with a
# packet socket, tunnels with raw IP sockets, and registrations use UDP port 434.
# CHANGE-ME is a placeholder the daemon refuses: name the interface before running it.

foreignAgent:
  interface: CHANGE-ME             # the link the mobile nodes visit, e.g. eth1
  address: 203.0.113.1             # this agent's address on that link
  careOfAddresses:                 # advertised in the Mobility Agent extension (2.1.1, 3.7.1)
    - 203.0.113.1
  registrationLifetime: 1800       # longest lifetime a visitor may request, seconds (2.1.1)
  encapsulations: [ip-in-ip, minimal, gre]   # ip-in-ip is mandatory (4.1); M and G bits
  busy: false                      # the B bit: refuse additional mobile nodes (2.1.1)
  reverseTunnel: offered           # RFC 3024: offered (advertise 'T', default), required (deny
                                   # Requests without 'T', 75) or none (deny 'T', 74). The older
                                   # reverseTunneling: true|false still means offered|none.
  encapsulatingDelivery: true      # accept the Encapsulating Delivery Style extension (RFC 3024
                                   # 3.3); false denies it with 79 (direct delivery only)
  requireMobileForeignAuth: false  # deny (67) nodes without a Mobile-Foreign association
  # Pending registrations (3.7.1) are budgeted: past a budget a Request is denied with 66.
  # Renewals and deregistrations of registered visitors (same home agent) are never refused.
  maxPending: 5                    # registrations of new nodes pending at once (3.7.1: typically 5)
  maxPendingPerLinkSource: 2       # pending registrations with one link-layer (MAC) source
  maxPendingPerHomeAddress: 2      # pending registrations for one home address (0 = all NAI nodes)
  maxUnknownDeregistrations: 2     # deregistrations of nodes not in the visitor list relayed
                                   # per pendingTimeout (default 7 s): forged ones cannot flood out
  udpTunnel: off                   # RFC 3519, for an agent behind a NAT: auto asks home agents for
                                   # UDP tunnelling in relayed Requests (granted where they see the
                                   # NAT), force also sets F (UDP even where they see none), off
                                   # (default) never asks. Granted visitors' tunnels and keepalives
                                   # use this agent's UDP 434 flow; give them 'T' (reverseTunnel).

advertisement:                     # Agent Advertisements on the visitor link (2.1, 2.3)
  lifetime: 1800                   # ICMP advertisement lifetime, seconds
  maxInterval: 600                 # seconds; cut to a third of the lifetime (2.1)
  destination: 224.0.0.1           # or 255.255.255.255 (2.3)
  registrationRequired: false      # the R bit (2.1.1)

mobileNodes:                       # optional: Mobile-Foreign security associations (3.5.3)
  - homeAddress: 198.51.100.10
    spi: 4096                      # SPIs 0-255 are reserved (1.6)
    algorithm: hmac-md5            # hmac-md5 (default) or keyed-md5
    key: 2b7e151628aed2a6abf7158809cf4f3c   # hex; or keyFile: path/to/key.hex

homeAgents:                        # optional: Foreign-Home security associations (3.5.4)
  - address: 198.51.100.1
    spi: 600
    key: 000102030405060708090a0b0c0d0e0f

dataPath:                          # who carries the visitors' tunnels (docs/kernel-fast-path.md)
  engine: auto                     # bpf: tc-BPF programs decapsulate for visitors and reverse-tunnel
                                   # in the kernel (needs CAP_BPF and CAP_NET_ADMIN, or a start error);
                                   # userspace: the packet sockets alone; auto (default): bpf where the
                                   # host allows it, else userspace (the start log says why)

# The operator log: one JSON object per line on stdout, each with an ISO-8601 time and a
# level. --log-level wins over this; a reload (SIGHUP) applies a new level.
# log:
#   level: info                    # error, warn, info (default), debug or trace
#
# The control socket that \`mip4 visitors|status|traffic|clear visitor\` talk to (mode 0600).
# Default /run/mip4/fa.sock; none turns it off.
# control:
#   socket: /run/mip4/fa.sock
${exampleMetricsSection('fa')}`;
