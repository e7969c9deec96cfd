/**
 * The forwarding table (FIB) the data plane reads: home address → where to tunnel.
 * Binding actors publish into it through the runtime; packet code reads only this table,
 * never an actor. Keys are int32 (`address | 0`): Map lookups with small-integer keys are
 * markedly faster than with numbers >= 2^31 (docs/performance.md).
 */
import { Subject, type Observable } from 'rxjs';
import type { Ipv4Address } from '../../io/wire/bytes.js';
import type { Encapsulation } from '../../machines/binding.js';

export interface TunnelTarget {
  readonly careOfAddress: Ipv4Address;
  readonly encapsulation: Encapsulation;
  /** Tunnel home-network broadcasts as well (B bit, 4.3). */
  readonly broadcast: boolean;
  /** Co-located care-of address: the mobile node decapsulates (D bit). */
  readonly decapsulatedByMobileNode: boolean;
  /**
   * The binding was granted 'T' (RFC 3024). The home agent decapsulates for any current binding
   * whose care-of address is the outer source (5.5 location privacy); this flag is informational
   * (tables, metrics).
   */
  readonly reverseTunnel: boolean;
  /**
   * Present when the binding uses UDP tunnelling (RFC 3519): tunnel packets go as tunnel data
   * messages from the agent's address, UDP source port 434, to this (translated) address and
   * port; `encapsulation` then names what follows the tunnel data header.
   */
  readonly udp?: { readonly address: Ipv4Address; readonly port: number };
}

export interface ForwardingEntry {
  readonly homeAddress: Ipv4Address;
  /** One per care-of address; more than one only with simultaneous bindings (3.6.1.2). */
  readonly tunnels: readonly TunnelTarget[];
}

export type ForwardingChange =
  | { readonly kind: 'set'; readonly entry: ForwardingEntry }
  | { readonly kind: 'delete'; readonly homeAddress: Ipv4Address };

function checkAddress(field: string, address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) {
    throw new RangeError(`forwarding table: ${field} must be an IPv4 address as an unsigned 32-bit integer, got ${address}`);
  }
}

/** Field by field, whatever fields a tunnel target has (so a field added later is compared too). */
function sameTunnel(a: TunnelTarget, b: TunnelTarget): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  let fields = 0;
  for (const field in x) {
    if (field === 'udp') {
      if (!sameUdp(a.udp, b.udp)) return false;
    } else if (x[field] !== y[field]) return false;
    fields++;
  }
  for (const _field in y) fields--;
  return fields === 0;
}

function sameUdp(a: TunnelTarget['udp'], b: TunnelTarget['udp']): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.address === b.address && a.port === b.port;
}

export class ForwardingTable {
  private readonly entries = new Map<number, ForwardingEntry>();
  private readonly changeSubject = new Subject<ForwardingChange>();

  /** Every change, in order. Subscribers see changes made after they subscribe. */
  readonly changes: Observable<ForwardingChange> = this.changeSubject.asObservable();

  get size(): number {
    return this.entries.size;
  }

  lookup(homeAddress: Ipv4Address): ForwardingEntry | undefined {
    return this.entries.get(homeAddress | 0);
  }

  /** Adds or replaces the tunnel to `target.careOfAddress` for `homeAddress`. */
  upsertTunnel(homeAddress: Ipv4Address, target: TunnelTarget): void {
    // Checked here, once per binding: the data plane writes this address into every tunnel
    // packet's outer header without checking it again.
    checkAddress('homeAddress', homeAddress);
    checkAddress('careOfAddress', target.careOfAddress);
    if (target.udp !== undefined) {
      checkAddress('udp.address', target.udp.address);
      if (!Number.isInteger(target.udp.port) || target.udp.port < 1 || target.udp.port > 0xffff) {
        throw new RangeError(`forwarding table: udp.port must be a UDP port 1..65535, got ${target.udp.port}`);
      }
    }
    const key = homeAddress | 0;
    const current = this.entries.get(key);
    // A renewal republishes the tunnel it already has: when nobody watches the changes, leave
    // the entry as it is rather than rebuilding it (one allocation less per registration).
    if (current !== undefined && !this.changeSubject.observed && current.tunnels.some((t) => sameTunnel(t, target))) return;
    const others = current ? current.tunnels.filter((t) => t.careOfAddress !== target.careOfAddress) : [];
    const entry: ForwardingEntry = { homeAddress, tunnels: [...others, target] };
    this.entries.set(key, entry);
    if (this.changeSubject.observed) this.changeSubject.next({ kind: 'set', entry });
  }

  /** Removes the tunnel to `careOfAddress`; the entry goes when its last tunnel does. */
  removeTunnel(homeAddress: Ipv4Address, careOfAddress: Ipv4Address): void {
    const key = homeAddress | 0;
    const current = this.entries.get(key);
    if (!current) return;
    const tunnels = current.tunnels.filter((t) => t.careOfAddress !== careOfAddress);
    if (tunnels.length === current.tunnels.length) return;
    if (tunnels.length === 0) {
      this.entries.delete(key);
      if (this.changeSubject.observed) this.changeSubject.next({ kind: 'delete', homeAddress });
    } else {
      const entry: ForwardingEntry = { homeAddress, tunnels };
      this.entries.set(key, entry);
      if (this.changeSubject.observed) this.changeSubject.next({ kind: 'set', entry });
    }
  }

  *[Symbol.iterator](): IterableIterator<ForwardingEntry> {
    yield* this.entries.values();
  }

  complete(): void {
    this.changeSubject.complete();
  }
}
