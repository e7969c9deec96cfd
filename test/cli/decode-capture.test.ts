/**
 * `mip4 decode` on captures: pcapng written by independent tools (editcap, text2pcap from
 * Wireshark), timestamps checked against tshark's own reading, stdin, --port, --check, other
 * link types, IPv4 fragments and damaged files.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../io/wire/bytes.js';
import { encodePcap, LinkType } from '../../io/wire/pcap.js';
import { encodeIpv4Header, IpProtocol } from '../../io/wire/ipv4.js';
import fc from 'fast-check';
import { main } from '../../runtime/cli/main.js';
import { inspectCapture } from '../../runtime/cli/inspect.js';
import { appendixGExamples, exampleKeys } from '../../runtime/cli/example-messages.js';
import { ensureBuilt, ROOT } from '../support/build.js';
import { missingTools } from '../support/tools.js';

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

async function mip4(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

/** `mip4 <argv>` as a child process with `input` on its stdin. */
function mip4WithStdin(input: Uint8Array, ...argv: string[]): Run {
  const child = spawnSync(process.execPath, ['bin/mip4.js', ...argv], { cwd: ROOT, input, encoding: 'utf8', timeout: 30_000 });
  const lines = (text: string) => text.split('\n').filter((l) => l !== '');
  return { code: child.status ?? -1, out: lines(child.stdout), err: lines(child.stderr) };
}

const jsonLines = (run: Run) => run.out.map((line) => JSON.parse(line) as Record<string, unknown>);
const authValidity = (m: Record<string, unknown>) =>
  ((m.extensions ?? []) as Array<Record<string, unknown>>).filter((e) => [32, 33, 34].includes(e.type as number)).map((e) => e.authenticator_valid);

const wiresharkMissing = missingTools('tshark', 'editcap', 'text2pcap');
const keyHex = (k: { key: Uint8Array }) => toHex(k.key);
const MOBILE_HOME_SPI = String(exampleKeys.mobileHome.spi);

let scratch: string;
/** `mip4 examples --pcap`: solicitation, advertisement, request, reply on Ethernet, µs pcap. */
let examplesPcap: string;

