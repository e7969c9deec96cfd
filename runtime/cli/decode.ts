/** `mip4 decode`: Mobile IP messages from hex, a raw file or a capture, as JSON lines. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseHex } from '../../io/wire/bytes.js';
import { AUTH_ALGORITHMS, type AuthAlgorithm } from '../../policies/auth.js';
import { inspectCapture, inspectMessage, type KeyTable, type MessageKind } from './inspect.js';
import { ExitCode, parseOrUsage, UsageError, type Io, type Subcommand } from './args.js';

const usage = `usage: mip4 decode [options] <hex> [<hex> ...]
       mip4 decode [options] --file <raw-message-file>
       mip4 decode [options] --pcap <capture.pcap>

Prints one JSON object per Mobile IP message: Registration Requests and Replies (the UDP
port 434 payload) and Agent Advertisements/Solicitations (the ICMP message). Field names
follow the interop vectors (type, flags, flag_bits, lifetime, home_address, ...).

options:
  --file <path>        decode the bytes of a file holding one message
  --pcap <path>        decode every UDP port 434 payload and ICMP type 9/10 in a pcap capture
                       (Ethernet, raw IP or Linux cooked link types)
  --kind <k>           auto (default: by the first byte), registration or icmp
  --key SPI:HEX[:ALG]  a security context to check authenticators with (repeatable);
                       ALG is hmac-md5 (default) or keyed-md5; adds authenticator_valid
  -h, --help           this text

exit status: 0 every message decoded, 1 a message or file was malformed or unreadable,
             2 usage error`;

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

async function readInput(path: string, io: Io): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    io.err(`mip4 decode: cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        file: { type: 'string' },
        pcap: { type: 'string' },
        kind: { type: 'string', default: 'auto' },
        key: { type: 'string', multiple: true },
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
  const keys: KeyTable = new Map((values.key ?? []).map(parseKey));
  const sources = [values.file !== undefined, values.pcap !== undefined, positionals.length > 0].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of: hex arguments, --file or --pcap');

  let failed = false;
  if (values.pcap !== undefined) {
    const bytes = await readInput(values.pcap, io);
    if (!bytes) return ExitCode.Failure;
    const capture = inspectCapture(bytes, keys);
    if (capture.fileError) {
      io.out(JSON.stringify(capture.fileError));
      return ExitCode.Failure;
    }
    for (const message of capture.messages) {
      io.out(JSON.stringify(message.json));
      failed ||= !message.ok;
    }
    io.err(`mip4 decode: ${capture.messages.length} Mobile IP message(s), ${capture.skipped} other frame(s) skipped`);
    return failed ? ExitCode.Failure : ExitCode.Ok;
  }

  const inputs: Uint8Array[] = [];
  if (values.file !== undefined) {
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
  for (const bytes of inputs) {
    const inspected = inspectMessage(bytes, kind, keys);
    io.out(JSON.stringify(inspected.json));
    failed ||= !inspected.ok;
  }
  return failed ? ExitCode.Failure : ExitCode.Ok;
}

export const decodeCommand: Subcommand = { name: 'decode', usage, run };
