/**
 * The mobile node's host journal: a state file that records, before each change the adapter
 * (io/linux/mn-host.ts) makes to the host, what the host had (settings, routes it replaces,
 * addresses it re-adds) and the argument vectors that undo the change. At a clean stop the
 * adapter undoes and deletes it; a process killed with SIGKILL leaves it behind, and the next
 * start restores the host from it before recording any original, so it never mistakes its own
 * leftovers for the host's configuration.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the directory); the first write links
 * the file into place so two processes cannot both own one interface. Reading validates every
 * field: the file only ever names `ip` subcommands (addr, route, neigh, link) and IPv4 interface
 * settings under /proc/sys, whatever it contains.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { interfaceNameProblem } from './native.js';

/** Where the state files live unless the caller says otherwise (tmpfs, emptied at boot). */
export const DEFAULT_STATE_DIRECTORY = '/run/mip4';

/** The interface settings the adapter changes (net.ipv4.conf.<device>.<key>); nothing else is ever written. */
export const JOURNALLED_SETTINGS = ['arp_ignore', 'arp_announce', 'accept_redirects', 'rp_filter'] as const;
/** The `ip` objects undo and restore commands may touch. */
const IP_OBJECTS = new Set(['addr', 'route', 'neigh', 'link']);

export interface JournalSetting {
  readonly device: string;
  readonly key: string;
  /** The value before the first change. */
  readonly value: string;
}

export interface HostJournal {
  readonly version: 1;
  /** The process that owns the interface: its pid and start time (field 22 of /proc/<pid>/stat). */
  readonly owner: { readonly pid: number; readonly started: string };
  readonly interfaceName: string;
  /** Commands in force, in the order they ran, each with the `ip` arguments that undo it. */
  readonly applied: ReadonlyArray<{ readonly args: readonly string[]; readonly undo: ReadonlyArray<readonly string[]> }>;
  /**
   * What the host had before the first change of each object ("route default", "addr
   * 198.51.100.10 lo"): the `ip` arguments that bring it back, empty when there was nothing.
   */
  readonly originals: ReadonlyArray<{ readonly id: string; readonly restore: ReadonlyArray<readonly string[]> }>;
  /** Settings changed, with their original values. */
  readonly settings: readonly JournalSetting[];
}

/** The state file of `interfaceName` in the current network namespace (names repeat across namespaces). */
export function stateFilePath(directory: string, interfaceName: string): string {
  return join(directory, `mn-${encodeURIComponent(interfaceName)}-${networkNamespaceId()}.json`);
}

/** The inode of this process's network namespace, or "0" where /proc does not say. */
function networkNamespaceId(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function currentOwner(): HostJournal['owner'] {
  return { pid: process.pid, started: processStartTime(process.pid) ?? '0' };
}

/** Whether the journal's owner still runs (the same process, not a later one with the same pid). */
export function ownerAlive(owner: HostJournal['owner']): boolean {
  const started = processStartTime(owner.pid);
  return started !== undefined && started === owner.started;
}

export type JournalRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'found'; readonly journal: HostJournal }
  | { readonly kind: 'invalid'; readonly reason: string };

const isArgv = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string') && IP_OBJECTS.has(v[0] as string);
const isArgvList = (v: unknown): v is string[][] => Array.isArray(v) && v.every(isArgv);

/** Validates a parsed state file; a reason names the first field that is wrong. */
export function journalFromDocument(document: unknown): { ok: true; journal: HostJournal } | { ok: false; reason: string } {
  const d = document as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null) return { ok: false, reason: 'not a JSON object' };
  if (d.version !== 1) return { ok: false, reason: `version ${JSON.stringify(d.version)}, expected 1` };
  const owner = d.owner as Record<string, unknown> | undefined;
  if (typeof owner !== 'object' || owner === null || !Number.isInteger(owner.pid) || typeof owner.started !== 'string') return { ok: false, reason: 'owner: expected {pid, started}' };
  if (typeof d.interfaceName !== 'string') return { ok: false, reason: 'interfaceName: expected a string' };
  if (!Array.isArray(d.applied) || !d.applied.every((a: { args?: unknown; undo?: unknown }) => typeof a === 'object' && a !== null && isArgv(a.args) && isArgvList(a.undo))) {
    return { ok: false, reason: 'applied: expected [{args, undo}] of ip addr|route|neigh|link arguments' };
  }
  if (!Array.isArray(d.originals) || !d.originals.every((o: { id?: unknown; restore?: unknown }) => typeof o === 'object' && o !== null && typeof o.id === 'string' && isArgvList(o.restore))) {
    return { ok: false, reason: 'originals: expected [{id, restore}] of ip addr|route arguments' };
  }
  if (!Array.isArray(d.settings)) return { ok: false, reason: 'settings: expected a list' };
  for (const s of d.settings as Array<Record<string, unknown>>) {
    const device = s?.device;
    if (typeof device !== 'string' || (device !== 'all' && device !== 'default' && interfaceNameProblem(device) !== undefined)) {
      return { ok: false, reason: `settings: ${JSON.stringify(device)} is not an interface name` };
    }
    if (!(JOURNALLED_SETTINGS as readonly unknown[]).includes(s.key)) return { ok: false, reason: `settings: ${JSON.stringify(s.key)} is not a setting mip4 changes` };
    if (typeof s.value !== 'string' || !/^-?\d{1,10}$/.test(s.value)) return { ok: false, reason: `settings: ${JSON.stringify(s.value)} is not a setting's value` };
  }
  return { ok: true, journal: d as unknown as HostJournal };
}

export function readJournal(path: string): JournalRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'invalid', reason: (error as Error).message };
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', reason: `not JSON: ${(error as Error).message}` };
  }
  const checked = journalFromDocument(document);
  return checked.ok ? { kind: 'found', journal: checked.journal } : { kind: 'invalid', reason: checked.reason };
}

function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeTemp(path: string, journal: HostJournal): string {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(journal, null, 1)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

/**
 * Creates the directory (mode 0700) if needed. Throws the fs error, or an Error saying why the
 * directory is unsafe: a file planted there by another user would be replayed as root.
 */
export function ensureStateDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = statSync(directory);
  const uid = process.getuid?.();
  if (!stat.isDirectory()) throw new Error(`${directory} is not a directory`);
  if (uid !== undefined && stat.uid !== uid) throw new Error(`${directory} belongs to uid ${stat.uid}, not to this user (uid ${uid}); use a directory of your own`);
  if ((stat.mode & 0o022) !== 0) throw new Error(`${directory} is writable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 700 it`);
}

/**
 * Writes the first version of the journal; false when a file is there already (another process
 * got there first: link(2) never replaces). Throws other fs errors.
 */
export function createJournal(path: string, journal: HostJournal): boolean {
  const temp = writeTemp(path, journal);
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
  syncDirectory(dirname(path));
  return true;
}

/** Replaces the journal atomically: a crash leaves the old version or the new, never a torn file. */
export function writeJournal(path: string, journal: HostJournal): void {
  renameSync(writeTemp(path, journal), path);
  syncDirectory(dirname(path));
}

export function removeJournal(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  syncDirectory(dirname(path));
}
