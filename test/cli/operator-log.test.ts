/**
 * The daemons' operator log (runtime/cli/operator-log.ts): ISO-8601 time and level on every
 * line, levels by event, the level threshold, live debug for all or one home address, and the
 * reply line still assembled without JSON.stringify yet equal to it with time and level.
 */
import { describe, expect, it } from 'vitest';
import { isLogLevel, levelOf, logLevelProblem, OperatorLog, type LogLevel } from '../../runtime/cli/operator-log.js';
import { buildRequest, Harness, MHAE, MN2, WRONG_KEY } from '../runtime/home-agent-harness.js';

function capture(level?: LogLevel, now?: () => number): { log: OperatorLog; lines: string[] } {
  const lines: string[] = [];
  const log = new OperatorLog({ write: (line) => lines.push(line), ...(level !== undefined ? { level } : {}), ...(now !== undefined ? { now } : {}) });
  return { log, lines };
}

const REPLY = { event: 'reply', trace: 'k1', at: 1, code: 0, text: 'registration accepted', homeAddress: '198.51.100.10', careOfAddress: '203.0.113.77', lifetime: 600, to: '203.0.113.77:434', operation: 'register' };
const TRANSITION = { actor: 'binding:198.51.100.10', from: 'registered', to: 'registered', reason: 'renewed', event: 'transition', trigger: 'register', at: 1 };

describe('OperatorLog', () => {
  it('starts every line with an ISO-8601 time (parsed by Date to the same millisecond) and the level', () => {
    let now = Date.UTC(2026, 11, 7, 2, 37, 10, 5);
    const { log, lines } = capture('info', () => now);
    for (const step of [0, 90, 905, 1, 60_000, 3_600_000 * 30]) {
      now += step;
      log.log({ event: 'listening', pid: 1 });
      const parsed = JSON.parse(lines.at(-1)!) as { time: string; level: string };
      expect(Object.keys(parsed).slice(0, 2)).toEqual(['time', 'level']);
      expect(parsed.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(parsed.time)).toBe(now);
      expect(parsed.time).toBe(new Date(now).toISOString());
      expect(parsed.level).toBe('info');
    }
  });

  it('writes the reply line as JSON.stringify({ time, level, ...event }) would, for every event a home agent emits', () => {
    const now = Date.UTC(2026, 11, 7, 2, 37, 10, 42);
    const { log, lines } = capture('debug', () => now);
    const h = new Harness();
    h.register();
    h.deliver(buildRequest({ identification: h.fresh(), homeAddress: MN2, extensions: [MHAE(WRONG_KEY)] }));
    h.deliver(Uint8Array.of(1, 2, 3));
    h.clock.advance(1_800_000);
    expect(new Set(h.events.map((e) => e.event))).toEqual(new Set(['reply', 'discard', 'binding-expired']));
    for (const event of h.events) {
      log.log(event);
      expect(lines.at(-1)).toBe(JSON.stringify({ time: new Date(now).toISOString(), level: levelOf(event), ...event }));
    }
    expect(log.line('info', {})).toBe(JSON.stringify({ time: new Date(now).toISOString(), level: 'info' }));
  });

  it('chooses levels by event: accepted and denied replies info, security exceptions and discards warn, failures error, detail debug', () => {
    expect(levelOf(REPLY)).toBe('info');
    expect(levelOf({ ...REPLY, code: 133 })).toBe('info');
    expect(levelOf({ ...REPLY, code: 131, securityException: true })).toBe('warn');
    expect(levelOf({ event: 'discard', reason: 'malformed' })).toBe('warn');
    expect(levelOf({ event: 'socket-error' })).toBe('error');
    expect(levelOf({ event: 'reload-refused' })).toBe('error');
    expect(levelOf({ event: 'binding-expired' })).toBe('info');
    expect(levelOf({ event: 'binding-removed' })).toBe('info');
    expect(levelOf({ event: 'arp', executed: false })).toBe('debug');
    expect(levelOf(TRANSITION)).toBe('debug');
  });

  it('writes only the lines at or above its level', () => {
    const { log, lines } = capture('warn');
    log.log(REPLY);
    log.log(TRANSITION);
    log.log({ event: 'discard', reason: 'malformed' });
    log.log({ event: 'socket-error' });
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn', 'error']);
    const error = capture('error');
    error.log.log({ event: 'discard' });
    expect(error.lines).toEqual([]);
  });

  it('writes the lifecycle lines (listening, started, reloaded, stopped) at info whatever its level', () => {
    const { log, lines } = capture('error');
    for (const event of ['listening', 'started', 'reloaded', 'stopped', 'binding-expired']) log.log({ event });
    expect(lines.map((l) => JSON.parse(l) as { level: string; event: string }).map((l) => `${l.level} ${l.event}`)).toEqual([
      'info listening',
      'info started',
      'info reloaded',
      'info stopped',
    ]);
  });

  it('turns debug on for everyone and off again, back to the start level', () => {
    const { log, lines } = capture('info');
    log.log(TRANSITION);
    expect(lines).toEqual([]);
    expect(log.setDebug(true)).toEqual({ level: 'debug', debugHomeAddresses: [] });
    expect(log.level).toBe('debug');
    log.log(TRANSITION);
    expect(lines).toHaveLength(1);
    expect(log.setDebug(false)).toEqual({ level: 'info', debugHomeAddresses: [] });
    log.log(TRANSITION);
    expect(lines).toHaveLength(1);
    // Debug on a daemon started at trace does not lower it.
    const verbose = capture('trace');
    expect(verbose.log.setDebug(true).level).toBe('trace');
  });

  it('turns debug on for one home address: its detail lines pass, other nodes\' do not, the level stays', () => {
    const { log, lines } = capture('info');
    expect(log.setDebug(true, '198.51.100.10')).toEqual({ level: 'info', debugHomeAddresses: ['198.51.100.10'] });
    log.log(TRANSITION);
    log.log({ ...TRANSITION, actor: 'binding:198.51.100.11' });
    log.log({ ...TRANSITION, actor: 'binding:198.51.100.10@203.0.113.77' });
    log.log({ event: 'arp', homeAddress: '198.51.100.10' });
    log.log({ event: 'arp', homeAddress: '198.51.100.11' });
    log.logAt('trace', { event: 'x', homeAddress: '198.51.100.10' });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).map((l) => l.actor ?? l.homeAddress)).toEqual([
      'binding:198.51.100.10',
      'binding:198.51.100.10@203.0.113.77',
      '198.51.100.10',
    ]);
    expect(log.mayWrite('debug')).toBe(true);
    expect(log.enabled('debug')).toBe(false);
    expect(log.setDebug(false, '198.51.100.10')).toEqual({ level: 'info', debugHomeAddresses: [] });
    log.log(TRANSITION);
    expect(lines).toHaveLength(3);
    expect(log.mayWrite('debug')).toBe(false);
  });

  it('knows the level names', () => {
    expect(['error', 'warn', 'info', 'debug', 'trace'].every(isLogLevel)).toBe(true);
    expect(isLogLevel('verbose')).toBe(false);
    expect(logLevelProblem('verbose')).toBe('--log-level "verbose": expected one of error, warn, info, debug, trace');
    expect(logLevelProblem('warn')).toBeUndefined();
  });
});


