/**
 * The operator's tables: bindings (`mip4 bindings`, the home agent's SIGUSR2) and visitors
 * (`mip4 visitors`, the foreign agent's SIGUSR2), columns aligned to their widest cell.
 * Types only are imported, so the client commands load no agent.
 */
import type { BindingView } from '../ha/home-agent.js';
import type { VisitorView } from '../fa/foreign-agent.js';

/** Aligned columns under a title line, two spaces apart, trailing spaces trimmed. */
export function alignedTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [title, line(header), ...rows.map(line)].join('\n');
}

/** Seconds as the tables write them: 65535 is the infinite lifetime (3.3). */
const seconds = (n: number | string | undefined) => (n === undefined ? '-' : n === 0xffff || n === 'infinite' ? 'infinite' : String(n));

/** The bindings as `show mobile-ip bindings` would print them. */
export function bindingsTable(bindings: readonly BindingView[]): string {
  const header = ['Home address', 'Care-of address', 'Lifetime', 'Remaining', 'Encap', 'Flags', 'Identification', 'Relayed by', 'UDP tunnel'];
  const rows = bindings.map((b) => [
    b.homeAddress,
    b.careOfAddress,
    seconds(b.lifetime),
    seconds(b.remaining),
    b.encapsulation,
    b.flags || '-',
    b.identification,
    b.relayedBy ?? '-',
    b.udpTunnel ?? '-',
  ]);
  return alignedTable(`Mobility bindings: ${bindings.length}`, header, rows);
}

/** The visitor list (3.7.1) as `show mobile-ip visitors` would print it. */
export function visitorsTable(visitors: readonly VisitorView[]): string {
  const header = ['Home address', 'State', 'Link-layer address', 'Care-of address', 'Home agent', 'Lifetime', 'Remaining', 'Flags', 'Identification'];
  const rows = visitors.map((v) => [
    v.nai === undefined ? v.homeAddress : `${v.homeAddress} (${v.nai})`,
    v.renewalPending ? `${v.state} (renewal pending)` : v.state,
    v.linkLayerAddress ?? '-',
    v.careOfAddress ?? '-',
    v.homeAgent ?? '-',
    seconds(v.lifetime),
    seconds(v.remaining),
    visitorFlags(v),
    v.identification ?? '-',
  ]);
  return alignedTable(`Visitors: ${visitors.length}`, header, rows);
}

/** The reverse tunnel's flags, then "UDP 110s" when the home agent tunnels over this agent's UDP flow (RFC 3519) with that keepalive interval. */
function visitorFlags(v: VisitorView): string {
  const reverse = reverseTunnelFlags(v.reverseTunnel);
  if (v.udpTunnel === undefined) return reverse;
  const udp = `UDP ${v.udpTunnel.keepaliveInterval}s`;
  return reverse === '-' ? udp : `${reverse} ${udp}`;
}

/** 'T' and the delivery style of a reverse tunnel (RFC 3024), e.g. "T direct", "T encapsulating gre"; "-" without one. */
function reverseTunnelFlags(tunnel: VisitorView['reverseTunnel']): string {
  if (tunnel === undefined) return '-';
  return `T ${tunnel.delivery}${tunnel.encapsulation === 'ip-in-ip' ? '' : ` ${tunnel.encapsulation}`}`;
}

/** `key: value` lines under a title; nested objects as compact JSON. */
export function keyValueText(title: string, value: Record<string, unknown>): string {
  const width = Object.keys(value).reduce((w, k) => Math.max(w, k.length), 0);
  const text = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  return [title, ...Object.entries(value).map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${text(v)}`)].join('\n');
}
