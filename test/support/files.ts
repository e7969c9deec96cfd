/**
 * Configuration and key files as an operator must write them: readable by the owner only
 * (mip4 refuses a key file, or a config holding inline keys, that group or others can read).
 */
import { chmodSync, writeFileSync } from 'node:fs';

/** Writes `data` to `path` with mode 0600 (also when the file existed with another mode). */
export function writePrivateFile(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}
