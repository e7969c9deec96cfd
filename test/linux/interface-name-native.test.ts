/**
 * The native helper applies io/interface-name.ts's rule to every interface name it receives
 * (`valid_interface_name` in native/args.c): the same table, case by case. Through
 * `interfaceIndex`, which needs no privileges: a valid name that names no interface gives 0.
 */
import { describe, expect, it } from 'vitest';
import { isValidInterfaceName } from '../../io/interface-name.js';
import { loadNative, nativeAvailable } from '../../io/linux/native.js';
import { INTERFACE_NAME_CASES } from '../support/interface-names.js';
import { titled } from './netns.js';

const skip = process.platform !== 'linux' ? 'not Linux' : nativeAvailable() ? undefined : 'the native helper is not built (npm ci)';

describe('native helper: interface names', () => {
  it.skipIf(skip !== undefined)(titled('refuses exactly the names io/interface-name.ts refuses', skip), () => {
    const native = loadNative();
    const disagreements: string[] = [];
    for (const c of INTERFACE_NAME_CASES) {
      expect(isValidInterfaceName(c.name), c.what).toBe(c.valid);
      let thrown: unknown;
      try {
        native.interfaceIndex(c.name);
      } catch (error) {
        thrown = error;
      }
      const refused = thrown instanceof TypeError || thrown instanceof RangeError;
      if (thrown !== undefined && !refused) throw thrown;
      if (refused === c.valid) disagreements.push(`${c.what} ${JSON.stringify(c.name)}: C ${refused ? 'refuses' : 'accepts'}`);
    }
    expect(disagreements).toEqual([]);
  });

  it.skipIf(skip !== undefined)(titled('refuses a name with a forbidden character as a TypeError before any system call', skip), () => {
    const native = loadNative();
    expect(() => native.interfaceIndex('eth\0evil')).toThrow(TypeError);
    expect(() => native.openPacket('a#b')).toThrow(TypeError);
    expect(() => native.setMtu('a/b', 1400)).toThrow(TypeError);
  });
});
