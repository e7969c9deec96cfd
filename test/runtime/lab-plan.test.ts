/** runtime/cli/lab/plan.ts: which namespaces belong to a lab, and the lab's interface names. */
import { describe, expect, it } from 'vitest';
import { isValidInterfaceName } from '../../io/interface-name.js';
import { BRIDGE, HOST_INTERFACE, LAB_ROLES, labNameProblem, MN_PORT, namespaceOf, namespacesOfLab, VETHS } from '../../runtime/cli/lab/plan.js';

describe('the namespaces of a lab', () => {
  it("lab 'demo' is its seven namespaces by exact name, not lab 'demo-x''s nor any other m4lab-demo-*", () => {
    const listed = [
      ...LAB_ROLES.map((role) => namespaceOf('demo', role)),
      ...LAB_ROLES.map((role) => namespaceOf('demo-x', role)),
      'm4lab-demo-',
      'm4lab-demo-swx',
      'm4lab-demox-sw',
      'm4lab-demo-sw-x',
      'other',
    ];
    expect(namespacesOfLab('demo', listed)).toStrictEqual(LAB_ROLES.map((role) => `m4lab-demo-${role}`));
    expect(namespacesOfLab('demo-x', listed)).toStrictEqual(LAB_ROLES.map((role) => `m4lab-demo-x-${role}`));
    expect(namespacesOfLab('demo', ['m4lab-demo-x-sw', 'm4lab-demo-sw-ha'])).toStrictEqual([]);
  });

  it('no two valid lab names share a namespace, even when one name ends in a role', () => {
    const names = ['demo', 'demo-x', 'demo-sw', 'demo-sw-ha', 'a', 'a-mn', 'sw', 'x-fa1'];
    for (const name of names) expect(labNameProblem(name), name).toBeUndefined();
    for (const a of names) {
      for (const b of names) {
        if (a === b) continue;
        expect(namespacesOfLab(a, LAB_ROLES.map((role) => namespaceOf(b, role))), `${a} vs ${b}`).toStrictEqual([]);
      }
    }
  });

  it('every interface the plan creates has a valid interface name', () => {
    const names = [...Object.values(BRIDGE), MN_PORT, HOST_INTERFACE, ...VETHS.flatMap((veth) => [veth.a, veth.b])];
    for (const name of names) expect(isValidInterfaceName(name), name).toBe(true);
  });
});

describe('lab plan: control sockets', () => {
  it('gives each daemon of a lab its own control socket in the lab directory, in configs the loaders accept', async () => {
    const { parse } = await import('yaml');
    const { daemonPlans, labControlSocket } = await import('../../runtime/cli/lab/plan.js');
    const { homeAgentConfigFromDocument } = await import('../../runtime/config/ha-config.js');
    const { foreignAgentConfigFromDocument } = await import('../../runtime/config/fa-config.js');
    const { mobileNodeConfigFromDocument } = await import('../../runtime/config/mn-config.js');
    const keys = { mobileHome: '00112233445566778899aabbccddeeff', foreignHome1: '0102030405060708090a0b0c0d0e0f10', foreignHome2: '1112131415161718191a1b1c1d1e1f20' };
    const directory = '/run/mip4-lab/demo';
    const plans = daemonPlans(keys, 'ip-in-ip', directory);
    const sockets = plans.map((plan) => {
      const document = parse(plan.config) as unknown;
      const loaded = plan.command === 'ha' ? homeAgentConfigFromDocument(document) : plan.command === 'fa' ? foreignAgentConfigFromDocument(document) : mobileNodeConfigFromDocument(document);
      return loaded.control?.socket;
    });
    expect(sockets).toEqual(['ha', 'fa1', 'fa2', 'mn'].map((role) => `${directory}/${role}.sock`));
    expect(sockets[0]).toBe(labControlSocket(directory, 'ha'));
    // A new lab never restores an earlier lab's bindings or visitors: the agents keep no store.
    expect(plans.filter((plan) => plan.command !== 'mn').map((plan) => (parse(plan.config) as { store?: unknown }).store)).toEqual(['none', 'none', 'none']);
  });
});

