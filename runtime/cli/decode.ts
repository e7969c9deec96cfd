/** `mip4 decode`: Mobile IP messages from hex, a raw file or a capture, as JSON lines. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseHex } from '../../io/wire/bytes.js';
import { AUTH_ALGORITHMS, type AuthAlgorithm } from '../../policies/auth.js';
import { looksLikeCapture } from '../../io/wire/capture.js';
import { inspectCapture, inspectMessage, type Inspection, type MessageKind } from './inspect.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const usage = `usage: mip4 decode [options] <hex> [<hex> ...]
       mip4 decode [options] --file <raw-message-file | ->
       mip4 decode [options] --pcap <capture.pcap | capture.pcapng | ->
       mip4 decode [options] -          (stdin: a capture of either format, or one raw message)

Prints one JSON object per Mobile IP message: Registration Requests and Replies (the UDP
port 434 payload; with RFC 3519's UDP Tunnel Request/Reply extensions), RFC 3519 tunnel data
messages (type 4, with the tunnelled datagram's addresses) and Agent Advertisements/
Solicitations (the ICMP message). Field names
follow the interop vectors (type, flags, flag_bits, lifetime, home_address, ...). Messages
from a capture also carry their frame number and capture time (ISO-8601, microseconds, UTC).

options:
  --file <path>        decode the bytes of a file holding one message (- reads stdin)
  --pcap <path>        decode every Mobile IP message in a pcap or pcapng capture (- reads
                       stdin); link types Ethernet (802.1Q too), raw IP, Linux cooked (SLL,
                       SLL2) and BSD loopback/null. IPv4 fragments are reported, not reassembled
  --port <n>           also decode UDP on port n as Mobile IP (repeatable; 434 always is)
  --kind <k>           auto (default: by the first byte), registration or icmp
  --key SPI:HEX[:ALG]  a security context to check authenticators with (repeatable);
                       ALG is hmac-md5 (default) or keyed-md5; adds authenticator_valid
  --check <hex-key>    verify the authenticator of SPI --spi in every registration message;
  --spi <n>            exit 1 naming each frame whose authenticator does not verify, or when
  --algorithm <alg>    no message carries that SPI (algorithm hmac-md5, the default, or keyed-md5)
  -h, --help           this text

exit status: 0 every message decoded (and verified with --check), 1 a message or file was
             malformed or unreadable, or --check failed, 2 usage error`;

function parseKey(text: string): [number, { algorithm: AuthAlgorithm; key: Uint8Array }] {
  const [spiText, hex, algorithmText = 'hmac-md5', ...rest] = text.split(':');
  const algorithm = algorithmText.toLowerCase(); // the vectors spell it HMAC-MD5
  const spi = Number(spiText);
  // The messages name the SPI, never the text: it holds a key.
  if (!spiText || !Number.isInteger(spi) || spi < 0 || spi > 0xffffffff || rest.length > 0) {
    throw new UsageError('--key: expected SPI:HEX[:ALG] with a decimal SPI, e.g. 4096:2b7e1516... (the value given is not shown: it may hold a key)');
  }
  const key = hex === undefined ? undefined : parseHex(hex);
  if (key === undefined || key.length === 0) throw new UsageError(`--key for SPI ${spi}: the key must be non-empty hex`);
  if (!AUTH_ALGORITHMS.includes(algorithm as AuthAlgorithm)) {
    throw new UsageError(`--key for SPI ${spi}: unknown algorithm ${JSON.stringify(algorithm)}; use ${AUTH_ALGORITHMS.join(' or ')}`);
  }
  return [spi, { algorithm: algorithm as AuthAlgorithm, key }];
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

async function readInput(path: string, io: Io): Promise<Uint8Array | undefined> {
  try {
    return path === '-' ? await readStdin() : new Uint8Array(await readFile(path));
  } catch (error) {
    io.err(`mip4 decode: cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
}

/** `--check HEX --spi N [--algorithm A]`: the one security context every message must verify with. */
interface CheckKey {
  readonly spi: number;
  readonly algorithm: AuthAlgorithm;
  readonly key: Uint8Array;
}

function parseCheck(values: { check?: string; spi?: string; algorithm?: string }): CheckKey | undefined {
  if (values.check === undefined) {
    if (values.spi !== undefined || values.algorithm !== undefined) throw new UsageError('--spi and --algorithm go with --check <hex-key>');
    return undefined;
  }
  const spi = Number(values.spi);
  if (values.spi === undefined || !/^\d+$/.test(values.spi) || spi > 0xffffffff) {
    throw new UsageError('--check needs --spi <n>: the decimal SPI of the extensions to verify');
  }
  const key = parseHex(values.check);
  if (key === undefined || key.length === 0) throw new UsageError('--check: the key must be non-empty hex (the value given is not shown: it may hold a key)');
  const algorithm = (values.algorithm ?? 'hmac-md5').toLowerCase();
  if (!AUTH_ALGORITHMS.includes(algorithm as AuthAlgorithm)) {
    throw new UsageError(`--algorithm ${JSON.stringify(values.algorithm)}: use ${AUTH_ALGORITHMS.join(' or ')}`);
  }
  return { spi, algorithm: algorithm as AuthAlgorithm, key };
}

