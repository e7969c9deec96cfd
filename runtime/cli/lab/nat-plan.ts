/**
 * `mip4 lab up --nat` as data (no IO): the foreign-2 segment (FA2 and the co-located care-of
 * address 203.0.113.100) moves behind a NAT router namespace that masquerades everything it
 * forwards to the router, as a home router, hotel or carrier-grade NAT would (RFC 3519 1.2).
 *
 * ```
 *   ROUTER foreign2 203.0.113.129/30 ── 203.0.113.130 wan0  NAT  lan0 203.0.113.65/26 ── [foreign-2 bridge]
 *                                          (masquerade)                  FA2 203.0.113.66, co-located 203.0.113.100
 * ```
 *
 * The segment keeps its addresses and gateway (.65 is now the NAT), so FA2's and the node's
 * configurations do not change; the router has no route into 203.0.113.64/26, so that prefix is
 * private: only what the NAT translates to 203.0.113.130 reaches the rest of the lab, and an
 * IP-in-IP tunnel to 203.0.113.100 never arrives, which is the problem RFC 3519 solves.
 */
import { ADDRESSES, BRIDGE, NAT_TRANSIT_NETWORK, type AddressPlan, type RoutePlan, type VethPlan } from './plan.js';

/** The NAT router's role (namespace m4lab-NAME-nat), present only in a lab made with --nat. */
export const NAT_ROLE = 'nat' as const;

export const NAT_ADDRESSES = {
  /** The router's end of the transit link (its interface keeps the name foreign2). */
  routerTransit: '203.0.113.129',
  /** The NAT's outside address: every translated datagram carries it as source. */
  natOutside: '203.0.113.130',
  transitNetwork: NAT_TRANSIT_NETWORK,
} as const;

export const NAT_OUTSIDE_DEVICE = 'wan0';
export const NAT_INSIDE_DEVICE = 'lan0';

/** The nftables table of the NAT (family ip) in the NAT's namespace. */
export const NAT_TABLE = 'mip4_lab_nat';

/** The NAT's named counter of datagrams from outside that matched no mapping. */
export const NAT_UNMATCHED_COUNTER = 'inbound_unmatched';

/**
 * The veth pairs of a NAT lab in place of the plan's router–foreign-2 pair: the switch's
 * `rt-fa2` port now leads to the NAT's inside, and the router's `foreign2` to its outside.
 */
export const NAT_VETHS: readonly VethPlan[] = [
  { aRole: 'sw', a: 'rt-fa2', bRole: NAT_ROLE, b: NAT_INSIDE_DEVICE, bridge: BRIDGE['foreign-2'] },
  { aRole: 'rt', a: 'foreign2', bRole: NAT_ROLE, b: NAT_OUTSIDE_DEVICE },
];

/** Fixed MAC addresses of the NAT's interfaces (locally administered), the same after a restart. */
export const NAT_MACS: Readonly<Record<string, string>> = { [NAT_INSIDE_DEVICE]: '02:6d:34:6e:61:01', [NAT_OUTSIDE_DEVICE]: '02:6d:34:6e:61:02' };

/** Whether `veth` is the plan's router–foreign-2 pair, which a NAT lab replaces with NAT_VETHS. */
export function replacedByNat(veth: VethPlan): boolean {
  return veth.aRole === 'sw' && veth.bRole === 'rt' && veth.bridge === BRIDGE['foreign-2'];
}

/** Addresses of a NAT lab that differ from the plan: the router's foreign2 is on the transit link. */
export const NAT_INTERFACE_ADDRESSES: readonly AddressPlan[] = [
  { role: 'rt', device: 'foreign2', cidr: `${NAT_ADDRESSES.routerTransit}/30` },
  { role: NAT_ROLE, device: NAT_OUTSIDE_DEVICE, cidr: `${NAT_ADDRESSES.natOutside}/30` },
  { role: NAT_ROLE, device: NAT_INSIDE_DEVICE, cidr: `${ADDRESSES.routerForeign2}/26` },
];

/** Whether `address` is the plan's router address on foreign-2, which the NAT takes over. */
export function addressReplacedByNat(address: AddressPlan): boolean {
  return address.role === 'rt' && address.device === 'foreign2';
}

export const NAT_ROUTES: readonly RoutePlan[] = [{ role: NAT_ROLE, destination: 'default', via: NAT_ADDRESSES.routerTransit }];

/**
 * The external ports the NAT maps to, alternating with each restart. A rebooted NAT that
 * happened to pick the old port again would hide the rebinding the lab exists to show
 * (RFC 3519 4.10), so generation n and n+1 never share a port.
 */
export function natPortRange(generation: number): readonly [number, number] {
  return generation % 2 === 0 ? [20000, 29999] : [30000, 39999];
}

/**
 * The NAT's ruleset for `nft -f -` in its namespace. Outbound through wan0 is masqueraded
 * into the generation's port range; from outside only replies to a mapping pass (a NAT keeps
 * no state for anything else), and what matched no mapping is counted.
 */
