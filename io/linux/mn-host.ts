/**
 * The MnHost service on Linux: iproute2 commands (`ip addr|route|neigh|link`, one process per
 * command with its arguments as a vector, never a shell or `ip -batch` text) and interface
 * settings under /proc/sys/net/ipv4/conf, applied once per move.
 *
 * The plan per attachment is a pure function (`attachmentSteps`, unit-tested); the adapter runs
 * it, undoes what the previous attachment set up and the next does not repeat, and on close
 * undoes the last and puts back what the host had. Before each change it records in a state
 * file (io/linux/host-journal.ts, `/run/mip4/mn-<interface>-<netns>.json`) how to undo it and
 * what it replaces: the original value of each setting, the routes a `route replace` takes the
 * place of (the previous default route among them) and addresses that were there already. A
 * process killed without its finalizers (SIGKILL) leaves the file; the next start restores the
 * host from it first, so its leftovers are never taken for the host's own configuration.
 *
 * ARP away from home (4.6): the home address moves to `lo` and the interface gets
 * arp_ignore=1 (answer only for addresses configured on the interface itself), so the kernel
 * never answers ARP for the home address on a foreign link; the mobile node answers the one
 * case 4.6 allows (a foreign agent's unicast Request) itself, on its packet socket.
 * arp_announce=2 makes the kernel's own ARP Requests (co-located mode, for the foreign
 * gateway) carry the care-of address, never the home address. Through a foreign agent the
 * kernel needs no ARP at all: its only next hop is the agent, with a permanent neighbour entry
 * from the Advertisement's link-layer source (R4.2.1-7, R4.6-14). Redirects are not accepted
 * away from home (R4.2.1-8). `ip link set arp off` was not chosen: it would also silence the
 * co-located care-of address, which 4.6 says the node should answer for.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Effect, Layer, type Scope } from 'effect';
import { MnHost, MnHostError, type HostAttachment, type MnHostAdapter, type MnHostSettings } from '../mn-host.js';
import { ipv4ToString, type Ipv4Address } from '../wire/bytes.js';
import {
  createJournal,
  currentOwner,
  DEFAULT_STATE_DIRECTORY,
  ensureStateDirectory,
  ownerAlive,
  readJournal,
  removeJournal,
  stateFilePath,
  writeJournal,
  type HostJournal,
  type JournalSetting,
} from './host-journal.js';
import { interfaceNameProblem } from './native.js';

/** One step of a plan: an `ip` command (with the command that undoes it), or an interface setting. */
export type HostStep =
  | {
      readonly kind: 'ip';
      readonly args: readonly string[];
      readonly undo?: readonly string[];
      /** A removal of something that may not be there: "not there" is success, with nothing to undo. */
      readonly ifPresent?: boolean;
    }
  /** net.ipv4.conf.<device>.<key> = value; the original value is restored later. */
  | { readonly kind: 'sysctl'; readonly device: string; readonly key: string; readonly value: string };

/** Interface settings away from home (see the module comment). */
function awaySettings(device: string): HostStep[] {
  return [
    { kind: 'sysctl', device, key: 'arp_ignore', value: '1' },
    { kind: 'sysctl', device, key: 'arp_announce', value: '2' },
    { kind: 'sysctl', device, key: 'accept_redirects', value: '0' },
  ];
}

/** The home address as a local address of `lo` only: the stack accepts it, no interface ARPs for it. */
function homeOnLoopback(home: string): HostStep {
  return { kind: 'ip', args: ['addr', 'replace', `${home}/32`, 'dev', 'lo'], undo: ['addr', 'del', `${home}/32`, 'dev', 'lo'] };
}

/**
 * Away from home the home prefix leaves the interface (4.2.1: the node is not on its home
 * network), or its on-link route would send packets for the home network, the home agent among
 * them, to a link where they are not. A host configured at home before the node started has it
 * there; it is put back at stop.
 */
function homePrefixOff(settings: MnHostSettings, home: string): HostStep {
  const cidr = `${home}/${settings.homePrefixLength}`;
  const dev = settings.interfaceName;
  return { kind: 'ip', args: ['addr', 'del', cidr, 'dev', dev], undo: ['addr', 'add', cidr, 'dev', dev], ifPresent: true };
}

