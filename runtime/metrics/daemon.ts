/**
 * What a daemon (`mip4 ha|fa|mn`) calls to serve its metrics: a few lines in each command,
 * the work here. A listen failure is reported naming `metrics.listen`; the daemon exits 1.
 */
import { readFileSync } from 'node:fs';
import { engineKindFromEnvironment } from '../actors/machine-engine.js';
import { buildRegistries, type MetricsBuilder, type MetricsRole, type RegistryOptions } from './registry.js';
import { MetricsListenError, startMetricsServer, type MetricsServer } from './server.js';

/** mip4's version from its package.json, found upwards from this module (src or dist). */
export function packageVersion(): string {
  for (let url = new URL('.', import.meta.url); url.pathname !== '/'; url = new URL('..', url)) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('package.json', url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'mip4' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json at this level: look one up.
    }
  }
  return 'unknown';
}

/**
 * Starts the metrics endpoint when the config has a `metrics` section: undefined without one,
 * 'failed' (reported on `err`) when it cannot listen. `build` runs only when there is one.
 */
export async function startDaemonMetrics(
  role: MetricsRole,
  listen: { readonly address: string; readonly port: number } | undefined,
  build: () => MetricsBuilder,
  err: (line: string) => void,
  options: RegistryOptions = {},
): Promise<MetricsServer | undefined | 'failed'> {
  if (listen === undefined) return undefined;
  const registries = buildRegistries({ role, version: packageVersion(), engine: engineKindFromEnvironment() }, build(), options);
  try {
    return await startMetricsServer(listen, registries);
  } catch (error) {
    if (!(error instanceof MetricsListenError)) throw error;
    err(`mip4 ${role}: ${error.message}`);
    return 'failed';
  }
}
