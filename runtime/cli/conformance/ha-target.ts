/**
 * What `mip4 conformance --role ha` knows of the home agent under test: its configuration
 * file (YAML or JSON), validated like the daemons' files (runtime/config/): every problem names
 * its field and the fix. The target's addresses, the mobile nodes it serves (their security
 * contexts, RFC 5944 3.8.1), its limits and the features it claims; the model predicts each
 * Reply from these (ha-model.ts), so a feature the target does not claim predicts the denial.
 * docs/conformance.md is the reference.
 */
import { Schema } from 'effect';
import { parseIpv4, type Ipv4Address } from '../../../io/wire/bytes.js';
import { isInPrefix, networkAddress } from '../../../io/wire/ipv4-address.js';
import type { HomeAgentSettings, ReverseTunnelPolicy } from '../../../policies/ha-request.js';
import type { MobilitySecurityContext } from '../../../policies/security-association.js';
import {
  ConfigError,
  decodeConfig,
  Ipv4Text,
  Lifetime,
  oneOf,
  optional,
  PrefixText,
  readConfigFile,
  SecurityAssociation,
  securityContexts,
  type ConfigIssue,
} from '../../config/config-schema.js';

export { ConfigError };

const Encapsulation = oneOf('ip-in-ip', 'minimal', 'gre');
const ReverseTunnel = oneOf('allowed', 'required', 'refused');
const PerSecond = Schema.Number.pipe(Schema.filter((n) => (Number.isFinite(n) && n > 0) || `expected a positive number of Replies per second, got ${n}`));

const NodeEntry = Schema.Struct({
  homeAddress: Ipv4Text,
  ...SecurityAssociation.fields,
  maxLifetime: optional(Lifetime),
});

const TargetFile = Schema.Struct({
  homeAgent: Schema.Struct({
    address: Ipv4Text,
    homeNetwork: PrefixText,
    otherAddresses: optional(Schema.Array(Ipv4Text)),
    maxLifetime: Lifetime,
    simultaneousBindings: Schema.Boolean,
    broadcast: optional(Schema.Boolean),
    encapsulations: optional(Schema.Array(Encapsulation)),
    reverseTunnel: optional(ReverseTunnel),
    replyOnAuthFailure: optional(Schema.Boolean),
    replayableRepliesPerSecond: optional(PerSecond),
    broadcastAddress: optional(Ipv4Text),
  }),
  mobileNodes: Schema.Array(NodeEntry).pipe(Schema.minItems(1)),
  unservedHomeAddress: optional(Ipv4Text),
  careOfAddresses: optional(Schema.Array(Ipv4Text).pipe(Schema.minItems(3))),
});

export interface TargetNode {
  readonly homeAddress: Ipv4Address;
  readonly context: MobilitySecurityContext;
  readonly maxLifetime: number;
}

export interface ConformanceTarget {
  readonly settings: HomeAgentSettings;
  readonly nodes: readonly TargetNode[];
  /** undefined: the target's choice is not known, a 131 and silence both pass (3.8.2.1 a, MAY). */
  readonly replyOnAuthFailure?: boolean;
  /** The target's bound on Replies anyone could draw by resending a Request (duplicates, 133): the run paces them. */
  readonly replayableRepliesPerSecond: number;
  /** The home network's broadcast address the target listens on (3.8.2.1); undefined: the case is not run. */
  readonly broadcastAddress?: Ipv4Address;
  readonly unservedHomeAddress?: Ipv4Address;
  /** Care-of addresses written in the Requests (never sent to): three, for moves and simultaneous bindings. */
  readonly careOfAddresses: readonly [Ipv4Address, Ipv4Address, Ipv4Address];
}

/** TEST-NET-3 (RFC 5737): nothing is sent there, they are only written in Requests. */
const DEFAULT_CARE_OF = ['203.0.113.1', '203.0.113.2', '203.0.113.3'] as const;

