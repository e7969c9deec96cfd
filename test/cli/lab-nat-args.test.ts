/** `mip4 lab` arguments of the NAT (runtime/cli/lab.ts): bad ones are usage errors naming the option, before anything is built. */
import { describe, expect, it } from 'vitest';
import { labCommand } from '../../runtime/cli/lab.js';
import { UsageError, type Io } from '../../runtime/cli/args.js';

const io: Io = { out: () => undefined, err: () => undefined };
const run = (...argv: string[]) => labCommand.run([...argv, '--name', 'nat-args-never-built', '--state-dir', '/nonexistent-mip4-lab'], io);

describe('mip4 lab: NAT options', () => {
  it('--nat-udp-timeout and --nat-keepalive need --nat', async () => {
    await expect(run('up', '--nat-udp-timeout', '5')).rejects.toThrow(new UsageError('--nat-udp-timeout needs --nat'));
    await expect(run('up', '--nat-keepalive', '2')).rejects.toThrow(new UsageError('--nat-keepalive needs --nat'));
  });

  it('they take whole seconds from 1 to 3600', async () => {
    for (const bad of ['0', '3601', '2.5', 'soon']) {
      await expect(run('up', '--nat', '--nat-udp-timeout', bad)).rejects.toThrow(`--nat-udp-timeout ${JSON.stringify(bad)}: expected whole seconds from 1 to 3600`);
    }
    await expect(run('up', '--nat', '--nat-keepalive', '0')).rejects.toThrow('--nat-keepalive "0": expected whole seconds from 1 to 3600');
  });

  it("'nat' knows only 'restart'; --wait-ms takes 0 to 600000", async () => {
    await expect(run('nat')).rejects.toThrow("expected 'nat restart'");
    await expect(run('nat', 'reboot')).rejects.toThrow("expected 'nat restart'");
    await expect(run('nat', 'restart', 'now')).rejects.toThrow("expected 'nat restart'");
    await expect(run('nat', 'restart', '--wait-ms=-1')).rejects.toThrow('--wait-ms "-1": expected an integer from 0 to 600000');
  });

  it('the usage names the options and the action', () => {
    expect(labCommand.usage).toContain('[--nat [--nat-udp-timeout S] [--nat-keepalive S]]');
    expect(labCommand.usage).toContain('mip4 lab nat restart [--name NAME] [--wait-ms N]');
  });
});

describe('mip4 lab: --engine', () => {
  it('takes bpf, userspace or auto; anything else is a usage error naming the choices', async () => {
    await expect(run('up', '--engine', 'ebpf')).rejects.toThrow(new UsageError('--engine "ebpf": expected one of bpf, userspace, auto'));
    expect(labCommand.usage).toContain('[--engine bpf|userspace|auto]');
  });
});
