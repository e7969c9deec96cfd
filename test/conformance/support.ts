/**
 * A `mip4 ha` child process on loopback and the conformance config that describes it, for the
 * conformance tests: two addresses (127.0.0.1 and 127.0.0.2) and the home network's broadcast
 * address (127.255.255.255) on one port, a timestamp node and a nonce node, all features on. Port 434 needs root, so each home agent gets a free high port.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess } from '../support/daemon-process.js';
import { writePrivateFile } from '../support/files.js';

export const NODES = [
  { homeAddress: '127.0.1.1', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c', replay: 'timestamp' },
  { homeAddress: '127.0.1.2', spi: 4097, key: '000102030405060708090a0b0c0d0e0f', replay: 'nonce' },
] as const;

const nodesYaml = (extra = '') =>
  NODES.map((n) => `  - homeAddress: ${n.homeAddress}\n    spi: ${n.spi}\n    key: ${n.key}\n    replay: ${n.replay}\n${extra}`).join('');

/** The home agent's own configuration (mip4 ha). */
export function haConfig(port: number): string {
  return `homeAgent:
  address: 127.0.0.1
  otherAddresses: [127.0.0.2]
  homeNetwork: 127.0.0.0/8
  listen: [127.0.0.1:${port}, 127.0.0.2:${port}, 127.255.255.255:${port}]
  maxLifetime: 600
  simultaneousBindings: true
  broadcast: false
  replyOnAuthFailure: true
limits:
  replayableRepliesPerNodePerSecond: 50
store: none
control:
  socket: none
mobileNodes:
${nodesYaml()}`;
}

/** What `mip4 conformance` is told about that home agent. */
export function conformanceConfig(): string {
  return `homeAgent:
  address: 127.0.0.1
  otherAddresses: [127.0.0.2]
  homeNetwork: 127.0.0.0/8
  maxLifetime: 600
  simultaneousBindings: true
  broadcast: false
  encapsulations: [ip-in-ip, minimal, gre]
  reverseTunnel: allowed
  replyOnAuthFailure: true
  replayableRepliesPerSecond: 40
  broadcastAddress: 127.255.255.255
mobileNodes:
${nodesYaml()}unservedHomeAddress: 127.0.1.99
`;
}

/** A UDP port free on 127.0.0.1 and 127.0.0.2 at the time of asking. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const socket = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket.address().port)));
    const other = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      other.once('error', () => resolve(false));
      other.bind(port, '127.0.0.2', () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (ok) await new Promise<void>((resolve) => other.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no UDP port free on both 127.0.0.1 and 127.0.0.2 after 20 tries');
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'mip4-conformance-'));
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writePrivateFile(path, text);
    return path;
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts `mip4 ha` (optionally a copy's bin/mip4.js) and waits for its listening line. */
export async function startHomeAgent(scratch: Scratch, name: string, bin = 'bin/mip4.js'): Promise<{ daemon: DaemonProcess; port: number }> {
  const port = await freePort();
  const daemon = new DaemonProcess(['ha', '--config', scratch.file(`${name}.yaml`, haConfig(port))], { command: [process.execPath, bin] });
  await daemon.line('listening', 20_000);
  return { daemon, port };
}

/** What the mutation test measured (docs/conformance-mutants.json). */
export interface MutantTable {
  readonly measuredAt: string;
  readonly baseline: { readonly exit: number; readonly cases: number; readonly checks: number; readonly fail: number; readonly transitions: string; readonly requirements: number };
  readonly mutants: ReadonlyArray<{ readonly mutant: string; readonly defect: string; readonly breaks: string; readonly exit: number; readonly caught: boolean; readonly failedRequirements: readonly string[] }>;
  readonly seconds: number;
}

/** The Markdown table README.md and docs/conformance.md quote, rendered from the measurement. */
export function mutantTableMarkdown(table: MutantTable): string {
  return [
    '| Mutant | Defect | Breaks | Caught | Requirements failed |',
    '|---|---|---|---|---|',
    ...table.mutants.map((r) => `| \`${r.mutant}\` | ${r.defect} | ${r.breaks} | ${r.caught ? 'yes' : '**no**'} (exit ${r.exit}) | ${r.failedRequirements.join(' ')} |`),
    '',
    `Baseline (unmutated): exit ${table.baseline.exit}, ${table.baseline.cases} cases, ${table.baseline.checks} checks, ${table.baseline.fail} failed, ${table.baseline.transitions} binding transitions, ${table.baseline.requirements} requirement ids; measured ${table.measuredAt}, whole test ${table.seconds} s.`,
  ].join('\n');
}