/** The steps that make the host match `attachment` (pure). */
export function attachmentSteps(settings: MnHostSettings, attachment: HostAttachment): HostStep[] {
  const dev = settings.interfaceName;
  const home = ipv4ToString(settings.homeAddress);
  switch (attachment.kind) {
    case 'at-home': {
      // 4.6: at home the node is an ordinary host: its address on the interface, ARP as usual.
      const cidr = `${home}/${settings.homePrefixLength}`;
      const steps: HostStep[] = [{ kind: 'ip', args: ['addr', 'replace', cidr, 'dev', dev], undo: ['addr', 'del', cidr, 'dev', dev] }];
      if (settings.homeGateway !== undefined) {
        const gateway = ipv4ToString(settings.homeGateway);
        steps.push({
          kind: 'ip',
          args: ['route', 'replace', 'default', 'via', gateway, 'dev', dev, 'src', home],
          undo: ['route', 'del', 'default', 'via', gateway, 'dev', dev],
        });
      }
      return steps;
    }
    case 'foreign-agent': {
      const router = ipv4ToString(attachment.router);
      return [
        ...awaySettings(dev),
        homePrefixOff(settings, home),
        homeOnLoopback(home),
        // R4.2.1-7, R4.6-14: the router's link-layer address from the Advertisement, never ARP.
        {
          kind: 'ip',
          args: ['neigh', 'replace', router, 'lladdr', attachment.routerLinkAddress, 'nud', 'permanent', 'dev', dev],
          undo: ['neigh', 'del', router, 'dev', dev],
        },
        { kind: 'ip', args: ['route', 'replace', `${router}/32`, 'dev', dev, 'src', home], undo: ['route', 'del', `${router}/32`, 'dev', dev] },
        // R4.2.1-2: the default router; packets leave with the home address as source (4.2.1).
        {
          kind: 'ip',
          args: ['route', 'replace', 'default', 'via', router, 'dev', dev, 'src', home],
          undo: ['route', 'del', 'default', 'via', router, 'dev', dev],
        },
      ];
    }
    case 'co-located': {
      const careOf = `${ipv4ToString(attachment.careOfAddress)}/${attachment.prefixLength ?? 32}`;
      const steps: HostStep[] = [
        ...awaySettings(dev),
        homePrefixOff(settings, home),
        homeOnLoopback(home),
        { kind: 'ip', args: ['addr', 'replace', careOf, 'dev', dev], undo: ['addr', 'del', careOf, 'dev', dev] },
      ];
      const foreignGateway = attachment.gateway ?? settings.foreignGateway;
      if (foreignGateway !== undefined) {
        const gateway = ipv4ToString(foreignGateway);
        // The configured link-layer address belongs to the configured gateway only.
        if (settings.foreignGatewayLinkAddress !== undefined && foreignGateway === settings.foreignGateway) {
          steps.push({
            kind: 'ip',
            args: ['neigh', 'replace', gateway, 'lladdr', settings.foreignGatewayLinkAddress, 'nud', 'permanent', 'dev', dev],
            undo: ['neigh', 'del', gateway, 'dev', dev],
          });
        }
        // The node's own traffic keeps its home address as source (the point of Mobile IP);
        // only its Requests carry the care-of address, written by the node itself (3.6.1.1).
        steps.push({
          kind: 'ip',
          args: ['route', 'replace', 'default', 'via', gateway, 'dev', dev, 'src', home],
          undo: ['route', 'del', 'default', 'via', gateway, 'dev', dev],
        });
      }
      if (settings.tunnelDevice !== undefined) {
        // Decapsulated datagrams are written into the TUN device: it must be up, and reverse-
        // path filtering off on it (their sources are routed out the other interface). The
        // effective rp_filter is the maximum of "all" and the device's, so both are set.
        steps.push(
          { kind: 'ip', args: ['link', 'set', settings.tunnelDevice, 'up'] },
          { kind: 'sysctl', device: settings.tunnelDevice, key: 'rp_filter', value: '0' },
          { kind: 'sysctl', device: 'all', key: 'rp_filter', value: '0' },
        );
      }
      return [...steps, ...reverseTunnelSteps(settings, home, foreignGateway)];
    }
  }
}

/**
 * RFC 3024 5.2, co-located: the node's own datagrams into the TUN device (two /1 routes, more
 * specific than any default route, which they leave in place), source the home address; the home
 * agent by the real gateway, so the node's tunnel packets and Requests leave by the interface.
 * The gateway is the attachment's (learned from the kernel's default route) or the configured
 * one; nothing without a TUN device and a gateway to reach the home agent by.
 */
