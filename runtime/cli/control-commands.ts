/**
 * The operator's commands on a running daemon, through its control socket
 * (runtime/control/, docs/operations.md "Control socket"): `mip4 bindings`, `visitors`,
 * `status`, `traffic`, `clear binding|visitor`, `mobile-node`, `debug on|off`, `reload`.
 * Tables by default, one JSON document with --json; --ndjson writes the rows as they stream in.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseIpv4 } from '../../io/wire/bytes.js';
import type { BindingView } from '../ha/home-agent.js';
import type { VisitorView } from '../fa/foreign-agent.js';
import { controlCall, ControlClientError, type ControlOutcome } from '../control/control-client.js';
import { controlDirectory, defaultControlSocket, type DaemonRole } from '../control/protocol.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';
import { bindingsTable, keyValueText, visitorsTable } from './tables.js';

const SOCKET_USAGE = `  --socket PATH        the daemon's control socket (or MIP4_CONTROL_SOCKET); default
                       /run/mip4/<role>.sock (MIP4_CONTROL_DIR changes the directory)`;
const EXIT_USAGE = 'exit status: 0 ok, 1 the daemon is unreachable or refused, 2 usage error';

const DAEMON_NAME: Record<DaemonRole, string> = { ha: 'mip4 ha', fa: 'mip4 fa', mn: 'mip4 mn' };

/**
 * The socket to talk to: --socket, MIP4_CONTROL_SOCKET, the role's default, or (for commands
 * every daemon answers) the only socket in the control directory.
 */
export function resolveSocket(option: string | undefined, role: DaemonRole | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined) return option;
  const fromEnv = env.MIP4_CONTROL_SOCKET;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (role !== undefined) return defaultControlSocket(role, env);
  const directory = controlDirectory(env);
  let found: string[] = [];
  try {
    found = readdirSync(directory, { withFileTypes: true })
      .filter((entry) => entry.isSocket() && entry.name.endsWith('.sock'))
      .map((entry) => join(directory, entry.name))
      .sort();
  } catch {
    // no directory: no daemon
  }
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new ControlClientError('unreachable', `no control socket in ${directory} (is a mip4 daemon running? --socket PATH names one)`);
  throw new ControlClientError('unreachable', `several daemons answer in ${directory}: ${found.join(', ')}; choose one with --socket PATH`);
}

function addressOption(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (parseIpv4(value) === undefined) throw new UsageError(`${name} ${JSON.stringify(value)}: expected an IPv4 address such as 198.51.100.10`);
  return value;
}

/** Runs a client command: a ControlClientError is printed and exits 1. */
async function talk(io: Io, command: string, work: () => Promise<void>): Promise<number> {
  try {
    await work();
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof ControlClientError) {
      io.err(`mip4 ${command}: ${error.message}`);
      return ExitCode.Failure;
    }
    throw error;
  }
}

const COMMON_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function timeoutOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!(seconds > 0)) throw new UsageError(`--timeout ${JSON.stringify(text)}: expected seconds, e.g. 5`);
  return seconds * 1000;
}

// ---------------------------------------------------------------------------------------------
// bindings, visitors: streamed tables

function tableCommand<Row>(options: {
  readonly name: string;
  readonly role: DaemonRole;
  readonly controlCommand: string;
  readonly usage: string;
  readonly filters: Readonly<Record<string, string>>;
  readonly table: (rows: readonly Row[]) => string;
}): Subcommand {
  const run = async (argv: string[], io: Io): Promise<number> => {
    const filterOptions = Object.fromEntries(Object.keys(options.filters).map((flag) => [flag, { type: 'string' } as const]));
    const { values } = parseOrUsage(() => parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ndjson: { type: 'boolean' }, ...filterOptions } }));
    if (values.help) {
      io.out(options.usage);
      return ExitCode.Ok;
    }
    const args: Record<string, string> = {};
    for (const [flag, field] of Object.entries(options.filters)) {
      const value = addressOption(`--${flag}`, (values as Record<string, string | undefined>)[flag]);
      if (value !== undefined) args[field] = value;
    }
    const timeoutMs = timeoutOf(values.timeout);
    return talk(io, options.name, async () => {
      const socket = resolveSocket(values.socket, options.role);
      const call = { daemon: DAEMON_NAME[options.role], ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
      if (values.ndjson) {
        // Constant memory whatever the table's size: each row is written as it arrives.
        await controlCall(socket, options.controlCommand, args, { ...call, onRow: (row) => io.out(JSON.stringify(row)) });
        return;
      }
      const outcome = await controlCall(socket, options.controlCommand, args, call);
      const rows = (outcome.kind === 'rows' ? outcome.rows : []) as Row[];
      io.out(values.json ? JSON.stringify(rows) : options.table(rows));
    });
  };
  return { name: options.name, usage: options.usage, run };
}

