/**
 * Mobility Security Associations (RFC 5944 1.6, 3.2, 3.5.1, 5.1, 5.7).
 *
 * A Mobility Security Association is "a collection of security contexts, between a pair of
 * nodes" (1.6). Each context names an authentication algorithm and mode, a secret and a style
 * of replay protection; the SPI carried in an authentication extension selects the context
 * (3.5.1). Associations are indexed by SPI and peer IP address (3.2): for a mobile node the
 * peer address is its home address, for a foreign agent the address it sends from (3.5.4).
 *
 * Pure: no IO, no clock.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';
import { ipv4ToString } from '../io/wire/bytes.js';
import { AUTH_ALGORITHMS, type AuthAlgorithm } from './auth.js';

/** Style of replay protection agreed between a mobile node and its home agent (5.7). */
export type ReplayProtection = 'timestamp' | 'nonce';

/** One security context of a Mobility Security Association (1.6). */
export interface MobilitySecurityContext {
  /** Security Parameter Index; 0-255 are reserved (1.6). */
  readonly spi: number;
  readonly algorithm: AuthAlgorithm;
  /** The shared secret; arbitrary binary values are allowed (5.1). */
  readonly key: Uint8Array;
  readonly replay: ReplayProtection;
  /** How far, in seconds, a timestamp Identification may be from the receiver's clock (5.7.1). */
  readonly replayWindowSeconds: number;
}

/** SPI values 0 through 255 are reserved and MUST NOT be used in any association (1.6). */
export const RESERVED_SPI_LIMIT = 256;
export const MAX_SPI = 0xffffffff;
/** The default time tolerance of timestamp replay protection (5.7.1). */
export const DEFAULT_REPLAY_WINDOW_SECONDS = 7;
/** 5.7.1: the tolerance "SHOULD be greater than 3 seconds"; smaller values are refused here. */
export const MIN_REPLAY_WINDOW_SECONDS_EXCLUSIVE = 3;

/** Thrown when a security context is configured with values the RFC forbids. */
export class SecurityAssociationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecurityAssociationError';
  }
}

export interface SecurityContextOptions {
  readonly spi: number;
  readonly key: Uint8Array;
  /** Defaults to HMAC-MD5, the algorithm every implementation must support (3.5.1, 5.1). */
  readonly algorithm?: AuthAlgorithm;
  /** Defaults to timestamps, the method every node must implement (5.7). */
  readonly replay?: ReplayProtection;
  /** Defaults to 7 seconds (5.7.1). */
  readonly replayWindowSeconds?: number;
}

/** Builds a validated context, filling the RFC defaults. Throws SecurityAssociationError. */
export function createSecurityContext(options: SecurityContextOptions): MobilitySecurityContext {
  const context: MobilitySecurityContext = {
    spi: options.spi,
    algorithm: options.algorithm ?? 'hmac-md5',
    key: options.key,
    replay: options.replay ?? 'timestamp',
    replayWindowSeconds: options.replayWindowSeconds ?? DEFAULT_REPLAY_WINDOW_SECONDS,
  };
  validateSecurityContext(context);
  return context;
}

/** Throws SecurityAssociationError when `context` breaks a rule of 1.6, 5.1 or 5.7.1. */
export function validateSecurityContext(context: MobilitySecurityContext): void {
  const { spi } = context;
  if (!Number.isInteger(spi) || spi < 0 || spi > MAX_SPI) {
    throw new SecurityAssociationError(`SPI ${spi} is not a 32-bit unsigned integer`);
  }
  if (spi < RESERVED_SPI_LIMIT) {
    throw new SecurityAssociationError(
      `SPI ${spi} is reserved: SPI values 0 through 255 must not be used in any Mobility Security Association (RFC 5944 1.6)`,
    );
  }
  if (!AUTH_ALGORITHMS.includes(context.algorithm)) {
    throw new SecurityAssociationError(`SPI ${spi}: unknown authentication algorithm ${JSON.stringify(context.algorithm)}`);
  }
  if (!(context.key instanceof Uint8Array) || context.key.length === 0) {
    // Any binary value is a valid key (5.1), but an empty one authenticates nothing.
    throw new SecurityAssociationError(`SPI ${spi}: the key must be a non-empty byte array`);
  }
  if (context.replay !== 'timestamp' && context.replay !== 'nonce') {
    throw new SecurityAssociationError(`SPI ${spi}: unknown replay protection ${JSON.stringify(context.replay)}`);
  }
  const window = context.replayWindowSeconds;
  if (!Number.isFinite(window) || window <= MIN_REPLAY_WINDOW_SECONDS_EXCLUSIVE) {
    throw new SecurityAssociationError(
      `SPI ${spi}: replay window of ${window} s must be greater than ${MIN_REPLAY_WINDOW_SECONDS_EXCLUSIVE} s (RFC 5944 5.7.1)`,
    );
  }
}

