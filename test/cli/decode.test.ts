import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../../io/wire/bytes.js';
import { main } from '../../runtime/cli/main.js';
import { appendixGExamples, exampleKeys } from '../../runtime/cli/example-messages.js';
import { loadVectors, type InteropVector } from '../support/vectors.js';

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

/** Runs `mip4 <argv>` in-process, collecting what it prints. */
async function mip4(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

const vectors = loadVectors();
const vector = (id: string): InteropVector => {
  const found = vectors.find((v) => v.id === id);
  if (!found) throw new Error(`no interop vector ${id}`);
  return found;
};

/** One `--key SPI:HEX` per security context of the vector. */
function keyArgs(v: InteropVector): string[] {
  return Object.values(v.keys).flatMap((k) => {
    // The vectors name the algorithm in capitals; the CLI's default is HMAC-MD5.
    expect(k.algorithm).toBe('HMAC-MD5');
    return ['--key', `${k.spi}:${k.key_hex}`];
  });
}

const exampleKeyArgs = Object.values(exampleKeys).flatMap((k) => ['--key', `${k.spi}:${toHex(k.key)}:${k.algorithm}`]);

/** The vector's decoded JSON as it is printed when no keys are given. */
function withoutValidity(decoded: Record<string, unknown>): Record<string, unknown> {
  const extensions = decoded.extensions as Array<Record<string, unknown>> | undefined;
  if (!extensions || decoded.type_name === undefined) return decoded;
  return {
    ...decoded,
    extensions: extensions.map(({ authenticator_valid: _, ...rest }) => rest),
  };
}

function jsonLines(run: Run): Array<Record<string, unknown>> {
  return run.out.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function authExtensions(json: Record<string, unknown>): Array<Record<string, unknown>> {
  return ((json.extensions ?? []) as Array<Record<string, unknown>>).filter((e) => [32, 33, 34].includes(e.type as number));
}

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mip4-cli-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('mip4 decode <hex>', () => {
  it('has every interop vector kind to run against', () => {
    expect(new Set(vectors.map((v) => v.kind))).toEqual(
      new Set(['registration_request', 'registration_reply', 'agent_advertisement', 'agent_solicitation']),
    );
  });

  for (const v of vectors) {
    it(`prints the interop vector's decoded JSON for ${v.id}`, async () => {
      const run = await mip4('decode', v.hex, ...keyArgs(v));
      expect(run.code).toBe(0);
      expect(run.out).toHaveLength(1);
      expect(JSON.parse(run.out[0])).toStrictEqual(v.decoded);
    });
  }

  it('shows authenticator_valid true for every registration vector with good authenticators and false for the bad one', async () => {
    const registrations = vectors.filter((v) => v.kind.startsWith('registration_'));
    expect(registrations.length).toBeGreaterThan(0);
    for (const v of registrations) {
      const [json] = jsonLines(await mip4('decode', v.hex, ...keyArgs(v)));
      const validity = authExtensions(json).map((e) => e.authenticator_valid);
      expect(validity.length).toBeGreaterThan(0);
      expect(validity, v.id).toEqual(validity.map(() => v.id !== 'rrq_bad_authenticator'));
    }
  });

  it('omits authenticator_valid when no key is given', async () => {
    for (const v of vectors) {
      const run = await mip4('decode', v.hex);
      expect(run.code).toBe(0);
      expect(run.out).toHaveLength(1);
      expect(run.out[0]).not.toContain('authenticator_valid');
      expect(JSON.parse(run.out[0])).toStrictEqual(withoutValidity(v.decoded));
    }
  });

  it('checks an authenticator only with the key of its SPI', async () => {
    const v = vector('rrq_via_fa_mhae_mfae');
    const onlyForeign = Object.values(v.keys).filter((k) => k.spi === 512);
    const [json] = jsonLines(await mip4('decode', v.hex, '--key', `${onlyForeign[0].spi}:${onlyForeign[0].key_hex}`));
    expect(authExtensions(json).map((e) => [e.spi, e.authenticator_valid])).toEqual([
      [4096, undefined],
      [512, true],
    ]);
  });

  it('reports a wrong key as an invalid authenticator, still exit 0 (the message decoded)', async () => {
    const v = vector('rrq_basic_colocated');
    const run = await mip4('decode', v.hex, '--key', `4096:${'00'.repeat(16)}`);
    expect(run.code).toBe(0);
    expect(authExtensions(jsonLines(run)[0]).map((e) => e.authenticator_valid)).toEqual([false]);
  });

  it('prints one line per hex argument, in order', async () => {
    const ids = ['agent_solicitation', 'rrp_accepted', 'agent_advertisement_home_agent'];
    const run = await mip4('decode', ...ids.map((id) => vector(id).hex));
    expect(run.code).toBe(0);
    expect(jsonLines(run)).toStrictEqual(ids.map((id) => withoutValidity(vector(id).decoded)));
  });

  it('accepts hex with a 0x prefix and spaces', async () => {
    const v = vector('agent_solicitation');
    const run = await mip4('decode', `0x${v.hex.slice(0, 4)} ${v.hex.slice(4)}`);
    expect(run.code).toBe(0);
    expect(jsonLines(run)).toStrictEqual([v.decoded]);
  });

  it('decodes by --kind when the first byte would mislead', async () => {
    // A solicitation forced through the registration decoder: type 10 is not a registration type.
    const run = await mip4('decode', '--kind', 'registration', vector('agent_solicitation').hex);
    expect(run.code).toBe(1);
    expect(jsonLines(run)[0]).toHaveProperty('error');
  });
});

describe('mip4 decode --file', () => {
  it('decodes a raw message file', async () => {
    const v = vector('rrq_nai_then_mhae');
    const path = join(scratch, 'request.bin');
    writeFileSync(path, fromHex(v.hex));
    const run = await mip4('decode', '--file', path, ...keyArgs(v));
    expect(run.code).toBe(0);
    expect(jsonLines(run)).toStrictEqual([v.decoded]);
  });

  it('fails with exit 1 on an unreadable file', async () => {
    const missing = join(scratch, 'does-not-exist.bin');
    const run = await mip4('decode', '--file', missing);
    expect(run.code).toBe(1);
    expect(run.out).toEqual([]);
    expect(run.err.join('\n')).toContain(`cannot read ${missing}`);
  });
});

describe('mip4 decode --pcap', () => {
  it('decodes every message of the capture mip4 examples writes, all authenticators valid with the example keys', async () => {
    const path = join(scratch, 'examples.pcap');
    const written = await mip4('examples', '--json', '--pcap', path);
    expect(written.code).toBe(0);
    expect(existsSync(path)).toBe(true);

    const run = await mip4('decode', '--pcap', path, ...exampleKeyArgs);
    expect(run.code).toBe(0);
    const messages = jsonLines(run);
    const examples = appendixGExamples();
    expect(messages).toHaveLength(examples.length);
    messages.forEach((json, i) => {
      expect(json.frame).toBe(i + 1);
      expect(json).toHaveProperty('transport');
      expect(json).not.toHaveProperty('error');
    });
    expect(messages.map((m) => m.icmp_type ?? m.type)).toEqual([10, 9, 1, 3]);
    // Agent discovery travels with TTL 1 (2.1, 2.2); registrations over UDP port 434 (1.8).
    expect(messages.slice(0, 2).map((m) => (m.transport as Record<string, unknown>).ip_ttl)).toEqual([1, 1]);
    for (const m of messages.slice(2)) {
      const transport = m.transport as Record<string, unknown>;
      expect([transport.udp_src_port, transport.udp_dst_port]).toContain(434);
      expect(transport.udp_checksum_ok).toBe(true);
    }
    const validity = messages.flatMap((m) => authExtensions(m).map((e) => e.authenticator_valid));
    expect(validity).toEqual([true, true, true]); // request: MHAE and MFAE; reply: MHAE
    expect(run.err.join('\n')).toContain('4 Mobile IP message(s), 0 other frame(s) skipped');
  });

  it('without keys leaves authenticator_valid out', async () => {
    const path = join(scratch, 'examples-nokeys.pcap');
    expect((await mip4('examples', '--json', '--pcap', path)).code).toBe(0);
    const run = await mip4('decode', '--pcap', path);
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(4);
    expect(run.out.join('\n')).not.toContain('authenticator_valid');
  });

  it('reads a pcapng file with a Section Header Block and nothing else as a capture of no messages, exit 0', async () => {
    const path = join(scratch, 'empty.pcapng');
    writeFileSync(path, fromHex('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000'));
    const run = await mip4('decode', '--pcap', path);
    expect(run.code).toBe(0);
    expect(run.out).toEqual([]);
    expect(run.err.join('\n')).toContain('0 Mobile IP message(s), 0 other frame(s) skipped');
  });

  it('prints a JSON error naming offset 0 and exits 1 for a file that is no capture of either format', async () => {
    const path = join(scratch, 'not-a-capture.bin');
    writeFileSync(path, fromHex('7f454c4602010100000000000000000000000000000000000000'));
    const run = await mip4('decode', '--pcap', path);
    expect(run.code).toBe(1);
    expect(jsonLines(run)).toEqual([expect.objectContaining({ error: 'bad-type', offset: 0 })]);
    expect(run.err.join('\n')).toMatch(/at byte 0: .*pcap.*pcapng/);
  });

  it('fails with exit 1 on an unreadable capture', async () => {
    const run = await mip4('decode', '--pcap', join(scratch, 'missing.pcap'));
    expect(run.code).toBe(1);
    expect(run.err.join('\n')).toContain('cannot read');
  });
});

describe('mip4 decode: malformed input and usage errors', () => {
  it('prints a JSON error with reason and offset for a truncated request, exit 1', async () => {
    const run = await mip4('decode', '0100');
    expect(run.code).toBe(1);
    expect(run.out).toHaveLength(1);
    const json = JSON.parse(run.out[0]) as Record<string, unknown>;
    expect(json).toMatchObject({ error: 'truncated', offset: expect.any(Number), layer: expect.any(String), message: expect.any(String) });
    expect(json.offset).toBeGreaterThanOrEqual(0);
    expect(json.offset).toBeLessThanOrEqual(2);
  });

  it('still prints the good messages when one of several is malformed, exit 1', async () => {
    const good = vector('agent_solicitation');
    const run = await mip4('decode', good.hex, good.hex.slice(0, 10));
    expect(run.code).toBe(1);
    const [first, second] = jsonLines(run);
    expect(first).toStrictEqual(good.decoded);
    expect(second).toMatchObject({ error: 'truncated' });
  });

  const usageCases: Array<[string, string[]]> = [
    ['non-hex input', ['decode', 'zz']],
    ['odd-length hex', ['decode', '010']],
    ['no input', ['decode']],
    ['two inputs (hex and --file)', ['decode', '0a00f5ff00000000', '--file', '/dev/null']],
    ['two inputs (--file and --pcap)', ['decode', '--file', '/dev/null', '--pcap', '/dev/null']],
    ['an unknown option', ['decode', '--frobnicate', '0a00f5ff00000000']],
    ['an unknown --kind', ['decode', '--kind', 'gre', '0a00f5ff00000000']],
    ['--key without a key', ['decode', '--key', '4096', '0a00f5ff00000000']],
    ['--key with an empty key', ['decode', '--key', '4096:', '0a00f5ff00000000']],
    ['--key with a non-hex key', ['decode', '--key', '4096:xyz1', '0a00f5ff00000000']],
    ['--key with a non-numeric SPI', ['decode', '--key', 'abc:00112233', '0a00f5ff00000000']],
    ['--key with a negative SPI', ['decode', '--key=-1:00112233', '0a00f5ff00000000']],
    ['--key with an SPI over 32 bits', ['decode', '--key', '4294967296:00112233', '0a00f5ff00000000']],
    ['--key with a fractional SPI', ['decode', '--key', '1.5:00112233', '0a00f5ff00000000']],
    ['--key with an empty SPI', ['decode', '--key', ':00112233', '0a00f5ff00000000']],
    ['--key with an unknown algorithm', ['decode', '--key', '4096:00112233:sha1', '0a00f5ff00000000']],
    ['--key with too many parts', ['decode', '--key', '4096:00112233:hmac-md5:x', '0a00f5ff00000000']],
    ['an unknown examples option', ['examples', '--yaml']],
  ];
  for (const [what, argv] of usageCases) {
    it(`exits 2 with the usage on stderr for ${what}`, async () => {
      const run = await mip4(...argv);
      expect(run.code).toBe(2);
      expect(run.out).toEqual([]);
      expect(run.err.join('\n')).toContain(`usage: mip4 ${argv[0]}`);
    });
  }

  it('accepts an explicit algorithm: hmac-md5 or keyed-md5', async () => {
    const v = vector('rrq_basic_colocated');
    const key = Object.values(v.keys)[0];
    const hmac = await mip4('decode', v.hex, '--key', `${key.spi}:${key.key_hex}:hmac-md5`);
    expect(hmac.code).toBe(0);
    expect(jsonLines(hmac)).toStrictEqual([v.decoded]);
    // The same key under keyed-MD5 is another algorithm: the authenticator does not verify.
    const keyed = await mip4('decode', v.hex, '--key', `${key.spi}:${key.key_hex}:keyed-md5`);
    expect(keyed.code).toBe(0);
    expect(authExtensions(jsonLines(keyed)[0]).map((e) => e.authenticator_valid)).toEqual([false]);
  });
});

describe('mip4 help and commands', () => {
  it('prints the decode usage for decode --help, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const run = await mip4('decode', flag);
      expect(run.code).toBe(0);
      expect(run.out.join('\n')).toContain('usage: mip4 decode');
      expect(run.out.join('\n')).toContain('--key SPI:HEX');
    }
  });

  it('prints the examples usage for examples --help, exit 0', async () => {
    const run = await mip4('examples', '--help');
    expect(run.code).toBe(0);
    expect(run.out.join('\n')).toContain('usage: mip4 examples');
  });

  it('prints the overview with every command for mip4 --help, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const run = await mip4(...argv);
      expect(run.code).toBe(0);
      const text = run.out.join('\n');
      expect(text).toContain('usage: mip4 <command>');
      expect(text).toMatch(/^\s+decode\s/m);
      expect(text).toMatch(/^\s+examples\s/m);
    }
  });

  it('routes mip4 help <command> to that command\'s usage', async () => {
    const run = await mip4('help', 'decode');
    expect(run.code).toBe(0);
    expect(run.out.join('\n')).toContain('usage: mip4 decode');
  });

  it('prints the overview on stderr and exits 2 without a command (a usage error)', async () => {
    const run = await mip4();
    expect(run.code).toBe(2);
    expect(run.out).toEqual([]);
    expect(run.err.join('\n')).toContain('usage: mip4 <command>');
  });

  it('exits 2 on an unknown command, naming it', async () => {
    const run = await mip4('frobnicate');
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain("unknown command 'frobnicate'");
    expect(run.err.join('\n')).toContain('usage: mip4 <command>');
  });
});