function reverseTunnelSteps(settings: MnHostSettings, home: string, foreignGateway: Ipv4Address | undefined): HostStep[] {
  const tun = settings.tunnelDevice;
  if (settings.reverseTunnel === undefined || tun === undefined || foreignGateway === undefined) return [];
  const dev = settings.interfaceName;
  const gateway = ipv4ToString(foreignGateway);
  const homeAgent = `${ipv4ToString(settings.reverseTunnel.homeAgent)}/32`;
  return [
    { kind: 'ip', args: ['route', 'replace', homeAgent, 'via', gateway, 'dev', dev], undo: ['route', 'del', homeAgent, 'via', gateway, 'dev', dev] },
    ...['0.0.0.0/1', '128.0.0.0/1'].map(
      (half): HostStep => ({ kind: 'ip', args: ['route', 'replace', half, 'dev', tun, 'src', home], undo: ['route', 'del', half, 'dev', tun] }),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// What the host had: the originals a change replaces, as `ip` arguments that bring them back

/** The object a command changes whose earlier state is worth keeping ("route default", "addr 198.51.100.10 lo"). */
export function originalId(args: readonly string[]): string | undefined {
  if (args[0] === 'route' && args[1] === 'replace' && args[2] !== undefined) return `route ${args[2]}`;
  if (args[0] === 'addr' && args[1] === 'replace' && args[2] !== undefined && args[3] === 'dev' && args[4] !== undefined) {
    return `addr ${args[2].split('/')[0]} ${args[4]}`;
  }
  return undefined;
}

type Json = Record<string, unknown>;
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * `ip route replace` arguments re-creating each route of `ip -4 -j route show exact DST table
 * main` (pure): `route replace` takes the place of a route with the same destination, metric
 * and table, so the routes there before are recorded and put back at stop.
 */
export function routeRestoreCommands(routes: unknown): string[][] {
  if (!Array.isArray(routes)) return [];
  return routes.flatMap((route: Json) => {
    const destination = text(route?.dst);
    if (destination === undefined) return [];
    const args = ['route', 'replace'];
    const type = text(route.type);
    if (type !== undefined && type !== 'unicast') args.push(type);
    args.push(destination);
    const optional = (name: string, value: unknown) => {
      const v = text(value);
      if (v !== undefined) args.push(name, v);
    };
    optional('via', route.gateway);
    optional('dev', route.dev);
    optional('proto', route.protocol);
    optional('scope', route.scope);
    optional('src', route.prefsrc);
    optional('metric', route.metric);
    if (Array.isArray(route.flags) && route.flags.includes('onlink')) args.push('onlink');
    if (Array.isArray(route.nexthops)) {
      for (const hop of route.nexthops as Json[]) {
        args.push('nexthop');
        const before = args.length;
        const v = text(hop?.gateway);
        if (v !== undefined) args.push('via', v);
        const d = text(hop?.dev);
        if (d !== undefined) args.push('dev', d);
        const w = text(hop?.weight);
        if (w !== undefined) args.push('weight', w);
        if (args.length === before) args.pop();
      }
    }
    args.push('table', 'main');
    return [args];
  });
}

/** `ip addr replace` arguments re-creating `address` on `device` if `ip -4 -j addr show dev DEVICE` lists it (pure). */
export function addressRestoreCommands(links: unknown, address: string, device: string): string[][] {
  if (!Array.isArray(links)) return [];
  const found = links.flatMap((link: Json) => (Array.isArray(link?.addr_info) ? (link.addr_info as Json[]) : [])).filter((a) => a?.family === 'inet' && a.local === address);
  return found.flatMap((a) => {
    const length = text(a.prefixlen);
    if (length === undefined) return [];
    const args = ['addr', 'replace', `${address}/${length}`, 'dev', device];
    const broadcast = text(a.broadcast);
    if (broadcast !== undefined) args.push('broadcast', broadcast);
    const scope = text(a.scope);
    if (scope !== undefined && scope !== 'global') args.push('scope', scope);
    return [args];
  });
}

// ---------------------------------------------------------------------------------------------
// Running commands: one process per command, its arguments as a vector, nothing on its stdin

interface CommandResult {
  readonly ok: boolean;
  readonly stdout: string;
  /** The tool's complaint, or the spawn error's message. */
  readonly stderr: string;
  /** The spawn error's code (ENOENT: no such program). */
  readonly code?: string;
}

const OUTPUT_LIMIT = 1 << 20;

/**
 * Runs FILE ARGS without a shell. stdin is not a pipe, so there is nothing to write and no
 * EPIPE; a spawn error or a timeout becomes a failed result, never an exception.
 */
function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const settle = (result: CommandResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    let child;
    try {
      child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    } catch (error) {
      settle({ ok: false, stdout: '', stderr: (error as Error).message, code: (error as NodeJS.ErrnoException).code ?? 'spawn' });
      return;
    }
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += chunk;
    });
    child.on('error', (error: NodeJS.ErrnoException) => settle({ ok: false, stdout, stderr: error.message, code: error.code ?? 'spawn' }));
    child.on('close', (status, signal) =>
      settle({ ok: status === 0, stdout, stderr: status === 0 ? stderr : stderr.trim() || (signal !== null ? `killed by ${signal}` : `exit status ${status}`) }),
    );
  });
}

