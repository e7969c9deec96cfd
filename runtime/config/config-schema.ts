/**
 * What the three daemons' configuration files (`mip4 ha|fa|mn --config`) share: reading YAML,
 * the field schemas (addresses, prefixes, SPIs, lifetimes, algorithms), decoding with Effect
 * Schema into errors that name the field path and the fix, and reading keys as hex or from a
 * key file.
 */
import { DATA_PATH_ENGINE_SETTINGS } from '../../policies/data-path-engine.js';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Either, ParseResult, Schema } from 'effect';
import { isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { interfaceNameProblem } from '../../io/interface-name.js';
import { parseHex, parseIpv4 } from '../../io/wire/bytes.js';
import { AUTH_ALGORITHMS, type AuthAlgorithm } from '../../policies/auth.js';
import { DEFAULT_REPLAY_WINDOW_SECONDS, RESERVED_SPI_LIMIT, type MobilitySecurityContext } from '../../policies/security-association.js';
import { MAX_SOCKET_PATH_BYTES } from '../control/protocol.js';

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.path || '(top level)'}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * An optional field that, when present, must be valid. Exact (no `| undefined` member), so a
 * wrong value is reported once, not a second time as "Expected undefined, actual ...".
 */
export function optional<S extends Schema.Schema.Any>(schema: S) {
  return Schema.optionalWith(schema, { exact: true });
}

/**
 * One of a few words, reported as one issue ("expected one of ...") rather than one issue per
 * Literal member, which would bury the fix on the daemon's stderr.
 */
export function oneOf<const T extends readonly string[]>(...words: T) {
  return Schema.String.pipe(
    Schema.filter((s) => words.includes(s) || `expected one of ${words.join(', ')}, got ${JSON.stringify(s)}`),
  ) as unknown as Schema.Schema<T[number], string>;
}

export const Ipv4Text = Schema.String.pipe(
  Schema.filter((s) => parseIpv4(s) !== undefined || `expected a dotted-quad IPv4 address like 198.51.100.1, got ${JSON.stringify(s)}`),
);

export const PrefixText = Schema.String.pipe(
  Schema.filter((s) => {
    const [address, length, ...rest] = s.split('/');
    const n = Number(length);
    const ok = rest.length === 0 && address !== undefined && parseIpv4(address) !== undefined && Number.isInteger(n) && n >= 0 && n <= 32;
    return ok || `expected a network prefix like 198.51.100.0/24, got ${JSON.stringify(s)}`;
  }),
);

export const EndpointText = Schema.String.pipe(
  Schema.filter((s) => {
    const [address, port, ...rest] = s.split(':');
    const p = Number(port);
    const ok = rest.length === 0 && address !== undefined && parseIpv4(address) !== undefined && Number.isInteger(p) && p >= 0 && p <= 65535;
    return ok || `expected ADDRESS:PORT like 198.51.100.1:434, got ${JSON.stringify(s)}`;
  }),
);

export const Spi = Schema.Number.pipe(
  Schema.filter((n) =>
    !Number.isInteger(n) || n < 0 || n > 0xffffffff
      ? `an SPI is a 32-bit unsigned integer, got ${n}`
      : n < RESERVED_SPI_LIMIT
        ? `SPI ${n} is reserved (0-255, RFC 5944 1.6); use a value above 255`
        : true,
  ),
);

export const Lifetime = Schema.Number.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n >= 1 && n <= 0xffff) || `a lifetime is 1-65535 seconds (65535 = infinite), got ${n}`),
);

export const IntervalSeconds = Schema.Number.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n >= 0.001) || `an interval is a number of seconds >= 0.001, got ${n}`),
);

export const Count = Schema.Number.pipe(Schema.filter((n) => (Number.isInteger(n) && n >= 1) || `expected an integer >= 1, got ${n}`));

export const Algorithm = oneOf(...AUTH_ALGORITHMS);
export const Replay = oneOf('timestamp', 'nonce');
export const ReplayWindow = Schema.Number.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n > 3) || `the replay window must be more than 3 seconds (RFC 5944 5.7.1), got ${n}`),
);