describe('mip4 examples --json', () => {
  it('prints four JSON lines that decode, with every authenticator valid', async () => {
    const run = await mip4('examples', '--json');
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(4);
    const messages = jsonLines(run);
    expect(messages.map((m) => m.icmp_type ?? m.type)).toEqual([10, 9, 1, 3]);
    for (const m of messages) expect(m).not.toHaveProperty('error');
    expect(messages.map((m) => authExtensions(m).map((e) => e.authenticator_valid))).toEqual([[], [], [true, true], [true]]);
    // The G.2 request carries the NAI, MHAE and MFAE in that order (3.5.1: the MFAE follows what it covers).
    expect((messages[2].extensions as Array<Record<string, unknown>>).map((e) => e.type)).toEqual([131, 32, 33]);
  });

  it('prints what mip4 decode prints for the same bytes', async () => {
    const lines = (await mip4('examples', '--json')).out;
    const examples = appendixGExamples();
    expect(lines).toHaveLength(examples.length);
    for (const [i, example] of examples.entries()) {
      const decoded = await mip4('decode', toHex(example.message), ...exampleKeyArgs);
      expect(decoded.code).toBe(0);
      expect(decoded.out).toEqual([lines[i]]);
    }
  });

  it('prints a readable listing without --json', async () => {
    const run = await mip4('examples');
    expect(run.code).toBe(0);
    const text = run.out.join('\n');
    for (const example of appendixGExamples()) {
      expect(text).toContain(`== ${example.section} ${example.title} (${example.message.length} bytes) ==`);
      expect(text).toContain(toHex(example.message));
    }
  });
});

describe('the mip4 executable', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const compiledMain = join(root, 'dist', 'runtime', 'cli', 'main.js');

  beforeAll(() => {
    if (existsSync(compiledMain)) return;
    // `npm test` compiles first; a bare `vitest run` may not have. tsc still emits when other
    // files have type errors, so judge by the output file, not by tsc's exit status.
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
    } catch {
      // checked below
    }
    if (!existsSync(compiledMain)) throw new Error(`could not build ${compiledMain}`);
  }, 180_000);

  it('runs as a child process: decode <hex of rrq_basic_colocated> prints the vector JSON, exit 0', () => {
    const v = vector('rrq_basic_colocated');
    // execFileSync throws on a non-zero exit status, so returning means exit 0.
    const stdout = execFileSync(process.execPath, ['bin/mip4.js', 'decode', v.hex, ...keyArgs(v)], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toStrictEqual(v.decoded);
  });
});