describe('lab plan: ingress filter (--ingress-filter)', () => {
  it('drops and counts, per router interface, sources outside the segment it faces (BCP 38): home, both /26, the correspondent network', async () => {
    const { ingressFilterRuleset, INGRESS_TABLE, ingressCounterName } = await import('../../runtime/cli/lab/plan.js');
    const ruleset = ingressFilterRuleset();
    expect(ruleset).toContain(`table ip ${INGRESS_TABLE} {`);
    expect(ruleset).toContain('type filter hook forward priority filter; policy accept;');
    for (const [device, prefix] of [['home0', '198.51.100.0/24'], ['foreign1', '203.0.113.0/26'], ['foreign2', '203.0.113.64/26'], ['ch0', '192.0.2.0/24']] as const) {
      expect(ruleset).toContain(`counter ${ingressCounterName(device)} {`);
      expect(ruleset).toContain(`iifname "${device}" ip saddr != ${prefix} counter name "${ingressCounterName(device)}" drop`);
    }
    // Every router interface of the plan is filtered, and nothing else.
    const routerDevices = (await import('../../runtime/cli/lab/plan.js')).INTERFACE_ADDRESSES.filter((a) => a.role === 'rt').map((a) => a.device).sort();
    expect([...ruleset.matchAll(/iifname "([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(routerDevices);
  });

  it('reads the drop counters from `nft -j list counters` output, in plan order, ignoring other tables; no table: undefined', async () => {
    const { ingressDropsFromJson, ingressFilterText } = await import('../../runtime/cli/lab/ingress-filter.js');
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { counter: { family: 'ip', name: 'spoofed_foreign1', table: 'mip4_lab_ingress', handle: 2, packets: 512, bytes: 17408 } },
        { counter: { family: 'ip', name: 'spoofed_home0', table: 'mip4_lab_ingress', handle: 1, packets: 3, bytes: 120 } },
        { counter: { family: 'ip', name: 'spoofed_foreign1', table: 'someone_else', handle: 9, packets: 99, bytes: 99 } },
      ],
    });
    const drops = ingressDropsFromJson(json)!;
    expect(drops.map((d) => [d.device, d.packets])).toEqual([['home0', 3], ['foreign1', 512], ['foreign2', 0], ['ch0', 0]]);
    expect(ingressFilterText(drops)).toBe('ingress filter: on (router drops sources outside the arriving segment, BCP 38); dropped: home0 3, foreign1 512, foreign2 0, ch0 0');
    expect(ingressDropsFromJson(JSON.stringify({ nftables: [{ metainfo: {} }] }))).toBeUndefined();
    expect(ingressDropsFromJson('Error: No such file or directory')).toBeUndefined();
    expect(ingressFilterText(undefined)).toBe('ingress filter: off (the router forwards any source)');
  });
});