function pathText(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Decodes a parsed document with `schema`, unknown fields refused, every issue reported. */
export function decodeConfig<A, I>(schema: Schema.Schema<A, I, never>, document: unknown): A {
  const decoded = Schema.decodeUnknownEither(schema)(document, { errors: 'all', onExcessProperty: 'error' });
  if (Either.isLeft(decoded)) {
    throw new ConfigError(
      ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => ({
        path: pathText(issue.path),
        message: issue._tag === 'Unexpected' ? 'unknown field (check its spelling)' : withoutWrittenValue(issue.message, valueAt(document, issue.path)),
      })),
    );
  }
  return decoded.right;
}

function valueAt(document: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value = document;
  for (const step of path) value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[step] : undefined;
  return value;
}

/**
 * Effect's message ends with "actual <the value as written>". For a list or mapping that value
 * may hold a key (a node written as a list of its fields, say), so it is described instead.
 */
function withoutWrittenValue(message: string, value: unknown): string {
  if (typeof value !== 'object' || value === null) return message;
  const what = Array.isArray(value) ? `a list of ${value.length} items` : ArrayBuffer.isView(value) ? 'binary data' : 'a mapping';
  const actual = message.lastIndexOf(', actual ');
  return actual < 0 ? `${message.split('\n')[0]} (got ${what})` : `${message.slice(0, actual)}, got ${what}`;
}

/** Fields that are text even when YAML would read them as numbers. */
const TEXT_FIELDS = new Set(['key', 'keyFile', 'nai', 'interface', 'homeInterface', 'tunnelDevice']);

/**
 * YAML reads an unquoted hex key made only of digits (`key: 00112233...`) as a number,
 * dropping its leading zeros and, past 2^53, its digits. Such keys are valid (RFC 5944 5.1:
 * arbitrary binary values), so these fields keep the text exactly as written.
 */
function keepTextFields(document: Document): void {
  visit(document, {
    Pair(_, pair) {
      if (isScalar(pair.key) && TEXT_FIELDS.has(String(pair.key.value)) && isScalar(pair.value)) {
        const value = pair.value;
        if (value.type === 'PLAIN' && typeof value.value !== 'string' && value.source !== undefined) value.value = value.source;
      }
    },
  });
}

/**
 * How deep lists and mappings may nest in a configuration file. The deepest mip4 reads is 5
 * (mobileNodes[i].securityAssociations[j].key); a deeper document is refused before anything
 * recursive (the YAML composer, Effect's decoder and printer) can overflow the stack on it.
 */
export const MAX_CONFIG_NESTING = 32;

/**
 * How many values YAML aliases may expand to (the yaml package's maxAliasCount, which counts
 * an alias once per value it brings in): a "billion laughs" document of aliases of aliases
 * is refused instead of filling the memory.
 */
export const MAX_YAML_ALIAS_EXPANSIONS = 100;

function tooDeep(source: string): ConfigError {
  return new ConfigError([
    { path: '', message: `${source} nests lists or mappings more than ${MAX_CONFIG_NESTING} levels deep; a mip4 configuration needs at most 5` },
  ]);
}