beforeAll(async () => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'mip4-decode-capture-'));
  examplesPcap = join(scratch, 'examples.pcap');
  expect((await mip4('examples', '--json', '--pcap', examplesPcap)).code).toBe(0);
}, 180_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs a Wireshark tool, quietly. */
function tool(name: string, ...args: string[]): string {
  return execFileSync(name, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Capture times as tshark reads them: seconds since the epoch with 9 decimals. */
function tsharkEpochs(path: string): string[] {
  return tool('tshark', '-r', path, '-T', 'fields', '-e', 'frame.time_epoch').trim().split('\n');
}

/** `1767225612.345678912` (tshark) → `2026-01-01T00:00:12.345678Z` (microseconds, rounded down). */
function isoFromEpoch(epoch: string): string {
  const [seconds, fraction = ''] = epoch.split('.');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.padEnd(9, '0').slice(0, 6)}Z`;
}

describe.skipIf(wiresharkMissing)(`mip4 decode on pcapng from Wireshark's tools${wiresharkMissing ? ` (skipped: ${wiresharkMissing})` : ''}`, () => {
  it('decodes the pcapng editcap converts from a pcap exactly as the pcap, all authenticators valid', async () => {
    const pcapng = join(scratch, 'examples.pcapng');
    tool('editcap', '-F', 'pcapng', examplesPcap, pcapng);
    expect(readFileSync(pcapng).readUInt32BE(0)).toBe(0x0a0d0d0a);
    const keys = Object.values(exampleKeys).flatMap((k) => ['--key', `${k.spi}:${keyHex(k)}`]);
    const fromPcap = await mip4('decode', '--pcap', examplesPcap, ...keys);
    const fromPcapng = await mip4('decode', '--pcap', pcapng, ...keys);
    expect(fromPcapng.code).toBe(0);
    expect(fromPcapng.out).toHaveLength(4);
    expect(fromPcapng.out).toEqual(fromPcap.out);
    expect(jsonLines(fromPcapng).map(authValidity)).toEqual([[], [], [true, true], [true]]);
  });

  it("prints each frame's number and time to the microsecond, as tshark reads them (nanosecond pcapng, if_tsresol 9)", async () => {
    // Shifted by a time with nanoseconds, so that the file's units are not whole microseconds.
    const nsec = join(scratch, 'examples-nsec.pcap');
    const pcapng = join(scratch, 'examples-nsec.pcapng');
    tool('editcap', '-F', 'nsecpcap', '-t', '12.345678912', examplesPcap, nsec);
    tool('editcap', '-F', 'pcapng', nsec, pcapng);
    const run = await mip4('decode', '--pcap', pcapng);
    expect(run.code).toBe(0);
    const messages = jsonLines(run);
    const epochs = tsharkEpochs(pcapng);
    expect(epochs).toHaveLength(4);
    expect(epochs[0]).toMatch(/\.345678912$/);
    expect(messages.map((m) => [m.frame, m.time])).toEqual(epochs.map((e, i) => [i + 1, isoFromEpoch(e)]));
    expect(messages[0]!.time).toBe('2026-01-01T00:00:12.345678Z');
  });

  it('prints the same times as tshark for a classic microsecond pcap', async () => {
    const run = await mip4('decode', '--pcap', examplesPcap);
    expect(jsonLines(run).map((m) => m.time)).toEqual(tsharkEpochs(examplesPcap).map(isoFromEpoch));
  });

  it('decodes UDP on a non-434 port only with --port (text2pcap writes the pcapng)', async () => {
    const request = appendixGExamples()[2]!.message;
    const dump = join(scratch, 'request.txt');
    const hexLines: string[] = [];
    for (let i = 0; i < request.length; i += 16) {
      hexLines.push(`${i.toString(16).padStart(6, '0')} ${toHex(request.subarray(i, i + 16)).replace(/(..)/g, '$1 ')}`);
    }
    writeFileSync(dump, `${hexLines.join('\n')}\n`);
    const pcapng = join(scratch, 'port-4434.pcapng');
    tool('text2pcap', '-q', '-4', '198.51.100.10,203.0.113.1', '-u', '49152,4434', dump, pcapng);
    expect(readFileSync(pcapng).readUInt32BE(0)).toBe(0x0a0d0d0a);

    const without = await mip4('decode', '--pcap', pcapng);
    expect(without.code).toBe(0);
    expect(without.out).toEqual([]);
    expect(without.err.join('\n')).toContain('0 Mobile IP message(s), 1 other frame(s) skipped');

    const withPort = await mip4('decode', '--pcap', pcapng, '--port', '4434', '--key', `${MOBILE_HOME_SPI}:${keyHex(exampleKeys.mobileHome)}`);
    expect(withPort.code).toBe(0);
    const [message] = jsonLines(withPort);
    expect(message).toMatchObject({ frame: 1, type: 1, transport: { udp_src_port: 49152, udp_dst_port: 4434, udp_checksum_ok: true } });
    expect(authValidity(message!)[0]).toBe(true);
  });

  it('reads a pcapng capture from stdin, with --pcap - and with a bare -', () => {
    const pcapng = join(scratch, 'stdin.pcapng');
    tool('editcap', '-F', 'pcapng', examplesPcap, pcapng);
    const bytes = readFileSync(pcapng);
    for (const argv of [['decode', '--pcap', '-'], ['decode', '-']]) {
      const run = mip4WithStdin(bytes, ...argv);
      expect(run.code, run.err.join('\n')).toBe(0);
      expect(jsonLines(run).map((m) => m.icmp_type ?? m.type)).toEqual([10, 9, 1, 3]);
    }
  });

  it('keeps the frames before a cut-off block, then names the byte offset and exits 1', async () => {
    const pcapng = join(scratch, 'cut.pcapng');
    tool('editcap', '-F', 'pcapng', examplesPcap, pcapng);
    const whole = readFileSync(pcapng);
    const cut = join(scratch, 'cut-short.pcapng');
    writeFileSync(cut, whole.subarray(0, whole.length - 10));
    const run = await mip4('decode', '--pcap', cut);
    expect(run.code).toBe(1);
    const lines = jsonLines(run);
    expect(lines.slice(0, 3).map((m) => m.frame)).toEqual([1, 2, 3]);
    const damage = lines[3]!;
    expect(damage).toMatchObject({ error: 'truncated', layer: 'pcapng' });
    // The last block's Total Length field: 4 bytes into the block that starts where frame 4 would.
    expect(damage.offset as number).toBeGreaterThan(0);
    expect(damage.offset as number).toBeLessThan(whole.length);
    expect(run.err.join('\n')).toContain(`damaged at byte ${String(damage.offset)}`);
  });
});