export const bindingsCommand = tableCommand<BindingView>({
  name: 'bindings',
  role: 'ha',
  controlCommand: 'bindings',
  filters: { 'home-address': 'homeAddress', 'care-of': 'careOfAddress' },
  table: bindingsTable,
  usage: `usage: mip4 bindings [--home-address A] [--care-of C] [--json | --ndjson] [--socket PATH]

The home agent's mobility bindings (like show ip mobile binding), filtered by the daemon.

options:
  --home-address A     only the bindings of this home address
  --care-of C          only the bindings to this care-of address
  --json               one JSON array of the bindings
  --ndjson             one JSON object per line, written as the rows arrive (large tables)
${SOCKET_USAGE}
  --timeout SECONDS    wait at most this long for the daemon (default 5)

${EXIT_USAGE}`,
});

export const visitorsCommand = tableCommand<VisitorView>({
  name: 'visitors',
  role: 'fa',
  controlCommand: 'visitors',
  filters: { 'home-address': 'homeAddress' },
  table: visitorsTable,
  usage: `usage: mip4 visitors [--home-address A] [--json | --ndjson] [--socket PATH]

The foreign agent's visitor list (like show ip mobile visitor), filtered by the daemon.

options:
  --home-address A     only the entries of this home address
  --json               one JSON array of the entries
  --ndjson             one JSON object per line, written as the rows arrive
${SOCKET_USAGE}
  --timeout SECONDS    wait at most this long for the daemon (default 5)

${EXIT_USAGE}`,
});

// ---------------------------------------------------------------------------------------------
// status, traffic, mobile-node: one value

function valueCommand(options: { readonly name: string; readonly role: DaemonRole | undefined; readonly title: string; readonly usage: string }): Subcommand {
  const run = async (argv: string[], io: Io): Promise<number> => {
    const { values } = parseOrUsage(() => parseArgs({ args: argv, options: COMMON_OPTIONS }));
    if (values.help) {
      io.out(options.usage);
      return ExitCode.Ok;
    }
    const timeoutMs = timeoutOf(values.timeout);
    return talk(io, options.name, async () => {
      const socket = resolveSocket(values.socket, options.role);
      const outcome = await controlCall(socket, options.name, {}, { ...(options.role !== undefined ? { daemon: DAEMON_NAME[options.role] } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      const result = valueOf(outcome) as Record<string, unknown>;
      io.out(values.json ? JSON.stringify(result) : keyValueText(options.title, result));
    });
  };
  return { name: options.name, usage: options.usage, run };
}

function valueOf(outcome: ControlOutcome): unknown {
  if (outcome.kind !== 'value') throw new ControlClientError('protocol', 'the daemon streamed rows where one value was expected');
  return outcome.result;
}

const ANY_DAEMON_SOCKET = `  --socket PATH        the daemon's control socket (or MIP4_CONTROL_SOCKET); default: the
                       only socket in /run/mip4 (MIP4_CONTROL_DIR changes the directory)`;

export const statusCommand = valueCommand({
  name: 'status',
  role: undefined,
  title: 'Daemon status',
  usage: `usage: mip4 status [--json] [--socket PATH]

A running daemon's role, version, pid, uptime, step engine, control socket, log level, its
table sizes, counters and data path.

options:
  --json               one JSON object
${ANY_DAEMON_SOCKET}
  --timeout SECONDS    wait at most this long for the daemon (default 5)

${EXIT_USAGE}`,
});

export const trafficCommand = valueCommand({
  name: 'traffic',
  role: undefined,
  title: 'Traffic',
  usage: `usage: mip4 traffic [--json] [--socket PATH]

A running daemon's counters (like show ip mobile traffic): requests, replies per code,
discards per reason, bindings per encapsulation and the data plane's packets, bytes and drops
by reason, under the names the agents count them by.

options:
  --json               one JSON object
${ANY_DAEMON_SOCKET}
  --timeout SECONDS    wait at most this long for the daemon (default 5)

${EXIT_USAGE}`,
});

export const mobileNodeCommand = valueCommand({
  name: 'mobile-node',
  role: 'mn',
  title: 'Mobile node',
  usage: `usage: mip4 mobile-node [--json] [--socket PATH]

The mobile node's state: attachment (at-home, foreign-agent, co-located, searching), home
address, home agent, care-of address, agent, registration and lifetime remaining, and the
counters (requests sent, replies accepted and denied).

options:
  --json               one JSON object
${SOCKET_USAGE}
  --timeout SECONDS    wait at most this long for the daemon (default 5)

${EXIT_USAGE}`,
});

// ---------------------------------------------------------------------------------------------
// clear, debug, reload: actions

const clearUsage = `usage: mip4 clear binding HOME-ADDRESS [--socket PATH] [--json]
       mip4 clear visitor HOME-ADDRESS [--socket PATH] [--json]

binding: an administrative deregistration at the home agent: every binding of the node goes
         as at expiry (tunnel, route and proxy ARP undone), logged as binding-cleared.
visitor: the foreign agent's visitor entries of that home address go with their delivery
         route, logged as visitor-cleared.

options:
${SOCKET_USAGE}
  --json               the daemon's answer as JSON

${EXIT_USAGE}`;

export const clearCommand: Subcommand = {
  name: 'clear',
  usage: clearUsage,
  run: async (argv, io) => {
    const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, allowPositionals: true, options: COMMON_OPTIONS }));
    if (values.help) {
      io.out(clearUsage);
      return ExitCode.Ok;
    }
    const [what, address, ...rest] = positionals;
    if ((what !== 'binding' && what !== 'visitor') || address === undefined || rest.length > 0) throw new UsageError("expected 'clear binding HOME-ADDRESS' or 'clear visitor HOME-ADDRESS'");
    addressOption(what, address);
    const role: DaemonRole = what === 'binding' ? 'ha' : 'fa';
    const timeoutMs = timeoutOf(values.timeout);
    return talk(io, 'clear', async () => {
      const socket = resolveSocket(values.socket, role);
      const result = valueOf(await controlCall(socket, `clear-${what}`, { homeAddress: address }, { daemon: DAEMON_NAME[role], ...(timeoutMs !== undefined ? { timeoutMs } : {}) })) as Record<string, unknown>;
      io.out(values.json ? JSON.stringify(result) : what === 'binding' ? `cleared the bindings of ${address} (care-of ${(result.careOfAddresses as string[]).join(', ')})` : `cleared visitor ${address} (${String(result.entries)} entries)`);
    });
  },
};

