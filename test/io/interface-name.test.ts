/** io/interface-name.ts: the one interface-name rule (the C side: test/linux/interface-name-native.test.ts). */
import { describe, expect, it } from 'vitest';
import { interfaceNameProblem, isValidInterfaceName } from '../../io/interface-name.js';
import { INTERFACE_NAME_CASES } from '../support/interface-names.js';

describe('interface names', () => {
  it.each(INTERFACE_NAME_CASES.map((c) => [c.valid ? 'accepts' : 'refuses', c.what, c]))('%s %s', (_, __, c) => {
    expect(isValidInterfaceName(c.name)).toBe(c.valid);
    const problem = interfaceNameProblem(c.name);
    if (c.valid) expect(problem).toBeUndefined();
    else expect(problem).toMatch(/interface name|cannot be/);
  });

  it('shows the name with JSON escapes, so a control character cannot reach a terminal raw', () => {
    const problem = interfaceNameProblem('a\x1b[31m')!;
    expect(problem).toContain('\\u001b');
    expect(problem).not.toContain('\x1b');
  });

  it('names the byte count of a long name and the character at fault', () => {
    expect(interfaceNameProblem('ü'.repeat(8))).toContain('16 bytes');
    expect(interfaceNameProblem('eth0:1')).toContain('":"');
  });
});