/** Kernel answers meaning the thing to remove is gone already (with its device, or never made). */
const ALREADY_GONE = /No such process|Cannot assign requested address|Address not found|Cannot find device|No such device|does not exist/i;

// ---------------------------------------------------------------------------------------------
// The adapter

export interface LinuxMnHostOptions {
  /** Directory of the state files (default /run/mip4); created with mode 0700. */
  readonly stateDirectory?: string;
  /** Told what was restored after a crash and at stop, and what could not be. */
  readonly onEvent?: (event: MnHostRestoreEvent) => void;
  /** The iproute2 program (default `ip` on PATH). */
  readonly ipCommand?: string;
  /** Where net.ipv4.conf's files are (default /proc/sys/net/ipv4/conf). */
  readonly settingsRoot?: string;
  /** Per command (default 10 s). */
  readonly commandTimeoutMs?: number;
}

export interface MnHostRestoreEvent {
  /** host-recovered: a state file left by a process that died was replayed at start; host-restored: at stop. */
  readonly event: 'host-recovered' | 'host-restored';
  readonly stateFile: string;
  /** The process that left the state file (host-recovered). */
  readonly crashedPid?: number;
  /** Undo commands that ran. */
  readonly undone: number;
  /** Undo commands whose object was gone already (removed with its device, or never made). */
  readonly alreadyGone: number;
  /** Routes, addresses and settings put back as they were. */
  readonly restored: number;
  /** What could not be undone or restored, each with the command and the kernel's answer. */
  readonly failures: readonly string[];
}

type MutableJournal = {
  version: 1;
  owner: HostJournal['owner'];
  interfaceName: string;
  applied: Array<{ args: readonly string[]; undo: ReadonlyArray<readonly string[]> }>;
  originals: Array<{ id: string; restore: ReadonlyArray<readonly string[]> }>;
  settings: JournalSetting[];
};

const stepKey = (args: readonly string[]) => args.join('\u0000');
const settingId = (device: string, key: string) => `${device}/${key}`;