export function conformanceTargetFromDocument(document: unknown, baseDir = '.'): ConformanceTarget {
  const file = decodeConfig(TargetFile, document);
  const issues: ConfigIssue[] = [];
  const ha = file.homeAgent;
  const [networkText, lengthText] = ha.homeNetwork.split('/');
  const prefixLength = Number(lengthText);
  const homeNetwork = networkAddress(parseIpv4(networkText!)!, prefixLength);
  const address = parseIpv4(ha.address)!;
  if (!isInPrefix(address, homeNetwork, prefixLength)) {
    issues.push({ path: 'homeAgent.address', message: `${ha.address} is not inside homeNetwork ${ha.homeNetwork}: give the home agent's address on its home network (RFC 5944 3.8.1)` });
  }
  const encapsulations = new Set(ha.encapsulations ?? ['ip-in-ip']);
  const nodes: TargetNode[] = [];
  file.mobileNodes.forEach((entry, i) => {
    const path = `mobileNodes[${i}]`;
    const homeAddress = parseIpv4(entry.homeAddress)!;
    if (!isInPrefix(homeAddress, homeNetwork, prefixLength)) {
      issues.push({ path: `${path}.homeAddress`, message: `${entry.homeAddress} is not inside homeNetwork ${ha.homeNetwork}; list the nodes the target serves on its home network` });
    }
    if (nodes.some((n) => n.homeAddress === homeAddress)) issues.push({ path: `${path}.homeAddress`, message: `${entry.homeAddress} is listed twice; each node once` });
    const [context] = securityContexts(path, entry, undefined, baseDir, issues);
    if (context) nodes.push({ homeAddress, context, maxLifetime: entry.maxLifetime ?? ha.maxLifetime });
  });
  const unserved = file.unservedHomeAddress !== undefined ? parseIpv4(file.unservedHomeAddress) : undefined;
  if (unserved !== undefined && nodes.some((n) => n.homeAddress === unserved)) {
    issues.push({ path: 'unservedHomeAddress', message: `${file.unservedHomeAddress} is a listed mobile node; give an address the target does not serve` });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const careOf = (file.careOfAddresses ?? DEFAULT_CARE_OF).map((a) => parseIpv4(a)!);
  const settings: HomeAgentSettings = {
    addresses: [address, ...(ha.otherAddresses ?? []).map((a) => parseIpv4(a)!)],
    homeNetwork,
    prefixLength,
    simultaneousBindings: ha.simultaneousBindings,
    broadcast: ha.broadcast ?? false,
    encapsulations: { minimal: encapsulations.has('minimal'), gre: encapsulations.has('gre') },
    reverseTunnel: (ha.reverseTunnel ?? 'refused') as ReverseTunnelPolicy,
    ...(ha.replyOnAuthFailure !== undefined ? { replyOnAuthFailure: ha.replyOnAuthFailure } : {}),
  };
  return {
    settings,
    nodes,
    ...(ha.replyOnAuthFailure !== undefined ? { replyOnAuthFailure: ha.replyOnAuthFailure } : {}),
    replayableRepliesPerSecond: ha.replayableRepliesPerSecond ?? 1,
    ...(ha.broadcastAddress !== undefined ? { broadcastAddress: parseIpv4(ha.broadcastAddress)! } : {}),
    ...(unserved !== undefined ? { unservedHomeAddress: unserved } : {}),
    careOfAddresses: [careOf[0]!, careOf[1]!, careOf[2]!],
  };
}

export function loadConformanceTarget(path: string): ConformanceTarget {
  const { document, baseDir } = readConfigFile(path, 'conformance');
  return conformanceTargetFromDocument(document, baseDir);
}

/**
 * Printed by `mip4 conformance --example-config`: the target `mip4 ha --config` runs with the
 * home agent part of docs/conformance.md's example, on loopback.
 */
export const EXAMPLE_CONFORMANCE_CONFIG = `# mip4 conformance --role ha: the home agent under test (docs/conformance.md).
# Matches the example of docs/conformance.md: mip4 ha on 127.0.0.1:4434 serving two nodes.

homeAgent:
  address: 127.0.0.1             # its unicast address: the Requests' Home Agent field (3.8.3.2)
  homeNetwork: 127.0.0.0/8       # its home network prefix (3.8.1)
  otherAddresses: []             # more unicast addresses of it, if any
  maxLifetime: 600               # the longest Lifetime it grants (3.8.3.2); per node below too
  simultaneousBindings: true     # honours 'S' (code 0) or not (code 1), 3.8.3.2
  broadcast: false               # tunnels broadcasts ('B'); either way 'B' must not be refused (3.8.2)
  encapsulations: [ip-in-ip, minimal, gre]   # what it grants for 'M' and 'G'; others predict 129
  reverseTunnel: allowed         # 'T' (RFC 3024): allowed, required (138 without it), refused (137)
  replyOnAuthFailure: true       # sends 131 on a failed authenticator (a MAY, 3.8.2.1 a); omit if unknown
  replayableRepliesPerSecond: 2  # its bound on duplicate/133 Replies per node: the run paces them
  # broadcastAddress: 127.255.255.255   # its home network broadcast it listens on: the 136 case (3.8.2.1)

mobileNodes:                     # nodes the target serves, with their security contexts (3.8.1)
  - homeAddress: 127.0.1.1
    spi: 4096                    # SPIs 0-255 are reserved (1.6)
    algorithm: hmac-md5
    key: 2b7e151628aed2a6abf7158809cf4f3c   # or keyFile: path (mode 0600)
    replay: timestamp            # timestamp or nonce (5.7), as the target has it
  - homeAddress: 127.0.1.2
    spi: 4097
    key: 000102030405060708090a0b0c0d0e0f
    replay: nonce

unservedHomeAddress: 127.0.1.99  # a home address the target does NOT serve: the silent-discard case (3.8.2.1)
careOfAddresses: [203.0.113.1, 203.0.113.2, 203.0.113.3]   # only written in Requests
`;
