/**
 * `mip4 ha`'s part of the operator features (runtime/cli/daemon-ops.ts): which fields are
 * example placeholders, and what a reload applies to a running home agent (mobile nodes,
 * foreign agents, limits.maxBindings, log.level) and what needs a restart (the rest).
 */
import type { LoadedHomeAgentConfig } from '../config/ha-config.js';
import { loadHomeAgentConfig } from '../config/ha-config.js';
import { homeAddressesOf } from '../ha/config-diff.js';
import type { HomeAgent } from '../ha/home-agent.js';
import { daemonReload, differingFields, type DaemonReload, type PlaceholderFields } from './daemon-ops.js';
import type { OperatorLog } from './operator-log.js';

export const homeAgentPlaceholders: PlaceholderFields<LoadedHomeAgentConfig> = (loaded) => [
  ['dataPath.homeInterface', loaded.dataPath?.homeInterface],
  ...(loaded.dataPath?.bpfInterfaces ?? []).map((name, i) => [`dataPath.bpfInterfaces[${i}]`, name] as const),
  ['advertisement.interface', loaded.advertisement?.interfaceName],
];

/** Fields a reload does not apply to a running home agent: the sockets, the data path, the agent's own settings. */
function homeAgentRestartOnly(current: LoadedHomeAgentConfig, next: LoadedHomeAgentConfig): string[] {
  const sections = differingFields(current as unknown as Record<string, unknown>, next as unknown as Record<string, unknown>, ['listen', 'dataPath', 'advertisement']).map((f) =>
    f === 'listen' ? 'homeAgent.listen' : f,
  );
  const settings = differingFields(current.config.settings as unknown as Record<string, unknown>, next.config.settings as unknown as Record<string, unknown>, Object.keys({ ...current.config.settings, ...next.config.settings })).map(
    (f) => `homeAgent (${f})`,
  );
  const limits = differingFields(current.config as unknown as Record<string, unknown>, next.config as unknown as Record<string, unknown>, [
    'authFailureRepliesPerSecond',
    'replayableRepliesPerNodePerSecond',
    'maxMessageBytes',
  ]).map((f) => `limits.${f}`);
  return [...sections, ...settings, ...limits];
}

/** The home agent's DaemonReload: SIGHUP and `mip4 reload` re-read `configPath` into `agent`. */
export function homeAgentReload(configPath: string, initial: LoadedHomeAgentConfig, agent: HomeAgent, log: OperatorLog, levelFromFlag: boolean): DaemonReload {
  return daemonReload(
    configPath,
    initial,
    {
      load: loadHomeAgentConfig,
      placeholders: homeAgentPlaceholders,
      restartOnly: homeAgentRestartOnly,
      apply: (next) => {
        const diff = agent.reconfigure(next.config);
        return { added: homeAddressesOf(diff.added), removed: homeAddressesOf(diff.removed), changed: homeAddressesOf(diff.changed), unchanged: diff.unchanged };
      },
      logLevel: (loaded) => loaded.logLevel,
    },
    log,
    levelFromFlag,
  );
}