/** The contexts shared with one peer, as the registration checks need them. */
export interface SecurityContextLookup {
  /** The context the SPI of an authentication extension selects (3.5.1), if configured. */
  get(spi: number): MobilitySecurityContext | undefined;
  /**
   * The context to use for a reply when the requested SPI is unknown or failed: the oldest
   * one configured, the one most likely to still exist at the peer (3.8.2.1 a).
   */
  first(): MobilitySecurityContext | undefined;
}

/** The Mobility Security Association with one peer: its contexts, oldest first. */
export class MobilitySecurityAssociation implements SecurityContextLookup {
  // A short array: peers have one or two contexts (two while re-keying), so a scan beats a
  // Map in both time and memory, which matters with a million associations in one process.
  readonly #contexts: MobilitySecurityContext[] = [];

  constructor(readonly peer: Ipv4Address) {}

  get size(): number {
    return this.#contexts.length;
  }

  get(spi: number): MobilitySecurityContext | undefined {
    for (const context of this.#contexts) if (context.spi === spi) return context;
    return undefined;
  }

  first(): MobilitySecurityContext | undefined {
    return this.#contexts[0];
  }

  contexts(): readonly MobilitySecurityContext[] {
    return this.#contexts;
  }

  /** Adds a context; throws on a reserved SPI or an SPI already used with this peer. */
  add(context: MobilitySecurityContext): void {
    validateSecurityContext(context);
    if (this.get(context.spi) !== undefined) {
      throw new SecurityAssociationError(`peer ${ipv4ToString(this.peer)} already has a context with SPI ${context.spi}`);
    }
    this.#contexts.push(context);
  }

  /** Removes the context with `spi`; returns whether there was one. */
  remove(spi: number): boolean {
    const index = this.#contexts.findIndex((context) => context.spi === spi);
    if (index < 0) return false;
    this.#contexts.splice(index, 1);
    return true;
  }
}

/**
 * Mobility Security Associations indexed by peer address and SPI (3.2). Any SPI may map to
 * any algorithm (3.5.1).
 */
export class SecurityAssociationTable {
  readonly #byPeer = new Map<Ipv4Address, MobilitySecurityAssociation>();

  /** Number of peers with at least one context. */
  get size(): number {
    return this.#byPeer.size;
  }

  /**
   * Adds `context` to the association with `peer`. Throws SecurityAssociationError for an SPI
   * in 0-255 (reserved, 1.6), a duplicate SPI for this peer, or another invalid value.
   */
  add(peer: Ipv4Address, context: MobilitySecurityContext): void {
    let association = this.#byPeer.get(peer);
    if (association === undefined) {
      association = new MobilitySecurityAssociation(peer);
      association.add(context); // validate before the peer becomes visible
      this.#byPeer.set(peer, association);
      return;
    }
    association.add(context);
  }

  get(peer: Ipv4Address, spi: number): MobilitySecurityContext | undefined {
    return this.#byPeer.get(peer)?.get(spi);
  }

  /** Whether any security context is shared with `peer`. */
  has(peer: Ipv4Address): boolean {
    return this.#byPeer.has(peer);
  }

  /** The oldest context shared with `peer`: the one to reply with when the requested SPI is unknown. */
  first(peer: Ipv4Address): MobilitySecurityContext | undefined {
    return this.#byPeer.get(peer)?.first();
  }

  /** The association with `peer` as a lookup (no allocation), or undefined if there is none. */
  association(peer: Ipv4Address): MobilitySecurityAssociation | undefined {
    return this.#byPeer.get(peer);
  }

  /** Removes one context, or all contexts of `peer` when `spi` is omitted. Returns whether anything was removed. */
  remove(peer: Ipv4Address, spi?: number): boolean {
    const association = this.#byPeer.get(peer);
    if (association === undefined) return false;
    if (spi === undefined) return this.#byPeer.delete(peer);
    const removed = association.remove(spi);
    if (association.size === 0) this.#byPeer.delete(peer);
    return removed;
  }

  peers(): IterableIterator<Ipv4Address> {
    return this.#byPeer.keys();
  }
}
