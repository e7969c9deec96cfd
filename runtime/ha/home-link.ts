/**
 * The home agent's ARP executor (RFC 5944 4.6): turns the agent's `arpCommands` into frames
 * on a home link, and answers ARP Requests there.
 *
 * - Proxy ARP: while a home address has a binding, every ARP Request asking for it gets a
 *   Reply from the agent with the sender and target exchanged and the agent's interface
 *   address as Sender Hardware Address, unicast to the requester (4.6, RFC 826, RFC 925).
 * - Gratuitous ARP: `copies` broadcasts spaced `retransmitMs` apart, the first at once, so the
 *   retransmissions run in parallel with the Reply (4.6). They announce the agent's address
 *   when a node leaves home and the node's own address when it returns; the node's address
 *   comes from configuration or from ARP packets the node itself sent on the link (before its
 *   deregistration it announces itself, 4.6). A newer state for an address cancels the copies
 *   still pending for an older one.
 * - The agent is also an ordinary host on the link: Requests for its own addresses are
 *   answered (turn this off where the operating system's ARP already answers for them).
 *
 * Every frame leaves with the interface's own MAC as Ethernet source, including an
 * announcement of the node's address: learning switches would otherwise move the node's
 * address to the agent's port (see gratuitousArpFrame).
 *
 * Per frame: plain callbacks, one reused buffer for replies, no Effect.
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { LinkError, LinkInterface } from '../../io/link.js';
import {
  ARP_FRAME_LENGTH,
  ArpOperation,
  arpReply,
  decodeArpPacket,
  encodeArpFrame,
  gratuitousArpFrame,
  proxyArpReply,
  type ArpPacket,
} from '../../io/wire/arp.js';
import { ipv4ToString, type Ipv4Address } from '../../io/wire/bytes.js';
import {
  ETHERNET_HEADER_LENGTH,
  EtherType,
  ethernetEtherType,
  ethernetIsMulticast,
  MAC_LENGTH,
  parseMac,
  writeMac,
  ZERO_MAC,
  type MacAddress,
} from '../../io/wire/ethernet.js';
import type { Alarm, Clock } from '../../io/clock.js';
import type { ArpCommand, HomeAgent } from './home-agent.js';

export const DEFAULT_GRATUITOUS_SPACING_MS = 1000;

export interface HomeLinkOptions {
  readonly clock: Clock;
  /** The agent's own addresses on this link. */
  readonly addresses: readonly Ipv4Address[];
  /** Spacing of gratuitous ARP copies, ms (default 1000). */
  readonly retransmitMs?: number;
  /** Configured link-layer addresses of mobile nodes, by home address. */
  readonly knownLinkAddresses?: ReadonlyMap<Ipv4Address, MacAddress>;
  /** ARP operation of gratuitous ARPs; 4.6 allows either (default 'request'). */
  readonly gratuitousOperation?: 'request' | 'reply';
  /** Answer Requests for `addresses` (default true; off where the OS's ARP does it). */
  readonly answerOwnAddresses?: boolean;
  /** Frames that are not ARP (IP for the data plane), since the executor owns the frame handler. */
  readonly onOtherFrame?: (frame: Uint8Array) => void;
}

export interface HomeLinkCounters {
  framesIn: number;
  /** Non-ARP frames (passed to `onOtherFrame`). */
  otherFrames: number;
  /** ARP frames unicast to another interface (seen only in promiscuous mode). */
  notForThisInterface: number;
  /** ARP frames that do not decode as Ethernet/IPv4 ARP, or name a group sender address. */
  malformed: number;
  arpIn: number;
  /** Proxy ARP Replies sent on behalf of mobile nodes away from home. */
  proxyReplies: number;
  /** Replies for the agent's own addresses. */
  ownReplies: number;
  /** Gratuitous ARP Requests for a proxied address: announcements, not questions; unanswered. */
  announcementsSeen: number;
  /** Gratuitous ARP copies sent. */
  gratuitousSent: number;
  /** Copies not sent because a newer state for the address superseded them. */
  gratuitousSuperseded: number;
  /** Announcements of a node's own address not sent: its link-layer address was unknown. */
  unknownMobileNodeAddress: number;
  /** Changes of a mobile node's link-layer address learned from the link. */
  learnedLinkAddresses: number;
  linkErrors: number;
}

