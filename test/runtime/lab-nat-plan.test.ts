/** runtime/cli/lab/nat-plan.ts: the NAT router of `mip4 lab up --nat` as data, and its mappings read back. */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  addressReplacedByNat,
  labKeepaliveInterval,
  NAT_INTERFACE_ADDRESSES,
  NAT_MACS,
  NAT_TABLE,
  NAT_VETHS,
  natMappingsFromConntrack,
  natPortRange,
  natRuleset,
  natStatusLines,
  natUdpTimeoutSysctls,
  replacedByNat,
} from '../../runtime/cli/lab/nat-plan.js';
import { daemonPlans, INTERFACE_ADDRESSES, ingressFilterRuleset, namespaceOf, namespacesOfLab, VETHS } from '../../runtime/cli/lab/plan.js';
import { isValidInterfaceName } from '../../io/interface-name.js';

const keys = { mobileHome: '00112233445566778899aabbccddeeff', foreignHome1: '0102030405060708090a0b0c0d0e0f10', foreignHome2: '1112131415161718191a1b1c1d1e1f20' };

describe('lab NAT plan: topology', () => {
  it('replaces exactly the router–foreign-2 link and the router address on it; the NAT takes the segment gateway .65, the router moves to the transit /30', () => {
    expect(VETHS.filter(replacedByNat).map((v) => [v.a, v.b])).toEqual([['rt-fa2', 'foreign2']]);
    expect(INTERFACE_ADDRESSES.filter(addressReplacedByNat).map((a) => a.cidr)).toEqual(['203.0.113.65/26']);
    expect(NAT_INTERFACE_ADDRESSES.map((a) => `${a.role} ${a.device} ${a.cidr}`)).toEqual(['rt foreign2 203.0.113.129/30', 'nat wan0 203.0.113.130/30', 'nat lan0 203.0.113.65/26']);
    for (const veth of NAT_VETHS) {
      expect(isValidInterfaceName(veth.a) && isValidInterfaceName(veth.b)).toBe(true);
      expect(NAT_MACS[veth.b]).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    }
  });

  it("lab down finds the NAT's namespace by exact name; a lab without one is unaffected", () => {
    expect(namespacesOfLab('demo', [namespaceOf('demo', 'nat'), 'm4lab-demo-x-nat', 'm4lab-demo-natx'])).toEqual(['m4lab-demo-nat']);
  });
});

describe('lab NAT plan: ruleset, timeouts, restarts', () => {
  it('masquerades TCP and UDP into the port range of its generation and the rest (ICMP) to the outside address; from outside only replies pass, the rest is counted', () => {
    const ruleset = natRuleset(0);
    expect(ruleset).toContain(`table ip ${NAT_TABLE} {`);
    expect(ruleset).toContain('oifname "wan0" meta l4proto { tcp, udp } masquerade to :20000-29999');
    expect(ruleset).toContain('oifname "wan0" masquerade\n');
    expect(ruleset).toContain('type filter hook forward priority filter; policy drop;');
    expect(ruleset).toContain('iifname "wan0" ct state established,related accept');
    expect(ruleset).toContain('iifname "wan0" counter name "inbound_unmatched" drop');
    expect(natRuleset(1)).toContain('masquerade to :30000-39999');
  });

  it('two successive generations never share an external port, so a restarted NAT always rebinds', () => {
    for (let generation = 0; generation < 6; generation++) {
      const [a0, a1] = natPortRange(generation);
      const [b0, b1] = natPortRange(generation + 1);
      expect(a1 < b0 || b1 < a0).toBe(true);
      expect(a0 > 1023 && b1 < 65536).toBe(true);
    }
  });

  it('sets both UDP conntrack timeouts; the granted keepalive is half the timeout, at least 1 s, at most RFC 3519\'s 110 s', () => {
    expect(natUdpTimeoutSysctls(5)).toEqual([
      ['net.netfilter.nf_conntrack_udp_timeout', '5'],
      ['net.netfilter.nf_conntrack_udp_timeout_stream', '5'],
    ]);
    expect([labKeepaliveInterval(5), labKeepaliveInterval(1), labKeepaliveInterval(3600), labKeepaliveInterval(undefined)]).toEqual([2, 1, 110, 60]);
  });

  it('with --ingress-filter, the router accepts from foreign2 only the NAT\'s transit /30', () => {
    expect(ingressFilterRuleset(true)).toContain('iifname "foreign2" ip saddr != 203.0.113.128/30');
    expect(ingressFilterRuleset(false)).toContain('iifname "foreign2" ip saddr != 203.0.113.64/26');
  });
});

