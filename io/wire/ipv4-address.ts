/**
 * IPv4 address vocabulary shared by every layer: the special addresses and prefix arithmetic
 * (RFC 1122 3.2.1.3, RFC 1112 4, RFC 3021). Addresses are unsigned 32-bit numbers; every
 * function accepts a signed (`| 0`) value too and returns unsigned.
 */
import type { Ipv4Address } from './bytes.js';

/** 255.255.255.255, "this network" broadcast (RFC 1122 3.2.1.3 (c)). */
export const LIMITED_BROADCAST: Ipv4Address = 0xffffffff;

/** The network mask of a prefix length 0-32; other lengths are a caller's bug (RangeError). */
export function prefixMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RangeError(`prefix length must be 0-32, got ${prefixLength}`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** The network address: the host bits cleared. */
export function networkAddress(address: Ipv4Address, prefixLength: number): Ipv4Address {
  return (address & prefixMask(prefixLength)) >>> 0;
}

export function isInPrefix(address: Ipv4Address, network: Ipv4Address, prefixLength: number): boolean {
  const mask = prefixMask(prefixLength);
  return ((address & mask) >>> 0) === ((network & mask) >>> 0);
}

/** All host bits set, for any length (a /32 gives the address itself). */
export function subnetBroadcast(network: Ipv4Address, prefixLength: number): Ipv4Address {
  const mask = prefixMask(prefixLength);
  return ((network & mask) | ~mask) >>> 0;
}

/** The subnet-directed broadcast, or undefined for /31 and /32, which have none (RFC 3021). */
export function directedBroadcast(address: Ipv4Address, prefixLength: number): Ipv4Address | undefined {
  return prefixLength >= 31 ? undefined : subnetBroadcast(address, prefixLength);
}

/** 224.0.0.0/4 (RFC 1112 4). */
export function isMulticast(address: Ipv4Address): boolean {
  return address >>> 28 === 0xe;
}

/** 127.0.0.0/8 (RFC 1122 3.2.1.3 (g)). */
export function isLoopback(address: Ipv4Address): boolean {
  return address >>> 24 === 127;
}

/**
 * Whether the address can name one host: not 0.0.0.0, 0/8, loopback, multicast, class E
 * (240/4) or the limited broadcast. A subnet's directed broadcast needs the prefix: the
 * caller checks it.
 */
export function isUnicast(address: Ipv4Address): boolean {
  const firstOctet = address >>> 24;
  return firstOctet !== 0 && firstOctet !== 127 && firstOctet < 224;
}
