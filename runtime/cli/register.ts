/**
 * `mip4 register`: one registration with a home agent, as a mobile node with a co-located
 * care-of address or relayed as a foreign agent would send it, and the decoded Reply: for
 * testing a deployment from the command line. The message work is register-client.ts; here
 * are the options, the keys, the UDP socket and the printing.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ipv4ToString, parseHex, parseIpv4, type Ipv4Address } from '../../io/wire/bytes.js';
import { identificationToHex, identificationToUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationRequest, flagsFromBits } from '../../io/wire/registration.js';
import { registrationToJson } from '../../io/wire/registration-json.js';
import { isAcceptedCode } from '../../io/wire/reply-codes.js';
import { MOBILE_IP_PORT, RequestFlag, type Identification, type RequestFlagName } from '../../io/wire/registration-types.js';
import { AUTH_ALGORITHMS, type AuthAlgorithm } from '../../policies/auth.js';
import { DEFAULT_REGISTRATION_LIFETIME, nextIdentification } from '../../policies/mn-request.js';
import type { ReplayProtection } from '../../policies/security-association.js';
import type { SigningKey } from '../../policies/sign.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';
import { buildRegisterRequest, isIdentificationMismatch, judgeReply, type RegisterRequestSpec, type ReplyJudgement } from './register-client.js';

const usage = `usage: mip4 register --home-agent ADDR[:PORT] (--home-address A | --nai NAI) --spi N
                     (--key-file F | MIP4_KEY=hex | --key HEX) [options]

Sends one Registration Request to a home agent and prints the decoded Reply, checked as a
mobile node checks it: the Identification matches the Request and the Mobile-Home
authenticator verifies (RFC 5944 3.6.2.1). For testing a deployment.

options:
  --home-agent ADDR[:PORT]  the home agent (port 434 by default); also the Request's Home Agent field
  --home-address A     the mobile node's home address
  --nai NAI            a Mobile Node NAI extension (RFC 2794); without --home-address the
                       Request asks for an address (home address 0.0.0.0)
  --care-of C          the care-of address to register (default: the --from address)
  --lifetime S         seconds asked for (default ${DEFAULT_REGISTRATION_LIFETIME}; 0 deregisters the care-of
                       address; 65535 = infinite)
  --spi N              SPI of the mobile node's security context with the home agent
  --algorithm A        hmac-md5 (default) or keyed-md5
  --key-file F         a file (mode 0600) holding the key as hex; or the MIP4_KEY environment
  --key HEX            variable; --key shows the key in the process list: for throwaway keys
  --timestamp          timestamp replay protection (the default, RFC 5944 5.7.1)
  --nonce              nonce replay protection (5.7.2): the home agent's first answer (133)
                       carries the nonce, and the Request is sent again with it
  --flags S,B,D,M,G,T  the Request's flag bits (default D, a co-located care-of address;
                       with --as-fa none); --flags none clears them all
  --as-fa              relay as a foreign agent: send from the agent's address (--from),
                       care-of = that address by default, no D bit
  --fa-spi N           with --as-fa, add a Foreign-Home Authentication Extension (3.5.4) with
  --fa-key-file F      the foreign agent's key (or MIP4_FA_KEY, or --fa-key HEX) and check
  --fa-key HEX         the one in the Reply; --fa-algorithm A as for --algorithm
  --from ADDR[:PORT]   local address (and port) to send from (default: any, a free port)
  --timeout S          seconds to wait for each Reply (default 3)
  --retries N          Requests sent again, each with a new Identification, when no Reply
                       comes (default 2)
  --json               one JSON object instead of the table
  -h, --help           this text

exit status: 0 registration accepted (code 0 or 1) and the Reply checks out, 1 denied (the
             code and its meaning are printed), a Reply that does not check out, or no
             Reply, 2 usage error`;

/** ADDR or ADDR:PORT. */
function parseEndpoint(option: string, text: string, defaultPort: number): { address: Ipv4Address; port: number } {
  const [addressText, portText, ...rest] = text.split(':');
  const address = parseIpv4(addressText ?? '');
  const port = portText === undefined ? defaultPort : Number(portText);
  if (address === undefined || rest.length > 0 || !Number.isInteger(port) || port < 0 || port > 65535 || portText === '') {
    throw new UsageError(`${option} ${JSON.stringify(text)}: expected an IPv4 address, optionally :PORT, e.g. 198.51.100.1:434`);
  }
  return { address, port };
}

