/**
 * A small live debug switch for `mip4 debug on|off [--home-address A]`: while on, the
 * daemon's actor transitions ({actor, from, to, reason}) are logged, for every node or only
 * for the actors of the given home addresses. The operator logger (log levels, per-registration
 * detail) replaces this with its own DaemonLogControl; the control socket only sees that interface.
 */
import type { Observable, Subscription } from 'rxjs';
import type { TransitionRecord } from '../actors/actor-host.js';
import type { DaemonLogControl, LogLevel } from './protocol.js';

export function transitionDebugLog(transitions: Observable<TransitionRecord>, log: (event: object) => void, startLevel: LogLevel = 'info'): DaemonLogControl {
  let all = false;
  const addresses = new Set<string>();
  let subscription: Subscription | undefined;
  // Actor ids name their node: binding:198.51.100.10, visitor:198.51.100.10/nai, pending:198.51.100.10#1f.
  const addressOf = (actor: string) => /:(\d+\.\d+\.\d+\.\d+)/.exec(actor)?.[1];
  const wanted = (record: TransitionRecord) => all || addresses.has(addressOf(record.actor) ?? '');
  const control = {
    level: startLevel,
    setDebug(on: boolean, homeAddress?: string) {
      if (homeAddress === undefined) {
        all = on;
        if (!on) addresses.clear();
      } else if (on) addresses.add(homeAddress);
      else addresses.delete(homeAddress);
      const active = all || addresses.size > 0;
      if (active && subscription === undefined) {
        subscription = transitions.subscribe((t) => {
          if (wanted(t)) log({ ...t, event: 'transition', trigger: t.event, level: 'debug' });
        });
      } else if (!active && subscription !== undefined) {
        subscription.unsubscribe();
        subscription = undefined;
      }
      control.level = active ? 'debug' : startLevel;
      return { level: control.level, debugHomeAddresses: all ? ['all'] : [...addresses] };
    },
  };
  return control;
}