/** The adapter's state and its operations (exported for the tests and the benchmark). */
export function linuxMnHostAdapter(
  settings: MnHostSettings,
  options: LinuxMnHostOptions = {},
): MnHostAdapter & {
  /** Undoes everything and removes the state file (the scope's finalizer). */
  readonly restore: Effect.Effect<MnHostRestoreEvent>;
  /** Restores what a journal of a dead process lists, and removes the state file. */
  readonly restoreFrom: (journal: Pick<HostJournal, 'applied' | 'originals' | 'settings'>) => Effect.Effect<Omit<MnHostRestoreEvent, 'event'>>;
  readonly stateFile: string;
} {
  const directory = options.stateDirectory ?? DEFAULT_STATE_DIRECTORY;
  const stateFile = stateFilePath(directory, settings.interfaceName);
  const ipCommand = options.ipCommand ?? 'ip';
  const settingsRoot = options.settingsRoot ?? '/proc/sys/net/ipv4/conf';
  const timeoutMs = options.commandTimeoutMs ?? 10_000;
  const journal: MutableJournal = { version: 1, owner: currentOwner(), interfaceName: settings.interfaceName, applied: [], originals: [], settings: [] };
  // One change at a time: an attachment being applied while the scope closes finishes first.
  const lock = Effect.unsafeMakeSemaphore(1);
  let closed = false;

  const runIp = (args: readonly string[]): Effect.Effect<string, MnHostError> => {
    const operation = `ip ${args.join(' ')}`;
    return Effect.flatMap(
      Effect.promise(() => runCommand(ipCommand, args, timeoutMs)),
      (result): Effect.Effect<string, MnHostError> => {
        if (result.ok) return Effect.succeed(result.stdout);
        if (result.code === 'ENOENT') {
          return Effect.fail(new MnHostError({ reason: 'unavailable', operation, message: `${operation}: iproute2 (${ipCommand}) is not installed` }));
        }
        const permission = /Operation not permitted|Permission denied/i.test(result.stderr);
        return Effect.fail(
          new MnHostError({
            reason: permission ? 'permission' : 'command',
            operation,
            message: permission ? `${operation}: not permitted; run as root or grant CAP_NET_ADMIN` : `${operation} failed: ${result.stderr}`,
          }),
        );
      },
    );
  };

  const settingPath = (device: string, key: string) => join(settingsRoot, device, key);
  const settingName = (device: string, key: string) => `net.ipv4.conf.${device}.${key}`;
  const writeSetting = (device: string, key: string, value: string): Effect.Effect<void, MnHostError> => {
    const operation = `${settingName(device, key)}=${value}`;
    return Effect.try({
      try: () => {
        const problem = device === 'all' || device === 'default' ? undefined : interfaceNameProblem(device);
        if (problem !== undefined) throw Object.assign(new Error(problem), { code: 'EINVAL' });
        writeFileSync(settingPath(device, key), value);
      },
      catch: (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
        return new MnHostError({
          reason: denied ? 'permission' : code === 'ENOENT' ? 'unavailable' : 'command',
          operation,
          message: code === 'ENOENT' ? `cannot set ${operation}: no interface ${device}` : `cannot set ${operation}: ${(error as Error).message}${denied ? ' (run as root)' : ''}`,
        });
      },
    });
  };
  const readSetting = (device: string, key: string): Effect.Effect<string, MnHostError> =>
    Effect.try({
      try: () => readFileSync(settingPath(device, key), 'utf8').trim(),
      catch: () => new MnHostError({ reason: 'unavailable', operation: settingName(device, key), message: `cannot read ${settingName(device, key)}: no interface ${device}` }),
    });

  /** Writes the journal before a change; the change is not made if this fails. */
  const persist = Effect.try({
    try: () => writeJournal(stateFile, journal),
    catch: (error) =>
      new MnHostError({ reason: 'command', operation: `write ${stateFile}`, message: `cannot record the host's state in ${stateFile}: ${(error as Error).message}` }),
  });

  /** The state of the object `args` changes, as commands that bring it back (first change only). */
  const captureOriginal = (args: readonly string[]): Effect.Effect<void, MnHostError> =>
    Effect.gen(function* () {
      const id = originalId(args);
      if (id === undefined || journal.originals.some((o) => o.id === id)) return;
      let restore: string[][];
      if (args[0] === 'route') {
        restore = routeRestoreCommands(parseJson(yield* runIp(['-4', '-j', 'route', 'show', 'exact', args[2]!, 'table', 'main'])));
      } else {
        const [address] = args[2]!.split('/');
        restore = addressRestoreCommands(parseJson(yield* runIp(['-4', '-j', 'addr', 'show', 'dev', args[4]!])), address!, args[4]!);
      }
      journal.originals.push({ id, restore });
    });

  /** Runs commands whose failure is expected at times; counts what happened instead of failing. */
  const runAll = (commands: ReadonlyArray<readonly string[]>, tally: { ran: number; gone: number; failures: string[] }) =>
    Effect.forEach(
      commands,
      (args) =>
        runIp(args).pipe(
          Effect.match({
            onSuccess: () => void tally.ran++,
            onFailure: (error) => {
              if (ALREADY_GONE.test(error.message)) tally.gone++;
              else tally.failures.push(error.message);
            },
          }),
        ),
      { discard: true },
    );

  /**
   * Undoes what `keep` does not contain, most recent first, one command at a time (a failure
   * there means the thing is gone already, e.g. with its device: ignored). Commands the next
   * attachment repeats stay in force, so a move between two foreign agents never drops the
   * home address.
   */
  const undoExcept = (keep: ReadonlySet<string>) =>
    Effect.suspend(() => {
      const leaving = journal.applied.filter((a) => !keep.has(stepKey(a.args)));
      if (leaving.length === 0) return Effect.void;
      journal.applied = journal.applied.filter((a) => keep.has(stepKey(a.args)));
      const tally = { ran: 0, gone: 0, failures: [] as string[] };
      return Effect.zipRight(runAll(leaving.flatMap((a) => a.undo).reverse(), tally), persist);
    });
  /** Puts back the settings the next attachment does not change. */
  const restoreSettings = (keep: ReadonlySet<string>) =>
    Effect.suspend(() => {
      const leaving = journal.settings.filter((s) => !keep.has(settingId(s.device, s.key)));
      if (leaving.length === 0) return Effect.void;
      journal.settings = journal.settings.filter((s) => keep.has(settingId(s.device, s.key)));
      return Effect.zipRight(
        Effect.forEach(leaving, (s) => Effect.ignore(writeSetting(s.device, s.key, s.value)), { discard: true }),
        persist,
      );
    });

  const apply = (attachment: HostAttachment): Effect.Effect<void, MnHostError> =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        if (closed) {
          return yield* Effect.fail(new MnHostError({ reason: 'command', operation: 'apply', message: `the host adapter of ${settings.interfaceName} is closed` }));
        }
        const steps = attachmentSteps(settings, attachment);
        const commandKeys = new Set(steps.flatMap((s) => (s.kind === 'ip' ? [stepKey(s.args)] : [])));
        yield* undoExcept(commandKeys);
        yield* restoreSettings(new Set(steps.flatMap((s) => (s.kind === 'sysctl' ? [settingId(s.device, s.key)] : []))));
        const inForce = new Set(journal.applied.map((a) => stepKey(a.args)));
        for (const step of steps) {
          if (step.kind === 'ip') {
            if (inForce.has(stepKey(step.args))) continue;
            // Recorded before the change: a crash during it leaves an undo that may find nothing
            // to undo (counted as gone), never a change without its undo.
            yield* captureOriginal(step.args);
            const entry = { args: step.args, undo: step.undo !== undefined ? [step.undo] : [] };
            journal.applied.push(entry);
            yield* persist;
            const ran = yield* Effect.either(runIp(step.args));
            if (ran._tag === 'Left') {
              journal.applied = journal.applied.filter((a) => a !== entry);
              yield* Effect.ignore(persist);
              if (step.ifPresent === true && ALREADY_GONE.test(ran.left.message)) continue;
              return yield* Effect.fail(ran.left);
            }
            continue;
          }
          if (!journal.settings.some((s) => s.device === step.device && s.key === step.key)) {
            journal.settings.push({ device: step.device, key: step.key, value: yield* readSetting(step.device, step.key) });
            yield* persist;
          }
          yield* writeSetting(step.device, step.key, step.value);
        }
      }),
    );

  /** Restores what `recorded` lists and removes the state file (never fails: failures are listed). */
  const restoreFrom = (recorded: Pick<HostJournal, 'applied' | 'originals' | 'settings'>) =>
    restoreHost(recorded, runAll, writeSetting).pipe(
      Effect.map((tally) => {
        try {
          removeJournal(stateFile);
        } catch (error) {
          tally.failures.push(`cannot remove ${stateFile}: ${(error as Error).message}`);
        }
        return { stateFile, ...tally };
      }),
    );

  return {
    apply,
    stateFile,
    restoreFrom,
    restore: lock.withPermits(1)(
      Effect.suspend(() => {
        closed = true;
        return Effect.map(restoreFrom(journal), (tally): MnHostRestoreEvent => ({ event: 'host-restored', ...tally }));
      }),
    ),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Brings the host back to what `journal` recorded: undo commands, most recent first; then the
 * addresses and routes that were there before (addresses first: a route may name one as its
 * source); then the settings. Never fails: what cannot be done is listed.
 */
function restoreHost(
  journal: Pick<HostJournal, 'applied' | 'originals' | 'settings'>,
  runAll: (commands: ReadonlyArray<readonly string[]>, tally: { ran: number; gone: number; failures: string[] }) => Effect.Effect<void>,
  writeSetting: (device: string, key: string, value: string) => Effect.Effect<void, MnHostError>,
): Effect.Effect<{ undone: number; alreadyGone: number; restored: number; failures: string[] }> {
  return Effect.gen(function* () {
    const undo = { ran: 0, gone: 0, failures: [] as string[] };
    yield* runAll(journal.applied.flatMap((a) => a.undo).reverse(), undo);
    const originals = [...journal.originals].sort((a, b) => Number(a.id.startsWith('route')) - Number(b.id.startsWith('route')));
    const restore = { ran: 0, gone: 0, failures: undo.failures };
    yield* runAll(originals.flatMap((o) => o.restore), restore);
    let settingsRestored = 0;
    for (const s of journal.settings) {
      const written = yield* Effect.either(writeSetting(s.device, s.key, s.value));
      if (written._tag === 'Right') settingsRestored++;
      // A device's settings go with the device (the TUN device closes before the adapter).
      else if (written.left.reason !== 'unavailable' || s.device === 'all') restore.failures.push(written.left.message);
    }
    return { undone: undo.ran, alreadyGone: undo.gone + restore.gone, restored: restore.ran + settingsRestored, failures: restore.failures };
  });
}

/**
 * Opens the adapter for `settings`: first, if a state file of this interface is there from a
 * process that died, restores the host from it (and reports it); then records a fresh state
 * file owned by this process. Fails, changing nothing, when another live process owns the
 * interface or the state file cannot be read or written.
 */
export function openLinuxMnHost(settings: MnHostSettings, options: LinuxMnHostOptions = {}): Effect.Effect<MnHostAdapter, MnHostError, Scope.Scope> {
  const acquire = Effect.gen(function* () {
    const adapter = linuxMnHostAdapter(settings, options);
    const path = adapter.stateFile;
    const directory = dirname(path);
    yield* Effect.try({
      try: () => ensureStateDirectory(directory),
      catch: (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        return new MnHostError({
          reason: code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission' : 'command',
          operation: `mkdir ${directory}`,
          message: `cannot use the state directory ${directory}: ${(error as Error).message}${code === 'EACCES' || code === 'EPERM' ? ' (run as root, or set another state directory)' : ''}`,
        });
      },
    });
    const found = readJournal(path);
    if (found.kind === 'invalid') {
      return yield* Effect.fail(
        new MnHostError({
          reason: 'command',
          operation: `read ${path}`,
          message: `${path} is left by an earlier run but cannot be read (${found.reason}): restore the host's addresses, routes and net.ipv4.conf settings by hand, then delete it`,
        }),
      );
    }
    if (found.kind === 'found') {
      const { owner } = found.journal;
      if (ownerAlive(owner)) return yield* Effect.fail(inUse(settings.interfaceName, owner.pid, path));
      // A crashed run: its changes are undone before anything is read as "the original".
      const recovered = yield* adapter.restoreFrom(found.journal);
      options.onEvent?.({ ...recovered, event: 'host-recovered', crashedPid: owner.pid });
    }
    const created = yield* Effect.try({
      try: () => createJournal(path, { version: 1, owner: currentOwner(), interfaceName: settings.interfaceName, applied: [], originals: [], settings: [] }),
      catch: (error) => new MnHostError({ reason: 'command', operation: `write ${path}`, message: `cannot record the host's state in ${path}: ${(error as Error).message}` }),
    });
    if (!created) {
      const owner = readJournal(path);
      return yield* Effect.fail(inUse(settings.interfaceName, owner.kind === 'found' ? owner.journal.owner.pid : undefined, path));
    }
    return adapter;
  });
  return Effect.acquireRelease(acquire, (adapter) => Effect.map(adapter.restore, (event) => options.onEvent?.(event))).pipe(
    Effect.map((adapter): MnHostAdapter => ({ apply: adapter.apply })),
  );
}

function inUse(interfaceName: string, pid: number | undefined, path: string): MnHostError {
  return new MnHostError({
    reason: 'in-use',
    operation: `open ${path}`,
    message: `another process${pid !== undefined ? ` (pid ${pid})` : ''} is configuring ${interfaceName} (state file ${path}); stop it first`,
  });
}

/** The MnHost service on Linux with `options` (state directory, event sink). */
export function linuxMnHostLayer(options: LinuxMnHostOptions = {}): Layer.Layer<MnHost> {
  return Layer.succeed(MnHost, { open: (settings: MnHostSettings) => openLinuxMnHost(settings, options) });
}

/** The MnHost service on Linux with the state files in /run/mip4 and no event sink. */
export const LinuxMnHostLive = linuxMnHostLayer();
