/** `mip4 conformance --role fa|mn` arguments (runtime/cli/conformance/agent-mode.ts): usage errors name the fix. */
import { describe, it, expect } from 'vitest';
import { AgentConformanceUsageError, agentConformanceCommand, parseAgentConformanceArgs } from '../../runtime/cli/conformance/agent-mode.js';
import { exampleFaConfig, exampleMnConfig } from '../../runtime/cli/conformance/agent-topology.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadForeignAgentConfig } from '../../runtime/config/fa-config.js';
import { loadMobileNodeConfig } from '../../runtime/config/mn-config.js';
import { FA_TOPOLOGY, MN_TOPOLOGY } from '../../runtime/cli/conformance/agent-topology.js';

describe('parseAgentConformanceArgs', () => {
  it('reads a run: role, agent command, --json, the start timeout', () => {
    expect(parseAgentConformanceArgs(['--role', 'fa', '--agent', 'mip4 fa --config {dir}/fa.yaml', '--json', '--start-timeout-seconds', '5'])).toEqual({
      kind: 'run',
      options: { role: 'fa', agent: 'mip4 fa --config {dir}/fa.yaml', startTimeoutMs: 5000 },
      json: true,
    });
    expect(parseAgentConformanceArgs(['--role', 'mn', '--agent', 'x'])).toMatchObject({ kind: 'run', options: { role: 'mn', startTimeoutMs: 20_000 }, json: false });
  });

  it('prints the example config of the role', () => {
    expect(parseAgentConformanceArgs(['--role', 'fa', '--example-config'])).toEqual({ kind: 'example-config', role: 'fa', text: exampleFaConfig() });
    expect(parseAgentConformanceArgs(['--role', 'mn', '--example-config'])).toEqual({ kind: 'example-config', role: 'mn', text: exampleMnConfig() });
  });

  it.each([
    [[], /--role fa\|mn is required/],
    [['--role', 'ha', '--agent', 'x'], /--role must be fa or mn/],
    [['--role', 'fa'], /--agent '<command>' is required.*mip4 fa --config \{dir\}\/fa.yaml/],
    [['--role', 'mn', '--agent', '  '], /--agent '<command>' is required/],
    [['--role', 'fa', '--agent', 'x', '--start-timeout-seconds', '0'], /from 1 to 120, not '0'/],
    [['--role', 'fa', '--agent', 'x', '--start-timeout-seconds', '2.5'], /from 1 to 120/],
    [['--role', 'fa', '--agent', 'x', '--bogus'], /bogus/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseAgentConformanceArgs(argv)).toThrow(AgentConformanceUsageError);
    expect(() => parseAgentConformanceArgs(argv)).toThrow(message);
  });
});

describe('the example configs of the fixed topology', () => {
  it("load with mip4's own loaders and use the topology's interfaces and addresses", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mip4-conformance-config-'));
    try {
      writeFileSync(join(dir, 'fa.yaml'), exampleFaConfig(), { mode: 0o600 });
      writeFileSync(join(dir, 'mn.yaml'), exampleMnConfig(), { mode: 0o600 });
      const fa = loadForeignAgentConfig(join(dir, 'fa.yaml'));
      const mn = loadMobileNodeConfig(join(dir, 'mn.yaml'));
      expect(JSON.stringify(fa)).toContain(FA_TOPOLOGY.visitorInterface);
      expect(JSON.stringify(mn)).toContain(MN_TOPOLOGY.nodeInterface);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agentConformanceCommand', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) }, out, err };
  };

  it('a usage error: exit 2, the message and the usage on stderr', async () => {
    const { io, out, err } = capture();
    expect(await agentConformanceCommand(['--role', 'fa'], io)).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/--agent '<command>' is required[\s\S]*usage: mip4 conformance --role fa\|mn/);
  });

  it('--example-config: the config on stdout, exit 0', async () => {
    const { io, out } = capture();
    expect(await agentConformanceCommand(['--role', 'mn', '--example-config'], io)).toBe(0);
    expect(out.join('\n')).toBe(exampleMnConfig().trimEnd());
  });
});