export type LinkAddressOf = 'home-agent' | 'mobile-node';

/** A structured log event of the home link. */
export type HomeLinkEvent =
  | { readonly event: 'proxy-arp'; readonly at: number; readonly homeAddress: string; readonly enabled: boolean }
  | {
      readonly event: 'proxy-arp-reply';
      readonly at: number;
      readonly homeAddress: string;
      readonly requester: string;
      readonly requesterLinkAddress: MacAddress;
    }
  | {
      readonly event: 'gratuitous-arp';
      readonly at: number;
      readonly homeAddress: string;
      readonly linkAddressOf: LinkAddressOf;
      readonly linkAddress: MacAddress;
      /** 1-based. */
      readonly copy: number;
      readonly copies: number;
    }
  | {
      readonly event: 'gratuitous-arp-superseded';
      readonly at: number;
      readonly homeAddress: string;
      readonly linkAddressOf: LinkAddressOf;
      readonly unsent: number;
    }
  | {
      readonly event: 'gratuitous-arp-skipped';
      readonly at: number;
      readonly homeAddress: string;
      readonly linkAddressOf: 'mobile-node';
      readonly detail: string;
    }
  | {
      readonly event: 'mobile-node-link-address';
      readonly at: number;
      readonly homeAddress: string;
      readonly linkAddress: MacAddress;
      readonly previous?: MacAddress;
    }
  | { readonly event: 'link-error'; readonly at: number; readonly reason: string; readonly detail: string };

export interface HomeLink {
  /** Stops everything: no more answers, pending copies cancelled, commands ignored. */
  detach(): void;
  readonly counters: HomeLinkCounters;
  readonly events: Observable<HomeLinkEvent>;
  /** Home addresses proxied now. */
  proxiedAddresses(): Ipv4Address[];
  /** The link-layer address a node's return would be announced with, if known. */
  mobileNodeLinkAddress(homeAddress: Ipv4Address): MacAddress | undefined;
}

/** The copies of one gratuitous ARP still to send. */
interface Announcement {
  readonly of: LinkAddressOf;
  readonly frame: Uint8Array;
  readonly linkAddress: MacAddress;
  readonly copies: number;
  sent: number;
  alarm: Alarm | undefined;
}

interface AddressState {
  proxying: boolean;
  learned: MacAddress | undefined;
  pending: Announcement | undefined;
}

function isGroupOrZero(address: MacAddress): boolean {
  return address === ZERO_MAC || (parseInt(address.slice(0, 2), 16) & 1) === 1;
}

/**
 * Executes `agent.arpCommands` on `link` (a home link of the agent) until `detach()`, or until
 * the agent closes. Takes over the link's frame and error handlers.
 */
