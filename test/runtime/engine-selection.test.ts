/**
 * Which engine the actor host runs (runtime/actors/machine-engine.ts): the `engine` option,
 * else MIP4_ENGINE, and a start-up error, not a silent fall back, for a machine the compiler
 * cannot take. The last test holds in either CI run: it shows that the run with
 * MIP4_ENGINE=xstate really puts the hosts (and so the agents) on xstate.
 */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { SimulatedClock } from '../../io/clock.js';
import { ipv4 } from '../../io/wire/bytes.js';
import { bindingMachine, type BindingInput, type BindingMachine } from '../../machines/binding.js';
import { ActorHost } from '../../runtime/actors/actor-host.js';

const T0 = Date.UTC(2026, 0, 1);
const HOME = ipv4('198.51.100.10');
const COA = ipv4('203.0.113.1');

describe('ActorHost: which engine runs', () => {
  const input: BindingInput = {
    homeAddress: HOME,
    careOfAddress: COA,
    lifetime: 600,
    identification: { high: 0x5eed, low: 1 },
    encapsulation: 'ip-in-ip',
    broadcast: false,
    decapsulatedByMobileNode: false,
    reverseTunnel: false,
    at: T0,
  };
  const clock = new SimulatedClock(T0);

  /** xstate's own snapshots carry their machine; the compiled engine's are `{value, context, status}`. */
  const runsOnXstate = (host: ActorHost<BindingMachine>) => 'machine' in host.spawn('a', input).snapshot;

  function withEngineVariable<T>(value: string | undefined, body: () => T): T {
    const saved = process.env.MIP4_ENGINE;
    if (value === undefined) delete process.env.MIP4_ENGINE;
    else process.env.MIP4_ENGINE = value;
    try {
      return body();
    } finally {
      if (saved === undefined) delete process.env.MIP4_ENGINE;
      else process.env.MIP4_ENGINE = saved;
    }
  }

  it('MIP4_ENGINE=xstate switches every host without an engine option to xstate, and the host says so', () => {
    const host = withEngineVariable('xstate', () => new ActorHost(bindingMachine, { clock }));
    expect(host.engineKind).toBe('xstate');
    expect(runsOnXstate(host)).toBe(true);
    const compiled = withEngineVariable(undefined, () => new ActorHost(bindingMachine, { clock }));
    expect(compiled.engineKind).toBe('compiled');
    expect(runsOnXstate(compiled)).toBe(false);
  });

  it('the engine option wins over MIP4_ENGINE; an unknown MIP4_ENGINE stops the start', () => {
    const host = withEngineVariable('xstate', () => new ActorHost(bindingMachine, { clock, engine: 'compiled' }));
    expect(host.engineKind).toBe('compiled');
    expect(runsOnXstate(host)).toBe(false);
    expect(() => withEngineVariable('fast', () => new ActorHost(bindingMachine, { clock }))).toThrow(/MIP4_ENGINE=fast/);
  });

  it('a machine the compiler cannot take stops the start, naming the machine and the feature', () => {
    const parallel = setup({}).createMachine({ id: 'twoRegions', type: 'parallel', states: { a: {}, b: {} } });
    expect(() => new ActorHost(parallel, { clock, engine: 'compiled' })).toThrow(/machine 'twoRegions' cannot be compiled: parallel state #twoRegions/);
    expect(new ActorHost(parallel, { clock, engine: 'xstate' }).engineKind).toBe('xstate');
  });

  it('this run uses the engine MIP4_ENGINE names (the CI run with MIP4_ENGINE=xstate really runs on xstate)', () => {
    const expected = process.env.MIP4_ENGINE === 'xstate' ? 'xstate' : 'compiled';
    const host = new ActorHost(bindingMachine, { clock });
    expect(host.engineKind).toBe(expected);
    expect(runsOnXstate(host)).toBe(expected === 'xstate');
  });
});