/** Parses a configuration text as YAML; `source` names it in the error. */
export function parseYamlConfig(text: string, source: string): unknown {
  // No pretty errors: they quote the offending line, which may hold a key.
  const lineCounter = new LineCounter();
  let parsed: Document;
  try {
    parsed = parseDocument(text, { prettyErrors: false, lineCounter });
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(source);
    throw error;
  }
  const yamlError = parsed.errors[0];
  if (yamlError !== undefined) {
    if (yamlError.message.includes('call stack')) throw tooDeep(source);
    const { line, col } = lineCounter.linePos(yamlError.pos[0]);
    throw new ConfigError([{ path: '', message: `${source} is not valid YAML: ${yamlError.message} (line ${line}, column ${col})` }]);
  }
  keepTextFields(parsed);
  let document: unknown;
  try {
    document = parsed.toJS({ maxAliasCount: MAX_YAML_ALIAS_EXPANSIONS });
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(source);
    if (error instanceof ReferenceError && error.message.includes('Excessive alias count')) {
      throw new ConfigError([
        {
          path: '',
          message: `${source} uses YAML aliases (*name) to bring in more than ${MAX_YAML_ALIAS_EXPANSIONS} values, which mip4 refuses as a resource exhaustion attack (an alias bomb); write the values out instead`,
        },
      ]);
    }
    throw error;
  }
  if (nestingDepth(document, MAX_CONFIG_NESTING) > MAX_CONFIG_NESTING) throw tooDeep(source);
  return document;
}

/** The nesting depth of a parsed value, counted up to `limit + 1` at most. Iterative. */
function nestingDepth(root: unknown, limit: number): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[root, 0]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const item of Array.isArray(value) ? value : Object.values(value)) pending.push([item, depth + 1]);
  }
  return deepest;
}

/**
 * Whether brackets in a JSON text nest more than `limit` deep, by one pass over the text
 * (strings skipped), before JSON.parse builds anything.
 */
export function jsonNestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: to the next quote not escaped by a backslash.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * The same document as parseYamlConfig, read by JSON.parse when the text is JSON (as a
 * generator writes a million mobile nodes): the yaml package composes ~10,000 nodes per
 * second here, JSON.parse ~1,000,000. JSON is YAML 1.2, and the two read a JSON text alike,
 * but for the two differences below, where this answers undefined and the caller reads the
 * text as YAML instead, so that results and errors stay the same
 * (test/runtime/config-json.test.ts compares both):
 * - a key written twice: YAML refuses it, JSON.parse keeps the last;
 * - a TEXT_FIELDS value written as a number, true, false or null: YAML's reading keeps the
 *   text as written (keepTextFields), JSON.parse has lost it.
 */
export function parseJsonConfig(text: string): { readonly document: unknown } | undefined {
  const first = text.search(/\S/);
  if (first < 0 || (text[first] !== '{' && text[first] !== '[')) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return undefined;
  }
  const keys = keysIfYamlReadsAlike(document);
  if (keys === undefined || keys !== countJsonKeys(text)) return undefined;
  return { document };
}

/**
 * The number of keys in a parsed JSON value, or undefined when a TEXT_FIELDS key holds a
 * number, boolean or null. Iterative: a deeply nested text must not overflow the stack.
 */
function keysIfYamlReadsAlike(root: unknown): number | undefined {
  let keys = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) pending.push(item);
      continue;
    }
    const record = value as Record<string, unknown>;
    for (const key in record) {
      const item = record[key];
      keys++;
      if (typeof item === 'object' && item !== null) pending.push(item);
      else if (typeof item !== 'string' && TEXT_FIELDS.has(key)) return undefined;
    }
  }
  return keys;
}

/**
 * The number of object keys written in a valid JSON text: strings followed by a colon.
 * Outside strings a valid JSON text has no quote, so each quote found there opens a string;
 * a quote inside one closes it unless an odd number of backslashes precede it.
 */
function countJsonKeys(text: string): number {
  let keys = 0;
  let open = text.indexOf('"');
  while (open >= 0) {
    let close = text.indexOf('"', open + 1);
    for (;;) {
      let backslashes = 0;
      while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++;
      if (backslashes % 2 === 0) break;
      close = text.indexOf('"', close + 1);
    }
    let next = close + 1;
    for (let c = text.charCodeAt(next); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++next));
    if (text.charCodeAt(next) === 0x3a) keys++;
    open = text.indexOf('"', next);
  }
  return keys;
}

/**
 * Reads a YAML (or JSON) configuration file: the parsed document and the directory relative
 * key files are resolved against. `command` names the daemon in the empty-file hint.
 */
