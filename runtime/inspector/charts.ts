/** The machines `mip4 chart` and the inspector draw, by the names both use. */
import type { AnyStateMachine } from 'xstate';

export interface ChartedMachine {
  readonly describe: string;
  readonly load: () => Promise<AnyStateMachine>;
}

export const CHARTED_MACHINES: Readonly<Record<string, ChartedMachine>> = {
  ha: { describe: "the home agent's mobility binding (RFC 5944 3.8)", load: async () => (await import('../../machines/binding.js')).bindingMachine },
  'fa-visitor': { describe: "a foreign agent's visitor entry (3.7)", load: async () => (await import('../../machines/visitor.js')).visitorMachine },
  'fa-pending': {
    describe: "a foreign agent's pending registration (3.7.1, code 78)",
    load: async () => (await import('../../machines/fa-pending.js')).faPendingMachine,
  },
  'fa-advertiser': {
    describe: "an agent's advertisements (2.3)",
    load: async () => (await import('../../machines/advertiser.js')).advertiserMachine,
  },
  'mn-discovery': {
    describe: "a mobile node's agent discovery and move detection (2.4)",
    load: async () => (await import('../../machines/mn-discovery.js')).mnDiscoveryMachine,
  },
  'mn-registration': {
    describe: "a mobile node's pending registration (3.6)",
    load: async () => (await import('../../machines/mn-registration.js')).mnRegistrationMachine,
  },
};

export const CHART_NAMES = Object.keys(CHARTED_MACHINES);
