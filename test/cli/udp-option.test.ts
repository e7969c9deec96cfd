/** `--udp auto|native|dgram` (mip4 ha, mip4 fa): parsing and the start-up check. */
import { describe, expect, it } from 'vitest';
import { udpChoice, udpChoiceProblem, UsageError } from '../../runtime/cli/args.js';
import { nativeUdpUsable, resolveUdp } from '../../runtime/udp-layer.js';

describe('--udp', () => {
  it('defaults to auto and takes auto, native or dgram', () => {
    expect(udpChoice(undefined)).toBe('auto');
    for (const value of ['auto', 'native', 'dgram'] as const) expect(udpChoice(value)).toBe(value);
  });

  it('anything else is a usage error naming the option and the choices', () => {
    expect(() => udpChoice('uring')).toThrow(UsageError);
    expect(() => udpChoice('uring')).toThrow('--udp "uring": expected auto, native or dgram');
  });

  it('auto resolves to native exactly when the helper is usable here; dgram and auto never fail to start', () => {
    expect(resolveUdp('auto')).toBe(nativeUdpUsable() ? 'native' : 'dgram');
    expect(resolveUdp('dgram')).toBe('dgram');
    expect(resolveUdp('native')).toBe('native');
    expect(udpChoiceProblem('auto')).toBeUndefined();
    expect(udpChoiceProblem('dgram')).toBeUndefined();
    const problem = udpChoiceProblem('native');
    if (nativeUdpUsable()) expect(problem).toBeUndefined();
    else expect(problem).toMatch(/^--udp native: .*; start with --udp dgram \(or auto\)$/);
  });
});