export function natRuleset(generation: number): string {
  const [low, high] = natPortRange(generation);
  return [
    `table ip ${NAT_TABLE} {`,
    `  counter ${NAT_UNMATCHED_COUNTER} { comment "datagrams from outside that matched no mapping" }`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname "${NAT_OUTSIDE_DEVICE}" meta l4proto { tcp, udp } masquerade to :${low}-${high}`,
    `    oifname "${NAT_OUTSIDE_DEVICE}" masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    `    iifname "${NAT_INSIDE_DEVICE}" oifname "${NAT_OUTSIDE_DEVICE}" accept`,
    `    iifname "${NAT_OUTSIDE_DEVICE}" ct state established,related accept`,
    `    iifname "${NAT_OUTSIDE_DEVICE}" counter name "${NAT_UNMATCHED_COUNTER}" drop`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname "${NAT_OUTSIDE_DEVICE}" ct state new counter name "${NAT_UNMATCHED_COUNTER}"`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The UDP timeout sysctls of the NAT's namespace: both the unreplied and the "stream" (seen both
 * ways) timeouts, so a mapping lives `seconds` after its last datagram whatever it carried.
 */
export function natUdpTimeoutSysctls(seconds: number): ReadonlyArray<readonly [string, string]> {
  return [
    ['net.netfilter.nf_conntrack_udp_timeout', String(seconds)],
    ['net.netfilter.nf_conntrack_udp_timeout_stream', String(seconds)],
  ];
}

/** The kernel's UDP stream timeout, what a lab without --nat-udp-timeout keeps. */
export const KERNEL_UDP_STREAM_TIMEOUT = 120;

/** Bounds of --nat-udp-timeout and --nat-keepalive, seconds. */
export const NAT_TIMEOUT_RANGE = [1, 3600] as const;

/**
 * The keepalive interval the lab's home agent grants when none is given: half the NAT's UDP
 * timeout, at most RFC 3519's default of 110 s (3.2), so the mapping is refreshed twice per
 * timeout and a lost keepalive does not lose it.
 */
export function labKeepaliveInterval(udpTimeoutSeconds: number | undefined): number {
  return Math.max(1, Math.min(110, Math.floor((udpTimeoutSeconds ?? KERNEL_UDP_STREAM_TIMEOUT) / 2)));
}

/** A NAT lab's settings, as `up` records them in state.json. */
export interface NatSettings {
  /** The UDP timeout set on the NAT, seconds; undefined: the kernel's. */
  readonly udpTimeoutSeconds?: number;
  /** The keepalive interval the home agent grants, seconds. */
  readonly keepaliveSeconds: number;
  /** Restarts so far; selects the port range (natPortRange). */
  generation: number;
}

/** One NAT mapping: inside address:port ↔ outside (translated) address:port, and what is left of its timer. */
export interface NatMapping {
  readonly protocol: 'udp' | 'tcp' | 'icmp';
  readonly inside: string;
  readonly remote: string;
  readonly outside: string;
  readonly secondsLeft: number;
  /** Seen both ways ([ASSURED] or a reply seen). */
  readonly replied: boolean;
}

/**
 * The translated mappings in /proc/net/nf_conntrack (or `conntrack -L`) text (pure): entries
 * whose reply destination differs from the original source, i.e. those the NAT rewrote. A line:
 * `ipv4 2 udp 17 28 src=203.0.113.100 dst=198.51.100.2 sport=434 dport=434 src=198.51.100.2
 * dst=203.0.113.130 sport=434 dport=20123 [ASSURED] mark=0 use=1`.
 */
export function natMappingsFromConntrack(text: string): NatMapping[] {
  const mappings: NatMapping[] = [];
  for (const line of text.split('\n')) {
    const head = /\b(udp|tcp|icmp)\s+\d+\s+(\d+)/.exec(line);
    if (head === null) continue;
    const protocol = head[1] as NatMapping['protocol'];
    // Each key appears twice: the original direction, then the reply direction.
    const both = (key: string) => [...line.matchAll(new RegExp(`\\b${key}=(\\S+)`, 'g'))].map((m) => m[1]!);
    const [src, replySrc] = both('src');
    const [dst, replyDst] = both('dst');
    const [sport, replySport] = protocol === 'icmp' ? both('id') : both('sport');
    const [dport, replyDport] = protocol === 'icmp' ? [undefined, undefined] : both('dport');
    if (src === undefined || dst === undefined || replySrc === undefined || replyDst === undefined) continue;
    const outsidePort = protocol === 'icmp' ? replySport : replyDport;
    if (replyDst === src && outsidePort === sport) continue; // not translated
    const at = (address: string, port: string | undefined) => (port === undefined ? address : `${address}:${port}`);
    mappings.push({
      protocol,
      inside: at(src, sport),
      remote: at(dst, dport),
      outside: at(replyDst, outsidePort),
      secondsLeft: Number(head[2]),
      replied: !line.includes('[UNREPLIED]'),
    });
  }
  return mappings;
}

/** The lines `mip4 lab status` prints about the NAT. */
export function natStatusLines(settings: NatSettings, mappings: readonly NatMapping[] | undefined, unmatched: number | undefined): string[] {
  const [low, high] = natPortRange(settings.generation);
  const timeout = settings.udpTimeoutSeconds === undefined ? `the kernel's UDP timeouts` : `UDP timeout ${settings.udpTimeoutSeconds} s`;
  const lines = [
    `  NAT: foreign-2 behind ${NAT_ADDRESSES.natOutside} (masquerade, ports ${low}-${high}, ${timeout}, restarts ${settings.generation}); home agent grants keepalives every ${settings.keepaliveSeconds} s`,
  ];
  if (unmatched !== undefined) lines.push(`  NAT inbound datagrams that matched no mapping: ${unmatched}`);
  if (mappings === undefined) {
    lines.push('  NAT mappings: unreadable (no /proc/net/nf_conntrack in its namespace; apt-get install conntrack)');
  } else if (mappings.length === 0) {
    lines.push('  NAT mappings: none');
  } else {
    for (const m of mappings) lines.push(`  NAT mapping ${m.protocol.padEnd(4)} ${m.inside} -> ${m.outside} (to ${m.remote}, ${m.secondsLeft} s left${m.replied ? '' : ', unreplied'})`);
  }
  return lines;
}