describe('mip4 decode --check', () => {
  const check = (key: Uint8Array, spi = MOBILE_HOME_SPI) => ['--check', toHex(key), '--spi', spi];

  it('exits 0 when every message with the SPI verifies', async () => {
    const run = await mip4('decode', '--pcap', examplesPcap, ...check(exampleKeys.mobileHome.key));
    expect(run.code).toBe(0);
    expect(jsonLines(run).filter((m) => m.type !== undefined).map((m) => authValidity(m)[0])).toEqual([true, true]);
  });

  it('exits 1 with a wrong key, naming every frame whose authenticator does not verify', async () => {
    const wrong = new Uint8Array(16).fill(7);
    const run = await mip4('decode', '--pcap', examplesPcap, ...check(wrong));
    expect(run.code).toBe(1);
    expect(run.out).toHaveLength(4); // still printed
    const err = run.err.join('\n');
    expect(err).toContain(`frame 3: Mobile-Home authenticator (SPI ${MOBILE_HOME_SPI}) does not verify`);
    expect(err).toContain(`frame 4: Mobile-Home authenticator (SPI ${MOBILE_HOME_SPI}) does not verify`);
    expect(err).not.toMatch(/frame [12]:/);
  });

  it('exits 1 when no message carries the SPI', async () => {
    const run = await mip4('decode', '--pcap', examplesPcap, ...check(exampleKeys.mobileHome.key, '999'));
    expect(run.code).toBe(1);
    expect(run.err.join('\n')).toContain('no registration message carries an authentication extension with SPI 999');
  });

  it('checks hex messages too, naming the message; keyed-md5 with --algorithm', async () => {
    const request = toHex(appendixGExamples()[2]!.message);
    expect((await mip4('decode', request, ...check(exampleKeys.mobileHome.key))).code).toBe(0);
    const keyed = await mip4('decode', request, ...check(exampleKeys.mobileHome.key), '--algorithm', 'keyed-md5');
    expect(keyed.code).toBe(1);
    expect(keyed.err.join('\n')).toContain('message 1: Mobile-Home authenticator');
  });

  for (const [what, argv] of [
    ['--check without --spi', ['--check', '00112233']],
    ['--spi without --check', ['--spi', '4096']],
    ['--check with a non-hex key', ['--check', 'xyz', '--spi', '4096']],
    ['--check with an unknown algorithm', ['--check', '00112233', '--spi', '4096', '--algorithm', 'sha1']],
    ['--port 0', ['--port', '0', '--pcap', '/dev/null']],
    ['--port on hex input', ['--port', '4434', '0a00f5ff00000000']],
  ] as const) {
    it(`is a usage error (exit 2): ${what}`, async () => {
      const args = argv.some((a) => a === '--pcap' || a.startsWith('0a')) ? argv : [...argv, '0a00f5ff00000000'];
      const run = await mip4('decode', ...args);
      expect(run.code).toBe(2);
      expect(run.err.join('\n')).toContain('usage: mip4 decode');
    });
  }
});

/** An IPv4 datagram around `payload` (UDP or ICMP bytes already built). */
function ipv4Datagram(protocol: number, payload: Uint8Array, fragment: { flags: number; offset: number } = { flags: 0, offset: 0 }): Uint8Array {
  const bytes = new Uint8Array(20 + payload.length);
  encodeIpv4Header(
    { tos: 0, totalLength: bytes.length, identification: 0x1234, flags: fragment.flags, fragmentOffset: fragment.offset, ttl: 64, protocol, source: 0xc6336401, destination: 0xcb007101 },
    bytes,
    0,
  );
  bytes.set(payload, 20);
  return bytes;
}

/** The UDP datagram (header and payload) of the example Registration Request's frame. */
function exampleRequestUdp(): Uint8Array {
  const frame = appendixGExamples()[2]!.frame;
  return frame.subarray(14 + 20);
}

