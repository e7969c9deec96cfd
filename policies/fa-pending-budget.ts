/**
 * How many pending registrations a foreign agent keeps, and for whom (RFC 5944 3.7.1: "MAY
 * configure a maximum number of pending registrations that it is willing to maintain
 * (typically 5). Additional registrations SHOULD then be rejected ... with Code 66").
 *
 * The foreign agent cannot authenticate most Requests (only nodes it shares an association
 * with, 3.7.2.1), so one global count lets a few forged frames deny everyone. The budget
 * therefore sorts each Request to relay into one of three charges:
 *
 *   visitor         a renewal or deregistration of a registered visitor, naming the home
 *                   agent of its registration: never refused for any budget. At most one is
 *                   pending per node (a newer Request supersedes the older), so they are
 *                   bounded by the visitor list, which only a home agent's Reply fills.
 *   registration    every other Request with a nonzero Lifetime, and the deregistration of a
 *                   node whose registration is pending at the same home agent (it replaces
 *                   that entry, 3.7.2): the global limit (`maxPending`), plus per link-layer
 *                   source and per home address budgets, all counting live pending entries.
 *   deregistration  a deregistration of a node this agent does not know (R3.7-5 still asks
 *                   to relay it): at most `maxUnknownDeregistrations` relayed per pending
 *                   window (the 3.7.1 timeout), however fast their pending entries end, so
 *                   forged ones make neither memory nor a UDP 434 reflector; plus the per
 *                   link-layer source and per home address budgets.
 *
 * Pure: the runtime keeps the tallies (PendingTally, RelayWindow here, mutable but without
 * time or IO of their own) and passes the numbers in.
 */
import type { Ipv4Address } from '../io/wire/bytes.js';
import { ipv4ToString } from '../io/wire/bytes.js';
import type { MacAddress } from '../io/wire/ethernet.js';

/** 3.7.1: "typically 5". */
export const DEFAULT_MAX_PENDING = 5;
/** A node has one Request pending at a time (a newer one supersedes it); two leave room for a second node behind one MAC. */
export const DEFAULT_MAX_PENDING_PER_LINK_SOURCE = 2;
/** Home address 0 (RFC 2794) is shared by every NAI node, which is why this is not 1. */
export const DEFAULT_MAX_PENDING_PER_HOME_ADDRESS = 2;
/** Deregistrations of unknown nodes relayed per pending window (7 s by default). */
export const DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS = 2;

export interface PendingBudgetLimits {
  /** Registrations (charge `registration`) pending at once (3.7.1). */
  readonly maxPending: number;
  /** Pending entries (charges `registration` and `deregistration`) with one link-layer source. */
  readonly maxPendingPerLinkSource?: number;
  /** Pending entries (charges `registration` and `deregistration`) for one home address. */
  readonly maxPendingPerHomeAddress?: number;
  /** Deregistrations of unknown nodes relayed per pending window. */
  readonly maxUnknownDeregistrations?: number;
}

export type PendingCharge = 'visitor' | 'registration' | 'deregistration';

/** A live pending registration as the budget sees it. */
export interface ChargedPending {
  readonly charge: PendingCharge;
  readonly linkLayerSource: MacAddress;
  readonly homeAddress: Ipv4Address;
  readonly homeAgent: Ipv4Address;
}

/** What is in use now, for the Request's link-layer source and home address. */
export interface PendingUsage {
  /** Live entries charged `registration`. */
  readonly registrations: number;
  /** Live entries charged `registration` or `deregistration` with the Request's link-layer source. */
  readonly fromLinkSource: number;
  /** Live entries charged `registration` or `deregistration` for the Request's home address. */
  readonly forHomeAddress: number;
  /** Deregistrations of unknown nodes relayed within the pending window. */
  readonly recentUnknownDeregistrations: number;
}

export interface PendingBudgetInput {
  readonly lifetime: number;
  readonly homeAgent: Ipv4Address;
  readonly homeAddress: Ipv4Address;
  readonly linkLayerSource: MacAddress;
  /** The home agent of the node's registration in force, when it is a registered visitor (3.7.1). */
  readonly registeredHomeAgent?: Ipv4Address;
  /** The node's pending entries this Request supersedes once relayed (they are counted in `usage`). */
  readonly replaces: readonly ChargedPending[];
  readonly usage: PendingUsage;
  readonly limits: PendingBudgetLimits;
}

export const PENDING_BUDGET_REFUSALS = ['too-many-pending', 'link-source-budget', 'home-address-budget', 'deregistration-budget'] as const;
export type PendingBudgetRefusal = (typeof PENDING_BUDGET_REFUSALS)[number];

export function isPendingBudgetRefusal(reason: string): reason is PendingBudgetRefusal {
  return (PENDING_BUDGET_REFUSALS as readonly string[]).includes(reason);
}

export type PendingBudgetVerdict =
  | { readonly admit: true; readonly charge: PendingCharge }
  | { readonly admit: false; readonly charge: PendingCharge; readonly reason: PendingBudgetRefusal; readonly detail: string };

function limitOf(value: number | undefined, fallback: number): number {
  return value ?? fallback;
}