export function readConfigFile(path: string, command: string): { document: unknown; baseDir: string } {
  let file: { text: string; mode: number };
  try {
    file = readPrivateFile(path);
  } catch (error) {
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${(error as Error).message}` }]);
  }
  const { text } = file;
  const first = text.search(/\S/);
  if ((text[first] === '{' || text[first] === '[') && jsonNestsDeeperThan(text, MAX_CONFIG_NESTING)) throw tooDeep(path);
  const document = (parseJsonConfig(text) ?? { document: parseYamlConfig(text, path) }).document;
  if (document === null || document === undefined) {
    throw new ConfigError([{ path: '', message: `${path} is empty; \`mip4 ${command} --example-config\` prints a commented example` }]);
  }
  // As ssh does with private keys: a secret others can read is refused, with the fix.
  if (readableByOthers(file.mode) && holdsInlineKey(document)) {
    throw new ConfigError([
      {
        path: '',
        message: `${path} holds keys (key: fields) and is readable by group or others (mode ${modeText(file.mode)}); run: chmod 600 ${shellWord(path)}`,
      },
    ]);
  }
  return { document, baseDir: dirname(resolve(path)) };
}

/** Reads a file's text and its permission bits from one descriptor (no race between the two). */
function readPrivateFile(path: string): { text: string; mode: number } {
  const fd = openSync(path, 'r');
  try {
    const mode = fstatSync(fd).mode;
    return { text: readFileSync(fd, 'utf8'), mode };
  } finally {
    closeSync(fd);
  }
}

function readableByOthers(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** A path as one shell word, so the printed chmod can be pasted as it is. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

/** Whether any mapping of the document has a `key` field (a key written inline). Iterative. */
function holdsInlineKey(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) pending.push(item);
      continue;
    }
    if (Object.hasOwn(value, 'key')) return true;
    for (const item of Object.values(value)) if (typeof item === 'object' && item !== null) pending.push(item);
  }
  return false;
}

/** RFC 5944 5.1: the default algorithm's key size is 128 bits; shorter keys need allowShortKey. */
export const MIN_KEY_BYTES = 16;

/**
 * A key given as `key` (hex) or `keyFile` (a file holding the hex, relative to the config
 * file): exactly one of them, at least MIN_KEY_BYTES long unless `allowShortKey`, a key file
 * readable by its owner only. Problems are added to `issues` with the field's path; no message
 * shows the key.
 */
export function readKey(
  fields: { readonly key?: string; readonly keyFile?: string; readonly allowShortKey?: boolean },
  path: string,
  baseDir: string,
  issues: ConfigIssue[],
): Uint8Array | undefined {
  if ((fields.key === undefined) === (fields.keyFile === undefined)) {
    issues.push({ path, message: 'give exactly one of key (hex) and keyFile (a file holding the key as hex)' });
    return undefined;
  }
  let hex = fields.key;
  const field = `${path}.${fields.keyFile !== undefined ? 'keyFile' : 'key'}`;
  if (fields.keyFile !== undefined) {
    const keyPath = resolve(baseDir, fields.keyFile);
    let file: { text: string; mode: number };
    try {
      file = readPrivateFile(keyPath);
    } catch (error) {
      issues.push({ path: field, message: `cannot read ${fields.keyFile}: ${(error as Error).message}` });
      return undefined;
    }
    if (readableByOthers(file.mode)) {
      issues.push({ path: field, message: `${keyPath} is readable by group or others (mode ${modeText(file.mode)}); run: chmod 600 ${shellWord(keyPath)}` });
      return undefined;
    }
    hex = file.text.trim();
  }
  const key = parseHex(hex!);
  if (key === undefined || key.length === 0) {
    issues.push({
      path: field,
      message: 'the key must be non-empty hex, e.g. 2b7e151628aed2a6abf7158809cf4f3c (16 bytes for HMAC-MD5, RFC 5944 5.1)',
    });
    return undefined;
  }
  if (key.length < MIN_KEY_BYTES && fields.allowShortKey !== true) {
    issues.push({
      path: field,
      message:
        `the key is ${key.length} bytes, shorter than the ${MIN_KEY_BYTES} bytes (128 bits) of RFC 5944 5.1: use a longer one ` +
        '(e.g. openssl rand -hex 16), or set allowShortKey: true on this security association to accept it',
    });
    return undefined;
  }
  return key;
}

