/**
 * Which engine carries an agent's tunnels (issue 17, docs/kernel-fast-path.md): the tc-BPF
 * programs in the kernel, or the RxJS plane in userspace. Pure: the daemon measures what the
 * host allows (io/linux/bpf.ts bpfUnavailableReason, missingBpfCapabilities) and this decides,
 * so the start log and `mip4 status` show the same words the decision was made from.
 */

/** `dataPath.engine` in the HA, FA and MN configurations. */
export type DataPathEngineSetting = 'bpf' | 'userspace' | 'auto';
export type DataPathEngine = 'bpf' | 'userspace';

export const DATA_PATH_ENGINE_SETTINGS = ['bpf', 'userspace', 'auto'] as const satisfies readonly DataPathEngineSetting[];
/** bpf where the host allows it, else userspace (and the log says why). */
export const DEFAULT_DATA_PATH_ENGINE: DataPathEngineSetting = 'auto';

/** What the host offers, as the edge measured it. */
export interface BpfAvailability {
  /** Why the loader addon or the compiled objects cannot be used; undefined when they can. */
  readonly loaderProblem?: string;
  /** Effective capabilities the fast path needs and this process lacks. */
  readonly missingCapabilities: readonly string[];
}

export type EngineChoice =
  | { readonly ok: true; readonly engine: DataPathEngine; readonly setting: DataPathEngineSetting; readonly reason: string }
  | { readonly ok: false; readonly setting: 'bpf'; readonly reason: string };

/** Why bpf cannot run here, or undefined when it can. */
export function bpfBlocker(availability: BpfAvailability): string | undefined {
  if (availability.loaderProblem !== undefined) return availability.loaderProblem;
  if (availability.missingCapabilities.length > 0) {
    return `the process lacks ${availability.missingCapabilities.join(' and ')} (run as root, or grant them: AmbientCapabilities=CAP_BPF CAP_NET_ADMIN in the systemd unit)`;
  }
  return undefined;
}

/**
 * The engine for `setting` on a host offering `availability`. An explicit `bpf` the host cannot
 * give is a start error (the operator asked for it); `auto` falls back to userspace and says why.
 */
export function chooseDataPathEngine(setting: DataPathEngineSetting, availability: BpfAvailability): EngineChoice {
  if (setting === 'userspace') return { ok: true, engine: 'userspace', setting, reason: 'dataPath.engine is userspace' };
  const blocker = bpfBlocker(availability);
  if (setting === 'bpf') {
    return blocker === undefined
      ? { ok: true, engine: 'bpf', setting, reason: 'dataPath.engine is bpf' }
      : { ok: false, setting, reason: `dataPath.engine is bpf, but ${blocker}; or set dataPath.engine: auto (or userspace) to run the userspace data path` };
  }
  return blocker === undefined
    ? { ok: true, engine: 'bpf', setting, reason: 'dataPath.engine is auto and the kernel and privileges allow tc-BPF' }
    : { ok: true, engine: 'userspace', setting, reason: `dataPath.engine is auto and tc-BPF is unavailable: ${blocker}` };
}
