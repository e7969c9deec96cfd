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
    const { daemonPlans, mobileNodeConfig, labControlSocket } = await import('../../runtime/cli/lab/plan.js');
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
    expect(mobileNodeConfigFromDocument(parse(mobileNodeConfig(keys, 'gre', true, directory)) as unknown).control).toEqual({ socket: `${directory}/mn.sock` });
  });
});