export function attachHomeLink(
  agent: Pick<HomeAgent, 'arpCommands'>,
  link: LinkInterface,
  options: HomeLinkOptions,
): HomeLink {
  const clock = options.clock;
  const spacing = options.retransmitMs ?? DEFAULT_GRATUITOUS_SPACING_MS;
  const operation = options.gratuitousOperation ?? 'request';
  const answerOwn = options.answerOwnAddresses ?? true;
  const ownAddresses = new Set(options.addresses.map((a) => a >>> 0));
  const configured = new Map<Ipv4Address, MacAddress>();
  for (const [ip, address] of options.knownLinkAddresses ?? []) {
    const canonical = parseMac(address);
    if (canonical === undefined) {
      throw new Error(`knownLinkAddresses: ${JSON.stringify(address)} (for ${ipv4ToString(ip)}) is not a MAC address like aa:bb:cc:dd:ee:ff`);
    }
    configured.set(ip >>> 0, canonical);
  }
  const ownMac = new Uint8Array(MAC_LENGTH);
  writeMac(ownMac, 0, link.mac);
  const scratch = new Uint8Array(ARP_FRAME_LENGTH);
  const states = new Map<Ipv4Address, AddressState>();
  const eventSubject = new Subject<HomeLinkEvent>();
  const counters: HomeLinkCounters = {
    framesIn: 0,
    otherFrames: 0,
    notForThisInterface: 0,
    malformed: 0,
    arpIn: 0,
    proxyReplies: 0,
    ownReplies: 0,
    announcementsSeen: 0,
    gratuitousSent: 0,
    gratuitousSuperseded: 0,
    unknownMobileNodeAddress: 0,
    learnedLinkAddresses: 0,
    linkErrors: 0,
  };
  let detached = false;
  let subscription: Subscription | undefined;

  const emit = (event: HomeLinkEvent): void => {
    if (eventSubject.observed) eventSubject.next(event);
  };

  const stateOf = (homeAddress: Ipv4Address): AddressState => {
    let state = states.get(homeAddress);
    if (state === undefined) {
      state = { proxying: false, learned: undefined, pending: undefined };
      states.set(homeAddress, state);
    }
    return state;
  };

  const nodeLinkAddress = (homeAddress: Ipv4Address): MacAddress | undefined =>
    configured.get(homeAddress) ?? states.get(homeAddress)?.learned;

  const cancelPending = (homeAddress: Ipv4Address, state: AddressState): void => {
    const pending = state.pending;
    if (pending === undefined) return;
    pending.alarm?.cancel();
    state.pending = undefined;
    const unsent = pending.copies - pending.sent;
    counters.gratuitousSuperseded += unsent;
    emit({ event: 'gratuitous-arp-superseded', at: clock.now(), homeAddress: ipv4ToString(homeAddress), linkAddressOf: pending.of, unsent });
  };

  const sendCopy = (homeAddress: Ipv4Address, state: AddressState, announcement: Announcement): void => {
    announcement.alarm = undefined;
    announcement.sent++;
    counters.gratuitousSent++;
    link.send(announcement.frame);
    emit({
      event: 'gratuitous-arp',
      at: clock.now(),
      homeAddress: ipv4ToString(homeAddress),
      linkAddressOf: announcement.of,
      linkAddress: announcement.linkAddress,
      copy: announcement.sent,
      copies: announcement.copies,
    });
    if (announcement.sent < announcement.copies) {
      announcement.alarm = clock.setAlarm(clock.now() + spacing, () => sendCopy(homeAddress, state, announcement));
    } else if (state.pending === announcement) {
      state.pending = undefined;
    }
  };

  const announce = (command: Extract<ArpCommand, { kind: 'gratuitous-arp' }>): void => {
    const homeAddress = command.homeAddress >>> 0;
    const state = stateOf(homeAddress);
    // The newest announcement for an address is the truth; older copies would contradict it.
    cancelPending(homeAddress, state);
    const linkAddress = command.linkAddressOf === 'home-agent' ? link.mac : nodeLinkAddress(homeAddress);
    if (linkAddress === undefined) {
      counters.unknownMobileNodeAddress++;
      emit({
        event: 'gratuitous-arp-skipped',
        at: clock.now(),
        homeAddress: ipv4ToString(homeAddress),
        linkAddressOf: 'mobile-node',
        detail:
          'the mobile node\'s link-layer address is unknown: it sent no ARP packet on this link while the agent watched; configure it in knownLinkAddresses',
      });
      return;
    }
    if (command.copies <= 0) return;
    const announcement: Announcement = {
      of: command.linkAddressOf,
      frame: gratuitousArpFrame(linkAddress, homeAddress, { operation, frameSource: link.mac }),
      linkAddress,
      copies: command.copies,
      sent: 0,
      alarm: undefined,
    };
    state.pending = announcement;
    sendCopy(homeAddress, state, announcement);
  };

  const setProxy = (command: Extract<ArpCommand, { kind: 'proxy-arp' }>): void => {
    const homeAddress = command.homeAddress >>> 0;
    const state = stateOf(homeAddress);
    state.proxying = command.enable;
    // Proxying means "the node is away": copies still announcing the node's own address are
    // stale; no longer proxying means copies announcing the agent's address are.
    const stale: LinkAddressOf = command.enable ? 'mobile-node' : 'home-agent';
    if (state.pending?.of === stale) cancelPending(homeAddress, state);
    emit({ event: 'proxy-arp', at: clock.now(), homeAddress: ipv4ToString(homeAddress), enabled: command.enable });
  };

  const learn = (packet: ArpPacket): void => {
    const state = states.get(packet.senderIp >>> 0);
    if (state === undefined || isGroupOrZero(packet.senderMac)) return;
    if (state.learned === packet.senderMac) return;
    const previous = state.learned;
    state.learned = packet.senderMac;
    counters.learnedLinkAddresses++;
    emit({
      event: 'mobile-node-link-address',
      at: clock.now(),
      homeAddress: ipv4ToString(packet.senderIp),
      linkAddress: packet.senderMac,
      ...(previous !== undefined ? { previous } : {}),
    });
  };

  const reply = (packet: ArpPacket, destination: MacAddress): void => {
    encodeArpFrame(packet, destination, link.mac, scratch, 0);
    link.send(scratch);
  };

  const onFrame = (frame: Uint8Array): void => {
    counters.framesIn++;
    if (frame.length < ETHERNET_HEADER_LENGTH || ethernetEtherType(frame, 0) !== EtherType.ARP) {
      counters.otherFrames++;
      options.onOtherFrame?.(frame);
      return;
    }
    if (!ethernetIsMulticast(frame, 0) && !sameMac(frame, 0, ownMac)) {
      counters.notForThisInterface++;
      return;
    }
    // Our own frames looped back (a raw socket also sees what it sends) teach nothing.
    if (sameMac(frame, MAC_LENGTH, ownMac)) return;
    const decoded = decodeArpPacket(frame, ETHERNET_HEADER_LENGTH, frame.length);
    if (!decoded.ok) {
      counters.malformed++;
      return;
    }
    counters.arpIn++;
    const packet = decoded.value;
    // Only addresses the agent has had commands for are watched: its mobile nodes.
    learn(packet);
    if (packet.operation !== ArpOperation.Request) return;
    if (isGroupOrZero(packet.senderMac)) {
      // A reply would go to a group address: never amplify a forged request.
      counters.malformed++;
      return;
    }
    const target = packet.targetIp >>> 0;
    if (ownAddresses.has(target)) {
      if (!answerOwn) return;
      reply(arpReply(link.mac, target, packet.senderMac, packet.senderIp), packet.senderMac);
      counters.ownReplies++;
      return;
    }
    if (states.get(target)?.proxying !== true) return;
    if ((packet.senderIp >>> 0) === target) {
      // A gratuitous ARP (sender = target) announces, it asks nothing; answering it would
      // contradict the node announcing itself on its return (4.6).
      counters.announcementsSeen++;
      return;
    }
    // 4.6: exchange sender and target, Sender Hardware Address = this interface's.
    reply(proxyArpReply(packet, link.mac), packet.senderMac);
    counters.proxyReplies++;
    emit({
      event: 'proxy-arp-reply',
      at: clock.now(),
      homeAddress: ipv4ToString(target),
      requester: ipv4ToString(packet.senderIp),
      requesterLinkAddress: packet.senderMac,
    });
  };

  const onError = (error: LinkError): void => {
    counters.linkErrors++;
    emit({ event: 'link-error', at: clock.now(), reason: error.reason, detail: error.message });
  };

  const detach = (): void => {
    if (detached) return;
    detached = true;
    subscription?.unsubscribe();
    for (const state of states.values()) {
      state.pending?.alarm?.cancel();
      state.pending = undefined;
      state.proxying = false;
    }
    link.onFrame(() => {});
    link.onError(() => {});
    eventSubject.complete();
  };

  link.onFrame(onFrame);
  link.onError(onError);
  subscription = agent.arpCommands.subscribe({
    next: (command) => {
      if (detached) return;
      if (command.kind === 'proxy-arp') setProxy(command);
      else announce(command);
    },
    // A closed agent sends no more commands, not even "stop proxying": stop with it.
    complete: detach,
  });
  if (detached) subscription.unsubscribe();

  return {
    detach,
    counters,
    events: eventSubject.asObservable(),
    proxiedAddresses: () => [...states].filter(([, s]) => s.proxying).map(([ip]) => ip),
    mobileNodeLinkAddress: (homeAddress) => nodeLinkAddress(homeAddress >>> 0),
  };
}

function sameMac(bytes: Uint8Array, offset: number, address: Uint8Array): boolean {
  for (let i = 0; i < MAC_LENGTH; i++) if (bytes[offset + i] !== address[i]) return false;
  return true;
}
