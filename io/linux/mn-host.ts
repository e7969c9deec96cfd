/**
 * The MnHost service on Linux: iproute2 commands (`ip addr|route|neigh|link`, run with
 * execFile, never a shell) and interface settings under /proc/sys/net/ipv4/conf, applied once
 * per move.
 *
 * The plan per attachment is a pure function (`attachmentSteps`, unit-tested); the adapter runs
 * it, remembers how to undo every command it ran and the original value of every setting it
 * changed, undoes what the previous attachment set up and the next does not repeat, and on
 * close undoes the last and restores every setting.
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
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Effect, Layer } from 'effect';
import { MnHost, MnHostError, type HostAttachment, type MnHostAdapter, type MnHostSettings } from '../mn-host.js';
import { ipv4ToString } from '../wire/bytes.js';

/** One step of a plan: an `ip` command (with the command that undoes it), or an interface setting. */
export type HostStep =
  | { readonly kind: 'ip'; readonly args: readonly string[]; readonly undo?: readonly string[] }
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
        homeOnLoopback(home),
        { kind: 'ip', args: ['addr', 'replace', careOf, 'dev', dev], undo: ['addr', 'del', careOf, 'dev', dev] },
      ];
      if (settings.foreignGateway !== undefined) {
        const gateway = ipv4ToString(settings.foreignGateway);
        if (settings.foreignGatewayLinkAddress !== undefined) {
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
      return steps;
    }
  }
}

function sysctlPath(device: string, key: string): string {
  return `/proc/sys/net/ipv4/conf/${device}/${key}`;
}

/** Runs `ip ARGS`; rejects with an MnHostError naming the command and the kernel's complaint. */
function runIp(args: readonly string[]): Effect.Effect<void, MnHostError> {
  const operation = `ip ${args.join(' ')}`;
  return Effect.async<void, MnHostError>((resume) => {
    execFile('ip', [...args], { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error === null) return resume(Effect.void);
      const code = (error as NodeJS.ErrnoException).code;
      const text = String(stderr).trim() || error.message;
      if (code === 'ENOENT') {
        return resume(Effect.fail(new MnHostError({ reason: 'unavailable', operation, message: `${operation}: iproute2 (ip) is not installed` })));
      }
      const permission = /Operation not permitted|Permission denied/i.test(text);
      resume(
        Effect.fail(
          new MnHostError({
            reason: permission ? 'permission' : 'command',
            operation,
            message: permission ? `${operation}: not permitted; run as root or grant CAP_NET_ADMIN` : `${operation} failed: ${text}`,
          }),
        ),
      );
    });
  });
}

function writeSetting(device: string, key: string, value: string): Effect.Effect<void, MnHostError> {
  const operation = `net.ipv4.conf.${device}.${key}=${value}`;
  return Effect.try({
    try: () => writeFileSync(sysctlPath(device, key), value),
    catch: (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      return new MnHostError({
        reason: code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission' : code === 'ENOENT' ? 'unavailable' : 'command',
        operation,
        message:
          code === 'ENOENT'
            ? `cannot set ${operation}: no interface ${device}`
            : `cannot set ${operation}: ${(error as Error).message}${code === 'EACCES' || code === 'EPERM' ? ' (run as root)' : ''}`,
      });
    },
  });
}

/** Runs `ip -force -batch -` with one command per line, ignoring failures (used to undo). */
function runIpBatchIgnoringErrors(commands: ReadonlyArray<readonly string[]>): Effect.Effect<void> {
  if (commands.length === 0) return Effect.void;
  return Effect.async<void>((resume) => {
    const child = execFile('ip', ['-force', '-batch', '-'], { timeout: 10_000 }, () => resume(Effect.void));
    child.stdin?.end(commands.map((args) => args.join(' ')).join('\n') + '\n');
  });
}

const stepKey = (args: readonly string[]) => args.join(' ');

/** The adapter's state and its operations (exported for the namespace tests and the benchmark). */
export function linuxMnHostAdapter(settings: MnHostSettings): MnHostAdapter & { readonly restore: Effect.Effect<void> } {
  /** Commands in force for the current attachment, in the order they ran, with their undo. */
  let applied: Array<{ readonly args: readonly string[]; readonly undo?: readonly string[] }> = [];
  /** Original values of settings changed, by "device/key". */
  const originals = new Map<string, { device: string; key: string; value: string }>();

  /**
   * Undoes what `keep` does not contain, most recent first, in one `ip -batch` (a failure there
   * means the thing is gone already, e.g. with its device: ignored). Commands the next
   * attachment repeats stay in force, so a move between two foreign agents never drops the
   * home address.
   */
  const undoExcept = (keep: ReadonlySet<string>) =>
    Effect.suspend(() => {
      const leaving = applied.filter((a) => !keep.has(stepKey(a.args)));
      applied = applied.filter((a) => keep.has(stepKey(a.args)));
      return runIpBatchIgnoringErrors(leaving.flatMap((a) => (a.undo === undefined ? [] : [a.undo])).reverse());
    });
  const restoreSettings = (keep: ReadonlySet<string>) =>
    Effect.suspend(() => {
      const restore = [...originals.entries()].filter(([id]) => !keep.has(id));
      for (const [id] of restore) originals.delete(id);
      return Effect.forEach(restore, ([, o]) => Effect.ignore(writeSetting(o.device, o.key, o.value)), { discard: true });
    });

  const apply = (attachment: HostAttachment): Effect.Effect<void, MnHostError> =>
    Effect.gen(function* () {
      const steps = attachmentSteps(settings, attachment);
      const commandKeys = new Set(steps.flatMap((s) => (s.kind === 'ip' ? [stepKey(s.args)] : [])));
      yield* undoExcept(commandKeys);
      const settingIds = new Set(steps.flatMap((s) => (s.kind === 'sysctl' ? [`${s.device}/${s.key}`] : [])));
      yield* restoreSettings(settingIds);
      const inForce = new Set(applied.map((a) => stepKey(a.args)));
      for (const step of steps) {
        if (step.kind === 'ip') {
          if (inForce.has(stepKey(step.args))) continue;
          yield* runIp(step.args);
          applied.push({ args: step.args, ...(step.undo !== undefined ? { undo: step.undo } : {}) });
          continue;
        }
        const id = `${step.device}/${step.key}`;
        if (!originals.has(id)) {
          const original = yield* Effect.try({
            try: () => readFileSync(sysctlPath(step.device, step.key), 'utf8').trim(),
            catch: () =>
              new MnHostError({ reason: 'unavailable', operation: `net.ipv4.conf.${step.device}.${step.key}`, message: `cannot read net.ipv4.conf.${step.device}.${step.key}: no interface ${step.device}` }),
          });
          originals.set(id, { device: step.device, key: step.key, value: original });
        }
        yield* writeSetting(step.device, step.key, step.value);
      }
    });

  return { apply, restore: Effect.zipRight(undoExcept(new Set()), restoreSettings(new Set())) };
}

export const LinuxMnHostLive = Layer.succeed(MnHost, {
  open: (settings: MnHostSettings) =>
    Effect.acquireRelease(Effect.sync(() => linuxMnHostAdapter(settings)), (adapter) => adapter.restore).pipe(
      Effect.map((adapter): MnHostAdapter => ({ apply: adapter.apply })),
    ),
});
