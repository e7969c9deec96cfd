/**
 * The `metrics` section the three daemons share: where the OpenMetrics endpoint listens
 * (runtime/metrics). Absent = no endpoint.
 */
import { Schema } from 'effect';
import { EndpointText } from './config-schema.js';

/** Ports the documentation suggests per role (docs/operations.md, Metrics); used only when written. */
export const SUGGESTED_METRICS_PORTS = { ha: 9434, fa: 9435, mn: 9436 } as const;

export const MetricsSection = Schema.Struct({ listen: EndpointText });

export interface MetricsListen {
  /** Dotted quad; 127.0.0.1 keeps the endpoint on this host. */
  readonly address: string;
  /** 0 = a free port the system chooses (the `listening` line names it). */
  readonly port: number;
}

/** The validated section as the daemon needs it. */
export function metricsListen(section: Schema.Schema.Type<typeof MetricsSection>): MetricsListen {
  const [address, port] = section.listen.split(':');
  return { address: address!, port: Number(port) };
}

/** The commented lines each example configuration ends with. */
export function exampleMetricsSection(role: keyof typeof SUGGESTED_METRICS_PORTS): string {
  return `
# OpenMetrics for Prometheus (docs/operations.md, Metrics): GET http://ADDRESS:PORT/metrics.
# Optional; without it no port is opened. Keep it on loopback or a management network.
# metrics:
#   listen: 127.0.0.1:${SUGGESTED_METRICS_PORTS[role]}        # ADDRESS:PORT (suggested port for ${role}: ${SUGGESTED_METRICS_PORTS[role]})
`;
}
