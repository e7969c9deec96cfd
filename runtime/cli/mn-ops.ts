/**
 * `mip4 mn`'s part of the operator features (runtime/cli/daemon-ops.ts). A mobile node holds
 * one registration whose every field comes from its file, so it applies a new configuration by
 * restarting (its host state file makes that safe). Its reload checks the file, so that the
 * operator learns whether the restart would work, and says so; it changes nothing.
 */
import { loadMobileNodeConfig, type LoadedMobileNodeConfig } from '../config/mn-config.js';
import { checkConfigFile, type DaemonReload, type PlaceholderFields } from './daemon-ops.js';
import type { OperatorLog } from './operator-log.js';

export const mobileNodePlaceholders: PlaceholderFields<LoadedMobileNodeConfig> = (loaded) => [
  ['mobileNode.interface', loaded.interfaceName],
  ['mobileNode.tunnelDevice', loaded.host?.tunnelDevice],
];

export const MOBILE_NODE_RELOAD_NOTE = 'mip4 mn applies a new configuration when restarted (systemctl restart, or SIGTERM and start); nothing was changed';

export function mobileNodeReload(configPath: string, log: OperatorLog): DaemonReload {
  return {
    reload() {
      const check = checkConfigFile(configPath, loadMobileNodeConfig, mobileNodePlaceholders);
      const errors = check.ok ? [MOBILE_NODE_RELOAD_NOTE] : [...check.errors, MOBILE_NODE_RELOAD_NOTE];
      log.log({ event: check.ok ? 'reload-unsupported' : 'reload-refused', config: configPath, errors });
      return Promise.resolve({ ok: false, errors });
    },
  };
}
