/**
 * Test harness for the home agent runtime (runtime/ha/home-agent.ts): a HomeAgent on a
 * SimulatedClock with a seeded nonce source, Registration Requests built and signed in the
 * test, every Reply the agent sends captured with its addressing, and every observable
 * (events, transitions, ARP commands, forwarding-table changes) recorded in order.
 *
 * Replies are checked against the RFC, not against the code under test: authenticators are
 * recomputed here with node:crypto from the 3.5.1 rule (HMAC-MD5 over the message up to and
 * including the extension's SPI).
 */
import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import { fromHex, ipv4, toHex, type Ipv4Address } from '../../io/wire/bytes.js';
import { identificationFromUnixMs } from '../../io/wire/identification.js';
import { decodeRegistrationReply, encodeRegistrationRequest, extensionOffsets, registrationRequestLength } from '../../io/wire/registration.js';
import type {
  AuthExtension,
  Identification,
  RegistrationExtension,
  RegistrationReply,
  RegistrationRequest,
} from '../../io/wire/registration-types.js';
import { seededRandom } from '../../io/sim/udp.js';
import { sealAuthenticator } from '../../policies/auth.js';
import type { HomeAgentSettings } from '../../policies/ha-request.js';
import { createSecurityContext, type MobilitySecurityContext } from '../../policies/security-association.js';
import type { TransitionRecord } from '../../runtime/actors/actor-host.js';
import { SimulatedClock } from '../../io/clock.js';
import type { ForwardingChange } from '../../runtime/dataplane/forwarding-table.js';
import {
  HomeAgent,
  type ArpCommand,
  type HomeAgentConfig,
  type HomeAgentEvent,
  type HomeAgentOptions,
  type MobileNodeConfig,
  type ReceivedRequest,
} from '../../runtime/ha/home-agent.js';

// --- the network (TEST-NET addresses) ------------------------------------------------------------

export const HA = ipv4('198.51.100.1');
/** A second address of the home agent, off the home network. */
export const HA_OTHER = ipv4('192.0.2.1');
export const HOME_NETWORK = ipv4('198.51.100.0');
export const PREFIX_LENGTH = 24;
export const SUBNET_BROADCAST = ipv4('198.51.100.255');
export const LIMITED_BROADCAST = ipv4('255.255.255.255');
/** Some other home agent on the home network. */
export const OTHER_HA = ipv4('198.51.100.2');

export const MN1 = ipv4('198.51.100.10');
export const MN1_NAI = 'mn1@example.org';
export const MN2 = ipv4('198.51.100.11');
/** A node the home agent serves although its home address is off the home network (129). */
export const MN_OFF_NET = ipv4('192.0.2.50');
/** A node configured without any security context. */
export const MN_NO_SA = ipv4('198.51.100.12');
/** A node the home agent does not serve at all. */
export const STRANGER = ipv4('198.51.100.99');

export const COA1 = ipv4('203.0.113.77');
export const COA2 = ipv4('203.0.113.78');
export const COA3 = ipv4('203.0.113.79');
/** A foreign agent sharing a Mobility Security Association with the home agent. */
export const FA = ipv4('203.0.113.1');
/** A foreign agent without one. */
export const FA_NO_SA = ipv4('203.0.113.2');

export const MN_PORT = 49152;
export const MIP_PORT = 434;

// --- keys ---------------------------------------------------------------------------------------

export interface TestKey {
  readonly spi: number;
  readonly key: Uint8Array;
}

