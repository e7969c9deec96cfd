/**
 * `mip4 ha` with an `advertisement` section, in-process: the home link is opened before the
 * daemon reports `listening`, and an interface that cannot be opened stops it with exit 1 and
 * a message naming the field (the home agent's sockets are released again).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.js';
import { writePrivateFile } from '../support/files.js';

describe('mip4 ha: advertisement section', () => {
  it('an advertisement interface that cannot be opened: exit 1, the error names advertisement.interface, nothing listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mip4-ha-adv-'));
    try {
      const file = join(dir, 'ha.yaml');
      writePrivateFile(
        file,
        [
          'homeAgent: { address: 127.0.0.1, homeNetwork: 127.0.0.0/8 }',
          'mobileNodes: [{ homeAddress: 127.0.0.10, spi: 4096, key: 2b7e151628aed2a6abf7158809cf4f3c }]',
          'advertisement: { interface: nosuch9, maxInterval: 1 }',
        ].join('\n'),
      );
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['ha', '--config', file, '--listen', '127.0.0.1:0'], { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) });
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/^mip4 ha: advertisement\.interface: /);
      expect(err.join('\n')).toMatch(/nosuch9|permission|CAP_NET_RAW/);
      expect(out.some((l) => l.includes('"listening"'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
