/**
 * The `mip4` command line: a subcommand per job, `--help` on each, and exit codes that mean
 * something: 0 ok, 1 failure, 2 usage error.
 */
import { ExitCode, processIo, UsageError, type Io, type Subcommand } from './args.js';

interface SubcommandEntry {
  readonly name: string;
  readonly summary: string;
  /** Loaded on use: the home agent pulls in effect, xstate and rxjs, which `decode` does not need. */
  readonly load: () => Promise<Subcommand>;
}

export const subcommands: readonly SubcommandEntry[] = [
  {
    name: 'demo',
    summary: 'a mobile node roaming on a simulated network: timeline, delivery per phase, pcaps',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  { name: 'ha', summary: 'run a home agent on UDP (config file)', load: async () => (await import('./ha.js')).haCommand },
  { name: 'fa', summary: 'run a foreign agent on a network interface (config file)', load: async () => (await import('./fa.js')).faCommand },
  { name: 'mn', summary: 'run a mobile node on a Linux interface (config file)', load: async () => (await import('./mn.js')).mnCommand },
  {
    name: 'lab',
    summary: 'a Mobile IPv4 lab in network namespaces: up, status, move mn, down (root)',
    load: async () => (await import('./lab.js')).labCommand,
  },
  { name: 'bindings', summary: "a home agent's bindings (control socket)", load: async () => (await import('./control-commands.js')).bindingsCommand },
  { name: 'visitors', summary: "a foreign agent's visitors (control socket)", load: async () => (await import('./control-commands.js')).visitorsCommand },
  { name: 'status', summary: "a daemon's role, version, uptime, counters (control socket)", load: async () => (await import('./control-commands.js')).statusCommand },
  { name: 'traffic', summary: "a daemon's counters per code, reason, encapsulation (control socket)", load: async () => (await import('./control-commands.js')).trafficCommand },
  { name: 'clear', summary: 'clear binding A / clear visitor A: administrative removal (control socket)', load: async () => (await import('./control-commands.js')).clearCommand },
  { name: 'mobile-node', summary: "the mobile node's state (control socket)", load: async () => (await import('./control-commands.js')).mobileNodeCommand },
  { name: 'debug', summary: 'debug on|off [--home-address A]: live debug logging (control socket)', load: async () => (await import('./control-commands.js')).debugCommand },
  { name: 'reload', summary: 'a running daemon re-reads its configuration (control socket)', load: async () => (await import('./control-commands.js')).reloadCommand },
  {
    name: 'register',
    summary: 'send one Registration Request to a home agent and print the checked Reply',
    load: async () => (await import('./register.js')).registerCommand,
  },
  {
    name: 'conformance',
    summary: 'test a home agent against RFC 5944 on the wire: per-requirement verdicts',
    load: async () => (await import('./conformance.js')).conformanceCommand,
  },
  { name: 'decode', summary: 'decode Mobile IP messages (hex, file, pcap/pcapng, stdin) to JSON', load: async () => (await import('./decode.js')).decodeCommand },
  { name: 'chart', summary: "print a machine's state chart (Mermaid or JSON)", load: async () => (await import('./chart.js')).chartCommand },
  {
    name: 'examples',
    summary: 'build, authenticate and decode the RFC 5944 Appendix G example messages',
    load: async () => (await import('./examples.js')).examplesCommand,
  },
  { name: 'version', summary: 'print the version of mip4 (also --version, -V)', load: async () => (await import('./version.js')).versionCommand },
];

function overview(): string {
  const width = Math.max(...subcommands.map((c) => c.name.length));
  return [
    'usage: mip4 <command> [options]',
    '',
    'Mobile IPv4 (RFC 5944) home agent, foreign agent and mobile node.',
    '',
    'commands:',
    ...subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'mip4 <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') return main(['version', ...argv.slice(1)], io);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined) return main([rest[0], '--help'], io);
    if (name === undefined) {
      io.err(overview());
      return ExitCode.Usage;
    }
    io.out(overview());
    return ExitCode.Ok;
  }
  const entry = subcommands.find((c) => c.name === name);
  if (!entry) {
    io.err(`mip4: unknown command '${name}'\n\n${overview()}`);
    return ExitCode.Usage;
  }
  const command = await entry.load();
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`mip4 ${command.name}: ${error.message}\n\n${command.usage}`);
      return ExitCode.Usage;
    }
    io.err(`mip4 ${command.name}: ${(error as Error).stack ?? String(error)}`);
    return ExitCode.Failure;
  }
}
