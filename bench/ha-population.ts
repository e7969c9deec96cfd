/**
 * The in-process home agent population the CPU probes share (ha-scale.ts, metrics-cost.ts):
 * N mobile nodes on 10.0.0.0/8 with one HMAC-MD5 timestamp context, and their signed
 * Requests from one care-of address. Nothing here leaves the process.
 */
import { fromHex } from '../io/wire/bytes.js';
import { identificationFromUnixMs } from '../io/wire/identification.js';
import { authPlaceholder, encodeSigned } from '../policies/sign.js';
import type { HomeAgentConfig, MobileNodeConfig } from '../runtime/ha/home-agent.js';

export const HOME_NETWORK = 0x0a000000; // 10.0.0.0/8 inside this process only: no packet leaves it
export const HA = HOME_NETWORK | 1;
export const COA = 0xcb007101; // 203.0.113.1
const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
const context = { spi: 4096, algorithm: 'hmac-md5' as const, key, replay: 'timestamp' as const, replayWindowSeconds: 7 };

/** The home address of node `index` (0-based). */
export function homeAddressOf(index: number): number {
  return (HOME_NETWORK | (index + 2)) >>> 0;
}

/** A home agent config with `n` mobile nodes. */
export function populationConfig(n: number): HomeAgentConfig {
  const mobileNodes: MobileNodeConfig[] = [];
  for (let i = 0; i < n; i++) mobileNodes.push({ homeAddress: homeAddressOf(i), contexts: [context], maxLifetime: 3600, maxBindings: 1 });
  return {
    settings: { addresses: [HA], homeNetwork: HOME_NETWORK, prefixLength: 8, simultaneousBindings: true, broadcast: false, encapsulations: { minimal: true, gre: true }, reverseTunneling: false },
    mobileNodes,
    foreignAgents: [],
    maxBindings: n,
  };
}

/** A signed Registration Request of `homeAddress` for COA, its Identification from `nowMs` and `low`. */
export function signedRequest(homeAddress: number, nowMs: number, low: number): Uint8Array {
  return encodeSigned(
    { type: 1, flags: 0, lifetime: 3600, homeAddress, homeAgent: HA, careOfAddress: COA, identification: identificationFromUnixMs(nowMs, low), extensions: [authPlaceholder(32, 4096)] },
    () => context,
  );
}