function parseAddress(option: string, text: string): Ipv4Address {
  const address = parseIpv4(text);
  if (address === undefined) throw new UsageError(`${option} ${JSON.stringify(text)}: expected an IPv4 address`);
  return address;
}

function parseInteger(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`${option} ${JSON.stringify(text)}: expected an integer from ${min} to ${max}`);
  return value;
}

function parseAlgorithm(option: string, text: string | undefined): AuthAlgorithm {
  const algorithm = (text ?? 'hmac-md5').toLowerCase();
  if (!AUTH_ALGORITHMS.includes(algorithm as AuthAlgorithm)) throw new UsageError(`${option} ${JSON.stringify(text)}: use ${AUTH_ALGORITHMS.join(' or ')}`);
  return algorithm as AuthAlgorithm;
}

function parseFlags(text: string): number {
  if (text.trim().toLowerCase() === 'none' || text.trim() === '') return 0;
  const bits: Partial<Record<RequestFlagName, boolean>> = {};
  for (const letter of text.split(',').map((l) => l.trim().toUpperCase())) {
    if (!['S', 'B', 'D', 'M', 'G', 'T'].includes(letter)) throw new UsageError(`--flags: unknown flag ${JSON.stringify(letter)}; use S, B, D, M, G and T separated by commas, or none`);
    bits[letter as RequestFlagName] = true;
  }
  return flagsFromBits(bits);
}

/**
 * A key from a file (preferred), the environment, or the command line (with a warning); no
 * message shows the key. Returns undefined when none of the three is given.
 */
async function readKeyOption(
  label: string,
  sources: { readonly file?: string; readonly env?: string; readonly envName: string; readonly hex?: string; readonly hexOption: string; readonly fileOption: string },
  io: Io,
): Promise<Uint8Array | undefined> {
  if (sources.file !== undefined && sources.hex !== undefined) throw new UsageError(`give ${sources.fileOption} or ${sources.hexOption}, not both`);
  let key: Uint8Array | undefined;
  if (sources.file !== undefined) {
    // The daemons' key-file rules (hex text, readable by the owner only), with their messages.
    const { readKey } = await import('../config/config-schema.js');
    const issues: Array<{ path: string; message: string }> = [];
    key = readKey({ keyFile: sources.file, allowShortKey: true }, sources.fileOption, process.cwd(), issues);
    if (key === undefined) throw new UsageError(issues.map((i) => i.message).join('; '));
  } else if (sources.hex !== undefined) {
    io.err(`mip4 register: warning: ${sources.hexOption} puts the ${label} in the process list and the shell history; use ${sources.fileOption} or ${sources.envName} for real keys`);
    key = parseHex(sources.hex);
    if (key === undefined || key.length === 0) throw new UsageError(`${sources.hexOption}: the key must be non-empty hex (the value given is not shown)`);
  } else if (sources.env !== undefined && sources.env !== '') {
    key = parseHex(sources.env.trim());
    if (key === undefined || key.length === 0) throw new UsageError(`${sources.envName}: the key must be non-empty hex (the value is not shown)`);
  }
  if (key !== undefined && key.length < 16) io.err(`mip4 register: warning: the ${label} is ${key.length} bytes, shorter than the 16 of RFC 5944 5.1`);
  return key;
}

export interface Received {
  readonly bytes: Uint8Array;
  readonly from: string;
}

/** A UDP socket that queues what it receives, so no Reply is missed between waits. */
export class ReplySocket {
  private readonly queue: Received[] = [];
  private wake: (() => void) | undefined;
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, rinfo) => {
      this.queue.push({ bytes: new Uint8Array(data), from: `${rinfo.address}:${rinfo.port}` });
      this.wake?.();
    });
  }

  static async open(from: { address: Ipv4Address; port: number } | undefined): Promise<ReplySocket> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: from?.port ?? 0, address: from === undefined ? undefined : ipv4ToString(from.address) }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => {}); // e.g. an ICMP error on some systems: the wait times out instead
    return new ReplySocket(socket);
  }

  send(bytes: Uint8Array, to: { address: Ipv4Address; port: number }): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, to.port, ipv4ToString(to.address), (error) => (error ? reject(error) : resolve())));
  }

  /** The next datagram, or undefined after `timeoutMs`. */
  async next(timeoutMs: number): Promise<Received | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const first = this.queue.shift();
      if (first) return first;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function random32(): number {
  return randomBytes(4).readUInt32BE(0);
}