describe('lab NAT plan: configs', () => {
  it('with --nat the home agent allows UDP tunnelling and grants the keepalive; the node and FA2 ask for it; FA1 and a lab without --nat write none', () => {
    type Doc = { homeAgent?: Record<string, unknown>; foreignAgent?: Record<string, unknown>; mobileNode?: Record<string, unknown> };
    const [ha, fa1, fa2, mn] = daemonPlans(keys, 'ip-in-ip', '/run/mip4-lab/demo', true, { keepaliveSeconds: 2 }).map((p) => parse(p.config) as Doc);
    expect(ha!.homeAgent).toMatchObject({ udpTunnel: 'allowed', udpKeepaliveInterval: 2 });
    expect(mn!.mobileNode!.udpTunnel).toBe('auto');
    expect(fa2!.foreignAgent!.udpTunnel).toBe('auto');
    expect(fa1!.foreignAgent!.udpTunnel).toBeUndefined();
    const plain = daemonPlans(keys, 'ip-in-ip', '/run/mip4-lab/demo', true).map((p) => p.config).join('\n');
    expect(plain).not.toContain('udpTunnel');
    expect(plain).not.toContain('udpKeepaliveInterval');
  });
});

describe('lab NAT plan: configs the daemons accept', () => {
  it('the --nat configs load with each daemon\'s loader: the HA grants 2 s keepalives with udpTunnel allowed, the node and FA2 ask (auto)', async () => {
    const { homeAgentConfigFromDocument } = await import('../../runtime/config/ha-config.js');
    const { foreignAgentConfigFromDocument } = await import('../../runtime/config/fa-config.js');
    const { mobileNodeConfigFromDocument } = await import('../../runtime/config/mn-config.js');
    for (const plan of daemonPlans(keys, 'gre', '/run/mip4-lab/demo', true, { keepaliveSeconds: 2 })) {
      const load = plan.command === 'ha' ? homeAgentConfigFromDocument : plan.command === 'fa' ? foreignAgentConfigFromDocument : mobileNodeConfigFromDocument;
      expect(() => load(parse(plan.config) as unknown), plan.role).not.toThrow();
    }
  });
});

describe('lab NAT plan: mappings from conntrack', () => {
  const table = [
    'ipv4     2 udp      17 4 src=203.0.113.100 dst=198.51.100.2 sport=434 dport=434 src=198.51.100.2 dst=203.0.113.130 sport=434 dport=23856 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 udp      17 29 src=203.0.113.66 dst=198.51.100.2 sport=434 dport=434 [UNREPLIED] src=198.51.100.2 dst=203.0.113.130 sport=434 dport=20001 mark=0 zone=0 use=2',
    'ipv4     2 icmp     1 28 src=203.0.113.100 dst=192.0.2.10 type=8 code=0 id=7 src=192.0.2.10 dst=203.0.113.130 type=0 code=0 id=7 mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 431999 ESTABLISHED src=203.0.113.100 dst=192.0.2.10 sport=40000 dport=5201 src=192.0.2.10 dst=203.0.113.130 sport=5201 dport=21000 [ASSURED] mark=0 use=1',
    // Not translated (the NAT's own traffic): left out.
    'ipv4     2 udp      17 20 src=203.0.113.130 dst=203.0.113.129 sport=5000 dport=53 src=203.0.113.129 dst=203.0.113.130 sport=53 dport=5000 mark=0 use=1',
  ].join('\n');

  it('lists the translated entries with inside, remote and outside address:port, the time left and whether a reply was seen', () => {
    expect(natMappingsFromConntrack(table)).toEqual([
      { protocol: 'udp', inside: '203.0.113.100:434', remote: '198.51.100.2:434', outside: '203.0.113.130:23856', secondsLeft: 4, replied: true },
      { protocol: 'udp', inside: '203.0.113.66:434', remote: '198.51.100.2:434', outside: '203.0.113.130:20001', secondsLeft: 29, replied: false },
      { protocol: 'icmp', inside: '203.0.113.100:7', remote: '192.0.2.10', outside: '203.0.113.130:7', secondsLeft: 28, replied: true },
      { protocol: 'tcp', inside: '203.0.113.100:40000', remote: '192.0.2.10:5201', outside: '203.0.113.130:21000', secondsLeft: 431999, replied: true },
    ]);
    expect(natMappingsFromConntrack('')).toEqual([]);
  });

  it('status lines: settings, unmatched count, each mapping; unreadable and empty tables say so', () => {
    const settings = { udpTimeoutSeconds: 5, keepaliveSeconds: 2, generation: 1 };
    const lines = natStatusLines(settings, natMappingsFromConntrack(table).slice(0, 1), 3);
    expect(lines[0]).toContain('ports 30000-39999, UDP timeout 5 s, restarts 1); home agent grants keepalives every 2 s');
    expect(lines).toContain('  NAT inbound datagrams that matched no mapping: 3');
    expect(lines).toContain('  NAT mapping udp  203.0.113.100:434 -> 203.0.113.130:23856 (to 198.51.100.2:434, 4 s left)');
    expect(natStatusLines(settings, [], undefined)).toContain('  NAT mappings: none');
    expect(natStatusLines(settings, undefined, undefined).join('\n')).toContain('unreadable');
  });
});