/** The charge of a Request (see the module comment). */
export function pendingChargeOf(input: Pick<PendingBudgetInput, 'lifetime' | 'homeAgent' | 'registeredHomeAgent' | 'replaces'>): PendingCharge {
  const homeAgent = input.homeAgent >>> 0;
  if (input.registeredHomeAgent !== undefined && input.registeredHomeAgent >>> 0 === homeAgent) return 'visitor';
  if (input.lifetime !== 0) return 'registration';
  // A deregistration replacing the node's pending registration at the same home agent takes its place.
  if (input.replaces.some((p) => p.charge !== 'deregistration' && p.homeAgent >>> 0 === homeAgent)) return 'registration';
  return 'deregistration';
}

/** Whether a Request may become a pending registration, and what it is charged to. */
export function checkPendingBudget(input: PendingBudgetInput): PendingBudgetVerdict {
  const charge = pendingChargeOf(input);
  if (charge === 'visitor') return { admit: true, charge };
  const { usage, limits } = input;
  // The entries this Request supersedes are freed when it is relayed: not counted against it.
  let registrations = usage.registrations;
  let fromLinkSource = usage.fromLinkSource;
  let forHomeAddress = usage.forHomeAddress;
  for (const p of input.replaces) {
    if (p.charge === 'visitor') continue;
    if (p.charge === 'registration') registrations--;
    if (p.linkLayerSource === input.linkLayerSource) fromLinkSource--;
    if (p.homeAddress >>> 0 === input.homeAddress >>> 0) forHomeAddress--;
  }
  const refuse = (reason: PendingBudgetRefusal, detail: string): PendingBudgetVerdict => ({ admit: false, charge, reason, detail });

  const perLinkSource = limitOf(limits.maxPendingPerLinkSource, DEFAULT_MAX_PENDING_PER_LINK_SOURCE);
  if (fromLinkSource >= perLinkSource) {
    return refuse('link-source-budget', `${fromLinkSource} registrations pending from link-layer source ${input.linkLayerSource}, the configured maximum is ${perLinkSource}`);
  }
  const perHomeAddress = limitOf(limits.maxPendingPerHomeAddress, DEFAULT_MAX_PENDING_PER_HOME_ADDRESS);
  if (forHomeAddress >= perHomeAddress) {
    return refuse('home-address-budget', `${forHomeAddress} registrations pending for home address ${ipv4ToString(input.homeAddress)}, the configured maximum is ${perHomeAddress}`);
  }
  if (charge === 'registration') {
    if (registrations >= limits.maxPending) {
      return refuse('too-many-pending', `${registrations} registrations pending, the configured maximum is ${limits.maxPending} (RFC 5944 3.7.1)`);
    }
    return { admit: true, charge };
  }
  const unknown = limitOf(limits.maxUnknownDeregistrations, DEFAULT_MAX_UNKNOWN_DEREGISTRATIONS);
  if (usage.recentUnknownDeregistrations >= unknown) {
    return refuse(
      'deregistration-budget',
      `${usage.recentUnknownDeregistrations} deregistrations of nodes not in the visitor list relayed within the pending window, the configured maximum is ${unknown}`,
    );
  }
  return { admit: true, charge };
}

/**
 * Live pending entries by charge, link-layer source and home address. Its maps hold only keys
 * with a live entry, so they are bounded by the pending entries themselves.
 */
export class PendingTally {
  private registrationCount = 0;
  private readonly byLinkSource = new Map<MacAddress, number>();
  private readonly byHomeAddress = new Map<number, number>();

  add(entry: ChargedPending): void {
    if (entry.charge === 'visitor') return;
    if (entry.charge === 'registration') this.registrationCount++;
    bump(this.byLinkSource, entry.linkLayerSource, 1);
    bump(this.byHomeAddress, entry.homeAddress | 0, 1);
  }

  remove(entry: ChargedPending): void {
    if (entry.charge === 'visitor') return;
    if (entry.charge === 'registration') this.registrationCount--;
    bump(this.byLinkSource, entry.linkLayerSource, -1);
    bump(this.byHomeAddress, entry.homeAddress | 0, -1);
  }

  get registrations(): number {
    return this.registrationCount;
  }

  fromLinkSource(linkLayerSource: MacAddress): number {
    return this.byLinkSource.get(linkLayerSource) ?? 0;
  }

  forHomeAddress(homeAddress: Ipv4Address): number {
    return this.byHomeAddress.get(homeAddress | 0) ?? 0;
  }

  /** Keys held (link-layer sources + home addresses): what the tally costs in memory. */
  get keys(): number {
    return this.byLinkSource.size + this.byHomeAddress.size;
  }
}

function bump<K>(map: Map<K, number>, key: K, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

/**
 * Times of the last `capacity` events, to count those within `windowMs` of now. Fixed size:
 * a ring of `capacity` timestamps, whatever the rate of events.
 */
export class RelayWindow {
  private readonly times: number[] = [];
  private next = 0;

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
  ) {}

  /** Events recorded within the window that ends at `nowMs` (at most `capacity`). */
  count(nowMs: number): number {
    let n = 0;
    for (const t of this.times) if (nowMs - t < this.windowMs) n++;
    return n;
  }

  record(nowMs: number): void {
    if (this.capacity <= 0) return;
    if (this.times.length < this.capacity) this.times.push(nowMs);
    else this.times[this.next] = nowMs;
    this.next = (this.next + 1) % this.capacity;
  }
}
