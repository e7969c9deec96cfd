/**
 * vitest global setup: the daemons the tests start keep their default store files
 * (runtime/config/store-config.ts) in a directory of this run, not in /var/lib/mip4, and the
 * directory goes when the run ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const directory = mkdtempSync(join(tmpdir(), 'mip4-state-'));
  process.env.STATE_DIRECTORY = directory;
  return () => rmSync(directory, { recursive: true, force: true });
}