/** A key as hex text; its errors never show what was written (it may be a secret). */
export const KeyText = Schema.String.annotations({ message: () => 'expected the key as hex text, e.g. 2b7e151628aed2a6abf7158809cf4f3c (the value written is not shown)' });

/**
 * Why an address of a prefix no longer than /30 cannot be a node's home address: the
 * all-zeros host part names the network, the all-ones is its directed broadcast (RFC 5944
 * 3.8.2.1 answers a Request sent to it with 136). /31 and /32 have neither (RFC 3021).
 */
export function notAHostAddress(address: string, prefix: string, isNetwork: boolean): string {
  return isNetwork
    ? `${address} is the network address of ${prefix}, not a host's; pick an address inside it`
    : `${address} is the broadcast address of ${prefix}, not a host's; pick an address inside it`;
}

/** A security context as the configuration files write it (RFC 5944 1.6, 5.1, 5.7). */
export const SecurityAssociation = Schema.Struct({
  spi: Spi,
  algorithm: optional(Algorithm),
  key: optional(KeyText),
  keyFile: optional(Schema.String),
  allowShortKey: optional(Schema.Boolean),
  replay: optional(Replay),
  replayWindow: optional(ReplayWindow),
});

export type SecurityAssociationFields = Schema.Schema.Type<typeof SecurityAssociation>;

/**
 * A peer's security contexts: the one written inline on the peer (when it gives an spi) and
 * those of its `securityAssociations` list. Each SPI once per peer; keys read with readKey.
 */
export function securityContexts(
  owner: string,
  inline: SecurityAssociationFields | undefined,
  more: readonly SecurityAssociationFields[] | undefined,
  baseDir: string,
  issues: ConfigIssue[],
): MobilitySecurityContext[] {
  // Called once per configured mobile node (a million of them): no per-call closures or sets.
  const contexts: MobilitySecurityContext[] = [];
  const spis: number[] = [];
  if (inline) addContext(inline, owner, spis, contexts, baseDir, issues);
  if (more) for (let i = 0; i < more.length; i++) addContext(more[i]!, `${owner}.securityAssociations[${i}]`, spis, contexts, baseDir, issues);
  if (spis.length === 0) {
    issues.push({ path: owner, message: 'no security association: give spi and key (or keyFile), or securityAssociations' });
  }
  return contexts;
}

function addContext(
  sa: SecurityAssociationFields,
  path: string,
  spis: number[],
  contexts: MobilitySecurityContext[],
  baseDir: string,
  issues: ConfigIssue[],
): void {
  if (spis.includes(sa.spi)) issues.push({ path: `${path}.spi`, message: `SPI ${sa.spi} is used twice for the same peer` });
  spis.push(sa.spi);
  const key = readKey(sa, path, baseDir, issues);
  if (!key) return;
  contexts.push({
    spi: sa.spi,
    algorithm: (sa.algorithm ?? 'hmac-md5') as AuthAlgorithm,
    key,
    replay: sa.replay ?? 'timestamp',
    replayWindowSeconds: sa.replayWindow ?? DEFAULT_REPLAY_WINDOW_SECONDS,
  });
}

/** An interface name under the one rule of io/interface-name.ts (the native helper checks the same). */
export const InterfaceName = Schema.String.pipe(
  Schema.filter((s) => {
    const problem = interfaceNameProblem(s);
    return problem === undefined || `expected a network interface name like eth1 (1-15 bytes; no spaces, controls or # ' " / \\ :): ${problem}`;
  }),
);

