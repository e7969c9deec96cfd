/**
 * Helpers of the tc-BPF tests: a bpf-peer.ts process in a namespace's network (nsenter keeps the
 * host's /sys, so pins are visible here), commands with answers, and why the tests cannot run.
 */
import { spawnSync } from 'node:child_process';
import { bpfUnavailableReason, missingBpfCapabilities } from '../../io/linux/bpf.js';
import { linuxSkipReason, Peer, ROOT } from './netns.js';
import { hasTool } from '../support/tools.js';

const VITE_NODE = `${ROOT}node_modules/vite-node/vite-node.mjs`;

/** Why the namespace BPF tests cannot run here, or undefined. */
export function bpfSkipReason(): string | undefined {
  const linux = linuxSkipReason();
  if (linux !== undefined) return linux;
  if (!hasTool('nsenter')) return 'nsenter is not installed (apt-get install util-linux)';
  if (!hasTool('tc')) return 'tc is not installed (apt-get install iproute2)';
  const missing = missingBpfCapabilities();
  if (missing.length > 0) return `needs ${missing.join(' and ')}`;
  return bpfUnavailableReason();
}

export class BpfPeer {
  readonly peer: Peer;
  private next = 1;

  constructor(readonly namespace: string) {
    this.peer = new Peer(undefined, '', [], [], 'test/linux/bpf-peer.ts', [
      'nsenter',
      `--net=/run/netns/${namespace}`,
      process.execPath,
      VITE_NODE,
      'test/linux/bpf-peer.ts',
    ]);
  }

  ready(): Promise<unknown> {
    return this.peer.waitFor('ready');
  }

  /** Sends a command; resolves with its value, rejects with the peer's message. */
  async call<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    const id = this.next++;
    this.peer.tell(JSON.stringify({ id, op, ...fields }));
    const answer = await this.peer.waitUntil((event) => event.id === id, `answer to ${op}`);
    if (answer.event === 'failed') throw new Error(`${op}: ${String(answer.message)} ${String(answer.code ?? '')}\n${String(answer.log ?? '')}`);
    if (answer.event !== 'result') throw new Error(`${op}: ${JSON.stringify(answer)}`);
    return answer.value as T;
  }
}

/** Runs a command in a namespace's network; returns status and output. */
export function inNet(namespace: string, command: string, args: string[], timeoutMs = 10_000) {
  return spawnSync('ip', ['netns', 'exec', namespace, command, ...args], { encoding: 'utf8', timeout: timeoutMs });
}

/** Sets sysctls in a namespace (forwarding, rp_filter). */
export function sysctl(namespace: string, ...settings: string[]): void {
  for (const setting of settings) {
    const result = inNet(namespace, 'sysctl', ['-qw', setting]);
    if (result.status !== 0) throw new Error(`sysctl ${setting} in ${namespace}: ${result.stderr}`);
  }
}

/** The MAC address of an interface in a namespace. */
export function macOf(namespace: string, name: string): string {
  const result = spawnSync('ip', ['-n', namespace, '-j', 'link', 'show', name], { encoding: 'utf8' });
  return (JSON.parse(result.stdout) as Array<{ address: string }>)[0]!.address;
}
