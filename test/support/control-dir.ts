/**
 * Each test file gets its own directory for the daemons' default control sockets
 * (MIP4_CONTROL_DIR, inherited by the daemons the tests spawn), so daemons of parallel test
 * files never meet at /run/mip4/ha.sock. World-writable with the sticky bit, like /tmp: the
 * example-config test runs its daemons as `nobody`.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const directory = mkdtempSync(join(tmpdir(), 'mip4-control-'));
chmodSync(directory, 0o1777);
process.env.MIP4_CONTROL_DIR = directory;
delete process.env.MIP4_CONTROL_SOCKET;

afterAll(() => rmSync(directory, { recursive: true, force: true }));