interface Outcome {
  readonly judgement?: ReplyJudgement;
  readonly from?: string;
  readonly rttMs?: number;
  readonly attempts: number;
  readonly identification: Identification;
  readonly requestJson: Record<string, unknown>;
  /** Why there is no usable Reply, when there is none. */
  readonly failure?: string;
  /** Datagrams that were no Reply to this Request, explained. */
  readonly ignored: readonly string[];
}

async function exchange(spec: RegisterRequestSpec, socket: ReplySocket, to: { address: Ipv4Address; port: number }, timeoutMs: number, retries: number): Promise<Outcome> {
  let previous: Identification | undefined;
  let clockOffsetMs = 0;
  let nonce: number | undefined;
  let resynchronised = false;
  const ignored: string[] = [];
  let attempts = 0;
  let sent = 0;
  let last: { identification: Identification; requestJson: Record<string, unknown> } | undefined;
  let mismatched: { judgement: ReplyJudgement; from: string } | undefined;
  while (sent <= retries) {
    const identification = nextIdentification({ replay: spec.replay, nowUnixMs: Date.now(), clockOffsetMs, random32: random32(), ...(previous ? { previous } : {}), ...(nonce !== undefined ? { nonce } : {}) });
    previous = identification;
    const { request, bytes } = buildRegisterRequest(spec, identification);
    // Printed as decoded from the bytes sent, so the authenticators and offsets are the real ones.
    const sentRequest = decodeRegistrationRequest(bytes, 0, bytes.length);
    last = { identification, requestJson: registrationToJson(sentRequest.ok ? sentRequest.value : request, bytes) as unknown as Record<string, unknown> };
    attempts++;
    const started = performance.now();
    await socket.send(bytes, to);
    for (;;) {
      const received = await socket.next(timeoutMs - (performance.now() - started));
      if (received === undefined) break;
      const reading = judgeReply(received.bytes, spec, identification);
      if (!reading.ok) {
        ignored.push(`${received.from}: ${reading.message}`);
        continue;
      }
      const judgement = reading.judgement;
      const rttMs = performance.now() - started;
      if ((judgement.reply.identification.low >>> 0) !== (identification.low >>> 0)) {
        // Perhaps the Reply to an earlier attempt; kept in case no matching one comes.
        mismatched = { judgement, from: received.from };
        ignored.push(`${received.from}: a Reply whose Identification 0x${identificationToHex(judgement.reply.identification)} is not the Request's 0x${identificationToHex(identification)}`);
        continue;
      }
      // A 133 that authenticates tells the time or nonce to use: one more Request (5.7).
      if (isIdentificationMismatch(judgement.reply) && judgement.problems.length === 0 && !resynchronised) {
        resynchronised = true;
        if (spec.replay === 'nonce') nonce = judgement.reply.identification.high;
        else clockOffsetMs = identificationToUnixMs({ high: judgement.reply.identification.high, low: 0 }) + 500 - Date.now();
        // The rejected timestamp is no floor: a clock that ran ahead is what 133 corrects.
        previous = undefined;
        ignored.push(`${received.from}: 133 (Identification mismatch): sent again with the home agent's ${spec.replay === 'nonce' ? 'nonce' : 'time'}`);
        sent--;
        break;
      }
      return { judgement, from: received.from, rttMs, attempts, ...last, ignored };
    }
    sent++;
  }
  if (mismatched) return { judgement: mismatched.judgement, from: mismatched.from, attempts, ...last!, ignored };
  const seconds = timeoutMs / 1000;
  return {
    attempts,
    ...last!,
    ignored,
    failure: `no Reply from ${ipv4ToString(to.address)}:${to.port} after ${attempts} Request(s), ${seconds} s each: is a home agent listening there, and does a firewall pass UDP ${to.port}?`,
  };
}

