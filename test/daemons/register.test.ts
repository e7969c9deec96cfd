/**
 * End-to-end: `mip4 register` (a child process) against a real `mip4 ha` (a child process) on
 * 127.0.0.1, and against a stand-in home agent written here that answers with Replies built
 * byte by byte from RFC 5944 3.4 and 3.5.2 (HMAC-MD5 from node:crypto), to see that a Reply
 * with a wrong Identification or authenticator is reported.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../support/build.js';
import { writePrivateFile } from '../support/files.js';
import { missingTools } from '../support/tools.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `mip4 register <args>` as a child process, with extra environment variables. */
function register(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/mip4.js', 'register', ...args],
      { cwd: ROOT, env: { ...process.env, MIP4_KEY: '', MIP4_FA_KEY: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const keyOf = (label: string) => createHash('md5').update(label).digest();
const MN = { homeAddress: '127.0.0.10', spi: 4096, key: keyOf('register-mn') };
const MN_NAI = 'mn1@example.org';
const NONCE_MN = { homeAddress: '127.0.0.11', spi: 4097, key: keyOf('register-nonce-mn') };
const KEYED_MN = { homeAddress: '127.0.0.12', spi: 4098, key: keyOf('register-keyed-md5-mn') };
const FA = { address: '127.0.0.2', spi: 600, key: keyOf('register-fa') };
/** Not a loopback address: a care-of address must be able to end a tunnel. Only a field here. */
const CARE_OF = '192.0.2.77';
const MAX_LIFETIME = 30;

function haConfig(): string {
  return [
    'homeAgent:',
    '  address: 127.0.0.1',
    '  homeNetwork: 127.0.0.0/8',
    `  maxLifetime: ${MAX_LIFETIME}`,
    'mobileNodes:',
    `  - homeAddress: ${MN.homeAddress}`,
    `    nai: ${MN_NAI}`,
    `    spi: ${MN.spi}`,
    `    key: "${MN.key.toString('hex')}"`,
    `  - homeAddress: ${NONCE_MN.homeAddress}`,
    `    spi: ${NONCE_MN.spi}`,
    `    key: "${NONCE_MN.key.toString('hex')}"`,
    '    replay: nonce',
    `  - homeAddress: ${KEYED_MN.homeAddress}`,
    `    spi: ${KEYED_MN.spi}`,
    '    algorithm: keyed-md5',
    `    key: "${KEYED_MN.key.toString('hex')}"`,
    'foreignAgents:',
    `  - address: ${FA.address}`,
    `    spi: ${FA.spi}`,
    `    key: "${FA.key.toString('hex')}"`,
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

let scratch: string;
let daemon: ChildProcess | undefined;
let haLines: Array<Record<string, unknown>> = [];
let haPort: number;

/** Starts `mip4 ha` on a free port and resolves once it logs `listening`. */
async function startHomeAgent(configPath: string): Promise<void> {
  haPort = await freePort();
  haLines = [];
  const child = spawn(process.execPath, ['bin/mip4.js', 'ha', '--config', configPath, '--listen', `127.0.0.1:${haPort}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon = child;
  let stderr = '';
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mip4 ha did not start: ${stderr}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`mip4 ha exited ${code}: ${stderr}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        if (!line.startsWith('{')) continue;
        const parsed = JSON.parse(line) as Record<string, unknown>;
        haLines.push(parsed);
        if (parsed.event === 'listening') {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
}

const haReplies = () => haLines.filter((l) => l.event === 'reply');

beforeAll(async () => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'mip4-register-'));
  const configPath = join(scratch, 'ha.yaml');
  writePrivateFile(configPath, haConfig());
  await startHomeAgent(configPath);
}, 180_000);

afterAll(() => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

const mnKeyFile = () => {
  const path = join(scratch, 'mn.key');
  writePrivateFile(path, `${MN.key.toString('hex')}\n`);
  return path;
};
const homeAgentArg = () => ['--home-agent', `127.0.0.1:${haPort}`];
const mnArgs = () => [...homeAgentArg(), '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi)];

describe('mip4 register against mip4 ha on 127.0.0.1', () => {
  it('registers with a key file: exit 0, the Reply decoded with the granted lifetime, the binding in the home agent', async () => {
    const run = await register([...mnArgs(), '--key-file', mnKeyFile(), '--lifetime', '600']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\s+code\s+0 \(registration accepted\)$/m);
    // The home agent caps the 600 s asked for at its maxLifetime.
    expect(run.stdout).toMatch(new RegExp(`^\\s+lifetime\\s+${MAX_LIFETIME} s$`, 'm'));
    expect(run.stdout).toMatch(/Mobile-Home Authentication SPI 4096 valid/);
    expect(run.stderr).toContain(`registration accepted (code 0: registration accepted), lifetime ${MAX_LIFETIME} s`);
    expect(run.stderr).not.toContain('warning');
    expect(haReplies().at(-1)).toMatchObject({ code: 0, homeAddress: MN.homeAddress, careOfAddress: CARE_OF, lifetime: MAX_LIFETIME });
  });

  it('prints one JSON object with --json, the key from MIP4_KEY', async () => {
    const run = await register([...mnArgs(), '--json'], { MIP4_KEY: MN.key.toString('hex') });
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ result: 'accepted', code: 0, lifetime: MAX_LIFETIME, problems: [], attempts: 1 });
    expect(json.request).toMatchObject({ type: 1, home_address: MN.homeAddress, care_of_address: CARE_OF, flag_bits: { D: true } });
    expect(json.reply).toMatchObject({ type: 3, code: 0, extensions: [expect.objectContaining({ type: 32, spi: MN.spi, authenticator_valid: true })] });
    expect((json.reply as Record<string, unknown>).identification).toBe((json.request as Record<string, unknown>).identification);
  });

  it('is denied 131 with a wrong key: exit 1, the code and its text printed', async () => {
    const run = await register([...mnArgs(), '--key', keyOf('not the key').toString('hex')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/code\s+131 \(HA: mobile node failed authentication\)/);
    expect(run.stderr).toContain('denied: code 131 (HA: mobile node failed authentication)');
    expect(run.stderr).toContain('warning: --key puts the key in the process list');
    expect(haReplies().at(-1)).toMatchObject({ code: 131, homeAddress: MN.homeAddress });
  });

  it('deregisters with --lifetime 0: exit 0, lifetime 0 granted', async () => {
    expect((await register([...mnArgs(), '--key-file', mnKeyFile()])).code).toBe(0);
    const run = await register([...mnArgs(), '--key-file', mnKeyFile(), '--lifetime', '0']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\s+lifetime\s+0 s$/m);
    expect(run.stderr).toContain('deregistration accepted');
    expect(haReplies().at(-1)).toMatchObject({ code: 0, lifetime: 0, homeAddress: MN.homeAddress, operation: 'deregister-one' });
  });

  it('relays as a foreign agent with a Foreign-Home extension: accepted, and the Reply\'s Foreign-Home authenticator checked', async () => {
    const args = [...homeAgentArg(), '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile(), '--as-fa', '--from', FA.address, '--fa-spi', String(FA.spi), '--json'];
    const run = await register(args, { MIP4_FA_KEY: FA.key.toString('hex') });
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as { request: Record<string, unknown>; reply: { extensions: Array<Record<string, unknown>> } };
    expect(json.request).toMatchObject({ flag_bits: { D: false }, extensions: [expect.objectContaining({ type: 32 }), expect.objectContaining({ type: 34, spi: FA.spi })] });
    expect(json.reply.extensions.map((e) => [e.type, e.authenticator_valid])).toEqual([
      [32, true],
      [34, true],
    ]);
    expect(haReplies().at(-1)).toMatchObject({ code: 0, careOfAddress: CARE_OF, to: expect.stringMatching(/^127\.0\.0\.2:/) });

    const wrongFaKey = await register(args.slice(0, -1), { MIP4_FA_KEY: keyOf('not the fa key').toString('hex') });
    expect(wrongFaKey.code).toBe(1);
    expect(wrongFaKey.stderr).toContain('denied: code 132 (HA: foreign agent failed authentication)');
  });

  it('registers by --nai alone (home address 0.0.0.0): the Reply carries the home address the home agent knows the NAI by', async () => {
    const run = await register([...homeAgentArg(), '--nai', MN_NAI, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile(), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as { request: Record<string, unknown>; reply: Record<string, unknown> };
    expect(json.request).toMatchObject({ home_address: '0.0.0.0', extensions: [expect.objectContaining({ type: 131, nai: MN_NAI }), expect.objectContaining({ type: 32 })] });
    expect(json.reply).toMatchObject({ code: 0, home_address: MN.homeAddress });
  });

  it('registers with --algorithm keyed-md5 where the home agent uses it, and is denied 131 with the default HMAC-MD5', async () => {
    const args = [...homeAgentArg(), '--home-address', KEYED_MN.homeAddress, '--care-of', CARE_OF, '--spi', String(KEYED_MN.spi)];
    const env = { MIP4_KEY: KEYED_MN.key.toString('hex') };
    const keyed = await register([...args, '--algorithm', 'keyed-md5'], env);
    expect(keyed.code, keyed.stderr).toBe(0);
    expect(keyed.stdout).toMatch(/Mobile-Home Authentication SPI 4098 valid/);
    const hmac = await register(args, env);
    expect(hmac.code).toBe(1);
    expect(hmac.stderr).toContain('denied: code 131');
  });

  it('with --nonce, takes the nonce from the 133 and is accepted on the second Request', async () => {
    const run = await register([...homeAgentArg(), '--home-address', NONCE_MN.homeAddress, '--care-of', CARE_OF, '--spi', String(NONCE_MN.spi), '--nonce', '--json'], { MIP4_KEY: NONCE_MN.key.toString('hex') });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ result: 'accepted', attempts: 2 });
    expect(run.stderr).toContain("133 (Identification mismatch): sent again with the home agent's nonce");
  });

  it('times out with exit 1 and says so when no home agent listens', async () => {
    const silent = await freePort();
    const run = await register(['--home-agent', `127.0.0.1:${silent}`, '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', '4096', '--key-file', mnKeyFile(), '--timeout', '0.3', '--retries', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no Reply from 127.0.0.1:${silent} after 2 Request(s), 0.3 s each`);
  });

  it('refuses a key file that group or others can read (exit 2, naming the fix)', async () => {
    const path = join(scratch, 'open.key');
    writeFileSync(path, MN.key.toString('hex'), { mode: 0o644 });
    const run = await register([...mnArgs(), '--key-file', path]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`chmod 600 ${path}`);
    expect(run.stderr).not.toContain(MN.key.toString('hex'));
  });

  for (const [what, args] of [
    ['no --home-agent', ['--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096', '--key', '00112233445566778899aabbccddeeff']],
    ['no --spi', ['--home-agent', '127.0.0.1', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--key', '00112233445566778899aabbccddeeff']],
    ['no key at all', ['--home-agent', '127.0.0.1', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096']],
    ['an unknown flag letter', ['--home-agent', '127.0.0.1', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096', '--key', '00', '--flags', 'S,Q']],
    ['--fa-spi without --as-fa', ['--home-agent', '127.0.0.1', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096', '--key', '00', '--fa-spi', '600']],
    ['--timestamp with --nonce', ['--home-agent', '127.0.0.1', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096', '--key', '00', '--timestamp', '--nonce']],
    ['a bad --home-agent port', ['--home-agent', '127.0.0.1:99999', '--home-address', '127.0.0.10', '--care-of', CARE_OF, '--spi', '4096', '--key', '00']],
  ] as const) {
    it(`is a usage error (exit 2): ${what}`, async () => {
      const run = await register(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('usage: mip4 register');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The exchange as dumpcap captures it on lo: pcapng from a live capture, read by mip4 decode.

const dumpcapMissing = missingTools('dumpcap');

describe.skipIf(dumpcapMissing)(`mip4 decode reads dumpcap's live pcapng of a mip4 register exchange${dumpcapMissing ? ` (skipped: ${dumpcapMissing})` : ''}`, () => {
  it('finds the Request and the Reply on the non-434 port with --port, and --check verifies both', async () => {
    const capture = join(scratch, 'register.pcapng');
    const dumpcap = spawn('dumpcap', ['-i', 'lo', '-f', `udp port ${haPort}`, '-w', capture, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let dumpcapErr = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`dumpcap did not start: ${dumpcapErr}`)), 15_000);
        dumpcap.stderr!.on('data', (chunk: Buffer) => {
          dumpcapErr += chunk.toString();
          if (dumpcapErr.includes('Capturing on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        dumpcap.on('exit', (code) => reject(new Error(`dumpcap exited ${code}: ${dumpcapErr}`)));
      });
      const run = await register([...mnArgs(), '--key-file', mnKeyFile()]);
      expect(run.code, run.stderr).toBe(0);
      // Let the Reply reach the capture buffer before stopping.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      const exited = new Promise((resolve) => dumpcap.once('exit', resolve));
      dumpcap.kill('SIGINT');
      await exited;
    }
    expect(existsSync(capture) && statSync(capture).size).toBeGreaterThan(0);

    const args = ['bin/mip4.js', 'decode', '--pcap', capture, '--port', String(haPort), '--check', MN.key.toString('hex'), '--spi', String(MN.spi)];
    const decoded = await new Promise<Run>((resolve) =>
      execFile(process.execPath, args, { cwd: ROOT }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr })),
    );
    expect(decoded.code, decoded.stderr).toBe(0);
    const messages = decoded.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    // (udp_checksum_ok is not asserted: on lo the kernel leaves checksums to an offload that never runs.)
    expect(messages.map((m) => [m.type, (m.transport as Record<string, unknown>).udp_dst_port])).toEqual([
      [1, haPort],
      [3, expect.any(Number)],
    ]);
    for (const m of messages) expect(m.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(messages[0]!.frame).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// A stand-in home agent whose Replies are wrong on purpose, built from RFC 5944 3.4 / 3.5.2.

type Tamper = 'none' | 'identification' | 'authenticator';

/** Answers every Request with `code` (0 by default) and an MHAE (SPI 4096, HMAC-MD5), tampered as asked. */
async function standInHomeAgent(tamper: Tamper, code = 0): Promise<{ port: number; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (request, rinfo) => {
    const reply = Buffer.alloc(20 + 22);
    reply[0] = 3; // Registration Reply
    reply[1] = code;
    reply.writeUInt16BE(30, 2);
    request.copy(reply, 4, 4, 12); // Home Address, Home Agent
    request.copy(reply, 12, 16, 24); // Identification
    if (tamper === 'identification') reply.writeUInt32BE((reply.readUInt32BE(16) + 1) >>> 0, 16);
    reply[20] = 32;
    reply[21] = 20;
    reply.writeUInt32BE(MN.spi, 22);
    createHmac('md5', MN.key).update(reply.subarray(0, 26)).digest().copy(reply, 26);
    if (tamper === 'authenticator') reply[41] ^= 0xff;
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

describe('mip4 register: Replies that do not check out', () => {
  it('reports an Identification mismatch clearly and exits 1, though the code says accepted', async () => {
    const fake = await standInHomeAgent('identification');
    try {
      const run = await register(['--home-agent', `127.0.0.1:${fake.port}`, '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile(), '--timeout', '0.5', '--retries', '0']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/Identification mismatch: the Reply's low 32 bits are 0x[0-9a-f]{8}, the Request's 0x[0-9a-f]{8}/);
      expect(run.stderr).toContain('but the Reply does not check out');
    } finally {
      await fake.close();
    }
  });

  it('reports an authenticator that does not verify and exits 1, though the code says accepted', async () => {
    const fake = await standInHomeAgent('authenticator');
    try {
      const run = await register(['--home-agent', `127.0.0.1:${fake.port}`, '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile(), '--json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({ result: 'reply-check-failed', code: 0, problems: [expect.stringContaining('Mobile-Home authenticator (SPI 4096) is invalid')] });
    } finally {
      await fake.close();
    }
  });

  it('takes code 1 (accepted, simultaneous bindings unsupported, 3.4) as accepted: exit 0', async () => {
    const fake = await standInHomeAgent('none', 1);
    try {
      const run = await register(['--home-agent', `127.0.0.1:${fake.port}`, '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile(), '--flags', 'S,D']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/registration accepted \(code 1: /);
    } finally {
      await fake.close();
    }
  });

  it('accepts the untampered stand-in Reply (exit 0): the failures above come from the tampering alone', async () => {
    const fake = await standInHomeAgent('none');
    try {
      const run = await register(['--home-agent', `127.0.0.1:${fake.port}`, '--home-address', MN.homeAddress, '--care-of', CARE_OF, '--spi', String(MN.spi), '--key-file', mnKeyFile()]);
      expect(run.code, run.stderr).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
