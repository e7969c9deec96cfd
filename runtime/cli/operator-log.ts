/**
 * The daemons' operator log: one JSON object per line, each starting with an ISO-8601 `time`
 * and a `level`, then the event's own fields. The level of an event is chosen here, by its
 * name (docs/operations.md lists them); lines below the daemon's level are never assembled.
 *
 * The reply line is on the registration hot path (bench part 5): the event's JSON still comes
 * from jsonLine (assembled, not stringified), and time and level are a cached prefix in front
 * of it, so the line equals JSON.stringify({ time, level, ...event }) at the cost of a concat.
 */
import { jsonLine } from './log-line.js';
import { LOG_LEVELS, type LogLevel } from '../config/log-config.js';

export { LOG_LEVELS, type LogLevel };

export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** What the control part's `mip4 debug on|off [--home-address A]` and `mip4 status` use. */
export interface DaemonLogControl {
  readonly level: LogLevel;
  /** on: debug lines (per-registration detail, transitions) for all nodes, or for one home address; off: back to the start level. */
  setDebug(on: boolean, homeAddress?: string): { readonly level: LogLevel; readonly debugHomeAddresses: readonly string[] };
}

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/** `--log-level`'s complaint for a value that is no level, or undefined. */
export function logLevelProblem(text: string): string | undefined {
  return isLogLevel(text) ? undefined : `--log-level ${JSON.stringify(text)}: expected one of ${LOG_LEVELS.join(', ')}`;
}

/**
 * Levels of the events the daemons emit, by event name. Anything not listed is info. Denials
 * are info (a refused registration is the protocol working) unless they are a security
 * exception (then warn, as are discards: counted anyway, and worth an operator's look).
 */
const EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  // failures of the daemon's own machinery
  'socket-error': 'error',
  'binding-error': 'error',
  'actor-error': 'error',
  'data-path-error': 'error',
  'link-error': 'error',
  'host-error': 'error',
  error: 'error',
  'reload-refused': 'error',
  // what arrives and is dropped, or ends badly
  discard: 'warn',
  'icmp-error': 'warn',
  'reply-discarded': 'warn',
  'given-up': 'warn',
  'reverse-tunnel-warning': 'warn',
  'udp-tunnel-warning': 'warn',
  'reload-restart-needed': 'warn',
  'reload-unsupported': 'warn',
  // per-registration detail: state changes, and ARP work no home link carries out (no dataPath)
  transition: 'debug',
  arp: 'debug',
  // RFC 3519 keepalives: one per idle interval per node
  'udp-keepalive': 'debug',
};

/**
 * The daemon's own lifecycle lines, written at info whatever the level: an operator (and a
 * supervisor waiting for readiness) must see a daemon start, reload and stop even at error.
 */
const LIFECYCLE_EVENTS: ReadonlySet<string> = new Set(['listening', 'started', 'stopped', 'reloaded']);

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

/** The level of a daemon event (see EVENT_LEVELS). */
export function levelOf(event: object): LogLevel {
  const e = event as { readonly event?: unknown; readonly securityException?: unknown };
  const byName = typeof e.event === 'string' ? EVENT_LEVELS[e.event] : undefined;
  if (byName !== undefined) return byName;
  return e.securityException === true ? 'warn' : 'info';
}

const ADDRESS_IN_TEXT = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/;

/** The home address a line is about: its `homeAddress`, or the first address in an actor id (`binding:A@C`). */
function homeAddressOf(event: object): string | undefined {
  const e = event as { readonly homeAddress?: unknown; readonly actor?: unknown };
  if (typeof e.homeAddress === 'string') return e.homeAddress;
  if (typeof e.actor === 'string') return ADDRESS_IN_TEXT.exec(e.actor)?.[0];
  return undefined;
}

/**
 * `"time":"…","level":"…",` texts for the current millisecond. The date and time to the second
 * are made once a second; the milliseconds are three digits appended.
 */
class TimePrefix {
  private second = Number.NaN;
  private secondText = '';

  iso(nowMs: number): string {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) {
      this.second = second;
      // "2026-12-07T02:37:10." — toISOString's first 20 characters for the whole second.
      this.secondText = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const ms = nowMs - second * 1000;
    return `${this.secondText}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  }
}

export interface OperatorLogOptions {
  /** Writes one line (no newline). */
  readonly write: (line: string) => void;
  readonly level?: LogLevel;
  /** Milliseconds since the epoch; Date.now unless a test fixes it. */
  readonly now?: () => number;
}

/** The daemon's logger; also the DaemonLogControl the control socket drives. */
export class OperatorLog implements DaemonLogControl {
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private readonly time = new TimePrefix();
  private startLevel: LogLevel;
  private debugForAll = false;
  private readonly debugHomeAddresses = new Set<string>();
  /** The rank lines must not exceed, unless their home address is being debugged. */
  private rank: number;

  constructor(options: OperatorLogOptions) {
    this.write = options.write;
    this.now = options.now ?? Date.now;
    this.startLevel = options.level ?? DEFAULT_LOG_LEVEL;
    this.rank = LEVEL_RANK[this.startLevel];
  }

  get level(): LogLevel {
    return LOG_LEVELS[this.rank]!;
  }

  /** Changes the level set at start (a reload with a new `log.level`); live debug stays as it is. */
  setStartLevel(level: LogLevel): void {
    this.startLevel = level;
    this.updateRank();
  }

  setDebug(on: boolean, homeAddress?: string): { readonly level: LogLevel; readonly debugHomeAddresses: readonly string[] } {
    if (homeAddress === undefined) {
      this.debugForAll = on;
      if (!on) this.debugHomeAddresses.clear();
    } else if (on) this.debugHomeAddresses.add(homeAddress);
    else this.debugHomeAddresses.delete(homeAddress);
    this.updateRank();
    return { level: this.level, debugHomeAddresses: [...this.debugHomeAddresses] };
  }

  /** Whether lines of `level` are written (for all nodes). */
  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] <= this.rank;
  }

  /** Whether any line of `level` may be written, for all nodes or one being debugged. */
  mayWrite(level: LogLevel): boolean {
    return this.enabled(level) || (this.debugHomeAddresses.size > 0 && LEVEL_RANK[level] <= LEVEL_RANK.debug);
  }

  /** Writes the event at its level (levelOf) if that level is on, for everyone or for its home address. */
  log(event: object): void {
    this.logAt(levelOf(event), event);
  }

  logAt(level: LogLevel, event: object): void {
    if (!this.passes(level, event)) return;
    this.write(this.line(level, event));
  }

  /** The line of an event at a level: JSON.stringify({ time, level, ...event })'s text. */
  line(level: LogLevel, event: object): string {
    const body = jsonLine(event);
    const head = `{"time":"${this.time.iso(this.now())}","level":"${level}"`;
    return body === '{}' ? `${head}}` : `${head},${body.slice(1)}`;
  }

  private passes(level: LogLevel, event: object): boolean {
    const rank = LEVEL_RANK[level];
    if (rank <= this.rank) return true;
    if (LIFECYCLE_EVENTS.has((event as { readonly event?: string }).event ?? '')) return true;
    if (this.debugHomeAddresses.size === 0 || rank > LEVEL_RANK.debug) return false;
    const address = homeAddressOf(event);
    return address !== undefined && this.debugHomeAddresses.has(address);
  }

  private updateRank(): void {
    const start = LEVEL_RANK[this.startLevel];
    this.rank = this.debugForAll ? Math.max(start, LEVEL_RANK.debug) : start;
  }
}
