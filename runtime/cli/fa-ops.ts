/**
 * `mip4 fa`'s part of the operator features (runtime/cli/daemon-ops.ts): its placeholder field,
 * and what a reload applies to a running foreign agent (the mobile nodes' and home agents'
 * security associations, log.level) and what needs a restart (interface, addresses,
 * advertisement, limits).
 */
import { ipv4ToString } from '../../io/wire/bytes.js';
import { loadForeignAgentConfig, type LoadedForeignAgentConfig } from '../config/fa-config.js';
import type { FaPeerConfig, ForeignAgent } from '../fa/foreign-agent.js';
import { daemonReload, differingFields, type DaemonReload, type PlaceholderFields } from './daemon-ops.js';
import type { OperatorLog } from './operator-log.js';

export const foreignAgentPlaceholders: PlaceholderFields<LoadedForeignAgentConfig> = (loaded) => [['foreignAgent.interface', loaded.interfaceName]];

type Fields = Readonly<Record<string, unknown>>;

function foreignAgentRestartOnly(current: LoadedForeignAgentConfig, next: LoadedForeignAgentConfig): string[] {
  const settings = current.config.settings as unknown as Fields;
  const nextSettings = next.config.settings as unknown as Fields;
  return [
    ...(current.interfaceName !== next.interfaceName ? ['foreignAgent.interface'] : []),
    ...differingFields(settings, nextSettings, Object.keys({ ...settings, ...nextSettings })).map((f) => `foreignAgent (${f})`),
    ...differingFields(current.config as unknown as Fields, next.config as unknown as Fields, ['advertisement', 'pendingTimeoutMs']),
  ];
}

const named = (kind: string, peers: readonly FaPeerConfig[]) => peers.map((p) => `${kind} ${ipv4ToString(p.address)}`);

/** The foreign agent's DaemonReload: SIGHUP (and `mip4 reload`) re-read `configPath` into `agent`. */
export function foreignAgentReload(configPath: string, initial: LoadedForeignAgentConfig, agent: ForeignAgent, log: OperatorLog, levelFromFlag: boolean): DaemonReload {
  return daemonReload(
    configPath,
    initial,
    {
      load: loadForeignAgentConfig,
      placeholders: foreignAgentPlaceholders,
      restartOnly: foreignAgentRestartOnly,
      apply: (next) => {
        const { mobileNodes: m, homeAgents: h } = agent.reconfigure(next.config);
        return {
          added: [...named('mobileNode', m.added), ...named('homeAgent', h.added)],
          removed: [...named('mobileNode', m.removed), ...named('homeAgent', h.removed)],
          changed: [...named('mobileNode', m.changed), ...named('homeAgent', h.changed)],
          unchanged: m.unchanged + h.unchanged,
        };
      },
      logLevel: (loaded) => loaded.logLevel,
    },
    log,
    levelFromFlag,
  );
}