function printTable(outcome: Outcome, io: Io): void {
  const request = outcome.requestJson;
  io.out(`Registration Request  ${String(request.home_address)} care-of ${String(request.care_of_address)} lifetime ${String(request.lifetime)} identification 0x${identificationToHex(outcome.identification)} (${outcome.attempts} sent)`);
  const judgement = outcome.judgement;
  if (!judgement) return;
  const reply = judgement.reply;
  const rows: Array<[string, string]> = [
    ['from', `${outcome.from}${outcome.rttMs !== undefined ? ` in ${outcome.rttMs.toFixed(1)} ms` : ''}`],
    ['code', `${reply.code} (${judgement.codeText})`],
    ['lifetime', reply.lifetime === 0xffff ? 'infinite' : `${reply.lifetime} s`],
    ['home address', ipv4ToString(reply.homeAddress)],
    ['home agent', ipv4ToString(reply.homeAgent)],
    ['identification', `0x${identificationToHex(reply.identification)}`],
  ];
  for (const e of (judgement.json.extensions ?? []) as Array<Record<string, unknown>>) {
    const validity = e.authenticator_valid === undefined ? '' : e.authenticator_valid ? ' valid' : ' INVALID';
    rows.push(['extension', `${String(e.name ?? e.type)}${e.nai !== undefined ? ` ${String(e.nai)}` : ''}${e.spi !== undefined ? ` SPI ${String(e.spi)}` : ''}${validity}`]);
  }
  io.out('Registration Reply');
  for (const [name, value] of rows) io.out(`  ${name.padEnd(15)} ${value}`);
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      options: {
        'home-agent': { type: 'string' },
        'home-address': { type: 'string' },
        nai: { type: 'string' },
        'care-of': { type: 'string' },
        lifetime: { type: 'string' },
        spi: { type: 'string' },
        algorithm: { type: 'string' },
        key: { type: 'string' },
        'key-file': { type: 'string' },
        timestamp: { type: 'boolean' },
        nonce: { type: 'boolean' },
        flags: { type: 'string' },
        'as-fa': { type: 'boolean' },
        'fa-spi': { type: 'string' },
        'fa-key': { type: 'string' },
        'fa-key-file': { type: 'string' },
        'fa-algorithm': { type: 'string' },
        from: { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  if (values['home-agent'] === undefined) throw new UsageError('--home-agent ADDR[:PORT] is required');
  const homeAgent = parseEndpoint('--home-agent', values['home-agent'], MOBILE_IP_PORT);
  const from = values.from === undefined ? undefined : parseEndpoint('--from', values.from, 0);
  if (values['home-address'] === undefined && values.nai === undefined) throw new UsageError('give --home-address A, or --nai NAI to ask for one');
  const homeAddress = values['home-address'] === undefined ? 0 : parseAddress('--home-address', values['home-address']);
  const careOf = values['care-of'] !== undefined ? parseAddress('--care-of', values['care-of']) : from?.address;
  if (careOf === undefined || careOf === 0) throw new UsageError('--care-of C is required (or --from ADDR, whose address is then the care-of address)');
  const lifetime = parseInteger('--lifetime', values.lifetime, 0, 0xffff) ?? DEFAULT_REGISTRATION_LIFETIME;
  const spi = parseInteger('--spi', values.spi, 0, 0xffffffff);
  if (spi === undefined) throw new UsageError('--spi N is required: the SPI of the mobile node\'s security context with the home agent');
  if (values.timestamp && values.nonce) throw new UsageError('--timestamp and --nonce exclude each other');
  const replay: ReplayProtection = values.nonce ? 'nonce' : 'timestamp';
  const asFa = values['as-fa'] === true;
  const flags = values.flags !== undefined ? parseFlags(values.flags) : asFa ? 0 : RequestFlag.D;
  const timeoutSeconds = values.timeout === undefined ? 3 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 3600) throw new UsageError(`--timeout ${JSON.stringify(values.timeout)}: expected seconds, more than 0`);
  const retries = parseInteger('--retries', values.retries, 0, 100) ?? 2;

  const key = await readKeyOption('key', { file: values['key-file'], env: process.env.MIP4_KEY, envName: 'MIP4_KEY', hex: values.key, hexOption: '--key', fileOption: '--key-file' }, io);
  if (key === undefined) throw new UsageError('a key is required: --key-file F (hex, mode 0600), the MIP4_KEY environment variable, or --key HEX');
  const mobileHome: SigningKey = { spi, algorithm: parseAlgorithm('--algorithm', values.algorithm), key };

  let foreignHome: SigningKey | undefined;
  const faSpi = parseInteger('--fa-spi', values['fa-spi'], 0, 0xffffffff);
  const faKeyGiven = values['fa-key'] !== undefined || values['fa-key-file'] !== undefined;
  if ((faSpi !== undefined || faKeyGiven) && !asFa) throw new UsageError('--fa-spi and --fa-key* relay as a foreign agent: add --as-fa');
  if (faSpi !== undefined) {
    const faKey = await readKeyOption('foreign agent key', { file: values['fa-key-file'], env: process.env.MIP4_FA_KEY, envName: 'MIP4_FA_KEY', hex: values['fa-key'], hexOption: '--fa-key', fileOption: '--fa-key-file' }, io);
    if (faKey === undefined) throw new UsageError('--fa-spi needs the foreign agent key: --fa-key-file F, MIP4_FA_KEY, or --fa-key HEX');
    foreignHome = { spi: faSpi, algorithm: parseAlgorithm('--fa-algorithm', values['fa-algorithm']), key: faKey };
  } else if (faKeyGiven) {
    throw new UsageError('--fa-key* needs --fa-spi N');
  }

  const spec: RegisterRequestSpec = {
    homeAddress,
    homeAgent: homeAgent.address,
    careOfAddress: careOf,
    lifetime,
    flags,
    ...(values.nai !== undefined ? { nai: values.nai } : {}),
    mobileHome,
    replay,
    ...(foreignHome ? { foreignHome } : {}),
  };

  let socket: ReplySocket;
  try {
    socket = await ReplySocket.open(from);
  } catch (error) {
    io.err(`mip4 register: cannot bind ${values.from ?? 'a UDP socket'}: ${(error as Error).message}`);
    return ExitCode.Failure;
  }
  let outcome: Outcome;
  try {
    outcome = await exchange(spec, socket, homeAgent, timeoutSeconds * 1000, retries);
  } catch (error) {
    io.err(`mip4 register: cannot send to ${values['home-agent']}: ${(error as Error).message}`);
    return ExitCode.Failure;
  } finally {
    await socket.close();
  }

  const judgement = outcome.judgement;
  const codeAccepts = judgement !== undefined && isAcceptedCode(judgement.reply.code);
  const result = outcome.failure !== undefined ? 'no-reply' : !codeAccepts ? 'denied' : judgement!.accepted ? 'accepted' : 'reply-check-failed';
  if (values.json) {
    io.out(
      JSON.stringify({
        result,
        ...(judgement ? { code: judgement.reply.code, code_text: judgement.codeText, lifetime: judgement.reply.lifetime, from: outcome.from, rtt_ms: outcome.rttMs, problems: judgement.problems } : {}),
        ...(outcome.failure !== undefined ? { error: outcome.failure } : {}),
        attempts: outcome.attempts,
        ignored: outcome.ignored,
        request: outcome.requestJson,
        ...(judgement ? { reply: judgement.json } : {}),
      }),
    );
  } else {
    printTable(outcome, io);
  }
  for (const line of outcome.ignored) io.err(`mip4 register: ${line}`);
  if (outcome.failure !== undefined) {
    io.err(`mip4 register: ${outcome.failure}`);
    return ExitCode.Failure;
  }
  const { reply, codeText, problems } = judgement!;
  if (result === 'accepted') {
    const granted = reply.lifetime;
    io.err(`mip4 register: ${lifetime === 0 ? 'deregistration' : 'registration'} accepted (code ${reply.code}: ${codeText}), lifetime ${granted === 0xffff ? 'infinite' : `${granted} s`}`);
    return ExitCode.Ok;
  }
  if (result === 'denied') {
    io.err(`mip4 register: denied: code ${reply.code} (${codeText})`);
    // A denial for a wrong key comes signed with the home agent's key: that it does not verify here is expected.
    for (const problem of problems) io.err(`mip4 register:   and the Reply does not check out: ${problem}`);
  } else {
    io.err(`mip4 register: code ${reply.code} (${codeText}), but the Reply does not check out, so it cannot be trusted:`);
    for (const problem of problems) io.err(`mip4 register:   ${problem}`);
  }
  return ExitCode.Failure;
}

export const registerCommand: Subcommand = { name: 'register', usage, run };