const debugUsage = `usage: mip4 debug on|off [--home-address A] [--socket PATH]

Turns debug logging of a running daemon on or off, for every node or for one home address.

options:
  --home-address A     only this node's lines
${ANY_DAEMON_SOCKET}

${EXIT_USAGE}`;

export const debugCommand: Subcommand = {
  name: 'debug',
  usage: debugUsage,
  run: async (argv, io) => {
    const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, allowPositionals: true, options: { ...COMMON_OPTIONS, 'home-address': { type: 'string' } } }));
    if (values.help) {
      io.out(debugUsage);
      return ExitCode.Ok;
    }
    const [onOff, ...rest] = positionals;
    if ((onOff !== 'on' && onOff !== 'off') || rest.length > 0) throw new UsageError("expected 'debug on' or 'debug off'");
    const homeAddress = addressOption('--home-address', values['home-address']);
    return talk(io, 'debug', async () => {
      const socket = resolveSocket(values.socket, undefined);
      const result = valueOf(await controlCall(socket, 'debug', { on: onOff === 'on', ...(homeAddress !== undefined ? { homeAddress } : {}) })) as {
        level: string;
        debugHomeAddresses: string[];
      };
      io.out(values.json ? JSON.stringify(result) : `log level ${result.level}${result.debugHomeAddresses.length > 0 ? `; debug for ${result.debugHomeAddresses.join(', ')}` : ''}`);
    });
  },
};

const reloadUsage = `usage: mip4 reload [--socket PATH] [--json]

Asks a running daemon to read its configuration file again (as SIGHUP does). An invalid file
is refused with the errors the daemon found, and the running configuration stays.

options:
${ANY_DAEMON_SOCKET}
  --json               the outcome as JSON

${EXIT_USAGE}`;

export const reloadCommand: Subcommand = {
  name: 'reload',
  usage: reloadUsage,
  run: async (argv, io) => {
    const { values } = parseOrUsage(() => parseArgs({ args: argv, options: COMMON_OPTIONS }));
    if (values.help) {
      io.out(reloadUsage);
      return ExitCode.Ok;
    }
    let refused = false;
    const code = await talk(io, 'reload', async () => {
      const socket = resolveSocket(values.socket, undefined);
      // Reading a million-node file takes seconds: wait longer than for a table.
      const result = valueOf(await controlCall(socket, 'reload', {}, { timeoutMs: timeoutOf(values.timeout) ?? 60_000 })) as Record<string, unknown>;
      if (values.json) io.out(JSON.stringify(result));
      else if (result.ok === true) {
        io.out(`reloaded: ${(result.added as string[]).length} added, ${(result.removed as string[]).length} removed, ${(result.changed as string[]).length} changed, ${String(result.unchanged)} unchanged`);
      }
      if (result.ok !== true) {
        refused = true;
        if (!values.json) for (const error of (result.errors as string[] | undefined) ?? []) io.err(`mip4 reload: ${error}`);
      }
    });
    return refused ? ExitCode.Failure : code;
  },
};