/** The fields of an `advertisement` section both agents share (2.1, 2.3; RFC 1256 timing). */
export const AdvertisementFields = {
  lifetime: optional(Lifetime),
  maxInterval: optional(IntervalSeconds),
  minInterval: optional(IntervalSeconds),
  periodic: optional(Schema.Boolean),
  destination: optional(oneOf('224.0.0.1', '255.255.255.255')),
};

/** RFC 1256's default MaxAdvertisementInterval, seconds. */
export const DEFAULT_MAX_ADVERTISEMENT_INTERVAL = 600;

/**
 * The advertiser timing of an `advertisement` section (machines/advertiser.ts settings): the
 * Lifetime defaults to 3 × maxInterval (RFC 1256), the seed is random so that agents on one
 * link do not advertise in step (R2.1-9). A minInterval above maxInterval is an issue at `path`.
 */
export function advertiserTiming(
  section: { readonly lifetime?: number; readonly maxInterval?: number; readonly minInterval?: number; readonly periodic?: boolean; readonly destination?: string },
  path: string,
  issues: ConfigIssue[],
): { lifetimeSeconds: number; maxIntervalMs: number; minIntervalMs?: number; periodic: boolean; multicastDestination: number; seed: number } {
  const maxInterval = section.maxInterval ?? DEFAULT_MAX_ADVERTISEMENT_INTERVAL;
  const maxIntervalMs = Math.round(maxInterval * 1000);
  if (section.minInterval !== undefined && section.minInterval > maxInterval) {
    issues.push({ path: `${path}.minInterval`, message: `${section.minInterval} s is longer than maxInterval; make it at most maxInterval` });
  }
  return {
    // RFC 1256's default advertisement lifetime: 3 × MaxAdvertisementInterval, within 16 bits.
    lifetimeSeconds: section.lifetime ?? Math.min(0xffff, Math.max(1, Math.ceil((3 * maxIntervalMs) / 1000))),
    maxIntervalMs,
    ...(section.minInterval === undefined ? {} : { minIntervalMs: Math.round(section.minInterval * 1000) }),
    periodic: section.periodic ?? true,
    multicastDestination: section.destination === '255.255.255.255' ? 0xffffffff : 0xe0000001,
    // xorshift needs a nonzero state.
    seed: randomBytes(4).readUInt32BE(0) | 1,
  };
}

/** The `control` section of every daemon: where its control socket is (runtime/control/). */
export const ControlSection = Schema.Struct({
  // One message for every wrong kind of value (a union would report one line per member).
  socket: Schema.Unknown.pipe(
    Schema.filter(
      (v): v is string | false =>
        (typeof v === 'string' && v.length > 0) || v === false,
      { message: () => 'expected the path of a Unix socket, e.g. /run/mip4/ha.sock, or none (or false) for no control socket' },
    ),
  ),
});

/** The control section as loaded: `socket` null means no control socket. */
export interface ControlSetting {
  readonly socket: string | null;
}

/** Checks the control section's socket path; `none` and false turn the socket off. */
export function controlSetting(section: Schema.Schema.Type<typeof ControlSection>, issues: Array<{ path: string; message: string }>): ControlSetting {
  const socket = section.socket as string | false;
  if (socket === false || socket === 'none') return { socket: null };
  if (!socket.startsWith('/')) {
    issues.push({ path: 'control.socket', message: `${JSON.stringify(socket)} is not an absolute path; write one such as ${DEFAULT_CONTROL_SOCKET_EXAMPLE}, or none` });
  } else if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
    issues.push({ path: 'control.socket', message: `a Unix socket path is at most ${MAX_SOCKET_PATH_BYTES} bytes (this one has ${Buffer.byteLength(socket)}); choose a shorter one` });
  }
  return { socket };
}

const DEFAULT_CONTROL_SOCKET_EXAMPLE = '/run/mip4/ha.sock';

/** `dataPath.engine` (policies/data-path-engine.ts): the same word in the HA, FA and MN files. */
export const DataPathEngineWord = oneOf(...DATA_PATH_ENGINE_SETTINGS);