describe('mip4 decode: link types and fragments', () => {
  const writeCapture = (name: string, linkType: number, frames: Uint8Array[]) => {
    const path = join(scratch, name);
    writeFileSync(path, encodePcap(linkType, frames.map((data, i) => ({ timestampUs: 1_767_225_600_000_000 + i, data }))));
    return path;
  };
  const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

  const linkCases: Array<[string, number, (ip: Uint8Array) => Uint8Array]> = [
    // SLL2: protocol type (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1), address length (1), address (8).
    ['Linux cooked v2 (SLL2, 276)', 276, (ip) => cat(Uint8Array.from([0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0]), ip)],
    ['Linux cooked (SLL, 113)', 113, (ip) => cat(Uint8Array.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0, 0x08, 0x00]), ip)],
    ['BSD loopback (NULL, 0) in little-endian host order', 0, (ip) => cat(Uint8Array.from([2, 0, 0, 0]), ip)],
    ['OpenBSD loopback (LOOP, 108)', 108, (ip) => cat(Uint8Array.from([0, 0, 0, 2]), ip)],
    ['raw IPv4 (228)', 228, (ip) => ip],
    ['Ethernet with an 802.1Q tag', LinkType.Ethernet, (ip) => cat(Uint8Array.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00]), ip)],
  ];
  for (const [what, linkType, wrap] of linkCases) {
    it(`finds the Registration Request in ${what}`, async () => {
      const path = writeCapture(`link-${linkType}.pcap`, linkType, [wrap(ipv4Datagram(IpProtocol.UDP, exampleRequestUdp()))]);
      const run = await mip4('decode', '--pcap', path, '--check', toHex(exampleKeys.mobileHome.key), '--spi', MOBILE_HOME_SPI);
      expect(run.code, run.err.join('\n')).toBe(0);
      expect(jsonLines(run)).toEqual([expect.objectContaining({ frame: 1, type: 1, time: '2026-01-01T00:00:00.000000Z' })]);
    });
  }

  it('reports IPv4 fragments of UDP as fragments, not as messages, and counts them', async () => {
    const udp = exampleRequestUdp();
    const first = ipv4Datagram(IpProtocol.UDP, udp.subarray(0, 48), { flags: 0b001, offset: 0 });
    const second = ipv4Datagram(IpProtocol.UDP, udp.subarray(48), { flags: 0, offset: 6 });
    const path = writeCapture('fragments.pcap', LinkType.RawIp, [first, second]);
    const run = await mip4('decode', '--pcap', path);
    expect(run.code).toBe(0);
    expect(jsonLines(run)).toEqual([
      expect.objectContaining({ frame: 1, ipv4_fragment: { identification: 0x1234, offset_bytes: 0, more_fragments: true, length: 48 } }),
      expect.objectContaining({ frame: 2, ipv4_fragment: { identification: 0x1234, offset_bytes: 48, more_fragments: false, length: udp.length - 48 } }),
    ]);
    expect(jsonLines(run).every((m) => m.type === undefined && /fragment/.test(String(m.note)))).toBe(true);
    expect(run.err.join('\n')).toContain('0 Mobile IP message(s), 0 other frame(s) skipped, 2 IPv4 fragment(s) not reassembled');
  });

  it('reads a raw message from stdin (a bare - with bytes that are no capture)', () => {
    const request = appendixGExamples()[2]!.message;
    const run = mip4WithStdin(request, 'decode', '-', '--check', toHex(exampleKeys.mobileHome.key), '--spi', MOBILE_HOME_SPI);
    expect(run.code, run.err.join('\n')).toBe(0);
    expect(jsonLines(run)).toEqual([expect.objectContaining({ type: 1 })]);
  });

  it('names the byte offset of a truncated pcap record, after the frames before it', async () => {
    const path = writeCapture('whole.pcap', LinkType.RawIp, [ipv4Datagram(IpProtocol.UDP, exampleRequestUdp()), ipv4Datagram(IpProtocol.UDP, exampleRequestUdp())]);
    const whole = readFileSync(path);
    writeFileSync(path, whole.subarray(0, whole.length - 5));
    const run = await mip4('decode', '--pcap', path);
    expect(run.code).toBe(1);
    const lines = jsonLines(run);
    expect(lines[0]).toMatchObject({ frame: 1, type: 1 });
    const secondRecord = 24 + 16 + (whole.length - 24) / 2 - 16;
    expect(lines[1]).toMatchObject({ error: 'truncated', layer: 'pcap', offset: secondRecord + 8 });
  });
});

describe('inspectCapture on random captures', () => {
  it('never throws: messages, or an error or damage naming an offset inside the file (3,000 runs)', () => {
    // Valid heads (a pcap header per link type, a pcapng section and interface) then random
    // bytes, so the record and frame walkers are reached, not only the magic check.
    const pcapHeads = [LinkType.Ethernet, LinkType.RawIp, 0, 108, 113, 228, 276].map((linkType) => encodePcap(linkType, []));
    const pcapngHead = Uint8Array.from(Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000010000001400000001000000000004001400000006000000', 'hex'));
    const record = (data: Uint8Array) => encodePcap(LinkType.RawIp, [{ timestampUs: 1, data }]).subarray(24);
    const input = fc.oneof(
      fc.tuple(fc.constantFrom(...pcapHeads, pcapngHead), fc.uint8Array({ maxLength: 300 })).map(([head, rest]) => Uint8Array.from([...head, ...rest])),
      // A well-formed record holding a random IPv4-looking datagram.
      fc.uint8Array({ maxLength: 120 }).map((rest) => Uint8Array.from([...pcapHeads[1]!, ...record(Uint8Array.from([0x45, ...rest]))])),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const result = inspectCapture(bytes);
        const problem = result.fileError ?? result.damage;
        if (problem) {
          expect(problem.offset).toBeGreaterThanOrEqual(0);
          expect(problem.offset).toBeLessThanOrEqual(bytes.length);
        }
        for (const message of result.messages) expect(typeof message.json.frame).toBe('number');
      }),
      { numRuns: 3_000 },
    );
  });
});

