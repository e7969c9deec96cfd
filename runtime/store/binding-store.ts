/**
 * Bindings that survive a restart (RFC 5944 gives no rule; operators expect mipagent's state
 * file): the home agent's accepted bindings with their replay state (5.7), and the foreign
 * agent's visitor list. The agents produce writes, the server commits a batch of them before
 * the batch's Replies leave (group commit), and a restart loads everything back.
 *
 * The interface is small on purpose: load all at start, commit a batch atomically, close. An
 * embedded SQLite file (sqlite-store.ts) and memory (memory-store.ts) implement it; a
 * distributed store can follow behind the same three calls.
 */
import type { Ipv4Address } from '../../io/wire/bytes.js';
import type { Identification } from '../../io/wire/registration-types.js';
import type { Encapsulation } from '../../io/wire/tunnel.js';

/** A home agent's binding as stored: enough to rebuild its actor, tunnel, route and ARP. */
export interface StoredBinding {
  readonly homeAddress: Ipv4Address;
  readonly careOfAddress: Ipv4Address;
  /** The lifetime granted, seconds (0xffff: infinite). */
  readonly lifetime: number;
  /** Wall time (ms since the epoch) when it ends; Infinity for an infinite lifetime. */
  readonly expiresAt: number;
  readonly identification: Identification;
  readonly encapsulation: Encapsulation;
  readonly broadcast: boolean;
  readonly decapsulatedByMobileNode: boolean;
  readonly reverseTunnel: boolean;
  readonly relayedBy?: Ipv4Address;
  /** RFC 3519: the binding is tunnelled in UDP to its NAT (absent in stores written before it: IP in IP). */
  readonly udpTunnel?: StoredUdpTunnel;
}

/** A binding's UDP tunnel (RFC 3519) as stored: where its tunnel data goes and what was granted. */
export interface StoredUdpTunnel {
  /** The translated (NAT's public) address and UDP port. */
  readonly address: Ipv4Address;
  readonly port: number;
  readonly encapsulation: Encapsulation;
  readonly keepaliveInterval: number;
  readonly forced: boolean;
  readonly natDetected: boolean;
}

const ENCAPSULATIONS: readonly string[] = ['ip-in-ip', 'gre', 'minimal'];

/**
 * A stored UDP tunnel read back from its text (JSON), or undefined when it is not one: a store
 * edited by hand or damaged loses the UDP tunnel (the binding tunnels IP in IP until the node's
 * next registration), never the binding.
 */
export function parseStoredUdpTunnel(text: string): StoredUdpTunnel | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const uint = (x: unknown, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
  if (!uint(v.address, 0xffffffff) || !uint(v.port, 0xffff) || !uint(v.keepaliveInterval, 0xffff)) return undefined;
  if (typeof v.encapsulation !== 'string' || !ENCAPSULATIONS.includes(v.encapsulation)) return undefined;
  if (typeof v.forced !== 'boolean' || typeof v.natDetected !== 'boolean') return undefined;
  return { address: v.address, port: v.port, encapsulation: v.encapsulation as Encapsulation, keepaliveInterval: v.keepaliveInterval, forced: v.forced, natDetected: v.natDetected };
}

/** A node's replay state (5.7): a replayed old Request must still be refused after a restart. */
export interface StoredReplayState {
  readonly homeAddress: Ipv4Address;
  readonly lastAcceptedTimestamp?: Identification;
  readonly expectedNonce?: number;
  readonly resyncNonce?: number;
}

/** A foreign agent's visitor list entry (3.7.2.2) as stored. */
export interface StoredVisitor {
  /** The entry's identity in the foreign agent (home address and NAI). */
  readonly key: string;
  /** Wall time (ms) when the entry ends; Infinity for an infinite lifetime. */
  readonly expiresAt: number;
  /** What the foreign agent needs to rebuild the entry; opaque to the store. */
  readonly entry: unknown;
}

export type StoreWrite =
  | { readonly op: 'put-binding'; readonly binding: StoredBinding }
  | { readonly op: 'delete-binding'; readonly homeAddress: Ipv4Address; readonly careOfAddress: Ipv4Address }
  | { readonly op: 'put-replay'; readonly replay: StoredReplayState }
  | { readonly op: 'put-visitor'; readonly visitor: StoredVisitor }
  | { readonly op: 'delete-visitor'; readonly key: string };

/** Everything a store holds, as loaded at start. */
export interface StoredState {
  readonly bindings: readonly StoredBinding[];
  readonly replay: readonly StoredReplayState[];
  readonly visitors: readonly StoredVisitor[];
}

/**
 * Each call may answer now or later: an embedded file answers now, a store in a worker thread
 * (sqlite-worker-store.ts) or on the network answers with a promise. Callers await.
 */
export interface BindingStore {
  /** Everything stored (expired rows included: the caller decides and deletes them). */
  load(): StoredState | Promise<StoredState>;
  /** Applies the writes in order, all or none; durable when it returns or resolves (as the store's sync level promises). */
  commit(writes: readonly StoreWrite[]): void | Promise<void>;
  close(): void | Promise<void>;
}

/** A store file that cannot be used (locked by another daemon, corrupt, unreadable): the message names the file and the fix. */
export class StoreError extends Error {
  constructor(
    readonly reason: 'locked' | 'corrupt' | 'unavailable' | 'io',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
