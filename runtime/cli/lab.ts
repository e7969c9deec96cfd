/** `mip4 lab up|down|status|move`: a Mobile IPv4 lab in network namespaces (runtime/lab/). */
import { parseArgs } from 'node:util';
import { DATA_PATH_ENGINE_SETTINGS, type DataPathEngineSetting } from '../../policies/data-path-engine.js';
import { DEFAULT_LAB_NAME, DEFAULT_STATE_DIR, LabError, labDown, labMove, labNatRestart, labStatus, labUp, statusText } from './lab/lab.js';
import { NAT_TIMEOUT_RANGE } from './lab/nat-plan.js';
import { ENCAPSULATIONS, LAB_REVERSE_TUNNEL_DEFAULT, MN_PLACES, type Encapsulation, type MnPlace } from './lab/plan.js';
import { labTraffic, trafficText, TRAFFIC_MOVES } from './lab/traffic.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';
import { reportNativeHelperMissing } from './native-helper.js';

const usage = `usage: mip4 lab up     [--name NAME] [--encapsulation ip-in-ip|minimal|gre] [--ingress-filter]
                       [--engine bpf|userspace|auto]
                       [--reverse-tunnel | --no-reverse-tunnel]
                       [--nat [--nat-udp-timeout S] [--nat-keepalive S]]
       mip4 lab status [--name NAME] [--json]
       mip4 lab move mn home|fa1|fa2|colocated [--name NAME]
       mip4 lab traffic [--name NAME] [--moves fa1,fa2,colocated,home] [--dwell-ms 6000]
                        [--tcp-mbit 10 | --no-tcp] [--json]
       mip4 lab nat restart [--name NAME] [--wait-ms N]
       mip4 lab down   [--name NAME]

Builds (as root) a Mobile IPv4 lab in network namespaces, TEST-NET addresses only: a
correspondent host (CH, 192.0.2.10) behind a router that joins the home network
(198.51.100.0/24, home agent 198.51.100.2) and two foreign networks (203.0.113.0/26 with
foreign agent FA1 203.0.113.2, 203.0.113.64/26 with FA2 203.0.113.66); the mobile node (home
address 198.51.100.10) starts at home. The segments are bridges in a switch namespace.

  up      creates the namespaces, bridges and veth pairs, writes the daemons' configs (keys
          generated for this lab), starts mip4 ha, fa (x2) and mn in their namespaces, waits
          until each reports ready and prints where everything is. State, configs and logs:
          ${DEFAULT_STATE_DIR}/NAME/
  status  namespaces, daemons alive, where the mobile node is and its registration
  traffic iperf3 TCP both ways (correspondent <-> home address) and a UDP probe every 10 ms
          each way, held through a sequence of moves; prints per move the probes lost each
          way, the time from carrier back to the first probe at the new place, whether each
          TCP connection held, and a verdict line for a direction that died (and why: the
          ingress filter's drops, reverse tunnelling off). Exit 1 unless both ways got through
          every move. Needs iperf3 (apt-get install iperf3) unless --no-tcp.
  move    moves the mobile node's link to another segment (its carrier drops, as when a
          cable is moved); colocated puts it on FA2's segment with a co-located care-of
          address (203.0.113.100)
  nat restart
          (a lab made with --nat) reboots the NAT: every mapping is lost and the next gets
          a new external port; then pings the home address from the correspondent every
          100 ms and reports the gap until the node's next keepalive or registration has
          told the home agent the new port (RFC 3519 4.10). Exit 1 if it did not come back.
  down    stops the daemons and removes every namespace and link of the lab, also after a
          crash; running it again does nothing

options:
  --name NAME          the lab's name (default ${DEFAULT_LAB_NAME}); namespaces are
                       m4lab-NAME-{sw,ch,rt,ha,fa1,fa2,mn}
  --encapsulation E    the tunnel the mobile node asks for (up; default ip-in-ip)
  --engine E           (up) dataPath.engine in every daemon's config: bpf (tc-BPF fast
                       path, docs/kernel-fast-path.md), userspace, or auto (bpf where the
                       kernel and privileges allow it); default: not written (the daemons'
                       default, auto)
  --ingress-filter     (up) the router drops, and counts, datagrams whose source is not in
                       the segment they arrive from (BCP 38, nftables: apt-get install nftables);
                       status shows the drops
  --reverse-tunnel, --no-reverse-tunnel
                       (up) the configs ask for reverse tunnels (RFC 3024 'T') or not
                       (default: ${LAB_REVERSE_TUNNEL_DEFAULT ? 'asked for' : 'not asked for'})
  --nat                (up) FA2's segment (FA2 and the co-located address 203.0.113.100)
                       sits behind a NAT router (namespace m4lab-NAME-nat, nftables masquerade
                       to 203.0.113.130: apt-get install nftables); the configs ask for UDP
                       tunnelling (RFC 3519); status shows the NAT's mappings
  --nat-udp-timeout S  (up) the NAT forgets a UDP mapping S seconds after its last datagram
                       (default: the kernel's, 30 s unreplied, 120 s both ways)
  --nat-keepalive S    (up) the keepalive interval the home agent grants (default half the
                       UDP timeout, at most 110 s)
  --wait-ms N          (nat restart) how long to wait for the node to be reachable again
                       (default keepalive interval + 10 s; 0: do not probe)
  --moves LIST         (traffic) places in order (default ${TRAFFIC_MOVES.join(',')})
  --dwell-ms N         (traffic) time at each place (default 6000)
  --tcp-mbit N         (traffic) iperf3's pace each way, Mbit/s (default 10)
  --no-tcp             (traffic) probes only, no iperf3
  --state-dir DIR      where labs keep their state (default ${DEFAULT_STATE_DIR})
  --json               status as JSON
  -h, --help           this text

exit status: 0 ok, 1 failure (not root, iproute2 missing, lab already up, no such lab, a
             daemon did not start), 2 usage error`;

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        encapsulation: { type: 'string' },
        engine: { type: 'string' },
        'state-dir': { type: 'string' },
        json: { type: 'boolean' },
        'ingress-filter': { type: 'boolean' },
        'reverse-tunnel': { type: 'boolean' },
        'no-reverse-tunnel': { type: 'boolean' },
        moves: { type: 'string' },
        'dwell-ms': { type: 'string' },
        'no-tcp': { type: 'boolean' },
        'tcp-mbit': { type: 'string' },
        nat: { type: 'boolean' },
        'nat-udp-timeout': { type: 'string' },
        'nat-keepalive': { type: 'string' },
        'wait-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  const [action, ...rest] = positionals;
  const options = { name: values.name ?? DEFAULT_LAB_NAME, stateDir: values['state-dir'] ?? DEFAULT_STATE_DIR };
  const noMore = () => {
    if (rest.length > 0) throw new UsageError(`unexpected ${JSON.stringify(rest.join(' '))} after '${action}'`);
  };
  try {
    switch (action) {
      case 'up': {
        noMore();
        const encapsulation = values.encapsulation ?? 'ip-in-ip';
        if (!ENCAPSULATIONS.includes(encapsulation as Encapsulation)) {
          throw new UsageError(`--encapsulation ${JSON.stringify(encapsulation)}: expected one of ${ENCAPSULATIONS.join(', ')}`);
        }
        const engine = values.engine;
        if (engine !== undefined && !DATA_PATH_ENGINE_SETTINGS.includes(engine as DataPathEngineSetting)) {
          throw new UsageError(`--engine ${JSON.stringify(engine)}: expected one of ${DATA_PATH_ENGINE_SETTINGS.join(', ')}`);
        }
        if (reportNativeHelperMissing('lab up', io)) return ExitCode.Failure;
        if (values['reverse-tunnel'] && values['no-reverse-tunnel']) throw new UsageError('--reverse-tunnel and --no-reverse-tunnel: choose one');
        const reverseTunnel = values['reverse-tunnel'] ? true : values['no-reverse-tunnel'] ? false : undefined;
        const natSeconds = (flag: 'nat-udp-timeout' | 'nat-keepalive'): number | undefined => {
          const text = values[flag];
          if (text === undefined) return undefined;
          if (!values.nat) throw new UsageError(`--${flag} needs --nat`);
          const seconds = Number(text);
          if (!Number.isInteger(seconds) || seconds < NAT_TIMEOUT_RANGE[0] || seconds > NAT_TIMEOUT_RANGE[1]) {
            throw new UsageError(`--${flag} ${JSON.stringify(text)}: expected whole seconds from ${NAT_TIMEOUT_RANGE[0]} to ${NAT_TIMEOUT_RANGE[1]}`);
          }
          return seconds;
        };
        const udpTimeoutSeconds = natSeconds('nat-udp-timeout');
        const keepaliveSeconds = natSeconds('nat-keepalive');
        const result = await labUp({
          ...options,
          encapsulation: encapsulation as Encapsulation,
          ingressFilter: values['ingress-filter'] ?? false,
          ...(engine !== undefined ? { engine: engine as DataPathEngineSetting } : {}),
          ...(reverseTunnel !== undefined ? { reverseTunnel } : {}),
          ...(values.nat ? { nat: { ...(udpTimeoutSeconds !== undefined ? { udpTimeoutSeconds } : {}), ...(keepaliveSeconds !== undefined ? { keepaliveSeconds } : {}) } } : {}),
        });
        io.out(result.summary);
        return ExitCode.Ok;
      }
      case 'down': {
        noMore();
        const result = await labDown(options);
        io.out(
          result.removedNamespaces.length === 0 && !result.removedDirectory
            ? `lab '${options.name}': nothing to remove`
            : `lab '${options.name}' removed: ${result.stoppedDaemons} processes stopped, ${result.removedNamespaces.length} namespaces deleted`,
        );
        return ExitCode.Ok;
      }
      case 'status': {
        noMore();
        const status = await labStatus(options);
        io.out(values.json ? JSON.stringify(status) : statusText(status));
        return ExitCode.Ok;
      }
      case 'move': {
        const [node, place, ...extra] = rest;
        if (node !== 'mn' || place === undefined || extra.length > 0) throw new UsageError(`expected 'move mn ${MN_PLACES.join('|')}'`);
        if (!MN_PLACES.includes(place as MnPlace)) throw new UsageError(`unknown place ${JSON.stringify(place)}: expected one of ${MN_PLACES.join(', ')}`);
        io.out((await labMove({ ...options, place: place as MnPlace })).summary);
        return ExitCode.Ok;
      }
      case 'traffic': {
        noMore();
        const moves = (values.moves ?? TRAFFIC_MOVES.join(',')).split(',');
        for (const m of moves) if (!MN_PLACES.includes(m as MnPlace)) throw new UsageError(`--moves: unknown place ${JSON.stringify(m)}: expected a comma-separated list of ${MN_PLACES.join(', ')}`);
        const dwellMs = Number(values['dwell-ms'] ?? 6000);
        if (!Number.isInteger(dwellMs) || dwellMs < 1000 || dwellMs > 120_000) throw new UsageError(`--dwell-ms ${JSON.stringify(values['dwell-ms'])}: expected an integer from 1000 to 120000`);
        const tcpMbitPerSecond = Number(values['tcp-mbit'] ?? 10);
        if (!(tcpMbitPerSecond > 0 && tcpMbitPerSecond <= 1000)) throw new UsageError(`--tcp-mbit ${JSON.stringify(values['tcp-mbit'])}: expected a number above 0, at most 1000`);
        const report = await labTraffic({ ...options, moves: moves as MnPlace[], dwellMs, tcp: !values['no-tcp'], tcpMbitPerSecond, ...(values.json ? {} : { progress: (line: string) => io.err(line) }) });
        io.out(values.json ? JSON.stringify(report) : trafficText(report));
        return report.bothWaysThroughEveryMove ? ExitCode.Ok : ExitCode.Failure;
      }
      case 'nat': {
        const [what, ...extra] = rest;
        if (what !== 'restart' || extra.length > 0) throw new UsageError("expected 'nat restart'");
        const waitText = values['wait-ms'];
        const waitMs = waitText === undefined ? undefined : Number(waitText);
        if (waitMs !== undefined && (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > 600_000)) throw new UsageError(`--wait-ms ${JSON.stringify(waitText)}: expected an integer from 0 to 600000`);
        const result = await labNatRestart({ ...options, ...(waitMs !== undefined ? { waitMs } : {}) });
        io.out(values.json ? JSON.stringify(result) : result.summary);
        return result.waitedMs === 0 || result.gapMs !== undefined ? ExitCode.Ok : ExitCode.Failure;
      }
      case undefined:
        throw new UsageError('expected an action: up, down, status, move, traffic or nat');
      default:
        throw new UsageError(`unknown action ${JSON.stringify(action)}: expected up, down, status, move, traffic or nat`);
    }
  } catch (error) {
    if (error instanceof LabError) {
      io.err(`mip4 lab: ${error.message}`);
      return ExitCode.Failure;
    }
    throw error;
  }
}

export const labCommand: Subcommand = { name: 'lab', usage, run };