export const MN1_KEY: TestKey = { spi: 4096, key: fromHex('2b7e151628aed2a6abf7158809cf4f3c') };
/** A second, newer context of MN1 (re-keying). */
export const MN1_NEW_KEY: TestKey = { spi: 4097, key: fromHex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf') };
export const MN2_KEY: TestKey = { spi: 4200, key: fromHex('00112233445566778899aabbccddeeff') };
export const FA_KEY: TestKey = { spi: 0x300, key: fromHex('000102030405060708090a0b0c0d0e0f') };
export const WRONG_KEY: TestKey = { spi: 4096, key: fromHex('ffffffffffffffffffffffffffffffff') };

export function context(key: TestKey, replay: 'timestamp' | 'nonce' = 'timestamp'): MobilitySecurityContext {
  // The default window (7 s, RFC 5944 5.7.1) on purpose: the replay tests rely on it.
  return createSecurityContext({ spi: key.spi, key: key.key, replay });
}

// --- configuration ------------------------------------------------------------------------------

export function makeSettings(overrides: Partial<HomeAgentSettings> = {}): HomeAgentSettings {
  return {
    addresses: [HA, HA_OTHER],
    homeNetwork: HOME_NETWORK,
    prefixLength: PREFIX_LENGTH,
    simultaneousBindings: true,
    broadcast: true,
    encapsulations: { minimal: false, gre: true },
    reverseTunneling: false,
    ...overrides,
  };
}

export interface ConfigOptions {
  readonly settings?: Partial<HomeAgentSettings>;
  readonly maxLifetime?: number;
  readonly maxBindingsPerNode?: number;
  readonly maxBindings?: number;
  readonly replay?: 'timestamp' | 'nonce';
  readonly mn1Contexts?: readonly MobilitySecurityContext[];
}

export function makeConfig(options: ConfigOptions = {}): HomeAgentConfig {
  const maxLifetime = options.maxLifetime ?? 1800;
  const maxBindings = options.maxBindingsPerNode ?? 3;
  const node = (homeAddress: Ipv4Address, contexts: readonly MobilitySecurityContext[], nai?: string): MobileNodeConfig => ({
    homeAddress,
    ...(nai !== undefined ? { nai } : {}),
    contexts,
    maxLifetime,
    maxBindings,
  });
  return {
    settings: makeSettings(options.settings),
    mobileNodes: [
      node(MN1, options.mn1Contexts ?? [context(MN1_KEY, options.replay)], MN1_NAI),
      node(MN2, [context(MN2_KEY, options.replay)]),
      node(MN_OFF_NET, [context(MN1_KEY, options.replay)]),
      node(MN_NO_SA, []),
    ],
    foreignAgents: [{ address: FA, contexts: [context(FA_KEY)] }],
    maxBindings: options.maxBindings ?? 100,
  };
}

// --- building Requests --------------------------------------------------------------------------

export type ExtensionSpec =
  | { readonly nai: string }
  /** An authentication extension sealed with `key` (HMAC-MD5); `corrupt` flips a bit of it afterwards. */
  | { readonly auth: 32 | 33 | 34; readonly key: TestKey; readonly corrupt?: boolean }
  /** An extension this home agent does not know, Type-Length-Data. */
  | { readonly unknown: number; readonly data: Uint8Array };

export const MHAE = (key: TestKey = MN1_KEY, corrupt = false): ExtensionSpec => ({ auth: 32, key, corrupt });
export const MFAE = (key: TestKey): ExtensionSpec => ({ auth: 33, key });
export const FHAE = (key: TestKey = FA_KEY, corrupt = false): ExtensionSpec => ({ auth: 34, key, corrupt });

export interface RequestFields {
  readonly flags?: number;
  readonly lifetime?: number;
  readonly homeAddress?: Ipv4Address;
  readonly homeAgent?: Ipv4Address;
  readonly careOfAddress?: Ipv4Address;
  readonly identification: Identification;
  /** Default: the MHAE of MN1. */
  readonly extensions?: readonly ExtensionSpec[];
}

/** Encodes a Registration Request and seals its authentication extensions in order (3.5.1). */
export function buildRequest(fields: RequestFields): Uint8Array {
  const specs = fields.extensions ?? [MHAE()];
  const extensions: RegistrationExtension[] = specs.map((spec) => {
    if ('nai' in spec) return { kind: 'nai', type: 131, nai: spec.nai, offset: 0 };
    if ('auth' in spec) return { kind: 'auth', type: spec.auth, spi: spec.key.spi, authenticator: new Uint8Array(16), offset: 0 };
    return { kind: 'unknown', type: spec.unknown, skippable: spec.unknown >= 128, format: 'tlv', data: spec.data, offset: 0 };
  });
  const request: RegistrationRequest = {
    type: 1,
    flags: fields.flags ?? 0,
    lifetime: fields.lifetime ?? 1800,
    homeAddress: fields.homeAddress ?? MN1,
    homeAgent: fields.homeAgent ?? HA,
    careOfAddress: fields.careOfAddress ?? COA1,
    identification: fields.identification,
    extensions,
  };
  const bytes = new Uint8Array(registrationRequestLength(request));
  encodeRegistrationRequest(request, bytes, 0);
  const offsets = extensionOffsets(request);
  specs.forEach((spec, i) => {
    if (!('auth' in spec)) return;
    const at = offsets[i]!;
    sealAuthenticator('hmac-md5', spec.key.key, bytes, at);
    if (spec.corrupt === true) bytes[at + 6]! ^= 0x01;
  });
  return bytes;
}

// --- checking Replies ---------------------------------------------------------------------------

/** HMAC-MD5 over the message up to and including the SPI of the extension at `offset` (3.5.1). */
export function expectedAuthenticator(key: TestKey, message: Uint8Array, offset: number): string {
  return createHmac('md5', key.key).update(message.subarray(0, offset + 6)).digest('hex');
}

export function authExtensions(reply: RegistrationReply): AuthExtension[] {
  return reply.extensions.filter((e): e is AuthExtension => e.kind === 'auth');
}

/**
 * Asserts the Reply carries exactly one Mobile-Home Authentication Extension, with `key`'s SPI,
 * whose authenticator verifies with that key (3.8.2.1 a, 3.4, 3.5.2).
 */
export function expectValidMhae(sent: SentReply, key: TestKey): AuthExtension {
  const mhae = authExtensions(sent.reply).filter((e) => e.type === 32);
  expect(mhae).toHaveLength(1);
  expect(mhae[0]!.spi).toBe(key.spi);
  expect(toHex(mhae[0]!.authenticator)).toBe(expectedAuthenticator(key, sent.data, mhae[0]!.offset));
  return mhae[0]!;
}

export function expectValidFhae(sent: SentReply, key: TestKey = FA_KEY): AuthExtension {
  const fhae = authExtensions(sent.reply).filter((e) => e.type === 34);
  expect(fhae).toHaveLength(1);
  expect(fhae[0]!.spi).toBe(key.spi);
  expect(toHex(fhae[0]!.authenticator)).toBe(expectedAuthenticator(key, sent.data, fhae[0]!.offset));
  return fhae[0]!;
}

// --- the agent under test -----------------------------------------------------------------------

export interface SentReply {
  readonly data: Uint8Array;
  readonly reply: RegistrationReply;
  readonly destination: Ipv4Address;
  readonly port: number;
  readonly source: Ipv4Address;
}

export interface Arrival {
  readonly source?: Ipv4Address;
  readonly sourcePort?: number;
  readonly destination?: Ipv4Address;
  readonly destinationPort?: number;
  readonly udpChecksumValid?: boolean;
}

export const START = Date.UTC(2026, 0, 1);

export class Harness {
  readonly clock = new SimulatedClock(START);
  /** Every value the agent drew from its random source, in order (the nonces it may issue). */
  readonly randomDrawn: number[] = [];
  readonly agent: HomeAgent;
  readonly sent: SentReply[] = [];
  readonly events: HomeAgentEvent[] = [];
  readonly transitions: TransitionRecord[] = [];
  readonly arp: ArpCommand[] = [];
  readonly fibChanges: ForwardingChange[] = [];
  private lowBits = 0;

  constructor(config: HomeAgentConfig = makeConfig(), seed = 7, options: Pick<HomeAgentOptions, 'onStoreWrite'> = {}) {
    const random = seededRandom(seed);
    this.agent = new HomeAgent(config, {
      ...options,
      clock: this.clock,
      random32: () => {
        const value = Math.floor(random() * 0x1_0000_0000) >>> 0;
        this.randomDrawn.push(value);
        return value;
      },
    });
    this.agent.events.subscribe((e) => this.events.push(e));
    this.agent.transitions.subscribe((t) => this.transitions.push(t));
    this.agent.arpCommands.subscribe((c) => this.arp.push(c));
    this.agent.forwardingTable.changes.subscribe((c) => this.fibChanges.push(c));
  }

  /** A timestamp Identification for now, strictly greater than every one handed out before (5.7.1). */
  fresh(): Identification {
    this.lowBits++;
    return identificationFromUnixMs(this.clock.now(), this.lowBits);
  }

  /** Hands one datagram to the agent; returns the Replies it sent for it. */
  deliver(data: Uint8Array, arrival: Arrival = {}): SentReply[] {
    const before = this.sent.length;
    const received: ReceivedRequest = {
      data,
      source: arrival.source ?? COA1,
      sourcePort: arrival.sourcePort ?? MN_PORT,
      destination: arrival.destination ?? HA,
      destinationPort: arrival.destinationPort ?? MIP_PORT,
      ...(arrival.udpChecksumValid !== undefined ? { udpChecksumValid: arrival.udpChecksumValid } : {}),
    };
    this.agent.handleRequest(received, (bytes, destination, port, source) => {
      const decoded = decodeRegistrationReply(bytes);
      if (!decoded.ok) throw new Error(`the home agent sent something that is not a Registration Reply: ${toHex(bytes)}`);
      // Copy: the agent may reuse its buffer, and the test must see what went on the wire then.
      const data = bytes.slice();
      const again = decodeRegistrationReply(data);
      if (!again.ok) throw new Error('unreachable');
      this.sent.push({ data, reply: again.value, destination, port, source });
    });
    return this.sent.slice(before);
  }

  /** Sends a Request and expects exactly one Reply, which it returns. */
  ask(fields: RequestFields, arrival: Arrival = {}): SentReply {
    const replies = this.deliver(buildRequest(fields), arrival);
    expect(replies).toHaveLength(1);
    return replies[0]!;
  }

  /** Registers MN1 (by default) and expects acceptance. */
  register(fields: Partial<RequestFields> = {}, arrival: Arrival = {}): SentReply {
    const sent = this.ask({ identification: this.fresh(), ...fields }, { source: fields.careOfAddress ?? COA1, ...arrival });
    expect(sent.reply.code, `registration refused: ${JSON.stringify(this.events.at(-1))}`).toBeLessThanOrEqual(1);
    return sent;
  }

  /** Care-of addresses in the forwarding table for a home address, sorted. */
  tunnels(homeAddress: Ipv4Address = MN1): Ipv4Address[] {
    return (this.agent.forwardingTable.lookup(homeAddress)?.tunnels ?? []).map((t) => t.careOfAddress).sort((a, b) => a - b);
  }

  bindingsOf(homeAddress: string) {
    return this.agent.bindings().filter((b) => b.homeAddress === homeAddress);
  }

  lastEvent(): HomeAgentEvent | undefined {
    return this.events.at(-1);
  }
}
