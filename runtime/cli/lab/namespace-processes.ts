/**
 * The processes living in network namespaces a tool created (`mip4 lab`, `mip4 conformance
 * --role fa|mn`): found by `ip netns pids`, so a crashed run's leftovers are found too, and
 * stopped with SIGTERM, then SIGKILL after a grace period. Never throws.
 */
import { spawnSync } from 'node:child_process';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The pids in `namespace` (none when it does not exist). */
export function pidsInNamespace(namespace: string): number[] {
  const result = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? result.stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0) : [];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function signalProcess(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** SIGTERM to each, SIGKILL to those still alive after `graceMs` (polled every 50 ms). */
export async function stopProcesses(pids: ReadonlySet<number>, graceMs: number): Promise<void> {
  for (const pid of pids) signalProcess(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while ([...pids].some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids) if (isAlive(pid)) signalProcess(pid, 'SIGKILL');
}
