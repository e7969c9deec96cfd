/**
 * The `control` section of the three daemons' configs: a socket path, or none/false; errors
 * name control.socket and say what to write.
 */
import { describe, expect, it } from 'vitest';
import { homeAgentConfigFromDocument } from '../../runtime/config/ha-config.js';
import { foreignAgentConfigFromDocument } from '../../runtime/config/fa-config.js';
import { mobileNodeConfigFromDocument } from '../../runtime/config/mn-config.js';
import { ConfigError } from '../../runtime/config/config-schema.js';

const ha = (control: unknown) => ({
  homeAgent: { address: '198.51.100.1', homeNetwork: '198.51.100.0/24' },
  mobileNodes: [{ homeAddress: '198.51.100.10', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' }],
  ...(control === undefined ? {} : { control }),
});
const fa = (control: unknown) => ({ foreignAgent: { interface: 'eth1', address: '203.0.113.1' }, control });
const mn = (control: unknown) => ({
  mobileNode: { interface: 'eth0', homeAddress: '198.51.100.10', homeAgent: '198.51.100.1', homeNetwork: '198.51.100.0/24' },
  homeAgentAssociation: { spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' },
  control,
});

function issues(load: () => unknown): Array<{ path: string; message: string }> {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('control section', () => {
  it('absent: no control field, so the daemon uses /run/mip4/<role>.sock', () => {
    expect('control' in homeAgentConfigFromDocument(ha(undefined))).toBe(false);
  });

  it('a path in each daemon\'s config; none and false turn the socket off', () => {
    expect(homeAgentConfigFromDocument(ha({ socket: '/run/mip4/ha-2.sock' })).control).toEqual({ socket: '/run/mip4/ha-2.sock' });
    expect(foreignAgentConfigFromDocument(fa({ socket: '/var/run/fa.sock' })).control).toEqual({ socket: '/var/run/fa.sock' });
    expect(mobileNodeConfigFromDocument(mn({ socket: '/tmp/mn.sock' })).control).toEqual({ socket: '/tmp/mn.sock' });
    expect(homeAgentConfigFromDocument(ha({ socket: 'none' })).control).toEqual({ socket: null });
    expect(foreignAgentConfigFromDocument(fa({ socket: false })).control).toEqual({ socket: null });
  });

  it('a relative path, a path too long for a Unix socket, a number, a missing or unknown field: errors at control.socket', () => {
    expect(issues(() => homeAgentConfigFromDocument(ha({ socket: 'ha.sock' })))).toEqual([
      { path: 'control.socket', message: '"ha.sock" is not an absolute path; write one such as /run/mip4/ha.sock, or none' },
    ]);
    expect(issues(() => mobileNodeConfigFromDocument(mn({ socket: `/tmp/${'x'.repeat(120)}.sock` })))).toEqual([
      { path: 'control.socket', message: 'a Unix socket path is at most 107 bytes (this one has 130); choose a shorter one' },
    ]);
    expect(issues(() => foreignAgentConfigFromDocument(fa({ socket: 7 })))).toEqual([
      { path: 'control.socket', message: 'expected the path of a Unix socket, e.g. /run/mip4/ha.sock, or none (or false) for no control socket' },
    ]);
    expect(issues(() => homeAgentConfigFromDocument(ha({}))).map((i) => i.path)).toEqual(['control.socket']);
    expect(issues(() => homeAgentConfigFromDocument(ha({ socket: '/a.sock', mode: 600 })))).toEqual([{ path: 'control.mode', message: 'unknown field (check its spelling)' }]);
  });
});
