/**
 * The fixed topology of `mip4 conformance --role fa|mn` (docs/conformance.md): two
 * network namespaces the tool creates with unique names, the agent's and the tool's, joined by
 * veth pairs with TEST-NET addresses only. The agent's config must use these names and
 * addresses; `--example-config` prints one for mip4's own daemons. Pure data and text.
 */

/** What the tool plays in foreign agent mode: the visiting mobile node and its home agent. */
export const FA_TOPOLOGY = {
  /** The link the mobile nodes visit: the agent's end and the tool's (the node's) end. */
  visitorInterface: 'vis0',
  toolVisitorInterface: 'mn0',
  /** The agent's address on the visitor link (the Registration Requests go to it). */
  agentAddress: '198.51.100.1',
  visitorPrefix: 24,
  /** The upstream link towards the home agent; the agent's care-of address is its end. */
  upstreamInterface: 'up0',
  toolUpstreamInterface: 'ha0',
  careOfAddress: '203.0.113.1',
  homeAgent: '203.0.113.2',
  upstreamPrefix: 24,
  /** Home addresses of the visiting nodes: one per case, 192.0.2.10 upwards (denials are rate limited per node, 3.7.2). */
  firstHomeAddress: '192.0.2.10',
  /** The Mobile-Home association the tool's node and home agent share (the agent never sees the key). */
  mobileHomeSpi: 4096,
  mobileHomeKey: '00112233445566778899aabbccddeeff',
} as const;

/** The mobile node mode's addresses (the tool plays the foreign agent and, behind it, the home agent). */
export const MN_TOPOLOGY = {
  /** The node's interface in the agent namespace, and the tool's end of that link (the foreign agent's). */
  nodeInterface: 'eth0',
  toolInterface: 'fa0',
  /** The tool's foreign agent: its address on the link, also the care-of address it advertises. */
  foreignAgent: '198.51.100.1',
  linkPrefix: 24,
  /** The registration lifetime the tool's advertisements allow (the node must not ask for more, 3.6.1.2). */
  advertisedRegistrationLifetime: 200,
  homeAddress: '192.0.2.10',
  homeAgent: '192.0.2.1',
  homeNetwork: '192.0.2.0/24',
  mobileHomeSpi: 4096,
  mobileHomeKey: '00112233445566778899aabbccddeeff',
} as const;

/** A ready config for mip4's own foreign agent in this topology (`mip4 conformance --role fa --example-config`). */
export function exampleFaConfig(): string {
  const t = FA_TOPOLOGY;
  return `# mip4 fa in the topology of 'mip4 conformance --role fa' (docs/conformance.md).
# The tool creates the namespaces and links; the agent runs in its namespace with:
#   ${t.visitorInterface}  ${t.agentAddress}/${t.visitorPrefix}   the visitor link (the tool's mobile nodes)
#   ${t.upstreamInterface}   ${t.careOfAddress}/${t.upstreamPrefix}   upstream (the tool's home agent ${t.homeAgent})
# Only IP-in-IP and no reverse tunnelling are offered, so the tool can check the denials 72 and 74.
foreignAgent:
  interface: ${t.visitorInterface}
  address: ${t.agentAddress}
  careOfAddresses: [${t.careOfAddress}]
  registrationLifetime: 600
  encapsulations: [ip-in-ip]
  reverseTunnel: none
advertisement:
  lifetime: 9
  maxInterval: 1
dataPath:
  engine: userspace
control:
  socket: none
`;
}

/** A ready config for mip4's own mobile node in this topology (`--role mn --example-config`). */
export function exampleMnConfig(): string {
  const t = MN_TOPOLOGY;
  return `# mip4 mn in the topology of 'mip4 conformance --role mn' (docs/conformance.md).
# The node runs in its namespace with one interface, ${t.nodeInterface}, on the link of the tool's
# foreign agent ${t.foreignAgent}; the tool answers as its home agent ${t.homeAgent} with this association.
mobileNode:
  interface: ${t.nodeInterface}
  homeAddress: ${t.homeAddress}
  homeAgent: ${t.homeAgent}
  homeNetwork: ${t.homeNetwork}
  lifetime: 300
  reverseTunnel: false
  udpTunnel: off
homeAgentAssociation:
  spi: ${t.mobileHomeSpi}
  key: ${t.mobileHomeKey}
  replay: timestamp
dataPath:
  engine: userspace
control:
  socket: none
`;
}
