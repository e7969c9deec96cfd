/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by layer of the project: each sample's
 * leaf frame is mapped to a layer by its script URL (the project's directories, the
 * frameworks in node_modules, Node's internals); a builtin without a URL (JSON.stringify,
 * a crypto binding) counts for the nearest caller that has one. Samples under the config
 * loader and in Node's module loader are counted apart, so start-up does not blur the
 * per-request figures.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const IDLE = 'idle';
export const STARTUP = 'start-up (modules, config)';

/** The layer of a script URL, or undefined when the URL says nothing (a builtin). */
export function layerOfUrl(url: string, functionName: string): string | undefined {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return IDLE;
    if (functionName === '(program)') return 'V8/native (unattributed)';
    return undefined;
  }
  const path = url.replace(/^file:\/\//, '');
  if (path.includes('/node_modules/')) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    return `framework: ${match?.[1] ?? 'other'}`;
  }
  if (/\/io\/wire\//.test(path)) return /^(encode|write|seal)/.test(functionName) ? 'encode (io/wire)' : 'decode (io/wire)';
  if (path.includes('/policies/sign.')) return 'encode (io/wire)';
  if (path.includes('/policies/')) return 'policy';
  if (path.includes('/machines/') || path.includes('/runtime/actors/') || /\/io\/(clock|min-heap)\./.test(path)) return 'machine + actor host';
  if (/\/runtime\/(ha\/home-agent|dataplane\/forwarding-table)\./.test(path)) return 'home agent bookkeeping';
  if (path.includes('/runtime/dataplane/')) return 'data plane operators';
  if (path.includes('/runtime/cli/')) return 'logging (JSON lines)';
  if (path.includes('/io/node/') || path.includes('/io/linux/')) return 'socket';
  if (path.includes('/runtime/') || path.includes('/io/')) return 'runtime other';
  if (path.includes('/bench/')) return 'benchmark driver';
  if (/^node:internal\/(modules|bootstrap|main)/.test(path)) return STARTUP;
  if (/^node:(dgram|internal\/dgram|net|internal\/net)/.test(path)) return 'socket';
  if (/^node:internal\/crypto/.test(path)) return 'crypto (HMAC-MD5)';
  // stdout is a file here: console output ends in fs.writeSync.
  if (/^node:(fs$|internal\/(fs|streams|console))/.test(path)) return 'logging (JSON lines)';
  if (/^node:internal\/(timers|process\/task_queues)/.test(path)) return 'event loop (timers, ticks)';
  return 'node other';
}

export interface LayerShares {
  /** Fraction of the busy (non-idle, non-start-up) samples per layer. */
  readonly shares: Record<string, number>;
  readonly busySamples: number;
  readonly startupSamples: number;
  readonly idleSamples: number;
  /** Mean sampling interval, µs. */
  readonly intervalUs: number;
}

export function summariseProfile(file: string, startupFunctions: readonly string[] = []): LayerShares {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const layerCache = new Map<number, string>();
  const startupCache = new Map<number, boolean>();

  const underStartup = (id: number): boolean => {
    const known = startupCache.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const result = startupFunctions.includes(node.callFrame.functionName) || (up !== undefined && underStartup(up));
    startupCache.set(id, result);
    return result;
  };
  const layerOf = (id: number): string => {
    const known = layerCache.get(id);
    if (known !== undefined) return known;
    let layer: string | undefined;
    for (let at: number | undefined = id; at !== undefined && layer === undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      layer = layerOfUrl(frame.url, frame.functionName);
    }
    const result = layer ?? 'node other';
    layerCache.set(id, result);
    return result;
  };

  const counts: Record<string, number> = {};
  let busy = 0;
  let startup = 0;
  let idle = 0;
  for (const id of profile.samples) {
    const layer = layerOf(id);
    if (layer === IDLE) idle++;
    else if (layer === STARTUP || underStartup(id)) startup++;
    else {
      counts[layer] = (counts[layer] ?? 0) + 1;
      busy++;
    }
  }
  const shares: Record<string, number> = {};
  for (const [layer, count] of Object.entries(counts)) shares[layer] = count / Math.max(1, busy);
  const total = profile.timeDeltas.reduce((s, d) => s + d, 0);
  return { shares, busySamples: busy, startupSamples: startup, idleSamples: idle, intervalUs: total / Math.max(1, profile.samples.length) };
}