function parsePorts(texts: readonly string[] | undefined): Set<number> {
  const ports = new Set<number>();
  for (const text of texts ?? []) {
    const port = Number(text);
    if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new UsageError(`--port ${JSON.stringify(text)}: expected a UDP port, 1-65535`);
    ports.add(port);
  }
  return ports;
}

const EXTENSION_NAMES: Readonly<Record<number, string>> = { 32: 'Mobile-Home', 33: 'Mobile-Foreign', 34: 'Foreign-Home' };

/**
 * The --check verdict of one decoded message: undefined when it carries no authentication
 * extension with the SPI (nothing to check, e.g. an advertisement), else the failures.
 */
function checkFailures(json: Record<string, unknown>, spi: number): string[] | undefined {
  const extensions = (json.extensions ?? []) as Array<Record<string, unknown>>;
  const checked = extensions.filter((e) => e.spi === spi && EXTENSION_NAMES[e.type as number] !== undefined);
  if (checked.length === 0) return undefined;
  return checked
    .filter((e) => e.authenticator_valid !== true)
    .map((e) => `${EXTENSION_NAMES[e.type as number]} authenticator (SPI ${spi}) does not verify`);
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        file: { type: 'string' },
        pcap: { type: 'string' },
        port: { type: 'string', multiple: true },
        kind: { type: 'string', default: 'auto' },
        key: { type: 'string', multiple: true },
        check: { type: 'string' },
        spi: { type: 'string' },
        algorithm: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    io.out(usage);
    return ExitCode.Ok;
  }
  const kind = values.kind as MessageKind;
  if (!['auto', 'registration', 'icmp'].includes(kind)) throw new UsageError(`--kind must be auto, registration or icmp, not ${kind}`);
  const keys = new Map((values.key ?? []).map(parseKey));
  const check = parseCheck(values);
  if (check) keys.set(check.spi, { algorithm: check.algorithm, key: check.key });
  const ports = parsePorts(values.port);
  const stdin = positionals.length === 1 && positionals[0] === '-';
  const sources = [values.file !== undefined, values.pcap !== undefined, positionals.length > 0].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of: hex arguments, -, --file or --pcap');
  if (ports.size > 0 && values.pcap === undefined && !stdin) throw new UsageError('--port applies to captures (--pcap or - with a capture on stdin)');

  let failed = false;
  let checked = 0;
  /** Prints one decoded message and applies --check to it; `where` names it in messages. */
  const report = (inspection: Inspection, where: string) => {
    io.out(JSON.stringify(inspection.json));
    failed ||= !inspection.ok;
    if (!check || !inspection.ok) return;
    const failures = checkFailures(inspection.json, check.spi);
    if (failures === undefined) return;
    checked++;
    for (const failure of failures) io.err(`mip4 decode: ${where}: ${failure}`);
    failed ||= failures.length > 0;
  };
  const finishCheck = () => {
    if (check && checked === 0) {
      io.err(`mip4 decode: --check: no registration message carries an authentication extension with SPI ${check.spi}`);
      failed = true;
    }
    return failed ? ExitCode.Failure : ExitCode.Ok;
  };

  let stdinBytes: Uint8Array | undefined;
  if (stdin) {
    stdinBytes = await readInput('-', io);
    if (!stdinBytes) return ExitCode.Failure;
  }
  const capturePath = values.pcap ?? (stdinBytes && looksLikeCapture(stdinBytes) ? '-' : undefined);
  if (capturePath !== undefined) {
    const bytes = stdinBytes ?? (await readInput(capturePath, io));
    if (!bytes) return ExitCode.Failure;
    const capture = inspectCapture(bytes, keys, { ports });
    if (capture.fileError) {
      io.out(JSON.stringify(capture.fileError));
      io.err(`mip4 decode: ${capturePath === '-' ? 'stdin' : capturePath}: not a capture this reader can use, at byte ${capture.fileError.offset}: ${capture.fileError.message}`);
      return ExitCode.Failure;
    }
    for (const message of capture.messages) report(message, `frame ${String(message.json.frame)}`);
    const fragments = capture.fragments > 0 ? `, ${capture.fragments} IPv4 fragment(s) not reassembled` : '';
    io.err(`mip4 decode: ${capture.messages.length - capture.fragments} Mobile IP message(s), ${capture.skipped} other frame(s) skipped${fragments}`);
    if (capture.damage) {
      // The frames before the damage were printed; the damage ends the file with a failure.
      io.out(JSON.stringify(capture.damage));
      io.err(`mip4 decode: the ${capture.format} capture is damaged at byte ${capture.damage.offset}: ${capture.damage.message}; the frames before it are shown`);
      failed = true;
    }
    return finishCheck();
  }

  const inputs: Uint8Array[] = [];
  if (stdinBytes) {
    inputs.push(stdinBytes);
  } else if (values.file !== undefined) {
    const bytes = await readInput(values.file, io);
    if (!bytes) return ExitCode.Failure;
    inputs.push(bytes);
  } else {
    for (const text of positionals) {
      const bytes = parseHex(text);
      if (bytes === undefined) throw new UsageError(`not hex: ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}`);
      inputs.push(bytes);
    }
  }
  inputs.forEach((bytes, i) => report(inspectMessage(bytes, kind, keys), `message ${i + 1}`));
  return finishCheck();
}

export const decodeCommand: Subcommand = { name: 'decode', usage, run };