describe('lab plan: reverse tunnelling in the configs', () => {
  const keys = { mobileHome: '00112233445566778899aabbccddeeff', foreignHome1: '0102030405060708090a0b0c0d0e0f10', foreignHome2: '1112131415161718191a1b1c1d1e1f20' };

  it("on by default: the HA allows it per node, each FA offers it, the MN asks for 'T'; --no-reverse-tunnel writes each off explicitly; the loaders accept both", async () => {
    const { parse } = await import('yaml');
    const { daemonPlans, LAB_REVERSE_TUNNEL_DEFAULT } = await import('../../runtime/cli/lab/plan.js');
    const { homeAgentConfigFromDocument } = await import('../../runtime/config/ha-config.js');
    const { foreignAgentConfigFromDocument } = await import('../../runtime/config/fa-config.js');
    const { mobileNodeConfigFromDocument } = await import('../../runtime/config/mn-config.js');
    expect(LAB_REVERSE_TUNNEL_DEFAULT).toBe(true);
    type Doc = { mobileNodes?: Array<{ reverseTunnel?: string }>; foreignAgent?: { reverseTunnel?: string }; mobileNode?: { reverseTunnel?: boolean } };
    const read = (on: boolean) => {
      const plans = daemonPlans(keys, 'gre', '/run/mip4-lab/demo', on);
      for (const plan of plans) {
        const load = plan.command === 'ha' ? homeAgentConfigFromDocument : plan.command === 'fa' ? foreignAgentConfigFromDocument : mobileNodeConfigFromDocument;
        expect(() => load(parse(plan.config) as unknown), plan.role).not.toThrow();
      }
      const [ha, fa1, fa2, mn] = plans.map((p) => parse(p.config) as Doc);
      return [ha!.mobileNodes![0]!.reverseTunnel, fa1!.foreignAgent!.reverseTunnel, fa2!.foreignAgent!.reverseTunnel, mn!.mobileNode!.reverseTunnel];
    };
    expect(read(true)).toEqual(['allowed', 'offered', 'offered', true]);
    expect(read(false)).toEqual(['refused', 'none', 'none', false]);
  });
});

describe('lab plan: the data path engine (--engine)', () => {
  const keys = { mobileHome: '00112233445566778899aabbccddeeff', foreignHome1: '0102030405060708090a0b0c0d0e0f10', foreignHome2: '1112131415161718191a1b1c1d1e1f20' };

  it('writes dataPath.engine into every daemon config, which each loader reads as that engine; without --engine nothing is written (the default decides)', async () => {
    const { parse } = await import('yaml');
    const { daemonPlans } = await import('../../runtime/cli/lab/plan.js');
    const { homeAgentConfigFromDocument } = await import('../../runtime/config/ha-config.js');
    const { foreignAgentConfigFromDocument } = await import('../../runtime/config/fa-config.js');
    const { mobileNodeConfigFromDocument } = await import('../../runtime/config/mn-config.js');
    for (const engine of ['bpf', 'userspace', 'auto'] as const) {
      const plans = daemonPlans(keys, 'ip-in-ip', '/run/mip4-lab/demo', true, undefined, engine);
      for (const plan of plans) {
        const document = parse(plan.config) as { dataPath?: { engine?: string } };
        expect(document.dataPath?.engine, `${plan.role} ${engine}`).toBe(engine);
        if (plan.command === 'ha') expect(homeAgentConfigFromDocument(document).dataPath?.engine).toBe(engine);
        else if (plan.command === 'fa') expect(foreignAgentConfigFromDocument(document).dataPathEngine).toBe(engine);
        else expect(mobileNodeConfigFromDocument(document).dataPathEngine).toBe(engine);
      }
    }
    for (const plan of daemonPlans(keys, 'ip-in-ip', '/run/mip4-lab/demo', true)) expect(plan.config).not.toContain('engine:');
  });

  it('starts daemons with nsenter --net (not ip netns exec), a private mount namespace, the namespace sysfs and the host bpffs, exec-ing the daemon last', async () => {
    const { inNamespaceCommand } = await import('../../runtime/cli/lab/lab.js');
    const command = inNamespaceCommand('m4lab-demo-ha', '/run/mip4-lab/demo/ha.bpffs', ['/usr/bin/node', 'bin/mip4.js', 'ha', '--config', 'ha.yaml']);
    expect(command.slice(0, 6)).toEqual(['nsenter', '--net=/run/netns/m4lab-demo-ha', 'unshare', '--mount', '--propagation', 'slave']);
    expect(command.join(' ')).toContain('mount -t sysfs sysfs /sys');
    expect(command.join(' ')).toContain('mount --move "$hold" /sys/fs/bpf && exec "$@"');
    expect(command.slice(-7)).toEqual(['mip4-lab', '/run/mip4-lab/demo/ha.bpffs', '/usr/bin/node', 'bin/mip4.js', 'ha', '--config', 'ha.yaml']);
  });
});
